/*
 * Per-thread metric series and the Prometheus text rendering.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "stats.h"

/* Linkerd's response_latency_ms bucket bounds. */
static const uint64_t stats_bounds[STATS_N_BUCKETS - 1] = {
    1,   2,   3,    4,    5,    10,   20,   30,    40,    50,    100,   200,  300,
    400, 500, 1000, 2000, 3000, 4000, 5000, 10000, 20000, 30000, 40000, 50000};

enum stats_kind { STATS_REQ, STATS_RSP, STATS_TCP };

struct stats_series {
    struct stats_series *next;
    enum stats_kind kind;
    char *labels;
    uint64_t hash;
    _Atomic uint64_t count;  /* requests, responses, tcp opens */
    _Atomic uint64_t closes; /* tcp */
    _Atomic uint64_t rbytes, wbytes;
    _Atomic uint64_t sum; /* latency sum (ms) */
    _Atomic uint64_t buckets[STATS_N_BUCKETS];
};

#define STATS_HASH_SIZE 1024

struct stats {
    struct stats *next;
    pthread_mutex_t lock; /* guards the lists; counters are atomics */
    struct stats_series *buckets[STATS_HASH_SIZE];
    size_t n;
};

struct stats_registry {
    pthread_mutex_t lock;
    struct stats *threads;
};

struct stats_registry *
stats_registry_new(void)
{
    struct stats_registry *r = st_xcalloc(1, sizeof(*r));

    pthread_mutex_init(&r->lock, NULL);
    return r;
}

void
stats_registry_free(struct stats_registry *r)
{
    if (r == NULL)
        return;
    while (r->threads != NULL) {
        struct stats *s = r->threads;
        r->threads = s->next;
        for (size_t i = 0; i < STATS_HASH_SIZE; i++) {
            while (s->buckets[i] != NULL) {
                struct stats_series *x = s->buckets[i];
                s->buckets[i] = x->next;
                free(x->labels);
                free(x);
            }
        }
        pthread_mutex_destroy(&s->lock);
        free(s);
    }
    pthread_mutex_destroy(&r->lock);
    free(r);
}

struct stats *
stats_thread(struct stats_registry *r)
{
    struct stats *s = st_xcalloc(1, sizeof(*s));

    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_lock(&r->lock);
    s->next = r->threads;
    r->threads = s;
    pthread_mutex_unlock(&r->lock);
    return s;
}

static uint64_t
stats_hash(enum stats_kind kind, const char *labels)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)kind;

    for (const unsigned char *p = (const unsigned char *)labels; *p != '\0'; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}

/* Finds or creates a series; only the owning thread calls this. */
static struct stats_series *
stats_get(struct stats *s, enum stats_kind kind, const char *labels)
{
    uint64_t h = stats_hash(kind, labels);
    struct stats_series **slot = &s->buckets[h % STATS_HASH_SIZE];

    for (struct stats_series *x = *slot; x != NULL; x = x->next)
        if (x->hash == h && x->kind == kind && strcmp(x->labels, labels) == 0)
            return x;
    if (s->n >= STATS_MAX_SERIES && strcmp(labels, "overflow=\"true\"") != 0)
        return stats_get(s, kind, "overflow=\"true\"");

    struct stats_series *x = st_xcalloc(1, sizeof(*x));
    x->kind = kind;
    x->labels = st_xstrdup(labels);
    x->hash = h;
    pthread_mutex_lock(&s->lock);
    x->next = *slot;
    *slot = x;
    s->n++;
    pthread_mutex_unlock(&s->lock);
    return x;
}

void
stats_request(struct stats *s, const char *labels)
{
    atomic_fetch_add_explicit(&stats_get(s, STATS_REQ, labels)->count, 1, memory_order_relaxed);
}

void
stats_response(struct stats *s, const char *labels, int status, bool success, uint64_t latency_ms)
{
    char *full =
        st_xasprintf("%s%sstatus_code=\"%d\",classification=\"%s\"", labels,
                     labels[0] != '\0' ? "," : "", status, success ? "success" : "failure");
    struct stats_series *x = stats_get(s, STATS_RSP, full);
    size_t b = 0;

    free(full);
    while (b < STATS_N_BUCKETS - 1 && latency_ms > stats_bounds[b])
        b++;
    atomic_fetch_add_explicit(&x->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&x->sum, latency_ms, memory_order_relaxed);
    atomic_fetch_add_explicit(&x->buckets[b], 1, memory_order_relaxed);
}

struct stats_series *
stats_tcp(struct stats *s, const char *labels)
{
    return stats_get(s, STATS_TCP, labels);
}

void
stats_tcp_open(struct stats_series *t)
{
    if (t != NULL)
        atomic_fetch_add_explicit(&t->count, 1, memory_order_relaxed);
}

void
stats_tcp_close(struct stats_series *t, uint64_t duration_ms)
{
    ST_UNUSED(duration_ms);
    if (t != NULL)
        atomic_fetch_add_explicit(&t->closes, 1, memory_order_relaxed);
}

void
stats_tcp_bytes(struct stats_series *t, uint64_t read, uint64_t written)
{
    if (t == NULL)
        return;
    if (read > 0)
        atomic_fetch_add_explicit(&t->rbytes, read, memory_order_relaxed);
    if (written > 0)
        atomic_fetch_add_explicit(&t->wbytes, written, memory_order_relaxed);
}

/* One merged series while rendering. */
struct stats_sum {
    enum stats_kind kind;
    const char *labels;
    uint64_t count, closes, rbytes, wbytes, sum;
    uint64_t buckets[STATS_N_BUCKETS];
};

static int
stats_cmp(const void *a, const void *b)
{
    const struct stats_sum *x = a, *y = b;

    if (x->kind != y->kind)
        return (int)x->kind - (int)y->kind;
    return strcmp(x->labels, y->labels);
}

static int
stats_line(struct st_buf *out, const char *name, const char *labels, const char *extra, uint64_t v)
{
    bool any = labels[0] != '\0' || extra[0] != '\0';

    return st_buf_appendf(out, "%s%s%s%s%s%s %llu\n", name, any ? "{" : "", labels,
                          labels[0] != '\0' && extra[0] != '\0' ? "," : "", extra, any ? "}" : "",
                          (unsigned long long)v);
}

int
stats_render(struct stats_registry *r, struct st_buf *out)
{
    struct stats_sum *all = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    /* Collect every thread's series; equal label sets are summed after sorting. */
    pthread_mutex_lock(&r->lock);
    for (struct stats *s = r->threads; s != NULL; s = s->next) {
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < STATS_HASH_SIZE; i++) {
            for (struct stats_series *x = s->buckets[i]; x != NULL; x = x->next) {
                if (n == cap) {
                    cap = cap != 0 ? cap * 2 : 64;
                    all = st_xrealloc(all, cap * sizeof(*all));
                }
                struct stats_sum *m = &all[n++];
                m->kind = x->kind;
                m->labels = x->labels; /* series are never freed while the registry lives */
                m->count = atomic_load_explicit(&x->count, memory_order_relaxed);
                m->closes = atomic_load_explicit(&x->closes, memory_order_relaxed);
                m->rbytes = atomic_load_explicit(&x->rbytes, memory_order_relaxed);
                m->wbytes = atomic_load_explicit(&x->wbytes, memory_order_relaxed);
                m->sum = atomic_load_explicit(&x->sum, memory_order_relaxed);
                for (size_t b = 0; b < STATS_N_BUCKETS; b++)
                    m->buckets[b] = atomic_load_explicit(&x->buckets[b], memory_order_relaxed);
            }
        }
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_unlock(&r->lock);
    if (n > 0)
        qsort(all, n, sizeof(*all), stats_cmp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m > 0 && stats_cmp(&all[m - 1], &all[i]) == 0) {
            struct stats_sum *d = &all[m - 1];
            d->count += all[i].count;
            d->closes += all[i].closes;
            d->rbytes += all[i].rbytes;
            d->wbytes += all[i].wbytes;
            d->sum += all[i].sum;
            for (size_t b = 0; b < STATS_N_BUCKETS; b++)
                d->buckets[b] += all[i].buckets[b];
        } else {
            all[m++] = all[i];
        }
    }

    static const char *const help[][3] = {
        {"request_total", "counter", "Total count of HTTP requests."},
        {"response_total", "counter", "Total count of HTTP responses."},
        {"response_latency_ms", "histogram",
         "Elapsed times between a request's headers being "
         "received and its response stream completing"},
        {"tcp_open_total", "counter", "Total count of opened connections"},
        {"tcp_close_total", "counter", "Total count of closed connections"},
        {"tcp_open_connections", "gauge", "Number of currently-open connections"},
        {"tcp_read_bytes_total", "counter", "Total count of bytes read from peers"},
        {"tcp_write_bytes_total", "counter", "Total count of bytes written to peers"},
    };
    for (size_t h = 0; h < ST_ARRAY_LEN(help) && rc == 0; h++) {
        const char *name = help[h][0];
        rc =
            st_buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help[h][2], name, help[h][1]);
        for (size_t i = 0; i < m && rc == 0; i++) {
            struct stats_sum *x = &all[i];
            if (h == 0 && x->kind == STATS_REQ) {
                rc = stats_line(out, name, x->labels, "", x->count);
            } else if (h == 1 && x->kind == STATS_RSP) {
                rc = stats_line(out, name, x->labels, "", x->count);
            } else if (h == 2 && x->kind == STATS_RSP) {
                uint64_t cum = 0;
                char le[40];
                char *bucket = st_xasprintf("%s_bucket", name);
                for (size_t b = 0; b < STATS_N_BUCKETS && rc == 0; b++) {
                    cum += x->buckets[b];
                    if (b < STATS_N_BUCKETS - 1)
                        snprintf(le, sizeof(le), "le=\"%llu\"",
                                 (unsigned long long)stats_bounds[b]);
                    else
                        snprintf(le, sizeof(le), "le=\"+Inf\"");
                    rc = stats_line(out, bucket, x->labels, le, cum);
                }
                free(bucket);
                char *sum = st_xasprintf("%s_sum", name), *count = st_xasprintf("%s_count", name);
                if (rc == 0)
                    rc = stats_line(out, sum, x->labels, "", x->sum);
                if (rc == 0)
                    rc = stats_line(out, count, x->labels, "", x->count);
                free(sum);
                free(count);
            } else if (h >= 3 && x->kind == STATS_TCP) {
                uint64_t v = h == 3   ? x->count
                             : h == 4 ? x->closes
                             : h == 5 ? (x->count >= x->closes ? x->count - x->closes : 0)
                             : h == 6 ? x->rbytes
                                      : x->wbytes;
                rc = stats_line(out, name, x->labels, "", v);
            }
        }
    }
    free(all);
    return rc;
}

char *
stats_escape(const char *v)
{
    struct st_buf b = ST_BUF_INIT(0);
    int rc = st_buf_append(&b, "", 0);

    for (const char *p = v != NULL ? v : ""; *p != '\0' && rc == 0; p++) {
        if (*p == '\\' || *p == '"')
            rc = st_buf_appendf(&b, "\\%c", *p);
        else if (*p == '\n')
            rc = st_buf_append_str(&b, "\\n");
        else
            rc = st_buf_append(&b, p, 1);
    }
    if (rc < 0)
        st_oom();
    return st_buf_steal(&b);
}
