/*
 * Encoding and strict parsing of the opaque transport header.
 */
#include <ctype.h>

#include "transport_header.h"

#define TRANSPORT_HEADER_FLAG_NAME 0x01

static bool
transport_header_name_char(unsigned char ch)
{
    return isalnum(ch) || ch == '.' || ch == ':' || ch == '-' || ch == '_';
}

int
transport_header_encode(const struct transport_header *h, struct st_buf *out)
{
    size_t n = strnlen(h->name, sizeof(h->name));
    unsigned char fixed[TRANSPORT_HEADER_FIXED];

    if (h->port == 0 || n > TRANSPORT_HEADER_NAME_MAX)
        return ST_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!transport_header_name_char((unsigned char)h->name[i]))
            return ST_EINVAL;
    memcpy(fixed, TRANSPORT_HEADER_MAGIC, 4);
    fixed[4] = TRANSPORT_HEADER_VERSION;
    fixed[5] = n > 0 ? TRANSPORT_HEADER_FLAG_NAME : 0;
    fixed[6] = (unsigned char)(h->port >> 8);
    fixed[7] = (unsigned char)(h->port & 0xff);
    fixed[8] = (unsigned char)(n >> 8);
    fixed[9] = (unsigned char)(n & 0xff);
    if (st_buf_reserve(out, sizeof(fixed) + n) < 0)
        return ST_ETOOBIG;
    if (st_buf_append(out, fixed, sizeof(fixed)) < 0 || st_buf_append(out, h->name, n) < 0)
        return ST_ETOOBIG;
    return 0;
}

int
transport_header_parse(const void *buf, size_t len, struct transport_header *out)
{
    const unsigned char *p = buf;
    size_t n;

    /* Check what has arrived so far, so garbage is refused without waiting for more. */
    for (size_t i = 0; i < 4 && i < len; i++)
        if (p[i] != (unsigned char)TRANSPORT_HEADER_MAGIC[i])
            return ST_EPARSE;
    if (len > 4 && p[4] != TRANSPORT_HEADER_VERSION)
        return ST_EPARSE;
    if (len > 5 && (p[5] & ~TRANSPORT_HEADER_FLAG_NAME) != 0)
        return ST_EPARSE;
    if (len < TRANSPORT_HEADER_FIXED)
        return 0;
    out->port = (uint16_t)(p[6] << 8 | p[7]);
    n = (size_t)p[8] << 8 | p[9];
    if (out->port == 0)
        return ST_EPARSE;
    if (n > TRANSPORT_HEADER_NAME_MAX)
        return ST_ETOOBIG;
    if ((n > 0) != ((p[5] & TRANSPORT_HEADER_FLAG_NAME) != 0))
        return ST_EPARSE;
    if (len < TRANSPORT_HEADER_FIXED + n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!transport_header_name_char(p[TRANSPORT_HEADER_FIXED + i]))
            return ST_EPARSE;
    memcpy(out->name, p + TRANSPORT_HEADER_FIXED, n);
    out->name[n] = '\0';
    return (int)(TRANSPORT_HEADER_FIXED + n);
}
