/* libFuzzer target for protocol detection of redirected connections (proxy/detect.c). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "detect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum detect_result r = detect_protocol(data, size);

    if (r != DETECT_NEED_MORE && r != DETECT_HTTP1 && r != DETECT_H2 && r != DETECT_OPAQUE)
        abort();
    /* A decision never changes when more bytes come; waiting ends by the line cap. */
    for (size_t n = 1; n < size && n <= DETECT_MAX_LINE + 64; n++) {
        enum detect_result p = detect_protocol(data, n);
        if (p != DETECT_NEED_MORE && p != r)
            abort();
    }
    if (size > DETECT_MAX_LINE + 64 && r == DETECT_NEED_MORE)
        abort();
    /* The same bytes as a port list: parse or refuse, never crash. */
    char *list = malloc(size + 1);
    struct detect_ports ports;
    if (list == NULL)
        return 0;
    memcpy(list, data, size);
    list[size] = '\0';
    if (detect_ports_parse(list, &ports) < 0 && detect_ports_has(&ports, 80))
        abort();
    free(list);
    return 0;
}
