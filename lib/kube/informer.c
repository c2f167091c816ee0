/*
 * Informers: list (paginated, asynchronous), then watch from the list's
 * version, keeping a cache of namespace/name -> object and calling the
 * add/update/delete handlers on the loop thread.
 *
 * States: LISTING (a page request in flight), WATCHING, WAITING (the timer
 * will relist or rewatch). Entry points (transfer completions, watch events,
 * the timer) count themselves in <busy>; st_kube_informer_free from inside a
 * handler only marks the informer dead, and the outermost entry point frees
 * it on the way out.
 *
 * Storage: the cache maps "ns/name" to the object itself (a jansson tree),
 * or with opts.compact to a JSON string holding the object's compact text,
 * which takes about a tenth of the tree's heap; objects are then parsed
 * again when read (st_kube_informer_acquire, _foreach, handlers' old
 * objects). The consumer's transform runs on every object before it is
 * stored or handed to a handler.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define INF_DEFAULT_PAGE 500
#define INF_DEFAULT_WATCH_TIMEOUT_S 300
#define INF_DEFAULT_BACKOFF_MIN_MS 200
#define INF_DEFAULT_BACKOFF_MAX_MS 30000
#define INF_DEFAULT_MAX_OBJECTS 1000000
/* A watch that ends cleanly sooner than this is resumed only after a back-off. */
#define INF_MIN_WATCH_MS 1000
/* Three of kube-apiserver's one-minute bookmark periods without a byte: a stalled watch. */
#define INF_DEFAULT_WATCH_IDLE_MS 180000

enum inf_next { INF_NEXT_RELIST, INF_NEXT_REWATCH };

struct st_kube_informer {
    struct st_kube_client *c;
    char *path; /* the collection */
    char *label_selector, *field_selector;
    unsigned page_limit, watch_timeout_s;
    uint64_t watch_idle_ms; /* UINT64_MAX: no stall detection */
    uint64_t backoff_min, backoff_max, backoff;
    size_t max_objects;
    struct st_kube_informer_handlers h;

    bool compact;
    json_t *cache; /* key -> stored form (the object, or its compact text) */
    json_t *fresh; /* key -> stored form, the relist in progress */
    json_t *pool;  /* compact: objects parsed for st_kube_informer_get, freed by <drain> */
    struct st_ev_defer drain;
    char *cont;    /* continue token of the relist in progress */
    char *rv;      /* version to watch from */
    struct kube_xfer *list_x;
    struct st_kube_watch *watch;
    uint64_t watch_started;
    struct st_ev_timer timer;
    enum inf_next next;
    struct st_rng rng;

    int gone_streak; /* 410s since the last successful list */
    bool synced;
    bool dead;
    int busy;
    struct st_kube_informer_stats stats;
};

static void inf_list_page(struct st_kube_informer *inf);

static void
inf_destroy(struct st_kube_informer *inf)
{
    st_ev_timer_stop(inf->c->loop, &inf->timer);
    st_ev_defer_cancel(inf->c->loop, &inf->drain);
    json_decref(inf->pool);
    kube_xfer_cancel(inf->list_x);
    inf->list_x = NULL;
    st_kube_watch_free(inf->watch);
    inf->watch = NULL;
    json_decref(inf->cache);
    json_decref(inf->fresh);
    free(inf->path);
    free(inf->label_selector);
    free(inf->field_selector);
    free(inf->cont);
    free(inf->rv);
    free(inf);
}

static void
inf_enter(struct st_kube_informer *inf)
{
    inf->busy++;
}

/* Leaves an entry point; frees the informer if a handler asked for it. */
static void
inf_leave(struct st_kube_informer *inf)
{
    if (--inf->busy == 0 && inf->dead)
        inf_destroy(inf);
}

void
st_kube_informer_free(struct st_kube_informer *inf)
{
    if (inf == NULL)
        return;
    if (inf->busy > 0) {
        inf->dead = true;
        return;
    }
    inf_destroy(inf);
}

/* The cache key of an object: "ns/name", or "name" when cluster-scoped. Returns 0 or -1. */
static int
inf_key(const json_t *obj, char *out, size_t size)
{
    const char *ns = st_json_str(obj, "metadata.namespace");
    const char *name = st_json_str(obj, "metadata.name");
    int n;

    if (name == NULL || name[0] == '\0')
        return -1;
    if (ns != NULL && ns[0] != '\0')
        n = snprintf(out, size, "%s/%s", ns, name);
    else
        n = snprintf(out, size, "%s", name);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

/* ---- storage ----------------------------------------------------------------------------- */

/* Runs the consumer's transform on an object that just arrived. */
static void
inf_transform(struct st_kube_informer *inf, json_t *obj)
{
    if (inf->h.transform != NULL)
        inf->h.transform(inf, obj, inf->h.data);
}

/*
 * The stored form of <obj> (a new reference): the object itself, or in
 * compact mode a JSON string with its compact text. NULL when it cannot be
 * serialized (only on allocation failure or an absurd size).
 */
static json_t *
inf_store(const struct st_kube_informer *inf, json_t *obj)
{
    if (!inf->compact)
        return json_incref(obj);
    struct st_buf b = ST_BUF_INIT(ST_JSON_DEFAULT_MAX_BYTES);
    json_t *v = NULL;
    if (st_json_dump(obj, &b, 0) == 0)
        v = json_stringn_nocheck(st_buf_cstr(&b), b.len);
    st_buf_free(&b);
    return v;
}

/* The object of a stored form: a new reference, or NULL if the text does not parse. */
static json_t *
inf_load(const struct st_kube_informer *inf, json_t *stored)
{
    if (stored == NULL || !inf->compact)
        return json_incref(stored);
    return json_loadb(json_string_value(stored), json_string_length(stored), 0, NULL);
}

/* True when the stored forms <a> and <b> describe the same version of the object. */
static bool
inf_same(const struct st_kube_informer *inf, json_t *a, json_t *b)
{
    if (inf->compact)
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    const char *ra = st_json_str(a, "metadata.resourceVersion");
    const char *rb = st_json_str(b, "metadata.resourceVersion");
    return ra != NULL && rb != NULL && strcmp(ra, rb) == 0;
}

/* Puts <stored> (a reference is taken) under <key>, keeping the byte count. */
static void
inf_cache_set(struct st_kube_informer *inf, const char *key, json_t *stored)
{
    if (inf->compact) {
        json_t *old = json_object_get(inf->cache, key);
        inf->stats.cached_bytes -= json_string_length(old);
        inf->stats.cached_bytes += json_string_length(stored);
    }
    json_object_set(inf->cache, key, stored);
}

static void
inf_cache_del(struct st_kube_informer *inf, const char *key)
{
    if (inf->compact)
        inf->stats.cached_bytes -= json_string_length(json_object_get(inf->cache, key));
    json_object_del(inf->cache, key);
}

/* ---- handler calls ---------------------------------------------------------------------- */

/*
 * Applies a new or changed object: add, update when it differs from the
 * cached version (tree: another resourceVersion; compact: other text), else
 * nothing. <stored> is its stored form (borrowed); <obj> the object when the
 * caller has it (borrowed), else NULL and it is parsed from <stored> if a
 * handler needs it.
 */
static void
inf_upsert(struct st_kube_informer *inf, const char *key, json_t *obj, json_t *stored)
{
    json_t *cur = json_object_get(inf->cache, key);

    if (cur != NULL && inf_same(inf, cur, stored))
        return;
    json_t *old = cur != NULL && inf->h.on_update != NULL ? inf_load(inf, cur) : NULL;
    bool call = !inf->dead && (cur != NULL ? inf->h.on_update != NULL : inf->h.on_add != NULL);
    inf_cache_set(inf, key, stored);
    if (!call) {
        json_decref(old);
        return;
    }
    json_t *now = obj != NULL ? json_incref(obj) : inf_load(inf, stored);
    if (now != NULL) {
        if (cur != NULL)
            inf->h.on_update(inf, old, now, inf->h.data);
        else
            inf->h.on_add(inf, now, inf->h.data);
    }
    json_decref(now);
    json_decref(old);
}

/* Removes <key>; on_delete gets <final> (the object as deleted) or else the cached version. */
static void
inf_delete(struct st_kube_informer *inf, const char *key, json_t *final)
{
    json_t *cur = json_object_get(inf->cache, key);
    if (cur == NULL)
        return;
    json_t *old = final == NULL && inf->h.on_delete != NULL ? inf_load(inf, cur) : NULL;
    inf_cache_del(inf, key);
    json_t *obj = final != NULL ? final : old;
    if (inf->h.on_delete != NULL && !inf->dead && obj != NULL)
        inf->h.on_delete(inf, obj, inf->h.data);
    json_decref(old);
}

static void
inf_error(struct st_kube_informer *inf, const struct st_err *err)
{
    inf->stats.failures++;
    if (inf->h.on_error != NULL && !inf->dead)
        inf->h.on_error(inf, err, inf->h.data);
}

/* ---- scheduling -------------------------------------------------------------------------- */

/* Arms the timer for <next> after <ms>. */
static void
inf_schedule(struct st_kube_informer *inf, enum inf_next next, uint64_t ms)
{
    inf->next = next;
    st_ev_timer_start(inf->c->loop, &inf->timer, ms);
}

/*
 * After a 410 the first relist starts at once; if 410s keep coming (e.g. a
 * continue token that expires on every page) they back off like errors.
 */
static void inf_backoff(struct st_kube_informer *inf);

static void
inf_gone(struct st_kube_informer *inf)
{
    inf->stats.gone++;
    if (inf->gone_streak++ == 0)
        inf_schedule(inf, INF_NEXT_RELIST, 0);
    else
        inf_backoff(inf);
}

/* Waits one back-off step (jittered +-20%), then relists; the step doubles up to the max. */
static void
inf_backoff(struct st_kube_informer *inf)
{
    uint64_t base = inf->backoff ? inf->backoff : inf->backoff_min;
    uint64_t span = base * 2 / 5; /* 40% wide window centred on <base> */
    uint64_t wait = base - base / 5 + (span ? st_rng_below(&inf->rng, span + 1) : 0);

    inf->backoff = ST_MIN(base * 2, inf->backoff_max);
    inf_schedule(inf, INF_NEXT_RELIST, wait);
}

static void
inf_watch_event(struct st_kube_watch *w, enum st_kube_event_type type, json_t *obj, void *data)
{
    struct st_kube_informer *inf = data;
    char key[600];

    if (type == ST_KUBE_BOOKMARK || inf_key(obj, key, sizeof(key)) < 0)
        return;
    inf_enter(inf);
    inf_transform(inf, obj);
    if (type == ST_KUBE_DELETED) {
        inf_delete(inf, key, obj);
    } else if (json_object_size(inf->cache) < inf->max_objects ||
               json_object_get(inf->cache, key) != NULL) {
        json_t *stored = inf_store(inf, obj);
        if (stored != NULL)
            inf_upsert(inf, key, obj, stored);
        json_decref(stored);
    }
    /* Otherwise the cache is full: the object is left out, and the next relist reports it. */
    inf_leave(inf);
}

static void
inf_watch_done(struct st_kube_watch *w, int code, const struct st_err *err, void *data)
{
    struct st_kube_informer *inf = data;
    const char *rv = st_kube_watch_resource_version(w);
    bool stalled = kube_watch_stalled(w);

    inf_enter(inf);
    if (rv[0] != '\0') {
        free(inf->rv);
        inf->rv = st_xstrdup(rv);
    }
    st_kube_watch_free(w);
    inf->watch = NULL;
    if (stalled) {
        /* Silence says nothing about the data: resume from the last version. */
        inf->stats.stalls++;
        inf_schedule(inf, INF_NEXT_REWATCH, 0);
    } else if (code == 0) {
        /* A clean end (timeoutSeconds): resume from the last version. */
        uint64_t lived = st_ev_now_ms(inf->c->loop) - inf->watch_started;
        if (lived >= INF_MIN_WATCH_MS) {
            inf->backoff = 0; /* a stream that lived its time is a success */
            inf_schedule(inf, INF_NEXT_REWATCH, 0);
        } else {
            inf_backoff(inf);
            inf->next = INF_NEXT_REWATCH;
        }
    } else if (code == ST_EGONE) {
        inf_gone(inf);
    } else {
        inf_error(inf, err);
        inf_backoff(inf);
    }
    inf_leave(inf);
}

static void
inf_watch(struct st_kube_informer *inf)
{
    struct st_kube_watch_opts wo = {
        .path = inf->path,
        .resource_version = inf->rv,
        .label_selector = inf->label_selector,
        .field_selector = inf->field_selector,
        .timeout_s = inf->watch_timeout_s,
        .idle_timeout_ms = inf->watch_idle_ms == UINT64_MAX ? 0 : inf->watch_idle_ms,
    };
    struct st_err err;

    inf->watch = st_kube_watch_start(inf->c, &wo, inf_watch_event, inf_watch_done, inf, &err);
    if (inf->watch == NULL) {
        inf_error(inf, &err);
        inf_backoff(inf);
        return;
    }
    inf->stats.watches++;
    inf->watch_started = st_ev_now_ms(inf->c->loop);
}

/* Replaces the cache by the completed relist, calling the handlers for the differences. */
static void
inf_reconcile(struct st_kube_informer *inf)
{
    json_t *fresh = inf->fresh;
    json_t *gone = json_array();
    const char *key;
    json_t *obj;
    void *tmp;

    inf->fresh = NULL;
    json_object_foreach(inf->cache, key, obj) {
        if (json_object_get(fresh, key) == NULL)
            json_array_append_new(gone, json_string(key));
    }
    size_t i;
    json_t *k;
    json_array_foreach(gone, i, k) {
        if (inf->dead)
            break;
        inf_delete(inf, json_string_value(k), NULL);
    }
    json_object_foreach_safe(fresh, tmp, key, obj) {
        if (inf->dead)
            break;
        inf_upsert(inf, key, NULL, obj);
    }
    json_decref(gone);
    json_decref(fresh);
}

static void
inf_list_done(int code, long status, json_t *resp, const struct st_err *err, void *data)
{
    struct st_kube_informer *inf = data;

    inf_enter(inf);
    inf->list_x = NULL;
    if (code < 0) {
        json_decref(inf->fresh);
        inf->fresh = NULL;
        free(inf->cont);
        inf->cont = NULL;
        if (code == ST_EGONE) {
            inf_gone(inf); /* the continue token expired: start over */
        } else {
            inf_error(inf, err);
            inf_backoff(inf);
        }
        goto out;
    }
    json_t *items = json_object_get(resp, "items");
    size_t i;
    json_t *obj;
    char key[600];
    if (items != NULL && !json_is_array(items) && !json_is_null(items)) {
        struct st_err e;
        st_err_set(&e, ST_EPROTO, "kube informer: the answer for %s is not a list", inf->path);
        json_decref(inf->fresh);
        inf->fresh = NULL;
        inf_error(inf, &e);
        inf_backoff(inf);
        goto out;
    }
    json_array_foreach(items, i, obj) {
        if (inf_key(obj, key, sizeof(key)) < 0)
            continue;
        if (json_object_size(inf->fresh) >= inf->max_objects) {
            struct st_err e;
            st_err_set(&e, ST_ETOOBIG, "kube informer: %s has more than %zu objects", inf->path,
                       inf->max_objects);
            json_decref(inf->fresh);
            inf->fresh = NULL;
            free(inf->cont);
            inf->cont = NULL;
            inf_error(inf, &e);
            inf_backoff(inf);
            goto out;
        }
        inf_transform(inf, obj);
        json_t *stored = inf_store(inf, obj);
        if (stored != NULL)
            json_object_set_new(inf->fresh, key, stored);
    }
    free(inf->cont);
    const char *next = st_json_str(resp, "metadata.continue");
    inf->cont = next != NULL && next[0] != '\0' ? st_xstrdup(next) : NULL;
    if (inf->cont == NULL) {
        /* The first page's version names the snapshot; the last page repeats it. */
        const char *rv = st_json_str(resp, "metadata.resourceVersion");
        free(inf->rv);
        inf->rv = st_xstrdup(rv ? rv : "");
    }
    if (inf->cont != NULL) {
        inf_list_page(inf);
        goto out;
    }
    inf_reconcile(inf);
    inf->stats.lists++;
    inf->backoff = 0;
    inf->gone_streak = 0;
    if (!inf->synced && !inf->dead) {
        inf->synced = true;
        if (inf->h.on_synced != NULL)
            inf->h.on_synced(inf, inf->h.data);
    }
    if (!inf->dead)
        inf_watch(inf);

out:
    json_decref(resp);
    inf_leave(inf);
}

static void
inf_list_page(struct st_kube_informer *inf)
{
    struct st_buf q = ST_BUF_INIT(64 << 10);
    struct st_err err;
    int rc = st_buf_appendf(&q, "%s?limit=%u", inf->path, inf->page_limit);

    if (rc == 0 && inf->label_selector != NULL &&
        (rc = st_buf_append_str(&q, "&labelSelector=")) == 0)
        rc = kube_escape(&q, inf->label_selector);
    if (rc == 0 && inf->field_selector != NULL &&
        (rc = st_buf_append_str(&q, "&fieldSelector=")) == 0)
        rc = kube_escape(&q, inf->field_selector);
    if (rc == 0 && inf->cont != NULL && (rc = st_buf_append_str(&q, "&continue=")) == 0)
        rc = kube_escape(&q, inf->cont);
    if (rc < 0) {
        st_err_set(&err, ST_ETOOBIG, "kube informer: list query too long");
    } else {
        if (inf->fresh == NULL)
            inf->fresh = json_object();
        inf->list_x = kube_xfer_get(inf->c, st_buf_cstr(&q), inf_list_done, inf, &err);
    }
    st_buf_free(&q);
    if (inf->list_x == NULL) {
        json_decref(inf->fresh);
        inf->fresh = NULL;
        free(inf->cont);
        inf->cont = NULL;
        inf_error(inf, &err);
        inf_backoff(inf);
    }
}

static void
inf_timer(struct st_ev *loop, struct st_ev_timer *t)
{
    struct st_kube_informer *inf = t->data;

    inf_enter(inf);
    if (inf->next == INF_NEXT_REWATCH && inf->rv != NULL && inf->rv[0] != '\0') {
        inf_watch(inf);
    } else {
        free(inf->cont);
        inf->cont = NULL;
        inf_list_page(inf);
    }
    inf_leave(inf);
}

/* Frees the objects st_kube_informer_get parsed in compact mode. */
static void
inf_drain(struct st_ev *loop, struct st_ev_defer *d)
{
    struct st_kube_informer *inf = d->data;

    json_decref(inf->pool);
    inf->pool = NULL;
}

static char *
inf_dup_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? st_xstrdup(s) : NULL;
}

struct st_kube_informer *
st_kube_informer_new(struct st_kube_client *c, const struct st_kube_informer_opts *opts,
                     const struct st_kube_informer_handlers *h, struct st_err *err)
{
    struct st_kube_informer *inf;

    if (opts == NULL || opts->version == NULL || opts->resource == NULL ||
        opts->version[0] == '\0' || opts->resource[0] == '\0') {
        st_err_set(err, ST_EINVAL, "kube informer: version and resource are required");
        return NULL;
    }
    if (c->loop == NULL) {
        st_err_set(err, ST_EINVAL, "kube informer: the client is not attached to a loop");
        return NULL;
    }
    inf = st_xcalloc(1, sizeof(*inf));
    inf->c = c;
    inf->path = st_kube_path(opts->group, opts->version, opts->resource, opts->namespace, NULL);
    inf->label_selector = inf_dup_or_null(opts->label_selector);
    inf->field_selector = inf_dup_or_null(opts->field_selector);
    inf->page_limit = opts->page_limit ? opts->page_limit : INF_DEFAULT_PAGE;
    inf->watch_timeout_s =
        opts->watch_timeout_s ? opts->watch_timeout_s : INF_DEFAULT_WATCH_TIMEOUT_S;
    inf->backoff_min = opts->backoff_min_ms ? opts->backoff_min_ms : INF_DEFAULT_BACKOFF_MIN_MS;
    inf->backoff_max = opts->backoff_max_ms ? opts->backoff_max_ms : INF_DEFAULT_BACKOFF_MAX_MS;
    if (inf->backoff_max < inf->backoff_min)
        inf->backoff_max = inf->backoff_min;
    inf->max_objects = opts->max_objects ? opts->max_objects : INF_DEFAULT_MAX_OBJECTS;
    inf->watch_idle_ms = opts->watch_idle_ms ? opts->watch_idle_ms : INF_DEFAULT_WATCH_IDLE_MS;
    if (h != NULL)
        inf->h = *h;
    inf->compact = opts->compact;
    inf->cache = json_object();
    st_ev_defer_init(&inf->drain, inf_drain, inf);
    st_rng_seed(&inf->rng);
    st_ev_timer_init(&inf->timer, inf_timer, inf);
    /* The first list starts from the loop, so no handler runs before we return. */
    inf_schedule(inf, INF_NEXT_RELIST, 0);
    return inf;
}

bool
st_kube_informer_has_synced(const struct st_kube_informer *inf)
{
    return inf->synced;
}

/* The stored form of <ns>/<name>, borrowed, or NULL. */
static json_t *
inf_find(const struct st_kube_informer *inf, const char *ns, const char *name)
{
    char key[600];
    int n;

    if (name == NULL)
        return NULL;
    if (ns != NULL && ns[0] != '\0')
        n = snprintf(key, sizeof(key), "%s/%s", ns, name);
    else
        n = snprintf(key, sizeof(key), "%s", name);
    if (n < 0 || (size_t)n >= sizeof(key))
        return NULL;
    return json_object_get(inf->cache, key);
}

json_t *
st_kube_informer_get(const struct st_kube_informer *inf, const char *ns, const char *name)
{
    json_t *stored = inf_find(inf, ns, name);

    if (stored == NULL || !inf->compact)
        return stored;
    /* A parsed copy that lives until control returns to the loop. */
    struct st_kube_informer *m = (struct st_kube_informer *)inf;
    json_t *obj = inf_load(m, stored);
    if (obj == NULL)
        return NULL;
    if (m->pool == NULL)
        m->pool = json_array();
    json_array_append_new(m->pool, obj);
    st_ev_defer_schedule(m->c->loop, &m->drain);
    return obj;
}

json_t *
st_kube_informer_acquire(const struct st_kube_informer *inf, const char *ns, const char *name)
{
    return inf_load(inf, inf_find(inf, ns, name));
}

size_t
st_kube_informer_count(const struct st_kube_informer *inf)
{
    return json_object_size(inf->cache);
}

void
st_kube_informer_foreach(const struct st_kube_informer *inf, bool (*fn)(json_t *obj, void *data),
                         void *data)
{
    const char *key;
    json_t *stored;

    json_object_foreach(inf->cache, key, stored) {
        json_t *obj = inf_load(inf, stored);
        bool more = obj == NULL || fn(obj, data);
        json_decref(obj);
        if (!more)
            break;
    }
}

void
st_kube_informer_stats(const struct st_kube_informer *inf, struct st_kube_informer_stats *out)
{
    *out = inf->stats;
}
