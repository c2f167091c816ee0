/*
 * Unit tests for the proxy's metrics: label strings resolved into lib/metrics
 * series, threads summed at render, Linkerd's label sets and buckets.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#include "stats.h"

/* The value of the one sample of <fam> with exactly <labels>, or -1. */
static double
sample(const struct st_metrics_snapshot *snap, const char *fam,
       const struct st_metrics_label *labels, size_t n)
{
    const struct st_metrics_fam *f = st_metrics_snapshot_find(snap, fam);
    const struct st_metrics_sample *s = f != NULL ? st_metrics_fam_find(f, labels, n) : NULL;

    if (s == NULL)
        return -1;
    return f->type == ST_METRICS_HISTOGRAM ? s->count : s->value;
}

#define L(n, v)                                                                                    \
    {                                                                                              \
        (char *)(n), (char *)(v)                                                                   \
    }

static void
test_http_families(void **state)
{
    struct stats_registry *r = stats_registry_new(2);
    struct stats *a = stats_thread(r), *b = stats_thread(r);
    const char *l = "direction=\"outbound\",authority=\"x:80\",dst_namespace=\"ns\","
                    "dst_service=\"x\",tls=\"true\",server_id=\"x.ns.id\"";

    ST_UNUSED(state);
    assert_int_equal(stats_shard(a), 0);
    assert_int_equal(stats_shard(b), 1);
    /* Each thread has its own entry for a label string, the same on every request. */
    struct stats_route *ra = stats_request(a, l), *rb = stats_request(b, l);
    assert_non_null(ra);
    assert_non_null(rb);
    assert_ptr_not_equal(ra, rb);
    assert_ptr_equal(stats_request(b, l), rb);
    /* Counting through the entry and by the label string lands in the same series. */
    stats_response_route(a, ra, l, 200, true, -1, 3);
    stats_response_route(b, rb, l, 200, true, -1, 70);
    stats_response(b, l, 503, false, 0);
    stats_response(b, l, 200, true, 5);

    struct st_metrics_snapshot *snap = st_metrics_snapshot_take(stats_metrics(r));
    struct st_metrics_label req[] = {
        L("authority", "x:80"), L("direction", "outbound"), L("dst_namespace", "ns"),
        L("dst_service", "x"),  L("server_id", "x.ns.id"),  L("tls", "true"),
    };
    assert_true(sample(snap, "request_total", req, 6) == 3);

    struct st_metrics_label ok[8], fail[8], lat[7];
    memcpy(ok, req, sizeof(req));
    ok[6] = (struct st_metrics_label)L("status_code", "200");
    ok[7] = (struct st_metrics_label)L("classification", "success");
    assert_true(sample(snap, "response_total", ok, 8) == 3);
    memcpy(fail, req, sizeof(req));
    fail[6] = (struct st_metrics_label)L("status_code", "503");
    fail[7] = (struct st_metrics_label)L("classification", "failure");
    assert_true(sample(snap, "response_total", fail, 8) == 1);

    /* Latency carries status_code but no classification. */
    memcpy(lat, req, sizeof(req));
    lat[6] = (struct st_metrics_label)L("status_code", "200");
    assert_true(sample(snap, "response_latency_ms", lat, 7) == 3);
    assert_true(sample(snap, "response_latency_ms", ok, 8) == -1);
    const struct st_metrics_fam *f = st_metrics_snapshot_find(snap, "response_latency_ms");
    const struct st_metrics_sample *h = st_metrics_fam_find(f, lat, 7);
    assert_non_null(h);
    assert_true(h->sum == 78);
    /* Buckets are cumulative with inclusive bounds: 3 <= 3, 5 <= 5, 70 <= 100. */
    for (size_t i = 0; i < h->n_buckets; i++) {
        if (h->buckets[i].le == 3)
            assert_true(h->buckets[i].count == 1);
        if (h->buckets[i].le == 5)
            assert_true(h->buckets[i].count == 2);
        if (h->buckets[i].le == 50)
            assert_true(h->buckets[i].count == 2);
        if (h->buckets[i].le == 100)
            assert_true(h->buckets[i].count == 3);
    }
    assert_int_equal(h->n_buckets, ST_METRICS_LATENCY_N_BOUNDS + 1);
    st_metrics_snapshot_free(snap);
    stats_registry_free(r);
}

/*
 * gRPC responses: response_total carries grpc_status_code beside status_code
 * and classification; response_latency_ms stays one series per HTTP status.
 */
static void
test_grpc_status_code(void **state)
{
    struct stats_registry *r = stats_registry_new(1);
    struct stats *a = stats_thread(r);
    const char *l = "direction=\"inbound\",authority=\"g:50051\",tls=\"true\",client_id=\"c\"";

    ST_UNUSED(state);
    stats_response_grpc(a, l, 200, true, 0, 2);
    stats_response_grpc(a, l, 200, true, 0, 3);
    stats_response_grpc(a, l, 200, false, 5, 4);
    stats_response_grpc(a, l, 200, false, 99, 1); /* not a code gRPC defines: UNKNOWN */
    stats_response_grpc(a, l, 504, false, 4, 7);  /* the proxy's own DEADLINE_EXCEEDED */
    stats_response_grpc(a, l, 200, true, -1, 1);  /* no grpc-status: the label is absent */
    stats_response(a, l, 200, true, 1);           /* the same series */

    struct st_metrics_snapshot *snap = st_metrics_snapshot_take(stats_metrics(r));
    struct st_metrics_label base[] = {
        L("authority", "g:50051"),
        L("client_id", "c"),
        L("direction", "inbound"),
        L("tls", "true"),
    };
    struct st_metrics_label ok[7], nf[7], unk[7], dl[7], plain[6], lat[5];
    memcpy(ok, base, sizeof(base));
    ok[4] = (struct st_metrics_label)L("status_code", "200");
    ok[5] = (struct st_metrics_label)L("classification", "success");
    ok[6] = (struct st_metrics_label)L("grpc_status_code", "0");
    assert_true(sample(snap, "response_total", ok, 7) == 2);
    memcpy(nf, ok, sizeof(ok));
    nf[5] = (struct st_metrics_label)L("classification", "failure");
    nf[6] = (struct st_metrics_label)L("grpc_status_code", "5");
    assert_true(sample(snap, "response_total", nf, 7) == 1);
    memcpy(unk, nf, sizeof(nf));
    unk[6] = (struct st_metrics_label)L("grpc_status_code", "2");
    assert_true(sample(snap, "response_total", unk, 7) == 1);
    memcpy(dl, nf, sizeof(nf));
    dl[4] = (struct st_metrics_label)L("status_code", "504");
    dl[6] = (struct st_metrics_label)L("grpc_status_code", "4");
    assert_true(sample(snap, "response_total", dl, 7) == 1);
    memcpy(plain, ok, sizeof(base) + 2 * sizeof(ok[0]));
    assert_true(sample(snap, "response_total", plain, 6) == 2);
    /* No series with a grpc_status_code the registry was never given. */
    ok[6] = (struct st_metrics_label)L("grpc_status_code", "99");
    assert_true(sample(snap, "response_total", ok, 7) == -1);

    memcpy(lat, base, sizeof(base));
    lat[4] = (struct st_metrics_label)L("status_code", "200");
    assert_true(sample(snap, "response_latency_ms", lat, 5) == 6);
    lat[4] = (struct st_metrics_label)L("status_code", "504");
    assert_true(sample(snap, "response_latency_ms", lat, 5) == 1);
    st_metrics_snapshot_free(snap);
    stats_registry_free(r);
}

static void
test_grpc_status_parse(void **state)
{
    ST_UNUSED(state);
    assert_int_equal(stats_grpc_status(NULL), -1);
    assert_int_equal(stats_grpc_status("0"), 0);
    assert_int_equal(stats_grpc_status("5"), 5);
    assert_int_equal(stats_grpc_status("16"), 16);
    /* Whatever a peer sends beyond the codes gRPC defines reads as UNKNOWN. */
    assert_int_equal(stats_grpc_status("17"), 2);
    assert_int_equal(stats_grpc_status("-1"), 2);
    assert_int_equal(stats_grpc_status(""), 2);
    assert_int_equal(stats_grpc_status(" 0"), 2);
    assert_int_equal(stats_grpc_status("0x1"), 2);
    assert_int_equal(stats_grpc_status("99999999999999999999999"), 2);
}

static void
test_tcp_families_and_no_identity(void **state)
{
    struct stats_registry *r = stats_registry_new(1);
    struct stats *a = stats_thread(r);
    struct st_buf out = ST_BUF_INIT(0);

    ST_UNUSED(state);
    struct stats_series *t = stats_tcp(a, "direction=\"outbound\",peer=\"src\",tls=\"false\"");
    assert_ptr_equal(t, stats_tcp(a, "direction=\"outbound\",peer=\"src\",tls=\"false\""));
    stats_tcp_open(t);
    stats_tcp_open(t);
    stats_tcp_close(t, 5);
    stats_tcp_bytes(t, 100, 7);
    struct stats_series *m =
        stats_tcp(a, "direction=\"inbound\",peer=\"src\",tls=\"true\",client_id=\"a\\\"b\"");
    stats_tcp_open(m);
    stats_tcp_open(NULL); /* accepted and ignored */
    assert_int_equal(stats_render(r, &out), 0);
    const char *s = st_buf_cstr(&out);
    const char *plain = "{direction=\"outbound\",no_tls_reason=\"loopback\",peer=\"src\","
                        "tls=\"no_identity\"}";
    char want[512];
    snprintf(want, sizeof(want), "tcp_open_total%s 2\n", plain);
    assert_non_null(strstr(s, want));
    snprintf(want, sizeof(want), "tcp_close_total%s 1\n", plain);
    assert_non_null(strstr(s, want));
    snprintf(want, sizeof(want), "tcp_open_connections%s 1\n", plain);
    assert_non_null(strstr(s, want));
    snprintf(want, sizeof(want), "tcp_read_bytes_total%s 100\n", plain);
    assert_non_null(strstr(s, want));
    snprintf(want, sizeof(want), "tcp_write_bytes_total%s 7\n", plain);
    assert_non_null(strstr(s, want));
    snprintf(want, sizeof(want), "tcp_connection_duration_ms_count%s 1\n", plain);
    assert_non_null(strstr(s, want));
    /* Escaped values survive the round trip through the label string. */
    assert_non_null(strstr(s, "tcp_open_total{client_id=\"a\\\"b\",direction=\"inbound\","
                              "peer=\"src\",tls=\"true\"} 1\n"));
    assert_non_null(strstr(s, "# TYPE response_latency_ms histogram\n"));
    assert_null(strstr(s, "tls=\"false\""));
    st_buf_free(&out);
    stats_registry_free(r);
}

static void
test_malformed_labels_count_what_parsed(void **state)
{
    struct stats_registry *r = stats_registry_new(1);
    struct stats *a = stats_thread(r);
    struct st_buf out = ST_BUF_INIT(0);

    ST_UNUSED(state);
    stats_request(a, "direction=\"inbound\",authority=\"unterminated");
    stats_request(a, "direction=\"inbound\",bogus=\"x\",authority=\"a\"");
    stats_request(a, "");
    assert_int_equal(stats_render(r, &out), 0);
    const char *s = st_buf_cstr(&out);
    assert_non_null(strstr(s, "request_total{direction=\"inbound\"} 1\n"));
    assert_non_null(strstr(s, "request_total{authority=\"a\",direction=\"inbound\"} 1\n"));
    assert_non_null(strstr(s, "request_total 1\n"));
    st_buf_free(&out);
    stats_registry_free(r);
}

static void
test_escape(void **state)
{
    char *e = stats_escape("a\"b\\c\nd");

    ST_UNUSED(state);
    assert_string_equal(e, "a\\\"b\\\\c\\nd");
    free(e);
    e = stats_escape(NULL);
    assert_string_equal(e, "");
    free(e);
}

/*
 * Many label strings: the thread caches grow from a few buckets; every
 * string still maps to its own series, before and after the tables double,
 * and the TCP handle of a string stays the same.
 */
static void
test_many_label_strings(void **state)
{
    struct stats_registry *r = stats_registry_new(1);
    struct stats *a = stats_thread(r);
    struct stats_series *first[300];
    struct stats_route *route[300];
    char l[128];

    ST_UNUSED(state);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 300; i++) {
            snprintf(l, sizeof(l), "direction=\"outbound\",authority=\"s%d:80\",tls=\"true\"", i);
            for (int k = 0; k <= i % 3; k++) {
                struct stats_route *x = stats_request(a, l);
                assert_non_null(x);
                if (round == 0 && k == 0)
                    route[i] = x;
                else
                    assert_ptr_equal(route[i], x);
            }
            struct stats_series *t = stats_tcp(a, l);
            assert_non_null(t);
            if (round == 0)
                first[i] = t;
            else
                assert_ptr_equal(first[i], t);
            stats_tcp_open(t);
        }
    }

    struct st_metrics_snapshot *snap = st_metrics_snapshot_take(stats_metrics(r));
    for (int i = 0; i < 300; i++) {
        char auth[32];
        snprintf(auth, sizeof(auth), "s%d:80", i);
        struct st_metrics_label req[] = {L("authority", auth), L("direction", "outbound"),
                                         L("tls", "true")};
        assert_true(sample(snap, "request_total", req, 3) == 3 * (i % 3 + 1));
        assert_true(sample(snap, "tcp_open_total", req, 3) == 3);
    }
    st_metrics_snapshot_free(snap);
    stats_registry_free(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_families),
        cmocka_unit_test(test_grpc_status_code),
        cmocka_unit_test(test_grpc_status_parse),
        cmocka_unit_test(test_tcp_families_and_no_identity),
        cmocka_unit_test(test_malformed_labels_count_what_parsed),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_many_label_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
