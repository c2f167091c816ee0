/*
 * The resource registry and discovery documents; see registry.h.
 */
#include "registry.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <strings.h>

struct registry {
    struct reg_resource **v;
    size_t n, cap;
};

/* A built-in kind; short names and categories are comma-separated. */
struct registry_builtin {
    const char *group, *version, *kind, *plural, *singular, *short_names, *categories;
    bool namespaced;
    unsigned verbs;
    bool status;
    bool stored;
    enum reg_table table;
};

#define REG_CREATE_ONLY REG_CREATE

static const struct registry_builtin registry_builtins[] = {
    {"", "v1", "Namespace", "namespaces", "namespace", "ns", "", false,
     REG_VERBS_ALL & ~REG_DELETECOLLECTION, true, true, REG_TABLE_NAMESPACE},
    {"", "v1", "Service", "services", "service", "svc", "all", true, REG_VERBS_ALL, true, true,
     REG_TABLE_SERVICE},
    {"", "v1", "Endpoints", "endpoints", "endpoints", "ep", "", true, REG_VERBS_ALL, false, true,
     REG_TABLE_ENDPOINTS},
    {"", "v1", "Secret", "secrets", "secret", "", "", true, REG_VERBS_ALL, false, true,
     REG_TABLE_SECRET},
    {"", "v1", "ConfigMap", "configmaps", "configmap", "cm", "", true, REG_VERBS_ALL, false, true,
     REG_TABLE_CONFIGMAP},
    {"", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", "sa", "", true, REG_VERBS_ALL,
     false, true, REG_TABLE_SERVICEACCOUNT},
    {"", "v1", "Event", "events", "event", "ev", "", true, REG_VERBS_ALL, false, true,
     REG_TABLE_EVENT},
    {"rbac.authorization.k8s.io", "v1", "Role", "roles", "role", "", "", true, REG_VERBS_ALL, false,
     true, REG_TABLE_CREATED_AT},
    {"rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "clusterrole", "", "", false,
     REG_VERBS_ALL, false, true, REG_TABLE_CREATED_AT},
    {"rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding", "", "", true,
     REG_VERBS_ALL, false, true, REG_TABLE_BINDING},
    {"rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings",
     "clusterrolebinding", "", "", false, REG_VERBS_ALL, false, true, REG_TABLE_BINDING},
    {"authentication.k8s.io", "v1", "TokenReview", "tokenreviews", "tokenreview", "", "", false,
     REG_CREATE_ONLY, false, false, REG_TABLE_DEFAULT},
    {"authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", "selfsubjectreview",
     "", "", false, REG_CREATE_ONLY, false, false, REG_TABLE_DEFAULT},
    {"authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews",
     "selfsubjectaccessreview", "", "", false, REG_CREATE_ONLY, false, false, REG_TABLE_DEFAULT},
    {"authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews",
     "subjectaccessreview", "", "", false, REG_CREATE_ONLY, false, false, REG_TABLE_DEFAULT},
    {"authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews",
     "localsubjectaccessreview", "", "", true, REG_CREATE_ONLY, false, false, REG_TABLE_DEFAULT},
    {"authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews",
     "selfsubjectrulesreview", "", "", false, REG_CREATE_ONLY, false, false, REG_TABLE_DEFAULT},
    {"apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
     "customresourcedefinition", "crd,crds", "api-extensions", false, REG_VERBS_ALL, true, true,
     REG_TABLE_CRD},
    {"apps", "v1", "Deployment", "deployments", "deployment", "deploy", "all", true, REG_VERBS_ALL,
     true, true, REG_TABLE_DEPLOYMENT},
    {"coordination.k8s.io", "v1", "Lease", "leases", "lease", "", "", true, REG_VERBS_ALL, false,
     true, REG_TABLE_LEASE},
};

/* Built-in groups in the order Kubernetes lists them; CRD groups follow sorted. */
static const char *const registry_group_order[] = {
    "apps",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "rbac.authorization.k8s.io",
    "apiextensions.k8s.io",
    "coordination.k8s.io",
};

static const char *const registry_verb_names[] = {
    "get", "list", "watch", "create", "update", "patch", "delete", "deletecollection",
};

static void
registry_split(const char *csv, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!csv || !*csv)
        return;
    const char *p = csv;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        *out = st_xrealloc(*out, (*n + 1) * sizeof(**out));
        (*out)[(*n)++] = st_xstrndup(p, len);
        p += len + (e ? 1 : 0);
    }
}

static void
registry_entry_free(struct reg_resource *e)
{
    if (!e)
        return;
    free(e->group);
    free(e->version);
    free(e->kind);
    free(e->list_kind);
    free(e->plural);
    free(e->singular);
    free(e->key);
    free(e->api_version);
    for (size_t i = 0; i < e->n_short_names; i++)
        free(e->short_names[i]);
    free(e->short_names);
    for (size_t i = 0; i < e->n_categories; i++)
        free(e->categories[i]);
    free(e->categories);
    json_decref(e->columns);
    json_decref(e->schema);
    free(e);
}

static struct reg_resource *
registry_entry_new(const char *group, const char *version, const char *kind, const char *plural,
                   const char *singular)
{
    struct reg_resource *e = st_xcalloc(1, sizeof(*e));

    e->group = st_xstrdup(group);
    e->version = st_xstrdup(version);
    e->kind = st_xstrdup(kind);
    e->list_kind = st_xasprintf("%sList", kind);
    e->plural = st_xstrdup(plural);
    e->singular = st_xstrdup(singular && *singular ? singular : "");
    if (!*e->singular) {
        free(e->singular);
        e->singular = st_xstrdup(kind);
        for (char *c = e->singular; *c; c++)
            *c = (char)tolower((unsigned char)*c);
    }
    e->key = st_xasprintf("%s/%s", group, plural);
    e->api_version = *group ? st_xasprintf("%s/%s", group, version) : st_xstrdup(version);
    e->stored = true;
    return e;
}

static void
registry_push(struct registry *r, struct reg_resource *e)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 32;
        r->v = st_xrealloc(r->v, r->cap * sizeof(*r->v));
    }
    r->v[r->n++] = e;
}

struct registry *
registry_new(void)
{
    struct registry *r = st_xcalloc(1, sizeof(*r));

    for (size_t i = 0; i < ST_ARRAY_LEN(registry_builtins); i++) {
        const struct registry_builtin *b = &registry_builtins[i];
        struct reg_resource *e =
            registry_entry_new(b->group, b->version, b->kind, b->plural, b->singular);
        registry_split(b->short_names, &e->short_names, &e->n_short_names);
        registry_split(b->categories, &e->categories, &e->n_categories);
        e->namespaced = b->namespaced;
        e->verbs = b->verbs;
        e->status = b->status;
        e->stored = b->stored;
        e->table = b->table;
        registry_push(r, e);
    }
    return r;
}

struct registry *
registry_free(struct registry *r)
{
    if (!r)
        return NULL;
    for (size_t i = 0; i < r->n; i++)
        registry_entry_free(r->v[i]);
    free(r->v);
    free(r);
    return NULL;
}

size_t
registry_count(const struct registry *r)
{
    return r->n;
}

const struct reg_resource *
registry_at(const struct registry *r, size_t i)
{
    return i < r->n ? r->v[i] : NULL;
}

const struct reg_resource *
registry_find(const struct registry *r, const char *group, const char *version, const char *plural)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct reg_resource *e = r->v[i];
        if (!strcmp(e->group, group) && !strcmp(e->version, version) && !strcmp(e->plural, plural))
            return e;
    }
    for (size_t i = 0; i < r->n; i++) {
        const struct reg_resource *e = r->v[i];
        if (strcmp(e->group, group) || strcmp(e->version, version))
            continue;
        if (!strcasecmp(e->kind, plural) || !strcasecmp(e->singular, plural))
            return e;
        for (size_t j = 0; j < e->n_short_names; j++)
            if (!strcasecmp(e->short_names[j], plural))
                return e;
    }
    return NULL;
}

const struct reg_resource *
registry_find_kind(const struct registry *r, const char *group, const char *version,
                   const char *kind)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct reg_resource *e = r->v[i];
        if (!strcmp(e->group, group) && !strcmp(e->version, version) && !strcmp(e->kind, kind))
            return e;
    }
    return NULL;
}

const struct reg_resource *
registry_find_any(const struct registry *r, const char *group, const char *plural)
{
    const struct reg_resource *best = NULL;

    for (size_t i = 0; i < r->n; i++) {
        const struct reg_resource *e = r->v[i];
        if (strcmp(e->group, group) || strcmp(e->plural, plural))
            continue;
        if (!best || registry_version_cmp(e->version, best->version) < 0)
            best = e;
    }
    return best;
}

bool
registry_has_group_version(const struct registry *r, const char *group, const char *version)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->v[i]->group, group) && !strcmp(r->v[i]->version, version))
            return true;
    return false;
}

/* ---- version priority -------------------------------------------------- */

/*
 * Parses "v<major>[(alpha|beta)<minor>]". Returns the stability class
 * (3 GA, 2 beta, 1 alpha) or 0 when the string is not of that shape.
 */
static int
registry_version_parse(const char *s, uint64_t *major, uint64_t *minor)
{
    const char *p = s;
    int cls = 3;

    *major = *minor = 0;
    if (*p++ != 'v' || !isdigit((unsigned char)*p) || *p == '0')
        return 0;
    while (isdigit((unsigned char)*p)) {
        if (*major > 100000)
            return 0;
        *major = *major * 10 + (uint64_t)(*p++ - '0');
    }
    if (!*p)
        return cls;
    if (!strncmp(p, "alpha", 5)) {
        cls = 1;
        p += 5;
    } else if (!strncmp(p, "beta", 4)) {
        cls = 2;
        p += 4;
    } else {
        return 0;
    }
    if (!isdigit((unsigned char)*p) || *p == '0')
        return 0;
    while (isdigit((unsigned char)*p)) {
        if (*minor > 100000)
            return 0;
        *minor = *minor * 10 + (uint64_t)(*p++ - '0');
    }
    return *p ? 0 : cls;
}

int
registry_version_cmp(const char *a, const char *b)
{
    uint64_t amaj, amin, bmaj, bmin;
    int ac = registry_version_parse(a, &amaj, &amin);
    int bc = registry_version_parse(b, &bmaj, &bmin);

    if (ac != bc)
        return bc - ac;
    if (ac == 0)
        return strcmp(a, b);
    if (amaj != bmaj)
        return amaj > bmaj ? -1 : 1;
    if (amin != bmin)
        return amin > bmin ? -1 : 1;
    return 0;
}

/* ---- CRDs ---------------------------------------------------------------- */

static void
registry_cause(json_t *causes, const char *field, const char *msg)
{
    if (!causes)
        return;
    json_array_append_new(causes, json_pack("{s:s,s:s,s:s}", "reason", "FieldValueInvalid",
                                            "message", msg, "field", field));
}

static const char *
registry_str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* Kind names: an upper-case-first identifier, as Go type names. */
static bool
registry_kind_ok(const char *s)
{
    if (!isalpha((unsigned char)*s) || strlen(s) > 63)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s))
            return false;
    return true;
}

int
registry_crd_validate(const json_t *crd, json_t *causes, struct st_err *err)
{
    const json_t *spec = json_object_get(crd, "spec");
    const json_t *names = json_object_get(spec, "names");
    const json_t *versions = json_object_get(spec, "versions");
    const char *group = registry_str(spec, "group");
    const char *plural = registry_str(names, "plural");
    const char *singular = registry_str(names, "singular");
    const char *kind = registry_str(names, "kind");
    const char *scope = registry_str(spec, "scope");
    const char *name = registry_str(json_object_get(crd, "metadata"), "name");
    char first[256] = "";
    size_t nstorage = 0;

#define REG_BAD(field, ...)                                                                        \
    do {                                                                                           \
        char m_[200];                                                                              \
        snprintf(m_, sizeof(m_), __VA_ARGS__);                                                     \
        registry_cause(causes, field, m_);                                                         \
        if (!*first)                                                                               \
            snprintf(first, sizeof(first), "%s: Invalid value: %s", field, m_);                    \
    } while (0)

    if (!json_is_object(spec))
        REG_BAD("spec", "must be an object");
    if (!*group || !st_dns1123_subdomain(group) || !strchr(group, '.'))
        REG_BAD("spec.group", "should be a domain with at least one dot");
    if (!*plural || !st_dns1123_label(plural))
        REG_BAD("spec.names.plural", "a lowercase RFC 1123 label is required");
    if (*singular && !st_dns1123_label(singular))
        REG_BAD("spec.names.singular", "a lowercase RFC 1123 label is required");
    if (!*kind || !registry_kind_ok(kind))
        REG_BAD("spec.names.kind", "must be a valid kind name");
    if (strcmp(scope, "Namespaced") && strcmp(scope, "Cluster"))
        REG_BAD("spec.scope", "must be either Namespaced or Cluster");
    if (*group && *plural) {
        char want[512];
        snprintf(want, sizeof(want), "%s.%s", plural, group);
        if (strcmp(name, want))
            REG_BAD("metadata.name", "must be spec.names.plural+\".\"+spec.group");
    }
    const json_t *sn = json_object_get(names, "shortNames");
    if (sn && !json_is_array(sn))
        REG_BAD("spec.names.shortNames", "must be a list");
    for (size_t i = 0; json_is_array(sn) && i < json_array_size(sn); i++) {
        const char *s = json_string_value(json_array_get(sn, i));
        if (!s || !st_dns1123_label(s))
            REG_BAD("spec.names.shortNames", "a lowercase RFC 1123 label is required");
    }
    if (!json_is_array(versions) || json_array_size(versions) == 0) {
        REG_BAD("spec.versions", "must have at least one version");
    } else if (json_array_size(versions) > 32) {
        REG_BAD("spec.versions", "too many versions");
    } else {
        for (size_t i = 0; i < json_array_size(versions); i++) {
            const json_t *v = json_array_get(versions, i);
            const char *vn = registry_str(v, "name");
            if (!st_dns1123_label(vn))
                REG_BAD("spec.versions.name", "must be a DNS-1123 label");
            for (size_t j = 0; j < i; j++)
                if (!strcmp(vn, registry_str(json_array_get(versions, j), "name")))
                    REG_BAD("spec.versions", "must contain unique version names");
            if (json_is_true(json_object_get(v, "storage")))
                nstorage++;
            if (!json_is_boolean(json_object_get(v, "served")))
                REG_BAD("spec.versions.served", "must be a boolean");
        }
        if (nstorage != 1)
            REG_BAD("spec.versions", "must have exactly one version marked as storage version");
    }
#undef REG_BAD
    if (*first)
        return st_err_set(err, ST_EINVAL, "%s", first);
    return 0;
}

int
registry_add_crd(struct registry *r, const json_t *crd, struct st_err *err)
{
    const json_t *spec = json_object_get(crd, "spec");
    const json_t *names = json_object_get(spec, "names");
    const json_t *versions = json_object_get(spec, "versions");
    const char *group = registry_str(spec, "group");
    const char *plural = registry_str(names, "plural");

    for (size_t i = 0; i < r->n; i++)
        if (!r->v[i]->crd && !strcmp(r->v[i]->group, group) && !strcmp(r->v[i]->plural, plural))
            return st_err_set(err, -EEXIST, "%s/%s is a built-in resource", group, plural);
    registry_remove_crd(r, group, plural);
    for (size_t i = 0; i < json_array_size(versions); i++) {
        const json_t *v = json_array_get(versions, i);
        if (!json_is_true(json_object_get(v, "served")))
            continue;
        struct reg_resource *e =
            registry_entry_new(group, registry_str(v, "name"), registry_str(names, "kind"), plural,
                               registry_str(names, "singular"));
        const char *lk = registry_str(names, "listKind");
        if (*lk) {
            free(e->list_kind);
            e->list_kind = st_xstrdup(lk);
        }
        const json_t *sn = json_object_get(names, "shortNames");
        for (size_t j = 0; j < json_array_size(sn); j++) {
            e->short_names = st_xrealloc(e->short_names, (j + 1) * sizeof(char *));
            e->short_names[e->n_short_names++] =
                st_xstrdup(json_string_value(json_array_get(sn, j)));
        }
        const json_t *cat = json_object_get(names, "categories");
        for (size_t j = 0; j < json_array_size(cat); j++) {
            const char *c = json_string_value(json_array_get(cat, j));
            if (!c)
                continue;
            e->categories = st_xrealloc(e->categories, (e->n_categories + 1) * sizeof(char *));
            e->categories[e->n_categories++] = st_xstrdup(c);
        }
        e->namespaced = !strcmp(registry_str(spec, "scope"), "Namespaced");
        e->verbs = REG_VERBS_ALL;
        e->status = json_object_get(json_object_get(v, "subresources"), "status") != NULL;
        e->crd = true;
        e->storage = json_is_true(json_object_get(v, "storage"));
        e->table = REG_TABLE_DEFAULT;
        const json_t *cols = json_object_get(v, "additionalPrinterColumns");
        if (json_is_array(cols))
            e->columns = json_deep_copy(cols);
        const json_t *schema = json_object_get(json_object_get(v, "schema"), "openAPIV3Schema");
        if (json_is_object(schema))
            e->schema = json_deep_copy(schema);
        registry_push(r, e);
    }
    return 0;
}

void
registry_remove_crd(struct registry *r, const char *group, const char *plural)
{
    size_t w = 0;

    for (size_t i = 0; i < r->n; i++) {
        struct reg_resource *e = r->v[i];
        if (e->crd && !strcmp(e->group, group) && !strcmp(e->plural, plural))
            registry_entry_free(e);
        else
            r->v[w++] = e;
    }
    r->n = w;
}

/* ---- discovery ----------------------------------------------------------- */

static json_t *
registry_str_array(char **v, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *
registry_verbs(unsigned verbs)
{
    json_t *a = json_array();

    for (size_t i = 0; i < ST_ARRAY_LEN(registry_verb_names); i++)
        if (verbs & (1u << i))
            json_array_append_new(a, json_string(registry_verb_names[i]));
    return a;
}

/* Sorted, distinct versions of <group>, highest priority first; a new array of borrowed strings. */
static size_t
registry_group_versions(const struct registry *r, const char *group, const char **out, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < r->n; i++) {
        const struct reg_resource *e = r->v[i];
        bool seen = false;
        if (strcmp(e->group, group))
            continue;
        for (size_t j = 0; j < n; j++)
            seen = seen || !strcmp(out[j], e->version);
        if (seen || n == max)
            continue;
        /* Insertion keeps the list in priority order. */
        size_t k = n++;
        while (k > 0 && registry_version_cmp(e->version, out[k - 1]) < 0) {
            out[k] = out[k - 1];
            k--;
        }
        out[k] = e->version;
    }
    return n;
}

static int
registry_group_rank(const char *g)
{
    for (size_t i = 0; i < ST_ARRAY_LEN(registry_group_order); i++)
        if (!strcmp(registry_group_order[i], g))
            return (int)i;
    return (int)ST_ARRAY_LEN(registry_group_order);
}

/* Distinct named groups in discovery order; borrowed strings. */
static size_t
registry_groups(const struct registry *r, const char **out, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < r->n; i++) {
        const char *g = r->v[i]->group;
        bool seen = false;
        if (!*g)
            continue;
        for (size_t j = 0; j < n; j++)
            seen = seen || !strcmp(out[j], g);
        if (seen || n == max)
            continue;
        size_t k = n++;
        while (k > 0) {
            int ra = registry_group_rank(g), rb = registry_group_rank(out[k - 1]);
            if (ra > rb || (ra == rb && strcmp(g, out[k - 1]) > 0))
                break;
            out[k] = out[k - 1];
            k--;
        }
        out[k] = g;
    }
    return n;
}

#define REG_MAX_LIST 256

json_t *
registry_doc_core_versions(const struct registry *r)
{
    return json_pack("{s:s,s:[s],s:[{s:s,s:s}]}", "kind", "APIVersions", "versions", "v1",
                     "serverAddressByClientCIDRs", "clientCIDR", "0.0.0.0/0", "serverAddress",
                     "127.0.0.1:6443");
}

static json_t *
registry_group_body(const struct registry *r, const char *group)
{
    const char *vers[REG_MAX_LIST];
    size_t n = registry_group_versions(r, group, vers, REG_MAX_LIST);

    if (n == 0)
        return NULL;
    json_t *versions = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(versions, json_pack("{s:s+++,s:s}", "groupVersion", group, "/",
                                                  vers[i], "", "version", vers[i]));
    return json_pack("{s:s,s:o,s:{s:s+++,s:s}}", "name", group, "versions", versions,
                     "preferredVersion", "groupVersion", group, "/", vers[0], "", "version",
                     vers[0]);
}

json_t *
registry_doc_group_list(const struct registry *r)
{
    const char *groups[REG_MAX_LIST];
    size_t n = registry_groups(r, groups, REG_MAX_LIST);
    json_t *items = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, registry_group_body(r, groups[i]));
    return json_pack("{s:s,s:s,s:o}", "kind", "APIGroupList", "apiVersion", "v1", "groups", items);
}

json_t *
registry_doc_group(const struct registry *r, const char *group)
{
    json_t *g = *group ? registry_group_body(r, group) : NULL;

    if (!g)
        return NULL;
    json_object_set_new(g, "kind", json_string("APIGroup"));
    json_object_set_new(g, "apiVersion", json_string("v1"));
    return g;
}

json_t *
registry_doc_resource_list(const struct registry *r, const char *group, const char *version)
{
    json_t *res = json_array();
    bool any = false;

    for (size_t i = 0; i < r->n; i++) {
        const struct reg_resource *e = r->v[i];
        if (strcmp(e->group, group) || strcmp(e->version, version))
            continue;
        any = true;
        json_t *o = json_pack("{s:s,s:s,s:b,s:s,s:o}", "name", e->plural, "singularName",
                              e->singular, "namespaced", e->namespaced, "kind", e->kind, "verbs",
                              registry_verbs(e->verbs));
        if (e->n_short_names)
            json_object_set_new(o, "shortNames",
                                registry_str_array(e->short_names, e->n_short_names));
        if (e->n_categories)
            json_object_set_new(o, "categories",
                                registry_str_array(e->categories, e->n_categories));
        json_array_append_new(res, o);
        if (e->status)
            json_array_append_new(res, json_pack("{s:s+,s:s,s:b,s:s,s:o}", "name", e->plural,
                                                 "/status", "singularName", "", "namespaced",
                                                 e->namespaced, "kind", e->kind, "verbs",
                                                 registry_verbs(REG_GET | REG_PATCH | REG_UPDATE)));
    }
    if (!any) {
        json_decref(res);
        return NULL;
    }
    return json_pack("{s:s,s:s,s:s++,s:o}", "kind", "APIResourceList", "apiVersion", "v1",
                     "groupVersion", group, *group ? "/" : "", version, "resources", res);
}

static json_t *
registry_aggregated_group(const struct registry *r, const char *group)
{
    const char *vers[REG_MAX_LIST];
    size_t nv = registry_group_versions(r, group, vers, REG_MAX_LIST);
    json_t *versions = json_array();

    for (size_t v = 0; v < nv; v++) {
        json_t *res = json_array();
        for (size_t i = 0; i < r->n; i++) {
            const struct reg_resource *e = r->v[i];
            if (strcmp(e->group, group) || strcmp(e->version, vers[v]))
                continue;
            json_t *o =
                json_pack("{s:s,s:{s:s,s:s,s:s},s:s,s:s,s:o}", "resource", e->plural,
                          "responseKind", "group", e->group, "version", e->version, "kind", e->kind,
                          "scope", e->namespaced ? "Namespaced" : "Cluster", "singularResource",
                          e->singular, "verbs", registry_verbs(e->verbs));
            if (e->n_short_names)
                json_object_set_new(o, "shortNames",
                                    registry_str_array(e->short_names, e->n_short_names));
            if (e->n_categories)
                json_object_set_new(o, "categories",
                                    registry_str_array(e->categories, e->n_categories));
            if (e->status)
                json_object_set_new(o, "subresources",
                                    json_pack("[{s:s,s:{s:s,s:s,s:s},s:o}]", "subresource",
                                              "status", "responseKind", "group", e->group,
                                              "version", e->version, "kind", e->kind, "verbs",
                                              registry_verbs(REG_GET | REG_PATCH | REG_UPDATE)));
            json_array_append_new(res, o);
        }
        json_array_append_new(versions, json_pack("{s:s,s:o,s:s}", "version", vers[v], "resources",
                                                  res, "freshness", "Current"));
    }
    return json_pack("{s:{s:s},s:o}", "metadata", "name", group, "versions", versions);
}

json_t *
registry_doc_aggregated(const struct registry *r, bool core)
{
    json_t *items = json_array();

    if (core) {
        json_array_append_new(items, registry_aggregated_group(r, ""));
    } else {
        const char *groups[REG_MAX_LIST];
        size_t n = registry_groups(r, groups, REG_MAX_LIST);
        for (size_t i = 0; i < n; i++)
            json_array_append_new(items, registry_aggregated_group(r, groups[i]));
    }
    return json_pack("{s:s,s:s,s:{},s:o}", "kind", "APIGroupDiscoveryList", "apiVersion",
                     "apidiscovery.k8s.io/v2", "metadata", "items", items);
}
