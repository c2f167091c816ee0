/*
 * Receive-side flow control shared by the HTTP/2 sessions (peer.c, h2srv.c).
 * Both run nghttp2 without automatic window updates, so a peer can only send
 * as much as the proxy has passed on. The window updates are sent here from
 * our own counts: nghttp2's consume helpers skip an update while an earlier
 * one is still queued, which can leave a connection window closed for good.
 */
#ifndef STRAIT_PROXY_H2_H
#define STRAIT_PROXY_H2_H

#include <stddef.h>
#include <stdint.h>

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

#endif
