/*
 * Unit tests for apiserver/auth.c against a real store on a temporary file:
 * the admin token, service-account tokens and their Secrets, RBAC as
 * Kubernetes evaluates it, bootstrap objects, and the review bodies.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "auth.h"
#include "store.h"

#define ADMIN_TOKEN "s3cret-admin-token-0123456789"
#define CA_PEM "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
#define RBAC "rbac.authorization.k8s.io/"

struct env {
    char dir[64];
    char path[96];
    struct store *st;
    struct auth *a;
};

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int
setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    struct st_err err = {0};

    snprintf(e->dir, sizeof(e->dir), "/tmp/test_auth.XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    snprintf(e->path, sizeof(e->path), "%s/store.db", e->dir);
    e->st = store_open(e->path, NULL, &err);
    assert_non_null(e->st);
    e->a = auth_new(e->st, ADMIN_TOKEN, CA_PEM, &err);
    if (e->a == NULL)
        fail_msg("auth_new: %s", err.msg);
    *state = e;
    return 0;
}

static int
teardown(void **state)
{
    struct env *e = *state;

    auth_free(e->a);
    store_close(e->st);
    nftw(e->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(e);
    return 0;
}

/* Stores the object given as JSON text under <res>; its namespace comes from metadata. */
static void
put(struct env *e, const char *res, const char *text)
{
    json_error_t jerr;
    json_t *obj = json_loads(text, 0, &jerr);
    struct st_err err = {0};

    if (obj == NULL)
        fail_msg("bad test JSON: %s: %s", jerr.text, text);
    const char *ns = json_string_value(json_object_get(json_object_get(obj, "metadata"),
                                                       "namespace"));
    json_t *old = NULL;
    const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"),
                                                         "name"));
    if (store_get(e->st, res, ns ? ns : "", name, &old, NULL) == 0) {
        json_decref(old);
        assert_int_equal(store_update(e->st, res, ns ? ns : "", name, obj, 0, &err), 0);
    } else {
        assert_int_equal(store_create(e->st, res, ns ? ns : "", obj, &err), 0);
    }
    json_decref(obj);
}

static void
del(struct env *e, const char *res, const char *ns, const char *name)
{
    assert_int_equal(store_delete(e->st, res, ns, name, 0, NULL, NULL), 0);
}

/* A user with a NULL-terminated list of groups; free with auth_user_clear. */
static struct auth_user
user(const char *name, ...)
{
    struct auth_user u = {0};
    va_list ap;
    const char *g;

    u.name = strdup(name);
    u.uid = strdup("");
    va_start(ap, name);
    while ((g = va_arg(ap, const char *)) != NULL) {
        u.groups = realloc(u.groups, (u.n_groups + 1) * sizeof(*u.groups));
        u.groups[u.n_groups++] = strdup(g);
    }
    va_end(ap);
    return u;
}

static bool
can(struct env *e, const struct auth_user *u, const char *verb, const char *group,
    const char *resource, const char *sub, const char *ns, const char *name)
{
    struct auth_attrs at = {verb, group, resource, sub, ns, name, NULL};

    return auth_authorize(e->a, u, &at);
}

static bool
can_url(struct env *e, const struct auth_user *u, const char *verb, const char *path)
{
    struct auth_attrs at = {verb, NULL, NULL, NULL, NULL, NULL, path};

    return auth_authorize(e->a, u, &at);
}

/* ---- authentication ------------------------------------------------------------ */

static void
test_admin_token(void **state)
{
    struct env *e = *state;
    struct auth_user u;
    char bad[] = ADMIN_TOKEN;
    char big[5000];

    assert_int_equal(auth_authenticate(e->a, ADMIN_TOKEN, &u), 0);
    assert_string_equal(u.name, "admin");
    assert_int_equal(u.n_groups, 2);
    assert_string_equal(u.groups[0], "system:masters");
    assert_string_equal(u.groups[1], "system:authenticated");
    auth_user_clear(&u);
    assert_null(u.name);

    bad[5] ^= 1; /* one byte differs */
    assert_int_equal(auth_authenticate(e->a, bad, &u), ST_EAUTH);
    assert_null(u.name);
    assert_int_equal(auth_authenticate(e->a, "s3cret-admin-token-012345678", &u), ST_EAUTH);
    assert_int_equal(auth_authenticate(e->a, ADMIN_TOKEN "x", &u), ST_EAUTH);
    assert_int_equal(auth_authenticate(e->a, "", &u), ST_EAUTH);
    assert_int_equal(auth_authenticate(e->a, NULL, &u), ST_EAUTH);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(auth_authenticate(e->a, big, &u), ST_EAUTH);
}

static void
put_sa(struct env *e, const char *ns, const char *name, const char *uid)
{
    char *t = st_xasprintf("{\"apiVersion\":\"v1\",\"kind\":\"ServiceAccount\",\"metadata\":"
                           "{\"name\":\"%s\",\"namespace\":\"%s\",\"uid\":\"%s\"}}",
                           name, ns, uid);
    put(e, "/serviceaccounts", t);
    free(t);
}

static json_t *
token_secret(const char *ns, const char *name, const char *sa)
{
    return json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:{s:s}}}", "apiVersion", "v1", "kind", "Secret",
                     "type", "kubernetes.io/service-account-token", "metadata", "name", name,
                     "namespace", ns, "annotations", "kubernetes.io/service-account.name", sa);
}

/* Fills and stores a token Secret for <sa>; returns the token (malloc'd). */
static char *
make_token(struct env *e, const char *ns, const char *name, const char *sa)
{
    json_t *s = token_secret(ns, name, sa);
    struct st_err err = {0};
    struct st_buf tok = ST_BUF_INIT(4096);

    assert_int_equal(auth_fill_sa_token_secret(e->a, s, &err), 0);
    const char *b64 = json_string_value(json_object_get(json_object_get(s, "data"), "token"));
    assert_non_null(b64);
    assert_int_equal(st_base64_decode(b64, strlen(b64), &tok), 0);
    assert_int_equal(store_create(e->st, "/secrets", ns, s, &err), 0);
    json_decref(s);
    return st_buf_steal(&tok);
}

static void
test_sa_token_fill(void **state)
{
    struct env *e = *state;
    struct st_err err = {0};
    struct st_buf b = ST_BUF_INIT(4096);
    json_t *s = token_secret("a", "robot-token", "robot");

    /* The ServiceAccount must exist. */
    assert_int_equal(auth_fill_sa_token_secret(e->a, s, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "not found"));
    put_sa(e, "a", "robot", "uid-robot-1");
    assert_int_equal(auth_fill_sa_token_secret(e->a, s, &err), 0);

    json_t *data = json_object_get(s, "data");
    const char *tok = json_string_value(json_object_get(data, "token"));
    assert_int_equal(st_base64_decode(tok, strlen(tok), &b), 0);
    assert_int_equal(b.len, 43); /* 256 bits as unpadded base64url */
    for (size_t i = 0; i < b.len; i++)
        assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                               b.data[i]));
    const char *ca = json_string_value(json_object_get(data, "ca.crt"));
    assert_int_equal(st_base64_decode(ca, strlen(ca), &b), 0);
    assert_string_equal(st_buf_cstr(&b), CA_PEM);
    const char *ns = json_string_value(json_object_get(data, "namespace"));
    assert_int_equal(st_base64_decode(ns, strlen(ns), &b), 0);
    assert_string_equal(st_buf_cstr(&b), "a");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(s, "metadata"), "annotations"),
                            "kubernetes.io/service-account.uid")),
                        "uid-robot-1");

    /* Applied again, the Secret keeps its token. */
    char *first = strdup(tok);
    assert_int_equal(auth_fill_sa_token_secret(e->a, s, &err), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(s, "data"), "token")),
                        first);
    free(first);

    /* Two fresh Secrets get different tokens. */
    json_t *s2 = token_secret("a", "robot-token-2", "robot");
    assert_int_equal(auth_fill_sa_token_secret(e->a, s2, &err), 0);
    assert_string_not_equal(
        json_string_value(json_object_get(json_object_get(s, "data"), "token")),
        json_string_value(json_object_get(json_object_get(s2, "data"), "token")));
    json_decref(s2);

    /* Missing annotation or namespace. */
    json_object_del(json_object_get(json_object_get(s, "metadata"), "annotations"),
                    "kubernetes.io/service-account.name");
    assert_int_equal(auth_fill_sa_token_secret(e->a, s, &err), ST_EINVAL);
    json_object_del(json_object_get(s, "metadata"), "namespace");
    assert_int_equal(auth_fill_sa_token_secret(e->a, s, &err), ST_EINVAL);

    /* Other Secret types are left alone. */
    json_t *opaque = json_pack("{s:s,s:{s:s,s:s}}", "type", "Opaque", "metadata", "name", "x",
                               "namespace", "a");
    assert_int_equal(auth_fill_sa_token_secret(e->a, opaque, &err), 0);
    assert_null(json_object_get(opaque, "data"));
    json_decref(opaque);
    json_decref(s);
    st_buf_free(&b);
}

static void
test_sa_token_lifecycle(void **state)
{
    struct env *e = *state;
    struct auth_user u;
    struct st_err err = {0};

    put_sa(e, "a", "robot", "uid-robot-1");
    char *tok = make_token(e, "a", "robot-token", "robot");

    assert_int_equal(auth_authenticate(e->a, tok, &u), 0);
    assert_string_equal(u.name, "system:serviceaccount:a:robot");
    assert_string_equal(u.uid, "uid-robot-1");
    assert_int_equal(u.n_groups, 3);
    assert_string_equal(u.groups[0], "system:serviceaccounts");
    assert_string_equal(u.groups[1], "system:serviceaccounts:a");
    assert_string_equal(u.groups[2], "system:authenticated");
    auth_user_clear(&u);

    /* One byte off, a prefix, or an extension: refused. */
    char saved = tok[10];
    tok[10] = saved == 'A' ? 'B' : 'A';
    assert_int_equal(auth_authenticate(e->a, tok, &u), ST_EAUTH);
    tok[10] = saved;
    char *longer = st_xasprintf("%sA", tok);
    assert_int_equal(auth_authenticate(e->a, longer, &u), ST_EAUTH);
    longer[strlen(tok) - 1] = '\0';
    assert_int_equal(auth_authenticate(e->a, longer, &u), ST_EAUTH);
    free(longer);
    assert_int_equal(auth_authenticate(e->a, tok, &u), 0);
    auth_user_clear(&u);

    /* A restarted auth finds the token from the store. */
    e->a = auth_free(e->a);
    e->a = auth_new(e->st, ADMIN_TOKEN, CA_PEM, &err);
    assert_non_null(e->a);
    assert_int_equal(auth_authenticate(e->a, tok, &u), 0);
    auth_user_clear(&u);

    /* Deleting the Secret revokes the token. */
    del(e, "/secrets", "a", "robot-token");
    assert_int_equal(auth_authenticate(e->a, tok, &u), ST_EAUTH);

    /* A new token works until its ServiceAccount is deleted... */
    char *tok2 = make_token(e, "a", "robot-token", "robot");
    assert_string_not_equal(tok, tok2);
    assert_int_equal(auth_authenticate(e->a, tok2, &u), 0);
    auth_user_clear(&u);
    del(e, "/serviceaccounts", "a", "robot");
    assert_int_equal(auth_authenticate(e->a, tok2, &u), ST_EAUTH);
    /* ...and a new account of the same name is not the old one. */
    put_sa(e, "a", "robot", "uid-robot-2");
    assert_int_equal(auth_authenticate(e->a, tok2, &u), ST_EAUTH);

    /* Changing the Secret's token in place retires the old value. */
    char *tok3 = make_token(e, "a", "other-token", "robot");
    assert_int_equal(auth_authenticate(e->a, tok3, &u), 0);
    auth_user_clear(&u);
    json_t *s = NULL;
    assert_int_equal(store_get(e->st, "/secrets", "a", "other-token", &s, NULL), 0);
    json_object_set_new(json_object_get(s, "data"), "token", json_string("bmV3LXRva2Vu"));
    assert_int_equal(store_update(e->st, "/secrets", "a", "other-token", s, 0, NULL), 0);
    json_decref(s);
    assert_int_equal(auth_authenticate(e->a, tok3, &u), ST_EAUTH);
    assert_int_equal(auth_authenticate(e->a, "new-token", &u), 0);
    assert_string_equal(u.name, "system:serviceaccount:a:robot");
    auth_user_clear(&u);
    free(tok);
    free(tok2);
    free(tok3);
}

/* Many token Secrets: the index is loaded page by page at start. */
static void
test_sa_token_many(void **state)
{
    struct env *e = *state;
    struct auth_user u;
    struct st_err err = {0};

    put_sa(e, "m", "bulk", "uid-bulk");
    assert_int_equal(store_begin(e->st, NULL), 0);
    for (int i = 0; i < 1100; i++) {
        char name[32], tok[32];
        snprintf(name, sizeof(name), "bulk-%04d", i);
        snprintf(tok, sizeof(tok), "bulk-token-%04d", i);
        json_t *s = token_secret("m", name, "bulk");
        char *b64 = st_base64_encode(tok, strlen(tok));
        json_object_set_new(s, "data", json_pack("{s:s}", "token", b64));
        free(b64);
        /* Opaque Secrets in between are skipped by the load. */
        if (i % 100 == 0)
            json_object_set_new(s, "type", json_string("Opaque"));
        assert_int_equal(store_create(e->st, "/secrets", "m", s, NULL), 0);
        json_decref(s);
    }
    assert_int_equal(store_commit(e->st, NULL), 0);
    assert_int_equal(auth_authenticate(e->a, "bulk-token-1099", &u), 0);
    auth_user_clear(&u);
    e->a = auth_free(e->a);
    e->a = auth_new(e->st, ADMIN_TOKEN, CA_PEM, &err);
    assert_non_null(e->a);
    assert_int_equal(auth_authenticate(e->a, "bulk-token-0001", &u), 0);
    auth_user_clear(&u);
    assert_int_equal(auth_authenticate(e->a, "bulk-token-1099", &u), 0);
    assert_string_equal(u.name, "system:serviceaccount:m:bulk");
    auth_user_clear(&u);
    assert_int_equal(auth_authenticate(e->a, "bulk-token-0100", &u), ST_EAUTH);
    assert_int_equal(auth_authenticate(e->a, "bulk-token-1100", &u), ST_EAUTH);
}

/* ---- RBAC ------------------------------------------------------------------------ */

static void
test_role_in_namespace(void **state)
{
    struct env *e = *state;
    struct auth_user alice = user("alice", "system:authenticated", NULL);

    put(e, RBAC "roles",
        "{\"metadata\":{\"name\":\"svc-reader\",\"namespace\":\"a\"},\"rules\":["
        "{\"apiGroups\":[\"\"],\"resources\":[\"services\"],\"verbs\":[\"get\",\"list\"]}]}");
    assert_false(can(e, &alice, "get", "", "services", NULL, "a", "web"));
    put(e, RBAC "rolebindings",
        "{\"metadata\":{\"name\":\"alice-reads\",\"namespace\":\"a\"},"
        "\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"Role\","
        "\"name\":\"svc-reader\"},\"subjects\":[{\"kind\":\"User\",\"name\":\"alice\"}]}");
    assert_true(can(e, &alice, "get", "", "services", NULL, "a", "web"));
    assert_true(can(e, &alice, "list", "", "services", NULL, "a", NULL));
    assert_false(can(e, &alice, "create", "", "services", NULL, "a", NULL));
    assert_false(can(e, &alice, "watch", "", "services", NULL, "a", NULL));
    assert_false(can(e, &alice, "get", "", "services", NULL, "b", "web"));
    assert_false(can(e, &alice, "list", "", "services", NULL, "", NULL));
    assert_false(can(e, &alice, "get", "", "secrets", NULL, "a", "web"));
    assert_false(can(e, &alice, "get", "apps", "services", NULL, "a", "web"));
    assert_false(can(e, &alice, "get", "", "services", "status", "a", "web"));

    /* Another user, and a RoleBinding to a Role of another namespace, get nothing. */
    struct auth_user bob = user("bob", "system:authenticated", NULL);
    assert_false(can(e, &bob, "get", "", "services", NULL, "a", "web"));
    put(e, RBAC "rolebindings",
        "{\"metadata\":{\"name\":\"bob-reads\",\"namespace\":\"b\"},"
        "\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"Role\","
        "\"name\":\"svc-reader\"},\"subjects\":[{\"kind\":\"User\",\"name\":\"bob\"}]}");
    assert_false(can(e, &bob, "get", "", "services", NULL, "b", "web"));
    assert_false(can(e, &bob, "get", "", "services", NULL, "a", "web"));

    /* Changes are followed: editing the Role and deleting the binding. */
    put(e, RBAC "roles",
        "{\"metadata\":{\"name\":\"svc-reader\",\"namespace\":\"a\"},\"rules\":["
        "{\"apiGroups\":[\"\"],\"resources\":[\"services\"],\"verbs\":[\"create\"]}]}");
    assert_false(can(e, &alice, "get", "", "services", NULL, "a", "web"));
    assert_true(can(e, &alice, "create", "", "services", NULL, "a", NULL));
    del(e, RBAC "rolebindings", "a", "alice-reads");
    assert_false(can(e, &alice, "create", "", "services", NULL, "a", NULL));
    auth_user_clear(&alice);
    auth_user_clear(&bob);
}

static void
test_cluster_role_scopes(void **state)
{
    struct env *e = *state;
    struct auth_user bob = user("bob", NULL);
    struct auth_user carol = user("carol", NULL);

    put(e, RBAC "clusterroles", "{\"metadata\":{\"name\":\"pod-reader\"},\"rules\":["
                               "{\"apiGroups\":[\"\"],\"resources\":[\"pods\"],"
                               "\"verbs\":[\"get\"]},"
                               "{\"apiGroups\":[\"\"],\"resources\":[\"namespaces\"],"
                               "\"verbs\":[\"list\"]}]}");
    /* Through a RoleBinding: limited to the binding's namespace. */
    put(e, RBAC "rolebindings",
        "{\"metadata\":{\"name\":\"bob-pods\",\"namespace\":\"a\"},"
        "\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\","
        "\"name\":\"pod-reader\"},\"subjects\":[{\"kind\":\"User\",\"name\":\"bob\"}]}");
    assert_true(can(e, &bob, "get", "", "pods", NULL, "a", "p"));
    assert_false(can(e, &bob, "get", "", "pods", NULL, "b", "p"));
    assert_false(can(e, &bob, "get", "", "pods", NULL, "", "p"));
    assert_false(can(e, &bob, "list", "", "namespaces", NULL, "", NULL));
    /* Through a ClusterRoleBinding: everywhere, cluster scope included. */
    put(e, RBAC "clusterrolebindings",
        "{\"metadata\":{\"name\":\"carol-pods\"},"
        "\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\","
        "\"name\":\"pod-reader\"},\"subjects\":[{\"kind\":\"User\",\"name\":\"carol\"}]}");
    assert_true(can(e, &carol, "get", "", "pods", NULL, "a", "p"));
    assert_true(can(e, &carol, "get", "", "pods", NULL, "zzz", "p"));
    assert_true(can(e, &carol, "get", "", "pods", NULL, "", "p"));
    assert_true(can(e, &carol, "list", "", "namespaces", NULL, "", NULL));
    assert_false(can(e, &carol, "delete", "", "pods", NULL, "a", "p"));
    /* A ClusterRoleBinding to a Role (invalid) grants nothing. */
    put(e, RBAC "roles", "{\"metadata\":{\"name\":\"all\",\"namespace\":\"a\"},\"rules\":["
                        "{\"apiGroups\":[\"*\"],\"resources\":[\"*\"],\"verbs\":[\"*\"]}]}");
    put(e, RBAC "clusterrolebindings",
        "{\"metadata\":{\"name\":\"bob-role\"},"
        "\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"Role\","
        "\"name\":\"all\"},\"subjects\":[{\"kind\":\"User\",\"name\":\"bob\"}]}");
    assert_false(can(e, &bob, "delete", "", "pods", NULL, "a", "p"));
    /* Deleting the ClusterRole removes what its bindings granted. */
    del(e, RBAC "clusterroles", "", "pod-reader");
    assert_false(can(e, &carol, "get", "", "pods", NULL, "a", "p"));
    assert_false(can(e, &bob, "get", "", "pods", NULL, "a", "p"));
    auth_user_clear(&bob);
    auth_user_clear(&carol);
}

static void
bind_user_to_rules(struct env *e, const char *user_name, const char *rules)
{
    char *role = st_xasprintf("{\"metadata\":{\"name\":\"r-%s\"},\"rules\":%s}", user_name, rules);
    char *b = st_xasprintf("{\"metadata\":{\"name\":\"b-%s\"},\"roleRef\":{\"apiGroup\":"
                           "\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\",\"name\":"
                           "\"r-%s\"},\"subjects\":[{\"kind\":\"User\",\"name\":\"%s\"}]}",
                           user_name, user_name, user_name);
    put(e, RBAC "clusterroles", role);
    put(e, RBAC "clusterrolebindings", b);
    free(role);
    free(b);
}

static void
test_resource_names(void **state)
{
    struct env *e = *state;
    struct auth_user u = user("dave", NULL);

    bind_user_to_rules(e, "dave",
                       "[{\"apiGroups\":[\"\"],\"resources\":[\"configmaps\"],"
                       "\"resourceNames\":[\"cfg\"],\"verbs\":[\"get\",\"list\",\"create\","
                       "\"update\",\"watch\"]}]");
    assert_true(can(e, &u, "get", "", "configmaps", NULL, "a", "cfg"));
    assert_true(can(e, &u, "update", "", "configmaps", NULL, "a", "cfg"));
    assert_false(can(e, &u, "get", "", "configmaps", NULL, "a", "other"));
    /* Requests that name no object are not granted by a rule with resourceNames. */
    assert_false(can(e, &u, "list", "", "configmaps", NULL, "a", NULL));
    assert_false(can(e, &u, "create", "", "configmaps", NULL, "a", ""));
    /* A list or watch the API layer narrowed to one name (fieldSelector) is. */
    assert_true(can(e, &u, "watch", "", "configmaps", NULL, "a", "cfg"));
    auth_user_clear(&u);
}

static void
test_wildcards(void **state)
{
    struct env *e = *state;
    struct auth_user u = user("erin", NULL);
    struct auth_user v = user("frank", NULL);

    bind_user_to_rules(e, "erin", "[{\"apiGroups\":[\"*\"],\"resources\":[\"*\"],"
                                  "\"verbs\":[\"get\"]}]");
    assert_true(can(e, &u, "get", "", "secrets", NULL, "a", "s"));
    assert_true(can(e, &u, "get", "apps", "deployments", NULL, "", "d"));
    assert_true(can(e, &u, "get", "apps", "deployments", "status", "a", "d"));
    assert_false(can(e, &u, "delete", "", "secrets", NULL, "a", "s"));
    assert_false(can_url(e, &u, "get", "/metrics"));

    bind_user_to_rules(e, "frank", "[{\"apiGroups\":[\"split.smi-spec.io\"],"
                                   "\"resources\":[\"trafficsplits\"],\"verbs\":[\"*\"]}]");
    assert_true(can(e, &v, "delete", "split.smi-spec.io", "trafficsplits", NULL, "a", "t"));
    assert_true(can(e, &v, "deletecollection", "split.smi-spec.io", "trafficsplits", NULL, "a",
                    NULL));
    assert_false(can(e, &v, "get", "", "trafficsplits", NULL, "a", "t"));
    assert_false(can(e, &v, "get", "split.smi-spec.io", "trafficsplits", "status", "a", "t"));
    auth_user_clear(&u);
    auth_user_clear(&v);
}

static void
test_subresources(void **state)
{
    struct env *e = *state;
    struct auth_user u = user("gina", NULL);

    bind_user_to_rules(e, "gina",
                       "[{\"apiGroups\":[\"apps\"],\"resources\":[\"deployments/status\"],"
                       "\"verbs\":[\"update\"]},"
                       "{\"apiGroups\":[\"apps\"],\"resources\":[\"*/scale\"],"
                       "\"verbs\":[\"patch\"]}]");
    assert_true(can(e, &u, "update", "apps", "deployments", "status", "a", "d"));
    assert_false(can(e, &u, "update", "apps", "deployments", NULL, "a", "d"));
    assert_false(can(e, &u, "update", "apps", "deployments", "scale", "a", "d"));
    assert_true(can(e, &u, "patch", "apps", "deployments", "scale", "a", "d"));
    assert_true(can(e, &u, "patch", "apps", "statefulsets", "scale", "a", "d"));
    assert_false(can(e, &u, "patch", "apps", "statefulsets", NULL, "a", "d"));
    assert_false(can(e, &u, "patch", "apps", "statefulsets", "scalez", "a", "d"));
    auth_user_clear(&u);
}

static void
test_non_resource_urls(void **state)
{
    struct env *e = *state;
    struct auth_user u = user("hank", "system:authenticated", NULL);
    struct auth_user anon = user("system:anonymous", NULL);

    /* The bootstrap system:discovery role, via group system:authenticated. */
    assert_true(can_url(e, &u, "get", "/version"));
    assert_true(can_url(e, &u, "get", "/apis/apps/v1"));
    assert_true(can_url(e, &u, "get", "/api"));
    assert_false(can_url(e, &u, "post", "/version"));
    assert_false(can_url(e, &u, "get", "/metrics"));
    assert_false(can_url(e, &anon, "get", "/version"));

    bind_user_to_rules(e, "hank", "[{\"nonResourceURLs\":[\"/metrics\",\"/debug/*\"],"
                                  "\"verbs\":[\"get\"]}]");
    assert_true(can_url(e, &u, "get", "/metrics"));
    assert_false(can_url(e, &u, "get", "/metrics/extra"));
    assert_true(can_url(e, &u, "get", "/debug/pprof"));
    assert_true(can_url(e, &u, "get", "/debug/"));
    assert_false(can_url(e, &u, "get", "/debug"));
    /* A nonResourceURLs rule never grants a resource request, and vice versa. */
    assert_false(can(e, &u, "get", "", "metrics", NULL, "", NULL));

    /* Granted through a RoleBinding, non-resource URLs do not apply. */
    struct auth_user ivy = user("ivy", NULL);
    put(e, RBAC "clusterroles", "{\"metadata\":{\"name\":\"health\"},\"rules\":["
                               "{\"nonResourceURLs\":[\"/healthz\"],\"verbs\":[\"get\"]}]}");
    put(e, RBAC "rolebindings",
        "{\"metadata\":{\"name\":\"ivy-health\",\"namespace\":\"a\"},"
        "\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\","
        "\"name\":\"health\"},\"subjects\":[{\"kind\":\"User\",\"name\":\"ivy\"}]}");
    assert_false(can_url(e, &ivy, "get", "/healthz"));
    auth_user_clear(&u);
    auth_user_clear(&anon);
    auth_user_clear(&ivy);
}

static void
test_subjects(void **state)
{
    struct env *e = *state;
    struct auth_user dev = user("jack", "devs", "system:authenticated", NULL);
    struct auth_user other = user("kim", "ops", NULL);
    struct auth_user sa = user("system:serviceaccount:a:mirror", "system:serviceaccounts",
                               "system:serviceaccounts:a", NULL);
    struct auth_user sa_b = user("system:serviceaccount:b:mirror", "system:serviceaccounts",
                                 "system:serviceaccounts:b", NULL);
    struct auth_user sa_b2 = user("system:serviceaccount:b:other", "system:serviceaccounts",
                                  "system:serviceaccounts:b", NULL);

    put(e, RBAC "clusterroles", "{\"metadata\":{\"name\":\"svc-read\"},\"rules\":["
                               "{\"apiGroups\":[\"\"],\"resources\":[\"services\"],"
                               "\"verbs\":[\"get\"]}]}");
    put(e, RBAC "rolebindings",
        "{\"metadata\":{\"name\":\"groups\",\"namespace\":\"a\"},"
        "\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\","
        "\"name\":\"svc-read\"},\"subjects\":[{\"kind\":\"Group\",\"name\":\"devs\"}]}");
    assert_true(can(e, &dev, "get", "", "services", NULL, "a", "s"));
    assert_false(can(e, &other, "get", "", "services", NULL, "a", "s"));
    assert_false(can(e, &sa, "get", "", "services", NULL, "a", "s"));

    /* A ServiceAccount subject without a namespace means the binding's namespace. */
    put(e, RBAC "rolebindings",
        "{\"metadata\":{\"name\":\"sa\",\"namespace\":\"a\"},"
        "\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\","
        "\"name\":\"svc-read\"},\"subjects\":[{\"kind\":\"ServiceAccount\",\"name\":\"mirror\"}]}");
    assert_true(can(e, &sa, "get", "", "services", NULL, "a", "s"));
    /* ...and in a ClusterRoleBinding it matches nobody. */
    put(e, RBAC "clusterrolebindings",
        "{\"metadata\":{\"name\":\"sa-nons\"},"
        "\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\","
        "\"name\":\"svc-read\"},\"subjects\":[{\"kind\":\"ServiceAccount\",\"name\":\"mirror\"}]}");
    assert_false(can(e, &sa_b, "get", "", "services", NULL, "b", "s"));
    assert_false(can(e, &sa, "get", "", "services", NULL, "b", "s"));
    /* With a namespace it matches that account only, everywhere. */
    put(e, RBAC "clusterrolebindings",
        "{\"metadata\":{\"name\":\"sa-b\"},"
        "\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\","
        "\"name\":\"svc-read\"},\"subjects\":[{\"kind\":\"ServiceAccount\",\"name\":\"mirror\","
        "\"namespace\":\"b\"}]}");
    assert_true(can(e, &sa_b, "get", "", "services", NULL, "z", "s"));
    assert_false(can(e, &sa, "get", "", "services", NULL, "z", "s"));
    /* Group system:serviceaccounts:<ns> covers every account of the namespace. */
    put(e, RBAC "rolebindings",
        "{\"metadata\":{\"name\":\"all-sa\",\"namespace\":\"c\"},"
        "\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\","
        "\"name\":\"svc-read\"},\"subjects\":[{\"kind\":\"Group\","
        "\"name\":\"system:serviceaccounts:a\"}]}");
    assert_true(can(e, &sa, "get", "", "services", NULL, "c", "s"));
    assert_false(can(e, &sa_b2, "get", "", "services", NULL, "c", "s"));
    auth_user_clear(&sa_b2);
    auth_user_clear(&dev);
    auth_user_clear(&other);
    auth_user_clear(&sa);
    auth_user_clear(&sa_b);
}

static void
test_masters_and_rollback(void **state)
{
    struct env *e = *state;
    struct auth_user root = user("root", "system:masters", NULL);
    struct auth_user u = user("lena", NULL);

    assert_true(can(e, &root, "delete", "", "namespaces", NULL, "", "kube-system"));
    assert_true(can(e, &root, "escalate", "rbac.authorization.k8s.io", "clusterroles", NULL, "",
                    NULL));
    assert_true(can_url(e, &root, "get", "/anything"));
    /* Even without the bootstrap binding. */
    del(e, RBAC "clusterrolebindings", "", "cluster-admin");
    assert_true(can(e, &root, "get", "", "secrets", NULL, "a", "s"));

    /* A rolled-back batch grants nothing. */
    assert_int_equal(store_begin(e->st, NULL), 0);
    bind_user_to_rules(e, "lena", "[{\"apiGroups\":[\"*\"],\"resources\":[\"*\"],"
                                  "\"verbs\":[\"*\"]}]");
    assert_int_equal(store_rollback(e->st), 0);
    assert_false(can(e, &u, "get", "", "secrets", NULL, "a", "s"));
    /* A committed one does. */
    assert_int_equal(store_begin(e->st, NULL), 0);
    bind_user_to_rules(e, "lena", "[{\"apiGroups\":[\"*\"],\"resources\":[\"*\"],"
                                  "\"verbs\":[\"*\"]}]");
    assert_int_equal(store_commit(e->st, NULL), 0);
    assert_true(can(e, &u, "get", "", "secrets", NULL, "a", "s"));
    /* Malformed attributes are refused, not crashed on. */
    assert_false(auth_authorize(e->a, &u, &(struct auth_attrs){NULL}));
    assert_false(auth_authorize(e->a, NULL, &(struct auth_attrs){"get"}));
    auth_user_clear(&root);
    auth_user_clear(&u);
}

static size_t
count(struct env *e, const char *res)
{
    struct store_list_result r = {0};

    assert_int_equal(store_list(e->st, res, NULL, NULL, &r, NULL), 0);
    size_t n = json_array_size(r.items);
    store_list_result_clear(&r);
    return n;
}

static void
test_bootstrap(void **state)
{
    struct env *e = *state;
    struct st_err err = {0};
    json_t *o = NULL;
    static const char *const roles[] = {"cluster-admin", "system:discovery", "system:basic-user"};

    for (size_t i = 0; i < ST_ARRAY_LEN(roles); i++) {
        assert_int_equal(store_get(e->st, RBAC "clusterroles", "", roles[i], &o, NULL), 0);
        assert_string_equal(json_string_value(json_object_get(o, "kind")), "ClusterRole");
        assert_non_null(json_string_value(json_object_get(json_object_get(o, "metadata"), "uid")));
        json_decref(o);
        assert_int_equal(store_get(e->st, RBAC "clusterrolebindings", "", roles[i], &o, NULL), 0);
        json_decref(o);
    }
    assert_int_equal(count(e, RBAC "clusterroles"), 3);
    assert_int_equal(count(e, RBAC "clusterrolebindings"), 3);

    /* A second start creates nothing, and keeps what an admin changed. */
    put(e, RBAC "clusterroles", "{\"metadata\":{\"name\":\"system:discovery\"},\"rules\":[]}");
    uint64_t rv = store_rv(e->st);
    e->a = auth_free(e->a);
    e->a = auth_new(e->st, ADMIN_TOKEN, CA_PEM, &err);
    assert_non_null(e->a);
    assert_int_equal(store_rv(e->st), rv);
    assert_int_equal(count(e, RBAC "clusterroles"), 3);
    assert_int_equal(count(e, RBAC "clusterrolebindings"), 3);
    struct auth_user u = user("mo", "system:authenticated", NULL);
    assert_false(can_url(e, &u, "get", "/version"));
    /* A deleted bootstrap object comes back on the next start. */
    del(e, RBAC "clusterroles", "", "system:discovery");
    e->a = auth_free(e->a);
    e->a = auth_new(e->st, ADMIN_TOKEN, CA_PEM, &err);
    assert_true(can_url(e, &u, "get", "/version"));
    /* system:basic-user lets anyone authenticated ask what they may do. */
    assert_true(can(e, &u, "create", "authorization.k8s.io", "selfsubjectaccessreviews", NULL, "",
                    NULL));
    assert_true(can(e, &u, "create", "authorization.k8s.io", "selfsubjectrulesreviews", NULL, "",
                    NULL));
    assert_false(can(e, &u, "create", "authorization.k8s.io", "subjectaccessreviews", NULL, "",
                     NULL));
    auth_user_clear(&u);
}

static json_t *parse(const char *text);

static int
rbac_write(struct env *e, const struct auth_user *u, const char *res, const char *ns,
           const char *text, struct st_err *err)
{
    json_t *obj = parse(text);
    int rc = auth_check_rbac_write(e->a, u, res, ns, obj, err);

    json_decref(obj);
    return rc;
}

static void
test_escalation(void **state)
{
    struct env *e = *state;
    struct st_err err = {0};
    struct auth_user rita = user("rita", "system:authenticated", NULL);
    struct auth_user root = user("root", "system:masters", NULL);

    put(e, RBAC "roles", "{\"metadata\":{\"name\":\"pods-read\",\"namespace\":\"a\"},"
                        "\"rules\":[{\"apiGroups\":[\"\"],\"resources\":[\"pods\",\"pods/log\"],"
                        "\"verbs\":[\"get\",\"list\"]},{\"apiGroups\":[\"rbac.authorization.k8s.io\"],"
                        "\"resources\":[\"roles\",\"rolebindings\"],\"verbs\":[\"create\"]}]}");
    put(e, RBAC "rolebindings",
        "{\"metadata\":{\"name\":\"rita\",\"namespace\":\"a\"},"
        "\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"Role\","
        "\"name\":\"pods-read\"},\"subjects\":[{\"kind\":\"User\",\"name\":\"rita\"}]}");

    /* Granting what one holds is fine; more is not. */
    assert_int_equal(rbac_write(e, &rita, "roles", "a",
                                "{\"metadata\":{\"name\":\"r1\"},\"rules\":[{\"apiGroups\":[\"\"],"
                                "\"resources\":[\"pods\"],\"verbs\":[\"get\"]}]}",
                                &err),
                     0);
    assert_int_equal(rbac_write(e, &rita, "roles", "a",
                                "{\"metadata\":{\"name\":\"r1\"},\"rules\":[{\"apiGroups\":[\"\"],"
                                "\"resources\":[\"pods/log\"],\"resourceNames\":[\"p\"],"
                                "\"verbs\":[\"list\"]}]}",
                                &err),
                     0);
    assert_int_equal(rbac_write(e, &rita, "roles", "a",
                                "{\"metadata\":{\"name\":\"r1\"},\"rules\":[{\"apiGroups\":[\"\"],"
                                "\"resources\":[\"pods\"],\"verbs\":[\"get\",\"delete\"]}]}",
                                &err),
                     ST_EAUTH);
    assert_non_null(strstr(err.msg, "delete"));
    assert_non_null(strstr(err.msg, "not currently held"));
    assert_int_equal(rbac_write(e, &rita, "roles", "b",
                                "{\"metadata\":{\"name\":\"r1\"},\"rules\":[{\"apiGroups\":[\"\"],"
                                "\"resources\":[\"pods\"],\"verbs\":[\"get\"]}]}",
                                &err),
                     ST_EAUTH);
    assert_int_equal(rbac_write(e, &rita, "clusterroles", "",
                                "{\"metadata\":{\"name\":\"c1\"},\"rules\":[{\"apiGroups\":[\"\"],"
                                "\"resources\":[\"pods\"],\"verbs\":[\"get\"]}]}",
                                &err),
                     ST_EAUTH);
    /* A wildcard is covered only by a wildcard. */
    assert_int_equal(rbac_write(e, &rita, "roles", "a",
                                "{\"metadata\":{\"name\":\"r1\"},\"rules\":[{\"apiGroups\":[\"\"],"
                                "\"resources\":[\"*\"],\"verbs\":[\"get\"]}]}",
                                &err),
                     ST_EAUTH);
    assert_int_equal(rbac_write(e, &rita, "roles", "a",
                                "{\"metadata\":{\"name\":\"r1\"},\"rules\":[{\"apiGroups\":[\"\"],"
                                "\"resources\":[\"pods\"],\"verbs\":[\"*\"]}]}",
                                &err),
                     ST_EAUTH);

    /* Bindings: to a role whose permissions one holds, or with "bind" on it. */
    const char *bind_own = "{\"metadata\":{\"name\":\"b1\"},\"roleRef\":{\"apiGroup\":"
                           "\"rbac.authorization.k8s.io\",\"kind\":\"Role\",\"name\":\"pods-read\"},"
                           "\"subjects\":[{\"kind\":\"User\",\"name\":\"sam\"}]}";
    const char *bind_admin = "{\"metadata\":{\"name\":\"b2\"},\"roleRef\":{\"apiGroup\":"
                             "\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\",\"name\":"
                             "\"cluster-admin\"},\"subjects\":[{\"kind\":\"User\",\"name\":\"sam\"}]}";
    const char *bind_missing = "{\"metadata\":{\"name\":\"b3\"},\"roleRef\":{\"apiGroup\":"
                               "\"rbac.authorization.k8s.io\",\"kind\":\"Role\",\"name\":\"nope\"},"
                               "\"subjects\":[{\"kind\":\"User\",\"name\":\"sam\"}]}";
    assert_int_equal(rbac_write(e, &rita, "rolebindings", "a", bind_own, &err), 0);
    assert_int_equal(rbac_write(e, &rita, "rolebindings", "a", bind_admin, &err), ST_EAUTH);
    assert_int_equal(rbac_write(e, &rita, "clusterrolebindings", "", bind_admin, &err), ST_EAUTH);
    assert_int_equal(rbac_write(e, &rita, "rolebindings", "a", bind_missing, &err), ST_EAUTH);
    assert_int_equal(rbac_write(e, &rita, "rolebindings", "a", "{\"roleRef\":{\"kind\":\"X\"}}",
                                &err),
                     ST_EINVAL);
    put(e, RBAC "roles", "{\"metadata\":{\"name\":\"binder\",\"namespace\":\"a\"},"
                        "\"rules\":[{\"apiGroups\":[\"rbac.authorization.k8s.io\"],"
                        "\"resources\":[\"clusterroles\"],\"resourceNames\":[\"cluster-admin\"],"
                        "\"verbs\":[\"bind\"]},{\"apiGroups\":[\"rbac.authorization.k8s.io\"],"
                        "\"resources\":[\"roles\"],\"verbs\":[\"escalate\"]}]}");
    put(e, RBAC "rolebindings",
        "{\"metadata\":{\"name\":\"rita-binder\",\"namespace\":\"a\"},"
        "\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"Role\","
        "\"name\":\"binder\"},\"subjects\":[{\"kind\":\"User\",\"name\":\"rita\"}]}");
    assert_int_equal(rbac_write(e, &rita, "rolebindings", "a", bind_admin, &err), 0);
    assert_int_equal(rbac_write(e, &rita, "rolebindings", "b", bind_admin, &err), ST_EAUTH);
    assert_int_equal(rbac_write(e, &rita, "clusterrolebindings", "", bind_admin, &err), ST_EAUTH);
    /* "escalate" on roles in a lets her write any Role there. */
    assert_int_equal(rbac_write(e, &rita, "roles", "a",
                                "{\"metadata\":{\"name\":\"r1\"},\"rules\":[{\"apiGroups\":[\"*\"],"
                                "\"resources\":[\"*\"],\"verbs\":[\"*\"]}]}",
                                &err),
                     0);

    /* Masters may do anything; other kinds are not checked. */
    assert_int_equal(rbac_write(e, &root, "clusterrolebindings", "", bind_admin, &err), 0);
    assert_int_equal(rbac_write(e, &rita, "services", "a", "{}", &err), 0);
    auth_user_clear(&rita);
    auth_user_clear(&root);
}

/* ---- review bodies ------------------------------------------------------------------ */

static json_t *
parse(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);

    if (j == NULL)
        fail_msg("bad test JSON: %s", jerr.text);
    return j;
}

static void
test_token_review(void **state)
{
    struct env *e = *state;

    put_sa(e, "linkerd", "identity", "uid-id");
    char *tok = make_token(e, "linkerd", "identity-token", "identity");
    json_t *req = json_pack("{s:s,s:s,s:{s:s,s:[s]}}", "apiVersion", "authentication.k8s.io/v1",
                            "kind", "TokenReview", "spec", "token", tok, "audiences", "strait");
    json_t *resp = auth_token_review(e->a, req);
    json_t *st = json_object_get(resp, "status");

    assert_string_equal(json_string_value(json_object_get(resp, "kind")), "TokenReview");
    assert_string_equal(json_string_value(json_object_get(resp, "apiVersion")),
                        "authentication.k8s.io/v1");
    assert_true(json_is_true(json_object_get(st, "authenticated")));
    json_t *usr = json_object_get(st, "user");
    assert_string_equal(json_string_value(json_object_get(usr, "username")),
                        "system:serviceaccount:linkerd:identity");
    assert_string_equal(json_string_value(json_object_get(usr, "uid")), "uid-id");
    assert_int_equal(json_array_size(json_object_get(usr, "groups")), 3);
    assert_string_equal(json_string_value(json_array_get(json_object_get(usr, "groups"), 1)),
                        "system:serviceaccounts:linkerd");
    assert_string_equal(json_string_value(json_array_get(json_object_get(st, "audiences"), 0)),
                        "strait");
    assert_null(json_object_get(st, "error"));
    /* The token is not echoed back. */
    char *text = json_dumps(resp, 0);
    assert_null(strstr(text, tok));
    free(text);
    json_decref(resp);

    /* An unknown token. */
    json_object_set_new(json_object_get(req, "spec"), "token", json_string("nope"));
    resp = auth_token_review(e->a, req);
    st = json_object_get(resp, "status");
    assert_false(json_is_true(json_object_get(st, "authenticated")));
    assert_non_null(json_string_value(json_object_get(st, "error")));
    assert_int_equal(json_object_size(json_object_get(st, "user")), 0);
    json_decref(resp);
    /* No token, or no body at all. */
    json_object_del(json_object_get(req, "spec"), "token");
    resp = auth_token_review(e->a, req);
    assert_false(json_is_true(json_object_get(json_object_get(resp, "status"), "authenticated")));
    json_decref(resp);
    resp = auth_token_review(e->a, NULL);
    assert_false(json_is_true(json_object_get(json_object_get(resp, "status"), "authenticated")));
    json_decref(resp);
    json_decref(req);
    free(tok);
}

/* The exact body `kubectl auth can-i create services -n x` sends. */
static const char kubectl_ssar[] =
    "{\"kind\":\"SelfSubjectAccessReview\",\"apiVersion\":\"authorization.k8s.io/v1\","
    "\"metadata\":{\"creationTimestamp\":null},\"spec\":{\"resourceAttributes\":"
    "{\"namespace\":\"x\",\"verb\":\"create\",\"resource\":\"services\"}},"
    "\"status\":{\"allowed\":false}}";

static void
test_self_subject_access_review(void **state)
{
    struct env *e = *state;
    struct st_err err = {0};
    struct auth_user nina = user("nina", "system:authenticated", NULL);
    json_t *req = parse(kubectl_ssar), *resp;

    resp = auth_access_review(e->a, &nina, req, &err);
    assert_non_null(resp);
    assert_string_equal(json_string_value(json_object_get(resp, "kind")),
                        "SelfSubjectAccessReview");
    assert_false(json_is_true(json_object_get(json_object_get(resp, "status"), "allowed")));
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(resp, "spec"), "resourceAttributes"),
                            "verb")),
                        "create");
    json_decref(resp);

    put(e, RBAC "roles", "{\"metadata\":{\"name\":\"svc-admin\",\"namespace\":\"x\"},\"rules\":["
                        "{\"apiGroups\":[\"\"],\"resources\":[\"services\"],"
                        "\"verbs\":[\"create\"]}]}");
    put(e, RBAC "rolebindings",
        "{\"metadata\":{\"name\":\"nina\",\"namespace\":\"x\"},"
        "\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"Role\","
        "\"name\":\"svc-admin\"},\"subjects\":[{\"kind\":\"User\",\"name\":\"nina\"}]}");
    resp = auth_access_review(e->a, &nina, req, &err);
    json_t *st = json_object_get(resp, "status");
    assert_true(json_is_true(json_object_get(st, "allowed")));
    assert_string_equal(json_string_value(json_object_get(st, "reason")),
                        "RBAC: allowed by RoleBinding \"nina/x\" of Role \"svc-admin\" to User "
                        "\"nina\"");
    json_decref(resp);
    json_decref(req);

    /* Non-resource attributes: the bootstrap discovery role. */
    req = parse("{\"kind\":\"SelfSubjectAccessReview\",\"apiVersion\":\"authorization.k8s.io/v1\","
                "\"spec\":{\"nonResourceAttributes\":{\"path\":\"/version\",\"verb\":\"get\"}}}");
    resp = auth_access_review(e->a, &nina, req, &err);
    assert_true(json_is_true(json_object_get(json_object_get(resp, "status"), "allowed")));
    json_decref(resp);
    json_decref(req);

    /* Invalid bodies. */
    static const char *const bad[] = {
        "{\"kind\":\"SelfSubjectAccessReview\",\"spec\":{}}",
        "{\"kind\":\"SelfSubjectAccessReview\"}",
        "{\"kind\":\"SelfSubjectAccessReview\",\"spec\":{\"resourceAttributes\":{},"
        "\"nonResourceAttributes\":{}}}",
        "{\"kind\":\"SelfSubjectAccessReview\",\"spec\":{\"resourceAttributes\":"
        "{\"verb\":7}}}",
        "{\"kind\":\"SelfSubjectAccessReview\",\"spec\":{\"resourceAttributes\":[]}}",
        "{\"kind\":\"Pod\",\"spec\":{\"resourceAttributes\":{}}}",
        "[]",
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(bad); i++) {
        req = parse(bad[i]);
        st_err_clear(&err);
        assert_null(auth_access_review(e->a, &nina, req, &err));
        assert_int_equal(err.code, ST_EINVAL);
        assert_true(err.msg[0] != '\0');
        json_decref(req);
    }
    /* A self review without an authenticated requester is refused. */
    req = parse(kubectl_ssar);
    assert_null(auth_access_review(e->a, NULL, req, &err));
    json_decref(req);
    auth_user_clear(&nina);
}

static void
test_subject_access_review(void **state)
{
    struct env *e = *state;
    struct st_err err = {0};
    struct auth_user admin = user("admin", "system:masters", NULL);
    json_t *req, *resp;

    put(e, RBAC "clusterroles", "{\"metadata\":{\"name\":\"reader\"},\"rules\":["
                               "{\"apiGroups\":[\"\"],\"resources\":[\"endpoints\"],"
                               "\"verbs\":[\"watch\"]}]}");
    put(e, RBAC "clusterrolebindings",
        "{\"metadata\":{\"name\":\"readers\"},"
        "\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\","
        "\"name\":\"reader\"},\"subjects\":[{\"kind\":\"Group\",\"name\":\"readers\"}]}");

    /* The subject is the one in spec, not the requester (who may do everything). */
    req = parse("{\"kind\":\"SubjectAccessReview\",\"apiVersion\":\"authorization.k8s.io/v1\","
                "\"spec\":{\"user\":\"olga\",\"groups\":[\"readers\"],\"resourceAttributes\":"
                "{\"namespace\":\"q\",\"verb\":\"watch\",\"resource\":\"endpoints\"}}}");
    resp = auth_access_review(e->a, &admin, req, &err);
    json_t *st = json_object_get(resp, "status");
    assert_true(json_is_true(json_object_get(st, "allowed")));
    assert_string_equal(json_string_value(json_object_get(st, "reason")),
                        "RBAC: allowed by ClusterRoleBinding \"readers\" of ClusterRole "
                        "\"reader\" to Group \"readers\"");
    json_decref(resp);
    json_object_set_new(json_object_get(req, "spec"), "groups", json_array());
    resp = auth_access_review(e->a, &admin, req, &err);
    assert_false(json_is_true(json_object_get(json_object_get(resp, "status"), "allowed")));
    json_decref(resp);
    /* Neither user nor groups. */
    json_object_del(json_object_get(req, "spec"), "user");
    assert_null(auth_access_review(e->a, &admin, req, &err));
    assert_int_equal(err.code, ST_EINVAL);
    json_decref(req);

    /* LocalSubjectAccessReview: the namespace comes from metadata and must agree. */
    req = parse("{\"kind\":\"LocalSubjectAccessReview\",\"metadata\":{\"namespace\":\"q\"},"
                "\"spec\":{\"groups\":[\"readers\"],\"resourceAttributes\":"
                "{\"verb\":\"watch\",\"resource\":\"endpoints\"}}}");
    resp = auth_access_review(e->a, &admin, req, &err);
    assert_non_null(resp);
    assert_true(json_is_true(json_object_get(json_object_get(resp, "status"), "allowed")));
    json_decref(resp);
    json_object_set_new(json_object_get(json_object_get(req, "spec"), "resourceAttributes"),
                        "namespace", json_string("other"));
    assert_null(auth_access_review(e->a, &admin, req, &err));
    json_decref(req);
    auth_user_clear(&admin);
}

/* The kind from the URL wins over the body's: a self review is about the requester. */
static void
test_access_review_kind_from_url(void **state)
{
    struct env *e = *state;
    struct st_err err = {0};
    struct auth_user quinn = user("quinn", "system:authenticated", NULL);
    json_t *req = parse("{\"kind\":\"SubjectAccessReview\",\"spec\":{\"user\":\"admin\","
                        "\"groups\":[\"system:masters\"],\"resourceAttributes\":"
                        "{\"verb\":\"get\",\"resource\":\"secrets\",\"namespace\":\"a\"}}}");
    json_t *resp;

    resp = auth_access_review_as(e->a, &quinn, "SelfSubjectAccessReview", NULL, req, &err);
    assert_non_null(resp);
    assert_string_equal(json_string_value(json_object_get(resp, "kind")),
                        "SelfSubjectAccessReview");
    assert_false(json_is_true(json_object_get(json_object_get(resp, "status"), "allowed")));
    json_decref(resp);
    resp = auth_access_review_as(e->a, &quinn, "SubjectAccessReview", NULL, req, &err);
    assert_true(json_is_true(json_object_get(json_object_get(resp, "status"), "allowed")));
    json_decref(resp);
    /* Local: the URL's namespace; a body naming another one is refused. */
    resp = auth_access_review_as(e->a, &quinn, "LocalSubjectAccessReview", "a", req, &err);
    assert_non_null(resp);
    assert_true(json_is_true(json_object_get(json_object_get(resp, "status"), "allowed")));
    json_decref(resp);
    assert_null(auth_access_review_as(e->a, &quinn, "LocalSubjectAccessReview", "b", req, &err));
    assert_int_equal(err.code, ST_EINVAL);
    json_object_set_new(req, "metadata", json_pack("{s:s}", "namespace", "c"));
    assert_null(auth_access_review_as(e->a, &quinn, "LocalSubjectAccessReview", "a", req, &err));
    assert_null(auth_access_review_as(e->a, &quinn, "TokenReview", NULL, req, &err));
    json_decref(req);
    auth_user_clear(&quinn);
}

static void
test_rules_review(void **state)
{
    struct env *e = *state;
    struct st_err err = {0};
    struct auth_user u = user("pat", "system:authenticated", NULL);
    json_t *req = parse("{\"kind\":\"SelfSubjectRulesReview\",\"apiVersion\":"
                        "\"authorization.k8s.io/v1\",\"metadata\":{\"creationTimestamp\":null},"
                        "\"spec\":{\"namespace\":\"a\"},\"status\":{\"resourceRules\":null,"
                        "\"nonResourceRules\":null,\"incomplete\":false}}");

    put(e, RBAC "roles", "{\"metadata\":{\"name\":\"cm\",\"namespace\":\"a\"},\"rules\":["
                        "{\"apiGroups\":[\"\"],\"resources\":[\"configmaps\"],"
                        "\"resourceNames\":[\"c\"],\"verbs\":[\"get\"]}]}");
    put(e, RBAC "rolebindings",
        "{\"metadata\":{\"name\":\"pat\",\"namespace\":\"a\"},"
        "\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"Role\","
        "\"name\":\"cm\"},\"subjects\":[{\"kind\":\"User\",\"name\":\"pat\"}]}");
    json_t *resp = auth_rules_review(e->a, &u, req, &err);
    assert_non_null(resp);
    json_t *st = json_object_get(resp, "status");
    json_t *rr = json_object_get(st, "resourceRules");
    json_t *nr = json_object_get(st, "nonResourceRules");
    /* system:basic-user (2 rules) and the Role. */
    assert_int_equal(json_array_size(rr), 3);
    bool found = false;
    size_t i;
    json_t *r;
    json_array_foreach (rr, i, r) {
        if (json_object_get(r, "resourceNames") != NULL) {
            found = true;
            assert_string_equal(json_string_value(json_array_get(json_object_get(r, "resources"),
                                                                 0)),
                                "configmaps");
        }
    }
    assert_true(found);
    assert_int_equal(json_array_size(nr), 1); /* system:discovery */
    assert_false(json_is_true(json_object_get(st, "incomplete")));
    json_decref(resp);

    /* Another namespace: the Role's rule is gone. */
    json_object_set_new(json_object_get(req, "spec"), "namespace", json_string("b"));
    resp = auth_rules_review(e->a, &u, req, &err);
    assert_int_equal(json_array_size(json_object_get(json_object_get(resp, "status"),
                                                     "resourceRules")),
                     2);
    json_decref(resp);
    json_object_set_new(req, "spec", json_string("x"));
    assert_null(auth_rules_review(e->a, &u, req, &err));
    json_decref(req);
    auth_user_clear(&u);
}

static void
test_rules_allow_pure(void **state)
{
    json_t *rules = parse("[{\"verbs\":[\"get\"],\"apiGroups\":[\"\"],\"resources\":[\"pods\"]},"
                          "{\"verbs\":[\"get\"],\"nonResourceURLs\":[\"/x*\"]},"
                          "7, {\"verbs\":\"get\"}, {\"verbs\":[1,\"list\"],"
                          "\"apiGroups\":[null,\"\"],\"resources\":[{},\"nodes\"]}]");
    struct auth_attrs pods = {"get", "", "pods", NULL, "a", "p", NULL};
    struct auth_attrs nodes = {"list", NULL, "nodes", "", "", "", NULL};
    struct auth_attrs url = {"get", NULL, NULL, NULL, NULL, NULL, "/xyz"};
    struct auth_attrs nopath = {"get", NULL, NULL, NULL, NULL, NULL, NULL};

    assert_true(auth_rules_allow(rules, &pods));
    assert_true(auth_rules_allow(rules, &nodes));
    assert_true(auth_rules_allow(rules, &url));
    assert_false(auth_rules_allow(rules, &nopath));
    assert_false(auth_rules_allow(NULL, &pods));
    assert_false(auth_rules_allow(rules, NULL));
    json_decref(rules);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_admin_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sa_token_fill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sa_token_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sa_token_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_in_namespace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cluster_role_scopes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resource_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wildcards, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subresources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_resource_urls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subjects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_masters_and_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bootstrap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escalation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_review, setup, teardown),
        cmocka_unit_test_setup_teardown(test_self_subject_access_review, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subject_access_review, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access_review_kind_from_url, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rules_review, setup, teardown),
        cmocka_unit_test(test_rules_allow_pure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
