/*
 * Unit tests for the apiserver store (store.h): CRUD and preconditions,
 * paging, selectors in lists, watches and the event window, batches,
 * durability across kill -9, and the object cap. Each test uses a fresh
 * database in its own temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <sqlite3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "selector.h"
#include "store.h"

struct fixture {
    char dir[64];
    char path[96];
    struct store *st;
};

static int
setup(void **state)
{
    struct fixture *f = st_xcalloc(1, sizeof(*f));
    struct st_err err;

    snprintf(f->dir, sizeof(f->dir), "/tmp/test_store.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/db", f->dir);
    f->st = store_open(f->path, NULL, &err);
    if (f->st == NULL)
        return -1;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    char *cmd = st_xasprintf("rm -rf '%s'", f->dir);

    store_close(f->st);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", f->dir);
    free(cmd);
    free(f);
    return 0;
}

/* Reopens the fixture's store with <opt>. */
static void
reopen(struct fixture *f, const struct store_options *opt)
{
    struct st_err err;

    store_close(f->st);
    f->st = store_open(f->path, opt, &err);
    if (f->st == NULL)
        fail_msg("reopen: %s", err.msg);
}

static json_t *
make_obj(const char *name, const char *app)
{
    json_t *o = json_pack("{s:s, s:s, s:{s:s}, s:{s:i}}", "apiVersion", "v1", "kind", "Service",
                          "metadata", "name", name, "spec", "port", 80);
    if (app != NULL)
        json_object_set_new(json_object_get(o, "metadata"), "labels",
                            json_pack("{s:s}", "app", app));
    return o;
}

static uint64_t
obj_rv(const json_t *o)
{
    uint64_t v = 0;
    const char *s =
        json_string_value(json_object_get(json_object_get(o, "metadata"), "resourceVersion"));
    assert_non_null(s);
    assert_int_equal(st_parse_u64(st_str_c(s), UINT64_MAX, &v), 0);
    return v;
}

static uint64_t
create(struct store *st, const char *res, const char *ns, const char *name, const char *app)
{
    struct st_err err;
    json_t *o = make_obj(name, app);
    json_object_set_new(json_object_get(o, "metadata"), "namespace", json_string(ns));
    int rc = store_create(st, res, ns, o, &err);
    if (rc != 0)
        fail_msg("create %s/%s: %s", ns, name, err.msg);
    uint64_t rv = obj_rv(o);
    json_decref(o);
    return rv;
}

static void
test_crud(void **state)
{
    struct fixture *f = *state;
    struct st_err err;
    json_t *o = make_obj("web", "web"), *got = NULL, *del = NULL;

    assert_int_equal(store_rv(f->st), 0);
    assert_int_equal(store_create(f->st, "/services", "default", o, &err), 0);
    assert_int_equal(obj_rv(o), 1);
    assert_int_equal(store_rv(f->st), 1);
    assert_int_equal(store_create(f->st, "/services", "default", o, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "already exists"));
    assert_int_equal(obj_rv(o), 1);
    /* The same name in another namespace or resource is another object. */
    assert_int_equal(create(f->st, "/services", "other", "web", NULL), 2);
    assert_int_equal(create(f->st, "/endpoints", "default", "web", NULL), 3);

    assert_int_equal(store_get(f->st, "/services", "default", "web", &got, &err), 0);
    assert_true(json_equal(got, o));
    json_decref(got);
    assert_int_equal(store_get(f->st, "/services", "default", "nope", &got, &err), ST_ENOTFOUND);
    assert_null(got);

    /* Update: stale precondition, then a good one, then unconditional. */
    json_object_set_new(json_object_get(o, "spec"), "port", json_integer(81));
    assert_int_equal(store_update(f->st, "/services", "default", "web", o, 7, &err), ST_ECONFLICT);
    assert_int_equal(obj_rv(o), 1);
    assert_int_equal(store_update(f->st, "/services", "default", "web", o, 1, &err), 0);
    assert_int_equal(obj_rv(o), 4);
    json_object_set_new(json_object_get(o, "spec"), "port", json_integer(82));
    assert_int_equal(store_update(f->st, "/services", "default", "web", o, 0, &err), 0);
    assert_int_equal(obj_rv(o), 5);
    /* An update that changes nothing writes nothing. */
    assert_int_equal(store_update(f->st, "/services", "default", "web", o, 0, &err), 0);
    assert_int_equal(obj_rv(o), 5);
    assert_int_equal(store_rv(f->st), 5);
    assert_int_equal(store_update(f->st, "/services", "default", "gone", o, 0, &err), ST_EINVAL);
    json_t *o2 = make_obj("gone", NULL);
    assert_int_equal(store_update(f->st, "/services", "default", "gone", o2, 0, &err),
                     ST_ENOTFOUND);
    json_decref(o2);

    /* Delete with a precondition; the deleted object carries the new rv. */
    assert_int_equal(store_delete(f->st, "/services", "default", "web", 4, &del, &err),
                     ST_ECONFLICT);
    assert_null(del);
    assert_int_equal(store_delete(f->st, "/services", "default", "web", 5, &del, &err), 0);
    assert_int_equal(obj_rv(del), 6);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(del, "spec"), "port")), 82);
    json_decref(del);
    assert_int_equal(store_delete(f->st, "/services", "default", "web", 0, NULL, &err),
                     ST_ENOTFOUND);
    assert_int_equal(store_get(f->st, "/services", "default", "web", &got, &err), ST_ENOTFOUND);
    assert_int_equal(store_rv(f->st), 6);

    /* Strings with NUL bytes survive the round trip. */
    json_t *nul = make_obj("nul", NULL);
    json_object_set_new(nul, "data", json_stringn("a\0b", 3));
    assert_int_equal(store_create(f->st, "/configmaps", "default", nul, &err), 0);
    assert_int_equal(store_get(f->st, "/configmaps", "default", "nul", &got, &err), 0);
    assert_int_equal(json_string_length(json_object_get(got, "data")), 3);
    json_decref(got);
    json_decref(nul);

    /* A new object without metadata.name is refused. */
    json_t *bad = json_pack("{s:{}}", "metadata");
    assert_int_equal(store_create(f->st, "/services", "default", bad, &err), ST_EINVAL);
    json_decref(bad);
    json_decref(o);
}

/*
 * Pages through <res> in <ns> with <limit>, checking every page; returns the
 * names seen (a new array of new strings) and their count.
 */
static size_t
page_all(struct store *st, const char *res, const char *ns, const struct selector *labels,
         size_t limit, char ***names_out, uint64_t *list_rv)
{
    struct store_list_opts o = {labels, NULL, limit, NULL};
    struct store_list_result r;
    struct st_err err;
    char *token = NULL;
    char **names = NULL;
    size_t n = 0;
    int pages = 0;

    for (;;) {
        o.continue_token = token;
        assert_int_equal(store_list(st, res, ns, &o, &r, &err), 0);
        if (pages == 0)
            *list_rv = r.rv;
        assert_int_equal(r.rv, *list_rv);
        assert_true(json_array_size(r.items) <= limit);
        if (r.continue_token != NULL && labels == NULL)
            assert_true(r.remaining > 0);
        for (size_t i = 0; i < json_array_size(r.items); i++) {
            const json_t *md = json_object_get(json_array_get(r.items, i), "metadata");
            names = st_xrealloc(names, (n + 1) * sizeof(*names));
            names[n++] = st_xstrdup(json_string_value(json_object_get(md, "name")));
        }
        free(token);
        token = r.continue_token ? st_xstrdup(r.continue_token) : NULL;
        store_list_result_clear(&r);
        pages++;
        assert_true(pages < 1000);
        if (token == NULL)
            break;
    }
    *names_out = names;
    return n;
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Asserts that no name repeats. */
static void
assert_unique(char **names, size_t n)
{
    qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 1; i < n; i++)
        assert_true(strcmp(names[i - 1], names[i]) < 0);
}

static void
free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static void
test_list_paging(void **state)
{
    struct fixture *f = *state;
    char name[32];
    char **names = NULL;
    uint64_t rv = 0;

    assert_int_equal(store_begin(f->st, NULL), 0);
    for (int i = 0; i < 250; i++) {
        snprintf(name, sizeof(name), "svc-%03d", (i * 37) % 250);
        create(f->st, "/services", i % 3 == 0 ? "a" : (i % 3 == 1 ? "b" : "c"), name,
               i % 2 ? "odd" : "even");
    }
    create(f->st, "/configmaps", "a", "not-a-service", NULL);
    assert_int_equal(store_commit(f->st, NULL), 0);

    /* All namespaces, pages of 17: every object exactly once, in (ns, name) order. */
    size_t n = page_all(f->st, "/services", NULL, NULL, 17, &names, &rv);
    assert_int_equal(n, 250);
    assert_unique(names, n);
    assert_int_equal(rv, store_rv(f->st));
    free_names(names, n);

    struct store_list_result r;
    struct store_list_opts o = {NULL, NULL, 0, NULL};
    assert_int_equal(store_list(f->st, "/services", NULL, &o, &r, NULL), 0);
    assert_int_equal(json_array_size(r.items), 250);
    assert_null(r.continue_token);
    for (size_t i = 1; i < 250; i++) {
        const json_t *a = json_object_get(json_array_get(r.items, i - 1), "metadata");
        const json_t *b = json_object_get(json_array_get(r.items, i), "metadata");
        char *ka = st_xasprintf("%s\x01%s", json_string_value(json_object_get(a, "namespace")),
                                json_string_value(json_object_get(a, "name")));
        char *kb = st_xasprintf("%s\x01%s", json_string_value(json_object_get(b, "namespace")),
                                json_string_value(json_object_get(b, "name")));
        assert_true(strcmp(ka, kb) < 0);
        free(ka);
        free(kb);
    }
    store_list_result_clear(&r);

    /* One namespace, pages of 10: no duplicates, sorted by name. */
    n = page_all(f->st, "/services", "b", NULL, 10, &names, &rv);
    assert_int_equal(n, 83);
    for (size_t i = 1; i < n; i++)
        assert_true(strcmp(names[i - 1], names[i]) < 0);
    free_names(names, n);

    /* A page exactly as large as the rest has no continue token. */
    o.limit = 84;
    assert_int_equal(store_list(f->st, "/services", "a", &o, &r, NULL), 0);
    assert_int_equal(json_array_size(r.items), 84);
    assert_null(r.continue_token);
    store_list_result_clear(&r);
    o.limit = 80;
    assert_int_equal(store_list(f->st, "/services", "a", &o, &r, NULL), 0);
    assert_non_null(r.continue_token);
    assert_int_equal(r.remaining, 4);
    char *tok = st_xstrdup(r.continue_token);
    store_list_result_clear(&r);

    /* Tokens are bound to the resource and namespace; garbage is ST_EPARSE. */
    struct st_err err;
    o.continue_token = tok;
    assert_int_equal(store_list(f->st, "/services", "b", &o, &r, &err), ST_EPARSE);
    assert_int_equal(store_list(f->st, "/configmaps", "a", &o, &r, &err), ST_EPARSE);
    assert_int_equal(store_list(f->st, "/services", NULL, &o, &r, &err), ST_EPARSE);
    o.continue_token = "not a token!";
    assert_int_equal(store_list(f->st, "/services", "a", &o, &r, &err), ST_EPARSE);
    o.continue_token = "eyJ2IjoxfQ";
    assert_int_equal(store_list(f->st, "/services", "a", &o, &r, &err), ST_EPARSE);
    assert_null(r.items);
    free(tok);

    /* Rows created between pages after the last key show up; the list rv stays. */
    o.limit = 2;
    o.continue_token = NULL;
    assert_int_equal(store_list(f->st, "/services", "c", &o, &r, NULL), 0);
    tok = st_xstrdup(r.continue_token);
    uint64_t first_rv = r.rv;
    store_list_result_clear(&r);
    create(f->st, "/services", "c", "zzz-late", NULL);
    create(f->st, "/services", "c", "aaa-early", NULL);
    o.limit = 0;
    o.continue_token = tok;
    assert_int_equal(store_list(f->st, "/services", "c", &o, &r, NULL), 0);
    assert_int_equal(r.rv, first_rv);
    assert_int_equal(json_array_size(r.items), 83 - 2 + 1);
    const json_t *last = json_array_get(r.items, json_array_size(r.items) - 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(last, "metadata"), "name")), "zzz-late");
    store_list_result_clear(&r);
    free(tok);
}

static void
test_list_selectors(void **state)
{
    struct fixture *f = *state;
    struct selector *ls = NULL, *fs = NULL;
    struct store_list_result r;
    char name[32];
    char **names = NULL;
    uint64_t rv = 0;

    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "s%02d", i);
        create(f->st, "/services", i < 20 ? "a" : "b", name, i % 4 == 0 ? "four" : "other");
    }
    assert_int_equal(selector_parse_labels("app=four", &ls, NULL), 0);
    size_t n = page_all(f->st, "/services", NULL, ls, 3, &names, &rv);
    assert_int_equal(n, 10);
    free_names(names, n);

    assert_int_equal(selector_parse_fields("metadata.name=s05", &fs, NULL), 0);
    struct store_list_opts o = {NULL, fs, 0, NULL};
    assert_int_equal(store_list(f->st, "/services", NULL, &o, &r, NULL), 0);
    assert_int_equal(json_array_size(r.items), 1);
    store_list_result_clear(&r);
    fs = selector_free(fs);

    assert_int_equal(selector_parse_fields("metadata.namespace=b,metadata.name!=s21", &fs, NULL),
                     0);
    o.fields = fs;
    o.labels = ls;
    assert_int_equal(store_list(f->st, "/services", NULL, &o, &r, NULL), 0);
    /* Namespace b holds s20..s39; app=four: s20 s24 s28 s32 s36. */
    assert_int_equal(json_array_size(r.items), 5);
    assert_int_equal(r.remaining, -1);
    store_list_result_clear(&r);
    o.limit = 4;
    assert_int_equal(store_list(f->st, "/services", NULL, &o, &r, NULL), 0);
    assert_int_equal(json_array_size(r.items), 4);
    assert_non_null(r.continue_token);
    store_list_result_clear(&r);
    selector_free(fs);
    selector_free(ls);
}

static void
test_continue_expired(void **state)
{
    struct fixture *f = *state;
    struct store_options opt = {.event_window = 10};
    struct store_list_result r;
    struct st_err err;

    reopen(f, &opt);
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof(name), "o%d", i);
        create(f->st, "/configmaps", "x", name, NULL);
    }
    struct store_list_opts o = {NULL, NULL, 2, NULL};
    assert_int_equal(store_list(f->st, "/configmaps", "x", &o, &r, NULL), 0);
    char *tok = st_xstrdup(r.continue_token);
    store_list_result_clear(&r);
    for (int i = 0; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof(name), "p%d", i);
        create(f->st, "/configmaps", "y", name, NULL);
    }
    o.continue_token = tok;
    assert_int_equal(store_list(f->st, "/configmaps", "x", &o, &r, &err), ST_EGONE);
    assert_non_null(strstr(err.msg, "continue"));
    free(tok);
}

/* ---- watches ---------------------------------------------------------------- */

struct recorder {
    char log[4096];
    size_t n;
    uint64_t last_rv;
    struct store_watch *free_other; /* freed from inside the callback */
    bool free_self;
    uint64_t t_first, t_last;
};

static void
record_cb(struct store_watch *w, const struct store_event *ev, void *arg)
{
    struct recorder *r = arg;
    size_t used = strlen(r->log);

    assert_true(ev->rv > r->last_rv);
    r->last_rv = ev->rv;
    r->n++;
    snprintf(r->log + used, sizeof(r->log) - used, "%s %s/%s %" PRIu64 ";", ev->type, ev->ns,
             ev->name, ev->rv);
    /* The event's JSON carries the event's rv. */
    json_t *o = json_loadb(ev->json, ev->json_len, 0, NULL);
    assert_non_null(o);
    assert_int_equal(obj_rv(o), ev->rv);
    json_decref(o);
    if (strcmp(ev->type, "MODIFIED") == 0)
        assert_non_null(ev->prev_json);
    if (r->free_other != NULL)
        r->free_other = store_watch_free(r->free_other);
    if (r->free_self)
        store_watch_free(w);
}

static void
test_watch_replay_and_live(void **state)
{
    struct fixture *f = *state;
    struct recorder all = {0}, svc = {0}, ns_b = {0}, late = {0};
    struct st_err err;

    create(f->st, "/services", "a", "one", NULL);               /* rv 1 */
    create(f->st, "/configmaps", "a", "cm", NULL);              /* rv 2 */
    uint64_t rv = create(f->st, "/services", "b", "two", NULL); /* rv 3 */
    assert_int_equal(rv, 3);

    struct store_watch *w_all = store_watch_new(f->st, NULL, NULL, 0, record_cb, &all, &err);
    struct store_watch *w_svc = store_watch_new(f->st, "/services", NULL, 1, record_cb, &svc, &err);
    struct store_watch *w_b = store_watch_new(f->st, "/services", "b", 0, record_cb, &ns_b, &err);
    assert_non_null(w_all);
    assert_non_null(w_svc);
    assert_non_null(w_b);
    /* Replay happened before store_watch_new returned. */
    assert_string_equal(all.log, "ADDED a/one 1;ADDED a/cm 2;ADDED b/two 3;");
    assert_string_equal(svc.log, "ADDED b/two 3;");
    assert_string_equal(ns_b.log, "ADDED b/two 3;");

    json_t *o = make_obj("two", "x");
    assert_int_equal(store_update(f->st, "/services", "b", "two", o, 3, &err), 0);
    json_decref(o);
    assert_int_equal(store_delete(f->st, "/services", "a", "one", 0, NULL, &err), 0);
    assert_string_equal(svc.log, "ADDED b/two 3;MODIFIED b/two 4;DELETED a/one 5;");
    assert_string_equal(ns_b.log, "ADDED b/two 3;MODIFIED b/two 4;");
    assert_int_equal(all.n, 5);

    /* A watch from the current rv replays nothing. */
    struct store_watch *w_late =
        store_watch_new(f->st, "/services", NULL, store_rv(f->st), record_cb, &late, &err);
    assert_non_null(w_late);
    assert_int_equal(late.n, 0);
    store_watch_free(w_late);
    store_watch_free(w_all);
    store_watch_free(w_svc);
    store_watch_free(w_b);
}

static void
test_watch_too_old(void **state)
{
    struct fixture *f = *state;
    struct store_options opt = {.event_window = 5};
    struct recorder r = {0};
    struct st_err err;

    reopen(f, &opt);
    for (int i = 0; i < 12; i++) {
        char name[16];
        snprintf(name, sizeof(name), "o%d", i);
        create(f->st, "/secrets", "x", name, NULL);
    }
    assert_int_equal(store_window_start(f->st), 7);
    assert_null(store_watch_new(f->st, "/secrets", NULL, 6, record_cb, &r, &err));
    assert_int_equal(err.code, ST_EGONE);
    assert_non_null(strstr(err.msg, "too old resource version"));
    assert_int_equal(r.n, 0);
    struct store_watch *w = store_watch_new(f->st, "/secrets", NULL, 7, record_cb, &r, &err);
    assert_non_null(w);
    assert_int_equal(r.n, 5);
    store_watch_free(w);
}

static void
test_watch_free_in_callback(void **state)
{
    struct fixture *f = *state;
    struct recorder a = {0}, b = {0}, c = {0}, d = {0};
    struct st_err err;

    struct store_watch *wa = store_watch_new(f->st, "/pods", NULL, 0, record_cb, &a, &err);
    struct store_watch *wb = store_watch_new(f->st, "/pods", NULL, 0, record_cb, &b, &err);
    struct store_watch *wc = store_watch_new(f->st, NULL, NULL, 0, record_cb, &c, &err);
    /* <a> frees itself, <c> frees <b> on the first event; the order of delivery is unknown. */
    a.free_self = true;
    c.free_other = wb;
    ST_UNUSED(wa);
    create(f->st, "/pods", "x", "p1", NULL);
    create(f->st, "/pods", "x", "p2", NULL);
    assert_int_equal(a.n, 1);
    assert_true(b.n <= 1);
    assert_int_equal(c.n, 2);
    store_watch_free(wc);

    /* Freeing itself during the replay: NULL with -ECANCELED. */
    d.free_self = true;
    assert_null(store_watch_new(f->st, "/pods", NULL, 0, record_cb, &d, &err));
    assert_int_equal(err.code, -ECANCELED);
    assert_int_equal(d.n, 1);
}

static void
write_from_cb(struct store_watch *w, const struct store_event *ev, void *arg)
{
    struct store *st = arg;
    struct st_err err;
    json_t *o = make_obj("from-callback", NULL);

    assert_int_equal(store_create(st, "/pods", "x", o, &err), ST_EINVAL);
    json_decref(o);
}

static void
test_watch_no_write_in_callback(void **state)
{
    struct fixture *f = *state;
    struct store_watch *w = store_watch_new(f->st, "/pods", NULL, 0, write_from_cb, f->st, NULL);

    create(f->st, "/pods", "x", "p1", NULL);
    assert_int_equal(store_rv(f->st), 1);
    store_watch_free(w);
}

static void
timing_cb(struct store_watch *w, const struct store_event *ev, void *arg)
{
    struct recorder *r = arg;
    uint64_t now = st_now_ns();

    if (r->t_first == 0 || now < r->t_first)
        r->t_first = now;
    r->t_last = now;
    r->n++;
}

static void
test_watch_fanout(void **state)
{
    struct fixture *f = *state;
    struct recorder rec[100] = {0};
    struct recorder other = {0};
    struct store_watch *ws[100], *wo[300];
    char res[32];

    for (int i = 0; i < 300; i++) {
        snprintf(res, sizeof(res), "/other%d", i);
        wo[i] = store_watch_new(f->st, res, NULL, 0, timing_cb, &other, NULL);
    }
    for (int i = 0; i < 100; i++)
        ws[i] = store_watch_new(f->st, "/endpoints", NULL, 0, timing_cb, &rec[i], NULL);
    create(f->st, "/endpoints", "x", "e", NULL);
    uint64_t first = UINT64_MAX, last = 0;
    for (int i = 0; i < 100; i++) {
        assert_int_equal(rec[i].n, 1);
        first = ST_MIN(first, rec[i].t_first);
        last = ST_MAX(last, rec[i].t_last);
    }
    assert_int_equal(other.n, 0);
    /* 100 deliveries should take microseconds; allow generous slack for sanitizers. */
    assert_true(last - first < 5 * 1000 * 1000);
    for (int i = 0; i < 100; i++)
        store_watch_free(ws[i]);
    for (int i = 0; i < 300; i++)
        store_watch_free(wo[i]);
}

/* ---- batches ----------------------------------------------------------------- */

static void
test_batch(void **state)
{
    struct fixture *f = *state;
    struct recorder r = {0};
    struct st_err err;
    json_t *got = NULL;

    create(f->st, "/namespaces", "", "ns1", NULL);
    create(f->st, "/services", "ns1", "s1", NULL);
    create(f->st, "/configmaps", "ns1", "c1", NULL);
    create(f->st, "/configmaps", "ns2", "c2", NULL);
    struct store_watch *w =
        store_watch_new(f->st, NULL, NULL, store_rv(f->st), record_cb, &r, &err);

    /* Rollback: nothing stored, no events, the counter restored. */
    assert_int_equal(store_begin(f->st, &err), 0);
    assert_true(store_in_batch(f->st));
    create(f->st, "/services", "ns1", "s2", NULL);
    assert_int_equal(store_delete(f->st, "/services", "ns1", "s1", 0, NULL, &err), 0);
    /* A failing write inside the batch changes nothing and the batch goes on. */
    json_t *dup = make_obj("s2", NULL);
    assert_int_equal(store_create(f->st, "/services", "ns1", dup, &err), -EEXIST);
    json_decref(dup);
    assert_int_equal(r.n, 0);
    assert_int_equal(store_rv(f->st), 4);
    assert_int_equal(store_rollback(f->st), 0);
    assert_false(store_in_batch(f->st));
    assert_int_equal(r.n, 0);
    assert_int_equal(store_get(f->st, "/services", "ns1", "s2", &got, &err), ST_ENOTFOUND);
    assert_int_equal(store_get(f->st, "/services", "ns1", "s1", &got, &err), 0);
    json_decref(got);
    assert_int_equal(store_rv(f->st), 4);
    assert_int_equal(store_rollback(f->st), ST_EINVAL);
    assert_int_equal(store_commit(f->st, &err), ST_EINVAL);

    /* Deleting a namespace and everything in it as one transaction. */
    struct store_key *keys = NULL;
    size_t n = 0;
    assert_int_equal(store_keys(f->st, NULL, "ns1", 0, &keys, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(keys[0].res, "/configmaps");
    assert_string_equal(keys[1].res, "/services");
    struct store_key *capped = NULL;
    size_t n_capped = 0;
    assert_int_equal(store_keys(f->st, NULL, NULL, 3, &capped, &n_capped, &err), ST_ETOOBIG);
    assert_null(capped);
    assert_int_equal(n_capped, 0);
    assert_int_equal(store_begin(f->st, &err), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(store_delete(f->st, keys[i].res, keys[i].ns, keys[i].name, 0, NULL, &err),
                         0);
    assert_int_equal(store_delete(f->st, "/namespaces", "", "ns1", 0, NULL, &err), 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(store_commit(f->st, &err), 0);
    store_keys_free(keys, n);
    assert_int_equal(r.n, 3);
    assert_int_equal(store_rv(f->st), 7);
    assert_string_equal(r.log, "DELETED ns1/c1 5;DELETED ns1/s1 6;DELETED /ns1 7;");
    assert_int_equal(store_keys(f->st, NULL, NULL, 0, &keys, &n, &err), 0);
    assert_int_equal(n, 1);
    store_keys_free(keys, n);
    store_watch_free(w);
}

/* Nested batches: inner rollbacks undo only their writes; events wait for the outer commit. */
static void
test_nested_batch(void **state)
{
    struct fixture *f = *state;
    struct recorder r = {0};
    struct st_err err;
    json_t *got = NULL;

    struct store_watch *w = store_watch_new(f->st, NULL, NULL, store_rv(f->st), record_cb, &r, &err);
    assert_int_equal(store_begin(f->st, &err), 0);
    create(f->st, "/configmaps", "ns", "outer", NULL);
    assert_int_equal(store_begin(f->st, &err), 0);
    create(f->st, "/configmaps", "ns", "undone", NULL);
    assert_int_equal(store_rollback(f->st), 0);
    assert_true(store_in_batch(f->st));
    assert_int_equal(store_get(f->st, "/configmaps", "ns", "undone", &got, &err), ST_ENOTFOUND);
    assert_int_equal(store_begin(f->st, &err), 0);
    create(f->st, "/configmaps", "ns", "kept", NULL);
    assert_int_equal(store_commit(f->st, &err), 0); /* joins the outer batch */
    assert_true(store_in_batch(f->st));
    assert_int_equal(r.n, 0);
    assert_int_equal(store_commit(f->st, &err), 0);
    assert_false(store_in_batch(f->st));
    assert_int_equal(r.n, 2);
    assert_string_equal(r.log, "ADDED ns/outer 1;ADDED ns/kept 2;");
    assert_int_equal(store_rv(f->st), 2);
    assert_int_equal(store_get(f->st, "/configmaps", "ns", "kept", &got, &err), 0);
    json_decref(got);

    /* Too deep. */
    for (int i = 0; i < STORE_MAX_BATCH_DEPTH; i++)
        assert_int_equal(store_begin(f->st, &err), 0);
    assert_int_equal(store_begin(f->st, &err), ST_EINVAL);
    for (int i = 0; i < STORE_MAX_BATCH_DEPTH; i++)
        assert_int_equal(store_rollback(f->st), 0);
    assert_false(store_in_batch(f->st));
    store_watch_free(w);
}

static void
test_object_cap(void **state)
{
    struct fixture *f = *state;
    struct store_options opt = {.max_object_bytes = 200};
    struct st_err err;
    json_t *got = NULL;

    reopen(f, &opt);
    json_t *o = make_obj("big", NULL);
    char filler[300];
    memset(filler, 'x', sizeof(filler) - 1);
    filler[sizeof(filler) - 1] = '\0';
    json_object_set_new(o, "data", json_string(filler));
    assert_int_equal(store_create(f->st, "/configmaps", "x", o, &err), ST_ETOOBIG);
    assert_null(json_object_get(json_object_get(o, "metadata"), "resourceVersion"));
    assert_int_equal(store_rv(f->st), 0);
    assert_int_equal(store_get(f->st, "/configmaps", "x", "big", &got, &err), ST_ENOTFOUND);

    /* An update over the cap leaves the stored object alone. */
    create(f->st, "/configmaps", "x", "small", NULL);
    json_object_set_new(json_object_get(o, "metadata"), "name", json_string("small"));
    assert_int_equal(store_update(f->st, "/configmaps", "x", "small", o, 0, &err), ST_ETOOBIG);
    assert_int_equal(store_rv(f->st), 1);
    assert_int_equal(store_get(f->st, "/configmaps", "x", "small", &got, &err), 0);
    assert_null(json_object_get(got, "data"));
    json_decref(got);
    json_decref(o);
}

static void
test_meta(void **state)
{
    struct fixture *f = *state;
    struct st_err err;
    char *v = NULL;

    assert_int_equal(store_meta_get(f->st, "auth.key", &v, &err), ST_ENOTFOUND);
    assert_int_equal(store_meta_set(f->st, "auth.key", "abc", &err), 0);
    assert_int_equal(store_meta_set(f->st, "store.rv", "99", &err), ST_EINVAL);
    reopen(f, NULL);
    assert_int_equal(store_meta_get(f->st, "auth.key", &v, &err), 0);
    assert_string_equal(v, "abc");
    free(v);
    assert_int_equal(store_meta_set(f->st, "auth.key", NULL, &err), 0);
    assert_int_equal(store_meta_get(f->st, "auth.key", &v, &err), ST_ENOTFOUND);
    assert_int_equal(store_rv(f->st), 0);
}

static void
test_schema_mismatch(void **state)
{
    struct fixture *f = *state;
    struct st_err err;
    sqlite3 *db = NULL;

    f->st = store_close(f->st);
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE meta SET value = '2' WHERE key = 'store.schema'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_null(store_open(f->path, NULL, &err));
    assert_int_equal(err.code, ST_EINVAL);
    assert_non_null(strstr(err.msg, "schema"));
}

static void
prev_cb(struct store_watch *w, const struct store_event *ev, void *arg)
{
    char **prev = arg;

    free(*prev);
    *prev = ev->prev_json ? st_xstrndup(ev->prev_json, ev->prev_len) : NULL;
}

static void
test_modified_carries_previous(void **state)
{
    struct fixture *f = *state;
    char *prev = NULL;
    struct st_err err;

    create(f->st, "/services", "a", "web", "blue");
    struct store_watch *w = store_watch_new(f->st, "/services", NULL, 1, prev_cb, &prev, &err);
    json_t *o = make_obj("web", "green");
    assert_int_equal(store_update(f->st, "/services", "a", "web", o, 1, &err), 0);
    json_decref(o);
    assert_non_null(prev);
    json_t *old = json_loads(prev, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(old, "metadata"), "labels"), "app")),
                        "blue");
    assert_int_equal(obj_rv(old), 1);
    json_decref(old);
    assert_int_equal(store_delete(f->st, "/services", "a", "web", 0, NULL, &err), 0);
    assert_null(prev);
    store_watch_free(w);
}

/* ---- durability ---------------------------------------------------------------- */

static void
test_window_survives_reopen(void **state)
{
    struct fixture *f = *state;
    struct store_options opt = {.event_window = 8};
    struct recorder r = {0};
    struct st_err err;

    reopen(f, &opt);
    for (int i = 0; i < 10; i++) {
        char name[16];
        snprintf(name, sizeof(name), "o%d", i);
        create(f->st, "/leases", "x", name, NULL);
    }
    reopen(f, &opt);
    assert_int_equal(store_rv(f->st), 10);
    assert_int_equal(store_window_start(f->st), 2);
    struct store_watch *w = store_watch_new(f->st, "/leases", NULL, 4, record_cb, &r, &err);
    assert_non_null(w);
    assert_int_equal(r.n, 6);
    assert_non_null(strstr(r.log, "ADDED x/o4 5;"));
    store_watch_free(w);

    /* A smaller window on reopen trims at once. */
    opt.event_window = 3;
    reopen(f, &opt);
    assert_int_equal(store_window_start(f->st), 7);
    assert_null(store_watch_new(f->st, "/leases", NULL, 4, record_cb, &r, &err));
    assert_int_equal(err.code, ST_EGONE);
    assert_int_equal(create(f->st, "/leases", "x", "after", NULL), 11);
}

/* Child: creates objects one by one, reporting "<name> <rv>\n" after each returns. */
static void
durability_child(const char *path, int fd)
{
    struct st_err err;
    struct store *st = store_open(path, NULL, &err);
    char line[64];

    if (st == NULL)
        _exit(2);
    for (int i = 0; i < 100000; i++) {
        json_t *o = json_pack("{s:{s:o}}", "metadata", "name", json_sprintf("obj-%05d", i));
        if (store_create(st, "/configmaps", "d", o, &err) != 0)
            _exit(3);
        int n = snprintf(
            line, sizeof(line), "obj-%05d %s\n", i,
            json_string_value(json_object_get(json_object_get(o, "metadata"), "resourceVersion")));
        json_decref(o);
        if (write(fd, line, (size_t)n) != n)
            _exit(4);
    }
    _exit(0);
}

static void
test_durability_kill9(void **state)
{
    struct fixture *f = *state;
    struct st_buf out = ST_BUF_INIT(1 << 20);
    int fds[2];
    int lines = 0;

    f->st = store_close(f->st);
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        durability_child(f->path, fds[1]);
    }
    close(fds[1]);
    /* Let it acknowledge some writes, then kill it in the middle of the next ones. */
    uint64_t deadline = st_now_ms() + 30000;
    while (lines < 40 && st_now_ms() < deadline) {
        struct pollfd p = {fds[0], POLLIN, 0};
        char buf[512];
        if (poll(&p, 1, 1000) <= 0)
            continue;
        ssize_t n = read(fds[0], buf, sizeof(buf));
        if (n <= 0)
            break;
        assert_int_equal(st_buf_append(&out, buf, (size_t)n), 0);
        lines = 0;
        for (size_t i = 0; i < out.len; i++)
            lines += out.data[i] == '\n';
    }
    kill(pid, SIGKILL);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    /* Whatever the child wrote before it died was acknowledged too. */
    for (;;) {
        char buf[512];
        ssize_t n = read(fds[0], buf, sizeof(buf));
        if (n <= 0)
            break;
        assert_int_equal(st_buf_append(&out, buf, (size_t)n), 0);
    }
    close(fds[0]);
    assert_true(lines >= 40);

    reopen(f, NULL);
    uint64_t max_rv = 0;
    int checked = 0;
    char *save = NULL;
    for (char *line = strtok_r(out.data, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char name[32];
        uint64_t rv = 0;
        json_t *got = NULL;
        if (sscanf(line, "%31s %" SCNu64, name, &rv) != 2)
            continue; /* a line cut by the kill */
        assert_int_equal(store_get(f->st, "/configmaps", "d", name, &got, NULL), 0);
        assert_int_equal(obj_rv(got), rv);
        json_decref(got);
        max_rv = ST_MAX(max_rv, rv);
        checked++;
    }
    assert_true(checked >= 40);
    assert_true(store_rv(f->st) >= max_rv);
    uint64_t next = create(f->st, "/configmaps", "d", "after-crash", NULL);
    assert_true(next > max_rv);
    assert_int_equal(next, store_rv(f->st));
    st_buf_free(&out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_selectors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_continue_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_replay_and_live, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_too_old, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_free_in_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_no_write_in_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_fanout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nested_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_object_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta, setup, teardown),
        cmocka_unit_test_setup_teardown(test_window_survives_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durability_kill9, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_modified_carries_previous, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
