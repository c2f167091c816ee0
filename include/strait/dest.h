/*
 * strait dest: the client of the controller's destination API
 * (GET /v1/resolve, docs/destination-api.md), for the proxy.
 *
 * - The snapshot codec: st_dest_snapshot_parse turns one line of the
 *   stream (untrusted) into a struct st_dest_snapshot.
 * - The client: on one st_ev loop, one HTTPS stream per authority in use,
 *   shared by every subscriber of that authority, over st_tls (the client
 *   certificate comes from a st_tls_slot, so a rotated certificate is used
 *   for the next connection) and HTTP/1.1 chunked decoding with a line cap.
 *   A stream that breaks (error, idle past the heartbeats, the controller
 *   going away) reconnects with jittered exponential back-off; subscribers
 *   keep the last snapshot meanwhile, and the first snapshot after a
 *   reconnect is the current state. A stream without subscribers is closed
 *   after a linger time.
 *
 * Everything except the codec runs on the loop's thread. Nothing here logs;
 * state changes are reported through on_state for the caller to log.
 */
#ifndef STRAIT_DEST_H
#define STRAIT_DEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strait/core.h"
#include "strait/ev.h"
#include "strait/sock.h"
#include "strait/tls.h"

#define ST_DEST_PATH "/v1/resolve"
#define ST_DEST_LINE_MAX (4u << 20)  /* bytes of one snapshot line */
#define ST_DEST_MAX_ENDPOINTS 4096   /* per service or leaf */
#define ST_DEST_MAX_LEAVES 64        /* per split */
#define ST_DEST_AUTHORITY_MAX 300

/* ---- snapshots ---------------------------------------------------------------- */

enum st_dest_kind {
    ST_DEST_SERVICE,   /* a Service and its ready endpoints */
    ST_DEST_SPLIT,     /* a TrafficSplit apex: weighted leaves, each with its endpoints */
    ST_DEST_NOT_FOUND, /* no such Service (yet): route nothing, keep listening */
    ST_DEST_HEARTBEAT, /* keep-alive; carries nothing */
};

/* One endpoint; every string is owned by the snapshot. */
struct st_dest_endpoint {
    char *addr;                /* "IP:PORT": the workload and its target port */
    struct st_sockaddr target; /* <addr> parsed */
    uint16_t proxy_port;       /* where its proxy (or gateway) listens for mTLS */
    char *identity;            /* the DNS SAN the peer's certificate must carry */
    char *remote_authority;    /* NULL, or "svc.ns.svc.<domain>:port" to ask a gateway for */
    bool ready;
};

struct st_dest_leaf {
    char *service;   /* "leaf.ns.svc.<domain>:port" */
    char *name;      /* dst_service */
    char *namespace_; /* dst_namespace */
    uint64_t weight; /* milli-units (500m = 500, 1 = 1000) */
    struct st_dest_endpoint *eps;
    size_t n_eps;
};

struct st_dest_snapshot {
    enum st_dest_kind kind;
    char *authority;  /* canonical, as the controller resolved it; NULL for heartbeats */
    char *service;    /* the Service (the apex of a split); NULL when not found */
    char *namespace_;
    uint16_t port;
    struct st_dest_endpoint *eps; /* ST_DEST_SERVICE */
    size_t n_eps;
    struct st_dest_leaf *leaves; /* ST_DEST_SPLIT */
    size_t n_leaves;
};

/*
 * Parses one snapshot line (<len> bytes, without or with its '\n';
 * untrusted). Unknown fields are ignored so the controller can add some.
 * Returns 0 with *out a new snapshot, ST_ETOOBIG (over ST_DEST_LINE_MAX or a
 * count cap) or ST_EPARSE (not JSON, an unknown kind, a missing or mistyped
 * field, a bad address or port), with <err> set.
 */
int st_dest_snapshot_parse(const char *line, size_t len, struct st_dest_snapshot **out,
                           struct st_err *err);
/* Frees a snapshot; accepts NULL. */
void st_dest_snapshot_free(struct st_dest_snapshot *s);

/* ---- the client ------------------------------------------------------------------ */

struct st_dest_client;
struct st_dest_sub;

/*
 * A new snapshot for a subscription's authority. <snap> is borrowed until the
 * next snapshot of that authority or the unsubscribe; heartbeats are not
 * passed on.
 */
typedef void st_dest_snapshot_cb(void *arg, struct st_dest_sub *sub,
                                 const struct st_dest_snapshot *snap);

/*
 * A stream connected (<connected> true) or broke (false, with the reason in
 * <err>); for logs and tests. <authority> is borrowed for the call.
 */
typedef void st_dest_state_cb(void *arg, const char *authority, bool connected,
                              const struct st_err *err);

struct st_dest_options {
    const char *addr;            /* the controller "IP:PORT" (numeric); copied */
    const char *server_identity; /* DNS SAN the controller must present; copied; required */
    struct st_tls_slot *tls;     /* client context: certificate, key, anchors; borrowed */
    uint32_t connect_timeout_ms; /* TCP connect + TLS handshake + response head; 0 = 5,000 */
    uint32_t idle_timeout_ms;    /* no byte (heartbeats included) for this long: reconnect;
                                    0 = 30,000 (three heartbeats) */
    uint32_t linger_ms;          /* a stream without subscribers closes after this; 0 = 60,000 */
    uint32_t backoff_min_ms;     /* first retry delay; 0 = 200 */
    uint32_t backoff_max_ms;     /* 0 = 10,000 */
    st_dest_state_cb *on_state;  /* may be NULL */
    void *state_arg;
};

/*
 * Returns a new client on <loop> (borrowed; it must outlive the client), or
 * NULL with <err> set for a bad address or missing options. No connection is
 * made until the first subscription.
 */
struct st_dest_client *st_dest_client_new(struct st_ev *loop, const struct st_dest_options *opts,
                                          struct st_err *err);
/* Closes every stream and frees the client and its subscriptions. Accepts NULL. */
void st_dest_client_free(struct st_dest_client *c);

/*
 * Subscribes to <authority> (copied; e.g. "web.ns.svc.cluster.local:80" or
 * "web:80"). The authority's stream is opened if it is not open yet. When a
 * snapshot is already known, <cb> runs from a deferred call right after this
 * returns, never from inside. Returns a new subscription, or NULL when
 * <authority> is empty or longer than ST_DEST_AUTHORITY_MAX.
 */
struct st_dest_sub *st_dest_subscribe(struct st_dest_client *c, const char *authority,
                                      st_dest_snapshot_cb *cb, void *arg);
/* Ends a subscription (also from its own callback); the stream lingers when it was the last. */
void st_dest_unsubscribe(struct st_dest_sub *sub);
/* The last snapshot of the subscription's authority, or NULL; borrowed as in the callback. */
const struct st_dest_snapshot *st_dest_sub_last(const struct st_dest_sub *sub);
/* The number of open (connecting or connected) streams; for tests and metrics. */
size_t st_dest_client_streams(const struct st_dest_client *c);

/*
 * The delay before retry <attempt> (0 for the first): min doubling up to max,
 * jittered by +-20 % from <rnd>.
 */
uint64_t st_dest_backoff_ms(unsigned attempt, uint32_t min_ms, uint32_t max_ms, uint64_t rnd);

#endif
