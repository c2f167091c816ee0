/*
 * Fuzzes st_sock_parse_addr_str: any input either fails cleanly or yields an
 * address that formats and parses back to the same address.
 */
#include <stdint.h>
#include <stdlib.h>

#include "strait/sock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct st_sockaddr a, b;
    char text[ST_SOCK_ADDR_STRLEN];

    if (st_sock_parse_addr_str((struct st_str){(const char *)data, size}, &a) < 0)
        return 0;
    int n = st_sock_format_addr(&a, text, sizeof(text));
    if (n < 0 || st_sock_parse_addr(text, &b) < 0 || !st_sock_addr_equal(&a, &b))
        abort();
    return 0;
}
