/*
 * Unit tests for the retry rules of proxy.h (docs/proxy.md, "Retries"): when a
 * request the upstream did not process may be sent again, which body bytes
 * are held for it, and how the reason for request_retry_total is told. The
 * rules are pure functions, so no loop or connection is needed; the
 * integration test tests/test_proxy_retry.py drives them through real peers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "proxy.h"

/* A request that may be retried: fresh, client there, 100 body bytes all held. */
static struct retry_facts
fresh(void)
{
    return (struct retry_facts){.body_total = 100, .held = 100};
}

static void
test_fresh_request_may_be_retried(void **state)
{
    struct retry_facts f = fresh();

    ST_UNUSED(state);
    assert_true(retry_allowed(&f));
    f.body_total = f.held = 0; /* no body at all */
    assert_true(retry_allowed(&f));
}

static void
test_once_only(void **state)
{
    struct retry_facts f = fresh();

    ST_UNUSED(state);
    f.retried = true;
    assert_false(retry_allowed(&f));
}

static void
test_not_after_a_response_head(void **state)
{
    struct retry_facts f = fresh();

    ST_UNUSED(state);
    f.resp_head = true;
    assert_false(retry_allowed(&f));
    f = fresh();
    f.continue_seen = true; /* 100 Continue: the upstream began on the request */
    assert_false(retry_allowed(&f));
}

static void
test_not_when_client_gone_or_aborted(void **state)
{
    struct retry_facts f = fresh();

    ST_UNUSED(state);
    f.client_gone = true;
    assert_false(retry_allowed(&f));
    f = fresh();
    f.aborted = true;
    assert_false(retry_allowed(&f));
}

static void
test_body_must_be_held(void **state)
{
    struct retry_facts f = fresh();

    ST_UNUSED(state);
    /* Some bytes sent were not kept: they cannot be sent again. */
    f.held = 99;
    assert_false(retry_allowed(&f));
    f = fresh();
    f.no_replay = true;
    assert_false(retry_allowed(&f));
    /* Exactly at the cap is fine, one byte past it is not. */
    f = fresh();
    f.body_total = f.held = PROXY_RETRY_BODY_MAX;
    assert_true(retry_allowed(&f));
    f.body_total = f.held = PROXY_RETRY_BODY_MAX + 1;
    assert_false(retry_allowed(&f));
}

/*
 * A body streamed to the upstream in pieces, kept by retry_keep as an
 * exchange keeps it: held while it fits in 64 KiB, and the rule says yes with
 * what is held; past 64 KiB the copy is dropped for good.
 */
static void
test_keep_streamed_body(void **state)
{
    static char chunk[16384];
    struct st_buf replay;
    bool no_replay = false;
    uint64_t received = 0, sent = 0;

    ST_UNUSED(state);
    memset(chunk, 'b', sizeof(chunk));
    st_buf_init(&replay, PROXY_RETRY_BODY_MAX);
    while (sent < PROXY_RETRY_BODY_MAX) {
        received += sizeof(chunk); /* the client sent a piece ... */
        retry_keep(&replay, &no_replay, false, chunk, sizeof(chunk)); /* ... it went upstream */
        sent += sizeof(chunk);
        struct retry_facts f = {.body_total = received, .held = replay.len, .no_replay = no_replay};
        assert_false(no_replay);
        assert_int_equal(replay.len, sent);
        assert_true(retry_allowed(&f));
    }
    /* A piece not sent yet still counts as held (it waits in the request pipe). */
    received += 10;
    struct retry_facts waiting = {.body_total = received, .held = replay.len + 10};
    assert_false(retry_allowed(&waiting)); /* 64 KiB + 10 received: past the cap */

    /* One byte more sent: past the cap, nothing is held any more, and never again. */
    retry_keep(&replay, &no_replay, false, "x", 1);
    assert_true(no_replay);
    assert_int_equal(replay.len, 0);
    retry_keep(&replay, &no_replay, false, "y", 1);
    assert_int_equal(replay.len, 0);
    struct retry_facts f = {.body_total = 2, .held = 0, .no_replay = no_replay};
    assert_false(retry_allowed(&f));
    st_buf_free(&replay);
}

static void
test_keep_stops_when_no_retry_can_come(void **state)
{
    struct st_buf replay;
    bool no_replay = false;

    ST_UNUSED(state);
    st_buf_init(&replay, PROXY_RETRY_BODY_MAX);
    retry_keep(&replay, &no_replay, false, "abc", 3);
    retry_keep(&replay, &no_replay, false, NULL, 0); /* a check only: nothing changes */
    assert_false(no_replay);
    assert_int_equal(replay.len, 3);
    assert_memory_equal(replay.data, "abc", 3);
    /* A response head came (or the retry was spent): the bytes go. */
    retry_keep(&replay, &no_replay, true, NULL, 0);
    assert_true(no_replay);
    assert_int_equal(replay.len, 0);
    assert_null(replay.data);
    st_buf_free(&replay);
}

static void
test_reset_reasons(void **state)
{
    ST_UNUSED(state);
    /* RST_STREAM(REFUSED_STREAM) without GOAWAY: refused. */
    assert_string_equal(retry_reset_reason(true, 5, -1), "refused");
    /* Streams above a GOAWAY's last-stream-id were not processed, whatever the code. */
    assert_string_equal(retry_reset_reason(true, 7, 5), "goaway");
    assert_string_equal(retry_reset_reason(false, 7, 5), "goaway");
    /* At or below it the stream may have been processed, unless refused. */
    assert_string_equal(retry_reset_reason(true, 5, 5), "refused");
    assert_null(retry_reset_reason(false, 5, 5));
    assert_null(retry_reset_reason(false, 3, -1));
    /* GOAWAY with last-stream-id 0: every stream we opened is above it. */
    assert_string_equal(retry_reset_reason(false, 1, 0), "goaway");
}

static void
test_unwritten(void **state)
{
    ST_UNUSED(state);
    /* Never serialised, or no connection: certainly not sent. */
    assert_true(retry_unwritten(false, true, 5000, 0));
    assert_true(retry_unwritten(true, false, 0, 100));
    /* Written bytes stop before or at the frame's first byte: not sent. */
    assert_true(retry_unwritten(true, true, 100, 100));
    assert_true(retry_unwritten(true, true, 99, 100));
    /* One byte of the frame went out: the peer may have it. */
    assert_false(retry_unwritten(true, true, 101, 100));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_request_may_be_retried),
        cmocka_unit_test(test_once_only),
        cmocka_unit_test(test_not_after_a_response_head),
        cmocka_unit_test(test_not_when_client_gone_or_aborted),
        cmocka_unit_test(test_body_must_be_held),
        cmocka_unit_test(test_keep_streamed_body),
        cmocka_unit_test(test_keep_stops_when_no_retry_can_come),
        cmocka_unit_test(test_reset_reasons),
        cmocka_unit_test(test_unwritten),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
