/*
 * Fuzz target for st_dest_snapshot_parse: one line of the destination
 * stream, which every proxy parses from the controller. Checks that what
 * parses keeps its invariants (counts within caps, ports set, addresses
 * parsed) and is freed cleanly.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "strait/dest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_endpoints(const struct st_dest_endpoint *eps, size_t n)
{
    if (n > ST_DEST_MAX_ENDPOINTS)
        abort();
    for (size_t i = 0; i < n; i++)
        if (eps[i].addr == NULL || eps[i].identity == NULL || eps[i].proxy_port == 0 ||
            st_sock_addr_port(&eps[i].target) <= 0)
            abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct st_dest_snapshot *s = NULL;
    struct st_err err;

    if (st_dest_snapshot_parse((const char *)data, size, &s, &err) == 0) {
        if (s == NULL)
            abort();
        if (s->kind != ST_DEST_HEARTBEAT && s->authority == NULL)
            abort();
        check_endpoints(s->eps, s->n_eps);
        if (s->n_leaves > ST_DEST_MAX_LEAVES)
            abort();
        for (size_t i = 0; i < s->n_leaves; i++)
            check_endpoints(s->leaves[i].eps, s->leaves[i].n_eps);
        st_dest_snapshot_free(s);
    } else if (s != NULL) {
        abort();
    }
    return 0;
}
