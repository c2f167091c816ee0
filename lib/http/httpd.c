/*
 * httpd: the control plane's HTTP/1.1 server (see include/strait/httpd.h).
 *
 * One connection moves through these states:
 *   HANDSHAKE -> READ_HEAD -> READ_BODY -> HANDLING [-> STREAMING] -> READ_HEAD ...
 * and CLOSING once it must close after its output is written. The head of the
 * current request stays at the front of conn->in until the request is
 * answered, so the parser's zero-copy views stay valid; bytes that arrive
 * while a request is being handled go to conn->pending and are appended to
 * conn->in afterwards. The head is parsed a second time at dispatch because
 * conn->in may have been reallocated while the body was read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "strait/httpd.h"

enum conn_state {
    CONN_HANDSHAKE,
    CONN_READ_HEAD,
    CONN_READ_BODY,
    CONN_HANDLING,
    CONN_STREAMING,
    CONN_CLOSING,
};

struct httpd_conn;

struct st_httpd_req {
    struct httpd_conn *conn;
    struct st_http1_request head;
    struct st_http_header hdrs[ST_HTTPD_MAX_HEADERS];
    const char *body;
    size_t body_len;
    st_httpd_abort_cb *abort_cb;
    void *abort_arg;
};

struct httpd_conn {
    struct st_httpd *srv;
    struct httpd_conn *prev, *next;
    int fd;
    struct st_ev_io io;
    struct st_ev_timer timer;
    struct st_ev_defer defer;
    struct st_tls_conn *tls;
    struct st_sockaddr peer;
    enum conn_state state;
    struct st_buf in;      /* the current request, then pipelined bytes */
    struct st_buf pending; /* bytes read while a request is handled */
    struct st_buf body;    /* a decoded chunked body */
    struct st_buf out;     /* response bytes not yet written, from out_off */
    size_t out_off;
    size_t head_len;
    size_t request_end; /* bytes of conn->in that the current request spans */
    enum st_http1_body body_kind;
    int64_t content_length;
    struct st_http1_chunked chunked;
    size_t chunk_pos;       /* raw body bytes already fed to the chunked decoder */
    bool close_after;       /* close once the output is written */
    uint64_t linger_left;   /* request body bytes to read and drop before closing */
    bool stream_chunked;    /* the stream uses the chunked coding (HTTP/1.1) */
    bool head_only;         /* the request was HEAD: no body in the answer */
    bool dead;              /* closed; waiting for the deferred free */
    struct st_httpd_req req; /* valid in HANDLING and STREAMING */
};

struct st_httpd {
    struct st_ev *loop;
    struct st_httpd_options opt;
    st_httpd_handler *handler;
    void *arg;
    int lfd;
    struct st_ev_io lio;
    struct st_sockaddr addr;
    struct httpd_conn *conns; /* every open connection */
    struct httpd_conn *dead;  /* closed, waiting for their deferred free */
    size_t nconns;
    bool accepting; /* the listener is registered with the loop */
    bool shutting_down;
};

static void conn_on_io(struct st_ev *loop, struct st_ev_io *io, unsigned events);
static void conn_close(struct httpd_conn *c);
static void conn_process(struct httpd_conn *c);
static void httpd_accept(struct st_httpd *h);

/* ---- small helpers -------------------------------------------------------- */

static void
conn_arm(struct httpd_conn *c, uint32_t ms)
{
    if (ms == 0)
        st_ev_timer_stop(c->srv->loop, &c->timer);
    else
        st_ev_timer_start(c->srv->loop, &c->timer, ms);
}

static ssize_t
conn_raw_read(struct httpd_conn *c, void *p, size_t n)
{
    if (c->tls != NULL) {
        ssize_t r = st_tls_read(c->tls, p, n);
        return r == ST_TLS_WANT_READ || r == ST_TLS_WANT_WRITE ? -EAGAIN : r;
    }
    for (;;) {
        ssize_t r = recv(c->fd, p, n, 0);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
}

static ssize_t
conn_raw_write(struct httpd_conn *c, const void *p, size_t n)
{
    if (c->tls != NULL) {
        ssize_t r = st_tls_write(c->tls, p, n);
        return r == ST_TLS_WANT_READ || r == ST_TLS_WANT_WRITE ? -EAGAIN : r;
    }
    for (;;) {
        ssize_t r = send(c->fd, p, n, MSG_NOSIGNAL);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
}

/*
 * Writes queued output. Returns 0 when everything was written or the socket
 * is full, a negative error when the connection is broken.
 */
static int
conn_flush(struct httpd_conn *c)
{
    while (c->out_off < c->out.len) {
        ssize_t w = conn_raw_write(c, c->out.data + c->out_off, c->out.len - c->out_off);
        if (w == -EAGAIN) {
            conn_arm(c, c->srv->opt.write_timeout_ms);
            return 0;
        }
        if (w <= 0)
            return w < 0 ? (int)w : -EPIPE;
        c->out_off += (size_t)w;
        if (c->out_off < c->out.len)
            conn_arm(c, c->srv->opt.write_timeout_ms); /* progress: restart the clock */
    }
    /* All written: keep small storage for the next answer, give large storage back. */
    if (c->out.cap > 16384)
        st_buf_free(&c->out);
    else
        st_buf_reset(&c->out);
    c->out_off = 0;
    if (c->state == CONN_CLOSING) {
        if (c->linger_left == 0) {
            conn_close(c);
            return -EPIPE;
        }
        /* Drop the rest of a refused body so the client reads our answer. */
        conn_arm(c, 5000);
        return 0;
    }
    /* Nothing queued: back to the timeout of the current phase. */
    if (c->state == CONN_READ_HEAD)
        conn_arm(c, c->in.len ? c->srv->opt.header_timeout_ms : c->srv->opt.idle_timeout_ms);
    else if (c->state == CONN_HANDLING || c->state == CONN_STREAMING)
        conn_arm(c, 0);
    return 0;
}

/* Queues bytes for output; whole responses are never refused. */
static void
conn_queue(struct httpd_conn *c, const void *p, size_t n)
{
    if (c->out_off > 0 && c->out_off == c->out.len) {
        st_buf_reset(&c->out);
        c->out_off = 0;
    } else if (c->out_off > 65536 && c->out_off > c->out.len / 2) {
        st_buf_consume(&c->out, c->out_off);
        c->out_off = 0;
    }
    if (st_buf_append(&c->out, p, n) < 0)
        st_oom(); /* out has no cap; only stream writes check max_output */
}

/* Answers an unparseable or refused request and closes after writing. */
static void
conn_fail(struct httpd_conn *c, int status, const char *msg)
{
    struct st_buf body = ST_BUF_INIT(64 * 1024);
    struct st_buf b = ST_BUF_INIT(0);
    const char *ctype = "text/plain";
    int rc;

    if (c->srv->opt.error_body == NULL ||
        c->srv->opt.error_body(c->srv->arg, status, msg, &body, &ctype) < 0) {
        st_buf_reset(&body);
        ctype = "text/plain";
        if (st_buf_appendf(&body, "%s\n", msg) < 0)
            st_buf_reset(&body);
    }
    rc = st_buf_appendf(&b,
                        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                        "Connection: close\r\n\r\n",
                        status, st_http_status_reason(status), ctype, body.len);
    if (rc == 0)
        rc = st_buf_append(&b, st_buf_cstr(&body), body.len);
    if (rc == 0)
        conn_queue(c, b.data, b.len);
    st_buf_free(&b);
    st_buf_free(&body);
    c->state = CONN_CLOSING;
    if (conn_flush(c) == 0)
        conn_arm(c, c->srv->opt.write_timeout_ms);
}

/* ---- connection life ------------------------------------------------------ */

static void
conn_free(struct httpd_conn *c)
{
    struct st_httpd *h = c->srv;

    if (c->prev)
        c->prev->next = c->next;
    else
        h->dead = c->next;
    if (c->next)
        c->next->prev = c->prev;
    st_ev_defer_cancel(h->loop, &c->defer);
    st_buf_free(&c->in);
    st_buf_free(&c->pending);
    st_buf_free(&c->body);
    st_buf_free(&c->out);
    free(c);
}

static void
conn_free_deferred(struct st_ev *loop, struct st_ev_defer *d)
{
    struct httpd_conn *c = d->data;

    if (!c->dead) {
        /* A scheduled continuation: process pipelined input, then read more. */
        conn_on_io(loop, &c->io, ST_EV_READ);
        return;
    }
    conn_free(c);
}

static void
conn_close(struct httpd_conn *c)
{
    struct st_httpd *h = c->srv;

    if (c->dead)
        return;
    if ((c->state == CONN_HANDLING || c->state == CONN_STREAMING) && c->req.abort_cb) {
        st_httpd_abort_cb *cb = c->req.abort_cb;
        c->req.abort_cb = NULL;
        cb(c->req.abort_arg, &c->req);
    }
    c->dead = true;
    st_ev_io_stop(h->loop, &c->io);
    st_ev_timer_stop(h->loop, &c->timer);
    if (c->tls != NULL) {
        st_tls_shutdown(c->tls); /* best effort close_notify */
        st_tls_conn_free(c->tls);
        c->tls = NULL;
    }
    close(c->fd);
    c->fd = -1;
    if (c->prev)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    h->nconns--;
    c->prev = NULL;
    c->next = h->dead;
    if (h->dead)
        h->dead->prev = c;
    h->dead = c;
    /* Freed after the current callbacks, so no caller holds a stale pointer. */
    st_ev_defer_schedule(h->loop, &c->defer);
    if (!h->shutting_down && !h->accepting && h->lfd >= 0)
        httpd_accept(h);
}

static void
conn_on_timer(struct st_ev *loop, struct st_ev_timer *t)
{
    conn_close(t->data);
}

/* Runs the TLS handshake; returns true when application data may flow. */
static bool
conn_handshake(struct httpd_conn *c)
{
    int rc = st_tls_handshake(c->tls);

    if (rc == ST_TLS_WANT_READ || rc == ST_TLS_WANT_WRITE)
        return false;
    if (rc < 0) {
        conn_close(c);
        return false;
    }
    c->state = CONN_READ_HEAD;
    conn_arm(c, c->srv->opt.idle_timeout_ms);
    return true;
}

/* Reads what the socket has; returns false when the connection was closed. */
static bool
conn_read(struct httpd_conn *c)
{
    for (;;) {
        bool handling = c->state == CONN_HANDLING || c->state == CONN_STREAMING;
        struct st_buf *b = handling ? &c->pending : &c->in;
        /* While a request is handled, read only to notice the peer leaving. */
        if (handling && c->pending.len >= 65536)
            return true;
        if (c->state == CONN_CLOSING) {
            char scratch[16384];
            if (c->linger_left == 0 || c->out_off < c->out.len)
                return true;
            ssize_t r = conn_raw_read(c, scratch, sizeof(scratch));
            if (r == -EAGAIN)
                return true;
            if (r <= 0 || (uint64_t)r >= c->linger_left) {
                conn_close(c);
                return false;
            }
            c->linger_left -= (uint64_t)r;
            continue;
        }
        /*
         * Read into the stack and keep only what arrived: a connection that
         * waits (a watch, a stream, keep-alive) then holds a few hundred
         * bytes instead of a read-sized buffer.
         */
        char chunk[16384];
        if (b->len >= b->max)
            return true; /* over the cap: the head or body limits answer, or stop reading */
        size_t room = ST_MIN(sizeof(chunk), b->max - b->len);
        ssize_t r = conn_raw_read(c, chunk, room);
        if (r == -EAGAIN)
            return true;
        if (r <= 0) {
            conn_close(c);
            return false;
        }
        if (st_buf_append(b, chunk, (size_t)r) < 0) { /* cannot happen: room fits the cap */
            conn_close(c);
            return false;
        }
        if (!handling && c->state == CONN_READ_HEAD)
            conn_arm(c, c->srv->opt.header_timeout_ms);
        /*
         * A short read drains a plain socket, so edge-triggered epoll will
         * report the next bytes. TLS hands out one record per call, so it
         * must be read until it wants more.
         */
        if (c->tls == NULL && (size_t)r < room)
            return true;
    }
}

static void
conn_on_io(struct st_ev *loop, struct st_ev_io *io, unsigned events)
{
    struct httpd_conn *c = io->data;

    if (c->dead)
        return;
    if (c->state == CONN_HANDSHAKE && !conn_handshake(c))
        return;
    if (conn_flush(c) < 0) {
        conn_close(c);
        return;
    }
    if (c->dead || !conn_read(c))
        return;
    conn_process(c);
}

/* ---- requests ------------------------------------------------------------- */

static void
conn_dispatch(struct httpd_conn *c)
{
    struct st_httpd_req *r = &c->req;
    int rc;

    memset(r, 0, offsetof(struct st_httpd_req, hdrs));
    r->conn = c;
    rc = st_http1_parse_request(c->in.data, c->in.len, &c->srv->opt.limits, &r->head, r->hdrs,
                                ST_HTTPD_MAX_HEADERS);
    if (rc <= 0) { /* cannot happen: the same bytes parsed before */
        conn_fail(c, 500, "internal error");
        return;
    }
    if (c->body_kind == ST_HTTP1_BODY_CHUNKED) {
        r->body = st_buf_cstr(&c->body);
        r->body_len = c->body.len;
    } else if (c->body_kind == ST_HTTP1_BODY_LENGTH) {
        r->body = c->in.data + c->head_len;
        r->body_len = (size_t)c->content_length;
    } else {
        r->body = "";
        r->body_len = 0;
    }
    c->head_only = r->head.method_id == ST_HTTP_HEAD;
    c->close_after = !r->head.keep_alive || c->srv->shutting_down;
    c->state = CONN_HANDLING;
    conn_arm(c, 0);
    c->srv->handler(c->srv->arg, r);
}

/* Called when the answer to the current request is fully queued. */
static void
conn_request_done(struct httpd_conn *c)
{
    c->req.abort_cb = NULL;
    if (c->close_after) {
        c->state = CONN_CLOSING;
        if (conn_flush(c) == 0 && !c->dead)
            conn_arm(c, c->srv->opt.write_timeout_ms);
        return;
    }
    st_buf_consume(&c->in, c->request_end);
    if (c->pending.len) {
        if (st_buf_append(&c->in, c->pending.data, c->pending.len) < 0) {
            conn_close(c);
            return;
        }
    }
    /* Between requests a connection keeps no large buffer. */
    st_buf_free(&c->pending);
    st_buf_free(&c->body);
    if (c->in.len == 0 && c->in.cap > 4096)
        st_buf_free(&c->in);
    c->state = CONN_READ_HEAD;
    if (conn_flush(c) < 0)
        return;
    /* Continue with pipelined bytes (and read again) outside the handler. */
    st_ev_defer_schedule(c->srv->loop, &c->defer);
}

static void
conn_process(struct httpd_conn *c)
{
    const struct st_httpd_options *o = &c->srv->opt;

    while (!c->dead) {
        if (c->state == CONN_READ_HEAD) {
            struct st_http1_request head;
            if (c->in.len == 0)
                return;
            int rc = st_http1_parse_request(c->in.data, c->in.len, &o->limits, &head,
                                            c->req.hdrs, ST_HTTPD_MAX_HEADERS);
            if (rc == 0)
                return;
            if (rc < 0) {
                conn_fail(c, st_http1_error_status(rc), st_http1_error_reason(rc));
                return;
            }
            c->head_len = (size_t)rc;
            c->body_kind = st_http1_request_body(&head);
            c->content_length = head.content_length;
            c->chunk_pos = 0;
            if (c->body_kind == ST_HTTP1_BODY_LENGTH && (uint64_t)head.content_length > o->max_body) {
                /* Read and drop up to 64 MiB of it, so the client sees the 413. */
                uint64_t have = c->in.len - c->head_len;
                uint64_t left = (uint64_t)head.content_length - have;
                c->linger_left = head.content_length <= (64 << 20) ? left : 0;
                conn_fail(c, 413, "request body too large");
                return;
            }
            if (c->body_kind == ST_HTTP1_BODY_CHUNKED)
                st_http1_chunked_init(&c->chunked);
            if (head.expect_continue && c->body_kind != ST_HTTP1_BODY_NONE &&
                c->in.len == c->head_len) {
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                conn_queue(c, cont, sizeof(cont) - 1);
                if (conn_flush(c) < 0)
                    return;
            }
            c->state = CONN_READ_BODY;
            conn_arm(c, o->body_timeout_ms);
        }
        if (c->state == CONN_READ_BODY) {
            if (c->body_kind == ST_HTTP1_BODY_LENGTH) {
                if (c->in.len - c->head_len < (uint64_t)c->content_length)
                    return;
                c->request_end = c->head_len + (size_t)c->content_length;
            } else if (c->body_kind == ST_HTTP1_BODY_CHUNKED) {
                for (;;) {
                    size_t used = 0;
                    struct st_str data = {NULL, 0};
                    size_t at = c->head_len + c->chunk_pos;
                    int rc = st_http1_chunked_decode(&c->chunked, c->in.data + at, c->in.len - at,
                                                     &used, &data);
                    c->chunk_pos += used;
                    if (rc < 0) {
                        conn_fail(c, st_http1_error_status(rc), st_http1_error_reason(rc));
                        return;
                    }
                    if (data.n && (c->body.len + data.n > o->max_body ||
                                   st_buf_append(&c->body, data.p, data.n) < 0)) {
                        conn_fail(c, 413, "request body too large");
                        return;
                    }
                    if (rc == 1)
                        break;
                    if (used == 0 && data.n == 0) {
                        if (c->in.len >= c->in.max) {
                            conn_fail(c, 413, "request body too large");
                            return;
                        }
                        return; /* need more bytes */
                    }
                }
                c->request_end = c->head_len + c->chunk_pos;
            } else {
                c->request_end = c->head_len;
            }
            conn_dispatch(c);
            continue;
        }
        return; /* HANDLING, STREAMING, CLOSING, HANDSHAKE: wait */
    }
}

/* ---- accepting -------------------------------------------------------------- */

static void
httpd_new_conn(struct st_httpd *h, int fd, const struct st_sockaddr *peer)
{
    struct httpd_conn *c = st_xcalloc(1, sizeof(*c));

    c->srv = h;
    c->fd = fd;
    c->peer = *peer;
    st_buf_init(&c->in, h->opt.limits.max_head_bytes + h->opt.max_body + 65536);
    st_buf_init(&c->pending, 65536 + 16384);
    st_buf_init(&c->body, h->opt.max_body);
    st_buf_init(&c->out, 0);
    st_ev_io_init(&c->io, fd, conn_on_io, c);
    st_ev_timer_init(&c->timer, conn_on_timer, c);
    st_ev_defer_init(&c->defer, conn_free_deferred, c);
    c->next = h->conns;
    if (h->conns)
        h->conns->prev = c;
    h->conns = c;
    h->nconns++;
    st_sock_set_nodelay(fd, true);
    if (h->opt.tls != NULL) {
        struct st_tls_ctx *ctx = st_tls_slot_get(h->opt.tls);
        c->tls = ctx ? st_tls_conn_new(ctx, fd, true, NULL) : NULL;
        st_tls_ctx_unref(ctx);
        if (c->tls == NULL) {
            conn_close(c);
            return;
        }
        c->state = CONN_HANDSHAKE;
        conn_arm(c, h->opt.handshake_timeout_ms);
    } else {
        c->state = CONN_READ_HEAD;
        conn_arm(c, h->opt.idle_timeout_ms);
    }
    if (st_ev_io_start(h->loop, &c->io, ST_EV_READ | ST_EV_WRITE) < 0) {
        conn_close(c);
        return;
    }
    /* Data may already be waiting; edge-triggered epoll will not say so again. */
    conn_on_io(h->loop, &c->io, ST_EV_READ);
}

static void
httpd_accept(struct st_httpd *h)
{
    while (!h->shutting_down) {
        if (h->nconns >= h->opt.max_conns) {
            /* Leave further clients in the kernel's backlog until one closes. */
            if (h->accepting) {
                st_ev_io_stop(h->loop, &h->lio);
                h->accepting = false;
            }
            return;
        }
        if (!h->accepting) {
            if (st_ev_io_start(h->loop, &h->lio, ST_EV_READ) < 0)
                return;
            h->accepting = true;
        }
        struct st_sockaddr peer;
        int fd = st_sock_accept(h->lfd, &peer);
        if (fd == -EAGAIN)
            return;
        if (fd < 0) {
            if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM)
                return; /* try again on the next readiness or close */
            continue;
        }
        httpd_new_conn(h, fd, &peer);
    }
}

static void
httpd_on_listen(struct st_ev *loop, struct st_ev_io *io, unsigned events)
{
    httpd_accept(io->data);
}

struct st_httpd *
st_httpd_new(struct st_ev *loop, const struct st_httpd_options *opt, st_httpd_handler *handler,
             void *arg, struct st_err *err)
{
    struct st_httpd *h = st_xcalloc(1, sizeof(*h));
    struct st_sockaddr addr;

    h->loop = loop;
    h->opt = *opt;
    h->handler = handler;
    h->arg = arg;
    h->lfd = -1;
    if (!h->opt.max_conns)
        h->opt.max_conns = 1024;
    if (!h->opt.max_body)
        h->opt.max_body = 3u << 20;
    if (!h->opt.max_output)
        h->opt.max_output = 8u << 20;
    if (!h->opt.handshake_timeout_ms)
        h->opt.handshake_timeout_ms = 10000;
    if (!h->opt.header_timeout_ms)
        h->opt.header_timeout_ms = 15000;
    if (!h->opt.body_timeout_ms)
        h->opt.body_timeout_ms = 60000;
    if (!h->opt.idle_timeout_ms)
        h->opt.idle_timeout_ms = 90000;
    if (!h->opt.write_timeout_ms)
        h->opt.write_timeout_ms = 30000;
    if (!h->opt.limits.max_head_bytes)
        h->opt.limits = ST_HTTP1_LIMITS_DEFAULT;
    if (opt->listen == NULL || st_sock_parse_addr(opt->listen, &addr) < 0) {
        st_err_set(err, ST_EINVAL, "bad listen address \"%s\"", opt->listen ? opt->listen : "");
        goto fail;
    }
    h->lfd = st_sock_listen(&addr, 1024, false, err);
    if (h->lfd < 0)
        goto fail;
    st_sock_local_addr(h->lfd, &h->addr);
    st_ev_io_init(&h->lio, h->lfd, httpd_on_listen, h);
    if (st_ev_io_start(loop, &h->lio, ST_EV_READ) < 0) {
        st_err_set(err, -EINVAL, "cannot watch the listening socket");
        goto fail;
    }
    h->accepting = true;
    return h;
fail:
    if (h->lfd >= 0)
        close(h->lfd);
    free(h);
    return NULL;
}

const struct st_sockaddr *
st_httpd_addr(const struct st_httpd *h)
{
    return &h->addr;
}

size_t
st_httpd_conn_count(const struct st_httpd *h)
{
    return h->nconns;
}

void
st_httpd_shutdown(struct st_httpd *h)
{
    if (h->shutting_down)
        return;
    h->shutting_down = true;
    if (h->accepting)
        st_ev_io_stop(h->loop, &h->lio);
    h->accepting = false;
    if (h->lfd >= 0)
        close(h->lfd);
    h->lfd = -1;
    for (struct httpd_conn *c = h->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (c->state == CONN_STREAMING)
            st_httpd_stream_end(&c->req);
        else if (c->state == CONN_HANDLING)
            c->close_after = true;
        else if (c->state != CONN_CLOSING && c->out_off == c->out.len)
            conn_close(c);
        else
            c->state = CONN_CLOSING;
    }
}

void
st_httpd_free(struct st_httpd *h)
{
    if (h == NULL)
        return;
    st_httpd_shutdown(h);
    while (h->conns != NULL)
        conn_close(h->conns);
    /* Nothing may be left for deferred calls: the loop may be freed next. */
    while (h->dead != NULL)
        conn_free(h->dead);
    free(h);
}

/* ---- the request API ---------------------------------------------------------- */

const struct st_http1_request *
st_httpd_req_head(const struct st_httpd_req *req)
{
    return &req->head;
}

const char *
st_httpd_req_body(const struct st_httpd_req *req, size_t *len)
{
    *len = req->body_len;
    return req->body;
}

struct st_str
st_httpd_req_header(const struct st_httpd_req *req, const char *name)
{
    const struct st_http_header *hd =
        st_http_header_get(req->head.headers, req->head.num_headers, name);
    return hd ? hd->value : (struct st_str){NULL, 0};
}

const struct st_sockaddr *
st_httpd_req_peer(const struct st_httpd_req *req)
{
    return &req->conn->peer;
}

struct st_tls_conn *
st_httpd_req_tls(const struct st_httpd_req *req)
{
    return req->conn->tls;
}

void
st_httpd_req_on_abort(struct st_httpd_req *req, st_httpd_abort_cb *cb, void *arg)
{
    req->abort_cb = cb;
    req->abort_arg = arg;
}

static int
httpd_write_head(struct httpd_conn *c, int status, const struct st_http_header *hdrs, size_t n,
                 const char *framing)
{
    struct st_buf b = ST_BUF_INIT(0);
    struct st_http_header all[ST_HTTPD_MAX_HEADERS + 2];
    size_t k = 0;

    if (n > ST_HTTPD_MAX_HEADERS)
        return ST_EINVAL;
    for (size_t i = 0; i < n; i++)
        all[k++] = hdrs[i];
    if (framing != NULL) {
        const char *colon = strchr(framing, ':');
        all[k].name = (struct st_str){framing, (size_t)(colon - framing)};
        all[k++].value = st_str_trim(st_str_c(colon + 1));
    }
    if (c->close_after)
        all[k++] = (struct st_http_header){ST_STR("Connection"), ST_STR("close")};
    int rc = st_http1_write_response_head(&b, status, (struct st_str){"", 0},
                                          c->req.head.minor_version, all, k);
    if (rc == 0)
        conn_queue(c, b.data, b.len);
    st_buf_free(&b);
    return rc;
}

int
st_httpd_respond(struct st_httpd_req *req, int status, const struct st_http_header *hdrs,
                 size_t n, const void *body, size_t len)
{
    struct httpd_conn *c = req->conn;
    char cl[48];

    if (c->state != CONN_HANDLING)
        return ST_EINVAL;
    if (c->srv->shutting_down)
        c->close_after = true;
    snprintf(cl, sizeof(cl), "Content-Length: %zu", len);
    int rc = httpd_write_head(c, status, hdrs, n, cl);
    if (rc < 0) {
        c->close_after = true;
        httpd_write_head(c, 500, NULL, 0, "Content-Length: 0");
        conn_request_done(c);
        return rc;
    }
    if (len && !c->head_only)
        conn_queue(c, body, len);
    conn_request_done(c);
    return 0;
}

int
st_httpd_respond_simple(struct st_httpd_req *req, int status, const char *content_type,
                        const void *body, size_t len)
{
    struct st_http_header h = {ST_STR("Content-Type"), st_str_c(content_type)};
    return st_httpd_respond(req, status, &h, content_type ? 1 : 0, body, len);
}

int
st_httpd_stream_begin(struct st_httpd_req *req, int status, const struct st_http_header *hdrs,
                      size_t n)
{
    struct httpd_conn *c = req->conn;

    if (c->state != CONN_HANDLING)
        return ST_EINVAL;
    c->stream_chunked = req->head.minor_version >= 1;
    if (!c->stream_chunked)
        c->close_after = true; /* HTTP/1.0: the body ends when the connection does */
    int rc = httpd_write_head(c, status, hdrs, n,
                              c->stream_chunked ? "Transfer-Encoding: chunked" : NULL);
    if (rc < 0)
        return rc;
    c->state = CONN_STREAMING;
    if (conn_flush(c) < 0)
        return -EPIPE;
    return 0;
}

int
st_httpd_stream_write(struct st_httpd_req *req, const void *p, size_t len)
{
    struct httpd_conn *c = req->conn;
    char head[ST_HTTP1_CHUNK_HEAD_MAX];

    if (c->state != CONN_STREAMING || c->dead)
        return -EPIPE;
    if (len == 0 || c->head_only)
        return 0;
    if (c->out.len - c->out_off + len > c->srv->opt.max_output)
        return ST_ETOOBIG;
    if (c->stream_chunked) {
        size_t hn = st_http1_chunk_head(head, len);
        conn_queue(c, head, hn);
        conn_queue(c, p, len);
        conn_queue(c, "\r\n", 2);
    } else {
        conn_queue(c, p, len);
    }
    /*
     * The flush may find the peer gone. The connection is closed (and the
     * abort callback run) from a deferred call, never from inside the
     * caller's write: the caller may be in the middle of its own callbacks.
     */
    if (conn_flush(c) < 0) {
        st_ev_defer_schedule(c->srv->loop, &c->defer);
        return -EPIPE;
    }
    return 0;
}

size_t
st_httpd_stream_backlog(const struct st_httpd_req *req)
{
    return req->conn->out.len - req->conn->out_off;
}

void
st_httpd_stream_end(struct st_httpd_req *req)
{
    struct httpd_conn *c = req->conn;

    if (c->state != CONN_STREAMING || c->dead)
        return;
    if (c->stream_chunked && !c->head_only)
        conn_queue(c, ST_HTTP1_CHUNK_LAST, sizeof(ST_HTTP1_CHUNK_LAST) - 1);
    if (c->srv->shutting_down)
        c->close_after = true;
    c->state = CONN_HANDLING;
    conn_request_done(c);
}
