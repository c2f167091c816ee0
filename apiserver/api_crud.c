/*
 * The verbs of the API layer: get, list, create, update, patch, delete and
 * deletecollection, with Kubernetes' object metadata rules and the built-in
 * behaviour of Namespaces, Services, Secrets and CustomResourceDefinitions.
 */
#include "api_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "patch.h"
#include "selector.h"
#include "store.h"

#define CRUD_MSG_SUBDOMAIN                                                                         \
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "   \
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "  \
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
#define CRUD_MSG_LABEL                                                                             \
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "   \
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "     \
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
#define CRUD_MSG_DNS1035                                                                           \
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "   \
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "           \
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"

/* ---- small helpers ---------------------------------------------------------- */

static bool
crud_is(const struct reg_resource *r, const char *group, const char *plural)
{
    return !strcmp(r->group, group) && !strcmp(r->plural, plural);
}

static const char *
crud_str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* The namespace the store keys this request's objects by. */
static const char *
crud_store_ns(const struct api_ctx *c)
{
    if (!c->res->namespaced)
        return "";
    return c->ns;
}

static void
crud_uuid(char out[37])
{
    uint8_t b[16];

    st_random_bytes(b, sizeof(b));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

static json_t *
crud_now_json(void)
{
    char ts[21];
    st_rfc3339(st_wall_s(), ts);
    return json_string(ts);
}

/* Which kinds track metadata.generation (CRs, CRDs, Deployments). */
static bool
crud_tracks_generation(const struct reg_resource *r)
{
    return r->crd || crud_is(r, "apps", "deployments") ||
           crud_is(r, "apiextensions.k8s.io", "customresourcedefinitions");
}

static bool
crud_notifies_auth(const struct reg_resource *r)
{
    return (!*r->group &&
            (!strcmp(r->plural, "secrets") || !strcmp(r->plural, "serviceaccounts"))) ||
           !strcmp(r->group, "rbac.authorization.k8s.io");
}

static void
crud_notify(struct api *a, const struct reg_resource *r, const char *type, const json_t *obj)
{
    if (crud_notifies_auth(r))
        auth_notify(a->au, r->group, r->plural, type, obj);
}

/*
 * A 422 Invalid answer for one field: message
 * `<Kind> "<name>" is invalid: <field>: <detail>`, with one cause.
 */
static int crud_invalid(struct api_ctx *c, const char *name, const char *field, const char *cause,
                        const char *fmt, ...) ST_PRINTF(5, 6);

static int
crud_invalid(struct api_ctx *c, const char *name, const char *field, const char *cause,
             const char *fmt, ...)
{
    char detail[700];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    json_t *causes =
        json_pack("[{s:s,s:s,s:s}]", "reason", cause, "message", detail, "field", field);
    c->status_kind = c->res->kind;
    const char *saved = c->name;
    c->name = (char *)(name ? name : "");
    int rc = api_fail(c, 422, "Invalid", causes, "%s%s%s \"%s\" is invalid: %s: %s", c->res->kind,
                      *c->res->group ? "." : "", c->res->group, name ? name : "", field, detail);
    c->name = (char *)saved;
    return rc;
}

static int
crud_conflict(struct api_ctx *c, const char *name, const char *detail)
{
    char q[300];
    return api_fail(c, 409, "Conflict", NULL, "Operation cannot be fulfilled on %s \"%s\": %s",
                    api_qualified(c->res, q, sizeof(q)), name, detail);
}

static int
crud_not_found(struct api_ctx *c, const char *name)
{
    const char *saved = c->name;
    c->name = (char *)name;
    int rc = api_not_found(c, c->res->plural, c->res->group, name);
    c->name = (char *)saved;
    return rc;
}

static int
crud_store_error(struct api_ctx *c, int code, const char *name, const struct st_err *err)
{
    char q[300];

    switch (code) {
    case ST_ENOTFOUND:
        return crud_not_found(c, name);
    case ST_ECONFLICT:
        return crud_conflict(c, name,
                             "the object has been modified; please apply your changes to the "
                             "latest version and try again");
    case -EEXIST:
        return api_fail(c, 409, "AlreadyExists", NULL, "%s \"%s\" already exists",
                        api_qualified(c->res, q, sizeof(q)), name);
    case ST_ETOOBIG:
        return api_fail(c, 413, "RequestEntityTooLarge", NULL,
                        "Request entity too large: the object exceeds the size limit");
    default:
        return api_fail_code(c, code, err);
    }
}

void
api_crud_present(const struct reg_resource *r, json_t *obj)
{
    json_object_set_new(obj, "apiVersion", json_string(r->api_version));
    json_object_set_new(obj, "kind", json_string(r->kind));
}

/* Answers with one object (stolen) as JSON or as a one-row Table. */
static int
crud_reply_obj(struct api_ctx *c, int status, json_t *obj)
{
    api_crud_present(c->res, obj);
    if (c->format == API_FMT_TABLE) {
        struct table_opts to = {c->include, c->table_version, st_wall_s()};
        json_t *t = table_new(c->res, &to);
        table_add_row(t, c->res, obj, &to);
        json_decref(obj);
        obj = t;
    }
    return api_reply(c, status, obj);
}

/* ---- get and list -------------------------------------------------------------- */

int
api_crud_get(struct api_ctx *c)
{
    struct st_err err = {0};
    json_t *obj = NULL;
    int rc = store_get(c->a->st, c->res->key, crud_store_ns(c), c->name, &obj, &err);

    if (rc < 0)
        return crud_store_error(c, rc, c->name, &err);
    return crud_reply_obj(c, 200, obj);
}

static const char *const crud_fields_common[] = {"metadata.name", "metadata.namespace"};
static const char *const crud_fields_secret[] = {"metadata.name", "metadata.namespace", "type"};
static const char *const crud_fields_service[] = {"metadata.name", "metadata.namespace",
                                                  "spec.clusterIP", "spec.type"};
static const char *const crud_fields_namespace[] = {"metadata.name", "metadata.namespace",
                                                    "status.phase"};
static const char *const crud_fields_event[] = {
    "metadata.name",
    "metadata.namespace",
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
};

int
api_crud_check_fields(const struct reg_resource *r, const struct selector *fields,
                      struct st_err *err)
{
    const char *const *allowed = crud_fields_common;
    size_t n = ST_ARRAY_LEN(crud_fields_common);

    if (!fields)
        return 0;
    if (!*r->group && !strcmp(r->plural, "secrets")) {
        allowed = crud_fields_secret;
        n = ST_ARRAY_LEN(crud_fields_secret);
    } else if (!*r->group && !strcmp(r->plural, "services")) {
        allowed = crud_fields_service;
        n = ST_ARRAY_LEN(crud_fields_service);
    } else if (!*r->group && !strcmp(r->plural, "namespaces")) {
        allowed = crud_fields_namespace;
        n = ST_ARRAY_LEN(crud_fields_namespace);
    } else if (!*r->group && !strcmp(r->plural, "events")) {
        allowed = crud_fields_event;
        n = ST_ARRAY_LEN(crud_fields_event);
    }
    return selector_fields_allowed(fields, allowed, n, err);
}

/* Parses labelSelector and fieldSelector; answers 400 and returns the status on failure. */
static int
crud_selectors(struct api_ctx *c, struct selector **labels, struct selector **fields)
{
    struct st_err err = {0};
    int rc;

    *labels = *fields = NULL;
    if ((rc = selector_parse_labels(api_q(c, "labelSelector"), labels, &err)) < 0)
        return api_fail(c, 400, "BadRequest", NULL, "%s", err.msg);
    if ((rc = selector_parse_fields(api_q(c, "fieldSelector"), fields, &err)) < 0 ||
        (rc = api_crud_check_fields(c->res, *fields, &err)) < 0) {
        *labels = selector_free(*labels);
        *fields = selector_free(*fields);
        return api_fail(c, 400, "BadRequest", NULL, "%s", err.msg);
    }
    return 0;
}

int
api_crud_list(struct api_ctx *c)
{
    struct selector *labels = NULL, *fields = NULL;
    struct store_list_result res = {0};
    struct st_err err = {0};
    uint64_t limit = 0;
    int rc;

    const char *lim = api_q(c, "limit");
    if (lim && *lim && st_parse_u64(st_str_c(lim), UINT32_MAX, &limit) < 0)
        return api_fail(c, 400, "BadRequest", NULL, "invalid limit: %s", lim);
    /*
     * A page never holds more than API_MAX_PAGE objects: a larger limit gets
     * that many and a continue token, which paging clients follow. A list
     * without a limit is whole, as in Kubernetes, bounded by the response cap.
     */
    if (limit > API_MAX_PAGE)
        limit = API_MAX_PAGE;
    if ((rc = crud_selectors(c, &labels, &fields)) != 0)
        return rc;
    struct store_list_opts lo = {labels, fields, (size_t)limit, api_q(c, "continue")};
    const char *ns = c->res->namespaced ? (c->ns && *c->ns ? c->ns : NULL) : "";
    rc = store_list(c->a->st, c->res->key, ns, &lo, &res, &err);
    selector_free(labels);
    selector_free(fields);
    if (rc == ST_EGONE)
        return api_fail(c, 410, "Expired", NULL,
                        "The provided continue parameter is too old to display a consistent list "
                        "result. You can start a new list without the continue parameter.");
    if (rc == ST_EPARSE)
        return api_fail(c, 400, "BadRequest", NULL, "invalid continue token: %s", err.msg);
    if (rc < 0)
        return api_fail_code(c, rc, &err);

    char rvs[32];
    snprintf(rvs, sizeof(rvs), "%" PRIu64, res.rv);
    json_t *md = json_pack("{s:s}", "resourceVersion", rvs);
    if (res.continue_token) {
        json_object_set_new(md, "continue", json_string(res.continue_token));
        if (res.remaining >= 0)
            json_object_set_new(md, "remainingItemCount", json_integer(res.remaining));
    }
    json_t *out;
    size_t i;
    json_t *item;
    if (c->format == API_FMT_TABLE) {
        struct table_opts to = {c->include, c->table_version, st_wall_s()};
        out = table_new(c->res, &to);
        json_array_foreach(res.items, i, item)
        {
            api_crud_present(c->res, item);
            table_add_row(out, c->res, item, &to);
        }
        json_object_set_new(out, "metadata", md);
    } else {
        json_array_foreach(res.items, i, item) api_crud_present(c->res, item);
        out = json_pack("{s:s,s:s,s:o,s:O}", "kind", c->res->list_kind, "apiVersion",
                        c->res->api_version, "metadata", md, "items", res.items);
    }
    store_list_result_clear(&res);
    return api_reply(c, 200, out);
}

/* ---- ClusterIPs ------------------------------------------------------------------- */

int
api_crud_set_cidr(struct api *a, const char *cidr, struct st_err *err)
{
    char ip[32];
    const char *slash = strchr(cidr, '/');
    uint64_t bits;
    struct in_addr in;

    if (!slash || (size_t)(slash - cidr) >= sizeof(ip))
        return st_err_set(err, ST_EINVAL, "bad service CIDR %s", cidr);
    memcpy(ip, cidr, (size_t)(slash - cidr));
    ip[slash - cidr] = '\0';
    if (inet_pton(AF_INET, ip, &in) != 1 || st_parse_u64(st_str_c(slash + 1), 32, &bits) < 0 ||
        bits < 12 || bits > 30)
        return st_err_set(err, ST_EINVAL, "bad service CIDR %s (IPv4, /12 to /30)", cidr);
    a->cidr_size = 1u << (32 - bits);
    a->cidr_net = ntohl(in.s_addr) & ~(a->cidr_size - 1);
    free(a->ip_used);
    a->ip_used = st_xcalloc(a->cidr_size / 8, 1);
    a->ip_valid = false;
    return 0;
}

/* Returns the offset of <ip> in the CIDR, or -1 when outside or malformed. */
static int64_t
crud_ip_offset(const struct api *a, const char *ip)
{
    struct in_addr in;

    if (!ip || inet_pton(AF_INET, ip, &in) != 1)
        return -1;
    uint32_t v = ntohl(in.s_addr);
    if ((v & ~(a->cidr_size - 1)) != a->cidr_net)
        return -1;
    return (int64_t)(v - a->cidr_net);
}

static void
crud_ip_mark(struct api *a, int64_t off, bool used)
{
    if (off < 0 || (uint64_t)off >= a->cidr_size)
        return;
    if (used)
        a->ip_used[off / 8] |= (uint8_t)(1u << (off % 8));
    else
        a->ip_used[off / 8] &= (uint8_t) ~(1u << (off % 8));
}

static bool
crud_ip_is_used(const struct api *a, int64_t off)
{
    return (a->ip_used[off / 8] >> (off % 8)) & 1;
}

static int
crud_ip_rebuild(struct api *a, struct st_err *err)
{
    struct store_list_result res = {0};
    size_t i;
    json_t *svc;

    if (a->ip_valid)
        return 0;
    int rc = store_list(a->st, "/services", NULL, NULL, &res, err);
    if (rc < 0)
        return rc;
    memset(a->ip_used, 0, a->cidr_size / 8);
    json_array_foreach(res.items, i, svc) crud_ip_mark(
        a, crud_ip_offset(a, crud_str(json_object_get(svc, "spec"), "clusterIP")), true);
    store_list_result_clear(&res);
    a->ip_valid = true;
    return 0;
}

/* Picks a free ClusterIP into <out>; ST_ETOOBIG when the range is full. */
static int
crud_ip_allocate(struct api *a, char out[INET_ADDRSTRLEN], int64_t *off_out, struct st_err *err)
{
    int rc = crud_ip_rebuild(a, err);
    if (rc < 0)
        return rc;
    uint32_t usable = a->cidr_size - 2; /* no network, no broadcast address */
    uint32_t start = (uint32_t)(st_random_u64() % usable);
    for (uint32_t i = 0; i < usable; i++) {
        int64_t off = 1 + (int64_t)((start + i) % usable);
        if (crud_ip_is_used(a, off))
            continue;
        struct in_addr in = {htonl(a->cidr_net + (uint32_t)off)};
        inet_ntop(AF_INET, &in, out, INET_ADDRSTRLEN);
        *off_out = off;
        return 0;
    }
    return st_err_set(err, ST_ETOOBIG, "the service CIDR is full");
}

/* ---- validation and defaults per kind ------------------------------------------- */

static bool
crud_path_segment_ok(const char *s)
{
    return *s && strcmp(s, ".") && strcmp(s, "..") && !strchr(s, '/') && !strchr(s, '%');
}

/* Checks metadata.name for <r>; answers 422 and returns the status when invalid. */
static int
crud_check_name(struct api_ctx *c, const char *name)
{
    const struct reg_resource *r = c->res;

    if (!strcmp(r->group, "rbac.authorization.k8s.io")) {
        if (!crud_path_segment_ok(name))
            return crud_invalid(c, name, "metadata.name", "FieldValueInvalid",
                                "Invalid value: \"%s\": may not be '.' or '..' and may not "
                                "contain '/' or '%%'",
                                name);
        return 0;
    }
    if (!*r->group && !strcmp(r->plural, "services")) {
        if (!st_dns1123_label(name) || !(name[0] >= 'a' && name[0] <= 'z'))
            return crud_invalid(c, name, "metadata.name", "FieldValueInvalid",
                                "Invalid value: \"%s\": %s", name, CRUD_MSG_DNS1035);
        return 0;
    }
    if (!*r->group && !strcmp(r->plural, "namespaces")) {
        if (!st_dns1123_label(name))
            return crud_invalid(c, name, "metadata.name", "FieldValueInvalid",
                                "Invalid value: \"%s\": %s", name, CRUD_MSG_LABEL);
        return 0;
    }
    if (!st_dns1123_subdomain(name))
        return crud_invalid(c, name, "metadata.name", "FieldValueInvalid",
                            "Invalid value: \"%s\": %s", name, CRUD_MSG_SUBDOMAIN);
    return 0;
}

/* Config keys of Secrets and ConfigMaps: [-._a-zA-Z0-9]+, at most 253 bytes. */
static bool
crud_config_key_ok(const char *k)
{
    size_t n = strlen(k);

    if (n == 0 || n > 253 || !strcmp(k, ".") || !strcmp(k, ".."))
        return false;
    for (; *k; k++)
        if (!(isalnum((unsigned char)*k) || *k == '-' || *k == '_' || *k == '.'))
            return false;
    return true;
}

static int
crud_check_string_map(struct api_ctx *c, const char *name, const json_t *m, const char *field)
{
    const char *k;
    json_t *v;

    if (!m || json_is_null(m))
        return 0;
    if (!json_is_object(m))
        return api_fail(c, 400, "BadRequest", NULL,
                        "%s in version \"%s\" cannot be handled as a %s: %s must be a map of "
                        "strings",
                        c->res->kind, c->res->version, c->res->kind, field);
    json_object_foreach((json_t *)m, k, v)
    {
        if (!json_is_string(v))
            return api_fail(c, 400, "BadRequest", NULL,
                            "%s in version \"%s\" cannot be handled as a %s: %s.%s must be a "
                            "string",
                            c->res->kind, c->res->version, c->res->kind, field, k);
    }
    ST_UNUSED(name);
    return 0;
}

static int
crud_secret_prepare(struct api_ctx *c, const char *name, json_t *obj)
{
    json_t *data = json_object_get(obj, "data");
    json_t *sd = json_object_get(obj, "stringData");
    const char *k;
    json_t *v;
    int rc;

    if ((rc = crud_check_string_map(c, name, data, "data")) != 0 ||
        (rc = crud_check_string_map(c, name, sd, "stringData")) != 0)
        return rc;
    if (!crud_str(obj, "type"))
        json_object_set_new(obj, "type", json_string("Opaque"));
    json_object_foreach(data, k, v)
    {
        struct st_buf dec = ST_BUF_INIT(c->a->max_object_bytes);
        const char *s = json_string_value(v);
        rc = st_base64_decode(s, strlen(s), &dec);
        st_buf_free_secret(&dec);
        if (rc < 0)
            return api_fail(c, 400, "BadRequest", NULL,
                            "Secret in version \"v1\" cannot be handled as a Secret: illegal "
                            "base64 data in data.%s",
                            k);
    }
    /* stringData is merged into data (base64-encoded) and then dropped, as Kubernetes does. */
    if (json_is_object(sd)) {
        if (!json_is_object(data)) {
            data = json_object();
            json_object_set_new(obj, "data", data);
        }
        json_object_foreach(sd, k, v)
        {
            const char *s = json_string_value(v);
            char *enc = st_base64_encode(s, strlen(s));
            json_object_set_new(data, k, json_string(enc));
            free(enc);
        }
        json_object_del(obj, "stringData");
    }
    json_object_foreach(data, k, v)
    {
        if (!crud_config_key_ok(k))
            return crud_invalid(c, name, "data", "FieldValueInvalid",
                                "Invalid value: \"%s\": a valid config key must consist of "
                                "alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
                                "'KEY_NAME',  or 'key-name', regex used for validation is "
                                "'[-._a-zA-Z0-9]+')",
                                k);
    }
    if (!strcmp(crud_str(obj, "type"), "kubernetes.io/service-account-token")) {
        struct st_err err = {0};
        if (auth_fill_sa_token_secret(c->a->au, obj, &err) < 0)
            return crud_invalid(c, name, "metadata.annotations[kubernetes.io/service-account.name]",
                                "FieldValueInvalid", "Invalid value: %s", err.msg);
    }
    return 0;
}

static int
crud_configmap_prepare(struct api_ctx *c, const char *name, json_t *obj)
{
    const char *k;
    json_t *v;
    int rc;

    if ((rc = crud_check_string_map(c, name, json_object_get(obj, "data"), "data")) != 0 ||
        (rc = crud_check_string_map(c, name, json_object_get(obj, "binaryData"), "binaryData")))
        return rc;
    json_object_foreach(json_object_get(obj, "data"), k, v)
    {
        if (!crud_config_key_ok(k))
            return crud_invalid(c, name, "data", "FieldValueInvalid",
                                "Invalid value: \"%s\": a valid config key must consist of "
                                "alphanumeric characters, '-', '_' or '.'",
                                k);
    }
    return 0;
}

/*
 * Service defaults and validation. <old> is the stored Service on update (its
 * clusterIP is kept and may not change), NULL on create. On create with an
 * allocated IP, *alloc receives its offset (to mark it once stored).
 */
static int
crud_service_prepare(struct api_ctx *c, const char *name, json_t *obj, const json_t *old,
                     int64_t *alloc)
{
    json_t *spec = json_object_get(obj, "spec");
    const json_t *ospec = json_object_get(old, "spec");
    size_t i;
    json_t *p;

    *alloc = -1;
    if (!json_is_object(spec)) {
        if (spec && !json_is_null(spec))
            return api_fail(c, 400, "BadRequest", NULL, "spec must be an object");
        spec = json_object();
        json_object_set_new(obj, "spec", spec);
    }
    const char *type = crud_str(spec, "type");
    if (!type) {
        type = "ClusterIP";
        json_object_set_new(spec, "type", json_string(type));
    }
    if (strcmp(type, "ClusterIP") && strcmp(type, "NodePort") && strcmp(type, "LoadBalancer") &&
        strcmp(type, "ExternalName"))
        return crud_invalid(c, name, "spec.type", "FieldValueNotSupported",
                            "Unsupported value: \"%s\": supported values: \"ClusterIP\", "
                            "\"ExternalName\", \"LoadBalancer\", \"NodePort\"",
                            type);
    bool extname = !strcmp(type, "ExternalName");
    if (extname && !crud_str(spec, "externalName"))
        return crud_invalid(c, name, "spec.externalName", "FieldValueRequired", "Required value");
    if (!crud_str(spec, "sessionAffinity"))
        json_object_set_new(spec, "sessionAffinity", json_string("None"));
    int rc = crud_check_string_map(c, name, json_object_get(spec, "selector"), "spec.selector");
    if (rc)
        return rc;

    /* clusterIP: kept on update (immutable), allocated on create. */
    const char *want = crud_str(spec, "clusterIP");
    const char *had = crud_str(ospec, "clusterIP");
    if (old) {
        if (want && *want && had && strcmp(want, had))
            return crud_invalid(c, name, "spec.clusterIP", "FieldValueInvalid",
                                "Invalid value: \"%s\": field is immutable", want);
        if (had)
            json_object_set_new(spec, "clusterIP", json_string(had));
        else
            json_object_del(spec, "clusterIP");
        json_t *ips = json_object_get(ospec, "clusterIPs");
        if (ips)
            json_object_set_new(spec, "clusterIPs", json_deep_copy(ips));
    } else if (!extname) {
        char ipbuf[INET_ADDRSTRLEN];
        if (want && !strcmp(want, "None")) {
            /* headless */
        } else if (want && *want) {
            int64_t off = crud_ip_offset(c->a, want);
            struct st_err err = {0};
            if (off <= 0 || (uint64_t)off >= c->a->cidr_size - 1)
                return crud_invalid(c, name, "spec.clusterIPs[0]", "FieldValueInvalid",
                                    "Invalid value: \"%s\": provided IP is not in the valid range",
                                    want);
            if ((rc = crud_ip_rebuild(c->a, &err)) < 0)
                return api_fail_code(c, rc, &err);
            if (crud_ip_is_used(c->a, off))
                return crud_invalid(c, name, "spec.clusterIPs[0]", "FieldValueInvalid",
                                    "Invalid value: \"%s\": provided IP is already allocated",
                                    want);
            *alloc = off;
        } else {
            struct st_err err = {0};
            if ((rc = crud_ip_allocate(c->a, ipbuf, alloc, &err)) < 0)
                return api_fail(c, 500, "InternalError", NULL, "failed to allocate a serviceIP: %s",
                                err.msg);
            json_object_set_new(spec, "clusterIP", json_string(ipbuf));
        }
        json_object_set_new(spec, "clusterIPs", json_pack("[s]", crud_str(spec, "clusterIP")));
    }
    if (!extname) {
        if (!json_object_get(spec, "ipFamilies"))
            json_object_set_new(spec, "ipFamilies", json_pack("[s]", "IPv4"));
        if (!json_object_get(spec, "ipFamilyPolicy"))
            json_object_set_new(spec, "ipFamilyPolicy", json_string("SingleStack"));
        if (!json_object_get(spec, "internalTrafficPolicy"))
            json_object_set_new(spec, "internalTrafficPolicy", json_string("Cluster"));
    }

    json_t *ports = json_object_get(spec, "ports");
    bool headless = crud_str(spec, "clusterIP") && !strcmp(crud_str(spec, "clusterIP"), "None");
    if (ports && !json_is_array(ports))
        return api_fail(c, 400, "BadRequest", NULL, "spec.ports must be a list");
    if (json_array_size(ports) == 0 && !headless && !extname)
        return crud_invalid(c, name, "spec.ports", "FieldValueRequired", "Required value");
    json_array_foreach(ports, i, p)
    {
        char field[64];
        json_t *port = json_object_get(p, "port");
        snprintf(field, sizeof(field), "spec.ports[%zu].port", i);
        if (!json_is_object(p) || !json_is_integer(port) || json_integer_value(port) < 1 ||
            json_integer_value(port) > 65535)
            return crud_invalid(c, name, field, "FieldValueInvalid",
                                "Invalid value: %" JSON_INTEGER_FORMAT
                                ": must be between 1 and 65535, inclusive",
                                json_integer_value(port));
        const char *proto = crud_str(p, "protocol");
        if (!proto)
            json_object_set_new(p, "protocol", json_string("TCP"));
        else if (strcmp(proto, "TCP") && strcmp(proto, "UDP") && strcmp(proto, "SCTP")) {
            snprintf(field, sizeof(field), "spec.ports[%zu].protocol", i);
            return crud_invalid(c, name, field, "FieldValueNotSupported",
                                "Unsupported value: \"%s\": supported values: \"SCTP\", "
                                "\"TCP\", \"UDP\"",
                                proto);
        }
        if (!json_object_get(p, "targetPort"))
            json_object_set_new(p, "targetPort", json_integer(json_integer_value(port)));
        if (json_array_size(ports) > 1 && !crud_str(p, "name")) {
            snprintf(field, sizeof(field), "spec.ports[%zu].name", i);
            return crud_invalid(c, name, field, "FieldValueRequired", "Required value");
        }
    }
    return 0;
}

/* CRD defaults (names.singular, names.listKind) and status. <old> NULL on create. */
static int
crud_crd_prepare(struct api_ctx *c, const char *name, json_t *obj, const json_t *old)
{
    struct st_err err = {0};
    json_t *causes = json_array();

    if (registry_crd_validate(obj, causes, &err) < 0) {
        c->status_kind = c->res->kind;
        return api_fail(c, 422, "Invalid", causes,
                        "CustomResourceDefinition.apiextensions.k8s.io \"%s\" is invalid: %s", name,
                        err.msg);
    }
    json_decref(causes);
    json_t *spec = json_object_get(obj, "spec");
    json_t *names = json_object_get(spec, "names");
    const char *group = crud_str(spec, "group"), *plural = crud_str(names, "plural");
    const struct reg_resource *e = registry_find_any(c->a->reg, group, plural);
    if (e && !e->crd)
        return crud_invalid(c, name, "spec.names.plural", "FieldValueInvalid",
                            "Invalid value: \"%s\": conflicts with a built-in resource", plural);
    if (old) {
        const json_t *ospec = json_object_get(old, "spec");
        if (strcmp(group, crud_str(ospec, "group") ? crud_str(ospec, "group") : ""))
            return crud_invalid(c, name, "spec.group", "FieldValueInvalid",
                                "Invalid value: \"%s\": field is immutable", group);
    }
    if (!crud_str(names, "singular")) {
        char *s = st_xstrdup(crud_str(names, "kind"));
        for (char *p = s; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        json_object_set_new(names, "singular", json_string(s));
        free(s);
    }
    if (!crud_str(names, "listKind")) {
        char *lk = st_xasprintf("%sList", crud_str(names, "kind"));
        json_object_set_new(names, "listKind", json_string(lk));
        free(lk);
    }
    /* Established at once: there is no asynchronous controller to wait for. */
    json_t *stored = json_array();
    const json_t *ost = json_object_get(json_object_get(old, "status"), "storedVersions");
    size_t i;
    json_t *v;
    json_array_foreach(ost, i, v) json_array_append(stored, v);
    json_array_foreach(json_object_get(spec, "versions"), i, v)
    {
        if (!json_is_true(json_object_get(v, "storage")))
            continue;
        bool seen = false;
        size_t j;
        json_t *s;
        json_array_foreach(stored, j, s) seen = seen || json_equal(s, json_object_get(v, "name"));
        if (!seen)
            json_array_append(stored, json_object_get(v, "name"));
    }
    json_t *now = crud_now_json();
    json_object_set_new(obj, "status",
                        json_pack("{s:[{s:s,s:s,s:O,s:s,s:s},{s:s,s:s,s:O,s:s,s:s}],s:O,s:o}",
                                  "conditions", "type", "NamesAccepted", "status", "True",
                                  "lastTransitionTime", now, "reason", "NoConflicts", "message",
                                  "no conflicts found", "type", "Established", "status", "True",
                                  "lastTransitionTime", now, "reason", "InitialNamesAccepted",
                                  "message", "the initial names have been accepted",
                                  "acceptedNames", names, "storedVersions", stored));
    json_decref(now);
    return 0;
}

/* Validates a custom resource against its version's schema; 0 or an answered 422. */
static int
crud_cr_validate(struct api_ctx *c, const char *name, json_t *obj)
{
    const struct reg_resource *r = c->res;

    if (!r->crd || !r->schema)
        return 0;
    json_t *causes = json_array();
    if (api_schema_check(r->schema, obj, causes) == 0) {
        json_decref(causes);
        return 0;
    }
    struct st_buf m = ST_BUF_INIT(2048);
    size_t i;
    json_t *cause;
    json_array_foreach(causes, i, cause)
    {
        if (st_buf_appendf(&m, "%s%s: %s", i ? ", " : "",
                           json_string_value(json_object_get(cause, "field")),
                           json_string_value(json_object_get(cause, "message"))) < 0)
            break;
    }
    bool many = json_array_size(causes) > 1;
    c->status_kind = r->kind;
    const char *saved = c->name;
    c->name = (char *)name;
    int rc = api_fail(c, 422, "Invalid", causes, "%s.%s \"%s\" is invalid: %s%s%s", r->kind,
                      r->group, name, many ? "[" : "", st_buf_cstr(&m), many ? "]" : "");
    c->name = (char *)saved;
    st_buf_free(&m);
    return rc;
}

/* Kind-specific defaults and checks shared by create and update; returns 0 or an answered status.
 */
static int
crud_kind_prepare(struct api_ctx *c, const char *name, json_t *obj, const json_t *old,
                  int64_t *alloc)
{
    const struct reg_resource *r = c->res;

    *alloc = -1;
    if (r->crd)
        return crud_cr_validate(c, name, obj);
    if (!*r->group && !strcmp(r->plural, "services"))
        return crud_service_prepare(c, name, obj, old, alloc);
    if (!*r->group && !strcmp(r->plural, "secrets")) {
        if (old && crud_str(old, "type") &&
            strcmp(crud_str(old, "type"), crud_str(obj, "type") ? crud_str(obj, "type") : "Opaque"))
            return crud_invalid(c, name, "type", "FieldValueInvalid",
                                "Invalid value: \"%s\": field is immutable",
                                crud_str(obj, "type") ? crud_str(obj, "type") : "");
        return crud_secret_prepare(c, name, obj);
    }
    if (!*r->group && !strcmp(r->plural, "configmaps"))
        return crud_configmap_prepare(c, name, obj);
    if (!*r->group && !strcmp(r->plural, "namespaces")) {
        if (old)
            json_object_set_new(obj, "status", json_deep_copy(json_object_get(old, "status")));
        else
            json_object_set_new(obj, "status", json_pack("{s:s}", "phase", "Active"));
        json_t *spec = json_object_get(obj, "spec");
        if (!json_is_object(spec)) {
            spec = json_object();
            json_object_set_new(obj, "spec", spec);
        }
        if (!json_object_get(spec, "finalizers"))
            json_object_set_new(spec, "finalizers", json_pack("[s]", "kubernetes"));
        /* Every namespace carries its name as a label, as in Kubernetes. */
        json_t *md = json_object_get(obj, "metadata");
        json_t *labels = json_object_get(md, "labels");
        if (!json_is_object(labels)) {
            labels = json_object();
            json_object_set_new(md, "labels", labels);
        }
        json_object_set_new(labels, "kubernetes.io/metadata.name", json_string(name));
        return 0;
    }
    if (crud_is(r, "apiextensions.k8s.io", "customresourcedefinitions"))
        return crud_crd_prepare(c, name, obj, old);
    if (crud_is(r, "apps", "deployments")) {
        json_t *spec = json_object_get(obj, "spec");
        if (json_is_object(spec) && !json_object_get(spec, "replicas"))
            json_object_set_new(spec, "replicas", json_integer(1));
        return 0;
    }
    if (old && !strcmp(r->group, "rbac.authorization.k8s.io") &&
        st_str_has_suffix(r->plural, "bindings") &&
        !json_equal(json_object_get(old, "roleRef"), json_object_get(obj, "roleRef")))
        return crud_invalid(c, name, "roleRef", "FieldValueInvalid",
                            "Invalid value: the roleRef field is immutable: cannot change roleRef");
    if (!strcmp(r->group, "rbac.authorization.k8s.io")) {
        /* No one grants through RBAC what they do not hold themselves (escalate/bind). */
        struct st_err err = {0};
        int rc = auth_check_rbac_write(c->a->au, &c->user, r->plural, c->ns, obj, &err);
        if (rc == ST_EAUTH)
            return api_fail(c, 403, "Forbidden", NULL, "%s.%s \"%s\" is forbidden: %s", r->plural,
                            r->group, name, err.msg);
        if (rc < 0)
            return crud_invalid(c, name, "rules", "FieldValueInvalid", "%s", err.msg);
    }
    return 0;
}

/*
 * Checks and normalizes metadata of a body for create or update: it must be
 * an object, labels and annotations maps of strings, the namespace must match
 * the URL. Returns 0 or an answered status.
 */
static int
crud_check_metadata(struct api_ctx *c, json_t *obj, const char *ns)
{
    json_t *md = json_object_get(obj, "metadata");
    int rc;

    if (!md || json_is_null(md)) {
        md = json_object();
        json_object_set_new(obj, "metadata", md);
    }
    if (!json_is_object(md))
        return api_fail(c, 400, "BadRequest", NULL, "metadata must be an object");
    if ((rc = crud_check_string_map(c, NULL, json_object_get(md, "labels"), "metadata.labels")) !=
            0 ||
        (rc = crud_check_string_map(c, NULL, json_object_get(md, "annotations"),
                                    "metadata.annotations")) != 0)
        return rc;
    const char *bns = crud_str(md, "namespace");
    if (c->res->namespaced) {
        if (bns && *bns && strcmp(bns, ns))
            return api_fail(c, 400, "BadRequest", NULL,
                            "the namespace of the provided object does not match the namespace "
                            "sent on the request");
        json_object_set_new(md, "namespace", json_string(ns));
    } else {
        json_object_del(md, "namespace");
    }
    const char *av = crud_str(obj, "apiVersion"), *kind = crud_str(obj, "kind");
    if (av && *av && strcmp(av, c->res->api_version))
        return api_fail(c, 400, "BadRequest", NULL,
                        "the API version in the data (%s) does not match the expected API version "
                        "(%s)",
                        av, c->res->api_version);
    if (kind && *kind && strcmp(kind, c->res->kind))
        return api_fail(c, 400, "BadRequest", NULL,
                        "the kind in the data (%s) does not match the expected kind (%s)", kind,
                        c->res->kind);
    /* Fields the server owns. */
    json_object_del(md, "selfLink");
    json_object_del(md, "managedFields");
    json_object_del(md, "deletionTimestamp");
    json_object_del(md, "deletionGracePeriodSeconds");
    return 0;
}

/* The storage form of the apiVersion: a CRD's storage version. */
static void
crud_store_version(struct api_ctx *c, json_t *obj)
{
    const struct reg_resource *r = c->res;
    const char *av = r->api_version;

    if (r->crd && !r->storage) {
        for (size_t i = 0; i < registry_count(c->a->reg); i++) {
            const struct reg_resource *e = registry_at(c->a->reg, i);
            if (e->crd && e->storage && !strcmp(e->key, r->key))
                av = e->api_version;
        }
    }
    json_object_set_new(obj, "apiVersion", json_string(av));
    json_object_set_new(obj, "kind", json_string(r->kind));
}

/* ---- reviews (create-only kinds answered by auth) -------------------------------- */

static int
crud_review(struct api_ctx *c, json_t *body)
{
    struct st_err err = {0};
    json_t *out;

    /* The URL decides the kind; auth reads it from the body. */
    api_crud_present(c->res, body);
    if (c->res->namespaced) {
        json_t *md = json_object_get(body, "metadata");
        if (!json_is_object(md)) {
            md = json_object();
            json_object_set_new(body, "metadata", md);
        }
        json_object_set_new(md, "namespace", json_string(c->ns ? c->ns : ""));
    }
    if (crud_is(c->res, "authentication.k8s.io", "tokenreviews")) {
        out = auth_token_review(c->a->au, body);
        if (!out)
            st_err_set(&err, ST_EINVAL, "spec.token: Required value");
    } else if (crud_is(c->res, "authentication.k8s.io", "selfsubjectreviews")) {
        /* kubectl auth whoami: the requester as TokenReview would describe it. */
        json_t *groups = json_array();
        for (size_t i = 0; i < c->user.n_groups; i++)
            json_array_append_new(groups, json_string(c->user.groups[i]));
        out = json_pack("{s:{},s:{s:{s:s,s:s,s:o}}}", "metadata", "status", "userInfo", "username",
                        c->user.name ? c->user.name : "", "uid", c->user.uid ? c->user.uid : "",
                        "groups", groups);
    } else if (!strcmp(c->res->plural, "selfsubjectrulesreviews")) {
        out = auth_rules_review(c->a->au, &c->user, body, &err);
    } else {
        /* The kind comes from the URL, never from the body (a self review must not ask for others). */
        out = auth_access_review_as(c->a->au, &c->user, c->res->kind, c->ns, body, &err);
    }
    json_decref(body);
    if (!out) {
        c->status_kind = c->res->kind;
        return api_fail(c, 422, "Invalid", NULL, "%s.%s \"\" is invalid: %s", c->res->kind,
                        c->res->group, err.msg);
    }
    api_crud_present(c->res, out);
    return api_reply(c, 201, out);
}

/* ---- create ------------------------------------------------------------------------ */

static void
crud_generate_name(const char *prefix, char *out, size_t n)
{
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    char suffix[6];

    for (size_t i = 0; i < 5; i++)
        suffix[i] = alphabet[st_random_u64() % (sizeof(alphabet) - 1)];
    suffix[5] = '\0';
    snprintf(out, n, "%.*s%s", 58, prefix, suffix);
}

/* The "default" ServiceAccount of namespace <ns>; a new object. */
static json_t *
crud_default_sa(const char *ns)
{
    char uid[37];

    crud_uuid(uid);
    json_t *now = crud_now_json();
    json_t *sa = json_pack("{s:s,s:s,s:{s:s,s:s,s:s,s:O}}", "apiVersion", "v1", "kind",
                           "ServiceAccount", "metadata", "name", "default", "namespace", ns, "uid",
                           uid, "creationTimestamp", now);
    json_decref(now);
    return sa;
}

/* Checks that namespace <ns> exists and is not terminating; answers otherwise. */
static int
crud_check_namespace(struct api_ctx *c, const char *ns)
{
    json_t *nso = NULL;
    struct st_err err = {0};
    int rc = store_get(c->a->st, "/namespaces", "", ns, &nso, &err);

    if (rc == ST_ENOTFOUND) {
        const char *saved = c->name;
        c->name = (char *)ns;
        const struct reg_resource *r = c->res;
        c->res = registry_find(c->a->reg, "", "v1", "namespaces");
        rc = api_not_found(c, "namespaces", "", ns);
        c->res = r;
        c->name = (char *)saved;
        return rc;
    }
    if (rc < 0)
        return api_fail_code(c, rc, &err);
    bool terminating = json_object_get(json_object_get(nso, "metadata"), "deletionTimestamp");
    json_decref(nso);
    if (terminating)
        return api_fail(c, 403, "Forbidden", NULL,
                        "unable to create new content in namespace %s because it is being "
                        "terminated",
                        ns);
    return 0;
}

int
api_crud_create(struct api_ctx *c)
{
    struct api *a = c->a;
    const struct reg_resource *r = c->res;
    struct st_err err = {0};
    char namebuf[300];
    int64_t alloc = -1;
    int rc;

    if (r->namespaced && (!c->ns || !*c->ns))
        return api_fail(c, 405, "MethodNotAllowed", NULL,
                        "the server does not allow this method on the requested resource");
    json_t *obj = api_body_object(c);
    if (!obj)
        return c->resp->status;
    if (!r->stored)
        return crud_review(c, obj);
    const char *ns = r->namespaced ? c->ns : "";
    if ((rc = crud_check_metadata(c, obj, ns)) != 0)
        goto out;
    json_t *md = json_object_get(obj, "metadata");
    const char *name = crud_str(md, "name");
    const char *gen = crud_str(md, "generateName");
    bool generated = false;
    if ((!name || !*name) && gen && *gen) {
        crud_generate_name(gen, namebuf, sizeof(namebuf));
        json_object_set_new(md, "name", json_string(namebuf));
        name = crud_str(md, "name");
        generated = true;
    }
    if (!name || !*name) {
        rc = crud_invalid(c, "", "metadata.name", "FieldValueRequired",
                          "Required value: name or generateName is required");
        goto out;
    }
    if ((rc = crud_check_name(c, name)) != 0)
        goto out;
    const char *rv = crud_str(md, "resourceVersion");
    if (rv && *rv) {
        rc = api_fail(c, 400, "BadRequest", NULL,
                      "resourceVersion should not be set on objects to be created");
        goto out;
    }
    json_object_del(md, "resourceVersion");
    if (r->namespaced && (rc = crud_check_namespace(c, ns)) != 0)
        goto out;
    char uid[37];
    crud_uuid(uid);
    json_object_set_new(md, "uid", json_string(uid));
    json_object_set_new(md, "creationTimestamp", crud_now_json());
    if (crud_tracks_generation(r))
        json_object_set_new(md, "generation", json_integer(1));
    else
        json_object_del(md, "generation");
    if (r->status && r->crd)
        json_object_del(obj, "status");
    crud_store_version(c, obj);
    if ((rc = crud_kind_prepare(c, name, obj, NULL, &alloc)) != 0)
        goto out;
    /* The name may have been copied before prepare; take it again from the object. */
    name = crud_str(json_object_get(obj, "metadata"), "name");
    if (c->dry_run) {
        rc = crud_reply_obj(c, 201, json_incref(obj));
        goto out;
    }
    bool is_ns = !*r->group && !strcmp(r->plural, "namespaces");
    json_t *sa = NULL;
    if (is_ns) {
        if ((rc = store_begin(a->st, &err)) < 0) {
            rc = api_fail_code(c, rc, &err);
            goto out;
        }
    }
    for (int tries = 0;; tries++) {
        rc = store_create(a->st, r->key, ns, obj, &err);
        if (rc != -EEXIST || !generated || tries == 8)
            break;
        crud_generate_name(gen, namebuf, sizeof(namebuf));
        json_object_set_new(json_object_get(obj, "metadata"), "name", json_string(namebuf));
        name = crud_str(json_object_get(obj, "metadata"), "name");
    }
    if (is_ns) {
        /* Every way out of here ends the batch opened above (a failed create too). */
        if (rc == 0) {
            sa = crud_default_sa(name);
            rc = store_create(a->st, "/serviceaccounts", name, sa, &err);
        }
        if (rc == 0)
            rc = store_commit(a->st, &err);
        if (rc < 0)
            store_rollback(a->st); /* a no-op when a failed commit already ended it */
    }
    if (rc < 0) {
        json_decref(sa);
        rc = crud_store_error(c, rc, name, &err);
        goto out;
    }
    if (sa) {
        auth_notify(a->au, "", "serviceaccounts", "ADDED", sa);
        json_decref(sa);
    }
    if (alloc >= 0)
        crud_ip_mark(a, alloc, true);
    crud_notify(a, r, "ADDED", obj);
    if (crud_is(r, "apiextensions.k8s.io", "customresourcedefinitions"))
        registry_add_crd(a->reg, obj, &err);
    rc = crud_reply_obj(c, 201, json_incref(obj));
out:
    json_decref(obj);
    return rc;
}

/* ---- update and patch ------------------------------------------------------------------- */

/* Parses metadata.resourceVersion of <obj>: 0 when absent; -1 when malformed. */
static int64_t
crud_rv_of(const json_t *obj)
{
    const char *rv = crud_str(json_object_get(obj, "metadata"), "resourceVersion");
    uint64_t v;

    if (!rv || !*rv)
        return 0;
    if (st_parse_u64(st_str_c(rv), INT64_MAX, &v) < 0)
        return -1;
    return (int64_t)v;
}

/* True when <a> and <b> differ outside metadata and status. */
static bool
crud_spec_changed(const json_t *a, const json_t *b)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)a, k, v)
    {
        if (!strcmp(k, "metadata") || !strcmp(k, "status") || !strcmp(k, "apiVersion") ||
            !strcmp(k, "kind"))
            continue;
        if (!json_equal(v, json_object_get(b, k)))
            return true;
    }
    json_object_foreach((json_t *)b, k, v)
    {
        if (!strcmp(k, "metadata") || !strcmp(k, "status") || !strcmp(k, "apiVersion") ||
            !strcmp(k, "kind"))
            continue;
        if (!json_object_get(a, k))
            return true;
    }
    return false;
}

/*
 * The common tail of update and patch: <obj> (borrowed, modified) is the
 * desired object, <old> (borrowed) the stored one. Applies subresource
 * rules, keeps immutable metadata, runs the kind's checks and stores.
 */
static int
crud_finish_update(struct api_ctx *c, json_t *obj, json_t *old)
{
    struct api *a = c->a;
    const struct reg_resource *r = c->res;
    const char *ns = crud_store_ns(c);
    struct st_err err = {0};
    int64_t alloc = -1;
    int rc;

    int64_t want_rv = crud_rv_of(obj);
    if (want_rv < 0)
        return api_fail(c, 400, "BadRequest", NULL, "invalid resourceVersion");
    if (want_rv > 0 && want_rv != crud_rv_of(old))
        return crud_store_error(c, ST_ECONFLICT, c->name, NULL);
    if (want_rv == 0 && r->crd)
        return crud_invalid(c, c->name, "metadata.resourceVersion", "FieldValueInvalid",
                            "Invalid value: 0x0: must be specified for an update");
    if ((rc = crud_check_metadata(c, obj, ns)) != 0)
        return rc;
    json_t *md = json_object_get(obj, "metadata");
    const char *bname = crud_str(md, "name");
    if (bname && strcmp(bname, c->name))
        return api_fail(c, 400, "BadRequest", NULL,
                        "the name of the object (%s) does not match the name on the URL (%s)",
                        bname, c->name);
    if (c->sub) {
        /* A status update changes status only. */
        json_t *st = json_incref(json_object_get(obj, "status"));
        json_object_clear(obj);
        json_object_update(obj, old);
        json_object_del(obj, "metadata");
        json_object_set_new(obj, "metadata", json_deep_copy(json_object_get(old, "metadata")));
        if (st)
            json_object_set_new(obj, "status", st);
        else
            json_object_del(obj, "status");
        md = json_object_get(obj, "metadata");
    } else if (r->status && (r->crd || crud_is(r, "apps", "deployments") ||
                             (!*r->group && !strcmp(r->plural, "services")))) {
        /* With a status subresource the main resource cannot change status. */
        json_t *ost = json_object_get(old, "status");
        if (ost)
            json_object_set_new(obj, "status", json_deep_copy(ost));
        else
            json_object_del(obj, "status");
    }
    const json_t *omd = json_object_get(old, "metadata");
    static const char *const keep[] = {"uid", "creationTimestamp", "name", "namespace",
                                       "deletionTimestamp"};
    for (size_t i = 0; i < ST_ARRAY_LEN(keep); i++) {
        json_t *v = json_object_get(omd, keep[i]);
        if (v)
            json_object_set_new(md, keep[i], json_deep_copy(v));
        else
            json_object_del(md, keep[i]);
    }
    if (!r->namespaced)
        json_object_del(md, "namespace");
    if (crud_tracks_generation(r)) {
        json_int_t g = json_integer_value(json_object_get(omd, "generation"));
        if (g == 0)
            g = 1;
        if (crud_spec_changed(obj, old))
            g++;
        json_object_set_new(md, "generation", json_integer(g));
    } else {
        json_object_del(md, "generation");
    }
    json_object_del(md, "resourceVersion");
    crud_store_version(c, obj);
    if (!c->sub && (rc = crud_kind_prepare(c, c->name, obj, old, &alloc)) != 0)
        return rc;
    if (c->sub && (rc = crud_cr_validate(c, c->name, obj)) != 0)
        return rc;
    if (c->dry_run) {
        json_object_set_new(md, "resourceVersion",
                            json_deep_copy(json_object_get(omd, "resourceVersion")));
        return crud_reply_obj(c, 200, json_incref(obj));
    }
    rc = store_update(a->st, r->key, ns, c->name, obj, (uint64_t)crud_rv_of(old), &err);
    if (rc < 0)
        return crud_store_error(c, rc, c->name, &err);
    crud_notify(a, r, "MODIFIED", obj);
    if (crud_is(r, "apiextensions.k8s.io", "customresourcedefinitions")) {
        const json_t *spec = json_object_get(obj, "spec");
        registry_add_crd(a->reg, obj, &err);
        /* Versions no longer served lose their watches. */
        ST_UNUSED(spec);
    }
    return crud_reply_obj(c, 200, json_incref(obj));
}

static int
crud_get_old(struct api_ctx *c, json_t **old)
{
    struct st_err err = {0};
    int rc = store_get(c->a->st, c->res->key, crud_store_ns(c), c->name, old, &err);

    if (rc < 0)
        return crud_store_error(c, rc, c->name, &err);
    return 0;
}

int
api_crud_update(struct api_ctx *c)
{
    json_t *old = NULL;
    json_t *obj = api_body_object(c);
    int rc;

    if (!obj)
        return c->resp->status;
    if ((rc = crud_get_old(c, &old)) == 0)
        rc = crud_finish_update(c, obj, old);
    json_decref(old);
    json_decref(obj);
    return rc;
}

int
api_crud_patch(struct api_ctx *c)
{
    const char *ct = c->req->content_type ? c->req->content_type : "";
    enum patch_type type;
    struct st_err err = {0};
    json_t *old = NULL, *patch = NULL, *out = NULL;
    json_error_t jerr;
    int rc;

    if (st_str_has_prefix(ct, "application/apply-patch"))
        return api_fail(c, 415, "UnsupportedMediaType", NULL,
                        "server-side apply (application/apply-patch+yaml) is not supported by "
                        "strait-apiserver; use client-side apply (kubectl apply without "
                        "--server-side)");
    if (patch_type_from_content_type(ct, &type) < 0)
        return api_fail(c, 415, "UnsupportedMediaType", NULL,
                        "the body of the request was in an unknown format - accepted media types "
                        "include: application/json-patch+json, application/merge-patch+json, "
                        "application/strategic-merge-patch+json");
    if (type == PATCH_STRATEGIC &&
        (c->res->crd || !patch_kind_has_strategic(c->res->api_version, c->res->kind)))
        return api_fail(c, 415, "UnsupportedMediaType", NULL,
                        "the body of the request was in an unknown format - accepted media types "
                        "include: application/json-patch+json, application/merge-patch+json, "
                        "application/apply-patch+yaml");
    if (c->req->body_len > c->a->max_object_bytes)
        return api_fail(c, 413, "RequestEntityTooLarge", NULL,
                        "Request entity too large: limit is %zu", c->a->max_object_bytes);
    patch = json_loadb(c->req->body ? c->req->body : "", c->req->body_len,
                       JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!patch)
        return api_fail(c, 400, "BadRequest", NULL, "error decoding patch: %s", jerr.text);
    if ((rc = crud_get_old(c, &old)) != 0)
        goto out;
    api_crud_present(c->res, old);
    rc = patch_apply(old, type, patch, c->res->api_version, c->res->kind, &out, &err);
    if (rc < 0) {
        if (rc == ST_EPARSE)
            rc = api_fail(c, 400, "BadRequest", NULL, "%s", err.msg);
        else if (rc == ST_EINVAL)
            rc = api_fail(c, 422, "Invalid", NULL, "%s", err.msg);
        else
            rc = api_fail_code(c, rc, &err);
        goto out;
    }
    if (!json_is_object(out)) {
        rc = api_fail(c, 422, "Invalid", NULL, "the patch result is not an object");
        goto out;
    }
    rc = crud_finish_update(c, out, old);
out:
    json_decref(out);
    json_decref(old);
    json_decref(patch);
    return rc;
}

/* ---- delete ------------------------------------------------------------------------- */

/* Deletes every object in namespace <ns> and then the namespace, in one batch. */
static int
crud_delete_namespace(struct api_ctx *c, const char *ns, uint64_t expected, json_t **deleted,
                      struct st_err *err)
{
    struct api *a = c->a;
    struct store_key *keys = NULL;
    size_t n = 0;
    json_t *gone = json_array();
    int rc;

    if ((rc = store_begin(a->st, err)) < 0)
        goto out;
    if ((rc = store_keys(a->st, NULL, ns, API_MAX_NAMESPACE_KEYS, &keys, &n, err)) < 0)
        goto rollback;
    for (size_t i = 0; i < n; i++) {
        json_t *obj = NULL;
        if (!*keys[i].ns)
            continue;
        rc = store_delete(a->st, keys[i].res, keys[i].ns, keys[i].name, 0, &obj, err);
        if (rc == ST_ENOTFOUND)
            continue;
        if (rc < 0)
            goto rollback;
        json_array_append_new(gone, json_pack("{s:s,s:o}", "res", keys[i].res, "obj", obj));
    }
    if ((rc = store_delete(a->st, "/namespaces", "", ns, expected, deleted, err)) < 0)
        goto rollback;
    if ((rc = store_commit(a->st, err)) < 0)
        goto rollback;
    a->ip_valid = false;
    size_t i;
    json_t *g;
    json_array_foreach(gone, i, g)
    {
        const char *res = crud_str(g, "res");
        const char *slash = strchr(res, '/');
        if (!slash)
            continue;
        char group[256];
        snprintf(group, sizeof(group), "%.*s", (int)(slash - res), res);
        if ((!*group && (!strcmp(slash + 1, "secrets") || !strcmp(slash + 1, "serviceaccounts"))) ||
            !strcmp(group, "rbac.authorization.k8s.io"))
            auth_notify(a->au, group, slash + 1, "DELETED", json_object_get(g, "obj"));
    }
    goto out;
rollback:
    store_rollback(a->st);
out:
    store_keys_free(keys, n);
    json_decref(gone);
    return rc;
}

/* Deletes every object of a CRD and then the CRD, in one batch. */
static int
crud_delete_crd(struct api_ctx *c, const char *name, uint64_t expected, json_t **deleted,
                struct st_err *err)
{
    struct api *a = c->a;
    json_t *crd = NULL;
    struct store_key *keys = NULL;
    size_t n = 0;
    char *key = NULL, *group = NULL, *plural = NULL;
    int rc;

    if ((rc = store_get(a->st, c->res->key, "", name, &crd, err)) < 0)
        return rc;
    group = st_xstrdup(crud_str(json_object_get(crd, "spec"), "group")
                           ? crud_str(json_object_get(crd, "spec"), "group")
                           : "");
    plural =
        st_xstrdup(crud_str(json_object_get(json_object_get(crd, "spec"), "names"), "plural")
                       ? crud_str(json_object_get(json_object_get(crd, "spec"), "names"), "plural")
                       : "");
    key = st_xasprintf("%s/%s", group, plural);
    json_decref(crd);
    if ((rc = store_begin(a->st, err)) < 0)
        goto out;
    if ((rc = store_keys(a->st, key, NULL, API_MAX_NAMESPACE_KEYS, &keys, &n, err)) < 0)
        goto rollback;
    for (size_t i = 0; i < n; i++) {
        rc = store_delete(a->st, keys[i].res, keys[i].ns, keys[i].name, 0, NULL, err);
        if (rc < 0 && rc != ST_ENOTFOUND)
            goto rollback;
    }
    if ((rc = store_delete(a->st, c->res->key, "", name, expected, deleted, err)) < 0)
        goto rollback;
    if ((rc = store_commit(a->st, err)) < 0)
        goto rollback;
    api_watch_end_key(a, key);
    registry_remove_crd(a->reg, group, plural);
    goto out;
rollback:
    store_rollback(a->st);
out:
    store_keys_free(keys, n);
    free(key);
    free(group);
    free(plural);
    return rc;
}

/*
 * Deletes one object with its cascade. <expected> is the rv precondition (0
 * none). On success *deleted holds the object as deleted (new reference).
 */
static int
crud_delete_one(struct api_ctx *c, const char *name, uint64_t expected, json_t **deleted,
                struct st_err *err)
{
    struct api *a = c->a;
    const struct reg_resource *r = c->res;
    const char *ns = r->namespaced ? c->ns : "";
    int rc;

    *deleted = NULL;
    if (!*r->group && !strcmp(r->plural, "namespaces"))
        return crud_delete_namespace(c, name, expected, deleted, err);
    if (crud_is(r, "apiextensions.k8s.io", "customresourcedefinitions"))
        return crud_delete_crd(c, name, expected, deleted, err);
    rc = store_delete(a->st, r->key, ns, name, expected, deleted, err);
    if (rc < 0)
        return rc;
    if (!*r->group && !strcmp(r->plural, "services"))
        crud_ip_mark(a, crud_ip_offset(a, crud_str(json_object_get(*deleted, "spec"), "clusterIP")),
                     false);
    crud_notify(a, r, "DELETED", *deleted);
    return 0;
}

int
api_crud_delete(struct api_ctx *c)
{
    const struct reg_resource *r = c->res;
    struct st_err err = {0};
    json_t *opts = NULL, *old = NULL, *deleted = NULL;
    uint64_t expected = 0;
    int rc;

    if (c->req->body_len > 0) {
        if (!(opts = api_body_object(c)))
            return c->resp->status;
        json_t *dr = json_object_get(opts, "dryRun");
        if (json_array_size(dr) > 0)
            c->dry_run = true;
    }
    if ((rc = crud_get_old(c, &old)) != 0)
        goto out;
    const json_t *pre = json_object_get(opts, "preconditions");
    const char *puid = crud_str(pre, "uid");
    const char *prv = crud_str(pre, "resourceVersion");
    const json_t *omd = json_object_get(old, "metadata");
    const char *ouid = crud_str(omd, "uid") ? crud_str(omd, "uid") : "";
    const char *orv = crud_str(omd, "resourceVersion") ? crud_str(omd, "resourceVersion") : "";
    char msg[512];
    if (puid && strcmp(puid, ouid)) {
        snprintf(msg, sizeof(msg),
                 "Precondition failed: UID in precondition: %s, UID in object meta: %s", puid,
                 ouid);
        rc = crud_conflict(c, c->name, msg);
        goto out;
    }
    if (prv && strcmp(prv, orv)) {
        snprintf(msg, sizeof(msg),
                 "Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in "
                 "object meta: %s",
                 prv, orv);
        rc = crud_conflict(c, c->name, msg);
        goto out;
    }
    if (prv && st_parse_u64(st_str_c(prv), UINT64_MAX, &expected) < 0)
        expected = 0;
    bool is_ns = !*r->group && !strcmp(r->plural, "namespaces");
    if (c->dry_run) {
        deleted = json_incref(old);
    } else if ((rc = crud_delete_one(c, c->name, expected, &deleted, &err)) < 0) {
        rc = crud_store_error(c, rc, c->name, &err);
        goto out;
    }
    if (is_ns || crud_is(r, "apiextensions.k8s.io", "customresourcedefinitions")) {
        /* Shown as Kubernetes shows them at this point: being torn down. */
        json_object_set_new(json_object_get(deleted, "metadata"), "deletionTimestamp",
                            crud_now_json());
        if (is_ns)
            json_object_set_new(deleted, "status", json_pack("{s:s}", "phase", "Terminating"));
    }
    rc = crud_reply_obj(c, 200, deleted);
out:
    json_decref(opts);
    json_decref(old);
    return rc;
}

int
api_crud_deletecollection(struct api_ctx *c)
{
    struct api *a = c->a;
    const struct reg_resource *r = c->res;
    struct selector *labels = NULL, *fields = NULL;
    struct store_list_result res = {0};
    struct st_err err = {0};
    bool batch = false;
    int rc;

    if (c->req->body_len > 0) {
        json_t *opts = api_body_object(c);
        if (!opts)
            return c->resp->status;
        if (json_array_size(json_object_get(opts, "dryRun")) > 0)
            c->dry_run = true;
        json_decref(opts);
    }
    if ((rc = crud_selectors(c, &labels, &fields)) != 0)
        return rc;
    struct store_list_opts lo = {labels, fields, 0, NULL};
    const char *ns = r->namespaced ? (c->ns && *c->ns ? c->ns : NULL) : "";
    rc = store_list(a->st, r->key, ns, &lo, &res, &err);
    selector_free(labels);
    selector_free(fields);
    if (rc < 0)
        return api_fail_code(c, rc, &err);
    json_t *items = json_array();
    size_t i;
    json_t *item;
    /* Plain kinds go in one transaction; CRDs and namespaces cascade in their own. */
    bool cascades = crud_is(r, "apiextensions.k8s.io", "customresourcedefinitions") ||
                    (!*r->group && !strcmp(r->plural, "namespaces"));
    if (!c->dry_run && !cascades) {
        if ((rc = store_begin(a->st, &err)) < 0)
            goto fail;
        batch = true;
    }
    json_array_foreach(res.items, i, item)
    {
        const json_t *md = json_object_get(item, "metadata");
        json_t *deleted = NULL;
        if (c->dry_run) {
            json_array_append(items, item);
            continue;
        }
        char *saved_ns = c->ns;
        c->ns = (char *)crud_str(md, "namespace");
        if (batch) {
            rc = store_delete(a->st, r->key, r->namespaced ? c->ns : "", crud_str(md, "name"), 0,
                              &deleted, &err);
        } else {
            rc = crud_delete_one(c, crud_str(md, "name"), 0, &deleted, &err);
        }
        c->ns = saved_ns;
        if (rc == ST_ENOTFOUND)
            continue;
        if (rc < 0)
            goto fail;
        json_array_append_new(items, deleted);
    }
    if (batch) {
        if ((rc = store_commit(a->st, &err)) < 0)
            goto fail;
        batch = false;
        json_array_foreach(items, i, item)
        {
            crud_notify(a, r, "DELETED", item);
            if (!*r->group && !strcmp(r->plural, "services"))
                crud_ip_mark(
                    a, crud_ip_offset(a, crud_str(json_object_get(item, "spec"), "clusterIP")),
                    false);
        }
    }
    json_array_foreach(items, i, item) api_crud_present(r, item);
    char rvs[32];
    snprintf(rvs, sizeof(rvs), "%" PRIu64, store_rv(a->st));
    store_list_result_clear(&res);
    return api_reply(c, 200,
                     json_pack("{s:s,s:s,s:{s:s},s:o}", "kind", r->list_kind, "apiVersion",
                               r->api_version, "metadata", "resourceVersion", rvs, "items", items));
fail:
    if (batch)
        store_rollback(a->st);
    json_decref(items);
    store_list_result_clear(&res);
    return api_fail_code(c, rc, &err);
}

/* ---- start-up ---------------------------------------------------------------------------- */

int
api_crud_load_crds(struct api *a, struct st_err *err)
{
    struct store_list_result res = {0};
    size_t i;
    json_t *crd;
    int rc =
        store_list(a->st, "apiextensions.k8s.io/customresourcedefinitions", "", NULL, &res, err);

    if (rc < 0)
        return rc;
    json_array_foreach(res.items, i, crd)
    {
        struct st_err e2 = {0};
        if (registry_crd_validate(crd, NULL, &e2) == 0)
            registry_add_crd(a->reg, crd, &e2); /* a broken stored CRD is skipped */
    }
    store_list_result_clear(&res);
    return 0;
}

int
api_crud_bootstrap(struct api *a, struct st_err *err)
{
    static const char *const names[] = {"default", "kube-system", "kube-public", "kube-node-lease"};

    for (size_t i = 0; i < ST_ARRAY_LEN(names); i++) {
        json_t *have = NULL;
        int rc = store_get(a->st, "/namespaces", "", names[i], &have, err);
        if (rc == 0) {
            json_decref(have);
            continue;
        }
        if (rc != ST_ENOTFOUND)
            return rc;
        char uid[37];
        crud_uuid(uid);
        json_t *now = crud_now_json();
        json_t *ns =
            json_pack("{s:s,s:s,s:{s:s,s:s,s:O,s:{s:s}},s:{s:[s]},s:{s:s}}", "apiVersion", "v1",
                      "kind", "Namespace", "metadata", "name", names[i], "uid", uid,
                      "creationTimestamp", now, "labels", "kubernetes.io/metadata.name", names[i],
                      "spec", "finalizers", "kubernetes", "status", "phase", "Active");
        json_t *sa = crud_default_sa(names[i]);
        json_decref(now);
        if ((rc = store_begin(a->st, err)) == 0) {
            rc = store_create(a->st, "/namespaces", "", ns, err);
            if (rc == 0)
                rc = store_create(a->st, "/serviceaccounts", names[i], sa, err);
            if (rc == 0)
                rc = store_commit(a->st, err);
            if (rc < 0)
                store_rollback(a->st);
        }
        if (rc == 0)
            auth_notify(a->au, "", "serviceaccounts", "ADDED", sa);
        json_decref(ns);
        json_decref(sa);
        if (rc < 0)
            return rc;
    }
    return 0;
}
