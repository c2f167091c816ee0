/* String slices, strict number parsing, DNS-1123 names and base64. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "strait/core.h"

bool
st_str_eq(struct st_str a, struct st_str b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

bool
st_str_eq_c(struct st_str a, const char *b)
{
    return st_str_eq(a, st_str_c(b));
}

bool
st_str_casecmp_eq(struct st_str a, struct st_str b)
{
    return a.n == b.n && (a.n == 0 || strncasecmp(a.p, b.p, a.n) == 0);
}

bool
st_str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool
st_str_has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

char *
st_str_dup(struct st_str s)
{
    return st_xstrndup(s.p ? s.p : "", s.n);
}

struct st_str
st_str_trim(struct st_str s)
{
    while (s.n > 0 && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.n--;
    }
    while (s.n > 0 && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t'))
        s.n--;
    return s;
}

size_t
st_strlcpy(char *dst, const char *src, size_t size)
{
    size_t n = strlen(src);
    if (size > 0) {
        size_t c = n < size - 1 ? n : size - 1;
        memcpy(dst, src, c);
        dst[c] = '\0';
    }
    return n;
}

int
st_parse_u64(struct st_str s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (s.n == 0)
        return ST_EPARSE;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return ST_EPARSE;
        unsigned d = (unsigned)(s.p[i] - '0');
        if (v > (max - d) / 10)
            return ST_ETOOBIG;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

uint64_t
st_hash64(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull ^ n;

    /* FNV-1a's steps over 8-byte words with a shift to mix the high bits down, then the tail. */
    for (; n >= 8; b += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        h = (h ^ w) * 1099511628211ull;
        h ^= h >> 29;
    }
    for (; n > 0; b++, n--)
        h = (h ^ *b) * 1099511628211ull;
    return h ^ (h >> 32);
}

size_t
st_fmt_u64(char *out, uint64_t v)
{
    char tmp[ST_U64_DEC_MAX];
    size_t n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

int
st_parse_i64(struct st_str s, int64_t *out)
{
    uint64_t v;
    bool neg = s.n > 0 && s.p[0] == '-';

    if (neg) {
        s.p++;
        s.n--;
    }
    int rc = st_parse_u64(s, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, &v);
    if (rc < 0)
        return rc;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

bool
st_consttime_eq(const void *a, size_t an, const void *b, size_t bn)
{
    const unsigned char *x = a, *y = b;
    unsigned char d = 0;

    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++)
        d |= x[i] ^ y[i];
    return d == 0;
}

static bool
dns_label_ok(const char *s, size_t n)
{
    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !(c == '-' && i > 0 && i < n - 1))
            return false;
    }
    return true;
}

bool
st_dns1123_label(const char *s)
{
    return dns_label_ok(s, strlen(s));
}

bool
st_dns1123_subdomain(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 253)
        return false;
    const char *p = s;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (!dns_label_ok(p, len))
            return false;
        if (!dot)
            return true;
        p = dot + 1;
    }
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
st_base64_encode(const void *p, size_t n)
{
    const unsigned char *s = p;
    char *out = st_xmalloc((n + 2) / 3 * 4 + 1);
    size_t o = 0, i = 0;

    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

static int
b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int
st_base64_decode(const char *s, size_t n, struct st_buf *out)
{
    uint32_t acc = 0;
    int bits = 0;

    st_buf_reset(out);
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return ST_EPARSE;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(s[i]);
        if (v < 0)
            return ST_EPARSE;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            unsigned char c = (unsigned char)(acc >> bits);
            int rc = st_buf_append(out, &c, 1);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

const char *
st_strerror(int code)
{
    switch (code > 0 ? -code : code) {
    case ST_EPARSE: return "malformed input";
    case ST_ETOOBIG: return "too large";
    case ST_ENOTFOUND: return "not found";
    case ST_ECONFLICT: return "conflict";
    case ST_EINVAL: return "invalid";
    case ST_ETLS: return "TLS error";
    case ST_EPROTO: return "protocol error";
    case ST_EAUTH: return "not authorized";
    case ST_EGONE: return "expired";
    case ST_ETIMEOUT: return "timed out";
    default: return strerror(code < 0 ? -code : code);
    }
}

int
st_err_set(struct st_err *err, int code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

void
st_err_clear(struct st_err *err)
{
    if (err != NULL) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}
