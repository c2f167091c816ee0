/*
 * The log-linear histogram of hist.h. Bucket layout: indices 0..255 hold the
 * values 0..255 exactly; above that, a value v with its highest set bit at
 * position e >= 8 is shifted right by s = e - 7, which leaves a "top" of
 * 128..255, and lands in bucket 256 + (s - 1) * 128 + (top - 128). Every
 * bucket of that part spans 2^s values starting at top << s, so its width
 * over its lowest value is 1 / top <= 1/128.
 */
#include "hist.h"

#include <string.h>

void
hist_init(struct hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

unsigned
hist_index(uint64_t v)
{
    if (v > HIST_MAX_VALUE)
        v = HIST_MAX_VALUE;
    if (v < HIST_SUB_COUNT)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    unsigned s = e - (HIST_SUB_BITS - 1);
    unsigned top = (unsigned)(v >> s);
    return HIST_SUB_COUNT + (s - 1) * HIST_HALF_COUNT + (top - HIST_HALF_COUNT);
}

uint64_t
hist_bucket_low(unsigned idx)
{
    if (idx < HIST_SUB_COUNT)
        return idx;
    unsigned k = idx - HIST_SUB_COUNT;
    unsigned s = k / HIST_HALF_COUNT + 1;
    uint64_t top = k % HIST_HALF_COUNT + HIST_HALF_COUNT;
    return top << s;
}

uint64_t
hist_bucket_high(unsigned idx)
{
    if (idx < HIST_SUB_COUNT)
        return idx;
    unsigned s = (idx - HIST_SUB_COUNT) / HIST_HALF_COUNT + 1;
    return hist_bucket_low(idx) + (1ull << s) - 1;
}

void
hist_record_n(struct hist *h, uint64_t v, uint64_t n)
{
    if (n == 0)
        return;
    if (v > HIST_MAX_VALUE) {
        v = HIST_MAX_VALUE;
        h->clamped += n;
    }
    h->counts[hist_index(v)] += n;
    h->count += n;
    h->sum += (long double)v * (long double)n;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void
hist_record(struct hist *h, uint64_t v)
{
    hist_record_n(h, v, 1);
}

void
hist_merge(struct hist *dst, const struct hist *src)
{
    if (src->count == 0)
        return;
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->counts[i] += src->counts[i];
    dst->count += src->count;
    dst->clamped += src->clamped;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t
hist_quantile(const struct hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q <= 0.0)
        return h->min;
    if (q >= 1.0)
        return h->max;

    /* The rank of the wanted value, 1-based: ceil(q * count), at least 1. */
    long double want = (long double)q * (long double)h->count;
    uint64_t rank = (uint64_t)want;
    if ((long double)rank < want)
        rank++;
    if (rank == 0)
        rank = 1;

    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = hist_bucket_high(i);
            if (v > h->max)
                v = h->max;
            if (v < h->min)
                v = h->min;
            return v;
        }
    }
    return h->max;
}

double
hist_mean(const struct hist *h)
{
    if (h->count == 0)
        return 0.0;
    return (double)(h->sum / (long double)h->count);
}
