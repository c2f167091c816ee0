/*
 * Unit tests for the API layer, in process: a real store on a temporary
 * file, the real patch engine and the real auth module, driven through
 * api_handle as the HTTPS glue will drive it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "registry.h"
#include "store.h"
#include "strait/json.h"
#include "table.h"

#define ADMIN "test-admin-token-0123456789abcdef"
#define CA_PEM "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
#define TABLE_ACCEPT "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"

#ifndef ST_SOURCE_DIR
#define ST_SOURCE_DIR "."
#endif

struct env {
    char dir[64];
    char path[96];
    struct store *st;
    struct auth *au;
    struct api *api;
    struct api_response resp;
    json_t *last;          /* the last response body, parsed (NULL if not JSON) */
    const char *token;     /* bearer token for the next requests */
    const char *accept;    /* Accept for the next requests */
    const char *as;        /* Impersonate-User for the next requests */
    const char *as_groups; /* Impersonate-Group values, joined with ',' */
};

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static struct env *
env_open(size_t window, size_t max_watches)
{
    struct env *e = calloc(1, sizeof(*e));
    struct st_err err = {0};
    struct store_options so = {.event_window = window};
    struct api_options ao = {.service_cidr = "127.1.128.0/17", .max_watches = max_watches};

    snprintf(e->dir, sizeof(e->dir), "/tmp/test_api.XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    snprintf(e->path, sizeof(e->path), "%s/store.db", e->dir);
    e->st = store_open(e->path, &so, &err);
    if (!e->st)
        fail_msg("store_open: %s", err.msg);
    e->au = auth_new(e->st, ADMIN, CA_PEM, &err);
    if (!e->au)
        fail_msg("auth_new: %s", err.msg);
    e->api = api_new(e->st, e->au, &ao, &err);
    if (!e->api)
        fail_msg("api_new: %s", err.msg);
    e->token = ADMIN;
    return e;
}

static void
env_close(struct env *e)
{
    api_response_clear(&e->resp);
    json_decref(e->last);
    api_free(e->api);
    auth_free(e->au);
    store_close(e->st);
    nftw(e->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(e);
}

static int
setup(void **state)
{
    *state = env_open(0, 0);
    return 0;
}

static int
teardown(void **state)
{
    env_close(*state);
    return 0;
}

/*
 * Sends one request; <path> may carry "?query". Returns the status and keeps
 * the parsed body in e->last.
 */
static int
req_ct(struct env *e, const char *method, const char *path, const char *ctype, const char *body)
{
    char p[1024];
    const char *q = NULL;

    snprintf(p, sizeof(p), "%s", path);
    char *qm = strchr(p, '?');
    if (qm) {
        *qm = '\0';
        q = qm + 1;
    }
    struct api_request r = {
        .method = method,
        .path = p,
        .query = q,
        .content_type = ctype,
        .accept = e->accept,
        .bearer_token = e->token,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .impersonate_user = e->as,
        .impersonate_groups = e->as_groups,
    };
    api_response_clear(&e->resp);
    int status = api_handle(e->api, &r, &e->resp);
    json_decref(e->last);
    e->last = json_loadb(e->resp.body.data ? e->resp.body.data : "", e->resp.body.len, 0, NULL);
    assert_int_equal(status, e->resp.status);
    return status;
}

static int
req(struct env *e, const char *method, const char *path, const char *body)
{
    return req_ct(e, method, path, body ? "application/json" : NULL, body);
}

static const char *
jstr(const json_t *v, const char *path)
{
    const char *s = st_json_str(v, path);
    return s ? s : "";
}

static const char *
msg(struct env *e)
{
    return jstr(e->last, "message");
}

static void
expect(struct env *e, int got, int want)
{
    if (got != want)
        fail_msg("status %d, want %d: %s", got, want, st_buf_cstr(&e->resp.body));
}

/* ---- discovery ------------------------------------------------------------- */

static void
test_discovery(void **state)
{
    struct env *e = *state;

    expect(e, req(e, "GET", "/version", NULL), 200);
    assert_string_equal(jstr(e->last, "gitVersion"), "v1.32.0-strait");
    assert_string_equal(jstr(e->last, "minor"), "32");
    expect(e, req(e, "GET", "/api", NULL), 200);
    assert_string_equal(jstr(e->last, "kind"), "APIVersions");
    expect(e, req(e, "GET", "/api/v1", NULL), 200);
    assert_string_equal(jstr(e->last, "groupVersion"), "v1");
    json_t *res = json_object_get(e->last, "resources");
    size_t i;
    json_t *r;
    bool svc = false, svc_status = false;
    json_array_foreach(res, i, r)
    {
        if (!strcmp(jstr(r, "name"), "services")) {
            svc = true;
            assert_string_equal(jstr(r, "kind"), "Service");
            assert_true(json_is_true(json_object_get(r, "namespaced")));
            assert_string_equal(
                json_string_value(json_array_get(json_object_get(r, "shortNames"), 0)), "svc");
        }
        svc_status = svc_status || !strcmp(jstr(r, "name"), "services/status");
    }
    assert_true(svc && svc_status);
    expect(e, req(e, "GET", "/apis", NULL), 200);
    assert_string_equal(jstr(e->last, "kind"), "APIGroupList");
    assert_true(json_array_size(json_object_get(e->last, "groups")) >= 6);
    expect(e, req(e, "GET", "/apis/apps", NULL), 200);
    assert_string_equal(jstr(e->last, "preferredVersion.groupVersion"), "apps/v1");
    expect(e, req(e, "GET", "/apis/apps/v1", NULL), 200);
    assert_string_equal(jstr(e->last, "groupVersion"), "apps/v1");
    expect(e, req(e, "GET", "/apis/nope.example.com", NULL), 404);
    expect(e, req(e, "GET", "/apis/apps/v9", NULL), 404);

    /* Aggregated discovery when asked for first. */
    e->accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                "application/json";
    expect(e, req(e, "GET", "/apis", NULL), 200);
    assert_string_equal(e->resp.content_type,
                        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
    assert_string_equal(jstr(e->last, "kind"), "APIGroupDiscoveryList");
    expect(e, req(e, "GET", "/api", NULL), 200);
    assert_string_equal(jstr(e->last, "items.0.versions.0.version"), "v1");
    /* v2beta1 only: plain JSON. */
    e->accept = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
                "application/json";
    expect(e, req(e, "GET", "/apis", NULL), 200);
    assert_string_equal(jstr(e->last, "kind"), "APIGroupList");
    e->accept = NULL;

    /* Health is public; discovery is not. */
    e->token = NULL;
    expect(e, req(e, "GET", "/healthz", NULL), 200);
    assert_string_equal(st_buf_cstr(&e->resp.body), "ok");
    expect(e, req(e, "GET", "/readyz", NULL), 200);
    expect(e, req(e, "GET", "/api", NULL), 401);
    assert_string_equal(jstr(e->last, "reason"), "Unauthorized");
    e->token = "wrong-token";
    expect(e, req(e, "GET", "/healthz", NULL), 401);
    expect(e, req(e, "GET", "/api/v1/namespaces", NULL), 401);
    assert_string_equal(jstr(e->last, "kind"), "Status");
    assert_int_equal(json_integer_value(json_object_get(e->last, "code")), 401);
    e->token = ADMIN;

    /* OpenAPI: v2 as protobuf and JSON, v3 index and one group-version. */
    e->accept = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
    expect(e, req(e, "GET", "/openapi/v2", NULL), 200);
    assert_int_equal((unsigned char)e->resp.body.data[0], 0x0a);
    e->accept = NULL;
    expect(e, req(e, "GET", "/openapi/v2", NULL), 200);
    assert_string_equal(jstr(e->last, "swagger"), "2.0");
    expect(e, req(e, "GET", "/openapi/v3", NULL), 200);
    const char *url =
        st_json_strv(e->last, (const char *[]){"paths", "apis/apps/v1", "serverRelativeURL"}, 3);
    assert_non_null(url);
    assert_true(st_str_has_prefix(url, "/openapi/v3/apis/apps/v1?hash="));
    expect(e, req(e, "GET", url, NULL), 200);
    const char *segs[] = {"paths", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
                          "patch", "parameters",
                          "0",     "name"};
    assert_string_equal(st_json_strv(e->last, segs, 6), "fieldValidation");
    expect(e, req(e, "GET", "/openapi/v3/api/v1", NULL), 200);
    expect(e, req(e, "GET", "/openapi/v3/apis/nope/v1", NULL), 404);
}

static void
test_registry_versions(void **state)
{
    assert_true(registry_version_cmp("v1", "v1beta1") < 0);
    assert_true(registry_version_cmp("v2", "v1") < 0);
    assert_true(registry_version_cmp("v1beta2", "v1beta1") < 0);
    assert_true(registry_version_cmp("v1beta1", "v1alpha2") < 0);
    assert_true(registry_version_cmp("v1alpha2", "v1alpha1") < 0);
    assert_true(registry_version_cmp("v1alpha1", "foo") < 0);
    assert_true(registry_version_cmp("v1", "v1") == 0);

    struct registry *r = registry_new();
    assert_non_null(registry_find(r, "", "v1", "services"));
    assert_string_equal(registry_find(r, "", "v1", "svc")->plural, "services");
    assert_string_equal(registry_find(r, "apps", "v1", "deploy")->plural, "deployments");
    assert_null(registry_find(r, "", "v1", "pods"));
    assert_string_equal(registry_find_kind(r, "", "v1", "Namespace")->plural, "namespaces");
    registry_free(r);
}

static void
test_human_duration(void **state)
{
    static const struct {
        int64_t s;
        const char *want;
    } cases[] = {
        {-5, "<invalid>"},
        {-1, "0s"},
        {0, "0s"},
        {38, "38s"},
        {119, "119s"},
        {120, "2m"},
        {302, "5m2s"},
        {600, "10m"},
        {10799, "179m"},
        {10800, "3h"},
        {3 * 3600 + 60 * 5, "3h5m"},
        {8 * 3600, "8h"},
        {47 * 3600, "47h"},
        {48 * 3600, "2d"},
        {50 * 3600, "2d2h"},
        {12 * 86400, "12d"},
        {800 * 86400, "2y70d"},
        {9 * 365 * 86400, "9y"},
    };
    char buf[32];

    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        table_human_duration(cases[i].s, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].want);
    }
}

/* ---- namespaces and services ------------------------------------------------------------- */

static void
test_namespace_and_default_sa(void **state)
{
    struct env *e = *state;

    expect(e, req(e, "GET", "/api/v1/namespaces/default", NULL), 200);
    expect(e, req(e, "GET", "/api/v1/namespaces/kube-system/serviceaccounts/default", NULL), 200);
    expect(e,
           req(e, "POST", "/api/v1/namespaces",
               "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"a1\"}}"),
           201);
    assert_string_equal(jstr(e->last, "status.phase"), "Active");
    assert_string_equal(jstr(e->last, "spec.finalizers.0"), "kubernetes");
    assert_string_equal(
        st_json_strv(e->last, (const char *[]){"metadata", "labels", "kubernetes.io/metadata.name"},
                     3),
        "a1");
    assert_int_equal(strlen(jstr(e->last, "metadata.uid")), 36);
    assert_true(*jstr(e->last, "metadata.resourceVersion"));
    assert_true(*jstr(e->last, "metadata.creationTimestamp"));
    expect(e, req(e, "GET", "/api/v1/namespaces/a1/serviceaccounts/default", NULL), 200);
    expect(e, req(e, "POST", "/api/v1/namespaces", "{\"metadata\":{\"name\":\"a1\"}}"), 409);
    assert_string_equal(jstr(e->last, "reason"), "AlreadyExists");
    assert_string_equal(msg(e), "namespaces \"a1\" already exists");
    expect(e, req(e, "POST", "/api/v1/namespaces", "{\"metadata\":{\"name\":\"Bad_Name\"}}"), 422);
    assert_string_equal(jstr(e->last, "reason"), "Invalid");
    assert_true(st_str_has_prefix(msg(e),
                                  "Namespace \"Bad_Name\" is invalid: metadata.name: "
                                  "Invalid value: \"Bad_Name\": a lowercase RFC 1123 label"));
    assert_string_equal(jstr(e->last, "details.causes.0.field"), "metadata.name");
    assert_string_equal(jstr(e->last, "details.kind"), "Namespace");
    expect(e, req(e, "POST", "/api/v1/namespaces", "{\"metadata\":{}}"), 422);
    assert_true(strstr(msg(e), "name or generateName is required") != NULL);

    /* Table output of a list. */
    e->accept = TABLE_ACCEPT;
    expect(e, req(e, "GET", "/api/v1/namespaces?limit=500", NULL), 200);
    assert_string_equal(jstr(e->last, "kind"), "Table");
    assert_string_equal(jstr(e->last, "columnDefinitions.1.name"), "Status");
    assert_string_equal(jstr(e->last, "rows.0.object.kind"), "PartialObjectMetadata");
    e->accept = NULL;
}

static void
test_service_lifecycle(void **state)
{
    struct env *e = *state;

    /* Namespace must exist. */
    expect(e,
           req(e, "POST", "/api/v1/namespaces/nope/services",
               "{\"metadata\":{\"name\":\"web\"},\"spec\":{\"ports\":[{\"port\":80}]}}"),
           404);
    assert_string_equal(msg(e), "namespaces \"nope\" not found");
    assert_string_equal(jstr(e->last, "reason"), "NotFound");

    expect(e,
           req(e, "POST", "/api/v1/namespaces/default/services",
               "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","
               "\"labels\":{\"app\":\"web\"}},\"spec\":{\"selector\":{\"app\":\"web\"},"
               "\"ports\":[{\"port\":8888}]}}"),
           201);
    const char *ip = jstr(e->last, "spec.clusterIP");
    assert_true(st_str_has_prefix(ip, "127.1."));
    char ipcopy[32];
    snprintf(ipcopy, sizeof(ipcopy), "%s", ip);
    assert_string_equal(jstr(e->last, "spec.type"), "ClusterIP");
    assert_string_equal(jstr(e->last, "spec.ports.0.protocol"), "TCP");
    assert_int_equal(st_json_int_or(e->last, "spec.ports.0.targetPort", 0), 8888);
    assert_string_equal(jstr(e->last, "spec.clusterIPs.0"), ipcopy);
    char rv[32];
    snprintf(rv, sizeof(rv), "%s", jstr(e->last, "metadata.resourceVersion"));

    /* Get, as JSON and as a Table. */
    expect(e, req(e, "GET", "/api/v1/namespaces/default/services/web", NULL), 200);
    assert_string_equal(jstr(e->last, "kind"), "Service");
    e->accept = TABLE_ACCEPT;
    expect(e, req(e, "GET", "/api/v1/namespaces/default/services", NULL), 200);
    assert_string_equal(jstr(e->last, "columnDefinitions.0.name"), "Name");
    assert_string_equal(jstr(e->last, "columnDefinitions.2.name"), "Cluster-IP");
    assert_string_equal(jstr(e->last, "columnDefinitions.4.name"), "Port(s)");
    assert_string_equal(jstr(e->last, "rows.0.cells.0"), "web");
    assert_string_equal(jstr(e->last, "rows.0.cells.1"), "ClusterIP");
    assert_string_equal(jstr(e->last, "rows.0.cells.2"), ipcopy);
    assert_string_equal(jstr(e->last, "rows.0.cells.3"), "<none>");
    assert_string_equal(jstr(e->last, "rows.0.cells.4"), "8888/TCP");
    assert_true(st_str_has_suffix(jstr(e->last, "rows.0.cells.5"), "s"));
    assert_string_equal(jstr(e->last, "rows.0.cells.6"), "app=web");
    assert_string_equal(jstr(e->last, "rows.0.object.metadata.name"), "web");
    e->accept = "application/yaml";
    expect(e, req(e, "GET", "/api/v1/namespaces/default/services/web", NULL), 406);
    e->accept = NULL;

    /* Not found. */
    expect(e, req(e, "GET", "/api/v1/namespaces/default/services/x", NULL), 404);
    assert_string_equal(msg(e), "services \"x\" not found");
    assert_string_equal(jstr(e->last, "details.name"), "x");
    assert_string_equal(jstr(e->last, "details.kind"), "services");

    /* Update with a stale resourceVersion conflicts; clusterIP is immutable. */
    expect(e,
           req(e, "PUT", "/api/v1/namespaces/default/services/web",
               "{\"metadata\":{\"name\":\"web\",\"resourceVersion\":\"1\"},"
               "\"spec\":{\"ports\":[{\"port\":9999}]}}"),
           409);
    assert_string_equal(jstr(e->last, "reason"), "Conflict");
    assert_string_equal(msg(e), "Operation cannot be fulfilled on services \"web\": the object has "
                                "been modified; please apply your changes to the latest version "
                                "and try again");
    char body[512];
    snprintf(body, sizeof(body),
             "{\"metadata\":{\"name\":\"web\",\"resourceVersion\":\"%s\"},"
             "\"spec\":{\"clusterIP\":\"127.1.200.1\",\"ports\":[{\"port\":9999}]}}",
             rv);
    expect(e, req(e, "PUT", "/api/v1/namespaces/default/services/web", body), 422);
    assert_true(strstr(msg(e), "field is immutable") != NULL);
    snprintf(body, sizeof(body),
             "{\"metadata\":{\"name\":\"web\",\"resourceVersion\":\"%s\"},"
             "\"spec\":{\"ports\":[{\"port\":9999}]}}",
             rv);
    expect(e, req(e, "PUT", "/api/v1/namespaces/default/services/web", body), 200);
    assert_string_equal(jstr(e->last, "spec.clusterIP"), ipcopy);
    assert_int_equal(st_json_int_or(e->last, "spec.ports.0.port", 0), 9999);
    snprintf(body, sizeof(body),
             "{\"metadata\":{\"name\":\"other\"},\"spec\":{\"ports\":[{\"port\":1}]}}");
    expect(e, req(e, "PUT", "/api/v1/namespaces/default/services/web", body), 400);
    assert_true(strstr(msg(e), "does not match the name on the URL") != NULL);

    /* A second service may not take the same ClusterIP; headless gets none. */
    snprintf(body, sizeof(body),
             "{\"metadata\":{\"name\":\"dup\"},\"spec\":{\"clusterIP\":\"%s\","
             "\"ports\":[{\"port\":1}]}}",
             ipcopy);
    expect(e, req(e, "POST", "/api/v1/namespaces/default/services", body), 422);
    assert_true(strstr(msg(e), "provided IP is already allocated") != NULL);
    expect(e,
           req(e, "POST", "/api/v1/namespaces/default/services",
               "{\"metadata\":{\"name\":\"hl\"},\"spec\":{\"clusterIP\":\"None\"}}"),
           201);
    assert_string_equal(jstr(e->last, "spec.clusterIP"), "None");
    expect(e,
           req(e, "POST", "/api/v1/namespaces/default/services",
               "{\"metadata\":{\"name\":\"noports\"},\"spec\":{}}"),
           422);
    assert_string_equal(jstr(e->last, "details.causes.0.field"), "spec.ports");
    expect(e,
           req(e, "POST", "/api/v1/namespaces/default/services",
               "{\"metadata\":{\"name\":\"1abc\"},\"spec\":{\"ports\":[{\"port\":1}]}}"),
           422);
    assert_true(strstr(msg(e), "DNS-1035") != NULL);

    /* Patches: strategic (default for kubectl), merge, JSON patch. */
    expect(e,
           req_ct(e, "PATCH", "/api/v1/namespaces/default/services/web",
                  "application/strategic-merge-patch+json",
                  "{\"metadata\":{\"labels\":{\"tier\":\"front\"}},\"spec\":{\"ports\":"
                  "[{\"port\":7777,\"targetPort\":7777},{\"$patch\":\"delete\",\"port\":9999}]}}"),
           200);
    assert_string_equal(jstr(e->last, "metadata.labels.tier"), "front");
    assert_int_equal(json_array_size(st_json_path(e->last, "spec.ports")), 1);
    assert_int_equal(st_json_int_or(e->last, "spec.ports.0.port", 0), 7777);
    expect(e,
           req_ct(e, "PATCH", "/api/v1/namespaces/default/services/web",
                  "application/merge-patch+json", "{\"metadata\":{\"labels\":{\"tier\":null}}}"),
           200);
    assert_null(st_json_path(e->last, "metadata.labels.tier"));
    expect(e,
           req_ct(e, "PATCH", "/api/v1/namespaces/default/services/web",
                  "application/json-patch+json",
                  "[{\"op\":\"test\",\"path\":\"/metadata/name\",\"value\":\"nope\"}]"),
           422);
    expect(e,
           req_ct(e, "PATCH", "/api/v1/namespaces/default/services/web",
                  "application/json-patch+json",
                  "[{\"op\":\"add\",\"path\":\"/metadata/annotations\",\"value\":{\"a\":\"b\"}}]"),
           200);
    assert_string_equal(jstr(e->last, "metadata.annotations.a"), "b");
    expect(e, req_ct(e, "PATCH", "/api/v1/namespaces/default/services/web", "text/plain", "{}"),
           415);
    assert_string_equal(jstr(e->last, "reason"), "UnsupportedMediaType");
    expect(e,
           req_ct(e, "PATCH", "/api/v1/namespaces/default/services/web",
                  "application/apply-patch+yaml", "{}"),
           415);
    expect(e,
           req_ct(e, "PATCH", "/api/v1/namespaces/default/services/web",
                  "application/merge-patch+json", "{not json"),
           400);
    expect(e,
           req_ct(e, "PATCH", "/api/v1/namespaces/default/services/nothere",
                  "application/merge-patch+json", "{}"),
           404);

    /* Delete with a failing uid precondition, then for real; the IP is released. */
    expect(e,
           req(e, "DELETE", "/api/v1/namespaces/default/services/web",
               "{\"kind\":\"DeleteOptions\",\"preconditions\":{\"uid\":\"nope\"}}"),
           409);
    assert_true(strstr(msg(e), "Precondition failed: UID in precondition: nope") != NULL);
    expect(e, req(e, "DELETE", "/api/v1/namespaces/default/services/web", NULL), 200);
    assert_string_equal(jstr(e->last, "metadata.name"), "web");
    expect(e, req(e, "GET", "/api/v1/namespaces/default/services/web", NULL), 404);
    snprintf(body, sizeof(body),
             "{\"metadata\":{\"name\":\"reuse\"},\"spec\":{\"clusterIP\":\"%s\","
             "\"ports\":[{\"port\":1}]}}",
             ipcopy);
    expect(e, req(e, "POST", "/api/v1/namespaces/default/services", body), 201);
}

static void
test_request_errors(void **state)
{
    struct env *e = *state;

    expect(e, req(e, "POST", "/api/v1/namespaces/default/configmaps", "{bad"), 400);
    assert_string_equal(jstr(e->last, "reason"), "BadRequest");
    expect(e, req(e, "POST", "/api/v1/namespaces/default/configmaps", "[1]"), 400);
    expect(e,
           req(e, "POST", "/api/v1/namespaces/default/configmaps",
               "{\"apiVersion\":\"v2\",\"metadata\":{\"name\":\"x\"}}"),
           400);
    assert_true(strstr(msg(e), "does not match the expected API version") != NULL);
    expect(e,
           req(e, "POST", "/api/v1/namespaces/default/configmaps",
               "{\"metadata\":{\"name\":\"x\",\"namespace\":\"other\"}}"),
           400);
    expect(e,
           req(e, "POST", "/api/v1/namespaces/default/configmaps",
               "{\"metadata\":{\"name\":\"x\"},\"data\":{\"bad key\":\"v\"}}"),
           422);
    expect(e, req(e, "GET", "/api/v1/namespaces/default/pods", NULL), 404);
    expect(e, req(e, "GET", "/apis/example.com/v1/things", NULL), 404);
    expect(e, req(e, "PUT", "/api/v1/namespaces/default/configmaps", "{}"), 405);
    assert_string_equal(jstr(e->last, "reason"), "MethodNotAllowed");
    expect(e, req(e, "GET", "/apis/authentication.k8s.io/v1/tokenreviews", NULL), 405);
    expect(e, req(e, "GET", "/api/v1/namespaces/default/configmaps?labelSelector=a%20in", NULL),
           400);
    expect(e, req(e, "GET", "/api/v1/namespaces/default/configmaps?fieldSelector=spec.x%3Dy", NULL),
           400);
    assert_true(strstr(msg(e), "spec.x") != NULL);
    expect(e, req(e, "GET", "/api/v1/namespaces/default/configmaps?limit=abc", NULL), 400);
    expect(e, req(e, "GET", "/api/v1/namespaces/default/configmaps?continue=garbage", NULL), 400);
    expect(e, req(e, "GET", "/api/v1/namespaces/default/configmaps/x/status", NULL), 404);
    expect(e, req(e, "GET", "/nothing", NULL), 404);

    /* An oversized body answers 413. */
    size_t big = (1u << 20) + (64u << 10) + 10;
    char *b = malloc(big + 1);
    memset(b, ' ', big);
    b[big] = '\0';
    b[0] = '{';
    b[big - 1] = '}';
    expect(e, req(e, "POST", "/api/v1/namespaces/default/configmaps", b), 413);
    assert_string_equal(jstr(e->last, "reason"), "RequestEntityTooLarge");
    free(b);

    /* dryRun stores nothing. */
    expect(e,
           req(e, "POST", "/api/v1/namespaces/default/configmaps?dryRun=All",
               "{\"metadata\":{\"name\":\"dry\"},\"data\":{\"k\":\"v\"}}"),
           201);
    expect(e, req(e, "GET", "/api/v1/namespaces/default/configmaps/dry", NULL), 404);
    expect(e, req(e, "POST", "/api/v1/namespaces/default/configmaps?dryRun=Some", "{}"), 400);

    /* generateName. */
    expect(e,
           req(e, "POST", "/api/v1/namespaces/default/configmaps",
               "{\"metadata\":{\"generateName\":\"gen-\"}}"),
           201);
    assert_true(st_str_has_prefix(jstr(e->last, "metadata.name"), "gen-"));
    assert_int_equal(strlen(jstr(e->last, "metadata.name")), 9);
}

static void
test_list_paging_and_selectors(void **state)
{
    struct env *e = *state;
    char body[256], path[512];

    for (int i = 0; i < 12; i++) {
        snprintf(body, sizeof(body),
                 "{\"metadata\":{\"name\":\"cm%02d\",\"labels\":{\"parity\":\"%s\"}}}", i,
                 i % 2 ? "odd" : "even");
        expect(e, req(e, "POST", "/api/v1/namespaces/default/configmaps", body), 201);
    }
    expect(e,
           req(e, "GET", "/api/v1/namespaces/default/configmaps?labelSelector=parity%3Dodd", NULL),
           200);
    assert_string_equal(jstr(e->last, "kind"), "ConfigMapList");
    assert_int_equal(json_array_size(json_object_get(e->last, "items")), 6);
    assert_string_equal(jstr(e->last, "items.0.kind"), "ConfigMap");
    expect(e, req(e, "GET", "/api/v1/configmaps?fieldSelector=metadata.name%3Dcm03", NULL), 200);
    assert_int_equal(json_array_size(json_object_get(e->last, "items")), 1);

    size_t total = 0;
    char cont[300] = "";
    for (int pages = 0; pages < 10; pages++) {
        snprintf(path, sizeof(path), "/api/v1/namespaces/default/configmaps?limit=5%s%s",
                 *cont ? "&continue=" : "", cont);
        expect(e, req(e, "GET", path, NULL), 200);
        total += json_array_size(json_object_get(e->last, "items"));
        /* Percent-encode the token as a client does. */
        const char *t = jstr(e->last, "metadata.continue");
        size_t w = 0;
        for (; *t && w + 4 < sizeof(cont); t++) {
            if (isalnum((unsigned char)*t) || *t == '-' || *t == '_' || *t == '.')
                cont[w++] = *t;
            else
                w += (size_t)snprintf(cont + w, 4, "%%%02X", (unsigned char)*t);
        }
        cont[w] = '\0';
        if (!*cont)
            break;
        assert_true(st_json_int_or(e->last, "metadata.remainingItemCount", -1) > 0);
    }
    assert_int_equal(total, 12);

    /* deletecollection with a selector returns the deleted items. */
    expect(
        e,
        req(e, "DELETE", "/api/v1/namespaces/default/configmaps?labelSelector=parity%3Deven", NULL),
        200);
    assert_int_equal(json_array_size(json_object_get(e->last, "items")), 6);
    expect(e, req(e, "GET", "/api/v1/namespaces/default/configmaps", NULL), 200);
    assert_int_equal(json_array_size(json_object_get(e->last, "items")), 6);
}

static void
test_secrets(void **state)
{
    struct env *e = *state;

    expect(e,
           req(e, "POST", "/api/v1/namespaces/default/secrets",
               "{\"metadata\":{\"name\":\"bad\"},\"data\":{\"k\":\"***\"}}"),
           400);
    assert_true(strstr(msg(e), "illegal base64") != NULL);
    expect(e,
           req(e, "POST", "/api/v1/namespaces/default/secrets",
               "{\"metadata\":{\"name\":\"s1\"},\"data\":{\"a\":\"aGk=\"},"
               "\"stringData\":{\"b\":\"hello\"}}"),
           201);
    assert_string_equal(jstr(e->last, "type"), "Opaque");
    assert_string_equal(jstr(e->last, "data.b"), "aGVsbG8=");
    assert_null(st_json_path(e->last, "stringData"));
    e->accept = TABLE_ACCEPT;
    expect(e, req(e, "GET", "/api/v1/namespaces/default/secrets/s1", NULL), 200);
    assert_string_equal(jstr(e->last, "rows.0.cells.1"), "Opaque");
    assert_int_equal(st_json_int_or(e->last, "rows.0.cells.2", 0), 2);
    e->accept = NULL;
    expect(e, req(e, "GET", "/api/v1/namespaces/default/secrets?fieldSelector=type%3DOpaque", NULL),
           200);
    assert_int_equal(json_array_size(json_object_get(e->last, "items")), 1);
}

/* Creates ServiceAccount <sa> in <ns> with a token Secret and returns the token (malloc'd). */
static char *
sa_token(struct env *e, const char *ns, const char *sa)
{
    char path[256], body[512];

    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/serviceaccounts", ns);
    snprintf(body, sizeof(body), "{\"metadata\":{\"name\":\"%s\"}}", sa);
    expect(e, req(e, "POST", path, body), 201);
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/secrets", ns);
    snprintf(body, sizeof(body),
             "{\"metadata\":{\"name\":\"%s-token\",\"annotations\":{"
             "\"kubernetes.io/service-account.name\":\"%s\"}},"
             "\"type\":\"kubernetes.io/service-account-token\"}",
             sa, sa);
    expect(e, req(e, "POST", path, body), 201);
    const char *tok64 = jstr(e->last, "data.token");
    struct st_buf tok = ST_BUF_INIT(4096);
    assert_int_equal(st_base64_decode(tok64, strlen(tok64), &tok), 0);
    return st_buf_steal(&tok);
}

static void
test_auth_errors_and_reviews(void **state)
{
    struct env *e = *state;

    expect(e, req(e, "POST", "/api/v1/namespaces", "{\"metadata\":{\"name\":\"ns1\"}}"), 201);
    /* A token Secret for a missing ServiceAccount is refused. */
    expect(e,
           req(e, "POST", "/api/v1/namespaces/ns1/secrets",
               "{\"metadata\":{\"name\":\"t\",\"annotations\":{"
               "\"kubernetes.io/service-account.name\":\"ghost\"}},"
               "\"type\":\"kubernetes.io/service-account-token\"}"),
           422);
    char *tok = sa_token(e, "ns1", "bob");
    e->token = tok;
    expect(e,
           req(e, "POST", "/api/v1/namespaces/ns1/services",
               "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"ports\":[{\"port\":1}]}}"),
           403);
    assert_string_equal(jstr(e->last, "reason"), "Forbidden");
    assert_string_equal(msg(e), "services is forbidden: User \"system:serviceaccount:ns1:bob\" "
                                "cannot create resource \"services\" in API group \"\" in the "
                                "namespace \"ns1\"");
    expect(e, req(e, "GET", "/api/v1/namespaces/ns1/services/x", NULL), 403);
    assert_string_equal(msg(e), "services \"x\" is forbidden: User "
                                "\"system:serviceaccount:ns1:bob\" cannot get resource "
                                "\"services\" in API group \"\" in the namespace \"ns1\"");
    expect(e, req(e, "GET", "/api/v1/namespaces", NULL), 403);
    assert_true(strstr(msg(e), "at the cluster scope") != NULL);
    /* Discovery is open to every authenticated user. */
    expect(e, req(e, "GET", "/api", NULL), 200);
    /* kubectl auth can-i create services -n ns1 */
    expect(e,
           req(e, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
               "{\"kind\":\"SelfSubjectAccessReview\",\"apiVersion\":"
               "\"authorization.k8s.io/v1\",\"metadata\":{\"creationTimestamp\":null},"
               "\"spec\":{\"resourceAttributes\":{\"namespace\":\"ns1\",\"verb\":\"create\","
               "\"resource\":\"services\"}},\"status\":{\"allowed\":false}}"),
           201);
    assert_false(json_is_true(st_json_path(e->last, "status.allowed")));

    /* Grant get on services in ns1; then it works, create still does not. */
    e->token = ADMIN;
    expect(e,
           req(e, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/ns1/roles",
               "{\"metadata\":{\"name\":\"svc-read\"},\"rules\":[{\"apiGroups\":[\"\"],"
               "\"resources\":[\"services\"],\"verbs\":[\"get\",\"list\"]}]}"),
           201);
    expect(e,
           req(e, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/ns1/rolebindings",
               "{\"metadata\":{\"name\":\"bob-read\"},\"roleRef\":{\"apiGroup\":"
               "\"rbac.authorization.k8s.io\",\"kind\":\"Role\",\"name\":\"svc-read\"},"
               "\"subjects\":[{\"kind\":\"ServiceAccount\",\"name\":\"bob\",\"namespace\":"
               "\"ns1\"}]}"),
           201);
    e->token = tok;
    expect(e, req(e, "GET", "/api/v1/namespaces/ns1/services", NULL), 200);
    expect(e, req(e, "GET", "/api/v1/namespaces/default/services", NULL), 403);

    /* Impersonation: bob may not impersonate; the admin may, and then acts as bob. */
    e->as = "admin";
    expect(e, req(e, "GET", "/api/v1/namespaces/ns1/services", NULL), 403);
    assert_string_equal(msg(e), "users \"admin\" is forbidden: User "
                                "\"system:serviceaccount:ns1:bob\" cannot impersonate resource "
                                "\"users\" in API group \"\" at the cluster scope");
    e->token = ADMIN;
    e->as = "system:serviceaccount:ns1:bob";
    expect(e, req(e, "GET", "/api/v1/namespaces/ns1/services", NULL), 200);
    expect(e, req(e, "GET", "/api/v1/namespaces/default/services", NULL), 403);
    assert_true(strstr(msg(e), "User \"system:serviceaccount:ns1:bob\" cannot list") != NULL);
    e->as = "someone";
    e->as_groups = "system:masters";
    expect(e, req(e, "GET", "/api/v1/namespaces/default/services", NULL), 200);
    e->as = NULL;
    expect(e, req(e, "GET", "/api/v1/namespaces/default/services", NULL), 400);
    e->as_groups = NULL;

    /* TokenReview. */
    e->token = ADMIN;
    char body[512];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenReview\","
             "\"spec\":{\"token\":\"%s\"}}",
             tok);
    expect(e, req(e, "POST", "/apis/authentication.k8s.io/v1/tokenreviews", body), 201);
    assert_true(json_is_true(st_json_path(e->last, "status.authenticated")));
    assert_string_equal(jstr(e->last, "status.user.username"), "system:serviceaccount:ns1:bob");
    expect(e,
           req(e, "POST", "/apis/authentication.k8s.io/v1/tokenreviews",
               "{\"spec\":{\"token\":\"nope\"}}"),
           201);
    assert_false(json_is_true(st_json_path(e->last, "status.authenticated")));

    /* Deleting the namespace takes the account and its token with it. */
    expect(e, req(e, "DELETE", "/api/v1/namespaces/ns1", NULL), 200);
    e->token = tok;
    expect(e, req(e, "GET", "/api", NULL), 401);
    e->token = ADMIN;
    free(tok);
}

static void
test_namespace_cascade(void **state)
{
    struct env *e = *state;

    expect(e, req(e, "POST", "/api/v1/namespaces", "{\"metadata\":{\"name\":\"gone\"}}"), 201);
    expect(e,
           req(e, "POST", "/api/v1/namespaces/gone/services",
               "{\"metadata\":{\"name\":\"s\"},\"spec\":{\"ports\":[{\"port\":80}]}}"),
           201);
    expect(e,
           req(e, "POST", "/api/v1/namespaces/gone/configmaps", "{\"metadata\":{\"name\":\"c\"}}"),
           201);
    expect(e, req(e, "POST", "/api/v1/namespaces/gone/secrets", "{\"metadata\":{\"name\":\"x\"}}"),
           201);
    expect(e,
           req(e, "POST", "/api/v1/namespaces/default/configmaps",
               "{\"metadata\":{\"name\":\"keep\"}}"),
           201);
    expect(e, req(e, "DELETE", "/api/v1/namespaces/gone", NULL), 200);
    assert_string_equal(jstr(e->last, "status.phase"), "Terminating");
    assert_true(*jstr(e->last, "metadata.deletionTimestamp"));
    expect(e, req(e, "GET", "/api/v1/namespaces/gone", NULL), 404);
    expect(e, req(e, "GET", "/api/v1/namespaces/gone/services/s", NULL), 404);
    expect(e, req(e, "GET", "/api/v1/namespaces/gone/serviceaccounts/default", NULL), 404);
    expect(e, req(e, "GET", "/api/v1/configmaps", NULL), 200);
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(e->last, "items"), i, it)
        assert_string_not_equal(jstr(it, "metadata.namespace"), "gone");
    expect(e, req(e, "GET", "/api/v1/namespaces/default/configmaps/keep", NULL), 200);
}

/* ---- watches ------------------------------------------------------------------------- */

struct sink_log {
    json_t *events; /* parsed event objects */
    int ends;
    int refuse_after; /* refuse data once this many events were taken (0: never) */
    struct api_watch *free_on_end;
};

static int
sink_data(void *arg, const char *p, size_t n)
{
    struct sink_log *l = arg;

    assert_true(n > 0 && p[n - 1] == '\n');
    if (l->refuse_after && json_array_size(l->events) >= (size_t)l->refuse_after)
        return -1;
    json_t *ev = json_loadb(p, n - 1, 0, NULL);
    assert_non_null(ev);
    json_array_append_new(l->events, ev);
    return 0;
}

static void
sink_end(void *arg)
{
    struct sink_log *l = arg;

    l->ends++;
    if (l->free_on_end) {
        api_watch_free(l->free_on_end);
        l->free_on_end = NULL;
    }
}

static const struct api_watch_sink test_sink = {sink_data, sink_end};

/* Starts a watch on <path>; the response's watch is taken over by the caller. */
static struct api_watch *
watch_start(struct env *e, const char *path, struct sink_log *l)
{
    expect(e, req(e, "GET", path, NULL), 200);
    struct api_watch *w = e->resp.watch;
    assert_non_null(w);
    e->resp.watch = NULL;
    l->events = json_array();
    assert_int_equal(api_watch_start(w, &test_sink, l), 0);
    return w;
}

static const char *
ev_type(const struct sink_log *l, size_t i)
{
    return jstr(json_array_get(l->events, i), "type");
}

static void
test_watch_events(void **state)
{
    struct env *e = *state;
    struct sink_log l = {0};

    expect(
        e,
        req(e, "POST", "/api/v1/namespaces/default/configmaps", "{\"metadata\":{\"name\":\"w1\"}}"),
        201);
    struct api_watch *w =
        watch_start(e,
                    "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=0"
                    "&allowWatchBookmarks=true&timeoutSeconds=30",
                    &l);
    assert_int_equal(api_watch_count(e->api), 1);
    assert_int_equal(json_array_size(l.events), 1);
    assert_string_equal(ev_type(&l, 0), "ADDED");
    assert_string_equal(jstr(json_array_get(l.events, 0), "object.metadata.name"), "w1");

    expect(
        e,
        req(e, "POST", "/api/v1/namespaces/default/configmaps", "{\"metadata\":{\"name\":\"w2\"}}"),
        201);
    expect(e,
           req_ct(e, "PATCH", "/api/v1/namespaces/default/configmaps/w2",
                  "application/merge-patch+json", "{\"data\":{\"k\":\"v\"}}"),
           200);
    expect(e, req(e, "DELETE", "/api/v1/namespaces/default/configmaps/w1", NULL), 200);
    /* Other namespaces and kinds are not seen. */
    expect(e,
           req(e, "POST", "/api/v1/namespaces/kube-system/configmaps",
               "{\"metadata\":{\"name\":\"elsewhere\"}}"),
           201);
    assert_int_equal(json_array_size(l.events), 4);
    assert_string_equal(ev_type(&l, 1), "ADDED");
    assert_string_equal(ev_type(&l, 2), "MODIFIED");
    assert_string_equal(jstr(json_array_get(l.events, 2), "object.data.k"), "v");
    assert_string_equal(ev_type(&l, 3), "DELETED");
    assert_string_equal(jstr(json_array_get(l.events, 3), "object.metadata.name"), "w1");

    /* The kube-system write moved the rv past what this watch saw: a bookmark. */
    api_tick(e->api, st_now_ms() + 1500);
    assert_int_equal(json_array_size(l.events), 5);
    assert_string_equal(ev_type(&l, 4), "BOOKMARK");
    assert_string_equal(jstr(json_array_get(l.events, 4), "object.kind"), "ConfigMap");
    assert_true(*jstr(json_array_get(l.events, 4), "object.metadata.resourceVersion"));
    /* Nothing new: no second bookmark. */
    api_tick(e->api, st_now_ms() + 3000);
    assert_int_equal(json_array_size(l.events), 5);

    /* The timeout ends the watch; the sink may free it from end. */
    l.free_on_end = w;
    api_tick(e->api, st_now_ms() + 31000);
    assert_int_equal(l.ends, 1);
    assert_int_equal(api_watch_count(e->api), 0);
    json_decref(l.events);
}

/* A quiet watch that asked for bookmarks still gets one a minute, at its last version. */
static void
test_watch_keepalive_bookmark(void **state)
{
    struct env *e = *state;
    struct sink_log l = {0};

    expect(e,
           req(e, "POST", "/api/v1/namespaces/default/configmaps", "{\"metadata\":{\"name\":\"q\"}}"),
           201);
    const char *rv = jstr(e->last, "metadata.resourceVersion");
    char path[256];
    snprintf(path, sizeof(path),
             "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=%s"
             "&allowWatchBookmarks=true&timeoutSeconds=600",
             rv);
    char *want = st_xstrdup(rv);
    struct api_watch *w = watch_start(e, path, &l);
    api_tick(e->api, st_now_ms() + 30000);
    assert_int_equal(json_array_size(l.events), 0); /* nothing moved, not a minute yet */
    api_tick(e->api, st_now_ms() + 61000);
    assert_int_equal(json_array_size(l.events), 1);
    assert_string_equal(ev_type(&l, 0), "BOOKMARK");
    assert_string_equal(jstr(json_array_get(l.events, 0), "object.metadata.resourceVersion"), want);
    api_watch_free(w);
    free(want);
    json_decref(l.events);
}

static void
test_watch_from_version_and_selector(void **state)
{
    struct env *e = *state;
    struct sink_log l = {0};
    char path[256];

    expect(e,
           req(e, "POST", "/api/v1/namespaces/default/configmaps",
               "{\"metadata\":{\"name\":\"sel\",\"labels\":{\"app\":\"a\"}}}"),
           201);
    char rv[32];
    snprintf(rv, sizeof(rv), "%s", jstr(e->last, "metadata.resourceVersion"));
    snprintf(path, sizeof(path),
             "/api/v1/watch/namespaces/default/configmaps?labelSelector=app%%3Da&"
             "resourceVersion=%s",
             rv);
    struct api_watch *w = watch_start(e, path, &l);
    assert_int_equal(json_array_size(l.events), 0);
    /* Moving out of the selection is a DELETED, moving back an ADDED. */
    expect(e,
           req_ct(e, "PATCH", "/api/v1/namespaces/default/configmaps/sel",
                  "application/merge-patch+json", "{\"metadata\":{\"labels\":{\"app\":\"b\"}}}"),
           200);
    expect(e,
           req_ct(e, "PATCH", "/api/v1/namespaces/default/configmaps/sel",
                  "application/merge-patch+json", "{\"data\":{\"x\":\"y\"}}"),
           200);
    expect(e,
           req_ct(e, "PATCH", "/api/v1/namespaces/default/configmaps/sel",
                  "application/merge-patch+json", "{\"metadata\":{\"labels\":{\"app\":\"a\"}}}"),
           200);
    assert_int_equal(json_array_size(l.events), 2);
    assert_string_equal(ev_type(&l, 0), "DELETED");
    assert_string_equal(ev_type(&l, 1), "ADDED");
    api_watch_free(w);
    json_decref(l.events);

    /* A Table watch: each event object is a one-row Table. */
    struct sink_log t = {0};
    e->accept = TABLE_ACCEPT;
    w = watch_start(e, "/api/v1/namespaces/default/configmaps?watch=True", &t);
    e->accept = NULL;
    assert_int_equal(json_array_size(t.events), 1);
    assert_string_equal(jstr(json_array_get(t.events, 0), "object.kind"), "Table");
    assert_string_equal(jstr(json_array_get(t.events, 0), "object.rows.0.cells.0"), "sel");
    api_watch_free(w);
    json_decref(t.events);

    /* A watch of one named object. */
    struct sink_log n = {0};
    w = watch_start(e, "/api/v1/namespaces/default/configmaps/sel?watch=true&resourceVersion=0",
                    &n);
    expect(e,
           req(e, "POST", "/api/v1/namespaces/default/configmaps",
               "{\"metadata\":{\"name\":\"other\"}}"),
           201);
    assert_int_equal(json_array_size(n.events), 1);
    api_watch_free(w);
    json_decref(n.events);

    /* A sink that refuses data ends the watch. */
    struct sink_log r = {.refuse_after = 1};
    expect(e, req(e, "GET", "/api/v1/namespaces/default/configmaps?watch=true", NULL), 200);
    w = e->resp.watch;
    e->resp.watch = NULL;
    r.events = json_array();
    assert_true(api_watch_start(w, &test_sink, &r) < 0);
    assert_int_equal(r.ends, 1);
    assert_int_equal(json_array_size(r.events), 1);
    assert_int_equal(api_watch_count(e->api), 0);
    api_watch_free(w);
    json_decref(r.events);
}

static void
test_watch_expired_and_cap(void **state)
{
    struct env *e = env_open(5, 2);
    struct sink_log l1 = {0}, l2 = {0};
    char body[128];

    for (int i = 0; i < 12; i++) {
        snprintf(body, sizeof(body), "{\"metadata\":{\"name\":\"c%d\"}}", i);
        expect(e, req(e, "POST", "/api/v1/namespaces/default/configmaps", body), 201);
    }
    expect(
        e,
        req(e, "GET", "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=2", NULL),
        200);
    assert_null(e->resp.watch);
    json_t *ev = json_loadb(e->resp.body.data, e->resp.body.len, JSON_DISABLE_EOF_CHECK, NULL);
    assert_string_equal(jstr(ev, "type"), "ERROR");
    assert_int_equal(st_json_int_or(ev, "object.code", 0), 410);
    assert_string_equal(jstr(ev, "object.reason"), "Expired");
    json_decref(ev);

    struct api_watch *w1 = watch_start(e, "/api/v1/configmaps?watch=1", &l1);
    struct api_watch *w2 = watch_start(e, "/api/v1/configmaps?watch=true", &l2);
    expect(e, req(e, "GET", "/api/v1/configmaps?watch=true", NULL), 429);
    assert_string_equal(jstr(e->last, "reason"), "TooManyRequests");
    api_watch_free(w1);
    api_watch_free(w2);
    json_decref(l1.events);
    json_decref(l2.events);
    env_close(e);
}

/* ---- protobuf bodies ------------------------------------------------------------------ */

/* Appends a length-delimited protobuf field (lengths < 16384). */
static void
pb_field(struct st_buf *b, unsigned num, const void *p, size_t n)
{
    uint8_t h[4];
    size_t k = 0;

    h[k++] = (uint8_t)(num << 3 | 2);
    if (n < 128) {
        h[k++] = (uint8_t)n;
    } else {
        h[k++] = (uint8_t)(0x80 | (n & 0x7f));
        h[k++] = (uint8_t)(n >> 7);
    }
    assert_int_equal(st_buf_append(b, h, k), 0);
    assert_int_equal(st_buf_append(b, p, n), 0);
}

static void
pb_str(struct st_buf *b, unsigned num, const char *s)
{
    pb_field(b, num, s, strlen(s));
}

static void
pb_sub(struct st_buf *b, unsigned num, struct st_buf *sub)
{
    pb_field(b, num, sub->data ? sub->data : "", sub->len);
    st_buf_free(sub);
}

/* A map<string,string|bytes> entry. */
static void
pb_entry(struct st_buf *b, unsigned num, const char *k, const char *v)
{
    struct st_buf e = ST_BUF_INIT(0);
    pb_str(&e, 1, k);
    pb_str(&e, 2, v);
    pb_sub(b, num, &e);
}

/* The "k8s\0" envelope around <raw> of <api_version>/<kind>. */
static char *
pb_envelope(const char *api_version, const char *kind, struct st_buf *raw, size_t *n)
{
    struct st_buf out = ST_BUF_INIT(0), tm = ST_BUF_INIT(0);

    assert_int_equal(st_buf_append(&out, "k8s\0", 4), 0);
    pb_str(&tm, 1, api_version);
    pb_str(&tm, 2, kind);
    pb_sub(&out, 1, &tm);
    pb_sub(&out, 2, raw);
    pb_str(&out, 4, "application/vnd.kubernetes.protobuf");
    *n = out.len;
    return st_buf_steal(&out);
}

static int
req_pb(struct env *e, const char *path, const char *body, size_t n)
{
    struct api_request r = {
        .method = "POST",
        .path = path,
        .content_type = "application/vnd.kubernetes.protobuf",
        .accept = "application/vnd.kubernetes.protobuf,application/json",
        .bearer_token = e->token,
        .body = body,
        .body_len = n,
    };
    api_response_clear(&e->resp);
    int status = api_handle(e->api, &r, &e->resp);
    json_decref(e->last);
    e->last = json_loadb(e->resp.body.data ? e->resp.body.data : "", e->resp.body.len, 0, NULL);
    return status;
}

static void
test_protobuf_bodies(void **state)
{
    struct env *e = *state;
    struct st_buf raw = ST_BUF_INIT(0), md = ST_BUF_INIT(0);
    size_t n;

    /* kubectl create secret generic s --from-literal=a=b (as client-go encodes it). */
    pb_str(&md, 1, "pbsecret");
    pb_str(&md, 2, "");
    pb_str(&md, 3, "default");
    pb_entry(&md, 11, "app", "x");
    pb_sub(&raw, 1, &md);
    pb_entry(&raw, 2, "a", "b");
    pb_str(&raw, 3, "Opaque");
    char *body = pb_envelope("v1", "Secret", &raw, &n);
    expect(e, req_pb(e, "/api/v1/namespaces/default/secrets", body, n), 201);
    free(body);
    assert_string_equal(jstr(e->last, "data.a"), "Yg==");
    assert_string_equal(jstr(e->last, "metadata.labels.app"), "x");
    assert_null(st_json_path(e->last, "metadata.generateName"));

    /* kubectl auth can-i list secrets -n default */
    struct st_buf spec = ST_BUF_INIT(0), ra = ST_BUF_INIT(0);
    pb_str(&ra, 1, "default");
    pb_str(&ra, 2, "list");
    pb_str(&ra, 5, "secrets");
    pb_sub(&spec, 1, &ra);
    pb_sub(&raw, 1, &md);
    pb_sub(&raw, 2, &spec);
    body = pb_envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview", &raw, &n);
    expect(e, req_pb(e, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body, n), 201);
    free(body);
    assert_true(json_is_true(st_json_path(e->last, "status.allowed")));

    /* kubectl create deployment web --image=nginx --replicas=2 --port=80 */
    struct st_buf dspec = ST_BUF_INIT(0), sel = ST_BUF_INIT(0), tmpl = ST_BUF_INIT(0);
    struct st_buf tmd = ST_BUF_INIT(0), pod = ST_BUF_INIT(0), ctr = ST_BUF_INIT(0);
    struct st_buf cport = ST_BUF_INIT(0);
    const uint8_t replicas[] = {0x08, 0x02}; /* field 1, varint 2 */
    const uint8_t port80[] = {0x18, 0x50};   /* field 3, varint 80 */
    assert_int_equal(st_buf_append(&dspec, replicas, sizeof(replicas)), 0);
    pb_entry(&sel, 1, "app", "web");
    pb_sub(&dspec, 2, &sel);
    pb_entry(&tmd, 11, "app", "web");
    pb_sub(&tmpl, 1, &tmd);
    pb_str(&ctr, 1, "nginx");
    pb_str(&ctr, 2, "nginx");
    assert_int_equal(st_buf_append(&cport, port80, sizeof(port80)), 0);
    pb_str(&cport, 4, "TCP");
    pb_sub(&ctr, 6, &cport);
    pb_sub(&pod, 2, &ctr);
    pb_sub(&tmpl, 2, &pod);
    pb_sub(&dspec, 3, &tmpl);
    pb_str(&md, 1, "web");
    pb_sub(&raw, 1, &md);
    pb_sub(&raw, 2, &dspec);
    body = pb_envelope("apps/v1", "Deployment", &raw, &n);
    expect(e, req_pb(e, "/apis/apps/v1/namespaces/default/deployments", body, n), 201);
    free(body);
    assert_int_equal(st_json_int_or(e->last, "spec.replicas", 0), 2);
    assert_string_equal(jstr(e->last, "spec.selector.matchLabels.app"), "web");
    assert_string_equal(jstr(e->last, "spec.template.spec.containers.0.image"), "nginx");
    assert_int_equal(
        st_json_int_or(e->last, "spec.template.spec.containers.0.ports.0.containerPort", 0), 80);

    /* A Lease decodes too; a kind without a decoder (no custom resource has one) is 415. */
    pb_str(&md, 1, "l");
    pb_sub(&raw, 1, &md);
    body = pb_envelope("coordination.k8s.io/v1", "Lease", &raw, &n);
    expect(e, req_pb(e, "/apis/coordination.k8s.io/v1/namespaces/default/leases", body, n), 201);
    assert_string_equal(jstr(e->last, "metadata.name"), "l");
    free(body);
    body = pb_envelope("split.smi-spec.io/v1alpha2", "TrafficSplit", &raw, &n);
    expect(e, req_pb(e, "/api/v1/namespaces/default/configmaps", body, n), 415);
    free(body);
    expect(e, req_pb(e, "/api/v1/namespaces/default/secrets", "k8s\0\x0a\xff", 6), 400);
    expect(e, req_pb(e, "/api/v1/namespaces/default/secrets", "{}", 2), 400);
    /* whoami */
    expect(e, req(e, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", "{}"), 201);
    assert_string_equal(jstr(e->last, "status.userInfo.username"), "admin");
    /* YAML bodies are accepted as Kubernetes accepts them; broken YAML is a 400. */
    expect(e,
           req_ct(e, "POST", "/api/v1/namespaces/default/configmaps", "application/yaml",
                  "metadata: {name: yml}\ndata:\n  k: |\n    two\n    lines\n"),
           201);
    assert_string_equal(jstr(e->last, "data.k"), "two\nlines\n");
    expect(e,
           req_ct(e, "POST", "/api/v1/namespaces/default/configmaps", "application/yaml",
                  "metadata: {name: [unclosed"),
           400);
    expect(e,
           req_ct(e, "POST", "/api/v1/namespaces/default/configmaps", "text/plain", "name: x"),
           415);
}

/* ---- CRDs ---------------------------------------------------------------------------- */

/* Creates the CRD from crds/<file> through the API. */
static void
create_crd(struct env *e, const char *file)
{
    char path[512];
    struct st_buf b = ST_BUF_INIT(1u << 20);
    struct st_err err = {0};

    snprintf(path, sizeof(path), "%s/crds/%s", ST_SOURCE_DIR, file);
    assert_int_equal(st_file_read(path, &b), 0);
    json_t *crd = st_yaml_load(b.data, b.len, NULL, &err);
    if (!crd)
        fail_msg("%s: %s", file, err.msg);
    char *text = json_dumps(crd, JSON_COMPACT);
    expect(e, req(e, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", text), 201);
    free(text);
    json_decref(crd);
    st_buf_free(&b);
}

static void
test_crd_lifecycle(void **state)
{
    struct env *e = *state;
    struct sink_log l = {0};

    expect(e, req(e, "GET", "/apis/split.smi-spec.io/v1alpha2", NULL), 404);
    create_crd(e, "trafficsplit.yaml");
    assert_string_equal(jstr(e->last, "status.conditions.1.type"), "Established");
    assert_string_equal(jstr(e->last, "status.storedVersions.0"), "v1alpha2");
    create_crd(e, "link.yaml");
    create_crd(e, "externalworkload.yaml");
    expect(e, req(e, "GET", "/apis/split.smi-spec.io", NULL), 200);
    assert_string_equal(jstr(e->last, "preferredVersion.version"), "v1alpha2");
    expect(e, req(e, "GET", "/apis/split.smi-spec.io/v1alpha1", NULL), 200);
    assert_string_equal(jstr(e->last, "resources.0.shortNames.0"), "ts");

    struct api_watch *w = watch_start(
        e, "/apis/split.smi-spec.io/v1alpha1/namespaces/default/trafficsplits?watch=true", &l);
    expect(e,
           req(e, "POST", "/apis/split.smi-spec.io/v1alpha2/namespaces/default/trafficsplits",
               "{\"apiVersion\":\"split.smi-spec.io/v1alpha2\",\"kind\":\"TrafficSplit\","
               "\"metadata\":{\"name\":\"ts1\"},\"spec\":{\"service\":\"web\",\"backends\":"
               "[{\"service\":\"web-a\",\"weight\":1}]}}"),
           201);
    assert_int_equal(st_json_int_or(e->last, "metadata.generation", 0), 1);
    /* The watch through v1alpha1 sees it as v1alpha1. */
    assert_int_equal(json_array_size(l.events), 1);
    assert_string_equal(jstr(json_array_get(l.events, 0), "object.apiVersion"),
                        "split.smi-spec.io/v1alpha1");
    expect(e,
           req(e, "GET", "/apis/split.smi-spec.io/v1alpha1/namespaces/default/trafficsplits/ts1",
               NULL),
           200);
    assert_string_equal(jstr(e->last, "apiVersion"), "split.smi-spec.io/v1alpha1");
    /* Custom resources get no strategic merge patch. */
    expect(e,
           req_ct(e, "PATCH",
                  "/apis/split.smi-spec.io/v1alpha2/namespaces/default/trafficsplits/ts1",
                  "application/strategic-merge-patch+json", "{}"),
           415);
    expect(e,
           req_ct(e, "PATCH",
                  "/apis/split.smi-spec.io/v1alpha2/namespaces/default/trafficsplits/ts1",
                  "application/merge-patch+json", "{\"spec\":{\"service\":\"web2\"}}"),
           200);
    assert_int_equal(st_json_int_or(e->last, "metadata.generation", 0), 2);
    /* A CR update needs a resourceVersion. */
    expect(e,
           req(e, "PUT", "/apis/split.smi-spec.io/v1alpha2/namespaces/default/trafficsplits/ts1",
               "{\"metadata\":{\"name\":\"ts1\"},\"spec\":{}}"),
           422);
    /* Table with the CRD's printer columns. */
    e->accept = TABLE_ACCEPT;
    expect(e, req(e, "GET", "/apis/split.smi-spec.io/v1alpha2/trafficsplits", NULL), 200);
    assert_string_equal(jstr(e->last, "columnDefinitions.1.name"), "Service");
    assert_string_equal(jstr(e->last, "rows.0.cells.1"), "web2");
    assert_true(st_str_has_suffix(jstr(e->last, "rows.0.cells.2"), "s"));
    e->accept = NULL;

    /* ExternalWorkload: status only through the status subresource. */
    const char *ew = "/apis/workload.strait.io/v1beta1/namespaces/default/externalworkloads";
    expect(e,
           req(e, "POST", ew,
               "{\"metadata\":{\"name\":\"w\"},\"spec\":{\"meshTLS\":{\"identity\":\"id\","
               "\"serverName\":\"sn\"}},\"status\":{\"conditions\":[{\"type\":\"Ready\","
               "\"status\":\"True\"}]}}"),
           201);
    assert_null(st_json_path(e->last, "status"));
    char rv[32], path[256], body[512];
    snprintf(rv, sizeof(rv), "%s", jstr(e->last, "metadata.resourceVersion"));
    snprintf(path, sizeof(path), "%s/w/status", ew);
    snprintf(body, sizeof(body),
             "{\"metadata\":{\"name\":\"w\",\"resourceVersion\":\"%s\"},\"spec\":{\"meshTLS\":"
             "{\"identity\":\"changed\"}},\"status\":{\"conditions\":[{\"type\":\"Ready\","
             "\"status\":\"True\"}]}}",
             rv);
    expect(e, req(e, "PUT", path, body), 200);
    assert_string_equal(jstr(e->last, "status.conditions.0.type"), "Ready");
    assert_string_equal(jstr(e->last, "spec.meshTLS.identity"), "id");
    expect(e,
           req_ct(e, "PATCH", path, "application/merge-patch+json",
                  "{\"status\":{\"conditions\":[]}}"),
           200);
    assert_int_equal(json_array_size(st_json_path(e->last, "status.conditions")), 0);
    snprintf(path, sizeof(path), "%s/w", ew);
    expect(e,
           req_ct(e, "PATCH", path, "application/merge-patch+json",
                  "{\"status\":{\"x\":1},\"spec\":{\"ports\":[{\"port\":80}]}}"),
           200);
    assert_null(st_json_path(e->last, "status.x"));
    assert_int_equal(st_json_int_or(e->last, "spec.ports.0.port", 0), 80);
    expect(e, req(e, "GET", "/apis/multicluster.strait.io/v1alpha1/links/status", NULL), 404);

    /* Custom resources are checked against their version's schema and defaulted. */
    expect(e,
           req(e, "POST", "/apis/split.smi-spec.io/v1alpha2/namespaces/default/trafficsplits",
               "{\"metadata\":{\"name\":\"bad\"},\"spec\":{\"service\":\"web\",\"backends\":"
               "[{\"service\":\"a\",\"weight\":\"500m\"}]}}"),
           422);
    assert_string_equal(msg(e), "TrafficSplit.split.smi-spec.io \"bad\" is invalid: "
                                "spec.backends[0].weight: Invalid value: \"string\": "
                                "spec.backends[0].weight in body must be of type integer: "
                                "\"string\"");
    assert_string_equal(jstr(e->last, "details.causes.0.field"), "spec.backends[0].weight");
    expect(e,
           req(e, "POST", "/apis/split.smi-spec.io/v1alpha1/namespaces/default/trafficsplits",
               "{\"metadata\":{\"name\":\"q\"},\"spec\":{\"service\":\"web\",\"backends\":"
               "[{\"service\":\"a\",\"weight\":\"500m\"}]}}"),
           201);
    expect(e,
           req(e, "POST", ew,
               "{\"metadata\":{\"name\":\"w2\"},\"spec\":{\"meshTLS\":{\"identity\":\"id\"},"
               "\"workloadIPs\":[{\"ip\":\"a\"},{\"ip\":\"b\"}],\"ports\":[{\"port\":0}]}}"),
           422);
    assert_true(
        st_str_has_prefix(msg(e), "ExternalWorkload.workload.strait.io \"w2\" is invalid: ["));
    assert_int_equal(json_array_size(st_json_path(e->last, "details.causes")), 3);
    expect(e,
           req(e, "POST", ew,
               "{\"metadata\":{\"name\":\"w3\"},\"spec\":{\"meshTLS\":{\"identity\":\"id\","
               "\"serverName\":\"sn\"},\"ports\":[{\"port\":8080}]}}"),
           201);
    assert_string_equal(jstr(e->last, "spec.ports.0.protocol"), "TCP");
    snprintf(path, sizeof(path), "%s/w3/status", ew);
    expect(e,
           req_ct(e, "PATCH", path, "application/merge-patch+json",
                  "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"Maybe\"}]}}"),
           422);
    assert_true(strstr(msg(e), "Unsupported value: \"Maybe\"") != NULL);

    /* A bad CRD is refused with causes. */
    expect(e,
           req(e, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
               "{\"metadata\":{\"name\":\"things.example.com\"},\"spec\":{\"group\":"
               "\"example.com\",\"scope\":\"Namespaced\",\"names\":{\"plural\":\"things\","
               "\"kind\":\"Thing\"},\"versions\":[{\"name\":\"v1\",\"served\":true,"
               "\"storage\":false}]}}"),
           422);
    assert_true(strstr(msg(e), "exactly one version marked as storage version") != NULL);
    assert_true(json_array_size(st_json_path(e->last, "details.causes")) >= 1);

    /* Deleting the CRD removes its objects, its routes and its watches. */
    expect(e,
           req(e, "DELETE",
               "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
               "trafficsplits.split.smi-spec.io",
               NULL),
           200);
    assert_int_equal(l.ends, 1);
    api_watch_free(w);
    json_decref(l.events);
    expect(e,
           req(e, "GET", "/apis/split.smi-spec.io/v1alpha2/namespaces/default/trafficsplits", NULL),
           404);
    expect(e, req(e, "GET", "/apis/split.smi-spec.io", NULL), 404);
    create_crd(e, "trafficsplit.yaml");
    expect(e,
           req(e, "GET", "/apis/split.smi-spec.io/v1alpha2/namespaces/default/trafficsplits", NULL),
           200);
    assert_int_equal(json_array_size(json_object_get(e->last, "items")), 0);
    /* Registered again after a restart of the API layer. */
    api_free(e->api);
    struct st_err err = {0};
    struct api_options ao = {.service_cidr = "127.1.128.0/17"};
    e->api = api_new(e->st, e->au, &ao, &err);
    assert_non_null(e->api);
    expect(e, req(e, "GET", "/apis/workload.strait.io/v1beta1/externalworkloads", NULL), 200);
    assert_int_equal(json_array_size(json_object_get(e->last, "items")), 2); /* w and w3 */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_discovery, setup, teardown),
        cmocka_unit_test(test_registry_versions),
        cmocka_unit_test(test_human_duration),
        cmocka_unit_test_setup_teardown(test_namespace_and_default_sa, setup, teardown),
        cmocka_unit_test_setup_teardown(test_service_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_paging_and_selectors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_errors_and_reviews, setup, teardown),
        cmocka_unit_test_setup_teardown(test_namespace_cascade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_keepalive_bookmark, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_from_version_and_selector, setup, teardown),
        cmocka_unit_test(test_watch_expired_and_cap),
        cmocka_unit_test_setup_teardown(test_protobuf_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crd_lifecycle, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
