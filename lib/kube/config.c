/*
 * Kubeconfig loading: one or several files merged the way kubectl merges
 * them, a kubeconfig held in memory, or in-cluster service-account
 * credentials. The result is a flat struct st_kube_config.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SA_DIR_DEFAULT "/var/run/secrets/kubernetes.io/serviceaccount"

/*
 * The merged view of the files: for each of "clusters", "users" and
 * "contexts" an object name -> {"v": entry body, "dir": directory of the
 * file that defined it (or null)}, and "current-context".
 */
struct config_merge {
    json_t *root;
    bool allow_file_refs;
};

static int
config_read_file(const char *path, size_t max, struct st_buf *out, const char *what,
                 struct st_err *err)
{
    out->max = max;
    int rc = st_file_read(path, out);
    if (rc == ST_ETOOBIG)
        return st_err_set(err, rc, "%s %s: larger than %zu bytes", what, path, max);
    if (rc < 0)
        return st_err_set(err, rc, "%s %s: %s", what, path, st_strerror(rc));
    return 0;
}

/* Returns a new string with the directory part of <path> ("." if none). */
static char *
config_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return st_xstrdup(".");
    if (slash == path)
        return st_xstrdup("/");
    return st_xstrndup(path, (size_t)(slash - path));
}

/*
 * Merges the named list <key> of <doc> into the merge root: an entry whose
 * name is already there is ignored, as kubectl does (the first file wins).
 */
static int
config_merge_list(struct config_merge *m, const json_t *doc, const char *key, const char *body_key,
                  const char *dir, const char *origin, struct st_err *err)
{
    json_t *list = json_object_get(doc, key);
    json_t *dst = json_object_get(m->root, key);
    size_t i;
    json_t *e;

    if (list == NULL || json_is_null(list))
        return 0;
    if (!json_is_array(list))
        return st_err_set(err, ST_EPARSE, "kubeconfig %s: %s is not a list", origin, key);
    json_array_foreach(list, i, e) {
        const char *name = st_json_str(e, "name");
        if (name == NULL || name[0] == '\0')
            return st_err_set(err, ST_EPARSE, "kubeconfig %s: %s[%zu] has no name", origin, key, i);
        json_t *body = json_object_get(e, body_key);
        if (body != NULL && !json_is_object(body) && !json_is_null(body))
            return st_err_set(err, ST_EPARSE, "kubeconfig %s: %s %s: %s is not a mapping", origin,
                              key, name, body_key);
        if (json_object_get(dst, name) != NULL)
            continue;
        json_t *rec = json_object();
        json_object_set_new(rec, "v", json_is_object(body) ? json_deep_copy(body) : json_object());
        json_object_set_new(rec, "dir", dir ? json_string(dir) : json_null());
        json_object_set_new(dst, name, rec);
    }
    return 0;
}

/* Merges one parsed kubeconfig document. */
static int
config_merge_doc(struct config_merge *m, const json_t *doc, const char *dir, const char *origin,
                 struct st_err *err)
{
    int rc;

    if (json_is_null(doc))
        return 0; /* an empty file sets nothing */
    if (!json_is_object(doc))
        return st_err_set(err, ST_EPARSE, "kubeconfig %s: not a mapping", origin);
    if ((rc = config_merge_list(m, doc, "clusters", "cluster", dir, origin, err)) < 0 ||
        (rc = config_merge_list(m, doc, "users", "user", dir, origin, err)) < 0 ||
        (rc = config_merge_list(m, doc, "contexts", "context", dir, origin, err)) < 0)
        return rc;
    json_t *cur = json_object_get(doc, "current-context");
    if (cur != NULL && !json_is_null(cur) && !json_is_string(cur))
        return st_err_set(err, ST_EPARSE, "kubeconfig %s: current-context is not a string", origin);
    if (json_is_string(cur) && json_string_length(cur) > 0 &&
        json_object_get(m->root, "current-context") == NULL)
        json_object_set(m->root, "current-context", cur);
    return 0;
}

static int
config_merge_text(struct config_merge *m, const char *text, size_t n, const char *dir,
                  const char *origin, struct st_err *err)
{
    struct st_yaml_limits lim = {
        .max_bytes = KUBE_MAX_KUBECONFIG, .max_depth = 32, .max_nodes = 100000, .max_docs = 4};
    struct st_err yerr;
    json_t *doc = st_yaml_load(text, n, &lim, &yerr);

    if (doc == NULL)
        return st_err_set(err, yerr.code, "kubeconfig %s: %s", origin, yerr.msg);
    int rc = config_merge_doc(m, doc, dir, origin, err);
    json_decref(doc);
    return rc;
}

static int
config_merge_file(struct config_merge *m, const char *path, struct st_err *err)
{
    struct st_buf b = ST_BUF_INIT(0);
    int rc = config_read_file(path, KUBE_MAX_KUBECONFIG, &b, "kubeconfig", err);

    if (rc == 0) {
        char *dir = config_dirname(path);
        rc = config_merge_text(m, st_buf_cstr(&b), b.len, dir, path, err);
        free(dir);
    }
    st_buf_free_secret(&b); /* kubeconfigs hold tokens and keys */
    return rc;
}

/*
 * Resolves a file reference of an entry: absolute paths stay, relative ones
 * are joined to the directory of the file that defined the entry. Returns a
 * new string, or NULL with <err> set when file references are not allowed.
 */
static char *
config_resolve(const struct config_merge *m, const json_t *rec, const char *path, const char *field,
               struct st_err *err)
{
    if (!m->allow_file_refs) {
        st_err_set(err, ST_EINVAL,
                   "kubeconfig: %s refers to a local file, which is not "
                   "allowed here; use the inline -data form",
                   field);
        return NULL;
    }
    const char *dir = json_string_value(json_object_get(rec, "dir"));
    if (path[0] == '/' || dir == NULL)
        return st_xstrdup(path);
    return st_xasprintf("%s/%s", dir, path);
}

/* Loads "<field>-data" (base64) or "<field>" (a file) of an entry into <out>. */
static int
config_load_pem(const struct config_merge *m, const json_t *rec, const char *field,
                const char *what, struct st_buf *out, struct st_err *err)
{
    const json_t *v = json_object_get(rec, "v");
    char data_key[64];
    snprintf(data_key, sizeof(data_key), "%s-data", field);
    const char *data = st_json_str(v, data_key);
    const char *file = st_json_str(v, field);
    int rc;

    if (data != NULL && data[0] != '\0') {
        struct st_buf dec = ST_BUF_INIT(KUBE_MAX_PEM);
        rc = st_base64_decode(data, strlen(data), &dec);
        if (rc < 0) {
            st_buf_free_secret(&dec);
            return st_err_set(err, ST_EPARSE, "kubeconfig: %s is not valid base64", data_key);
        }
        st_buf_free_secret(out);
        *out = dec;
        return 0;
    }
    if (file == NULL || file[0] == '\0')
        return 0;
    char *path = config_resolve(m, rec, file, field, err);
    if (path == NULL)
        return err ? err->code : ST_EINVAL;
    rc = config_read_file(path, KUBE_MAX_PEM, out, what, err);
    free(path);
    return rc;
}

static struct st_kube_config *
config_new(void)
{
    struct st_kube_config *cfg = st_xcalloc(1, sizeof(*cfg));
    st_buf_init(&cfg->ca_pem, KUBE_MAX_PEM);
    st_buf_init(&cfg->cert_pem, KUBE_MAX_PEM);
    st_buf_init(&cfg->key_pem, KUBE_MAX_PEM);
    st_buf_init(&cfg->token, KUBE_MAX_TOKEN);
    return cfg;
}

void
st_kube_config_free(struct st_kube_config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->context);
    free(cfg->server);
    free(cfg->namespace);
    free(cfg->tls_server_name);
    free(cfg->token_file);
    st_buf_free(&cfg->ca_pem);
    st_buf_free(&cfg->cert_pem);
    st_buf_free_secret(&cfg->key_pem);
    st_buf_free_secret(&cfg->token);
    free(cfg);
}

static int
config_check_server(const char *server, struct st_err *err)
{
    if (!st_str_has_prefix(server, "https://") && !st_str_has_prefix(server, "http://"))
        return st_err_set(err, ST_EINVAL, "kubeconfig: server \"%.100s\" is not an http(s) URL",
                          server);
    for (const char *p = server; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return st_err_set(err, ST_EINVAL, "kubeconfig: server URL has spaces or controls");
    return 0;
}

/* Trims trailing white space from a token read from a file. */
static void
config_trim_token(struct st_buf *t)
{
    while (t->len > 0 && strchr(" \t\r\n", t->data[t->len - 1]) != NULL)
        t->data[--t->len] = '\0';
}

/* Builds the config from the merged files, for the chosen context. */
static struct st_kube_config *
config_resolve_context(const struct config_merge *m, const struct st_kube_load_opts *opts,
                       struct st_err *err)
{
    struct st_kube_config *cfg = NULL;
    const char *ctx_name =
        opts && opts->context ? opts->context : st_json_str(m->root, "current-context");
    int rc;

    if (ctx_name == NULL || ctx_name[0] == '\0') {
        st_err_set(err, ST_ENOTFOUND, "kubeconfig: no context chosen and no current-context set");
        return NULL;
    }
    const json_t *ctx = json_object_get(json_object_get(m->root, "contexts"), ctx_name);
    if (ctx == NULL) {
        st_err_set(err, ST_ENOTFOUND, "kubeconfig: context \"%.100s\" not found", ctx_name);
        return NULL;
    }
    const json_t *cv = json_object_get(ctx, "v");
    const char *cluster_name = st_json_str(cv, "cluster");
    const char *user_name = st_json_str(cv, "user");
    if (cluster_name == NULL || cluster_name[0] == '\0') {
        st_err_set(err, ST_ENOTFOUND, "kubeconfig: context \"%.100s\" names no cluster", ctx_name);
        return NULL;
    }
    const json_t *cluster = json_object_get(json_object_get(m->root, "clusters"), cluster_name);
    if (cluster == NULL) {
        st_err_set(err, ST_ENOTFOUND,
                   "kubeconfig: cluster \"%.100s\" of context \"%.100s\" "
                   "not found",
                   cluster_name, ctx_name);
        return NULL;
    }
    const json_t *user = NULL;
    if (user_name != NULL && user_name[0] != '\0') {
        user = json_object_get(json_object_get(m->root, "users"), user_name);
        if (user == NULL) {
            st_err_set(err, ST_ENOTFOUND,
                       "kubeconfig: user \"%.100s\" of context \"%.100s\" "
                       "not found",
                       user_name, ctx_name);
            return NULL;
        }
    }

    cfg = config_new();
    cfg->context = st_xstrdup(ctx_name);
    const char *ns = st_json_str(cv, "namespace");
    cfg->namespace = st_xstrdup(ns && ns[0] ? ns : "default");

    const json_t *kv = json_object_get(cluster, "v");
    const char *server = st_json_str(kv, "server");
    if (server == NULL || server[0] == '\0') {
        st_err_set(err, ST_EINVAL, "kubeconfig: cluster \"%.100s\" has no server", cluster_name);
        goto fail;
    }
    if ((rc = config_check_server(server, err)) < 0)
        goto fail;
    cfg->server = st_xstrdup(server);
    size_t sl = strlen(cfg->server);
    while (sl > 0 && cfg->server[sl - 1] == '/')
        cfg->server[--sl] = '\0';
    const char *sni = st_json_str(kv, "tls-server-name");
    if (sni != NULL && sni[0] != '\0') {
        if (!st_dns1123_subdomain(sni)) {
            st_err_set(err, ST_EINVAL, "kubeconfig: tls-server-name \"%.100s\" is not a DNS name",
                       sni);
            goto fail;
        }
        cfg->tls_server_name = st_xstrdup(sni);
    }
    cfg->insecure = st_json_bool_or(kv, "insecure-skip-tls-verify", false);
    if (cfg->insecure && !(opts && opts->allow_insecure)) {
        st_err_set(err, ST_EINVAL,
                   "kubeconfig: cluster \"%.100s\" sets insecure-skip-tls-verify, "
                   "which is refused",
                   cluster_name);
        goto fail;
    }
    if ((rc = config_load_pem(m, cluster, "certificate-authority", "certificate authority",
                              &cfg->ca_pem, err)) < 0)
        goto fail;
    if (cfg->insecure && cfg->ca_pem.len > 0) {
        st_err_set(err, ST_EINVAL,
                   "kubeconfig: cluster \"%.100s\" sets both a certificate "
                   "authority and insecure-skip-tls-verify",
                   cluster_name);
        goto fail;
    }

    if (user != NULL) {
        const json_t *uv = json_object_get(user, "v");
        if (json_object_get(uv, "exec") != NULL || json_object_get(uv, "auth-provider") != NULL) {
            st_err_set(err, ST_EINVAL,
                       "kubeconfig: user \"%.100s\" uses an exec or auth-provider "
                       "plugin, which is not supported",
                       user_name);
            goto fail;
        }
        if ((rc = config_load_pem(m, user, "client-certificate", "client certificate",
                                  &cfg->cert_pem, err)) < 0 ||
            (rc = config_load_pem(m, user, "client-key", "client key", &cfg->key_pem, err)) < 0)
            goto fail;
        if ((cfg->cert_pem.len > 0) != (cfg->key_pem.len > 0)) {
            st_err_set(err, ST_EINVAL,
                       "kubeconfig: user \"%.100s\" has a client certificate "
                       "without a key or a key without a certificate",
                       user_name);
            goto fail;
        }
        const char *token = st_json_str(uv, "token");
        const char *token_file = st_json_str(uv, "tokenFile");
        if (token != NULL && token[0] != '\0') {
            /* A static token takes precedence over tokenFile, as in client-go. */
            if (st_buf_append_str(&cfg->token, token) < 0) {
                st_err_set(err, ST_ETOOBIG, "kubeconfig: token too long");
                goto fail;
            }
        } else if (token_file != NULL && token_file[0] != '\0') {
            cfg->token_file = config_resolve(m, user, token_file, "tokenFile", err);
            if (cfg->token_file == NULL)
                goto fail;
            /* Read once now so that an unreadable file is reported at load time. */
            if ((rc = config_read_file(cfg->token_file, KUBE_MAX_TOKEN, &cfg->token, "token file",
                                       err)) < 0)
                goto fail;
            config_trim_token(&cfg->token);
        }
    }
    return cfg;

fail:
    st_kube_config_free(cfg);
    return NULL;
}

static void
config_merge_init(struct config_merge *m, bool allow_file_refs)
{
    m->root = json_object();
    json_object_set_new(m->root, "clusters", json_object());
    json_object_set_new(m->root, "users", json_object());
    json_object_set_new(m->root, "contexts", json_object());
    m->allow_file_refs = allow_file_refs;
}

static void
config_merge_free(struct config_merge *m)
{
    json_decref(m->root);
    m->root = NULL;
}

static struct st_kube_config *
config_in_cluster(const struct st_kube_load_opts *opts, struct st_err *err)
{
    const char *dir = opts->sa_dir ? opts->sa_dir : SA_DIR_DEFAULT;
    const char *host = opts->service_host ? opts->service_host : getenv("KUBERNETES_SERVICE_HOST");
    const char *port = opts->service_port ? opts->service_port : getenv("KUBERNETES_SERVICE_PORT");
    struct st_kube_config *cfg = NULL;
    struct st_buf ns = ST_BUF_INIT(0);
    char *path = NULL;
    uint64_t portnum;

    if (host == NULL || host[0] == '\0' || port == NULL || port[0] == '\0') {
        st_err_set(err, ST_EINVAL,
                   "in-cluster: KUBERNETES_SERVICE_HOST and "
                   "KUBERNETES_SERVICE_PORT must be set");
        return NULL;
    }
    if (st_parse_u64(st_str_c(port), 65535, &portnum) < 0 || portnum == 0) {
        st_err_set(err, ST_EINVAL, "in-cluster: bad KUBERNETES_SERVICE_PORT \"%.20s\"", port);
        return NULL;
    }
    for (const char *p = host; *p; p++) {
        if (!(*p == '.' || *p == ':' || *p == '-' || (*p >= '0' && *p <= '9') ||
              (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
            st_err_set(err, ST_EINVAL, "in-cluster: bad KUBERNETES_SERVICE_HOST");
            return NULL;
        }
    }
    cfg = config_new();
    cfg->context = st_xstrdup("");
    if (strchr(host, ':') != NULL)
        cfg->server = st_xasprintf("https://[%s]:%s", host, port);
    else
        cfg->server = st_xasprintf("https://%s:%s", host, port);
    cfg->token_file = st_xasprintf("%s/token", dir);
    if (config_read_file(cfg->token_file, KUBE_MAX_TOKEN, &cfg->token, "in-cluster token", err) < 0)
        goto fail;
    config_trim_token(&cfg->token);
    path = st_xasprintf("%s/ca.crt", dir);
    if (config_read_file(path, KUBE_MAX_PEM, &cfg->ca_pem, "in-cluster CA", err) < 0)
        goto fail;
    free(path);
    path = st_xasprintf("%s/namespace", dir);
    /* The namespace file is optional, as in client-go. */
    ns.max = 256;
    if (st_file_read(path, &ns) == 0) {
        struct st_str s = st_str_trim(st_str_c(st_buf_cstr(&ns)));
        while (s.n > 0 && (s.p[s.n - 1] == '\n' || s.p[s.n - 1] == '\r'))
            s.n--;
        if (s.n > 0)
            cfg->namespace = st_str_dup(s);
    }
    if (cfg->namespace == NULL)
        cfg->namespace = st_xstrdup("default");
    free(path);
    st_buf_free(&ns);
    return cfg;

fail:
    free(path);
    st_buf_free(&ns);
    st_kube_config_free(cfg);
    return NULL;
}

struct st_kube_config *
st_kube_config_load(const struct st_kube_load_opts *opts, struct st_err *err)
{
    struct st_kube_load_opts none = {0};
    struct config_merge m;
    struct st_kube_config *cfg = NULL;
    char *list = NULL;
    int files = 0;

    if (opts == NULL)
        opts = &none;
    if (opts->in_cluster)
        return config_in_cluster(opts, err);

    config_merge_init(&m, true);
    const char *env = getenv("KUBECONFIG");
    if (opts->kubeconfig_path != NULL) {
        if (config_merge_file(&m, opts->kubeconfig_path, err) < 0)
            goto out;
        files++;
    } else if (env != NULL && env[0] != '\0') {
        list = st_xstrdup(env);
        char *save = NULL;
        for (char *p = strtok_r(list, ":", &save); p != NULL; p = strtok_r(NULL, ":", &save)) {
            struct st_err ferr;
            int rc = config_merge_file(&m, p, &ferr);
            if (rc == -ENOENT)
                continue; /* kubectl skips missing files of $KUBECONFIG */
            if (rc < 0) {
                if (err != NULL)
                    *err = ferr;
                goto out;
            }
            files++;
        }
        if (files == 0) {
            st_err_set(err, -ENOENT, "kubeconfig: none of the files in $KUBECONFIG exists");
            goto out;
        }
    } else {
        const char *home = getenv("HOME");
        if (home == NULL || home[0] == '\0') {
            st_err_set(err, -ENOENT, "kubeconfig: no path given, $KUBECONFIG and $HOME unset");
            goto out;
        }
        char *path = st_xasprintf("%s/.kube/config", home);
        int rc = config_merge_file(&m, path, err);
        free(path);
        if (rc < 0)
            goto out;
    }
    cfg = config_resolve_context(&m, opts, err);

out:
    free(list);
    config_merge_free(&m);
    return cfg;
}

struct st_kube_config *
st_kube_config_from_kubeconfig_text(const char *text, size_t n,
                                    const struct st_kube_load_opts *opts, struct st_err *err)
{
    struct st_kube_load_opts none = {0};
    struct config_merge m;
    struct st_kube_config *cfg = NULL;

    if (opts == NULL)
        opts = &none;
    if (n > KUBE_MAX_KUBECONFIG) {
        st_err_set(err, ST_ETOOBIG, "kubeconfig: larger than %zu bytes", KUBE_MAX_KUBECONFIG);
        return NULL;
    }
    config_merge_init(&m, opts->allow_file_refs);
    char *dir = opts->base_dir ? st_xstrdup(opts->base_dir) : NULL;
    if (config_merge_text(&m, text, n, dir, "(in memory)", err) == 0)
        cfg = config_resolve_context(&m, opts, err);
    free(dir);
    config_merge_free(&m);
    return cfg;
}
