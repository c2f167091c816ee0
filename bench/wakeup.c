/*
 * wakeup: what one wakeup costs on this machine, without any proxy.
 *
 * Two processes pass one byte back and forth over a pair of pipes, N times;
 * the parent times each round trip (two wakeups). Each side can be pinned to
 * a CPU, and the parent can pause between round trips so that the other
 * side's CPU has gone idle when the byte arrives: on a VM, waking a halted
 * virtual CPU goes through the hypervisor and costs far more than waking a
 * process on a CPU that is running. Prints one line:
 *
 *   wakeup cpus=0/1 pause_us=300 n=5000 p50_us=51.7 p90_us=308.8 p99_us=495.5 max_us=1877.0
 *
 * Usage: wakeup CPU_A CPU_B N [PAUSE_US]   (a CPU of -1 leaves that side unpinned)
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WAKEUP_MAX_N 1000000L
#define WAKEUP_MAX_PAUSE_US 1000000L

static uint64_t
wakeup_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
wakeup_pin(long cpu)
{
    cpu_set_t set;

    if (cpu < 0)
        return 0;
    CPU_ZERO(&set);
    CPU_SET((int)cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}

static int
wakeup_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Parses a whole decimal argument in [lo, hi]; returns 0 or -1. */
static int
wakeup_arg(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;

    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* One byte each way; returns 0 or -1 when the other side is gone. */
static int
wakeup_pass(int wfd, int rfd, int read_first)
{
    char c = 'x';

    if (read_first && read(rfd, &c, 1) != 1)
        return -1;
    if (write(wfd, &c, 1) != 1)
        return -1;
    if (!read_first && read(rfd, &c, 1) != 1)
        return -1;
    return 0;
}

int
main(int argc, char **argv)
{
    long cpu_a, cpu_b, n, pause_us = 0;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int to_child[2], to_parent[2];
    uint64_t *rt = NULL;
    int status = 1;

    if ((argc != 4 && argc != 5) || wakeup_arg(argv[1], -1, ncpu - 1, &cpu_a) < 0 ||
        wakeup_arg(argv[2], -1, ncpu - 1, &cpu_b) < 0 ||
        wakeup_arg(argv[3], 100, WAKEUP_MAX_N, &n) < 0 ||
        (argc == 5 && wakeup_arg(argv[4], 0, WAKEUP_MAX_PAUSE_US, &pause_us) < 0)) {
        fprintf(stderr, "usage: wakeup CPU_A CPU_B N [PAUSE_US]  (CPU -1: unpinned; "
                        "N 100..%ld; PAUSE_US 0..%ld)\n",
                WAKEUP_MAX_N, WAKEUP_MAX_PAUSE_US);
        return 2;
    }
    if (pipe(to_child) < 0 || pipe(to_parent) < 0) {
        perror("wakeup: pipe");
        return 1;
    }
    pid_t child = fork();
    if (child < 0) {
        perror("wakeup: fork");
        return 1;
    }
    if (child == 0) {
        if (wakeup_pin(cpu_b) < 0)
            _exit(1);
        for (long i = 0; i < n; i++)
            if (wakeup_pass(to_parent[1], to_child[0], 1) < 0)
                _exit(1);
        _exit(0);
    }
    rt = calloc((size_t)n, sizeof(*rt));
    if (rt == NULL || wakeup_pin(cpu_a) < 0) {
        fprintf(stderr, "wakeup: cannot pin to CPU %ld or allocate\n", cpu_a);
        goto out;
    }
    for (long i = 0; i < n; i++) {
        if (pause_us > 0)
            usleep((useconds_t)pause_us);
        uint64_t t0 = wakeup_now_ns();
        if (wakeup_pass(to_child[1], to_parent[0], 0) < 0) {
            fprintf(stderr, "wakeup: the other side exited\n");
            goto out;
        }
        rt[i] = wakeup_now_ns() - t0;
    }
    qsort(rt, (size_t)n, sizeof(*rt), wakeup_cmp);
    printf("wakeup cpus=%ld/%ld pause_us=%ld n=%ld p50_us=%.1f p90_us=%.1f p99_us=%.1f "
           "max_us=%.1f\n",
           cpu_a, cpu_b, pause_us, n, rt[n / 2] / 1e3, rt[n * 9 / 10] / 1e3, rt[n * 99 / 100] / 1e3,
           rt[n - 1] / 1e3);
    status = 0;
out:
    free(rt);
    close(to_child[1]); /* the child's read fails and it exits */
    if (status != 0)
        kill(child, SIGTERM);
    waitpid(child, NULL, 0);
    return status;
}
