/*
 * Authentication and authorization for strait-apiserver: bearer tokens (the
 * admin token and service-account tokens), RBAC over Role, ClusterRole,
 * RoleBinding and ClusterRoleBinding, TokenReview and access reviews, and the
 * filling of service-account token Secrets.
 *
 * The API layer (api.c) calls these; auth.c implements them over the store.
 * Everything runs on the apiserver's single loop thread.
 */
#ifndef STRAIT_APISERVER_AUTH_H
#define STRAIT_APISERVER_AUTH_H

#include <jansson.h>
#include <stdbool.h>

#include "strait/core.h"

struct store;
struct auth;

/* An authenticated user, as Kubernetes' user.Info. */
struct auth_user {
    char *name;    /* "admin", or "system:serviceaccount:<ns>:<sa>" */
    char *uid;
    char **groups; /* e.g. "system:masters", "system:serviceaccounts", "system:authenticated" */
    size_t n_groups;
};

/* The attributes of one request, as Kubernetes' authorizer.Attributes. */
struct auth_attrs {
    const char *verb;        /* get list watch create update patch delete deletecollection */
    const char *api_group;   /* "" for core */
    const char *resource;    /* plural, e.g. "services"; NULL for a non-resource path */
    const char *subresource; /* e.g. "status"; NULL or "" if none */
    const char *namespace;   /* NULL or "" for cluster scope */
    const char *name;        /* NULL or "" when the request names no object */
    const char *path;        /* the URL path, for non-resource requests */
};

/*
 * Creates the authenticator/authorizer over <st> (borrowed; must outlive the
 * result). <admin_token> is the token that authenticates as the "admin" user
 * in group "system:masters" (copied). <ca_pem> is the cluster CA certificate
 * put into service-account token Secrets (copied). Returns NULL on failure
 * with <err> set.
 */
struct auth *auth_new(struct store *st, const char *admin_token, const char *ca_pem,
                      struct st_err *err);
/* Accepts NULL; returns NULL. */
struct auth *auth_free(struct auth *a);

/*
 * Authenticates a bearer token (compared in constant time). Returns 0 and
 * fills <out> (caller frees with auth_user_clear), or ST_EAUTH.
 */
int auth_authenticate(struct auth *a, const char *token, struct auth_user *out);
void auth_user_clear(struct auth_user *u);

/* True when RBAC (or membership in system:masters) allows the request. */
bool auth_authorize(struct auth *a, const struct auth_user *u, const struct auth_attrs *at);

/*
 * Answers a TokenReview (authentication.k8s.io/v1) create: <review> is the
 * request body; returns a new object with status filled in.
 */
json_t *auth_token_review(struct auth *a, const json_t *review);

/*
 * Answers a SelfSubjectAccessReview or SubjectAccessReview
 * (authorization.k8s.io/v1) for <requester>; returns a new object with
 * status.allowed filled in, or NULL with <err> set when the body is invalid.
 */
json_t *auth_access_review(struct auth *a, const struct auth_user *requester, const json_t *review,
                           struct st_err *err);

/*
 * Like auth_access_review, with the review's <kind> taken from the URL rather
 * than the body ("SelfSubjectAccessReview", "SubjectAccessReview" or
 * "LocalSubjectAccessReview"; NULL means the body's kind), so that a body
 * posted to selfsubjectaccessreviews is always about the requester. <url_ns>
 * is the URL's namespace for a LocalSubjectAccessReview (NULL: the body's
 * metadata.namespace). The answer carries <kind>.
 */
json_t *auth_access_review_as(struct auth *a, const struct auth_user *requester, const char *kind,
                              const char *url_ns, const json_t *review, struct st_err *err);

/*
 * Kubernetes' privilege-escalation check for a create or update of an RBAC
 * object <obj> (borrowed) of <resource> ("roles", "clusterroles",
 * "rolebindings", "clusterrolebindings"; anything else passes) in <ns> ("" or
 * NULL for cluster scope) by <u>. A Role or ClusterRole passes when <u> may
 * "escalate" it or already holds every permission it grants there; a binding
 * passes when <u> may "bind" the referenced role or already holds all of its
 * permissions there. Returns 0, ST_EAUTH (answer 403) or ST_EINVAL, with the
 * first permission not held in <err>. The API layer calls it after the RBAC
 * check of the write itself.
 */
int auth_check_rbac_write(struct auth *a, const struct auth_user *u, const char *resource,
                          const char *ns, const json_t *obj, struct st_err *err);

/*
 * Answers a SelfSubjectRulesReview (authorization.k8s.io/v1) for <requester>
 * in spec.namespace: status.resourceRules, status.nonResourceRules (from
 * ClusterRoleBindings only) and status.incomplete false. Returns a new object,
 * or NULL with <err> set when the body is invalid.
 */
json_t *auth_rules_review(struct auth *a, const struct auth_user *requester, const json_t *review,
                          struct st_err *err);

/*
 * True when one of <rules> (a PolicyRule array, borrowed) allows <at>, by
 * Kubernetes' rule matching: verbs and apiGroups with "*", resources with
 * "*", "res/sub" and "*\/sub", resourceNames, nonResourceURLs (exact, "*", or
 * a prefix ending in "*") when at->resource is NULL. Pure; no store access.
 */
bool auth_rules_allow(const json_t *rules, const struct auth_attrs *at);

/*
 * Called by the API layer before it stores a Secret of type
 * kubernetes.io/service-account-token: checks that the ServiceAccount named
 * by annotation kubernetes.io/service-account.name exists in the Secret's
 * namespace, then fills data.token, data["ca.crt"] and data.namespace and the
 * service-account.uid annotation. Returns 0, or ST_EINVAL with <err> set.
 * <secret> is modified in place.
 */
int auth_fill_sa_token_secret(struct auth *a, json_t *secret, struct st_err *err);

/*
 * Tells auth that an object of <resource> (core "secrets", "serviceaccounts",
 * or an rbac.authorization.k8s.io kind) changed, so that caches can be kept
 * current. <type> is "ADDED", "MODIFIED" or "DELETED"; <obj> is borrowed.
 */
void auth_notify(struct auth *a, const char *api_group, const char *resource, const char *type,
                 const json_t *obj);

#endif
