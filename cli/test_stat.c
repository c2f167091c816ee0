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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fmt_columns),     cmocka_unit_test(test_fmt_weight),
        cmocka_unit_test(test_table_seed),      cmocka_unit_test(test_table_edges),
        cmocka_unit_test(test_authority),       cmocka_unit_test(test_admin_addr),
        cmocka_unit_test(test_promql_quote),    cmocka_unit_test(test_acc_merge_quantile),
        cmocka_unit_test(test_prom_vector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
