/*
 * strait cluster: local clusters without Kubernetes (docs/local-clusters.md,
 * docs/cli.md).
 *
 *   strait cluster create NAME [--trust-anchor CERT --trust-anchor-key KEY]
 *   strait cluster delete NAME
 *   strait cluster list
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"
#include "local.h"
#include "strait/json.h"
#include "strait/x509.h"

#define CLUSTER_ANCHOR_CN "root.strait.cluster.local"
#define CLUSTER_ISSUER_CN "identity.strait.cluster.local"
#define CLUSTER_ANCHOR_LIFETIME_S (10LL * 365 * 86400)
#define CLUSTER_ISSUER_LIFETIME_S (365LL * 86400)
#define CLUSTER_GATEWAY_SA "strait-gateway"
#define CLUSTER_TOKEN_SECRET "strait-controller-token"
#define CLUSTER_MACHINE_LOCK_MS 120000 /* another create on the machine takes seconds */

/* The processes of a cluster, in start order (stopped in reverse). */
static const char *const cluster_procs[] = {"apiserver", "controller", "gateway"};

static void
cluster_usage(FILE *f)
{
    fputs("Usage:\n"
          "  strait cluster create NAME [--trust-anchor CERT --trust-anchor-key KEY]\n"
          "  strait cluster delete NAME\n"
          "  strait cluster list\n\n"
          "create  starts a local cluster (apiserver, controller, gateway) on 127.N.0.0/16,\n"
          "        installs the control plane and adds context NAME to $STRAIT_HOME/kubeconfig;\n"
          "        on an existing cluster it restarts what is not running and keeps the data\n"
          "delete  stops every process of the cluster and removes its state and context\n"
          "list    prints NAME NUMBER API HEALTH for every local cluster\n\n"
          "$STRAIT_HOME defaults to ./.strait. Every local cluster shares the trust anchor in\n"
          "$STRAIT_HOME/trust unless --trust-anchor names other files.\n",
          f);
}

/* Makes the shared anchor under $STRAIT_HOME/trust on first use. */
static int
cluster_ensure_anchor(const char *cert, const char *key, struct st_err *err)
{
    X509 *a = NULL;
    EVP_PKEY *k = NULL;
    int rc;

    if (access(cert, F_OK) == 0 && access(key, F_OK) == 0)
        return 0;
    if ((rc = st_x509_ca_new(CLUSTER_ANCHOR_CN, CLUSTER_ANCHOR_LIFETIME_S, &a, &k, err)) < 0)
        return rc;
    rc = st_x509_key_write_file(key, k, false, err);
    if (rc == 0 && (rc = st_x509_write_pem_file(cert, a, NULL, 0644, err)) < 0)
        unlink(key);
    X509_free(a);
    EVP_PKEY_free(k);
    return rc;
}

/* Makes this cluster's issuer, signed by the anchor, unless it exists. */
static int
cluster_ensure_issuer(const struct local_cluster *c, struct st_err *err)
{
    char *crt = local_path(c->dir, "identity/issuer.crt");
    char *key = local_path(c->dir, "identity/issuer.key");
    STACK_OF(X509) *anchors = NULL;
    EVP_PKEY *akey = NULL, *ikey = NULL;
    X509 *issuer = NULL;
    int rc = 0;

    if (access(crt, F_OK) == 0 && access(key, F_OK) == 0)
        goto out;
    if (c->anchor_key == NULL) {
        rc = st_err_set(err, ST_EINVAL, "no issuer in %s and no anchor key to make one", c->dir);
        goto out;
    }
    if ((rc = st_x509_bundle_read_file(c->anchor_cert, &anchors, err)) < 0 ||
        (rc = st_x509_key_read_file(c->anchor_key, &akey, err)) < 0)
        goto out;
    if ((ikey = st_x509_key_new_p256()) == NULL) {
        rc = st_err_set(err, ST_ETLS, "cannot create a P-256 key");
        goto out;
    }
    struct st_x509_issue_req req = {
        .issuer_cert = sk_X509_value(anchors, 0),
        .issuer_key = akey,
        .subject_key = ikey,
        .cn = CLUSTER_ISSUER_CN,
        .lifetime_s = CLUSTER_ISSUER_LIFETIME_S,
        .backdate_s = 20,
        .is_ca = true,
        .pathlen = 0,
    };
    if ((rc = st_x509_issue(&req, &issuer, err)) < 0)
        goto out;
    if ((rc = st_x509_key_write_file(key, ikey, true, err)) < 0 ||
        (rc = st_x509_write_pem_file(crt, issuer, NULL, 0644, err)) < 0)
        goto out;
out:
    st_x509_chain_free(anchors);
    EVP_PKEY_free(akey);
    EVP_PKEY_free(ikey);
    X509_free(issuer);
    free(crt);
    free(key);
    return rc;
}

/* Picks the lowest number not used by a cluster of <home> nor by anyone on this machine. */
static int
cluster_pick_number(const char *home, struct st_err *err)
{
    json_t *names = NULL;
    bool used[LOCAL_NUMBER_MAX + 1] = {false};
    size_t i;
    json_t *n;

    local_cluster_names(home, &names, NULL);
    json_array_foreach(names, i, n)
    {
        struct local_cluster c;
        if (local_cluster_load(home, json_string_value(n), &c, NULL) == 0) {
            used[c.number] = true;
            local_cluster_free(&c);
        }
    }
    json_decref(names);
    for (int k = 1; k <= LOCAL_NUMBER_MAX; k++) {
        char api[16], ctl[16];
        local_addr(k, 0, 1, api);
        local_addr(k, 0, 2, ctl);
        if (!used[k] && local_port_free(api, 6443) && local_port_free(ctl, 8086))
            return k;
    }
    return st_err_set(err, -ENOSPC, "no free cluster number in 1..%d", LOCAL_NUMBER_MAX);
}

/* Returns the pid file path of a cluster process (new string). */
static char *
cluster_pidfile(const struct local_cluster *c, const char *what)
{
    return local_path(c->dir, "pids/%s.pid", what);
}

static bool
cluster_proc_alive(const struct local_cluster *c, const char *what, struct local_proc *p)
{
    char *f = cluster_pidfile(c, what);
    bool alive = local_pidfile_read(f, p) == 0 && local_proc_alive(p);

    free(f);
    return alive;
}

/* Waits until the cluster's API answers /version with its admin credentials. */
static int
cluster_wait_api(const struct local_cluster *c, const struct local_proc *p, uint64_t timeout_ms,
                 struct st_err *err)
{
    uint64_t deadline = st_now_ms() + timeout_ms;

    for (;;) {
        struct st_kube_client *k = local_kube_client(c, 2000, err);
        json_t *v = NULL;
        int rc = k != NULL ? st_kube_get(k, "/version", &v, err) : -1;
        json_decref(v);
        st_kube_client_free(k);
        if (rc == 0)
            return 0;
        if (p != NULL && !local_proc_alive(p))
            return st_err_set(err, -ESRCH, "strait-apiserver exited");
        if (st_now_ms() >= deadline)
            return local_err_wrap(err, ST_ETIMEOUT, "the API did not answer within %llu ms",
                                  (unsigned long long)timeout_ms);
        usleep(100 * 1000);
    }
}

/*
 * Starts process <what> of the cluster unless it runs, and waits until it is
 * ready (<ready_url>, or the API when NULL). Prints one line.
 */
static int
cluster_start(const struct local_cluster *c, const char *what, char *const argv[],
              const char *ready_url, struct st_err *err)
{
    struct local_proc p;
    char *pidf = cluster_pidfile(c, what);
    char *log = local_path(c->dir, "logs/%s.log", what);
    bool started = false;
    int rc = 0;

    if (!cluster_proc_alive(c, what, &p)) {
        if ((rc = local_spawn(argv, NULL, log, true, false, &p, err)) < 0 ||
            (rc = local_pidfile_write(pidf, &p, err)) < 0)
            goto out;
        started = true;
    }
    rc = ready_url != NULL ? local_wait_http(ready_url, &p, LOCAL_READY_TIMEOUT_MS, err)
                           : cluster_wait_api(c, &p, LOCAL_READY_TIMEOUT_MS, err);
    if (rc < 0) {
        local_err_wrap(err, rc, "%s is not ready (log: %s)", what, log);
        goto out;
    }
    printf("%s %s (pid %d)\n", started ? "started" : "running", what, (int)p.pid);
    fflush(stdout);
out:
    free(pidf);
    free(log);
    return rc;
}

/* Returns the collection path for creating <obj>, from its apiVersion and kind (new string). */
static char *
cluster_collection(const json_t *obj)
{
    static const struct {
        const char *kind, *resource;
        bool namespaced;
    } kinds[] = {
        {"Namespace", "namespaces", false},
        {"CustomResourceDefinition", "customresourcedefinitions", false},
        {"ServiceAccount", "serviceaccounts", true},
        {"Secret", "secrets", true},
        {"ConfigMap", "configmaps", true},
        {"Service", "services", true},
        {"ClusterRole", "clusterroles", false},
        {"ClusterRoleBinding", "clusterrolebindings", false},
        {"Role", "roles", true},
        {"RoleBinding", "rolebindings", true},
        {"Deployment", "deployments", true},
    };
    const char *av = st_json_str(obj, "apiVersion"), *kind = st_json_str(obj, "kind");
    const char *ns = st_json_str(obj, "metadata.namespace");

    if (av == NULL || kind == NULL)
        return NULL;
    for (size_t i = 0; i < ST_ARRAY_LEN(kinds); i++) {
        if (strcmp(kinds[i].kind, kind) != 0)
            continue;
        const char *slash = strchr(av, '/');
        char *group = slash != NULL ? st_xstrndup(av, (size_t)(slash - av)) : st_xstrdup("");
        char *path = st_kube_path(group, slash != NULL ? slash + 1 : av, kinds[i].resource,
                                  kinds[i].namespaced ? (ns ? ns : "default") : NULL, NULL);
        free(group);
        return path;
    }
    return NULL;
}

/* Creates every object that does not exist yet; existing ones are kept as they are. */
static int
cluster_apply(struct st_kube_client *k, const json_t *objs, int *created, struct st_err *err)
{
    size_t i;
    json_t *o;

    *created = 0;
    json_array_foreach(objs, i, o)
    {
        char *path = cluster_collection(o);
        if (path == NULL)
            return st_err_set(err, ST_EINVAL, "cannot apply a %s", st_json_str(o, "kind"));
        int rc = st_kube_create(k, path, o, NULL, err);
        free(path);
        if (rc == ST_ECONFLICT)
            continue;
        if (rc < 0)
            return local_err_wrap(err, rc, "cannot create %s %s", st_json_str(o, "kind"),
                                  st_json_str(o, "metadata.name"));
        (*created)++;
    }
    return 0;
}

/*
 * Gets the controller's token from its token Secret (made when missing; the
 * apiserver fills in the token) and writes controller/kubeconfig with it.
 */
static int
cluster_controller_kubeconfig(const struct local_cluster *c, struct st_kube_client *k,
                              struct st_err *err)
{
    char *file = local_path(c->dir, "controller/kubeconfig");
    char *kcpath = local_path(c->home, "kubeconfig");
    struct st_kube_load_opts lo = {.kubeconfig_path = kcpath, .context = c->name};
    struct st_kube_config *cfg = NULL;
    struct st_buf tok = ST_BUF_INIT(LOCAL_TOKEN_MAX), yaml = ST_BUF_INIT(0);
    json_t *kc = NULL;
    int rc = local_sa_token(k, LOCAL_NS, "strait-controller", CLUSTER_TOKEN_SECRET, &tok, err);

    if (rc < 0)
        goto out;
    if ((cfg = st_kube_config_load(&lo, err)) == NULL) {
        rc = err->code;
        goto out;
    }
    char *ca = st_base64_encode(cfg->ca_pem.data, cfg->ca_pem.len);
    kc = json_pack("{s:s, s:s, s:[{s:s, s:{s:s, s:s}}], s:[{s:s, s:{s:s%}}], "
                   "s:[{s:s, s:{s:s, s:s, s:s}}], s:s}",
                   "apiVersion", "v1", "kind", "Config", "clusters", "name", c->name, "cluster",
                   "server", cfg->server, "certificate-authority-data", ca, "users", "name",
                   "strait-controller", "user", "token", tok.data, tok.len, "contexts", "name",
                   c->name, "context", "cluster", c->name, "user", "strait-controller", "namespace",
                   LOCAL_NS, "current-context", c->name);
    free(ca);
    if ((rc = st_yaml_dump(kc, &yaml)) < 0 ||
        (rc = st_file_write_atomic(file, yaml.data, yaml.len, 0600)) < 0) {
        st_err_set(err, rc, "cannot write %s: %s", file, st_strerror(rc));
        goto out;
    }
out:
    json_decref(kc);
    st_kube_config_free(cfg);
    st_buf_free_secret(&tok);
    st_buf_free_secret(&yaml);
    free(file);
    free(kcpath);
    return rc;
}

/* Creates the directories of a cluster. */
static int
cluster_mkdirs(const struct local_cluster *c, struct st_err *err)
{
    static const char *const dirs[] = {"apiserver", "identity",  "controller", "pids",
                                       "logs",      "workloads", "gateway"};
    for (size_t i = 0; i < ST_ARRAY_LEN(dirs); i++) {
        char *d = local_path(c->dir, "%s", dirs[i]);
        int rc = st_mkdir_p(d, 0700);
        if (rc < 0) {
            st_err_set(err, rc, "cannot create %s: %s", d, st_strerror(rc));
            free(d);
            return rc;
        }
        free(d);
    }
    return 0;
}

/* Loads cluster NAME, or registers it with a new number (under the home lock). */
static int
cluster_register(const char *home, const char *name, const char *anchor, const char *anchor_key,
                 struct local_cluster *c, bool *existed, struct st_err *err)
{
    char *lockp = local_path(home, "lock");
    int fd, rc;

    if ((fd = local_lock(lockp, LOCAL_LOCK_TIMEOUT_MS, err)) < 0) {
        free(lockp);
        return fd;
    }
    rc = local_cluster_load(home, name, c, err);
    *existed = rc == 0;
    if (rc == 0) {
        if (anchor != NULL && strcmp(anchor, c->anchor_cert) != 0)
            rc = st_err_set(err, ST_EINVAL, "cluster %s exists with trust anchor %s", name,
                            c->anchor_cert);
        goto out;
    }
    if (rc != ST_ENOTFOUND)
        goto out;
    int number = cluster_pick_number(home, err);
    if (number < 0) {
        rc = number;
        goto out;
    }
    char created[21];
    st_rfc3339(st_wall_s(), created);
    c->name = st_xstrdup(name);
    c->number = number;
    c->home = st_xstrdup(home);
    c->dir = local_path(home, "clusters/%s", name);
    c->anchor_cert = anchor != NULL ? st_xstrdup(anchor) : local_path(home, "trust/anchor.crt");
    c->anchor_key = anchor != NULL ? st_xstrdup(anchor_key) : local_path(home, "trust/anchor.key");
    c->created = st_xstrdup(created);
    if ((rc = st_mkdir_p(c->dir, 0700)) < 0) {
        st_err_set(err, rc, "cannot create %s: %s", c->dir, st_strerror(rc));
        goto out;
    }
    rc = local_cluster_save(c, err);
out:
    local_unlock(fd);
    free(lockp);
    return rc;
}

static int
cluster_create(int argc, char **argv)
{
    static const struct option opts[] = {
        {"trust-anchor", required_argument, NULL, 'a'},
        {"trust-anchor-key", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *anchor = NULL, *anchor_key = NULL;
    struct local_cluster c = {0};
    struct install_identity id = {0};
    struct st_kube_client *k = NULL;
    struct st_err err = {0};
    json_t *objs = NULL;
    char *home = NULL, *lockp = NULL, *anchor_abs = NULL, *key_abs = NULL;
    bool existed = false;
    int fd = -1, mfd = -1, ch, rc;

    optind = 0;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case 'a':
            anchor = optarg;
            break;
        case 'k':
            anchor_key = optarg;
            break;
        case 'h':
            cluster_usage(stdout);
            return CLI_EXIT_OK;
        case ':':
            return cli_usage_error("cluster", "%s needs a value", argv[optind - 1]);
        default:
            return cli_usage_error("cluster", "unknown flag %s", argv[optind - 1]);
        }
    }
    if (argc - optind != 1)
        return cli_usage_error("cluster", "cluster create takes exactly one NAME");
    const char *name = argv[optind];
    if (!local_name_ok(name))
        return cli_usage_error("cluster",
                               "\"%s\" is not a valid cluster name (a DNS-1123 label: "
                               "lower-case letters, digits and '-')",
                               name);
    if ((anchor == NULL) != (anchor_key == NULL))
        return cli_usage_error("cluster", "--trust-anchor and --trust-anchor-key go together");
    if (anchor != NULL) {
        anchor_abs = realpath(anchor, NULL);
        key_abs = realpath(anchor_key, NULL);
        if (anchor_abs == NULL || key_abs == NULL)
            return cli_fail("cannot read %s: %s", anchor_abs == NULL ? anchor : anchor_key,
                            strerror(errno));
    }

    home = local_home();
    if ((rc = st_mkdir_p(home, 0700)) < 0) {
        rc = cli_fail("cannot create %s: %s", home, st_strerror(rc));
        goto out;
    }
    /* Numbers are the machine's: one create at a time picks one and binds its addresses. */
    if ((mfd = local_machine_lock(CLUSTER_MACHINE_LOCK_MS, &err)) < 0) {
        rc = cli_fail("%s", err.msg);
        goto out;
    }
    if (cluster_register(home, name, anchor_abs, key_abs, &c, &existed, &err) < 0) {
        rc = cli_fail("%s", err.msg);
        goto out;
    }
    lockp = local_path(c.dir, "lock");
    if ((fd = local_lock(lockp, LOCAL_LOCK_TIMEOUT_MS, &err)) < 0) {
        rc = cli_fail("%s", err.msg);
        goto out;
    }
    printf("%s cluster %s (number %d, 127.%d.0.0/16)\n", existed ? "restarting" : "creating", name,
           c.number, c.number);
    fflush(stdout);
    char *trust = local_path(home, "trust");
    rc = st_mkdir_p(trust, 0700);
    free(trust);
    if (rc < 0 || cluster_mkdirs(&c, &err) < 0) {
        rc = cli_fail("cannot create the directories of %s: %s", name, err.msg);
        goto out;
    }
    if (anchor == NULL && cluster_ensure_anchor(c.anchor_cert, c.anchor_key, &err) < 0) {
        rc = cli_fail("cannot create the trust anchor: %s", err.msg);
        goto out;
    }
    if (cluster_ensure_issuer(&c, &err) < 0) {
        rc = cli_fail("cannot create the issuer: %s", err.msg);
        goto out;
    }
    char *routes = local_path(c.dir, "routes.json");
    if (access(routes, F_OK) < 0)
        local_routes_write(&c, NULL);

    /* The apiserver. */
    char api[16], ctl[16], gw[16];
    local_addr(c.number, 0, 1, api);
    local_addr(c.number, 0, 2, ctl);
    local_addr(c.number, 0, 3, gw);
    char *bin_api = local_bin("strait-apiserver"), *bin_ctl = local_bin("strait-controller");
    char *bin_proxy = local_bin("strait-proxy");
    char *data = local_path(c.dir, "apiserver"), *kcfg = local_path(home, "kubeconfig");
    char *listen_api = st_xasprintf("%s:6443", api);
    char *cidr = st_xasprintf("127.%d.128.0/17", c.number);
    char *api_argv[] = {bin_api,      "--data-dir",         data, "--listen",
                        listen_api,   "--write-kubeconfig", kcfg, "--context",
                        (char *)name, "--service-cidr",     cidr, NULL};
    rc = cluster_start(&c, "apiserver", api_argv, NULL, &err);
    free(listen_api);
    free(cidr);
    free(data);
    if (rc < 0) {
        rc = cli_fail("%s", err.msg);
        goto out_bins;
    }

    /* The control plane objects, the same ones `strait install` prints. */
    char *icrt = local_path(c.dir, "identity/issuer.crt");
    char *ikey = local_path(c.dir, "identity/issuer.key");
    int created = 0;
    rc = install_identity_load(c.anchor_cert, icrt, ikey, &id, &err);
    free(icrt);
    free(ikey);
    if (rc < 0 || install_objects(&id, false, &objs, &err) < 0 ||
        (k = local_kube_client(&c, 10000, &err)) == NULL ||
        cluster_apply(k, objs, &created, &err) < 0 ||
        cluster_controller_kubeconfig(&c, k, &err) < 0) {
        rc = cli_fail("cannot install the control plane: %s", err.msg);
        goto out_bins;
    }
    printf("applied the control plane (%d new objects)\n", created);

    /* The controller. */
    char *ctl_kc = local_path(c.dir, "controller/kubeconfig");
    char *listen_ctl = st_xasprintf("%s:8086", ctl), *admin_ctl = st_xasprintf("%s:9990", ctl);
    char *ready_ctl = st_xasprintf("http://%s:9990/ready", ctl);
    char *ctl_argv[] = {
        bin_ctl,    "--kubeconfig", ctl_kc,    "--namespace",    LOCAL_NS,           "--listen",
        listen_ctl, "--admin",      admin_ctl, "--trust-domain", LOCAL_TRUST_DOMAIN, NULL};
    rc = cluster_start(&c, "controller", ctl_argv, ready_ctl, &err);
    free(ctl_kc);
    free(listen_ctl);
    free(admin_ctl);
    free(ready_ctl);
    if (rc < 0) {
        rc = cli_fail("%s", err.msg);
        goto out_bins;
    }

    /*
     * The gateway certifies with the controller like a workload's proxy, as
     * ServiceAccount strait-gateway (from the manifests), with its token.
     */
    struct local_proc gp;
    char *gwdir = local_path(c.dir, "gateway");
    if (!cluster_proc_alive(&c, "gateway", &gp) &&
        local_workload_token(k, LOCAL_NS, CLUSTER_GATEWAY_SA, gwdir, &err) < 0) {
        free(gwdir);
        rc = cli_fail("cannot get the gateway's token: %s", err.msg);
        goto out_bins;
    }
    char *gw_token = local_path(gwdir, "token");
    char *gw_identity = local_identity_name(LOCAL_NS, CLUSTER_GATEWAY_SA);
    char *gw_in = st_xasprintf("%s:4143", gw), *gw_out = st_xasprintf("%s:4140", gw);
    char *gw_admin = st_xasprintf("%s:4191", gw);
    char *ready_gw = st_xasprintf("http://%s:4191/ready", gw);
    char *gw_ctl = st_xasprintf("%s:8086", ctl);
    char *gw_argv[] = {bin_proxy,     "--mode",          "gateway",     "--inbound",
                       gw_in,         "--outbound",      gw_out,        "--admin",
                       gw_admin,      "--identity-mode", "certify",     "--controller",
                       gw_ctl,        "--token-file",    gw_token,      "--identity",
                       gw_identity,   "--trust-anchors", c.anchor_cert, "--routes",
                       routes,        "--destination",   gw_ctl,        "--namespace",
                       LOCAL_NS,      NULL};
    rc = cluster_start(&c, "gateway", gw_argv, ready_gw, &err);
    free(gwdir);
    free(gw_token);
    free(gw_identity);
    free(gw_in);
    free(gw_out);
    free(gw_admin);
    free(ready_gw);
    free(gw_ctl);
    if (rc < 0) {
        rc = cli_fail("%s", err.msg);
        goto out_bins;
    }
    printf("cluster %s is ready: api https://%s:6443, context %s\n", name, api, name);
    printf("export KUBECONFIG=%s\n", kcfg);
    rc = CLI_EXIT_OK;
out_bins:
    free(bin_api);
    free(bin_ctl);
    free(bin_proxy);
    free(kcfg);
    free(routes);
out:
    local_unlock(fd);
    local_unlock(mfd);
    st_kube_client_free(k);
    json_decref(objs);
    install_identity_free(&id);
    local_cluster_free(&c);
    free(home);
    free(lockp);
    free(anchor_abs);
    free(key_abs);
    return rc;
}

/* Removes cluster, user and context <name> from $STRAIT_HOME/kubeconfig, under its lock. */
static int
cluster_kubeconfig_remove(const char *home, const char *name, struct st_err *err)
{
    char *path = local_path(home, "kubeconfig"), *lockp = st_xasprintf("%s.lock", path);
    char *user = st_xasprintf("%s-admin", name);
    struct st_buf in = ST_BUF_INIT(8u << 20), out = ST_BUF_INIT(0);
    static const char *const lists[] = {"clusters", "users", "contexts"};
    json_t *kc = NULL;
    int fd = -1, rc;

    if ((fd = local_lock(lockp, LOCAL_LOCK_TIMEOUT_MS, err)) < 0) {
        rc = fd;
        goto out;
    }
    if ((rc = st_file_read(path, &in)) < 0) {
        rc = rc == -ENOENT ? 0 : st_err_set(err, rc, "cannot read %s", path);
        goto out;
    }
    if ((kc = st_yaml_load(st_buf_cstr(&in), in.len, NULL, err)) == NULL || !json_is_object(kc)) {
        rc = st_err_set(err, ST_EPARSE, "%s is not a kubeconfig", path);
        goto out;
    }
    for (size_t l = 0; l < ST_ARRAY_LEN(lists); l++) {
        json_t *arr = json_object_get(kc, lists[l]);
        const char *drop = l == 1 ? user : name;
        for (size_t i = json_array_size(arr); i-- > 0;)
            if (strcmp(st_json_str(json_array_get(arr, i), "name") ?: "", drop) == 0)
                json_array_remove(arr, i);
    }
    if (strcmp(st_json_str(kc, "current-context") ?: "", name) == 0)
        json_object_set_new(kc, "current-context", json_string(""));
    if ((rc = st_yaml_dump(kc, &out)) < 0 ||
        (rc = st_file_write_atomic(path, out.data, out.len, 0600)) < 0)
        st_err_set(err, rc, "cannot write %s: %s", path, st_strerror(rc));
out:
    local_unlock(fd);
    json_decref(kc);
    st_buf_free_secret(&in);
    st_buf_free_secret(&out);
    free(path);
    free(lockp);
    free(user);
    return rc;
}

/* Stops every workload of <c> and what they left behind. Returns how many ran. */
static int
cluster_stop_workloads(const struct local_cluster *c)
{
    json_t *ws = NULL, *w;
    size_t i;
    int n = 0;

    local_workloads(c, NULL, true, &ws, NULL);
    json_array_foreach(ws, i, w)
    {
        struct local_proc sup = {(pid_t)st_json_int_or(w, "pid", 0),
                                 (uint64_t)st_json_int_or(w, "pidStart", 0)};
        n += local_proc_stop(&sup, LOCAL_STOP_TIMEOUT_MS + 5000);
    }
    json_decref(ws);
    /* Now every supervisor is gone: this prunes the app and proxy of any that crashed. */
    local_workloads(c, NULL, true, &ws, NULL);
    json_decref(ws);
    return n;
}

static int
cluster_delete(int argc, char **argv)
{
    struct local_cluster c = {0};
    struct st_err err = {0};
    char *home = NULL, *lockp = NULL;
    int fd = -1, rc;

    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        cluster_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (argc != 2 || argv[1][0] == '-')
        return cli_usage_error("cluster", "cluster delete takes exactly one NAME");
    if (!local_name_ok(argv[1]))
        return cli_usage_error("cluster", "\"%s\" is not a valid cluster name", argv[1]);
    home = local_home();
    if (local_cluster_load(home, argv[1], &c, &err) < 0) {
        rc = err.code == ST_ENOTFOUND ? cli_fail("unknown cluster \"%s\"", argv[1])
                                      : cli_fail("%s", err.msg);
        goto out;
    }
    lockp = local_path(c.dir, "lock");
    if ((fd = local_lock(lockp, LOCAL_LOCK_TIMEOUT_MS, &err)) < 0) {
        rc = cli_fail("%s", err.msg);
        goto out;
    }
    int nw = cluster_stop_workloads(&c);
    if (nw > 0)
        printf("stopped %d workload(s)\n", nw);
    for (size_t i = ST_ARRAY_LEN(cluster_procs); i-- > 0;) {
        struct local_proc p;
        char *f = cluster_pidfile(&c, cluster_procs[i]);
        if (local_pidfile_read(f, &p) == 0 && local_proc_stop(&p, LOCAL_STOP_TIMEOUT_MS) > 0)
            printf("stopped %s (pid %d)\n", cluster_procs[i], (int)p.pid);
        free(f);
    }
    if (cluster_kubeconfig_remove(home, c.name, &err) < 0) {
        rc = cli_fail("cannot remove context %s: %s", c.name, err.msg);
        goto out;
    }
    local_unlock(fd);
    fd = -1;
    if ((rc = local_rm_rf(c.dir)) < 0) {
        rc = cli_fail("cannot remove %s: %s", c.dir, st_strerror(rc));
        goto out;
    }
    printf("cluster %s deleted\n", c.name);
    rc = CLI_EXIT_OK;
out:
    local_unlock(fd);
    local_cluster_free(&c);
    free(home);
    free(lockp);
    return rc;
}

static int
cluster_list(int argc, char **argv)
{
    json_t *names = NULL, *n;
    struct st_err err = {0};
    char *home;
    size_t i;

    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        cluster_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (argc != 1)
        return cli_usage_error("cluster", "cluster list takes no arguments");
    home = local_home();
    if (local_cluster_names(home, &names, &err) < 0) {
        json_decref(names);
        free(home);
        return cli_fail("%s", err.msg);
    }
    printf("%-20s %-6s %-26s %s\n", "NAME", "NUMBER", "API", "HEALTH");
    json_array_foreach(names, i, n)
    {
        struct local_cluster c;
        struct st_buf down = ST_BUF_INIT(256);
        if (local_cluster_load(home, json_string_value(n), &c, &err) < 0)
            continue;
        for (size_t j = 0; j < ST_ARRAY_LEN(cluster_procs); j++) {
            struct local_proc p;
            if (!cluster_proc_alive(&c, cluster_procs[j], &p))
                (void)!st_buf_appendf(&down, "%s%s", down.len ? "," : "", cluster_procs[j]);
        }
        struct st_kube_client *k = local_kube_client(&c, 2000, &err);
        json_t *v = NULL;
        if (k == NULL || st_kube_get(k, "/version", &v, &err) < 0)
            (void)!st_buf_appendf(&down, "%sapi", down.len ? "," : "");
        json_decref(v);
        st_kube_client_free(k);
        char api[40];
        snprintf(api, sizeof(api), "https://127.%d.0.1:6443", c.number);
        if (down.len == 0)
            printf("%-20s %-6d %-26s healthy\n", c.name, c.number, api);
        else
            printf("%-20s %-6d %-26s unhealthy(down:%s)\n", c.name, c.number, api,
                   st_buf_cstr(&down));
        st_buf_free(&down);
        local_cluster_free(&c);
    }
    json_decref(names);
    free(home);
    return CLI_EXIT_OK;
}

static int
cluster_run(const struct cli_global *g, int argc, char **argv)
{
    if (argc < 2) {
        cluster_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        cluster_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "create") == 0)
        return cluster_create(argc - 1, argv + 1);
    if (strcmp(argv[1], "delete") == 0)
        return cluster_delete(argc - 1, argv + 1);
    if (strcmp(argv[1], "list") == 0)
        return cluster_list(argc - 1, argv + 1);
    return cli_usage_error("cluster", "unknown cluster command \"%s\"", argv[1]);
}

const struct cli_command cluster_command = {
    "cluster",
    "Create, delete and list local clusters",
    cluster_run,
};
