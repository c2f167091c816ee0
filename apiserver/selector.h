/*
 * Kubernetes label selectors and field selectors: parsing (from the query
 * string form, from a LabelSelector object, from a plain map) and matching.
 *
 * Label selector syntax (as Kubernetes' labels.Parse), terms joined by ','
 * (all must hold), spaces allowed between tokens:
 *   key=value  key==value  key!=value  key in (v1,v2)  key notin (v1)
 *   key  !key  key>N  key<N
 * Keys are qualified names: an optional DNS-1123 subdomain prefix and '/',
 * then a name of at most 63 characters ([A-Za-z0-9-_.], alphanumeric at both
 * ends). Values are empty or at most 63 characters of the same alphabet.
 * '!=' and 'notin' also match objects without the label.
 *
 * Field selector syntax (as Kubernetes' fields.ParseSelector): terms
 * "path=value", "path==value" or "path!=value" joined by ','; <path> is a
 * dotted path into the object (metadata.name, metadata.namespace, spec.type,
 * type); in values '\,' '\=' '\!' and '\\' escape those characters. A
 * missing field compares as the empty string; numbers and booleans compare
 * by their JSON text. Which fields a kind supports is the API layer's
 * decision (see selector_fields_allowed).
 *
 * Caps: a selector string of at most SELECTOR_MAX_LEN bytes, at most
 * SELECTOR_MAX_TERMS terms and SELECTOR_MAX_VALUES values in one set.
 * Errors are ST_EPARSE (ST_ETOOBIG over a cap) with a Kubernetes-like message
 * in <err>: "unable to parse requirement: ...".
 */
#ifndef STRAIT_APISERVER_SELECTOR_H
#define STRAIT_APISERVER_SELECTOR_H

#include <jansson.h>
#include <stdbool.h>

#include "strait/core.h"

#define SELECTOR_MAX_LEN 4096
#define SELECTOR_MAX_TERMS 64
#define SELECTOR_MAX_VALUES 64

struct selector;

/*
 * Parses a label selector; "" or NULL gives a selector that matches
 * everything. Returns 0 and a new selector in <out>, or ST_EPARSE /
 * ST_ETOOBIG with <err> set (and <out> set to NULL).
 */
int selector_parse_labels(const char *s, struct selector **out, struct st_err *err);

/*
 * Builds a label selector from a LabelSelector object (<ls> borrowed):
 * matchLabels (a map of strings) AND matchExpressions (operators In, NotIn,
 * Exists, DoesNotExist). As in Kubernetes, NULL or JSON null selects
 * nothing and {} selects everything. Returns 0, ST_EPARSE or ST_ETOOBIG.
 */
int selector_from_label_selector(const json_t *ls, struct selector **out, struct st_err *err);

/*
 * Builds an equality selector from a plain map of strings (<map> borrowed),
 * e.g. a Service's spec.selector. An empty map or NULL selects everything;
 * whether an empty Service selector should select nothing is the caller's
 * decision. Returns 0, ST_EPARSE or ST_ETOOBIG.
 */
int selector_from_map(const json_t *map, struct selector **out, struct st_err *err);

/*
 * True when <labels> (an object of strings, borrowed; NULL or not an object
 * counts as no labels) satisfies every term. <sel> NULL matches everything.
 */
bool selector_match_labels(const struct selector *sel, const json_t *labels);

/*
 * Parses a field selector; "" or NULL matches everything. Returns 0 and a
 * new selector in <out>, or ST_EPARSE / ST_ETOOBIG with <err> set.
 */
int selector_parse_fields(const char *s, struct selector **out, struct st_err *err);

/* True when <obj> (borrowed) satisfies every field term. <sel> NULL matches all. */
bool selector_match_fields(const struct selector *sel, const json_t *obj);

/*
 * Checks that a field selector only uses paths from <allowed> (<n> entries).
 * Returns 0, or ST_EINVAL with a message like Kubernetes' "field label not
 * supported: spec.foo" in <err>.
 */
int selector_fields_allowed(const struct selector *sel, const char *const *allowed, size_t n,
                            struct st_err *err);

/* True when <sel> is NULL or has no terms (matches everything). */
bool selector_empty(const struct selector *sel);

/*
 * If <sel> is a field selector with a term "<path>=<value>" (or "=="),
 * returns that value (borrowed from <sel>); else NULL. Lets callers narrow a
 * lookup, e.g. metadata.name.
 */
const char *selector_field_equals(const struct selector *sel, const char *path);

/* Frees <sel>; accepts NULL, returns NULL. */
struct selector *selector_free(struct selector *sel);

#endif
