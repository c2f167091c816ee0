/*
 * The identity API's wire format and its blocking client (include/strait/certify.h).
 *
 * The client speaks HTTP/1.1 over the project's own TLS and parser (no
 * libcurl: the data plane should not carry a general HTTP client and its
 * dependencies). The trust anchors are the only CA store; the controller's
 * identity is checked during the handshake when one is expected, else its
 * certificate must name the address dialled (IP or DNS SAN).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "strait/certify.h"
#include "strait/http1.h"
#include "strait/json.h"
#include "strait/sock.h"
#include "strait/tls.h"
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

/* Milliseconds left before <deadline> (monotonic ms), at least 0. */
static int
certify_left(uint64_t deadline)
{
    uint64_t now = st_now_ms();
    return now >= deadline ? 0 : (int)ST_MIN(deadline - now, (uint64_t)INT32_MAX);
}

/* Waits for <fd> to be readable or writable as <want> asks; ST_ETIMEOUT after the deadline. */
static int
certify_wait(int fd, ssize_t want, uint64_t deadline)
{
    struct pollfd p = {fd, want == ST_TLS_WANT_WRITE ? POLLOUT : POLLIN, 0};
    int left = certify_left(deadline);

    if (left == 0)
        return ST_ETIMEOUT;
    int r = poll(&p, 1, left);
    if (r < 0)
        return errno == EINTR ? 0 : -errno;
    return r == 0 ? ST_ETIMEOUT : 0;
}

/* Connects to <host>:<port> (numeric, else resolved), non-blocking, within the deadline. */
static int
certify_connect(const char *host, const char *port, uint64_t deadline, struct st_err *err)
{
    struct st_sockaddr sa;
    char *text = st_xasprintf("%s:%s", host, port);
    int fd, rc;

    if (st_sock_parse_addr(text, &sa) < 0) {
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
        char name[256];
        st_strlcpy(name, host[0] == '[' ? host + 1 : host, sizeof(name));
        name[strcspn(name, "]")] = '\0';
        if (getaddrinfo(name, port, &hints, &res) != 0 || res == NULL) {
            free(text);
            return st_err_set(err, -EHOSTUNREACH, "cannot resolve %s", name);
        }
        memcpy(&sa.ss, res->ai_addr, res->ai_addrlen);
        sa.len = res->ai_addrlen;
        freeaddrinfo(res);
    }
    free(text);
    fd = st_sock_connect(&sa, NULL, err);
    if (fd < 0)
        return fd;
    for (;;) {
        struct pollfd p = {fd, POLLOUT, 0};
        int left = certify_left(deadline);
        int r = left ? poll(&p, 1, left) : 0;
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            close(fd);
            return st_err_set(err, ST_ETIMEOUT, "certify timed out connecting to the controller");
        }
        break;
    }
    rc = st_sock_connect_result(fd);
    if (rc < 0) {
        close(fd);
        return st_err_set(err, rc == -ECONNREFUSED ? -ECONNREFUSED : rc,
                          "cannot connect to the controller: %s", st_strerror(rc));
    }
    return fd;
}

/* Writes all of <p>; returns 0 or an error. */
static int
certify_write_all(struct st_tls_conn *c, int fd, const char *p, size_t n, uint64_t deadline)
{
    while (n > 0) {
        ssize_t w = st_tls_write(c, p, n);
        if (w == ST_TLS_WANT_READ || w == ST_TLS_WANT_WRITE) {
            int rc = certify_wait(fd, w, deadline);
            if (rc < 0)
                return rc;
            continue;
        }
        if (w <= 0)
            return w < 0 ? (int)w : -EPIPE;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/*
 * Reads one response into <status> and <body> (capped at body->max): the
 * head, then a body delimited by Content-Length, chunks or the close.
 */
static int
certify_read_response(struct st_tls_conn *c, int fd, long *status, struct st_buf *body,
                      uint64_t deadline, struct st_err *err)
{
    struct st_buf in = ST_BUF_INIT(ST_CERTIFY_RESPONSE_MAX + 64 * 1024);
    struct st_http_header hdrs[64];
    struct st_http1_response resp;
    struct st_http1_chunked ch;
    enum st_http1_body kind = ST_HTTP1_BODY_NONE;
    size_t head = 0, pos = 0;
    bool eof = false;
    int rc = 0;

    st_http1_chunked_init(&ch);
    for (;;) {
        if (head == 0 && in.len > 0) {
            int h = st_http1_parse_response(in.data, in.len, NULL, &resp, hdrs, 64);
            if (h < 0) {
                rc = st_err_set(err, ST_EPROTO, "controller sent a malformed response head");
                goto out;
            }
            if (h > 0 && resp.status >= 100 && resp.status < 200) {
                st_buf_consume(&in, (size_t)h); /* an interim answer: read on */
                continue;
            }
            if (h > 0) {
                head = (size_t)h;
                pos = head;
                *status = resp.status;
                kind = st_http1_response_body(&resp, ST_HTTP_POST);
            }
        }
        if (head > 0) {
            if (kind == ST_HTTP1_BODY_NONE)
                goto out;
            if (kind == ST_HTTP1_BODY_LENGTH) {
                if ((uint64_t)resp.content_length > body->max) {
                    rc = st_err_set(err, ST_ETOOBIG, "controller response over %u bytes",
                                    ST_CERTIFY_RESPONSE_MAX);
                    goto out;
                }
                if (in.len - head >= (uint64_t)resp.content_length) {
                    rc = st_buf_append(body, in.data + head, (size_t)resp.content_length);
                    goto done;
                }
            } else if (kind == ST_HTTP1_BODY_CHUNKED) {
                for (;;) {
                    size_t used = 0;
                    struct st_str data = {NULL, 0};
                    int r = st_http1_chunked_decode(&ch, in.data + pos, in.len - pos, &used, &data);
                    pos += used;
                    if (r < 0) {
                        rc = st_err_set(err, ST_EPROTO, "controller sent a malformed body");
                        goto out;
                    }
                    if (data.n && st_buf_append(body, data.p, data.n) < 0) {
                        rc = st_err_set(err, ST_ETOOBIG, "controller response over %u bytes",
                                        ST_CERTIFY_RESPONSE_MAX);
                        goto out;
                    }
                    if (r == 1)
                        goto out;
                    if (used == 0 && data.n == 0)
                        break;
                }
            } else if (eof) { /* until close */
                rc = st_buf_append(body, in.data + head, in.len - head);
                goto done;
            }
        }
        if (eof) {
            rc = st_err_set(err, ST_EPROTO, "controller closed the connection mid-response");
            goto out;
        }
        char chunk[16384];
        ssize_t r = st_tls_read(c, chunk, sizeof(chunk));
        if (r == ST_TLS_WANT_READ || r == ST_TLS_WANT_WRITE) {
            rc = certify_wait(fd, r, deadline);
            if (rc < 0) {
                st_err_set(err, rc, "certify timed out waiting for the controller");
                goto out;
            }
            continue;
        }
        if (r == 0 || r == -ECONNRESET) {
            eof = true;
            continue;
        }
        if (r < 0) {
            rc = st_err_set(err, (int)r, "reading from the controller: %s", st_tls_conn_error(c));
            goto out;
        }
        if (st_buf_append(&in, chunk, (size_t)r) < 0) {
            rc = st_err_set(err, ST_ETOOBIG, "controller response over %u bytes",
                            ST_CERTIFY_RESPONSE_MAX);
            goto out;
        }
    }
done:
    if (rc < 0)
        st_err_set(err, ST_ETOOBIG, "controller response over %u bytes", ST_CERTIFY_RESPONSE_MAX);
out:
    st_buf_free(&in);
    return rc;
}

int
st_certify_request_csr(const struct st_certify_opts *o, EVP_PKEY *key, const char *csr_pem,
                       struct st_certify_result *out, struct st_err *err)
{
    struct st_buf anchors_pem = ST_BUF_INIT(ST_X509_PEM_MAX);
    struct st_buf token = ST_BUF_INIT(ST_CERTIFY_TOKEN_MAX);
    struct st_buf body = ST_BUF_INIT(ST_CERTIFY_BODY_MAX);
    struct st_buf req = ST_BUF_INIT(ST_CERTIFY_BODY_MAX + 4096);
    struct st_buf resp = ST_BUF_INIT(ST_CERTIFY_RESPONSE_MAX);
    STACK_OF(X509) *anchors = NULL;
    struct st_tls_ctx *ctx = NULL;
    struct st_tls_conn *conn = NULL;
    char *host = NULL, *port = NULL;
    int fd = -1;
    int rc;
    uint64_t start = st_now_ms();
    uint64_t deadline = start + (o->timeout_ms ? o->timeout_ms : 15000);
    uint64_t connect_deadline =
        ST_MIN(deadline, start + (o->connect_timeout_ms ? o->connect_timeout_ms : 5000));

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
    if (o->server_identity != NULL && !st_dns1123_subdomain(o->server_identity)) {
        rc = st_err_set(err, ST_EINVAL, "server identity \"%s\" is not a DNS name",
                        o->server_identity);
        goto out;
    }

    static const char *const alpn[] = {"http/1.1", NULL};
    struct st_tls_config cfg = {.server = false, .anchors = anchors,
                                .verify = ST_TLS_VERIFY_REQUIRE, .min_version = ST_TLS_1_2,
                                .alpn = alpn};
    if ((rc = st_tls_ctx_new(&cfg, &ctx, err)) < 0)
        goto out;
    if ((fd = certify_connect(host, port, connect_deadline, err)) < 0) {
        rc = fd;
        goto out;
    }
    conn = st_tls_conn_new(ctx, fd, false, o->server_identity ? o->server_identity : NULL);
    if (o->server_identity != NULL && st_tls_conn_expect_identity(conn, o->server_identity) < 0) {
        rc = st_err_set(err, ST_EINVAL, "cannot expect identity %s", o->server_identity);
        goto out;
    }
    rc = st_tls_handshake_blocking(conn, certify_left(deadline));
    if (rc == ST_ETIMEOUT) {
        st_err_set(err, ST_ETIMEOUT, "certify timed out in the TLS handshake");
        goto out;
    }
    if (rc < 0) {
        rc = st_err_set(err, ST_ETLS, "controller TLS: %s", st_tls_conn_error(conn));
        goto out;
    }
    if (o->server_identity == NULL) {
        /* No identity to expect: the certificate must name the address dialled. */
        X509 *peer = st_tls_conn_peer_cert(conn);
        char name[256];
        st_strlcpy(name, host[0] == '[' ? host + 1 : host, sizeof(name));
        name[strcspn(name, "]")] = '\0';
        bool ok = peer != NULL && (X509_check_ip_asc(peer, name, 0) == 1 ||
                                   X509_check_host(peer, name, 0, 0, NULL) == 1);
        ERR_clear_error();
        if (!ok) {
            rc = st_err_set(err, ST_ETLS, "controller TLS: its certificate does not name %s",
                            name);
            goto out;
        }
    }
    rc = st_buf_appendf(&req,
                        "POST %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/json\r\n"
                        "Accept: application/json\r\nContent-Length: %zu\r\n"
                        "Connection: close\r\n\r\n",
                        ST_CERTIFY_PATH, o->server_identity ? o->server_identity : host, port,
                        body.len);
    if (rc == 0)
        rc = st_buf_append(&req, body.data, body.len);
    if (rc < 0) {
        st_err_set(err, rc, "request over its cap");
        goto out;
    }
    if ((rc = certify_write_all(conn, fd, req.data, req.len, deadline)) < 0) {
        st_err_set(err, rc, rc == ST_ETIMEOUT ? "certify timed out sending the request"
                                              : "cannot send to the controller: %s",
                   st_tls_conn_error(conn));
        goto out;
    }
    if ((rc = certify_read_response(conn, fd, &out->http_status, &resp, deadline, err)) < 0)
        goto out;
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
    st_tls_conn_free(conn);
    st_tls_ctx_unref(ctx);
    if (fd >= 0)
        close(fd);
    st_x509_chain_free(anchors);
    st_buf_free(&anchors_pem);
    st_buf_free_secret(&token);
    st_buf_free_secret(&body);
    st_buf_free_secret(&req);
    st_buf_free(&resp);
    free(host);
    free(port);
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
