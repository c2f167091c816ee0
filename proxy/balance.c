/*
 * Load balancing: weighted leaf choice for splits, and power of two choices
 * over a peak-EWMA latency estimate for endpoints (Finagle's and Linkerd's
 * scheme): an endpoint's cost is its decayed latency estimate times the
 * requests it has in flight, and failures raise both the estimate and a
 * multiplier so traffic moves away from a broken endpoint at once.
 */
#include <string.h>

#include "discovery.h"

#define BALANCE_DEFAULT_RTT_MS 30.0 /* estimate for an endpoint never measured */
#define BALANCE_TAU_MS 10000.0      /* decay time constant */
#define BALANCE_PENALTY_MS 1000.0   /* estimate after a connection failure */
#define BALANCE_MAX_FAILURE_FACTOR 16

/*
 * e^x for the decay weights, so that the proxy does not map libm (about
 * 300 KB resident) for one function; docs/proxy.md, "Memory". The balancer
 * only asks for x <= 0; the result is within a few ulps of libm's exp() for
 * -708 < x <= 709 and 0 below (test_balance.c compares the two), NaN gives 0.
 *
 * x = k ln2 + r with |r| <= ln2/2 (ln2 split in two parts, Cody and Waite,
 * so that k ln2 is exact), e^r by its Taylor series to r^13 (the first
 * term left out is below 2^-54 of the result), then 2^k put in the exponent.
 */
static double
balance_exp(double x)
{
    static const double log2e = 1.4426950408889634;
    static const double ln2_hi = 6.93147180369123816490e-01; /* low 32 bits zero */
    static const double ln2_lo = 1.90821492927058770002e-10;

    if (!(x > -708.0)) /* NaN too */
        return 0.0;
    if (x > 709.0)
        x = 709.0;
    double k = (double)(int64_t)(x * log2e + (x < 0 ? -0.5 : 0.5));
    double r = (x - k * ln2_hi) - k * ln2_lo;
    double p = 1.0 / 6227020800.0; /* 1/13! */
    static const double inv_fact[] = {
        1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0, 1.0 / 40320.0,
        1.0 / 5040.0,      1.0 / 720.0,      1.0 / 120.0,     1.0 / 24.0,     1.0 / 6.0,
        1.0 / 2.0,         1.0,              1.0,
    };
    for (size_t i = 0; i < sizeof(inv_fact) / sizeof(inv_fact[0]); i++)
        p = p * r + inv_fact[i];

    uint64_t bits = (uint64_t)((int64_t)k + 1023) << 52; /* 2^k, -1022 <= k <= 1023 */
    double scale;
    memcpy(&scale, &bits, sizeof(scale));
    return p * scale;
}

size_t
balance_pick_leaf(const struct disc_split *s, uint64_t rnd)
{
    uint64_t x = rnd % s->total;
    size_t lo = 0, hi = s->n_leaves - 1;

    while (lo < hi) { /* the first cumulative weight above x */
        size_t mid = lo + (hi - lo) / 2;
        if (s->cumulative[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

double
balance_cost(const struct disc_endpoint *ep, uint64_t now_ms)
{
    double ewma = ep->stamp_ms == 0 ? BALANCE_DEFAULT_RTT_MS : ep->ewma_ms;
    uint32_t factor = ep->failures + 1;

    if (ep->stamp_ms != 0 && now_ms > ep->stamp_ms)
        ewma *= balance_exp(-(double)(now_ms - ep->stamp_ms) / BALANCE_TAU_MS);
    if (factor > BALANCE_MAX_FAILURE_FACTOR)
        factor = BALANCE_MAX_FAILURE_FACTOR;
    return (ewma + 0.001) * (double)(ep->pending + 1) * (double)factor;
}

struct disc_endpoint *
balance_pick_endpoint(struct disc_endpoint *eps, size_t n, struct st_rng *rng, uint64_t now_ms)
{
    if (n == 0)
        return NULL;
    if (n == 1)
        return &eps[0];
    size_t a = (size_t)st_rng_below(rng, n);
    size_t b = (size_t)st_rng_below(rng, n - 1);
    if (b >= a)
        b++; /* two distinct endpoints */
    return balance_cost(&eps[a], now_ms) <= balance_cost(&eps[b], now_ms) ? &eps[a] : &eps[b];
}

void
balance_start(struct disc_endpoint *ep)
{
    ep->pending++;
}

void
balance_observe(struct disc_endpoint *ep, uint64_t rtt_ms, bool ok, uint64_t now_ms)
{
    double rtt = ok ? (double)rtt_ms : ST_MAX((double)rtt_ms, BALANCE_PENALTY_MS);

    if (ep->pending > 0)
        ep->pending--;
    ep->failures = ok ? 0 : ep->failures + 1;
    if (ep->stamp_ms == 0 || rtt > ep->ewma_ms) {
        ep->ewma_ms = rtt; /* peak: jump up at once */
    } else {
        double w = balance_exp(-(double)(now_ms - ep->stamp_ms) / BALANCE_TAU_MS);
        ep->ewma_ms = ep->ewma_ms * w + rtt * (1.0 - w);
    }
    ep->stamp_ms = now_ms != 0 ? now_ms : 1;
}
