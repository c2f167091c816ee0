/*
 * The destination service: GET /v1/resolve?authority=HOST:PORT
 * (docs/destination-api.md).
 *
 * Four informers (Services, Endpoints, TrafficSplits, ExternalWorkloads)
 * keep the cluster state on the loop thread; the endpoints controller shares
 * them through destination_cache(). Streams are grouped by canonical
 * authority (a hash map): each group keeps the last snapshot it rendered,
 * serialized once and written to every stream of the group. Rendering a
 * group records what it read as dependency keys ("s/<ns>/<name>" for a
 * Service name with its Endpoints and the splits naming it as apex,
 * "w/<ns>/<name>" for an ExternalWorkload, "i//<ip>" for a ClusterIP looked
 * up in the index of Services by ClusterIP); an
 * index maps each key to the groups that depend on it. A change in any cache
 * marks the keys of the old and the new object dirty and schedules one
 * deferred pass (in the same loop iteration), which re-renders only the
 * groups of the dirty keys and writes the snapshots that changed. So one
 * Endpoints change costs one render, however many Services and streams
 * there are. A heartbeat line goes to every stream every DEST_HEARTBEAT_MS.
 * Cached objects are compacted (dmodel_compact, the informers' transform)
 * as they arrive and kept as compact JSON text (the informers' compact
 * mode): they are parsed again when read, so every read takes a reference
 * (st_kube_informer_acquire) and gives it back.
 *
 * Clients must present a workload certificate that chains to the trust
 * anchors (the API's TLS context asks for one and verifies it); the
 * certificate's identity names the client's namespace, which short names
 * resolve through.
 */
#include <stdio.h>
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "controller.h"
#include "dmodel.h"
#include "strait/json.h"

#define DEST_PATH "/v1/resolve"
#define DEST_DOMAIN "cluster.local" /* the cluster domain of Service names */
#define DEST_HEARTBEAT_MS 10000
#define DEST_MAX_STREAMS 10000
#define DEST_MAX_STREAMS_PER_CLIENT 256
#define DEST_MAX_DIRTY 100000 /* more dirty keys in one pass re-render everything */
#define DEST_DEP_MAX 600      /* bytes of a dependency key */
#define DEST_SNAPSHOT_MAX (4u << 20)
#define DEST_TRIM_MS 2000 /* after stream churn or a large pass, hand free heap pages back */
#define DEST_TRIM_RENDERS 256 /* a pass with this many renders counts as large */
#define DEST_IDENTITY_INFIX ".serviceaccount.identity.strait."

static const char DEST_HEARTBEAT[] = "{\"kind\":\"heartbeat\"}\n";

struct dest_stream;

/* The streams of one canonical authority and the last snapshot they got. */
struct dest_group {
    struct destination *d;
    struct dmodel_authority a;
    int parse_rc; /* 0, or ST_ENOTFOUND: a name that is no Service of ours */
    char *last;   /* the last rendered snapshot line (with '\n'), NULL before the first */
    struct dest_stream *streams;
    struct dest_group *prev, *next;
    char **deps; /* dependency keys of the last render */
    size_t n_deps;
};

struct dest_stream {
    struct dest_group *g;
    struct st_httpd_req *req;
    char *client; /* the client's identity */
    struct dest_stream *prev, *next;
};

struct dest_listener {
    destination_change_cb *fn;
    void *arg;
};

struct destination {
    struct controller *ctl;
    struct st_kube_informer *caches[DESTINATION_N_CACHES];
    struct dest_group *groups;
    struct dmodel_map by_key;  /* a.key -> group */
    struct dmodel_map deps;    /* dependency key -> struct dmodel_map * (a.key -> group) */
    struct dmodel_map dirty;   /* dependency keys changed since the last pass */
    struct dmodel_map clients; /* client identity -> open streams, as (void *)(uintptr_t)n */
    struct dmodel_map by_ip;   /* Service ClusterIP -> struct dmodel_map * of "ns/name" */
    size_t n_streams;
    struct st_ev_defer pass;
    struct st_ev_timer heartbeat;
    struct st_ev_timer trim;
    size_t churn; /* cache changes since the last trim was scheduled */
    bool dirty_all;
    bool recording;  /* dest_render is collecting dependencies */
    char **rec;      /* ... into this array */
    size_t n_rec, cap_rec;
    struct dest_listener listeners[4];
    size_t n_listeners;

    struct st_metrics_series *m_streams;
    struct st_metrics_series *m_snapshots;
    struct st_metrics_family *m_requests;
    struct st_metrics_series *m_cache_bytes[DESTINATION_N_CACHES];
};

static const char *const dest_cache_names[DESTINATION_N_CACHES] = {
    "services", "endpoints", "trafficsplits", "externalworkloads"};

/* ---- groups and streams ------------------------------------------------------------ */

/* Replaces the dependencies of <g> by <deps> (taking ownership of the array and its keys). */
static void
dest_group_set_deps(struct destination *d, struct dest_group *g, char **deps, size_t n)
{
    for (size_t i = 0; i < g->n_deps; i++) {
        struct dmodel_map *set = dmodel_map_get(&d->deps, g->deps[i]);
        if (set != NULL) {
            dmodel_map_del(set, g->a.key);
            if (dmodel_map_size(set) == 0) {
                dmodel_map_del(&d->deps, g->deps[i]);
                dmodel_map_clear(set, NULL);
                free(set);
            }
        }
        free(g->deps[i]);
    }
    free(g->deps);
    g->deps = deps;
    g->n_deps = n;
    for (size_t i = 0; i < n; i++) {
        struct dmodel_map *set = dmodel_map_get(&d->deps, deps[i]);
        if (set == NULL) {
            set = st_xcalloc(1, sizeof(*set));
            dmodel_map_put(&d->deps, deps[i], set);
        }
        dmodel_map_put(set, g->a.key, g);
    }
}

static void
dest_group_free(struct destination *d, struct dest_group *g)
{
    if (g->prev)
        g->prev->next = g->next;
    else
        d->groups = g->next;
    if (g->next)
        g->next->prev = g->prev;
    dest_group_set_deps(d, g, NULL, 0);
    dmodel_map_del(&d->by_key, g->a.key);
    free(g->last);
    free(g);
}

static size_t
dest_client_streams(const struct destination *d, const char *client)
{
    return (size_t)(uintptr_t)dmodel_map_get(&d->clients, client);
}

/*
 * Opening many TLS streams (handshake temporaries) or rendering many groups
 * leaves free chunks scattered through the heap that glibc keeps mapped;
 * a trim a little after the burst returns their pages, which keeps the
 * controller's RSS close to what it really holds.
 */
static void
dest_on_trim(struct st_ev *loop, struct st_ev_timer *t)
{
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

static void
dest_trim_soon(struct destination *d)
{
    if (!st_ev_timer_active(&d->trim))
        st_ev_timer_start(d->ctl->loop, &d->trim, DEST_TRIM_MS);
}

static void
dest_client_add(struct destination *d, const char *client, int delta)
{
    size_t n = dest_client_streams(d, client) + (size_t)delta;

    if (n == 0)
        dmodel_map_del(&d->clients, client);
    else
        dmodel_map_put(&d->clients, client, (void *)(uintptr_t)n);
    dest_trim_soon(d);
}

static void
dest_stream_free(struct dest_stream *s)
{
    struct dest_group *g = s->g;
    struct destination *d = g->d;

    if (s->prev)
        s->prev->next = s->next;
    else
        g->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    d->n_streams--;
    st_metrics_gauge_add(d->m_streams, 0, -1);
    dest_client_add(d, s->client, -1);
    free(s->client);
    free(s);
    if (g->streams == NULL)
        dest_group_free(d, g);
}

static void
dest_on_abort(void *arg, struct st_httpd_req *req)
{
    dest_stream_free(arg);
}

/* Ends a stream whose client cannot keep up; its record goes with it. */
static void
dest_stream_drop(struct dest_stream *s)
{
    struct st_httpd_req *req = s->req;

    st_httpd_req_on_abort(req, NULL, NULL);
    dest_stream_free(s);
    st_httpd_stream_end(req);
}

/* Writes <line> to every stream of <g>; drops the ones that are too slow. */
static void
dest_group_write(struct dest_group *g, const char *line, size_t len)
{
    struct dest_stream *s = g->streams;

    while (s != NULL) {
        struct dest_stream *next = s->next;
        bool last = next == NULL;
        if (st_httpd_stream_write(s->req, line, len) < 0) {
            dest_stream_drop(s); /* may free <g> when it was the last stream */
            if (last)
                return;
        }
        s = next;
    }
}

/* ---- snapshots ------------------------------------------------------------------------ */

/* Formats the dependency key of <kind> ('s' or 'w') <ns>/<name> into <out>. */
static void
dest_dep_key(char out[DEST_DEP_MAX], char kind, const char *ns, const char *name)
{
    snprintf(out, DEST_DEP_MAX, "%c/%s/%s", kind, ns ? ns : "", name ? name : "");
}

/* Records that the group being rendered read <key>. */
static void
dest_depend(struct destination *d, const char *key)
{
    if (!d->recording)
        return;
    for (size_t i = 0; i < d->n_rec; i++)
        if (strcmp(d->rec[i], key) == 0)
            return;
    if (d->n_rec == d->cap_rec) {
        d->cap_rec = d->cap_rec ? d->cap_rec * 2 : 8;
        d->rec = st_xrealloc(d->rec, d->cap_rec * sizeof(*d->rec));
    }
    d->rec[d->n_rec++] = st_xstrdup(key);
}

static void
dest_depend_on(struct destination *d, char kind, const char *ns, const char *name)
{
    char key[DEST_DEP_MAX];

    if (!d->recording)
        return;
    dest_dep_key(key, kind, ns, name);
    dest_depend(d, key);
}

static json_t *
dest_lookup_workload(void *arg, const char *ns, const char *name)
{
    struct destination *d = arg;

    dest_depend_on(d, 'w', ns, name);
    return st_kube_informer_acquire(d->caches[DESTINATION_WORKLOADS], ns, name);
}

static void
dest_ip_set_free(void *set)
{
    dmodel_map_clear(set, NULL);
    free(set);
}

/* Files (<add>) or unfiles Service <svc> under its ClusterIP. */
static void
dest_ip_index(struct destination *d, const json_t *svc, bool add)
{
    const char *ip = st_json_str(svc, "spec.clusterIP");
    const char *ns = st_json_str(svc, "metadata.namespace");
    const char *name = st_json_str(svc, "metadata.name");

    if (ip == NULL || ip[0] == '\0' || strcmp(ip, "None") == 0 || ns == NULL || name == NULL)
        return;
    char *id = st_xasprintf("%s/%s", ns, name);
    struct dmodel_map *set = dmodel_map_get(&d->by_ip, ip);
    if (add) {
        if (set == NULL) {
            set = st_xcalloc(1, sizeof(*set));
            dmodel_map_put(&d->by_ip, ip, set);
        }
        dmodel_map_put(set, id, set);
    } else if (set != NULL) {
        dmodel_map_del(set, id);
        if (dmodel_map_size(set) == 0)
            dest_ip_set_free(dmodel_map_del(&d->by_ip, ip));
    }
    free(id);
}

/*
 * The Service whose ClusterIP is <ip> (a new reference), or NULL; when
 * several claim it, the first by namespace/name.
 */
static json_t *
dest_service_by_ip(struct destination *d, const char *ip)
{
    const struct dmodel_map *set = dmodel_map_get(&d->by_ip, ip);
    const char *id, *best = NULL;
    size_t pos = 0;

    while (set != NULL && (id = dmodel_map_next(set, &pos, NULL)) != NULL) {
        if (best == NULL || strcmp(id, best) < 0)
            best = id;
    }
    if (best == NULL)
        return NULL;
    char ns[256];
    const char *slash = strchr(best, '/');
    if (slash == NULL || (size_t)(slash - best) >= sizeof(ns))
        return NULL;
    memcpy(ns, best, (size_t)(slash - best));
    ns[slash - best] = '\0';
    return st_kube_informer_acquire(d->caches[DESTINATION_SERVICES], ns, slash + 1);
}

struct dest_split_find {
    const char *ns, *name;
    json_t *ts; /* the first by name when several name the same apex; a reference */
};

static bool
dest_find_split(json_t *ts, void *data)
{
    struct dest_split_find *f = data;
    const char *ns = st_json_str(ts, "metadata.namespace");
    char apex[64];

    if (ns == NULL || strcmp(ns, f->ns) != 0 || !dmodel_split_apex(ts, DEST_DOMAIN, apex) ||
        strcmp(apex, f->name) != 0)
        return true;
    if (f->ts == NULL ||
        strcmp(st_json_str(ts, "metadata.name"), st_json_str(f->ts, "metadata.name")) < 0) {
        json_decref(f->ts);
        f->ts = json_incref(ts);
    }
    return true;
}

static json_t *
dest_endpoints_of(struct destination *d, const char *ns, const char *name, uint16_t port)
{
    json_t *svc = st_kube_informer_acquire(d->caches[DESTINATION_SERVICES], ns, name);
    json_t *eps = svc ? st_kube_informer_acquire(d->caches[DESTINATION_ENDPOINTS], ns, name) : NULL;
    struct dmodel_lookup lk = {dest_lookup_workload, d};
    json_t *out;

    dest_depend_on(d, 's', ns, name);
    if (svc == NULL)
        return json_array();
    out = dmodel_service_endpoints(svc, eps, port, d->ctl->trust_domain, &lk);
    json_decref(eps);
    json_decref(svc);
    return out;
}

/*
 * Renders the snapshot of <g> as one line, or returns NULL while the caches
 * have not synced (the stream waits for its first snapshot).
 */
static char *
dest_render(struct destination *d, struct dest_group *g)
{
    struct st_buf out = ST_BUF_INIT(DEST_SNAPSHOT_MAX);
    const char *name = g->a.name, *ns = g->a.ns;
    json_t *snap = NULL, *svc = NULL, *split = NULL;

    if (!st_kube_informer_has_synced(d->caches[DESTINATION_SERVICES]) ||
        !st_kube_informer_has_synced(d->caches[DESTINATION_ENDPOINTS]))
        return NULL;
    if (g->parse_rc == 0 && g->a.is_ip) {
        dest_depend_on(d, 'i', NULL, g->a.ip);
        svc = dest_service_by_ip(d, g->a.ip);
        if (svc != NULL) {
            name = st_json_str(svc, "metadata.name");
            ns = st_json_str(svc, "metadata.namespace");
        }
    } else if (g->parse_rc == 0) {
        svc = st_kube_informer_acquire(d->caches[DESTINATION_SERVICES], ns, name);
    }
    if (g->parse_rc == 0 && name != NULL && ns != NULL)
        dest_depend_on(d, 's', ns, name); /* the Service, its Endpoints and splits naming it */
    if (svc == NULL || name == NULL || ns == NULL) {
        snap = json_pack("{s:s, s:s}", "kind", "not_found", "authority", g->a.key);
        goto render;
    }
    struct dest_split_find sf = {ns, name, NULL};
    st_kube_informer_foreach(d->caches[DESTINATION_SPLITS], dest_find_split, &sf);
    split = sf.ts;
    if (sf.ts != NULL) {
        json_t *leaves = dmodel_split_leaves(sf.ts, g->a.port, DEST_DOMAIN, NULL);
        size_t i;
        json_t *leaf;
        json_array_foreach(leaves, i, leaf) {
            json_object_set_new(leaf, "endpoints",
                                dest_endpoints_of(d, st_json_str(leaf, "namespace"),
                                                  st_json_str(leaf, "name"), g->a.port));
        }
        snap = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:o}", "kind", "split", "authority",
                         g->a.key, "service", name, "namespace", ns, "port", (int)g->a.port,
                         "split", st_json_str(sf.ts, "metadata.name"), "leaves", leaves);
        goto render;
    }
    if (!dmodel_service_has_port(svc, g->a.port)) {
        snap = json_pack("{s:s, s:s, s:s}", "kind", "not_found", "authority", g->a.key, "reason",
                         "the service has no such port");
        goto render;
    }
    snap = json_pack("{s:s, s:s, s:s, s:s, s:i, s:o}", "kind", "service", "authority", g->a.key,
                     "service", name, "namespace", ns, "port", (int)g->a.port, "endpoints",
                     dest_endpoints_of(d, ns, name, g->a.port));
render:
    if (snap == NULL || st_json_dump(snap, &out, ST_JSON_NEWLINE) < 0) {
        /* Over the cap: an explicit error beats a silent hang. */
        st_buf_reset(&out);
        (void)!st_buf_appendf(&out, "{\"kind\":\"error\",\"authority\":\"%s\","
                                    "\"error\":\"snapshot too large\"}\n", g->a.key);
    }
    json_decref(snap);
    json_decref(split);
    json_decref(svc); /* <name> and <ns> may point into it: not before the render */
    return st_buf_steal(&out);
}

/* Renders <g> and replaces its dependencies by what the rendering read. */
static char *
dest_group_render(struct destination *d, struct dest_group *g)
{
    d->recording = true;
    d->n_rec = 0;
    char *line = dest_render(d, g);
    d->recording = false;
    if (line == NULL) {
        for (size_t i = 0; i < d->n_rec; i++)
            free(d->rec[i]);
        return NULL; /* not synced: the pass after the sync renders every group */
    }
    char **deps = d->n_rec ? st_xmalloc(d->n_rec * sizeof(*deps)) : NULL;
    memcpy(deps, d->rec, d->n_rec * sizeof(*deps));
    dest_group_set_deps(d, g, deps, d->n_rec);
    return line;
}

/* Re-renders <g> and sends the snapshot if it changed. */
static void
dest_group_refresh(struct destination *d, struct dest_group *g)
{
    char *line = dest_group_render(d, g);

    if (line == NULL)
        return;
    if (g->last != NULL && strcmp(g->last, line) == 0) {
        free(line);
        return;
    }
    free(g->last);
    g->last = line;
    st_metrics_counter_inc(d->m_snapshots, 0);
    dest_group_write(g, line, strlen(line));
}

static void
dest_on_pass(struct st_ev *loop, struct st_ev_defer *df)
{
    struct destination *d = df->data;
    struct dmodel_map todo = DMODEL_MAP_INIT; /* group keys, de-duplicated */
    const char *key;
    void *val;
    size_t pos = 0;

    /* Collect first: refreshing may drop streams and free groups (and their index entries). */
    if (d->dirty_all) {
        for (struct dest_group *g = d->groups; g != NULL; g = g->next)
            dmodel_map_put(&todo, g->a.key, g);
    } else {
        while ((key = dmodel_map_next(&d->dirty, &pos, NULL)) != NULL) {
            struct dmodel_map *set = dmodel_map_get(&d->deps, key);
            size_t p2 = 0;
            const char *gk;
            while (set != NULL && (gk = dmodel_map_next(set, &p2, &val)) != NULL)
                dmodel_map_put(&todo, gk, val);
        }
    }
    d->dirty_all = false;
    dmodel_map_clear(&d->dirty, NULL);
    size_t n = 0;
    char **keys = st_xcalloc(dmodel_map_size(&todo) + 1, sizeof(*keys));
    pos = 0;
    while ((key = dmodel_map_next(&todo, &pos, NULL)) != NULL)
        keys[n++] = st_xstrdup(key);
    dmodel_map_clear(&todo, NULL);
    for (size_t i = 0; i < n; i++) {
        struct dest_group *g = dmodel_map_get(&d->by_key, keys[i]);
        if (g != NULL)
            dest_group_refresh(d, g);
        free(keys[i]);
    }
    free(keys);
    if (n >= DEST_TRIM_RENDERS)
        dest_trim_soon(d);
}

static void
dest_mark(struct destination *d, const char *key)
{
    if (d->dirty_all)
        return;
    if (dmodel_map_size(&d->dirty) >= DEST_MAX_DIRTY) {
        d->dirty_all = true;
        dmodel_map_clear(&d->dirty, NULL);
        return;
    }
    dmodel_map_put(&d->dirty, key, d);
}

/* Marks what a change of <obj> in cache <which> may affect. */
static void
dest_touch(struct destination *d, enum destination_cache which, json_t *obj)
{
    const char *ns = st_json_str(obj, "metadata.namespace");
    const char *name = st_json_str(obj, "metadata.name");
    char key[DEST_DEP_MAX], apex[64];

    if (ns == NULL || name == NULL) {
        d->dirty_all = true;
    } else if (which == DESTINATION_SERVICES || which == DESTINATION_ENDPOINTS) {
        dest_dep_key(key, 's', ns, name);
        dest_mark(d, key);
        const char *ip = st_json_str(obj, "spec.clusterIP");
        if (which == DESTINATION_SERVICES && ip != NULL && ip[0] != '\0') {
            dest_dep_key(key, 'i', NULL, ip);
            dest_mark(d, key);
        }
    } else if (which == DESTINATION_SPLITS) {
        if (dmodel_split_apex(obj, DEST_DOMAIN, apex)) {
            dest_dep_key(key, 's', ns, apex);
            dest_mark(d, key);
        }
    } else {
        dest_dep_key(key, 'w', ns, name);
        dest_mark(d, key);
    }
    st_ev_defer_schedule(d->ctl->loop, &d->pass);
}

static void
dest_on_heartbeat(struct st_ev *loop, struct st_ev_timer *t)
{
    struct destination *d = t->data;
    struct dest_group *g = d->groups;

    while (g != NULL) {
        struct dest_group *next = g->next;
        dest_group_write(g, DEST_HEARTBEAT, sizeof(DEST_HEARTBEAT) - 1);
        g = next;
    }
    st_ev_timer_start(loop, t, DEST_HEARTBEAT_MS);
}

/* ---- informer callbacks ------------------------------------------------------------------ */

static enum destination_cache
dest_which(struct destination *d, struct st_kube_informer *inf)
{
    for (int i = 0; i < DESTINATION_N_CACHES; i++)
        if (d->caches[i] == inf)
            return (enum destination_cache)i;
    return DESTINATION_SERVICES;
}

static void
dest_changed(struct destination *d, struct st_kube_informer *inf, json_t *obj)
{
    enum destination_cache which = dest_which(d, inf);

    struct st_kube_informer_stats st;
    st_kube_informer_stats(inf, &st);
    st_metrics_gauge_set(d->m_cache_bytes[which], (double)st.cached_bytes);
    if (++d->churn >= DEST_TRIM_RENDERS) {
        d->churn = 0;
        dest_trim_soon(d);
    }
    dest_touch(d, which, obj);
    for (size_t i = 0; i < d->n_listeners; i++)
        d->listeners[i].fn(d->listeners[i].arg, which, obj);
}

/* Drops what no reader needs before the object is stored (the informers' transform). */
static void
dest_on_transform(struct st_kube_informer *inf, json_t *obj, void *data)
{
    dmodel_compact(obj, dest_which(data, inf) == DESTINATION_SERVICES);
}

static void
dest_on_add(struct st_kube_informer *inf, json_t *obj, void *data)
{
    if (dest_which(data, inf) == DESTINATION_SERVICES)
        dest_ip_index(data, obj, true);
    dest_changed(data, inf, obj);
}

/*
 * The listeners hear of the old object and then of the new one, so that an
 * index keyed by what changed (a workload's labels, a split's apex) can
 * drop the old entries.
 */
static void
dest_on_update(struct st_kube_informer *inf, json_t *old_obj, json_t *new_obj, void *data)
{
    if (dest_which(data, inf) == DESTINATION_SERVICES) {
        dest_ip_index(data, old_obj, false);
        dest_ip_index(data, new_obj, true);
    }
    if (old_obj != NULL)
        dest_changed(data, inf, old_obj);
    dest_changed(data, inf, new_obj);
}

static void
dest_on_delete(struct st_kube_informer *inf, json_t *obj, void *data)
{
    if (dest_which(data, inf) == DESTINATION_SERVICES)
        dest_ip_index(data, obj, false);
    dest_changed(data, inf, obj);
}

static void
dest_on_synced(struct st_kube_informer *inf, void *data)
{
    struct destination *d = data;

    d->dirty_all = true;
    st_ev_defer_schedule(d->ctl->loop, &d->pass);
    for (size_t i = 0; i < d->n_listeners; i++)
        d->listeners[i].fn(d->listeners[i].arg, dest_which(d, inf), NULL);
}

static void
dest_on_error(struct st_kube_informer *inf, const struct st_err *err, void *data)
{
    st_log(ST_LOG_WARN, "destination: watching %s: %s", dest_cache_names[dest_which(data, inf)],
           err->msg);
}

/* ---- the route ------------------------------------------------------------------------------ */

static void
dest_count(struct destination *d, const char *result)
{
    const char *values[] = {result};
    st_metrics_counter_inc(st_metrics_series_get(d->m_requests, values), 0);
}

/*
 * The client's namespace from its identity "<sa>.<ns>.serviceaccount.
 * identity.strait.<td>" into <ns>; false when the identity is not a
 * workload identity of <td>.
 */
static bool
dest_client_ns(const char *identity, const char *td, char ns[64])
{
    const char *infix = identity ? strstr(identity, DEST_IDENTITY_INFIX) : NULL;

    if (infix == NULL || strcmp(infix + strlen(DEST_IDENTITY_INFIX), td) != 0)
        return false;
    const char *start = infix;
    while (start > identity && start[-1] != '.')
        start--;
    if (start == identity || (size_t)(infix - start) >= 64)
        return false; /* no service account before the namespace */
    memcpy(ns, start, (size_t)(infix - start));
    ns[infix - start] = '\0';
    return st_dns1123_label(ns);
}

static void
dest_on_resolve(void *arg, struct st_httpd_req *req)
{
    struct destination *d = arg;
    const struct st_http1_request *h = st_httpd_req_head(req);
    struct st_tls_conn *tls = st_httpd_req_tls(req);
    const char *client = NULL;
    char ns[64], key[32], val[DMODEL_AUTHORITY_MAX + 1], authority[DMODEL_AUTHORITY_MAX + 1] = "";
    struct st_str q = h->query;
    struct dmodel_authority a;
    int rc;

    if (tls == NULL || !st_tls_conn_peer_verified(tls) ||
        (client = st_tls_conn_peer_identity(tls)) == NULL) {
        dest_count(d, "unauthenticated");
        api_error(req, 401, 0, "a workload certificate chained to the trust anchors is required");
        return;
    }
    if (!dest_client_ns(client, d->ctl->trust_domain, ns)) {
        dest_count(d, "forbidden");
        api_error(req, 403, 0, "\"%s\" is not a workload identity of %s", client,
                  d->ctl->trust_domain);
        return;
    }
    while ((rc = st_http_query_next(&q, key, sizeof(key), val, sizeof(val))) == 1) {
        if (strcmp(key, "authority") == 0)
            st_strlcpy(authority, val, sizeof(authority));
    }
    if (rc < 0 || authority[0] == '\0') {
        dest_count(d, "malformed");
        api_error(req, rc == ST_ETOOBIG ? 414 : 400, 0,
                  rc == ST_ETOOBIG ? "the authority is too long"
                                   : "the query must name ?authority=HOST:PORT");
        return;
    }
    rc = dmodel_parse_authority(authority, ns, DEST_DOMAIN, &a);
    if (rc == ST_EPARSE) {
        dest_count(d, "malformed");
        api_error(req, 400, 0, "malformed authority \"%s\"", authority);
        return;
    }
    if (d->ctl->stopping) {
        dest_count(d, "unavailable");
        api_error(req, 503, 1, "shutting down");
        return;
    }
    if (d->n_streams >= DEST_MAX_STREAMS ||
        dest_client_streams(d, client) >= DEST_MAX_STREAMS_PER_CLIENT) {
        dest_count(d, "too_many");
        api_error(req, 429, 1, "too many streams%s",
                  d->n_streams >= DEST_MAX_STREAMS ? "" : " for this client");
        return;
    }
    struct st_http_header hdrs[2] = {
        {ST_STR("Content-Type"), ST_STR("application/x-ndjson")},
        {ST_STR("Cache-Control"), ST_STR("no-store")},
    };
    if (st_httpd_stream_begin(req, 200, hdrs, 2) < 0) {
        api_error(req, 500, 0, "cannot start the stream");
        return;
    }
    struct dest_group *g = dmodel_map_get(&d->by_key, a.key);
    if (g == NULL) {
        g = st_xcalloc(1, sizeof(*g));
        g->d = d;
        g->a = a;
        g->parse_rc = rc;
        g->next = d->groups;
        if (d->groups)
            d->groups->prev = g;
        d->groups = g;
        dmodel_map_put(&d->by_key, g->a.key, g);
    }
    struct dest_stream *s = st_xcalloc(1, sizeof(*s));
    s->g = g;
    s->req = req;
    s->client = st_xstrdup(client);
    s->next = g->streams;
    if (g->streams)
        g->streams->prev = s;
    g->streams = s;
    d->n_streams++;
    dest_client_add(d, client, 1);
    st_metrics_gauge_add(d->m_streams, 0, 1);
    st_httpd_req_on_abort(req, dest_on_abort, s);
    dest_count(d, "streamed");
    st_log(ST_LOG_DEBUG, "destination: %s resolves %s", client, a.key);

    /* The current state first: the group's last snapshot, or a fresh one. */
    if (g->last == NULL) {
        g->last = dest_group_render(d, g);
        if (g->last != NULL)
            st_metrics_counter_inc(d->m_snapshots, 0);
    }
    if (g->last != NULL && st_httpd_stream_write(req, g->last, strlen(g->last)) < 0)
        dest_stream_drop(s);
}

/* ---- life ------------------------------------------------------------------------------------- */

static bool
dest_ready(void *arg)
{
    struct destination *d = arg;
    return st_kube_informer_has_synced(d->caches[DESTINATION_SERVICES]) &&
           st_kube_informer_has_synced(d->caches[DESTINATION_ENDPOINTS]);
}

static int
dest_metrics(struct destination *d, struct st_err *err)
{
    struct st_metrics_registry *reg = d->ctl->metrics;
    struct st_metrics_family *f;
    static const char *const result[] = {"result"};
    int rc;

    struct st_metrics_desc m = {ST_METRICS_GAUGE, "destination_streams",
                                "Open destination streams"};
    if ((rc = st_metrics_family_add(reg, &m, &f, err)) < 0)
        return rc;
    d->m_streams = st_metrics_series_get(f, NULL);
    m = (struct st_metrics_desc){ST_METRICS_COUNTER, "destination_snapshots_total",
                                 "Snapshots rendered because the state of an authority changed"};
    if ((rc = st_metrics_family_add(reg, &m, &f, err)) < 0)
        return rc;
    d->m_snapshots = st_metrics_series_get(f, NULL);
    m = (struct st_metrics_desc){ST_METRICS_COUNTER, "destination_requests_total",
                                 "Resolve requests, by result", result, 1};
    if ((rc = st_metrics_family_add(reg, &m, &d->m_requests, err)) < 0)
        return rc;
    static const char *const cache[] = {"cache"};
    m = (struct st_metrics_desc){ST_METRICS_GAUGE, "destination_cache_bytes",
                                 "Bytes of cached object text (compact caches), by cache", cache,
                                 1};
    if ((rc = st_metrics_family_add(reg, &m, &f, err)) < 0)
        return rc;
    for (int i = 0; i < DESTINATION_N_CACHES; i++) {
        const char *values[] = {dest_cache_names[i]};
        d->m_cache_bytes[i] = st_metrics_series_get(f, values);
    }
    return 0;
}

struct destination *
destination_new(struct controller *c, struct st_err *err)
{
    struct destination *d = st_xcalloc(1, sizeof(*d));
    static const struct st_kube_informer_opts opts[DESTINATION_N_CACHES] = {
        [DESTINATION_SERVICES] = {.version = "v1", .resource = "services", .compact = true},
        [DESTINATION_ENDPOINTS] = {.version = "v1", .resource = "endpoints", .compact = true},
        /* Splits stay trees: every render scans them (they are few and small). */
        [DESTINATION_SPLITS] = {.group = "split.smi-spec.io", .version = "v1alpha2",
                                .resource = "trafficsplits"},
        [DESTINATION_WORKLOADS] = {.group = "workload.strait.io", .version = "v1beta1",
                                   .resource = "externalworkloads", .compact = true},
    };

    d->ctl = c;
    st_ev_defer_init(&d->pass, dest_on_pass, d);
    st_ev_timer_init(&d->heartbeat, dest_on_heartbeat, d);
    st_ev_timer_init(&d->trim, dest_on_trim, d);
    if (dest_metrics(d, err) < 0)
        goto fail;
    struct st_kube_informer_handlers h = {
        .transform = dest_on_transform, .on_add = dest_on_add, .on_update = dest_on_update, .on_delete = dest_on_delete,
        .on_synced = dest_on_synced, .on_error = dest_on_error, .data = d,
    };
    for (int i = 0; i < DESTINATION_N_CACHES; i++) {
        d->caches[i] = st_kube_informer_new(c->kube, &opts[i], &h, err);
        if (d->caches[i] == NULL)
            goto fail;
    }
    st_ev_timer_start(c->loop, &d->heartbeat, DEST_HEARTBEAT_MS);
    api_route(c->api, "GET", DEST_PATH, dest_on_resolve, d);
    admin_check(c->admin, "destination caches", dest_ready, d);
    return d;
fail:
    destination_free(d);
    return NULL;
}

struct st_kube_informer *
destination_cache(struct destination *d, enum destination_cache which)
{
    return d->caches[which];
}

void
destination_listen(struct destination *d, destination_change_cb *fn, void *arg)
{
    if (d->n_listeners == ST_ARRAY_LEN(d->listeners))
        abort(); /* a programming error: raise the array */
    d->listeners[d->n_listeners++] = (struct dest_listener){fn, arg};
}

void
destination_free(struct destination *d)
{
    if (d == NULL)
        return;
    /* The API server went first and aborted every stream; anything left is only memory. */
    while (d->groups != NULL) {
        struct dest_group *g = d->groups;
        if (g->streams == NULL) {
            dest_group_free(d, g);
            continue;
        }
        dest_stream_free(g->streams);
    }
    dmodel_map_clear(&d->by_key, NULL);
    dmodel_map_clear(&d->deps, free); /* empty by now */
    dmodel_map_clear(&d->dirty, NULL);
    dmodel_map_clear(&d->clients, NULL);
    dmodel_map_clear(&d->by_ip, dest_ip_set_free);
    free(d->rec);
    if (d->ctl->loop) {
        st_ev_defer_cancel(d->ctl->loop, &d->pass);
        st_ev_timer_stop(d->ctl->loop, &d->heartbeat);
        st_ev_timer_stop(d->ctl->loop, &d->trim);
    }
    for (int i = 0; i < DESTINATION_N_CACHES; i++)
        st_kube_informer_free(d->caches[i]);
    free(d);
}
