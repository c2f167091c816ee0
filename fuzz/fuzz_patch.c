/*
 * Fuzzes the patch engine. An input is a header line, a document, a line
 * "%%" and a patch:
 *
 *     <type> [<apiVersion> <kind>]\n<document JSON>\n%%\n<patch JSON>
 *
 * <type> is 'j' (JSON patch), 'm' (merge patch) or anything else (strategic
 * merge patch, for the kind named on the line). Applying must never crash,
 * and the result must obey the contract: an object on success, NULL on error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "patch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    const char *nl = memchr(p, '\n', size);
    char api_version[64] = "", kind[64] = "";
    enum patch_type type;

    if (!nl || size > (1u << 20))
        return 0;
    type = p[0] == 'j' ? PATCH_JSON : p[0] == 'm' ? PATCH_MERGE : PATCH_STRATEGIC;
    char *header = st_xstrndup(p, (size_t)(nl - p));
    if (sscanf(header, "%*s %63s %63s", api_version, kind) != 2) {
        st_strlcpy(api_version, "v1", sizeof(api_version));
        st_strlcpy(kind, "Service", sizeof(kind));
    }
    free(header);

    const char *doc = nl + 1, *sep = NULL;
    for (const char *q = doc; q + 4 <= end; q++) {
        if (memcmp(q, "\n%%\n", 4) == 0) {
            sep = q;
            break;
        }
    }
    if (!sep)
        return 0;
    json_error_t jerr;
    json_t *orig = json_loadb(doc, (size_t)(sep - doc), JSON_DECODE_ANY, &jerr);
    json_t *patch = json_loadb(sep + 4, (size_t)(end - sep - 4), JSON_DECODE_ANY, &jerr);
    if (orig && patch) {
        struct st_err err;
        json_t *out = (json_t *)1;
        int rc = patch_apply(orig, type, patch, api_version, kind, &out, &err);
        if ((rc == 0) != (out != NULL))
            abort();
        if (out) {
            char *s = json_dumps(out, JSON_COMPACT | JSON_ENCODE_ANY);
            free(s);
            /* A second application over the result exercises shared paths. */
            json_t *again = NULL;
            patch_apply(out, type, patch, api_version, kind, &again, &err);
            json_decref(again);
        }
        json_decref(out);
    }
    json_decref(orig);
    json_decref(patch);
    return 0;
}
