/*
 * The transport header that opens every opaque (non-HTTP) stream between two
 * proxies, right after the mTLS handshake: it names the target port on the
 * receiving side and, for a gateway, the target service. Format in
 * docs/transport-header.md.
 */
#ifndef STRAIT_PROXY_TRANSPORT_HEADER_H
#define STRAIT_PROXY_TRANSPORT_HEADER_H

#include <stddef.h>
#include <stdint.h>

#include "strait/core.h"

#define TRANSPORT_HEADER_MAGIC "STRT"
#define TRANSPORT_HEADER_VERSION 1
#define TRANSPORT_HEADER_FIXED 10     /* bytes before the name */
#define TRANSPORT_HEADER_NAME_MAX 255 /* bytes of the target name */
#define TRANSPORT_HEADER_MAX (TRANSPORT_HEADER_FIXED + TRANSPORT_HEADER_NAME_MAX)

struct transport_header {
    uint16_t port;                            /* target port, 1..65535 */
    char name[TRANSPORT_HEADER_NAME_MAX + 1]; /* target authority, "" when absent */
};

/*
 * Appends the encoding of <h> to <out>. ST_EINVAL for port 0 or a name that is
 * too long or holds characters outside [A-Za-z0-9.:_-].
 */
int transport_header_encode(const struct transport_header *h, struct st_buf *out) ST_WARN_UNUSED;

/*
 * Parses a header at the start of <buf> (untrusted). Returns its length
 * (> 0), 0 when more bytes are needed, ST_EPARSE (bad magic, version, flags,
 * port or name characters) or ST_ETOOBIG (name length over the cap).
 */
int transport_header_parse(const void *buf, size_t len, struct transport_header *out);

#endif
