/*
 * The patch engine of strait-apiserver: JSON patch (RFC 6902), JSON merge
 * patch (RFC 7386) and Kubernetes' strategic merge patch for the built-in
 * kinds the apiserver serves.
 *
 * The API layer (api.c) calls these for PATCH requests; everything runs on the
 * apiserver's single loop thread. Nothing here logs or touches the store.
 */
#ifndef STRAIT_APISERVER_PATCH_H
#define STRAIT_APISERVER_PATCH_H

#include <jansson.h>
#include <stdbool.h>

#include "strait/core.h"

enum patch_type {
    PATCH_JSON,      /* application/json-patch+json */
    PATCH_MERGE,     /* application/merge-patch+json */
    PATCH_STRATEGIC, /* application/strategic-merge-patch+json */
};

/* Caps on what a peer may send; exceeding one fails with ST_ETOOBIG. */
#define PATCH_MAX_OPS 10000       /* operations in one JSON patch */
#define PATCH_MAX_POINTER 4096    /* bytes in one JSON pointer */
#define PATCH_MAX_DEPTH 128       /* nesting of objects/arrays a patch may reach */
#define PATCH_MAX_LIST 1000       /* elements of a patch list merged strategically */
#define PATCH_MAX_LIVE_LIST 10000 /* elements of a stored list merged strategically */
#define PATCH_MAX_WORK 1000000    /* JSON values one JSON patch may copy, compare or measure */

/*
 * Maps a Content-Type header value (parameters such as "; charset=utf-8" are
 * ignored, case-insensitively) to a patch type. Returns 0, or ST_EINVAL for
 * an unknown type (the API layer answers 415).
 */
int patch_type_from_content_type(const char *content_type, enum patch_type *out);

/*
 * Applies <patch> (borrowed) to <orig> (borrowed, never modified) and returns
 * the result in *out (a new reference). <api_version>/<kind> select the
 * strategic-merge metadata; a kind without metadata makes PATCH_STRATEGIC fail
 * with ST_EINVAL (the API layer answers 415 for custom resources, as
 * Kubernetes does). Errors: ST_EPARSE (malformed patch, 400), ST_EINVAL (a
 * JSON-patch "test" failed or a path does not exist: 422 in Kubernetes
 * terms), ST_ETOOBIG (caps). On error *out is NULL and <err> (may be NULL)
 * holds a message.
 */
int patch_apply(const json_t *orig, enum patch_type type, const json_t *patch,
                const char *api_version, const char *kind, json_t **out, struct st_err *err);

/* True when strategic merge metadata exists for <api_version>/<kind>. */
bool patch_kind_has_strategic(const char *api_version, const char *kind);

/* ---- strategic merge metadata (patch_schema.c; internal to the module) ---- */

/* What a field's Go struct tag says in Kubernetes (patchStrategy). */
enum {
    PATCH_F_MERGE = 1 << 0,       /* list: merge by merge_key, or union of primitives */
    PATCH_F_REPLACE = 1 << 1,     /* map: replace instead of merging */
    PATCH_F_RETAIN_KEYS = 1 << 2, /* the value (or each element) honours $retainKeys */
};

/*
 * One field with patch metadata. <fields> describes the value when it is a
 * map, or each element when it is a list, and is NULL when nothing below has
 * metadata. A table of fields ends with a zeroed entry. A field that is in no
 * table merges maps recursively and replaces lists, as Kubernetes does for
 * fields without a patchStrategy.
 */
struct patch_field {
    const char *name;
    unsigned flags;
    const char *merge_key; /* for lists of maps with PATCH_F_MERGE */
    const struct patch_field *fields;
};

/* One kind with strategic merge support; <fields> are the top-level fields. */
struct patch_kind {
    const char *api_version;
    const char *kind;
    const struct patch_field *fields;
};

/* Returns the kind's entry (static storage) or NULL when it has none. */
const struct patch_kind *patch_schema_find(const char *api_version, const char *kind);
/*
 * Returns the field <name> (<len> bytes) of <fields> or NULL. With <root>,
 * "metadata" resolves to ObjectMeta, which every kind shares.
 */
const struct patch_field *patch_schema_field(const struct patch_field *fields, bool root,
                                             const char *name, size_t len);
/* The table itself, for documentation and tests; ends with a zeroed entry. */
extern const struct patch_kind patch_schema_kinds[];

#endif
