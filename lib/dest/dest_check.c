/*
 * dest-check: a command-line driver of the st_dest client for
 * tests/test_destination.py.
 *
 *   dest-check --certify --addr HOST:PORT --server-identity NAME --anchors FILE
 *              --token-file FILE --sa SA --ns NS --cert OUT --key OUT
 *     makes a P-256 key, certifies it with the controller and writes the key
 *     (0600) and the leaf followed by its chain (a client certificate file).
 *
 *   dest-check --addr HOST:PORT --server-identity NAME --anchors FILE
 *              --cert FILE --key FILE --authority AUTH [--authority AUTH]...
 *     streams the authorities with st_dest until SIGTERM and prints each
 *     snapshot on stdout as "snapshot <JSON>" (re-encoded from the parsed
 *     snapshot); connection changes go to stderr as "connected AUTH" and
 *     "disconnected AUTH: <reason>".
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "strait/certify.h"
#include "strait/dest.h"
#include "strait/x509.h"

#define CHECK_MAX_AUTHORITIES 16

static json_t *
check_endpoints(const struct st_dest_endpoint *eps, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n; i++) {
        json_t *e = json_pack("{s:s, s:i, s:s, s:b}", "addr", eps[i].addr, "proxy_port",
                              (int)eps[i].proxy_port, "identity", eps[i].identity, "ready",
                              eps[i].ready);
        if (eps[i].remote_authority)
            json_object_set_new(e, "remote_authority", json_string(eps[i].remote_authority));
        json_array_append_new(arr, e);
    }
    return arr;
}

static void
check_on_snapshot(void *arg, struct st_dest_sub *sub, const struct st_dest_snapshot *s)
{
    static const char *const kinds[] = {"service", "split", "not_found", "heartbeat"};
    json_t *j = json_pack("{s:s, s:s?}", "kind", kinds[s->kind], "authority", s->authority);

    if (s->kind == ST_DEST_SERVICE || s->kind == ST_DEST_SPLIT) {
        json_object_set_new(j, "service", json_string(s->service));
        json_object_set_new(j, "namespace", json_string(s->namespace_));
        json_object_set_new(j, "port", json_integer(s->port));
    }
    if (s->kind == ST_DEST_SERVICE)
        json_object_set_new(j, "endpoints", check_endpoints(s->eps, s->n_eps));
    if (s->kind == ST_DEST_SPLIT) {
        json_t *leaves = json_array();
        for (size_t i = 0; i < s->n_leaves; i++) {
            const struct st_dest_leaf *l = &s->leaves[i];
            json_array_append_new(leaves,
                                  json_pack("{s:s, s:s, s:s, s:I, s:o}", "service", l->service,
                                            "name", l->name, "namespace", l->namespace_, "weight",
                                            (json_int_t)l->weight, "endpoints",
                                            check_endpoints(l->eps, l->n_eps)));
        }
        json_object_set_new(j, "leaves", leaves);
    }
    char *text = json_dumps(j, JSON_COMPACT);
    printf("snapshot %s\n", text);
    fflush(stdout);
    free(text);
    json_decref(j);
}

static void
check_on_state(void *arg, const char *authority, bool connected, const struct st_err *err)
{
    if (connected)
        fprintf(stderr, "connected %s\n", authority);
    else
        fprintf(stderr, "disconnected %s: %s\n", authority, err ? err->msg : "");
}

static void
check_on_signal(struct st_ev *loop, int signo, void *data)
{
    st_ev_stop(loop);
}

static int
check_certify(const char *addr, const char *server_id, const char *anchors,
              const char *token_file, const char *sa, const char *ns, const char *cert_out,
              const char *key_out)
{
    struct st_certify_opts o = {.addr = addr, .server_identity = server_id,
                                .anchors_file = anchors, .token_file = token_file};
    struct st_certify_result res = {0};
    struct st_err err = {0};
    char *dns = st_certify_identity_dns(sa, ns, "cluster.local");
    char *uri = st_certify_identity_uri(sa, ns, "cluster.local");
    EVP_PKEY *key = st_x509_key_new_p256();
    int rc = -1;

    if (dns == NULL || uri == NULL || key == NULL || cert_out == NULL || key_out == NULL) {
        fprintf(stderr, "dest-check: --sa, --ns, --cert and --key are required\n");
        goto out;
    }
    o.identity_dns = dns;
    o.identity_uri = uri;
    if ((rc = st_certify_request(&o, key, &res, &err)) < 0) {
        fprintf(stderr, "dest-check: certify: %s\n", err.msg);
        goto out;
    }
    char *bundle = st_xasprintf("%s%s", res.certificate, res.chain);
    rc = st_file_write_atomic(cert_out, bundle, strlen(bundle), 0644);
    free(bundle);
    if (rc == 0)
        rc = st_x509_key_write_file(key_out, key, true, &err);
    if (rc < 0)
        fprintf(stderr, "dest-check: writing the certificate or key: %s\n", st_strerror(rc));
out:
    st_certify_result_free(&res);
    EVP_PKEY_free(key);
    free(dns);
    free(uri);
    return rc < 0 ? 1 : 0;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"certify", no_argument, NULL, 'C'},
        {"addr", required_argument, NULL, 'a'},
        {"server-identity", required_argument, NULL, 'i'},
        {"anchors", required_argument, NULL, 'A'},
        {"token-file", required_argument, NULL, 't'},
        {"sa", required_argument, NULL, 's'},
        {"ns", required_argument, NULL, 'n'},
        {"cert", required_argument, NULL, 'c'},
        {"key", required_argument, NULL, 'k'},
        {"authority", required_argument, NULL, 'u'},
        {NULL, 0, NULL, 0},
    };
    const char *addr = NULL, *server_id = NULL, *anchors = NULL, *token_file = NULL, *sa = NULL,
               *ns = NULL, *cert = NULL, *key = NULL;
    const char *authorities[CHECK_MAX_AUTHORITIES];
    size_t n_auth = 0;
    bool certify = false;
    struct st_err err = {0};
    int c, rc = 1;

    signal(SIGPIPE, SIG_IGN);
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'C': certify = true; break;
        case 'a': addr = optarg; break;
        case 'i': server_id = optarg; break;
        case 'A': anchors = optarg; break;
        case 't': token_file = optarg; break;
        case 's': sa = optarg; break;
        case 'n': ns = optarg; break;
        case 'c': cert = optarg; break;
        case 'k': key = optarg; break;
        case 'u':
            if (n_auth == CHECK_MAX_AUTHORITIES) {
                fprintf(stderr, "dest-check: too many --authority\n");
                return 2;
            }
            authorities[n_auth++] = optarg;
            break;
        default: fprintf(stderr, "dest-check: bad usage\n"); return 2;
        }
    }
    if (addr == NULL || server_id == NULL || anchors == NULL) {
        fprintf(stderr, "dest-check: --addr, --server-identity and --anchors are required\n");
        return 2;
    }
    if (certify)
        return check_certify(addr, server_id, anchors, token_file, sa, ns, cert, key);
    if (cert == NULL || key == NULL || n_auth == 0) {
        fprintf(stderr, "dest-check: --cert, --key and --authority are required\n");
        return 2;
    }

    struct st_ev *loop = st_ev_new(&err);
    struct st_tls_slot slot;
    struct st_tls_ctx *ctx = NULL;
    struct st_dest_client *client = NULL;
    struct st_dest_sub *subs[CHECK_MAX_AUTHORITIES] = {0};
    st_tls_slot_init(&slot);
    static const char *const alpn[] = {"http/1.1", NULL};
    struct st_tls_config cfg = {.cert_file = cert, .key_file = key, .anchors_file = anchors,
                                .verify = ST_TLS_VERIFY_REQUIRE, .min_version = ST_TLS_1_2,
                                .alpn = alpn};
    if (loop == NULL || st_tls_ctx_new(&cfg, &ctx, &err) < 0) {
        fprintf(stderr, "dest-check: %s\n", err.msg);
        goto out;
    }
    st_tls_slot_set(&slot, ctx);
    st_ev_signal_add(loop, SIGTERM, check_on_signal, NULL);
    st_ev_signal_add(loop, SIGINT, check_on_signal, NULL);
    struct st_dest_options o = {.addr = addr, .server_identity = server_id, .tls = &slot,
                                .backoff_min_ms = 100, .backoff_max_ms = 1000,
                                .on_state = check_on_state};
    client = st_dest_client_new(loop, &o, &err);
    if (client == NULL) {
        fprintf(stderr, "dest-check: %s\n", err.msg);
        goto out;
    }
    for (size_t i = 0; i < n_auth; i++) {
        subs[i] = st_dest_subscribe(client, authorities[i], check_on_snapshot, NULL);
        if (subs[i] == NULL) {
            fprintf(stderr, "dest-check: bad authority \"%s\"\n", authorities[i]);
            goto out;
        }
    }
    rc = st_ev_run(loop) < 0 ? 1 : 0;
out:
    for (size_t i = 0; i < n_auth; i++)
        st_dest_unsubscribe(subs[i]);
    st_dest_client_free(client);
    st_tls_slot_fini(&slot);
    st_ev_free(loop);
    return rc;
}
