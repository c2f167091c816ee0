/*
 * Fuzzes the YAML loader and dumper together: any input either fails cleanly
 * or loads to documents that dump to YAML which loads back to equal JSON.
 */
#include <stdint.h>
#include <stdlib.h>

#include "strait/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Small caps keep each run fast while still reaching every cap's error path. */
    struct st_yaml_limits lim = {.max_bytes = 1 << 16,
                                 .max_depth = 32,
                                 .max_nodes = 20000,
                                 .max_docs = 64,
                                 .max_scalar_bytes = 1 << 18};
    struct st_err err;
    struct st_buf out = ST_BUF_INIT(0);
    json_t *docs = st_yaml_load_all((const char *)data, size, &lim, &err);

    if (docs == NULL) {
        if (err.code >= 0 || err.msg[0] == '\0')
            abort();
        return 0;
    }
    if (st_yaml_dump_all(docs, &out) < 0)
        abort();
    /* The dump may be larger than the input (aliases expanded): no byte cap. */
    lim.max_bytes = out.len + 1;
    lim.max_scalar_bytes = out.len + 1;
    lim.max_nodes = 0;
    json_t *again = st_yaml_load_all(out.data, out.len, &lim, &err);
    if (again == NULL || !json_equal(docs, again))
        abort();
    json_decref(again);
    json_decref(docs);
    st_buf_free(&out);

    json_t *objs = st_yaml_load_objects((const char *)data, size, &lim, &err);
    json_decref(objs);
    return 0;
}
