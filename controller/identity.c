/*
 * The identity service: POST /v1/certify (docs/identity-api.md).
 *
 * The issuer (Secret strait-identity-issuer: tls.crt, tls.key) and the trust
 * anchors (ConfigMap strait-identity-trust-roots: ca-bundle.crt) come from
 * informers in the controller's namespace. Every change is validated (the
 * issuer must be a CA whose key matches and which chains to the anchors) and
 * then used for the next request; a bad one is refused and logged once, and
 * the previous issuer stays in use.
 *
 * A request is checked on the loop thread (body, CSR), then its token goes to
 * a small pool of worker threads that run the TokenReview with blocking kube
 * clients of their own, so the loop never waits for the API server. The
 * result comes back through st_ev_post and the certificate is signed on the
 * loop thread. At most IDENTITY_MAX_IN_FLIGHT reviews are queued or running;
 * more get 503.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "controller.h"
#include "strait/certify.h"
#include "strait/json.h"
#include "strait/x509.h"

#define IDENTITY_SECRET "strait-identity-issuer"
#define IDENTITY_CONFIGMAP "strait-identity-trust-roots"
#define IDENTITY_WORKERS 2
#define IDENTITY_MAX_IN_FLIGHT 64
#define IDENTITY_REVIEW_TIMEOUT_MS 5000
#define IDENTITY_SERVING_LIFETIME_S (24 * 3600)

/* A validated issuer with its anchors. Immutable once built; owned by struct identity. */
struct identity_issuer {
    X509 *cert;
    EVP_PKEY *key;
    STACK_OF(X509) * chain;   /* sent to clients: the issuer and any non-root intermediates */
    STACK_OF(X509) * anchors; /* the trust roots */
    char *chain_pem;
    char *anchors_pem;
    int64_t not_after;
    char sha256[65];
};

/* One certify request between its arrival and its answer. */
struct identity_job {
    struct identity *id;
    struct st_httpd_req *req; /* NULL once the client left */
    char *token;              /* wiped when the review is done */
    struct st_x509_csr_info csr;
    /* Filled by the worker. */
    int review_rc;
    bool authenticated;
    char *username;
    char review_msg[256];
    struct identity_job *qnext;       /* the workers' queue, under id->lock */
    struct identity_job *prev, *next; /* every live job; loop thread only */
};

struct identity {
    struct controller *ctl;
    struct st_kube_informer *secrets;
    struct st_kube_informer *configmaps;
    struct identity_issuer *issuer; /* NULL until a valid one was seen */
    char *seen_versions;            /* "<secret rv>/<configmap rv>" last evaluated */
    char *serving_identity;
    struct st_ev_timer serving_timer;

    pthread_t workers[IDENTITY_WORKERS];
    size_t n_workers;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct identity_job *queue_head, *queue_tail;
    bool stop;

    struct identity_job *jobs;
    size_t in_flight;

    struct st_metrics_family *m_certify;
    struct st_metrics_series *m_in_flight;
    struct st_metrics_series *m_issuer_expiry;
    struct st_metrics_series *m_issuer_updates;
    struct st_metrics_series *m_issuer_refused;
};

static void identity_serve(struct identity *id);

/* ---- issuers ----------------------------------------------------------------- */

static void
identity_issuer_free(struct identity_issuer *is)
{
    if (is == NULL)
        return;
    X509_free(is->cert);
    EVP_PKEY_free(is->key);
    st_x509_chain_free(is->chain);
    st_x509_chain_free(is->anchors);
    free(is->chain_pem);
    free(is->anchors_pem);
    free(is);
}

/* Decodes base64 field <key> of a Secret's data into <out>. */
static int
identity_secret_field(json_t *secret, const char *key, struct st_buf *out, struct st_err *err)
{
    const char *segs[] = {"data", key};
    const char *b64 = st_json_strv(secret, segs, 2);

    if (b64 == NULL)
        return st_err_set(err, ST_EINVAL, "Secret %s has no data key %s", IDENTITY_SECRET, key);
    if (st_base64_decode(b64, strlen(b64), out) < 0)
        return st_err_set(err, ST_EPARSE, "Secret %s: %s is not base64", IDENTITY_SECRET, key);
    return 0;
}

/* Builds and validates an issuer from the Secret and ConfigMap (borrowed). */
static struct identity_issuer *
identity_issuer_load(json_t *secret, json_t *cm, struct st_err *err)
{
    struct identity_issuer *is = st_xcalloc(1, sizeof(*is));
    struct st_buf crt = ST_BUF_INIT(ST_X509_PEM_MAX), key = ST_BUF_INIT(ST_X509_PEM_MAX);
    struct st_buf pem = ST_BUF_INIT(0);
    STACK_OF(X509) *bundle = NULL;
    struct st_x509_info info = {0};
    const char *segs[] = {"data", "ca-bundle.crt"};
    const char *anchors = st_json_strv(cm, segs, 2);
    int rc;

    if (anchors == NULL) {
        st_err_set(err, ST_EINVAL, "ConfigMap %s has no data key ca-bundle.crt",
                   IDENTITY_CONFIGMAP);
        goto fail;
    }
    if (st_x509_bundle_from_pem(anchors, strlen(anchors), &is->anchors, err) < 0)
        goto fail;
    if (identity_secret_field(secret, "tls.crt", &crt, err) < 0 ||
        identity_secret_field(secret, "tls.key", &key, err) < 0)
        goto fail;
    if (st_x509_bundle_from_pem(crt.data, crt.len, &bundle, err) < 0 ||
        st_x509_key_from_pem(key.data, key.len, &is->key, err) < 0)
        goto fail;
    is->cert = sk_X509_value(bundle, 0);
    X509_up_ref(is->cert);
    if (st_x509_inspect(is->cert, &info, err) < 0)
        goto fail;
    if (!info.is_ca) {
        st_err_set(err, ST_EINVAL, "the issuer certificate is not a CA");
        goto fail;
    }
    if (!st_x509_key_is_p256(is->key) || X509_check_private_key(is->cert, is->key) != 1) {
        st_err_set(err, ST_EINVAL, "tls.key is not the P-256 key of tls.crt");
        goto fail;
    }
    is->chain = sk_X509_new_null();
    for (int i = 0; i < sk_X509_num(bundle); i++) {
        X509 *c = sk_X509_value(bundle, i);
        if (i > 0 && X509_check_issued(c, c) == X509_V_OK)
            continue; /* a root in tls.crt: clients have it as an anchor */
        X509_up_ref(c);
        sk_X509_push(is->chain, c);
    }
    STACK_OF(X509) *rest = sk_X509_new_null();
    for (int i = 1; i < sk_X509_num(is->chain); i++)
        sk_X509_push(rest, sk_X509_value(is->chain, i));
    rc = st_x509_verify_chain(is->cert, rest, is->anchors, 0, err);
    sk_X509_free(rest);
    if (rc < 0)
        goto fail;
    if (st_x509_chain_to_pem(is->chain, &pem) < 0) {
        st_err_set(err, ST_ETOOBIG, "the issuer chain is too large");
        goto fail;
    }
    is->chain_pem = st_buf_steal(&pem);
    is->anchors_pem = st_xstrdup(anchors);
    is->not_after = info.not_after;
    memcpy(is->sha256, info.sha256, sizeof(is->sha256));
    goto out;
fail:
    identity_issuer_free(is);
    is = NULL;
out:
    st_x509_info_free(&info);
    st_x509_chain_free(bundle);
    st_buf_free(&crt);
    st_buf_free_secret(&key);
    st_buf_free(&pem);
    ERR_clear_error();
    return is;
}

static const char *
identity_rv(json_t *obj)
{
    const char *rv = st_json_str(obj, "metadata.resourceVersion");
    return rv ? rv : "";
}

/* Re-reads the Secret and ConfigMap from the caches after any change. */
static void
identity_reload(struct identity *id)
{
    struct controller *c = id->ctl;
    struct st_err err = {0};

    if (!st_kube_informer_has_synced(id->secrets) || !st_kube_informer_has_synced(id->configmaps))
        return;
    json_t *sec = st_kube_informer_get(id->secrets, c->namespace, IDENTITY_SECRET);
    json_t *cm = st_kube_informer_get(id->configmaps, c->namespace, IDENTITY_CONFIGMAP);
    char *seen = st_xasprintf("%s/%s", sec ? identity_rv(sec) : "-", cm ? identity_rv(cm) : "-");
    if (id->seen_versions != NULL && strcmp(seen, id->seen_versions) == 0) {
        free(seen);
        return; /* already judged (and logged) this pair */
    }
    free(id->seen_versions);
    id->seen_versions = seen;

    if (sec == NULL || cm == NULL) {
        st_log(ST_LOG_WARN, "identity: %s %s/%s is missing; %s", sec ? "ConfigMap" : "Secret",
               c->namespace, sec ? IDENTITY_CONFIGMAP : IDENTITY_SECRET,
               id->issuer ? "keeping the previous issuer" : "cannot certify yet");
        return;
    }
    struct identity_issuer *is = identity_issuer_load(sec, cm, &err);
    if (is == NULL) {
        st_metrics_counter_inc(id->m_issuer_refused, 0);
        st_log(ST_LOG_ERROR, "identity: refusing the issuer in %s/%s: %s; %s", c->namespace,
               IDENTITY_SECRET, err.msg,
               id->issuer ? "keeping the previous issuer" : "cannot certify yet");
        return;
    }
    if (id->issuer != NULL && strcmp(id->issuer->sha256, is->sha256) == 0 &&
        strcmp(id->issuer->anchors_pem, is->anchors_pem) == 0) {
        identity_issuer_free(is);
        return;
    }
    char until[21];
    st_rfc3339(is->not_after, until);
    st_log(ST_LOG_INFO, "identity: %s issuer sha256:%.16s (valid until %s)",
           id->issuer ? "rotated to" : "loaded", is->sha256, until);
    identity_issuer_free(id->issuer);
    id->issuer = is;
    st_metrics_counter_inc(id->m_issuer_updates, 0);
    st_metrics_gauge_set(id->m_issuer_expiry, (double)is->not_after);
    identity_serve(id);
}

static void
identity_on_add(struct st_kube_informer *inf, json_t *obj, void *data)
{
    identity_reload(data);
}

static void
identity_on_update(struct st_kube_informer *inf, json_t *old_obj, json_t *new_obj, void *data)
{
    identity_reload(data);
}

static void
identity_on_synced(struct st_kube_informer *inf, void *data)
{
    identity_reload(data);
}

static void
identity_on_error(struct st_kube_informer *inf, const struct st_err *err, void *data)
{
    st_log(ST_LOG_WARN, "identity: watching %s: %s",
           inf == ((struct identity *)data)->secrets ? "secrets" : "configmaps", err->msg);
}

static bool
identity_ready(void *arg)
{
    struct identity *id = arg;
    return id->issuer != NULL;
}

/* ---- the serving certificate --------------------------------------------------- */

static void
identity_on_serving_timer(struct st_ev *loop, struct st_ev_timer *t)
{
    identity_serve(t->data);
}

/*
 * Issues the API's serving certificate: from the issuer when there is one,
 * else a self-signed stand-in, so that clients can still be told 503 (a
 * verifying client refuses it and retries). Renewed on rotation and at 70 %.
 */
static void
identity_serve(struct identity *id)
{
    struct controller *c = id->ctl;
    struct identity_issuer *is = id->issuer;
    struct st_err err = {0};
    struct st_tls_ctx *ctx = NULL;
    X509 *leaf = NULL;
    EVP_PKEY *key = st_x509_key_new_p256();
    char host[ST_SOCK_ADDR_STRLEN];
    char *svc = st_xasprintf("strait-controller.%s.svc", c->namespace);
    char *svc_fq = st_xasprintf("strait-controller.%s.svc.cluster.local", c->namespace);
    const char *dns[] = {id->serving_identity, svc, svc_fq, "localhost", NULL};
    const char *ips[] = {"127.0.0.1", NULL, NULL};
    uint64_t next_ms = 60000;

    st_sock_format_addr(api_addr(c->api), host, sizeof(host));
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = '\0';
    if (host[0] == '[') {
        memmove(host, host + 1, strlen(host));
        host[strcspn(host, "]")] = '\0';
    }
    if (strcmp(host, "0.0.0.0") != 0 && strcmp(host, "::") != 0 && strcmp(host, "127.0.0.1") != 0)
        ips[1] = host;
    struct st_x509_issue_req r = {
        .issuer_cert = is ? is->cert : NULL,
        .issuer_key = is ? is->key : key,
        .subject_key = key,
        .cn = strlen(id->serving_identity) <= 64 ? id->serving_identity : NULL,
        .lifetime_s = IDENTITY_SERVING_LIFETIME_S,
        .backdate_s = ST_CERTIFY_LEAF_BACKDATE_S,
        .eku = ST_X509_EKU_SERVER | ST_X509_EKU_CLIENT,
    };
    r.sans.dns = dns;
    r.sans.ips = ips;
    if (key == NULL || st_x509_issue(&r, &leaf, &err) < 0) {
        st_log(ST_LOG_ERROR, "identity: cannot issue the serving certificate: %s; retrying",
               err.msg);
        goto out;
    }
    static const char *const alpn[] = {"http/1.1", NULL};
    struct st_tls_config cfg = {
        .server = true,
        .cert = leaf,
        .chain = is ? is->chain : NULL,
        .key = key,
        .anchors = is ? is->anchors : NULL,
        .verify = is ? ST_TLS_VERIFY_OPTIONAL : ST_TLS_VERIFY_NONE,
        .min_version = ST_TLS_1_2,
        .alpn = alpn,
    };
    if (st_tls_ctx_new(&cfg, &ctx, &err) < 0) {
        st_log(ST_LOG_ERROR, "identity: serving TLS context: %s; retrying", err.msg);
        goto out;
    }
    st_tls_slot_set(api_tls(c->api), ctx);
    struct st_x509_info info = {0};
    if (st_x509_inspect(leaf, &info, NULL) == 0) {
        int64_t at = st_certify_renew_at(info.not_before, info.not_after, st_random_u64());
        int64_t now = st_wall_s();
        next_ms = at > now ? (uint64_t)(at - now) * 1000 : 1000;
    }
    st_x509_info_free(&info);
out:
    st_ev_timer_start(c->loop, &id->serving_timer, next_ms);
    X509_free(leaf);
    EVP_PKEY_free(key);
    free(svc);
    free(svc_fq);
    ERR_clear_error();
}

/* ---- review workers ------------------------------------------------------------- */

/* Runs one TokenReview with the worker's client; fills the job's review fields. */
static void
identity_review(struct st_kube_client **kc, const struct st_kube_config *cfg,
                struct identity_job *job)
{
    struct st_err err = {0};
    json_t *resp = NULL;
    long status = 0;

    if (*kc == NULL) {
        *kc = st_kube_client_new(cfg, &err);
        if (*kc == NULL) {
            job->review_rc = err.code ? err.code : -EIO;
            st_strlcpy(job->review_msg, err.msg, sizeof(job->review_msg));
            return;
        }
        st_kube_client_set_limits(*kc, 2000, IDENTITY_REVIEW_TIMEOUT_MS, 1u << 20);
    }
    json_t *body = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "authentication.k8s.io/v1",
                             "kind", "TokenReview", "spec", "token", job->token);
    if (body == NULL) {
        job->review_rc = ST_EINVAL;
        st_strlcpy(job->review_msg, "cannot build the review", sizeof(job->review_msg));
        return;
    }
    job->review_rc = st_kube_request(*kc, "POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                                     NULL, body, &status, &resp, &err);
    /* jansson kept a copy of the token: wipe it before it is freed. */
    json_t *t = st_json_path(body, "spec.token");
    if (json_is_string(t))
        st_wipe((char *)json_string_value(t), json_string_length(t));
    json_decref(body);
    if (job->review_rc < 0) {
        st_strlcpy(job->review_msg, err.msg, sizeof(job->review_msg));
    } else {
        job->authenticated = st_json_bool_or(resp, "status.authenticated", false);
        const char *u = st_json_str(resp, "status.user.username");
        const char *e = st_json_str(resp, "status.error");
        job->username = u ? st_xstrdup(u) : NULL;
        if (e != NULL)
            st_strlcpy(job->review_msg, e, sizeof(job->review_msg));
    }
    json_decref(resp);
}

static void identity_on_reviewed(void *arg);

static void *
identity_worker(void *arg)
{
    struct identity *id = arg;
    struct st_kube_client *kc = NULL;

    pthread_mutex_lock(&id->lock);
    for (;;) {
        while (id->queue_head == NULL && !id->stop)
            pthread_cond_wait(&id->cond, &id->lock);
        if (id->stop)
            break;
        struct identity_job *job = id->queue_head;
        id->queue_head = job->qnext;
        if (id->queue_head == NULL)
            id->queue_tail = NULL;
        pthread_mutex_unlock(&id->lock);
        identity_review(&kc, id->ctl->kube_cfg, job);
        st_ev_post(id->ctl->loop, identity_on_reviewed, job);
        pthread_mutex_lock(&id->lock);
    }
    pthread_mutex_unlock(&id->lock);
    st_kube_client_free(kc);
    return NULL;
}

/* ---- requests ----------------------------------------------------------------------- */

static void
identity_job_free(struct identity_job *job)
{
    struct identity *id = job->id;

    if (job->prev)
        job->prev->next = job->next;
    else
        id->jobs = job->next;
    if (job->next)
        job->next->prev = job->prev;
    if (job->token)
        st_free_secret(job->token, strlen(job->token));
    st_x509_csr_info_free(&job->csr);
    free(job->username);
    free(job);
}

static void
identity_on_abort(void *arg, struct st_httpd_req *req)
{
    struct identity_job *job = arg;
    job->req = NULL; /* the review finishes; its answer is dropped */
}

static void
identity_count(struct identity *id, const char *result)
{
    const char *values[] = {result};
    st_metrics_counter_inc(st_metrics_series_get(id->m_certify, values), 0);
}

/* Signs the CSR of an authenticated, authorized job and answers it. */
static void
identity_issue(struct identity *id, struct identity_job *job, const char *dns, const char *uri)
{
    struct identity_issuer *is = id->issuer;
    struct st_err err = {0};
    struct st_buf leaf_pem = ST_BUF_INIT(0), body = ST_BUF_INIT(0);
    struct st_x509_info info = {0};
    X509 *leaf = NULL;
    const char *dns_list[] = {dns, NULL};
    const char *uri_list[] = {uri, NULL};
    struct st_x509_issue_req r = {
        .issuer_cert = is->cert,
        .issuer_key = is->key,
        .subject_key = job->csr.key,
        .cn = strlen(dns) <= 64 ? dns : NULL,
        .lifetime_s = id->ctl->workload_cert_lifetime_s > 0 ? id->ctl->workload_cert_lifetime_s
                                                            : ST_CERTIFY_LEAF_LIFETIME_S,
        .backdate_s = ST_CERTIFY_LEAF_BACKDATE_S,
        .eku = ST_X509_EKU_SERVER | ST_X509_EKU_CLIENT,
    };
    r.sans.dns = dns_list;
    r.sans.uris = uri_list;
    if (st_x509_issue(&r, &leaf, &err) < 0 || st_x509_inspect(leaf, &info, &err) < 0 ||
        st_x509_to_pem(leaf, &leaf_pem) < 0 ||
        st_certify_resp_encode(leaf_pem.data, is->chain_pem, info.not_after, &body) < 0) {
        identity_count(id, "unavailable");
        st_log(ST_LOG_ERROR, "identity: cannot issue for %s: %s", dns, err.msg);
        api_error(job->req, 503, 5, "cannot issue: %s", err.msg);
        goto out;
    }
    struct st_http_header hdrs[2] = {
        {ST_STR("Content-Type"), ST_STR("application/json")},
        {ST_STR("Cache-Control"), ST_STR("no-store")},
    };
    st_httpd_respond(job->req, 200, hdrs, 2, body.data, body.len);
    identity_count(id, "issued");
    st_log(ST_LOG_DEBUG, "identity: issued %s serial %s", dns, info.serial_hex);
out:
    job->req = NULL;
    st_x509_info_free(&info);
    X509_free(leaf);
    st_buf_free(&leaf_pem);
    st_buf_free(&body);
    ERR_clear_error();
}

/* Back on the loop thread with the review's verdict. */
static void
identity_on_reviewed(void *arg)
{
    struct identity_job *job = arg;
    struct identity *id = job->id;
    struct controller *c = id->ctl;
    struct st_err err = {0};
    char *ns = NULL, *sa = NULL, *dns = NULL, *uri = NULL;

    id->in_flight--;
    st_metrics_gauge_add(id->m_in_flight, 0, -1);
    if (job->req == NULL)
        goto out;
    st_httpd_req_on_abort(job->req, NULL, NULL);
    if (job->review_rc < 0) {
        identity_count(id, "unavailable");
        st_log(ST_LOG_WARN, "identity: TokenReview failed: %s", job->review_msg);
        api_error(job->req, 503, 5, "token review failed: %s", job->review_msg);
    } else if (!job->authenticated) {
        identity_count(id, "unauthenticated");
        api_error(job->req, 401, 0, "token refused%s%s", job->review_msg[0] ? ": " : "",
                  job->review_msg);
    } else if (st_certify_parse_username(job->username, &ns, &sa) < 0) {
        identity_count(id, "forbidden");
        api_error(job->req, 403, 0, "\"%s\" is not a service account",
                  job->username ? job->username : "");
    } else if ((dns = st_certify_identity_dns(sa, ns, c->trust_domain)) == NULL ||
               (uri = st_certify_identity_uri(sa, ns, c->trust_domain)) == NULL) {
        identity_count(id, "forbidden");
        api_error(job->req, 403, 0, "no identity for %s/%s", ns, sa);
    } else if (st_x509_csr_check_identity(&job->csr, dns, uri, &err) < 0) {
        identity_count(id, "forbidden");
        api_error(job->req, 403, 0, "the CSR does not ask for exactly %s: %s", dns, err.msg);
    } else if (id->issuer == NULL) {
        identity_count(id, "unavailable");
        api_error(job->req, 503, 5, "no issuer yet");
    } else {
        identity_issue(id, job, dns, uri);
    }
    job->req = NULL;
out:
    identity_job_free(job);
    free(ns);
    free(sa);
    free(dns);
    free(uri);
}

static void
identity_on_certify(void *arg, struct st_httpd_req *req)
{
    struct identity *id = arg;
    struct st_certify_req r = {0};
    struct st_err err = {0};
    size_t len;
    const char *body = st_httpd_req_body(req, &len);
    int rc;

    rc = st_certify_req_parse(body, len, &r, &err);
    if (rc == ST_ETOOBIG) {
        identity_count(id, "too_big");
        api_error(req, 413, 0, "%s", err.msg);
        goto out;
    }
    if (rc < 0) {
        identity_count(id, "malformed");
        api_error(req, 400, 0, "%s", err.msg);
        goto out;
    }
    struct identity_job *job = st_xcalloc(1, sizeof(*job));
    job->id = id;
    if (st_x509_csr_parse(r.csr, strlen(r.csr), &job->csr, &err) < 0) {
        free(job);
        identity_count(id, err.code == ST_ETOOBIG ? "too_big" : "malformed");
        api_error(req, err.code == ST_ETOOBIG ? 413 : 400, 0, "csr: %s", err.msg);
        goto out;
    }
    if (id->issuer == NULL || id->in_flight >= IDENTITY_MAX_IN_FLIGHT || id->ctl->stopping) {
        st_x509_csr_info_free(&job->csr);
        free(job);
        identity_count(id, "unavailable");
        api_error(req, 503, id->issuer ? 1 : 5, "%s",
                  id->issuer == NULL  ? "no issuer yet"
                  : id->ctl->stopping ? "shutting down"
                                      : "too many certify requests in flight");
        goto out;
    }
    job->req = req;
    job->token = r.token;
    r.token = NULL;
    job->next = id->jobs;
    if (id->jobs)
        id->jobs->prev = job;
    id->jobs = job;
    id->in_flight++;
    st_metrics_gauge_add(id->m_in_flight, 0, 1);
    st_httpd_req_on_abort(req, identity_on_abort, job);
    pthread_mutex_lock(&id->lock);
    if (id->queue_tail)
        id->queue_tail->qnext = job;
    else
        id->queue_head = job;
    id->queue_tail = job;
    pthread_cond_signal(&id->cond);
    pthread_mutex_unlock(&id->lock);
out:
    st_certify_req_free(&r);
}

/* ---- life ------------------------------------------------------------------------- */

static int
identity_metrics(struct identity *id, struct st_err *err)
{
    struct st_metrics_registry *reg = id->ctl->metrics;
    struct st_metrics_family *f;
    static const char *const result[] = {"result"};
    int rc;

    struct st_metrics_desc d = {ST_METRICS_COUNTER, "identity_certify_total",
                                "Certify requests answered, by result", result, 1};
    if ((rc = st_metrics_family_add(reg, &d, &id->m_certify, err)) < 0)
        return rc;
    d = (struct st_metrics_desc){ST_METRICS_GAUGE, "identity_reviews_in_flight",
                                 "TokenReviews queued or running"};
    if ((rc = st_metrics_family_add(reg, &d, &f, err)) < 0)
        return rc;
    id->m_in_flight = st_metrics_series_get(f, NULL);
    d = (struct st_metrics_desc){ST_METRICS_GAUGE, "identity_issuer_expiry_timestamp_seconds",
                                 "NotAfter of the issuer in use (epoch seconds)"};
    if ((rc = st_metrics_family_add(reg, &d, &f, err)) < 0)
        return rc;
    id->m_issuer_expiry = st_metrics_series_get(f, NULL);
    d = (struct st_metrics_desc){ST_METRICS_COUNTER, "identity_issuer_updates_total",
                                 "Issuers loaded or rotated"};
    if ((rc = st_metrics_family_add(reg, &d, &f, err)) < 0)
        return rc;
    id->m_issuer_updates = st_metrics_series_get(f, NULL);
    d = (struct st_metrics_desc){ST_METRICS_COUNTER, "identity_issuer_refused_total",
                                 "Issuer versions refused (bad key, not chained to the anchors)"};
    if ((rc = st_metrics_family_add(reg, &d, &f, err)) < 0)
        return rc;
    id->m_issuer_refused = st_metrics_series_get(f, NULL);
    return 0;
}

struct identity *
identity_new(struct controller *c, struct st_err *err)
{
    struct identity *id = st_xcalloc(1, sizeof(*id));
    sigset_t all, old;

    id->ctl = c;
    pthread_mutex_init(&id->lock, NULL);
    pthread_cond_init(&id->cond, NULL);
    st_ev_timer_init(&id->serving_timer, identity_on_serving_timer, id);
    id->serving_identity =
        st_certify_identity_dns(c->service_account, c->namespace, c->trust_domain);
    if (id->serving_identity == NULL) {
        st_err_set(err, ST_EINVAL, "no identity for service account %s in %s (trust domain %s)",
                   c->service_account, c->namespace, c->trust_domain);
        goto fail;
    }
    if (identity_metrics(id, err) < 0)
        goto fail;

    struct st_kube_informer_handlers h = {
        .on_add = identity_on_add,
        .on_update = identity_on_update,
        .on_delete = identity_on_add,
        .on_synced = identity_on_synced,
        .on_error = identity_on_error,
        .data = id,
    };
    struct st_kube_informer_opts so = {
        .version = "v1",
        .resource = "secrets",
        .namespace = c->namespace,
        .field_selector = "metadata.name=" IDENTITY_SECRET,
        .max_objects = 16,
    };
    id->secrets = st_kube_informer_new(c->kube, &so, &h, err);
    if (id->secrets == NULL)
        goto fail;
    struct st_kube_informer_opts co = so;
    co.resource = "configmaps";
    co.field_selector = "metadata.name=" IDENTITY_CONFIGMAP;
    id->configmaps = st_kube_informer_new(c->kube, &co, &h, err);
    if (id->configmaps == NULL)
        goto fail;

    /* Workers take no signals: the loop thread handles them. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (; id->n_workers < IDENTITY_WORKERS; id->n_workers++)
        if (pthread_create(&id->workers[id->n_workers], NULL, identity_worker, id) != 0)
            break;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (id->n_workers == 0) {
        st_err_set(err, -EAGAIN, "cannot start review workers");
        goto fail;
    }

    identity_serve(id);
    api_route(c->api, "POST", ST_CERTIFY_PATH, identity_on_certify, id);
    admin_check(c->admin, "identity issuer", identity_ready, id);
    return id;
fail:
    identity_free(id);
    return NULL;
}

void
identity_free(struct identity *id)
{
    if (id == NULL)
        return;
    pthread_mutex_lock(&id->lock);
    id->stop = true;
    pthread_cond_broadcast(&id->cond);
    pthread_mutex_unlock(&id->lock);
    for (size_t i = 0; i < id->n_workers; i++)
        pthread_join(id->workers[i], NULL);
    /* Results the workers posted are never run once the loop stopped: free every job here. */
    while (id->jobs != NULL)
        identity_job_free(id->jobs);
    if (id->ctl->loop)
        st_ev_timer_stop(id->ctl->loop, &id->serving_timer);
    st_kube_informer_free(id->secrets);
    st_kube_informer_free(id->configmaps);
    identity_issuer_free(id->issuer);
    free(id->seen_versions);
    free(id->serving_identity);
    pthread_mutex_destroy(&id->lock);
    pthread_cond_destroy(&id->cond);
    free(id);
}
