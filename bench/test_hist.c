/* Unit tests for the benchmark's log-linear histogram (bench/hist.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "hist.h"
#include "strait/core.h"

static struct hist *
test_hist_new(void)
{
    struct hist *h = st_xmalloc(sizeof(*h));
    hist_init(h);
    return h;
}

static void
test_empty(void **state)
{
    struct hist *h = test_hist_new();

    assert_int_equal(h->count, 0);
    assert_int_equal(hist_quantile(h, 0.5), 0);
    assert_int_equal(hist_quantile(h, 1.0), 0);
    assert_int_equal(hist_quantile(h, 0.0), 0);
    assert_true(hist_mean(h) == 0.0);
    free(h);
}

static void
test_layout(void **state)
{
    /* Buckets tile the range without gaps or overlaps, in increasing order. */
    assert_int_equal(hist_bucket_low(0), 0);
    for (unsigned i = 0; i + 1 < HIST_BUCKETS; i++) {
        assert_true(hist_bucket_low(i) <= hist_bucket_high(i));
        assert_true(hist_bucket_low(i + 1) == hist_bucket_high(i) + 1);
    }
    assert_true(hist_bucket_high(HIST_BUCKETS - 1) >= HIST_MAX_VALUE);
    assert_true(hist_index(HIST_MAX_VALUE) < HIST_BUCKETS);
    assert_int_equal(hist_index(UINT64_MAX), hist_index(HIST_MAX_VALUE));

    /* Every value lies in its bucket, and buckets above 255 are < 1/128 wide. */
    struct st_rng rng;
    st_rng_seed(&rng);
    for (int n = 0; n < 100000; n++) {
        uint64_t v = st_rng_next(&rng) >> (st_rng_below(&rng, 64));
        if (v > HIST_MAX_VALUE)
            v %= HIST_MAX_VALUE;
        unsigned i = hist_index(v);
        uint64_t lo = hist_bucket_low(i), hi = hist_bucket_high(i);
        assert_true(lo <= v && v <= hi);
        if (v >= 256)
            assert_true((hi - lo + 1) * 128 <= lo);
        else
            assert_true(lo == v && hi == v);
    }
}

static void
test_exact_small(void **state)
{
    struct hist *h = test_hist_new();

    for (uint64_t v = 1; v <= 100; v++)
        hist_record(h, v);
    assert_int_equal(h->count, 100);
    assert_int_equal(hist_quantile(h, 0.5), 50);
    assert_int_equal(hist_quantile(h, 0.99), 99);
    assert_int_equal(hist_quantile(h, 0.999), 100);
    assert_int_equal(hist_quantile(h, 1.0), 100);
    assert_int_equal(hist_quantile(h, 0.0), 1);
    assert_int_equal(hist_quantile(h, 0.001), 1);
    assert_true(hist_mean(h) > 50.49 && hist_mean(h) < 50.51);
    free(h);
}

/* The quantile is an upper bound within 1/128 of the true value. */
static void
assert_close_above(uint64_t got, uint64_t want)
{
    assert_true(got >= want);
    assert_true((got - want) * 128 <= want);
}

static void
test_relative_error(void **state)
{
    struct hist *h = test_hist_new();

    /* 1 us .. 100 ms in steps of 1 us, as nanoseconds. */
    for (uint64_t i = 1; i <= 100000; i++)
        hist_record(h, i * 1000);
    assert_close_above(hist_quantile(h, 0.5), 50000ull * 1000);
    assert_close_above(hist_quantile(h, 0.99), 99000ull * 1000);
    assert_close_above(hist_quantile(h, 0.999), 99900ull * 1000);
    assert_int_equal(hist_quantile(h, 1.0), 100000ull * 1000);
    assert_int_equal(h->min, 1000);
    free(h);
}

static void
test_outliers(void **state)
{
    struct hist *h = test_hist_new();

    /* 999 fast answers and one stall: p99.9 is still fast, the max is not. */
    hist_record_n(h, 1000000, 999);
    hist_record(h, 1000000000);
    assert_close_above(hist_quantile(h, 0.999), 1000000);
    assert_int_equal(hist_quantile(h, 1.0), 1000000000);

    /* A second stall moves p99.9 to the stall, capped by the exact max. */
    hist_record(h, 1000000000);
    assert_int_equal(hist_quantile(h, 0.999), 1000000000);
    assert_int_equal(hist_quantile(h, 0.5), hist_bucket_high(hist_index(1000000)));
    free(h);
}

static void
test_clamp(void **state)
{
    struct hist *h = test_hist_new();

    hist_record(h, 100ull * 1000 * 1000 * 1000);
    hist_record(h, UINT64_MAX);
    hist_record(h, 5);
    assert_int_equal(h->count, 3);
    assert_int_equal(h->clamped, 2);
    assert_int_equal(h->max, HIST_MAX_VALUE);
    assert_int_equal(hist_quantile(h, 1.0), HIST_MAX_VALUE);
    assert_int_equal(hist_quantile(h, 0.5), HIST_MAX_VALUE);
    assert_int_equal(hist_quantile(h, 0.3), 5);
    free(h);
}

static void
test_merge(void **state)
{
    struct hist *a = test_hist_new(), *b = test_hist_new(), *all = test_hist_new();
    struct hist *empty = test_hist_new();

    for (uint64_t i = 0; i < 5000; i++) {
        uint64_t v = 1000 + i * 7919 % 100000;
        hist_record(i % 3 ? a : b, v);
        hist_record(all, v);
    }
    hist_record(b, 200ull * 1000 * 1000 * 1000);
    hist_record(all, 200ull * 1000 * 1000 * 1000);

    hist_merge(a, empty);
    assert_int_equal(a->count, 3333);
    hist_merge(a, b);
    assert_int_equal(a->count, all->count);
    assert_int_equal(a->clamped, 1);
    assert_int_equal(a->min, all->min);
    assert_int_equal(a->max, all->max);
    assert_memory_equal(a->counts, all->counts, sizeof(a->counts));
    const double qs[] = {0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0};
    for (size_t i = 0; i < ST_ARRAY_LEN(qs); i++)
        assert_int_equal(hist_quantile(a, qs[i]), hist_quantile(all, qs[i]));

    /* Merging into an empty histogram copies it; the source is unchanged. */
    hist_merge(empty, b);
    assert_int_equal(empty->count, b->count);
    assert_int_equal(empty->min, b->min);
    assert_int_equal(b->count, 1667 + 1);
    free(a);
    free(b);
    free(all);
    free(empty);
}

static void
test_record_n_zero(void **state)
{
    struct hist *h = test_hist_new();

    hist_record_n(h, 42, 0);
    assert_int_equal(h->count, 0);
    assert_int_equal(h->min, UINT64_MAX);
    assert_int_equal(hist_quantile(h, 0.5), 0);
    free(h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_exact_small),  cmocka_unit_test(test_relative_error),
        cmocka_unit_test(test_outliers),     cmocka_unit_test(test_clamp),
        cmocka_unit_test(test_merge),        cmocka_unit_test(test_record_n_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
