/*
 * Protocol detection for transparently redirected connections (SO_ORIGINAL_DST):
 * what the first bytes a client sent say about its protocol, and the port
 * lists that skip detection (--opaque-ports). Pure functions, no I/O, so they
 * can be unit-tested and fuzzed (fuzz/fuzz_detect.c); the waiting and the
 * routing live in h1down.c and opaque.c. See docs/proxy.md.
 */
#ifndef STRAIT_PROXY_DETECT_H
#define STRAIT_PROXY_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strait/core.h"

/* An HTTP/1 request line longer than this is not waited for: the stream is opaque. */
#define DETECT_MAX_LINE 8192
/* Longest method token accepted as HTTP/1 (the longest registered method is 17 bytes). */
#define DETECT_MAX_METHOD 32
/* The default detection timeout: see docs/proxy.md for why it is shorter than Linkerd's 10 s. */
#define DETECT_TIMEOUT_MS 1000
/*
 * Linkerd's default opaque ports: server-speaks-first protocols that would
 * otherwise wait for the detection timeout (SMTP, submission, MySQL, Galera,
 * PostgreSQL, Redis, Elasticsearch transport, memcached).
 */
#define DETECT_DEFAULT_OPAQUE_PORTS "25,587,3306,4444,5432,6379,9300,11211"

enum detect_result {
    DETECT_NEED_MORE, /* a prefix of HTTP/1 or of the HTTP/2 preface: wait for more */
    DETECT_HTTP1,     /* a complete HTTP/1.0 or HTTP/1.1 request line */
    DETECT_H2,        /* the complete HTTP/2 connection preface */
    DETECT_OPAQUE,    /* anything else */
};

/*
 * Classifies the first <n> bytes of a client stream (<p> borrowed). Looks at
 * no more than DETECT_MAX_LINE + 11 bytes, and a decision other than
 * DETECT_NEED_MORE never changes when more bytes are added; gives DETECT_OPAQUE at the first
 * byte that cannot belong to an HTTP/1 request line (`token SP target SP
 * HTTP/1.x CRLF`, target of visible ASCII) or to the HTTP/2 preface. An empty
 * input needs more.
 */
enum detect_result detect_protocol(const void *p, size_t n);

/* A set of TCP ports (one bit each). */
struct detect_ports {
    uint64_t bits[65536 / 64];
};

/*
 * Parses a comma-separated list of ports and inclusive ranges ("25,3306,
 * 8000-8010") into <out> (cleared first). Spaces around items are allowed; an
 * empty string is the empty set. Ports are 1..65535, a range's start is not
 * above its end, at most 1024 items. Returns 0, or ST_EPARSE leaving <out>
 * empty. <list> is borrowed.
 */
int detect_ports_parse(const char *list, struct detect_ports *out);
bool detect_ports_has(const struct detect_ports *set, uint16_t port);

#endif
