/*
 * Fuzzes the reader of Prometheus /api/v1/query answers used by
 * `strait stat --prometheus` (cli/stat_fmt.c). A vector must report as many
 * results as it delivered to the callback, and a failure must say why.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../cli/stat_int.h"

static size_t fuzz_seen;

static void
fuzz_result(const json_t *metric, double value, void *data)
{
    ST_UNUSED(value);
    ST_UNUSED(data);
    if (!json_is_object(metric))
        abort();
    fuzz_seen++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct st_err err = {0};

    fuzz_seen = 0;
    int rc = stat_prom_parse_vector((const char *)data, size, fuzz_result, NULL, &err);
    if (rc >= 0 && (size_t)rc != fuzz_seen) {
        fprintf(stderr, "fuzz_prom_query: %d results reported, %zu delivered\n", rc, fuzz_seen);
        abort();
    }
    if (rc < 0 && err.msg[0] == '\0') {
        fprintf(stderr, "fuzz_prom_query: failure %d without a message\n", rc);
        abort();
    }
    return 0;
}
