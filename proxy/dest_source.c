/*
 * Routes from the controller's destination API: the st_dest client on the
 * first loop thread and the authorities subscribed, the mailboxes between it
 * and the loop threads, and the requests that wait for a first snapshot. See
 * dest_source.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "strait/dest.h"

#include "dest_source.h"

#define DEST_SOURCE_TICK_MS 1000

/* ---- mailboxes ------------------------------------------------------------------------ */

enum dest_msg_kind {
    DEST_MSG_SUB,  /* loop thread -> the client's (first) thread: subscribe to <key> */
    DEST_MSG_PART, /* client -> loop thread: install <part> */
    DEST_MSG_DROP, /* client -> loop thread: forget <key> */
};

struct dest_msg {
    struct dest_msg *next;
    enum dest_msg_kind kind;
    int thread; /* DEST_MSG_SUB: the asking thread */
    char *key;
    struct disc_part *part; /* reference */
};

struct dest_mbox {
    pthread_mutex_t lock;
    struct dest_msg *head, *tail;
    bool posted; /* a drain is queued on <loop> */
    struct st_ev *loop;
    void (*drain)(void *arg);
    void *arg;
};

static void
dest_msg_free(struct dest_msg *m)
{
    free(m->key);
    discovery_part_unref(m->part);
    free(m);
}

static void
dest_mbox_init(struct dest_mbox *mb, struct st_ev *loop, void (*drain)(void *), void *arg)
{
    pthread_mutex_init(&mb->lock, NULL);
    mb->head = mb->tail = NULL;
    mb->posted = false;
    mb->loop = loop;
    mb->drain = drain;
    mb->arg = arg;
}

static void
dest_mbox_fini(struct dest_mbox *mb)
{
    struct dest_msg *m = mb->head;

    while (m != NULL) {
        struct dest_msg *next = m->next;
        dest_msg_free(m);
        m = next;
    }
    mb->head = mb->tail = NULL;
    pthread_mutex_destroy(&mb->lock);
}

/* Queues <m> (takes ownership) and makes sure a drain runs on the mailbox's loop. */
static void
dest_mbox_push(struct dest_mbox *mb, struct dest_msg *m)
{
    bool post;

    m->next = NULL;
    pthread_mutex_lock(&mb->lock);
    if (mb->tail != NULL)
        mb->tail->next = m;
    else
        mb->head = m;
    mb->tail = m;
    post = !mb->posted;
    mb->posted = true;
    pthread_mutex_unlock(&mb->lock);
    if (post)
        st_ev_post(mb->loop, mb->drain, mb->arg);
}

/* Takes every queued message, in order. */
static struct dest_msg *
dest_mbox_take(struct dest_mbox *mb)
{
    struct dest_msg *m;

    pthread_mutex_lock(&mb->lock);
    m = mb->head;
    mb->head = mb->tail = NULL;
    mb->posted = false;
    pthread_mutex_unlock(&mb->lock);
    return m;
}

/* ---- state ---------------------------------------------------------------------------- */

/* An authority asked for on a loop thread and not answered yet. */
struct dest_key {
    char *key;
    struct list waiters; /* struct dest_wait */
};

struct dest_wait {
    struct list link;
    struct dest_key *k; /* NULL once over */
    struct dest_thread *dt;
    struct st_ev_timer timer;
    dest_source_cb *cb;
    void *arg;
    /* A parked exchange (dest_source_park). */
    struct xchg *x;
    char *shown;
    dest_source_resume_fn *resume;
};

/* What the source keeps per loop thread (touched only on that thread, but for the mailbox). */
struct dest_thread {
    struct dest_source *src;
    struct proxy_thread *th;
    struct dest_mbox mbox;
    struct disc_map keys; /* key -> struct dest_key */
};

/* An authority subscribed by the client (first loop thread only). */
struct dest_auth {
    char *key;
    struct st_dest_sub *sub;
    struct disc_touch *touch;
    struct disc_part *part; /* the last snapshot's, or NULL */
    uint64_t since_ms;      /* subscribed */
    bool warned;            /* a broken stream was logged as a warning */
};

struct dest_source {
    struct proxy *px;
    struct dest_source_options o;
    struct st_ev *loop; /* the first loop thread's: borrowed */
    struct st_dest_client *client;
    struct st_ev_timer tick;
    struct dest_mbox in; /* DEST_MSG_SUB from the loop threads */
    struct dest_thread *threads;
    int n_threads;
    struct disc_map auths; /* key -> struct dest_auth */
};

/* One per process, like the proxy itself. */
static struct dest_source *dest_global;

bool
dest_source_enabled(void)
{
    return dest_global != NULL;
}

/* ---- the client, on the first loop thread ---------------------------------------------- */

/* Sends <part> (a new reference each) to every loop thread, or to <only> when >= 0. */
static void
dest_source_fan_out(struct dest_source *src, enum dest_msg_kind kind, const char *key,
                    struct disc_part *part, int only)
{
    for (int i = 0; i < src->n_threads; i++) {
        if (only >= 0 && i != only)
            continue;
        struct dest_msg *m = st_xcalloc(1, sizeof(*m));
        m->kind = kind;
        m->key = st_xstrdup(key);
        m->part = discovery_part_ref(part);
        dest_mbox_push(&src->threads[i].mbox, m);
    }
}

static void
dest_source_snapshot(void *arg, struct st_dest_sub *sub, const struct st_dest_snapshot *snap)
{
    struct dest_auth *a = arg;
    struct dest_source *src = dest_global;
    struct disc_part *p = NULL;
    struct st_err err = {0};

    ST_UNUSED(sub);
    if (discovery_part_from_snapshot(a->key, snap, src->px->cfg.cluster_domain, a->touch, &p,
                                     &err) < 0) {
        st_log(ST_LOG_WARN, "destination: %s: unusable snapshot: %s", a->key, err.msg);
        return;
    }
    st_log(ST_LOG_DEBUG, "destination: %s: %s", a->key,
           !p->found                  ? "not found"
           : snap->kind == ST_DEST_SPLIT ? "split"
                                         : "service");
    discovery_part_unref(a->part);
    a->part = p;
    dest_source_fan_out(src, DEST_MSG_PART, a->key, p, -1);
}

static void
dest_source_state(void *arg, const char *authority, bool connected, const struct st_err *err)
{
    struct dest_source *src = arg;
    struct dest_auth *a = discovery_map_get(&src->auths, authority);

    if (connected) {
        if (a != NULL && a->warned)
            st_log(ST_LOG_INFO, "destination: %s: stream back", authority);
        if (a != NULL)
            a->warned = false;
        return;
    }
    /* A controller that is down breaks every stream at each retry: warn once per stream. */
    st_log(a != NULL && !a->warned ? ST_LOG_WARN : ST_LOG_DEBUG,
           "destination: %s: stream broken (%s); routing with the last snapshot", authority,
           err != NULL ? err->msg : "");
    if (a != NULL)
        a->warned = true;
}

static void
dest_source_auth_free(struct dest_auth *a)
{
    st_dest_unsubscribe(a->sub);
    discovery_part_unref(a->part);
    discovery_touch_unref(a->touch);
    free(a->key);
    free(a);
}

static void
dest_source_subscribe(struct dest_source *src, const char *key, int thread)
{
    struct dest_auth *a = discovery_map_get(&src->auths, key);

    if (a != NULL) {
        /* Known already: the thread may have asked before our fan-out reached it. */
        if (a->part != NULL)
            dest_source_fan_out(src, DEST_MSG_PART, key, a->part, thread);
        return;
    }
    if (src->auths.n >= DEST_SOURCE_MAX_AUTHORITIES) {
        st_log(ST_LOG_WARN, "destination: more than %u authorities in use; %s is not resolved",
               DEST_SOURCE_MAX_AUTHORITIES, key);
        return;
    }
    a = st_xcalloc(1, sizeof(*a));
    a->key = st_xstrdup(key);
    a->touch = discovery_touch_new();
    a->since_ms = st_now_ms();
    discovery_map_put(&src->auths, a->key, a);
    a->sub = st_dest_subscribe(src->client, key, dest_source_snapshot, a);
    if (a->sub == NULL) {
        discovery_map_del(&src->auths, a->key);
        dest_source_auth_free(a);
    }
}

static void
dest_source_in_drain(void *arg)
{
    struct dest_source *src = arg;
    struct dest_msg *m = dest_mbox_take(&src->in);

    while (m != NULL) {
        struct dest_msg *next = m->next;
        if (m->kind == DEST_MSG_SUB)
            dest_source_subscribe(src, m->key, m->thread);
        dest_msg_free(m);
        m = next;
    }
}

/* Unsubscribes what no thread routed with for idle_ms. */
static void
dest_source_idle(struct dest_source *src, uint64_t now)
{
    uint32_t idle = src->o.idle_ms != 0 ? src->o.idle_ms : DEST_SOURCE_IDLE_MS;

    for (size_t i = 0; i < src->auths.cap; i++) {
        struct disc_map_slot *s = &src->auths.slots[i];
        if (s->key == NULL)
            continue;
        struct dest_auth *a = s->val;
        uint64_t last = ST_MAX(a->since_ms, atomic_load(&a->touch->ms));
        if (a->part == NULL || now - last < idle)
            continue;
        st_log(ST_LOG_DEBUG, "destination: %s unused for %ums: unsubscribed", a->key, idle);
        dest_source_fan_out(src, DEST_MSG_DROP, a->key, NULL, -1);
        discovery_map_del(&src->auths, a->key);
        dest_source_auth_free(a);
        i = (size_t)-1; /* the map moved entries: start over (rare, and the map is small) */
    }
}

static void
dest_source_tick(struct st_ev *loop, struct st_ev_timer *t)
{
    struct dest_source *src = t->data;

    dest_source_idle(src, st_now_ms());
    st_ev_timer_start(loop, t, DEST_SOURCE_TICK_MS);
}

/* ---- loop threads --------------------------------------------------------------------- */

static void
dest_source_key_free(struct dest_key *k)
{
    free(k->key);
    free(k);
}

/* Ends <w>'s wait (unlinks it, stops its timer); the caller frees or reuses it. */
static void
dest_source_unwait(struct dest_wait *w)
{
    if (w->k == NULL)
        return;
    list_del(&w->link);
    w->k = NULL;
    st_ev_timer_stop(w->dt->th->loop, &w->timer);
}

static void
dest_source_wait_free(struct dest_wait *w)
{
    free(w->shown);
    free(w);
}

/* Wakes every waiter of <key> on <dt> with <status>. */
static void
dest_source_answer(struct dest_thread *dt, const char *key)
{
    struct dest_key *k = discovery_map_del(&dt->keys, key);

    if (k == NULL)
        return;
    while (!list_empty(&k->waiters)) {
        struct dest_wait *w = ST_CONTAINER_OF(k->waiters.next, struct dest_wait, link);
        bool parked = w->resume != NULL; /* a parked wait is freed by its callback */
        dest_source_unwait(w);
        w->cb(w->arg, k->key, 0);
        if (!parked)
            dest_source_wait_free(w);
    }
    dest_source_key_free(k);
}

static void
dest_source_thread_drain(void *arg)
{
    struct dest_thread *dt = arg;
    struct dest_msg *m = dest_mbox_take(&dt->mbox);

    while (m != NULL) {
        struct dest_msg *next = m->next;
        if (m->kind == DEST_MSG_PART) {
            discovery_set_part(dt->th->disc, m->part);
            m->part = NULL; /* taken */
            dest_source_answer(dt, m->key);
        } else if (m->kind == DEST_MSG_DROP) {
            discovery_drop_part(dt->th->disc, m->key);
        }
        dest_msg_free(m);
        m = next;
    }
}

static void
dest_source_timeout(struct st_ev *loop, struct st_ev_timer *t)
{
    struct dest_wait *w = t->data;
    struct dest_key *k = w->k;

    ST_UNUSED(loop);
    if (k == NULL)
        return;
    bool parked = w->resume != NULL; /* a parked wait is freed by its callback */
    dest_source_unwait(w);
    w->cb(w->arg, k->key, ST_ETIMEOUT);
    if (!parked)
        dest_source_wait_free(w);
    /* The key stays asked: the client keeps trying and answers when it can. */
}

struct dest_wait *
dest_source_wait(struct proxy_thread *th, const char *canon, dest_source_cb *cb, void *arg)
{
    struct dest_source *src = dest_global;

    if (src == NULL || th->index >= src->n_threads)
        return NULL;
    struct dest_thread *dt = &src->threads[th->index];
    if (discovery_part(th->disc, canon) != NULL || discovery_file_has(th->disc, canon))
        return NULL;
    struct dest_key *k = discovery_map_get(&dt->keys, canon);
    if (k == NULL) {
        if (dt->keys.n >= DEST_SOURCE_MAX_AUTHORITIES)
            return NULL;
        k = st_xcalloc(1, sizeof(*k));
        k->key = st_xstrdup(canon);
        list_init(&k->waiters);
        discovery_map_put(&dt->keys, k->key, k);
        struct dest_msg *m = st_xcalloc(1, sizeof(*m));
        m->kind = DEST_MSG_SUB;
        m->thread = th->index;
        m->key = st_xstrdup(canon);
        dest_mbox_push(&src->in, m);
    }
    struct dest_wait *w = st_xcalloc(1, sizeof(*w));
    w->dt = dt;
    w->k = k;
    w->cb = cb;
    w->arg = arg;
    list_add(k->waiters.prev, &w->link); /* at the tail: answered in arrival order */
    st_ev_timer_init(&w->timer, dest_source_timeout, w);
    st_ev_timer_start(th->loop, &w->timer, src->o.wait_ms != 0 ? src->o.wait_ms
                                                               : DEST_SOURCE_WAIT_MS);
    return w;
}

void
dest_source_cancel(struct dest_wait *w)
{
    if (w == NULL)
        return;
    dest_source_unwait(w);
    dest_source_wait_free(w);
}

/* ---- parked exchanges ------------------------------------------------------------------ */

/* Takes the wait off <x>'s upstream slot. */
static void
dest_source_unpark(struct dest_wait *w)
{
    struct xchg *x = w->x;

    x->up = NULL;
    x->up_ops = NULL;
    st_ev_defer_cancel(x->th->loop, &x->up_defer);
}

static void
dest_source_park_cb(void *arg, const char *canon, int status)
{
    struct dest_wait *w = arg;
    struct xchg *x = w->x;

    dest_source_unpark(w);
    if (status == 0) {
        w->resume(x, canon, w->shown);
    } else {
        char reason[400];
        snprintf(reason, sizeof(reason), "no answer from the destination service for %.300s",
                 canon);
        xchg_abort(x, 503, reason);
    }
    dest_source_wait_free(w);
}

/* The exchange changed while parked: only an abort (the client went away) matters. */
static void
dest_source_park_wake(void *side)
{
    struct dest_wait *w = side;
    struct xchg *x = w->x;

    if (!x->aborted)
        return;
    dest_source_unwait(w);
    dest_source_wait_free(w);
    xchg_detach_up(x); /* may free <x> when its client is gone */
}

static const struct side_ops dest_source_park_ops = {.wake = dest_source_park_wake};

bool
dest_source_park(struct xchg *x, const char *canon, const char *shown,
                 dest_source_resume_fn *resume)
{
    struct dest_wait *w;

    if (x->up != NULL)
        return false;
    w = dest_source_wait(x->th, canon, dest_source_park_cb, NULL);
    if (w == NULL)
        return false;
    w->arg = w;
    w->x = x;
    w->shown = st_xstrdup(shown);
    w->resume = resume;
    xchg_attach_up(x, w, &dest_source_park_ops);
    return true;
}

/* ---- start and stop ------------------------------------------------------------------- */

int
dest_source_start(struct proxy *px, const struct dest_source_options *o, struct st_err *err)
{
    struct dest_source *src = st_xcalloc(1, sizeof(*src));
    int rc;

    src->px = px;
    src->o = *o;
    discovery_map_init(&src->auths);
    dest_global = src;
    src->loop = px->threads[0]->loop;
    struct st_dest_options d = {
        .addr = o->addr,
        .server_identity = o->server_identity,
        .tls = o->tls,
        .on_state = dest_source_state,
        .state_arg = src,
    };
    if ((src->client = st_dest_client_new(src->loop, &d, err)) == NULL) {
        rc = ST_EINVAL;
        goto fail;
    }
    dest_mbox_init(&src->in, src->loop, dest_source_in_drain, src);
    src->n_threads = px->n_threads;
    src->threads = st_xcalloc((size_t)px->n_threads, sizeof(*src->threads));
    for (int i = 0; i < px->n_threads; i++) {
        struct dest_thread *dt = &src->threads[i];
        dt->src = src;
        dt->th = px->threads[i];
        dest_mbox_init(&dt->mbox, dt->th->loop, dest_source_thread_drain, dt);
        discovery_map_init(&dt->keys);
        discovery_enable_parts(dt->th->disc);
    }
    st_ev_timer_init(&src->tick, dest_source_tick, src);
    st_ev_timer_start(src->loop, &src->tick, DEST_SOURCE_TICK_MS);
    return 0;

fail:
    dest_source_stop();
    return rc;
}

void
dest_source_stop(void)
{
    struct dest_source *src = dest_global;

    if (src == NULL)
        return;
    if (src->loop != NULL)
        st_ev_timer_stop(src->loop, &src->tick);
    for (size_t i = 0; i < src->auths.cap; i++)
        if (src->auths.slots[i].key != NULL)
            dest_source_auth_free(src->auths.slots[i].val);
    discovery_map_free(&src->auths);
    st_dest_client_free(src->client);
    if (src->threads != NULL) {
        dest_mbox_fini(&src->in);
        for (int i = 0; i < src->n_threads; i++) {
            struct dest_thread *dt = &src->threads[i];
            dest_mbox_fini(&dt->mbox);
            for (size_t j = 0; j < dt->keys.cap; j++) {
                struct dest_key *k = dt->keys.slots[j].key != NULL ? dt->keys.slots[j].val : NULL;
                if (k == NULL)
                    continue;
                while (!list_empty(&k->waiters)) {
                    struct dest_wait *w = ST_CONTAINER_OF(k->waiters.next, struct dest_wait, link);
                    list_del(&w->link);
                    w->k = NULL; /* its exchange, if any, is left to the kernel with its socket */
                }
                dest_source_key_free(k);
            }
            discovery_map_free(&dt->keys);
        }
        free(src->threads);
    }
    free(src);
    dest_global = NULL;
}
