/* Time, randomness, files and the binaries' logger. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "strait/core.h"

uint64_t
st_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t
st_now_ms(void)
{
    return st_now_ns() / 1000000u;
}

int64_t
st_wall_s(void)
{
    return (int64_t)time(NULL);
}

void
st_rfc3339(int64_t t, char out[21])
{
    struct tm tm;
    time_t tt = (time_t)t;
    gmtime_r(&tt, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int
st_parse_rfc3339(const char *s, int64_t *out)
{
    struct tm tm = {0};
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);

    if (end == NULL)
        return ST_EPARSE;
    if (*end == '.') { /* fractional seconds are accepted and dropped */
        end++;
        while (*end >= '0' && *end <= '9')
            end++;
    }
    if (strcmp(end, "Z") != 0)
        return ST_EPARSE;
    *out = (int64_t)timegm(&tm);
    return 0;
}

void
st_random_bytes(void *p, size_t n)
{
    unsigned char *b = p;
    while (n > 0) {
        ssize_t r = getrandom(b, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            abort();
        }
        b += r;
        n -= (size_t)r;
    }
}

uint64_t
st_random_u64(void)
{
    uint64_t v;
    st_random_bytes(&v, sizeof(v));
    return v;
}

void
st_rng_seed(struct st_rng *r)
{
    do {
        st_random_bytes(r->s, sizeof(r->s));
    } while (r->s[0] == 0 && r->s[1] == 0);
}

/* xorshift128+: fast and good enough for picking backends and jitter. */
uint64_t
st_rng_next(struct st_rng *r)
{
    uint64_t s1 = r->s[0];
    const uint64_t s0 = r->s[1];
    r->s[0] = s0;
    s1 ^= s1 << 23;
    r->s[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return r->s[1] + s0;
}

uint64_t
st_rng_below(struct st_rng *r, uint64_t n)
{
    /* Lemire's multiply-shift; the tiny bias is irrelevant for our uses. */
    return (uint64_t)(((unsigned __int128)st_rng_next(r) * n) >> 64);
}

int
st_file_read(const char *path, struct st_buf *out)
{
    char chunk[16384];
    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    st_buf_reset(out);
    if (fd < 0)
        return -errno;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        if (n == 0)
            break;
        rc = st_buf_append(out, chunk, (size_t)n);
        if (rc < 0)
            break;
    }
    explicit_bzero(chunk, sizeof(chunk));
    close(fd);
    return rc;
}

int
st_file_write_atomic(const char *path, const void *p, size_t n, unsigned mode)
{
    char *tmp = st_xasprintf("%s.tmp.%ld", path, (long)getpid());
    const char *c = p;
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    fchmod(fd, mode);
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        c += w;
        n -= (size_t)w;
    }
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    close(fd);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0)
        unlink(tmp);
out:
    free(tmp);
    return rc;
}

int
st_mkdir_p(const char *path, unsigned mode)
{
    char *p = st_xstrdup(path);
    int rc = 0;

    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST) {
            rc = -errno;
            goto out;
        }
        *s = '/';
    }
    if (mkdir(p, mode) < 0 && errno != EEXIST)
        rc = -errno;
out:
    free(p);
    return rc;
}

static const char *log_prog = "strait";
static enum st_log_level log_min = ST_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void
st_log_init(const char *prog, enum st_log_level min)
{
    log_prog = prog;
    log_min = min;
}

void
st_log(enum st_log_level level, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    char ts[21];
    va_list ap;

    if (level < log_min)
        return;
    st_rfc3339(st_wall_s(), ts);
    pthread_mutex_lock(&log_lock);
    fprintf(stderr, "%s %s %s ", ts, log_prog, names[level]);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&log_lock);
}
