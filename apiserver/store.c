/*
 * The apiserver's object store: objects as compact JSON in SQLite, one global
 * resourceVersion, and a window of recent events kept both in memory (for
 * watchers) and in the events table (so the window survives a restart).
 *
 * Every write runs in one SQLite transaction that stores the object, the
 * event, the new counter and the trimmed window together; events reach the
 * watchers only after COMMIT returned. See docs/apiserver-store.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#include "selector.h"
#include "store.h"

#define STORE_DEFAULT_WINDOW 10000
#define STORE_DEFAULT_WINDOW_BYTES ((size_t)256 << 20)
#define STORE_DEFAULT_MAX_OBJECT ((size_t)1 << 20)
#define STORE_DEFAULT_BUSY_MS 5000
#define STORE_DEFAULT_CACHE_KIB 8192
#define STORE_BUCKETS 64
#define STORE_TOKEN_MAX 2048 /* bytes of a continue token */
#define STORE_KEY_MAX 1024   /* bytes of res, ns or name */
#define STORE_SCHEMA "1"
#define STORE_SCHEMA_VERSION 1
/* Stored text is our own compact output; strings may hold "\u0000" that clients sent. */
#define STORE_LOAD_FLAGS JSON_ALLOW_NUL

/* One event of the window (or of the open transaction); owns its strings. */
struct store_evrec {
    const char *type; /* a static string */
    char *res;
    char *ns;
    char *name;
    uint64_t rv;
    char *json;
    size_t json_len;
    char *prev; /* MODIFIED: the previous object; else NULL */
    size_t prev_len;
    size_t bytes; /* accounted memory */
};

/* The watchers of one resource (or of all resources, res NULL). */
struct store_bucket {
    char *res;
    struct store_watch *head;
    struct store_bucket *next;
};

struct store_watch {
    struct store *st;
    struct store_bucket *bucket;
    struct store_watch *prev;
    struct store_watch *next;
    struct store_watch *next_dead;
    char *ns; /* NULL: every namespace */
    store_watch_cb cb;
    void *arg;
    uint64_t last_rv; /* the newest rv delivered; older ones are never sent again */
    bool dead;        /* freed inside a delivery; reclaimed when it ends */
};

enum {
    STMT_GET,
    STMT_INSERT,
    STMT_UPDATE,
    STMT_DELETE,
    STMT_EVENT,
    STMT_TRIM,
    STMT_META_GET,
    STMT_META_SET,
    STMT_META_DEL,
    STMT_N,
};

static const char *const store_sql[STMT_N] = {
    [STMT_GET] = "SELECT rv, json FROM objects WHERE res = ?1 AND ns = ?2 AND name = ?3",
    [STMT_INSERT] = "INSERT INTO objects (res, ns, name, rv, json) VALUES (?1, ?2, ?3, ?4, ?5)",
    [STMT_UPDATE] =
        "UPDATE objects SET rv = ?4, json = ?5 WHERE res = ?1 AND ns = ?2 AND name = ?3",
    [STMT_DELETE] = "DELETE FROM objects WHERE res = ?1 AND ns = ?2 AND name = ?3",
    [STMT_EVENT] = "INSERT INTO events (rv, type, res, ns, name, json, prev) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [STMT_TRIM] = "DELETE FROM events WHERE rv <= ?1",
    [STMT_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [STMT_META_SET] = "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                      "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [STMT_META_DEL] = "DELETE FROM meta WHERE key = ?1",
};

struct store {
    sqlite3 *db;
    sqlite3_stmt *stmt[STMT_N];
    size_t window;
    size_t window_bytes;
    size_t max_object;
    uint64_t rv;           /* committed resourceVersion */
    uint64_t next_rv;      /* the last rv handed out, including the open transaction */
    uint64_t window_start; /* events with rv > window_start are in the ring */
    bool in_batch;  /* a batch is open (batch_depth > 0) */
    int delivering; /* depth of callback deliveries in progress */
    /*
     * Nested batches: level 0 is the SQLite transaction, deeper levels are
     * savepoints; each remembers where to roll back to.
     */
    unsigned batch_depth;
    struct {
        uint64_t next_rv;
        size_t n_pending;
    } batch_marks[STORE_MAX_BATCH_DEPTH];

    /* The window: a growable circular queue in rv order. */
    struct store_evrec *ring;
    size_t ring_head;
    size_t ring_count;
    size_t ring_cap;
    size_t ring_bytes;

    /* Events of the open transaction, published after COMMIT. */
    struct store_evrec *pending;
    size_t n_pending;
    size_t cap_pending;

    struct store_bucket *buckets[STORE_BUCKETS];
    struct store_bucket all;
    struct store_watch *dead; /* freed during a delivery, reclaimed after it */
};

/* ---- SQLite helpers ------------------------------------------------------ */

static int
store_sql_err(struct store *st, struct st_err *err, const char *what)
{
    return st_err_set(err, -EIO, "store: %s: %s", what, sqlite3_errmsg(st->db));
}

static int
store_exec(struct store *st, const char *sql, struct st_err *err)
{
    if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return store_sql_err(st, err, sql);
    return 0;
}

/* Returns the prepared statement <id>, reset and with cleared bindings. */
static sqlite3_stmt *
store_stmt(struct store *st, int id)
{
    sqlite3_stmt *s = st->stmt[id];
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

static void
store_bind_key(sqlite3_stmt *s, const char *res, const char *ns, const char *name)
{
    sqlite3_bind_text(s, 1, res, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, name, -1, SQLITE_STATIC);
}

/* Runs a statement that returns no rows; -EIO on failure. */
static int
store_step_done(struct store *st, sqlite3_stmt *s, struct st_err *err, const char *what)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return store_sql_err(st, err, what);
    return 0;
}

static int
store_meta_put(struct store *st, const char *key, const char *value, struct st_err *err)
{
    sqlite3_stmt *s = store_stmt(st, value ? STMT_META_SET : STMT_META_DEL);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    if (value != NULL)
        sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
    return store_step_done(st, s, err, "meta write");
}

static int
store_meta_put_u64(struct store *st, const char *key, uint64_t v, struct st_err *err)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    return store_meta_put(st, key, buf, err);
}

/* Reads a meta key as an unsigned number; missing is 0. */
static int
store_meta_u64(struct store *st, const char *key, uint64_t *out, struct st_err *err)
{
    sqlite3_stmt *s = store_stmt(st, STMT_META_GET);
    int rc = 0;

    *out = 0;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(s, 0);
        if (v == NULL || st_parse_u64(st_str_c(v), UINT64_MAX, out) < 0)
            rc = st_err_set(err, -EIO, "store: meta key %s is corrupt", key);
    } else if (step != SQLITE_DONE) {
        rc = store_sql_err(st, err, "meta read");
    }
    sqlite3_reset(s);
    return rc;
}

/* ---- the event window ---------------------------------------------------- */

static void
store_evrec_clear(struct store_evrec *e)
{
    free(e->res);
    free(e->ns);
    free(e->name);
    free(e->json);
    free(e->prev);
    memset(e, 0, sizeof(*e));
}

static struct store_evrec *
store_ring_at(struct store *st, size_t i)
{
    return &st->ring[(st->ring_head + i) % st->ring_cap];
}

/* Appends <e> to the window, taking ownership of its strings. */
static void
store_ring_push(struct store *st, struct store_evrec *e)
{
    if (st->ring_count == st->ring_cap) {
        size_t cap = st->ring_cap ? st->ring_cap * 2 : 64;
        struct store_evrec *r = st_xcalloc(cap, sizeof(*r));
        for (size_t i = 0; i < st->ring_count; i++)
            r[i] = *store_ring_at(st, i);
        free(st->ring);
        st->ring = r;
        st->ring_cap = cap;
        st->ring_head = 0;
    }
    *store_ring_at(st, st->ring_count) = *e;
    st->ring_count++;
    st->ring_bytes += e->bytes;
    memset(e, 0, sizeof(*e));
}

/* Drops window events at or below window_start. */
static void
store_ring_evict(struct store *st)
{
    while (st->ring_count > 0) {
        struct store_evrec *e = store_ring_at(st, 0);
        if (e->rv > st->window_start)
            break;
        st->ring_bytes -= e->bytes;
        store_evrec_clear(e);
        st->ring_head = (st->ring_head + 1) % st->ring_cap;
        st->ring_count--;
    }
}

/* Index of the first window event with rv > <rv>. */
static size_t
store_ring_find(struct store *st, uint64_t rv)
{
    size_t lo = 0, hi = st->ring_count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (store_ring_at(st, mid)->rv > rv)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/*
 * Computes where the window will start once the pending events are added:
 * the oldest events go until both the count and the byte caps hold.
 */
static uint64_t
store_plan_window(struct store *st)
{
    size_t count = st->ring_count + st->n_pending;
    size_t bytes = st->ring_bytes;
    uint64_t start = st->window_start;

    for (size_t i = 0; i < st->n_pending; i++)
        bytes += st->pending[i].bytes;
    for (size_t i = 0; i < st->ring_count + st->n_pending; i++) {
        if (count <= st->window && bytes <= st->window_bytes)
            break;
        const struct store_evrec *e =
            i < st->ring_count ? store_ring_at(st, i) : &st->pending[i - st->ring_count];
        start = e->rv;
        count--;
        bytes -= e->bytes;
    }
    return start;
}

/* Frees pending events from index <keep> on (a failed write or a rollback). */
static void
store_pending_truncate(struct store *st, size_t keep)
{
    while (st->n_pending > keep)
        store_evrec_clear(&st->pending[--st->n_pending]);
}

/* ---- watchers ------------------------------------------------------------ */

static size_t
store_hash(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)(h % STORE_BUCKETS);
}

static struct store_bucket *
store_bucket_find(struct store *st, const char *res)
{
    for (struct store_bucket *b = st->buckets[store_hash(res)]; b != NULL; b = b->next) {
        if (strcmp(b->res, res) == 0)
            return b;
    }
    return NULL;
}

static struct store_bucket *
store_bucket_get(struct store *st, const char *res)
{
    struct store_bucket *b = store_bucket_find(st, res);
    if (b != NULL)
        return b;
    size_t h = store_hash(res);
    b = st_xcalloc(1, sizeof(*b));
    b->res = st_xstrdup(res);
    b->next = st->buckets[h];
    st->buckets[h] = b;
    return b;
}

/* Unlinks and frees <w>, and its bucket when that becomes empty. */
static void
store_watch_destroy(struct store_watch *w)
{
    struct store *st = w->st;
    struct store_bucket *b = w->bucket;

    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        b->head = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    if (b->head == NULL && b != &st->all) {
        struct store_bucket **pp = &st->buckets[store_hash(b->res)];
        while (*pp != b)
            pp = &(*pp)->next;
        *pp = b->next;
        free(b->res);
        free(b);
    }
    free(w->ns);
    free(w);
}

static void
store_sweep(struct store *st)
{
    while (st->dead != NULL) {
        struct store_watch *w = st->dead;
        st->dead = w->next_dead;
        store_watch_destroy(w);
    }
}

static void
store_deliver_one(struct store_watch *w, const struct store_evrec *e)
{
    if (w->dead || e->rv <= w->last_rv)
        return;
    w->last_rv = e->rv;
    if (w->ns != NULL && strcmp(w->ns, e->ns) != 0)
        return;
    struct store_event ev = {e->type, e->res,      e->ns,   e->name,    e->rv,
                             e->json, e->json_len, e->prev, e->prev_len};
    w->cb(w, &ev, w->arg);
}

/* Hands <e> to the watchers of its resource and to those of every resource. */
static void
store_deliver(struct store *st, const struct store_evrec *e)
{
    struct store_bucket *b = store_bucket_find(st, e->res);

    st->delivering++;
    for (struct store_watch *w = b ? b->head : NULL; w != NULL; w = w->next)
        store_deliver_one(w, e);
    for (struct store_watch *w = st->all.head; w != NULL; w = w->next)
        store_deliver_one(w, e);
    st->delivering--;
}

/* After COMMIT: moves the pending events into the window and delivers them. */
static void
store_publish(struct store *st, uint64_t new_start)
{
    size_t first = st->ring_count;

    for (size_t i = 0; i < st->n_pending; i++)
        store_ring_push(st, &st->pending[i]);
    st->n_pending = 0;
    st->rv = st->next_rv;
    st->window_start = new_start;
    /* No write can happen during delivery, so the indices stay valid. */
    for (size_t i = first; i < st->ring_count; i++)
        store_deliver(st, store_ring_at(st, i));
    store_ring_evict(st);
    if (st->delivering == 0)
        store_sweep(st);
}

struct store_watch *
store_watch_new(struct store *st, const char *res, const char *ns, uint64_t from_rv,
                store_watch_cb cb, void *arg, struct st_err *err)
{
    if (from_rv < st->window_start) {
        st_err_set(err, ST_EGONE, "too old resource version: %" PRIu64 " (%" PRIu64 ")", from_rv,
                   st->window_start + 1);
        return NULL;
    }
    struct store_watch *w = st_xcalloc(1, sizeof(*w));
    w->st = st;
    w->ns = ns ? st_xstrdup(ns) : NULL;
    w->cb = cb;
    w->arg = arg;
    w->last_rv = from_rv;
    w->bucket = res ? store_bucket_get(st, res) : &st->all;
    w->next = w->bucket->head;
    if (w->next != NULL)
        w->next->prev = w;
    w->bucket->head = w;

    st->delivering++;
    for (size_t i = store_ring_find(st, from_rv); i < st->ring_count && !w->dead; i++) {
        const struct store_evrec *e = store_ring_at(st, i);
        if (res == NULL || strcmp(res, e->res) == 0)
            store_deliver_one(w, e);
    }
    st->delivering--;
    bool dead = w->dead;
    if (st->delivering == 0)
        store_sweep(st);
    if (dead) {
        st_err_set(err, -ECANCELED, "watch closed by its callback during the replay");
        return NULL;
    }
    return w;
}

struct store_watch *
store_watch_free(struct store_watch *w)
{
    if (w == NULL || w->dead)
        return NULL;
    struct store *st = w->st;
    if (st->delivering > 0) {
        w->dead = true;
        w->next_dead = st->dead;
        st->dead = w;
        return NULL;
    }
    store_watch_destroy(w);
    return NULL;
}

/* ---- open and close ------------------------------------------------------ */

static const char *
store_event_type(const char *t)
{
    if (t == NULL)
        return NULL;
    if (strcmp(t, "ADDED") == 0)
        return "ADDED";
    if (strcmp(t, "MODIFIED") == 0)
        return "MODIFIED";
    if (strcmp(t, "DELETED") == 0)
        return "DELETED";
    return NULL;
}

static size_t
store_evrec_bytes(const struct store_evrec *e)
{
    return sizeof(*e) + e->json_len + e->prev_len + strlen(e->res) + strlen(e->ns) +
           strlen(e->name) + 3;
}

static char *
store_column_dup(sqlite3_stmt *s, int col, size_t *len)
{
    const char *p = (const char *)sqlite3_column_text(s, col);
    size_t n = (size_t)sqlite3_column_bytes(s, col);
    if (len != NULL)
        *len = p ? n : 0;
    return p ? st_xstrndup(p, n) : NULL;
}

/* Loads the persisted window into the ring. */
static int
store_load_window(struct store *st, struct st_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = 0, step;

    if (sqlite3_prepare_v2(st->db,
                           "SELECT rv, type, res, ns, name, json, prev FROM events "
                           "WHERE rv > ?1 ORDER BY rv",
                           -1, &s, NULL) != SQLITE_OK)
        return store_sql_err(st, err, "prepare window load");
    sqlite3_bind_int64(s, 1, (sqlite3_int64)st->window_start);
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_evrec e = {0};
        e.rv = (uint64_t)sqlite3_column_int64(s, 0);
        e.type = store_event_type((const char *)sqlite3_column_text(s, 1));
        e.res = store_column_dup(s, 2, NULL);
        e.ns = store_column_dup(s, 3, NULL);
        e.name = store_column_dup(s, 4, NULL);
        e.json = store_column_dup(s, 5, &e.json_len);
        e.prev = store_column_dup(s, 6, &e.prev_len);
        if (e.type == NULL || !e.res || !e.ns || !e.name || !e.json ||
            (st->ring_count > 0 && e.rv <= store_ring_at(st, st->ring_count - 1)->rv)) {
            store_evrec_clear(&e);
            rc = st_err_set(err, -EIO, "store: events table is corrupt at rv %" PRIu64, e.rv);
            goto out;
        }
        e.bytes = store_evrec_bytes(&e);
        store_ring_push(st, &e);
    }
    if (step != SQLITE_DONE)
        rc = store_sql_err(st, err, "window load");
out:
    sqlite3_finalize(s);
    return rc;
}

/* Persists a new window start (inside the caller's transaction). */
static int
store_trim_window(struct store *st, uint64_t start, struct st_err *err)
{
    if (start == st->window_start)
        return 0;
    sqlite3_stmt *s = store_stmt(st, STMT_TRIM);
    sqlite3_bind_int64(s, 1, (sqlite3_int64)start);
    int rc = store_step_done(st, s, err, "trim events");
    if (rc == 0)
        rc = store_meta_put_u64(st, "store.window_start", start, err);
    return rc;
}

struct store *
store_open(const char *path, const struct store_options *opt, struct st_err *err)
{
    struct store *st = st_xcalloc(1, sizeof(*st));
    struct store_options o = opt ? *opt : (struct store_options){0};
    char *sql = NULL;
    uint64_t ws = 0;

    st->window = o.event_window ? o.event_window : STORE_DEFAULT_WINDOW;
    st->window_bytes = o.event_window_bytes ? o.event_window_bytes : STORE_DEFAULT_WINDOW_BYTES;
    st->max_object = o.max_object_bytes ? o.max_object_bytes : STORE_DEFAULT_MAX_OBJECT;
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        st_err_set(err, -EIO, "store: open %s: %s", path,
                   st->db ? sqlite3_errmsg(st->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(st->db, o.busy_timeout_ms > 0 ? o.busy_timeout_ms : STORE_DEFAULT_BUSY_MS);
    sql = st_xasprintf("PRAGMA journal_mode = WAL;"
                       "PRAGMA synchronous = FULL;"
                       "PRAGMA cache_size = -%d;"
                       "PRAGMA journal_size_limit = 67108864;"
                       "CREATE TABLE IF NOT EXISTS objects ("
                       " res TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL,"
                       " rv INTEGER NOT NULL, json TEXT NOT NULL,"
                       " PRIMARY KEY (res, ns, name));"
                       "CREATE TABLE IF NOT EXISTS events ("
                       " rv INTEGER PRIMARY KEY, type TEXT NOT NULL, res TEXT NOT NULL,"
                       " ns TEXT NOT NULL, name TEXT NOT NULL, json TEXT NOT NULL, prev TEXT);"
                       "CREATE TABLE IF NOT EXISTS meta ("
                       " key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
                       "INSERT OR IGNORE INTO meta (key, value) VALUES ('store.schema', '%s');",
                       o.cache_kib > 0 ? o.cache_kib : STORE_DEFAULT_CACHE_KIB, STORE_SCHEMA);
    if (store_exec(st, sql, err) < 0)
        goto fail;
    /* journal_mode=WAL silently stays "memory" or "delete" on some filesystems; insist. */
    sqlite3_stmt *jm = NULL;
    bool wal = false;
    if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode", -1, &jm, NULL) == SQLITE_OK &&
        sqlite3_step(jm) == SQLITE_ROW)
        wal = sqlite3_stricmp((const char *)sqlite3_column_text(jm, 0), "wal") == 0;
    sqlite3_finalize(jm);
    if (!wal) {
        st_err_set(err, -EIO, "store: %s: cannot use write-ahead logging", path);
        goto fail;
    }
    for (int i = 0; i < STMT_N; i++) {
        if (sqlite3_prepare_v3(st->db, store_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[i],
                               NULL) != SQLITE_OK) {
            store_sql_err(st, err, store_sql[i]);
            goto fail;
        }
    }
    uint64_t schema = 0;
    if (store_meta_u64(st, "store.schema", &schema, err) < 0)
        goto fail;
    if (schema != STORE_SCHEMA_VERSION) {
        st_err_set(err, ST_EINVAL, "store: %s has schema %" PRIu64 ", this build knows %d", path,
                   schema, STORE_SCHEMA_VERSION);
        goto fail;
    }
    if (store_meta_u64(st, "store.rv", &st->rv, err) < 0 ||
        store_meta_u64(st, "store.window_start", &st->window_start, err) < 0 ||
        store_load_window(st, err) < 0)
        goto fail;
    if (st->ring_count > 0 && store_ring_at(st, st->ring_count - 1)->rv > st->rv)
        st->rv = store_ring_at(st, st->ring_count - 1)->rv;
    st->next_rv = st->rv;
    /* The caps may have shrunk since the last run. */
    ws = store_plan_window(st);
    if (ws != st->window_start) {
        if (store_exec(st, "BEGIN IMMEDIATE", err) < 0)
            goto fail;
        if (store_trim_window(st, ws, err) < 0 || store_exec(st, "COMMIT", err) < 0) {
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            goto fail;
        }
        st->window_start = ws;
        store_ring_evict(st);
    }
    free(sql);
    return st;
fail:
    free(sql);
    store_close(st);
    return NULL;
}

struct store *
store_close(struct store *st)
{
    if (st == NULL)
        return NULL;
    while (st->batch_depth > 0)
        store_rollback(st);
    store_sweep(st);
    for (size_t i = 0; i < STORE_BUCKETS; i++) {
        while (st->buckets[i] != NULL)
            store_watch_destroy(st->buckets[i]->head);
    }
    while (st->all.head != NULL)
        store_watch_destroy(st->all.head);
    for (size_t i = 0; i < st->ring_count; i++)
        store_evrec_clear(store_ring_at(st, i));
    free(st->ring);
    store_pending_truncate(st, 0);
    free(st->pending);
    for (int i = 0; i < STMT_N; i++)
        sqlite3_finalize(st->stmt[i]);
    sqlite3_close(st->db);
    free(st);
    return NULL;
}

uint64_t
store_rv(const struct store *st)
{
    return st->rv;
}

uint64_t
store_window_start(const struct store *st)
{
    return st->window_start;
}

/* ---- reads --------------------------------------------------------------- */

static int
store_check_key(const char *res, const char *ns, const char *name, struct st_err *err)
{
    if (res == NULL || ns == NULL || (name != NULL && name[0] == '\0') ||
        strlen(res) > STORE_KEY_MAX || strlen(ns) > STORE_KEY_MAX ||
        (name != NULL && strlen(name) > STORE_KEY_MAX))
        return st_err_set(err, ST_EINVAL, "store: invalid object key");
    return 0;
}

/* Reads the stored rv and (if <json> is not NULL) a malloc'd copy of the text. */
static int
store_lookup(struct store *st, const char *res, const char *ns, const char *name, uint64_t *rv,
             char **json, size_t *len, struct st_err *err)
{
    sqlite3_stmt *s = store_stmt(st, STMT_GET);
    int rc = 0;

    store_bind_key(s, res, ns, name);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        *rv = (uint64_t)sqlite3_column_int64(s, 0);
        if (json != NULL)
            *json = store_column_dup(s, 1, len);
    } else if (step == SQLITE_DONE) {
        rc = st_err_set(err, ST_ENOTFOUND, "%s \"%s\" not found", res, name);
    } else {
        rc = store_sql_err(st, err, "get");
    }
    sqlite3_reset(s);
    return rc;
}

int
store_get(struct store *st, const char *res, const char *ns, const char *name, json_t **out,
          struct st_err *err)
{
    char *text = NULL;
    size_t len = 0;
    uint64_t rv;
    json_error_t jerr;
    int rc;

    *out = NULL;
    if ((rc = store_check_key(res, ns, name, err)) < 0 || name == NULL)
        return rc < 0 ? rc : st_err_set(err, ST_EINVAL, "store: name required");
    if ((rc = store_lookup(st, res, ns, name, &rv, &text, &len, err)) < 0)
        return rc;
    *out = json_loadb(text, len, STORE_LOAD_FLAGS, &jerr);
    free(text);
    if (*out == NULL)
        return st_err_set(err, -EIO, "store: stored %s %s/%s is corrupt", res, ns, name);
    return 0;
}

/* ---- continue tokens ------------------------------------------------------ */

struct store_token {
    uint64_t rv;
    char *ns; /* the last key returned */
    char *name;
};

/* URL-safe base64 without padding of {"v":1,"res","ns","rv","kns","kname"}. */
static char *
store_token_encode(const char *res, const char *ns, uint64_t rv, const char *kns, const char *kname)
{
    json_t *j = json_pack("{s:i, s:s, s:s?, s:I, s:s, s:s}", "v", 1, "res", res, "ns", ns, "rv",
                          (json_int_t)rv, "kns", kns, "kname", kname);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (text == NULL)
        st_oom();
    char *b64 = st_base64_encode(text, strlen(text));
    free(text);
    size_t n = strlen(b64);
    while (n > 0 && b64[n - 1] == '=')
        b64[--n] = '\0';
    for (char *p = b64; *p; p++) {
        if (*p == '+')
            *p = '-';
        else if (*p == '/')
            *p = '_';
    }
    return b64;
}

static int
store_token_decode(const char *tok, const char *res, const char *ns, struct store_token *out,
                   struct st_err *err)
{
    struct st_buf raw = ST_BUF_INIT(STORE_TOKEN_MAX);
    size_t n = strlen(tok);
    char *std = NULL;
    json_t *j = NULL;
    json_error_t jerr;
    int rc = ST_EPARSE;

    memset(out, 0, sizeof(*out));
    if (n > STORE_TOKEN_MAX)
        goto fail;
    std = st_xstrdup(tok);
    for (char *p = std; *p; p++) {
        if (*p == '-')
            *p = '+';
        else if (*p == '_')
            *p = '/';
    }
    if (st_base64_decode(std, n, &raw) < 0)
        goto fail;
    j = json_loadb(raw.data ? raw.data : "", raw.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(j) || json_integer_value(json_object_get(j, "v")) != 1)
        goto fail;
    const char *tres = json_string_value(json_object_get(j, "res"));
    const json_t *tns = json_object_get(j, "ns");
    const json_t *trv = json_object_get(j, "rv");
    const char *kns = json_string_value(json_object_get(j, "kns"));
    const char *kname = json_string_value(json_object_get(j, "kname"));
    if (tres == NULL || strcmp(tres, res) != 0 || !json_is_integer(trv) ||
        json_integer_value(trv) < 0 || kns == NULL || kname == NULL)
        goto fail;
    if (ns == NULL ? !json_is_null(tns) && tns != NULL
                   : !json_is_string(tns) || strcmp(json_string_value(tns), ns) != 0)
        goto fail;
    out->rv = (uint64_t)json_integer_value(trv);
    out->ns = st_xstrdup(kns);
    out->name = st_xstrdup(kname);
    rc = 0;
fail:
    if (rc < 0)
        st_err_set(err, rc, "invalid continue token");
    json_decref(j);
    free(std);
    st_buf_free(&raw);
    return rc;
}

/* ---- list ----------------------------------------------------------------- */

void
store_list_result_clear(struct store_list_result *r)
{
    json_decref(r->items);
    free(r->continue_token);
    memset(r, 0, sizeof(*r));
    r->remaining = -1;
}

/*
 * Builds the SQL of a list page. Parameters: ?1 res, ?2 ns, ?3 name, ?4/?5
 * the last key of the previous page, ?6 the row limit.
 */
static char *
store_list_sql(bool count, bool has_ns, bool has_name, bool has_key, bool has_limit)
{
    return st_xasprintf("SELECT %s FROM objects WHERE res = ?1%s%s%s%s%s",
                        count ? "COUNT(*)" : "ns, name, json", has_ns ? " AND ns = ?2" : "",
                        has_name ? " AND name = ?3" : "",
                        has_key ? " AND (ns, name) > (?4, ?5)" : "",
                        count ? "" : " ORDER BY ns, name", has_limit ? " LIMIT ?6" : "");
}

int
store_list(struct store *st, const char *res, const char *ns, const struct store_list_opts *opts,
           struct store_list_result *out, struct st_err *err)
{
    struct store_list_opts none = {0};
    struct store_token tok = {0};
    sqlite3_stmt *s = NULL;
    char *sql = NULL;
    char *last_ns = NULL, *last_name = NULL;
    bool more = false;
    int rc = 0, step;

    memset(out, 0, sizeof(*out));
    out->remaining = -1;
    if (opts == NULL)
        opts = &none;
    if ((rc = store_check_key(res, ns ? ns : "", NULL, err)) < 0)
        return rc;
    out->rv = st->rv;
    if (opts->continue_token != NULL && opts->continue_token[0] != '\0') {
        if ((rc = store_token_decode(opts->continue_token, res, ns, &tok, err)) < 0)
            return rc;
        if (tok.rv < st->window_start) {
            rc = st_err_set(err, ST_EGONE,
                            "The provided continue parameter is too old to "
                            "display a consistent list result. You can start a new list "
                            "without the continue parameter.");
            goto out;
        }
        out->rv = tok.rv;
    }
    /* Equality on name or namespace narrows the scan; the selector still decides. */
    const char *want_ns = ns ? ns : selector_field_equals(opts->fields, "metadata.namespace");
    const char *want_name = selector_field_equals(opts->fields, "metadata.name");
    bool filtered = !selector_empty(opts->labels) || !selector_empty(opts->fields);
    bool limited = opts->limit > 0 && !filtered;

    sql = store_list_sql(false, want_ns != NULL, want_name != NULL, tok.ns != NULL, limited);
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
        rc = store_sql_err(st, err, "prepare list");
        goto out;
    }
    sqlite3_bind_text(s, 1, res, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, want_ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, want_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, tok.ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, tok.name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, limited ? (sqlite3_int64)ST_MIN(opts->limit, INT64_MAX - 1) + 1 : 0);
    out->items = json_array();
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        json_error_t jerr;
        const char *text = (const char *)sqlite3_column_text(s, 2);
        json_t *obj = json_loadb(text ? text : "", (size_t)sqlite3_column_bytes(s, 2),
                                 STORE_LOAD_FLAGS, &jerr);
        if (obj == NULL) {
            rc = st_err_set(err, -EIO, "store: a stored %s object is corrupt", res);
            goto out;
        }
        const json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
        if (!selector_match_labels(opts->labels, labels) ||
            !selector_match_fields(opts->fields, obj)) {
            json_decref(obj);
            continue;
        }
        if (opts->limit > 0 && json_array_size(out->items) == opts->limit) {
            json_decref(obj);
            more = true;
            break;
        }
        json_array_append_new(out->items, obj);
        free(last_ns);
        free(last_name);
        last_ns = store_column_dup(s, 0, NULL);
        last_name = store_column_dup(s, 1, NULL);
    }
    if (!more && step != SQLITE_DONE) {
        rc = store_sql_err(st, err, "list");
        goto out;
    }
    sqlite3_finalize(s);
    s = NULL;
    if (!more)
        goto out;
    out->continue_token = store_token_encode(res, ns, out->rv, last_ns, last_name);
    if (filtered)
        goto out;
    free(sql);
    sql = store_list_sql(true, ns != NULL, false, true, false);
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
        rc = store_sql_err(st, err, "prepare count");
        goto out;
    }
    sqlite3_bind_text(s, 1, res, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, last_ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, last_name, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_ROW) {
        rc = store_sql_err(st, err, "count");
        goto out;
    }
    out->remaining = sqlite3_column_int64(s, 0);
out:
    sqlite3_finalize(s);
    free(sql);
    free(last_ns);
    free(last_name);
    free(tok.ns);
    free(tok.name);
    if (rc < 0)
        store_list_result_clear(out);
    return rc;
}

int
store_keys(struct store *st, const char *res, const char *ns, size_t max, struct store_key **out,
           size_t *n, struct st_err *err)
{
    sqlite3_stmt *s = NULL;
    size_t cap = 0;
    int rc = 0, step;

    *out = NULL;
    *n = 0;
    char *sql = st_xasprintf("SELECT res, ns, name FROM objects WHERE 1%s%s "
                             "ORDER BY res, ns, name",
                             res ? " AND res = ?1" : "", ns ? " AND ns = ?2" : "");
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
        rc = store_sql_err(st, err, "prepare keys");
        goto out;
    }
    sqlite3_bind_text(s, 1, res, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, ns, -1, SQLITE_STATIC);
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if (max > 0 && *n == max) {
            rc = st_err_set(err, ST_ETOOBIG, "more than %zu objects", max);
            goto out;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            *out = st_xrealloc(*out, cap * sizeof(**out));
        }
        struct store_key *k = &(*out)[(*n)++];
        k->res = store_column_dup(s, 0, NULL);
        k->ns = store_column_dup(s, 1, NULL);
        k->name = store_column_dup(s, 2, NULL);
    }
    if (step != SQLITE_DONE)
        rc = store_sql_err(st, err, "keys");
out:
    sqlite3_finalize(s);
    free(sql);
    if (rc < 0) {
        store_keys_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

void
store_keys_free(struct store_key *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(keys[i].res);
        free(keys[i].ns);
        free(keys[i].name);
    }
    free(keys);
}

/* ---- transactions --------------------------------------------------------- */

/*
 * Makes the open transaction durable: trims the persisted window, records
 * the counter, commits, then publishes the events. On failure everything of
 * the transaction is rolled back and discarded.
 */
static int
store_finish(struct store *st, struct st_err *err)
{
    uint64_t start = store_plan_window(st);
    int rc = 0;

    if (st->next_rv != st->rv)
        rc = store_meta_put_u64(st, "store.rv", st->next_rv, err);
    if (rc == 0)
        rc = store_trim_window(st, start, err);
    if (rc == 0)
        rc = store_exec(st, "COMMIT", err);
    if (rc < 0) {
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        store_pending_truncate(st, 0);
        st->next_rv = st->rv;
        return rc;
    }
    store_publish(st, start);
    return 0;
}

int
store_begin(struct store *st, struct st_err *err)
{
    char sql[64];
    int rc;

    if (st->delivering > 0)
        return st_err_set(err, ST_EINVAL, "store: a batch cannot start in a watch callback");
    if (st->batch_depth == STORE_MAX_BATCH_DEPTH)
        return st_err_set(err, ST_EINVAL, "store: batches nested too deeply");
    if (st->batch_depth == 0) {
        rc = store_exec(st, "BEGIN IMMEDIATE", err);
    } else {
        snprintf(sql, sizeof(sql), "SAVEPOINT store_batch_%u", st->batch_depth);
        rc = store_exec(st, sql, err);
    }
    if (rc < 0)
        return rc;
    st->batch_marks[st->batch_depth].next_rv = st->next_rv;
    st->batch_marks[st->batch_depth].n_pending = st->n_pending;
    st->batch_depth++;
    st->in_batch = true;
    return 0;
}

int
store_commit(struct store *st, struct st_err *err)
{
    char sql[64];

    if (st->batch_depth == 0)
        return st_err_set(err, ST_EINVAL, "store: no batch is open");
    if (st->batch_depth > 1) {
        /* An inner batch joins the outer one; its events wait for the outer commit. */
        st->batch_depth--;
        snprintf(sql, sizeof(sql), "RELEASE store_batch_%u", st->batch_depth);
        int rc = store_exec(st, sql, err);
        if (rc < 0)
            st->batch_depth++;
        return rc;
    }
    st->batch_depth = 0;
    st->in_batch = false;
    return store_finish(st, err);
}

int
store_rollback(struct store *st)
{
    char sql[96];
    int rc;

    if (st->batch_depth == 0)
        return ST_EINVAL;
    st->batch_depth--;
    if (st->batch_depth > 0) {
        snprintf(sql, sizeof(sql), "ROLLBACK TO store_batch_%u; RELEASE store_batch_%u",
                 st->batch_depth, st->batch_depth);
        rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
    } else {
        st->in_batch = false;
        rc = sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
    }
    store_pending_truncate(st, st->batch_marks[st->batch_depth].n_pending);
    st->next_rv = st->batch_marks[st->batch_depth].next_rv;
    return rc;
}

unsigned
store_batch_depth(const struct store *st)
{
    return st->batch_depth;
}

bool
store_in_batch(const struct store *st)
{
    return st->in_batch;
}

/* State saved at the start of one write, to undo it inside a batch. */
struct store_mark {
    uint64_t next_rv;
    size_t n_pending;
};

static int
store_write_begin(struct store *st, struct store_mark *m, struct st_err *err)
{
    if (st->delivering > 0)
        return st_err_set(err, ST_EINVAL, "store: writes are not allowed in a watch callback");
    m->next_rv = st->next_rv;
    m->n_pending = st->n_pending;
    return store_exec(st, st->in_batch ? "SAVEPOINT store_write" : "BEGIN IMMEDIATE", err);
}

/* Ends one write: <rc> < 0 undoes it; otherwise it is released or committed. */
static int
store_write_end(struct store *st, const struct store_mark *m, int rc, struct st_err *err)
{
    if (rc == 0 && st->in_batch)
        rc = store_exec(st, "RELEASE store_write", err);
    else if (rc == 0)
        return store_finish(st, err);
    if (rc < 0) {
        if (st->in_batch)
            sqlite3_exec(st->db, "ROLLBACK TO store_write; RELEASE store_write", NULL, NULL, NULL);
        else
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        store_pending_truncate(st, m->n_pending);
        st->next_rv = m->next_rv;
    }
    return rc;
}

/* ---- writes ---------------------------------------------------------------- */

/* Remembers obj's metadata.resourceVersion so a failed write can restore it. */
struct store_saved_rv {
    json_t *value; /* a reference, or NULL when there was none */
};

static json_t *
store_metadata(json_t *obj)
{
    json_t *md = json_object_get(obj, "metadata");
    if (!json_is_object(md)) {
        md = json_object();
        json_object_set_new(obj, "metadata", md);
    }
    return md;
}

static void
store_save_rv(json_t *obj, struct store_saved_rv *s)
{
    s->value = json_incref(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
}

static void
store_restore_rv(json_t *obj, struct store_saved_rv *s)
{
    json_t *md = json_object_get(obj, "metadata");
    if (json_is_object(md)) {
        if (s->value != NULL)
            json_object_set(md, "resourceVersion", s->value);
        else
            json_object_del(md, "resourceVersion");
    }
    json_decref(s->value);
    s->value = NULL;
}

/* Sets metadata.resourceVersion to <rv> and serializes <obj> under the cap. */
static int
store_stamp(struct store *st, json_t *obj, uint64_t rv, char **text, size_t *len,
            struct st_err *err)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%" PRIu64, rv);
    json_object_set_new(store_metadata(obj), "resourceVersion", json_string(buf));
    *text = json_dumps(obj, JSON_COMPACT);
    if (*text == NULL)
        return st_err_set(err, ST_EINVAL, "store: object cannot be serialized");
    *len = strlen(*text);
    if (*len > st->max_object) {
        free(*text);
        *text = NULL;
        return st_err_set(err, ST_ETOOBIG, "object is larger than the limit of %zu bytes",
                          st->max_object);
    }
    return 0;
}

static int
store_put_row(struct store *st, int id, const char *res, const char *ns, const char *name,
              uint64_t rv, const char *text, size_t len, struct st_err *err)
{
    sqlite3_stmt *s = store_stmt(st, id);
    store_bind_key(s, res, ns, name);
    if (id != STMT_DELETE) {
        sqlite3_bind_int64(s, 4, (sqlite3_int64)rv);
        sqlite3_bind_text(s, 5, text, (int)len, SQLITE_STATIC);
    }
    return store_step_done(st, s, err, "object write");
}

/*
 * Records an event in the events table and the pending list. Takes
 * ownership of <json> and <prev> (both malloc'd) whatever the outcome.
 */
static int
store_add_event(struct store *st, const char *type, const char *res, const char *ns,
                const char *name, uint64_t rv, char *json, size_t len, char *prev, size_t prev_len,
                struct st_err *err)
{
    sqlite3_stmt *s = store_stmt(st, STMT_EVENT);
    sqlite3_bind_int64(s, 1, (sqlite3_int64)rv);
    sqlite3_bind_text(s, 2, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, res, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, json, (int)len, SQLITE_STATIC);
    if (prev != NULL)
        sqlite3_bind_text(s, 7, prev, (int)prev_len, SQLITE_STATIC);
    int rc = store_step_done(st, s, err, "event write");
    if (rc < 0) {
        free(json);
        free(prev);
        return rc;
    }
    if (st->n_pending == st->cap_pending) {
        st->cap_pending = st->cap_pending ? st->cap_pending * 2 : 8;
        st->pending = st_xrealloc(st->pending, st->cap_pending * sizeof(*st->pending));
    }
    struct store_evrec *e = &st->pending[st->n_pending++];
    *e = (struct store_evrec){
        type, st_xstrdup(res), st_xstrdup(ns), st_xstrdup(name), rv, json, len, prev, prev_len, 0};
    e->bytes = store_evrec_bytes(e);
    st->next_rv = rv;
    return 0;
}

int
store_create(struct store *st, const char *res, const char *ns, json_t *obj, struct st_err *err)
{
    struct store_saved_rv saved;
    struct store_mark mark;
    char *text = NULL;
    size_t len = 0;
    uint64_t old_rv;
    int rc;

    const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
    if (name == NULL || name[0] == '\0')
        return st_err_set(err, ST_EINVAL, "metadata.name is required");
    if ((rc = store_check_key(res, ns, name, err)) < 0)
        return rc;
    if ((rc = store_write_begin(st, &mark, err)) < 0)
        return rc;
    store_save_rv(obj, &saved);
    rc = store_lookup(st, res, ns, name, &old_rv, NULL, NULL, err);
    if (rc == 0)
        rc = st_err_set(err, -EEXIST, "%s \"%s\" already exists", res, name);
    else if (rc == ST_ENOTFOUND)
        rc = 0;
    uint64_t rv = st->next_rv + 1;
    if (rc == 0)
        rc = store_stamp(st, obj, rv, &text, &len, err);
    if (rc == 0)
        rc = store_put_row(st, STMT_INSERT, res, ns, name, rv, text, len, err);
    if (rc == 0)
        rc = store_add_event(st, "ADDED", res, ns, name, rv, text, len, NULL, 0, err);
    else
        free(text);
    rc = store_write_end(st, &mark, rc, err);
    if (rc < 0)
        store_restore_rv(obj, &saved);
    json_decref(saved.value);
    return rc;
}

int
store_update(struct store *st, const char *res, const char *ns, const char *name, json_t *obj,
             uint64_t expected_rv, struct st_err *err)
{
    struct store_saved_rv saved;
    struct store_mark mark;
    char *old = NULL, *text = NULL;
    size_t old_len = 0, len = 0;
    uint64_t old_rv = 0;
    int rc;

    if ((rc = store_check_key(res, ns, name, err)) < 0 || name == NULL)
        return rc < 0 ? rc : st_err_set(err, ST_EINVAL, "store: name required");
    if (!json_is_object(obj))
        return st_err_set(err, ST_EINVAL, "store: the object must be a JSON object");
    const json_t *oname = json_object_get(json_object_get(obj, "metadata"), "name");
    if (oname != NULL && (!json_is_string(oname) || strcmp(json_string_value(oname), name) != 0))
        return st_err_set(err, ST_EINVAL, "metadata.name does not match the object's name");
    if ((rc = store_write_begin(st, &mark, err)) < 0)
        return rc;
    store_save_rv(obj, &saved);
    rc = store_lookup(st, res, ns, name, &old_rv, &old, &old_len, err);
    if (rc == 0 && expected_rv != 0 && expected_rv != old_rv)
        rc = st_err_set(err, ST_ECONFLICT,
                        "the object has been modified; please apply your "
                        "changes to the latest version and try again");
    if (rc == 0 && oname == NULL)
        json_object_set_new(store_metadata(obj), "name", json_string(name));
    /* An update that changes nothing but the version is not a write. */
    if (rc == 0 && (rc = store_stamp(st, obj, old_rv, &text, &len, err)) == 0 && len == old_len &&
        memcmp(text, old, len) == 0) {
        free(text);
        free(old);
        json_decref(saved.value);
        return store_write_end(st, &mark, 0, err);
    }
    free(text);
    text = NULL;
    uint64_t rv = st->next_rv + 1;
    if (rc == 0)
        rc = store_stamp(st, obj, rv, &text, &len, err);
    if (rc == 0)
        rc = store_put_row(st, STMT_UPDATE, res, ns, name, rv, text, len, err);
    if (rc == 0) {
        rc = store_add_event(st, "MODIFIED", res, ns, name, rv, text, len, old, old_len, err);
    } else {
        free(text);
        free(old);
    }
    rc = store_write_end(st, &mark, rc, err);
    if (rc < 0) {
        store_restore_rv(obj, &saved);
        if (oname == NULL)
            json_object_del(store_metadata(obj), "name");
    }
    json_decref(saved.value);
    return rc;
}

int
store_delete(struct store *st, const char *res, const char *ns, const char *name,
             uint64_t expected_rv, json_t **deleted, struct st_err *err)
{
    struct store_mark mark;
    json_t *obj = NULL;
    char *old = NULL, *text = NULL;
    size_t old_len = 0, len = 0;
    uint64_t old_rv = 0;
    json_error_t jerr;
    int rc;

    if (deleted != NULL)
        *deleted = NULL;
    if ((rc = store_check_key(res, ns, name, err)) < 0 || name == NULL)
        return rc < 0 ? rc : st_err_set(err, ST_EINVAL, "store: name required");
    if ((rc = store_write_begin(st, &mark, err)) < 0)
        return rc;
    rc = store_lookup(st, res, ns, name, &old_rv, &old, &old_len, err);
    if (rc == 0 && expected_rv != 0 && expected_rv != old_rv)
        rc = st_err_set(err, ST_ECONFLICT,
                        "the object has been modified; please apply your "
                        "changes to the latest version and try again");
    if (rc == 0 && (obj = json_loadb(old, old_len, STORE_LOAD_FLAGS, &jerr)) == NULL)
        rc = st_err_set(err, -EIO, "store: stored %s %s/%s is corrupt", res, ns, name);
    free(old);
    uint64_t rv = st->next_rv + 1;
    if (rc == 0) {
        /* The deletion may grow the version string; the cap does not apply to it. */
        char buf[24];
        snprintf(buf, sizeof(buf), "%" PRIu64, rv);
        json_object_set_new(store_metadata(obj), "resourceVersion", json_string(buf));
        text = json_dumps(obj, JSON_COMPACT);
        if (text == NULL)
            st_oom();
        len = strlen(text);
        rc = store_put_row(st, STMT_DELETE, res, ns, name, 0, NULL, 0, err);
    }
    if (rc == 0)
        rc = store_add_event(st, "DELETED", res, ns, name, rv, text, len, NULL, 0, err);
    else
        free(text);
    rc = store_write_end(st, &mark, rc, err);
    if (rc == 0 && deleted != NULL)
        *deleted = obj;
    else
        json_decref(obj);
    return rc;
}

/* ---- meta ----------------------------------------------------------------- */

int
store_meta_get(struct store *st, const char *key, char **out, struct st_err *err)
{
    sqlite3_stmt *s = store_stmt(st, STMT_META_GET);
    int rc = 0;

    *out = NULL;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW)
        *out = store_column_dup(s, 0, NULL);
    else if (step == SQLITE_DONE)
        rc = st_err_set(err, ST_ENOTFOUND, "meta key %.100s not found", key);
    else
        rc = store_sql_err(st, err, "meta read");
    sqlite3_reset(s);
    if (rc == 0 && *out == NULL)
        *out = st_xstrdup("");
    return rc;
}

int
store_meta_set(struct store *st, const char *key, const char *value, struct st_err *err)
{
    struct store_mark mark;
    int rc;

    if (key == NULL || key[0] == '\0' || strlen(key) > STORE_KEY_MAX ||
        st_str_has_prefix(key, "store."))
        return st_err_set(err, ST_EINVAL, "store: meta key %.100s is reserved or invalid",
                          key ? key : "");
    if (value != NULL && strlen(value) > st->max_object)
        return st_err_set(err, ST_ETOOBIG, "meta value is larger than %zu bytes", st->max_object);
    if ((rc = store_write_begin(st, &mark, err)) < 0)
        return rc;
    rc = store_meta_put(st, key, value, err);
    return store_write_end(st, &mark, rc, err);
}
