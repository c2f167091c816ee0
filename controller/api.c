/*
 * The controller's HTTPS API: one st_httpd on --listen whose TLS slot holds
 * the serving certificate the identity service issues, and a small exact-match
 * router that the services fill (POST /v1/certify, later GET /v1/resolve).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "controller.h"
#include "strait/certify.h"

#define API_MAX_ROUTES 32
#define API_MAX_BODY (64u * 1024) /* above every route's own cap, which answers in JSON */

struct api_route_entry {
    const char *method;
    const char *path;
    api_handler *fn;
    void *arg;
};

struct api {
    struct controller *ctl;
    struct st_httpd *httpd;
    struct st_tls_slot tls;
    struct api_route_entry routes[API_MAX_ROUTES];
    size_t n_routes;
};

void
api_error(struct st_httpd_req *req, int status, unsigned retry_after_s, const char *fmt, ...)
{
    struct st_buf body = ST_BUF_INIT(0);
    char msg[512], retry[16];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (st_certify_error_encode(status, msg, &body) < 0)
        st_buf_reset(&body);
    snprintf(retry, sizeof(retry), "%u", retry_after_s);
    struct st_http_header hdrs[3] = {
        {ST_STR("Content-Type"), ST_STR("application/json")},
        {ST_STR("Cache-Control"), ST_STR("no-store")},
        {ST_STR("Retry-After"), st_str_c(retry)},
    };
    st_httpd_respond(req, status, hdrs, retry_after_s > 0 ? 3 : 2, body.data ? body.data : "",
                     body.len);
    st_buf_free(&body);
}

static void
api_handle(void *arg, struct st_httpd_req *req)
{
    struct api *a = arg;
    const struct st_http1_request *h = st_httpd_req_head(req);
    bool path_known = false;

    for (size_t i = 0; i < a->n_routes; i++) {
        const struct api_route_entry *r = &a->routes[i];
        if (!st_str_eq_c(h->path, r->path))
            continue;
        path_known = true;
        if (st_str_eq_c(h->method, r->method)) {
            r->fn(r->arg, req);
            return;
        }
    }
    if (path_known)
        api_error(req, 405, 0, "method " ST_STR_FMT " not allowed on " ST_STR_FMT,
                  ST_STR_ARG(h->method), ST_STR_ARG(h->path));
    else
        api_error(req, 404, 0, "no such path");
}

struct api *
api_new(struct controller *c, const char *listen, struct st_err *err)
{
    struct api *a = st_xcalloc(1, sizeof(*a));

    a->ctl = c;
    st_tls_slot_init(&a->tls);
    struct st_httpd_options ho = {
        .listen = listen,
        .tls = &a->tls,
        .max_body = API_MAX_BODY,
        .max_conns = 4096,
        .header_timeout_ms = 10000,
        .body_timeout_ms = 10000,
        .idle_timeout_ms = 90000,
    };
    a->httpd = st_httpd_new(c->loop, &ho, api_handle, a, err);
    if (a->httpd == NULL) {
        st_tls_slot_fini(&a->tls);
        free(a);
        return NULL;
    }
    return a;
}

void
api_route(struct api *a, const char *method, const char *path, api_handler *fn, void *arg)
{
    if (a->n_routes == API_MAX_ROUTES)
        abort(); /* a programming error: raise API_MAX_ROUTES */
    a->routes[a->n_routes++] = (struct api_route_entry){method, path, fn, arg};
}

struct st_tls_slot *
api_tls(struct api *a)
{
    return &a->tls;
}

const struct st_sockaddr *
api_addr(const struct api *a)
{
    return st_httpd_addr(a->httpd);
}

size_t
api_conn_count(const struct api *a)
{
    return st_httpd_conn_count(a->httpd);
}

void
api_shutdown(struct api *a)
{
    st_httpd_shutdown(a->httpd);
}

void
api_free(struct api *a)
{
    if (a == NULL)
        return;
    st_httpd_free(a->httpd);
    a->httpd = NULL;
    st_tls_slot_fini(&a->tls);
    free(a);
}
