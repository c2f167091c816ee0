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

#include <stdint.h>

#include "detect.h"
#include "proxy.h"

/*
 * Process-wide settings of transparent proxying; set once by main() before
 * the loop threads start, read-only afterwards. (They would sit in struct
 * proxy_config; proxy.h belongs to shared code, so they live here.)
 */
struct transparent_config {
    uint32_t detect_timeout_ms;      /* --detect-timeout-ms */
    struct detect_ports opaque_ports; /* --opaque-ports: detection is skipped */
};

/* Copies <cfg>; call before any thread accepts. */
void h1down_set_transparent(const struct transparent_config *cfg);

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
