/*
 * Discovery for strait-proxy: what an authority resolves to. A table maps
 * canonical authorities ("svc.ns.svc.cluster.local:8888") to a service (a set
 * of endpoints with identity and target port) or to a split (weighted leaves,
 * each a service). Tables are immutable once built and reference-counted, so
 * a request keeps the table it was routed with while a new one is installed.
 *
 * Two sources feed it: the static routes file (discovery_load_json +
 * discovery_poll_file) and the controller's streaming destination API, one
 * "part" per authority built from its last snapshot
 * (discovery_part_from_snapshot, installed with discovery_set_part). The
 * thread's table is the merge of the file's table and every part, rebuilt
 * when either changes; the file wins for the authorities it names. Balancer
 * state (EWMA, failures) lives in the endpoints of the thread's own table and
 * is carried over to the rebuilt table; a discovery object belongs to one
 * loop thread. Parts are immutable and shared by every thread.
 * The JSON format is documented in docs/proxy.md.
 */
#ifndef STRAIT_PROXY_DISCOVERY_H
#define STRAIT_PROXY_DISCOVERY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "strait/core.h"
#include "strait/dest.h"
#include "strait/sock.h"

#define DISC_MAX_BYTES (8u << 20) /* routes file */
#define DISC_MAX_ENDPOINTS 4096   /* per service */
#define DISC_MAX_LEAVES 64        /* per split */
#define DISC_MAX_WEIGHT 1000000000u
/* How often (at most) a thread records that it routed with a destination part. */
#define DISC_TOUCH_EVERY_MS 1000

/*
 * A small string-keyed hash map (open addressing). Keys are borrowed: they
 * must stay valid while they are in the map.
 */
struct disc_map_slot {
    uint64_t hash;
    const char *key; /* NULL: empty */
    void *val;
};

struct disc_map {
    struct disc_map_slot *slots;
    size_t cap, n; /* cap is 0 or a power of two */
};

void discovery_map_init(struct disc_map *m);
void discovery_map_free(struct disc_map *m);
void *discovery_map_get(const struct disc_map *m, const char *key);
/* Adds or replaces <key>; returns the value it replaced, or NULL. */
void *discovery_map_put(struct disc_map *m, const char *key, void *val);
/* Removes <key>; returns its value, or NULL. */
void *discovery_map_del(struct disc_map *m, const char *key);

/*
 * When a destination authority was last routed with, shared by every thread
 * (atomic), so that the destination thread can close streams nobody uses.
 */
struct disc_touch {
    atomic_int refs;
    _Atomic uint64_t ms; /* st_now_ms() clock; 0: never */
};

/* Returns a new touch record with one reference. */
struct disc_touch *discovery_touch_new(void);
struct disc_touch *discovery_touch_ref(struct disc_touch *t);
/* Accepts NULL. */
void discovery_touch_unref(struct disc_touch *t);

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
    char *apex;               /* NULL: routable by <authority>; else a leaf of that split only */
    struct disc_touch *touch; /* borrowed (the table holds its part); NULL for the file */
    uint64_t touched_ms;      /* the last time this thread stored into <touch> */
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
    /*
     * Running sum of the weights of the leaves that can serve (a known
     * service with at least one endpoint), n_leaves entries: a leaf without
     * endpoints gives its share to the others. total 0: nothing can serve.
     */
    uint64_t *cumulative;
    uint64_t total;
    struct disc_touch *touch; /* as in disc_service */
    uint64_t touched_ms;
};

struct disc_part;

/* One slot of a table's index of app addresses (discovery_find_endpoint). */
struct disc_app_slot {
    uint64_t hash;
    struct disc_endpoint *ep; /* NULL: empty */
    struct disc_service *svc;
};

struct disc_table {
    int refs; /* not atomic: a table belongs to one thread (parts are shared, tables are not) */
    struct disc_service *svcs;
    size_t n_svcs;
    struct disc_split *splits;
    size_t n_splits;
    struct disc_map svc_index, split_index; /* routable services and splits by authority */
    struct disc_part **parts;               /* references: the parts merged in */
    size_t n_parts;
    /*
     * Workload endpoints by app address (the IP of the peer with the target
     * port), built with the table: open addressing, app_cap a power of two
     * (0 when the table has no such endpoint). The first endpoint of an
     * address in table order wins.
     */
    struct disc_app_slot *app_index;
    size_t app_cap;
};

/*
 * What the destination API said about one authority: immutable once built,
 * shared read-only by every loop thread (atomic reference count).
 */
struct disc_part {
    atomic_int refs;
    char *key;                /* the canonical authority asked for */
    bool found;               /* false: "not_found" (routes nothing, answers 502) */
    struct disc_table *t;     /* found: one service, or one split and its leaves; else NULL */
    struct disc_touch *touch; /* reference; may be NULL */
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
 * Builds the part of the authority <key> (canonical; the one subscribed)
 * from a destination snapshot (borrowed; not a heartbeat). Only ready
 * endpoints are kept; an endpoint's peer is its IP at its proxy port, its
 * target port the port of its address. Split weights (milli-units up to
 * 10^12) are scaled down together when one exceeds DISC_MAX_WEIGHT. Leaf
 * authorities are canonical with <domain>. <touch> (may be NULL) gets one
 * more reference. Returns 0 with *out a new part, or ST_EINVAL with <err>.
 */
int discovery_part_from_snapshot(const char *key, const struct st_dest_snapshot *snap,
                                 const char *domain, struct disc_touch *touch,
                                 struct disc_part **out, struct st_err *err);
/* Thread-safe. */
struct disc_part *discovery_part_ref(struct disc_part *p);
/* Thread-safe; accepts NULL; returns NULL. */
struct disc_part *discovery_part_unref(struct disc_part *p);

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
/*
 * Installs <t> as the file's table (takes ownership of the caller's
 * reference) and rebuilds the merged table.
 */
void discovery_set_table(struct discovery *d, struct disc_table *t);
/*
 * The current (merged) table (borrowed; take a reference to keep it), or
 * NULL before the file was loaded, unless parts are enabled.
 */
struct disc_table *discovery_table(struct discovery *d);
/* From now on there is always a table (empty until something is known). */
void discovery_enable_parts(struct discovery *d);
/*
 * Installs <p> (takes ownership of the caller's reference), replacing the
 * part of the same key, and rebuilds the table. A part whose key the file
 * names is kept but not merged.
 */
void discovery_set_part(struct discovery *d, struct disc_part *p);
/* Removes the part of <key>, if any, and rebuilds the table. */
void discovery_drop_part(struct discovery *d, const char *key);
/* The part of <key> (borrowed), or NULL. */
const struct disc_part *discovery_part(struct discovery *d, const char *key);
/* True when the routes file names <key> as a service or a split. */
bool discovery_file_has(struct discovery *d, const char *key);
const char *discovery_namespace(const struct discovery *d);

/*
 * A negative cache of authorities the destination API had no route for (a
 * "not_found" answer, or no answer in time), per thread: while an entry
 * lives, the transparent paths treat the authority as unknown at once
 * instead of asking (and waiting) again. Entries live <ttl_ms> from the put;
 * at most DISC_NEG_MAX are kept, the oldest put is evicted first; a found
 * part for the same key (discovery_set_part) removes the entry. Times are
 * on the caller's monotonic millisecond clock.
 */
#define DISC_NEG_MAX 1024
#define DISC_NEG_TTL_MS 5000 /* the default TTL (--negative-ttl-ms) */
/* Adds <key> (copied) or renews its entry. <ttl_ms> 0 does nothing. */
void discovery_neg_put(struct discovery *d, const char *key, uint64_t now_ms, uint32_t ttl_ms);
/* True while <key> has a live entry; an expired entry is dropped. */
bool discovery_neg_has(struct discovery *d, const char *key, uint64_t now_ms);
/* Entries held (live or expired but not dropped yet). */
size_t discovery_neg_count(const struct discovery *d);
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
 * weight among the leaves that have endpoints, then an endpoint by P2C over
 * peak EWMA. Returns 0, ST_ENOTFOUND (unknown authority) or -EHOSTUNREACH
 * (known, but no endpoints anywhere). Records the use of a destination part
 * (at most once per DISC_TOUCH_EVERY_MS per entry; <now_ms> on the
 * st_now_ms clock).
 */
int discovery_resolve(struct disc_table *t, const char *canon, struct st_rng *rng, uint64_t now_ms,
                      struct disc_target *out);

/*
 * True when <t> (may be NULL) routes <canon> (a canonical authority) as a
 * service or a split, whether or not it has endpoints. No side effects.
 */
bool discovery_has(struct disc_table *t, const char *canon);

/*
 * The endpoint of <t> (may be NULL) whose app address is <app> (borrowed):
 * the IP of its peer address with its target port (the service's port when
 * none is set); gateway endpoints are skipped. *svc (may be NULL) gets its
 * service. Both borrowed from <t>; NULL when none matches. When several
 * endpoints share the address, the first in table order (the routes file's,
 * then the parts') is returned. A hash lookup in the index built with the
 * table, so it costs the same with 10 endpoints or 100,000: it runs for every
 * redirected opaque connection to an address that is not a service.
 */
struct disc_endpoint *discovery_find_endpoint(struct disc_table *t, const struct st_sockaddr *app,
                                              struct disc_service **svc);

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
