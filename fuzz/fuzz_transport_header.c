/* libFuzzer target for the opaque transport header parser (proxy/transport_header.c). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "transport_header.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct transport_header h;
    int rc = transport_header_parse(data, size, &h);

    if (rc > 0) {
        /* What parses must encode back to the same bytes. */
        struct st_buf b = ST_BUF_INIT(0);
        if (transport_header_encode(&h, &b) != 0 || b.len != (size_t)rc ||
            memcmp(b.data, data, b.len) != 0)
            abort();
        st_buf_free(&b);
    } else if (rc < 0 && rc != ST_EPARSE && rc != ST_ETOOBIG) {
        abort();
    }
    return 0;
}
