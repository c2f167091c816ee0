/*
 * Workloads of a local cluster (docs/local-clusters.md, docs/cli.md):
 *
 *   strait --context NAME run -n NS --name W [--label k=v]... [--service-account SA]
 *                             --port P [--port Q]... [--detach] -- CMD [ARG]...
 *   strait --context NAME exec -n NS [--service-account SA] -- CMD [ARG]...
 *   strait --context NAME workloads [-n NS | -A]
 *   strait --context NAME stop -n NS W
 *
 * `run` is the supervisor of one workload: it holds its address and state
 * file, registers the ExternalWorkload, runs the sidecar proxy and the app,
 * keeps the Ready condition in step with the proxy's /ready, and cleans up
 * when the app exits or it is told to stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "local.h"
#include "stat_int.h"
#include "stat_record.h"
#include "strait/json.h"

#define WORKLOAD_MAX_PORTS 32
#define WORKLOAD_MAX_LABELS 64
#define WORKLOAD_APP_TCP_WAIT_MS 10000
#define WORKLOAD_STATS_TIMEOUT_MS 2000        /* per request to the exec proxy's admin */
#define WORKLOAD_STATS_BODY_MAX ((size_t)16 << 20) /* one window, as strait stat reads it */
#define WORKLOAD_HISTORY_PERIOD_MS 10000      /* the proxy's history period (proxy/admin.c) */

struct workload {
    struct local_cluster c;
    struct st_kube_client *k;
    bool exec;
    bool detach;
    const char *ns, *name, *sa;
    bool sa_given; /* --service-account was on the command line */
    const char *via; /* exec --workload W: run in W's mesh context instead of a proxy of its own */
    json_t *labels;
    int ports[WORKLOAD_MAX_PORTS];
    const char *port_names[WORKLOAD_MAX_PORTS];
    size_t n_ports;
    char **cmd;
    char *id; /* "exec-<pid>" for exec, else name */
    char addr[16];
    char *state_file, *id_dir, *ew_path, *log, *proxy_log, *lock_file, *identity;
    json_t *state;
    struct local_proc self, proxy, app;
    bool registered; /* the ExternalWorkload exists */
    bool ready;      /* the Ready condition we last wrote */
    uint64_t started_ms; /* wall clock, just before the proxy started */
};

static void
workload_usage(FILE *f)
{
    fputs("Usage:\n"
          "  strait --context NAME run -n NS --name W [--label k=v]... [--service-account SA]\n"
          "                            --port [NAME=]P [--port ...]... [--detach] -- CMD [ARG]...\n"
          "  strait --context NAME exec -n NS [--service-account SA | --workload W] -- CMD [ARG]...\n"
          "  strait --context NAME workloads [-n NS | -A]\n"
          "  strait --context NAME stop -n NS W\n\n"
          "run        gives the workload an address 127.N.x.y, registers an ExternalWorkload,\n"
          "           starts its sidecar proxy and then CMD with STRAIT_POD_IP, PORT and\n"
          "           http_proxy in its environment; --detach returns once it is ready\n"
          "exec       runs CMD once as a meshed client and returns its exit status; what its\n"
          "           proxy counted is kept for `strait stat ts` when CMD ends; with\n"
          "           --workload W, through W's proxy (like kubectl exec into a meshed pod,\n"
          "           so its traffic shows in W's metrics and `strait stat`)\n"
          "workloads  lists NAME ADDRESS PORTS READY PID\n"
          "stop       stops one workload started with run\n\n"
          "The cluster is --context NAME, else the current context of $STRAIT_HOME/kubeconfig.\n",
          f);
}

static void
workload_free(struct workload *w)
{
    st_kube_client_free(w->k);
    local_cluster_free(&w->c);
    json_decref(w->labels);
    json_decref(w->state);
    free(w->id);
    free(w->state_file);
    free(w->id_dir);
    free(w->ew_path);
    free(w->log);
    free(w->proxy_log);
    free(w->lock_file);
    free(w->identity);
}

/* Parses "k=v" into <labels>; ST_EINVAL when it is not a label. */
static int
workload_label(json_t *labels, const char *kv)
{
    const char *eq = strchr(kv, '=');

    if (eq == NULL || eq == kv || (size_t)(eq - kv) > 253 || strlen(eq + 1) > 63)
        return ST_EINVAL;
    for (const char *p = kv; *p != '\0'; p++)
        if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '"')
            return ST_EINVAL;
    char *k = st_xstrndup(kv, (size_t)(eq - kv));
    json_object_set_new(labels, k, json_string(eq + 1));
    free(k);
    return 0;
}

/* Parses "P" or "NAME=P". */
static int
workload_port(struct workload *w, char *arg)
{
    char *eq = strchr(arg, '=');
    const char *num = eq != NULL ? eq + 1 : arg;
    uint64_t v;

    if (w->n_ports >= WORKLOAD_MAX_PORTS)
        return ST_ETOOBIG;
    if (st_parse_u64(st_str_c(num), 65535, &v) < 0 || v == 0 || v == 4140 || v == 4143 || v == 4191)
        return ST_EINVAL;
    if (eq != NULL) {
        *eq = '\0';
        if (!local_name_ok(arg) || strlen(arg) > 15)
            return ST_EINVAL;
    }
    for (size_t i = 0; i < w->n_ports; i++)
        if (w->ports[i] == (int)v)
            return ST_ECONFLICT;
    w->port_names[w->n_ports] = eq != NULL ? arg : NULL;
    w->ports[w->n_ports++] = (int)v;
    return 0;
}

/* Parses run/exec flags; returns 0, or an exit code (> 0) after printing. */
static int
workload_parse(struct workload *w, const char *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"namespace", required_argument, NULL, 'n'},
        {"name", required_argument, NULL, 'N'},
        {"label", required_argument, NULL, 'l'},
        {"service-account", required_argument, NULL, 's'},
        {"port", required_argument, NULL, 'p'},
        {"detach", no_argument, NULL, 'd'},
        {"workload", required_argument, NULL, 'W'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, rc;

    w->ns = "default";
    w->sa = "default";
    w->labels = json_object();
    optind = 0;
    while ((c = getopt_long(argc, argv, "+:n:l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            w->ns = optarg;
            break;
        case 'N':
            w->name = optarg;
            break;
        case 's':
            w->sa = optarg;
            w->sa_given = true;
            break;
        case 'd':
            w->detach = true;
            break;
        case 'W':
            w->via = optarg;
            break;
        case 'l':
            if (json_object_size(w->labels) >= WORKLOAD_MAX_LABELS ||
                workload_label(w->labels, optarg) < 0)
                return cli_usage_error(cmd, "--label wants KEY=VALUE, not \"%s\"", optarg);
            break;
        case 'p':
            if ((rc = workload_port(w, optarg)) < 0)
                return cli_usage_error(cmd,
                                       "bad --port \"%s\": [NAME=]PORT, 1-65535 but not "
                                       "4140/4143/4191, no duplicates, at most %d",
                                       optarg, WORKLOAD_MAX_PORTS);
            break;
        case 'h':
            workload_usage(stdout);
            return -1;
        case ':':
            return cli_usage_error(cmd, "%s needs a value", argv[optind - 1]);
        default:
            return cli_usage_error(cmd, "unknown flag %s", argv[optind - 1]);
        }
    }
    if (optind == 0 || optind > argc || strcmp(argv[optind - 1], "--") != 0)
        return cli_usage_error(cmd, "missing -- before the command to run");
    if (optind >= argc)
        return cli_usage_error(cmd, "missing the command after --");
    w->cmd = argv + optind;
    if (!local_name_ok(w->ns))
        return cli_usage_error(cmd, "\"%s\" is not a valid namespace", w->ns);
    if (!st_dns1123_subdomain(w->sa) || strlen(w->sa) > LOCAL_SA_NAME_MAX)
        return cli_usage_error(cmd, "\"%s\" is not a valid service account name", w->sa);
    if (w->exec) {
        if (w->name != NULL || w->n_ports > 0 || json_object_size(w->labels) > 0 || w->detach)
            return cli_usage_error(cmd, "exec takes only -n, --service-account or --workload, "
                                        "and the command");
        if (w->via != NULL && !local_name_ok(w->via))
            return cli_usage_error(cmd, "\"%s\" is not a valid workload name", w->via);
        if (w->via != NULL && w->sa_given)
            return cli_usage_error(cmd, "--workload runs as that workload's service account: "
                                        "no --service-account");
        return 0;
    }
    if (w->via != NULL)
        return cli_usage_error(cmd, "--workload is for exec");
    if (w->name == NULL)
        return cli_usage_error(cmd, "run needs --name");
    if (!local_name_ok(w->name))
        return cli_usage_error(cmd, "\"%s\" is not a valid workload name (a DNS-1123 label)",
                               w->name);
    if (w->n_ports == 0)
        return cli_usage_error(cmd, "run needs at least one --port");
    return 0;
}

/* Writes the state file from w->state. */
static int
workload_save(struct workload *w, struct st_err *err)
{
    return local_json_write(w->state_file, w->state, 0644, err);
}

/* Under the workloads lock: checks the name, picks an address, writes the state file. */
static int
workload_reserve(struct workload *w, struct st_err *err)
{
    json_t *all = NULL, *x;
    size_t i;
    int fd, rc = 0;

    if ((fd = local_lock(w->lock_file, LOCAL_LOCK_TIMEOUT_MS, err)) < 0)
        return fd;
    local_workloads(&w->c, NULL, true, &all, NULL);
    bool *used = st_xcalloc(LOCAL_APP_MAX_WORKLOADS, sizeof(bool));
    json_array_foreach(all, i, x)
    {
        const char *a = st_json_str(x, "address");
        unsigned n, hi, lo;
        if (!w->exec && strcmp(st_json_str(x, "namespace") ?: "", w->ns) == 0 &&
            strcmp(st_json_str(x, "name") ?: "", w->name) == 0) {
            rc = st_err_set(err, ST_ECONFLICT, "workload %s/%s is already running (pid %lld)",
                            w->ns, w->name, (long long)st_json_int_or(x, "pid", 0));
            goto out;
        }
        if (a != NULL && sscanf(a, "127.%u.%u.%u", &n, &hi, &lo) == 3 && hi >= 1 && hi <= 127 &&
            lo >= 1 && lo <= 254)
            used[(hi - 1) * 254 + (lo - 1)] = true;
    }
    size_t k;
    for (k = 0; k < LOCAL_APP_MAX_WORKLOADS; k++) {
        if (used[k])
            continue;
        local_addr(w->c.number, 1 + (int)(k / 254), 1 + (int)(k % 254), w->addr);
        if (local_port_free(w->addr, 4140) && local_port_free(w->addr, 4143))
            break;
    }
    if (k == LOCAL_APP_MAX_WORKLOADS) {
        rc = st_err_set(err, -ENOSPC, "no free workload address in cluster %s", w->c.name);
        goto out;
    }
    json_t *ports = json_array();
    for (size_t p = 0; p < w->n_ports; p++)
        json_array_append_new(ports, json_integer(w->ports[p]));
    char started[21];
    st_rfc3339(st_wall_s(), started);
    w->state =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:I, s:I, s:s, s:s}", "kind",
                  w->exec ? "exec" : "run", "name", w->id, "namespace", w->ns, "serviceAccount",
                  w->sa, "address", w->addr, "ports", ports, "identity", w->identity, "identityDir",
                  w->id_dir, "pid", (json_int_t)w->self.pid, "pidStart", (json_int_t)w->self.start,
                  "started", started, "log", w->log != NULL ? w->log : "");
    rc = workload_save(w, err);
out:
    free(used);
    json_decref(all);
    local_unlock(fd);
    return rc;
}

/* Rewrites the cluster's routes under the workloads lock (best effort). */
static void
workload_routes(struct workload *w)
{
    int fd = local_lock(w->lock_file, LOCAL_LOCK_TIMEOUT_MS, NULL);

    if (fd >= 0) {
        local_routes_write(&w->c, NULL);
        local_unlock(fd);
    }
}

static json_t *
workload_ew(const struct workload *w)
{
    json_t *ports = json_array();
    char admin[32];

    for (size_t i = 0; i < w->n_ports; i++) {
        json_t *p = json_pack("{s:i, s:s}", "port", w->ports[i], "protocol", "TCP");
        if (w->port_names[i] != NULL)
            json_object_set_new(p, "name", json_string(w->port_names[i]));
        json_array_append_new(ports, p);
    }
    snprintf(admin, sizeof(admin), "%s:4191", w->addr);
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:O, s:{s:s}}, s:{s:{s:s, s:s}, s:[{s:s}], s:o}}",
                     "apiVersion", "workload.strait.io/v1beta1", "kind", "ExternalWorkload",
                     "metadata", "name", w->name, "namespace", w->ns, "labels", w->labels,
                     "annotations", "strait.io/proxy-admin", admin, "spec", "meshTLS", "identity",
                     w->identity, "serverName", w->identity, "workloadIPs", "ip", w->addr, "ports",
                     ports);
}

/* Sets the Ready condition through the status subresource. */
static int
workload_set_ready(struct workload *w, bool ready, struct st_err *err)
{
    char now[21], *path = st_xasprintf("%s/status", w->ew_path);
    st_rfc3339(st_wall_s(), now);
    json_t *patch = json_pack("{s:{s:[{s:s, s:s, s:s, s:s}]}}", "status", "conditions", "type",
                              "Ready", "status", ready ? "True" : "False", "lastTransitionTime",
                              now, "reason", ready ? "ProxyReady" : "ProxyNotReady");
    int rc = st_kube_patch(w->k, path, ST_KUBE_PATCH_MERGE, patch, NULL, err);

    if (rc == 0)
        w->ready = ready;
    json_decref(patch);
    free(path);
    return rc;
}

/* Registers the ExternalWorkload, replacing a stale one left by a crash. */
static int
workload_register(struct workload *w, struct st_err *err)
{
    char *coll = st_kube_path("workload.strait.io", "v1beta1", "externalworkloads", w->ns, NULL);
    json_t *ew = workload_ew(w);
    int rc = st_kube_create(w->k, coll, ew, NULL, err);

    if (rc == ST_ECONFLICT) {
        st_kube_delete(w->k, w->ew_path, NULL, NULL);
        rc = st_kube_create(w->k, coll, ew, NULL, err);
    }
    if (rc == 0) {
        w->registered = true;
        rc = workload_set_ready(w, false, err);
    }
    json_decref(ew);
    free(coll);
    return rc;
}

/*
 * Starts the sidecar. It certifies with the controller's identity API as the
 * workload's ServiceAccount, with the token workload_up wrote to the state
 * directory, and routes with the controller's destination API.
 */
static int
workload_start_proxy(struct workload *w, struct st_err *err)
{
    char *bin = local_bin("strait-proxy");
    char *token = local_path(w->id_dir, "token");
    char *routes = local_path(w->c.dir, "routes.json");
    char *out = st_xasprintf("%s:4140", w->addr), *in = st_xasprintf("%s:4143", w->addr);
    char *admin = st_xasprintf("%s:4191", w->addr);
    char ctl[16];
    local_addr(w->c.number, 0, 2, ctl);
    char *ctl_addr = st_xasprintf("%s:8086", ctl);
    /* Services and splits come from the destination API; the routes file only names workload
       addresses, which the API does not resolve. */
    char *argv[] = {bin,           "--outbound",      out,         "--inbound",
                    in,            "--admin",         admin,       "--identity-mode",
                    "certify",     "--controller",    ctl_addr,    "--token-file",
                    token,         "--identity",      w->identity, "--trust-anchors",
                    w->c.anchor_cert, "--routes",     routes,      "--destination",
                    ctl_addr,      "--inbound-forward-host",       w->addr,
                    "--namespace", (char *)w->ns,     NULL};
    int rc = local_spawn(argv, NULL, w->proxy_log, false, false, &w->proxy, err);

    if (rc == 0) {
        json_object_set_new(w->state, "proxyPid", json_integer(w->proxy.pid));
        json_object_set_new(w->state, "proxyStart", json_integer((json_int_t)w->proxy.start));
        json_object_set_new(w->state, "proxyLog", json_string(w->proxy_log));
        rc = workload_save(w, err);
    }
    free(bin);
    free(token);
    free(routes);
    free(ctl_addr);
    free(out);
    free(in);
    free(admin);
    return rc;
}

static int
workload_start_app(struct workload *w, struct st_err *err)
{
    char *env[5] = {NULL};
    int n = 0, rc;

    env[n++] = st_xasprintf("STRAIT_POD_IP=%s", w->addr);
    if (w->n_ports > 0)
        env[n++] = st_xasprintf("PORT=%d", w->ports[0]);
    env[n++] = st_xasprintf("http_proxy=http://%s:4140", w->addr);
    env[n++] = st_xasprintf("HTTP_PROXY=http://%s:4140", w->addr);
    /* Detached apps log to a file and lead their own group; foreground ones keep the terminal. */
    rc = local_spawn(w->cmd, env, w->detach ? w->log : NULL, false, !w->detach, &w->app, err);
    if (rc == 0) {
        json_object_set_new(w->state, "appPid", json_integer(w->app.pid));
        json_object_set_new(w->state, "appStart", json_integer((json_int_t)w->app.start));
        rc = workload_save(w, err);
    }
    for (int i = 0; i < n; i++)
        free(env[i]);
    return rc;
}

/* Undoes everything: app, proxy, registration, state, routes, the token file. */
static void
workload_cleanup(struct workload *w)
{
    struct st_err err = {0};

    if (w->app.pid > 0)
        local_proc_stop(&w->app, LOCAL_STOP_TIMEOUT_MS);
    if (w->proxy.pid > 0)
        local_proc_stop(&w->proxy, LOCAL_STOP_TIMEOUT_MS);
    if (w->registered && st_kube_delete(w->k, w->ew_path, NULL, &err) < 0 &&
        err.code != ST_ENOTFOUND)
        fprintf(stderr, "strait: cannot delete ExternalWorkload %s/%s: %s\n", w->ns, w->name,
                err.msg);
    if (w->state_file != NULL && w->state != NULL) {
        int fd = local_lock(w->lock_file, LOCAL_LOCK_TIMEOUT_MS, NULL);
        unlink(w->state_file);
        if (!w->exec)
            local_routes_write(&w->c, NULL);
        local_unlock(fd);
    }
    if (w->id_dir != NULL)
        local_rm_rf(w->id_dir);
}

/* Turns a wait status into an exit code the way shells do. */
static int
workload_exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 1;
}

/*
 * The supervisor's loop: forwards signals to the app, keeps Ready in step
 * with the proxy, restarts a proxy that died, and returns the app's exit code.
 */
static int
workload_supervise(struct workload *w)
{
    char ready_url[64];
    sigset_t set;
    uint64_t kill_at = 0, next_check = 0;
    int status = 0;

    snprintf(ready_url, sizeof(ready_url), "http://%s:4191/ready", w->addr);
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    for (;;) {
        pid_t r = waitpid(w->app.pid, &status, WNOHANG);
        if (r == w->app.pid) {
            w->app.pid = 0;
            return workload_exit_code(status);
        }
        uint64_t now = st_now_ms();
        if (kill_at != 0 && now >= kill_at) {
            kill(w->detach ? -w->app.pid : w->app.pid, SIGKILL);
            kill_at = 0;
        }
        if (kill_at == 0 && !w->exec && now >= next_check) {
            next_check = now + 1000;
            if (!local_proc_alive(&w->proxy)) {
                struct st_err err = {0};
                waitpid(w->proxy.pid, NULL, WNOHANG);
                fprintf(stderr, "strait: the proxy of %s/%s exited; restarting it\n", w->ns,
                        w->name);
                if (workload_start_proxy(w, &err) < 0)
                    fprintf(stderr, "strait: %s\n", err.msg);
            }
            bool ready = local_http_status(ready_url, 1000) == 200;
            if (ready != w->ready)
                workload_set_ready(w, ready, NULL);
        }
        struct timespec ts = {0, 200 * 1000000L};
        siginfo_t si;
        int sig = sigtimedwait(&set, &si, &ts);
        if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
            /* The terminal already sent it to a foreground app, which shares our group. */
            bool from_tty = si.si_code == SI_KERNEL && !w->detach;
            if (!from_tty)
                kill(w->detach ? -w->app.pid : w->app.pid, sig == SIGHUP ? SIGTERM : sig);
            if (kill_at == 0)
                kill_at = st_now_ms() + LOCAL_STOP_TIMEOUT_MS;
            if (w->registered)
                workload_set_ready(w, false, NULL);
        }
    }
}

/* Sets up names and paths of <w> once the cluster is known. */
static void
workload_paths(struct workload *w)
{
    char *nsdir = local_path(w->c.dir, "workloads/%s", w->ns);

    w->id = w->exec ? st_xasprintf("_exec-%d", (int)getpid()) : st_xstrdup(w->name);
    w->state_file = local_path(nsdir, "%s.json", w->id);
    w->id_dir = local_path(nsdir, "%s", w->id);
    w->lock_file = local_path(w->c.dir, "workloads/lock");
    w->proxy_log = local_path(w->c.dir, "logs/%s-%s-proxy.log", w->ns, w->id);
    if (w->detach)
        w->log = local_path(w->c.dir, "logs/%s-%s.log", w->ns, w->id);
    w->identity = local_identity_name(w->ns, w->sa);
    if (!w->exec)
        w->ew_path =
            st_kube_path("workload.strait.io", "v1beta1", "externalworkloads", w->ns, w->name);
    st_mkdir_p(nsdir, 0700);
    free(nsdir);
}

/*
 * Brings the workload up (reserve, the ServiceAccount's token, registration,
 * proxy, app, Ready). Returns 0 or a negative code with <err>; the caller cleans up.
 */
static int
workload_up(struct workload *w, struct st_err *err)
{
    char ready_url[64];
    int rc;

    local_proc_of(getpid(), &w->self);
    w->started_ms = stat_record_wall_ms();
    if ((rc = workload_reserve(w, err)) < 0)
        return rc;
    if ((rc = local_workload_token(w->k, w->ns, w->sa, w->id_dir, err)) < 0)
        return local_err_wrap(err, rc, "cannot get a token for ServiceAccount %s/%s", w->ns,
                              w->sa);
    if (!w->exec && (rc = workload_register(w, err)) < 0)
        return local_err_wrap(err, rc, "cannot register the ExternalWorkload");
    if ((rc = workload_start_proxy(w, err)) < 0)
        return rc;
    snprintf(ready_url, sizeof(ready_url), "http://%s:4191/ready", w->addr);
    if ((rc = local_wait_http(ready_url, &w->proxy, LOCAL_READY_TIMEOUT_MS, err)) < 0)
        return local_err_wrap(err, rc, "the sidecar proxy is not ready (log: %s)", w->proxy_log);
    if ((rc = workload_start_app(w, err)) < 0)
        return rc;
    if (w->exec)
        return 0;
    rc = local_wait_tcp(w->addr, w->ports[0], &w->app, WORKLOAD_APP_TCP_WAIT_MS);
    if (rc == -ESRCH)
        return st_err_set(err, rc, "%s exited before it listened on %s:%d", w->cmd[0], w->addr,
                          w->ports[0]);
    if (rc < 0)
        fprintf(stderr, "strait: warning: %s does not listen on %s:%d yet\n", w->cmd[0], w->addr,
                w->ports[0]);
    workload_routes(w);
    if ((rc = workload_set_ready(w, true, err)) < 0)
        return local_err_wrap(err, rc, "cannot mark the workload ready");
    return 0;
}

/*
 * Reads every window the exec proxy's history can cut (GET /metrics/window,
 * newest record first, then each older one) into <rec>. Returns 0 or a
 * negative code with <err>.
 */
static int
workload_read_windows(const struct workload *w, struct stat_record *rec, struct st_err *err)
{
    struct st_buf body = ST_BUF_INIT(0);
    uint64_t ask = 1, prev_from = UINT64_MAX;
    int rc = 0;

    for (int k = 0; k < STAT_RECORD_MAX_WINDOWS; k++) {
        char url[96];
        long status = 0;
        uint64_t len = 0;
        struct st_metrics_snapshot *snap = NULL;

        snprintf(url, sizeof(url), "http://%s:4191/metrics/window?ms=%llu", w->addr,
                 (unsigned long long)ask);
        rc = stat_http_get(url, WORKLOAD_STATS_TIMEOUT_MS, WORKLOAD_STATS_BODY_MAX, &body,
                           &status, &len, err);
        uint64_t now = stat_record_wall_ms();
        if (rc < 0)
            break;
        if (status != 200 || len == 0) {
            rc = st_err_set(err, ST_EPROTO, "GET %s answered %ld without a window", url, status);
            break;
        }
        uint64_t from = now > len ? now - len : 0;
        /* Asked for something older and got the same start: that was the oldest record. */
        if (prev_from != UINT64_MAX && from + 1000 >= prev_from)
            break;
        rc = st_metrics_parse_text(st_buf_cstr(&body), body.len, NULL, &snap, err);
        if (rc < 0)
            break;
        snap->time_ms = len;
        /* A record the proxy took after the command ended holds nothing of it. */
        if (from < rec->end_ms && (rc = stat_record_add(rec, from, snap)) < 0)
            break;
        if (from >= rec->end_ms)
            st_metrics_snapshot_free(snap);
        prev_from = from;
        /* Records are a period apart: one second older than this one finds the next. */
        ask = now - from + 1000;
        if (ask > 86400000u)
            break;
    }
    st_buf_free(&body);
    if (rc == ST_ECONFLICT)
        rc = 0; /* a record seen twice: the enumeration is complete */
    return rc < 0 ? rc : 0;
}

/* The outbound responses a window of <rec> holds. */
static double
workload_outbound_responses(const struct stat_record *rec, size_t i)
{
    static const struct st_metrics_match out[] = {{"direction", "outbound"}};
    const struct st_metrics_fam *f = st_metrics_snapshot_find(rec->wins[i].snap, "response_total");

    return f != NULL ? st_metrics_fam_sum(f, out, ST_ARRAY_LEN(out)) : 0;
}

/*
 * A plain exec's command has ended and its proxy still runs: saves what the
 * proxy counted to clusters/NAME/stats/NS/<client>-<end>.json (0600, written
 * atomically) so that `strait stat ts` keeps counting the client for the
 * window asked (docs/stat.md). Old records of the namespace are pruned.
 * Best effort: a failure is one warning, the exit status stays the command's.
 */
static void
workload_save_stats(struct workload *w)
{
    struct stat_record rec = {0};
    struct st_buf out = ST_BUF_INIT(STAT_RECORD_MAX_BYTES);
    struct st_err err = {0};
    char *dir = local_path(w->c.dir, "stats/%s", w->ns), *path = NULL;
    int rc;

    rec.client = st_xstrdup(w->id);
    rec.ns = st_xstrdup(w->ns);
    rec.identity = st_xstrdup(w->identity);
    rec.end_ms = stat_record_wall_ms();
    rec.start_ms = ST_MIN(w->started_ms, rec.end_ms);
    rec.period_ms = WORKLOAD_HISTORY_PERIOD_MS;
    rc = workload_read_windows(w, &rec, &err);
    if (rc < 0)
        goto fail;
    /* The oldest window covers all the others: without responses there is nothing to keep. */
    if (rec.n_wins == 0 || workload_outbound_responses(&rec, 0) <= 0)
        goto out;
    rec.start_ms = ST_MIN(rec.start_ms, rec.wins[0].from_ms);
    rc = stat_record_encode(&rec, &out);
    if (rc < 0) {
        st_err_set(&err, rc, "%s", rc == ST_ETOOBIG ? "too many series" : st_strerror(rc));
        goto fail;
    }
    if ((size_t)rc < rec.n_wins)
        fprintf(stderr, "strait: warning: the statistics of %s keep %d of %zu windows (size cap)\n",
                w->id, rc, rec.n_wins);
    path = local_path(dir, "%s-%llu.json", w->id, (unsigned long long)rec.end_ms);
    if ((rc = st_mkdir_p(dir, 0700)) < 0 ||
        (rc = st_file_write_atomic(path, out.data, out.len, 0600)) < 0) {
        st_err_set(&err, rc, "%s: %s", path, st_strerror(rc));
        goto fail;
    }
    stat_record_prune(dir, rec.end_ms);
    goto out;

fail:
    fprintf(stderr, "strait: warning: cannot keep the statistics of %s for strait stat: %s\n",
            w->id, err.msg);
out:
    free(path);
    free(dir);
    st_buf_free(&out);
    stat_record_free(&rec);
}

/* Prints what runs where (stdout when detached, else stderr: stdout belongs to the app). */
static void
workload_report(const struct workload *w, FILE *f)
{
    fprintf(f, "workload %s/%s ready at %s (ports", w->ns, w->name, w->addr);
    for (size_t i = 0; i < w->n_ports; i++)
        fprintf(f, " %d", w->ports[i]);
    fprintf(f, ", proxy %s:4140/4143/4191)", w->addr);
    if (w->detach)
        fprintf(f, ", logs %s", w->log);
    fputc('\n', f);
    fflush(f);
}

/* Blocks the signals the supervisor waits for; children get them back in local_spawn. */
static void
workload_block_signals(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
}

/* Forks the detached supervisor; the parent waits for its first report. */
static int
workload_detach(struct workload *w, int *report_fd)
{
    int p[2];

    if (pipe2(p, O_CLOEXEC) < 0)
        return cli_fail("pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return cli_fail("fork: %s", strerror(errno));
    if (pid > 0) {
        /* The parent: relay the child's one-line report and exit with it. */
        char buf[1024];
        size_t n = 0;
        ssize_t r;
        close(p[1]);
        while (n < sizeof(buf) - 1 && (r = read(p[0], buf + n, sizeof(buf) - 1 - n)) != 0) {
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                break;
            n += (size_t)r;
        }
        buf[n] = '\0';
        close(p[0]);
        if (strncmp(buf, "ok ", 3) == 0) {
            fputs(buf + 3, stdout);
            return CLI_EXIT_OK;
        }
        return cli_fail("%s", n > 0 ? buf : "the workload's supervisor exited");
    }
    close(p[0]);
    setsid();
    int fd = open(w->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
    if (nul >= 0) {
        dup2(nul, STDIN_FILENO);
        close(nul);
    }
    *report_fd = p[1];
    return -1; /* the child goes on */
}

/*
 * exec --workload W: runs the command in the foreground with W's address and
 * outbound proxy, and returns its exit status.
 */
static int
workload_exec_via(struct workload *w)
{
    json_t *ws = NULL, *x, *found = NULL;
    struct st_err err = {0};
    size_t i;
    int rc, status = 0;

    local_workloads(&w->c, w->ns, true, &ws, NULL);
    json_array_foreach(ws, i, x)
    {
        if (strcmp(st_json_str(x, "kind") ?: "", "run") == 0 &&
            strcmp(st_json_str(x, "name") ?: "", w->via) == 0)
            found = x;
    }
    const char *addr = found != NULL ? st_json_str(found, "address") : NULL;
    if (addr == NULL) {
        json_decref(ws);
        return cli_fail("no workload %s/%s in cluster %s", w->ns, w->via, w->c.name);
    }
    char *env[] = {st_xasprintf("STRAIT_POD_IP=%s", addr),
                   st_xasprintf("http_proxy=http://%s:4140", addr),
                   st_xasprintf("HTTP_PROXY=http://%s:4140", addr), NULL};
    json_decref(ws);
    rc = local_spawn(w->cmd, env, NULL, false, true, &w->app, &err);
    for (size_t j = 0; env[j] != NULL; j++)
        free(env[j]);
    if (rc < 0)
        return cli_fail("%s", err.msg);
    while (waitpid(w->app.pid, &status, 0) < 0 && errno == EINTR)
        ;
    return workload_exit_code(status);
}

static int
workload_run_or_exec(const struct cli_global *g, int argc, char **argv, bool exec)
{
    const char *cmdname = exec ? "exec" : "run";
    struct workload w = {.exec = exec};
    struct st_err err = {0};
    int rc, report_fd = -1;

    if ((rc = workload_parse(&w, cmdname, argc, argv)) != 0) {
        workload_free(&w);
        return rc < 0 ? CLI_EXIT_OK : rc;
    }
    if (local_cluster_for_context(g->context, &w.c, &err) < 0) {
        workload_free(&w);
        return err.code == ST_EINVAL ? cli_usage_error(cmdname, "%s", err.msg)
                                     : cli_fail("%s", err.msg);
    }
    if ((w.k = local_kube_client(&w.c, 10000, &err)) == NULL) {
        workload_free(&w);
        return cli_fail("cluster %s: %s", w.c.name, err.msg);
    }
    if (exec && w.via != NULL) {
        rc = workload_exec_via(&w);
        workload_free(&w);
        return rc;
    }
    if (!exec) {
        /* A missing namespace is the user's to create, as with kubectl. */
        char *nsp = st_kube_path("", "v1", "namespaces", NULL, w.ns);
        json_t *nsobj = NULL;
        rc = st_kube_get(w.k, nsp, &nsobj, &err);
        json_decref(nsobj);
        free(nsp);
        if (rc < 0) {
            workload_free(&w);
            return rc == ST_ENOTFOUND ? cli_fail("namespace \"%s\" not found", w.ns)
                                      : cli_fail("cluster %s: %s", w.c.name, err.msg);
        }
    }
    workload_paths(&w);
    workload_block_signals();
    if (w.detach && (rc = workload_detach(&w, &report_fd)) >= 0) {
        workload_free(&w);
        return rc;
    }
    if (workload_up(&w, &err) < 0) {
        if (report_fd >= 0)
            (void)!write(report_fd, err.msg, strlen(err.msg));
        else
            cli_fail("%s", err.msg);
        workload_cleanup(&w);
        workload_free(&w);
        return CLI_EXIT_FAIL;
    }
    if (report_fd >= 0) {
        char *line = NULL;
        size_t n = 0;
        FILE *m = open_memstream(&line, &n);
        fputs("ok ", m);
        workload_report(&w, m);
        fclose(m);
        (void)!write(report_fd, line, n);
        free(line);
        close(report_fd);
        report_fd = -1;
    } else if (!exec) {
        workload_report(&w, stderr);
    }
    rc = workload_supervise(&w);
    if (exec)
        workload_save_stats(&w);
    workload_cleanup(&w);
    workload_free(&w);
    return rc;
}

static int
workload_run(const struct cli_global *g, int argc, char **argv)
{
    return workload_run_or_exec(g, argc, argv, false);
}

static int
workload_exec(const struct cli_global *g, int argc, char **argv)
{
    return workload_run_or_exec(g, argc, argv, true);
}

/* Parses -n NS / -A and, for stop, one name. */
static int
workload_parse_list(const char *cmd, int argc, char **argv, const char **ns, bool *all,
                    const char **name)
{
    static const struct option opts[] = {
        {"namespace", required_argument, NULL, 'n'},
        {"all-namespaces", no_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    *ns = "default";
    optind = 0;
    while ((c = getopt_long(argc, argv, ":n:Ah", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            *ns = optarg;
            break;
        case 'A':
            if (all == NULL)
                return cli_usage_error(cmd, "%s takes no -A", cmd);
            *all = true;
            break;
        case 'h':
            workload_usage(stdout);
            return -1;
        case ':':
            return cli_usage_error(cmd, "%s needs a value", argv[optind - 1]);
        default:
            return cli_usage_error(cmd, "unknown flag %s", argv[optind - 1]);
        }
    }
    if (!local_name_ok(*ns))
        return cli_usage_error(cmd, "\"%s\" is not a valid namespace", *ns);
    if (name == NULL) {
        if (optind < argc)
            return cli_usage_error(cmd, "%s takes no arguments", cmd);
        return 0;
    }
    if (argc - optind != 1)
        return cli_usage_error(cmd, "%s takes exactly one workload name", cmd);
    *name = argv[optind];
    if (!local_name_ok(*name))
        return cli_usage_error(cmd, "\"%s\" is not a valid workload name", *name);
    return 0;
}

static int
workload_list(const struct cli_global *g, int argc, char **argv)
{
    struct local_cluster c;
    struct st_err err = {0};
    const char *ns;
    bool all = false;
    json_t *ws = NULL, *x;
    size_t i;
    int rc;

    if ((rc = workload_parse_list("workloads", argc, argv, &ns, &all, NULL)) != 0)
        return rc < 0 ? CLI_EXIT_OK : rc;
    if (local_cluster_for_context(g->context, &c, &err) < 0)
        return err.code == ST_EINVAL ? cli_usage_error("workloads", "%s", err.msg)
                                     : cli_fail("%s", err.msg);
    local_workloads(&c, all ? NULL : ns, false, &ws, NULL);
    if (all)
        printf("%-16s ", "NAMESPACE");
    printf("%-24s %-16s %-16s %-6s %s\n", "NAME", "ADDRESS", "PORTS", "READY", "PID");
    json_array_foreach(ws, i, x)
    {
        const char *kind = st_json_str(x, "kind"), *addr = st_json_str(x, "address");
        json_t *ports = json_object_get(x, "ports"), *p;
        struct st_buf pb = ST_BUF_INIT(512);
        char url[64];
        size_t j;
        if (kind == NULL || strcmp(kind, "run") != 0 || addr == NULL)
            continue;
        json_array_foreach(ports, j, p)(void) !st_buf_appendf(&pb, "%s%lld", j ? "," : "",
                                                              (long long)json_integer_value(p));
        snprintf(url, sizeof(url), "http://%s:4191/ready", addr);
        bool ready = local_http_status(url, 1000) == 200;
        if (all)
            printf("%-16s ", st_json_str(x, "namespace"));
        printf("%-24s %-16s %-16s %-6s %lld\n", st_json_str(x, "name"), addr, st_buf_cstr(&pb),
               ready ? "true" : "false", (long long)st_json_int_or(x, "appPid", 0));
        st_buf_free(&pb);
    }
    json_decref(ws);
    local_cluster_free(&c);
    return CLI_EXIT_OK;
}

static int
workload_stop(const struct cli_global *g, int argc, char **argv)
{
    struct local_cluster c;
    struct st_err err = {0};
    const char *ns, *name = NULL;
    json_t *ws = NULL, *x, *found = NULL;
    size_t i;
    int rc;

    if ((rc = workload_parse_list("stop", argc, argv, &ns, NULL, &name)) != 0)
        return rc < 0 ? CLI_EXIT_OK : rc;
    if (local_cluster_for_context(g->context, &c, &err) < 0)
        return err.code == ST_EINVAL ? cli_usage_error("stop", "%s", err.msg)
                                     : cli_fail("%s", err.msg);
    local_workloads(&c, ns, true, &ws, NULL);
    json_array_foreach(ws, i, x)
    {
        if (strcmp(st_json_str(x, "kind") ?: "", "run") == 0 &&
            strcmp(st_json_str(x, "name") ?: "", name) == 0)
            found = x;
    }
    if (found == NULL) {
        rc = cli_fail("no workload %s/%s in cluster %s", ns, name, c.name);
    } else {
        struct local_proc sup = {(pid_t)st_json_int_or(found, "pid", 0),
                                 (uint64_t)st_json_int_or(found, "pidStart", 0)};
        /* The supervisor stops its app (up to its own timeout) and cleans up after it. */
        local_proc_stop(&sup, LOCAL_STOP_TIMEOUT_MS + 5000);
        json_decref(ws);
        local_workloads(&c, ns, true, &ws, NULL); /* prunes what a killed supervisor left */
        printf("stopped %s/%s\n", ns, name);
        rc = CLI_EXIT_OK;
    }
    json_decref(ws);
    local_cluster_free(&c);
    return rc;
}

const struct cli_command run_command = {
    "run",
    "Run a meshed workload in a local cluster",
    workload_run,
};
const struct cli_command exec_command = {
    "exec",
    "Run a one-off meshed client in a local cluster",
    workload_exec,
};
const struct cli_command workloads_command = {
    "workloads",
    "List the workloads of a local cluster",
    workload_list,
};
const struct cli_command stop_command = {
    "stop",
    "Stop a workload of a local cluster",
    workload_stop,
};
