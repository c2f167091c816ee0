/*
 * strait metrics: a Prometheus registry whose hot path never locks, the text
 * exposition format (0.0.4) in both directions, and snapshots that can be
 * subtracted (a time window), added (several proxies) and asked for quantiles
 * the way PromQL's histogram_quantile answers them.
 *
 * Threading model. A registry is created with a fixed number of shards; each
 * writer thread owns one shard index (a proxy loop thread uses its loop
 * number). Every series has one private block of counters per shard, in
 * memory that only that shard's thread writes, so an increment is a plain
 * load and store on a cache line no other thread writes: no lock, no atomic
 * read-modify-write. A scrape sums the shards. Creating a series and
 * registering a family take the registry's lock; looking up an existing
 * series does not. At most one thread may write a given shard at a time.
 *
 * Series live as long as the registry: pointers returned by
 * st_metrics_series_get() stay valid until st_metrics_registry_free(), so the
 * proxy resolves a series once and keeps the pointer for its hot path.
 *
 * A label whose value is empty (or NULL) is absent, as in Prometheus: it is
 * not written and two series that differ only by it are the same series.
 */
#ifndef STRAIT_METRICS_H
#define STRAIT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strait/core.h"

enum st_metrics_type {
    ST_METRICS_COUNTER,
    ST_METRICS_GAUGE,
    ST_METRICS_HISTOGRAM,
    ST_METRICS_SUMMARY, /* only ever produced by the parser */
    ST_METRICS_UNTYPED, /* only ever produced by the parser */
};

#define ST_METRICS_MAX_SHARDS 256
#define ST_METRICS_MAX_LABELS 32
#define ST_METRICS_MAX_BOUNDS 64
#define ST_METRICS_MAX_VALUE 1024 /* bytes in one label value the registry accepts */
#define ST_METRICS_DEFAULT_MAX_SERIES 50000

/* Linkerd's latency bucket bounds in milliseconds (response_latency_ms and friends). */
#define ST_METRICS_LATENCY_N_BOUNDS 25
extern const double st_metrics_latency_bounds_ms[ST_METRICS_LATENCY_N_BOUNDS];

/* ---- registry ---------------------------------------------------------- */

struct st_metrics_registry;
struct st_metrics_family;
struct st_metrics_series;

/*
 * Returns a new registry with <n_shards> writer shards (1..ST_METRICS_MAX_SHARDS)
 * and room for at most <max_series> series over all families (0 means
 * ST_METRICS_DEFAULT_MAX_SERIES). Free it with st_metrics_registry_free().
 */
struct st_metrics_registry *st_metrics_registry_new(unsigned n_shards, size_t max_series);
/* Frees the registry with its families and series; accepts NULL. */
void st_metrics_registry_free(struct st_metrics_registry *r);
unsigned st_metrics_registry_shards(const struct st_metrics_registry *r);
/*
 * How many series creations were refused (the series cap, an over-long or
 * non-UTF-8 label value). The refused updates went nowhere.
 */
uint64_t st_metrics_registry_refused(const struct st_metrics_registry *r);

/* What a family is: its type, names and, for histograms, the bucket bounds. */
struct st_metrics_desc {
    enum st_metrics_type type; /* COUNTER, GAUGE or HISTOGRAM */
    const char *name;          /* [a-zA-Z_:][a-zA-Z0-9_:]* */
    const char *help;
    const char *const *labels; /* label names, [a-zA-Z_][a-zA-Z0-9_]*, no "__" prefix */
    size_t n_labels;           /* <= ST_METRICS_MAX_LABELS */
    const double *bounds;      /* histograms: finite, strictly increasing upper bounds */
    size_t n_bounds;           /* 1..ST_METRICS_MAX_BOUNDS; +Inf is implied */
};

/*
 * Registers a family described by <d> (copied). On success *out is borrowed,
 * valid for the registry's life. Returns 0, ST_EINVAL for a bad name, label
 * or bounds (message in <err>), or ST_ECONFLICT when the name (or a histogram's
 * _bucket/_sum/_count name) is taken. Thread-safe.
 */
int st_metrics_family_add(struct st_metrics_registry *r, const struct st_metrics_desc *d,
                          struct st_metrics_family **out, struct st_err *err);
/* The family registered under <name>, or NULL. Thread-safe; borrowed. */
struct st_metrics_family *st_metrics_family_find(struct st_metrics_registry *r, const char *name);
size_t st_metrics_family_n_labels(const struct st_metrics_family *f);

/*
 * A 64-bit hash of a label-value tuple (<n> values; NULL counts as ""). A
 * caller that looks the same tuple up in several families, or often, computes
 * it once and passes it to st_metrics_series_get_hashed().
 */
uint64_t st_metrics_labels_hash(const char *const *values, size_t n);

/*
 * Returns the series of <f> for <values> (family's n_labels values, in the
 * order of its label names; NULL or "" for an absent label), creating it on
 * first use. Lookup of an existing series takes no lock. Returns NULL when
 * the series cannot be created (cap reached, a value longer than
 * ST_METRICS_MAX_VALUE or not UTF-8): every update function accepts NULL and
 * does nothing with it. Borrowed; valid for the registry's life. Thread-safe.
 */
struct st_metrics_series *st_metrics_series_get(struct st_metrics_family *f,
                                                const char *const *values);
/* The same with a hash from st_metrics_labels_hash(values, n_labels). */
struct st_metrics_series *st_metrics_series_get_hashed(struct st_metrics_family *f, uint64_t hash,
                                                       const char *const *values);

/*
 * Hot path. <shard> is the caller's shard index; only one thread may write a
 * shard at a time. <s> may be NULL (nothing happens). Using a function of the
 * wrong type for the series' family is a programming error (assert).
 */
void st_metrics_counter_add(struct st_metrics_series *s, unsigned shard, uint64_t n);
void st_metrics_counter_inc(struct st_metrics_series *s, unsigned shard);
/* Gauges: the value is the last st_metrics_gauge_set() plus every delta added since start. */
void st_metrics_gauge_add(struct st_metrics_series *s, unsigned shard, int64_t delta);
/* Sets the gauge's base value; may be called from any thread (an atomic store). */
void st_metrics_gauge_set(struct st_metrics_series *s, double v);
/* Records one observation; `le` is inclusive. NaN is ignored. */
void st_metrics_histogram_observe(struct st_metrics_series *s, unsigned shard, double v);

/* ---- snapshots ----------------------------------------------------------- */

struct st_metrics_label {
    char *name;
    char *value; /* never empty */
};

struct st_metrics_bucket {
    double le;    /* upper bound, inclusive; the last one is +Inf */
    double count; /* cumulative */
};

/* One series: a label set and its value(s). */
struct st_metrics_sample {
    struct st_metrics_label *labels; /* sorted by name; histograms: without "le" */
    size_t n_labels;
    char *key;                         /* canonical form of the labels, the sort and match key */
    double value;                      /* counter, gauge, summary quantile, untyped */
    struct st_metrics_bucket *buckets; /* histograms: ascending le, the last is +Inf */
    size_t n_buckets;
    double sum, count; /* histograms */
};

struct st_metrics_fam {
    char *name;
    char *help; /* "" when none */
    enum st_metrics_type type;
    struct st_metrics_sample *series; /* sorted by key */
    size_t n_series;
};

/*
 * A point-in-time copy of metric families with their values, owned by the
 * caller, independent of any registry. <time_ms> is the st_now_ms() of
 * st_metrics_snapshot_take(), or what the caller set for parsed text.
 */
struct st_metrics_snapshot {
    struct st_metrics_fam *families; /* sorted by name */
    size_t n_families;
    uint64_t time_ms;
};

/* Takes a snapshot of every family of <r>, summing the shards. Returns a new snapshot. */
struct st_metrics_snapshot *st_metrics_snapshot_take(struct st_metrics_registry *r);
/* Frees <s>; accepts NULL. */
void st_metrics_snapshot_free(struct st_metrics_snapshot *s);

/*
 * The window between two snapshots of the same source: counters, histogram
 * buckets, _sum and _count of <now> minus those of <earlier>; gauges, summaries
 * and untyped samples as in <now>. A series whose values went down (the
 * source restarted) or whose buckets changed counts from zero, as
 * Prometheus' increase() does; a series absent from <earlier> counts whole.
 * time_ms of the result is now->time_ms - earlier->time_ms (the window length).
 * Returns a new snapshot in *out, or ST_EINVAL if <earlier> is later than <now>.
 */
int st_metrics_snapshot_sub(const struct st_metrics_snapshot *now,
                            const struct st_metrics_snapshot *earlier,
                            struct st_metrics_snapshot **out, struct st_err *err);
/*
 * The sum of two snapshots (e.g. the windows of two proxies): series with the
 * same family and labels are added (histograms bucket by bucket), others are
 * kept. time_ms is the larger of the two. Returns a new snapshot in *out, or
 * ST_ECONFLICT when a family has different types or a histogram different
 * bounds in the two (message in <err>).
 */
int st_metrics_snapshot_add(const struct st_metrics_snapshot *a,
                            const struct st_metrics_snapshot *b, struct st_metrics_snapshot **out,
                            struct st_err *err);

/* The family named <name>, or NULL; borrowed from <s>. */
const struct st_metrics_fam *st_metrics_snapshot_find(const struct st_metrics_snapshot *s,
                                                      const char *name);
/* The series of <f> with exactly <labels> (any order, empty values ignored), or NULL. */
const struct st_metrics_sample *st_metrics_fam_find(const struct st_metrics_fam *f,
                                                    const struct st_metrics_label *labels,
                                                    size_t n);
/* The value of label <name> of <s>, or NULL when absent; borrowed. */
const char *st_metrics_sample_label(const struct st_metrics_sample *s, const char *name);

/* A label matcher: <value> NULL or "" matches a series without that label. */
struct st_metrics_match {
    const char *name;
    const char *value;
};

/* True when <s> satisfies every matcher of <m>. */
bool st_metrics_sample_matches(const struct st_metrics_sample *s, const struct st_metrics_match *m,
                               size_t n);
/* The sum of value (counters, gauges) or count (histograms) over the matching series of <f>. */
double st_metrics_fam_sum(const struct st_metrics_fam *f, const struct st_metrics_match *m,
                          size_t n);

/* A histogram summed over series: buckets owned by the struct. */
struct st_metrics_hist {
    struct st_metrics_bucket *buckets;
    size_t n_buckets;
    double sum, count;
};

/*
 * Adds up the matching series of the histogram family <f> into <out> (which
 * the caller zero-initialises and releases with st_metrics_hist_free()).
 * Returns the number of series added, ST_EINVAL if <f> is not a histogram, or
 * ST_ECONFLICT if two series have different bounds (then <out> holds a partial
 * sum and must still be freed).
 */
int st_metrics_fam_histogram(const struct st_metrics_fam *f, const struct st_metrics_match *m,
                             size_t n, struct st_metrics_hist *out);
void st_metrics_hist_free(struct st_metrics_hist *h);

/*
 * The <q>-quantile of cumulative buckets <b> (ascending le, last +Inf),
 * interpolated linearly inside the bucket as PromQL's histogram_quantile():
 * NaN without observations or without a +Inf bucket, the highest finite bound
 * when the rank falls into +Inf, -Inf/+Inf for q < 0 / q > 1.
 */
double st_metrics_quantile(const struct st_metrics_bucket *b, size_t n, double q);

/* ---- windows kept by the source ---------------------------------------------- */

/*
 * A ring of the registry's raw totals, recorded every <period_ms>, so that a
 * proxy can answer "the last minute" at once: the window is the current
 * totals minus a record, with no second scrape a minute later. A record
 * costs 8 bytes per counter and per histogram bucket. One thread at a time
 * may use a history (the admin thread); writers are not disturbed.
 */
struct st_metrics_history;

/*
 * Returns a new history of <r> (borrowed; it must outlive the history) that
 * keeps <n_periods> records <period_ms> apart (both > 0) besides the newest,
 * so windows up to period_ms * n_periods are exact to a period. It records
 * the totals of <now_ms> at once.
 */
struct st_metrics_history *st_metrics_history_new(struct st_metrics_registry *r, uint64_t period_ms,
                                                  size_t n_periods, uint64_t now_ms);
/* Frees <h>; accepts NULL. */
void st_metrics_history_free(struct st_metrics_history *h);
/* Records the totals if a period has passed since the last record; call it from a timer. */
void st_metrics_history_tick(struct st_metrics_history *h, uint64_t now_ms);
/*
 * Returns a new snapshot of what happened in the window that ends at
 * <now_ms> and starts at the newest record at least <window_ms> old (or at the
 * oldest record when the history is shorter):
 * counters and histograms are differences, gauges are current levels.
 * time_ms of the snapshot is the window's actual length.
 */
struct st_metrics_snapshot *st_metrics_history_window(struct st_metrics_history *h, uint64_t now_ms,
                                                      uint64_t window_ms);

/* ---- text exposition format (0.0.4) ---------------------------------------- */

#define ST_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/*
 * Appends <s> as Prometheus text to <out>: families by name, each with its
 * HELP and TYPE lines, series by label set, labels by name, values escaped.
 * Returns 0, or ST_ETOOBIG at out->max, in which case <out> is left as it was.
 */
int st_metrics_snapshot_render(const struct st_metrics_snapshot *s, struct st_buf *out);
/* Takes a snapshot of <r> and renders it; the same errors. */
int st_metrics_render(struct st_metrics_registry *r, struct st_buf *out);

/* Limits of the parser; any field 0 takes its default (in brackets). */
struct st_metrics_caps {
    size_t max_bytes;    /* whole input [16 MiB] */
    size_t max_line;     /* one line [64 KiB] */
    size_t max_families; /* [4096] */
    size_t max_series;   /* over all families [200000] */
    size_t max_labels;   /* per sample [32] */
    size_t max_name;     /* metric or label name [256] */
    size_t max_value;    /* label value or help text [8192] */
    size_t max_buckets;  /* per histogram series [128] */
};

/*
 * Parses Prometheus text format 0.0.4 from <p>/<n> (untrusted) into a new
 * snapshot in *out (time_ms 0). Histogram families are assembled from their
 * _bucket, _sum and _count samples; a histogram without a +Inf bucket takes
 * it from _count. Timestamps are accepted and dropped. <caps> may be NULL.
 * Returns 0, ST_EPARSE for malformed input (duplicate series, TYPE after a
 * family's samples, bad escapes, invalid UTF-8 in a label value, ...) or
 * ST_ETOOBIG past a cap; the message in <err> names the line.
 */
int st_metrics_parse_text(const char *p, size_t n, const struct st_metrics_caps *caps,
                          struct st_metrics_snapshot **out, struct st_err *err);

/* ---- Linkerd's families ------------------------------------------------------ */

/*
 * Label positions of the HTTP families. request_total uses the first
 * ST_METRICS_HTTP_N_LABELS; response_latency_ms adds status_code; response_total
 * adds status_code, classification and grpc_status_code. So one values array
 * of ST_METRICS_RESPONSE_N_LABELS serves all three.
 */
enum st_metrics_http_label {
    ST_METRICS_HTTP_DIRECTION,      /* inbound | outbound */
    ST_METRICS_HTTP_AUTHORITY,      /* the apex the client asked for */
    ST_METRICS_HTTP_TARGET_ADDR,    /* endpoint ip:port */
    ST_METRICS_HTTP_DST_NAMESPACE,  /* outbound: the leaf's namespace */
    ST_METRICS_HTTP_DST_SERVICE,    /* outbound: the leaf service */
    ST_METRICS_HTTP_DST_DEPLOYMENT, /* outbound, when known */
    ST_METRICS_HTTP_TLS,            /* true | no_identity */
    ST_METRICS_HTTP_NO_TLS_REASON,
    ST_METRICS_HTTP_CLIENT_ID, /* inbound: the peer's identity */
    ST_METRICS_HTTP_SERVER_ID, /* outbound: the peer's identity */
    ST_METRICS_HTTP_N_LABELS,
    ST_METRICS_HTTP_STATUS_CODE = ST_METRICS_HTTP_N_LABELS,
    ST_METRICS_HTTP_CLASSIFICATION, /* success | failure */
    ST_METRICS_HTTP_GRPC_STATUS_CODE,
    ST_METRICS_RESPONSE_N_LABELS,
};

/*
 * Label positions of the tcp_* families; tcp_close_total adds classification
 * and errno after ST_METRICS_TCP_N_LABELS.
 */
enum st_metrics_tcp_label {
    ST_METRICS_TCP_DIRECTION,
    ST_METRICS_TCP_PEER, /* src: accepted from the source; dst: opened to the destination */
    ST_METRICS_TCP_AUTHORITY,
    ST_METRICS_TCP_TARGET_ADDR,
    ST_METRICS_TCP_DST_NAMESPACE,
    ST_METRICS_TCP_DST_SERVICE,
    ST_METRICS_TCP_TLS,
    ST_METRICS_TCP_NO_TLS_REASON,
    ST_METRICS_TCP_CLIENT_ID,
    ST_METRICS_TCP_SERVER_ID,
    ST_METRICS_TCP_N_LABELS,
    ST_METRICS_TCP_CLASSIFICATION = ST_METRICS_TCP_N_LABELS,
    ST_METRICS_TCP_ERRNO,
    ST_METRICS_TCP_CLOSE_N_LABELS,
};

/*
 * The Prometheus names of those labels, indexed by the enums above
 * (ST_METRICS_RESPONSE_N_LABELS and ST_METRICS_TCP_CLOSE_N_LABELS entries).
 */
extern const char *const st_metrics_http_label_names[ST_METRICS_RESPONSE_N_LABELS];
extern const char *const st_metrics_tcp_label_names[ST_METRICS_TCP_CLOSE_N_LABELS];

/* The proxy's families, borrowed from the registry they were added to. */
struct st_metrics_proxy {
    struct st_metrics_family *request_total;              /* counter */
    struct st_metrics_family *response_total;             /* counter */
    struct st_metrics_family *response_latency_ms;        /* histogram, Linkerd bounds */
    struct st_metrics_family *tcp_open_total;             /* counter */
    struct st_metrics_family *tcp_close_total;            /* counter */
    struct st_metrics_family *tcp_open_connections;       /* gauge */
    struct st_metrics_family *tcp_read_bytes_total;       /* counter */
    struct st_metrics_family *tcp_write_bytes_total;      /* counter */
    struct st_metrics_family *tcp_connection_duration_ms; /* histogram, Linkerd bounds */
};

/* Registers the proxy's families in <r>. Returns 0 or the error of st_metrics_family_add(). */
int st_metrics_proxy_add(struct st_metrics_registry *r, struct st_metrics_proxy *out,
                         struct st_err *err);

/*
 * The controller's families (Linkerd's service-mirror and probe names). All
 * carry target_cluster_name; gateway_probes adds probe_successful; the event
 * counters add event_type.
 */
struct st_metrics_controller {
    struct st_metrics_family *gateway_alive;            /* gauge: 1 alive, 0 not */
    struct st_metrics_family *gateway_probe_latency_ms; /* histogram, Linkerd bounds */
    struct st_metrics_family *gateway_probes;           /* counter */
    struct st_metrics_family *endpoint_repairs;         /* service_mirror_endpoint_repairs */
    struct st_metrics_family *event_enqueues;           /* service_mirror_event_enqueues */
    struct st_metrics_family *event_dequeues;           /* service_mirror_event_dequeues */
    struct st_metrics_family *queue_depth;              /* service_mirror_queue_depth, gauge */
};

int st_metrics_controller_add(struct st_metrics_registry *r, struct st_metrics_controller *out,
                              struct st_err *err);

#endif
