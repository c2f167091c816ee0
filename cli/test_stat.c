/* Unit tests of `strait stat`'s formatting, matching, merging and Prometheus decoding. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "stat_int.h"
#include "stat_record.h"

/* cmocka 1.1 has no assert_double_equal. */
#define assert_near(a, b, eps) assert_true(fabs((double)(a) - (double)(b)) <= (eps))

static void
test_fmt_columns(void **state)
{
    char b[STAT_CELL];

    stat_fmt_success(30, 30, b);
    assert_string_equal(b, "100.00%");
    stat_fmt_success(2, 3, b);
    assert_string_equal(b, "66.67%");
    stat_fmt_success(0, 7, b);
    assert_string_equal(b, "0.00%");
    stat_fmt_success(0, 0, b);
    assert_string_equal(b, "-");

    stat_fmt_rps(2.6, 156, b);
    assert_string_equal(b, "2.6rps");
    stat_fmt_rps(3.04, 1, b);
    assert_string_equal(b, "3.0rps");
    stat_fmt_rps(0.04, 1, b);
    assert_string_equal(b, "0.0rps");
    stat_fmt_rps(1.0, 0, b);
    assert_string_equal(b, "-");

    stat_fmt_latency(150, 1, b);
    assert_string_equal(b, "150ms");
    stat_fmt_latency(2.5, 1, b); /* Go's math.Round: half away from zero */
    assert_string_equal(b, "3ms");
    stat_fmt_latency(2.49, 1, b);
    assert_string_equal(b, "2ms");
    stat_fmt_latency(NAN, 1, b);
    assert_string_equal(b, "-");
    stat_fmt_latency(17, 0, b);
    assert_string_equal(b, "-");
    stat_fmt_latency(INFINITY, 1, b);
    assert_string_equal(b, "-");
}

static void
test_fmt_weight(void **state)
{
    char b[STAT_CELL];
    json_t *s = json_string("500m"), *i = json_integer(50), *n = json_null();

    stat_fmt_weight(s, b);
    assert_string_equal(b, "500m");
    stat_fmt_weight(i, b);
    assert_string_equal(b, "50");
    stat_fmt_weight(n, b);
    assert_string_equal(b, "-");
    stat_fmt_weight(NULL, b);
    assert_string_equal(b, "-");
    json_decref(s);
    json_decref(i);
    json_decref(n);
}

/* The seed's table, reproduced byte for byte. */
static void
test_table_seed(void **state)
{
    static const char *const hdr[] = {"NAME",        "APEX",        "LEAF",
                                      "WEIGHT",      "SUCCESS",     "RPS",
                                      "LATENCY_P50", "LATENCY_P95", "LATENCY_P99"};
    static const bool right[] = {false, false, false, true, true, true, true, true, true};
    struct stat_table t = {ST_ARRAY_LEN(hdr), hdr, right, NULL, 0};
    const char *r1[] = {"cluster-split", "backend-zero-svc", "backend-one-svc-remote", "500m",
                        "100.00%",       "2.6rps",           "150ms",
                        "195ms",         "199ms"};
    const char *r2[] = {"cluster-split", "backend-zero-svc", "backend-zero-svc", "500m", "100.00%",
                        "3.0rps",        "2ms",              "3ms",              "17ms"};
    struct st_buf out = ST_BUF_INIT(0);

    stat_table_add(&t, r1);
    stat_table_add(&t, r2);
    assert_int_equal(stat_table_render(&t, &out), 0);
    assert_string_equal(
        st_buf_cstr(&out),
        "NAME            APEX               LEAF                     WEIGHT   SUCCESS      RPS   "
        "LATENCY_P50   LATENCY_P95   LATENCY_P99\n"
        "cluster-split   backend-zero-svc   backend-one-svc-remote     500m   100.00%   2.6rps   "
        "      150ms         195ms         199ms\n"
        "cluster-split   backend-zero-svc   backend-zero-svc           500m   100.00%   3.0rps   "
        "        2ms           3ms          17ms\n");
    stat_table_free(&t);
    st_buf_free(&out);
}

/* A left-aligned last column leaves no trailing spaces; an empty table is its header. */
static void
test_table_edges(void **state)
{
    static const char *const hdr[] = {"NAME", "MESHED"};
    static const bool right[] = {false, false};
    struct stat_table t = {2, hdr, right, NULL, 0};
    struct st_buf out = ST_BUF_INIT(0);
    const char *r[] = {"a-very-long-name", "1/1"};

    assert_int_equal(stat_table_render(&t, &out), 0);
    assert_string_equal(st_buf_cstr(&out), "NAME   MESHED\n");
    st_buf_reset(&out);
    stat_table_add(&t, r);
    assert_int_equal(stat_table_render(&t, &out), 0);
    assert_string_equal(st_buf_cstr(&out), "NAME               MESHED\n"
                                           "a-very-long-name   1/1\n");
    stat_table_free(&t);
    /* A cap too small fails cleanly. */
    struct st_buf small = ST_BUF_INIT(4);
    struct stat_table t2 = {2, hdr, right, NULL, 0};
    assert_int_equal(stat_table_render(&t2, &small), ST_ETOOBIG);
    assert_int_equal(small.len, 0);
    st_buf_free(&small);
    st_buf_free(&out);
}

static void
test_authority(void **state)
{
    const char *d = "cluster.local";

    assert_true(stat_authority_matches("web.ns.svc.cluster.local:8888", "web", "ns", d, false));
    assert_true(stat_authority_matches("web.ns.svc.cluster.local.:80", "web", "ns", d, false));
    assert_true(stat_authority_matches("web.ns.svc.cluster.local", "web", "ns", d, false));
    assert_true(stat_authority_matches("web.ns.svc", "web", "ns", d, false));
    assert_true(stat_authority_matches("web.ns:8888", "web", "ns", d, false));
    assert_true(stat_authority_matches("web:8888", "web", "ns", d, true));
    assert_true(stat_authority_matches("web", "web", "ns", d, true));
    /* The bare name belongs to the client's own namespace. */
    assert_false(stat_authority_matches("web:8888", "web", "ns", d, false));
    assert_false(stat_authority_matches("web2.ns:8888", "web", "ns", d, true));
    assert_false(stat_authority_matches("web.ns2:8888", "web", "ns", d, true));
    assert_false(stat_authority_matches("web.ns.svc.other.local", "web", "ns", d, true));
    assert_false(stat_authority_matches("web.ns.svc.cluster.local:", "web", "ns", d, true));
    assert_false(stat_authority_matches("web.ns:80x", "web", "ns", d, true));
    assert_false(stat_authority_matches("we", "web", "ns", d, true));
    assert_false(stat_authority_matches(NULL, "web", "ns", d, true));
    assert_false(stat_authority_matches("x", "", "ns", d, true));
}

static void
test_admin_addr(void **state)
{
    assert_true(stat_admin_addr_valid("127.1.1.4:4191"));
    assert_true(stat_admin_addr_valid("localhost:1"));
    assert_true(stat_admin_addr_valid("[::1]:4191"));
    assert_false(stat_admin_addr_valid("127.1.1.4"));
    assert_false(stat_admin_addr_valid("127.1.1.4:0"));
    assert_false(stat_admin_addr_valid("127.1.1.4:65536"));
    assert_false(stat_admin_addr_valid("a/b:80"));
    assert_false(stat_admin_addr_valid("a@b:80"));
    assert_false(stat_admin_addr_valid(":80"));
    assert_false(stat_admin_addr_valid("[::1:80"));
    assert_false(stat_admin_addr_valid("[::1/x]:80"));
    assert_false(stat_admin_addr_valid(NULL));
}

static void
test_promql_quote(void **state)
{
    struct st_buf b = ST_BUF_INIT(0);

    assert_int_equal(stat_promql_quote("web.ns", false, &b), 0);
    assert_string_equal(st_buf_cstr(&b), "web.ns");
    st_buf_reset(&b);
    assert_int_equal(stat_promql_quote("web.ns", true, &b), 0);
    assert_string_equal(st_buf_cstr(&b), "web\\\\.ns");
    st_buf_reset(&b);
    assert_int_equal(stat_promql_quote("a\"b\\c\n", false, &b), 0);
    assert_string_equal(st_buf_cstr(&b), "a\\\"b\\\\c\\n");
    st_buf_reset(&b);
    assert_int_equal(stat_promql_quote("a\\", true, &b), 0);
    assert_string_equal(st_buf_cstr(&b), "a\\\\\\\\");
    st_buf_free(&b);
}

/* Two proxies' buckets are added; the quantile comes from the sum (computed by hand). */
static void
test_acc_merge_quantile(void **state)
{
    struct st_metrics_bucket a[] = {{1, 0}, {2, 10}, {3, 10}, {INFINITY, 10}};
    struct st_metrics_bucket b[] = {{1, 0}, {2, 0}, {3, 30}, {INFINITY, 30}};
    struct st_metrics_bucket c[] = {{1, 0}, {5, 0}, {INFINITY, 0}};
    struct stat_acc acc = {0};

    assert_true(isnan(stat_acc_quantile(&acc, 0)));
    assert_int_equal(stat_acc_add_buckets(&acc, a, 4), 0);
    assert_int_equal(stat_acc_add_buckets(&acc, b, 4), 0);
    /* 40 observations: 10 in (1,2], 30 in (2,3]. p50: rank 20 -> 2 + (20-10)/30 = 2.333. */
    assert_near(stat_acc_quantile(&acc, 0), 2.0 + 10.0 / 30.0, 1e-9);
    /* p95: rank 38 -> 2 + 28/30; p99: rank 39.6 -> 2 + 29.6/30. */
    assert_near(stat_acc_quantile(&acc, 1), 2.0 + 28.0 / 30.0, 1e-9);
    assert_near(stat_acc_quantile(&acc, 2), 2.0 + 29.6 / 30.0, 1e-9);
    assert_true(isnan(stat_acc_quantile(&acc, 3)));
    /* Other bounds are refused and change nothing. */
    assert_int_equal(stat_acc_add_buckets(&acc, c, 3), ST_ECONFLICT);
    assert_true(acc.conflict);
    assert_near(acc.buckets[3].count, 40, 0);
    stat_acc_free(&acc);
    assert_null(acc.buckets);
}

static int n_results;
static double sum_results;

static void
count_result(const json_t *metric, double v, void *data)
{
    n_results++;
    sum_results += v;
    const char *svc = json_string_value(json_object_get(metric, "dst_service"));
    if (data != NULL)
        assert_non_null(svc);
}

static void
test_prom_vector(void **state)
{
    struct st_err err = {0};
    const char *ok = "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
                     "{\"metric\":{\"dst_service\":\"a\"},\"value\":[1.5,\"30\"]},"
                     "{\"metric\":{\"dst_service\":\"b\"},\"value\":[1.5,\"NaN\"]},"
                     "{\"metric\":{\"dst_service\":\"c\"},\"value\":[1.5,\"12.5\"]}]}}";
    n_results = 0;
    sum_results = 0;
    assert_int_equal(stat_prom_parse_vector(ok, strlen(ok), count_result, "x", &err), 3);
    assert_int_equal(n_results, 3);
    assert_true(isnan(sum_results));

    const char *empty = "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}";
    assert_int_equal(stat_prom_parse_vector(empty, strlen(empty), NULL, NULL, &err), 0);

    const char *bad[] = {
        "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"parse error at char 3\"}",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[]}}",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{},"
        "\"value\":[1,\"x1\"]}]}}",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{},"
        "\"value\":[1]}]}}",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{"
        "\"a\":1},\"value\":[1,\"1\"]}]}}",
        "{\"status\":\"success\"",
        "[]",
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(bad); i++) {
        st_err_clear(&err);
        assert_true(stat_prom_parse_vector(bad[i], strlen(bad[i]), NULL, NULL, &err) < 0);
        assert_true(err.msg[0] != '\0');
    }
    st_err_clear(&err);
    assert_int_equal(stat_prom_parse_vector(bad[0], strlen(bad[0]), NULL, NULL, &err), ST_EPROTO);
    assert_string_equal(err.msg, "prometheus: parse error at char 3");
}


/* ---- records of finished exec clients -------------------------------------------- */

/* A window of an exec proxy: outbound responses to two leaves, one inbound series, one idle. */
static struct st_metrics_snapshot *
rec_window(int one, int two, int le5_one, int le10_two)
{
    char text[4096];
    struct st_metrics_snapshot *s = NULL;
    struct st_err err = {0};

    snprintf(text, sizeof(text),
             "# TYPE request_total counter\n"
             "request_total{direction=\"outbound\",dst_service=\"one\"} %d\n"
             "# TYPE response_total counter\n"
             "response_total{authority=\"apex:80\",classification=\"success\","
             "direction=\"outbound\",dst_service=\"one\",status_code=\"200\"} %d\n"
             "response_total{authority=\"apex:80\",classification=\"failure\","
             "direction=\"outbound\",dst_service=\"two\",status_code=\"502\"} %d\n"
             "response_total{authority=\"apex:80\",classification=\"success\","
             "direction=\"outbound\",dst_service=\"idle\",status_code=\"200\"} 0\n"
             "response_total{classification=\"success\",direction=\"inbound\","
             "status_code=\"200\"} 99\n"
             "# TYPE response_latency_ms histogram\n"
             "response_latency_ms_bucket{direction=\"outbound\",dst_service=\"one\",le=\"5\"} %d\n"
             "response_latency_ms_bucket{direction=\"outbound\",dst_service=\"one\",le=\"10\"} %d\n"
             "response_latency_ms_bucket{direction=\"outbound\",dst_service=\"one\","
             "le=\"+Inf\"} %d\n"
             "response_latency_ms_sum{direction=\"outbound\",dst_service=\"one\"} 1\n"
             "response_latency_ms_count{direction=\"outbound\",dst_service=\"one\"} %d\n"
             "response_latency_ms_bucket{direction=\"outbound\",dst_service=\"two\",le=\"5\"} 0\n"
             "response_latency_ms_bucket{direction=\"outbound\",dst_service=\"two\",le=\"10\"} %d\n"
             "response_latency_ms_bucket{direction=\"outbound\",dst_service=\"two\","
             "le=\"+Inf\"} %d\n"
             "response_latency_ms_sum{direction=\"outbound\",dst_service=\"two\"} 1\n"
             "response_latency_ms_count{direction=\"outbound\",dst_service=\"two\"} %d\n",
             one, one, two, le5_one, one, one, one, le10_two, two, two);
    assert_int_equal(st_metrics_parse_text(text, strlen(text), NULL, &s, &err), 0);
    return s;
}

static double
rec_count(const struct st_metrics_snapshot *s, const char *leaf)
{
    const struct st_metrics_match m[] = {{"direction", "outbound"}, {"dst_service", leaf}};
    const struct st_metrics_fam *f = st_metrics_snapshot_find(s, "response_total");
    return f != NULL ? st_metrics_fam_sum(f, m, ST_ARRAY_LEN(m)) : -1;
}

static void
rec_make(struct stat_record *r)
{
    memset(r, 0, sizeof(*r));
    r->client = st_xstrdup("_exec-42");
    r->ns = st_xstrdup("mc-test");
    r->identity = st_xstrdup("default.mc-test.serviceaccount.identity.strait.cluster.local");
    r->start_ms = 1000000;
    r->end_ms = 1025000;
    r->period_ms = 10000;
    /* Added out of order: the record keeps them sorted. */
    assert_int_equal(stat_record_add(r, 1011000, rec_window(20, 4, 20, 4)), 0);
    assert_int_equal(stat_record_add(r, 1000500, rec_window(60, 10, 50, 10)), 0);
    assert_int_equal(stat_record_add(r, 1021000, rec_window(5, 0, 5, 0)), 0);
    assert_int_equal(stat_record_add(r, 1021000, rec_window(1, 1, 1, 1)), ST_ECONFLICT);
}

static void
test_record_roundtrip(void **state)
{
    struct stat_record r, back = {0};
    struct st_buf out = ST_BUF_INIT(STAT_RECORD_MAX_BYTES);
    struct st_err err = {0};

    rec_make(&r);
    assert_int_equal(stat_record_encode(&r, &out), 3);
    /* Only what stat ts reads is kept: outbound responses with traffic. */
    assert_null(strstr(out.data, "inbound"));
    assert_null(strstr(out.data, "request_total"));
    assert_null(strstr(out.data, "idle"));
    assert_int_equal(stat_record_parse(out.data, out.len, &back, &err), 0);
    assert_string_equal(back.client, "_exec-42");
    assert_string_equal(back.ns, "mc-test");
    assert_string_equal(back.identity, r.identity);
    assert_int_equal(back.start_ms, 1000000);
    assert_int_equal(back.end_ms, 1025000);
    assert_int_equal(back.n_wins, 3);
    assert_int_equal(back.wins[0].from_ms, 1000500);
    assert_int_equal(back.wins[2].from_ms, 1021000);
    assert_near(rec_count(back.wins[0].snap, "one"), 60, 0);
    assert_near(rec_count(back.wins[0].snap, "two"), 10, 0);
    assert_near(rec_count(back.wins[2].snap, "two"), 0, 0);
    assert_int_equal(back.wins[1].snap->time_ms, 1025000 - 1011000);
    const struct st_metrics_fam *h = st_metrics_snapshot_find(back.wins[0].snap,
                                                              "response_latency_ms");
    assert_non_null(h);
    assert_int_equal(h->type, ST_METRICS_HISTOGRAM);
    assert_int_equal(h->n_series, 2);
    stat_record_free(&back);

    /* A cap that fits only the oldest windows drops the newest first. */
    struct st_buf small = ST_BUF_INIT(out.len - 200);
    int kept = stat_record_encode(&r, &small);
    assert_true(kept >= 1 && kept < 3);
    assert_int_equal(stat_record_parse(small.data, small.len, &back, &err), 0);
    assert_int_equal(back.wins[0].from_ms, 1000500);
    stat_record_free(&back);
    struct st_buf tiny = ST_BUF_INIT(64);
    assert_int_equal(stat_record_encode(&r, &tiny), ST_ETOOBIG);
    assert_int_equal(tiny.len, 0);

    st_buf_free(&tiny);
    st_buf_free(&small);
    st_buf_free(&out);
    stat_record_free(&r);
    assert_null(r.wins);
}

static void
test_record_window_cut(void **state)
{
    struct stat_record r;
    uint64_t len = 0;

    rec_make(&r); /* windows from 1000500, 1011000, 1021000 to 1025000 */
    /* A window reaching before the client's first record: its whole life. */
    const struct st_metrics_snapshot *w = stat_record_window(&r, 1030000, 60000, &len);
    assert_ptr_equal(w, r.wins[0].snap);
    assert_int_equal(len, 1030000 - 1000500);
    /* Cut as a live proxy's history does: the newest record at least the window old. */
    assert_ptr_equal(stat_record_window(&r, 1030000, 10000, &len), r.wins[1].snap);
    assert_int_equal(len, 19000);
    assert_ptr_equal(stat_record_window(&r, 1030000, 9000, &len), r.wins[2].snap);
    assert_int_equal(len, 9000);
    assert_ptr_equal(stat_record_window(&r, 1030000, 19000, &len), r.wins[1].snap);
    /* The client ended before the window began: nothing. */
    assert_null(stat_record_window(&r, 1030000, 5000, &len));
    assert_null(stat_record_window(&r, 1030000 + 3600000, 60000, &len));
    /* A window long enough reaches it again. */
    assert_ptr_equal(stat_record_window(&r, 1030000 + 3600000, 3700000, &len), r.wins[0].snap);
    stat_record_free(&r);
    struct stat_record empty = {0};
    assert_null(stat_record_window(&empty, 10, 5, &len));
}

/* Two finished clients and their windows merge exactly: counts summed, buckets added. */
static void
test_record_merge(void **state)
{
    struct stat_record a, b;
    struct stat_acc acc = {0};
    uint64_t len;

    rec_make(&a);
    rec_make(&b);
    const struct st_metrics_snapshot *wa = stat_record_window(&a, 1030000, 60000, &len);
    const struct st_metrics_snapshot *wb = stat_record_window(&b, 1030000, 9000, &len);
    const struct st_metrics_fam *fa = st_metrics_snapshot_find(wa, "response_latency_ms");
    const struct st_metrics_fam *fb = st_metrics_snapshot_find(wb, "response_latency_ms");
    const struct st_metrics_label one[] = {{"direction", "outbound"}, {"dst_service", "one"}};
    const struct st_metrics_sample *sa = st_metrics_fam_find(fa, one, 2);
    const struct st_metrics_sample *sb = st_metrics_fam_find(fb, one, 2);
    assert_non_null(sa);
    assert_non_null(sb);
    assert_int_equal(stat_acc_add_buckets(&acc, sa->buckets, sa->n_buckets), 0);
    assert_int_equal(stat_acc_add_buckets(&acc, sb->buckets, sb->n_buckets), 0);
    /* 65 observations: 55 in [0,5], 10 in (5,10]. p50: rank 32.5 -> 5 x 32.5/55. */
    assert_near(acc.buckets[acc.n_buckets - 1].count, 65, 0);
    assert_near(stat_acc_quantile(&acc, 0), 5.0 * 32.5 / 55.0, 1e-9);
    /* p95: rank 61.75 -> 5 + 5 x 6.75/10. */
    assert_near(stat_acc_quantile(&acc, 1), 5.0 + 5.0 * 6.75 / 10.0, 1e-9);
    stat_acc_free(&acc);
    stat_record_free(&a);
    stat_record_free(&b);
}

static void
test_record_damaged(void **state)
{
    static const char head[] = "{\"kind\":\"ExecStats\",\"version\":1,\"client\":\"_exec-1\","
                               "\"namespace\":\"ns\",\"periodMs\":10000,";
    const char *bad[] = {
        "",
        "not json",
        "{\"kind\":\"ExecStats\",\"version\":1",
        "[]",
        "{\"kind\":\"Other\",\"version\":1}",
        "{\"kind\":\"ExecStats\",\"version\":2}",
        "{\"kind\":\"ExecStats\",\"version\":1,\"client\":\"_exec-1\","
        "\"namespace\":\"Not_A_Label\","
        "\"startMs\":1,\"endMs\":2,\"periodMs\":1,\"windows\":[{\"fromMs\":1,\"metrics\":\"\"}]}",
        "startMs\":5000,\"endMs\":1000,\"windows\":[{\"fromMs\":1000,\"metrics\":\"\"}]}",
        "startMs\":1000,\"endMs\":5000,\"windows\":[]}",
        "startMs\":1000,\"endMs\":5000,\"windows\":[{\"fromMs\":6000,\"metrics\":\"\"}]}",
        "startMs\":1000,\"endMs\":5000,\"windows\":[{\"fromMs\":3000,\"metrics\":\"\"},"
        "{\"fromMs\":2000,\"metrics\":\"\"}]}",
        "startMs\":1000,\"endMs\":5000,\"windows\":[{\"fromMs\":2000,\"metrics\":\"x{\"}]}",
        "startMs\":1000,\"endMs\":5000,\"windows\":[{\"fromMs\":2000}]}",
        "startMs\":-1,\"endMs\":5000,\"windows\":[{\"fromMs\":2000,\"metrics\":\"\"}]}",
        "startMs\":1000,\"endMs\":\"5000\",\"windows\":[{\"fromMs\":2000,\"metrics\":\"\"}]}",
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(bad); i++) {
        struct stat_record r;
        struct st_err err = {0};
        char *text = bad[i][0] == 's' ? st_xasprintf("%s\"%s", head, bad[i]) : st_xstrdup(bad[i]);
        memset(&r, 0xff, sizeof(r));
        assert_true(stat_record_parse(text, strlen(text), &r, &err) < 0);
        assert_true(err.msg[0] != '\0');
        assert_null(r.wins);
        assert_null(r.client);
        free(text);
    }
    /* The good form of those lines parses. */
    struct stat_record r = {0};
    struct st_err err = {0};
    char *ok = st_xasprintf("%s\"startMs\":1000,\"endMs\":5000,\"windows\":[{\"fromMs\":2000,"
                            "\"metrics\":\"\"}]}", head);
    assert_int_equal(stat_record_parse(ok, strlen(ok), &r, &err), 0);
    assert_int_equal(r.n_wins, 1);
    stat_record_free(&r);
    free(ok);

    /* Too many windows. */
    struct st_buf b = ST_BUF_INIT(0);
    assert_int_equal(st_buf_appendf(&b, "%s\"startMs\":0,\"endMs\":100000,\"windows\":[", head), 0);
    for (int i = 0; i <= STAT_RECORD_MAX_WINDOWS; i++)
        assert_int_equal(st_buf_appendf(&b, "%s{\"fromMs\":%d,\"metrics\":\"\"}", i ? "," : "", i),
                         0);
    assert_int_equal(st_buf_append_str(&b, "]}"), 0);
    assert_true(stat_record_parse(b.data, b.len, &r, &err) < 0);
    assert_null(r.wins);
    st_buf_free(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fmt_columns),     cmocka_unit_test(test_fmt_weight),
        cmocka_unit_test(test_table_seed),      cmocka_unit_test(test_table_edges),
        cmocka_unit_test(test_authority),       cmocka_unit_test(test_admin_addr),
        cmocka_unit_test(test_promql_quote),    cmocka_unit_test(test_acc_merge_quantile),
        cmocka_unit_test(test_prom_vector),     cmocka_unit_test(test_record_roundtrip),
        cmocka_unit_test(test_record_window_cut), cmocka_unit_test(test_record_merge),
        cmocka_unit_test(test_record_damaged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
