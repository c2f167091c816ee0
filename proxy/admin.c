/*
 * The admin port on st_httpd: /ready (200 only with a valid certificate and
 * routes, and not draining), /live, /metrics (Prometheus text of every
 * thread's counters) and /metrics/window?ms=N (what happened in the last N
 * ms, from a history of the totals; docs/metrics.md). Runs on the first loop
 * thread, which also ticks the history.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "strait/httpd.h"
#include "strait/metrics.h"

#include "identity.h"
#include "proxy.h"

#define ADMIN_BODY_MAX (64u << 20)      /* one scrape */
#define ADMIN_HISTORY_PERIOD_MS 10000   /* windows are exact to this */
#define ADMIN_HISTORY_PERIODS 6         /* so windows up to a minute are exact */
#define ADMIN_WINDOW_MAX_MS 86400000ull /* a longer ask is refused */
#define ADMIN_WINDOW_HEADER "strait-window-ms"

struct admin {
    struct proxy *px;
    struct proxy_thread *th;
    struct st_httpd *httpd;
    struct st_metrics_history *history;
    struct st_ev_timer tick;
};

static struct admin admin_state;

static bool
admin_routes_ready(struct proxy *px)
{
    for (int i = 0; i < px->n_threads; i++)
        if (discovery_table(px->threads[i]->disc) == NULL)
            return false;
    return px->n_threads > 0;
}

static void
admin_text(struct st_httpd_req *req, int status, const char *text)
{
    st_httpd_respond_simple(req, status, "text/plain", text, strlen(text));
}

static void
admin_ready(struct admin *ad, struct st_httpd_req *req)
{
    bool cert = identity_ready(ad->px->id), routes = admin_routes_ready(ad->px);
    bool draining = atomic_load(&ad->px->draining);
    char body[128];

    if (cert && routes && !draining) {
        admin_text(req, 200, "ready\n");
        return;
    }
    snprintf(body, sizeof(body), "not ready:%s%s%s\n", cert ? "" : " no valid certificate",
             routes ? "" : " no routes", draining ? " draining" : "");
    admin_text(req, 503, body);
}

static void
admin_metrics(struct admin *ad, struct st_httpd_req *req)
{
    struct st_buf body = ST_BUF_INIT(ADMIN_BODY_MAX);

    if (stats_render(ad->px->stats, &body) < 0)
        admin_text(req, 500, "metrics too large\n");
    else
        st_httpd_respond_simple(req, 200, ST_METRICS_CONTENT_TYPE, body.data, body.len);
    st_buf_free(&body);
}

/* Reads ms=N from the query into *ms; 0 or ST_EINVAL. */
static int
admin_window_ms(struct st_str query, uint64_t *ms)
{
    char key[16], val[32];
    bool found = false;
    int rc;

    while ((rc = st_http_query_next(&query, key, sizeof(key), val, sizeof(val))) > 0) {
        if (strcmp(key, "ms") != 0)
            continue;
        if (st_parse_u64(st_str_c(val), ADMIN_WINDOW_MAX_MS, ms) < 0 || *ms == 0)
            return ST_EINVAL;
        found = true;
    }
    return rc == 0 && found ? 0 : ST_EINVAL;
}

static void
admin_window(struct admin *ad, struct st_httpd_req *req)
{
    const struct st_http1_request *head = st_httpd_req_head(req);
    struct st_buf body = ST_BUF_INIT(ADMIN_BODY_MAX);
    uint64_t ms = 0;

    if (admin_window_ms(head->query, &ms) < 0) {
        admin_text(req, 400, "want ?ms=N with 1 <= N <= 86400000\n");
        st_buf_free(&body);
        return;
    }
    uint64_t now = st_now_ms();
    st_metrics_history_tick(ad->history, now);
    struct st_metrics_snapshot *w = st_metrics_history_window(ad->history, now, ms);
    if (st_metrics_snapshot_render(w, &body) < 0) {
        admin_text(req, 500, "metrics too large\n");
    } else {
        char real[24];
        snprintf(real, sizeof(real), "%llu", (unsigned long long)w->time_ms);
        struct st_http_header hdrs[2] = {
            {ST_STR("Content-Type"), ST_STR(ST_METRICS_CONTENT_TYPE)},
            {ST_STR(ADMIN_WINDOW_HEADER), st_str_c(real)},
        };
        st_httpd_respond(req, 200, hdrs, 2, body.data, body.len);
    }
    st_metrics_snapshot_free(w);
    st_buf_free(&body);
}

static void
admin_handle(void *arg, struct st_httpd_req *req)
{
    struct admin *ad = arg;
    const struct st_http1_request *head = st_httpd_req_head(req);

    if (head->method_id != ST_HTTP_GET && head->method_id != ST_HTTP_HEAD)
        admin_text(req, 405, "method not allowed\n");
    else if (st_str_eq_c(head->path, "/live"))
        admin_text(req, 200, "live\n");
    else if (st_str_eq_c(head->path, "/ready"))
        admin_ready(ad, req);
    else if (st_str_eq_c(head->path, "/metrics"))
        admin_metrics(ad, req);
    else if (st_str_eq_c(head->path, "/metrics/window"))
        admin_window(ad, req);
    else
        admin_text(req, 404, "not found\n");
}

static void
admin_tick(struct st_ev *loop, struct st_ev_timer *t)
{
    struct admin *ad = t->data;

    st_metrics_history_tick(ad->history, st_now_ms());
    st_ev_timer_start(loop, t, ADMIN_HISTORY_PERIOD_MS);
}

int
admin_start(struct proxy *px, struct proxy_thread *th, struct st_err *err)
{
    struct admin *ad = &admin_state;
    char listen[ST_SOCK_ADDR_STRLEN];

    st_sock_format_addr(&px->cfg.admin, listen, sizeof(listen));
    struct st_httpd_options opt = {
        .listen = listen,
        .max_conns = 64,
        .max_body = 4096, /* the admin takes no bodies */
        .max_output = ADMIN_BODY_MAX + 4096,
        .header_timeout_ms = 10000,
        .body_timeout_ms = 10000,
        .idle_timeout_ms = 30000,
        .write_timeout_ms = 10000,
    };
    ad->httpd = st_httpd_new(th->loop, &opt, admin_handle, ad, err);
    if (ad->httpd == NULL)
        return err != NULL && err->code < 0 ? err->code : ST_EINVAL;
    ad->px = px;
    ad->th = th;
    px->cfg.admin = *st_httpd_addr(ad->httpd);
    ad->history = st_metrics_history_new(stats_metrics(px->stats), ADMIN_HISTORY_PERIOD_MS,
                                         ADMIN_HISTORY_PERIODS, st_now_ms());
    st_ev_timer_init(&ad->tick, admin_tick, ad);
    st_ev_timer_start(th->loop, &ad->tick, ADMIN_HISTORY_PERIOD_MS);
    return 0;
}

void
admin_stop(void)
{
    struct admin *ad = &admin_state;

    if (ad->th != NULL)
        st_ev_timer_stop(ad->th->loop, &ad->tick);
    st_httpd_free(ad->httpd);
    ad->httpd = NULL;
    st_metrics_history_free(ad->history);
    ad->history = NULL;
    ad->th = NULL;
}
