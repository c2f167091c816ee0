/*
 * strait-terminus: the demo and test backend. It answers every HTTP request,
 * whatever its method, path or body, with one small JSON object in the shape
 * of the test services of the multicluster walkthrough:
 *
 *   {"requestUID":"in:http-sid:terminus-grpc:-1-h1:8888-521010098","payload":"hello"}
 *
 *   strait-terminus [--listen ADDR:PORT] [--payload TEXT] [--latency-ms N]
 *                   [--fail-rate P] [--log-level debug|info|warn|error]
 *
 * Without --listen it listens on $STRAIT_POD_IP:$PORT, the environment that
 * `strait run` gives a workload. The payload comes from --payload, else from
 * $TERMINUS_PAYLOAD, else "hello". --latency-ms holds every answer back on a
 * loop timer (the loop never sleeps), and --fail-rate answers that fraction
 * of requests with a 500. It prints "strait-terminus listening on ADDR:PORT"
 * once it accepts connections, logs each request at debug level only, and
 * drains on SIGTERM or SIGINT (a second one stops at once). Bad flags exit
 * with status 2 and one line on stderr. See docs/terminus.md.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strait/core.h"
#include "strait/ev.h"
#include "strait/httpd.h"
#include "strait/json.h"
#include "strait/sock.h"

#define TERMINUS_MAX_PAYLOAD (64u * 1024) /* bytes of --payload / $TERMINUS_PAYLOAD */
#define TERMINUS_MAX_LATENCY_MS 600000u   /* ten minutes */
#define TERMINUS_MAX_BODY (4u << 20)      /* request bodies are read, then dropped */
#define TERMINUS_DRAIN_GRACE_MS 5000u     /* after the latency, on SIGTERM */
#define TERMINUS_DRAIN_MAX_MS 30000u

struct terminus_opts {
    char listen[ST_SOCK_ADDR_MAXLEN + 8];
    const char *payload;
    uint32_t latency_ms;
    double fail_rate; /* 0..1 */
    enum st_log_level level;
};

struct terminus {
    struct terminus_opts opts;
    struct st_ev *loop;
    struct st_httpd *httpd;
    struct st_rng rng;
    char *payload_json; /* the payload as a JSON string literal, quotes included */
    int port;           /* the bound port, as requestUID shows it */
    struct st_ev_timer drain;
    uint64_t drain_deadline;
    bool stopping;
};

/* One answer held back by --latency-ms; freed when it is sent or aborted. */
struct terminus_pending {
    struct terminus *t;
    struct st_httpd_req *req;
    struct st_ev_timer timer;
    int status;
};

static void
terminus_usage(FILE *f)
{
    fprintf(f, "usage: strait-terminus [--listen ADDR:PORT] [--payload TEXT] [--latency-ms N] "
               "[--fail-rate P] [--log-level debug|info|warn|error]\n");
}

/* Prints one line about a bad invocation and returns -1 (exit status 2). */
static int terminus_bad(const char *fmt, ...) ST_PRINTF(1, 2);

static int
terminus_bad(const char *fmt, ...)
{
    va_list ap;

    fputs("strait-terminus: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -1;
}

/*
 * Parses a probability in plain decimal ("0", "1", "0.25", ".5") into
 * [0, 1]. Signs, exponents, hex, "inf" and "nan" are refused.
 */
static int
terminus_parse_rate(const char *s, double *out)
{
    size_t digits = 0, dots = 0;

    for (const char *p = s; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits++;
        else if (*p == '.' && dots == 0)
            dots++;
        else
            return ST_EPARSE;
    }
    if (digits == 0 || digits > 32)
        return ST_EPARSE;
    errno = 0;
    double v = strtod(s, NULL);
    if (errno != 0 || !isfinite(v) || v < 0.0 || v > 1.0)
        return ST_EINVAL;
    *out = v;
    return 0;
}

/* The default listen address from $STRAIT_POD_IP (default 127.0.0.1) and $PORT. */
static int
terminus_env_listen(struct terminus_opts *o)
{
    const char *ip = getenv("STRAIT_POD_IP");
    const char *port = getenv("PORT");
    struct st_sockaddr sa;
    uint64_t p;

    if (ip == NULL || ip[0] == '\0')
        ip = "127.0.0.1";
    if (port == NULL || port[0] == '\0')
        return terminus_bad("no --listen given and $PORT is not set");
    if (st_parse_u64(st_str_c(port), 65535, &p) < 0)
        return terminus_bad("$PORT is not a port number: %s", port);
    if (strlen(ip) > ST_SOCK_ADDR_MAXLEN)
        return terminus_bad("$STRAIT_POD_IP is not a numeric address: %s", ip);
    /* An IPv6 pod address needs brackets in ADDR:PORT form. */
    snprintf(o->listen, sizeof(o->listen), strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip, (unsigned)p);
    if (st_sock_parse_addr(o->listen, &sa) < 0)
        return terminus_bad("$STRAIT_POD_IP is not a numeric address: %s", ip);
    return 0;
}

/* Fills <o> from argv and the environment; returns 0, or -1 after printing why. */
static int
terminus_parse(int argc, char **argv, struct terminus_opts *o)
{
    enum { O_LISTEN = 1000, O_PAYLOAD, O_LATENCY, O_FAIL, O_LOG, O_HELP };
    static const struct option opts[] = {
        {"listen", required_argument, NULL, O_LISTEN},
        {"payload", required_argument, NULL, O_PAYLOAD},
        {"latency-ms", required_argument, NULL, O_LATENCY},
        {"fail-rate", required_argument, NULL, O_FAIL},
        {"log-level", required_argument, NULL, O_LOG},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    struct st_sockaddr sa;
    bool have_listen = false;
    uint64_t v;
    int c;

    o->payload = getenv("TERMINUS_PAYLOAD");
    if (o->payload == NULL)
        o->payload = "hello";
    o->level = ST_LOG_INFO;
    opterr = 0; /* one message of our own instead of getopt's */
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case O_LISTEN:
            if (st_sock_parse_addr(optarg, &sa) < 0)
                return terminus_bad("--listen takes a numeric ADDR:PORT, not \"%s\"", optarg);
            st_strlcpy(o->listen, optarg, sizeof(o->listen));
            have_listen = true;
            break;
        case O_PAYLOAD:
            o->payload = optarg;
            break;
        case O_LATENCY:
            if (st_parse_u64(st_str_c(optarg), TERMINUS_MAX_LATENCY_MS, &v) < 0)
                return terminus_bad("--latency-ms takes 0..600000, not \"%s\"", optarg);
            o->latency_ms = (uint32_t)v;
            break;
        case O_FAIL:
            if (terminus_parse_rate(optarg, &o->fail_rate) < 0)
                return terminus_bad("--fail-rate takes a fraction from 0 to 1, not \"%s\"", optarg);
            break;
        case O_LOG:
            if (strcmp(optarg, "debug") == 0)
                o->level = ST_LOG_DEBUG;
            else if (strcmp(optarg, "info") == 0)
                o->level = ST_LOG_INFO;
            else if (strcmp(optarg, "warn") == 0)
                o->level = ST_LOG_WARN;
            else if (strcmp(optarg, "error") == 0)
                o->level = ST_LOG_ERROR;
            else
                return terminus_bad("--log-level takes debug, info, warn or error, not \"%s\"",
                                    optarg);
            break;
        case O_HELP:
            terminus_usage(stdout);
            exit(0);
        case ':':
            return terminus_bad("%s needs a value", argv[optind - 1]);
        default:
            return terminus_bad("unknown option %s (see --help)", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return terminus_bad("unexpected argument \"%s\" (see --help)", argv[optind]);
    if (strlen(o->payload) > TERMINUS_MAX_PAYLOAD)
        return terminus_bad("the payload is longer than %u bytes", TERMINUS_MAX_PAYLOAD);
    if (!have_listen)
        return terminus_env_listen(o);
    return 0;
}

/* Returns the payload as a JSON string literal (a new string), or NULL if not UTF-8. */
static char *
terminus_quote(const char *payload)
{
    struct st_buf b = ST_BUF_INIT(0);
    json_t *s = json_string(payload);

    if (s == NULL)
        return NULL;
    if (st_json_dump(s, &b, 0) < 0)
        st_oom(); /* the buffer has no cap: only allocation can fail */
    json_decref(s);
    return st_buf_steal(&b);
}

/* Sends the JSON answer; <req> is invalid afterwards. */
static void
terminus_answer(struct terminus *t, struct st_httpd_req *req, int status)
{
    static const struct st_http_header hdrs[] = {
        {ST_STR("Content-Type"), ST_STR("application/json")},
        {ST_STR("Cache-Control"), ST_STR("no-store")},
    };
    struct st_buf b = ST_BUF_INIT(0);
    uint64_t uid = st_rng_below(&t->rng, 1000000000);
    int rc;

    rc = st_buf_appendf(&b,
                        "{\"requestUID\":\"in:http-sid:terminus-grpc:-1-h1:%d-%llu\","
                        "\"payload\":%s%s}\n",
                        t->port, (unsigned long long)uid, t->payload_json,
                        status == 500 ? ",\"error\":\"injected failure (--fail-rate)\"" : "");
    if (rc < 0)
        st_oom();
    if (st_httpd_respond(req, status, hdrs, ST_ARRAY_LEN(hdrs), b.data, b.len) < 0)
        st_log(ST_LOG_WARN, "could not answer a request");
    st_buf_free(&b);
}

static void
terminus_pending_free(struct terminus_pending *p)
{
    st_ev_timer_stop(p->t->loop, &p->timer);
    free(p);
}

static void
terminus_on_latency(struct st_ev *loop, struct st_ev_timer *timer)
{
    struct terminus_pending *p = timer->data;

    /* Answered from here on: a failed write must not call back into <p>. */
    st_httpd_req_on_abort(p->req, NULL, NULL);
    terminus_answer(p->t, p->req, p->status);
    terminus_pending_free(p);
}

/* The client left (or the server is freed) while the answer was held back. */
static void
terminus_on_abort(void *arg, struct st_httpd_req *req)
{
    struct terminus_pending *p = arg;

    st_log(ST_LOG_DEBUG, "client left before its delayed answer");
    terminus_pending_free(p);
}

/* True for the share of requests that --fail-rate asks to fail. */
static bool
terminus_should_fail(struct terminus *t)
{
    if (t->opts.fail_rate <= 0.0)
        return false;
    /* 53 random bits against the rate scaled to 2^53: exact at 0 and 1. */
    double draw = (double)(st_rng_next(&t->rng) >> 11);
    return draw < t->opts.fail_rate * 9007199254740992.0;
}

static void
terminus_handle(void *arg, struct st_httpd_req *req)
{
    struct terminus *t = arg;
    const struct st_http1_request *h = st_httpd_req_head(req);
    int status = terminus_should_fail(t) ? 500 : 200;
    char peer[ST_SOCK_ADDR_STRLEN];
    size_t body_len;

    st_httpd_req_body(req, &body_len); /* read in full by httpd, and ignored */
    if (st_sock_format_addr(st_httpd_req_peer(req), peer, sizeof(peer)) < 0)
        st_strlcpy(peer, "?", sizeof(peer));
    st_log(ST_LOG_DEBUG, ST_STR_FMT " " ST_STR_FMT " from %s, %zu body bytes: %d%s",
           ST_STR_ARG(h->method), ST_STR_ARG(h->target), peer, body_len, status,
           t->opts.latency_ms ? " (delayed)" : "");
    if (t->opts.latency_ms == 0) {
        terminus_answer(t, req, status);
        return;
    }
    struct terminus_pending *p = st_xcalloc(1, sizeof(*p));
    p->t = t;
    p->req = req;
    p->status = status;
    st_ev_timer_init(&p->timer, terminus_on_latency, p);
    st_httpd_req_on_abort(req, terminus_on_abort, p);
    /*
     * The loop's cached time may predate this request (httpd reads a new
     * connection in the same turn that accepted it), and it counts whole
     * milliseconds: refresh it and add one, so the answer never comes early.
     */
    st_ev_update_now(t->loop);
    st_ev_timer_start(t->loop, &p->timer, (uint64_t)t->opts.latency_ms + 1);
}

/* Stops the loop once every connection is gone or the grace period is over. */
static void
terminus_on_drain(struct st_ev *loop, struct st_ev_timer *timer)
{
    struct terminus *t = timer->data;

    if (st_httpd_conn_count(t->httpd) == 0 || st_ev_now_ms(loop) >= t->drain_deadline)
        st_ev_stop(loop);
    else
        st_ev_timer_start(loop, timer, 20);
}

static void
terminus_on_last_turn(struct st_ev *loop, struct st_ev_timer *timer)
{
    st_ev_stop(loop);
}

static void
terminus_on_signal(struct st_ev *loop, int signo, void *data)
{
    struct terminus *t = data;

    if (t->stopping) {
        /* A second signal: stop now; answers still held back are dropped. */
        st_log(ST_LOG_INFO, "signal %d again: stopping now", signo);
        st_ev_stop(loop);
        return;
    }
    t->stopping = true;
    st_log(ST_LOG_INFO, "signal %d: draining", signo);
    /* Idle connections close now; answers still held back are sent, then close. */
    st_httpd_shutdown(t->httpd);
    uint64_t grace = ST_MIN((uint64_t)t->opts.latency_ms + TERMINUS_DRAIN_GRACE_MS,
                            (uint64_t)TERMINUS_DRAIN_MAX_MS);
    t->drain_deadline = st_ev_now_ms(loop) + grace;
    st_ev_timer_start(loop, &t->drain, 0);
}

int
main(int argc, char **argv)
{
    struct terminus t = {0};
    struct st_err err = {0};
    char addr[ST_SOCK_ADDR_STRLEN];
    int rc = 1;

    signal(SIGPIPE, SIG_IGN);
    if (terminus_parse(argc, argv, &t.opts) < 0)
        return 2;
    t.payload_json = terminus_quote(t.opts.payload);
    if (t.payload_json == NULL) {
        fprintf(stderr, "strait-terminus: the payload is not valid UTF-8\n");
        return 2;
    }
    st_log_init("strait-terminus", t.opts.level);
    st_rng_seed(&t.rng);

    t.loop = st_ev_new(&err);
    if (t.loop == NULL) {
        st_log(ST_LOG_ERROR, "loop: %s", err.msg);
        goto out;
    }
    struct st_httpd_options ho = {
        .listen = t.opts.listen, .tls = NULL, .max_body = TERMINUS_MAX_BODY};
    t.httpd = st_httpd_new(t.loop, &ho, terminus_handle, &t, &err);
    if (t.httpd == NULL) {
        st_log(ST_LOG_ERROR, "listen %s: %s", t.opts.listen, err.msg);
        goto out;
    }
    t.port = st_sock_addr_port(st_httpd_addr(t.httpd));
    if (st_sock_format_addr(st_httpd_addr(t.httpd), addr, sizeof(addr)) < 0)
        st_strlcpy(addr, t.opts.listen, sizeof(addr));
    st_ev_timer_init(&t.drain, terminus_on_drain, &t);
    if (st_ev_signal_add(t.loop, SIGTERM, terminus_on_signal, &t) < 0 ||
        st_ev_signal_add(t.loop, SIGINT, terminus_on_signal, &t) < 0) {
        st_log(ST_LOG_ERROR, "cannot watch signals");
        goto out;
    }

    printf("strait-terminus listening on %s\n", addr);
    fflush(stdout);
    st_log(ST_LOG_INFO, "latency %u ms, fail rate %g, payload %zu bytes", t.opts.latency_ms,
           t.opts.fail_rate, strlen(t.opts.payload));
    if (st_ev_run(t.loop) < 0) {
        st_log(ST_LOG_ERROR, "event loop failed");
        goto out;
    }
    rc = 0;
out:
    /* Frees answers still held back through their abort callbacks, before the loop goes. */
    st_httpd_free(t.httpd);
    t.httpd = NULL;
    if (t.loop != NULL) {
        /*
         * httpd frees closed connections from deferred calls; one more turn of
         * the loop (a zero timer that stops it) lets them run.
         */
        st_ev_timer_stop(t.loop, &t.drain);
        st_ev_timer_init(&t.drain, terminus_on_last_turn, &t);
        st_ev_timer_start(t.loop, &t.drain, 0);
        st_ev_run(t.loop);
    }
    st_ev_free(t.loop);
    free(t.payload_json);
    return rc;
}
