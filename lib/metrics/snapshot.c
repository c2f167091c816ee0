/*
 * Snapshots: the shared helpers, window subtraction, merging, selection,
 * quantiles and the text exposition.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "metrics_int.h"

/* ---- names, UTF-8, keys ------------------------------------------------- */

static bool
is_alpha_(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool
metrics_valid_metric_name(const char *s, size_t n)
{
    if (n == 0 || !(is_alpha_(s[0]) || s[0] == ':'))
        return false;
    for (size_t i = 1; i < n; i++) {
        if (!(is_alpha_(s[i]) || is_digit(s[i]) || s[i] == ':'))
            return false;
    }
    return true;
}

bool
metrics_valid_label_name(const char *s, size_t n)
{
    if (n == 0 || !is_alpha_(s[0]))
        return false;
    for (size_t i = 1; i < n; i++) {
        if (!(is_alpha_(s[i]) || is_digit(s[i])))
            return false;
    }
    return true;
}

bool
metrics_valid_utf8(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < n) {
        unsigned c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

static int
label_cmp(const void *a, const void *b)
{
    return strcmp(((const struct st_metrics_label *)a)->name,
                  ((const struct st_metrics_label *)b)->name);
}

int
metrics_labels_normalize(struct st_metrics_label *labels, size_t *n)
{
    size_t out = 0;

    if (*n > 1)
        qsort(labels, *n, sizeof(*labels), label_cmp);
    for (size_t i = 1; i < *n; i++) {
        if (strcmp(labels[i].name, labels[i - 1].name) == 0)
            return ST_EPARSE;
    }
    for (size_t i = 0; i < *n; i++) {
        if (labels[i].value[0] == '\0') {
            free(labels[i].name);
            free(labels[i].value);
            continue;
        }
        labels[out++] = labels[i];
    }
    *n = out;
    return 0;
}

char *
metrics_labels_key(const struct st_metrics_label *labels, size_t n)
{
    size_t len = 1;
    char *key, *p;

    for (size_t i = 0; i < n; i++)
        len += strlen(labels[i].name) + strlen(labels[i].value) + 2;
    key = p = st_xmalloc(len);
    for (size_t i = 0; i < n; i++) {
        if (labels[i].value[0] == '\0')
            continue;
        size_t a = strlen(labels[i].name), b = strlen(labels[i].value);
        memcpy(p, labels[i].name, a);
        p += a;
        *p++ = METRICS_KEY_SEP;
        memcpy(p, labels[i].value, b);
        p += b;
        *p++ = METRICS_KEY_SEP;
    }
    *p = '\0';
    return key;
}

void
metrics_format_double(double v, char out[32])
{
    if (isnan(v)) {
        snprintf(out, 32, "NaN");
    } else if (isinf(v)) {
        snprintf(out, 32, "%s", v > 0 ? "+Inf" : "-Inf");
    } else if (v == trunc(v) && fabs(v) < 1e15) {
        snprintf(out, 32, "%.0f", v);
    } else {
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(out, 32, "%.*g", prec, v);
            if (strtod(out, NULL) == v)
                break;
        }
    }
}

/* ---- construction and release ------------------------------------------ */

void
metrics_sample_clear(struct st_metrics_sample *s)
{
    for (size_t i = 0; i < s->n_labels; i++) {
        free(s->labels[i].name);
        free(s->labels[i].value);
    }
    free(s->labels);
    free(s->key);
    free(s->buckets);
    memset(s, 0, sizeof(*s));
}

void
metrics_fam_clear(struct st_metrics_fam *f)
{
    for (size_t i = 0; i < f->n_series; i++)
        metrics_sample_clear(&f->series[i]);
    free(f->series);
    free(f->name);
    free(f->help);
    memset(f, 0, sizeof(*f));
}

void
st_metrics_snapshot_free(struct st_metrics_snapshot *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n_families; i++)
        metrics_fam_clear(&s->families[i]);
    free(s->families);
    free(s);
}

void
metrics_sample_copy(struct st_metrics_sample *dst, const struct st_metrics_sample *src)
{
    *dst = *src;
    dst->labels = st_xcalloc(src->n_labels ? src->n_labels : 1, sizeof(*dst->labels));
    for (size_t i = 0; i < src->n_labels; i++) {
        dst->labels[i].name = st_xstrdup(src->labels[i].name);
        dst->labels[i].value = st_xstrdup(src->labels[i].value);
    }
    dst->key = st_xstrdup(src->key);
    dst->buckets = NULL;
    if (src->n_buckets > 0) {
        dst->buckets = st_xmalloc(src->n_buckets * sizeof(*dst->buckets));
        memcpy(dst->buckets, src->buckets, src->n_buckets * sizeof(*dst->buckets));
    }
}

static int
fam_cmp(const void *a, const void *b)
{
    return strcmp(((const struct st_metrics_fam *)a)->name,
                  ((const struct st_metrics_fam *)b)->name);
}

static int
sample_cmp(const void *a, const void *b)
{
    return strcmp(((const struct st_metrics_sample *)a)->key,
                  ((const struct st_metrics_sample *)b)->key);
}

void
metrics_snapshot_sort(struct st_metrics_snapshot *s)
{
    if (s->n_families > 1)
        qsort(s->families, s->n_families, sizeof(*s->families), fam_cmp);
    for (size_t i = 0; i < s->n_families; i++) {
        struct st_metrics_fam *f = &s->families[i];
        if (f->n_series > 1)
            qsort(f->series, f->n_series, sizeof(*f->series), sample_cmp);
    }
}

/* ---- window and merge ---------------------------------------------------- */

enum combine_op { COMBINE_SUB, COMBINE_ADD };

/* A growing array of samples or families. */
struct fam_out {
    struct st_metrics_fam *v;
    size_t n, cap;
};

static struct st_metrics_fam *
fam_out_push(struct fam_out *o)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 16;
        o->v = st_xrealloc(o->v, o->cap * sizeof(*o->v));
    }
    memset(&o->v[o->n], 0, sizeof(o->v[0]));
    return &o->v[o->n++];
}

static struct st_metrics_sample *
series_push(struct st_metrics_fam *f, size_t *cap)
{
    if (f->n_series == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        f->series = st_xrealloc(f->series, *cap * sizeof(*f->series));
    }
    memset(&f->series[f->n_series], 0, sizeof(f->series[0]));
    return &f->series[f->n_series++];
}

static void
fam_copy(struct st_metrics_fam *dst, const struct st_metrics_fam *src)
{
    dst->name = st_xstrdup(src->name);
    dst->help = st_xstrdup(src->help);
    dst->type = src->type;
    dst->n_series = src->n_series;
    dst->series = st_xcalloc(src->n_series ? src->n_series : 1, sizeof(*dst->series));
    for (size_t i = 0; i < src->n_series; i++)
        metrics_sample_copy(&dst->series[i], &src->series[i]);
}

static bool
same_bounds(const struct st_metrics_sample *a, const struct st_metrics_sample *b)
{
    if (a->n_buckets != b->n_buckets)
        return false;
    for (size_t i = 0; i < a->n_buckets; i++) {
        if (a->buckets[i].le != b->buckets[i].le)
            return false;
    }
    return true;
}

/* The window of one series: <dst> holds a copy of now, <earlier> is subtracted. */
static void
sample_sub(enum st_metrics_type type, struct st_metrics_sample *dst,
           const struct st_metrics_sample *earlier)
{
    if (type == ST_METRICS_COUNTER) {
        if (dst->value >= earlier->value)
            dst->value -= earlier->value;
        return;
    }
    if (type != ST_METRICS_HISTOGRAM || !same_bounds(dst, earlier) || dst->count < earlier->count)
        return;
    for (size_t i = 0; i < dst->n_buckets; i++) {
        if (dst->buckets[i].count < earlier->buckets[i].count)
            return; /* a reset: everything in now happened since */
    }
    for (size_t i = 0; i < dst->n_buckets; i++)
        dst->buckets[i].count -= earlier->buckets[i].count;
    dst->count -= earlier->count;
    dst->sum -= earlier->sum;
}

static int
sample_add(const char *fam, enum st_metrics_type type, struct st_metrics_sample *dst,
           const struct st_metrics_sample *b, struct st_err *err)
{
    switch (type) {
    case ST_METRICS_COUNTER:
    case ST_METRICS_GAUGE:
    case ST_METRICS_UNTYPED:
        dst->value += b->value;
        return 0;
    case ST_METRICS_HISTOGRAM:
        if (!same_bounds(dst, b))
            return st_err_set(err, ST_ECONFLICT, "%s: histograms with different buckets", fam);
        for (size_t i = 0; i < dst->n_buckets; i++)
            dst->buckets[i].count += b->buckets[i].count;
        dst->count += b->count;
        dst->sum += b->sum;
        return 0;
    default:
        return 0; /* quantiles of summaries cannot be added; the first one stays */
    }
}

static int
fam_combine(enum combine_op op, struct st_metrics_fam *dst, const struct st_metrics_fam *a,
            const struct st_metrics_fam *b, struct st_err *err)
{
    size_t i = 0, j = 0, cap = 0;

    dst->name = st_xstrdup(a->name);
    dst->help = st_xstrdup(a->help[0] != '\0' ? a->help : b->help);
    dst->type = a->type;
    while (i < a->n_series || j < b->n_series) {
        int c = i == a->n_series   ? 1
                : j == b->n_series ? -1
                                   : strcmp(a->series[i].key, b->series[j].key);
        if (c > 0 && op == COMBINE_SUB) {
            j++; /* gone since earlier */
            continue;
        }
        struct st_metrics_sample *s = series_push(dst, &cap);
        if (c < 0) {
            metrics_sample_copy(s, &a->series[i++]);
        } else if (c > 0) {
            metrics_sample_copy(s, &b->series[j++]);
        } else {
            metrics_sample_copy(s, &a->series[i++]);
            if (op == COMBINE_SUB) {
                sample_sub(a->type, s, &b->series[j++]);
            } else {
                int rc = sample_add(a->name, a->type, s, &b->series[j++], err);
                if (rc < 0)
                    return rc;
            }
        }
    }
    return 0;
}

static int
snapshot_combine(enum combine_op op, const struct st_metrics_snapshot *a,
                 const struct st_metrics_snapshot *b, struct st_metrics_snapshot **out,
                 struct st_err *err)
{
    struct fam_out o = {0};
    size_t i = 0, j = 0;
    int rc = 0;

    while (i < a->n_families || j < b->n_families) {
        int c = i == a->n_families   ? 1
                : j == b->n_families ? -1
                                     : strcmp(a->families[i].name, b->families[j].name);
        if (c > 0 && op == COMBINE_SUB) {
            j++;
            continue;
        }
        struct st_metrics_fam *f = fam_out_push(&o);
        if (c < 0) {
            fam_copy(f, &a->families[i++]);
        } else if (c > 0) {
            fam_copy(f, &b->families[j++]);
        } else if (a->families[i].type != b->families[j].type) {
            if (op == COMBINE_ADD) {
                rc = st_err_set(err, ST_ECONFLICT, "%s: different types", a->families[i].name);
                goto fail;
            }
            fam_copy(f, &a->families[i]); /* the source changed; now stands alone */
            i++, j++;
        } else {
            rc = fam_combine(op, f, &a->families[i++], &b->families[j++], err);
            if (rc < 0)
                goto fail;
        }
    }
    *out = st_xcalloc(1, sizeof(**out));
    (*out)->families = o.v;
    (*out)->n_families = o.n;
    return 0;
fail:
    for (size_t k = 0; k < o.n; k++)
        metrics_fam_clear(&o.v[k]);
    free(o.v);
    *out = NULL;
    return rc;
}

int
st_metrics_snapshot_sub(const struct st_metrics_snapshot *now,
                        const struct st_metrics_snapshot *earlier, struct st_metrics_snapshot **out,
                        struct st_err *err)
{
    if (earlier->time_ms > now->time_ms) {
        *out = NULL;
        return st_err_set(err, ST_EINVAL, "the earlier snapshot is later than now");
    }
    int rc = snapshot_combine(COMBINE_SUB, now, earlier, out, err);
    if (rc == 0)
        (*out)->time_ms = now->time_ms - earlier->time_ms;
    return rc;
}

int
st_metrics_snapshot_add(const struct st_metrics_snapshot *a, const struct st_metrics_snapshot *b,
                        struct st_metrics_snapshot **out, struct st_err *err)
{
    int rc = snapshot_combine(COMBINE_ADD, a, b, out, err);
    if (rc == 0)
        (*out)->time_ms = ST_MAX(a->time_ms, b->time_ms);
    return rc;
}

/* ---- selection ------------------------------------------------------------ */

const struct st_metrics_fam *
st_metrics_snapshot_find(const struct st_metrics_snapshot *s, const char *name)
{
    size_t lo = 0, hi = s->n_families;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->families[mid].name, name);
        if (c == 0)
            return &s->families[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const struct st_metrics_sample *
st_metrics_fam_find(const struct st_metrics_fam *f, const struct st_metrics_label *labels, size_t n)
{
    struct st_metrics_label *sorted = st_xcalloc(n ? n : 1, sizeof(*sorted));
    const struct st_metrics_sample *found = NULL;

    memcpy(sorted, labels, n * sizeof(*sorted));
    if (n > 1)
        qsort(sorted, n, sizeof(*sorted), label_cmp);
    char *key = metrics_labels_key(sorted, n);
    size_t lo = 0, hi = f->n_series;
    while (lo < hi && found == NULL) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->series[mid].key, key);
        if (c == 0)
            found = &f->series[mid];
        else if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    free(key);
    free(sorted);
    return found;
}

const char *
st_metrics_sample_label(const struct st_metrics_sample *s, const char *name)
{
    for (size_t i = 0; i < s->n_labels; i++) {
        if (strcmp(s->labels[i].name, name) == 0)
            return s->labels[i].value;
    }
    return NULL;
}

bool
st_metrics_sample_matches(const struct st_metrics_sample *s, const struct st_metrics_match *m,
                          size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *have = st_metrics_sample_label(s, m[i].name);
        const char *want = m[i].value ? m[i].value : "";
        if (want[0] == '\0' ? have != NULL : have == NULL || strcmp(have, want) != 0)
            return false;
    }
    return true;
}

double
st_metrics_fam_sum(const struct st_metrics_fam *f, const struct st_metrics_match *m, size_t n)
{
    double total = 0;

    for (size_t i = 0; i < f->n_series; i++) {
        const struct st_metrics_sample *s = &f->series[i];
        if (st_metrics_sample_matches(s, m, n))
            total += f->type == ST_METRICS_HISTOGRAM ? s->count : s->value;
    }
    return total;
}

int
st_metrics_fam_histogram(const struct st_metrics_fam *f, const struct st_metrics_match *m, size_t n,
                         struct st_metrics_hist *out)
{
    int added = 0;

    if (f->type != ST_METRICS_HISTOGRAM)
        return ST_EINVAL;
    for (size_t i = 0; i < f->n_series; i++) {
        const struct st_metrics_sample *s = &f->series[i];
        if (!st_metrics_sample_matches(s, m, n))
            continue;
        if (out->n_buckets == 0) {
            out->n_buckets = s->n_buckets;
            out->buckets = st_xcalloc(s->n_buckets ? s->n_buckets : 1, sizeof(*out->buckets));
            for (size_t k = 0; k < s->n_buckets; k++)
                out->buckets[k].le = s->buckets[k].le;
        }
        if (out->n_buckets != s->n_buckets)
            return ST_ECONFLICT;
        for (size_t k = 0; k < s->n_buckets; k++) {
            if (out->buckets[k].le != s->buckets[k].le)
                return ST_ECONFLICT;
        }
        for (size_t k = 0; k < s->n_buckets; k++)
            out->buckets[k].count += s->buckets[k].count;
        out->sum += s->sum;
        out->count += s->count;
        added++;
    }
    return added;
}

void
st_metrics_hist_free(struct st_metrics_hist *h)
{
    if (h == NULL)
        return;
    free(h->buckets);
    memset(h, 0, sizeof(*h));
}

double
st_metrics_quantile(const struct st_metrics_bucket *b, size_t n, double q)
{
    if (isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    if (n < 2 || !(isinf(b[n - 1].le) && b[n - 1].le > 0))
        return NAN;

    /* Counts are made monotonic first, as Prometheus does for scraped data. */
    double observations = 0;
    for (size_t i = 0; i < n; i++)
        observations = b[i].count > observations ? b[i].count : observations;
    if (!(observations > 0))
        return NAN;

    double rank = q * observations, prev = 0, cur = 0;
    size_t i = 0;
    for (; i < n; i++) {
        cur = b[i].count > prev ? b[i].count : prev;
        if (cur >= rank)
            break;
        prev = cur;
    }
    if (i >= n - 1)
        return b[n - 2].le;
    if (i == 0 && b[0].le <= 0)
        return b[0].le;
    double start = i > 0 ? b[i - 1].le : 0, end = b[i].le;
    return start + (end - start) * ((rank - prev) / (cur - prev));
}

/* ---- rendering ------------------------------------------------------------- */

static int
render_escaped(struct st_buf *out, const char *s, bool quote)
{
    int rc = 0;

    for (const char *run = s;; s++) {
        const char *esc = NULL;
        if (*s == '\\')
            esc = "\\\\";
        else if (*s == '\n')
            esc = "\\n";
        else if (*s == '"' && quote)
            esc = "\\\"";
        else if (*s != '\0')
            continue;
        if (s > run)
            rc = rc < 0 ? rc : st_buf_append(out, run, (size_t)(s - run));
        if (esc == NULL)
            return rc;
        rc = rc < 0 ? rc : st_buf_append_str(out, esc);
        run = s + 1;
    }
}

/* Writes `name{labels[,le="x"]} value`; <le> may be NULL. */
static int
render_line(struct st_buf *out, const char *name, const char *suffix,
            const struct st_metrics_sample *s, const char *le, double v)
{
    char num[32];
    int rc = st_buf_append_str(out, name);

    rc = rc < 0 ? rc : st_buf_append_str(out, suffix);
    if (rc == 0 && (s->n_labels > 0 || le != NULL)) {
        rc = st_buf_append_str(out, "{");
        for (size_t i = 0; i < s->n_labels && rc == 0; i++) {
            rc = st_buf_appendf(out, "%s%s=\"", i ? "," : "", s->labels[i].name);
            rc = rc < 0 ? rc : render_escaped(out, s->labels[i].value, true);
            rc = rc < 0 ? rc : st_buf_append_str(out, "\"");
        }
        if (rc == 0 && le != NULL)
            rc = st_buf_appendf(out, "%sle=\"%s\"", s->n_labels ? "," : "", le);
        rc = rc < 0 ? rc : st_buf_append_str(out, "}");
    }
    metrics_format_double(v, num);
    return rc < 0 ? rc : st_buf_appendf(out, " %s\n", num);
}

static const char *
type_name(enum st_metrics_type t)
{
    switch (t) {
    case ST_METRICS_COUNTER:
        return "counter";
    case ST_METRICS_GAUGE:
        return "gauge";
    case ST_METRICS_HISTOGRAM:
        return "histogram";
    case ST_METRICS_SUMMARY:
        return "summary";
    default:
        return "untyped";
    }
}

static int
render_fam(struct st_buf *out, const struct st_metrics_fam *f)
{
    int rc = 0;

    if (f->help[0] != '\0') {
        rc = st_buf_appendf(out, "# HELP %s ", f->name);
        rc = rc < 0 ? rc : render_escaped(out, f->help, false);
        rc = rc < 0 ? rc : st_buf_append_str(out, "\n");
    }
    rc = rc < 0 ? rc : st_buf_appendf(out, "# TYPE %s %s\n", f->name, type_name(f->type));
    for (size_t i = 0; i < f->n_series && rc == 0; i++) {
        const struct st_metrics_sample *s = &f->series[i];
        if (f->type != ST_METRICS_HISTOGRAM) {
            rc = render_line(out, f->name, "", s, NULL, s->value);
            continue;
        }
        for (size_t k = 0; k < s->n_buckets && rc == 0; k++) {
            char le[32];
            metrics_format_double(s->buckets[k].le, le);
            rc = render_line(out, f->name, "_bucket", s, le, s->buckets[k].count);
        }
        rc = rc < 0 ? rc : render_line(out, f->name, "_sum", s, NULL, s->sum);
        rc = rc < 0 ? rc : render_line(out, f->name, "_count", s, NULL, s->count);
    }
    return rc;
}

int
st_metrics_snapshot_render(const struct st_metrics_snapshot *s, struct st_buf *out)
{
    size_t start = out->len;
    int rc = 0;

    for (size_t i = 0; i < s->n_families && rc == 0; i++)
        rc = render_fam(out, &s->families[i]);
    if (rc < 0 && out->data != NULL) {
        out->len = start; /* leave <out> as it was */
        out->data[start] = '\0';
    }
    return rc;
}
