/*
 * Plain-scalar resolution, following go-yaml v2 (resolve.go) as used by
 * sigs.k8s.io/yaml, which is what kubectl runs manifests through:
 *
 *   - only text starting with one of "yYnNtTfFoO~.+-0123456789" can be
 *     anything but a string;
 *   - YAML 1.1 booleans (y/yes/true/on and n/no/false/off in three casings),
 *     nulls (~, null, Null, NULL, empty), .inf/.nan spellings;
 *   - integers as Go's strconv.ParseInt(s, 0, 64) reads them after every '_'
 *     is removed: sign, 0x/0o/0b prefixes and a leading 0 meaning octal;
 *     values past int64 that fit uint64 become numbers too;
 *   - floats matching [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?,
 *     unless they overflow (then the text stays a string, as in Go);
 *   - a float with an integral value inside int64 is an integer, because
 *     sigs.k8s.io/yaml turns the float64 into JSON text ("1" for 1.0) that
 *     the API machinery decodes as int64.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "strait/core.h"
#include "internal.h"

static bool
resolve_is(const char *s, size_t n, const char *const *words, size_t nwords)
{
    for (size_t i = 0; i < nwords; i++)
        if (strlen(words[i]) == n && memcmp(words[i], s, n) == 0)
            return true;
    return false;
}

static const char *const resolve_true[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                           "True", "TRUE", "on",  "On",  "ON"};
static const char *const resolve_false[] = {"n",     "N",     "no",  "No",  "NO", "false",
                                            "False", "FALSE", "off", "Off", "OFF"};
static const char *const resolve_null[] = {"~", "null", "Null", "NULL"};
static const char *const resolve_special[] = {
    ".inf",  ".Inf",  ".INF",  "+.inf", "+.Inf", "+.INF",
    "-.inf", "-.Inf", "-.INF", ".nan",  ".NaN",  ".NAN",
};

static int
resolve_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 10;
    return 99;
}

/*
 * Go's strconv.ParseUint(s, 0, 64) on an unsigned, underscore-free string.
 * Returns 0 on success, -1 on a syntax error, -2 on overflow.
 */
static int
resolve_parse_u64(const char *s, uint64_t *out)
{
    unsigned base = 10;
    uint64_t v = 0;

    if (*s == '\0')
        return -1;
    if (s[0] == '0') {
        size_t len = strlen(s);
        char c = (char)(s[1] | 0x20);
        if (len >= 3 && (c == 'b' || c == 'o' || c == 'x')) {
            base = c == 'b' ? 2 : c == 'o' ? 8 : 16;
            s += 2;
        } else {
            base = 8;
            s += 1;
        }
    }
    int rc = 0;
    for (; *s; s++) {
        unsigned d = (unsigned)resolve_digit(*s);
        if (d >= base)
            return -1;
        if (v > (UINT64_MAX - d) / base)
            rc = -2; /* keep scanning: a later bad digit is a syntax error */
        else
            v = v * base + d;
    }
    *out = v;
    return rc;
}

/* Matches [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? exactly. */
static bool
resolve_float_syntax(const char *s)
{
    size_t digits = 0;

    if (*s == '+' || *s == '-')
        s++;
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9')
            s++, digits++;
        if (digits == 0)
            return false;
    } else {
        while (*s >= '0' && *s <= '9')
            s++, digits++;
        if (digits == 0)
            return false;
        if (*s == '.') {
            s++;
            while (*s >= '0' && *s <= '9')
                s++;
        }
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        digits = 0;
        while (*s >= '0' && *s <= '9')
            s++, digits++;
        if (digits == 0)
            return false;
    }
    return *s == '\0';
}

static void
resolve_set_double(double d, struct yaml_scalar *out)
{
    /* 2^63 is exact in a double; integral values in [-2^63, 2^63) fit int64. */
    if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
        out->kind = YAML_K_INT;
        out->i = (int64_t)d;
    } else {
        out->kind = YAML_K_REAL;
        out->d = d;
    }
}

/* Text starting with a digit, a sign or a dot that is in no word list. */
static void
resolve_number(const char *s, size_t n, struct yaml_scalar *out)
{
    char *plain = st_xmalloc(n + 1);
    size_t m = 0;
    uint64_t u;
    bool neg = false;

    for (size_t i = 0; i < n; i++)
        if (s[i] != '_')
            plain[m++] = s[i];
    plain[m] = '\0';
    out->kind = YAML_K_STR;

    /* go-yaml hands text starting with '.' to ParseFloat unchanged, which refuses '_'. */
    if (s[0] == '.' && m != n)
        goto out;
    if (plain[0] != '.') {
        /* strconv.ParseInt(plain, 0, 64), then ParseUint for what is too big. */
        const char *digits = plain;
        if (*digits == '+' || *digits == '-') {
            neg = *digits == '-';
            digits++;
        }
        int rc = resolve_parse_u64(digits, &u);
        if (rc == 0) {
            if (!neg && u <= (uint64_t)INT64_MAX) {
                out->kind = YAML_K_INT;
                out->i = (int64_t)u;
                goto out;
            }
            if (neg && u <= (uint64_t)INT64_MAX + 1) {
                out->kind = YAML_K_INT;
                out->i = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
                goto out;
            }
            if (digits == plain) { /* ParseUint takes no sign */
                out->kind = YAML_K_REAL;
                out->d = (double)u;
                out->u = u;
                out->from_uint = true;
                goto out;
            }
        }
    }
    if (resolve_float_syntax(plain)) {
        double d = strtod(plain, NULL);
        if (!isinf(d) && !isnan(d)) {
            resolve_set_double(d, out);
            out->d = d;
            out->from_float = true;
        }
    }
out:
    free(plain);
}

void
st_yaml_resolve_plain(const char *s, size_t n, struct yaml_scalar *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = YAML_K_STR;
    if (n == 0) {
        out->kind = YAML_K_NULL;
        return;
    }
    if (n == 2 && s[0] == '<' && s[1] == '<') {
        out->kind = YAML_K_MERGE;
        return;
    }
    if (strchr("yYnNtTfFoO~.+-0123456789", s[0]) == NULL || memchr(s, '\0', n) != NULL)
        return;
    if (resolve_is(s, n, resolve_true, ST_ARRAY_LEN(resolve_true))) {
        out->kind = YAML_K_BOOL;
        out->b = true;
    } else if (resolve_is(s, n, resolve_false, ST_ARRAY_LEN(resolve_false))) {
        out->kind = YAML_K_BOOL;
        out->b = false;
    } else if (resolve_is(s, n, resolve_null, ST_ARRAY_LEN(resolve_null))) {
        out->kind = YAML_K_NULL;
    } else if (resolve_is(s, n, resolve_special, ST_ARRAY_LEN(resolve_special))) {
        out->kind = YAML_K_INF_NAN;
        out->d = s[n - 1] == 'n' || s[n - 1] == 'N' ? NAN : s[0] == '-' ? -INFINITY : INFINITY;
    } else if (strchr(".+-0123456789", s[0]) != NULL) {
        resolve_number(s, n, out);
    }
}
