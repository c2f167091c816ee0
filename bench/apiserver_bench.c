/*
 * apiserver_bench: measures strait-apiserver (or any Kubernetes API server)
 * from the outside, with libcurl:
 *   1. creates per second (sequential, one keep-alive connection, and with
 *      several concurrent connections),
 *   2. watch-event delivery latency to W concurrent watchers: each created
 *      object carries its send time; every watcher records arrival - send,
 *   3. the server's RSS after N Services are stored (read from /proc).
 * Usage: apiserver_bench --server URL --token TOKEN [--cacert FILE] [--pid PID]
 *        [--watchers 100] [--events 200] [--services 10000] [--namespace NS]
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strait/core.h"

struct bench {
    const char *server, *token, *cacert, *ns;
    long pid;
    int watchers, events, services, conns;
    struct curl_slist *headers;
};

static void
bench_setup(struct bench *b, CURL *h, const char *url)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, b->headers);
    if (b->cacert)
        curl_easy_setopt(h, CURLOPT_CAINFO, b->cacert);
    else
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
}

static size_t
discard(char *p, size_t sz, size_t n, void *arg)
{
    return sz * n;
}

/* Sends one POST; returns the HTTP status or -1. */
static long
bench_post(struct bench *b, CURL *h, const char *url, const char *body)
{
    long code = -1;
    bench_setup(b, h, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

struct watcher {
    struct bench *b;
    CURL *h;
    struct st_buf line;
    uint64_t *arrival_ns; /* one slot per event; 0 until it arrived */
};

static size_t
watcher_data(char *p, size_t sz, size_t n, void *arg)
{
    struct watcher *w = arg;
    size_t len = sz * n;
    uint64_t now = st_now_ns();

    if (st_buf_append(&w->line, p, len) < 0)
        return 0;
    char *nl;
    while ((nl = memchr(w->line.data, '\n', w->line.len)) != NULL) {
        *nl = '\0';
        const char *idx = strstr(w->line.data, "bench-index\":\"");
        if (idx && strstr(w->line.data, "\"ADDED\"")) {
            long i = strtol(idx + 14, NULL, 10);
            if (i >= 0 && i < w->b->events && w->arrival_ns[i] == 0)
                w->arrival_ns[i] = now;
        }
        st_buf_consume(&w->line, (size_t)(nl - w->line.data) + 1);
    }
    return len;
}

/* The watchers run on their own thread so that arrival times are taken at once. */
struct watch_loop {
    CURLM *m;
    volatile int stop;
};

static void *
watch_loop_run(void *arg)
{
    struct watch_loop *wl = arg;
    int running = 0;
    while (!wl->stop) {
        curl_multi_perform(wl->m, &running);
        curl_multi_poll(wl->m, NULL, 0, 5, NULL);
    }
    return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static long
rss_kb(long pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

struct creator {
    struct bench *b;
    int first, count, failures;
    bool services; /* Services instead of ConfigMaps */
};

static void *
creator_run(void *arg)
{
    struct creator *c = arg;
    CURL *h = curl_easy_init();
    char *url = st_xasprintf("%s/api/v1/namespaces/%s/%s", c->b->server, c->b->ns,
                             c->services ? "services" : "configmaps");
    for (int i = c->first; i < c->first + c->count; i++) {
        char body[512];
        if (c->services)
            snprintf(body, sizeof(body),
                     "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":"
                     "\"svc-%d\",\"labels\":{\"app\":\"svc-%d\"}},\"spec\":{\"selector\":"
                     "{\"app\":\"svc-%d\"},\"ports\":[{\"name\":\"http\",\"port\":8888}]}}",
                     i, i, i);
        else
            snprintf(body, sizeof(body),
                     "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                     "\"rate-%d\"},\"data\":{\"k\":\"v\"}}", i);
        if (bench_post(c->b, h, url, body) != 201)
            c->failures++;
    }
    free(url);
    curl_easy_cleanup(h);
    return NULL;
}

static double
bench_creates(struct bench *b, int conns, int total, int base, bool services)
{
    pthread_t th[64];
    struct creator cr[64];

    if (conns > 64)
        conns = 64;
    uint64_t t0 = st_now_ns();
    int failures = 0;

    for (int i = 0; i < conns; i++) {
        cr[i] = (struct creator){b, base + i * (total / conns), total / conns, 0, services};
        pthread_create(&th[i], NULL, creator_run, &cr[i]);
    }
    for (int i = 0; i < conns; i++) {
        pthread_join(th[i], NULL);
        failures += cr[i].failures;
    }
    double s = (double)(st_now_ns() - t0) / 1e9;
    if (failures)
        fprintf(stderr, "bench: %d creates failed\n", failures);
    return (double)(total / conns * conns) / s;
}

static void
bench_print_dist(const char *name, uint64_t *v, size_t n, size_t expected)
{
    qsort(v, n, sizeof(uint64_t), cmp_u64);
    if (n == 0) {
        printf("%s delivered=0/%zu (FAILED)\n", name, expected);
        return;
    }
    double p50 = (double)v[n / 2] / 1e6, p99 = (double)v[(n * 99) / 100] / 1e6;
    printf("%s delivered=%zu/%zu p50_ms=%.3f p99_ms=%.3f max_ms=%.3f goal_p99_ms=10 "
           "ratio_p99/goal=%.2f\n", name, n, expected, p50, p99, (double)v[n - 1] / 1e6, p99 / 10.0);
}

/*
 * Creates <events> labelled ConfigMaps, one every 20 ms, while <watchers>
 * watches follow them. Two latencies per (watcher, event): from the moment
 * the create was sent (includes the server's commit, an fsync), and from the
 * moment its 201 arrived (the write is committed then: pure delivery).
 */
static void
bench_watch_latency(struct bench *b)
{
    struct watch_loop wl = {curl_multi_init(), 0};
    struct watcher *w = st_xcalloc((size_t)b->watchers, sizeof(*w));
    char *wurl = st_xasprintf("%s/api/v1/namespaces/%s/configmaps?watch=true&labelSelector=bench%%3Dwatch"
                              "&resourceVersion=%s", b->server, b->ns, "");
    uint64_t *sent = st_xcalloc((size_t)b->events, sizeof(uint64_t));
    uint64_t *acked = st_xcalloc((size_t)b->events, sizeof(uint64_t));
    pthread_t th;

    for (int i = 0; i < b->watchers; i++) {
        w[i].b = b;
        w[i].h = curl_easy_init();
        st_buf_init(&w[i].line, 1 << 20);
        w[i].arrival_ns = st_xcalloc((size_t)b->events, sizeof(uint64_t));
        bench_setup(b, w[i].h, wurl);
        curl_easy_setopt(w[i].h, CURLOPT_WRITEFUNCTION, watcher_data);
        curl_easy_setopt(w[i].h, CURLOPT_WRITEDATA, &w[i]);
        curl_multi_add_handle(wl.m, w[i].h);
    }
    pthread_create(&th, NULL, watch_loop_run, &wl);
    usleep(2000 * 1000); /* every watch connects before the first event */

    CURL *h = curl_easy_init();
    char *url = st_xasprintf("%s/api/v1/namespaces/%s/configmaps", b->server, b->ns);
    for (int i = 0; i < b->events; i++) {
        char body[400];
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"watch-%d\","
                 "\"labels\":{\"bench\":\"watch\"},\"annotations\":{\"bench-index\":\"%d\"}}}", i, i);
        sent[i] = st_now_ns();
        bench_post(b, h, url, body);
        acked[i] = st_now_ns();
        usleep(20 * 1000);
    }
    usleep(2000 * 1000);
    wl.stop = 1;
    pthread_join(th, NULL);

    size_t n = 0, expected = (size_t)b->watchers * (size_t)b->events;
    uint64_t *from_send = st_xcalloc(expected, sizeof(uint64_t));
    uint64_t *from_ack = st_xcalloc(expected, sizeof(uint64_t));
    for (int i = 0; i < b->watchers; i++)
        for (int j = 0; j < b->events; j++)
            if (w[i].arrival_ns[j]) {
                from_send[n] = w[i].arrival_ns[j] - sent[j];
                from_ack[n] = w[i].arrival_ns[j] > acked[j] ? w[i].arrival_ns[j] - acked[j] : 0;
                n++;
            }
    printf("watch_latency watchers=%d events=%d\n", b->watchers, b->events);
    bench_print_dist("watch_delivery_after_commit", from_ack, n, expected);
    bench_print_dist("watch_delivery_from_create_sent", from_send, n, expected);
    for (int i = 0; i < b->watchers; i++) {
        curl_multi_remove_handle(wl.m, w[i].h);
        curl_easy_cleanup(w[i].h);
        st_buf_free(&w[i].line);
        free(w[i].arrival_ns);
    }
    free(from_send);
    free(from_ack);
    free(sent);
    free(acked);
    free(w);
    free(url);
    free(wurl);
    curl_easy_cleanup(h);
    curl_multi_cleanup(wl.m);
}

static void bench_usage(void);

/* A positive count from the command line, or the usage message. */
static int
bench_count(const char *s)
{
    uint64_t v;
    if (st_parse_u64(st_str_c(s), 1000000, &v) < 0 || v == 0)
        bench_usage();
    return (int)v;
}

static void
bench_usage(void)
{
    fprintf(stderr, "usage: apiserver_bench --server URL --token TOKEN [--cacert FILE] "
                    "[--pid PID] [--namespace NS] [--watchers N] [--events N] [--services N] "
                    "[--conns N]\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"server", 1, NULL, 's'},   {"token", 1, NULL, 't'},  {"cacert", 1, NULL, 'c'},
        {"pid", 1, NULL, 'p'},      {"namespace", 1, NULL, 'n'}, {"watchers", 1, NULL, 'w'},
        {"events", 1, NULL, 'e'},   {"services", 1, NULL, 'S'}, {"conns", 1, NULL, 'C'},
        {NULL, 0, NULL, 0},
    };
    struct bench b = {.ns = "default", .watchers = 100, .events = 200, .services = 10000,
                      .conns = 4};
    int c;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': b.server = optarg; break;
        case 't': b.token = optarg; break;
        case 'c': b.cacert = optarg; break;
        case 'p': b.pid = strtol(optarg, NULL, 10); break;
        case 'n': b.ns = optarg; break;
        case 'w': b.watchers = bench_count(optarg); break;
        case 'e': b.events = bench_count(optarg); break;
        case 'S': b.services = bench_count(optarg); break;
        case 'C': b.conns = bench_count(optarg); break;
        default: bench_usage();
        }
    }
    if (!b.server || !b.token || b.watchers < 1 || b.events < 1 || b.conns < 1)
        bench_usage();
    curl_global_init(CURL_GLOBAL_ALL);
    char *auth = st_xasprintf("Authorization: Bearer %s", b.token);
    b.headers = curl_slist_append(NULL, auth);
    b.headers = curl_slist_append(b.headers, "Content-Type: application/json");
    b.headers = curl_slist_append(b.headers, "Accept: application/json");

    double seq = bench_creates(&b, 1, 500, 0, false);
    double par = bench_creates(&b, b.conns, 2000, 1000, false);
    printf("creates sequential_per_s=%.0f concurrent_%d_per_s=%.0f\n", seq, b.conns, par);

    bench_watch_latency(&b);

    long before = b.pid ? rss_kb(b.pid) : -1;
    double svc = bench_creates(&b, b.conns, b.services, 0, true);
    long after = b.pid ? rss_kb(b.pid) : -1;
    printf("rss services=%d create_per_s=%.0f rss_before_mb=%.1f rss_after_mb=%.1f goal_mb=50 "
           "ratio_rss/goal=%.2f\n", b.services, svc, (double)before / 1024.0,
           (double)after / 1024.0, (double)after / 1024.0 / 50.0);
    curl_slist_free_all(b.headers);
    free(auth);
    curl_global_cleanup();
    return 0;
}
