/*
 * Replays fuzz corpora without libFuzzer: each argument is a file or a
 * directory of files, and each file is handed to LLVMFuzzerTestOneInput once.
 * Exits non-zero if an argument cannot be read or holds no input at all, so a
 * missing corpus is noticed instead of passing silently.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "strait/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
replay_file(const char *path)
{
    struct st_buf b = ST_BUF_INIT(64u << 20);
    int rc = st_file_read(path, &b);

    if (rc < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, st_strerror(rc));
        return -1;
    }
    /* A private copy of exactly the input's size lets ASan see overreads. */
    uint8_t *copy = st_xmalloc(b.len ? b.len : 1);
    memcpy(copy, b.data ? b.data : "", b.len);
    LLVMFuzzerTestOneInput(copy, b.len);
    free(copy);
    st_buf_free(&b);
    return 0;
}

int
main(int argc, char **argv)
{
    int files = 0;

    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            fprintf(stderr, "replay: %s: cannot stat\n", argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (replay_file(argv[i]) < 0)
                return 1;
            files++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        struct dirent *e;
        while (d != NULL && (e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char *path = st_xasprintf("%s/%s", argv[i], e->d_name);
            int rc = replay_file(path);
            free(path);
            if (rc < 0) {
                closedir(d);
                return 1;
            }
            files++;
        }
        if (d != NULL)
            closedir(d);
    }
    printf("replay: %d inputs, no crash\n", files);
    return files > 0 ? 0 : 1;
}
