/*
 * Authentication and authorization for strait-apiserver (see auth.h and
 * docs/apiserver-auth.md).
 *
 * Authentication: the admin token, and service-account tokens kept in Secrets
 * of type kubernetes.io/service-account-token. An index maps the SHA-256 of
 * every such token to the Secrets carrying it, so a request costs one hash
 * lookup and two store reads (the Secret, to confirm it still holds the token,
 * and its ServiceAccount, to confirm it still exists) instead of a scan.
 *
 * Authorization: RBAC evaluated the way Kubernetes' rbac authorizer does it,
 * over an in-memory copy of every Role, ClusterRole, RoleBinding and
 * ClusterRoleBinding, loaded by auth_new and kept current by auth_notify.
 *
 * Everything runs on the apiserver's loop thread; nothing here locks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "auth.h"
#include "selector.h"
#include "store.h"

#define AUTH_RBAC_GROUP "rbac.authorization.k8s.io"
#define AUTH_SA_PREFIX "system:serviceaccount:"
#define AUTH_SA_TOKEN_TYPE "kubernetes.io/service-account-token"
#define AUTH_ANN_SA_NAME "kubernetes.io/service-account.name"
#define AUTH_ANN_SA_UID "kubernetes.io/service-account.uid"
#define AUTH_GROUP_MASTERS "system:masters"
#define AUTH_GROUP_AUTHENTICATED "system:authenticated"
#define AUTH_GROUP_SAS "system:serviceaccounts"

/* Caps on what a peer can hand us. */
#define AUTH_TOKEN_MAX 4096     /* a bearer token, and a decoded data.token */
#define AUTH_FIELD_MAX 1024     /* any one string of a review body */
#define AUTH_GROUPS_MAX 256     /* spec.groups of a SubjectAccessReview */
#define AUTH_TOKEN_BYTES 32     /* entropy of a generated token: 256 bits */
#define AUTH_DIGEST_HEX 65      /* SHA-256 as hex, with its NUL */

struct auth {
    struct store *st;         /* borrowed */
    unsigned char admin_digest[32];
    bool have_admin;
    char *ca_pem;
    json_t *roles;            /* "<ns>/<name>" -> Role */
    json_t *cluster_roles;    /* "<name>" -> ClusterRole */
    json_t *role_bindings;    /* "<ns>" -> { "<name>" -> RoleBinding } */
    json_t *cluster_bindings; /* "<name>" -> ClusterRoleBinding */
    json_t *tok_by_digest;    /* hex SHA-256 of a token -> { "<ns>/<name>": true } */
    json_t *tok_by_secret;    /* "<ns>/<name>" -> hex SHA-256 of its token */
    struct store_watch *watch[5]; /* the four RBAC kinds and Secrets */
};

/* ---- small JSON helpers ---------------------------------------------------- */

/* Returns the string at <key> of object <o>, or NULL; borrowed from <o>. */
static const char *
auth_str(const json_t *o, const char *key)
{
    const json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;

    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Like auth_str, but "" instead of NULL. */
static const char *
auth_str0(const json_t *o, const char *key)
{
    const char *s = auth_str(o, key);

    return s ? s : "";
}

static const char *
auth_meta_str(const json_t *obj, const char *key)
{
    return auth_str(json_object_get(obj, "metadata"), key);
}

static const char *
auth_annotation(const json_t *obj, const char *key)
{
    return auth_str(json_object_get(json_object_get(obj, "metadata"), "annotations"), key);
}

static bool
auth_empty(const char *s)
{
    return s == NULL || *s == '\0';
}

/* ---- RBAC rule matching (pure) ---------------------------------------------- */

/* True when the string array <arr> holds <s>, or "*" when <star>. */
static bool
auth_list_has(const json_t *arr, const char *s, bool star)
{
    size_t i;
    const json_t *v;

    if (!json_is_array(arr))
        return false;
    json_array_foreach (arr, i, v) {
        const char *e = json_string_value(v);
        if (e == NULL)
            continue;
        if (star && strcmp(e, "*") == 0)
            return true;
        if (s != NULL && strcmp(e, s) == 0)
            return true;
    }
    return false;
}

/* True when <rr> equals "<res>" (no subresource) or "<res>/<sub>". */
static bool
auth_combined_eq(const char *rr, const char *res, const char *sub)
{
    size_t n = strlen(res);

    if (strncmp(rr, res, n) != 0)
        return false;
    if (auth_empty(sub))
        return rr[n] == '\0';
    return rr[n] == '/' && strcmp(rr + n + 1, sub) == 0;
}

/*
 * Kubernetes' ResourceMatches: "*" matches everything, subresources included;
 * "res" and "res/sub" match exactly; "*\/sub" matches <sub> of any resource.
 */
static bool
auth_resource_matches(const json_t *resources, const char *res, const char *sub)
{
    size_t i;
    const json_t *v;

    if (!json_is_array(resources))
        return false;
    json_array_foreach (resources, i, v) {
        const char *rr = json_string_value(v);
        if (rr == NULL)
            continue;
        if (strcmp(rr, "*") == 0 || auth_combined_eq(rr, res, sub))
            return true;
        if (!auth_empty(sub) && rr[0] == '*' && rr[1] == '/' && strcmp(rr + 2, sub) == 0)
            return true;
    }
    return false;
}

/*
 * Kubernetes' ResourceNameMatches: no resourceNames means every name; with
 * resourceNames, only a request naming one of them matches, so list, watch
 * and create (which name no object) are not granted by such a rule.
 */
static bool
auth_name_matches(const json_t *names, const char *name)
{
    if (!json_is_array(names) || json_array_size(names) == 0)
        return true;
    return auth_list_has(names, name ? name : "", false);
}

/* Kubernetes' NonResourceURLMatches: "*", exact, or a prefix ending in "*". */
static bool
auth_url_matches(const json_t *urls, const char *path)
{
    size_t i;
    const json_t *v;

    if (!json_is_array(urls) || path == NULL)
        return false;
    json_array_foreach (urls, i, v) {
        const char *u = json_string_value(v);
        if (u == NULL)
            continue;
        if (strcmp(u, "*") == 0 || strcmp(u, path) == 0)
            return true;
        size_t n = strlen(u);
        if (n > 0 && u[n - 1] == '*') {
            while (n > 0 && u[n - 1] == '*')
                n--;
            if (strncmp(path, u, n) == 0)
                return true;
        }
    }
    return false;
}

static bool
auth_rule_allows(const json_t *rule, const struct auth_attrs *at)
{
    if (!json_is_object(rule) || at->verb == NULL)
        return false;
    if (!auth_list_has(json_object_get(rule, "verbs"), at->verb, true))
        return false;
    if (at->resource == NULL)
        return auth_url_matches(json_object_get(rule, "nonResourceURLs"), at->path);
    return auth_list_has(json_object_get(rule, "apiGroups"), at->api_group ? at->api_group : "",
                         true) &&
           auth_resource_matches(json_object_get(rule, "resources"), at->resource,
                                 at->subresource) &&
           auth_name_matches(json_object_get(rule, "resourceNames"), at->name);
}

bool
auth_rules_allow(const json_t *rules, const struct auth_attrs *at)
{
    size_t i;
    const json_t *rule;

    if (!json_is_array(rules) || at == NULL)
        return false;
    json_array_foreach (rules, i, rule) {
        if (auth_rule_allows(rule, at))
            return true;
    }
    return false;
}

static bool
auth_user_in_group(const struct auth_user *u, const char *group)
{
    for (size_t i = 0; i < u->n_groups; i++) {
        if (u->groups[i] != NULL && strcmp(u->groups[i], group) == 0)
            return true;
    }
    return false;
}

/* True when <user> is "system:serviceaccount:<ns>:<name>". */
static bool
auth_is_sa_user(const char *user, const char *ns, const char *name)
{
    size_t pn = strlen(AUTH_SA_PREFIX), nn = strlen(ns);

    if (strncmp(user, AUTH_SA_PREFIX, pn) != 0)
        return false;
    user += pn;
    if (strncmp(user, ns, nn) != 0 || user[nn] != ':')
        return false;
    return strcmp(user + nn + 1, name) == 0;
}

/*
 * Kubernetes' appliesToUser: a ServiceAccount subject without a namespace
 * takes the binding's namespace, and never matches in a ClusterRoleBinding.
 */
static bool
auth_subject_applies(const json_t *subj, const struct auth_user *u, const char *binding_ns)
{
    const char *kind = auth_str(subj, "kind"), *name = auth_str(subj, "name");

    if (kind == NULL || name == NULL || u->name == NULL)
        return false;
    if (strcmp(kind, "User") == 0)
        return strcmp(u->name, name) == 0;
    if (strcmp(kind, "Group") == 0)
        return auth_user_in_group(u, name);
    if (strcmp(kind, "ServiceAccount") == 0) {
        const char *ns = auth_str(subj, "namespace");
        if (auth_empty(ns))
            ns = binding_ns;
        if (auth_empty(ns))
            return false;
        return auth_is_sa_user(u->name, ns, name);
    }
    return false;
}

/* Returns the first subject of <binding> that applies to <u>, or NULL. */
static const json_t *
auth_binding_subject(const json_t *binding, const struct auth_user *u, const char *ns)
{
    size_t i;
    const json_t *subj;

    json_array_foreach (json_object_get(binding, "subjects"), i, subj) {
        if (auth_subject_applies(subj, u, ns))
            return subj;
    }
    return NULL;
}

/* ---- the RBAC cache ----------------------------------------------------------- */

static const char *const auth_rbac_res[] = {
    AUTH_RBAC_GROUP "/roles",
    AUTH_RBAC_GROUP "/clusterroles",
    AUTH_RBAC_GROUP "/rolebindings",
    AUTH_RBAC_GROUP "/clusterrolebindings",
};
enum { AUTH_ROLES, AUTH_CLUSTER_ROLES, AUTH_ROLE_BINDINGS, AUTH_CLUSTER_BINDINGS, AUTH_N_RBAC };

/* Returns the index into auth_rbac_res of the store key <res>, or -1. */
static int
auth_rbac_kind(const char *res)
{
    for (size_t i = 0; i < ST_ARRAY_LEN(auth_rbac_res); i++) {
        if (strcmp(res, auth_rbac_res[i]) == 0)
            return (int)i;
    }
    return -1;
}

/*
 * Puts <obj> (takes ownership; NULL deletes) under <ns>/<name> in the cache
 * for RBAC kind <kind>.
 */
static void
auth_rbac_put(struct auth *a, int kind, const char *ns, const char *name, json_t *obj)
{
    char *key = NULL;
    json_t *map;

    switch (kind) {
    case AUTH_ROLES:
        key = st_xasprintf("%s/%s", ns, name);
        if (obj)
            json_object_set_new(a->roles, key, obj);
        else
            json_object_del(a->roles, key);
        break;
    case AUTH_CLUSTER_ROLES:
        if (obj)
            json_object_set_new(a->cluster_roles, name, obj);
        else
            json_object_del(a->cluster_roles, name);
        break;
    case AUTH_ROLE_BINDINGS:
        map = json_object_get(a->role_bindings, ns);
        if (obj) {
            if (map == NULL) {
                map = json_object();
                json_object_set_new(a->role_bindings, ns, map);
            }
            json_object_set_new(map, name, obj);
        } else if (map != NULL) {
            json_object_del(map, name);
            if (json_object_size(map) == 0)
                json_object_del(a->role_bindings, ns);
        }
        break;
    case AUTH_CLUSTER_BINDINGS:
        if (obj)
            json_object_set_new(a->cluster_bindings, name, obj);
        else
            json_object_del(a->cluster_bindings, name);
        break;
    default:
        json_decref(obj);
        break;
    }
    free(key);
}

/* Looks up the rules of the role a binding in <ns> ("" for a ClusterRoleBinding) refers to. */
static const json_t *
auth_ref_rules(struct auth *a, const json_t *binding, const char *ns, const char **kind_out,
               const char **name_out)
{
    const json_t *ref = json_object_get(binding, "roleRef");
    const char *kind = auth_str(ref, "kind"), *name = auth_str(ref, "name");
    const json_t *role = NULL;

    if (kind == NULL || name == NULL)
        return NULL;
    if (strcmp(kind, "ClusterRole") == 0) {
        role = json_object_get(a->cluster_roles, name);
    } else if (strcmp(kind, "Role") == 0 && !auth_empty(ns)) {
        char *key = st_xasprintf("%s/%s", ns, name);
        role = json_object_get(a->roles, key);
        free(key);
    }
    *kind_out = kind;
    *name_out = name;
    return role ? json_object_get(role, "rules") : NULL;
}

/*
 * Calls <fn> for each rule set granted to <u> that applies in <ns> (NULL or ""
 * means only cluster-wide grants), ClusterRoleBindings first, until <fn>
 * returns true. <fn> receives the binding's description for reasons.
 */
typedef bool (*auth_visit_fn)(const json_t *rules, const char *binding_kind, const char *ns,
                              const char *binding, const char *role_kind, const char *role,
                              const json_t *subject, void *arg);

static bool
auth_visit(struct auth *a, const struct auth_user *u, const char *ns, auth_visit_fn fn, void *arg)
{
    const char *name, *rkind, *rname;
    json_t *b, *map;
    const json_t *subj, *rules;

    json_object_foreach (a->cluster_bindings, name, b) {
        if ((subj = auth_binding_subject(b, u, "")) == NULL)
            continue;
        rules = auth_ref_rules(a, b, "", &rkind, &rname);
        if (rules && strcmp(rkind, "ClusterRole") == 0 &&
            fn(rules, "ClusterRoleBinding", "", name, rkind, rname, subj, arg))
            return true;
    }
    if (auth_empty(ns) || (map = json_object_get(a->role_bindings, ns)) == NULL)
        return false;
    json_object_foreach (map, name, b) {
        if ((subj = auth_binding_subject(b, u, ns)) == NULL)
            continue;
        rules = auth_ref_rules(a, b, ns, &rkind, &rname);
        if (rules && fn(rules, "RoleBinding", ns, name, rkind, rname, subj, arg))
            return true;
    }
    return false;
}

struct auth_allow_ctx {
    const struct auth_attrs *at;
    char *reason; /* malloc'd once allowed */
};

static bool
auth_allow_visit(const json_t *rules, const char *binding_kind, const char *ns,
                 const char *binding, const char *role_kind, const char *role,
                 const json_t *subject, void *arg)
{
    struct auth_allow_ctx *c = arg;

    if (!auth_rules_allow(rules, c->at))
        return false;
    /* Kubernetes' wording, so that tools parsing reasons see what they expect. */
    c->reason = st_xasprintf("RBAC: allowed by %s \"%s%s%s\" of %s \"%s\" to %s \"%s\"",
                             binding_kind, binding, *ns ? "/" : "", ns, role_kind, role,
                             auth_str0(subject, "kind"), auth_str0(subject, "name"));
    return true;
}

/* Like auth_authorize; <reason>, when not NULL, receives a malloc'd reason or NULL. */
static bool
auth_authorize_reason(struct auth *a, const struct auth_user *u, const struct auth_attrs *at,
                      char **reason)
{
    struct auth_allow_ctx c = {at, NULL};
    bool ok;

    if (reason)
        *reason = NULL;
    if (a == NULL || u == NULL || at == NULL || u->name == NULL || at->verb == NULL)
        return false;
    if (auth_user_in_group(u, AUTH_GROUP_MASTERS))
        return true;
    /* Non-resource requests are granted by ClusterRoleBindings only, as in Kubernetes. */
    ok = auth_visit(a, u, at->resource ? at->namespace : NULL, auth_allow_visit, &c);
    if (reason)
        *reason = c.reason;
    else
        free(c.reason);
    return ok;
}

bool
auth_authorize(struct auth *a, const struct auth_user *u, const struct auth_attrs *at)
{
    return auth_authorize_reason(a, u, at, NULL);
}

/* ---- the token index ------------------------------------------------------------ */

/* Writes the SHA-256 of <p>/<n> into <md>. */
static void
auth_digest(const void *p, size_t n, unsigned char md[32])
{
    unsigned char buf[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    if (EVP_Digest(p, n, buf, &len, EVP_sha256(), NULL) != 1 || len != 32)
        st_oom(); /* only an allocation failure inside OpenSSL gets here */
    memcpy(md, buf, 32);
    st_wipe(buf, sizeof(buf));
}

/* Writes the hex SHA-256 of <p>/<n> into <hex>. */
static void
auth_digest_hex(const void *p, size_t n, char hex[AUTH_DIGEST_HEX])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[32];

    auth_digest(p, n, md);
    for (size_t i = 0; i < sizeof(md); i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
    st_wipe(md, sizeof(md));
}

/*
 * Decodes data.token of a service-account token Secret into <out> (a buffer
 * with a cap, reset first). Returns 0, or ST_ENOTFOUND / ST_EPARSE /
 * ST_ETOOBIG when the Secret carries no usable token.
 */
static int
auth_secret_token(const json_t *secret, struct st_buf *out)
{
    const char *type = auth_str(secret, "type");
    const char *b64 = auth_str(json_object_get(secret, "data"), "token");

    if (type == NULL || strcmp(type, AUTH_SA_TOKEN_TYPE) != 0 || b64 == NULL)
        return ST_ENOTFOUND;
    if (strlen(b64) > AUTH_TOKEN_MAX * 4 / 3 + 4)
        return ST_ETOOBIG;
    int rc = st_base64_decode(b64, strlen(b64), out);
    if (rc < 0)
        return rc;
    return out->len > 0 ? 0 : ST_ENOTFOUND;
}

static void
auth_index_remove(struct auth *a, const char *key)
{
    const char *hex = json_string_value(json_object_get(a->tok_by_secret, key));
    json_t *set;

    if (hex == NULL)
        return;
    set = json_object_get(a->tok_by_digest, hex);
    if (set != NULL) {
        json_object_del(set, key);
        if (json_object_size(set) == 0)
            json_object_del(a->tok_by_digest, hex);
    }
    json_object_del(a->tok_by_secret, key); /* frees hex last */
}

/* Indexes <secret> (borrowed) under <ns>/<name>, replacing what the key had. */
static void
auth_index_secret(struct auth *a, const char *ns, const char *name, const json_t *secret)
{
    struct st_buf tok = ST_BUF_INIT(AUTH_TOKEN_MAX);
    char hex[AUTH_DIGEST_HEX];
    char *key = st_xasprintf("%s/%s", ns, name);
    json_t *set;

    auth_index_remove(a, key);
    if (secret == NULL || auth_secret_token(secret, &tok) < 0)
        goto out;
    auth_digest_hex(tok.data, tok.len, hex);
    set = json_object_get(a->tok_by_digest, hex);
    if (set == NULL) {
        set = json_object();
        json_object_set_new(a->tok_by_digest, hex, set);
    }
    json_object_set_new(set, key, json_true());
    json_object_set_new(a->tok_by_secret, key, json_string(hex));
    st_wipe(hex, sizeof(hex));
out:
    st_buf_free_secret(&tok);
    free(key);
}

/* ---- following the store ------------------------------------------------------------ */

/*
 * Applies a change of <res> <ns>/<name> to the caches; <obj> is the new state
 * (taken over; NULL when deleted or unreadable).
 */
static void
auth_apply(struct auth *a, const char *res, const char *ns, const char *name, json_t *obj)
{
    int kind;

    if (strcmp(res, "/secrets") == 0) {
        auth_index_secret(a, ns, name, obj);
        json_decref(obj);
    } else if ((kind = auth_rbac_kind(res)) >= 0) {
        auth_rbac_put(a, kind, ns, name, obj);
    } else {
        json_decref(obj);
    }
}

static void
auth_on_event(struct store_watch *w, const struct store_event *ev, void *arg)
{
    json_t *obj = NULL;

    if (strcmp(ev->type, "DELETED") != 0)
        obj = json_loadb(ev->json, ev->json_len, 0, NULL);
    auth_apply(arg, ev->res, ev->ns, ev->name, obj);
}

/*
 * Loads every stored object of <res> into the caches, a page at a time; for
 * Secrets only the token kind, selected by the store.
 */
static int
auth_load(struct auth *a, const char *res, struct st_err *err)
{
    struct store_list_opts opts = {NULL, NULL, 500, NULL};
    struct store_list_result r = {0};
    struct selector *fields = NULL;
    char *cont = NULL;
    size_t i;
    json_t *item;
    int rc = 0;

    if (strcmp(res, "/secrets") == 0) {
        rc = selector_parse_fields("type=" AUTH_SA_TOKEN_TYPE, &fields, err);
        if (rc < 0)
            goto out;
        opts.fields = fields;
    }
    do {
        opts.continue_token = cont;
        rc = store_list(a->st, res, NULL, &opts, &r, err);
        if (rc < 0)
            goto out;
        json_array_foreach (r.items, i, item) {
            const char *ns = auth_meta_str(item, "namespace");
            const char *name = auth_meta_str(item, "name");
            if (name != NULL)
                auth_apply(a, res, ns ? ns : "", name, json_incref(item));
        }
        free(cont);
        cont = r.continue_token; /* taken over from <r> */
        r.continue_token = NULL;
        store_list_result_clear(&r);
    } while (cont != NULL);
out:
    free(cont);
    selector_free(fields);
    return rc;
}

/* ---- bootstrap objects ------------------------------------------------------------ */

/*
 * The RBAC objects a fresh Kubernetes cluster has and strait relies on. The
 * aggregated roles (view, edit, admin) are not created: aggregationRule is not
 * evaluated here (see docs/apiserver-auth.md).
 */
static const struct {
    const char *res;
    const char *json;
} auth_bootstrap[] = {
    {AUTH_RBAC_GROUP "/clusterroles",
     "{\"kind\":\"ClusterRole\",\"metadata\":{\"name\":\"cluster-admin\"},\"rules\":["
     "{\"apiGroups\":[\"*\"],\"resources\":[\"*\"],\"verbs\":[\"*\"]},"
     "{\"nonResourceURLs\":[\"*\"],\"verbs\":[\"*\"]}]}"},
    {AUTH_RBAC_GROUP "/clusterroles",
     "{\"kind\":\"ClusterRole\",\"metadata\":{\"name\":\"system:discovery\"},\"rules\":["
     "{\"nonResourceURLs\":[\"/api\",\"/api/*\",\"/apis\",\"/apis/*\",\"/healthz\",\"/livez\","
     "\"/openapi\",\"/openapi/*\",\"/readyz\",\"/version\",\"/version/\"],"
     "\"verbs\":[\"get\"]}]}"},
    {AUTH_RBAC_GROUP "/clusterroles",
     "{\"kind\":\"ClusterRole\",\"metadata\":{\"name\":\"system:basic-user\"},\"rules\":["
     "{\"apiGroups\":[\"authorization.k8s.io\"],"
     "\"resources\":[\"selfsubjectaccessreviews\",\"selfsubjectrulesreviews\"],"
     "\"verbs\":[\"create\"]},"
     "{\"apiGroups\":[\"authentication.k8s.io\"],\"resources\":[\"selfsubjectreviews\"],"
     "\"verbs\":[\"create\"]}]}"},
    {AUTH_RBAC_GROUP "/clusterrolebindings",
     "{\"kind\":\"ClusterRoleBinding\",\"metadata\":{\"name\":\"cluster-admin\"},"
     "\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\","
     "\"name\":\"cluster-admin\"},\"subjects\":[{\"apiGroup\":\"rbac.authorization.k8s.io\","
     "\"kind\":\"Group\",\"name\":\"system:masters\"}]}"},
    {AUTH_RBAC_GROUP "/clusterrolebindings",
     "{\"kind\":\"ClusterRoleBinding\",\"metadata\":{\"name\":\"system:discovery\"},"
     "\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\","
     "\"name\":\"system:discovery\"},\"subjects\":[{\"apiGroup\":\"rbac.authorization.k8s.io\","
     "\"kind\":\"Group\",\"name\":\"system:authenticated\"}]}"},
    {AUTH_RBAC_GROUP "/clusterrolebindings",
     "{\"kind\":\"ClusterRoleBinding\",\"metadata\":{\"name\":\"system:basic-user\"},"
     "\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\","
     "\"name\":\"system:basic-user\"},\"subjects\":[{\"apiGroup\":\"rbac.authorization.k8s.io\","
     "\"kind\":\"Group\",\"name\":\"system:authenticated\"}]}"},
};

/* Returns a new random (version 4) UUID string. */
static char *
auth_uuid(void)
{
    unsigned char b[16];

    st_random_bytes(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    return st_xasprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                        b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                        b[12], b[13], b[14], b[15]);
}

/* Creates each bootstrap object that is missing; existing ones are left as they are. */
static int
auth_bootstrap_objects(struct auth *a, struct st_err *err)
{
    char now[21];
    int rc = 0;

    st_rfc3339(st_wall_s(), now);
    for (size_t i = 0; i < ST_ARRAY_LEN(auth_bootstrap) && rc == 0; i++) {
        json_t *obj = json_loads(auth_bootstrap[i].json, 0, NULL), *old = NULL;
        json_t *meta = json_object_get(obj, "metadata");
        const char *name = auth_str(meta, "name");

        rc = store_get(a->st, auth_bootstrap[i].res, "", name, &old, err);
        json_decref(old);
        if (rc == ST_ENOTFOUND) {
            char *uid = auth_uuid();
            json_object_set_new(obj, "apiVersion", json_string(AUTH_RBAC_GROUP "/v1"));
            json_object_set_new(meta, "uid", json_string(uid));
            json_object_set_new(meta, "creationTimestamp", json_string(now));
            json_object_set_new(meta, "labels",
                                json_pack("{s:s}", "kubernetes.io/bootstrapping", "rbac-defaults"));
            json_object_set_new(
                meta, "annotations",
                json_pack("{s:s}", "rbac.authorization.kubernetes.io/autoupdate", "true"));
            rc = store_create(a->st, auth_bootstrap[i].res, "", obj, err);
            if (rc == -EEXIST)
                rc = 0;
            free(uid);
        }
        json_decref(obj);
    }
    return rc;
}

/* ---- life cycle ------------------------------------------------------------------------ */

struct auth *
auth_new(struct store *st, const char *admin_token, const char *ca_pem, struct st_err *err)
{
    struct auth *a = st_xcalloc(1, sizeof(*a));
    static const char *const watched[] = {
        AUTH_RBAC_GROUP "/roles", AUTH_RBAC_GROUP "/clusterroles",
        AUTH_RBAC_GROUP "/rolebindings", AUTH_RBAC_GROUP "/clusterrolebindings", "/secrets",
    };

    if (st == NULL) {
        st_err_set(err, ST_EINVAL, "auth: no store");
        goto fail;
    }
    a->st = st;
    if (!auth_empty(admin_token)) {
        auth_digest(admin_token, strlen(admin_token), a->admin_digest);
        a->have_admin = true;
    }
    a->ca_pem = st_xstrdup(ca_pem ? ca_pem : "");
    a->roles = json_object();
    a->cluster_roles = json_object();
    a->role_bindings = json_object();
    a->cluster_bindings = json_object();
    a->tok_by_digest = json_object();
    a->tok_by_secret = json_object();
    if (auth_bootstrap_objects(a, err) < 0)
        goto fail;
    /*
     * Load, then follow the store from the same version: the loop thread is
     * the only writer, so nothing can slip in between.
     */
    for (size_t i = 0; i < ST_ARRAY_LEN(watched); i++) {
        if (auth_load(a, watched[i], err) < 0)
            goto fail;
    }
    for (size_t i = 0; i < ST_ARRAY_LEN(watched); i++) {
        a->watch[i] = store_watch_new(st, watched[i], NULL, store_rv(st), auth_on_event, a, err);
        if (a->watch[i] == NULL)
            goto fail;
    }
    return a;
fail:
    return auth_free(a);
}

struct auth *
auth_free(struct auth *a)
{
    if (a == NULL)
        return NULL;
    for (size_t i = 0; i < ST_ARRAY_LEN(a->watch); i++)
        a->watch[i] = store_watch_free(a->watch[i]);
    json_decref(a->roles);
    json_decref(a->cluster_roles);
    json_decref(a->role_bindings);
    json_decref(a->cluster_bindings);
    json_decref(a->tok_by_digest);
    json_decref(a->tok_by_secret);
    free(a->ca_pem);
    st_wipe(a, sizeof(*a));
    free(a);
    return NULL;
}

/* ---- authentication ----------------------------------------------------------------------- */

void
auth_user_clear(struct auth_user *u)
{
    if (u == NULL)
        return;
    free(u->name);
    free(u->uid);
    for (size_t i = 0; i < u->n_groups; i++)
        free(u->groups[i]);
    free(u->groups);
    memset(u, 0, sizeof(*u));
}

/* Adds a copy of <group> to <u>. */
static void
auth_user_add_group(struct auth_user *u, const char *group)
{
    u->groups = st_xrealloc(u->groups, (u->n_groups + 1) * sizeof(*u->groups));
    u->groups[u->n_groups++] = st_xstrdup(group);
}

static bool
auth_terminating(const json_t *obj)
{
    return json_object_get(json_object_get(obj, "metadata"), "deletionTimestamp") != NULL &&
           !json_is_null(json_object_get(json_object_get(obj, "metadata"), "deletionTimestamp"));
}

/*
 * Checks <token> against the Secret <ns>/<name> as it is stored now, and its
 * ServiceAccount; fills <out> on success. Returns 0 or ST_EAUTH.
 */
static int
auth_check_sa_token(struct auth *a, const char *ns, const char *name, const char *token,
                    size_t n, struct auth_user *out)
{
    struct st_buf stored = ST_BUF_INIT(AUTH_TOKEN_MAX);
    json_t *secret = NULL, *sa = NULL;
    const char *sa_name, *want_uid, *sa_uid;
    int rc = ST_EAUTH;

    if (store_get(a->st, "/secrets", ns, name, &secret, NULL) < 0 || auth_terminating(secret))
        goto out;
    if (auth_secret_token(secret, &stored) < 0 ||
        !st_consttime_eq(stored.data, stored.len, token, n))
        goto out;
    sa_name = auth_annotation(secret, AUTH_ANN_SA_NAME);
    if (auth_empty(sa_name))
        goto out;
    if (store_get(a->st, "/serviceaccounts", ns, sa_name, &sa, NULL) < 0 || auth_terminating(sa))
        goto out;
    /* A ServiceAccount deleted and created again under the same name is another account. */
    want_uid = auth_annotation(secret, AUTH_ANN_SA_UID);
    sa_uid = auth_meta_str(sa, "uid");
    if (!auth_empty(want_uid) && (sa_uid == NULL || strcmp(want_uid, sa_uid) != 0))
        goto out;
    out->name = st_xasprintf(AUTH_SA_PREFIX "%s:%s", ns, sa_name);
    out->uid = st_xstrdup(sa_uid ? sa_uid : "");
    auth_user_add_group(out, AUTH_GROUP_SAS);
    char *g = st_xasprintf(AUTH_GROUP_SAS ":%s", ns);
    auth_user_add_group(out, g);
    free(g);
    auth_user_add_group(out, AUTH_GROUP_AUTHENTICATED);
    rc = 0;
out:
    st_buf_free_secret(&stored);
    json_decref(secret);
    json_decref(sa);
    return rc;
}

int
auth_authenticate(struct auth *a, const char *token, struct auth_user *out)
{
    unsigned char md[32];
    char hex[AUTH_DIGEST_HEX];
    const char *key;
    json_t *set, *v;
    size_t n;
    int rc = ST_EAUTH;

    if (out == NULL)
        return ST_EAUTH;
    memset(out, 0, sizeof(*out));
    if (a == NULL || token == NULL)
        return ST_EAUTH;
    n = strnlen(token, AUTH_TOKEN_MAX + 1);
    if (n == 0 || n > AUTH_TOKEN_MAX)
        return ST_EAUTH;
    /* Comparing digests keeps even the admin token's length out of the timing. */
    auth_digest(token, n, md);
    if (a->have_admin && st_consttime_eq(md, sizeof(md), a->admin_digest, sizeof(a->admin_digest))) {
        out->name = st_xstrdup("admin");
        out->uid = st_xstrdup("");
        auth_user_add_group(out, AUTH_GROUP_MASTERS);
        auth_user_add_group(out, AUTH_GROUP_AUTHENTICATED);
        rc = 0;
        goto out;
    }
    auth_digest_hex(token, n, hex);
    set = json_object_get(a->tok_by_digest, hex);
    json_object_foreach (set, key, v) {
        const char *slash = strchr(key, '/');
        if (slash == NULL)
            continue;
        char *ns = st_xstrndup(key, (size_t)(slash - key));
        rc = auth_check_sa_token(a, ns, slash + 1, token, n, out);
        free(ns);
        if (rc == 0)
            break;
    }
out:
    st_wipe(md, sizeof(md));
    st_wipe(hex, sizeof(hex));
    return rc;
}

/* ---- service-account token Secrets -------------------------------------------------------- */

/* Returns a new token: 256 random bits as unpadded base64url. */
static char *
auth_new_token(void)
{
    unsigned char raw[AUTH_TOKEN_BYTES];
    char *t;
    size_t n;

    st_random_bytes(raw, sizeof(raw));
    t = st_base64_encode(raw, sizeof(raw));
    st_wipe(raw, sizeof(raw));
    for (char *p = t; *p; p++) {
        if (*p == '+')
            *p = '-';
        else if (*p == '/')
            *p = '_';
    }
    n = strlen(t);
    while (n > 0 && t[n - 1] == '=')
        t[--n] = '\0';
    return t;
}

/* Sets data[<key>] of <data> to the base64 of <value>. */
static void
auth_set_data(json_t *data, const char *key, const char *value)
{
    char *b64 = st_base64_encode(value, strlen(value));

    json_object_set_new(data, key, json_string(b64));
    st_free_secret(b64, strlen(b64));
}

int
auth_fill_sa_token_secret(struct auth *a, json_t *secret, struct st_err *err)
{
    struct st_buf old = ST_BUF_INIT(AUTH_TOKEN_MAX);
    json_t *meta, *ann, *data, *sa = NULL;
    const char *type, *ns, *sa_name, *sa_uid;
    int rc;

    if (a == NULL || !json_is_object(secret))
        return st_err_set(err, ST_EINVAL, "a Secret must be a JSON object");
    type = auth_str(secret, "type");
    if (type == NULL || strcmp(type, AUTH_SA_TOKEN_TYPE) != 0)
        return 0; /* not a token Secret: nothing to fill */
    meta = json_object_get(secret, "metadata");
    ns = auth_str(meta, "namespace");
    if (auth_empty(ns))
        return st_err_set(err, ST_EINVAL, "metadata.namespace: Required value");
    ann = json_object_get(meta, "annotations");
    sa_name = auth_str(ann, AUTH_ANN_SA_NAME);
    if (auth_empty(sa_name))
        return st_err_set(err, ST_EINVAL,
                          "metadata.annotations[" AUTH_ANN_SA_NAME "]: Required value");
    rc = store_get(a->st, "/serviceaccounts", ns, sa_name, &sa, err);
    if (rc == ST_ENOTFOUND)
        return st_err_set(err, ST_EINVAL,
                          "metadata.annotations[" AUTH_ANN_SA_NAME
                          "]: serviceaccount \"%.100s\" not found in namespace \"%.100s\"",
                          sa_name, ns);
    if (rc < 0)
        return rc;
    sa_uid = auth_meta_str(sa, "uid");
    if (sa_uid != NULL)
        json_object_set_new(ann, AUTH_ANN_SA_UID, json_string(sa_uid));
    data = json_object_get(secret, "data");
    if (!json_is_object(data)) {
        data = json_object();
        json_object_set_new(secret, "data", data);
    }
    /* A Secret applied again keeps the token it already has. */
    if (auth_secret_token(secret, &old) < 0) {
        char *tok = auth_new_token();
        auth_set_data(data, "token", tok);
        st_free_secret(tok, strlen(tok));
    }
    if (*a->ca_pem != '\0')
        auth_set_data(data, "ca.crt", a->ca_pem);
    auth_set_data(data, "namespace", ns);
    st_buf_free_secret(&old);
    json_decref(sa);
    return 0;
}

void
auth_notify(struct auth *a, const char *api_group, const char *resource, const char *type,
            const json_t *obj)
{
    /*
     * Nothing to do: auth follows the store's own event stream (see auth_new),
     * which reports exactly the committed writes, rolled-back batches
     * excluded. The entry point stays so that callers need not know that.
     */
}

/* ---- reviews ----------------------------------------------------------------------------------- */

/* Returns a new copy of <review> with apiVersion and kind set. */
static json_t *
auth_review_copy(const json_t *review, const char *api_version, const char *kind)
{
    json_t *out = json_is_object(review) ? json_deep_copy(review) : json_object();

    json_object_set_new(out, "apiVersion", json_string(api_version));
    json_object_set_new(out, "kind", json_string(kind));
    if (!json_is_object(json_object_get(out, "metadata")))
        json_object_set_new(out, "metadata", json_pack("{s:n}", "creationTimestamp"));
    return out;
}

json_t *
auth_token_review(struct auth *a, const json_t *review)
{
    struct auth_user u;
    const json_t *spec = json_object_get(review, "spec");
    const json_t *aud = json_object_get(spec, "audiences");
    const char *token = auth_str(spec, "token");
    json_t *out = auth_review_copy(review, "authentication.k8s.io/v1", "TokenReview");
    json_t *status, *groups;

    /* The answer does not carry the token back, so no log of answers can leak it. */
    json_object_del(json_object_get(out, "spec"), "token");
    if (token == NULL || auth_authenticate(a, token, &u) < 0) {
        status = json_pack("{s:b,s:{},s:s}", "authenticated", 0, "user", "error",
                           "invalid bearer token");
        json_object_set_new(out, "status", status);
        return out;
    }
    groups = json_array();
    for (size_t i = 0; i < u.n_groups; i++)
        json_array_append_new(groups, json_string(u.groups[i]));
    status = json_pack("{s:b,s:{s:s,s:s,s:o}}", "authenticated", 1, "user", "username", u.name,
                       "uid", u.uid ? u.uid : "", "groups", groups);
    /* Tokens are not bound to audiences here, so a valid token is valid for those asked. */
    if (json_is_array(aud) && json_array_size(aud) > 0)
        json_object_set_new(status, "audiences", json_deep_copy(aud));
    json_object_set_new(out, "status", status);
    auth_user_clear(&u);
    return out;
}

/*
 * Reads the optional string <key> of <o> into <*out> (borrowed; "" when
 * absent). Returns 0 or ST_EINVAL with <err> set.
 */
static int
auth_field(const json_t *o, const char *path, const char *key, const char **out,
           struct st_err *err)
{
    const json_t *v = json_object_get(o, key);

    *out = "";
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return st_err_set(err, ST_EINVAL, "%s.%s: Invalid value: must be a string", path, key);
    if (json_string_length(v) > AUTH_FIELD_MAX)
        return st_err_set(err, ST_EINVAL, "%s.%s: Too long: must have at most %d bytes", path,
                          key, AUTH_FIELD_MAX);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return st_err_set(err, ST_EINVAL, "%s.%s: Invalid value: contains NUL", path, key);
    *out = json_string_value(v);
    return 0;
}

/*
 * Fills <at> (pointing into <spec>) from spec.resourceAttributes or
 * spec.nonResourceAttributes. <local_ns>, when not NULL, is the namespace of
 * a LocalSubjectAccessReview. Returns 0 or ST_EINVAL with <err> set.
 */
static int
auth_review_attrs(const json_t *spec, const char *local_ns, struct auth_attrs *at,
                  struct st_err *err)
{
    const json_t *ra = json_object_get(spec, "resourceAttributes");
    const json_t *na = json_object_get(spec, "nonResourceAttributes");
    int rc;

    memset(at, 0, sizeof(*at));
    if (json_is_null(ra))
        ra = NULL;
    if (json_is_null(na))
        na = NULL;
    if ((ra != NULL) == (na != NULL))
        return st_err_set(err, ST_EINVAL,
                          "spec: Invalid value: exactly one of nonResourceAttributes or "
                          "resourceAttributes must be specified");
    if (na != NULL) {
        if (!json_is_object(na))
            return st_err_set(err, ST_EINVAL, "spec.nonResourceAttributes: must be an object");
        if (local_ns != NULL)
            return st_err_set(err, ST_EINVAL,
                              "spec.nonResourceAttributes: Invalid value: disallowed on this "
                              "kind of request");
        if ((rc = auth_field(na, "spec.nonResourceAttributes", "path", &at->path, err)) < 0 ||
            (rc = auth_field(na, "spec.nonResourceAttributes", "verb", &at->verb, err)) < 0)
            return rc;
        return 0;
    }
    if (!json_is_object(ra))
        return st_err_set(err, ST_EINVAL, "spec.resourceAttributes: must be an object");
    static const char *const keys[] = {"namespace", "verb", "group", "resource", "subresource",
                                       "name"};
    const char **dst[] = {&at->namespace, &at->verb,        &at->api_group,
                          &at->resource,  &at->subresource, &at->name};
    for (size_t i = 0; i < ST_ARRAY_LEN(keys); i++) {
        if ((rc = auth_field(ra, "spec.resourceAttributes", keys[i], dst[i], err)) < 0)
            return rc;
    }
    if (local_ns != NULL) {
        if (*at->namespace == '\0')
            at->namespace = local_ns;
        else if (strcmp(at->namespace, local_ns) != 0)
            return st_err_set(err, ST_EINVAL,
                              "spec.resourceAttributes.namespace must match metadata.namespace");
    }
    return 0;
}

/*
 * Fills <u> (strings borrowed from <spec>, groups array allocated: free only
 * u->groups) from spec.user, spec.uid and spec.groups of a SubjectAccessReview.
 */
static int
auth_review_subject(const json_t *spec, struct auth_user *u, struct st_err *err)
{
    const json_t *groups = json_object_get(spec, "groups"), *g;
    const char *name, *uid;
    size_t i;
    int rc;

    memset(u, 0, sizeof(*u));
    if ((rc = auth_field(spec, "spec", "user", &name, err)) < 0 ||
        (rc = auth_field(spec, "spec", "uid", &uid, err)) < 0)
        return rc;
    if (groups != NULL && !json_is_null(groups)) {
        if (!json_is_array(groups))
            return st_err_set(err, ST_EINVAL, "spec.groups: must be an array of strings");
        if (json_array_size(groups) > AUTH_GROUPS_MAX)
            return st_err_set(err, ST_EINVAL, "spec.groups: Too many: must have at most %d items",
                              AUTH_GROUPS_MAX);
        u->groups = st_xcalloc(json_array_size(groups) + 1, sizeof(*u->groups));
        json_array_foreach (groups, i, g) {
            if (!json_is_string(g) || json_string_length(g) > AUTH_FIELD_MAX) {
                free(u->groups);
                u->groups = NULL;
                return st_err_set(err, ST_EINVAL, "spec.groups[%zu]: Invalid value", i);
            }
            u->groups[u->n_groups++] = (char *)json_string_value(g);
        }
    }
    if (*name == '\0' && u->n_groups == 0) {
        free(u->groups);
        u->groups = NULL;
        return st_err_set(err, ST_EINVAL,
                          "spec.user: Invalid value: at least one of user or group must be "
                          "specified");
    }
    u->name = (char *)name;
    u->uid = (char *)uid;
    return 0;
}

json_t *
auth_access_review(struct auth *a, const struct auth_user *requester, const json_t *review,
                   struct st_err *err)
{
    return auth_access_review_as(a, requester, NULL, NULL, review, err);
}

json_t *
auth_access_review_as(struct auth *a, const struct auth_user *requester, const char *kind,
                      const char *url_ns, const json_t *review, struct st_err *err)
{
    const json_t *spec = json_object_get(review, "spec");
    const char *local_ns = NULL;
    struct auth_user subject = {0};
    const struct auth_user *who = requester;
    struct auth_attrs at;
    char *reason = NULL;
    bool self, allowed;
    json_t *out = NULL;

    if (a == NULL || !json_is_object(review) || !json_is_object(spec)) {
        st_err_set(err, ST_EINVAL, "spec: Required value");
        return NULL;
    }
    if (kind == NULL)
        kind = auth_str(review, "kind");
    /* Without a kind from the URL or the body, the body's shape decides. */
    if (kind == NULL)
        kind = json_object_get(spec, "user") || json_object_get(spec, "groups")
                   ? "SubjectAccessReview"
                   : "SelfSubjectAccessReview";
    self = strcmp(kind, "SelfSubjectAccessReview") == 0;
    if (!self && strcmp(kind, "SubjectAccessReview") != 0 &&
        strcmp(kind, "LocalSubjectAccessReview") != 0) {
        st_err_set(err, ST_EINVAL, "kind: Unsupported value: \"%.100s\"", kind);
        return NULL;
    }
    if (strcmp(kind, "LocalSubjectAccessReview") == 0) {
        const char *meta_ns = auth_meta_str(review, "namespace");
        local_ns = !auth_empty(url_ns) ? url_ns : meta_ns;
        if (auth_empty(local_ns)) {
            st_err_set(err, ST_EINVAL, "metadata.namespace: Required value");
            return NULL;
        }
        if (!auth_empty(meta_ns) && strcmp(meta_ns, local_ns) != 0) {
            st_err_set(err, ST_EINVAL, "metadata.namespace: Invalid value: must match the URL");
            return NULL;
        }
    }
    if (auth_review_attrs(spec, local_ns, &at, err) < 0)
        return NULL;
    if (self) {
        if (requester == NULL) {
            st_err_set(err, ST_EINVAL, "a SelfSubjectAccessReview needs an authenticated user");
            return NULL;
        }
    } else {
        if (auth_review_subject(spec, &subject, err) < 0)
            return NULL;
        who = &subject;
    }
    allowed = auth_authorize_reason(a, who, &at, &reason);
    out = auth_review_copy(review, "authorization.k8s.io/v1", kind);
    if (local_ns != NULL) {
        json_t *ra = json_object_get(json_object_get(out, "spec"), "resourceAttributes");
        json_object_set_new(ra, "namespace", json_string(local_ns));
    }
    json_t *status = json_pack("{s:b}", "allowed", allowed);
    if (reason != NULL)
        json_object_set_new(status, "reason", json_string(reason));
    json_object_set_new(out, "status", status);
    free(reason);
    free(subject.groups);
    return out;
}

struct auth_rules_ctx {
    json_t *resource_rules;
    json_t *non_resource_rules;
};

/* Copies <key> of <rule> into <dst> when it is a non-empty array. */
static void
auth_copy_list(json_t *dst, const json_t *rule, const char *key)
{
    const json_t *v = json_object_get(rule, key);

    if (json_is_array(v) && json_array_size(v) > 0)
        json_object_set_new(dst, key, json_deep_copy(v));
}

static bool
auth_rules_visit(const json_t *rules, const char *binding_kind, const char *ns,
                 const char *binding, const char *role_kind, const char *role,
                 const json_t *subject, void *arg)
{
    struct auth_rules_ctx *c = arg;
    size_t i;
    const json_t *rule;

    json_array_foreach (rules, i, rule) {
        json_t *r = json_object();
        auth_copy_list(r, rule, "verbs");
        if (json_object_get(rule, "nonResourceURLs") != NULL) {
            /* Only cluster-wide bindings grant non-resource URLs. */
            if (strcmp(binding_kind, "ClusterRoleBinding") != 0) {
                json_decref(r);
                continue;
            }
            auth_copy_list(r, rule, "nonResourceURLs");
            json_array_append_new(c->non_resource_rules, r);
        } else {
            auth_copy_list(r, rule, "apiGroups");
            auth_copy_list(r, rule, "resources");
            auth_copy_list(r, rule, "resourceNames");
            json_array_append_new(c->resource_rules, r);
        }
    }
    return false; /* visit every binding */
}

json_t *
auth_rules_review(struct auth *a, const struct auth_user *requester, const json_t *review,
                  struct st_err *err)
{
    const json_t *spec = json_object_get(review, "spec");
    struct auth_rules_ctx c;
    const char *ns;
    json_t *out;

    if (a == NULL || requester == NULL || !json_is_object(review)) {
        st_err_set(err, ST_EINVAL, "spec: Required value");
        return NULL;
    }
    if (spec != NULL && !json_is_object(spec)) {
        st_err_set(err, ST_EINVAL, "spec: must be an object");
        return NULL;
    }
    if (auth_field(spec, "spec", "namespace", &ns, err) < 0)
        return NULL;
    c.resource_rules = json_array();
    c.non_resource_rules = json_array();
    auth_visit(a, requester, ns, auth_rules_visit, &c);
    out = auth_review_copy(review, "authorization.k8s.io/v1", "SelfSubjectRulesReview");
    json_object_set_new(out, "status",
                        json_pack("{s:o,s:o,s:b}", "resourceRules", c.resource_rules,
                                  "nonResourceRules", c.non_resource_rules, "incomplete", 0));
    return out;
}

/* ---- escalation checks on RBAC writes ---------------------------------------------------- */

#define AUTH_ATOMS_MAX 20000 /* verb x group x resource x name combinations checked per write */

/*
 * True when <u> already holds every permission of <rules> in <ns> ("" for
 * cluster-wide): each combination of verb, group, resource and name (and each
 * verb and URL) is asked of the authorizer, with "*" asked literally, so a
 * wildcard is covered only by a wildcard, as in Kubernetes' Covers. On false,
 * <err> names the first permission not held.
 */
static bool
auth_covers(struct auth *a, const struct auth_user *u, const char *ns, const json_t *rules,
            struct st_err *err)
{
    size_t i, iv, ig, ir, in, atoms = 0;
    const json_t *rule, *verb, *grp, *res;

    json_array_foreach (rules, i, rule) {
        const json_t *verbs = json_object_get(rule, "verbs");
        const json_t *urls = json_object_get(rule, "nonResourceURLs");
        const json_t *names = json_object_get(rule, "resourceNames");
        bool any_name = !json_is_array(names) || json_array_size(names) == 0;

        json_array_foreach (verbs, iv, verb) {
            const char *v = json_string_value(verb);
            if (v == NULL)
                continue;
            json_array_foreach (urls, ir, res) {
                struct auth_attrs at = {v, NULL, NULL, NULL, NULL, NULL, json_string_value(res)};
                if (at.path == NULL)
                    continue;
                if (++atoms > AUTH_ATOMS_MAX) {
                    st_err_set(err, ST_EINVAL, "rules: Too many: over %d permissions",
                               AUTH_ATOMS_MAX);
                    return false;
                }
                if (!auth_authorize(a, u, &at)) {
                    st_err_set(err, ST_EAUTH, "{NonResourceURLs:[\"%.200s\"], Verbs:[\"%.50s\"]}",
                               at.path, v);
                    return false;
                }
            }
            json_array_foreach (json_object_get(rule, "apiGroups"), ig, grp) {
                json_array_foreach (json_object_get(rule, "resources"), ir, res) {
                    const char *g = json_string_value(grp), *r = json_string_value(res);
                    if (g == NULL || r == NULL)
                        continue;
                    const char *slash = strchr(r, '/');
                    char *base = slash ? st_xstrndup(r, (size_t)(slash - r)) : st_xstrdup(r);
                    size_t n_names = any_name ? 1 : json_array_size(names);
                    bool ok = true;
                    for (in = 0; in < n_names && ok; in++) {
                        /* A rule without resourceNames is covered only by one without. */
                        const char *name =
                            any_name ? "" : json_string_value(json_array_get(names, in));
                        struct auth_attrs at = {v, g, base, slash ? slash + 1 : NULL, ns, name,
                                                NULL};
                        if (name == NULL)
                            continue;
                        if (++atoms > AUTH_ATOMS_MAX) {
                            st_err_set(err, ST_EINVAL, "rules: Too many: over %d permissions",
                                       AUTH_ATOMS_MAX);
                            ok = false;
                        } else if (!auth_authorize(a, u, &at)) {
                            st_err_set(err, ST_EAUTH,
                                       "{APIGroups:[\"%.100s\"], Resources:[\"%.100s\"], "
                                       "ResourceNames:[\"%.100s\"], Verbs:[\"%.50s\"]}",
                                       g, r, at.name, v);
                            ok = false;
                        }
                    }
                    free(base);
                    if (!ok)
                        return false;
                }
            }
        }
    }
    return true;
}

int
auth_check_rbac_write(struct auth *a, const struct auth_user *u, const char *resource,
                      const char *ns, const json_t *obj, struct st_err *err)
{
    const char *scope = auth_empty(ns) ? "" : ns;
    const json_t *rules;
    struct st_err why = {0};
    bool binding;

    if (a == NULL || u == NULL || u->name == NULL || resource == NULL || !json_is_object(obj))
        return st_err_set(err, ST_EINVAL, "auth_check_rbac_write: bad arguments");
    if (strcmp(resource, "roles") == 0 || strcmp(resource, "clusterroles") == 0) {
        binding = false;
        struct auth_attrs esc = {"escalate", AUTH_RBAC_GROUP, resource, NULL, scope,
                                 auth_meta_str(obj, "name"), NULL};
        if (auth_authorize(a, u, &esc))
            return 0;
        rules = json_object_get(obj, "rules");
    } else if (strcmp(resource, "rolebindings") == 0 ||
               strcmp(resource, "clusterrolebindings") == 0) {
        binding = true;
        const json_t *ref = json_object_get(obj, "roleRef");
        const char *kind = auth_str0(ref, "kind"), *name = auth_str(ref, "name");
        const char *rkind, *rname;
        bool cluster = strcmp(kind, "ClusterRole") == 0;
        if (name == NULL || (!cluster && strcmp(kind, "Role") != 0))
            return st_err_set(err, ST_EINVAL, "roleRef: Invalid value: must name a Role or "
                                              "ClusterRole");
        /*
         * As in Kubernetes, "bind" is asked in the binding's namespace even
         * for a ClusterRole, so binding particular ClusterRoles can be
         * delegated within one namespace.
         */
        struct auth_attrs bind = {"bind", AUTH_RBAC_GROUP, cluster ? "clusterroles" : "roles",
                                  NULL, scope, name, NULL};
        if (auth_authorize(a, u, &bind))
            return 0;
        rules = auth_ref_rules(a, obj, scope, &rkind, &rname);
        if (rules == NULL)
            return st_err_set(err, ST_EAUTH,
                              "user \"%.100s\" cannot bind %s \"%.100s\": it does not exist and "
                              "the user may not bind it",
                              u->name, kind, name);
    } else {
        return 0;
    }
    if (auth_covers(a, u, scope, rules, &why))
        return 0;
    if (why.code == ST_EINVAL)
        return st_err_set(err, ST_EINVAL, "%s", why.msg);
    return st_err_set(err, ST_EAUTH,
                      "user \"%.100s\" is attempting to %s RBAC permissions not currently held: "
                      "%s",
                      u->name, binding ? "bind" : "grant", why.msg);
}
