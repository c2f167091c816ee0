/*
 * Proxy metrics on lib/metrics (include/strait/metrics.h): Linkerd's
 * families with their names, labels and latency buckets (docs/metrics.md).
 *
 * Each loop thread owns a struct stats, which is one shard of the shared
 * registry plus a private cache from label strings to resolved series. The
 * hot path hands in a label string (a Prometheus label list without braces,
 * such as `direction="outbound",authority="a:80",tls="true"`); the first use
 * of a string parses it and resolves its series, later uses find them in the
 * thread's cache: no lock and no allocation per request. Counting is a store
 * into memory only that thread writes; a scrape sums the shards.
 *
 * Label strings name the labels of enum st_metrics_http_label /
 * st_metrics_tcp_label; other names are ignored. `tls="false"` (plain TCP to
 * or from the local app) is counted as Linkerd spells it:
 * `tls="no_identity",no_tls_reason="loopback"`.
 */
#ifndef STRAIT_PROXY_STATS_H
#define STRAIT_PROXY_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strait/core.h"
#include "strait/metrics.h"

#define STATS_MAX_SERIES 5000  /* per registry and family group; see docs/metrics.md */
#define STATS_MAX_CACHED 20000 /* label strings cached per thread; past it, lookups are uncached   \
                                */

struct stats_registry;
struct stats;
struct stats_series;

/*
 * A new registry with room for <n_shards> writers (loop threads plus the
 * identity thread). Free it with stats_registry_free() after every writer
 * has stopped.
 */
struct stats_registry *stats_registry_new(unsigned n_shards);
void stats_registry_free(struct stats_registry *r);
/* The underlying registry, for other families and for rendering. Borrowed. */
struct st_metrics_registry *stats_metrics(struct stats_registry *r);
/*
 * A new per-thread set, owned by <r>, with the next free shard. Thread-safe.
 * Aborts when more sets are asked for than <n_shards> (a programming error).
 */
struct stats *stats_thread(struct stats_registry *r);
/* The shard index of <s>, for updates of other families from the same thread. */
unsigned stats_shard(const struct stats *s);

struct stats_route;
/*
 * A request was received and routed (request_total). <labels> is borrowed.
 * Returns the thread's cached entry for <labels>, to count the response with
 * (stats_response_route) without looking the label string up again; it lives
 * as long as <s>. NULL when the cache is full: then count by labels.
 */
struct stats_route *stats_request(struct stats *s, const char *labels);
/*
 * A response ended (response_total with status_code and classification;
 * response_latency_ms with status_code only). <labels> is the request's
 * label set, borrowed.
 */
void stats_response(struct stats *s, const char *labels, int status, bool success,
                    uint64_t latency_ms);
/*
 * The same for a response that carried a gRPC status (from the trailers, or
 * the head of a trailers-only response): response_total also gets
 * grpc_status_code. <grpc> is 0..STATS_GRPC_MAX, or -1 for none (then this is
 * stats_response); other values are counted as 2, UNKNOWN. Classification
 * stays the caller's: a gRPC status other than 0 (OK) is a failure.
 */
#define STATS_GRPC_MAX 16 /* UNAUTHENTICATED, the highest code gRPC defines */
void stats_response_grpc(struct stats *s, const char *labels, int status, bool success, int grpc,
                         uint64_t latency_ms);
/* The same through <route> from stats_request on <s>, or by <labels> when <route> is NULL. */
void stats_response_route(struct stats *s, struct stats_route *route, const char *labels,
                          int status, bool success, int grpc, uint64_t latency_ms);
/*
 * The gRPC status code of a grpc-status value (borrowed, may be NULL): -1
 * for NULL, the code for a plain decimal 0..STATS_GRPC_MAX, and 2 (UNKNOWN)
 * for anything else, as gRPC clients read a status they do not know. A peer
 * controls the value, so at most STATS_GRPC_MAX + 2 label values come of it.
 */
int stats_grpc_status(const char *value);
/*
 * The tcp_* series of <labels>, resolved on first use; borrowed for the
 * registry's life, and only for the thread that owns <s>. NULL when the
 * series cannot be created (caps); the functions below accept NULL.
 */
struct stats_series *stats_tcp(struct stats *s, const char *labels);
void stats_tcp_open(struct stats_series *t);
void stats_tcp_close(struct stats_series *t, uint64_t duration_ms);
void stats_tcp_bytes(struct stats_series *t, uint64_t read, uint64_t written);

/* Appends every metric, summed over the threads, as Prometheus text. */
int stats_render(struct stats_registry *r, struct st_buf *out);

/* Escapes <v> for a label value into a new string ("\\", "\"", "\n"). */
char *stats_escape(const char *v);

#endif
