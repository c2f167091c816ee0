/* Unit tests for lib/tls/x509.c: issuance profile, chains, PEM, keys and CSRs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "strait/x509.h"
#include "test_pki.h"

/* ---- issuance and chains ---------------------------------------------------------- */

static void
test_workload_profile(void **state)
{
    struct pki_ca root, inter;
    struct pki_leaf leaf;
    struct st_x509_info info;
    struct st_err err = {0};
    int64_t now = st_wall_s();

    pki_root(&root, "root.strait");
    pki_intermediate(&inter, &root, "identity.strait.cluster.local");
    pki_workload(&leaf, &inter, "web", "emojivoto", 0);

    assert_int_equal(st_x509_inspect(leaf.cert, &info, &err), 0);
    assert_int_equal(info.names.n_dns, 1);
    assert_string_equal(info.names.dns[0],
                        "web.emojivoto.serviceaccount.identity.strait.cluster.local");
    assert_int_equal(info.names.n_uris, 1);
    assert_string_equal(info.names.uris[0], "spiffe://cluster.local/ns/emojivoto/sa/web");
    assert_int_equal(info.names.n_ips, 0);
    assert_int_equal(info.names.n_other, 0);
    assert_string_equal(info.cn, leaf.dns);
    assert_int_equal(info.eku, ST_X509_EKU_SERVER | ST_X509_EKU_CLIENT);
    assert_false(info.is_ca);
    assert_string_equal(info.key_type, "EC P-256");
    /* Back-dated by 20 s, valid for 24 h from now. */
    assert_true(info.not_before >= now - 22 && info.not_before <= now - 18);
    assert_int_equal(info.not_after - info.not_before, 86400 + 20);
    assert_non_null(strstr(info.issuer, "CN=identity.strait.cluster.local"));
    assert_true(strlen(info.serial_hex) >= 16 && strlen(info.serial_hex) <= 32);
    assert_int_equal(strlen(info.sha256), 64);
    st_x509_info_free(&info);

    /* Two leaves never share a serial. */
    struct pki_leaf other;
    struct st_x509_info info2;
    pki_workload(&other, &inter, "web", "emojivoto", 0);
    assert_int_equal(st_x509_inspect(leaf.cert, &info, NULL), 0);
    assert_int_equal(st_x509_inspect(other.cert, &info2, NULL), 0);
    assert_string_not_equal(info.serial_hex, info2.serial_hex);
    st_x509_info_free(&info);
    st_x509_info_free(&info2);
    pki_leaf_free(&other);

    assert_int_equal(st_x509_inspect(inter.cert, &info, &err), 0);
    assert_true(info.is_ca);
    assert_int_equal(info.pathlen, 0);
    assert_int_equal(info.eku, 0);
    st_x509_info_free(&info);
    assert_int_equal(st_x509_inspect(root.cert, &info, &err), 0);
    assert_true(info.is_ca);
    assert_int_equal(info.pathlen, -1);
    assert_string_equal(info.subject, info.issuer);
    st_x509_info_free(&info);

    assert_true(st_x509_has_dns_san(leaf.cert, leaf.dns));
    assert_true(st_x509_has_dns_san(leaf.cert,
                                    "WEB.emojivoto.serviceaccount.identity.strait.cluster.local"));
    assert_false(st_x509_has_dns_san(leaf.cert, "web.emojivoto"));

    pki_leaf_free(&leaf);
    pki_ca_free(&inter);
    pki_ca_free(&root);
}

static void
test_verify_chain(void **state)
{
    struct pki_ca root, inter, foreign;
    struct pki_leaf leaf;
    struct st_err err = {0};

    pki_root(&root, "root.strait");
    pki_root(&foreign, "root.elsewhere");
    pki_intermediate(&inter, &root, "issuer");
    pki_workload(&leaf, &inter, "web", "ns", 0);
    STACK_OF(X509) *anchors = pki_stack(root.cert, NULL);
    STACK_OF(X509) *inters = pki_stack(inter.cert, NULL);
    STACK_OF(X509) *foreign_anchors = pki_stack(foreign.cert, NULL);
    int64_t now = st_wall_s();

    assert_int_equal(st_x509_verify_chain(leaf.cert, inters, anchors, 0, &err), 0);
    assert_int_equal(st_x509_verify_chain(inter.cert, NULL, anchors, 0, &err), 0);
    /* Missing intermediate, foreign anchor, expired, not yet valid. */
    assert_int_equal(st_x509_verify_chain(leaf.cert, NULL, anchors, 0, &err), ST_ETLS);
    assert_non_null(strstr(err.msg, "issuer"));
    assert_int_equal(st_x509_verify_chain(leaf.cert, inters, foreign_anchors, 0, &err), ST_ETLS);
    assert_int_equal(st_x509_verify_chain(leaf.cert, inters, anchors, now + 86400 + 60, &err),
                     ST_ETLS);
    assert_non_null(strstr(err.msg, "expired"));
    assert_int_equal(st_x509_verify_chain(leaf.cert, inters, anchors, now - 60, &err), ST_ETLS);
    assert_non_null(strstr(err.msg, "not yet valid"));
    /* Within the 20 s backdate the leaf is already valid. */
    assert_int_equal(st_x509_verify_chain(leaf.cert, inters, anchors, now - 10, &err), 0);
    assert_int_equal(st_x509_verify_chain(leaf.cert, inters, NULL, 0, &err), ST_EINVAL);

    /* A leaf cannot act as a CA, and pathlen 0 forbids a CA below the intermediate. */
    struct pki_ca fake = {leaf.cert, leaf.key};
    struct pki_leaf below_leaf;
    pki_workload(&below_leaf, &fake, "evil", "ns", 0);
    STACK_OF(X509) *inters2 = pki_stack(inter.cert, leaf.cert);
    assert_int_equal(st_x509_verify_chain(below_leaf.cert, inters2, anchors, 0, &err), ST_ETLS);
    struct pki_ca sub;
    pki_intermediate(&sub, &inter, "sub-ca");
    struct pki_leaf below_sub;
    pki_workload(&below_sub, &sub, "evil", "ns", 0);
    STACK_OF(X509) *inters3 = pki_stack(inter.cert, sub.cert);
    assert_int_equal(st_x509_verify_chain(below_sub.cert, inters3, anchors, 0, &err), ST_ETLS);
    assert_non_null(strstr(err.msg, "path length"));

    st_x509_chain_free(inters3);
    st_x509_chain_free(inters2);
    pki_leaf_free(&below_sub);
    pki_ca_free(&sub);
    pki_leaf_free(&below_leaf);
    st_x509_chain_free(foreign_anchors);
    st_x509_chain_free(inters);
    st_x509_chain_free(anchors);
    pki_leaf_free(&leaf);
    pki_ca_free(&inter);
    pki_ca_free(&foreign);
    pki_ca_free(&root);
}

static void
test_issue_limits(void **state)
{
    struct pki_ca root, other;
    struct st_x509_issue_req req = {0};
    struct st_x509_info info, ca_info;
    struct st_err err = {0};
    X509 *cert = NULL;
    EVP_PKEY *key = st_x509_key_new_p256();
    const char *ips[] = {"127.0.3.1", "::1", NULL};
    const char *bad_ips[] = {"127.0.0.300", NULL};
    const char *dns[] = {"localhost", "strait-apiserver", NULL};

    assert_int_equal(st_x509_ca_new("short-lived", 100, &root.cert, &root.key, &err), 0);
    pki_root(&other, "other");

    /* An apiserver serving certificate: DNS and IP SANs, server auth only. */
    req.issuer_cert = root.cert;
    req.issuer_key = root.key;
    req.subject_key = key;
    req.cn = "strait-apiserver";
    req.sans.dns = dns;
    req.sans.ips = ips;
    req.lifetime_s = 86400;
    req.eku = ST_X509_EKU_SERVER;
    assert_int_equal(st_x509_issue(&req, &cert, &err), 0);
    assert_int_equal(st_x509_inspect(cert, &info, &err), 0);
    assert_int_equal(st_x509_inspect(root.cert, &ca_info, &err), 0);
    assert_int_equal(info.names.n_ips, 2);
    assert_string_equal(info.names.ips[0], "127.0.3.1");
    assert_string_equal(info.names.ips[1], "::1");
    assert_int_equal(info.names.n_dns, 2);
    assert_int_equal(info.eku, ST_X509_EKU_SERVER);
    /* Clamped to the issuer's NotAfter. */
    assert_int_equal(info.not_after, ca_info.not_after);
    st_x509_info_free(&info);
    st_x509_info_free(&ca_info);
    X509_free(cert);
    cert = NULL;

    /* Errors: a bad IP, an issuer key that does not match, a zero lifetime. */
    req.sans.ips = bad_ips;
    assert_int_equal(st_x509_issue(&req, &cert, &err), ST_EINVAL);
    assert_null(cert);
    req.sans.ips = ips;
    req.issuer_key = other.key;
    assert_int_equal(st_x509_issue(&req, &cert, &err), ST_EINVAL);
    assert_null(cert);
    req.issuer_key = root.key;
    req.lifetime_s = 0;
    assert_int_equal(st_x509_issue(&req, &cert, &err), ST_EINVAL);
    /* Self-signed with a key other than the subject's. */
    req.lifetime_s = 60;
    req.issuer_cert = NULL;
    assert_int_equal(st_x509_issue(&req, &cert, &err), ST_EINVAL);
    /* An issuer that has expired by <now>. */
    req.issuer_cert = root.cert;
    req.now = st_wall_s() + 3600;
    assert_int_equal(st_x509_issue(&req, &cert, &err), ST_EINVAL);
    assert_null(cert);

    EVP_PKEY_free(key);
    pki_ca_free(&other);
    pki_ca_free(&root);
}

/* ---- keys and PEM ------------------------------------------------------------------ */

static void
test_key_pem_and_files(void **state)
{
    struct st_buf pem = ST_BUF_INIT(0);
    struct st_err err = {0};
    EVP_PKEY *key = st_x509_key_new_p256();
    EVP_PKEY *back = NULL;
    char dir[] = "/tmp/st-x509-XXXXXX";
    struct stat st;

    assert_non_null(key);
    assert_true(st_x509_key_is_p256(key));
    assert_int_equal(st_x509_key_to_pem(key, &pem, &err), 0);
    assert_non_null(strstr(st_buf_cstr(&pem), "-----BEGIN PRIVATE KEY-----"));
    assert_int_equal(st_x509_key_from_pem(pem.data, pem.len, &back, &err), 0);
    assert_int_equal(EVP_PKEY_eq(key, back), 1);
    EVP_PKEY_free(back);
    st_buf_free_secret(&pem);
    assert_int_equal(st_x509_key_from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n", 0, &back, &err),
                     ST_EPARSE);
    assert_null(back);

    /* An encrypted key is refused without prompting for a passphrase. */
    BIO *bio = BIO_new(BIO_s_mem());
    char *enc = NULL;
    assert_int_equal(PEM_write_bio_PrivateKey(bio, key, EVP_aes_128_cbc(),
                                              (const unsigned char *)"pw", 2, NULL, NULL),
                     1);
    long enc_len = BIO_get_mem_data(bio, &enc);
    assert_int_equal(st_x509_key_from_pem(enc, (size_t)enc_len, &back, &err), ST_EPARSE);
    assert_null(back);
    BIO_free(bio);

    assert_non_null(mkdtemp(dir));
    char *path = st_xasprintf("%s/key.pem", dir);
    assert_int_equal(st_x509_key_write_file(path, key, false, &err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st_x509_key_read_file(path, &back, &err), 0);
    assert_int_equal(EVP_PKEY_eq(key, back), 1);
    EVP_PKEY_free(back);

    /* Refuses to overwrite unless asked; the old key stays. */
    EVP_PKEY *key2 = st_x509_key_new_p256();
    assert_int_equal(st_x509_key_write_file(path, key2, false, &err), -EEXIST);
    assert_int_equal(st_x509_key_read_file(path, &back, &err), 0);
    assert_int_equal(EVP_PKEY_eq(key, back), 1);
    EVP_PKEY_free(back);
    assert_int_equal(st_x509_key_write_file(path, key2, true, &err), 0);
    assert_int_equal(st_x509_key_read_file(path, &back, &err), 0);
    assert_int_equal(EVP_PKEY_eq(key2, back), 1);
    EVP_PKEY_free(back);

    char *missing = st_xasprintf("%s/missing.pem", dir);
    assert_int_equal(st_x509_key_read_file(missing, &back, &err), -ENOENT);
    assert_null(back);

    unlink(path);
    rmdir(dir);
    free(missing);
    free(path);
    EVP_PKEY_free(key2);
    EVP_PKEY_free(key);
}

static void
test_bundles(void **state)
{
    struct pki_ca root, inter;
    struct pki_leaf leaf;
    struct st_buf b = ST_BUF_INIT(0);
    struct st_err err = {0};
    STACK_OF(X509) *chain = NULL;
    X509 *one = NULL;
    char dir[] = "/tmp/st-x509-XXXXXX";

    pki_root(&root, "root");
    pki_intermediate(&inter, &root, "inter");
    pki_workload(&leaf, &inter, "a", "b", 0);

    /* A key block among certificates is skipped. */
    assert_int_equal(st_x509_to_pem(leaf.cert, &b), 0);
    assert_int_equal(st_x509_key_to_pem(leaf.key, &b, &err), 0);
    STACK_OF(X509) *two = pki_stack(inter.cert, root.cert);
    assert_int_equal(st_x509_chain_to_pem(two, &b), 0);
    assert_int_equal(st_x509_bundle_from_pem(b.data, b.len, &chain, &err), 0);
    assert_int_equal(sk_X509_num(chain), 3);
    assert_int_equal(X509_cmp(sk_X509_value(chain, 0), leaf.cert), 0);
    assert_int_equal(X509_cmp(sk_X509_value(chain, 2), root.cert), 0);
    st_x509_chain_free(chain);
    assert_int_equal(st_x509_from_pem(b.data, b.len, &one, &err), ST_EINVAL);
    assert_null(one);
    st_buf_free_secret(&b);

    assert_int_equal(st_x509_to_pem(root.cert, &b), 0);
    assert_int_equal(st_x509_from_pem(b.data, 0, &one, &err), 0);
    assert_int_equal(X509_cmp(one, root.cert), 0);
    X509_free(one);
    /* A truncated block and an empty bundle. */
    assert_int_equal(st_x509_bundle_from_pem(b.data, b.len / 2, &chain, &err), ST_EPARSE);
    assert_null(chain);
    assert_int_equal(st_x509_bundle_from_pem("hello\n", 0, &chain, &err), ST_EPARSE);
    st_buf_free(&b);

    /* DER is accepted for a single certificate. */
    unsigned char *der = NULL;
    int n = i2d_X509(leaf.cert, &der);
    assert_true(n > 0);
    assert_int_equal(st_x509_from_pem((const char *)der, (size_t)n, &one, &err), 0);
    assert_int_equal(X509_cmp(one, leaf.cert), 0);
    X509_free(one);
    OPENSSL_free(der);

    assert_non_null(mkdtemp(dir));
    char *path = st_xasprintf("%s/chain.pem", dir);
    assert_int_equal(st_x509_write_pem_file(path, leaf.cert, two, 0644, &err), 0);
    assert_int_equal(st_x509_bundle_read_file(path, &chain, &err), 0);
    assert_int_equal(sk_X509_num(chain), 3);
    st_x509_chain_free(chain);
    unlink(path);
    rmdir(dir);
    free(path);

    st_x509_chain_free(two);
    pki_leaf_free(&leaf);
    pki_ca_free(&inter);
    pki_ca_free(&root);
}

static void
test_info_print(void **state)
{
    struct pki_ca root;
    struct pki_leaf leaf;
    struct st_x509_info info;
    struct st_buf b = ST_BUF_INIT(0);

    pki_root(&root, "root");
    pki_workload(&leaf, &root, "sa", "ns", 0);
    assert_int_equal(st_x509_inspect(leaf.cert, &info, NULL), 0);
    assert_int_equal(st_x509_info_print(&info, &b), 0);
    const char *s = st_buf_cstr(&b);
    assert_non_null(strstr(s, "subject: CN=sa.ns.serviceaccount.identity.strait.cluster.local\n"));
    assert_non_null(strstr(s, "issuer: CN=root\n"));
    assert_non_null(strstr(s, "dns: sa.ns.serviceaccount.identity.strait.cluster.local\n"));
    assert_non_null(strstr(s, "uri: spiffe://cluster.local/ns/ns/sa/sa\n"));
    assert_non_null(strstr(s, "is_ca: false\n"));
    assert_non_null(strstr(s, "eku: serverAuth clientAuth"));
    assert_non_null(strstr(s, "key: EC P-256\n"));
    assert_non_null(strstr(s, "sha256: "));
    assert_non_null(strstr(s, "not_after: 20"));
    st_buf_free(&b);
    st_x509_info_free(&info);
    pki_leaf_free(&leaf);
    pki_ca_free(&root);
}

/* ---- CSRs -------------------------------------------------------------------------- */

#define CSR_DNS "web.emojivoto.serviceaccount.identity.strait.cluster.local"
#define CSR_URI "spiffe://cluster.local/ns/emojivoto/sa/web"

/*
 * Returns a new PEM CSR built directly with OpenSSL: a DNS SAN for CSR_DNS
 * plus extension <nid> = <value> (OpenSSL conf syntax); for the SAN nid,
 * <value> replaces the default SAN.
 */
static char *
csr_with_ext(EVP_PKEY *key, int nid, const char *value)
{
    X509_REQ *req = X509_REQ_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509V3_CTX ctx;
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    char *pem;

    X509_REQ_set_pubkey(req, key);
    X509V3_set_ctx(&ctx, NULL, NULL, req, NULL, 0);
    if (nid != NID_subject_alt_name)
        sk_X509_EXTENSION_push(
            exts, X509V3_EXT_nconf_nid(NULL, &ctx, NID_subject_alt_name, "DNS:" CSR_DNS));
    sk_X509_EXTENSION_push(exts, X509V3_EXT_nconf_nid(NULL, &ctx, nid, value));
    assert_non_null(sk_X509_EXTENSION_value(exts, sk_X509_EXTENSION_num(exts) - 1));
    X509_REQ_add_extensions(req, exts);
    assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
    PEM_write_bio_X509_REQ(bio, req);
    long n = BIO_get_mem_data(bio, &data);
    pem = st_xstrndup(data, (size_t)n);
    BIO_free(bio);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    return pem;
}

/* Parses <pem> and runs the identity check for CSR_DNS / CSR_URI. */
static int
csr_check(const char *pem)
{
    struct st_x509_csr_info info;
    struct st_err err = {0};
    int rc = st_x509_csr_parse(pem, strlen(pem), &info, &err);

    if (rc == 0)
        rc = st_x509_csr_check_identity(&info, CSR_DNS, CSR_URI, &err);
    st_x509_csr_info_free(&info);
    return rc;
}

static int
csr_check_names(EVP_PKEY *key, const char *cn, const char *const *dns, const char *const *uris,
                const char *const *ips)
{
    struct st_x509_sans sans = {dns, ips, uris};
    char *pem = NULL;

    assert_int_equal(st_x509_csr_new(key, cn, &sans, &pem, NULL), 0);
    int rc = csr_check(pem);
    free(pem);
    return rc;
}

/* The request in <pem> holds the public half of <key> and its signature verifies with it. */
static void
csr_assert_key(const char *pem, EVP_PKEY *key)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509_REQ *req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);

    assert_non_null(req);
    assert_int_equal(EVP_PKEY_eq(X509_REQ_get0_pubkey(req), key), 1);
    assert_int_equal(X509_REQ_verify(req, key), 1);
    X509_REQ_free(req);
    BIO_free(bio);
}

static void
test_csr_round_trip(void **state)
{
    EVP_PKEY *key = st_x509_key_new_p256();
    const char *dns[] = {CSR_DNS, NULL};
    const char *uris[] = {CSR_URI, NULL};
    struct st_x509_sans sans = {dns, NULL, uris};
    struct st_x509_csr_info info;
    struct st_err err = {0};
    char *pem = NULL;

    assert_int_equal(st_x509_csr_new(key, CSR_DNS, &sans, &pem, &err), 0);
    assert_non_null(strstr(pem, "-----BEGIN CERTIFICATE REQUEST-----"));
    csr_assert_key(pem, key);
    assert_int_equal(st_x509_csr_parse(pem, strlen(pem), &info, &err), 0);
    assert_string_equal(info.cn, CSR_DNS);
    assert_int_equal(info.names.n_dns, 1);
    assert_string_equal(info.names.dns[0], CSR_DNS);
    assert_int_equal(info.names.n_uris, 1);
    assert_false(info.requests_ca);
    assert_int_equal(EVP_PKEY_eq(info.key, key), 1);
    assert_int_equal(st_x509_csr_check_identity(&info, CSR_DNS, CSR_URI, &err), 0);
    /* A URI SAN is refused when none is expected. */
    assert_int_equal(st_x509_csr_check_identity(&info, CSR_DNS, NULL, &err), ST_EAUTH);
    st_x509_csr_info_free(&info);

    /* The same request as DER. */
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509_REQ *req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
    unsigned char *der = NULL;
    int n = i2d_X509_REQ(req, &der);
    assert_int_equal(st_x509_csr_parse((const char *)der, (size_t)n, &info, &err), 0);
    assert_int_equal(st_x509_csr_check_identity(&info, CSR_DNS, CSR_URI, &err), 0);
    st_x509_csr_info_free(&info);
    /* Trailing bytes after the DER are refused. */
    unsigned char *longer = st_xmalloc((size_t)n + 1);
    memcpy(longer, der, (size_t)n);
    longer[n] = 0;
    assert_int_equal(st_x509_csr_parse((const char *)longer, (size_t)n + 1, &info, &err),
                     ST_EPARSE);
    /* A flipped byte in the signature. */
    memcpy(longer, der, (size_t)n);
    longer[n - 1] ^= 0x01;
    assert_int_equal(st_x509_csr_parse((const char *)longer, (size_t)n, &info, &err), ST_EAUTH);
    assert_null(info.key);
    free(longer);
    OPENSSL_free(der);
    X509_REQ_free(req);
    BIO_free(bio);

    /* A request signed and issued: the issuer uses the CSR's key. */
    assert_int_equal(st_x509_csr_parse(pem, strlen(pem), &info, &err), 0);
    struct pki_ca root;
    pki_root(&root, "root");
    struct st_x509_issue_req ir = {0};
    X509 *cert = NULL;
    ir.issuer_cert = root.cert;
    ir.issuer_key = root.key;
    ir.subject_key = info.key;
    ir.cn = CSR_DNS;
    ir.sans = sans;
    ir.lifetime_s = 86400;
    ir.backdate_s = 20;
    ir.eku = ST_X509_EKU_SERVER | ST_X509_EKU_CLIENT;
    assert_int_equal(st_x509_issue(&ir, &cert, &err), 0);
    assert_int_equal(X509_check_private_key(cert, key), 1);
    X509_free(cert);
    pki_ca_free(&root);
    st_x509_csr_info_free(&info);

    free(pem);
    EVP_PKEY_free(key);
}

static void
test_csr_identity_refusals(void **state)
{
    EVP_PKEY *key = st_x509_key_new_p256();
    const char *ok_dns[] = {CSR_DNS, NULL};
    const char *two_dns[] = {CSR_DNS, "admin.kube-system.serviceaccount.identity.strait.x", NULL};
    const char *wrong_dns[] = {"admin.kube-system.serviceaccount.identity.strait.x", NULL};
    const char *ok_uri[] = {CSR_URI, NULL};
    const char *wrong_uri[] = {"spiffe://cluster.local/ns/kube-system/sa/admin", NULL};
    const char *two_uri[] = {CSR_URI, CSR_URI, NULL};
    const char *ip[] = {"10.0.0.1", NULL};

    assert_int_equal(csr_check_names(key, NULL, ok_dns, NULL, NULL), 0);
    assert_int_equal(csr_check_names(key, CSR_DNS, ok_dns, ok_uri, NULL), 0);
    assert_int_equal(csr_check_names(key, NULL, two_dns, NULL, NULL), ST_EAUTH);
    assert_int_equal(csr_check_names(key, NULL, wrong_dns, NULL, NULL), ST_EAUTH);
    assert_int_equal(csr_check_names(key, NULL, NULL, ok_uri, NULL), ST_EAUTH);
    assert_int_equal(csr_check_names(key, NULL, ok_dns, wrong_uri, NULL), ST_EAUTH);
    assert_int_equal(csr_check_names(key, NULL, ok_dns, two_uri, NULL), ST_EAUTH);
    assert_int_equal(csr_check_names(key, NULL, ok_dns, NULL, ip), ST_EAUTH);
    assert_int_equal(csr_check_names(key, "someone-else", ok_dns, NULL, NULL), ST_EAUTH);

    /* CA requests and unexpected extensions; CA:FALSE and EKU are fine. */
    char *pem = csr_with_ext(key, NID_basic_constraints, "critical,CA:TRUE");
    assert_int_equal(csr_check(pem), ST_EAUTH);
    free(pem);
    pem = csr_with_ext(key, NID_basic_constraints, "CA:FALSE");
    assert_int_equal(csr_check(pem), 0);
    free(pem);
    pem = csr_with_ext(key, NID_ext_key_usage, "serverAuth,clientAuth");
    assert_int_equal(csr_check(pem), 0);
    free(pem);
    pem = csr_with_ext(key, NID_netscape_comment, "hello");
    assert_int_equal(csr_check(pem), ST_EAUTH);
    free(pem);
    /* An email name is "another name". */
    pem = csr_with_ext(key, NID_subject_alt_name, "DNS:" CSR_DNS ",email:a@b.c");
    assert_int_equal(csr_check(pem), ST_EAUTH);
    free(pem);
    pem = csr_with_ext(key, NID_subject_alt_name, "DNS:" CSR_DNS);
    assert_int_equal(csr_check(pem), 0);
    free(pem);

    /* Keys other than P-256 are refused at parse time. */
    EVP_PKEY *p384 = EVP_EC_gen("P-384");
    EVP_PKEY *rsa = EVP_RSA_gen(2048);
    struct st_x509_sans sans = {ok_dns, NULL, NULL};
    struct st_x509_csr_info info;
    struct st_err err = {0};
    assert_int_equal(st_x509_csr_new(p384, NULL, &sans, &pem, &err), 0);
    csr_assert_key(pem, p384); /* well formed and signed, with the key's curve and point */
    assert_int_equal(st_x509_csr_parse(pem, strlen(pem), &info, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "P-256"));
    free(pem);
    assert_int_equal(st_x509_csr_new(rsa, NULL, &sans, &pem, &err), 0);
    csr_assert_key(pem, rsa);
    assert_int_equal(st_x509_csr_parse(pem, strlen(pem), &info, &err), ST_EINVAL);
    free(pem);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(rsa);

    /* Garbage, empty and oversized input. */
    assert_int_equal(
        st_x509_csr_parse("-----BEGIN CERTIFICATE REQUEST-----\nAAA\n", 40, &info, &err),
        ST_EPARSE);
    assert_int_equal(st_x509_csr_parse("\x30\x03\x02\x01\x00", 5, &info, &err), ST_EPARSE);
    assert_int_equal(st_x509_csr_parse("", 0, &info, &err), ST_EPARSE);
    char *big = st_xcalloc(1, ST_X509_CSR_MAX + 1);
    assert_int_equal(st_x509_csr_parse(big, ST_X509_CSR_MAX + 1, &info, &err), ST_ETOOBIG);
    free(big);
    /* The check refuses an empty record. */
    assert_int_equal(st_x509_csr_check_identity(&info, CSR_DNS, NULL, &err), ST_EAUTH);

    EVP_PKEY_free(key);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workload_profile), cmocka_unit_test(test_verify_chain),
        cmocka_unit_test(test_issue_limits),     cmocka_unit_test(test_key_pem_and_files),
        cmocka_unit_test(test_bundles),          cmocka_unit_test(test_info_print),
        cmocka_unit_test(test_csr_round_trip),   cmocka_unit_test(test_csr_identity_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
