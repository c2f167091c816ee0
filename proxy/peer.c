/*
 * HTTP/2 over mutual TLS to other proxies: one pooled connection per peer
 * (address and expected identity) per thread, many streams on it. Requests
 * wait while the connection is being set up; a connection that received
 * GOAWAY takes no new streams and a new one is opened beside it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <nghttp2/nghttp2.h>

#include "identity.h"
#include "h2.h"
#include "proxy.h"

enum peer_state { PEER_CONNECTING, PEER_HANDSHAKE, PEER_READY, PEER_GOAWAY, PEER_DEAD };

struct peer {
    struct list link;
    struct proxy_thread *th;
    struct st_sockaddr addr;
    char *identity;
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
    if (n > 0)
        xchg_wake_down(x); /* room for more body */
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
    char hops[8] = "";

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
        if (strcmp(x->req.f[i].name, PROXY_DST_HEADER) == 0)
            continue;
        NV(x->req.f[i].name, x->req.f[i].value);
    }
    if (x->dst != NULL)
        NV(PROXY_DST_HEADER, x->dst);
    ST_UNUSED(hops);
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
        if (p->state == PEER_READY)
            p->state = PEER_GOAWAY;
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

static int
peer_on_close(nghttp2_session *ng, int32_t id, uint32_t error_code, void *user)
{
    struct peer *p = user;
    struct pstream *ps = nghttp2_session_get_stream_user_data(ng, id);

    if (ps == NULL)
        return 0;
    p->nstreams--;
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
    nghttp2_session_set_stream_user_data(ng, id, NULL);
    pstream_free(ps);
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

/* Fails every stream of <p> and frees it. */
static void
peer_fail(struct peer *p, int status, const char *reason)
{
    nghttp2_session *ng = p->ng;

    p->state = PEER_DEAD;
    while (!list_empty(&p->pending)) {
        struct pstream *ps = ST_CONTAINER_OF(p->pending.next, struct pstream, link);
        xchg_abort(ps->x, status, reason);
        pstream_free(ps);
    }
    while (!list_empty(&p->active)) {
        struct pstream *ps = ST_CONTAINER_OF(p->active.next, struct pstream, link);
        if (ng != NULL)
            nghttp2_session_set_stream_user_data(ng, ps->id, NULL);
        p->nstreams--;
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
    if (p->state == PEER_CONNECTING || p->state == PEER_HANDSHAKE) {
        peer_fail(p, 504, "timed out connecting to the peer proxy");
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
            peer_fail(p, 503, reason);
            return;
        }
        if (!(events & ST_EV_WRITE))
            return;
        p->state = PEER_HANDSHAKE;
    }
    peer_run(p);
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
            peer_fail(p, 502, reason);
            return;
        }
        const char *alpn = st_tls_conn_alpn(p->c->tls);
        if (alpn == NULL || strcmp(alpn, PROXY_ALPN_H2) != 0 || peer_session_new(p) < 0) {
            p->running = 0;
            peer_fail(p, 502, "the peer proxy does not speak HTTP/2");
            return;
        }
        p->state = PEER_READY;
        st_ev_timer_start(p->th->loop, &p->c->timer, p->th->px->cfg.idle_timeout_ms);
        while (!list_empty(&p->pending)) {
            struct pstream *ps = ST_CONTAINER_OF(p->pending.next, struct pstream, link);
            list_del(&ps->link);
            pstream_submit(ps);
        }
    }
    /* Read what has arrived. */
    for (;;) {
        ssize_t r = conn_read(p->c, buf, sizeof(buf));
        if (r == -EAGAIN)
            break;
        if (r <= 0) {
            p->running = 0;
            peer_fail(p, 502, "the peer proxy closed the connection");
            return;
        }
        if (nghttp2_session_mem_recv(p->ng, buf, (size_t)r) < 0) {
            p->running = 0;
            peer_fail(p, 502, "the peer proxy broke the HTTP/2 protocol");
            return;
        }
    }
    /* Write what nghttp2 has, while the socket takes it. */
    for (;;) {
        while (p->c->out.len < PROXY_OUT_HIGH) {
            const uint8_t *data;
            ssize_t n = nghttp2_session_mem_send(p->ng, &data);
            if (n < 0) {
                p->running = 0;
                peer_fail(p, 502, "HTTP/2 session error");
                return;
            }
            if (n == 0)
                break;
            if (conn_queue(p->c, data, (size_t)n) < 0) {
                p->running = 0;
                peer_fail(p, 502, "output overflow");
                return;
            }
        }
        rc = conn_flush(p->c);
        if (rc == -EAGAIN)
            break;
        if (rc < 0) {
            p->running = 0;
            peer_fail(p, 502, "cannot write to the peer proxy");
            return;
        }
        if (!nghttp2_session_want_write(p->ng))
            break;
    }
    if (!nghttp2_session_want_read(p->ng) && !nghttp2_session_want_write(p->ng) &&
        p->c->out.len == 0) {
        p->running = 0;
        peer_fail(p, 502, "the HTTP/2 session to the peer ended");
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

static struct peer *
peer_open(struct proxy_thread *th, struct disc_endpoint *ep)
{
    struct peer *p = st_xcalloc(1, sizeof(*p));
    struct st_tls_ctx *ctx = identity_client_ctx(th->px->id, false);
    struct st_err err = {0};
    int fd;

    p->th = th;
    p->addr = ep->addr;
    p->identity = st_xstrdup(ep->identity);
    list_init(&p->pending);
    list_init(&p->active);
    list_add(&th->peers, &p->link);
    st_ev_defer_init(&p->flush, peer_flush_cb, p);
    p->state = PEER_CONNECTING;
    if (ctx == NULL) {
        p->state = PEER_DEAD;
        return p;
    }
    fd = st_sock_connect(&ep->addr, NULL, &err);
    if (fd < 0) {
        st_tls_ctx_unref(ctx);
        p->state = PEER_DEAD;
        return p;
    }
    st_sock_set_nodelay(fd, true);
    p->c = st_xmalloc(sizeof(*p->c));
    conn_init(p->c, th, fd, ctx, false, peer_conn_cb, p);
    st_tls_ctx_unref(ctx);
    st_tls_conn_expect_identity(p->c->tls, ep->identity);
    char *labels = stats_escape(ep->identity);
    char *l =
        st_xasprintf("direction=\"outbound\",peer=\"dst\",tls=\"true\",server_id=\"%s\"", labels);
    p->c->tcp = stats_tcp(th->stats, l);
    stats_tcp_open(p->c->tcp);
    free(labels);
    free(l);
    st_ev_timer_init(&p->c->timer, peer_idle, p);
    st_ev_timer_start(th->loop, &p->c->timer,
                      th->px->cfg.connect_timeout_ms + th->px->cfg.handshake_timeout_ms);
    return p;
}

void
peer_attach(struct xchg *x, struct disc_endpoint *ep)
{
    struct proxy_thread *th = x->th;
    struct peer *p = NULL;

    for (struct list *l = th->peers.next; l != &th->peers; l = l->next) {
        struct peer *q = ST_CONTAINER_OF(l, struct peer, link);
        if (q->state <= PEER_READY && st_sock_addr_equal(&q->addr, &ep->addr) &&
            strcmp(q->identity, ep->identity) == 0) {
            p = q;
            break;
        }
    }
    if (p == NULL)
        p = peer_open(th, ep);
    if (p->state == PEER_DEAD) {
        xchg_abort(x, 503,
                   identity_ready(th->px->id) ? "cannot connect to the peer proxy"
                                              : "no identity certificate yet");
        peer_free(p);
        return;
    }
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
        st_ev_defer_schedule(th->loop, &p->flush);
    } else {
        list_add(p->pending.prev, &ps->link);
    }
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
        peer_fail(ST_CONTAINER_OF(th->peers.next, struct peer, link), 503, "shutting down");
}
