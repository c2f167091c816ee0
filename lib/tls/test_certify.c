/*
 * Unit tests for lib/tls/certify.c: identity names, the request and response
 * bodies, the renewal and back-off schedule, and the client against a small
 * HTTPS server (st_httpd on its own loop thread) that signs with a test PKI.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "strait/certify.h"
#include "strait/ev.h"
#include "strait/httpd.h"
#include "strait/x509.h"
#include "test_pki.h"

#define SERVER_ID "ctl.strait.serviceaccount.identity.strait.cluster.local"
#define WEB_DNS "web.emojivoto.serviceaccount.identity.strait.cluster.local"
#define WEB_URI "spiffe://cluster.local/ns/emojivoto/sa/web"

/* ---- names ---------------------------------------------------------------------- */

static void
test_identity_names(void **state)
{
    char *d = st_certify_identity_dns("web", "emojivoto", "cluster.local");
    char *u = st_certify_identity_uri("web", "emojivoto", "cluster.local");

    assert_string_equal(d, WEB_DNS);
    assert_string_equal(u, WEB_URI);
    free(d);
    free(u);
    assert_null(st_certify_identity_dns("Web", "emojivoto", "cluster.local"));
    assert_null(st_certify_identity_dns("web", "a.b", "cluster.local"));
    assert_null(st_certify_identity_uri("web", "ns", "bad domain"));
    assert_null(st_certify_identity_dns(NULL, "ns", "td"));
}

static void
test_parse_username(void **state)
{
    char *ns = NULL, *sa = NULL;

    assert_int_equal(st_certify_parse_username("system:serviceaccount:emojivoto:web", &ns, &sa), 0);
    assert_string_equal(ns, "emojivoto");
    assert_string_equal(sa, "web");
    free(ns);
    free(sa);
    ns = sa = NULL;
    static const char *const bad[] = {
        "admin",
        "system:serviceaccount:",
        "system:serviceaccount:ns",
        "system:serviceaccount::sa",
        "system:serviceaccount:ns:",
        "system:serviceaccount:ns:sa:extra",
        "system:serviceaccount:Ns:sa",
        "system:serviceaccount:a.b:sa",
        "system:serviceaccounts:ns:sa",
        "system:node:ns:sa",
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(bad); i++) {
        assert_int_equal(st_certify_parse_username(bad[i], &ns, &sa), ST_EINVAL);
        assert_null(ns);
        assert_null(sa);
    }
    assert_int_equal(st_certify_parse_username(NULL, &ns, &sa), ST_EINVAL);
}

/* ---- request bodies ----------------------------------------------------------------- */

static int
parse(const char *body, struct st_certify_req *r)
{
    struct st_err err = {0};
    int rc = st_certify_req_parse(body, strlen(body), r, &err);

    if (rc < 0) {
        assert_int_equal(err.code, rc);
        assert_true(err.msg[0] != '\0');
        assert_null(r->token);
        assert_null(r->csr);
    }
    return rc;
}

static void
test_req_parse(void **state)
{
    struct st_certify_req r;

    assert_int_equal(parse("{\"token\":\"abc.def\",\"csr\":\"PEM\\n\",\"extra\":[1]}", &r), 0);
    assert_string_equal(r.token, "abc.def");
    assert_string_equal(r.csr, "PEM\n");
    st_certify_req_free(&r);
    assert_null(r.token);
    st_certify_req_free(&r); /* twice is fine */

    assert_int_equal(parse("", &r), ST_EPARSE);
    assert_int_equal(parse("[]", &r), ST_EPARSE);
    assert_int_equal(parse("{\"token\":\"a\"}", &r), ST_EPARSE);
    assert_int_equal(parse("{\"csr\":\"a\"}", &r), ST_EPARSE);
    assert_int_equal(parse("{\"token\":1,\"csr\":\"a\"}", &r), ST_EPARSE);
    assert_int_equal(parse("{\"token\":\"a\",\"csr\":null}", &r), ST_EPARSE);
    assert_int_equal(parse("{\"token\":\"\",\"csr\":\"a\"}", &r), ST_EPARSE);
    assert_int_equal(parse("{\"token\":\"a b\",\"csr\":\"a\"}", &r), ST_EPARSE);
    assert_int_equal(parse("{\"token\":\"a\\u00e9\",\"csr\":\"a\"}", &r), ST_EPARSE);
    assert_int_equal(parse("{\"token\":\"a\",\"csr\":\"\"}", &r), ST_EPARSE);
    assert_int_equal(parse("{\"token\":\"a\",\"csr\":\"x\\u0000\"}", &r), ST_EPARSE);
    assert_int_equal(parse("{\"token\":\"a\",\"csr\":\"b\"} x", &r), ST_EPARSE);
    assert_int_equal(parse("{\"token\":\"a\",\"csr\":\"b\"", &r), ST_EPARSE);
    assert_int_equal(parse("{\"a\":[[[[[[[[[[[[1]]]]]]]]]]]],\"token\":\"a\",\"csr\":\"b\"}", &r),
                     ST_ETOOBIG);
}

static void
test_req_caps(void **state)
{
    struct st_certify_req r;
    struct st_buf b = ST_BUF_INIT(0);
    char *big = st_xmalloc(ST_CERTIFY_BODY_MAX + 2);

    /* A token over its cap. */
    memset(big, 'a', ST_CERTIFY_TOKEN_MAX + 1);
    big[ST_CERTIFY_TOKEN_MAX + 1] = '\0';
    assert_int_equal(st_buf_appendf(&b, "{\"token\":\"%s\",\"csr\":\"x\"}", big), 0);
    assert_int_equal(parse(b.data, &r), ST_ETOOBIG);
    /* A CSR over its cap. */
    st_buf_reset(&b);
    big[ST_X509_CSR_MAX + 1] = '\0';
    assert_int_equal(st_buf_appendf(&b, "{\"token\":\"t\",\"csr\":\"%s\"}", big), 0);
    assert_int_equal(parse(b.data, &r), ST_ETOOBIG);
    /* A body over its cap, even if it would parse. */
    st_buf_reset(&b);
    memset(big, ' ', ST_CERTIFY_BODY_MAX + 1);
    big[ST_CERTIFY_BODY_MAX + 1] = '\0';
    assert_int_equal(st_buf_appendf(&b, "{\"token\":\"t\",\"csr\":\"x\"}%s", big), 0);
    assert_int_equal(parse(b.data, &r), ST_ETOOBIG);
    /* Exactly at the caps is fine. */
    st_buf_reset(&b);
    memset(big, 'a', ST_CERTIFY_TOKEN_MAX);
    big[ST_CERTIFY_TOKEN_MAX] = '\0';
    assert_int_equal(st_buf_appendf(&b, "{\"token\":\"%s\",\"csr\":\"x\"}", big), 0);
    assert_int_equal(parse(b.data, &r), 0);
    assert_int_equal(strlen(r.token), ST_CERTIFY_TOKEN_MAX);
    st_certify_req_free(&r);
    free(big);
    st_buf_free(&b);
}

static void
test_req_roundtrip(void **state)
{
    struct st_buf b = ST_BUF_INIT(ST_CERTIFY_BODY_MAX);
    struct st_certify_req r;
    const char *csr = "-----BEGIN CERTIFICATE REQUEST-----\nMII\"\\\t\x01\n-----END\n";

    assert_int_equal(st_certify_req_encode("eyJ.abc-_", csr, &b), 0);
    assert_int_equal(parse(b.data, &r), 0);
    assert_string_equal(r.token, "eyJ.abc-_");
    assert_string_equal(r.csr, csr);
    st_certify_req_free(&r);
    st_buf_free_secret(&b);
}

static void
test_resp_roundtrip(void **state)
{
    struct st_buf b = ST_BUF_INIT(0);
    struct st_certify_result res = {0};
    struct st_err err = {0};

    assert_int_equal(st_certify_resp_encode("LEAF\n", "CHAIN\n", 86400, &b), 0);
    assert_non_null(strstr(b.data, "\"expiry\":\"1970-01-02T00:00:00Z\""));
    assert_int_equal(st_certify_resp_parse(b.data, b.len, &res, &err), 0);
    assert_string_equal(res.certificate, "LEAF\n");
    assert_string_equal(res.chain, "CHAIN\n");
    st_certify_result_free(&res);

    st_buf_reset(&b);
    assert_int_equal(st_certify_error_encode(403, "identity \"x\" refused", &b), 0);
    assert_int_equal(st_certify_resp_parse(b.data, b.len, &res, &err), ST_EPROTO);
    assert_string_equal(err.msg, "identity \"x\" refused");
    assert_null(res.certificate);
    assert_int_equal(st_certify_resp_parse("{\"chain\":\"\"}", 12, &res, &err), ST_EPARSE);
    assert_int_equal(st_certify_resp_parse("nope", 4, &res, &err), ST_EPARSE);
    st_buf_free(&b);
}

/* ---- schedule ------------------------------------------------------------------------- */

static void
test_renew_at(void **state)
{
    int64_t nb = 1000000, life = 86400;

    assert_int_equal(st_certify_renew_at(nb, nb + life, 0), nb + life * 63 / 100);
    assert_int_equal(st_certify_renew_at(nb, nb + life, 140), nb + life * 77 / 100);
    assert_int_equal(st_certify_renew_at(nb, nb + life, 70), nb + life * 70 / 100);
    for (uint64_t i = 0; i < 1000; i++) {
        int64_t t = st_certify_renew_at(nb, nb + life, st_random_u64());
        assert_true(t >= nb + life * 63 / 100 && t <= nb + life * 77 / 100);
    }
    assert_int_equal(st_certify_renew_at(nb, nb, 5), nb);
    assert_int_equal(st_certify_renew_at(nb, nb - 10, 5), nb);
}

static void
test_backoff(void **state)
{
    assert_int_equal(st_certify_backoff_ms(0, 200), 1000);
    assert_int_equal(st_certify_backoff_ms(1, 200), 2000);
    assert_int_equal(st_certify_backoff_ms(0, 0), 800);
    assert_int_equal(st_certify_backoff_ms(0, 400), 1200);
    assert_int_equal(st_certify_backoff_ms(5, 200), 32000);
    assert_int_equal(st_certify_backoff_ms(6, 200), 60000);
    assert_int_equal(st_certify_backoff_ms(1000, 400), 72000);
    for (unsigned a = 0; a < 40; a++) {
        uint64_t d = st_certify_backoff_ms(a, st_random_u64());
        assert_true(d >= 800 && d <= 72000);
    }
}

/* ---- the client against a test server -------------------------------------------------- */

/* What the test server answers; set by each test before it certifies. */
enum server_mode { SERVE_SIGN, SERVE_STATUS, SERVE_WRONG_KEY, SERVE_GARBAGE };

struct server {
    struct st_ev *loop;
    struct st_httpd *httpd;
    struct st_tls_slot tls;
    pthread_t thread;
    struct pki_ca root, issuer;
    char port[8];
    char *anchors_pem;
    enum server_mode mode;
    int status;
    char last_token[256];
};

static void
server_handle(void *arg, struct st_httpd_req *req)
{
    struct server *s = arg;
    struct st_certify_req r;
    struct st_x509_csr_info info = {0};
    struct st_buf out = ST_BUF_INIT(0), leaf_pem = ST_BUF_INIT(0), chain_pem = ST_BUF_INIT(0);
    size_t len;
    const char *body = st_httpd_req_body(req, &len);
    X509 *leaf = NULL;
    EVP_PKEY *other = NULL;
    int status = 200;

    if (st_certify_req_parse(body, len, &r, NULL) < 0) {
        status = 400;
        goto answer;
    }
    st_strlcpy(s->last_token, r.token, sizeof(s->last_token));
    if (s->mode == SERVE_STATUS) {
        status = s->status;
        goto answer;
    }
    if (s->mode == SERVE_GARBAGE) {
        if (st_buf_append_str(&out, "{\"certificate\":\"not a pem\",\"chain\":\"\"}") < 0)
            abort();
        goto send;
    }
    assert_int_equal(st_x509_csr_parse(r.csr, strlen(r.csr), &info, NULL), 0);
    assert_int_equal(st_x509_csr_check_identity(&info, WEB_DNS, WEB_URI, NULL), 0);
    other = s->mode == SERVE_WRONG_KEY ? st_x509_key_new_p256() : NULL;
    const char *dns[] = {WEB_DNS, NULL};
    struct st_x509_issue_req ir = {
        .issuer_cert = s->issuer.cert,
        .issuer_key = s->issuer.key,
        .subject_key = other ? other : info.key,
        .cn = WEB_DNS,
        .lifetime_s = 3600,
        .backdate_s = 20,
        .eku = ST_X509_EKU_SERVER | ST_X509_EKU_CLIENT,
    };
    ir.sans.dns = dns;
    assert_int_equal(st_x509_issue(&ir, &leaf, NULL), 0);
    assert_int_equal(st_x509_to_pem(leaf, &leaf_pem), 0);
    assert_int_equal(st_x509_to_pem(s->issuer.cert, &chain_pem), 0);
    assert_int_equal(st_certify_resp_encode(leaf_pem.data, chain_pem.data, 0, &out), 0);
    goto send;
answer:
    assert_int_equal(st_certify_error_encode(status, "test refusal", &out), 0);
send:
    st_httpd_respond_simple(req, status, "application/json", out.data, out.len);
    st_certify_req_free(&r);
    st_x509_csr_info_free(&info);
    X509_free(leaf);
    EVP_PKEY_free(other);
    st_buf_free(&out);
    st_buf_free(&leaf_pem);
    st_buf_free(&chain_pem);
}

static void *
server_run(void *arg)
{
    struct server *s = arg;
    st_ev_run(s->loop);
    return NULL;
}

static void
server_stop_cb(void *arg)
{
    struct server *s = arg;
    st_ev_stop(s->loop);
}

/* A server whose certificate names SERVER_ID, issued under a fresh root. */
static int
server_setup(void **state)
{
    struct server *s = st_xcalloc(1, sizeof(*s));
    struct pki_leaf srv;
    struct st_buf pem = ST_BUF_INIT(0);
    struct st_tls_ctx *ctx = NULL;
    char addr[64];

    pki_root(&s->root, "root.test");
    pki_intermediate(&s->issuer, &s->root, "identity.strait.cluster.local");
    pki_workload(&srv, &s->issuer, "ctl", "strait", 0);
    assert_int_equal(st_x509_to_pem(s->root.cert, &pem), 0);
    s->anchors_pem = st_buf_steal(&pem);
    STACK_OF(X509) *chain = pki_stack(s->issuer.cert, NULL);
    struct st_tls_config cfg = {.server = true,
                                .cert = srv.cert,
                                .chain = chain,
                                .key = srv.key,
                                .min_version = ST_TLS_1_2};
    assert_int_equal(st_tls_ctx_new(&cfg, &ctx, NULL), 0);
    st_x509_chain_free(chain);
    pki_leaf_free(&srv);
    s->loop = st_ev_new(NULL);
    st_tls_slot_init(&s->tls);
    st_tls_slot_set(&s->tls, ctx);
    struct st_httpd_options ho = {.listen = "127.0.0.1:0", .tls = &s->tls, .max_body = 64 << 10};
    s->httpd = st_httpd_new(s->loop, &ho, server_handle, s, NULL);
    assert_non_null(s->httpd);
    st_sock_format_addr(st_httpd_addr(s->httpd), addr, sizeof(addr));
    st_strlcpy(s->port, strrchr(addr, ':') + 1, sizeof(s->port));
    assert_int_equal(pthread_create(&s->thread, NULL, server_run, s), 0);
    *state = s;
    return 0;
}

static int
server_teardown(void **state)
{
    struct server *s = *state;

    st_ev_post(s->loop, server_stop_cb, s);
    pthread_join(s->thread, NULL);
    st_httpd_free(s->httpd);
    st_tls_slot_fini(&s->tls);
    st_ev_free(s->loop);
    pki_ca_free(&s->root);
    pki_ca_free(&s->issuer);
    free(s->anchors_pem);
    free(s);
    return 0;
}

static void
client_opts(struct server *s, struct st_certify_opts *o, char *addr, size_t n)
{
    snprintf(addr, n, "127.0.0.1:%s", s->port);
    memset(o, 0, sizeof(*o));
    o->addr = addr;
    o->server_identity = SERVER_ID;
    o->anchors_pem = s->anchors_pem;
    o->token = "tok-123";
    o->identity_dns = WEB_DNS;
    o->identity_uri = WEB_URI;
    o->timeout_ms = 5000;
}

static void
test_client_ok(void **state)
{
    struct server *s = *state;
    struct st_certify_opts o;
    struct st_certify_result res;
    struct st_err err = {0};
    char addr[64];
    EVP_PKEY *key = st_x509_key_new_p256();

    s->mode = SERVE_SIGN;
    client_opts(s, &o, addr, sizeof(addr));
    assert_int_equal(st_certify_request(&o, key, &res, &err), 0);
    assert_int_equal(res.http_status, 200);
    assert_string_equal(s->last_token, "tok-123");
    assert_non_null(strstr(res.certificate, "BEGIN CERTIFICATE"));
    assert_non_null(strstr(res.chain, "BEGIN CERTIFICATE"));
    assert_true(res.not_after - res.not_before == 3600 + 20);
    assert_true(res.not_before <= st_wall_s() - 19);
    st_certify_result_free(&res);

    /* The token from a file, with its trailing newline dropped. */
    char path[] = "/tmp/certify-token-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "file-token\n", 11), 11);
    close(fd);
    o.token = NULL;
    o.token_file = path;
    assert_int_equal(st_certify_request(&o, key, &res, &err), 0);
    assert_string_equal(s->last_token, "file-token");
    st_certify_result_free(&res);
    unlink(path);
    assert_int_equal(st_certify_request(&o, key, &res, &err), -ENOENT);
    assert_int_equal(res.http_status, 0);
    EVP_PKEY_free(key);
}

static void
test_client_refusals(void **state)
{
    struct server *s = *state;
    struct st_certify_opts o;
    struct st_certify_result res;
    struct st_err err = {0};
    char addr[64];
    EVP_PKEY *key = st_x509_key_new_p256();
    static const struct {
        int status, code;
    } cases[] = {{400, ST_EINVAL},  {401, ST_EAUTH}, {403, ST_EAUTH},
                 {413, ST_ETOOBIG}, {503, -EAGAIN},  {500, ST_EPROTO}};

    client_opts(s, &o, addr, sizeof(addr));
    s->mode = SERVE_STATUS;
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        s->status = cases[i].status;
        assert_int_equal(st_certify_request(&o, key, &res, &err), cases[i].code);
        assert_int_equal(res.http_status, cases[i].status);
        assert_null(res.certificate);
        assert_non_null(strstr(err.msg, "test refusal"));
    }
    /* A leaf for another key, or garbage, is refused. */
    s->mode = SERVE_WRONG_KEY;
    assert_int_equal(st_certify_request(&o, key, &res, &err), ST_ETLS);
    assert_non_null(strstr(err.msg, "not for our key"));
    s->mode = SERVE_GARBAGE;
    assert_true(st_certify_request(&o, key, &res, &err) < 0);
    assert_null(res.certificate);
    /* The returned leaf must name the identity we asked for. */
    s->mode = SERVE_SIGN;
    o.identity_dns = "other.emojivoto.serviceaccount.identity.strait.cluster.local";
    char *csr = NULL;
    const char *dns[] = {WEB_DNS, NULL}, *uris[] = {WEB_URI, NULL};
    struct st_x509_sans sans = {.dns = dns, .uris = uris};
    assert_int_equal(st_x509_csr_new(key, NULL, &sans, &csr, NULL), 0);
    assert_int_equal(st_certify_request_csr(&o, key, csr, &res, &err), ST_ETLS);
    assert_non_null(strstr(err.msg, "does not name"));
    free(csr);
    EVP_PKEY_free(key);
}

static void
test_client_verifies_server(void **state)
{
    struct server *s = *state;
    struct st_certify_opts o;
    struct st_certify_result res;
    struct st_err err = {0};
    char addr[64];
    EVP_PKEY *key = st_x509_key_new_p256();
    struct pki_ca other;

    s->mode = SERVE_SIGN;
    client_opts(s, &o, addr, sizeof(addr));
    /* Another identity than the server's. */
    o.server_identity = "ctl.other.serviceaccount.identity.strait.cluster.local";
    assert_int_equal(st_certify_request(&o, key, &res, &err), ST_ETLS);
    assert_int_equal(res.http_status, 0);
    /* No identity: the host of the address (127.0.0.1) is not in the certificate. */
    o.server_identity = NULL;
    assert_int_equal(st_certify_request(&o, key, &res, &err), ST_ETLS);
    /* Foreign anchors. */
    pki_root(&other, "other.root");
    struct st_buf pem = ST_BUF_INIT(0);
    assert_int_equal(st_x509_to_pem(other.cert, &pem), 0);
    o.server_identity = SERVER_ID;
    o.anchors_pem = pem.data;
    assert_int_equal(st_certify_request(&o, key, &res, &err), ST_ETLS);
    st_buf_free(&pem);
    pki_ca_free(&other);
    /* Bad options. */
    o.anchors_pem = NULL;
    assert_int_equal(st_certify_request(&o, key, &res, &err), ST_EINVAL);
    o.anchors_pem = s->anchors_pem;
    o.addr = "127.0.0.1";
    assert_int_equal(st_certify_request(&o, key, &res, &err), ST_EINVAL);
    o.addr = "127.0.0.1:1";
    assert_int_equal(st_certify_request(&o, key, &res, &err), -ECONNREFUSED);
    o.addr = addr;
    o.token = "has space";
    assert_int_equal(st_certify_request(&o, key, &res, &err), ST_EINVAL);
    EVP_PKEY_free(key);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_names),
        cmocka_unit_test(test_parse_username),
        cmocka_unit_test(test_req_parse),
        cmocka_unit_test(test_req_caps),
        cmocka_unit_test(test_req_roundtrip),
        cmocka_unit_test(test_resp_roundtrip),
        cmocka_unit_test(test_renew_at),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test_setup_teardown(test_client_ok, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_client_refusals, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_client_verifies_server, server_setup, server_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
