/* Private declarations shared by the files of lib/kube. */
#ifndef STRAIT_KUBE_INTERNAL_H
#define STRAIT_KUBE_INTERNAL_H

#include <curl/curl.h>
#include <sys/types.h>

#include "strait/json.h"
#include "strait/kube.h"

/* Caps on files we read for credentials. */
#define KUBE_MAX_KUBECONFIG ((size_t)4 << 20)
#define KUBE_MAX_PEM ((size_t)1 << 20)
#define KUBE_MAX_TOKEN ((size_t)64 << 10)

struct kube_xfer;
struct kube_sock;

struct st_kube_client {
    /* Copied from the config; key material is wiped on free. */
    char *server;
    char *namespace;
    char *tls_server_name;
    char *connect_to; /* CURLOPT_CONNECT_TO entry when tls_server_name is set */
    char *url_base;   /* server, or the server with its host replaced by tls_server_name */
    bool insecure;
    struct st_buf ca_pem, cert_pem, key_pem;
    struct st_buf token;
    char *token_file;
    /* Identity of the token file as last read, to notice rotation. */
    dev_t tf_dev;
    ino_t tf_ino;
    off_t tf_size;
    struct timespec tf_mtime;
    bool tf_loaded;

    uint64_t connect_ms, total_ms;
    size_t max_response;
    CURL *easy; /* reused by blocking requests, so connections are kept alive */

    /* The multi side, once attached. */
    struct st_ev *loop;
    CURLM *multi;
    struct st_ev_timer timer;
    struct kube_sock *socks; /* sockets curl asked us to watch */
    struct kube_xfer *xfers; /* live transfers (watches, async lists) */
    int in_curl;             /* depth of curl_multi_* calls on the stack */
    struct st_ev_defer reap; /* frees transfers released inside curl calls */
};

/* Percent-encodes <s> for a path segment or a query value into <out>. */
int kube_escape(struct st_buf *out, const char *s);

/* Applies TLS, auth, timeouts and common headers to an easy handle. */
int kube_client_setup_easy(struct st_kube_client *c, CURL *h, const char *path_and_query,
                           struct curl_slist **headers, struct curl_slist **connect_to,
                           bool streaming, struct st_err *err);

/* Maps a curl failure to a code and a message. */
int kube_curl_error(CURLcode rc, const char *errbuf, struct st_err *err);

/*
 * Turns a non-2xx response into a code and a message, using the Status body
 * <resp> (may be NULL) when there is one.
 */
int kube_status_error(long status, const json_t *resp, struct st_err *err);

/* Maps an HTTP status to an ST_E* code. */
int kube_status_code(long status);

/* ---- asynchronous transfers (multi.c) ---- */

/*
 * Completion of a buffered asynchronous request: <code> 0 with <resp> (a new
 * reference handed to the callee, may be NULL) on 2xx, else an error with
 * <err>. The transfer is already freed when this runs.
 */
typedef void kube_xfer_done_cb(int code, long status, json_t *resp, const struct st_err *err,
                               void *data);

/* Starts an asynchronous GET of <path_and_query>, buffered up to the client's cap. */
struct kube_xfer *kube_xfer_get(struct st_kube_client *c, const char *path_and_query,
                                kube_xfer_done_cb *done, void *data, struct st_err *err);
/* Cancels <x> without calling back (NULL is fine); safe inside curl callbacks. */
void kube_xfer_cancel(struct kube_xfer *x);

/* True when <w> ended because nothing arrived for its idle timeout. */
bool kube_watch_stalled(const struct st_kube_watch *w);

/* Tears down the multi side of a client (client_free). */
void kube_multi_free(struct st_kube_client *c);

#endif
