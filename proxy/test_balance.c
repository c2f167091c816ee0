/* Unit tests for the balancer: weighted leaf picks and P2C over peak EWMA. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "balance.c" /* for the static balance_exp() */

/* Relative distance of <got> from libm's exp(<x>). */
static double
rel_err(double got, double x)
{
    double want = exp(x);
    return fabs(got - want) / want;
}

static void
test_exp_matches_libm(void **state)
{
    double worst = 0;

    assert_true(balance_exp(0.0) == 1.0);
    assert_true(balance_exp(-0.0) == 1.0);
    /* The decay arguments: -(elapsed ms) / 10,000, a millisecond apart over the first
     * minute, then coarser out to the smallest normal result. */
    for (int64_t ms = 0; ms <= 600000; ms++) {
        double x = -(double)ms / BALANCE_TAU_MS;
        worst = fmax(worst, rel_err(balance_exp(x), x));
    }
    for (double x = -60.0; x > -708.0; x -= 0.0137)
        worst = fmax(worst, rel_err(balance_exp(x), x));
    /* Positive arguments are not used but work as well. */
    for (double x = 0.001; x < 709.0; x += 0.0731)
        worst = fmax(worst, rel_err(balance_exp(x), x));
    assert_true(worst < 1e-15);

    /* Below e^-708 the weight is 0, as is NaN; a huge gap decays to exactly 0. */
    assert_true(balance_exp(-708.5) == 0.0);
    assert_true(balance_exp(-1e300) == 0.0);
    assert_true(balance_exp(-INFINITY) == 0.0);
    assert_true(balance_exp(NAN) == 0.0);
    assert_true(balance_exp(-(double)UINT64_MAX / BALANCE_TAU_MS) == 0.0);
}

static void
test_cost_decays(void **state)
{
    struct disc_endpoint ep = {0};

    balance_observe(&ep, 100, true, 1000);
    /* One time constant later the estimate is 100/e (plus the 0.001 floor). */
    double c = balance_cost(&ep, 1000 + 10000);
    assert_true(fabs(c - (100.0 * exp(-1.0) + 0.001)) < 1e-9);
    /* A lower sample moves the estimate by the decay weight of the gap. */
    balance_observe(&ep, 10, true, 1000 + 5000);
    double w = exp(-0.5);
    assert_true(fabs(ep.ewma_ms - (100.0 * w + 10.0 * (1.0 - w))) < 1e-9);
    /* Hours later only the floor is left. */
    assert_true(fabs(balance_cost(&ep, 6000 + 36000000) - 0.001) < 1e-9);
}

static void
test_pick_leaf_bounds(void **state)
{
    uint64_t cum[3] = {500, 500, 1500}; /* weights 500, 0, 1000 */
    struct disc_split s = {.n_leaves = 3, .cumulative = cum, .total = 1500};

    assert_int_equal(balance_pick_leaf(&s, 0), 0);
    assert_int_equal(balance_pick_leaf(&s, 499), 0);
    assert_int_equal(balance_pick_leaf(&s, 500), 2); /* a zero weight is never picked */
    assert_int_equal(balance_pick_leaf(&s, 1499), 2);
    assert_int_equal(balance_pick_leaf(&s, 1500), 0); /* wraps modulo the total */
}

static void
test_pick_leaf_distribution(void **state)
{
    uint64_t cum[2] = {250, 1000};
    struct disc_split s = {.n_leaves = 2, .cumulative = cum, .total = 1000};
    struct st_rng rng;
    size_t hits[2] = {0, 0};

    st_rng_seed(&rng);
    for (int i = 0; i < 40000; i++)
        hits[balance_pick_leaf(&s, st_rng_next(&rng))]++;
    /* 25 % +- 2 points. */
    assert_in_range(hits[0], 9200, 10800);
    assert_int_equal(hits[0] + hits[1], 40000);
}

static void
test_p2c_prefers_fast_and_idle(void **state)
{
    struct disc_endpoint eps[2] = {0};
    struct st_rng rng;
    uint64_t now = 100000;
    size_t first = 0;

    st_rng_seed(&rng);
    balance_observe(&eps[0], 5, true, now);   /* fast */
    balance_observe(&eps[1], 200, true, now); /* slow */
    for (int i = 0; i < 1000; i++)
        first += balance_pick_endpoint(eps, 2, &rng, now) == &eps[0];
    assert_int_equal(first, 1000); /* with two endpoints both are always compared */

    /* Pending requests raise the cost: 50 in flight on the fast one flips the choice. */
    for (int i = 0; i < 50; i++)
        balance_start(&eps[0]);
    assert_ptr_equal(balance_pick_endpoint(eps, 2, &rng, now), &eps[1]);
    for (int i = 0; i < 50; i++)
        balance_observe(&eps[0], 5, true, now);
    assert_int_equal(eps[0].pending, 0);
    assert_ptr_equal(balance_pick_endpoint(eps, 2, &rng, now), &eps[0]);
}

static void
test_failure_penalty_and_recovery(void **state)
{
    struct disc_endpoint eps[2] = {0};
    struct st_rng rng;
    uint64_t now = 100000;

    st_rng_seed(&rng);
    balance_observe(&eps[0], 10, true, now);
    balance_observe(&eps[1], 40, true, now);
    balance_start(&eps[0]);
    balance_observe(&eps[0], 1, false, now); /* a connection failure */
    assert_int_equal(eps[0].failures, 1);
    assert_true(eps[0].ewma_ms >= 1000.0);
    assert_ptr_equal(balance_pick_endpoint(eps, 2, &rng, now), &eps[1]);
    /* Peak EWMA: a spike is taken at once, and decays over time. */
    double before = balance_cost(&eps[0], now);
    double later = balance_cost(&eps[0], now + 60000);
    assert_true(later < before / 100);
    balance_observe(&eps[0], 10, true, now + 60000);
    assert_int_equal(eps[0].failures, 0);
}

static void
test_pick_endpoint_edges(void **state)
{
    struct disc_endpoint one = {0};
    struct st_rng rng;

    st_rng_seed(&rng);
    assert_null(balance_pick_endpoint(NULL, 0, &rng, 1));
    assert_ptr_equal(balance_pick_endpoint(&one, 1, &rng, 1), &one);
    /* An endpoint never measured has a default cost, neither zero nor a penalty. */
    assert_true(balance_cost(&one, 1) > 1.0 && balance_cost(&one, 1) < 100.0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exp_matches_libm),
        cmocka_unit_test(test_cost_decays),
        cmocka_unit_test(test_pick_leaf_bounds),
        cmocka_unit_test(test_pick_leaf_distribution),
        cmocka_unit_test(test_p2c_prefers_fast_and_idle),
        cmocka_unit_test(test_failure_penalty_and_recovery),
        cmocka_unit_test(test_pick_endpoint_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
