/* Go-style durations for command-line flags (see duration_parse in cli.h). */
#include <stdint.h>

#include "cli.h"

struct duration_unit {
    const char *name;
    uint64_t ns;
};

/* The longest name that matches wins, so that "ms" is not read as "m" then "s". */
static const struct duration_unit duration_units[] = {
    {"ns", 1},
    {"us", 1000},
    {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
    {"\xce\xbcs", 1000}, /* U+03BC Greek small letter mu */
    {"ms", 1000000},
    {"s", 1000000000ull},
    {"m", 60ull * 1000000000ull},
    {"h", 3600ull * 1000000000ull},
};

int
duration_parse(const char *s, int64_t *out, struct st_err *err)
{
    const char *orig = s;
    bool neg = false;
    uint64_t total = 0;

    if (s == NULL || *s == '\0')
        return st_err_set(err, ST_EPARSE, "invalid duration \"\"");
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    if (*s == '\0')
        goto bad;
    while (*s != '\0') {
        uint64_t whole = 0, frac = 0, scale = 1;
        bool digits = false, overflow = false;

        while (*s >= '0' && *s <= '9') {
            if (whole > (UINT64_MAX - 9) / 10)
                overflow = true;
            else
                whole = whole * 10 + (uint64_t)(*s - '0');
            s++;
            digits = true;
        }
        if (*s == '.') {
            s++;
            while (*s >= '0' && *s <= '9') {
                /* Keep 18 fractional digits at most; more cannot change whole nanoseconds. */
                if (scale < 1000000000000000000ull) {
                    frac = frac * 10 + (uint64_t)(*s - '0');
                    scale *= 10;
                }
                s++;
                digits = true;
            }
        }
        if (!digits)
            goto bad;
        const struct duration_unit *u = NULL;
        for (size_t i = 0; i < ST_ARRAY_LEN(duration_units); i++) {
            size_t n = strlen(duration_units[i].name);
            if (strncmp(s, duration_units[i].name, n) == 0 && (u == NULL || n > strlen(u->name)))
                u = &duration_units[i];
        }
        if (u == NULL) {
            if (*s == '\0' || (*s >= '0' && *s <= '9'))
                return st_err_set(err, ST_EPARSE, "missing unit in duration \"%s\"", orig);
            return st_err_set(err, ST_EPARSE, "unknown unit in duration \"%s\"", orig);
        }
        s += strlen(u->name);
        if (overflow || whole > (uint64_t)INT64_MAX / u->ns)
            goto big;
        uint64_t v = whole * u->ns;
        /* The fraction: frac / scale of a unit, truncated to nanoseconds. */
        unsigned __int128 f = (unsigned __int128)frac * u->ns / scale;
        if (v + (uint64_t)f > (uint64_t)INT64_MAX || total > (uint64_t)INT64_MAX - v - (uint64_t)f)
            goto big;
        total += v + (uint64_t)f;
    }
    *out = neg ? -(int64_t)total : (int64_t)total;
    return 0;
bad:
    return st_err_set(err, ST_EPARSE, "invalid duration \"%s\"", orig);
big:
    return st_err_set(err, ST_ETOOBIG, "duration \"%s\" is too long", orig);
}
