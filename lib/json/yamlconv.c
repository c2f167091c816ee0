/*
 * yamlconv: a small test tool over lib/json so that scripts can compare our
 * YAML handling with kubectl and PyYAML.
 *
 *   yamlconv load     YAML stream on stdin -> JSON array of documents
 *   yamlconv objects  the same through st_yaml_load_objects (List flattening)
 *   yamlconv dump     JSON array of documents on stdin -> YAML stream
 *
 * Prints the error message and exits 1 when the input is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "strait/json.h"

static int
yamlconv_write(const struct st_buf *b)
{
    size_t off = 0;

    while (off < b->len) {
        ssize_t n = write(STDOUT_FILENO, b->data + off, b->len - off);
        if (n <= 0)
            return 1;
        off += (size_t)n;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    struct st_buf in = ST_BUF_INIT(64u << 20), out = ST_BUF_INIT(0);
    struct st_err err = {0};
    json_t *v = NULL;
    int rc = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: yamlconv load|objects|dump < input\n");
        return 2;
    }
    if (st_file_read("/dev/stdin", &in) < 0) {
        fprintf(stderr, "yamlconv: cannot read stdin\n");
        goto out;
    }
    if (strcmp(argv[1], "load") == 0 || strcmp(argv[1], "objects") == 0) {
        v = argv[1][0] == 'l' ? st_yaml_load_all(in.data, in.len, NULL, &err)
                              : st_yaml_load_objects(in.data, in.len, NULL, &err);
        if (v == NULL || st_json_dump(v, &out, ST_JSON_NEWLINE) < 0)
            goto out;
    } else if (strcmp(argv[1], "dump") == 0) {
        v = st_json_load(in.data, in.len, 0, &err);
        if (v == NULL)
            goto out;
        int drc = st_yaml_dump_all(v, &out);
        if (drc < 0) {
            st_err_set(&err, drc, "cannot dump: %s", st_strerror(drc));
            goto out;
        }
    } else {
        fprintf(stderr, "yamlconv: unknown command %s\n", argv[1]);
        rc = 2;
        goto out;
    }
    rc = yamlconv_write(&out);
out:
    if (rc == 1 && err.msg[0] != '\0')
        fprintf(stderr, "yamlconv: %s\n", err.msg);
    json_decref(v);
    st_buf_free(&in);
    st_buf_free(&out);
    return rc;
}
