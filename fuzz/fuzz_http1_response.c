/*
 * Fuzzes st_http1_parse_response and the body decision for every method; the
 * slices returned must lie inside the input.
 */
#include <stdint.h>
#include <stdlib.h>

#include "strait/http1.h"

/* Unlike fuzz_check(), stays armed in release (NDEBUG) fuzz builds. */
#define fuzz_check(c)                                                                              \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_in(const char *buf, size_t len, struct st_str s)
{
    fuzz_check(s.n == 0 || (s.p >= buf && s.p + s.n <= buf + len));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct st_http1_limits lim = {4096, 16, 1024};
    struct st_http_header hdrs[16];
    struct st_http1_response resp;
    const char *buf = (const char *)data;

    int rc = st_http1_parse_response(buf, size, &lim, &resp, hdrs, 16);
    fuzz_check(rc <= (int)size);
    if (rc <= 0)
        return 0;
    fuzz_check(resp.status >= 100 && resp.status <= 599);
    fuzz_in(buf, size, resp.reason);
    fuzz_in(buf, size, resp.upgrade_proto);
    for (size_t i = 0; i < resp.num_headers; i++) {
        fuzz_in(buf, size, hdrs[i].name);
        fuzz_in(buf, size, hdrs[i].value);
        (void)st_http_is_hop_by_hop(hdrs[i].name);
        (void)st_http_connection_lists(hdrs, resp.num_headers, hdrs[i].name);
    }
    for (int m = ST_HTTP_OTHER; m <= ST_HTTP_TRACE; m++) {
        enum st_http1_body b = st_http1_response_body(&resp, (enum st_http_method)m);
        fuzz_check(b != ST_HTTP1_BODY_LENGTH || resp.content_length > 0);
    }
    /* What we parsed must serialize again (values are already validated). */
    struct st_buf out = ST_BUF_INIT(1 << 20);
    int w = st_http1_write_response_head(&out, resp.status, resp.reason, resp.minor_version, hdrs,
                                         resp.num_headers);
    fuzz_check(w == 0);
    struct st_http1_response again;
    struct st_http_header hdrs2[16];
    rc = st_http1_parse_response(out.data, out.len, NULL, &again, hdrs2, 16);
    fuzz_check(rc == (int)out.len);
    fuzz_check(again.status == resp.status && again.num_headers == resp.num_headers);
    st_buf_free(&out);
    return 0;
}
