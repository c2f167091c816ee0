/*
 * The admin port: /ready (200 only with a valid certificate and routes),
 * /live, and /metrics (Prometheus text). One request per connection; the
 * answer closes it. Runs on the first loop thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "identity.h"
#include "proxy.h"

#define ADMIN_HEAD_MAX 8192

struct admin_conn {
    struct conn c;
    struct st_buf in;
    bool answered;
};

struct admin {
    struct proxy *px;
    struct proxy_thread *th;
    int fd;
    struct st_ev_io io;
};

static struct admin admin_state;

static void
admin_conn_free(struct admin_conn *a)
{
    conn_close(&a->c);
    st_buf_free(&a->in);
    free(a);
}

static bool
admin_routes_ready(struct proxy *px)
{
    for (int i = 0; i < px->n_threads; i++)
        if (discovery_table(px->threads[i]->disc) == NULL)
            return false;
    return px->n_threads > 0;
}

static void
admin_answer(struct admin_conn *a, const struct st_http1_request *req)
{
    struct proxy *px = admin_state.px;
    struct st_buf body = ST_BUF_INIT(64u << 20);
    const char *ctype = "text/plain";
    int status = 200, rc = 0;

    if (req->method_id != ST_HTTP_GET && req->method_id != ST_HTTP_HEAD) {
        status = 405;
        rc = st_buf_append_str(&body, "method not allowed\n");
    } else if (st_str_eq_c(req->path, "/live")) {
        rc = st_buf_append_str(&body, "live\n");
    } else if (st_str_eq_c(req->path, "/ready")) {
        bool cert = identity_ready(px->id), routes = admin_routes_ready(px);
        bool draining = atomic_load(&px->draining);
        if (cert && routes && !draining) {
            rc = st_buf_append_str(&body, "ready\n");
        } else {
            status = 503;
            rc = st_buf_appendf(&body, "not ready:%s%s%s\n", cert ? "" : " no valid certificate",
                                routes ? "" : " no routes", draining ? " draining" : "");
        }
    } else if (st_str_eq_c(req->path, "/metrics")) {
        ctype = "text/plain; version=0.0.4";
        rc = stats_render(px->stats, &body);
    } else {
        status = 404;
        rc = st_buf_append_str(&body, "not found\n");
    }
    if (rc < 0) {
        status = 500;
        st_buf_reset(&body);
    }
    struct st_buf head = ST_BUF_INIT(0);
    if (st_buf_appendf(&head,
                       "HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %zu\r\n"
                       "connection: close\r\n\r\n",
                       status, st_http_status_reason(status), ctype, body.len) == 0 &&
        conn_queue(&a->c, head.data, head.len) == 0 && req->method_id != ST_HTTP_HEAD &&
        body.len > 0) {
        /* Large scrapes go past the usual output cap. */
        a->c.out.max = 0;
        (void)conn_queue(&a->c, body.data, body.len);
    }
    st_buf_free(&head);
    st_buf_free(&body);
    a->answered = true;
    conn_shutdown_write(&a->c);
}

static void
admin_conn_cb(struct conn *c, unsigned events)
{
    struct admin_conn *a = c->owner;
    char buf[2048];

    ST_UNUSED(events);
    while (!a->answered) {
        ssize_t r = conn_read(c, buf, sizeof(buf));
        if (r == -EAGAIN)
            return;
        if (r <= 0 || st_buf_append(&a->in, buf, (size_t)r) < 0) {
            admin_conn_free(a);
            return;
        }
        struct st_http1_request req;
        struct st_http_header hdrs[64];
        int rc =
            st_http1_parse_request(a->in.data, a->in.len, NULL, &req, hdrs, ST_ARRAY_LEN(hdrs));
        if (rc < 0) {
            admin_conn_free(a);
            return;
        }
        if (rc > 0)
            admin_answer(a, &req);
    }
    int rc = conn_flush(c);
    if (rc != -EAGAIN)
        admin_conn_free(a);
}

static void
admin_timeout(struct st_ev *loop, struct st_ev_timer *t)
{
    ST_UNUSED(loop);
    admin_conn_free(t->data);
}

static void
admin_accept_cb(struct st_ev *loop, struct st_ev_io *io, unsigned events)
{
    struct admin *ad = io->data;

    ST_UNUSED(loop);
    ST_UNUSED(events);
    for (;;) {
        int fd = st_sock_accept(ad->fd, NULL);
        if (fd == -EAGAIN)
            return;
        if (fd < 0)
            return;
        struct admin_conn *a = st_xcalloc(1, sizeof(*a));
        st_buf_init(&a->in, ADMIN_HEAD_MAX);
        conn_init(&a->c, ad->th, fd, NULL, false, admin_conn_cb, a);
        st_ev_timer_init(&a->c.timer, admin_timeout, a);
        st_ev_timer_start(ad->th->loop, &a->c.timer, 10000);
    }
}

int
admin_start(struct proxy *px, struct proxy_thread *th, struct st_err *err)
{
    struct admin *ad = &admin_state;
    int fd = st_sock_listen(&px->cfg.admin, 128, false, err);

    if (fd < 0)
        return fd;
    ad->px = px;
    ad->th = th;
    ad->fd = fd;
    st_sock_local_addr(fd, &px->cfg.admin);
    st_ev_io_init(&ad->io, fd, admin_accept_cb, ad);
    return st_ev_io_start(th->loop, &ad->io, ST_EV_READ);
}
