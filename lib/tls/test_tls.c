/*
 * Unit tests for lib/tls/tls.c: real TLS handshakes over socketpairs, driven
 * by polling non-blocking sockets (and one blocking pair on two threads).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "strait/tls.h"
#include "strait/x509.h"
#include "test_pki.h"

/* The mesh PKI shared by the tests: one anchor, one issuer, two workloads. */
struct world {
    struct pki_ca root, inter, foreign;
    struct pki_leaf server, client, stranger;
    STACK_OF(X509) *anchors;
    STACK_OF(X509) *chain; /* the intermediate, sent after each leaf */
};

static int
world_setup(void **state)
{
    struct world *w = st_xcalloc(1, sizeof(*w));

    pki_root(&w->root, "root.strait");
    pki_root(&w->foreign, "root.elsewhere");
    pki_intermediate(&w->inter, &w->root, "identity.strait.cluster.local");
    pki_workload(&w->server, &w->inter, "web", "emojivoto", 0);
    pki_workload(&w->client, &w->inter, "vote", "emojivoto", 0);
    pki_workload(&w->stranger, &w->foreign, "vote", "emojivoto", 0);
    w->anchors = pki_stack(w->root.cert, NULL);
    w->chain = pki_stack(w->inter.cert, NULL);
    *state = w;
    return 0;
}

static int
world_teardown(void **state)
{
    struct world *w = *state;

    st_x509_chain_free(w->anchors);
    st_x509_chain_free(w->chain);
    pki_leaf_free(&w->server);
    pki_leaf_free(&w->client);
    pki_leaf_free(&w->stranger);
    pki_ca_free(&w->inter);
    pki_ca_free(&w->foreign);
    pki_ca_free(&w->root);
    free(w);
    return 0;
}

/* A mesh context (TLS 1.3, mutual) for <leaf> under <chain>. */
static struct st_tls_ctx *
mesh_ctx(struct world *w, bool server, const struct pki_leaf *leaf, const char *const *alpn)
{
    struct st_tls_config cfg = {0};
    struct st_tls_ctx *ctx = NULL;
    struct st_err err = {0};

    cfg.server = server;
    cfg.cert = leaf->cert;
    cfg.chain = leaf == &w->stranger ? NULL : w->chain;
    cfg.key = leaf->key;
    cfg.anchors = w->anchors;
    cfg.verify = ST_TLS_VERIFY_REQUIRE;
    cfg.min_version = ST_TLS_1_3;
    cfg.alpn = alpn;
    if (st_tls_ctx_new(&cfg, &ctx, &err) < 0)
        fail_msg("st_tls_ctx_new: %s", err.msg);
    return ctx;
}

/* Two ends of a non-blocking socketpair with a TLS connection on each. */
struct pair {
    int fd[2];
    struct st_tls_conn *c, *s;
    int crc, src; /* handshake results */
};

static void
pair_open(struct pair *p, struct st_tls_ctx *cctx, struct st_tls_ctx *sctx)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p->fd), 0);
    p->c = st_tls_conn_new(cctx, p->fd[0], false, "web.emojivoto");
    p->s = st_tls_conn_new(sctx, p->fd[1], true, NULL);
    p->crc = p->src = ST_TLS_WANT_READ;
}

static void
pair_close(struct pair *p)
{
    st_tls_conn_free(p->c);
    st_tls_conn_free(p->s);
    if (p->fd[0] >= 0)
        close(p->fd[0]);
    if (p->fd[1] >= 0)
        close(p->fd[1]);
}

static bool
wants(int rc)
{
    return rc == ST_TLS_WANT_READ || rc == ST_TLS_WANT_WRITE;
}

static short
poll_events(int rc)
{
    return rc == ST_TLS_WANT_READ ? POLLIN : rc == ST_TLS_WANT_WRITE ? POLLOUT : 0;
}

/*
 * Drives both handshakes until each side completes or fails, or nothing
 * moves for half a second (a side that waits for a peer that gave up).
 */
static void
pair_handshake(struct pair *p)
{
    for (int round = 0; round < 200; round++) {
        if (wants(p->crc))
            p->crc = st_tls_handshake(p->c);
        if (wants(p->src))
            p->src = st_tls_handshake(p->s);
        if (!wants(p->crc) && !wants(p->src))
            return;
        struct pollfd pfd[2] = {{p->fd[0], poll_events(p->crc), 0},
                                {p->fd[1], poll_events(p->src), 0}};
        if (poll(pfd, 2, 500) == 0)
            return;
    }
}

/* Reads exactly <n> bytes on <conn>, polling <fd>; returns 0 or the failing result. */
static ssize_t
conn_read_all(struct st_tls_conn *conn, int fd, char *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = st_tls_read(conn, buf + got, n - got);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        if (!wants((int)r))
            return r == 0 ? -1 : r;
        struct pollfd pfd = {fd, poll_events((int)r), 0};
        if (poll(&pfd, 1, 1000) == 0)
            return ST_ETIMEOUT;
    }
    return 0;
}

static void
conn_write_all(struct st_tls_conn *conn, int fd, const char *buf, size_t n)
{
    size_t put = 0;

    while (put < n) {
        ssize_t r = st_tls_write(conn, buf + put, n - put);
        if (r > 0) {
            put += (size_t)r;
            continue;
        }
        assert_true(wants((int)r));
        struct pollfd pfd = {fd, poll_events((int)r), 0};
        assert_int_equal(poll(&pfd, 1, 1000), 1);
    }
}

/* Waits for and returns the final result of a read on <conn>: data, EOF or an error. */
static ssize_t
conn_read_result(struct st_tls_conn *conn, int fd, char *buf, size_t n)
{
    for (int i = 0; i < 50; i++) {
        ssize_t r = st_tls_read(conn, buf, n);
        if (!wants((int)r))
            return r;
        struct pollfd pfd = {fd, poll_events((int)r), 0};
        if (poll(&pfd, 1, 500) == 0)
            return ST_ETIMEOUT;
    }
    return ST_ETIMEOUT;
}

/* ---- tests ---------------------------------------------------------------------------- */

static void
test_mutual_tls13(void **state)
{
    struct world *w = *state;
    struct st_tls_ctx *sctx = mesh_ctx(w, true, &w->server, NULL);
    struct st_tls_ctx *cctx = mesh_ctx(w, false, &w->client, NULL);
    struct pair p;
    char buf[64];

    pair_open(&p, cctx, sctx);
    assert_int_equal(st_tls_conn_expect_identity(p.c, w->server.dns), 0);
    pair_handshake(&p);
    assert_int_equal(p.crc, 0);
    assert_int_equal(p.src, 0);
    assert_string_equal(st_tls_conn_version(p.c), "TLSv1.3");
    assert_string_equal(st_tls_conn_version(p.s), "TLSv1.3");
    assert_null(st_tls_conn_alpn(p.c));

    /* Both ends know who the other is. */
    assert_true(st_tls_conn_peer_verified(p.c));
    assert_true(st_tls_conn_peer_verified(p.s));
    assert_true(st_tls_conn_peer_has_dns_san(p.c, w->server.dns));
    assert_false(st_tls_conn_peer_has_dns_san(p.c, w->client.dns));
    assert_string_equal(st_tls_conn_peer_identity(p.s), w->client.dns);
    assert_string_equal(st_tls_conn_peer_identity(p.c), w->server.dns);
    assert_int_equal(X509_cmp(st_tls_conn_peer_cert(p.s), w->client.cert), 0);

    /* Data both ways, then a clean close. */
    conn_write_all(p.c, p.fd[0], "ping", 4);
    assert_int_equal(conn_read_all(p.s, p.fd[1], buf, 4), 0);
    assert_memory_equal(buf, "ping", 4);
    conn_write_all(p.s, p.fd[1], "pong!", 5);
    assert_int_equal(conn_read_all(p.c, p.fd[0], buf, 5), 0);
    assert_memory_equal(buf, "pong!", 5);
    assert_int_equal(st_tls_shutdown(p.c), 0);
    assert_int_equal(conn_read_result(p.s, p.fd[1], buf, sizeof(buf)), 0);

    /* A peer that vanishes without close_notify is not a clean EOF. */
    close(p.fd[1]);
    p.fd[1] = -1;
    assert_int_equal(conn_read_result(p.c, p.fd[0], buf, sizeof(buf)), -ECONNRESET);
    assert_non_null(strstr(st_tls_conn_error(p.c), "close_notify"));

    pair_close(&p);

    /* Writing to a peer that has gone is an error, not a signal. */
    pair_open(&p, cctx, sctx);
    pair_handshake(&p);
    assert_int_equal(p.crc, 0);
    close(p.fd[1]);
    p.fd[1] = -1;
    ssize_t r = 0;
    for (int i = 0; i < 100 && r >= 0; i++)
        r = st_tls_write(p.c, "data", 4);
    assert_int_equal(r, -EPIPE);
    assert_int_equal(st_tls_read(p.c, buf, sizeof(buf)), -EPIPE);
    pair_close(&p);

    st_tls_ctx_unref(cctx);
    st_tls_ctx_unref(sctx);
}

/* Busy connections read ahead; st_tls_conn_drained tells when a read would find nothing. */
static void
test_busy_read_ahead(void **state)
{
    struct world *w = *state;
    struct st_tls_ctx *sctx = mesh_ctx(w, true, &w->server, NULL);
    struct st_tls_ctx *cctx = mesh_ctx(w, false, &w->client, NULL);
    static char big[40000], back[40000];
    struct pair p;
    char buf[64];

    pair_open(&p, cctx, sctx);
    st_tls_conn_set_busy(p.s);
    pair_handshake(&p);
    assert_int_equal(p.crc, 0);
    assert_int_equal(p.src, 0);

    /* Three records arrive together: one socket read takes them all. */
    conn_write_all(p.c, p.fd[0], "one", 3);
    conn_write_all(p.c, p.fd[0], "two", 3);
    conn_write_all(p.c, p.fd[0], "three", 5);
    struct pollfd pfd = {p.fd[1], POLLIN, 0};
    assert_int_equal(poll(&pfd, 1, 1000), 1);
    assert_int_equal(st_tls_read(p.s, buf, sizeof(buf)), 3);
    assert_memory_equal(buf, "one", 3);
    assert_false(st_tls_conn_drained(p.s)); /* two records wait inside OpenSSL */
    assert_int_equal(st_tls_read(p.s, buf, sizeof(buf)), 3);
    assert_memory_equal(buf, "two", 3);
    assert_false(st_tls_conn_drained(p.s));
    assert_int_equal(st_tls_read(p.s, buf, 2), 2); /* a part of a record */
    assert_false(st_tls_conn_drained(p.s));
    assert_int_equal(st_tls_read(p.s, buf + 2, sizeof(buf) - 2), 3);
    assert_memory_equal(buf, "three", 5);
    assert_true(st_tls_conn_drained(p.s));
    assert_int_equal(st_tls_read(p.s, buf, sizeof(buf)), ST_TLS_WANT_READ);
    assert_true(st_tls_conn_drained(p.s));

    /* More than a record's worth, both ways, arrives whole and in order. */
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 23);
    conn_write_all(p.c, p.fd[0], big, sizeof(big));
    assert_int_equal(conn_read_all(p.s, p.fd[1], back, sizeof(back)), 0);
    assert_memory_equal(big, back, sizeof(big));
    conn_write_all(p.s, p.fd[1], big, sizeof(big));
    assert_int_equal(conn_read_all(p.c, p.fd[0], back, sizeof(back)), 0);
    assert_memory_equal(big, back, sizeof(big));

    /* Without read-ahead, only a read that found nothing says drained. */
    conn_write_all(p.s, p.fd[1], "four", 4);
    assert_int_equal(conn_read_all(p.c, p.fd[0], buf, 4), 0);
    assert_false(st_tls_conn_drained(p.c));
    assert_int_equal(st_tls_read(p.c, buf, sizeof(buf)), ST_TLS_WANT_READ);
    assert_true(st_tls_conn_drained(p.c));

    /* The end still reads as the end. */
    assert_int_equal(st_tls_shutdown(p.c), 0);
    assert_int_equal(conn_read_result(p.s, p.fd[1], buf, sizeof(buf)), 0);
    pair_close(&p);
    st_tls_ctx_unref(cctx);
    st_tls_ctx_unref(sctx);
}

static void
test_foreign_client_refused(void **state)
{
    struct world *w = *state;
    struct st_tls_ctx *sctx = mesh_ctx(w, true, &w->server, NULL);
    struct st_tls_ctx *cctx = mesh_ctx(w, false, &w->stranger, NULL);
    struct pair p;
    char buf[16];

    pair_open(&p, cctx, sctx);
    pair_handshake(&p);
    assert_int_equal(p.src, ST_ETLS);
    assert_non_null(strstr(st_tls_conn_error(p.s), "peer certificate refused"));
    assert_false(st_tls_conn_peer_verified(p.s));
    assert_null(st_tls_conn_peer_identity(p.s));
    /*
     * In TLS 1.3 the client finishes before the server has checked its
     * certificate; it learns of the refusal from the alert on its first read.
     */
    if (p.crc == 0)
        assert_int_equal(conn_read_result(p.c, p.fd[0], buf, sizeof(buf)), ST_ETLS);
    else
        assert_int_equal(p.crc, ST_ETLS);
    pair_close(&p);

    /* A client without any certificate is refused too. */
    struct st_tls_config cfg = {
        .anchors = w->anchors, .verify = ST_TLS_VERIFY_REQUIRE, .min_version = ST_TLS_1_3};
    struct st_tls_ctx *bare = NULL;
    assert_int_equal(st_tls_ctx_new(&cfg, &bare, NULL), 0);
    pair_open(&p, bare, sctx);
    pair_handshake(&p);
    assert_int_equal(p.src, ST_ETLS);
    pair_close(&p);

    /* A certificate from the right CA but without clientAuth is no client. */
    struct pki_leaf server_only = {0};
    struct st_x509_issue_req req = {0};
    const char *dns[] = {"vote.emojivoto.serviceaccount.identity.strait.cluster.local", NULL};
    server_only.key = st_x509_key_new_p256();
    req.issuer_cert = w->inter.cert;
    req.issuer_key = w->inter.key;
    req.subject_key = server_only.key;
    req.sans.dns = dns;
    req.lifetime_s = 3600;
    req.eku = ST_X509_EKU_SERVER;
    assert_int_equal(st_x509_issue(&req, &server_only.cert, NULL), 0);
    struct st_tls_ctx *wrong_eku = mesh_ctx(w, false, &server_only, NULL);
    pair_open(&p, wrong_eku, sctx);
    pair_handshake(&p);
    assert_int_equal(p.src, ST_ETLS);
    assert_non_null(strstr(st_tls_conn_error(p.s), "purpose"));
    pair_close(&p);

    st_tls_ctx_unref(wrong_eku);
    pki_leaf_free(&server_only);
    st_tls_ctx_unref(bare);
    st_tls_ctx_unref(cctx);
    st_tls_ctx_unref(sctx);
}

static void
test_expired_server_refused(void **state)
{
    struct world *w = *state;
    struct pki_leaf old;
    struct pair p;

    pki_workload(&old, &w->inter, "web", "emojivoto", st_wall_s() - 2 * 86400);
    struct st_tls_ctx *sctx = mesh_ctx(w, true, &old, NULL);
    struct st_tls_ctx *cctx = mesh_ctx(w, false, &w->client, NULL);

    pair_open(&p, cctx, sctx);
    pair_handshake(&p);
    assert_int_equal(p.crc, ST_ETLS);
    assert_non_null(strstr(st_tls_conn_error(p.c), "expired"));
    assert_true(p.src < 0 && !wants(p.src));
    pair_close(&p);

    /* An expired client certificate is refused by the server. */
    struct st_tls_ctx *sctx2 = mesh_ctx(w, true, &w->server, NULL);
    struct st_tls_ctx *cctx2 = mesh_ctx(w, false, &old, NULL);
    pair_open(&p, cctx2, sctx2);
    pair_handshake(&p);
    assert_int_equal(p.src, ST_ETLS);
    assert_non_null(strstr(st_tls_conn_error(p.s), "expired"));
    pair_close(&p);

    st_tls_ctx_unref(cctx2);
    st_tls_ctx_unref(sctx2);
    st_tls_ctx_unref(cctx);
    st_tls_ctx_unref(sctx);
    pki_leaf_free(&old);
}

static void
test_wrong_identity_refused(void **state)
{
    struct world *w = *state;
    struct st_tls_ctx *sctx = mesh_ctx(w, true, &w->server, NULL);
    struct st_tls_ctx *cctx = mesh_ctx(w, false, &w->client, NULL);
    struct pair p;
    char buf[16];

    /* Discovery said to expect another service account. */
    pair_open(&p, cctx, sctx);
    assert_int_equal(st_tls_conn_expect_identity(
                         p.c, "admin.emojivoto.serviceaccount.identity.strait.cluster.local"),
                     0);
    pair_handshake(&p);
    assert_int_equal(p.crc, ST_ETLS);
    assert_non_null(strstr(st_tls_conn_error(p.c), "mismatch"));
    /* The server never completes, so no request can have been sent. */
    assert_int_not_equal(p.src, 0);
    assert_int_equal(conn_read_result(p.s, p.fd[1], buf, sizeof(buf)), ST_ETLS);
    assert_int_equal(st_tls_write(p.s, "x", 1), ST_ETLS);
    pair_close(&p);

    /* The check is exact: no suffix or wildcard matching, case-insensitive. */
    pair_open(&p, cctx, sctx);
    assert_int_equal(
        st_tls_conn_expect_identity(p.c, "serviceaccount.identity.strait.cluster.local"), 0);
    pair_handshake(&p);
    assert_int_equal(p.crc, ST_ETLS);
    pair_close(&p);
    pair_open(&p, cctx, sctx);
    assert_int_equal(st_tls_conn_expect_identity(
                         p.c, "WEB.emojivoto.serviceaccount.identity.strait.cluster.local"),
                     0);
    pair_handshake(&p);
    assert_int_equal(p.crc, 0);
    assert_int_equal(p.src, 0);
    pair_close(&p);

    st_tls_ctx_unref(cctx);
    st_tls_ctx_unref(sctx);
}

/*
 * Drives a TLS 1.2-only client written directly against OpenSSL (a foreign
 * peer, like an old kubectl) against <sctx>. Returns the server's result and
 * the negotiated version in <version>.
 */
static int
tls12_client_against(struct world *w, struct st_tls_ctx *sctx, const char **version)
{
    SSL_CTX *raw = SSL_CTX_new(TLS_client_method());
    int fd[2];
    int src = ST_TLS_WANT_READ, crc = -1;

    SSL_CTX_set_max_proto_version(raw, TLS1_2_VERSION);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(raw), w->root.cert);
    SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, NULL);
    SSL_CTX_use_certificate(raw, w->client.cert);
    SSL_CTX_add1_chain_cert(raw, w->inter.cert);
    SSL_CTX_use_PrivateKey(raw, w->client.key);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fd), 0);
    SSL *ssl = SSL_new(raw);
    SSL_set_fd(ssl, fd[0]);
    SSL_set_connect_state(ssl);
    struct st_tls_conn *s = st_tls_conn_new(sctx, fd[1], true, NULL);

    for (int round = 0; round < 200; round++) {
        if (crc == -1) {
            int r = SSL_do_handshake(ssl);
            int e = SSL_get_error(ssl, r);
            if (r == 1)
                crc = 0;
            else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                crc = 1;
        }
        if (wants(src))
            src = st_tls_handshake(s);
        if (crc != -1 && !wants(src))
            break;
        struct pollfd pfd[2] = {{fd[0], POLLIN, 0}, {fd[1], poll_events(src), 0}};
        if (poll(pfd, 2, 500) == 0)
            break;
    }
    ERR_clear_error();
    *version = src == 0 ? st_tls_conn_version(s) : NULL;
    st_tls_conn_free(s);
    SSL_free(ssl);
    SSL_CTX_free(raw);
    close(fd[0]);
    close(fd[1]);
    return src;
}

static void
test_tls12_client(void **state)
{
    struct world *w = *state;
    struct st_tls_ctx *mesh = mesh_ctx(w, true, &w->server, NULL);
    const char *version = NULL;

    assert_int_equal(tls12_client_against(w, mesh, &version), ST_ETLS);

    /* The apiserver profile (TLS 1.2 minimum) serves the same client. */
    struct st_tls_config cfg = {.server = true,
                                .cert = w->server.cert,
                                .chain = w->chain,
                                .key = w->server.key,
                                .anchors = w->anchors,
                                .verify = ST_TLS_VERIFY_OPTIONAL,
                                .min_version = ST_TLS_1_2};
    struct st_tls_ctx *api = NULL;
    assert_int_equal(st_tls_ctx_new(&cfg, &api, NULL), 0);
    assert_int_equal(tls12_client_against(w, api, &version), 0);
    assert_string_equal(version, "TLSv1.2");

    st_tls_ctx_unref(api);
    st_tls_ctx_unref(mesh);
}

static void
test_alpn(void **state)
{
    struct world *w = *state;
    const char *server_protos[] = {"h2", "http/1.1", NULL};
    const char *client_protos[] = {"http/1.1", "h2", NULL};
    const char *old_client[] = {"http/1.1", NULL};
    const char *odd_client[] = {"spdy/3", NULL};
    struct st_tls_ctx *sctx = mesh_ctx(w, true, &w->server, server_protos);
    struct pair p;

    /* The server's preference wins. */
    struct st_tls_ctx *cctx = mesh_ctx(w, false, &w->client, client_protos);
    pair_open(&p, cctx, sctx);
    pair_handshake(&p);
    assert_int_equal(p.crc, 0);
    assert_int_equal(p.src, 0);
    assert_string_equal(st_tls_conn_alpn(p.c), "h2");
    assert_string_equal(st_tls_conn_alpn(p.s), "h2");
    pair_close(&p);
    st_tls_ctx_unref(cctx);

    cctx = mesh_ctx(w, false, &w->client, old_client);
    pair_open(&p, cctx, sctx);
    pair_handshake(&p);
    assert_int_equal(p.crc, 0);
    assert_string_equal(st_tls_conn_alpn(p.s), "http/1.1");
    pair_close(&p);
    st_tls_ctx_unref(cctx);

    /* Nothing in common: refused with no_application_protocol. */
    cctx = mesh_ctx(w, false, &w->client, odd_client);
    pair_open(&p, cctx, sctx);
    pair_handshake(&p);
    assert_int_equal(p.src, ST_ETLS);
    assert_int_equal(p.crc, ST_ETLS);
    assert_non_null(strstr(st_tls_conn_error(p.c), "application protocol"));
    pair_close(&p);
    st_tls_ctx_unref(cctx);

    /* A client that offers no ALPN still connects, without a protocol. */
    cctx = mesh_ctx(w, false, &w->client, NULL);
    pair_open(&p, cctx, sctx);
    pair_handshake(&p);
    assert_int_equal(p.src, 0);
    assert_null(st_tls_conn_alpn(p.s));
    pair_close(&p);
    st_tls_ctx_unref(cctx);

    st_tls_ctx_unref(sctx);
}

static void
test_ctx_replacement(void **state)
{
    struct world *w = *state;
    struct st_tls_slot slot;
    struct pki_leaf renewed;
    struct pair old_conn, new_conn;

    pki_workload(&renewed, &w->inter, "web", "emojivoto", 0);
    struct st_tls_ctx *cctx = mesh_ctx(w, false, &w->client, NULL);
    st_tls_slot_init(&slot);
    assert_null(st_tls_slot_get(&slot));
    st_tls_slot_set(&slot, mesh_ctx(w, true, &w->server, NULL));

    /* A connection accepted with the current context holds a reference. */
    struct st_tls_ctx *cur = st_tls_slot_get(&slot);
    struct st_tls_ctx *first = cur;
    assert_int_equal(st_tls_ctx_refs(first), 2);
    pair_open(&old_conn, cctx, cur);
    st_tls_ctx_unref(cur);
    assert_int_equal(st_tls_ctx_refs(first), 2);

    /* Rotation: the slot now hands out the renewed certificate... */
    st_tls_slot_set(&slot, mesh_ctx(w, true, &renewed, NULL));
    assert_int_equal(st_tls_ctx_refs(first), 1);
    cur = st_tls_slot_get(&slot);
    pair_open(&new_conn, cctx, cur);
    st_tls_ctx_unref(cur);
    pair_handshake(&new_conn);
    assert_int_equal(new_conn.crc, 0);
    assert_int_equal(X509_cmp(st_tls_conn_peer_cert(new_conn.c), renewed.cert), 0);

    /* ...while the connection made before still completes with the old one. */
    pair_handshake(&old_conn);
    assert_int_equal(old_conn.crc, 0);
    assert_int_equal(old_conn.src, 0);
    assert_int_equal(X509_cmp(st_tls_conn_peer_cert(old_conn.c), w->server.cert), 0);
    assert_int_equal(st_tls_ctx_refs(first), 1);
    pair_close(&old_conn); /* frees the first context */
    pair_close(&new_conn);

    st_tls_slot_fini(&slot);
    st_tls_ctx_unref(cctx);
    pki_leaf_free(&renewed);
}

static void
test_config_errors(void **state)
{
    struct world *w = *state;
    struct st_tls_ctx *ctx = NULL;
    struct st_err err = {0};
    const char *too_many[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", NULL};

    /* A server without a certificate, verification without anchors. */
    struct st_tls_config cfg = {.server = true};
    assert_int_equal(st_tls_ctx_new(&cfg, &ctx, &err), ST_EINVAL);
    assert_null(ctx);
    cfg = (struct st_tls_config){.server = true,
                                 .cert = w->server.cert,
                                 .key = w->server.key,
                                 .verify = ST_TLS_VERIFY_REQUIRE};
    assert_int_equal(st_tls_ctx_new(&cfg, &ctx, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "anchors"));
    /* A key that does not belong to the certificate. */
    cfg = (struct st_tls_config){.server = true, .cert = w->server.cert, .key = w->client.key};
    assert_int_equal(st_tls_ctx_new(&cfg, &ctx, &err), ST_EINVAL);
    /* Broken PEM and too many ALPN names. */
    cfg = (struct st_tls_config){
        .server = true, .cert_pem = "-----BEGIN CERTIFICATE-----\nx\n", .key = w->server.key};
    assert_int_equal(st_tls_ctx_new(&cfg, &ctx, &err), ST_EPARSE);
    cfg = (struct st_tls_config){.alpn = too_many};
    assert_int_equal(st_tls_ctx_new(&cfg, &ctx, &err), ST_EINVAL);
    assert_null(ctx);

    /* Expecting an identity without verifying peers is a programming error. */
    cfg = (struct st_tls_config){0};
    assert_int_equal(st_tls_ctx_new(&cfg, &ctx, &err), 0);
    struct st_tls_conn *conn = st_tls_conn_new(ctx, -1, false, NULL);
    assert_int_equal(st_tls_conn_expect_identity(conn, w->server.dns), ST_EINVAL);
    assert_int_equal(st_tls_shutdown(conn), 0);
    st_tls_conn_free(conn);
    st_tls_ctx_unref(ctx);
}

/* ---- blocking helper, with configuration from PEM text and files ------------------------ */

struct server_thread {
    struct st_tls_ctx *ctx;
    int fd;
    int rc;
    char got[8];
};

static void *
server_main(void *arg)
{
    struct server_thread *t = arg;
    struct st_tls_conn *conn = st_tls_conn_new(t->ctx, t->fd, true, NULL);

    t->rc = st_tls_handshake_blocking(conn, 5000);
    if (t->rc == 0 && st_tls_read(conn, t->got, 4) != 4)
        t->rc = -1;
    st_tls_conn_free(conn);
    return NULL;
}

static void
test_blocking_handshake(void **state)
{
    struct world *w = *state;
    struct st_buf cert_pem = ST_BUF_INIT(0), key_pem = ST_BUF_INIT(0), ca_pem = ST_BUF_INIT(0);
    struct st_tls_ctx *sctx = NULL, *cctx = NULL;
    struct st_err err = {0};
    char dir[] = "/tmp/st-tls-XXXXXX";
    int fd[2];

    /* The server from PEM text, the client from files. */
    assert_int_equal(st_x509_to_pem(w->server.cert, &cert_pem), 0);
    assert_int_equal(st_x509_chain_to_pem(w->chain, &cert_pem), 0);
    assert_int_equal(st_x509_key_to_pem(w->server.key, &key_pem, NULL), 0);
    assert_int_equal(st_x509_chain_to_pem(w->anchors, &ca_pem), 0);
    struct st_tls_config scfg = {.server = true,
                                 .cert_pem = cert_pem.data,
                                 .key_pem = key_pem.data,
                                 .anchors_pem = ca_pem.data,
                                 .verify = ST_TLS_VERIFY_REQUIRE,
                                 .min_version = ST_TLS_1_3};
    assert_int_equal(st_tls_ctx_new(&scfg, &sctx, &err), 0);

    assert_non_null(mkdtemp(dir));
    char *cert_file = st_xasprintf("%s/cert.pem", dir);
    char *key_file = st_xasprintf("%s/key.pem", dir);
    char *ca_file = st_xasprintf("%s/ca.pem", dir);
    assert_int_equal(st_x509_write_pem_file(cert_file, w->client.cert, w->chain, 0644, &err), 0);
    assert_int_equal(st_x509_key_write_file(key_file, w->client.key, false, &err), 0);
    assert_int_equal(st_x509_write_pem_file(ca_file, w->root.cert, NULL, 0644, &err), 0);
    struct st_tls_config ccfg = {.cert_file = cert_file,
                                 .key_file = key_file,
                                 .anchors_file = ca_file,
                                 .verify = ST_TLS_VERIFY_REQUIRE,
                                 .min_version = ST_TLS_1_3};
    assert_int_equal(st_tls_ctx_new(&ccfg, &cctx, &err), 0);

    /* Blocking sockets, one thread per side. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
    struct server_thread t = {.ctx = sctx, .fd = fd[1], .rc = -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, server_main, &t), 0);
    struct st_tls_conn *c = st_tls_conn_new(cctx, fd[0], false, NULL);
    assert_int_equal(st_tls_conn_expect_identity(c, w->server.dns), 0);
    assert_int_equal(st_tls_handshake_blocking(c, 5000), 0);
    assert_int_equal(st_tls_write(c, "abcd", 4), 4);
    pthread_join(th, NULL);
    assert_int_equal(t.rc, 0);
    assert_memory_equal(t.got, "abcd", 4);
    st_tls_conn_free(c);
    close(fd[0]);
    close(fd[1]);

    /* A silent peer: the handshake gives up after its timeout. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
    c = st_tls_conn_new(cctx, fd[0], false, NULL);
    uint64_t start = st_now_ms();
    assert_int_equal(st_tls_handshake_blocking(c, 200), ST_ETIMEOUT);
    assert_true(st_now_ms() - start >= 150);
    st_tls_conn_free(c);
    close(fd[0]);
    close(fd[1]);

    unlink(cert_file);
    unlink(key_file);
    unlink(ca_file);
    rmdir(dir);
    free(cert_file);
    free(key_file);
    free(ca_file);
    st_buf_free(&cert_pem);
    st_buf_free_secret(&key_pem);
    st_buf_free(&ca_pem);
    st_tls_ctx_unref(cctx);
    st_tls_ctx_unref(sctx);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mutual_tls13),
        cmocka_unit_test(test_busy_read_ahead),
        cmocka_unit_test(test_foreign_client_refused),
        cmocka_unit_test(test_expired_server_refused),
        cmocka_unit_test(test_wrong_identity_refused),
        cmocka_unit_test(test_tls12_client),
        cmocka_unit_test(test_alpn),
        cmocka_unit_test(test_ctx_replacement),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_blocking_handshake),
    };

    /* SIGPIPE keeps its default action: a write to a closed peer must not raise it. */
    return cmocka_run_group_tests(tests, world_setup, world_teardown);
}
