/*
 * The strait CLI: the command table, global flags and the error style every
 * command shares. One file per command family (identity.c, later cluster.c,
 * stat.c...) exports one struct cli_command; main.c lists them.
 *
 * Error style: a failure prints one line "strait: <message>" on stderr and
 * exits 1; a usage error prints the line and a hint, and exits 2.
 */
#ifndef STRAIT_CLI_H
#define STRAIT_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "strait/core.h"

enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAIL = 1,  /* the command failed */
    CLI_EXIT_USAGE = 2, /* the command line was wrong */
};

/* Flags given before the command; each field NULL when not given. */
struct cli_global {
    const char *context;    /* --context NAME */
    const char *kubeconfig; /* --kubeconfig FILE */
};

/*
 * One command family. <run> gets the arguments after the command name
 * (argv[0] is the command name itself, as getopt expects) and returns an
 * exit code.
 */
struct cli_command {
    const char *name;
    const char *summary; /* one line for `strait --help` */
    int (*run)(const struct cli_global *g, int argc, char **argv);
};

extern const struct cli_command identity_command;
/* Local clusters and workloads (install.c, cluster.c, workload.c, check.c). */
extern const struct cli_command install_command;
extern const struct cli_command cluster_command;
extern const struct cli_command run_command;
extern const struct cli_command exec_command;
extern const struct cli_command workloads_command;
extern const struct cli_command stop_command;
extern const struct cli_command check_command;
extern const struct cli_command stat_command;

/* Prints "strait: <message>" on stderr and returns CLI_EXIT_FAIL. */
int cli_fail(const char *fmt, ...) ST_PRINTF(1, 2);
/*
 * Prints "strait: <message>" and "Run 'strait <cmd> --help' for usage." on
 * stderr and returns CLI_EXIT_USAGE. <cmd> may be NULL for the top level.
 */
int cli_usage_error(const char *cmd, const char *fmt, ...) ST_PRINTF(2, 3);

/*
 * Parses a duration the way Go's time.ParseDuration does: an optional sign
 * and a sequence of decimal numbers, each with an optional fraction and a
 * unit ("ns", "us", "µs", "ms", "s", "m", "h"), e.g. "8760h", "1h30m",
 * "1.5s"; "0" alone needs no unit. Stores nanoseconds in <*out>. Returns 0,
 * or ST_EPARSE (malformed) / ST_ETOOBIG (over int64 nanoseconds, about 292
 * years) with a one-line message in <err>.
 */
int duration_parse(const char *s, int64_t *out, struct st_err *err);

#endif
