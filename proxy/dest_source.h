/*
 * The destination source of strait-proxy: routes from the controller's
 * destination API (docs/destination-api.md, docs/proxy.md).
 *
 * The first loop thread runs an st_dest client (non-blocking, on its st_ev
 * loop, beside the connections it serves): one stream per authority in use,
 * shared by every connection and loop thread. A thread of its own would cost
 * an idle proxy a stack and a malloc arena (docs/proxy.md, "Memory") for
 * work that is a few snapshots a minute. Each snapshot becomes an immutable
 * struct disc_part that is handed to every loop thread (a mailbox and
 * st_ev_post, the first thread's own included), which merges it into its own
 * discovery table. A loop thread that meets an authority it knows nothing
 * about asks for it (a mailbox to the first thread) and parks the request
 * until the first snapshot arrives or the wait times out. Authorities nobody
 * routed with for a while are unsubscribed (st_dest then closes the stream
 * after its linger time) and dropped from the tables.
 *
 * The client certificate for the API is the proxy's own identity: the
 * identity's HTTP/1.1 client slot (proxy/identity.h), built from the same
 * key and certificate as the mesh contexts and rotated with them, so the
 * proxy holds one key and certifies once.
 *
 * dest_source_start/stop run on the main thread while no loop runs (before
 * the loop threads start, after they ended); everything else on the calling
 * loop thread.
 */
#ifndef STRAIT_PROXY_DEST_SOURCE_H
#define STRAIT_PROXY_DEST_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "strait/core.h"
#include "strait/tls.h"

#include "proxy.h"

#define DEST_SOURCE_WAIT_MS 3000   /* default: a request waits this long for a first snapshot */
#define DEST_SOURCE_IDLE_MS 60000  /* default: unsubscribe authorities unused this long */
#define DEST_SOURCE_MAX_AUTHORITIES 10000

/* Everything borrowed for the life of the source. */
struct dest_source_options {
    const char *addr;            /* the destination API "IP:PORT" */
    const char *server_identity; /* the controller's DNS SAN */
    uint32_t wait_ms;            /* 0: DEST_SOURCE_WAIT_MS */
    uint32_t idle_ms;            /* 0: DEST_SOURCE_IDLE_MS */
    struct st_tls_slot *tls;     /* the client context (the identity's); borrowed, must
                                    outlive the source */
};

/*
 * Starts the source for every thread of <px> (created, not running yet):
 * enables parts in their discovery objects and puts the client on the first
 * thread's loop. Returns 0 or a negative code with <err>.
 */
int dest_source_start(struct proxy *px, const struct dest_source_options *o, struct st_err *err);
/* Stops and frees the source; call after the loops ended, before they are freed. */
void dest_source_stop(void);
/* True when --destination is in use. */
bool dest_source_enabled(void);

struct dest_wait;
/*
 * The answer to a wait: <status> 0 when the authority is known now (found or
 * not), ST_ETIMEOUT when nothing came in time. <canon> is borrowed for the
 * call. The wait is over (and freed) when this is called.
 */
typedef void dest_source_cb(void *arg, const char *canon, int status);

/*
 * When the destination source is on and the canonical authority <canon> has
 * no snapshot on <th> yet, subscribes to it (once per process) and returns a
 * wait that calls <cb> from the loop later. Returns NULL when there is
 * nothing to wait for: the source is off, the authority is known (e.g. not
 * found), or too many authorities are pending.
 */
struct dest_wait *dest_source_wait(struct proxy_thread *th, const char *canon, dest_source_cb *cb,
                                   void *arg);
/* Ends a wait without calling its callback. Accepts NULL. */
void dest_source_cancel(struct dest_wait *w);

/*
 * The same for an exchange being routed: parks <x> (as its upstream side, so
 * a client that goes away ends the wait) and calls resume(x, canon, shown)
 * once the authority is known, or answers 503 when the wait times out.
 * Returns true when parked, false when there is nothing to wait for.
 */
typedef void dest_source_resume_fn(struct xchg *x, const char *canon, const char *shown);
bool dest_source_park(struct xchg *x, const char *canon, const char *shown,
                      dest_source_resume_fn *resume);

#endif
