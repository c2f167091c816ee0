/*
 * Loading and reloading the proxy's certificate, key and trust anchors.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "strait/x509.h"

#include "identity.h"
#include "proxy.h"

struct identity_file {
    const char *path;
    struct timespec mtime;
    off_t size;
};

struct identity {
    struct identity_file files[3]; /* cert, key, anchors */
    bool tried;
    struct st_tls_slot server, client_h2, client_opaque;
    pthread_mutex_t lock; /* guards name and validity */
    char name[256];
    int64_t not_before, not_after;
    bool loaded;
};

struct identity *
identity_new(const char *cert, const char *key, const char *anchors)
{
    struct identity *id = st_xcalloc(1, sizeof(*id));

    id->files[0].path = cert;
    id->files[1].path = key;
    id->files[2].path = anchors;
    st_tls_slot_init(&id->server);
    st_tls_slot_init(&id->client_h2);
    st_tls_slot_init(&id->client_opaque);
    pthread_mutex_init(&id->lock, NULL);
    return id;
}

void
identity_free(struct identity *id)
{
    if (id == NULL)
        return;
    st_tls_slot_fini(&id->server);
    st_tls_slot_fini(&id->client_h2);
    st_tls_slot_fini(&id->client_opaque);
    pthread_mutex_destroy(&id->lock);
    free(id);
}

static int
identity_build(struct identity *id, struct st_err *err)
{
    struct st_buf cert = ST_BUF_INIT(ST_X509_PEM_MAX), key = ST_BUF_INIT(ST_X509_PEM_MAX),
                  anchors = ST_BUF_INIT(ST_X509_PEM_MAX);
    STACK_OF(X509) *chain = NULL;
    struct st_x509_info info = {0};
    struct st_tls_ctx *srv = NULL, *cli = NULL, *opq = NULL;
    static const char *const srv_alpn[] = {PROXY_ALPN_H2, PROXY_ALPN_OPAQUE, NULL};
    static const char *const h2_alpn[] = {PROXY_ALPN_H2, NULL};
    static const char *const opq_alpn[] = {PROXY_ALPN_OPAQUE, NULL};
    int rc;

    if ((rc = st_file_read(id->files[0].path, &cert)) < 0 ||
        (rc = st_file_read(id->files[1].path, &key)) < 0 ||
        (rc = st_file_read(id->files[2].path, &anchors)) < 0) {
        st_err_set(err, rc, "identity: cannot read the certificate, key or anchors: %s",
                   st_strerror(rc));
        goto out;
    }
    if ((rc = st_x509_bundle_from_pem(st_buf_cstr(&cert), cert.len, &chain, err)) < 0)
        goto out;
    if ((rc = st_x509_inspect(sk_X509_value(chain, 0), &info, err)) < 0)
        goto out;
    if (info.names.n_dns == 0) {
        rc = st_err_set(err, ST_EINVAL, "identity: the certificate has no DNS SAN");
        goto out;
    }
    struct st_tls_config cfg = {
        .server = true,
        .cert_pem = st_buf_cstr(&cert),
        .key_pem = st_buf_cstr(&key),
        .anchors_pem = st_buf_cstr(&anchors),
        .verify = ST_TLS_VERIFY_REQUIRE,
        .min_version = ST_TLS_1_3,
        .alpn = srv_alpn,
    };
    if ((rc = st_tls_ctx_new(&cfg, &srv, err)) < 0)
        goto out;
    cfg.server = false;
    cfg.alpn = h2_alpn;
    if ((rc = st_tls_ctx_new(&cfg, &cli, err)) < 0)
        goto out;
    cfg.alpn = opq_alpn;
    if ((rc = st_tls_ctx_new(&cfg, &opq, err)) < 0)
        goto out;
    st_tls_slot_set(&id->server, srv);
    st_tls_slot_set(&id->client_h2, cli);
    st_tls_slot_set(&id->client_opaque, opq);
    srv = cli = opq = NULL;
    pthread_mutex_lock(&id->lock);
    st_strlcpy(id->name, info.names.dns[0], sizeof(id->name));
    id->not_before = info.not_before;
    id->not_after = info.not_after;
    id->loaded = true;
    pthread_mutex_unlock(&id->lock);
    rc = 1;

out:
    st_tls_ctx_unref(srv);
    st_tls_ctx_unref(cli);
    st_tls_ctx_unref(opq);
    st_x509_info_free(&info);
    st_x509_chain_free(chain);
    st_buf_free(&cert);
    st_buf_free_secret(&key);
    st_buf_free(&anchors);
    return rc;
}

int
identity_poll(struct identity *id, struct st_err *err)
{
    bool changed = !id->tried;

    for (size_t i = 0; i < ST_ARRAY_LEN(id->files); i++) {
        struct stat st;
        if (id->files[i].path == NULL)
            return 0;
        if (stat(id->files[i].path, &st) < 0) {
            id->tried = true;
            return st_err_set(err, -errno, "identity: %s: %s", id->files[i].path,
                              st_strerror(errno));
        }
        if (st.st_mtim.tv_sec != id->files[i].mtime.tv_sec ||
            st.st_mtim.tv_nsec != id->files[i].mtime.tv_nsec || st.st_size != id->files[i].size)
            changed = true;
        id->files[i].mtime = st.st_mtim;
        id->files[i].size = st.st_size;
    }
    id->tried = true;
    if (!changed)
        return 0;
    int rc = identity_build(id, err);
    if (rc < 0) {
        /* Files may be half rotated (a new certificate, the old key): try again next poll. */
        for (size_t i = 0; i < ST_ARRAY_LEN(id->files); i++)
            id->files[i].size = -1;
    }
    return rc;
}

bool
identity_ready(struct identity *id)
{
    int64_t now = st_wall_s();
    bool ok;

    pthread_mutex_lock(&id->lock);
    ok = id->loaded && now >= id->not_before && now < id->not_after;
    pthread_mutex_unlock(&id->lock);
    return ok;
}

struct st_tls_ctx *
identity_server_ctx(struct identity *id)
{
    return identity_ready(id) ? st_tls_slot_get(&id->server) : NULL;
}

struct st_tls_ctx *
identity_client_ctx(struct identity *id, bool opaque)
{
    if (!identity_ready(id))
        return NULL;
    return st_tls_slot_get(opaque ? &id->client_opaque : &id->client_h2);
}

void
identity_name(struct identity *id, char *out, size_t size)
{
    pthread_mutex_lock(&id->lock);
    st_strlcpy(out, id->loaded ? id->name : "", size);
    pthread_mutex_unlock(&id->lock);
}
