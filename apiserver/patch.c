/*
 * The patch engine: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and
 * Kubernetes' strategic merge patch.
 *
 * Every patch is applied to a private deep copy of the original, so a patch
 * that fails half-way changes nothing (JSON patch is atomic) and the result
 * never shares storage with the caller's objects. The patch is peer input:
 * every size it controls is capped (operations, pointer length, depth, list
 * length, and the amount of copying a JSON patch may cause).
 */
#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <strings.h>

#include "patch.h"

/* Returned by patch_smp_map when a map asked for its own deletion. */
#define SMP_DELETED 1

static const char smp_order_prefix[] = "$setElementOrder/";
static const char smp_delete_prefix[] = "$deleteFromPrimitiveList/";

struct patch_ctx {
    struct st_err *err;
    uint64_t work; /* values visited by JSON patch copies, measures and tests */
};

/* ---- content types ------------------------------------------------------- */

int
patch_type_from_content_type(const char *content_type, enum patch_type *out)
{
    static const struct {
        const char *name;
        enum patch_type type;
    } types[] = {
        {"application/json-patch+json", PATCH_JSON},
        {"application/merge-patch+json", PATCH_MERGE},
        {"application/strategic-merge-patch+json", PATCH_STRATEGIC},
    };

    if (!content_type)
        return ST_EINVAL;
    struct st_str s = st_str_c(content_type);
    const char *semi = memchr(s.p, ';', s.n);
    if (semi)
        s.n = (size_t)(semi - s.p);
    s = st_str_trim(s);
    for (size_t i = 0; i < ST_ARRAY_LEN(types); i++) {
        if (st_str_casecmp_eq(s, st_str_c(types[i].name))) {
            *out = types[i].type;
            return 0;
        }
    }
    return ST_EINVAL;
}

/* ---- shared helpers ------------------------------------------------------ */

static bool
patch_is_container(const json_t *v)
{
    return json_is_object(v) || json_is_array(v);
}

/*
 * Charges <n> units of work to a JSON patch; ST_ETOOBIG once the budget is
 * spent, so that copies and comparisons cannot grow without bound.
 */
static int
patch_charge(struct patch_ctx *c, uint64_t n)
{
    c->work += n;
    if (c->work > PATCH_MAX_WORK)
        return st_err_set(c->err, ST_ETOOBIG, "patch: the patch copies or compares too much data");
    return 0;
}

/*
 * Deep equality with JSON's number semantics (1 equals 1.0), as RFC 6902
 * "test" requires. Returns 1 (equal), 0 (different) or a negative error when
 * the work budget runs out. <c> may be NULL for small, bounded comparisons.
 */
static int
patch_equal(const json_t *a, const json_t *b, struct patch_ctx *c, int depth)
{
    int rc;

    if (c && (rc = patch_charge(c, 1)) < 0)
        return rc;
    if (depth > PATCH_MAX_DEPTH * 2)
        return st_err_set(c ? c->err : NULL, ST_ETOOBIG, "patch: values nest too deeply");
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        return json_number_value(a) == json_number_value(b);
    }
    if (json_typeof(a) != json_typeof(b))
        return 0;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b))
            return 0;
        for (size_t i = 0; i < json_array_size(a); i++) {
            rc = patch_equal(json_array_get(a, i), json_array_get(b, i), c, depth + 1);
            if (rc <= 0)
                return rc;
        }
        return 1;
    case JSON_OBJECT: {
        const char *key;
        size_t klen;
        json_t *va;

        if (json_object_size(a) != json_object_size(b))
            return 0;
        json_object_keylen_foreach((json_t *)a, key, klen, va)
        {
            const json_t *vb = json_object_getn(b, key, klen);
            if (!vb)
                return 0;
            rc = patch_equal(va, vb, c, depth + 1);
            if (rc <= 0)
                return rc;
        }
        return 1;
    }
    default: /* true, false, null */
        return 1;
    }
}

/*
 * Measures the nesting depth of <v> (a scalar is 0) and charges every value
 * visited to <c>'s work budget.
 */
static int
patch_measure(const json_t *v, struct patch_ctx *c, int level, int *depth)
{
    int rc = patch_charge(c, 1);

    if (rc < 0)
        return rc;
    if (level > *depth)
        *depth = level;
    if (level > PATCH_MAX_DEPTH)
        return st_err_set(c->err, ST_ETOOBIG, "patch: a value nests deeper than %d levels",
                          PATCH_MAX_DEPTH);
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            if ((rc = patch_measure(json_array_get(v, i), c, level + 1, depth)) < 0)
                return rc;
        }
    } else if (json_is_object(v)) {
        const char *key;
        json_t *child;
        json_object_foreach((json_t *)v, key, child)
        {
            if ((rc = patch_measure(child, c, level + 1, depth)) < 0)
                return rc;
        }
    }
    return 0;
}

/* ---- JSON patch (RFC 6902) ----------------------------------------------- */

/* A decoded RFC 6901 reference token. */
struct jp_token {
    char *s;
    size_t n;
};

struct jp_pointer {
    struct jp_token *tok;
    size_t n;
};

static void
jp_pointer_clear(struct jp_pointer *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->tok[i].s);
    free(p->tok);
    p->tok = NULL;
    p->n = 0;
}

/*
 * Parses the string member <name> of <op> as a JSON pointer into <p>.
 * ST_EPARSE when it is missing or malformed, ST_ETOOBIG past the cap.
 */
static int
jp_pointer_parse(const json_t *op, const char *name, struct jp_pointer *p, struct patch_ctx *c)
{
    const json_t *v = json_object_get(op, name);

    p->tok = NULL;
    p->n = 0;
    if (!json_is_string(v))
        return st_err_set(c->err, ST_EPARSE, "json patch: \"%s\" must be a string", name);
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len > PATCH_MAX_POINTER)
        return st_err_set(c->err, ST_ETOOBIG, "json patch: pointer longer than %d bytes",
                          PATCH_MAX_POINTER);
    if (len == 0)
        return 0;
    if (s[0] != '/')
        return st_err_set(c->err, ST_EPARSE, "json patch: pointer \"%s\" does not start with /", s);

    size_t slashes = 0;
    for (size_t i = 0; i < len; i++)
        slashes += s[i] == '/';
    p->tok = st_xcalloc(slashes, sizeof(*p->tok));

    size_t i = 1;
    for (;;) {
        size_t end = i;
        while (end < len && s[end] != '/')
            end++;
        struct jp_token *t = &p->tok[p->n++];
        t->s = st_xmalloc(end - i + 1);
        t->n = 0;
        for (size_t j = i; j < end; j++) {
            if (s[j] != '~') {
                t->s[t->n++] = s[j];
                continue;
            }
            if (j + 1 < end && (s[j + 1] == '0' || s[j + 1] == '1')) {
                t->s[t->n++] = s[j + 1] == '0' ? '~' : '/';
                j++;
                continue;
            }
            jp_pointer_clear(p);
            return st_err_set(c->err, ST_EPARSE, "json patch: bad ~ escape in pointer");
        }
        t->s[t->n] = '\0';
        if (end >= len)
            break;
        i = end + 1;
    }
    return 0;
}

/*
 * Parses an array index token against an array of <size> elements: decimal
 * digits without leading zeros, or "-" (one past the end) when <allow_end>.
 * The index must be below <size>, or equal to it when <allow_end>.
 */
static int
jp_index(const struct jp_token *t, size_t size, bool allow_end, size_t *out, struct patch_ctx *c)
{
    if (t->n == 1 && t->s[0] == '-') {
        if (!allow_end)
            return st_err_set(c->err, ST_EINVAL, "json patch: \"-\" names no array element");
        *out = size;
        return 0;
    }
    bool digits = t->n > 0 && t->n <= 19 && !(t->n > 1 && t->s[0] == '0');
    for (size_t i = 0; digits && i < t->n; i++)
        digits = isdigit((unsigned char)t->s[i]) != 0;
    if (!digits)
        return st_err_set(c->err, ST_EINVAL, "json patch: \"%s\" is not an array index", t->s);
    uint64_t v = strtoull(t->s, NULL, 10);
    if (v > size || (v == size && !allow_end))
        return st_err_set(c->err, ST_EINVAL, "json patch: index %s is out of range", t->s);
    *out = (size_t)v;
    return 0;
}

/* Returns the value at <p> in <doc> (borrowed) or NULL with <err> set. */
static json_t *
jp_resolve(json_t *doc, const struct jp_pointer *p, size_t ntok, struct patch_ctx *c)
{
    json_t *cur = doc;

    for (size_t i = 0; i < ntok; i++) {
        const struct jp_token *t = &p->tok[i];
        if (json_is_object(cur)) {
            cur = json_object_getn(cur, t->s, t->n);
            if (!cur) {
                st_err_set(c->err, ST_EINVAL, "json patch: no member \"%s\"", t->s);
                return NULL;
            }
        } else if (json_is_array(cur)) {
            size_t idx;
            if (jp_index(t, json_array_size(cur), false, &idx, c) < 0)
                return NULL;
            cur = json_array_get(cur, idx);
        } else {
            st_err_set(c->err, ST_EINVAL, "json patch: \"%s\" is inside a scalar", t->s);
            return NULL;
        }
    }
    return cur;
}

/*
 * Adds <value> (takes ownership) at <p>. With <replace>, the target must
 * already exist and is overwritten (RFC 6902 "replace"); otherwise arrays
 * get an insertion and objects a new or overwritten member ("add").
 */
static int
jp_put(json_t **doc, const struct jp_pointer *p, json_t *value, bool replace, struct patch_ctx *c)
{
    int rc = 0;

    if (p->n == 0) {
        json_decref(*doc);
        *doc = value;
        return 0;
    }
    json_t *parent = jp_resolve(*doc, p, p->n - 1, c);
    const struct jp_token *last = &p->tok[p->n - 1];
    if (!parent) {
        rc = ST_EINVAL;
        goto fail;
    }
    if (json_is_object(parent)) {
        if (replace && !json_object_getn(parent, last->s, last->n)) {
            rc = st_err_set(c->err, ST_EINVAL, "json patch: no member \"%s\" to replace", last->s);
            goto fail;
        }
        json_object_setn_new(parent, last->s, last->n, value);
        return 0;
    }
    if (json_is_array(parent)) {
        size_t idx;
        if ((rc = jp_index(last, json_array_size(parent), !replace, &idx, c)) < 0)
            goto fail;
        if (replace)
            json_array_set_new(parent, idx, value);
        else
            json_array_insert_new(parent, idx, value);
        return 0;
    }
    rc = st_err_set(c->err, ST_EINVAL, "json patch: the parent of \"%s\" is a scalar", last->s);
fail:
    json_decref(value);
    return rc;
}

/* Removes the value at <p>; hands it to *removed (new reference) if asked. */
static int
jp_remove(json_t *doc, const struct jp_pointer *p, json_t **removed, struct patch_ctx *c)
{
    if (p->n == 0)
        return st_err_set(c->err, ST_EINVAL, "json patch: cannot remove the whole document");
    json_t *parent = jp_resolve(doc, p, p->n - 1, c);
    const struct jp_token *last = &p->tok[p->n - 1];
    json_t *victim = NULL;
    size_t idx = 0;

    if (!parent)
        return ST_EINVAL;
    if (json_is_object(parent)) {
        victim = json_object_getn(parent, last->s, last->n);
        if (!victim)
            return st_err_set(c->err, ST_EINVAL, "json patch: no member \"%s\" to remove", last->s);
    } else if (json_is_array(parent)) {
        int rc = jp_index(last, json_array_size(parent), false, &idx, c);
        if (rc < 0)
            return rc;
        victim = json_array_get(parent, idx);
    } else {
        return st_err_set(c->err, ST_EINVAL, "json patch: the parent of \"%s\" is a scalar",
                          last->s);
    }
    if (removed)
        *removed = json_incref(victim);
    if (json_is_object(parent))
        json_object_deln(parent, last->s, last->n);
    else
        json_array_remove(parent, idx);
    return 0;
}

/* True when <a> is a proper prefix of <b>, token by token. */
static bool
jp_is_proper_prefix(const struct jp_pointer *a, const struct jp_pointer *b)
{
    if (a->n >= b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        if (a->tok[i].n != b->tok[i].n || memcmp(a->tok[i].s, b->tok[i].s, a->tok[i].n) != 0)
            return false;
    }
    return true;
}

/* Checks that <value> put at depth <p>->n stays within the depth cap. */
static int
jp_check_depth(const json_t *value, const struct jp_pointer *p, struct patch_ctx *c)
{
    int depth = 0;
    int rc = patch_measure(value, c, 0, &depth);

    if (rc < 0)
        return rc;
    if (p->n + (size_t)depth > PATCH_MAX_DEPTH)
        return st_err_set(c->err, ST_ETOOBIG, "json patch: the result nests deeper than %d",
                          PATCH_MAX_DEPTH);
    return 0;
}

/* Applies one operation <op> to *doc. */
static int
jp_apply_op(json_t **doc, const json_t *op, size_t i, struct patch_ctx *c)
{
    struct jp_pointer path = {0}, from = {0};
    const json_t *value;
    json_t *moved = NULL;
    int rc;

    if (!json_is_object(op))
        return st_err_set(c->err, ST_EPARSE, "json patch: operation %zu is not an object", i);
    const char *name = json_string_value(json_object_get(op, "op"));
    if (!name)
        return st_err_set(c->err, ST_EPARSE, "json patch: operation %zu has no \"op\"", i);
    if ((rc = jp_pointer_parse(op, "path", &path, c)) < 0)
        return rc;
    value = json_object_get(op, "value");

    if (strcmp(name, "add") == 0 || strcmp(name, "replace") == 0) {
        if (!value) {
            rc = st_err_set(c->err, ST_EPARSE, "json patch: %s needs a \"value\"", name);
            goto out;
        }
        if ((rc = jp_check_depth(value, &path, c)) < 0)
            goto out;
        rc = jp_put(doc, &path, json_deep_copy(value), name[0] == 'r', c);
    } else if (strcmp(name, "remove") == 0) {
        rc = jp_remove(*doc, &path, NULL, c);
    } else if (strcmp(name, "move") == 0 || strcmp(name, "copy") == 0) {
        if ((rc = jp_pointer_parse(op, "from", &from, c)) < 0)
            goto out;
        json_t *src = jp_resolve(*doc, &from, from.n, c);
        if (!src) {
            rc = ST_EINVAL;
            goto out;
        }
        if ((rc = jp_check_depth(src, &path, c)) < 0)
            goto out;
        if (name[0] == 'c') {
            rc = jp_put(doc, &path, json_deep_copy(src), false, c);
            goto out;
        }
        if (jp_is_proper_prefix(&from, &path)) {
            rc = st_err_set(c->err, ST_EINVAL, "json patch: cannot move a value into itself");
            goto out;
        }
        if ((rc = jp_remove(*doc, &from, &moved, c)) < 0)
            goto out;
        rc = jp_put(doc, &path, moved, false, c);
    } else if (strcmp(name, "test") == 0) {
        if (!value) {
            rc = st_err_set(c->err, ST_EPARSE, "json patch: test needs a \"value\"");
            goto out;
        }
        json_t *cur = jp_resolve(*doc, &path, path.n, c);
        if (!cur) {
            rc = ST_EINVAL;
            goto out;
        }
        rc = patch_equal(cur, value, c, 0);
        if (rc == 0)
            rc = st_err_set(c->err, ST_EINVAL, "json patch: test of \"%s\" failed",
                            json_string_value(json_object_get(op, "path")));
        else if (rc > 0)
            rc = 0;
    } else {
        rc = st_err_set(c->err, ST_EPARSE, "json patch: unknown op \"%s\"", name);
    }
out:
    jp_pointer_clear(&path);
    jp_pointer_clear(&from);
    return rc;
}

static int
jp_apply(const json_t *orig, const json_t *patch, json_t **out, struct patch_ctx *c)
{
    json_t *doc;
    int rc = 0;

    if (!json_is_array(patch))
        return st_err_set(c->err, ST_EPARSE, "json patch: the patch must be an array");
    if (json_array_size(patch) > PATCH_MAX_OPS)
        return st_err_set(c->err, ST_ETOOBIG, "json patch: more than %d operations", PATCH_MAX_OPS);
    doc = json_deep_copy(orig);
    for (size_t i = 0; i < json_array_size(patch); i++) {
        if ((rc = jp_apply_op(&doc, json_array_get(patch, i), i, c)) < 0)
            goto fail;
    }
    *out = doc;
    return 0;
fail:
    json_decref(doc);
    return rc;
}

/* ---- JSON merge patch (RFC 7386) ----------------------------------------- */

/* Merges <patch> into *target (owned, may be NULL), replacing it as needed. */
static int
mp_merge(json_t **target, const json_t *patch, int depth, struct patch_ctx *c)
{
    const char *key;
    size_t klen;
    json_t *pv;
    int rc;

    if (depth > PATCH_MAX_DEPTH)
        return st_err_set(c->err, ST_ETOOBIG, "merge patch: nests deeper than %d levels",
                          PATCH_MAX_DEPTH);
    if (!json_is_object(patch)) {
        json_decref(*target);
        *target = json_deep_copy(patch);
        return 0;
    }
    if (!json_is_object(*target)) {
        json_decref(*target);
        *target = json_object();
    }
    json_object_keylen_foreach((json_t *)patch, key, klen, pv)
    {
        if (json_is_null(pv)) {
            json_object_deln(*target, key, klen);
            continue;
        }
        json_t *child = json_incref(json_object_getn(*target, key, klen));
        if ((rc = mp_merge(&child, pv, depth + 1, c)) < 0) {
            json_decref(child);
            return rc;
        }
        json_object_setn_new(*target, key, klen, child);
    }
    return 0;
}

/* ---- strategic merge patch ----------------------------------------------- */

static int smp_map(json_t *dst, const json_t *patch, const struct patch_field *fields, bool root,
                   int depth, struct patch_ctx *c);

static bool
smp_has_prefix(const char *key, size_t klen, const char *prefix, size_t plen)
{
    return klen >= plen && memcmp(key, prefix, plen) == 0;
}

/* Returns the merge key's value in element <e> (borrowed) or NULL. */
static const json_t *
smp_key_of(const json_t *e, const char *merge_key)
{
    return json_is_object(e) ? json_object_get(e, merge_key) : NULL;
}

/*
 * True when <a> and <b> are the same list element: by merge key for lists
 * of maps, by value for lists of primitives.
 */
static bool
smp_same(const json_t *a, const json_t *b, const char *merge_key)
{
    if (merge_key) {
        const json_t *ka = smp_key_of(a, merge_key), *kb = smp_key_of(b, merge_key);
        return ka && kb && patch_equal(ka, kb, NULL, 0) == 1;
    }
    return !patch_is_container(a) && !patch_is_container(b) && patch_equal(a, b, NULL, 0) == 1;
}

/* Index of the first element of <list> that is the same as <e>, or -1. */
static long
smp_index(const json_t *list, const json_t *e, const char *merge_key)
{
    for (size_t i = 0; list && i < json_array_size(list); i++) {
        if (smp_same(json_array_get(list, i), e, merge_key))
            return (long)i;
    }
    return -1;
}

/* A new value built from patch value <pv> merged into nothing. */
static int smp_fresh(const json_t *pv, const struct patch_field *field, int depth, json_t **out,
                     struct patch_ctx *c);

struct smp_slot {
    size_t pos;  /* position in the merged list */
    long order;  /* index in the order list */
    long server; /* index in the live list */
};

static int
smp_cmp_order(const void *a, const void *b)
{
    const struct smp_slot *x = a, *y = b;
    if (x->order != y->order)
        return x->order < y->order ? -1 : 1;
    return x->pos < y->pos ? -1 : (x->pos > y->pos);
}

static int
smp_cmp_server(const void *a, const void *b)
{
    const struct smp_slot *x = a, *y = b;
    /* Elements the live list does not know go last, in merged order. */
    unsigned long xs = x->server < 0 ? ULONG_MAX : (unsigned long)x->server;
    unsigned long ys = y->server < 0 ? ULONG_MAX : (unsigned long)y->server;
    if (xs != ys)
        return xs < ys ? -1 : 1;
    return x->pos < y->pos ? -1 : (x->pos > y->pos);
}

/*
 * Orders a merged list as Kubernetes does: the elements named by <order>
 * (the $setElementOrder list, or else the patch list) come in that order,
 * the other elements keep their live order, and the two runs are
 * interleaved by their positions in the live list <server>, the patch's
 * elements winning when a position is unknown. Returns a new array.
 */
static json_t *
smp_order(const json_t *merged, const json_t *order, const json_t *server, const char *merge_key)
{
    size_t n = json_array_size(merged), np = 0, ns = 0;
    struct smp_slot *p = st_xcalloc(n ? n : 1, sizeof(*p));
    struct smp_slot *s = st_xcalloc(n ? n : 1, sizeof(*s));
    json_t *out = json_array();

    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(merged, i);
        struct smp_slot slot = {i, smp_index(order, e, merge_key), smp_index(server, e, merge_key)};
        if (slot.order >= 0)
            p[np++] = slot;
        else
            s[ns++] = slot;
    }
    qsort(p, np, sizeof(*p), smp_cmp_order);
    qsort(s, ns, sizeof(*s), smp_cmp_server);
    for (size_t i = 0, j = 0; i < ns || j < np;) {
        const struct smp_slot *take;
        if (j >= np)
            take = &s[i++];
        else if (i >= ns)
            take = &p[j++];
        else if (s[i].server >= 0 && p[j].server >= 0 && s[i].server < p[j].server)
            take = &s[i++];
        else
            take = &p[j++];
        json_array_append(out, json_array_get(merged, take->pos));
    }
    free(p);
    free(s);
    return out;
}

/* Checks a $setElementOrder list against the list's kind. */
static int
smp_check_order(const json_t *order, const char *merge_key, struct patch_ctx *c)
{
    if (!json_is_array(order))
        return st_err_set(c->err, ST_EPARSE,
                          "strategic merge patch: $setElementOrder must "
                          "be a list");
    if (json_array_size(order) > PATCH_MAX_LIST)
        return st_err_set(c->err, ST_ETOOBIG, "strategic merge patch: list longer than %d",
                          PATCH_MAX_LIST);
    for (size_t i = 0; i < json_array_size(order); i++) {
        const json_t *e = json_array_get(order, i);
        if (merge_key ? !smp_key_of(e, merge_key) : patch_is_container(e))
            return st_err_set(c->err, ST_EPARSE,
                              "strategic merge patch: $setElementOrder "
                              "entry %zu lacks the merge key",
                              i);
    }
    return 0;
}

/*
 * Merges patch list <pl> into live list <live> (borrowed, may be NULL) for a
 * field with strategy merge; <order> is the field's $setElementOrder list or
 * NULL. Returns the new list in *out.
 */
static int
smp_list(const json_t *live, const json_t *pl, const struct patch_field *field, const json_t *order,
         int depth, json_t **out, struct patch_ctx *c)
{
    const char *mk = field->merge_key;
    json_t *merged = json_array(), *plain = json_array();
    bool replace = false;
    int rc = 0;

    if (json_array_size(pl) > PATCH_MAX_LIST || json_array_size(live) > PATCH_MAX_LIVE_LIST) {
        rc = st_err_set(c->err, ST_ETOOBIG, "strategic merge patch: list \"%s\" is too long",
                        field->name);
        goto fail;
    }
    if (order && (rc = smp_check_order(order, mk, c)) < 0)
        goto fail;

    /* First the special elements: deletions and a whole-list replace. */
    for (size_t i = 0; i < json_array_size(pl); i++) {
        const json_t *e = json_array_get(pl, i);
        if (mk ? !json_is_object(e) : patch_is_container(e)) {
            rc = st_err_set(c->err, ST_EPARSE,
                            "strategic merge patch: element %zu of \"%s\" "
                            "has the wrong type",
                            i, field->name);
            goto fail;
        }
        const json_t *d = mk ? json_object_get(e, "$patch") : NULL;
        if (!d) {
            json_array_append(plain, (json_t *)e);
            continue;
        }
        const char *dv = json_string_value(d);
        if (dv && strcmp(dv, "replace") == 0) {
            replace = true;
        } else if (dv && strcmp(dv, "delete") == 0) {
            if (!smp_key_of(e, mk)) {
                rc = st_err_set(c->err, ST_EPARSE,
                                "strategic merge patch: a deletion in "
                                "\"%s\" lacks the merge key \"%s\"",
                                field->name, mk);
                goto fail;
            }
        } else {
            rc = st_err_set(c->err, ST_EPARSE,
                            "strategic merge patch: bad $patch in list "
                            "\"%s\"",
                            field->name);
            goto fail;
        }
    }
    if (!replace) {
        for (size_t i = 0; i < json_array_size(live); i++) {
            json_t *e = json_array_get(live, i);
            bool deleted = false;
            for (size_t j = 0; mk && !deleted && j < json_array_size(pl); j++) {
                const json_t *pe = json_array_get(pl, j);
                const char *dv = json_string_value(json_object_get(pe, "$patch"));
                deleted = dv && strcmp(dv, "delete") == 0 && smp_same(e, pe, mk);
            }
            /* Lists of primitives are sets: duplicates collapse. */
            if (!deleted && (mk || smp_index(merged, e, NULL) < 0))
                json_array_append(merged, e);
        }
    }

    /* Then the ordinary elements: merge into a match or append. */
    for (size_t i = 0; i < json_array_size(plain); i++) {
        const json_t *pe = json_array_get(plain, i);
        if (!mk) {
            if (smp_index(merged, pe, NULL) < 0)
                json_array_append_new(merged, json_deep_copy(pe));
            continue;
        }
        if (!smp_key_of(pe, mk)) {
            rc = st_err_set(c->err, ST_EPARSE,
                            "strategic merge patch: an element of \"%s\" "
                            "lacks the merge key \"%s\"",
                            field->name, mk);
            goto fail;
        }
        long at = smp_index(merged, pe, mk);
        if (at >= 0) {
            /* Merge into a private copy: the live element may be shared. */
            json_t *copy = json_deep_copy(json_array_get(merged, (size_t)at));
            rc = smp_map(copy, pe, field->fields, false, depth + 1, c);
            if (rc < 0) {
                json_decref(copy);
                goto fail;
            }
            json_array_set_new(merged, (size_t)at, copy);
        } else {
            json_t *fresh = NULL;
            struct patch_field elem = {field->name, 0, NULL, field->fields};
            if ((rc = smp_fresh(pe, &elem, depth + 1, &fresh, c)) < 0)
                goto fail;
            json_array_append_new(merged, fresh);
        }
    }
    *out = smp_order(merged, order ? order : plain, replace ? NULL : live, mk);
    json_decref(merged);
    json_decref(plain);
    return 0;
fail:
    json_decref(merged);
    json_decref(plain);
    return rc;
}

static int
smp_fresh(const json_t *pv, const struct patch_field *field, int depth, json_t **out,
          struct patch_ctx *c)
{
    int rc;

    *out = NULL;
    if (json_is_object(pv)) {
        json_t *m = json_object();
        rc = smp_map(m, pv, field ? field->fields : NULL, false, depth, c);
        if (rc < 0 || rc == SMP_DELETED) {
            json_decref(m);
            return rc;
        }
        *out = m;
        return 0;
    }
    if (json_is_array(pv) && field && (field->flags & PATCH_F_MERGE))
        return smp_list(NULL, pv, field, NULL, depth, out, c);
    *out = json_deep_copy(pv);
    return 0;
}

/* Applies patch value <pv> to member <key> of <dst>. */
static int
smp_member(json_t *dst, const char *key, size_t klen, const json_t *pv,
           const struct patch_field *field, const json_t *order, int depth, struct patch_ctx *c)
{
    json_t *cur = json_object_getn(dst, key, klen);
    json_t *val = NULL;
    int rc;

    if (json_is_null(pv)) {
        json_object_deln(dst, key, klen);
        return 0;
    }
    if (json_is_object(pv) && json_is_object(cur) && !(field && (field->flags & PATCH_F_REPLACE))) {
        rc = smp_map(cur, pv, field ? field->fields : NULL, false, depth, c);
        if (rc == SMP_DELETED)
            json_object_deln(dst, key, klen);
        return rc < 0 ? rc : 0;
    }
    if (json_is_array(pv) && field && (field->flags & PATCH_F_MERGE))
        rc = smp_list(json_is_array(cur) ? cur : NULL, pv, field, order, depth, &val, c);
    else
        rc = smp_fresh(pv, field, depth, &val, c);
    if (rc < 0)
        return rc;
    if (val)
        json_object_setn_new(dst, key, klen, val);
    else
        json_object_deln(dst, key, klen); /* a map that deleted itself */
    return 0;
}

/* Applies $retainKeys: drops members of <dst> the list does not name. */
static int
smp_retain_keys(json_t *dst, const json_t *patch, const json_t *keep, struct patch_ctx *c)
{
    const char *key;
    size_t klen;
    json_t *v;
    void *tmp;

    if (!json_is_array(keep))
        return st_err_set(c->err, ST_EPARSE,
                          "strategic merge patch: $retainKeys must be a "
                          "list");
    for (size_t i = 0; i < json_array_size(keep); i++) {
        if (!json_is_string(json_array_get(keep, i)))
            return st_err_set(c->err, ST_EPARSE,
                              "strategic merge patch: $retainKeys entries "
                              "must be strings");
    }
    /* Every key the patch sets must be retained, or the patch contradicts itself. */
    json_object_keylen_foreach((json_t *)patch, key, klen, v)
    {
        if (klen > 0 && key[0] == '$')
            continue;
        if (json_is_null(v))
            continue;
        bool found = false;
        for (size_t i = 0; !found && i < json_array_size(keep); i++) {
            const json_t *k = json_array_get(keep, i);
            found = json_string_length(k) == klen && memcmp(json_string_value(k), key, klen) == 0;
        }
        if (!found)
            return st_err_set(c->err, ST_EPARSE,
                              "strategic merge patch: \"%s\" is set but not "
                              "in $retainKeys",
                              key);
    }
    json_object_keylen_foreach_safe(dst, tmp, key, klen, v)
    {
        bool found = false;
        for (size_t i = 0; !found && i < json_array_size(keep); i++) {
            const json_t *k = json_array_get(keep, i);
            found = json_string_length(k) == klen && memcmp(json_string_value(k), key, klen) == 0;
        }
        if (!found)
            json_object_deln(dst, key, klen);
    }
    return 0;
}

/* Applies $deleteFromPrimitiveList/<field>: removes the listed values. */
static int
smp_delete_primitives(json_t *dst, const char *field, size_t flen, const json_t *gone,
                      struct patch_ctx *c)
{
    if (!json_is_array(gone) || json_array_size(gone) > PATCH_MAX_LIST)
        return st_err_set(c->err, json_is_array(gone) ? ST_ETOOBIG : ST_EPARSE,
                          "strategic merge patch: bad $deleteFromPrimitiveList list");
    for (size_t i = 0; i < json_array_size(gone); i++) {
        if (patch_is_container(json_array_get(gone, i)))
            return st_err_set(c->err, ST_EPARSE,
                              "strategic merge patch: "
                              "$deleteFromPrimitiveList holds a non-primitive");
    }
    json_t *list = json_object_getn(dst, field, flen);
    if (!json_is_array(list))
        return 0;
    if (json_array_size(list) > PATCH_MAX_LIVE_LIST)
        return st_err_set(c->err, ST_ETOOBIG, "strategic merge patch: list is too long");
    for (size_t i = json_array_size(list); i-- > 0;) {
        if (smp_index(gone, json_array_get(list, i), NULL) >= 0)
            json_array_remove(list, i);
    }
    return 0;
}

/*
 * Merges map <patch> into map <dst> in place. <fields> is the metadata of
 * this map's members (NULL: none). Returns 0, SMP_DELETED when the patch
 * said "$patch: delete" (the caller removes the map), or an error.
 */
static int
smp_map(json_t *dst, const json_t *patch, const struct patch_field *fields, bool root, int depth,
        struct patch_ctx *c)
{
    const size_t olen = sizeof(smp_order_prefix) - 1, dlen = sizeof(smp_delete_prefix) - 1;
    const char *key;
    size_t klen;
    json_t *pv;
    int rc;

    if (depth > PATCH_MAX_DEPTH)
        return st_err_set(c->err, ST_ETOOBIG,
                          "strategic merge patch: nests deeper than %d "
                          "levels",
                          PATCH_MAX_DEPTH);
    const json_t *directive = json_object_get(patch, "$patch");
    if (directive) {
        const char *d = json_string_value(directive);
        if (d && strcmp(d, "delete") == 0) {
            json_object_clear(dst);
            return SMP_DELETED;
        }
        if (d && strcmp(d, "replace") == 0)
            json_object_clear(dst);
        else if (!d || strcmp(d, "merge") != 0)
            return st_err_set(c->err, ST_EPARSE,
                              "strategic merge patch: unknown $patch "
                              "directive");
    }
    const json_t *keep = json_object_get(patch, "$retainKeys");
    if (keep && (rc = smp_retain_keys(dst, patch, keep, c)) < 0)
        return rc;

    /* Check the directives first, so a bad patch changes nothing. */
    json_object_keylen_foreach((json_t *)patch, key, klen, pv)
    {
        if (klen == 0 || key[0] != '$')
            continue;
        if (strcmp(key, "$patch") == 0 || strcmp(key, "$retainKeys") == 0)
            continue;
        if ((smp_has_prefix(key, klen, smp_order_prefix, olen) && klen > olen) ||
            (smp_has_prefix(key, klen, smp_delete_prefix, dlen) && klen > dlen))
            continue;
        return st_err_set(c->err, ST_EPARSE, "strategic merge patch: unknown directive \"%s\"",
                          key);
    }

    json_object_keylen_foreach((json_t *)patch, key, klen, pv)
    {
        if (klen > 0 && key[0] == '$')
            continue;
        const struct patch_field *field = patch_schema_field(fields, root, key, klen);
        char *oname = st_xasprintf("%s%s", smp_order_prefix, key);
        const json_t *order = json_object_get(patch, oname);
        free(oname);
        if (order && !(field && (field->flags & PATCH_F_MERGE)))
            order = NULL; /* ordering a replaced list changes nothing */
        if ((rc = smp_member(dst, key, klen, pv, field, order, depth + 1, c)) < 0)
            return rc;
    }

    /* Reorder lists the patch orders without changing them. */
    json_object_keylen_foreach((json_t *)patch, key, klen, pv)
    {
        if (!smp_has_prefix(key, klen, smp_order_prefix, olen) || klen <= olen)
            continue;
        const char *name = key + olen;
        size_t nlen = klen - olen;
        const struct patch_field *field = patch_schema_field(fields, root, name, nlen);
        json_t *list = json_object_getn(dst, name, nlen);
        if (!field || !(field->flags & PATCH_F_MERGE))
            continue;
        if ((rc = smp_check_order(pv, field->merge_key, c)) < 0)
            return rc;
        if (json_object_getn(patch, name, nlen) || !json_is_array(list))
            continue;
        if (json_array_size(list) > PATCH_MAX_LIVE_LIST)
            return st_err_set(c->err, ST_ETOOBIG, "strategic merge patch: list is too long");
        json_object_setn_new(dst, name, nlen, smp_order(list, pv, list, field->merge_key));
    }

    /* Deletions from primitive lists come last, after any merge of the same list. */
    json_object_keylen_foreach((json_t *)patch, key, klen, pv)
    {
        if (!smp_has_prefix(key, klen, smp_delete_prefix, dlen) || klen <= dlen)
            continue;
        if ((rc = smp_delete_primitives(dst, key + dlen, klen - dlen, pv, c)) < 0)
            return rc;
    }
    return 0;
}

static int
smp_apply(const json_t *orig, const json_t *patch, const char *api_version, const char *kind,
          json_t **out, struct patch_ctx *c)
{
    const struct patch_kind *k = patch_schema_find(api_version, kind);
    json_t *doc;
    int rc;

    if (!k)
        return st_err_set(c->err, ST_EINVAL, "strategic merge patch is not supported for %s/%s",
                          api_version ? api_version : "?", kind ? kind : "?");
    if (!json_is_object(patch))
        return st_err_set(c->err, ST_EPARSE,
                          "strategic merge patch: the patch must be an "
                          "object");
    if (!json_is_object(orig))
        return st_err_set(c->err, ST_EINVAL, "strategic merge patch: the object is not a map");
    doc = json_deep_copy(orig);
    rc = smp_map(doc, patch, k->fields, true, 0, c);
    if (rc < 0) {
        json_decref(doc);
        return rc;
    }
    /* "$patch: delete" at the top leaves an empty object, as in Kubernetes. */
    *out = doc;
    return 0;
}

/* ---- entry point --------------------------------------------------------- */

int
patch_apply(const json_t *orig, enum patch_type type, const json_t *patch, const char *api_version,
            const char *kind, json_t **out, struct st_err *err)
{
    struct patch_ctx c = {err, 0};
    int rc;

    *out = NULL;
    if (!orig || !patch)
        return st_err_set(err, ST_EPARSE, "patch: missing document or patch");
    switch (type) {
    case PATCH_JSON:
        rc = jp_apply(orig, patch, out, &c);
        break;
    case PATCH_MERGE: {
        json_t *doc = json_deep_copy(orig);
        rc = mp_merge(&doc, patch, 0, &c);
        if (rc < 0)
            json_decref(doc);
        else
            *out = doc;
        break;
    }
    case PATCH_STRATEGIC:
        rc = smp_apply(orig, patch, api_version, kind, out, &c);
        break;
    default:
        rc = st_err_set(err, ST_EINVAL, "patch: unknown patch type");
        break;
    }
    if (rc < 0)
        *out = NULL;
    return rc;
}
