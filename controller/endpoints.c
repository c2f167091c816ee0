/*
 * The workload endpoints controller: for every Service with a selector, the
 * Endpoints object of the same name lists the ExternalWorkloads of its
 * namespace that the selector matches (dmodel_endpoints_for), as
 * Kubernetes' endpoints controller does for Pods.
 *
 * It runs only while this replica leads (lease.c). It reads the caches of
 * the destination service on the loop thread: a change of a Service, of an
 * Endpoints object or of an ExternalWorkload queues the affected Services
 * (for a workload, the Services whose selector matches its old or its new
 * labels, found through an index of selectors by label pair, kept on every
 * replica); each Service's candidate workloads come from an index of
 * workloads by label pair, so a change costs work in proportion to what it
 * touches, not to the size of the cluster;
 * a deferred pass computes each one's desired Endpoints and compares it with
 * the cached one, and only a difference becomes a job for the writer thread,
 * which re-reads the object, checks again (so a stale cache never causes a
 * blind write) and creates, updates (with the resourceVersion it read) or
 * deletes it with its own blocking kube client.
 *
 * Endpoints it owns carry the label endpoints.strait.io/managed-by:
 * strait-controller; Endpoints without it (written by Kubernetes or by the
 * service mirror) are never touched. A resync every ENDPOINTS_RESYNC_MS and
 * every gain of leadership re-check every Service and every owned Endpoints
 * object, which repairs drift and removes what belongs to deleted Services.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "controller.h"
#include "dmodel.h"
#include "strait/json.h"

#define ENDPOINTS_RESYNC_MS 60000
#define ENDPOINTS_MAX_PENDING 100000 /* queued Service keys; beyond it, resync everything */
#define ENDPOINTS_MAX_JOBS 10000     /* queued writes; beyond it, drop and resync later */
#define ENDPOINTS_REQUEST_TIMEOUT_MS 5000

/*
 * Objects of one kind filed under each "<ns>\x1f<key>=<value>" pair of their
 * labels (workloads) or of their selector (Services).
 */
struct ep_index {
    struct dmodel_map objs; /* "ns/name" -> struct ep_filed */
    struct dmodel_map sets; /* pair key -> struct dmodel_map * of names */
};

struct ep_filed {
    char **keys; /* the pair keys it is filed under */
    size_t n;
};

/* A Service to look at, on the loop thread. */
struct ep_key {
    char *ns, *name;
    struct ep_key *next;
};

/* A write for the writer thread: <desired> NULL means "delete if ours". */
struct ep_job {
    char *ns, *name;
    json_t *desired; /* owned by the job; not shared with the loop thread */
    struct ep_job *next;
};

struct endpoints {
    struct controller *ctl;
    struct destination *dest;
    struct lease *lease;
    struct ep_key *keys, *keys_tail;
    size_t n_keys;
    struct dmodel_map queued; /* "ns/name" of every key in the queue */
    struct ep_index workloads; /* by label pair */
    struct ep_index selectors; /* Services by selector pair */
    bool resync_all;
    struct st_ev_defer pass;
    struct st_ev_timer resync;

    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
    struct ep_job *jobs, *jobs_tail; /* under <lock> */
    size_t n_jobs;
    struct st_kube_client *kc; /* the writer's */

    struct st_metrics_family *m_writes;
};

/* ---- the writer thread ------------------------------------------------------------------- */

static void
endpoints_job_free(struct ep_job *j)
{
    free(j->ns);
    free(j->name);
    json_decref(j->desired);
    free(j);
}

/* Runs one job against the API: the object is read again and only changed when needed. */
static void
endpoints_write(struct endpoints *e, struct ep_job *j)
{
    struct st_err err = {0};
    char *path = st_kube_path("", "v1", "endpoints", j->ns, j->name);
    char *coll = st_kube_path("", "v1", "endpoints", j->ns, NULL);
    json_t *cur = NULL, *obj = NULL;
    const char *what = NULL;
    int rc;

    rc = st_kube_get(e->kc, path, &cur, &err);
    if (rc < 0) {
        json_decref(cur); /* a Status, not the object */
        cur = NULL;
    }
    if (rc < 0 && rc != ST_ENOTFOUND) {
        st_log(ST_LOG_WARN, "endpoints: cannot read %s/%s: %s", j->ns, j->name, err.msg);
        goto out;
    }
    if (cur != NULL && !dmodel_endpoints_managed(cur)) {
        st_log(ST_LOG_DEBUG, "endpoints: %s/%s is not ours; leaving it alone", j->ns, j->name);
        goto out;
    }
    if (j->desired == NULL) {
        if (cur == NULL)
            goto out;
        what = "deleted";
        rc = st_kube_delete(e->kc, path, NULL, &err);
        if (rc == ST_ENOTFOUND)
            rc = 0;
    } else if (cur == NULL) {
        what = "created";
        rc = st_kube_create(e->kc, coll, j->desired, NULL, &err);
    } else if (dmodel_endpoints_equal(cur, j->desired)) {
        goto out; /* nothing changed: no write */
    } else {
        what = "updated";
        obj = json_deep_copy(j->desired);
        const char *rv = st_json_str(cur, "metadata.resourceVersion");
        if (rv != NULL)
            st_json_set_path(obj, "metadata.resourceVersion", json_string(rv));
        rc = st_kube_update(e->kc, path, obj, NULL, &err);
    }
    if (rc < 0) {
        /* A conflict or an outage: the next change or resync tries again. */
        st_log(ST_LOG_WARN, "endpoints: %s/%s not %s: %s", j->ns, j->name, what, err.msg);
        what = "failed";
    } else {
        st_log(ST_LOG_INFO, "endpoints: %s %s/%s", what, j->ns, j->name);
    }
    const char *values[] = {what};
    st_metrics_counter_inc(st_metrics_series_get(e->m_writes, values), 0);
out:
    json_decref(cur);
    json_decref(obj);
    free(path);
    free(coll);
}

static void *
endpoints_thread(void *arg)
{
    struct endpoints *e = arg;

    pthread_mutex_lock(&e->lock);
    for (;;) {
        while (!e->stop && e->jobs == NULL)
            pthread_cond_wait(&e->cond, &e->lock);
        if (e->stop)
            break;
        struct ep_job *j = e->jobs;
        e->jobs = j->next;
        if (e->jobs == NULL)
            e->jobs_tail = NULL;
        e->n_jobs--;
        pthread_mutex_unlock(&e->lock);
        endpoints_write(e, j);
        endpoints_job_free(j);
        pthread_mutex_lock(&e->lock);
    }
    pthread_mutex_unlock(&e->lock);
    return NULL;
}

static void
endpoints_submit(struct endpoints *e, const char *ns, const char *name, json_t *desired)
{
    struct ep_job *j = st_xcalloc(1, sizeof(*j));

    j->ns = st_xstrdup(ns);
    j->name = st_xstrdup(name);
    j->desired = desired;
    pthread_mutex_lock(&e->lock);
    if (e->n_jobs >= ENDPOINTS_MAX_JOBS) {
        pthread_mutex_unlock(&e->lock);
        endpoints_job_free(j); /* the writer is far behind: the resync catches up */
        return;
    }
    if (e->jobs_tail)
        e->jobs_tail->next = j;
    else
        e->jobs = j;
    e->jobs_tail = j;
    e->n_jobs++;
    pthread_cond_signal(&e->cond);
    pthread_mutex_unlock(&e->lock);
}

/* ---- indexes -------------------------------------------------------------------------------- */

static void
endpoints_pair_key(char *out, size_t size, const char *ns, const char *key, const char *value)
{
    snprintf(out, size, "%s\x1f%s=%s", ns, key, value);
}

static void
endpoints_filed_free(void *p)
{
    struct ep_filed *f = p;

    for (size_t i = 0; i < f->n; i++)
        free(f->keys[i]);
    free(f->keys);
    free(f);
}

static void
endpoints_set_free(void *p)
{
    dmodel_map_clear(p, NULL);
    free(p);
}

/*
 * Files <ns>/<name> under the pairs of <pairs> (a JSON object of strings, or
 * NULL to drop it from the index), replacing what it was filed under.
 */
static void
endpoints_index_set(struct ep_index *x, const char *ns, const char *name, const json_t *pairs)
{
    char *id = st_xasprintf("%s/%s", ns, name);
    struct ep_filed *f = dmodel_map_del(&x->objs, id);
    char pk[600];

    for (size_t i = 0; f != NULL && i < f->n; i++) {
        struct dmodel_map *set = dmodel_map_get(&x->sets, f->keys[i]);
        if (set != NULL) {
            dmodel_map_del(set, name);
            if (dmodel_map_size(set) == 0)
                endpoints_set_free(dmodel_map_del(&x->sets, f->keys[i]));
        }
    }
    if (f != NULL)
        endpoints_filed_free(f);
    if (json_is_object(pairs) && json_object_size(pairs) > 0) {
        const char *k;
        json_t *v;
        f = st_xcalloc(1, sizeof(*f));
        f->keys = st_xcalloc(json_object_size(pairs), sizeof(*f->keys));
        json_object_foreach((json_t *)pairs, k, v) {
            if (!json_is_string(v))
                continue;
            endpoints_pair_key(pk, sizeof(pk), ns, k, json_string_value(v));
            struct dmodel_map *set = dmodel_map_get(&x->sets, pk);
            if (set == NULL) {
                set = st_xcalloc(1, sizeof(*set));
                dmodel_map_put(&x->sets, pk, set);
            }
            dmodel_map_put(set, name, set);
            f->keys[f->n++] = st_xstrdup(pk);
        }
        dmodel_map_put(&x->objs, id, f);
    }
    free(id);
}

/* The names filed under <ns> <key>=<value>, or NULL. */
static const struct dmodel_map *
endpoints_index_get(const struct ep_index *x, const char *ns, const char *key, const char *value)
{
    char pk[600];

    endpoints_pair_key(pk, sizeof(pk), ns, key, value);
    return dmodel_map_get(&x->sets, pk);
}

static void
endpoints_index_free(struct ep_index *x)
{
    dmodel_map_clear(&x->objs, endpoints_filed_free);
    dmodel_map_clear(&x->sets, endpoints_set_free);
}

/* ---- the loop side ---------------------------------------------------------------------------- */

static bool
endpoints_synced(struct endpoints *e)
{
    return st_kube_informer_has_synced(destination_cache(e->dest, DESTINATION_SERVICES)) &&
           st_kube_informer_has_synced(destination_cache(e->dest, DESTINATION_ENDPOINTS)) &&
           st_kube_informer_has_synced(destination_cache(e->dest, DESTINATION_WORKLOADS));
}

static void
endpoints_queue(struct endpoints *e, const char *ns, const char *name)
{
    if (ns == NULL || name == NULL || e->resync_all)
        return;
    char *id = st_xasprintf("%s/%s", ns, name);
    bool dup = dmodel_map_has(&e->queued, id);
    if (!dup && e->n_keys < ENDPOINTS_MAX_PENDING)
        dmodel_map_put(&e->queued, id, e);
    free(id);
    if (dup)
        return;
    if (e->n_keys >= ENDPOINTS_MAX_PENDING) {
        e->resync_all = true;
        return;
    }
    struct ep_key *k = st_xcalloc(1, sizeof(*k));
    k->ns = st_xstrdup(ns);
    k->name = st_xstrdup(name);
    if (e->keys_tail)
        e->keys_tail->next = k;
    else
        e->keys = k;
    e->keys_tail = k;
    e->n_keys++;
}

/*
 * The workloads that may match <svc>'s selector: those filed under its
 * rarest pair (dmodel_endpoints_for checks the whole selector). Returns a
 * new array of borrowed-then-referenced objects.
 */
static json_t *
endpoints_candidates(struct endpoints *e, const char *ns, const json_t *svc)
{
    json_t *sel = st_json_path(svc, "spec.selector"), *v, *out = json_array();
    const struct dmodel_map *best = NULL;
    const char *k;
    bool none = false;

    json_object_foreach(sel, k, v) {
        if (!json_is_string(v))
            continue;
        const struct dmodel_map *set =
            endpoints_index_get(&e->workloads, ns, k, json_string_value(v));
        if (set == NULL) {
            none = true; /* no workload carries this pair */
            break;
        }
        if (best == NULL || dmodel_map_size(set) < dmodel_map_size(best))
            best = set;
    }
    if (none || best == NULL)
        return out;
    struct st_kube_informer *inf = destination_cache(e->dest, DESTINATION_WORKLOADS);
    size_t pos = 0;
    const char *name;
    while ((name = dmodel_map_next(best, &pos, NULL)) != NULL) {
        json_t *w = st_kube_informer_acquire(inf, ns, name);
        if (w != NULL)
            json_array_append_new(out, w);
    }
    return out;
}

/* Looks at one Service: queues a write when its Endpoints differ from the desired ones. */
static void
endpoints_reconcile(struct endpoints *e, const char *ns, const char *name)
{
    json_t *svc =
        st_kube_informer_acquire(destination_cache(e->dest, DESTINATION_SERVICES), ns, name);
    json_t *cur =
        st_kube_informer_acquire(destination_cache(e->dest, DESTINATION_ENDPOINTS), ns, name);
    json_t *desired = NULL;

    if (svc != NULL) {
        json_t *candidates = endpoints_candidates(e, ns, svc);
        desired = dmodel_endpoints_for(svc, candidates);
        json_decref(candidates);
    }
    if (cur != NULL && !dmodel_endpoints_managed(cur)) {
        json_decref(desired); /* not ours: never touched */
    } else if (desired == NULL) {
        if (cur != NULL)
            endpoints_submit(e, ns, name, NULL);
    } else if (cur != NULL && dmodel_endpoints_equal(cur, desired)) {
        json_decref(desired);
    } else {
        endpoints_submit(e, ns, name, desired);
    }
    json_decref(cur);
    json_decref(svc);
}

static bool
endpoints_queue_svc(json_t *obj, void *data)
{
    endpoints_queue(data, st_json_str(obj, "metadata.namespace"), st_json_str(obj, "metadata.name"));
    return true;
}

static bool
endpoints_queue_managed(json_t *obj, void *data)
{
    if (dmodel_endpoints_managed(obj))
        endpoints_queue_svc(obj, data);
    return true;
}

static void
endpoints_on_pass(struct st_ev *loop, struct st_ev_defer *d)
{
    struct endpoints *e = d->data;

    if (!lease_is_leader(e->lease) || !endpoints_synced(e))
        return; /* the keys wait; becoming leader or a sync runs the pass again */
    if (e->resync_all) {
        e->resync_all = false;
        while (e->keys != NULL) {
            struct ep_key *k = e->keys;
            e->keys = k->next;
            free(k->ns);
            free(k->name);
            free(k);
        }
        e->keys_tail = NULL;
        e->n_keys = 0;
        dmodel_map_clear(&e->queued, NULL);
        st_kube_informer_foreach(destination_cache(e->dest, DESTINATION_SERVICES),
                                 endpoints_queue_svc, e);
        st_kube_informer_foreach(destination_cache(e->dest, DESTINATION_ENDPOINTS),
                                 endpoints_queue_managed, e);
    }
    while (e->keys != NULL) {
        struct ep_key *k = e->keys;
        e->keys = k->next;
        e->n_keys--;
        char *id = st_xasprintf("%s/%s", k->ns, k->name);
        dmodel_map_del(&e->queued, id);
        free(id);
        endpoints_reconcile(e, k->ns, k->name);
        free(k->ns);
        free(k->name);
        free(k);
    }
    e->keys_tail = NULL;
}

/* Queues the Services of <ns> whose selector matches <labels> (a workload's, old or new). */
static void
endpoints_queue_selecting(struct endpoints *e, const char *ns, const json_t *labels)
{
    struct st_kube_informer *svcs = destination_cache(e->dest, DESTINATION_SERVICES);
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)labels, k, v) {
        if (!json_is_string(v))
            continue;
        const struct dmodel_map *set =
            endpoints_index_get(&e->selectors, ns, k, json_string_value(v));
        size_t pos = 0;
        const char *name;
        while (set != NULL && (name = dmodel_map_next(set, &pos, NULL)) != NULL) {
            json_t *svc = st_kube_informer_acquire(svcs, ns, name);
            if (svc != NULL && dmodel_selector_matches(st_json_path(svc, "spec.selector"), labels))
                endpoints_queue(e, ns, name);
            json_decref(svc);
        }
    }
}

/* Re-files <obj>'s namespace/name in <x> from the cache's current version (absent: dropped). */
static void
endpoints_refile(struct endpoints *e, struct ep_index *x, enum destination_cache which,
                 const json_t *obj, const char *path)
{
    const char *ns = st_json_str(obj, "metadata.namespace");
    const char *name = st_json_str(obj, "metadata.name");

    if (ns == NULL || name == NULL)
        return;
    json_t *cur = st_kube_informer_acquire(destination_cache(e->dest, which), ns, name);
    endpoints_index_set(x, ns, name, cur != NULL ? st_json_path(cur, path) : NULL);
    json_decref(cur);
}

static void
endpoints_on_change(void *arg, enum destination_cache which, json_t *obj)
{
    struct endpoints *e = arg;
    bool leader = lease_is_leader(e->lease); /* becoming the leader resyncs everything */

    if (obj == NULL) {
        e->resync_all = true; /* a cache (re)synced */
    } else if (which == DESTINATION_SERVICES) {
        endpoints_refile(e, &e->selectors, which, obj, "spec.selector");
        if (leader)
            endpoints_queue_svc(obj, e);
    } else if (which == DESTINATION_ENDPOINTS) {
        if (leader)
            endpoints_queue_svc(obj, e);
    } else if (which == DESTINATION_WORKLOADS) {
        /* Called with the old object, then the new one: both label sets are looked at. */
        const char *ns = st_json_str(obj, "metadata.namespace");
        json_t *labels = st_json_path(obj, "metadata.labels");
        if (leader && ns != NULL && json_is_object(labels))
            endpoints_queue_selecting(e, ns, labels);
        endpoints_refile(e, &e->workloads, which, obj, "metadata.labels");
    } else {
        return;
    }
    if (leader)
        st_ev_defer_schedule(e->ctl->loop, &e->pass);
}

static void
endpoints_on_leader(void *arg, bool leader)
{
    struct endpoints *e = arg;

    if (!leader) {
        /* Drop queued writes: the new leader decides from now on. */
        pthread_mutex_lock(&e->lock);
        while (e->jobs != NULL) {
            struct ep_job *j = e->jobs;
            e->jobs = j->next;
            endpoints_job_free(j);
        }
        e->jobs_tail = NULL;
        e->n_jobs = 0;
        pthread_mutex_unlock(&e->lock);
        return;
    }
    e->resync_all = true;
    st_ev_defer_schedule(e->ctl->loop, &e->pass);
}

static void
endpoints_on_resync(struct st_ev *loop, struct st_ev_timer *t)
{
    struct endpoints *e = t->data;

    e->resync_all = true;
    if (lease_is_leader(e->lease))
        st_ev_defer_schedule(loop, &e->pass);
    st_ev_timer_start(loop, t, ENDPOINTS_RESYNC_MS);
}

struct endpoints *
endpoints_new(struct controller *c, struct destination *d, struct lease *l, struct st_err *err)
{
    struct endpoints *e = st_xcalloc(1, sizeof(*e));
    static const char *const result[] = {"result"};
    sigset_t all, old;

    e->ctl = c;
    e->dest = d;
    e->lease = l;
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->cond, NULL);
    st_ev_defer_init(&e->pass, endpoints_on_pass, e);
    st_ev_timer_init(&e->resync, endpoints_on_resync, e);
    struct st_metrics_desc md = {ST_METRICS_COUNTER, "endpoints_writes_total",
                                 "Endpoints objects written by the workload endpoints controller",
                                 result, 1};
    if (st_metrics_family_add(c->metrics, &md, &e->m_writes, err) < 0)
        goto fail;
    e->kc = st_kube_client_new(c->kube_cfg, err);
    if (e->kc == NULL)
        goto fail;
    st_kube_client_set_limits(e->kc, ENDPOINTS_REQUEST_TIMEOUT_MS, ENDPOINTS_REQUEST_TIMEOUT_MS,
                              8u << 20);
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&e->thread, NULL, endpoints_thread, e);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        st_err_set(err, -rc, "cannot start the endpoints writer");
        goto fail;
    }
    e->started = true;
    e->resync_all = true;
    destination_listen(d, endpoints_on_change, e);
    lease_listen(l, endpoints_on_leader, e);
    st_ev_timer_start(c->loop, &e->resync, ENDPOINTS_RESYNC_MS);
    return e;
fail:
    endpoints_free(e);
    return NULL;
}

void
endpoints_free(struct endpoints *e)
{
    if (e == NULL)
        return;
    if (e->started) {
        pthread_mutex_lock(&e->lock);
        e->stop = true;
        pthread_cond_broadcast(&e->cond);
        pthread_mutex_unlock(&e->lock);
        pthread_join(e->thread, NULL);
    }
    while (e->jobs != NULL) {
        struct ep_job *j = e->jobs;
        e->jobs = j->next;
        endpoints_job_free(j);
    }
    while (e->keys != NULL) {
        struct ep_key *k = e->keys;
        e->keys = k->next;
        free(k->ns);
        free(k->name);
        free(k);
    }
    dmodel_map_clear(&e->queued, NULL);
    endpoints_index_free(&e->workloads);
    endpoints_index_free(&e->selectors);
    if (e->ctl->loop) {
        st_ev_defer_cancel(e->ctl->loop, &e->pass);
        st_ev_timer_stop(e->ctl->loop, &e->resync);
    }
    st_kube_client_free(e->kc);
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->cond);
    free(e);
}
