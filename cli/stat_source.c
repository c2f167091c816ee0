/*
 * `strait stat`: where the numbers come from. Either the proxies' admin
 * servers (a window from their history endpoint, or two scrapes of /metrics
 * subtracted) or a Prometheus server's query API. Plain HTTP with libcurl,
 * every request bounded in time and size.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#include "stat_int.h"

/* A proxy's full /metrics page; the parser caps it at the same size. */
#define STAT_SCRAPE_MAX ((size_t)16 << 20)
#define STAT_PROM_BODY_MAX ((size_t)16 << 20)
#define STAT_WINDOW_HEADER "strait-window-ms:"

void
stat_proxy_free(struct stat_proxy *p)
{
    free(p->ns);
    free(p->name);
    free(p->admin);
    st_metrics_snapshot_free(p->window);
    p->ns = p->name = p->admin = NULL;
    p->window = NULL;
}

struct stat_http {
    struct st_buf *body;
    bool too_big;
    uint64_t window_ms;
};

static size_t
stat_http_write(char *p, size_t size, size_t nmemb, void *data)
{
    struct stat_http *h = data;
    size_t n = size * nmemb;

    if (st_buf_append(h->body, p, n) < 0) {
        h->too_big = true;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    return n;
}

static size_t
stat_http_header(char *p, size_t size, size_t nmemb, void *data)
{
    struct stat_http *h = data;
    size_t n = size * nmemb;
    size_t hn = strlen(STAT_WINDOW_HEADER);

    if (n > hn && n < 64 && strncasecmp(p, STAT_WINDOW_HEADER, hn) == 0) {
        char tmp[64];
        memcpy(tmp, p + hn, n - hn);
        tmp[n - hn] = '\0';
        struct st_str v = st_str_trim(st_str_c(tmp));
        while (v.n > 0 && (v.p[v.n - 1] == '\r' || v.p[v.n - 1] == '\n'))
            v.n--;
        uint64_t ms;
        if (st_parse_u64(v, UINT64_C(1) << 40, &ms) == 0)
            h->window_ms = ms;
    }
    return n;
}

int
stat_http_get(const char *url, uint64_t timeout_ms, size_t max, struct st_buf *body,
              long *status, uint64_t *window_ms, struct st_err *err)
{
    struct stat_http h = {body, false, 0};
    CURL *c = curl_easy_init();
    int rc = 0;

    if (c == NULL)
        st_oom();
    st_buf_reset(body);
    body->max = max;
    *status = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)ST_MIN(timeout_ms, 10000));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    /* Loopback never goes through an http_proxy (a meshed shell has one set). */
    curl_easy_setopt(c, CURLOPT_NOPROXY, "localhost,127.0.0.0/8,::1");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, stat_http_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &h);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, stat_http_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "strait-stat");
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        if (h.too_big)
            rc = st_err_set(err, ST_ETOOBIG, "answer larger than %zu bytes", max);
        else if (cc == CURLE_OPERATION_TIMEDOUT)
            rc = st_err_set(err, ST_ETIMEOUT, "no answer within %llu ms",
                            (unsigned long long)timeout_ms);
        else if (cc == CURLE_COULDNT_CONNECT)
            rc = st_err_set(err, -ECONNREFUSED, "%s", curl_easy_strerror(cc));
        else
            rc = st_err_set(err, -EIO, "%s", curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    if (window_ms != NULL)
        *window_ms = h.window_ms;

out:
    curl_easy_cleanup(c);
    return rc;
}

/* Parses a scrape of <p> into a new snapshot stamped <time_ms>; warns and returns NULL on error. */
static struct st_metrics_snapshot *
stat_parse_scrape(const struct stat_proxy *p, const struct st_buf *body, uint64_t time_ms)
{
    struct st_metrics_snapshot *s = NULL;
    struct st_err err = {0};

    if (st_metrics_parse_text(body->data ? body->data : "", body->len, NULL, &s, &err) < 0) {
        fprintf(stderr, "warning: proxy %s/%s at %s: bad metrics: %s; skipped\n", p->ns,
                p->name, p->admin, err.msg);
        return NULL;
    }
    s->time_ms = time_ms;
    return s;
}

/*
 * Asks <p> for its window at once. Returns 1 when p->window is set, 0 when the
 * proxy has no history endpoint (then *first holds a first scrape, or NULL
 * when that failed: skipped), -1 when it is unreachable (skipped).
 */
static int
stat_scrape_first(struct stat_proxy *p, uint64_t window_ms, uint64_t timeout_ms,
                  struct st_metrics_snapshot **first)
{
    struct st_buf body = ST_BUF_INIT(0);
    struct st_err err = {0};
    long status = 0;
    uint64_t got_ms = 0;
    int result = -1;

    *first = NULL;
    char *url = st_xasprintf("http://%s/metrics/window?ms=%llu", p->admin,
                             (unsigned long long)window_ms);
    if (stat_http_get(url, timeout_ms, STAT_SCRAPE_MAX, &body, &status, &got_ms, &err) < 0) {
        fprintf(stderr, "warning: proxy %s/%s at %s unreachable: %s; skipped\n", p->ns, p->name,
                p->admin, err.msg);
        goto out;
    }
    if (status == 200 && got_ms > 0) {
        p->window = stat_parse_scrape(p, &body, got_ms);
        p->window_s = (double)got_ms / 1000.0;
        result = p->window ? 1 : -1;
        goto out;
    }
    /* No history endpoint: this is the first of two scrapes. */
    free(url);
    url = st_xasprintf("http://%s/metrics", p->admin);
    if (stat_http_get(url, timeout_ms, STAT_SCRAPE_MAX, &body, &status, NULL, &err) < 0) {
        fprintf(stderr, "warning: proxy %s/%s at %s unreachable: %s; skipped\n", p->ns, p->name,
                p->admin, err.msg);
        goto out;
    }
    if (status != 200) {
        fprintf(stderr, "warning: proxy %s/%s at %s answered %ld to /metrics; skipped\n", p->ns,
                p->name, p->admin, status);
        goto out;
    }
    *first = stat_parse_scrape(p, &body, st_now_ms());
    result = *first ? 0 : -1;

out:
    free(url);
    st_buf_free(&body);
    return result;
}

/* The second scrape of <p>: sets p->window to the difference from <first>. */
static void
stat_scrape_second(struct stat_proxy *p, const struct st_metrics_snapshot *first,
                   uint64_t timeout_ms)
{
    struct st_buf body = ST_BUF_INIT(0);
    struct st_err err = {0};
    struct st_metrics_snapshot *now = NULL;
    long status = 0;
    char *url = st_xasprintf("http://%s/metrics", p->admin);

    if (stat_http_get(url, timeout_ms, STAT_SCRAPE_MAX, &body, &status, NULL, &err) < 0) {
        fprintf(stderr, "warning: proxy %s/%s at %s unreachable: %s; skipped\n", p->ns, p->name,
                p->admin, err.msg);
        goto out;
    }
    if (status != 200) {
        fprintf(stderr, "warning: proxy %s/%s at %s answered %ld to /metrics; skipped\n", p->ns,
                p->name, p->admin, status);
        goto out;
    }
    now = stat_parse_scrape(p, &body, st_now_ms());
    if (now == NULL)
        goto out;
    if (st_metrics_snapshot_sub(now, first, &p->window, &err) < 0) {
        fprintf(stderr, "warning: proxy %s/%s at %s: %s; skipped\n", p->ns, p->name, p->admin,
                err.msg);
        goto out;
    }
    p->window_s = (double)p->window->time_ms / 1000.0;

out:
    st_metrics_snapshot_free(now);
    st_buf_free(&body);
    free(url);
}

static void
stat_sleep_until(uint64_t deadline_ms)
{
    for (;;) {
        uint64_t now = st_now_ms();
        if (now >= deadline_ms)
            return;
        uint64_t left = deadline_ms - now;
        struct timespec ts = {(time_t)(left / 1000), (long)(left % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

void
stat_scrape_windows(struct stat_proxy *p, size_t n, uint64_t window_ms, uint64_t timeout_ms)
{
    struct st_metrics_snapshot **first = st_xcalloc(n ? n : 1, sizeof(*first));
    bool pending = false;
    uint64_t start = st_now_ms();

    for (size_t i = 0; i < n; i++)
        if (stat_scrape_first(&p[i], window_ms, timeout_ms, &first[i]) == 0)
            pending = true;
    if (pending) {
        /*
         * Each proxy's window is the real time between its two scrapes, so a
         * slow first round does not skew the rates.
         */
        stat_sleep_until(start + window_ms);
        for (size_t i = 0; i < n; i++)
            if (first[i] != NULL)
                stat_scrape_second(&p[i], first[i], timeout_ms);
    }
    for (size_t i = 0; i < n; i++)
        st_metrics_snapshot_free(first[i]);
    free(first);
}

int
stat_prom_query(const char *base, const char *promql, uint64_t timeout_ms,
                void (*fn)(const json_t *metric, double value, void *data), void *data,
                struct st_err *err)
{
    struct st_buf body = ST_BUF_INIT(0);
    long status = 0;
    int rc;
    CURL *esc = curl_easy_init();
    if (esc == NULL)
        st_oom();
    char *q = curl_easy_escape(esc, promql, 0);
    if (q == NULL)
        st_oom();
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    char *url = st_xasprintf("%.*s/api/v1/query?query=%s", (int)bl, base, q);
    curl_free(q);
    curl_easy_cleanup(esc);

    rc = stat_http_get(url, timeout_ms, STAT_PROM_BODY_MAX, &body, &status, NULL, err);
    if (rc < 0) {
        char msg[sizeof(err->msg)];
        st_strlcpy(msg, err->msg, sizeof(msg));
        rc = st_err_set(err, rc, "prometheus at %.*s: %s", (int)bl, base, msg);
        goto out;
    }
    /* Prometheus answers 400/422/503 with a JSON error body; the parser reports it. */
    if (status != 200 && status != 400 && status != 422 && status != 503) {
        rc = st_err_set(err, ST_EPROTO, "prometheus at %.*s answered HTTP %ld", (int)bl, base,
                        status);
        goto out;
    }
    rc = stat_prom_parse_vector(body.data ? body.data : "", body.len, fn, data, err);

out:
    free(url);
    st_buf_free(&body);
    return rc;
}
