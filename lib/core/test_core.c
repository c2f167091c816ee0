/* Unit tests for lib/core: buffers and their caps, parsing, names, base64. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strait/core.h"

static void
test_buf_cap(void **state)
{
    struct st_buf b = ST_BUF_INIT(8);

    assert_int_equal(st_buf_append(&b, "12345", 5), 0);
    assert_int_equal(st_buf_append(&b, "678", 3), 0);
    assert_int_equal(st_buf_append(&b, "9", 1), ST_ETOOBIG);
    assert_int_equal(b.len, 8);
    assert_string_equal(st_buf_cstr(&b), "12345678");
    st_buf_consume(&b, 3);
    assert_string_equal(st_buf_cstr(&b), "45678");
    assert_int_equal(st_buf_appendf(&b, "%d", 123), 0);
    assert_string_equal(st_buf_cstr(&b), "45678123");
    assert_int_equal(st_buf_appendf(&b, "%d", 4), ST_ETOOBIG);
    st_buf_free(&b);
    assert_null(b.data);
    assert_string_equal(st_buf_cstr(&b), "");
}

static void
test_buf_large_format(void **state)
{
    struct st_buf b = ST_BUF_INIT(0);
    char big[1000];

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(st_buf_appendf(&b, "<%s>", big), 0);
    assert_int_equal(b.len, 1001);
    assert_int_equal(b.data[0], '<');
    assert_int_equal(b.data[1000], '>');
    char *s = st_buf_steal(&b);
    assert_int_equal(strlen(s), 1001);
    free(s);
    assert_int_equal(b.len, 0);
}

static void
test_parse_u64(void **state)
{
    uint64_t v = 0;
    int64_t i = 0;

    assert_int_equal(st_parse_u64(ST_STR("0"), UINT64_MAX, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(st_parse_u64(ST_STR("18446744073709551615"), UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(st_parse_u64(ST_STR("18446744073709551616"), UINT64_MAX, &v), ST_ETOOBIG);
    assert_int_equal(st_parse_u64(ST_STR("101"), 100, &v), ST_ETOOBIG);
    assert_int_equal(st_parse_u64(ST_STR(""), 100, &v), ST_EPARSE);
    assert_int_equal(st_parse_u64(ST_STR("+1"), 100, &v), ST_EPARSE);
    assert_int_equal(st_parse_u64(ST_STR(" 1"), 100, &v), ST_EPARSE);
    assert_int_equal(st_parse_u64(ST_STR("1a"), 100, &v), ST_EPARSE);
    assert_int_equal(st_parse_i64(ST_STR("-42"), &i), 0);
    assert_int_equal(i, -42);
    assert_int_equal(st_parse_i64(ST_STR("-9223372036854775808"), &i), 0);
    assert_true(i == INT64_MIN);
    assert_int_equal(st_parse_i64(ST_STR("9223372036854775808"), &i), ST_ETOOBIG);
}

static void
test_hash64(void **state)
{
    char a[64], b[64];

    memset(a, 'k', sizeof(a));
    memcpy(b, a, sizeof(b));
    /* The same bytes give the same hash; any one byte changed, or the length, changes it. */
    for (size_t n = 0; n <= sizeof(a); n++) {
        uint64_t h = st_hash64(a, n);
        assert_true(st_hash64(b, n) == h);
        if (n < sizeof(a))
            assert_true(st_hash64(a, n + 1) != h);
        for (size_t i = 0; i < n; i++) {
            b[i] = 'j';
            assert_true(st_hash64(b, n) != h);
            b[i] = 'k';
        }
    }
    /* Trailing NUL bytes count: "a" and "a\0" differ. */
    assert_true(st_hash64("a", 1) != st_hash64("a\0", 2));
    /* The low bits (table slots) of short distinct keys spread. */
    unsigned seen = 0;
    for (unsigned i = 0; i < 16; i++) {
        char k[8];
        size_t n = st_fmt_u64(k, i);
        seen |= 1u << (st_hash64(k, n) & 15);
    }
    assert_true(__builtin_popcount(seen) >= 8);
}

static void
test_fmt_u64(void **state)
{
    static const uint64_t vals[] = {0, 1, 9, 10, 200, 4143, 65535, 1000000007, UINT64_MAX};
    char out[ST_U64_DEC_MAX], want[32];
    uint64_t back = 0;

    for (size_t k = 0; k < ST_ARRAY_LEN(vals); k++) {
        memset(out, 'x', sizeof(out));
        size_t n = st_fmt_u64(out, vals[k]);
        snprintf(want, sizeof(want), "%llu", (unsigned long long)vals[k]);
        assert_string_equal(out, want);
        assert_int_equal(n, strlen(want));
        assert_int_equal(st_parse_u64((struct st_str){out, n}, UINT64_MAX, &back), 0);
        assert_true(back == vals[k]);
    }
    assert_int_equal(strlen("18446744073709551615") + 1, ST_U64_DEC_MAX);
}

static void
test_dns1123(void **state)
{
    assert_true(st_dns1123_label("backend-one-svc"));
    assert_true(st_dns1123_label("a"));
    assert_false(st_dns1123_label(""));
    assert_false(st_dns1123_label("-a"));
    assert_false(st_dns1123_label("a-"));
    assert_false(st_dns1123_label("Upper"));
    assert_false(st_dns1123_label("a.b"));
    assert_true(st_dns1123_subdomain("trafficsplits.split.smi-spec.io"));
    assert_false(st_dns1123_subdomain("a..b"));
    assert_false(st_dns1123_subdomain("a_b"));
    char long_label[70];
    memset(long_label, 'a', 64);
    long_label[64] = '\0';
    assert_false(st_dns1123_label(long_label));
}

static void
test_base64(void **state)
{
    struct st_buf b = ST_BUF_INIT(100);
    const char *cases[][2] = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };

    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        char *e = st_base64_encode(cases[i][0], strlen(cases[i][0]));
        assert_string_equal(e, cases[i][1]);
        assert_int_equal(st_base64_decode(e, strlen(e), &b), 0);
        assert_int_equal(b.len, strlen(cases[i][0]));
        assert_memory_equal(st_buf_cstr(&b), cases[i][0], b.len);
        free(e);
    }
    assert_int_equal(st_base64_decode("Zm9v!", 5, &b), ST_EPARSE);
    assert_int_equal(st_base64_decode("Z", 1, &b), ST_EPARSE);
    struct st_buf small = ST_BUF_INIT(2);
    assert_int_equal(st_base64_decode("Zm9v", 4, &small), ST_ETOOBIG);
    st_buf_free(&small);
    st_buf_free(&b);
}

static void
test_time_and_misc(void **state)
{
    char ts[21];
    int64_t t = 0;

    st_rfc3339(0, ts);
    assert_string_equal(ts, "1970-01-01T00:00:00Z");
    assert_int_equal(st_parse_rfc3339("2026-11-27T05:14:37Z", &t), 0);
    st_rfc3339(t, ts);
    assert_string_equal(ts, "2026-11-27T05:14:37Z");
    assert_int_equal(st_parse_rfc3339("2026-11-27T05:14:37.123Z", &t), 0);
    assert_int_equal(st_parse_rfc3339("2026-11-27 05:14:37", &t), ST_EPARSE);
    assert_true(st_consttime_eq("abc", 3, "abc", 3));
    assert_false(st_consttime_eq("abc", 3, "abd", 3));
    assert_false(st_consttime_eq("abc", 3, "ab", 2));
    struct st_rng r;
    st_rng_seed(&r);
    for (int i = 0; i < 1000; i++)
        assert_true(st_rng_below(&r, 3) < 3);
    struct st_err err;
    assert_int_equal(st_err_set(&err, ST_EINVAL, "bad %s", "thing"), ST_EINVAL);
    assert_string_equal(err.msg, "bad thing");
    assert_string_equal(st_strerror(ST_ETOOBIG), "too large");
}

static void
test_files(void **state)
{
    char dir[] = "/tmp/st_core_XXXXXX";
    struct st_buf b = ST_BUF_INIT(5);

    assert_non_null(mkdtemp(dir));
    char *sub = st_xasprintf("%s/a/b/c", dir);
    assert_int_equal(st_mkdir_p(sub, 0700), 0);
    char *file = st_xasprintf("%s/f", sub);
    assert_int_equal(st_file_write_atomic(file, "hello!", 6, 0600), 0);
    assert_int_equal(st_file_read(file, &b), ST_ETOOBIG);
    b.max = 100;
    assert_int_equal(st_file_read(file, &b), 0);
    assert_string_equal(st_buf_cstr(&b), "hello!");
    assert_int_equal(st_file_read("/nonexistent/x", &b), -ENOENT);
    unlink(file);
    free(file);
    free(sub);
    st_buf_free(&b);
    char *cmd = st_xasprintf("rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_cap),    cmocka_unit_test(test_buf_large_format),
        cmocka_unit_test(test_parse_u64),  cmocka_unit_test(test_fmt_u64), cmocka_unit_test(test_hash64),  cmocka_unit_test(test_dns1123),
        cmocka_unit_test(test_base64),     cmocka_unit_test(test_time_and_misc),
        cmocka_unit_test(test_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
