/*
 * strait-controller: the control plane (DESIGN §1). One st_ev loop runs the
 * HTTPS API (--listen, 8086), the admin port (--admin, 9990) and every
 * service; each service lives in its own file with an init function
 * (identity.c now). See docs/identity-api.md for the identity API.
 *
 *   strait-controller [--kubeconfig FILE] [--context NAME] [--namespace NS]
 *                     [--listen ADDR:PORT] [--admin ADDR:PORT]
 *                     [--trust-domain DOMAIN] [--service-account NAME] [--log-level LEVEL]
 *
 * Without --kubeconfig it uses in-cluster credentials when
 * $KUBERNETES_SERVICE_HOST is set, else $KUBECONFIG or ~/.kube/config.
 * Once both ports accept, it prints one line on stdout:
 * "strait-controller ready api=https://ADDR admin=http://ADDR".
 * SIGTERM or SIGINT: stop accepting, let requests in flight finish (at most
 * 5 s), exit 0.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "controller.h"

#define MAIN_DRAIN_MS 5000

struct main_opts {
    const char *kubeconfig;
    const char *context;
    const char *namespace;
    const char *listen;
    const char *admin;
    const char *trust_domain;
    const char *service_account;
    int64_t workload_cert_lifetime_s;
    enum st_log_level log_level;
};

struct main_state {
    struct controller ctl;
    struct st_ev_timer drain;
    uint64_t drain_deadline;
};

static void
main_usage(FILE *f)
{
    fputs("usage: strait-controller [--kubeconfig FILE] [--context NAME] [--namespace NS]\n"
          "                         [--listen ADDR:PORT] [--admin ADDR:PORT]\n"
          "                         [--trust-domain DOMAIN] [--service-account NAME]\n"
          "                         [--workload-cert-lifetime DURATION]\n"
          "                         [--log-level debug|info|warn|error]\n"
          "defaults: --namespace strait --listen 0.0.0.0:8086 --admin 127.0.0.1:9990\n"
          "          --trust-domain cluster.local --service-account strait-controller\n"
          "          --workload-cert-lifetime 24h (a number with s, m or h, 10s to 8760h)\n",
          f);
}

/* Parses "<n>s", "<n>m" or "<n>h" between 10 s and a year into seconds. */
static int
main_lifetime(const char *s, int64_t *out)
{
    size_t n = strlen(s);
    uint64_t v, unit;

    if (n < 2)
        return ST_EINVAL;
    unit = s[n - 1] == 's' ? 1 : s[n - 1] == 'm' ? 60 : s[n - 1] == 'h' ? 3600 : 0;
    if (unit == 0 || st_parse_u64((struct st_str){s, n - 1}, 8760 * 3600, &v) < 0 ||
        v * unit < 10 || v * unit > 8760 * 3600)
        return ST_EINVAL;
    *out = (int64_t)(v * unit);
    return 0;
}

static int
main_parse(int argc, char **argv, struct main_opts *o)
{
    static const struct option opts[] = {
        {"kubeconfig", required_argument, NULL, 'k'},
        {"context", required_argument, NULL, 'c'},
        {"namespace", required_argument, NULL, 'n'},
        {"listen", required_argument, NULL, 'l'},
        {"admin", required_argument, NULL, 'a'},
        {"trust-domain", required_argument, NULL, 't'},
        {"service-account", required_argument, NULL, 's'},
        {"log-level", required_argument, NULL, 'L'},
        {"workload-cert-lifetime", required_argument, NULL, 'W'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    o->namespace = "strait";
    o->listen = "0.0.0.0:8086";
    o->admin = "127.0.0.1:9990";
    o->trust_domain = "cluster.local";
    o->service_account = "strait-controller";
    o->log_level = ST_LOG_INFO;
    while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            o->kubeconfig = optarg;
            break;
        case 'c':
            o->context = optarg;
            break;
        case 'n':
            o->namespace = optarg;
            break;
        case 'l':
            o->listen = optarg;
            break;
        case 'a':
            o->admin = optarg;
            break;
        case 't':
            o->trust_domain = optarg;
            break;
        case 's':
            o->service_account = optarg;
            break;
        case 'W':
            if (main_lifetime(optarg, &o->workload_cert_lifetime_s) < 0) {
                fprintf(stderr, "strait-controller: bad --workload-cert-lifetime \"%s\"\n", optarg);
                return -1;
            }
            break;
        case 'L':
            if (strcmp(optarg, "debug") == 0)
                o->log_level = ST_LOG_DEBUG;
            else if (strcmp(optarg, "info") == 0)
                o->log_level = ST_LOG_INFO;
            else if (strcmp(optarg, "warn") == 0)
                o->log_level = ST_LOG_WARN;
            else if (strcmp(optarg, "error") == 0)
                o->log_level = ST_LOG_ERROR;
            else {
                fprintf(stderr, "strait-controller: unknown log level \"%s\"\n", optarg);
                return -1;
            }
            break;
        case 'h':
            main_usage(stdout);
            exit(0);
        default:
            main_usage(stderr);
            return -1;
        }
    }
    if (optind != argc) {
        main_usage(stderr);
        return -1;
    }
    if (!st_dns1123_label(o->namespace) || !st_dns1123_subdomain(o->trust_domain) ||
        !st_dns1123_subdomain(o->service_account)) {
        fprintf(stderr, "strait-controller: --namespace, --trust-domain and --service-account "
                        "must be DNS-1123 names\n");
        return -1;
    }
    return 0;
}

/* Stops the loop once every connection is gone or the grace period is over. */
static void
main_on_drain(struct st_ev *loop, struct st_ev_timer *t)
{
    struct main_state *s = t->data;

    if ((api_conn_count(s->ctl.api) == 0 && admin_conn_count(s->ctl.admin) == 0) ||
        st_now_ms() >= s->drain_deadline)
        st_ev_stop(loop);
    else
        st_ev_timer_start(loop, t, 50);
}

static void
main_on_signal(struct st_ev *loop, int signo, void *data)
{
    struct main_state *s = data;

    if (s->ctl.stopping)
        return;
    s->ctl.stopping = true;
    st_log(ST_LOG_INFO, "signal %d: draining", signo);
    api_shutdown(s->ctl.api);
    admin_shutdown(s->ctl.admin);
    s->drain_deadline = st_now_ms() + MAIN_DRAIN_MS;
    st_ev_timer_start(loop, &s->drain, 0);
}

static struct st_kube_config *
main_kube_config(const struct main_opts *o, struct st_err *err)
{
    struct st_kube_load_opts lo = {.kubeconfig_path = o->kubeconfig, .context = o->context};

    if (o->kubeconfig == NULL && getenv("KUBERNETES_SERVICE_HOST") != NULL)
        lo.in_cluster = true;
    return st_kube_config_load(&lo, err);
}

int
main(int argc, char **argv)
{
    struct main_opts o = {0};
    struct main_state s = {0};
    struct controller *c = &s.ctl;
    struct identity *identity = NULL;
    struct destination *destination = NULL;
    struct lease *lease = NULL;
    struct endpoints *endpoints = NULL;
    struct st_err err = {0};
    char api_addr_s[ST_SOCK_ADDR_STRLEN], admin_addr_s[ST_SOCK_ADDR_STRLEN];
    int rc = 1;

    signal(SIGPIPE, SIG_IGN);
    if (main_parse(argc, argv, &o) < 0)
        return 2;
    st_log_init("strait-controller", o.log_level);
    c->namespace = o.namespace;
    c->trust_domain = o.trust_domain;
    c->service_account = o.service_account;
    c->workload_cert_lifetime_s = o.workload_cert_lifetime_s;

    c->kube_cfg = main_kube_config(&o, &err);
    if (c->kube_cfg == NULL) {
        st_log(ST_LOG_ERROR, "kubernetes credentials: %s", err.msg);
        goto out;
    }
    c->loop = st_ev_new(&err);
    if (c->loop == NULL) {
        st_log(ST_LOG_ERROR, "loop: %s", err.msg);
        goto out;
    }
    /* Signals first, so that every thread started later inherits them blocked. */
    st_ev_timer_init(&s.drain, main_on_drain, &s);
    st_ev_signal_add(c->loop, SIGTERM, main_on_signal, &s);
    st_ev_signal_add(c->loop, SIGINT, main_on_signal, &s);
    c->kube = st_kube_client_new(c->kube_cfg, &err);
    if (c->kube == NULL || st_kube_client_attach(c->kube, c->loop) < 0) {
        st_log(ST_LOG_ERROR, "kubernetes client: %s", err.msg);
        goto out;
    }
    c->metrics = st_metrics_registry_new(1, 0);
    c->api = api_new(c, o.listen, &err);
    if (c->api == NULL) {
        st_log(ST_LOG_ERROR, "listen %s: %s", o.listen, err.msg);
        goto out;
    }
    c->admin = admin_new(c, o.admin, &err);
    if (c->admin == NULL) {
        st_log(ST_LOG_ERROR, "admin %s: %s", o.admin, err.msg);
        goto out;
    }
    identity = identity_new(c, &err);
    if (identity == NULL) {
        st_log(ST_LOG_ERROR, "identity: %s", err.msg);
        goto out;
    }
    if ((destination = destination_new(c, &err)) == NULL ||
        (lease = lease_new(c, &err)) == NULL ||
        (endpoints = endpoints_new(c, destination, lease, &err)) == NULL) {
        st_log(ST_LOG_ERROR, "destination, lease or endpoints: %s", err.msg);
        goto out;
    }

    st_sock_format_addr(api_addr(c->api), api_addr_s, sizeof(api_addr_s));
    st_sock_format_addr(admin_addr(c->admin), admin_addr_s, sizeof(admin_addr_s));
    printf("strait-controller ready api=https://%s admin=http://%s\n", api_addr_s, admin_addr_s);
    fflush(stdout);
    st_log(ST_LOG_INFO, "serving api %s admin %s; namespace %s, trust domain %s, API %s",
           api_addr_s, admin_addr_s, c->namespace, c->trust_domain, c->kube_cfg->server);
    if (st_ev_run(c->loop) < 0)
        st_log(ST_LOG_ERROR, "loop failed");
    else
        rc = 0;
out:
    /* The servers go first: aborting their requests tells the services to drop them. */
    api_free(c->api);
    admin_free(c->admin);
    identity_free(identity);
    endpoints_free(endpoints);
    lease_free(lease); /* releases the lease when held, for a fast hand-over */
    destination_free(destination);
    st_kube_client_free(c->kube);
    st_metrics_registry_free(c->metrics);
    st_ev_free(c->loop);
    st_kube_config_free(c->kube_cfg);
    return rc;
}
