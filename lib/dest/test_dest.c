/* Unit tests for lib/dest: the snapshot codec and the back-off schedule. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "strait/dest.h"

static struct st_dest_snapshot *
parse_ok(const char *text)
{
    struct st_dest_snapshot *s = NULL;
    struct st_err err = {0};

    if (st_dest_snapshot_parse(text, strlen(text), &s, &err) != 0)
        fail_msg("refused %s: %s", text, err.msg);
    return s;
}

static int
parse_err(const char *text, char *msg, size_t n)
{
    struct st_dest_snapshot *s = (struct st_dest_snapshot *)1;
    struct st_err err = {0};
    int rc = st_dest_snapshot_parse(text, strlen(text), &s, &err);

    assert_null(s);
    if (msg)
        st_strlcpy(msg, err.msg, n);
    return rc;
}

static void
test_parse_service(void **state)
{
    struct st_dest_snapshot *s = parse_ok(
        "{\"kind\":\"service\",\"authority\":\"web.mc.svc.cluster.local:80\",\"service\":\"web\","
        "\"namespace\":\"mc\",\"port\":80,\"future\":{\"x\":1},\"endpoints\":["
        "{\"addr\":\"127.1.1.1:8080\",\"proxy_port\":4143,\"identity\":\"a.mc.serviceaccount."
        "identity.strait.cluster.local\",\"labels\":{\"app\":\"web\"},\"ready\":true},"
        "{\"addr\":\"127.2.0.3:4143\",\"proxy_port\":4143,\"identity\":\"gw\",\"ready\":false,"
        "\"remote_authority\":\"web.mc.svc.cluster.local:80\"}]}\n");

    assert_int_equal(s->kind, ST_DEST_SERVICE);
    assert_string_equal(s->authority, "web.mc.svc.cluster.local:80");
    assert_string_equal(s->service, "web");
    assert_string_equal(s->namespace_, "mc");
    assert_int_equal(s->port, 80);
    assert_int_equal(s->n_eps, 2);
    assert_string_equal(s->eps[0].addr, "127.1.1.1:8080");
    assert_int_equal(st_sock_addr_port(&s->eps[0].target), 8080);
    assert_int_equal(s->eps[0].proxy_port, 4143);
    assert_true(s->eps[0].ready);
    assert_null(s->eps[0].remote_authority);
    assert_false(s->eps[1].ready);
    assert_string_equal(s->eps[1].remote_authority, "web.mc.svc.cluster.local:80");
    st_dest_snapshot_free(s);
}

static void
test_parse_split_and_others(void **state)
{
    struct st_dest_snapshot *s = parse_ok(
        "{\"kind\":\"split\",\"authority\":\"b0.mc.svc.cluster.local:8888\",\"service\":\"b0\","
        "\"namespace\":\"mc\",\"port\":8888,\"leaves\":["
        "{\"service\":\"b0.mc.svc.cluster.local:8888\",\"name\":\"b0\",\"namespace\":\"mc\","
        "\"weight\":500,\"endpoints\":[{\"addr\":\"127.1.1.10:8888\",\"proxy_port\":4143,"
        "\"identity\":\"x\"}]},"
        "{\"service\":\"b1.mc.svc.cluster.local:8888\",\"name\":\"b1\",\"namespace\":\"mc\","
        "\"weight\":0,\"endpoints\":[]}]}");

    assert_int_equal(s->kind, ST_DEST_SPLIT);
    assert_int_equal(s->n_leaves, 2);
    assert_int_equal(s->leaves[0].weight, 500);
    assert_int_equal(s->leaves[0].n_eps, 1);
    assert_true(s->leaves[0].eps[0].ready); /* absent means ready */
    assert_string_equal(s->leaves[1].name, "b1");
    assert_int_equal(s->leaves[1].n_eps, 0);
    st_dest_snapshot_free(s);

    s = parse_ok("{\"kind\":\"not_found\",\"authority\":\"x.mc.svc.cluster.local:80\"}");
    assert_int_equal(s->kind, ST_DEST_NOT_FOUND);
    assert_string_equal(s->authority, "x.mc.svc.cluster.local:80");
    st_dest_snapshot_free(s);
    s = parse_ok("{\"kind\":\"heartbeat\"}\n");
    assert_int_equal(s->kind, ST_DEST_HEARTBEAT);
    st_dest_snapshot_free(s);
    st_dest_snapshot_free(NULL);
}

static void
test_parse_refusals(void **state)
{
    static const char *const bad[] = {
        "", "\n", "null", "[]", "{}", "{\"kind\":1}", "{\"kind\":\"nope\",\"authority\":\"a\"}",
        "{\"kind\":\"not_found\"}",
        "{\"kind\":\"service\",\"authority\":\"a\",\"service\":\"s\",\"namespace\":\"n\","
        "\"port\":0,\"endpoints\":[]}",
        "{\"kind\":\"service\",\"authority\":\"a\",\"service\":\"s\",\"namespace\":\"n\","
        "\"port\":80}",
        "{\"kind\":\"service\",\"authority\":\"a\",\"service\":\"s\",\"namespace\":\"n\","
        "\"port\":80,\"endpoints\":[{\"addr\":\"web:80\",\"proxy_port\":4143,\"identity\":\"i\"}]}",
        "{\"kind\":\"service\",\"authority\":\"a\",\"service\":\"s\",\"namespace\":\"n\","
        "\"port\":80,\"endpoints\":[{\"addr\":\"1.2.3.4:80\",\"proxy_port\":70000,"
        "\"identity\":\"i\"}]}",
        "{\"kind\":\"service\",\"authority\":\"a\",\"service\":\"s\",\"namespace\":\"n\","
        "\"port\":80,\"endpoints\":[{\"addr\":\"1.2.3.4:80\",\"proxy_port\":1,\"identity\":\"\"}]}",
        "{\"kind\":\"service\",\"authority\":\"a\",\"service\":\"s\",\"namespace\":\"n\","
        "\"port\":80,\"endpoints\":[{\"addr\":\"1.2.3.4:80\",\"proxy_port\":1,\"identity\":\"i\","
        "\"ready\":\"yes\"}]}",
        "{\"kind\":\"split\",\"authority\":\"a\",\"service\":\"s\",\"namespace\":\"n\","
        "\"port\":80,\"leaves\":[{\"service\":\"a\",\"name\":\"a\",\"namespace\":\"n\","
        "\"weight\":-1,\"endpoints\":[]}]}",
        "{\"kind\":\"split\",\"authority\":\"a\",\"service\":\"s\",\"namespace\":\"n\","
        "\"port\":80,\"leaves\":{}}",
        "{\"kind\":\"heartbeat\"} trailing",
    };
    char msg[256];

    for (size_t i = 0; i < ST_ARRAY_LEN(bad); i++)
        if (parse_err(bad[i], msg, sizeof(msg)) != ST_EPARSE)
            fail_msg("accepted or wrong code: %s", bad[i]);
    assert_int_equal(parse_err("{\"kind\":\"service\",\"authority\":\"a\",\"service\":\"s\","
                               "\"namespace\":\"n\",\"port\":80,\"endpoints\":[{\"addr\":"
                               "\"1.2.3.4:80\",\"proxy_port\":1}]}",
                               msg, sizeof(msg)),
                     ST_EPARSE);
    assert_non_null(strstr(msg, "identity"));

    /* Caps: too many endpoints, too many leaves, too deep. */
    struct st_buf b = ST_BUF_INIT(0);
    assert_int_equal(st_buf_append_str(&b, "{\"kind\":\"service\",\"authority\":\"a\",\"service\":"
                                           "\"s\",\"namespace\":\"n\",\"port\":80,\"endpoints\":["),
                     0);
    for (int i = 0; i <= ST_DEST_MAX_ENDPOINTS; i++)
        assert_int_equal(st_buf_appendf(&b, "%s{\"addr\":\"1.2.3.4:80\",\"proxy_port\":1,"
                                            "\"identity\":\"i\"}", i ? "," : ""), 0);
    assert_int_equal(st_buf_append_str(&b, "]}"), 0);
    assert_int_equal(parse_err(b.data, NULL, 0), ST_ETOOBIG);
    st_buf_reset(&b);
    assert_int_equal(st_buf_append_str(&b, "{\"kind\":\"split\",\"authority\":\"a\",\"service\":"
                                           "\"s\",\"namespace\":\"n\",\"port\":80,\"leaves\":["),
                     0);
    for (int i = 0; i <= ST_DEST_MAX_LEAVES; i++)
        assert_int_equal(st_buf_appendf(&b, "%s{\"service\":\"a\",\"name\":\"a\",\"namespace\":"
                                            "\"n\",\"weight\":1,\"endpoints\":[]}", i ? "," : ""),
                         0);
    assert_int_equal(st_buf_append_str(&b, "]}"), 0);
    assert_int_equal(parse_err(b.data, NULL, 0), ST_ETOOBIG);
    st_buf_reset(&b);
    for (int i = 0; i < 40; i++)
        assert_int_equal(st_buf_append_str(&b, "["), 0);
    assert_int_equal(parse_err(b.data, NULL, 0), ST_ETOOBIG);
    st_buf_free(&b);
}

static void
test_backoff(void **state)
{
    for (uint64_t rnd = 0; rnd < 1000; rnd += 37) {
        uint64_t d0 = st_dest_backoff_ms(0, 200, 10000, rnd);
        uint64_t d3 = st_dest_backoff_ms(3, 200, 10000, rnd);
        uint64_t d20 = st_dest_backoff_ms(20, 200, 10000, rnd);
        assert_true(d0 >= 160 && d0 <= 240);
        assert_true(d3 >= 1280 && d3 <= 1920);
        assert_true(d20 >= 8000 && d20 <= 12000);
    }
    /* The jitter spreads retries. */
    assert_int_not_equal(st_dest_backoff_ms(2, 200, 10000, 1),
                         st_dest_backoff_ms(2, 200, 10000, 300));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_service),
        cmocka_unit_test(test_parse_split_and_others),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
