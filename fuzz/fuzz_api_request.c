/*
 * Fuzzes the API layer's request handling (paths, query strings, Accept and
 * Content-Type negotiation, JSON and protobuf bodies, every verb) through
 * api_handle over a real store in a temporary directory. The input is
 * "METHOD\nPATH\nQUERY\nACCEPT\nCONTENT-TYPE\nBODY...".
 */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_TOKEN "fuzz-admin-token-0123456789"

static struct store *fuzz_st;
static struct auth *fuzz_au;
static struct api *fuzz_api;
static char fuzz_dir[64];

static int
fuzz_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void
fuzz_cleanup(void)
{
    api_free(fuzz_api);
    auth_free(fuzz_au);
    store_close(fuzz_st);
    nftw(fuzz_dir, fuzz_rm, 8, FTW_DEPTH | FTW_PHYS);
}

static void
fuzz_init(void)
{
    struct st_err err = {0};
    char path[96];

    snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/fuzz_api.XXXXXX");
    if (!mkdtemp(fuzz_dir))
        abort();
    snprintf(path, sizeof(path), "%s/store.db", fuzz_dir);
    fuzz_st = store_open(path, NULL, &err);
    fuzz_au = fuzz_st ? auth_new(fuzz_st, FUZZ_TOKEN, "ca", &err) : NULL;
    struct api_options o = {.service_cidr = "127.1.128.0/17", .max_watches = 4};
    fuzz_api = fuzz_au ? api_new(fuzz_st, fuzz_au, &o, &err) : NULL;
    if (!fuzz_api)
        abort();
    atexit(fuzz_cleanup);
}

static int
fuzz_data(void *arg, const char *p, size_t n)
{
    return 0;
}

static void
fuzz_end(void *arg)
{
}

/* Cuts the next '\n'-terminated line off <*p>; returns a new string. */
static char *
fuzz_line(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
    char *s = st_xstrndup((const char *)*p, n);
    *p += n + (nl ? 1 : 0);
    return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct api_watch_sink sink = {fuzz_data, fuzz_end};
    const uint8_t *p = data, *end = data + size;

    if (!fuzz_api)
        fuzz_init();
    char *method = fuzz_line(&p, end), *path = fuzz_line(&p, end);
    char *query = fuzz_line(&p, end), *accept = fuzz_line(&p, end);
    char *ctype = fuzz_line(&p, end);
    struct api_request r = {
        .method = method,
        .path = path,
        .query = *query ? query : NULL,
        .accept = *accept ? accept : NULL,
        .content_type = *ctype ? ctype : NULL,
        .bearer_token = FUZZ_TOKEN,
        .body = (const char *)p,
        .body_len = (size_t)(end - p),
    };
    struct api_response resp = {0};
    api_handle(fuzz_api, &r, &resp);
    if (resp.watch) {
        struct api_watch *w = resp.watch;
        resp.watch = NULL;
        api_watch_start(w, &sink, NULL);
        api_tick(fuzz_api, st_now_ms() + 5000);
        api_watch_free(w);
    }
    api_response_clear(&resp);
    free(method);
    free(path);
    free(query);
    free(accept);
    free(ctype);
    return 0;
}
