/*
 * HTTP/2 over mutual TLS to other proxies: one pooled connection per peer
 * (address and expected identity) per thread, many streams on it. Requests
 * wait while the connection is being set up; a connection that received
 * GOAWAY takes no new streams and a new one is opened beside it.
 *
 * The same code speaks plaintext HTTP/2 (prior knowledge) to the local app on
 * the inbound side, for requests that the calling app sent over HTTP/2 (gRPC):
 * such a connection holds its requests until the app's SETTINGS frame came, so
 * an app that does not speak HTTP/2 is found out before any request was sent,
 * and its requests go over HTTP/1.1 (h1up.c) instead.
 *
 * A request that the peer did not process (RST_STREAM with REFUSED_STREAM, a
 * stream above the last-stream-id of a GOAWAY, a pooled connection that failed
 * before any byte of the request was written, a connection that could not be
 * made) is sent again once, when xchg_retry_allowed() says so.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <nghttp2/nghttp2.h>

#include "h2.h"
#include "identity.h"
#include "proxy.h"

/* PEER_SETTINGS: an app connection waiting for the app's first SETTINGS frame. */
enum peer_state {
    PEER_CONNECTING,
    PEER_HANDSHAKE,
    PEER_SETTINGS,
    PEER_READY,
    PEER_GOAWAY,
    PEER_DEAD
};

#define PEER_H1_APPS 16           /* app addresses remembered as HTTP/1-only, per thread */
#define PEER_H1_REMEMBER_MS 60000 /* for this long; then HTTP/2 is tried again */

/* Per-thread state of this file (proxy_thread.peer_local). */
struct peer_local {
    struct st_metrics_family *retries; /* request_retry_total, or NULL */
    struct {
        struct st_sockaddr addr;
        uint64_t until_ms; /* 0: free slot */
    } h1[PEER_H1_APPS];
};

struct peer {
    struct list link;
    struct proxy_thread *th;
    struct st_sockaddr addr;
    char *identity; /* NULL for the app */
    bool app;       /* plaintext HTTP/2 to the local app */
    bool got_settings;
    int32_t goaway_last; /* last-stream-id of a GOAWAY received, or -1 */
    uint64_t queued;     /* bytes ever queued on the connection */
    struct conn *c;
    nghttp2_session *ng;
    enum peer_state state;
    struct list pending; /* pstreams waiting for the connection */
    struct list active;  /* pstreams submitted to the session */
    size_t nstreams;
    size_t window_acc; /* connection bytes passed on, not yet returned to the sender */
    int running;
    struct st_ev_defer flush; /* one write per loop turn for the streams submitted in it */
};

struct pstream {
    struct list link; /* in peer->pending until submitted, then in peer->active */
    struct peer *p;
    struct xchg *x;
    int32_t id;
    bool submitted, deferred, got_final, rst;
    bool on_wire;     /* its HEADERS frame went to the output */
    uint64_t wire_at; /* the connection's output offset before that frame */
    size_t window_acc;
    struct hmsg *trailers;
};

static void peer_run(struct peer *p);
static void peer_flush_cb(struct st_ev *loop, struct st_ev_defer *d);
static void pstream_wake(void *side);
static const struct side_ops pstream_ops = {pstream_wake};

/* ---- streams ----------------------------------------------------------------- */

static void
pstream_free(struct pstream *ps)
{
    list_del(&ps->link);
    if (ps->trailers != NULL) {
        hmsg_free(ps->trailers);
        free(ps->trailers);
    }
    if (ps->x != NULL)
        xchg_detach_up(ps->x);
    free(ps);
}

static ssize_t
pstream_read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                  nghttp2_data_source *src, void *user)
{
    struct pstream *ps = src->ptr;
    struct xchg *x = ps->x;
    size_t n;

    ST_UNUSED(user);
    if (x == NULL)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    n = pipe_take(&x->reqbody, buf, len);
    if (n > 0) {
        xchg_replay_keep(x, buf, n); /* held until a response comes, for a retry */
        xchg_wake_down(x);           /* room for more body */
    }
    if (x->reqbody.eof && x->reqbody.buf.len == 0) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        h2_submit_trailers(ng, id, x->reqbody.trailers, flags);
        return (ssize_t)n;
    }
    if (n == 0) {
        ps->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

static void
pstream_submit(struct pstream *ps)
{
    struct peer *p = ps->p;
    struct xchg *x = ps->x;
    nghttp2_nv nv[PROXY_MAX_FIELDS + 8];
    size_t n = 0;

#define NV(nm, val)                                                                                \
    nv[n++] = (nghttp2_nv){(uint8_t *)(nm), (uint8_t *)(val), strlen(nm), strlen(val),             \
                           NGHTTP2_NV_FLAG_NONE}
    NV(":method", x->req.method);
    NV(":scheme", x->req.scheme != NULL ? x->req.scheme : "http");
    NV(":authority", x->req.authority != NULL ? x->req.authority : "");
    NV(":path", x->req.path != NULL ? x->req.path : "/");
    for (size_t i = 0; i < x->req.n && n < ST_ARRAY_LEN(nv) - 2; i++) {
        if (hmsg_hop_by_hop(x->req.f[i].name) && strcmp(x->req.f[i].name, "te") != 0)
            continue;
        if (strcmp(x->req.f[i].name, "te") == 0 && strcmp(x->req.f[i].value, "trailers") != 0)
            continue;
        if (strcmp(x->req.f[i].name, PROXY_DST_HEADER) == 0 ||
            strcmp(x->req.f[i].name, PROXY_APP_PROTO_HEADER) == 0)
            continue;
        NV(x->req.f[i].name, x->req.f[i].value);
    }
    if (x->dst != NULL && !p->app)
        NV(PROXY_DST_HEADER, x->dst);
    if (x->app_h2 && !p->app)
        NV(PROXY_APP_PROTO_HEADER, "h2");
#undef NV
    nghttp2_data_provider prd = {.source.ptr = ps, .read_callback = pstream_read_body};
    bool body = !(x->reqbody.eof && x->reqbody.buf.len == 0 && x->reqbody.trailers == NULL);
    int32_t id = nghttp2_submit_request(p->ng, NULL, nv, n, body ? &prd : NULL, ps);
    ps->submitted = true;
    if (id < 0) {
        xchg_abort(x, 502, "cannot open a stream to the peer proxy");
        pstream_free(ps);
        return;
    }
    ps->id = id;
    p->nstreams++;
    list_add(p->active.prev, &ps->link);
}

static void
pstream_wake(void *side)
{
    struct pstream *ps = side;
    struct peer *p = ps->p;
    struct xchg *x = ps->x;

    if (x->aborted && !(x->respbody.eof && x->reqbody.eof)) {
        if (!ps->submitted) {
            pstream_free(ps);
            return;
        }
        if (!ps->rst && p->ng != NULL) {
            ps->rst = true;
            nghttp2_submit_rst_stream(p->ng, NGHTTP2_FLAG_NONE, ps->id, NGHTTP2_CANCEL);
        }
    } else if (ps->submitted && p->ng != NULL) {
        if (ps->deferred && (x->reqbody.buf.len > 0 || x->reqbody.eof)) {
            ps->deferred = false;
            nghttp2_session_resume_data(p->ng, ps->id);
        }
        if (x->respbody.unacked > 0) {
            h2_consume(p->ng, ps->id, x->respbody.unacked, &ps->window_acc, &p->window_acc, true);
            x->respbody.unacked = 0;
        }
    }
    peer_run(p);
}

/* ---- nghttp2 callbacks ------------------------------------------------------------ */

static int
peer_on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
               const uint8_t *value, size_t valuelen, uint8_t flags, void *user)
{
    struct pstream *ps = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    int rc = 0;

    ST_UNUSED(flags);
    ST_UNUSED(user);
    if (ps == NULL || ps->x == NULL || frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    struct xchg *x = ps->x;
    if (ps->got_final) {
        if (ps->trailers == NULL) {
            ps->trailers = st_xmalloc(sizeof(*ps->trailers));
            hmsg_init(ps->trailers);
        }
        rc = hmsg_add(ps->trailers, (const char *)name, namelen, (const char *)value, valuelen);
    } else if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        uint64_t st = 0;
        if (st_parse_u64((struct st_str){(const char *)value, valuelen}, 599, &st) < 0)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        hmsg_free(&x->resp); /* a 1xx head before is dropped */
        x->resp.status = (int)st;
    } else if (namelen > 0 && name[0] != ':') {
        rc = hmsg_add(&x->resp, (const char *)name, namelen, (const char *)value, valuelen);
    }
    return rc < 0 ? NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE : 0;
}

static int
peer_on_frame(nghttp2_session *ng, const nghttp2_frame *frame, void *user)
{
    struct peer *p = user;
    struct pstream *ps;

    if (frame->hd.type == NGHTTP2_GOAWAY) {
        /* nghttp2 closes the streams above last_stream_id after this, as refused. */
        p->goaway_last = frame->goaway.last_stream_id;
        if (p->state == PEER_READY || p->state == PEER_SETTINGS)
            p->state = PEER_GOAWAY;
        return 0;
    }
    if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
        p->got_settings = true;
        return 0;
    }
    ps = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (ps == NULL || ps->x == NULL)
        return 0;
    struct xchg *x = ps->x;
    if (frame->hd.type == NGHTTP2_HEADERS) {
        if (!ps->got_final) {
            if (x->resp.status >= 100 && x->resp.status < 200) {
                x->continue_seen = x->resp.status == 100;
                hmsg_free(&x->resp);
                return 0;
            }
            ps->got_final = true;
            x->resp_ready = true;
            xchg_replay_keep(x, NULL, 0);
            const char *cl = hmsg_get(&x->resp, "content-length");
            uint64_t v;
            if (cl != NULL && st_parse_u64(st_str_c(cl), INT64_MAX, &v) == 0)
                x->resp.content_length = (int64_t)v;
        } else if (ps->trailers != NULL) {
            x->respbody.trailers = ps->trailers;
            ps->trailers = NULL;
        }
    }
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        x->respbody.eof = true;
    xchg_wake_down(x);
    return 0;
}

static int
peer_on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
             void *user)
{
    struct pstream *ps = nghttp2_session_get_stream_user_data(ng, id);

    ST_UNUSED(flags);
    if (ps == NULL || ps->x == NULL) {
        struct peer *p = user;
        size_t ignored = 0;
        h2_consume(ng, id, len, &ignored, &p->window_acc, false);
        return 0;
    }
    if (pipe_push(&ps->x->respbody, data, len) < 0) {
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_FLOW_CONTROL_ERROR);
        return 0;
    }
    xchg_wake_down(ps->x);
    return 0;
}

/*
 * Sends the request of <ps> again elsewhere when the rules allow it; <ps> then
 * no longer holds it (the caller frees <ps>). False changes nothing.
 */
static bool
pstream_retry(struct pstream *ps, const char *why)
{
    struct xchg *x = ps->x;

    if (x == NULL || ps->got_final || !xchg_retry_allowed(x))
        return false;
    ps->x = NULL;
    xchg_release_up(x);
    return xchg_retry(x, why);
}

static int
peer_on_close(nghttp2_session *ng, int32_t id, uint32_t error_code, void *user)
{
    struct peer *p = user;
    struct pstream *ps = nghttp2_session_get_stream_user_data(ng, id);

    if (ps == NULL)
        return 0;
    p->nstreams--;
    nghttp2_session_set_stream_user_data(ng, id, NULL);
    const char *unprocessed =
        retry_reset_reason(error_code == NGHTTP2_REFUSED_STREAM, id, p->goaway_last);
    if (unprocessed != NULL && pstream_retry(ps, unprocessed)) {
        pstream_free(ps);
        return 0;
    }
    if (ps->x != NULL) {
        /* What the stream still holds will never be acknowledged through it: return it now. */
        size_t ignored = 0;
        h2_consume(ng, id, ps->x->respbody.unacked + ps->x->respbody.buf.len, &ignored,
                   &p->window_acc, false);
        ps->x->respbody.unacked = 0;
    }
    if (ps->x != NULL && (!ps->x->respbody.eof || error_code != 0)) {
        char reason[96];
        snprintf(reason, sizeof(reason), "the peer proxy reset the stream (%s)",
                 nghttp2_http2_strerror(error_code));
        xchg_abort(ps->x, error_code == NGHTTP2_REFUSED_STREAM ? 503 : 502, reason);
    }
    pstream_free(ps);
    return 0;
}

/* Notes where a request's HEADERS frame starts in the output, before it is serialised. */
static int
peer_before_send(nghttp2_session *ng, const nghttp2_frame *frame, void *user)
{
    struct peer *p = user;
    struct pstream *ps;

    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    ps = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (ps != NULL && !ps->on_wire) {
        ps->on_wire = true;
        ps->wire_at = p->queued;
    }
    return 0;
}

/*
 * A request that nghttp2 could not start (the peer sent GOAWAY before its
 * HEADERS left) has no stream, so no close callback comes for it: it was not
 * processed, and is retried or failed here.
 */
static int
peer_not_sent(nghttp2_session *ng, const nghttp2_frame *frame, int lib_error, void *user)
{
    struct peer *p = user;

    ST_UNUSED(ng);
    ST_UNUSED(lib_error);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    for (struct list *l = p->active.next; l != &p->active; l = l->next) {
        struct pstream *ps = ST_CONTAINER_OF(l, struct pstream, link);
        if (ps->id != frame->hd.stream_id)
            continue;
        if (nghttp2_session_find_stream(p->ng, ps->id) != NULL)
            return 0; /* the stream exists: its close callback follows */
        p->nstreams--;
        if (!pstream_retry(ps, "goaway") && ps->x != NULL)
            xchg_abort(ps->x, 503, "the peer proxy refused the stream (GOAWAY)");
        pstream_free(ps);
        return 0;
    }
    return 0;
}

/* ---- connections -------------------------------------------------------------------- */

static void
peer_free(struct peer *p)
{
    list_del(&p->link);
    st_ev_defer_cancel(p->th->loop, &p->flush);
    if (p->ng != NULL)
        nghttp2_session_del(p->ng); /* closes streams without callbacks */
    if (p->c != NULL) {
        conn_close(p->c);
        free(p->c);
    }
    free(p->identity);
    free(p);
}

/* ---- per-thread state ------------------------------------------------------------ */

static struct peer_local *
peer_local(struct proxy_thread *th)
{
    if (th->peer_local == NULL) {
        static const char *const labels[] = {"direction", "reason"};
        struct st_metrics_desc d = {
            .type = ST_METRICS_COUNTER,
            .name = "request_retry_total",
            .help = "Requests sent again after the upstream refused them unprocessed",
            .labels = labels,
            .n_labels = ST_ARRAY_LEN(labels),
        };
        struct st_metrics_registry *m = stats_metrics(th->px->stats);
        th->peer_local = st_xcalloc(1, sizeof(*th->peer_local));
        /* The first thread registers the family; the others find it. */
        if (st_metrics_family_add(m, &d, &th->peer_local->retries, NULL) < 0)
            th->peer_local->retries = st_metrics_family_find(m, d.name);
    }
    return th->peer_local;
}

void
peer_count_retry(struct proxy_thread *th, const char *direction, const char *reason)
{
    struct peer_local *pl = peer_local(th);
    const char *values[2] = {direction, reason};

    if (pl->retries != NULL)
        st_metrics_counter_inc(st_metrics_series_get(pl->retries, values), stats_shard(th->stats));
}

/* True while the app at <addr> is known not to speak HTTP/2. */
static bool
peer_app_is_h1(struct proxy_thread *th, const struct st_sockaddr *addr)
{
    struct peer_local *pl = peer_local(th);
    uint64_t now = st_ev_now_ms(th->loop);

    for (size_t i = 0; i < PEER_H1_APPS; i++)
        if (pl->h1[i].until_ms > now && st_sock_addr_equal(&pl->h1[i].addr, addr))
            return true;
    return false;
}

/* Remembers <addr> as HTTP/1-only, in a free or expired slot, else the oldest one. */
static void
peer_app_mark_h1(struct proxy_thread *th, const struct st_sockaddr *addr)
{
    struct peer_local *pl = peer_local(th);
    size_t k = 0;

    for (size_t i = 1; i < PEER_H1_APPS; i++)
        if (pl->h1[i].until_ms < pl->h1[k].until_ms)
            k = i;
    pl->h1[k].addr = *addr;
    pl->h1[k].until_ms = st_ev_now_ms(th->loop) + PEER_H1_REMEMBER_MS;
}

/* ---- failures ---------------------------------------------------------------------- */

/*
 * The app did not answer our HTTP/2 preface with HTTP/2: nothing was sent on
 * the held requests yet, so they go over HTTP/1.1. Frees <p>.
 */
static void
peer_fallback_h1(struct peer *p)
{
    peer_app_mark_h1(p->th, &p->addr);
    p->state = PEER_DEAD;
    while (!list_empty(&p->pending)) {
        struct pstream *ps = ST_CONTAINER_OF(p->pending.next, struct pstream, link);
        struct xchg *x = ps->x;
        ps->x = NULL;
        pstream_free(ps);
        xchg_release_up(x);
        h1up_attach(x, &p->addr);
    }
    peer_free(p);
}

/*
 * Fails every stream of <p> and frees it. With <retry>, the requests that
 * certainly did not reach the peer (still pending, or no byte of them
 * written) are sent again where the rules allow.
 */
static void
peer_fail(struct peer *p, int status, const char *reason, bool retry)
{
    nghttp2_session *ng = p->ng;
    char app_reason[400];

    if (retry && p->app && p->state == PEER_SETTINGS) {
        peer_fallback_h1(p);
        return;
    }
    if (p->app && strncmp(reason, "the peer proxy", 14) == 0) {
        /* The same failures, told of the local app. */
        snprintf(app_reason, sizeof(app_reason), "the app%s", reason + 14);
        reason = app_reason;
    }
    p->state = PEER_DEAD;
    while (!list_empty(&p->pending)) {
        struct pstream *ps = ST_CONTAINER_OF(p->pending.next, struct pstream, link);
        if (!(retry && pstream_retry(ps, "connection")))
            xchg_abort(ps->x, status, reason);
        pstream_free(ps);
    }
    while (!list_empty(&p->active)) {
        struct pstream *ps = ST_CONTAINER_OF(p->active.next, struct pstream, link);
        bool unsent = retry_unwritten(ps->on_wire, p->c != NULL, p->c != NULL ? p->c->wbytes : 0,
                                      ps->wire_at);
        if (ng != NULL)
            nghttp2_session_set_stream_user_data(ng, ps->id, NULL);
        p->nstreams--;
        if (!(retry && unsent && pstream_retry(ps, "connection")))
            xchg_abort(ps->x, status, reason);
        pstream_free(ps);
    }
    peer_free(p);
}

static void
peer_idle(struct st_ev *loop, struct st_ev_timer *t)
{
    struct peer *p = t->data;

    ST_UNUSED(loop);
    if (p->state == PEER_CONNECTING || p->state == PEER_HANDSHAKE || p->state == PEER_SETTINGS) {
        /* An app that never answers our HTTP/2 preface gets HTTP/1.1 (peer_fail). */
        peer_fail(p, 504,
                  p->app ? "timed out connecting to the app"
                         : "timed out connecting to the peer proxy",
                  true);
        return;
    }
    if (p->nstreams == 0 && list_empty(&p->pending)) {
        peer_free(p);
        return;
    }
    st_ev_timer_start(p->th->loop, t, p->th->px->cfg.idle_timeout_ms);
}

static int
peer_session_new(struct peer *p)
{
    nghttp2_session_callbacks *cbs;
    nghttp2_option *opt;
    int rc;

    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(cbs, peer_on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, peer_on_frame);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, peer_on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, peer_on_close);
    nghttp2_session_callbacks_set_before_frame_send_callback(cbs, peer_before_send);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, peer_not_sent);
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_max_send_header_block_length(opt, PROXY_MAX_HEAD_BYTES * 2);
    rc = nghttp2_session_client_new2(&p->ng, cbs, p, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    if (rc != 0)
        return ST_EPROTO;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, p->th->px->cfg.max_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, PROXY_H2_WINDOW},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
    };
    nghttp2_submit_settings(p->ng, NGHTTP2_FLAG_NONE, iv, ST_ARRAY_LEN(iv));
    nghttp2_session_set_local_window_size(p->ng, NGHTTP2_FLAG_NONE, 0, H2_CONN_WINDOW);
    return 0;
}

static void
peer_conn_cb(struct conn *c, unsigned events)
{
    struct peer *p = c->owner;

    if (p->state == PEER_CONNECTING) {
        int rc = st_sock_connect_result(c->fd);
        if (rc < 0) {
            char reason[128];
            snprintf(reason, sizeof(reason), "cannot connect to the peer proxy: %s",
                     st_strerror(rc));
            peer_fail(p, 503, reason, true);
            return;
        }
        if (!(events & ST_EV_WRITE))
            return;
        p->state = PEER_HANDSHAKE;
    }
    peer_run(p);
}

/* Submits the requests that waited for the connection, once it is ready for them. */
static void
peer_submit_pending(struct peer *p)
{
    if (p->state == PEER_SETTINGS && p->got_settings) {
        p->state = PEER_READY;
        st_ev_timer_start(p->th->loop, &p->c->timer, p->th->px->cfg.idle_timeout_ms);
    }
    if (p->state != PEER_READY)
        return;
    while (!list_empty(&p->pending)) {
        struct pstream *ps = ST_CONTAINER_OF(p->pending.next, struct pstream, link);
        list_del(&ps->link);
        pstream_submit(ps);
    }
}

/* Drives the connection: handshake, reading, writing. May free <p>. */
static void
peer_run(struct peer *p)
{
    uint8_t buf[PROXY_IO_CHUNK];
    int rc;

    if (p->running++ > 0)
        return; /* a callback below re-entered; the outer call loops again */
again:
    if (p->state == PEER_CONNECTING)
        goto out;
    if (p->state == PEER_HANDSHAKE) {
        rc = conn_handshake(p->c);
        if (rc == -EAGAIN)
            goto out;
        if (rc < 0) {
            char reason[400];
            snprintf(reason, sizeof(reason), "mTLS to the peer proxy failed: %s",
                     st_tls_conn_error(p->c->tls));
            p->running = 0;
            /* Not retried: a refused identity does not change on a second try. */
            peer_fail(p, 502, reason, false);
            return;
        }
        if (!p->app) {
            const char *alpn = st_tls_conn_alpn(p->c->tls);
            if (alpn == NULL || strcmp(alpn, PROXY_ALPN_H2) != 0) {
                p->running = 0;
                peer_fail(p, 502, "the peer proxy does not speak HTTP/2", false);
                return;
            }
        }
        if (peer_session_new(p) < 0) {
            p->running = 0;
            peer_fail(p, 502, "HTTP/2 session error", false);
            return;
        }
        /* The app's requests wait for its SETTINGS: proof that it speaks HTTP/2. */
        p->state = p->app ? PEER_SETTINGS : PEER_READY;
        if (!p->app)
            st_ev_timer_start(p->th->loop, &p->c->timer, p->th->px->cfg.idle_timeout_ms);
    }
    peer_submit_pending(p);
    /* Read what has arrived. */
    for (;;) {
        ssize_t r = conn_read(p->c, buf, sizeof(buf));
        if (r == -EAGAIN)
            break;
        if (r <= 0) {
            p->running = 0;
            peer_fail(p, 502, "the peer proxy closed the connection", true);
            return;
        }
        if (nghttp2_session_mem_recv(p->ng, buf, (size_t)r) < 0) {
            p->running = 0;
            peer_fail(p, 502, "the peer proxy broke the HTTP/2 protocol", true);
            return;
        }
    }
    peer_submit_pending(p); /* the app's SETTINGS may have come */
    /* Write what nghttp2 has, while the socket takes it. */
    for (;;) {
        while (p->c->out.len < PROXY_OUT_HIGH) {
            const uint8_t *data;
            ssize_t n = nghttp2_session_mem_send(p->ng, &data);
            if (n < 0) {
                p->running = 0;
                peer_fail(p, 502, "HTTP/2 session error", true);
                return;
            }
            if (n == 0)
                break;
            if (conn_queue(p->c, data, (size_t)n) < 0) {
                p->running = 0;
                peer_fail(p, 502, "output overflow", true);
                return;
            }
            p->queued += (uint64_t)n;
        }
        rc = conn_flush(p->c);
        if (rc == -EAGAIN)
            break;
        if (rc < 0) {
            p->running = 0;
            peer_fail(p, 502, "cannot write to the peer proxy", true);
            return;
        }
        if (!nghttp2_session_want_write(p->ng))
            break;
    }
    if (!nghttp2_session_want_read(p->ng) && !nghttp2_session_want_write(p->ng) &&
        p->c->out.len == 0) {
        p->running = 0;
        peer_fail(p, 502, "the HTTP/2 session to the peer ended", true);
        return;
    }
out:
    if (p->running > 1) {
        p->running = 1;
        goto again;
    }
    p->running = 0;
}

static void
peer_flush_cb(struct st_ev *loop, struct st_ev_defer *d)
{
    ST_UNUSED(loop);
    peer_run(d->data);
}

/*
 * A new pooled connection to <addr>: mTLS to a peer proxy that must present
 * <identity>, or (identity NULL) plaintext to the local app. Returned in
 * PEER_DEAD state when it cannot even start.
 */
static struct peer *
peer_open(struct proxy_thread *th, const struct st_sockaddr *addr, const char *identity)
{
    struct peer *p = st_xcalloc(1, sizeof(*p));
    struct st_tls_ctx *ctx = NULL;
    struct st_err err = {0};
    uint32_t setup_ms = th->px->cfg.connect_timeout_ms;
    int fd;

    p->th = th;
    p->addr = *addr;
    p->app = identity == NULL;
    p->identity = identity != NULL ? st_xstrdup(identity) : NULL;
    p->goaway_last = -1;
    list_init(&p->pending);
    list_init(&p->active);
    list_add(&th->peers, &p->link);
    st_ev_defer_init(&p->flush, peer_flush_cb, p);
    p->state = PEER_CONNECTING;
    if (!p->app && (ctx = identity_client_ctx(th->px->id, false)) == NULL) {
        p->state = PEER_DEAD;
        return p;
    }
    fd = st_sock_connect(addr, NULL, &err);
    if (fd < 0) {
        st_tls_ctx_unref(ctx);
        p->state = PEER_DEAD;
        return p;
    }
    st_sock_set_nodelay(fd, true);
    p->c = st_xmalloc(sizeof(*p->c));
    conn_init(p->c, th, fd, ctx, false, peer_conn_cb, p);
    if (p->app) {
        p->c->tcp = stats_tcp(th->stats, "direction=\"inbound\",peer=\"dst\",tls=\"false\"");
    } else {
        st_tls_ctx_unref(ctx);
        st_tls_conn_expect_identity(p->c->tls, identity);
        char *labels = stats_escape(identity);
        char *l = st_xasprintf("direction=\"outbound\",peer=\"dst\",tls=\"true\",server_id=\"%s\"",
                               labels);
        p->c->tcp = stats_tcp(th->stats, l);
        free(labels);
        free(l);
        setup_ms += th->px->cfg.handshake_timeout_ms;
    }
    stats_tcp_open(p->c->tcp);
    st_ev_timer_init(&p->c->timer, peer_idle, p);
    st_ev_timer_start(th->loop, &p->c->timer, setup_ms);
    return p;
}

/* The pooled connection to <addr> (and <identity>, NULL for the app) that takes streams, or a new
 * one. */
static struct peer *
peer_get(struct proxy_thread *th, const struct st_sockaddr *addr, const char *identity)
{
    for (struct list *l = th->peers.next; l != &th->peers; l = l->next) {
        struct peer *q = ST_CONTAINER_OF(l, struct peer, link);
        if (q->state > PEER_READY || !st_sock_addr_equal(&q->addr, addr))
            continue;
        if (identity == NULL ? q->app : !q->app && strcmp(q->identity, identity) == 0)
            return q;
    }
    return peer_open(th, addr, identity);
}

/* Attaches <x> to <p> as a new stream, submitted now or when the connection is ready. */
static void
peer_add_stream(struct peer *p, struct xchg *x)
{
    struct pstream *ps = st_xcalloc(1, sizeof(*ps));

    ps->p = p;
    ps->x = x;
    list_init(&ps->link);
    xchg_attach_up(x, ps, &pstream_ops);
    if (p->state == PEER_READY) {
        /*
         * Written after the loop turn's other events: the requests of all the
         * clients that were ready together leave in one TLS record and one
         * send instead of one each.
         */
        pstream_submit(ps);
        st_ev_defer_schedule(p->th->loop, &p->flush);
    } else {
        list_add(p->pending.prev, &ps->link);
    }
}

void
peer_attach(struct xchg *x, struct disc_endpoint *ep)
{
    struct proxy_thread *th = x->th;
    struct peer *p;

    (void)peer_local(th); /* request_retry_total is on /metrics from the first request */
    p = peer_get(th, &ep->addr, ep->identity);
    if (p->state == PEER_DEAD) {
        bool ready = identity_ready(th->px->id);
        peer_free(p);
        if (ready && xchg_retry(x, "connection"))
            return;
        xchg_abort(x, 503,
                   ready ? "cannot connect to the peer proxy" : "no identity certificate yet");
        return;
    }
    peer_add_stream(p, x);
}

void
peer_attach_app(struct xchg *x, const struct st_sockaddr *addr)
{
    struct proxy_thread *th = x->th;
    struct peer *p;

    if (peer_app_is_h1(th, addr)) {
        h1up_attach(x, addr);
        return;
    }
    p = peer_get(th, addr, NULL);
    if (p->state == PEER_DEAD) {
        peer_free(p);
        if (xchg_retry(x, "connection"))
            return;
        xchg_abort(x, 502, "cannot connect to the app");
        return;
    }
    peer_add_stream(p, x);
}

void
peer_drain_all(struct proxy_thread *th)
{
    for (struct list *l = th->peers.next, *next; l != &th->peers; l = next) {
        struct peer *p = ST_CONTAINER_OF(l, struct peer, link);
        next = l->next;
        /* No new streams; the streams in flight finish, then the idle timer closes it. */
        if (p->state == PEER_READY) {
            p->state = PEER_GOAWAY;
            if (p->nstreams == 0)
                peer_free(p);
        }
    }
}

void
peer_close_all(struct proxy_thread *th)
{
    while (!list_empty(&th->peers))
        peer_fail(ST_CONTAINER_OF(th->peers.next, struct peer, link), 503, "shutting down", false);
    free(th->peer_local);
    th->peer_local = NULL;
}
