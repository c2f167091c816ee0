/*
 * OpenAPI documents, as much of them as kubectl 1.32 needs:
 *
 * - /openapi/v2: kubectl apply's client-side validation fetches it (as
 *   protobuf) and fails the apply when it cannot. A document without
 *   definitions makes kubectl skip schema validation for every kind.
 * - /openapi/v3 and /openapi/v3/<gv>: kubectl apply asks whether the server
 *   supports the fieldValidation parameter (it looks for the PATCH
 *   operation of the kind and its parameters) and kubectl explain reads
 *   component schemas tagged with x-kubernetes-group-version-kind. PATCH
 *   operations deliberately declare no request body, so kubectl computes
 *   strategic merge patches from its compiled-in types (built-ins) or sends
 *   merge patches (custom resources) instead of trusting these schemas.
 *
 * Built-in kinds get a shallow schema (top-level fields only); custom
 * resources get their CRD's openAPIV3Schema.
 */
#include "api_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define OPENAPI_PB_TYPE "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"

/* Appends a protobuf length-delimited field; <n> is small (< 128 * 128). */
static int
openapi_pb_field(struct st_buf *b, unsigned field, const void *p, size_t n)
{
    uint8_t hdr[4];
    size_t h = 0;

    hdr[h++] = (uint8_t)((field << 3) | 2);
    if (n < 128) {
        hdr[h++] = (uint8_t)n;
    } else {
        hdr[h++] = (uint8_t)(0x80 | (n & 0x7f));
        hdr[h++] = (uint8_t)(n >> 7);
    }
    int rc = st_buf_append(b, hdr, h);
    return rc < 0 ? rc : st_buf_append(b, p, n);
}

static int
openapi_v2(struct api_ctx *c)
{
    const char *acc = c->req->accept ? c->req->accept : "";
    struct st_buf *out = &c->resp->body;

    if (strstr(acc, "protobuf")) {
        /* gnostic openapi_v2.Document: swagger (1), info (2) {title (1), version (2)}. */
        struct st_buf info = ST_BUF_INIT(4096);
        const char *gv = c->a->git_version;
        int rc = openapi_pb_field(&info, 1, "Kubernetes", 10);
        if (rc == 0)
            rc = openapi_pb_field(&info, 2, gv, strlen(gv));
        st_buf_reset(out);
        if (rc == 0)
            rc = openapi_pb_field(out, 1, "2.0", 3);
        if (rc == 0)
            rc = openapi_pb_field(out, 2, info.data, info.len);
        st_buf_free(&info);
        if (rc < 0)
            return api_fail(c, 500, "InternalError", NULL, "openapi document too large");
        c->resp->status = 200;
        c->resp->content_type = OPENAPI_PB_TYPE;
        return 200;
    }
    return api_reply(c, 200,
                     json_pack("{s:s,s:{s:s,s:s},s:{},s:{}}", "swagger", "2.0", "info", "title",
                               "Kubernetes", "version", c->a->git_version, "paths", "definitions"));
}

static char *
openapi_schema_id(const struct reg_resource *r)
{
    return st_xasprintf("io.strait.%s.%s.%s", *r->group ? r->group : "core", r->version, r->kind);
}

static json_t *
openapi_gvk(const struct reg_resource *r)
{
    return json_pack("{s:s,s:s,s:s}", "group", r->group, "version", r->version, "kind", r->kind);
}

static json_t *
openapi_builtin_schema(const struct reg_resource *r)
{
    char *desc = st_xasprintf("%s is served by strait-apiserver; see the Kubernetes API "
                              "reference for its fields.",
                              r->kind);
    json_t *s =
        json_pack("{s:s,s:s,s:{s:{s:s,s:s},s:{s:s,s:s},s:{s:s,s:s,s:b}}}", "type", "object",
                  "description", desc, "properties", "apiVersion", "type", "string", "description",
                  "APIVersion defines the versioned schema of this representation of an object.",
                  "kind", "type", "string", "description",
                  "Kind is a string value representing the REST resource this object represents.",
                  "metadata", "type", "object", "description", "Standard object's metadata.",
                  "x-kubernetes-preserve-unknown-fields", 1);
    free(desc);
    json_object_set_new(s, "x-kubernetes-preserve-unknown-fields", json_true());
    return s;
}

/* The OpenAPI v3 document of one group/version; NULL when not served. */
static json_t *
openapi_v3_gv(const struct api *a, const char *group, const char *version)
{
    json_t *paths = json_object(), *schemas = json_object();
    bool any = false;

    for (size_t i = 0; i < registry_count(a->reg); i++) {
        const struct reg_resource *r = registry_at(a->reg, i);
        if (strcmp(r->group, group) || strcmp(r->version, version))
            continue;
        any = true;
        char *id = openapi_schema_id(r);
        json_t *schema = r->schema ? json_deep_copy(r->schema) : openapi_builtin_schema(r);
        json_object_set_new(schema, "x-kubernetes-group-version-kind",
                            json_pack("[o]", openapi_gvk(r)));
        json_object_set_new(schemas, id, schema);
        if (r->verbs & REG_PATCH) {
            char *path;
            const char *prefix = *group ? "/apis/" : "/api";
            if (r->namespaced)
                path = st_xasprintf("%s%s%s/%s/namespaces/{namespace}/%s/{name}", prefix, group,
                                    *group ? "" : "", version, r->plural);
            else
                path = st_xasprintf("%s%s/%s/%s/{name}", prefix, group, version, r->plural);
            char *ref = st_xasprintf("#/components/schemas/%s", id);
            json_t *op = json_pack(
                "{s:s,s:s,s:o,s:[{s:s,s:s,s:s,s:{s:s,s:b}}],s:{s:{s:s,s:{s:{s:{s:s}}}}}}",
                "operationId", "patch", "x-kubernetes-action", "patch",
                "x-kubernetes-group-version-kind", openapi_gvk(r), "parameters", "name",
                "fieldValidation", "in", "query", "description",
                "fieldValidation instructs the server on how to handle objects in the request "
                "containing unknown or duplicate fields.",
                "schema", "type", "string", "uniqueItems", 1, "responses", "200", "description",
                "OK", "content", "application/json", "schema", "$ref", ref);
            char *opid = st_xasprintf("patch%s%s", r->namespaced ? "Namespaced" : "", r->kind);
            json_object_set_new(op, "operationId", json_string(opid));
            free(opid);
            json_object_set_new(paths, path, json_pack("{s:o}", "patch", op));
            free(ref);
            free(path);
        }
        free(id);
    }
    if (!any) {
        json_decref(paths);
        json_decref(schemas);
        return NULL;
    }
    return json_pack("{s:s,s:{s:s,s:s},s:o,s:{s:o}}", "openapi", "3.0.0", "info", "title",
                     "Kubernetes", "version", a->git_version, "paths", paths, "components",
                     "schemas", schemas);
}

/* FNV-1a over the compact JSON of <doc>, as the cache-busting hash of its URL. */
static uint64_t
openapi_hash(const json_t *doc)
{
    char *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    uint64_t h = 1469598103934665603ull;

    for (const char *p = s ? s : ""; *p; p++) {
        h ^= (uint8_t)*p;
        h *= 1099511628211ull;
    }
    free(s);
    return h;
}

static int
openapi_v3_root(struct api_ctx *c)
{
    json_t *paths = json_object();
    const struct registry *reg = c->a->reg;

    for (size_t i = 0; i < registry_count(reg); i++) {
        const struct reg_resource *r = registry_at(reg, i);
        char *key = *r->group ? st_xasprintf("apis/%s/%s", r->group, r->version)
                              : st_xasprintf("api/%s", r->version);
        if (!json_object_get(paths, key)) {
            json_t *doc = openapi_v3_gv(c->a, r->group, r->version);
            char *url = st_xasprintf("/openapi/v3/%s?hash=%016" PRIX64, key, openapi_hash(doc));
            json_decref(doc);
            json_object_set_new(paths, key, json_pack("{s:s}", "serverRelativeURL", url));
            free(url);
        }
        free(key);
    }
    return api_reply(c, 200, json_pack("{s:o}", "paths", paths));
}

int
api_openapi_handle(struct api_ctx *c, const char *path)
{
    if (!strcmp(path, "/openapi/v2"))
        return openapi_v2(c);
    if (!strcmp(path, "/openapi/v3") || !strcmp(path, "/openapi/v3/"))
        return openapi_v3_root(c);
    const char *rest = NULL;
    json_t *doc = NULL;
    if (st_str_has_prefix(path, "/openapi/v3/api/")) {
        rest = path + strlen("/openapi/v3/api/");
        if (!strchr(rest, '/'))
            doc = openapi_v3_gv(c->a, "", rest);
    } else if (st_str_has_prefix(path, "/openapi/v3/apis/")) {
        rest = path + strlen("/openapi/v3/apis/");
        const char *slash = strchr(rest, '/');
        if (slash && !strchr(slash + 1, '/') && (size_t)(slash - rest) < 256) {
            char group[256];
            memcpy(group, rest, (size_t)(slash - rest));
            group[slash - rest] = '\0';
            doc = openapi_v3_gv(c->a, group, slash + 1);
        }
    }
    if (!doc)
        return api_fail(c, 404, "NotFound", NULL,
                        "the server could not find the requested resource");
    return api_reply(c, 200, doc);
}
