/*
 * Opaque TCP between proxies: CONNECT and Upgrade (WebSocket) on the
 * outbound side become a TLS stream to the peer proxy that starts with a
 * transport header; the inbound side reads that header and connects to the
 * app's target port (or, on a gateway, to the named service through its own
 * outbound path with fresh mTLS). Bytes are then copied both ways with
 * bounded buffers; a half-close is passed on.
 *
 * Redirected connections (transparent.h) that are not HTTP come here too:
 * they go to their original destination, over mTLS with a transport header
 * when discovery knows it, else straight to it in plain TCP (passthrough).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "dest_source.h"
#include "identity.h"
#include "proxy.h"
#include "transparent.h"
#include "transport_header.h"

enum splice_state { SP_HEADER, SP_CONNECTING, SP_HANDSHAKE, SP_RUNNING, SP_FAILING };

struct splice {
    struct client cl;
    struct proxy_thread *th;
    struct conn *a; /* the side that opened the stream */
    struct conn *b; /* the side we connect to */
    enum splice_state state;
    bool reply_200;   /* CONNECT: answer the client once the tunnel is up */
    bool http_client; /* failures are answered with an HTTP status */
    bool b_tls;
    struct st_buf pre; /* bytes for <b> once it is up (transport header, head, early data) */
    bool a_eof, b_eof;
    char *peer_id;
    uint64_t last_ms;
    struct dest_wait *wait; /* waiting for a first destination snapshot, or NULL */
    /* Redirected connections: where the app was going, and whether the API was asked. */
    struct st_sockaddr orig;
    bool asked;
};

static void splice_run(struct splice *sp);

static void
splice_free(struct splice *sp)
{
    dest_source_cancel(sp->wait);
    if (sp->a != NULL) {
        conn_close(sp->a);
        free(sp->a);
    }
    if (sp->b != NULL) {
        conn_close(sp->b);
        free(sp->b);
    }
    client_unregister(sp->th, &sp->cl);
    st_buf_free(&sp->pre);
    free(sp->peer_id);
    free(sp);
}

static void
splice_fail(struct splice *sp, int status, const char *reason)
{
    if (sp->http_client && sp->state != SP_RUNNING && sp->a != NULL) {
        struct st_buf b = ST_BUF_INIT(0);
        if (st_buf_appendf(&b,
                           "HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: %zu\r\n"
                           "connection: close\r\n\r\nstrait-proxy: %s\n",
                           status, st_http_status_reason(status), strlen(reason) + 15, reason) == 0)
            (void)conn_queue(sp->a, b.data, b.len);
        st_buf_free(&b);
        if (sp->b != NULL) {
            conn_close(sp->b);
            free(sp->b);
            sp->b = NULL;
        }
        sp->state = SP_FAILING;
        splice_run(sp);
        return;
    }
    splice_free(sp);
}

static void
splice_a_cb(struct conn *c, unsigned events)
{
    ST_UNUSED(events);
    splice_run(c->owner);
}

static void
splice_b_cb(struct conn *c, unsigned events)
{
    struct splice *sp = c->owner;

    if (sp->state == SP_CONNECTING) {
        int rc = st_sock_connect_result(c->fd);
        if (rc < 0) {
            char reason[128];
            snprintf(reason, sizeof(reason), "cannot connect: %s", st_strerror(rc));
            splice_fail(sp, 502, reason);
            return;
        }
        if (!(events & ST_EV_WRITE))
            return;
        sp->state = SP_HANDSHAKE;
    }
    splice_run(sp);
}

static void
splice_timer(struct st_ev *loop, struct st_ev_timer *t)
{
    struct splice *sp = t->data;
    uint64_t idle = sp->th->px->cfg.idle_timeout_ms;

    if (sp->state != SP_RUNNING) {
        splice_fail(sp, 504, "timed out setting up the tunnel");
        return;
    }
    if (st_ev_now_ms(loop) - sp->last_ms >= idle) {
        splice_free(sp);
        return;
    }
    st_ev_timer_start(loop, t, idle - (st_ev_now_ms(loop) - sp->last_ms));
}

static void
splice_drain(struct client *cl)
{
    /* Opaque streams have no request boundary; they get until the drain deadline. */
    ST_UNUSED(cl);
}

static struct splice *
splice_new(struct proxy_thread *th, struct conn *a)
{
    struct splice *sp = st_xcalloc(1, sizeof(*sp));

    sp->th = th;
    sp->a = a;
    sp->last_ms = st_ev_now_ms(th->loop);
    st_buf_init(&sp->pre, PROXY_OUT_MAX);
    conn_rebind(a, splice_a_cb, sp);
    client_register(th, &sp->cl, splice_drain);
    st_ev_timer_init(&a->timer, splice_timer, sp);
    st_ev_timer_start(th->loop, &a->timer,
                      th->px->cfg.connect_timeout_ms + th->px->cfg.handshake_timeout_ms);
    return sp;
}

/*
 * Starts connecting <b> to <addr>: TLS to a peer when <identity> is set, else
 * plain. <labels> (borrowed) are the tcp_* labels of the new connection.
 */
static int
splice_connect(struct splice *sp, const struct st_sockaddr *addr, const char *identity,
               const char *labels)
{
    struct st_err err = {0};
    struct st_tls_ctx *ctx = NULL;
    int fd;

    if (identity != NULL && (ctx = identity_client_ctx(sp->th->px->id, true)) == NULL)
        return ST_EAUTH;
    fd = st_sock_connect(addr, NULL, &err);
    if (fd < 0) {
        st_tls_ctx_unref(ctx);
        return fd;
    }
    st_sock_set_nodelay(fd, true);
    sp->b = st_xmalloc(sizeof(*sp->b));
    conn_init(sp->b, sp->th, fd, ctx, false, splice_b_cb, sp);
    sp->b_tls = ctx != NULL;
    if (ctx != NULL)
        st_tls_conn_expect_identity(sp->b->tls, identity);
    sp->b->tcp = stats_tcp(sp->th->stats, labels);
    stats_tcp_open(sp->b->tcp);
    st_tls_ctx_unref(ctx);
    sp->state = SP_CONNECTING;
    return 0;
}

static int splice_to_peer(struct splice *sp, const char *authority, const char **reason);
static int splice_to_endpoint(struct splice *sp, const struct disc_endpoint *ep, uint16_t port,
                              const char *authority, const char **reason);
static int splice_to_orig(struct splice *sp);

/* The destination API answered for <canon> (or did not in time): resolve again. */
static void
splice_resolved(void *arg, const char *canon, int status)
{
    struct splice *sp = arg;
    const char *reason = "no answer from the destination service";

    sp->wait = NULL;
    if (status == 0 && splice_to_peer(sp, canon, &reason) >= 0)
        return;
    splice_fail(sp, strcmp(reason, "no route for this authority") == 0 ? 502 : 503, reason);
}

/* Resolves <authority> and starts the TLS stream to the chosen peer with its header. */
static int
splice_to_peer(struct splice *sp, const char *authority, const char **reason)
{
    struct proxy_thread *th = sp->th;
    struct disc_target tg;
    char *canon = proxy_authority_canon(&th->px->cfg, authority);
    int rc;

    if (canon == NULL) {
        *reason = "bad authority";
        return -EINVAL;
    }
    rc = discovery_resolve(discovery_table(th->disc), canon, &th->rng, st_ev_now_ms(th->loop), &tg);
    if (rc == ST_ENOTFOUND && (sp->wait = dest_source_wait(th, canon, splice_resolved, sp)) != NULL)
        sp->state = SP_CONNECTING; /* nothing to do until the answer comes */
    free(canon);
    if (sp->wait != NULL)
        return 0;
    if (rc < 0) {
        *reason = rc == ST_ENOTFOUND ? "no route for this authority" : "no endpoints";
        return rc;
    }
    return splice_to_endpoint(sp, tg.ep, tg.ep->target_port != 0 ? tg.ep->target_port : tg.svc->port,
                              authority, reason);
}

/*
 * Starts the TLS stream to the peer of <ep> (borrowed) with a transport header
 * for <port> (and the endpoint's target authority, for gateways), in front of
 * what is already in sp->pre. <authority> (borrowed) labels the metrics.
 */
static int
splice_to_endpoint(struct splice *sp, const struct disc_endpoint *ep, uint16_t port,
                   const char *authority, const char **reason)
{
    struct transport_header h = {0};
    int rc;

    h.port = port;
    if (ep->target_authority != NULL)
        st_strlcpy(h.name, ep->target_authority, sizeof(h.name));
    struct st_buf hb = ST_BUF_INIT(TRANSPORT_HEADER_MAX);
    rc = transport_header_encode(&h, &hb);
    if (rc == 0) {
        /* The header goes in front of whatever the client already sent. */
        rc = st_buf_append(&hb, sp->pre.data != NULL ? sp->pre.data : "", sp->pre.len) < 0
                 ? ST_ETOOBIG
                 : 0;
        hb.max = 0;
        if (rc == 0) {
            st_buf_free(&sp->pre);
            sp->pre = hb;
            sp->pre.max = PROXY_OUT_MAX;
        } else {
            st_buf_free(&hb);
        }
    }
    if (rc < 0) {
        *reason = "cannot encode the transport header";
        return rc;
    }
    char *ea = stats_escape(authority), *ei = stats_escape(ep->identity);
    char *labels = st_xasprintf("direction=\"outbound\",peer=\"dst\",authority=\"%s\","
                                "tls=\"true\",server_id=\"%s\"",
                                ea, ei);
    rc = splice_connect(sp, &ep->addr, ep->identity, labels);
    free(ea);
    free(ei);
    free(labels);
    if (rc < 0)
        *reason = rc == ST_EAUTH ? "no identity certificate yet" : "cannot connect to the peer";
    return rc;
}

void
opaque_connect(struct proxy_thread *th, struct conn *client, const char *authority,
               struct st_buf *preface, bool reply_200)
{
    struct splice *sp = splice_new(th, client);
    const char *reason = NULL;

    sp->reply_200 = reply_200;
    sp->http_client = true;
    if (preface != NULL && preface->len > 0 &&
        st_buf_append(&sp->pre, preface->data, preface->len) < 0) {
        splice_fail(sp, 400, "request too large");
        return;
    }
    if (splice_to_peer(sp, authority, &reason) < 0) {
        splice_fail(sp, strcmp(reason, "no route for this authority") == 0 ? 502 : 503, reason);
        return;
    }
}

/* The destination API answered about the original destination (or did not in time). */
static void
splice_orig_resolved(void *arg, const char *canon, int status)
{
    struct splice *sp = arg;

    ST_UNUSED(status); /* no answer in time: what the table knows decides, as for an unknown */
    sp->wait = NULL;
    route_answered(sp->th, canon);
    if (splice_to_orig(sp) < 0)
        splice_fail(sp, 502, "cannot reach the original destination");
}

/*
 * Routes a redirected connection by its original destination (docs/proxy.md,
 * "Transparent proxying"): the "ip:port" authority in discovery, else a
 * workload address discovery knows, both over mTLS; else plain TCP straight
 * to it. Returns 0 (connecting or waiting for the destination API) or < 0.
 */
static int
splice_to_orig(struct splice *sp)
{
    struct proxy_thread *th = sp->th;
    struct disc_table *t = discovery_table(th->disc);
    struct disc_target tg;
    struct disc_service *svc = NULL;
    char text[ST_SOCK_ADDR_STRLEN];
    const char *reason = NULL;
    int rc;

    if (st_sock_format_addr(&sp->orig, text, sizeof(text)) < 0)
        return -EAFNOSUPPORT;
    char *canon = proxy_authority_canon(&th->px->cfg, text);
    if (canon == NULL)
        return -EINVAL;
    rc = discovery_resolve(t, canon, &th->rng, st_ev_now_ms(th->loop), &tg);
    if (rc == ST_ENOTFOUND && !sp->asked) {
        /* Once: a ClusterIP the controller knows becomes a part of the table. */
        sp->asked = true;
        sp->wait = route_ask(th, canon, splice_orig_resolved, sp);
        if (sp->wait != NULL) {
            sp->state = SP_CONNECTING;
            free(canon);
            return 0;
        }
    }
    if (rc == 0) {
        rc = splice_to_endpoint(sp, tg.ep, tg.ep->target_port != 0 ? tg.ep->target_port : tg.svc->port,
                                text, &reason);
    } else if (rc != ST_ENOTFOUND) {
        rc = -EHOSTUNREACH; /* a known service without endpoints: nothing to send to */
    } else if ((tg.ep = discovery_find_endpoint(t, &sp->orig, &svc)) != NULL) {
        rc = splice_to_endpoint(sp, tg.ep, (uint16_t)st_sock_addr_port(&sp->orig), text, &reason);
    } else {
        /* Unknown to discovery: Linkerd's forward to the original destination, unmeshed. */
        char *et = stats_escape(text);
        char *labels = st_xasprintf(
            "direction=\"outbound\",peer=\"dst\",target_addr=\"%s\",tls=\"no_identity\","
            "no_tls_reason=\"not_provided_by_service_discovery\"",
            et);
        rc = splice_connect(sp, &sp->orig, NULL, labels);
        free(et);
        free(labels);
        if (rc == 0)
            st_log(ST_LOG_DEBUG, "passthrough to %s (unknown to discovery)", text);
    }
    free(canon);
    return rc;
}

void
opaque_transparent(struct proxy_thread *th, struct conn *c, const struct st_sockaddr *orig,
                   const void *pre, size_t n)
{
    struct splice *sp = splice_new(th, c);

    sp->orig = *orig;
    if (n > 0 && st_buf_append(&sp->pre, pre, n) < 0) {
        splice_free(sp);
        return;
    }
    if (splice_to_orig(sp) < 0)
        splice_free(sp);
}

void
opaque_inbound(struct proxy_thread *th, struct conn *c, const char *peer_id)
{
    struct splice *sp = splice_new(th, c);

    sp->peer_id = st_xstrdup(peer_id);
    sp->state = SP_HEADER;
    splice_run(sp);
}

/* Reads the transport header on the inbound side and connects onwards. */
static int
splice_read_header(struct splice *sp)
{
    struct transport_header h;
    const struct proxy_config *cfg = &sp->th->px->cfg;
    char buf[TRANSPORT_HEADER_MAX];
    int rc;

    for (;;) {
        rc = transport_header_parse(sp->pre.data != NULL ? sp->pre.data : "", sp->pre.len, &h);
        if (rc != 0)
            break;
        if (sp->pre.len >= TRANSPORT_HEADER_MAX)
            return ST_EPARSE;
        ssize_t r = conn_read(sp->a, buf, TRANSPORT_HEADER_MAX - sp->pre.len);
        if (r == -EAGAIN)
            return 0;
        if (r <= 0)
            return -ECONNRESET;
        if (st_buf_append(&sp->pre, buf, (size_t)r) < 0)
            return ST_ETOOBIG;
    }
    if (rc < 0)
        return rc;
    st_buf_consume(&sp->pre, (size_t)rc);
    if (cfg->gateway) {
        const char *reason = NULL;
        char *suffix = st_xasprintf(".svc.%s:", cfg->cluster_domain);
        bool local = h.name[0] != '\0' && strstr(h.name, suffix) != NULL;
        free(suffix);
        if (!local)
            return ST_EAUTH;
        return splice_to_peer(sp, h.name, &reason);
    }
    struct st_sockaddr addr;
    char *text = st_xasprintf("%s:%u", cfg->forward_host, h.port);
    rc = st_sock_parse_addr(text, &addr);
    free(text);
    if (rc < 0)
        return rc;
    return splice_connect(sp, &addr, NULL, "direction=\"inbound\",peer=\"dst\",tls=\"false\"");
}

/* Copies from <from> into <to>'s output while it has room. Returns < 0 on error. */
static int
splice_copy(struct splice *sp, struct conn *from, struct conn *to, bool *eof)
{
    char buf[PROXY_IO_CHUNK];

    while (!*eof && to->out.len < PROXY_OUT_HIGH) {
        ssize_t r = conn_read(from, buf, sizeof(buf));
        if (r == -EAGAIN)
            break;
        if (r < 0 && r != -ECONNRESET)
            return (int)r;
        if (r <= 0) {
            *eof = true;
            conn_shutdown_write(to);
            break;
        }
        sp->last_ms = st_ev_now_ms(sp->th->loop);
        if (conn_queue(to, buf, (size_t)r) < 0)
            return ST_ETOOBIG;
    }
    return 0;
}

static void
splice_run(struct splice *sp)
{
    int rc;

    if (sp->state == SP_FAILING) {
        rc = conn_flush(sp->a);
        if (rc != -EAGAIN)
            splice_free(sp);
        return;
    }
    if (sp->state == SP_HEADER) {
        rc = splice_read_header(sp);
        if (rc < 0) {
            splice_free(sp);
            return;
        }
        if (sp->state == SP_HEADER)
            return;
    }
    if (sp->state == SP_CONNECTING)
        return;
    if (sp->state == SP_HANDSHAKE) {
        rc = conn_handshake(sp->b);
        if (rc == -EAGAIN)
            return;
        if (rc < 0 ||
            (sp->b_tls && (st_tls_conn_alpn(sp->b->tls) == NULL ||
                           strcmp(st_tls_conn_alpn(sp->b->tls), PROXY_ALPN_OPAQUE) != 0))) {
            char reason[300];
            snprintf(reason, sizeof(reason), "mTLS to the peer failed: %s",
                     sp->b_tls ? st_tls_conn_error(sp->b->tls) : "");
            splice_fail(sp, 502, reason);
            return;
        }
        if (sp->pre.len > 0 && conn_queue(sp->b, sp->pre.data, sp->pre.len) < 0) {
            splice_fail(sp, 502, "output overflow");
            return;
        }
        st_buf_free(&sp->pre);
        if (sp->reply_200) {
            static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
            (void)conn_queue(sp->a, ok, sizeof(ok) - 1);
        }
        sp->state = SP_RUNNING;
        sp->last_ms = st_ev_now_ms(sp->th->loop);
        st_ev_timer_start(sp->th->loop, &sp->a->timer, sp->th->px->cfg.idle_timeout_ms);
    }
    /* Running: copy both ways and flush both, until a round moves nothing. */
    for (;;) {
        uint64_t before = sp->a->rbytes + sp->b->rbytes;
        if (splice_copy(sp, sp->a, sp->b, &sp->a_eof) < 0 ||
            splice_copy(sp, sp->b, sp->a, &sp->b_eof) < 0) {
            splice_free(sp);
            return;
        }
        int ra = conn_flush(sp->a), rb = conn_flush(sp->b);
        if ((ra < 0 && ra != -EAGAIN) || (rb < 0 && rb != -EAGAIN)) {
            splice_free(sp);
            return;
        }
        if (sp->a->rbytes + sp->b->rbytes == before)
            break;
    }
    if (sp->a_eof && sp->b_eof && sp->a->out.len == 0 && sp->b->out.len == 0) {
        splice_free(sp);
        return;
    }
}
