/* Unit tests for proxy/detect.c: protocol detection and opaque port lists. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"

static enum detect_result
detect_str(const char *s)
{
    return detect_protocol(s, strlen(s));
}

static void
test_http1(void **state)
{
    (void)state;
    assert_int_equal(detect_str("GET / HTTP/1.1\r\n"), DETECT_HTTP1);
    assert_int_equal(detect_str("GET /a?b=c HTTP/1.0\r\nHost: x\r\n\r\n"), DETECT_HTTP1);
    assert_int_equal(detect_str("POST http://svc:80/x HTTP/1.1\r\n"), DETECT_HTTP1);
    assert_int_equal(detect_str("CONNECT db:5432 HTTP/1.1\r\n"), DETECT_HTTP1);
    assert_int_equal(detect_str("OPTIONS * HTTP/1.1\r\n"), DETECT_HTTP1);
    assert_int_equal(detect_str("M-SEARCH * HTTP/1.1\r\n"), DETECT_HTTP1);
}

static void
test_need_more(void **state)
{
    const char *full = "GET /index.html HTTP/1.1\r\n";

    (void)state;
    assert_int_equal(detect_protocol("", 0), DETECT_NEED_MORE);
    /* Every proper prefix of a request line waits; the whole line decides. */
    for (size_t n = 1; n < strlen(full); n++)
        assert_int_equal(detect_protocol(full, n), DETECT_NEED_MORE);
    assert_int_equal(detect_str(full), DETECT_HTTP1);
    assert_int_equal(detect_str("PRI * HTTP/2"), DETECT_NEED_MORE);
}

static void
test_h2(void **state)
{
    (void)state;
    assert_int_equal(detect_str("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), DETECT_H2);
    assert_int_equal(detect_str("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04"), DETECT_H2);
    /* The preface with a wrong byte is not HTTP/1 either (version 2.0). */
    assert_int_equal(detect_str("PRI * HTTP/2.0\r\n\r\nXM\r\n\r\n"), DETECT_OPAQUE);
}

static void
test_opaque(void **state)
{
    (void)state;
    assert_int_equal(detect_str("hello\n"), DETECT_OPAQUE);
    assert_int_equal(detect_str("\x16\x03\x01\x02\x00\x01"), DETECT_OPAQUE); /* TLS */
    assert_int_equal(detect_str("GET  / HTTP/1.1\r\n"), DETECT_OPAQUE);       /* empty target */
    assert_int_equal(detect_str("GET / HTTP/2.0\r\n"), DETECT_OPAQUE);
    assert_int_equal(detect_str("GET / HTTP/1.1\n"), DETECT_OPAQUE); /* bare LF */
    assert_int_equal(detect_str("GET / HTTP/1.1\rX"), DETECT_OPAQUE);
    assert_int_equal(detect_str("GET /a\tb HTTP/1.1\r\n"), DETECT_OPAQUE);
    assert_int_equal(detect_str(" GET / HTTP/1.1\r\n"), DETECT_OPAQUE);
    assert_int_equal(detect_str("PING\r\n"), DETECT_OPAQUE); /* Redis inline command */
    assert_int_equal(detect_str("*1\r\n$4\r\nPING\r\n"), DETECT_OPAQUE);
    assert_int_equal(detect_protocol("G\0T / HTTP/1.1\r\n", 16), DETECT_OPAQUE);
}

static void
test_caps(void **state)
{
    size_t n = DETECT_MAX_LINE + 100;
    char *b = malloc(n);

    (void)state;
    /* A method longer than any real one. */
    memset(b, 'A', DETECT_MAX_METHOD);
    assert_int_equal(detect_protocol(b, DETECT_MAX_METHOD), DETECT_OPAQUE);
    assert_int_equal(detect_protocol(b, DETECT_MAX_METHOD - 1), DETECT_NEED_MORE);
    /* A target that never ends is not waited for past the line cap, long or short input. */
    memcpy(b, "GET /", 5);
    memset(b + 5, 'x', n - 5);
    assert_int_equal(detect_protocol(b, DETECT_MAX_LINE), DETECT_OPAQUE);
    assert_int_equal(detect_protocol(b, n), DETECT_OPAQUE);
    assert_int_equal(detect_protocol(b, DETECT_MAX_LINE - 1), DETECT_NEED_MORE);
    free(b);
}

static void
test_ports(void **state)
{
    struct detect_ports p;

    (void)state;
    assert_int_equal(detect_ports_parse("3306, 5432,8000-8002", &p), 0);
    assert_true(detect_ports_has(&p, 3306));
    assert_true(detect_ports_has(&p, 5432));
    assert_true(detect_ports_has(&p, 8000));
    assert_true(detect_ports_has(&p, 8001));
    assert_true(detect_ports_has(&p, 8002));
    assert_false(detect_ports_has(&p, 8003));
    assert_false(detect_ports_has(&p, 80));
    assert_false(detect_ports_has(&p, 0));
    assert_int_equal(detect_ports_parse("1-65535", &p), 0);
    assert_true(detect_ports_has(&p, 65535));
    assert_true(detect_ports_has(&p, 1));
    assert_false(detect_ports_has(&p, 0));
    assert_int_equal(detect_ports_parse("", &p), 0);
    assert_false(detect_ports_has(&p, 3306));
    assert_int_equal(detect_ports_parse(DETECT_DEFAULT_OPAQUE_PORTS, &p), 0);
    assert_true(detect_ports_has(&p, 25));
    assert_true(detect_ports_has(&p, 11211));
}

static void
test_ports_errors(void **state)
{
    static const char *const bad[] = {"0",     "65536", "80,",  ",80", "80-70", "a",
                                      "80 81", "-80",   "80-",  "1-2-3", "+80", "80;81"};
    struct detect_ports p;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(detect_ports_parse("443", &p), 0);
        assert_int_equal(detect_ports_parse(bad[i], &p), ST_EPARSE);
        /* A refused list leaves the set empty, not half-filled. */
        assert_false(detect_ports_has(&p, 443));
        assert_false(detect_ports_has(&p, 80));
    }
    /* More than 1024 items. */
    char *many = malloc(1025 * 2 + 1);
    for (size_t i = 0; i < 1025; i++)
        memcpy(many + 2 * i, "9,", 2);
    many[1025 * 2 - 1] = '\0';
    assert_int_equal(detect_ports_parse(many, &p), ST_EPARSE);
    free(many);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http1),  cmocka_unit_test(test_need_more),
        cmocka_unit_test(test_h2),     cmocka_unit_test(test_opaque),
        cmocka_unit_test(test_caps),   cmocka_unit_test(test_ports),
        cmocka_unit_test(test_ports_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
