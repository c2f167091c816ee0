/*
 * Fuzzes the Kubernetes protobuf decoder (apiserver/proto.c). An input is a
 * whole request body, magic included. Decoding must never crash and must keep
 * its contract: an object carrying apiVersion and kind on success, NULL with
 * an error code on failure; the object must serialise as JSON.
 */
#include <stdint.h>
#include <stdlib.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct st_err err = {0};
    json_t *obj = proto_decode(data, size, &err);

    if (obj == NULL) {
        if (err.code != ST_EPARSE && err.code != ST_EINVAL && err.code != ST_ETOOBIG)
            abort();
        return 0;
    }
    if (!json_is_object(obj) || !json_is_string(json_object_get(obj, "apiVersion")) ||
        !json_is_string(json_object_get(obj, "kind")))
        abort();
    char *text = json_dumps(obj, JSON_COMPACT);
    if (text == NULL)
        abort();
    free(text);
    json_decref(obj);
    return 0;
}
