/* Unit tests for kubeconfig loading: files, merging, contexts, paths, in-cluster, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strait/kube.h"

static char tmpdir[] = "/tmp/test_kubeconfig.XXXXXX";

static char *
tpath(const char *name)
{
    return st_xasprintf("%s/%s", tmpdir, name);
}

static void
put(const char *name, const char *text)
{
    char *p = tpath(name);
    char *slash = strrchr(p, '/');
    *slash = '\0';
    assert_int_equal(st_mkdir_p(p, 0700), 0);
    *slash = '/';
    assert_int_equal(st_file_write_atomic(p, text, strlen(text), 0600), 0);
    free(p);
}

static int
setup(void **state)
{
    assert_non_null(mkdtemp(tmpdir));
    unsetenv("KUBECONFIG");
    return 0;
}

static int
teardown(void **state)
{
    char *cmd = st_xasprintf("rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    return 0;
}

static struct st_kube_config *
load_file(const char *name, const char *context, struct st_err *err)
{
    char *p = tpath(name);
    struct st_kube_load_opts o = {.kubeconfig_path = p, .context = context};
    struct st_kube_config *cfg = st_kube_config_load(&o, err);
    free(p);
    return cfg;
}

static void
test_single_file(void **state)
{
    struct st_err err;

    put("one/ca.pem", "CA-ONE\n");
    put("one/tok", "  tok-from-file \n");
    put("one/config", "apiVersion: v1\n"
                      "kind: Config\n"
                      "clusters:\n"
                      "- name: c1\n"
                      "  cluster:\n"
                      "    server: https://127.0.0.1:6443/\n"
                      "    certificate-authority: ca.pem\n"
                      "    tls-server-name: api.example.test\n"
                      "users:\n"
                      "- name: u1\n"
                      "  user:\n"
                      "    tokenFile: tok\n"
                      "contexts:\n"
                      "- name: ctx1\n"
                      "  context: {cluster: c1, user: u1, namespace: team}\n"
                      "current-context: ctx1\n");
    struct st_kube_config *cfg = load_file("one/config", NULL, &err);
    assert_non_null(cfg);
    assert_string_equal(cfg->context, "ctx1");
    assert_string_equal(cfg->server, "https://127.0.0.1:6443");
    assert_string_equal(cfg->namespace, "team");
    assert_string_equal(cfg->tls_server_name, "api.example.test");
    assert_string_equal(st_buf_cstr(&cfg->ca_pem), "CA-ONE\n");
    assert_string_equal(st_buf_cstr(&cfg->token), "  tok-from-file");
    assert_non_null(strstr(cfg->token_file, "/one/tok"));
    assert_false(cfg->insecure);
    st_kube_config_free(cfg);
}

static void
test_merge_kubeconfig_env(void **state)
{
    struct st_err err;

    put("a/ca.pem", "CA-A");
    put("b/ca.pem", "CA-B");
    /* File a: no current-context; defines c1, u1 and ctx "shared". */
    put("a/config", "clusters:\n"
                    "- name: c1\n"
                    "  cluster: {server: 'https://10.0.0.1', certificate-authority: ca.pem}\n"
                    "users:\n"
                    "- name: u1\n"
                    "  user: {token: token-a}\n"
                    "contexts:\n"
                    "- name: shared\n"
                    "  context: {cluster: c1, user: u1}\n");
    /* File b: loses on the duplicate names, adds c2 and ctx "only-b", sets current. */
    put("b/config", "clusters:\n"
                    "- name: c1\n"
                    "  cluster: {server: 'https://10.9.9.9'}\n"
                    "- name: c2\n"
                    "  cluster: {server: 'https://10.0.0.2', certificate-authority: ca.pem}\n"
                    "users:\n"
                    "- name: u1\n"
                    "  user: {token: token-b}\n"
                    "contexts:\n"
                    "- name: shared\n"
                    "  context: {cluster: c2, user: u1}\n"
                    "- name: only-b\n"
                    "  context: {cluster: c2, user: u1, namespace: nb}\n"
                    "current-context: only-b\n");
    char *a = tpath("a/config"), *b = tpath("b/config"), *missing = tpath("nope/config");
    char *env = st_xasprintf("%s::%s:%s", a, missing, b);
    setenv("KUBECONFIG", env, 1);

    struct st_kube_config *cfg = st_kube_config_load(NULL, &err);
    assert_non_null(cfg);
    assert_string_equal(cfg->context, "only-b");
    assert_string_equal(cfg->server, "https://10.0.0.2");
    /* The CA path of c2 resolves against b's directory. */
    assert_string_equal(st_buf_cstr(&cfg->ca_pem), "CA-B");
    /* u1 comes from a, the first file that named it. */
    assert_string_equal(st_buf_cstr(&cfg->token), "token-a");
    assert_string_equal(cfg->namespace, "nb");
    st_kube_config_free(cfg);

    struct st_kube_load_opts o = {.context = "shared"};
    cfg = st_kube_config_load(&o, &err);
    assert_non_null(cfg);
    assert_string_equal(cfg->server, "https://10.0.0.1");
    assert_string_equal(st_buf_cstr(&cfg->ca_pem), "CA-A");
    assert_string_equal(cfg->namespace, "default");
    st_kube_config_free(cfg);

    /* The first file to set current-context wins. */
    free(env);
    env = st_xasprintf("%s:%s", b, a);
    setenv("KUBECONFIG", env, 1);
    cfg = st_kube_config_load(NULL, &err);
    assert_non_null(cfg);
    assert_string_equal(cfg->context, "only-b");
    assert_string_equal(st_buf_cstr(&cfg->token), "token-b");
    st_kube_config_free(cfg);

    /* Only missing files. */
    setenv("KUBECONFIG", missing, 1);
    assert_null(st_kube_config_load(NULL, &err));
    assert_int_equal(err.code, -ENOENT);

    unsetenv("KUBECONFIG");
    free(env);
    free(a);
    free(b);
    free(missing);
}

static void
test_home_default(void **state)
{
    struct st_err err;
    const char *old = getenv("HOME");
    char *saved = old ? st_xstrdup(old) : NULL;

    put("home/.kube/config", "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n"
                             "contexts: [{name: x, context: {cluster: c}}]\n"
                             "current-context: x\n");
    char *home = tpath("home");
    setenv("HOME", home, 1);
    struct st_kube_config *cfg = st_kube_config_load(NULL, &err);
    assert_non_null(cfg);
    assert_string_equal(cfg->server, "http://127.0.0.1:1");
    assert_int_equal(cfg->token.len, 0);
    st_kube_config_free(cfg);
    if (saved)
        setenv("HOME", saved, 1);
    free(saved);
    free(home);
}

static void
test_context_errors(void **state)
{
    struct st_err err;

    put("e/config", "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                    "users: [{name: u, user: {token: t}}]\n"
                    "contexts:\n"
                    "- {name: good, context: {cluster: c, user: u}}\n"
                    "- {name: nocluster, context: {cluster: gone, user: u}}\n"
                    "- {name: nouser, context: {cluster: c, user: ghost}}\n");
    assert_null(load_file("e/config", NULL, &err));
    assert_int_equal(err.code, ST_ENOTFOUND);
    assert_non_null(strstr(err.msg, "current-context"));

    assert_null(load_file("e/config", "missing", &err));
    assert_int_equal(err.code, ST_ENOTFOUND);
    assert_non_null(strstr(err.msg, "context \"missing\" not found"));

    assert_null(load_file("e/config", "nocluster", &err));
    assert_int_equal(err.code, ST_ENOTFOUND);
    assert_non_null(strstr(err.msg, "cluster \"gone\""));

    assert_null(load_file("e/config", "nouser", &err));
    assert_int_equal(err.code, ST_ENOTFOUND);
    assert_non_null(strstr(err.msg, "user \"ghost\""));

    struct st_kube_config *cfg = load_file("e/config", "good", &err);
    assert_non_null(cfg);
    st_kube_config_free(cfg);

    assert_null(load_file("e/nothere", "good", &err));
    assert_int_equal(err.code, -ENOENT);
    assert_non_null(strstr(err.msg, "e/nothere"));
}

static void
test_inline_data(void **state)
{
    struct st_err err;
    char *ca = st_base64_encode("CA-INLINE", 9);
    char *crt = st_base64_encode("CERT", 4);
    char *key = st_base64_encode("KEY", 3);
    char *text = st_xasprintf("clusters:\n"
                              "- name: c\n"
                              "  cluster:\n"
                              "    server: https://[::1]:7443\n"
                              "    certificate-authority-data: %s\n"
                              "users:\n"
                              "- name: u\n"
                              "  user:\n"
                              "    client-certificate-data: %s\n"
                              "    client-key-data: %s\n"
                              "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                              "current-context: x\n",
                              ca, crt, key);
    struct st_kube_config *cfg =
        st_kube_config_from_kubeconfig_text(text, strlen(text), NULL, &err);
    assert_non_null(cfg);
    assert_string_equal(cfg->server, "https://[::1]:7443");
    assert_string_equal(st_buf_cstr(&cfg->ca_pem), "CA-INLINE");
    assert_string_equal(st_buf_cstr(&cfg->cert_pem), "CERT");
    assert_string_equal(st_buf_cstr(&cfg->key_pem), "KEY");
    st_kube_config_free(cfg);

    const char *bad = "clusters: [{name: c, cluster: {server: 'https://h', "
                      "certificate-authority-data: '!!!'}}]\n"
                      "contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n";
    assert_null(st_kube_config_from_kubeconfig_text(bad, strlen(bad), NULL, &err));
    assert_int_equal(err.code, ST_EPARSE);

    const char *half = "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                       "users: [{name: u, user: {client-certificate-data: Q0VSVA==}}]\n"
                       "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                       "current-context: x\n";
    assert_null(st_kube_config_from_kubeconfig_text(half, strlen(half), NULL, &err));
    assert_int_equal(err.code, ST_EINVAL);
    free(ca);
    free(crt);
    free(key);
    free(text);
}

static void
test_text_file_refs(void **state)
{
    struct st_err err;
    put("t/ca.pem", "CA-T");
    const char *text = "clusters: [{name: c, cluster: {server: 'https://h', "
                       "certificate-authority: ca.pem}}]\n"
                       "users: [{name: u, user: {tokenFile: /etc/passwd}}]\n"
                       "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                       "current-context: x\n";
    /* A kubeconfig from a Secret must not make us read local files. */
    assert_null(st_kube_config_from_kubeconfig_text(text, strlen(text), NULL, &err));
    assert_int_equal(err.code, ST_EINVAL);
    assert_non_null(strstr(err.msg, "certificate-authority"));

    put("t/tok", "tt\n");
    const char *text2 = "clusters: [{name: c, cluster: {server: 'https://h', "
                        "certificate-authority: ca.pem}}]\n"
                        "users: [{name: u, user: {tokenFile: tok}}]\n"
                        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                        "current-context: x\n";
    char *dir = tpath("t");
    struct st_kube_load_opts o = {.allow_file_refs = true, .base_dir = dir};
    struct st_kube_config *cfg =
        st_kube_config_from_kubeconfig_text(text2, strlen(text2), &o, &err);
    assert_non_null(cfg);
    assert_string_equal(st_buf_cstr(&cfg->ca_pem), "CA-T");
    assert_string_equal(st_buf_cstr(&cfg->token), "tt");
    st_kube_config_free(cfg);
    free(dir);
}

static void
test_insecure(void **state)
{
    struct st_err err;
    const char *text = "clusters: [{name: c, cluster: {server: 'https://h', "
                       "insecure-skip-tls-verify: true}}]\n"
                       "contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n";

    assert_null(st_kube_config_from_kubeconfig_text(text, strlen(text), NULL, &err));
    assert_int_equal(err.code, ST_EINVAL);
    assert_non_null(strstr(err.msg, "insecure-skip-tls-verify"));
    struct st_kube_load_opts o = {.allow_insecure = true};
    struct st_kube_config *cfg = st_kube_config_from_kubeconfig_text(text, strlen(text), &o, &err);
    assert_non_null(cfg);
    assert_true(cfg->insecure);
    st_kube_config_free(cfg);
}

static void
test_bad_input(void **state)
{
    struct st_err err;
    static const char *const cases[] = {
        "clusters: {a: b}\n",
        "- just\n- a list\n",
        "clusters: [{cluster: {server: 'https://h'}}]\n",
        "current-context: [x]\n",
        "a: [\n",
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        assert_null(st_kube_config_from_kubeconfig_text(cases[i], strlen(cases[i]), NULL, &err));
        assert_int_equal(err.code, ST_EPARSE);
    }
    const char *exec = "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                       "users: [{name: u, user: {exec: {command: aws}}}]\n"
                       "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                       "current-context: x\n";
    assert_null(st_kube_config_from_kubeconfig_text(exec, strlen(exec), NULL, &err));
    assert_int_equal(err.code, ST_EINVAL);
    assert_non_null(strstr(err.msg, "exec"));
    const char *noserver = "clusters: [{name: c, cluster: {server: 'ftp://h'}}]\n"
                           "contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n";
    assert_null(st_kube_config_from_kubeconfig_text(noserver, strlen(noserver), NULL, &err));
    assert_int_equal(err.code, ST_EINVAL);
    /* An empty document has no context. */
    assert_null(st_kube_config_from_kubeconfig_text("", 0, NULL, &err));
    assert_int_equal(err.code, ST_ENOTFOUND);
}

static void
test_in_cluster(void **state)
{
    struct st_err err;
    put("sa/token", "sa-token\n");
    put("sa/ca.crt", "CA-SA");
    put("sa/namespace", "strait-system\n");
    char *dir = tpath("sa");
    struct st_kube_load_opts o = {
        .in_cluster = true, .sa_dir = dir, .service_host = "10.96.0.1", .service_port = "443"};
    struct st_kube_config *cfg = st_kube_config_load(&o, &err);
    assert_non_null(cfg);
    assert_string_equal(cfg->server, "https://10.96.0.1:443");
    assert_string_equal(cfg->namespace, "strait-system");
    assert_string_equal(st_buf_cstr(&cfg->token), "sa-token");
    assert_string_equal(st_buf_cstr(&cfg->ca_pem), "CA-SA");
    assert_non_null(cfg->token_file);
    st_kube_config_free(cfg);

    o.service_host = "fd00::1";
    cfg = st_kube_config_load(&o, &err);
    assert_non_null(cfg);
    assert_string_equal(cfg->server, "https://[fd00::1]:443");
    st_kube_config_free(cfg);

    o.service_port = "99999";
    assert_null(st_kube_config_load(&o, &err));
    assert_int_equal(err.code, ST_EINVAL);

    o.service_port = "443";
    o.service_host = NULL;
    unsetenv("KUBERNETES_SERVICE_HOST");
    assert_null(st_kube_config_load(&o, &err));
    assert_int_equal(err.code, ST_EINVAL);
    assert_non_null(strstr(err.msg, "KUBERNETES_SERVICE_HOST"));

    o.service_host = "10.96.0.1";
    o.sa_dir = "/nonexistent-sa-dir";
    assert_null(st_kube_config_load(&o, &err));
    assert_int_equal(err.code, -ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent-sa-dir/token"));
    free(dir);
}

static void
test_unreadable_ca(void **state)
{
    struct st_err err;
    put("u/config", "clusters: [{name: c, cluster: {server: 'https://h', "
                    "certificate-authority: /nonexistent/ca.pem}}]\n"
                    "contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n");
    assert_null(load_file("u/config", NULL, &err));
    assert_int_equal(err.code, -ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent/ca.pem"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_file),  cmocka_unit_test(test_merge_kubeconfig_env),
        cmocka_unit_test(test_home_default), cmocka_unit_test(test_context_errors),
        cmocka_unit_test(test_inline_data),  cmocka_unit_test(test_text_file_refs),
        cmocka_unit_test(test_insecure),     cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_in_cluster),   cmocka_unit_test(test_unreadable_ca),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
