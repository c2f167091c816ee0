/*
 * Fuzz target for st_x509_csr_parse and st_x509_csr_check_identity: CSRs
 * arrive from proxies over the network, so every byte is hostile.
 */
#include <stddef.h>
#include <stdint.h>

#include "strait/x509.h"

#define FUZZ_DNS "web.emojivoto.serviceaccount.identity.strait.cluster.local"
#define FUZZ_URI "spiffe://cluster.local/ns/emojivoto/sa/web"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct st_x509_csr_info info;
    struct st_err err;

    if (st_x509_csr_parse((const char *)data, size, &info, &err) == 0) {
        st_x509_csr_check_identity(&info, FUZZ_DNS, FUZZ_URI, &err);
        st_x509_csr_check_identity(&info, FUZZ_DNS, NULL, &err);
    }
    st_x509_csr_info_free(&info);
    return 0;
}
