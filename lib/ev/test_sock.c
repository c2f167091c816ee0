/*
 * Unit tests for the socket helpers: address parsing and formatting, listen,
 * connect and accept on loopback, refused connections, source binding and
 * socket options.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include "strait/ev.h"
#include "strait/sock.h"

static void
test_parse_ok(void **state)
{
    static const char *const ok[][2] = {
        {"127.0.0.1:8080", "127.0.0.1:8080"},
        {"0.0.0.0:0", "0.0.0.0:0"},
        {"255.255.255.255:65535", "255.255.255.255:65535"},
        {"[::1]:80", "[::1]:80"},
        {"[::]:0", "[::]:0"},
        {"[2001:DB8::0:1]:443", "[2001:db8::1]:443"},
        {"[::ffff:10.1.2.3]:4143", "[::ffff:10.1.2.3]:4143"},
    };
    char text[ST_SOCK_ADDR_STRLEN];
    struct st_sockaddr a, b;

    for (size_t i = 0; i < ST_ARRAY_LEN(ok); i++) {
        assert_int_equal(st_sock_parse_addr(ok[i][0], &a), 0);
        assert_int_equal(st_sock_format_addr(&a, text, sizeof(text)), strlen(ok[i][1]));
        assert_string_equal(text, ok[i][1]);
        assert_int_equal(st_sock_parse_addr(text, &b), 0);
        assert_true(st_sock_addr_equal(&a, &b));
    }
    assert_int_equal(st_sock_parse_addr("127.0.0.1:8080", &a), 0);
    assert_int_equal(a.ss.ss_family, AF_INET);
    assert_int_equal(a.len, sizeof(struct sockaddr_in));
    assert_int_equal(st_sock_addr_port(&a), 8080);
    assert_int_equal(st_sock_parse_addr("[::1]:80", &b), 0);
    assert_int_equal(b.ss.ss_family, AF_INET6);
    assert_int_equal(b.len, sizeof(struct sockaddr_in6));
    assert_false(st_sock_addr_equal(&a, &b));

    /* A slice is parsed without reading past its end. */
    const char *s = "10.0.0.1:99trailing";
    assert_int_equal(st_sock_parse_addr_str((struct st_str){s, 11}, &a), 0);
    assert_int_equal(st_sock_addr_port(&a), 99);

    /* Formatting into too small a buffer fails cleanly. */
    assert_int_equal(st_sock_parse_addr("127.0.0.1:8080", &a), 0);
    assert_int_equal(st_sock_format_addr(&a, text, 5), -ENOSPC);
    assert_string_equal(text, "");
    assert_int_equal(st_sock_format_addr(&a, text, 15), 14);
    struct st_sockaddr unk = {0};
    assert_int_equal(st_sock_format_addr(&unk, text, sizeof(text)), -EAFNOSUPPORT);
    assert_int_equal(st_sock_addr_port(&unk), -1);
}

static void
test_parse_errors(void **state)
{
    static const char *const bad[] = {
        "",
        ":80",
        "127.0.0.1",
        "127.0.0.1:",
        "127.0.0.1:65536",
        "127.0.0.1:-1",
        "127.0.0.1:+80",
        "127.0.0.1:080",
        "127.0.0.1: 80",
        "127.0.0.1:80 ",
        "127.0.0.1:8a",
        "127.0.0.1:99999999999999999999",
        "127.1:80",
        "127.0.0.01:80",
        "256.0.0.1:80",
        "localhost:80",
        "::1:80",
        "[::1]",
        "[::1]:",
        "[::1]80",
        "[::1:80",
        "::1]:80",
        "[127.0.0.1]:80",
        "[fe80::1%eth0]:80",
        "[::1]:80:80",
        "1.2.3.4:80:80",
        "[]:80",
        "[::1]:65536",
        "0123456789012345678901234567890123456789012345678901234567890123456789:1",
    };
    struct st_sockaddr a;

    for (size_t i = 0; i < ST_ARRAY_LEN(bad); i++) {
        memset(&a, 0x5a, sizeof(a));
        if (st_sock_parse_addr(bad[i], &a) != ST_EPARSE)
            fail_msg("accepted \"%s\"", bad[i]);
        /* A failed parse leaves the output untouched. */
        assert_int_equal(((unsigned char *)&a)[0], 0x5a);
    }
    assert_int_equal(st_sock_parse_addr(NULL, &a), ST_EPARSE);
    /* An embedded NUL is an error, not a shorter address. */
    assert_int_equal(st_sock_parse_addr_str((struct st_str){"1.2.3.4\0:80", 11}, &a), ST_EPARSE);
}

/* Waits up to <ms> for <events> on <fd>; returns the revents. */
static short
wait_fd(int fd, short events, int ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    int n = poll(&p, 1, ms);
    assert_true(n >= 0);
    return n > 0 ? p.revents : 0;
}

static void
test_listen_connect_accept(void **state)
{
    struct st_err err = {0};
    struct st_sockaddr any, bound, peer, local, src, other;
    char text[ST_SOCK_ADDR_STRLEN];

    assert_int_equal(st_sock_parse_addr("127.0.0.1:0", &any), 0);
    int lfd = st_sock_listen(&any, 16, false, &err);
    assert_true(lfd >= 0);
    assert_int_equal(st_sock_local_addr(lfd, &bound), 0);
    assert_true(st_sock_addr_port(&bound) > 0);
    assert_int_equal(st_sock_accept(lfd, &peer), -EAGAIN);

    /* The listener is non-blocking and close-on-exec. */
    assert_true(fcntl(lfd, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(lfd, F_GETFD) & FD_CLOEXEC);

    /* Binding the same address again without SO_REUSEPORT fails with a message. */
    st_err_clear(&err);
    assert_int_equal(st_sock_listen(&bound, 16, false, &err), -EADDRINUSE);
    assert_int_equal(err.code, -EADDRINUSE);
    assert_non_null(strstr(err.msg, "bind 127.0.0.1:"));

    int cfd = st_sock_connect(&bound, NULL, &err);
    assert_true(cfd >= 0);
    assert_true(wait_fd(cfd, POLLOUT, 2000) & POLLOUT);
    assert_int_equal(st_sock_connect_result(cfd), 0);
    assert_true(wait_fd(lfd, POLLIN, 2000) & POLLIN);
    int afd = st_sock_accept(lfd, &peer);
    assert_true(afd >= 0);
    assert_true(fcntl(afd, F_GETFL) & O_NONBLOCK);
    assert_int_equal(st_sock_local_addr(cfd, &local), 0);
    assert_true(st_sock_addr_equal(&peer, &local));
    assert_int_equal(st_sock_peer_addr(afd, &other), 0);
    assert_true(st_sock_addr_equal(&other, &local));
    assert_int_equal(st_sock_peer_addr(cfd, &other), 0);
    assert_true(st_sock_addr_equal(&other, &bound));

    assert_int_equal(st_sock_set_nodelay(cfd, true), 0);
    assert_int_equal(st_sock_set_nodelay(afd, false), 0);
    assert_int_equal(st_sock_set_keepalive(cfd, 30, 10, 3), 0);
    assert_int_equal(st_sock_set_keepalive(cfd, 0, 10, 3), -EINVAL);
    assert_int_equal(st_sock_set_nodelay(-1, true), -EBADF);

    /* Data flows both ways. */
    assert_int_equal(write(cfd, "ping", 4), 4);
    assert_true(wait_fd(afd, POLLIN, 2000) & POLLIN);
    char buf[8];
    assert_int_equal(read(afd, buf, sizeof(buf)), 4);
    assert_memory_equal(buf, "ping", 4);

    /* Not redirected by iptables: there is no original destination. */
    assert_true(st_sock_original_dst(afd, NULL, &other) < 0);
    struct st_sockaddr loc = {0}, loc2 = {0};
    assert_true(st_sock_original_dst(afd, &loc, &other) < 0);
    assert_int_equal(st_sock_local_addr(afd, &loc2), 0);
    assert_true(st_sock_addr_equal(&loc, &loc2)); /* the local address is given back anyway */
    assert_int_equal(st_sock_original_dst(-1, NULL, &other), -EBADF);
    close(cfd);
    close(afd);

    /* A chosen source address (any 127/8 address is on lo) is what the server sees. */
    assert_int_equal(st_sock_parse_addr("127.0.0.2:0", &src), 0);
    cfd = st_sock_connect(&bound, &src, &err);
    assert_true(cfd >= 0);
    assert_true(wait_fd(cfd, POLLOUT, 2000) & POLLOUT);
    assert_int_equal(st_sock_connect_result(cfd), 0);
    assert_true(wait_fd(lfd, POLLIN, 2000) & POLLIN);
    afd = st_sock_accept(lfd, NULL);
    assert_true(afd >= 0);
    assert_int_equal(st_sock_peer_addr(afd, &peer), 0);
    assert_true(st_sock_format_addr(&peer, text, sizeof(text)) > 0);
    assert_true(st_str_has_prefix(text, "127.0.0.2:"));
    close(cfd);
    close(afd);

    /* A source address that is not local cannot be bound. */
    assert_int_equal(st_sock_parse_addr("192.0.2.1:0", &src), 0);
    st_err_clear(&err);
    assert_int_equal(st_sock_connect(&bound, &src, &err), -EADDRNOTAVAIL);
    assert_non_null(strstr(err.msg, "192.0.2.1"));
    close(lfd);
}

static void
test_reuseport(void **state)
{
    struct st_err err = {0};
    struct st_sockaddr any, bound;

    assert_int_equal(st_sock_parse_addr("127.0.0.1:0", &any), 0);
    int a = st_sock_listen(&any, 16, true, &err);
    assert_true(a >= 0);
    assert_int_equal(st_sock_local_addr(a, &bound), 0);
    int b = st_sock_listen(&bound, 16, true, &err);
    assert_true(b >= 0);
    close(a);
    close(b);
}

static void
test_connect_refused(void **state)
{
    struct st_err err = {0};
    struct st_sockaddr any, bound;

    /* Find a port that nothing listens on: bind one, then close it. */
    assert_int_equal(st_sock_parse_addr("127.0.0.1:0", &any), 0);
    int lfd = st_sock_listen(&any, 1, false, &err);
    assert_true(lfd >= 0);
    assert_int_equal(st_sock_local_addr(lfd, &bound), 0);
    close(lfd);

    int fd = st_sock_connect(&bound, NULL, &err);
    if (fd == -ECONNREFUSED)
        return; /* some kernels answer at once; that is the same outcome */
    assert_true(fd >= 0);
    assert_true(wait_fd(fd, POLLOUT, 2000) != 0);
    assert_int_equal(st_sock_connect_result(fd), -ECONNREFUSED);
    /* SO_ERROR is cleared by reading it. */
    assert_int_equal(st_sock_connect_result(fd), 0);
    close(fd);
    assert_int_equal(st_sock_connect_result(-1), -EBADF);
}

/* The loop and the socket helpers together: accept and connect driven by watchers. */
struct echo {
    struct st_ev_io lio, cio, aio;
    int afd;
    int connected;
    int accepted;
    char got[8];
    size_t got_n;
};

static void
echo_read_cb(struct st_ev *loop, struct st_ev_io *io, unsigned events)
{
    struct echo *e = io->data;
    ssize_t n;

    while ((n = read(io->fd, e->got + e->got_n, sizeof(e->got) - e->got_n)) > 0)
        e->got_n += (size_t)n;
    if (e->got_n == 5)
        st_ev_stop(loop);
}

static void
echo_accept_cb(struct st_ev *loop, struct st_ev_io *io, unsigned events)
{
    struct echo *e = io->data;
    int fd;

    while ((fd = st_sock_accept(io->fd, NULL)) >= 0) {
        e->accepted++;
        e->afd = fd;
        st_ev_io_init(&e->aio, fd, echo_read_cb, e);
        assert_int_equal(st_ev_io_start(loop, &e->aio, ST_EV_READ), 0);
    }
    assert_int_equal(fd, -EAGAIN);
}

static void
echo_connect_cb(struct st_ev *loop, struct st_ev_io *io, unsigned events)
{
    struct echo *e = io->data;

    if (!(events & ST_EV_WRITE))
        return;
    assert_int_equal(st_sock_connect_result(io->fd), 0);
    e->connected++;
    assert_int_equal(write(io->fd, "hello", 5), 5);
    st_ev_io_stop(loop, io);
}

static void
guard_cb(struct st_ev *loop, struct st_ev_timer *t)
{
    *(bool *)t->data = true;
    st_ev_stop(loop);
}

static void
test_with_loop(void **state)
{
    struct st_err err = {0};
    struct st_ev *loop = st_ev_new(&err);
    struct st_sockaddr any, bound;
    struct echo e = {.afd = -1};
    struct st_ev_timer guard;
    bool timed_out = false;

    assert_non_null(loop);
    assert_int_equal(st_sock_parse_addr("127.0.0.1:0", &any), 0);
    int lfd = st_sock_listen(&any, 16, false, &err);
    assert_true(lfd >= 0);
    assert_int_equal(st_sock_local_addr(lfd, &bound), 0);
    st_ev_io_init(&e.lio, lfd, echo_accept_cb, &e);
    assert_int_equal(st_ev_io_start(loop, &e.lio, ST_EV_READ), 0);
    int cfd = st_sock_connect(&bound, NULL, &err);
    assert_true(cfd >= 0);
    st_ev_io_init(&e.cio, cfd, echo_connect_cb, &e);
    assert_int_equal(st_ev_io_start(loop, &e.cio, ST_EV_WRITE), 0);
    st_ev_timer_init(&guard, guard_cb, &timed_out);
    st_ev_timer_start(loop, &guard, 5000);
    assert_int_equal(st_ev_run(loop), 0);
    assert_false(timed_out);
    st_ev_timer_stop(loop, &guard);
    assert_int_equal(e.accepted, 1);
    assert_int_equal(e.connected, 1);
    assert_int_equal(e.got_n, 5);
    assert_memory_equal(e.got, "hello", 5);
    st_ev_io_stop(loop, &e.aio);
    st_ev_io_stop(loop, &e.lio);
    close(e.afd);
    close(cfd);
    close(lfd);
    st_ev_free(loop);
}

static void
test_ipv6_loopback(void **state)
{
    struct st_err err = {0};
    struct st_sockaddr any, bound, peer;

    assert_int_equal(st_sock_parse_addr("[::1]:0", &any), 0);
    int lfd = st_sock_listen(&any, 16, false, &err);
    if (lfd == -EADDRNOTAVAIL || lfd == -EAFNOSUPPORT)
        skip(); /* no IPv6 loopback in this sandbox */
    assert_true(lfd >= 0);
    assert_int_equal(st_sock_local_addr(lfd, &bound), 0);
    int cfd = st_sock_connect(&bound, NULL, &err);
    assert_true(cfd >= 0);
    assert_true(wait_fd(lfd, POLLIN, 2000) & POLLIN);
    int afd = st_sock_accept(lfd, &peer);
    assert_true(afd >= 0);
    assert_int_equal(peer.ss.ss_family, AF_INET6);
    assert_int_equal(st_sock_connect_result(cfd), 0);
    assert_true(st_sock_original_dst(afd, NULL, &peer) < 0);
    close(afd);
    close(cfd);
    close(lfd);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_listen_connect_accept),
        cmocka_unit_test(test_reuseport),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_with_loop),
        cmocka_unit_test(test_ipv6_loopback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
