/*
 * Fuzzes the reader of exec statistics records (cli/stat_record.c), files
 * under $STRAIT_HOME that `strait stat ts` must survive when damaged. A
 * record that parses must have ascending windows inside the client's life,
 * must encode again, and the encoding must parse to the same windows; a
 * failure must say why.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../cli/stat_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct stat_record r = {0}, again = {0};
    struct st_buf out = ST_BUF_INIT(STAT_RECORD_MAX_BYTES * 2);
    struct st_err err = {0};
    uint64_t len = 0;

    int rc = stat_record_parse((const char *)data, size, &r, &err);
    if (rc < 0) {
        if (err.msg[0] == '\0') {
            fprintf(stderr, "fuzz_exec_record: failure %d without a message\n", rc);
            abort();
        }
        return 0;
    }
    for (size_t i = 0; i < r.n_wins; i++)
        if (r.wins[i].from_ms > r.end_ms || (i > 0 && r.wins[i].from_ms <= r.wins[i - 1].from_ms))
            abort();
    if (stat_record_window(&r, r.end_ms, 1, &len) == NULL && r.end_ms > 1 && r.n_wins > 0)
        abort(); /* a window ending at the client's end always overlaps it */
    rc = stat_record_encode(&r, &out);
    if (rc > 0) {
        if (stat_record_parse(out.data, out.len, &again, &err) < 0 || again.n_wins != (size_t)rc) {
            fprintf(stderr, "fuzz_exec_record: re-encoded record does not parse: %s\n", err.msg);
            abort();
        }
        for (size_t i = 0; i < again.n_wins; i++)
            if (again.wins[i].from_ms != r.wins[i].from_ms)
                abort();
    }
    stat_record_free(&again);
    stat_record_free(&r);
    st_buf_free(&out);
    return 0;
}
