/*
 * Fuzzes the in-memory kubeconfig loader: any input either fails with a
 * negative code and a message, or yields a config whose server is an http(s)
 * URL. File references stay refused, so the fuzzer never reads local files.
 */
#include <stdint.h>
#include <stdlib.h>

#include "strait/kube.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct st_kube_load_opts opts[] = {{0}, {.context = "b", .allow_insecure = true}};

    for (size_t i = 0; i < ST_ARRAY_LEN(opts); i++) {
        struct st_err err = {0};
        struct st_kube_config *cfg =
            st_kube_config_from_kubeconfig_text((const char *)data, size, &opts[i], &err);
        if (cfg == NULL) {
            if (err.code >= 0 || err.msg[0] == '\0')
                abort();
            continue;
        }
        if (!st_str_has_prefix(cfg->server, "https://") &&
            !st_str_has_prefix(cfg->server, "http://"))
            abort();
        if (cfg->namespace == NULL || cfg->namespace[0] == '\0' || cfg->token_file != NULL)
            abort();
        if (cfg->insecure && !opts[i].allow_insecure)
            abort();
        st_kube_config_free(cfg);
    }
    return 0;
}
