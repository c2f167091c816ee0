/*
 * strait X.509: ECDSA P-256 keys, certificate authorities, certificate
 * issuance with the workload profile, CSRs (create, parse, identity check),
 * PEM bundles, chain verification and inspection. Built on OpenSSL 3; the
 * OpenSSL object types (EVP_PKEY, X509, STACK_OF(X509)) are part of the API so
 * that lib/tls and the binaries can hand them to OpenSSL directly.
 *
 * Every function returns 0 (or a count) on success and a negative errno or
 * ST_E* code on failure, with details in the optional struct st_err. Nothing
 * here logs. The certificate profile is documented in docs/identity.md.
 */
#ifndef STRAIT_X509_H
#define STRAIT_X509_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "strait/core.h"

/* Caps on input a peer or a user controls. */
#define ST_X509_CSR_MAX (16u * 1024)   /* bytes of one CSR, PEM or DER */
#define ST_X509_PEM_MAX (1024u * 1024) /* bytes of one PEM bundle or key file */
#define ST_X509_BUNDLE_MAX_CERTS 256   /* certificates in one bundle */
#define ST_X509_MAX_NAMES 64           /* SAN entries in one certificate or CSR */
#define ST_X509_NAME_MAX 1024          /* bytes of one DNS name, URI or CN */

/* Extended key usage bits. */
enum {
    ST_X509_EKU_SERVER = 1u << 0, /* id-kp-serverAuth */
    ST_X509_EKU_CLIENT = 1u << 1, /* id-kp-clientAuth */
    ST_X509_EKU_OTHER = 1u << 2,  /* any other purpose (only reported, never issued) */
};

/*
 * Subject alternative names to put into a certificate or CSR: NULL-terminated
 * arrays of C strings (each array may itself be NULL). All borrowed.
 */
struct st_x509_sans {
    const char *const *dns;  /* DNS names */
    const char *const *ips;  /* IPv4 or IPv6 addresses in text form */
    const char *const *uris; /* URIs, e.g. spiffe://td/ns/x/sa/y */
};

/* Subject alternative names read from a certificate or CSR; owned by the holder. */
struct st_x509_names {
    char **dns;
    size_t n_dns;
    char **ips; /* text form (inet_ntop) */
    size_t n_ips;
    char **uris;
    size_t n_uris;
    size_t n_other; /* names of any other type (email, otherName, dirName...) */
};

/* Frees the lists and resets <n> to empty. Accepts an empty record. */
void st_x509_names_free(struct st_x509_names *n);

/* ---- keys ------------------------------------------------------------------ */

/* Returns a new ECDSA P-256 key pair, or NULL if OpenSSL cannot make one. */
EVP_PKEY *st_x509_key_new_p256(void);

/* True when <key> (borrowed) is an EC key on the P-256 curve. */
bool st_x509_key_is_p256(const EVP_PKEY *key);

/*
 * Parses one private key from PEM ("PRIVATE KEY" or "EC PRIVATE KEY",
 * unencrypted) of <len> bytes (0 means strlen). On success *out is a new key.
 */
int st_x509_key_from_pem(const char *pem, size_t len, EVP_PKEY **out, struct st_err *err);

/*
 * Appends <key>'s private key as PKCS#8 PEM to <out>. The caller should release
 * <out> with st_buf_free_secret. OpenSSL's own copy is wiped.
 */
int st_x509_key_to_pem(EVP_PKEY *key, struct st_buf *out, struct st_err *err);

/* Reads a private key file (capped at ST_X509_PEM_MAX); the file bytes are wiped. */
int st_x509_key_read_file(const char *path, EVP_PKEY **out, struct st_err *err);

/*
 * Writes <key> as PKCS#8 PEM to <path> with mode 0600, atomically (temporary
 * file, fsync, rename). When <overwrite> is false and <path> exists, fails
 * with -EEXIST and leaves the existing file alone.
 */
int st_x509_key_write_file(const char *path, EVP_PKEY *key, bool overwrite, struct st_err *err);

/* ---- certificates ---------------------------------------------------------- */

/* What st_x509_issue signs. Everything is borrowed. */
struct st_x509_issue_req {
    X509 *issuer_cert;     /* NULL makes a self-signed certificate */
    EVP_PKEY *issuer_key;  /* signs; must match issuer_cert (or be subject_key when self-signed) */
    EVP_PKEY *subject_key; /* its public key goes into the certificate */
    const char *cn;        /* subject CN; NULL leaves the subject empty (SANs become critical) */
    struct st_x509_sans sans;
    int64_t lifetime_s; /* NotAfter = now + lifetime_s, clamped to the issuer's NotAfter */
    int64_t backdate_s; /* NotBefore = now - backdate_s */
    int64_t now;        /* epoch seconds; 0 means the current time (tests set it) */
    bool is_ca;
    int pathlen;  /* for is_ca: maximum path length, or -1 for none */
    unsigned eku; /* ST_X509_EKU_SERVER | ST_X509_EKU_CLIENT, or 0 for none */
};

/*
 * Issues a certificate: version 3, a random 128-bit serial, ECDSA-SHA256
 * signature, SKID and AKID. A CA gets basicConstraints CA:TRUE (critical,
 * with pathlen when >= 0) and keyUsage keyCertSign+cRLSign (critical); a leaf
 * gets basicConstraints CA:FALSE (critical), keyUsage digitalSignature
 * (critical) and the requested EKU. On success *out is a new certificate.
 */
int st_x509_issue(const struct st_x509_issue_req *req, X509 **out, struct st_err *err);

/*
 * Makes a self-signed root CA named <cn> with a fresh P-256 key, valid from
 * 60 s ago for <lifetime_s> seconds. On success *cert and *key are new.
 */
int st_x509_ca_new(const char *cn, int64_t lifetime_s, X509 **cert, EVP_PKEY **key,
                   struct st_err *err);

/* Parses exactly one certificate from PEM or DER of <len> bytes (0 = strlen for PEM). */
int st_x509_from_pem(const char *pem, size_t len, X509 **out, struct st_err *err);

/*
 * Parses every certificate of a PEM bundle (other PEM blocks, such as keys,
 * are skipped). Fails on an empty bundle, a broken block or more than
 * ST_X509_BUNDLE_MAX_CERTS certificates. On success *out is a new stack.
 */
int st_x509_bundle_from_pem(const char *pem, size_t len, STACK_OF(X509) **out, struct st_err *err);
/* The same for a file, capped at ST_X509_PEM_MAX bytes. */
int st_x509_bundle_read_file(const char *path, STACK_OF(X509) **out, struct st_err *err);
/* Frees a stack of certificates and the certificates. Accepts NULL. */
void st_x509_chain_free(STACK_OF(X509) *chain);

/* Appends <cert> as PEM to <out>. */
int st_x509_to_pem(X509 *cert, struct st_buf *out);
/* Appends every certificate of <chain> as PEM to <out>, in order. */
int st_x509_chain_to_pem(STACK_OF(X509) *chain, struct st_buf *out);
/*
 * Writes <cert> followed by <chain> (may be NULL) as PEM to <path>
 * atomically with <mode> (0644 for certificates is usual).
 */
int st_x509_write_pem_file(const char *path, X509 *cert, STACK_OF(X509) *chain, unsigned mode,
                           struct st_err *err);

/*
 * Verifies that <leaf> chains to one of <anchors> through <intermediates>
 * (may be NULL) at <at_time> (epoch seconds; 0 means now). Checks validity
 * periods, signatures, CA constraints and path lengths; it does not check
 * the leaf's names or purpose. Returns 0 or ST_ETLS with OpenSSL's reason.
 */
int st_x509_verify_chain(X509 *leaf, STACK_OF(X509) *intermediates, STACK_OF(X509) *anchors,
                         int64_t at_time, struct st_err *err);

/* What st_x509_inspect reports. All strings are owned by the record. */
struct st_x509_info {
    char *subject; /* RFC 2253 one-line form */
    char *issuer;
    char *cn; /* NULL when the subject has no CN */
    struct st_x509_names names;
    int64_t not_before; /* epoch seconds */
    int64_t not_after;
    char *serial_hex; /* upper-case hex, no separators */
    bool is_ca;
    int pathlen;       /* -1 when absent */
    unsigned eku;      /* ST_X509_EKU_* bits; 0 when there is no EKU extension */
    char key_type[32]; /* "EC P-256", "RSA 2048", ... */
    char sha256[65];   /* lower-case hex SHA-256 of the DER certificate */
};

/* Fills <out> from <cert> (borrowed). Free with st_x509_info_free. */
int st_x509_inspect(X509 *cert, struct st_x509_info *out, struct st_err *err);
void st_x509_info_free(struct st_x509_info *info);
/*
 * Appends <info> as "key: value" text lines to <out> (the format of
 * `strait identity inspect`; one line per SAN).
 */
int st_x509_info_print(const struct st_x509_info *info, struct st_buf *out);

/* True when <cert> (borrowed) carries the DNS SAN <name> (ASCII case-insensitive). */
bool st_x509_has_dns_san(X509 *cert, const char *name);

/* ---- CSRs ------------------------------------------------------------------ */

/*
 * Creates a PKCS#10 CSR signed by <key> for subject CN <cn> (may be NULL) and
 * <sans> (may be NULL). On success *pem_out is a new PEM C string.
 */
int st_x509_csr_new(EVP_PKEY *key, const char *cn, const struct st_x509_sans *sans, char **pem_out,
                    struct st_err *err);

/* What st_x509_csr_parse found; owned by the record. */
struct st_x509_csr_info {
    EVP_PKEY *key;          /* the requested public key (a new reference) */
    char *cn;               /* NULL when the subject has no CN */
    size_t n_subject_other; /* subject attributes other than a single CN */
    struct st_x509_names names;
    bool requests_ca;   /* basicConstraints with CA:TRUE was requested */
    unsigned eku;       /* requested EKU bits, 0 when none */
    size_t n_other_ext; /* requested extensions other than SAN, BC, KU, EKU */
};

/*
 * Parses an untrusted CSR given as PEM or DER (at most ST_X509_CSR_MAX bytes),
 * verifies its self-signature, requires an EC P-256 key and extracts the
 * subject CN, SANs and requested extensions. Returns 0, ST_ETOOBIG, ST_EPARSE
 * (malformed), ST_EAUTH (bad signature) or ST_EINVAL (wrong key type).
 * On failure <out> is left empty; always release it with st_x509_csr_info_free.
 */
int st_x509_csr_parse(const char *data, size_t len, struct st_x509_csr_info *out,
                      struct st_err *err);
void st_x509_csr_info_free(struct st_x509_csr_info *info);

/*
 * Succeeds only when the CSR asks for exactly the given identity: exactly one
 * DNS SAN equal to <expected_dns>, no URI SAN or exactly one equal to
 * <expected_uri> (NULL allows none), no IP SAN, no other names, a subject that
 * is empty or a single CN equal to <expected_dns>, no CA request and no
 * extensions besides SAN, basicConstraints, keyUsage and EKU. Returns 0 or
 * ST_EAUTH with the reason.
 */
int st_x509_csr_check_identity(const struct st_x509_csr_info *info, const char *expected_dns,
                               const char *expected_uri, struct st_err *err);

#endif
