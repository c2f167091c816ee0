/*
 * Fuzz target for st_certify_req_parse (the body of POST /v1/certify, sent
 * by any client that reaches the controller) and, on the same bytes,
 * st_certify_resp_parse (the controller's answer, parsed by every proxy).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "strait/certify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct st_certify_req req;
    struct st_certify_result res = {0};
    struct st_err err;

    if (st_certify_req_parse((const char *)data, size, &req, &err) == 0) {
        /* What the controller does next with a parsed request. */
        if (req.token == NULL || req.csr == NULL || strlen(req.token) > ST_CERTIFY_TOKEN_MAX)
            abort();
        struct st_buf b = ST_BUF_INIT(0);
        struct st_certify_req again;
        if (st_certify_req_encode(req.token, req.csr, &b) < 0 ||
            st_certify_req_parse(b.data, b.len, &again, &err) < 0 ||
            strcmp(again.token, req.token) != 0 || strcmp(again.csr, req.csr) != 0)
            abort();
        st_certify_req_free(&again);
        st_buf_free_secret(&b);
    }
    st_certify_req_free(&req);
    st_certify_resp_parse((const char *)data, size, &res, &err);
    st_certify_result_free(&res);
    return 0;
}
