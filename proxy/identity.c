/*
 * The proxy's certificate: certified by the controller (each attempt on a
 * short-lived worker thread, see identity_run()), or loaded from files and
 * reloaded when they change. Both end in identity_install(), which builds
 * the TLS contexts and swaps them in.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/ssl.h>

#include "strait/certify.h"
#include "strait/metrics.h"
#include "strait/x509.h"

#include "identity.h"
#include "proxy.h"

#define IDENTITY_CONNECT_TIMEOUT_MS 3000
#define IDENTITY_TIMEOUT_MS 10000
#define IDENTITY_ALPN_HTTP1 "http/1.1" /* the controller's APIs (destination, identity) */

struct identity_file {
    const char *path;
    struct timespec mtime;
    off_t size;
};

struct identity {
    struct identity_options opt;
    char *uri;                     /* certify: the SPIFFE name asked for besides the DNS name */
    struct identity_file files[3]; /* cert, key, anchors */
    bool tried;
    struct st_tls_slot server, client_h2, client_opaque, client_h1;
    pthread_mutex_t lock; /* guards name, validity, stop */
    char name[256];
    int64_t not_before, not_after;
    bool loaded;

    /*
     * Certify mode: a scheduler thread sleeps until an attempt is due and runs
     * each attempt on a worker thread of its own, which exits when done.
     */
    pthread_t thread;
    bool started, stop;
    pthread_cond_t wake; /* on CLOCK_MONOTONIC */
    unsigned attempt;    /* failures in a row; the worker's */
    uint64_t delay_ms;   /* until the next attempt; set by the worker, read after the join */
    char last[256];      /* the last failure logged, to log repeats at debug level */

    /* Metrics, written by the one thread that installs (certify or the first loop). */
    struct stats *shard;
    struct st_metrics_series *m_expiry, *m_refresh, *m_failures;
};

int
identity_parse_name(const char *name, char **sa, char **ns, char **td)
{
    const char *mark = name != NULL ? strstr(name, IDENTITY_NAME_SUFFIX) : NULL;

    if (mark == NULL)
        return ST_EINVAL;
    char *head = st_xstrndup(name, (size_t)(mark - name));
    char *dot = strrchr(head, '.');
    const char *t = mark + strlen(IDENTITY_NAME_SUFFIX);
    if (dot == NULL || !st_dns1123_label(dot + 1) || !st_dns1123_subdomain(t)) {
        free(head);
        return ST_EINVAL;
    }
    *dot = '\0';
    if (!st_dns1123_subdomain(head)) {
        free(head);
        return ST_EINVAL;
    }
    *ns = st_xstrdup(dot + 1);
    *td = st_xstrdup(t);
    *sa = head;
    return 0;
}

static void
identity_metrics(struct identity *id, struct stats_registry *stats)
{
    static const char *const none[1] = {NULL};
    struct st_metrics_registry *m = stats_metrics(stats);
    struct st_metrics_family *f = NULL;
    struct st_metrics_desc d = {
        .type = ST_METRICS_GAUGE,
        .name = "identity_cert_expiry_timestamp_seconds",
        .help = "The time the proxy's current certificate expires, in seconds since the epoch",
    };

    id->shard = stats_thread(stats);
    if (st_metrics_family_add(m, &d, &f, NULL) == 0)
        id->m_expiry = st_metrics_series_get(f, none);
    d.type = ST_METRICS_COUNTER;
    d.name = "identity_cert_refresh_total";
    d.help = "Certificates installed (certified or reloaded from files)";
    if (st_metrics_family_add(m, &d, &f, NULL) == 0)
        id->m_refresh = st_metrics_series_get(f, none);
    d.name = "identity_cert_refresh_failures_total";
    d.help = "Failed attempts to certify or to load the certificate files";
    if (st_metrics_family_add(m, &d, &f, NULL) == 0)
        id->m_failures = st_metrics_series_get(f, none);
}

struct identity *
identity_new(const struct identity_options *o, struct stats_registry *stats, struct st_err *err)
{
    char *sa = NULL, *ns = NULL, *td = NULL;
    char *uri = NULL;

    if (o->mode == IDENTITY_CERTIFY) {
        if (o->controller == NULL || o->anchors == NULL || o->name == NULL) {
            st_err_set(err, ST_EINVAL,
                       "certify mode needs --controller, --trust-anchors and --identity");
            return NULL;
        }
        if (identity_parse_name(o->name, &sa, &ns, &td) < 0) {
            st_err_set(err, ST_EINVAL,
                       "--identity must be <sa>.<ns>.serviceaccount.identity.strait.<domain>");
            return NULL;
        }
        uri = st_certify_identity_uri(sa, ns, td);
        free(sa);
        free(ns);
        free(td);
        if (uri == NULL) {
            st_err_set(err, ST_EINVAL, "--identity %s names no valid account", o->name);
            return NULL;
        }
    }

    /*
     * OpenSSL without its configuration file: the proxy's TLS settings are its
     * own, and a file (or $OPENSSL_CONF) naming a provider or engine module
     * would have OpenSSL dlopen() it, which a static proxy must never need
     * (proxy/link.cmake). Its default provider is built in. This runs before
     * anything else in the proxy touches OpenSSL, so later implicit
     * initialisations find the configuration step done.
     */
    OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);

    struct identity *id = st_xcalloc(1, sizeof(*id));
    pthread_condattr_t ca;

    id->opt = *o;
    id->uri = uri;
    id->files[0].path = o->mode == IDENTITY_FILES ? o->cert : NULL;
    id->files[1].path = o->mode == IDENTITY_FILES ? o->key : NULL;
    id->files[2].path = o->mode == IDENTITY_FILES ? o->anchors : NULL;
    st_tls_slot_init(&id->server);
    st_tls_slot_init(&id->client_h2);
    st_tls_slot_init(&id->client_opaque);
    st_tls_slot_init(&id->client_h1);
    pthread_mutex_init(&id->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&id->wake, &ca);
    pthread_condattr_destroy(&ca);
    identity_metrics(id, stats);
    return id;
}

void
identity_stop(struct identity *id)
{
    if (id == NULL)
        return;
    pthread_mutex_lock(&id->lock);
    id->stop = true;
    pthread_cond_broadcast(&id->wake);
    pthread_mutex_unlock(&id->lock);
}

void
identity_free(struct identity *id)
{
    if (id == NULL)
        return;
    identity_stop(id);
    if (id->started)
        pthread_join(id->thread, NULL);
    st_tls_slot_fini(&id->server);
    st_tls_slot_fini(&id->client_h2);
    st_tls_slot_fini(&id->client_opaque);
    st_tls_slot_fini(&id->client_h1);
    pthread_cond_destroy(&id->wake);
    pthread_mutex_destroy(&id->lock);
    free(id->uri);
    free(id);
}

/*
 * Builds the four contexts from a certificate chain (PEM, leaf first), a key
 * (an object, else PEM) and the anchors (PEM), and swaps them in. Everything
 * is borrowed; the contexts take their own references to the key. Returns 1.
 *
 * The PEM is parsed once and the four contexts share the certificate, key and
 * anchor objects (each context takes references): a context built from PEM
 * would hold its own copies, about 20 KB more each, and cost a parse each.
 */
static int
identity_install(struct identity *id, const char *cert_pem, EVP_PKEY *key, const char *key_pem,
                 const char *anchors_pem, struct st_err *err)
{
    STACK_OF(X509) *chain = NULL, *rest = NULL, *anchors = NULL;
    EVP_PKEY *owned_key = NULL;
    struct st_x509_info info = {0};
    struct st_tls_ctx *srv = NULL, *cli = NULL, *opq = NULL, *h1 = NULL;
    static const char *const srv_alpn[] = {PROXY_ALPN_H2, PROXY_ALPN_OPAQUE, NULL};
    static const char *const h2_alpn[] = {PROXY_ALPN_H2, NULL};
    static const char *const opq_alpn[] = {PROXY_ALPN_OPAQUE, NULL};
    static const char *const h1_alpn[] = {IDENTITY_ALPN_HTTP1, NULL};
    int rc;

    if ((rc = st_x509_bundle_from_pem(cert_pem, strlen(cert_pem), &chain, err)) < 0)
        goto out;
    if ((rc = st_x509_inspect(sk_X509_value(chain, 0), &info, err)) < 0)
        goto out;
    if (info.names.n_dns == 0) {
        rc = st_err_set(err, ST_EINVAL, "identity: the certificate has no DNS SAN");
        goto out;
    }
    if (key == NULL) {
        if ((rc = st_x509_key_from_pem(key_pem, strlen(key_pem), &owned_key, err)) < 0)
            goto out;
        key = owned_key;
    }
    if ((rc = st_x509_bundle_from_pem(anchors_pem, strlen(anchors_pem), &anchors, err)) < 0)
        goto out;
    rest = sk_X509_new_null();
    if (rest == NULL)
        st_oom();
    for (int i = 1; i < sk_X509_num(chain); i++) {
        if (!sk_X509_push(rest, sk_X509_value(chain, i))) /* borrowed from <chain> */
            st_oom();
    }
    struct st_tls_config cfg = {
        .server = true,
        .cert = sk_X509_value(chain, 0),
        .chain = rest,
        .key = key,
        .anchors = anchors,
        .verify = ST_TLS_VERIFY_REQUIRE,
        .min_version = ST_TLS_1_3,
        .alpn = srv_alpn,
    };
    if ((rc = st_tls_ctx_new(&cfg, &srv, err)) < 0)
        goto out;
    cfg.server = false;
    cfg.alpn = h2_alpn;
    if ((rc = st_tls_ctx_new(&cfg, &cli, err)) < 0)
        goto out;
    cfg.alpn = opq_alpn;
    if ((rc = st_tls_ctx_new(&cfg, &opq, err)) < 0)
        goto out;
    cfg.alpn = h1_alpn;
    if ((rc = st_tls_ctx_new(&cfg, &h1, err)) < 0)
        goto out;
    /*
     * The slots drop their references to the old contexts; those (and the old
     * key, which OpenSSL clears when it frees it) go once the last connection
     * made with them closes.
     */
    st_tls_slot_set(&id->server, srv);
    st_tls_slot_set(&id->client_h2, cli);
    st_tls_slot_set(&id->client_opaque, opq);
    st_tls_slot_set(&id->client_h1, h1);
    srv = cli = opq = h1 = NULL;
    pthread_mutex_lock(&id->lock);
    st_strlcpy(id->name, info.names.dns[0], sizeof(id->name));
    id->not_before = info.not_before;
    id->not_after = info.not_after;
    id->loaded = true;
    pthread_mutex_unlock(&id->lock);
    st_metrics_gauge_set(id->m_expiry, (double)info.not_after);
    st_metrics_counter_inc(id->m_refresh, stats_shard(id->shard));
    rc = 1;

out:
    st_tls_ctx_unref(srv);
    st_tls_ctx_unref(cli);
    st_tls_ctx_unref(opq);
    st_tls_ctx_unref(h1);
    st_x509_info_free(&info);
    sk_X509_free(rest);
    st_x509_chain_free(chain);
    st_x509_chain_free(anchors);
    EVP_PKEY_free(owned_key);
    return rc;
}

/* ---- files -------------------------------------------------------------------------- */

static int
identity_load_files(struct identity *id, struct st_err *err)
{
    struct st_buf cert = ST_BUF_INIT(ST_X509_PEM_MAX), key = ST_BUF_INIT(ST_X509_PEM_MAX),
                  anchors = ST_BUF_INIT(ST_X509_PEM_MAX);
    int rc;

    if ((rc = st_file_read(id->files[0].path, &cert)) < 0 ||
        (rc = st_file_read(id->files[1].path, &key)) < 0 ||
        (rc = st_file_read(id->files[2].path, &anchors)) < 0) {
        st_err_set(err, rc, "identity: cannot read the certificate, key or anchors: %s",
                   st_strerror(rc));
        goto out;
    }
    rc = identity_install(id, st_buf_cstr(&cert), NULL, st_buf_cstr(&key), st_buf_cstr(&anchors),
                          err);

out:
    st_buf_free(&cert);
    st_buf_free_secret(&key);
    st_buf_free(&anchors);
    return rc;
}

int
identity_poll(struct identity *id, struct st_err *err)
{
    bool changed = !id->tried;

    if (id->opt.mode != IDENTITY_FILES)
        return 0;
    for (size_t i = 0; i < ST_ARRAY_LEN(id->files); i++) {
        struct stat st;
        if (id->files[i].path == NULL)
            return 0;
        if (stat(id->files[i].path, &st) < 0) {
            id->tried = true;
            return st_err_set(err, -errno, "identity: %s: %s", id->files[i].path,
                              st_strerror(-errno));
        }
        if (st.st_mtim.tv_sec != id->files[i].mtime.tv_sec ||
            st.st_mtim.tv_nsec != id->files[i].mtime.tv_nsec || st.st_size != id->files[i].size)
            changed = true;
        id->files[i].mtime = st.st_mtim;
        id->files[i].size = st.st_size;
    }
    id->tried = true;
    if (!changed)
        return 0;
    int rc = identity_load_files(id, err);
    if (rc < 0) {
        /* Files may be half rotated (a new certificate, the old key): try again next poll. */
        for (size_t i = 0; i < ST_ARRAY_LEN(id->files); i++)
            id->files[i].size = -1;
        st_metrics_counter_inc(id->m_failures, stats_shard(id->shard));
    }
    return rc;
}

/* ---- certify -------------------------------------------------------------------------- */

/*
 * One certify exchange with a fresh key. The key lives only in memory: the
 * new contexts hold it, and our reference goes at once.
 */
static int
identity_certify(struct identity *id, struct st_err *err)
{
    struct st_certify_result res = {0};
    struct st_buf anchors = ST_BUF_INIT(ST_X509_PEM_MAX), pem = ST_BUF_INIT(0);
    EVP_PKEY *key = st_x509_key_new_p256();
    int rc;

    if (key == NULL) {
        rc = st_err_set(err, ST_ETLS, "cannot generate a P-256 key");
        goto out;
    }
    if ((rc = st_file_read(id->opt.anchors, &anchors)) < 0) {
        st_err_set(err, rc, "cannot read the trust anchors %s: %s", id->opt.anchors,
                   st_strerror(rc));
        goto out;
    }
    struct st_certify_opts o = {
        .addr = id->opt.controller,
        .server_identity = id->opt.controller_identity,
        .anchors_pem = st_buf_cstr(&anchors),
        .token_file = id->opt.token_file,
        .identity_dns = id->opt.name,
        .identity_uri = id->uri,
        .connect_timeout_ms = IDENTITY_CONNECT_TIMEOUT_MS,
        .timeout_ms = id->opt.timeout_ms != 0 ? id->opt.timeout_ms : IDENTITY_TIMEOUT_MS,
    };
    if ((rc = st_certify_request(&o, key, &res, err)) < 0)
        goto out;
    if ((rc = st_buf_appendf(&pem, "%s%s%s", res.certificate,
                             st_str_has_suffix(res.certificate, "\n") ? "" : "\n",
                             res.chain != NULL ? res.chain : "")) < 0) {
        st_err_set(err, rc, "certificate too large");
        goto out;
    }
    rc = identity_install(id, st_buf_cstr(&pem), key, NULL, st_buf_cstr(&anchors), err);

out:
    EVP_PKEY_free(key);
    st_certify_result_free(&res);
    st_buf_free(&pem);
    st_buf_free(&anchors);
    return rc;
}

/* Sleeps <ms> or until asked to stop; true when asked to stop. */
static bool
identity_sleep(struct identity *id, uint64_t ms)
{
    struct timespec until;
    bool stop;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)(ms / 1000);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&id->lock);
    while (!id->stop && pthread_cond_timedwait(&id->wake, &id->lock, &until) != ETIMEDOUT)
        ;
    stop = id->stop;
    pthread_mutex_unlock(&id->lock);
    return stop;
}

/*
 * One attempt, on a worker thread: certify, log, and set when the next one
 * is due. Returns NULL.
 */
static void *
identity_attempt(void *arg)
{
    struct identity *id = arg;
    struct st_err err = {0};
    int rc = identity_certify(id, &err);

    if (rc >= 0) {
        int64_t nb, na, now = st_wall_s();
        pthread_mutex_lock(&id->lock);
        nb = id->not_before;
        na = id->not_after;
        pthread_mutex_unlock(&id->lock);
        int64_t at = st_certify_renew_at(nb, na, st_random_u64());
        id->delay_ms = at > now ? (uint64_t)(at - now) * 1000 : 1000;
        id->attempt = 0;
        id->last[0] = '\0';
        char when[21];
        st_rfc3339(na, when);
        st_log(ST_LOG_INFO, "identity: certified as %s until %s; renewing in %llus",
               id->opt.name, when, (unsigned long long)(id->delay_ms / 1000));
        return NULL;
    }
    st_metrics_counter_inc(id->m_failures, stats_shard(id->shard));
    id->delay_ms = st_certify_backoff_ms(id->attempt, st_random_u64());
    if (id->attempt < 64)
        id->attempt++;
    /* The same failure over and over is logged once, then at debug level. */
    bool same = strcmp(id->last, err.msg) == 0;
    st_log(same ? ST_LOG_DEBUG : ST_LOG_WARN, "identity: certify failed (%s); retrying in %llums",
           err.msg, (unsigned long long)id->delay_ms);
    st_strlcpy(id->last, err.msg, sizeof(id->last));
    return NULL;
}

/*
 * The scheduler thread: sleeps, then runs each attempt on a new worker thread
 * and joins it. Between attempts, which is nearly always, little of what an
 * attempt used stays: when the worker exits, glibc gives its stack pages
 * back to the kernel but for the last 20 KiB or so (it keeps the stack for
 * the next thread), and frees its malloc cache and OpenSSL's per-thread
 * state (random generators, error queue). A thread that lived on would keep
 * all three. This thread touches a few stack pages and allocates only what
 * pthread_create() does.
 */
static void *
identity_run(void *arg)
{
    struct identity *id = arg;
    uint64_t delay_ms = 0;

    while (!identity_sleep(id, delay_ms)) {
        pthread_t worker;
        int rc = pthread_create(&worker, NULL, identity_attempt, id);
        if (rc != 0) {
            st_log(ST_LOG_WARN, "identity: cannot start a thread to certify: %s",
                   st_strerror(-rc));
            delay_ms = 1000;
            continue;
        }
        pthread_join(worker, NULL);
        delay_ms = id->delay_ms;
    }
    return NULL;
}

int
identity_start(struct identity *id, struct st_err *err)
{
    if (id->opt.mode != IDENTITY_CERTIFY || id->started)
        return 0;
    int rc = pthread_create(&id->thread, NULL, identity_run, id);
    if (rc != 0)
        return st_err_set(err, -rc, "cannot start the identity thread: %s", st_strerror(-rc));
    id->started = true;
    return 0;
}

/* ---- state ---------------------------------------------------------------------------- */

bool
identity_ready(struct identity *id)
{
    int64_t now = st_wall_s();
    bool ok;

    pthread_mutex_lock(&id->lock);
    ok = id->loaded && now >= id->not_before && now < id->not_after;
    pthread_mutex_unlock(&id->lock);
    return ok;
}

struct st_tls_ctx *
identity_server_ctx(struct identity *id)
{
    return identity_ready(id) ? st_tls_slot_get(&id->server) : NULL;
}

struct st_tls_ctx *
identity_client_ctx(struct identity *id, bool opaque)
{
    if (!identity_ready(id))
        return NULL;
    return st_tls_slot_get(opaque ? &id->client_opaque : &id->client_h2);
}

struct st_tls_slot *
identity_client_h1_slot(struct identity *id)
{
    return &id->client_h1;
}

void
identity_name(struct identity *id, char *out, size_t size)
{
    pthread_mutex_lock(&id->lock);
    st_strlcpy(out, id->loaded ? id->name : "", size);
    pthread_mutex_unlock(&id->lock);
}
