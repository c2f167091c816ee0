/*
 * jansson helpers: capped loading, dumping into an st_buf, and path access
 * by dotted strings or by arrays of segments.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "strait/json.h"
#include "internal.h"

/* ---- loading ---------------------------------------------------------------- */

/*
 * jansson has no nesting option (only a fixed internal limit), so one cheap
 * pass over the bytes counts brackets outside strings before the parser runs.
 * Malformed input may be miscounted here; the parser rejects it anyway.
 */
int
st_json_check_depth(const char *p, size_t n, size_t max_depth, struct st_err *err)
{
    size_t depth = 0, line = 1, line_start = 0;
    bool in_str = false, esc = false;

    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\n') {
            line++;
            line_start = i + 1;
        }
        if (in_str) {
            if (esc)
                esc = false;
            else if (c == '\\')
                esc = true;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth)
                return st_err_set(err, ST_ETOOBIG,
                                  "line %zu, column %zu: nesting deeper than %zu levels", line,
                                  i - line_start + 1, max_depth);
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return 0;
}

json_t *
st_json_load_ex(const char *p, size_t n, size_t max_bytes, size_t max_depth, struct st_err *err)
{
    json_error_t jerr;
    json_t *v;

    if (max_bytes == 0)
        max_bytes = ST_JSON_DEFAULT_MAX_BYTES;
    if (max_depth == 0)
        max_depth = ST_JSON_DEFAULT_MAX_DEPTH;
    if (n > max_bytes) {
        st_err_set(err, ST_ETOOBIG, "JSON input of %zu bytes exceeds the cap of %zu", n, max_bytes);
        return NULL;
    }
    if (p == NULL) {
        p = "";
        n = 0;
    }
    if (st_json_check_depth(p, n, max_depth, err) < 0)
        return NULL;
    v = json_loadb(p, n, JSON_DECODE_ANY, &jerr);
    if (v == NULL) {
        st_err_set(err, ST_EPARSE, "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    st_err_clear(err);
    return v;
}

json_t *
st_json_load(const char *p, size_t n, size_t max_depth, struct st_err *err)
{
    return st_json_load_ex(p, n, 0, max_depth, err);
}

/* ---- dumping ------------------------------------------------------------------ */

/*
 * Our own serializer rather than json_dump_callback: jansson prints reals
 * with 17 significant digits (0.1 becomes 0.10000000000000001), while Go,
 * and so kubectl and the API server, print the shortest form that reads
 * back as the same double.
 */
struct json_out {
    struct st_buf *b;
    unsigned flags;
    int rc; /* sticky: the first failure wins */
};

static void
json_out_raw(struct json_out *o, const char *p, size_t n)
{
    if (o->rc == 0 && st_buf_append(o->b, p, n) < 0)
        o->rc = ST_ETOOBIG;
}

static void
json_out_newline(struct json_out *o, size_t depth)
{
    if (!(o->flags & ST_JSON_PRETTY))
        return;
    json_out_raw(o, "\n", 1);
    for (size_t i = 0; i < depth; i++)
        json_out_raw(o, "    ", 4);
}

static void
json_out_string(struct json_out *o, const char *s, size_t n)
{
    size_t run = 0;
    char esc[8];

    json_out_raw(o, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep = NULL;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        json_out_raw(o, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"':
            rep = "\\\"";
            break;
        case '\\':
            rep = "\\\\";
            break;
        case '\b':
            rep = "\\b";
            break;
        case '\f':
            rep = "\\f";
            break;
        case '\n':
            rep = "\\n";
            break;
        case '\r':
            rep = "\\r";
            break;
        case '\t':
            rep = "\\t";
            break;
        default:
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            rep = esc;
            break;
        }
        json_out_raw(o, rep, strlen(rep));
    }
    json_out_raw(o, s + run, n - run);
    json_out_raw(o, "\"", 1);
}

/* Formats a finite double in the shortest form that reads back exactly, kept a real. */
void
st_json_format_real(double d, char *buf, size_t size)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    size_t len = strlen(buf);
    if (strpbrk(buf, ".eE") == NULL && len + 2 < size)
        memcpy(buf + len, ".0", 3);
}

struct json_key {
    const char *k;
    size_t n;
    json_t *v;
};

static int
json_key_cmp(const void *a, const void *b)
{
    const struct json_key *x = a, *y = b;
    int c = memcmp(x->k, y->k, ST_MIN(x->n, y->n));

    return c != 0 ? c : (x->n > y->n) - (x->n < y->n);
}

static void
json_out_value(struct json_out *o, const json_t *v, size_t depth)
{
    char num[40];
    const char *sep = (o->flags & ST_JSON_PRETTY) ? ": " : ":";

    if (o->rc != 0)
        return;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        struct json_key *keys;
        const char *k;
        size_t klen;
        json_t *x;
        if (n == 0) {
            json_out_raw(o, "{}", 2);
            break;
        }
        keys = st_xmalloc(n * sizeof(*keys));
        json_object_keylen_foreach((json_t *)v, k, klen, x)
        {
            keys[i++] = (struct json_key){k, klen, x};
        }
        if (o->flags & ST_JSON_SORT_KEYS)
            qsort(keys, n, sizeof(*keys), json_key_cmp);
        json_out_raw(o, "{", 1);
        for (i = 0; i < n; i++) {
            if (i > 0)
                json_out_raw(o, ",", 1);
            json_out_newline(o, depth + 1);
            json_out_string(o, keys[i].k, keys[i].n);
            json_out_raw(o, sep, strlen(sep));
            json_out_value(o, keys[i].v, depth + 1);
        }
        free(keys);
        json_out_newline(o, depth);
        json_out_raw(o, "}", 1);
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *x;
        if (json_array_size(v) == 0) {
            json_out_raw(o, "[]", 2);
            break;
        }
        json_out_raw(o, "[", 1);
        json_array_foreach(v, i, x)
        {
            if (i > 0)
                json_out_raw(o, ",", 1);
            json_out_newline(o, depth + 1);
            json_out_value(o, x, depth + 1);
        }
        json_out_newline(o, depth);
        json_out_raw(o, "]", 1);
        break;
    }
    case JSON_STRING:
        json_out_string(o, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        json_out_raw(o, num, strlen(num));
        break;
    case JSON_REAL:
        st_json_format_real(json_real_value(v), num, sizeof(num));
        json_out_raw(o, num, strlen(num));
        break;
    case JSON_TRUE:
        json_out_raw(o, "true", 4);
        break;
    case JSON_FALSE:
        json_out_raw(o, "false", 5);
        break;
    default:
        json_out_raw(o, "null", 4);
        break;
    }
}

int
st_json_dump(const json_t *v, struct st_buf *out, unsigned flags)
{
    struct json_out o = {out, flags, 0};
    size_t mark = out->len;

    if (v == NULL)
        return ST_EINVAL;
    json_out_value(&o, v, 0);
    if (flags & ST_JSON_NEWLINE)
        json_out_raw(&o, "\n", 1);
    if (o.rc != 0) {
        /* Undo a partial write so that the caller's buffer is unchanged. */
        out->len = mark;
        if (out->data != NULL)
            out->data[mark] = '\0';
    }
    return o.rc;
}

/* ---- path access ----------------------------------------------------------------- */

/* Parses a segment as an array index; false if it is not all digits or too big. */
static bool
json_seg_index(const char *s, size_t n, size_t *out)
{
    size_t v = 0;

    if (n == 0 || n > 9)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (size_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

/* One step down from <v> by the segment <s, n>; NULL if there is no such child. */
static json_t *
json_step(const json_t *v, const char *s, size_t n)
{
    size_t idx;

    if (json_is_object(v))
        return json_object_getn(v, s, n);
    if (json_is_array(v) && json_seg_index(s, n, &idx))
        return json_array_get(v, idx);
    return NULL;
}

/* Yields the next '.'-separated segment of <*path>; false at the end. */
static bool
json_next_seg(const char **path, const char **seg, size_t *n)
{
    const char *p = *path;
    const char *dot;

    if (p == NULL)
        return false;
    dot = strchr(p, '.');
    *seg = p;
    *n = dot ? (size_t)(dot - p) : strlen(p);
    *path = dot ? dot + 1 : NULL;
    return true;
}

json_t *
st_json_path(const json_t *v, const char *path)
{
    const char *seg;
    size_t n;

    if (path == NULL || *path == '\0')
        return (json_t *)v;
    while (v != NULL && json_next_seg(&path, &seg, &n))
        v = json_step(v, seg, n);
    return (json_t *)v;
}

json_t *
st_json_pathv(const json_t *v, const char *const *segs, size_t n)
{
    for (size_t i = 0; i < n && v != NULL; i++)
        v = json_step(v, segs[i], strlen(segs[i]));
    return (json_t *)v;
}

const char *
st_json_str(const json_t *v, const char *path)
{
    return json_string_value(st_json_path(v, path));
}

const char *
st_json_strv(const json_t *v, const char *const *segs, size_t n)
{
    return json_string_value(st_json_pathv(v, segs, n));
}

int
st_json_int(const json_t *v, const char *path, int64_t *out)
{
    const json_t *x = st_json_path(v, path);

    if (x == NULL || json_is_null(x))
        return ST_ENOTFOUND;
    if (json_is_integer(x)) {
        *out = json_integer_value(x);
        return 0;
    }
    if (json_is_real(x)) {
        double d = json_real_value(x);
        /* 2^63 is exactly representable; anything at or above it is out of range. */
        if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
            *out = (int64_t)d;
            return 0;
        }
    }
    return ST_EINVAL;
}

int
st_json_bool(const json_t *v, const char *path, bool *out)
{
    const json_t *x = st_json_path(v, path);

    if (x == NULL || json_is_null(x))
        return ST_ENOTFOUND;
    if (!json_is_boolean(x))
        return ST_EINVAL;
    *out = json_is_true(x);
    return 0;
}

int64_t
st_json_int_or(const json_t *v, const char *path, int64_t def)
{
    int64_t x;

    return st_json_int(v, path, &x) == 0 ? x : def;
}

bool
st_json_bool_or(const json_t *v, const char *path, bool def)
{
    bool x;

    return st_json_bool(v, path, &x) == 0 ? x : def;
}

/*
 * The shared walk behind the setters and deleters: segments come either from
 * a dotted path or from an array, so both are expressed as one iterator.
 */
struct json_segs {
    const char *path;        /* dotted form, or NULL */
    const char *const *segs; /* array form */
    size_t n, i;
};

static bool
json_segs_next(struct json_segs *it, const char **seg, size_t *n)
{
    if (it->segs == NULL)
        return json_next_seg(&it->path, seg, n);
    if (it->i >= it->n)
        return false;
    *seg = it->segs[it->i++];
    *n = strlen(*seg);
    return true;
}

static bool
json_segs_done(const struct json_segs *it)
{
    return it->segs == NULL ? it->path == NULL : it->i >= it->n;
}

static int
json_set(json_t *root, struct json_segs *it, json_t *value)
{
    json_t *cur = root;
    const char *seg;
    size_t n, idx;
    int rc = ST_EINVAL;

    if (value == NULL || json_segs_done(it) || !(json_is_object(root) || json_is_array(root)))
        goto out;
    while (json_segs_next(it, &seg, &n)) {
        bool last = json_segs_done(it);
        if (json_is_object(cur)) {
            json_t *next = json_object_getn(cur, seg, n);
            if (last) {
                rc = json_object_setn_new(cur, seg, n, value) == 0 ? 0 : ST_EINVAL;
                value = NULL;
                goto out;
            }
            if (next == NULL || json_is_null(next)) {
                next = json_object();
                if (json_object_setn_new(cur, seg, n, next) < 0)
                    goto out;
            }
            cur = next;
        } else if (json_is_array(cur) && json_seg_index(seg, n, &idx) &&
                   idx < json_array_size(cur)) {
            json_t *next = json_array_get(cur, idx);
            if (last) {
                rc = json_array_set_new(cur, idx, value) == 0 ? 0 : ST_EINVAL;
                value = NULL;
                goto out;
            }
            if (json_is_null(next)) {
                next = json_object();
                json_array_set_new(cur, idx, next);
            }
            cur = next;
        } else {
            goto out;
        }
    }
out:
    json_decref(value);
    return rc;
}

int
st_json_set_path(json_t *root, const char *path, json_t *value)
{
    struct json_segs it = {.path = (path && *path) ? path : NULL};

    return json_set(root, &it, value);
}

int
st_json_set_pathv(json_t *root, const char *const *segs, size_t n, json_t *value)
{
    static const char *const none[1] = {NULL};
    struct json_segs it = {.segs = segs ? segs : none, .n = segs ? n : 0};

    return json_set(root, &it, value);
}

static int
json_del(json_t *parent, const char *seg, size_t n)
{
    size_t idx;

    if (json_is_object(parent) && json_object_getn(parent, seg, n) != NULL) {
        /* jansson has no json_object_deln; keys with NUL bytes cannot exist here. */
        char *key = st_xstrndup(seg, n);
        int rc = json_object_del(parent, key);
        free(key);
        return rc == 0 ? 0 : ST_ENOTFOUND;
    }
    if (json_is_array(parent) && json_seg_index(seg, n, &idx) && idx < json_array_size(parent))
        return json_array_remove(parent, idx) == 0 ? 0 : ST_ENOTFOUND;
    return ST_ENOTFOUND;
}

int
st_json_del_path(json_t *root, const char *path)
{
    const char *dot;

    if (path == NULL || *path == '\0')
        return ST_ENOTFOUND;
    dot = strrchr(path, '.');
    if (dot == NULL)
        return json_del(root, path, strlen(path));
    char *parent_path = st_xstrndup(path, (size_t)(dot - path));
    json_t *parent = st_json_path(root, parent_path);
    free(parent_path);
    return json_del(parent, dot + 1, strlen(dot + 1));
}

int
st_json_del_pathv(json_t *root, const char *const *segs, size_t n)
{
    if (segs == NULL || n == 0)
        return ST_ENOTFOUND;
    json_t *parent = st_json_pathv(root, segs, n - 1);
    return json_del(parent, segs[n - 1], strlen(segs[n - 1]));
}
