/*
 * strait json: jansson helpers (capped loading, dumping into st_buf, dotted
 * path access) and YAML <-> JSON conversion that reads and writes manifests
 * the way kubectl does (sigs.k8s.io/yaml over go-yaml v2). The scalar rules
 * and the caps are written down in docs/yaml.md.
 *
 * Every function here is reentrant and keeps no global state. json_t values
 * follow jansson's reference counting: "returns a new reference" means the
 * caller must json_decref() it, "borrowed" means it stays valid as long as
 * the containing value is alive and unmodified, "steals" means the callee
 * takes over the caller's reference, on success and on failure alike.
 */
#ifndef STRAIT_JSON_H
#define STRAIT_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strait/core.h"

/* ---- JSON loading and dumping -------------------------------------------- */

/* Defaults used when a cap argument is 0. */
#define ST_JSON_DEFAULT_MAX_BYTES ((size_t)64 << 20)
#define ST_JSON_DEFAULT_MAX_DEPTH 128

/*
 * Parses exactly one JSON value (any type) from <p, n>. Input longer than
 * ST_JSON_DEFAULT_MAX_BYTES fails with ST_ETOOBIG, nesting of arrays and
 * objects deeper than <max_depth> (0 = ST_JSON_DEFAULT_MAX_DEPTH) fails with
 * ST_ETOOBIG, malformed input (including trailing garbage, strings with
 * \u0000 and integers outside int64) fails with ST_EPARSE. On failure <err>
 * (may be NULL) holds the code and a message with line and column, and NULL
 * is returned. Returns a new reference.
 */
json_t *st_json_load(const char *p, size_t n, size_t max_depth, struct st_err *err);
/* The same with an explicit byte cap (0 = ST_JSON_DEFAULT_MAX_BYTES). */
json_t *st_json_load_ex(const char *p, size_t n, size_t max_bytes, size_t max_depth,
                        struct st_err *err);

/* Flags for st_json_dump; 0 is compact, the API server's wire format. */
enum {
    ST_JSON_PRETTY = 1u << 0,    /* 4-space indentation, like `kubectl get -o json` */
    ST_JSON_SORT_KEYS = 1u << 1, /* sorted keys instead of insertion order */
    ST_JSON_NEWLINE = 1u << 2,   /* append one '\n' after the value */
};

/*
 * Appends the serialization of <v> (any type; borrowed) to <out>. Keys keep
 * their insertion order unless ST_JSON_SORT_KEYS. Returns 0, or ST_ETOOBIG
 * when out->max would be exceeded, in which case <out> is left as it was.
 */
int st_json_dump(const json_t *v, struct st_buf *out, unsigned flags);

/* ---- path access ---------------------------------------------------------- */

/*
 * Paths are segments separated by '.', e.g. "metadata.labels". A segment
 * that is all decimal digits indexes an array when the value at that point
 * is an array ("spec.ports.0.port"). Keys that contain dots (label and
 * annotation keys such as "mirror.strait.io/exported") need the *v variants,
 * which take an array of <n> segments and use each one verbatim as an object
 * key (digits again index arrays). An empty path ("" or n == 0) names <v>
 * itself. All getters accept a NULL <v> and return "missing".
 */

/* Returns the value at <path>, borrowed, or NULL when any segment is missing. */
json_t *st_json_path(const json_t *v, const char *path);
json_t *st_json_pathv(const json_t *v, const char *const *segs, size_t n);

/* Returns the string at <path>, borrowed, or NULL if missing or not a string. */
const char *st_json_str(const json_t *v, const char *path);
const char *st_json_strv(const json_t *v, const char *const *segs, size_t n);

/*
 * Stores the integer at <path> in <*out>. Returns 0, ST_ENOTFOUND when the
 * path is missing (or null), ST_EINVAL when the value is not an integer (a
 * real with an integral value in int64 range is accepted, as Go would).
 */
int st_json_int(const json_t *v, const char *path, int64_t *out);
/* Stores the boolean at <path>; 0, ST_ENOTFOUND or ST_EINVAL as above. */
int st_json_bool(const json_t *v, const char *path, bool *out);
/* Convenience forms that return <def> when the value is missing or mistyped. */
int64_t st_json_int_or(const json_t *v, const char *path, int64_t def);
bool st_json_bool_or(const json_t *v, const char *path, bool def);

/*
 * Sets <path> in the object <root> to <value> (steals it, also on failure),
 * creating missing intermediate objects; a null intermediate is replaced by
 * an object. Returns 0, or ST_EINVAL when <root> or an existing intermediate
 * is neither an object nor an array indexed in range, or the path is empty.
 * Array elements can be replaced, not appended.
 */
int st_json_set_path(json_t *root, const char *path, json_t *value);
int st_json_set_pathv(json_t *root, const char *const *segs, size_t n, json_t *value);

/*
 * Removes the key or array element at <path>. Returns 0, or ST_ENOTFOUND when
 * it was not there (nothing changes).
 */
int st_json_del_path(json_t *root, const char *path);
int st_json_del_pathv(json_t *root, const char *const *segs, size_t n);

/* ---- YAML -> JSON ----------------------------------------------------------- */

/* Caps for YAML loading; a field left 0 takes the default in brackets. */
struct st_yaml_limits {
    size_t max_bytes;        /* input size [8 MiB] */
    size_t max_depth;        /* nesting of sequences and mappings [128] */
    size_t max_nodes;        /* values produced, aliases expanded [1,000,000] */
    size_t max_docs;         /* documents in a stream, empty ones included [10,000] */
    size_t max_scalar_bytes; /* scalar text produced, aliases expanded [4 x max_bytes] */
};

/*
 * Parses a YAML stream (JSON is YAML too) and returns a new reference to a
 * JSON array with one element per document; documents that are empty or
 * null (`---` alone, comments only) are skipped, as kubectl does. <lim> may
 * be NULL for the defaults. Anchors, aliases and merge keys (`<<`) are
 * supported; a key repeated in one mapping keeps its last value, as with
 * kubectl. On failure returns NULL and sets <err>: ST_EPARSE (syntax, bad
 * merge, a null key, an unrepresentable value such as .inf or a NUL
 * character; the message names line and column) or ST_ETOOBIG (a cap).
 */
json_t *st_yaml_load_all(const char *p, size_t n, const struct st_yaml_limits *lim,
                         struct st_err *err);

/*
 * Parses the stream like `kubectl apply -f` reads its input: if the first
 * non-blank character is '{' the input is a stream of concatenated JSON
 * objects, otherwise YAML documents. Every document that is a list (kind
 * "List" or any kind ending in "List", with an "items" array) is replaced by
 * its items, recursively. Every resulting document must be an object
 * (ST_EINVAL otherwise). Returns a new reference to the array of objects.
 */
json_t *st_yaml_load_objects(const char *p, size_t n, const struct st_yaml_limits *lim,
                             struct st_err *err);

/*
 * Parses a stream that must hold at most one non-empty document (a
 * kubeconfig, a single manifest). Returns a new reference to it, JSON null
 * for an empty stream, or NULL with ST_EPARSE when there are more documents.
 */
json_t *st_yaml_load(const char *p, size_t n, const struct st_yaml_limits *lim, struct st_err *err);

/* ---- JSON -> YAML ------------------------------------------------------------ */

/*
 * Appends <v> (borrowed, any type) as one block-style YAML document in
 * kubectl's layout: 2-space indentation, sequences under a key not indented
 * further, keys in insertion order, `{}` and `[]` for empty containers,
 * strings quoted whenever a plain scalar would read back as anything else,
 * multi-line strings as literal blocks. The output ends with a newline and
 * loads back with st_yaml_load_all (and PyYAML, and kubectl) to an equal
 * value. Returns 0, ST_ETOOBIG past out->max, or ST_EINVAL when <v> nests
 * deeper than 1000 levels; on failure <out> is left as it was.
 */
int st_yaml_dump(const json_t *v, struct st_buf *out);

/*
 * Appends every element of the array <docs> (borrowed) as a document,
 * separated by "---\n" lines like kubectl's multi-document output. Returns 0,
 * ST_EINVAL if <docs> is not an array, or as st_yaml_dump.
 */
int st_yaml_dump_all(const json_t *docs, struct st_buf *out);

#endif
