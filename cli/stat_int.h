/*
 * Internals of `strait stat` shared by cli/stat.c, cli/stat_fmt.c,
 * cli/stat_source.c and their tests. See docs/stat.md.
 */
#ifndef STRAIT_CLI_STAT_INT_H
#define STRAIT_CLI_STAT_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "strait/core.h"
#include "strait/metrics.h"

/* ---- accumulated numbers of one row ---------------------------------------- */

/*
 * What one row adds up over proxies: response counts, the merged latency
 * histogram (cumulative buckets, added bucket by bucket, never averaged), the
 * rate, and open inbound TCP connections.
 */
struct stat_acc {
    double total;   /* responses in the window */
    double success; /* of which classification="success" */
    double rps;     /* sum over proxies of responses / window */
    struct st_metrics_bucket *buckets; /* owned; NULL until the first histogram */
    size_t n_buckets;
    bool conflict; /* a histogram with other bounds was refused */
    double tcp_conn;
    bool has_tcp;
    /* Set by the Prometheus source, which answers quantiles directly. */
    bool has_quantiles;
    double q[3]; /* p50, p95, p99 in ms; NaN when unknown */
};

void stat_acc_free(struct stat_acc *a);
/*
 * Adds the cumulative buckets of one histogram series to <a>. Returns 0, or
 * ST_ECONFLICT (and sets a->conflict) when the bounds differ from what <a>
 * holds; then nothing is added.
 */
int stat_acc_add_buckets(struct stat_acc *a, const struct st_metrics_bucket *b, size_t n);
/* The <q>-quantile (0.5, 0.95, 0.99) of <a> in ms, NaN when there is none. */
double stat_acc_quantile(const struct stat_acc *a, int idx);

/* ---- formatting (Linkerd's CLI forms) --------------------------------------- */

#define STAT_CELL 64

/* "100.00%", or "-" without traffic. */
void stat_fmt_success(double success, double total, char out[STAT_CELL]);
/* "2.6rps", or "-" without traffic. */
void stat_fmt_rps(double rps, double total, char out[STAT_CELL]);
/* "150ms" (rounded to a whole millisecond), or "-" for NaN or without traffic. */
void stat_fmt_latency(double ms, double total, char out[STAT_CELL]);
/* A TrafficSplit weight as given: a string ("500m") as is, an integer in decimal. */
void stat_fmt_weight(const json_t *w, char out[STAT_CELL]);

/* A table printed like Linkerd's: 3 spaces between columns, numbers right-aligned. */
struct stat_table {
    size_t n_cols;
    const char *const *headers;
    const bool *right; /* per column: right-aligned */
    char **cells;      /* n_rows * n_cols, owned */
    size_t n_rows;
};

/* Appends a row of n_cols cells (copied). */
void stat_table_add(struct stat_table *t, const char *const *cells);
/* Appends the whole table (header first, no trailing spaces) to <out>. */
int stat_table_render(const struct stat_table *t, struct st_buf *out);
void stat_table_free(struct stat_table *t);

/* ---- names ---------------------------------------------------------------- */

/*
 * True when <authority> (what a client asked for, with or without ":port")
 * names the service <svc> of namespace <ns>: "svc.ns", "svc.ns.svc",
 * "svc.ns.svc.<cluster domain>", with an optional trailing dot; the bare
 * "svc" only when <short_ok> (the client lives in <ns>).
 */
bool stat_authority_matches(const char *authority, const char *svc, const char *ns,
                            const char *cluster_domain, bool short_ok);

/* True when <s> is a host:port a proxy admin address may be ("127.1.1.4:4191", "[::1]:4191"). */
bool stat_admin_addr_valid(const char *s);

/*
 * Escapes <s> for a PromQL double-quoted string (and, with <regex>, for RE2
 * as well, so that it matches literally) onto <out>.
 */
int stat_promql_quote(const char *s, bool regex, struct st_buf *out);

/*
 * Reads the vector of a Prometheus /api/v1/query answer (<body, n>, untrusted).
 * For each result calls <fn> with its labels object (borrowed) and its value.
 * Returns the number of results, or ST_EPARSE / ST_EPROTO / ST_ETOOBIG with a
 * message in <err> (an "error" status carries Prometheus' own message).
 */
int stat_prom_parse_vector(const char *body, size_t n,
                           void (*fn)(const json_t *metric, double value, void *data), void *data,
                           struct st_err *err);

/* ---- sources (stat_source.c) --------------------------------------------------- */

/* One proxy to read, named by its ExternalWorkload. */
struct stat_proxy {
    char *ns, *name; /* owned */
    char *admin;     /* owned: host:port of its admin server */
    /* Filled by stat_scrape_windows(): NULL when the proxy was skipped. */
    struct st_metrics_snapshot *window;
    double window_s;
};

void stat_proxy_free(struct stat_proxy *p);

/*
 * Reads what every proxy of <p> counted in the last <window_ms>: from its
 * history endpoint (GET /metrics/window?ms=N, docs/stat.md) when it serves
 * one, else from two scrapes of /metrics <window_ms> apart, subtracted. A
 * proxy that cannot be read is skipped with a warning on stderr. Each request
 * is bounded by <timeout_ms>.
 */
void stat_scrape_windows(struct stat_proxy *p, size_t n, uint64_t window_ms, uint64_t timeout_ms);

/*
 * GET <url> with libcurl (no proxy for loopback), at most <max> body bytes,
 * everything bounded by <timeout_ms>. Stores the status in <*status> and the
 * value of a "strait-window-ms" header in <*window_ms> (0 when absent; may be
 * NULL). Returns 0 when a response arrived, else ST_ETIMEOUT, -ECONNREFUSED,
 * ST_ETOOBIG or -EIO with a message in <err>.
 */
int stat_http_get(const char *url, uint64_t timeout_ms, size_t max, struct st_buf *body,
                  long *status, uint64_t *window_ms, struct st_err *err);

/*
 * Runs the instant query <promql> against the Prometheus at <base> (its URL,
 * e.g. http://127.0.0.1:9090) and calls <fn> for each result as
 * stat_prom_parse_vector() does. Returns the number of results or a negative
 * code with <err> set.
 */
int stat_prom_query(const char *base, const char *promql, uint64_t timeout_ms,
                    void (*fn)(const json_t *metric, double value, void *data), void *data,
                    struct st_err *err);

#endif
