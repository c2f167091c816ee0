/*
 * Strict, zero-copy HTTP/1.1 message parsing (RFC 9110, RFC 9112): request
 * and response heads, the chunked transfer coding, head serializers and small
 * header and URL helpers. See include/strait/http1.h for the contracts and
 * docs/http1.md for what is rejected and why.
 *
 * The head parsers work line by line: memchr finds the LF, a table lookup per
 * byte validates the line, and every slice they return points into the
 * caller's buffer. They keep no state between calls; a caller that receives
 * more bytes calls again from the start of the head.
 */

#include "strait/http1.h"

/* Character classes, one bit each, for the table below. */
#define C_TOKEN 0x01  /* tchar (RFC 9110 5.6.2) */
#define C_VALUE 0x02  /* field-vchar, SP, HTAB, obs-text */
#define C_TARGET 0x04 /* pchar, "/", "?" and "%" (RFC 3986 path and query) */
#define C_HOST 0x08   /* unreserved, sub-delims, ":", "[", "]", "%" (authority) */
#define C_HEX 0x10    /* HEXDIG */
#define C_SCHEME 0x20 /* ALPHA, DIGIT, "+", "-", "." */

static const uint8_t http1_class[256] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x02, 0x0f, 0x02, 0x03, 0x0f, 0x0f, 0x0f, 0x0f, 0x0e, 0x0e, 0x0f, 0x2f, 0x0e, 0x2f, 0x2f, 0x06,
    0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x0e, 0x0e, 0x02, 0x0e, 0x02, 0x06,
    0x06, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f,
    0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x0a, 0x02, 0x0a, 0x03, 0x0f,
    0x03, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f,
    0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x02, 0x03, 0x02, 0x0f, 0x00,
    0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
    0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
    0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
    0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
    0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
    0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
    0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
    0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
};

static inline bool
http1_is(unsigned char c, uint8_t cls)
{
    return (http1_class[c] & cls) != 0;
}

static inline bool
http1_is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* ASCII case-insensitive equality, as field names and tokens compare (no locale). */
static inline bool
http1_ieq(struct st_str a, struct st_str b)
{
    if (a.n != b.n)
        return false;
    for (size_t i = 0; i < a.n; i++) {
        unsigned char x = (unsigned char)a.p[i], y = (unsigned char)b.p[i];
        if (x != y) {
            if ((x | 0x20) != (y | 0x20) || (x | 0x20) < 'a' || (x | 0x20) > 'z')
                return false;
        }
    }
    return true;
}

/* Drops optional whitespace (SP, HTAB) at both ends. */
static inline struct st_str
http1_trim(struct st_str s)
{
    while (s.n > 0 && http1_is_ows(s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n > 0 && http1_is_ows(s.p[s.n - 1]))
        s.n--;
    return s;
}

/*
 * Returns the length of the prefix of <p> made of bytes that are surely
 * field-vchar or SP (>= 0x20 and not DEL), eight at a time. The caller checks
 * the rest byte by byte, HTAB included.
 */
static inline size_t
http1_value_fast(const char *p, size_t n)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        uint64_t w, del;
        memcpy(&w, p + i, 8);
        del = w ^ (ones * 0x7f);
        /* Any byte below 0x20, or any byte equal to 0x7f (bit hacks, exact for < 0x80). */
        if (((w - ones * 0x20) & ~w & highs) != 0 || ((del - ones) & ~del & highs) != 0)
            break;
    }
    return i;
}

static int
http1_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* ---- errors ------------------------------------------------------------ */

int
st_http1_error_status(int err)
{
    switch (err) {
    case ST_HTTP1_ETARGET_TOO_LONG:
        return 414;
    case ST_HTTP1_EHEAD_TOO_BIG:
    case ST_HTTP1_ETOO_MANY_HEADERS:
    case ST_HTTP1_ETRAILERS:
        return 431;
    case ST_HTTP1_ECODING:
        return 501;
    case ST_HTTP1_EVERSION:
        return 505;
    default:
        return 400;
    }
}

const char *
st_http1_error_reason(int err)
{
    switch (err) {
    case ST_HTTP1_EBAD_METHOD:
        return "invalid method";
    case ST_HTTP1_EBAD_TARGET:
        return "invalid request target";
    case ST_HTTP1_EBAD_VERSION:
        return "malformed HTTP version";
    case ST_HTTP1_EVERSION:
        return "HTTP version not supported";
    case ST_HTTP1_EBAD_LINE:
        return "malformed start line";
    case ST_HTTP1_EBAD_EOL:
        return "line not terminated by CRLF (bare CR or LF)";
    case ST_HTTP1_EOBS_FOLD:
        return "obsolete line folding";
    case ST_HTTP1_EBAD_NAME:
        return "invalid field name";
    case ST_HTTP1_ENAME_WS:
        return "whitespace between field name and colon";
    case ST_HTTP1_EBAD_VALUE:
        return "invalid character in field value";
    case ST_HTTP1_EBAD_CL:
        return "invalid or conflicting Content-Length";
    case ST_HTTP1_ECL_TE:
        return "both Content-Length and Transfer-Encoding";
    case ST_HTTP1_EBAD_TE:
        return "invalid Transfer-Encoding";
    case ST_HTTP1_ECODING:
        return "unsupported transfer coding";
    case ST_HTTP1_EHOST:
        return "missing, repeated or invalid Host";
    case ST_HTTP1_ETARGET_TOO_LONG:
        return "request target too long";
    case ST_HTTP1_EHEAD_TOO_BIG:
        return "header section too large";
    case ST_HTTP1_ETOO_MANY_HEADERS:
        return "too many header fields";
    case ST_HTTP1_EBAD_STATUS:
        return "invalid status code";
    case ST_HTTP1_EBAD_CHUNK:
        return "invalid chunk framing";
    case ST_HTTP1_ECHUNK_EXT:
        return "invalid or oversized chunk extension";
    case ST_HTTP1_ETRAILERS:
        return "trailer section too large";
    case ST_HTTP1_EBAD_TRAILER:
        return "invalid trailer field";
    default:
        return st_strerror(err);
    }
}

/* ---- methods ------------------------------------------------------------- */

static const char *const http1_methods[] = {
    [ST_HTTP_OTHER] = "",        [ST_HTTP_GET] = "GET",         [ST_HTTP_HEAD] = "HEAD",
    [ST_HTTP_POST] = "POST",     [ST_HTTP_PUT] = "PUT",         [ST_HTTP_PATCH] = "PATCH",
    [ST_HTTP_DELETE] = "DELETE", [ST_HTTP_OPTIONS] = "OPTIONS", [ST_HTTP_CONNECT] = "CONNECT",
    [ST_HTTP_TRACE] = "TRACE",
};

enum st_http_method
st_http_method_from(struct st_str m)
{
    /* Dispatch on the first byte so a request costs at most one memcmp. */
    switch (m.n > 0 ? m.p[0] : 0) {
    case 'G':
        return st_str_eq(m, ST_STR("GET")) ? ST_HTTP_GET : ST_HTTP_OTHER;
    case 'H':
        return st_str_eq(m, ST_STR("HEAD")) ? ST_HTTP_HEAD : ST_HTTP_OTHER;
    case 'P':
        if (st_str_eq(m, ST_STR("POST")))
            return ST_HTTP_POST;
        if (st_str_eq(m, ST_STR("PUT")))
            return ST_HTTP_PUT;
        return st_str_eq(m, ST_STR("PATCH")) ? ST_HTTP_PATCH : ST_HTTP_OTHER;
    case 'D':
        return st_str_eq(m, ST_STR("DELETE")) ? ST_HTTP_DELETE : ST_HTTP_OTHER;
    case 'O':
        return st_str_eq(m, ST_STR("OPTIONS")) ? ST_HTTP_OPTIONS : ST_HTTP_OTHER;
    case 'C':
        return st_str_eq(m, ST_STR("CONNECT")) ? ST_HTTP_CONNECT : ST_HTTP_OTHER;
    case 'T':
        return st_str_eq(m, ST_STR("TRACE")) ? ST_HTTP_TRACE : ST_HTTP_OTHER;
    default:
        return ST_HTTP_OTHER;
    }
}

const char *
st_http_method_name(enum st_http_method m)
{
    if ((unsigned)m >= ST_ARRAY_LEN(http1_methods))
        return "";
    return http1_methods[m];
}

/* ---- header helpers ---------------------------------------------------------- */

bool
st_http_token_next(struct st_str *list, struct st_str *token)
{
    const char *p = list->p, *end = list->p + list->n;

    while (p < end) {
        while (p < end && (*p == ',' || http1_is_ows(*p)))
            p++;
        if (p == end)
            break;
        const char *start = p;
        bool quoted = false;
        for (; p < end; p++) {
            if (quoted && *p == '\\' && p + 1 < end) {
                p++;
                continue;
            }
            if (*p == '"')
                quoted = !quoted;
            else if (*p == ',' && !quoted)
                break;
        }
        struct st_str t = http1_trim((struct st_str){start, (size_t)(p - start)});
        if (t.n > 0) {
            *token = t;
            list->p = p;
            list->n = (size_t)(end - p);
            return true;
        }
    }
    list->p = end;
    list->n = 0;
    return false;
}

bool
st_http_token_has(struct st_str list, const char *token)
{
    struct st_str t, want = st_str_c(token);

    while (st_http_token_next(&list, &t)) {
        if (http1_ieq(t, want))
            return true;
    }
    return false;
}

bool
st_http_is_hop_by_hop(struct st_str name)
{
    switch (name.n) {
    case 2:
        return http1_ieq(name, ST_STR("TE"));
    case 7:
        return http1_ieq(name, ST_STR("Trailer")) || http1_ieq(name, ST_STR("Upgrade"));
    case 10:
        return http1_ieq(name, ST_STR("Connection")) || http1_ieq(name, ST_STR("Keep-Alive"));
    case 16:
        return http1_ieq(name, ST_STR("Proxy-Connection"));
    case 17:
        return http1_ieq(name, ST_STR("Transfer-Encoding"));
    case 18:
        return http1_ieq(name, ST_STR("Proxy-Authenticate"));
    case 19:
        return http1_ieq(name, ST_STR("Proxy-Authorization"));
    default:
        return false;
    }
}

size_t
st_http_header_find(const struct st_http_header *hdrs, size_t n, struct st_str name, size_t from)
{
    for (size_t i = from; i < n; i++) {
        if (http1_ieq(hdrs[i].name, name))
            return i;
    }
    return n;
}

const struct st_http_header *
st_http_header_get(const struct st_http_header *hdrs, size_t n, const char *name)
{
    size_t i = st_http_header_find(hdrs, n, st_str_c(name), 0);
    return i < n ? &hdrs[i] : NULL;
}

bool
st_http_connection_lists(const struct st_http_header *hdrs, size_t n, struct st_str name)
{
    struct st_str conn = ST_STR("Connection");

    for (size_t i = st_http_header_find(hdrs, n, conn, 0); i < n;
         i = st_http_header_find(hdrs, n, conn, i + 1)) {
        struct st_str list = hdrs[i].value, t;
        while (st_http_token_next(&list, &t)) {
            if (http1_ieq(t, name))
                return true;
        }
    }
    return false;
}

/* ---- head parsing -------------------------------------------------------------- */

/* What the field lines of one head say about framing and the connection. */
struct http1_fields {
    struct st_http_header *hdrs;
    size_t max;
    size_t n;
    int64_t content_length; /* -1 until a Content-Length field is seen */
    bool te;                /* a Transfer-Encoding field was seen */
    bool te_last_chunked;   /* its final coding is chunked */
    bool te_other;          /* a coding other than chunked was named */
    unsigned te_chunked;    /* how often chunked was named */
    bool conn_close;
    bool conn_keep_alive;
    bool conn_upgrade;
    unsigned upgrades;
    struct st_str upgrade;
    unsigned hosts;
    struct st_str host;
    bool expect_continue;
};

/* Bytes are missing: 0 while the head may still fit, else the 431 error. */
static int
http1_need_more(size_t len, size_t max_head)
{
    return len >= max_head ? ST_HTTP1_EHEAD_TOO_BIG : 0;
}

/*
 * Finds the line starting at <pos> in buf[0, window). Returns 1 and sets
 * *line (without CRLF) and *next (after LF) when complete; 0 when no LF is in
 * the window yet; ST_HTTP1_EBAD_EOL when the LF is not preceded by CR.
 */
static int
http1_line(const char *buf, size_t pos, size_t window, struct st_str *line, size_t *next)
{
    const char *lf = memchr(buf + pos, '\n', window - pos);

    if (lf == NULL)
        return 0;
    size_t at = (size_t)(lf - buf);
    if (at == pos || buf[at - 1] != '\r')
        return ST_HTTP1_EBAD_EOL;
    *line = (struct st_str){buf + pos, at - 1 - pos};
    *next = at + 1;
    return 1;
}

static int
http1_content_length(struct http1_fields *f, struct st_str value)
{
    struct st_str list = value, t;
    bool any = false;

    /* "5, 5" is one length said twice (RFC 9110 8.6); anything else is fatal. */
    while (st_http_token_next(&list, &t)) {
        uint64_t v;
        if (st_parse_u64(t, INT64_MAX, &v) < 0)
            return ST_HTTP1_EBAD_CL;
        if (f->content_length >= 0 && (uint64_t)f->content_length != v)
            return ST_HTTP1_EBAD_CL;
        f->content_length = (int64_t)v;
        any = true;
    }
    return any ? 0 : ST_HTTP1_EBAD_CL;
}

static int
http1_transfer_encoding(struct http1_fields *f, struct st_str value)
{
    struct st_str list = value, t;
    bool any = false;

    while (st_http_token_next(&list, &t)) {
        size_t i = 0;
        while (i < t.n && http1_is(t.p[i], C_TOKEN))
            i++;
        struct st_str name = {t.p, i};
        if (i == 0 || (i < t.n && t.p[i] != ';' && !http1_is_ows(t.p[i])))
            return ST_HTTP1_EBAD_TE;
        if (http1_ieq(name, ST_STR("chunked"))) {
            /* chunked takes no parameters (RFC 9112 7.1). */
            if (i != t.n)
                return ST_HTTP1_EBAD_TE;
            f->te_chunked++;
            f->te_last_chunked = true;
        } else {
            f->te_other = true;
            f->te_last_chunked = false;
        }
        any = true;
    }
    f->te = true;
    return any ? 0 : ST_HTTP1_EBAD_TE;
}

/* Interprets the field lines that decide framing and connection handling. */
static int
http1_field(struct http1_fields *f, struct st_str name, struct st_str value)
{
    switch (name.n) {
    case 4:
        if (http1_ieq(name, ST_STR("Host"))) {
            f->hosts++;
            f->host = value;
        }
        return 0;
    case 6:
        if (http1_ieq(name, ST_STR("Expect")) && http1_ieq(value, ST_STR("100-continue")))
            f->expect_continue = true;
        return 0;
    case 7:
        if (http1_ieq(name, ST_STR("Upgrade"))) {
            if (f->upgrades++ == 0)
                f->upgrade = value;
        }
        return 0;
    case 10:
        if (http1_ieq(name, ST_STR("Connection"))) {
            struct st_str list = value, t;
            while (st_http_token_next(&list, &t)) {
                if (http1_ieq(t, ST_STR("close")))
                    f->conn_close = true;
                else if (http1_ieq(t, ST_STR("keep-alive")))
                    f->conn_keep_alive = true;
                else if (http1_ieq(t, ST_STR("upgrade")))
                    f->conn_upgrade = true;
            }
        }
        return 0;
    case 14:
        if (http1_ieq(name, ST_STR("Content-Length")))
            return http1_content_length(f, value);
        return 0;
    case 17:
        if (http1_ieq(name, ST_STR("Transfer-Encoding")))
            return http1_transfer_encoding(f, value);
        return 0;
    default:
        return 0;
    }
}

/*
 * Parses one field line (not empty, without CRLF) into f->hdrs[f->n] and
 * interprets it.
 */
static int
http1_field_line(struct http1_fields *f, struct st_str line)
{
    const char *p = line.p;
    size_t i = 0, n = line.n;

    if (http1_is_ows(p[0]))
        return ST_HTTP1_EOBS_FOLD;
    while (i < n && http1_is(p[i], C_TOKEN))
        i++;
    if (i == n)
        return ST_HTTP1_EBAD_NAME; /* no colon at all */
    if (p[i] != ':')
        return http1_is_ows(p[i]) && i > 0 ? ST_HTTP1_ENAME_WS : ST_HTTP1_EBAD_NAME;
    if (i == 0)
        return ST_HTTP1_EBAD_NAME;
    struct st_str name = {p, i};
    size_t v = i + 1;
    for (size_t j = v + http1_value_fast(p + v, n - v); j < n; j++) {
        if (!http1_is(p[j], C_VALUE))
            return p[j] == '\r' ? ST_HTTP1_EBAD_EOL : ST_HTTP1_EBAD_VALUE;
    }
    struct st_str value = http1_trim((struct st_str){p + v, n - v});
    if (f->n >= f->max)
        return ST_HTTP1_ETOO_MANY_HEADERS;
    f->hdrs[f->n].name = name;
    f->hdrs[f->n].value = value;
    f->n++;
    return http1_field(f, name, value);
}

/*
 * Parses field lines from <pos> up to and including the empty line. Returns
 * the head length, 0 when incomplete, or an error.
 */
static int
http1_fields_parse(const char *buf, size_t len, size_t pos, size_t max_head, struct http1_fields *f)
{
    size_t window = ST_MIN(len, max_head);

    for (;;) {
        struct st_str line;
        size_t next;
        int rc = http1_line(buf, pos, window, &line, &next);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return http1_need_more(len, max_head);
        if (line.n == 0)
            return (int)next;
        rc = http1_field_line(f, line);
        if (rc < 0)
            return rc;
        pos = next;
    }
}

static void
http1_fields_init(struct http1_fields *f, struct st_http_header *hdrs, size_t max_hdrs,
                  const struct st_http1_limits *lim)
{
    memset(f, 0, sizeof(*f));
    f->hdrs = hdrs;
    f->max = ST_MIN(max_hdrs, lim->max_headers);
    f->content_length = -1;
}

/* Parses "HTTP/x.y" exactly: ST_HTTP1_EBAD_VERSION, ST_HTTP1_EVERSION or the minor version. */
static int
http1_version(struct st_str v)
{
    if (v.n != 8 || memcmp(v.p, "HTTP/", 5) != 0 || v.p[6] != '.' || v.p[5] < '0' || v.p[5] > '9' ||
        v.p[7] < '0' || v.p[7] > '9')
        return ST_HTTP1_EBAD_VERSION;
    if (v.p[5] != '1' || v.p[7] > '1')
        return ST_HTTP1_EVERSION;
    return v.p[7] - '0';
}

/* Checks C_TARGET characters and that every '%' starts a valid escape. */
static bool
http1_target_chars(struct st_str s, uint8_t cls)
{
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (!http1_is(c, cls))
            return false;
        if (c == '%') {
            if (s.n - i < 3 || !http1_is(s.p[i + 1], C_HEX) || !http1_is(s.p[i + 2], C_HEX))
                return false;
            i += 2;
        }
    }
    return true;
}

/*
 * Checks an authority, "host[:port]" (RFC 3986 3.2), as a target or a Host
 * value: no userinfo ('@' is outside C_HOST), an IP literal only in brackets,
 * a decimal port up to 65535. <need_port> for CONNECT; <allow_empty> for a
 * Host field, which may be empty (RFC 9112 3.2).
 */
static bool
http1_authority_ok(struct st_str a, bool need_port, bool allow_empty)
{
    size_t hostlen;

    if (a.n == 0)
        return allow_empty;
    if (!http1_target_chars(a, C_HOST))
        return false;
    if (a.p[0] == '[') {
        const char *rb = memchr(a.p, ']', a.n);
        if (rb == NULL || rb == a.p + 1)
            return false;
        hostlen = (size_t)(rb - a.p) + 1;
        if (memchr(a.p + 1, '[', hostlen - 1) != NULL)
            return false;
    } else {
        const char *colon = memchr(a.p, ':', a.n);
        hostlen = colon ? (size_t)(colon - a.p) : a.n;
        if (hostlen == 0 || memchr(a.p, '[', hostlen) || memchr(a.p, ']', hostlen))
            return false;
    }
    if (hostlen == a.n)
        return !need_port;
    if (a.p[hostlen] != ':')
        return false;
    struct st_str port = {a.p + hostlen + 1, a.n - hostlen - 1};
    uint64_t v;
    if (port.n == 0)
        return !need_port; /* "host:" is allowed, port = *DIGIT */
    return port.n <= 5 && st_parse_u64(port, 65535, &v) == 0;
}

/* Splits "path?query" (already checked) into out->path and out->query. */
static void
http1_path_query(struct st_str pq, struct st_http1_request *out)
{
    const char *q = memchr(pq.p, '?', pq.n);

    if (q == NULL) {
        out->path = pq;
        out->query = (struct st_str){NULL, 0};
        return;
    }
    out->path = (struct st_str){pq.p, (size_t)(q - pq.p)};
    out->query = (struct st_str){q + 1, pq.n - out->path.n - 1};
}

/* Classifies and splits the request target (RFC 9112 3.2). */
static int
http1_target(struct st_http1_request *out)
{
    struct st_str t = out->target;

    out->scheme = out->authority = (struct st_str){t.p, 0};
    out->query = (struct st_str){NULL, 0};
    if (out->method_id == ST_HTTP_CONNECT) {
        if (!http1_authority_ok(t, true, false))
            return ST_HTTP1_EBAD_TARGET;
        out->form = ST_HTTP1_FORM_AUTHORITY;
        out->authority = t;
        out->path = (struct st_str){t.p, 0};
        return 0;
    }
    if (t.n == 1 && t.p[0] == '*') {
        if (out->method_id != ST_HTTP_OPTIONS)
            return ST_HTTP1_EBAD_TARGET;
        out->form = ST_HTTP1_FORM_ASTERISK;
        out->path = t;
        return 0;
    }
    if (t.p[0] == '/') {
        if (!http1_target_chars(t, C_TARGET))
            return ST_HTTP1_EBAD_TARGET;
        out->form = ST_HTTP1_FORM_ORIGIN;
        http1_path_query(t, out);
        return 0;
    }
    /* absolute-form: scheme "://" authority path-abempty [ "?" query ] */
    size_t i = 0;
    if (!((t.p[0] | 0x20) >= 'a' && (t.p[0] | 0x20) <= 'z'))
        return ST_HTTP1_EBAD_TARGET;
    while (i < t.n && http1_is(t.p[i], C_SCHEME))
        i++;
    if (t.n - i < 3 || memcmp(t.p + i, "://", 3) != 0)
        return ST_HTTP1_EBAD_TARGET;
    out->scheme = (struct st_str){t.p, i};
    size_t a = i + 3, e = a;
    while (e < t.n && t.p[e] != '/' && t.p[e] != '?')
        e++;
    out->authority = (struct st_str){t.p + a, e - a};
    if (!http1_authority_ok(out->authority, false, false))
        return ST_HTTP1_EBAD_TARGET;
    struct st_str pq = {t.p + e, t.n - e};
    if (!http1_target_chars(pq, C_TARGET))
        return ST_HTTP1_EBAD_TARGET;
    out->form = ST_HTTP1_FORM_ABSOLUTE;
    http1_path_query(pq, out);
    if (out->path.n == 0)
        out->path = ST_STR("/");
    return 0;
}

/* Parses "method SP target SP version" (RFC 9112 3). */
static int
http1_request_line(struct st_str line, const struct st_http1_limits *lim,
                   struct st_http1_request *out)
{
    const char *p = line.p, *end = line.p + line.n;
    size_t i = 0;

    while (i < line.n && http1_is(p[i], C_TOKEN))
        i++;
    if (i == 0 || (i < line.n && p[i] != ' '))
        return ST_HTTP1_EBAD_METHOD;
    if (i == line.n)
        return ST_HTTP1_EBAD_LINE;
    out->method = (struct st_str){p, i};
    out->method_id = st_http_method_from(out->method);
    const char *t = p + i + 1;
    const char *sp = memchr(t, ' ', (size_t)(end - t));
    if (sp == NULL || sp == t)
        return ST_HTTP1_EBAD_LINE;
    out->target = (struct st_str){t, (size_t)(sp - t)};
    if (out->target.n > lim->max_target)
        return ST_HTTP1_ETARGET_TOO_LONG;
    struct st_str ver = {sp + 1, (size_t)(end - sp - 1)};
    if (memchr(ver.p, ' ', ver.n) != NULL)
        return ST_HTTP1_EBAD_LINE;
    int minor = http1_version(ver);
    if (minor < 0)
        return minor;
    out->minor_version = minor;
    return http1_target(out);
}

/*
 * The request line is not complete yet: answers 414 as soon as the target
 * seen so far is over the cap, so a client cannot make us wait for the whole
 * head cap. Anything else waits for the complete line, so that the result
 * does not depend on how the bytes arrive.
 */
static int
http1_request_partial(const char *p, size_t n, size_t len, size_t max_head,
                      const struct st_http1_limits *lim)
{
    size_t i = 0;

    while (i < n && http1_is(p[i], C_TOKEN))
        i++;
    if (i > 0 && i < n && p[i] == ' ') {
        const char *t = p + i + 1;
        const char *sp = memchr(t, ' ', n - i - 1);
        size_t tlen = sp ? (size_t)(sp - t) : n - i - 1;
        if (tlen > lim->max_target)
            return ST_HTTP1_ETARGET_TOO_LONG;
    }
    return http1_need_more(len, max_head);
}

/* The head cap, bounded so that a head length always fits the int result. */
static size_t
http1_max_head(const struct st_http1_limits *lim)
{
    return ST_MIN(lim->max_head_bytes, (size_t)INT32_MAX);
}

int
st_http1_parse_request(const char *buf, size_t len, const struct st_http1_limits *lim,
                       struct st_http1_request *out, struct st_http_header *hdrs, size_t max_hdrs)
{
    const struct st_http1_limits dflt = ST_HTTP1_LIMITS_DEFAULT;
    struct http1_fields f;
    struct st_str line;
    size_t pos = 0, next;
    int rc;

    if (lim == NULL)
        lim = &dflt;
    if (len == 0)
        return 0;
    size_t max_head = http1_max_head(lim);
    size_t window = ST_MIN(len, max_head);
    /* RFC 9112 2.2: empty lines before the request line are ignored. */
    for (;;) {
        rc = http1_line(buf, pos, window, &line, &next);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return http1_request_partial(buf + pos, window - pos, len, max_head, lim);
        if (line.n > 0)
            break;
        pos = next;
    }
    rc = http1_request_line(line, lim, out);
    if (rc < 0)
        return rc;
    http1_fields_init(&f, hdrs, max_hdrs, lim);
    int head = http1_fields_parse(buf, len, next, max_head, &f);
    if (head <= 0)
        return head;

    /* RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one in 1.0, valid. */
    if (f.hosts > 1 || (f.hosts == 0 && out->minor_version == 1))
        return ST_HTTP1_EHOST;
    if (f.hosts == 1 && !http1_authority_ok(f.host, false, true))
        return ST_HTTP1_EHOST;
    /* RFC 9112 6.1 and 6.3: framing that two parsers could read differently. */
    if (f.te) {
        if (f.content_length >= 0)
            return ST_HTTP1_ECL_TE;
        if (out->minor_version == 0 || f.te_chunked > 1 || !f.te_last_chunked)
            return ST_HTTP1_EBAD_TE;
        if (f.te_other)
            return ST_HTTP1_ECODING;
    }
    out->headers = hdrs;
    out->num_headers = f.n;
    if (out->form == ST_HTTP1_FORM_ABSOLUTE || out->form == ST_HTTP1_FORM_AUTHORITY)
        out->host = out->authority;
    else
        out->host = f.hosts ? f.host : (struct st_str){out->target.p, 0};
    out->content_length = f.content_length;
    out->chunked = f.te;
    out->connection_close = f.conn_close;
    out->keep_alive = !f.conn_close && (out->minor_version == 1 || f.conn_keep_alive);
    out->expect_continue = f.expect_continue;
    out->upgrade = f.conn_upgrade && f.upgrades > 0;
    out->upgrade_proto = out->upgrade ? f.upgrade : (struct st_str){out->target.p, 0};
    return head;
}

enum st_http1_body
st_http1_request_body(const struct st_http1_request *req)
{
    if (req->chunked)
        return ST_HTTP1_BODY_CHUNKED;
    return req->content_length > 0 ? ST_HTTP1_BODY_LENGTH : ST_HTTP1_BODY_NONE;
}

/* Parses "HTTP-version SP 3DIGIT SP reason" (RFC 9112 4). */
static int
http1_status_line(struct st_str line, struct st_http1_response *out)
{
    const char *p = line.p;
    int minor = http1_version((struct st_str){p, ST_MIN(line.n, 8)});

    if (minor < 0)
        return minor;
    out->minor_version = minor;
    if (line.n < 12 || p[8] != ' ')
        return ST_HTTP1_EBAD_LINE;
    if (p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9')
        return ST_HTTP1_EBAD_STATUS;
    out->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    out->reason = (struct st_str){p + 12, 0};
    /* The SP before an empty reason is often left out; we accept that. */
    if (line.n == 12)
        return 0;
    if (p[12] != ' ')
        return ST_HTTP1_EBAD_STATUS;
    for (size_t i = 13; i < line.n; i++) {
        if (!http1_is(p[i], C_VALUE))
            return p[i] == '\r' ? ST_HTTP1_EBAD_EOL : ST_HTTP1_EBAD_LINE;
    }
    out->reason = (struct st_str){p + 13, line.n - 13};
    return 0;
}

int
st_http1_parse_response(const char *buf, size_t len, const struct st_http1_limits *lim,
                        struct st_http1_response *out, struct st_http_header *hdrs, size_t max_hdrs)
{
    const struct st_http1_limits dflt = ST_HTTP1_LIMITS_DEFAULT;
    struct http1_fields f;
    struct st_str line;
    size_t next;

    if (lim == NULL)
        lim = &dflt;
    if (len == 0)
        return 0;
    size_t max_head = http1_max_head(lim);
    int rc = http1_line(buf, 0, ST_MIN(len, max_head), &line, &next);
    if (rc <= 0)
        return rc < 0 ? rc : http1_need_more(len, max_head);
    rc = http1_status_line(line, out);
    if (rc < 0)
        return rc;
    http1_fields_init(&f, hdrs, max_hdrs, lim);
    int head = http1_fields_parse(buf, len, next, max_head, &f);
    if (head <= 0)
        return head;
    if (f.te) {
        if (f.content_length >= 0)
            return ST_HTTP1_ECL_TE;
        if (out->minor_version == 0 || f.te_chunked > 1)
            return ST_HTTP1_EBAD_TE;
        /* We relay bodies; a coding we cannot undo would reach the app. */
        if (f.te_other)
            return ST_HTTP1_ECODING;
    }
    out->headers = hdrs;
    out->num_headers = f.n;
    out->content_length = f.content_length;
    out->chunked = f.te;
    out->connection_close = f.conn_close;
    out->keep_alive = !f.conn_close && (out->minor_version == 1 || f.conn_keep_alive);
    out->upgrade = out->status == 101;
    out->upgrade_proto = out->upgrade ? f.upgrade : (struct st_str){buf, 0};
    return head;
}

enum st_http1_body
st_http1_response_body(const struct st_http1_response *resp, enum st_http_method request_method)
{
    int s = resp->status;

    if (request_method == ST_HTTP_HEAD || (s >= 100 && s < 200) || s == 204 || s == 304)
        return ST_HTTP1_BODY_NONE;
    if (request_method == ST_HTTP_CONNECT && s >= 200 && s < 300)
        return ST_HTTP1_BODY_NONE;
    if (resp->chunked)
        return ST_HTTP1_BODY_CHUNKED;
    if (resp->content_length == 0)
        return ST_HTTP1_BODY_NONE;
    return resp->content_length > 0 ? ST_HTTP1_BODY_LENGTH : ST_HTTP1_BODY_CLOSE;
}

/* ---- chunked transfer coding ---------------------------------------------- */

/*
 * Decoder states. The chunk-size line is checked byte by byte against
 * RFC 9112 7.1: chunk-size [ chunk-ext ] CRLF, where
 * chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ).
 */
enum {
    CH_SIZE_FIRST, /* expecting the first hex digit */
    CH_SIZE,       /* more digits, ';', BWS or CR */
    CH_SIZE_WS,    /* BWS after the size: only ';' may follow */
    CH_EXT_START,  /* after ';': BWS, then an ext-name */
    CH_EXT_NAME,
    CH_EXT_NAME_WS, /* BWS after a name: '=' or ';' */
    CH_EXT_VAL_START,
    CH_EXT_VAL_TOKEN,
    CH_EXT_QUOTED,
    CH_EXT_QUOTED_ESC,
    CH_EXT_VAL_END, /* after a closing quote */
    CH_EXT_VAL_WS,  /* BWS after a value: only ';' may follow */
    CH_SIZE_LF,
    CH_DATA,
    CH_DATA_CR,
    CH_DATA_LF,
    CH_TRAILER,    /* at or inside a trailer field line */
    CH_TRAILER_LF, /* after the CR of a trailer line */
    CH_FINAL_LF,   /* after the CR of the empty line that ends the body */
    CH_DONE,
    CH_FAILED,
};

/* Sizes beyond 2^63-1 are refused, so they fit off_t and int64_t everywhere. */
#define CH_MAX_DIGITS 16

void
st_http1_chunked_init(struct st_http1_chunked *c)
{
    c->max_ext = 256;
    c->max_trailer_bytes = 8 * 1024;
    c->max_trailers = 32;
    c->on_trailer = NULL;
    c->arg = NULL;
    c->state = CH_SIZE_FIRST;
    c->digits = 0;
    c->size = 0;
    c->ext_bytes = 0;
    c->trailer_bytes = 0;
    c->trailers = 0;
    c->line_len = 0;
}

/* Validates a complete trailer line in c->line and hands it to the callback. */
static int
http1_trailer_line(struct st_http1_chunked *c)
{
    if (++c->trailers > c->max_trailers)
        return ST_HTTP1_ETRAILERS;
    /* Trailers never change framing, so only their syntax is checked. */
    const char *p = c->line;
    size_t n = c->line_len, i = 0;
    if (http1_is_ows(p[0]))
        return ST_HTTP1_EBAD_TRAILER;
    while (i < n && http1_is(p[i], C_TOKEN))
        i++;
    if (i == 0 || i == n || p[i] != ':')
        return ST_HTTP1_EBAD_TRAILER;
    for (size_t j = i + 1; j < n; j++) {
        if (!http1_is(p[j], C_VALUE))
            return ST_HTTP1_EBAD_TRAILER;
    }
    struct st_str name = {p, i};
    struct st_str value = http1_trim((struct st_str){p + i + 1, n - i - 1});
    if (c->on_trailer != NULL) {
        int rc = c->on_trailer(c->arg, name, value);
        return rc < 0 ? rc : 0;
    }
    return 0;
}

/* Counts one byte of a chunk extension against its cap. */
static inline int
http1_ext_byte(struct st_http1_chunked *c)
{
    return ++c->ext_bytes > c->max_ext ? ST_HTTP1_ECHUNK_EXT : 0;
}

/* One byte of the chunk-size line; returns 0 or an error. */
static int
http1_chunk_size_byte(struct st_http1_chunked *c, unsigned char ch)
{
    int hex;

    if (c->state == CH_SIZE_FIRST || c->state == CH_SIZE) {
        hex = http1_hexval((char)ch);
        if (hex >= 0) {
            if (++c->digits > CH_MAX_DIGITS || c->size > (uint64_t)INT64_MAX >> 4)
                return ST_HTTP1_EBAD_CHUNK;
            c->size = c->size << 4 | (uint64_t)hex;
            c->state = CH_SIZE;
            return 0;
        }
        if (c->state == CH_SIZE_FIRST)
            return ST_HTTP1_EBAD_CHUNK;
        if (ch == '\r')
            c->state = CH_SIZE_LF;
        else if (ch == ';')
            c->state = CH_EXT_START;
        else if (http1_is_ows((char)ch))
            c->state = CH_SIZE_WS;
        else
            return ST_HTTP1_EBAD_CHUNK;
        return ch == ';' ? http1_ext_byte(c) : 0;
    }
    if (c->state == CH_SIZE_WS) {
        if (ch == ';')
            c->state = CH_EXT_START;
        else if (!http1_is_ows((char)ch))
            return ST_HTTP1_EBAD_CHUNK;
        return http1_ext_byte(c);
    }
    /* Inside the extensions: every byte counts against max_ext. */
    if (ch == '\r') {
        switch (c->state) {
        case CH_EXT_NAME:
        case CH_EXT_VAL_TOKEN:
        case CH_EXT_VAL_END:
            c->state = CH_SIZE_LF;
            return 0;
        default:
            return ST_HTTP1_ECHUNK_EXT;
        }
    }
    int rc = http1_ext_byte(c);
    if (rc < 0)
        return rc;
    bool ows = http1_is_ows((char)ch), tok = http1_is(ch, C_TOKEN);
    switch (c->state) {
    case CH_EXT_START:
        if (tok)
            c->state = CH_EXT_NAME;
        else if (!ows)
            return ST_HTTP1_ECHUNK_EXT;
        return 0;
    case CH_EXT_NAME:
    case CH_EXT_NAME_WS:
        if (tok && c->state == CH_EXT_NAME)
            return 0;
        if (ch == '=')
            c->state = CH_EXT_VAL_START;
        else if (ch == ';')
            c->state = CH_EXT_START;
        else if (ows)
            c->state = CH_EXT_NAME_WS;
        else
            return ST_HTTP1_ECHUNK_EXT;
        return 0;
    case CH_EXT_VAL_START:
        if (ch == '"')
            c->state = CH_EXT_QUOTED;
        else if (tok)
            c->state = CH_EXT_VAL_TOKEN;
        else if (!ows)
            return ST_HTTP1_ECHUNK_EXT;
        return 0;
    case CH_EXT_VAL_TOKEN:
    case CH_EXT_VAL_END:
    case CH_EXT_VAL_WS:
        if (tok && c->state == CH_EXT_VAL_TOKEN)
            return 0;
        if (ch == ';')
            c->state = CH_EXT_START;
        else if (ows)
            c->state = CH_EXT_VAL_WS;
        else
            return ST_HTTP1_ECHUNK_EXT;
        return 0;
    case CH_EXT_QUOTED:
        /* qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text */
        if (ch == '"')
            c->state = CH_EXT_VAL_END;
        else if (ch == '\\')
            c->state = CH_EXT_QUOTED_ESC;
        else if (!http1_is(ch, C_VALUE))
            return ST_HTTP1_ECHUNK_EXT;
        return 0;
    case CH_EXT_QUOTED_ESC:
        if (!http1_is(ch, C_VALUE))
            return ST_HTTP1_ECHUNK_EXT;
        c->state = CH_EXT_QUOTED;
        return 0;
    default:
        return ST_HTTP1_EBAD_CHUNK;
    }
}

/* One byte of the trailer section; returns 0, 1 when complete, or an error. */
static int
http1_trailer_byte(struct st_http1_chunked *c, char ch)
{
    if (++c->trailer_bytes > c->max_trailer_bytes)
        return ST_HTTP1_ETRAILERS;
    switch (c->state) {
    case CH_TRAILER:
        if (ch == '\r') {
            c->state = c->line_len == 0 ? CH_FINAL_LF : CH_TRAILER_LF;
            return 0;
        }
        if (ch == '\n')
            return ST_HTTP1_EBAD_CHUNK;
        if (c->line_len >= sizeof(c->line))
            return ST_HTTP1_ETRAILERS;
        c->line[c->line_len++] = ch;
        return 0;
    case CH_TRAILER_LF: {
        if (ch != '\n')
            return ST_HTTP1_EBAD_CHUNK;
        int rc = http1_trailer_line(c);
        c->line_len = 0;
        c->state = CH_TRAILER;
        return rc;
    }
    case CH_FINAL_LF:
        if (ch != '\n')
            return ST_HTTP1_EBAD_CHUNK;
        c->state = CH_DONE;
        return 1;
    default:
        return ST_HTTP1_EBAD_CHUNK;
    }
}

int
st_http1_chunked_decode(struct st_http1_chunked *c, const char *in, size_t len, size_t *consumed,
                        struct st_str *data)
{
    size_t i = 0;
    int rc = 0;

    *data = (struct st_str){in, 0};
    if (c->state == CH_FAILED) {
        *consumed = 0;
        return ST_HTTP1_EBAD_CHUNK;
    }
    while (i < len && c->state != CH_DONE) {
        unsigned char ch = (unsigned char)in[i];
        switch (c->state) {
        case CH_DATA: {
            size_t take = c->size < len - i ? (size_t)c->size : len - i;
            *data = (struct st_str){in + i, take};
            c->size -= take;
            if (c->size == 0)
                c->state = CH_DATA_CR;
            *consumed = i + take;
            return 0;
        }
        case CH_DATA_CR:
            if (ch != '\r') {
                rc = ST_HTTP1_EBAD_CHUNK;
                goto fail;
            }
            c->state = CH_DATA_LF;
            break;
        case CH_DATA_LF:
            if (ch != '\n') {
                rc = ST_HTTP1_EBAD_CHUNK;
                goto fail;
            }
            c->state = CH_SIZE_FIRST;
            c->digits = 0;
            c->size = 0;
            c->ext_bytes = 0;
            break;
        case CH_SIZE_LF:
            if (ch != '\n') {
                rc = ST_HTTP1_EBAD_CHUNK;
                goto fail;
            }
            c->state = c->size == 0 ? CH_TRAILER : CH_DATA;
            break;
        case CH_TRAILER:
        case CH_TRAILER_LF:
        case CH_FINAL_LF:
            rc = http1_trailer_byte(c, (char)ch);
            if (rc < 0)
                goto fail;
            break;
        default:
            rc = http1_chunk_size_byte(c, ch);
            if (rc < 0)
                goto fail;
            break;
        }
        i++;
    }
    *consumed = i;
    return c->state == CH_DONE ? 1 : 0;

fail:
    c->state = CH_FAILED;
    *consumed = i;
    return rc;
}

size_t
st_http1_chunk_head(char buf[ST_HTTP1_CHUNK_HEAD_MAX], uint64_t n)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[16];
    size_t k = 0, len = 0;

    do {
        tmp[k++] = digits[n & 0xf];
        n >>= 4;
    } while (n != 0);
    while (k > 0)
        buf[len++] = tmp[--k];
    buf[len++] = '\r';
    buf[len++] = '\n';
    return len;
}

int
st_http1_append_chunk(struct st_buf *out, const void *p, size_t n)
{
    char head[ST_HTTP1_CHUNK_HEAD_MAX];
    size_t hn = st_http1_chunk_head(head, n);
    int rc;

    if (n == 0)
        return ST_EINVAL; /* a zero-size chunk would end the body */
    if (n > SIZE_MAX - hn - 2)
        return ST_ETOOBIG;
    rc = st_buf_reserve(out, hn + n + 2);
    if (rc < 0)
        return rc;
    /* Room is reserved, so the appends below cannot fail half-way. */
    rc = st_buf_append(out, head, hn);
    if (rc == 0)
        rc = st_buf_append(out, p, n);
    if (rc == 0)
        rc = st_buf_append(out, "\r\n", 2);
    return rc;
}

/* ---- serializers ------------------------------------------------------------ */

static const struct {
    int status;
    const char *reason;
} http1_reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {203, "Non-Authoritative Information"},
    {204, "No Content"},
    {206, "Partial Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {417, "Expectation Failed"},
    {422, "Unprocessable Content"},
    {426, "Upgrade Required"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

const char *
st_http_status_reason(int status)
{
    for (size_t i = 0; i < ST_ARRAY_LEN(http1_reasons); i++) {
        if (http1_reasons[i].status == status)
            return http1_reasons[i].reason;
    }
    return "";
}

static bool
http1_all(struct st_str s, uint8_t cls)
{
    for (size_t i = 0; i < s.n; i++) {
        if (!http1_is(s.p[i], cls))
            return false;
    }
    return true;
}

/*
 * Checks the field lines for a serializer and returns the bytes they take
 * ("name: value\r\n" each plus the final CRLF), or 0 when one is invalid.
 */
static size_t
http1_fields_size(const struct st_http_header *hdrs, size_t n)
{
    size_t total = 2;

    for (size_t i = 0; i < n; i++) {
        struct st_str name = hdrs[i].name, value = hdrs[i].value;
        if (name.n == 0 || !http1_all(name, C_TOKEN) || !http1_all(value, C_VALUE))
            return 0;
        /* Leading or trailing whitespace would be lost on the other side. */
        if (value.n > 0 && (http1_is_ows(value.p[0]) || http1_is_ows(value.p[value.n - 1])))
            return 0;
        if (name.n + value.n > SIZE_MAX / 2 - total)
            return 0;
        total += name.n + value.n + 4;
    }
    return total;
}

/* Copies <n> bytes to the end of <out>, whose room was reserved by the caller. */
static void
http1_put(struct st_buf *out, const void *p, size_t n)
{
    if (n > 0)
        memcpy(out->data + out->len, p, n);
    out->len += n;
}

/*
 * Appends the field lines and the final CRLF, and ends the buffer with its
 * NUL; room was reserved by the caller (the head writers reserve the whole
 * head at once and copy into it without a call per piece).
 */
static void
http1_fields_write(struct st_buf *out, const struct st_http_header *hdrs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        http1_put(out, hdrs[i].name.p, hdrs[i].name.n);
        http1_put(out, ": ", 2);
        http1_put(out, hdrs[i].value.p, hdrs[i].value.n);
        http1_put(out, "\r\n", 2);
    }
    http1_put(out, "\r\n", 2);
    out->data[out->len] = '\0';
}

int
st_http1_write_request_head(struct st_buf *out, struct st_str method, struct st_str target,
                            int minor_version, const struct st_http_header *hdrs, size_t n)
{
    char ver[] = " HTTP/1.1\r\n";
    size_t fields = http1_fields_size(hdrs, n);
    int rc;

    if (method.n == 0 || !http1_all(method, C_TOKEN) || target.n == 0 || fields == 0 ||
        (minor_version != 0 && minor_version != 1))
        return ST_EINVAL;
    /* Any visible ASCII: the caller may send what it received, but never SP or CTLs. */
    for (size_t i = 0; i < target.n; i++) {
        unsigned char c = (unsigned char)target.p[i];
        if (c <= 0x20 || c >= 0x7f)
            return ST_EINVAL;
    }
    if (target.n > SIZE_MAX / 4 || method.n > SIZE_MAX / 4 || fields > SIZE_MAX / 4)
        return ST_ETOOBIG;
    ver[8] = (char)('0' + minor_version);
    rc = st_buf_reserve(out, method.n + 1 + target.n + strlen(ver) + fields);
    if (rc < 0)
        return rc;
    http1_put(out, method.p, method.n);
    http1_put(out, " ", 1);
    http1_put(out, target.p, target.n);
    http1_put(out, ver, strlen(ver));
    http1_fields_write(out, hdrs, n);
    return 0;
}

int
st_http1_write_response_head(struct st_buf *out, int status, struct st_str reason,
                             int minor_version, const struct st_http_header *hdrs, size_t n)
{
    char line[] = "HTTP/1.1 000 ";
    size_t fields = http1_fields_size(hdrs, n);
    int rc;

    if (status < 100 || status > 599 || fields == 0 || !http1_all(reason, C_VALUE) ||
        (minor_version != 0 && minor_version != 1))
        return ST_EINVAL;
    if (reason.n == 0)
        reason = st_str_c(st_http_status_reason(status));
    if (reason.n > SIZE_MAX / 4 || fields > SIZE_MAX / 4)
        return ST_ETOOBIG;
    line[7] = (char)('0' + minor_version);
    line[9] = (char)('0' + status / 100);
    line[10] = (char)('0' + status / 10 % 10);
    line[11] = (char)('0' + status % 10);
    rc = st_buf_reserve(out, strlen(line) + reason.n + 2 + fields);
    if (rc < 0)
        return rc;
    http1_put(out, line, strlen(line));
    http1_put(out, reason.p, reason.n);
    http1_put(out, "\r\n", 2);
    http1_fields_write(out, hdrs, n);
    return 0;
}

/* ---- URL helpers ------------------------------------------------------------ */

int
st_http_pct_decode(struct st_str in, char *out, size_t size, bool plus_is_space)
{
    size_t o = 0;

    if (size == 0)
        return ST_ETOOBIG;
    for (size_t i = 0; i < in.n; i++) {
        char c = in.p[i];
        if (c == '%') {
            if (in.n - i < 3)
                return ST_EPARSE;
            int hi = http1_hexval(in.p[i + 1]);
            int lo = http1_hexval(in.p[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return ST_EPARSE;
            c = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        } else if (c == '\0') {
            return ST_EPARSE;
        }
        if (o + 1 >= size)
            return ST_ETOOBIG;
        out[o++] = c;
    }
    out[o] = '\0';
    return o > INT32_MAX ? ST_ETOOBIG : (int)o;
}

int
st_http_query_next(struct st_str *query, char *key, size_t key_size, char *val, size_t val_size)
{
    const char *p = query->p, *end = query->p + query->n;

    while (p < end && *p == '&')
        p++;
    if (p == end) {
        query->p = end;
        query->n = 0;
        return 0;
    }
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *stop = amp ? amp : end;
    const char *eq = memchr(p, '=', (size_t)(stop - p));
    struct st_str k = {p, (size_t)((eq ? eq : stop) - p)};
    struct st_str v =
        eq ? (struct st_str){eq + 1, (size_t)(stop - eq - 1)} : (struct st_str){stop, 0};
    int rc = st_http_pct_decode(k, key, key_size, true);
    if (rc >= 0)
        rc = st_http_pct_decode(v, val, val_size, true);
    if (rc < 0)
        return rc;
    query->p = stop;
    query->n = (size_t)(end - stop);
    return 1;
}
