/*
 * Fuzzes st_http1_chunked_decode: decodes the input in one call sequence and
 * again in pieces whose sizes come from the first byte, and checks that both
 * give the same payload, the same end and the same verdict.
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

static int
fuzz_trailer(void *arg, struct st_str name, struct st_str value)
{
    size_t *count = arg;
    (*count)++;
    return 0;
}

/* Decodes <in> in pieces of <step> bytes; returns the verdict, fills <out>. */
static int
fuzz_decode(const char *in, size_t len, size_t step, struct st_buf *out, size_t *end)
{
    struct st_http1_chunked c;
    size_t pos = 0, trailers = 0;
    int rc = 0;

    st_http1_chunked_init(&c);
    c.max_trailer_bytes = 512;
    c.on_trailer = fuzz_trailer;
    c.arg = &trailers;
    while (pos < len) {
        size_t piece = ST_MIN(step, len - pos), off = 0;
        while (off < piece) {
            size_t used = 0;
            struct st_str d;
            rc = st_http1_chunked_decode(&c, in + pos + off, piece - off, &used, &d);
            fuzz_check(used <= piece - off);
            if (rc < 0) {
                *end = pos + off + used;
                return rc;
            }
            if (d.n > 0) {
                fuzz_check(d.p >= in + pos + off && d.p + d.n <= in + pos + piece);
                fuzz_check(st_buf_append(out, d.p, d.n) == 0);
            }
            off += used;
            if (rc == 1) {
                *end = pos + off;
                return 1;
            }
        }
        pos += piece;
    }
    *end = len;
    return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct st_buf a = ST_BUF_INIT(0), b = ST_BUF_INIT(0);
    size_t end_a = 0, end_b = 0;
    size_t step = size > 0 ? (size_t)data[0] % 7 + 1 : 1;
    const char *in = (const char *)data;

    int ra = fuzz_decode(in, size, size > 0 ? size : 1, &a, &end_a);
    int rb = fuzz_decode(in, size, step, &b, &end_b);
    fuzz_check(ra == rb);
    fuzz_check(a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0));
    if (ra == 1)
        fuzz_check(end_a == end_b);
    st_buf_free(&a);
    st_buf_free(&b);
    return 0;
}
