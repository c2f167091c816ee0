/*
 * strait-apiserver: the embedded, Kubernetes-compatible API server.
 *
 *   strait-apiserver --data-dir DIR --listen ADDR:PORT --write-kubeconfig FILE
 *                    [--context NAME] [--service-cidr CIDR] [--tls-san NAME]...
 *                    [--event-window N]   (events kept for watch resumption; default 10,000)
 *
 * On first start it creates, under DIR (mode 0700): the serving CA (ca.crt,
 * ca.key), the admin token (admin.token) and the SQLite store (store.db). At
 * every start it issues a fresh serving certificate for the listen address
 * from that CA, writes (merges) the admin kubeconfig, and prints one line
 * "strait-apiserver ready on https://ADDR:PORT" when it accepts requests.
 *
 * This file is the HTTPS glue: it feeds each request to api_handle (api.h)
 * and streams watches. One loop thread does everything.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "api.h"
#include "auth.h"
#include "kubeconfig.h"
#include "store.h"
#include "strait/core.h"
#include "strait/ev.h"
#include "strait/httpd.h"
#include "strait/sock.h"
#include "strait/tls.h"
#include "strait/x509.h"

#define MAIN_MAX_SANS 16

struct main_opts {
    const char *data_dir;
    const char *listen;
    const char *kubeconfig;
    const char *context;
    const char *service_cidr;
    size_t event_window;
    const char *sans[MAIN_MAX_SANS + 1];
    size_t n_sans;
    uint32_t shutdown_grace_ms;
};

struct server;

/* One watch stream: the HTTP request it answers and the API watch feeding it. */
struct main_watch {
    struct server *srv;
    struct st_httpd_req *req;
    struct api_watch *watch;
    struct main_watch *prev, *next;
};

/*
 * A response held until the batch holding its write is committed: writes that
 * arrive in one turn of the loop share one SQLite transaction (one fsync), and
 * none is acknowledged before that commit.
 */
struct main_held {
    struct server *srv;
    struct st_httpd_req *req;
    int status;
    const char *content_type;
    struct st_buf body;
    struct main_held *next;
};

struct server {
    struct st_ev *loop;
    struct st_httpd *httpd;
    struct st_tls_slot tls;
    struct store *store;
    struct auth *auth;
    struct api *api;
    struct st_ev_timer tick;
    struct st_ev_timer drain;
    struct main_watch *watches;
    struct st_ev_defer commit;  /* commits the open batch after this turn's requests */
    bool batch_open;
    struct main_held *held;     /* responses waiting for the commit, in arrival order */
    struct main_held **held_tail;
    uint64_t drain_deadline;
    bool stopping;
};

static void
main_usage(FILE *f)
{
    fprintf(f, "usage: strait-apiserver --data-dir DIR [--listen ADDR:PORT] "
               "[--write-kubeconfig FILE] [--context NAME] [--service-cidr CIDR] "
               "[--tls-san NAME]... [--event-window N]\n");
}

/* ---- state on disk ---------------------------------------------------------- */

/* Loads the serving CA from DIR, creating it on first start. */
static int
main_load_ca(const char *dir, X509 **ca, EVP_PKEY **key, struct st_err *err)
{
    char *crt = st_xasprintf("%s/ca.crt", dir);
    char *kf = st_xasprintf("%s/ca.key", dir);
    struct st_buf b = ST_BUF_INIT(1u << 20);
    int rc;

    if (access(crt, F_OK) == 0) {
        rc = st_file_read(crt, &b);
        if (rc == 0)
            rc = st_x509_from_pem(b.data, b.len, ca, err);
        else
            st_err_set(err, rc, "cannot read %s: %s", crt, st_strerror(rc));
        if (rc == 0)
            rc = st_x509_key_read_file(kf, key, err);
        goto out;
    }
    /* Ten years: this CA only ever signs this apiserver's serving certificates. */
    rc = st_x509_ca_new("strait-apiserver-ca", 10 * 365 * 86400LL, ca, key, err);
    if (rc == 0)
        rc = st_x509_key_write_file(kf, *key, false, err);
    if (rc == 0)
        rc = st_x509_write_pem_file(crt, *ca, NULL, 0644, err);
out:
    st_buf_free(&b);
    free(crt);
    free(kf);
    return rc;
}

/* Loads the admin token from DIR/admin.token, creating it on first start. */
static char *
main_load_token(const char *dir, struct st_err *err)
{
    char *path = st_xasprintf("%s/admin.token", dir);
    struct st_buf b = ST_BUF_INIT(4096);
    char *token = NULL;
    int rc = st_file_read(path, &b);

    if (rc == 0) {
        while (b.len > 0 && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
            b.len--;
        if (b.len < 16) {
            st_err_set(err, ST_EINVAL, "%s holds no usable token", path);
            goto out;
        }
        token = st_xstrndup(b.data, b.len);
    } else if (rc == -ENOENT) {
        unsigned char raw[32];
        st_random_bytes(raw, sizeof(raw));
        char *t = st_base64_encode(raw, sizeof(raw));
        st_wipe(raw, sizeof(raw));
        /* base64url without padding, as service-account tokens are. */
        for (char *p = t; *p; p++)
            *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
        t[strcspn(t, "=")] = '\0';
        rc = st_file_write_atomic(path, t, strlen(t), 0600);
        if (rc < 0) {
            st_err_set(err, rc, "cannot write %s: %s", path, st_strerror(rc));
            st_free_secret(t, strlen(t));
            goto out;
        }
        token = t;
    } else {
        st_err_set(err, rc, "cannot read %s: %s", path, st_strerror(rc));
    }
out:
    st_buf_free_secret(&b);
    free(path);
    return token;
}

/*
 * Issues the serving certificate for this start: SANs for the listen address
 * (127.0.0.1 when it listens on all addresses), localhost and any --tls-san.
 */
static struct st_tls_ctx *
main_serving_ctx(const struct main_opts *o, const struct st_sockaddr *bound, X509 *ca,
                 EVP_PKEY *ca_key, struct st_err *err)
{
    char host[64];
    const char *ips[4] = {"127.0.0.1", NULL, NULL, NULL};
    const char *dns[MAIN_MAX_SANS + 3] = {"localhost", "strait-apiserver"};
    size_t nd = 2, ni = 1;
    struct st_tls_ctx *ctx = NULL;
    X509 *leaf = NULL;
    EVP_PKEY *key = st_x509_key_new_p256();
    STACK_OF(X509) *chain = sk_X509_new_null();

    st_sock_format_addr(bound, host, sizeof(host));
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = '\0';
    if (host[0] == '[') { /* "[::1]" */
        memmove(host, host + 1, strlen(host));
        host[strcspn(host, "]")] = '\0';
    }
    if (strcmp(host, "0.0.0.0") != 0 && strcmp(host, "::") != 0 && strcmp(host, "127.0.0.1") != 0)
        ips[ni++] = host;
    for (size_t i = 0; i < o->n_sans; i++) {
        struct st_sockaddr tmp;
        char probe[300];
        snprintf(probe, sizeof(probe), "%s:1", o->sans[i]);
        if (st_sock_parse_addr(probe, &tmp) == 0 && ni < 3)
            ips[ni++] = o->sans[i];
        else
            dns[nd++] = o->sans[i];
    }
    struct st_x509_issue_req r = {
        .issuer_cert = ca, .issuer_key = ca_key, .subject_key = key, .cn = "strait-apiserver",
        .lifetime_s = 365 * 86400LL, .backdate_s = 60, .eku = ST_X509_EKU_SERVER,
    };
    r.sans.dns = dns;
    r.sans.ips = ips;
    if (st_x509_issue(&r, &leaf, err) < 0)
        goto out;
    X509_up_ref(ca);
    sk_X509_push(chain, ca);
    static const char *const alpn[] = {"http/1.1", NULL};
    struct st_tls_config cfg = {
        .server = true, .cert = leaf, .chain = chain, .key = key,
        .verify = ST_TLS_VERIFY_NONE, .min_version = ST_TLS_1_2, .alpn = alpn,
    };
    if (st_tls_ctx_new(&cfg, &ctx, err) < 0)
        ctx = NULL;
out:
    X509_free(leaf);
    EVP_PKEY_free(key);
    st_x509_chain_free(chain);
    return ctx;
}

/* ---- watches ---------------------------------------------------------------- */

static void
main_watch_free(struct main_watch *mw)
{
    struct server *s = mw->srv;

    api_watch_free(mw->watch);
    mw->watch = NULL;
    if (mw->prev)
        mw->prev->next = mw->next;
    else
        s->watches = mw->next;
    if (mw->next)
        mw->next->prev = mw->prev;
    free(mw);
}

static int
main_watch_data(void *arg, const char *p, size_t n)
{
    struct main_watch *mw = arg;
    return st_httpd_stream_write(mw->req, p, n) < 0 ? -1 : 0;
}

/* The API ended the watch: finish the chunked response. */
static void
main_watch_end(void *arg)
{
    struct main_watch *mw = arg;

    st_httpd_stream_end(mw->req);
    main_watch_free(mw);
}

/* The client went away. */
static void
main_watch_abort(void *arg, struct st_httpd_req *req)
{
    main_watch_free(arg);
}

static const struct api_watch_sink main_sink = {main_watch_data, main_watch_end};

/* ---- group commit ----------------------------------------------------------- */

static struct st_http_header main_hdrs[2] = {
    {ST_STR("Content-Type"), ST_STR("application/json")},
    {ST_STR("Cache-Control"), ST_STR("no-cache, private")},
};

static void
main_send(struct st_httpd_req *req, int status, const char *content_type, const char *body,
          size_t len)
{
    struct st_http_header hdrs[2] = {main_hdrs[0], main_hdrs[1]};

    hdrs[0].value = st_str_c(content_type ? content_type : "application/json");
    st_httpd_respond(req, status, hdrs, 2, body ? body : "", len);
}

/* The client of a held response left: forget the response. */
static void
main_held_abort(void *arg, struct st_httpd_req *req)
{
    struct main_held *h = arg;
    h->req = NULL;
}

/*
 * Commits the open batch and releases the held responses: as they were when
 * the commit succeeded, or as a 500 Status when it failed (nothing of the
 * batch was stored then).
 */
static void
main_commit(struct server *s)
{
    struct st_err err = {0};
    int rc;

    if (!s->batch_open)
        return;
    s->batch_open = false;
    st_ev_defer_cancel(s->loop, &s->commit);
    rc = store_commit(s->store, &err);
    if (rc < 0)
        st_log(ST_LOG_ERROR, "commit failed, %s", err.msg);
    while (s->held != NULL) {
        struct main_held *h = s->held;
        s->held = h->next;
        if (h->req != NULL) {
            st_httpd_req_on_abort(h->req, NULL, NULL);
            if (rc == 0) {
                main_send(h->req, h->status, h->content_type, h->body.data, h->body.len);
            } else {
                static const char fail[] =
                    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":"
                    "\"Failure\",\"message\":\"the write could not be committed\",\"reason\":"
                    "\"InternalError\",\"code\":500}";
                main_send(h->req, 500, "application/json", fail, sizeof(fail) - 1);
            }
        }
        st_buf_free(&h->body);
        free(h);
    }
    s->held_tail = &s->held;
}

static void
main_on_commit(struct st_ev *loop, struct st_ev_defer *d)
{
    main_commit(d->data);
}

/* True for requests that may write; they join the loop turn's batch. */
static bool
main_may_write(const struct st_http1_request *h)
{
    return h->method_id == ST_HTTP_POST || h->method_id == ST_HTTP_PUT ||
           h->method_id == ST_HTTP_PATCH || h->method_id == ST_HTTP_DELETE;
}

/* ---- requests --------------------------------------------------------------- */

/* Joins the values of every header named <name> with ','; NULL when there is none. */
static char *
main_header_all(struct st_httpd_req *req, const char *name)
{
    const struct st_http1_request *h = st_httpd_req_head(req);
    struct st_buf b = ST_BUF_INIT(64 * 1024);
    size_t i = 0;
    bool any = false;

    while ((i = st_http_header_find(h->headers, h->num_headers, st_str_c(name), i)) <
           h->num_headers) {
        if ((any && st_buf_append(&b, ",", 1) < 0) ||
            st_buf_append(&b, h->headers[i].value.p, h->headers[i].value.n) < 0)
            break;
        any = true;
        i++;
    }
    if (!any) {
        st_buf_free(&b);
        return NULL;
    }
    return st_buf_steal(&b);
}

/* Copies a header's value into a new C string, or NULL when absent. */
static char *
main_header(struct st_httpd_req *req, const char *name)
{
    struct st_str v = st_httpd_req_header(req, name);
    return v.p ? st_str_dup(v) : NULL;
}

static void
main_handle(void *arg, struct st_httpd_req *req)
{
    struct server *s = arg;
    const struct st_http1_request *h = st_httpd_req_head(req);
    struct api_response resp = {0};
    struct api_request ar = {0};
    char *method = st_str_dup(h->method);
    char *path = st_str_dup(h->path);
    char *query = h->query.p ? st_str_dup(h->query) : NULL;
    char *ctype = main_header(req, "Content-Type");
    char *accept = main_header(req, "Accept");
    char *agent = main_header(req, "User-Agent");
    char *authz = main_header(req, "Authorization");
    char *as_user = main_header(req, "Impersonate-User");
    char *as_groups = main_header_all(req, "Impersonate-Group");
    char *token = NULL;

    if (authz != NULL && strncasecmp(authz, "Bearer ", 7) == 0) {
        struct st_str t = st_str_trim(st_str_c(authz + 7));
        token = st_str_dup(t);
    }
    ar.method = method;
    ar.path = path;
    ar.query = query;
    ar.content_type = ctype;
    ar.accept = accept;
    ar.bearer_token = token;
    ar.user_agent = agent;
    ar.impersonate_user = as_user;
    ar.impersonate_groups = as_groups;
    ar.body = st_httpd_req_body(req, &ar.body_len);
    /* Reads never see writes that are not committed yet. */
    if (!main_may_write(h))
        main_commit(s);
    else if (!s->batch_open && !s->stopping) {
        struct st_err err = {0};
        if (store_begin(s->store, &err) == 0) {
            s->batch_open = true;
            st_ev_defer_schedule(s->loop, &s->commit);
        } else {
            st_log(ST_LOG_WARN, "cannot open a batch, writing alone: %s", err.msg);
        }
    }
    api_handle(s->api, &ar, &resp);
    /*
     * The API layer ends every batch it opens. Were one left open, every later
     * write would sit in an uncommitted transaction and watchers would hear of
     * nothing: roll the stray one back loudly rather than lose writes quietly.
     */
    while (store_batch_depth(s->store) > (s->batch_open ? 1u : 0u)) {
        st_log(ST_LOG_ERROR, "bug: %s %s left a store batch open; rolled back", method, path);
        store_rollback(s->store);
    }

    struct st_http_header hdrs[2] = {main_hdrs[0], main_hdrs[1]};
    hdrs[0].value = st_str_c(resp.content_type ? resp.content_type : "application/json");
    if (resp.watch == NULL && s->batch_open) {
        struct main_held *held = st_xcalloc(1, sizeof(*held));
        held->srv = s;
        held->req = req;
        held->status = resp.status;
        held->content_type = resp.content_type;
        held->body = resp.body;
        st_buf_init(&resp.body, 0);
        *s->held_tail = held;
        s->held_tail = &held->next;
        st_httpd_req_on_abort(req, main_held_abort, held);
    } else if (resp.watch == NULL) {
        st_httpd_respond(req, resp.status, hdrs, 2, resp.body.data ? resp.body.data : "",
                         resp.body.len);
    } else if (s->stopping || st_httpd_stream_begin(req, resp.status, hdrs, 2) < 0) {
        api_response_clear(&resp);
        st_httpd_respond_simple(req, 503, "text/plain", "shutting down\n", 14);
    } else {
        struct main_watch *mw = st_xcalloc(1, sizeof(*mw));
        mw->srv = s;
        mw->req = req;
        mw->watch = resp.watch;
        resp.watch = NULL;
        mw->next = s->watches;
        if (s->watches)
            s->watches->prev = mw;
        s->watches = mw;
        st_httpd_req_on_abort(req, main_watch_abort, mw);
        if (resp.body.len == 0 || st_httpd_stream_write(req, resp.body.data, resp.body.len) == 0)
            api_watch_start(mw->watch, &main_sink, mw); /* may end it at once */
        else
            main_watch_end(mw);
    }
    api_response_clear(&resp);
    if (authz)
        st_wipe(authz, strlen(authz));
    if (token)
        st_wipe(token, strlen(token));
    free(method);
    free(path);
    free(query);
    free(ctype);
    free(accept);
    free(agent);
    free(authz);
    free(token);
    free(as_user);
    free(as_groups);
}

/* Errors httpd answers by itself (bad framing, oversized bodies) as Kubernetes Status. */
static int
main_error_body(void *arg, int status, const char *reason, struct st_buf *out,
                const char **content_type)
{
    const char *why = status == 413 ? "RequestEntityTooLarge" : status == 431 ? "BadRequest"
                      : status >= 500                         ? "InternalError"
                                                              : "BadRequest";
    json_t *st = json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:i}", "kind", "Status", "apiVersion",
                           "v1", "metadata", "status", "Failure", "message", reason, "reason", why,
                           "code", status);
    char *text = st ? json_dumps(st, JSON_COMPACT) : NULL;
    int rc = text ? st_buf_append_str(out, text) : -ENOMEM;

    free(text);
    json_decref(st);
    *content_type = "application/json";
    return rc;
}

/* ---- life ------------------------------------------------------------------- */

static void
main_on_tick(struct st_ev *loop, struct st_ev_timer *t)
{
    struct server *s = t->data;
    api_tick(s->api, st_now_ms());
    st_ev_timer_start(loop, t, 1000);
}

/* Stops the loop once every connection is gone or the grace period is over. */
static void
main_on_drain(struct st_ev *loop, struct st_ev_timer *t)
{
    struct server *s = t->data;

    if (st_httpd_conn_count(s->httpd) == 0 || st_now_ms() >= s->drain_deadline)
        st_ev_stop(loop);
    else
        st_ev_timer_start(loop, t, 50);
}

static void
main_on_signal(struct st_ev *loop, int signo, void *data)
{
    struct server *s = data;

    if (s->stopping)
        return;
    s->stopping = true;
    st_log(ST_LOG_INFO, "signal %d: draining", signo);
    main_commit(s);
    /* Watches end cleanly so clients see a finished stream, then relist elsewhere. */
    while (s->watches != NULL)
        main_watch_end(s->watches);
    st_httpd_shutdown(s->httpd);
    s->drain_deadline = st_now_ms() + 2000;
    st_ev_timer_start(loop, &s->drain, 0);
}

static int
main_parse(int argc, char **argv, struct main_opts *o)
{
    static const struct option opts[] = {
        {"data-dir", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"write-kubeconfig", required_argument, NULL, 'k'},
        {"context", required_argument, NULL, 'c'},
        {"service-cidr", required_argument, NULL, 's'},
        {"tls-san", required_argument, NULL, 't'},
        {"event-window", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    o->listen = "127.0.0.1:6443";
    o->context = "default";
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o->data_dir = optarg; break;
        case 'l': o->listen = optarg; break;
        case 'k': o->kubeconfig = optarg; break;
        case 'c': o->context = optarg; break;
        case 's': o->service_cidr = optarg; break;
        case 't':
            if (o->n_sans == MAIN_MAX_SANS) {
                fprintf(stderr, "strait-apiserver: at most %d --tls-san\n", MAIN_MAX_SANS);
                return -1;
            }
            o->sans[o->n_sans++] = optarg;
            break;
        case 'w': {
            uint64_t v;
            if (st_parse_u64(st_str_c(optarg), 10000000, &v) < 0 || v < 10) {
                fprintf(stderr, "strait-apiserver: --event-window takes 10..10000000\n");
                return -1;
            }
            o->event_window = (size_t)v;
            break;
        }
        case 'h': main_usage(stdout); exit(0);
        default: main_usage(stderr); return -1;
        }
    }
    if (optind != argc || o->data_dir == NULL) {
        main_usage(stderr);
        return -1;
    }
    if (!st_dns1123_subdomain(o->context)) {
        fprintf(stderr, "strait-apiserver: --context must be a DNS-1123 name\n");
        return -1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    struct main_opts o = {0};
    struct server s = {0};
    struct st_err err = {0};
    X509 *ca = NULL;
    EVP_PKEY *ca_key = NULL;
    char *token = NULL;
    char *dbpath = NULL;
    struct st_buf ca_pem = ST_BUF_INIT(0);
    int rc = 1;

    signal(SIGPIPE, SIG_IGN);
    st_log_init("strait-apiserver", ST_LOG_INFO);
    if (main_parse(argc, argv, &o) < 0)
        return 2;
    umask(077);
    if (st_mkdir_p(o.data_dir, 0700) < 0) {
        st_log(ST_LOG_ERROR, "cannot create %s: %s", o.data_dir, strerror(errno));
        return 1;
    }
    if (main_load_ca(o.data_dir, &ca, &ca_key, &err) < 0 ||
        (token = main_load_token(o.data_dir, &err)) == NULL) {
        st_log(ST_LOG_ERROR, "%s", err.msg);
        goto out;
    }
    st_x509_to_pem(ca, &ca_pem);

    dbpath = st_xasprintf("%s/store.db", o.data_dir);
    struct store_options so = {.event_window = o.event_window};
    s.store = store_open(dbpath, &so, &err);
    if (s.store == NULL) {
        st_log(ST_LOG_ERROR, "store %s: %s", dbpath, err.msg);
        goto out;
    }
    s.auth = auth_new(s.store, token, st_buf_cstr(&ca_pem), &err);
    if (s.auth == NULL) {
        st_log(ST_LOG_ERROR, "auth: %s", err.msg);
        goto out;
    }
    struct api_options ao = {.service_cidr = o.service_cidr};
    s.api = api_new(s.store, s.auth, &ao, &err);
    if (s.api == NULL) {
        st_log(ST_LOG_ERROR, "api: %s", err.msg);
        goto out;
    }
    s.loop = st_ev_new(&err);
    if (s.loop == NULL) {
        st_log(ST_LOG_ERROR, "loop: %s", err.msg);
        goto out;
    }
    st_tls_slot_init(&s.tls);
    struct st_httpd_options ho = {.listen = o.listen, .tls = &s.tls,
                                  .max_body = 3u << 20, .max_conns = 2048,
                                  .error_body = main_error_body};
    s.httpd = st_httpd_new(s.loop, &ho, main_handle, &s, &err);
    if (s.httpd == NULL) {
        st_log(ST_LOG_ERROR, "listen %s: %s", o.listen, err.msg);
        goto out;
    }
    struct st_tls_ctx *ctx = main_serving_ctx(&o, st_httpd_addr(s.httpd), ca, ca_key, &err);
    if (ctx == NULL) {
        st_log(ST_LOG_ERROR, "serving certificate: %s", err.msg);
        goto out;
    }
    st_tls_slot_set(&s.tls, ctx);

    char addr[80], url[100];
    st_sock_format_addr(st_httpd_addr(s.httpd), addr, sizeof(addr));
    if (strncmp(addr, "0.0.0.0:", 8) == 0)
        snprintf(url, sizeof(url), "https://127.0.0.1:%s", addr + 8);
    else
        snprintf(url, sizeof(url), "https://%s", addr);
    if (o.kubeconfig != NULL) {
        char *ca_b64 = st_base64_encode(ca_pem.data, ca_pem.len);
        struct kubeconfig_entry ke = {.context = o.context, .server = url,
                                      .ca_data_b64 = ca_b64, .token = token};
        int krc = kubeconfig_write(o.kubeconfig, &ke, &err);
        free(ca_b64);
        if (krc < 0) {
            st_log(ST_LOG_ERROR, "%s", err.msg);
            goto out;
        }
    }
    st_ev_defer_init(&s.commit, main_on_commit, &s);
    s.held_tail = &s.held;
    st_ev_timer_init(&s.tick, main_on_tick, &s);
    st_ev_timer_start(s.loop, &s.tick, 1000);
    st_ev_timer_init(&s.drain, main_on_drain, &s);
    st_ev_signal_add(s.loop, SIGTERM, main_on_signal, &s);
    st_ev_signal_add(s.loop, SIGINT, main_on_signal, &s);

    printf("strait-apiserver ready on %s (context %s)\n", url, o.context);
    fflush(stdout);
    st_log(ST_LOG_INFO, "serving %s, data in %s", url, o.data_dir);
    st_ev_run(s.loop);
    rc = 0;
out:
    if (s.loop)
        main_commit(&s);
    while (s.watches != NULL)
        main_watch_free(s.watches);
    st_httpd_free(s.httpd);
    api_free(s.api);
    auth_free(s.auth);
    store_close(s.store);
    if (s.loop) {
        st_tls_slot_fini(&s.tls);
        st_ev_free(s.loop);
    }
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    if (token)
        st_free_secret(token, strlen(token));
    st_buf_free(&ca_pem);
    free(dbpath);
    return rc;
}
