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
/* Transfers run at once; more proxies go in further batches. */
#define STAT_FETCH_BATCH 64

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

/* One GET of a batch: what to fetch and what came back. */
struct stat_fetch {
    char *url; /* owned */
    struct st_buf body;
    long status;
    uint64_t window_ms; /* the strait-window-ms header, 0 when absent */
    uint64_t done_ms;   /* st_now_ms() when the answer was complete */
    int rc;
    struct st_err err;
    bool too_big;
};

static void
stat_fetch_free(struct stat_fetch *f)
{
    free(f->url);
    f->url = NULL;
    st_buf_free(&f->body);
}

static size_t
stat_http_write(char *p, size_t size, size_t nmemb, void *data)
{
    struct stat_fetch *f = data;
    size_t n = size * nmemb;

    if (st_buf_append(&f->body, p, n) < 0) {
        f->too_big = true;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    return n;
}

static size_t
stat_http_header(char *p, size_t size, size_t nmemb, void *data)
{
    struct stat_fetch *f = data;
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
            f->window_ms = ms;
    }
    return n;
}

static CURL *
stat_http_easy(struct stat_fetch *f, uint64_t timeout_ms)
{
    CURL *c = curl_easy_init();

    if (c == NULL)
        st_oom();
    curl_easy_setopt(c, CURLOPT_URL, f->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)ST_MIN(timeout_ms, 10000));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    /* Loopback never goes through an http_proxy (a meshed shell has one set). */
    curl_easy_setopt(c, CURLOPT_NOPROXY, "localhost,127.0.0.0/8,::1");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, stat_http_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, stat_http_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, f);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "strait-stat");
    curl_easy_setopt(c, CURLOPT_PRIVATE, (char *)f);
    return c;
}

/* Records how the transfer of <f> ended. */
static void
stat_fetch_done(struct stat_fetch *f, CURL *c, CURLcode cc, uint64_t timeout_ms)
{
    f->done_ms = st_now_ms();
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &f->status);
        f->rc = 0;
    } else if (f->too_big) {
        f->rc = st_err_set(&f->err, ST_ETOOBIG, "answer larger than %zu bytes", f->body.max);
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        f->rc = st_err_set(&f->err, ST_ETIMEOUT, "no answer within %llu ms",
                           (unsigned long long)timeout_ms);
    } else if (cc == CURLE_COULDNT_CONNECT) {
        f->rc = st_err_set(&f->err, -ECONNREFUSED, "%s", curl_easy_strerror(cc));
    } else {
        f->rc = st_err_set(&f->err, -EIO, "%s", curl_easy_strerror(cc));
    }
}

/*
 * Runs the GETs of <f> (url set, bodies capped at <max>) at the same time,
 * STAT_FETCH_BATCH at once, each bounded by <timeout_ms>; fills the results.
 */
static void
stat_fetch_all(struct stat_fetch *f, size_t n, uint64_t timeout_ms, size_t max)
{
    for (size_t first = 0; first < n; first += STAT_FETCH_BATCH) {
        size_t m = ST_MIN(n - first, (size_t)STAT_FETCH_BATCH);
        CURLM *multi = curl_multi_init();
        CURL *easy[STAT_FETCH_BATCH];
        int running = 0;

        if (multi == NULL)
            st_oom();
        for (size_t i = 0; i < m; i++) {
            struct stat_fetch *x = &f[first + i];
            st_buf_init(&x->body, max);
            x->status = 0;
            x->window_ms = 0;
            x->too_big = false;
            x->rc = st_err_set(&x->err, -EIO, "transfer not completed");
            easy[i] = stat_http_easy(x, timeout_ms);
            curl_multi_add_handle(multi, easy[i]);
        }
        /* Each transfer has its own timeout, so this loop ends. */
        do {
            if (curl_multi_perform(multi, &running) != CURLM_OK)
                break;
            CURLMsg *msg;
            int left;
            while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
                char *priv = NULL;
                if (msg->msg != CURLMSG_DONE)
                    continue;
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
                stat_fetch_done((struct stat_fetch *)priv, msg->easy_handle, msg->data.result,
                                timeout_ms);
            }
            if (running > 0 && curl_multi_poll(multi, NULL, 0, 100, NULL) != CURLM_OK)
                break;
        } while (running > 0);
        for (size_t i = 0; i < m; i++) {
            curl_multi_remove_handle(multi, easy[i]);
            curl_easy_cleanup(easy[i]);
        }
        curl_multi_cleanup(multi);
    }
}

int
stat_http_get(const char *url, uint64_t timeout_ms, size_t max, struct st_buf *body,
              long *status, uint64_t *window_ms, struct st_err *err)
{
    struct stat_fetch f = {.url = st_xstrdup(url)};

    stat_fetch_all(&f, 1, timeout_ms, max);
    *status = f.status;
    if (window_ms != NULL)
        *window_ms = f.window_ms;
    if (f.rc < 0)
        st_err_set(err, f.rc, "%s", f.err.msg);
    st_buf_free(body);
    *body = f.body;
    f.body = (struct st_buf)ST_BUF_INIT(0);
    stat_fetch_free(&f);
    return f.rc;
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

/* True when <f> is a usable scrape of <p>; warns (the proxy is skipped) when not. */
static bool
stat_fetch_ok(const struct stat_proxy *p, const struct stat_fetch *f)
{
    if (f->rc < 0) {
        fprintf(stderr, "warning: proxy %s/%s at %s unreachable: %s; skipped\n", p->ns, p->name,
                p->admin, f->err.msg);
        return false;
    }
    if (f->status != 200) {
        fprintf(stderr, "warning: proxy %s/%s at %s answered %ld to /metrics; skipped\n", p->ns,
                p->name, p->admin, f->status);
        return false;
    }
    return true;
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

/*
 * GETs /metrics of every proxy of <p> marked in <want>, in parallel, into <f>;
 * idx[k] is the proxy of f[k]. Returns how many were fetched.
 */
static size_t
stat_scrape_round(struct stat_proxy *p, size_t n, const bool *want, struct stat_fetch *f,
                  size_t *idx, uint64_t timeout_ms)
{
    size_t m = 0;

    for (size_t i = 0; i < n; i++) {
        if (!want[i])
            continue;
        f[m].url = st_xasprintf("http://%s/metrics", p[i].admin);
        idx[m++] = i;
    }
    stat_fetch_all(f, m, timeout_ms, STAT_SCRAPE_MAX);
    return m;
}

void
stat_scrape_windows(struct stat_proxy *p, size_t n, uint64_t window_ms, uint64_t timeout_ms)
{
    struct stat_fetch *f = st_xcalloc(n ? n : 1, sizeof(*f));
    struct st_metrics_snapshot **first = st_xcalloc(n ? n : 1, sizeof(*first));
    bool *want = st_xcalloc(n ? n : 1, sizeof(*want));
    size_t *idx = st_xcalloc(n ? n : 1, sizeof(*idx));
    size_t pending = 0;

    /* 1. The windows of the proxies that keep a history. */
    for (size_t i = 0; i < n; i++)
        f[i].url = st_xasprintf("http://%s/metrics/window?ms=%llu", p[i].admin,
                                (unsigned long long)window_ms);
    stat_fetch_all(f, n, timeout_ms, STAT_SCRAPE_MAX);
    for (size_t i = 0; i < n; i++) {
        if (f[i].rc < 0) {
            fprintf(stderr, "warning: proxy %s/%s at %s unreachable: %s; skipped\n", p[i].ns,
                    p[i].name, p[i].admin, f[i].err.msg);
        } else if (f[i].status == 200 && f[i].window_ms > 0) {
            p[i].window = stat_parse_scrape(&p[i], &f[i].body, f[i].window_ms);
            p[i].window_s = (double)f[i].window_ms / 1000.0;
        } else {
            want[i] = true; /* no history endpoint: two scrapes */
        }
        stat_fetch_free(&f[i]);
    }

    /* 2. The others: a first scrape now... */
    uint64_t start = st_now_ms();
    size_t m = stat_scrape_round(p, n, want, f, idx, timeout_ms);
    for (size_t k = 0; k < m; k++) {
        size_t i = idx[k];
        if (stat_fetch_ok(&p[i], &f[k]))
            first[i] = stat_parse_scrape(&p[i], &f[k].body, f[k].done_ms);
        want[i] = first[i] != NULL;
        pending += want[i];
        stat_fetch_free(&f[k]);
    }

    /*
     * ...and a second one when the window has passed. Each proxy's window is
     * the real time between its two answers.
     */
    if (pending > 0) {
        stat_sleep_until(start + window_ms);
        m = stat_scrape_round(p, n, want, f, idx, timeout_ms);
        for (size_t k = 0; k < m; k++) {
            size_t i = idx[k];
            struct st_metrics_snapshot *now = NULL;
            struct st_err err = {0};
            if (stat_fetch_ok(&p[i], &f[k]))
                now = stat_parse_scrape(&p[i], &f[k].body, f[k].done_ms);
            if (now != NULL && st_metrics_snapshot_sub(now, first[i], &p[i].window, &err) < 0)
                fprintf(stderr, "warning: proxy %s/%s at %s: %s; skipped\n", p[i].ns, p[i].name,
                        p[i].admin, err.msg);
            if (p[i].window != NULL)
                p[i].window_s = (double)p[i].window->time_ms / 1000.0;
            st_metrics_snapshot_free(now);
            stat_fetch_free(&f[k]);
        }
    }
    for (size_t i = 0; i < n; i++)
        st_metrics_snapshot_free(first[i]);
    free(first);
    free(want);
    free(idx);
    free(f);
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
