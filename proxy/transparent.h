/*
 * Transparent outbound proxying: connections that iptables redirected to the
 * outbound port (SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST). h1down.c finds the
 * original destination at accept, refuses loops, detects the protocol
 * (detect.h) and routes HTTP by Host or by the original destination;
 * opaque.c carries everything else to the original destination: mTLS with a
 * transport header when discovery knows it, plain TCP (passthrough) when it
 * does not. See docs/proxy.md, "Transparent proxying".
 */
#ifndef STRAIT_PROXY_TRANSPARENT_H
#define STRAIT_PROXY_TRANSPARENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dest_source.h"
#include "detect.h"
#include "proxy.h"

/*
 * The settings (--detect-timeout-ms, --opaque-ports, --negative-ttl-ms) are in
 * struct proxy_config.
 */

/*
 * True when <authority> (a redirected request's Host or :authority, borrowed)
 * names something discovery can route: an authority of the current table,
 * or, with the destination API on, a name of the cluster domain (routing
 * then waits for the API's answer). No side effects.
 */
bool route_authority_known(struct proxy_thread *th, struct st_str authority);

/*
 * The routing authority of a redirected request: its own <authority>
 * (borrowed, may be empty) when route_authority_known() says so, else
 * <orig> (the original destination "ip:port", borrowed). The request's
 * authority is never changed by this choice (route_request).
 */
const char *route_redirected(struct proxy_thread *th, struct st_str authority, const char *orig);

/*
 * Asks the destination API about <canon> (the canonical original destination
 * of a redirected connection, borrowed) as dest_source_wait() does, unless
 * the thread's negative cache holds a "no route" for it from a moment ago:
 * then, and when there is nothing to wait for, returns NULL at once.
 */
struct dest_wait *route_ask(struct proxy_thread *th, const char *canon, dest_source_cb *cb,
                            void *arg);
/*
 * Called when a route_ask() wait for <canon> ended (answered or timed out):
 * when the table still cannot route <canon>, the thread's negative cache
 * keeps that for --negative-ttl-ms, so that a client looping over unknown
 * addresses is not made to wait, and does not ask, again and again.
 */
void route_answered(struct proxy_thread *th, const char *canon);

/*
 * An HTTP/2 (prior knowledge) session from the app on the redirected
 * connection <c> (taken over), whose original destination is <orig> ("ip:port",
 * copied). Each stream is routed by its :authority when route_authority_known()
 * says so, else by <orig>, and keeps its :authority. <pre> are bytes already read.
 */
void h2srv_start_redirected(struct proxy_thread *th, struct conn *c, const char *orig,
                            const void *pre, size_t pre_len);

/*
 * Carries the redirected connection <c> (taken over; plain, from the app) to
 * its original destination <orig> (borrowed) as opaque TCP. <pre> (<n>
 * bytes, copied; may be NULL) were already read from <c> and go first.
 * Resolution: the "ip:port" authority in discovery (asking the destination
 * API once when it is on), else an endpoint whose app address is <orig>;
 * both go over mTLS to the peer's inbound port with a transport header that
 * names the target port. Unknown to discovery: a plain TCP connection
 * straight to <orig>. Failures close <c>.
 */
void opaque_transparent(struct proxy_thread *th, struct conn *c, const struct st_sockaddr *orig,
                        const void *pre, size_t n);

#endif
