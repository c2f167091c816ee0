/*
 * Fuzzes the label and field selector parsers. The first byte picks the
 * parser (odd: fields, even: labels); the rest is the selector text. A
 * parsed selector is matched against a fixed object so that the matchers run
 * on every shape the parser accepts.
 */
#include <stdint.h>
#include <stdlib.h>

#include "selector.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static json_t *obj;
    struct selector *sel = NULL;
    struct st_err err;

    if (size == 0)
        return 0;
    if (obj == NULL)
        obj = json_loads("{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\","
                         "\"labels\":{\"app\":\"web\",\"n\":\"7\",\"a.io/b\":\"\"}},"
                         "\"spec\":{\"replicas\":2,\"on\":true}}",
                         0, NULL);
    char *s = st_xstrndup((const char *)data + 1, size - 1);
    int rc;
    if (data[0] & 1)
        rc = selector_parse_fields(s, &sel, &err);
    else
        rc = selector_parse_labels(s, &sel, &err);
    if (rc == 0) {
        (void)selector_match_fields(sel, obj);
        (void)selector_match_labels(sel,
                                    json_object_get(json_object_get(obj, "metadata"), "labels"));
        (void)selector_field_equals(sel, "metadata.name");
    } else if (sel != NULL || err.msg[0] == '\0') {
        abort();
    }
    selector_free(sel);
    free(s);
    return 0;
}
