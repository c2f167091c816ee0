/*
 * Non-blocking TCP socket helpers: numeric address parsing and formatting,
 * listen/accept/connect, socket options and SO_ORIGINAL_DST.
 *
 * All file descriptors returned here are non-blocking and close-on-exec, and
 * belong to the caller. Functions return >= 0 or -errno (ST_EPARSE for a
 * malformed address).
 */
#ifndef STRAIT_SOCK_H
#define STRAIT_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "strait/core.h"

/* An IPv4 or IPv6 socket address and its length. */
struct st_sockaddr {
    struct sockaddr_storage ss;
    socklen_t len;
};

/* Room for "[ffff:...:255.255.255.255]:65535" and its NUL. */
#define ST_SOCK_ADDR_STRLEN 56
/* Longest text st_sock_parse_addr looks at; longer input is ST_EPARSE. */
#define ST_SOCK_ADDR_MAXLEN 64

/*
 * Parses "A.B.C.D:PORT" or "[IPV6]:PORT" (numeric only: no names, no scope
 * ids, port 0..65535 in plain decimal). Returns 0, or ST_EPARSE leaving <out>
 * untouched. <s> is borrowed.
 */
int st_sock_parse_addr(const char *s, struct st_sockaddr *out);

/* The same for a slice that need not be NUL-terminated. */
int st_sock_parse_addr_str(struct st_str s, struct st_sockaddr *out);

/*
 * Writes "A.B.C.D:PORT" or "[IPV6]:PORT" into <buf> (NUL-terminated).
 * Returns the length, -ENOSPC if <size> is too small (ST_SOCK_ADDR_STRLEN is
 * always enough) or -EAFNOSUPPORT for other families.
 */
int st_sock_format_addr(const struct st_sockaddr *addr, char *buf, size_t size);

/* True if both hold the same family, address and port. */
bool st_sock_addr_equal(const struct st_sockaddr *a, const struct st_sockaddr *b);

/* The port of an IPv4/IPv6 address (host order), or -1. */
int st_sock_addr_port(const struct st_sockaddr *addr);

/* getsockname / getpeername into <out>. Return 0 or -errno. */
int st_sock_local_addr(int fd, struct st_sockaddr *out);
int st_sock_peer_addr(int fd, struct st_sockaddr *out);

/*
 * Returns a new listening fd bound to <addr> with SO_REUSEADDR (and
 * SO_REUSEPORT if <reuseport>; IPv6 sockets are IPv6-only), or -errno with
 * <err> set. Port 0 picks a free port; ask st_sock_local_addr for it.
 */
int st_sock_listen(const struct st_sockaddr *addr, int backlog, bool reuseport, struct st_err *err);

/*
 * Accepts one connection as a new fd. <peer> may be NULL. Returns -EAGAIN
 * when none is waiting; other negative values (-ECONNABORTED, -EMFILE...) are
 * per-call failures the caller may log and continue after.
 */
int st_sock_accept(int lfd, struct st_sockaddr *peer);

/*
 * Starts a connection to <dst> and returns the new fd; "in progress" is
 * success, so wait for ST_EV_WRITE and then call st_sock_connect_result.
 * <src> (may be NULL) is bound first, e.g. a workload's own 127.N.1.x address
 * (port 0 picks the port at connect time). Returns -errno with <err> set.
 */
int st_sock_connect(const struct st_sockaddr *dst, const struct st_sockaddr *src,
                    struct st_err *err);

/* Reads and clears SO_ERROR: 0 when connected (or still pending), else -errno. */
int st_sock_connect_result(int fd);

/* Sets TCP_NODELAY on <fd>. Returns 0 or -errno. */
int st_sock_set_nodelay(int fd, bool on);

/*
 * Turns on TCP keepalive: first probe after <idle_s> idle seconds, then every
 * <interval_s>, dropping the connection after <count> unanswered probes.
 * Returns 0 or -errno (-EINVAL for values below 1).
 */
int st_sock_set_keepalive(int fd, int idle_s, int interval_s, int count);

/*
 * The destination a connection had before an iptables REDIRECT/DNAT
 * (SO_ORIGINAL_DST for IPv4, IP6T_SO_ORIGINAL_DST for IPv6). Returns 0, or
 * -errno (typically -ENOENT or -ENOPROTOOPT) when it was not redirected.
 * <local>, when not NULL, gets the connection's local address (read anyway to
 * learn the family), so that callers need not ask the kernel again.
 */
int st_sock_original_dst(int fd, struct st_sockaddr *local, struct st_sockaddr *out);

#endif
