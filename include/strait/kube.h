/*
 * strait kube: the Kubernetes API client used by the controller and the CLI,
 * against kube-apiserver and strait-apiserver alike.
 *
 * - Configuration: kubeconfig files (merged like kubectl), a kubeconfig held
 *   in memory, or in-cluster service-account credentials.
 * - Blocking requests over libcurl's easy interface, with timeouts, a cap on
 *   the response size and Kubernetes Status bodies turned into messages.
 * - Watches and informers over libcurl's multi interface, driven by an st_ev
 *   loop, so one thread runs many of them.
 *
 * Threads: a client may be used for blocking requests from one thread at a
 * time. Once attached to a loop (st_kube_client_attach), its watches and
 * informers, and their callbacks, live on that loop's thread only. See
 * docs/kube-client.md for the reconnection policy.
 */
#ifndef STRAIT_KUBE_H
#define STRAIT_KUBE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strait/core.h"
#include "strait/ev.h"

/* ---- configuration ----------------------------------------------------------- */

/* Where credentials come from; every field may be left zero. */
struct st_kube_load_opts {
    /*
     * An explicit kubeconfig file (it must be readable). When NULL, $KUBECONFIG
     * (files separated by ':', missing ones skipped, merged like kubectl: the
     * first file to set a key wins, named lists are merged by name), else
     * $HOME/.kube/config.
     */
    const char *kubeconfig_path;
    /* The context to use instead of the file's current-context. */
    const char *context;
    /* Refuse insecure-skip-tls-verify unless this is set. */
    bool allow_insecure;
    /*
     * For st_kube_config_from_kubeconfig_text only: allow references to local
     * files (certificate-authority, client-certificate, client-key,
     * tokenFile). Off by default, because a kubeconfig from a Secret must not
     * make us read and send local files. Relative paths resolve against
     * <base_dir> (or the working directory when it is NULL).
     */
    bool allow_file_refs;
    const char *base_dir;

    /*
     * In-cluster mode: the service-account directory (token, ca.crt,
     * namespace; default /var/run/secrets/kubernetes.io/serviceaccount) and
     * the API address (default $KUBERNETES_SERVICE_HOST and
     * $KUBERNETES_SERVICE_PORT). The token file is re-read when it changes.
     */
    bool in_cluster;
    const char *sa_dir;
    const char *service_host;
    const char *service_port;
};

/*
 * Resolved credentials for one API server. Read-only for callers; key
 * material (client key, token) is wiped when the config is freed.
 */
struct st_kube_config {
    char *context;         /* the context used; "" in-cluster */
    char *server;          /* "https://host:port", no trailing '/' */
    char *namespace;       /* the context's namespace, or "default" */
    char *tls_server_name; /* NULL: the server's host name */
    bool insecure;         /* insecure-skip-tls-verify (only if allowed) */
    struct st_buf ca_pem;  /* CA bundle; empty means the system store */
    struct st_buf cert_pem;
    struct st_buf key_pem;
    struct st_buf token; /* a static bearer token, if any */
    char *token_file;    /* re-read by the client when it changes; NULL if none */
};

/*
 * Loads credentials as described at struct st_kube_load_opts (<opts> may be
 * NULL). Returns a new config, or NULL with <err> set: -ENOENT/-EACCES for
 * unreadable files (the path is in the message), ST_EPARSE for bad YAML,
 * ST_ENOTFOUND for a missing context, cluster or user, ST_EINVAL for
 * unsupported or refused settings (exec plugins, insecure without
 * allow_insecure).
 */
struct st_kube_config *st_kube_config_load(const struct st_kube_load_opts *opts,
                                           struct st_err *err);

/*
 * Loads a kubeconfig held in memory (<text, n>, borrowed), e.g. from a
 * Secret. Only opts->context, allow_insecure, allow_file_refs and base_dir
 * are used. Returns a new config or NULL with <err> set, as above.
 */
struct st_kube_config *st_kube_config_from_kubeconfig_text(const char *text, size_t n,
                                                           const struct st_kube_load_opts *opts,
                                                           struct st_err *err);

/* Frees <cfg> (NULL is fine), wiping key material. */
void st_kube_config_free(struct st_kube_config *cfg);

/* ---- blocking requests ----------------------------------------------------------- */

struct st_kube_client;

/*
 * Returns a new client for <cfg> (borrowed; everything needed is copied), or
 * NULL with <err> set. Defaults: connect timeout 10 s, total timeout 60 s
 * for ordinary requests, responses capped at 64 MiB.
 */
struct st_kube_client *st_kube_client_new(const struct st_kube_config *cfg, struct st_err *err);

/*
 * Frees <c> (NULL is fine). Free its watches and informers first; any still
 * alive are torn down without callbacks. Call on the loop thread, outside the
 * loop's callbacks of this client, once attached.
 */
void st_kube_client_free(struct st_kube_client *c);

/* Changes the timeouts (0 keeps a value) and the response cap (0 keeps it). */
void st_kube_client_set_limits(struct st_kube_client *c, uint64_t connect_ms, uint64_t total_ms,
                               size_t max_response);

/* The default namespace of the client's config; borrowed. */
const char *st_kube_client_namespace(const struct st_kube_client *c);

/*
 * One request. <path_and_query> starts with '/'. <content_type> and <body>
 * (borrowed) may be NULL; a body without a content type is sent as JSON.
 * Stores the HTTP status in <*http_status> (0 if no response arrived; may be
 * NULL) and, if <response> is not NULL, a new reference to the parsed JSON
 * body of any response that has one (errors included), else NULL.
 * Returns 0 on 2xx. Otherwise a negative code with <err> holding a clean
 * message (the Status message of the server when there is one, e.g.
 * `services "x" not found`): ST_ENOTFOUND (404), ST_ECONFLICT (409),
 * ST_EGONE (410), ST_EAUTH (401, 403), ST_EINVAL (400, 422), ST_ETOOBIG
 * (413, or a response past the cap), ST_EPROTO (other statuses, bad JSON),
 * ST_ETIMEOUT, ST_ETLS, -ECONNREFUSED, -EHOSTUNREACH or -EIO for transport
 * failures.
 */
int st_kube_request(struct st_kube_client *c, const char *method, const char *path_and_query,
                    const char *content_type, const json_t *body, long *http_status,
                    json_t **response, struct st_err *err);

/*
 * Returns a new string with the API path of a collection or an object:
 * core group ("" or NULL) under /api/v1, others under /apis/<group>/<version>;
 * <ns> and <name> may be NULL (cluster-wide collection, or a collection).
 * Namespace and name are percent-encoded.
 */
char *st_kube_path(const char *group, const char *version, const char *resource, const char *ns,
                   const char *name);

/* GET of one object; <*out> is a new reference. Returns 0 or as st_kube_request. */
int st_kube_get(struct st_kube_client *c, const char *path, json_t **out, struct st_err *err);

struct st_kube_list_opts {
    const char *label_selector; /* NULL: none */
    const char *field_selector; /* NULL: none */
    unsigned limit;             /* page size; 0 = 500 */
    size_t max_items;           /* cap on the total; 0 = 1,000,000 */
};

/*
 * Lists the collection at <path> (no query), following `continue` until the
 * last page. <*out> is a new reference to a list object whose "items" hold
 * every page and whose metadata.resourceVersion is the snapshot's version.
 * <opts> may be NULL. A 410 while paging (the snapshot expired) is returned
 * as ST_EGONE. Returns 0 or as st_kube_request.
 */
int st_kube_list(struct st_kube_client *c, const char *path, const struct st_kube_list_opts *opts,
                 json_t **out, struct st_err *err);

/* POST <obj> to the collection <path>; <*out> (may be NULL) gets the created object. */
int st_kube_create(struct st_kube_client *c, const char *path, const json_t *obj, json_t **out,
                   struct st_err *err);

/* PUT <obj> to the object <path>; <*out> (may be NULL) gets the stored object. */
int st_kube_update(struct st_kube_client *c, const char *path, const json_t *obj, json_t **out,
                   struct st_err *err);

enum st_kube_patch_type {
    ST_KUBE_PATCH_MERGE,     /* application/merge-patch+json */
    ST_KUBE_PATCH_JSON,      /* application/json-patch+json */
    ST_KUBE_PATCH_STRATEGIC, /* application/strategic-merge-patch+json */
};

/* PATCH the object <path> with <patch>; <*out> (may be NULL) gets the result. */
int st_kube_patch(struct st_kube_client *c, const char *path, enum st_kube_patch_type type,
                  const json_t *patch, json_t **out, struct st_err *err);

/*
 * DELETE the object <path>; <*out> (may be NULL) gets the server's answer (the
 * object or a Status). A missing object is ST_ENOTFOUND.
 */
int st_kube_delete(struct st_kube_client *c, const char *path, json_t **out, struct st_err *err);

/* ---- watches (on an st_ev loop) --------------------------------------------------- */

/*
 * Binds <c>'s watches and informers to <loop> (borrowed; it must outlive the
 * client's watches). Call once, before the first watch. Returns 0, -EEXIST
 * when already attached to another loop, or ST_EINVAL.
 */
int st_kube_client_attach(struct st_kube_client *c, struct st_ev *loop);

enum st_kube_event_type {
    ST_KUBE_ADDED,
    ST_KUBE_MODIFIED,
    ST_KUBE_DELETED,
    ST_KUBE_BOOKMARK,
};

/* "ADDED", "MODIFIED", "DELETED" or "BOOKMARK". */
const char *st_kube_event_name(enum st_kube_event_type t);

struct st_kube_watch;

/* One event; <object> is borrowed for the duration of the call. */
typedef void st_kube_watch_event_cb(struct st_kube_watch *w, enum st_kube_event_type type,
                                    json_t *object, void *data);
/*
 * The stream ended: <code> is 0 when the server closed it cleanly (e.g. after
 * timeoutSeconds; watch again from st_kube_watch_resource_version), ST_EGONE
 * when the resource version expired (an ERROR event or HTTP 410: list
 * again), or another negative code with <err> describing it. The watch is
 * finished but not freed; free it (also from this callback is fine).
 */
typedef void st_kube_watch_done_cb(struct st_kube_watch *w, int code, const struct st_err *err,
                                   void *data);

struct st_kube_watch_opts {
    const char *path;             /* the collection path, no query */
    const char *resource_version; /* start after this version; NULL or "" = server's choice */
    const char *label_selector;
    const char *field_selector;
    unsigned timeout_s; /* server-side timeoutSeconds; 0 = 300 */
    size_t max_line;    /* cap on one event's JSON; 0 = 16 MiB */
    /*
     * Stall detection: when nothing at all arrives on the stream (no event, no
     * bookmark, no partial line; counted from the start) for this long, the
     * watch ends with ST_ETIMEOUT, "nothing received for N ms". 0 = never
     * (the transfer is still bounded by timeout_s + 30 s).
     */
    uint64_t idle_timeout_ms;
};

/*
 * Starts a watch on the attached loop. Events are delivered in order; BOOKMARK
 * events advance the resource version and are passed on too. Returns a new
 * watch or NULL with <err> set (not attached, bad options).
 */
struct st_kube_watch *st_kube_watch_start(struct st_kube_client *c,
                                          const struct st_kube_watch_opts *opts,
                                          st_kube_watch_event_cb *on_event,
                                          st_kube_watch_done_cb *on_done, void *data,
                                          struct st_err *err);

/* The last resource version seen (start version at first); borrowed, "" if none. */
const char *st_kube_watch_resource_version(const struct st_kube_watch *w);

/*
 * Stops and frees <w> (NULL is fine); no callback runs after this. Safe from
 * inside any of the watch's own callbacks.
 */
void st_kube_watch_free(struct st_kube_watch *w);

/* ---- informers ---------------------------------------------------------------------- */

struct st_kube_informer;

/*
 * Cache callbacks, all on the loop thread, objects borrowed for the call.
 * on_update gets the previous and the new object. Any of them may be NULL.
 * on_error reports a failed list or watch before the back-off (for logs).
 *
 * transform (like client-go's SetTransform) runs on every object as it
 * arrives (list items, watch events, deleted objects), before it is compared,
 * cached or handed to another handler; it may delete or change fields in
 * place to keep the cache small, but must keep metadata.namespace and
 * metadata.name, and metadata.resourceVersion unless the informer is
 * compact (see opts.compact). It must not call back into the informer.
 */
struct st_kube_informer_handlers {
    void (*on_add)(struct st_kube_informer *inf, json_t *obj, void *data);
    void (*on_update)(struct st_kube_informer *inf, json_t *old_obj, json_t *new_obj, void *data);
    void (*on_delete)(struct st_kube_informer *inf, json_t *obj, void *data);
    void (*on_synced)(struct st_kube_informer *inf, void *data);
    void (*on_error)(struct st_kube_informer *inf, const struct st_err *err, void *data);
    void *data;
    void (*transform)(struct st_kube_informer *inf, json_t *obj, void *data); /* last: see above */
};

struct st_kube_informer_opts {
    const char *group; /* "" or NULL for core */
    const char *version;
    const char *resource;
    const char *namespace; /* NULL: all namespaces */
    const char *label_selector;
    const char *field_selector;
    unsigned page_limit;      /* 0 = 500 */
    unsigned watch_timeout_s; /* 0 = 300 */
    uint64_t backoff_min_ms;  /* 0 = 200 */
    uint64_t backoff_max_ms;  /* 0 = 30,000 */
    size_t max_objects;       /* 0 = 1,000,000 */
    /*
     * A watch on which nothing (not even a bookmark) arrives for this long is
     * taken for stalled and resumed from the last version at once, without a
     * relist. 0 = 180,000: three times the one-minute period at which
     * kube-apiserver sends bookmarks; UINT64_MAX turns it off.
     */
    uint64_t watch_idle_ms;
    /*
     * Keep each cached object as its compact JSON text (after the transform)
     * instead of a jansson tree: about a tenth of the heap, for a parse on
     * every read. An object whose text did not change is not reported as an
     * update. See st_kube_informer_acquire for reading such a cache.
     */
    bool compact;
};

/*
 * Creates an informer and starts it: list (paginated), then watch from the
 * list's version. On 410 it relists at once; on a failed list or watch it
 * relists after a jittered exponential back-off (min doubling to max, +-20%,
 * reset by a successful list or a watch that lived 1 s and ended cleanly); a
 * cleanly ended watch is resumed from the last version. A relist
 * reconciles the cache: objects gone from the list get on_delete, changed
 * ones (by resourceVersion) on_update, new ones on_add. A watch that stays
 * silent for watch_idle_ms is resumed (counted in stalls, not reported
 * through on_error: a server that merely had nothing to say is not a
 * failure, and a real one shows up on the resumed watch). Strings in <opts>
 * and <h> are copied. Returns a new informer or NULL with <err> set.
 */
struct st_kube_informer *st_kube_informer_new(struct st_kube_client *c,
                                              const struct st_kube_informer_opts *opts,
                                              const struct st_kube_informer_handlers *h,
                                              struct st_err *err);

/* Stops and frees <inf> (NULL is fine); safe from its own callbacks. */
void st_kube_informer_free(struct st_kube_informer *inf);

/* True once the first full list has been applied. */
bool st_kube_informer_has_synced(const struct st_kube_informer *inf);

/*
 * Returns the cached object <ns>/<name> (<ns> NULL or "" for cluster-scoped
 * objects), or NULL; borrowed until the informer's next change. In compact
 * mode it is a parsed copy (changing it does not change the cache) that
 * lives until control returns to the loop (a deferred call frees every copy
 * made since): prefer st_kube_informer_acquire there, since a long pass of
 * gets keeps all its copies alive at once.
 */
json_t *st_kube_informer_get(const struct st_kube_informer *inf, const char *ns, const char *name);

/*
 * Returns a new reference to the cached object <ns>/<name> (compact mode: a
 * parsed copy), or NULL. Both modes; the caller json_decref()s it.
 */
json_t *st_kube_informer_acquire(const struct st_kube_informer *inf, const char *ns,
                                 const char *name);

/* Number of cached objects. */
size_t st_kube_informer_count(const struct st_kube_informer *inf);

/*
 * Calls <fn> for every cached object, in no particular order, until it
 * returns false. <obj> is borrowed for the call only (compact mode: a parsed
 * copy freed after it); json_incref() it to keep it. <fn> must not free the
 * informer or change its cache.
 */
void st_kube_informer_foreach(const struct st_kube_informer *inf,
                              bool (*fn)(json_t *obj, void *data), void *data);

/* Counters for tests and metrics. */
struct st_kube_informer_stats {
    uint64_t lists;    /* full lists completed */
    uint64_t watches;  /* watches started */
    uint64_t gone;     /* 410s seen */
    uint64_t failures; /* failed lists or watches */
    uint64_t stalls;   /* silent watches resumed (see watch_idle_ms) */
    size_t cached_bytes; /* compact mode: bytes of cached JSON text; 0 otherwise */
};
void st_kube_informer_stats(const struct st_kube_informer *inf, struct st_kube_informer_stats *out);

#endif
