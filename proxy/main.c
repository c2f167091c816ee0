/*
 * strait-proxy: the data plane. Flags, threads (one st_ev loop each, with
 * SO_REUSEPORT listeners), periodic reloads of identity and routes, and the
 * graceful drain on SIGTERM. See docs/proxy.md.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "strait/certify.h"

#include "dest_source.h"
#include "detect.h"
#include "identity.h"
#include "proxy.h"

#define MAIN_STR(x) #x
#define MAIN_XSTR(x) MAIN_STR(x)

/* Identity and destination flags; main.c turns them into options. */
struct main_identity {
    const char *mode; /* NULL: certify with --controller, else files */
    const char *controller, *controller_identity, *token_file, *name;
    const char *destination, *destination_identity;
    uint32_t destination_wait_ms, destination_idle_ms;
    struct detect_ports *opaque_ports; /* --opaque-ports, parsed into main()'s set */
};

static void
main_usage(FILE *f)
{
    fprintf(
        f,
        "usage: strait-proxy [options]\n"
        "  --outbound ADDR:PORT        app-facing listener (default 127.0.0.1:4140)\n"
        "  --inbound ADDR:PORT         mTLS listener for other proxies (default 0.0.0.0:4143)\n"
        "  --admin ADDR:PORT           /ready /live /metrics (default 127.0.0.1:4191)\n"
        "  --identity-mode certify|files  where the certificate comes from (default certify\n"
        "                              with --controller, else files)\n"
        "  --controller ADDR:PORT      certify: the controller's identity API\n"
        "  --controller-identity NAME  certify: the controller's expected identity (default\n"
        "                              "
        "strait-controller.strait.serviceaccount.identity.strait.TD)\n"
        "  --token-file FILE           certify: the service-account token (default\n"
        "                              " ST_CERTIFY_DEFAULT_TOKEN_FILE ")\n"
        "  --identity NAME             certify: SA.NS.serviceaccount.identity.strait.TD\n"
        "  --identity-cert FILE        files: certificate chain (PEM, leaf first), reloaded\n"
        "  --identity-key FILE         files: private key (PEM), reloaded on change\n"
        "  --trust-anchors FILE        trust anchor bundle (PEM); files: reloaded on change\n"
        "  --routes FILE               static discovery (JSON), reloaded on change; wins over\n"
        "                              --destination for the authorities it names\n"
        "  --destination ADDR:PORT     the controller's destination API (routes by authority)\n"
        "  --destination-identity NAME the controller's expected identity there (default as\n"
        "                              --controller-identity)\n"
        "  --destination-wait-ms MS    a request waits this long for a first answer (default "
        "3000)\n"
        "  --destination-idle-ms MS    unsubscribe authorities unused this long (default 60000)\n"
        "  --inbound-forward-host IP   inbound forwards to IP:<target port> (default 127.0.0.1)\n"
        "  --app-addr IP               the same as --inbound-forward-host\n"
        "  --namespace NS              namespace for short authorities (default default)\n"
        "  --cluster-domain DOMAIN     (default cluster.local)\n"
        "  --mode sidecar|gateway      (default sidecar)\n"
        "  --threads N                 loop threads (default 1)\n"
        "  --connect-timeout-ms MS     (default 3000)\n"
        "  --handshake-timeout-ms MS   (default 5000)\n"
        "  --idle-timeout-ms MS        (default 60000)\n"
        "  --request-timeout-ms MS     request end to response head, 0 = none (default 60000)\n"
        "  --drain-timeout-ms MS       (default 10000)\n"
        "  --reload-interval-ms MS     file polling (default 500)\n"
        "  --max-conns N               accepted connections per thread (default 10000)\n"
        "  --max-streams N             HTTP/2 streams per connection (default 100)\n"
        "  --detect-timeout-ms MS      redirected connections: how long to wait for the first\n"
        "                              bytes before treating them as opaque TCP (default "
        MAIN_XSTR(DETECT_TIMEOUT_MS) ")\n"
        "  --opaque-ports LIST         redirected connections to these ports skip detection\n"
        "                              (e.g. 3306,5432,8000-8010; \"\" for none; default\n"
        "                              " DETECT_DEFAULT_OPAQUE_PORTS ")\n"
        "  --negative-ttl-ms MS        redirected connections: how long a \"no route\" from\n"
        "                              the destination API is kept before asking again, 0 =\n"
        "                              not kept (default " MAIN_XSTR(DISC_NEG_TTL_MS) ")\n"
        "  --log-level debug|info|warn|error\n");
}

static int
main_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    uint64_t v;

    if (st_parse_u64(st_str_c(s), max, &v) < 0 || v < min)
        return ST_EINVAL;
    *out = (uint32_t)v;
    return 0;
}

static int
main_parse(int argc, char **argv, struct proxy_config *cfg, struct main_identity *idf,
           enum st_log_level *level)
{
    enum {
        O_OUT = 1000,
        O_IN,
        O_ADMIN,
        O_CERT,
        O_KEY,
        O_ANCHORS,
        O_ROUTES,
        O_FWD,
        O_NS,
        O_DOMAIN,
        O_MODE,
        O_THREADS,
        O_CTO,
        O_HTO,
        O_ITO,
        O_RTO,
        O_DTO,
        O_RELOAD,
        O_MAXC,
        O_MAXS,
        O_LOG,
        O_IDMODE,
        O_CONTROLLER,
        O_CONTROLLER_ID,
        O_TOKEN,
        O_IDENTITY,
        O_DEST,
        O_DEST_ID,
        O_DEST_WAIT,
        O_DEST_IDLE,
        O_DETECT,
        O_OPAQUE_PORTS,
        O_NEG_TTL,
        O_HELP
    };
    static const struct option opts[] = {
        {"outbound", required_argument, NULL, O_OUT},
        {"inbound", required_argument, NULL, O_IN},
        {"admin", required_argument, NULL, O_ADMIN},
        {"identity-cert", required_argument, NULL, O_CERT},
        {"identity-key", required_argument, NULL, O_KEY},
        {"trust-anchors", required_argument, NULL, O_ANCHORS},
        {"routes", required_argument, NULL, O_ROUTES},
        {"inbound-forward-host", required_argument, NULL, O_FWD},
        {"app-addr", required_argument, NULL, O_FWD},
        {"namespace", required_argument, NULL, O_NS},
        {"cluster-domain", required_argument, NULL, O_DOMAIN},
        {"mode", required_argument, NULL, O_MODE},
        {"threads", required_argument, NULL, O_THREADS},
        {"connect-timeout-ms", required_argument, NULL, O_CTO},
        {"handshake-timeout-ms", required_argument, NULL, O_HTO},
        {"idle-timeout-ms", required_argument, NULL, O_ITO},
        {"request-timeout-ms", required_argument, NULL, O_RTO},
        {"drain-timeout-ms", required_argument, NULL, O_DTO},
        {"reload-interval-ms", required_argument, NULL, O_RELOAD},
        {"max-conns", required_argument, NULL, O_MAXC},
        {"max-streams", required_argument, NULL, O_MAXS},
        {"log-level", required_argument, NULL, O_LOG},
        {"identity-mode", required_argument, NULL, O_IDMODE},
        {"controller", required_argument, NULL, O_CONTROLLER},
        {"controller-identity", required_argument, NULL, O_CONTROLLER_ID},
        {"token-file", required_argument, NULL, O_TOKEN},
        {"identity", required_argument, NULL, O_IDENTITY},
        {"destination", required_argument, NULL, O_DEST},
        {"destination-identity", required_argument, NULL, O_DEST_ID},
        {"destination-wait-ms", required_argument, NULL, O_DEST_WAIT},
        {"destination-idle-ms", required_argument, NULL, O_DEST_IDLE},
        {"detect-timeout-ms", required_argument, NULL, O_DETECT},
        {"opaque-ports", required_argument, NULL, O_OPAQUE_PORTS},
        {"negative-ttl-ms", required_argument, NULL, O_NEG_TTL},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    uint32_t v;
    int c, li = -1;

    while ((c = getopt_long(argc, argv, "", opts, &li)) != -1) {
        int rc = 0;
        switch (c) {
        case O_OUT:
            rc = st_sock_parse_addr(optarg, &cfg->outbound);
            break;
        case O_IN:
            rc = st_sock_parse_addr(optarg, &cfg->inbound);
            break;
        case O_ADMIN:
            rc = st_sock_parse_addr(optarg, &cfg->admin);
            break;
        case O_CERT:
            cfg->identity_cert = optarg;
            break;
        case O_KEY:
            cfg->identity_key = optarg;
            break;
        case O_ANCHORS:
            cfg->trust_anchors = optarg;
            break;
        case O_ROUTES:
            cfg->routes = optarg;
            break;
        case O_FWD:
            cfg->forward_host = optarg;
            break;
        case O_NS:
            rc = st_dns1123_label(optarg) ? 0 : ST_EINVAL;
            cfg->namespace_ = optarg;
            break;
        case O_DOMAIN:
            rc = st_dns1123_subdomain(optarg) ? 0 : ST_EINVAL;
            cfg->cluster_domain = optarg;
            break;
        case O_MODE:
            if (strcmp(optarg, "gateway") == 0)
                cfg->gateway = true;
            else if (strcmp(optarg, "sidecar") != 0)
                rc = ST_EINVAL;
            break;
        case O_THREADS:
            rc = main_u32(optarg, 1, 64, &v);
            cfg->threads = (int)v;
            break;
        case O_CTO:
            rc = main_u32(optarg, 1, 600000, &cfg->connect_timeout_ms);
            break;
        case O_HTO:
            rc = main_u32(optarg, 1, 600000, &cfg->handshake_timeout_ms);
            break;
        case O_ITO:
            rc = main_u32(optarg, 1, 86400000, &cfg->idle_timeout_ms);
            break;
        case O_RTO:
            rc = main_u32(optarg, 0, 86400000, &cfg->request_timeout_ms);
            break;
        case O_DTO:
            rc = main_u32(optarg, 0, 3600000, &cfg->drain_timeout_ms);
            break;
        case O_RELOAD:
            rc = main_u32(optarg, 10, 3600000, &cfg->reload_interval_ms);
            break;
        case O_MAXC:
            rc = main_u32(optarg, 1, 1000000, &v);
            cfg->max_conns = v;
            break;
        case O_MAXS:
            rc = main_u32(optarg, 1, 100000, &cfg->max_streams);
            break;
        case O_LOG:
            if (strcmp(optarg, "debug") == 0)
                *level = ST_LOG_DEBUG;
            else if (strcmp(optarg, "info") == 0)
                *level = ST_LOG_INFO;
            else if (strcmp(optarg, "warn") == 0)
                *level = ST_LOG_WARN;
            else if (strcmp(optarg, "error") == 0)
                *level = ST_LOG_ERROR;
            else
                rc = ST_EINVAL;
            break;
        case O_IDMODE:
            rc = strcmp(optarg, "certify") == 0 || strcmp(optarg, "files") == 0 ? 0 : ST_EINVAL;
            idf->mode = optarg;
            break;
        case O_CONTROLLER:
            idf->controller = optarg;
            break;
        case O_CONTROLLER_ID:
            rc = st_dns1123_subdomain(optarg) ? 0 : ST_EINVAL;
            idf->controller_identity = optarg;
            break;
        case O_TOKEN:
            idf->token_file = optarg;
            break;
        case O_IDENTITY:
            rc = st_dns1123_subdomain(optarg) ? 0 : ST_EINVAL;
            idf->name = optarg;
            break;
        case O_DEST: {
            struct st_sockaddr a;
            rc = st_sock_parse_addr(optarg, &a);
            idf->destination = optarg;
            break;
        }
        case O_DEST_ID:
            rc = st_dns1123_subdomain(optarg) ? 0 : ST_EINVAL;
            idf->destination_identity = optarg;
            break;
        case O_DEST_WAIT:
            rc = main_u32(optarg, 1, 600000, &idf->destination_wait_ms);
            break;
        case O_DEST_IDLE:
            rc = main_u32(optarg, 1000, 86400000, &idf->destination_idle_ms);
            break;
        case O_DETECT:
            rc = main_u32(optarg, 1, 600000, &cfg->detect_timeout_ms);
            break;
        case O_OPAQUE_PORTS:
            rc = detect_ports_parse(optarg, idf->opaque_ports);
            break;
        case O_NEG_TTL:
            rc = main_u32(optarg, 0, 600000, &cfg->negative_ttl_ms);
            break;
        case O_HELP:
            main_usage(stdout);
            exit(0);
        default:
            main_usage(stderr);
            return ST_EINVAL;
        }
        if (rc < 0) {
            /* <li> names the option in both "--name value" and "--name=value" forms. */
            fprintf(stderr, "strait-proxy: bad value for --%s: %s\n",
                    li >= 0 ? opts[li].name : "?", optarg);
            return ST_EINVAL;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "strait-proxy: unexpected argument %s\n", argv[optind]);
        return ST_EINVAL;
    }
    return 0;
}

/* ---- threads --------------------------------------------------------------------- */

static void
main_accept(struct proxy_thread *th, int lfd, bool inbound)
{
    for (;;) {
        int fd = st_sock_accept(lfd, NULL);
        if (fd == -EAGAIN)
            return;
        if (fd < 0) {
            if (fd == -EMFILE || fd == -ENFILE)
                st_log(ST_LOG_WARN, "accept: %s", st_strerror(fd));
            return;
        }
        if (th->draining || th->n_conns >= th->px->cfg.max_conns) {
            close(fd);
            continue;
        }
        if (inbound)
            inbound_accept(th, fd);
        else
            h1down_accept(th, fd);
    }
}

static void
main_out_cb(struct st_ev *loop, struct st_ev_io *io, unsigned events)
{
    ST_UNUSED(loop);
    ST_UNUSED(events);
    main_accept(io->data, io->fd, false);
}

static void
main_in_cb(struct st_ev *loop, struct st_ev_io *io, unsigned events)
{
    ST_UNUSED(loop);
    ST_UNUSED(events);
    main_accept(io->data, io->fd, true);
}

static void
main_poll_files(struct proxy_thread *th)
{
    static char last_id_err[256], last_routes_err[256]; /* thread 0 logs; others stay quiet */
    struct st_err err = {0};
    int rc;

    if (th->index == 0) {
        rc = identity_poll(th->px->id, &err);
        if (rc > 0) {
            char name[256];
            identity_name(th->px->id, name, sizeof(name));
            st_log(ST_LOG_INFO, "identity loaded: %s", name);
            last_id_err[0] = '\0';
        } else if (rc < 0 && strcmp(last_id_err, err.msg) != 0) {
            st_log(ST_LOG_WARN, "%s", err.msg);
            st_strlcpy(last_id_err, err.msg, sizeof(last_id_err));
        }
    }
    st_err_clear(&err);
    rc = discovery_poll_file(th->disc, &err);
    if (th->index == 0) {
        if (rc > 0) {
            st_log(ST_LOG_INFO, "routes loaded from %s", th->px->cfg.routes);
            last_routes_err[0] = '\0';
        } else if (rc < 0 && strcmp(last_routes_err, err.msg) != 0) {
            st_log(ST_LOG_WARN, "%s", err.msg);
            st_strlcpy(last_routes_err, err.msg, sizeof(last_routes_err));
        }
    }
}

static void
main_tick(struct st_ev *loop, struct st_ev_timer *t)
{
    struct proxy_thread *th = t->data;
    uint32_t every = th->px->cfg.reload_interval_ms;

    if (th->draining) {
        if (th->n_conns == 0 || st_ev_now_ms(loop) >= th->drain_deadline) {
            if (th->n_conns > 0)
                st_log(ST_LOG_WARN, "drain deadline passed with %zu connections open", th->n_conns);
            st_ev_stop(loop);
            return;
        }
        every = 50;
    } else {
        main_poll_files(th);
    }
    st_ev_timer_start(loop, t, every);
}

static void
main_thread_drain(void *arg)
{
    struct proxy_thread *th = arg;

    if (th->draining)
        return;
    th->draining = true;
    th->drain_deadline = st_ev_now_ms(th->loop) + th->px->cfg.drain_timeout_ms;
    st_ev_io_stop(th->loop, &th->out_io);
    st_ev_io_stop(th->loop, &th->in_io);
    close(th->out_fd);
    close(th->in_fd);
    th->out_fd = th->in_fd = -1;
    for (struct list *l = th->clients.next, *next; l != &th->clients; l = next) {
        struct client *cl = ST_CONTAINER_OF(l, struct client, link);
        next = l->next;
        cl->drain(cl);
    }
    peer_drain_all(th);
    h1up_close_idle(th);
    st_ev_timer_start(th->loop, &th->tick, 0);
}

static void
main_signal(struct st_ev *loop, int signo, void *data)
{
    struct proxy *px = data;

    ST_UNUSED(loop);
    if (atomic_exchange(&px->draining, true)) {
        if (signo == SIGINT)
            exit(1); /* a second ^C: give up at once */
        return;
    }
    st_log(ST_LOG_INFO, "%s: draining", strsignal(signo));
    identity_stop(px->id);
    for (int i = 0; i < px->n_threads; i++)
        st_ev_post(px->threads[i]->loop, main_thread_drain, px->threads[i]);
}

static int
main_thread_new(struct proxy *px, int index, struct st_err *err)
{
    struct proxy_thread *th = st_xcalloc(1, sizeof(*th));

    th->px = px;
    th->index = index;
    th->out_fd = th->in_fd = -1;
    list_init(&th->peers);
    list_init(&th->app_idle);
    list_init(&th->clients);
    st_rng_seed(&th->rng);
    px->threads[index] = th;
    th->loop = st_ev_new(err);
    if (th->loop == NULL)
        return ST_EINVAL;
    th->stats = stats_thread(px->stats);
    th->disc = discovery_new(px->cfg.routes, px->cfg.namespace_, px->cfg.cluster_domain);
    th->out_fd = st_sock_listen(&px->cfg.outbound, 1024, true, err);
    if (th->out_fd < 0)
        return th->out_fd;
    th->in_fd = st_sock_listen(&px->cfg.inbound, 1024, true, err);
    if (th->in_fd < 0)
        return th->in_fd;
    if (index == 0) {
        /* Port 0 picks a port once; the other threads share it through SO_REUSEPORT. */
        st_sock_local_addr(th->out_fd, &px->cfg.outbound);
        st_sock_local_addr(th->in_fd, &px->cfg.inbound);
    }
    st_ev_io_init(&th->out_io, th->out_fd, main_out_cb, th);
    st_ev_io_init(&th->in_io, th->in_fd, main_in_cb, th);
    st_ev_io_start(th->loop, &th->out_io, ST_EV_READ);
    st_ev_io_start(th->loop, &th->in_io, ST_EV_READ);
    st_ev_timer_init(&th->tick, main_tick, th);
    st_ev_timer_start(th->loop, &th->tick, px->cfg.reload_interval_ms);
    main_poll_files(th);
    return 0;
}

static void *
main_thread_run(void *arg)
{
    struct proxy_thread *th = arg;

    st_ev_run(th->loop);
    return NULL;
}

/* Builds the identity from the flags. *ctl_id gets the default controller identity. */
static int
main_identity(struct proxy *px, const struct main_identity *f, char **ctl_id, struct st_err *err)
{
    struct identity_options o = {
        .mode = IDENTITY_FILES,
        .anchors = px->cfg.trust_anchors,
        .cert = px->cfg.identity_cert,
        .key = px->cfg.identity_key,
        .controller = f->controller,
        .controller_identity = f->controller_identity,
        .token_file = f->token_file,
        .name = f->name,
    };

    if (f->mode != NULL ? strcmp(f->mode, "certify") == 0 : f->controller != NULL)
        o.mode = IDENTITY_CERTIFY;
    if (o.mode == IDENTITY_CERTIFY &&
        (px->cfg.identity_cert != NULL || px->cfg.identity_key != NULL))
        return st_err_set(err, ST_EINVAL, "--identity-cert/--identity-key are for files mode");
    if (o.mode == IDENTITY_CERTIFY && o.controller_identity == NULL && o.name != NULL) {
        char *sa = NULL, *ns = NULL, *td = NULL;
        if (identity_parse_name(o.name, &sa, &ns, &td) == 0)
            *ctl_id = st_xasprintf("strait-controller.strait" IDENTITY_NAME_SUFFIX "%s", td);
        o.controller_identity = *ctl_id;
        free(sa);
        free(ns);
        free(td);
    }
    px->id = identity_new(&o, px->stats, err);
    return px->id != NULL ? 0 : ST_EINVAL;
}

/*
 * Starts the destination source, with the identity's HTTP/1.1 client context
 * as its client certificate (one key and one certificate for everything).
 * The controller's default identity comes from the trust domain of our own
 * identity (--identity, else the loaded certificate). *dest_id gets a
 * string to free at exit.
 */
static int
main_destination(struct proxy *px, const struct main_identity *f, const char *ctl_id,
                 char **dest_id, struct st_err *err)
{
    struct dest_source_options o = {
        .addr = f->destination,
        .server_identity = f->destination_identity,
        .wait_ms = f->destination_wait_ms,
        .idle_ms = f->destination_idle_ms,
        .tls = identity_client_h1_slot(px->id),
    };
    bool certify = f->mode != NULL ? strcmp(f->mode, "certify") == 0 : f->controller != NULL;

    if (px->cfg.trust_anchors == NULL)
        return st_err_set(err, ST_EINVAL, "--destination needs --trust-anchors");
    if (!certify && (px->cfg.identity_cert == NULL || px->cfg.identity_key == NULL))
        return st_err_set(err, ST_EINVAL,
                          "--destination needs the proxy's certificate: --identity-cert and "
                          "--identity-key, or certify mode (--controller and --identity)");
    if (o.server_identity == NULL)
        o.server_identity = f->controller_identity != NULL ? f->controller_identity : ctl_id;
    if (o.server_identity == NULL) {
        char name[256], *sa = NULL, *ns = NULL, *td = NULL;
        identity_name(px->id, name, sizeof(name));
        if (identity_parse_name(f->name != NULL ? f->name : name, &sa, &ns, &td) < 0)
            td = st_xstrdup("cluster.local");
        *dest_id = st_xasprintf("strait-controller.strait" IDENTITY_NAME_SUFFIX "%s", td);
        o.server_identity = *dest_id;
        free(sa);
        free(ns);
        free(td);
    }
    if (dest_source_start(px, &o, err) < 0)
        return ST_EINVAL;
    st_log(ST_LOG_INFO, "routes from the destination API at %s (%s)", o.addr, o.server_identity);
    return 0;
}

/*
 * Caps glibc's malloc arenas (docs/proxy.md, "Memory"). A thread that
 * allocates gets an arena of its own while there are fewer than the cap, and
 * an arena keeps what it once held: the certify worker, which builds most of
 * OpenSSL's state and frees its exchange's buffers, would keep half a
 * megabyte in one that the loop never reuses. With one loop thread (the
 * default) every thread shares the main arena; the identity threads allocate
 * once per certification, so the loop seldom meets their lock. With more,
 * the cap leaves one arena per loop thread and one per identity thread (the
 * scheduler and its worker), as without it: the identity threads may take
 * theirs first, and a loop thread that found none left would share another
 * loop thread's.
 */
static void
main_arenas(int threads)
{
    mallopt(M_ARENA_MAX, threads == 1 ? 1 : threads + 2);
}

int
main(int argc, char **argv)
{
    struct proxy px = {0};
    struct st_err err = {0};
    enum st_log_level level = ST_LOG_INFO;
    pthread_t *tids = NULL;
    int rc = 1;

    st_sock_parse_addr("127.0.0.1:4140", &px.cfg.outbound);
    st_sock_parse_addr("0.0.0.0:4143", &px.cfg.inbound);
    st_sock_parse_addr("127.0.0.1:4191", &px.cfg.admin);
    px.cfg.forward_host = "127.0.0.1";
    px.cfg.namespace_ = "default";
    px.cfg.cluster_domain = "cluster.local";
    px.cfg.threads = 1;
    px.cfg.connect_timeout_ms = 3000;
    px.cfg.handshake_timeout_ms = 5000;
    px.cfg.idle_timeout_ms = 60000;
    px.cfg.request_timeout_ms = 60000;
    px.cfg.drain_timeout_ms = 10000;
    px.cfg.reload_interval_ms = 500;
    px.cfg.max_conns = 10000;
    px.cfg.max_streams = 100;
    px.cfg.detect_timeout_ms = DETECT_TIMEOUT_MS;
    px.cfg.negative_ttl_ms = DISC_NEG_TTL_MS;
    struct detect_ports *ports = st_xcalloc(1, sizeof(*ports)); /* 8 KiB of port bits */
    (void)detect_ports_parse(DETECT_DEFAULT_OPAQUE_PORTS, ports);
    px.cfg.opaque_ports = ports; /* freed at the end of main(), after every thread */
    struct main_identity idf = {.opaque_ports = ports};
    if (main_parse(argc, argv, &px.cfg, &idf, &level) < 0) {
        free(ports);
        return 2;
    }
    st_log_init("strait-proxy", level);
    signal(SIGPIPE, SIG_IGN);
    main_arenas(px.cfg.threads);

    /* Signals go to the first loop only; block them before any thread starts. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    /* One metrics shard per loop thread and one for the identity. */
    px.stats = stats_registry_new((unsigned)px.cfg.threads + 1);
    char *ctl_id = NULL, *dest_id = NULL;
    if (main_identity(&px, &idf, &ctl_id, &err) < 0) {
        fprintf(stderr, "strait-proxy: %s\n", err.msg);
        stats_registry_free(px.stats);
        free(ctl_id);
        free(ports);
        return 2;
    }
    px.n_threads = px.cfg.threads;
    px.threads = st_xcalloc((size_t)px.n_threads, sizeof(*px.threads));
    for (int i = 0; i < px.n_threads; i++) {
        if (main_thread_new(&px, i, &err) < 0) {
            st_log(ST_LOG_ERROR, "%s", err.msg);
            goto out;
        }
    }
    if (admin_start(&px, px.threads[0], &err) < 0) {
        st_log(ST_LOG_ERROR, "admin: %s", err.msg);
        goto out;
    }
    if (idf.destination != NULL && main_destination(&px, &idf, ctl_id, &dest_id, &err) < 0) {
        st_log(ST_LOG_ERROR, "destination: %s", err.msg);
        goto out;
    }
    st_ev_signal_add(px.threads[0]->loop, SIGTERM, main_signal, &px);
    st_ev_signal_add(px.threads[0]->loop, SIGINT, main_signal, &px);
    if (identity_start(px.id, &err) < 0) {
        st_log(ST_LOG_ERROR, "%s", err.msg);
        goto out;
    }
    if (!identity_ready(px.id))
        st_log(ST_LOG_WARN,
               "no valid identity certificate yet: meshed traffic is refused until "
               "one is %s",
               idf.controller != NULL ? "certified" : "loaded");

    char o[ST_SOCK_ADDR_STRLEN], in[ST_SOCK_ADDR_STRLEN], ad[ST_SOCK_ADDR_STRLEN];
    st_sock_format_addr(&px.cfg.outbound, o, sizeof(o));
    st_sock_format_addr(&px.cfg.inbound, in, sizeof(in));
    st_sock_format_addr(&px.cfg.admin, ad, sizeof(ad));
    printf("strait-proxy listening outbound=%s inbound=%s admin=%s mode=%s threads=%d\n", o, in, ad,
           px.cfg.gateway ? "gateway" : "sidecar", px.n_threads);
    fflush(stdout);

    tids = st_xcalloc((size_t)px.n_threads, sizeof(*tids));
    for (int i = 1; i < px.n_threads; i++)
        pthread_create(&tids[i], NULL, main_thread_run, px.threads[i]);
    st_ev_run(px.threads[0]->loop);
    for (int i = 1; i < px.n_threads; i++)
        pthread_join(tids[i], NULL);
    st_log(ST_LOG_INFO, "stopped");
    rc = 0;

out:
    /*
     * Connections still open after the drain deadline are left to the kernel;
     * the threads' own state and the shared parts are freed.
     */
    free(tids);
    identity_stop(px.id);
    admin_stop();
    dest_source_stop(); /* before the loops it posts to are freed */
    for (int i = 0; i < px.n_threads; i++) {
        struct proxy_thread *th = px.threads[i];
        if (th == NULL)
            continue;
        if (th->loop != NULL) {
            peer_close_all(th);
            h1up_close_idle(th);
        }
        discovery_free(th->disc);
        if (th->out_fd >= 0)
            close(th->out_fd);
        if (th->in_fd >= 0)
            close(th->in_fd);
        st_ev_free(th->loop);
        free(th);
    }
    free(px.threads);
    identity_free(px.id); /* joins the certify thread before its metrics go */
    stats_registry_free(px.stats);
    free(ctl_id);
    free(dest_id);
    free(ports);
    return rc;
}
