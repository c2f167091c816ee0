/*
 * Fuzzes st_http1_parse_request: the whole input as one buffer, then the same
 * input fed in two parts at a split point taken from the first byte; both must
 * agree, and every slice returned must lie inside the input.
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
    if (s.n > 0 && s.p != NULL && (s.p < buf || s.p + s.n > buf + len)) {
        /* Only the static "/" of an absolute-form path may lie outside. */
        fuzz_check(s.n == 1 && s.p[0] == '/');
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct st_http1_limits lim = {4096, 16, 1024};
    struct st_http_header hdrs[16];
    struct st_http1_request req;
    const char *buf = (const char *)data;

    int rc = st_http1_parse_request(buf, size, &lim, &req, hdrs, 16);
    fuzz_check(rc <= (int)size);
    (void)st_http1_error_status(rc);
    (void)st_http1_error_reason(rc);
    if (rc > 0) {
        fuzz_in(buf, size, req.method);
        fuzz_in(buf, size, req.target);
        fuzz_in(buf, size, req.path);
        fuzz_in(buf, size, req.query);
        fuzz_in(buf, size, req.host);
        fuzz_check(req.num_headers <= 16);
        for (size_t i = 0; i < req.num_headers; i++) {
            fuzz_in(buf, size, hdrs[i].name);
            fuzz_in(buf, size, hdrs[i].value);
        }
        fuzz_check(!(req.chunked && req.content_length >= 0));
        (void)st_http1_request_body(&req);
        /* Decode the query the way the apiserver would. */
        struct st_str q = req.query;
        char k[64], v[64];
        for (int i = 0; i < 64 && st_http_query_next(&q, k, sizeof(k), v, sizeof(v)) > 0; i++)
            ;
    }
    /* A prefix never completes, and never fails differently from the whole. */
    if (size > 0) {
        size_t cut = data[0] % size;
        int part = st_http1_parse_request(buf, cut, &lim, &req, hdrs, 16);
        if (rc > 0)
            fuzz_check(part == ((size_t)rc <= cut ? rc : 0));
        else
            fuzz_check(part <= 0);
    }
    return 0;
}
