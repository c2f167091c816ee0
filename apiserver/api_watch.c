/*
 * Watch streams: one store watcher per client watch, events filtered by the
 * request's selectors, rendered as JSON lines (optionally as one-row
 * Tables), bookmarks and timeouts driven by api_tick.
 */
#include "api_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "selector.h"
#include "store.h"

/* The longest a watch that asked for bookmarks goes without one. */
#define WATCH_KEEPALIVE_MS 60000

struct api_watch {
    struct api *a;
    struct store_watch *sw;
    const struct api_watch_sink *sink;
    void *arg;
    /* what is watched */
    char *key;
    char *ns;                /* NULL: every namespace */
    struct reg_resource res; /* a private copy of what rendering needs */
    struct selector *labels;
    struct selector *fields;
    /* how it is rendered */
    enum api_format format;
    const char *table_version;
    enum table_include include;
    bool needs_parse;
    /* where it stands */
    bool initial_list;     /* send the current objects first */
    bool initial_bookmark; /* sendInitialEvents: mark the end of them */
    uint64_t from_rv;
    uint64_t last_rv;
    bool bookmarks;
    uint64_t deadline_ms;
    uint64_t next_bookmark_ms;
    uint64_t last_bookmark_ms; /* last BOOKMARK sent, for the keep-alive ones */
    bool registered;
    bool ended;
};

static void
watch_unregister(struct api_watch *w)
{
    struct api *a = w->a;

    if (!w->registered)
        return;
    for (size_t i = 0; i < a->n_watches; i++) {
        if (a->watches[i] == w) {
            a->watches[i] = a->watches[--a->n_watches];
            break;
        }
    }
    w->registered = false;
}

/* Ends <w>: no more events, the sink's end is called (which may free <w>). */
static void
watch_end(struct api_watch *w)
{
    if (w->ended)
        return;
    w->ended = true;
    w->sw = store_watch_free(w->sw);
    watch_unregister(w);
    if (w->sink && w->sink->end)
        w->sink->end(w->arg); /* must be last: it may free w */
}

/* Sends one event line; on refusal ends the watch and returns -1 (w may be gone). */
static int
watch_send(struct api_watch *w, const char *type, const json_t *obj)
{
    struct st_buf b = ST_BUF_INIT(0);
    int rc;

    rc = st_buf_appendf(&b, "{\"type\":\"%s\",\"object\":", type);
    if (rc == 0)
        rc = api_dump(w->a, obj, &b);
    if (rc == 0)
        rc = st_buf_append(&b, "}\n", 2);
    if (rc == 0)
        rc = w->sink->data(w->arg, b.data, b.len);
    st_buf_free(&b);
    if (rc < 0) {
        watch_end(w);
        return -1;
    }
    return 0;
}

/* Renders <obj> (stolen) for this watch: apiVersion of the watched version, Table if asked. */
static json_t *
watch_render(struct api_watch *w, json_t *obj)
{
    api_crud_present(&w->res, obj);
    if (w->format != API_FMT_TABLE)
        return obj;
    struct table_opts to = {w->include, w->table_version, st_wall_s()};
    json_t *t = table_new(&w->res, &to);
    table_add_row(t, &w->res, obj, &to);
    json_object_set_new(
        json_object_get(t, "metadata"), "resourceVersion",
        json_deep_copy(json_object_get(json_object_get(obj, "metadata"), "resourceVersion")));
    json_decref(obj);
    return t;
}

static bool
watch_matches(const struct api_watch *w, const json_t *obj)
{
    return selector_match_labels(w->labels,
                                 json_object_get(json_object_get(obj, "metadata"), "labels")) &&
           selector_match_fields(w->fields, obj);
}

static void
watch_cb(struct store_watch *sw, const struct store_event *ev, void *arg)
{
    struct api_watch *w = arg;
    const char *type = ev->type;

    w->sw = sw; /* also during the replay inside store_watch_new */
    if (w->ended)
        return;
    if (ev->rv > w->last_rv)
        w->last_rv = ev->rv;
    if (!w->needs_parse) {
        struct st_buf b = ST_BUF_INIT(0);
        int rc = st_buf_appendf(&b, "{\"type\":\"%s\",\"object\":", type);
        if (rc == 0)
            rc = st_buf_append(&b, ev->json, ev->json_len);
        if (rc == 0)
            rc = st_buf_append(&b, "}\n", 2);
        if (rc == 0)
            rc = w->sink->data(w->arg, b.data, b.len);
        st_buf_free(&b);
        if (rc < 0)
            watch_end(w);
        return;
    }
    json_t *obj = json_loadb(ev->json, ev->json_len, 0, NULL);
    if (!obj)
        return; /* the store only holds JSON it wrote itself */
    bool cur = watch_matches(w, obj);
    if (!strcmp(type, "MODIFIED") && !(selector_empty(w->labels) && selector_empty(w->fields))) {
        json_t *prev = ev->prev_json ? json_loadb(ev->prev_json, ev->prev_len, 0, NULL) : NULL;
        bool was = prev ? watch_matches(w, prev) : cur;
        json_decref(prev);
        /* Moving into or out of the selection looks like creation or deletion. */
        if (cur && !was)
            type = "ADDED";
        else if (!cur && was)
            type = "DELETED";
        else if (!cur)
            type = NULL;
    } else if (!cur) {
        type = NULL;
    }
    if (!type) {
        json_decref(obj);
        return;
    }
    obj = watch_render(w, obj);
    watch_send(w, type, obj);
    json_decref(obj);
}

static void
watch_free_res(struct reg_resource *r)
{
    free(r->group);
    free(r->version);
    free(r->kind);
    free(r->plural);
    free(r->key);
    free(r->api_version);
    json_decref(r->columns);
    memset(r, 0, sizeof(*r));
}

struct api_watch *
api_watch_free(struct api_watch *w)
{
    if (!w)
        return NULL;
    w->ended = true;
    w->sw = store_watch_free(w->sw);
    watch_unregister(w);
    free(w->key);
    free(w->ns);
    watch_free_res(&w->res);
    selector_free(w->labels);
    selector_free(w->fields);
    free(w);
    return NULL;
}

/* The Status object of an ERROR event. */
static json_t *
watch_status(int code, const char *reason, const char *msg)
{
    return json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:i}", "kind", "Status", "apiVersion", "v1",
                     "metadata", "status", "Failure", "message", msg, "reason", reason, "code",
                     code);
}

static json_t *
watch_bookmark(struct api_watch *w, uint64_t rv, bool initial_end)
{
    char rvs[32];

    snprintf(rvs, sizeof(rvs), "%" PRIu64, rv);
    json_t *o = json_pack("{s:s,s:s,s:{s:s}}", "kind", w->res.kind, "apiVersion",
                          w->res.api_version, "metadata", "resourceVersion", rvs);
    if (initial_end)
        json_object_set_new(json_object_get(o, "metadata"), "annotations",
                            json_pack("{s:s}", "k8s.io/initial-events-end", "true"));
    return o;
}

/* A selector "metadata.name=<name>" with the field selector escapes applied. */
static int
watch_name_selector(const char *name, const char *extra, struct selector **out, struct st_err *err)
{
    struct st_buf b = ST_BUF_INIT(SELECTOR_MAX_LEN);
    int rc = st_buf_append_str(&b, "metadata.name=");

    for (const char *p = name; rc == 0 && *p; p++) {
        if (*p == ',' || *p == '=' || *p == '!' || *p == '\\')
            rc = st_buf_append(&b, "\\", 1);
        if (rc == 0)
            rc = st_buf_append(&b, p, 1);
    }
    if (rc == 0 && extra && *extra)
        rc = st_buf_appendf(&b, ",%s", extra);
    if (rc < 0) {
        st_buf_free(&b);
        return st_err_set(err, ST_ETOOBIG, "field selector too long");
    }
    rc = selector_parse_fields(st_buf_cstr(&b), out, err);
    st_buf_free(&b);
    return rc;
}

int
api_watch_handle(struct api_ctx *c)
{
    struct api *a = c->a;
    struct st_err err = {0};
    uint64_t rv = 0, timeout = 0;
    int rc;

    if (a->n_watches >= a->max_watches)
        return api_fail(c, 429, "TooManyRequests", NULL, "too many open watches (%zu); retry later",
                        a->max_watches);
    const char *rvq = api_q(c, "resourceVersion");
    bool initial = !rvq || !*rvq || !strcmp(rvq, "0");
    if (!initial && st_parse_u64(st_str_c(rvq), INT64_MAX, &rv) < 0)
        return api_fail(c, 400, "BadRequest", NULL, "invalid resource version: %s", rvq);
    const char *to = api_q(c, "timeoutSeconds");
    if (to && *to && st_parse_u64(st_str_c(to), UINT32_MAX, &timeout) < 0)
        return api_fail(c, 400, "BadRequest", NULL, "invalid timeoutSeconds: %s", to);
    if (timeout == 0 || timeout > a->watch_timeout_s)
        timeout = a->watch_timeout_s;

    struct api_watch *w = st_xcalloc(1, sizeof(*w));
    w->a = a;
    if ((rc = selector_parse_labels(api_q(c, "labelSelector"), &w->labels, &err)) < 0)
        goto bad_request;
    if (c->name)
        rc = watch_name_selector(c->name, api_q(c, "fieldSelector"), &w->fields, &err);
    else
        rc = selector_parse_fields(api_q(c, "fieldSelector"), &w->fields, &err);
    if (rc < 0 || (rc = api_crud_check_fields(c->res, w->fields, &err)) < 0)
        goto bad_request;

    const struct reg_resource *r = c->res;
    w->key = st_xstrdup(r->key);
    if (r->namespaced)
        w->ns = c->ns && *c->ns ? st_xstrdup(c->ns) : NULL;
    else
        w->ns = st_xstrdup("");
    w->res.group = st_xstrdup(r->group);
    w->res.version = st_xstrdup(r->version);
    w->res.kind = st_xstrdup(r->kind);
    w->res.plural = st_xstrdup(r->plural);
    w->res.key = st_xstrdup(r->key);
    w->res.api_version = st_xstrdup(r->api_version);
    w->res.table = r->table;
    w->res.columns = json_incref(r->columns);
    w->res.crd = r->crd;
    w->res.namespaced = r->namespaced;
    w->format = c->format;
    w->table_version = c->table_version;
    w->include = c->include;
    w->needs_parse = c->format == API_FMT_TABLE || r->crd || !selector_empty(w->labels) ||
                     !selector_empty(w->fields);
    w->initial_list = initial;
    w->initial_bookmark = api_q_true(c, "sendInitialEvents");
    if (w->initial_bookmark)
        w->initial_list = true;
    w->from_rv = rv;
    w->last_rv = rv;
    w->bookmarks = api_q_true(c, "allowWatchBookmarks");
    uint64_t now = st_now_ms();
    w->deadline_ms = now + timeout * 1000;
    w->next_bookmark_ms = now + a->bookmark_interval_ms;
    w->last_bookmark_ms = now;

    if (!initial && rv < store_window_start(a->st)) {
        /* Kubernetes answers 200 and then one ERROR event with a 410 Status. */
        char msg[128];
        snprintf(msg, sizeof(msg), "too old resource version: %" PRIu64 " (%" PRIu64 ")", rv,
                 store_window_start(a->st));
        json_t *ev =
            json_pack("{s:s,s:o}", "type", "ERROR", "object", watch_status(410, "Expired", msg));
        st_buf_reset(&c->resp->body);
        rc = api_dump(a, ev, &c->resp->body);
        json_decref(ev);
        api_watch_free(w);
        if (rc < 0 || st_buf_append(&c->resp->body, "\n", 1) < 0)
            return api_fail(c, 500, "InternalError", NULL, "could not render the watch error");
        c->resp->status = 200;
        c->resp->content_type = "application/json";
        return 200;
    }
    if (a->n_watches == a->cap_watches) {
        a->cap_watches = a->cap_watches ? 2 * a->cap_watches : 16;
        a->watches = st_xrealloc(a->watches, a->cap_watches * sizeof(*a->watches));
    }
    a->watches[a->n_watches++] = w;
    w->registered = true;
    st_buf_reset(&c->resp->body);
    c->resp->status = 200;
    c->resp->content_type = "application/json";
    c->resp->watch = w;
    return 200;

bad_request:
    api_watch_free(w);
    return api_fail(c, 400, "BadRequest", NULL, "%s", err.msg);
}

int
api_watch_start(struct api_watch *w, const struct api_watch_sink *sink, void *arg)
{
    struct api *a = w->a;
    struct st_err err = {0};
    uint64_t from = w->from_rv;

    w->sink = sink;
    w->arg = arg;
    if (w->ended)
        return -ECANCELED;
    if (w->initial_list) {
        struct store_list_result res = {0};
        struct store_list_opts lo = {w->labels, w->fields, 0, NULL};
        int rc = store_list(a->st, w->key, w->ns, &lo, &res, &err);
        if (rc < 0) {
            json_t *st = watch_status(500, "InternalError", err.msg);
            if (watch_send(w, "ERROR", st) == 0)
                watch_end(w);
            json_decref(st);
            return rc;
        }
        size_t i;
        json_t *item;
        json_array_foreach(res.items, i, item)
        {
            json_t *obj = watch_render(w, json_incref(item));
            rc = watch_send(w, "ADDED", obj);
            json_decref(obj);
            if (rc < 0) {
                store_list_result_clear(&res);
                return -ECANCELED;
            }
        }
        from = res.rv;
        store_list_result_clear(&res);
        w->last_rv = from;
        if (w->initial_bookmark) {
            json_t *bm = watch_bookmark(w, from, true);
            int rc2 = watch_send(w, "BOOKMARK", bm);
            json_decref(bm);
            if (rc2 < 0)
                return -ECANCELED;
        }
    }
    struct store_watch *sw = store_watch_new(a->st, w->key, w->ns, from, watch_cb, w, &err);
    if (w->ended)
        return -ECANCELED;
    if (!sw) {
        json_t *st = err.code == ST_EGONE ? watch_status(410, "Expired", err.msg)
                                          : watch_status(500, "InternalError", err.msg);
        int rc = watch_send(w, "ERROR", st);
        json_decref(st);
        if (rc == 0)
            watch_end(w);
        return err.code ? err.code : -EIO;
    }
    w->sw = sw;
    return 0;
}

void
api_tick(struct api *a, uint64_t now_ms)
{
    uint64_t rv = store_rv(a->st);

    /* Backwards, because ending a watch removes it by moving the last one into its slot. */
    for (size_t i = a->n_watches; i-- > 0;) {
        if (i >= a->n_watches)
            continue;
        struct api_watch *w = a->watches[i];
        if (!w->sink || w->ended)
            continue; /* not started yet */
        if (now_ms >= w->deadline_ms) {
            watch_end(w);
            continue;
        }
        if (w->bookmarks && now_ms >= w->next_bookmark_ms) {
            w->next_bookmark_ms = now_ms + a->bookmark_interval_ms;
            /*
             * A bookmark when the store moved past what the watch has seen,
             * and at least once a minute anyway: a quiet watch then still
             * proves it is alive, so clients need not time it out.
             */
            bool moved = rv > w->last_rv;
            if (moved || now_ms - w->last_bookmark_ms >= WATCH_KEEPALIVE_MS) {
                json_t *bm = watch_bookmark(w, moved ? rv : w->last_rv, false);
                if (moved)
                    w->last_rv = rv;
                w->last_bookmark_ms = now_ms;
                watch_send(w, "BOOKMARK", bm);
                json_decref(bm);
            }
        }
    }
}

void
api_watch_end_key(struct api *a, const char *key)
{
    for (size_t i = a->n_watches; i-- > 0;) {
        if (i >= a->n_watches)
            continue;
        struct api_watch *w = a->watches[i];
        if (!strcmp(w->key, key)) {
            if (w->sink)
                watch_end(w);
            else {
                w->ended = true;
                watch_unregister(w);
            }
        }
    }
}

void
api_watch_free_all(struct api *a)
{
    /* The glue still owns its watches; detach them so api_watch_free stays safe. */
    while (a->n_watches > 0) {
        struct api_watch *w = a->watches[a->n_watches - 1];
        w->ended = true;
        w->sw = store_watch_free(w->sw);
        w->sink = NULL;
        watch_unregister(w);
    }
}

size_t
api_watch_count(const struct api *a)
{
    return a->n_watches;
}
