/* Unit tests for the routes parser, canonical authorities and resolution. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "discovery.h"

static const char routes[] =
    "{\"services\": {"
    " \"backend-one-svc.multicluster-test.svc.cluster.local:8888\": {\"endpoints\": ["
    "   {\"addr\": \"127.0.0.1:14143\", \"identity\": \"one.id\", \"target_port\": 8888}]},"
    " \"backend-one-svc-remote.multicluster-test:8888\": {\"endpoints\": ["
    "   {\"addr\": \"127.0.0.3:4143\", \"identity\": \"gw.id\","
    "    \"target_authority\": \"backend-one-svc.multicluster-test.svc.cluster.local:8888\"}]},"
    " \"empty:80\": {\"endpoints\": []}},"
    " \"splits\": {\"backend-zero-svc.multicluster-test.svc.cluster.local:8888\": {\"leaves\": ["
    "   {\"service\": \"backend-one-svc.multicluster-test.svc.cluster.local:8888\", \"weight\": 1},"
    "   {\"service\": \"backend-one-svc-remote.multicluster-test.svc.cluster.local:8888\","
    "    \"weight\": \"1000m\"}]}}}";

static char *
canon(const char *a)
{
    return discovery_canon(st_str_c(a), "multicluster-test", "cluster.local");
}

static void
test_canon(void **state)
{
    char *c;

    c = canon("backend-zero-svc:8888");
    assert_string_equal(c, "backend-zero-svc.multicluster-test.svc.cluster.local:8888");
    free(c);
    c = canon("Backend.Other");
    assert_string_equal(c, "backend.other.svc.cluster.local:80");
    free(c);
    c = canon("a.b.svc:9");
    assert_string_equal(c, "a.b.svc.cluster.local:9");
    free(c);
    c = canon("example.com.:443");
    assert_string_equal(c, "example.com:443");
    free(c);
    c = canon("10.0.0.1:80");
    assert_string_equal(c, "10.0.0.1:80");
    free(c);
    assert_null(canon(""));
    assert_null(canon("a:0"));
    assert_null(canon("a:65536"));
    assert_null(canon("a b:80"));
    assert_null(canon("a:8x"));
    assert_null(canon("[::1"));
}

static void
test_load_and_resolve(void **state)
{
    struct disc_table *t = NULL;
    struct st_err err = {0};
    struct disc_target tg;
    struct st_rng rng;
    size_t remote = 0;

    st_rng_seed(&rng);
    assert_int_equal(
        discovery_load_json(routes, strlen(routes), "multicluster-test", "cluster.local", &t, &err),
        0);
    assert_int_equal(t->n_svcs, 3);
    assert_int_equal(t->n_splits, 1);

    char *c = canon("backend-one-svc:8888");
    assert_int_equal(discovery_resolve(t, c, &rng, 1, &tg), 0);
    free(c);
    assert_null(tg.split);
    assert_string_equal(tg.svc->name, "backend-one-svc");
    assert_string_equal(tg.svc->namespace_, "multicluster-test");
    assert_string_equal(tg.ep->identity, "one.id");
    assert_int_equal(tg.ep->target_port, 8888);

    /* The split picks each leaf about half the time; the remote leaf names its gateway. */
    c = canon("backend-zero-svc:8888");
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(discovery_resolve(t, c, &rng, 1, &tg), 0);
        assert_non_null(tg.split);
        if (strcmp(tg.svc->name, "backend-one-svc-remote") == 0) {
            remote++;
            assert_string_equal(tg.ep->target_authority,
                                "backend-one-svc.multicluster-test.svc.cluster.local:8888");
        }
    }
    free(c);
    assert_in_range(remote, 850, 1150);

    assert_int_equal(discovery_resolve(t, "nope.x.svc.cluster.local:80", &rng, 1, &tg),
                     ST_ENOTFOUND);
    c = canon("empty.multicluster-test:80");
    assert_int_equal(discovery_resolve(t, c, &rng, 1, &tg), -EHOSTUNREACH);
    free(c);
    discovery_table_unref(t);
}

static void
test_load_errors(void **state)
{
    static const char *const bad[] = {
        "[]",
        "{\"services\": []}",
        "{\"services\": {\"a:80\": {}}}",
        "{\"services\": {\"a:80\": {\"endpoints\": [{\"addr\": \"nohost\", \"identity\": "
        "\"x\"}]}}}",
        "{\"services\": {\"a:80\": {\"endpoints\": [{\"addr\": \"127.0.0.1:1\"}]}}}",
        "{\"services\": {\"a:80\": {\"endpoints\": [{\"addr\": \"127.0.0.1:1\", \"identity\": "
        "\"x\", \"target_port\": 70000}]}}}",
        "{\"services\": {\"bad host:80\": {\"endpoints\": []}}}",
        "{\"services\": {\"a:80\": {\"endpoints\": []}, \"a.default.svc.cluster.local:80\": "
        "{\"endpoints\": []}}}",
        "{\"splits\": {\"a:80\": {\"leaves\": []}}}",
        "{\"splits\": {\"a:80\": {\"leaves\": [{\"service\": \"b:80\", \"weight\": -1}]}}}",
        "{\"splits\": {\"a:80\": {\"leaves\": [{\"service\": \"b:80\", \"weight\": \"x\"}]}}}",
        "{\"splits\": {\"a:80\": {\"leaves\": [{\"weight\": 1}]}}}",
        "{",
    };

    for (size_t i = 0; i < ST_ARRAY_LEN(bad); i++) {
        struct disc_table *t = NULL;
        struct st_err err = {0};
        int rc = discovery_load_json(bad[i], strlen(bad[i]), "default", "cluster.local", &t, &err);
        if (rc >= 0)
            fail_msg("accepted: %s", bad[i]);
        assert_null(t);
        assert_true(err.msg[0] != '\0');
    }
}

static void
test_poll_file(void **state)
{
    char path[] = "/tmp/strait-test-routes-XXXXXX";
    int fd = mkstemp(path);
    struct discovery *d = discovery_new(path, "multicluster-test", "cluster.local");
    struct st_err err = {0};

    assert_true(fd >= 0);
    assert_int_equal(write(fd, routes, strlen(routes)), (ssize_t)strlen(routes));
    close(fd);
    assert_int_equal(discovery_poll_file(d, &err), 1);
    assert_non_null(discovery_table(d));
    assert_int_equal(discovery_poll_file(d, &err), 0);
    /* A broken rewrite keeps the old table. */
    assert_int_equal(st_file_write_atomic(path, "{broken", 7, 0644), 0);
    assert_true(discovery_poll_file(d, &err) < 0);
    assert_non_null(discovery_table(d));
    assert_int_equal(discovery_table(d)->n_svcs, 3);
    assert_int_equal(st_file_write_atomic(path, "{}", 2, 0644), 0);
    assert_int_equal(discovery_poll_file(d, &err), 1);
    assert_int_equal(discovery_table(d)->n_svcs, 0);
    discovery_free(d);
    unlink(path);
}

static void
test_memo(void **state)
{
    struct discovery *d = discovery_new(NULL, "ns", "cluster.local");
    char big[DISC_MEMO_MAX_KEY + 1];
    const char *v;
    size_t n = 99;

    (void)state;
    assert_null(discovery_memo_get(d, "a", 1, &n));
    assert_int_equal(n, 99);
    v = discovery_memo_put(d, "a", 1, "one", 3);
    assert_string_equal(v, "one");
    v = discovery_memo_get(d, "a", 1, &n);
    assert_non_null(v);
    assert_int_equal(n, 3);
    assert_memory_equal(v, "one", 3);
    /* Keys are bytes with their length: a prefix or a longer key is another key. */
    assert_null(discovery_memo_get(d, "a\0", 2, &n));
    assert_null(discovery_memo_get(d, "", 0, &n));
    /* A put of the same key replaces the value; an empty value is a value. */
    discovery_memo_put(d, "a", 1, "", 0);
    v = discovery_memo_get(d, "a", 1, &n);
    assert_non_null(v);
    assert_int_equal(n, 0);
    /* Many keys: each get answers its own value or nothing, never another key's. */
    for (int i = 0; i < 3 * DISC_MEMO_SLOTS; i++) {
        char k[16];
        int kn = snprintf(k, sizeof(k), "k%d", i);
        discovery_memo_put(d, k, (size_t)kn, &i, sizeof(i));
    }
    int hits = 0;
    for (int i = 0; i < 3 * DISC_MEMO_SLOTS; i++) {
        char k[16];
        int kn = snprintf(k, sizeof(k), "k%d", i);
        const int *p = discovery_memo_get(d, k, (size_t)kn, &n);
        if (p != NULL) {
            assert_int_equal(n, sizeof(int));
            assert_int_equal(*p, i);
            hits++;
        }
    }
    assert_true(hits > 0 && hits <= DISC_MEMO_SLOTS);
    /* Keys over the cap are not memoised. */
    memset(big, 'x', sizeof(big));
    assert_null(discovery_memo_put(d, big, sizeof(big), "v", 1));
    assert_null(discovery_memo_get(d, big, sizeof(big), &n));
    discovery_free(d);
    discovery_free(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canon),
        cmocka_unit_test(test_load_and_resolve),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_poll_file),
        cmocka_unit_test(test_memo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
