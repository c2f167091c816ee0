/*
 * The API layer's entry points: request decoding, authentication and
 * authorization, routing, discovery and Status errors. The verbs live in
 * api_crud.c, watches in api_watch.c, OpenAPI documents in api_openapi.c.
 */
#include "api_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "proto.h"
#include "strait/json.h"
#include "store.h"

#define API_CT_JSON "application/json"
#define API_CT_AGGREGATED "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

/* ---- construction -------------------------------------------------------- */

struct api *
api_new(struct store *st, struct auth *au, const struct api_options *opt, struct st_err *err)
{
    struct api_options dflt = {0};
    struct api *a = st_xcalloc(1, sizeof(*a));

    if (!opt)
        opt = &dflt;
    a->st = st;
    a->au = au;
    a->reg = registry_new();
    a->git_version = st_xstrdup(opt->git_version ? opt->git_version : "v1.32.0-strait");
    a->max_watches = opt->max_watches ? opt->max_watches : 1000;
    a->max_response_bytes = opt->max_response_bytes ? opt->max_response_bytes : (64u << 20);
    a->max_object_bytes = opt->max_object_bytes ? opt->max_object_bytes : (1u << 20) + (64u << 10);
    a->bookmark_interval_ms = opt->bookmark_interval_ms ? opt->bookmark_interval_ms : 1000;
    a->watch_timeout_s = opt->watch_timeout_s ? opt->watch_timeout_s : 1800;
    if (api_crud_set_cidr(a, opt->service_cidr ? opt->service_cidr : "10.96.0.0/12", err) < 0 ||
        api_crud_load_crds(a, err) < 0 || api_crud_bootstrap(a, err) < 0)
        return api_free(a);
    return a;
}

struct api *
api_free(struct api *a)
{
    if (!a)
        return NULL;
    api_watch_free_all(a);
    free(a->watches);
    registry_free(a->reg);
    free(a->git_version);
    free(a->ip_used);
    free(a);
    return NULL;
}

void
api_response_clear(struct api_response *resp)
{
    st_buf_free(&resp->body);
    resp->watch = api_watch_free(resp->watch);
    resp->status = 0;
    resp->content_type = NULL;
}

/* ---- helpers ------------------------------------------------------------ */

struct api_dump_ctx {
    struct st_buf *out;
    int rc;
};

static int
api_dump_cb(const char *p, size_t n, void *arg)
{
    struct api_dump_ctx *d = arg;

    d->rc = st_buf_append(d->out, p, n);
    return d->rc < 0 ? -1 : 0;
}

int
api_dump(const struct api *a, const json_t *v, struct st_buf *out)
{
    struct api_dump_ctx d = {out, 0};
    size_t old_max = out->max;

    if (a && (out->max == 0 || out->max > a->max_response_bytes))
        out->max = a->max_response_bytes;
    if (json_dump_callback(v, api_dump_cb, &d, JSON_COMPACT | JSON_ENCODE_ANY) < 0 && d.rc == 0)
        d.rc = ST_EINVAL;
    out->max = old_max;
    return d.rc;
}

const char *
api_q(const struct api_ctx *c, const char *k)
{
    for (size_t i = 0; i < c->nq; i++)
        if (!strcmp(c->qk[i], k))
            return c->qv[i];
    return NULL;
}

bool
api_q_true(const struct api_ctx *c, const char *k)
{
    const char *v = api_q(c, k);
    /* The spellings Go's strconv.ParseBool takes; the Python client sends "True". */
    static const char *const yes[] = {"1", "t", "T", "true", "TRUE", "True"};

    for (size_t i = 0; v != NULL && i < ST_ARRAY_LEN(yes); i++)
        if (strcmp(v, yes[i]) == 0)
            return true;
    return false;
}

const char *
api_qualified(const struct reg_resource *r, char *buf, size_t n)
{
    if (*r->group)
        snprintf(buf, n, "%s.%s", r->plural, r->group);
    else
        snprintf(buf, n, "%s", r->plural);
    return buf;
}

int
api_reply(struct api_ctx *c, int status, json_t *obj)
{
    struct api_response *resp = c->resp;

    st_buf_reset(&resp->body);
    if (api_dump(c->a, obj, &resp->body) < 0) {
        json_decref(obj);
        st_buf_reset(&resp->body);
        return api_fail(c, 500, "InternalError", NULL,
                        "the response is larger than the server's cap of %zu bytes; "
                        "use limit and continue",
                        c->a->max_response_bytes);
    }
    json_decref(obj);
    resp->status = status;
    resp->content_type = API_CT_JSON;
    return status;
}

int
api_fail(struct api_ctx *c, int code, const char *reason, json_t *causes, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *st =
        json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:i}", "kind", "Status", "apiVersion", "v1",
                  "metadata", "status", "Failure", "message", msg, "reason", reason, "code", code);
    json_t *details = json_object();
    if (c->name && *c->name)
        json_object_set_new(details, "name", json_string(c->name));
    if (c->status_kind) {
        if (c->res && *c->res->group)
            json_object_set_new(details, "group", json_string(c->res->group));
        json_object_set_new(details, "kind", json_string(c->status_kind));
    } else if (c->res) {
        if (*c->res->group)
            json_object_set_new(details, "group", json_string(c->res->group));
        json_object_set_new(details, "kind", json_string(c->res->plural));
    } else if (c->plural) {
        if (c->group && *c->group)
            json_object_set_new(details, "group", json_string(c->group));
        json_object_set_new(details, "kind", json_string(c->plural));
    }
    if (causes)
        json_object_set_new(details, "causes", causes);
    if (json_object_size(details))
        json_object_set_new(st, "details", details);
    else
        json_decref(details);
    st_buf_reset(&c->resp->body);
    if (api_dump(NULL, st, &c->resp->body) < 0)
        st_buf_reset(&c->resp->body);
    json_decref(st);
    c->resp->status = code;
    c->resp->content_type = API_CT_JSON;
    return code;
}

int
api_not_found(struct api_ctx *c, const char *plural, const char *group, const char *name)
{
    if (group && *group)
        return api_fail(c, 404, "NotFound", NULL, "%s.%s \"%s\" not found", plural, group, name);
    return api_fail(c, 404, "NotFound", NULL, "%s \"%s\" not found", plural, name);
}

int
api_fail_code(struct api_ctx *c, int code, const struct st_err *err)
{
    const char *msg = err && err->msg[0] ? err->msg : st_strerror(code);

    switch (code) {
    case ST_EPARSE:
        return api_fail(c, 400, "BadRequest", NULL, "%s", msg);
    case ST_EINVAL:
        return api_fail(c, 422, "Invalid", NULL, "%s", msg);
    case ST_ETOOBIG:
        return api_fail(c, 413, "RequestEntityTooLarge", NULL, "%s", msg);
    case ST_ENOTFOUND:
        return api_fail(c, 404, "NotFound", NULL, "%s", msg);
    case ST_ECONFLICT:
        return api_fail(c, 409, "Conflict", NULL, "%s", msg);
    case -EEXIST:
        return api_fail(c, 409, "AlreadyExists", NULL, "%s", msg);
    case ST_EGONE:
        return api_fail(c, 410, "Expired", NULL, "%s", msg);
    case ST_EAUTH:
        return api_fail(c, 403, "Forbidden", NULL, "%s", msg);
    default:
        return api_fail(c, 500, "InternalError", NULL, "%s", msg);
    }
}

/* True for an absent Content-Type or application/json with parameters. */
static bool
api_content_type_json(const char *ct)
{
    if (!ct || !*ct)
        return true;
    struct st_str t = st_str_c(ct);
    const char *semi = strchr(ct, ';');
    if (semi)
        t.n = (size_t)(semi - ct);
    t = st_str_trim(t);
    return st_str_casecmp_eq(t, ST_STR("application/json"));
}

/* True when <ct> is application/yaml (parameters ignored), which Kubernetes also accepts. */
static bool
api_content_type_yaml(const char *ct)
{
    if (!ct)
        return false;
    struct st_str t = st_str_trim((struct st_str){ct, strcspn(ct, ";")});
    return st_str_casecmp_eq(t, ST_STR("application/yaml"));
}

/* True when <content_type> names Kubernetes' protobuf encoding (parameters ignored). */
static bool
api_proto_is(const char *content_type)
{
    if (!content_type)
        return false;
    size_t n = strcspn(content_type, ";");
    struct st_str t = st_str_trim((struct st_str){content_type, n});
    return st_str_casecmp_eq(t, st_str_c(PROTO_CONTENT_TYPE));
}

json_t *
api_body_object(struct api_ctx *c)
{
    const struct api_request *req = c->req;
    json_error_t jerr;

    if (req->body_len > c->a->max_object_bytes) {
        api_fail(c, 413, "RequestEntityTooLarge", NULL, "Request entity too large: limit is %zu",
                 c->a->max_object_bytes);
        return NULL;
    }
    if (api_proto_is(req->content_type)) {
        struct st_err err = {0};
        json_t *o = proto_decode(req->body ? req->body : "", req->body_len, &err);
        if (!o) {
            if (err.code == ST_EINVAL)
                api_fail(c, 415, "UnsupportedMediaType", NULL, "%s", err.msg);
            else if (err.code == ST_ETOOBIG)
                api_fail(c, 413, "RequestEntityTooLarge", NULL, "%s", err.msg);
            else
                api_fail(c, 400, "BadRequest", NULL,
                         "the body of the request could not be decoded: %s", err.msg);
        }
        return o;
    }
    if (api_content_type_yaml(req->content_type)) {
        struct st_err err = {0};
        struct st_yaml_limits lim = {.max_bytes = c->a->max_object_bytes};
        json_t *o = st_yaml_load(req->body ? req->body : "", req->body_len, &lim, &err);
        if (!o) {
            api_fail(c, 400, "BadRequest", NULL, "the body of the request could not be decoded: %s",
                     err.msg);
            return NULL;
        }
        if (!json_is_object(o)) {
            json_decref(o);
            api_fail(c, 400, "BadRequest", NULL, "the body of the request must be an object");
            return NULL;
        }
        return o;
    }
    if (!api_content_type_json(req->content_type)) {
        api_fail(c, 415, "UnsupportedMediaType", NULL,
                 "the body of the request was in an unknown format - accepted media types "
                 "include: application/json, application/yaml, "
                 "application/vnd.kubernetes.protobuf");
        return NULL;
    }
    json_t *o = json_loadb(req->body ? req->body : "", req->body_len,
                           JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!o) {
        api_fail(c, 400, "BadRequest", NULL, "the body of the request could not be decoded: %s",
                 jerr.text);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        api_fail(c, 400, "BadRequest", NULL, "the body of the request must be a JSON object");
        return NULL;
    }
    return o;
}

/* ---- request decoding ----------------------------------------------------- */

static int
api_hex(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Percent-decodes <p, n> into a new string; '+' is a space when <plus>. NULL if malformed. */
static char *
api_unescape(const char *p, size_t n, bool plus)
{
    char *out = st_xmalloc(n + 1);
    size_t w = 0;

    for (size_t i = 0; i < n; i++) {
        if (p[i] == '%') {
            int h, l;
            if (i + 2 >= n || (h = api_hex(p[i + 1])) < 0 || (l = api_hex(p[i + 2])) < 0) {
                free(out);
                return NULL;
            }
            char ch = (char)(h * 16 + l);
            if (ch == '\0') {
                free(out);
                return NULL;
            }
            out[w++] = ch;
            i += 2;
        } else if (plus && p[i] == '+') {
            out[w++] = ' ';
        } else {
            out[w++] = p[i];
        }
    }
    out[w] = '\0';
    return out;
}

static int
api_parse_query(struct api_ctx *c)
{
    const char *q = c->req->query;

    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', len);
        if (len > 0) {
            if (c->nq == API_MAX_QUERY_PARAMS)
                return api_fail(c, 400, "BadRequest", NULL, "too many query parameters");
            char *k = api_unescape(q, eq ? (size_t)(eq - q) : len, true);
            char *v = eq ? api_unescape(eq + 1, len - (size_t)(eq + 1 - q), true) : st_xstrdup("");
            if (!k || !v) {
                free(k);
                free(v);
                return api_fail(c, 400, "BadRequest", NULL, "malformed query string");
            }
            c->qk[c->nq] = k;
            c->qv[c->nq++] = v;
        }
        q += len + (amp ? 1 : 0);
    }
    return 0;
}

/*
 * Picks the response format from the Accept header: the first media range
 * we can produce wins. Returns 0, or 406 after answering.
 */
static int
api_negotiate(struct api_ctx *c)
{
    const char *acc = c->req->accept;

    c->format = API_FMT_JSON;
    if (!acc || !*acc)
        return 0;
    const char *p = acc;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[512];
        if (len >= sizeof(item))
            len = sizeof(item) - 1;
        memcpy(item, p, len);
        item[len] = '\0';
        p += len + (end ? 1 : 0);

        /* media type, then ;k=v parameters */
        char *save = item;
        char *type = save;
        char *semi = strchr(type, ';');
        if (semi)
            *semi = '\0';
        struct st_str t = st_str_trim(st_str_c(type));
        char as[64] = "", g[64] = "", v[64] = "";
        for (char *prm = semi ? semi + 1 : NULL; prm && *prm;) {
            char *next = strchr(prm, ';');
            if (next)
                *next = '\0';
            struct st_str kv = st_str_trim(st_str_c(prm));
            const char *eq = memchr(kv.p, '=', kv.n);
            if (eq) {
                size_t kl = (size_t)(eq - kv.p), vl = kv.n - kl - 1;
                char *dst = NULL;
                if (kl == 2 && !strncmp(kv.p, "as", 2))
                    dst = as;
                else if (kl == 1 && kv.p[0] == 'g')
                    dst = g;
                else if (kl == 1 && kv.p[0] == 'v')
                    dst = v;
                if (dst && vl < 64) {
                    memcpy(dst, eq + 1, vl);
                    dst[vl] = '\0';
                }
            }
            prm = next ? next + 1 : NULL;
        }
        bool json_ok = st_str_eq_c(t, "application/json") || st_str_eq_c(t, "*/*") ||
                       st_str_eq_c(t, "application/*") || st_str_eq_c(t, "*");
        if (!json_ok)
            continue;
        if (!*as)
            return 0;
        if (!strcmp(as, "Table") && !strcmp(g, "meta.k8s.io") &&
            (!strcmp(v, "v1") || !strcmp(v, "v1beta1"))) {
            c->format = API_FMT_TABLE;
            c->table_version = !strcmp(v, "v1") ? "meta.k8s.io/v1" : "meta.k8s.io/v1beta1";
            return 0;
        }
        /* Other "as=" targets (PartialObjectMetadata, discovery) are not offered here. */
    }
    return api_fail(c, 406, "NotAcceptable", NULL,
                    "only the following media types are accepted: application/json, "
                    "application/json;as=Table;v=v1;g=meta.k8s.io");
}

/* True when Accept asks for aggregated discovery v2 before plain JSON. */
static bool
api_wants_aggregated(const char *acc)
{
    if (!acc)
        return false;
    const char *hit = strstr(acc, "as=APIGroupDiscoveryList");
    if (!hit)
        return false;
    /* Only v2 is served; the range must carry g=apidiscovery.k8s.io and v=v2. */
    const char *start = hit;
    while (start > acc && start[-1] != ',')
        start--;
    const char *end = strchr(hit, ',');
    size_t len = end ? (size_t)(end - start) : strlen(start);
    char item[256];
    if (len >= sizeof(item))
        return false;
    memcpy(item, start, len);
    item[len] = '\0';
    if (strstr(item, "g=apidiscovery.k8s.io") &&
        (strstr(item, "v=v2;") || st_str_has_suffix(item, "v=v2")))
        return true;
    /* The first range asked for v2beta1: try the next one. */
    return end ? api_wants_aggregated(end + 1) : false;
}

/* ---- authentication and authorization -------------------------------------- */

static bool
api_public_path(const char *path)
{
    static const char *const pub[] = {"/healthz", "/livez", "/readyz", "/version"};

    for (size_t i = 0; i < ST_ARRAY_LEN(pub); i++) {
        size_t n = strlen(pub[i]);
        if (!strncmp(path, pub[i], n) && (path[n] == '\0' || path[n] == '/'))
            return true;
    }
    return false;
}

static int api_impersonate(struct api_ctx *c);

static int
api_authenticate(struct api_ctx *c, bool public)
{
    const char *tok = c->req->bearer_token;

    if (tok && *tok) {
        if (auth_authenticate(c->a->au, tok, &c->user) == 0) {
            c->authenticated = true;
            return api_impersonate(c);
        }
        return api_fail(c, 401, "Unauthorized", NULL, "Unauthorized");
    }
    if (public)
        return 0;
    return api_fail(c, 401, "Unauthorized", NULL, "Unauthorized");
}

/* Checks one impersonation permission; answers 403 and returns it when denied. */
static int
api_may_impersonate(struct api_ctx *c, const char *resource, const char *ns, const char *name)
{
    struct auth_attrs at = {
        .verb = "impersonate",
        .api_group = "",
        .resource = resource,
        .namespace = ns,
        .name = name,
        .path = c->req->path,
    };

    if (auth_authorize(c->a->au, &c->user, &at))
        return 0;
    return api_fail(c, 403, "Forbidden", NULL,
                    "%s \"%s\" is forbidden: User \"%s\" cannot impersonate resource \"%s\" in "
                    "API group \"\" %s%s%s",
                    resource, name, c->user.name, resource,
                    ns ? "in the namespace \"" : "at the cluster scope", ns ? ns : "",
                    ns ? "\"" : "");
}

static void
api_user_add_group(struct auth_user *u, const char *g, size_t n)
{
    for (size_t i = 0; i < u->n_groups; i++)
        if (strlen(u->groups[i]) == n && !strncmp(u->groups[i], g, n))
            return;
    u->groups = st_xrealloc(u->groups, (u->n_groups + 1) * sizeof(*u->groups));
    u->groups[u->n_groups++] = st_xstrndup(g, n);
}

/*
 * Applies Impersonate-User/-Group: the authenticated caller needs the
 * "impersonate" verb on users (or on the serviceaccount for
 * system:serviceaccount:<ns>:<name>) and on each group; the request then
 * runs as that user. Returns 0 or an answered status.
 */
static int
api_impersonate(struct api_ctx *c)
{
    const char *as = c->req->impersonate_user;
    const char *gs = c->req->impersonate_groups;
    struct auth_user u = {0};
    int rc;

    if ((!as || !*as) && (!gs || !*gs))
        return 0;
    if (!as || !*as)
        return api_fail(c, 400, "BadRequest", NULL,
                        "requested groups without impersonating a user");
    const char *sa = st_str_has_prefix(as, "system:serviceaccount:") ? as + 22 : NULL;
    const char *colon = sa ? strchr(sa, ':') : NULL;
    if (colon) {
        char ns[256];
        snprintf(ns, sizeof(ns), "%.*s", (int)(colon - sa), sa);
        if ((rc = api_may_impersonate(c, "serviceaccounts", ns, colon + 1)) != 0)
            return rc;
        u.name = st_xstrdup(as);
        api_user_add_group(&u, "system:serviceaccounts", strlen("system:serviceaccounts"));
        char *g = st_xasprintf("system:serviceaccounts:%s", ns);
        api_user_add_group(&u, g, strlen(g));
        free(g);
    } else {
        if ((rc = api_may_impersonate(c, "users", NULL, as)) != 0)
            return rc;
        u.name = st_xstrdup(as);
    }
    for (const char *p = gs ? gs : ""; *p;) {
        size_t n = strcspn(p, ",");
        struct st_str g = st_str_trim((struct st_str){p, n});
        p += n + (p[n] == ',');
        if (g.n == 0)
            continue;
        char *name = st_str_dup(g);
        rc = api_may_impersonate(c, "groups", NULL, name);
        if (rc == 0)
            api_user_add_group(&u, name, strlen(name));
        free(name);
        if (rc != 0) {
            auth_user_clear(&u);
            return rc;
        }
    }
    api_user_add_group(&u, "system:authenticated", strlen("system:authenticated"));
    auth_user_clear(&c->user);
    c->user = u;
    return 0;
}

static int
api_authorize_path(struct api_ctx *c, const char *path)
{
    if (!c->authenticated)
        return 0; /* a public path */
    char verb[16];
    const char *m = c->req->method;
    size_t i = 0;
    for (; m[i] && i + 1 < sizeof(verb); i++)
        verb[i] = (char)tolower((unsigned char)m[i]);
    verb[i] = '\0';
    if (!strcmp(verb, "head"))
        snprintf(verb, sizeof(verb), "get");
    struct auth_attrs at = {.verb = verb, .path = path};
    if (auth_authorize(c->a->au, &c->user, &at))
        return 0;
    return api_fail(c, 403, "Forbidden", NULL, "forbidden: User \"%s\" cannot %s path \"%s\"",
                    c->user.name, verb, path);
}

static int
api_authorize_resource(struct api_ctx *c)
{
    struct auth_attrs at = {
        .verb = c->verb,
        .api_group = c->group,
        .resource = c->plural,
        .subresource = c->sub,
        .namespace = c->ns,
        .name = c->name,
        .path = c->req->path,
    };

    if (auth_authorize(c->a->au, &c->user, &at))
        return 0;
    char res[300], who[300], scope[300];
    snprintf(res, sizeof(res), "%s%s%s", c->plural, c->sub ? "/" : "", c->sub ? c->sub : "");
    if (c->name)
        snprintf(who, sizeof(who), "%s \"%s\"", c->plural, c->name);
    else
        snprintf(who, sizeof(who), "%s", c->plural);
    if (c->ns && *c->ns)
        snprintf(scope, sizeof(scope), "in the namespace \"%s\"", c->ns);
    else
        snprintf(scope, sizeof(scope), "at the cluster scope");
    return api_fail(c, 403, "Forbidden", NULL,
                    "%s is forbidden: User \"%s\" cannot %s resource \"%s\" in API group \"%s\" %s",
                    who, c->user.name, c->verb, res, c->group, scope);
}

/* ---- discovery and non-resource paths -------------------------------------- */

static int
api_text(struct api_ctx *c, int status, const char *text)
{
    st_buf_reset(&c->resp->body);
    if (st_buf_append_str(&c->resp->body, text) < 0)
        st_buf_reset(&c->resp->body);
    c->resp->status = status;
    c->resp->content_type = "text/plain; charset=utf-8";
    return status;
}

static int
api_version_doc(struct api_ctx *c)
{
    char major[16] = "1", minor[16] = "32";
    const char *gv = c->a->git_version;
    unsigned ma = 0, mi = 0;

    if (sscanf(gv, "v%u.%u", &ma, &mi) == 2) {
        snprintf(major, sizeof(major), "%u", ma);
        snprintf(minor, sizeof(minor), "%u", mi);
    }
    return api_reply(c, 200,
                     json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "major", major, "minor",
                               minor, "gitVersion", gv, "gitCommit", "strait", "gitTreeState",
                               "clean", "buildDate", "2026-01-01T00:00:00Z", "goVersion", "c17",
                               "compiler", "gcc", "platform", "linux/amd64"));
}

static int
api_discovery(struct api_ctx *c, char **seg, size_t n)
{
    bool core = !strcmp(seg[0], "api");
    json_t *doc = NULL;

    if (n == 1) {
        if (api_wants_aggregated(c->req->accept)) {
            int rc = api_reply(c, 200, registry_doc_aggregated(c->a->reg, core));
            if (rc == 200)
                c->resp->content_type = API_CT_AGGREGATED;
            return rc;
        }
        doc = core ? registry_doc_core_versions(c->a->reg) : registry_doc_group_list(c->a->reg);
    } else if (core && n == 2) {
        doc = registry_doc_resource_list(c->a->reg, "", seg[1]);
    } else if (!core && n == 2) {
        doc = registry_doc_group(c->a->reg, seg[1]);
    } else if (!core && n == 3) {
        doc = registry_doc_resource_list(c->a->reg, seg[1], seg[2]);
    }
    if (!doc)
        return api_fail(c, 404, "NotFound", NULL,
                        "the server could not find the requested resource");
    return api_reply(c, 200, doc);
}

/* ---- resource routing ---------------------------------------------------------- */

static const char *
api_method_verb(struct api_ctx *c)
{
    const char *m = c->req->method;
    bool named = c->name != NULL;

    if (!strcmp(m, "GET") || !strcmp(m, "HEAD")) {
        if (c->watch)
            return "watch";
        return named ? "get" : "list";
    }
    if (!strcmp(m, "POST"))
        return named && !c->sub ? NULL : "create";
    if (!strcmp(m, "PUT"))
        return named ? "update" : NULL;
    if (!strcmp(m, "PATCH"))
        return named ? "patch" : NULL;
    if (!strcmp(m, "DELETE"))
        return named ? "delete" : "deletecollection";
    return NULL;
}

static unsigned
api_verb_bit(const char *verb)
{
    static const char *const names[] = {"get",    "list",  "watch",  "create",
                                        "update", "patch", "delete", "deletecollection"};

    for (size_t i = 0; i < ST_ARRAY_LEN(names); i++)
        if (!strcmp(names[i], verb))
            return 1u << i;
    return 0;
}

/*
 * Splits the resource part of a path (after /api/v1 or /apis/g/v) into
 * namespace, resource, name and subresource as Kubernetes' request info
 * resolver does. Returns 0 or 404 after answering.
 */
static int
api_route_rest(struct api_ctx *c, char **seg, size_t n)
{
    if (n > 0 && !strcmp(seg[0], "watch")) {
        c->watch = true;
        seg++;
        n--;
    }
    if (n == 0)
        return api_fail(c, 404, "NotFound", NULL,
                        "the server could not find the requested resource");
    if (!strcmp(seg[0], "namespaces") && n >= 3 &&
        !(n == 3 && (!strcmp(seg[2], "status") || !strcmp(seg[2], "finalize")))) {
        c->ns = st_xstrdup(seg[1]);
        seg += 2;
        n -= 2;
    }
    if (n > 3)
        return api_fail(c, 404, "NotFound", NULL,
                        "the server could not find the requested resource");
    c->plural = st_xstrdup(seg[0]);
    if (n >= 2)
        c->name = st_xstrdup(seg[1]);
    if (n == 3)
        c->sub = st_xstrdup(seg[2]);
    if (c->name && !*c->name)
        return api_fail(c, 404, "NotFound", NULL,
                        "the server could not find the requested resource");
    if (!strcmp(c->plural, "namespaces") && c->name && !c->ns)
        c->ns = st_xstrdup(c->name);
    return 0;
}

static int
api_handle_resource(struct api_ctx *c)
{
    const struct reg_resource *r = c->res;

    if (!r->namespaced && c->ns && *c->ns && strcmp(r->plural, "namespaces"))
        return api_fail(c, 404, "NotFound", NULL,
                        "the server could not find the requested resource");
    if (r->namespaced && c->name && (!c->ns || !*c->ns))
        return api_fail(c, 404, "NotFound", NULL,
                        "the server could not find the requested resource");
    if (c->sub && (strcmp(c->sub, "status") || !r->status))
        return api_fail(c, 404, "NotFound", NULL,
                        "the server could not find the requested resource");
    if (!(r->verbs & api_verb_bit(c->verb)) || (c->sub && !strcmp(c->verb, "create")))
        return api_fail(c, 405, "MethodNotAllowed", NULL,
                        "the server does not allow this method on the requested resource");
    if (c->watch && c->name) {
        /* A watch of one object is a watch with a name field selector. */
        return api_watch_handle(c);
    }
    if (!strcmp(c->verb, "get"))
        return api_crud_get(c);
    if (!strcmp(c->verb, "list"))
        return api_crud_list(c);
    if (!strcmp(c->verb, "watch"))
        return api_watch_handle(c);
    if (!strcmp(c->verb, "create"))
        return api_crud_create(c);
    if (!strcmp(c->verb, "update"))
        return api_crud_update(c);
    if (!strcmp(c->verb, "patch"))
        return api_crud_patch(c);
    if (!strcmp(c->verb, "delete"))
        return api_crud_delete(c);
    return api_crud_deletecollection(c);
}

/* Frees everything a context owns except the response. */
static void
api_ctx_clear(struct api_ctx *c)
{
    for (size_t i = 0; i < c->nq; i++) {
        free(c->qk[i]);
        free(c->qv[i]);
    }
    free(c->group);
    free(c->version);
    free(c->ns);
    free(c->plural);
    free(c->name);
    free(c->sub);
    if (c->authenticated)
        auth_user_clear(&c->user);
}

int
api_handle(struct api *a, const struct api_request *req, struct api_response *resp)
{
    struct api_ctx c = {.a = a, .req = req, .resp = resp, .include = TABLE_INCLUDE_METADATA};
    char *seg[API_MAX_PATH_SEGS];
    size_t n = 0;
    const char *path = req->path ? req->path : "";
    int rc = 0;

    st_buf_free(&resp->body);
    resp->watch = NULL;
    resp->status = 0;
    if (!req->method || *path != '/') {
        rc = api_fail(&c, 400, "BadRequest", NULL, "the request path must be absolute");
        goto out;
    }
    /* Split and decode the path; empty segments from "//" or a trailing '/' are dropped. */
    for (const char *p = path + 1; *p;) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len > 0) {
            if (n == API_MAX_PATH_SEGS) {
                rc = api_fail(&c, 404, "NotFound", NULL,
                              "the server could not find the requested resource");
                goto out;
            }
            seg[n] = api_unescape(p, len, false);
            if (!seg[n] || strchr(seg[n], '/')) {
                free(seg[n]);
                rc = api_fail(&c, 400, "BadRequest", NULL, "malformed path");
                goto out;
            }
            n++;
        }
        p += len + (e ? 1 : 0);
    }
    if ((rc = api_parse_query(&c)) != 0)
        goto out;

    bool is_api = n >= 1 && (!strcmp(seg[0], "api") || !strcmp(seg[0], "apis"));
    if (!is_api) {
        if ((rc = api_authenticate(&c, api_public_path(path))) != 0 ||
            (rc = api_authorize_path(&c, path)) != 0)
            goto out;
        if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD")) {
            rc = api_fail(&c, 405, "MethodNotAllowed", NULL,
                          "the server does not allow this method on the requested resource");
        } else if (n == 1 && !strcmp(seg[0], "version")) {
            rc = api_version_doc(&c);
        } else if (n >= 1 && (!strcmp(seg[0], "healthz") || !strcmp(seg[0], "livez") ||
                              !strcmp(seg[0], "readyz"))) {
            rc = api_text(&c, 200, "ok");
        } else if (n >= 1 && !strcmp(seg[0], "openapi")) {
            rc = api_openapi_handle(&c, path);
        } else {
            rc = api_fail(&c, 404, "NotFound", NULL,
                          "the server could not find the requested resource");
        }
        goto out;
    }
    bool core = !strcmp(seg[0], "api");
    size_t prefix = core ? 2 : 3; /* /api/v1 or /apis/g/v */
    if (n <= prefix) {
        if ((rc = api_authenticate(&c, false)) != 0 || (rc = api_authorize_path(&c, path)) != 0)
            goto out;
        if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD"))
            rc = api_fail(&c, 405, "MethodNotAllowed", NULL,
                          "the server does not allow this method on the requested resource");
        else
            rc = api_discovery(&c, seg, n);
        goto out;
    }
    c.group = st_xstrdup(core ? "" : seg[1]);
    c.version = st_xstrdup(core ? seg[1] : seg[2]);
    if ((rc = api_route_rest(&c, seg + prefix, n - prefix)) != 0)
        goto out;
    if (api_q_true(&c, "watch"))
        c.watch = true;
    c.verb = api_method_verb(&c);
    if ((rc = api_authenticate(&c, false)) != 0)
        goto out;
    if (!c.verb) {
        rc = api_fail(&c, 405, "MethodNotAllowed", NULL,
                      "the server does not allow this method on the requested resource");
        goto out;
    }
    if ((rc = api_authorize_resource(&c)) != 0)
        goto out;
    c.res = registry_find(a->reg, c.group, c.version, c.plural);
    if (!c.res || strcmp(c.res->plural, c.plural)) {
        c.res = NULL;
        rc =
            api_fail(&c, 404, "NotFound", NULL, "the server could not find the requested resource");
        goto out;
    }
    if ((rc = api_negotiate(&c)) != 0)
        goto out;
    const char *dry = api_q(&c, "dryRun");
    if (dry && *dry) {
        if (strcmp(dry, "All")) {
            rc = api_fail(&c, 400, "BadRequest", NULL,
                          "Unsupported value: \"%s\": supported values: \"All\"", dry);
            goto out;
        }
        c.dry_run = true;
    }
    const char *inc = api_q(&c, "includeObject");
    if (inc && !strcmp(inc, "None"))
        c.include = TABLE_INCLUDE_NONE;
    else if (inc && !strcmp(inc, "Object"))
        c.include = TABLE_INCLUDE_OBJECT;
    rc = api_handle_resource(&c);
out:
    for (size_t i = 0; i < n; i++)
        free(seg[i]);
    api_ctx_clear(&c);
    if (req->method && !strcmp(req->method, "HEAD"))
        st_buf_reset(&resp->body);
    return resp->status ? resp->status : rc;
}
