/*
 * strait-controller: what the services of the controller share. main.c owns
 * one struct controller; each service (identity.c now; destination,
 * endpoints and the service mirror later) has an init function that takes it
 * and registers its API routes (api.c) and readiness checks (admin.c).
 *
 * Everything here lives on the one st_ev loop thread unless a comment says
 * otherwise.
 */
#ifndef STRAIT_CONTROLLER_H
#define STRAIT_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>

#include "strait/core.h"
#include "strait/ev.h"
#include "strait/httpd.h"
#include "strait/kube.h"
#include "strait/metrics.h"
#include "strait/sock.h"
#include "strait/tls.h"

struct api;
struct admin;

struct controller {
    struct st_ev *loop;
    struct st_kube_config *kube_cfg;     /* read-only; worker threads make clients from it */
    struct st_kube_client *kube;         /* attached to <loop>: informers and watches */
    const char *namespace;               /* the controller's own namespace */
    const char *trust_domain;            /* e.g. cluster.local */
    const char *service_account;         /* the controller's own account (its identity) */
    int64_t workload_cert_lifetime_s;    /* of issued workload certificates; 0: 24 h */
    struct st_metrics_registry *metrics; /* one shard, written on the loop thread */
    struct api *api;
    struct admin *admin;
    bool stopping;
};

/* ---- api.c: the HTTPS API (port 8086) ----------------------------------------- */

typedef void api_handler(void *arg, struct st_httpd_req *req);

/*
 * Starts the API server on <listen> with an empty TLS slot; connections are
 * refused until a service puts a serving context into api_tls(). Returns NULL
 * with <err> set when the address cannot be bound.
 */
struct api *api_new(struct controller *c, const char *listen, struct st_err *err);
/* Routes <method> <path> (exact match) to <fn>(<arg>, req). At most 32 routes. */
void api_route(struct api *a, const char *method, const char *path, api_handler *fn, void *arg);
/* The slot holding the serving context; borrowed for the life of <a>. */
struct st_tls_slot *api_tls(struct api *a);
const struct st_sockaddr *api_addr(const struct api *a);
size_t api_conn_count(const struct api *a);
void api_shutdown(struct api *a);
/* Closes everything (aborting requests in flight) and frees. Accepts NULL. */
void api_free(struct api *a);
/*
 * Answers <req> with a JSON error body {"error": <msg>, "code": <status>}.
 * <retry_after_s> > 0 adds a Retry-After field.
 */
void api_error(struct st_httpd_req *req, int status, unsigned retry_after_s, const char *fmt, ...)
    ST_PRINTF(4, 5);

/* ---- admin.c: /ready, /live, /metrics (port 9990, plain HTTP) -------------------- */

struct admin *admin_new(struct controller *c, const char *listen, struct st_err *err);
/*
 * Adds a readiness check: /ready answers 200 only while every <ready>(<arg>)
 * returns true, else 503 naming the failing checks. At most 16.
 */
void admin_check(struct admin *a, const char *name, bool (*ready)(void *arg), void *arg);
const struct st_sockaddr *admin_addr(const struct admin *a);
size_t admin_conn_count(const struct admin *a);
void admin_shutdown(struct admin *a);
void admin_free(struct admin *a);

/* ---- identity.c: the certify service (DESIGN §4, docs/identity-api.md) ------------ */

struct identity;

/*
 * Starts the identity service: informers on the issuer Secret and the trust
 * roots ConfigMap, review workers, the API's serving certificate and the
 * route POST /v1/certify. Returns NULL with <err> set on failure.
 */
struct identity *identity_new(struct controller *c, struct st_err *err);
/* Stops the workers and frees everything. Call after the loop stopped. Accepts NULL. */
void identity_free(struct identity *id);

/* ---- destination.c: GET /v1/resolve (docs/destination-api.md) -------------------- */

struct destination;

/* The caches the destination service keeps; shared with the endpoints controller. */
enum destination_cache {
    DESTINATION_SERVICES,
    DESTINATION_ENDPOINTS,
    DESTINATION_SPLITS,
    DESTINATION_WORKLOADS, /* workload.strait.io ExternalWorkloads */
    DESTINATION_N_CACHES,
};

/*
 * Starts the destination service: informers on Services, Endpoints,
 * TrafficSplits and ExternalWorkloads, and the route GET /v1/resolve.
 * Returns NULL with <err> set on failure.
 */
struct destination *destination_new(struct controller *c, struct st_err *err);
/* One of the caches; borrowed for the life of <d>. */
struct st_kube_informer *destination_cache(struct destination *d, enum destination_cache which);
/*
 * Called on the loop thread after a cached object was added, changed or
 * deleted (<obj> borrowed for the call), or with <obj> NULL once a cache synced.
 */
typedef void destination_change_cb(void *arg, enum destination_cache which, json_t *obj);
/* Adds a listener of cache changes (at most 4). */
void destination_listen(struct destination *d, destination_change_cb *fn, void *arg);
/* Frees everything; call after api_free. Accepts NULL. */
void destination_free(struct destination *d);

/* ---- lease.c: leader election (coordination.k8s.io/v1 Lease) ---------------------- */

struct lease;

/*
 * Starts leader election on the Lease "strait-controller" in the
 * controller's namespace, from a thread with its own kube client. Returns
 * NULL with <err> set on failure.
 */
struct lease *lease_new(struct controller *c, struct st_err *err);
/* Called on the loop thread when this replica gains (true) or loses leadership. */
typedef void lease_change_cb(void *arg, bool leader);
/* Adds a listener (at most 4); it is called at once when already leader. */
void lease_listen(struct lease *l, lease_change_cb *fn, void *arg);
/* True while this replica holds the lease (as the loop thread last heard). */
bool lease_is_leader(const struct lease *l);
/* Stops the election and releases the lease when held (at most 2 s). Accepts NULL. */
void lease_free(struct lease *l);

/* ---- endpoints.c: the workload endpoints controller ------------------------------ */

struct endpoints;

/*
 * Keeps the Endpoints of every Service with a selector in line with the
 * ExternalWorkloads it selects, while <l> says this replica leads. Uses the
 * caches of <d>. Returns NULL with <err> set on failure.
 */
struct endpoints *endpoints_new(struct controller *c, struct destination *d, struct lease *l,
                                struct st_err *err);
/* Stops the writer thread and frees everything. Accepts NULL. */
void endpoints_free(struct endpoints *e);

#endif
