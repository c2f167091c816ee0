/*
 * Unit tests for the event loop: timer order and cancellation, many timers,
 * edge-triggered fd readiness, stopping watchers of the same batch from a
 * callback, deferred calls, cross-thread posts, signals and stop.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "strait/ev.h"

/* A guard timer fails the test instead of letting a broken loop hang ctest. */
struct guard {
    struct st_ev_timer t;
    bool fired;
};

static void
guard_cb(struct st_ev *loop, struct st_ev_timer *t)
{
    struct guard *g = ST_CONTAINER_OF(t, struct guard, t);
    g->fired = true;
    st_ev_stop(loop);
}

static void
guard_start(struct st_ev *loop, struct guard *g, uint64_t ms)
{
    g->fired = false;
    st_ev_timer_init(&g->t, guard_cb, NULL);
    st_ev_timer_start(loop, &g->t, ms);
}

static struct st_ev *
new_loop(void)
{
    struct st_err err = {0};
    struct st_ev *loop = st_ev_new(&err);
    assert_non_null(loop);
    return loop;
}

/* ---- timers ------------------------------------------------------------------- */

struct order_rec {
    int fired[16];
    int n;
    int stop_after;
};

struct order_timer {
    struct st_ev_timer t;
    struct order_rec *rec;
    int id;
};

static void
order_cb(struct st_ev *loop, struct st_ev_timer *t)
{
    struct order_timer *ot = ST_CONTAINER_OF(t, struct order_timer, t);
    ot->rec->fired[ot->rec->n++] = ot->id;
    if (ot->rec->n == ot->rec->stop_after)
        st_ev_stop(loop);
}

static void
test_timer_order(void **state)
{
    struct st_ev *loop = new_loop();
    struct order_rec rec = {.stop_after = 5};
    struct order_timer ts[7];
    /* Timer 0 is far off, so a late wakeup under load cannot fire it too. */
    const uint64_t after[7] = {3000, 10, 20, 10, 0, 15, 10};
    struct guard g;

    for (int i = 0; i < 7; i++) {
        ts[i].rec = &rec;
        ts[i].id = i;
        st_ev_timer_init(&ts[i].t, order_cb, NULL);
        st_ev_timer_start(loop, &ts[i].t, after[i]);
        assert_true(st_ev_timer_active(&ts[i].t));
    }
    /* Cancel one, and move another later by restarting it. */
    st_ev_timer_stop(loop, &ts[5].t);
    assert_false(st_ev_timer_active(&ts[5].t));
    st_ev_timer_stop(loop, &ts[5].t); /* stopping twice is harmless */
    st_ev_timer_start(loop, &ts[1].t, 25);
    guard_start(loop, &g, 5000);

    assert_int_equal(st_ev_run(loop), 0);
    assert_false(g.fired);
    /* 4 (0 ms); 3 and 6 share 10 ms and fire in start order; 2 (20); 1 (25, moved). */
    const int want[5] = {4, 3, 6, 2, 1};
    assert_int_equal(rec.n, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(rec.fired[i], want[i]);
    assert_false(st_ev_timer_active(&ts[4].t));
    assert_true(st_ev_timer_active(&ts[0].t)); /* 3 s have not passed yet */
    st_ev_free(loop);
    assert_false(st_ev_timer_active(&ts[0].t)); /* freeing the loop forgets it */
}

struct many {
    struct st_ev_timer *ts;
    uint64_t *deadline;
    size_t n, fired, stop_at;
    uint64_t last_deadline;
    size_t last_index;
    bool in_order;
};

static struct many *many_global;

static void
many_cb(struct st_ev *loop, struct st_ev_timer *t)
{
    struct many *m = many_global;
    size_t i = (size_t)(t - m->ts);
    uint64_t d = m->deadline[i];

    /* Deadlines never decrease; equal deadlines fire in start (index) order. */
    if (m->fired > 0 && (d < m->last_deadline || (d == m->last_deadline && i < m->last_index)))
        m->in_order = false;
    m->last_deadline = d;
    m->last_index = i;
    m->fired++;
    /* Stopping a timer that is due in this same iteration must keep it from firing. */
    if (i + 1 < m->n && st_ev_timer_active(&m->ts[i + 1]) && (i % 7) == 0)
        st_ev_timer_stop(loop, &m->ts[i + 1]);
    if (m->fired == m->stop_at)
        st_ev_stop(loop);
}

static void
test_timer_many(void **state)
{
    struct st_ev *loop = new_loop();
    struct many m = {.n = 10000, .in_order = true};
    struct st_rng rng;
    struct guard g;

    st_rng_seed(&rng);
    m.ts = st_xcalloc(m.n, sizeof(*m.ts));
    m.deadline = st_xcalloc(m.n, sizeof(*m.deadline));
    many_global = &m;
    for (size_t i = 0; i < m.n; i++) {
        uint64_t after = st_rng_below(&rng, 40);
        st_ev_timer_init(&m.ts[i], many_cb, NULL);
        st_ev_timer_start(loop, &m.ts[i], after);
        m.deadline[i] = st_ev_now_ms(loop) + after;
    }
    /* Cancel every third timer before running. */
    size_t cancelled = 0;
    for (size_t i = 0; i < m.n; i += 3) {
        st_ev_timer_stop(loop, &m.ts[i]);
        cancelled++;
    }
    /*
     * The callback of timer i (i % 7 == 0) stops timer i+1 if it is still
     * active; count afterwards how many fired against how many were left.
     */
    m.stop_at = SIZE_MAX;
    guard_start(loop, &g, 200);
    assert_int_equal(st_ev_run(loop), 0);
    assert_true(g.fired);
    assert_true(m.in_order);
    size_t still_active = 0;
    for (size_t i = 0; i < m.n; i++)
        still_active += st_ev_timer_active(&m.ts[i]);
    assert_int_equal(still_active, 0);
    assert_true(m.fired < m.n - cancelled); /* some were stopped from callbacks */
    assert_true(m.fired > (m.n - cancelled) / 2);

    /* 100,000 timers: start, restart and stop them all; the heap stays consistent. */
    free(m.ts);
    m.n = 100000;
    m.ts = st_xcalloc(m.n, sizeof(*m.ts));
    for (size_t i = 0; i < m.n; i++) {
        st_ev_timer_init(&m.ts[i], many_cb, NULL);
        st_ev_timer_start(loop, &m.ts[i], 1000 + st_rng_below(&rng, 100000));
    }
    for (size_t i = 0; i < m.n; i += 2)
        st_ev_timer_start(loop, &m.ts[i], 1000 + st_rng_below(&rng, 100000));
    for (size_t i = 0; i < m.n; i++)
        st_ev_timer_stop(loop, &m.ts[(i * 7919) % m.n]);
    for (size_t i = 0; i < m.n; i++)
        assert_false(st_ev_timer_active(&m.ts[i]));
    free(m.ts);
    free(m.deadline);
    st_ev_free(loop);
}

struct spin {
    struct st_ev_timer t;
    struct st_ev_io io;
    int timer_runs;
    int io_runs;
};

static void
spin_timer_cb(struct st_ev *loop, struct st_ev_timer *t)
{
    struct spin *s = ST_CONTAINER_OF(t, struct spin, t);
    s->timer_runs++;
    st_ev_timer_start(loop, t, 0); /* must not starve I/O */
}

static void
spin_io_cb(struct st_ev *loop, struct st_ev_io *io, unsigned events)
{
    struct spin *s = io->data;
    s->io_runs++;
    st_ev_stop(loop);
}

static void
test_timer_zero_restart_does_not_starve(void **state)
{
    struct st_ev *loop = new_loop();
    struct spin s = {0};
    int sp[2];
    struct guard g;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp), 0);
    st_ev_timer_init(&s.t, spin_timer_cb, NULL);
    st_ev_timer_start(loop, &s.t, 0);
    st_ev_io_init(&s.io, sp[0], spin_io_cb, &s);
    assert_int_equal(st_ev_io_start(loop, &s.io, ST_EV_READ), 0);
    assert_int_equal(write(sp[1], "x", 1), 1);
    guard_start(loop, &g, 5000);
    assert_int_equal(st_ev_run(loop), 0);
    assert_false(g.fired);
    assert_int_equal(s.io_runs, 1);
    assert_true(s.timer_runs >= 1);
    assert_true(s.timer_runs <= 2);
    st_ev_io_stop(loop, &s.io);
    close(sp[0]);
    close(sp[1]);
    st_ev_free(loop);
}

/* ---- fd watchers ------------------------------------------------------------------ */

struct reader {
    struct st_ev_io io;
    int calls;
    unsigned events;
    size_t bytes;
    bool drain; /* read until EAGAIN, or take one byte only */
};

static void
reader_cb(struct st_ev *loop, struct st_ev_io *io, unsigned events)
{
    struct reader *r = ST_CONTAINER_OF(io, struct reader, io);
    char buf[64];
    ssize_t n;

    r->calls++;
    r->events |= events;
    do {
        n = read(io->fd, buf, r->drain ? sizeof(buf) : 1);
        if (n > 0)
            r->bytes += (size_t)n;
    } while (r->drain && n > 0);
}

static void
stop_cb(struct st_ev *loop, struct st_ev_timer *t)
{
    st_ev_stop(loop);
}

static void
run_for(struct st_ev *loop, uint64_t ms)
{
    struct st_ev_timer t;

    st_ev_timer_init(&t, stop_cb, NULL);
    st_ev_timer_start(loop, &t, ms);
    assert_int_equal(st_ev_run(loop), 0);
    st_ev_timer_stop(loop, &t);
}

static void
test_io_readiness(void **state)
{
    struct st_ev *loop = new_loop();
    struct reader r = {.drain = false};
    int sp[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp), 0);
    st_ev_io_init(&r.io, sp[0], reader_cb, NULL);
    assert_int_equal(st_ev_io_start(loop, &r.io, ST_EV_READ), 0);
    assert_true(st_ev_io_active(&r.io));
    assert_int_equal(st_ev_io_start(loop, &r.io, ST_EV_READ), -EEXIST);

    /* Nothing to read: no callback. */
    run_for(loop, 10);
    assert_int_equal(r.calls, 0);

    /* Edge-triggered: reading only part of the data gets no second call. */
    assert_int_equal(write(sp[1], "0123456789", 10), 10);
    run_for(loop, 20);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.bytes, 1);
    assert_int_equal(r.events, ST_EV_READ);

    /* New data is a new edge. Re-arming with modify also reports readiness again. */
    assert_int_equal(write(sp[1], "a", 1), 1);
    run_for(loop, 10);
    assert_int_equal(r.calls, 2);
    assert_int_equal(st_ev_io_modify(loop, &r.io, ST_EV_READ | ST_EV_WRITE), 0);
    r.drain = true;
    run_for(loop, 10);
    assert_int_equal(r.calls, 3);
    assert_int_equal(r.bytes, 11);
    assert_int_equal(r.events, ST_EV_READ | ST_EV_WRITE);

    /* The peer closing is folded into ST_EV_ERROR. */
    r.events = 0;
    assert_int_equal(st_ev_io_modify(loop, &r.io, ST_EV_READ), 0);
    close(sp[1]);
    run_for(loop, 10);
    assert_int_equal(r.calls, 4);
    assert_true(r.events & ST_EV_ERROR);
    assert_true(r.events & ST_EV_READ);

    /* A stopped watcher hears nothing. */
    st_ev_io_stop(loop, &r.io);
    assert_false(st_ev_io_active(&r.io));
    st_ev_io_stop(loop, &r.io);
    assert_int_equal(st_ev_io_modify(loop, &r.io, ST_EV_READ), -EINVAL);
    run_for(loop, 5);
    assert_int_equal(r.calls, 4);
    close(sp[0]);

    /* Error paths: a bad fd. */
    struct st_ev_io bad;
    st_ev_io_init(&bad, -1, reader_cb, NULL);
    assert_int_equal(st_ev_io_start(loop, &bad, ST_EV_READ), -EBADF);
    assert_false(st_ev_io_active(&bad));
    st_ev_free(loop);
    st_ev_free(NULL);
}

/* Two watchers readable in the same batch; whichever runs first frees the other. */
struct pair_watcher {
    struct st_ev_io io;
    struct pair_watcher **other;
    int *calls;
};

static struct pair_watcher *pair_slots[2];

static void
pair_cb(struct st_ev *loop, struct st_ev_io *io, unsigned events)
{
    struct pair_watcher *w = ST_CONTAINER_OF(io, struct pair_watcher, io);

    (*w->calls)++;
    if (*w->other) {
        st_ev_io_stop(loop, &(*w->other)->io);
        free(*w->other); /* ASan reports any later use of it */
        *w->other = NULL;
    }
}

static void
test_io_stop_other_in_batch(void **state)
{
    struct st_ev *loop = new_loop();
    int a[2], b[2], calls = 0;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b), 0);
    for (int i = 0; i < 2; i++) {
        pair_slots[i] = st_xcalloc(1, sizeof(*pair_slots[i]));
        pair_slots[i]->other = &pair_slots[1 - i];
        pair_slots[i]->calls = &calls;
        st_ev_io_init(&pair_slots[i]->io, i == 0 ? a[0] : b[0], pair_cb, NULL);
        assert_int_equal(st_ev_io_start(loop, &pair_slots[i]->io, ST_EV_READ), 0);
    }
    /* Both become readable before the loop runs, so they share one epoll batch. */
    assert_int_equal(write(a[1], "x", 1), 1);
    assert_int_equal(write(b[1], "y", 1), 1);
    run_for(loop, 20);
    assert_int_equal(calls, 1);
    int survivor = pair_slots[0] ? 0 : 1;
    assert_non_null(pair_slots[survivor]);
    assert_null(pair_slots[1 - survivor]);
    st_ev_io_stop(loop, &pair_slots[survivor]->io);
    free(pair_slots[survivor]);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
    st_ev_free(loop);
}

/* ---- deferred calls ------------------------------------------------------------------ */

struct defer_test {
    struct st_ev_io io[2];
    struct st_ev_defer d[3];
    int log[16];
    int n;
    int d0_runs;
};

static void
defer_io_cb(struct st_ev *loop, struct st_ev_io *io, unsigned events)
{
    struct defer_test *t = io->data;
    char c;

    while (read(io->fd, &c, 1) == 1)
        ;
    t->log[t->n++] = io == &t->io[0] ? 1 : 2;
    st_ev_defer_schedule(loop, &t->d[0]);
    st_ev_defer_schedule(loop, &t->d[1]);
}

static void
defer_cb(struct st_ev *loop, struct st_ev_defer *d)
{
    struct defer_test *t = d->data;
    int id = (int)(d - t->d);

    t->log[t->n++] = 10 + id;
    if (id == 0) {
        /* Cancel d[1] (already queued in this round) and re-arm ourselves once. */
        st_ev_defer_cancel(loop, &t->d[1]);
        assert_false(st_ev_defer_scheduled(&t->d[1]));
        if (++t->d0_runs == 1)
            st_ev_defer_schedule(loop, d);
        else
            st_ev_defer_schedule(loop, &t->d[2]);
    } else if (id == 2) {
        st_ev_stop(loop);
    }
}

static void
test_defer(void **state)
{
    struct st_ev *loop = new_loop();
    struct defer_test t = {0};
    int a[2], b[2];
    struct guard g;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b), 0);
    st_ev_io_init(&t.io[0], a[0], defer_io_cb, &t);
    st_ev_io_init(&t.io[1], b[0], defer_io_cb, &t);
    assert_int_equal(st_ev_io_start(loop, &t.io[0], ST_EV_READ), 0);
    assert_int_equal(st_ev_io_start(loop, &t.io[1], ST_EV_READ), 0);
    for (int i = 0; i < 3; i++)
        st_ev_defer_init(&t.d[i], defer_cb, &t);
    assert_int_equal(write(a[1], "x", 1), 1);
    assert_int_equal(write(b[1], "y", 1), 1);
    guard_start(loop, &g, 5000);
    assert_int_equal(st_ev_run(loop), 0);
    assert_false(g.fired);

    /*
     * Both I/O callbacks (in either order) come before any deferred call;
     * d[0] scheduled twice runs once, cancels d[1], re-arms itself for the
     * next round, then schedules d[2].
     */
    assert_int_equal(t.n, 5);
    assert_true((t.log[0] == 1 && t.log[1] == 2) || (t.log[0] == 2 && t.log[1] == 1));
    assert_int_equal(t.log[2], 10);
    assert_int_equal(t.log[3], 10);
    assert_int_equal(t.log[4], 12);

    /* Cancelling before the loop runs means the call never happens. */
    st_ev_defer_schedule(loop, &t.d[1]);
    st_ev_defer_cancel(loop, &t.d[1]);
    st_ev_defer_cancel(loop, &t.d[1]);
    run_for(loop, 5);
    assert_int_equal(t.n, 5);

    /* A scheduled defer left when the loop is freed is simply forgotten. */
    st_ev_defer_schedule(loop, &t.d[1]);
    st_ev_io_stop(loop, &t.io[0]);
    st_ev_io_stop(loop, &t.io[1]);
    st_ev_free(loop);
    assert_false(st_ev_defer_scheduled(&t.d[1]));
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
}

/*
 * A chain of hand-offs through deferred calls (the way a response read on one
 * socket reaches the stream that writes it to another) completes in the
 * iteration that started it: a deferred call scheduled by a deferred callback
 * runs in the next round of the same iteration, before I/O that became ready
 * meanwhile. A call that keeps re-arming itself gives way to I/O after a few
 * rounds.
 */
struct chain_test {
    struct st_ev_io io[2];
    struct st_ev_defer d[3];
    int wfd; /* written by d[0]: makes io[1] readable */
    int log[64];
    int n;
    int spins; /* re-arms left for d[2] */
};

static void
chain_io_cb(struct st_ev *loop, struct st_ev_io *io, unsigned events)
{
    struct chain_test *t = io->data;
    char c;

    ST_UNUSED(events);
    while (read(io->fd, &c, 1) == 1)
        ;
    if (t->n < (int)ST_ARRAY_LEN(t->log))
        t->log[t->n++] = io == &t->io[0] ? 1 : 2;
    if (io == &t->io[0])
        st_ev_defer_schedule(loop, &t->d[0]);
    else
        st_ev_stop(loop);
}

static void
chain_defer_cb(struct st_ev *loop, struct st_ev_defer *d)
{
    struct chain_test *t = d->data;
    int id = (int)(d - t->d);

    if (t->n < (int)ST_ARRAY_LEN(t->log))
        t->log[t->n++] = 10 + id;
    if (id == 0) {
        assert_int_equal(write(t->wfd, "z", 1), 1);
        st_ev_defer_schedule(loop, &t->d[1]);
    } else if (id == 2 && t->spins-- > 0) {
        if (t->spins == 999)
            assert_int_equal(write(t->wfd, "y", 1), 1); /* I/O ready while we spin */
        st_ev_defer_schedule(loop, d);
    }
}

static void
test_defer_chain(void **state)
{
    struct st_ev *loop = new_loop();
    struct chain_test t = {0};
    int a[2], b[2];
    struct guard g;

    ST_UNUSED(state);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b), 0);
    t.wfd = b[1];
    st_ev_io_init(&t.io[0], a[0], chain_io_cb, &t);
    st_ev_io_init(&t.io[1], b[0], chain_io_cb, &t);
    assert_int_equal(st_ev_io_start(loop, &t.io[0], ST_EV_READ), 0);
    assert_int_equal(st_ev_io_start(loop, &t.io[1], ST_EV_READ), 0);
    for (int i = 0; i < 3; i++)
        st_ev_defer_init(&t.d[i], chain_defer_cb, &t);

    /* io[0] -> d[0] (makes io[1] ready) -> d[1], all before io[1] is dispatched. */
    assert_int_equal(write(a[1], "x", 1), 1);
    guard_start(loop, &g, 5000);
    assert_int_equal(st_ev_run(loop), 0);
    assert_false(g.fired);
    assert_int_equal(t.n, 4);
    assert_int_equal(t.log[0], 1);
    assert_int_equal(t.log[1], 10);
    assert_int_equal(t.log[2], 11);
    assert_int_equal(t.log[3], 2);

    /* A deferred call that re-arms itself forever does not keep ready I/O waiting. */
    t.n = 0;
    t.spins = 1000;
    st_ev_defer_schedule(loop, &t.d[2]);
    assert_int_equal(st_ev_run(loop), 0);
    assert_false(g.fired);
    int io_at = -1;
    for (int i = 0; i < t.n; i++)
        if (t.log[i] == 2 && io_at < 0)
            io_at = i;
    /* A few rounds of d[2] (12), then the I/O, then one last round before the stop. */
    assert_true(io_at >= 1 && io_at <= 8);
    assert_true(t.spins > 900);
    st_ev_defer_cancel(loop, &t.d[2]);

    st_ev_timer_stop(loop, &g.t);
    st_ev_io_stop(loop, &t.io[0]);
    st_ev_io_stop(loop, &t.io[1]);
    st_ev_free(loop);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
}

/* ---- cross-thread posts ---------------------------------------------------------------- */

#define POST_THREADS 4
#define POST_PER_THREAD 2000

struct post_state {
    struct st_ev *loop;
    int next[POST_THREADS]; /* loop thread only */
    int total;
    bool in_order;
    pthread_t loop_thread;
    bool on_loop_thread;
};

struct post_arg {
    struct post_state *st;
    int thread;
    int seq;
};

static void
post_fn(void *p)
{
    struct post_arg *a = p;
    struct post_state *st = a->st;

    if (!pthread_equal(pthread_self(), st->loop_thread))
        st->on_loop_thread = false;
    if (st->next[a->thread] != a->seq)
        st->in_order = false;
    st->next[a->thread] = a->seq + 1;
    if (++st->total == POST_THREADS * POST_PER_THREAD)
        st_ev_stop(st->loop);
    free(a);
}

static void
post_never(void *p)
{
    fail_msg("a call posted to a freed loop ran");
}

struct poster {
    struct post_state *st;
    int id;
};

static void *
poster_main(void *p)
{
    struct poster *ps = p;

    for (int i = 0; i < POST_PER_THREAD; i++) {
        struct post_arg *a = st_xmalloc(sizeof(*a));
        a->st = ps->st;
        a->thread = ps->id;
        a->seq = i;
        if (st_ev_post(ps->st->loop, post_fn, a) != 0)
            abort();
        if (i % 256 == 0)
            usleep(100); /* let the loop drain in between, so wakeups are exercised */
    }
    return NULL;
}

static void
test_post_threads(void **state)
{
    struct post_state st = {.in_order = true, .on_loop_thread = true};
    pthread_t th[POST_THREADS];
    struct poster ps[POST_THREADS];
    struct guard g;

    st.loop = new_loop();
    st.loop_thread = pthread_self();
    for (int i = 0; i < POST_THREADS; i++) {
        ps[i].st = &st;
        ps[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, poster_main, &ps[i]), 0);
    }
    guard_start(st.loop, &g, 10000);
    assert_int_equal(st_ev_run(st.loop), 0);
    for (int i = 0; i < POST_THREADS; i++)
        pthread_join(th[i], NULL);
    assert_false(g.fired);
    assert_int_equal(st.total, POST_THREADS * POST_PER_THREAD);
    assert_true(st.in_order);
    assert_true(st.on_loop_thread);
    for (int i = 0; i < POST_THREADS; i++)
        assert_int_equal(st.next[i], POST_PER_THREAD);

    /* Calls still queued when the loop is freed are dropped, not leaked. */
    assert_int_equal(st_ev_post(st.loop, post_never, NULL), 0);
    st_ev_free(st.loop);
}

/* ---- signals and stop ------------------------------------------------------------------ */

struct sig_state {
    int signo;
    int count;
    void *data;
};

static void
sig_cb(struct st_ev *loop, int signo, void *data)
{
    struct sig_state *s = data;
    s->signo = signo;
    s->count++;
    s->data = data;
    st_ev_stop(loop);
}

static void
raise_cb(struct st_ev *loop, struct st_ev_timer *t)
{
    kill(getpid(), SIGUSR1);
}

static void
test_signal(void **state)
{
    struct st_ev *loop = new_loop();
    struct sig_state s = {0};
    struct st_ev_timer t;
    struct guard g;

    assert_int_equal(st_ev_signal_add(loop, 0, sig_cb, &s), -EINVAL);
    assert_int_equal(st_ev_signal_add(loop, SIGKILL, sig_cb, &s), -EINVAL);
    assert_int_equal(st_ev_signal_add(loop, 1000, sig_cb, &s), -EINVAL);
    assert_int_equal(st_ev_signal_del(loop, SIGUSR2), -EINVAL);
    assert_int_equal(st_ev_signal_add(loop, SIGUSR1, sig_cb, &s), 0);
    assert_int_equal(st_ev_signal_add(loop, SIGUSR2, sig_cb, &s), 0);

    st_ev_timer_init(&t, raise_cb, NULL);
    st_ev_timer_start(loop, &t, 5);
    guard_start(loop, &g, 5000);
    assert_int_equal(st_ev_run(loop), 0);
    assert_false(g.fired);
    assert_int_equal(s.count, 1);
    assert_int_equal(s.signo, SIGUSR1);
    assert_ptr_equal(s.data, &s);

    /* After del, the signal stays blocked and pending but is not delivered. */
    assert_int_equal(st_ev_signal_del(loop, SIGUSR2), 0);
    kill(getpid(), SIGUSR2);
    run_for(loop, 10);
    assert_int_equal(s.count, 1);
    st_ev_timer_stop(loop, &g.t);
    st_ev_free(loop);

    /* Take the pending SIGUSR2 so that it cannot reach a later test. */
    sigset_t set;
    int got = 0;
    struct timespec zero = {0, 0};
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    got = sigtimedwait(&set, NULL, &zero);
    assert_int_equal(got, SIGUSR2);
}

struct stopper {
    struct st_ev *loop;
};

static void *
stopper_main(void *p)
{
    struct stopper *s = p;
    usleep(20000);
    st_ev_stop(s->loop);
    return NULL;
}

static void
test_stop_from_thread(void **state)
{
    struct st_ev *loop = new_loop();
    struct stopper s = {loop};
    pthread_t th;
    struct guard g;

    guard_start(loop, &g, 5000);
    uint64_t t0 = st_now_ms();
    assert_int_equal(pthread_create(&th, NULL, stopper_main, &s), 0);
    assert_int_equal(st_ev_run(loop), 0);
    pthread_join(th, NULL);
    assert_false(g.fired);
    assert_true(st_now_ms() - t0 < 4000);
    assert_true(st_ev_now_ms(loop) >= t0);

    /* A stop before run makes run return at once; the loop can run again after. */
    st_ev_stop(loop);
    assert_int_equal(st_ev_run(loop), 0);
    run_for(loop, 1);
    st_ev_timer_stop(loop, &g.t);
    st_ev_free(loop);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_order),
        cmocka_unit_test(test_timer_many),
        cmocka_unit_test(test_timer_zero_restart_does_not_starve),
        cmocka_unit_test(test_io_readiness),
        cmocka_unit_test(test_io_stop_other_in_batch),
        cmocka_unit_test(test_defer),
        cmocka_unit_test(test_defer_chain),
        cmocka_unit_test(test_post_threads),
        cmocka_unit_test(test_signal),
        cmocka_unit_test(test_stop_from_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
