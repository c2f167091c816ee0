/*
 * Fuzz target for st_x509_csr_parse and st_x509_csr_check_identity: CSRs
 * arrive from proxies over the network, so every byte is hostile.
 *
 * Each input is checked twice. First as it is (PEM or DER, its own
 * signature). A mutated request nearly always fails the signature check,
 * which comes before the subject, SANs and extensions are read; so when the
 * input parses as a DER request, it is then re-signed with a key of the
 * harness and checked again: the mutations of its contents reach the code
 * that reads them, the key check then always sees P-256.
 */
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "strait/x509.h"

#define FUZZ_DNS "web.emojivoto.serviceaccount.identity.strait.cluster.local"
#define FUZZ_URI "spiffe://cluster.local/ns/emojivoto/sa/web"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *fuzz_key; /* made at the first input, kept for the process */

static void
fuzz_check(const uint8_t *data, size_t size)
{
    struct st_x509_csr_info info;
    struct st_err err;

    if (st_x509_csr_parse((const char *)data, size, &info, &err) == 0) {
        st_x509_csr_check_identity(&info, FUZZ_DNS, FUZZ_URI, &err);
        st_x509_csr_check_identity(&info, FUZZ_DNS, NULL, &err);
    }
    st_x509_csr_info_free(&info);
}

/* The input re-signed by the harness's key, as DER in *out (OPENSSL_free it); 0 when not DER. */
static int
fuzz_resign(const uint8_t *data, size_t size, unsigned char **out)
{
    const unsigned char *p = data;
    X509_REQ *req;
    int n = 0;

    if (size > ST_X509_CSR_MAX)
        return 0;
    req = d2i_X509_REQ(NULL, &p, (long)size);
    if (req == NULL)
        return 0;
    if (fuzz_key == NULL)
        fuzz_key = EVP_EC_gen("P-256");
    if (fuzz_key != NULL && X509_REQ_set_pubkey(req, fuzz_key) == 1 &&
        X509_REQ_sign(req, fuzz_key, EVP_sha256()) > 0)
        n = i2d_X509_REQ(req, out);
    X509_REQ_free(req);
    return n > 0 ? n : 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *der = NULL;
    int n;

    fuzz_check(data, size);
    n = fuzz_resign(data, size, &der);
    if (n > 0)
        fuzz_check(der, (size_t)n);
    OPENSSL_free(der);
    return 0;
}
