/*
 * The identity API's wire format and its blocking client (include/strait/certify.h).
 *
 * The client hands the trust anchors to libcurl as the only CA store and,
 * when a server identity is expected, puts that identity in the URL and
 * redirects the connection to the real address with CURLOPT_CONNECT_TO, so
 * libcurl's own host name check is the identity check.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/err.h>

#include "strait/certify.h"
#include "strait/json.h"
#include "strait/x509.h"

#define CERTIFY_SA_PREFIX "system:serviceaccount:"

/* ---- identity names ---------------------------------------------------------- */

static bool
certify_names_ok(const char *sa, const char *ns, const char *td)
{
    return sa && ns && td && st_dns1123_subdomain(sa) && st_dns1123_label(ns) &&
           st_dns1123_subdomain(td);
}

char *
st_certify_identity_dns(const char *sa, const char *ns, const char *td)
{
    if (!certify_names_ok(sa, ns, td))
        return NULL;
    return st_xasprintf("%s.%s.serviceaccount.identity.strait.%s", sa, ns, td);
}

char *
st_certify_identity_uri(const char *sa, const char *ns, const char *td)
{
    if (!certify_names_ok(sa, ns, td))
        return NULL;
    return st_xasprintf("spiffe://%s/ns/%s/sa/%s", td, ns, sa);
}

int
st_certify_parse_username(const char *username, char **ns, char **sa)
{
    const char *p, *colon;
    char *n, *s;

    if (username == NULL || !st_str_has_prefix(username, CERTIFY_SA_PREFIX))
        return ST_EINVAL;
    p = username + strlen(CERTIFY_SA_PREFIX);
    colon = strchr(p, ':');
    if (colon == NULL || strchr(colon + 1, ':') != NULL)
        return ST_EINVAL;
    n = st_xstrndup(p, (size_t)(colon - p));
    s = st_xstrdup(colon + 1);
    if (!st_dns1123_label(n) || !st_dns1123_subdomain(s)) {
        free(n);
        free(s);
        return ST_EINVAL;
    }
    *ns = n;
    *sa = s;
    return 0;
}

/* ---- JSON bodies ------------------------------------------------------------- */

/*
 * Appends <s> as a JSON string. Written by hand rather than with jansson so
 * that the token never sits in memory we cannot wipe.
 */
static int
certify_json_str(struct st_buf *out, const char *s)
{
    int rc = st_buf_append(out, "\"", 1);

    for (const unsigned char *p = (const unsigned char *)s; rc == 0 && *p; p++) {
        if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};
            rc = st_buf_append(out, esc, 2);
        } else if (*p == '\n') {
            rc = st_buf_append(out, "\\n", 2);
        } else if (*p < 0x20) {
            rc = st_buf_appendf(out, "\\u%04x", *p);
        } else {
            rc = st_buf_append(out, p, 1);
        }
    }
    return rc < 0 ? rc : st_buf_append(out, "\"", 1);
}

/* Wipes a string held by jansson before it is freed (the value is a private heap copy). */
static void
certify_json_wipe(json_t *v)
{
    if (json_is_string(v))
        st_wipe((char *)json_string_value(v), json_string_length(v));
}

/* True when <s> is a plausible bearer token: printable ASCII without spaces. */
static bool
certify_token_ok(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

int
st_certify_req_parse(const char *body, size_t len, struct st_certify_req *out, struct st_err *err)
{
    json_t *root = NULL, *tok, *csr;
    struct st_err jerr = {0};
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (len > ST_CERTIFY_BODY_MAX)
        return st_err_set(err, ST_ETOOBIG, "request body over %u bytes", ST_CERTIFY_BODY_MAX);
    root = st_json_load_ex(body, len, ST_CERTIFY_BODY_MAX, 8, &jerr);
    if (root == NULL)
        return st_err_set(err, jerr.code == ST_ETOOBIG ? ST_ETOOBIG : ST_EPARSE, "request body: %s",
                          jerr.msg);
    if (!json_is_object(root)) {
        rc = st_err_set(err, ST_EPARSE, "request body is not a JSON object");
        goto out;
    }
    tok = json_object_get(root, "token");
    csr = json_object_get(root, "csr");
    if (!json_is_string(tok) || !json_is_string(csr)) {
        rc = st_err_set(err, ST_EPARSE, "\"token\" and \"csr\" must be strings");
        goto out;
    }
    if (json_string_length(tok) > ST_CERTIFY_TOKEN_MAX) {
        rc = st_err_set(err, ST_ETOOBIG, "token over %u bytes", ST_CERTIFY_TOKEN_MAX);
        goto out;
    }
    if (!certify_token_ok(json_string_value(tok), json_string_length(tok))) {
        rc = st_err_set(err, ST_EPARSE, "token is empty or not printable ASCII");
        goto out;
    }
    if (json_string_length(csr) > ST_X509_CSR_MAX) {
        rc = st_err_set(err, ST_ETOOBIG, "csr over %u bytes", ST_X509_CSR_MAX);
        goto out;
    }
    if (json_string_length(csr) == 0) {
        rc = st_err_set(err, ST_EPARSE, "csr is empty");
        goto out;
    }
    out->token = st_xstrndup(json_string_value(tok), json_string_length(tok));
    out->csr = st_xstrndup(json_string_value(csr), json_string_length(csr));
out:
    if (json_is_object(root))
        certify_json_wipe(json_object_get(root, "token"));
    json_decref(root);
    return rc;
}

void
st_certify_req_free(struct st_certify_req *r)
{
    if (r->token)
        st_free_secret(r->token, strlen(r->token));
    r->token = NULL;
    free(r->csr);
    r->csr = NULL;
}

int
st_certify_req_encode(const char *token, const char *csr_pem, struct st_buf *out)
{
    int rc = st_buf_append_str(out, "{\"token\":");

    if (rc == 0)
        rc = certify_json_str(out, token);
    if (rc == 0)
        rc = st_buf_append_str(out, ",\"csr\":");
    if (rc == 0)
        rc = certify_json_str(out, csr_pem);
    if (rc == 0)
        rc = st_buf_append_str(out, "}");
    return rc;
}

void
st_certify_result_free(struct st_certify_result *r)
{
    free(r->certificate);
    free(r->chain);
    memset(r, 0, sizeof(*r));
}

int
st_certify_resp_encode(const char *cert_pem, const char *chain_pem, int64_t expiry,
                       struct st_buf *out)
{
    char when[21];
    int rc = st_buf_append_str(out, "{\"certificate\":");

    st_rfc3339(expiry, when);
    if (rc == 0)
        rc = certify_json_str(out, cert_pem);
    if (rc == 0)
        rc = st_buf_append_str(out, ",\"chain\":");
    if (rc == 0)
        rc = certify_json_str(out, chain_pem);
    if (rc == 0)
        rc = st_buf_appendf(out, ",\"expiry\":\"%s\"}\n", when);
    return rc;
}

int
st_certify_error_encode(int status, const char *message, struct st_buf *out)
{
    int rc = st_buf_append_str(out, "{\"error\":");

    if (rc == 0)
        rc = certify_json_str(out, message);
    if (rc == 0)
        rc = st_buf_appendf(out, ",\"code\":%d}\n", status);
    return rc;
}

int
st_certify_resp_parse(const char *body, size_t len, struct st_certify_result *out,
                      struct st_err *err)
{
    struct st_err jerr = {0};
    json_t *root;
    const char *cert, *chain, *msg;
    int rc = 0;

    if (len > ST_CERTIFY_RESPONSE_MAX)
        return st_err_set(err, ST_ETOOBIG, "response over %u bytes", ST_CERTIFY_RESPONSE_MAX);
    root = st_json_load_ex(body, len, ST_CERTIFY_RESPONSE_MAX, 8, &jerr);
    if (root == NULL)
        return st_err_set(err, jerr.code == ST_ETOOBIG ? ST_ETOOBIG : ST_EPARSE, "response: %s",
                          jerr.msg);
    if (!json_is_object(root)) {
        rc = st_err_set(err, ST_EPARSE, "response is not a JSON object");
        goto out;
    }
    msg = st_json_str(root, "error");
    if (msg != NULL) {
        rc = st_err_set(err, ST_EPROTO, "%.200s", msg);
        goto out;
    }
    cert = st_json_str(root, "certificate");
    chain = st_json_str(root, "chain");
    if (cert == NULL || chain == NULL || cert[0] == '\0') {
        rc = st_err_set(err, ST_EPARSE, "response lacks \"certificate\" or \"chain\"");
        goto out;
    }
    free(out->certificate);
    free(out->chain);
    out->certificate = st_xstrdup(cert);
    out->chain = st_xstrdup(chain);
out:
    json_decref(root);
    return rc;
}

/* ---- schedule ------------------------------------------------------------------- */

int64_t
st_certify_renew_at(int64_t not_before, int64_t not_after, uint64_t rnd)
{
    if (not_after <= not_before)
        return not_before;
    /* Per mille of the lifetime, uniform in [630, 770]. */
    uint64_t permille = 630 + rnd % 141;
    uint64_t life = (uint64_t)(not_after - not_before);
    return not_before + (int64_t)(life / 1000 * permille + life % 1000 * permille / 1000);
}

uint64_t
st_certify_backoff_ms(unsigned attempt, uint64_t rnd)
{
    uint64_t base = attempt >= 6 ? 60000 : ST_MIN(1000ull << attempt, 60000);
    /* +-20 %: base * [800, 1200] / 1000. */
    return base * (800 + rnd % 401) / 1000;
}

/* ---- client --------------------------------------------------------------------- */

static pthread_once_t certify_curl_once = PTHREAD_ONCE_INIT;

static void
certify_curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Collects a response body up to its cap; a longer one aborts the transfer. */
static size_t
certify_on_data(char *p, size_t size, size_t nmemb, void *arg)
{
    struct st_buf *b = arg;
    size_t n = size * nmemb;

    return st_buf_append(b, p, n) == 0 ? n : 0;
}

/* Reads the token (given, or from a file) into <out>; release with st_buf_free_secret. */
static int
certify_token(const struct st_certify_opts *o, struct st_buf *out, struct st_err *err)
{
    const char *path = o->token_file ? o->token_file : ST_CERTIFY_DEFAULT_TOKEN_FILE;
    int rc;

    if (o->token != NULL) {
        rc = st_buf_append_str(out, o->token);
        if (rc < 0)
            return st_err_set(err, rc, "token over %u bytes", ST_CERTIFY_TOKEN_MAX);
    } else {
        rc = st_file_read(path, out);
        if (rc < 0)
            return st_err_set(err, rc, "cannot read token %s: %s", path, st_strerror(rc));
    }
    while (out->len > 0 && (out->data[out->len - 1] == '\n' || out->data[out->len - 1] == '\r' ||
                            out->data[out->len - 1] == ' ' || out->data[out->len - 1] == '\t'))
        out->data[--out->len] = '\0';
    if (!certify_token_ok(out->data, out->len))
        return st_err_set(err, ST_EINVAL, "token is empty or not printable ASCII");
    return 0;
}

/* Splits "HOST:PORT" into new strings; the host keeps IPv6 brackets. */
static int
certify_split_addr(const char *addr, char **host, char **port, struct st_err *err)
{
    const char *colon = addr ? strrchr(addr, ':') : NULL;
    uint64_t v;

    if (colon == NULL || colon == addr || st_parse_u64(st_str_c(colon + 1), 65535, &v) < 0 ||
        v == 0 || (addr[0] == '[' && colon[-1] != ']') || strcspn(addr, " /?#@") != strlen(addr))
        return st_err_set(err, ST_EINVAL, "controller address \"%s\" is not HOST:PORT",
                          addr ? addr : "");
    *host = st_xstrndup(addr, (size_t)(colon - addr));
    *port = st_xstrdup(colon + 1);
    return 0;
}

static int
certify_curl_error(CURLcode c, const char *detail, struct st_err *err)
{
    const char *what = detail[0] ? detail : curl_easy_strerror(c);

    switch (c) {
    case CURLE_OPERATION_TIMEDOUT:
        return st_err_set(err, ST_ETIMEOUT, "certify timed out: %s", what);
    case CURLE_COULDNT_CONNECT:
        return st_err_set(err, -ECONNREFUSED, "cannot connect to the controller: %s", what);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
        return st_err_set(err, ST_ETLS, "controller TLS: %s", what);
    case CURLE_WRITE_ERROR:
        return st_err_set(err, ST_ETOOBIG, "controller response over %u bytes",
                          ST_CERTIFY_RESPONSE_MAX);
    default:
        return st_err_set(err, -EIO, "certify: %s", what);
    }
}

/* Maps a non-200 answer to an error, with the server's message when it sent one. */
static int
certify_status_error(long status, const struct st_buf *body, struct st_err *err)
{
    struct st_certify_result tmp = {0};
    struct st_err why = {0};
    int code;

    if (st_certify_resp_parse(body->data ? body->data : "", body->len, &tmp, &why) != ST_EPROTO)
        snprintf(why.msg, sizeof(why.msg), "no error message");
    st_certify_result_free(&tmp);
    switch (status) {
    case 400:
        code = ST_EINVAL;
        break;
    case 401:
    case 403:
        code = ST_EAUTH;
        break;
    case 413:
        code = ST_ETOOBIG;
        break;
    case 503:
        code = -EAGAIN;
        break;
    default:
        code = ST_EPROTO;
        break;
    }
    return st_err_set(err, code, "controller answered %ld: %s", status, why.msg);
}

/* Checks the returned leaf and chain against <key>, the identity and the anchors. */
static int
certify_check_answer(const struct st_certify_opts *o, EVP_PKEY *key, STACK_OF(X509) * anchors,
                     struct st_certify_result *out, struct st_err *err)
{
    STACK_OF(X509) *chain = NULL;
    X509 *leaf = NULL;
    int rc;

    rc = st_x509_from_pem(out->certificate, 0, &leaf, err);
    if (rc < 0)
        goto out;
    if (out->chain[0] != '\0') {
        rc = st_x509_bundle_from_pem(out->chain, 0, &chain, err);
        if (rc < 0)
            goto out;
    }
    if (EVP_PKEY_eq(X509_get0_pubkey(leaf), key) != 1) {
        rc = st_err_set(err, ST_ETLS, "the certificate is not for our key");
        goto out;
    }
    if (!st_x509_has_dns_san(leaf, o->identity_dns)) {
        rc = st_err_set(err, ST_ETLS, "the certificate does not name %s", o->identity_dns);
        goto out;
    }
    rc = st_x509_verify_chain(leaf, chain, anchors, 0, err);
    if (rc < 0)
        goto out;
    struct st_x509_info info = {0};
    rc = st_x509_inspect(leaf, &info, err);
    if (rc == 0) {
        out->not_before = info.not_before;
        out->not_after = info.not_after;
    }
    st_x509_info_free(&info);
out:
    X509_free(leaf);
    st_x509_chain_free(chain);
    ERR_clear_error();
    return rc;
}

int
st_certify_request_csr(const struct st_certify_opts *o, EVP_PKEY *key, const char *csr_pem,
                       struct st_certify_result *out, struct st_err *err)
{
    struct st_buf anchors_pem = ST_BUF_INIT(ST_X509_PEM_MAX);
    struct st_buf token = ST_BUF_INIT(ST_CERTIFY_TOKEN_MAX);
    struct st_buf body = ST_BUF_INIT(ST_CERTIFY_BODY_MAX);
    struct st_buf resp = ST_BUF_INIT(ST_CERTIFY_RESPONSE_MAX);
    STACK_OF(X509) *anchors = NULL;
    struct curl_slist *hdrs = NULL, *connect_to = NULL;
    char *host = NULL, *port = NULL, *url = NULL, *via = NULL;
    char detail[CURL_ERROR_SIZE] = "";
    CURL *curl = NULL;
    CURLcode cc;
    int rc;

    memset(out, 0, sizeof(*out));
    if (o->identity_dns == NULL || key == NULL || csr_pem == NULL) {
        rc = st_err_set(err, ST_EINVAL, "certify needs a key, a CSR and the identity");
        goto out;
    }
    if ((rc = certify_split_addr(o->addr, &host, &port, err)) < 0)
        goto out;
    if (o->anchors_pem != NULL) {
        rc = st_buf_append_str(&anchors_pem, o->anchors_pem);
        if (rc < 0)
            st_err_set(err, rc, "trust anchors over %u bytes", ST_X509_PEM_MAX);
    } else if (o->anchors_file != NULL) {
        rc = st_file_read(o->anchors_file, &anchors_pem);
        if (rc < 0)
            st_err_set(err, rc, "cannot read trust anchors %s: %s", o->anchors_file,
                       st_strerror(rc));
    } else {
        rc = st_err_set(err, ST_EINVAL, "certify needs trust anchors");
    }
    if (rc < 0)
        goto out;
    if ((rc = st_x509_bundle_from_pem(anchors_pem.data, anchors_pem.len, &anchors, err)) < 0)
        goto out;
    if ((rc = certify_token(o, &token, err)) < 0)
        goto out;
    if ((rc = st_certify_req_encode(token.data, csr_pem, &body)) < 0) {
        st_err_set(err, rc, "request body over %u bytes", ST_CERTIFY_BODY_MAX);
        goto out;
    }

    pthread_once(&certify_curl_once, certify_curl_init);
    curl = curl_easy_init();
    if (curl == NULL) {
        rc = st_err_set(err, -ENOMEM, "cannot create a curl handle");
        goto out;
    }
    if (o->server_identity != NULL) {
        if (!st_dns1123_subdomain(o->server_identity)) {
            rc = st_err_set(err, ST_EINVAL, "server identity \"%s\" is not a DNS name",
                            o->server_identity);
            goto out;
        }
        url = st_xasprintf("https://%s:%s%s", o->server_identity, port, ST_CERTIFY_PATH);
        via = st_xasprintf("%s:%s:%s:%s", o->server_identity, port, host, port);
        connect_to = curl_slist_append(NULL, via);
        curl_easy_setopt(curl, CURLOPT_CONNECT_TO, connect_to);
    } else {
        url = st_xasprintf("https://%s:%s%s", host, port, ST_CERTIFY_PATH);
    }
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    struct curl_blob ca = {anchors_pem.data, anchors_pem.len, CURL_BLOB_COPY};
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &ca);
    curl_easy_setopt(curl, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)body.len);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, certify_on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, detail);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(o->connect_timeout_ms ? o->connect_timeout_ms : 5000));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)(o->timeout_ms ? o->timeout_ms : 15000));
    cc = curl_easy_perform(curl);
    if (cc != CURLE_OK) {
        rc = certify_curl_error(cc, detail, err);
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->http_status);
    if (out->http_status != 200) {
        rc = certify_status_error(out->http_status, &resp, err);
        goto out;
    }
    if ((rc = st_certify_resp_parse(resp.data ? resp.data : "", resp.len, out, err)) < 0)
        goto out;
    rc = certify_check_answer(o, key, anchors, out, err);
out:
    if (rc < 0) {
        long status = out->http_status;
        st_certify_result_free(out);
        out->http_status = status;
    }
    if (curl)
        curl_easy_cleanup(curl);
    curl_slist_free_all(hdrs);
    curl_slist_free_all(connect_to);
    st_x509_chain_free(anchors);
    st_buf_free(&anchors_pem);
    st_buf_free_secret(&token);
    st_buf_free_secret(&body);
    st_buf_free(&resp);
    free(host);
    free(port);
    free(url);
    free(via);
    return rc;
}

int
st_certify_request(const struct st_certify_opts *o, EVP_PKEY *key, struct st_certify_result *out,
                   struct st_err *err)
{
    const char *dns[2] = {o->identity_dns, NULL};
    const char *uris[2] = {o->identity_uri, NULL};
    struct st_x509_sans sans = {.dns = dns, .uris = o->identity_uri ? uris : NULL};
    char *csr = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (o->identity_dns == NULL || key == NULL)
        return st_err_set(err, ST_EINVAL, "certify needs a key and the identity");
    /* X.509 caps a CN at 64 bytes; longer identities go in the SAN only. */
    rc = st_x509_csr_new(key, strlen(o->identity_dns) <= 64 ? o->identity_dns : NULL, &sans, &csr,
                         err);
    if (rc == 0)
        rc = st_certify_request_csr(o, key, csr, out, err);
    free(csr);
    return rc;
}
