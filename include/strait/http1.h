/*
 * strait HTTP/1.1: a strict, zero-copy parser for request and response heads
 * (RFC 9110 / RFC 9112), an incremental chunked decoder, head serializers and
 * the small header and URL helpers that servers, clients and the proxy share.
 *
 * Zero-copy: every struct st_str the parser fills points into the caller's
 * input buffer and stays valid exactly as long as that buffer is unchanged.
 * Nothing here allocates except the serializers, which append to a capped
 * st_buf. Nothing here logs.
 *
 * What is rejected, and why, is listed in docs/http1.md. In short: anything
 * that two HTTP implementations could frame differently (request smuggling)
 * is an error, never a guess.
 */
#ifndef STRAIT_HTTP1_H
#define STRAIT_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strait/core.h"

/* ---- errors ------------------------------------------------------------ */

/*
 * Parse errors. Each maps to the status a server answers with
 * (st_http1_error_status) and to a short reason for logs
 * (st_http1_error_reason). They sit below the ST_E* codes of core.h.
 */
enum {
    ST_HTTP1_EBAD_METHOD = -10201,       /* 400: empty or non-token method */
    ST_HTTP1_EBAD_TARGET = -10202,       /* 400: bad character or form of the target */
    ST_HTTP1_EBAD_VERSION = -10203,      /* 400: not "HTTP/" DIGIT "." DIGIT */
    ST_HTTP1_EVERSION = -10204,          /* 505: well-formed, but not 1.0 or 1.1 */
    ST_HTTP1_EBAD_LINE = -10205,         /* 400: bad request or status line layout */
    ST_HTTP1_EBAD_EOL = -10206,          /* 400: bare CR, or LF without CR */
    ST_HTTP1_EOBS_FOLD = -10207,         /* 400: line folding (line starts with SP/HTAB) */
    ST_HTTP1_EBAD_NAME = -10208,         /* 400: empty or non-token field name */
    ST_HTTP1_ENAME_WS = -10209,          /* 400: whitespace between field name and colon */
    ST_HTTP1_EBAD_VALUE = -10210,        /* 400: NUL or other CTL in a field value */
    ST_HTTP1_EBAD_CL = -10211,           /* 400: bad or conflicting Content-Length */
    ST_HTTP1_ECL_TE = -10212,            /* 400: both Content-Length and Transfer-Encoding */
    ST_HTTP1_EBAD_TE = -10213,           /* 400: chunked not final, or applied twice */
    ST_HTTP1_ECODING = -10214,           /* 501: a transfer coding we do not implement */
    ST_HTTP1_EHOST = -10215,             /* 400: missing, repeated or invalid Host */
    ST_HTTP1_ETARGET_TOO_LONG = -10216,  /* 414: target over limits.max_target */
    ST_HTTP1_EHEAD_TOO_BIG = -10217,     /* 431: head over limits.max_head_bytes */
    ST_HTTP1_ETOO_MANY_HEADERS = -10218, /* 431: more field lines than allowed */
    ST_HTTP1_EBAD_STATUS = -10219,       /* bad status code in a response */
    ST_HTTP1_EBAD_CHUNK = -10220,        /* 400: bad chunk size or framing CRLF */
    ST_HTTP1_ECHUNK_EXT = -10221,        /* 400: chunk extension malformed or over its cap */
    ST_HTTP1_ETRAILERS = -10222,         /* 431: trailer section over its caps */
    ST_HTTP1_EBAD_TRAILER = -10223,      /* 400: malformed trailer field line */
};

/*
 * Returns the HTTP status a server answers a request with after <err>:
 * 400, 414, 431, 501 or 505; 400 for any other negative value.
 */
int st_http1_error_status(int err);
/* Returns a static, human description of <err> for logs (never NULL). */
const char *st_http1_error_reason(int err);

/* ---- common types -------------------------------------------------------- */

/* One field line; both slices borrow from the parsed buffer. */
struct st_http_header {
    struct st_str name;
    struct st_str value; /* without leading and trailing whitespace */
};

/* Caps on a head; every one of them is peer-controlled size. */
struct st_http1_limits {
    size_t max_head_bytes; /* start line + field lines + final CRLF */
    size_t max_headers;    /* field lines */
    size_t max_target;     /* request-target bytes */
};

#define ST_HTTP1_LIMITS_DEFAULT ((struct st_http1_limits){64 * 1024, 100, 8 * 1024})

enum st_http_method {
    ST_HTTP_OTHER = 0,
    ST_HTTP_GET,
    ST_HTTP_HEAD,
    ST_HTTP_POST,
    ST_HTTP_PUT,
    ST_HTTP_PATCH,
    ST_HTTP_DELETE,
    ST_HTTP_OPTIONS,
    ST_HTTP_CONNECT,
    ST_HTTP_TRACE,
};

/* Maps a method token to its enum (case-sensitive, as methods are). */
enum st_http_method st_http_method_from(struct st_str method);
/* Returns the method's name, or "" for ST_HTTP_OTHER. */
const char *st_http_method_name(enum st_http_method m);

/* ---- requests -------------------------------------------------------------- */

enum st_http1_target_form {
    ST_HTTP1_FORM_ORIGIN,    /* "/path?query" */
    ST_HTTP1_FORM_ABSOLUTE,  /* "http://authority/path?query" (to a proxy) */
    ST_HTTP1_FORM_AUTHORITY, /* "host:port", CONNECT only */
    ST_HTTP1_FORM_ASTERISK,  /* "*", OPTIONS only */
};

struct st_http1_request {
    struct st_str method;
    enum st_http_method method_id;
    struct st_str target; /* exactly as received */
    enum st_http1_target_form form;
    struct st_str scheme;    /* absolute-form only, else empty */
    struct st_str authority; /* absolute-form and authority-form, else empty */
    /*
     * The path, still percent-encoded: for absolute-form with an empty path
     * it is a static "/", for asterisk-form "*", for authority-form empty.
     */
    struct st_str path;
    /* The query without its '?'; query.p is NULL when there was no '?'. */
    struct st_str query;
    int minor_version;              /* 0 or 1 */
    struct st_http_header *headers; /* the caller's array */
    size_t num_headers;
    /*
     * The effective host: the authority of an absolute-form or authority-form
     * target (RFC 9112 3.2.2: a received Host is then ignored), else the Host
     * field value (possibly empty; empty for HTTP/1.0 without Host).
     */
    struct st_str host;
    int64_t content_length;      /* -1 when absent */
    bool chunked;                /* Transfer-Encoding: chunked (the only coding) */
    bool keep_alive;             /* the connection may carry another request */
    bool connection_close;       /* "Connection: close" was sent */
    bool expect_continue;        /* "Expect: 100-continue" */
    bool upgrade;                /* Connection names "upgrade" and Upgrade is present */
    struct st_str upgrade_proto; /* the Upgrade field value when <upgrade> */
};

/*
 * Parses one request head at the start of <buf>.
 *
 * Returns the head's length (> 0, the body or the next request starts there)
 * when the head is complete and valid; 0 when more bytes are needed; or a
 * negative ST_HTTP1_E* error. Having max_head_bytes or more without a complete
 * head is ST_HTTP1_EHEAD_TOO_BIG, never 0. Call again from the start of the
 * buffer when more bytes arrive; the result does not depend on how the bytes
 * were split. Empty lines (CRLF) before the request line are skipped.
 *
 * <lim> may be NULL for ST_HTTP1_LIMITS_DEFAULT. <hdrs> is the caller's array
 * of <max_hdrs> entries; at most min(max_hdrs, lim->max_headers) field lines
 * are accepted. <out> and <hdrs> borrow from <buf> and are only meaningful
 * when the return value is > 0. No allocation.
 */
int st_http1_parse_request(const char *buf, size_t len, const struct st_http1_limits *lim,
                           struct st_http1_request *out, struct st_http_header *hdrs,
                           size_t max_hdrs);

/* How the body of a message is delimited. */
enum st_http1_body {
    ST_HTTP1_BODY_NONE,    /* no body */
    ST_HTTP1_BODY_LENGTH,  /* exactly content_length (> 0) bytes; 0 is BODY_NONE */
    ST_HTTP1_BODY_CHUNKED, /* chunked coding: use st_http1_chunked_decode */
    ST_HTTP1_BODY_CLOSE,   /* responses only: until the server closes */
};

/* The body framing of a parsed request (never ST_HTTP1_BODY_CLOSE). */
enum st_http1_body st_http1_request_body(const struct st_http1_request *req);

/* ---- responses ------------------------------------------------------------- */

struct st_http1_response {
    int minor_version; /* 0 or 1 */
    int status;        /* 100..599 */
    struct st_str reason;
    struct st_http_header *headers;
    size_t num_headers;
    int64_t content_length; /* -1 when absent */
    bool chunked;
    bool keep_alive; /* per version and Connection; see st_http1_response_body */
    bool connection_close;
    bool upgrade; /* 101 Switching Protocols */
    struct st_str upgrade_proto;
};

/*
 * Parses one response head; same contract as st_http1_parse_request
 * (lim->max_target is unused). A 1xx response is returned like any other;
 * the caller reads the next head after it (except after 101).
 */
int st_http1_parse_response(const char *buf, size_t len, const struct st_http1_limits *lim,
                            struct st_http1_response *out, struct st_http_header *hdrs,
                            size_t max_hdrs);

/*
 * Decides how the body of <resp> to a <request_method> request is delimited
 * (RFC 9112 6.3): none for HEAD, 1xx, 204, 304 and 2xx to CONNECT; else
 * chunked, content-length, or until close. A connection whose response body
 * is ST_HTTP1_BODY_CLOSE cannot be reused, whatever keep_alive says.
 */
enum st_http1_body st_http1_response_body(const struct st_http1_response *resp,
                                          enum st_http_method request_method);

/* ---- chunked transfer coding ---------------------------------------------- */

/* The longest trailer field line the decoder keeps (and hands to on_trailer). */
#define ST_HTTP1_TRAILER_LINE_MAX 1024

/*
 * Called once per trailer field after the whole trailer line was read and
 * validated. <name> and <value> are borrowed for the call only. A negative
 * return aborts decoding with that value.
 */
typedef int (*st_http1_trailer_cb)(void *arg, struct st_str name, struct st_str value);

/*
 * State of one chunked body. Initialize with st_http1_chunked_init; the fields
 * are private except the caps, which may be changed after init.
 */
struct st_http1_chunked {
    size_t max_ext;                 /* bytes of chunk extensions per chunk (default 256) */
    size_t max_trailer_bytes;       /* bytes of the whole trailer section (default 8 KiB) */
    size_t max_trailers;            /* trailer field lines (default 32) */
    st_http1_trailer_cb on_trailer; /* may be NULL: trailers are validated and dropped */
    void *arg;
    /* private */
    int state;
    unsigned digits;
    uint64_t size; /* current chunk size, then bytes left of it */
    size_t ext_bytes;
    size_t trailer_bytes;
    size_t trailers;
    size_t line_len;
    char line[ST_HTTP1_TRAILER_LINE_MAX];
};

/* Prepares <c> for a new body with the default caps and no trailer callback. */
void st_http1_chunked_init(struct st_http1_chunked *c);

/*
 * Feeds <len> bytes of chunked body. Sets *consumed to the bytes used and
 * <data> to the next span of payload, which lies inside <in> (zero-copy;
 * data->n == 0 when none). It stops right after a data span, so the caller
 * delivers it and calls again with in + *consumed.
 *
 * Returns 1 when the last chunk and the trailer section are complete (bytes
 * after *consumed belong to the next message; further calls return 1 and
 * consume nothing), 0 when it wants to be called again (with more input once
 * *consumed == len), or a negative ST_HTTP1_E* error; the state is then dead.
 */
int st_http1_chunked_decode(struct st_http1_chunked *c, const char *in, size_t len,
                            size_t *consumed, struct st_str *data);

/* Room for the longest chunk head: 16 hex digits and CRLF. */
#define ST_HTTP1_CHUNK_HEAD_MAX 18
/* The last chunk with an empty trailer section. */
#define ST_HTTP1_CHUNK_LAST "0\r\n\r\n"

/*
 * Writes the head of a chunk of <n> > 0 bytes ("<hex>\r\n") into <buf> and
 * returns its length. The caller then writes the data and "\r\n".
 */
size_t st_http1_chunk_head(char buf[ST_HTTP1_CHUNK_HEAD_MAX], uint64_t n);

/* Appends one complete chunk (head, <n> > 0 bytes of <p>, CRLF) to <out>. */
int st_http1_append_chunk(struct st_buf *out, const void *p, size_t n) ST_WARN_UNUSED;

/* ---- serializers ------------------------------------------------------------ */

/*
 * Appends "<method> <target> HTTP/1.<minor>\r\n", the field lines and the
 * final CRLF to <out>. Refuses (ST_EINVAL, nothing appended) a non-token method
 * or field name, a target with whitespace or CTLs, and a field value with CR,
 * LF, NUL or other CTLs, so that a caller cannot inject a header or a request.
 * ST_ETOOBIG when <out> would pass its cap (nothing appended).
 */
int st_http1_write_request_head(struct st_buf *out, struct st_str method, struct st_str target,
                                int minor_version, const struct st_http_header *hdrs,
                                size_t n) ST_WARN_UNUSED;

/*
 * Appends "HTTP/1.<minor> <status> <reason>\r\n", the field lines and the
 * final CRLF. An empty <reason> is replaced by st_http_status_reason(status).
 * Same checks as st_http1_write_request_head; <status> must be 100..599.
 */
int st_http1_write_response_head(struct st_buf *out, int status, struct st_str reason,
                                 int minor_version, const struct st_http_header *hdrs,
                                 size_t n) ST_WARN_UNUSED;

/* The standard reason phrase of <status>, "" when unknown. */
const char *st_http_status_reason(int status);

/* ---- header helpers ---------------------------------------------------------- */

/*
 * True for the hop-by-hop fields a proxy must not forward: Connection,
 * Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade,
 * Proxy-Authenticate, Proxy-Authorization (case-insensitive).
 */
bool st_http_is_hop_by_hop(struct st_str name);

/*
 * True when a Connection field among <hdrs> lists <name> as one of its
 * tokens (such a field is hop-by-hop too, RFC 9110 7.6.1).
 */
bool st_http_connection_lists(const struct st_http_header *hdrs, size_t n, struct st_str name);

/*
 * Returns the index of the first field named <name> (case-insensitive) at or
 * after <from>, or <n> when there is none.
 */
size_t st_http_header_find(const struct st_http_header *hdrs, size_t n, struct st_str name,
                           size_t from);
/* The first field named <name>, or NULL; borrowed from <hdrs>. */
const struct st_http_header *st_http_header_get(const struct st_http_header *hdrs, size_t n,
                                                const char *name);

/*
 * Splits a comma-separated field value: sets <token> to the next non-empty
 * element, trimmed of whitespace, and advances <list> past it. Commas inside
 * quoted strings do not split. Returns false when no element is left.
 */
bool st_http_token_next(struct st_str *list, struct st_str *token);
/* True when the comma-separated <list> has an element equal to <token> (case-insensitive). */
bool st_http_token_has(struct st_str list, const char *token);

/* ---- URL helpers ------------------------------------------------------------ */

/*
 * Percent-decodes <in> into <out> (<size> bytes, NUL-terminated) and returns
 * the decoded length. With <plus_is_space>, '+' becomes ' ' (query strings).
 * ST_EPARSE for a '%' not followed by two hex digits and for an encoded NUL
 * ("%00"), so the result is always a safe C string; ST_ETOOBIG when it does
 * not fit.
 */
int st_http_pct_decode(struct st_str in, char *out, size_t size, bool plus_is_space);

/*
 * Iterates the key=value pairs of a query string (without '?'), separated by
 * '&'. Decodes the next non-empty pair into <key> and <val> (each NUL
 * terminated, '+' as space; a pair without '=' has an empty value) and
 * advances <query>. Returns 1 for a pair, 0 at the end, or ST_EPARSE /
 * ST_ETOOBIG (a part does not fit its buffer).
 */
int st_http_query_next(struct st_str *query, char *key, size_t key_size, char *val,
                       size_t val_size);

#endif
