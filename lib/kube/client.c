/*
 * The blocking side of the API client: per-request easy handles carrying the
 * config's TLS material and credentials, Status bodies turned into errors,
 * and the convenience wrappers (get, paginated list, create, update, patch,
 * delete, path building).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

#define CLIENT_USER_AGENT "strait/0.1"
#define CLIENT_DEFAULT_CONNECT_MS 10000
#define CLIENT_DEFAULT_TOTAL_MS 60000
#define CLIENT_DEFAULT_MAX_RESPONSE ((size_t)64 << 20)
#define CLIENT_LIST_DEFAULT_LIMIT 500
#define CLIENT_LIST_DEFAULT_MAX_ITEMS 1000000
#define CLIENT_MAX_PAGES 100000

/*
 * libcurl needs one global initialization before any handle exists; it is
 * thread-safe only since 7.84, so it is guarded by a once-flag. This is the
 * one piece of process-wide state in lib/kube.
 */
static pthread_once_t client_curl_once = PTHREAD_ONCE_INIT;

static void
client_curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int
kube_escape(struct st_buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int rc;
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~' || *p == ':') {
            rc = st_buf_append(out, p, 1);
        } else {
            char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            rc = st_buf_append(out, enc, 3);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

/*
 * Splits a server URL into scheme, host (brackets kept for IPv6), port and
 * path prefix, so that a tls-server-name can stand in for the host while
 * CURLOPT_CONNECT_TO still dials the real address. Returns 0 or ST_EINVAL.
 */
static int
client_split_url(const char *url, struct st_str *scheme, struct st_str *host, uint64_t *port,
                 const char **rest)
{
    const char *p = strstr(url, "://");
    if (p == NULL)
        return ST_EINVAL;
    *scheme = (struct st_str){url, (size_t)(p - url)};
    const char *h = p + 3;
    const char *end = h + strcspn(h, "/?#");
    const char *colon = NULL;
    if (*h == '[') {
        const char *rb = memchr(h, ']', (size_t)(end - h));
        if (rb == NULL)
            return ST_EINVAL;
        if (rb + 1 < end && rb[1] == ':')
            colon = rb + 1;
        else if (rb + 1 != end)
            return ST_EINVAL;
    } else {
        colon = memchr(h, ':', (size_t)(end - h));
    }
    *host = (struct st_str){h, (size_t)((colon ? colon : end) - h)};
    if (host->n == 0 || memchr(h, '@', (size_t)(end - h)) != NULL)
        return ST_EINVAL;
    if (colon != NULL) {
        if (st_parse_u64((struct st_str){colon + 1, (size_t)(end - colon - 1)}, 65535, port) < 0 ||
            *port == 0)
            return ST_EINVAL;
    } else {
        *port = st_str_eq_c(*scheme, "https") ? 443 : 80;
    }
    *rest = end;
    return 0;
}

static int
client_valid_token(const struct st_buf *t)
{
    for (size_t i = 0; i < t->len; i++)
        if ((unsigned char)t->data[i] <= ' ' || (unsigned char)t->data[i] >= 0x7f)
            return 0;
    return 1;
}

struct st_kube_client *
st_kube_client_new(const struct st_kube_config *cfg, struct st_err *err)
{
    struct st_kube_client *c;
    struct st_str scheme, host;
    uint64_t port;
    const char *rest;

    pthread_once(&client_curl_once, client_curl_init);
    if (cfg == NULL || cfg->server == NULL ||
        client_split_url(cfg->server, &scheme, &host, &port, &rest) < 0) {
        st_err_set(err, ST_EINVAL, "kube client: bad server URL");
        return NULL;
    }
    c = st_xcalloc(1, sizeof(*c));
    c->server = st_xstrdup(cfg->server);
    c->namespace = st_xstrdup(cfg->namespace ? cfg->namespace : "default");
    c->insecure = cfg->insecure;
    if (cfg->tls_server_name != NULL) {
        c->tls_server_name = st_xstrdup(cfg->tls_server_name);
        /* The URL names the TLS name (for SNI and verification); we dial the real host. */
        c->url_base = st_xasprintf(ST_STR_FMT "://%s:%llu%s", ST_STR_ARG(scheme),
                                   cfg->tls_server_name, (unsigned long long)port, rest);
        c->connect_to =
            st_xasprintf("%s:%llu:" ST_STR_FMT ":%llu", cfg->tls_server_name,
                         (unsigned long long)port, ST_STR_ARG(host), (unsigned long long)port);
    } else {
        c->url_base = st_xstrdup(cfg->server);
    }
    st_buf_init(&c->ca_pem, KUBE_MAX_PEM);
    st_buf_init(&c->cert_pem, KUBE_MAX_PEM);
    st_buf_init(&c->key_pem, KUBE_MAX_PEM);
    st_buf_init(&c->token, KUBE_MAX_TOKEN);
    if (st_buf_append(&c->ca_pem, cfg->ca_pem.data, cfg->ca_pem.len) < 0 ||
        st_buf_append(&c->cert_pem, cfg->cert_pem.data, cfg->cert_pem.len) < 0 ||
        st_buf_append(&c->key_pem, cfg->key_pem.data, cfg->key_pem.len) < 0 ||
        st_buf_append(&c->token, cfg->token.data, cfg->token.len) < 0)
        goto fail;
    if (!client_valid_token(&c->token)) {
        st_err_set(err, ST_EINVAL, "kube client: the token holds spaces or control characters");
        goto fail;
    }
    if (cfg->token_file != NULL)
        c->token_file = st_xstrdup(cfg->token_file);
    c->connect_ms = CLIENT_DEFAULT_CONNECT_MS;
    c->total_ms = CLIENT_DEFAULT_TOTAL_MS;
    c->max_response = CLIENT_DEFAULT_MAX_RESPONSE;
    return c;

fail:
    if (err != NULL && err->code == 0)
        st_err_set(err, ST_ETOOBIG, "kube client: credentials too large");
    st_kube_client_free(c);
    return NULL;
}

void
st_kube_client_set_limits(struct st_kube_client *c, uint64_t connect_ms, uint64_t total_ms,
                          size_t max_response)
{
    if (connect_ms)
        c->connect_ms = connect_ms;
    if (total_ms)
        c->total_ms = total_ms;
    if (max_response)
        c->max_response = max_response;
}

const char *
st_kube_client_namespace(const struct st_kube_client *c)
{
    return c->namespace;
}

/*
 * Re-reads the token file when its identity (inode, size, mtime) changed, as
 * kubelet rotates projected service-account tokens. A failed read keeps the
 * last good token.
 */
static void
client_refresh_token(struct st_kube_client *c)
{
    struct stat st;

    if (c->token_file == NULL || stat(c->token_file, &st) < 0)
        return;
    if (c->tf_loaded && st.st_ino == c->tf_ino && st.st_dev == c->tf_dev &&
        st.st_size == c->tf_size && st.st_mtim.tv_sec == c->tf_mtime.tv_sec &&
        st.st_mtim.tv_nsec == c->tf_mtime.tv_nsec)
        return;
    struct st_buf t = ST_BUF_INIT(KUBE_MAX_TOKEN);
    if (st_file_read(c->token_file, &t) == 0) {
        while (t.len > 0 && strchr(" \t\r\n", t.data[t.len - 1]) != NULL)
            t.data[--t.len] = '\0';
        if (t.len > 0 && client_valid_token(&t)) {
            st_buf_free_secret(&c->token);
            c->token = t;
            t = (struct st_buf)ST_BUF_INIT(0);
            c->tf_loaded = true;
            c->tf_ino = st.st_ino;
            c->tf_dev = st.st_dev;
            c->tf_size = st.st_size;
            c->tf_mtime = st.st_mtim;
        }
    }
    st_buf_free_secret(&t);
}

int
kube_client_setup_easy(struct st_kube_client *c, CURL *h, const char *path_and_query,
                       struct curl_slist **headers, struct curl_slist **connect_to, bool streaming,
                       struct st_err *err)
{
    *headers = NULL;
    *connect_to = NULL;
    if (path_and_query[0] != '/')
        return st_err_set(err, ST_EINVAL, "kube: path must start with '/'");
    char *url = st_xasprintf("%s%s", c->url_base, path_and_query);
    curl_easy_setopt(h, CURLOPT_URL, url);
    free(url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_ms);
    if (!streaming)
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->total_ms);
    curl_easy_setopt(h, CURLOPT_USERAGENT, CLIENT_USER_AGENT);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    if (c->connect_to != NULL) {
        *connect_to = curl_slist_append(NULL, c->connect_to);
        curl_easy_setopt(h, CURLOPT_CONNECT_TO, *connect_to);
    }
    if (c->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (c->ca_pem.len > 0) {
        /* NOCOPY: the PEM stays in the client, which outlives its handles, and is wiped there. */
        struct curl_blob ca = {c->ca_pem.data, c->ca_pem.len, CURL_BLOB_NOCOPY};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
    }
    if (c->cert_pem.len > 0) {
        struct curl_blob cert = {c->cert_pem.data, c->cert_pem.len, CURL_BLOB_NOCOPY};
        struct curl_blob key = {c->key_pem.data, c->key_pem.len, CURL_BLOB_NOCOPY};
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert);
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
        curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key);
    }

    struct curl_slist *hdrs = curl_slist_append(NULL, "Accept: application/json");
    client_refresh_token(c);
    if (c->token.len > 0) {
        struct st_buf a = ST_BUF_INIT(KUBE_MAX_TOKEN + 64);
        if (st_buf_appendf(&a, "Authorization: Bearer %s", st_buf_cstr(&c->token)) == 0)
            hdrs = curl_slist_append(hdrs, st_buf_cstr(&a));
        st_buf_free_secret(&a);
    }
    /* Keep curl from sending "Expect: 100-continue" on larger bodies. */
    hdrs = curl_slist_append(hdrs, "Expect:");
    *headers = hdrs;
    return 0;
}

void
st_kube_client_free(struct st_kube_client *c)
{
    if (c == NULL)
        return;
    kube_multi_free(c);
    if (c->easy != NULL)
        curl_easy_cleanup(c->easy);
    c->easy = NULL;
    free(c->server);
    free(c->namespace);
    free(c->tls_server_name);
    free(c->connect_to);
    free(c->url_base);
    free(c->token_file);
    st_buf_free(&c->ca_pem);
    st_buf_free(&c->cert_pem);
    st_buf_free_secret(&c->key_pem);
    st_buf_free_secret(&c->token);
    free(c);
}

int
kube_curl_error(CURLcode rc, const char *errbuf, struct st_err *err)
{
    const char *detail = errbuf && errbuf[0] ? errbuf : curl_easy_strerror(rc);
    int code;

    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        code = ST_ETIMEOUT;
        break;
    case CURLE_COULDNT_CONNECT:
        code = -ECONNREFUSED;
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        code = -EHOSTUNREACH;
        break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
        code = ST_ETLS;
        break;
    default:
        code = -EIO;
        break;
    }
    return st_err_set(err, code, "kube: %s", detail);
}

int
kube_status_code(long status)
{
    switch (status) {
    case 400:
    case 422:
        return ST_EINVAL;
    case 401:
    case 403:
        return ST_EAUTH;
    case 404:
        return ST_ENOTFOUND;
    case 409:
        return ST_ECONFLICT;
    case 410:
        return ST_EGONE;
    case 413:
        return ST_ETOOBIG;
    case 408:
    case 504:
        return ST_ETIMEOUT;
    default:
        return ST_EPROTO;
    }
}

int
kube_status_error(long status, const json_t *resp, struct st_err *err)
{
    int code = kube_status_code(status);
    const char *kind = st_json_str(resp, "kind");
    const char *msg = st_json_str(resp, "message");

    if (kind != NULL && strcmp(kind, "Status") == 0 && msg != NULL && msg[0] != '\0') {
        int64_t sc;
        /* A Status inside a 200 watch stream carries its own code. */
        if (status == 0 && st_json_int(resp, "code", &sc) == 0)
            code = kube_status_code((long)sc);
        return st_err_set(err, code, "%s", msg);
    }
    if (status == 0) {
        int64_t sc = st_json_int_or(resp, "code", 0);
        return st_err_set(err, sc ? kube_status_code((long)sc) : ST_EPROTO,
                          "kube: watch ERROR event (code %lld)", (long long)sc);
    }
    return st_err_set(err, code, "kube: the server answered HTTP %ld", status);
}

/* ---- one blocking request ---------------------------------------------------------- */

struct client_body {
    struct st_buf buf;
    bool overflow;
};

static size_t
client_write(char *p, size_t size, size_t nmemb, void *data)
{
    struct client_body *b = data;
    size_t n = size * nmemb;

    if (st_buf_append(&b->buf, p, n) < 0) {
        b->overflow = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return n;
}

int
st_kube_request(struct st_kube_client *c, const char *method, const char *path_and_query,
                const char *content_type, const json_t *body, long *http_status, json_t **response,
                struct st_err *err)
{
    struct client_body rb = {ST_BUF_INIT(c->max_response), false};
    struct st_buf req = ST_BUF_INIT(c->max_response);
    struct curl_slist *hdrs = NULL, *connect_to = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    json_t *resp = NULL;
    long status = 0;
    int rc;
    CURL *h;

    if (http_status != NULL)
        *http_status = 0;
    if (response != NULL)
        *response = NULL;
    /* One handle per client keeps its connection cache: requests reuse connections. */
    if (c->easy == NULL && (c->easy = curl_easy_init()) == NULL)
        st_oom();
    h = c->easy;
    curl_easy_reset(h);
    if ((rc = kube_client_setup_easy(c, h, path_and_query, &hdrs, &connect_to, false, err)) < 0)
        goto out;
    if (body != NULL) {
        if ((rc = st_json_dump(body, &req, 0)) < 0) {
            st_err_set(err, rc, "kube: request body too large");
            goto out;
        }
        char *ct =
            st_xasprintf("Content-Type: %s", content_type ? content_type : "application/json");
        hdrs = curl_slist_append(hdrs, ct);
        free(ct);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, st_buf_cstr(&req));
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req.len);
    }
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, client_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &rb);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);

    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (http_status != NULL)
        *http_status = status;
    if (rb.overflow) {
        rc = st_err_set(err, ST_ETOOBIG, "kube: response larger than %zu bytes", c->max_response);
        goto out;
    }
    if (cc != CURLE_OK) {
        rc = kube_curl_error(cc, errbuf, err);
        goto out;
    }
    if (rb.buf.len > 0) {
        struct st_err jerr;
        resp = st_json_load_ex(rb.buf.data, rb.buf.len, c->max_response, 0, &jerr);
        if (resp == NULL && status >= 200 && status < 300) {
            rc = st_err_set(err, ST_EPROTO, "kube: bad JSON from the server: %s", jerr.msg);
            goto out;
        }
    }
    if (status < 200 || status >= 300) {
        rc = kube_status_error(status, resp, err);
        goto out;
    }
    rc = 0;

out:
    if (response != NULL) {
        *response = resp;
        resp = NULL;
    }
    json_decref(resp);
    /* Drop pointers into this call's stack and buffers before the handle waits for reuse. */
    curl_easy_reset(h);
    curl_slist_free_all(hdrs);
    curl_slist_free_all(connect_to);
    st_buf_free(&rb.buf);
    st_buf_free(&req);
    return rc;
}

/* ---- wrappers ------------------------------------------------------------------------ */

char *
st_kube_path(const char *group, const char *version, const char *resource, const char *ns,
             const char *name)
{
    struct st_buf b = ST_BUF_INIT(0);
    int rc = 0;

    if (group == NULL || group[0] == '\0')
        rc |= st_buf_appendf(&b, "/api/%s", version);
    else
        rc |= st_buf_appendf(&b, "/apis/%s/%s", group, version);
    if (ns != NULL && ns[0] != '\0') {
        rc |= st_buf_append_str(&b, "/namespaces/");
        rc |= kube_escape(&b, ns);
    }
    rc |= st_buf_appendf(&b, "/%s", resource);
    if (name != NULL && name[0] != '\0') {
        rc |= st_buf_append_str(&b, "/");
        rc |= kube_escape(&b, name);
    }
    (void)rc; /* an uncapped buffer cannot fail */
    return st_buf_steal(&b);
}

int
st_kube_get(struct st_kube_client *c, const char *path, json_t **out, struct st_err *err)
{
    return st_kube_request(c, "GET", path, NULL, NULL, NULL, out, err);
}

int
st_kube_create(struct st_kube_client *c, const char *path, const json_t *obj, json_t **out,
               struct st_err *err)
{
    return st_kube_request(c, "POST", path, "application/json", obj, NULL, out, err);
}

int
st_kube_update(struct st_kube_client *c, const char *path, const json_t *obj, json_t **out,
               struct st_err *err)
{
    return st_kube_request(c, "PUT", path, "application/json", obj, NULL, out, err);
}

int
st_kube_patch(struct st_kube_client *c, const char *path, enum st_kube_patch_type type,
              const json_t *patch, json_t **out, struct st_err *err)
{
    static const char *const types[] = {
        [ST_KUBE_PATCH_MERGE] = "application/merge-patch+json",
        [ST_KUBE_PATCH_JSON] = "application/json-patch+json",
        [ST_KUBE_PATCH_STRATEGIC] = "application/strategic-merge-patch+json",
    };
    if ((unsigned)type >= ST_ARRAY_LEN(types))
        return st_err_set(err, ST_EINVAL, "kube: unknown patch type");
    return st_kube_request(c, "PATCH", path, types[type], patch, NULL, out, err);
}

int
st_kube_delete(struct st_kube_client *c, const char *path, json_t **out, struct st_err *err)
{
    return st_kube_request(c, "DELETE", path, NULL, NULL, NULL, out, err);
}

/* Appends the query of one list page to <q>. */
static int
client_list_query(struct st_buf *q, const char *path, const struct st_kube_list_opts *opts,
                  unsigned limit, const char *cont)
{
    int rc = st_buf_appendf(q, "%s?limit=%u", path, limit);

    if (rc == 0 && opts->label_selector != NULL && opts->label_selector[0] != '\0' &&
        (rc = st_buf_append_str(q, "&labelSelector=")) == 0)
        rc = kube_escape(q, opts->label_selector);
    if (rc == 0 && opts->field_selector != NULL && opts->field_selector[0] != '\0' &&
        (rc = st_buf_append_str(q, "&fieldSelector=")) == 0)
        rc = kube_escape(q, opts->field_selector);
    if (rc == 0 && cont != NULL && (rc = st_buf_append_str(q, "&continue=")) == 0)
        rc = kube_escape(q, cont);
    return rc;
}

int
st_kube_list(struct st_kube_client *c, const char *path, const struct st_kube_list_opts *opts,
             json_t **out, struct st_err *err)
{
    struct st_kube_list_opts none = {0};
    json_t *result = NULL;
    char *cont = NULL;
    int rc = 0;

    *out = NULL;
    if (opts == NULL)
        opts = &none;
    unsigned limit = opts->limit ? opts->limit : CLIENT_LIST_DEFAULT_LIMIT;
    size_t max_items = opts->max_items ? opts->max_items : CLIENT_LIST_DEFAULT_MAX_ITEMS;
    for (int page = 0;; page++) {
        struct st_buf q = ST_BUF_INIT(64 << 10);
        json_t *resp = NULL;

        if (page == CLIENT_MAX_PAGES) {
            rc = st_err_set(err, ST_ETOOBIG, "kube: list of %s has too many pages", path);
            goto fail;
        }
        if ((rc = client_list_query(&q, path, opts, limit, cont)) < 0) {
            st_buf_free(&q);
            rc = st_err_set(err, rc, "kube: list query too long");
            goto fail;
        }
        rc = st_kube_request(c, "GET", st_buf_cstr(&q), NULL, NULL, NULL, &resp, err);
        st_buf_free(&q);
        if (rc < 0) {
            json_decref(resp);
            goto fail;
        }
        json_t *items = json_object_get(resp, "items");
        if (!json_is_object(resp) ||
            (items != NULL && !json_is_array(items) && !json_is_null(items))) {
            json_decref(resp);
            rc = st_err_set(err, ST_EPROTO, "kube: the answer for %s is not a list", path);
            goto fail;
        }
        free(cont);
        const char *next = st_json_str(resp, "metadata.continue");
        cont = next != NULL && next[0] != '\0' ? st_xstrdup(next) : NULL;
        if (result == NULL) {
            result = resp;
            if (!json_is_array(items))
                json_object_set_new(result, "items", json_array());
        } else {
            if (json_is_array(items))
                json_array_extend(json_object_get(result, "items"), items);
            json_decref(resp);
        }
        if (json_array_size(json_object_get(result, "items")) > max_items) {
            rc = st_err_set(err, ST_ETOOBIG, "kube: list of %s has more than %zu items", path,
                            max_items);
            goto fail;
        }
        if (cont == NULL)
            break;
    }
    /* The result stands for the whole snapshot: no continue token left in it. */
    st_json_del_path(result, "metadata.continue");
    st_json_del_path(result, "metadata.remainingItemCount");
    *out = result;
    return 0;

fail:
    free(cont);
    json_decref(result);
    return rc;
}
