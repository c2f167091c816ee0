/*
 * strait identity: make a trust anchor and an issuer, and inspect
 * certificates (docs/cli.md, docs/identity.md for the profiles).
 *
 *   strait identity create-anchor --cert FILE --key FILE [--lifetime 87600h] [--cn NAME] [--force]
 *   strait identity create-issuer --anchor-cert FILE --anchor-key FILE --cert FILE --key FILE
 *                                 [--lifetime 8760h] [--cn NAME] [--force]
 *   strait identity inspect FILE [--anchors BUNDLE]
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "cli.h"
#include "strait/x509.h"

#define IDENTITY_ANCHOR_CN "root.strait.cluster.local"
#define IDENTITY_ISSUER_CN "identity.strait.cluster.local"
#define IDENTITY_ANCHOR_LIFETIME "87600h"
#define IDENTITY_ISSUER_LIFETIME "8760h"
#define IDENTITY_CN_MAX 64 /* X.509's upper bound for a common name */

/* Flags of the create-* subcommands. */
struct identity_opts {
    const char *cert;
    const char *key;
    const char *anchor_cert;
    const char *anchor_key;
    const char *anchors;
    const char *lifetime;
    const char *cn;
    bool force;
};

static void
identity_usage(FILE *f)
{
    fputs("Usage:\n"
          "  strait identity create-anchor --cert FILE --key FILE [--lifetime 87600h]\n"
          "                                [--cn " IDENTITY_ANCHOR_CN "] [--force]\n"
          "  strait identity create-issuer --anchor-cert FILE --anchor-key FILE\n"
          "                                --cert FILE --key FILE [--lifetime 8760h]\n"
          "                                [--cn " IDENTITY_ISSUER_CN "] [--force]\n"
          "  strait identity inspect FILE [--anchors BUNDLE]\n\n"
          "create-anchor  makes a self-signed ECDSA P-256 trust anchor (root CA)\n"
          "create-issuer  makes an issuer (intermediate CA, pathlen 0) signed by the anchor\n"
          "inspect        prints a certificate and, with --anchors, whether it chains to them\n\n"
          "Lifetimes are Go durations (24h, 90m, 8760h). Keys are written with mode 0600;\n"
          "existing files are never replaced without --force.\n",
          f);
}

/* Parses the common flags of a subcommand into <o>; returns -1 (and prints) on a usage error. */
static int
identity_parse(int argc, char **argv, struct identity_opts *o, int *first_arg)
{
    static const struct option opts[] = {
        {"cert", required_argument, NULL, 'c'},
        {"key", required_argument, NULL, 'k'},
        {"anchor-cert", required_argument, NULL, 'A'},
        {"anchor-key", required_argument, NULL, 'K'},
        {"anchors", required_argument, NULL, 'a'},
        {"lifetime", required_argument, NULL, 'l'},
        {"cn", required_argument, NULL, 'n'},
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->cert = optarg;
            break;
        case 'k':
            o->key = optarg;
            break;
        case 'A':
            o->anchor_cert = optarg;
            break;
        case 'K':
            o->anchor_key = optarg;
            break;
        case 'a':
            o->anchors = optarg;
            break;
        case 'l':
            o->lifetime = optarg;
            break;
        case 'n':
            o->cn = optarg;
            break;
        case 'f':
            o->force = true;
            break;
        case 'h':
            identity_usage(stdout);
            return 1;
        case ':':
            return cli_usage_error("identity", "%s needs a value", argv[optind - 1]), -1;
        default:
            return cli_usage_error("identity", "unknown flag %s", argv[optind - 1]), -1;
        }
    }
    *first_arg = optind;
    return 0;
}

/* Parses a lifetime flag into whole seconds (at least one). */
static int
identity_lifetime(const char *text, int64_t *out_s)
{
    struct st_err err = {0};
    int64_t ns;

    if (duration_parse(text, &ns, &err) < 0)
        return cli_usage_error("identity", "--lifetime: %s", err.msg), -1;
    if (ns < 1000000000LL)
        return cli_usage_error("identity", "--lifetime must be at least 1s, not \"%s\"", text), -1;
    *out_s = ns / 1000000000LL;
    return 0;
}

/* Refuses to touch existing output files unless --force; returns an exit code or 0. */
static int
identity_check_outputs(const char *cmd, const struct identity_opts *o)
{
    if (o->cert == NULL || o->key == NULL)
        return cli_usage_error("identity", "%s needs --cert and --key", cmd);
    if (strcmp(o->cert, o->key) == 0)
        return cli_usage_error("identity", "--cert and --key must be different files");
    if (o->force)
        return 0;
    if (access(o->key, F_OK) == 0)
        return cli_fail("%s already exists; refusing to overwrite a key (use --force)", o->key);
    if (access(o->cert, F_OK) == 0)
        return cli_fail("%s already exists; refusing to overwrite it (use --force)", o->cert);
    return 0;
}

static int
identity_check_cn(const char *cn)
{
    if (cn[0] == '\0' || strlen(cn) > IDENTITY_CN_MAX)
        return cli_usage_error("identity", "--cn must be 1 to %d bytes", IDENTITY_CN_MAX);
    return 0;
}

/*
 * Writes <key> then <cert>; if the certificate cannot be written, a key we
 * just created is removed again so that a retry does not trip over it.
 */
static int
identity_write(const struct identity_opts *o, X509 *cert, EVP_PKEY *key)
{
    struct st_err err = {0};

    if (st_x509_key_write_file(o->key, key, o->force, &err) < 0) {
        if (err.code == -EEXIST)
            return cli_fail("%s already exists; refusing to overwrite a key (use --force)", o->key);
        return cli_fail("cannot write %s: %s", o->key, err.msg);
    }
    if (st_x509_write_pem_file(o->cert, cert, NULL, 0644, &err) < 0) {
        if (!o->force)
            unlink(o->key);
        return cli_fail("cannot write %s: %s", o->cert, err.msg);
    }
    return 0;
}

/* Prints one summary line for a certificate just written. */
static void
identity_report(const char *what, const char *path, X509 *cert)
{
    struct st_x509_info info = {0};
    char until[21] = "?";

    if (st_x509_inspect(cert, &info, NULL) == 0)
        st_rfc3339(info.not_after, until);
    printf("wrote %s %s (%s, valid until %s)\n", what, path, info.subject ? info.subject : "?",
           until);
    st_x509_info_free(&info);
}

static int
identity_create_anchor(int argc, char **argv)
{
    struct identity_opts o = {.lifetime = IDENTITY_ANCHOR_LIFETIME, .cn = IDENTITY_ANCHOR_CN};
    struct st_err err = {0};
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    int64_t life;
    int first, rc;

    if ((rc = identity_parse(argc, argv, &o, &first)) != 0)
        return rc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (first < argc)
        return cli_usage_error("identity", "create-anchor takes no arguments, got \"%s\"",
                               argv[first]);
    if (o.anchor_cert || o.anchor_key || o.anchors)
        return cli_usage_error("identity", "create-anchor takes no --anchor-* or --anchors");
    if (identity_lifetime(o.lifetime, &life) < 0 || identity_check_cn(o.cn) != 0)
        return CLI_EXIT_USAGE;
    if ((rc = identity_check_outputs("create-anchor", &o)) != 0)
        return rc;
    if (st_x509_ca_new(o.cn, life, &cert, &key, &err) < 0)
        return cli_fail("cannot create the trust anchor: %s", err.msg);
    rc = identity_write(&o, cert, key);
    if (rc == 0)
        identity_report("trust anchor", o.cert, cert);
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

static int
identity_create_issuer(int argc, char **argv)
{
    struct identity_opts o = {.lifetime = IDENTITY_ISSUER_LIFETIME, .cn = IDENTITY_ISSUER_CN};
    struct st_err err = {0};
    struct st_x509_info ainfo = {0};
    STACK_OF(X509) *anchors = NULL;
    X509 *anchor, *cert = NULL;
    EVP_PKEY *anchor_key = NULL, *key = NULL;
    int64_t life;
    int first, rc;

    if ((rc = identity_parse(argc, argv, &o, &first)) != 0)
        return rc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (first < argc)
        return cli_usage_error("identity", "create-issuer takes no arguments, got \"%s\"",
                               argv[first]);
    if (o.anchor_cert == NULL || o.anchor_key == NULL)
        return cli_usage_error("identity", "create-issuer needs --anchor-cert and --anchor-key");
    if (identity_lifetime(o.lifetime, &life) < 0 || identity_check_cn(o.cn) != 0)
        return CLI_EXIT_USAGE;
    if ((rc = identity_check_outputs("create-issuer", &o)) != 0)
        return rc;

    if (st_x509_bundle_read_file(o.anchor_cert, &anchors, &err) < 0) {
        rc = cli_fail("cannot read the anchor certificate %s: %s", o.anchor_cert, err.msg);
        goto out;
    }
    anchor = sk_X509_value(anchors, 0);
    if (st_x509_key_read_file(o.anchor_key, &anchor_key, &err) < 0) {
        rc = cli_fail("cannot read the anchor key %s: %s", o.anchor_key, err.msg);
        goto out;
    }
    if (st_x509_inspect(anchor, &ainfo, &err) < 0) {
        rc = cli_fail("%s: %s", o.anchor_cert, err.msg);
        goto out;
    }
    if (!ainfo.is_ca) {
        rc = cli_fail("%s is not a CA certificate", o.anchor_cert);
        goto out;
    }
    if (X509_check_private_key(anchor, anchor_key) != 1) {
        ERR_clear_error();
        rc = cli_fail("%s is not the key of %s", o.anchor_key, o.anchor_cert);
        goto out;
    }
    if (ainfo.not_after <= st_wall_s()) {
        rc = cli_fail("the anchor %s has expired", o.anchor_cert);
        goto out;
    }
    key = st_x509_key_new_p256();
    if (key == NULL) {
        rc = cli_fail("cannot create a P-256 key");
        goto out;
    }
    struct st_x509_issue_req req = {
        .issuer_cert = anchor,
        .issuer_key = anchor_key,
        .subject_key = key,
        .cn = o.cn,
        .lifetime_s = life,
        .backdate_s = 20,
        .is_ca = true,
        .pathlen = 0,
    };
    if (st_x509_issue(&req, &cert, &err) < 0) {
        rc = cli_fail("cannot issue the issuer certificate: %s", err.msg);
        goto out;
    }
    rc = identity_write(&o, cert, key);
    if (rc == 0) {
        identity_report("issuer", o.cert, cert);
        if (ainfo.not_after < st_wall_s() + life)
            printf("note: the lifetime was cut to the anchor's expiry\n");
    }
out:
    st_x509_info_free(&ainfo);
    st_x509_chain_free(anchors);
    X509_free(cert);
    EVP_PKEY_free(anchor_key);
    EVP_PKEY_free(key);
    return rc;
}

static int
identity_inspect(int argc, char **argv)
{
    struct identity_opts o = {0};
    struct st_err err = {0};
    struct st_x509_info info = {0};
    struct st_buf out = ST_BUF_INIT(0);
    STACK_OF(X509) *certs = NULL, *anchors = NULL, *rest = NULL;
    int first, rc;

    if ((rc = identity_parse(argc, argv, &o, &first)) != 0)
        return rc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (argc - first != 1)
        return cli_usage_error("identity", "inspect takes exactly one FILE");
    if (o.cert || o.key || o.anchor_cert || o.anchor_key || o.force || o.lifetime || o.cn)
        return cli_usage_error("identity", "inspect takes only FILE and --anchors");
    const char *path = argv[first];

    if (st_x509_bundle_read_file(path, &certs, &err) < 0) {
        rc = cli_fail("cannot read %s: %s", path, err.msg);
        goto out;
    }
    if (o.anchors != NULL && st_x509_bundle_read_file(o.anchors, &anchors, &err) < 0) {
        rc = cli_fail("cannot read the anchors %s: %s", o.anchors, err.msg);
        goto out;
    }
    X509 *leaf = sk_X509_value(certs, 0);
    if (st_x509_inspect(leaf, &info, &err) < 0) {
        rc = cli_fail("%s: %s", path, err.msg);
        goto out;
    }
    int64_t left = info.not_after - st_wall_s();
    if (st_x509_info_print(&info, &out) < 0 ||
        st_buf_appendf(&out, "days_left: %lld%s\n", (long long)(left / 86400),
                       left <= 0 ? " (expired)" : "") < 0) {
        rc = cli_fail("cannot format %s", path);
        goto out;
    }
    if (sk_X509_num(certs) > 1 &&
        st_buf_appendf(&out, "chain: %d more certificate(s)\n", sk_X509_num(certs) - 1) < 0) {
        rc = cli_fail("cannot format %s", path);
        goto out;
    }
    fputs(st_buf_cstr(&out), stdout);
    rc = CLI_EXIT_OK;
    if (anchors != NULL) {
        rest = sk_X509_new_null();
        for (int i = 1; i < sk_X509_num(certs); i++)
            sk_X509_push(rest, sk_X509_value(certs, i));
        if (st_x509_verify_chain(leaf, rest, anchors, 0, &err) == 0) {
            printf("chains_to_anchors: yes\n");
        } else {
            printf("chains_to_anchors: no\n");
            fflush(stdout);
            rc = cli_fail("%s does not chain to the anchors in %s: %s", path, o.anchors, err.msg);
        }
    }
out:
    sk_X509_free(rest); /* borrowed certificates: free the stack only */
    st_x509_chain_free(certs);
    st_x509_chain_free(anchors);
    st_x509_info_free(&info);
    st_buf_free(&out);
    return rc;
}

static int
identity_run(const struct cli_global *g, int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int argc, char **argv);
    } subs[] = {
        {"create-anchor", identity_create_anchor},
        {"create-issuer", identity_create_issuer},
        {"inspect", identity_inspect},
    };

    if (argc < 2) {
        identity_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        identity_usage(stdout);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < ST_ARRAY_LEN(subs); i++)
        if (strcmp(argv[1], subs[i].name) == 0)
            return subs[i].fn(argc - 1, argv + 1);
    return cli_usage_error("identity", "unknown identity command \"%s\"", argv[1]);
}

const struct cli_command identity_command = {
    "identity",
    "Create trust anchors and issuers, inspect certificates",
    identity_run,
};
