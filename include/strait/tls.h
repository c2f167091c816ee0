/*
 * strait TLS: reference-counted OpenSSL 3 contexts and non-blocking TLS
 * connections on caller-owned file descriptors. No event loop is assumed:
 * every operation returns ST_TLS_WANT_READ or ST_TLS_WANT_WRITE when it
 * needs the socket to become readable or writable, and the caller retries the
 * same call once it is. Handshake deadlines are the caller's (its timers), or
 * st_tls_handshake_blocking's timeout.
 *
 * Sockets are written with MSG_NOSIGNAL, so a peer that has gone yields
 * -EPIPE rather than SIGPIPE (other fds, such as pipes, still raise it).
 *
 * A context is shared by many connections and threads; each connection holds
 * a reference, so a rotated certificate can replace a context (see
 * struct st_tls_slot) while connections made with the old one finish.
 */
#ifndef STRAIT_TLS_H
#define STRAIT_TLS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "strait/core.h"

/*
 * Returned by st_tls_handshake/read/write/shutdown: the operation needs the
 * socket to be readable (or writable). Distinct from every error value.
 */
#define ST_TLS_WANT_READ (-10101)
#define ST_TLS_WANT_WRITE (-10102)

#define ST_TLS_ALPN_MAX 8 /* protocols in one ALPN list */

enum st_tls_verify {
    ST_TLS_VERIFY_NONE,     /* do not ask for or check the peer's certificate */
    ST_TLS_VERIFY_OPTIONAL, /* server: ask, verify if presented; client: verify */
    ST_TLS_VERIFY_REQUIRE,  /* the peer must present a certificate that verifies */
};

enum st_tls_version {
    ST_TLS_1_2, /* TLS 1.2 and 1.3: the apiserver, so that any kubectl works */
    ST_TLS_1_3, /* TLS 1.3 only: proxy-to-proxy mesh traffic */
};

/*
 * How to build a context. Everything is borrowed for the duration of
 * st_tls_ctx_new. For the certificate and key, give objects, PEM in memory or
 * file paths (first one set wins, in that order); a client may give none.
 */
struct st_tls_config {
    bool server;
    /* Certificate chain (leaf first) and private key. */
    X509 *cert;
    STACK_OF(X509) *chain; /* intermediates sent after the leaf; may be NULL */
    EVP_PKEY *key;
    const char *cert_pem; /* a PEM bundle, leaf first; NUL-terminated */
    const char *key_pem;
    const char *cert_file;
    const char *key_file;
    /* Trust anchors for the peer's chain: objects, a PEM bundle or a file. */
    STACK_OF(X509) *anchors;
    const char *anchors_pem;
    const char *anchors_file;
    enum st_tls_verify verify;
    enum st_tls_version min_version;
    /* ALPN: a client offers these, a server accepts these (its preference order). */
    const char *const *alpn; /* NULL-terminated, or NULL for no ALPN */
    /* Session tickets and resumption: off unless set (always off for the mesh). */
    bool session_tickets;
};

/* A shared TLS configuration; opaque. */
struct st_tls_ctx;

/*
 * Builds a context from <cfg>. Fails with ST_EINVAL when the configuration
 * is inconsistent (verification without anchors, a server without a
 * certificate, a key that does not match) and ST_ETLS/ST_EPARSE for bad PEM.
 * On success *out holds the only reference.
 */
int st_tls_ctx_new(const struct st_tls_config *cfg, struct st_tls_ctx **out, struct st_err *err);
/* Returns <ctx> with one more reference. Thread-safe. */
struct st_tls_ctx *st_tls_ctx_ref(struct st_tls_ctx *ctx);
/* Drops one reference; frees on the last one. Accepts NULL, returns NULL. */
struct st_tls_ctx *st_tls_ctx_unref(struct st_tls_ctx *ctx);
/* The current number of references (for tests and metrics). */
int st_tls_ctx_refs(const struct st_tls_ctx *ctx);

/*
 * A slot holding the current context of a listener or client, safe to read
 * and replace from several threads. Initialise with st_tls_slot_init.
 */
struct st_tls_slot {
    pthread_mutex_t lock;
    struct st_tls_ctx *ctx;
};

void st_tls_slot_init(struct st_tls_slot *slot);
/* Returns a new reference to the current context, or NULL if none was set. */
struct st_tls_ctx *st_tls_slot_get(struct st_tls_slot *slot);
/* Takes ownership of <ctx> (may be NULL) and drops the slot's reference to the old one. */
void st_tls_slot_set(struct st_tls_slot *slot, struct st_tls_ctx *ctx);
/* Drops the slot's reference and destroys the lock. */
void st_tls_slot_fini(struct st_tls_slot *slot);

/* ---- connections ---------------------------------------------------------------- */

struct st_tls_conn;

/*
 * Wraps the connected socket <fd> (borrowed: the caller closes it after
 * st_tls_conn_free). The fd may be blocking or not. <sni> is sent by a
 * client (NULL for none). Takes a reference on <ctx>. Returns a new
 * connection; allocation failure aborts.
 */
struct st_tls_conn *st_tls_conn_new(struct st_tls_ctx *ctx, int fd, bool server, const char *sni);

/*
 * Tunes <conn> for a long-lived connection that carries many small messages:
 * OpenSSL reads ahead (as much as the socket has, in one read, instead of a
 * record header and then its body) and keeps its record buffers instead of
 * freeing them whenever they are empty (about 34 KiB per connection). Bytes
 * may then wait inside OpenSSL where poll() cannot see them: the caller must
 * read until ST_TLS_WANT_READ, or until st_tls_conn_drained, before it waits
 * for the socket. Call before the handshake.
 */
void st_tls_conn_set_busy(struct st_tls_conn *conn);
/*
 * True when the last read from the socket took less than it asked for (or
 * found nothing) and OpenSSL holds no bytes that a read could return: with
 * edge-triggered polling nothing more can be read before the next readiness
 * event, so a caller may skip the read that would only fail with
 * ST_TLS_WANT_READ. A hint: false is always safe.
 */
bool st_tls_conn_drained(const struct st_tls_conn *conn);

/*
 * Requires the peer's certificate to carry the DNS SAN <dns_name> (exact,
 * ASCII case-insensitive, no wildcards, the subject CN is never used). The
 * check runs inside chain verification during the handshake, so a wrongly
 * identified peer is refused before any application data flows. Call before
 * the handshake; the context must verify peers. Returns 0 or ST_EINVAL.
 */
int st_tls_conn_expect_identity(struct st_tls_conn *conn, const char *dns_name);

/*
 * Advances the handshake. Returns 0 when it is complete, ST_TLS_WANT_READ /
 * ST_TLS_WANT_WRITE to be called again, or a negative error (ST_ETLS for a
 * refused handshake, -ECONNRESET when the peer went away) with the reason in
 * st_tls_conn_error. A connection that failed once keeps returning that error
 * from every later call.
 */
int st_tls_handshake(struct st_tls_conn *conn);

/*
 * Runs the handshake to completion, polling the fd as needed, for at most
 * <timeout_ms>. Returns 0, ST_ETIMEOUT or an error of st_tls_handshake.
 */
int st_tls_handshake_blocking(struct st_tls_conn *conn, int timeout_ms);

/*
 * Reads up to <n> bytes. Returns the count (> 0), 0 on a clean close
 * (close_notify), ST_TLS_WANT_READ/WRITE, or a negative error
 * (-ECONNRESET for a close without close_notify).
 */
ssize_t st_tls_read(struct st_tls_conn *conn, void *buf, size_t n);
/*
 * Writes up to <n> (> 0) bytes. Returns the count written (may be short),
 * ST_TLS_WANT_READ/WRITE, or a negative error. After a WANT, retry with the
 * same buffer pointer and length.
 */
ssize_t st_tls_write(struct st_tls_conn *conn, const void *buf, size_t n);
/*
 * Sends close_notify. Returns 0 once it is sent (it does not wait for the
 * peer's), ST_TLS_WANT_*, or a negative error.
 */
int st_tls_shutdown(struct st_tls_conn *conn);
/* Frees the connection and drops its context reference; does not close the fd. */
void st_tls_conn_free(struct st_tls_conn *conn);

/* The last error message of <conn> ("" when none); borrowed until the next call. */
const char *st_tls_conn_error(const struct st_tls_conn *conn);
/* The negotiated ALPN protocol, or NULL; borrowed, valid while <conn> lives. */
const char *st_tls_conn_alpn(struct st_tls_conn *conn);
/* "TLSv1.3", "TLSv1.2"...; static. */
const char *st_tls_conn_version(const struct st_tls_conn *conn);
/* True after a completed handshake whose peer certificate verified. */
bool st_tls_conn_peer_verified(const struct st_tls_conn *conn);
/* The peer's certificate or NULL; borrowed, valid while <conn> lives. */
X509 *st_tls_conn_peer_cert(const struct st_tls_conn *conn);
/* True when the peer's certificate verified and carries the DNS SAN <name>. */
bool st_tls_conn_peer_has_dns_san(const struct st_tls_conn *conn, const char *name);
/*
 * The peer's identity: the first DNS SAN of its verified certificate, or NULL.
 * Borrowed, valid while <conn> lives.
 */
const char *st_tls_conn_peer_identity(struct st_tls_conn *conn);

#endif
