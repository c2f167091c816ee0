/*
 * strait httpd: a small HTTP/1.1 server on one st_ev loop, over plain TCP or
 * TLS (lib/tls), for the control-plane APIs: strait-apiserver, the
 * controller's identity and destination APIs, and admin endpoints.
 *
 * The server reads a whole request (head and body, the body capped) and then
 * calls the handler once. The handler answers at once or later (the request
 * stays valid until answered or aborted), as a whole response or as a chunked
 * stream (watches). Pipelined requests are answered in order. Every phase has
 * a timeout and every buffer a cap; a slow client cannot hold memory.
 *
 * All calls happen on the loop's thread.
 */
#ifndef STRAIT_HTTPD_H
#define STRAIT_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strait/core.h"
#include "strait/ev.h"
#include "strait/http1.h"
#include "strait/sock.h"
#include "strait/tls.h"

#define ST_HTTPD_MAX_HEADERS 100

struct st_httpd;
struct st_httpd_req;

/* Called once per complete request; answer with st_httpd_respond or a stream. */
typedef void st_httpd_handler(void *arg, struct st_httpd_req *req);
/*
 * Called when the client goes away (or the server shuts down) before the
 * request was answered or its stream ended. The request is freed right after
 * the call returns; do not answer it any more.
 */
typedef void st_httpd_abort_cb(void *arg, struct st_httpd_req *req);

struct st_httpd_options {
    const char *listen;        /* "ADDR:PORT"; port 0 picks one (see st_httpd_addr) */
    struct st_tls_slot *tls;   /* NULL for plain HTTP; the slot's current context is taken
                                  for each accepted connection, so rotation just works */
    size_t max_conns;          /* open connections (default 1024); more wait in the backlog */
    size_t max_body;           /* request body bytes (default 3 MiB), else 413 */
    size_t max_output;         /* queued response bytes per connection (default 8 MiB) */
    uint32_t handshake_timeout_ms; /* TLS handshake (default 10 s) */
    uint32_t header_timeout_ms;    /* first byte to complete head (default 15 s) */
    uint32_t body_timeout_ms;      /* whole body (default 60 s) */
    uint32_t idle_timeout_ms;      /* keep-alive between requests (default 90 s) */
    uint32_t write_timeout_ms;     /* no write progress while output is queued (default 30 s) */
    struct st_http1_limits limits; /* zeroed means ST_HTTP1_LIMITS_DEFAULT */
    /*
     * Optional: renders the body of an answer the server gives by itself (a
     * malformed request, a body over max_body): appends it to <out> (capped)
     * and points <content_type> at a static string. Gets the handler's <arg>.
     * A negative return falls back to text/plain <reason>.
     */
    int (*error_body)(void *arg, int status, const char *reason, struct st_buf *out,
                      const char **content_type);
};

/*
 * Starts listening on <loop>. <handler>/<arg> receive requests. Returns NULL
 * with <err> set when the address is bad or cannot be bound.
 */
struct st_httpd *st_httpd_new(struct st_ev *loop, const struct st_httpd_options *opt,
                              st_httpd_handler *handler, void *arg, struct st_err *err);
/* The bound address (useful with port 0). */
const struct st_sockaddr *st_httpd_addr(const struct st_httpd *h);
/* Number of open connections. */
size_t st_httpd_conn_count(const struct st_httpd *h);
/*
 * Stops accepting and closes idle connections; connections with a request in
 * flight close once it is answered. Streams are ended. Idempotent.
 */
void st_httpd_shutdown(struct st_httpd *h);
/* Closes everything at once (aborting requests in flight) and frees. Accepts NULL. */
void st_httpd_free(struct st_httpd *h);

/* ---- the request (borrowed by the handler until answered or aborted) ---- */

const struct st_http1_request *st_httpd_req_head(const struct st_httpd_req *req);
/* The body (may be empty, never NULL); NUL-terminated for convenience. */
const char *st_httpd_req_body(const struct st_httpd_req *req, size_t *len);
/* The first header named <name> (case-insensitive), or an empty slice with p == NULL. */
struct st_str st_httpd_req_header(const struct st_httpd_req *req, const char *name);
/* The peer's address. */
const struct st_sockaddr *st_httpd_req_peer(const struct st_httpd_req *req);
/* The TLS connection (for the client certificate), or NULL for plain HTTP. */
struct st_tls_conn *st_httpd_req_tls(const struct st_httpd_req *req);
/* Sets the callback for a client that leaves before the answer is complete. */
void st_httpd_req_on_abort(struct st_httpd_req *req, st_httpd_abort_cb *cb, void *arg);

/*
 * Answers with a whole response: <status>, extra header fields (Content-Length
 * and Connection are added here; do not pass them), and <body> (copied).
 * <req> is invalid afterwards. Returns 0, or a negative error when the header
 * fields are invalid (the client then gets a 500 and the connection closes).
 */
int st_httpd_respond(struct st_httpd_req *req, int status, const struct st_http_header *hdrs,
                     size_t n, const void *body, size_t len);
/* Shorthand for a response with one Content-Type field. */
int st_httpd_respond_simple(struct st_httpd_req *req, int status, const char *content_type,
                            const void *body, size_t len);

/*
 * Starts a streamed response (chunked for HTTP/1.1; for HTTP/1.0 the body
 * runs until close). Then st_httpd_stream_write any number of times and
 * st_httpd_stream_end once. <req> stays valid until the end or an abort.
 */
int st_httpd_stream_begin(struct st_httpd_req *req, int status, const struct st_http_header *hdrs,
                          size_t n);
/*
 * Queues <p> as one chunk. ST_ETOOBIG when the client is too slow (more than
 * max_output queued): the caller should end the stream (its data is lost).
 */
int st_httpd_stream_write(struct st_httpd_req *req, const void *p, size_t len);
/* Bytes queued and not yet written for this connection. */
size_t st_httpd_stream_backlog(const struct st_httpd_req *req);
/* Ends the stream; <req> is invalid afterwards. */
void st_httpd_stream_end(struct st_httpd_req *req);

#endif
