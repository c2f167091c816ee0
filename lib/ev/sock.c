/* Non-blocking TCP socket helpers; see include/strait/sock.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <unistd.h>

#include "strait/sock.h"

/* From linux/netfilter_ipv4.h and linux/netfilter_ipv6/ip6_tables.h, which clash with libc. */
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* ---- addresses ------------------------------------------------------------- */

/* Strict decimal port: 1..5 digits, no leading zero unless it is "0". */
static int
sock_parse_port(struct st_str s, uint16_t *out)
{
    uint64_t v;

    if (s.n == 0 || s.n > 5 || (s.n > 1 && s.p[0] == '0'))
        return ST_EPARSE;
    if (st_parse_u64(s, 65535, &v) < 0)
        return ST_EPARSE;
    *out = (uint16_t)v;
    return 0;
}

int
st_sock_parse_addr_str(struct st_str s, struct st_sockaddr *out)
{
    char host[ST_SOCK_ADDR_MAXLEN + 1];
    struct st_str port;
    uint16_t pnum;

    if (s.n == 0 || s.n > ST_SOCK_ADDR_MAXLEN || memchr(s.p, '\0', s.n))
        return ST_EPARSE;

    if (s.p[0] == '[') {
        const char *close = memchr(s.p, ']', s.n);
        if (!close || close + 1 >= s.p + s.n || close[1] != ':')
            return ST_EPARSE;
        size_t hn = (size_t)(close - s.p - 1);
        memcpy(host, s.p + 1, hn);
        host[hn] = '\0';
        port = (struct st_str){close + 2, (size_t)(s.p + s.n - close - 2)};

        struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
        if (inet_pton(AF_INET6, host, &sin6.sin6_addr) != 1 || sock_parse_port(port, &pnum) < 0)
            return ST_EPARSE;
        sin6.sin6_port = htons(pnum);
        memset(out, 0, sizeof(*out));
        memcpy(&out->ss, &sin6, sizeof(sin6));
        out->len = sizeof(sin6);
        return 0;
    }

    const char *colon = memchr(s.p, ':', s.n);
    if (!colon)
        return ST_EPARSE;
    size_t hn = (size_t)(colon - s.p);
    memcpy(host, s.p, hn);
    host[hn] = '\0';
    port = (struct st_str){colon + 1, (size_t)(s.p + s.n - colon - 1)};

    struct sockaddr_in sin = {.sin_family = AF_INET};
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1 || sock_parse_port(port, &pnum) < 0)
        return ST_EPARSE;
    sin.sin_port = htons(pnum);
    memset(out, 0, sizeof(*out));
    memcpy(&out->ss, &sin, sizeof(sin));
    out->len = sizeof(sin);
    return 0;
}

int
st_sock_parse_addr(const char *s, struct st_sockaddr *out)
{
    if (!s)
        return ST_EPARSE;
    /* Bound the scan so that a huge unterminated-looking string costs little. */
    return st_sock_parse_addr_str((struct st_str){s, strnlen(s, ST_SOCK_ADDR_MAXLEN + 1)}, out);
}

int
st_sock_format_addr(const struct st_sockaddr *addr, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN];
    int n;

    if (addr->ss.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&addr->ss;
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
        n = snprintf(buf, size, "%s:%u", host, (unsigned)ntohs(sin->sin_port));
    } else if (addr->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&addr->ss;
        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
        n = snprintf(buf, size, "[%s]:%u", host, (unsigned)ntohs(sin6->sin6_port));
    } else {
        if (size > 0)
            buf[0] = '\0';
        return -EAFNOSUPPORT;
    }
    if (n < 0 || (size_t)n >= size) {
        if (size > 0)
            buf[0] = '\0';
        return -ENOSPC;
    }
    return n;
}

bool
st_sock_addr_equal(const struct st_sockaddr *a, const struct st_sockaddr *b)
{
    if (a->ss.ss_family != b->ss.ss_family)
        return false;
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)&a->ss;
        const struct sockaddr_in *y = (const struct sockaddr_in *)&b->ss;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)&a->ss;
        const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)&b->ss;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
    }
    return false;
}

int
st_sock_addr_port(const struct st_sockaddr *addr)
{
    if (addr->ss.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&addr->ss)->sin_port);
    if (addr->ss.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&addr->ss)->sin6_port);
    return -1;
}

int
st_sock_local_addr(int fd, struct st_sockaddr *out)
{
    memset(out, 0, sizeof(*out));
    out->len = sizeof(out->ss);
    if (getsockname(fd, (struct sockaddr *)&out->ss, &out->len) < 0)
        return -errno;
    return 0;
}

int
st_sock_peer_addr(int fd, struct st_sockaddr *out)
{
    memset(out, 0, sizeof(*out));
    out->len = sizeof(out->ss);
    if (getpeername(fd, (struct sockaddr *)&out->ss, &out->len) < 0)
        return -errno;
    return 0;
}

/* ---- sockets ------------------------------------------------------------------ */

static int
sock_setopt_int(int fd, int level, int name, int value)
{
    if (setsockopt(fd, level, name, &value, sizeof(value)) < 0)
        return -errno;
    return 0;
}

int
st_sock_listen(const struct st_sockaddr *addr, int backlog, bool reuseport, struct st_err *err)
{
    char text[ST_SOCK_ADDR_STRLEN];
    int fd = -1, rc;

    st_sock_format_addr(addr, text, sizeof(text));
    fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = st_err_set(err, -errno, "socket for %s: %s", text, st_strerror(errno));
        goto fail;
    }
    rc = sock_setopt_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    if (rc == 0 && reuseport)
        rc = sock_setopt_int(fd, SOL_SOCKET, SO_REUSEPORT, 1);
    if (rc == 0 && addr->ss.ss_family == AF_INET6)
        rc = sock_setopt_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
    if (rc < 0) {
        st_err_set(err, rc, "setsockopt for %s: %s", text, st_strerror(rc));
        goto fail;
    }
    if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) < 0) {
        rc = st_err_set(err, -errno, "bind %s: %s", text, st_strerror(errno));
        goto fail;
    }
    if (listen(fd, backlog) < 0) {
        rc = st_err_set(err, -errno, "listen %s: %s", text, st_strerror(errno));
        goto fail;
    }
    return fd;

fail:
    if (fd >= 0)
        close(fd);
    return rc;
}

int
st_sock_accept(int lfd, struct st_sockaddr *peer)
{
    struct st_sockaddr tmp;
    struct st_sockaddr *p = peer ? peer : &tmp;
    int fd;

    do {
        memset(p, 0, sizeof(*p));
        p->len = sizeof(p->ss);
        fd = accept4(lfd, (struct sockaddr *)&p->ss, &p->len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    return fd;
}

int
st_sock_connect(const struct st_sockaddr *dst, const struct st_sockaddr *src, struct st_err *err)
{
    char text[ST_SOCK_ADDR_STRLEN];
    int fd = -1, rc;

    st_sock_format_addr(dst, text, sizeof(text));
    fd = socket(dst->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = st_err_set(err, -errno, "socket for %s: %s", text, st_strerror(errno));
        goto fail;
    }
    if (src) {
        /*
         * With port 0, let connect() pick the port for the 4-tuple instead of
         * bind() reserving one per source address; this keeps many outgoing
         * connections from one workload address from exhausting ports.
         */
        if (st_sock_addr_port(src) == 0)
            sock_setopt_int(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
        if (bind(fd, (const struct sockaddr *)&src->ss, src->len) < 0) {
            char stext[ST_SOCK_ADDR_STRLEN];
            st_sock_format_addr(src, stext, sizeof(stext));
            rc = st_err_set(err, -errno, "bind %s to connect to %s: %s", stext, text,
                            st_strerror(errno));
            goto fail;
        }
    }
    if (connect(fd, (const struct sockaddr *)&dst->ss, dst->len) < 0 && errno != EINPROGRESS) {
        rc = st_err_set(err, -errno, "connect %s: %s", text, st_strerror(errno));
        goto fail;
    }
    return fd;

fail:
    if (fd >= 0)
        close(fd);
    return rc;
}

int
st_sock_connect_result(int fd)
{
    int e = 0;
    socklen_t len = sizeof(e);

    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
        return -errno;
    return -e;
}

int
st_sock_set_nodelay(int fd, bool on)
{
    return sock_setopt_int(fd, IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0);
}

int
st_sock_set_keepalive(int fd, int idle_s, int interval_s, int count)
{
    int rc;

    if (idle_s < 1 || interval_s < 1 || count < 1)
        return -EINVAL;
    rc = sock_setopt_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, idle_s);
    if (rc == 0)
        rc = sock_setopt_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, interval_s);
    if (rc == 0)
        rc = sock_setopt_int(fd, IPPROTO_TCP, TCP_KEEPCNT, count);
    if (rc == 0)
        rc = sock_setopt_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
    return rc;
}

int
st_sock_original_dst(int fd, struct st_sockaddr *local, struct st_sockaddr *out)
{
    struct st_sockaddr own;
    int rc;

    if (local == NULL)
        local = &own;
    if ((rc = st_sock_local_addr(fd, local)) < 0)
        return rc;
    memset(out, 0, sizeof(*out));
    if (local->ss.ss_family == AF_INET) {
        out->len = sizeof(struct sockaddr_in);
        if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &out->ss, &out->len) < 0)
            return -errno;
    } else if (local->ss.ss_family == AF_INET6) {
        out->len = sizeof(struct sockaddr_in6);
        if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &out->ss, &out->len) < 0)
            return -errno;
    } else {
        return -EAFNOSUPPORT;
    }
    return 0;
}
