/*
 * HTTP/2 server sessions: requests from other proxies on the inbound port
 * (over mTLS), and from apps that speak HTTP/2 with prior knowledge on the
 * outbound port. Each stream becomes an exchange; the routing decides the
 * upstream (the app over HTTP/1.1, or a peer proxy over HTTP/2).
 *
 * A session on a transparently redirected connection (h2srv_start_redirected)
 * knows the connection's original destination: a stream whose :authority
 * names nothing discovery routes is routed by it instead, as HTTP/1 is.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <nghttp2/nghttp2.h>

#include "h2.h"
#include "proxy.h"
#include "transparent.h"

struct h2srv {
    struct client cl;
    struct proxy_thread *th;
    struct conn *c;
    nghttp2_session *ng;
    enum xchg_dir dir;
    char *peer_id;
    char *orig; /* redirected: the original destination "ip:port"; else NULL */
    struct list streams;
    size_t nstreams;
    size_t window_acc;
    int running;
    bool draining;
    struct st_ev_defer flush; /* one write per loop turn for the responses of that turn */
};

struct sstream {
    struct list link;
    struct h2srv *s;
    struct xchg *x;
    int32_t id;
    bool routed, submitted, deferred, rst;
    size_t window_acc;
};

static void h2srv_run(struct h2srv *s);
static void h2srv_flush_cb(struct st_ev *loop, struct st_ev_defer *d);
static void sstream_wake(void *side);
static const struct side_ops sstream_ops = {sstream_wake};

static void
sstream_free(struct sstream *ss)
{
    list_del(&ss->link);
    ss->s->nstreams--;
    if (ss->x != NULL)
        xchg_detach_down(ss->x);
    free(ss);
}

static ssize_t
sstream_read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                  nghttp2_data_source *src, void *user)
{
    struct sstream *ss = src->ptr;
    struct xchg *x = ss->x;
    size_t n;

    ST_UNUSED(user);
    if (x == NULL)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    n = pipe_take(&x->respbody, buf, len);
    if (n > 0 || x->respbody.unacked > 0)
        xchg_wake_up(x);
    if (x->respbody.eof && x->respbody.buf.len == 0) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        h2_submit_trailers(ng, id, x->respbody.trailers, flags);
        return (ssize_t)n;
    }
    if (n == 0) {
        ss->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

static void
sstream_submit(struct sstream *ss)
{
    struct xchg *x = ss->x;
    nghttp2_nv nv[PROXY_MAX_FIELDS + 2];
    char status[ST_U64_DEC_MAX];
    size_t n = 0;
    /* A status reaching here came from a parsed head: 1xx to 5xx, never negative. */
    size_t sn = st_fmt_u64(status, x->resp.status > 0 ? (uint64_t)x->resp.status : 0);

    nv[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, sn, NGHTTP2_NV_FLAG_NONE};
    for (size_t i = 0; i < x->resp.n && n < ST_ARRAY_LEN(nv); i++) {
        if (hmsg_hop_by_hop(x->resp.f[i].name) || x->resp.f[i].name[0] == ':')
            continue;
        nv[n++] = (nghttp2_nv){(uint8_t *)x->resp.f[i].name, (uint8_t *)x->resp.f[i].value,
                               strlen(x->resp.f[i].name), strlen(x->resp.f[i].value),
                               NGHTTP2_NV_FLAG_NONE};
    }
    nghttp2_data_provider prd = {.source.ptr = ss, .read_callback = sstream_read_body};
    bool body = !(x->respbody.eof && x->respbody.buf.len == 0 && x->respbody.trailers == NULL);
    ss->submitted = true;
    if (nghttp2_submit_response(ss->s->ng, ss->id, nv, n, body ? &prd : NULL) != 0 && !ss->rst) {
        ss->rst = true;
        nghttp2_submit_rst_stream(ss->s->ng, NGHTTP2_FLAG_NONE, ss->id, NGHTTP2_INTERNAL_ERROR);
    }
}

/* The gRPC status for a failure the proxy answers itself with HTTP <status>. */
static const char *
sstream_grpc_status(int status)
{
    switch (status) {
    case 403:
        return "7"; /* PERMISSION_DENIED */
    case 408:       /* the request body stalled (xchg.c) */
    case 504:
        return "4"; /* DEADLINE_EXCEEDED for both */
    default:
        return status >= 500 ? "14" : "13"; /* UNAVAILABLE, INTERNAL */
    }
}

/*
 * Answers a gRPC request that the proxy failed as gRPC clients expect: a
 * trailers-only response (200, grpc-status, grpc-message percent-encoded).
 */
static void
sstream_grpc_error(struct sstream *ss, const char *reason)
{
    struct xchg *x = ss->x;
    char msg[512];
    size_t k = 0;

    for (const char *r = "strait-proxy: "; *r != '\0'; r++)
        msg[k++] = *r;
    for (; *reason != '\0' && k + 4 < sizeof(msg); reason++) {
        unsigned char c = (unsigned char)*reason;
        if (c >= 0x20 && c <= 0x7e && c != '%') {
            msg[k++] = (char)c;
        } else {
            snprintf(msg + k, 4, "%%%02X", c);
            k += 3;
        }
    }
    msg[k] = '\0';
    hmsg_free(&x->resp);
    x->resp.status = 200;
    hmsg_add(&x->resp, "content-type", 12, "application/grpc", 16);
    hmsg_add(&x->resp, "grpc-status", 11, sstream_grpc_status(x->abort_status),
             strlen(sstream_grpc_status(x->abort_status)));
    hmsg_add(&x->resp, "grpc-message", 12, msg, k);
    st_buf_reset(&x->respbody.buf);
    x->respbody.eof = true;
    x->grpc_error = true; /* counted with this grpc-status */
}

static bool
sstream_is_grpc(const struct xchg *x)
{
    const char *ct = hmsg_get(&x->req, "content-type");

    return ct != NULL && strncmp(ct, "application/grpc", 16) == 0;
}

static void
sstream_wake(void *side)
{
    struct sstream *ss = side;
    struct h2srv *s = ss->s;
    struct xchg *x = ss->x;

    if (x->aborted && !ss->submitted && !x->resp_ready && x->abort_status != 0 &&
        sstream_is_grpc(x)) {
        sstream_grpc_error(ss, x->abort_reason != NULL ? x->abort_reason : "request failed");
        xchg_count(x, false);
        sstream_submit(ss);
    } else if (x->aborted && !ss->submitted && !x->resp_ready && x->abort_status != 0) {
        /* Answer the failure ourselves, with the reason as a short text body. */
        const char *reason = x->abort_reason != NULL ? x->abort_reason : "request failed";
        hmsg_free(&x->resp);
        x->resp.status = x->abort_status;
        hmsg_add(&x->resp, "content-type", 12, "text/plain", 10);
        st_buf_reset(&x->respbody.buf);
        (void)pipe_push(&x->respbody, "strait-proxy: ", 14);
        (void)pipe_push(&x->respbody, reason, strlen(reason));
        (void)pipe_push(&x->respbody, "\n", 1);
        x->respbody.eof = true;
        xchg_count(x, false);
        sstream_submit(ss);
    } else if (x->aborted && !(x->respbody.eof && ss->submitted)) {
        if (!ss->rst) {
            ss->rst = true;
            nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, ss->id, NGHTTP2_INTERNAL_ERROR);
        }
    } else {
        if (x->resp_ready && !ss->submitted)
            sstream_submit(ss);
        else if (ss->deferred && (x->respbody.buf.len > 0 || x->respbody.eof)) {
            ss->deferred = false;
            nghttp2_session_resume_data(s->ng, ss->id);
        }
    }
    if (x->reqbody.unacked > 0) {
        h2_consume(s->ng, ss->id, x->reqbody.unacked, &ss->window_acc, &s->window_acc,
                   !x->reqbody.eof);
        x->reqbody.unacked = 0;
    }
    /* Written after the other wakes of this loop turn: their frames share a record and a send. */
    st_ev_defer_schedule(s->th->loop, &s->flush);
}

/* ---- callbacks ------------------------------------------------------------------- */

static int
h2srv_on_begin(nghttp2_session *ng, const nghttp2_frame *frame, void *user)
{
    struct h2srv *s = user;

    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    if (s->draining) {
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                  NGHTTP2_REFUSED_STREAM);
        return 0;
    }
    struct sstream *ss = st_xcalloc(1, sizeof(*ss));
    ss->s = s;
    ss->id = frame->hd.stream_id;
    ss->x = xchg_new(s->th, s->dir);
    ss->x->app_h2 = s->dir == XCHG_OUTBOUND; /* inbound: told by PROXY_APP_PROTO_HEADER */
    if (s->peer_id != NULL)
        ss->x->peer_id = st_xstrdup(s->peer_id);
    xchg_attach_down(ss->x, ss, &sstream_ops);
    list_add(&s->streams, &ss->link);
    s->nstreams++;
    nghttp2_session_set_stream_user_data(ng, ss->id, ss);
    return 0;
}

static int
h2srv_on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *user)
{
    struct sstream *ss = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    struct st_str nm = {(const char *)name, namelen}, v = {(const char *)value, valuelen};
    int rc = 0;

    ST_UNUSED(flags);
    ST_UNUSED(user);
    if (ss == NULL || ss->x == NULL || frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    struct xchg *x = ss->x;
    if (ss->routed) {
        if (x->reqbody.trailers == NULL) {
            x->reqbody.trailers = st_xmalloc(sizeof(*x->reqbody.trailers));
            hmsg_init(x->reqbody.trailers);
        }
        rc = hmsg_add(x->reqbody.trailers, nm.p, nm.n, v.p, v.n);
    } else if (st_str_eq_c(nm, ":method")) {
        x->req.method = hmsg_strdup(&x->req, v.p, v.n);
    } else if (st_str_eq_c(nm, ":scheme")) {
        x->req.scheme = hmsg_strdup(&x->req, v.p, v.n);
    } else if (st_str_eq_c(nm, ":authority")) {
        x->req.authority = hmsg_strdup(&x->req, v.p, v.n);
    } else if (st_str_eq_c(nm, ":path")) {
        x->req.path = hmsg_strdup(&x->req, v.p, v.n);
    } else if (st_str_eq_c(nm, "host")) {
        if (x->req.authority == NULL)
            x->req.authority = hmsg_strdup(&x->req, v.p, v.n);
    } else if (st_str_eq_c(nm, PROXY_APP_PROTO_HEADER)) {
        /* Only a peer proxy says how the app spoke; an app cannot. */
        if (ss->s->dir == XCHG_INBOUND)
            x->app_h2 = st_str_eq_c(v, "h2");
    } else if (ss->s->dir == XCHG_OUTBOUND && nm.n >= 7 && memcmp(nm.p, "strait-", 7) == 0) {
        /* An app cannot forge the headers between proxies. */
    } else if (nm.n > 0 && nm.p[0] != ':') {
        rc = hmsg_add(&x->req, nm.p, nm.n, v.p, v.n);
    }
    return rc < 0 ? NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE : 0;
}

static int
h2srv_on_frame(nghttp2_session *ng, const nghttp2_frame *frame, void *user)
{
    struct sstream *ss;

    ST_UNUSED(user);
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    ss = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (ss == NULL || ss->x == NULL)
        return 0;
    struct xchg *x = ss->x;
    if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
        x->reqbody.eof = true;
    if (frame->hd.type == NGHTTP2_HEADERS && !ss->routed) {
        const char *cl = hmsg_get(&x->req, "content-length");
        uint64_t v;
        ss->routed = true;
        if (cl != NULL && st_parse_u64(st_str_c(cl), INT64_MAX, &v) == 0)
            x->req.content_length = (int64_t)v;
        if (x->req.method == NULL || x->req.path == NULL) {
            xchg_abort(x, 400, "incomplete request head");
        } else if (ss->s->orig != NULL) {
            /* Redirected: by :authority when it names a route, else by the original destination;
             * a stream without :authority is given the original destination as its own. */
            const char *by = route_redirected(ss->s->th, st_str_c(x->req.authority), ss->s->orig);
            if (x->req.authority == NULL)
                x->req.authority = hmsg_strdup(&x->req, ss->s->orig, strlen(ss->s->orig));
            if (by == NULL) /* by :authority: the original destination if that has no route */
                x->fallback = hmsg_strdup(&x->req, ss->s->orig, strlen(ss->s->orig));
            route_request(x, by);
        } else {
            route_request(x, NULL);
        }
        return 0;
    }
    xchg_wake_up(x);
    return 0;
}

static int
h2srv_on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
              void *user)
{
    struct sstream *ss = nghttp2_session_get_stream_user_data(ng, id);

    ST_UNUSED(flags);
    if (ss == NULL || ss->x == NULL || ss->x->aborted) {
        struct h2srv *s = user;
        size_t ignored = 0;
        h2_consume(ng, id, len, &ignored, &s->window_acc, false);
        return 0;
    }
    if (pipe_push(&ss->x->reqbody, data, len) < 0) {
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_FLOW_CONTROL_ERROR);
        return 0;
    }
    xchg_wake_up(ss->x);
    return 0;
}

static int
h2srv_on_close(nghttp2_session *ng, int32_t id, uint32_t error_code, void *user)
{
    struct sstream *ss = nghttp2_session_get_stream_user_data(ng, id);

    ST_UNUSED(user);
    if (ss == NULL)
        return 0;
    nghttp2_session_set_stream_user_data(ng, id, NULL);
    if (ss->x != NULL) {
        size_t ignored = 0;
        h2_consume(ng, id, ss->x->reqbody.unacked + ss->x->reqbody.buf.len, &ignored,
                   &ss->s->window_acc, false);
        ss->x->reqbody.unacked = 0;
        if (error_code == 0 && ss->submitted && ss->x->respbody.eof)
            xchg_count(ss->x, !ss->x->aborted);
        else if (!ss->x->aborted)
            xchg_abort(ss->x, 0, "the client reset the stream");
    }
    sstream_free(ss);
    return 0;
}

/* ---- the connection ---------------------------------------------------------------- */

static void
h2srv_free(struct h2srv *s)
{
    while (!list_empty(&s->streams)) {
        struct sstream *ss = ST_CONTAINER_OF(s->streams.next, struct sstream, link);
        if (ss->x != NULL && !ss->x->aborted)
            xchg_abort(ss->x, 0, "the client connection closed");
        sstream_free(ss);
    }
    st_ev_defer_cancel(s->th->loop, &s->flush);
    if (s->ng != NULL)
        nghttp2_session_del(s->ng);
    conn_close(s->c);
    free(s->c);
    client_unregister(s->th, &s->cl);
    free(s->peer_id);
    free(s->orig);
    free(s);
}

static void
h2srv_conn_cb(struct conn *c, unsigned events)
{
    ST_UNUSED(events);
    h2srv_run(c->owner);
}

static void h2srv_drain(struct client *cl);

static void
h2srv_idle(struct st_ev *loop, struct st_ev_timer *t)
{
    struct h2srv *s = t->data;

    ST_UNUSED(loop);
    if (s->nstreams == 0 && !s->draining) {
        /*
         * Said with GOAWAY before the close, so that a client about to send
         * on this connection learns that the request was not processed.
         */
        st_ev_timer_start(s->th->loop, t, s->th->px->cfg.idle_timeout_ms);
        h2srv_drain(&s->cl);
        return;
    }
    if (s->nstreams == 0) {
        h2srv_free(s);
        return;
    }
    st_ev_timer_start(s->th->loop, t, s->th->px->cfg.idle_timeout_ms);
}

static void
h2srv_drain(struct client *cl)
{
    struct h2srv *s = ST_CONTAINER_OF(cl, struct h2srv, cl);

    s->draining = true;
    nghttp2_submit_goaway(s->ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(s->ng),
                          NGHTTP2_NO_ERROR, NULL, 0);
    h2srv_run(s);
}

static void
h2srv_flush_cb(struct st_ev *loop, struct st_ev_defer *d)
{
    ST_UNUSED(loop);
    h2srv_run(d->data);
}

static void
h2srv_run(struct h2srv *s)
{
    uint8_t buf[PROXY_IO_CHUNK];
    int rc;

    if (s->running++ > 0)
        return;
again:
    for (;;) {
        ssize_t r = conn_read(s->c, buf, sizeof(buf));
        if (r == -EAGAIN)
            break;
        if (r <= 0 || nghttp2_session_mem_recv(s->ng, buf, (size_t)r) < 0) {
            h2srv_free(s);
            return;
        }
    }
    for (;;) {
        while (s->c->out.len < PROXY_OUT_HIGH) {
            const uint8_t *data;
            ssize_t n = nghttp2_session_mem_send(s->ng, &data);
            if (n <= 0) {
                if (n < 0) {
                    h2srv_free(s);
                    return;
                }
                break;
            }
            if (conn_queue(s->c, data, (size_t)n) < 0) {
                h2srv_free(s);
                return;
            }
        }
        rc = conn_flush(s->c);
        if (rc == -EAGAIN)
            break;
        if (rc < 0) {
            h2srv_free(s);
            return;
        }
        if (!nghttp2_session_want_write(s->ng))
            break;
    }
    if ((!nghttp2_session_want_read(s->ng) && !nghttp2_session_want_write(s->ng) &&
         s->c->out.len == 0) ||
        (s->draining && s->nstreams == 0 && s->c->out.len == 0)) {
        h2srv_free(s);
        return;
    }
    if (s->running > 1) {
        s->running = 1;
        goto again;
    }
    s->running = 0;
}

/* h2srv_start, with the original destination <orig> (copied; NULL when not redirected). */
static void
h2srv_begin(struct proxy_thread *th, struct conn *c, enum xchg_dir dir, const char *peer_id,
            const char *orig, const void *pre, size_t pre_len)
{
    struct h2srv *s = st_xcalloc(1, sizeof(*s));
    nghttp2_session_callbacks *cbs;
    nghttp2_option *opt;

    s->th = th;
    s->c = c;
    s->dir = dir;
    s->peer_id = peer_id != NULL ? st_xstrdup(peer_id) : NULL;
    s->orig = orig != NULL ? st_xstrdup(orig) : NULL;
    list_init(&s->streams);
    st_ev_defer_init(&s->flush, h2srv_flush_cb, s);
    conn_rebind(c, h2srv_conn_cb, s);
    client_register(th, &s->cl, h2srv_drain);
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, h2srv_on_begin);
    nghttp2_session_callbacks_set_on_header_callback(cbs, h2srv_on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, h2srv_on_frame);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, h2srv_on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, h2srv_on_close);
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
    if (nghttp2_session_server_new2(&s->ng, cbs, s, opt) != 0)
        st_oom();
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, th->px->cfg.max_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, PROXY_H2_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, PROXY_MAX_HEAD_BYTES},
    };
    nghttp2_submit_settings(s->ng, NGHTTP2_FLAG_NONE, iv, ST_ARRAY_LEN(iv));
    nghttp2_session_set_local_window_size(s->ng, NGHTTP2_FLAG_NONE, 0, H2_CONN_WINDOW);
    st_ev_timer_init(&c->timer, h2srv_idle, s);
    st_ev_timer_start(th->loop, &c->timer, th->px->cfg.idle_timeout_ms);
    if (pre_len > 0 && nghttp2_session_mem_recv(s->ng, pre, pre_len) < 0) {
        h2srv_free(s);
        return;
    }
    h2srv_run(s);
}

void
h2srv_start(struct proxy_thread *th, struct conn *c, enum xchg_dir dir, const char *peer_id,
            const void *pre, size_t pre_len)
{
    h2srv_begin(th, c, dir, peer_id, NULL, pre, pre_len);
}

void
h2srv_start_redirected(struct proxy_thread *th, struct conn *c, const char *orig, const void *pre,
                       size_t pre_len)
{
    h2srv_begin(th, c, XCHG_OUTBOUND, NULL, orig, pre, pre_len);
}
