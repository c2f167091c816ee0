/*
 * Unit tests for lib/http/http1.c: every accepted request-target form, every
 * rejection listed in docs/http1.md, incremental and pipelined parsing,
 * responses and their body rules, the chunked decoder split at every byte,
 * the serializers and the header and URL helpers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "strait/http1.h"

#define S(lit) lit, sizeof(lit) - 1

static struct st_http_header hdrs[32];

static int
req_lim(const char *s, size_t n, const struct st_http1_limits *lim, struct st_http1_request *r)
{
    memset(r, 0, sizeof(*r));
    return st_http1_parse_request(s, n, lim, r, hdrs, ST_ARRAY_LEN(hdrs));
}

/* Parses a complete request literal with the default limits. */
static int
req(const char *s, size_t n, struct st_http1_request *r)
{
    return req_lim(s, n, NULL, r);
}

/* The error for a request literal, or the head length. */
static int
req_rc(const char *s, size_t n)
{
    struct st_http1_request r;
    return req(s, n, &r);
}

static int
resp(const char *s, size_t n, struct st_http1_response *r)
{
    memset(r, 0, sizeof(*r));
    return st_http1_parse_response(s, n, NULL, r, hdrs, ST_ARRAY_LEN(hdrs));
}

static int
resp_rc(const char *s, size_t n)
{
    struct st_http1_response r;
    return resp(s, n, &r);
}

static void
assert_str(struct st_str s, const char *want)
{
    assert_int_equal(s.n, strlen(want));
    if (s.n > 0)
        assert_memory_equal(s.p, want, s.n);
}

/* ---- request forms ----------------------------------------------------------- */

static void
test_origin_form(void **state)
{
    static const char in[] = "GET /api/v1/pods?limit=5&watch=1 HTTP/1.1\r\n"
                             "Host: 127.1.0.1:6443\r\n"
                             "Accept:application/json \t\r\n"
                             "X-Empty:\r\n"
                             "\r\nBODY";
    struct st_http1_request r;

    assert_int_equal(req(in, sizeof(in) - 1, &r), sizeof(in) - 1 - 4);
    assert_str(r.method, "GET");
    assert_int_equal(r.method_id, ST_HTTP_GET);
    assert_int_equal(r.form, ST_HTTP1_FORM_ORIGIN);
    assert_str(r.target, "/api/v1/pods?limit=5&watch=1");
    assert_str(r.path, "/api/v1/pods");
    assert_str(r.query, "limit=5&watch=1");
    assert_str(r.host, "127.1.0.1:6443");
    assert_int_equal(r.minor_version, 1);
    assert_int_equal(r.num_headers, 3);
    assert_ptr_equal(r.headers, hdrs);
    assert_str(hdrs[1].name, "Accept");
    assert_str(hdrs[1].value, "application/json");
    assert_str(hdrs[2].value, "");
    assert_true(r.content_length == -1);
    assert_false(r.chunked);
    assert_true(r.keep_alive);
    assert_false(r.connection_close);
    assert_false(r.expect_continue);
    assert_false(r.upgrade);
    assert_int_equal(st_http1_request_body(&r), ST_HTTP1_BODY_NONE);
    /* Zero-copy: slices point into the input. */
    assert_ptr_equal(r.method.p, in);
    assert_ptr_equal(r.path.p, in + 4);

    assert_int_equal(req(S("GET /x? HTTP/1.1\r\nHost: a\r\n\r\n"), &r), 29);
    assert_non_null(r.query.p);
    assert_int_equal(r.query.n, 0);
    assert_int_equal(req(S("GET //a/%41;b=c:@!$&'()*+,~ HTTP/1.1\r\nHost: a\r\n\r\n"), &r) > 0, 1);
    assert_null(r.query.p);
}

static void
test_absolute_form(void **state)
{
    struct st_http1_request r;

    assert_true(req(S("GET http://web.default:8080/a/b?c=d HTTP/1.1\r\nHost: other\r\n\r\n"), &r) >
                0);
    assert_int_equal(r.form, ST_HTTP1_FORM_ABSOLUTE);
    assert_str(r.scheme, "http");
    assert_str(r.authority, "web.default:8080");
    assert_str(r.path, "/a/b");
    assert_str(r.query, "c=d");
    assert_str(r.host, "web.default:8080"); /* the target wins over Host */

    assert_true(req(S("GET https://[::1]:443 HTTP/1.1\r\nHost: x\r\n\r\n"), &r) > 0);
    assert_str(r.scheme, "https");
    assert_str(r.authority, "[::1]:443");
    assert_str(r.path, "/");
    assert_null(r.query.p);
    assert_true(req(S("GET http://a?q HTTP/1.1\r\nHost: x\r\n\r\n"), &r) > 0);
    assert_str(r.path, "/");
    assert_str(r.query, "q");

    /* userinfo, empty authority, no "//", bad scheme, bad port */
    assert_int_equal(req_rc(S("GET http://u:p@a/ HTTP/1.1\r\nHost: a\r\n\r\n")),
                     ST_HTTP1_EBAD_TARGET);
    assert_int_equal(req_rc(S("GET http:/// HTTP/1.1\r\nHost: a\r\n\r\n")), ST_HTTP1_EBAD_TARGET);
    assert_int_equal(req_rc(S("GET http:a/ HTTP/1.1\r\nHost: a\r\n\r\n")), ST_HTTP1_EBAD_TARGET);
    assert_int_equal(req_rc(S("GET 1http://a/ HTTP/1.1\r\nHost: a\r\n\r\n")), ST_HTTP1_EBAD_TARGET);
    assert_int_equal(req_rc(S("GET http://a:99999/ HTTP/1.1\r\nHost: a\r\n\r\n")),
                     ST_HTTP1_EBAD_TARGET);
    assert_int_equal(req_rc(S("GET http://a/#frag HTTP/1.1\r\nHost: a\r\n\r\n")),
                     ST_HTTP1_EBAD_TARGET);
    assert_int_equal(req_rc(S("GET http://[::1/ HTTP/1.1\r\nHost: a\r\n\r\n")),
                     ST_HTTP1_EBAD_TARGET);
}

static void
test_authority_form(void **state)
{
    struct st_http1_request r;

    assert_true(req(S("CONNECT 127.1.128.5:443 HTTP/1.1\r\nHost: 127.1.128.5:443\r\n\r\n"), &r) >
                0);
    assert_int_equal(r.method_id, ST_HTTP_CONNECT);
    assert_int_equal(r.form, ST_HTTP1_FORM_AUTHORITY);
    assert_str(r.authority, "127.1.128.5:443");
    assert_str(r.host, "127.1.128.5:443");
    assert_str(r.path, "");
    assert_true(req(S("CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n"), &r) > 0);
    assert_str(r.authority, "[::1]:8443");

    assert_int_equal(req_rc(S("CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n")),
                     ST_HTTP1_EBAD_TARGET);
    assert_int_equal(req_rc(S("CONNECT example.com: HTTP/1.1\r\nHost: a\r\n\r\n")),
                     ST_HTTP1_EBAD_TARGET);
    assert_int_equal(req_rc(S("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n")), ST_HTTP1_EBAD_TARGET);
    assert_int_equal(req_rc(S("CONNECT :80 HTTP/1.1\r\nHost: a\r\n\r\n")), ST_HTTP1_EBAD_TARGET);
    assert_int_equal(req_rc(S("CONNECT a:80x HTTP/1.1\r\nHost: a\r\n\r\n")), ST_HTTP1_EBAD_TARGET);
    /* authority-form is for CONNECT only */
    assert_int_equal(req_rc(S("GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n")),
                     ST_HTTP1_EBAD_TARGET);
}

static void
test_asterisk_form(void **state)
{
    struct st_http1_request r;

    assert_true(req(S("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), &r) > 0);
    assert_int_equal(r.form, ST_HTTP1_FORM_ASTERISK);
    assert_int_equal(r.method_id, ST_HTTP_OPTIONS);
    assert_str(r.path, "*");
    assert_int_equal(req_rc(S("GET * HTTP/1.1\r\nHost: a\r\n\r\n")), ST_HTTP1_EBAD_TARGET);
}

static void
test_methods(void **state)
{
    static const char *const names[] = {"GET",    "HEAD",    "POST",    "PUT",  "PATCH",
                                        "DELETE", "OPTIONS", "CONNECT", "TRACE"};
    struct st_http1_request r;

    for (size_t i = 0; i < ST_ARRAY_LEN(names); i++) {
        enum st_http_method m = st_http_method_from(st_str_c(names[i]));
        assert_int_not_equal(m, ST_HTTP_OTHER);
        assert_string_equal(st_http_method_name(m), names[i]);
    }
    assert_int_equal(st_http_method_from(ST_STR("get")), ST_HTTP_OTHER);
    assert_int_equal(st_http_method_from(ST_STR("GETS")), ST_HTTP_OTHER);
    assert_int_equal(st_http_method_from(ST_STR("")), ST_HTTP_OTHER);
    assert_string_equal(st_http_method_name(ST_HTTP_OTHER), "");

    assert_true(req(S("PROPFIND /x HTTP/1.1\r\nHost: a\r\n\r\n"), &r) > 0);
    assert_int_equal(r.method_id, ST_HTTP_OTHER);
    assert_str(r.method, "PROPFIND");
    assert_int_equal(req_rc(S(" / HTTP/1.1\r\nHost: a\r\n\r\n")), ST_HTTP1_EBAD_METHOD);
    assert_int_equal(req_rc(S("GE(T / HTTP/1.1\r\nHost: a\r\n\r\n")), ST_HTTP1_EBAD_METHOD);
    assert_int_equal(req_rc(S("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n")), ST_HTTP1_EBAD_METHOD);
    assert_int_equal(req_rc(S("G\x01T / HTTP/1.1\r\nHost: a\r\n\r\n")), ST_HTTP1_EBAD_METHOD);
    assert_int_equal(req_rc(S("GET\r\nHost: a\r\n\r\n")), ST_HTTP1_EBAD_LINE);
    assert_int_equal(req_rc(S("GET /\r\nHost: a\r\n\r\n")), ST_HTTP1_EBAD_LINE);
    assert_int_equal(req_rc(S("GET  / HTTP/1.1\r\nHost: a\r\n\r\n")), ST_HTTP1_EBAD_LINE);
    assert_int_equal(req_rc(S("GET / HTTP/1.1 \r\nHost: a\r\n\r\n")), ST_HTTP1_EBAD_LINE);
}

static void
test_versions(void **state)
{
    struct st_http1_request r;

    assert_true(req(S("GET / HTTP/1.0\r\n\r\n"), &r) > 0);
    assert_int_equal(r.minor_version, 0);
    assert_false(r.keep_alive);
    assert_str(r.host, "");
    assert_int_equal(req_rc(S("GET / HTTP/1.2\r\nHost: a\r\n\r\n")), ST_HTTP1_EVERSION);
    assert_int_equal(req_rc(S("GET / HTTP/2.0\r\nHost: a\r\n\r\n")), ST_HTTP1_EVERSION);
    assert_int_equal(req_rc(S("GET / HTTP/0.9\r\nHost: a\r\n\r\n")), ST_HTTP1_EVERSION);
    assert_int_equal(req_rc(S("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")), ST_HTTP1_EVERSION);
    assert_int_equal(st_http1_error_status(ST_HTTP1_EVERSION), 505);
    assert_int_equal(req_rc(S("GET / http/1.1\r\nHost: a\r\n\r\n")), ST_HTTP1_EBAD_VERSION);
    assert_int_equal(req_rc(S("GET / HTTP/1.10\r\nHost: a\r\n\r\n")), ST_HTTP1_EBAD_VERSION);
    assert_int_equal(req_rc(S("GET / HTTP/1\r\nHost: a\r\n\r\n")), ST_HTTP1_EBAD_VERSION);
    assert_int_equal(st_http1_error_status(ST_HTTP1_EBAD_VERSION), 400);
}

static void
test_target_chars(void **state)
{
    static const char *const bad[] = {
        "GET /a\"b HTTP/1.1\r\nHost: a\r\n\r\n",  "GET /<x> HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /{x} HTTP/1.1\r\nHost: a\r\n\r\n",   "GET /a\\b HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n",   "GET /a|b HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /\x80 HTTP/1.1\r\nHost: a\r\n\r\n",  "GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /a%4 HTTP/1.1\r\nHost: a\r\n\r\n",   "GET /a% HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n",
    };

    for (size_t i = 0; i < ST_ARRAY_LEN(bad); i++)
        assert_int_equal(req_rc(bad[i], strlen(bad[i])), ST_HTTP1_EBAD_TARGET);
    /* A space inside the target splits it and leaves junk before the version. */
    assert_int_equal(req_rc(S("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n")), ST_HTTP1_EBAD_LINE);
    /* A NUL, even in the target */
    assert_int_equal(req_rc(S("GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n")), ST_HTTP1_EBAD_TARGET);
    assert_true(req_rc(S("GET /a%2Fb%2f HTTP/1.1\r\nHost: a\r\n\r\n")) > 0);
}

static void
test_target_too_long(void **state)
{
    struct st_http1_limits lim = ST_HTTP1_LIMITS_DEFAULT;
    struct st_http1_request r;
    char buf[256];

    lim.max_target = 16;
    int n = snprintf(buf, sizeof(buf), "GET /%s HTTP/1.1\r\nHost: a\r\n\r\n", "0123456789abcde");
    assert_int_equal(req_lim(buf, (size_t)n, &lim, &r), n); /* exactly 16 */
    n = snprintf(buf, sizeof(buf), "GET /%s HTTP/1.1\r\nHost: a\r\n\r\n", "0123456789abcdef");
    assert_int_equal(req_lim(buf, (size_t)n, &lim, &r), ST_HTTP1_ETARGET_TOO_LONG);
    assert_int_equal(st_http1_error_status(ST_HTTP1_ETARGET_TOO_LONG), 414);
    /* Known before the request line is complete. */
    assert_int_equal(req_lim(buf, 21, &lim, &r), ST_HTTP1_ETARGET_TOO_LONG);
    assert_int_equal(req_lim(buf, 20, &lim, &r), 0);
    /* The default cap is 8 KiB. */
    size_t big = 8 * 1024 + 64;
    char *p = st_xmalloc(big);
    memcpy(p, "GET /", 5);
    memset(p + 5, 'a', big - 5);
    assert_int_equal(req_lim(p, big, NULL, &r), ST_HTTP1_ETARGET_TOO_LONG);
    free(p);
}

static void
test_head_too_big(void **state)
{
    struct st_http1_limits lim = {64, 100, 1024};
    struct st_http1_request r;
    char buf[200];

    memset(buf, 'x', sizeof(buf));
    memcpy(buf, "GET / HTTP/1.1\r\nHost: a\r\nX-Long: ", 33);
    assert_int_equal(req_lim(buf, 63, &lim, &r), 0);
    assert_int_equal(req_lim(buf, 64, &lim, &r), ST_HTTP1_EHEAD_TOO_BIG);
    assert_int_equal(req_lim(buf, sizeof(buf), &lim, &r), ST_HTTP1_EHEAD_TOO_BIG);
    assert_int_equal(st_http1_error_status(ST_HTTP1_EHEAD_TOO_BIG), 431);
    /* A complete head longer than the cap is refused too; one that fits is not. */
    static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Long: 0123456789012345678901\r\n\r\n";
    assert_int_equal(req_lim(in, sizeof(in) - 1, &lim, &r), sizeof(in) - 1);
    lim.max_head_bytes = sizeof(in) - 2;
    assert_int_equal(req_lim(in, sizeof(in) - 1, &lim, &r), ST_HTTP1_EHEAD_TOO_BIG);
    /* A line without any LF at all cannot keep us waiting past the cap either. */
    assert_int_equal(req_lim(buf + 40, 100, &lim, &r), ST_HTTP1_EHEAD_TOO_BIG);
}

static void
test_too_many_headers(void **state)
{
    struct st_http1_limits lim = ST_HTTP1_LIMITS_DEFAULT;
    struct st_http1_request r;
    static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
    struct st_http_header few[2];

    lim.max_headers = 3;
    assert_true(req_lim(in, sizeof(in) - 1, &lim, &r) > 0);
    lim.max_headers = 2;
    assert_int_equal(req_lim(in, sizeof(in) - 1, &lim, &r), ST_HTTP1_ETOO_MANY_HEADERS);
    assert_int_equal(st_http1_error_status(ST_HTTP1_ETOO_MANY_HEADERS), 431);
    /* The caller's array size caps too. */
    assert_int_equal(st_http1_parse_request(in, sizeof(in) - 1, NULL, &r, few, 2),
                     ST_HTTP1_ETOO_MANY_HEADERS);
    /* The default is 100. */
    struct st_buf b = ST_BUF_INIT(0);
    struct st_http_header many[128];
    assert_int_equal(st_buf_append_str(&b, "GET / HTTP/1.1\r\nHost: a\r\n"), 0);
    for (int i = 0; i < 99; i++)
        assert_int_equal(st_buf_appendf(&b, "X-%d: %d\r\n", i, i), 0);
    assert_int_equal(st_buf_append_str(&b, "\r\n"), 0);
    assert_int_equal(st_http1_parse_request(b.data, b.len, NULL, &r, many, 128), (int)b.len);
    assert_int_equal(r.num_headers, 100);
    b.len -= 2;
    assert_int_equal(st_buf_append_str(&b, "X-100: 1\r\n\r\n"), 0);
    assert_int_equal(st_http1_parse_request(b.data, b.len, NULL, &r, many, 128),
                     ST_HTTP1_ETOO_MANY_HEADERS);
    st_buf_free(&b);
}

/* ---- framing and smuggling defences ---------------------------------------------- */

static void
test_content_length(void **state)
{
    struct st_http1_request r;
    static const char *const bad[] = {
        "Content-Length: 5, 6\r\n",
        "Content-Length: 5\r\nContent-Length: 6\r\n",
        "Content-Length: abc\r\n",
        "Content-Length: -1\r\n",
        "Content-Length: +5\r\n",
        "Content-Length: 0x10\r\n",
        "Content-Length: 1 2\r\n",
        "Content-Length: \r\n",
        "Content-Length: ,\r\n",
        "Content-Length: \"5\"\r\n",
        "Content-Length: 9223372036854775808\r\n",
        "Content-Length: 99999999999999999999999\r\n",
    };
    char buf[256];

    assert_true(req(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n"), &r) > 0);
    assert_true(r.content_length == 12);
    assert_int_equal(st_http1_request_body(&r), ST_HTTP1_BODY_LENGTH);
    assert_true(req(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"), &r) > 0);
    assert_true(r.content_length == 0);
    assert_int_equal(st_http1_request_body(&r), ST_HTTP1_BODY_NONE);
    /* The same value repeated, in a list or on two lines, is one value. */
    assert_true(req(S("POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 5, 5,5\r\n\r\n"), &r) > 0);
    assert_true(r.content_length == 5);
    assert_true(
        req(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\n"),
            &r) > 0);
    assert_true(r.content_length == 5);
    assert_true(req(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n"),
                    &r) > 0);
    assert_true(r.content_length == INT64_MAX);
    for (size_t i = 0; i < ST_ARRAY_LEN(bad); i++) {
        int n = snprintf(buf, sizeof(buf), "POST / HTTP/1.1\r\nHost: a\r\n%s\r\n", bad[i]);
        assert_int_equal(req_rc(buf, (size_t)n), ST_HTTP1_EBAD_CL);
    }
    assert_int_equal(st_http1_error_status(ST_HTTP1_EBAD_CL), 400);
}

static void
test_cl_and_te(void **state)
{
    assert_int_equal(req_rc(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                              "Transfer-Encoding: chunked\r\n\r\n")),
                     ST_HTTP1_ECL_TE);
    assert_int_equal(req_rc(S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                              "Content-Length: 0\r\n\r\n")),
                     ST_HTTP1_ECL_TE);
    assert_int_equal(st_http1_error_status(ST_HTTP1_ECL_TE), 400);
}

static void
test_transfer_encoding(void **state)
{
    struct st_http1_request r;
    static const struct {
        const char *te;
        int rc;
    } cases[] = {
        {"Transfer-Encoding: gzip\r\n", ST_HTTP1_EBAD_TE},
        {"Transfer-Encoding: chunked, gzip\r\n", ST_HTTP1_EBAD_TE},
        {"Transfer-Encoding: chunked, chunked\r\n", ST_HTTP1_EBAD_TE},
        {"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", ST_HTTP1_EBAD_TE},
        {"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", ST_HTTP1_EBAD_TE},
        {"Transfer-Encoding: chunked;q=1\r\n", ST_HTTP1_EBAD_TE},
        {"Transfer-Encoding: ,\r\n", ST_HTTP1_EBAD_TE},
        {"Transfer-Encoding: \r\n", ST_HTTP1_EBAD_TE},
        {"Transfer-Encoding: \"chunked\"\r\n", ST_HTTP1_EBAD_TE},
        {"Transfer-Encoding: xchunked\r\n", ST_HTTP1_EBAD_TE},
        {"Transfer-Encoding: gzip, chunked\r\n", ST_HTTP1_ECODING},
        {"Transfer-Encoding: foo\r\nTransfer-Encoding: chunked\r\n", ST_HTTP1_ECODING},
        {"Transfer-Encoding: chunked\r\n", 1},
        {"Transfer-Encoding: CHUNKED\r\n", 1},
        {"Transfer-Encoding: , chunked ,\r\n", 1},
    };
    char buf[256];

    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        int n = snprintf(buf, sizeof(buf), "POST / HTTP/1.1\r\nHost: a\r\n%s\r\n", cases[i].te);
        int rc = req(buf, (size_t)n, &r);
        if (cases[i].rc == 1) {
            assert_int_equal(rc, n);
            assert_true(r.chunked);
            assert_true(r.content_length == -1);
            assert_int_equal(st_http1_request_body(&r), ST_HTTP1_BODY_CHUNKED);
        } else {
            assert_int_equal(rc, cases[i].rc);
        }
    }
    assert_int_equal(st_http1_error_status(ST_HTTP1_EBAD_TE), 400);
    assert_int_equal(st_http1_error_status(ST_HTTP1_ECODING), 501);
    /* HTTP/1.0 has no Transfer-Encoding: the framing is faulty (RFC 9112 6.1). */
    assert_int_equal(req_rc(S("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n")),
                     ST_HTTP1_EBAD_TE);
}

static void
test_obs_fold(void **state)
{
    assert_int_equal(req_rc(S("GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n")),
                     ST_HTTP1_EOBS_FOLD);
    assert_int_equal(req_rc(S("GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n\ttwo\r\n\r\n")),
                     ST_HTTP1_EOBS_FOLD);
    /* Whitespace between the start line and the first field (RFC 9112 2.2). */
    assert_int_equal(req_rc(S("GET / HTTP/1.1\r\n Host: a\r\n\r\n")), ST_HTTP1_EOBS_FOLD);
}

static void
test_line_endings(void **state)
{
    struct st_http1_request r;

    assert_int_equal(req_rc(S("GET / HTTP/1.1\nHost: a\r\n\r\n")), ST_HTTP1_EBAD_EOL);
    assert_int_equal(req_rc(S("GET / HTTP/1.1\r\nHost: a\n\r\n")), ST_HTTP1_EBAD_EOL);
    assert_int_equal(req_rc(S("GET / HTTP/1.1\r\nHost: a\r\n\n")), ST_HTTP1_EBAD_EOL);
    assert_int_equal(req_rc(S("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n")), ST_HTTP1_EBAD_EOL);
    assert_int_equal(req_rc(S("GET / HTTP/1.1\rX\r\nHost: a\r\n\r\n")), ST_HTTP1_EBAD_VERSION);
    assert_int_equal(req_rc(S("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n")), ST_HTTP1_EBAD_TARGET);
    assert_int_equal(req_rc(S("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")), ST_HTTP1_EBAD_EOL);
    /* Leading empty lines (CRLF) are skipped and count in the head length. */
    assert_int_equal(req(S("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), &r), 31);
    assert_str(r.method, "GET");
    assert_int_equal(st_http1_error_status(ST_HTTP1_EBAD_EOL), 400);
}

static void
test_field_values(void **state)
{
    struct st_http1_request r;

    assert_int_equal(req_rc(S("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n")),
                     ST_HTTP1_EBAD_VALUE);
    assert_int_equal(req_rc(S("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n")),
                     ST_HTTP1_EBAD_VALUE);
    assert_int_equal(req_rc(S("GET / HTTP/1.1\r\nHost: a\r\nX: \x7f\r\n\r\n")),
                     ST_HTTP1_EBAD_VALUE);
    assert_int_equal(req_rc(S("GET / HTTP/1.1\r\nHost: a\r\nX: \x1b[0m\r\n\r\n")),
                     ST_HTTP1_EBAD_VALUE);
    /* HTAB inside and obs-text are allowed; surrounding whitespace is trimmed. */
    assert_true(req(S("GET / HTTP/1.1\r\nHost: a\r\nX: \t a\tb \xc3\xa9 \t\r\n\r\n"), &r) > 0);
    assert_str(hdrs[1].value, "a\tb \xc3\xa9");

    /* Every position of a long value, so the word-at-a-time check is covered. */
    static const char bytes[] = {'\0', '\x01', '\x1f', '\x7f', '\r',
                                 '\t', '\x80', '\xff', ' ',    '~'};
    for (size_t pos = 0; pos < 40; pos++) {
        for (size_t k = 0; k < sizeof(bytes); k++) {
            char buf[128];
            int n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nX: ");
            memset(buf + n, 'v', 40);
            buf[n + (int)pos] = bytes[k];
            memcpy(buf + n + 40, "v\r\n\r\n", 5);
            int rc = req_rc(buf, (size_t)n + 45);
            unsigned char c = (unsigned char)bytes[k];
            if (c == '\r')
                assert_int_equal(rc, ST_HTTP1_EBAD_EOL);
            else if (c < 0x20 && c != '\t')
                assert_int_equal(rc, ST_HTTP1_EBAD_VALUE);
            else if (c == 0x7f)
                assert_int_equal(rc, ST_HTTP1_EBAD_VALUE);
            else
                assert_int_equal(rc, n + 45);
        }
    }
}

static void
test_field_names(void **state)
{
    assert_int_equal(req_rc(S("GET / HTTP/1.1\r\nHost : a\r\n\r\n")), ST_HTTP1_ENAME_WS);
    assert_int_equal(req_rc(S("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n")), ST_HTTP1_ENAME_WS);
    assert_int_equal(req_rc(S("GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n")),
                     ST_HTTP1_ENAME_WS);
    assert_int_equal(req_rc(S("GET / HTTP/1.1\r\nHost: a\r\n: a\r\n\r\n")), ST_HTTP1_EBAD_NAME);
    assert_int_equal(req_rc(S("GET / HTTP/1.1\r\nHost: a\r\nX(Y): a\r\n\r\n")), ST_HTTP1_EBAD_NAME);
    assert_int_equal(req_rc(S("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n")), ST_HTTP1_EBAD_NAME);
    assert_int_equal(req_rc(S("GET / HTTP/1.1\r\nHost: a\r\nX\x01: a\r\n\r\n")),
                     ST_HTTP1_EBAD_NAME);
    assert_int_equal(req_rc(S("GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: a\r\n\r\n")),
                     ST_HTTP1_EBAD_NAME);
    assert_int_equal(req_rc(S("GET / HTTP/1.1\r\nHost: a\r\nX\0: a\r\n\r\n")), ST_HTTP1_EBAD_NAME);
    assert_true(req_rc(S("GET / HTTP/1.1\r\nHost: a\r\nX-!#$%&'*+.^_`|~: a\r\n\r\n")) > 0);
}

static void
test_host(void **state)
{
    struct st_http1_request r;

    assert_int_equal(req_rc(S("GET / HTTP/1.1\r\nX: a\r\n\r\n")), ST_HTTP1_EHOST);
    assert_int_equal(req_rc(S("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n")), ST_HTTP1_EHOST);
    assert_int_equal(req_rc(S("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n")), ST_HTTP1_EHOST);
    assert_int_equal(req_rc(S("GET / HTTP/1.1\r\nHost: a b\r\n\r\n")), ST_HTTP1_EHOST);
    assert_int_equal(req_rc(S("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n")), ST_HTTP1_EHOST);
    assert_int_equal(req_rc(S("GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n")), ST_HTTP1_EHOST);
    assert_int_equal(req_rc(S("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n")), ST_HTTP1_EHOST);
    assert_int_equal(req_rc(S("GET / HTTP/1.1\r\nHost: ::1\r\n\r\n")), ST_HTTP1_EHOST);
    assert_int_equal(st_http1_error_status(ST_HTTP1_EHOST), 400);
    /* An empty Host is what a client sends when the URI has no authority. */
    assert_true(req(S("GET / HTTP/1.1\r\nHost:\r\n\r\n"), &r) > 0);
    assert_str(r.host, "");
    assert_true(req(S("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"), &r) > 0);
    assert_str(r.host, "[::1]:8080");
    assert_true(req(S("GET / HTTP/1.1\r\nHOST: Example.COM:\r\n\r\n"), &r) > 0);
    assert_str(r.host, "Example.COM:");
    /* Absolute-form still needs a Host field in HTTP/1.1. */
    assert_int_equal(req_rc(S("GET http://a/ HTTP/1.1\r\n\r\n")), ST_HTTP1_EHOST);
}

static void
test_connection_flags(void **state)
{
    struct st_http1_request r;

    assert_true(req(S("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), &r) > 0);
    assert_false(r.keep_alive);
    assert_true(r.connection_close);
    assert_true(req(S("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), &r) > 0);
    assert_true(r.keep_alive);
    assert_true(req(S("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"), &r) > 0);
    assert_false(r.keep_alive);
    assert_true(req(S("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo\r\nConnection: close\r\n\r\n"),
                    &r) > 0);
    assert_true(r.connection_close);
    assert_true(req(S("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3"
                      "\r\n\r\n"),
                    &r) > 0);
    assert_true(r.expect_continue);
    assert_true(req(S("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
                      "Upgrade: websocket\r\n\r\n"),
                    &r) > 0);
    assert_true(r.upgrade);
    assert_str(r.upgrade_proto, "websocket");
    assert_true(r.keep_alive);
    /* Upgrade without the Connection token is not an upgrade. */
    assert_true(req(S("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n\r\n"), &r) > 0);
    assert_false(r.upgrade);
    assert_str(r.upgrade_proto, "");
}

/* ---- incremental and pipelined ---------------------------------------------------- */

static void
test_incremental(void **state)
{
    static const char *const inputs[] = {
        "\r\nPOST /a?b=c HTTP/1.1\r\nHost: h:1\r\nContent-Length: 3\r\nX: y\r\n\r\n",
        "GET http://x.y/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\nTransfer-Encoding: chunked\r\n\r\n",
    };

    for (size_t k = 0; k < ST_ARRAY_LEN(inputs); k++) {
        const char *in = inputs[k];
        size_t n = strlen(in);
        struct st_http1_request whole, part;
        struct st_http_header h1[8], h2[8];
        /* Copy to an exact-size buffer so ASan sees any read past the end. */
        char *copy = st_xmalloc(n);
        memcpy(copy, in, n);
        assert_int_equal(st_http1_parse_request(copy, n, NULL, &whole, h1, 8), (int)n);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(st_http1_parse_request(copy, i, NULL, &part, h2, 8), 0);
        assert_int_equal(st_http1_parse_request(copy, n, NULL, &part, h2, 8), (int)n);
        assert_true(st_str_eq(whole.target, part.target));
        assert_true(st_str_eq(whole.host, part.host));
        assert_int_equal(whole.num_headers, part.num_headers);
        assert_true(whole.content_length == part.content_length);
        assert_int_equal(whole.chunked, part.chunked);
        assert_int_equal(whole.keep_alive, part.keep_alive);
        free(copy);
    }
    /* Errors are found as soon as the offending line is complete. */
    static const char bad[] = "GET / HTTP/1.1\r\nHost: a\r\nX : b\r\n";
    for (size_t i = 0; i < sizeof(bad) - 1; i++)
        assert_int_equal(req_rc(bad, i), 0);
    assert_int_equal(req_rc(bad, sizeof(bad) - 1), ST_HTTP1_ENAME_WS);
}

static void
test_empty_input(void **state)
{
    struct st_http1_request r;
    struct st_http1_response rs;
    struct st_http1_chunked c;
    struct st_str data;
    size_t used = 7;

    assert_int_equal(st_http1_parse_request(NULL, 0, NULL, &r, hdrs, 32), 0);
    assert_int_equal(st_http1_parse_response(NULL, 0, NULL, &rs, hdrs, 32), 0);
    st_http1_chunked_init(&c);
    assert_int_equal(st_http1_chunked_decode(&c, NULL, 0, &used, &data), 0);
    assert_int_equal(used, 0);
    assert_int_equal(data.n, 0);
}

static void
test_pipelined(void **state)
{
    static const char in[] = "POST /one HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                             "GET /two HTTP/1.1\r\nHost: a\r\n\r\n"
                             "GET /three HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    struct st_http1_request r;
    size_t pos = 0;

    int rc = req(in, sizeof(in) - 1, &r);
    assert_int_equal(rc, 50);
    assert_str(r.path, "/one");
    pos += (size_t)rc + (size_t)r.content_length;
    rc = req(in + pos, sizeof(in) - 1 - pos, &r);
    assert_true(rc > 0);
    assert_str(r.path, "/two");
    pos += (size_t)rc;
    rc = req(in + pos, sizeof(in) - 1 - pos, &r);
    assert_int_equal(rc, sizeof(in) - 1 - pos);
    assert_str(r.path, "/three");
    assert_false(r.keep_alive);
}

/* ---- responses ---------------------------------------------------------------- */

static void
test_response_basic(void **state)
{
    static const char in[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                             "Content-Length: 5\r\n\r\nhello";
    struct st_http1_response r;

    assert_int_equal(resp(in, sizeof(in) - 1, &r), sizeof(in) - 1 - 5);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.minor_version, 1);
    assert_str(r.reason, "OK");
    assert_int_equal(r.num_headers, 2);
    assert_true(r.content_length == 5);
    assert_true(r.keep_alive);
    assert_int_equal(st_http1_response_body(&r, ST_HTTP_GET), ST_HTTP1_BODY_LENGTH);

    assert_true(resp(S("HTTP/1.1 204\r\n\r\n"), &r) > 0);
    assert_int_equal(r.status, 204);
    assert_str(r.reason, "");
    assert_true(resp(S("HTTP/1.0 404 Not  Found \r\nConnection: keep-alive\r\n\r\n"), &r) > 0);
    assert_str(r.reason, "Not  Found ");
    assert_true(r.keep_alive);
    assert_true(resp(S("HTTP/1.0 200 OK\r\n\r\n"), &r) > 0);
    assert_false(r.keep_alive);
    assert_true(resp(S("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"), &r) > 0);
    assert_false(r.keep_alive);
    assert_true(r.connection_close);
    /* No Host is needed in a response. */
    assert_true(resp(S("HTTP/1.1 500 \r\n\r\n"), &r) > 0);
    assert_str(r.reason, "");
}

static void
test_response_errors(void **state)
{
    assert_int_equal(resp_rc(S("HTTP/1.1 99 X\r\n\r\n")), ST_HTTP1_EBAD_STATUS);
    assert_int_equal(resp_rc(S("HTTP/1.1 600 X\r\n\r\n")), ST_HTTP1_EBAD_STATUS);
    assert_int_equal(resp_rc(S("HTTP/1.1 099 X\r\n\r\n")), ST_HTTP1_EBAD_STATUS);
    assert_int_equal(resp_rc(S("HTTP/1.1 2000 X\r\n\r\n")), ST_HTTP1_EBAD_STATUS);
    assert_int_equal(resp_rc(S("HTTP/1.1 2x0 X\r\n\r\n")), ST_HTTP1_EBAD_STATUS);
    assert_int_equal(resp_rc(S("HTTP/1.1 20\r\n\r\n")), ST_HTTP1_EBAD_LINE);
    assert_int_equal(resp_rc(S("HTTP/1.1  200 OK\r\n\r\n")), ST_HTTP1_EBAD_STATUS);
    assert_int_equal(resp_rc(S("HTTP/1.1\t200 OK\r\n\r\n")), ST_HTTP1_EBAD_LINE);
    assert_int_equal(resp_rc(S("HTTP/1.2 200 OK\r\n\r\n")), ST_HTTP1_EVERSION);
    assert_int_equal(resp_rc(S("HTTP/2 200 OK\r\n\r\n")), ST_HTTP1_EBAD_VERSION);
    assert_int_equal(resp_rc(S("ICY 200 OK\r\n\r\n")), ST_HTTP1_EBAD_VERSION);
    assert_int_equal(resp_rc(S("HTTP/1.1 200 O\x01K\r\n\r\n")), ST_HTTP1_EBAD_LINE);
    assert_int_equal(resp_rc(S("HTTP/1.1 200 OK\nX: y\r\n\r\n")), ST_HTTP1_EBAD_EOL);
    assert_int_equal(resp_rc(S("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n")), ST_HTTP1_EOBS_FOLD);
    assert_int_equal(resp_rc(S("HTTP/1.1 200 OK\r\nX : a\r\n\r\n")), ST_HTTP1_ENAME_WS);
    assert_int_equal(resp_rc(S("HTTP/1.1 200 OK\r\nX: a\0\r\n\r\n")), ST_HTTP1_EBAD_VALUE);
    /* Framing that could be read two ways. */
    assert_int_equal(resp_rc(S("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n")),
                     ST_HTTP1_ECL_TE);
    assert_int_equal(
        resp_rc(S("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")),
        ST_HTTP1_EBAD_CL);
    assert_int_equal(resp_rc(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n")),
                     ST_HTTP1_EBAD_TE);
    assert_int_equal(resp_rc(S("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")),
                     ST_HTTP1_EBAD_TE);
    assert_int_equal(resp_rc(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")),
                     ST_HTTP1_ECODING);
    assert_int_equal(resp_rc(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")),
                     ST_HTTP1_ECODING);
    /* Head caps apply to responses too. */
    struct st_http1_limits lim = {32, 100, 0};
    struct st_http1_response r;
    static const char big[] = "HTTP/1.1 200 OK\r\nX-Long: 012345678901234567890\r\n\r\n";
    assert_int_equal(st_http1_parse_response(big, sizeof(big) - 1, &lim, &r, hdrs, 32),
                     ST_HTTP1_EHEAD_TOO_BIG);
    assert_int_equal(st_http1_parse_response(big, 31, &lim, &r, hdrs, 32), 0);
    lim.max_head_bytes = 1024;
    lim.max_headers = 0;
    assert_int_equal(st_http1_parse_response(big, sizeof(big) - 1, &lim, &r, hdrs, 32),
                     ST_HTTP1_ETOO_MANY_HEADERS);
}

static void
test_response_body_rules(void **state)
{
    struct st_http1_response r;

    assert_true(resp(S("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"), &r) > 0);
    assert_int_equal(st_http1_response_body(&r, ST_HTTP_HEAD), ST_HTTP1_BODY_NONE);
    assert_int_equal(st_http1_response_body(&r, ST_HTTP_GET), ST_HTTP1_BODY_LENGTH);
    /* A tunnel opens after 2xx to CONNECT; a refusal has a body. */
    assert_int_equal(st_http1_response_body(&r, ST_HTTP_CONNECT), ST_HTTP1_BODY_NONE);
    assert_true(
        resp(S("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 3\r\n\r\n"), &r) > 0);
    assert_int_equal(st_http1_response_body(&r, ST_HTTP_CONNECT), ST_HTTP1_BODY_LENGTH);
    assert_true(resp(S("HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n"), &r) > 0);
    assert_int_equal(st_http1_response_body(&r, ST_HTTP_GET), ST_HTTP1_BODY_NONE);
    assert_true(resp(S("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"), &r) > 0);
    assert_int_equal(st_http1_response_body(&r, ST_HTTP_GET), ST_HTTP1_BODY_NONE);
    assert_true(resp(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), &r) > 0);
    assert_true(r.chunked);
    assert_int_equal(st_http1_response_body(&r, ST_HTTP_POST), ST_HTTP1_BODY_CHUNKED);
    assert_true(resp(S("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), &r) > 0);
    assert_int_equal(st_http1_response_body(&r, ST_HTTP_GET), ST_HTTP1_BODY_NONE);
    assert_true(resp(S("HTTP/1.1 200 OK\r\n\r\n"), &r) > 0);
    assert_int_equal(st_http1_response_body(&r, ST_HTTP_GET), ST_HTTP1_BODY_CLOSE);

    /* 1xx: no body, then the final response follows on the same connection. */
    static const char in[] = "HTTP/1.1 100 Continue\r\n\r\n"
                             "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                             "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}";
    size_t pos = 0;
    int rc = resp(in, sizeof(in) - 1, &r);
    assert_int_equal(rc, 25);
    assert_int_equal(r.status, 100);
    assert_int_equal(st_http1_response_body(&r, ST_HTTP_POST), ST_HTTP1_BODY_NONE);
    pos += (size_t)rc;
    rc = resp(in + pos, sizeof(in) - 1 - pos, &r);
    assert_int_equal(r.status, 103);
    assert_int_equal(st_http1_response_body(&r, ST_HTTP_POST), ST_HTTP1_BODY_NONE);
    pos += (size_t)rc;
    rc = resp(in + pos, sizeof(in) - 1 - pos, &r);
    assert_int_equal(r.status, 201);
    assert_int_equal(pos + (size_t)rc + 2, sizeof(in) - 1);

    assert_true(resp(S("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                       "Upgrade: websocket\r\n\r\n"),
                     &r) > 0);
    assert_true(r.upgrade);
    assert_str(r.upgrade_proto, "websocket");
    assert_int_equal(st_http1_response_body(&r, ST_HTTP_GET), ST_HTTP1_BODY_NONE);
}

static void
test_response_incremental(void **state)
{
    static const char in[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX: y\r\n\r\n";
    struct st_http1_response r;
    size_t n = sizeof(in) - 1;

    for (size_t i = 0; i < n; i++)
        assert_int_equal(resp_rc(in, i), 0);
    assert_int_equal(resp(in, n, &r), n);
    assert_true(r.chunked);
}

/* ---- chunked -------------------------------------------------------------------- */

struct dechunk {
    struct st_buf out;
    int rc;
    size_t end; /* bytes of input up to the end of the body (or of the error) */
    size_t trailers;
    char last_trailer[64];
};

static int
dechunk_trailer(void *arg, struct st_str name, struct st_str value)
{
    struct dechunk *d = arg;

    d->trailers++;
    snprintf(d->last_trailer, sizeof(d->last_trailer), ST_STR_FMT "=" ST_STR_FMT, ST_STR_ARG(name),
             ST_STR_ARG(value));
    return st_str_eq_c(name, "Abort") ? -ECANCELED : 0;
}

/*
 * Decodes <in> fed in pieces: the first piece is <split> bytes, then pieces
 * of <step> bytes. Each piece is copied to an exact-size heap buffer.
 */
static void
dechunk_run(struct dechunk *d, const char *in, size_t n, size_t split, size_t step,
            const struct st_http1_chunked *cfg)
{
    struct st_http1_chunked c;
    size_t pos = 0;

    if (cfg != NULL)
        c = *cfg;
    else
        st_http1_chunked_init(&c);
    memset(d, 0, sizeof(*d));
    c.on_trailer = dechunk_trailer;
    c.arg = d;
    st_buf_init(&d->out, 0);
    while (pos < n) {
        size_t piece = ST_MIN(pos == 0 && split > 0 ? split : step, n - pos);
        char *copy = st_xmalloc(piece);
        memcpy(copy, in + pos, piece);
        for (size_t off = 0; off < piece;) {
            size_t used = 0;
            struct st_str data;
            int rc = st_http1_chunked_decode(&c, copy + off, piece - off, &used, &data);
            assert_true(used <= piece - off);
            if (data.n > 0) {
                assert_true(data.p >= copy + off && data.p + data.n <= copy + piece);
                assert_int_equal(st_buf_append(&d->out, data.p, data.n), 0);
            }
            off += used;
            if (rc != 0) {
                d->rc = rc;
                d->end = pos + off;
                free(copy);
                return;
            }
            assert_true(used > 0);
        }
        free(copy);
        pos += piece;
    }
    d->end = n;
}

static void
test_chunked_simple(void **state)
{
    static const char in[] = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\nNEXT";
    struct st_http1_chunked c;
    struct st_str data;
    size_t used;
    struct dechunk d;

    dechunk_run(&d, in, sizeof(in) - 1, 0, sizeof(in), NULL);
    assert_int_equal(d.rc, 1);
    assert_int_equal(d.end, sizeof(in) - 1 - 4);
    assert_int_equal(d.out.len, 11);
    assert_memory_equal(d.out.data, "hello world", 11);
    st_buf_free(&d.out);

    /* Zero-copy: the first span points into the input itself. */
    st_http1_chunked_init(&c);
    assert_int_equal(st_http1_chunked_decode(&c, in, sizeof(in) - 1, &used, &data), 0);
    assert_int_equal(used, 8);
    assert_ptr_equal(data.p, in + 3);
    assert_int_equal(data.n, 5);
    /* Once done, it stays done and consumes nothing. */
    dechunk_run(&d, in, sizeof(in) - 1, 0, sizeof(in), NULL);
    st_buf_free(&d.out);
    st_http1_chunked_init(&c);
    size_t pos = 0;
    int rc;
    do {
        rc = st_http1_chunked_decode(&c, in + pos, sizeof(in) - 1 - pos, &used, &data);
        pos += used;
    } while (rc == 0);
    assert_int_equal(rc, 1);
    assert_int_equal(st_http1_chunked_decode(&c, "xyz", 3, &used, &data), 1);
    assert_int_equal(used, 0);
    assert_int_equal(data.n, 0);
}

static const char *const chunk_inputs[] = {
    "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    "A;a=b;c=\"q\\\"d;e\" ; f = g\r\n0123456789\r\n1\t;x\r\n!\r\n0\r\n\r\nrest",
    "3\r\nabc\r\n0;last\r\nExpires: never\r\nX-Sum:  42 \r\n\r\n",
    "00000000000000f\r\n0123456789abcde\r\n0\r\n\r\n",
    "5\r\nhel",
    "5\r\nhelloX\r\n",
    "3\r\nabc\r\n0\r\nX : y\r\n\r\n",
    "2\r\nab\r\n1 \r\nc\r\n0\r\n\r\n",
};

static void
test_chunked_every_split(void **state)
{
    for (size_t k = 0; k < ST_ARRAY_LEN(chunk_inputs); k++) {
        const char *in = chunk_inputs[k];
        size_t n = strlen(in);
        struct dechunk whole, part;

        dechunk_run(&whole, in, n, 0, n, NULL);
        for (size_t split = 1; split < n; split++) {
            dechunk_run(&part, in, n, split, n, NULL);
            assert_int_equal(part.rc, whole.rc);
            assert_int_equal(part.end, whole.end);
            assert_int_equal(part.out.len, whole.out.len);
            assert_memory_equal(part.out.data, whole.out.data, whole.out.len);
            assert_int_equal(part.trailers, whole.trailers);
            st_buf_free(&part.out);
        }
        dechunk_run(&part, in, n, 0, 1, NULL); /* one byte at a time */
        assert_int_equal(part.rc, whole.rc);
        assert_int_equal(part.end, whole.end);
        assert_int_equal(part.out.len, whole.out.len);
        st_buf_free(&part.out);
        st_buf_free(&whole.out);
    }
    /* What the whole runs decode to. */
    struct dechunk d;
    dechunk_run(&d, chunk_inputs[1], strlen(chunk_inputs[1]), 0, 1000, NULL);
    assert_int_equal(d.rc, 1);
    assert_int_equal(d.out.len, 11);
    assert_memory_equal(d.out.data, "0123456789!", 11);
    assert_int_equal(d.end, strlen(chunk_inputs[1]) - 4);
    st_buf_free(&d.out);
    dechunk_run(&d, chunk_inputs[2], strlen(chunk_inputs[2]), 0, 1000, NULL);
    assert_int_equal(d.rc, 1);
    assert_int_equal(d.trailers, 2);
    assert_string_equal(d.last_trailer, "X-Sum=42");
    st_buf_free(&d.out);
    dechunk_run(&d, chunk_inputs[4], strlen(chunk_inputs[4]), 0, 1000, NULL);
    assert_int_equal(d.rc, 0); /* incomplete, not an error */
    assert_int_equal(d.out.len, 3);
    st_buf_free(&d.out);
}

static void
test_chunked_errors(void **state)
{
    static const struct {
        const char *in;
        int rc;
    } cases[] = {
        {"\r\n", ST_HTTP1_EBAD_CHUNK},   /* no size */
        {"-1\r\n", ST_HTTP1_EBAD_CHUNK}, /* negative */
        {"+1\r\n", ST_HTTP1_EBAD_CHUNK},
        {"0x5\r\nhello\r\n", ST_HTTP1_EBAD_CHUNK}, /* not hex */
        {"g\r\n", ST_HTTP1_EBAD_CHUNK},
        {" 5\r\nhello\r\n", ST_HTTP1_EBAD_CHUNK},       /* leading space */
        {"5 \r\nhello\r\n", ST_HTTP1_EBAD_CHUNK},       /* BWS not followed by ';' */
        {"5\nhello\r\n", ST_HTTP1_EBAD_CHUNK},          /* bare LF */
        {"5\rhello\r\n", ST_HTTP1_EBAD_CHUNK},          /* bare CR */
        {"5\r\nhelloXY", ST_HTTP1_EBAD_CHUNK},          /* no CRLF after data */
        {"5\r\nhello\n0\r\n\r\n", ST_HTTP1_EBAD_CHUNK}, /* LF only after data */
        {"5\r\nhello\rX", ST_HTTP1_EBAD_CHUNK},
        {"0\r\n\n", ST_HTTP1_EBAD_CHUNK}, /* bare LF ends body */
        {"0\r\n\rX", ST_HTTP1_EBAD_CHUNK},
        {"0\r\nX: y\n\r\n", ST_HTTP1_EBAD_CHUNK}, /* bare LF in trailer */
        {"0\r\nX: y\rZ\r\n", ST_HTTP1_EBAD_CHUNK},
        {"10000000000000000\r\n", ST_HTTP1_EBAD_CHUNK}, /* 17 digits */
        {"00000000000000000\r\n", ST_HTTP1_EBAD_CHUNK}, /* 17 digits, even zeros */
        {"8000000000000000\r\n", ST_HTTP1_EBAD_CHUNK},  /* over 2^63-1 */
        {"ffffffffffffffff\r\n", ST_HTTP1_EBAD_CHUNK},
        {"5;\r\nhello\r\n", ST_HTTP1_ECHUNK_EXT},   /* empty ext name */
        {"5;a=\r\nhello\r\n", ST_HTTP1_ECHUNK_EXT}, /* empty ext value */
        {"5;a b\r\n", ST_HTTP1_ECHUNK_EXT},
        {"5;a \r\n", ST_HTTP1_ECHUNK_EXT},    /* BWS not followed by '=' */
        {"5;a=\"x\r\n", ST_HTTP1_ECHUNK_EXT}, /* CR in a quoted string */
        {"5;a=\"x\x01\"\r\n", ST_HTTP1_ECHUNK_EXT},
        {"5;a=\"x\"y\r\n", ST_HTTP1_ECHUNK_EXT},
        {"5;a=b=c\r\n", ST_HTTP1_ECHUNK_EXT},
        {"5;a=b \r\n", ST_HTTP1_ECHUNK_EXT},
        {"5;(\r\n", ST_HTTP1_ECHUNK_EXT},
        {"5;a\nhello", ST_HTTP1_ECHUNK_EXT},
        {"0\r\nX : y\r\n\r\n", ST_HTTP1_EBAD_TRAILER},
        {"0\r\n: y\r\n\r\n", ST_HTTP1_EBAD_TRAILER},
        {"0\r\nX y\r\n\r\n", ST_HTTP1_EBAD_TRAILER},
        {"0\r\nX: a\r\n b\r\n\r\n", ST_HTTP1_EBAD_TRAILER},
        {"0\r\nX: a\x7f\r\n\r\n", ST_HTTP1_EBAD_TRAILER},
        {"0\r\nAbort: now\r\n\r\n", -ECANCELED}, /* the callback's verdict */
    };

    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        struct dechunk d;
        dechunk_run(&d, cases[i].in, strlen(cases[i].in), 0, 1000, NULL);
        if (d.rc != cases[i].rc)
            fail_msg("case %zu (%s): got %d, want %d", i, cases[i].in, d.rc, cases[i].rc);
        st_buf_free(&d.out);
    }
    /* An error is final. */
    struct st_http1_chunked c;
    struct st_str data;
    size_t used;
    st_http1_chunked_init(&c);
    assert_int_equal(st_http1_chunked_decode(&c, "z", 1, &used, &data), ST_HTTP1_EBAD_CHUNK);
    assert_int_equal(st_http1_chunked_decode(&c, "5\r\n", 3, &used, &data), ST_HTTP1_EBAD_CHUNK);
    assert_int_equal(used, 0);
    assert_int_equal(st_http1_error_status(ST_HTTP1_EBAD_CHUNK), 400);
    /* The largest size is accepted and waits for its data. */
    st_http1_chunked_init(&c);
    assert_int_equal(st_http1_chunked_decode(&c, "7fffffffffffffff\r\n", 18, &used, &data), 0);
    assert_int_equal(used, 18);
}

static void
test_chunked_caps(void **state)
{
    struct st_http1_chunked cfg;
    struct dechunk d;
    char buf[2048];

    /* Extensions: 256 bytes by default, counted from the ';'. */
    memset(buf, 'e', sizeof(buf));
    memcpy(buf, "1;", 2);
    memcpy(buf + 256, "\r\nx\r\n0\r\n\r\n", 10);
    dechunk_run(&d, buf, 266, 0, 4096, NULL);
    assert_int_equal(d.rc, 1); /* ';' + 254 bytes */
    st_buf_free(&d.out);
    memcpy(buf + 256, "ee\r\nx\r\n0\r\n\r\n", 12);
    dechunk_run(&d, buf, 268, 0, 4096, NULL);
    assert_int_equal(d.rc, ST_HTTP1_ECHUNK_EXT);
    st_buf_free(&d.out);
    st_http1_chunked_init(&cfg);
    cfg.max_ext = 1024;
    dechunk_run(&d, buf, 268, 0, 4096, &cfg);
    assert_int_equal(d.rc, 1);
    st_buf_free(&d.out);
    /* The counter restarts with each chunk. */
    static const char two[] = "1;aaaa\r\nx\r\n1;bbbb\r\ny\r\n0;cccc\r\n\r\n";
    cfg.max_ext = 5;
    dechunk_run(&d, two, sizeof(two) - 1, 0, 4096, &cfg);
    assert_int_equal(d.rc, 1);
    st_buf_free(&d.out);
    cfg.max_ext = 4;
    dechunk_run(&d, two, sizeof(two) - 1, 0, 4096, &cfg);
    assert_int_equal(d.rc, ST_HTTP1_ECHUNK_EXT);
    st_buf_free(&d.out);

    /* Trailer count, trailer bytes, trailer line length. */
    static const char tr[] = "0\r\nA: 1\r\nB: 2\r\n\r\n";
    st_http1_chunked_init(&cfg);
    cfg.max_trailers = 2;
    dechunk_run(&d, tr, sizeof(tr) - 1, 0, 4096, &cfg);
    assert_int_equal(d.rc, 1);
    st_buf_free(&d.out);
    cfg.max_trailers = 1;
    dechunk_run(&d, tr, sizeof(tr) - 1, 0, 4096, &cfg);
    assert_int_equal(d.rc, ST_HTTP1_ETRAILERS);
    assert_int_equal(st_http1_error_status(ST_HTTP1_ETRAILERS), 431);
    st_buf_free(&d.out);
    st_http1_chunked_init(&cfg);
    cfg.max_trailer_bytes = 14; /* "A: 1\r\nB: 2\r\n\r\n" is 14 */
    dechunk_run(&d, tr, sizeof(tr) - 1, 0, 4096, &cfg);
    assert_int_equal(d.rc, 1);
    st_buf_free(&d.out);
    cfg.max_trailer_bytes = 13;
    dechunk_run(&d, tr, sizeof(tr) - 1, 0, 4096, &cfg);
    assert_int_equal(d.rc, ST_HTTP1_ETRAILERS);
    st_buf_free(&d.out);
    st_http1_chunked_init(&cfg);
    cfg.max_trailer_bytes = 1 << 20;
    memset(buf, 'v', sizeof(buf));
    memcpy(buf, "0\r\nX: ", 6);
    memcpy(buf + 3 + ST_HTTP1_TRAILER_LINE_MAX, "\r\n\r\n", 4);
    dechunk_run(&d, buf, 3 + ST_HTTP1_TRAILER_LINE_MAX + 4, 0, 4096, &cfg);
    assert_int_equal(d.rc, 1);
    st_buf_free(&d.out);
    memcpy(buf + 3 + ST_HTTP1_TRAILER_LINE_MAX, "v\r\n\r\n", 5);
    dechunk_run(&d, buf, 3 + ST_HTTP1_TRAILER_LINE_MAX + 5, 0, 4096, &cfg);
    assert_int_equal(d.rc, ST_HTTP1_ETRAILERS);
    st_buf_free(&d.out);
}

static void
test_chunk_encode(void **state)
{
    char head[ST_HTTP1_CHUNK_HEAD_MAX];
    struct st_buf b = ST_BUF_INIT(64);
    struct dechunk d;

    assert_int_equal(st_http1_chunk_head(head, 0x1a), 4);
    assert_memory_equal(head, "1a\r\n", 4);
    assert_int_equal(st_http1_chunk_head(head, 1), 3);
    assert_int_equal(st_http1_chunk_head(head, UINT64_MAX), 18);
    assert_memory_equal(head, "ffffffffffffffff\r\n", 18);

    assert_int_equal(st_http1_append_chunk(&b, "hello", 5), 0);
    assert_int_equal(st_http1_append_chunk(&b, "0123456789abcdefg", 17), 0);
    assert_int_equal(st_http1_append_chunk(&b, "x", 0), ST_EINVAL);
    assert_int_equal(st_buf_append_str(&b, ST_HTTP1_CHUNK_LAST), 0);
    assert_string_equal(b.data, "5\r\nhello\r\n11\r\n0123456789abcdefg\r\n0\r\n\r\n");
    dechunk_run(&d, b.data, b.len, 0, 3, NULL);
    assert_int_equal(d.rc, 1);
    assert_int_equal(d.out.len, 22);
    assert_memory_equal(d.out.data, "hello0123456789abcdefg", 22);
    st_buf_free(&d.out);
    /* Over the buffer cap: nothing is appended. */
    size_t len = b.len;
    assert_int_equal(st_http1_append_chunk(&b, "0123456789abcdefghijklmnopqrstuvwxyz", 36),
                     ST_ETOOBIG);
    assert_int_equal(b.len, len);
    st_buf_free(&b);
}

/* ---- serializers ---------------------------------------------------------------- */

static void
test_write_request_head(void **state)
{
    struct st_buf b = ST_BUF_INIT(0);
    struct st_http_header h[] = {
        {ST_STR("Host"), ST_STR("web:8080")},
        {ST_STR("Content-Length"), ST_STR("3")},
        {ST_STR("X-Empty"), ST_STR("")},
    };
    struct st_http1_request r;

    assert_int_equal(st_http1_write_request_head(&b, ST_STR("PUT"), ST_STR("/a?b=c"), 1, h, 3), 0);
    assert_string_equal(b.data, "PUT /a?b=c HTTP/1.1\r\nHost: web:8080\r\nContent-Length: 3\r\n"
                                "X-Empty: \r\n\r\n");
    assert_int_equal(req(b.data, b.len, &r), (int)b.len);
    assert_int_equal(r.method_id, ST_HTTP_PUT);
    assert_true(r.content_length == 3);
    st_buf_reset(&b);
    assert_int_equal(st_http1_write_request_head(&b, ST_STR("GET"), ST_STR("/"), 0, NULL, 0), 0);
    assert_string_equal(b.data, "GET / HTTP/1.0\r\n\r\n");
    st_buf_reset(&b);

    /* Injection attempts are refused and append nothing. */
    struct st_http_header crlf[] = {{ST_STR("X"), ST_STR("a\r\nHost: evil")}};
    struct st_http_header lf[] = {{ST_STR("X"), ST_STR("a\nb")}};
    struct st_http_header nul[] = {{ST_STR("X"), {"a\0b", 3}}};
    struct st_http_header name_colon[] = {{ST_STR("X: y"), ST_STR("z")}};
    struct st_http_header empty_name[] = {{ST_STR(""), ST_STR("z")}};
    struct st_http_header padded[] = {{ST_STR("X"), ST_STR(" z")}};
    assert_int_equal(st_http1_write_request_head(&b, ST_STR("GET"), ST_STR("/"), 1, crlf, 1),
                     ST_EINVAL);
    assert_int_equal(st_http1_write_request_head(&b, ST_STR("GET"), ST_STR("/"), 1, lf, 1),
                     ST_EINVAL);
    assert_int_equal(st_http1_write_request_head(&b, ST_STR("GET"), ST_STR("/"), 1, nul, 1),
                     ST_EINVAL);
    assert_int_equal(st_http1_write_request_head(&b, ST_STR("GET"), ST_STR("/"), 1, name_colon, 1),
                     ST_EINVAL);
    assert_int_equal(st_http1_write_request_head(&b, ST_STR("GET"), ST_STR("/"), 1, empty_name, 1),
                     ST_EINVAL);
    assert_int_equal(st_http1_write_request_head(&b, ST_STR("GET"), ST_STR("/"), 1, padded, 1),
                     ST_EINVAL);
    assert_int_equal(st_http1_write_request_head(&b, ST_STR("GET"), ST_STR("/ HTTP/1.1"), 1, h, 1),
                     ST_EINVAL);
    assert_int_equal(st_http1_write_request_head(&b, ST_STR("GET"), ST_STR("/\r\n"), 1, h, 1),
                     ST_EINVAL);
    assert_int_equal(st_http1_write_request_head(&b, ST_STR(""), ST_STR("/"), 1, h, 1), ST_EINVAL);
    assert_int_equal(st_http1_write_request_head(&b, ST_STR("G T"), ST_STR("/"), 1, h, 1),
                     ST_EINVAL);
    assert_int_equal(st_http1_write_request_head(&b, ST_STR("GET"), ST_STR(""), 1, h, 1),
                     ST_EINVAL);
    assert_int_equal(st_http1_write_request_head(&b, ST_STR("GET"), ST_STR("/"), 2, h, 1),
                     ST_EINVAL);
    assert_int_equal(b.len, 0);
    st_buf_free(&b);

    /* Over the buffer's cap: nothing is appended. */
    struct st_buf small = ST_BUF_INIT(20);
    assert_int_equal(st_buf_append_str(&small, "xx"), 0);
    assert_int_equal(st_http1_write_request_head(&small, ST_STR("GET"), ST_STR("/"), 1, h, 1),
                     ST_ETOOBIG);
    assert_int_equal(small.len, 2);
    st_buf_free(&small);
}

static void
test_write_response_head(void **state)
{
    struct st_buf b = ST_BUF_INIT(0);
    struct st_http_header h[] = {{ST_STR("Content-Type"), ST_STR("application/json")}};
    struct st_http1_response r;

    assert_int_equal(st_http1_write_response_head(&b, 404, ST_STR(""), 1, h, 1), 0);
    assert_string_equal(b.data, "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\r\n");
    assert_int_equal(resp(b.data, b.len, &r), (int)b.len);
    assert_int_equal(r.status, 404);
    st_buf_reset(&b);
    assert_int_equal(st_http1_write_response_head(&b, 299, ST_STR(""), 0, NULL, 0), 0);
    assert_string_equal(b.data, "HTTP/1.0 299 \r\n\r\n");
    st_buf_reset(&b);
    assert_int_equal(st_http1_write_response_head(&b, 200, ST_STR("Fine"), 1, NULL, 0), 0);
    assert_string_equal(b.data, "HTTP/1.1 200 Fine\r\n\r\n");
    st_buf_reset(&b);
    assert_int_equal(st_http1_write_response_head(&b, 99, ST_STR(""), 1, NULL, 0), ST_EINVAL);
    assert_int_equal(st_http1_write_response_head(&b, 600, ST_STR(""), 1, NULL, 0), ST_EINVAL);
    assert_int_equal(st_http1_write_response_head(&b, 200, ST_STR("O\r\nX: y"), 1, NULL, 0),
                     ST_EINVAL);
    assert_int_equal(b.len, 0);
    assert_string_equal(st_http_status_reason(503), "Service Unavailable");
    assert_string_equal(st_http_status_reason(299), "");
    st_buf_free(&b);
}

/* ---- header and URL helpers ----------------------------------------------------- */

static void
test_hop_by_hop(void **state)
{
    static const char *const hop[] = {"Connection",
                                      "keep-alive",
                                      "PROXY-CONNECTION",
                                      "te",
                                      "Trailer",
                                      "transfer-encoding",
                                      "Upgrade",
                                      "Proxy-Authenticate",
                                      "proxy-authorization"};
    static const char *const end[] = {"Content-Length",   "Trailers",      "Host",        "T",
                                      "Upgrade-Insecure", "Authorization", "Keep-Alives", ""};

    for (size_t i = 0; i < ST_ARRAY_LEN(hop); i++)
        assert_true(st_http_is_hop_by_hop(st_str_c(hop[i])));
    for (size_t i = 0; i < ST_ARRAY_LEN(end); i++)
        assert_false(st_http_is_hop_by_hop(st_str_c(end[i])));

    struct st_http_header h[] = {
        {ST_STR("Connection"), ST_STR("close, X-Secret")},
        {ST_STR("X-Secret"), ST_STR("1")},
        {ST_STR("connection"), ST_STR("X-Other")},
    };
    assert_true(st_http_connection_lists(h, 3, ST_STR("x-secret")));
    assert_true(st_http_connection_lists(h, 3, ST_STR("X-OTHER")));
    assert_true(st_http_connection_lists(h, 3, ST_STR("close")));
    assert_false(st_http_connection_lists(h, 3, ST_STR("X-Secre")));
    assert_false(st_http_connection_lists(h, 2, ST_STR("X-Other")));
}

static void
test_header_lookup(void **state)
{
    struct st_http_header h[] = {
        {ST_STR("Accept"), ST_STR("a")},
        {ST_STR("Cookie"), ST_STR("1")},
        {ST_STR("cookie"), ST_STR("2")},
    };

    assert_int_equal(st_http_header_find(h, 3, ST_STR("COOKIE"), 0), 1);
    assert_int_equal(st_http_header_find(h, 3, ST_STR("COOKIE"), 2), 2);
    assert_int_equal(st_http_header_find(h, 3, ST_STR("COOKIE"), 3), 3);
    assert_int_equal(st_http_header_find(h, 3, ST_STR("Host"), 0), 3);
    assert_ptr_equal(st_http_header_get(h, 3, "accept"), &h[0]);
    assert_null(st_http_header_get(h, 3, "accep"));
    assert_null(st_http_header_get(h, 0, "accept"));
}

static void
test_tokens(void **state)
{
    struct st_str list = ST_STR(" a ,, b\t,\"x, y\" , c;q=\"1,2\",  ");
    struct st_str t;

    assert_true(st_http_token_next(&list, &t));
    assert_str(t, "a");
    assert_true(st_http_token_next(&list, &t));
    assert_str(t, "b");
    assert_true(st_http_token_next(&list, &t));
    assert_str(t, "\"x, y\"");
    assert_true(st_http_token_next(&list, &t));
    assert_str(t, "c;q=\"1,2\"");
    assert_false(st_http_token_next(&list, &t));
    assert_false(st_http_token_next(&list, &t));
    list = ST_STR("");
    assert_false(st_http_token_next(&list, &t));
    list = ST_STR(" , ,");
    assert_false(st_http_token_next(&list, &t));
    assert_true(st_http_token_has(ST_STR("keep-alive, Upgrade"), "upgrade"));
    assert_false(st_http_token_has(ST_STR("keep-alive, Upgrade2"), "upgrade"));
}

static void
test_pct_decode(void **state)
{
    char out[16];

    assert_int_equal(st_http_pct_decode(ST_STR("a%20b%2Fc%2f"), out, sizeof(out), false), 6);
    assert_string_equal(out, "a b/c/");
    assert_int_equal(st_http_pct_decode(ST_STR("a+b"), out, sizeof(out), false), 3);
    assert_string_equal(out, "a+b");
    assert_int_equal(st_http_pct_decode(ST_STR("a+b%2B"), out, sizeof(out), true), 4);
    assert_string_equal(out, "a b+");
    assert_int_equal(st_http_pct_decode(ST_STR(""), out, sizeof(out), true), 0);
    assert_string_equal(out, "");
    assert_int_equal(st_http_pct_decode(ST_STR("%C3%A9"), out, sizeof(out), true), 2);
    assert_string_equal(out, "\xc3\xa9");
    assert_int_equal(st_http_pct_decode(ST_STR("%zz"), out, sizeof(out), true), ST_EPARSE);
    assert_int_equal(st_http_pct_decode(ST_STR("%4"), out, sizeof(out), true), ST_EPARSE);
    assert_int_equal(st_http_pct_decode(ST_STR("a%"), out, sizeof(out), true), ST_EPARSE);
    assert_int_equal(st_http_pct_decode(ST_STR("%4g"), out, sizeof(out), true), ST_EPARSE);
    assert_int_equal(st_http_pct_decode(ST_STR("a%00b"), out, sizeof(out), true), ST_EPARSE);
    assert_int_equal(st_http_pct_decode((struct st_str){"a\0b", 3}, out, sizeof(out), true),
                     ST_EPARSE);
    /* Exactly fitting, and one byte too many. */
    assert_int_equal(st_http_pct_decode(ST_STR("0123456789abcde"), out, 16, true), 15);
    assert_int_equal(st_http_pct_decode(ST_STR("0123456789abcdef"), out, 16, true), ST_ETOOBIG);
    assert_int_equal(st_http_pct_decode(ST_STR(""), out, 0, true), ST_ETOOBIG);
}

static void
test_query_next(void **state)
{
    struct st_str q = ST_STR("&labelSelector=app%3Dweb%2Ctier+in+(a)&&watch&limit=500&=x&e=");
    char k[32], v[32];

    assert_int_equal(st_http_query_next(&q, k, sizeof(k), v, sizeof(v)), 1);
    assert_string_equal(k, "labelSelector");
    assert_string_equal(v, "app=web,tier in (a)");
    assert_int_equal(st_http_query_next(&q, k, sizeof(k), v, sizeof(v)), 1);
    assert_string_equal(k, "watch");
    assert_string_equal(v, "");
    assert_int_equal(st_http_query_next(&q, k, sizeof(k), v, sizeof(v)), 1);
    assert_string_equal(k, "limit");
    assert_string_equal(v, "500");
    assert_int_equal(st_http_query_next(&q, k, sizeof(k), v, sizeof(v)), 1);
    assert_string_equal(k, "");
    assert_string_equal(v, "x");
    assert_int_equal(st_http_query_next(&q, k, sizeof(k), v, sizeof(v)), 1);
    assert_string_equal(k, "e");
    assert_string_equal(v, "");
    assert_int_equal(st_http_query_next(&q, k, sizeof(k), v, sizeof(v)), 0);
    assert_int_equal(st_http_query_next(&q, k, sizeof(k), v, sizeof(v)), 0);

    q = ST_STR("a=%zz");
    assert_int_equal(st_http_query_next(&q, k, sizeof(k), v, sizeof(v)), ST_EPARSE);
    q = ST_STR("a=0123456789");
    assert_int_equal(st_http_query_next(&q, k, sizeof(k), v, 8), ST_ETOOBIG);
    q = ST_STR("0123456789=a");
    assert_int_equal(st_http_query_next(&q, k, 8, v, sizeof(v)), ST_ETOOBIG);
    q = (struct st_str){NULL, 0};
    assert_int_equal(st_http_query_next(&q, k, sizeof(k), v, sizeof(v)), 0);
}

static void
test_error_mapping(void **state)
{
    static const struct {
        int err, status;
    } map[] = {
        {ST_HTTP1_EBAD_METHOD, 400},   {ST_HTTP1_EBAD_TARGET, 400},
        {ST_HTTP1_EBAD_VERSION, 400},  {ST_HTTP1_EVERSION, 505},
        {ST_HTTP1_EBAD_LINE, 400},     {ST_HTTP1_EBAD_EOL, 400},
        {ST_HTTP1_EOBS_FOLD, 400},     {ST_HTTP1_EBAD_NAME, 400},
        {ST_HTTP1_ENAME_WS, 400},      {ST_HTTP1_EBAD_VALUE, 400},
        {ST_HTTP1_EBAD_CL, 400},       {ST_HTTP1_ECL_TE, 400},
        {ST_HTTP1_EBAD_TE, 400},       {ST_HTTP1_ECODING, 501},
        {ST_HTTP1_EHOST, 400},         {ST_HTTP1_ETARGET_TOO_LONG, 414},
        {ST_HTTP1_EHEAD_TOO_BIG, 431}, {ST_HTTP1_ETOO_MANY_HEADERS, 431},
        {ST_HTTP1_EBAD_STATUS, 400},   {ST_HTTP1_EBAD_CHUNK, 400},
        {ST_HTTP1_ECHUNK_EXT, 400},    {ST_HTTP1_ETRAILERS, 431},
        {ST_HTTP1_EBAD_TRAILER, 400},  {-EIO, 400},
    };

    for (size_t i = 0; i < ST_ARRAY_LEN(map); i++) {
        assert_int_equal(st_http1_error_status(map[i].err), map[i].status);
        const char *why = st_http1_error_reason(map[i].err);
        assert_non_null(why);
        assert_true(strlen(why) > 0);
    }
    assert_string_equal(st_http1_error_reason(ST_HTTP1_ECL_TE),
                        "both Content-Length and Transfer-Encoding");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_origin_form),
        cmocka_unit_test(test_absolute_form),
        cmocka_unit_test(test_authority_form),
        cmocka_unit_test(test_asterisk_form),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_target_chars),
        cmocka_unit_test(test_target_too_long),
        cmocka_unit_test(test_head_too_big),
        cmocka_unit_test(test_too_many_headers),
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_cl_and_te),
        cmocka_unit_test(test_transfer_encoding),
        cmocka_unit_test(test_obs_fold),
        cmocka_unit_test(test_line_endings),
        cmocka_unit_test(test_field_values),
        cmocka_unit_test(test_field_names),
        cmocka_unit_test(test_host),
        cmocka_unit_test(test_connection_flags),
        cmocka_unit_test(test_incremental),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_response_basic),
        cmocka_unit_test(test_response_errors),
        cmocka_unit_test(test_response_body_rules),
        cmocka_unit_test(test_response_incremental),
        cmocka_unit_test(test_chunked_simple),
        cmocka_unit_test(test_chunked_every_split),
        cmocka_unit_test(test_chunked_errors),
        cmocka_unit_test(test_chunked_caps),
        cmocka_unit_test(test_chunk_encode),
        cmocka_unit_test(test_write_request_head),
        cmocka_unit_test(test_write_response_head),
        cmocka_unit_test(test_hop_by_hop),
        cmocka_unit_test(test_header_lookup),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_pct_decode),
        cmocka_unit_test(test_query_next),
        cmocka_unit_test(test_error_mapping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
