/*
 * The outbound port: plaintext connections from the local app. Each one
 * speaks HTTP/1.1 (absolute-form through http_proxy, or origin-form with a
 * Host after an iptables redirect), CONNECT, Upgrade, or HTTP/2 with prior
 * knowledge (handed to h2srv.c). HTTP/1 requests become exchanges whose
 * upstream is an HTTP/2 stream to a peer proxy; bodies flow through the
 * exchange's bounded pipes in both directions.
 *
 * A connection that iptables redirected here (its SO_ORIGINAL_DST differs
 * from its local address) is first classified (detect.h): HTTP/1 and HTTP/2
 * stay here and are routed by Host when it names a known authority, else by
 * the original destination; anything else, a client that says nothing for
 * the detection timeout, and ports listed as opaque go to opaque.c.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dest_source.h"
#include "detect.h"
#include "identity.h"
#include "proxy.h"
#include "transparent.h"

#define H1DOWN_IN_MAX (PROXY_MAX_HEAD_BYTES + PROXY_IO_CHUNK)
#define H1DOWN_IDLE_BUF 4096 /* input buffer kept between requests */
#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

/*
 * CLOSING writes a final answer; LINGER then half-closes and reads what the
 * client still sends for a moment, so that unread input does not make the
 * kernel reset the connection and destroy the answer before it is read.
 */
enum h1down_state { H1D_HEAD, H1D_EXCHANGE, H1D_CLOSING, H1D_LINGER };
#define H1DOWN_LINGER_MS 2000
#define H1DOWN_LINGER_BYTES (1024 * 1024)
enum h1down_framing { H1D_NONE, H1D_LENGTH, H1D_CHUNKED, H1D_CLOSE };

struct h1down {
    struct client cl;
    struct conn *c;
    struct proxy_thread *th;
    struct st_buf in;
    enum h1down_state state;
    struct xchg *x;
    /* Request body. */
    enum st_http1_body req_framing;
    uint64_t req_left;
    struct st_http1_chunked chunked;
    struct hmsg *req_trailers;
    bool req_done;
    /* Response. */
    bool head_written, resp_done, head_method;
    enum h1down_framing resp_framing;
    uint64_t resp_left;
    int minor;
    bool keep_alive, eof, draining;
    size_t linger_bytes;
    /* Redirected connections. */
    bool redirected; /* SO_ORIGINAL_DST differs from the local address */
    bool detecting;  /* no protocol decided yet; the timer is the detection timeout */
    bool orig_asked; /* the destination API was asked about the original destination */
    struct st_sockaddr orig;
    char orig_text[ST_SOCK_ADDR_STRLEN];
    struct dest_wait *wait; /* waiting for an answer about orig_text, or NULL */
};

static void h1down_run(struct h1down *d);
static void h1down_to_opaque(struct h1down *d);

static void
h1down_wake(void *side)
{
    h1down_run(side);
}

static const struct side_ops h1down_ops = {h1down_wake};

static void
h1down_free(struct h1down *d)
{
    dest_source_cancel(d->wait);
    d->wait = NULL;
    if (d->x != NULL) {
        xchg_detach_down(d->x);
        d->x = NULL;
    }
    if (d->c != NULL) {
        conn_close(d->c);
        free(d->c);
    }
    client_unregister(d->th, &d->cl);
    if (d->req_trailers != NULL) {
        hmsg_free(d->req_trailers);
        free(d->req_trailers);
    }
    st_buf_free(&d->in);
    free(d);
}

static void
h1down_conn_cb(struct conn *c, unsigned events)
{
    ST_UNUSED(events);
    h1down_run(c->owner);
}

static void
h1down_idle(struct st_ev *loop, struct st_ev_timer *t)
{
    struct h1down *d = t->data;

    ST_UNUSED(loop);
    if (d->detecting) {
        h1down_to_opaque(d); /* the client said nothing recognisable in time */
        return;
    }
    if (d->state == H1D_HEAD && d->in.len > 0) {
        /* A head that takes too long: 408, then close. */
        static const char r408[] = "HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n"
                                   "connection: close\r\n\r\n";
        (void)conn_queue(d->c, r408, sizeof(r408) - 1);
        d->state = H1D_CLOSING;
        h1down_run(d);
        return;
    }
    if (d->state != H1D_EXCHANGE)
        h1down_free(d); /* idle keep-alive, a stuck answer, or the end of a linger */
}

static void
h1down_arm_idle(struct h1down *d)
{
    /* Initialised once in h1down_accept; starting an active timer moves it. */
    st_ev_timer_start(d->th->loop, &d->c->timer, d->th->px->cfg.idle_timeout_ms);
}

static void
h1down_drain(struct client *cl)
{
    struct h1down *d = ST_CONTAINER_OF(cl, struct h1down, cl);

    d->draining = true;
    d->keep_alive = false;
    if (d->state == H1D_HEAD && d->in.len == 0)
        h1down_free(d);
}

/* True for 0.0.0.0 and ::. */
static bool
h1down_wildcard(const struct st_sockaddr *a)
{
    static const struct in6_addr any6 = IN6ADDR_ANY_INIT;

    if (a->ss.ss_family == AF_INET)
        return ((const struct sockaddr_in *)(const void *)&a->ss)->sin_addr.s_addr == INADDR_ANY;
    if (a->ss.ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)(const void *)&a->ss)->sin6_addr, &any6,
                      sizeof(any6)) == 0;
    return false;
}

/* True when the IP of <a> belongs to this host: a socket can be bound to it. */
static bool
h1down_local_ip(const struct st_sockaddr *a)
{
    struct st_sockaddr b = *a;
    bool local;
    int fd;

    if (b.ss.ss_family == AF_INET)
        ((struct sockaddr_in *)(void *)&b.ss)->sin_port = 0;
    else if (b.ss.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)(void *)&b.ss)->sin6_port = 0;
    else
        return false;
    fd = socket(b.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    local = bind(fd, (const struct sockaddr *)&b.ss, b.len) == 0;
    close(fd);
    return local;
}

/*
 * Where the accepted <fd> was going. Returns 1 when iptables redirected it
 * here (*orig gets the original destination), 0 when the app connected to
 * the outbound port itself (no NAT, or the original destination is the local
 * address), and -ELOOP when the original destination is this very listener:
 * forwarding there would come straight back, so the caller refuses it.
 */
static int
h1down_original_dst(struct proxy_thread *th, int fd, struct st_sockaddr *orig)
{
    const struct st_sockaddr *l = &th->px->cfg.outbound;
    struct st_sockaddr local;

    if (st_sock_original_dst(fd, &local, orig) < 0 || st_sock_addr_equal(orig, &local))
        return 0;
    if (st_sock_addr_equal(orig, l))
        return -ELOOP;
    if (st_sock_addr_port(orig) == st_sock_addr_port(l) && h1down_wildcard(l) &&
        h1down_local_ip(orig))
        return -ELOOP;
    return 1;
}

/* Hands a redirected connection and what it sent so far to opaque.c, and frees <d>. */
static void
h1down_to_opaque(struct h1down *d)
{
    struct conn *c = d->c;

    d->c = NULL;
    st_ev_timer_stop(d->th->loop, &c->timer);
    opaque_transparent(d->th, c, &d->orig, d->in.data, d->in.len);
    h1down_free(d);
}

void
h1down_accept(struct proxy_thread *th, int fd)
{
    struct st_sockaddr orig;
    int redirected = h1down_original_dst(th, fd, &orig);

    if (redirected < 0) {
        static atomic_bool warned;
        char text[ST_SOCK_ADDR_STRLEN];
        st_sock_format_addr(&orig, text, sizeof(text));
        st_log(atomic_exchange(&warned, true) ? ST_LOG_DEBUG : ST_LOG_WARN,
               "refused a redirected connection to %s: that is the outbound listener itself "
               "(a loop); the iptables rules must exclude it",
               text);
        close(fd);
        return;
    }

    struct h1down *d = st_xcalloc(1, sizeof(*d));

    d->th = th;
    d->c = st_xmalloc(sizeof(*d->c));
    conn_init(d->c, th, fd, NULL, false, h1down_conn_cb, d);
    d->c->tcp = stats_tcp(th->stats, "direction=\"outbound\",peer=\"src\",tls=\"false\"");
    stats_tcp_open(d->c->tcp);
    st_sock_set_nodelay(fd, true);
    st_buf_init(&d->in, H1DOWN_IN_MAX);
    client_register(th, &d->cl, h1down_drain);
    st_ev_timer_init(&d->c->timer, h1down_idle, d);
    if (redirected) {
        d->redirected = d->detecting = true;
        d->orig = orig;
        st_sock_format_addr(&orig, d->orig_text, sizeof(d->orig_text));
        if (detect_ports_has(th->px->cfg.opaque_ports, (uint16_t)st_sock_addr_port(&orig))) {
            h1down_to_opaque(d); /* an opaque port: no detection, no wait */
            return;
        }
        st_ev_timer_start(th->loop, &d->c->timer, th->px->cfg.detect_timeout_ms);
        return;
    }
    h1down_arm_idle(d);
}

static void
h1down_orig_answered(void *arg, const char *canon, int status)
{
    struct h1down *d = arg;

    ST_UNUSED(status); /* no answer in time: what the table knows decides */
    d->wait = NULL;
    route_answered(d->th, canon);
    h1down_run(d);
}

enum h1down_route { H1D_BY_HOST, H1D_BY_ORIG, H1D_PASS, H1D_WAIT };

/*
 * How a redirected HTTP request (or HTTP/2 connection, <req> NULL) is routed:
 * by its Host when that names a known authority, else by the original
 * destination when discovery knows it (asking the destination API once), else
 * the connection goes to opaque.c (a workload address, or passthrough).
 */
static enum h1down_route
h1down_route_of(struct h1down *d, const struct st_http1_request *req)
{
    enum h1down_route r = H1D_PASS;
    char *canon;

    if (req != NULL && req->host.n > 0 && route_authority_known(d->th, req->host))
        return H1D_BY_HOST;
    canon = proxy_authority_canon(&d->th->px->cfg, d->orig_text);
    if (canon != NULL && discovery_has(discovery_table(d->th->disc), canon)) {
        r = H1D_BY_ORIG;
    } else if (canon != NULL && !d->orig_asked) {
        d->orig_asked = true;
        d->wait = route_ask(d->th, canon, h1down_orig_answered, d);
        if (d->wait != NULL)
            r = H1D_WAIT;
    }
    free(canon);
    return r;
}

/* Reads more input; > 0 bytes, 0 at the end, -EAGAIN, or an error. */
static ssize_t
h1down_fill(struct h1down *d)
{
    ssize_t r;

    if (d->eof)
        return 0;
    if (d->in.len >= H1DOWN_IN_MAX)
        return -ENOBUFS;
    if (d->in.len == 0) {
        /*
         * Nothing buffered: read on the stack and keep only what came, so that
         * a connection holds a buffer the size of its requests, not of a read.
         */
        char tmp[PROXY_IO_CHUNK];
        r = conn_read(d->c, tmp, sizeof(tmp));
        if (r > 0 && st_buf_append(&d->in, tmp, (size_t)r) < 0)
            return -ENOBUFS;
    } else {
        if (st_buf_reserve(&d->in, ST_MIN((size_t)PROXY_IO_CHUNK, H1DOWN_IN_MAX - d->in.len)) < 0)
            return -ENOBUFS;
        r = conn_read(d->c, d->in.data + d->in.len,
                      ST_MIN(d->in.cap - d->in.len, H1DOWN_IN_MAX - d->in.len));
        if (r > 0) {
            d->in.len += (size_t)r;
            d->in.data[d->in.len] = '\0';
        }
    }
    if (r == 0)
        d->eof = true;
    return r;
}

/* Queues a complete error answer and switches to closing. */
static void
h1down_error(struct h1down *d, int status, const char *reason)
{
    struct st_buf b = ST_BUF_INIT(0);
    int rc = st_buf_appendf(&b,
                            "HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: %zu\r\n"
                            "connection: close\r\n\r\n%s\n",
                            status, st_http_status_reason(status), strlen(reason) + 1, reason);
    if (rc == 0)
        (void)conn_queue(d->c, b.data, b.len);
    st_buf_free(&b);
    d->state = H1D_CLOSING;
}

static int
h1down_trailer(void *arg, struct st_str name, struct st_str value)
{
    struct h1down *d = arg;

    if (d->req_trailers == NULL) {
        d->req_trailers = st_xmalloc(sizeof(*d->req_trailers));
        hmsg_init(d->req_trailers);
    }
    return hmsg_add(d->req_trailers, name.p, name.n, value.p, value.n);
}

/* Builds the exchange for a parsed request head, or answers it directly. Returns true when <d> was
 * handed over and freed. */
static bool
h1down_start(struct h1down *d, const struct st_http1_request *req, size_t head_len)
{
    struct proxy_thread *th = d->th;
    struct st_str authority = req->host;
    const char *route_by = NULL; /* NULL: by <authority> */
    struct xchg *x;
    int rc = 0;

    if (d->redirected) {
        switch (h1down_route_of(d, req)) {
        case H1D_WAIT:
            return false; /* h1down_run waits for the answer */
        case H1D_PASS:
            h1down_to_opaque(d);
            return true;
        case H1D_BY_ORIG:
            /*
             * Routed by the original destination; the request keeps its Host. Without one
             * (HTTP/1.0: HTTP/1.1 requires it, the parser answers 400) the app gets the
             * original destination, as the hop to it is HTTP/1.1 (or HTTP/2), which needs one.
             */
            route_by = d->orig_text;
            if (authority.n == 0)
                authority = st_str_c(d->orig_text);
            break;
        case H1D_BY_HOST:
            break;
        }
    }
    if (!identity_ready(th->px->id)) {
        h1down_error(d, 503, "strait-proxy: no identity certificate yet; meshed traffic is off");
        return false;
    }

    if (authority.n == 0) {
        h1down_error(d, 400, "the request names no authority (Host)");
        return false;
    }
    if (req->method_id == ST_HTTP_CONNECT || req->upgrade) {
        char *shown = route_by != NULL ? st_xstrdup(route_by) : st_str_dup(authority);
        struct st_buf pre = ST_BUF_INIT(0);
        if (req->upgrade) {
            /* Re-send the head in origin form; the app answers 101 through the tunnel. */
            struct st_http_header hdrs[PROXY_MAX_FIELDS + 1];
            size_t n = 0;
            hdrs[n++] = (struct st_http_header){ST_STR("Host"),
                                                req->host.n > 0 ? req->host : authority};
            for (size_t i = 0; i < req->num_headers && n < ST_ARRAY_LEN(hdrs); i++) {
                struct st_str nm = req->headers[i].name;
                if (st_str_casecmp_eq(nm, ST_STR("host")) ||
                    st_str_casecmp_eq(nm, ST_STR("proxy-connection")) ||
                    st_str_casecmp_eq(nm, ST_STR("proxy-authorization")))
                    continue;
                hdrs[n++] = req->headers[i];
            }
            struct st_str target =
                req->form == ST_HTTP1_FORM_ABSOLUTE
                    ? (struct st_str){req->path.p,
                                      req->target.n - (size_t)(req->path.p - req->target.p)}
                    : req->target;
            if (req->path.p == NULL || target.n == 0)
                target = ST_STR("/");
            rc = st_http1_write_request_head(&pre, req->method, target, 1, hdrs, n);
        }
        if (rc == 0)
            rc = st_buf_append(&pre, d->in.data + head_len, d->in.len - head_len);
        if (rc < 0) {
            st_buf_free(&pre);
            free(shown);
            h1down_error(d, 400, "cannot forward this request head");
            return false;
        }
        struct conn *c = d->c;
        d->c = NULL;
        st_ev_timer_stop(th->loop, &c->timer);
        opaque_connect(th, c, shown, &pre, req->method_id == ST_HTTP_CONNECT);
        st_buf_free(&pre);
        free(shown);
        h1down_free(d);
        return true;
    }

    x = xchg_new(th, XCHG_OUTBOUND);
    x->req.method = hmsg_strdup(&x->req, req->method.p, req->method.n);
    x->req.scheme = hmsg_strdup(&x->req, "http", 4);
    x->req.authority = hmsg_strdup(&x->req, authority.p, authority.n);
    if (req->form == ST_HTTP1_FORM_ABSOLUTE && req->query.p != NULL) {
        /* path ? query, in one string of the head. */
        x->req.path = hmsg_alloc(&x->req, req->path.n + 1 + req->query.n);
        if (req->path.n > 0)
            memcpy(x->req.path, req->path.p, req->path.n);
        x->req.path[req->path.n] = '?';
        if (req->query.n > 0)
            memcpy(x->req.path + req->path.n + 1, req->query.p, req->query.n);
    } else if (req->form == ST_HTTP1_FORM_ABSOLUTE) {
        x->req.path = hmsg_strdup(&x->req, req->path.p, req->path.n);
    } else {
        x->req.path = hmsg_strdup(&x->req, req->target.p, req->target.n);
    }
    struct st_str listed[HMSG_CONN_TOKENS];
    size_t n_listed =
        hmsg_connection_tokens(req->headers, req->num_headers, listed, HMSG_CONN_TOKENS);
    for (size_t i = 0; i < req->num_headers && rc == 0; i++) {
        struct st_str name = req->headers[i].name;
        /* Hop-by-hop fields (te among them; te: trailers is added below), and strait-*. */
        bool skip = hmsg_hop_by_hop_n(name.p, name.n) ||
                    st_str_casecmp_eq(name, ST_STR("expect")) ||
                    (name.n >= 7 && strncasecmp(name.p, "strait-", 7) == 0) ||
                    hmsg_listed(listed, n_listed, req->headers, req->num_headers, name);
        if (!skip)
            rc =
                hmsg_add(&x->req, name.p, name.n, req->headers[i].value.p, req->headers[i].value.n);
    }
    const struct st_http_header *te = st_http_header_get(req->headers, req->num_headers, "te");
    if (rc == 0 && te != NULL && st_http_token_has(te->value, "trailers"))
        rc = hmsg_add(&x->req, "te", 2, "trailers", 8);
    if (rc < 0) {
        /* Never routed: nothing to count; the exchange is freed by the detach. */
        xchg_attach_down(x, d, &h1down_ops);
        xchg_detach_down(x);
        h1down_error(d, 431, "too many or too large header fields");
        return false;
    }
    x->req.content_length = req->content_length;

    d->x = x;
    d->state = H1D_EXCHANGE;
    d->minor = req->minor_version;
    d->keep_alive = req->keep_alive && !d->draining;
    d->head_method = req->method_id == ST_HTTP_HEAD;
    d->head_written = d->resp_done = false;
    d->req_framing = st_http1_request_body(req);
    d->req_left = d->req_framing == ST_HTTP1_BODY_LENGTH ? (uint64_t)req->content_length : 0;
    d->req_done = d->req_framing == ST_HTTP1_BODY_NONE ||
                  (d->req_framing == ST_HTTP1_BODY_LENGTH && d->req_left == 0);
    st_http1_chunked_init(&d->chunked);
    d->chunked.on_trailer = h1down_trailer;
    d->chunked.arg = d;
    x->reqbody.eof = d->req_done;
    st_buf_consume(&d->in, head_len);
    st_ev_timer_stop(th->loop, &d->c->timer);
    xchg_attach_down(x, d, &h1down_ops);
    if (d->redirected && route_by == NULL) /* by Host: the original destination if it fails */
        x->fallback = hmsg_strdup(&x->req, d->orig_text, strlen(d->orig_text));
    route_request(x, route_by);
    if (!x->aborted && req->expect_continue && !d->req_done) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        (void)conn_queue(d->c, cont, sizeof(cont) - 1);
    }
    return false;
}

/* Moves request body bytes from the socket into the exchange. Returns < 0 on a fatal error. */
static int
h1down_pump_request(struct h1down *d)
{
    struct xchg *x = d->x;
    bool pushed = false;

    while (!d->req_done && !pipe_full(&x->reqbody)) {
        if (d->in.len == 0) {
            ssize_t r = h1down_fill(d);
            if (r == -EAGAIN)
                break;
            if (r <= 0) {
                xchg_abort(x, 400, "the client closed the connection in the middle of the body");
                return -EPIPE;
            }
        }
        if (d->req_framing == ST_HTTP1_BODY_LENGTH) {
            size_t n = (size_t)ST_MIN((uint64_t)d->in.len, d->req_left);
            if (pipe_push(&x->reqbody, d->in.data, n) < 0)
                return ST_ETOOBIG;
            st_buf_consume(&d->in, n);
            d->req_left -= n;
            d->req_done = d->req_left == 0;
            pushed = true;
        } else {
            size_t used = 0;
            struct st_str data;
            int rc = st_http1_chunked_decode(&d->chunked, d->in.data, d->in.len, &used, &data);
            if (rc < 0) {
                xchg_abort(x, st_http1_error_status(rc), st_http1_error_reason(rc));
                return rc;
            }
            if (data.n > 0 && pipe_push(&x->reqbody, data.p, data.n) < 0)
                return ST_ETOOBIG;
            st_buf_consume(&d->in, used);
            pushed = pushed || data.n > 0;
            if (rc == 1) {
                d->req_done = true;
                x->reqbody.trailers = d->req_trailers;
                d->req_trailers = NULL;
            }
        }
    }
    if (d->req_done && !x->reqbody.eof) {
        x->reqbody.eof = true;
        pushed = true;
    }
    if (pushed)
        xchg_wake_up(x);
    return 0;
}

static int
h1down_write_head(struct h1down *d)
{
    struct xchg *x = d->x;
    struct st_http_header hdrs[PROXY_MAX_FIELDS + 2];
    size_t n = 0;
    int status = x->resp.status;
    bool has_cl = false;

    if (d->head_method || status == 204 || status == 304 || status < 200) {
        d->resp_framing = H1D_NONE;
    } else if (hmsg_get(&x->resp, "content-length") != NULL) {
        uint64_t v;
        if (st_parse_u64(st_str_c(hmsg_get(&x->resp, "content-length")), INT64_MAX, &v) < 0)
            return ST_EPROTO;
        d->resp_framing = H1D_LENGTH;
        d->resp_left = v;
    } else if (d->minor == 1) {
        d->resp_framing = H1D_CHUNKED;
    } else {
        d->resp_framing = H1D_CLOSE;
        d->keep_alive = false;
    }
    if (!d->req_done)
        d->keep_alive = false; /* the rest of the body cannot be skipped safely */
    for (size_t i = 0; i < x->resp.n && n < PROXY_MAX_FIELDS; i++) {
        if (hmsg_hop_by_hop(x->resp.f[i].name))
            continue;
        if (strcmp(x->resp.f[i].name, "content-length") == 0) {
            if (has_cl || d->resp_framing == H1D_CHUNKED || d->resp_framing == H1D_CLOSE)
                continue;
            has_cl = true;
        }
        hdrs[n++] =
            (struct st_http_header){st_str_c(x->resp.f[i].name), st_str_c(x->resp.f[i].value)};
    }
    if (d->resp_framing == H1D_CHUNKED)
        hdrs[n++] = (struct st_http_header){ST_STR("transfer-encoding"), ST_STR("chunked")};
    if (!d->keep_alive)
        hdrs[n++] = (struct st_http_header){ST_STR("connection"), ST_STR("close")};
    return st_http1_write_response_head(&d->c->out, status, ST_STR(""), d->minor, hdrs, n);
}

/* Moves response bytes from the exchange to the socket's output. */
static int
h1down_pump_response(struct h1down *d)
{
    struct xchg *x = d->x;
    char buf[PROXY_IO_CHUNK];
    int rc;

    if (!d->head_written) {
        if (!x->resp_ready)
            return 0;
        if ((rc = h1down_write_head(d)) < 0)
            return rc;
        d->head_written = true;
    }
    while (d->c->out.len < PROXY_OUT_HIGH && x->respbody.buf.len > 0) {
        size_t n = pipe_take(&x->respbody, buf, sizeof(buf));
        if (d->resp_framing == H1D_NONE)
            continue;
        if (d->resp_framing == H1D_LENGTH) {
            if (n > d->resp_left)
                return ST_EPROTO;
            d->resp_left -= n;
            rc = conn_queue(d->c, buf, n);
        } else if (d->resp_framing == H1D_CHUNKED) {
            rc = st_http1_append_chunk(&d->c->out, buf, n);
        } else {
            rc = conn_queue(d->c, buf, n);
        }
        if (rc < 0)
            return rc;
    }
    if (x->respbody.unacked > 0)
        xchg_wake_up(x);
    if (x->respbody.eof && x->respbody.buf.len == 0 && !d->resp_done) {
        if (d->resp_framing == H1D_LENGTH && d->resp_left != 0)
            return ST_EPROTO;
        if (d->resp_framing == H1D_CHUNKED) {
            rc = conn_queue(d->c, "0\r\n", 3);
            struct hmsg *t = x->respbody.trailers;
            for (size_t i = 0; t != NULL && i < t->n && rc == 0; i++)
                if (!hmsg_hop_by_hop(t->f[i].name) && strchr(t->f[i].value, '\r') == NULL &&
                    strchr(t->f[i].value, '\n') == NULL)
                    rc = st_buf_appendf(&d->c->out, "%s: %s\r\n", t->f[i].name, t->f[i].value);
            if (rc == 0)
                rc = conn_queue(d->c, "\r\n", 2);
            if (rc < 0)
                return rc;
        }
        d->resp_done = true;
        xchg_count(x, true);
    }
    return 0;
}

static void
h1down_run(struct h1down *d)
{
    for (;;) {
        if (d->state == H1D_HEAD) {
            struct st_http1_request req;
            struct st_http_header hdrs[PROXY_MAX_FIELDS];
            int rc = 0;

            if (d->wait != NULL)
                break; /* the destination API is asked about the original destination */
            if (d->detecting) {
                enum detect_result k =
                    d->in.len > 0 ? detect_protocol(d->in.data, d->in.len) : DETECT_NEED_MORE;
                if (k == DETECT_NEED_MORE) {
                    ssize_t r = h1down_fill(d);
                    if (r == -EAGAIN)
                        break;
                    if (r > 0)
                        continue;
                    if (r < 0 && r != -ENOBUFS) {
                        h1down_free(d);
                        return;
                    }
                    k = DETECT_OPAQUE; /* the client half-closed: a stream, not a request */
                }
                if (k == DETECT_OPAQUE) {
                    h1down_to_opaque(d);
                    return;
                }
                d->detecting = false;
                h1down_arm_idle(d); /* HTTP: the head timer runs from here */
            }
            if (d->in.len > 0) {
                size_t m = ST_MIN(d->in.len, sizeof(H2_PREFACE) - 1);
                if (memcmp(d->in.data, H2_PREFACE, m) == 0) {
                    if (d->in.len < sizeof(H2_PREFACE) - 1) {
                        rc = 0;
                    } else {
                        enum h1down_route how = d->redirected ? h1down_route_of(d, NULL)
                                                              : H1D_BY_HOST;
                        if (how == H1D_WAIT)
                            break;
                        if (how == H1D_PASS) {
                            h1down_to_opaque(d);
                            return;
                        }
                        struct conn *c = d->c;
                        d->c = NULL;
                        st_ev_timer_stop(d->th->loop, &c->timer);
                        if (!identity_ready(d->th->px->id)) {
                            conn_close(c);
                            free(c);
                        } else if (how == H1D_BY_ORIG) {
                            h2srv_start_redirected(d->th, c, d->orig_text, d->in.data, d->in.len);
                        } else {
                            h2srv_start(d->th, c, XCHG_OUTBOUND, NULL, d->in.data, d->in.len);
                        }
                        h1down_free(d);
                        return;
                    }
                } else {
                    rc = st_http1_parse_request(d->in.data, d->in.len, NULL, &req, hdrs,
                                                ST_ARRAY_LEN(hdrs));
                }
            }
            if (rc > 0) {
                if (h1down_start(d, &req, (size_t)rc))
                    return; /* handed over */
                continue;
            }
            if (rc < 0) {
                h1down_error(d, st_http1_error_status(rc), st_http1_error_reason(rc));
                continue;
            }
            if (d->draining && d->in.len == 0) {
                h1down_free(d);
                return;
            }
            ssize_t r = h1down_fill(d);
            if (r == -EAGAIN)
                break;
            if (r == -ENOBUFS) {
                h1down_error(d, 431, "request head too large");
                continue;
            }
            if (r <= 0) {
                h1down_free(d);
                return;
            }
            if (d->in.len == (size_t)r)
                h1down_arm_idle(d); /* the first bytes of a head: the head timer runs */
            continue;
        }

        if (d->state == H1D_EXCHANGE) {
            struct xchg *x = d->x;
            if (x->aborted && !d->head_written) {
                int status = x->abort_status != 0 ? x->abort_status : 502;
                char *reason = st_xasprintf("strait-proxy: %s",
                                            x->abort_reason != NULL ? x->abort_reason : "");
                xchg_count(x, false);
                h1down_error(d, status, reason);
                free(reason);
                xchg_detach_down(x);
                d->x = NULL;
                continue;
            }
            if (x->aborted) {
                h1down_free(d);
                return;
            }
            if (h1down_pump_request(d) < 0 && !x->aborted) {
                xchg_abort(x, 400, "bad request body");
                continue;
            }
            if (x->aborted)
                continue;
            int rc = h1down_pump_response(d);
            if (rc < 0) {
                xchg_abort(x, 502, "bad response from upstream");
                if (d->head_written) {
                    h1down_free(d);
                    return;
                }
                continue;
            }
            rc = conn_flush(d->c);
            if (rc < 0 && rc != -EAGAIN) {
                h1down_free(d);
                return;
            }
            /* All written and more waiting: go again, since no write edge will come. */
            if (rc == 0 && d->head_written && !d->resp_done && x->respbody.buf.len > 0)
                continue;
            if (d->resp_done && rc == 0) {
                bool again = d->req_done && d->keep_alive && !d->eof;
                xchg_detach_down(x);
                d->x = NULL;
                if (!again) {
                    h1down_free(d);
                    return;
                }
                d->state = H1D_HEAD;
                /* A large head or body went by: do not keep its room while idle. */
                if (d->in.len == 0 && d->in.cap > H1DOWN_IDLE_BUF)
                    st_buf_free(&d->in);
                if (d->c->out.len == 0 && d->c->out.cap > H1DOWN_IDLE_BUF)
                    st_buf_free(&d->c->out);
                h1down_arm_idle(d);
                continue;
            }
            /* The client left before the answer (an EOF seen while reading the body is handled
             * there). */
            if (d->eof && !d->req_done) {
                h1down_free(d);
                return;
            }
            break;
        }

        if (d->state == H1D_CLOSING) {
            /* Write what is queued, then half-close and linger. */
            int rc = conn_flush(d->c);
            if (rc == -EAGAIN)
                break;
            if (rc < 0 || d->eof) {
                h1down_free(d);
                return;
            }
            shutdown(d->c->fd, SHUT_WR);
            d->state = H1D_LINGER;
            d->linger_bytes = 0;
            st_ev_timer_start(d->th->loop, &d->c->timer, H1DOWN_LINGER_MS);
        }
        /* H1D_LINGER: discard input until the client closes, a cap or the timer. */
        char buf[PROXY_IO_CHUNK];
        ssize_t r;
        while ((r = conn_read(d->c, buf, sizeof(buf))) > 0) {
            d->linger_bytes += (size_t)r;
            if (d->linger_bytes > H1DOWN_LINGER_BYTES)
                break;
        }
        if (r == -EAGAIN)
            break;
        h1down_free(d);
        return;
    }
}
