/*
 * HTTP/1.1 to the local app on the inbound side, through a per-thread pool of
 * keep-alive connections. The request head is rebuilt from the exchange; a
 * body of unknown length goes chunked, with its trailers. The response is
 * parsed by the strict parser and streamed into the exchange.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "proxy.h"

#define H1UP_IN_MAX (PROXY_MAX_HEAD_BYTES + PROXY_IO_CHUNK)
#define H1UP_IDLE_BUF 4096 /* input buffer kept by a pooled connection */
/*
 * A pooled connection idle at least this long is checked with a 1-byte
 * MSG_PEEK before it is reused (see h1up_attach); a fresher one is not.
 */
#define H1UP_PEEK_AFTER_MS 1000

enum h1up_state { H1UP_CONNECTING, H1UP_ACTIVE, H1UP_IDLE };
enum h1up_framing { H1UP_NONE, H1UP_LENGTH, H1UP_CHUNKED };

struct h1up {
    struct list link; /* th->app_idle while idle */
    struct proxy_thread *th;
    struct conn *c;
    struct st_sockaddr addr;
    struct xchg *x;
    enum h1up_state state;
    bool head_sent, req_done;
    enum h1up_framing req_framing;
    struct st_buf in;
    bool resp_head, resp_done, keep_alive, got_bytes;
    enum st_http1_body resp_framing;
    enum st_http_method method;
    uint64_t resp_left;
    struct st_http1_chunked ch;
    struct hmsg *trailers;
    uint64_t idle_since_ms; /* loop time it went back to the pool */
};

static void h1up_run(struct h1up *u);

static void
h1up_wake(void *side)
{
    h1up_run(side);
}

static const struct side_ops h1up_ops = {h1up_wake};

static void
h1up_free(struct h1up *u)
{
    list_del(&u->link);
    if (u->x != NULL) {
        struct xchg *x = u->x;
        u->x = NULL;
        xchg_detach_up(x);
    }
    conn_close(u->c);
    free(u->c);
    st_buf_free(&u->in);
    if (u->trailers != NULL) {
        hmsg_free(u->trailers);
        free(u->trailers);
    }
    free(u);
}

static void
h1up_idle_timeout(struct st_ev *loop, struct st_ev_timer *t)
{
    struct h1up *u = t->data;

    ST_UNUSED(loop);
    if (u->state == H1UP_CONNECTING && u->x != NULL)
        xchg_abort(u->x, 504, "timed out connecting to the app");
    if (u->state != H1UP_ACTIVE)
        h1up_free(u);
}

static void
h1up_conn_cb(struct conn *c, unsigned events)
{
    struct h1up *u = c->owner;

    if (u->state == H1UP_IDLE) {
        /* The app closed (or spoke) while idle: the connection is no longer usable. */
        char b;
        ssize_t r = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (r == 0 || r > 0 || (r < 0 && errno != EAGAIN))
            h1up_free(u);
        return;
    }
    if (u->state == H1UP_CONNECTING) {
        int rc = st_sock_connect_result(c->fd);
        if (rc < 0) {
            char reason[128];
            snprintf(reason, sizeof(reason), "cannot connect to the app: %s", st_strerror(rc));
            xchg_abort(u->x, 502, reason);
            h1up_free(u);
            return;
        }
        if (!(events & ST_EV_WRITE))
            return;
        u->state = H1UP_ACTIVE;
        st_ev_timer_stop(u->th->loop, &c->timer);
    }
    h1up_run(u);
}

static void
h1up_reset(struct h1up *u, struct xchg *x)
{
    u->x = x;
    u->head_sent = u->req_done = false;
    u->resp_head = u->resp_done = u->got_bytes = false;
    u->keep_alive = false;
    st_buf_reset(&u->in);
    st_http1_chunked_init(&u->ch);
}

void
h1up_attach(struct xchg *x, const struct st_sockaddr *addr)
{
    struct proxy_thread *th = x->th;
    struct h1up *u = NULL;
    struct st_err err = {0};

    for (struct list *l = th->app_idle.next, *next; l != &th->app_idle; l = next) {
        struct h1up *q = ST_CONTAINER_OF(l, struct h1up, link);
        next = l->next;
        if (!st_sock_addr_equal(&q->addr, addr))
            continue;
        /*
         * The app's close (or stray bytes) reaches an idle connection as an
         * event, and h1up_conn_cb frees it; one with the answer's last bytes
         * kept it out of the pool. What can still be missed is a close that
         * arrived since this loop turn polled. An app closes an idle
         * connection on its idle timeout (seconds), so only a connection idle
         * that long is worth a system call per request to look again.
         */
        if (st_ev_now_ms(th->loop) - q->idle_since_ms >= H1UP_PEEK_AFTER_MS) {
            char b;
            ssize_t r = recv(q->c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
            if (r >= 0 || errno != EAGAIN) {
                h1up_free(q); /* closed or talking out of turn */
                continue;
            }
        }
        u = q;
        list_del(&u->link);
        st_ev_timer_stop(th->loop, &u->c->timer);
        u->state = H1UP_ACTIVE;
        break;
    }
    if (u == NULL) {
        int fd = st_sock_connect(addr, NULL, &err);
        if (fd < 0) {
            char reason[300];
            snprintf(reason, sizeof(reason), "cannot connect to the app: %s", err.msg);
            xchg_abort(x, 502, reason);
            return;
        }
        st_sock_set_nodelay(fd, true);
        u = st_xcalloc(1, sizeof(*u));
        u->th = th;
        u->addr = *addr;
        list_init(&u->link);
        u->c = st_xmalloc(sizeof(*u->c));
        conn_init(u->c, th, fd, NULL, false, h1up_conn_cb, u);
        u->c->tcp = stats_tcp(th->stats, "direction=\"inbound\",peer=\"dst\",tls=\"false\"");
        stats_tcp_open(u->c->tcp);
        st_buf_init(&u->in, H1UP_IN_MAX);
        u->state = H1UP_CONNECTING;
        st_ev_timer_init(&u->c->timer, h1up_idle_timeout, u);
        st_ev_timer_start(th->loop, &u->c->timer, th->px->cfg.connect_timeout_ms);
    }
    h1up_reset(u, x);
    xchg_attach_up(x, u, &h1up_ops);
    if (u->state == H1UP_ACTIVE)
        h1up_run(u);
}

void
h1up_close_idle(struct proxy_thread *th)
{
    while (!list_empty(&th->app_idle))
        h1up_free(ST_CONTAINER_OF(th->app_idle.next, struct h1up, link));
}

static int
h1up_write_head(struct h1up *u)
{
    struct xchg *x = u->x;
    struct st_http_header hdrs[PROXY_MAX_FIELDS + 3];
    size_t n = 0;

    u->method = st_http_method_from(st_str_c(x->req.method));
    if (x->req.content_length >= 0)
        u->req_framing = H1UP_LENGTH;
    else if (x->reqbody.eof && x->reqbody.buf.len == 0 && x->reqbody.trailers == NULL)
        u->req_framing = H1UP_NONE;
    else
        u->req_framing = H1UP_CHUNKED;
    hdrs[n++] = (struct st_http_header){ST_STR("host"),
                                        st_str_c(x->req.authority != NULL ? x->req.authority : "")};
    for (size_t i = 0; i < x->req.n && n < PROXY_MAX_FIELDS; i++) {
        const char *nm = x->req.f[i].name;
        if (hmsg_hop_by_hop(nm) || nm[0] == ':')
            continue;
        if (strcmp(nm, "content-length") == 0 && u->req_framing != H1UP_LENGTH)
            continue;
        hdrs[n++] = (struct st_http_header){st_str_c(nm), st_str_c(x->req.f[i].value)};
    }
    if (u->req_framing == H1UP_CHUNKED)
        hdrs[n++] = (struct st_http_header){ST_STR("transfer-encoding"), ST_STR("chunked")};
    return st_http1_write_request_head(&u->c->out, st_str_c(x->req.method), st_str_c(x->req.path),
                                       1, hdrs, n);
}

static int
h1up_pump_request(struct h1up *u)
{
    struct xchg *x = u->x;
    char buf[PROXY_IO_CHUNK];
    int rc = 0;

    if (!u->head_sent) {
        if ((rc = h1up_write_head(u)) < 0)
            return rc;
        u->head_sent = true;
    }
    while (!u->req_done && u->c->out.len < PROXY_OUT_HIGH && x->reqbody.buf.len > 0) {
        size_t n = pipe_take(&x->reqbody, buf, sizeof(buf));
        if (u->req_framing == H1UP_CHUNKED)
            rc = st_http1_append_chunk(&u->c->out, buf, n);
        else if (u->req_framing == H1UP_LENGTH)
            rc = conn_queue(u->c, buf, n);
        if (rc < 0)
            return rc;
    }
    if (x->reqbody.unacked > 0)
        xchg_wake_down(x);
    if (!u->req_done && x->reqbody.eof && x->reqbody.buf.len == 0) {
        u->req_done = true;
        if (u->req_framing == H1UP_CHUNKED) {
            struct hmsg *t = x->reqbody.trailers;
            rc = conn_queue(u->c, "0\r\n", 3);
            for (size_t i = 0; t != NULL && i < t->n && rc == 0; i++)
                if (!hmsg_hop_by_hop(t->f[i].name) && strpbrk(t->f[i].value, "\r\n") == NULL)
                    rc = st_buf_appendf(&u->c->out, "%s: %s\r\n", t->f[i].name, t->f[i].value);
            if (rc == 0)
                rc = conn_queue(u->c, "\r\n", 2);
        }
    }
    return rc;
}

static int
h1up_trailer(void *arg, struct st_str name, struct st_str value)
{
    struct h1up *u = arg;

    if (u->trailers == NULL) {
        u->trailers = st_xmalloc(sizeof(*u->trailers));
        hmsg_init(u->trailers);
    }
    return hmsg_add(u->trailers, name.p, name.n, value.p, value.n);
}

/* Parses response heads; returns 1 when the final head is in, 0 for more, < 0 on error. */
static int
h1up_parse_head(struct h1up *u)
{
    struct xchg *x = u->x;

    for (;;) {
        struct st_http1_response resp;
        struct st_http_header hdrs[PROXY_MAX_FIELDS];
        int rc =
            st_http1_parse_response(u->in.data, u->in.len, NULL, &resp, hdrs, ST_ARRAY_LEN(hdrs));
        if (rc <= 0)
            return rc;
        if (resp.status >= 100 && resp.status < 200 && resp.status != 101) {
            x->continue_seen = resp.status == 100;
            st_buf_consume(&u->in, (size_t)rc);
            continue;
        }
        if (resp.status == 101)
            return ST_EPROTO; /* upgrades travel as opaque streams, never here */
        hmsg_free(&x->resp);
        x->resp.status = resp.status;
        struct st_str listed[HMSG_CONN_TOKENS];
        size_t n_listed =
            hmsg_connection_tokens(resp.headers, resp.num_headers, listed, HMSG_CONN_TOKENS);
        for (size_t i = 0; i < resp.num_headers; i++) {
            struct st_str nm = resp.headers[i].name;
            bool skip = hmsg_hop_by_hop_n(nm.p, nm.n) ||
                        hmsg_listed(listed, n_listed, resp.headers, resp.num_headers, nm);
            int r2 = skip ? 0
                          : hmsg_add(&x->resp, nm.p, nm.n, resp.headers[i].value.p,
                                     resp.headers[i].value.n);
            if (r2 < 0)
                return r2;
        }
        x->resp.content_length = resp.content_length;
        u->resp_framing = st_http1_response_body(&resp, u->method);
        u->resp_left = resp.content_length > 0 ? (uint64_t)resp.content_length : 0;
        u->keep_alive = resp.keep_alive && u->resp_framing != ST_HTTP1_BODY_CLOSE;
        st_http1_chunked_init(&u->ch);
        u->ch.on_trailer = h1up_trailer;
        u->ch.arg = u;
        st_buf_consume(&u->in, (size_t)rc);
        x->resp_ready = true;
        return 1;
    }
}

/* Reads response bytes into u->in: > 0, 0 at the end, -EAGAIN or an error. */
static ssize_t
h1up_fill(struct h1up *u)
{
    ssize_t r;

    if (u->in.len >= H1UP_IN_MAX)
        return -ENOBUFS;
    if (u->in.len == 0) {
        /* Nothing buffered: read on the stack and keep only what came (see h1down_fill). */
        char tmp[PROXY_IO_CHUNK];
        r = conn_read(u->c, tmp, sizeof(tmp));
        if (r > 0 && st_buf_append(&u->in, tmp, (size_t)r) < 0)
            return -ENOBUFS;
    } else {
        if (st_buf_reserve(&u->in, PROXY_IO_CHUNK) < 0)
            return -ENOBUFS;
        r = conn_read(u->c, u->in.data + u->in.len,
                      ST_MIN(u->in.cap - u->in.len, H1UP_IN_MAX - u->in.len));
        if (r > 0) {
            u->in.len += (size_t)r;
            u->in.data[u->in.len] = '\0';
        }
    }
    if (r > 0)
        u->got_bytes = true;
    return r;
}

static int
h1up_pump_response(struct h1up *u)
{
    struct xchg *x = u->x;
    bool woke = false;

    while (!u->resp_done && !pipe_full(&x->respbody)) {
        if (!u->resp_head) {
            int rc = u->in.len > 0 ? h1up_parse_head(u) : 0;
            if (rc < 0)
                return rc;
            if (rc == 1) {
                u->resp_head = true;
                woke = true;
                if (u->resp_framing == ST_HTTP1_BODY_NONE ||
                    (u->resp_framing == ST_HTTP1_BODY_LENGTH && u->resp_left == 0))
                    u->resp_done = true;
                continue;
            }
        } else if (u->in.len > 0) {
            if (u->resp_framing == ST_HTTP1_BODY_CHUNKED) {
                size_t used = 0;
                struct st_str data;
                int rc = st_http1_chunked_decode(&u->ch, u->in.data, u->in.len, &used, &data);
                if (rc < 0)
                    return rc;
                if (data.n > 0 && pipe_push(&x->respbody, data.p, data.n) < 0)
                    return ST_ETOOBIG;
                st_buf_consume(&u->in, used);
                if (rc == 1) {
                    u->resp_done = true;
                    x->respbody.trailers = u->trailers;
                    u->trailers = NULL;
                }
            } else {
                size_t n = u->in.len;
                if (u->resp_framing == ST_HTTP1_BODY_LENGTH)
                    n = (size_t)ST_MIN((uint64_t)n, u->resp_left);
                if (pipe_push(&x->respbody, u->in.data, n) < 0)
                    return ST_ETOOBIG;
                st_buf_consume(&u->in, n);
                if (u->resp_framing == ST_HTTP1_BODY_LENGTH) {
                    u->resp_left -= n;
                    u->resp_done = u->resp_left == 0;
                }
            }
            woke = true;
            continue;
        }
        ssize_t r = h1up_fill(u);
        if (r == -EAGAIN)
            break;
        if (r == -ENOBUFS)
            return ST_HTTP1_EHEAD_TOO_BIG;
        if (r == 0 && u->resp_head && u->resp_framing == ST_HTTP1_BODY_CLOSE) {
            u->resp_done = true;
            break;
        }
        if (r <= 0)
            return r == 0 ? -ECONNRESET : (int)r;
    }
    if (u->resp_done && !x->respbody.eof) {
        x->respbody.eof = true;
        woke = true;
    }
    if (woke)
        xchg_wake_down(x);
    return 0;
}

static void
h1up_run(struct h1up *u)
{
    struct xchg *x = u->x;
    int rc;

    if (x == NULL || u->state != H1UP_ACTIVE)
        return;
    if (x->aborted) {
        h1up_free(u);
        return;
    }
    /* Refill the output as long as the socket takes it all: no edge comes otherwise. */
    do {
        rc = h1up_pump_request(u);
        if (rc == 0)
            rc = conn_flush(u->c);
    } while (rc == 0 && !u->req_done && x->reqbody.buf.len > 0);
    if (rc < 0 && rc != -EAGAIN) {
        /* The app may have answered early and closed; read what it said first. */
        if (!u->got_bytes) {
            xchg_abort(x, 502, "cannot write the request to the app");
            h1up_free(u);
            return;
        }
    }
    rc = h1up_pump_response(u);
    if (rc < 0) {
        xchg_abort(x, 502,
                   u->resp_head ? "the app broke off the response"
                                : "the app closed the connection without an answer");
        h1up_free(u);
        return;
    }
    if (u->resp_done && u->req_done && x->respbody.eof) {
        /* Not after a hang-up event: the app closed (or failed) along with its answer. */
        bool reuse = u->keep_alive && u->in.len == 0 && u->c->out.len == 0 && !u->c->rd_hup &&
                     !u->th->draining;
        u->x = NULL;
        xchg_detach_up(x);
        if (!reuse) {
            h1up_free(u);
            return;
        }
        u->state = H1UP_IDLE;
        u->idle_since_ms = st_ev_now_ms(u->th->loop);
        if (u->in.cap > H1UP_IDLE_BUF)
            st_buf_free(&u->in); /* a large answer went by: do not keep its room */
        list_add(&u->th->app_idle, &u->link);
        st_ev_timer_start(u->th->loop, &u->c->timer, u->th->px->cfg.idle_timeout_ms);
    } else if (u->resp_done && x->respbody.eof && !u->req_done) {
        /* The app answered without reading the whole body: the connection cannot be reused. */
        u->keep_alive = false;
    }
}
