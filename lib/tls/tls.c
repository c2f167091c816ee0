/*
 * Non-blocking TLS on OpenSSL 3: shared, reference-counted contexts and
 * connections on caller-owned sockets. See include/strait/tls.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "strait/tls.h"
#include "strait/x509.h"

struct st_tls_ctx {
    SSL_CTX *ssl;
    atomic_int refs;
    bool verify_peer;
    /* ALPN protocols in wire format (length-prefixed), client offer or server preference. */
    unsigned char alpn[ST_TLS_ALPN_MAX * 256];
    size_t alpn_len;
};

struct st_tls_conn {
    struct st_tls_ctx *ctx; /* a reference */
    SSL *ssl;
    int fd;
    bool server;
    int failed;          /* the first error; a failed connection stays failed */
    char *alpn;          /* cached negotiated protocol */
    char *peer_identity; /* cached first DNS SAN */
    bool sock_drained;   /* the last socket read took less than it asked for */
    char err[256];
};

/* ---- contexts ------------------------------------------------------------------ */

/* Fills <err> with "<what>: <OpenSSL reason>" and clears the error queue. */
static int
tls_fail(struct st_err *err, int code, const char *what)
{
    unsigned long e = ERR_peek_error();
    const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;

    ERR_clear_error();
    if (reason != NULL)
        return st_err_set(err, code, "%s: %s", what, reason);
    return st_err_set(err, code, "%s", what);
}

/*
 * The server side of ALPN: the first protocol of the server's list that the
 * client offered. A client list that is malformed or shares nothing with ours
 * ends the handshake with no_application_protocol (RFC 7301, 3.2).
 */
static int
tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                unsigned int inlen, void *arg)
{
    const struct st_tls_ctx *ctx = arg;

    for (size_t i = 0; i < ctx->alpn_len; i += 1 + ctx->alpn[i]) {
        const unsigned char *ours = ctx->alpn + i + 1;
        unsigned char n = ctx->alpn[i];
        for (unsigned j = 0; j < inlen; j += 1u + in[j]) {
            if (j + 1u + in[j] > inlen || in[j] == 0)
                return SSL_TLSEXT_ERR_ALERT_FATAL;
            if (in[j] == n && memcmp(in + j + 1, ours, n) == 0) {
                *out = ours;
                *outlen = n;
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static int
tls_alpn_encode(struct st_tls_ctx *ctx, const char *const *alpn, struct st_err *err)
{
    size_t count = 0;

    for (; alpn != NULL && alpn[count] != NULL; count++) {
        size_t n = strlen(alpn[count]);
        if (count >= ST_TLS_ALPN_MAX || n == 0 || n > 255)
            return st_err_set(err, ST_EINVAL, "ALPN: at most %d names of 1 to 255 bytes",
                              ST_TLS_ALPN_MAX);
        ctx->alpn[ctx->alpn_len++] = (unsigned char)n;
        memcpy(ctx->alpn + ctx->alpn_len, alpn[count], n);
        ctx->alpn_len += n;
    }
    return 0;
}

/* Loads the certificate chain and key of <cfg> into ctx->ssl. */
static int
tls_ctx_load_identity(struct st_tls_ctx *ctx, const struct st_tls_config *cfg, struct st_err *err)
{
    STACK_OF(X509) *chain = NULL;
    EVP_PKEY *key = NULL;
    X509 *leaf;
    int rc = 0;

    if (cfg->cert != NULL) {
        chain = sk_X509_new_null();
        if (chain == NULL || !X509_up_ref(cfg->cert) || !sk_X509_push(chain, cfg->cert))
            st_oom();
        for (int i = 0; i < sk_X509_num(cfg->chain); i++) {
            X509 *c = sk_X509_value(cfg->chain, i);
            if (!X509_up_ref(c) || !sk_X509_push(chain, c))
                st_oom();
        }
    } else if (cfg->cert_pem != NULL) {
        rc = st_x509_bundle_from_pem(cfg->cert_pem, 0, &chain, err);
    } else if (cfg->cert_file != NULL) {
        rc = st_x509_bundle_read_file(cfg->cert_file, &chain, err);
    } else {
        return 0;
    }
    if (rc < 0)
        goto out;

    if (cfg->key != NULL) {
        key = cfg->key;
        if (!EVP_PKEY_up_ref(key))
            st_oom();
    } else if (cfg->key_pem != NULL) {
        rc = st_x509_key_from_pem(cfg->key_pem, 0, &key, err);
    } else if (cfg->key_file != NULL) {
        rc = st_x509_key_read_file(cfg->key_file, &key, err);
    } else {
        rc = st_err_set(err, ST_EINVAL, "tls: a certificate without a private key");
    }
    if (rc < 0)
        goto out;

    leaf = sk_X509_value(chain, 0);
    if (SSL_CTX_use_certificate(ctx->ssl, leaf) != 1) {
        rc = tls_fail(err, ST_ETLS, "tls: certificate refused");
        goto out;
    }
    for (int i = 1; i < sk_X509_num(chain); i++) {
        if (SSL_CTX_add1_chain_cert(ctx->ssl, sk_X509_value(chain, i)) != 1) {
            rc = tls_fail(err, ST_ETLS, "tls: chain certificate refused");
            goto out;
        }
    }
    if (SSL_CTX_use_PrivateKey(ctx->ssl, key) != 1 || SSL_CTX_check_private_key(ctx->ssl) != 1) {
        rc = tls_fail(err, ST_EINVAL, "tls: private key does not match the certificate");
        goto out;
    }
out:
    EVP_PKEY_free(key);
    st_x509_chain_free(chain);
    return rc;
}

/* Adds the trust anchors of <cfg>; returns how many were added. */
static int
tls_ctx_load_anchors(struct st_tls_ctx *ctx, const struct st_tls_config *cfg, struct st_err *err)
{
    STACK_OF(X509) *owned = NULL;
    STACK_OF(X509) *anchors = cfg->anchors;
    X509_STORE *store = SSL_CTX_get_cert_store(ctx->ssl);
    int rc = 0;

    if (anchors == NULL && cfg->anchors_pem != NULL)
        rc = st_x509_bundle_from_pem(cfg->anchors_pem, 0, &owned, err);
    else if (anchors == NULL && cfg->anchors_file != NULL)
        rc = st_x509_bundle_read_file(cfg->anchors_file, &owned, err);
    if (rc < 0)
        return rc;
    if (owned != NULL)
        anchors = owned;
    for (int i = 0; i < sk_X509_num(anchors); i++) {
        X509 *a = sk_X509_value(anchors, i);
        if (X509_STORE_add_cert(store, a) != 1 ||
            (cfg->server && SSL_CTX_add_client_CA(ctx->ssl, a) != 1)) {
            rc = tls_fail(err, ST_ETLS, "tls: trust anchor refused");
            goto out;
        }
    }
    rc = anchors != NULL ? sk_X509_num(anchors) : 0;
out:
    st_x509_chain_free(owned);
    return rc;
}

int
st_tls_ctx_new(const struct st_tls_config *cfg, struct st_tls_ctx **out, struct st_err *err)
{
    struct st_tls_ctx *ctx = st_xcalloc(1, sizeof(*ctx));
    int n_anchors;
    int mode;
    int rc = 0;

    *out = NULL;
    ERR_clear_error();
    atomic_init(&ctx->refs, 1);
    ctx->ssl = SSL_CTX_new(cfg->server ? TLS_server_method() : TLS_client_method());
    if (ctx->ssl == NULL)
        st_oom();
    if ((rc = tls_alpn_encode(ctx, cfg->alpn, err)) < 0)
        goto fail;

    if (SSL_CTX_set_min_proto_version(
            ctx->ssl, cfg->min_version == ST_TLS_1_3 ? TLS1_3_VERSION : TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx->ssl, TLS1_3_VERSION) != 1 ||
        /* TLS 1.2 only with forward-secret AEAD suites; 1.3 suites are all fine. */
        SSL_CTX_set_cipher_list(ctx->ssl, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1 ||
        SSL_CTX_set1_groups_list(ctx->ssl, "X25519:P-256") != 1) {
        rc = tls_fail(err, ST_ETLS, "tls: cannot set protocol parameters");
        goto fail;
    }
    SSL_CTX_set_options(ctx->ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                      SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                   SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_clear_mode(ctx->ssl, SSL_MODE_AUTO_RETRY);
    if (!cfg->session_tickets) {
        SSL_CTX_set_options(ctx->ssl, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(ctx->ssl, 0);
        SSL_CTX_set_session_cache_mode(ctx->ssl, SSL_SESS_CACHE_OFF);
    }

    if ((rc = tls_ctx_load_identity(ctx, cfg, err)) < 0)
        goto fail;
    if (cfg->server && SSL_CTX_get0_certificate(ctx->ssl) == NULL) {
        rc = st_err_set(err, ST_EINVAL, "tls: a server needs a certificate and key");
        goto fail;
    }
    if ((n_anchors = tls_ctx_load_anchors(ctx, cfg, err)) < 0) {
        rc = n_anchors;
        goto fail;
    }

    switch (cfg->verify) {
    case ST_TLS_VERIFY_NONE:
        mode = SSL_VERIFY_NONE;
        break;
    case ST_TLS_VERIFY_OPTIONAL:
        mode = SSL_VERIFY_PEER;
        break;
    default:
        mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        break;
    }
    if (mode != SSL_VERIFY_NONE && n_anchors == 0) {
        rc = st_err_set(err, ST_EINVAL, "tls: verifying peers needs trust anchors");
        goto fail;
    }
    ctx->verify_peer = mode != SSL_VERIFY_NONE;
    SSL_CTX_set_verify(ctx->ssl, mode, NULL);
    SSL_CTX_set_verify_depth(ctx->ssl, 8);

    if (ctx->alpn_len > 0) {
        if (cfg->server) {
            SSL_CTX_set_alpn_select_cb(ctx->ssl, tls_alpn_select, ctx);
        } else if (SSL_CTX_set_alpn_protos(ctx->ssl, ctx->alpn, (unsigned)ctx->alpn_len) != 0) {
            rc = tls_fail(err, ST_ETLS, "tls: cannot set ALPN");
            goto fail;
        }
    }
    *out = ctx;
    return 0;
fail:
    SSL_CTX_free(ctx->ssl);
    free(ctx);
    ERR_clear_error();
    return rc;
}

struct st_tls_ctx *
st_tls_ctx_ref(struct st_tls_ctx *ctx)
{
    atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
    return ctx;
}

struct st_tls_ctx *
st_tls_ctx_unref(struct st_tls_ctx *ctx)
{
    if (ctx == NULL)
        return NULL;
    if (atomic_fetch_sub_explicit(&ctx->refs, 1, memory_order_acq_rel) == 1) {
        SSL_CTX_free(ctx->ssl);
        free(ctx);
    }
    return NULL;
}

int
st_tls_ctx_refs(const struct st_tls_ctx *ctx)
{
    return atomic_load_explicit(&ctx->refs, memory_order_relaxed);
}

void
st_tls_slot_init(struct st_tls_slot *slot)
{
    pthread_mutex_init(&slot->lock, NULL);
    slot->ctx = NULL;
}

struct st_tls_ctx *
st_tls_slot_get(struct st_tls_slot *slot)
{
    struct st_tls_ctx *ctx;

    pthread_mutex_lock(&slot->lock);
    ctx = slot->ctx != NULL ? st_tls_ctx_ref(slot->ctx) : NULL;
    pthread_mutex_unlock(&slot->lock);
    return ctx;
}

void
st_tls_slot_set(struct st_tls_slot *slot, struct st_tls_ctx *ctx)
{
    struct st_tls_ctx *old;

    pthread_mutex_lock(&slot->lock);
    old = slot->ctx;
    slot->ctx = ctx;
    pthread_mutex_unlock(&slot->lock);
    st_tls_ctx_unref(old);
}

void
st_tls_slot_fini(struct st_tls_slot *slot)
{
    slot->ctx = st_tls_ctx_unref(slot->ctx);
    pthread_mutex_destroy(&slot->lock);
}

/* ---- socket BIO ------------------------------------------------------------------ */

/*
 * OpenSSL's own socket BIO writes with write(), which raises SIGPIPE when the
 * peer has gone; a proxy must not die of one reset client. This BIO sends with
 * MSG_NOSIGNAL instead (plain write() for fds that are not sockets) and
 * otherwise behaves like the socket BIO: EAGAIN becomes a retry, a read of 0
 * marks EOF so OpenSSL can tell a missing close_notify. The BIO's data is the
 * connection, for its fd (never closed by the BIO) and to note when a read
 * found the socket drained (st_tls_conn_drained).
 */
static BIO_METHOD *tls_bio_method;
static pthread_once_t tls_bio_once = PTHREAD_ONCE_INIT;

static int
tls_bio_fd(BIO *b)
{
    return ((struct st_tls_conn *)BIO_get_data(b))->fd;
}

static int
tls_bio_write(BIO *b, const char *data, size_t n, size_t *written)
{
    int fd = tls_bio_fd(b);
    ssize_t w;

    BIO_clear_retry_flags(b);
    do
        w = send(fd, data, n, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w < 0 && errno == ENOTSOCK) {
        do
            w = write(fd, data, n);
        while (w < 0 && errno == EINTR);
    }
    if (w < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            BIO_set_retry_write(b);
        return 0;
    }
    *written = (size_t)w;
    return 1;
}

static int
tls_bio_read(BIO *b, char *data, size_t n, size_t *got)
{
    struct st_tls_conn *conn = BIO_get_data(b);
    ssize_t r;

    BIO_clear_retry_flags(b);
    do
        r = read(conn->fd, data, n);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            BIO_set_retry_read(b);
            conn->sock_drained = true;
        }
        return 0;
    }
    /* A stream socket that gives less than asked has nothing more right now. */
    conn->sock_drained = (size_t)r < n;
    if (r == 0 && n > 0) {
        BIO_set_flags(b, BIO_FLAGS_IN_EOF);
        return 0;
    }
    *got = (size_t)r;
    return 1;
}

static long
tls_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_EOF:
        return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0;
    case BIO_C_GET_FD:
        if (ptr != NULL)
            *(int *)ptr = tls_bio_fd(b);
        return tls_bio_fd(b);
    default:
        return 0;
    }
}

static int
tls_bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void
tls_bio_init_method(void)
{
    int type = BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR;
    BIO_METHOD *m = BIO_meth_new(type, "strait socket");

    if (m == NULL || !BIO_meth_set_write_ex(m, tls_bio_write) ||
        !BIO_meth_set_read_ex(m, tls_bio_read) || !BIO_meth_set_ctrl(m, tls_bio_ctrl) ||
        !BIO_meth_set_create(m, tls_bio_create))
        st_oom();
    tls_bio_method = m;
}

/* Returns a new BIO on the fd of <conn> (borrowed; the BIO must not outlive it). */
static BIO *
tls_bio_new(struct st_tls_conn *conn)
{
    BIO *b;

    pthread_once(&tls_bio_once, tls_bio_init_method);
    b = BIO_new(tls_bio_method);
    if (b == NULL)
        st_oom();
    BIO_set_data(b, conn);
    return b;
}

/* ---- connections ------------------------------------------------------------- */

struct st_tls_conn *
st_tls_conn_new(struct st_tls_ctx *ctx, int fd, bool server, const char *sni)
{
    struct st_tls_conn *conn = st_xcalloc(1, sizeof(*conn));

    conn->ctx = st_tls_ctx_ref(ctx);
    conn->fd = fd;
    conn->server = server;
    conn->ssl = SSL_new(ctx->ssl);
    if (conn->ssl == NULL)
        st_oom();
    BIO *bio = tls_bio_new(conn);
    SSL_set_bio(conn->ssl, bio, bio); /* one reference, owned by the SSL */
    if (server)
        SSL_set_accept_state(conn->ssl);
    else
        SSL_set_connect_state(conn->ssl);
    if (!server && sni != NULL && SSL_set_tlsext_host_name(conn->ssl, sni) != 1)
        ERR_clear_error(); /* an unusable SNI (e.g. too long) is simply not sent */
    return conn;
}

void
st_tls_conn_set_busy(struct st_tls_conn *conn)
{
    SSL_set_read_ahead(conn->ssl, 1);
    SSL_clear_mode(conn->ssl, SSL_MODE_RELEASE_BUFFERS);
}

bool
st_tls_conn_drained(const struct st_tls_conn *conn)
{
    return conn->sock_drained && !SSL_has_pending(conn->ssl);
}

int
st_tls_conn_expect_identity(struct st_tls_conn *conn, const char *dns_name)
{
    if (!conn->ctx->verify_peer || dns_name == NULL || dns_name[0] == '\0') {
        snprintf(conn->err, sizeof(conn->err), "expected identity needs peer verification");
        return ST_EINVAL;
    }
    SSL_set_hostflags(conn->ssl,
                      X509_CHECK_FLAG_NO_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
    if (SSL_set1_host(conn->ssl, dns_name) != 1) {
        ERR_clear_error();
        snprintf(conn->err, sizeof(conn->err), "unusable expected identity");
        return ST_EINVAL;
    }
    return 0;
}

/*
 * Turns the result <ret> of an SSL_* call into our return values and records
 * a reason for errors. OpenSSL's error queue is per thread, so it is cleared
 * before each call (tls_begin) and drained here.
 */
static int
tls_result(struct st_tls_conn *conn, int ret, const char *what)
{
    int e = SSL_get_error(conn->ssl, ret);
    int saved_errno = errno;
    unsigned long code = ERR_peek_error();
    long vr = SSL_get_verify_result(conn->ssl);
    int rc;

    switch (e) {
    case SSL_ERROR_WANT_READ:
        return ST_TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return ST_TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        snprintf(conn->err, sizeof(conn->err), "%s: peer closed the connection", what);
        rc = -ECONNRESET;
        break;
    case SSL_ERROR_SYSCALL:
        rc = saved_errno != 0 ? -saved_errno : -ECONNRESET;
        snprintf(conn->err, sizeof(conn->err), "%s: %s", what,
                 saved_errno != 0 ? st_strerror(rc) : "connection closed by peer");
        break;
    default:
        if (ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            rc = -ECONNRESET;
            snprintf(conn->err, sizeof(conn->err), "%s: connection closed without close_notify",
                     what);
        } else if (vr != X509_V_OK) {
            rc = ST_ETLS;
            snprintf(conn->err, sizeof(conn->err), "%s: peer certificate refused: %s", what,
                     X509_verify_cert_error_string(vr));
        } else {
            const char *reason = code != 0 ? ERR_reason_error_string(code) : NULL;
            rc = ST_ETLS;
            snprintf(conn->err, sizeof(conn->err), "%s: %s", what,
                     reason != NULL ? reason : "TLS failure");
        }
        break;
    }
    ERR_clear_error();
    conn->failed = rc;
    return rc;
}

static void
tls_begin(struct st_tls_conn *conn)
{
    /* Looking at an empty queue costs much less than clearing it, on every read and write. */
    if (ERR_peek_error() != 0)
        ERR_clear_error();
    errno = 0;
}

int
st_tls_handshake(struct st_tls_conn *conn)
{
    int ret;

    if (conn->failed)
        return conn->failed;
    tls_begin(conn);
    ret = SSL_do_handshake(conn->ssl);
    if (ret == 1)
        return 0;
    return tls_result(conn, ret, "handshake");
}

int
st_tls_handshake_blocking(struct st_tls_conn *conn, int timeout_ms)
{
    uint64_t deadline = st_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    int flags = fcntl(conn->fd, F_GETFL);
    int rc;

    /*
     * OpenSSL would block inside read() on a blocking socket, past any
     * deadline; so the socket is non-blocking during the handshake and gets
     * its flags back afterwards.
     */
    if (flags < 0 || fcntl(conn->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        rc = -errno;
        snprintf(conn->err, sizeof(conn->err), "handshake: fcntl: %s", st_strerror(rc));
        return rc;
    }
    for (;;) {
        rc = st_tls_handshake(conn);
        if (rc != ST_TLS_WANT_READ && rc != ST_TLS_WANT_WRITE)
            break;
        uint64_t now = st_now_ms();
        if (now >= deadline) {
            snprintf(conn->err, sizeof(conn->err), "handshake: timed out");
            rc = ST_ETIMEOUT;
            break;
        }
        struct pollfd pfd = {conn->fd, rc == ST_TLS_WANT_READ ? POLLIN : POLLOUT, 0};
        if (poll(&pfd, 1, (int)(deadline - now)) < 0 && errno != EINTR) {
            rc = -errno;
            snprintf(conn->err, sizeof(conn->err), "handshake: poll: %s", st_strerror(rc));
            break;
        }
    }
    fcntl(conn->fd, F_SETFL, flags);
    return rc;
}

ssize_t
st_tls_read(struct st_tls_conn *conn, void *buf, size_t n)
{
    size_t got = 0;
    int ret;

    if (conn->failed)
        return conn->failed;
    if (n == 0)
        return 0;
    tls_begin(conn);
    ret = SSL_read_ex(conn->ssl, buf, n, &got);
    if (ret == 1)
        return (ssize_t)got;
    /* Only a close_notify after a completed handshake is a clean end. */
    if (SSL_get_error(conn->ssl, ret) == SSL_ERROR_ZERO_RETURN && SSL_is_init_finished(conn->ssl)) {
        ERR_clear_error();
        return 0;
    }
    return tls_result(conn, ret, "read");
}

ssize_t
st_tls_write(struct st_tls_conn *conn, const void *buf, size_t n)
{
    size_t put = 0;
    int ret;

    if (conn->failed)
        return conn->failed;
    if (n == 0)
        return 0;
    tls_begin(conn);
    ret = SSL_write_ex(conn->ssl, buf, n, &put);
    if (ret == 1)
        return (ssize_t)put;
    return tls_result(conn, ret, "write");
}

int
st_tls_shutdown(struct st_tls_conn *conn)
{
    int ret;

    /* Nothing to close before the handshake is done or after a failure. */
    if (conn->failed || !SSL_is_init_finished(conn->ssl))
        return 0;
    tls_begin(conn);
    ret = SSL_shutdown(conn->ssl);
    if (ret >= 0)
        return 0;
    return tls_result(conn, ret, "shutdown");
}

void
st_tls_conn_free(struct st_tls_conn *conn)
{
    if (conn == NULL)
        return;
    SSL_free(conn->ssl);
    free(conn->alpn);
    free(conn->peer_identity);
    st_tls_ctx_unref(conn->ctx);
    free(conn);
}

const char *
st_tls_conn_error(const struct st_tls_conn *conn)
{
    return conn->err;
}

const char *
st_tls_conn_alpn(struct st_tls_conn *conn)
{
    const unsigned char *p = NULL;
    unsigned int n = 0;

    if (conn->alpn == NULL) {
        SSL_get0_alpn_selected(conn->ssl, &p, &n);
        if (p == NULL || n == 0)
            return NULL;
        conn->alpn = st_xstrndup((const char *)p, n);
    }
    return conn->alpn;
}

const char *
st_tls_conn_version(const struct st_tls_conn *conn)
{
    return SSL_get_version(conn->ssl);
}

bool
st_tls_conn_peer_verified(const struct st_tls_conn *conn)
{
    return conn->ctx->verify_peer && SSL_is_init_finished(conn->ssl) &&
           SSL_get0_peer_certificate(conn->ssl) != NULL &&
           SSL_get_verify_result(conn->ssl) == X509_V_OK;
}

X509 *
st_tls_conn_peer_cert(const struct st_tls_conn *conn)
{
    return SSL_get0_peer_certificate(conn->ssl);
}

bool
st_tls_conn_peer_has_dns_san(const struct st_tls_conn *conn, const char *name)
{
    return st_tls_conn_peer_verified(conn) &&
           st_x509_has_dns_san(SSL_get0_peer_certificate(conn->ssl), name);
}

const char *
st_tls_conn_peer_identity(struct st_tls_conn *conn)
{
    struct st_x509_info info;

    if (conn->peer_identity != NULL)
        return conn->peer_identity;
    if (!st_tls_conn_peer_verified(conn) ||
        st_x509_inspect(SSL_get0_peer_certificate(conn->ssl), &info, NULL) < 0)
        return NULL;
    if (info.names.n_dns > 0)
        conn->peer_identity = st_xstrdup(info.names.dns[0]);
    st_x509_info_free(&info);
    return conn->peer_identity;
}
