/* Unit tests for the metrics: per-thread series summed at render, Linkerd's buckets. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "stats.h"

static void
test_render_sums_threads(void **state)
{
    struct stats_registry *r = stats_registry_new();
    struct stats *a = stats_thread(r), *b = stats_thread(r);
    struct st_buf out = ST_BUF_INIT(0);
    const char *l = "direction=\"outbound\",authority=\"x:80\",tls=\"true\"";

    stats_request(a, l);
    stats_request(b, l);
    stats_request(b, l);
    stats_response(a, l, 200, true, 3);
    stats_response(b, l, 200, true, 70);
    stats_response(b, l, 503, false, 0);
    struct stats_series *t = stats_tcp(a, "direction=\"inbound\",peer=\"src\"");
    stats_tcp_open(t);
    stats_tcp_open(t);
    stats_tcp_close(t, 5);
    stats_tcp_bytes(t, 100, 7);
    assert_int_equal(stats_render(r, &out), 0);
    const char *s = st_buf_cstr(&out);
    assert_non_null(strstr(s, "request_total{direction=\"outbound\",authority=\"x:80\","
                              "tls=\"true\"} 3\n"));
    assert_non_null(strstr(s, "response_total{direction=\"outbound\",authority=\"x:80\","
                              "tls=\"true\",status_code=\"200\",classification=\"success\"} 2\n"));
    assert_non_null(strstr(s, "status_code=\"503\",classification=\"failure\"} 1\n"));
    assert_non_null(strstr(s, "classification=\"success\",le=\"3\"} 1\n"));
    assert_non_null(strstr(s, "classification=\"success\",le=\"50\"} 1\n"));
    assert_non_null(strstr(s, "classification=\"success\",le=\"100\"} 2\n"));
    assert_non_null(strstr(s, "classification=\"success\",le=\"+Inf\"} 2\n"));
    assert_non_null(strstr(s, "response_latency_ms_sum{direction=\"outbound\",authority=\"x:80\","
                              "tls=\"true\",status_code=\"200\",classification=\"success\"} 73\n"));
    assert_non_null(strstr(s, "tcp_open_total{direction=\"inbound\",peer=\"src\"} 2\n"));
    assert_non_null(strstr(s, "tcp_close_total{direction=\"inbound\",peer=\"src\"} 1\n"));
    assert_non_null(strstr(s, "tcp_open_connections{direction=\"inbound\",peer=\"src\"} 1\n"));
    assert_non_null(strstr(s, "tcp_read_bytes_total{direction=\"inbound\",peer=\"src\"} 100\n"));
    assert_non_null(strstr(s, "tcp_write_bytes_total{direction=\"inbound\",peer=\"src\"} 7\n"));
    assert_non_null(strstr(s, "# TYPE response_latency_ms histogram\n"));
    st_buf_free(&out);
    stats_registry_free(r);
}

static void
test_escape(void **state)
{
    char *e = stats_escape("a\"b\\c\nd");

    assert_string_equal(e, "a\\\"b\\\\c\\nd");
    free(e);
    e = stats_escape(NULL);
    assert_string_equal(e, "");
    free(e);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_sums_threads),
        cmocka_unit_test(test_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
