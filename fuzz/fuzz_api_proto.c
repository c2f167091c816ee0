/*
 * Fuzzes the decoder of Kubernetes protobuf request bodies (apiserver/api_proto.c):
 * any input must give an object or an error, never a crash or a leak.
 */
#include <stdint.h>
#include <stdlib.h>

#include "api_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct st_err err = {0};
    json_t *obj = api_proto_decode(data, size, &err);

    if (obj) {
        char *s = json_dumps(obj, JSON_COMPACT);
        free(s);
        json_decref(obj);
    }
    return 0;
}
