/* Unit tests for the opaque transport header: round trips, partial input, caps, garbage. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "transport_header.h"

static void
test_roundtrip(void **state)
{
    struct transport_header h = {.port = 8888}, got;
    struct st_buf b = ST_BUF_INIT(0);

    st_strlcpy(h.name, "backend-one-svc.multicluster-test.svc.cluster.local:8888", sizeof(h.name));
    assert_int_equal(transport_header_encode(&h, &b), 0);
    assert_int_equal(b.len, TRANSPORT_HEADER_FIXED + strlen(h.name));
    assert_memory_equal(b.data, "STRT\x01\x01\x22\xb8", 8);
    /* Every prefix asks for more; the whole parses to the same values. */
    for (size_t i = 0; i < b.len; i++)
        assert_int_equal(transport_header_parse(b.data, i, &got), 0);
    assert_int_equal(transport_header_parse(b.data, b.len, &got), (int)b.len);
    assert_int_equal(got.port, 8888);
    assert_string_equal(got.name, h.name);
    st_buf_free(&b);
}

static void
test_no_name_and_trailing_data(void **state)
{
    struct transport_header h = {.port = 80}, got;
    struct st_buf b = ST_BUF_INIT(0);

    assert_int_equal(transport_header_encode(&h, &b), 0);
    assert_int_equal(b.len, TRANSPORT_HEADER_FIXED);
    assert_int_equal(st_buf_append(&b, "GET / HTTP/1.1\r\n", 16), 0);
    assert_int_equal(transport_header_parse(b.data, b.len, &got), TRANSPORT_HEADER_FIXED);
    assert_int_equal(got.port, 80);
    assert_string_equal(got.name, "");
    st_buf_free(&b);
}

static void
test_encode_refuses(void **state)
{
    struct transport_header h = {.port = 0};
    struct st_buf b = ST_BUF_INIT(0);

    assert_int_equal(transport_header_encode(&h, &b), ST_EINVAL);
    h.port = 1;
    st_strlcpy(h.name, "bad name", sizeof(h.name));
    assert_int_equal(transport_header_encode(&h, &b), ST_EINVAL);
    st_strlcpy(h.name, "a\r\nb", sizeof(h.name));
    assert_int_equal(transport_header_encode(&h, &b), ST_EINVAL);
    assert_int_equal(b.len, 0);
    st_buf_free(&b);
}

static void
test_parse_refuses(void **state)
{
    struct transport_header got;

    /* Bad magic is refused at the first wrong byte, without waiting for more. */
    assert_int_equal(transport_header_parse("G", 1, &got), ST_EPARSE);
    assert_int_equal(transport_header_parse("GET / HTTP/1.1\r\n", 16, &got), ST_EPARSE);
    assert_int_equal(transport_header_parse("STRT\x02", 5, &got), ST_EPARSE);
    assert_int_equal(transport_header_parse("STRT\x01\x80", 6, &got), ST_EPARSE);
    /* Port 0. */
    assert_int_equal(transport_header_parse("STRT\x01\x00\x00\x00\x00\x00", 10, &got), ST_EPARSE);
    /* Name length over the cap. */
    assert_int_equal(transport_header_parse("STRT\x01\x01\x00\x50\x01\x00", 10, &got), ST_ETOOBIG);
    /* Flag and length disagree. */
    assert_int_equal(transport_header_parse("STRT\x01\x00\x00\x50\x00\x01x", 11, &got), ST_EPARSE);
    assert_int_equal(transport_header_parse("STRT\x01\x01\x00\x50\x00\x00", 10, &got), ST_EPARSE);
    /* Bad name characters. */
    assert_int_equal(transport_header_parse("STRT\x01\x01\x00\x50\x00\x02"
                                            "a ",
                                            12, &got),
                     ST_EPARSE);
    assert_int_equal(transport_header_parse("STRT\x01\x01\x00\x50\x00\x02"
                                            "a\0",
                                            12, &got),
                     ST_EPARSE);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_no_name_and_trailing_data),
        cmocka_unit_test(test_encode_refuses),
        cmocka_unit_test(test_parse_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
