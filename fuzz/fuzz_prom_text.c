/*
 * Fuzzes the Prometheus text parser. Whatever parses must render, parse back
 * to the same text (a fixed point), and survive window and merge operations
 * against itself.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "strait/metrics.h"

static void
fuzz_check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_prom_text: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct st_metrics_caps caps = {.max_series = 2000, .max_buckets = 64};
    struct st_metrics_snapshot *s = NULL, *again = NULL, *sum = NULL, *win = NULL;
    struct st_buf first = ST_BUF_INIT(8u << 20), second = ST_BUF_INIT(8u << 20);
    struct st_err err;

    if (st_metrics_parse_text((const char *)data, size, &caps, &s, &err) < 0)
        return 0;
    fuzz_check(st_metrics_snapshot_render(s, &first) == 0, "render");
    fuzz_check(
        st_metrics_parse_text(first.data ? first.data : "", first.len, &caps, &again, &err) == 0,
        "rendered text does not parse");
    fuzz_check(st_metrics_snapshot_render(again, &second) == 0, "render again");
    fuzz_check(first.len == second.len && memcmp(first.data ? first.data : "",
                                                 second.data ? second.data : "", first.len) == 0,
               "render is not a fixed point");

    if (st_metrics_snapshot_add(s, again, &sum, &err) == 0) {
        for (size_t i = 0; i < sum->n_families; i++) {
            const struct st_metrics_fam *f = &sum->families[i];
            for (size_t j = 0; j < f->n_series; j++) {
                const struct st_metrics_sample *x = &f->series[j];
                (void)st_metrics_quantile(x->buckets, x->n_buckets, 0.5);
                (void)st_metrics_quantile(x->buckets, x->n_buckets, 0.99);
            }
        }
        fuzz_check(st_metrics_snapshot_sub(sum, s, &win, &err) == 0, "window");
    }
    st_metrics_snapshot_free(win);
    st_metrics_snapshot_free(sum);
    st_metrics_snapshot_free(again);
    st_metrics_snapshot_free(s);
    st_buf_free(&first);
    st_buf_free(&second);
    return 0;
}
