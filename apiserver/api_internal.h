/*
 * Private declarations shared by api.c, api_crud.c, api_watch.c and
 * api_openapi.c. Not part of the API layer's interface (that is api.h).
 */
#ifndef STRAIT_APISERVER_API_INTERNAL_H
#define STRAIT_APISERVER_API_INTERNAL_H

/* The most objects one page of a list holds (a larger ?limit= is clamped). */
#define API_MAX_PAGE 5000

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "api.h"
#include "auth.h"
#include "registry.h"
#include "table.h"

#define API_MAX_QUERY_PARAMS 32
#define API_MAX_PATH_SEGS 12
#define API_MAX_NAMESPACE_KEYS 100000 /* objects deleted with one namespace or CRD */

struct api {
    struct store *st;
    struct auth *au;
    struct registry *reg;
    char *git_version;
    size_t max_watches;
    size_t max_response_bytes;
    size_t max_object_bytes;
    uint32_t bookmark_interval_ms;
    uint32_t watch_timeout_s;
    /* Service CIDR and the ClusterIPs in use (bit i = network + i). */
    uint32_t cidr_net;
    uint32_t cidr_size;
    uint8_t *ip_used;
    bool ip_valid; /* false: rebuild ip_used from the store before allocating */
    /* Open watches, for api_tick and the cap. */
    struct api_watch **watches;
    size_t n_watches, cap_watches;
};

/* The response format a client asked for. */
enum api_format {
    API_FMT_JSON,
    API_FMT_TABLE,
};

/* One request as the handlers see it. */
struct api_ctx {
    struct api *a;
    const struct api_request *req;
    struct api_response *resp;
    struct auth_user user;
    bool authenticated;
    /* decoded query parameters */
    char *qk[API_MAX_QUERY_PARAMS];
    char *qv[API_MAX_QUERY_PARAMS];
    size_t nq;
    /* routing */
    const struct reg_resource *res;
    char *group, *version, *ns, *plural, *name, *sub;
    const char *verb;
    bool watch;
    enum api_format format;
    const char *table_version; /* "meta.k8s.io/v1" or "meta.k8s.io/v1beta1" */
    enum table_include include;
    bool dry_run;
    const char *status_kind; /* overrides details.kind in Status bodies (422 uses the Kind) */
};

/* ---- api.c ---------------------------------------------------------------- */

/* The value of query parameter <k> (decoded, borrowed) or NULL. */
const char *api_q(const struct api_ctx *c, const char *k);
/* True when query parameter <k> is "true" or "1". */
bool api_q_true(const struct api_ctx *c, const char *k);

/*
 * Writes a Status error body and status <code>; <reason> is Kubernetes'
 * StatusReason. <causes> (stolen, may be NULL) goes into details.causes.
 * Returns <code>.
 */
int api_fail(struct api_ctx *c, int code, const char *reason, json_t *causes, const char *fmt, ...)
    ST_PRINTF(5, 6);
/* 404 `<plural>[.<group>] "<name>" not found`. */
int api_not_found(struct api_ctx *c, const char *plural, const char *group, const char *name);
/* Maps a store/patch/auth error code and message to a Status answer. */
int api_fail_code(struct api_ctx *c, int code, const struct st_err *err);
/* Serializes <obj> (stolen) as the body with <status>. Returns <status>. */
int api_reply(struct api_ctx *c, int status, json_t *obj);
/* Serializes <v> (borrowed) into <out> with the response cap; ST_ETOOBIG past it. */
int api_dump(const struct api *a, const json_t *v, struct st_buf *out);
/* Parses the request body as a JSON object; on failure answers 400/413 and returns NULL. */
json_t *api_body_object(struct api_ctx *c);

/* The "<plural>.<group>" or "<plural>" form Kubernetes uses in messages. */
const char *api_qualified(const struct reg_resource *r, char *buf, size_t n);

/* ---- api_crud.c ------------------------------------------------------------- */

int api_crud_get(struct api_ctx *c);
int api_crud_list(struct api_ctx *c);
int api_crud_create(struct api_ctx *c);
int api_crud_update(struct api_ctx *c);
int api_crud_patch(struct api_ctx *c);
int api_crud_delete(struct api_ctx *c);
int api_crud_deletecollection(struct api_ctx *c);
/* Sets apiVersion/kind to <r>'s served version on an object read from the store. */
void api_crud_present(const struct reg_resource *r, json_t *obj);
/* Makes sure the bootstrap namespaces exist; 0 or a store error. */
int api_crud_bootstrap(struct api *a, struct st_err *err);
/* Registers every stored CRD; 0 or a store error. */
int api_crud_load_crds(struct api *a, struct st_err *err);
/* Parses the service CIDR into <a>; 0 or ST_EINVAL. */
int api_crud_set_cidr(struct api *a, const char *cidr, struct st_err *err);
/* Checks <fields> against the fields <r> may be selected by; 0 or ST_EINVAL. */
struct selector;
int api_crud_check_fields(const struct reg_resource *r, const struct selector *fields,
                          struct st_err *err);

/* ---- api_watch.c ------------------------------------------------------------ */

int api_watch_handle(struct api_ctx *c);
/* Ends every watch on store key <key> (a CRD went away). */
void api_watch_end_key(struct api *a, const char *key);
void api_watch_free_all(struct api *a);

/* ---- api_schema.c ------------------------------------------------------------ */

/*
 * Validates a custom resource <obj> (top-level metadata, apiVersion and kind
 * are skipped) against a CRD version's openAPIV3Schema and fills in defaults
 * (in place). Appends {reason, message, field} causes to <causes>; returns 0
 * or ST_EINVAL when there are any.
 */
int api_schema_check(const json_t *schema, json_t *obj, json_t *causes);

/* ---- api_openapi.c ---------------------------------------------------------- */

/* Answers /openapi/v2, /openapi/v3 and /openapi/v3/<gv>. */
int api_openapi_handle(struct api_ctx *c, const char *path);

#endif
