/* Unit tests of the local-cluster helpers (cli/local.c) on real files and processes. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "local.h"

static char test_dir[] = "/tmp/test_local.XXXXXX";

static void
test_names_and_addresses(void **state)
{
    char a[16];

    assert_true(local_name_ok("alpha"));
    assert_true(local_name_ok("a-1"));
    assert_false(local_name_ok("Alpha"));
    assert_false(local_name_ok("a_b"));
    assert_false(local_name_ok("-a"));
    assert_false(local_name_ok(""));
    assert_false(local_name_ok(NULL));
    local_addr(7, 1, 254, a);
    assert_string_equal(a, "127.7.1.254");
    char *p = local_path("/x", "clusters/%s/%d", "c", 3);
    assert_string_equal(p, "/x/clusters/c/3");
    free(p);
}

static void
test_err_wrap(void **state)
{
    struct st_err err = {0};

    st_err_set(&err, ST_EPARSE, "inner problem");
    assert_int_equal(local_err_wrap(&err, ST_EINVAL, "outer %d", 1), ST_EINVAL);
    assert_string_equal(err.msg, "outer 1: inner problem");
    assert_int_equal(err.code, ST_EINVAL);
    assert_int_equal(local_err_wrap(NULL, -EIO, "x"), -EIO);
}

static void
test_home(void **state)
{
    setenv("STRAIT_HOME", "/abs/home", 1);
    char *h = local_home();
    assert_string_equal(h, "/abs/home");
    free(h);
    unsetenv("STRAIT_HOME");
    h = local_home();
    assert_true(h[0] == '/');
    assert_true(st_str_has_suffix(h, "/.strait"));
    free(h);
}

static void
test_cluster_roundtrip(void **state)
{
    struct local_cluster c = {0}, d = {0};
    struct st_err err = {0};
    json_t *names = NULL;

    assert_int_equal(local_cluster_load(test_dir, "nope", &d, &err), ST_ENOTFOUND);
    assert_int_equal(local_cluster_load(test_dir, "Bad", &d, &err), ST_EINVAL);
    c.name = "east";
    c.number = 12;
    c.home = test_dir;
    c.dir = local_path(test_dir, "clusters/east");
    c.anchor_cert = "/a.crt";
    c.anchor_key = NULL;
    c.created = "2026-01-01T00:00:00Z";
    assert_int_equal(st_mkdir_p(c.dir, 0700), 0);
    assert_int_equal(local_cluster_save(&c, &err), 0);
    assert_int_equal(local_cluster_load(test_dir, "east", &d, &err), 0);
    assert_int_equal(d.number, 12);
    assert_string_equal(d.anchor_cert, "/a.crt");
    assert_null(d.anchor_key);
    assert_string_equal(d.dir, c.dir);
    local_cluster_free(&d);
    assert_int_equal(local_cluster_names(test_dir, &names, &err), 0);
    assert_int_equal(json_array_size(names), 1);
    assert_string_equal(json_string_value(json_array_get(names, 0)), "east");
    json_decref(names);

    /* A cluster.json that lies about its name or number is refused. */
    char *file = local_path(c.dir, "cluster.json");
    assert_int_equal(st_file_write_atomic(file, "{\"name\":\"west\",\"number\":3}", 26, 0644), 0);
    assert_int_equal(local_cluster_load(test_dir, "east", &d, &err), ST_EPARSE);
    assert_int_equal(st_file_write_atomic(file, "[1]", 3, 0644), 0);
    assert_true(local_cluster_load(test_dir, "east", &d, &err) < 0);
    free(file);
    assert_int_equal(local_rm_rf(c.dir), 0);
    assert_int_equal(access(c.dir, F_OK), -1);
    free(c.dir);
}

static void
test_processes(void **state)
{
    struct local_proc p = {0}, q = {0};
    struct st_err err = {0};
    char *argv[] = {"sleep", "30", NULL};
    char *bad[] = {"/nonexistent/binary", NULL};
    char *pidf = local_path(test_dir, "sleep.pid");

    assert_int_equal(local_spawn(bad, NULL, NULL, false, false, &p, &err), -ENOENT);
    assert_int_equal(p.pid, 0);
    assert_false(local_proc_alive(&p));

    assert_int_equal(local_spawn(argv, NULL, NULL, true, false, &p, &err), 0);
    assert_true(p.pid > 0);
    assert_true(local_proc_alive(&p));
    assert_int_equal(local_pidfile_write(pidf, &p, &err), 0);
    assert_int_equal(local_pidfile_read(pidf, &q), 0);
    assert_int_equal(q.pid, p.pid);
    assert_true(q.start == p.start);
    /* The same pid with another start time is not our process. */
    q.start++;
    assert_false(local_proc_alive(&q));
    assert_int_equal(local_proc_stop(&q, 100), 0);
    assert_true(local_proc_alive(&p));
    assert_int_equal(local_proc_stop(&p, 5000), 1);
    assert_false(local_proc_alive(&p));
    assert_int_equal(local_proc_stop(&p, 100), 0);

    /* A child that ignores SIGTERM is killed after the timeout. */
    char *stubborn[] = {"sh", "-c", "trap '' TERM; sleep 30", NULL};
    assert_int_equal(local_spawn(stubborn, NULL, NULL, false, false, &p, &err), 0);
    usleep(200 * 1000);
    uint64_t t0 = st_now_ms();
    assert_int_equal(local_proc_stop(&p, 300), 1);
    assert_true(st_now_ms() - t0 >= 300);
    assert_false(local_proc_alive(&p));

    assert_int_equal(local_pidfile_read("/nonexistent/x.pid", &q), -ENOENT);
    free(pidf);
}

static void
test_spawn_env_and_log(void **state)
{
    struct local_proc p = {0};
    struct st_err err = {0};
    char *log = local_path(test_dir, "env.log");
    char *argv[] = {"sh", "-c", "echo \"$STRAIT_TEST_A $HOME\"", NULL};
    char *env[] = {"STRAIT_TEST_A=one", "HOME=/replaced", NULL};
    struct st_buf b = ST_BUF_INIT(4096);

    assert_int_equal(local_spawn(argv, env, log, false, false, &p, &err), 0);
    for (int i = 0; i < 100 && local_proc_alive(&p); i++)
        usleep(20 * 1000);
    assert_false(local_proc_alive(&p));
    assert_int_equal(st_file_read(log, &b), 0);
    assert_string_equal(st_buf_cstr(&b), "one /replaced\n");
    st_buf_free(&b);
    free(log);
}

static void
test_lock(void **state)
{
    struct st_err err = {0};
    char *path = local_path(test_dir, "lock");
    int fd = local_lock(path, 1000, &err);

    assert_true(fd >= 0);
    /* flock is per open file: a second open of the same file waits, then times out. */
    uint64_t t0 = st_now_ms();
    assert_int_equal(local_lock(path, 200, &err), ST_ETIMEOUT);
    assert_true(st_now_ms() - t0 >= 200);
    local_unlock(fd);
    fd = local_lock(path, 200, &err);
    assert_true(fd >= 0);
    local_unlock(fd);
    free(path);
}

static void
test_wait_timeouts(void **state)
{
    struct st_err err = {0};

    /* Nobody listens on 127.0.0.1:1. */
    assert_true(local_http_status("http://127.0.0.1:1/ready", 200) < 0);
    uint64_t t0 = st_now_ms();
    assert_int_equal(local_wait_http("http://127.0.0.1:1/ready", NULL, 300, &err), ST_ETIMEOUT);
    assert_true(st_now_ms() - t0 >= 300);
    assert_int_equal(local_wait_tcp("127.0.0.1", 1, NULL, 200), ST_ETIMEOUT);
    assert_int_equal(local_wait_tcp("not-an-ip", 1, NULL, 200), ST_EINVAL);
    assert_true(local_port_free("127.0.0.1", 0));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_addresses),
        cmocka_unit_test(test_err_wrap),
        cmocka_unit_test(test_home),
        cmocka_unit_test(test_cluster_roundtrip),
        cmocka_unit_test(test_processes),
        cmocka_unit_test(test_spawn_env_and_log),
        cmocka_unit_test(test_lock),
        cmocka_unit_test(test_wait_timeouts),
    };

    signal(SIGPIPE, SIG_IGN);
    if (mkdtemp(test_dir) == NULL)
        return 1;
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    local_rm_rf(test_dir);
    return rc;
}
