/*
 * Test helpers shared by test_x509.c and test_tls.c: a small PKI with the
 * mesh's profile (root anchor, per-cluster intermediate, workload leaves).
 * Only included by tests; every helper asserts on failure.
 */
#ifndef STRAIT_TEST_PKI_H
#define STRAIT_TEST_PKI_H

#include <stdio.h>
#include <stdlib.h>

#include "strait/x509.h"

#define PKI_TD "cluster.local"

struct pki_ca {
    X509 *cert;
    EVP_PKEY *key;
};

struct pki_leaf {
    X509 *cert;
    EVP_PKEY *key;
    char *dns;
    char *uri;
};

static void
pki_ca_free(struct pki_ca *ca)
{
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
    ca->cert = NULL;
    ca->key = NULL;
}

static void
pki_leaf_free(struct pki_leaf *l)
{
    X509_free(l->cert);
    EVP_PKEY_free(l->key);
    free(l->dns);
    free(l->uri);
    memset(l, 0, sizeof(*l));
}

/* A root anchor valid for ten years. */
static void
pki_root(struct pki_ca *out, const char *cn)
{
    struct st_err err = {0};
    int rc = st_x509_ca_new(cn, 10 * 365 * 86400, &out->cert, &out->key, &err);

    if (rc < 0) {
        fprintf(stderr, "pki_root: %s\n", err.msg);
        abort();
    }
}

/* An intermediate CA (pathlen 0) under <root>. */
static void
pki_intermediate(struct pki_ca *out, const struct pki_ca *root, const char *cn)
{
    struct st_err err = {0};
    struct st_x509_issue_req req = {0};

    out->key = st_x509_key_new_p256();
    req.issuer_cert = root->cert;
    req.issuer_key = root->key;
    req.subject_key = out->key;
    req.cn = cn;
    req.lifetime_s = 365 * 86400;
    req.backdate_s = 20;
    req.is_ca = true;
    req.pathlen = 0;
    if (out->key == NULL || st_x509_issue(&req, &out->cert, &err) < 0) {
        fprintf(stderr, "pki_intermediate: %s\n", err.msg);
        abort();
    }
}

/*
 * A workload leaf for service account <sa> in <ns> under <issuer>, with the
 * mesh profile; <now> 0 means the current time.
 */
static void
pki_workload(struct pki_leaf *out, const struct pki_ca *issuer, const char *sa, const char *ns,
             int64_t now)
{
    struct st_err err = {0};
    struct st_x509_issue_req req = {0};

    out->dns = st_xasprintf("%s.%s.serviceaccount.identity.strait.%s", sa, ns, PKI_TD);
    out->uri = st_xasprintf("spiffe://%s/ns/%s/sa/%s", PKI_TD, ns, sa);
    const char *dns[] = {out->dns, NULL};
    const char *uris[] = {out->uri, NULL};
    out->key = st_x509_key_new_p256();
    req.issuer_cert = issuer->cert;
    req.issuer_key = issuer->key;
    req.subject_key = out->key;
    req.cn = out->dns;
    req.sans.dns = dns;
    req.sans.uris = uris;
    req.lifetime_s = 86400;
    req.backdate_s = 20;
    req.now = now;
    req.eku = ST_X509_EKU_SERVER | ST_X509_EKU_CLIENT;
    if (out->key == NULL || st_x509_issue(&req, &out->cert, &err) < 0) {
        fprintf(stderr, "pki_workload: %s\n", err.msg);
        abort();
    }
}

/* Returns a new stack holding a new reference to each given certificate. */
static STACK_OF(X509) *pki_stack(X509 *a, X509 *b)
{
    STACK_OF(X509) *s = sk_X509_new_null();

    if (a != NULL) {
        X509_up_ref(a);
        sk_X509_push(s, a);
    }
    if (b != NULL) {
        X509_up_ref(b);
        sk_X509_push(s, b);
    }
    return s;
}

#endif
