/*
 * Proxy metrics: per-thread caches of label strings in front of lib/metrics.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "stats.h"

/*
 * A thread's caches are chained hash tables that start small and double when
 * they hold more entries than buckets, up to STATS_HASH_MAX buckets: an idle
 * proxy with a handful of routes keeps a few hundred bytes, not 64 KiB.
 */
#define STATS_HASH_MIN 16
#define STATS_HASH_MAX 8192

/* The head of a cache entry; the entry types start with it. */
struct stats_node {
    struct stats_node *next;
    uint64_t hash;
    size_t key_len;
};

struct stats_table {
    struct stats_node **b; /* NULL until the first insert */
    size_t mask;           /* buckets - 1 */
    size_t n;
};

/* One response class of a route: a status code, its classification and gRPC status. */
struct stats_rsp {
    struct stats_rsp *next;
    int status;
    bool success;
    int grpc; /* -1: none */
    struct st_metrics_series *total, *latency;
};

/* One HTTP label string: its request series and the response classes seen. */
struct stats_route {
    struct stats_node node;
    char *key;
    const char *values[ST_METRICS_RESPONSE_N_LABELS];
    char *store; /* the unescaped values live here */
    struct st_metrics_series *req;
    struct stats_rsp *rsps;
};

/* One TCP label string: the series of the tcp_* families. */
struct stats_series {
    struct stats_node node;
    char *key;
    unsigned shard;
    struct st_metrics_series *open, *close, *gauge, *rbytes, *wbytes, *duration;
};

struct stats {
    struct stats *next;
    struct stats_registry *reg;
    unsigned shard;
    struct stats_table routes; /* of struct stats_route */
    struct stats_table tcps;   /* of struct stats_series */
    size_t n_cached;
};

struct stats_registry {
    struct st_metrics_registry *m;
    struct st_metrics_proxy fam;
    pthread_mutex_t lock; /* guards threads and next_shard */
    struct stats *threads;
    unsigned n_shards, next_shard;
};

struct stats_registry *
stats_registry_new(unsigned n_shards)
{
    struct stats_registry *r = st_xcalloc(1, sizeof(*r));
    struct st_err err = {0};

    r->n_shards = n_shards;
    r->m = st_metrics_registry_new(n_shards, STATS_MAX_SERIES);
    if (st_metrics_proxy_add(r->m, &r->fam, &err) < 0) {
        /* Fixed names and labels: failing here is a programming error. */
        fprintf(stderr, "stats: %s\n", err.msg);
        abort();
    }
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

static void
stats_route_fini(struct stats_route *x)
{
    while (x->rsps != NULL) {
        struct stats_rsp *p = x->rsps;
        x->rsps = p->next;
        free(p);
    }
    free(x->store);
}

/* The chain that holds (or would hold) <hash>; allocates the first buckets. */
static struct stats_node **
stats_table_slot(struct stats_table *t, uint64_t hash)
{
    if (t->b == NULL) {
        t->b = st_xcalloc(STATS_HASH_MIN, sizeof(*t->b));
        t->mask = STATS_HASH_MIN - 1;
    }
    return &t->b[hash & t->mask];
}

/* Links <node> in and doubles the buckets when there are more entries than buckets. */
static void
stats_table_insert(struct stats_table *t, struct stats_node *node)
{
    struct stats_node **slot = stats_table_slot(t, node->hash);
    size_t size = t->mask + 1;

    node->next = *slot;
    *slot = node;
    if (++t->n <= size || size >= STATS_HASH_MAX)
        return;
    struct stats_node **b = st_xcalloc(2 * size, sizeof(*b));
    for (size_t i = 0; i < size; i++) {
        while (t->b[i] != NULL) {
            struct stats_node *x = t->b[i];
            t->b[i] = x->next;
            x->next = b[x->hash & (2 * size - 1)];
            b[x->hash & (2 * size - 1)] = x;
        }
    }
    free(t->b);
    t->b = b;
    t->mask = 2 * size - 1;
}

/* Empties <t>: returns all its entries as one list (linked by next) and frees the buckets. */
static struct stats_node *
stats_table_take(struct stats_table *t)
{
    struct stats_node *all = NULL;

    for (size_t i = 0; t->b != NULL && i <= t->mask; i++) {
        while (t->b[i] != NULL) {
            struct stats_node *x = t->b[i];
            t->b[i] = x->next;
            x->next = all;
            all = x;
        }
    }
    free(t->b);
    *t = (struct stats_table){0};
    return all;
}

static void
stats_free_thread(struct stats *s)
{
    for (struct stats_node *n = stats_table_take(&s->routes), *next; n != NULL; n = next) {
        struct stats_route *x = ST_CONTAINER_OF(n, struct stats_route, node);
        next = n->next;
        stats_route_fini(x);
        free(x->key);
        free(x);
    }
    for (struct stats_node *n = stats_table_take(&s->tcps), *next; n != NULL; n = next) {
        struct stats_series *t = ST_CONTAINER_OF(n, struct stats_series, node);
        next = n->next;
        free(t->key);
        free(t);
    }
    free(s);
}

void
stats_registry_free(struct stats_registry *r)
{
    if (r == NULL)
        return;
    while (r->threads != NULL) {
        struct stats *s = r->threads;
        r->threads = s->next;
        stats_free_thread(s);
    }
    st_metrics_registry_free(r->m);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

struct st_metrics_registry *
stats_metrics(struct stats_registry *r)
{
    return r->m;
}

struct stats *
stats_thread(struct stats_registry *r)
{
    struct stats *s = st_xcalloc(1, sizeof(*s));

    s->reg = r;
    pthread_mutex_lock(&r->lock);
    if (r->next_shard >= r->n_shards) {
        fprintf(stderr, "stats: more threads than the %u shards\n", r->n_shards);
        abort();
    }
    s->shard = r->next_shard++;
    s->next = r->threads;
    r->threads = s;
    pthread_mutex_unlock(&r->lock);
    return s;
}

unsigned
stats_shard(const struct stats *s)
{
    return s->shard;
}

/* True when <n> holds the label string <key> of <len> bytes hashed to <hash>. */
static bool
stats_node_is(const struct stats_node *n, const char *node_key, uint64_t hash, const char *key,
              size_t len)
{
    return n->hash == hash && n->key_len == len && memcmp(node_key, key, len) == 0;
}

/* ---- label strings ------------------------------------------------------------------ */

/* The label names come from lib/metrics (st_metrics_*_label_names). */

/*
 * Parses a label string into <values> (<n> slots named by <names>), the
 * unescaped values copied into a new string returned in *store. Unknown names
 * are skipped; a malformed string stops the parse where it went wrong (what
 * came before is kept). Then maps tls="false" to Linkerd's spelling.
 */
static void
stats_parse(const char *labels, const char *const *names, size_t n, size_t tls_at, size_t reason_at,
            const char **values, char **store)
{
    size_t len = strlen(labels);
    char *buf = st_xmalloc(len + 1), *w = buf;
    const char *p = labels;

    for (size_t i = 0; i < n; i++)
        values[i] = NULL;
    while (*p != '\0') {
        const char *name = p;
        while (*p != '\0' && *p != '=')
            p++;
        size_t name_len = (size_t)(p - name);
        if (p[0] != '=' || p[1] != '"')
            break;
        p += 2;
        char *value = w;
        while (*p != '\0' && *p != '"') {
            if (*p == '\\' && p[1] != '\0') {
                *w++ = p[1] == 'n' ? '\n' : p[1];
                p += 2;
            } else {
                *w++ = *p++;
            }
        }
        *w++ = '\0';
        if (*p != '"')
            break;
        p++;
        for (size_t i = 0; i < n; i++) {
            if (strlen(names[i]) == name_len && memcmp(names[i], name, name_len) == 0) {
                values[i] = value;
                break;
            }
        }
        if (*p == ',')
            p++;
    }
    if (values[tls_at] != NULL && strcmp(values[tls_at], "false") == 0) {
        values[tls_at] = "no_identity";
        if (values[reason_at] == NULL || values[reason_at][0] == '\0')
            values[reason_at] = "loopback";
    }
    *store = buf;
}

/* ---- HTTP ----------------------------------------------------------------------- */

/* Fills a route from its label string (the series are resolved here). */
static void
stats_route_init(struct stats *s, struct stats_route *x, const char *labels)
{
    stats_parse(labels, st_metrics_http_label_names, ST_METRICS_HTTP_N_LABELS, ST_METRICS_HTTP_TLS,
                ST_METRICS_HTTP_NO_TLS_REASON, x->values, &x->store);
    x->req = st_metrics_series_get(s->reg->fam.request_total, x->values);
}

/* The cached route of <labels>, or NULL when the cache is full. */
static struct stats_route *
stats_route_get(struct stats *s, const char *labels)
{
    size_t len = strlen(labels);
    uint64_t h = st_hash64(labels, len);

    for (struct stats_node *n = *stats_table_slot(&s->routes, h); n != NULL; n = n->next) {
        struct stats_route *x = ST_CONTAINER_OF(n, struct stats_route, node);
        if (stats_node_is(n, x->key, h, labels, len))
            return x;
    }
    if (s->n_cached >= STATS_MAX_CACHED)
        return NULL;
    struct stats_route *x = st_xcalloc(1, sizeof(*x));
    x->node.hash = h;
    x->node.key_len = len;
    x->key = st_xstrdup(labels);
    stats_route_init(s, x, labels);
    stats_table_insert(&s->routes, &x->node);
    s->n_cached++;
    return x;
}

/* The response class of <x>; the values array is reused with the extra labels set. */
static struct stats_rsp *
stats_rsp_get(struct stats *s, struct stats_route *x, int status, bool success, int grpc)
{
    struct stats_rsp **pp = &x->rsps;

    for (struct stats_rsp *p = *pp; p != NULL; pp = &p->next, p = p->next) {
        if (p->status == status && p->success == success && p->grpc == grpc) {
            if (pp != &x->rsps) { /* move to the front: most routes answer one status */
                *pp = p->next;
                p->next = x->rsps;
                x->rsps = p;
            }
            return p;
        }
    }
    char code[16], gcode[16];
    const char *values[ST_METRICS_RESPONSE_N_LABELS];
    struct stats_rsp *p = st_xcalloc(1, sizeof(*p));

    snprintf(code, sizeof(code), "%d", status);
    snprintf(gcode, sizeof(gcode), "%d", grpc);
    memcpy(values, x->values, sizeof(x->values[0]) * ST_METRICS_HTTP_N_LABELS);
    values[ST_METRICS_HTTP_STATUS_CODE] = status > 0 ? code : NULL;
    values[ST_METRICS_HTTP_CLASSIFICATION] = success ? "success" : "failure";
    /* response_latency_ms stops before these two labels, so it keeps one series per status. */
    values[ST_METRICS_HTTP_GRPC_STATUS_CODE] = grpc >= 0 ? gcode : NULL;
    p->status = status;
    p->success = success;
    p->grpc = grpc;
    p->total = st_metrics_series_get(s->reg->fam.response_total, values);
    p->latency = st_metrics_series_get(s->reg->fam.response_latency_ms, values);
    p->next = x->rsps;
    x->rsps = p;
    return p;
}

struct stats_route *
stats_request(struct stats *s, const char *labels)
{
    struct stats_route *x = stats_route_get(s, labels);

    if (x != NULL) {
        st_metrics_counter_inc(x->req, s->shard);
        return x;
    }
    struct stats_route tmp = {0}; /* the cache is full: resolve without keeping */
    stats_route_init(s, &tmp, labels);
    st_metrics_counter_inc(tmp.req, s->shard);
    stats_route_fini(&tmp);
    return NULL;
}

void
stats_response(struct stats *s, const char *labels, int status, bool success, uint64_t latency_ms)
{
    stats_response_grpc(s, labels, status, success, -1, latency_ms);
}

int
stats_grpc_status(const char *value)
{
    uint64_t v;

    if (value == NULL)
        return -1;
    if (st_parse_u64(st_str_c(value), STATS_GRPC_MAX, &v) < 0)
        return 2; /* UNKNOWN */
    return (int)v;
}

void
stats_response_grpc(struct stats *s, const char *labels, int status, bool success, int grpc,
                    uint64_t latency_ms)
{
    stats_response_route(s, NULL, labels, status, success, grpc, latency_ms);
}

void
stats_response_route(struct stats *s, struct stats_route *route, const char *labels, int status,
                     bool success, int grpc, uint64_t latency_ms)
{
    struct stats_route *x = route != NULL ? route : stats_route_get(s, labels), tmp = {0};

    if (grpc > STATS_GRPC_MAX || grpc < -1)
        grpc = 2;
    if (x == NULL) {
        stats_route_init(s, &tmp, labels);
        x = &tmp;
    }
    struct stats_rsp *p = stats_rsp_get(s, x, status, success, grpc);
    st_metrics_counter_inc(p->total, s->shard);
    st_metrics_histogram_observe(p->latency, s->shard, (double)latency_ms);
    if (x == &tmp)
        stats_route_fini(&tmp);
}

/* ---- TCP ------------------------------------------------------------------------ */

struct stats_series *
stats_tcp(struct stats *s, const char *labels)
{
    size_t len = strlen(labels);
    uint64_t h = st_hash64(labels, len);

    for (struct stats_node *n = *stats_table_slot(&s->tcps, h); n != NULL; n = n->next) {
        struct stats_series *t = ST_CONTAINER_OF(n, struct stats_series, node);
        if (stats_node_is(n, t->key, h, labels, len))
            return t;
    }
    if (s->n_cached >= STATS_MAX_CACHED)
        return NULL;

    const char *values[ST_METRICS_TCP_CLOSE_N_LABELS] = {0};
    char *store = NULL;
    const struct st_metrics_proxy *f = &s->reg->fam;
    struct stats_series *t = st_xcalloc(1, sizeof(*t));

    stats_parse(labels, st_metrics_tcp_label_names, ST_METRICS_TCP_N_LABELS, ST_METRICS_TCP_TLS,
                ST_METRICS_TCP_NO_TLS_REASON, values, &store);
    t->node.hash = h;
    t->node.key_len = len;
    t->key = st_xstrdup(labels);
    t->shard = s->shard;
    t->open = st_metrics_series_get(f->tcp_open_total, values);
    t->gauge = st_metrics_series_get(f->tcp_open_connections, values);
    t->rbytes = st_metrics_series_get(f->tcp_read_bytes_total, values);
    t->wbytes = st_metrics_series_get(f->tcp_write_bytes_total, values);
    /* Closes are not told apart by error yet: classification and errno stay absent. */
    t->close = st_metrics_series_get(f->tcp_close_total, values);
    t->duration = st_metrics_series_get(f->tcp_connection_duration_ms, values);
    free(store);
    stats_table_insert(&s->tcps, &t->node);
    s->n_cached++;
    return t;
}

void
stats_tcp_open(struct stats_series *t)
{
    if (t == NULL)
        return;
    st_metrics_counter_inc(t->open, t->shard);
    st_metrics_gauge_add(t->gauge, t->shard, 1);
}

void
stats_tcp_close(struct stats_series *t, uint64_t duration_ms)
{
    if (t == NULL)
        return;
    st_metrics_counter_inc(t->close, t->shard);
    st_metrics_gauge_add(t->gauge, t->shard, -1);
    st_metrics_histogram_observe(t->duration, t->shard, (double)duration_ms);
}

void
stats_tcp_bytes(struct stats_series *t, uint64_t read, uint64_t written)
{
    if (t == NULL)
        return;
    if (read > 0)
        st_metrics_counter_add(t->rbytes, t->shard, read);
    if (written > 0)
        st_metrics_counter_add(t->wbytes, t->shard, written);
}

/* ---- rendering ------------------------------------------------------------------- */

int
stats_render(struct stats_registry *r, struct st_buf *out)
{
    return st_metrics_render(r->m, out);
}

char *
stats_escape(const char *v)
{
    struct st_buf b = ST_BUF_INIT(0);
    int rc = st_buf_append(&b, "", 0);

    for (const char *p = v != NULL ? v : ""; *p != '\0' && rc == 0; p++) {
        if (*p == '\\' || *p == '"')
            rc = st_buf_appendf(&b, "\\%c", *p);
        else if (*p == '\n')
            rc = st_buf_append_str(&b, "\\n");
        else
            rc = st_buf_append(&b, p, 1);
    }
    if (rc < 0)
        st_oom();
    return st_buf_steal(&b);
}
