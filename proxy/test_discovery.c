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

static struct st_sockaddr
addr(const char *text)
{
    struct st_sockaddr a;

    assert_int_equal(st_sock_parse_addr(text, &a), 0);
    return a;
}

/* The app-address index of a table: every workload endpoint by IP and target port. */
static void
test_find_endpoint_index(void **state)
{
    enum { N = 3000 };
    struct st_buf b = ST_BUF_INIT(0);
    struct disc_table *t = NULL;
    struct disc_service *svc = NULL;
    struct st_err err = {0};
    struct st_sockaddr a;

    (void)state;
    /* N services with one endpoint each (10.1.x.y, target port 8000 + i % 7), plus shapes. */
    assert_int_equal(st_buf_append_str(&b, "{\"services\": {"), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(st_buf_appendf(&b,
                                        "\"s%d:80\": {\"endpoints\": [{\"addr\": "
                                        "\"10.1.%d.%d:4143\", \"identity\": \"id%d\", "
                                        "\"target_port\": %d}]},",
                                        i, i / 250, i % 250 + 1, i, 8000 + i % 7),
                         0);
    assert_int_equal(st_buf_append_str(&b,
                                       /* No target port: the service's port is the app's. */
                                       "\"plain:9090\": {\"endpoints\": [{\"addr\": "
                                       "\"10.2.0.1:4143\", \"identity\": \"plain\"}]},"
                                       /* The same app address again: the first one wins. */
                                       "\"zz-dup:80\": {\"endpoints\": [{\"addr\": "
                                       "\"10.1.0.1:4143\", \"identity\": \"dup\", "
                                       "\"target_port\": 8000}]},"
                                       /* A gateway stands for no app at its address. */
                                       "\"gw:80\": {\"endpoints\": [{\"addr\": "
                                       "\"10.3.0.1:4143\", \"identity\": \"gw\", "
                                       "\"target_port\": 4143, \"target_authority\": "
                                       "\"x.y.svc.cluster.local:80\"}]},"
                                       "\"v6:80\": {\"endpoints\": [{\"addr\": "
                                       "\"[fd00::5]:4143\", \"identity\": \"six\", "
                                       "\"target_port\": 7000}]}}}"),
                     0);
    assert_int_equal(discovery_load_json(b.data, b.len, "ns", "cluster.local", &t, &err), 0);
    st_buf_free(&b);
    assert_true(t->app_cap >= (size_t)N + 3);

    for (int i = 0; i < N; i++) {
        char text[64], id[16];
        snprintf(text, sizeof(text), "10.1.%d.%d:%d", i / 250, i % 250 + 1, 8000 + i % 7);
        snprintf(id, sizeof(id), "id%d", i);
        a = addr(text);
        struct disc_endpoint *e = discovery_find_endpoint(t, &a, &svc);
        assert_non_null(e);
        assert_string_equal(e->identity, id);
        assert_int_equal(svc->n_eps, 1);
        assert_ptr_equal(&svc->eps[0], e);
        /* Another port of the same IP is not that workload's app. */
        snprintf(text, sizeof(text), "10.1.%d.%d:%d", i / 250, i % 250 + 1, 9000 + i % 7);
        a = addr(text);
        assert_null(discovery_find_endpoint(t, &a, NULL));
    }
    /* Table order decides between endpoints of one address ("s0" comes first). */
    a = addr("10.1.0.1:8000");
    assert_string_equal(discovery_find_endpoint(t, &a, &svc)->identity, "id0");
    assert_string_equal(svc->authority, "s0:80"); /* ends in a digit: kept as written */
    a = addr("10.2.0.1:9090");
    assert_string_equal(discovery_find_endpoint(t, &a, &svc)->identity, "plain");
    a = addr("10.2.0.1:4143");
    assert_null(discovery_find_endpoint(t, &a, NULL));
    a = addr("10.3.0.1:4143");
    assert_null(discovery_find_endpoint(t, &a, NULL));
    a = addr("[fd00::5]:7000");
    assert_string_equal(discovery_find_endpoint(t, &a, NULL)->identity, "six");
    a = addr("10.9.9.9:8000");
    assert_null(discovery_find_endpoint(t, &a, NULL));
    assert_null(discovery_find_endpoint(NULL, &a, NULL));

    /* A new table (a reload) has its own index: the old addresses are gone. */
    struct discovery *d = discovery_new(NULL, "ns", "cluster.local");
    discovery_set_table(d, t);
    a = addr("10.1.3.4:8004"); /* i = 753 */
    assert_non_null(discovery_find_endpoint(discovery_table(d), &a, NULL));
    static const char small[] = "{\"services\": {\"only:80\": {\"endpoints\": [{\"addr\": "
                                "\"10.7.0.1:4143\", \"identity\": \"only\", "
                                "\"target_port\": 81}]}, \"none:80\": {\"endpoints\": []}}}";
    struct disc_table *t2 = NULL;
    assert_int_equal(discovery_load_json(small, strlen(small), "ns", "cluster.local", &t2, &err),
                     0);
    discovery_set_table(d, t2);
    assert_null(discovery_find_endpoint(discovery_table(d), &a, NULL));
    a = addr("10.7.0.1:81");
    assert_string_equal(discovery_find_endpoint(discovery_table(d), &a, NULL)->identity, "only");
    discovery_free(d);

    /* A table without workload endpoints has no index and finds nothing. */
    static const char empty[] = "{\"services\": {\"none:80\": {\"endpoints\": []}}}";
    assert_int_equal(discovery_load_json(empty, strlen(empty), "ns", "cluster.local", &t, &err),
                     0);
    assert_int_equal(t->app_cap, 0);
    assert_null(discovery_find_endpoint(t, &a, NULL));
    discovery_table_unref(t);
}

/* The negative cache: TTL, renewal, the bound and its eviction order. */
static void
test_negative_cache(void **state)
{
    struct discovery *d = discovery_new(NULL, "ns", "cluster.local");
    char k[32];

    (void)state;
    assert_false(discovery_neg_has(d, "10.0.0.1:80", 0));
    discovery_neg_put(d, "10.0.0.1:80", 1000, 0); /* TTL 0: not kept */
    assert_false(discovery_neg_has(d, "10.0.0.1:80", 1000));
    assert_int_equal(discovery_neg_count(d), 0);

    discovery_neg_put(d, "10.0.0.1:80", 1000, 500);
    assert_true(discovery_neg_has(d, "10.0.0.1:80", 1000));
    assert_true(discovery_neg_has(d, "10.0.0.1:80", 1499));
    assert_false(discovery_neg_has(d, "10.0.0.2:80", 1200));
    /* Expired: gone, and dropped from the cache. */
    assert_false(discovery_neg_has(d, "10.0.0.1:80", 1500));
    assert_int_equal(discovery_neg_count(d), 0);

    /* A renewal extends the same entry. */
    discovery_neg_put(d, "a:80", 2000, 500);
    discovery_neg_put(d, "a:80", 2400, 500);
    assert_int_equal(discovery_neg_count(d), 1);
    assert_true(discovery_neg_has(d, "a:80", 2800));
    assert_false(discovery_neg_has(d, "a:80", 2900));

    /* Bounded: the oldest puts are evicted first. */
    for (int i = 0; i < DISC_NEG_MAX + 10; i++) {
        snprintf(k, sizeof(k), "10.9.%d.%d:80", i / 256, i % 256);
        discovery_neg_put(d, k, 3000, 60000);
    }
    assert_int_equal(discovery_neg_count(d), DISC_NEG_MAX);
    for (int i = 0; i < DISC_NEG_MAX + 10; i++) {
        snprintf(k, sizeof(k), "10.9.%d.%d:80", i / 256, i % 256);
        assert_int_equal(discovery_neg_has(d, k, 3001), i >= 10);
    }
    discovery_free(d);
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
        cmocka_unit_test(test_find_endpoint_index),
        cmocka_unit_test(test_negative_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
