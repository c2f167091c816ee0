/*
 * JSON -> YAML in kubectl's block layout. Written by hand rather than with
 * libyaml's emitter so that the layout (indentless sequences under keys,
 * literal blocks) and the quoting decisions are ours: a string is written
 * plain only when the resolver in resolve.c reads it back as the same string
 * and other YAML 1.1 readers (PyYAML, go-yaml) do too.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "strait/json.h"
#include "internal.h"

#define EMIT_MAX_DEPTH 1000
/* libyaml refuses implicit keys over 1024 characters; longer keys use "? ". */
#define EMIT_MAX_IMPLICIT_KEY 512

struct emit {
    struct st_buf *b;
    int rc; /* sticky: the first failure wins and later writes are skipped */
};

static void
emit_raw(struct emit *e, const char *p, size_t n)
{
    if (e->rc == 0 && st_buf_append(e->b, p, n) < 0)
        e->rc = ST_ETOOBIG;
}

static void
emit_cstr(struct emit *e, const char *s)
{
    emit_raw(e, s, strlen(s));
}

static void
emit_spaces(struct emit *e, size_t n)
{
    static const char spaces[] = "                                ";

    while (n > 0) {
        size_t k = ST_MIN(n, sizeof(spaces) - 1);
        emit_raw(e, spaces, k);
        n -= k;
    }
}

/*
 * Decodes one UTF-8 sequence at <s> (n > 0 bytes left). Returns its length
 * or 0 when the bytes are not well-formed (overlong, surrogate, truncated).
 */
static size_t
emit_utf8(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len;
    uint32_t v, min;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if ((s[0] & 0xE0) == 0xC0)
        len = 2, v = s[0] & 0x1F, min = 0x80;
    else if ((s[0] & 0xF0) == 0xE0)
        len = 3, v = s[0] & 0x0F, min = 0x800;
    else if ((s[0] & 0xF8) == 0xF0)
        len = 4, v = s[0] & 0x07, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

/*
 * Characters that may appear unescaped in plain and literal scalars: YAML's
 * printable set minus the ones some reader treats as a line break or a BOM.
 */
static bool
emit_printable(uint32_t c)
{
    if (c >= 0x20 && c <= 0x7E)
        return true;
    if (c == 0x2028 || c == 0x2029 || c == 0xFEFF)
        return false;
    return (c >= 0xA0 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) ||
           (c >= 0x10000 && c <= 0x10FFFF);
}

/* True when every character is printable (and, if <newlines>, '\n' is allowed). */
static bool
emit_all_printable(const char *s, size_t n, bool newlines)
{
    const unsigned char *u = (const unsigned char *)s;
    uint32_t c;

    for (size_t i = 0; i < n;) {
        size_t len = emit_utf8(u + i, n - i, &c);
        if (len == 0)
            return false;
        if (!emit_printable(c) && !(newlines && c == '\n'))
            return false;
        i += len;
    }
    return true;
}

/* Whether <s> can be written as a plain scalar and read back as this string. */
static bool
emit_plain_ok(const char *s, size_t n)
{
    struct yaml_scalar r;

    if (n == 0)
        return false;
    st_yaml_resolve_plain(s, n, &r);
    if (r.kind != YAML_K_STR)
        return false;
    /*
     * Indicators, and to be safe with every YAML 1.1 reader anything that
     * starts like a number, a date, a base-60 value or a document marker.
     */
    if (strchr("-?:,[]{}#&*!|>'\"%@`~= \t.+0123456789", s[0]) != NULL)
        return false;
    if (s[n - 1] == ' ' || s[n - 1] == ':')
        return false;
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] == ':' && s[i + 1] == ' ')
            return false;
        if (s[i] == ' ' && s[i + 1] == '#')
            return false;
    }
    return emit_all_printable(s, n, false);
}

/* Whether <s> can be written as a literal block (`|`) and read back exactly. */
static bool
emit_literal_ok(const char *s, size_t n)
{
    if (n == 0 || memchr(s, '\n', n) == NULL)
        return false;
    /* A leading space or empty first line would confuse indentation detection. */
    if (s[0] == ' ' || s[0] == '\n')
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ' ' && (i + 1 == n || s[i + 1] == '\n'))
            return false;
    return emit_all_printable(s, n, true);
}

static void
emit_double_quoted(struct emit *e, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    char esc[16];
    uint32_t c;

    emit_raw(e, "\"", 1);
    for (size_t i = 0; i < n && e->rc == 0;) {
        size_t len = emit_utf8(u + i, n - i, &c);
        if (len == 0) {
            e->rc = ST_EINVAL; /* not UTF-8: no YAML form */
            break;
        }
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            emit_raw(e, esc, 2);
        } else if (c == '\n') {
            emit_raw(e, "\\n", 2);
        } else if (c == '\t') {
            emit_raw(e, "\\t", 2);
        } else if (c == '\r') {
            emit_raw(e, "\\r", 2);
        } else if (c == 0) {
            emit_raw(e, "\\0", 2);
        } else if (emit_printable(c)) {
            emit_raw(e, s + i, len);
        } else if (c < 0x100) {
            snprintf(esc, sizeof(esc), "\\x%02X", (unsigned)c);
            emit_cstr(e, esc);
        } else {
            snprintf(esc, sizeof(esc), "\\u%04X", (unsigned)c);
            emit_cstr(e, esc);
        }
        i += len;
    }
    emit_raw(e, "\"", 1);
}

/* A literal block whose content lines are indented by <col>; ends with '\n'. */
static void
emit_literal(struct emit *e, const char *s, size_t n, size_t col)
{
    size_t body = n, trailing = 0;

    while (body > 0 && s[body - 1] == '\n') {
        body--;
        trailing++;
    }
    emit_cstr(e, trailing == 0 ? "|-\n" : trailing == 1 ? "|\n" : "|+\n");
    for (size_t start = 0; start <= body;) {
        const char *nl = memchr(s + start, '\n', body - start);
        size_t end = nl ? (size_t)(nl - s) : body;
        if (end > start) {
            emit_spaces(e, col);
            emit_raw(e, s + start, end - start);
        }
        emit_raw(e, "\n", 1);
        start = end + 1;
    }
    for (size_t i = 1; i < trailing; i++)
        emit_raw(e, "\n", 1);
}

static void
emit_real(struct emit *e, double d)
{
    char buf[48];

    /* The shortest of %.15g..%.17g that reads back as the same double. */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    /* A dot keeps it a float for YAML 1.1 readers that require one (PyYAML). */
    if (strchr(buf, '.') == NULL) {
        char *exp = strpbrk(buf, "eE");
        char tail[24] = "";
        if (exp != NULL) {
            st_strlcpy(tail, exp, sizeof(tail));
            *exp = '\0';
        }
        size_t len = strlen(buf);
        snprintf(buf + len, sizeof(buf) - len, ".0%s", tail);
    }
    emit_cstr(e, buf);
}

/* A scalar or an empty container, then the line break; <col> is for literal blocks. */
static void
emit_scalar(struct emit *e, const json_t *v, size_t col)
{
    char num[32];

    switch (json_typeof(v)) {
    case JSON_OBJECT:
        emit_cstr(e, "{}");
        break;
    case JSON_ARRAY:
        emit_cstr(e, "[]");
        break;
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (emit_plain_ok(s, n)) {
            emit_raw(e, s, n);
        } else if (emit_literal_ok(s, n)) {
            emit_literal(e, s, n, col);
            return;
        } else {
            emit_double_quoted(e, s, n);
        }
        break;
    }
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        emit_cstr(e, num);
        break;
    case JSON_REAL:
        emit_real(e, json_real_value(v));
        break;
    case JSON_TRUE:
        emit_cstr(e, "true");
        break;
    case JSON_FALSE:
        emit_cstr(e, "false");
        break;
    default:
        emit_cstr(e, "null");
        break;
    }
    emit_raw(e, "\n", 1);
}

static bool
emit_is_block(const json_t *v)
{
    return (json_is_object(v) && json_object_size(v) > 0) ||
           (json_is_array(v) && json_array_size(v) > 0);
}

static void emit_block(struct emit *e, const json_t *v, size_t col, bool inline_first,
                       size_t depth);

static void
emit_key(struct emit *e, const char *k, size_t n, size_t col)
{
    if (n > EMIT_MAX_IMPLICIT_KEY) {
        emit_raw(e, "? ", 2);
        emit_double_quoted(e, k, n);
        emit_raw(e, "\n", 1);
        emit_spaces(e, col);
        emit_raw(e, ":", 1);
    } else {
        if (emit_plain_ok(k, n))
            emit_raw(e, k, n);
        else
            emit_double_quoted(e, k, n);
        emit_raw(e, ":", 1);
    }
}

/*
 * A non-empty mapping or sequence whose entries start at column <col>; when
 * <inline_first>, the first entry continues a line already indented (after
 * "- ").
 */
static void
emit_block(struct emit *e, const json_t *v, size_t col, bool inline_first, size_t depth)
{
    bool first = true;

    if (depth > EMIT_MAX_DEPTH) {
        if (e->rc == 0)
            e->rc = ST_EINVAL;
        return;
    }
    if (json_is_object(v)) {
        const char *k;
        size_t klen;
        json_t *x;
        json_object_keylen_foreach((json_t *)v, k, klen, x)
        {
            if (e->rc != 0)
                return;
            if (!first || !inline_first)
                emit_spaces(e, col);
            first = false;
            emit_key(e, k, klen, col);
            if (json_is_object(x) && emit_is_block(x)) {
                emit_raw(e, "\n", 1);
                emit_block(e, x, col + 2, false, depth + 1);
            } else if (emit_is_block(x)) {
                /* kubectl's layout: a sequence under a key is not indented further. */
                emit_raw(e, "\n", 1);
                emit_block(e, x, col, false, depth + 1);
            } else {
                emit_raw(e, " ", 1);
                emit_scalar(e, x, col + 2);
            }
        }
        return;
    }
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x)
    {
        if (e->rc != 0)
            return;
        if (!first || !inline_first)
            emit_spaces(e, col);
        first = false;
        emit_raw(e, "- ", 2);
        if (emit_is_block(x))
            emit_block(e, x, col + 2, true, depth + 1);
        else
            emit_scalar(e, x, col + 2);
    }
}

static void
emit_document(struct emit *e, const json_t *v)
{
    if (emit_is_block(v))
        emit_block(e, v, 0, false, 0);
    else
        emit_scalar(e, v, 2);
}

static int
emit_finish(struct emit *e, size_t mark)
{
    if (e->rc != 0) {
        e->b->len = mark;
        if (e->b->data != NULL)
            e->b->data[mark] = '\0';
    }
    return e->rc;
}

int
st_yaml_dump(const json_t *v, struct st_buf *out)
{
    struct emit e = {out, 0};
    size_t mark = out->len;

    if (v == NULL)
        return ST_EINVAL;
    emit_document(&e, v);
    return emit_finish(&e, mark);
}

int
st_yaml_dump_all(const json_t *docs, struct st_buf *out)
{
    struct emit e = {out, 0};
    size_t mark = out->len;
    size_t i;
    json_t *v;

    if (!json_is_array(docs))
        return ST_EINVAL;
    json_array_foreach(docs, i, v)
    {
        if (i > 0)
            emit_cstr(&e, "---\n");
        else if (json_is_object(v) && json_object_size(v) == 0 && json_array_size(docs) > 1)
            /* A stream starting with '{' would be read as a JSON stream, as kubectl does. */
            emit_cstr(&e, "--- ");
        emit_document(&e, v);
    }
    return emit_finish(&e, mark);
}
