/*
 * strait certify: the wire format of the controller's identity API
 * (`POST /v1/certify`, docs/identity-api.md) and its client.
 *
 * The codec (request and response bodies, identity names) is shared by the
 * controller, which parses requests from the network, and the proxy, which
 * parses the controller's answers. The client is blocking (lib/tls and the
 * HTTP/1.1 parser, deadlines on every wait) and thread-safe: the proxy runs it from its own thread, and any
 * number of threads may call it at once. Nothing here logs.
 */
#ifndef STRAIT_CERTIFY_H
#define STRAIT_CERTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "strait/core.h"

/* Caps on what a peer controls. */
#define ST_CERTIFY_BODY_MAX (32u * 1024)      /* bytes of one request body (else 413) */
#define ST_CERTIFY_TOKEN_MAX (16u * 1024)     /* bytes of one token */
#define ST_CERTIFY_RESPONSE_MAX (256u * 1024) /* bytes of one response body */

#define ST_CERTIFY_PATH "/v1/certify"
#define ST_CERTIFY_DEFAULT_TOKEN_FILE "/var/run/secrets/kubernetes.io/serviceaccount/token"
#define ST_CERTIFY_LEAF_LIFETIME_S (24 * 3600) /* workload certificates (DESIGN §4) */
#define ST_CERTIFY_LEAF_BACKDATE_S 20

/* ---- identity names ----------------------------------------------------------- */

/*
 * Returns a new string "<sa>.<ns>.serviceaccount.identity.strait.<td>", or
 * NULL when a part is not a DNS-1123 name (sa and td: subdomain, ns: label).
 */
char *st_certify_identity_dns(const char *sa, const char *ns, const char *td);
/* Returns a new string "spiffe://<td>/ns/<ns>/sa/<sa>", or NULL as above. */
char *st_certify_identity_uri(const char *sa, const char *ns, const char *td);

/*
 * Splits a reviewed Kubernetes user name "system:serviceaccount:<ns>:<sa>"
 * into new strings *ns and *sa. Returns 0, or ST_EINVAL (nothing allocated)
 * for any other user or a part that is not a DNS-1123 name.
 */
int st_certify_parse_username(const char *username, char **ns, char **sa);

/* ---- request body --------------------------------------------------------------- */

/*
 * A parsed request: {"token": "...", "csr": "-----BEGIN CERTIFICATE REQUEST..."}.
 * Owned by the holder; release with st_certify_req_free (wipes the token).
 */
struct st_certify_req {
    char *token; /* 1..ST_CERTIFY_TOKEN_MAX bytes of printable ASCII, no spaces */
    char *csr;   /* 1..ST_X509_CSR_MAX bytes, not yet checked: st_x509_csr_parse it */
};

/*
 * Parses an untrusted request body of <len> bytes. Returns 0, ST_ETOOBIG
 * (body over ST_CERTIFY_BODY_MAX or a field over its cap), or ST_EPARSE
 * (not a JSON object, a missing or mistyped field, a bad token). Unknown
 * fields are ignored, so clients may add optional ones. On failure <out> is
 * left empty; always release it with st_certify_req_free.
 */
int st_certify_req_parse(const char *body, size_t len, struct st_certify_req *out,
                         struct st_err *err);
/* Wipes the token, frees both fields and resets <r>. Accepts an empty record. */
void st_certify_req_free(struct st_certify_req *r);

/*
 * Appends the JSON request body for <token> and <csr_pem> (borrowed) to
 * <out>. Release <out> with st_buf_free_secret: it holds the token.
 */
int st_certify_req_encode(const char *token, const char *csr_pem, struct st_buf *out);

/* ---- response body and client result ---------------------------------------------- */

/* What a successful certify returns; owned by the holder. */
struct st_certify_result {
    char *certificate;  /* leaf PEM */
    char *chain;        /* PEM of the intermediates (the issuer), leaf excluded */
    int64_t not_before; /* of the leaf, epoch seconds */
    int64_t not_after;  /* of the leaf, epoch seconds */
    long http_status;   /* the controller's status; 0 when no answer arrived */
};

/* Frees the strings and resets <r> (keeps nothing). Accepts an empty record. */
void st_certify_result_free(struct st_certify_result *r);

/*
 * Appends the JSON response body {"certificate", "chain", "expiry"} to <out>;
 * <expiry> is epoch seconds, written as RFC 3339.
 */
int st_certify_resp_encode(const char *cert_pem, const char *chain_pem, int64_t expiry,
                           struct st_buf *out);
/*
 * Appends an error body {"error": "<message>", "code": <status>} to <out>.
 */
int st_certify_error_encode(int status, const char *message, struct st_buf *out);

/*
 * Parses an untrusted response body into out->certificate and out->chain
 * (not verified here). Returns 0, ST_ETOOBIG or ST_EPARSE. For an error
 * body, returns ST_EPROTO with the server's "error" message in <err>.
 */
int st_certify_resp_parse(const char *body, size_t len, struct st_certify_result *out,
                          struct st_err *err);

/* ---- client --------------------------------------------------------------------- */

/* Where and how to certify. Everything is borrowed for the call. */
struct st_certify_opts {
    /*
     * The controller's address "HOST:PORT" (a name, an IPv4 address or
     * "[IPv6]"). The connection goes there; the path is ST_CERTIFY_PATH.
     */
    const char *addr;
    /*
     * The controller's expected identity, a DNS SAN its certificate must carry
     * (e.g. strait-controller.strait.serviceaccount.identity.strait.cluster.local).
     * NULL checks the host of <addr> instead, as any HTTPS client would.
     */
    const char *server_identity;
    /* Trust anchors: a PEM bundle in memory, else a file. One is required. */
    const char *anchors_pem;
    const char *anchors_file;
    /* The service-account token: given directly, else read from <token_file>
       (NULL: ST_CERTIFY_DEFAULT_TOKEN_FILE), trailing whitespace dropped. */
    const char *token;
    const char *token_file;
    /* The identity to request (st_certify_identity_dns/uri); uri may be NULL. */
    const char *identity_dns;
    const char *identity_uri;
    uint32_t connect_timeout_ms; /* 0 = 5,000 */
    uint32_t timeout_ms;         /* whole exchange; 0 = 15,000 */
};

/*
 * Certifies <key> (borrowed; only its public half is sent, in a CSR signed
 * with it): builds a CSR for opts->identity_dns (+ identity_uri), POSTs it
 * with the token over HTTPS, verifying the controller's certificate against
 * the anchors and its identity, and checks the answer: the leaf must carry
 * <key>'s public key and the requested DNS SAN, and chain through the
 * returned intermediates to the anchors now. On success <out> holds the leaf
 * and chain PEM and the leaf's validity. Returns 0 or a negative code with
 * <err> set: ST_EAUTH (401 token refused, 403 identity refused), ST_EINVAL
 * (400), ST_ETOOBIG (413), -EAGAIN (503: no issuer yet, retry), ST_EPROTO
 * (other statuses, a malformed answer), ST_ETLS (TLS or certificate
 * verification failed, also for a returned certificate that does not
 * verify), ST_ETIMEOUT, -ECONNREFUSED or -EIO (transport), -errno (token
 * file). out->http_status is set whenever an answer arrived.
 */
int st_certify_request(const struct st_certify_opts *opts, EVP_PKEY *key,
                       struct st_certify_result *out, struct st_err *err);

/*
 * The same with a CSR the caller made (<csr_pem>, borrowed); identity_dns is
 * still the name the returned leaf must carry. For tests and for callers
 * that add their own attributes.
 */
int st_certify_request_csr(const struct st_certify_opts *opts, EVP_PKEY *key, const char *csr_pem,
                           struct st_certify_result *out, struct st_err *err);

/* ---- schedule ------------------------------------------------------------------- */

/*
 * When to renew a certificate valid from <not_before> to <not_after> (epoch
 * seconds): at 70 % of its lifetime, jittered by +-10 % of that point (so
 * between 63 % and 77 %), from the random value <rnd> (e.g. st_random_u64()).
 * A certificate with no lifetime renews at <not_before>.
 */
int64_t st_certify_renew_at(int64_t not_before, int64_t not_after, uint64_t rnd);

/*
 * The delay before retry number <attempt> (0 for the first retry) after a
 * failed certify: 1 s doubling to at most 60 s, jittered by +-20 % from <rnd>.
 */
uint64_t st_certify_backoff_ms(unsigned attempt, uint64_t rnd);

#endif
