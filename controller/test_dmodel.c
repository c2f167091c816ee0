/*
 * Unit tests for the destination model: name resolution, SMI quantities,
 * service and split snapshots, and the Endpoints of workload Services.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#include "strait/json.h"

#include "dmodel.h"

#define DOMAIN "cluster.local"
#define TD "cluster.local"

static json_t *
load(const char *text)
{
    struct st_err err = {0};
    json_t *v = st_json_load(text, strlen(text), 0, &err);
    if (v == NULL)
        fail_msg("bad test JSON: %s", err.msg);
    return v;
}

static void
test_authority_names(void **state)
{
    struct dmodel_authority a;
    static const char *const same[] = {
        "web",           "web:80",           "web.emoji",         "web.emoji:80",
        "web.emoji.svc", "WEB.Emoji.svc:80", "web.emoji.svc.cluster.local",
        "web.emoji.svc.cluster.local.:80",
    };

    for (size_t i = 0; i < ST_ARRAY_LEN(same); i++) {
        assert_int_equal(dmodel_parse_authority(same[i], "emoji", DOMAIN, &a), 0);
        assert_false(a.is_ip);
        assert_string_equal(a.name, "web");
        assert_string_equal(a.ns, "emoji");
        assert_int_equal(a.port, 80);
        assert_string_equal(a.key, "web.emoji.svc.cluster.local:80");
    }
    /* Short names take the client's namespace; qualified ones keep theirs. */
    assert_int_equal(dmodel_parse_authority("books:8080", "other", DOMAIN, &a), 0);
    assert_string_equal(a.key, "books.other.svc.cluster.local:8080");
    assert_int_equal(dmodel_parse_authority("books.shop:8080", "other", DOMAIN, &a), 0);
    assert_string_equal(a.key, "books.shop.svc.cluster.local:8080");
    /* A short name without a client namespace cannot be resolved. */
    assert_int_equal(dmodel_parse_authority("books", NULL, DOMAIN, &a), ST_ENOTFOUND);

    /* ClusterIPs. */
    assert_int_equal(dmodel_parse_authority("127.1.128.7:8888", "x", DOMAIN, &a), 0);
    assert_true(a.is_ip);
    assert_string_equal(a.ip, "127.1.128.7");
    assert_int_equal(a.port, 8888);
    assert_string_equal(a.key, "127.1.128.7:8888");
    assert_int_equal(dmodel_parse_authority("10.0.0.1", "x", DOMAIN, &a), 0);
    assert_string_equal(a.key, "10.0.0.1:80");

    /* Well-formed names that are no Service of this cluster. */
    assert_int_equal(dmodel_parse_authority("example.com", "x", DOMAIN, &a), 0);
    assert_string_equal(a.key, "example.com.svc.cluster.local:80"); /* "svc.ns" form */
    assert_int_equal(dmodel_parse_authority("www.example.com:443", "x", DOMAIN, &a),
                     ST_ENOTFOUND);
    assert_string_equal(a.key, "www.example.com:443");
    assert_int_equal(dmodel_parse_authority("web.emoji.svc.other.domain", "x", DOMAIN, &a),
                     ST_ENOTFOUND);
    assert_int_equal(dmodel_parse_authority("a.b.c.d.e.f.g.h.i.j", "x", DOMAIN, &a),
                     ST_ENOTFOUND);
    assert_int_equal(dmodel_parse_authority("-web", "x", DOMAIN, &a), ST_ENOTFOUND);

    /* Malformed. */
    static const char *const bad[] = {
        "", ":80", "web:", "web:0", "web:65536", "web:8o", "web:-1", "we b", "web/x",
        "web..emoji", ".web", "web:80:80", "[::1]:80", "web@emoji", "web.:80.",
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(bad); i++)
        assert_int_equal(dmodel_parse_authority(bad[i], "x", DOMAIN, &a), ST_EPARSE);
    char long_name[DMODEL_AUTHORITY_MAX + 2];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    assert_int_equal(dmodel_parse_authority(long_name, "x", DOMAIN, &a), ST_EPARSE);
}

static void
test_quantities(void **state)
{
    static const struct {
        const char *in;
        int64_t milli;
    } ok[] = {
        {"500m", 500}, {"1", 1000},    {"1k", 1000000}, {"0", 0},         {"+2", 2000},
        {"0.5", 500},  {"1.5k", 1500000}, {"1Ki", 1024000}, {"1e3", 1000000}, {"1E-3", 1},
        {"100u", 1},   {"1n", 1},      {"2.0005", 2001}, {"250m", 250},   {"1M", 1000000000},
        {".5", 500},   {"5.", 5000},
    };
    int64_t v;

    for (size_t i = 0; i < ST_ARRAY_LEN(ok); i++) {
        assert_int_equal(dmodel_quantity_milli(ok[i].in, &v), 0);
        if (v != ok[i].milli)
            fail_msg("%s: got %lld, want %lld", ok[i].in, (long long)v, (long long)ok[i].milli);
    }
    static const char *const bad[] = {"", "m", "-1", "1x", "1 ", " 1", "1.2.3", "1e", "1e99",
                                      "1mm", "0x10", "1ki", "."};
    for (size_t i = 0; i < ST_ARRAY_LEN(bad); i++)
        if (dmodel_quantity_milli(bad[i], &v) != ST_EPARSE)
            fail_msg("\"%s\" was accepted", bad[i]);
    assert_int_equal(dmodel_quantity_milli("2G", &v), ST_ETOOBIG);
    assert_int_equal(dmodel_quantity_milli("1Ei", &v), ST_ETOOBIG);
    assert_int_equal(dmodel_quantity_milli("99999999999999999999999", &v), ST_ETOOBIG);
    assert_int_equal(dmodel_quantity_milli("1G", &v), 0);
    assert_int_equal(v, DMODEL_MAX_WEIGHT_MILLI);

    /* v1alpha2 integers and v1alpha1 quantities land on one scale. */
    json_t *w = json_integer(3);
    assert_int_equal(dmodel_weight_milli(w, &v), 0);
    assert_int_equal(v, 3000);
    json_decref(w);
    w = json_string("500m");
    assert_int_equal(dmodel_weight_milli(w, &v), 0);
    assert_int_equal(v, 500);
    json_decref(w);
    w = json_integer(-1);
    assert_int_equal(dmodel_weight_milli(w, &v), ST_EPARSE);
    json_decref(w);
    w = json_real(0.5);
    assert_int_equal(dmodel_weight_milli(w, &v), ST_EPARSE);
    json_decref(w);
    w = json_integer(2000000000);
    assert_int_equal(dmodel_weight_milli(w, &v), ST_ETOOBIG);
    json_decref(w);
}

static void
test_identity_dns(void **state)
{
    char *s = dmodel_identity_dns("spiffe://cluster.local/ns/emoji/sa/web");
    assert_string_equal(s, "web.emoji.serviceaccount.identity.strait.cluster.local");
    free(s);
    s = dmodel_identity_dns("web.emoji.serviceaccount.identity.strait.cluster.local");
    assert_string_equal(s, "web.emoji.serviceaccount.identity.strait.cluster.local");
    free(s);
    assert_null(dmodel_identity_dns("spiffe://cluster.local/ns/emoji/sa/web/extra"));
    assert_null(dmodel_identity_dns("spiffe://cluster.local/ns/Emoji/sa/web"));
    assert_null(dmodel_identity_dns("not a name"));
    assert_null(dmodel_identity_dns(""));
    assert_null(dmodel_identity_dns(NULL));
}

static const char *SVC =
    "{\"metadata\":{\"name\":\"web\",\"namespace\":\"emoji\"},"
    " \"spec\":{\"selector\":{\"app\":\"web\"},\"clusterIP\":\"127.1.128.5\","
    "  \"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":\"http\"},"
    "            {\"name\":\"admin\",\"port\":9000,\"targetPort\":9001}]}}";

static json_t *
workloads(void)
{
    return load("["
                "{\"metadata\":{\"name\":\"w2\",\"namespace\":\"emoji\",\"labels\":{\"app\":\"web\","
                "  \"v\":\"2\"}},"
                " \"spec\":{\"meshTLS\":{\"identity\":\"spiffe://cluster.local/ns/emoji/sa/web\"},"
                "  \"workloadIPs\":[{\"ip\":\"127.1.1.2\"}],\"ports\":[{\"name\":\"http\","
                "  \"port\":8080}]},"
                " \"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}},"
                "{\"metadata\":{\"name\":\"w1\",\"namespace\":\"emoji\",\"labels\":{\"app\":\"web\"}},"
                " \"spec\":{\"meshTLS\":{\"identity\":"
                "  \"web.emoji.serviceaccount.identity.strait.cluster.local\"},"
                "  \"workloadIPs\":[{\"ip\":\"127.1.1.1\"}],\"ports\":[{\"name\":\"http\","
                "  \"port\":8080}]},"
                " \"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}},"
                "{\"metadata\":{\"name\":\"w3\",\"namespace\":\"emoji\",\"labels\":{\"app\":\"web\"}},"
                " \"spec\":{\"meshTLS\":{\"identity\":\"x\"},\"workloadIPs\":[{\"ip\":\"127.1.1.3\"}],"
                "  \"ports\":[{\"name\":\"http\",\"port\":8080}]},"
                " \"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"}]}},"
                "{\"metadata\":{\"name\":\"w4\",\"namespace\":\"emoji\",\"labels\":{\"app\":\"web\"}},"
                " \"spec\":{\"meshTLS\":{\"identity\":\"x\"},\"workloadIPs\":[{\"ip\":\"127.1.1.4\"}],"
                "  \"ports\":[{\"name\":\"grpc\",\"port\":7000}]}},"
                "{\"metadata\":{\"name\":\"other\",\"namespace\":\"emoji\",\"labels\":{\"app\":\"db\"}},"
                " \"spec\":{\"meshTLS\":{\"identity\":\"x\"},\"workloadIPs\":[{\"ip\":\"127.1.1.9\"}],"
                "  \"ports\":[{\"name\":\"http\",\"port\":8080}]}},"
                "{\"metadata\":{\"name\":\"w1\",\"namespace\":\"elsewhere\",\"labels\":{\"app\":\"web\"}},"
                " \"spec\":{\"meshTLS\":{\"identity\":\"x\"},\"workloadIPs\":[{\"ip\":\"127.1.1.8\"}],"
                "  \"ports\":[{\"name\":\"http\",\"port\":8080}]}}"
                "]");
}

static void
test_endpoints_for(void **state)
{
    json_t *svc = load(SVC), *ews = workloads();
    json_t *eps = dmodel_endpoints_for(svc, ews);
    json_t *want = load(
        "{\"apiVersion\":\"v1\",\"kind\":\"Endpoints\","
        " \"metadata\":{\"name\":\"web\",\"namespace\":\"emoji\","
        "  \"labels\":{\"endpoints.strait.io/managed-by\":\"strait-controller\"}},"
        " \"subsets\":["
        "  {\"notReadyAddresses\":["
        "    {\"ip\":\"127.1.1.4\",\"targetRef\":{\"kind\":\"ExternalWorkload\","
        "     \"namespace\":\"emoji\",\"name\":\"w4\"}}],"
        "   \"ports\":[{\"name\":\"admin\",\"port\":9001,\"protocol\":\"TCP\"}]},"
        "  {\"addresses\":["
        "    {\"ip\":\"127.1.1.1\",\"targetRef\":{\"kind\":\"ExternalWorkload\","
        "     \"namespace\":\"emoji\",\"name\":\"w1\"}},"
        "    {\"ip\":\"127.1.1.2\",\"targetRef\":{\"kind\":\"ExternalWorkload\","
        "     \"namespace\":\"emoji\",\"name\":\"w2\"}}],"
        "   \"notReadyAddresses\":["
        "    {\"ip\":\"127.1.1.3\",\"targetRef\":{\"kind\":\"ExternalWorkload\","
        "     \"namespace\":\"emoji\",\"name\":\"w3\"}}],"
        "   \"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"},"
        "             {\"name\":\"admin\",\"port\":9001,\"protocol\":\"TCP\"}]}]}");


    assert_non_null(eps);
    if (!json_equal(eps, want)) {
        char *s = json_dumps(eps, JSON_INDENT(1));
        fail_msg("got %s", s);
    }
    assert_true(dmodel_endpoints_managed(eps));
    assert_true(dmodel_endpoints_equal(eps, want));

    /* The same workloads in another order give the same object. */
    json_t *rev = json_array();
    for (size_t i = json_array_size(ews); i > 0; i--)
        json_array_append(rev, json_array_get(ews, i - 1));
    json_t *eps2 = dmodel_endpoints_for(svc, rev);
    assert_true(dmodel_endpoints_equal(eps, eps2));
    json_decref(eps2);
    json_decref(rev);

    /* A change of readiness changes the object. */
    json_t *cond = st_json_path(json_array_get(ews, 2), "status.conditions.0");
    json_object_set_new(cond, "status", json_string("True"));
    eps2 = dmodel_endpoints_for(svc, ews);
    assert_false(dmodel_endpoints_equal(eps, eps2));
    assert_int_equal(json_array_size(st_json_path(eps2, "subsets.1.addresses")), 3);
    assert_null(st_json_path(eps2, "subsets.1.notReadyAddresses"));
    json_decref(eps2);

    /* No workload: no subsets, still managed. Not managed: never equal. */
    json_t *none = json_array();
    eps2 = dmodel_endpoints_for(svc, none);
    assert_int_equal(json_array_size(st_json_path(eps2, "subsets")), 0);
    json_t *foreign = load("{\"metadata\":{\"name\":\"web\"}}");
    assert_false(dmodel_endpoints_managed(foreign));
    assert_false(dmodel_endpoints_equal(eps2, foreign));
    json_decref(foreign);
    json_decref(eps2);
    json_decref(none);

    /* No selector: no managed Endpoints at all. */
    json_object_del(st_json_path(svc, "spec"), "selector");
    assert_null(dmodel_endpoints_for(svc, ews));
    json_object_set_new(st_json_path(svc, "spec"), "selector", json_object());
    assert_null(dmodel_endpoints_for(svc, ews));

    json_decref(eps);
    json_decref(want);
    json_decref(svc);
    json_decref(ews);
}

static void
test_selector(void **state)
{
    json_t *sel = load("{\"app\":\"web\",\"tier\":\"front\"}");
    json_t *yes = load("{\"app\":\"web\",\"tier\":\"front\",\"extra\":\"1\"}");
    json_t *no = load("{\"app\":\"web\"}");
    json_t *empty = json_object();

    assert_true(dmodel_selector_matches(sel, yes));
    assert_false(dmodel_selector_matches(sel, no));
    assert_false(dmodel_selector_matches(sel, NULL));
    assert_false(dmodel_selector_matches(empty, yes)); /* an empty selector selects nothing */
    json_decref(sel);
    json_decref(yes);
    json_decref(no);
    json_decref(empty);
}

static json_t *
lookup_workload(void *arg, const char *ns, const char *name)
{
    json_t *ews = arg;
    size_t i;
    json_t *ew;

    json_array_foreach(ews, i, ew) {
        if (strcmp(st_json_str(ew, "metadata.namespace"), ns) == 0 &&
            strcmp(st_json_str(ew, "metadata.name"), name) == 0)
            return json_incref(ew); /* the lookup contract: a new reference */
    }
    return NULL;
}

static void
test_service_endpoints(void **state)
{
    json_t *svc = load(SVC), *ews = workloads();
    json_t *eps = dmodel_endpoints_for(svc, ews);
    struct dmodel_lookup lk = {lookup_workload, ews};

    json_t *snap = dmodel_service_endpoints(svc, eps, 80, TD, &lk);
    json_t *want = load(
        "[{\"addr\":\"127.1.1.1:8080\",\"proxy_port\":4143,"
        "  \"identity\":\"web.emoji.serviceaccount.identity.strait.cluster.local\","
        "  \"labels\":{\"app\":\"web\",\"workload\":\"w1\"},\"ready\":true},"
        " {\"addr\":\"127.1.1.2:8080\",\"proxy_port\":4143,"
        "  \"identity\":\"web.emoji.serviceaccount.identity.strait.cluster.local\","
        "  \"labels\":{\"app\":\"web\",\"v\":\"2\",\"workload\":\"w2\"},\"ready\":true}]");
    if (!json_equal(snap, want)) {
        char *s = json_dumps(snap, JSON_INDENT(1));
        fail_msg("got %s", s);
    }
    json_decref(snap);
    json_decref(want);

    /* The second port: target 9001; unknown ports give nothing. */
    snap = dmodel_service_endpoints(svc, eps, 9000, TD, &lk);
    assert_int_equal(json_array_size(snap), 2);
    assert_string_equal(st_json_str(snap, "0.addr"), "127.1.1.1:9001");
    json_decref(snap);
    snap = dmodel_service_endpoints(svc, eps, 81, TD, &lk);
    assert_int_equal(json_array_size(snap), 0);
    json_decref(snap);
    assert_true(dmodel_service_has_port(svc, 9000));
    assert_false(dmodel_service_has_port(svc, 81));

    /* Endpoints written by Kubernetes for pods: unnamed single port, no workload. */
    json_t *svc1 = load("{\"metadata\":{\"name\":\"db\",\"namespace\":\"shop\"},"
                        " \"spec\":{\"ports\":[{\"port\":5432,\"targetPort\":15432}]}}");
    json_t *eps1 = load("{\"subsets\":[{\"addresses\":[{\"ip\":\"10.0.0.7\"},"
                        " {\"ip\":\"not-an-ip\"}], \"ports\":[{\"port\":15432}]}]}");
    snap = dmodel_service_endpoints(svc1, eps1, 5432, TD, NULL);
    assert_int_equal(json_array_size(snap), 1);
    assert_string_equal(st_json_str(snap, "0.addr"), "10.0.0.7:15432");
    assert_string_equal(st_json_str(snap, "0.identity"),
                        "default.shop.serviceaccount.identity.strait.cluster.local");
    json_decref(snap);
    snap = dmodel_service_endpoints(svc1, NULL, 5432, TD, NULL);
    assert_int_equal(json_array_size(snap), 0);
    json_decref(snap);

    /* A mirrored service: the gateway, its identity and the remote authority. */
    json_t *mirror = load(
        "{\"metadata\":{\"name\":\"books-east\",\"namespace\":\"shop\",\"annotations\":{"
        "  \"mirror.strait.io/remote-svc-fq-name\":\"books.shop.svc.cluster.local\","
        "  \"mirror.strait.io/remote-gateway-identity\":"
        "   \"strait-gateway.strait.serviceaccount.identity.strait.cluster.local\"}},"
        " \"spec\":{\"ports\":[{\"name\":\"http\",\"port\":8080}]}}");
    json_t *meps = load("{\"subsets\":[{\"addresses\":[{\"ip\":\"127.2.0.3\"}],"
                        " \"ports\":[{\"name\":\"http\",\"port\":4143}]}]}");
    snap = dmodel_service_endpoints(mirror, meps, 8080, TD, NULL);
    assert_int_equal(json_array_size(snap), 1);
    assert_string_equal(st_json_str(snap, "0.addr"), "127.2.0.3:4143");
    assert_int_equal(st_json_int_or(snap, "0.proxy_port", 0), 4143);
    assert_string_equal(st_json_str(snap, "0.remote_authority"),
                        "books.shop.svc.cluster.local:8080");
    assert_string_equal(st_json_str(snap, "0.identity"),
                        "strait-gateway.strait.serviceaccount.identity.strait.cluster.local");
    json_decref(snap);

    json_decref(mirror);
    json_decref(meps);
    json_decref(svc1);
    json_decref(eps1);
    json_decref(eps);
    json_decref(svc);
    json_decref(ews);
}

static void
test_split(void **state)
{
    json_t *ts = load("{\"metadata\":{\"name\":\"ts\",\"namespace\":\"mc\"},"
                      " \"spec\":{\"service\":\"backend-zero-svc\",\"backends\":["
                      "  {\"service\":\"backend-zero-svc\",\"weight\":\"500m\"},"
                      "  {\"service\":\"backend-one-svc.mc\",\"weight\":\"500m\"},"
                      "  {\"service\":\"backend-two-svc.mc.svc.cluster.local\",\"weight\":1},"
                      "  {\"service\":\"bad\",\"weight\":\"lots\"},"
                      "  {\"service\":\"bad:80\",\"weight\":1},"
                      "  {\"weight\":1}]}}");
    size_t bad;
    char apex[64];

    assert_true(dmodel_split_apex(ts, DOMAIN, apex));
    assert_string_equal(apex, "backend-zero-svc");
    json_t *leaves = dmodel_split_leaves(ts, 8080, DOMAIN, &bad);
    assert_int_equal(bad, 3);
    json_t *want = load(
        "[{\"service\":\"backend-zero-svc.mc.svc.cluster.local:8080\",\"name\":\"backend-zero-svc\","
        "  \"namespace\":\"mc\",\"weight\":500},"
        " {\"service\":\"backend-one-svc.mc.svc.cluster.local:8080\",\"name\":\"backend-one-svc\","
        "  \"namespace\":\"mc\",\"weight\":500},"
        " {\"service\":\"backend-two-svc.mc.svc.cluster.local:8080\",\"name\":\"backend-two-svc\","
        "  \"namespace\":\"mc\",\"weight\":1000}]");
    assert_true(json_equal(leaves, want));
    json_decref(leaves);
    json_decref(want);

    /* An apex in another namespace is not this split's business. */
    json_object_set_new(st_json_path(ts, "spec"), "service", json_string("x.other"));
    assert_false(dmodel_split_apex(ts, DOMAIN, apex));
    json_object_set_new(st_json_path(ts, "spec"), "service", json_string("x.mc.svc"));
    assert_true(dmodel_split_apex(ts, DOMAIN, apex));
    assert_string_equal(apex, "x");
    json_object_del(st_json_path(ts, "spec"), "service");
    assert_false(dmodel_split_apex(ts, DOMAIN, apex));
    json_decref(ts);
}

static void
test_map(void **state)
{
    struct dmodel_map m = DMODEL_MAP_INIT;
    static int values[2000];
    char key[32];

    assert_null(dmodel_map_get(&m, "absent"));
    assert_null(dmodel_map_del(&m, "absent"));
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "ns/svc-%d", i);
        assert_null(dmodel_map_put(&m, key, &values[i]));
    }
    assert_int_equal(dmodel_map_size(&m), 2000);
    assert_ptr_equal(dmodel_map_get(&m, "ns/svc-1234"), &values[1234]);
    /* Putting an existing key replaces the value and returns the old one. */
    assert_ptr_equal(dmodel_map_put(&m, "ns/svc-7", &values[8]), &values[7]);
    assert_ptr_equal(dmodel_map_get(&m, "ns/svc-7"), &values[8]);
    assert_int_equal(dmodel_map_size(&m), 2000);
    /* Deleting every odd key leaves the even ones, each seen once by the iteration. */
    for (int i = 1; i < 2000; i += 2) {
        snprintf(key, sizeof(key), "ns/svc-%d", i);
        assert_non_null(dmodel_map_del(&m, key));
        assert_false(dmodel_map_has(&m, key));
    }
    assert_int_equal(dmodel_map_size(&m), 1000);
    static bool seen[2000];
    size_t pos = 0, n = 0;
    const char *k;
    void *v;
    while ((k = dmodel_map_next(&m, &pos, &v)) != NULL) {
        int i = (int)strtol(k + strlen("ns/svc-"), NULL, 10);
        assert_int_equal(i % 2, 0);
        assert_false(seen[i]);
        seen[i] = true;
        assert_ptr_equal(v, &values[i]);
        n++;
    }
    assert_int_equal(n, 1000);
    assert_null(dmodel_map_next(&m, &pos, &v)); /* stays at the end */
    dmodel_map_clear(&m, NULL);
    assert_int_equal(dmodel_map_size(&m), 0);
    assert_null(dmodel_map_get(&m, "ns/svc-0"));
    /* A cleared map is usable again; NULL values are present but read as NULL. */
    assert_null(dmodel_map_put(&m, "k", NULL));
    assert_true(dmodel_map_has(&m, "k"));
    assert_null(dmodel_map_get(&m, "k"));
    dmodel_map_clear(&m, free);
}

static void
test_compact(void **state)
{
    json_t *svc = load("{\"metadata\": {\"name\": \"web\", \"namespace\": \"emoji\", "
                       "\"uid\": \"u\", \"resourceVersion\": \"7\", \"managedFields\": [{}], "
                       "\"creationTimestamp\": \"2024-01-01T00:00:00Z\", \"labels\": {\"a\": \"b\"}, "
                       "\"annotations\": {\"kubectl.kubernetes.io/last-applied-configuration\": "
                       "\"{}\", \"mirror.strait.io/remote-svc-fq-name\": \"x\"}}, "
                       "\"spec\": {\"clusterIP\": \"10.0.0.1\", \"clusterIPs\": [\"10.0.0.1\"], "
                       "\"ipFamilies\": [\"IPv4\"], \"selector\": {\"app\": \"web\"}, "
                       "\"ports\": [{\"port\": 80}]}, \"status\": {\"loadBalancer\": {}}}");
    json_t *ew = load("{\"apiVersion\": \"workload.strait.io/v1beta1\", "
                      "\"kind\": \"ExternalWorkload\", "
                      "\"metadata\": {\"name\": \"w\", \"namespace\": \"emoji\", "
                      "\"annotations\": {\"kubectl.kubernetes.io/last-applied-configuration\": "
                      "\"{}\"}}, \"spec\": {\"meshTLS\": {\"identity\": \"i\", "
                      "\"serverName\": \"s\"}}, "
                      "\"status\": {\"conditions\": [{\"type\": \"Ready\", "
                      "\"status\": \"True\", \"reason\": \"r\", \"message\": \"m\", "
                      "\"lastTransitionTime\": \"2024-01-01T00:00:00Z\"}]}}");
    json_t *eps = load("{\"kind\": \"Endpoints\", \"metadata\": {\"name\": \"web\"}, "
                       "\"subsets\": [{\"addresses\": [{\"ip\": \"10.1.0.1\", \"targetRef\": "
                       "{\"kind\": \"Pod\", \"name\": \"p\", \"namespace\": \"emoji\", "
                       "\"uid\": \"u\", \"resourceVersion\": \"3\"}}], "
                       "\"notReadyAddresses\": [{\"ip\": \"10.1.0.2\", \"targetRef\": "
                       "{\"kind\": \"Pod\", \"name\": \"q\", \"uid\": \"v\"}}]}]}");

    dmodel_compact(svc, true);
    assert_null(st_json_path(svc, "metadata.uid"));
    assert_null(st_json_path(svc, "metadata.managedFields"));
    assert_null(st_json_path(svc, "metadata.creationTimestamp"));
    assert_null(st_json_path(svc, "spec.clusterIPs"));
    assert_null(st_json_path(svc, "status"));
    assert_string_equal(st_json_str(svc, "metadata.resourceVersion"), "7");
    assert_string_equal(st_json_str(svc, "metadata.labels.a"), "b");
    assert_string_equal(st_json_str(svc, "spec.clusterIP"), "10.0.0.1");
    assert_non_null(st_json_path(svc, "spec.selector"));
    json_t *ann = st_json_path(svc, "metadata.annotations");
    assert_int_equal(json_object_size(ann), 1);
    assert_non_null(json_object_get(ann, DMODEL_REMOTE_FQ_ANNOTATION));
    /* A workload keeps its status; an emptied annotation object goes. */
    dmodel_compact(ew, false);
    assert_null(st_json_path(ew, "metadata.annotations"));
    json_t *cond = json_array_get(st_json_path(ew, "status.conditions"), 0);
    assert_int_equal(json_object_size(cond), 2);
    assert_string_equal(st_json_str(cond, "type"), "Ready");
    assert_string_equal(st_json_str(cond, "status"), "True");
    assert_null(st_json_path(ew, "apiVersion"));
    assert_null(st_json_path(ew, "kind"));
    assert_null(st_json_path(ew, "spec.meshTLS.serverName"));
    assert_string_equal(st_json_str(ew, "spec.meshTLS.identity"), "i");
    /* Endpoints: a target keeps its kind, name and namespace. */
    dmodel_compact(eps, false);
    assert_null(st_json_path(eps, "kind"));
    json_t *ref = st_json_path(eps, "subsets.0.addresses.0.targetRef");
    assert_int_equal(json_object_size(ref), 3);
    assert_string_equal(st_json_str(ref, "name"), "p");
    assert_string_equal(st_json_str(eps, "subsets.0.addresses.0.ip"), "10.1.0.1");
    ref = st_json_path(eps, "subsets.0.notReadyAddresses.0.targetRef");
    assert_int_equal(json_object_size(ref), 2);
    json_decref(eps);
    /* Objects without metadata or spec are left alone. */
    json_t *empty = json_object();
    dmodel_compact(empty, true);
    assert_int_equal(json_object_size(empty), 0);
    json_decref(empty);
    json_decref(svc);
    json_decref(ew);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_authority_names), cmocka_unit_test(test_quantities),
        cmocka_unit_test(test_identity_dns),    cmocka_unit_test(test_endpoints_for),
        cmocka_unit_test(test_selector),        cmocka_unit_test(test_service_endpoints),
        cmocka_unit_test(test_split),           cmocka_unit_test(test_map),
        cmocka_unit_test(test_compact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
