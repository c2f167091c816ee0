/*
 * The API layer of strait-apiserver: URL routing, discovery, the resource
 * registry (built-ins and CRDs), CRUD and watch semantics, Table output and
 * Status errors, over the store (store.h), the patch engine (patch.h) and
 * authentication/authorization (auth.h).
 *
 * The HTTPS glue parses each request and hands it to api_handle; everything
 * runs on the apiserver's single loop thread. Nothing here logs or does I/O
 * other than through the store. See docs/apiserver.md for what is served and
 * where it deliberately differs from Kubernetes.
 */
#ifndef STRAIT_APISERVER_API_H
#define STRAIT_APISERVER_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strait/core.h"

struct store;
struct auth;
struct api;
struct api_watch;

/* Options for api_new; a field left 0 or NULL takes the default in brackets. */
struct api_options {
    const char *service_cidr;      /* IPv4 CIDR ClusterIPs come from ["10.96.0.0/12"] */
    const char *git_version;       /* /version gitVersion ["v1.32.0-strait"] */
    size_t max_watches;            /* concurrent watches; more answer 429 [1000] */
    size_t max_response_bytes;     /* one non-watch response body [64 MiB] */
    size_t max_object_bytes;       /* one request body / object [1 MiB + 64 KiB] */
    uint32_t bookmark_interval_ms; /* between BOOKMARKs to a watch that asked [1000] */
    uint32_t watch_timeout_s;      /* server-side cap on a watch's life [1800] */
};

/*
 * Creates the API layer over <st> and <au> (both borrowed; they must outlive
 * the result). Registers every stored CRD and creates the namespaces
 * "default", "kube-system" and "kube-public" (each with its "default"
 * ServiceAccount) when missing. Returns NULL with <err> set on failure (a bad
 * service CIDR, a store error).
 */
struct api *api_new(struct store *st, struct auth *au, const struct api_options *opt,
                    struct st_err *err);
/*
 * Frees the API layer; accepts NULL, returns NULL. Watches still open are
 * detached first (their sinks get no further calls); the glue still frees
 * each one with api_watch_free, which stays safe after api_free.
 */
struct api *api_free(struct api *a);

/* One parsed HTTP request; everything borrowed for the duration of api_handle. */
struct api_request {
    const char *method;       /* "GET", "POST", "PUT", "PATCH", "DELETE" (also HEAD) */
    const char *path;         /* percent-encoded path without the query */
    const char *query;        /* raw query string without '?', or NULL */
    const char *content_type; /* request Content-Type or NULL */
    const char *accept;       /* Accept or NULL */
    const char *bearer_token; /* from "Authorization: Bearer ..." or NULL */
    const char *user_agent;   /* or NULL */
    const char *body;         /* request body (need not be NUL-terminated) */
    size_t body_len;
    /*
     * Impersonation (kubectl --as / --as-group): the Impersonate-User header
     * and every Impersonate-Group header joined with ','; NULL when absent.
     * The caller must hold the "impersonate" permission (403 otherwise).
     */
    const char *impersonate_user;
    const char *impersonate_groups;
};

/*
 * The answer. <content_type> is a static string. <body> is owned by the
 * response (release with api_response_clear). When <watch> is not NULL the
 * request started a watch: send the status line and headers (chunked), then
 * <body> if not empty, then call api_watch_start; the response owns <watch>
 * until the glue takes it (set ->watch to NULL) or calls api_response_clear.
 */
struct api_response {
    int status;
    const char *content_type;
    struct st_buf body;
    struct api_watch *watch;
};

/*
 * Handles one request and fills <resp> (which must be zeroed or cleared).
 * Always produces a complete answer (errors are Kubernetes Status bodies), so
 * the return value is the HTTP status for convenience.
 */
int api_handle(struct api *a, const struct api_request *req, struct api_response *resp);
/* Frees the body and any watch that was not taken; leaves <resp> zeroed. */
void api_response_clear(struct api_response *resp);

/*
 * How a watch stream leaves the API layer. Both callbacks get the <arg> given
 * to api_watch_start and may be called from inside api_handle or api_tick of
 * any request (events are delivered synchronously after each store commit).
 *
 * data: one complete event, a JSON object followed by '\n' (<p, n> borrowed
 *   for the call); the glue writes it as one HTTP chunk. Return 0, or a
 *   negative value when the client is too slow (the glue's output buffer is
 *   over its cap): the watch is then ended and end is called.
 * end: the watch is over on the server's side (timeoutSeconds passed, the
 *   sink refused data, the resource went away with its CRD, an expired
 *   resourceVersion after its ERROR event, api_free). The glue finishes the
 *   chunked response. Called at most once; no data call follows. It may call
 *   api_watch_free on the watch from inside end.
 */
struct api_watch_sink {
    int (*data)(void *arg, const char *p, size_t n);
    void (*end)(void *arg);
};

/*
 * Starts delivering: sends the initial events (the current objects as ADDED
 * when the request asked for resourceVersion "" or "0", or the replay from
 * the given version) and then follows the store. <sink> is borrowed and must
 * stay valid until api_watch_free. Returns 0, or a negative code after end
 * was already called (e.g. the sink refused the initial events).
 */
int api_watch_start(struct api_watch *w, const struct api_watch_sink *sink, void *arg);
/* Stops the watch (no sink calls after this) and frees it; accepts NULL, returns NULL. */
struct api_watch *api_watch_free(struct api_watch *w);

/*
 * Called by the loop about once a second with the monotonic clock
 * (st_now_ms): sends BOOKMARK events to watches that asked for them (every
 * bookmark_interval_ms, when the store's resourceVersion moved past what the
 * watch has seen) and ends watches whose timeout passed.
 */
void api_tick(struct api *a, uint64_t now_ms);

/* The number of open watches (for metrics and tests). */
size_t api_watch_count(const struct api *a);

#endif
