/*
 * strait check: health of a cluster's control plane and proxies, as pass /
 * warn / fail lines and a non-zero exit when anything failed (docs/cli.md).
 *
 *   strait [--context NAME] check [--context NAME]
 *
 * A context naming a local cluster under $STRAIT_HOME is checked through
 * $STRAIT_HOME/kubeconfig, with its processes; any other context through
 * --kubeconfig / $KUBECONFIG, with the controller's Deployment.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/x509.h>

#include "cli.h"
#include "local.h"
#include "strait/json.h"
#include "strait/x509.h"

#define CHECK_WARN_DAYS 60

struct check {
    int failed, warned;
};

static void check_line(struct check *ck, int level, const char *fmt, ...) ST_PRINTF(3, 4);

/* <level>: 0 ok, 1 warning, 2 failure. */
static void
check_line(struct check *ck, int level, const char *fmt, ...)
{
    static const char *const tags[] = {"[ok]  ", "[warn]", "[FAIL]"};
    va_list ap;

    printf("%s ", tags[level]);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    if (level == 1)
        ck->warned++;
    else if (level == 2)
        ck->failed++;
}

static void
check_usage(FILE *f)
{
    fputs("Usage:\n  strait [--context NAME] check [--context NAME]\n\n"
          "Checks: the API answers, the CRDs are installed, the controller is ready, the\n"
          "identity issuer is valid and chains to the trust anchors (a warning under 60 days\n"
          "left), and the proxies of the cluster's workloads are ready. Exits 1 when a check\n"
          "fails.\n",
          f);
}

static void
check_crds(struct check *ck, struct st_kube_client *k)
{
    struct install_identity none = {"", "", ""};
    json_t *objs = NULL, *o;
    size_t i;
    int missing = 0, n = 0;

    if (install_objects(&none, false, &objs, NULL) < 0) {
        check_line(ck, 2, "cannot read the embedded CRDs");
        return;
    }
    json_array_foreach(objs, i, o)
    {
        if (strcmp(st_json_str(o, "kind") ?: "", "CustomResourceDefinition") != 0)
            continue;
        const char *name = st_json_str(o, "metadata.name");
        char *path =
            st_kube_path("apiextensions.k8s.io", "v1", "customresourcedefinitions", NULL, name);
        json_t *crd = NULL;
        struct st_err err = {0};
        n++;
        if (st_kube_get(k, path, &crd, &err) < 0) {
            check_line(ck, 2, "CRD %s: %s", name, err.msg);
            missing++;
        }
        json_decref(crd);
        free(path);
    }
    if (missing == 0)
        check_line(ck, 0, "the %d CRDs are installed", n);
    json_decref(objs);
}

/* Reads data key <key> of the object at <path>, base64-decoding it for Secrets. */
static char *
check_data(struct st_kube_client *k, const char *path, const char *key, bool b64,
           struct st_err *err)
{
    json_t *obj = NULL;
    const char *segs[] = {"data", key};
    char *out = NULL;

    if (st_kube_get(k, path, &obj, err) < 0)
        return NULL;
    const char *v = st_json_strv(obj, segs, 2);
    if (v == NULL) {
        st_err_set(err, ST_ENOTFOUND, "no data key %s", key);
    } else if (b64) {
        struct st_buf b = ST_BUF_INIT(ST_X509_PEM_MAX);
        if (st_base64_decode(v, strlen(v), &b) == 0)
            out = st_xstrdup(st_buf_cstr(&b));
        else
            st_err_set(err, ST_EPARSE, "%s is not base64", key);
        st_buf_free(&b);
    } else {
        out = st_xstrdup(v);
    }
    json_decref(obj);
    return out;
}

static void
check_issuer(struct check *ck, struct st_kube_client *k)
{
    char *spath = st_kube_path("", "v1", "secrets", LOCAL_NS, "strait-identity-issuer");
    char *cpath = st_kube_path("", "v1", "configmaps", LOCAL_NS, "strait-identity-trust-roots");
    struct st_err err = {0};
    STACK_OF(X509) *chain = NULL, *anchors = NULL, *rest = NULL;
    struct st_x509_info info = {0};
    char *crt = NULL, *roots = NULL;

    if ((crt = check_data(k, spath, "tls.crt", true, &err)) == NULL) {
        check_line(ck, 2, "issuer Secret %s/strait-identity-issuer: %s", LOCAL_NS, err.msg);
        goto out;
    }
    if ((roots = check_data(k, cpath, "ca-bundle.crt", false, &err)) == NULL) {
        check_line(ck, 2, "trust roots ConfigMap %s/strait-identity-trust-roots: %s", LOCAL_NS,
                   err.msg);
        goto out;
    }
    if (st_x509_bundle_from_pem(crt, 0, &chain, &err) < 0 ||
        st_x509_inspect(sk_X509_value(chain, 0), &info, &err) < 0) {
        check_line(ck, 2, "the issuer certificate does not parse: %s", err.msg);
        goto out;
    }
    if (st_x509_bundle_from_pem(roots, 0, &anchors, &err) < 0) {
        check_line(ck, 2, "the trust anchors do not parse: %s", err.msg);
        goto out;
    }
    rest = sk_X509_new_null();
    for (int i = 1; i < sk_X509_num(chain); i++)
        sk_X509_push(rest, sk_X509_value(chain, i));
    int64_t left = info.not_after - st_wall_s();
    if (!info.is_ca) {
        check_line(ck, 2, "the issuer %s is not a CA", info.subject);
    } else if (left <= 0) {
        check_line(ck, 2, "the issuer %s has expired", info.subject);
    } else if (st_x509_verify_chain(sk_X509_value(chain, 0), rest, anchors, 0, &err) < 0) {
        check_line(ck, 2, "the issuer does not chain to the trust anchors: %s", err.msg);
    } else if (left < (int64_t)CHECK_WARN_DAYS * 86400) {
        check_line(ck, 1, "the issuer is valid but expires in %lld days (rotate it)",
                   (long long)(left / 86400));
    } else {
        check_line(ck, 0, "the issuer is valid for %lld more days and chains to the anchors",
                   (long long)(left / 86400));
    }
out:
    sk_X509_free(rest);
    st_x509_chain_free(chain);
    st_x509_chain_free(anchors);
    st_x509_info_free(&info);
    free(crt);
    free(roots);
    free(spath);
    free(cpath);
}

/* A local cluster: its processes and admin ports. */
static void
check_local_controller(struct check *ck, const struct local_cluster *c)
{
    static const struct {
        const char *what;
        int host;
        int port;
    } parts[] = {{"controller", 2, 9990}, {"gateway", 3, 4191}};

    for (size_t i = 0; i < ST_ARRAY_LEN(parts); i++) {
        char *pidf = local_path(c->dir, "pids/%s.pid", parts[i].what);
        struct local_proc p;
        char addr[16], url[64];
        local_addr(c->number, 0, parts[i].host, addr);
        snprintf(url, sizeof(url), "http://%s:%d/ready", addr, parts[i].port);
        if (local_pidfile_read(pidf, &p) < 0 || !local_proc_alive(&p)) {
            check_line(ck, 2, "the %s is not running (strait cluster create %s restarts it)",
                       parts[i].what, c->name);
        } else {
            int st = local_http_status(url, 2000);
            if (st == 200)
                check_line(ck, 0, "the %s is ready (%s)", parts[i].what, url);
            else
                check_line(ck, 2, "the %s is not ready: %s answered %d", parts[i].what, url, st);
        }
        free(pidf);
    }
}

/* Kubernetes: the controller's Deployment. */
static void
check_remote_controller(struct check *ck, struct st_kube_client *k)
{
    char *path = st_kube_path("apps", "v1", "deployments", LOCAL_NS, "strait-controller");
    struct st_err err = {0};
    json_t *d = NULL;

    if (st_kube_get(k, path, &d, &err) < 0)
        check_line(ck, 2, "controller Deployment: %s", err.msg);
    else if (st_json_int_or(d, "status.readyReplicas", 0) < 1)
        check_line(ck, 2, "the controller Deployment has no ready replica");
    else
        check_line(ck, 0, "the controller Deployment has %lld ready replica(s)",
                   (long long)st_json_int_or(d, "status.readyReplicas", 0));
    json_decref(d);
    free(path);
}

static void
check_proxies(struct check *ck, struct st_kube_client *k)
{
    char *path = st_kube_path("workload.strait.io", "v1beta1", "externalworkloads", NULL, NULL);
    static const char *const ann[] = {"metadata", "annotations", "strait.io/proxy-admin"};
    struct st_err err = {0};
    json_t *list = NULL, *items, *w;
    int n = 0, bad = 0;
    size_t i;

    if (st_kube_list(k, path, NULL, &list, &err) < 0) {
        check_line(ck, 2, "cannot list ExternalWorkloads: %s", err.msg);
        goto out;
    }
    items = json_object_get(list, "items");
    json_array_foreach(items, i, w)
    {
        const char *admin = st_json_strv(w, ann, 3);
        char url[300];
        if (admin == NULL || strlen(admin) > 200)
            continue;
        n++;
        snprintf(url, sizeof(url), "http://%s/ready", admin);
        int st = local_http_status(url, 2000);
        if (st != 200) {
            bad++;
            check_line(ck, 2, "the proxy of %s/%s is not ready (%s: %s)",
                       st_json_str(w, "metadata.namespace"), st_json_str(w, "metadata.name"), url,
                       st > 0 ? "not 200" : "no answer");
        }
    }
    if (bad == 0)
        check_line(ck, 0, "the proxies of %d workload(s) are ready", n);
out:
    json_decref(list);
    free(path);
}

static int
check_run(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"context", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *context = g->context;
    struct local_cluster c = {0};
    struct st_kube_client *k = NULL;
    struct st_kube_config *cfg = NULL;
    struct st_err err = {0};
    struct check ck = {0};
    bool local = false;
    int ch;

    optind = 0;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            context = optarg;
            break;
        case 'h':
            check_usage(stdout);
            return CLI_EXIT_OK;
        case ':':
            return cli_usage_error("check", "%s needs a value", argv[optind - 1]);
        default:
            return cli_usage_error("check", "unknown flag %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("check", "check takes no arguments");

    if (g->kubeconfig == NULL) {
        int rc = local_cluster_for_context(context, &c, &err);
        if (rc == 0)
            local = true;
        else if (rc != ST_ENOTFOUND && rc != ST_EINVAL)
            return cli_fail("%s", err.msg);
        else if (rc == ST_ENOTFOUND && context != NULL && !local_name_ok(context))
            return cli_usage_error("check", "\"%s\" is not a valid context name", context);
    }
    if (local) {
        printf("cluster %s (local, number %d)\n", c.name, c.number);
        k = local_kube_client(&c, 5000, &err);
    } else {
        struct st_kube_load_opts lo = {.kubeconfig_path = g->kubeconfig, .context = context};
        if ((cfg = st_kube_config_load(&lo, &err)) != NULL) {
            printf("context %s\n", cfg->context);
            k = st_kube_client_new(cfg, &err);
        }
        if (k != NULL)
            st_kube_client_set_limits(k, 2000, 5000, 0);
    }
    json_t *ver = NULL;
    if (k == NULL || st_kube_get(k, "/version", &ver, &err) < 0) {
        check_line(&ck, 2, "the API does not answer: %s", err.msg);
        goto out;
    }
    check_line(&ck, 0, "the API answers (%s)", st_json_str(ver, "gitVersion") ?: "?");
    json_decref(ver);
    check_crds(&ck, k);
    if (local)
        check_local_controller(&ck, &c);
    else
        check_remote_controller(&ck, k);
    check_issuer(&ck, k);
    check_proxies(&ck, k);
out:
    st_kube_client_free(k);
    st_kube_config_free(cfg);
    local_cluster_free(&c);
    if (ck.failed > 0)
        return cli_fail("%d check(s) failed", ck.failed);
    printf("all checks passed%s\n", ck.warned > 0 ? " (with warnings)" : "");
    return CLI_EXIT_OK;
}

const struct cli_command check_command = {
    "check",
    "Check the health of a cluster's control plane and proxies",
    check_run,
};
