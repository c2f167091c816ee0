/* Unit tests for the CLI's helpers: Go-style duration parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "cli.h"

#define NS 1LL
#define US (1000 * NS)
#define MS (1000 * US)
#define SEC (1000 * MS)
#define MIN (60 * SEC)
#define HOUR (60 * MIN)

static void
test_duration_ok(void **state)
{
    static const struct {
        const char *in;
        int64_t ns;
    } cases[] = {
        {"0", 0},
        {"-0", 0},
        {"+0", 0},
        {"0s", 0},
        {"5s", 5 * SEC},
        {"30m", 30 * MIN},
        {"24h", 24 * HOUR},
        {"8760h", 8760 * HOUR},
        {"87600h", 87600 * HOUR},
        {"1h30m", HOUR + 30 * MIN},
        {"2h45m10.5s", 2 * HOUR + 45 * MIN + 10 * SEC + 500 * MS},
        {"1.5h", HOUR + 30 * MIN},
        {".5s", 500 * MS},
        {"1.s", SEC},
        {"-1.5h", -(HOUR + 30 * MIN)},
        {"300ms", 300 * MS},
        {"10us", 10 * US},
        {"10\xc2\xb5s", 10 * US},
        {"10\xce\xbcs", 10 * US},
        {"7ns", 7},
        {"1h1m1s1ms1us1ns", HOUR + MIN + SEC + MS + US + 1},
        {"0.000000001s", 1},
        {"0.1234567891234567891234s", 123456789},
        {"2562047h47m16.854775807s", INT64_MAX},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        int64_t v = -42;
        struct st_err err = {0};
        int rc = duration_parse(cases[i].in, &v, &err);
        if (rc != 0)
            fail_msg("%s: %s", cases[i].in, err.msg);
        assert_int_equal(v, cases[i].ns);
    }
}

static void
test_duration_bad(void **state)
{
    static const struct {
        const char *in;
        int code;
        const char *msg;
    } cases[] = {
        {"", ST_EPARSE, "invalid duration \"\""},
        {"-", ST_EPARSE, "invalid duration \"-\""},
        {"h", ST_EPARSE, "invalid duration \"h\""},
        {"1", ST_EPARSE, "missing unit in duration \"1\""},
        {"10", ST_EPARSE, "missing unit"},
        {"1h30", ST_EPARSE, "missing unit"},
        {"1d", ST_EPARSE, "unknown unit in duration \"1d\""},
        {"1 h", ST_EPARSE, "unknown unit"},
        {"1H", ST_EPARSE, "unknown unit"},
        {".s", ST_EPARSE, "invalid duration"},
        {"1h-5m", ST_EPARSE, "invalid duration"},
        {"--1h", ST_EPARSE, "invalid duration"},
        {"2562047h47m16.854775808s", ST_ETOOBIG, "too long"},
        {"9223372036854775808ns", ST_ETOOBIG, "too long"},
        {"99999999999999999999999h", ST_ETOOBIG, "too long"},
        {"3000000h", ST_ETOOBIG, "too long"},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        int64_t v = -42;
        struct st_err err = {0};
        int rc = duration_parse(cases[i].in, &v, &err);
        if (rc != cases[i].code)
            fail_msg("%s: got %d (%s), want %d", cases[i].in, rc, err.msg, cases[i].code);
        assert_int_equal(err.code, rc);
        if (strstr(err.msg, cases[i].msg) == NULL)
            fail_msg("%s: message \"%s\"", cases[i].in, err.msg);
        assert_null(strchr(err.msg, '\n'));
        assert_int_equal(v, -42);
    }
    assert_int_equal(duration_parse(NULL, NULL, NULL), ST_EPARSE);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_ok),
        cmocka_unit_test(test_duration_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
