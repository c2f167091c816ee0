/*
 * Fuzzes st_json_load: any input either fails cleanly or yields a value that
 * dumps and loads back to an equal value; path helpers must not crash on it.
 */
#include <stdint.h>
#include <stdlib.h>

#include "strait/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct st_err err;
    struct st_buf out = ST_BUF_INIT(0);
    json_t *v = st_json_load((const char *)data, size, 32, &err);

    if (v == NULL) {
        if (err.code >= 0 || err.msg[0] == '\0')
            abort();
        return 0;
    }
    (void)st_json_str(v, "metadata.name");
    (void)st_json_path(v, "spec.ports.0.port");
    (void)st_json_int_or(v, "spec.replicas", 1);
    if (st_json_dump(v, &out, ST_JSON_PRETTY) < 0)
        abort();
    json_t *again = st_json_load(out.data, out.len, 32, &err);
    if (again == NULL || !json_equal(v, again))
        abort();
    json_decref(again);
    json_decref(v);
    st_buf_free(&out);
    return 0;
}
