/*
 * strait-proxy-testpki: certificates for the proxy's integration tests.
 *
 *   strait-proxy-testpki ca DIR NAME
 *       DIR/anchor.pem (self-signed root), DIR/issuer.pem + DIR/issuer.key
 *       (intermediate signed by the root)
 *   strait-proxy-testpki leaf DIR IDENTITY OUT [expired]
 *       OUT.crt (leaf, then the issuer) and OUT.key, a workload certificate
 *       for the DNS SAN IDENTITY issued by DIR's issuer; "expired" makes one
 *       that expired a day ago.
 */
#include <stdio.h>
#include <stdlib.h>

#include "strait/x509.h"

static int
testpki_ca(const char *dir, const char *name)
{
    X509 *root = NULL, *issuer = NULL;
    EVP_PKEY *root_key = NULL, *issuer_key = st_x509_key_new_p256();
    struct st_err err = {0};
    char *path = NULL;
    int rc;

    if ((rc = st_mkdir_p(dir, 0755)) < 0 ||
        (rc = st_x509_ca_new(name, 86400 * 30, &root, &root_key, &err)) < 0)
        goto out;
    struct st_x509_issue_req req = {
        .issuer_cert = root,
        .issuer_key = root_key,
        .subject_key = issuer_key,
        .cn = "identity.strait.cluster.local",
        .lifetime_s = 86400 * 10,
        .backdate_s = 60,
        .is_ca = true,
        .pathlen = 0,
    };
    if ((rc = st_x509_issue(&req, &issuer, &err)) < 0)
        goto out;
    path = st_xasprintf("%s/anchor.pem", dir);
    if ((rc = st_x509_write_pem_file(path, root, NULL, 0644, &err)) < 0)
        goto out;
    free(path);
    path = st_xasprintf("%s/issuer.pem", dir);
    if ((rc = st_x509_write_pem_file(path, issuer, NULL, 0644, &err)) < 0)
        goto out;
    free(path);
    path = st_xasprintf("%s/issuer.key", dir);
    rc = st_x509_key_write_file(path, issuer_key, true, &err);

out:
    if (rc < 0)
        fprintf(stderr, "testpki: %s\n", err.msg[0] != '\0' ? err.msg : st_strerror(rc));
    free(path);
    X509_free(root);
    X509_free(issuer);
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(issuer_key);
    return rc < 0 ? 1 : 0;
}

static int
testpki_leaf(const char *dir, const char *identity, const char *out, bool expired)
{
    X509 *issuer = NULL, *leaf = NULL;
    EVP_PKEY *issuer_key = NULL, *key = st_x509_key_new_p256();
    STACK_OF(X509) *chain = NULL;
    struct st_err err = {0};
    struct st_buf pem = ST_BUF_INIT(ST_X509_PEM_MAX);
    char *path = st_xasprintf("%s/issuer.pem", dir);
    int rc;

    if ((rc = st_file_read(path, &pem)) < 0 ||
        (rc = st_x509_from_pem(pem.data, pem.len, &issuer, &err)) < 0)
        goto out;
    free(path);
    path = st_xasprintf("%s/issuer.key", dir);
    if ((rc = st_x509_key_read_file(path, &issuer_key, &err)) < 0)
        goto out;
    const char *dns[] = {identity, NULL};
    struct st_x509_issue_req req = {
        .issuer_cert = issuer,
        .issuer_key = issuer_key,
        .subject_key = key,
        .sans = {.dns = dns},
        .lifetime_s = expired ? 86400 : 86400,
        .backdate_s = 20,
        .now = expired ? st_wall_s() - 2 * 86400 : 0,
        .eku = ST_X509_EKU_SERVER | ST_X509_EKU_CLIENT,
    };
    if ((rc = st_x509_issue(&req, &leaf, &err)) < 0)
        goto out;
    chain = sk_X509_new_null();
    X509_up_ref(issuer);
    sk_X509_push(chain, issuer);
    free(path);
    path = st_xasprintf("%s.crt", out);
    if ((rc = st_x509_write_pem_file(path, leaf, chain, 0644, &err)) < 0)
        goto out;
    free(path);
    path = st_xasprintf("%s.key", out);
    rc = st_x509_key_write_file(path, key, true, &err);

out:
    if (rc < 0)
        fprintf(stderr, "testpki: %s\n", err.msg[0] != '\0' ? err.msg : st_strerror(rc));
    free(path);
    st_buf_free(&pem);
    st_x509_chain_free(chain);
    X509_free(issuer);
    X509_free(leaf);
    EVP_PKEY_free(issuer_key);
    EVP_PKEY_free(key);
    return rc < 0 ? 1 : 0;
}

int
main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "ca") == 0)
        return testpki_ca(argv[2], argv[3]);
    if ((argc == 5 || argc == 6) && strcmp(argv[1], "leaf") == 0)
        return testpki_leaf(argv[2], argv[3], argv[4],
                            argc == 6 && strcmp(argv[5], "expired") == 0);
    fprintf(stderr, "usage: strait-proxy-testpki ca DIR NAME | leaf DIR IDENTITY OUT [expired]\n");
    return 2;
}
