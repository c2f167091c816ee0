/*
 * Fuzzes the review bodies auth answers (TokenReview, the access reviews,
 * SelfSubjectRulesReview), the escalation check on RBAC writes and rule
 * matching: the input is JSON text, as a client would POST it. A store on a temporary file, with one Role and
 * RoleBinding, is set up once per process.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "auth.h"
#include "store.h"

static struct store *fuzz_st;
static struct auth *fuzz_auth;
static char fuzz_dir[64];
static char fuzz_path[96];

static void
fuzz_cleanup(void)
{
    char p[128];

    fuzz_auth = auth_free(fuzz_auth);
    fuzz_st = store_close(fuzz_st);
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < ST_ARRAY_LEN(suffix); i++) {
        snprintf(p, sizeof(p), "%s%s", fuzz_path, suffix[i]);
        unlink(p);
    }
    rmdir(fuzz_dir);
}

static void
fuzz_init(void)
{
    struct st_err err = {0};

    snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/fuzz_auth.XXXXXX");
    if (mkdtemp(fuzz_dir) == NULL)
        abort();
    snprintf(fuzz_path, sizeof(fuzz_path), "%s/store.db", fuzz_dir);
    fuzz_st = store_open(fuzz_path, NULL, &err);
    if (fuzz_st == NULL)
        abort();
    fuzz_auth = auth_new(fuzz_st, "fuzz-admin", "", &err);
    if (fuzz_auth == NULL)
        abort();
    json_t *role = json_loads("{\"metadata\":{\"name\":\"r\",\"namespace\":\"a\"},\"rules\":["
                              "{\"apiGroups\":[\"\",\"apps\"],\"resources\":[\"pods\",\"*/scale\"],"
                              "\"resourceNames\":[\"x\"],\"verbs\":[\"get\",\"patch\"]}]}",
                              0, NULL);
    json_t *rb = json_loads("{\"metadata\":{\"name\":\"rb\",\"namespace\":\"a\"},\"roleRef\":"
                            "{\"kind\":\"Role\",\"name\":\"r\"},\"subjects\":[{\"kind\":\"Group\","
                            "\"name\":\"g\"},{\"kind\":\"ServiceAccount\",\"name\":\"s\"}]}",
                            0, NULL);
    if (store_create(fuzz_st, "rbac.authorization.k8s.io/roles", "a", role, &err) < 0 ||
        store_create(fuzz_st, "rbac.authorization.k8s.io/rolebindings", "a", rb, &err) < 0)
        abort();
    json_decref(role);
    json_decref(rb);
    atexit(fuzz_cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *groups[] = {"g", "system:authenticated"};
    struct auth_user u = {"system:serviceaccount:a:s", "", groups, 2};
    struct st_err err = {0};
    json_t *doc, *out;

    if (size > 65536)
        return 0;
    if (fuzz_auth == NULL)
        fuzz_init();
    doc = json_loadb((const char *)data, size, 0, NULL);
    if (doc == NULL)
        return 0;
    out = auth_token_review(fuzz_auth, doc);
    json_decref(out);
    out = auth_access_review(fuzz_auth, &u, doc, &err);
    json_decref(out);
    out = auth_access_review_as(fuzz_auth, &u, "LocalSubjectAccessReview", "a", doc, &err);
    json_decref(out);
    out = auth_rules_review(fuzz_auth, &u, doc, &err);
    json_decref(out);

    /* The document as an RBAC object being written. */
    (void)auth_check_rbac_write(fuzz_auth, &u, "roles", "a", doc, &err);
    (void)auth_check_rbac_write(fuzz_auth, &u, "clusterrolebindings", "", doc, &err);
    (void)auth_check_rbac_write(fuzz_auth, &u, "rolebindings", "a", doc, &err);

    /* The document's "rules" against attributes taken from its "attrs". */
    json_t *at = json_object_get(doc, "attrs");
    struct auth_attrs attrs = {
        json_string_value(json_object_get(at, "verb")),
        json_string_value(json_object_get(at, "group")),
        json_string_value(json_object_get(at, "resource")),
        json_string_value(json_object_get(at, "subresource")),
        json_string_value(json_object_get(at, "namespace")),
        json_string_value(json_object_get(at, "name")),
        json_string_value(json_object_get(at, "path")),
    };
    (void)auth_rules_allow(json_object_get(doc, "rules"), &attrs);
    (void)auth_authorize(fuzz_auth, &u, &attrs);
    json_decref(doc);
    return 0;
}
