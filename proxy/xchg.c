/*
 * Message heads, body pipes, exchanges and request routing: the glue between
 * the downstream sides (h1down.c, h2srv.c) and the upstream sides (peer.c,
 * h1up.c).
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "dest_source.h"
#include "identity.h"
#include "proxy.h"
#include "transparent.h"

/* ---- heads ----------------------------------------------------------------- */

/*
 * The strings of a head live in blocks owned by the head, so that a request
 * or response costs a couple of allocations instead of two per field.
 */
struct hmsg_mem {
    struct hmsg_mem *next;
    size_t used, cap;
    _Alignas(max_align_t) char data[];
};

#define HMSG_MEM_FIRST 768 /* bytes of the first block: a typical head and its fields fit */

void
hmsg_init(struct hmsg *m)
{
    memset(m, 0, sizeof(*m));
    m->content_length = -1;
}

void
hmsg_free(struct hmsg *m)
{
    while (m->mem != NULL) {
        struct hmsg_mem *b = m->mem;
        m->mem = b->next;
        free(b);
    }
    hmsg_init(m);
}

/* <n> bytes from the blocks of <m>, at an offset that is a multiple of <align>. */
static void *
hmsg_take(struct hmsg *m, size_t n, size_t align)
{
    struct hmsg_mem *b = m->mem;
    size_t at = b != NULL ? (b->used + align - 1) / align * align : 0;

    if (b == NULL || at > b->cap || b->cap - at < n) {
        size_t cap = b != NULL ? 2 * b->cap : HMSG_MEM_FIRST;
        if (cap < n)
            cap = n;
        b = st_xmalloc(sizeof(*b) + cap);
        b->used = 0;
        b->cap = cap;
        b->next = m->mem;
        m->mem = b;
        at = 0;
    }
    b->used = at + n;
    return b->data + at;
}

char *
hmsg_alloc(struct hmsg *m, size_t n)
{
    char *p = hmsg_take(m, n + 1, 1);

    p[n] = '\0';
    return p;
}

char *
hmsg_strdup(struct hmsg *m, const char *s, size_t n)
{
    char *p = hmsg_alloc(m, n);

    if (n > 0)
        memcpy(p, s, n);
    return p;
}

int
hmsg_add(struct hmsg *m, const char *name, size_t nn, const char *value, size_t vn)
{
    if (m->n >= PROXY_MAX_FIELDS || m->bytes + nn + vn + 32 > PROXY_MAX_HEAD_BYTES)
        return ST_ETOOBIG;
    if (m->n == m->cap) {
        /* The array lives in the blocks too; a grown one leaves the old one there. */
        size_t cap = m->cap != 0 ? m->cap * 2 : 8;
        struct hfield *f = hmsg_take(m, cap * sizeof(*f), _Alignof(struct hfield));
        if (m->n > 0)
            memcpy(f, m->f, m->n * sizeof(*f));
        m->f = f;
        m->cap = cap;
    }
    char *lname = hmsg_alloc(m, nn);
    for (size_t i = 0; i < nn; i++) {
        char c = name[i];
        lname[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
    m->f[m->n].name = lname;
    m->f[m->n].value = hmsg_strdup(m, value, vn);
    m->n++;
    m->bytes += nn + vn + 32;
    return 0;
}

const char *
hmsg_get(const struct hmsg *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->f[i].name, name) == 0)
            return m->f[i].value;
    return NULL;
}

void
hmsg_del(struct hmsg *m, const char *name)
{
    size_t j = 0;

    /* The strings stay in the head's blocks until hmsg_free. */
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->f[i].name, name) != 0)
            m->f[j++] = m->f[i];
    m->n = j;
}

bool
hmsg_hop_by_hop_n(const char *name, size_t n)
{
#define HOP(lit) (strncasecmp(name, lit, n) == 0)
    /* By length first: this runs for every field of every message. */
    switch (n) {
    case 2:
        return HOP("te");
    case 4:
        return HOP("host");
    case 7:
        return HOP("upgrade") || HOP("trailer");
    case 10:
        return HOP("connection") || HOP("keep-alive");
    case 14:
        return HOP("http2-settings");
    case 16:
        return HOP("proxy-connection");
    case 17:
        return HOP("transfer-encoding");
    case 18:
        return HOP("proxy-authenticate");
    case 19:
        return HOP("proxy-authorization");
    default:
        return false;
    }
#undef HOP
}

size_t
hmsg_connection_tokens(const struct st_http_header *hdrs, size_t n, struct st_str *out, size_t max)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        if (!st_str_casecmp_eq(hdrs[i].name, ST_STR("connection")))
            continue;
        struct st_str list = hdrs[i].value, t;
        while (st_http_token_next(&list, &t)) {
            if (k == max)
                return max + 1;
            out[k++] = t;
        }
    }
    return k;
}

bool
hmsg_listed(const struct st_str *tokens, size_t k, const struct st_http_header *hdrs, size_t n,
            struct st_str name)
{
    if (k == 0)
        return false;
    if (k > HMSG_CONN_TOKENS) /* too many to keep: ask the parser's scan */
        return st_http_connection_lists(hdrs, n, name);
    for (size_t i = 0; i < k; i++)
        if (st_str_casecmp_eq(tokens[i], name))
            return true;
    return false;
}

bool
hmsg_hop_by_hop(const char *name)
{
    return hmsg_hop_by_hop_n(name, strlen(name));
}

/* ---- pipes -------------------------------------------------------------------- */

void
pipe_init(struct pipe *p)
{
    memset(p, 0, sizeof(*p));
    st_buf_init(&p->buf, PROXY_PIPE_MAX);
}

void
pipe_free(struct pipe *p)
{
    st_buf_free(&p->buf);
    if (p->trailers != NULL) {
        hmsg_free(p->trailers);
        free(p->trailers);
        p->trailers = NULL;
    }
}

int
pipe_push(struct pipe *p, const void *data, size_t n)
{
    int rc = st_buf_append(&p->buf, data, n);

    if (rc == 0)
        p->total += n;
    return rc;
}

size_t
pipe_take(struct pipe *p, void *out, size_t n)
{
    n = ST_MIN(n, p->buf.len);
    if (n > 0) {
        size_t again = ST_MIN(n, p->replayed); /* acknowledged when first taken */
        memcpy(out, p->buf.data, n);
        st_buf_consume(&p->buf, n);
        p->replayed -= again;
        p->unacked += n - again;
    }
    return n;
}

bool
pipe_full(const struct pipe *p)
{
    return p->buf.len >= PROXY_PIPE_HIGH;
}

/* ---- exchanges ------------------------------------------------------------------ */

static void xchg_track(struct xchg *x);

/*
 * Every move of the request body wakes one side or the other (the producer
 * wakes the consumer, the consumer wakes the producer for more), so the
 * wakes are where the timing notes its progress.
 */
static void
xchg_down_defer(struct st_ev *loop, struct st_ev_defer *d)
{
    struct xchg *x = d->data;

    ST_UNUSED(loop);
    xchg_track(x);
    if (x->down != NULL)
        x->down_ops->wake(x->down);
}

static void
xchg_up_defer(struct st_ev *loop, struct st_ev_defer *d)
{
    struct xchg *x = d->data;

    ST_UNUSED(loop);
    xchg_track(x);
    if (x->up != NULL)
        x->up_ops->wake(x->up);
}

struct xchg *
xchg_new(struct proxy_thread *th, enum xchg_dir dir)
{
    struct xchg *x = st_xcalloc(1, sizeof(*x));

    x->th = th;
    x->dir = dir;
    hmsg_init(&x->req);
    hmsg_init(&x->resp);
    pipe_init(&x->reqbody);
    pipe_init(&x->respbody);
    st_buf_init(&x->replay, PROXY_RETRY_BODY_MAX);
    st_ev_defer_init(&x->down_defer, xchg_down_defer, x);
    st_ev_defer_init(&x->up_defer, xchg_up_defer, x);
    x->start_ms = st_ev_now_ms(th->loop);
    return x;
}

static void
xchg_observe(struct xchg *x, bool ok)
{
    if (x->ep != NULL) {
        balance_observe(x->ep, st_ev_now_ms(x->th->loop) - x->start_ms, ok,
                        st_ev_now_ms(x->th->loop));
        x->ep = NULL;
    }
}

static void
xchg_free(struct xchg *x)
{
    if (!x->counted && (x->resp_ready || x->abort_status != 0))
        xchg_count(x, !x->aborted);
    xchg_observe(x, !x->aborted);
    st_ev_defer_cancel(x->th->loop, &x->down_defer);
    st_ev_defer_cancel(x->th->loop, &x->up_defer);
    st_ev_timer_stop(x->th->loop, &x->timer);
    hmsg_free(&x->req);
    hmsg_free(&x->resp);
    pipe_free(&x->reqbody);
    pipe_free(&x->respbody);
    st_buf_free(&x->replay);
    discovery_table_unref(x->table);
    free(x->abort_reason);
    free(x->peer_id);
    free(x);
}

void
xchg_attach_down(struct xchg *x, void *side, const struct side_ops *ops)
{
    x->down = side;
    x->down_ops = ops;
}

void
xchg_attach_up(struct xchg *x, void *side, const struct side_ops *ops)
{
    x->up = side;
    x->up_ops = ops;
}

void
xchg_detach_down(struct xchg *x)
{
    x->down = NULL;
    st_ev_defer_cancel(x->th->loop, &x->down_defer);
    if (x->up == NULL) {
        xchg_free(x);
        return;
    }
    /* The client is gone: an upstream still running must stop. */
    if (!(x->reqbody.eof && x->respbody.eof && x->respbody.buf.len == 0))
        xchg_abort(x, 0, "client went away");
    else
        xchg_wake_up(x);
}

void
xchg_detach_up(struct xchg *x)
{
    x->up = NULL;
    st_ev_defer_cancel(x->th->loop, &x->up_defer);
    if (x->down == NULL) {
        xchg_free(x);
        return;
    }
    if (!x->respbody.eof)
        xchg_abort(x, 502, "upstream went away");
    else
        xchg_wake_down(x);
}

void
xchg_wake_down(struct xchg *x)
{
    if (x->down != NULL)
        st_ev_defer_schedule(x->th->loop, &x->down_defer);
}

void
xchg_wake_up(struct xchg *x)
{
    if (x->up != NULL)
        st_ev_defer_schedule(x->th->loop, &x->up_defer);
}

void
xchg_replay_keep(struct xchg *x, const void *p, size_t n)
{
    retry_keep(&x->replay, &x->no_replay, x->retried || x->resp_ready, p, n);
}

void
xchg_retry_facts(const struct xchg *x, struct retry_facts *f)
{
    *f = (struct retry_facts){
        .retried = x->retried,
        .aborted = x->aborted,
        .client_gone = x->down == NULL,
        .resp_head = x->resp_ready,
        .continue_seen = x->continue_seen,
        .no_replay = x->no_replay,
        .body_total = x->reqbody.total,
        .held = x->replay.len + x->reqbody.buf.len,
    };
}

bool
xchg_retry_allowed(const struct xchg *x)
{
    struct retry_facts f;

    xchg_retry_facts(x, &f);
    return retry_allowed(&f);
}

void
xchg_release_up(struct xchg *x)
{
    struct pipe *b = &x->reqbody;

    x->up = NULL;
    x->up_ops = NULL;
    st_ev_defer_cancel(x->th->loop, &x->up_defer);
    if (x->replay.len == 0 || b->buf.len + x->replay.len > b->buf.max)
        return;
    /* The bytes already sent go first again; they were acknowledged to the client once. */
    struct st_buf joined;
    st_buf_init(&joined, b->buf.max);
    if (st_buf_append(&joined, x->replay.data, x->replay.len) < 0 ||
        (b->buf.len > 0 && st_buf_append(&joined, b->buf.data, b->buf.len) < 0)) {
        st_buf_free(&joined); /* cannot happen: checked against the cap above */
        x->no_replay = true;
        return;
    }
    st_buf_free(&b->buf);
    b->buf = joined;
    b->replayed = x->replay.len;
    st_buf_reset(&x->replay);
}

void
xchg_abort(struct xchg *x, int status, const char *reason)
{
    if (x->aborted)
        return;
    x->aborted = true;
    if (!x->resp_ready && status != 0)
        x->abort_status = status;
    x->abort_reason = st_xstrdup(reason != NULL ? reason : "request failed");
    xchg_observe(x, false);
    xchg_wake_down(x);
    xchg_wake_up(x);
}

void
xchg_count(struct xchg *x, bool ok)
{
    const char *grpc = NULL;
    int status;

    if (x->counted || x->labels == NULL)
        return;
    x->counted = true;
    /* A failure the proxy answered itself counts with the HTTP status it stands for. */
    status = x->resp_ready ? x->resp.status : x->abort_status;
    if (x->resp_ready || x->grpc_error) {
        /* A trailers-only response has it in its head, any other in its trailers. */
        grpc = hmsg_get(&x->resp, "grpc-status");
        if (grpc == NULL && x->respbody.trailers != NULL)
            grpc = hmsg_get(x->respbody.trailers, "grpc-status");
    }
    int code = stats_grpc_status(grpc);
    bool success = ok && status > 0 && status < 500 && code <= 0;
    stats_response_route(x->th->stats, x->stats_route, x->labels, status, success, code,
                         st_ev_now_ms(x->th->loop) - x->start_ms);
}

/* True once the whole request went to the upstream side: the client ended it, nothing left. */
static bool
xchg_request_complete(const struct xchg *x)
{
    return x->reqbody.eof && x->reqbody.buf.len == 0;
}

/* The request is complete: the response-head timeout starts now. */
static void
xchg_request_sent(struct xchg *x)
{
    uint32_t rto = x->th->px->cfg.request_timeout_ms;

    x->req_sent = true;
    if (rto == 0)
        st_ev_timer_stop(x->th->loop, &x->timer);
    else
        st_ev_timer_start(x->th->loop, &x->timer, rto);
}

/*
 * Notes the progress of a routed request's body: when bytes last moved, and
 * the end of the request. Cheap enough for every wake: a few loads, and one
 * timer move per request that had a body.
 */
static void
xchg_track(struct xchg *x)
{
    if (!x->timing || x->req_sent || x->resp_ready)
        return;
    if (xchg_request_complete(x)) {
        xchg_request_sent(x);
        return;
    }
    if (x->reqbody.total != x->seen_total || x->reqbody.buf.len != x->seen_len) {
        x->seen_total = x->reqbody.total;
        x->seen_len = x->reqbody.buf.len;
        x->moved_ms = st_ev_now_ms(x->th->loop);
    }
}

static void
xchg_timeout(struct st_ev *loop, struct st_ev_timer *t)
{
    struct xchg *x = t->data;
    uint64_t idle = x->th->px->cfg.idle_timeout_ms, quiet;

    if (x->resp_ready || x->aborted)
        return;
    if (x->req_sent) {
        xchg_abort(x, 504, "the upstream did not answer in time");
        return;
    }
    xchg_track(x); /* a move no wake told of */
    if (x->req_sent)
        return; /* complete just now: the response-head timeout was started */
    quiet = st_ev_now_ms(loop) - x->moved_ms;
    if (quiet < idle) {
        st_ev_timer_start(loop, t, idle - quiet);
        return;
    }
    if (x->reqbody.buf.len > 0)
        xchg_abort(x, 504, "the upstream stopped reading the request body");
    else
        xchg_abort(x, 408, "the request body stalled");
}

void
xchg_start_timer(struct xchg *x)
{
    st_ev_timer_init(&x->timer, xchg_timeout, x);
    x->timing = true;
    x->moved_ms = st_ev_now_ms(x->th->loop);
    x->seen_total = x->reqbody.total;
    x->seen_len = x->reqbody.buf.len;
    if (xchg_request_complete(x))
        xchg_request_sent(x); /* no body, or all of it came with the head */
    else
        st_ev_timer_start(x->th->loop, &x->timer, x->th->px->cfg.idle_timeout_ms);
}

/* ---- routing ---------------------------------------------------------------------- */

char *
proxy_authority_canon(const struct proxy_config *cfg, const char *authority)
{
    return discovery_canon(st_str_c(authority), cfg->namespace_, cfg->cluster_domain);
}

static char *
route_labels(const char *dir, const char *authority, const char *ns, const char *svc,
             const char *id_key, const char *id)
{
    char *a = stats_escape(authority), *n = stats_escape(ns), *s = stats_escape(svc),
         *i = stats_escape(id);
    char *l;

    if (ns != NULL)
        l = st_xasprintf("direction=\"%s\",authority=\"%s\",dst_namespace=\"%s\","
                         "dst_service=\"%s\",tls=\"true\",%s=\"%s\"",
                         dir, a, n, s, id_key, i);
    else
        l = st_xasprintf("direction=\"%s\",authority=\"%s\",tls=\"true\",%s=\"%s\"", dir, a, id_key,
                         i);
    free(a);
    free(n);
    free(s);
    free(i);
    return l;
}

/*
 * Keys of the per-thread routing memo (discovery_memo_*): a tag byte, then
 * NUL-terminated strings. Everything a memoised value is derived from is in
 * its key, so a hit is always right; a key too long for the memo is simply
 * not memoised.
 */
struct route_key {
    char b[DISC_MEMO_MAX_KEY];
    size_t n;
    bool over;
};

static void
route_key_init(struct route_key *k, char tag)
{
    k->b[0] = tag;
    k->n = 1;
    k->over = false;
}

static void
route_key_add(struct route_key *k, const char *s)
{
    size_t l = strlen(s) + 1;

    if (k->over || l > sizeof(k->b) - k->n) {
        k->over = true;
        return;
    }
    memcpy(k->b + k->n, s, l);
    k->n += l;
}

/*
 * The canonical form of <authority>, or NULL when malformed. Memoised; the
 * string lives in the blocks of <x>'s request head.
 */
static const char *
route_canon(struct xchg *x, const char *authority)
{
    struct proxy_thread *th = x->th;
    struct route_key k;
    const char *v;
    size_t n;

    route_key_init(&k, 'C');
    route_key_add(&k, authority);
    if (!k.over && (v = discovery_memo_get(th->disc, k.b, k.n, &n)) != NULL)
        return n > 0 ? hmsg_strdup(&x->req, v, n) : NULL;
    char *canon = proxy_authority_canon(&th->px->cfg, authority);
    n = canon != NULL ? strlen(canon) : 0;
    if (!k.over)
        discovery_memo_put(th->disc, k.b, k.n, canon != NULL ? canon : "", n);
    const char *out = canon != NULL ? hmsg_strdup(&x->req, canon, n) : NULL;
    free(canon);
    return out;
}

/*
 * The metric label set of <x>, in the blocks of its request head. <ns> and
 * <svc> are NULL for the inbound direction. Memoised: escaping and formatting
 * them for every request cost more than the rest of the routing together.
 */
static char *
route_labels_memo(struct xchg *x, const char *dir, const char *authority, const char *ns,
                  const char *svc, const char *id_key, const char *id)
{
    struct proxy_thread *th = x->th;
    struct route_key k;
    const char *v;
    size_t n;
    char *l;

    route_key_init(&k, ns != NULL ? 'L' : 'l');
    route_key_add(&k, dir);
    route_key_add(&k, authority);
    route_key_add(&k, ns != NULL ? ns : "");
    route_key_add(&k, svc != NULL ? svc : "");
    route_key_add(&k, id_key);
    route_key_add(&k, id);
    if (!k.over && (v = discovery_memo_get(th->disc, k.b, k.n, &n)) != NULL)
        return hmsg_strdup(&x->req, v, n);
    l = route_labels(dir, authority, ns, svc, id_key, id);
    n = strlen(l);
    if (!k.over)
        discovery_memo_put(th->disc, k.b, k.n, l, n);
    char *out = hmsg_strdup(&x->req, l, n);
    free(l);
    return out;
}

static void route_outbound(struct xchg *x, const char *canon, const char *shown_authority);

/*
 * Sends <x> to a peer proxy for the canonical authority <canon>: the first
 * attempt, or (<retry>) a second one after the first was refused unprocessed.
 */
static void
route_pick(struct xchg *x, const char *canon, const char *shown_authority, bool retry)
{
    struct proxy_thread *th = x->th;
    struct disc_target tg;
    char reason[400];
    int rc;

    rc = discovery_resolve(discovery_table(th->disc), canon, &th->rng, st_ev_now_ms(th->loop), &tg);
    if (rc == ST_ENOTFOUND && !retry && dest_source_park(x, canon, shown_authority, route_outbound))
        return; /* routed again once the destination API answers for <canon> */
    if (rc == ST_ENOTFOUND && !retry && x->fallback != NULL) {
        /* A redirected request whose Host has no route after all: by the original destination. */
        const char *fb = x->fallback, *fc = route_canon(x, fb);
        x->fallback = NULL;
        route_answered(th, canon);
        if (fc != NULL) {
            route_outbound(x, fc, fb);
            return;
        }
    }
    if (rc == ST_ENOTFOUND) {
        snprintf(reason, sizeof(reason), "no route to %.300s", canon);
        xchg_abort(x, 502, reason);
        return;
    }
    if (rc < 0) {
        snprintf(reason, sizeof(reason), "no endpoints for %.300s", canon);
        xchg_abort(x, 503, reason);
        return;
    }
    x->table = discovery_table_ref(discovery_table(th->disc));
    x->ep = tg.ep;
    if (tg.ep->target_authority != NULL) {
        x->dst = hmsg_strdup(&x->req, tg.ep->target_authority, strlen(tg.ep->target_authority));
    } else {
        /* The service's host with the target port. */
        const char *colon = strrchr(tg.svc->authority, ':');
        size_t hn = colon != NULL ? (size_t)(colon - tg.svc->authority) : 0;
        char port[1 + ST_U64_DEC_MAX] = ":";
        size_t pn =
            1 + st_fmt_u64(port + 1, tg.ep->target_port != 0 ? tg.ep->target_port : tg.svc->port);
        x->dst = hmsg_alloc(&x->req, hn + pn);
        memcpy(x->dst, tg.svc->authority, hn);
        memcpy(x->dst + hn, port, pn);
    }
    if (!retry) {
        /* A retry keeps the labels the request was counted with. */
        x->labels =
            route_labels_memo(x, x->dir == XCHG_OUTBOUND ? "outbound" : "inbound", shown_authority,
                              tg.svc->namespace_, tg.svc->name, "server_id", tg.ep->identity);
        x->stats_route = stats_request(th->stats, x->labels);
        xchg_start_timer(x);
    }
    balance_start(tg.ep);
    peer_attach(x, tg.ep);
}

/* Sends <x> to a peer proxy for <canon>; both strings may be borrowed from the caller. */
static void
route_outbound(struct xchg *x, const char *canon, const char *shown_authority)
{
    /* Kept for a retry, in the request's blocks (a parked request's strings are not). */
    x->canon = canon == x->canon ? canon : hmsg_strdup(&x->req, canon, strlen(canon));
    x->shown = shown_authority == x->shown
                   ? shown_authority
                   : hmsg_strdup(&x->req, shown_authority, strlen(shown_authority));
    route_pick(x, x->canon, x->shown, false);
}

bool
xchg_retry(struct xchg *x, const char *reason)
{
    if (!xchg_retry_allowed(x))
        return false;
    x->retried = true;
    peer_count_retry(x->th, x->dir == XCHG_OUTBOUND ? "outbound" : "inbound", reason);
    if (x->dir == XCHG_INBOUND && !x->th->px->cfg.gateway) {
        peer_attach_app(x, &x->app);
        return true;
    }
    /* The endpoint that failed is marked so, and may or may not be picked again. */
    xchg_observe(x, false);
    discovery_table_unref(x->table);
    x->table = NULL;
    route_pick(x, x->canon, x->shown, true);
    return true;
}

/*
 * The app address for an inbound request to <dst>: the forward host and the
 * port of the canonical <dst>. Memoised. Returns 0, or -EINVAL for a <dst>
 * that names no valid destination, or -EADDRNOTAVAIL for a bad forward host.
 */
static int
route_forward_addr(struct proxy_thread *th, const char *dst, struct st_sockaddr *addr)
{
    const struct proxy_config *cfg = &th->px->cfg;
    struct route_key k;
    const void *v;
    size_t n;
    int rc;

    route_key_init(&k, 'F');
    route_key_add(&k, dst);
    if (!k.over && (v = discovery_memo_get(th->disc, k.b, k.n, &n)) != NULL) {
        if (n == sizeof(*addr)) {
            memcpy(addr, v, n);
            return 0;
        }
        return n == 0 ? -EINVAL : -EADDRNOTAVAIL;
    }
    char *canon = proxy_authority_canon(cfg, dst);
    if (canon == NULL) {
        rc = -EINVAL;
    } else {
        const char *colon = strrchr(canon, ':');
        char *text = st_xasprintf("%s:%s", cfg->forward_host, colon + 1);
        rc = st_sock_parse_addr(text, addr);
        if (rc < 0) {
            char *t6 = st_xasprintf("[%s]:%s", cfg->forward_host, colon + 1);
            rc = st_sock_parse_addr(t6, addr);
            free(t6);
        }
        free(text);
        free(canon);
        rc = rc < 0 ? -EADDRNOTAVAIL : 0;
    }
    /* The value's length tells the outcome: an address, 0 for a bad <dst>, 1 for a bad host. */
    size_t len = rc == 0 ? sizeof(*addr) : rc == -EINVAL ? 0 : 1;
    if (!k.over)
        discovery_memo_put(th->disc, k.b, k.n, addr, len);
    return rc;
}

bool
route_authority_known(struct proxy_thread *th, struct st_str authority)
{
    const struct proxy_config *cfg = &th->px->cfg;
    char *canon = authority.n > 0 ? discovery_canon(authority, cfg->namespace_,
                                                    cfg->cluster_domain)
                                  : NULL;
    bool known = false;

    if (canon != NULL) {
        const struct disc_part *p;
        known = discovery_has(discovery_table(th->disc), canon);
        if (!known && dest_source_enabled() &&
            ((p = discovery_part(th->disc, canon)) == NULL || p->found) &&
            !discovery_neg_has(th->disc, canon, st_ev_now_ms(th->loop))) {
            /* The controller answers for names of the cluster domain; routing waits for it. */
            char *suffix = st_xasprintf(".svc.%s:", cfg->cluster_domain);
            known = strstr(canon, suffix) != NULL;
            free(suffix);
        }
    }
    free(canon);
    return known;
}

const char *
route_redirected(struct proxy_thread *th, struct st_str authority, const char *orig)
{
    return route_authority_known(th, authority) ? NULL : orig;
}

struct dest_wait *
route_ask(struct proxy_thread *th, const char *canon, dest_source_cb *cb, void *arg)
{
    if (discovery_neg_has(th->disc, canon, st_ev_now_ms(th->loop)))
        return NULL;
    return dest_source_wait(th, canon, cb, arg);
}

void
route_answered(struct proxy_thread *th, const char *canon)
{
    if (canon != NULL && !discovery_has(discovery_table(th->disc), canon))
        discovery_neg_put(th->disc, canon, st_ev_now_ms(th->loop), th->px->cfg.negative_ttl_ms);
}

void
route_request(struct xchg *x, const char *route_authority)
{
    struct proxy_thread *th = x->th;
    const struct proxy_config *cfg = &th->px->cfg;
    const char *authority = x->req.authority != NULL ? x->req.authority : "";
    const char *canon = NULL;

    if (x->dir == XCHG_OUTBOUND) {
        /* Routed (and labelled) by one authority; the request's own goes on untouched. */
        const char *by = route_authority != NULL ? route_authority : authority;
        canon = route_canon(x, by);
        if (canon == NULL) {
            xchg_abort(x, 400, "the request names no valid authority");
            return;
        }
        by = by == authority ? authority : hmsg_strdup(&x->req, by, strlen(by));
        x->canon = canon;
        x->shown = by;
        route_outbound(x, canon, by);
        return;
    }

    /* Inbound: strait-dst names where the request goes. */
    const char *dst = hmsg_get(&x->req, PROXY_DST_HEADER);
    if (dst == NULL)
        dst = authority;
    if (cfg->gateway) {
        canon = route_canon(x, dst);
        if (canon == NULL) {
            xchg_abort(x, 400, "the request names no valid destination");
            return;
        }
        const char *hops = hmsg_get(&x->req, PROXY_HOPS_HEADER);
        uint64_t n = 0;
        char *suffix = st_xasprintf(".svc.%s", cfg->cluster_domain);
        const char *colon = strrchr(canon, ':');
        bool local = colon != NULL && (size_t)(colon - canon) > strlen(suffix) &&
                     strncmp(colon - strlen(suffix), suffix, strlen(suffix)) == 0;
        free(suffix);
        if (hops != NULL && st_parse_u64(st_str_c(hops), 1000, &n) < 0)
            n = PROXY_MAX_HOPS;
        if (!local) {
            xchg_abort(x, 403, "the gateway only forwards to its own cluster domain");
        } else if (n + 1 >= PROXY_MAX_HOPS) {
            xchg_abort(x, 508, "routing loop detected");
        } else {
            char nb[24];
            snprintf(nb, sizeof(nb), "%llu", (unsigned long long)n + 1);
            hmsg_del(&x->req, PROXY_HOPS_HEADER);
            hmsg_add(&x->req, PROXY_HOPS_HEADER, strlen(PROXY_HOPS_HEADER), nb, strlen(nb));
            hmsg_del(&x->req, PROXY_DST_HEADER);
            x->canon = canon;
            x->shown = authority;
            route_outbound(x, canon, authority);
        }
        return;
    }

    struct st_sockaddr addr;
    int rc = route_forward_addr(th, dst, &addr);
    if (rc == -EINVAL) {
        xchg_abort(x, 400, "the request names no valid destination");
        return;
    }
    if (rc < 0) {
        xchg_abort(x, 500, "bad inbound forward address");
        return;
    }
    hmsg_del(&x->req, PROXY_DST_HEADER);
    hmsg_del(&x->req, PROXY_CLIENT_ID_HEADER);
    hmsg_del(&x->req, PROXY_HOPS_HEADER);
    if (x->peer_id != NULL)
        hmsg_add(&x->req, PROXY_CLIENT_ID_HEADER, strlen(PROXY_CLIENT_ID_HEADER), x->peer_id,
                 strlen(x->peer_id));
    x->labels = route_labels_memo(x, "inbound", authority, NULL, NULL, "client_id",
                                  x->peer_id != NULL ? x->peer_id : "");
    x->stats_route = stats_request(th->stats, x->labels);
    xchg_start_timer(x);
    x->app = addr;
    if (x->app_h2)
        peer_attach_app(x, &addr); /* HTTP/2 end to end (gRPC) */
    else
        h1up_attach(x, &addr);
}

/* ---- clients --------------------------------------------------------------------- */

void
client_register(struct proxy_thread *th, struct client *cl, void (*drain)(struct client *))
{
    cl->drain = drain;
    list_add(&th->clients, &cl->link);
    th->n_conns++;
}

void
client_unregister(struct proxy_thread *th, struct client *cl)
{
    if (cl->link.next == NULL || list_empty(&cl->link))
        return;
    list_del(&cl->link);
    th->n_conns--;
}
