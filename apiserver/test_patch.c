/*
 * Unit tests for the patch engine: the RFC 7386 and RFC 6902 example suites,
 * JSON patch atomicity and caps, and strategic merge patch as kubectl uses it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#include "patch.h"

static json_t *
parse(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);

    if (!v)
        fail_msg("bad test JSON %s: %s", text, jerr.text);
    return v;
}

/* Applies <patch> to <doc> and returns the code; *out gets the result. */
static int
apply(const char *doc, enum patch_type type, const char *patch, const char *api_version,
      const char *kind, json_t **out)
{
    json_t *d = parse(doc), *p = parse(patch);
    json_t *before = json_deep_copy(d);
    struct st_err err = {0};
    int rc = patch_apply(d, type, p, api_version, kind, out, &err);

    /* The original is never modified, whatever happened. */
    assert_true(json_equal(d, before));
    if (rc < 0) {
        assert_null(*out);
        assert_int_equal(err.code, rc);
        assert_true(err.msg[0] != '\0');
    }
    json_decref(before);
    json_decref(d);
    json_decref(p);
    return rc;
}

static void
expect(const char *doc, enum patch_type type, const char *patch, const char *api_version,
       const char *kind, const char *want)
{
    json_t *out = NULL, *w = parse(want);
    int rc = apply(doc, type, patch, api_version, kind, &out);

    if (rc < 0)
        fail_msg("patch %s on %s failed with %d", patch, doc, rc);
    if (!json_equal(out, w)) {
        char *got = json_dumps(out, JSON_COMPACT | JSON_ENCODE_ANY);
        print_error("patch %s on %s\n  got  %s\n  want %s\n", patch, doc, got, want);
        free(got);
        fail();
    }
    json_decref(out);
    json_decref(w);
}

static void
expect_error(const char *doc, enum patch_type type, const char *patch, const char *api_version,
             const char *kind, int code)
{
    json_t *out = NULL;
    int rc = apply(doc, type, patch, api_version, kind, &out);

    if (rc != code)
        fail_msg("patch %s on %s: got %d, want %d", patch, doc, rc, code);
    assert_null(out);
}

#define MERGE(doc, patch, want) expect(doc, PATCH_MERGE, patch, NULL, NULL, want)
#define JSONP(doc, patch, want) expect(doc, PATCH_JSON, patch, NULL, NULL, want)
#define JSONP_ERR(doc, patch, code) expect_error(doc, PATCH_JSON, patch, NULL, NULL, code)
#define SMP(kind, doc, patch, want) expect(doc, PATCH_STRATEGIC, patch, "v1", kind, want)
#define SMP_APPS(kind, doc, patch, want) expect(doc, PATCH_STRATEGIC, patch, "apps/v1", kind, want)
#define SMP_ERR(kind, doc, patch, code) expect_error(doc, PATCH_STRATEGIC, patch, "v1", kind, code)

static void
test_content_types(void **state)
{
    enum patch_type t;

    assert_int_equal(patch_type_from_content_type("application/json-patch+json", &t), 0);
    assert_int_equal(t, PATCH_JSON);
    assert_int_equal(patch_type_from_content_type("application/merge-patch+json", &t), 0);
    assert_int_equal(t, PATCH_MERGE);
    assert_int_equal(
        patch_type_from_content_type("Application/Strategic-Merge-Patch+JSON; charset=utf-8", &t),
        0);
    assert_int_equal(t, PATCH_STRATEGIC);
    assert_int_equal(patch_type_from_content_type("application/apply-patch+yaml", &t), ST_EINVAL);
    assert_int_equal(patch_type_from_content_type("application/json", &t), ST_EINVAL);
    assert_int_equal(patch_type_from_content_type("", &t), ST_EINVAL);
    assert_int_equal(patch_type_from_content_type(NULL, &t), ST_EINVAL);
}

/* RFC 7386 Appendix A, every example. */
static void
test_merge_rfc7386(void **state)
{
    MERGE("{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
    MERGE("{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}");
    MERGE("{\"a\":\"b\"}", "{\"a\":null}", "{}");
    MERGE("{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}");
    MERGE("{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
    MERGE("{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}");
    MERGE("{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}");
    MERGE("{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}");
    MERGE("[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]");
    MERGE("{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]");
    MERGE("{\"a\":\"foo\"}", "null", "null");
    MERGE("{\"a\":\"foo\"}", "\"bar\"", "\"bar\"");
    MERGE("{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}");
    MERGE("[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}");
    MERGE("{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}");
    /* Nulls inside a replaced array are kept: only object members are removed. */
    MERGE("{}", "{\"a\":[null]}", "{\"a\":[null]}");
}

static void
test_merge_depth_cap(void **state)
{
    char buf[2 * (PATCH_MAX_DEPTH + 10) * 6 + 16];
    size_t n = 0;

    for (int i = 0; i < PATCH_MAX_DEPTH + 10; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "{\"a\":");
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "1");
    for (int i = 0; i < PATCH_MAX_DEPTH + 10; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "}");
    expect_error("{}", PATCH_MERGE, buf, NULL, NULL, ST_ETOOBIG);
}

/* RFC 6902 Appendix A, every example but A.13 (duplicate members are a parser matter). */
static void
test_json_rfc6902(void **state)
{
    /* A.1 - A.5 */
    JSONP("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]",
          "{\"baz\":\"qux\",\"foo\":\"bar\"}");
    JSONP("{\"foo\":[\"bar\",\"baz\"]}", "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
          "{\"foo\":[\"bar\",\"qux\",\"baz\"]}");
    JSONP("{\"baz\":\"qux\",\"foo\":\"bar\"}", "[{\"op\":\"remove\",\"path\":\"/baz\"}]",
          "{\"foo\":\"bar\"}");
    JSONP("{\"foo\":[\"bar\",\"qux\",\"baz\"]}", "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]",
          "{\"foo\":[\"bar\",\"baz\"]}");
    JSONP("{\"baz\":\"qux\",\"foo\":\"bar\"}",
          "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]",
          "{\"baz\":\"boo\",\"foo\":\"bar\"}");
    /* A.6, A.7: moves */
    JSONP("{\"foo\":{\"bar\":\"baz\",\"waldo\":\"fred\"},\"qux\":{\"corge\":\"grault\"}}",
          "[{\"op\":\"move\",\"from\":\"/foo/waldo\",\"path\":\"/qux/thud\"}]",
          "{\"foo\":{\"bar\":\"baz\"},\"qux\":{\"corge\":\"grault\",\"thud\":\"fred\"}}");
    JSONP("{\"foo\":[\"all\",\"grass\",\"cows\",\"eat\"]}",
          "[{\"op\":\"move\",\"from\":\"/foo/1\",\"path\":\"/foo/3\"}]",
          "{\"foo\":[\"all\",\"cows\",\"eat\",\"grass\"]}");
    /* A.8, A.9: test */
    JSONP("{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}",
          "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"qux\"},"
          "{\"op\":\"test\",\"path\":\"/foo/1\",\"value\":2}]",
          "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}");
    JSONP_ERR("{\"baz\":\"qux\"}", "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"bar\"}]",
              ST_EINVAL);
    /* A.10 - A.12 */
    JSONP("{\"foo\":\"bar\"}",
          "[{\"op\":\"add\",\"path\":\"/child\",\"value\":{\"grandchild\":{}}}]",
          "{\"foo\":\"bar\",\"child\":{\"grandchild\":{}}}");
    JSONP("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\",\"xyz\":123}]",
          "{\"foo\":\"bar\",\"baz\":\"qux\"}");
    JSONP_ERR("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz/bat\",\"value\":\"qux\"}]",
              ST_EINVAL);
    /* A.14, A.15: escapes, and strings are not numbers */
    JSONP("{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":10}]",
          "{\"/\":9,\"~1\":10}");
    JSONP_ERR("{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":\"10\"}]",
              ST_EINVAL);
    /* A.16 */
    JSONP("{\"foo\":[\"bar\"]}",
          "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":[\"abc\",\"def\"]}]",
          "{\"foo\":[\"bar\",[\"abc\",\"def\"]]}");
}

static void
test_json_more(void **state)
{
    /* copy, the root, "~1", numbers compared by value, deep test. */
    JSONP("{\"a\":{\"b\":[1]}}",
          "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/c\"},"
          "{\"op\":\"add\",\"path\":\"/c/b/-\",\"value\":2}]",
          "{\"a\":{\"b\":[1]},\"c\":{\"b\":[1,2]}}");
    JSONP("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":[1]}]", "[1]");
    JSONP("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"\",\"value\":{\"b\":2}}]", "{\"b\":2}");
    JSONP("{}", "[{\"op\":\"add\",\"path\":\"/a~1b\",\"value\":1}]", "{\"a/b\":1}");
    JSONP("{\"\":1}", "[{\"op\":\"replace\",\"path\":\"/\",\"value\":2}]", "{\"\":2}");
    JSONP("{\"a\":1.0}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":1}]", "{\"a\":1.0}");
    JSONP("{\"a\":{\"x\":[1,{\"y\":null}]}}",
          "[{\"op\":\"test\",\"path\":\"/a\",\"value\":{\"x\":[1,{\"y\":null}]}}]",
          "{\"a\":{\"x\":[1,{\"y\":null}]}}");
    JSONP("[1,2]", "[{\"op\":\"move\",\"from\":\"/0\",\"path\":\"/0\"}]", "[1,2]");
    JSONP("{\"a\":null}", "[{\"op\":\"add\",\"path\":\"/b\",\"value\":null}]",
          "{\"a\":null,\"b\":null}");

    /* Array index rules: no leading zeros, "-" only for add, bounds. */
    JSONP_ERR("{\"a\":[1,2]}", "[{\"op\":\"remove\",\"path\":\"/a/01\"}]", ST_EINVAL);
    JSONP_ERR("{\"a\":[1,2]}", "[{\"op\":\"remove\",\"path\":\"/a/-\"}]", ST_EINVAL);
    JSONP_ERR("{\"a\":[1,2]}", "[{\"op\":\"replace\",\"path\":\"/a/2\",\"value\":0}]", ST_EINVAL);
    JSONP_ERR("{\"a\":[1,2]}", "[{\"op\":\"add\",\"path\":\"/a/3\",\"value\":0}]", ST_EINVAL);
    JSONP_ERR("{\"a\":[1,2]}", "[{\"op\":\"add\",\"path\":\"/a/x\",\"value\":0}]", ST_EINVAL);
    JSONP("{\"a\":[1,2]}", "[{\"op\":\"add\",\"path\":\"/a/2\",\"value\":3}]", "{\"a\":[1,2,3]}");

    /* Targets that do not exist. */
    JSONP_ERR("{}", "[{\"op\":\"remove\",\"path\":\"/a\"}]", ST_EINVAL);
    JSONP_ERR("{}", "[{\"op\":\"replace\",\"path\":\"/a\",\"value\":1}]", ST_EINVAL);
    JSONP_ERR("{}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":1}]", ST_EINVAL);
    JSONP_ERR("{}", "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/b\"}]", ST_EINVAL);
    JSONP_ERR("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/a/b\",\"value\":1}]", ST_EINVAL);
    JSONP_ERR("{\"a\":{}}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/b\"}]", ST_EINVAL);
    JSONP_ERR("{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"\"}]", ST_EINVAL);

    /* Malformed patches. */
    JSONP_ERR("{}", "{\"op\":\"add\"}", ST_EPARSE);
    JSONP_ERR("{}", "[1]", ST_EPARSE);
    JSONP_ERR("{}", "[{\"path\":\"/a\",\"value\":1}]", ST_EPARSE);
    JSONP_ERR("{}", "[{\"op\":\"frobnicate\",\"path\":\"/a\"}]", ST_EPARSE);
    JSONP_ERR("{}", "[{\"op\":\"add\",\"path\":\"/a\"}]", ST_EPARSE);
    JSONP_ERR("{}", "[{\"op\":\"add\",\"path\":\"a\",\"value\":1}]", ST_EPARSE);
    JSONP_ERR("{}", "[{\"op\":\"add\",\"path\":\"/a~2\",\"value\":1}]", ST_EPARSE);
    JSONP_ERR("{}", "[{\"op\":\"add\",\"path\":\"/a~\",\"value\":1}]", ST_EPARSE);
    JSONP_ERR("{}", "[{\"op\":\"move\",\"path\":\"/a\"}]", ST_EPARSE);
    JSONP_ERR("{}", "[{\"op\":\"add\",\"path\":5,\"value\":1}]", ST_EPARSE);
    JSONP("{\"a\":1}", "[]", "{\"a\":1}");
}

/* A failing operation leaves nothing changed, even after earlier ones succeeded. */
static void
test_json_atomic(void **state)
{
    JSONP_ERR("{\"a\":1,\"l\":[1]}",
              "[{\"op\":\"add\",\"path\":\"/b\",\"value\":2},"
              "{\"op\":\"remove\",\"path\":\"/a\"},"
              "{\"op\":\"add\",\"path\":\"/l/-\",\"value\":2},"
              "{\"op\":\"test\",\"path\":\"/b\",\"value\":3}]",
              ST_EINVAL);
    JSONP_ERR("{\"a\":1}",
              "[{\"op\":\"replace\",\"path\":\"/a\",\"value\":2},{\"op\":\"bogus\",\"path\":\"\"}]",
              ST_EPARSE);
}

static void
test_json_caps(void **state)
{
    struct st_buf b = ST_BUF_INIT(0);

    /* Too many operations. */
    assert_int_equal(st_buf_append_str(&b, "["), 0);
    for (int i = 0; i <= PATCH_MAX_OPS; i++)
        assert_int_equal(
            st_buf_appendf(&b, "%s{\"op\":\"test\",\"path\":\"\",\"value\":{}}", i ? "," : ""), 0);
    assert_int_equal(st_buf_append_str(&b, "]"), 0);
    expect_error("{}", PATCH_JSON, st_buf_cstr(&b), NULL, NULL, ST_ETOOBIG);

    /* A pointer over the cap. */
    st_buf_reset(&b);
    assert_int_equal(st_buf_append_str(&b, "[{\"op\":\"add\",\"value\":1,\"path\":\"/"), 0);
    for (int i = 0; i < PATCH_MAX_POINTER; i++)
        assert_int_equal(st_buf_append_str(&b, "a"), 0);
    assert_int_equal(st_buf_append_str(&b, "\"}]"), 0);
    expect_error("{}", PATCH_JSON, st_buf_cstr(&b), NULL, NULL, ST_ETOOBIG);

    /* Doubling the document with copies must hit the work cap, not the memory limit. */
    st_buf_reset(&b);
    assert_int_equal(st_buf_append_str(&b, "[{\"op\":\"add\",\"path\":\"/a\",\"value\":[1,2]}"), 0);
    for (int i = 0; i < 64; i++)
        assert_int_equal(
            st_buf_append_str(&b, ",{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/a/0\"}"
                                  ",{\"op\":\"copy\",\"from\":\"/a/0\",\"path\":\"/a/0\"}"),
            0);
    assert_int_equal(st_buf_append_str(&b, "]"), 0);
    expect_error("{}", PATCH_JSON, st_buf_cstr(&b), NULL, NULL, ST_ETOOBIG);

    /* Nesting deeper and deeper by copying a value into itself. */
    st_buf_reset(&b);
    assert_int_equal(st_buf_append_str(&b, "[{\"op\":\"add\",\"path\":\"/a\",\"value\":{}}"), 0);
    for (int i = 0; i < PATCH_MAX_DEPTH + 2; i++)
        assert_int_equal(
            st_buf_append_str(&b, ",{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/a/a\"}"), 0);
    assert_int_equal(st_buf_append_str(&b, "]"), 0);
    expect_error("{}", PATCH_JSON, st_buf_cstr(&b), NULL, NULL, ST_ETOOBIG);
    st_buf_free(&b);
}

/* kubectl apply on a Service whose only port changes from 8888 to 9999. */
static void
test_smp_kubectl_apply_service(void **state)
{
    SMP("Service",
        "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","
        "\"annotations\":{\"x\":\"1\"}},\"spec\":{\"type\":\"ClusterIP\",\"clusterIP\":\"10.0.0."
        "9\","
        "\"ports\":[{\"port\":8888,\"targetPort\":8888,\"protocol\":\"TCP\"}]}}",
        "{\"metadata\":{\"annotations\":{\"x\":\"2\"}},\"spec\":{\"$setElementOrder/ports\":"
        "[{\"port\":9999}],\"ports\":[{\"port\":9999,\"targetPort\":9999},"
        "{\"$patch\":\"delete\",\"port\":8888}]}}",
        "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","
        "\"annotations\":{\"x\":\"2\"}},\"spec\":{\"type\":\"ClusterIP\",\"clusterIP\":\"10.0.0."
        "9\","
        "\"ports\":[{\"port\":9999,\"targetPort\":9999}]}}");
    /* Adding a second port keeps the first, in the order kubectl asks for. */
    SMP("Service", "{\"spec\":{\"ports\":[{\"port\":80,\"name\":\"http\"}]}}",
        "{\"spec\":{\"$setElementOrder/ports\":[{\"port\":80},{\"port\":443}],"
        "\"ports\":[{\"port\":443,\"name\":\"https\"}]}}",
        "{\"spec\":{\"ports\":[{\"port\":80,\"name\":\"http\"},{\"port\":443,\"name\":\"https\"}]}"
        "}");
    /* Changing one field of an existing port merges into it. */
    SMP("Service", "{\"spec\":{\"ports\":[{\"port\":80,\"targetPort\":8080,\"name\":\"http\"}]}}",
        "{\"spec\":{\"ports\":[{\"port\":80,\"targetPort\":9090}]}}",
        "{\"spec\":{\"ports\":[{\"port\":80,\"targetPort\":9090,\"name\":\"http\"}]}}");
}

static void
test_smp_deployment(void **state)
{
    const char *dep =
        "{\"spec\":{\"replicas\":1,\"template\":{\"metadata\":{\"labels\":{\"app\":\"w\"}},"
        "\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"x:1\",\"env\":["
        "{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"B\",\"value\":\"2\"}],"
        "\"ports\":[{\"containerPort\":80}]},{\"name\":\"b\",\"image\":\"y:1\"}],"
        "\"tolerations\":[{\"key\":\"k\",\"effect\":\"NoSchedule\"}]}}}}";

    /* Containers merge by name; env by name; ports by containerPort. */
    SMP_APPS("Deployment", dep,
             "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"x:2\","
             "\"env\":[{\"name\":\"B\",\"value\":\"3\"},{\"name\":\"A\",\"$patch\":\"delete\"}],"
             "\"ports\":[{\"containerPort\":80,\"protocol\":\"TCP\"}]}]}}}}",
             "{\"spec\":{\"replicas\":1,\"template\":{\"metadata\":{\"labels\":{\"app\":\"w\"}},"
             "\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"x:2\",\"env\":["
             "{\"name\":\"B\",\"value\":\"3\"}],\"ports\":[{\"containerPort\":80,\"protocol\":"
             "\"TCP\"}]},"
             "{\"name\":\"b\",\"image\":\"y:1\"}],"
             "\"tolerations\":[{\"key\":\"k\",\"effect\":\"NoSchedule\"}]}}}}");
    /* A new container without $setElementOrder goes first, as in Kubernetes. */
    SMP_APPS(
        "Deployment", dep,
        "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"z\"}]}}}}",
        "{\"spec\":{\"replicas\":1,\"template\":{\"metadata\":{\"labels\":{\"app\":\"w\"}},"
        "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"z\"},{\"name\":\"a\",\"image\":"
        "\"x:1\",\"env\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"B\",\"value\":\"2\"}],"
        "\"ports\":[{\"containerPort\":80}]},{\"name\":\"b\",\"image\":\"y:1\"}],"
        "\"tolerations\":[{\"key\":\"k\",\"effect\":\"NoSchedule\"}]}}}}");
    /* Env order from $setElementOrder, with a new variable in the middle. */
    SMP_APPS(
        "Deployment",
        "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\",\"env\":["
        "{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"C\",\"value\":\"3\"}]}]}}}}",
        "{\"spec\":{\"template\":{\"spec\":{\"$setElementOrder/containers\":[{\"name\":\"a\"}],"
        "\"containers\":[{\"name\":\"a\",\"$setElementOrder/env\":[{\"name\":\"A\"},"
        "{\"name\":\"B\"},{\"name\":\"C\"}],\"env\":[{\"name\":\"B\",\"value\":\"2\"}]}]}}}}",
        "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\",\"env\":["
        "{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"B\",\"value\":\"2\"},"
        "{\"name\":\"C\",\"value\":\"3\"}]}]}}}}");
    /* Tolerations have no strategy: the list is replaced. */
    SMP_APPS(
        "Deployment",
        "{\"spec\":{\"template\":{\"spec\":{\"tolerations\":[{\"key\":\"a\"},{\"key\":\"b\"}]}}}}",
        "{\"spec\":{\"template\":{\"spec\":{\"tolerations\":[{\"key\":\"c\"}]}}}}",
        "{\"spec\":{\"template\":{\"spec\":{\"tolerations\":[{\"key\":\"c\"}]}}}}");
    /* A whole-list replace directive. */
    SMP_APPS("Deployment", dep,
             "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"$patch\":\"replace\"},"
             "{\"name\":\"only\",\"image\":\"o\"}]}}}}",
             "{\"spec\":{\"replicas\":1,\"template\":{\"metadata\":{\"labels\":{\"app\":\"w\"}},"
             "\"spec\":{\"containers\":[{\"name\":\"only\",\"image\":\"o\"}],"
             "\"tolerations\":[{\"key\":\"k\",\"effect\":\"NoSchedule\"}]}}}}");
    /* $retainKeys on the deployment strategy (kubectl's switch to Recreate). */
    SMP_APPS("Deployment",
             "{\"spec\":{\"strategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":"
             "{\"maxSurge\":1,\"maxUnavailable\":0}}}}",
             "{\"spec\":{\"strategy\":{\"$retainKeys\":[\"type\"],\"type\":\"Recreate\"}}}",
             "{\"spec\":{\"strategy\":{\"type\":\"Recreate\"}}}");
    expect_error("{\"spec\":{\"strategy\":{\"type\":\"RollingUpdate\"}}}", PATCH_STRATEGIC,
                 "{\"spec\":{\"strategy\":{\"$retainKeys\":[\"type\"],\"rollingUpdate\":{}}}}",
                 "apps/v1", "Deployment", ST_EPARSE);
    /* Volumes merge by name and honour $retainKeys inside an element. */
    SMP("Pod",
        "{\"spec\":{\"volumes\":[{\"name\":\"v\",\"emptyDir\":{}},{\"name\":\"w\",\"emptyDir\":{}}]"
        "}}",
        "{\"spec\":{\"volumes\":[{\"name\":\"v\",\"$retainKeys\":[\"name\",\"secret\"],"
        "\"secret\":{\"secretName\":\"s\"}}]}}",
        "{\"spec\":{\"volumes\":[{\"name\":\"v\",\"secret\":{\"secretName\":\"s\"}},"
        "{\"name\":\"w\",\"emptyDir\":{}}]}}");
}

static void
test_smp_metadata(void **state)
{
    /* Finalizers are a merged set of primitives, on every kind. */
    SMP("ConfigMap", "{\"metadata\":{\"finalizers\":[\"a\",\"b\"]}}",
        "{\"metadata\":{\"finalizers\":[\"b\",\"c\"]}}",
        "{\"metadata\":{\"finalizers\":[\"a\",\"b\",\"c\"]}}");
    SMP("ConfigMap", "{\"metadata\":{\"finalizers\":[\"a\",\"b\",\"c\"]}}",
        "{\"metadata\":{\"$deleteFromPrimitiveList/finalizers\":[\"b\",\"x\"]}}",
        "{\"metadata\":{\"finalizers\":[\"a\",\"c\"]}}");
    SMP("ConfigMap", "{\"metadata\":{\"finalizers\":[\"a\",\"b\"]}}",
        "{\"metadata\":{\"$setElementOrder/finalizers\":[\"b\",\"a\"]}}",
        "{\"metadata\":{\"finalizers\":[\"b\",\"a\"]}}");
    /* Owner references merge by uid. */
    SMP("Secret", "{\"metadata\":{\"ownerReferences\":[{\"uid\":\"1\",\"name\":\"a\"}]}}",
        "{\"metadata\":{\"ownerReferences\":[{\"uid\":\"1\",\"controller\":true}]}}",
        "{\"metadata\":{\"ownerReferences\":[{\"uid\":\"1\",\"name\":\"a\",\"controller\":true}]}"
        "}");
    /* Maps merge, null deletes, $patch replace and delete work on maps. */
    SMP("ConfigMap", "{\"metadata\":{\"labels\":{\"a\":\"1\",\"b\":\"2\"}},\"data\":{\"k\":\"v\"}}",
        "{\"metadata\":{\"labels\":{\"a\":null,\"c\":\"3\"}},\"data\":{\"k2\":\"v2\"}}",
        "{\"metadata\":{\"labels\":{\"b\":\"2\",\"c\":\"3\"}},\"data\":{\"k\":\"v\",\"k2\":\"v2\"}"
        "}");
    SMP("ConfigMap", "{\"metadata\":{\"labels\":{\"a\":\"1\",\"b\":\"2\"}}}",
        "{\"metadata\":{\"labels\":{\"$patch\":\"replace\",\"c\":\"3\"}}}",
        "{\"metadata\":{\"labels\":{\"c\":\"3\"}}}");
    SMP("ConfigMap", "{\"metadata\":{\"name\":\"n\",\"labels\":{\"a\":\"1\"}}}",
        "{\"metadata\":{\"labels\":{\"$patch\":\"delete\"}}}", "{\"metadata\":{\"name\":\"n\"}}");
    SMP("ConfigMap", "{\"data\":{\"a\":\"1\"}}", "{\"data\":{\"$patch\":\"merge\",\"b\":\"2\"}}",
        "{\"data\":{\"a\":\"1\",\"b\":\"2\"}}");
    /* Directives in a value the object lacks are applied, never stored. */
    SMP("ConfigMap", "{}",
        "{\"metadata\":{\"labels\":{\"$patch\":\"replace\",\"a\":\"1\"},"
        "\"finalizers\":[\"f\"]},\"x\":{\"$patch\":\"delete\"}}",
        "{\"metadata\":{\"labels\":{\"a\":\"1\"},\"finalizers\":[\"f\"]}}");
    /* ServiceAccount secrets merge by name; imagePullSecrets are atomic. */
    SMP("ServiceAccount",
        "{\"secrets\":[{\"name\":\"a\"}],\"imagePullSecrets\":[{\"name\":\"p\"}]}",
        "{\"secrets\":[{\"name\":\"b\"}],\"imagePullSecrets\":[{\"name\":\"q\"}]}",
        "{\"secrets\":[{\"name\":\"b\"},{\"name\":\"a\"}],\"imagePullSecrets\":[{\"name\":\"q\"}]"
        "}");
    /* Endpoints subsets are replaced. */
    SMP("Endpoints", "{\"subsets\":[{\"addresses\":[{\"ip\":\"1.1.1.1\"}]}]}",
        "{\"subsets\":[{\"addresses\":[{\"ip\":\"2.2.2.2\"}]}]}",
        "{\"subsets\":[{\"addresses\":[{\"ip\":\"2.2.2.2\"}]}]}");
}

static void
test_smp_errors(void **state)
{
    const char *svc = "{\"spec\":{\"ports\":[{\"port\":80}]}}";

    /* Custom resources have no metadata: the API layer answers 415. */
    expect_error("{}", PATCH_STRATEGIC, "{}", "example.com/v1", "Widget", ST_EINVAL);
    expect_error("{}", PATCH_STRATEGIC, "{}", NULL, NULL, ST_EINVAL);
    assert_true(patch_kind_has_strategic("apps/v1", "Deployment"));
    assert_false(patch_kind_has_strategic("split.smi-spec.io/v1alpha2", "TrafficSplit"));

    SMP_ERR("Service", svc, "[]", ST_EPARSE);
    SMP_ERR("Service", svc, "{\"$bogus\":1}", ST_EPARSE);
    SMP_ERR("Service", svc, "{\"spec\":{\"$setElementOrder\":[]}}", ST_EPARSE);
    SMP_ERR("Service", svc, "{\"spec\":{\"$patch\":\"frob\"}}", ST_EPARSE);
    SMP_ERR("Service", svc, "{\"spec\":{\"ports\":[{\"targetPort\":1}]}}", ST_EPARSE);
    SMP_ERR("Service", svc, "{\"spec\":{\"ports\":[{\"$patch\":\"delete\"}]}}", ST_EPARSE);
    SMP_ERR("Service", svc, "{\"spec\":{\"ports\":[{\"$patch\":\"merge\",\"port\":80}]}}",
            ST_EPARSE);
    SMP_ERR("Service", svc, "{\"spec\":{\"ports\":[80]}}", ST_EPARSE);
    SMP_ERR("Service", svc, "{\"spec\":{\"$setElementOrder/ports\":[{\"name\":\"x\"}]}}",
            ST_EPARSE);
    SMP_ERR("Service", svc, "{\"spec\":{\"$retainKeys\":\"ports\"}}", ST_EPARSE);
    SMP_ERR("ConfigMap", "{\"metadata\":{\"finalizers\":[\"a\"]}}",
            "{\"metadata\":{\"finalizers\":[{\"x\":1}]}}", ST_EPARSE);
    SMP_ERR("ConfigMap", "{}", "{\"metadata\":{\"$deleteFromPrimitiveList/finalizers\":\"a\"}}",
            ST_EPARSE);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_types),   cmocka_unit_test(test_merge_rfc7386),
        cmocka_unit_test(test_merge_depth_cap), cmocka_unit_test(test_json_rfc6902),
        cmocka_unit_test(test_json_more),       cmocka_unit_test(test_json_atomic),
        cmocka_unit_test(test_json_caps),       cmocka_unit_test(test_smp_kubectl_apply_service),
        cmocka_unit_test(test_smp_deployment),  cmocka_unit_test(test_smp_metadata),
        cmocka_unit_test(test_smp_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
