/*
 * Writes the admin kubeconfig of strait-apiserver: one cluster, one user and
 * one context named after --context, merged into the file if it already holds
 * other clusters (several local clusters share $STRAIT_HOME/kubeconfig).
 * The file is locked while it is rewritten and replaced atomically, mode 0600.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include "kubeconfig.h"
#include "strait/json.h"

/* Replaces (or appends) the entry named <name> in the list <key> of <cfg>. */
static void
kubeconfig_upsert(json_t *cfg, const char *key, const char *name, json_t *entry)
{
    json_t *list = json_object_get(cfg, key);
    size_t i;
    json_t *it;

    if (!json_is_array(list)) {
        list = json_array();
        json_object_set_new(cfg, key, list);
    }
    json_array_foreach(list, i, it)
    {
        const char *n = st_json_str(it, "name");
        if (n != NULL && strcmp(n, name) == 0) {
            json_array_set_new(list, i, entry);
            return;
        }
    }
    json_array_append_new(list, entry);
}

int
kubeconfig_write(const char *path, const struct kubeconfig_entry *e, struct st_err *err)
{
    struct st_buf text = ST_BUF_INIT(4u << 20);
    struct st_buf out = ST_BUF_INIT(4u << 20);
    char *lock_path = st_xasprintf("%s.lock", path);
    json_t *cfg = NULL;
    char *user = st_xasprintf("%s-admin", e->context);
    int rc = 0;
    int lfd = open(lock_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

    if (lfd < 0 || flock(lfd, LOCK_EX) < 0) {
        rc = st_err_set(err, -errno, "cannot lock %s: %s", lock_path, strerror(errno));
        goto out;
    }
    rc = st_file_read(path, &text);
    if (rc == 0 && text.len > 0) {
        cfg = st_yaml_load(text.data, text.len, NULL, err);
        if (cfg == NULL || !json_is_object(cfg)) {
            rc = st_err_set(err, ST_EPARSE, "%s is not a kubeconfig; not overwriting it", path);
            goto out;
        }
    } else if (rc < 0 && rc != -ENOENT) {
        rc = st_err_set(err, rc, "cannot read %s: %s", path, st_strerror(rc));
        goto out;
    }
    if (cfg == NULL)
        cfg = json_object();
    json_object_set_new(cfg, "apiVersion", json_string("v1"));
    json_object_set_new(cfg, "kind", json_string("Config"));
    kubeconfig_upsert(cfg, "clusters", e->context,
                      json_pack("{s:s, s:{s:s, s:s}}", "name", e->context, "cluster", "server",
                                e->server, "certificate-authority-data", e->ca_data_b64));
    kubeconfig_upsert(cfg, "users", user,
                      json_pack("{s:s, s:{s:s}}", "name", user, "user", "token", e->token));
    kubeconfig_upsert(cfg, "contexts", e->context,
                      json_pack("{s:s, s:{s:s, s:s}}", "name", e->context, "context", "cluster",
                                e->context, "user", user));
    if (e->set_current || !json_is_string(json_object_get(cfg, "current-context")))
        json_object_set_new(cfg, "current-context", json_string(e->context));
    if (!json_is_object(json_object_get(cfg, "preferences")))
        json_object_set_new(cfg, "preferences", json_object());
    rc = st_yaml_dump(cfg, &out);
    if (rc < 0) {
        st_err_set(err, rc, "cannot render the kubeconfig");
        goto out;
    }
    rc = st_file_write_atomic(path, out.data, out.len, 0600);
    if (rc < 0)
        st_err_set(err, rc, "cannot write %s: %s", path, st_strerror(rc));
out:
    if (lfd >= 0)
        close(lfd); /* releases the lock */
    json_decref(cfg);
    st_buf_free_secret(&text);
    st_buf_free_secret(&out);
    free(lock_path);
    free(user);
    return rc;
}
