/* The CLI's shared error style (see cli.h). */
#include <stdarg.h>
#include <stdio.h>

#include "cli.h"

int
cli_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("strait: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_EXIT_FAIL;
}

int
cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fputs("strait: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (cmd != NULL)
        fprintf(stderr, "Run 'strait %s --help' for usage.\n", cmd);
    else
        fputs("Run 'strait --help' for usage.\n", stderr);
    return CLI_EXIT_USAGE;
}
