/*
 * certify-check: a command-line driver of st_certify_request for
 * tests/test_identity.py. It makes a fresh P-256 key, certifies it with the
 * controller and writes the leaf and chain PEM.
 *
 *   certify-check --addr HOST:PORT --anchors FILE --token-file FILE --sa SA --ns NS
 *                 [--td DOMAIN] [--server-identity NAME] [--extra-dns NAME]
 *                 [--out-cert FILE] [--out-chain FILE]
 *
 * Prints "ok http=200 not_after=<RFC 3339>" and exits 0, or
 * "error http=<status> code=<n>: <message>" and exits 1.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "strait/certify.h"
#include "strait/x509.h"

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"addr", required_argument, NULL, 'a'},
        {"anchors", required_argument, NULL, 'A'},
        {"token-file", required_argument, NULL, 't'},
        {"sa", required_argument, NULL, 's'},
        {"ns", required_argument, NULL, 'n'},
        {"td", required_argument, NULL, 'd'},
        {"server-identity", required_argument, NULL, 'i'},
        {"extra-dns", required_argument, NULL, 'x'},
        {"out-cert", required_argument, NULL, 'c'},
        {"out-chain", required_argument, NULL, 'C'},
        {NULL, 0, NULL, 0},
    };
    struct st_certify_opts o = {0};
    struct st_certify_result res = {0};
    struct st_err err = {0};
    const char *sa = NULL, *ns = NULL, *td = "cluster.local", *extra = NULL;
    const char *out_cert = NULL, *out_chain = NULL;
    char *csr = NULL, *dns = NULL, *uri = NULL;
    EVP_PKEY *key = NULL;
    int c, rc;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            o.addr = optarg;
            break;
        case 'A':
            o.anchors_file = optarg;
            break;
        case 't':
            o.token_file = optarg;
            break;
        case 's':
            sa = optarg;
            break;
        case 'n':
            ns = optarg;
            break;
        case 'd':
            td = optarg;
            break;
        case 'i':
            o.server_identity = optarg;
            break;
        case 'x':
            extra = optarg;
            break;
        case 'c':
            out_cert = optarg;
            break;
        case 'C':
            out_chain = optarg;
            break;
        default:
            fprintf(stderr, "certify-check: bad usage\n");
            return 2;
        }
    }
    dns = st_certify_identity_dns(sa, ns, td);
    uri = st_certify_identity_uri(sa, ns, td);
    if (o.addr == NULL || dns == NULL || uri == NULL) {
        fprintf(stderr, "certify-check: --addr, --sa and --ns are required\n");
        return 2;
    }
    o.identity_dns = dns;
    o.identity_uri = uri;
    key = st_x509_key_new_p256();
    if (extra != NULL) {
        const char *names[] = {dns, extra, NULL}, *uris[] = {uri, NULL};
        struct st_x509_sans sans = {.dns = names, .uris = uris};
        rc = st_x509_csr_new(key, NULL, &sans, &csr, &err);
        if (rc == 0)
            rc = st_certify_request_csr(&o, key, csr, &res, &err);
    } else {
        rc = st_certify_request(&o, key, &res, &err);
    }
    if (rc < 0) {
        printf("error http=%ld code=%d: %s\n", res.http_status, rc, err.msg);
    } else {
        char when[21];
        st_rfc3339(res.not_after, when);
        if (out_cert)
            rc = st_file_write_atomic(out_cert, res.certificate, strlen(res.certificate), 0644);
        if (rc == 0 && out_chain)
            rc = st_file_write_atomic(out_chain, res.chain, strlen(res.chain), 0644);
        printf("ok http=%ld not_after=%s lifetime=%lld\n", res.http_status, when,
               (long long)(res.not_after - res.not_before));
    }
    st_certify_result_free(&res);
    EVP_PKEY_free(key);
    free(csr);
    free(dns);
    free(uri);
    return rc < 0 ? 1 : 0;
}
