/*
 * Label and field selectors, parsed and matched the way Kubernetes does
 * (k8s.io/apimachinery labels.Parse and fields.ParseSelector). A selector is
 * a conjunction of terms; see selector.h for the grammar.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "selector.h"

enum selector_op {
    SELECTOR_EQ,
    SELECTOR_NE,
    SELECTOR_IN,
    SELECTOR_NOTIN,
    SELECTOR_EXISTS,
    SELECTOR_NOTEXISTS,
    SELECTOR_GT,
    SELECTOR_LT,
};

struct selector_term {
    char *key; /* label key, or dotted field path */
    enum selector_op op;
    char **values; /* EQ/NE: one value; IN/NOTIN: the set */
    size_t n_values;
    int64_t num; /* GT/LT */
};

struct selector {
    bool fields;  /* a field selector, else a label selector */
    bool nothing; /* matches no object (a null LabelSelector) */
    struct selector_term *terms;
    size_t n_terms;
};

static struct selector *
selector_new(bool fields)
{
    struct selector *sel = st_xcalloc(1, sizeof(*sel));
    sel->fields = fields;
    return sel;
}

struct selector *
selector_free(struct selector *sel)
{
    if (sel == NULL)
        return NULL;
    for (size_t i = 0; i < sel->n_terms; i++) {
        struct selector_term *t = &sel->terms[i];
        for (size_t j = 0; j < t->n_values; j++)
            free(t->values[j]);
        free(t->values);
        free(t->key);
    }
    free(sel->terms);
    free(sel);
    return NULL;
}

/* Appends an empty term; ST_ETOOBIG past the term cap. */
static int
selector_add_term(struct selector *sel, struct selector_term **out, struct st_err *err)
{
    if (sel->n_terms >= SELECTOR_MAX_TERMS)
        return st_err_set(err, ST_ETOOBIG, "selector has more than %d requirements",
                          SELECTOR_MAX_TERMS);
    sel->terms = st_xrealloc(sel->terms, (sel->n_terms + 1) * sizeof(*sel->terms));
    *out = &sel->terms[sel->n_terms++];
    memset(*out, 0, sizeof(**out));
    return 0;
}

static int
selector_add_value(struct selector_term *t, const char *p, size_t n, struct st_err *err)
{
    if (t->n_values >= SELECTOR_MAX_VALUES)
        return st_err_set(err, ST_ETOOBIG, "unable to parse requirement: more than %d values",
                          SELECTOR_MAX_VALUES);
    t->values = st_xrealloc(t->values, (t->n_values + 1) * sizeof(*t->values));
    t->values[t->n_values++] = st_xstrndup(p, n);
    return 0;
}

/* ---- names and values ---------------------------------------------------- */

static bool
selector_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A label value or the name part of a key: <= 63, [-_.A-Za-z0-9], alnum ends. */
static bool
selector_name_ok(const char *p, size_t n, bool allow_empty)
{
    if (n == 0)
        return allow_empty;
    if (n > 63 || !selector_alnum(p[0]) || !selector_alnum(p[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!selector_alnum(c) && c != '-' && c != '_' && c != '.')
            return false;
    }
    return true;
}

/* A qualified name: [DNS-1123 subdomain "/"] name. */
static bool
selector_key_ok(const char *p, size_t n)
{
    const char *slash = memchr(p, '/', n);

    if (slash == NULL)
        return selector_name_ok(p, n, false);
    size_t plen = (size_t)(slash - p);
    if (plen == 0 || plen > 253)
        return false;
    char prefix[254];
    memcpy(prefix, p, plen);
    prefix[plen] = '\0';
    if (!st_dns1123_subdomain(prefix))
        return false;
    return selector_name_ok(slash + 1, n - plen - 1, false);
}

static int
selector_bad_key(struct st_err *err, const char *p, size_t n)
{
    return st_err_set(err, ST_EPARSE,
                      "unable to parse requirement: invalid label key \"%.*s\": name part must "
                      "consist of alphanumeric characters, '-', '_' or '.', and must start and "
                      "end with an alphanumeric character",
                      (int)ST_MIN(n, 100), p);
}

static int
selector_bad_value(struct st_err *err, const char *p, size_t n)
{
    return st_err_set(err, ST_EPARSE,
                      "unable to parse requirement: invalid label value: \"%.*s\": a valid "
                      "label must be an empty string or consist of alphanumeric characters, "
                      "'-', '_' or '.', and must start and end with an alphanumeric character",
                      (int)ST_MIN(n, 100), p);
}

/* ---- label selector text ------------------------------------------------- */

struct selector_lexer {
    const char *s;
    size_t n;
    size_t i;
};

static void
selector_skip_ws(struct selector_lexer *lx)
{
    while (lx->i < lx->n && (lx->s[lx->i] == ' ' || lx->s[lx->i] == '\t'))
        lx->i++;
}

static bool
selector_special(char c)
{
    return c == ' ' || c == '\t' || c == ',' || c == '=' || c == '!' || c == '(' || c == ')' ||
           c == '<' || c == '>';
}

/* Scans an identifier (a run of non-special characters); may be empty. */
static struct st_str
selector_ident(struct selector_lexer *lx)
{
    size_t start = lx->i;
    while (lx->i < lx->n && !selector_special(lx->s[lx->i]))
        lx->i++;
    return (struct st_str){lx->s + start, lx->i - start};
}

static bool
selector_at(const struct selector_lexer *lx, const char *tok)
{
    size_t k = strlen(tok);
    return lx->n - lx->i >= k && memcmp(lx->s + lx->i, tok, k) == 0;
}

static int
selector_found(struct selector_lexer *lx, const char *expected, struct st_err *err)
{
    if (lx->i >= lx->n)
        return st_err_set(err, ST_EPARSE, "unable to parse requirement: found '', expected: %s",
                          expected);
    return st_err_set(err, ST_EPARSE, "unable to parse requirement: found '%c', expected: %s",
                      lx->s[lx->i], expected);
}

/* Parses "(v1, v2, ...)" into <t>; the lexer is at '('. */
static int
selector_parse_set(struct selector_lexer *lx, struct selector_term *t, struct st_err *err)
{
    int rc;

    if (!selector_at(lx, "("))
        return selector_found(lx, "'('", err);
    lx->i++;
    for (;;) {
        selector_skip_ws(lx);
        struct st_str v = selector_ident(lx);
        if (!selector_name_ok(v.p, v.n, true))
            return selector_bad_value(err, v.p, v.n);
        if ((rc = selector_add_value(t, v.p, v.n, err)) < 0)
            return rc;
        selector_skip_ws(lx);
        if (selector_at(lx, ",")) {
            lx->i++;
            continue;
        }
        if (selector_at(lx, ")")) {
            lx->i++;
            break;
        }
        return selector_found(lx, "',' or ')'", err);
    }
    /* "a in ()" yields one empty value, which Kubernetes accepts as the set {""}. */
    return 0;
}

static int
selector_parse_term(struct selector_lexer *lx, struct selector *sel, struct st_err *err)
{
    struct selector_term *t = NULL; /* set by selector_add_term */
    int rc;
    bool negated = false;

    if ((rc = selector_add_term(sel, &t, err)) < 0)
        return rc;
    selector_skip_ws(lx);
    if (selector_at(lx, "!")) {
        negated = true;
        lx->i++;
        selector_skip_ws(lx);
    }
    struct st_str key = selector_ident(lx);
    if (key.n == 0)
        return selector_found(lx, "identifier", err);
    if (!selector_key_ok(key.p, key.n))
        return selector_bad_key(err, key.p, key.n);
    t->key = st_str_dup(key);
    selector_skip_ws(lx);
    if (negated || lx->i >= lx->n || selector_at(lx, ",")) {
        t->op = negated ? SELECTOR_NOTEXISTS : SELECTOR_EXISTS;
        return 0;
    }
    if (selector_at(lx, "==") || selector_at(lx, "=") || selector_at(lx, "!=")) {
        t->op = selector_at(lx, "!=") ? SELECTOR_NE : SELECTOR_EQ;
        lx->i += selector_at(lx, "=") && !selector_at(lx, "==") ? 1 : 2;
        selector_skip_ws(lx);
        struct st_str v = selector_ident(lx);
        if (!selector_name_ok(v.p, v.n, true))
            return selector_bad_value(err, v.p, v.n);
        return selector_add_value(t, v.p, v.n, err);
    }
    if (selector_at(lx, ">") || selector_at(lx, "<")) {
        t->op = selector_at(lx, ">") ? SELECTOR_GT : SELECTOR_LT;
        lx->i++;
        selector_skip_ws(lx);
        struct st_str v = selector_ident(lx);
        if (st_parse_i64(v, &t->num) < 0)
            return st_err_set(err, ST_EPARSE,
                              "unable to parse requirement: for 'Gt', 'Lt' operators, the value "
                              "must be an integer: \"%.*s\"",
                              (int)ST_MIN(v.n, 100), v.p);
        return 0;
    }
    struct st_str word = selector_ident(lx);
    if (st_str_eq_c(word, "in") || st_str_eq_c(word, "notin")) {
        t->op = st_str_eq_c(word, "in") ? SELECTOR_IN : SELECTOR_NOTIN;
        selector_skip_ws(lx);
        return selector_parse_set(lx, t, err);
    }
    lx->i -= word.n;
    return selector_found(lx, "'=', '!=', '==', 'in', 'notin', '<', '>' or ','", err);
}

int
selector_parse_labels(const char *s, struct selector **out, struct st_err *err)
{
    struct selector *sel = selector_new(false);
    struct selector_lexer lx = {s ? s : "", s ? strlen(s) : 0, 0};
    int rc = 0;

    *out = NULL;
    if (lx.n > SELECTOR_MAX_LEN) {
        rc = st_err_set(err, ST_ETOOBIG, "selector longer than %d bytes", SELECTOR_MAX_LEN);
        goto fail;
    }
    if (st_str_trim((struct st_str){lx.s, lx.n}).n == 0)
        goto done;
    for (;;) {
        if ((rc = selector_parse_term(&lx, sel, err)) < 0)
            goto fail;
        selector_skip_ws(&lx);
        if (lx.i >= lx.n)
            break;
        if (!selector_at(&lx, ",")) {
            rc = selector_found(&lx, "','", err);
            goto fail;
        }
        lx.i++;
    }
done:
    *out = sel;
    return 0;
fail:
    selector_free(sel);
    return rc;
}

/* ---- LabelSelector objects and maps ------------------------------------ */

static int
selector_add_eq(struct selector *sel, const char *key, const json_t *v, struct st_err *err)
{
    struct selector_term *t = NULL; /* set by selector_add_term */
    int rc;

    if (!json_is_string(v))
        return st_err_set(err, ST_EPARSE,
                          "unable to parse requirement: value of \"%.100s\" "
                          "is not a string",
                          key);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (!selector_key_ok(key, strlen(key)))
        return selector_bad_key(err, key, strlen(key));
    if (!selector_name_ok(s, n, true) || strlen(s) != n)
        return selector_bad_value(err, s, n);
    if ((rc = selector_add_term(sel, &t, err)) < 0)
        return rc;
    t->key = st_xstrdup(key);
    t->op = SELECTOR_EQ;
    return selector_add_value(t, s, n, err);
}

static int
selector_add_map(struct selector *sel, const json_t *map, struct st_err *err)
{
    const char *key;
    json_t *v;
    int rc;

    if (map == NULL || json_is_null(map))
        return 0;
    if (!json_is_object(map))
        return st_err_set(err, ST_EPARSE,
                          "unable to parse requirement: a label map must be "
                          "an object");
    json_object_foreach((json_t *)map, key, v)
    {
        if ((rc = selector_add_eq(sel, key, v, err)) < 0)
            return rc;
    }
    return 0;
}

static int
selector_add_expression(struct selector *sel, const json_t *e, struct st_err *err)
{
    struct selector_term *t = NULL; /* set by selector_add_term */
    int rc;

    if (!json_is_object(e))
        return st_err_set(err, ST_EPARSE,
                          "unable to parse requirement: matchExpressions "
                          "entries must be objects");
    const char *key = json_string_value(json_object_get(e, "key"));
    const char *op = json_string_value(json_object_get(e, "operator"));
    const json_t *values = json_object_get(e, "values");
    if (key == NULL || !selector_key_ok(key, strlen(key)))
        return selector_bad_key(err, key ? key : "", key ? strlen(key) : 0);
    if ((rc = selector_add_term(sel, &t, err)) < 0)
        return rc;
    t->key = st_xstrdup(key);
    if (op != NULL && strcmp(op, "In") == 0)
        t->op = SELECTOR_IN;
    else if (op != NULL && strcmp(op, "NotIn") == 0)
        t->op = SELECTOR_NOTIN;
    else if (op != NULL && strcmp(op, "Exists") == 0)
        t->op = SELECTOR_EXISTS;
    else if (op != NULL && strcmp(op, "DoesNotExist") == 0)
        t->op = SELECTOR_NOTEXISTS;
    else
        return st_err_set(err, ST_EPARSE,
                          "unable to parse requirement: \"%.40s\" is not a "
                          "valid label selector operator",
                          op ? op : "");
    size_t n = json_is_array(values) ? json_array_size(values) : 0;
    if (values != NULL && !json_is_null(values) && !json_is_array(values))
        return st_err_set(err, ST_EPARSE, "unable to parse requirement: values must be a list");
    if ((t->op == SELECTOR_IN || t->op == SELECTOR_NOTIN) && n == 0)
        return st_err_set(err, ST_EPARSE,
                          "unable to parse requirement: for 'in', 'notin' "
                          "operators, values set can't be empty");
    if ((t->op == SELECTOR_EXISTS || t->op == SELECTOR_NOTEXISTS) && n != 0)
        return st_err_set(err, ST_EPARSE,
                          "unable to parse requirement: values set must be "
                          "empty for exists and does not exist");
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(values, i);
        if (!json_is_string(v))
            return st_err_set(err, ST_EPARSE,
                              "unable to parse requirement: values must be "
                              "strings");
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        if (!selector_name_ok(s, len, true) || strlen(s) != len)
            return selector_bad_value(err, s, len);
        if ((rc = selector_add_value(t, s, len, err)) < 0)
            return rc;
    }
    return 0;
}

int
selector_from_label_selector(const json_t *ls, struct selector **out, struct st_err *err)
{
    struct selector *sel = selector_new(false);
    int rc = 0;

    *out = NULL;
    if (ls == NULL || json_is_null(ls)) {
        sel->nothing = true;
        goto done;
    }
    if (!json_is_object(ls)) {
        rc = st_err_set(err, ST_EPARSE,
                        "unable to parse requirement: a label selector must "
                        "be an object");
        goto fail;
    }
    if ((rc = selector_add_map(sel, json_object_get(ls, "matchLabels"), err)) < 0)
        goto fail;
    const json_t *exprs = json_object_get(ls, "matchExpressions");
    if (exprs != NULL && !json_is_null(exprs) && !json_is_array(exprs)) {
        rc = st_err_set(err, ST_EPARSE,
                        "unable to parse requirement: matchExpressions must be "
                        "a list");
        goto fail;
    }
    for (size_t i = 0; i < json_array_size(exprs); i++) {
        if ((rc = selector_add_expression(sel, json_array_get(exprs, i), err)) < 0)
            goto fail;
    }
done:
    *out = sel;
    return 0;
fail:
    selector_free(sel);
    return rc;
}

int
selector_from_map(const json_t *map, struct selector **out, struct st_err *err)
{
    struct selector *sel = selector_new(false);
    int rc = selector_add_map(sel, map, err);

    *out = NULL;
    if (rc < 0) {
        selector_free(sel);
        return rc;
    }
    *out = sel;
    return 0;
}

/* ---- label matching ------------------------------------------------------ */

static bool
selector_in_set(const struct selector_term *t, const char *v)
{
    for (size_t i = 0; i < t->n_values; i++) {
        if (strcmp(t->values[i], v) == 0)
            return true;
    }
    return false;
}

static bool
selector_term_match(const struct selector_term *t, const char *v)
{
    int64_t num;

    switch (t->op) {
    case SELECTOR_EQ:
    case SELECTOR_IN:
        return v != NULL && selector_in_set(t, v);
    case SELECTOR_NE:
    case SELECTOR_NOTIN:
        return v == NULL || !selector_in_set(t, v);
    case SELECTOR_EXISTS:
        return v != NULL;
    case SELECTOR_NOTEXISTS:
        return v == NULL;
    case SELECTOR_GT:
    case SELECTOR_LT:
        if (v == NULL || st_parse_i64(st_str_c(v), &num) < 0)
            return false;
        return t->op == SELECTOR_GT ? num > t->num : num < t->num;
    }
    return false;
}

bool
selector_match_labels(const struct selector *sel, const json_t *labels)
{
    if (sel == NULL)
        return true;
    if (sel->nothing || sel->fields)
        return false;
    for (size_t i = 0; i < sel->n_terms; i++) {
        const struct selector_term *t = &sel->terms[i];
        const json_t *v = json_is_object(labels) ? json_object_get(labels, t->key) : NULL;
        if (!selector_term_match(t, json_is_string(v) ? json_string_value(v) : NULL))
            return false;
    }
    return true;
}

/* ---- field selectors ----------------------------------------------------- */

/* Unescapes a field selector value ("\\" "\," "\=" "\!"); NULL on a bad escape. */
static char *
selector_unescape(struct st_str v)
{
    char *out = st_xmalloc(v.n + 1);
    size_t o = 0;

    for (size_t i = 0; i < v.n; i++) {
        char c = v.p[i];
        if (c == '\\') {
            if (i + 1 >= v.n || strchr("\\,=!", v.p[i + 1]) == NULL || v.p[i + 1] == '\0') {
                free(out);
                return NULL;
            }
            c = v.p[++i];
        } else if (c == '=' || c == ',') {
            free(out);
            return NULL;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

/* A dotted path: non-empty segments of printable, non-space characters. */
static bool
selector_path_ok(struct st_str k)
{
    if (k.n == 0 || k.n > 253 || k.p[0] == '.' || k.p[k.n - 1] == '.')
        return false;
    for (size_t i = 0; i < k.n; i++) {
        unsigned char c = (unsigned char)k.p[i];
        if (c <= ' ' || c >= 0x7f || c == '!' || c == '=' || c == ',' || c == '\\')
            return false;
        if (c == '.' && k.p[i + 1] == '.')
            return false;
    }
    return true;
}

static int
selector_parse_field_term(struct selector *sel, struct st_str term, struct st_err *err)
{
    struct selector_term *t = NULL; /* set by selector_add_term */
    size_t i;
    int rc;

    /* The first operator from the left wins, trying "!=" then "==" then "=" at each index. */
    for (i = 0; i < term.n; i++) {
        if (term.p[i] == '!' && i + 1 < term.n && term.p[i + 1] == '=')
            break;
        if (term.p[i] == '=')
            break;
    }
    if (i == term.n)
        return st_err_set(err, ST_EPARSE, "invalid selector: '%.*s'; can't understand '%.*s'",
                          (int)ST_MIN(term.n, 100), term.p, (int)ST_MIN(term.n, 100), term.p);
    struct st_str key = st_str_trim((struct st_str){term.p, i});
    enum selector_op op = SELECTOR_EQ;
    size_t oplen = 1;
    if (term.p[i] == '!') {
        op = SELECTOR_NE;
        oplen = 2;
    } else if (i + 1 < term.n && term.p[i + 1] == '=') {
        oplen = 2;
    }
    struct st_str raw = {term.p + i + oplen, term.n - i - oplen};
    if (!selector_path_ok(key))
        return st_err_set(err, ST_EPARSE,
                          "invalid selector: '%.*s'; invalid field path "
                          "'%.*s'",
                          (int)ST_MIN(term.n, 100), term.p, (int)ST_MIN(key.n, 100), key.p);
    char *value = selector_unescape(raw);
    if (value == NULL)
        return st_err_set(err, ST_EPARSE,
                          "invalid selector: '%.*s'; invalid escape or "
                          "unescaped special character in value",
                          (int)ST_MIN(term.n, 100), term.p);
    if ((rc = selector_add_term(sel, &t, err)) < 0) {
        free(value);
        return rc;
    }
    t->key = st_str_dup(key);
    t->op = op;
    t->values = st_xmalloc(sizeof(*t->values));
    t->values[0] = value;
    t->n_values = 1;
    return 0;
}

int
selector_parse_fields(const char *s, struct selector **out, struct st_err *err)
{
    struct selector *sel = selector_new(true);
    size_t n = s ? strlen(s) : 0;
    size_t start = 0;
    int rc = 0;

    *out = NULL;
    if (n > SELECTOR_MAX_LEN) {
        rc = st_err_set(err, ST_ETOOBIG, "selector longer than %d bytes", SELECTOR_MAX_LEN);
        goto fail;
    }
    if (n == 0)
        goto done;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] == '\\' && i + 1 < n) {
            i++;
            continue;
        }
        if (i < n && s[i] != ',')
            continue;
        if ((rc = selector_parse_field_term(sel, (struct st_str){s + start, i - start}, err)) < 0)
            goto fail;
        start = i + 1;
    }
done:
    *out = sel;
    return 0;
fail:
    selector_free(sel);
    return rc;
}

/*
 * Finds the value at dotted <path> in <obj> and renders scalars as text into
 * <buf> (size 64 is enough for numbers). Returns NULL when the path is
 * missing or ends at an object, array or null.
 */
static const char *
selector_field_text(const json_t *obj, const char *path, char *buf, size_t bufsz)
{
    const json_t *cur = obj;
    const char *p = path;

    while (cur != NULL) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (!json_is_object(cur))
            return NULL;
        cur = json_object_getn(cur, p, len);
        if (dot == NULL)
            break;
        p = dot + 1;
    }
    if (json_is_string(cur))
        return json_string_value(cur);
    if (json_is_integer(cur)) {
        snprintf(buf, bufsz, "%" JSON_INTEGER_FORMAT, json_integer_value(cur));
        return buf;
    }
    if (json_is_real(cur)) {
        snprintf(buf, bufsz, "%.17g", json_real_value(cur));
        return buf;
    }
    if (json_is_boolean(cur))
        return json_is_true(cur) ? "true" : "false";
    return NULL;
}

bool
selector_match_fields(const struct selector *sel, const json_t *obj)
{
    char buf[64];

    if (sel == NULL)
        return true;
    if (!sel->fields || sel->nothing)
        return false;
    for (size_t i = 0; i < sel->n_terms; i++) {
        const struct selector_term *t = &sel->terms[i];
        const char *v = selector_field_text(obj, t->key, buf, sizeof(buf));
        bool eq = strcmp(v ? v : "", t->values[0]) == 0;
        if (eq != (t->op == SELECTOR_EQ))
            return false;
    }
    return true;
}

int
selector_fields_allowed(const struct selector *sel, const char *const *allowed, size_t n,
                        struct st_err *err)
{
    if (sel == NULL)
        return 0;
    for (size_t i = 0; i < sel->n_terms; i++) {
        bool ok = false;
        for (size_t j = 0; j < n && !ok; j++)
            ok = strcmp(sel->terms[i].key, allowed[j]) == 0;
        if (!ok)
            return st_err_set(err, ST_EINVAL, "field label not supported: %.200s",
                              sel->terms[i].key);
    }
    return 0;
}

bool
selector_empty(const struct selector *sel)
{
    return sel == NULL || (sel->n_terms == 0 && !sel->nothing);
}

const char *
selector_field_equals(const struct selector *sel, const char *path)
{
    if (sel == NULL || !sel->fields)
        return NULL;
    for (size_t i = 0; i < sel->n_terms; i++) {
        if (sel->terms[i].op == SELECTOR_EQ && strcmp(sel->terms[i].key, path) == 0)
            return sel->terms[i].values[0];
    }
    return NULL;
}
