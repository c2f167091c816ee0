/*
 * Proxy metrics, kept behind this small interface until lib/metrics lands.
 * Each loop thread owns a struct stats; counters are relaxed atomics written
 * only by that thread, and the admin endpoint sums all threads at scrape time
 * into Prometheus text with Linkerd's names, labels and latency buckets.
 *
 * A series is one label set (a Prometheus label string without braces, such
 * as `direction="outbound",authority="a:80",tls="true"`). Series are created
 * on first use and live as long as the registry; pointers to them stay valid.
 */
#ifndef STRAIT_PROXY_STATS_H
#define STRAIT_PROXY_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strait/core.h"

#define STATS_MAX_SERIES 20000 /* per thread; past it updates go to an overflow series */
#define STATS_N_BUCKETS 26     /* Linkerd's latency bounds plus +Inf */

struct stats_registry;
struct stats;
struct stats_series;

struct stats_registry *stats_registry_new(void);
void stats_registry_free(struct stats_registry *r);
/* A new per-thread set, registered with <r> (which owns it). Thread-safe. */
struct stats *stats_thread(struct stats_registry *r);

/* A request was received and routed (request_total). <labels> is copied. */
void stats_request(struct stats *s, const char *labels);
/*
 * A response ended (response_total, response_latency_ms). <labels> is the
 * request's label set; status and classification are added here.
 */
void stats_response(struct stats *s, const char *labels, int status, bool success,
                    uint64_t latency_ms);
/* The tcp_* series of <labels>, created on first use; borrowed for the registry's life. */
struct stats_series *stats_tcp(struct stats *s, const char *labels);
void stats_tcp_open(struct stats_series *t);
void stats_tcp_close(struct stats_series *t, uint64_t duration_ms);
void stats_tcp_bytes(struct stats_series *t, uint64_t read, uint64_t written);

/* Appends every metric, summed over the threads, as Prometheus text. */
int stats_render(struct stats_registry *r, struct st_buf *out);

/* Escapes <v> for a label value into a new string ("\\", "\"", "\n"). */
char *stats_escape(const char *v);

#endif
