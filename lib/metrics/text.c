/*
 * A parser of the Prometheus text exposition format 0.0.4, for metrics
 * scraped from peers: every size is capped, every byte checked. Families are
 * indexed by name and series by key while parsing; histograms are assembled
 * from their _bucket, _sum and _count samples and checked at the end.
 */
#include <math.h>
#include <stdlib.h>

#include "metrics_int.h"

#define HIST_HAS_SUM 1u
#define HIST_HAS_COUNT 2u

static const struct st_metrics_caps text_default_caps = {
    .max_bytes = 16u << 20,
    .max_line = 64u << 10,
    .max_families = 4096,
    .max_series = 200000,
    .max_labels = 32,
    .max_name = 256,
    .max_value = 8192,
    .max_buckets = 128,
};

/* A string -> index map with open addressing; keys are borrowed. */
struct text_map {
    const char **keys;
    size_t *idx;
    size_t mask, n;
};

struct text_fam {
    struct st_metrics_fam f;
    size_t cap_series;
    bool has_help, has_type, has_samples;
    unsigned char *hflags; /* histograms: HIST_* per series */
    struct text_map series;
};

struct text_parser {
    struct st_metrics_caps caps;
    struct st_err *err;
    size_t line_no;
    struct text_fam *fams;
    size_t n_fams, cap_fams;
    struct text_map fam_index;
    size_t n_series;
};

/* ---- the map ------------------------------------------------------------ */

static uint64_t
text_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h ^ (h >> 31);
}

static bool
text_map_get(const struct text_map *m, const char *key, size_t *out)
{
    if (m->keys == NULL)
        return false;
    for (size_t i = text_hash(key) & m->mask;; i = (i + 1) & m->mask) {
        if (m->keys[i] == NULL)
            return false;
        if (strcmp(m->keys[i], key) == 0) {
            *out = m->idx[i];
            return true;
        }
    }
}

static void
text_map_put_raw(struct text_map *m, const char *key, size_t idx)
{
    size_t i = text_hash(key) & m->mask;

    while (m->keys[i] != NULL)
        i = (i + 1) & m->mask;
    m->keys[i] = key;
    m->idx[i] = idx;
    m->n++;
}

/* Adds <key> (not present yet, borrowed) -> <idx>. */
static void
text_map_put(struct text_map *m, const char *key, size_t idx)
{
    if (m->keys == NULL || 2 * (m->n + 1) > m->mask + 1) {
        struct text_map bigger;
        size_t size = m->keys ? 2 * (m->mask + 1) : 16;
        bigger.keys = st_xcalloc(size, sizeof(*bigger.keys));
        bigger.idx = st_xcalloc(size, sizeof(*bigger.idx));
        bigger.mask = size - 1;
        bigger.n = 0;
        for (size_t i = 0; m->keys != NULL && i <= m->mask; i++) {
            if (m->keys[i] != NULL)
                text_map_put_raw(&bigger, m->keys[i], m->idx[i]);
        }
        free(m->keys);
        free(m->idx);
        *m = bigger;
    }
    text_map_put_raw(m, key, idx);
}

static void
text_map_free(struct text_map *m)
{
    free(m->keys);
    free(m->idx);
    memset(m, 0, sizeof(*m));
}

/* ---- families and series -------------------------------------------------- */

static int
text_fail(struct text_parser *t, int code, const char *what)
{
    return st_err_set(t->err, code, "metrics text line %zu: %s", t->line_no, what);
}

static bool
text_fam_find(struct text_parser *t, const char *name, size_t *idx)
{
    return text_map_get(&t->fam_index, name, idx);
}

static bool
text_is_hist_part(struct text_parser *t, const char *name, size_t len, const char *suffix,
                  size_t *idx)
{
    size_t sl = strlen(suffix);

    if (len <= sl || memcmp(name + len - sl, suffix, sl) != 0)
        return false;
    char *base = st_xstrndup(name, len - sl);
    bool found = text_fam_find(t, base, idx) && t->fams[*idx].f.type == ST_METRICS_HISTOGRAM;
    free(base);
    return found;
}

/* True when <name> is written by a histogram family already declared. */
static bool
text_owned_by_histogram(struct text_parser *t, const char *name)
{
    size_t idx, len = strlen(name);

    return text_is_hist_part(t, name, len, "_bucket", &idx) ||
           text_is_hist_part(t, name, len, "_sum", &idx) ||
           text_is_hist_part(t, name, len, "_count", &idx);
}

/* Creates family <name>; returns its index or a negative error. */
static int
text_fam_new(struct text_parser *t, const char *name, size_t *idx)
{
    if (t->n_fams >= t->caps.max_families)
        return text_fail(t, ST_ETOOBIG, "too many metric families");
    if (text_owned_by_histogram(t, name))
        return text_fail(t, ST_EPARSE, "name belongs to a histogram");
    if (t->n_fams == t->cap_fams) {
        t->cap_fams = t->cap_fams ? 2 * t->cap_fams : 16;
        t->fams = st_xrealloc(t->fams, t->cap_fams * sizeof(*t->fams));
    }
    struct text_fam *tf = &t->fams[t->n_fams];
    memset(tf, 0, sizeof(*tf));
    tf->f.name = st_xstrdup(name);
    tf->f.help = st_xstrdup("");
    tf->f.type = ST_METRICS_UNTYPED;
    *idx = t->n_fams++;
    text_map_put(&t->fam_index, tf->f.name, *idx);
    return 0;
}

static void
text_labels_free(struct st_metrics_label *labels, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(labels[i].name);
        free(labels[i].value);
    }
    free(labels);
}

/*
 * Finds or creates the series with <labels> (normalized; ownership taken) in
 * <tf>. *created tells which. Returns the index or a negative error.
 */
static int
text_series(struct text_parser *t, struct text_fam *tf, struct st_metrics_label *labels,
            size_t n_labels, bool *created, size_t *idx)
{
    char *key = metrics_labels_key(labels, n_labels);

    *created = false;
    if (text_map_get(&tf->series, key, idx)) {
        free(key);
        text_labels_free(labels, n_labels);
        return 0;
    }
    if (t->n_series >= t->caps.max_series) {
        free(key);
        text_labels_free(labels, n_labels);
        return text_fail(t, ST_ETOOBIG, "too many series");
    }
    if (tf->f.n_series == tf->cap_series) {
        tf->cap_series = tf->cap_series ? 2 * tf->cap_series : 8;
        tf->f.series = st_xrealloc(tf->f.series, tf->cap_series * sizeof(*tf->f.series));
        tf->hflags = st_xrealloc(tf->hflags, tf->cap_series);
    }
    struct st_metrics_sample *s = &tf->f.series[tf->f.n_series];
    memset(s, 0, sizeof(*s));
    s->labels = labels;
    s->n_labels = n_labels;
    s->key = key;
    tf->hflags[tf->f.n_series] = 0;
    *idx = tf->f.n_series++;
    t->n_series++;
    text_map_put(&tf->series, key, *idx);
    *created = true;
    return 0;
}

/* ---- lexing ------------------------------------------------------------------ */

struct text_cursor {
    const char *p, *end;
};

static void
text_skip_blanks(struct text_cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
}

static bool
text_metric_char(char ch, bool first)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == ':' ||
           (!first && ch >= '0' && ch <= '9');
}

/* Reads a metric name into a new string; NULL when there is none or it is too long. */
static char *
text_read_metric_name(struct text_parser *t, struct text_cursor *c, int *rc)
{
    const char *start = c->p;

    while (c->p < c->end && text_metric_char(*c->p, c->p == start))
        c->p++;
    if (c->p == start) {
        *rc = text_fail(t, ST_EPARSE, "expected a metric name");
        return NULL;
    }
    if ((size_t)(c->p - start) > t->caps.max_name) {
        *rc = text_fail(t, ST_ETOOBIG, "metric name too long");
        return NULL;
    }
    return st_xstrndup(start, (size_t)(c->p - start));
}

/*
 * Reads an escaped string into a new string: up to the closing '"' when
 * <quoted> (label values), else to the end of the line (HELP text). Escapes: \\ \n, and \" in label
 * values.
 */
static int
text_read_escaped(struct text_parser *t, struct text_cursor *c, bool quoted, char **out)
{
    struct st_buf b = ST_BUF_INIT(t->caps.max_value);
    int rc = 0;

    *out = NULL;
    for (;;) {
        if (c->p == c->end) {
            if (quoted) {
                rc = text_fail(t, ST_EPARSE, "unterminated label value");
                goto fail;
            }
            break;
        }
        char ch = *c->p++;
        if (quoted && ch == '"')
            break;
        if (ch == '\0') {
            rc = text_fail(t, ST_EPARSE, "NUL byte");
            goto fail;
        }
        if (ch == '\\') {
            char e = c->p < c->end ? *c->p++ : '\0';
            if (e == '\\' || (quoted && e == '"'))
                ch = e;
            else if (e == 'n')
                ch = '\n';
            else {
                rc = text_fail(t, ST_EPARSE, "invalid escape sequence");
                goto fail;
            }
        }
        if (st_buf_append(&b, &ch, 1) < 0) {
            rc = text_fail(t, ST_ETOOBIG, quoted ? "label value too long" : "help too long");
            goto fail;
        }
    }
    if (!metrics_valid_utf8(b.data ? b.data : "", b.len)) {
        rc = text_fail(t, ST_EPARSE, "not UTF-8");
        goto fail;
    }
    *out = b.data ? st_buf_steal(&b) : st_xstrdup("");
    return 0;
fail:
    st_buf_free(&b);
    return rc;
}

/* Reads `{name="value",...}` (the '{' is current) into new labels. */
static int
text_read_labels(struct text_parser *t, struct text_cursor *c, struct st_metrics_label **out,
                 size_t *n_out)
{
    struct st_metrics_label *labels = NULL;
    size_t n = 0;
    int rc = 0;

    c->p++; /* '{' */
    for (;;) {
        text_skip_blanks(c);
        if (c->p < c->end && *c->p == '}') {
            c->p++;
            break;
        }
        if (n >= t->caps.max_labels) {
            rc = text_fail(t, ST_ETOOBIG, "too many labels");
            goto fail;
        }
        const char *name = c->p;
        while (c->p < c->end && text_metric_char(*c->p, c->p == name) && *c->p != ':')
            c->p++;
        size_t name_len = (size_t)(c->p - name);
        if (name_len == 0 || name_len > t->caps.max_name) {
            rc = text_fail(t, name_len ? ST_ETOOBIG : ST_EPARSE, "bad label name");
            goto fail;
        }
        text_skip_blanks(c);
        if (c->p == c->end || *c->p != '=') {
            rc = text_fail(t, ST_EPARSE, "expected '=' after a label name");
            goto fail;
        }
        c->p++;
        text_skip_blanks(c);
        if (c->p == c->end || *c->p != '"') {
            rc = text_fail(t, ST_EPARSE, "expected a quoted label value");
            goto fail;
        }
        c->p++;
        char *value;
        rc = text_read_escaped(t, c, true, &value);
        if (rc < 0)
            goto fail;
        labels = st_xrealloc(labels, (n + 1) * sizeof(*labels));
        labels[n].name = st_xstrndup(name, name_len);
        labels[n].value = value;
        n++;
        text_skip_blanks(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p < c->end && *c->p == '}') {
            c->p++;
            break;
        }
        rc = text_fail(t, ST_EPARSE, "expected ',' or '}' after a label");
        goto fail;
    }
    if (metrics_labels_normalize(labels, &n) < 0) {
        rc = text_fail(t, ST_EPARSE, "a label name repeats");
        goto fail;
    }
    *out = labels;
    *n_out = n;
    return 0;
fail:
    text_labels_free(labels, n);
    return rc;
}

/* Parses a whole float token (Go's ParseFloat forms, and what strtod reads). */
static int
text_parse_float(const char *p, size_t n, double *out)
{
    char tmp[64];
    char *end;

    if (n == 0 || n >= sizeof(tmp))
        return ST_EPARSE;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    if (tmp[0] == ' ' || tmp[0] == '\t')
        return ST_EPARSE;
    *out = strtod(tmp, &end);
    return end == tmp + n ? 0 : ST_EPARSE;
}

/* ---- lines ------------------------------------------------------------------- */

static int
text_comment(struct text_parser *t, struct text_cursor *c)
{
    int rc = 0;
    bool help;
    size_t idx;

    c->p++; /* '#' */
    text_skip_blanks(c);
    if (c->end - c->p > 4 && memcmp(c->p, "HELP", 4) == 0 && (c->p[4] == ' ' || c->p[4] == '\t'))
        help = true;
    else if (c->end - c->p > 4 && memcmp(c->p, "TYPE", 4) == 0 &&
             (c->p[4] == ' ' || c->p[4] == '\t'))
        help = false;
    else
        return 0; /* a plain comment */
    c->p += 4;
    text_skip_blanks(c);
    char *name = text_read_metric_name(t, c, &rc);
    if (name == NULL)
        return rc;
    if (c->p < c->end && *c->p != ' ' && *c->p != '\t') {
        rc = text_fail(t, ST_EPARSE, "bad metric name in a comment");
        goto out;
    }
    text_skip_blanks(c);
    if (!text_fam_find(t, name, &idx)) {
        rc = text_fam_new(t, name, &idx);
        if (rc < 0)
            goto out;
    }
    struct text_fam *tf = &t->fams[idx];
    if (help) {
        char *text;
        if (tf->has_help) {
            rc = text_fail(t, ST_EPARSE, "second HELP for a family");
            goto out;
        }
        rc = text_read_escaped(t, c, false, &text);
        if (rc < 0)
            goto out;
        free(tf->f.help);
        tf->f.help = text;
        tf->has_help = true;
        goto out;
    }
    static const struct {
        const char *name;
        enum st_metrics_type type;
    } types[] = {
        {"counter", ST_METRICS_COUNTER},     {"gauge", ST_METRICS_GAUGE},
        {"histogram", ST_METRICS_HISTOGRAM}, {"summary", ST_METRICS_SUMMARY},
        {"untyped", ST_METRICS_UNTYPED},
    };
    const char *word = c->p;
    while (c->p < c->end && *c->p != ' ' && *c->p != '\t')
        c->p++;
    struct st_str w = {word, (size_t)(c->p - word)};
    text_skip_blanks(c);
    size_t k = 0;
    while (k < ST_ARRAY_LEN(types) && !st_str_eq_c(w, types[k].name))
        k++;
    if (k == ST_ARRAY_LEN(types) || c->p != c->end) {
        rc = text_fail(t, ST_EPARSE, "unknown metric type");
        goto out;
    }
    if (tf->has_type || tf->has_samples) {
        rc = text_fail(t, ST_EPARSE,
                       tf->has_type ? "second TYPE for a family"
                                    : "TYPE after the family's samples");
        goto out;
    }
    if (types[k].type == ST_METRICS_HISTOGRAM) {
        static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
        for (size_t i = 0; i < ST_ARRAY_LEN(suffixes); i++) {
            char *part = st_xasprintf("%s%s", name, suffixes[i]);
            size_t other;
            bool taken = text_fam_find(t, part, &other);
            free(part);
            if (taken) {
                rc = text_fail(t, ST_EPARSE, "histogram name clashes with another family");
                goto out;
            }
        }
    }
    tf->f.type = types[k].type;
    tf->has_type = true;
out:
    free(name);
    return rc;
}

static int
text_bucket_cmp(const void *a, const void *b)
{
    double x = ((const struct st_metrics_bucket *)a)->le;
    double y = ((const struct st_metrics_bucket *)b)->le;

    return x < y ? -1 : x > y;
}

/* Files one sample of histogram <tf>: <part> is "_bucket", "_sum" or "_count". */
static int
text_hist_sample(struct text_parser *t, struct text_fam *tf, const char *part,
                 struct st_metrics_label *labels, size_t n, double value)
{
    double le = 0;
    size_t i = 0, idx;
    bool created;
    int rc;

    while (i < n && strcmp(labels[i].name, "le") != 0)
        i++;
    if ((i < n) != (strcmp(part, "_bucket") == 0)) {
        text_labels_free(labels, n);
        return text_fail(t, ST_EPARSE, "le belongs to _bucket samples only");
    }
    if (i < n) {
        rc = text_parse_float(labels[i].value, strlen(labels[i].value), &le);
        free(labels[i].name);
        free(labels[i].value);
        memmove(&labels[i], &labels[i + 1], (n - i - 1) * sizeof(*labels));
        n--;
        if (rc < 0 || isnan(le)) {
            text_labels_free(labels, n);
            return text_fail(t, ST_EPARSE, "bad le value");
        }
    }
    rc = text_series(t, tf, labels, n, &created, &idx);
    if (rc < 0)
        return rc;
    struct st_metrics_sample *s = &tf->f.series[idx];
    if (strcmp(part, "_sum") == 0 || strcmp(part, "_count") == 0) {
        unsigned flag = part[1] == 's' ? HIST_HAS_SUM : HIST_HAS_COUNT;
        if (tf->hflags[idx] & flag)
            return text_fail(t, ST_EPARSE, "duplicate histogram sample");
        tf->hflags[idx] |= flag;
        if (flag == HIST_HAS_SUM)
            s->sum = value;
        else
            s->count = value;
        return 0;
    }
    for (size_t k = 0; k < s->n_buckets; k++) {
        if (s->buckets[k].le == le)
            return text_fail(t, ST_EPARSE, "duplicate bucket");
    }
    if (s->n_buckets >= t->caps.max_buckets)
        return text_fail(t, ST_ETOOBIG, "too many buckets");
    s->buckets = st_xrealloc(s->buckets, (s->n_buckets + 1) * sizeof(*s->buckets));
    s->buckets[s->n_buckets].le = le;
    s->buckets[s->n_buckets].count = value;
    s->n_buckets++;
    return 0;
}

static int
text_sample(struct text_parser *t, struct text_cursor *c)
{
    struct st_metrics_label *labels = NULL;
    size_t n = 0, idx;
    double value;
    int rc = 0;
    char *name = text_read_metric_name(t, c, &rc);

    if (name == NULL)
        return rc;
    if (c->p < c->end && *c->p == '{') {
        rc = text_read_labels(t, c, &labels, &n);
        if (rc < 0)
            goto out;
    } else if (c->p < c->end && *c->p != ' ' && *c->p != '\t') {
        rc = text_fail(t, ST_EPARSE, "bad character in a metric name");
        goto out;
    }
    text_skip_blanks(c);
    const char *tok = c->p;
    while (c->p < c->end && *c->p != ' ' && *c->p != '\t')
        c->p++;
    if (text_parse_float(tok, (size_t)(c->p - tok), &value) < 0) {
        rc = text_fail(t, ST_EPARSE, "bad sample value");
        goto out;
    }
    text_skip_blanks(c);
    if (c->p < c->end) {
        tok = c->p;
        while (c->p < c->end && *c->p != ' ' && *c->p != '\t')
            c->p++;
        int64_t ts;
        struct st_str s = {tok, (size_t)(c->p - tok)};
        text_skip_blanks(c);
        if (st_parse_i64(s, &ts) < 0 || c->p != c->end) {
            rc = text_fail(t, ST_EPARSE, "bad timestamp");
            goto out;
        }
    }

    size_t len = strlen(name);
    static const char *const parts[] = {"_bucket", "_sum", "_count"};
    for (size_t k = 0; k < ST_ARRAY_LEN(parts); k++) {
        if (text_is_hist_part(t, name, len, parts[k], &idx)) {
            t->fams[idx].has_samples = true;
            rc = text_hist_sample(t, &t->fams[idx], parts[k], labels, n, value);
            labels = NULL; /* handed over */
            n = 0;
            goto out;
        }
    }
    if (!text_fam_find(t, name, &idx)) {
        rc = text_fam_new(t, name, &idx);
        if (rc < 0)
            goto out;
    }
    struct text_fam *tf = &t->fams[idx];
    if (tf->f.type == ST_METRICS_HISTOGRAM) {
        rc = text_fail(t, ST_EPARSE, "a histogram sample needs _bucket, _sum or _count");
        goto out;
    }
    tf->has_samples = true;
    bool created;
    rc = text_series(t, tf, labels, n, &created, &idx);
    labels = NULL;
    n = 0;
    if (rc < 0)
        goto out;
    if (!created) {
        rc = text_fail(t, ST_EPARSE, "duplicate series");
        goto out;
    }
    tf->f.series[idx].value = value;
out:
    text_labels_free(labels, n);
    free(name);
    return rc;
}

/* Sorts and completes every histogram series; checks that each is whole. */
static int
text_finish_histograms(struct text_parser *t)
{
    for (size_t i = 0; i < t->n_fams; i++) {
        struct text_fam *tf = &t->fams[i];
        if (tf->f.type != ST_METRICS_HISTOGRAM)
            continue;
        for (size_t j = 0; j < tf->f.n_series; j++) {
            struct st_metrics_sample *s = &tf->f.series[j];
            if (s->n_buckets > 1)
                qsort(s->buckets, s->n_buckets, sizeof(*s->buckets), text_bucket_cmp);
            bool has_inf = s->n_buckets > 0 && isinf(s->buckets[s->n_buckets - 1].le) &&
                           s->buckets[s->n_buckets - 1].le > 0;
            if (!has_inf) {
                if (!(tf->hflags[j] & HIST_HAS_COUNT))
                    return st_err_set(t->err, ST_EPARSE,
                                      "metrics text: histogram %s without +Inf or _count",
                                      tf->f.name);
                s->buckets = st_xrealloc(s->buckets, (s->n_buckets + 1) * sizeof(*s->buckets));
                s->buckets[s->n_buckets].le = INFINITY;
                s->buckets[s->n_buckets].count = s->count;
                s->n_buckets++;
            }
            if (!(tf->hflags[j] & HIST_HAS_COUNT))
                s->count = s->buckets[s->n_buckets - 1].count;
        }
    }
    return 0;
}

static void
text_parser_free(struct text_parser *t)
{
    for (size_t i = 0; i < t->n_fams; i++) {
        metrics_fam_clear(&t->fams[i].f);
        free(t->fams[i].hflags);
        text_map_free(&t->fams[i].series);
    }
    free(t->fams);
    text_map_free(&t->fam_index);
}

int
st_metrics_parse_text(const char *p, size_t n, const struct st_metrics_caps *caps,
                      struct st_metrics_snapshot **out, struct st_err *err)
{
    struct text_parser t = {.err = err};
    const char *end = p + n;
    int rc = 0;

    *out = NULL;
    t.caps = text_default_caps;
    if (caps != NULL) {
        t.caps.max_bytes = caps->max_bytes ? caps->max_bytes : t.caps.max_bytes;
        t.caps.max_line = caps->max_line ? caps->max_line : t.caps.max_line;
        t.caps.max_families = caps->max_families ? caps->max_families : t.caps.max_families;
        t.caps.max_series = caps->max_series ? caps->max_series : t.caps.max_series;
        t.caps.max_labels = caps->max_labels ? caps->max_labels : t.caps.max_labels;
        t.caps.max_name = caps->max_name ? caps->max_name : t.caps.max_name;
        t.caps.max_value = caps->max_value ? caps->max_value : t.caps.max_value;
        t.caps.max_buckets = caps->max_buckets ? caps->max_buckets : t.caps.max_buckets;
    }
    if (n > t.caps.max_bytes)
        return st_err_set(err, ST_ETOOBIG, "metrics text: %zu bytes is over the cap", n);

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        struct text_cursor c = {p, eol};
        t.line_no++;
        p = nl ? nl + 1 : end;
        if ((size_t)(eol - c.p) > t.caps.max_line) {
            rc = text_fail(&t, ST_ETOOBIG, "line too long");
            goto fail;
        }
        text_skip_blanks(&c);
        if (c.p == c.end)
            continue;
        rc = *c.p == '#' ? text_comment(&t, &c) : text_sample(&t, &c);
        if (rc < 0)
            goto fail;
    }
    rc = text_finish_histograms(&t);
    if (rc < 0)
        goto fail;

    struct st_metrics_snapshot *s = st_xcalloc(1, sizeof(*s));
    s->n_families = t.n_fams;
    s->families = st_xcalloc(t.n_fams ? t.n_fams : 1, sizeof(*s->families));
    for (size_t i = 0; i < t.n_fams; i++) {
        s->families[i] = t.fams[i].f;
        memset(&t.fams[i].f, 0, sizeof(t.fams[i].f));
    }
    metrics_snapshot_sort(s);
    text_parser_free(&t);
    *out = s;
    return 0;
fail:
    text_parser_free(&t);
    return rc;
}
