/*
 * What the two HTTP/2 sessions (peer.c, h2srv.c) share: receive-side flow
 * control, and sending a body's trailers.
 *
 * Receive-side flow control:
 * Both run nghttp2 without automatic window updates, so a peer can only send
 * as much as the proxy has passed on. The window updates are sent here from
 * our own counts: nghttp2's consume helpers skip an update while an earlier
 * one is still queued, which can leave a connection window closed for good.
 */
#ifndef STRAIT_PROXY_H2_H
#define STRAIT_PROXY_H2_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "proxy.h"

#define H2_STREAM_UPDATE (PROXY_H2_WINDOW / 4)
#define H2_CONN_WINDOW (4 * PROXY_H2_WINDOW)
#define H2_CONN_UPDATE (H2_CONN_WINDOW / 4)

/*
 * Counts <n> bytes of stream <id> as passed on, and returns window to the
 * sender once enough has built up. <stream_acc> and <conn_acc> are the
 * caller's counters of bytes not yet returned.
 */
static inline void
h2_consume(nghttp2_session *ng, int32_t id, size_t n, size_t *stream_acc, size_t *conn_acc,
           bool stream_open)
{
    *stream_acc += n;
    *conn_acc += n;
    if (stream_open && *stream_acc >= H2_STREAM_UPDATE) {
        nghttp2_submit_window_update(ng, NGHTTP2_FLAG_NONE, id, (int32_t)*stream_acc);
        *stream_acc = 0;
    }
    if (*conn_acc >= H2_CONN_UPDATE) {
        nghttp2_submit_window_update(ng, NGHTTP2_FLAG_NONE, 0, (int32_t)*conn_acc);
        *conn_acc = 0;
    }
}

/*
 * Called by a data source at the end of a body: submits the trailers <t>
 * (hop-by-hop fields dropped) on stream <id> and, when any were sent, asks
 * nghttp2 not to end the stream with the last DATA frame (the HEADERS frame
 * of the trailers ends it). <t> may be NULL or empty.
 */
static inline void
h2_submit_trailers(nghttp2_session *ng, int32_t id, const struct hmsg *t, uint32_t *flags)
{
    if (t == NULL || t->n == 0)
        return;
    nghttp2_nv *nv = st_xcalloc(t->n, sizeof(*nv));
    size_t k = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (hmsg_hop_by_hop(t->f[i].name))
            continue;
        nv[k++] = (nghttp2_nv){(uint8_t *)t->f[i].name, (uint8_t *)t->f[i].value,
                               strlen(t->f[i].name), strlen(t->f[i].value), NGHTTP2_NV_FLAG_NONE};
    }
    if (k > 0 && nghttp2_submit_trailer(ng, id, nv, k) == 0)
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    free(nv);
}

#endif
