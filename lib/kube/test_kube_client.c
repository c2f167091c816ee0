/*
 * Tests of requests, watches and informers against fake_apiserver.py, a small
 * external HTTPS server that speaks the Kubernetes list/watch protocol for
 * configmaps (started per test group, with a self-signed certificate).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "strait/json.h"
#include "strait/kube.h"

static char tmpdir[] = "/tmp/test_kube_client.XXXXXX";
static pid_t server_pid = -1;
static int server_stdin = -1;
static int server_port;
static char server_ca[512];

/* ---- the fake server ------------------------------------------------------------------ */

static int
setup(void **state)
{
    int in[2], out[2];
    char line[1024];
    size_t len = 0;

    assert_non_null(mkdtemp(tmpdir));
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    server_pid = fork();
    assert_true(server_pid >= 0);
    if (server_pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execl(KUBE_PYTHON, KUBE_PYTHON, KUBE_FAKE_SERVER, tmpdir, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    server_stdin = in[1];
    /* Wait up to 20 s for "PORT <n> CA <path>". */
    uint64_t deadline = st_now_ms() + 20000;
    while (memchr(line, '\n', len) == NULL) {
        struct pollfd p = {out[0], POLLIN, 0};
        uint64_t now = st_now_ms();
        assert_true(now < deadline);
        assert_true(poll(&p, 1, (int)(deadline - now)) > 0);
        ssize_t n = read(out[0], line + len, sizeof(line) - 1 - len);
        assert_true(n > 0);
        len += (size_t)n;
        line[len] = '\0';
    }
    close(out[0]);
    assert_int_equal(sscanf(line, "PORT %d CA %511s", &server_port, server_ca), 2);
    return 0;
}

static int
teardown(void **state)
{
    if (server_stdin >= 0)
        close(server_stdin); /* the server exits when its stdin closes */
    if (server_pid > 0) {
        int st;
        for (int i = 0; i < 100 && waitpid(server_pid, &st, WNOHANG) == 0; i++)
            usleep(20000);
        if (waitpid(server_pid, &st, WNOHANG) == 0) {
            kill(server_pid, SIGKILL);
            waitpid(server_pid, &st, 0);
        }
    }
    char *cmd = st_xasprintf("rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    return 0;
}

/* A client for the fake server; <user> is the YAML of the user entry. */
static struct st_kube_client *
client_with(const char *user, const char *host, const char *sni)
{
    struct st_err err;
    char *text = st_xasprintf("clusters:\n"
                              "- name: fake\n"
                              "  cluster:\n"
                              "    server: https://%s:%d\n"
                              "    certificate-authority: %s\n"
                              "%s%s%s"
                              "users:\n"
                              "- name: u\n"
                              "  user: %s\n"
                              "contexts: [{name: f, context: {cluster: fake, user: u, "
                              "namespace: test}}]\n"
                              "current-context: f\n",
                              host, server_port, server_ca, sni ? "    tls-server-name: " : "",
                              sni ? sni : "", sni ? "\n" : "", user);
    struct st_kube_load_opts o = {.allow_file_refs = true, .base_dir = tmpdir};
    struct st_kube_config *cfg = st_kube_config_from_kubeconfig_text(text, strlen(text), &o, &err);
    if (cfg == NULL)
        fail_msg("config: %s", err.msg);
    struct st_kube_client *c = st_kube_client_new(cfg, &err);
    assert_non_null(c);
    st_kube_config_free(cfg);
    free(text);
    return c;
}

static struct st_kube_client *
client(void)
{
    return client_with("{token: tok-1}", "127.0.0.1", NULL);
}

static void
control(struct st_kube_client *c, const char *what)
{
    struct st_err err;
    char *p = st_xasprintf("/_control/%s", what);
    assert_int_equal(st_kube_request(c, "GET", p, NULL, NULL, NULL, NULL, &err), 0);
    free(p);
}

static json_t *
configmap(const char *name, const char *value)
{
    return json_pack("{s:s, s:s, s:{s:s}, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
                     "metadata", "name", name, "data", "v", value);
}

static void
create_cm(struct st_kube_client *c, const char *ns, const char *name, const char *value)
{
    struct st_err err;
    char *path = st_kube_path(NULL, "v1", "configmaps", ns, NULL);
    json_t *obj = configmap(name, value);
    if (st_kube_create(c, path, obj, NULL, &err) < 0)
        fail_msg("create %s/%s: %s", ns, name, err.msg);
    json_decref(obj);
    free(path);
}

/* Returns a new string with the server's current resource version. */
static char *
current_rv(struct st_kube_client *c)
{
    struct st_err err;
    json_t *list = NULL;
    assert_int_equal(st_kube_list(c, "/api/v1/configmaps", NULL, &list, &err), 0);
    char *rv = st_xstrdup(st_json_str(list, "metadata.resourceVersion"));
    json_decref(list);
    return rv;
}

/* ---- blocking requests ---------------------------------------------------------------- */

static void
test_path(void **state)
{
    char *p = st_kube_path(NULL, "v1", "services", "default", "web");
    assert_string_equal(p, "/api/v1/namespaces/default/services/web");
    free(p);
    p = st_kube_path("split.smi-spec.io", "v1alpha2", "trafficsplits", NULL, NULL);
    assert_string_equal(p, "/apis/split.smi-spec.io/v1alpha2/trafficsplits");
    free(p);
    p = st_kube_path("rbac.authorization.k8s.io", "v1", "clusterroles", "", "system:a b/c");
    assert_string_equal(p, "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:a%20b%2Fc");
    free(p);
}

static void
test_crud(void **state)
{
    struct st_kube_client *c = client();
    struct st_err err;
    json_t *out = NULL;
    long status = 0;
    char *coll = st_kube_path(NULL, "v1", "configmaps", "crud", NULL);
    char *path = st_kube_path(NULL, "v1", "configmaps", "crud", "x");
    json_t *obj = configmap("x", "1");

    assert_string_equal(st_kube_client_namespace(c), "test");
    assert_int_equal(st_kube_create(c, coll, obj, &out, &err), 0);
    assert_string_equal(st_json_str(out, "metadata.namespace"), "crud");
    json_decref(out);

    assert_int_equal(st_kube_create(c, coll, obj, NULL, &err), ST_ECONFLICT);
    assert_string_equal(err.msg, "configmaps \"x\" already exists");

    assert_int_equal(st_kube_get(c, path, &out, &err), 0);
    assert_string_equal(st_json_str(out, "data.v"), "1");
    const char *rv1 = st_json_str(out, "metadata.resourceVersion");
    assert_non_null(rv1);

    /* PUT with the current version succeeds; with a stale one it conflicts. */
    json_t *upd = json_deep_copy(out);
    st_json_set_path(upd, "data.v", json_string("2"));
    json_t *stored = NULL;
    assert_int_equal(st_kube_update(c, path, upd, &stored, &err), 0);
    assert_string_equal(st_json_str(stored, "data.v"), "2");
    assert_int_equal(st_kube_update(c, path, upd, NULL, &err), ST_ECONFLICT);
    assert_non_null(strstr(err.msg, "has been modified"));
    json_decref(upd);
    json_decref(stored);
    json_decref(out);

    json_t *patch = json_pack("{s:{s:s}}", "data", "w", "3");
    assert_int_equal(st_kube_patch(c, path, ST_KUBE_PATCH_MERGE, patch, &out, &err), 0);
    assert_string_equal(st_json_str(out, "data.v"), "2");
    assert_string_equal(st_json_str(out, "data.w"), "3");
    json_decref(out);
    /* The fake server only knows merge patches: the content type reaches it. */
    assert_int_equal(st_kube_patch(c, path, ST_KUBE_PATCH_STRATEGIC, patch, NULL, &err), ST_EPROTO);
    assert_non_null(strstr(err.msg, "strategic-merge-patch+json"));
    json_decref(patch);

    assert_int_equal(st_kube_delete(c, path, NULL, &err), 0);
    assert_int_equal(st_kube_request(c, "GET", path, NULL, NULL, &status, &out, &err),
                     ST_ENOTFOUND);
    assert_int_equal(status, 404);
    assert_string_equal(err.msg, "configmaps \"x\" not found");
    assert_string_equal(st_json_str(out, "kind"), "Status");
    json_decref(out);
    assert_int_equal(st_kube_delete(c, path, NULL, &err), ST_ENOTFOUND);

    json_decref(obj);
    free(coll);
    free(path);
    st_kube_client_free(c);
}

static void
test_list_pages(void **state)
{
    struct st_kube_client *c = client();
    struct st_err err;
    json_t *list = NULL;
    char name[32];

    for (int i = 0; i < 7; i++) {
        snprintf(name, sizeof(name), "p%d", i);
        create_cm(c, "pages", name, "x");
    }
    char *coll = st_kube_path(NULL, "v1", "configmaps", "pages", NULL);
    struct st_kube_list_opts lo = {.limit = 2};
    assert_int_equal(st_kube_list(c, coll, &lo, &list, &err), 0);
    json_t *items = json_object_get(list, "items");
    assert_int_equal(json_array_size(items), 7);
    assert_string_equal(st_json_str(items, "6.metadata.name"), "p6");
    assert_non_null(st_json_str(list, "metadata.resourceVersion"));
    assert_null(st_json_path(list, "metadata.continue"));
    json_decref(list);

    lo.max_items = 3;
    assert_int_equal(st_kube_list(c, coll, &lo, &list, &err), ST_ETOOBIG);
    assert_null(list);

    /* A response past the client's cap fails cleanly. */
    st_kube_client_set_limits(c, 0, 0, 300);
    assert_int_equal(st_kube_list(c, coll, NULL, &list, &err), ST_ETOOBIG);
    assert_non_null(strstr(err.msg, "larger than 300"));
    free(coll);
    st_kube_client_free(c);
}

static void
test_auth_and_transport_errors(void **state)
{
    struct st_err err;
    long status;
    struct st_kube_client *c = client_with("{token: wrong}", "127.0.0.1", NULL);

    assert_int_equal(st_kube_request(c, "GET", "/api/v1/namespaces/a/configmaps", NULL, NULL,
                                     &status, NULL, &err),
                     ST_EAUTH);
    assert_int_equal(status, 401);
    assert_string_equal(err.msg, "Unauthorized");
    st_kube_client_free(c);

    /* The certificate names fake.kube.test: a matching tls-server-name works, another fails. */
    c = client_with("{token: tok-1}", "127.0.0.1", "fake.kube.test");
    assert_int_equal(st_kube_request(c, "GET", "/api/v1/namespaces/a/configmaps", NULL, NULL,
                                     &status, NULL, &err),
                     0);
    st_kube_client_free(c);
    c = client_with("{token: tok-1}", "127.0.0.1", "other.kube.test");
    assert_int_equal(st_kube_request(c, "GET", "/api/v1/namespaces/a/configmaps", NULL, NULL,
                                     &status, NULL, &err),
                     ST_ETLS);
    st_kube_client_free(c);

    /* The total timeout. */
    c = client();
    st_kube_client_set_limits(c, 0, 300, 0);
    uint64_t t0 = st_now_ms();
    assert_int_equal(
        st_kube_request(c, "GET", "/_control/sleep?ms=3000", NULL, NULL, &status, NULL, &err),
        ST_ETIMEOUT);
    assert_true(st_now_ms() - t0 < 2500);
    st_kube_client_free(c);

    /* Nothing listens on port 1 of 127.0.0.1. */
    struct st_kube_config cfg = {.server = "https://127.0.0.1:1", .namespace = "default"};
    c = st_kube_client_new(&cfg, &err);
    assert_non_null(c);
    assert_int_equal(st_kube_get(c, "/api/v1/namespaces", NULL, &err), -ECONNREFUSED);
    st_kube_client_free(c);
}

static void
test_client_certificate(void **state)
{
    struct st_err err;
    json_t *out = NULL;
    char *user = st_xasprintf("{client-certificate: %s/client.crt, client-key: %s/client.key}",
                              tmpdir, tmpdir);
    struct st_kube_client *c = client_with(user, "127.0.0.1", NULL);

    assert_int_equal(st_kube_get(c, "/_control/whoami", &out, &err), 0);
    assert_string_equal(st_json_str(out, "cn"), "cert-user");
    json_decref(out);
    /* The certificate alone authenticates: no token is configured. */
    assert_int_equal(st_kube_get(c, "/api/v1/namespaces/cc/configmaps", NULL, &err), 0);
    st_kube_client_free(c);
    free(user);
}

static void
test_token_file_rotation(void **state)
{
    struct st_err err;
    char *tf = st_xasprintf("%s/token", tmpdir);
    assert_int_equal(st_file_write_atomic(tf, "tok-1\n", 6, 0600), 0);
    char *user = st_xasprintf("{tokenFile: %s}", tf);
    struct st_kube_client *c = client_with(user, "127.0.0.1", NULL);
    struct st_kube_client *admin = client();

    assert_int_equal(st_kube_get(c, "/api/v1/namespaces/r/configmaps", NULL, &err), 0);
    control(admin, "token?value=tok-2");
    assert_int_equal(st_kube_get(c, "/api/v1/namespaces/r/configmaps", NULL, &err), ST_EAUTH);
    assert_int_equal(st_file_write_atomic(tf, "tok-2\n", 6, 0600), 0);
    assert_int_equal(st_kube_get(c, "/api/v1/namespaces/r/configmaps", NULL, &err), 0);
    st_kube_client_free(admin);
    /* Restore the token the other tests use. */
    control(c, "token?value=tok-1");
    st_kube_client_free(c);
    free(user);
    free(tf);
}

/* ---- watches ------------------------------------------------------------------------------ */

struct loop_wait {
    struct st_ev *loop;
    struct st_ev_timer tick;
    bool (*pred)(void *);
    void *arg;
    uint64_t deadline;
    bool timed_out;
};

static void
wait_tick(struct st_ev *loop, struct st_ev_timer *t)
{
    struct loop_wait *w = t->data;
    if (w->pred(w->arg)) {
        st_ev_stop(loop);
        return;
    }
    if (st_ev_now_ms(loop) >= w->deadline) {
        w->timed_out = true;
        st_ev_stop(loop);
        return;
    }
    st_ev_timer_start(loop, t, 10);
}

/* Runs <loop> until pred(arg) holds; fails the test after <ms>. */
#define run_until(loop, pred, arg, ms) run_until_at(loop, pred, arg, ms, __LINE__)

static void
run_until_at(struct st_ev *loop, bool (*pred)(void *), void *arg, uint64_t ms, int line)
{
    struct loop_wait w = {.loop = loop, .pred = pred, .arg = arg};
    st_ev_update_now(loop);
    w.deadline = st_ev_now_ms(loop) + ms;
    st_ev_timer_init(&w.tick, wait_tick, &w);
    st_ev_timer_start(loop, &w.tick, 0);
    assert_int_equal(st_ev_run(loop), 0);
    st_ev_timer_stop(loop, &w.tick);
    if (w.timed_out)
        fail_msg("timed out waiting at line %d", line);
}

/*
 * The fake server's stream controls (cut, expire, end, bookmark) only reach
 * streams that are open there when the control arrives, and a watch a client
 * has just started is not open until the loop has sent its request and the
 * server has taken it up. So before such a control, run the loop until the
 * server counts <n> open watch streams in namespace <ns>.
 */
struct streams_wait {
    struct st_kube_client *admin;
    const char *ns;
    int n;
};

static bool
streams_open_p(void *arg)
{
    struct streams_wait *sw = arg;
    struct st_err err;
    json_t *out = NULL;
    char *p = st_xasprintf("/_control/streams?ns=%s", sw->ns);
    assert_int_equal(st_kube_get(sw->admin, p, &out, &err), 0);
    json_int_t n = json_integer_value(json_object_get(out, "streams"));
    json_decref(out);
    free(p);
    return n >= sw->n;
}

#define wait_streams(loop, admin, ns, n)                                                           \
    do {                                                                                           \
        struct streams_wait sw_ = {admin, ns, n};                                                  \
        run_until_at(loop, streams_open_p, &sw_, 10000, __LINE__);                                 \
    } while (0)

struct watch_log {
    struct st_buf events; /* "TYPE name;" per event */
    int n;
    bool done;
    int done_code;
    char done_msg[256];
    struct st_kube_watch *w;
    bool free_in_event;
    int want;
    struct st_ev *loop; /* when set, loop times of the last event and of the end */
    uint64_t event_ms, done_ms;
};

static void
log_event(struct st_kube_watch *w, enum st_kube_event_type t, json_t *obj, void *data)
{
    struct watch_log *l = data;
    const char *name = st_json_str(obj, "metadata.name");
    assert_int_equal(st_buf_appendf(&l->events, "%s %s;", st_kube_event_name(t), name ? name : "-"),
                     0);
    l->n++;
    if (l->loop != NULL)
        l->event_ms = st_ev_now_ms(l->loop);
    if (l->free_in_event) {
        st_kube_watch_free(w);
        l->w = NULL;
        l->done = true;
    }
}

static void
log_done(struct st_kube_watch *w, int code, const struct st_err *err, void *data)
{
    struct watch_log *l = data;
    l->done = true;
    l->done_code = code;
    st_strlcpy(l->done_msg, err->msg, sizeof(l->done_msg));
    if (l->loop != NULL)
        l->done_ms = st_ev_now_ms(l->loop);
}

static bool
log_has(void *arg)
{
    struct watch_log *l = arg;
    return l->done || l->n >= l->want;
}

static bool
log_has_one(void *arg)
{
    return ((struct watch_log *)arg)->n >= 1;
}

static bool
log_done_p(void *arg)
{
    return ((struct watch_log *)arg)->done;
}

static void
test_watch(void **state)
{
    struct st_err err;
    struct st_ev *loop = st_ev_new(&err);
    struct st_kube_client *c = client();
    struct st_kube_client *admin = client();
    struct watch_log l = {ST_BUF_INIT(0)};
    json_t *list;
    char *coll = st_kube_path(NULL, "v1", "configmaps", "w", NULL);

    assert_int_equal(st_kube_client_attach(c, loop), 0);
    create_cm(admin, "w", "before", "0");
    assert_int_equal(st_kube_list(admin, coll, NULL, &list, &err), 0);
    struct st_kube_watch_opts wo = {
        .path = coll, .resource_version = st_json_str(list, "metadata.resourceVersion")};
    l.w = st_kube_watch_start(c, &wo, log_event, log_done, &l, &err);
    assert_non_null(l.w);
    json_decref(list);

    create_cm(admin, "w", "a", "1");
    create_cm(admin, "other", "not-seen", "1");
    char *pa = st_kube_path(NULL, "v1", "configmaps", "w", "a");
    json_t *patch = json_pack("{s:{s:s}}", "data", "v", "2");
    assert_int_equal(st_kube_patch(admin, pa, ST_KUBE_PATCH_MERGE, patch, NULL, &err), 0);
    l.want = 2;
    run_until(loop, log_has, &l, 10000);
    /* The stream is open now, so the server sends the bookmark to it. */
    control(admin, "bookmark");
    l.want = 3;
    run_until(loop, log_has, &l, 10000);
    assert_int_equal(st_kube_delete(admin, pa, NULL, &err), 0);
    l.want = 4;
    run_until(loop, log_has, &l, 10000);
    if (l.done)
        fail_msg("watch ended: %d %s", l.done_code, l.done_msg);
    assert_string_equal(st_buf_cstr(&l.events), "ADDED a;MODIFIED a;BOOKMARK -;DELETED a;");

    /* An ERROR event with 410 ends the watch with ST_EGONE. */
    control(admin, "expire");
    run_until(loop, log_done_p, &l, 10000);
    assert_int_equal(l.done_code, ST_EGONE);
    assert_string_equal(l.done_msg, "too old resource version");
    const char *rv = st_kube_watch_resource_version(l.w);
    assert_true(rv[0] != '\0');
    st_kube_watch_free(l.w);

    /* A clean end after timeoutSeconds reports 0. */
    st_buf_free(&l.events);
    l = (struct watch_log){ST_BUF_INIT(0)};
    wo.resource_version = NULL;
    wo.timeout_s = 1;
    l.w = st_kube_watch_start(c, &wo, log_event, log_done, &l, &err);
    run_until(loop, log_done_p, &l, 10000);
    assert_int_equal(l.done_code, 0);
    st_kube_watch_free(l.w);

    /* A cut stream is an error. */
    l.done = false;
    wo.timeout_s = 0;
    char *rv_now = current_rv(admin);
    wo.resource_version = rv_now;
    l.w = st_kube_watch_start(c, &wo, log_event, log_done, &l, &err);
    create_cm(admin, "w", "b", "1");
    run_until(loop, log_has_one, &l, 10000);
    control(admin, "cut");
    run_until(loop, log_done_p, &l, 10000);
    assert_true(l.done_code < 0 && l.done_code != ST_EGONE);
    st_kube_watch_free(l.w);
    st_buf_free(&l.events);

    /* Freeing from the event callback stops the stream. */
    free(rv_now);
    rv_now = current_rv(admin);
    wo.resource_version = rv_now;
    struct watch_log l2 = {ST_BUF_INIT(0)};
    l2.free_in_event = true;
    l2.w = st_kube_watch_start(c, &wo, log_event, log_done, &l2, &err);
    create_cm(admin, "w", "c", "1");
    create_cm(admin, "w", "d", "1");
    run_until(loop, log_done_p, &l2, 10000);
    assert_int_equal(l2.n, 1);
    st_buf_free(&l2.events);
    free(rv_now);

    /* Watching a version older than the server keeps fails with 410. */
    control(admin, "compact");
    struct watch_log l3 = {ST_BUF_INIT(0)};
    wo.resource_version = "101";
    l3.w = st_kube_watch_start(c, &wo, log_event, log_done, &l3, &err);
    run_until(loop, log_done_p, &l3, 10000);
    assert_int_equal(l3.done_code, ST_EGONE);
    st_kube_watch_free(l3.w);
    st_buf_free(&l3.events);

    json_decref(patch);
    free(pa);
    free(coll);
    st_kube_client_free(admin);
    st_kube_client_free(c);
    st_ev_free(loop);
}

struct later_create {
    struct st_kube_client *admin;
    const char *ns, *name;
};

static void
later_create_fire(struct st_ev *loop, struct st_ev_timer *t)
{
    struct later_create *lc = t->data;
    create_cm(lc->admin, lc->ns, lc->name, "0");
}

static void
test_watch_idle(void **state)
{
    struct st_err err;
    struct st_ev *loop = st_ev_new(&err);
    struct st_kube_client *c = client();
    struct st_kube_client *admin = client();
    char *coll = st_kube_path(NULL, "v1", "configmaps", "idle", NULL);
    char *rv = current_rv(admin);

    assert_int_equal(st_kube_client_attach(c, loop), 0);

    /* A silent stream ends with ST_ETIMEOUT after the idle timeout, keeping its version. */
    struct watch_log l = {ST_BUF_INIT(0), .loop = loop};
    struct st_kube_watch_opts wo = {.path = coll, .resource_version = rv, .idle_timeout_ms = 300};
    st_ev_update_now(loop);
    uint64_t t0 = st_ev_now_ms(loop);
    l.w = st_kube_watch_start(c, &wo, log_event, log_done, &l, &err);
    assert_non_null(l.w);
    run_until(loop, log_done_p, &l, 10000);
    assert_int_equal(l.done_code, ST_ETIMEOUT);
    assert_non_null(strstr(l.done_msg, "nothing received for"));
    assert_true(l.done_ms - t0 >= 300);
    assert_int_equal(l.n, 0);
    assert_string_equal(st_kube_watch_resource_version(l.w), rv);
    st_kube_watch_free(l.w);
    st_buf_free(&l.events);

    /*
     * Bytes restart the clock: an object created 500 ms in arrives, and the
     * stream ends only a full idle timeout after it (loop times, so exact).
     * Without the restart it would end 2.5 s earlier than that.
     */
    l = (struct watch_log){ST_BUF_INIT(0), .loop = loop};
    wo.idle_timeout_ms = 3000;
    struct later_create lc = {admin, "idle", "quiet"};
    struct st_ev_timer later;
    st_ev_timer_init(&later, later_create_fire, &lc);
    st_ev_update_now(loop);
    t0 = st_ev_now_ms(loop);
    l.w = st_kube_watch_start(c, &wo, log_event, log_done, &l, &err);
    st_ev_timer_start(loop, &later, 500);
    run_until(loop, log_done_p, &l, 10000);
    st_ev_timer_stop(loop, &later);
    assert_int_equal(l.done_code, ST_ETIMEOUT);
    assert_int_equal(l.n, 1);
    assert_true(l.event_ms - t0 >= 500);
    assert_true(l.done_ms - l.event_ms >= 3000);
    st_kube_watch_free(l.w);
    st_buf_free(&l.events);

    free(rv);
    free(coll);
    st_kube_client_free(admin);
    st_kube_client_free(c);
    st_ev_free(loop);
}

/* ---- informers ---------------------------------------------------------------------------- */

struct inf_log {
    int adds, updates, deletes, synced, errors;
    struct st_buf log;
    struct st_kube_informer *inf;
    bool free_on_add;
    bool freed;
};

static void
inf_on_add(struct st_kube_informer *inf, json_t *obj, void *data)
{
    struct inf_log *l = data;
    l->adds++;
    assert_int_equal(st_buf_appendf(&l->log, "+%s;", st_json_str(obj, "metadata.name")), 0);
    if (l->free_on_add && !l->freed) {
        st_kube_informer_free(inf);
        l->freed = true;
    }
}

static void
inf_on_update(struct st_kube_informer *inf, json_t *old_obj, json_t *new_obj, void *data)
{
    struct inf_log *l = data;
    l->updates++;
    assert_string_equal(st_json_str(old_obj, "metadata.name"),
                        st_json_str(new_obj, "metadata.name"));
    assert_string_not_equal(st_json_str(old_obj, "metadata.resourceVersion"),
                            st_json_str(new_obj, "metadata.resourceVersion"));
    /* The cache already holds the new object. */
    assert_ptr_equal(st_kube_informer_get(inf, "inf", st_json_str(new_obj, "metadata.name")),
                     new_obj);
    assert_int_equal(st_buf_appendf(&l->log, "~%s;", st_json_str(new_obj, "metadata.name")), 0);
}

static void
inf_on_delete(struct st_kube_informer *inf, json_t *obj, void *data)
{
    struct inf_log *l = data;
    l->deletes++;
    assert_null(st_kube_informer_get(inf, "inf", st_json_str(obj, "metadata.name")));
    assert_int_equal(st_buf_appendf(&l->log, "-%s;", st_json_str(obj, "metadata.name")), 0);
}

static void
inf_on_synced(struct st_kube_informer *inf, void *data)
{
    ((struct inf_log *)data)->synced++;
}

static void
inf_on_error(struct st_kube_informer *inf, const struct st_err *err, void *data)
{
    ((struct inf_log *)data)->errors++;
}

static bool
inf_synced_p(void *arg)
{
    struct inf_log *l = arg;
    return st_kube_informer_has_synced(l->inf);
}

struct inf_expect {
    struct inf_log *l;
    int adds, updates, deletes;
    uint64_t watches;  /* wait for more than this many watches, if set */
    uint64_t failures; /* wait for at least this many failures */
};

static bool
inf_counts_p(void *arg)
{
    struct inf_expect *e = arg;
    if (getenv("KUBE_TEST_DEBUG")) {
        struct st_kube_informer_stats st;
        st_kube_informer_stats(e->l->inf, &st);
        fprintf(stderr, "log %s lists %lu watches %lu gone %lu fail %lu\n", st_buf_cstr(&e->l->log),
                (unsigned long)st.lists, (unsigned long)st.watches, (unsigned long)st.gone,
                (unsigned long)st.failures);
    }
    struct st_kube_informer_stats st;
    st_kube_informer_stats(e->l->inf, &st);
    return e->l->adds >= e->adds && e->l->updates >= e->updates && e->l->deletes >= e->deletes &&
           (e->watches == 0 || st.watches > e->watches) && st.failures >= e->failures;
}

static bool
count_one(json_t *obj, void *data)
{
    (*(int *)data)++;
    return true;
}

static void
test_informer(void **state)
{
    struct st_err err;
    struct st_ev *loop = st_ev_new(&err);
    struct st_kube_client *c = client();
    struct st_kube_client *admin = client();
    struct inf_log l = {.log = ST_BUF_INIT(0)};
    struct st_kube_informer_stats stats;
    char name[16];

    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), "i%d", i);
        create_cm(admin, "inf", name, "0");
    }
    create_cm(admin, "inf-other", "elsewhere", "0");
    assert_int_equal(st_kube_client_attach(c, loop), 0);
    struct st_kube_informer_opts io = {.version = "v1",
                                       .resource = "configmaps",
                                       .namespace = "inf",
                                       .page_limit = 2,
                                       .backoff_min_ms = 50,
                                       .backoff_max_ms = 400};
    struct st_kube_informer_handlers h = {inf_on_add,    inf_on_update, inf_on_delete,
                                          inf_on_synced, inf_on_error,  &l};
    l.inf = st_kube_informer_new(c, &io, &h, &err);
    assert_non_null(l.inf);
    assert_false(st_kube_informer_has_synced(l.inf));
    run_until(loop, inf_synced_p, &l, 10000);
    assert_int_equal(l.synced, 1);
    assert_int_equal(l.adds, 5);
    assert_int_equal(st_kube_informer_count(l.inf), 5);
    assert_non_null(st_kube_informer_get(l.inf, "inf", "i3"));
    assert_null(st_kube_informer_get(l.inf, "inf-other", "elsewhere"));

    /* Changes through the watch. */
    create_cm(admin, "inf", "i5", "0");
    char *p0 = st_kube_path(NULL, "v1", "configmaps", "inf", "i0");
    char *p1 = st_kube_path(NULL, "v1", "configmaps", "inf", "i1");
    json_t *patch = json_pack("{s:{s:s}}", "data", "v", "9");
    assert_int_equal(st_kube_patch(admin, p0, ST_KUBE_PATCH_MERGE, patch, NULL, &err), 0);
    assert_int_equal(st_kube_delete(admin, p1, NULL, &err), 0);
    struct inf_expect e = {&l, 6, 1, 1};
    run_until(loop, inf_counts_p, &e, 10000);
    assert_string_equal(st_buf_cstr(&l.log), "+i0;+i1;+i2;+i3;+i4;+i5;~i0;-i1;");
    assert_string_equal(st_json_str(st_kube_informer_get(l.inf, "inf", "i0"), "data.v"), "9");
    assert_int_equal(st_kube_informer_count(l.inf), 5);

    /* Changes the watch never sees, then 410: the relist reconciles them. */
    control(admin, "silent_delete?ns=inf&name=i2");
    control(admin, "silent_label?ns=inf&name=i3&key=k&value=v");
    control(admin, "compact");
    control(admin, "expire");
    e = (struct inf_expect){&l, 6, 2, 2};
    run_until(loop, inf_counts_p, &e, 10000);
    assert_null(st_kube_informer_get(l.inf, "inf", "i2"));
    assert_string_equal(st_json_str(st_kube_informer_get(l.inf, "inf", "i3"), "metadata.labels.k"),
                        "v");
    st_kube_informer_stats(l.inf, &stats);
    assert_true(stats.gone >= 1);
    assert_int_equal(stats.lists, 2);
    assert_int_equal(l.synced, 1);

    /*
     * A cut stream: back off, relist, watch again; new objects arrive. The
     * watch started after the relist must be open at the server first, or
     * the cut would miss it.
     */
    wait_streams(loop, admin, "inf", 1);
    control(admin, "cut");
    create_cm(admin, "inf", "i6", "0");
    e = (struct inf_expect){&l, 7, 2, 2, 0, 1};
    run_until(loop, inf_counts_p, &e, 10000);
    st_kube_informer_stats(l.inf, &stats);
    assert_true(stats.failures >= 1);
    assert_true(l.errors >= 1);

    /*
     * i6 may have come on the old stream just before the cut, so wait for the
     * relist and the new stream; then an object arrives through that stream,
     * without another list.
     */
    e = (struct inf_expect){&l, 7, 2, 2, 2, 1};
    run_until(loop, inf_counts_p, &e, 10000);
    wait_streams(loop, admin, "inf", 1);
    st_kube_informer_stats(l.inf, &stats);
    uint64_t lists = stats.lists, watches = stats.watches;
    assert_int_equal(lists, 3);
    create_cm(admin, "inf", "i6b", "0");
    e = (struct inf_expect){&l, 8, 2, 2};
    run_until(loop, inf_counts_p, &e, 10000);
    st_kube_informer_stats(l.inf, &stats);
    assert_int_equal(stats.lists, lists);
    assert_int_equal(stats.watches, watches);

    /* A clean end resumes the watch from the last version, without a relist. */
    control(admin, "end");
    create_cm(admin, "inf", "i7", "0");
    /* i7 may come on the old stream or on the resumed one; either way a new watch starts. */
    e = (struct inf_expect){&l, 9, 2, 2, watches};
    run_until(loop, inf_counts_p, &e, 10000);
    st_kube_informer_stats(l.inf, &stats);
    assert_int_equal(stats.lists, lists);
    assert_true(stats.watches > watches);

    int n = 0;
    st_kube_informer_foreach(l.inf, count_one, &n);
    assert_int_equal(n, (int)st_kube_informer_count(l.inf));
    assert_int_equal(n, 7); /* i0 i3 i4 i5 i6 i6b i7 */

    st_kube_informer_free(l.inf);
    json_decref(patch);
    free(p0);
    free(p1);
    st_buf_free(&l.log);
    st_kube_client_free(admin);
    st_kube_client_free(c);
    st_ev_free(loop);
}

/* ---- a compact informer with a transform ------------------------------------------------- */

struct cinf_log {
    struct st_kube_informer *inf;
    struct st_buf log;
    int adds, updates, deletes, transforms;
    bool stale_in_handler; /* a handler saw a field the transform removes */
};

/* Strips data.big and the resourceVersion: changes to either alone are no change at all. */
static void
cinf_transform(struct st_kube_informer *inf, json_t *obj, void *data)
{
    struct cinf_log *l = data;
    l->transforms++;
    json_object_del(json_object_get(obj, "data"), "big");
    json_object_del(json_object_get(obj, "metadata"), "resourceVersion");
    json_object_set_new(obj, "seen", json_true());
}

static void
cinf_note(struct cinf_log *l, char op, const json_t *obj)
{
    if (st_json_path(obj, "data.big") != NULL || st_json_path(obj, "seen") == NULL)
        l->stale_in_handler = true;
    assert_int_equal(st_buf_appendf(&l->log, "%c%s=%s;", op, st_json_str(obj, "metadata.name"),
                                    st_json_str(obj, "data.v")),
                     0);
}

static void
cinf_on_add(struct st_kube_informer *inf, json_t *obj, void *data)
{
    struct cinf_log *l = data;
    l->adds++;
    cinf_note(l, '+', obj);
}

static void
cinf_on_update(struct st_kube_informer *inf, json_t *old_obj, json_t *new_obj, void *data)
{
    struct cinf_log *l = data;
    l->updates++;
    cinf_note(l, '<', old_obj);
    cinf_note(l, '>', new_obj);
    /* The cache holds the new version already. */
    json_t *cur = st_kube_informer_acquire(inf, "infc", st_json_str(new_obj, "metadata.name"));
    assert_true(json_equal(cur, new_obj));
    json_decref(cur);
}

static void
cinf_on_delete(struct st_kube_informer *inf, json_t *obj, void *data)
{
    struct cinf_log *l = data;
    l->deletes++;
    assert_null(st_kube_informer_acquire(inf, "infc", st_json_str(obj, "metadata.name")));
    cinf_note(l, '-', obj);
}

struct cinf_expect {
    struct cinf_log *l;
    int adds, updates, deletes;
    uint64_t lists;
};

static bool
cinf_counts_p(void *arg)
{
    struct cinf_expect *e = arg;
    struct st_kube_informer_stats st;
    st_kube_informer_stats(e->l->inf, &st);
    return e->l->adds >= e->adds && e->l->updates >= e->updates && e->l->deletes >= e->deletes &&
           st.lists >= e->lists;
}

static bool
cinf_synced_p(void *arg)
{
    return st_kube_informer_has_synced(((struct cinf_log *)arg)->inf);
}

static bool
cinf_keep_c1(json_t *obj, void *data)
{
    if (strcmp(st_json_str(obj, "metadata.name"), "c1") == 0)
        *(json_t **)data = json_incref(obj);
    return true;
}

static void
cinf_patch(struct st_kube_client *admin, const char *name, const char *key, const char *value)
{
    struct st_err err;
    char *path = st_kube_path(NULL, "v1", "configmaps", "infc", name);
    json_t *patch = json_pack("{s:{s:s}}", "data", key, value);
    if (st_kube_patch(admin, path, ST_KUBE_PATCH_MERGE, patch, NULL, &err) < 0)
        fail_msg("patch %s: %s", name, err.msg);
    json_decref(patch);
    free(path);
}

static void
test_informer_compact(void **state)
{
    struct st_err err;
    struct st_ev *loop = st_ev_new(&err);
    struct st_kube_client *c = client();
    struct st_kube_client *admin = client();
    struct cinf_log l = {.log = ST_BUF_INIT(0)};
    struct st_kube_informer_stats stats;
    char big[2048];

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    for (int i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof(name), "c%d", i);
        create_cm(admin, "infc", name, "0");
        cinf_patch(admin, name, "big", big);
    }
    assert_int_equal(st_kube_client_attach(c, loop), 0);
    struct st_kube_informer_opts io = {.version = "v1", .resource = "configmaps",
                                       .namespace = "infc", .compact = true,
                                       .backoff_min_ms = 50, .backoff_max_ms = 400};
    struct st_kube_informer_handlers h = {.on_add = cinf_on_add, .on_update = cinf_on_update,
                                          .on_delete = cinf_on_delete, .data = &l,
                                          .transform = cinf_transform};
    l.inf = st_kube_informer_new(c, &io, &h, &err);
    assert_non_null(l.inf);
    run_until(loop, cinf_synced_p, &l, 10000);
    assert_int_equal(l.adds, 3);
    assert_int_equal(st_kube_informer_count(l.inf), 3);

    /* What is cached is the transformed object, as compact text. */
    st_kube_informer_stats(l.inf, &stats);
    assert_true(stats.cached_bytes > 3 * 40);
    assert_true(stats.cached_bytes < 3 * 1000); /* data.big is gone */
    json_t *a = st_kube_informer_acquire(l.inf, "infc", "c0");
    assert_non_null(a);
    assert_null(st_json_path(a, "data.big"));
    assert_true(json_is_true(st_json_path(a, "seen")));
    assert_string_equal(st_json_str(a, "data.v"), "0");
    /* A copy: changing it leaves the cache alone. */
    json_object_set_new(json_object_get(a, "data"), "v", json_string("changed"));
    json_t *b = st_kube_informer_acquire(l.inf, "infc", "c0");
    assert_ptr_not_equal(a, b);
    assert_string_equal(st_json_str(b, "data.v"), "0");
    json_decref(a);
    json_decref(b);
    assert_null(st_kube_informer_acquire(l.inf, "infc", "nope"));
    assert_null(st_kube_informer_acquire(l.inf, "other", "c0"));
    /* get: a parsed copy that stays valid until the loop runs again. */
    json_t *g1 = st_kube_informer_get(l.inf, "infc", "c1");
    json_t *g2 = st_kube_informer_get(l.inf, "infc", "c2");
    assert_string_equal(st_json_str(g1, "metadata.name"), "c1");
    assert_string_equal(st_json_str(g2, "metadata.name"), "c2");
    assert_null(st_kube_informer_get(l.inf, "infc", "nope"));
    /* foreach: borrowed for the call; a reference keeps it. */
    json_t *kept = NULL;
    st_kube_informer_foreach(l.inf, cinf_keep_c1, &kept);
    assert_non_null(kept);
    assert_string_equal(st_json_str(kept, "metadata.name"), "c1");
    json_decref(kept);

    /* A change of a field the transform drops is no change; a kept field is an update. */
    cinf_patch(admin, "c1", "big", "y");
    cinf_patch(admin, "c2", "v", "7");
    struct cinf_expect e = {&l, 3, 1, 0, 0};
    run_until(loop, cinf_counts_p, &e, 10000);
    /* A delete through the watch hands over the (transformed) final object. */
    char *p0 = st_kube_path(NULL, "v1", "configmaps", "infc", "c0");
    assert_int_equal(st_kube_delete(admin, p0, NULL, &err), 0);
    e = (struct cinf_expect){&l, 3, 1, 1, 0};
    run_until(loop, cinf_counts_p, &e, 10000);
    assert_string_equal(st_buf_cstr(&l.log), "+c0=0;+c1=0;+c2=0;<c2=0;>c2=7;-c0=0;");

    /*
     * Changes the watch misses, then 410: the relist reports the kept-field
     * change (its old version parsed from the cache) and the delete; the
     * objects whose text did not change are not reported.
     */
    st_kube_informer_stats(l.inf, &stats);
    uint64_t lists = stats.lists;
    control(admin, "silent_delete?ns=infc&name=c2");
    control(admin, "silent_label?ns=infc&name=c1&key=k&value=v");
    control(admin, "compact");
    control(admin, "expire");
    e = (struct cinf_expect){&l, 3, 2, 2, lists + 1};
    run_until(loop, cinf_counts_p, &e, 10000);
    assert_string_equal(st_buf_cstr(&l.log),
                        "+c0=0;+c1=0;+c2=0;<c2=0;>c2=7;-c0=0;-c2=7;<c1=0;>c1=0;");
    assert_false(l.stale_in_handler);
    assert_int_equal(st_kube_informer_count(l.inf), 1);
    json_t *c1 = st_kube_informer_acquire(l.inf, "infc", "c1");
    assert_string_equal(st_json_str(c1, "metadata.labels.k"), "v");
    json_decref(c1);
    st_kube_informer_stats(l.inf, &stats);
    assert_true(stats.cached_bytes > 40 && stats.cached_bytes < 1000);
    assert_true(l.transforms >= 3 + 3 + 1); /* list, watch events, relist */

    st_kube_informer_free(l.inf);
    free(p0);
    st_buf_free(&l.log);
    st_kube_client_free(admin);
    st_kube_client_free(c);
    st_ev_free(loop);
}

static bool
inf_freed_p(void *arg)
{
    return ((struct inf_log *)arg)->freed;
}

static bool
never_p(void *arg)
{
    return false;
}

static void
test_informer_free_in_callback(void **state)
{
    struct st_err err;
    struct st_ev *loop = st_ev_new(&err);
    struct st_kube_client *c = client();
    struct inf_log l = {.log = ST_BUF_INIT(0), .free_on_add = true};

    assert_int_equal(st_kube_client_attach(c, loop), 0);
    struct st_kube_informer_opts io = {
        .version = "v1", .resource = "configmaps", .namespace = "inf"};
    struct st_kube_informer_handlers h = {.on_add = inf_on_add, .data = &l};
    l.inf = st_kube_informer_new(c, &io, &h, &err);
    run_until(loop, inf_freed_p, &l, 10000);
    assert_int_equal(l.adds, 1);
    /* Let the loop run on: nothing of the informer may be touched any more. */
    struct loop_wait w = {.loop = loop, .pred = never_p};
    st_ev_update_now(loop);
    w.deadline = st_ev_now_ms(loop) + 200;
    st_ev_timer_init(&w.tick, wait_tick, &w);
    st_ev_timer_start(loop, &w.tick, 0);
    st_ev_run(loop);
    assert_int_equal(l.adds, 1);

    /* An informer on a client without a loop is refused. */
    struct st_kube_client *c2 = client();
    assert_null(st_kube_informer_new(c2, &io, &h, &err));
    assert_int_equal(err.code, ST_EINVAL);
    st_kube_client_free(c2);
    st_buf_free(&l.log);
    st_kube_client_free(c);
    st_ev_free(loop);
}

static void
test_informer_stall(void **state)
{
    struct st_err err;
    struct st_ev *loop = st_ev_new(&err);
    struct st_kube_client *c = client();
    struct st_kube_client *admin = client();
    struct inf_log l = {.log = ST_BUF_INIT(0)};
    struct st_kube_informer_stats stats;

    create_cm(admin, "stall", "s0", "0");
    assert_int_equal(st_kube_client_attach(c, loop), 0);
    struct st_kube_informer_opts io = {
        .version = "v1", .resource = "configmaps", .namespace = "stall", .watch_idle_ms = 600};
    struct st_kube_informer_handlers h = {inf_on_add,    inf_on_update, inf_on_delete,
                                          inf_on_synced, inf_on_error,  &l};
    l.inf = st_kube_informer_new(c, &io, &h, &err);
    assert_non_null(l.inf);
    run_until(loop, inf_synced_p, &l, 10000);

    /* The namespace stays quiet: the watch stalls and is resumed, without a relist or an error. */
    struct inf_expect e = {&l, 1, 0, 0, 2};
    run_until(loop, inf_counts_p, &e, 10000);
    st_kube_informer_stats(l.inf, &stats);
    assert_true(stats.stalls >= 2);
    assert_int_equal(stats.lists, 1);
    assert_int_equal(stats.failures, 0);
    assert_int_equal(l.errors, 0);

    /* The resumed watch delivers. */
    create_cm(admin, "stall", "s1", "0");
    e = (struct inf_expect){&l, 2, 0, 0};
    run_until(loop, inf_counts_p, &e, 10000);
    assert_non_null(st_kube_informer_get(l.inf, "stall", "s1"));
    st_kube_informer_stats(l.inf, &stats);
    assert_int_equal(stats.lists, 1);
    assert_string_equal(st_buf_cstr(&l.log), "+s0;+s1;");

    st_kube_informer_free(l.inf);
    st_buf_free(&l.log);
    st_kube_client_free(admin);
    st_kube_client_free(c);
    st_ev_free(loop);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path),
        cmocka_unit_test(test_crud),
        cmocka_unit_test(test_list_pages),
        cmocka_unit_test(test_auth_and_transport_errors),
        cmocka_unit_test(test_client_certificate),
        cmocka_unit_test(test_token_file_rotation),
        cmocka_unit_test(test_watch),
        cmocka_unit_test(test_watch_idle),
        cmocka_unit_test(test_informer),
        cmocka_unit_test(test_informer_compact),
        cmocka_unit_test(test_informer_free_in_callback),
        cmocka_unit_test(test_informer_stall),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
