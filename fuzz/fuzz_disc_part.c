/*
 * Fuzz target: a destination snapshot line (untrusted, from the controller)
 * through the proxy's table builder: parse, build the part, merge it into a
 * thread's table and resolve its authority.
 */
#include <stddef.h>
#include <stdint.h>

#include "discovery.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char key[] = "backend-zero-svc.ns.svc.cluster.local:8888";
    struct st_dest_snapshot *snap = NULL;
    struct disc_part *p = NULL;
    struct st_err err = {0};
    struct disc_target tg;
    struct st_rng rng = {{1, 2}};

    if (st_dest_snapshot_parse((const char *)data, size, &snap, &err) < 0)
        return 0;
    if (discovery_part_from_snapshot(key, snap, "cluster.local", NULL, &p, &err) == 0) {
        struct discovery *d = discovery_new(NULL, "ns", "cluster.local");
        discovery_enable_parts(d);
        discovery_set_part(d, p);
        for (int i = 0; i < 8; i++)
            (void)discovery_resolve(discovery_table(d), key, &rng, (uint64_t)i * 1000, &tg);
        discovery_drop_part(d, key);
        discovery_free(d);
    }
    st_dest_snapshot_free(snap);
    return 0;
}
