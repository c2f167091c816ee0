/*
 * Leader election with a coordination.k8s.io/v1 Lease, the way client-go's
 * leaderelection package does it.
 *
 * A thread with its own blocking kube client tries every LEASE_RETRY_MS to
 * acquire or renew the Lease "strait-controller" in the controller's
 * namespace. Writes carry the resourceVersion they read (optimistic
 * concurrency), so of two replicas that race for an expired lease exactly
 * one wins. A lease held by another replica counts as expired when its
 * record (holder and renewTime) has not changed for leaseDurationSeconds
 * of this replica's own monotonic clock, so clock skew between hosts does
 * not matter. A leader that cannot renew for LEASE_RENEW_DEADLINE_MS steps
 * down before its lease can expire for the others. On exit a leader
 * releases the lease (empty holderIdentity), so a standby takes over at its
 * next try instead of after the lease duration.
 *
 * The thread tells the loop thread through st_ev_post; listeners (the
 * endpoints controller, later the service mirror) run on the loop thread.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "controller.h"
#include "strait/json.h"

#define LEASE_NAME "strait-controller"
#define LEASE_DURATION_S 15
#define LEASE_RENEW_DEADLINE_MS 10000
#define LEASE_RETRY_MS 2000
#define LEASE_REQUEST_TIMEOUT_MS 2000

struct lease_listener {
    lease_change_cb *fn;
    void *arg;
};

struct lease {
    struct controller *ctl;
    char *identity; /* holderIdentity of this replica */
    char *path;     /* the Lease object */
    char *collection;
    struct st_kube_client *kc; /* the thread's */

    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
    bool thread_leader; /* under <lock>: the thread's view */

    /* The thread's bookkeeping. */
    char *observed;       /* "<holder>|<renewTime>" last seen */
    uint64_t observed_ms; /* when it last changed */
    uint64_t renewed_ms;  /* last successful acquire or renew */

    /* Loop thread only. */
    bool leader;
    struct lease_listener listeners[4];
    size_t n_listeners;
    struct st_metrics_series *m_leader;
    struct st_metrics_series *m_transitions;
};

/* "2006-01-02T15:04:05.000000Z", the MicroTime format of Lease times. */
static void
lease_micro_time(char out[32])
{
    struct timespec ts;
    struct tm tm;
    char date[24];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%.19s.%06uZ", date, (unsigned)(ts.tv_nsec / 1000) % 1000000u);
}

/* Runs on the loop thread: takes the thread's view and tells the listeners. */
static void
lease_apply(void *arg)
{
    struct lease *l = arg;

    pthread_mutex_lock(&l->lock);
    bool v = l->thread_leader;
    pthread_mutex_unlock(&l->lock);
    if (v == l->leader)
        return;
    l->leader = v;
    st_metrics_gauge_set(l->m_leader, v ? 1 : 0);
    if (v)
        st_metrics_counter_inc(l->m_transitions, 0);
    st_log(ST_LOG_INFO, "lease: %s the leader (%s)", v ? "became" : "no longer", l->identity);
    for (size_t i = 0; i < l->n_listeners; i++)
        l->listeners[i].fn(l->listeners[i].arg, v);
}

static void
lease_set_thread_leader(struct lease *l, bool v)
{
    pthread_mutex_lock(&l->lock);
    bool changed = l->thread_leader != v;
    l->thread_leader = v;
    pthread_mutex_unlock(&l->lock);
    if (changed)
        st_ev_post(l->ctl->loop, lease_apply, l);
}

static json_t *
lease_spec(struct lease *l, const char *acquire, const char *renew, int64_t transitions)
{
    return json_pack("{s:s, s:i, s:s, s:s, s:I}", "holderIdentity", l->identity,
                     "leaseDurationSeconds", LEASE_DURATION_S, "acquireTime", acquire, "renewTime",
                     renew, "leaseTransitions", (json_int_t)transitions);
}

/* One try to acquire or renew; returns true when this replica holds the lease now. */
static bool
lease_try(struct lease *l)
{
    struct st_err err = {0};
    json_t *cur = NULL, *obj = NULL;
    char now[32];
    bool held = false;
    int rc;

    lease_micro_time(now);
    rc = st_kube_get(l->kc, l->path, &cur, &err);
    if (rc == ST_ENOTFOUND) {
        obj = json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion", "coordination.k8s.io/v1",
                        "kind", "Lease", "metadata", "name", LEASE_NAME, "namespace",
                        l->ctl->namespace, "spec", lease_spec(l, now, now, 0));
        rc = st_kube_create(l->kc, l->collection, obj, NULL, &err);
        held = rc == 0;
        if (rc < 0 && rc != ST_ECONFLICT)
            st_log(ST_LOG_WARN, "lease: cannot create %s/%s: %s", l->ctl->namespace, LEASE_NAME,
                   err.msg);
        goto out;
    }
    if (rc < 0) {
        st_log(ST_LOG_WARN, "lease: cannot read %s/%s: %s", l->ctl->namespace, LEASE_NAME,
               err.msg);
        goto out;
    }
    const char *holder = st_json_str(cur, "spec.holderIdentity");
    const char *renew = st_json_str(cur, "spec.renewTime");
    int64_t duration = st_json_int_or(cur, "spec.leaseDurationSeconds", LEASE_DURATION_S);
    int64_t transitions = st_json_int_or(cur, "spec.leaseTransitions", 0);
    char *record = st_xasprintf("%s|%s", holder ? holder : "", renew ? renew : "");
    uint64_t now_ms = st_now_ms();
    if (l->observed == NULL || strcmp(l->observed, record) != 0) {
        free(l->observed);
        l->observed = record;
        l->observed_ms = now_ms;
    } else {
        free(record);
    }
    bool mine = holder != NULL && strcmp(holder, l->identity) == 0;
    bool free_lease = holder == NULL || *holder == '\0';
    bool expired = now_ms - l->observed_ms > (uint64_t)ST_MAX(duration, 1) * 1000;
    if (!mine && !free_lease && !expired)
        goto out;

    obj = json_deep_copy(cur);
    const char *acquire = mine ? st_json_str(cur, "spec.acquireTime") : NULL;
    st_json_set_path(obj, "spec", lease_spec(l, acquire ? acquire : now, now,
                                             mine ? transitions : transitions + 1));
    rc = st_kube_update(l->kc, l->path, obj, NULL, &err);
    held = rc == 0;
    if (rc < 0 && rc != ST_ECONFLICT)
        st_log(ST_LOG_WARN, "lease: cannot %s %s/%s: %s", mine ? "renew" : "acquire",
               l->ctl->namespace, LEASE_NAME, err.msg);
out:
    json_decref(cur);
    json_decref(obj);
    return held;
}

/* Gives the lease up when this replica holds it; for a fast hand-over on exit. */
static void
lease_release(struct lease *l)
{
    struct st_err err = {0};
    json_t *cur = NULL;
    char now[32];

    if (st_kube_get(l->kc, l->path, &cur, &err) == 0) {
        const char *holder = st_json_str(cur, "spec.holderIdentity");
        if (holder != NULL && strcmp(holder, l->identity) == 0) {
            lease_micro_time(now);
            st_json_set_path(cur, "spec.holderIdentity", json_string(""));
            st_json_set_path(cur, "spec.leaseDurationSeconds", json_integer(1));
            st_json_set_path(cur, "spec.renewTime", json_string(now));
            if (st_kube_update(l->kc, l->path, cur, NULL, &err) == 0)
                st_log(ST_LOG_INFO, "lease: released %s/%s", l->ctl->namespace, LEASE_NAME);
            else
                st_log(ST_LOG_WARN, "lease: cannot release: %s", err.msg);
        }
    }
    json_decref(cur);
}

static void *
lease_thread(void *arg)
{
    struct lease *l = arg;
    bool leader = false;

    pthread_mutex_lock(&l->lock);
    while (!l->stop) {
        pthread_mutex_unlock(&l->lock);
        bool held = lease_try(l);
        uint64_t now = st_now_ms();
        if (held) {
            l->renewed_ms = now;
            leader = true;
        } else if (leader && now - l->renewed_ms > LEASE_RENEW_DEADLINE_MS) {
            leader = false; /* step down before the others may take over */
        }
        lease_set_thread_leader(l, leader);

        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += LEASE_RETRY_MS / 1000;
        pthread_mutex_lock(&l->lock);
        while (!l->stop && pthread_cond_timedwait(&l->cond, &l->lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&l->lock);
    if (leader)
        lease_release(l);
    return NULL;
}

struct lease *
lease_new(struct controller *c, struct st_err *err)
{
    struct lease *l = st_xcalloc(1, sizeof(*l));
    struct st_metrics_family *f;
    char host[64] = "";
    sigset_t all, old;

    l->ctl = c;
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->cond, NULL);
    gethostname(host, sizeof(host) - 1);
    l->identity = st_xasprintf("%s_%d_%08llx", host[0] ? host : "controller", (int)getpid(),
                               (unsigned long long)(st_random_u64() & 0xffffffffu));
    l->path = st_kube_path("coordination.k8s.io", "v1", "leases", c->namespace, LEASE_NAME);
    l->collection = st_kube_path("coordination.k8s.io", "v1", "leases", c->namespace, NULL);
    l->kc = st_kube_client_new(c->kube_cfg, err);
    if (l->kc == NULL)
        goto fail;
    st_kube_client_set_limits(l->kc, LEASE_REQUEST_TIMEOUT_MS, LEASE_REQUEST_TIMEOUT_MS, 1u << 20);

    struct st_metrics_desc d = {ST_METRICS_GAUGE, "leader",
                                "1 while this replica holds the strait-controller lease"};
    if (st_metrics_family_add(c->metrics, &d, &f, err) < 0)
        goto fail;
    l->m_leader = st_metrics_series_get(f, NULL);
    st_metrics_gauge_set(l->m_leader, 0);
    d = (struct st_metrics_desc){ST_METRICS_COUNTER, "leader_acquired_total",
                                 "Times this replica became the leader"};
    if (st_metrics_family_add(c->metrics, &d, &f, err) < 0)
        goto fail;
    l->m_transitions = st_metrics_series_get(f, NULL);

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&l->thread, NULL, lease_thread, l);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        st_err_set(err, -rc, "cannot start the lease thread");
        goto fail;
    }
    l->started = true;
    st_log(ST_LOG_INFO, "lease: competing for %s/%s as %s", c->namespace, LEASE_NAME,
           l->identity);
    return l;
fail:
    lease_free(l);
    return NULL;
}

void
lease_listen(struct lease *l, lease_change_cb *fn, void *arg)
{
    if (l->n_listeners == ST_ARRAY_LEN(l->listeners))
        abort(); /* a programming error: raise the array */
    l->listeners[l->n_listeners++] = (struct lease_listener){fn, arg};
    if (l->leader)
        fn(arg, true);
}

bool
lease_is_leader(const struct lease *l)
{
    return l != NULL && l->leader;
}

void
lease_free(struct lease *l)
{
    if (l == NULL)
        return;
    if (l->started) {
        pthread_mutex_lock(&l->lock);
        l->stop = true;
        pthread_cond_broadcast(&l->cond);
        pthread_mutex_unlock(&l->lock);
        pthread_join(l->thread, NULL);
    }
    st_kube_client_free(l->kc);
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->cond);
    free(l->observed);
    free(l->identity);
    free(l->path);
    free(l->collection);
    free(l);
}
