/*
 * The inbound port: only mutual TLS 1.3 from other proxies. The client must
 * present a certificate that chains to our trust anchors; its identity (the
 * first DNS SAN) is recorded. ALPN picks the protocol: "h2" for HTTP
 * (h2srv.c), the opaque transport name for TCP streams (opaque.c). Anything
 * else, including plaintext, is refused during the handshake.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "identity.h"
#include "proxy.h"

struct inbound {
    struct client cl;
    struct proxy_thread *th;
    struct conn *c;
};

static void
inbound_free(struct inbound *in, bool close_conn)
{
    if (close_conn && in->c != NULL) {
        conn_close(in->c);
        free(in->c);
    }
    client_unregister(in->th, &in->cl);
    free(in);
}

static void
inbound_conn_cb(struct conn *c, unsigned events)
{
    struct inbound *in = c->owner;
    int rc;

    ST_UNUSED(events);
    rc = conn_handshake(c);
    if (rc == -EAGAIN)
        return;
    if (rc < 0 || !st_tls_conn_peer_verified(c->tls) || st_tls_conn_peer_identity(c->tls) == NULL) {
        inbound_free(in, true);
        return;
    }
    const char *alpn = st_tls_conn_alpn(c->tls);
    char *id = st_xstrdup(st_tls_conn_peer_identity(c->tls));
    char *eid = stats_escape(id);
    char *labels =
        st_xasprintf("direction=\"inbound\",peer=\"src\",tls=\"true\",client_id=\"%s\"", eid);
    struct proxy_thread *th = in->th;
    c->tcp = stats_tcp(th->stats, labels);
    stats_tcp_open(c->tcp);
    c->rbytes = c->wbytes = 0;
    free(eid);
    free(labels);
    st_ev_timer_stop(th->loop, &c->timer);
    in->c = NULL;
    inbound_free(in, false);
    if (alpn != NULL && strcmp(alpn, PROXY_ALPN_H2) == 0)
        h2srv_start(th, c, XCHG_INBOUND, id, NULL, 0);
    else if (alpn != NULL && strcmp(alpn, PROXY_ALPN_OPAQUE) == 0)
        opaque_inbound(th, c, id);
    else {
        conn_close(c);
        free(c);
    }
    free(id);
}

static void
inbound_timeout(struct st_ev *loop, struct st_ev_timer *t)
{
    ST_UNUSED(loop);
    inbound_free(t->data, true);
}

static void
inbound_drain(struct client *cl)
{
    inbound_free(ST_CONTAINER_OF(cl, struct inbound, cl), true);
}

void
inbound_accept(struct proxy_thread *th, int fd)
{
    struct st_tls_ctx *ctx = identity_server_ctx(th->px->id);
    struct inbound *in;

    if (ctx == NULL) { /* fail closed: no certificate, no meshed traffic */
        close(fd);
        return;
    }
    in = st_xcalloc(1, sizeof(*in));
    in->th = th;
    in->c = st_xmalloc(sizeof(*in->c));
    conn_init(in->c, th, fd, ctx, true, inbound_conn_cb, in);
    st_tls_ctx_unref(ctx);
    st_sock_set_nodelay(fd, true);
    client_register(th, &in->cl, inbound_drain);
    st_ev_timer_init(&in->c->timer, inbound_timeout, in);
    st_ev_timer_start(th->loop, &in->c->timer, th->px->cfg.handshake_timeout_ms);
}
