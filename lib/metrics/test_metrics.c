/*
 * Unit tests for lib/metrics: per-shard counting from threads, histogram
 * placement, the exposition text and its parser, windows, merges, quantiles
 * and caps. The thread test also prints a small benchmark (ns per update).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "strait/metrics.h"

#define N_THREADS 4
#define N_INCREMENTS 1000000

static struct st_metrics_family *
add_family(struct st_metrics_registry *r, enum st_metrics_type type, const char *name,
           const char *const *labels, size_t n_labels)
{
    struct st_metrics_family *f = NULL;
    struct st_metrics_desc d = {
        .type = type,
        .name = name,
        .help = "help text",
        .labels = labels,
        .n_labels = n_labels,
        .bounds = st_metrics_latency_bounds_ms,
        .n_bounds = ST_METRICS_LATENCY_N_BOUNDS,
    };
    assert_int_equal(st_metrics_family_add(r, &d, &f, NULL), 0);
    assert_non_null(f);
    return f;
}

static const struct st_metrics_sample *
find_series(const struct st_metrics_snapshot *s, const char *fam, const char *lname,
            const char *lvalue)
{
    const struct st_metrics_fam *f = st_metrics_snapshot_find(s, fam);
    struct st_metrics_label l = {(char *)lname, (char *)lvalue};

    assert_non_null(f);
    return st_metrics_fam_find(f, &l, lname ? 1 : 0);
}

static int
parse_str(const char *text, const struct st_metrics_caps *caps, struct st_metrics_snapshot **out)
{
    return st_metrics_parse_text(text, strlen(text), caps, out, NULL);
}

/* ---- threads ------------------------------------------------------------- */

struct worker {
    pthread_t thread;
    unsigned shard;
    struct st_metrics_family *counter, *hist;
    uint64_t ns_counter, ns_hist;
};

static atomic_bool workers_done;
static atomic_bool scraper_saw_decrease;

static void *
worker_run(void *arg)
{
    struct worker *w = arg;
    const char *v[] = {"outbound"};
    /* Every thread resolves the series itself: concurrent lookups must agree. */
    struct st_metrics_series *s = st_metrics_series_get(w->counter, v);
    struct st_metrics_series *h = st_metrics_series_get(w->hist, v);

    uint64_t t0 = st_now_ns();
    for (int i = 0; i < N_INCREMENTS; i++)
        st_metrics_counter_inc(s, w->shard);
    uint64_t t1 = st_now_ns();
    for (int i = 0; i < N_INCREMENTS / 10; i++)
        st_metrics_histogram_observe(h, w->shard, (double)(i % 100));
    uint64_t t2 = st_now_ns();
    w->ns_counter = t1 - t0;
    w->ns_hist = t2 - t1;
    return NULL;
}

static void *
scraper_run(void *arg)
{
    struct st_metrics_registry *r = arg;
    double last = 0;

    while (!atomic_load(&workers_done)) {
        struct st_metrics_snapshot *s = st_metrics_snapshot_take(r);
        const struct st_metrics_sample *x =
            find_series(s, "request_total", "direction", "outbound");
        if (x != NULL) {
            if (x->value < last) /* a concurrent scrape only ever sees growth */
                atomic_store(&scraper_saw_decrease, true);
            last = x->value;
        }
        st_metrics_snapshot_free(s);
    }
    return NULL;
}

static void
test_threads_sum_exactly(void **state)
{
    struct st_metrics_registry *r = st_metrics_registry_new(N_THREADS, 0);
    const char *labels[] = {"direction"};
    struct st_metrics_family *c = add_family(r, ST_METRICS_COUNTER, "request_total", labels, 1);
    struct st_metrics_family *h = add_family(r, ST_METRICS_HISTOGRAM, "lat_ms", labels, 1);
    struct worker w[N_THREADS];
    pthread_t scraper;

    atomic_store(&workers_done, false);
    assert_int_equal(pthread_create(&scraper, NULL, scraper_run, r), 0);
    for (unsigned i = 0; i < N_THREADS; i++) {
        w[i] = (struct worker){.shard = i, .counter = c, .hist = h};
        assert_int_equal(pthread_create(&w[i].thread, NULL, worker_run, &w[i]), 0);
    }
    uint64_t ns_c = 0, ns_h = 0;
    for (unsigned i = 0; i < N_THREADS; i++) {
        pthread_join(w[i].thread, NULL);
        ns_c += w[i].ns_counter;
        ns_h += w[i].ns_hist;
    }
    atomic_store(&workers_done, true);
    pthread_join(scraper, NULL);
    assert_false(atomic_load(&scraper_saw_decrease));

    struct st_metrics_snapshot *s = st_metrics_snapshot_take(r);
    const struct st_metrics_sample *x = find_series(s, "request_total", "direction", "outbound");
    assert_non_null(x);
    assert_true(x->value == (double)N_THREADS * N_INCREMENTS);
    x = find_series(s, "lat_ms", "direction", "outbound");
    assert_true(x->count == (double)N_THREADS * (N_INCREMENTS / 10));
    /* i % 100 for i < 100000: each of 0..99 1000 times per thread; sum 4950 * 1000 * 4. */
    assert_true(x->sum == 4950.0 * 1000 * N_THREADS);
    assert_true(x->buckets[0].count == 2.0 * 1000 * N_THREADS); /* 0 and 1 are <= 1 */
    st_metrics_snapshot_free(s);
    printf("# bench: counter_inc %.2f ns, histogram_observe %.2f ns per update "
           "(%d threads and a scraper in a loop)\n",
           (double)ns_c / (N_THREADS * (double)N_INCREMENTS),
           (double)ns_h / (N_THREADS * (double)(N_INCREMENTS / 10)), N_THREADS);

    /* The same without a scraper pulling the cache lines away: the bare hot path. */
    struct worker alone = {.shard = 0, .counter = c, .hist = h};
    worker_run(&alone);
    printf("# bench: counter_inc %.2f ns, histogram_observe %.2f ns per update (1 thread)\n",
           (double)alone.ns_counter / N_INCREMENTS, (double)alone.ns_hist / (N_INCREMENTS / 10));
    st_metrics_registry_free(r);
}

struct creator {
    pthread_t thread;
    struct st_metrics_family *f;
    struct st_metrics_series *seen[200];
};

static void *
creator_run(void *arg)
{
    struct creator *c = arg;

    for (int i = 0; i < 200; i++) {
        char v[16];
        snprintf(v, sizeof(v), "svc-%d", i);
        const char *vals[] = {v};
        c->seen[i] = st_metrics_series_get(c->f, vals);
    }
    return NULL;
}

/* Threads that create the same series concurrently (through table growth) get one pointer. */
static void
test_concurrent_create(void **state)
{
    struct st_metrics_registry *r = st_metrics_registry_new(1, 0);
    const char *labels[] = {"dst_service"};
    struct st_metrics_family *f = add_family(r, ST_METRICS_COUNTER, "c_total", labels, 1);
    struct creator cr[N_THREADS];

    for (int i = 0; i < N_THREADS; i++) {
        cr[i].f = f;
        assert_int_equal(pthread_create(&cr[i].thread, NULL, creator_run, &cr[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(cr[i].thread, NULL);
    for (int k = 0; k < 200; k++) {
        assert_non_null(cr[0].seen[k]);
        for (int i = 1; i < N_THREADS; i++)
            assert_ptr_equal(cr[i].seen[k], cr[0].seen[k]);
    }
    struct st_metrics_snapshot *s = st_metrics_snapshot_take(r);
    assert_int_equal(st_metrics_snapshot_find(s, "c_total")->n_series, 200);
    st_metrics_snapshot_free(s);
    st_metrics_registry_free(r);
}

/* ---- registry ---------------------------------------------------------------- */

static void
test_histogram_bounds(void **state)
{
    struct st_metrics_registry *r = st_metrics_registry_new(2, 0);
    struct st_metrics_family *f =
        add_family(r, ST_METRICS_HISTOGRAM, "response_latency_ms", NULL, 0);
    struct st_metrics_series *s = st_metrics_series_get(f, NULL);
    static const double obs[] = {-5, 0, 1, 1.0001, 5, 5.5, 50000, 50000.5, 1e9};

    for (size_t i = 0; i < ST_ARRAY_LEN(obs); i++)
        st_metrics_histogram_observe(s, (unsigned)(i % 2), obs[i]);
    st_metrics_histogram_observe(s, 0, NAN); /* ignored */

    struct st_metrics_snapshot *snap = st_metrics_snapshot_take(r);
    const struct st_metrics_sample *x = find_series(snap, "response_latency_ms", NULL, NULL);
    assert_int_equal(x->n_buckets, 26);
    assert_true(x->buckets[0].le == 1 && x->buckets[0].count == 3);  /* -5, 0, 1 */
    assert_true(x->buckets[1].le == 2 && x->buckets[1].count == 4);  /* 1.0001 */
    assert_true(x->buckets[4].le == 5 && x->buckets[4].count == 5);  /* 5 */
    assert_true(x->buckets[5].le == 10 && x->buckets[5].count == 6); /* 5.5 */
    assert_true(x->buckets[24].le == 50000 && x->buckets[24].count == 7);
    assert_true(isinf(x->buckets[25].le) && x->buckets[25].count == 9);
    assert_true(x->count == 9);
    double sum = 0;
    for (size_t i = 0; i < ST_ARRAY_LEN(obs); i++)
        sum += obs[i];
    assert_true(fabs(x->sum - sum) < 1e-6);
    st_metrics_snapshot_free(snap);
    st_metrics_registry_free(r);
}

static void
test_linkerd_bounds(void **state)
{
    static const double want[] = {1,    2,    3,     4,     5,     10,    20,   30,   40,
                                  50,   100,  200,   300,   400,   500,   1000, 2000, 3000,
                                  4000, 5000, 10000, 20000, 30000, 40000, 50000};

    assert_int_equal(ST_ARRAY_LEN(want), ST_METRICS_LATENCY_N_BOUNDS);
    for (size_t i = 0; i < ST_ARRAY_LEN(want); i++)
        assert_true(st_metrics_latency_bounds_ms[i] == want[i]);
}

static void
test_gauge(void **state)
{
    struct st_metrics_registry *r = st_metrics_registry_new(3, 0);
    const char *labels[] = {"peer"};
    struct st_metrics_family *f = add_family(r, ST_METRICS_GAUGE, "open", labels, 1);
    const char *v[] = {"src"};
    struct st_metrics_series *s = st_metrics_series_get(f, v);

    st_metrics_gauge_add(s, 0, 5);
    st_metrics_gauge_add(s, 1, -2);
    st_metrics_gauge_add(s, 2, -4); /* closes on another thread than the opens */
    struct st_metrics_snapshot *snap = st_metrics_snapshot_take(r);
    assert_true(find_series(snap, "open", "peer", "src")->value == -1);
    st_metrics_snapshot_free(snap);

    st_metrics_gauge_set(s, 1.5);
    snap = st_metrics_snapshot_take(r);
    assert_true(find_series(snap, "open", "peer", "src")->value == 0.5);
    st_metrics_snapshot_free(snap);
    st_metrics_registry_free(r);
}

static void
test_family_errors(void **state)
{
    struct st_metrics_registry *r = st_metrics_registry_new(1, 0);
    const char *le[] = {"le"}, *dup[] = {"a", "a"}, *bad[] = {"1x"}, *reserved[] = {"__x"};
    double unsorted[] = {1, 3, 2}, inf[] = {1, INFINITY};
    struct st_err err;

    add_family(r, ST_METRICS_HISTOGRAM, "x", NULL, 0);
    add_family(r, ST_METRICS_COUNTER, "y_total", NULL, 0);
    struct st_metrics_desc cases[] = {
        {ST_METRICS_COUNTER, "0bad", "", NULL, 0, NULL, 0},
        {ST_METRICS_COUNTER, "a-b", "", NULL, 0, NULL, 0},
        {ST_METRICS_COUNTER, "ok", "", dup, 2, NULL, 0},
        {ST_METRICS_COUNTER, "ok", "", bad, 1, NULL, 0},
        {ST_METRICS_COUNTER, "ok", "", reserved, 1, NULL, 0},
        {ST_METRICS_HISTOGRAM, "ok", "", le, 1, st_metrics_latency_bounds_ms, 25},
        {ST_METRICS_HISTOGRAM, "ok", "", NULL, 0, unsorted, 3},
        {ST_METRICS_HISTOGRAM, "ok", "", NULL, 0, inf, 2},
        {ST_METRICS_HISTOGRAM, "ok", "", NULL, 0, NULL, 0},
        {ST_METRICS_SUMMARY, "ok", "", NULL, 0, NULL, 0},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++)
        assert_int_equal(st_metrics_family_add(r, &cases[i], NULL, &err), ST_EINVAL);

    struct st_metrics_desc clash[] = {
        {ST_METRICS_COUNTER, "x", "", NULL, 0, NULL, 0},
        {ST_METRICS_GAUGE, "x_count", "", NULL, 0, NULL, 0},
        {ST_METRICS_COUNTER, "x_bucket", "", NULL, 0, NULL, 0},
        {ST_METRICS_HISTOGRAM, "y", "", NULL, 0, st_metrics_latency_bounds_ms, 25}, /* y_total ok */
        {ST_METRICS_HISTOGRAM, "y_total", "", NULL, 0, st_metrics_latency_bounds_ms, 25},
    };
    assert_int_equal(st_metrics_family_add(r, &clash[0], NULL, &err), ST_ECONFLICT);
    assert_int_equal(st_metrics_family_add(r, &clash[1], NULL, &err), ST_ECONFLICT);
    assert_int_equal(st_metrics_family_add(r, &clash[2], NULL, &err), ST_ECONFLICT);
    assert_int_equal(st_metrics_family_add(r, &clash[3], NULL, &err), 0);
    assert_int_equal(st_metrics_family_add(r, &clash[4], NULL, &err), ST_ECONFLICT);
    assert_non_null(st_metrics_family_find(r, "y"));
    assert_null(st_metrics_family_find(r, "nope"));
    st_metrics_registry_free(r);
}

static void
test_series_interning_and_caps(void **state)
{
    struct st_metrics_registry *r = st_metrics_registry_new(1, 3);
    const char *labels[] = {"a", "b"};
    struct st_metrics_family *f = add_family(r, ST_METRICS_COUNTER, "c_total", labels, 2);
    const char *v1[] = {"x", NULL}, *v1b[] = {"x", ""}, *v2[] = {"x", "y"};

    struct st_metrics_series *s1 = st_metrics_series_get(f, v1);
    assert_non_null(s1);
    assert_ptr_equal(st_metrics_series_get(f, v1b), s1); /* NULL and "" are the same */
    assert_ptr_equal(st_metrics_series_get_hashed(f, st_metrics_labels_hash(v1b, 2), v1b), s1);
    assert_ptr_not_equal(st_metrics_series_get(f, v2), s1);

    char long_value[ST_METRICS_MAX_VALUE + 2];
    memset(long_value, 'v', sizeof(long_value) - 1);
    long_value[sizeof(long_value) - 1] = '\0';
    const char *too_long[] = {long_value, NULL}, *not_utf8[] = {"\xc3\x28", NULL};
    assert_null(st_metrics_series_get(f, too_long));
    assert_null(st_metrics_series_get(f, not_utf8));
    assert_int_equal(st_metrics_registry_refused(r), 2);

    const char *v3[] = {"z", NULL}, *v4[] = {"w", NULL};
    assert_non_null(st_metrics_series_get(f, v3)); /* the third and last series */
    assert_null(st_metrics_series_get(f, v4));
    assert_int_equal(st_metrics_registry_refused(r), 3);
    assert_non_null(st_metrics_series_get(f, v3)); /* existing ones are still found */

    /* Updates to a refused (NULL) series go nowhere. */
    st_metrics_counter_inc(NULL, 0);
    st_metrics_gauge_add(NULL, 0, 1);
    st_metrics_gauge_set(NULL, 1);
    st_metrics_histogram_observe(NULL, 0, 1);
    assert_null(st_metrics_series_get(NULL, v1));
    st_metrics_registry_free(r);
}

/* ---- exposition ------------------------------------------------------------------ */

static void
test_render_exact(void **state)
{
    struct st_metrics_registry *r = st_metrics_registry_new(2, 0);
    const char *labels[] = {"direction", "authority", "tls"};
    struct st_metrics_family *c = add_family(r, ST_METRICS_COUNTER, "req_total", labels, 3);
    double bounds[] = {0.5, 10};
    struct st_metrics_desc hd = {ST_METRICS_HISTOGRAM, "lat", "a\\b\nc", labels, 1, bounds, 2};
    struct st_metrics_family *h;
    struct st_buf out = ST_BUF_INIT(1 << 20);

    assert_int_equal(st_metrics_family_add(r, &hd, &h, NULL), 0);
    const char *v1[] = {"outbound", "web:80", "true"};
    const char *v2[] = {"inbound", "a\"b\\c\nd", NULL};
    st_metrics_counter_add(st_metrics_series_get(c, v1), 0, 7);
    st_metrics_counter_add(st_metrics_series_get(c, v1), 1, 3);
    st_metrics_counter_inc(st_metrics_series_get(c, v2), 1);
    struct st_metrics_series *hs = st_metrics_series_get(h, v1);
    st_metrics_histogram_observe(hs, 0, 0.25);
    st_metrics_histogram_observe(hs, 1, 7);
    st_metrics_histogram_observe(hs, 1, 11.5);

    assert_int_equal(st_metrics_render(r, &out), 0);
    assert_string_equal(st_buf_cstr(&out),
                        "# HELP lat a\\\\b\\nc\n"
                        "# TYPE lat histogram\n"
                        "lat_bucket{direction=\"outbound\",le=\"0.5\"} 1\n"
                        "lat_bucket{direction=\"outbound\",le=\"10\"} 2\n"
                        "lat_bucket{direction=\"outbound\",le=\"+Inf\"} 3\n"
                        "lat_sum{direction=\"outbound\"} 18.75\n"
                        "lat_count{direction=\"outbound\"} 3\n"
                        "# HELP req_total help text\n"
                        "# TYPE req_total counter\n"
                        "req_total{authority=\"a\\\"b\\\\c\\nd\",direction=\"inbound\"} 1\n"
                        "req_total{authority=\"web:80\",direction=\"outbound\",tls=\"true\"} 10\n");

    /* The parser gives the raw values back. */
    struct st_metrics_snapshot *s;
    assert_int_equal(st_metrics_parse_text(out.data, out.len, NULL, &s, NULL), 0);
    struct st_metrics_label want[] = {{"direction", "inbound"}, {"authority", "a\"b\\c\nd"}};
    assert_non_null(st_metrics_fam_find(st_metrics_snapshot_find(s, "req_total"), want, 2));
    assert_string_equal(st_metrics_snapshot_find(s, "lat")->help, "a\\b\nc");
    st_metrics_snapshot_free(s);

    /* A capped buffer refuses and is left as it was. */
    struct st_buf small = ST_BUF_INIT(100);
    assert_int_equal(st_buf_append_str(&small, "keep"), 0);
    assert_int_equal(st_metrics_render(r, &small), ST_ETOOBIG);
    assert_string_equal(st_buf_cstr(&small), "keep");
    st_buf_free(&small);
    st_buf_free(&out);
    st_metrics_registry_free(r);
}

static void
fill_proxy(struct st_metrics_registry *r, const struct st_metrics_proxy *p, unsigned shard,
           const char *leaf, int n_ok, int n_fail)
{
    const char *v[ST_METRICS_RESPONSE_N_LABELS] = {0};

    v[ST_METRICS_HTTP_DIRECTION] = "outbound";
    v[ST_METRICS_HTTP_AUTHORITY] = "backend-zero-svc.test.svc.cluster.local:8080";
    v[ST_METRICS_HTTP_DST_NAMESPACE] = "test";
    v[ST_METRICS_HTTP_DST_SERVICE] = leaf;
    v[ST_METRICS_HTTP_TLS] = "true";
    v[ST_METRICS_HTTP_SERVER_ID] = "default.test.serviceaccount.identity.strait.cluster.local";
    struct st_metrics_series *req = st_metrics_series_get(p->request_total, v);
    for (int i = 0; i < n_ok + n_fail; i++) {
        bool ok = i < n_ok;
        v[ST_METRICS_HTTP_STATUS_CODE] = ok ? "200" : "503";
        v[ST_METRICS_HTTP_CLASSIFICATION] = ok ? "success" : "failure";
        st_metrics_counter_inc(req, shard);
        st_metrics_counter_inc(st_metrics_series_get(p->response_total, v), shard);
        st_metrics_histogram_observe(st_metrics_series_get(p->response_latency_ms, v), shard,
                                     ok ? 3.5 : 120);
    }
}

static void
test_linkerd_families_roundtrip(void **state)
{
    struct st_metrics_registry *r = st_metrics_registry_new(2, 0);
    struct st_metrics_proxy p;
    struct st_metrics_controller c;
    struct st_buf a = ST_BUF_INIT(1 << 20), b = ST_BUF_INIT(1 << 20);

    assert_int_equal(st_metrics_proxy_add(r, &p, NULL), 0);
    assert_int_equal(st_metrics_controller_add(r, &c, NULL), 0);
    assert_int_equal(st_metrics_proxy_add(r, &p, NULL), ST_ECONFLICT);
    fill_proxy(r, &p, 0, "backend-one-svc", 9, 1);
    fill_proxy(r, &p, 1, "backend-two-svc", 5, 0);

    const char *t[ST_METRICS_TCP_CLOSE_N_LABELS] = {"inbound", "src"};
    t[ST_METRICS_TCP_TLS] = "true";
    t[ST_METRICS_TCP_CLIENT_ID] = "web.test.serviceaccount.identity.strait.cluster.local";
    st_metrics_counter_inc(st_metrics_series_get(p.tcp_open_total, t), 0);
    st_metrics_gauge_add(st_metrics_series_get(p.tcp_open_connections, t), 0, 1);
    st_metrics_counter_add(st_metrics_series_get(p.tcp_read_bytes_total, t), 1, 1234);
    t[ST_METRICS_TCP_CLASSIFICATION] = "failure";
    t[ST_METRICS_TCP_ERRNO] = "ECONNRESET";
    st_metrics_counter_inc(st_metrics_series_get(p.tcp_close_total, t), 1);

    const char *g[] = {"east", "true"};
    st_metrics_gauge_set(st_metrics_series_get(c.gateway_alive, g), 1);
    st_metrics_histogram_observe(st_metrics_series_get(c.gateway_probe_latency_ms, g), 0, 2.5);
    st_metrics_counter_inc(st_metrics_series_get(c.gateway_probes, g), 0);

    assert_int_equal(st_metrics_render(r, &a), 0);
    const char *text = st_buf_cstr(&a);
    assert_non_null(strstr(text, "# TYPE response_latency_ms histogram\n"));
    assert_non_null(strstr(text, "response_total{authority=\"backend-zero-svc.test.svc.cluster."
                                 "local:8080\",classification=\"failure\",direction=\"outbound\","
                                 "dst_namespace=\"test\",dst_service=\"backend-one-svc\","
                                 "server_id=\"default.test.serviceaccount.identity.strait."
                                 "cluster.local\",status_code=\"503\",tls=\"true\"} 1\n"));
    assert_non_null(strstr(text, "tcp_close_total{classification=\"failure\","
                                 "client_id=\"web.test.serviceaccount.identity.strait.cluster."
                                 "local\",direction=\"inbound\",errno=\"ECONNRESET\",peer=\"src\","
                                 "tls=\"true\"} 1\n"));
    assert_non_null(strstr(text, "gateway_alive{target_cluster_name=\"east\"} 1\n"));
    assert_non_null(strstr(text, "gateway_probes{probe_successful=\"true\","
                                 "target_cluster_name=\"east\"} 1\n"));
    assert_non_null(strstr(text, "le=\"50000\"} 1\n"));

    /* Render -> parse -> render is the identity, and the values are those of the registry. */
    struct st_metrics_snapshot *parsed, *direct = st_metrics_snapshot_take(r);
    assert_int_equal(st_metrics_parse_text(a.data, a.len, NULL, &parsed, NULL), 0);
    assert_int_equal(st_metrics_snapshot_render(parsed, &b), 0);
    assert_string_equal(st_buf_cstr(&a), st_buf_cstr(&b));
    assert_int_equal(parsed->n_families, direct->n_families);
    for (size_t i = 0; i < direct->n_families; i++) {
        const struct st_metrics_fam *x = &direct->families[i], *y = &parsed->families[i];
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->type, y->type);
        assert_int_equal(x->n_series, y->n_series);
        for (size_t j = 0; j < x->n_series; j++) {
            assert_string_equal(x->series[j].key, y->series[j].key);
            assert_true(x->series[j].value == y->series[j].value);
            assert_true(x->series[j].count == y->series[j].count);
            assert_int_equal(x->series[j].n_buckets, y->series[j].n_buckets);
        }
    }
    struct st_metrics_match m[] = {{"direction", "outbound"}, {"classification", "success"}};
    assert_true(st_metrics_fam_sum(st_metrics_snapshot_find(parsed, "response_total"), m, 2) == 14);
    st_metrics_snapshot_free(parsed);
    st_metrics_snapshot_free(direct);
    st_buf_free(&a);
    st_buf_free(&b);
    st_metrics_registry_free(r);
}

/* ---- windows, merges, quantiles ---------------------------------------------------- */

static void
test_window_and_merge(void **state)
{
    struct st_metrics_registry *r1 = st_metrics_registry_new(1, 0),
                               *r2 = st_metrics_registry_new(1, 0);
    struct st_metrics_proxy p1, p2;
    struct st_metrics_snapshot *a0, *a1, *b0, *b1, *wa, *wb, *sum;
    struct st_err err;

    assert_int_equal(st_metrics_proxy_add(r1, &p1, NULL), 0);
    assert_int_equal(st_metrics_proxy_add(r2, &p2, NULL), 0);
    fill_proxy(r1, &p1, 0, "backend-one-svc", 100, 0); /* before the window */
    a0 = st_metrics_snapshot_take(r1);
    b0 = st_metrics_snapshot_take(r2);
    fill_proxy(r1, &p1, 0, "backend-one-svc", 8, 2);
    fill_proxy(r2, &p2, 0, "backend-one-svc", 10, 0); /* all new in r2 */
    a1 = st_metrics_snapshot_take(r1);
    b1 = st_metrics_snapshot_take(r2);
    a1->time_ms = a0->time_ms + 60000;
    b1->time_ms = b0->time_ms + 60000;

    assert_int_equal(st_metrics_snapshot_sub(a1, a0, &wa, &err), 0);
    assert_int_equal(st_metrics_snapshot_sub(b1, b0, &wb, &err), 0);
    assert_int_equal(wa->time_ms, 60000);
    const struct st_metrics_fam *req = st_metrics_snapshot_find(wa, "request_total");
    assert_true(st_metrics_fam_sum(req, NULL, 0) == 10);
    assert_int_equal(st_metrics_snapshot_sub(a0, a1, &sum, &err), ST_EINVAL); /* reversed */

    assert_int_equal(st_metrics_snapshot_add(wa, wb, &sum, &err), 0);
    struct st_metrics_match leaf[] = {{"dst_service", "backend-one-svc"}};
    struct st_metrics_match ok[] = {{"dst_service", "backend-one-svc"},
                                    {"classification", "success"}};
    assert_true(st_metrics_fam_sum(st_metrics_snapshot_find(sum, "request_total"), leaf, 1) == 20);
    assert_true(st_metrics_fam_sum(st_metrics_snapshot_find(sum, "response_total"), ok, 2) == 18);

    struct st_metrics_hist h = {0};
    assert_int_equal(
        st_metrics_fam_histogram(st_metrics_snapshot_find(sum, "response_latency_ms"), leaf, 1, &h),
        2); /* status 200 and 503 series */
    assert_true(h.count == 20);
    assert_true(h.sum == 18 * 3.5 + 2 * 120);
    /* 18 in (3,4], 2 in (100,200]: p50 rank 10 -> 3 + 1 * 10/18; p99 rank 19.8 -> 100 + 100 * 0.9.
     */
    assert_true(fabs(st_metrics_quantile(h.buckets, h.n_buckets, 0.5) - (3 + 10.0 / 18)) < 1e-9);
    assert_true(fabs(st_metrics_quantile(h.buckets, h.n_buckets, 0.99) - 190) < 1e-9);
    st_metrics_hist_free(&h);

    /* A restarted source (counters went down) counts from zero. */
    struct st_metrics_snapshot *reset;
    assert_int_equal(st_metrics_snapshot_sub(b1, a1, &reset, &err), 0);
    assert_true(st_metrics_fam_sum(st_metrics_snapshot_find(reset, "request_total"), NULL, 0) ==
                10);
    st_metrics_snapshot_free(reset);

    /* Histograms with other bounds do not merge. */
    struct st_metrics_registry *r3 = st_metrics_registry_new(1, 0);
    double bounds[] = {1, 2};
    struct st_metrics_desc d = {
        ST_METRICS_HISTOGRAM, "response_latency_ms", "", NULL, 0, bounds, 2};
    struct st_metrics_family *f3;
    assert_int_equal(st_metrics_family_add(r3, &d, &f3, NULL), 0);
    st_metrics_histogram_observe(st_metrics_series_get(f3, NULL), 0, 1);
    struct st_metrics_snapshot *c3 = st_metrics_snapshot_take(r3), *bad = NULL;
    struct st_metrics_snapshot *odd;
    assert_int_equal(st_metrics_snapshot_add(c3, c3, &odd, &err), 0);
    assert_true(find_series(odd, "response_latency_ms", NULL, NULL)->count == 2);
    st_metrics_snapshot_free(odd);
    /* Make a snapshot whose unlabelled series has Linkerd bounds, then add them. */
    struct st_metrics_registry *r4 = st_metrics_registry_new(1, 0);
    struct st_metrics_family *f4 =
        add_family(r4, ST_METRICS_HISTOGRAM, "response_latency_ms", NULL, 0);
    st_metrics_histogram_observe(st_metrics_series_get(f4, NULL), 0, 1);
    struct st_metrics_snapshot *c4 = st_metrics_snapshot_take(r4);
    assert_int_equal(st_metrics_snapshot_add(c3, c4, &bad, &err), ST_ECONFLICT);
    assert_null(bad);
    /* A type change between two scrapes leaves the newer family whole. */
    struct st_metrics_snapshot *g;
    assert_int_equal(parse_str("response_latency_ms 5\n", NULL, &g), 0);
    assert_int_equal(st_metrics_snapshot_add(g, c4, &bad, &err), ST_ECONFLICT);
    assert_int_equal(st_metrics_snapshot_sub(c4, g, &bad, &err), 0);
    assert_true(find_series(bad, "response_latency_ms", NULL, NULL)->count == 1);
    st_metrics_snapshot_free(bad);
    st_metrics_snapshot_free(g);
    st_metrics_snapshot_free(c4);
    st_metrics_registry_free(r4);
    st_metrics_snapshot_free(c3);
    st_metrics_registry_free(r3);

    st_metrics_snapshot_free(sum);
    st_metrics_snapshot_free(wa);
    st_metrics_snapshot_free(wb);
    st_metrics_snapshot_free(a0);
    st_metrics_snapshot_free(a1);
    st_metrics_snapshot_free(b0);
    st_metrics_snapshot_free(b1);
    st_metrics_registry_free(r1);
    st_metrics_registry_free(r2);
}

static void
test_window_gauges_and_new_series(void **state)
{
    const char *t0 = "# TYPE g gauge\ng 5\n# TYPE c counter\nc{a=\"1\"} 10\nc{a=\"2\"} 4\n"
                     "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 3\n"
                     "h_sum 4\nh_count 3\n";
    const char *t1 = "# TYPE g gauge\ng 3\n# TYPE c counter\nc{a=\"1\"} 15\nc{a=\"3\"} 2\n"
                     "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 7\n"
                     "h_sum 40\nh_count 7\n";
    struct st_metrics_snapshot *s0, *s1, *w;

    assert_int_equal(st_metrics_parse_text(t0, strlen(t0), NULL, &s0, NULL), 0);
    assert_int_equal(st_metrics_parse_text(t1, strlen(t1), NULL, &s1, NULL), 0);
    assert_int_equal(st_metrics_snapshot_sub(s1, s0, &w, NULL), 0);
    assert_true(find_series(w, "g", NULL, NULL)->value == 3); /* gauges are not subtracted */
    assert_true(find_series(w, "c", "a", "1")->value == 5);
    assert_true(find_series(w, "c", "a", "3")->value == 2); /* new since: counts whole */
    assert_null(find_series(w, "c", "a", "2"));             /* gone since */
    const struct st_metrics_sample *h = find_series(w, "h", NULL, NULL);
    assert_true(h->count == 4 && h->sum == 36 && h->buckets[0].count == 0 &&
                h->buckets[1].count == 4);
    st_metrics_snapshot_free(w);
    st_metrics_snapshot_free(s0);
    st_metrics_snapshot_free(s1);
}

static void
test_quantile(void **state)
{
    struct st_metrics_bucket b[] = {{1, 10}, {2, 20}, {5, 40}, {INFINITY, 40}};
    struct st_metrics_bucket tail[] = {{1, 10}, {2, 20}, {INFINITY, 30}};
    struct st_metrics_bucket no_inf[] = {{1, 10}, {2, 20}};
    struct st_metrics_bucket empty[] = {{1, 0}, {INFINITY, 0}};
    struct st_metrics_bucket dip[] = {{1, 10}, {2, 8}, {4, 20}, {INFINITY, 20}};
    struct st_metrics_bucket neg[] = {{-1, 5}, {INFINITY, 10}};

    assert_true(st_metrics_quantile(b, 4, 0.5) == 2);                /* rank 20: the top of (1,2] */
    assert_true(st_metrics_quantile(b, 4, 0.75) == 3.5);             /* rank 30: 2 + 3 * 10/20 */
    assert_true(fabs(st_metrics_quantile(b, 4, 0.1) - 0.4) < 1e-12); /* rank 4 in (0,1] */
    assert_true(st_metrics_quantile(b, 4, 1.0) == 5);
    assert_true(fabs(st_metrics_quantile(b, 4, 0.95) - 4.7) < 1e-12); /* rank 38: 2 + 3 * 18/20 */
    assert_true(st_metrics_quantile(tail, 3, 0.9) == 2); /* in +Inf: the highest bound */
    assert_true(isnan(st_metrics_quantile(no_inf, 2, 0.5)));
    assert_true(isnan(st_metrics_quantile(empty, 2, 0.5)));
    assert_true(isnan(st_metrics_quantile(b, 1, 0.5)));
    assert_true(isnan(st_metrics_quantile(b, 4, NAN)));
    assert_true(isinf(st_metrics_quantile(b, 4, -0.1)) && st_metrics_quantile(b, 4, -0.1) < 0);
    assert_true(isinf(st_metrics_quantile(b, 4, 1.1)) && st_metrics_quantile(b, 4, 1.1) > 0);
    /* Non-monotonic counts are lifted first: (1,2] holds 0, (2,4] holds 10. */
    assert_true(st_metrics_quantile(dip, 4, 0.75) == 3); /* rank 15: 2 + 2 * 5/10 */
    assert_true(st_metrics_quantile(neg, 2, 0.2) == -1); /* first bucket at or below zero */
}

static void
test_history_window(void **state)
{
    struct st_metrics_registry *r = st_metrics_registry_new(2, 0);
    const char *labels[] = {"dst_service"};
    struct st_metrics_family *c = add_family(r, ST_METRICS_COUNTER, "request_total", labels, 1);
    struct st_metrics_family *h = add_family(r, ST_METRICS_HISTOGRAM, "lat_ms", labels, 1);
    struct st_metrics_family *g = add_family(r, ST_METRICS_GAUGE, "open", labels, 1);
    const char *one[] = {"one"}, *two[] = {"two"};
    struct st_metrics_series *s1 = st_metrics_series_get(c, one),
                             *h1 = st_metrics_series_get(h, one);
    struct st_metrics_snapshot *w;

    st_metrics_counter_add(s1, 0, 100); /* before the history: never in a window */
    struct st_metrics_history *hist = st_metrics_history_new(r, 10000, 3, 1000);
    st_metrics_counter_add(s1, 1, 5);
    st_metrics_histogram_observe(h1, 0, 7);
    st_metrics_history_tick(hist, 11000); /* record at 11 s: 105 */
    st_metrics_counter_add(s1, 0, 3);
    st_metrics_history_tick(hist, 15000); /* too early: no record */
    st_metrics_history_tick(hist, 21000); /* record at 21 s: 108 */
    st_metrics_counter_add(s1, 1, 2);
    st_metrics_histogram_observe(h1, 1, 40);
    st_metrics_histogram_observe(h1, 1, 45);
    st_metrics_counter_add(st_metrics_series_get(c, two), 0, 4); /* new after every record */
    st_metrics_gauge_add(st_metrics_series_get(g, one), 0, 2);

    w = st_metrics_history_window(hist, 26000, 10000); /* from the 11 s record */
    assert_int_equal(w->time_ms, 15000);
    assert_true(find_series(w, "request_total", "dst_service", "one")->value == 5);
    assert_true(find_series(w, "request_total", "dst_service", "two")->value == 4);
    assert_true(find_series(w, "open", "dst_service", "one")->value == 2);
    const struct st_metrics_sample *x = find_series(w, "lat_ms", "dst_service", "one");
    assert_true(x->count == 2 && x->sum == 85);
    assert_true(st_metrics_quantile(x->buckets, x->n_buckets, 0.5) == 40); /* (30,40] */
    st_metrics_snapshot_free(w);

    w = st_metrics_history_window(hist, 26000, 5000); /* from the 21 s record */
    assert_int_equal(w->time_ms, 5000);
    assert_true(find_series(w, "request_total", "dst_service", "one")->value == 2);
    st_metrics_snapshot_free(w);

    w = st_metrics_history_window(hist, 26000, 600000); /* longer than kept: from the start */
    assert_int_equal(w->time_ms, 25000);
    assert_true(find_series(w, "request_total", "dst_service", "one")->value == 10);
    assert_true(find_series(w, "lat_ms", "dst_service", "one")->count == 3);
    st_metrics_snapshot_free(w);

    /* The ring keeps 3 periods: after more ticks the start is dropped. */
    st_metrics_history_tick(hist, 31000);
    st_metrics_history_tick(hist, 41000);
    st_metrics_history_tick(hist, 51000);
    w = st_metrics_history_window(hist, 51000, 600000);
    assert_int_equal(w->time_ms, 30000); /* from the 21 s record */
    assert_true(find_series(w, "request_total", "dst_service", "one")->value == 2);
    st_metrics_snapshot_free(w);

    st_metrics_history_free(hist);
    st_metrics_registry_free(r);
}

/* ---- parser ------------------------------------------------------------------------ */

static void
test_parse_features(void **state)
{
    const char *text = "# a free comment\n"
                       "  \n"
                       "# HELP  up   Is it up\\\\?\n"
                       "# TYPE up gauge\n"
                       "up{ job = \"x\" , } 1 1700000000000\n"
                       "up{job=\"y\"}\t0\n"
                       "plain 3.5e2\n"
                       "negative{a=\"\"} -Inf\n"
                       "nan NaN\n"
                       "# TYPE h histogram\n"
                       "h_bucket{x=\"1\",le=\"0.5\"} 1\n"
                       "h_count{x=\"1\"} 4\n"
                       "h_bucket{x=\"1\",le=\"1.0\"} 3\n"
                       "# TYPE s summary\n"
                       "s{quantile=\"0.5\"} 2\n"
                       "s_sum 10\n"
                       "s_count 5";
    struct st_metrics_snapshot *s;

    assert_int_equal(st_metrics_parse_text(text, strlen(text), NULL, &s, NULL), 0);
    const struct st_metrics_fam *up = st_metrics_snapshot_find(s, "up");
    assert_int_equal(up->type, ST_METRICS_GAUGE);
    assert_string_equal(up->help, "Is it up\\?");
    assert_true(find_series(s, "up", "job", "x")->value == 1);
    assert_true(find_series(s, "up", "job", "y")->value == 0);
    assert_true(find_series(s, "plain", NULL, NULL)->value == 350);
    assert_int_equal(st_metrics_snapshot_find(s, "plain")->type, ST_METRICS_UNTYPED);
    assert_true(isinf(find_series(s, "negative", NULL, NULL)->value));
    assert_true(isnan(find_series(s, "nan", NULL, NULL)->value));
    const struct st_metrics_sample *h = find_series(s, "h", "x", "1");
    assert_int_equal(h->n_buckets, 3); /* sorted, +Inf from _count */
    assert_true(h->buckets[0].le == 0.5 && h->buckets[1].le == 1 && isinf(h->buckets[2].le));
    assert_true(h->buckets[2].count == 4 && h->count == 4 && h->sum == 0);
    assert_int_equal(st_metrics_snapshot_find(s, "s")->type, ST_METRICS_SUMMARY);
    assert_true(find_series(s, "s", "quantile", "0.5")->value == 2);
    assert_true(find_series(s, "s_count", NULL, NULL)->value == 5);
    st_metrics_snapshot_free(s);

    /* Empty input is an empty snapshot. */
    assert_int_equal(st_metrics_parse_text("", 0, NULL, &s, NULL), 0);
    assert_int_equal(s->n_families, 0);
    st_metrics_snapshot_free(s);
}

static void
test_parse_errors(void **state)
{
    static const char *const bad[] = {
        "x{a=\"1\"} 1\nx{a=\"1\"} 2\n",         /* duplicate series */
        "x 1\nx{a=\"\"} 2\n",                   /* empty label is absent: duplicate */
        "x 1\n# TYPE x counter\n",              /* TYPE after samples */
        "# TYPE x counter\n# TYPE x counter\n", /* second TYPE */
        "# HELP x a\n# HELP x b\n",             /* second HELP */
        "# TYPE x countr\n",                    /* unknown type */
        "# TYPE x counter extra\n",
        "x{a=\"1\",a=\"2\"} 1\n", /* repeated label */
        "x{a=\"\\t\"} 1\n",       /* bad escape */
        "x{a=\"1} 1\n",           /* unterminated */
        "x{a=1} 1\n",
        "x{a=\"1\" b=\"2\"} 1\n",
        "x{1a=\"1\"} 1\n",
        "x{a:b=\"1\"} 1\n",
        "x{a=\"\xff\"} 1\n",         /* not UTF-8 */
        "x{a=\"\xed\xa0\x80\"} 1\n", /* a surrogate */
        "x{a=\"\xc0\xaf\"} 1\n",     /* overlong */
        "x\n",                       /* no value */
        "x one\n",
        "x 1 2 3\n",
        "x 1 1.5\n", /* timestamps are integers */
        "x- 1\n",
        "1x 1\n",
        "{a=\"1\"} 1\n",
        "# TYPE h histogram\nh 1\n",        /* histogram samples need a suffix */
        "# TYPE h histogram\nh_bucket 1\n", /* without le */
        "# TYPE h histogram\nh_bucket{le=\"x\"} 1\n",
        "# TYPE h histogram\nh_bucket{le=\"NaN\"} 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"1.0\"} 1\n",
        "# TYPE h histogram\nh_sum{le=\"1\"} 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\n", /* neither +Inf nor _count */
        "# TYPE h histogram\nh_count 1\nh_count 2\n",
        "# TYPE h histogram\n# TYPE h_bucket counter\n",
        "h_sum 1\n# TYPE h histogram\n", /* clashes with an existing family */
        "x{a=\"1\"} 1\0\n",
        "# HELP x a\\qb\n",
    };
    static const size_t bad_len_nul = 13; /* the NUL case by length */

    for (size_t i = 0; i < ST_ARRAY_LEN(bad); i++) {
        struct st_metrics_snapshot *s = (void *)1;
        struct st_err err = {0};
        size_t n = strlen(bad[i]);
        if (strcmp(bad[i], "x{a=\"1\"} 1") == 0)
            n = bad_len_nul;
        int rc = st_metrics_parse_text(bad[i], n, NULL, &s, &err);
        if (rc != ST_EPARSE)
            fail_msg("case %zu (%s): rc %d", i, bad[i], rc);
        assert_null(s);
        assert_non_null(strstr(err.msg, "metrics text"));
    }
}

static void
test_parse_caps(void **state)
{
    struct st_metrics_snapshot *s;
    struct st_buf b = ST_BUF_INIT(0);

    struct st_metrics_caps bytes = {.max_bytes = 4};
    assert_int_equal(parse_str("x 12\n", &bytes, &s), ST_ETOOBIG);

    struct st_metrics_caps line = {.max_line = 8};
    assert_int_equal(parse_str("x 1\nxyzxyzxyz 1\n", &line, &s), ST_ETOOBIG);

    struct st_metrics_caps series = {.max_series = 3};
    const char *four = "a 1\nb 1\nc{x=\"1\"} 1\nc{x=\"2\"} 1\n";
    assert_int_equal(st_metrics_parse_text(four, strlen(four), &series, &s, NULL), ST_ETOOBIG);
    series.max_series = 4;
    assert_int_equal(st_metrics_parse_text(four, strlen(four), &series, &s, NULL), 0);
    st_metrics_snapshot_free(s);

    struct st_metrics_caps fams = {.max_families = 2};
    assert_int_equal(parse_str("a 1\nb 1\n# HELP c x\n", &fams, &s), ST_ETOOBIG);

    struct st_metrics_caps labels = {.max_labels = 2};
    const char *three = "x{a=\"1\",b=\"2\",c=\"3\"} 1\n";
    assert_int_equal(st_metrics_parse_text(three, strlen(three), &labels, &s, NULL), ST_ETOOBIG);

    struct st_metrics_caps names = {.max_name = 3};
    assert_int_equal(parse_str("abcd 1\n", &names, &s), ST_ETOOBIG);
    assert_int_equal(parse_str("a{abcd=\"1\"} 1\n", &names, &s), ST_ETOOBIG);

    struct st_metrics_caps values = {.max_value = 3};
    assert_int_equal(parse_str("a{b=\"1234\"} 1\n", &values, &s), ST_ETOOBIG);
    assert_int_equal(parse_str("# HELP a 1234\n", &values, &s), ST_ETOOBIG);

    struct st_metrics_caps buckets = {.max_buckets = 2};
    assert_int_equal(st_buf_append_str(&b, "# TYPE h histogram\n"), 0);
    for (int i = 1; i <= 3; i++)
        assert_int_equal(st_buf_appendf(&b, "h_bucket{le=\"%d\"} %d\n", i, i), 0);
    assert_int_equal(st_metrics_parse_text(b.data, b.len, &buckets, &s, NULL), ST_ETOOBIG);
    st_buf_free(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_sum_exactly),
        cmocka_unit_test(test_concurrent_create),
        cmocka_unit_test(test_histogram_bounds),
        cmocka_unit_test(test_linkerd_bounds),
        cmocka_unit_test(test_gauge),
        cmocka_unit_test(test_family_errors),
        cmocka_unit_test(test_series_interning_and_caps),
        cmocka_unit_test(test_render_exact),
        cmocka_unit_test(test_linkerd_families_roundtrip),
        cmocka_unit_test(test_window_and_merge),
        cmocka_unit_test(test_window_gauges_and_new_series),
        cmocka_unit_test(test_quantile),
        cmocka_unit_test(test_history_window),
        cmocka_unit_test(test_parse_features),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_caps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
