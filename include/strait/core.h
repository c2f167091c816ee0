/*
 * strait core: allocation, capped byte buffers, strings, error values, time
 * and randomness. Everything else in lib/ and in the binaries builds on this.
 *
 * Conventions (see STYLE.md): int functions return >= 0 on success and a
 * negative errno (or ST_E* below) on failure; human details go into a
 * caller-supplied struct st_err. Allocation failure aborts; sizes a peer
 * controls never do, they are checked against caps.
 */
#ifndef STRAIT_CORE_H
#define STRAIT_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ST_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define ST_MIN(a, b) ((a) < (b) ? (a) : (b))
#define ST_MAX(a, b) ((a) > (b) ? (a) : (b))
#define ST_UNUSED(x) ((void)(x))
#define ST_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#if defined(__GNUC__)
#define ST_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define ST_NORETURN __attribute__((noreturn))
#define ST_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define ST_PRINTF(f, a)
#define ST_NORETURN
#define ST_WARN_UNUSED
#endif

/* Project error codes, below every errno value. */
enum {
    ST_EPARSE = -10001,   /* malformed input */
    ST_ETOOBIG = -10002,  /* a cap was exceeded */
    ST_ENOTFOUND = -10003,
    ST_ECONFLICT = -10004,
    ST_EINVAL = -10005,   /* well-formed but not acceptable */
    ST_ETLS = -10006,     /* TLS or X.509 failure */
    ST_EPROTO = -10007,   /* peer broke the protocol */
    ST_EAUTH = -10008,    /* authentication or authorization failed */
    ST_EGONE = -10009,    /* resource version expired */
    ST_ETIMEOUT = -10010,
};

/* Returns a static description of an errno or ST_E* value (sign ignored). */
const char *st_strerror(int code);

/* ---- errors ---------------------------------------------------------- */

/*
 * A caller-supplied error record: a code and a one-line message for humans.
 * lib/ fills it and never logs; the caller decides whether to log it.
 */
struct st_err {
    int code;
    char msg[256];
};

/* Sets <err> (which may be NULL) and returns <code>, for `return st_err_set(...)`. */
int st_err_set(struct st_err *err, int code, const char *fmt, ...) ST_PRINTF(3, 4);
/* Clears <err> (may be NULL). */
void st_err_clear(struct st_err *err);

/* ---- allocation ------------------------------------------------------- */

/* These abort the process on allocation failure; they never return NULL. */
void *st_xmalloc(size_t n);
void *st_xcalloc(size_t nmemb, size_t size);
void *st_xrealloc(void *p, size_t n);
char *st_xstrdup(const char *s);
char *st_xstrndup(const char *s, size_t n);
/* Returns a new string formatted like printf; the caller frees it. */
char *st_xasprintf(const char *fmt, ...) ST_PRINTF(1, 2);
ST_NORETURN void st_oom(void);

/* Frees <p> after zeroing <n> bytes of it; for key material. Accepts NULL. */
void st_free_secret(void *p, size_t n);
/* Zeroes memory in a way the compiler may not drop. */
void st_wipe(void *p, size_t n);

/* ---- byte buffers ------------------------------------------------------ */

/*
 * A growable byte buffer with a hard cap. <data> is always NUL-terminated past
 * <len> once anything was allocated, so text can be used as a C string.
 * Appends that would exceed <max> fail with ST_ETOOBIG and change nothing.
 */
struct st_buf {
    char *data;
    size_t len;
    size_t cap; /* allocated bytes, excluding the terminating NUL */
    size_t max; /* hard cap on len; 0 means SIZE_MAX */
};

#define ST_BUF_INIT(maxlen) {NULL, 0, 0, (maxlen)}

void st_buf_init(struct st_buf *b, size_t max);
/* Frees the storage (after wiping it if <secret>) and resets <b> to empty. */
void st_buf_free(struct st_buf *b);
void st_buf_free_secret(struct st_buf *b);
/* Ensures room for <n> more bytes; ST_ETOOBIG past the cap. */
int st_buf_reserve(struct st_buf *b, size_t n) ST_WARN_UNUSED;
int st_buf_append(struct st_buf *b, const void *p, size_t n) ST_WARN_UNUSED;
int st_buf_append_str(struct st_buf *b, const char *s) ST_WARN_UNUSED;
int st_buf_appendf(struct st_buf *b, const char *fmt, ...) ST_PRINTF(2, 3) ST_WARN_UNUSED;
int st_buf_vappendf(struct st_buf *b, const char *fmt, va_list ap) ST_PRINTF(2, 0) ST_WARN_UNUSED;
/* Drops <n> bytes from the front (n > len drops everything). */
void st_buf_consume(struct st_buf *b, size_t n);
/* Keeps the storage, sets len to 0. */
void st_buf_reset(struct st_buf *b);
/* Returns the contents as a C string ("" when empty); borrowed. */
const char *st_buf_cstr(const struct st_buf *b);
/* Hands the storage to the caller (a malloc'd C string) and resets <b>. */
char *st_buf_steal(struct st_buf *b);

/* ---- strings ----------------------------------------------------------- */

/* A borrowed, not necessarily NUL-terminated slice. */
struct st_str {
    const char *p;
    size_t n;
};

#define ST_STR(lit) ((struct st_str){(lit), sizeof(lit) - 1})
#define ST_STR_FMT "%.*s"
#define ST_STR_ARG(s) (int)(s).n, (s).p

static inline struct st_str
st_str_c(const char *s)
{
    return (struct st_str){s, s ? strlen(s) : 0};
}

bool st_str_eq(struct st_str a, struct st_str b);
bool st_str_eq_c(struct st_str a, const char *b);
bool st_str_casecmp_eq(struct st_str a, struct st_str b);
bool st_str_has_prefix(const char *s, const char *prefix);
bool st_str_has_suffix(const char *s, const char *suffix);
/* Returns a new NUL-terminated copy. */
char *st_str_dup(struct st_str s);
/* Trims spaces and tabs at both ends. */
struct st_str st_str_trim(struct st_str s);

/*
 * Copies at most size-1 bytes and terminates; returns strlen(src) like
 * OpenBSD's strlcpy, so truncation is detectable.
 */
size_t st_strlcpy(char *dst, const char *src, size_t size);

/*
 * Strict decimal parse of the whole slice into an unsigned 64-bit integer: no
 * sign, no spaces, no leading '+', at most <max>. Returns 0 or ST_EPARSE /
 * ST_ETOOBIG.
 */
int st_parse_u64(struct st_str s, uint64_t max, uint64_t *out);
/* The same for an optional leading '-'. */
int st_parse_i64(struct st_str s, int64_t *out);

/*
 * A 64-bit hash of <n> bytes for in-memory tables (not for anything stored or
 * sent, and not keyed: a peer choosing the bytes can choose collisions).
 * Reads 8 bytes per step, so keys of a few hundred bytes hash in tens of
 * multiplications.
 */
uint64_t st_hash64(const void *p, size_t n);

/* Room for any uint64_t in decimal and its NUL. */
#define ST_U64_DEC_MAX 21
/*
 * Writes <v> in decimal with a NUL into <out> (at least ST_U64_DEC_MAX bytes)
 * and returns its length; for hot paths where snprintf's machinery costs more
 * than the digits.
 */
size_t st_fmt_u64(char *out, uint64_t v);

/* Constant-time comparison; true when equal (length is not secret). */
bool st_consttime_eq(const void *a, size_t an, const void *b, size_t bn);

/* DNS-1123 label (<= 63, [a-z0-9-], alnum at both ends). */
bool st_dns1123_label(const char *s);
/* DNS-1123 subdomain (<= 253, labels joined by '.'). */
bool st_dns1123_subdomain(const char *s);

/* ---- base64 ------------------------------------------------------------ */

/* Standard alphabet with padding; returns a new C string. */
char *st_base64_encode(const void *p, size_t n);
/*
 * Decodes standard base64 (padding optional, no whitespace) into <out>,
 * which is reset first. Returns 0 or ST_EPARSE / ST_ETOOBIG.
 */
int st_base64_decode(const char *s, size_t n, struct st_buf *out);

/* ---- time -------------------------------------------------------------- */

/* Monotonic milliseconds and nanoseconds. */
uint64_t st_now_ms(void);
uint64_t st_now_ns(void);
/* Wall-clock seconds since the epoch. */
int64_t st_wall_s(void);
/* Formats <t> (epoch seconds) as RFC 3339 UTC "2006-01-02T15:04:05Z" into out[21]. */
void st_rfc3339(int64_t t, char out[21]);
/* Parses that format back; returns 0 or ST_EPARSE. */
int st_parse_rfc3339(const char *s, int64_t *out);

/* ---- randomness --------------------------------------------------------- */

/* Fills <p> from the kernel's CSPRNG; aborts if the kernel cannot answer. */
void st_random_bytes(void *p, size_t n);
uint64_t st_random_u64(void);
/* A fast, non-cryptographic generator for load balancing and jitter. */
struct st_rng {
    uint64_t s[2];
};
void st_rng_seed(struct st_rng *r);
uint64_t st_rng_next(struct st_rng *r);
/* Uniform in [0, n); n > 0. */
uint64_t st_rng_below(struct st_rng *r, uint64_t n);

/* ---- files -------------------------------------------------------------- */

/*
 * Reads a whole file into <out> (reset first) up to out->max bytes.
 * Returns 0, -errno or ST_ETOOBIG.
 */
int st_file_read(const char *path, struct st_buf *out);
/*
 * Writes <p> to <path> atomically (temporary file, fsync, rename) with <mode>.
 * Returns 0 or -errno.
 */
int st_file_write_atomic(const char *path, const void *p, size_t n, unsigned mode);
/* Creates <path> and its parents with <mode>; existing directories are fine. */
int st_mkdir_p(const char *path, unsigned mode);

/* ---- logging (binaries only; lib/ never logs) ---------------------------- */

enum st_log_level { ST_LOG_DEBUG, ST_LOG_INFO, ST_LOG_WARN, ST_LOG_ERROR };

/* Sets the program name and threshold for st_log; not thread-safe, call once. */
void st_log_init(const char *prog, enum st_log_level min);
/* One line to stderr: "<time> <prog> <level> <message>". Thread-safe. */
void st_log(enum st_log_level level, const char *fmt, ...) ST_PRINTF(2, 3);

#endif
