/*
 * The event loop: edge-triggered epoll, a binary heap of timers, an intrusive
 * list of deferred calls, a signalfd and an eventfd for cross-thread posts.
 *
 * Safety of stop-from-callback: while a batch of epoll events is dispatched,
 * the loop remembers the batch; st_ev_io_stop() clears every later entry that
 * points at the stopped watcher, so the caller may free it at once.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "strait/ev.h"

/* Events taken from the kernel per epoll_wait; more simply wait for the next call. */
#define EV_BATCH 256
/*
 * Rounds of deferred calls per iteration: calls scheduled by a deferred
 * callback run in the next round, and after this many rounds in the next
 * iteration, so a callback that keeps re-arming itself cannot starve I/O.
 */
#define EV_DEFER_ROUNDS 4
/* Signal numbers the loop can route (Linux _NSIG is 65). */
#define EV_NSIG 65

struct ev_post {
    void (*fn)(void *);
    void *arg;
    struct ev_post *next;
};

struct ev_sig {
    st_ev_signal_cb *cb;
    void *data;
};

struct st_ev {
    int epfd;
    uint64_t now;
    bool running;
    atomic_bool stop;

    /* The batch being dispatched; entries of stopped watchers are cleared. */
    struct epoll_event batch[EV_BATCH];
    int batch_pos, batch_n;

    /* Timers: a min-heap ordered by (deadline, seq). */
    struct st_ev_timer **heap;
    size_t heap_n, heap_cap;
    uint64_t timer_seq;

    /* Deferred calls: a circular list with this sentinel. */
    struct st_ev_defer defer_head;

    /* Wakeups for st_ev_stop and st_ev_post. */
    struct st_ev_io wake_io;
    pthread_mutex_t post_mu;
    struct ev_post *post_head, *post_tail;

    /* Signals, routed through one signalfd (created on first use). */
    struct st_ev_io sig_io;
    sigset_t sig_mask;
    struct ev_sig sig[EV_NSIG];
};

static void ev_wake_cb(struct st_ev *loop, struct st_ev_io *io, unsigned events);

/* ---- loop ------------------------------------------------------------------- */

struct st_ev *
st_ev_new(struct st_err *err)
{
    struct st_ev *loop = st_xcalloc(1, sizeof(*loop));
    int wfd = -1;

    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        st_err_set(err, -errno, "epoll_create1: %s", st_strerror(errno));
        goto fail;
    }
    wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wfd < 0) {
        st_err_set(err, -errno, "eventfd: %s", st_strerror(errno));
        goto fail;
    }
    pthread_mutex_init(&loop->post_mu, NULL);
    atomic_init(&loop->stop, false);
    loop->defer_head.prev = loop->defer_head.next = &loop->defer_head;
    sigemptyset(&loop->sig_mask);
    st_ev_io_init(&loop->sig_io, -1, NULL, NULL);
    loop->now = st_now_ms();

    st_ev_io_init(&loop->wake_io, wfd, ev_wake_cb, NULL);
    int rc = st_ev_io_start(loop, &loop->wake_io, ST_EV_READ);
    if (rc < 0) {
        st_err_set(err, rc, "epoll_ctl: %s", st_strerror(rc));
        pthread_mutex_destroy(&loop->post_mu);
        goto fail;
    }
    return loop;

fail:
    if (wfd >= 0)
        close(wfd);
    if (loop->epfd >= 0)
        close(loop->epfd);
    free(loop);
    return NULL;
}

void
st_ev_free(struct st_ev *loop)
{
    if (!loop)
        return;
    assert(!loop->running);
    close(loop->wake_io.fd);
    if (loop->sig_io.fd >= 0)
        close(loop->sig_io.fd);
    close(loop->epfd);
    /* Forget timers so that a caller who checks st_ev_timer_active later sees false. */
    for (size_t i = 0; i < loop->heap_n; i++)
        loop->heap[i]->heap_idx = 0;
    free(loop->heap);
    loop->heap = NULL;
    while (loop->defer_head.next != &loop->defer_head)
        st_ev_defer_cancel(loop, loop->defer_head.next);
    struct ev_post *p = loop->post_head;
    while (p) {
        struct ev_post *next = p->next;
        free(p);
        p = next;
    }
    pthread_mutex_destroy(&loop->post_mu);
    free(loop);
}

uint64_t
st_ev_now_ms(const struct st_ev *loop)
{
    return loop->now;
}

void
st_ev_update_now(struct st_ev *loop)
{
    loop->now = st_now_ms();
}

void
st_ev_stop(struct st_ev *loop)
{
    uint64_t one = 1;

    atomic_store(&loop->stop, true);
    /* A full eventfd counter (EAGAIN) still means a wakeup is pending. */
    ssize_t n = write(loop->wake_io.fd, &one, sizeof(one));
    ST_UNUSED(n);
}

/* Runs the calls posted so far, in order. Later posts wake the loop again. */
static void
ev_run_posts(struct st_ev *loop)
{
    pthread_mutex_lock(&loop->post_mu);
    struct ev_post *p = loop->post_head;
    loop->post_head = loop->post_tail = NULL;
    pthread_mutex_unlock(&loop->post_mu);

    while (p) {
        struct ev_post *next = p->next;
        p->fn(p->arg);
        free(p);
        p = next;
    }
}

static void
ev_wake_cb(struct st_ev *loop, struct st_ev_io *io, unsigned events)
{
    uint64_t v;

    /* Reset the counter first, so that a post after this read wakes us again. */
    while (read(io->fd, &v, sizeof(v)) > 0)
        ;
    ev_run_posts(loop);
}

int
st_ev_post(struct st_ev *loop, void (*fn)(void *), void *arg)
{
    struct ev_post *p = st_xmalloc(sizeof(*p));
    bool wake;

    p->fn = fn;
    p->arg = arg;
    p->next = NULL;
    pthread_mutex_lock(&loop->post_mu);
    /* Only the first post into an empty queue needs to wake the loop. */
    wake = loop->post_head == NULL;
    if (loop->post_tail)
        loop->post_tail->next = p;
    else
        loop->post_head = p;
    loop->post_tail = p;
    pthread_mutex_unlock(&loop->post_mu);
    if (wake) {
        uint64_t one = 1;
        ssize_t n = write(loop->wake_io.fd, &one, sizeof(one));
        ST_UNUSED(n);
    }
    return 0;
}

/* ---- fd watchers --------------------------------------------------------------- */

void
st_ev_io_init(struct st_ev_io *io, int fd, st_ev_io_cb *cb, void *data)
{
    io->fd = fd;
    io->cb = cb;
    io->data = data;
    io->loop = NULL;
    io->events = 0;
}

static uint32_t
ev_epoll_mask(unsigned events)
{
    uint32_t m = EPOLLET;

    /*
     * A peer's half-close matters only to a reader; a watcher that waits to
     * write is not woken for it (EPOLLERR and EPOLLHUP always are).
     */
    if (events & ST_EV_READ)
        m |= EPOLLIN | EPOLLRDHUP;
    if (events & ST_EV_WRITE)
        m |= EPOLLOUT;
    return m;
}

int
st_ev_io_start(struct st_ev *loop, struct st_ev_io *io, unsigned events)
{
    struct epoll_event ev = {.events = ev_epoll_mask(events), .data.ptr = io};

    if (io->loop)
        return -EEXIST;
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, io->fd, &ev) < 0)
        return -errno;
    io->loop = loop;
    io->events = events & (ST_EV_READ | ST_EV_WRITE);
    return 0;
}

int
st_ev_io_modify(struct st_ev *loop, struct st_ev_io *io, unsigned events)
{
    struct epoll_event ev = {.events = ev_epoll_mask(events), .data.ptr = io};

    if (io->loop != loop)
        return -EINVAL;
    if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0)
        return -errno;
    io->events = events & (ST_EV_READ | ST_EV_WRITE);
    return 0;
}

void
st_ev_io_stop(struct st_ev *loop, struct st_ev_io *io)
{
    if (io->loop != loop || !loop)
        return;
    /* EBADF/ENOENT mean the fd is already gone from the set; nothing to undo. */
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
    io->loop = NULL;
    for (int i = loop->batch_pos + 1; i < loop->batch_n; i++) {
        if (loop->batch[i].data.ptr == io)
            loop->batch[i].data.ptr = NULL;
    }
}

static unsigned
ev_from_epoll(uint32_t m)
{
    unsigned e = 0;

    if (m & EPOLLIN)
        e |= ST_EV_READ;
    if (m & EPOLLOUT)
        e |= ST_EV_WRITE;
    if (m & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))
        e |= ST_EV_ERROR;
    return e;
}

static void
ev_dispatch_io(struct st_ev *loop, int n)
{
    loop->batch_n = n;
    for (loop->batch_pos = 0; loop->batch_pos < loop->batch_n; loop->batch_pos++) {
        struct epoll_event *e = &loop->batch[loop->batch_pos];
        struct st_ev_io *io = e->data.ptr;
        if (!io)
            continue; /* stopped by an earlier callback of this batch */
        unsigned events = ev_from_epoll(e->events);
        if (events)
            io->cb(loop, io, events);
    }
    loop->batch_pos = loop->batch_n = 0;
}

/* ---- timers ---------------------------------------------------------------------- */

static bool
ev_timer_before(const struct st_ev_timer *a, const struct st_ev_timer *b)
{
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

static void
ev_heap_set(struct st_ev *loop, size_t i, struct st_ev_timer *t)
{
    loop->heap[i] = t;
    t->heap_idx = i + 1;
}

static void
ev_heap_up(struct st_ev *loop, size_t i)
{
    struct st_ev_timer *t = loop->heap[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ev_timer_before(t, loop->heap[parent]))
            break;
        ev_heap_set(loop, i, loop->heap[parent]);
        i = parent;
    }
    ev_heap_set(loop, i, t);
}

static void
ev_heap_down(struct st_ev *loop, size_t i)
{
    struct st_ev_timer *t = loop->heap[i];
    size_t n = loop->heap_n;

    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n)
            break;
        if (child + 1 < n && ev_timer_before(loop->heap[child + 1], loop->heap[child]))
            child++;
        if (!ev_timer_before(loop->heap[child], t))
            break;
        ev_heap_set(loop, i, loop->heap[child]);
        i = child;
    }
    ev_heap_set(loop, i, t);
}

void
st_ev_timer_init(struct st_ev_timer *t, st_ev_timer_cb *cb, void *data)
{
    t->cb = cb;
    t->data = data;
    t->deadline = 0;
    t->seq = 0;
    t->heap_idx = 0;
}

void
st_ev_timer_stop(struct st_ev *loop, struct st_ev_timer *t)
{
    if (!t->heap_idx)
        return;
    size_t i = t->heap_idx - 1;
    assert(i < loop->heap_n && loop->heap[i] == t);
    t->heap_idx = 0;
    loop->heap_n--;
    if (i == loop->heap_n)
        return;
    /* Move the last timer into the hole and restore the order either way. */
    ev_heap_set(loop, i, loop->heap[loop->heap_n]);
    if (i > 0 && ev_timer_before(loop->heap[i], loop->heap[(i - 1) / 2]))
        ev_heap_up(loop, i);
    else
        ev_heap_down(loop, i);
}

void
st_ev_timer_start(struct st_ev *loop, struct st_ev_timer *t, uint64_t after_ms)
{
    st_ev_timer_stop(loop, t);
    t->deadline = after_ms > UINT64_MAX - loop->now ? UINT64_MAX : loop->now + after_ms;
    t->seq = loop->timer_seq++;
    if (loop->heap_n == loop->heap_cap) {
        loop->heap_cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
        loop->heap = st_xrealloc(loop->heap, loop->heap_cap * sizeof(*loop->heap));
    }
    loop->heap_n++;
    ev_heap_set(loop, loop->heap_n - 1, t);
    ev_heap_up(loop, loop->heap_n - 1);
}

/*
 * Fires the timers that are due. Timers (re)started while this runs carry a
 * sequence number at or past <limit> and wait for the next iteration, so a
 * callback that restarts itself with 0 cannot starve I/O.
 */
static void
ev_run_timers(struct st_ev *loop)
{
    uint64_t limit = loop->timer_seq;

    while (loop->heap_n > 0) {
        struct st_ev_timer *t = loop->heap[0];
        if (t->deadline > loop->now || t->seq >= limit)
            break;
        st_ev_timer_stop(loop, t);
        t->cb(loop, t);
    }
}

/* ---- deferred calls ---------------------------------------------------------------- */

void
st_ev_defer_init(struct st_ev_defer *d, st_ev_defer_cb *cb, void *data)
{
    d->cb = cb;
    d->data = data;
    d->prev = d->next = NULL;
}

void
st_ev_defer_schedule(struct st_ev *loop, struct st_ev_defer *d)
{
    if (d->next)
        return;
    struct st_ev_defer *head = &loop->defer_head;
    d->prev = head->prev;
    d->next = head;
    head->prev->next = d;
    head->prev = d;
}

void
st_ev_defer_cancel(struct st_ev *loop, struct st_ev_defer *d)
{
    if (!d->next)
        return;
    /* The neighbours may be in the loop's list or in a batch being run; both work. */
    d->prev->next = d->next;
    d->next->prev = d->prev;
    d->prev = d->next = NULL;
}

/*
 * Runs the deferred calls scheduled so far (one round). They are moved to a
 * local list first, so calls scheduled while this runs wait for the next
 * round, and a callback may cancel (and free) any other entry of either list.
 */
static void
ev_run_defer_round(struct st_ev *loop)
{
    struct st_ev_defer *head = &loop->defer_head;
    struct st_ev_defer run;

    if (head->next == head)
        return;
    run.next = head->next;
    run.prev = head->prev;
    run.next->prev = &run;
    run.prev->next = &run;
    head->next = head->prev = head;

    while (run.next != &run) {
        struct st_ev_defer *d = run.next;
        st_ev_defer_cancel(loop, d);
        d->cb(loop, d);
    }
}

/*
 * Runs rounds of deferred calls until none is left or EV_DEFER_ROUNDS have
 * run. A chain of hand-offs (a response read from one socket wakes the
 * exchange, which wakes the stream that writes it to another) thus completes
 * in the iteration that read it, without an epoll_wait in between, while a
 * call that keeps re-arming itself still waits for the next iteration's I/O.
 */
static void
ev_run_defers(struct st_ev *loop)
{
    for (int round = 0; round < EV_DEFER_ROUNDS; round++) {
        if (loop->defer_head.next == &loop->defer_head || (round > 0 && atomic_load(&loop->stop)))
            return;
        ev_run_defer_round(loop);
    }
}

/* ---- signals ------------------------------------------------------------------------ */

static void
ev_signal_cb(struct st_ev *loop, struct st_ev_io *io, unsigned events)
{
    struct signalfd_siginfo si;

    /* Each read takes one pending signal; the kernel coalesces repeats. */
    while (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        int signo = (int)si.ssi_signo;
        if (signo > 0 && signo < EV_NSIG && loop->sig[signo].cb)
            loop->sig[signo].cb(loop, signo, loop->sig[signo].data);
    }
}

int
st_ev_signal_add(struct st_ev *loop, int signo, st_ev_signal_cb *cb, void *data)
{
    sigset_t one;

    if (signo <= 0 || signo >= EV_NSIG || signo == SIGKILL || signo == SIGSTOP || !cb)
        return -EINVAL;
    sigemptyset(&one);
    if (sigaddset(&one, signo) < 0)
        return -EINVAL;
    int rc = pthread_sigmask(SIG_BLOCK, &one, NULL);
    if (rc != 0)
        return -rc;
    sigaddset(&loop->sig_mask, signo);
    int fd = signalfd(loop->sig_io.fd, &loop->sig_mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        sigdelset(&loop->sig_mask, signo);
        return rc;
    }
    if (loop->sig_io.fd < 0) {
        st_ev_io_init(&loop->sig_io, fd, ev_signal_cb, NULL);
        rc = st_ev_io_start(loop, &loop->sig_io, ST_EV_READ);
        if (rc < 0) {
            close(fd);
            loop->sig_io.fd = -1;
            sigdelset(&loop->sig_mask, signo);
            return rc;
        }
    }
    loop->sig[signo].cb = cb;
    loop->sig[signo].data = data;
    return 0;
}

int
st_ev_signal_del(struct st_ev *loop, int signo)
{
    if (signo <= 0 || signo >= EV_NSIG || !loop->sig[signo].cb)
        return -EINVAL;
    loop->sig[signo].cb = NULL;
    loop->sig[signo].data = NULL;
    sigdelset(&loop->sig_mask, signo);
    /* Narrowing the mask of an existing signalfd cannot fail for a valid fd. */
    int fd = signalfd(loop->sig_io.fd, &loop->sig_mask, SFD_NONBLOCK | SFD_CLOEXEC);
    ST_UNUSED(fd);
    return 0;
}

/* ---- running -------------------------------------------------------------------------- */

/* Milliseconds epoll_wait may sleep: 0 with work pending, else until the next timer. */
static int
ev_timeout(const struct st_ev *loop)
{
    if (loop->defer_head.next != &loop->defer_head || atomic_load(&loop->stop))
        return 0;
    if (loop->heap_n == 0)
        return -1;
    uint64_t deadline = loop->heap[0]->deadline;
    if (deadline <= loop->now)
        return 0;
    uint64_t d = deadline - loop->now;
    return d > INT_MAX ? INT_MAX : (int)d;
}

int
st_ev_run(struct st_ev *loop)
{
    int rc = 0;

    assert(!loop->running);
    loop->running = true;
    loop->now = st_now_ms();
    while (!atomic_load(&loop->stop)) {
        int n = epoll_wait(loop->epfd, loop->batch, EV_BATCH, ev_timeout(loop));
        if (n < 0) {
            if (errno != EINTR) {
                rc = -errno;
                break;
            }
            n = 0;
        }
        loop->now = st_now_ms();
        ev_dispatch_io(loop, n);
        ev_run_timers(loop);
        ev_run_defers(loop);
    }
    atomic_store(&loop->stop, false);
    loop->running = false;
    return rc;
}
