/*
 * strait stat: traffic statistics of TrafficSplits, Services and workloads,
 * printed like Linkerd's `linkerd stat` (docs/stat.md).
 *
 *   strait [--context NAME] stat ts|svc|workloads [-n NS] [--window 1m] [-o table|json]
 *                                [--prometheus URL]
 *
 * By default the numbers come from the meshed proxies themselves: the
 * ExternalWorkloads name their admin servers (annotation strait.io/proxy-admin),
 * each proxy's window is read (or two scrapes are subtracted), and the windows
 * are added up exactly: counters summed, histogram buckets added, quantiles
 * taken from the merged buckets. With --prometheus the same numbers come from
 * PromQL queries.
 */
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "cli.h"
#include "local.h"
#include "stat_int.h"
#include "stat_record.h"
#include "strait/json.h"
#include "strait/kube.h"

#define STAT_ADMIN_ANNOTATION "strait.io/proxy-admin"
#define STAT_CLUSTER_DOMAIN "cluster.local"
#define STAT_DEFAULT_WINDOW "1m"
#define STAT_SCRAPE_TIMEOUT_MS 2000
#define STAT_PROM_TIMEOUT_MS 10000
#define STAT_MIN_WINDOW_MS 100
#define STAT_MAX_WINDOW_MS (24ull * 3600 * 1000)
#define STAT_MAX_RECORDS 10000 /* exec records read by one stat ts */

enum stat_kind { STAT_TS, STAT_SVC, STAT_WL };

struct stat_opts {
    enum stat_kind kind;
    const char *ns;
    uint64_t window_ms;
    bool json;
    const char *prometheus;
    /* The local cluster the context points at, or NULL: where exec clients run and leave
       their records. */
    const struct local_cluster *local;
};

/* One row of output: a TrafficSplit leaf, a Service or a workload. */
struct stat_row {
    char *name;
    /* TrafficSplit rows. */
    char *apex, *leaf;
    json_t *weight; /* a new reference */
    /* Service and workload rows. */
    char *meshed;
    json_t *workloads; /* array of workload names (strings); a new reference */
    struct stat_acc acc;
};

struct stat_rows {
    struct stat_row *v;
    size_t n;
};

static struct stat_row *
stat_rows_add(struct stat_rows *r)
{
    r->v = st_xrealloc(r->v, (r->n + 1) * sizeof(*r->v));
    memset(&r->v[r->n], 0, sizeof(r->v[r->n]));
    return &r->v[r->n++];
}

static void
stat_rows_free(struct stat_rows *r)
{
    for (size_t i = 0; i < r->n; i++) {
        struct stat_row *w = &r->v[i];
        free(w->name);
        free(w->apex);
        free(w->leaf);
        free(w->meshed);
        json_decref(w->weight);
        json_decref(w->workloads);
        stat_acc_free(&w->acc);
    }
    free(r->v);
    r->v = NULL;
    r->n = 0;
}

static int
stat_row_cmp(const void *a, const void *b)
{
    const struct stat_row *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c == 0 && x->leaf != NULL && y->leaf != NULL)
        c = strcmp(x->leaf, y->leaf);
    return c;
}

static void
stat_usage(FILE *f)
{
    fputs("Usage:\n"
          "  strait stat ts|svc|workloads [-n NAMESPACE] [--window 1m] [-o table|json]\n"
          "                               [--prometheus URL]\n\n"
          "Resources:\n"
          "  ts, trafficsplits    one row per leaf of each TrafficSplit: what the namespace's\n"
          "                       clients sent to the apex and the split sent to that leaf\n"
          "  svc, services        one row per Service: inbound traffic of its workloads\n"
          "  wl, workloads        one row per workload (ExternalWorkload): its inbound traffic\n\n"
          "Flags:\n"
          "  -n, --namespace NS   the namespace (default: the context's)\n"
          "  -w, --window DUR     the time window, a Go duration (default 1m)\n"
          "  -o, --output FMT     table (default) or json\n"
          "      --prometheus URL ask this Prometheus instead of the proxies\n\n"
          "Without --prometheus the proxies named by the ExternalWorkloads' annotation\n"
          STAT_ADMIN_ANNOTATION " are read; a proxy that serves no window is scraped\n"
          "twice, --window apart. See docs/stat.md.\n",
          f);
}

/* ---- Kubernetes ------------------------------------------------------------ */

/* Lists a collection; *items is a new reference to its items array. */
static int
stat_list(struct st_kube_client *c, const char *group, const char *version, const char *resource,
          const char *ns, json_t **items, struct st_err *err)
{
    char *path = st_kube_path(group, version, resource, ns, NULL);
    struct st_kube_list_opts lo = {.max_items = 100000};
    json_t *list = NULL;
    int rc = st_kube_list(c, path, &lo, &list, err);

    free(path);
    *items = NULL;
    if (rc < 0)
        return rc;
    json_t *arr = json_object_get(list, "items");
    *items = json_is_array(arr) ? json_incref(arr) : json_array();
    json_decref(list);
    return 0;
}

/* Adds the proxies named by the ExternalWorkloads of <items> to <out>. */
static void
stat_collect_proxies(const json_t *items, struct stat_proxy **out, size_t *n)
{
    static const char *const seg[] = {"metadata", "annotations", STAT_ADMIN_ANNOTATION};
    size_t i;
    json_t *ew;

    json_array_foreach(items, i, ew) {
        const char *ns = st_json_str(ew, "metadata.namespace");
        const char *name = st_json_str(ew, "metadata.name");
        const char *admin = st_json_strv(ew, seg, ST_ARRAY_LEN(seg));
        if (ns == NULL || name == NULL || admin == NULL)
            continue;
        if (!stat_admin_addr_valid(admin)) {
            fprintf(stderr, "warning: workload %s/%s: %s \"%.64s\" is not host:port; skipped\n",
                    ns, name, STAT_ADMIN_ANNOTATION, admin);
            continue;
        }
        *out = st_xrealloc(*out, (*n + 1) * sizeof(**out));
        (*out)[*n] = (struct stat_proxy){st_xstrdup(ns), st_xstrdup(name), st_xstrdup(admin),
                                         NULL, 0};
        (*n)++;
    }
}

/* True when every key of the Service selector <sel> has the same value in <labels>. */
static bool
stat_selector_matches(const json_t *sel, const json_t *labels)
{
    const char *k;
    json_t *v;

    if (!json_is_object(sel) || json_object_size(sel) == 0)
        return false;
    json_object_foreach((json_t *)sel, k, v) {
        const char *have = json_string_value(json_object_get(labels, k));
        if (have == NULL || !json_is_string(v) || strcmp(have, json_string_value(v)) != 0)
            return false;
    }
    return true;
}

static bool
stat_is_meshed(const json_t *ew)
{
    static const char *const seg[] = {"metadata", "annotations", STAT_ADMIN_ANNOTATION};
    return stat_admin_addr_valid(st_json_strv(ew, seg, ST_ARRAY_LEN(seg)));
}

/* ---- accumulating proxy windows ---------------------------------------------- */

/* What a series must carry to count for a row. */
struct stat_pred {
    bool outbound;
    /* Outbound (TrafficSplit leaf): the split's namespace, apex and leaf. */
    const char *ns, *apex, *leaf;
    bool short_ok; /* the client lives in <ns>, so a bare "apex" names it */
};

static bool
stat_pred_matches(const struct stat_pred *p, const struct st_metrics_sample *s)
{
    const char *dir = st_metrics_sample_label(s, "direction");
    if (!p->outbound)
        return dir != NULL && strcmp(dir, "inbound") == 0;
    if (dir == NULL || strcmp(dir, "outbound") != 0)
        return false;
    const char *svc = st_metrics_sample_label(s, "dst_service");
    const char *dns = st_metrics_sample_label(s, "dst_namespace");
    if (svc == NULL || strcmp(svc, p->leaf) != 0 || (dns != NULL && strcmp(dns, p->ns) != 0))
        return false;
    return stat_authority_matches(st_metrics_sample_label(s, "authority"), p->apex, p->ns,
                                  STAT_CLUSTER_DOMAIN, p->short_ok);
}

/* Adds what <p>'s window holds for <pred> to <a>. */
static void
stat_acc_window(struct stat_acc *a, const struct stat_proxy *p, const struct stat_pred *pred)
{
    const struct st_metrics_fam *f;
    double count = 0;

    if (p->window == NULL)
        return;
    f = st_metrics_snapshot_find(p->window, "response_total");
    for (size_t i = 0; f != NULL && i < f->n_series; i++) {
        const struct st_metrics_sample *s = &f->series[i];
        if (!stat_pred_matches(pred, s) || !isfinite(s->value))
            continue;
        const char *cls = st_metrics_sample_label(s, "classification");
        count += s->value;
        if (cls != NULL && strcmp(cls, "success") == 0)
            a->success += s->value;
    }
    a->total += count;
    if (p->window_s > 0)
        a->rps += count / p->window_s;

    f = st_metrics_snapshot_find(p->window, "response_latency_ms");
    for (size_t i = 0; f != NULL && f->type == ST_METRICS_HISTOGRAM && i < f->n_series; i++) {
        const struct st_metrics_sample *s = &f->series[i];
        if (stat_pred_matches(pred, s) &&
            stat_acc_add_buckets(a, s->buckets, s->n_buckets) == ST_ECONFLICT)
            fprintf(stderr,
                    "warning: proxy %s/%s: response_latency_ms has other buckets; left out\n",
                    p->ns, p->name);
    }

    if (pred->outbound)
        return;
    f = st_metrics_snapshot_find(p->window, "tcp_open_connections");
    for (size_t i = 0; f != NULL && i < f->n_series; i++) {
        const struct st_metrics_sample *s = &f->series[i];
        const char *peer = st_metrics_sample_label(s, "peer");
        if (stat_pred_matches(pred, s) && peer != NULL && strcmp(peer, "src") == 0 &&
            isfinite(s->value)) {
            a->tcp_conn += s->value;
            a->has_tcp = true;
        }
    }
}

/* Adds <src> to <dst> (a Service summed over its workloads). */
static void
stat_acc_merge(struct stat_acc *dst, const struct stat_acc *src)
{
    dst->total += src->total;
    dst->success += src->success;
    dst->rps += src->rps;
    dst->tcp_conn += src->tcp_conn;
    dst->has_tcp |= src->has_tcp;
    if (src->buckets != NULL && stat_acc_add_buckets(dst, src->buckets, src->n_buckets) < 0)
        fprintf(stderr, "warning: workloads with different latency buckets; some left out\n");
}

/* ---- exec clients: running ones and the records of finished ones ---------------------- */

/* The records of finished exec clients that one stat ts reads. */
struct stat_recs {
    struct stat_record *v;
    size_t n;
};

static void
stat_recs_free(struct stat_recs *r)
{
    for (size_t i = 0; i < r->n; i++)
        stat_record_free(&r->v[i]);
    free(r->v);
    r->v = NULL;
    r->n = 0;
}

/* Reads the record files of the namespace directory <dir> (namespace <ns>) into <out>. */
static void
stat_read_ns_records(const char *dir, const char *ns, struct stat_recs *out)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    struct st_buf b = ST_BUF_INIT(STAT_RECORD_MAX_BYTES);

    while (d != NULL && (e = readdir(d)) != NULL) {
        struct stat st;
        struct stat_record rec = {0};
        struct st_err err = {0};
        if (e->d_name[0] == '.' || !st_str_has_suffix(e->d_name, ".json"))
            continue;
        /* Only regular files: a FIFO would block the read, a symlink could lead anywhere. */
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (out->n >= STAT_MAX_RECORDS) {
            fprintf(stderr, "warning: more than %d exec records; the others are left out\n",
                    STAT_MAX_RECORDS);
            break;
        }
        char *path = local_path(dir, "%s", e->d_name);
        int rc = st_file_read(path, &b);
        if (rc < 0)
            st_err_set(&err, rc, "%s", st_strerror(rc));
        else
            rc = stat_record_parse(st_buf_cstr(&b), b.len, &rec, &err);
        if (rc == 0 && strcmp(rec.ns, ns) != 0) {
            rc = st_err_set(&err, ST_EINVAL, "it names namespace %s", rec.ns);
            stat_record_free(&rec);
        }
        if (rc < 0) {
            fprintf(stderr, "warning: exec record %s: %s; skipped\n", path, err.msg);
        } else {
            out->v = st_xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
            out->v[out->n++] = rec;
        }
        free(path);
    }
    if (d != NULL)
        closedir(d);
    st_buf_free(&b);
}

/*
 * Reads the records that finished exec clients of cluster <c> left in
 * clusters/NAME/stats/NS/ (every namespace: clients may live anywhere),
 * after pruning those older than the longest window. A damaged record is
 * skipped with a warning.
 */
static void
stat_read_records(const struct local_cluster *c, struct stat_recs *out)
{
    char *base = local_path(c->dir, "stats");
    DIR *d = opendir(base);
    struct dirent *e;
    uint64_t now = stat_record_wall_ms();

    while (d != NULL && (e = readdir(d)) != NULL && out->n < STAT_MAX_RECORDS) {
        if (!local_name_ok(e->d_name))
            continue;
        char *dir = local_path(base, "%s", e->d_name);
        stat_record_prune(dir, now);
        stat_read_ns_records(dir, e->d_name, out);
        free(dir);
    }
    if (d != NULL)
        closedir(d);
    free(base);
}

/* True when <recs> holds the record of the exec client of state file <x> (it has ended). */
static bool
stat_exec_has_record(const struct stat_recs *recs, const json_t *x)
{
    const char *name = st_json_str(x, "name"), *started = st_json_str(x, "started");
    int64_t t;

    if (name == NULL || started == NULL || st_parse_rfc3339(started, &t) < 0 || t < 0)
        return false;
    for (size_t i = 0; i < recs->n; i++) {
        int64_t d = (int64_t)(recs->v[i].start_ms / 1000) - t;
        if (strcmp(recs->v[i].client, name) == 0 && d >= -5 && d <= 5)
            return true; /* the same pid and start: that client, not a reused pid */
    }
    return false;
}

/*
 * Adds the proxies of the plain exec clients running in cluster <c> (state
 * files of kind "exec") to <out>, except those whose record is in <recs>.
 */
static void
stat_collect_exec_proxies(const struct local_cluster *c, const struct stat_recs *recs,
                          struct stat_proxy **out, size_t *n)
{
    json_t *ws = NULL, *x;
    size_t i;

    if (local_workloads(c, NULL, false, &ws, NULL) < 0)
        return;
    json_array_foreach(ws, i, x) {
        const char *kind = st_json_str(x, "kind"), *addr = st_json_str(x, "address");
        const char *ns = st_json_str(x, "namespace"), *name = st_json_str(x, "name");
        char admin[64];
        if (kind == NULL || strcmp(kind, "exec") != 0 || addr == NULL || ns == NULL ||
            name == NULL || stat_exec_has_record(recs, x))
            continue;
        snprintf(admin, sizeof(admin), "%.40s:4191", addr);
        if (!stat_admin_addr_valid(admin))
            continue;
        *out = st_xrealloc(*out, (*n + 1) * sizeof(**out));
        (*out)[*n] = (struct stat_proxy){st_xstrdup(ns), st_xstrdup(name), st_xstrdup(admin),
                                         NULL, 0};
        (*n)++;
    }
    json_decref(ws);
}

/*
 * The local cluster <cfg> points at: its context names a cluster under
 * $STRAIT_HOME and its server is that cluster's apiserver (a remote context
 * that happens to share the name is not one). Fills <out> and returns true.
 */
static bool
stat_local_cluster(const struct st_kube_config *cfg, struct local_cluster *out)
{
    char want[64];
    char *home;
    int rc;

    memset(out, 0, sizeof(*out));
    if (cfg->context == NULL || !local_name_ok(cfg->context))
        return false;
    home = local_home();
    rc = local_cluster_load(home, cfg->context, out, NULL);
    free(home);
    if (rc < 0)
        return false;
    snprintf(want, sizeof(want), "https://127.%d.0.1:6443", out->number);
    if (cfg->server == NULL || strcmp(cfg->server, want) != 0) {
        local_cluster_free(out);
        return false;
    }
    return true;
}

/* ---- Prometheus ------------------------------------------------------------------ */

/* Maps a result's grouping label value to the accumulator it belongs to. */
struct stat_prom_ctx {
    struct stat_rows *rows;
    size_t first, n; /* the rows this query answers for */
    const char *by;  /* grouping label, or NULL: every result goes to rows[first] */
    double window_s;
    int what; /* 0 counts, 1..3 quantiles, 4 tcp */
};

static struct stat_acc *
stat_prom_lookup(struct stat_prom_ctx *c, const json_t *metric)
{
    if (c->by == NULL)
        return c->n > 0 ? &c->rows->v[c->first].acc : NULL;
    const char *v = json_string_value(json_object_get(metric, c->by));
    for (size_t i = c->first; v != NULL && i < c->first + c->n; i++) {
        const struct stat_row *r = &c->rows->v[i];
        if (strcmp(r->leaf ? r->leaf : r->name, v) == 0)
            return &c->rows->v[i].acc;
    }
    return NULL;
}

static void
stat_prom_result(const json_t *metric, double value, void *data)
{
    struct stat_prom_ctx *c = data;
    struct stat_acc *a = stat_prom_lookup(c, metric);

    if (a == NULL || (isnan(value) && c->what == 0))
        return;
    if (c->what == 0) {
        const char *cls = json_string_value(json_object_get(metric, "classification"));
        a->total += value;
        if (cls != NULL && strcmp(cls, "success") == 0)
            a->success += value;
        a->rps += value / c->window_s;
    } else if (c->what <= 3) {
        a->q[c->what - 1] = value;
    } else {
        a->tcp_conn += value;
        a->has_tcp = true;
    }
}

/*
 * Fills rows [first, first+n) from Prometheus. <sel> are one or two series
 * selectors (without braces) whose union is wanted; <by> the label that
 * names the row (NULL: all results are one row); <tcp> asks for the open
 * inbound connections too.
 */
static int
stat_prom_fill(const struct stat_opts *o, struct stat_rows *rows, size_t first, size_t n,
               const char *const *sel, size_t n_sel, const char *by, bool tcp, struct st_err *err)
{
    static const char *const qs[3] = {"0.5", "0.95", "0.99"};
    struct stat_prom_ctx ctx = {rows, first, n, by, (double)o->window_ms / 1000.0, 0};
    char win[32];
    struct st_buf q = ST_BUF_INIT(1 << 20);
    int rc = 0;

    snprintf(win, sizeof(win), "%llums", (unsigned long long)o->window_ms);
    for (size_t i = first; i < first + n; i++) {
        rows->v[i].acc.has_quantiles = true;
        for (int k = 0; k < 3; k++)
            rows->v[i].acc.q[k] = NAN;
    }
    for (int what = 0; what <= (tcp ? 4 : 3) && rc >= 0; what++) {
        st_buf_reset(&q);
        if (what == 4) {
            rc = st_buf_appendf(&q, "sum(tcp_open_connections{%s,peer=\"src\"})", sel[0]);
            if (rc == 0 && by != NULL)
                rc = st_buf_appendf(&q, " by (%s)", by);
        } else {
            const char *fn = what == 0 ? "increase" : "rate";
            const char *metric = what == 0 ? "response_total" : "response_latency_ms_bucket";
            if (what > 0)
                rc = st_buf_appendf(&q, "histogram_quantile(%s, ", qs[what - 1]);
            if (rc == 0)
                rc = st_buf_append_str(&q, "sum(");
            for (size_t s = 0; s < n_sel && rc == 0; s++)
                rc = st_buf_appendf(&q, "%s%s(%s{%s}[%s])", s ? " or " : "", fn, metric, sel[s],
                                    win);
            if (rc == 0)
                rc = st_buf_appendf(&q, ") by (%s%s%s)", what == 0 ? "classification" : "le",
                                    by ? ", " : "", by ? by : "");
            if (rc == 0 && what > 0)
                rc = st_buf_append_str(&q, ")");
        }
        if (rc < 0) {
            rc = st_err_set(err, rc, "query too long");
            break;
        }
        ctx.what = what;
        rc = stat_prom_query(o->prometheus, q.data, STAT_PROM_TIMEOUT_MS, stat_prom_result, &ctx,
                             err);
    }
    st_buf_free(&q);
    return rc < 0 ? rc : 0;
}

/* Appends "a|b|c" with each name quoted for a regex. */
static int
stat_regex_alt(const json_t *names, struct st_buf *out)
{
    size_t i;
    json_t *v;
    int rc = 0;

    json_array_foreach(names, i, v) {
        if (i > 0)
            rc = st_buf_append_str(out, "|");
        if (rc == 0)
            rc = stat_promql_quote(json_string_value(v), true, out);
        if (rc < 0)
            break;
    }
    return rc;
}

/* ---- the three resources ------------------------------------------------------------ */

/* Reads the TrafficSplits of o->ns into rows (one per leaf). */
static int
stat_ts_rows(struct st_kube_client *c, const struct stat_opts *o, struct stat_rows *rows,
             struct st_err *err)
{
    json_t *items = NULL;
    int rc = stat_list(c, "split.smi-spec.io", "v1alpha2", "trafficsplits", o->ns, &items, err);

    if (rc == ST_ENOTFOUND) /* a cluster that only serves v1alpha1 */
        rc = stat_list(c, "split.smi-spec.io", "v1alpha1", "trafficsplits", o->ns, &items, err);
    if (rc == ST_ENOTFOUND) {
        st_err_clear(err);
        return 0; /* no TrafficSplit CRD: no TrafficSplits */
    }
    if (rc < 0)
        return rc;
    size_t i;
    json_t *ts;
    json_array_foreach(items, i, ts) {
        const char *name = st_json_str(ts, "metadata.name");
        const char *apex = st_json_str(ts, "spec.service");
        json_t *backends = st_json_path(ts, "spec.backends");
        size_t j;
        json_t *b;
        if (name == NULL || apex == NULL || !json_is_array(backends))
            continue;
        json_array_foreach(backends, j, b) {
            const char *leaf = st_json_str(b, "service");
            if (leaf == NULL)
                continue;
            struct stat_row *r = stat_rows_add(rows);
            r->name = st_xstrdup(name);
            r->apex = st_xstrdup(apex);
            r->leaf = st_xstrdup(leaf);
            json_t *w = json_object_get(b, "weight");
            r->weight = w ? json_incref(w) : json_null();
        }
    }
    json_decref(items);
    if (rows->n > 1)
        qsort(rows->v, rows->n, sizeof(*rows->v), stat_row_cmp);
    return 0;
}

/* Lists the ExternalWorkloads a TrafficSplit's clients may be: every namespace if allowed. */
static int
stat_ts_clients(struct st_kube_client *c, const struct stat_opts *o, json_t **items,
                struct st_err *err)
{
    int rc = stat_list(c, "workload.strait.io", "v1beta1", "externalworkloads", NULL, items, err);

    if (rc == ST_EAUTH) {
        fprintf(stderr, "warning: cannot list workloads in all namespaces (%s); reading the "
                        "clients in %s only\n",
                err->msg, o->ns);
        st_err_clear(err);
        rc = stat_list(c, "workload.strait.io", "v1beta1", "externalworkloads", o->ns, items, err);
    }
    if (rc == ST_ENOTFOUND) {
        st_err_clear(err);
        *items = json_array();
        rc = 0;
    }
    return rc;
}

static int
stat_ts_fill(struct st_kube_client *c, const struct stat_opts *o, struct stat_rows *rows,
             struct st_err *err)
{
    int rc = 0;

    if (o->prometheus != NULL) {
        struct st_buf a = ST_BUF_INIT(1 << 16), b = ST_BUF_INIT(1 << 16);
        for (size_t i = 0; i < rows->n && rc >= 0;) {
            size_t j = i;
            while (j < rows->n && strcmp(rows->v[j].name, rows->v[i].name) == 0)
                j++;
            /* Fully qualified forms from any client; the bare apex from the namespace's own. */
            st_buf_reset(&a);
            st_buf_reset(&b);
            rc = st_buf_append_str(&a, "direction=\"outbound\",dst_namespace=\"");
            rc = rc ? rc : stat_promql_quote(o->ns, false, &a);
            rc = rc ? rc : st_buf_append(&b, a.data, a.len);
            rc = rc ? rc : st_buf_append_str(&a, "\",authority=~\"");
            rc = rc ? rc : stat_promql_quote(rows->v[i].apex, true, &a);
            rc = rc ? rc : st_buf_append_str(&a, "\\\\.");
            rc = rc ? rc : stat_promql_quote(o->ns, true, &a);
            rc = rc ? rc : st_buf_append_str(&a, "(\\\\.svc(\\\\.");
            rc = rc ? rc : stat_promql_quote(STAT_CLUSTER_DOMAIN, true, &a);
            rc = rc ? rc : st_buf_append_str(&a, ")?)?\\\\.?(:[0-9]+)?\"");
            rc = rc ? rc : st_buf_append_str(&b, "\",namespace=\"");
            rc = rc ? rc : stat_promql_quote(o->ns, false, &b);
            rc = rc ? rc : st_buf_append_str(&b, "\",authority=~\"");
            rc = rc ? rc : stat_promql_quote(rows->v[i].apex, true, &b);
            rc = rc ? rc : st_buf_append_str(&b, "\\\\.?(:[0-9]+)?\"");
            if (rc < 0) {
                rc = st_err_set(err, rc, "query too long");
                break;
            }
            const char *sel[2] = {a.data, b.data};
            rc = stat_prom_fill(o, rows, i, j - i, sel, 2, "dst_service", false, err);
            i = j;
        }
        st_buf_free(&a);
        st_buf_free(&b);
        return rc;
    }

    json_t *items = NULL;
    struct stat_proxy *px = NULL;
    struct stat_recs recs = {0};
    size_t n_px = 0;
    rc = stat_ts_clients(c, o, &items, err);
    if (rc < 0)
        return rc;
    stat_collect_proxies(items, &px, &n_px);
    json_decref(items);
    if (o->local != NULL) {
        stat_read_records(o->local, &recs);
        stat_collect_exec_proxies(o->local, &recs, &px, &n_px);
    }
    if (n_px == 0 && recs.n == 0)
        fprintf(stderr, "warning: no meshed workloads found; no traffic to show\n");
    stat_scrape_windows(px, n_px, o->window_ms, STAT_SCRAPE_TIMEOUT_MS);
    uint64_t now = stat_record_wall_ms();
    for (size_t r = 0; r < rows->n; r++) {
        for (size_t i = 0; i < n_px; i++) {
            struct stat_pred pred = {true, o->ns, rows->v[r].apex, rows->v[r].leaf,
                                     strcmp(px[i].ns, o->ns) == 0};
            stat_acc_window(&rows->v[r].acc, &px[i], &pred);
        }
        /* A finished client counts as its proxy would if it still ran, idle since the end. */
        for (size_t i = 0; i < recs.n; i++) {
            const struct stat_record *rec = &recs.v[i];
            uint64_t len = 0;
            const struct st_metrics_snapshot *win =
                stat_record_window(rec, now, o->window_ms, &len);
            if (win == NULL)
                continue;
            struct stat_proxy p = {rec->ns, rec->client, NULL, (struct st_metrics_snapshot *)win,
                                   (double)len / 1000.0};
            struct stat_pred pred = {true, o->ns, rows->v[r].apex, rows->v[r].leaf,
                                     strcmp(rec->ns, o->ns) == 0};
            stat_acc_window(&rows->v[r].acc, &p, &pred);
        }
    }
    for (size_t i = 0; i < n_px; i++)
        stat_proxy_free(&px[i]);
    free(px);
    stat_recs_free(&recs);
    return 0;
}

/* Reads the Services (kind SVC) or workloads (WL) of o->ns into rows and fills them. */
static int
stat_inbound(struct st_kube_client *c, const struct stat_opts *o, struct stat_rows *rows,
             struct st_err *err)
{
    json_t *ews = NULL, *svcs = NULL;
    struct stat_proxy *px = NULL;
    size_t n_px = 0, i;
    json_t *it;
    int rc = stat_list(c, "workload.strait.io", "v1beta1", "externalworkloads", o->ns, &ews, err);

    if (rc == ST_ENOTFOUND) {
        st_err_clear(err);
        ews = json_array();
        rc = 0;
    }
    if (rc < 0)
        goto out;
    if (o->kind == STAT_SVC) {
        rc = stat_list(c, "", "v1", "services", o->ns, &svcs, err);
        if (rc < 0)
            goto out;
        json_array_foreach(svcs, i, it) {
            const char *name = st_json_str(it, "metadata.name");
            json_t *sel = st_json_path(it, "spec.selector");
            if (name == NULL)
                continue;
            struct stat_row *r = stat_rows_add(rows);
            size_t j, total = 0, meshed = 0;
            json_t *ew;
            r->name = st_xstrdup(name);
            r->workloads = json_array();
            json_array_foreach(ews, j, ew) {
                if (!stat_selector_matches(sel, st_json_path(ew, "metadata.labels")))
                    continue;
                total++;
                if (stat_is_meshed(ew)) {
                    meshed++;
                    json_array_append_new(r->workloads,
                                          json_string(st_json_str(ew, "metadata.name")));
                }
            }
            r->meshed = json_object_size(sel) ? st_xasprintf("%zu/%zu", meshed, total)
                                              : st_xstrdup("-");
        }
    } else {
        json_array_foreach(ews, i, it) {
            const char *name = st_json_str(it, "metadata.name");
            if (name == NULL)
                continue;
            struct stat_row *r = stat_rows_add(rows);
            bool m = stat_is_meshed(it);
            r->name = st_xstrdup(name);
            r->meshed = st_xstrdup(m ? "1/1" : "0/1");
            r->workloads = json_array();
            if (m)
                json_array_append_new(r->workloads, json_string(name));
        }
    }
    if (rows->n > 1)
        qsort(rows->v, rows->n, sizeof(*rows->v), stat_row_cmp);

    if (o->prometheus != NULL) {
        struct st_buf s = ST_BUF_INIT(1 << 20);
        for (size_t r = 0; r < rows->n && rc >= 0; r++) {
            if (json_array_size(rows->v[r].workloads) == 0)
                continue;
            st_buf_reset(&s);
            rc = st_buf_append_str(&s, "direction=\"inbound\",namespace=\"");
            rc = rc ? rc : stat_promql_quote(o->ns, false, &s);
            rc = rc ? rc : st_buf_append_str(&s, "\",workload=~\"");
            rc = rc ? rc : stat_regex_alt(rows->v[r].workloads, &s);
            rc = rc ? rc : st_buf_append_str(&s, "\"");
            if (rc < 0) {
                rc = st_err_set(err, rc, "query too long");
                break;
            }
            const char *sel[1] = {s.data};
            rc = stat_prom_fill(o, rows, r, 1, sel, 1, NULL, true, err);
        }
        st_buf_free(&s);
        goto out;
    }

    stat_collect_proxies(ews, &px, &n_px);
    stat_scrape_windows(px, n_px, o->window_ms, STAT_SCRAPE_TIMEOUT_MS);
    for (size_t r = 0; r < rows->n; r++) {
        size_t j;
        json_t *w;
        json_array_foreach(rows->v[r].workloads, j, w) {
            for (size_t k = 0; k < n_px; k++) {
                if (strcmp(px[k].name, json_string_value(w)) != 0)
                    continue;
                struct stat_acc one = {0};
                struct stat_pred pred = {.outbound = false};
                stat_acc_window(&one, &px[k], &pred);
                stat_acc_merge(&rows->v[r].acc, &one);
                stat_acc_free(&one);
            }
        }
    }

out:
    for (size_t k = 0; k < n_px; k++)
        stat_proxy_free(&px[k]);
    free(px);
    json_decref(ews);
    json_decref(svcs);
    return rc;
}

/* ---- output ----------------------------------------------------------------------------- */

static json_t *
stat_json_num(double v, bool ok)
{
    return ok && isfinite(v) ? json_real(v) : json_null();
}

static int
stat_print(const struct stat_opts *o, const struct stat_rows *rows)
{
    static const char *const ts_hdr[] = {"NAME",        "APEX",        "LEAF",
                                         "WEIGHT",      "SUCCESS",     "RPS",
                                         "LATENCY_P50", "LATENCY_P95", "LATENCY_P99"};
    static const bool ts_right[] = {false, false, false, true, true, true, true, true, true};
    static const char *const in_hdr[] = {"NAME",        "MESHED",      "SUCCESS",
                                         "RPS",         "LATENCY_P50", "LATENCY_P95",
                                         "LATENCY_P99", "TCP_CONN"};
    static const bool in_right[] = {false, false, true, true, true, true, true, true};
    struct st_buf out = ST_BUF_INIT(0);
    int rc = 0;

    if (o->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < rows->n; i++) {
            const struct stat_row *r = &rows->v[i];
            const struct stat_acc *a = &r->acc;
            bool has = a->total > 0;
            json_t *obj = json_object();
            json_object_set_new(obj, "namespace", json_string(o->ns));
            json_object_set_new(obj, "name", json_string(r->name));
            if (o->kind == STAT_TS) {
                json_object_set_new(obj, "apex", json_string(r->apex));
                json_object_set_new(obj, "leaf", json_string(r->leaf));
                json_object_set(obj, "weight", r->weight);
            } else {
                json_object_set_new(obj, "meshed", json_string(r->meshed));
            }
            json_object_set_new(obj, "requests", json_integer((json_int_t)llround(a->total)));
            json_object_set_new(obj, "success",
                                stat_json_num(has ? a->success / a->total : NAN, has));
            json_object_set_new(obj, "rps", stat_json_num(a->rps, has));
            json_object_set_new(obj, "latency_ms_p50", stat_json_num(stat_acc_quantile(a, 0), has));
            json_object_set_new(obj, "latency_ms_p95", stat_json_num(stat_acc_quantile(a, 1), has));
            json_object_set_new(obj, "latency_ms_p99", stat_json_num(stat_acc_quantile(a, 2), has));
            if (o->kind != STAT_TS)
                json_object_set_new(obj, "tcp_open_connections",
                                    a->has_tcp ? json_integer((json_int_t)llround(a->tcp_conn))
                                               : json_null());
            json_array_append_new(arr, obj);
        }
        rc = st_json_dump(arr, &out, ST_JSON_PRETTY | ST_JSON_NEWLINE);
        json_decref(arr);
    } else {
        struct stat_table t = {0};
        bool ts = o->kind == STAT_TS;
        t.n_cols = ts ? ST_ARRAY_LEN(ts_hdr) : ST_ARRAY_LEN(in_hdr);
        t.headers = ts ? ts_hdr : in_hdr;
        t.right = ts ? ts_right : in_right;
        for (size_t i = 0; i < rows->n; i++) {
            const struct stat_row *r = &rows->v[i];
            const struct stat_acc *a = &r->acc;
            char w[STAT_CELL], s[STAT_CELL], rps[STAT_CELL], p[3][STAT_CELL], tcp[STAT_CELL];
            stat_fmt_success(a->success, a->total, s);
            stat_fmt_rps(a->rps, a->total, rps);
            for (int k = 0; k < 3; k++)
                stat_fmt_latency(stat_acc_quantile(a, k), a->total, p[k]);
            if (ts) {
                stat_fmt_weight(r->weight, w);
                const char *cells[] = {r->name, r->apex, r->leaf, w, s, rps, p[0], p[1], p[2]};
                stat_table_add(&t, cells);
            } else {
                if (a->has_tcp)
                    snprintf(tcp, sizeof(tcp), "%lld", (long long)llround(a->tcp_conn));
                else
                    snprintf(tcp, sizeof(tcp), "-");
                const char *cells[] = {r->name, r->meshed, s, rps, p[0], p[1], p[2], tcp};
                stat_table_add(&t, cells);
            }
        }
        rc = stat_table_render(&t, &out);
        stat_table_free(&t);
    }
    if (rc == 0)
        fwrite(out.data, 1, out.len, stdout);
    st_buf_free(&out);
    return rc;
}

/* ---- the command -------------------------------------------------------------------------- */

static int
stat_parse(int argc, char **argv, struct stat_opts *o)
{
    static const struct option opts[] = {
        {"namespace", required_argument, NULL, 'n'},
        {"window", required_argument, NULL, 'w'},
        {"output", required_argument, NULL, 'o'},
        {"prometheus", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *window = STAT_DEFAULT_WINDOW, *kind = NULL;
    int c;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "-:n:w:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 1:
            if (kind != NULL)
                return cli_usage_error("stat", "unexpected argument \"%s\"", optarg);
            kind = optarg;
            break;
        case 'n': o->ns = optarg; break;
        case 'w': window = optarg; break;
        case 'o':
            if (strcmp(optarg, "json") == 0)
                o->json = true;
            else if (strcmp(optarg, "table") != 0)
                return cli_usage_error("stat", "-o must be table or json, not \"%s\"", optarg);
            break;
        case 'p': o->prometheus = optarg; break;
        case 'h': stat_usage(stdout); return -1;
        case ':': return cli_usage_error("stat", "%s needs a value", argv[optind - 1]);
        default: return cli_usage_error("stat", "unknown flag %s", argv[optind - 1]);
        }
    }
    if (kind == NULL)
        return cli_usage_error("stat", "which resource? ts, svc or workloads");
    if (strcmp(kind, "ts") == 0 || strcmp(kind, "trafficsplit") == 0 ||
        strcmp(kind, "trafficsplits") == 0)
        o->kind = STAT_TS;
    else if (strcmp(kind, "svc") == 0 || strcmp(kind, "service") == 0 ||
             strcmp(kind, "services") == 0)
        o->kind = STAT_SVC;
    else if (strcmp(kind, "wl") == 0 || strcmp(kind, "workload") == 0 ||
             strcmp(kind, "workloads") == 0)
        o->kind = STAT_WL;
    else
        return cli_usage_error("stat", "unknown resource \"%s\": ts, svc or workloads", kind);

    struct st_err err = {0};
    int64_t ns;
    if (duration_parse(window, &ns, &err) < 0)
        return cli_usage_error("stat", "--window: %s", err.msg);
    if (ns < (int64_t)STAT_MIN_WINDOW_MS * 1000000 || ns > (int64_t)STAT_MAX_WINDOW_MS * 1000000)
        return cli_usage_error("stat", "--window must be between 100ms and 24h, not \"%s\"",
                               window);
    o->window_ms = (uint64_t)(ns / 1000000);
    if (o->prometheus != NULL && !st_str_has_prefix(o->prometheus, "http://") &&
        !st_str_has_prefix(o->prometheus, "https://"))
        return cli_usage_error("stat", "--prometheus must be an http(s) URL");
    if (o->ns != NULL && !st_dns1123_label(o->ns))
        return cli_usage_error("stat", "\"%s\" is not a namespace name", o->ns);
    return 0;
}

static int
stat_run(const struct cli_global *g, int argc, char **argv)
{
    struct stat_opts o = {0};
    struct st_kube_load_opts lo = {.kubeconfig_path = g->kubeconfig, .context = g->context};
    struct st_kube_config *cfg = NULL;
    struct st_kube_client *kc = NULL;
    struct stat_rows rows = {0};
    struct st_err err = {0};
    struct local_cluster local = {0};
    int rc = stat_parse(argc, argv, &o), exit_code = CLI_EXIT_FAIL;

    if (rc != 0)
        return rc < 0 ? CLI_EXIT_OK : rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    cfg = st_kube_config_load(&lo, &err);
    if (cfg == NULL) {
        exit_code = cli_fail("%s", err.msg);
        goto out;
    }
    kc = st_kube_client_new(cfg, &err);
    if (kc == NULL) {
        exit_code = cli_fail("%s", err.msg);
        goto out;
    }
    st_kube_client_set_limits(kc, 5000, 20000, 64u << 20);
    if (o.ns == NULL)
        o.ns = st_kube_client_namespace(kc);
    if (o.prometheus == NULL && stat_local_cluster(cfg, &local))
        o.local = &local;

    if (o.kind == STAT_TS) {
        rc = stat_ts_rows(kc, &o, &rows, &err);
        if (rc == 0 && rows.n == 0) {
            if (o.json)
                puts("[]");
            fprintf(stderr, "No TrafficSplits found in namespace %s.\n", o.ns);
            exit_code = CLI_EXIT_OK;
            goto out;
        }
        if (rc == 0)
            rc = stat_ts_fill(kc, &o, &rows, &err);
    } else {
        rc = stat_inbound(kc, &o, &rows, &err);
        if (rc == 0 && rows.n == 0) {
            if (o.json)
                puts("[]");
            fprintf(stderr, "No %s found in namespace %s.\n",
                    o.kind == STAT_SVC ? "Services" : "workloads", o.ns);
            exit_code = CLI_EXIT_OK;
            goto out;
        }
    }
    if (rc < 0) {
        exit_code = cli_fail("%s", err.msg[0] ? err.msg : st_strerror(rc));
        goto out;
    }
    if (stat_print(&o, &rows) < 0) {
        exit_code = cli_fail("cannot format the output");
        goto out;
    }
    exit_code = CLI_EXIT_OK;

out:
    stat_rows_free(&rows);
    st_kube_client_free(kc);
    st_kube_config_free(cfg);
    if (o.local != NULL)
        local_cluster_free(&local);
    return exit_code;
}

const struct cli_command stat_command = {
    "stat", "Show traffic statistics of TrafficSplits, Services and workloads", stat_run,
};
