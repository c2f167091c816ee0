/*
 * The non-blocking side of the API client: libcurl's multi interface driven
 * by an st_ev loop (CURLMOPT_SOCKETFUNCTION onto st_ev_io watchers,
 * CURLMOPT_TIMERFUNCTION onto one st_ev_timer), buffered asynchronous GETs,
 * and watch streams parsed line by line.
 *
 * Our loop is edge-triggered, while curl reads at most a buffer per call and
 * expects to be told again while data is left. So after every call into curl
 * for a socket, the socket's watcher is re-armed with st_ev_io_modify, which
 * makes epoll report any readiness that is still there.
 *
 * Nothing may call curl_multi_remove_handle from inside a curl callback, and
 * user callbacks run inside curl's write callback. So freeing a transfer
 * while a curl call is on the stack (c->in_curl > 0) only marks it released;
 * a deferred call (c->reap) tears it down afterwards.
 *
 * A watch may have an idle timer: a stream on which nothing at all arrives
 * (no event, no bookmark, not even a partial line) for idle_ms is ended with
 * ST_ETIMEOUT, so a connection that went silent without a FIN or RST (a peer
 * gone, a NAT entry dropped, a wedged server) is noticed long before the
 * transfer's total timeout.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define WATCH_DEFAULT_TIMEOUT_S 300
#define WATCH_DEFAULT_MAX_LINE ((size_t)16 << 20)
#define WATCH_MAX_ERROR_BODY ((size_t)64 << 10)
/* A watch may run this much longer than its server-side timeout before we give up on it. */
#define WATCH_GRACE_MS 30000

enum xfer_kind { XFER_BUFFERED, XFER_WATCH };

struct kube_xfer {
    struct st_kube_client *c;
    enum xfer_kind kind;
    CURL *h;
    struct curl_slist *hdrs, *connect_to;
    char errbuf[CURL_ERROR_SIZE];
    struct kube_xfer *prev, *next; /* c->xfers */
    bool in_multi;
    bool released;      /* the owner let go; torn down by the reap */
    struct st_buf body; /* buffered body, or the watch's partial line */
    bool overflow;
    void *alloc; /* what to free: the xfer itself or the watch around it */
    /* XFER_BUFFERED */
    kube_xfer_done_cb *done;
    void *data;
};

struct st_kube_watch {
    struct kube_xfer x;
    st_kube_watch_event_cb *on_event;
    st_kube_watch_done_cb *on_done;
    void *data;
    char *rv;
    size_t max_line;
    bool finished;
    int fail_code; /* set by the write callback: ERROR event, cap, bad line */
    struct st_err fail;
    /* The idle timer (idle_ms 0: none); last_rx is the loop time of the last bytes. */
    struct st_ev_timer idle;
    uint64_t idle_ms, last_rx;
    bool stalled;
};

struct kube_sock {
    struct st_ev_io io;
    struct st_kube_client *c;
    struct kube_sock *next;
};

static void multi_process_done(struct st_kube_client *c);
static void watch_idle_fire(struct st_ev *loop, struct st_ev_timer *t);

/* ---- the curl <-> loop glue -------------------------------------------------------- */

static struct kube_sock *
multi_find_sock(struct st_kube_client *c, int fd)
{
    for (struct kube_sock *s = c->socks; s != NULL; s = s->next)
        if (s->io.fd == fd)
            return s;
    return NULL;
}

static void
multi_sock_free(struct st_kube_client *c, struct kube_sock *s)
{
    for (struct kube_sock **pp = &c->socks; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    st_ev_io_stop(c->loop, &s->io);
    free(s);
}

static void
multi_action(struct st_kube_client *c, curl_socket_t fd, int mask)
{
    int running = 0;

    c->in_curl++;
    curl_multi_socket_action(c->multi, fd, mask, &running);
    c->in_curl--;
    multi_process_done(c);
}

static void
multi_io_cb(struct st_ev *loop, struct st_ev_io *io, unsigned events)
{
    struct kube_sock *s = io->data;
    struct st_kube_client *c = s->c;
    int fd = io->fd, mask = 0;

    if (events & ST_EV_READ)
        mask |= CURL_CSELECT_IN;
    if (events & ST_EV_WRITE)
        mask |= CURL_CSELECT_OUT;
    if (events & ST_EV_ERROR)
        mask |= CURL_CSELECT_ERR;
    multi_action(c, fd, mask);
    /*
     * <s> may be gone (curl said CURL_POLL_REMOVE); look the fd up again. A
     * new socket that reuses the fd only gets a harmless extra report.
     */
    struct kube_sock *again = multi_find_sock(c, fd);
    if (again != NULL && st_ev_io_active(&again->io))
        st_ev_io_modify(loop, &again->io, again->io.events);
}

static int
multi_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct st_kube_client *c = userp;
    struct kube_sock *s = socketp;
    unsigned events = 0;

    if (what == CURL_POLL_REMOVE) {
        if (s != NULL)
            multi_sock_free(c, s);
        return 0;
    }
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= ST_EV_READ;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= ST_EV_WRITE;
    if (s == NULL) {
        s = st_xcalloc(1, sizeof(*s));
        s->c = c;
        st_ev_io_init(&s->io, fd, multi_io_cb, s);
        if (st_ev_io_start(c->loop, &s->io, events) < 0) {
            free(s);
            return -1; /* curl fails the transfer */
        }
        s->next = c->socks;
        c->socks = s;
        curl_multi_assign(c->multi, fd, s);
        return 0;
    }
    return st_ev_io_modify(c->loop, &s->io, events) < 0 ? -1 : 0;
}

static void
multi_timer_fire(struct st_ev *loop, struct st_ev_timer *t)
{
    multi_action(t->data, CURL_SOCKET_TIMEOUT, 0);
}

static int
multi_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct st_kube_client *c = userp;

    if (timeout_ms < 0)
        st_ev_timer_stop(c->loop, &c->timer);
    else
        st_ev_timer_start(c->loop, &c->timer, (uint64_t)timeout_ms);
    return 0;
}

static void
multi_xfer_teardown(struct kube_xfer *x)
{
    struct st_kube_client *c = x->c;

    if (x->in_multi) {
        c->in_curl++;
        curl_multi_remove_handle(c->multi, x->h);
        c->in_curl--;
        x->in_multi = false;
    }
    curl_easy_cleanup(x->h);
    curl_slist_free_all(x->hdrs);
    curl_slist_free_all(x->connect_to);
    if (x->prev != NULL)
        x->prev->next = x->next;
    else
        c->xfers = x->next;
    if (x->next != NULL)
        x->next->prev = x->prev;
    st_buf_free(&x->body);
    if (x->kind == XFER_WATCH) {
        struct st_kube_watch *w = ST_CONTAINER_OF(x, struct st_kube_watch, x);
        st_ev_timer_stop(c->loop, &w->idle);
        free(w->rv);
    }
    free(x->alloc);
}

static void
multi_reap(struct st_ev *loop, struct st_ev_defer *d)
{
    struct st_kube_client *c = d->data;
    struct kube_xfer *x = c->xfers, *next;

    for (; x != NULL; x = next) {
        next = x->next;
        if (x->released)
            multi_xfer_teardown(x);
    }
}

/* Lets go of <x>: now if no curl call is on the stack, else from the reap. */
static void
multi_xfer_release(struct kube_xfer *x)
{
    struct st_kube_client *c = x->c;

    x->released = true;
    if (c->in_curl > 0)
        st_ev_defer_schedule(c->loop, &c->reap);
    else
        multi_xfer_teardown(x);
}

int
st_kube_client_attach(struct st_kube_client *c, struct st_ev *loop)
{
    if (loop == NULL)
        return ST_EINVAL;
    if (c->loop != NULL)
        return c->loop == loop ? 0 : -EEXIST;
    c->multi = curl_multi_init();
    if (c->multi == NULL)
        st_oom();
    c->loop = loop;
    st_ev_timer_init(&c->timer, multi_timer_fire, c);
    st_ev_defer_init(&c->reap, multi_reap, c);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, multi_socket_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, multi_timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    return 0;
}

void
kube_multi_free(struct st_kube_client *c)
{
    if (c->loop == NULL)
        return;
    while (c->xfers != NULL)
        multi_xfer_teardown(c->xfers);
    c->in_curl++;
    curl_multi_cleanup(c->multi);
    c->in_curl--;
    c->multi = NULL;
    while (c->socks != NULL)
        multi_sock_free(c, c->socks);
    st_ev_timer_stop(c->loop, &c->timer);
    st_ev_defer_cancel(c->loop, &c->reap);
    c->loop = NULL;
}

/* ---- transfers ------------------------------------------------------------------------ */

/*
 * Sets up <x> and adds it to the multi handle. <stream_ms> bounds a streaming
 * transfer's total time (0 for a buffered one, which gets the client's total
 * timeout). On failure nothing of <x> is linked or allocated by curl; the
 * caller frees <x>.
 */
static int
multi_xfer_start(struct st_kube_client *c, struct kube_xfer *x, const char *path_and_query,
                 uint64_t stream_ms, curl_write_callback write_cb, struct st_err *err)
{
    int rc;

    x->c = c;
    x->h = curl_easy_init();
    if (x->h == NULL)
        st_oom();
    rc = kube_client_setup_easy(c, x->h, path_and_query, &x->hdrs, &x->connect_to, stream_ms > 0,
                                err);
    if (rc < 0)
        goto fail;
    if (stream_ms > 0)
        curl_easy_setopt(x->h, CURLOPT_TIMEOUT_MS, (long)stream_ms);
    curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs);
    curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
    curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->errbuf);
    /* Adding a handle only sets curl's timer; the transfer starts from the loop. */
    c->in_curl++;
    CURLMcode mc = curl_multi_add_handle(c->multi, x->h);
    c->in_curl--;
    if (mc != CURLM_OK) {
        rc = st_err_set(err, -EIO, "kube: %s", curl_multi_strerror(mc));
        goto fail;
    }
    x->in_multi = true;
    x->next = c->xfers;
    if (c->xfers != NULL)
        c->xfers->prev = x;
    c->xfers = x;
    return 0;

fail:
    curl_easy_cleanup(x->h);
    curl_slist_free_all(x->hdrs);
    curl_slist_free_all(x->connect_to);
    x->h = NULL;
    x->hdrs = x->connect_to = NULL;
    return rc;
}

static size_t
multi_buffered_write(char *p, size_t size, size_t nmemb, void *data)
{
    struct kube_xfer *x = data;
    size_t n = size * nmemb;

    if (x->released)
        return 0;
    if (st_buf_append(&x->body, p, n) < 0) {
        x->overflow = true;
        return 0;
    }
    return n;
}

struct kube_xfer *
kube_xfer_get(struct st_kube_client *c, const char *path_and_query, kube_xfer_done_cb *done,
              void *data, struct st_err *err)
{
    struct kube_xfer *x = st_xcalloc(1, sizeof(*x));

    x->kind = XFER_BUFFERED;
    x->alloc = x;
    x->done = done;
    x->data = data;
    st_buf_init(&x->body, c->max_response);
    if (c->loop == NULL) {
        st_err_set(err, ST_EINVAL, "kube: the client is not attached to a loop");
        goto fail;
    }
    if (multi_xfer_start(c, x, path_and_query, 0, multi_buffered_write, err) < 0)
        goto fail;
    return x;

fail:
    st_buf_free(&x->body);
    free(x);
    return NULL;
}

void
kube_xfer_cancel(struct kube_xfer *x)
{
    if (x != NULL && !x->released)
        multi_xfer_release(x);
}

/* Finishes a buffered transfer: parse, tear down, then call back. */
static void
multi_buffered_done(struct kube_xfer *x, CURLcode cc)
{
    struct st_kube_client *c = x->c;
    kube_xfer_done_cb *done = x->done;
    void *data = x->data;
    struct st_err err = {0};
    json_t *resp = NULL;
    long status = 0;
    int code = 0;

    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
    if (x->overflow) {
        code =
            st_err_set(&err, ST_ETOOBIG, "kube: response larger than %zu bytes", c->max_response);
    } else if (cc != CURLE_OK) {
        code = kube_curl_error(cc, x->errbuf, &err);
    } else {
        struct st_err jerr;
        if (x->body.len > 0)
            resp = st_json_load_ex(x->body.data, x->body.len, c->max_response, 0, &jerr);
        if (status < 200 || status >= 300)
            code = kube_status_error(status, resp, &err);
        else if (resp == NULL)
            code = st_err_set(&err, ST_EPROTO, "kube: bad JSON from the server: %s",
                              x->body.len ? jerr.msg : "empty body");
        if (code < 0) {
            json_decref(resp);
            resp = NULL;
        }
    }
    x->released = true;
    multi_xfer_teardown(x);
    done(code, status, resp, &err, data);
}

/* ---- watches ----------------------------------------------------------------------------- */

const char *
st_kube_event_name(enum st_kube_event_type t)
{
    switch (t) {
    case ST_KUBE_ADDED:
        return "ADDED";
    case ST_KUBE_MODIFIED:
        return "MODIFIED";
    case ST_KUBE_DELETED:
        return "DELETED";
    case ST_KUBE_BOOKMARK:
        return "BOOKMARK";
    }
    return "?";
}

/*
 * Handles one line of the stream: {"type": ..., "object": ...}. Returns 0 to
 * go on, or a negative code (with w->fail set) to end the stream.
 */
static int
watch_line(struct st_kube_watch *w, const char *p, size_t n)
{
    struct st_err jerr;
    json_t *ev = st_json_load_ex(p, n, w->max_line + 1, 0, &jerr);
    int rc = 0;

    if (ev == NULL)
        return st_err_set(&w->fail, ST_EPROTO, "kube watch: bad event: %s", jerr.msg);
    const char *type = st_json_str(ev, "type");
    json_t *obj = json_object_get(ev, "object");
    enum st_kube_event_type t;
    if (type == NULL || !json_is_object(obj)) {
        rc = st_err_set(&w->fail, ST_EPROTO, "kube watch: event without type or object");
        goto out;
    }
    if (strcmp(type, "ERROR") == 0) {
        rc = kube_status_error(0, obj, &w->fail);
        goto out;
    }
    if (strcmp(type, "ADDED") == 0)
        t = ST_KUBE_ADDED;
    else if (strcmp(type, "MODIFIED") == 0)
        t = ST_KUBE_MODIFIED;
    else if (strcmp(type, "DELETED") == 0)
        t = ST_KUBE_DELETED;
    else if (strcmp(type, "BOOKMARK") == 0)
        t = ST_KUBE_BOOKMARK;
    else {
        rc = st_err_set(&w->fail, ST_EPROTO, "kube watch: unknown event type \"%.40s\"", type);
        goto out;
    }
    const char *rv = st_json_str(obj, "metadata.resourceVersion");
    if (rv != NULL && rv[0] != '\0' && strlen(rv) < 256) {
        free(w->rv);
        w->rv = st_xstrdup(rv);
    }
    if (w->on_event != NULL)
        w->on_event(w, t, obj, w->data);

out:
    json_decref(ev);
    return rc;
}

static size_t
watch_write(char *p, size_t size, size_t nmemb, void *data)
{
    struct kube_xfer *x = data;
    struct st_kube_watch *w = ST_CONTAINER_OF(x, struct st_kube_watch, x);
    size_t n = size * nmemb;
    long status = 0;

    if (x->released)
        return 0;
    w->last_rx = st_ev_now_ms(x->c->loop);
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        /* An error answer: keep (a capped prefix of) the Status body for the done path. */
        if (x->body.len < WATCH_MAX_ERROR_BODY &&
            st_buf_append(&x->body, p, ST_MIN(n, WATCH_MAX_ERROR_BODY - x->body.len)) < 0)
            return 0;
        return n;
    }
    size_t off = 0;
    while (off < n) {
        const char *nl = memchr(p + off, '\n', n - off);
        size_t take = nl ? (size_t)(nl - (p + off)) : n - off;
        if (x->body.len + take > w->max_line) {
            w->fail_code = st_err_set(&w->fail, ST_ETOOBIG,
                                      "kube watch: event larger than "
                                      "%zu bytes",
                                      w->max_line);
            return 0;
        }
        if (st_buf_append(&x->body, p + off, take) < 0) {
            w->fail_code = st_err_set(&w->fail, ST_ETOOBIG, "kube watch: event too large");
            return 0;
        }
        off += take;
        if (nl == NULL)
            break;
        off++; /* the newline */
        struct st_str line = st_str_trim((struct st_str){x->body.data, x->body.len});
        if (line.n > 0) {
            int rc = watch_line(w, line.p, line.n);
            if (rc < 0) {
                w->fail_code = rc;
                return 0;
            }
            if (x->released)
                return 0; /* freed from the event callback */
        }
        st_buf_reset(&x->body);
    }
    return n;
}

struct st_kube_watch *
st_kube_watch_start(struct st_kube_client *c, const struct st_kube_watch_opts *opts,
                    st_kube_watch_event_cb *on_event, st_kube_watch_done_cb *on_done, void *data,
                    struct st_err *err)
{
    struct st_buf q = ST_BUF_INIT(64 << 10);
    struct st_kube_watch *w;
    unsigned timeout_s;
    int rc = 0;

    if (opts == NULL || opts->path == NULL || opts->path[0] != '/' ||
        strchr(opts->path, '?') != NULL) {
        st_err_set(err, ST_EINVAL, "kube watch: a collection path without a query is needed");
        return NULL;
    }
    if (c->loop == NULL) {
        st_err_set(err, ST_EINVAL, "kube watch: the client is not attached to a loop");
        return NULL;
    }
    timeout_s = opts->timeout_s ? opts->timeout_s : WATCH_DEFAULT_TIMEOUT_S;
    rc = st_buf_appendf(&q, "%s?watch=1&allowWatchBookmarks=true&timeoutSeconds=%u", opts->path,
                        timeout_s);
    if (rc == 0 && opts->resource_version != NULL && opts->resource_version[0] != '\0' &&
        (rc = st_buf_append_str(&q, "&resourceVersion=")) == 0)
        rc = kube_escape(&q, opts->resource_version);
    if (rc == 0 && opts->label_selector != NULL && opts->label_selector[0] != '\0' &&
        (rc = st_buf_append_str(&q, "&labelSelector=")) == 0)
        rc = kube_escape(&q, opts->label_selector);
    if (rc == 0 && opts->field_selector != NULL && opts->field_selector[0] != '\0' &&
        (rc = st_buf_append_str(&q, "&fieldSelector=")) == 0)
        rc = kube_escape(&q, opts->field_selector);
    if (rc < 0) {
        st_buf_free(&q);
        st_err_set(err, ST_ETOOBIG, "kube watch: query too long");
        return NULL;
    }

    w = st_xcalloc(1, sizeof(*w));
    w->x.kind = XFER_WATCH;
    w->x.alloc = w;
    w->on_event = on_event;
    w->on_done = on_done;
    w->data = data;
    w->rv = st_xstrdup(opts->resource_version ? opts->resource_version : "");
    w->max_line = opts->max_line ? opts->max_line : WATCH_DEFAULT_MAX_LINE;
    w->idle_ms = opts->idle_timeout_ms;
    st_ev_timer_init(&w->idle, watch_idle_fire, w);
    st_buf_init(&w->x.body, 0);
    /* Every wait has a timeout: the server's own, plus a grace period. */
    rc = multi_xfer_start(c, &w->x, st_buf_cstr(&q), (uint64_t)timeout_s * 1000 + WATCH_GRACE_MS,
                          watch_write, err);
    st_buf_free(&q);
    if (rc < 0) {
        free(w->rv);
        free(w);
        return NULL;
    }
    if (w->idle_ms > 0) {
        w->last_rx = st_ev_now_ms(c->loop);
        st_ev_timer_start(c->loop, &w->idle, w->idle_ms);
    }
    return w;
}

const char *
st_kube_watch_resource_version(const struct st_kube_watch *w)
{
    return w->rv ? w->rv : "";
}

bool
kube_watch_stalled(const struct st_kube_watch *w)
{
    return w->stalled;
}

void
st_kube_watch_free(struct st_kube_watch *w)
{
    if (w == NULL)
        return;
    w->on_event = NULL;
    w->on_done = NULL;
    st_ev_timer_stop(w->x.c->loop, &w->idle);
    if (!w->x.released)
        multi_xfer_release(&w->x);
}

/* Ends <w>: takes it out of the multi handle, then reports <code> (and <err>, borrowed). */
static void
watch_finish(struct st_kube_watch *w, int code, const struct st_err *err)
{
    struct kube_xfer *x = &w->x;
    struct st_kube_client *c = x->c;

    w->finished = true;
    st_ev_timer_stop(c->loop, &w->idle);
    if (x->in_multi) {
        c->in_curl++;
        curl_multi_remove_handle(c->multi, x->h);
        c->in_curl--;
        x->in_multi = false;
    }
    if (w->on_done != NULL)
        w->on_done(w, code, err, w->data); /* may free <w> */
}

static void
watch_done(struct st_kube_watch *w, CURLcode cc)
{
    struct kube_xfer *x = &w->x;
    struct st_err err = {0};
    long status = 0;
    int code = 0;

    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
    if (w->fail_code < 0) {
        code = w->fail_code;
        err = w->fail;
    } else if (status != 0 && status != 200) {
        struct st_err jerr;
        json_t *resp = st_json_load_ex(x->body.data ? x->body.data : "", x->body.len, 0, 0, &jerr);
        code = kube_status_error(status, resp, &err);
        json_decref(resp);
    } else if (cc != CURLE_OK) {
        code = kube_curl_error(cc, x->errbuf, &err);
    } else if (x->body.len > 0) {
        code = st_err_set(&err, ST_EPROTO, "kube watch: stream ended inside an event");
    }
    watch_finish(w, code, &err);
}

/*
 * The idle timer: ends the watch when nothing arrived for idle_ms, else sleeps
 * until idle_ms after the last bytes. Timers run outside curl calls, so the
 * transfer can be removed here.
 */
static void
watch_idle_fire(struct st_ev *loop, struct st_ev_timer *t)
{
    struct st_kube_watch *w = t->data;
    uint64_t now = st_ev_now_ms(loop), quiet = now - w->last_rx;
    struct st_err err;

    if (w->finished || w->x.released)
        return;
    if (quiet < w->idle_ms) {
        st_ev_timer_start(loop, &w->idle, w->idle_ms - quiet);
        return;
    }
    w->stalled = true;
    int code = st_err_set(&err, ST_ETIMEOUT, "kube watch: nothing received for %llu ms",
                          (unsigned long long)quiet);
    watch_finish(w, code, &err);
}

/* ---- completion ------------------------------------------------------------------------ */

static void
multi_process_done(struct st_kube_client *c)
{
    CURLMsg *msg;
    int left;

    while (c->multi != NULL && (msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct kube_xfer *x = NULL;
        CURLcode cc = msg->data.result;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        if (x == NULL)
            continue;
        if (x->released) {
            multi_xfer_teardown(x);
            continue;
        }
        if (x->kind == XFER_BUFFERED)
            multi_buffered_done(x, cc);
        else
            watch_done(ST_CONTAINER_OF(x, struct st_kube_watch, x), cc);
    }
}
