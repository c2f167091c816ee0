/*
 * kube-check: a test driver that exercises lib/kube against a real API server
 * (strait-apiserver or kube-apiserver), for tests/test_kube_client.py.
 *
 * Usage: kube-check KUBECONFIG SCENARIO [NAMESPACE]
 *   crud      create, get, update, merge/strategic patch, paginated list, delete
 *   informer  list+watch of configmaps with a label selector, changes seen in order
 * Prints "ok SCENARIO" and exits 0, or prints the failure and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>

#include "strait/json.h"
#include "strait/kube.h"

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "kube-check:%d: %s: ", __LINE__, #cond);                               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static const char *check_ns = "default";

static json_t *
check_cm(const char *name, const char *app)
{
    return json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:s}}", "apiVersion", "v1", "kind",
                     "ConfigMap", "metadata", "name", name, "labels", "app", app, "data", "v", "1");
}

static void
check_crud(struct st_kube_client *c)
{
    struct st_err err;
    json_t *out = NULL;
    char *coll = st_kube_path(NULL, "v1", "configmaps", check_ns, NULL);
    char *path = st_kube_path(NULL, "v1", "configmaps", check_ns, "kc-a");
    json_t *obj = check_cm("kc-a", "crud");
    int rc;

    rc = st_kube_create(c, coll, obj, &out, &err);
    CHECK(rc == 0, "create: %s", err.msg);
    CHECK(st_json_str(out, "metadata.resourceVersion") != NULL, "no resourceVersion");
    json_decref(out);
    rc = st_kube_create(c, coll, obj, NULL, &err);
    CHECK(rc == ST_ECONFLICT, "second create: %d %s", rc, err.msg);
    CHECK(strstr(err.msg, "already exists") != NULL, "message: %s", err.msg);

    rc = st_kube_get(c, path, &out, &err);
    CHECK(rc == 0, "get: %s", err.msg);
    st_json_set_path(out, "data.v", json_string("2"));
    json_t *stored = NULL;
    rc = st_kube_update(c, path, out, &stored, &err);
    CHECK(rc == 0, "update: %s", err.msg);
    CHECK(strcmp(st_json_str(stored, "data.v"), "2") == 0, "update lost");
    /* The same PUT again carries a stale resourceVersion. */
    rc = st_kube_update(c, path, out, NULL, &err);
    CHECK(rc == ST_ECONFLICT, "stale update: %d %s", rc, err.msg);
    json_decref(stored);
    json_decref(out);

    json_t *patch = json_pack("{s:{s:s}}", "data", "w", "3");
    rc = st_kube_patch(c, path, ST_KUBE_PATCH_MERGE, patch, &out, &err);
    CHECK(rc == 0, "merge patch: %s", err.msg);
    CHECK(strcmp(st_json_str(out, "data.w"), "3") == 0, "merge patch lost");
    json_decref(out);
    json_decref(patch);
    patch = json_pack("{s:{s:{s:s}}}", "metadata", "labels", "extra", "yes");
    rc = st_kube_patch(c, path, ST_KUBE_PATCH_STRATEGIC, patch, &out, &err);
    CHECK(rc == 0, "strategic patch: %s", err.msg);
    json_decref(out);
    json_decref(patch);
    patch = json_pack("[{s:s, s:s, s:s}]", "op", "replace", "path", "/data/v", "value", "4");
    rc = st_kube_patch(c, path, ST_KUBE_PATCH_JSON, patch, &out, &err);
    CHECK(rc == 0, "json patch: %s", err.msg);
    CHECK(strcmp(st_json_str(out, "data.v"), "4") == 0, "json patch lost");
    json_decref(out);
    json_decref(patch);

    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof(name), "kc-p%d", i);
        json_t *o = check_cm(name, "pages");
        rc = st_kube_create(c, coll, o, NULL, &err);
        CHECK(rc == 0, "create %s: %s", name, err.msg);
        json_decref(o);
    }
    struct st_kube_list_opts lo = {.label_selector = "app=pages", .limit = 2};
    json_t *list = NULL;
    rc = st_kube_list(c, coll, &lo, &list, &err);
    CHECK(rc == 0, "list: %s", err.msg);
    CHECK(json_array_size(json_object_get(list, "items")) == 5, "list has %zu items",
          json_array_size(json_object_get(list, "items")));
    CHECK(st_json_str(list, "metadata.resourceVersion") != NULL, "list without version");
    json_decref(list);

    rc = st_kube_delete(c, path, NULL, &err);
    CHECK(rc == 0, "delete: %s", err.msg);
    long status = 0;
    rc = st_kube_request(c, "GET", path, NULL, NULL, &status, NULL, &err);
    CHECK(rc == ST_ENOTFOUND && status == 404, "get after delete: %d %ld", rc, status);
    CHECK(strcmp(err.msg, "configmaps \"kc-a\" not found") == 0, "message: %s", err.msg);
    json_decref(obj);
    free(coll);
    free(path);
}

struct check_inf {
    struct st_buf log;
    int events;
    int want;
};

static void
check_add(struct st_kube_informer *inf, json_t *obj, void *data)
{
    struct check_inf *ci = data;
    if (st_buf_appendf(&ci->log, "+%s;", st_json_str(obj, "metadata.name")) == 0)
        ci->events++;
}

static void
check_update(struct st_kube_informer *inf, json_t *old_obj, json_t *new_obj, void *data)
{
    struct check_inf *ci = data;
    if (st_buf_appendf(&ci->log, "~%s;", st_json_str(new_obj, "metadata.name")) == 0)
        ci->events++;
}

static void
check_delete(struct st_kube_informer *inf, json_t *obj, void *data)
{
    struct check_inf *ci = data;
    if (st_buf_appendf(&ci->log, "-%s;", st_json_str(obj, "metadata.name")) == 0)
        ci->events++;
}

struct check_wait {
    struct st_ev_timer tick;
    struct check_inf *ci;
    struct st_kube_informer *inf;
    uint64_t deadline;
    bool timed_out;
};

static void
check_tick(struct st_ev *loop, struct st_ev_timer *t)
{
    struct check_wait *w = t->data;
    bool done =
        w->ci->want > 0 ? w->ci->events >= w->ci->want : st_kube_informer_has_synced(w->inf);
    if (done || st_ev_now_ms(loop) >= w->deadline) {
        w->timed_out = !done;
        st_ev_stop(loop);
        return;
    }
    st_ev_timer_start(loop, t, 10);
}

static void
check_run(struct st_ev *loop, struct check_inf *ci, struct st_kube_informer *inf)
{
    struct check_wait w = {.ci = ci, .inf = inf};
    st_ev_update_now(loop);
    w.deadline = st_ev_now_ms(loop) + 15000;
    st_ev_timer_init(&w.tick, check_tick, &w);
    st_ev_timer_start(loop, &w.tick, 0);
    st_ev_run(loop);
    st_ev_timer_stop(loop, &w.tick);
    CHECK(!w.timed_out, "timed out; log so far: %s", st_buf_cstr(&ci->log));
}

static void
check_informer(struct st_kube_client *c)
{
    struct st_err err;
    struct st_ev *loop = st_ev_new(&err);
    struct check_inf ci = {.log = ST_BUF_INIT(0)};
    struct check_inf cc = {.log = ST_BUF_INIT(0)}; /* the compact informer's */
    char *coll = st_kube_path(NULL, "v1", "configmaps", check_ns, NULL);
    int rc;

    CHECK(loop != NULL, "loop: %s", err.msg);
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof(name), "kc-i%d", i);
        json_t *o = check_cm(name, "inf");
        rc = st_kube_create(c, coll, o, NULL, &err);
        CHECK(rc == 0, "create: %s", err.msg);
        json_decref(o);
    }
    json_t *other = check_cm("kc-other", "other");
    rc = st_kube_create(c, coll, other, NULL, &err);
    CHECK(rc == 0, "create: %s", err.msg);
    json_decref(other);

    CHECK(st_kube_client_attach(c, loop) == 0, "attach");
    struct st_kube_informer_opts io = {.version = "v1",
                                       .resource = "configmaps",
                                       .namespace = check_ns,
                                       .label_selector = "app=inf",
                                       .page_limit = 2};
    struct st_kube_informer_handlers h = {
        .on_add = check_add, .on_update = check_update, .on_delete = check_delete, .data = &ci};
    struct st_kube_informer *inf = st_kube_informer_new(c, &io, &h, &err);
    CHECK(inf != NULL, "informer: %s", err.msg);
    /* The same, cached as compact text: the same events, the same answers. */
    struct st_kube_informer_opts cio = io;
    cio.compact = true;
    struct st_kube_informer_handlers ch = h;
    ch.data = &cc;
    struct st_kube_informer *cinf = st_kube_informer_new(c, &cio, &ch, &err);
    CHECK(cinf != NULL, "compact informer: %s", err.msg);
    check_run(loop, &ci, inf);
    check_run(loop, &cc, cinf);
    CHECK(st_kube_informer_count(inf) == 3, "cache has %zu", st_kube_informer_count(inf));
    CHECK(st_kube_informer_get(inf, check_ns, "kc-other") == NULL, "selector ignored");
    CHECK(strcmp(st_buf_cstr(&ci.log), "+kc-i0;+kc-i1;+kc-i2;") == 0, "log: %s",
          st_buf_cstr(&ci.log));

    json_t *o = check_cm("kc-i3", "inf");
    rc = st_kube_create(c, coll, o, NULL, &err);
    CHECK(rc == 0, "create: %s", err.msg);
    json_decref(o);
    char *p0 = st_kube_path(NULL, "v1", "configmaps", check_ns, "kc-i0");
    char *p1 = st_kube_path(NULL, "v1", "configmaps", check_ns, "kc-i1");
    json_t *patch = json_pack("{s:{s:s}}", "data", "v", "9");
    rc = st_kube_patch(c, p0, ST_KUBE_PATCH_MERGE, patch, NULL, &err);
    CHECK(rc == 0, "patch: %s", err.msg);
    rc = st_kube_delete(c, p1, NULL, &err);
    CHECK(rc == 0, "delete: %s", err.msg);
    ci.want = 6;
    check_run(loop, &ci, inf);
    cc.want = 6;
    check_run(loop, &cc, cinf);
    CHECK(strcmp(st_buf_cstr(&cc.log), st_buf_cstr(&ci.log)) == 0, "compact log: %s",
          st_buf_cstr(&cc.log));
    CHECK(st_kube_informer_count(cinf) == 3, "compact cache has %zu",
          st_kube_informer_count(cinf));
    json_t *c0 = st_kube_informer_acquire(cinf, check_ns, "kc-i0");
    CHECK(c0 != NULL && strcmp(st_json_str(c0, "data.v"), "9") == 0, "compact cache not updated");
    CHECK(json_equal(c0, st_kube_informer_get(inf, check_ns, "kc-i0")), "compact copy differs");
    json_decref(c0);
    CHECK(st_kube_informer_acquire(cinf, check_ns, "kc-i1") == NULL, "compact delete missed");
    struct st_kube_informer_stats st;
    st_kube_informer_stats(cinf, &st);
    CHECK(st.cached_bytes > 0, "no cached bytes counted");
    CHECK(strcmp(st_buf_cstr(&ci.log), "+kc-i0;+kc-i1;+kc-i2;+kc-i3;~kc-i0;-kc-i1;") == 0,
          "log: %s", st_buf_cstr(&ci.log));
    CHECK(strcmp(st_json_str(st_kube_informer_get(inf, check_ns, "kc-i0"), "data.v"), "9") == 0,
          "cache not updated");

    st_kube_informer_free(inf);
    st_kube_informer_free(cinf);
    st_buf_free(&cc.log);
    json_decref(patch);
    free(p0);
    free(p1);
    free(coll);
    st_buf_free(&ci.log);
    /* The client goes before the loop: it still holds the loop's watchers. */
    st_kube_client_free(c);
    st_ev_free(loop);
}

int
main(int argc, char **argv)
{
    struct st_err err;

    if (argc < 3) {
        fprintf(stderr, "usage: kube-check KUBECONFIG crud|informer [NAMESPACE]\n");
        return 2;
    }
    if (argc > 3)
        check_ns = argv[3];
    struct st_kube_load_opts o = {.kubeconfig_path = argv[1]};
    struct st_kube_config *cfg = st_kube_config_load(&o, &err);
    CHECK(cfg != NULL, "config: %s", err.msg);
    struct st_kube_client *c = st_kube_client_new(cfg, &err);
    CHECK(c != NULL, "client: %s", err.msg);
    st_kube_config_free(cfg);
    if (strcmp(argv[2], "crud") == 0) {
        check_crud(c);
        st_kube_client_free(c);
    } else if (strcmp(argv[2], "informer") == 0) {
        check_informer(c); /* frees <c> */
    } else {
        fprintf(stderr, "kube-check: unknown scenario %s\n", argv[2]);
        st_kube_client_free(c);
        return 2;
    }
    printf("ok %s\n", argv[2]);
    return 0;
}
