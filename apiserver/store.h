/*
 * The object store of strait-apiserver: Kubernetes objects as compact JSON in
 * SQLite, one global resourceVersion counter (like etcd's revision), and a
 * window of recent events that watchers replay from and then follow.
 *
 * Single-threaded: every call comes from the apiserver's loop thread.
 *
 * Keys: <res> is "<group>/<plural>" ("" group for core: "/services"),
 * <ns> is the namespace, "" for cluster-scoped objects, <name> is
 * metadata.name. Every write increments the counter by one, stores the new
 * value as a decimal string in metadata.resourceVersion and records one event
 * (ADDED, MODIFIED, DELETED) in the same SQLite transaction. A write returns
 * only after that transaction is durable (WAL, synchronous=FULL).
 *
 * Errors: ST_ENOTFOUND, -EEXIST (already exists), ST_ECONFLICT (stale
 * resourceVersion), ST_EGONE (version older than the event window),
 * ST_EPARSE (malformed continue token), ST_EINVAL (bad argument or object),
 * ST_ETOOBIG (object over the cap), -EIO (SQLite failure; message in err).
 * See docs/apiserver-store.md.
 */
#ifndef STRAIT_APISERVER_STORE_H
#define STRAIT_APISERVER_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strait/core.h"

struct store;
struct store_watch;
struct selector;

struct store_options {
    size_t event_window;       /* events kept for watches; 0 means 10,000 */
    size_t event_window_bytes; /* cap on the window's memory; 0 means 256 MiB */
    size_t max_object_bytes;   /* cap on one object's compact JSON; 0 means 1 MiB */
    int busy_timeout_ms;       /* SQLite busy timeout; 0 means 5,000 */
    int cache_kib;             /* SQLite page cache; 0 means 8,192 KiB */
};

/*
 * Opens (creating if needed) the store at <path> (copied). <opt> may be NULL
 * for the defaults. Returns NULL with <err> set on failure. A store reopened
 * after a crash holds every write that was acknowledged, the counter
 * continues upward, and the event window is restored from disk.
 */
struct store *store_open(const char *path, const struct store_options *opt, struct st_err *err);
/*
 * Closes the store; accepts NULL and returns NULL. Rolls back an open batch
 * and frees every watcher still registered (their pointers become invalid).
 */
struct store *store_close(struct store *st);

/* The current global resourceVersion (0 for an empty new store). */
uint64_t store_rv(const struct store *st);
/*
 * The oldest resourceVersion a watch or continue token may start from:
 * every event with a larger rv is still in the window.
 */
uint64_t store_window_start(const struct store *st);

/*
 * Reads one object. Returns 0 and a new reference in <out>, ST_ENOTFOUND, or
 * -EIO with <err> set. <err> may be NULL in every function that takes one.
 */
int store_get(struct store *st, const char *res, const char *ns, const char *name, json_t **out,
              struct st_err *err);

struct store_list_opts {
    const struct selector *labels; /* borrowed; NULL matches all */
    const struct selector *fields; /* borrowed; NULL matches all */
    size_t limit;                  /* maximum items; 0 means all */
    const char *continue_token;    /* borrowed; NULL or "" for the first page */
};

struct store_list_result {
    json_t *items;        /* a new array, sorted by (ns, name) */
    uint64_t rv;          /* the list's resourceVersion (see below) */
    char *continue_token; /* malloc'd; NULL when the list is complete */
    int64_t remaining;    /* remainingItemCount, or -1 when not known */
};

/*
 * Lists objects of <res> in <ns>, or in every namespace when <ns> is NULL,
 * filtered by the selectors in <opts> (which may be NULL). Fills <out>
 * (release with store_list_result_clear). The labels selector applies to
 * metadata.labels, the fields selector to the whole object.
 *
 * Paging: with a limit, a page ends after <limit> matching items and, if
 * more matching items exist, carries an opaque continue token. A later page
 * returns the matching rows after the last returned key AS THEY ARE AT THE
 * TIME OF THAT CALL (not a snapshot), and reports the first page's rv as its
 * rv, so a watch started from the last page's rv replays every change made
 * since the first page. remaining is set only without selectors.
 *
 * Returns 0, ST_EPARSE (malformed token, or a token for another resource or
 * namespace), ST_EGONE (the token's rv is older than store_window_start;
 * Kubernetes answers 410 "continue token expired"), or -EIO.
 */
int store_list(struct store *st, const char *res, const char *ns,
               const struct store_list_opts *opts, struct store_list_result *out,
               struct st_err *err);
/* Frees what a store_list filled and zeroes <r>; accepts a zeroed <r>. */
void store_list_result_clear(struct store_list_result *r);

/*
 * Stores a new object <obj> (borrowed; modified: metadata.resourceVersion is
 * set to the new rv on success) under <res>/<ns>/metadata.name. Returns 0,
 * -EEXIST, ST_EINVAL (no metadata.name string), ST_ETOOBIG (over the object
 * cap; nothing changes), or -EIO. Records an ADDED event.
 */
int store_create(struct store *st, const char *res, const char *ns, json_t *obj,
                 struct st_err *err);

/*
 * Replaces the object <res>/<ns>/<name> with <obj> (borrowed; its
 * metadata.resourceVersion is set to the new rv on success). <expected_rv> 0
 * means unconditional; otherwise the stored rv must equal it. metadata.name
 * in <obj> must be absent (it is then set) or equal <name>. An update that
 * would store exactly the same JSON writes nothing, records no event and
 * leaves obj's resourceVersion at the stored one (as Kubernetes does).
 * Returns 0, ST_ENOTFOUND, ST_ECONFLICT, ST_EINVAL, ST_ETOOBIG or -EIO.
 * Records a MODIFIED event.
 */
int store_update(struct store *st, const char *res, const char *ns, const char *name, json_t *obj,
                 uint64_t expected_rv, struct st_err *err);

/*
 * Deletes <res>/<ns>/<name>; <expected_rv> as for store_update. On success,
 * when <deleted> is not NULL, it receives a new reference to the object as
 * it was, with metadata.resourceVersion set to the deletion's rv (the same
 * object the DELETED event carries). Returns 0, ST_ENOTFOUND, ST_ECONFLICT
 * or -EIO.
 */
int store_delete(struct store *st, const char *res, const char *ns, const char *name,
                 uint64_t expected_rv, json_t **deleted, struct st_err *err);

/*
 * Batches: between store_begin and store_commit every write joins one SQLite
 * transaction, and its events are delivered to watchers only after the
 * commit. store_rollback discards every write of the batch (nothing stored,
 * no events, the counter restored). A write that fails inside a batch
 * changes nothing, so the caller may continue or roll back; after -EIO the
 * caller must roll back. Outside a batch each write is its own transaction.
 * Batches nest (up to STORE_MAX_BATCH_DEPTH): an inner store_commit joins the
 * outer batch, an inner store_rollback undoes only the inner writes; events
 * are delivered when the outermost batch commits. (The apiserver opens an
 * outer batch per loop iteration to commit concurrent writes with one fsync.)
 * Returns 0 or ST_EINVAL (no batch open, too deep, in a watch callback) / -EIO.
 */
#define STORE_MAX_BATCH_DEPTH 8
int store_begin(struct store *st, struct st_err *err);
int store_commit(struct store *st, struct st_err *err);
int store_rollback(struct store *st);
/* How many batches are open (nested); 0 outside a batch. */
unsigned store_batch_depth(const struct store *st);
/* True while a batch is open. */
bool store_in_batch(const struct store *st);

/* One stored key, as store_keys returns them. */
struct store_key {
    char *res;
    char *ns;
    char *name;
};

/*
 * Collects the keys of every object of <res> (NULL: every resource) in <ns>
 * (NULL: every namespace), sorted by (res, ns, name), into a new array
 * <*out> of <*n> entries (free with store_keys_free). This is how a namespace
 * or a CRD is emptied: collect, then delete each key inside a batch. At most
 * <max> keys are collected (0 means no cap); more → ST_ETOOBIG.
 * Returns 0 or -EIO / ST_ETOOBIG.
 */
int store_keys(struct store *st, const char *res, const char *ns, size_t max,
               struct store_key **out, size_t *n, struct st_err *err);
void store_keys_free(struct store_key *keys, size_t n);

/*
 * Small key/value state for other modules, in the same database (and the
 * same transaction inside a batch). Keys starting with "store." are the
 * store's own and refused with ST_EINVAL by store_meta_set.
 * store_meta_get returns 0 and a malloc'd copy in <out>, or ST_ENOTFOUND.
 * store_meta_set with a NULL <value> deletes the key. These do not change
 * the resourceVersion and produce no events.
 */
int store_meta_get(struct store *st, const char *key, char **out, struct st_err *err);
int store_meta_set(struct store *st, const char *key, const char *value, struct st_err *err);

/* An event as a watcher sees it; everything borrowed for the callback only. */
struct store_event {
    const char *type; /* "ADDED", "MODIFIED" or "DELETED" */
    const char *res;
    const char *ns;
    const char *name;
    uint64_t rv;
    const char *json; /* the object after the change (DELETED: the last state, new rv) */
    size_t json_len;
    const char *prev_json; /* MODIFIED: the object before the change; else NULL */
    size_t prev_len;
};

/*
 * Called once per event, in rv order. <w> is the watcher itself; the
 * callback may call store_watch_free on <w> or on any other watcher, and may
 * read the store, but must not write to it.
 */
typedef void (*store_watch_cb)(struct store_watch *w, const struct store_event *ev, void *arg);

/*
 * Registers a watcher for events of <res> (NULL: every resource) in <ns>
 * (NULL: every namespace; "" only cluster-scoped objects); both copied.
 * Events with rv > <from_rv> still in the window are replayed through <cb>
 * before this returns; later events are delivered synchronously after each
 * commit. <from_rv> below store_window_start → NULL with ST_EGONE in <err>.
 * If <cb> frees the watcher during the replay, returns NULL with -ECANCELED.
 * The returned watcher belongs to the caller (store_watch_free).
 */
struct store_watch *store_watch_new(struct store *st, const char *res, const char *ns,
                                    uint64_t from_rv, store_watch_cb cb, void *arg,
                                    struct st_err *err);
/* Unregisters and frees <w>; accepts NULL, returns NULL; safe inside callbacks. */
struct store_watch *store_watch_free(struct store_watch *w);

#endif
