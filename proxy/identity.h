/*
 * The proxy's own identity: its certificate, key and trust anchors, loaded
 * from files and reloaded when they change, turned into the three TLS
 * contexts the proxy uses (inbound server, outbound HTTP/2 client, outbound
 * opaque client). Thread-safe: the contexts sit in st_tls_slots and every
 * connection takes its own reference, so a rotation never disturbs
 * connections in flight.
 */
#ifndef STRAIT_PROXY_IDENTITY_H
#define STRAIT_PROXY_IDENTITY_H

#include <stdbool.h>

#include "strait/core.h"
#include "strait/tls.h"

struct identity;

/* Paths are borrowed for the identity's life; any may be NULL (then nothing loads). */
struct identity *identity_new(const char *cert, const char *key, const char *anchors);
void identity_free(struct identity *id);
/*
 * Reloads when a file's mtime or size changed. Returns 1 after a reload, 0
 * when nothing changed, negative when the new files are unusable (the old
 * contexts stay).
 */
int identity_poll(struct identity *id, struct st_err *err);
/* True when a certificate is loaded and valid now. */
bool identity_ready(struct identity *id);
/* Returns a new reference to a context, or NULL when none is loaded (fail closed). */
struct st_tls_ctx *identity_server_ctx(struct identity *id);
struct st_tls_ctx *identity_client_ctx(struct identity *id, bool opaque);
/* Copies the local identity (first DNS SAN) into <out>; "" when none. */
void identity_name(struct identity *id, char *out, size_t size);

#endif
