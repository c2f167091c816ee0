/*
 * The controller's admin port: /live (the loop answers), /ready (every
 * service's readiness check passes) and /metrics (Prometheus text of the
 * controller's registry). Plain HTTP, meant for 127.0.0.1 or a probe.
 */
#include <stdlib.h>

#include "controller.h"

#define ADMIN_MAX_CHECKS 16

struct admin_check_entry {
    const char *name;
    bool (*ready)(void *arg);
    void *arg;
};

struct admin {
    struct controller *ctl;
    struct st_httpd *httpd;
    struct admin_check_entry checks[ADMIN_MAX_CHECKS];
    size_t n_checks;
};

static void
admin_handle(void *arg, struct st_httpd_req *req)
{
    struct admin *a = arg;
    const struct st_http1_request *h = st_httpd_req_head(req);
    struct st_buf out = ST_BUF_INIT(0);
    int status = 200;
    const char *ctype = "text/plain; charset=utf-8";

    if (!st_str_eq_c(h->method, "GET") && !st_str_eq_c(h->method, "HEAD")) {
        st_httpd_respond_simple(req, 405, ctype, "method not allowed\n", 19);
        return;
    }
    if (st_str_eq_c(h->path, "/live")) {
        (void)!st_buf_append_str(&out, "live\n");
    } else if (st_str_eq_c(h->path, "/ready")) {
        for (size_t i = 0; i < a->n_checks; i++) {
            if (!a->checks[i].ready(a->checks[i].arg)) {
                status = 503;
                (void)!st_buf_appendf(&out, "not ready: %s\n", a->checks[i].name);
            }
        }
        if (status == 200)
            (void)!st_buf_append_str(&out, a->ctl->stopping ? "stopping\n" : "ready\n");
        if (a->ctl->stopping)
            status = 503;
    } else if (st_str_eq_c(h->path, "/metrics")) {
        ctype = ST_METRICS_CONTENT_TYPE;
        if (st_metrics_render(a->ctl->metrics, &out) < 0) {
            status = 500;
            st_buf_reset(&out);
        }
    } else {
        status = 404;
        (void)!st_buf_append_str(&out, "not found\n");
    }
    st_httpd_respond_simple(req, status, ctype, out.data ? out.data : "", out.len);
    st_buf_free(&out);
}

struct admin *
admin_new(struct controller *c, const char *listen, struct st_err *err)
{
    struct admin *a = st_xcalloc(1, sizeof(*a));

    a->ctl = c;
    struct st_httpd_options ho = {.listen = listen, .max_body = 4096, .max_conns = 64};
    a->httpd = st_httpd_new(c->loop, &ho, admin_handle, a, err);
    if (a->httpd == NULL) {
        free(a);
        return NULL;
    }
    return a;
}

void
admin_check(struct admin *a, const char *name, bool (*ready)(void *arg), void *arg)
{
    if (a->n_checks == ADMIN_MAX_CHECKS)
        abort(); /* a programming error: raise ADMIN_MAX_CHECKS */
    a->checks[a->n_checks++] = (struct admin_check_entry){name, ready, arg};
}

const struct st_sockaddr *
admin_addr(const struct admin *a)
{
    return st_httpd_addr(a->httpd);
}

size_t
admin_conn_count(const struct admin *a)
{
    return st_httpd_conn_count(a->httpd);
}

void
admin_shutdown(struct admin *a)
{
    st_httpd_shutdown(a->httpd);
}

void
admin_free(struct admin *a)
{
    if (a == NULL)
        return;
    st_httpd_free(a->httpd);
    a->httpd = NULL;
    free(a);
}
