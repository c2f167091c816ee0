/*
 * Unit tests for the protobuf decoder: real kubectl v1.32 bodies against the
 * JSON kubectl prints for the same command, bodies built here for the kinds
 * kubectl has no create command for, then malformed and hostile input. The
 * decoder's .c file is included so the depth cap can be reached with a
 * recursive test schema (the real tables do not recurse).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#include "proto.c"

/* ---- a tiny protobuf writer for building bodies ----------------------- */

static void
put_varint(struct st_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;

    do {
        tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v != 0);
    assert_int_equal(st_buf_append(b, tmp, n), 0);
}

static void
put_key(struct st_buf *b, uint32_t number, unsigned wire)
{
    put_varint(b, ((uint64_t)number << 3) | wire);
}

static void
put_bytes(struct st_buf *b, uint32_t number, const void *p, size_t n)
{
    put_key(b, number, PROTO_WIRE_LEN);
    put_varint(b, n);
    assert_int_equal(st_buf_append(b, p, n), 0);
}

static void
put_str(struct st_buf *b, uint32_t number, const char *s)
{
    put_bytes(b, number, s, strlen(s));
}

/* Appends <inner> as field <number> and frees it. */
static void
put_msg(struct st_buf *b, uint32_t number, struct st_buf *inner)
{
    put_bytes(b, number, inner->data ? inner->data : "", inner->len);
    st_buf_free(inner);
}

static void
put_uint(struct st_buf *b, uint32_t number, uint64_t v)
{
    put_key(b, number, PROTO_WIRE_VARINT);
    put_varint(b, v);
}

/* Builds "k8s\0" + Unknown{typeMeta, raw}; frees <raw>. */
static void
put_envelope(struct st_buf *body, const char *api_version, const char *kind, struct st_buf *raw)
{
    struct st_buf tm = ST_BUF_INIT(0);

    assert_int_equal(st_buf_append(body, "k8s\0", 4), 0);
    put_str(&tm, 1, api_version);
    put_str(&tm, 2, kind);
    put_msg(body, 1, &tm);
    put_msg(body, 2, raw);
}

/* Decodes <body> (freed) and expects the JSON text <want>. */
static void
expect_json(struct st_buf *body, const char *want_text)
{
    struct st_err err = {0};
    json_error_t jerr;
    json_t *want = json_loads(want_text, 0, &jerr);
    json_t *got = proto_decode(body->data, body->len, &err);

    if (want == NULL)
        fail_msg("bad expected JSON: %s", jerr.text);
    if (got == NULL)
        fail_msg("decode failed: %s", err.msg);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_SORT_KEYS);
        print_error("got  %s\nwant %s\n", g, want_text);
        free(g);
        fail();
    }
    json_decref(got);
    json_decref(want);
    st_buf_free(body);
}

/* Decodes <len> bytes at <p> and expects failure with <code>. */
static void
expect_error(const void *p, size_t len, int code)
{
    struct st_err err = {0};
    json_t *got = proto_decode(p, len, &err);

    if (got != NULL) {
        char *g = json_dumps(got, JSON_SORT_KEYS);
        print_error("unexpected success: %s\n", g);
        free(g);
        json_decref(got);
        fail();
    }
    assert_int_equal(err.code, code);
    assert_true(err.msg[0] != '\0');
}

static void
expect_error_buf(struct st_buf *body, int code)
{
    expect_error(body->data, body->len, code);
    st_buf_free(body);
}

/* Like expect_error_buf, and the message must name the reason. */
static void
expect_error_msg(struct st_buf *body, int code, const char *reason)
{
    struct st_err err = {0};
    json_t *got = proto_decode(body->data, body->len, &err);

    assert_null(got);
    assert_int_equal(err.code, code);
    if (strstr(err.msg, reason) == NULL)
        fail_msg("error \"%s\" does not say \"%s\"", err.msg, reason);
    st_buf_free(body);
}

/* ---- captured kubectl bodies ------------------------------------------- */

static void
read_fixture(const char *name, const char *ext, struct st_buf *out)
{
    char *path = st_xasprintf("%s/%s.%s", PROTO_TESTDATA, name, ext);
    int rc = st_file_read(path, out);

    if (rc < 0)
        fail_msg("%s: %s", path, st_strerror(rc));
    free(path);
}

/* Decodes testdata/proto/<name>.pb and compares it with <name>.json. */
static void
test_fixture(void **state)
{
    const char *name = *state;
    struct st_buf pb = ST_BUF_INIT(1u << 20), js = ST_BUF_INIT(1u << 20);

    read_fixture(name, "pb", &pb);
    read_fixture(name, "json", &js);
    expect_json(&pb, st_buf_cstr(&js));
    st_buf_free(&js);
}

#define FIXTURE(n)                                                                                 \
    {                                                                                              \
        "fixture_" n, test_fixture, NULL, NULL, (void *)(n)                                        \
    }

/* kubectl bodies without a --dry-run JSON twin: the fields checked by hand. */
static void
test_fixture_reviews(void **state)
{
    struct st_buf pb = ST_BUF_INIT(1u << 20);

    read_fixture("ssar", "pb", &pb);
    expect_json(&pb, "{\"apiVersion\":\"authorization.k8s.io/v1\","
                     "\"kind\":\"SelfSubjectAccessReview\","
                     "\"metadata\":{\"creationTimestamp\":null},"
                     "\"spec\":{\"resourceAttributes\":{\"namespace\":\"x\",\"verb\":\"create\","
                     "\"resource\":\"services\"}},\"status\":{\"allowed\":false}}");
    read_fixture("ssar_nonresource", "pb", &pb);
    expect_json(&pb, "{\"apiVersion\":\"authorization.k8s.io/v1\","
                     "\"kind\":\"SelfSubjectAccessReview\","
                     "\"metadata\":{\"creationTimestamp\":null},"
                     "\"spec\":{\"nonResourceAttributes\":{\"path\":\"/healthz\","
                     "\"verb\":\"get\"}},\"status\":{\"allowed\":false}}");
    read_fixture("ssrr", "pb", &pb);
    expect_json(&pb, "{\"apiVersion\":\"authorization.k8s.io/v1\","
                     "\"kind\":\"SelfSubjectRulesReview\","
                     "\"metadata\":{\"creationTimestamp\":null},"
                     "\"spec\":{\"namespace\":\"x\"},"
                     "\"status\":{\"incomplete\":false}}");
    read_fixture("tokenrequest", "pb", &pb);
    expect_json(&pb, "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenRequest\","
                     "\"metadata\":{\"creationTimestamp\":null},"
                     "\"spec\":{\"audiences\":[\"api\",\"vault\"],\"expirationSeconds\":600},"
                     "\"status\":{\"expirationTimestamp\":null}}");
    read_fixture("ssar_subresource", "pb", &pb);
    expect_json(&pb, "{\"apiVersion\":\"authorization.k8s.io/v1\","
                     "\"kind\":\"SelfSubjectAccessReview\","
                     "\"metadata\":{\"creationTimestamp\":null},"
                     "\"spec\":{\"resourceAttributes\":{\"namespace\":\"x\",\"verb\":\"get\","
                     "\"resource\":\"pods\",\"subresource\":\"log\",\"name\":\"log\"}},"
                     "\"status\":{\"allowed\":false}}");
    read_fixture("tokenrequest_bound", "pb", &pb);
    expect_json(&pb, "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenRequest\","
                     "\"metadata\":{\"creationTimestamp\":null},"
                     "\"spec\":{\"boundObjectRef\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
                     "\"name\":\"p\",\"uid\":\"1234\"}},"
                     "\"status\":{\"expirationTimestamp\":null}}");
    read_fixture("selfsubjectreview", "pb", &pb);
    expect_json(&pb, "{\"apiVersion\":\"authentication.k8s.io/v1\","
                     "\"kind\":\"SelfSubjectReview\",\"metadata\":{\"creationTimestamp\":null},"
                     "\"status\":{\"userInfo\":{}}}");
}

/* ---- bodies built here ----------------------------------------------------- */

/* ObjectMeta {name, namespace} as Go writes it, with the empty creationTimestamp. */
static void
put_meta(struct st_buf *b, const char *name, const char *ns)
{
    struct st_buf m = ST_BUF_INIT(0), t = ST_BUF_INIT(0);

    put_str(&m, 1, name);
    put_str(&m, 3, ns);
    put_str(&m, 4, ""); /* zero strings are on the wire and must vanish */
    put_uint(&m, 7, 0);
    put_msg(&m, 8, &t);
    put_msg(b, 1, &m);
}

static void
test_endpoints(void **state)
{
    struct st_buf raw = ST_BUF_INIT(0), body = ST_BUF_INIT(0), sub = ST_BUF_INIT(0);
    struct st_buf addr = ST_BUF_INIT(0), port = ST_BUF_INIT(0), ref = ST_BUF_INIT(0);

    put_meta(&raw, "web", "x");
    put_str(&ref, 1, "Pod");
    put_str(&ref, 3, "web-1");
    put_str(&addr, 1, "10.0.0.5");
    put_msg(&addr, 2, &ref);
    put_msg(&sub, 1, &addr);
    put_str(&port, 1, "http");
    put_uint(&port, 2, 0); /* port is not omitempty: a zero stays */
    put_str(&port, 3, "TCP");
    put_msg(&sub, 3, &port);
    put_msg(&raw, 2, &sub);
    put_envelope(&body, "v1", "Endpoints", &raw);
    expect_json(&body, "{\"apiVersion\":\"v1\",\"kind\":\"Endpoints\","
                       "\"metadata\":{\"name\":\"web\",\"namespace\":\"x\","
                       "\"creationTimestamp\":null},"
                       "\"subsets\":[{\"addresses\":[{\"ip\":\"10.0.0.5\","
                       "\"targetRef\":{\"kind\":\"Pod\",\"name\":\"web-1\"}}],"
                       "\"ports\":[{\"name\":\"http\",\"port\":0,\"protocol\":\"TCP\"}]}]}");
}

static void
test_lease_microtime(void **state)
{
    struct st_buf raw = ST_BUF_INIT(0), body = ST_BUF_INIT(0), spec = ST_BUF_INIT(0);
    struct st_buf t = ST_BUF_INIT(0);

    put_meta(&raw, "leader", "kube-system");
    put_str(&spec, 1, "node-a");
    put_uint(&spec, 2, 15);
    put_uint(&t, 1, 1700000000);
    put_uint(&t, 2, 123456789);
    put_msg(&spec, 3, &t);
    put_uint(&t, 1, 0); /* explicit zero seconds: the epoch, not the zero time */
    put_uint(&t, 2, 0);
    put_msg(&spec, 4, &t);
    put_uint(&spec, 5, 0); /* *int32 leaseTransitions set to 0 */
    put_msg(&raw, 2, &spec);
    put_envelope(&body, "coordination.k8s.io/v1", "Lease", &raw);
    expect_json(&body, "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\","
                       "\"metadata\":{\"name\":\"leader\",\"namespace\":\"kube-system\","
                       "\"creationTimestamp\":null},"
                       "\"spec\":{\"holderIdentity\":\"node-a\",\"leaseDurationSeconds\":15,"
                       "\"acquireTime\":\"2023-11-14T22:13:20.123456Z\","
                       "\"renewTime\":\"1970-01-01T00:00:00.000000Z\","
                       "\"leaseTransitions\":0}}");
}

static void
test_time_and_managed_fields(void **state)
{
    struct st_buf raw = ST_BUF_INIT(0), body = ST_BUF_INIT(0), m = ST_BUF_INIT(0);
    struct st_buf t = ST_BUF_INIT(0), mf = ST_BUF_INIT(0), f1 = ST_BUF_INIT(0);
    struct st_buf own = ST_BUF_INIT(0);

    put_str(&m, 1, "n");
    put_uint(&t, 1, 1700000000);
    put_uint(&t, 2, 999); /* Time's JSON has whole seconds */
    put_msg(&m, 8, &t);
    put_uint(&m, 7, UINT64_MAX); /* generation -1: a full 10-byte varint */
    put_uint(&m, 10, 0);         /* *int64 deletionGracePeriodSeconds = 0 */
    put_str(&mf, 1, "kubectl");
    put_str(&f1, 1, "{\"f:metadata\":{}}");
    put_msg(&mf, 7, &f1);
    put_msg(&m, 17, &mf);
    put_str(&own, 5, "v1");
    put_str(&own, 1, "ConfigMap");
    put_str(&own, 3, "owner");
    put_str(&own, 4, "u-1");
    put_uint(&own, 6, 1);
    put_uint(&own, 7, 0);
    put_msg(&m, 13, &own);
    put_str(&m, 14, "example.com/f");
    put_str(&m, 14, "");
    put_msg(&raw, 1, &m);
    put_envelope(&body, "v1", "Namespace", &raw);
    expect_json(&body, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\","
                       "\"metadata\":{\"name\":\"n\","
                       "\"creationTimestamp\":\"2023-11-14T22:13:20Z\",\"generation\":-1,"
                       "\"deletionGracePeriodSeconds\":0,"
                       "\"managedFields\":[{\"manager\":\"kubectl\","
                       "\"fieldsV1\":{\"f:metadata\":{}}}],"
                       "\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
                       "\"name\":\"owner\",\"uid\":\"u-1\",\"controller\":true,"
                       "\"blockOwnerDeletion\":false}],"
                       "\"finalizers\":[\"example.com/f\",\"\"]}}");
}

static void
test_subject_access_review_extra(void **state)
{
    struct st_buf raw = ST_BUF_INIT(0), body = ST_BUF_INIT(0), spec = ST_BUF_INIT(0);
    struct st_buf entry = ST_BUF_INIT(0), ev = ST_BUF_INIT(0), ra = ST_BUF_INIT(0);

    put_meta(&raw, "", "");
    put_str(&ra, 2, "get");
    put_str(&ra, 5, "pods");
    put_msg(&spec, 1, &ra);
    put_str(&spec, 3, "alice");
    put_str(&spec, 4, "devs");
    put_str(&spec, 4, "system:authenticated");
    put_str(&entry, 1, "scopes");
    put_str(&ev, 1, "a");
    put_str(&ev, 1, "b");
    put_msg(&entry, 2, &ev);
    put_msg(&spec, 5, &entry);
    put_str(&entry, 1, "empty");
    put_msg(&spec, 5, &entry); /* an entry without a value: the zero, [] */
    put_str(&spec, 6, "uid-1");
    put_msg(&raw, 2, &spec);
    put_envelope(&body, "authorization.k8s.io/v1", "SubjectAccessReview", &raw);
    expect_json(&body, "{\"apiVersion\":\"authorization.k8s.io/v1\","
                       "\"kind\":\"SubjectAccessReview\",\"metadata\":{\"creationTimestamp\":null},"
                       "\"spec\":{\"resourceAttributes\":{\"verb\":\"get\",\"resource\":\"pods\"},"
                       "\"user\":\"alice\",\"groups\":[\"devs\",\"system:authenticated\"],"
                       "\"extra\":{\"scopes\":[\"a\",\"b\"],\"empty\":[]},\"uid\":\"uid-1\"}}");
}

static void
test_token_review(void **state)
{
    struct st_buf raw = ST_BUF_INIT(0), body = ST_BUF_INIT(0), spec = ST_BUF_INIT(0);

    put_meta(&raw, "", "");
    put_str(&spec, 1, "abc.def");
    put_str(&spec, 2, "https://kubernetes.default.svc");
    put_msg(&raw, 2, &spec);
    put_envelope(&body, "authentication.k8s.io/v1", "TokenReview", &raw);
    expect_json(&body, "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenReview\","
                       "\"metadata\":{\"creationTimestamp\":null},"
                       "\"spec\":{\"token\":\"abc.def\","
                       "\"audiences\":[\"https://kubernetes.default.svc\"]}}");
}

/* Maps: duplicate keys (last wins), missing key or value, binary Secret data. */
static void
test_maps(void **state)
{
    struct st_buf raw = ST_BUF_INIT(0), body = ST_BUF_INIT(0), m = ST_BUF_INIT(0);
    struct st_buf e = ST_BUF_INIT(0);
    static const uint8_t bin[] = {0x00, 0xff, 0x10, 'k'};

    put_str(&e, 1, "app");
    put_str(&e, 2, "one");
    put_msg(&m, 11, &e);
    put_str(&e, 1, "app");
    put_str(&e, 2, "two");
    put_msg(&m, 11, &e);
    put_str(&e, 2, "no-key");
    put_msg(&m, 11, &e);
    put_str(&e, 1, "no-value");
    put_msg(&m, 12, &e);
    put_msg(&raw, 1, &m);
    put_str(&e, 1, "bin");
    put_bytes(&e, 2, bin, sizeof(bin));
    put_msg(&raw, 2, &e);
    put_str(&e, 1, "empty");
    put_bytes(&e, 2, "", 0);
    put_msg(&raw, 2, &e);
    put_uint(&raw, 5, 0); /* *bool immutable = false */
    put_envelope(&body, "v1", "Secret", &raw);
    expect_json(&body, "{\"apiVersion\":\"v1\",\"kind\":\"Secret\","
                       "\"metadata\":{\"labels\":{\"app\":\"two\",\"\":\"no-key\"},"
                       "\"annotations\":{\"no-value\":\"\"}},"
                       "\"data\":{\"bin\":\"AP8Qaw==\",\"empty\":\"\"},\"immutable\":false}");
}

/* Deployment: IntOrString both ways, Quantity maps, packed and plain repeated int64. */
static void
test_pod_template_details(void **state)
{
    struct st_buf raw = ST_BUF_INIT(0), body = ST_BUF_INIT(0), spec = ST_BUF_INIT(0);
    struct st_buf tmpl = ST_BUF_INIT(0), pod = ST_BUF_INIT(0), c = ST_BUF_INIT(0);
    struct st_buf res = ST_BUF_INIT(0), e = ST_BUF_INIT(0), q = ST_BUF_INIT(0);
    struct st_buf strat = ST_BUF_INIT(0), ru = ST_BUF_INIT(0), ios = ST_BUF_INIT(0);
    struct st_buf sc = ST_BUF_INIT(0), packed = ST_BUF_INIT(0), env = ST_BUF_INIT(0);
    struct st_buf io = ST_BUF_INIT(0), probe = ST_BUF_INIT(0), vol = ST_BUF_INIT(0);

    put_str(&c, 1, "app");
    put_str(&c, 2, "nginx:1");
    put_str(&c, 3, "nginx");
    put_str(&c, 4, "-g");
    put_str(&env, 1, "MODE");
    put_str(&env, 2, "fast");
    put_msg(&c, 7, &env);
    put_str(&q, 1, "500m");
    put_str(&e, 1, "cpu");
    put_msg(&e, 2, &q);
    put_msg(&res, 1, &e);
    put_str(&e, 1, "memory");
    put_msg(&e, 2, &q); /* an empty Quantity is "0" */
    put_msg(&res, 2, &e);
    put_msg(&c, 8, &res);
    put_str(&io, 1, "/healthz"); /* livenessProbe: the handler is an embedded struct */
    put_uint(&ios, 2, 8080);
    put_msg(&io, 2, &ios);
    put_msg(&probe, 2, &io);
    put_msg(&io, 1, &probe);
    put_uint(&io, 4, 5);
    put_msg(&c, 10, &io);
    put_msg(&pod, 2, &c);
    put_str(&io, 1, "c"); /* a configMap volume: name and volumeSource are inline */
    put_msg(&probe, 1, &io);
    put_uint(&probe, 3, 0);
    put_msg(&io, 19, &probe);
    put_str(&vol, 1, "cfg");
    put_msg(&vol, 2, &io);
    put_msg(&pod, 1, &vol);
    put_uint(&sc, 2, 0); /* runAsUser: 0 is root, and it must stay */
    put_uint(&sc, 4, 7);
    put_varint(&packed, 8);
    put_varint(&packed, 9);
    put_msg(&sc, 4, &packed);
    put_msg(&pod, 14, &sc);
    put_msg(&tmpl, 2, &pod);
    put_msg(&spec, 3, &tmpl);
    put_str(&strat, 1, "RollingUpdate");
    put_uint(&ios, 1, 0);
    put_uint(&ios, 2, 2);
    put_msg(&ru, 1, &ios);
    put_uint(&ios, 1, 1);
    put_str(&ios, 3, "25%");
    put_msg(&ru, 2, &ios);
    put_msg(&strat, 2, &ru);
    put_msg(&spec, 4, &strat);
    put_msg(&raw, 2, &spec);
    put_envelope(&body, "apps/v1", "Deployment", &raw);
    expect_json(&body, "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
                       "\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"app\","
                       "\"image\":\"nginx:1\",\"command\":[\"nginx\"],\"args\":[\"-g\"],"
                       "\"env\":[{\"name\":\"MODE\",\"value\":\"fast\"}],"
                       "\"resources\":{\"limits\":{\"cpu\":\"500m\"},"
                       "\"requests\":{\"memory\":\"0\"}},"
                       "\"livenessProbe\":{\"httpGet\":{\"path\":\"/healthz\","
                       "\"port\":8080},\"periodSeconds\":5}}],"
                       "\"volumes\":[{\"name\":\"cfg\",\"configMap\":{\"name\":\"c\","
                       "\"defaultMode\":0}}],"
                       "\"securityContext\":{\"runAsUser\":0,"
                       "\"supplementalGroups\":[7,8,9]}}},"
                       "\"strategy\":{\"type\":\"RollingUpdate\","
                       "\"rollingUpdate\":{\"maxUnavailable\":2,\"maxSurge\":\"25%\"}}}}");
}

/* Unknown fields of every wire type are skipped; the result is unchanged. */
static void
test_unknown_fields_skipped(void **state)
{
    struct st_buf raw = ST_BUF_INIT(0), body = ST_BUF_INIT(0), m = ST_BUF_INIT(0);
    struct st_buf deep = ST_BUF_INIT(0), next = ST_BUF_INIT(0);

    put_str(&m, 1, "x");
    put_uint(&m, 99, 5);
    put_key(&m, 100, PROTO_WIRE_I64);
    assert_int_equal(st_buf_append(&m, "12345678", 8), 0);
    put_key(&m, 101, PROTO_WIRE_I32);
    assert_int_equal(st_buf_append(&m, "1234", 4), 0);
    /* 20000 levels of nesting inside an unknown field cost no recursion. */
    for (int i = 0; i < 20000; i++) {
        put_bytes(&next, 1, deep.data ? deep.data : "", deep.len);
        st_buf_free(&deep);
        deep = next;
        st_buf_init(&next, 0);
    }
    put_msg(&m, 102, &deep);
    put_msg(&raw, 1, &m);
    put_str(&raw, 77, "future field");
    put_envelope(&body, "v1", "Namespace", &raw);
    expect_json(&body, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\","
                       "\"metadata\":{\"name\":\"x\"}}");
}

/* A body cut anywhere inside the object fails cleanly with ST_EPARSE. */
static void
test_truncated(void **state)
{
    struct st_buf pb = ST_BUF_INIT(1u << 20);

    read_fixture("deployment", "pb", &pb);
    const uint8_t *p = (const uint8_t *)pb.data;
    /* magic, typeMeta (field 1), then raw (field 2) whose length is a 2-byte varint */
    size_t raw_at = 4 + 2 + p[5];
    assert_int_equal(p[raw_at], 0x12);
    size_t raw_end = raw_at + 3 + ((p[raw_at + 1] & 0x7f) | (size_t)p[raw_at + 2] << 7);
    assert_true(raw_end <= pb.len);
    for (size_t n = 0; n < pb.len; n++) {
        struct st_err err = {0};
        json_t *got = proto_decode(p, n, &err);
        if (n < 4 || (n > raw_at && n < raw_end) || (n > 4 && n < raw_at)) {
            if (got != NULL)
                fail_msg("prefix of %zu bytes decoded", n);
            assert_int_equal(err.code, ST_EPARSE);
        }
        json_decref(got);
    }
    st_buf_free(&pb);
}

static void
test_bad_envelope(void **state)
{
    struct st_buf body = ST_BUF_INIT(0), raw = ST_BUF_INIT(0);

    expect_error("", 0, ST_EPARSE);
    expect_error("k8s", 3, ST_EPARSE);
    expect_error("{\"kind\":\"Namespace\"}", 20, ST_EPARSE);
    expect_error("k8x\0\x0a\x00", 6, ST_EPARSE);
    /* the magic alone is an Unknown without a kind */
    expect_error("k8s\0", 4, ST_EINVAL);

    put_str(&raw, 1, "ignored");
    put_envelope(&body, "v1", "Pod", &raw);
    expect_error_buf(&body, ST_EINVAL);
    put_envelope(&body, "apps/v1beta1", "Deployment", &raw);
    expect_error_buf(&body, ST_EINVAL);

    put_envelope(&body, "v1", "Namespace", &raw);
    put_str(&body, 3, "gzip");
    expect_error_buf(&body, ST_EINVAL);

    put_envelope(&body, "v1", "Namespace", &raw);
    put_str(&body, 4, "application/vnd.kubernetes.protobuf"); /* contentType is fine */
    expect_json(&body, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\"}");

    /* a kind holding NUL or over 255 bytes */
    assert_int_equal(st_buf_append(&body, "k8s\0\x0a\x07\x0a\x02v1\x12\x01\0", 13), 0);
    expect_error_buf(&body, ST_EPARSE);
    char big[300];
    memset(big, 'K', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    put_envelope(&body, "v1", big, &raw);
    expect_error_buf(&body, ST_EPARSE);

    assert_true(proto_kind_supported("v1", "Secret"));
    assert_true(proto_kind_supported("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"));
    assert_true(proto_kind_supported("authorization.k8s.io/v1", "SelfSubjectRulesReview"));
    assert_false(proto_kind_supported("v1", "Pod"));
    assert_false(proto_kind_supported("apps/v1", "Secret"));
    assert_false(proto_kind_supported(NULL, "Secret"));
}

/* Builds a Namespace body whose ObjectMeta bytes are <meta> (len <n>). */
static void
namespace_with_meta(struct st_buf *body, const void *meta, size_t n)
{
    struct st_buf raw = ST_BUF_INIT(0);

    put_bytes(&raw, 1, meta, n);
    put_envelope(body, "v1", "Namespace", &raw);
}

static void
test_malformed_wire(void **state)
{
    struct st_buf body = ST_BUF_INIT(0), raw = ST_BUF_INIT(0);

    /* varints: 11 bytes, a 10th byte above 1, and one cut short */
    namespace_with_meta(&body, "\x38\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12);
    expect_error_msg(&body, ST_EPARSE, "bad varint");
    namespace_with_meta(&body, "\x38\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 11);
    expect_error_msg(&body, ST_EPARSE, "bad varint");
    namespace_with_meta(&body, "\x38\xff\xff", 3);
    expect_error_msg(&body, ST_EPARSE, "bad varint");
    /* a length past the end of the enclosing message, though not of the body */
    put_bytes(&raw, 1, "\x0a\x20x", 3);
    put_str(&raw, 50, "padding that follows the metadata field in raw");
    put_envelope(&body, "v1", "Namespace", &raw);
    expect_error_msg(&body, ST_EPARSE, "runs past the end");
    /* a huge length */
    namespace_with_meta(&body, "\x0a\xff\xff\xff\xff\x0f", 6);
    expect_error_msg(&body, ST_EPARSE, "runs past the end");
    /* groups (start and end), wire types 6 and 7, field number 0 */
    namespace_with_meta(&body, "\x0b\x0c", 2);
    expect_error_msg(&body, ST_EPARSE, "groups");
    namespace_with_meta(&body, "\xfc\x06", 2);
    expect_error_msg(&body, ST_EPARSE, "groups");
    namespace_with_meta(&body, "\x0e\x00", 2);
    expect_error_msg(&body, ST_EPARSE, "invalid wire type");
    namespace_with_meta(&body, "\x0f\x00", 2);
    expect_error_msg(&body, ST_EPARSE, "invalid wire type");
    namespace_with_meta(&body, "\x02\x00", 2);
    expect_error_msg(&body, ST_EPARSE, "field number");
    /* a known field with the wrong wire type: name as varint, labels as varint */
    namespace_with_meta(&body, "\x08\x01", 2);
    expect_error_msg(&body, ST_EPARSE, "wire type 0");
    namespace_with_meta(&body, "\x58\x01", 2);
    expect_error_msg(&body, ST_EPARSE, "wire type 0");
    /* strings that are not UTF-8, in a field and in a map key */
    namespace_with_meta(&body, "\x0a\x02\xc3\x28", 4);
    expect_error_msg(&body, ST_EPARSE, "UTF-8");
    namespace_with_meta(&body, "\x5a\x04\x0a\x02\xff\xfe", 6);
    expect_error_msg(&body, ST_EPARSE, "UTF-8");
    /* a map key holding NUL */
    namespace_with_meta(&body, "\x5a\x05\x0a\x03\x61\x00\x62", 7);
    expect_error_msg(&body, ST_EPARSE, "bad key");
    /* times out of Go's range and nanos out of range */
    namespace_with_meta(&body, "\x42\x0a\x08\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 12);
    expect_error_msg(&body, ST_EPARSE, "out of range");
    namespace_with_meta(&body, "\x42\x0b\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 13);
    expect_error_msg(&body, ST_EPARSE, "out of range");
    /* FieldsV1 that is not JSON */
    namespace_with_meta(&body, "\x8a\x01\x06\x3a\x04\x0a\x02{x", 9);
    expect_error_msg(&body, ST_EPARSE, "does not hold JSON");
}

static void
test_int_or_string_bad_type(void **state)
{
    struct st_buf raw = ST_BUF_INIT(0), body = ST_BUF_INIT(0), spec = ST_BUF_INIT(0);
    struct st_buf port = ST_BUF_INIT(0), ios = ST_BUF_INIT(0);

    put_uint(&ios, 1, 2);
    put_msg(&port, 4, &ios);
    put_msg(&spec, 1, &port);
    put_msg(&raw, 2, &spec);
    put_envelope(&body, "v1", "Service", &raw);
    expect_error_buf(&body, ST_EPARSE);
}

static void
test_caps(void **state)
{
    struct st_buf body = ST_BUF_INIT(0), meta = ST_BUF_INIT(0);

    /* the body size cap comes before anything else is looked at */
    uint8_t *big = st_xcalloc(PROTO_MAX_BODY + 1, 1);
    memcpy(big, "k8s\0", 4);
    expect_error(big, PROTO_MAX_BODY + 1, ST_ETOOBIG);
    free(big);

    /* one more finalizer than a repeated field may hold */
    for (unsigned i = 0; i <= PROTO_MAX_REPEATED; i++)
        assert_int_equal(st_buf_append(&meta, "\x72\x00", 2), 0);
    namespace_with_meta(&body, meta.data, meta.len);
    expect_error_buf(&body, ST_ETOOBIG);
    /* exactly the cap decodes */
    namespace_with_meta(&body, meta.data, meta.len - 2);
    struct st_err err = {0};
    json_t *got = proto_decode(body.data, body.len, &err);
    assert_non_null(got);
    assert_int_equal(
        json_array_size(json_object_get(json_object_get(got, "metadata"), "finalizers")),
        PROTO_MAX_REPEATED);
    json_decref(got);
    st_buf_free(&body);
    st_buf_free(&meta);

    /* the same cap for map entries */
    for (unsigned i = 0; i <= PROTO_MAX_REPEATED; i++) {
        char key[16];
        int n = snprintf(key, sizeof(key), "k%u", i);
        struct st_buf e = ST_BUF_INIT(0);
        put_bytes(&e, 1, key, (size_t)n);
        put_msg(&meta, 11, &e);
    }
    namespace_with_meta(&body, meta.data, meta.len);
    expect_error_buf(&body, ST_ETOOBIG);
    st_buf_free(&meta);

    /* repeating one map key keeps the map small, but every value still counts */
    for (unsigned i = 0; i < PROTO_MAX_NODES + 1000; i++)
        assert_int_equal(st_buf_append(&meta, "\x5a\x02\x0a\x00", 4), 0);
    namespace_with_meta(&body, meta.data, meta.len);
    expect_error_msg(&body, ST_ETOOBIG, "values in one body");
    st_buf_free(&meta);
}

/* A recursive schema reaches the depth cap, which the real tables cannot. */
static const struct proto_message test_rec;
static const struct proto_field test_rec_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "child", &test_rec},
};
static const struct proto_message test_rec = {"test.Rec", 1, test_rec_fields};

static int
decode_nested(int levels)
{
    struct st_buf deep = ST_BUF_INIT(0), next = ST_BUF_INIT(0);
    struct proto_ctx ctx = {0};
    struct st_err err = {0};
    json_t *obj = json_object();

    ctx.err = &err;
    for (int i = 0; i < levels; i++) {
        put_bytes(&next, 1, deep.data ? deep.data : "", deep.len);
        st_buf_free(&deep);
        deep = next;
        st_buf_init(&next, 0);
    }
    int rc = proto_decode_message(&ctx, &test_rec, (const uint8_t *)deep.data, deep.len, 0, obj);
    json_decref(obj);
    st_buf_free(&deep);
    return rc;
}

static void
test_depth_cap(void **state)
{
    assert_int_equal(decode_nested(PROTO_MAX_DEPTH), 0);
    assert_int_equal(decode_nested(PROTO_MAX_DEPTH + 1), ST_ETOOBIG);
    assert_int_equal(decode_nested(5000), ST_ETOOBIG);
}

/* Every table is sorted by field number and names its message types. */
static void
test_schema_tables(void **state)
{
    for (size_t i = 0; i < proto_nkinds; i++) {
        const struct proto_message *stack[64];
        size_t n = 0;
        stack[n++] = proto_kinds[i].message;
        while (n > 0) {
            const struct proto_message *m = stack[--n];
            for (size_t j = 0; j < m->nfields; j++) {
                const struct proto_field *f = &m->fields[j];
                if (j > 0)
                    assert_true(m->fields[j - 1].number < f->number);
                if (f->type == PROTO_T_MESSAGE || f->type == PROTO_T_MAP) {
                    assert_non_null(f->message);
                    assert_true(n < ST_ARRAY_LEN(stack));
                    stack[n++] = f->message;
                }
            }
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE("namespace"),
        FIXTURE("secret"),
        FIXTURE("secret_tls_type"),
        FIXTURE("service_clusterip"),
        FIXTURE("service_nodeport"),
        FIXTURE("service_externalname"),
        FIXTURE("service_headless"),
        FIXTURE("configmap"),
        FIXTURE("serviceaccount"),
        FIXTURE("deployment"),
        FIXTURE("deployment_cmd"),
        FIXTURE("deployment_zero"),
        FIXTURE("role"),
        FIXTURE("clusterrole"),
        FIXTURE("clusterrole_aggregate"),
        FIXTURE("rolebinding"),
        FIXTURE("clusterrolebinding"),
        cmocka_unit_test(test_fixture_reviews),
        cmocka_unit_test(test_endpoints),
        cmocka_unit_test(test_lease_microtime),
        cmocka_unit_test(test_time_and_managed_fields),
        cmocka_unit_test(test_subject_access_review_extra),
        cmocka_unit_test(test_token_review),
        cmocka_unit_test(test_maps),
        cmocka_unit_test(test_pod_template_details),
        cmocka_unit_test(test_unknown_fields_skipped),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_bad_envelope),
        cmocka_unit_test(test_malformed_wire),
        cmocka_unit_test(test_int_or_string_bad_type),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_depth_cap),
        cmocka_unit_test(test_schema_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
