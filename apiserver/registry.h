/*
 * The registry of resources strait-apiserver serves: the built-in kinds and
 * every served version of every stored CustomResourceDefinition. It also
 * renders the discovery documents (/api, /apis, /apis/<g>, /apis/<g>/<v>,
 * and the aggregated apidiscovery.k8s.io/v2 form) from that table.
 *
 * One entry per (group, version, plural). A CRD with several served versions
 * has several entries sharing one store key "<group>/<plural>". Entries are
 * owned by the registry; a pointer stays valid until the entry's CRD is
 * removed or replaced (registry_add_crd / registry_remove_crd) or the registry
 * is freed. Single-threaded, like the rest of the apiserver.
 */
#ifndef STRAIT_APISERVER_REGISTRY_H
#define STRAIT_APISERVER_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>

#include "strait/core.h"

/* Verbs a resource supports, as a bit set. */
enum {
    REG_GET = 1u << 0,
    REG_LIST = 1u << 1,
    REG_WATCH = 1u << 2,
    REG_CREATE = 1u << 3,
    REG_UPDATE = 1u << 4,
    REG_PATCH = 1u << 5,
    REG_DELETE = 1u << 6,
    REG_DELETECOLLECTION = 1u << 7,
};
#define REG_VERBS_ALL 0xffu

/* Which server-side Table columns a resource gets (see table.h). */
enum reg_table {
    REG_TABLE_DEFAULT, /* NAME AGE, plus a CRD's additionalPrinterColumns */
    REG_TABLE_NAMESPACE,
    REG_TABLE_SERVICE,
    REG_TABLE_ENDPOINTS,
    REG_TABLE_SECRET,
    REG_TABLE_CONFIGMAP,
    REG_TABLE_SERVICEACCOUNT,
    REG_TABLE_EVENT,
    REG_TABLE_DEPLOYMENT,
    REG_TABLE_CRD,
    REG_TABLE_LEASE,
    REG_TABLE_CREATED_AT, /* NAME CREATED AT: roles and cluster roles */
    REG_TABLE_BINDING,    /* NAME ROLE AGE: role bindings */
};

struct reg_resource {
    char *group;       /* "" for core */
    char *version;     /* e.g. "v1" */
    char *kind;        /* e.g. "Service" */
    char *list_kind;   /* e.g. "ServiceList" */
    char *plural;      /* e.g. "services" */
    char *singular;    /* e.g. "service" */
    char *key;         /* the store's resource key "<group>/<plural>" */
    char *api_version; /* "v1" or "<group>/<version>" */
    char **short_names;
    size_t n_short_names;
    char **categories;
    size_t n_categories;
    bool namespaced;
    unsigned verbs; /* REG_* bit set */
    bool status;    /* has a status subresource */
    bool stored;    /* false for create-only reviews (TokenReview...) */
    bool crd;       /* defined by a CustomResourceDefinition */
    bool storage;   /* for a CRD: this is the storage version */
    enum reg_table table;
    json_t *columns; /* a CRD version's additionalPrinterColumns (owned) or NULL */
    json_t *schema;  /* a CRD version's openAPIV3Schema (owned) or NULL */
};

struct registry;

/* Returns a new registry holding the built-in kinds. */
struct registry *registry_new(void);
/* Accepts NULL; returns NULL. */
struct registry *registry_free(struct registry *r);

/* The number of entries and the entry at <i>; borrowed. */
size_t registry_count(const struct registry *r);
const struct reg_resource *registry_at(const struct registry *r, size_t i);

/*
 * Looks an entry up by group, version and plural (or, when <plural> is not
 * found, by a case-insensitive kind, singular or short name, which is how
 * kubectl's arguments map). NULL when not served.
 */
const struct reg_resource *registry_find(const struct registry *r, const char *group,
                                         const char *version, const char *plural);
/* Looks up by exact group, version and kind; NULL when not served. */
const struct reg_resource *registry_find_kind(const struct registry *r, const char *group,
                                              const char *version, const char *kind);
/* Any served version of <group>/<plural> (the preferred one first); NULL when none. */
const struct reg_resource *registry_find_any(const struct registry *r, const char *group,
                                             const char *plural);
/* True when some resource is served under <group>/<version> ("" group = core). */
bool registry_has_group_version(const struct registry *r, const char *group, const char *version);

/*
 * Checks a CustomResourceDefinition body (apiextensions.k8s.io/v1) the way
 * Kubernetes validates one: name == <plural>.<group>, names, scope, at least
 * one version, exactly one storage version, valid names. On failure returns
 * ST_EINVAL with a message in <err> and, when <causes> is not NULL, appends
 * {"reason","message","field"} objects to it (borrowed array).
 */
int registry_crd_validate(const json_t *crd, json_t *causes, struct st_err *err);

/*
 * Registers every served version of <crd> (borrowed, assumed valid),
 * replacing whatever was registered for its group and plural. A CRD that
 * names a built-in group/plural is refused with -EEXIST.
 */
int registry_add_crd(struct registry *r, const json_t *crd, struct st_err *err);
/* Removes every entry of a CRD-defined <group>/<plural>; built-ins are kept. */
void registry_remove_crd(struct registry *r, const char *group, const char *plural);

/*
 * Compares two Kubernetes version strings by discovery priority (v1 > v1beta2
 * > v1beta1 > v1alpha1 > anything else, which sorts alphabetically). Negative
 * when <a> has the higher priority, as for qsort in priority order.
 */
int registry_version_cmp(const char *a, const char *b);

/* ---- discovery documents (each a new reference) ------------------------- */

/* /api: APIVersions. */
json_t *registry_doc_core_versions(const struct registry *r);
/* /apis: APIGroupList. */
json_t *registry_doc_group_list(const struct registry *r);
/* /apis/<group>: APIGroup, or NULL when the group is not served. */
json_t *registry_doc_group(const struct registry *r, const char *group);
/* /api/v1 or /apis/<group>/<version>: APIResourceList, or NULL. */
json_t *registry_doc_resource_list(const struct registry *r, const char *group,
                                   const char *version);
/*
 * apidiscovery.k8s.io/v2 APIGroupDiscoveryList: of the core group when
 * <core>, else of every named group.
 */
json_t *registry_doc_aggregated(const struct registry *r, bool core);

#endif
