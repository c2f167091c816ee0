/*
 * Unit tests for lib/json: capped JSON loading and dumping, path helpers,
 * YAML loading with kubectl's scalar rules and caps, and YAML dumping that
 * loads back to the same JSON.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#include "strait/json.h"

/* Compact JSON text of <v> with insertion order kept; the caller frees it. */
static char *
to_json(const json_t *v)
{
    struct st_buf b = ST_BUF_INIT(0);

    assert_int_equal(st_json_dump(v, &b, 0), 0);
    return st_buf_steal(&b);
}

/* Loads a YAML stream that must succeed and returns its compact JSON. */
static char *
yaml_json(const char *yaml)
{
    struct st_err err;
    json_t *docs = st_yaml_load_all(yaml, strlen(yaml), NULL, &err);

    if (docs == NULL)
        fail_msg("unexpected error: %s", err.msg);
    char *s = to_json(docs);
    json_decref(docs);
    return s;
}

static void
assert_yaml_json(const char *yaml, const char *expected)
{
    char *got = yaml_json(yaml);

    if (strcmp(got, expected) != 0)
        fail_msg("YAML %s\n gave %s\n expected %s", yaml, got, expected);
    free(got);
}

/* Loads YAML that must fail with <code> and a message containing <needle>. */
static void
assert_yaml_fails(const char *yaml, const struct st_yaml_limits *lim, int code, const char *needle)
{
    struct st_err err;
    json_t *docs = st_yaml_load_all(yaml, strlen(yaml), lim, &err);

    if (docs != NULL) {
        char *s = to_json(docs);
        fail_msg("YAML %s loaded as %s", yaml, s);
    }
    assert_int_equal(err.code, code);
    if (needle != NULL && strstr(err.msg, needle) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
}

/* Dumps <v> as YAML, loads it back and requires an equal value; returns the YAML. */
static char *
round_trip(const json_t *v)
{
    struct st_buf b = ST_BUF_INIT(0);
    struct st_err err;

    assert_int_equal(st_yaml_dump(v, &b), 0);
    json_t *back = st_yaml_load(b.data, b.len, NULL, &err);
    if (back == NULL)
        fail_msg("dump did not load: %s\n%s", err.msg, b.data);
    if (!json_equal(v, back)) {
        char *a = to_json(v), *c = to_json(back);
        fail_msg("round trip changed %s into %s via\n%s", a, c, b.data);
    }
    json_decref(back);
    return st_buf_steal(&b);
}

/* ---- JSON ------------------------------------------------------------------ */

static void
test_json_load_ok(void **state)
{
    struct st_err err;
    const char *text = "{\"b\": 1, \"a\": [true, null, 1.5, \"x\"]}";
    json_t *v = st_json_load(text, strlen(text), 0, &err);

    assert_non_null(v);
    char *s = to_json(v);
    assert_string_equal(s, "{\"b\":1,\"a\":[true,null,1.5,\"x\"]}");
    free(s);
    json_decref(v);

    v = st_json_load("42", 2, 0, &err);
    assert_non_null(v);
    assert_true(json_is_integer(v));
    json_decref(v);
}

static void
test_json_load_errors(void **state)
{
    struct st_err err;
    const char *bad = "{\n  \"a\": 1,\n  \"b\": ]\n}";

    assert_null(st_json_load(bad, strlen(bad), 0, &err));
    assert_int_equal(err.code, ST_EPARSE);
    assert_non_null(strstr(err.msg, "line 3"));
    assert_non_null(strstr(err.msg, "column"));

    assert_null(st_json_load("{\"a\":1} x", 9, 0, &err));
    assert_int_equal(err.code, ST_EPARSE);
    assert_null(st_json_load("\"a\\u0000b\"", 10, 0, &err));
    assert_int_equal(err.code, ST_EPARSE);
    assert_null(st_json_load("", 0, 0, &err));
    assert_int_equal(err.code, ST_EPARSE);
    assert_null(st_json_load("99999999999999999999", 20, 0, &err));
    assert_int_equal(err.code, ST_EPARSE);
}

static void
test_json_load_caps(void **state)
{
    struct st_err err;
    char deep[200];

    /* Ten levels pass a cap of ten; eleven do not, brackets in strings do not count. */
    assert_non_null(strcpy(deep, "[[[[[[[[[[1]]]]]]]]]]"));
    json_t *v = st_json_load(deep, strlen(deep), 10, &err);
    assert_non_null(v);
    json_decref(v);
    strcpy(deep, "[[[[[[[[[[[1]]]]]]]]]]]");
    assert_null(st_json_load(deep, strlen(deep), 10, &err));
    assert_int_equal(err.code, ST_ETOOBIG);
    assert_non_null(strstr(err.msg, "column 11"));
    strcpy(deep, "[\"[[[[[[[[[[[[[[\", \"\\\"[[[[[[[[[[[[\"]");
    v = st_json_load(deep, strlen(deep), 2, &err);
    assert_non_null(v);
    json_decref(v);

    assert_null(st_json_load_ex("[1,2,3]", 7, 6, 0, &err));
    assert_int_equal(err.code, ST_ETOOBIG);
    v = st_json_load_ex("[1,2,3]", 7, 7, 0, &err);
    assert_non_null(v);
    json_decref(v);
}

static void
test_json_dump(void **state)
{
    json_t *v = json_pack("{s:i, s:{s:s}, s:[]}", "z", 1, "a", "k", "v", "e");
    struct st_buf b = ST_BUF_INIT(0);

    assert_int_equal(st_json_dump(v, &b, 0), 0);
    assert_string_equal(b.data, "{\"z\":1,\"a\":{\"k\":\"v\"},\"e\":[]}");
    st_buf_reset(&b);
    assert_int_equal(st_json_dump(v, &b, ST_JSON_PRETTY | ST_JSON_NEWLINE), 0);
    assert_string_equal(b.data, "{\n    \"z\": 1,\n    \"a\": {\n        \"k\": \"v\"\n    },\n"
                                "    \"e\": []\n}\n");
    st_buf_reset(&b);
    assert_int_equal(st_json_dump(v, &b, ST_JSON_SORT_KEYS), 0);
    assert_string_equal(b.data, "{\"a\":{\"k\":\"v\"},\"e\":[],\"z\":1}");
    st_buf_free(&b);

    /* Past the cap: ST_ETOOBIG and the buffer keeps what it had. */
    struct st_buf small = ST_BUF_INIT(12);
    assert_int_equal(st_buf_append_str(&small, "head:"), 0);
    assert_int_equal(st_json_dump(v, &small, 0), ST_ETOOBIG);
    assert_int_equal(small.len, 5);
    assert_string_equal(st_buf_cstr(&small), "head:");
    st_buf_free(&small);
    json_decref(v);
}

static void
test_json_paths(void **state)
{
    const char *text =
        "{\"metadata\": {\"name\": \"web\", \"labels\": {\"mirror.strait.io/exported\":"
        " \"true\"}}, \"spec\": {\"replicas\": 3, \"paused\": false, \"ratio\": 2.0,"
        " \"ports\": [{\"port\": 80}, {\"port\": 443}], \"none\": null}}";
    json_t *v = st_json_load(text, strlen(text), 0, NULL);
    const char *label[] = {"metadata", "labels", "mirror.strait.io/exported"};
    int64_t i = 0;
    bool b = true;

    assert_non_null(v);
    assert_string_equal(st_json_str(v, "metadata.name"), "web");
    assert_null(st_json_str(v, "metadata.missing"));
    assert_null(st_json_str(v, "spec.replicas")); /* not a string */
    assert_null(st_json_str(NULL, "a"));
    assert_ptr_equal(st_json_path(v, ""), v);
    assert_true(json_is_object(st_json_path(v, "metadata.labels")));
    assert_string_equal(st_json_strv(v, label, 3), "true");
    /* The dotted form splits the label key, so it does not find it. */
    assert_null(st_json_str(v, "metadata.labels.mirror.strait.io/exported"));

    assert_int_equal(st_json_int(v, "spec.replicas", &i), 0);
    assert_int_equal(i, 3);
    assert_int_equal(st_json_int(v, "spec.ports.1.port", &i), 0);
    assert_int_equal(i, 443);
    assert_int_equal(st_json_int(v, "spec.ratio", &i), 0);
    assert_int_equal(i, 2);
    assert_int_equal(st_json_int(v, "spec.ports.2.port", &i), ST_ENOTFOUND);
    assert_int_equal(st_json_int(v, "spec.none", &i), ST_ENOTFOUND);
    assert_int_equal(st_json_int(v, "metadata.name", &i), ST_EINVAL);
    assert_int_equal(st_json_bool(v, "spec.paused", &b), 0);
    assert_false(b);
    assert_int_equal(st_json_bool(v, "spec.replicas", &b), ST_EINVAL);
    assert_int_equal(st_json_int_or(v, "spec.nothing", 7), 7);
    assert_true(st_json_bool_or(v, "metadata.name", true));
    json_decref(v);
}

static void
test_json_set_del(void **state)
{
    json_t *v = json_object();
    const char *ann[] = {"metadata", "annotations", "mirror.strait.io/probe-path"};

    assert_int_equal(st_json_set_path(v, "metadata.name", json_string("a")), 0);
    assert_int_equal(st_json_set_pathv(v, ann, 3, json_string("/probe")), 0);
    assert_int_equal(st_json_set_path(v, "spec.ports", json_pack("[{s:i}]", "port", 80)), 0);
    assert_int_equal(st_json_set_path(v, "spec.ports.0.name", json_string("http")), 0);
    assert_int_equal(st_json_set_path(v, "spec.x", json_null()), 0);
    assert_int_equal(st_json_set_path(v, "spec.x.y", json_true()), 0); /* null -> object */
    char *s = to_json(v);
    assert_string_equal(s, "{\"metadata\":{\"name\":\"a\",\"annotations\":{\"mirror.strait.io/"
                           "probe-path\":\"/probe\"}},\"spec\":{\"ports\":[{\"port\":80,\"name\":"
                           "\"http\"}],\"x\":{\"y\":true}}}");
    free(s);

    /* Errors: through a string, past an array's end, empty path, non-object root. */
    assert_int_equal(st_json_set_path(v, "metadata.name.x", json_string("b")), ST_EINVAL);
    assert_int_equal(st_json_set_path(v, "spec.ports.5.name", json_string("b")), ST_EINVAL);
    assert_int_equal(st_json_set_path(v, "", json_string("b")), ST_EINVAL);
    json_t *str = json_string("s");
    assert_int_equal(st_json_set_path(str, "a", json_integer(1)), ST_EINVAL);
    json_decref(str);

    assert_int_equal(st_json_del_pathv(v, ann, 3), 0);
    assert_int_equal(st_json_del_pathv(v, ann, 3), ST_ENOTFOUND);
    assert_int_equal(st_json_del_path(v, "spec.ports.0"), 0);
    assert_int_equal(st_json_del_path(v, "spec.nothing"), ST_ENOTFOUND);
    assert_int_equal(st_json_del_path(v, "spec"), 0);
    s = to_json(v);
    assert_string_equal(s, "{\"metadata\":{\"name\":\"a\",\"annotations\":{}}}");
    free(s);
    json_decref(v);
}

/* ---- YAML -> JSON ------------------------------------------------------------------ */

static void
test_yaml_streams(void **state)
{
    /* Empty and null documents are skipped; comments alone make no document. */
    assert_yaml_json("# only a comment\n", "[]");
    assert_yaml_json("", "[]");
    assert_yaml_json("---\n---\n# c\n---\na: 1\n---\n~\n---\nnull\n...\n---\nb: 2\n",
                     "[{\"a\":1},{\"b\":2}]");
    assert_yaml_json("- 1\n- 2\n---\nplain text\n", "[[1,2],\"plain text\"]");
    /* JSON input and a stream of JSON objects, like kubectl's JSON path. */
    assert_yaml_json("{\"a\": [1, 2.5, 1.0]}\n\n{\"b\": null}  {\"c\": \"d\"}\n",
                     "[{\"a\":[1,2.5,1]},{\"b\":null},{\"c\":\"d\"}]");
    assert_yaml_json("[1, {\"a\": \"b\"}]", "[[1,{\"a\":\"b\"}]]");

    struct st_err err;
    json_t *v = st_yaml_load("a: 1\n", 5, NULL, &err);
    assert_non_null(v);
    assert_int_equal(json_integer_value(json_object_get(v, "a")), 1);
    json_decref(v);
    v = st_yaml_load("# nothing\n", 10, NULL, &err);
    assert_true(json_is_null(v));
    json_decref(v);
    assert_null(st_yaml_load("a: 1\n---\nb: 2\n", 14, NULL, &err));
    assert_int_equal(err.code, ST_EPARSE);
}

static void
test_yaml_objects_lists(void **state)
{
    const char *text = "apiVersion: v1\n"
                       "kind: List\n"
                       "items:\n"
                       "- apiVersion: v1\n"
                       "  kind: Namespace\n"
                       "  metadata: {name: a}\n"
                       "- apiVersion: v1\n"
                       "  kind: ConfigMapList\n"
                       "  items:\n"
                       "  - {kind: ConfigMap, metadata: {name: c1}}\n"
                       "  - {kind: ConfigMap, metadata: {name: c2}}\n"
                       "---\n"
                       "kind: Service\n"
                       "metadata: {name: s}\n"
                       "---\n"
                       "kind: EmptyList\n"
                       "items: []\n";
    struct st_err err;
    json_t *objs = st_yaml_load_objects(text, strlen(text), NULL, &err);

    assert_non_null(objs);
    assert_int_equal(json_array_size(objs), 4);
    assert_string_equal(st_json_str(objs, "0.kind"), "Namespace");
    assert_string_equal(st_json_str(objs, "1.metadata.name"), "c1");
    assert_string_equal(st_json_str(objs, "2.metadata.name"), "c2");
    assert_string_equal(st_json_str(objs, "3.kind"), "Service");
    json_decref(objs);

    /* A kind ending in List without items is an ordinary object. */
    objs = st_yaml_load_objects("kind: PodList\n", 14, NULL, &err);
    assert_non_null(objs);
    assert_int_equal(json_array_size(objs), 1);
    json_decref(objs);

    const char *stream = "{\"kind\": \"List\", \"items\": [{\"kind\": \"A\"}]}\n{\"kind\": \"B\"}";
    objs = st_yaml_load_objects(stream, strlen(stream), NULL, &err);
    assert_non_null(objs);
    assert_int_equal(json_array_size(objs), 2);
    assert_string_equal(st_json_str(objs, "1.kind"), "B");
    json_decref(objs);

    assert_null(st_yaml_load_objects("kind: A\n---\n- 1\n", 16, NULL, &err));
    assert_int_equal(err.code, ST_EINVAL);
    assert_non_null(strstr(err.msg, "document 2"));
    assert_null(st_yaml_load_objects("kind: List\nitems: [1]\n", 22, NULL, &err));
    assert_int_equal(err.code, ST_EINVAL);
    assert_null(st_yaml_load_objects("{\"kind\": \"A\"} {", 15, NULL, &err));
    assert_int_equal(err.code, ST_EPARSE);
}

static void
test_yaml_trafficsplit(void **state)
{
    /* The seed's TrafficSplit: weights are quantities and stay strings. */
    const char *text = "apiVersion: split.smi-spec.io/v1alpha1\n"
                       "kind: TrafficSplit\n"
                       "metadata:\n"
                       "  name: cluster-split\n"
                       "  namespace: multicluster-test\n"
                       "spec:\n"
                       "  service: backend-zero-svc\n"
                       "  backends:\n"
                       "  - service: backend-zero-svc\n"
                       "    weight: 500m\n"
                       "  - service: backend-one-svc-remote\n"
                       "    weight: 500m\n"
                       "  - service: backend-two-svc-remote\n"
                       "    weight: 500m\n";
    struct st_err err;
    json_t *objs = st_yaml_load_objects(text, strlen(text), NULL, &err);

    assert_non_null(objs);
    json_t *ts = json_array_get(objs, 0);
    assert_string_equal(st_json_str(ts, "kind"), "TrafficSplit");
    assert_string_equal(st_json_str(ts, "spec.service"), "backend-zero-svc");
    assert_int_equal(json_array_size(st_json_path(ts, "spec.backends")), 3);
    for (int i = 0; i < 3; i++) {
        char path[64];
        snprintf(path, sizeof(path), "spec.backends.%d.weight", i);
        assert_string_equal(st_json_str(ts, path), "500m");
    }
    assert_string_equal(st_json_str(ts, "spec.backends.2.service"), "backend-two-svc-remote");
    char *yaml = round_trip(ts);
    assert_non_null(
        strstr(yaml, "  backends:\n  - service: backend-zero-svc\n    weight: \"500m\"\n"));
    free(yaml);
    json_decref(objs);
}

static void
test_yaml_service(void **state)
{
    const char *text = "apiVersion: v1\n"
                       "kind: Service\n"
                       "metadata:\n"
                       "  name: backend-zero-svc\n"
                       "  labels:\n"
                       "    mirror.strait.io/exported: \"true\"\n"
                       "spec:\n"
                       "  selector:\n"
                       "    app: backend-zero\n"
                       "  ports:\n"
                       "  - name: http\n"
                       "    port: 8888\n"
                       "    targetPort: 8888\n"
                       "    protocol: TCP\n";
    const char *label[] = {"metadata", "labels", "mirror.strait.io/exported"};
    struct st_err err;
    json_t *svc = st_yaml_load(text, strlen(text), NULL, &err);
    struct st_buf b = ST_BUF_INIT(0);

    assert_non_null(svc);
    assert_string_equal(st_json_strv(svc, label, 3), "true");
    assert_int_equal(st_json_int_or(svc, "spec.ports.0.port", 0), 8888);
    assert_true(json_is_integer(st_json_path(svc, "spec.ports.0.targetPort")));
    /* Dumped in kubectl's layout, the manifest comes back byte for byte (quoted port aside). */
    assert_int_equal(st_yaml_dump(svc, &b), 0);
    assert_string_equal(b.data, text);
    st_buf_free(&b);
    json_decref(svc);
}

static void
test_yaml_scalars(void **state)
{
    static const struct {
        const char *yaml, *json;
    } cases[] = {
        /* Booleans, YAML 1.1 as go-yaml v2 reads them for untyped fields. */
        {"true", "true"},
        {"False", "false"},
        {"TRUE", "true"},
        {"yes", "true"},
        {"No", "false"},
        {"on", "true"},
        {"OFF", "false"},
        {"y", "true"},
        {"N", "false"},
        {"tRUE", "\"tRUE\""},
        {"yEs", "\"yEs\""},
        /* Nulls. */
        {"null", "null"},
        {"~", "null"},
        {"Null", "null"},
        {"", "null"},
        {"nULL", "\"nULL\""},
        /* Integers: decimal, sign, hex, 0o and leading-zero octal, binary, '_'. */
        {"0", "0"},
        {"-17", "-17"},
        {"+12", "12"},
        {"0x1F", "31"},
        {"-0x10", "-16"},
        {"0o17", "15"},
        {"0755", "493"},
        {"0b101", "5"},
        {"1_000", "1000"},
        {"09", "9"},
        {"9223372036854775807", "9223372036854775807"},
        {"-9223372036854775808", "-9223372036854775808"},
        /* Floats; integral ones become integers as on kubectl's wire. */
        {"1.5", "1.5"},
        {"-0.25", "-0.25"},
        {".5", "0.5"},
        {"1.0", "1"},
        {"1e3", "1000"},
        {"1.", "1"},
        {"2.5e-3", "0.0025"},
        {"9223372036854775808", "9.223372036854776e+18"},
        {"1e400", "\"1e400\""},
        {"1_0.5", "10.5"},
        {".5_0", "\".5_0\""},
        /* Strings that look almost like something else. */
        {"500m", "\"500m\""},
        {"0x", "\"0x\""},
        {"1e", "\"1e\""},
        {"1.2.3", "\"1.2.3\""},
        {"2001-12-14", "\"2001-12-14\""},
        {"12:30", "\"12:30\""},
        {"-x", "\"-x\""},
        {"<<", "\"<<\""},
        {"0x_1F", "31"},
        {"- a", "[\"a\"]"},
        /* Quoted, block and tagged scalars are strings; typed tags are checked. */
        {"\"true\"", "\"true\""},
        {"'8888'", "\"8888\""},
        {"!!str 123", "\"123\""},
        {"! 12", "\"12\""},
        {"!!int \"12\"", "12"},
        {"!!float 1", "1"},
        {"!!bool yes", "true"},
        {"!!null ''", "null"},
        {"!custom 12", "\"12\""},
        {"!!binary aGk=", "\"aGk=\""},
        {"|\n  a\n  b\n", "\"a\\nb\\n\""},
        {">-\n  a\n  b\n", "\"a b\""},
        {"\"\\t\\u00e9\"", "\"\\t\xc3\xa9\""},
    };
    char doc[256], expected[256];

    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        snprintf(doc, sizeof(doc), "v: %s\n", cases[i].yaml);
        if (cases[i].yaml[0] == '|' || cases[i].yaml[0] == '>')
            snprintf(doc, sizeof(doc), "v: %s", cases[i].yaml);
        snprintf(expected, sizeof(expected), "[{\"v\":%s}]", cases[i].json);
        if (strcmp(cases[i].yaml, "- a") == 0) {
            assert_yaml_json("v:\n- a\n", expected);
            continue;
        }
        assert_yaml_json(doc, expected);
    }
    assert_yaml_fails("v: .inf\n", NULL, ST_EPARSE, "no JSON representation");
    assert_yaml_fails("v: -.Inf\n", NULL, ST_EPARSE, "line 1, column 4");
    assert_yaml_fails("v: .nan\n", NULL, ST_EPARSE, NULL);
    assert_yaml_fails("v: !!int abc\n", NULL, ST_EPARSE, "cannot decode");
    assert_yaml_fails("v: !!int 1.5\n", NULL, ST_EPARSE, "cannot decode");
    assert_yaml_fails("v: \"a\\0b\"\n", NULL, ST_EPARSE, "NUL");
}

static void
test_yaml_keys(void **state)
{
    /* Keys become strings the way sigs.k8s.io/yaml formats resolved values. */
    assert_yaml_json("yes: 1\n1: 2\n0x10: 3\n1e6: 4\n1.50: 5\n.inf: 6\n\"no\": 7\n0.1: 8\n"
                     "'': 9\n500m: 10\n",
                     "[{\"true\":1,\"1\":2,\"16\":3,\"1e+06\":4,\"1.5\":5,\".inf\":6,\"no\":7,"
                     "\"0.1\":8,\"\":9,\"500m\":10}]");
    /* A repeated key keeps its place and its last value, as kubectl does. */
    assert_yaml_json("a: 1\nb: 2\na: {x: 3}\n", "[{\"a\":{\"x\":3},\"b\":2}]");
    assert_yaml_json("yes: 1\non: 2\n", "[{\"true\":2}]");
    assert_yaml_fails("~: 1\n", NULL, ST_EPARSE, "unsupported mapping key");
    assert_yaml_fails("18446744073709551615: 1\n", NULL, ST_EPARSE, "unsupported mapping key");
    assert_yaml_fails("[a]: 1\n", NULL, ST_EPARSE, "keys must be scalars");
    assert_yaml_fails("? {a: 1}\n: 2\n", NULL, ST_EPARSE, "keys must be scalars");
}

static void
test_yaml_anchors_merge(void **state)
{
    assert_yaml_json(
        "base: &b {x: 1, z: [a, b]}\n"
        "m:\n  <<: *b\n  x: 2\n"
        "o:\n  z: 0\n  <<: [*b, {w: 1, x: 9}]\n"
        "p:\n  x: 0\n  <<: *b\n  <<: {x: 7}\n"
        "s: &s hello\n"
        "t: *s\n"
        "*s : key-from-alias\n",
        "[{\"base\":{\"x\":1,\"z\":[\"a\",\"b\"]},\"m\":{\"x\":2,\"z\":[\"a\",\"b\"]},"
        "\"o\":{\"z\":[\"a\",\"b\"],\"w\":1,\"x\":1},\"p\":{\"x\":7,\"z\":[\"a\",\"b\"]},"
        "\"s\":\"hello\","
        "\"t\":\"hello\",\"hello\":\"key-from-alias\"}]");
    /* Aliased values are copies: changing one must not change the other. */
    struct st_err err;
    json_t *v = st_yaml_load("a: &x {k: 1}\nb: *x\n", 19, NULL, &err);
    assert_non_null(v);
    assert_ptr_not_equal(json_object_get(v, "a"), json_object_get(v, "b"));
    json_decref(v);
    /* Anchors do not cross documents; a quoted "<<" is an ordinary key. */
    assert_yaml_fails("a: &x 1\n---\nb: *x\n", NULL, ST_EPARSE, "unknown anchor");
    assert_yaml_json("\"<<\": {a: 1}\n", "[{\"<<\":{\"a\":1}}]");
    assert_yaml_fails("a: &x [1, *x]\n", NULL, ST_EPARSE, "its own enclosing node");
    assert_yaml_fails("a:\n  <<: 5\n", NULL, ST_EPARSE, "map merge");
    assert_yaml_fails("a:\n  <<: [{b: 1}, 2]\n", NULL, ST_EPARSE, "map merge");
}

static void
test_yaml_caps(void **state)
{
    /* Billion laughs: each level multiplies by ten; the node cap stops it. */
    const char *lol = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                      "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                      "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                      "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                      "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                      "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                      "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n";
    struct st_yaml_limits lim = {.max_nodes = 100000};
    assert_yaml_fails(lol, &lim, ST_ETOOBIG, "values (aliases expanded)");
    assert_yaml_fails(lol, NULL, ST_ETOOBIG, "line 6");

    /* Large scalars copied by aliases hit the scalar byte cap. */
    char big[4200];
    memcpy(big, "a: &a ", 6);
    memset(big + 6, 'x', 1000);
    strcpy(big + 1006, "\nb: [*a, *a, *a, *a]\n");
    struct st_yaml_limits blim = {.max_scalar_bytes = 4500};
    assert_yaml_fails(big, &blim, ST_ETOOBIG, "bytes of scalar text");
    blim.max_scalar_bytes = 6000;
    json_t *v = st_yaml_load_all(big, strlen(big), &blim, NULL);
    assert_non_null(v);
    json_decref(v);

    /* Depth, directly and through an alias. */
    struct st_yaml_limits dlim = {.max_depth = 3};
    assert_yaml_json("a: {b: {c: 1}}\n", "[{\"a\":{\"b\":{\"c\":1}}}]");
    assert_yaml_fails("a: {b: {c: {d: 1}}}\n", &dlim, ST_ETOOBIG, "nesting deeper than 3");
    v = st_yaml_load_all("a: {b: {c: 1}}\n", 15, &dlim, NULL);
    assert_non_null(v);
    json_decref(v);
    assert_yaml_fails("x: &x {b: [1]}\na: {c: *x}\n", &dlim, ST_ETOOBIG, "line 2");
    assert_yaml_fails("[[[[[[1]]]]]]", &dlim, ST_ETOOBIG, NULL);
    assert_yaml_fails("{\"a\": {\"b\": {\"c\": {}}}}", &dlim, ST_ETOOBIG, "nesting");

    /* Documents and bytes. */
    struct st_yaml_limits doclim = {.max_docs = 2};
    assert_yaml_fails("a: 1\n---\nb: 2\n---\nc: 3\n", &doclim, ST_ETOOBIG, "documents");
    assert_yaml_fails("{} {} {}", &doclim, ST_ETOOBIG, "documents");
    struct st_yaml_limits bytelim = {.max_bytes = 8};
    assert_yaml_fails("a: 12345\n", &bytelim, ST_ETOOBIG, "exceeds the cap");
}

static void
test_yaml_errors(void **state)
{
    assert_yaml_fails("a: 1\nb: [1, 2\nc: 3\n", NULL, ST_EPARSE, "line ");
    assert_yaml_fails("a: 1\n  b: 2\n", NULL, ST_EPARSE, "line 2");
    assert_yaml_fails("a: *nope\n", NULL, ST_EPARSE, "unknown anchor \"nope\"");
    assert_yaml_fails("a: \"unterminated\n", NULL, ST_EPARSE, NULL);
    assert_yaml_fails("a:\tb: c\n\t- x\n", NULL, ST_EPARSE, NULL);
    assert_yaml_fails("\xff\xfe\xfd", NULL, ST_EPARSE, NULL);
    assert_yaml_fails("{\"a\": 1,}", NULL, ST_EPARSE, "line 1");
}

/* ---- JSON -> YAML ------------------------------------------------------------------ */

static void
test_yaml_dump_layout(void **state)
{
    const char *text = "{\"kind\": \"Deployment\", \"metadata\": {\"labels\": {}, \"annotations\": "
                       "{\"strait.io/inject\": \"enabled\"}}, \"spec\": {\"list\": [[1, 2], [], "
                       "{}, [{\"a\": 1, \"b\": [3]}]], \"items\": [], \"ratio\": 0.5, \"big\": "
                       "1e+20, \"n\": null, \"t\": true}}";
    json_t *v = st_json_load(text, strlen(text), 0, NULL);

    assert_non_null(v);
    char *yaml = round_trip(v);
    assert_string_equal(yaml, "kind: Deployment\n"
                              "metadata:\n"
                              "  labels: {}\n"
                              "  annotations:\n"
                              "    strait.io/inject: enabled\n"
                              "spec:\n"
                              "  list:\n"
                              "  - - 1\n"
                              "    - 2\n"
                              "  - []\n"
                              "  - {}\n"
                              "  - - a: 1\n"
                              "      b:\n"
                              "      - 3\n"
                              "  items: []\n"
                              "  ratio: 0.5\n"
                              "  big: 1.0e+20\n"
                              "  \"n\": null\n"
                              "  t: true\n");
    free(yaml);
    json_decref(v);

    struct st_buf b = ST_BUF_INIT(0);
    json_t *docs = json_pack("[{s:i}, [s], s, {}]", "a", 1, "x", "plain");
    assert_int_equal(st_yaml_dump_all(docs, &b), 0);
    assert_string_equal(b.data, "a: 1\n---\n- x\n---\nplain\n---\n{}\n");
    json_t *back = st_yaml_load_all(b.data, b.len, NULL, NULL);
    assert_true(json_equal(back, docs));
    json_decref(back);
    st_buf_free(&b);

    /* Past the cap the buffer is left as it was; non-arrays are refused. */
    struct st_buf small = ST_BUF_INIT(10);
    assert_int_equal(st_buf_append_str(&small, "keep"), 0);
    assert_int_equal(st_yaml_dump_all(docs, &small), ST_ETOOBIG);
    assert_string_equal(st_buf_cstr(&small), "keep");
    assert_int_equal(st_yaml_dump_all(json_array_get(docs, 0), &small), ST_EINVAL);
    st_buf_free(&small);
    json_decref(docs);
}

static void
test_yaml_dump_quoting(void **state)
{
    static const struct {
        const char *s, *yaml;
    } cases[] = {
        {"true", "\"true\""},
        {"yes", "\"yes\""},
        {"Off", "\"Off\""},
        {"y", "\"y\""},
        {"null", "\"null\""},
        {"~", "\"~\""},
        {"", "\"\""},
        {"8888", "\"8888\""},
        {"1.5", "\"1.5\""},
        {"0x1", "\"0x1\""},
        {"1e3", "\"1e3\""},
        {".inf", "\".inf\""},
        {" lead", "\" lead\""},
        {"trail ", "\"trail \""},
        {"a: b", "\"a: b\""},
        {"a #b", "\"a #b\""},
        {"end:", "\"end:\""},
        {"-x", "\"-x\""},
        {"?x", "\"?x\""},
        {":x", "\":x\""},
        {",x", "\",x\""},
        {"[x", "\"[x\""},
        {"]x", "\"]x\""},
        {"{x", "\"{x\""},
        {"}x", "\"}x\""},
        {"#x", "\"#x\""},
        {"&x", "\"&x\""},
        {"*x", "\"*x\""},
        {"!x", "\"!x\""},
        {"|x", "\"|x\""},
        {">x", "\">x\""},
        {"'x", "\"'x\""},
        {"\"x", "\"\\\"x\""},
        {"%x", "\"%x\""},
        {"@x", "\"@x\""},
        {"`x", "\"`x\""},
        {"<<", "\"<<\""},
        {"tab\there", "\"tab\\there\""},
        {"bell\a", "\"bell\\x07\""},
        {"back\\slash", "back\\slash"},
        {"2001-12-14", "\"2001-12-14\""},
        {"12:30", "\"12:30\""},
        {"---", "\"---\""},
        {"...", "\"...\""},
        {"a,b[c]{d}", "a,b[c]{d}"},
        {"http://x:80/#f", "http://x:80/#f"},
        {"caf\xc3\xa9", "caf\xc3\xa9"},
        {"nel\xc2\x85", "\"nel\\x85\""},
        {"ls\xe2\x80\xa8", "\"ls\\u2028\""},
        {"bom\xef\xbb\xbf", "\"bom\\uFEFF\""},
        {"line1\nline2\n", "|\n  line1\n  line2\n"},
        {"a\nb", "|-\n  a\n  b\n"},
        {"a\n\n", "|+\n  a\n\n"},
        {"a\n\n  b\n", "|\n  a\n\n    b\n"},
        {"trail \nx", "\"trail \\nx\""},
        {" lead\nx", "\" lead\\nx\""},
        {"\nfirst", "\"\\nfirst\""},
        {"\n", "\"\\n\""},
        {"cr\r\nx", "\"cr\\r\\nx\""},
        {"# not a comment\n--- not a marker\n", "|\n  # not a comment\n  --- not a marker\n"},
    };
    char expected[256];
    struct st_buf b = ST_BUF_INIT(0);

    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        json_t *v = json_pack("{s:s}", "k", cases[i].s);
        st_buf_reset(&b);
        assert_int_equal(st_yaml_dump(v, &b), 0);
        snprintf(expected, sizeof(expected), "k: %s%s", cases[i].yaml,
                 cases[i].yaml[strlen(cases[i].yaml) - 1] == '\n' ? "" : "\n");
        if (strcmp(b.data, expected) != 0)
            fail_msg("case %zu: got [%s] expected [%s]", i, b.data, expected);
        free(round_trip(v));
        /* The same string as a key (never a literal block) and as a document. */
        json_t *k = json_object();
        json_object_set_new(k, cases[i].s, json_integer(1));
        free(round_trip(k));
        json_decref(k);
        json_t *s = json_string(cases[i].s);
        free(round_trip(s));
        json_decref(s);
        json_decref(v);
    }
    st_buf_free(&b);

    /* Keys too long for an implicit key use "? ". */
    char longkey[1500];
    memset(longkey, 'k', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    json_t *v = json_pack("{s:[i], s:{s:i}, s:i}", longkey, 1, "n", longkey, 2, "z", 3);
    char *yaml = round_trip(v);
    assert_non_null(strstr(yaml, "\n:\n- 1\n"));
    assert_non_null(strstr(yaml, "\n  : 2\n"));
    free(yaml);
    json_decref(v);

    /* Numbers round-trip exactly through the shortest form. */
    json_t *nums = json_pack("[f, f, f, f, I, I]", 0.1, 1.0 / 3.0, -2.5e-300, 1e300,
                             (json_int_t)INT64_MIN, (json_int_t)INT64_MAX);
    free(round_trip(nums));
    json_decref(nums);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_load_ok),       cmocka_unit_test(test_json_load_errors),
        cmocka_unit_test(test_json_load_caps),     cmocka_unit_test(test_json_dump),
        cmocka_unit_test(test_json_paths),         cmocka_unit_test(test_json_set_del),
        cmocka_unit_test(test_yaml_streams),       cmocka_unit_test(test_yaml_objects_lists),
        cmocka_unit_test(test_yaml_trafficsplit),  cmocka_unit_test(test_yaml_service),
        cmocka_unit_test(test_yaml_scalars),       cmocka_unit_test(test_yaml_keys),
        cmocka_unit_test(test_yaml_anchors_merge), cmocka_unit_test(test_yaml_caps),
        cmocka_unit_test(test_yaml_errors),        cmocka_unit_test(test_yaml_dump_layout),
        cmocka_unit_test(test_yaml_dump_quoting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
