/*
 * Tests for httpd: a real server on a loop thread, real sockets (and TLS) from
 * the test thread. Each test asserts what a client sees on the wire.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "strait/httpd.h"
#include "strait/x509.h"

struct server {
    struct st_ev *loop;
    struct st_httpd *httpd;
    pthread_t thread;
    struct st_sockaddr addr;
    struct st_tls_slot slot;
    int requests;
    int aborts;
    struct st_httpd_req *held; /* a request answered later or streamed */
    struct st_ev_timer later;
};

static void
on_abort(void *arg, struct st_httpd_req *req)
{
    struct server *s = arg;
    s->aborts++;
    if (s->held == req)
        s->held = NULL;
}

static void
answer_later(struct st_ev *loop, struct st_ev_timer *t)
{
    struct server *s = t->data;
    if (s->held) {
        st_httpd_respond_simple(s->held, 200, "text/plain", "late", 4);
        s->held = NULL;
    }
}

static void
stream_tick(struct st_ev *loop, struct st_ev_timer *t)
{
    struct server *s = t->data;
    if (s->held == NULL)
        return;
    st_httpd_stream_write(s->held, "tick\n", 5);
    st_ev_timer_start(loop, t, 20);
}

/* The handler: routes by path. */
static void
handle(void *arg, struct st_httpd_req *req)
{
    struct server *s = arg;
    const struct st_http1_request *h = st_httpd_req_head(req);
    size_t blen;
    const char *body = st_httpd_req_body(req, &blen);
    char out[256];

    s->requests++;
    if (st_str_eq_c(h->path, "/echo")) {
        st_httpd_respond_simple(req, 200, "application/octet-stream", body, blen);
    } else if (st_str_eq_c(h->path, "/len")) {
        int n = snprintf(out, sizeof(out), "%zu", blen);
        st_httpd_respond_simple(req, 200, "text/plain", out, (size_t)n);
    } else if (st_str_eq_c(h->path, "/later")) {
        s->held = req;
        st_httpd_req_on_abort(req, on_abort, s);
        st_ev_timer_init(&s->later, answer_later, s);
        st_ev_timer_start(s->loop, &s->later, 50);
    } else if (st_str_eq_c(h->path, "/stream")) {
        struct st_http_header ct = {ST_STR("Content-Type"), ST_STR("text/plain")};
        s->held = req;
        st_httpd_req_on_abort(req, on_abort, s);
        st_httpd_stream_begin(req, 200, &ct, 1);
        st_ev_timer_init(&s->later, stream_tick, s);
        st_ev_timer_start(s->loop, &s->later, 1);
    } else if (st_str_eq_c(h->path, "/short-stream")) {
        st_httpd_stream_begin(req, 200, NULL, 0);
        st_httpd_stream_write(req, "one", 3);
        st_httpd_stream_write(req, "two", 3);
        st_httpd_stream_end(req);
    } else {
        st_httpd_respond_simple(req, 404, "text/plain", "nope", 4);
    }
}

static void *
server_run(void *arg)
{
    struct server *s = arg;
    st_ev_run(s->loop);
    return NULL;
}

static void
server_stop_cb(void *arg)
{
    struct server *s = arg;
    st_ev_timer_stop(s->loop, &s->later);
    st_httpd_free(s->httpd);
    s->httpd = NULL;
    st_ev_stop(s->loop);
}

static struct server *
server_start(const struct st_httpd_options *extra, bool tls)
{
    struct server *s = st_xcalloc(1, sizeof(*s));
    struct st_httpd_options o = {0};
    struct st_err err;

    if (extra)
        o = *extra;
    o.listen = "127.0.0.1:0";
    s->loop = st_ev_new(&err);
    assert_non_null(s->loop);
    st_ev_timer_init(&s->later, answer_later, s);
    if (tls) {
        X509 *ca, *leaf;
        EVP_PKEY *cakey, *key = st_x509_key_new_p256();
        const char *ips[] = {"127.0.0.1", NULL};
        assert_int_equal(st_x509_ca_new("test-ca", 3600, &ca, &cakey, &err), 0);
        struct st_x509_issue_req r = {.issuer_cert = ca, .issuer_key = cakey, .subject_key = key,
                                      .cn = "server", .lifetime_s = 3600, .backdate_s = 60,
                                      .eku = ST_X509_EKU_SERVER};
        r.sans.ips = ips;
        assert_int_equal(st_x509_issue(&r, &leaf, &err), 0);
        struct st_tls_config cfg = {.server = true, .cert = leaf, .key = key,
                                    .verify = ST_TLS_VERIFY_NONE, .min_version = ST_TLS_1_2};
        struct st_tls_ctx *ctx;
        assert_int_equal(st_tls_ctx_new(&cfg, &ctx, &err), 0);
        st_tls_slot_init(&s->slot);
        st_tls_slot_set(&s->slot, ctx); /* the slot owns it now */
        o.tls = &s->slot;
        X509_free(ca);
        X509_free(leaf);
        EVP_PKEY_free(cakey);
        EVP_PKEY_free(key);
    }
    s->httpd = st_httpd_new(s->loop, &o, handle, s, &err);
    assert_non_null(s->httpd);
    s->addr = *st_httpd_addr(s->httpd);
    pthread_create(&s->thread, NULL, server_run, s);
    return s;
}

static void
server_stop(struct server *s)
{
    st_ev_post(s->loop, server_stop_cb, s);
    pthread_join(s->thread, NULL);
    st_ev_free(s->loop);
    if (s->slot.ctx)
        st_tls_slot_fini(&s->slot);
    free(s);
}

static int
client_connect(struct server *s)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&s->addr.ss, s->addr.len), 0);
    return fd;
}

static void
send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        p += w;
        n -= (size_t)w;
    }
}

static void
send_str(int fd, const char *s)
{
    send_all(fd, s, strlen(s));
}

/* Reads until <needle> appears, EOF, or 5 s pass; returns what was read. */
static char *
recv_until(int fd, const char *needle, bool *eof)
{
    struct st_buf b = ST_BUF_INIT(1 << 24);
    char chunk[4096];

    *eof = false;
    for (int waited = 0; waited < 5000;) {
        if (needle && strstr(st_buf_cstr(&b), needle))
            break;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 50) == 0) {
            waited += 50;
            continue;
        }
        ssize_t r = recv(fd, chunk, sizeof(chunk), 0);
        if (r <= 0) {
            *eof = true;
            break;
        }
        assert_int_equal(st_buf_append(&b, chunk, (size_t)r), 0);
    }
    return st_buf_steal(&b);
}

static void
test_get_keepalive_pipelined(void **state)
{
    struct server *s = server_start(NULL, false);
    int fd = client_connect(s);
    bool eof;

    send_str(fd, "GET /len HTTP/1.1\r\nHost: x\r\n\r\n");
    char *r = recv_until(fd, "\r\n\r\n0", &eof);
    assert_non_null(strstr(r, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(r, "Content-Length: 1\r\n"));
    free(r);
    /* Two pipelined requests on the same connection are answered in order. */
    const char two[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                       "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nworld";
    send_all(fd, two, sizeof(two) - 1);
    r = recv_until(fd, "world", &eof);
    char *h = strstr(r, "hello");
    assert_non_null(h);
    assert_non_null(strstr(h, "world"));
    assert_false(eof);
    free(r);
    close(fd);
    server_stop(s);
}

static void
test_chunked_body_and_100_continue(void **state)
{
    struct server *s = server_start(NULL, false);
    int fd = client_connect(s);
    bool eof;

    send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                 "Expect: 100-continue\r\n\r\n");
    char *r = recv_until(fd, "100 Continue\r\n\r\n", &eof);
    assert_non_null(strstr(r, "HTTP/1.1 100 Continue"));
    free(r);
    send_str(fd, "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n");
    r = recv_until(fd, "abcdefg", &eof);
    assert_non_null(strstr(r, "Content-Length: 7\r\n"));
    assert_non_null(strstr(r, "\r\n\r\nabcdefg"));
    free(r);
    close(fd);
    server_stop(s);
}

static void
test_errors_close(void **state)
{
    struct st_httpd_options o = {.max_body = 10};
    struct server *s = server_start(&o, false);
    bool eof;

    /* Smuggling attempt: both framings. */
    int fd = client_connect(s);
    send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    char *r = recv_until(fd, NULL, &eof);
    assert_true(st_str_has_prefix(r, "HTTP/1.1 400 "));
    assert_non_null(strstr(r, "Connection: close"));
    assert_true(eof);
    free(r);
    close(fd);

    /*
     * A body over the cap: 413 before it is read; the server then reads and
     * drops the body the client is still sending, and closes after it.
     */
    fd = client_connect(s);
    send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n");
    r = recv_until(fd, "too large", &eof);
    assert_true(st_str_has_prefix(r, "HTTP/1.1 413 "));
    assert_false(eof);
    free(r);
    send_str(fd, "01234567890");
    r = recv_until(fd, NULL, &eof);
    assert_true(eof);
    free(r);
    close(fd);

    /* A chunked body over the cap. */
    fd = client_connect(s);
    send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n");
    r = recv_until(fd, NULL, &eof);
    assert_true(st_str_has_prefix(r, "HTTP/1.1 413 "));
    free(r);
    close(fd);

    /* Garbage. */
    fd = client_connect(s);
    send_str(fd, "\x01\x02\x03 / HTTP/1.1\r\n\r\n");
    r = recv_until(fd, NULL, &eof);
    assert_true(st_str_has_prefix(r, "HTTP/1.1 400 "));
    free(r);
    close(fd);
    assert_int_equal(s->requests, 0);
    server_stop(s);
}

static void
test_header_timeout(void **state)
{
    struct st_httpd_options o = {.header_timeout_ms = 100, .idle_timeout_ms = 100};
    struct server *s = server_start(&o, false);
    int fd = client_connect(s);
    bool eof;

    send_str(fd, "GET /len HTTP/1.1\r\n"); /* never finished */
    char *r = recv_until(fd, NULL, &eof);
    assert_true(eof);
    assert_string_equal(r, "");
    free(r);
    close(fd);
    server_stop(s);
}

static void
test_async_and_http10(void **state)
{
    struct server *s = server_start(NULL, false);
    int fd = client_connect(s);
    bool eof;

    send_str(fd, "GET /later HTTP/1.0\r\n\r\n");
    char *r = recv_until(fd, NULL, &eof);
    assert_true(st_str_has_prefix(r, "HTTP/1.0 200 OK\r\n"));
    assert_non_null(strstr(r, "\r\n\r\nlate"));
    assert_true(eof); /* HTTP/1.0 without keep-alive closes */
    free(r);
    close(fd);
    server_stop(s);
}

static void
test_stream_and_abort(void **state)
{
    struct server *s = server_start(NULL, false);
    int fd = client_connect(s);
    bool eof;

    send_str(fd, "GET /short-stream HTTP/1.1\r\nHost: x\r\n\r\n");
    char *r = recv_until(fd, "0\r\n\r\n", &eof);
    assert_non_null(strstr(r, "Transfer-Encoding: chunked\r\n"));
    assert_non_null(strstr(r, "\r\n\r\n3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n"));
    free(r);
    /* The same connection can carry a stream that the client then leaves. */
    send_str(fd, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    r = recv_until(fd, "tick\n\r\n5\r\ntick", &eof);
    assert_non_null(strstr(r, "5\r\ntick\n\r\n"));
    free(r);
    close(fd);
    for (int i = 0; i < 100 && s->aborts == 0; i++)
        usleep(20000);
    assert_int_equal(s->aborts, 1);
    server_stop(s);
}

static void
test_tls(void **state)
{
    struct server *s = server_start(NULL, true);
    struct st_tls_config cfg = {.server = false, .verify = ST_TLS_VERIFY_NONE,
                                .min_version = ST_TLS_1_2};
    struct st_tls_ctx *ctx;
    struct st_err err;
    char buf[512];

    assert_int_equal(st_tls_ctx_new(&cfg, &ctx, &err), 0);
    int fd = client_connect(s);
    struct st_tls_conn *c = st_tls_conn_new(ctx, fd, false, NULL);
    assert_int_equal(st_tls_handshake_blocking(c, 5000), 0);
    const char req[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nsecret";
    assert_int_equal(st_tls_write(c, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
    size_t got = 0;
    for (int i = 0; i < 200 && !strstr(buf, "secret"); i++) {
        ssize_t r = st_tls_read(c, buf + got, sizeof(buf) - 1 - got);
        if (r > 0)
            got += (size_t)r;
        buf[got] = '\0';
        if (r <= 0)
            usleep(10000);
    }
    assert_true(st_str_has_prefix(buf, "HTTP/1.1 200 OK"));
    assert_non_null(strstr(buf, "\r\n\r\nsecret"));
    st_tls_conn_free(c);
    st_tls_ctx_unref(ctx);
    close(fd);

    /* A plaintext client gets no HTTP answer from a TLS port. */
    fd = client_connect(s);
    send_str(fd, "GET /len HTTP/1.1\r\nHost: x\r\n\r\n");
    bool eof;
    char *r = recv_until(fd, NULL, &eof);
    assert_null(strstr(r, "HTTP/1.1 200"));
    free(r);
    close(fd);
    server_stop(s);
}

static void
test_max_conns(void **state)
{
    struct st_httpd_options o = {.max_conns = 1};
    struct server *s = server_start(&o, false);
    bool eof;
    int a = client_connect(s);
    int b = client_connect(s); /* accepted by the kernel, not served yet */

    send_str(b, "GET /len HTTP/1.1\r\nHost: x\r\n\r\n");
    struct pollfd p = {b, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 200), 0);
    close(a);
    char *r = recv_until(b, "\r\n\r\n0", &eof);
    assert_true(st_str_has_prefix(r, "HTTP/1.1 200 OK"));
    free(r);
    close(b);
    server_stop(s);
}

int
main(void)
{
    /* As in every strait binary: a peer that leaves must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_keepalive_pipelined),
        cmocka_unit_test(test_chunked_body_and_100_continue),
        cmocka_unit_test(test_errors_close),
        cmocka_unit_test(test_header_timeout),
        cmocka_unit_test(test_async_and_http10),
        cmocka_unit_test(test_stream_and_abort),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_max_conns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
