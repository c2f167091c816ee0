/*
 * The statistics a finished `strait exec` client leaves behind (docs/stat.md,
 * "Clients that have exited"). When the command of a plain `exec` ends, exec
 * reads its proxy's history windows before it stops the proxy and writes them
 * to $STRAIT_HOME/clusters/NAME/stats/NS/; `strait stat ts` merges every
 * record whose client's life overlaps the window it is asked for, cut the way
 * a live proxy cuts its own window.
 *
 * A record is JSON:
 *
 *   {"kind": "ExecStats", "version": 1, "client": "_exec-PID", "namespace": NS,
 *    "identity": ..., "startMs": WALL, "endMs": WALL, "periodMs": 10000,
 *    "windows": [{"fromMs": WALL, "metrics": "<Prometheus text>"}, ...]}
 *
 * Each window holds what the proxy counted from <fromMs> (one of its history
 * records) to <endMs> (the command's end): the outbound response_total and
 * response_latency_ms series only. Times are wall-clock milliseconds, since
 * the writer and the reader are different processes.
 */
#ifndef STRAIT_CLI_STAT_RECORD_H
#define STRAIT_CLI_STAT_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strait/core.h"
#include "strait/metrics.h"

#define STAT_RECORD_KIND "ExecStats"
#define STAT_RECORD_VERSION 1
#define STAT_RECORD_MAX_BYTES ((size_t)4 << 20) /* one record file */
#define STAT_RECORD_MAX_WINDOWS 64
#define STAT_RECORD_MAX_SERIES 20000 /* per window */
/* Records are kept as long as the longest window `strait stat` takes (24 h), and a bit. */
#define STAT_RECORD_KEEP_MS (24ull * 3600 * 1000 + 60000)

/* One window of a record: what happened from <from_ms> to the record's end. */
struct stat_record_win {
    uint64_t from_ms;
    struct st_metrics_snapshot *snap; /* owned */
};

/* A finished client's statistics. Strings and snapshots owned. */
struct stat_record {
    char *client;   /* "_exec-PID" */
    char *ns;       /* the client's namespace */
    char *identity; /* its proxy's identity; may be NULL */
    uint64_t start_ms, end_ms;
    uint64_t period_ms;
    struct stat_record_win *wins; /* ascending from_ms, all <= end_ms */
    size_t n_wins;
};

/* Frees what <r> holds and zeroes it; accepts a zeroed record. */
void stat_record_free(struct stat_record *r);

/* Wall-clock milliseconds since the epoch. */
uint64_t stat_record_wall_ms(void);

/*
 * Adds a window starting at <from_ms> to <r>, keeping wins sorted; takes
 * ownership of <snap>. A window whose start equals one already held replaces
 * nothing and is dropped (returns ST_ECONFLICT, <snap> freed); more than
 * STAT_RECORD_MAX_WINDOWS is ST_ETOOBIG (<snap> freed).
 */
int stat_record_add(struct stat_record *r, uint64_t from_ms, struct st_metrics_snapshot *snap);

/*
 * Appends <r> as JSON to <out> (which should be capped at
 * STAT_RECORD_MAX_BYTES). Only the outbound series of response_total and
 * response_latency_ms with responses in the window are written. When the
 * whole does not fit, the newest windows are left out first (a shorter
 * window is then cut at an older record, so it counts more, never less);
 * returns the number of windows written, or ST_ETOOBIG when not even one fits.
 */
int stat_record_encode(const struct stat_record *r, struct st_buf *out);

/*
 * Parses a record (<p, n>, untrusted: the file may be damaged) into <out>,
 * which must be zeroed. Returns 0, or ST_EPARSE / ST_ETOOBIG / ST_EINVAL with
 * a message in <err>; then <out> holds nothing.
 */
int stat_record_parse(const char *p, size_t n, struct stat_record *out, struct st_err *err);

/*
 * The window of <r> a live proxy would answer at <now_ms> for the last
 * <window_ms>: the newest window starting at or before now - window (the
 * oldest when none does). NULL when the client ended at or before the window
 * began (its life does not overlap it). Stores the window's real length,
 * now minus its start, in <*len_ms>. Borrowed from <r>.
 */
const struct st_metrics_snapshot *stat_record_window(const struct stat_record *r, uint64_t now_ms,
                                                     uint64_t window_ms, uint64_t *len_ms);

/*
 * Removes the record files ("*.json", regular files only) of <dir> last
 * written more than STAT_RECORD_KEEP_MS before <now_ms> (wall clock),
 * damaged ones included. Returns how many were removed, or -errno when <dir>
 * cannot be read (-ENOENT: no records yet).
 */
int stat_record_prune(const char *dir, uint64_t now_ms);

#endif
