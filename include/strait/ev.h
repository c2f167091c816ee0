/*
 * strait event loop: one edge-triggered epoll loop per thread, with fd
 * watchers, timers, deferred calls, signals and a thread-safe post queue.
 *
 * Watchers are embedded in the caller's structs and never allocated by the
 * loop. Everything except st_ev_stop() and st_ev_post() must be called on the
 * thread that runs the loop (or before it runs). It is safe to stop and free
 * any watcher, including one whose event is pending in the current batch,
 * from inside any callback: a stopped watcher's pending events are dropped.
 * See docs/ev.md for the model and the rules for callbacks.
 */
#ifndef STRAIT_EV_H
#define STRAIT_EV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strait/core.h"

struct st_ev;

/* Event bits passed to st_ev_io_start/modify and to I/O callbacks. */
enum {
    ST_EV_READ = 1u << 0,
    ST_EV_WRITE = 1u << 1,
    /*
     * Delivered only: error or hang-up (EPOLLERR/EPOLLHUP), or the peer's
     * half-close (EPOLLRDHUP, for watchers of ST_EV_READ). Not necessarily
     * fatal: read until 0 or an error, or check st_sock_connect_result.
     */
    ST_EV_ERROR = 1u << 2,
};

/* ---- loop ---------------------------------------------------------------- */

/* Returns a new loop, or NULL with <err> set if the kernel refused a resource. */
struct st_ev *st_ev_new(struct st_err *err);

/*
 * Frees <loop> (NULL is fine); it must not be running. Active watchers are
 * forgotten, not called; calls still queued by st_ev_post are dropped without
 * being run. Signals blocked by st_ev_signal_add stay blocked.
 */
void st_ev_free(struct st_ev *loop);

/*
 * Runs the loop on the calling thread until st_ev_stop(). Returns 0 after a
 * stop, or -errno if epoll_wait failed. A stop requested before st_ev_run is
 * called makes it return at once. Each call clears the stop request when it
 * returns, so the loop can be run again. Not reentrant.
 */
int st_ev_run(struct st_ev *loop);

/* Makes st_ev_run return after the current iteration; callable from any thread. */
void st_ev_stop(struct st_ev *loop);

/* Monotonic milliseconds, cached once per iteration (after epoll_wait returns). */
uint64_t st_ev_now_ms(const struct st_ev *loop);

/* Refreshes the cached time now; for callbacks that did long work. */
void st_ev_update_now(struct st_ev *loop);

/* ---- fd watchers ----------------------------------------------------------- */

struct st_ev_io;
typedef void st_ev_io_cb(struct st_ev *loop, struct st_ev_io *io, unsigned events);

struct st_ev_io {
    int fd;          /* public; do not change while active */
    st_ev_io_cb *cb; /* public */
    void *data;      /* public, for the caller */
    /* Private to the loop. */
    struct st_ev *loop; /* non-NULL while active */
    unsigned events;
};

/* Prepares <io>; it is inactive until started. <fd> is borrowed. */
void st_ev_io_init(struct st_ev_io *io, int fd, st_ev_io_cb *cb, void *data);

/*
 * Watches io->fd for <events> (ST_EV_READ and/or ST_EV_WRITE), edge-triggered:
 * the callback runs when the fd becomes ready, and the caller must then read
 * or write until EAGAIN (or defer the rest) before it is told again. Errors
 * and hang-ups are always reported as ST_EV_ERROR. Returns 0 or -errno
 * (-EEXIST if <io> is already active). <io> is borrowed until stopped.
 */
int st_ev_io_start(struct st_ev *loop, struct st_ev_io *io, unsigned events);

/*
 * Changes the watched events of an active <io>. Re-arming also reports the
 * fd's current readiness again. Returns 0, -EINVAL if <io> is not active, or
 * -errno.
 */
int st_ev_io_modify(struct st_ev *loop, struct st_ev_io *io, unsigned events);

/*
 * Stops <io> (inactive is fine). Events of <io> still pending in the current
 * batch are never delivered. Stop a watcher before closing its fd.
 */
void st_ev_io_stop(struct st_ev *loop, struct st_ev_io *io);

static inline bool
st_ev_io_active(const struct st_ev_io *io)
{
    return io->loop != NULL;
}

/* ---- timers ------------------------------------------------------------------ */

struct st_ev_timer;
typedef void st_ev_timer_cb(struct st_ev *loop, struct st_ev_timer *t);

struct st_ev_timer {
    st_ev_timer_cb *cb; /* public */
    void *data;         /* public */
    /* Private to the loop. */
    uint64_t deadline; /* loop milliseconds */
    uint64_t seq;      /* start order, breaks ties between equal deadlines */
    size_t heap_idx;   /* 1-based heap position; 0 when inactive */
};

/* Prepares <t> (inactive). A zero-filled timer is also a valid inactive timer. */
void st_ev_timer_init(struct st_ev_timer *t, st_ev_timer_cb *cb, void *data);

/*
 * (Re)starts <t> to fire once, <after_ms> after the loop's cached time. A timer
 * that is already active is moved. Timers with equal deadlines fire in the
 * order they were started. A timer started from a timer callback with
 * after_ms 0 fires in the next iteration, never in the same one. <t> is
 * borrowed until it fires or is stopped.
 */
void st_ev_timer_start(struct st_ev *loop, struct st_ev_timer *t, uint64_t after_ms);

/* Stops <t> (inactive is fine); O(log n). */
void st_ev_timer_stop(struct st_ev *loop, struct st_ev_timer *t);

static inline bool
st_ev_timer_active(const struct st_ev_timer *t)
{
    return t->heap_idx != 0;
}

/* ---- deferred calls ------------------------------------------------------------ */

struct st_ev_defer;
typedef void st_ev_defer_cb(struct st_ev *loop, struct st_ev_defer *d);

struct st_ev_defer {
    st_ev_defer_cb *cb; /* public */
    void *data;         /* public */
    /* Private to the loop: list links, both NULL when not scheduled. */
    struct st_ev_defer *prev, *next;
};

void st_ev_defer_init(struct st_ev_defer *d, st_ev_defer_cb *cb, void *data);

/*
 * Runs <d>'s callback once, after the I/O callbacks and timers of the current
 * iteration (or of the next one when called outside the loop). Called from a
 * deferred callback, it runs in the next round of deferred calls of the same
 * iteration; after 4 rounds the rest wait for the next iteration. Scheduling
 * an already scheduled <d> does nothing. <d> is borrowed until it runs or is
 * cancelled.
 */
void st_ev_defer_schedule(struct st_ev *loop, struct st_ev_defer *d);

/* Cancels a scheduled <d> (not scheduled is fine). */
void st_ev_defer_cancel(struct st_ev *loop, struct st_ev_defer *d);

static inline bool
st_ev_defer_scheduled(const struct st_ev_defer *d)
{
    return d->next != NULL;
}

/* ---- signals ------------------------------------------------------------------- */

typedef void st_ev_signal_cb(struct st_ev *loop, int signo, void *data);

/*
 * Delivers <signo> to <cb> on the loop thread through a signalfd. Blocks the
 * signal in the calling thread, which should be the loop thread; block it in
 * every other thread too (e.g. before creating them) so that the kernel does
 * not deliver it elsewhere. Replaces an earlier callback for <signo>.
 * Returns 0, -EINVAL for a bad signal number, or -errno.
 */
int st_ev_signal_add(struct st_ev *loop, int signo, st_ev_signal_cb *cb, void *data);

/* Stops delivering <signo>; the signal stays blocked. Returns 0 or -EINVAL. */
int st_ev_signal_del(struct st_ev *loop, int signo);

/* ---- cross-thread calls ----------------------------------------------------------- */

/*
 * Queues fn(arg) to run on the loop thread; thread-safe. Calls from one thread
 * run in the order they were posted. Returns 0. <arg> is passed through
 * untouched; if the loop is freed first, fn is never called.
 */
int st_ev_post(struct st_ev *loop, void (*fn)(void *), void *arg);

#endif
