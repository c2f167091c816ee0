/*
 * The destination client (include/strait/dest.h): one HTTPS stream per
 * authority on an st_ev loop.
 *
 * A stream goes CONNECTING (TCP) -> HANDSHAKE (TLS, the controller's
 * identity checked inside verification) -> SENDING (the GET) -> HEAD (the
 * response head, 200 and chunked required) -> BODY (chunks decoded, lines
 * split and parsed). One timer serves every phase: the connect deadline
 * until the head arrived, then the idle deadline (reset by every byte),
 * the back-off while disconnected and the linger once nobody subscribes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "strait/dest.h"
#include "strait/http1.h"

#define DEST_IN_MAX (64u * 1024) /* response head and undecoded body bytes */
#define DEST_READ_CHUNK 16384

enum dest_state {
    DEST_IDLE,    /* no connection: backing off or lingering without subscribers */
    DEST_CONNECTING,
    DEST_HANDSHAKE,
    DEST_SENDING,
    DEST_HEAD,
    DEST_BODY,
};

struct st_dest_sub {
    struct dest_stream *s;
    st_dest_snapshot_cb *cb;
    void *arg;
    bool announce; /* the deferred first call is due */
    struct st_dest_sub *prev, *next;
};

struct dest_stream {
    struct st_dest_client *c;
    char *authority;
    struct st_dest_sub *subs;
    size_t n_subs;
    enum dest_state state;
    int fd;
    struct st_ev_io io;
    struct st_ev_timer timer;  /* connect, idle or back-off deadline */
    struct st_ev_timer linger; /* runs while nobody subscribes */
    struct st_ev_defer announce;
    struct st_tls_conn *tls;
    struct st_buf out;
    size_t out_off;
    struct st_buf in;
    struct st_buf line;
    struct st_http1_chunked chunked;
    unsigned attempt;
    bool connected_once; /* this connection delivered a snapshot */
    struct st_dest_snapshot *last;
    struct dest_stream *prev, *next;
};

struct st_dest_client {
    struct st_ev *loop;
    struct st_sockaddr addr;
    char *addr_text;
    char *server_identity;
    struct st_tls_slot *tls;
    uint32_t connect_timeout_ms, idle_timeout_ms, linger_ms, backoff_min_ms, backoff_max_ms;
    st_dest_state_cb *on_state;
    void *state_arg;
    struct st_rng rng;
    struct dest_stream *streams;
    size_t n_open;
};

static void dest_connect(struct dest_stream *s);
static void dest_on_io(struct st_ev *loop, struct st_ev_io *io, unsigned events);
static void dest_stream_free(struct dest_stream *s);

uint64_t
st_dest_backoff_ms(unsigned attempt, uint32_t min_ms, uint32_t max_ms, uint64_t rnd)
{
    uint64_t d = min_ms ? min_ms : 1;

    for (unsigned i = 0; i < attempt && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    /* +-20 %: d * (0.8 + 0.4 * u) with u uniform in [0, 1). */
    uint64_t span = d * 2 / 5;
    return d - d / 5 + (span ? rnd % (span + 1) : 0);
}

/* ---- connection teardown ------------------------------------------------------------- */

static void
dest_close_conn(struct dest_stream *s)
{
    struct st_dest_client *c = s->c;

    if (s->fd >= 0) {
        st_ev_io_stop(c->loop, &s->io);
        st_tls_conn_free(s->tls);
        s->tls = NULL;
        close(s->fd);
        s->fd = -1;
        c->n_open--;
    }
    st_buf_reset(&s->out);
    s->out_off = 0;
    st_buf_reset(&s->in);
    st_buf_reset(&s->line);
    s->state = DEST_IDLE;
}

/* The connection broke: keep the last snapshot, tell the caller, retry after a back-off. */
static void
dest_fail(struct dest_stream *s, int code, const char *fmt, ...) ST_PRINTF(3, 4);

static void
dest_fail(struct dest_stream *s, int code, const char *fmt, ...)
{
    struct st_dest_client *c = s->c;
    struct st_err err = {code, ""};
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
    va_end(ap);
    dest_close_conn(s);
    if (s->n_subs == 0) {
        dest_stream_free(s); /* nobody is waiting for it: the linger ends here */
        return;
    }
    if (s->connected_once)
        s->attempt = 0; /* it worked for a while: start the back-off over */
    s->connected_once = false;
    uint64_t delay = st_dest_backoff_ms(s->attempt, c->backoff_min_ms, c->backoff_max_ms,
                                        st_rng_next(&c->rng));
    if (s->attempt < 32)
        s->attempt++;
    st_ev_timer_start(c->loop, &s->timer, delay);
    if (c->on_state)
        c->on_state(c->state_arg, s->authority, false, &err);
}

/* ---- lines and snapshots ---------------------------------------------------------------- */

static void
dest_deliver(struct dest_stream *s, struct st_dest_snapshot *snap)
{
    st_dest_snapshot_free(s->last);
    s->last = snap;
    for (struct st_dest_sub *u = s->subs; u != NULL;) {
        struct st_dest_sub *next = u->next; /* the callback may unsubscribe <u> */
        u->announce = false;
        u->cb(u->arg, u, snap);
        u = next;
    }
}

/* Handles one complete line; returns false when the stream was failed. */
static bool
dest_line(struct dest_stream *s, const char *p, size_t n)
{
    struct st_dest_snapshot *snap = NULL;
    struct st_err err = {0};

    if (n == 0)
        return true;
    if (st_dest_snapshot_parse(p, n, &snap, &err) < 0) {
        dest_fail(s, ST_EPROTO, "bad snapshot: %s", err.msg);
        return false;
    }
    if (snap->kind == ST_DEST_HEARTBEAT) {
        st_dest_snapshot_free(snap);
        return true;
    }
    s->connected_once = true;
    dest_deliver(s, snap);
    return true;
}

/* Appends decoded body bytes and handles the complete lines; false when failed. */
static bool
dest_body_data(struct dest_stream *s, const char *p, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (st_buf_append(&s->line, p, take) < 0) {
            dest_fail(s, ST_ETOOBIG, "a snapshot line is over %u bytes", ST_DEST_LINE_MAX);
            return false;
        }
        if (nl == NULL)
            return true;
        struct st_buf line = s->line;
        s->line = (struct st_buf)ST_BUF_INIT(ST_DEST_LINE_MAX);
        bool ok = dest_line(s, line.data ? line.data : "", line.len);
        st_buf_free(&line);
        if (!ok)
            return false;
        p += take + 1;
        n -= take + 1;
    }
    return true;
}

/* Consumes what is buffered in s->in; false when the stream was failed or closed. */
static bool
dest_process(struct dest_stream *s)
{
    struct st_dest_client *c = s->c;

    if (s->state == DEST_HEAD) {
        struct st_http1_response resp;
        struct st_http_header hdrs[32];
        int n = st_http1_parse_response(s->in.data, s->in.len, NULL, &resp, hdrs, 32);
        if (n == 0)
            return true;
        if (n < 0) {
            dest_fail(s, ST_EPROTO, "bad response head: %s", st_http1_error_reason(n));
            return false;
        }
        if (resp.status != 200) {
            dest_fail(s, resp.status == 401 || resp.status == 403 ? ST_EAUTH : ST_EPROTO,
                      "the controller answered %d", resp.status);
            return false;
        }
        if (!resp.chunked) {
            dest_fail(s, ST_EPROTO, "the stream is not chunked");
            return false;
        }
        st_buf_consume(&s->in, (size_t)n);
        st_http1_chunked_init(&s->chunked);
        s->state = DEST_BODY;
        if (c->on_state)
            c->on_state(c->state_arg, s->authority, true, NULL);
        st_ev_timer_start(c->loop, &s->timer, c->idle_timeout_ms);
    }
    while (s->state == DEST_BODY && s->in.len > 0) {
        size_t used = 0;
        struct st_str data = {0};
        int rc = st_http1_chunked_decode(&s->chunked, s->in.data, s->in.len, &used, &data);
        if (rc < 0) {
            dest_fail(s, ST_EPROTO, "bad chunked body: %s", st_http1_error_reason(rc));
            return false;
        }
        if (data.n > 0 && !dest_body_data(s, data.p, data.n))
            return false;
        st_buf_consume(&s->in, used);
        if (rc == 1) {
            dest_fail(s, -ECONNRESET, "the controller ended the stream");
            return false;
        }
        if (used == 0)
            break;
    }
    return true;
}

/* ---- I/O ---------------------------------------------------------------------------------- */

static bool
dest_flush(struct dest_stream *s)
{
    while (s->out_off < s->out.len) {
        ssize_t w = st_tls_write(s->tls, s->out.data + s->out_off, s->out.len - s->out_off);
        if (w == ST_TLS_WANT_READ || w == ST_TLS_WANT_WRITE)
            return true;
        if (w < 0) {
            dest_fail(s, (int)w, "write: %s", st_tls_conn_error(s->tls));
            return false;
        }
        s->out_off += (size_t)w;
    }
    st_buf_reset(&s->out);
    s->out_off = 0;
    s->state = DEST_HEAD;
    return true;
}

static bool
dest_read(struct dest_stream *s)
{
    struct st_dest_client *c = s->c;
    bool got = false;

    for (;;) {
        if (st_buf_reserve(&s->in, DEST_READ_CHUNK) < 0) {
            dest_fail(s, ST_ETOOBIG, "the response head is too large");
            return false;
        }
        ssize_t r = st_tls_read(s->tls, s->in.data + s->in.len, DEST_READ_CHUNK);
        if (r == ST_TLS_WANT_READ || r == ST_TLS_WANT_WRITE)
            break;
        if (r == 0 || r < 0) {
            /* Take what arrived before the close, then fail. */
            if (dest_process(s))
                dest_fail(s, r == 0 ? -ECONNRESET : (int)r, "the connection closed%s%s",
                          r < 0 ? ": " : "", r < 0 ? st_tls_conn_error(s->tls) : "");
            return false;
        }
        s->in.len += (size_t)r;
        s->in.data[s->in.len] = '\0';
        got = true;
        if (!dest_process(s))
            return false;
    }
    if (got && s->state == DEST_BODY)
        st_ev_timer_start(c->loop, &s->timer, c->idle_timeout_ms);
    return true;
}

static void
dest_advance(struct dest_stream *s)
{
    if (s->state == DEST_HANDSHAKE) {
        int rc = st_tls_handshake(s->tls);
        if (rc == ST_TLS_WANT_READ || rc == ST_TLS_WANT_WRITE)
            return;
        if (rc < 0) {
            dest_fail(s, ST_ETLS, "TLS: %s", st_tls_conn_error(s->tls));
            return;
        }
        s->state = DEST_SENDING;
    }
    if (s->state == DEST_SENDING && !dest_flush(s))
        return;
    if (s->state == DEST_HEAD || s->state == DEST_BODY)
        dest_read(s);
}

static void
dest_on_io(struct st_ev *loop, struct st_ev_io *io, unsigned events)
{
    struct dest_stream *s = io->data;

    if (s->state == DEST_CONNECTING) {
        int rc = st_sock_connect_result(s->fd);
        if (rc < 0) {
            dest_fail(s, rc, "connect %s: %s", s->c->addr_text, st_strerror(rc));
            return;
        }
        if (!(events & (ST_EV_WRITE | ST_EV_ERROR)))
            return;
        s->state = DEST_HANDSHAKE;
    }
    dest_advance(s);
}

static void
dest_connect(struct dest_stream *s)
{
    struct st_dest_client *c = s->c;
    struct st_err err = {0};
    struct st_tls_ctx *ctx = st_tls_slot_get(c->tls);
    char *enc = NULL;

    if (ctx == NULL) {
        dest_fail(s, ST_ETLS, "no client certificate yet");
        return;
    }
    int fd = st_sock_connect(&c->addr, NULL, &err);
    if (fd < 0) {
        st_tls_ctx_unref(ctx);
        dest_fail(s, fd, "connect %s: %s", c->addr_text, err.msg);
        return;
    }
    s->fd = fd;
    c->n_open++;
    s->tls = st_tls_conn_new(ctx, fd, false, NULL);
    st_tls_ctx_unref(ctx);
    if (st_tls_conn_expect_identity(s->tls, c->server_identity) < 0) {
        dest_fail(s, ST_EINVAL, "cannot check the controller's identity");
        return;
    }
    /* The authority is percent-encoded byte by byte outside unreserved characters. */
    struct st_buf target = ST_BUF_INIT(4096);
    int rc = st_buf_append_str(&target, ST_DEST_PATH "?authority=");
    for (const char *p = s->authority; *p && rc == 0; p++) {
        unsigned char ch = (unsigned char)*p;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~' || ch == ':')
            rc = st_buf_append(&target, p, 1);
        else
            rc = st_buf_appendf(&target, "%%%02X", ch);
    }
    enc = st_buf_steal(&target);
    struct st_http_header hdrs[2] = {
        {ST_STR("Host"), st_str_c(c->addr_text)},
        {ST_STR("Accept"), ST_STR("application/x-ndjson")},
    };
    if (rc < 0 || st_http1_write_request_head(&s->out, ST_STR("GET"), st_str_c(enc), 1, hdrs, 2) <
                      0) {
        free(enc);
        dest_fail(s, ST_EINVAL, "cannot build the request");
        return;
    }
    free(enc);
    s->state = DEST_CONNECTING;
    st_ev_io_init(&s->io, fd, dest_on_io, s);
    if (st_ev_io_start(c->loop, &s->io, ST_EV_READ | ST_EV_WRITE) < 0) {
        dest_fail(s, -EIO, "cannot watch the socket");
        return;
    }
    st_ev_timer_start(c->loop, &s->timer, c->connect_timeout_ms);
}

/* ---- streams ---------------------------------------------------------------------------------- */

static void
dest_stream_free(struct dest_stream *s)
{
    struct st_dest_client *c = s->c;

    dest_close_conn(s);
    st_ev_timer_stop(c->loop, &s->timer);
    st_ev_timer_stop(c->loop, &s->linger);
    st_ev_defer_cancel(c->loop, &s->announce);
    while (s->subs != NULL) {
        struct st_dest_sub *u = s->subs;
        s->subs = u->next;
        free(u);
    }
    if (s->prev)
        s->prev->next = s->next;
    else
        c->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    st_dest_snapshot_free(s->last);
    st_buf_free(&s->out);
    st_buf_free(&s->in);
    st_buf_free(&s->line);
    free(s->authority);
    free(s);
}

static void
dest_on_timer(struct st_ev *loop, struct st_ev_timer *t)
{
    struct dest_stream *s = t->data;

    switch (s->state) {
    case DEST_IDLE:
        dest_connect(s);
        return;
    case DEST_CONNECTING:
    case DEST_HANDSHAKE:
    case DEST_SENDING:
    case DEST_HEAD:
        dest_fail(s, ST_ETIMEOUT, "no answer within %u ms", s->c->connect_timeout_ms);
        return;
    case DEST_BODY:
        dest_fail(s, ST_ETIMEOUT, "nothing received for %u ms", s->c->idle_timeout_ms);
        return;
    }
}

static void
dest_on_linger(struct st_ev *loop, struct st_ev_timer *t)
{
    dest_stream_free(t->data); /* nobody subscribed again in time */
}

static void
dest_on_announce(struct st_ev *loop, struct st_ev_defer *d)
{
    struct dest_stream *s = d->data;

    if (s->last == NULL)
        return;
    for (struct st_dest_sub *u = s->subs; u != NULL;) {
        struct st_dest_sub *next = u->next;
        if (u->announce) {
            u->announce = false;
            u->cb(u->arg, u, s->last);
        }
        u = next;
    }
}

struct st_dest_sub *
st_dest_subscribe(struct st_dest_client *c, const char *authority, st_dest_snapshot_cb *cb,
                  void *arg)
{
    struct dest_stream *s;
    size_t n = strlen(authority);

    if (n == 0 || n > ST_DEST_AUTHORITY_MAX)
        return NULL;
    for (s = c->streams; s != NULL; s = s->next)
        if (strcmp(s->authority, authority) == 0)
            break;
    if (s == NULL) {
        s = st_xcalloc(1, sizeof(*s));
        s->c = c;
        s->fd = -1;
        s->authority = st_xstrdup(authority);
        st_buf_init(&s->out, 8192);
        st_buf_init(&s->in, DEST_IN_MAX);
        st_buf_init(&s->line, ST_DEST_LINE_MAX);
        st_ev_timer_init(&s->timer, dest_on_timer, s);
        st_ev_timer_init(&s->linger, dest_on_linger, s);
        st_ev_defer_init(&s->announce, dest_on_announce, s);
        s->next = c->streams;
        if (c->streams)
            c->streams->prev = s;
        c->streams = s;
    }
    st_ev_timer_stop(c->loop, &s->linger);
    struct st_dest_sub *u = st_xcalloc(1, sizeof(*u));
    u->s = s;
    u->cb = cb;
    u->arg = arg;
    u->next = s->subs;
    if (s->subs)
        s->subs->prev = u;
    s->subs = u;
    s->n_subs++;
    if (s->last != NULL) {
        u->announce = true;
        st_ev_defer_schedule(c->loop, &s->announce);
    }
    if (s->state == DEST_IDLE && !st_ev_timer_active(&s->timer))
        dest_connect(s); /* new, or lingered: otherwise it is connected or backing off */
    return u;
}

void
st_dest_unsubscribe(struct st_dest_sub *u)
{
    if (u == NULL)
        return;
    struct dest_stream *s = u->s;
    struct st_dest_client *c = s->c;

    if (u->prev)
        u->prev->next = u->next;
    else
        s->subs = u->next;
    if (u->next)
        u->next->prev = u->prev;
    free(u);
    if (--s->n_subs > 0)
        return;
    /* The last one: the stream stays open for a while, in case it is wanted again. */
    st_ev_timer_start(c->loop, &s->linger, c->linger_ms);
}

const struct st_dest_snapshot *
st_dest_sub_last(const struct st_dest_sub *u)
{
    return u->s->last;
}

size_t
st_dest_client_streams(const struct st_dest_client *c)
{
    return c->n_open;
}

struct st_dest_client *
st_dest_client_new(struct st_ev *loop, const struct st_dest_options *o, struct st_err *err)
{
    struct st_dest_client *c;

    if (o->addr == NULL || o->server_identity == NULL || o->tls == NULL) {
        st_err_set(err, ST_EINVAL, "addr, server_identity and tls are required");
        return NULL;
    }
    c = st_xcalloc(1, sizeof(*c));
    if (st_sock_parse_addr(o->addr, &c->addr) < 0) {
        st_err_set(err, ST_EPARSE, "bad controller address \"%s\"", o->addr);
        free(c);
        return NULL;
    }
    c->loop = loop;
    c->addr_text = st_xstrdup(o->addr);
    c->server_identity = st_xstrdup(o->server_identity);
    c->tls = o->tls;
    c->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 5000;
    c->idle_timeout_ms = o->idle_timeout_ms ? o->idle_timeout_ms : 30000;
    c->linger_ms = o->linger_ms ? o->linger_ms : 60000;
    c->backoff_min_ms = o->backoff_min_ms ? o->backoff_min_ms : 200;
    c->backoff_max_ms = o->backoff_max_ms ? o->backoff_max_ms : 10000;
    if (c->backoff_max_ms < c->backoff_min_ms)
        c->backoff_max_ms = c->backoff_min_ms;
    c->on_state = o->on_state;
    c->state_arg = o->state_arg;
    st_rng_seed(&c->rng);
    return c;
}

void
st_dest_client_free(struct st_dest_client *c)
{
    if (c == NULL)
        return;
    while (c->streams != NULL)
        dest_stream_free(c->streams);
    free(c->addr_text);
    free(c->server_identity);
    free(c);
}
