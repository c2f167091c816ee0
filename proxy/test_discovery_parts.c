/*
 * Unit tests for discovery tables built from destination snapshots: parts,
 * their merge with the routes file, leaf shares, balancer state kept across
 * rebuilds, touch records and the string map.
 */
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

#define NS "multicluster-test"
#define ZERO "backend-zero-svc." NS ".svc.cluster.local:8888"
#define ONE "backend-one-svc." NS ".svc.cluster.local:8888"
#define TWO "backend-two-svc." NS ".svc.cluster.local:8888"

static struct disc_part *
part_of(const char *key, const char *line, struct disc_touch *touch)
{
    struct st_dest_snapshot *snap = NULL;
    struct disc_part *p = NULL;
    struct st_err err = {0};

    assert_int_equal(st_dest_snapshot_parse(line, strlen(line), &snap, &err), 0);
    assert_int_equal(discovery_part_from_snapshot(key, snap, "cluster.local", touch, &p, &err), 0);
    st_dest_snapshot_free(snap);
    return p;
}

static const char svc_line[] =
    "{\"kind\":\"service\",\"authority\":\"" ONE "\",\"service\":\"backend-one-svc\","
    "\"namespace\":\"" NS "\",\"port\":8888,\"endpoints\":["
    "{\"addr\":\"127.1.1.2:8888\",\"proxy_port\":4143,\"identity\":\"one.id\",\"ready\":true},"
    "{\"addr\":\"127.1.1.9:8888\",\"proxy_port\":4143,\"identity\":\"nine.id\",\"ready\":false},"
    "{\"addr\":\"127.2.0.3:4143\",\"proxy_port\":4143,\"identity\":\"gw.id\",\"ready\":true,"
    "\"remote_authority\":\"backend-one-svc." NS ".svc.cluster.local:8888\"}]}";

/* A split whose second leaf has no endpoints and whose third has some. */
static const char split_line[] =
    "{\"kind\":\"split\",\"authority\":\"" ZERO "\",\"service\":\"backend-zero-svc\","
    "\"namespace\":\"" NS "\",\"port\":8888,\"split\":\"s\",\"leaves\":["
    "{\"service\":\"" ZERO "\",\"name\":\"backend-zero-svc\",\"namespace\":\"" NS "\","
    "\"weight\":500,\"endpoints\":[{\"addr\":\"127.1.1.1:8888\",\"proxy_port\":4143,"
    "\"identity\":\"zero.id\",\"ready\":true}]},"
    "{\"service\":\"" ONE "\",\"name\":\"backend-one-svc\",\"namespace\":\"" NS "\","
    "\"weight\":500,\"endpoints\":[]},"
    "{\"service\":\"" TWO "\",\"name\":\"backend-two-svc\",\"namespace\":\"" NS "\","
    "\"weight\":500,\"endpoints\":[{\"addr\":\"127.1.1.3:8888\",\"proxy_port\":4143,"
    "\"identity\":\"two.id\",\"ready\":true}]}]}";

static void
test_service_part(void **state)
{
    struct disc_part *p = part_of(ONE, svc_line, NULL);
    struct disc_target tg;
    struct st_rng rng;
    size_t gw = 0;

    (void)state;
    st_rng_seed(&rng);
    assert_true(p->found);
    assert_int_equal(p->t->n_svcs, 1);
    struct disc_service *s = &p->t->svcs[0];
    assert_string_equal(s->name, "backend-one-svc");
    assert_string_equal(s->namespace_, NS);
    assert_int_equal(s->port, 8888);
    assert_int_equal(s->n_eps, 2); /* the not-ready one is left out */
    assert_string_equal(s->eps[0].addr_text, "127.1.1.2:4143");
    assert_int_equal(s->eps[0].target_port, 8888);
    assert_string_equal(s->eps[0].identity, "one.id");
    assert_null(s->eps[0].target_authority);
    assert_string_equal(s->eps[1].addr_text, "127.2.0.3:4143");
    assert_string_equal(s->eps[1].target_authority, ONE);
    for (int i = 0; i < 200; i++) {
        assert_int_equal(discovery_resolve(p->t, ONE, &rng, 1, &tg), 0);
        assert_null(tg.split);
        gw += tg.ep == &s->eps[1];
    }
    assert_in_range(gw, 40, 160);
    discovery_part_unref(p);
}

static void
test_split_shares(void **state)
{
    struct disc_part *p = part_of(ZERO, split_line, NULL);
    struct disc_target tg;
    struct st_rng rng;
    size_t zero = 0, two = 0;

    (void)state;
    st_rng_seed(&rng);
    assert_int_equal(p->t->n_splits, 1);
    assert_int_equal(p->t->n_svcs, 3);
    /* Leaves are not routable on their own: only the apex is. */
    assert_int_equal(discovery_resolve(p->t, ONE, &rng, 1, &tg), ST_ENOTFOUND);
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(discovery_resolve(p->t, ZERO, &rng, 1, &tg), 0);
        assert_non_null(tg.split);
        assert_string_equal(tg.split->name, "backend-zero-svc");
        /* The leaf without endpoints never gets picked: its share goes to the others. */
        assert_string_not_equal(tg.svc->name, "backend-one-svc");
        zero += strcmp(tg.svc->name, "backend-zero-svc") == 0;
        two += strcmp(tg.svc->name, "backend-two-svc") == 0;
        assert_string_equal(tg.svc->namespace_, NS);
    }
    assert_int_equal(zero + two, 2000);
    assert_in_range(zero, 850, 1150);
    discovery_part_unref(p);

    /* No leaf can serve: 503 at once. */
    static const char empty[] =
        "{\"kind\":\"split\",\"authority\":\"" ZERO "\",\"service\":\"backend-zero-svc\","
        "\"namespace\":\"" NS "\",\"port\":8888,\"split\":\"s\",\"leaves\":["
        "{\"service\":\"" ONE "\",\"name\":\"backend-one-svc\",\"namespace\":\"" NS "\","
        "\"weight\":500,\"endpoints\":[]}]}";
    p = part_of(ZERO, empty, NULL);
    assert_int_equal(discovery_resolve(p->t, ZERO, &rng, 1, &tg), -EHOSTUNREACH);
    discovery_part_unref(p);

    /* Weights over DISC_MAX_WEIGHT are scaled together; a weight of 0 stays 0. */
    static const char big[] =
        "{\"kind\":\"split\",\"authority\":\"" ZERO "\",\"service\":\"backend-zero-svc\","
        "\"namespace\":\"" NS "\",\"port\":8888,\"split\":\"s\",\"leaves\":["
        "{\"service\":\"" ONE "\",\"name\":\"a\",\"namespace\":\"" NS "\",\"weight\":1000000000000,"
        "\"endpoints\":[{\"addr\":\"127.1.1.1:1\",\"proxy_port\":4143,\"identity\":\"a\",\"ready\":true}]},"
        "{\"service\":\"" TWO "\",\"name\":\"b\",\"namespace\":\"" NS "\",\"weight\":1,"
        "\"endpoints\":[{\"addr\":\"127.1.1.2:1\",\"proxy_port\":4143,\"identity\":\"b\",\"ready\":true}]},"
        "{\"service\":\"" ZERO "\",\"name\":\"c\",\"namespace\":\"" NS "\",\"weight\":0,"
        "\"endpoints\":[{\"addr\":\"127.1.1.3:1\",\"proxy_port\":4143,\"identity\":\"c\",\"ready\":true}]}]}";
    p = part_of(ZERO, big, NULL);
    assert_true(p->t->splits[0].leaves[0].weight <= DISC_MAX_WEIGHT);
    assert_true(p->t->splits[0].leaves[0].weight >= DISC_MAX_WEIGHT / 2);
    assert_int_equal(p->t->splits[0].leaves[1].weight, 1);
    assert_int_equal(p->t->splits[0].leaves[2].weight, 0);
    discovery_part_unref(p);
}

static void
test_not_found_and_errors(void **state)
{
    struct disc_part *p;
    struct st_dest_snapshot *snap = NULL;
    struct st_err err = {0};
    static const char hb[] = "{\"kind\":\"heartbeat\"}";

    (void)state;
    p = part_of("nothing." NS ".svc.cluster.local:80",
                "{\"kind\":\"not_found\",\"authority\":\"nothing." NS ".svc.cluster.local:80\"}",
                NULL);
    assert_false(p->found);
    assert_null(p->t);
    discovery_part_unref(p);
    assert_int_equal(st_dest_snapshot_parse(hb, strlen(hb), &snap, &err), 0);
    assert_int_equal(discovery_part_from_snapshot("a:80", snap, "cluster.local", NULL, &p, &err),
                     ST_EINVAL);
    st_dest_snapshot_free(snap);
}

static const char file_routes[] =
    "{\"services\": {\"" ONE "\": {\"endpoints\": ["
    "   {\"addr\": \"127.0.0.1:14143\", \"identity\": \"file.id\", \"target_port\": 8888}]},"
    " \"static:80\": {\"endpoints\": [{\"addr\": \"127.0.0.1:14143\", \"identity\": \"s.id\"}]}}}";

static void
test_merge(void **state)
{
    char path[] = "/tmp/strait-test-parts-XXXXXX";
    int fd = mkstemp(path);
    struct discovery *d;
    struct disc_target tg;
    struct st_err err = {0};
    struct st_rng rng;

    (void)state;
    st_rng_seed(&rng);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, file_routes, strlen(file_routes)), (ssize_t)strlen(file_routes));
    close(fd);

    /* Without parts and before the file there is no table; with parts, an empty one. */
    d = discovery_new(NULL, NS, "cluster.local");
    assert_null(discovery_table(d));
    discovery_enable_parts(d);
    assert_non_null(discovery_table(d));
    assert_int_equal(discovery_resolve(discovery_table(d), ZERO, &rng, 1, &tg), ST_ENOTFOUND);
    discovery_free(d);

    d = discovery_new(path, NS, "cluster.local");
    discovery_enable_parts(d);
    assert_int_equal(discovery_poll_file(d, &err), 1);
    assert_true(discovery_file_has(d, ONE));
    assert_false(discovery_file_has(d, ZERO));

    struct disc_touch *touch = discovery_touch_new();
    discovery_set_part(d, part_of(ZERO, split_line, touch));
    /* The file wins for what it names: this part is kept but not merged. */
    discovery_set_part(d, part_of(ONE, svc_line, NULL));
    assert_non_null(discovery_part(d, ONE));
    discovery_set_part(
        d, part_of("nothing." NS ".svc.cluster.local:80",
                   "{\"kind\":\"not_found\",\"authority\":\"nothing." NS
                   ".svc.cluster.local:80\"}",
                   NULL));

    struct disc_table *t = discovery_table(d);
    assert_int_equal(discovery_resolve(t, ONE, &rng, 1, &tg), 0);
    assert_string_equal(tg.ep->identity, "file.id");
    assert_int_equal(discovery_resolve(t, "static.multicluster-test.svc.cluster.local:80", &rng, 1,
                                       &tg),
                     0);
    assert_int_equal(discovery_resolve(t, "nothing." NS ".svc.cluster.local:80", &rng, 1, &tg),
                     ST_ENOTFOUND);
    assert_non_null(discovery_part(d, "nothing." NS ".svc.cluster.local:80"));

    /* Routing with a part records its use, at most once a second per entry. */
    assert_int_equal(discovery_resolve(t, ZERO, &rng, 5000, &tg), 0);
    assert_int_equal(atomic_load(&touch->ms), 5000);
    assert_int_equal(discovery_resolve(t, ZERO, &rng, 5500, &tg), 0);
    assert_int_equal(atomic_load(&touch->ms), 5000);
    assert_int_equal(discovery_resolve(t, ZERO, &rng, 6000, &tg), 0);
    assert_int_equal(atomic_load(&touch->ms), 6000);

    /* Balancer state survives a rebuild; a request in flight keeps its table. */
    struct disc_endpoint *ep = tg.ep;
    balance_start(ep);
    balance_observe(ep, 2000, false, 6000);
    balance_observe(ep, 2000, false, 6000);
    char *addr = st_xstrdup(ep->addr_text);
    struct disc_table *inflight = discovery_table_ref(t);
    discovery_set_part(d, part_of(TWO, "{\"kind\":\"service\",\"authority\":\"" TWO
                                       "\",\"service\":\"backend-two-svc\",\"namespace\":\"" NS
                                       "\",\"port\":8888,\"endpoints\":[]}",
                                  NULL));
    t = discovery_table(d);
    assert_ptr_not_equal(t, inflight);
    size_t found = 0;
    for (size_t i = 0; i < t->n_svcs; i++) {
        for (size_t j = 0; j < t->svcs[i].n_eps; j++) {
            if (t->svcs[i].apex != NULL && strcmp(t->svcs[i].eps[j].addr_text, addr) == 0) {
                assert_int_equal(t->svcs[i].eps[j].failures, 2);
                assert_int_equal(t->svcs[i].eps[j].pending, 0);
                found++;
            }
        }
    }
    assert_int_equal(found, 1);
    assert_int_equal(discovery_resolve(t, TWO, &rng, 1, &tg), -EHOSTUNREACH);
    assert_int_equal(inflight->refs, 1);
    discovery_table_unref(inflight);
    free(addr);

    /* Dropping a part removes its routes. */
    discovery_drop_part(d, ZERO);
    assert_null(discovery_part(d, ZERO));
    assert_int_equal(discovery_resolve(discovery_table(d), ZERO, &rng, 1, &tg), ST_ENOTFOUND);
    discovery_drop_part(d, ZERO); /* twice is fine */
    discovery_touch_unref(touch);
    discovery_free(d);
    unlink(path);
}

static void
test_map(void **state)
{
    struct disc_map m;
    char *keys[500];

    (void)state;
    discovery_map_init(&m);
    assert_null(discovery_map_get(&m, "x"));
    assert_null(discovery_map_del(&m, "x"));
    for (int i = 0; i < 500; i++) {
        keys[i] = st_xasprintf("key-%d", i);
        assert_null(discovery_map_put(&m, keys[i], keys[i]));
    }
    assert_int_equal(m.n, 500);
    assert_ptr_equal(discovery_map_put(&m, keys[7], NULL), keys[7]);
    assert_ptr_equal(discovery_map_put(&m, keys[7], keys[7]), NULL);
    for (int i = 0; i < 500; i += 2)
        assert_ptr_equal(discovery_map_del(&m, keys[i]), keys[i]);
    assert_int_equal(m.n, 250);
    for (int i = 0; i < 500; i++)
        assert_ptr_equal(discovery_map_get(&m, keys[i]), i % 2 ? keys[i] : NULL);
    discovery_map_free(&m);
    for (int i = 0; i < 500; i++)
        free(keys[i]);
}

/* A found part ends a negative entry for its key; a not-found part does not. */
static void
test_negative_cache_and_parts(void **state)
{
    struct discovery *d = discovery_new(NULL, NS, "cluster.local");
    static const char nothing[] = "nothing." NS ".svc.cluster.local:80";

    (void)state;
    discovery_enable_parts(d);
    discovery_neg_put(d, ONE, 100, 5000);
    discovery_neg_put(d, nothing, 100, 5000);
    discovery_set_part(d, part_of(nothing, "{\"kind\":\"not_found\",\"authority\":\"nothing." NS
                                           ".svc.cluster.local:80\"}",
                                  NULL));
    assert_true(discovery_neg_has(d, nothing, 200));
    assert_true(discovery_neg_has(d, ONE, 200));
    discovery_set_part(d, part_of(ONE, svc_line, NULL));
    assert_false(discovery_neg_has(d, ONE, 200));
    assert_true(discovery_has(discovery_table(d), ONE));
    assert_int_equal(discovery_neg_count(d), 1);
    /* The workload endpoint of the part is found by its app address in the merged table. */
    struct st_sockaddr a;
    assert_int_equal(st_sock_parse_addr("127.1.1.2:8888", &a), 0);
    assert_string_equal(discovery_find_endpoint(discovery_table(d), &a, NULL)->identity, "one.id");
    discovery_drop_part(d, ONE);
    assert_null(discovery_find_endpoint(discovery_table(d), &a, NULL));
    discovery_free(d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_part), cmocka_unit_test(test_split_shares),
        cmocka_unit_test(test_not_found_and_errors), cmocka_unit_test(test_merge),
        cmocka_unit_test(test_map), cmocka_unit_test(test_negative_cache_and_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
