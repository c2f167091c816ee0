/*
 * `strait stat`: the pure parts, unit-tested in test_stat.c: how numbers are
 * accumulated and printed (Linkerd's forms), how an authority is matched to a
 * service, PromQL quoting, and the reading of a Prometheus query answer.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "stat_int.h"
#include "strait/json.h"

/* A Prometheus answer is a few rows per query; this is far above any real one. */
#define STAT_PROM_MAX_BODY ((size_t)16 << 20)
#define STAT_PROM_MAX_DEPTH 16

static const double stat_quantiles[3] = {0.5, 0.95, 0.99};

void
stat_acc_free(struct stat_acc *a)
{
    free(a->buckets);
    a->buckets = NULL;
    a->n_buckets = 0;
}

int
stat_acc_add_buckets(struct stat_acc *a, const struct st_metrics_bucket *b, size_t n)
{
    if (n == 0)
        return 0;
    if (a->buckets == NULL) {
        a->buckets = st_xcalloc(n, sizeof(*a->buckets));
        a->n_buckets = n;
        for (size_t i = 0; i < n; i++)
            a->buckets[i].le = b[i].le;
    }
    if (a->n_buckets != n)
        goto conflict;
    for (size_t i = 0; i < n; i++)
        if (a->buckets[i].le != b[i].le && !(isinf(b[i].le) && isinf(a->buckets[i].le)))
            goto conflict;
    for (size_t i = 0; i < n; i++)
        a->buckets[i].count += b[i].count;
    return 0;

conflict:
    a->conflict = true;
    return ST_ECONFLICT;
}

double
stat_acc_quantile(const struct stat_acc *a, int idx)
{
    if (idx < 0 || idx > 2)
        return NAN;
    if (a->has_quantiles)
        return a->q[idx];
    if (a->buckets == NULL)
        return NAN;
    return st_metrics_quantile(a->buckets, a->n_buckets, stat_quantiles[idx]);
}

void
stat_fmt_success(double success, double total, char out[STAT_CELL])
{
    if (!(total > 0) || isnan(success))
        snprintf(out, STAT_CELL, "-");
    else
        snprintf(out, STAT_CELL, "%.2f%%", 100.0 * success / total);
}

void
stat_fmt_rps(double rps, double total, char out[STAT_CELL])
{
    if (!(total > 0) || !isfinite(rps))
        snprintf(out, STAT_CELL, "-");
    else
        snprintf(out, STAT_CELL, "%.1frps", rps);
}

void
stat_fmt_latency(double ms, double total, char out[STAT_CELL])
{
    /* Linkerd rounds the quantile to whole milliseconds (Go's math.Round). */
    if (!(total > 0) || !isfinite(ms) || ms < 0 || ms > 1e15)
        snprintf(out, STAT_CELL, "-");
    else
        snprintf(out, STAT_CELL, "%lldms", (long long)llround(ms));
}

void
stat_fmt_weight(const json_t *w, char out[STAT_CELL])
{
    if (json_is_string(w))
        snprintf(out, STAT_CELL, "%s", json_string_value(w));
    else if (json_is_integer(w))
        snprintf(out, STAT_CELL, "%lld", (long long)json_integer_value(w));
    else if (json_is_real(w))
        snprintf(out, STAT_CELL, "%g", json_real_value(w));
    else
        snprintf(out, STAT_CELL, "-");
}

void
stat_table_add(struct stat_table *t, const char *const *cells)
{
    t->cells = st_xrealloc(t->cells, (t->n_rows + 1) * t->n_cols * sizeof(*t->cells));
    for (size_t c = 0; c < t->n_cols; c++)
        t->cells[t->n_rows * t->n_cols + c] = st_xstrdup(cells[c] ? cells[c] : "");
    t->n_rows++;
}

/* Appends one line of the table; <cells> has n_cols entries. */
static int
stat_table_line(const struct stat_table *t, const size_t *width, const char *const *cells,
                struct st_buf *out)
{
    struct st_buf line = ST_BUF_INIT(0);
    int rc = 0;

    for (size_t c = 0; c < t->n_cols && rc == 0; c++) {
        size_t len = strlen(cells[c]);
        size_t pad = width[c] - len;
        if (c > 0)
            rc = st_buf_append_str(&line, "   ");
        for (size_t i = 0; t->right[c] && i < pad && rc == 0; i++)
            rc = st_buf_append(&line, " ", 1);
        if (rc == 0)
            rc = st_buf_append(&line, cells[c], len);
        for (size_t i = 0; !t->right[c] && i < pad && rc == 0; i++)
            rc = st_buf_append(&line, " ", 1);
    }
    /* A left-aligned last column leaves padding behind: drop it. */
    while (rc == 0 && line.len > 0 && line.data[line.len - 1] == ' ')
        line.len--;
    if (rc == 0)
        rc = st_buf_append(&line, "\n", 1);
    if (rc == 0)
        rc = st_buf_append(out, line.data, line.len);
    st_buf_free(&line);
    return rc;
}

int
stat_table_render(const struct stat_table *t, struct st_buf *out)
{
    size_t *width = st_xcalloc(t->n_cols, sizeof(*width));
    int rc = 0;

    for (size_t c = 0; c < t->n_cols; c++) {
        width[c] = strlen(t->headers[c]);
        for (size_t r = 0; r < t->n_rows; r++)
            width[c] = ST_MAX(width[c], strlen(t->cells[r * t->n_cols + c]));
    }
    rc = stat_table_line(t, width, t->headers, out);
    for (size_t r = 0; r < t->n_rows && rc == 0; r++)
        rc = stat_table_line(t, width, (const char *const *)&t->cells[r * t->n_cols], out);
    free(width);
    return rc;
}

void
stat_table_free(struct stat_table *t)
{
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->n_rows = 0;
}

/* True when <s> (length <n>) equals the C string <c>. */
static bool
stat_eqn(const char *s, size_t n, const char *c)
{
    return strlen(c) == n && memcmp(s, c, n) == 0;
}

bool
stat_authority_matches(const char *authority, const char *svc, const char *ns,
                       const char *cluster_domain, bool short_ok)
{
    if (authority == NULL || svc == NULL || ns == NULL || *svc == '\0')
        return false;
    size_t n = strlen(authority);
    /* Drop ":port" (digits only); an IPv6 literal never names a service. */
    const char *colon = strrchr(authority, ':');
    if (colon != NULL) {
        size_t digits = strspn(colon + 1, "0123456789");
        if (digits == 0 || colon[1 + digits] != '\0')
            return false;
        n = (size_t)(colon - authority);
    }
    if (n > 0 && authority[n - 1] == '.')
        n--;
    size_t sn = strlen(svc);
    if (n < sn || memcmp(authority, svc, sn) != 0)
        return false;
    const char *rest = authority + sn;
    size_t rn = n - sn;
    if (rn == 0)
        return short_ok;
    if (rest[0] != '.')
        return false;
    rest++;
    rn--;
    size_t nn = strlen(ns);
    if (rn < nn || memcmp(rest, ns, nn) != 0)
        return false;
    rest += nn;
    rn -= nn;
    if (rn == 0 || stat_eqn(rest, rn, ".svc"))
        return true;
    if (rn < 5 || memcmp(rest, ".svc.", 5) != 0 || cluster_domain == NULL)
        return false;
    return stat_eqn(rest + 5, rn - 5, cluster_domain);
}

bool
stat_admin_addr_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 3 || n > 261)
        return false;
    const char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s)
        return false;
    uint64_t port;
    if (st_parse_u64((struct st_str){colon + 1, strlen(colon + 1)}, 65535, &port) < 0 || port == 0)
        return false;
    size_t hn = (size_t)(colon - s);
    if (s[0] == '[') {
        /* An IPv6 literal: "[hex and colons]". */
        if (hn < 3 || s[hn - 1] != ']')
            return false;
        for (size_t i = 1; i + 1 < hn; i++)
            if (!strchr("0123456789abcdefABCDEF:.", s[i]))
                return false;
        return true;
    }
    for (size_t i = 0; i < hn; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* Appends <c> as it must appear inside a PromQL double-quoted string. */
static int
stat_promql_char(char c, struct st_buf *out)
{
    switch (c) {
    case '\\': return st_buf_append_str(out, "\\\\");
    case '"': return st_buf_append_str(out, "\\\"");
    case '\n': return st_buf_append_str(out, "\\n");
    default: return st_buf_append(out, &c, 1);
    }
}

int
stat_promql_quote(const char *s, bool regex, struct st_buf *out)
{
    int rc = 0;

    for (; *s != '\0' && rc == 0; s++) {
        if (regex && strchr("\\.+*?()|[]{}^$", *s) != NULL)
            rc = st_buf_append_str(out, "\\\\"); /* one backslash for RE2 */
        if (rc == 0)
            rc = stat_promql_char(*s, out);
    }
    return rc;
}

int
stat_prom_parse_vector(const char *body, size_t n,
                       void (*fn)(const json_t *metric, double value, void *data), void *data,
                       struct st_err *err)
{
    json_t *root = st_json_load_ex(body, n, STAT_PROM_MAX_BODY, STAT_PROM_MAX_DEPTH, err);
    int rc = 0;

    if (root == NULL)
        return err && err->code ? err->code : ST_EPARSE;
    const char *status = st_json_str(root, "status");
    if (status == NULL || strcmp(status, "success") != 0) {
        const char *msg = st_json_str(root, "error");
        rc = st_err_set(err, ST_EPROTO, "prometheus: %s",
                        msg ? msg : "answer without a success status");
        goto out;
    }
    const char *type = st_json_str(root, "data.resultType");
    json_t *result = st_json_path(root, "data.result");
    if (type == NULL || strcmp(type, "vector") != 0 || !json_is_array(result)) {
        rc = st_err_set(err, ST_EPROTO, "prometheus: expected a vector result, got %s",
                        type ? type : "none");
        goto out;
    }
    size_t i;
    json_t *r;
    json_array_foreach(result, i, r) {
        json_t *metric = json_object_get(r, "metric");
        json_t *value = json_object_get(r, "value");
        const char *text = json_string_value(json_array_get(value, 1));
        if (!json_is_object(metric) || !json_is_array(value) || json_array_size(value) != 2 ||
            text == NULL) {
            rc = st_err_set(err, ST_EPROTO, "prometheus: result %zu is not a sample", i);
            goto out;
        }
        json_t *k;
        const char *key;
        json_object_foreach(metric, key, k) {
            if (!json_is_string(k)) {
                rc = st_err_set(err, ST_EPROTO, "prometheus: label %s of result %zu is not a string",
                                key, i);
                goto out;
            }
        }
        char *end = NULL;
        double v = strtod(text, &end);
        if (end == text || *end != '\0') {
            rc = st_err_set(err, ST_EPROTO, "prometheus: bad sample value in result %zu", i);
            goto out;
        }
        if (fn != NULL)
            fn(metric, v, data);
    }
    rc = (int)ST_MIN(json_array_size(result), (size_t)INT32_MAX);

out:
    json_decref(root);
    return rc;
}
