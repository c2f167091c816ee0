/*
 * YAML -> JSON over libyaml's event API. The event API (rather than the
 * document API) lets us build JSON directly, count every value as it is
 * produced and stop at a cap before memory grows: aliases are expanded by
 * deep copies whose cost is known in advance, so a "billion laughs" stream
 * is refused after max_nodes values, not after the machine runs out.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <yaml.h>

#include "strait/json.h"
#include "internal.h"

#define YAML_DEFAULT_MAX_BYTES ((size_t)8 << 20)
#define YAML_DEFAULT_MAX_DEPTH 128
#define YAML_DEFAULT_MAX_NODES 1000000
#define YAML_DEFAULT_MAX_DOCS 10000

/* One open sequence or mapping. */
struct yaml_frame {
    json_t *v; /* array or object being filled; owned */
    bool is_map;
    long anchor;   /* index into the anchor table, or -1 */
    size_t nodes0; /* counters when the collection started, for anchor costs */
    size_t bytes0;
    size_t height; /* levels of nesting inside, this one included */
    char *key;     /* pending mapping key (owned), NULL when a key is expected */
    size_t key_len;
    bool key_merge; /* the pending key is the merge key "<<" */
};

/* A completed anchored node, kept for the aliases that follow it. */
struct yaml_anchor {
    json_t *v;  /* NULL while its collection is still open */
    char *text; /* a scalar's source text (for use as a key), or NULL */
    size_t text_len;
    size_t nodes, bytes, height;
};

struct yaml_loader {
    struct st_yaml_limits lim;
    struct st_err *err;
    struct yaml_frame *stack;
    size_t depth, stack_cap;
    struct yaml_anchor *anchors;
    size_t nanchors, anchors_cap;
    json_t *anchor_names; /* name -> index into anchors */
    json_t *root;         /* the current document's value */
    size_t nodes, bytes, docs;
};

static void
yaml_limits_fill(struct st_yaml_limits *out, const struct st_yaml_limits *in)
{
    if (in != NULL)
        *out = *in;
    else
        memset(out, 0, sizeof(*out));
    if (out->max_bytes == 0)
        out->max_bytes = YAML_DEFAULT_MAX_BYTES;
    if (out->max_depth == 0)
        out->max_depth = YAML_DEFAULT_MAX_DEPTH;
    if (out->max_nodes == 0)
        out->max_nodes = YAML_DEFAULT_MAX_NODES;
    if (out->max_docs == 0)
        out->max_docs = YAML_DEFAULT_MAX_DOCS;
    if (out->max_scalar_bytes == 0)
        out->max_scalar_bytes = out->max_bytes > SIZE_MAX / 4 ? SIZE_MAX : out->max_bytes * 4;
}

static int
yaml_fail(struct yaml_loader *l, int code, const yaml_mark_t *m, const char *what)
{
    return st_err_set(l->err, code, "line %zu, column %zu: %s", m->line + 1, m->column + 1, what);
}

static void
yaml_anchors_reset(struct yaml_loader *l)
{
    for (size_t i = 0; i < l->nanchors; i++) {
        json_decref(l->anchors[i].v);
        free(l->anchors[i].text);
    }
    l->nanchors = 0;
    json_object_clear(l->anchor_names);
}

static void
yaml_frame_free(struct yaml_frame *f)
{
    json_decref(f->v);
    f->v = NULL;
    free(f->key);
    f->key = NULL;
}

/* Registers <name> and returns its slot; a later anchor of the same name wins. */
static long
yaml_anchor_add(struct yaml_loader *l, const char *name)
{
    if (l->nanchors == l->anchors_cap) {
        l->anchors_cap = l->anchors_cap ? l->anchors_cap * 2 : 16;
        l->anchors = st_xrealloc(l->anchors, l->anchors_cap * sizeof(*l->anchors));
    }
    long idx = (long)l->nanchors++;
    memset(&l->anchors[idx], 0, sizeof(l->anchors[idx]));
    json_object_set_new(l->anchor_names, name, json_integer(idx));
    return idx;
}

static struct yaml_anchor *
yaml_anchor_find(struct yaml_loader *l, const char *name)
{
    json_t *idx = json_object_get(l->anchor_names, name);

    return idx ? &l->anchors[json_integer_value(idx)] : NULL;
}

/* Charges <nodes> values and <bytes> of scalar text against the caps. */
static int
yaml_charge(struct yaml_loader *l, size_t nodes, size_t bytes, const yaml_mark_t *m)
{
    char msg[128];

    if (nodes > l->lim.max_nodes - l->nodes) {
        snprintf(msg, sizeof(msg), "more than %zu values (aliases expanded)", l->lim.max_nodes);
        return yaml_fail(l, ST_ETOOBIG, m, msg);
    }
    if (bytes > l->lim.max_scalar_bytes - l->bytes) {
        snprintf(msg, sizeof(msg), "more than %zu bytes of scalar text (aliases expanded)",
                 l->lim.max_scalar_bytes);
        return yaml_fail(l, ST_ETOOBIG, m, msg);
    }
    l->nodes += nodes;
    l->bytes += bytes;
    return 0;
}

/* Copies every key of <src> into <dst>, replacing what is there. */
static void
yaml_merge_one(json_t *dst, json_t *src)
{
    const char *k;
    size_t klen;
    json_t *x;

    json_object_keylen_foreach(src, k, klen, x)
    {
        json_object_setn(dst, k, klen, x);
    }
}

/*
 * Applies a merge key's value (a mapping, or a sequence of mappings) to the
 * mapping being built, the way go-yaml v2 does and so kubectl: merged keys
 * replace the keys seen so far and are replaced by keys that follow, and in
 * a sequence the earlier mappings win (they are applied last).
 */
static int
yaml_merge(struct yaml_loader *l, struct yaml_frame *f, json_t *v, const yaml_mark_t *m)
{
    size_t i;
    json_t *x;

    if (json_is_object(v)) {
        yaml_merge_one(f->v, v);
        return 0;
    }
    if (json_is_array(v)) {
        json_array_foreach(v, i, x)
        {
            if (!json_is_object(x))
                return yaml_fail(l, ST_EPARSE, m,
                                 "map merge requires a mapping or a sequence of mappings");
        }
        for (i = json_array_size(v); i > 0; i--)
            yaml_merge_one(f->v, json_array_get(v, i - 1));
        return 0;
    }
    return yaml_fail(l, ST_EPARSE, m, "map merge requires a mapping or a sequence of mappings");
}

/*
 * Places a finished value (takes ownership of <v>) into the open collection,
 * or makes it the document's root. <height> is its nesting (0 for scalars).
 */
static int
yaml_attach(struct yaml_loader *l, json_t *v, size_t height, const yaml_mark_t *m)
{
    int rc = 0;

    if (l->depth == 0) {
        json_decref(l->root);
        l->root = v;
        return 0;
    }
    struct yaml_frame *f = &l->stack[l->depth - 1];
    f->height = ST_MAX(f->height, height + 1);
    if (!f->is_map) {
        json_array_append_new(f->v, v);
        return 0;
    }
    if (f->key_merge) {
        rc = yaml_merge(l, f, v, m);
        json_decref(v);
    } else if (json_object_setn_new(f->v, f->key, f->key_len, v) < 0) {
        rc = yaml_fail(l, ST_EPARSE, m, "mapping key is not valid UTF-8");
    }
    free(f->key);
    f->key = NULL;
    f->key_merge = false;
    return rc;
}

/* Accepts a scalar in key position; <text> is copied. */
static int
yaml_take_key(struct yaml_loader *l, const char *text, size_t len, bool merge, const yaml_mark_t *m)
{
    struct yaml_frame *f = &l->stack[l->depth - 1];

    /*
     * A repeated key is not an error: go-yaml v2 (non-strict, as kubectl
     * runs it) keeps the last value, and so do we (json_object_setn_new
     * replaces it in place).
     */
    if (memchr(text, '\0', len) != NULL)
        return yaml_fail(l, ST_EPARSE, m, "mapping key contains a NUL character");
    f->key = st_xstrndup(text, len);
    f->key_len = len;
    f->key_merge = merge;
    return 0;
}

static bool
yaml_expecting_key(const struct yaml_loader *l)
{
    return l->depth > 0 && l->stack[l->depth - 1].is_map && l->stack[l->depth - 1].key == NULL;
}

static bool
yaml_tag_is(const yaml_char_t *tag, const char *name)
{
    return tag != NULL && strcmp((const char *)tag, name) == 0;
}

/* Resolves a scalar event under its tag and style into <r>. */
static int
yaml_scalar_resolve(struct yaml_loader *l, const yaml_event_t *ev, struct yaml_scalar *r)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    const yaml_char_t *tag = ev->data.scalar.tag;
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    char msg[160];

    memset(r, 0, sizeof(*r));
    if (memchr(s, '\0', n) != NULL)
        return yaml_fail(l, ST_EPARSE, &ev->start_mark, "string contains a NUL character");
    bool typed = yaml_tag_is(tag, YAML_NULL_TAG) || yaml_tag_is(tag, YAML_BOOL_TAG) ||
                 yaml_tag_is(tag, YAML_INT_TAG) || yaml_tag_is(tag, YAML_FLOAT_TAG);
    /*
     * Quoted and block scalars, "!" and "!!str" are strings; so is anything
     * under a tag we do not resolve (!!binary, !!timestamp, local tags), as
     * go-yaml keeps the text for an untyped target.
     */
    if ((!plain && !typed) || (tag != NULL && !typed)) {
        r->kind = YAML_K_STR;
        return 0;
    }
    st_yaml_resolve_plain(s, n, r);
    if (r->kind == YAML_K_MERGE)
        r->kind = YAML_K_STR;
    if (typed) {
        bool ok =
            yaml_tag_is(tag, YAML_NULL_TAG)   ? r->kind == YAML_K_NULL
            : yaml_tag_is(tag, YAML_BOOL_TAG) ? r->kind == YAML_K_BOOL
            : yaml_tag_is(tag, YAML_INT_TAG)
                ? r->kind == YAML_K_INT && !r->from_float
                : (r->kind == YAML_K_INT || r->kind == YAML_K_REAL || r->kind == YAML_K_INF_NAN);
        if (!ok) {
            snprintf(msg, sizeof(msg), "cannot decode \"%.*s\" as %s", (int)ST_MIN(n, 64), s,
                     (const char *)tag);
            return yaml_fail(l, ST_EPARSE, &ev->start_mark, msg);
        }
    }
    return 0;
}

/* Turns a resolved scalar into a JSON value (new reference) or fails. */
static int
yaml_scalar_value(struct yaml_loader *l, const yaml_event_t *ev, const struct yaml_scalar *r,
                  json_t **out)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    char msg[64];

    switch (r->kind) {
    case YAML_K_NULL:
        *out = json_null();
        break;
    case YAML_K_BOOL:
        *out = json_boolean(r->b);
        break;
    case YAML_K_INT:
        *out = json_integer(r->i);
        break;
    case YAML_K_REAL:
        *out = json_real(r->d);
        break;
    case YAML_K_INF_NAN:
        snprintf(msg, sizeof(msg), "%.*s has no JSON representation", (int)ST_MIN(n, 16), s);
        return yaml_fail(l, ST_EPARSE, &ev->start_mark, msg);
    default:
        *out = json_stringn(s, n);
        if (*out == NULL)
            return yaml_fail(l, ST_EPARSE, &ev->start_mark, "string is not valid UTF-8");
        break;
    }
    return 0;
}

/*
 * Formats a float the way Go's strconv.FormatFloat(f, 'g', -1, 32) does,
 * which is how sigs.k8s.io/yaml turns float map keys into strings.
 */
static void
yaml_go_float32(double d, char *buf, size_t size)
{
    float f = (float)d;
    char tmp[48];
    int prec;

    if (isnan(f)) {
        st_strlcpy(buf, ".nan", size);
        return;
    }
    if (isinf(f)) {
        st_strlcpy(buf, f > 0 ? ".inf" : "-.inf", size);
        return;
    }
    for (prec = 1; prec < 9; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, (double)f);
        if (strtof(tmp, NULL) == f)
            break;
    }
    snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, (double)f);
    /* "%e" always writes an exponent: [+-]digits after the 'e'. */
    int exp = (int)strtol(strchr(tmp, 'e') + 1, NULL, 10);
    if (exp < -4 || exp >= 6)
        st_strlcpy(buf, tmp, size);
    else
        snprintf(buf, size, "%.*f", ST_MAX(0, prec - 1 - exp), (double)f);
}

/*
 * The string kubectl makes of a scalar used as a mapping key: sigs.k8s.io/yaml
 * formats resolved booleans and numbers back into text ("yes" -> "true",
 * "0x10" -> "16"). Returns a new string, or NULL for the keys kubectl refuses:
 * null and integers past int64.
 */
static char *
yaml_key_string(const struct yaml_scalar *r, const char *s, size_t n, size_t *len)
{
    char buf[48];

    switch (r->kind) {
    case YAML_K_NULL:
        return NULL;
    case YAML_K_BOOL:
        st_strlcpy(buf, r->b ? "true" : "false", sizeof(buf));
        break;
    case YAML_K_INT:
        if (r->from_float)
            yaml_go_float32(r->d, buf, sizeof(buf));
        else
            snprintf(buf, sizeof(buf), "%" PRId64, r->i);
        break;
    case YAML_K_REAL:
        if (r->from_uint)
            return NULL; /* kubectl: "unsupported map key of type: uint64" */
        yaml_go_float32(r->d, buf, sizeof(buf));
        break;
    case YAML_K_INF_NAN:
        yaml_go_float32(r->d, buf, sizeof(buf));
        break;
    default:
        *len = n;
        return st_xstrndup(s, n);
    }
    *len = strlen(buf);
    return st_xstrdup(buf);
}

static void
yaml_anchor_scalar(struct yaml_loader *l, const char *name, json_t *v, char *key, size_t key_len,
                   size_t n)
{
    long idx = yaml_anchor_add(l, name);

    l->anchors[idx].v = v;
    l->anchors[idx].text = key;
    l->anchors[idx].text_len = key_len;
    l->anchors[idx].nodes = 1;
    l->anchors[idx].bytes = n;
}

static int
yaml_on_scalar(struct yaml_loader *l, const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    const char *anchor = (const char *)ev->data.scalar.anchor;
    size_t n = ev->data.scalar.length;
    struct yaml_scalar r;
    json_t *v = NULL;
    char *key;
    size_t key_len = 0;
    int rc;

    if ((rc = yaml_charge(l, 1, n, &ev->start_mark)) < 0)
        return rc;
    if ((rc = yaml_scalar_resolve(l, ev, &r)) < 0)
        return rc;
    key = yaml_key_string(&r, s, n, &key_len);
    if (yaml_expecting_key(l)) {
        bool merge = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                     ev->data.scalar.tag == NULL && n == 2 && memcmp(s, "<<", 2) == 0;
        if (key == NULL) {
            char msg[128];
            snprintf(msg, sizeof(msg), "unsupported mapping key \"%.*s\"", (int)ST_MIN(n, 64), s);
            return yaml_fail(l, ST_EPARSE, &ev->start_mark, msg);
        }
        rc = yaml_take_key(l, key, key_len, merge, &ev->start_mark);
        if (rc == 0 && anchor != NULL) {
            /* A key's value form is used if the anchor is later aliased as a value. */
            if (yaml_scalar_value(l, ev, &r, &v) < 0)
                v = json_stringn(key, key_len);
            yaml_anchor_scalar(l, anchor, v, key, key_len, n);
            key = NULL;
        }
        free(key);
        return rc;
    }
    if ((rc = yaml_scalar_value(l, ev, &r, &v)) < 0) {
        free(key);
        return rc;
    }
    if (anchor != NULL)
        yaml_anchor_scalar(l, anchor, json_incref(v), key, key_len, n);
    else
        free(key);
    return yaml_attach(l, v, 0, &ev->start_mark);
}

static int
yaml_on_alias(struct yaml_loader *l, const yaml_event_t *ev)
{
    struct yaml_anchor *a = yaml_anchor_find(l, (const char *)ev->data.alias.anchor);
    char msg[160];
    int rc;

    if (a == NULL) {
        snprintf(msg, sizeof(msg), "unknown anchor \"%.64s\"", (const char *)ev->data.alias.anchor);
        return yaml_fail(l, ST_EPARSE, &ev->start_mark, msg);
    }
    if (a->v == NULL) {
        snprintf(msg, sizeof(msg), "alias \"%.64s\" refers to its own enclosing node",
                 (const char *)ev->data.alias.anchor);
        return yaml_fail(l, ST_EPARSE, &ev->start_mark, msg);
    }
    if ((rc = yaml_charge(l, a->nodes, a->bytes, &ev->start_mark)) < 0)
        return rc;
    if (yaml_expecting_key(l)) {
        if (a->text == NULL)
            return yaml_fail(l, ST_EPARSE, &ev->start_mark,
                             "alias used as a key must name a string, bool or number");
        return yaml_take_key(l, a->text, a->text_len, false, &ev->start_mark);
    }
    if (l->depth + a->height > l->lim.max_depth) {
        snprintf(msg, sizeof(msg), "nesting deeper than %zu levels", l->lim.max_depth);
        return yaml_fail(l, ST_ETOOBIG, &ev->start_mark, msg);
    }
    return yaml_attach(l, json_deep_copy(a->v), a->height, &ev->start_mark);
}

static int
yaml_on_start(struct yaml_loader *l, const yaml_event_t *ev, bool is_map)
{
    const yaml_char_t *anchor =
        is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
    char msg[96];
    int rc;

    if (yaml_expecting_key(l))
        return yaml_fail(l, ST_EPARSE, &ev->start_mark, "mapping keys must be scalars");
    if (l->depth >= l->lim.max_depth) {
        snprintf(msg, sizeof(msg), "nesting deeper than %zu levels", l->lim.max_depth);
        return yaml_fail(l, ST_ETOOBIG, &ev->start_mark, msg);
    }
    if ((rc = yaml_charge(l, 1, 0, &ev->start_mark)) < 0)
        return rc;
    if (l->depth == l->stack_cap) {
        l->stack_cap = l->stack_cap ? l->stack_cap * 2 : 16;
        l->stack = st_xrealloc(l->stack, l->stack_cap * sizeof(*l->stack));
    }
    struct yaml_frame *f = &l->stack[l->depth++];
    memset(f, 0, sizeof(*f));
    f->v = is_map ? json_object() : json_array();
    f->is_map = is_map;
    f->anchor = anchor ? yaml_anchor_add(l, (const char *)anchor) : -1;
    f->nodes0 = l->nodes - 1;
    f->bytes0 = l->bytes;
    f->height = 1;
    return 0;
}

static int
yaml_on_end(struct yaml_loader *l, const yaml_event_t *ev)
{
    struct yaml_frame f = l->stack[--l->depth];

    if (f.anchor >= 0) {
        struct yaml_anchor *a = &l->anchors[f.anchor];
        a->v = json_incref(f.v);
        a->nodes = l->nodes - f.nodes0;
        a->bytes = l->bytes - f.bytes0;
        a->height = f.height;
    }
    json_t *v = f.v;
    f.v = NULL;
    yaml_frame_free(&f);
    return yaml_attach(l, v, f.height, &ev->start_mark);
}

static void
yaml_report_parser_error(struct yaml_loader *l, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "malformed YAML";

    if (p->error == YAML_READER_ERROR) {
        st_err_set(l->err, ST_EPARSE, "byte %zu: %s", p->problem_offset, problem);
    } else if (p->error == YAML_MEMORY_ERROR) {
        st_oom();
    } else if (p->context != NULL) {
        st_err_set(l->err, ST_EPARSE, "line %zu, column %zu: %s %s", p->problem_mark.line + 1,
                   p->problem_mark.column + 1, p->context, problem);
    } else {
        st_err_set(l->err, ST_EPARSE, "line %zu, column %zu: %s", p->problem_mark.line + 1,
                   p->problem_mark.column + 1, problem);
    }
}

/* Runs the event loop over a YAML stream; documents go into <docs>. */
static int
yaml_run(struct yaml_loader *l, const char *p, size_t n, json_t *docs)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    bool done = false;
    int rc = 0;
    char msg[96];

    if (!yaml_parser_initialize(&parser))
        st_oom();
    yaml_parser_set_input_string(&parser, (const unsigned char *)p, n);
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            yaml_report_parser_error(l, &parser);
            rc = ST_EPARSE;
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++l->docs > l->lim.max_docs) {
                snprintf(msg, sizeof(msg), "more than %zu documents", l->lim.max_docs);
                rc = yaml_fail(l, ST_ETOOBIG, &ev.start_mark, msg);
            }
            break;
        case YAML_DOCUMENT_END_EVENT:
            /* kubectl skips documents that are empty or decode to null. */
            if (l->root != NULL && !json_is_null(l->root))
                json_array_append(docs, l->root);
            json_decref(l->root);
            l->root = NULL;
            yaml_anchors_reset(l);
            break;
        case YAML_SCALAR_EVENT:
            rc = yaml_on_scalar(l, &ev);
            break;
        case YAML_ALIAS_EVENT:
            rc = yaml_on_alias(l, &ev);
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            rc = yaml_on_start(l, &ev, ev.type == YAML_MAPPING_START_EVENT);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            rc = yaml_on_end(l, &ev);
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
        if (rc < 0)
            break;
    }
    yaml_parser_delete(&parser);
    return rc;
}

/* Replaces every integral real in <v> by an integer, as kubectl's re-encoding does. */
static void
yaml_normalize_numbers(json_t *v)
{
    size_t i;
    const char *k;
    json_t *x;

    if (json_is_object(v)) {
        json_object_foreach(v, k, x)
        {
            if (json_is_real(x)) {
                double d = json_real_value(x);
                if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0)
                    json_object_set_new(v, k, json_integer((json_int_t)d));
            } else {
                yaml_normalize_numbers(x);
            }
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x)
        {
            if (json_is_real(x)) {
                double d = json_real_value(x);
                if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0)
                    json_array_set_new(v, i, json_integer((json_int_t)d));
            } else {
                yaml_normalize_numbers(x);
            }
        }
    }
}

/*
 * Reads a stream of concatenated JSON values, kubectl's path for input that
 * starts with '{'. Null values are skipped like empty YAML documents.
 */
static int
yaml_run_json(struct yaml_loader *l, const char *p, size_t n, json_t *docs)
{
    size_t off = 0, line = 0;
    json_error_t jerr;
    int rc;

    /* One pass checks nesting for the whole stream. */
    if ((rc = st_json_check_depth(p, n, l->lim.max_depth, l->err)) < 0)
        return rc;
    while (off < n) {
        while (off < n && strchr(" \t\r\n", p[off]) != NULL) {
            if (p[off] == '\n')
                line++;
            off++;
        }
        if (off >= n)
            break;
        if (++l->docs > l->lim.max_docs)
            return st_err_set(l->err, ST_ETOOBIG, "more than %zu documents", l->lim.max_docs);
        json_t *v = json_loadb(p + off, n - off, JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, &jerr);
        if (v == NULL)
            return st_err_set(l->err, ST_EPARSE, "line %zu, column %d: %s",
                              line + (size_t)jerr.line, jerr.column, jerr.text);
        for (size_t i = off; i < off + (size_t)jerr.position && i < n; i++)
            if (p[i] == '\n')
                line++;
        off += (size_t)jerr.position;
        if (jerr.position <= 0) {
            json_decref(v);
            return st_err_set(l->err, ST_EPARSE, "line %zu: JSON stream does not advance",
                              line + 1);
        }
        /* Normalizing through a wrapper also covers a bare number as the document. */
        json_t *wrap = json_pack("[o]", v);
        yaml_normalize_numbers(wrap);
        v = json_incref(json_array_get(wrap, 0));
        json_decref(wrap);
        if (!json_is_null(v))
            json_array_append(docs, v);
        json_decref(v);
    }
    return 0;
}

static bool
yaml_looks_like_json(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strchr(" \t\r\n", p[i]) == NULL || p[i] == '\0')
            return p[i] == '{';
    }
    return false;
}

/* The shared body of the loaders: kubectl's JSON-stream path or the YAML events. */
static json_t *
yaml_load_stream(const char *p, size_t n, const struct st_yaml_limits *lim, struct st_err *err)
{
    struct yaml_loader l;
    json_t *docs = json_array();
    int rc;

    memset(&l, 0, sizeof(l));
    yaml_limits_fill(&l.lim, lim);
    l.err = err;
    if (p == NULL) {
        p = "";
        n = 0;
    }
    if (n > l.lim.max_bytes) {
        rc = st_err_set(err, ST_ETOOBIG, "YAML input of %zu bytes exceeds the cap of %zu", n,
                        l.lim.max_bytes);
        goto out;
    }
    if (yaml_looks_like_json(p, n)) {
        rc = yaml_run_json(&l, p, n, docs);
        goto out;
    }
    l.anchor_names = json_object();
    rc = yaml_run(&l, p, n, docs);
out:
    while (l.depth > 0)
        yaml_frame_free(&l.stack[--l.depth]);
    free(l.stack);
    if (l.anchor_names != NULL)
        yaml_anchors_reset(&l);
    free(l.anchors);
    json_decref(l.anchor_names);
    json_decref(l.root);
    if (rc < 0) {
        json_decref(docs);
        return NULL;
    }
    st_err_clear(err);
    return docs;
}

json_t *
st_yaml_load_all(const char *p, size_t n, const struct st_yaml_limits *lim, struct st_err *err)
{
    return yaml_load_stream(p, n, lim, err);
}

json_t *
st_yaml_load(const char *p, size_t n, const struct st_yaml_limits *lim, struct st_err *err)
{
    json_t *docs = yaml_load_stream(p, n, lim, err);
    json_t *v = NULL;

    if (docs == NULL)
        return NULL;
    if (json_array_size(docs) > 1)
        st_err_set(err, ST_EPARSE, "expected one YAML document, found %zu", json_array_size(docs));
    else
        v = json_array_size(docs) == 1 ? json_incref(json_array_get(docs, 0)) : json_null();
    json_decref(docs);
    return v;
}

static bool
yaml_is_list(const json_t *v)
{
    const char *kind = json_string_value(json_object_get(v, "kind"));

    return kind != NULL && st_str_has_suffix(kind, "List") &&
           json_is_array(json_object_get(v, "items"));
}

/* Appends <v> (borrowed) or, for a list, its flattened items to <out>. */
static int
yaml_flatten(json_t *v, json_t *out, size_t doc, size_t depth, struct st_err *err)
{
    size_t i;
    json_t *item;

    if (!json_is_object(v))
        return st_err_set(err, ST_EINVAL, "document %zu: expected an object, found %s", doc + 1,
                          json_is_array(v) ? "an array" : "a scalar");
    if (!yaml_is_list(v))
        return json_array_append(out, v) == 0 ? 0 : ST_EINVAL;
    if (depth > YAML_DEFAULT_MAX_DEPTH)
        return st_err_set(err, ST_ETOOBIG, "document %zu: lists nested too deeply", doc + 1);
    json_array_foreach(json_object_get(v, "items"), i, item)
    {
        int rc = yaml_flatten(item, out, doc, depth + 1, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

json_t *
st_yaml_load_objects(const char *p, size_t n, const struct st_yaml_limits *lim, struct st_err *err)
{
    json_t *docs = yaml_load_stream(p, n, lim, err);
    json_t *out, *v;
    size_t i;

    if (docs == NULL)
        return NULL;
    out = json_array();
    json_array_foreach(docs, i, v)
    {
        if (yaml_flatten(v, out, i, 0, err) < 0) {
            json_decref(out);
            out = NULL;
            break;
        }
    }
    json_decref(docs);
    return out;
}
