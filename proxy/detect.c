/*
 * Protocol detection for redirected connections: HTTP/1 request lines, the
 * HTTP/2 preface, or opaque bytes; and the opaque port lists. See detect.h.
 */
#include <string.h>

#include "detect.h"

#define DETECT_H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

/* RFC 9110 5.6.2 tchar. */
static bool
detect_tchar(unsigned char ch)
{
    if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))
        return true;
    return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/*
 * Walks an HTTP/1 request line. Stops at the first byte that does not fit
 * (opaque) or at the end of the input (more is needed), or after the CRLF.
 */
static enum detect_result
detect_http1(const unsigned char *p, size_t n)
{
    static const char version[] = "HTTP/1.";
    size_t i = 0, start;

    /* method */
    while (i < n && i < DETECT_MAX_METHOD && detect_tchar(p[i]))
        i++;
    if (i >= DETECT_MAX_METHOD)
        return DETECT_OPAQUE;
    if (i == n)
        return DETECT_NEED_MORE;
    if (i == 0 || p[i] != ' ')
        return DETECT_OPAQUE;
    i++;
    /* request-target: visible ASCII */
    start = i;
    while (i < n && i < DETECT_MAX_LINE && p[i] > 0x20 && p[i] < 0x7f)
        i++;
    if (i >= DETECT_MAX_LINE)
        return DETECT_OPAQUE; /* the same answer whether or not more bytes came */
    if (i == n)
        return DETECT_NEED_MORE;
    if (i == start || p[i] != ' ')
        return DETECT_OPAQUE;
    i++;
    /* HTTP-version, then CRLF */
    for (size_t k = 0; k < sizeof(version) - 1; k++, i++) {
        if (i == n)
            return DETECT_NEED_MORE;
        if (p[i] != (unsigned char)version[k])
            return DETECT_OPAQUE;
    }
    if (i == n)
        return DETECT_NEED_MORE;
    if (p[i] != '0' && p[i] != '1')
        return DETECT_OPAQUE;
    i++;
    if (i == n)
        return DETECT_NEED_MORE;
    if (p[i] != '\r')
        return DETECT_OPAQUE;
    i++;
    if (i == n)
        return DETECT_NEED_MORE;
    return p[i] == '\n' ? DETECT_HTTP1 : DETECT_OPAQUE;
}

enum detect_result
detect_protocol(const void *data, size_t n)
{
    const unsigned char *p = data;
    size_t plen = sizeof(DETECT_H2_PREFACE) - 1;

    if (n == 0)
        return DETECT_NEED_MORE;
    if (memcmp(p, DETECT_H2_PREFACE, n < plen ? n : plen) == 0)
        return n < plen ? DETECT_NEED_MORE : DETECT_H2;
    return detect_http1(p, n);
}

/* Parses one port, 1..65535, from the trimmed slice <s>. */
static int
detect_port(struct st_str s, uint16_t *out)
{
    uint64_t v;

    if (st_parse_u64(s, 65535, &v) < 0 || v == 0)
        return ST_EPARSE;
    *out = (uint16_t)v;
    return 0;
}

static struct st_str
detect_trim(struct st_str s)
{
    while (s.n > 0 && s.p[0] == ' ') {
        s.p++;
        s.n--;
    }
    while (s.n > 0 && s.p[s.n - 1] == ' ')
        s.n--;
    return s;
}

int
detect_ports_parse(const char *list, struct detect_ports *out)
{
    const char *p = list;
    size_t items = 0;

    memset(out, 0, sizeof(*out));
    if (detect_trim(st_str_c(list)).n == 0)
        return 0;
    for (;;) {
        const char *comma = strchr(p, ',');
        struct st_str item = {p, comma != NULL ? (size_t)(comma - p) : strlen(p)};
        uint16_t lo, hi;

        item = detect_trim(item);
        if (++items > 1024)
            goto fail;
        const char *dash = memchr(item.p, '-', item.n);
        if (dash != NULL) {
            struct st_str a = {item.p, (size_t)(dash - item.p)};
            struct st_str b = {dash + 1, item.n - a.n - 1};
            if (detect_port(detect_trim(a), &lo) < 0 || detect_port(detect_trim(b), &hi) < 0 ||
                lo > hi)
                goto fail;
        } else {
            if (detect_port(item, &lo) < 0)
                goto fail;
            hi = lo;
        }
        for (uint32_t port = lo; port <= hi; port++)
            out->bits[port / 64] |= (uint64_t)1 << (port % 64);
        if (comma == NULL)
            return 0;
        p = comma + 1;
    }
fail:
    memset(out, 0, sizeof(*out));
    return ST_EPARSE;
}

bool
detect_ports_has(const struct detect_ports *set, uint16_t port)
{
    return (set->bits[port / 64] >> (port % 64)) & 1;
}
