/*
 * strait: the command-line interface.
 *
 *   strait [--context NAME] [--kubeconfig FILE] COMMAND [ARGS...]
 *
 * This file holds the global flags and the command table; each command
 * family lives in its own file (identity.c, ...). See docs/cli.md.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

#ifndef ST_VERSION
#define ST_VERSION "0.0.0"
#endif

static int main_version(const struct cli_global *g, int argc, char **argv);

static const struct cli_command main_version_command = {
    "version",
    "Print the version of strait",
    main_version,
};

/* The command table, in the order `strait --help` lists it. */
static const struct cli_command *const main_commands[] = {
    &identity_command,
    &install_command,
    &cluster_command,
    &run_command,
    &exec_command,
    &workloads_command,
    &stop_command,
    &check_command,
    &stat_command,
    &main_version_command,
};

static void
main_usage(FILE *f)
{
    fputs("strait: a multicluster service mesh\n\n"
          "Usage:\n  strait [--context NAME] [--kubeconfig FILE] COMMAND [ARGS...]\n\n"
          "Commands:\n",
          f);
    for (size_t i = 0; i < ST_ARRAY_LEN(main_commands); i++)
        fprintf(f, "  %-12s %s\n", main_commands[i]->name, main_commands[i]->summary);
    fputs("\nGlobal flags (before the command):\n"
          "  --context NAME      the kubeconfig context to use\n"
          "  --kubeconfig FILE   the kubeconfig file (default $KUBECONFIG, ~/.kube/config)\n"
          "  -h, --help          show this help\n\n"
          "Run 'strait COMMAND --help' for the flags of a command.\n",
          f);
}

static int
main_version(const struct cli_global *g, int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        puts("Usage: strait version");
        return CLI_EXIT_OK;
    }
    if (argc > 1)
        return cli_usage_error("version", "version takes no arguments");
    printf("strait version %s\n", ST_VERSION);
    return CLI_EXIT_OK;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"context", required_argument, NULL, 'c'},
        {"kubeconfig", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cli_global g = {0};
    int c;

    signal(SIGPIPE, SIG_IGN);
    opterr = 0;
    /* "+": stop at the command name; its own flags are the command's business. */
    while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            g.context = optarg;
            break;
        case 'k':
            g.kubeconfig = optarg;
            break;
        case 'h':
            main_usage(stdout);
            return CLI_EXIT_OK;
        case ':':
            return cli_usage_error(NULL, "%s needs a value", argv[optind - 1]);
        default:
            return cli_usage_error(NULL, "unknown flag %s", argv[optind - 1]);
        }
    }
    if (optind >= argc) {
        main_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[optind];
    if (strcmp(name, "help") == 0) {
        main_usage(stdout);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < ST_ARRAY_LEN(main_commands); i++) {
        if (strcmp(main_commands[i]->name, name) == 0) {
            int first = optind;
            /* Each command parses its own flags from a fresh getopt state. */
            optind = 0;
            opterr = 0;
            return main_commands[i]->run(&g, argc - first, argv + first);
        }
    }
    return cli_usage_error(NULL, "unknown command \"%s\"", name);
}
