/*
 * The destination model: the pure logic of the destination service and the
 * workload endpoints controller, kept apart from the loop, the informers and
 * the network so that it can be unit-tested (controller/test_dmodel.c).
 *
 * - authorities: "svc", "svc.ns", "svc.ns.svc", "svc.ns.svc.<domain>" or an
 *   IPv4 literal, each with an optional ":port" (default 80);
 * - SMI weights: v1alpha1 quantities ("500m", "1", "1k") and v1alpha2
 *   integers, both in milli-units;
 * - snapshots (docs/destination-api.md) from a Service, its Endpoints and
 *   the ExternalWorkloads behind them, or from a TrafficSplit;
 * - the Endpoints object the endpoints controller writes for a Service.
 *
 * Every json_t argument is borrowed; functions that return json_t return a
 * new reference. Nothing here logs or keeps state.
 */
#ifndef STRAIT_CONTROLLER_DMODEL_H
#define STRAIT_CONTROLLER_DMODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "strait/core.h"

#define DMODEL_AUTHORITY_MAX 300 /* bytes of a requested authority */
#define DMODEL_PROXY_PORT 4143   /* inbound port of every meshed workload */
#define DMODEL_MAX_WEIGHT_MILLI (1000000000000LL) /* 10^9 units */
#define DMODEL_MAX_ENDPOINTS 4096                 /* per service in one snapshot */
#define DMODEL_MAX_LEAVES 64                      /* per split */

/* Labels and annotations shared with the service mirror and the CLI (DESIGN §3). */
#define DMODEL_MANAGED_BY_LABEL "endpoints.strait.io/managed-by"
#define DMODEL_MANAGED_BY_VALUE "strait-controller"
#define DMODEL_MIRRORED_LABEL "mirror.strait.io/mirrored-service"
#define DMODEL_REMOTE_FQ_ANNOTATION "mirror.strait.io/remote-svc-fq-name"
#define DMODEL_REMOTE_GW_ID_ANNOTATION "mirror.strait.io/remote-gateway-identity"

/* A parsed authority. */
struct dmodel_authority {
    bool is_ip;     /* an IPv4 literal: look the Service up by ClusterIP */
    char ip[16];    /* when is_ip */
    char name[64];  /* Service name, when !is_ip */
    char ns[64];    /* its namespace */
    uint16_t port;
    char key[DMODEL_AUTHORITY_MAX + 16]; /* canonical: "svc.ns.svc.<domain>:port" or "ip:port" */
};

/*
 * Parses <authority> (NUL-terminated, borrowed). Short names take
 * <client_ns>, which may be NULL (then they are ST_ENOTFOUND). Returns 0;
 * ST_EPARSE for malformed text (bad characters, empty host, bad port, longer
 * than DMODEL_AUTHORITY_MAX); ST_ENOTFOUND for a well-formed name that
 * cannot be a Service of this cluster (another domain, too many labels),
 * in which case out->key still holds the lower-cased authority with its port.
 */
int dmodel_parse_authority(const char *authority, const char *client_ns, const char *domain,
                           struct dmodel_authority *out);

/*
 * Parses a Kubernetes quantity (optional '+', digits with an optional
 * fraction, then an SI suffix n u m k M G T P E, a binary suffix Ki..Ei, or
 * an exponent eN/EN) into milli-units, rounding a fraction of a milli-unit
 * up as Kubernetes' MilliValue does. Returns 0, ST_EPARSE (malformed or
 * negative) or ST_ETOOBIG (above DMODEL_MAX_WEIGHT_MILLI).
 */
int dmodel_quantity_milli(const char *s, int64_t *out);

/*
 * An SMI backend weight in milli-units: a JSON integer N is N units (both
 * v1alpha2 integers and v1alpha1 integer quantities), a string is a
 * quantity. Returns 0, ST_EPARSE or ST_ETOOBIG.
 */
int dmodel_weight_milli(const json_t *weight, int64_t *out);

/*
 * Converts a workload identity to its DNS form: a DNS identity is returned
 * as it is, "spiffe://<td>/ns/<ns>/sa/<sa>" becomes
 * "<sa>.<ns>.serviceaccount.identity.strait.<td>". Returns a new string or
 * NULL when <id> is neither.
 */
char *dmodel_identity_dns(const char *id);

/* Looks up an ExternalWorkload; returns a new reference (released by the caller) or NULL. */
struct dmodel_lookup {
    json_t *(*workload)(void *arg, const char *ns, const char *name);
    void *arg;
};

/*
 * The ready endpoints of Service <svc> port <port> as a JSON array of
 * {"addr", "proxy_port", "identity", "labels", "ready"} (plus
 * "remote_authority" for a mirrored service), from its Endpoints <eps>
 * (may be NULL). Identities come from the ExternalWorkload named by each
 * address's targetRef, else "default.<ns>..." in <td>. Returns a new array
 * (empty when the Service has no such port or no ready address).
 */
json_t *dmodel_service_endpoints(const json_t *svc, const json_t *eps, uint16_t port,
                                 const char *td, const struct dmodel_lookup *lk);

/* True when <svc> has a port numbered <port>. */
bool dmodel_service_has_port(const json_t *svc, uint16_t port);

/*
 * The leaves of TrafficSplit <ts> as a new JSON array of
 * {"service": "<leaf>.<ns>.svc.<domain>:<port>", "name", "weight"} with
 * weights in milli-units (backends with a bad weight are left out, and
 * counted in <*bad> when it is not NULL). <port> is the apex port the
 * client asked for, which every leaf shares.
 */
json_t *dmodel_split_leaves(const json_t *ts, uint16_t port, const char *domain, size_t *bad);

/*
 * The name of the apex Service a TrafficSplit names in spec.service ("svc",
 * "svc.ns", ... in its own namespace), written into <out>; false when it
 * names a Service of another namespace or nothing valid.
 */
bool dmodel_split_apex(const json_t *ts, const char *domain, char out[64]);

/* ---- the workload endpoints controller ------------------------------------------ */

/* True when every key of <selector> (a non-empty object) is in <labels> with its value. */
bool dmodel_selector_matches(const json_t *selector, const json_t *labels);

/* True when <eps> carries the managed-by label of this controller. */
bool dmodel_endpoints_managed(const json_t *eps);

/*
 * Builds the Endpoints object that Service <svc> should have from the
 * ExternalWorkloads <workloads> (a JSON array; those of other namespaces or
 * not matching the selector are skipped): one subset per distinct port set,
 * addresses from spec.workloadIPs, not-ready ones (Ready condition not
 * "True") under notReadyAddresses, ports resolved from each Service port's
 * targetPort (a number, or a name among spec.ports), named after the Service
 * port. Returns a new object with metadata {name, namespace, labels}, or NULL
 * when <svc> has no selector (it should have no managed Endpoints).
 */
json_t *dmodel_endpoints_for(const json_t *svc, const json_t *workloads);

/* True when the subsets of <a> and <b> are equal (NULL counts as empty) and labels agree. */
bool dmodel_endpoints_equal(const json_t *a, const json_t *b);

/* ---- indexes --------------------------------------------------------------------- */

/*
 * A string-keyed hash map (chained, doubling at load factor 1) for the
 * controller's indexes. Keys are copied; values are borrowed pointers the
 * caller owns. Not thread-safe.
 */
struct dmodel_map_entry;
struct dmodel_map {
    struct dmodel_map_entry **buckets;
    size_t n_buckets, n;
};

#define DMODEL_MAP_INIT {NULL, 0, 0}

/* The value of <key>, or NULL when absent (store non-NULL values to tell them apart). */
void *dmodel_map_get(const struct dmodel_map *m, const char *key);
/* True when <key> is present. */
bool dmodel_map_has(const struct dmodel_map *m, const char *key);
/* Sets <key> to <value>; returns the previous value (NULL when it was absent). */
void *dmodel_map_put(struct dmodel_map *m, const char *key, void *value);
/* Removes <key>; returns its value (NULL when it was absent). */
void *dmodel_map_del(struct dmodel_map *m, const char *key);
/* Number of keys. */
static inline size_t
dmodel_map_size(const struct dmodel_map *m)
{
    return m->n;
}
/*
 * Iteration: start with *pos = 0 and call until it returns NULL; each call
 * returns a key (borrowed until it is deleted) and sets *value. The map must
 * not change during an iteration.
 */
const char *dmodel_map_next(const struct dmodel_map *m, size_t *pos, void **value);
/* Removes every key (calling <free_value> on each non-NULL value when given). */
void dmodel_map_clear(struct dmodel_map *m, void (*free_value)(void *));

/*
 * Removes, in place, the fields of a cached API object that neither the
 * destination service nor the endpoints controller read (apiVersion and
 * kind, managedFields, the last-applied annotation, uid, timestamps, owner
 * references, a workload's spec.meshTLS.serverName, the uid and
 * resourceVersion of an Endpoints address's targetRef, a Service's status
 * and IP family fields when <service>), so that the informer caches of
 * thousands of objects stay small; the destination service's informers run
 * it as their transform. Keeps metadata.name, namespace, resourceVersion,
 * labels and other annotations, the rest of spec and subsets, and the type
 * and status of each status.conditions entry. Objects without metadata are
 * left alone.
 */
void dmodel_compact(json_t *obj, bool service);

#endif
