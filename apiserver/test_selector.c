/* Unit tests for label and field selectors (selector.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "selector.h"

/* Parses <sel> as a label selector and matches it against labels given as JSON text. */
static bool
labels_match(const char *sel, const char *labels_json)
{
    struct selector *s = NULL;
    struct st_err err;
    json_t *labels = json_loads(labels_json, 0, NULL);

    assert_int_equal(selector_parse_labels(sel, &s, &err), 0);
    bool ok = selector_match_labels(s, labels);
    json_decref(labels);
    selector_free(s);
    return ok;
}

static int
labels_parse_rc(const char *sel, struct st_err *err)
{
    struct selector *s = (struct selector *)1;
    int rc = selector_parse_labels(sel, &s, err);
    if (rc < 0)
        assert_null(s);
    selector_free(s);
    return rc;
}

static void
test_label_operators(void **state)
{
    const char *l = "{\"app\":\"web\",\"tier\":\"front\",\"mirror.strait.io/exported\":\"true\","
                    "\"n\":\"5\"}";

    assert_true(labels_match("", l));
    assert_true(labels_match("   ", "{}"));
    assert_true(labels_match("app=web", l));
    assert_true(labels_match("app==web", l));
    assert_false(labels_match("app=db", l));
    assert_true(labels_match("app!=db", l));
    assert_false(labels_match("app!=web", l));
    assert_true(labels_match("missing!=x", l));
    assert_true(labels_match("app in (db, web)", l));
    assert_true(labels_match("app in(web)", l));
    assert_false(labels_match("app in (db)", l));
    assert_true(labels_match("app notin (db)", l));
    assert_false(labels_match("app notin (db,web)", l));
    assert_true(labels_match("missing notin (db)", l));
    assert_true(labels_match("app", l));
    assert_false(labels_match("missing", l));
    assert_true(labels_match("!missing", l));
    assert_false(labels_match("!app", l));
    assert_true(labels_match("mirror.strait.io/exported=true", l));
    assert_true(labels_match("app=web, tier = front ,mirror.strait.io/exported", l));
    assert_false(labels_match("app=web,tier=back", l));
    assert_true(labels_match("n>4", l));
    assert_false(labels_match("n<5", l));
    assert_false(labels_match("app>1", l));
    assert_true(labels_match("empty=", "{\"empty\":\"\"}"));
    assert_false(labels_match("empty=", "{}"));
    assert_false(labels_match("app=web", "[1]"));
    assert_true(selector_match_labels(NULL, NULL));
}

static void
test_label_errors(void **state)
{
    struct st_err err;

    assert_int_equal(labels_parse_rc("app=web,", &err), ST_EPARSE);
    assert_non_null(strstr(err.msg, "unable to parse requirement"));
    assert_int_equal(labels_parse_rc("=web", &err), ST_EPARSE);
    assert_int_equal(labels_parse_rc("app=we b", &err), ST_EPARSE);
    assert_int_equal(labels_parse_rc("app=-web", &err), ST_EPARSE);
    assert_non_null(strstr(err.msg, "invalid label value"));
    assert_int_equal(labels_parse_rc("-app=web", &err), ST_EPARSE);
    assert_non_null(strstr(err.msg, "invalid label key"));
    assert_int_equal(labels_parse_rc("Bad_Prefix/app=web", &err), ST_EPARSE);
    assert_int_equal(labels_parse_rc("/app=web", &err), ST_EPARSE);
    assert_int_equal(labels_parse_rc("app in (a", &err), ST_EPARSE);
    assert_int_equal(labels_parse_rc("app in a", &err), ST_EPARSE);
    assert_int_equal(labels_parse_rc("app within (a)", &err), ST_EPARSE);
    assert_int_equal(labels_parse_rc("!app=x", &err), ST_EPARSE);
    assert_int_equal(labels_parse_rc("app>x", &err), ST_EPARSE);
    assert_int_equal(labels_parse_rc("app=b=c", &err), ST_EPARSE);
    char long_value[80];
    memset(long_value, 'a', sizeof(long_value) - 1);
    long_value[sizeof(long_value) - 1] = '\0';
    char *s = st_xasprintf("app=%s", long_value);
    assert_int_equal(labels_parse_rc(s, &err), ST_EPARSE);
    free(s);

    /* Caps: the string length and the term count. */
    char *big = st_xmalloc(SELECTOR_MAX_LEN + 2);
    memset(big, 'a', SELECTOR_MAX_LEN + 1);
    big[SELECTOR_MAX_LEN + 1] = '\0';
    assert_int_equal(labels_parse_rc(big, &err), ST_ETOOBIG);
    free(big);
    struct st_buf b = ST_BUF_INIT(0);
    for (int i = 0; i < SELECTOR_MAX_TERMS + 1; i++)
        assert_int_equal(st_buf_appendf(&b, "%sk%d", i ? "," : "", i), 0);
    assert_int_equal(labels_parse_rc(st_buf_cstr(&b), &err), ST_ETOOBIG);
    st_buf_free(&b);
}

static void
test_label_selector_object(void **state)
{
    struct selector *s = NULL;
    struct st_err err;
    json_t *labels = json_pack("{s:s, s:s}", "app", "web", "env", "prod");
    json_t *ls = json_loads("{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":["
                            "{\"key\":\"env\",\"operator\":\"In\",\"values\":[\"prod\",\"qa\"]},"
                            "{\"key\":\"canary\",\"operator\":\"DoesNotExist\"}]}",
                            0, NULL);

    assert_int_equal(selector_from_label_selector(ls, &s, &err), 0);
    assert_true(selector_match_labels(s, labels));
    json_object_set_new(labels, "canary", json_string("1"));
    assert_false(selector_match_labels(s, labels));
    s = selector_free(s);
    json_decref(ls);

    /* null selects nothing, {} selects everything. */
    assert_int_equal(selector_from_label_selector(NULL, &s, &err), 0);
    assert_false(selector_match_labels(s, labels));
    s = selector_free(s);
    ls = json_object();
    assert_int_equal(selector_from_label_selector(ls, &s, &err), 0);
    assert_true(selector_match_labels(s, labels));
    s = selector_free(s);
    json_decref(ls);

    ls = json_loads("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\",\"values\":[]}]}", 0,
                    NULL);
    assert_int_equal(selector_from_label_selector(ls, &s, &err), ST_EPARSE);
    assert_null(s);
    json_decref(ls);
    ls = json_loads("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Near\"}]}", 0, NULL);
    assert_int_equal(selector_from_label_selector(ls, &s, &err), ST_EPARSE);
    json_decref(ls);
    ls = json_loads("{\"matchLabels\":{\"a\":7}}", 0, NULL);
    assert_int_equal(selector_from_label_selector(ls, &s, &err), ST_EPARSE);
    json_decref(ls);

    /* A Service's spec.selector map. */
    json_t *map = json_pack("{s:s}", "app", "web");
    assert_int_equal(selector_from_map(map, &s, &err), 0);
    assert_true(selector_match_labels(s, labels));
    json_object_set_new(map, "app", json_string("db"));
    s = selector_free(s);
    assert_int_equal(selector_from_map(map, &s, &err), 0);
    assert_false(selector_match_labels(s, labels));
    s = selector_free(s);
    json_decref(map);
    json_decref(labels);
}

static bool
fields_match(const char *sel, const char *obj_json)
{
    struct selector *s = NULL;
    struct st_err err;
    json_t *obj = json_loads(obj_json, 0, NULL);

    assert_int_equal(selector_parse_fields(sel, &s, &err), 0);
    bool ok = selector_match_fields(s, obj);
    json_decref(obj);
    selector_free(s);
    return ok;
}

static void
test_fields(void **state)
{
    const char *o = "{\"metadata\":{\"name\":\"a,b\",\"namespace\":\"default\"},"
                    "\"type\":\"kubernetes.io/service-account-token\","
                    "\"spec\":{\"clusterIP\":\"127.1.128.5\",\"replicas\":3,\"paused\":false}}";

    assert_true(fields_match("", o));
    assert_true(fields_match("metadata.name=a\\,b", o));
    assert_true(fields_match("metadata.name==a\\,b,metadata.namespace=default", o));
    assert_false(fields_match("metadata.namespace!=default", o));
    assert_true(fields_match("metadata.namespace!=kube-system", o));
    assert_true(fields_match("type=kubernetes.io/service-account-token", o));
    assert_true(fields_match("spec.clusterIP=127.1.128.5", o));
    assert_true(fields_match("spec.replicas=3", o));
    assert_true(fields_match("spec.paused=false", o));
    assert_true(fields_match("spec.missing=", o));
    assert_false(fields_match("spec.missing=x", o));
    assert_true(fields_match("spec.missing!=x", o));

    struct selector *s = NULL;
    struct st_err err;
    assert_int_equal(selector_parse_fields("metadata.name", &s, &err), ST_EPARSE);
    assert_non_null(strstr(err.msg, "invalid selector"));
    assert_int_equal(selector_parse_fields("=x", &s, &err), ST_EPARSE);
    assert_int_equal(selector_parse_fields("a..b=x", &s, &err), ST_EPARSE);
    assert_int_equal(selector_parse_fields("a=x=y", &s, &err), ST_EPARSE);
    assert_int_equal(selector_parse_fields("a=x\\q", &s, &err), ST_EPARSE);
    assert_int_equal(selector_parse_fields("a=x,", &s, &err), ST_EPARSE);
    assert_null(s);

    assert_int_equal(selector_parse_fields("metadata.name=x,spec.foo!=y", &s, &err), 0);
    assert_string_equal(selector_field_equals(s, "metadata.name"), "x");
    assert_null(selector_field_equals(s, "spec.foo"));
    const char *allowed[] = {"metadata.name", "metadata.namespace"};
    assert_int_equal(selector_fields_allowed(s, allowed, 2, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "field label not supported: spec.foo"));
    assert_int_equal(selector_fields_allowed(s, allowed, 1 + 1, NULL), ST_EINVAL);
    assert_false(selector_empty(s));
    s = selector_free(s);
    assert_int_equal(selector_parse_fields("metadata.name=x", &s, &err), 0);
    assert_int_equal(selector_fields_allowed(s, allowed, 2, &err), 0);
    /* A field selector never matches labels, and vice versa. */
    assert_false(selector_match_labels(s, NULL));
    s = selector_free(s);
    assert_true(selector_empty(NULL));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_operators),
        cmocka_unit_test(test_label_errors),
        cmocka_unit_test(test_label_selector_object),
        cmocka_unit_test(test_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
