/*
 * loadgen: an open-loop HTTP/1.1 load generator for the proxy benchmark.
 *
 * Open loop (--rate R): request i of the run has the intended send time
 * start + i / R, fixed before the run starts. It goes out on the first idle
 * keep-alive connection at or after that time; if every connection is busy it
 * waits in a queue. Its latency runs from the intended time to the end of its
 * response, so time spent queued behind a slow answer counts, and a stalled
 * server cannot hide its stall by slowing the client down (coordinated
 * omission). Timing comes from a timerfd with absolute deadlines and a 1 ns
 * timer slack, so the schedule itself adds microseconds, not a millisecond.
 *
 * Closed loop (--max): every connection sends its next request the moment
 * the previous answer ends; the result is the completed requests per second.
 *
 * With --pids it also reads utime+stime of those processes at the start and
 * at the end of the measured window (CPU per 1,000 requests) and samples
 * their VmRSS and their Pss (/proc/PID/smaps_rollup) every 100 ms under --max,
 * once at the end of a --rate run (the largest sum is reported, and each
 * one's largest). --save and --merge let a run be cut into slices. --trace
 * writes each measured request's intended time and latency, to see when the
 * slow ones happened (kept in memory during the run, written at its end).
 *
 * One thread, one st_ev loop. The only output is one line on stdout; the
 * error breakdown goes to stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "hist.h"
#include "strait/core.h"
#include "strait/ev.h"
#include "strait/http1.h"
#include "strait/sock.h"

#define LOADGEN_MAX_CONNS 4096
#define LOADGEN_MAX_PIDS 16
#define LOADGEN_MAX_RATE 1000000.0
#define LOADGEN_MAX_DURATION_S 3600.0
/* A response head larger than this is a protocol error here. */
#define LOADGEN_IN_CAP (256 * 1024)
#define LOADGEN_READ_CHUNK 16384
#define LOADGEN_RECONNECT_MS 50
#define LOADGEN_SAMPLE_MS 100
/* Requests --trace can keep (16 bytes each in memory). */
#define LOADGEN_MAX_TRACE 10000000u

enum loadgen_state {
    LOADGEN_CLOSED,
    LOADGEN_CONNECTING,
    LOADGEN_IDLE,
    LOADGEN_BUSY,
};

enum loadgen_phase {
    LOADGEN_HEAD,
    LOADGEN_BODY_LENGTH,
    LOADGEN_BODY_CHUNKED,
    LOADGEN_BODY_CLOSE,
};

struct loadgen;

struct loadgen_conn {
    struct loadgen *lg;
    struct st_ev_io io;
    struct st_ev_timer timer; /* request timeout or reconnect back-off */
    int fd;
    enum loadgen_state state;
    bool want_write; /* WRITE is in the watched events */
    /* The request in flight. */
    uint64_t seq;
    uint64_t intended_ns;
    bool measured;
    size_t out_off;
    /* Its response. */
    struct st_buf in;
    enum loadgen_phase phase;
    uint64_t body_left;
    struct st_http1_chunked chunked;
    int status;
    bool keep_alive;
    struct loadgen_conn *next_idle;
};

struct loadgen_opts {
    const char *target;   /* origin "host:port" (numeric) */
    const char *proxy;    /* HTTP proxy to send absolute-form requests to, or NULL */
    const char *host;     /* Host / authority, default <target> */
    const char *path;
    double rate;          /* req/s, open loop */
    bool max;             /* closed loop */
    unsigned conns;
    double duration_s;
    double warmup_s;
    uint64_t timeout_ms;  /* per request, and the drain after the schedule */
    pid_t pids[LOADGEN_MAX_PIDS];
    size_t npids;
    const char *save;   /* --save: write the run's counts and histogram here */
    const char *trace;  /* --trace: write each measured request's time and latency here */
    bool merge;         /* --merge: report on saved runs instead of running */
};

struct loadgen_counts {
    uint64_t sent;
    uint64_t ok;
    uint64_t status_err; /* a complete response that was not 2xx */
    uint64_t io_err;     /* reset, early close or protocol error with a request in flight */
    uint64_t timeouts;   /* no complete response within --timeout */
    uint64_t unsent;     /* still queued when the run ended */
    uint64_t connect_err;
};

struct loadgen {
    struct loadgen_opts o;
    struct st_ev *loop;
    struct st_sockaddr dst;
    struct st_buf req; /* the one request every connection sends */
    struct loadgen_conn *conns;
    struct loadgen_conn *idle; /* stack of idle connections */
    unsigned busy;

    /* Schedule (open loop). */
    int tfd;
    struct st_ev_io tio;
    uint64_t start_ns;
    uint64_t warm_n;  /* requests 0..warm_n-1 are warm-up, not measured */
    uint64_t total_n; /* requests of the whole schedule */
    uint64_t next_seq; /* the next request to send */
    uint64_t *trace;   /* --trace: latency (ns, 0 = none) of measured request seq - warm_n */

    /* Measured window. */
    bool measuring;
    bool finished;
    uint64_t meas_start_ns, meas_end_ns;
    uint64_t completed_in_window; /* for CPU per request */
    struct st_ev_timer phase_timer;
    struct st_ev_timer sample_timer;
    uint64_t cpu_start_ticks, cpu_end_ticks;
    uint64_t rss_max_kb;                  /* largest sum over the pids */
    uint64_t rss_each_kb[LOADGEN_MAX_PIDS]; /* largest value of each pid */
    uint64_t pss_each_kb[LOADGEN_MAX_PIDS]; /* largest proportional set size of each pid */

    struct loadgen_counts c;
    struct hist hist;
};

static void loadgen_conn_io(struct st_ev *loop, struct st_ev_io *io, unsigned events);
static void loadgen_conn_timer(struct st_ev *loop, struct st_ev_timer *t);
static void loadgen_dispatch(struct loadgen *lg);
static void loadgen_finish(struct loadgen *lg);

/* ---- /proc readers ------------------------------------------------------- */

/* utime + stime of <pid> in clock ticks (all threads), or 0 if it is gone. */
static uint64_t
loadgen_proc_ticks(pid_t pid)
{
    char path[64], text[4096];
    uint64_t total = 0;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';

    /* The command name may hold spaces and parentheses: fields follow the last ')'. */
    char *p = strrchr(text, ')');
    if (!p)
        return 0;
    p++;
    /* After ')' come field 3 (state) onwards; utime is field 14, stime 15. */
    for (int field = 3; field <= 15 && *p; field++) {
        while (*p == ' ')
            p++;
        char *end = p;
        while (*end && *end != ' ')
            end++;
        if (field >= 14) {
            uint64_t v = 0;
            if (st_parse_u64((struct st_str){p, (size_t)(end - p)}, UINT64_MAX, &v) == 0)
                total += v;
        }
        p = end;
    }
    return total;
}

/* The "<key> <n> kB" value of /proc/<pid>/<file> in KiB, or 0 if it is gone. */
static uint64_t
loadgen_proc_kb(pid_t pid, const char *file, const char *key)
{
    char path[64], line[256];
    size_t kn = strlen(key);
    uint64_t kb = 0;

    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, kn) != 0)
            continue;
        char *p = line + kn;
        while (*p == ' ' || *p == '\t')
            p++;
        char *end = p;
        while (*end >= '0' && *end <= '9')
            end++;
        if (st_parse_u64((struct st_str){p, (size_t)(end - p)}, UINT64_MAX, &kb) < 0)
            kb = 0;
        break;
    }
    fclose(f);
    return kb;
}

static uint64_t
loadgen_pids_ticks(const struct loadgen *lg)
{
    uint64_t t = 0;
    for (size_t i = 0; i < lg->o.npids; i++)
        t += loadgen_proc_ticks(lg->o.pids[i]);
    return t;
}

static void
loadgen_sample_rss(struct loadgen *lg)
{
    uint64_t kb = 0;
    for (size_t i = 0; i < lg->o.npids; i++) {
        uint64_t one = loadgen_proc_kb(lg->o.pids[i], "status", "VmRSS:");
        if (one > lg->rss_each_kb[i])
            lg->rss_each_kb[i] = one;
        kb += one;
        /* Shared pages count divided by their sharers: one number per process that adds up. */
        uint64_t pss = loadgen_proc_kb(lg->o.pids[i], "smaps_rollup", "Pss:");
        if (pss > lg->pss_each_kb[i])
            lg->pss_each_kb[i] = pss;
    }
    if (kb > lg->rss_max_kb)
        lg->rss_max_kb = kb;
}

/* ---- connections ----------------------------------------------------------- */

static bool
loadgen_running(const struct loadgen *lg)
{
    return !lg->finished;
}

static void
loadgen_conn_close(struct loadgen_conn *cn)
{
    struct loadgen *lg = cn->lg;

    st_ev_io_stop(lg->loop, &cn->io);
    st_ev_timer_stop(lg->loop, &cn->timer);
    if (cn->fd >= 0)
        close(cn->fd);
    cn->fd = -1;
    if (cn->state == LOADGEN_BUSY)
        lg->busy--;
    if (cn->state == LOADGEN_IDLE) {
        /* Unlink from the idle stack. */
        struct loadgen_conn **pp = &lg->idle;
        while (*pp && *pp != cn)
            pp = &(*pp)->next_idle;
        if (*pp)
            *pp = cn->next_idle;
    }
    cn->next_idle = NULL;
    cn->state = LOADGEN_CLOSED;
    cn->want_write = false;
    st_buf_reset(&cn->in);
}

/* Closes <cn>, counting its request (if any) as failed, and reconnects later. */
static void
loadgen_conn_fail(struct loadgen_conn *cn, bool timeout)
{
    struct loadgen *lg = cn->lg;

    if (cn->state == LOADGEN_BUSY && cn->measured) {
        if (timeout)
            lg->c.timeouts++;
        else
            lg->c.io_err++;
        if (lg->measuring)
            lg->completed_in_window++;
    }
    loadgen_conn_close(cn);
    if (loadgen_running(lg))
        st_ev_timer_start(lg->loop, &cn->timer, LOADGEN_RECONNECT_MS);
}

static void
loadgen_conn_connect(struct loadgen_conn *cn)
{
    struct loadgen *lg = cn->lg;
    struct st_err err;

    int fd = st_sock_connect(&lg->dst, NULL, &err);
    if (fd < 0) {
        lg->c.connect_err++;
        st_ev_timer_start(lg->loop, &cn->timer, LOADGEN_RECONNECT_MS);
        return;
    }
    st_sock_set_nodelay(fd, true);
    cn->fd = fd;
    cn->state = LOADGEN_CONNECTING;
    st_ev_io_init(&cn->io, fd, loadgen_conn_io, cn);
    if (st_ev_io_start(lg->loop, &cn->io, ST_EV_READ | ST_EV_WRITE) < 0) {
        lg->c.connect_err++;
        loadgen_conn_fail(cn, false);
        return;
    }
    cn->want_write = true;
    st_ev_timer_start(lg->loop, &cn->timer, lg->o.timeout_ms);
}

static void
loadgen_conn_set_write(struct loadgen_conn *cn, bool on)
{
    if (cn->want_write == on)
        return;
    cn->want_write = on;
    st_ev_io_modify(cn->lg->loop, &cn->io, ST_EV_READ | (on ? ST_EV_WRITE : 0));
}

static void
loadgen_conn_make_idle(struct loadgen_conn *cn)
{
    struct loadgen *lg = cn->lg;

    if (cn->state == LOADGEN_BUSY)
        lg->busy--;
    cn->state = LOADGEN_IDLE;
    cn->next_idle = lg->idle;
    lg->idle = cn;
    st_ev_timer_stop(lg->loop, &cn->timer);
}

/* Writes what is left of the request; returns 0, or -1 after failing <cn>. */
static int
loadgen_conn_flush(struct loadgen_conn *cn)
{
    const struct st_buf *req = &cn->lg->req;

    while (cn->out_off < req->len) {
        ssize_t n = write(cn->fd, req->data + cn->out_off, req->len - cn->out_off);
        if (n > 0) {
            cn->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            loadgen_conn_set_write(cn, true);
            return 0;
        }
        loadgen_conn_fail(cn, false);
        return -1;
    }
    loadgen_conn_set_write(cn, false);
    return 0;
}

/* Sends request <seq>, intended at <intended_ns>, on the idle <cn>. */
static void
loadgen_conn_send(struct loadgen_conn *cn, uint64_t seq, uint64_t intended_ns, bool measured)
{
    struct loadgen *lg = cn->lg;

    cn->state = LOADGEN_BUSY;
    lg->busy++;
    cn->seq = seq;
    cn->intended_ns = intended_ns;
    cn->measured = measured;
    cn->out_off = 0;
    cn->phase = LOADGEN_HEAD;
    cn->status = 0;
    if (measured)
        lg->c.sent++;
    st_ev_timer_start(lg->loop, &cn->timer, lg->o.timeout_ms);
    loadgen_conn_flush(cn);
}

/* Accounts one complete response on <cn>. */
static void
loadgen_conn_done(struct loadgen_conn *cn)
{
    struct loadgen *lg = cn->lg;
    uint64_t now = st_now_ns();

    if (lg->o.max) {
        /* Closed loop: count what was sent and completed inside the window. */
        if (lg->measuring && cn->measured) {
            lg->completed_in_window++;
            if (cn->status >= 200 && cn->status < 300) {
                lg->c.ok++;
                hist_record(&lg->hist, now - cn->intended_ns);
            } else {
                lg->c.status_err++;
            }
        }
    } else if (cn->measured) {
        if (lg->measuring)
            lg->completed_in_window++;
        if (cn->status >= 200 && cn->status < 300) {
            lg->c.ok++;
            uint64_t lat = now > cn->intended_ns ? now - cn->intended_ns : 0;
            hist_record(&lg->hist, lat);
            if (lg->trace != NULL && cn->seq >= lg->warm_n && cn->seq < lg->total_n)
                lg->trace[cn->seq - lg->warm_n] = lat > 0 ? lat : 1;
        } else {
            lg->c.status_err++;
        }
    }

    if (!cn->keep_alive || cn->in.len > 0 || cn->out_off < lg->req.len) {
        /*
         * Not reusable: the server said close, sent bytes nobody asked for,
         * or answered before reading the whole request.
         */
        cn->measured = false;
        loadgen_conn_close(cn);
        if (loadgen_running(lg))
            loadgen_conn_connect(cn);
        return;
    }
    loadgen_conn_make_idle(cn);
}

/*
 * Consumes response bytes from cn->in. Returns 1 when the response is
 * complete, 0 when more bytes are needed, -1 on a protocol error.
 */
static int
loadgen_conn_parse(struct loadgen_conn *cn, bool eof)
{
    for (;;) {
        switch (cn->phase) {
        case LOADGEN_HEAD: {
            struct st_http1_response resp;
            struct st_http_header hdrs[64];
            int n = st_http1_parse_response(cn->in.data ? cn->in.data : "", cn->in.len, NULL,
                                            &resp, hdrs, ST_ARRAY_LEN(hdrs));
            if (n < 0)
                return -1;
            if (n == 0)
                return 0;
            st_buf_consume(&cn->in, (size_t)n);
            if (resp.status < 200) {
                if (resp.status == 101)
                    return -1;
                continue; /* an interim response; the real one follows */
            }
            cn->status = resp.status;
            cn->keep_alive = resp.keep_alive;
            switch (st_http1_response_body(&resp, ST_HTTP_GET)) {
            case ST_HTTP1_BODY_NONE:
                return 1;
            case ST_HTTP1_BODY_LENGTH:
                cn->phase = LOADGEN_BODY_LENGTH;
                cn->body_left = (uint64_t)resp.content_length;
                break;
            case ST_HTTP1_BODY_CHUNKED:
                cn->phase = LOADGEN_BODY_CHUNKED;
                st_http1_chunked_init(&cn->chunked);
                break;
            case ST_HTTP1_BODY_CLOSE:
                cn->phase = LOADGEN_BODY_CLOSE;
                cn->keep_alive = false;
                break;
            }
            continue;
        }
        case LOADGEN_BODY_LENGTH: {
            size_t take = (size_t)ST_MIN((uint64_t)cn->in.len, cn->body_left);
            st_buf_consume(&cn->in, take);
            cn->body_left -= take;
            return cn->body_left == 0 ? 1 : 0;
        }
        case LOADGEN_BODY_CHUNKED: {
            while (cn->in.len > 0) {
                size_t used = 0;
                struct st_str data;
                int rc = st_http1_chunked_decode(&cn->chunked, cn->in.data, cn->in.len, &used,
                                                 &data);
                st_buf_consume(&cn->in, used);
                if (rc < 0)
                    return -1;
                if (rc == 1)
                    return 1;
                if (used == 0 && data.n == 0)
                    break;
            }
            return 0;
        }
        case LOADGEN_BODY_CLOSE:
            st_buf_reset(&cn->in);
            return eof ? 1 : 0;
        }
        return -1;
    }
}

static void
loadgen_conn_read(struct loadgen_conn *cn)
{
    struct loadgen *lg = cn->lg;
    bool eof = false;

    for (;;) {
        if (st_buf_reserve(&cn->in, LOADGEN_READ_CHUNK) < 0) {
            loadgen_conn_fail(cn, false);
            return;
        }
        ssize_t n = read(cn->fd, cn->in.data + cn->in.len, LOADGEN_READ_CHUNK);
        if (n > 0) {
            cn->in.len += (size_t)n;
            cn->in.data[cn->in.len] = '\0';
            continue;
        }
        if (n == 0) {
            eof = true;
            break;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN)
            break;
        loadgen_conn_fail(cn, false);
        return;
    }

    if (cn->state != LOADGEN_BUSY) {
        /* An idle connection that the server closed, or that got stray bytes. */
        if (eof || cn->in.len > 0) {
            loadgen_conn_close(cn);
            if (loadgen_running(lg))
                loadgen_conn_connect(cn);
        }
        return;
    }

    int rc = loadgen_conn_parse(cn, eof);
    if (rc < 0 || (rc == 0 && eof)) {
        loadgen_conn_fail(cn, false);
        return;
    }
    if (rc == 0)
        return;
    if (eof)
        cn->keep_alive = false;
    loadgen_conn_done(cn);
}

static void
loadgen_conn_io(struct st_ev *loop, struct st_ev_io *io, unsigned events)
{
    struct loadgen_conn *cn = io->data;
    struct loadgen *lg = cn->lg;

    if (lg->finished)
        return; /* the report is being written; nothing counts any more */
    if (cn->state == LOADGEN_CONNECTING) {
        if (!(events & (ST_EV_WRITE | ST_EV_ERROR)))
            return;
        if (st_sock_connect_result(cn->fd) < 0) {
            lg->c.connect_err++;
            loadgen_conn_fail(cn, false);
            return;
        }
        loadgen_conn_set_write(cn, false);
        loadgen_conn_make_idle(cn);
        loadgen_dispatch(lg);
        return;
    }
    if ((events & ST_EV_WRITE) && cn->state == LOADGEN_BUSY && cn->out_off < lg->req.len) {
        if (loadgen_conn_flush(cn) < 0)
            return;
    }
    if (events & (ST_EV_READ | ST_EV_ERROR))
        loadgen_conn_read(cn);
    if (lg->idle)
        loadgen_dispatch(lg);
}

static void
loadgen_conn_timer(struct st_ev *loop, struct st_ev_timer *t)
{
    struct loadgen_conn *cn = t->data;

    if (cn->state == LOADGEN_CLOSED) {
        if (loadgen_running(cn->lg))
            loadgen_conn_connect(cn);
        return;
    }
    /* Connect or request timeout. */
    if (cn->state == LOADGEN_CONNECTING)
        cn->lg->c.connect_err++;
    loadgen_conn_fail(cn, cn->state == LOADGEN_BUSY);
}

/* ---- schedule ----------------------------------------------------------------- */

static uint64_t
loadgen_intended(const struct loadgen *lg, uint64_t seq)
{
    return lg->start_ns + (uint64_t)((double)seq * 1e9 / lg->o.rate);
}

static void
loadgen_arm(struct loadgen *lg, uint64_t at_ns)
{
    struct itimerspec its = {0};

    its.it_value.tv_sec = (time_t)(at_ns / 1000000000u);
    its.it_value.tv_nsec = (long)(at_ns % 1000000000u);
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
        its.it_value.tv_nsec = 1; /* zero would disarm */
    timerfd_settime(lg->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Sends every request that is due while a connection is idle. */
static void
loadgen_dispatch(struct loadgen *lg)
{
    if (lg->finished)
        return;
    if (lg->o.max) {
        uint64_t now = st_now_ns();
        while (lg->idle) {
            struct loadgen_conn *cn = lg->idle;
            lg->idle = cn->next_idle;
            cn->next_idle = NULL;
            /* Failures count from the measured window on, like answers. */
            loadgen_conn_send(cn, lg->next_seq++, now, lg->measuring);
        }
        return;
    }

    uint64_t now = st_now_ns();
    while (lg->idle && lg->next_seq < lg->total_n) {
        uint64_t at = loadgen_intended(lg, lg->next_seq);
        if (at > now)
            break;
        struct loadgen_conn *cn = lg->idle;
        lg->idle = cn->next_idle;
        cn->next_idle = NULL;
        uint64_t seq = lg->next_seq++;
        loadgen_conn_send(cn, seq, at, seq >= lg->warm_n);
    }
    if (lg->next_seq < lg->total_n) {
        uint64_t at = loadgen_intended(lg, lg->next_seq);
        /* Due but no idle connection: a completion will call us again. */
        if (at > now)
            loadgen_arm(lg, at);
    } else if (lg->busy == 0 && lg->measuring) {
        loadgen_finish(lg);
    }
}

static void
loadgen_tick(struct st_ev *loop, struct st_ev_io *io, unsigned events)
{
    struct loadgen *lg = io->data;
    uint64_t expirations;

    while (read(lg->tfd, &expirations, sizeof(expirations)) > 0) {
    }
    loadgen_dispatch(lg);
}

/* ---- phases --------------------------------------------------------------------- */

static void
loadgen_sample(struct st_ev *loop, struct st_ev_timer *t)
{
    struct loadgen *lg = t->data;

    loadgen_sample_rss(lg);
    if (!lg->finished)
        st_ev_timer_start(loop, t, LOADGEN_SAMPLE_MS);
}

static void
loadgen_finish(struct loadgen *lg)
{
    if (lg->finished)
        return;
    lg->meas_end_ns = st_now_ns();
    lg->cpu_end_ticks = loadgen_pids_ticks(lg);
    if (lg->o.npids)
        loadgen_sample_rss(lg);
    lg->measuring = false;
    lg->finished = true;

    if (lg->o.max) {
        /* In flight for longer than --timeout: stuck, not merely unfinished. */
        uint64_t now = st_now_ns();
        for (unsigned i = 0; i < lg->o.conns; i++) {
            struct loadgen_conn *cn = &lg->conns[i];
            if (cn->state == LOADGEN_BUSY && cn->measured &&
                now - cn->intended_ns > lg->o.timeout_ms * 1000000u)
                lg->c.timeouts++;
        }
    } else {
        /* Whatever is still queued or in flight missed the deadline. */
        for (unsigned i = 0; i < lg->o.conns; i++) {
            struct loadgen_conn *cn = &lg->conns[i];
            if (cn->state == LOADGEN_BUSY && cn->measured)
                lg->c.timeouts++;
        }
        uint64_t first = ST_MAX(lg->next_seq, lg->warm_n);
        if (lg->total_n > first)
            lg->c.unsent = lg->total_n - first;
    }
    st_ev_stop(lg->loop);
}

static void
loadgen_phase(struct st_ev *loop, struct st_ev_timer *t)
{
    struct loadgen *lg = t->data;

    if (!lg->measuring && !lg->finished && lg->meas_start_ns == 0) {
        /* End of the warm-up. */
        lg->measuring = true;
        lg->meas_start_ns = st_now_ns();
        lg->cpu_start_ticks = loadgen_pids_ticks(lg);
        /*
         * Memory is sampled only under --max, where the peak is: reading
         * smaps_rollup walks the target's page tables under its mmap lock
         * (0.3-0.5 ms per process here), and doing that every 100 ms in a
         * fixed-rate run would delay the requests due meanwhile, on proxied
         * paths but not on the direct one. A fixed-rate run takes one sample
         * after its last answer.
         */
        if (lg->o.npids && lg->o.max)
            st_ev_timer_start(loop, &lg->sample_timer, 0);
        if (lg->o.max) {
            st_ev_timer_start(loop, t, (uint64_t)(lg->o.duration_s * 1000));
        } else {
            /* The schedule's end plus the drain allowance. */
            uint64_t end = loadgen_intended(lg, lg->total_n);
            uint64_t now = st_now_ns();
            uint64_t left_ms = end > now ? (end - now) / 1000000u : 0;
            st_ev_timer_start(loop, t, left_ms + lg->o.timeout_ms);
        }
        return;
    }
    loadgen_finish(lg);
}

/* ---- set-up and output ------------------------------------------------------------- */

static int
loadgen_build_request(struct loadgen *lg)
{
    const char *host = lg->o.host ? lg->o.host : lg->o.target;
    struct st_http_header hdrs[] = {
        {ST_STR("Host"), st_str_c(host)},
        {ST_STR("User-Agent"), ST_STR("strait-loadgen")},
    };
    char *target = lg->o.proxy ? st_xasprintf("http://%s%s", host, lg->o.path)
                               : st_xstrdup(lg->o.path);
    st_buf_init(&lg->req, 16 * 1024);
    int rc = st_http1_write_request_head(&lg->req, ST_STR("GET"), st_str_c(target), 1, hdrs,
                                         ST_ARRAY_LEN(hdrs));
    free(target);
    return rc;
}

static double
loadgen_ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static void
loadgen_report(struct loadgen *lg)
{
    const struct loadgen_counts *c = &lg->c;
    uint64_t errors = c->status_err + c->io_err + c->timeouts + c->unsent;
    uint64_t window = lg->meas_end_ns > lg->meas_start_ns ? lg->meas_end_ns - lg->meas_start_ns : 0;
    double achieved = 0.0;

    if (lg->o.max)
        achieved = window ? (double)c->ok * 1e9 / (double)window : 0.0;
    else
        achieved = lg->o.duration_s > 0 ? (double)c->ok / lg->o.duration_s : 0.0;

    char rate[32];
    if (lg->o.max)
        snprintf(rate, sizeof(rate), "max");
    else
        snprintf(rate, sizeof(rate), "%.0f", lg->o.rate);

    printf("rate=%s sent=%" PRIu64 " ok=%" PRIu64 " errors=%" PRIu64
           " p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f achieved_rps=%.0f",
           rate, c->sent, c->ok, errors, loadgen_ms(hist_quantile(&lg->hist, 0.5)),
           loadgen_ms(hist_quantile(&lg->hist, 0.99)), loadgen_ms(hist_quantile(&lg->hist, 0.999)),
           loadgen_ms(hist_quantile(&lg->hist, 1.0)), achieved);
    if (lg->o.npids) {
        long hz = sysconf(_SC_CLK_TCK);
        uint64_t ticks = lg->cpu_end_ticks - ST_MIN(lg->cpu_start_ticks, lg->cpu_end_ticks);
        double cpu_ms = hz > 0 ? (double)ticks * 1000.0 / (double)hz : 0.0;
        double per_1k =
            lg->completed_in_window ? cpu_ms * 1000.0 / (double)lg->completed_in_window : 0.0;
        printf(" cpu_ms_per_1k=%.1f rss_kb=%" PRIu64 " rss_kb_each=", per_1k, lg->rss_max_kb);
        for (size_t i = 0; i < lg->o.npids; i++)
            printf("%s%" PRIu64, i ? "," : "", lg->rss_each_kb[i]);
        printf(" pss_kb_each=");
        for (size_t i = 0; i < lg->o.npids; i++)
            printf("%s%" PRIu64, i ? "," : "", lg->pss_each_kb[i]);
    }
    printf("\n");
    fflush(stdout);
    fprintf(stderr,
            "loadgen: window_s=%.3f status_err=%" PRIu64 " io_err=%" PRIu64 " timeouts=%" PRIu64
            " unsent=%" PRIu64 " connect_err=%" PRIu64 " clamped=%" PRIu64 " cpu_ticks=%" PRIu64
            " completed=%" PRIu64 " mean_ms=%.3f\n",
            (double)window / 1e9, c->status_err, c->io_err, c->timeouts, c->unsent,
            c->connect_err, lg->hist.clamped,
            lg->cpu_end_ticks - ST_MIN(lg->cpu_start_ticks, lg->cpu_end_ticks),
            lg->completed_in_window, hist_mean(&lg->hist) / 1e6);
}

/* ---- saved runs ---------------------------------------------------------------- */

/*
 * A saved run is text: "key value" lines for the counts, "each I RSS PSS" per
 * watched process and "b INDEX COUNT" per non-empty bucket. The benchmark
 * runs each path's fixed rate in slices taking turns with the other paths and
 * merges the slices, so that a burst of load from elsewhere on the shared
 * machine lands on every path alike instead of on whichever ran then.
 */
static int
loadgen_save(const struct loadgen *lg, const char *path)
{
    const struct loadgen_counts *c = &lg->c;
    FILE *f = fopen(path, "we");

    if (!f)
        return -errno;
    fprintf(f, "loadgen-run 1\nmax %d\nrate %.6f\nduration_s %.6f\n", lg->o.max ? 1 : 0,
            lg->o.rate, lg->o.duration_s);
    fprintf(f, "window_ns %" PRIu64 "\n",
            lg->meas_end_ns > lg->meas_start_ns ? lg->meas_end_ns - lg->meas_start_ns : 0);
    fprintf(f,
            "sent %" PRIu64 "\nok %" PRIu64 "\nstatus_err %" PRIu64 "\nio_err %" PRIu64
            "\ntimeouts %" PRIu64 "\nunsent %" PRIu64 "\nconnect_err %" PRIu64 "\n",
            c->sent, c->ok, c->status_err, c->io_err, c->timeouts, c->unsent, c->connect_err);
    fprintf(f, "completed %" PRIu64 "\ncpu_ticks %" PRIu64 "\nrss_max_kb %" PRIu64 "\n",
            lg->completed_in_window,
            lg->cpu_end_ticks - ST_MIN(lg->cpu_start_ticks, lg->cpu_end_ticks), lg->rss_max_kb);
    for (size_t i = 0; i < lg->o.npids; i++)
        fprintf(f, "each %zu %" PRIu64 " %" PRIu64 "\n", i, lg->rss_each_kb[i],
                lg->pss_each_kb[i]);
    fprintf(f, "clamped %" PRIu64 "\nmin %" PRIu64 "\nmax_ns %" PRIu64 "\nsum_ns %.0Lf\n",
            lg->hist.clamped, lg->hist.count ? lg->hist.min : 0, lg->hist.max, lg->hist.sum);
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        if (lg->hist.counts[i])
            fprintf(f, "b %u %" PRIu64 "\n", i, lg->hist.counts[i]);
    if (fclose(f) != 0)
        return -errno;
    return 0;
}

/* Splits <line> into up to 3 numbers after its key; returns how many parsed, -1 on junk. */
static int
loadgen_line_nums(const char *line, size_t keylen, uint64_t out[3])
{
    const char *p = line + keylen;
    int n = 0;

    while (*p == ' ' && n < 3) {
        const char *start = ++p;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == start ||
            st_parse_u64((struct st_str){start, (size_t)(p - start)}, UINT64_MAX, &out[n]) < 0)
            return -1;
        n++;
    }
    return *p == '\n' || *p == '\0' ? n : -1;
}

/* Adds the saved run at <path> into <lg>; returns 0, or -1 with a message on stderr. */
static int
loadgen_load(struct loadgen *lg, const char *path, struct hist *tmp)
{
    static const struct {
        const char *key;
        size_t off;
    } counts[] = {
        {"sent", offsetof(struct loadgen_counts, sent)},
        {"ok", offsetof(struct loadgen_counts, ok)},
        {"status_err", offsetof(struct loadgen_counts, status_err)},
        {"io_err", offsetof(struct loadgen_counts, io_err)},
        {"timeouts", offsetof(struct loadgen_counts, timeouts)},
        {"unsent", offsetof(struct loadgen_counts, unsent)},
        {"connect_err", offsetof(struct loadgen_counts, connect_err)},
    };
    char line[256];
    int rc = -1;
    bool header = false;
    FILE *f = fopen(path, "re");

    if (!f) {
        fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno));
        return -1;
    }
    hist_init(tmp);
    tmp->min = UINT64_MAX;
    while (fgets(line, sizeof(line), f)) {
        uint64_t v[3] = {0, 0, 0};
        char *sp = strchr(line, ' ');
        size_t kl = sp ? (size_t)(sp - line) : 0;
        if (!header) {
            if (strcmp(line, "loadgen-run 1\n") != 0)
                goto out;
            header = true;
            continue;
        }
        if (kl == 0)
            goto out;
        if (strncmp(line, "rate ", 5) == 0 || strncmp(line, "duration_s ", 11) == 0) {
            double d = strtod(sp + 1, NULL);
            if (line[0] == 'r')
                lg->o.rate = d;
            else
                lg->o.duration_s += d;
            continue;
        }
        int n = loadgen_line_nums(line, kl, v);
        if (n < 1)
            goto out;
        if (kl == 1 && line[0] == 'b') {
            if (n != 2 || v[0] >= HIST_BUCKETS)
                goto out;
            tmp->counts[v[0]] += v[1];
            tmp->count += v[1];
            continue;
        }
        if (kl == 4 && strncmp(line, "each", 4) == 0) {
            if (n != 3 || v[0] >= LOADGEN_MAX_PIDS)
                goto out;
            lg->rss_each_kb[v[0]] = ST_MAX(lg->rss_each_kb[v[0]], v[1]);
            lg->pss_each_kb[v[0]] = ST_MAX(lg->pss_each_kb[v[0]], v[2]);
            lg->o.npids = ST_MAX(lg->o.npids, (size_t)v[0] + 1);
            continue;
        }
        bool known = false;
        for (size_t i = 0; i < ST_ARRAY_LEN(counts); i++) {
            if (strlen(counts[i].key) == kl && strncmp(line, counts[i].key, kl) == 0) {
                *(uint64_t *)((char *)&lg->c + counts[i].off) += v[0];
                known = true;
            }
        }
        if (known)
            continue;
#define LOADGEN_KEY(k) (kl == sizeof(k) - 1 && strncmp(line, k, kl) == 0)
        if (LOADGEN_KEY("max"))
            lg->o.max = v[0] != 0;
        else if (LOADGEN_KEY("window_ns"))
            lg->meas_end_ns += v[0];
        else if (LOADGEN_KEY("completed"))
            lg->completed_in_window += v[0];
        else if (LOADGEN_KEY("cpu_ticks"))
            lg->cpu_end_ticks += v[0];
        else if (LOADGEN_KEY("rss_max_kb"))
            lg->rss_max_kb = ST_MAX(lg->rss_max_kb, v[0]);
        else if (LOADGEN_KEY("clamped"))
            tmp->clamped = v[0];
        else if (LOADGEN_KEY("min"))
            tmp->min = v[0];
        else if (LOADGEN_KEY("max_ns"))
            tmp->max = v[0];
        else if (LOADGEN_KEY("sum_ns"))
            tmp->sum = (long double)v[0];
        else
            goto out;
#undef LOADGEN_KEY
    }
    if (header) {
        hist_merge(&lg->hist, tmp);
        rc = 0;
    }
out:
    if (rc < 0)
        fprintf(stderr, "loadgen: %s: not a saved run (line: %.60s)\n", path, line);
    fclose(f);
    return rc;
}

/* Writes --trace: "<intended ns after the window's start> <latency ns>" per answered request. */
static int
loadgen_write_trace(const struct loadgen *lg, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -errno;
    for (uint64_t i = 0; i < lg->total_n - lg->warm_n; i++) {
        if (lg->trace[i] == 0)
            continue;
        uint64_t at = (uint64_t)((long double)i * 1e9L / (long double)lg->o.rate);
        fprintf(f, "%" PRIu64 " %" PRIu64 "\n", at, lg->trace[i]);
    }
    int rc = ferror(f) ? -EIO : 0;
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    return rc;
}

static void
loadgen_usage(FILE *f)
{
    fprintf(f,
            "usage: loadgen --target HOST:PORT (--rate R | --max) [options]\n"
            "  --target A      origin address, numeric IPv4/IPv6 with port\n"
            "  --proxy A       send absolute-form requests to this HTTP proxy instead\n"
            "  --host H        Host header / URL authority (default: the target)\n"
            "  --path P        request path (default /)\n"
            "  --rate R        open loop at R requests/s (latency from the intended time)\n"
            "  --max           closed loop: each connection sends as fast as answers come\n"
            "  --conns C       keep-alive connections (default 16)\n"
            "  --duration S    measured seconds (default 10)\n"
            "  --warmup S      unmeasured seconds before (default 1)\n"
            "  --timeout MS    per request, and the drain after the schedule (default 2000)\n"
            "  --pids P,P,...  report CPU per 1,000 requests and peak VmRSS and Pss of these\n"
            "  --save FILE     also write the run's counts and histogram to FILE\n"
            "  --trace FILE    (--rate only) write one line per measured request that\n"
            "                  succeeded: its intended time after the start of the\n"
            "                  measured window and its latency, both in nanoseconds\n"
            "usage: loadgen --merge FILE...\n"
            "  prints the line of the saved runs taken together (histograms added)\n");
}

static int
loadgen_parse_double(const char *s, double lo, double hi, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return ST_EPARSE;
    *out = v;
    return 0;
}

static int
loadgen_parse_pids(const char *s, struct loadgen_opts *o)
{
    struct st_str rest = st_str_c(s);

    while (rest.n > 0) {
        const char *comma = memchr(rest.p, ',', rest.n);
        size_t len = comma ? (size_t)(comma - rest.p) : rest.n;
        uint64_t v = 0;
        if (o->npids == LOADGEN_MAX_PIDS)
            return ST_ETOOBIG;
        if (st_parse_u64((struct st_str){rest.p, len}, INT_MAX, &v) < 0 || v == 0)
            return ST_EPARSE;
        o->pids[o->npids++] = (pid_t)v;
        rest.p += len;
        rest.n -= len;
        if (comma) {
            rest.p++;
            rest.n--;
        }
    }
    return 0;
}

/* Returns 0, 1 for --help, or -1 for a usage error. */
static int
loadgen_parse_args(int argc, char **argv, struct loadgen_opts *o)
{
    static const struct option longopts[] = {
        {"target", required_argument, NULL, 't'}, {"proxy", required_argument, NULL, 'x'},
        {"host", required_argument, NULL, 'H'},   {"path", required_argument, NULL, 'p'},
        {"rate", required_argument, NULL, 'r'},   {"max", no_argument, NULL, 'm'},
        {"conns", required_argument, NULL, 'c'},  {"duration", required_argument, NULL, 'd'},
        {"warmup", required_argument, NULL, 'w'}, {"timeout", required_argument, NULL, 'T'},
        {"pids", required_argument, NULL, 'P'},   {"help", no_argument, NULL, 'h'},
        {"save", required_argument, NULL, 'S'},   {"merge", no_argument, NULL, 'M'},
        {"trace", required_argument, NULL, 'R'},
        {NULL, 0, NULL, 0},
    };
    double v = 0;
    int ch;

    *o = (struct loadgen_opts){.path = "/", .conns = 16, .duration_s = 10, .warmup_s = 1,
                               .timeout_ms = 2000};
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 't':
            o->target = optarg;
            break;
        case 'x':
            o->proxy = optarg;
            break;
        case 'H':
            o->host = optarg;
            break;
        case 'p':
            o->path = optarg;
            break;
        case 'r':
            if (loadgen_parse_double(optarg, 0.001, LOADGEN_MAX_RATE, &o->rate) < 0)
                return -1;
            break;
        case 'm':
            o->max = true;
            break;
        case 'c':
            if (loadgen_parse_double(optarg, 1, LOADGEN_MAX_CONNS, &v) < 0 || v != (unsigned)v)
                return -1;
            o->conns = (unsigned)v;
            break;
        case 'd':
            if (loadgen_parse_double(optarg, 0.1, LOADGEN_MAX_DURATION_S, &o->duration_s) < 0)
                return -1;
            break;
        case 'w':
            if (loadgen_parse_double(optarg, 0, LOADGEN_MAX_DURATION_S, &o->warmup_s) < 0)
                return -1;
            break;
        case 'T':
            if (loadgen_parse_double(optarg, 1, 600000, &v) < 0)
                return -1;
            o->timeout_ms = (uint64_t)v;
            break;
        case 'P':
            if (loadgen_parse_pids(optarg, o) < 0)
                return -1;
            break;
        case 'S':
            o->save = optarg;
            break;
        case 'R':
            o->trace = optarg;
            break;
        case 'M':
            o->merge = true;
            break;
        case 'h':
            return 1;
        default:
            return -1;
        }
    }
    if (o->merge)
        return optind < argc && !o->target && !o->max && !(o->rate > 0) && !o->trace ? 0 : -1;
    if (optind != argc || !o->target || (o->max == (o->rate > 0)) || o->path[0] != '/' ||
        (o->trace != NULL && o->max))
        return -1;
    return 0;
}

int
main(int argc, char **argv)
{
    struct loadgen *lg = st_xcalloc(1, sizeof(*lg));
    struct st_err err;
    int status = 1;

    lg->tfd = -1;
    hist_init(&lg->hist);
    int parsed = loadgen_parse_args(argc, argv, &lg->o);
    if (parsed != 0) {
        loadgen_usage(parsed > 0 ? stdout : stderr);
        status = parsed > 0 ? 0 : 2;
        goto out;
    }
    if (lg->o.merge) {
        struct hist *tmp = st_xmalloc(sizeof(*tmp));
        status = 0;
        lg->o.duration_s = 0;
        for (int i = optind; i < argc && status == 0; i++)
            if (loadgen_load(lg, argv[i], tmp) < 0)
                status = 2;
        free(tmp);
        if (status == 0) {
            loadgen_report(lg);
            status = lg->c.ok > 0 ? 0 : 1;
        }
        goto out;
    }
    const char *connect_to = lg->o.proxy ? lg->o.proxy : lg->o.target;
    if (st_sock_parse_addr(connect_to, &lg->dst) < 0) {
        fprintf(stderr, "loadgen: %s: not a numeric address with a port\n", connect_to);
        status = 2;
        goto out;
    }
    if (loadgen_build_request(lg) < 0) {
        fprintf(stderr, "loadgen: host or path not allowed in a request\n");
        status = 2;
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Wake timers at the nanosecond asked for, not 50 us later. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

    lg->loop = st_ev_new(&err);
    if (!lg->loop) {
        fprintf(stderr, "loadgen: %s\n", err.msg);
        goto out;
    }
    lg->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (lg->tfd < 0) {
        fprintf(stderr, "loadgen: timerfd: %s\n", strerror(errno));
        goto out;
    }
    st_ev_io_init(&lg->tio, lg->tfd, loadgen_tick, lg);
    if (st_ev_io_start(lg->loop, &lg->tio, ST_EV_READ) < 0)
        goto out;

    lg->conns = st_xcalloc(lg->o.conns, sizeof(*lg->conns));
    for (unsigned i = 0; i < lg->o.conns; i++) {
        struct loadgen_conn *cn = &lg->conns[i];
        cn->lg = lg;
        cn->fd = -1;
        st_buf_init(&cn->in, LOADGEN_IN_CAP);
        st_ev_timer_init(&cn->timer, loadgen_conn_timer, cn);
        loadgen_conn_connect(cn);
    }

    /*
     * The schedule starts now; connections still connecting make the first
     * requests wait, and that wait is part of the warm-up.
     */
    st_ev_timer_init(&lg->phase_timer, loadgen_phase, lg);
    st_ev_timer_init(&lg->sample_timer, loadgen_sample, lg);
    lg->start_ns = st_now_ns();
    if (!lg->o.max) {
        lg->warm_n = (uint64_t)(lg->o.warmup_s * lg->o.rate);
        lg->total_n = lg->warm_n + (uint64_t)(lg->o.duration_s * lg->o.rate);
        if (lg->o.trace != NULL) {
            if (lg->total_n - lg->warm_n > LOADGEN_MAX_TRACE) {
                fprintf(stderr, "loadgen: --trace keeps at most %u requests\n", LOADGEN_MAX_TRACE);
                goto out;
            }
            lg->trace = st_xcalloc(lg->total_n - lg->warm_n + 1, sizeof(*lg->trace));
        }
        loadgen_arm(lg, lg->start_ns);
    }
    st_ev_timer_start(lg->loop, &lg->phase_timer, (uint64_t)(lg->o.warmup_s * 1000));

    if (st_ev_run(lg->loop) < 0) {
        fprintf(stderr, "loadgen: event loop failed\n");
        goto out;
    }
    loadgen_report(lg);
    status = lg->c.ok > 0 ? 0 : 1;
    int trc = lg->trace != NULL ? loadgen_write_trace(lg, lg->o.trace) : 0;
    if (trc < 0) {
        fprintf(stderr, "loadgen: cannot write %s: %s\n", lg->o.trace, strerror(-trc));
        status = 1;
    }
    int src = lg->o.save ? loadgen_save(lg, lg->o.save) : 0;
    if (src < 0) {
        fprintf(stderr, "loadgen: cannot write %s: %s\n", lg->o.save, strerror(-src));
        status = 1;
    }

out:
    if (lg->conns) {
        for (unsigned i = 0; i < lg->o.conns; i++) {
            loadgen_conn_close(&lg->conns[i]);
            st_buf_free(&lg->conns[i].in);
        }
        free(lg->conns);
        lg->conns = NULL;
    }
    if (lg->loop)
        st_ev_io_stop(lg->loop, &lg->tio);
    if (lg->tfd >= 0)
        close(lg->tfd);
    st_ev_free(lg->loop);
    st_buf_free(&lg->req);
    free(lg->trace);
    free(lg);
    return status;
}
