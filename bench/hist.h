/*
 * A log-linear latency histogram for the benchmark harness, in the manner of
 * HdrHistogram: values below 256 are counted exactly, and above that each
 * power of two is split into 128 equal buckets, so a bucket is never wider
 * than 1/128 (0.78 %) of the values it holds. Values are unsigned integers in
 * any unit; the load generator records nanoseconds, and the range it cares
 * about (1 us to 60 s) needs about 3,800 buckets (30 KiB).
 *
 * A struct hist is a plain value: it holds no pointers, may be copied, and
 * two histograms merge by adding their counts. Nothing here allocates.
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdbool.h>
#include <stdint.h>

/* Values above HIST_MAX_VALUE are clamped to it (and counted in <clamped>). */
#define HIST_MAX_VALUE (60ull * 1000 * 1000 * 1000)

/* Bits of sub-bucket resolution: 2^HIST_SUB_BITS exact values, then halves. */
#define HIST_SUB_BITS 8
#define HIST_SUB_COUNT (1u << HIST_SUB_BITS)
#define HIST_HALF_COUNT (HIST_SUB_COUNT / 2)
/* Enough buckets for every value up to HIST_MAX_VALUE (< 2^36). */
#define HIST_BUCKETS (HIST_SUB_COUNT + (36 - HIST_SUB_BITS) * HIST_HALF_COUNT)

struct hist {
    uint64_t count;   /* values recorded */
    uint64_t clamped; /* values that were above HIST_MAX_VALUE */
    uint64_t min;     /* exact smallest value (after clamping); UINT64_MAX when empty */
    uint64_t max;     /* exact largest value (after clamping); 0 when empty */
    long double sum;  /* for the mean */
    uint64_t counts[HIST_BUCKETS];
};

/* Empties <h>. */
void hist_init(struct hist *h);

/* Records one value (clamped to HIST_MAX_VALUE). */
void hist_record(struct hist *h, uint64_t v);

/* Records <n> copies of one value. */
void hist_record_n(struct hist *h, uint64_t v, uint64_t n);

/* Adds every count of <src> into <dst>; <src> is borrowed and unchanged. */
void hist_merge(struct hist *dst, const struct hist *src);

/*
 * Returns the value at quantile <q> in [0, 1]: the highest value equivalent
 * to the bucket that holds the ceil(q * count)-th smallest value, but never
 * above the exact maximum nor below the exact minimum. So the answer is an
 * upper bound of the true quantile, off by less than 0.8 %. q >= 1 gives the
 * exact maximum, q <= 0 the exact minimum; an empty histogram gives 0.
 */
uint64_t hist_quantile(const struct hist *h, double q);

/* The mean of the recorded values, 0 when empty. */
double hist_mean(const struct hist *h);

/* The bucket index of <v> (after clamping); exposed for the unit test. */
unsigned hist_index(uint64_t v);

/* The lowest and highest values that share bucket <idx>. */
uint64_t hist_bucket_low(unsigned idx);
uint64_t hist_bucket_high(unsigned idx);

#endif
