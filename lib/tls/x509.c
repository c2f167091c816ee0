/*
 * X.509 for strait on OpenSSL 3: keys, CAs, issuance, CSRs, bundles, chain
 * verification and inspection. See include/strait/x509.h for the contracts
 * and docs/identity.md for the certificate profile.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "strait/x509.h"

/* ---- errors ------------------------------------------------------------------ */

/*
 * Sets <err> to "<what>: <first OpenSSL reason>" and drains this thread's
 * OpenSSL error queue, so that a later failure does not report a stale reason.
 */
static int
x509_fail(struct st_err *err, int code, const char *what)
{
    unsigned long e = ERR_peek_error();
    char reason[160];

    if (e != 0) {
        ERR_error_string_n(e, reason, sizeof(reason));
        ERR_clear_error();
        return st_err_set(err, code, "%s: %s", what, reason);
    }
    return st_err_set(err, code, "%s", what);
}

/*
 * A passphrase callback that has none. Without it OpenSSL's default callback
 * would prompt on the terminal for a PEM block that claims to be encrypted.
 */
static int
x509_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return -1;
}

/* ---- names ------------------------------------------------------------------- */

static void
x509_strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void
st_x509_names_free(struct st_x509_names *n)
{
    x509_strv_free(n->dns, n->n_dns);
    x509_strv_free(n->ips, n->n_ips);
    x509_strv_free(n->uris, n->n_uris);
    memset(n, 0, sizeof(*n));
}

static void
x509_strv_push(char ***v, size_t *n, char *s)
{
    *v = st_xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = s;
}

/*
 * Copies an IA5String out of a certificate or CSR. Only printable ASCII
 * without spaces is accepted: an embedded NUL or control byte in a name is
 * an attack on whoever compares names as C strings.
 */
static int
x509_ia5_dup(const ASN1_STRING *s, char **out, struct st_err *err)
{
    const unsigned char *p = ASN1_STRING_get0_data(s);
    int n = ASN1_STRING_length(s);

    if (n <= 0 || (size_t)n > ST_X509_NAME_MAX)
        return st_err_set(err, ST_EPARSE, "name is empty or longer than %u bytes",
                          ST_X509_NAME_MAX);
    for (int i = 0; i < n; i++)
        if (p[i] <= 0x20 || p[i] >= 0x7f)
            return st_err_set(err, ST_EPARSE, "name holds a byte that is not printable ASCII");
    *out = st_xstrndup((const char *)p, (size_t)n);
    return 0;
}

/* Appends the names of <gens> (borrowed) to <out>. */
static int
x509_names_collect(const GENERAL_NAMES *gens, struct st_x509_names *out, struct st_err *err)
{
    int count = sk_GENERAL_NAME_num(gens);

    if (count < 0 || (size_t)count > ST_X509_MAX_NAMES)
        return st_err_set(err, ST_ETOOBIG, "more than %d subject alternative names",
                          ST_X509_MAX_NAMES);
    for (int i = 0; i < count; i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
        char *s = NULL;
        int rc;

        switch (gn->type) {
        case GEN_DNS:
            if ((rc = x509_ia5_dup(gn->d.dNSName, &s, err)) < 0)
                return rc;
            x509_strv_push(&out->dns, &out->n_dns, s);
            break;
        case GEN_URI:
            if ((rc = x509_ia5_dup(gn->d.uniformResourceIdentifier, &s, err)) < 0)
                return rc;
            x509_strv_push(&out->uris, &out->n_uris, s);
            break;
        case GEN_IPADD: {
            const ASN1_OCTET_STRING *ip = gn->d.iPAddress;
            char text[INET6_ADDRSTRLEN];
            int af = ip->length == 4 ? AF_INET : ip->length == 16 ? AF_INET6 : 0;
            if (af == 0 || inet_ntop(af, ip->data, text, sizeof(text)) == NULL)
                return st_err_set(err, ST_EPARSE, "IP address SAN of %d bytes", ip->length);
            x509_strv_push(&out->ips, &out->n_ips, st_xstrdup(text));
            break;
        }
        default:
            out->n_other++;
            break;
        }
    }
    return 0;
}

/* Returns a new GENERAL_NAMES for <sans>, or NULL with <err> set. */
static GENERAL_NAMES *
x509_sans_build(const struct st_x509_sans *sans, struct st_err *err)
{
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    size_t total = 0;

    if (gens == NULL)
        st_oom();
    for (int kind = 0; kind < 3; kind++) {
        const char *const *v = kind == 0 ? sans->dns : kind == 1 ? sans->uris : sans->ips;
        for (size_t i = 0; v != NULL && v[i] != NULL; i++) {
            GENERAL_NAME *gn = GENERAL_NAME_new();
            size_t n = strlen(v[i]);
            if (gn == NULL)
                st_oom();
            if (++total > ST_X509_MAX_NAMES || n == 0 || n > ST_X509_NAME_MAX) {
                GENERAL_NAME_free(gn);
                st_err_set(err, ST_EINVAL, "bad or too many subject alternative names");
                goto fail;
            }
            if (kind < 2) {
                ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
                if (ia5 == NULL || !ASN1_STRING_set(ia5, v[i], (int)n))
                    st_oom();
                GENERAL_NAME_set0_value(gn, kind == 0 ? GEN_DNS : GEN_URI, ia5);
            } else {
                unsigned char addr[16];
                int len = 0;
                if (inet_pton(AF_INET, v[i], addr) == 1)
                    len = 4;
                else if (inet_pton(AF_INET6, v[i], addr) == 1)
                    len = 16;
                if (len == 0) {
                    GENERAL_NAME_free(gn);
                    st_err_set(err, ST_EINVAL, "not an IP address: %.64s", v[i]);
                    goto fail;
                }
                ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
                if (os == NULL || !ASN1_OCTET_STRING_set(os, addr, len))
                    st_oom();
                GENERAL_NAME_set0_value(gn, GEN_IPADD, os);
            }
            if (!sk_GENERAL_NAME_push(gens, gn))
                st_oom();
        }
    }
    return gens;
fail:
    GENERAL_NAMES_free(gens);
    return NULL;
}

static bool
x509_sans_empty(const struct st_x509_sans *s)
{
    return s == NULL ||
           ((s->dns == NULL || s->dns[0] == NULL) && (s->ips == NULL || s->ips[0] == NULL) &&
            (s->uris == NULL || s->uris[0] == NULL));
}

/* Returns a new subject name holding only CN=<cn> (empty for NULL). */
static X509_NAME *
x509_name_cn(const char *cn, struct st_err *err)
{
    X509_NAME *name = X509_NAME_new();

    if (name == NULL)
        st_oom();
    if (cn != NULL && (strlen(cn) == 0 || strlen(cn) > 64 ||
                       !X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                                   (const unsigned char *)cn, -1, -1, 0))) {
        X509_NAME_free(name);
        x509_fail(err, ST_EINVAL, "common name must be 1 to 64 bytes");
        return NULL;
    }
    return name;
}

/*
 * Reads the CN of <name> into *cn (NULL when absent) and counts the other
 * attributes. More than one CN counts the extra ones as other attributes.
 */
static int
x509_name_read_cn(const X509_NAME *name, char **cn, size_t *n_other, struct st_err *err)
{
    int count = X509_NAME_entry_count(name);

    *cn = NULL;
    *n_other = 0;
    for (int i = 0; i < count; i++) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
        const ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(e);
        if (OBJ_obj2nid(obj) != NID_commonName || *cn != NULL) {
            (*n_other)++;
            continue;
        }
        unsigned char *utf8 = NULL;
        int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
        if (n < 0)
            return st_err_set(err, ST_EPARSE, "common name is not a valid string");
        bool bad = n == 0 || (size_t)n > ST_X509_NAME_MAX || memchr(utf8, 0, (size_t)n) != NULL;
        if (!bad)
            *cn = st_xstrndup((const char *)utf8, (size_t)n);
        OPENSSL_free(utf8);
        if (bad)
            return st_err_set(err, ST_EPARSE, "common name is empty, too long or holds NUL");
    }
    return 0;
}

/* Returns a new RFC 2253 string of <name>. */
static char *
x509_name_text(const X509_NAME *name)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n;
    char *s;

    if (bio == NULL)
        st_oom();
    X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
    n = BIO_get_mem_data(bio, &data);
    s = st_xstrndup(data != NULL ? data : "", n > 0 ? (size_t)ST_MIN(n, 4096) : 0);
    BIO_free(bio);
    return s;
}

/* ---- keys -------------------------------------------------------------------- */

EVP_PKEY *
st_x509_key_new_p256(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");

    ERR_clear_error();
    return key;
}

bool
st_x509_key_is_p256(const EVP_PKEY *key)
{
    char group[64];
    size_t n = 0;

    if (key == NULL || !EVP_PKEY_is_a(key, "EC"))
        return false;
    if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                        &n)) {
        ERR_clear_error();
        return false;
    }
    return strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0;
}

int
st_x509_key_from_pem(const char *pem, size_t len, EVP_PKEY **out, struct st_err *err)
{
    BIO *bio;

    *out = NULL;
    if (len == 0)
        len = strlen(pem);
    if (len > ST_X509_PEM_MAX)
        return st_err_set(err, ST_ETOOBIG, "key PEM larger than %u bytes", ST_X509_PEM_MAX);
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL)
        st_oom();
    /* Encrypted keys fail instead of prompting. */
    *out = PEM_read_bio_PrivateKey(bio, NULL, x509_no_passphrase, NULL);
    BIO_free(bio);
    if (*out == NULL)
        return x509_fail(err, ST_EPARSE, "cannot parse private key PEM");
    return 0;
}

int
st_x509_key_to_pem(EVP_PKEY *key, struct st_buf *out, struct st_err *err)
{
    /* The secure-memory BIO clears its storage when freed. */
    BIO *bio = BIO_new(BIO_s_secmem());
    char *data = NULL;
    long n;
    int rc;

    if (bio == NULL)
        st_oom();
    if (!PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)) {
        BIO_free(bio);
        return x509_fail(err, ST_ETLS, "cannot encode private key");
    }
    n = BIO_get_mem_data(bio, &data);
    rc = st_buf_append(out, data, n > 0 ? (size_t)n : 0);
    BIO_free(bio);
    if (rc < 0)
        return st_err_set(err, rc, "key PEM does not fit the buffer");
    return 0;
}

int
st_x509_key_read_file(const char *path, EVP_PKEY **out, struct st_err *err)
{
    struct st_buf b = ST_BUF_INIT(ST_X509_PEM_MAX);
    int rc = st_file_read(path, &b);

    *out = NULL;
    if (rc < 0) {
        st_err_set(err, rc, "%s: %s", path, st_strerror(rc));
        goto out;
    }
    rc = b.len == 0 ? st_err_set(err, ST_EPARSE, "%s: empty key file", path)
                    : st_x509_key_from_pem(b.data, b.len, out, err);
out:
    st_buf_free_secret(&b);
    return rc;
}

/*
 * Writes <p> to <path> through a temporary file created with O_EXCL and
 * <mode>. With <overwrite> the temporary file is renamed over <path>;
 * without it the file is hard-linked into place, which fails with EEXIST
 * instead of replacing an existing file, and never leaves a partial file.
 */
static int
x509_write_file(const char *path, const void *p, size_t n, unsigned mode, bool overwrite)
{
    unsigned char rnd[8];
    char *tmp;
    const char *c = p;
    int rc = 0;
    int fd;

    st_random_bytes(rnd, sizeof(rnd));
    tmp = st_xasprintf("%s.tmp-%02x%02x%02x%02x%02x%02x%02x%02x", path, rnd[0], rnd[1], rnd[2],
                       rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    if (fchmod(fd, mode) < 0)
        rc = -errno;
    while (rc == 0 && n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno != EINTR)
                rc = -errno;
            continue;
        }
        c += w;
        n -= (size_t)w;
    }
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    close(fd);
    if (rc == 0) {
        if (overwrite) {
            if (rename(tmp, path) < 0)
                rc = -errno;
        } else if (link(tmp, path) < 0) {
            rc = -errno;
        }
    }
    unlink(tmp);
out:
    free(tmp);
    return rc;
}

int
st_x509_key_write_file(const char *path, EVP_PKEY *key, bool overwrite, struct st_err *err)
{
    struct st_buf b = ST_BUF_INIT(ST_X509_PEM_MAX);
    int rc = st_x509_key_to_pem(key, &b, err);

    if (rc < 0)
        goto out;
    rc = x509_write_file(path, b.data, b.len, 0600, overwrite);
    if (rc < 0)
        st_err_set(err, rc, "%s: %s", path, st_strerror(rc));
out:
    st_buf_free_secret(&b);
    return rc;
}

/* ---- issuance ------------------------------------------------------------------ */

/* Adds the extension <nid> with the OpenSSL config <value> to <cert>. */
static int
x509_add_conf_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value, struct st_err *err)
{
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
    int ok;

    if (ext == NULL)
        return x509_fail(err, ST_ETLS, "cannot build certificate extension");
    ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    if (!ok)
        return x509_fail(err, ST_ETLS, "cannot add certificate extension");
    return 0;
}

static void
x509_random_serial(X509 *cert)
{
    unsigned char raw[16];
    BIGNUM *bn;

    /* 128 random bits; a zero serial is not allowed, so retry on that. */
    do
        st_random_bytes(raw, sizeof(raw));
    while (raw[0] == 0 && memcmp(raw, raw + 1, sizeof(raw) - 1) == 0);
    bn = BN_bin2bn(raw, sizeof(raw), NULL);
    if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) == NULL)
        st_oom();
    BN_free(bn);
}

/* Converts an ASN1_TIME to epoch seconds. */
static int
x509_time_to_epoch(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;

    if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
        return ST_EPARSE;
    *out = (int64_t)timegm(&tm);
    return 0;
}

int
st_x509_issue(const struct st_x509_issue_req *req, X509 **out, struct st_err *err)
{
    bool self_signed = req->issuer_cert == NULL;
    int64_t now = req->now != 0 ? req->now : st_wall_s();
    int64_t not_before = now - req->backdate_s;
    int64_t not_after = now + req->lifetime_s;
    X509_NAME *subject = NULL;
    X509V3_CTX v3;
    X509 *cert = NULL;
    int rc = 0;

    *out = NULL;
    if (req->issuer_key == NULL || req->subject_key == NULL || req->lifetime_s <= 0 ||
        req->backdate_s < 0) {
        rc = st_err_set(err, ST_EINVAL, "issue: keys, a positive lifetime and a backdate >= 0");
        goto out;
    }
    if (self_signed && EVP_PKEY_eq(req->issuer_key, req->subject_key) != 1) {
        rc = st_err_set(err, ST_EINVAL, "issue: a self-signed certificate needs its own key");
        goto out;
    }
    if (!self_signed && X509_check_private_key(req->issuer_cert, req->issuer_key) != 1) {
        rc = x509_fail(err, ST_EINVAL, "issue: issuer key does not match issuer certificate");
        goto out;
    }
    if (!self_signed) {
        int64_t issuer_end;
        if (x509_time_to_epoch(X509_get0_notAfter(req->issuer_cert), &issuer_end) < 0) {
            rc = st_err_set(err, ST_EINVAL, "issue: issuer has no readable NotAfter");
            goto out;
        }
        /* A certificate never outlives the CA that vouches for it. */
        not_after = ST_MIN(not_after, issuer_end);
        if (not_after <= not_before) {
            rc = st_err_set(err, ST_EINVAL, "issue: issuer certificate has expired");
            goto out;
        }
    }
    if ((subject = x509_name_cn(req->cn, err)) == NULL) {
        rc = ST_EINVAL;
        goto out;
    }

    cert = X509_new();
    if (cert == NULL)
        st_oom();
    if (!X509_set_version(cert, X509_VERSION_3) || !X509_set_subject_name(cert, subject) ||
        !X509_set_issuer_name(cert,
                              self_signed ? subject : X509_get_subject_name(req->issuer_cert)) ||
        !X509_set_pubkey(cert, req->subject_key) ||
        ASN1_TIME_set(X509_getm_notBefore(cert), (time_t)not_before) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(cert), (time_t)not_after) == NULL) {
        rc = x509_fail(err, ST_ETLS, "issue: cannot fill certificate");
        goto out;
    }
    x509_random_serial(cert);

    X509V3_set_ctx(&v3, self_signed ? cert : req->issuer_cert, cert, NULL, NULL, 0);
    char bc[64];
    const char *ku = req->is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature";
    if (!req->is_ca)
        snprintf(bc, sizeof(bc), "critical,CA:FALSE");
    else if (req->pathlen >= 0)
        snprintf(bc, sizeof(bc), "critical,CA:TRUE,pathlen:%d", req->pathlen);
    else
        snprintf(bc, sizeof(bc), "critical,CA:TRUE");
    if ((rc = x509_add_conf_ext(cert, &v3, NID_basic_constraints, bc, err)) < 0)
        goto out;
    if ((rc = x509_add_conf_ext(cert, &v3, NID_key_usage, ku, err)) < 0)
        goto out;
    if (req->eku & (ST_X509_EKU_SERVER | ST_X509_EKU_CLIENT)) {
        const char *eku = (req->eku & ST_X509_EKU_SERVER) && (req->eku & ST_X509_EKU_CLIENT)
                              ? "serverAuth,clientAuth"
                          : (req->eku & ST_X509_EKU_SERVER) ? "serverAuth"
                                                            : "clientAuth";
        if ((rc = x509_add_conf_ext(cert, &v3, NID_ext_key_usage, eku, err)) < 0)
            goto out;
    }
    if ((rc = x509_add_conf_ext(cert, &v3, NID_subject_key_identifier, "hash", err)) < 0 ||
        (rc = x509_add_conf_ext(cert, &v3, NID_authority_key_identifier, "keyid:always", err)) < 0)
        goto out;
    if (!x509_sans_empty(&req->sans)) {
        GENERAL_NAMES *gens = x509_sans_build(&req->sans, err);
        if (gens == NULL) {
            rc = ST_EINVAL;
            goto out;
        }
        /* RFC 5280 4.2.1.6: with an empty subject the SAN extension is critical. */
        int ok = X509_add1_ext_i2d(cert, NID_subject_alt_name, gens, req->cn == NULL,
                                   X509V3_ADD_DEFAULT);
        GENERAL_NAMES_free(gens);
        if (ok != 1) {
            rc = x509_fail(err, ST_ETLS, "issue: cannot add subject alternative names");
            goto out;
        }
    }
    if (X509_sign(cert, req->issuer_key, EVP_sha256()) <= 0) {
        rc = x509_fail(err, ST_ETLS, "issue: cannot sign certificate");
        goto out;
    }
    *out = cert;
    cert = NULL;
out:
    X509_free(cert);
    X509_NAME_free(subject);
    return rc;
}

int
st_x509_ca_new(const char *cn, int64_t lifetime_s, X509 **cert, EVP_PKEY **key, struct st_err *err)
{
    struct st_x509_issue_req req = {0};
    int rc;

    *cert = NULL;
    *key = st_x509_key_new_p256();
    if (*key == NULL)
        return st_err_set(err, ST_ETLS, "cannot generate a P-256 key");
    req.issuer_key = *key;
    req.subject_key = *key;
    req.cn = cn;
    req.lifetime_s = lifetime_s;
    req.backdate_s = 60;
    req.is_ca = true;
    req.pathlen = -1;
    rc = st_x509_issue(&req, cert, err);
    if (rc < 0) {
        EVP_PKEY_free(*key);
        *key = NULL;
    }
    return rc;
}

/* ---- PEM ----------------------------------------------------------------------- */

int
st_x509_from_pem(const char *pem, size_t len, X509 **out, struct st_err *err)
{
    STACK_OF(X509) *chain = NULL;
    int rc;

    *out = NULL;
    if (len == 0)
        len = strlen(pem);
    if (len > 0 && pem[0] == 0x30) {
        const unsigned char *p = (const unsigned char *)pem;
        if (len > ST_X509_PEM_MAX)
            return st_err_set(err, ST_ETOOBIG, "certificate larger than %u bytes", ST_X509_PEM_MAX);
        *out = d2i_X509(NULL, &p, (long)len);
        if (*out == NULL || p != (const unsigned char *)pem + len) {
            X509_free(*out);
            *out = NULL;
            return x509_fail(err, ST_EPARSE, "cannot parse DER certificate");
        }
        return 0;
    }
    if ((rc = st_x509_bundle_from_pem(pem, len, &chain, err)) < 0)
        return rc;
    if (sk_X509_num(chain) != 1) {
        st_x509_chain_free(chain);
        return st_err_set(err, ST_EINVAL, "expected exactly one certificate");
    }
    *out = sk_X509_shift(chain);
    sk_X509_free(chain);
    return 0;
}

int
st_x509_bundle_from_pem(const char *pem, size_t len, STACK_OF(X509) **out, struct st_err *err)
{
    STACK_OF(X509) *chain = NULL;
    BIO *bio = NULL;
    int rc = 0;

    *out = NULL;
    if (len == 0)
        len = strlen(pem);
    if (len > ST_X509_PEM_MAX)
        return st_err_set(err, ST_ETOOBIG, "PEM bundle larger than %u bytes", ST_X509_PEM_MAX);
    bio = BIO_new_mem_buf(pem, (int)len);
    chain = sk_X509_new_null();
    if (bio == NULL || chain == NULL)
        st_oom();
    for (;;) {
        char *name = NULL, *header = NULL;
        unsigned char *data = NULL;
        long n = 0;

        if (!PEM_read_bio(bio, &name, &header, &data, &n)) {
            unsigned long e = ERR_peek_last_error();
            if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
                ERR_clear_error();
                break;
            }
            rc = x509_fail(err, ST_EPARSE, "broken PEM block");
            goto out;
        }
        if (strcmp(name, PEM_STRING_X509) == 0 || strcmp(name, PEM_STRING_X509_OLD) == 0) {
            const unsigned char *p = data;
            X509 *cert = d2i_X509(NULL, &p, n);
            if (cert == NULL || p != data + n) {
                X509_free(cert);
                rc = x509_fail(err, ST_EPARSE, "cannot parse certificate in PEM bundle");
            } else if (sk_X509_num(chain) >= ST_X509_BUNDLE_MAX_CERTS) {
                X509_free(cert);
                rc = st_err_set(err, ST_ETOOBIG, "more than %d certificates in bundle",
                                ST_X509_BUNDLE_MAX_CERTS);
            } else if (!sk_X509_push(chain, cert)) {
                st_oom();
            }
        }
        /* Other blocks (keys among them) are skipped; their bytes are wiped. */
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_clear_free(data, n > 0 ? (size_t)n : 0);
        if (rc < 0)
            goto out;
    }
    if (sk_X509_num(chain) == 0) {
        rc = st_err_set(err, ST_EPARSE, "no certificate in PEM bundle");
        goto out;
    }
    *out = chain;
    chain = NULL;
out:
    st_x509_chain_free(chain);
    BIO_free(bio);
    return rc;
}

int
st_x509_bundle_read_file(const char *path, STACK_OF(X509) **out, struct st_err *err)
{
    struct st_buf b = ST_BUF_INIT(ST_X509_PEM_MAX);
    int rc = st_file_read(path, &b);

    *out = NULL;
    if (rc < 0)
        st_err_set(err, rc, "%s: %s", path, st_strerror(rc));
    else if (b.len == 0)
        rc = st_err_set(err, ST_EPARSE, "%s: empty file", path);
    else
        rc = st_x509_bundle_from_pem(b.data, b.len, out, err);
    st_buf_free(&b);
    return rc;
}

void
st_x509_chain_free(STACK_OF(X509) *chain)
{
    sk_X509_pop_free(chain, X509_free);
}

int
st_x509_to_pem(X509 *cert, struct st_buf *out)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n;
    int rc;

    if (bio == NULL)
        st_oom();
    if (!PEM_write_bio_X509(bio, cert)) {
        BIO_free(bio);
        ERR_clear_error();
        return ST_ETLS;
    }
    n = BIO_get_mem_data(bio, &data);
    rc = st_buf_append(out, data, n > 0 ? (size_t)n : 0);
    BIO_free(bio);
    return rc;
}

int
st_x509_chain_to_pem(STACK_OF(X509) *chain, struct st_buf *out)
{
    for (int i = 0; i < sk_X509_num(chain); i++) {
        int rc = st_x509_to_pem(sk_X509_value(chain, i), out);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int
st_x509_write_pem_file(const char *path, X509 *cert, STACK_OF(X509) *chain, unsigned mode,
                       struct st_err *err)
{
    struct st_buf b = ST_BUF_INIT(0);
    int rc = st_x509_to_pem(cert, &b);

    if (rc == 0)
        rc = st_x509_chain_to_pem(chain, &b);
    if (rc < 0) {
        st_err_set(err, rc, "cannot encode certificates");
        goto out;
    }
    rc = x509_write_file(path, b.data, b.len, mode, true);
    if (rc < 0)
        st_err_set(err, rc, "%s: %s", path, st_strerror(rc));
out:
    st_buf_free(&b);
    return rc;
}

/* ---- verification and inspection ------------------------------------------------- */

int
st_x509_verify_chain(X509 *leaf, STACK_OF(X509) *intermediates, STACK_OF(X509) *anchors,
                     int64_t at_time, struct st_err *err)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int rc = 0;

    if (store == NULL || ctx == NULL)
        st_oom();
    if (leaf == NULL || sk_X509_num(anchors) <= 0) {
        rc = st_err_set(err, ST_EINVAL, "verify: a leaf and at least one anchor are needed");
        goto out;
    }
    for (int i = 0; i < sk_X509_num(anchors); i++) {
        if (!X509_STORE_add_cert(store, sk_X509_value(anchors, i))) {
            rc = x509_fail(err, ST_ETLS, "verify: cannot add trust anchor");
            goto out;
        }
    }
    if (!X509_STORE_CTX_init(ctx, store, leaf, intermediates)) {
        rc = x509_fail(err, ST_ETLS, "verify: cannot set up");
        goto out;
    }
    if (at_time != 0)
        X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), (time_t)at_time);
    if (X509_verify_cert(ctx) != 1) {
        int e = X509_STORE_CTX_get_error(ctx);
        ERR_clear_error();
        rc = st_err_set(err, ST_ETLS, "verify: %s (depth %d)", X509_verify_cert_error_string(e),
                        X509_STORE_CTX_get_error_depth(ctx));
    }
out:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return rc;
}

static unsigned
x509_eku_bits(const EXTENDED_KEY_USAGE *eku)
{
    unsigned bits = 0;

    for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
        int nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i));
        bits |= nid == NID_server_auth   ? ST_X509_EKU_SERVER
                : nid == NID_client_auth ? ST_X509_EKU_CLIENT
                                         : ST_X509_EKU_OTHER;
    }
    return bits;
}

static void
x509_key_type(const EVP_PKEY *key, char *out, size_t n)
{
    if (key == NULL)
        snprintf(out, n, "unknown");
    else if (st_x509_key_is_p256(key))
        snprintf(out, n, "EC P-256");
    else
        snprintf(out, n, "%s %d", EVP_PKEY_get0_type_name(key), EVP_PKEY_get_bits(key));
}

int
st_x509_inspect(X509 *cert, struct st_x509_info *out, struct st_err *err)
{
    GENERAL_NAMES *gens = NULL;
    EXTENDED_KEY_USAGE *eku = NULL;
    BASIC_CONSTRAINTS *bc = NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    BIGNUM *serial = NULL;
    char *hex = NULL;
    size_t n_other = 0;
    int crit = 0;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    out->pathlen = -1;
    out->subject = x509_name_text(X509_get_subject_name(cert));
    out->issuer = x509_name_text(X509_get_issuer_name(cert));
    if ((rc = x509_name_read_cn(X509_get_subject_name(cert), &out->cn, &n_other, err)) < 0)
        goto out;
    if (x509_time_to_epoch(X509_get0_notBefore(cert), &out->not_before) < 0 ||
        x509_time_to_epoch(X509_get0_notAfter(cert), &out->not_after) < 0) {
        rc = st_err_set(err, ST_EPARSE, "inspect: unreadable validity period");
        goto out;
    }
    serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    hex = serial != NULL ? BN_bn2hex(serial) : NULL;
    if (hex == NULL) {
        rc = x509_fail(err, ST_EPARSE, "inspect: unreadable serial number");
        goto out;
    }
    out->serial_hex = st_xstrdup(hex);

    gens = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);
    if (gens == NULL && crit != -1) {
        rc = x509_fail(err, ST_EPARSE, "inspect: broken or repeated SAN extension");
        goto out;
    }
    if (gens != NULL && (rc = x509_names_collect(gens, &out->names, err)) < 0)
        goto out;
    eku = X509_get_ext_d2i(cert, NID_ext_key_usage, &crit, NULL);
    if (eku != NULL)
        out->eku = x509_eku_bits(eku);
    bc = X509_get_ext_d2i(cert, NID_basic_constraints, &crit, NULL);
    if (bc != NULL && bc->ca) {
        out->is_ca = true;
        if (bc->pathlen != NULL)
            out->pathlen = (int)ASN1_INTEGER_get(bc->pathlen);
    }
    x509_key_type(X509_get0_pubkey(cert), out->key_type, sizeof(out->key_type));
    if (!X509_digest(cert, EVP_sha256(), md, &md_len)) {
        rc = x509_fail(err, ST_ETLS, "inspect: cannot hash certificate");
        goto out;
    }
    for (unsigned i = 0; i < md_len && i < 32; i++)
        snprintf(out->sha256 + 2 * i, 3, "%02x", md[i]);
out:
    ERR_clear_error();
    GENERAL_NAMES_free(gens);
    EXTENDED_KEY_USAGE_free(eku);
    BASIC_CONSTRAINTS_free(bc);
    OPENSSL_free(hex);
    BN_free(serial);
    if (rc < 0)
        st_x509_info_free(out);
    return rc;
}

void
st_x509_info_free(struct st_x509_info *info)
{
    free(info->subject);
    free(info->issuer);
    free(info->cn);
    free(info->serial_hex);
    st_x509_names_free(&info->names);
    memset(info, 0, sizeof(*info));
    info->pathlen = -1;
}

int
st_x509_info_print(const struct st_x509_info *info, struct st_buf *out)
{
    char nb[21], na[21];
    int rc = 0;

    st_rfc3339(info->not_before, nb);
    st_rfc3339(info->not_after, na);
    rc |= st_buf_appendf(out, "subject: %s\nissuer: %s\nserial: %s\n", info->subject, info->issuer,
                         info->serial_hex);
    rc |= st_buf_appendf(out, "not_before: %s\nnot_after: %s\n", nb, na);
    rc |=
        st_buf_appendf(out, "key: %s\nis_ca: %s\n", info->key_type, info->is_ca ? "true" : "false");
    if (info->is_ca && info->pathlen >= 0)
        rc |= st_buf_appendf(out, "pathlen: %d\n", info->pathlen);
    for (size_t i = 0; i < info->names.n_dns; i++)
        rc |= st_buf_appendf(out, "dns: %s\n", info->names.dns[i]);
    for (size_t i = 0; i < info->names.n_uris; i++)
        rc |= st_buf_appendf(out, "uri: %s\n", info->names.uris[i]);
    for (size_t i = 0; i < info->names.n_ips; i++)
        rc |= st_buf_appendf(out, "ip: %s\n", info->names.ips[i]);
    if (info->eku != 0)
        rc |= st_buf_appendf(out, "eku: %s%s%s\n",
                             (info->eku & ST_X509_EKU_SERVER) ? "serverAuth " : "",
                             (info->eku & ST_X509_EKU_CLIENT) ? "clientAuth " : "",
                             (info->eku & ST_X509_EKU_OTHER) ? "other" : "");
    rc |= st_buf_appendf(out, "sha256: %s\n", info->sha256);
    return rc < 0 ? ST_ETOOBIG : 0;
}

bool
st_x509_has_dns_san(X509 *cert, const char *name)
{
    GENERAL_NAMES *gens;
    bool found = false;
    size_t n = strlen(name);

    if (cert == NULL)
        return false;
    gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens) && !found; i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
        if (gn->type != GEN_DNS)
            continue;
        const ASN1_STRING *s = gn->d.dNSName;
        found = (size_t)ASN1_STRING_length(s) == n &&
                strncasecmp((const char *)ASN1_STRING_get0_data(s), name, n) == 0;
    }
    GENERAL_NAMES_free(gens);
    ERR_clear_error();
    return found;
}

/* ---- CSRs ------------------------------------------------------------------------ */

/*
 * Puts the public half of <key> (borrowed) into <req>. An EC key's
 * SubjectPublicKeyInfo is set from its curve and encoded point directly:
 * X509_REQ_set_pubkey() would run OpenSSL's encoder machinery, whose first
 * use builds every encoder the provider has and keeps them for the life of
 * the process (about 40 KB of heap in a certifying proxy, which needs no
 * other encoder). Other keys take the general path. Returns 1 or 0.
 */
static int
x509_req_set_pubkey(X509_REQ *req, EVP_PKEY *key)
{
    unsigned char point[1 + 2 * 66]; /* an uncompressed point of up to P-521 */
    char group[64];
    size_t n = 0;
    int nid;

    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
        !EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                        NULL) ||
        (nid = OBJ_txt2nid(group)) == NID_undef ||
        !EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point), &n))
        return X509_REQ_set_pubkey(req, key);

    unsigned char *bits = OPENSSL_memdup(point, n);
    if (bits == NULL)
        st_oom();
    /* The X509_PUBKEY takes ownership of <bits> on success. */
    if (!X509_PUBKEY_set0_param(X509_REQ_get_X509_PUBKEY(req),
                                OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
                                OBJ_nid2obj(nid), bits, (int)n)) {
        OPENSSL_free(bits);
        return 0;
    }
    return 1;
}

int
st_x509_csr_new(EVP_PKEY *key, const char *cn, const struct st_x509_sans *sans, char **pem_out,
                struct st_err *err)
{
    X509_REQ *req = X509_REQ_new();
    STACK_OF(X509_EXTENSION) *exts = NULL;
    X509_NAME *subject = NULL;
    struct st_buf b = ST_BUF_INIT(ST_X509_CSR_MAX);
    BIO *bio = NULL;
    char *data = NULL;
    long n;
    int rc = 0;

    *pem_out = NULL;
    if (req == NULL)
        st_oom();
    if ((subject = x509_name_cn(cn, err)) == NULL) {
        rc = ST_EINVAL;
        goto out;
    }
    if (!X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
        !X509_REQ_set_subject_name(req, subject) || !x509_req_set_pubkey(req, key)) {
        rc = x509_fail(err, ST_ETLS, "csr: cannot fill request");
        goto out;
    }
    if (!x509_sans_empty(sans)) {
        GENERAL_NAMES *gens = x509_sans_build(sans, err);
        X509_EXTENSION *ext;
        if (gens == NULL) {
            rc = ST_EINVAL;
            goto out;
        }
        ext = X509V3_EXT_i2d(NID_subject_alt_name, cn == NULL, gens);
        GENERAL_NAMES_free(gens);
        exts = sk_X509_EXTENSION_new_null();
        if (ext == NULL || exts == NULL || !sk_X509_EXTENSION_push(exts, ext))
            st_oom();
        if (!X509_REQ_add_extensions(req, exts)) {
            rc = x509_fail(err, ST_ETLS, "csr: cannot add extensions");
            goto out;
        }
    }
    if (X509_REQ_sign(req, key, EVP_sha256()) <= 0) {
        rc = x509_fail(err, ST_ETLS, "csr: cannot sign request");
        goto out;
    }
    bio = BIO_new(BIO_s_mem());
    if (bio == NULL)
        st_oom();
    if (!PEM_write_bio_X509_REQ(bio, req)) {
        rc = x509_fail(err, ST_ETLS, "csr: cannot encode request");
        goto out;
    }
    n = BIO_get_mem_data(bio, &data);
    if ((rc = st_buf_append(&b, data, n > 0 ? (size_t)n : 0)) < 0) {
        st_err_set(err, rc, "csr: request larger than %u bytes", ST_X509_CSR_MAX);
        goto out;
    }
    *pem_out = st_buf_steal(&b);
out:
    st_buf_free(&b);
    BIO_free(bio);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_NAME_free(subject);
    X509_REQ_free(req);
    return rc;
}

/* Reads the extensions of <req> into <out>. */
static int
x509_csr_read_exts(X509_REQ *req, struct st_x509_csr_info *out, struct st_err *err)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
    bool seen_san = false, seen_bc = false, seen_eku = false;
    int rc = 0;

    /* NULL means either no extensions or an undecodable attribute. */
    if (exts == NULL) {
        if (ERR_peek_error() != 0)
            return x509_fail(err, ST_EPARSE, "csr: broken extension request");
        return 0;
    }
    if (sk_X509_EXTENSION_num(exts) > 32) {
        rc = st_err_set(err, ST_ETOOBIG, "csr: more than 32 requested extensions");
        goto out;
    }
    for (int i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
        X509_EXTENSION *ext = sk_X509_EXTENSION_value(exts, i);
        int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));

        if (nid == NID_subject_alt_name) {
            GENERAL_NAMES *gens = X509V3_EXT_d2i(ext);
            if (seen_san || gens == NULL) {
                GENERAL_NAMES_free(gens);
                rc = x509_fail(err, ST_EPARSE, "csr: broken or repeated SAN extension");
                goto out;
            }
            seen_san = true;
            rc = x509_names_collect(gens, &out->names, err);
            GENERAL_NAMES_free(gens);
            if (rc < 0)
                goto out;
        } else if (nid == NID_basic_constraints) {
            BASIC_CONSTRAINTS *bc = X509V3_EXT_d2i(ext);
            if (seen_bc || bc == NULL) {
                BASIC_CONSTRAINTS_free(bc);
                rc = x509_fail(err, ST_EPARSE, "csr: broken or repeated basicConstraints");
                goto out;
            }
            seen_bc = true;
            out->requests_ca = bc->ca != 0;
            BASIC_CONSTRAINTS_free(bc);
        } else if (nid == NID_ext_key_usage) {
            EXTENDED_KEY_USAGE *eku = X509V3_EXT_d2i(ext);
            if (seen_eku || eku == NULL) {
                EXTENDED_KEY_USAGE_free(eku);
                rc = x509_fail(err, ST_EPARSE, "csr: broken or repeated extKeyUsage");
                goto out;
            }
            seen_eku = true;
            out->eku = x509_eku_bits(eku);
            EXTENDED_KEY_USAGE_free(eku);
        } else if (nid != NID_key_usage) {
            out->n_other_ext++;
        }
    }
out:
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return rc;
}

int
st_x509_csr_parse(const char *data, size_t len, struct st_x509_csr_info *out, struct st_err *err)
{
    X509_REQ *req = NULL;
    EVP_PKEY *key;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    ERR_clear_error();
    if (len > ST_X509_CSR_MAX)
        return st_err_set(err, ST_ETOOBIG, "csr: larger than %u bytes", ST_X509_CSR_MAX);
    if (len == 0)
        return st_err_set(err, ST_EPARSE, "csr: empty");
    if (len >= 5 && memcmp(data, "-----", 5) == 0) {
        BIO *bio = BIO_new_mem_buf(data, (int)len);
        if (bio == NULL)
            st_oom();
        req = PEM_read_bio_X509_REQ(bio, NULL, x509_no_passphrase, NULL);
        BIO_free(bio);
    } else {
        const unsigned char *p = (const unsigned char *)data;
        req = d2i_X509_REQ(NULL, &p, (long)len);
        if (req != NULL && p != (const unsigned char *)data + len) {
            X509_REQ_free(req);
            req = NULL;
        }
    }
    if (req == NULL) {
        rc = x509_fail(err, ST_EPARSE, "csr: not a PKCS#10 request");
        goto out;
    }
    key = X509_REQ_get0_pubkey(req);
    if (key == NULL) {
        rc = x509_fail(err, ST_EPARSE, "csr: unreadable public key");
        goto out;
    }
    if (!st_x509_key_is_p256(key)) {
        rc = st_err_set(err, ST_EINVAL, "csr: key is not ECDSA P-256");
        goto out;
    }
    if (X509_REQ_verify(req, key) != 1) {
        rc = x509_fail(err, ST_EAUTH, "csr: signature does not verify");
        goto out;
    }
    if ((rc = x509_name_read_cn(X509_REQ_get_subject_name(req), &out->cn, &out->n_subject_other,
                                err)) < 0 ||
        (rc = x509_csr_read_exts(req, out, err)) < 0)
        goto out;
    if (!EVP_PKEY_up_ref(key))
        st_oom();
    out->key = key;
out:
    ERR_clear_error();
    X509_REQ_free(req);
    if (rc < 0)
        st_x509_csr_info_free(out);
    return rc;
}

void
st_x509_csr_info_free(struct st_x509_csr_info *info)
{
    EVP_PKEY_free(info->key);
    free(info->cn);
    st_x509_names_free(&info->names);
    memset(info, 0, sizeof(*info));
}

int
st_x509_csr_check_identity(const struct st_x509_csr_info *info, const char *expected_dns,
                           const char *expected_uri, struct st_err *err)
{
    const struct st_x509_names *n = &info->names;

    if (info->key == NULL || expected_dns == NULL)
        return st_err_set(err, ST_EAUTH, "csr: nothing parsed or no expected identity");
    if (n->n_dns != 1 || strcasecmp(n->dns[0], expected_dns) != 0)
        return st_err_set(err, ST_EAUTH, "csr: must ask for exactly the DNS name %.200s",
                          expected_dns);
    if (n->n_uris > 1 ||
        (n->n_uris == 1 && (expected_uri == NULL || strcmp(n->uris[0], expected_uri) != 0)))
        return st_err_set(err, ST_EAUTH, "csr: URI name other than the expected one");
    if (n->n_ips != 0 || n->n_other != 0)
        return st_err_set(err, ST_EAUTH, "csr: IP addresses or other names are not allowed");
    if (info->n_subject_other != 0 || (info->cn != NULL && strcasecmp(info->cn, expected_dns) != 0))
        return st_err_set(err, ST_EAUTH, "csr: subject other than CN=%.200s", expected_dns);
    if (info->requests_ca)
        return st_err_set(err, ST_EAUTH, "csr: asks to be a CA");
    if (info->n_other_ext != 0)
        return st_err_set(err, ST_EAUTH, "csr: asks for extensions that are not allowed");
    return 0;
}
