/*
 * strait-proxy internals shared by its modules: configuration, the per-thread
 * state, byte-stream connections (plain or TLS), HTTP message heads, body
 * pipes and exchanges (one request/response between a downstream and an
 * upstream side). See docs/proxy.md for the model.
 *
 * Everything except the identity slots, the stats registry and the draining
 * flag belongs to one loop thread.
 */
#ifndef STRAIT_PROXY_H
#define STRAIT_PROXY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strait/core.h"
#include "strait/ev.h"
#include "strait/http1.h"
#include "strait/sock.h"
#include "strait/tls.h"

#include "detect.h"
#include "discovery.h"
#include "stats.h"

/* ALPN names spoken between proxies. */
#define PROXY_ALPN_H2 "h2"
#define PROXY_ALPN_OPAQUE "strait.io/transport/1"
/* The header that tells the receiving proxy where a request goes. */
#define PROXY_DST_HEADER "strait-dst"
/* Set by the inbound side on requests to the app: the verified client identity. */
#define PROXY_CLIENT_ID_HEADER "strait-client-id"
/* Hop counter that lets a gateway detect loops. */
#define PROXY_HOPS_HEADER "strait-hops"
#define PROXY_MAX_HOPS 4
/*
 * Set by the outbound side on requests that the app sent over HTTP/2 (value
 * "h2"): the inbound side then speaks HTTP/2 to its app too (gRPC needs it).
 */
#define PROXY_APP_PROTO_HEADER "strait-app-proto"
/* A request refused unprocessed is retried once if its body is at most this long. */
#define PROXY_RETRY_BODY_MAX (64 * 1024)

#define PROXY_IO_CHUNK 16384
#define PROXY_PIPE_HIGH (64 * 1024)  /* a producer stops above this */
#define PROXY_H2_WINDOW (256 * 1024) /* per-stream receive window */
#define PROXY_PIPE_MAX (2 * PROXY_H2_WINDOW + PROXY_PIPE_HIGH)
#define PROXY_OUT_HIGH (128 * 1024)      /* queued output before producers pause */
#define PROXY_OUT_MAX (4 * 1024 * 1024)  /* hard cap of one connection's output */
#define PROXY_MAX_FIELDS 100             /* header fields of one message */
#define PROXY_MAX_HEAD_BYTES (64 * 1024) /* bytes of one head (names + values) */

struct proxy_config {
    struct st_sockaddr outbound, inbound, admin;
    const char *identity_cert, *identity_key, *trust_anchors;
    const char *routes;
    const char *forward_host; /* inbound forwards to forward_host:<target port> */
    const char *namespace_;   /* for short authorities */
    const char *cluster_domain;
    bool gateway;
    int threads;
    uint32_t connect_timeout_ms;
    uint32_t idle_timeout_ms;
    uint32_t request_timeout_ms; /* from the end of the request to the response head */
    uint32_t drain_timeout_ms;
    uint32_t handshake_timeout_ms;
    uint32_t reload_interval_ms;
    size_t max_conns;     /* accepted connections per thread */
    uint32_t max_streams; /* concurrent HTTP/2 streams per connection */
    /* Transparent proxying (transparent.h, docs/proxy.md). */
    uint32_t detect_timeout_ms;              /* --detect-timeout-ms */
    const struct detect_ports *opaque_ports; /* --opaque-ports: no detection; borrowed from
                                                main(), never NULL once the threads run */
    uint32_t negative_ttl_ms; /* --negative-ttl-ms: how long a "no route" answer is kept */
};

struct identity;
struct proxy_thread;
struct peer_local;

/* Process-wide state; the threads share it read-only except where noted. */
struct proxy {
    struct proxy_config cfg;
    struct identity *id; /* thread-safe */
    struct stats_registry *stats;
    struct proxy_thread **threads;
    int n_threads;
    atomic_bool draining;
    atomic_int running; /* threads still running their loop */
};

struct list {
    struct list *prev, *next;
};

static inline void
list_init(struct list *l)
{
    l->prev = l->next = l;
}

static inline void
list_add(struct list *head, struct list *e)
{
    e->next = head->next;
    e->prev = head;
    head->next->prev = e;
    head->next = e;
}

static inline void
list_del(struct list *e)
{
    if (e->next != NULL && e->next != e) {
        e->prev->next = e->next;
        e->next->prev = e->prev;
    }
    e->prev = e->next = e;
}

static inline bool
list_empty(const struct list *l)
{
    return l->next == l;
}

/* The state of one loop thread. */
struct proxy_thread {
    struct proxy *px;
    int index;
    struct st_ev *loop;
    int out_fd, in_fd;
    struct st_ev_io out_io, in_io;
    struct discovery *disc;
    struct stats *stats; /* this thread's counters */
    struct st_rng rng;
    struct list peers;       /* struct peer: pooled HTTP/2 connections to other proxies */
    struct list app_idle;    /* struct h1up: idle keep-alive connections to apps */
    struct list clients;     /* struct client: accepted connections (for draining) */
    size_t n_conns;          /* accepted connections open */
    struct st_ev_timer tick; /* reloads, drain checks */
    uint64_t drain_deadline;
    bool draining;
    struct peer_local *peer_local; /* peer.c's per-thread state, made on first use */
};

/* ---- connections ------------------------------------------------------------ */

struct conn;
typedef void conn_cb(struct conn *c, unsigned events);

/*
 * One socket, plain or TLS, watched edge-triggered for reading and writing at
 * once; the owner's callback tries to make progress both ways on every event.
 */
struct conn {
    int fd;
    struct st_tls_conn *tls;
    struct st_ev_io io;
    struct proxy_thread *th;
    conn_cb *cb;
    void *owner;
    struct st_buf out; /* queued output, capped at PROXY_OUT_MAX */
    bool handshaken;
    bool wr_shut;
    bool rd_idle; /* a read found the socket drained and no readiness event came since */
    bool rd_hup;  /* an event said the peer closed or failed: reads always go to the socket */
    struct st_ev_timer timer; /* free for the owner */
    struct st_ev_defer kick;
    uint64_t rbytes, wbytes;
    struct stats_series *tcp; /* tcp_* series, or NULL */
    uint64_t opened_ms;
};

/*
 * Takes ownership of <fd> and starts watching it. <tls_ctx> (borrowed, may be
 * NULL for plain) makes it a TLS connection; <server> picks the side.
 */
void conn_init(struct conn *c, struct proxy_thread *th, int fd, struct st_tls_ctx *tls_ctx,
               bool server, conn_cb *cb, void *owner);
/* Hands the connection to a new owner. */
void conn_rebind(struct conn *c, conn_cb *cb, void *owner);
/* 0 when the TLS handshake is done (or plain), -EAGAIN to wait, else an error. */
int conn_handshake(struct conn *c);
/*
 * Bytes read (> 0), 0 at the end, -EAGAIN, or an error. After a read that
 * drained the socket, -EAGAIN comes without a system call until the next
 * readiness event.
 */
ssize_t conn_read(struct conn *c, void *buf, size_t n);
/* Queues bytes; ST_ETOOBIG past PROXY_OUT_MAX. */
int conn_queue(struct conn *c, const void *p, size_t n);
/* Writes queued output: 0 when all is written, -EAGAIN when some is left, or an error. */
int conn_flush(struct conn *c);
/* Sends the end of the stream (close_notify or FIN) once the output is flushed. */
void conn_shutdown_write(struct conn *c);
/* Re-runs the owner callback on the next loop iteration (after a pause). */
void conn_kick(struct conn *c);
/* Stops watching, frees TLS state and closes the fd. Idempotent. */
void conn_close(struct conn *c);
bool conn_is_open(const struct conn *c);

/* ---- HTTP messages ----------------------------------------------------------- */

struct hfield {
    char *name; /* lower case */
    char *value;
};

struct hmsg_mem;

/*
 * A request or response head, or a trailer section, in HTTP/2 terms. All its
 * strings live in its own blocks (hmsg_strdup) and go with hmsg_free.
 */
struct hmsg {
    char *method, *scheme, *authority, *path; /* requests; set with hmsg_strdup */
    int status;                               /* responses */
    struct hfield *f;
    size_t n, cap;
    size_t bytes;
    int64_t content_length; /* -1 unknown */
    struct hmsg_mem *mem;
};

void hmsg_init(struct hmsg *m);
/* Frees the fields and every string of <m>, and makes it empty again. */
void hmsg_free(struct hmsg *m);
/* <n> bytes and a NUL after them, owned by <m> (valid until hmsg_free). */
char *hmsg_alloc(struct hmsg *m, size_t n);
/* A NUL-terminated copy of <n> bytes of <s>, owned by <m> (valid until hmsg_free). */
char *hmsg_strdup(struct hmsg *m, const char *s, size_t n);
/* Adds a field (name lowered); ST_ETOOBIG past the caps. */
int hmsg_add(struct hmsg *m, const char *name, size_t nn, const char *value, size_t vn);
/* The first value of <name> (lower case), or NULL. */
const char *hmsg_get(const struct hmsg *m, const char *name);
void hmsg_del(struct hmsg *m, const char *name);
/* True for fields that must not cross a hop (HTTP/1 hop-by-hop, HTTP/2 forbidden). */
bool hmsg_hop_by_hop(const char *name);
/* The same for a name of <n> bytes, in any case. */
bool hmsg_hop_by_hop_n(const char *name, size_t n);
/*
 * The field names that the Connection fields of an HTTP/1 head list (RFC 9110
 * 7.6.1), collected once per head instead of once per field: up to <max> of
 * them into <out> (borrowed from <hdrs>); returns their count, or max + 1
 * when there are more. hmsg_listed then tells whether <name> is one of them
 * (<tokens> and <k> as returned for <hdrs>, with max = HMSG_CONN_TOKENS).
 */
#define HMSG_CONN_TOKENS 16
size_t hmsg_connection_tokens(const struct st_http_header *hdrs, size_t n, struct st_str *out,
                              size_t max);
bool hmsg_listed(const struct st_str *tokens, size_t k, const struct st_http_header *hdrs, size_t n,
                 struct st_str name);

/* A bounded byte queue for one body direction. */
struct pipe {
    struct st_buf buf;
    uint64_t total; /* bytes ever pushed */
    size_t unacked; /* bytes taken but not yet acknowledged to an HTTP/2 producer */
    bool eof;
    struct hmsg *trailers; /* owned, may be NULL */
    size_t replayed;       /* bytes at the front put back for a retry: not acknowledged again */
};

void pipe_init(struct pipe *p);
void pipe_free(struct pipe *p);
int pipe_push(struct pipe *p, const void *data, size_t n);
/* Copies up to <n> bytes out and drops them. */
size_t pipe_take(struct pipe *p, void *out, size_t n);
bool pipe_full(const struct pipe *p);

/* ---- retry rules ------------------------------------------------------------------ */

/*
 * The rules for sending a request again (docs/proxy.md, "Retries"), as pure
 * functions over plain values so that they are tested without a loop
 * (proxy/test_retry.c). The exchange code gathers the values.
 */

/* What the retry rule looks at for one request. */
struct retry_facts {
    bool retried;        /* the one retry was spent */
    bool aborted;        /* the exchange failed for another reason */
    bool client_gone;    /* the downstream side went away */
    bool resp_head;      /* a final response head came: the upstream processed it */
    bool continue_seen;  /* a 100 Continue came: the upstream started on it */
    bool no_replay;      /* body bytes were sent upstream that are no longer held */
    uint64_t body_total; /* request body bytes received from the client so far */
    size_t held;         /* of those, the bytes still held: sent and kept, or not sent yet */
};

/*
 * True when a request that its upstream did not process may be sent again:
 * once only, not after a response head or 100 Continue, not once the client
 * is gone or the exchange failed, and only while every body byte received is
 * still held (at most PROXY_RETRY_BODY_MAX of them).
 */
static inline bool
retry_allowed(const struct retry_facts *f)
{
    return !f->retried && !f->aborted && !f->client_gone && !f->resp_head && !f->continue_seen &&
           !f->no_replay && f->body_total <= PROXY_RETRY_BODY_MAX && f->held == f->body_total;
}

/*
 * Keeps a copy of <n> body bytes at <p> that go to the upstream in <replay>
 * (capped at PROXY_RETRY_BODY_MAX). When they do not fit, or no retry can
 * come any more (<final>: the retry was spent or a response head came), the
 * copy is dropped and *no_replay set for good. <n> 0 only checks <final>.
 */
static inline void
retry_keep(struct st_buf *replay, bool *no_replay, bool final, const void *p, size_t n)
{
    if (*no_replay)
        return;
    if (!final && (n == 0 || st_buf_append(replay, p, n) == 0))
        return;
    *no_replay = true;
    st_buf_free(replay);
    st_buf_init(replay, PROXY_RETRY_BODY_MAX);
}

/*
 * Why a stream that its upstream closed was certainly not processed, as
 * request_retry_total names it: "goaway" for a stream above the last-stream-id
 * of a GOAWAY (<goaway_last>, -1 when none came), else "refused" for
 * RST_STREAM(REFUSED_STREAM) (<refused>). NULL when it may have been processed.
 */
static inline const char *
retry_reset_reason(bool refused, int32_t id, int32_t goaway_last)
{
    if (goaway_last >= 0 && id > goaway_last)
        return "goaway";
    return refused ? "refused" : NULL;
}

/*
 * Whether a request on a connection that failed certainly never reached the
 * upstream: its HEADERS were never serialised (<on_wire> false), there was no
 * connection, or the bytes written stop at or before the frame's offset.
 */
static inline bool
retry_unwritten(bool on_wire, bool have_conn, uint64_t written, uint64_t wire_at)
{
    return !on_wire || !have_conn || written <= wire_at;
}

/* ---- exchanges ----------------------------------------------------------------- */

struct xchg;

/* What an exchange tells a side. */
struct side_ops {
    /* Something changed; look at the exchange and make progress. */
    void (*wake)(void *side);
};

enum xchg_dir { XCHG_OUTBOUND, XCHG_INBOUND };

/*
 * One request and its response between a downstream side (the client's
 * connection or stream) and an upstream side (the peer stream or the app
 * connection). Each side attaches itself and detaches when done; the last
 * detach frees the exchange. A side wakes the other through xchg_wake_*,
 * which runs the other side from a deferred call, never re-entrantly.
 */
struct xchg {
    struct proxy_thread *th;
    enum xchg_dir dir;
    struct hmsg req, resp;
    bool resp_ready;    /* resp holds the final head */
    bool continue_seen; /* a 100 Continue came from upstream */
    struct pipe reqbody, respbody;
    bool aborted;
    int abort_status; /* status for a downstream that has not answered yet */
    char *abort_reason;
    void *down, *up;
    const struct side_ops *down_ops, *up_ops;
    struct st_ev_defer down_defer, up_defer;
    struct st_ev_timer timer; /* request timeout, and the idle rule while the body flows */
    /* Routing and metrics. */
    struct disc_table *table; /* reference */
    struct disc_endpoint *ep; /* borrowed from table */
    char *dst;                /* strait-dst value sent or received; in req's blocks */
    char *labels;             /* metric labels of this request; in req's blocks */
    /* The thread's cached metrics entry for labels (stats_request), or NULL. */
    struct stats_route *stats_route;
    char *peer_id;            /* server_id (outbound) or client_id (inbound) */
    uint64_t start_ms;
    bool counted;
    /* HTTP/2 to the app, and retries of requests the upstream did not process. */
    bool app_h2;            /* the app sent it over HTTP/2 (see PROXY_APP_PROTO_HEADER) */
    bool retried;           /* the one retry was spent */
    bool no_replay;         /* body bytes past PROXY_RETRY_BODY_MAX were sent: no retry */
    struct st_buf replay;   /* the request body bytes sent to the current upstream */
    const char *canon;      /* outbound: the canonical authority routed; in req's blocks */
    const char *shown;      /* outbound: the authority as the client wrote it; in req's blocks */
    const char *fallback;   /* outbound, redirected and routed by its own authority: the original
                               destination to route by if that authority has no route; in
                               req's blocks, or NULL */
    struct st_sockaddr app; /* inbound: the app's address */
    /* Timing (xchg_start_timer): the request body's progress and end. */
    bool timing;         /* the timer runs: the request was routed */
    bool req_sent;       /* the whole request went upstream; the response-head timeout runs */
    uint64_t moved_ms;   /* when request body bytes last moved */
    uint64_t seen_total; /* reqbody.total then */
    size_t seen_len;     /* reqbody.buf.len then */
    bool grpc_error;     /* the proxy answered a gRPC failure itself: resp holds grpc-status */
};

struct xchg *xchg_new(struct proxy_thread *th, enum xchg_dir dir);
void xchg_attach_down(struct xchg *x, void *side, const struct side_ops *ops);
void xchg_attach_up(struct xchg *x, void *side, const struct side_ops *ops);
void xchg_detach_down(struct xchg *x);
void xchg_detach_up(struct xchg *x);
void xchg_wake_down(struct xchg *x);
void xchg_wake_up(struct xchg *x);
/* Marks the exchange failed and wakes both sides; <status> answers a client not yet answered. */
void xchg_abort(struct xchg *x, int status, const char *reason);
/*
 * Records the response in the metrics once (at the end of the response or on
 * failure), with the gRPC status of the response head (trailers-only) or of
 * its trailers, or of the answer the proxy made itself (x->grpc_error).
 */
void xchg_count(struct xchg *x, bool ok);
/*
 * Starts the timing of a routed request. While its body still flows, the idle
 * timeout governs: no body byte moving for idle_timeout_ms fails it (504 when
 * the upstream stopped taking bytes, else 408). Once the whole request went
 * upstream, request_timeout_ms (0: none) runs until the response head (504).
 */
void xchg_start_timer(struct xchg *x);
/*
 * Keeps a copy of <n> request body bytes that an upstream is sending, so that
 * the request can be sent again; past PROXY_RETRY_BODY_MAX the copy is dropped
 * and the request can no longer be retried.
 */
void xchg_replay_keep(struct xchg *x, const void *p, size_t n);
/*
 * Whether <x> may be sent again after its upstream failed without processing
 * it: not retried yet, not aborted, the client still there, no response head
 * (nor 100 Continue) received, and every body byte sent so far still held.
 * The rule itself is retry_allowed() below, over xchg_retry_facts().
 */
bool xchg_retry_allowed(const struct xchg *x);
/* Fills <f> from <x> (both borrowed). */
void xchg_retry_facts(const struct xchg *x, struct retry_facts *f);
/*
 * Takes the upstream side off <x> without failing the exchange and puts the
 * body bytes sent to it back in front of the request pipe. The caller attaches
 * a new upstream at once (or aborts <x>).
 */
void xchg_release_up(struct xchg *x);
/*
 * Sends <x> again on a fresh connection or another endpoint after the upstream
 * said it did not process it (<reason>: "refused", "goaway" or "connection";
 * counted in request_retry_total). The current upstream side must already be
 * released. Returns false when xchg_retry_allowed() says no; the caller then
 * fails the exchange as it would have.
 */
bool xchg_retry(struct xchg *x, const char *reason);

/*
 * Routes <x> (its req head is complete) to an upstream: the outbound path
 * resolves <route_authority> (borrowed; NULL: req.authority) through
 * discovery and opens a peer stream; the inbound path forwards to the app.
 * req.authority itself is sent on untouched, so a transparently redirected
 * request routed by its original destination still reaches the app with the
 * Host the client wrote. When x->fallback is set and the routing authority
 * has no route (after the destination API answered), the request is routed
 * by x->fallback instead. On failure the exchange is aborted with a status.
 * Used by both the HTTP/1 and the HTTP/2 downstream sides.
 */
void route_request(struct xchg *x, const char *route_authority);

/* ---- modules ---------------------------------------------------------------------- */

/* h1down.c: accepted plaintext connections on the outbound port. */
void h1down_accept(struct proxy_thread *th, int fd);
/* h2srv.c: an HTTP/2 server session on <c> (taken over); <pre> are bytes already read. */
void h2srv_start(struct proxy_thread *th, struct conn *c, enum xchg_dir dir, const char *peer_id,
                 const void *pre, size_t pre_len);
/* peer.c: attaches an HTTP/2 stream to a peer proxy as the upstream of <x>. */
void peer_attach(struct xchg *x, struct disc_endpoint *ep);
/*
 * Attaches an HTTP/2 stream to the app at <addr> (plaintext, prior knowledge)
 * as the upstream of <x>, through a per-thread pool. An app that turns out not
 * to speak HTTP/2 gets its requests over HTTP/1.1 (h1up_attach) instead, and
 * is remembered as such for a while.
 */
void peer_attach_app(struct xchg *x, const struct st_sockaddr *addr);
/* Counts one retry in request_retry_total{direction,reason}. */
void peer_count_retry(struct proxy_thread *th, const char *direction, const char *reason);
void peer_drain_all(struct proxy_thread *th);
/* Closes every peer connection at exit, failing what they still carry. */
void peer_close_all(struct proxy_thread *th);
/* h1up.c: attaches a connection to the app at <addr> as the upstream of <x>. */
void h1up_attach(struct xchg *x, const struct st_sockaddr *addr);
void h1up_close_idle(struct proxy_thread *th);
/* inbound.c: accepted TLS connections on the inbound port. */
void inbound_accept(struct proxy_thread *th, int fd);
/* opaque.c: CONNECT and Upgrade from an app, and opaque streams arriving inbound. */
void opaque_connect(struct proxy_thread *th, struct conn *client, const char *authority,
                    struct st_buf *preface, bool reply_200);
void opaque_inbound(struct proxy_thread *th, struct conn *c, const char *peer_id);
/* admin.c: starts the admin server on <th>'s loop; admin_stop frees it after the loop ended. */
int admin_start(struct proxy *px, struct proxy_thread *th, struct st_err *err);
void admin_stop(void);

/*
 * A registry of accepted connections, so that a drain can ask each to finish.
 * <drain> is called once on SIGTERM.
 */
struct client {
    struct list link;
    void (*drain)(struct client *cl);
};
void client_register(struct proxy_thread *th, struct client *cl, void (*drain)(struct client *));
void client_unregister(struct proxy_thread *th, struct client *cl);

/* Canonical form of an authority for routing and labels: host[:port], port default 80. */
char *proxy_authority_canon(const struct proxy_config *cfg, const char *authority);

#endif
