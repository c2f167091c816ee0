/*
 * Byte-stream connections over plain TCP or TLS, watched edge-triggered for
 * both directions. The owner's callback is the only place that reads and
 * writes; it must read until -EAGAIN whenever it wants input, and call
 * conn_kick() when it resumes after pausing, since no new edge will come for
 * bytes that were already waiting.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy.h"

static void conn_kick_cb(struct st_ev *loop, struct st_ev_defer *d);

static void
conn_io_cb(struct st_ev *loop, struct st_ev_io *io, unsigned events)
{
    struct conn *c = io->data;

    ST_UNUSED(loop);
    /*
     * Edge-triggered: new input, its end or an error since the last drain comes
     * with an event. An end or error that came before it, together with data,
     * is only in this event: a short read then does not mean that nothing is
     * left (the next read returns 0), so such a connection is never idle again.
     */
    if (events & (ST_EV_READ | ST_EV_ERROR))
        c->rd_idle = false;
    if (events & ST_EV_ERROR)
        c->rd_hup = true;
    c->cb(c, events);
}

void
conn_init(struct conn *c, struct proxy_thread *th, int fd, struct st_tls_ctx *tls_ctx, bool server,
          conn_cb *cb, void *owner)
{
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->th = th;
    c->cb = cb;
    c->owner = owner;
    c->opened_ms = st_ev_now_ms(th->loop);
    st_buf_init(&c->out, PROXY_OUT_MAX);
    if (tls_ctx != NULL) {
        c->tls = st_tls_conn_new(tls_ctx, fd, server, NULL);
        /* Connections between proxies are long-lived and busy: read ahead, keep the buffers. */
        st_tls_conn_set_busy(c->tls);
    } else {
        c->handshaken = true;
    }
    st_ev_defer_init(&c->kick, conn_kick_cb, c);
    st_ev_io_init(&c->io, fd, conn_io_cb, c);
    if (st_ev_io_start(th->loop, &c->io, ST_EV_READ | ST_EV_WRITE) < 0) {
        /* Cannot watch it: leave it unwatched; the owner's first read will fail or time out. */
    }
}

void
conn_rebind(struct conn *c, conn_cb *cb, void *owner)
{
    c->cb = cb;
    c->owner = owner;
}

bool
conn_is_open(const struct conn *c)
{
    return c->fd >= 0;
}

int
conn_handshake(struct conn *c)
{
    int rc;

    if (c->handshaken)
        return 0;
    rc = st_tls_handshake(c->tls);
    if (rc == 0) {
        c->handshaken = true;
        return 0;
    }
    if (rc == ST_TLS_WANT_READ || rc == ST_TLS_WANT_WRITE)
        return -EAGAIN;
    return rc;
}

ssize_t
conn_read(struct conn *c, void *buf, size_t n)
{
    ssize_t r;

    if (c->fd < 0)
        return -EBADF;
    /*
     * A read that would only say EAGAIN is skipped: reading until EAGAIN after
     * every event costs a system call (and for TLS a trip through OpenSSL)
     * per event and per connection.
     */
    if (c->rd_idle)
        return -EAGAIN;
    if (c->tls != NULL) {
        r = st_tls_read(c->tls, buf, n);
        /* OpenSSL may say WANT_READ after a record without data while more wait in its buffer. */
        c->rd_idle = !c->rd_hup && (r > 0 || r == ST_TLS_WANT_READ) && st_tls_conn_drained(c->tls);
        if (r == ST_TLS_WANT_READ || r == ST_TLS_WANT_WRITE)
            return -EAGAIN;
    } else {
        do
            r = read(c->fd, buf, n);
        while (r < 0 && errno == EINTR);
        if (r < 0)
            r = errno == EWOULDBLOCK ? -EAGAIN : -errno;
        /* Less than asked for from a stream socket: it is empty now. */
        c->rd_idle = !c->rd_hup && (r == -EAGAIN || (r > 0 && (size_t)r < n));
    }
    if (r > 0) {
        c->rbytes += (uint64_t)r;
        stats_tcp_bytes(c->tcp, (uint64_t)r, 0);
    }
    return r;
}

int
conn_queue(struct conn *c, const void *p, size_t n)
{
    return st_buf_append(&c->out, p, n);
}

int
conn_flush(struct conn *c)
{
    if (c->fd < 0)
        return -EBADF;
    while (c->out.len > 0) {
        ssize_t w;
        if (c->tls != NULL) {
            w = st_tls_write(c->tls, c->out.data, c->out.len);
            if (w == ST_TLS_WANT_READ || w == ST_TLS_WANT_WRITE)
                return -EAGAIN;
        } else {
            do
                w = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
            while (w < 0 && errno == EINTR);
            if (w < 0)
                w = errno == EWOULDBLOCK ? -EAGAIN : -errno;
        }
        if (w == -EAGAIN)
            return -EAGAIN;
        if (w <= 0)
            return w < 0 ? (int)w : -EPIPE;
        c->wbytes += (uint64_t)w;
        stats_tcp_bytes(c->tcp, 0, (uint64_t)w);
        st_buf_consume(&c->out, (size_t)w);
    }
    if (c->wr_shut) {
        if (c->tls != NULL)
            st_tls_shutdown(c->tls);
        shutdown(c->fd, SHUT_WR);
    }
    return 0;
}

void
conn_shutdown_write(struct conn *c)
{
    c->wr_shut = true;
}

static void
conn_kick_cb(struct st_ev *loop, struct st_ev_defer *d)
{
    struct conn *c = d->data;

    ST_UNUSED(loop);
    if (c->fd >= 0)
        c->cb(c, ST_EV_READ | ST_EV_WRITE);
}

void
conn_kick(struct conn *c)
{
    if (c->fd >= 0)
        st_ev_defer_schedule(c->th->loop, &c->kick);
}

void
conn_close(struct conn *c)
{
    if (c->fd < 0)
        return;
    st_ev_timer_stop(c->th->loop, &c->timer);
    st_ev_defer_cancel(c->th->loop, &c->kick);
    st_ev_io_stop(c->th->loop, &c->io);
    if (c->tls != NULL) {
        st_tls_conn_free(c->tls);
        c->tls = NULL;
    }
    close(c->fd);
    c->fd = -1;
    if (c->tcp != NULL)
        stats_tcp_close(c->tcp, st_ev_now_ms(c->th->loop) - c->opened_ms);
    c->tcp = NULL;
    st_buf_free(&c->out);
}
