/*
 * The proxy's own identity: its certificate, key and trust anchors, turned
 * into the four TLS contexts the proxy uses (inbound server, outbound
 * HTTP/2 client, outbound opaque client, and the HTTP/1.1 client of the
 * controller's destination API). One key, one certificate: all four are
 * built from the same material and swapped together. Thread-safe: the
 * contexts sit in st_tls_slots and every connection takes its own
 * reference, so a rotation never disturbs connections in flight.
 *
 * Two modes (docs/proxy.md):
 * - certify: a dedicated thread generates a P-256 key in memory, asks the
 *   controller for a certificate (POST /v1/certify with the service-account
 *   token), installs it, renews at about 70 % of its lifetime and retries
 *   with back-off. The key is never written anywhere.
 * - files: certificate, key and anchors come from files, reloaded on change.
 * Either way, nothing is served before a valid certificate is installed:
 * identity_ready() is false and the context getters return NULL.
 */
#ifndef STRAIT_PROXY_IDENTITY_H
#define STRAIT_PROXY_IDENTITY_H

#include <stdbool.h>

#include "strait/core.h"
#include "strait/tls.h"

#include "stats.h"

/* What follows "<sa>.<ns>" in a workload identity; the trust domain comes after it. */
#define IDENTITY_NAME_SUFFIX ".serviceaccount.identity.strait."

enum identity_mode {
    IDENTITY_FILES,
    IDENTITY_CERTIFY,
};

/* Everything is borrowed for the identity's life. */
struct identity_options {
    enum identity_mode mode;
    const char *anchors; /* trust anchors (PEM file); both modes */
    /* files */
    const char *cert, *key;
    /* certify */
    const char *controller;          /* HOST:PORT of the identity API */
    const char *controller_identity; /* the DNS SAN the controller must present */
    const char *token_file;          /* NULL: ST_CERTIFY_DEFAULT_TOKEN_FILE */
    const char *name;                /* <sa>.<ns>.serviceaccount.identity.strait.<td> */
    uint32_t timeout_ms;             /* one certify exchange; 0: 10,000 */
};

struct identity;

/*
 * A new identity. Registers identity_cert_* metrics in <stats> (borrowed; it
 * must outlive the identity and have a free shard for the certify thread).
 * Returns NULL with <err> set when the options are unusable (certify without
 * a controller, anchors or a well-formed name).
 */
struct identity *identity_new(const struct identity_options *o, struct stats_registry *stats,
                              struct st_err *err);
/* Stops the certify thread (waiting for an exchange in flight) and frees. Accepts NULL. */
void identity_free(struct identity *id);
/* Certify mode: starts the thread that certifies and renews. Files mode: does nothing. */
int identity_start(struct identity *id, struct st_err *err);
/* Asks the certify thread to stop soon; does not wait. Safe from any thread. */
void identity_stop(struct identity *id);
/*
 * Files mode: reloads when a file's mtime or size changed. Returns 1 after a
 * reload, 0 when nothing changed (always 0 in certify mode), negative when
 * the new files are unusable (the old contexts stay).
 */
int identity_poll(struct identity *id, struct st_err *err);
/* True when a certificate is installed and valid now. */
bool identity_ready(struct identity *id);
/* Returns a new reference to a context, or NULL when none is valid (fail closed). */
struct st_tls_ctx *identity_server_ctx(struct identity *id);
struct st_tls_ctx *identity_client_ctx(struct identity *id, bool opaque);
/*
 * The slot of the HTTP/1.1 client context (ALPN http/1.1; the peer verified
 * against the anchors), for a client that takes a slot, such as st_dest.
 * Borrowed: valid until identity_free. Empty until the first certificate is
 * installed; it then always holds the newest context, even one that has
 * expired since (the peer refuses that in the handshake).
 */
struct st_tls_slot *identity_client_h1_slot(struct identity *id);
/* Copies the local identity (first DNS SAN) into <out>; "" when none. */
void identity_name(struct identity *id, char *out, size_t size);

/*
 * Splits "<sa>.<ns>.serviceaccount.identity.strait.<td>" into new strings
 * (the namespace is the label before ".serviceaccount"). Returns 0 or
 * ST_EINVAL (nothing allocated).
 */
int identity_parse_name(const char *name, char **sa, char **ns, char **td);

#endif
