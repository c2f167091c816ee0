/*
 * Discovery for strait-proxy: what an authority resolves to. A table maps
 * canonical authorities ("svc.ns.svc.cluster.local:8888") to a service (a set
 * of endpoints with identity and target port) or to a split (weighted leaves,
 * each a service). Tables are immutable once built and reference-counted, so
 * a request keeps the table it was routed with while a new one is installed.
 *
 * Sources feed the same interface: today the static routes file
 * (discovery_load_json + discovery_poll_file), later the controller's
 * streaming destination API (discovery_set_table with a table built from a
 * snapshot). Balancer state (EWMA, pending) lives in the endpoints of the
 * thread's own table; a discovery object belongs to one loop thread.
 * The JSON format is documented in docs/proxy.md.
 */
#ifndef STRAIT_PROXY_DISCOVERY_H
#define STRAIT_PROXY_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "strait/core.h"
#include "strait/sock.h"

#define DISC_MAX_BYTES (8u << 20) /* routes file */
#define DISC_MAX_ENDPOINTS 4096   /* per service */
#define DISC_MAX_LEAVES 64        /* per split */
#define DISC_MAX_WEIGHT 1000000000u

struct disc_endpoint {
    struct st_sockaddr addr; /* the peer proxy (inbound port or gateway) */
    char *addr_text;
    char *identity;         /* expected DNS SAN of the peer; required */
    uint16_t target_port;   /* port of the app behind the peer; 0 = the authority's */
    char *target_authority; /* for gateways: the remote authority; NULL = own */
    /* Balancer state (owned by the thread that owns the table). */
    double ewma_ms;
    uint64_t stamp_ms;
    uint32_t pending;
    uint32_t failures; /* consecutive */
};

struct disc_service {
    char *authority;         /* canonical */
    char *name, *namespace_; /* dst_service, dst_namespace labels */
    uint16_t port;
    struct disc_endpoint *eps;
    size_t n_eps;
};

struct disc_leaf {
    char *authority; /* canonical */
    uint32_t weight;
    struct disc_service *svc; /* borrowed from the same table; NULL if unknown */
};

struct disc_split {
    char *authority;
    char *name, *namespace_;
    struct disc_leaf *leaves;
    size_t n_leaves;
    uint64_t *cumulative; /* running sum of weights, n_leaves entries */
    uint64_t total;
};

struct disc_table {
    int refs;
    struct disc_service *svcs;
    size_t n_svcs;
    struct disc_split *splits;
    size_t n_splits;
};

/* Where one request goes. All pointers borrowed from the table. */
struct disc_target {
    struct disc_service *svc; /* the chosen leaf or the plain service */
    struct disc_split *split; /* NULL unless the authority is a split apex */
    struct disc_endpoint *ep; /* chosen endpoint */
};

/*
 * Parses the routes JSON (see docs/proxy.md). Short authorities are made
 * canonical with <ns> and <domain>. On success *out is a new table with one
 * reference. ST_EPARSE / ST_EINVAL / ST_ETOOBIG with the reason in <err>.
 */
int discovery_load_json(const char *data, size_t n, const char *ns, const char *domain,
                        struct disc_table **out, struct st_err *err);
struct disc_table *discovery_table_ref(struct disc_table *t);
/* Accepts NULL; returns NULL. */
struct disc_table *discovery_table_unref(struct disc_table *t);

/*
 * Canonical authority: lower-case host, port (default 80), and for a host
 * without dots "<host>.<ns>.svc.<domain>", for "a.b" "a.b.svc.<domain>",
 * for "a.b.svc" "a.b.svc.<domain>". Returns a new string or NULL when
 * <authority> is malformed.
 */
char *discovery_canon(struct st_str authority, const char *ns, const char *domain);

struct discovery;

/* A discovery of one thread; <path> (may be NULL) is the routes file. */
struct discovery *discovery_new(const char *path, const char *ns, const char *domain);
void discovery_free(struct discovery *d);
/*
 * Reloads the routes file when its mtime or size changed. Returns 1 when a new
 * table was installed, 0 when nothing changed, negative on a bad file (the
 * old table stays).
 */
int discovery_poll_file(struct discovery *d, struct st_err *err);
/* Installs <t> (takes ownership of the caller's reference). */
void discovery_set_table(struct discovery *d, struct disc_table *t);
/* The current table (borrowed; take a reference to keep it), or NULL. */
struct disc_table *discovery_table(struct discovery *d);
const char *discovery_namespace(const struct discovery *d);
const char *discovery_domain(const struct discovery *d);

/*
 * A small memo of derived values for the hot path (canonical authorities,
 * metric label sets, forward addresses), so that a request for an authority
 * seen a moment ago costs a hash and a compare instead of rebuilding strings.
 * Direct-mapped with DISC_MEMO_SLOTS slots: a put replaces whatever shared the
 * slot. Keys longer than DISC_MEMO_MAX_KEY are not memoised. Values must not
 * depend on the routes table (the memo survives reloads).
 *
 * discovery_memo_get returns the value stored for <key> (<n> bytes) and its
 * length in *len, or NULL. discovery_memo_put copies <key> and <val> and
 * returns the stored copy of the value. Both returned pointers are borrowed
 * until the next put on <d>.
 */
#define DISC_MEMO_SLOTS 256
#define DISC_MEMO_MAX_KEY 1024
const void *discovery_memo_get(struct discovery *d, const void *key, size_t n, size_t *len);
const void *discovery_memo_put(struct discovery *d, const void *key, size_t n, const void *val,
                               size_t len);

/*
 * Resolves <canon> (a canonical authority) in <t>: a split picks a leaf by
 * weight, then an endpoint by P2C over peak EWMA. Returns 0, ST_ENOTFOUND
 * (unknown authority) or -EHOSTUNREACH (known, but no endpoints).
 */
int discovery_resolve(struct disc_table *t, const char *canon, struct st_rng *rng, uint64_t now_ms,
                      struct disc_target *out);

/* ---- balancing (balance.c) -------------------------------------------------- */

/* Index of the leaf for a uniform random <rnd>, in proportion to the weights. */
size_t balance_pick_leaf(const struct disc_split *s, uint64_t rnd);
/* Power of two choices over the endpoints' cost; NULL when there are none. */
struct disc_endpoint *balance_pick_endpoint(struct disc_endpoint *eps, size_t n, struct st_rng *rng,
                                            uint64_t now_ms);
/* The cost P2C compares: decayed peak EWMA latency times (pending + 1), with a failure penalty. */
double balance_cost(const struct disc_endpoint *ep, uint64_t now_ms);
/* A request to <ep> started. */
void balance_start(struct disc_endpoint *ep);
/* A request to <ep> ended after <rtt_ms>; <ok> false for a connection-level failure. */
void balance_observe(struct disc_endpoint *ep, uint64_t rtt_ms, bool ok, uint64_t now_ms);

#endif
