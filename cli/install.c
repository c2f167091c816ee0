/*
 * strait install: prints the control plane manifests for `kubectl apply -f -`
 * (docs/cli.md). The same objects are applied by `strait cluster create`
 * through install_objects(). The YAML comes from manifests/install.yaml and
 * the YAML files of crds/, embedded into the binary at build time.
 *
 *   strait install [--trust-anchor FILE --issuer-cert FILE --issuer-key FILE] [--ha]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/err.h>

#include "cli.h"
#include "local.h"
#include "strait/json.h"
#include "strait/x509.h"

/* Generated from manifests/install.yaml and crds/ by manifests/embed.cmake. */
extern const char install_manifest_yaml[];
extern const char install_crds_yaml[];

#define INSTALL_ANCHOR_CN "root.strait.cluster.local"
#define INSTALL_ISSUER_CN "identity.strait.cluster.local"
#define INSTALL_ANCHOR_LIFETIME_S (10LL * 365 * 86400)
#define INSTALL_ISSUER_LIFETIME_S (365LL * 86400)

void
install_identity_free(struct install_identity *id)
{
    free(id->anchors);
    free(id->issuer_crt);
    if (id->issuer_key != NULL)
        st_free_secret(id->issuer_key, strlen(id->issuer_key));
    memset(id, 0, sizeof(*id));
}

/* Reads a whole file into a new C string; the buffer is wiped when <secret>. */
static int
install_read(const char *path, bool secret, char **out, struct st_err *err)
{
    struct st_buf b = ST_BUF_INIT(ST_X509_PEM_MAX);
    int rc = st_file_read(path, &b);

    if (rc < 0) {
        secret ? st_buf_free_secret(&b) : st_buf_free(&b);
        return st_err_set(err, rc, "cannot read %s: %s", path, st_strerror(rc));
    }
    *out = st_xstrdup(st_buf_cstr(&b));
    secret ? st_buf_free_secret(&b) : st_buf_free(&b);
    return 0;
}

int
install_identity_load(const char *anchor, const char *issuer_crt, const char *issuer_key,
                      struct install_identity *out, struct st_err *err)
{
    STACK_OF(X509) *anchors = NULL, *issuer = NULL, *rest = NULL;
    EVP_PKEY *key = NULL;
    struct st_x509_info info = {0};
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = install_read(anchor, false, &out->anchors, err)) < 0 ||
        (rc = install_read(issuer_crt, false, &out->issuer_crt, err)) < 0 ||
        (rc = install_read(issuer_key, true, &out->issuer_key, err)) < 0)
        goto out;
    if ((rc = st_x509_bundle_from_pem(out->anchors, 0, &anchors, err)) < 0) {
        local_err_wrap(err, rc, "%s", anchor);
        goto out;
    }
    if ((rc = st_x509_bundle_from_pem(out->issuer_crt, 0, &issuer, err)) < 0) {
        local_err_wrap(err, rc, "%s", issuer_crt);
        goto out;
    }
    if ((rc = st_x509_key_from_pem(out->issuer_key, 0, &key, err)) < 0) {
        local_err_wrap(err, rc, "%s", issuer_key);
        goto out;
    }
    X509 *leaf = sk_X509_value(issuer, 0);
    if (X509_check_private_key(leaf, key) != 1) {
        ERR_clear_error();
        rc = st_err_set(err, ST_EINVAL, "%s is not the key of %s", issuer_key, issuer_crt);
        goto out;
    }
    if ((rc = st_x509_inspect(leaf, &info, err)) < 0)
        goto out;
    if (!info.is_ca) {
        rc = st_err_set(err, ST_EINVAL, "%s is not a CA certificate", issuer_crt);
        goto out;
    }
    rest = sk_X509_new_null();
    for (int i = 1; i < sk_X509_num(issuer); i++)
        sk_X509_push(rest, sk_X509_value(issuer, i));
    if ((rc = st_x509_verify_chain(leaf, rest, anchors, 0, err)) < 0) {
        local_err_wrap(err, rc, "%s does not chain to %s", issuer_crt, anchor);
        goto out;
    }
out:
    if (rc < 0)
        install_identity_free(out);
    sk_X509_free(rest); /* borrowed certificates */
    st_x509_chain_free(anchors);
    st_x509_chain_free(issuer);
    EVP_PKEY_free(key);
    st_x509_info_free(&info);
    return rc;
}

int
install_identity_generate(struct install_identity *out, struct st_err *err)
{
    X509 *anchor = NULL, *issuer = NULL;
    EVP_PKEY *akey = NULL, *ikey = NULL;
    struct st_buf a = ST_BUF_INIT(0), c = ST_BUF_INIT(0), k = ST_BUF_INIT(0);
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = st_x509_ca_new(INSTALL_ANCHOR_CN, INSTALL_ANCHOR_LIFETIME_S, &anchor, &akey, err)) <
        0)
        goto out;
    if ((ikey = st_x509_key_new_p256()) == NULL) {
        rc = st_err_set(err, ST_ETLS, "cannot create a P-256 key");
        goto out;
    }
    struct st_x509_issue_req req = {
        .issuer_cert = anchor,
        .issuer_key = akey,
        .subject_key = ikey,
        .cn = INSTALL_ISSUER_CN,
        .lifetime_s = INSTALL_ISSUER_LIFETIME_S,
        .backdate_s = 20,
        .is_ca = true,
        .pathlen = 0,
    };
    if ((rc = st_x509_issue(&req, &issuer, err)) < 0)
        goto out;
    if ((rc = st_x509_to_pem(anchor, &a)) < 0 || (rc = st_x509_to_pem(issuer, &c)) < 0 ||
        (rc = st_x509_key_to_pem(ikey, &k, err)) < 0) {
        st_err_set(err, rc, "cannot encode the identity certificates");
        goto out;
    }
    out->anchors = st_buf_steal(&a);
    out->issuer_crt = st_buf_steal(&c);
    out->issuer_key = st_xstrdup(st_buf_cstr(&k));
out:
    X509_free(anchor);
    X509_free(issuer);
    EVP_PKEY_free(akey); /* the anchor key is not kept: nothing else is signed with it */
    EVP_PKEY_free(ikey);
    st_buf_free(&a);
    st_buf_free(&c);
    st_buf_free_secret(&k);
    return rc;
}

/* Sets data.<key> of <obj> to base64 of <text>. */
static void
install_set_b64(json_t *obj, const char *key, const char *text)
{
    const char *segs[] = {"data", key};
    char *b64 = st_base64_encode(text, strlen(text));

    st_json_set_pathv(obj, segs, 2, json_string(b64));
    free(b64);
}

int
install_objects(const struct install_identity *id, bool ha, json_t **out, struct st_err *err)
{
    json_t *crds = NULL, *objs = NULL, *all = json_array(), *o;
    size_t i;
    int rc = 0;

    *out = NULL;
    crds = st_yaml_load_objects(install_crds_yaml, strlen(install_crds_yaml), NULL, err);
    objs = st_yaml_load_objects(install_manifest_yaml, strlen(install_manifest_yaml), NULL, err);
    if (crds == NULL || objs == NULL) {
        rc = local_err_wrap(err, ST_EPARSE, "the embedded manifests do not parse");
        goto out;
    }
    /* The Namespace first, then the CRDs, then the rest in file order. */
    json_array_foreach(objs, i, o)
    {
        if (strcmp(st_json_str(o, "kind") ?: "", "Namespace") == 0)
            json_array_append(all, o);
    }
    json_array_extend(all, crds);
    json_array_foreach(objs, i, o)
    {
        const char *kind = st_json_str(o, "kind") ?: "", *name = st_json_str(o, "metadata.name");
        if (strcmp(kind, "Namespace") == 0)
            continue;
        if (strcmp(kind, "Secret") == 0 && strcmp(name ?: "", "strait-identity-issuer") == 0) {
            install_set_b64(o, "tls.crt", id->issuer_crt);
            install_set_b64(o, "tls.key", id->issuer_key);
        } else if (strcmp(kind, "ConfigMap") == 0 &&
                   strcmp(name ?: "", "strait-identity-trust-roots") == 0) {
            const char *segs[] = {"data", "ca-bundle.crt"};
            st_json_set_pathv(o, segs, 2, json_string(id->anchors));
        } else if (strcmp(kind, "Deployment") == 0 && ha) {
            st_json_set_path(o, "spec.replicas", json_integer(3));
            json_t *term =
                json_pack("{s:i, s:{s:{s:{s:s}}, s:s}}", "weight", 100, "podAffinityTerm",
                          "labelSelector", "matchLabels", "strait.io/control-plane-component",
                          "controller", "topologyKey", "kubernetes.io/hostname");
            st_json_set_path(
                o, "spec.template.spec.affinity.podAntiAffinity",
                json_pack("{s:[o]}", "preferredDuringSchedulingIgnoredDuringExecution", term));
        }
        json_array_append(all, o);
    }
    *out = all;
    all = NULL;
out:
    json_decref(all);
    json_decref(crds);
    json_decref(objs);
    return rc;
}

static void
install_usage(FILE *f)
{
    fputs("Usage:\n"
          "  strait install [--trust-anchor FILE --issuer-cert FILE --issuer-key FILE] [--ha]\n\n"
          "Prints the control plane manifests for `kubectl apply -f -`: the strait namespace,\n"
          "the CRDs, the controller's ServiceAccount and RBAC, the identity issuer Secret and\n"
          "trust roots ConfigMap, and the controller's Service and Deployment.\n\n"
          "Without the identity flags a fresh trust anchor and issuer are made (the anchor's\n"
          "key is not kept). --ha runs three controller replicas.\n",
          f);
}

static int
install_run(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"trust-anchor", required_argument, NULL, 'a'},
        {"issuer-cert", required_argument, NULL, 'c'},
        {"issuer-key", required_argument, NULL, 'k'},
        {"ha", no_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *anchor = NULL, *icrt = NULL, *ikey = NULL;
    struct install_identity id = {0};
    struct st_err err = {0};
    struct st_buf yaml = ST_BUF_INIT(0);
    json_t *objs = NULL;
    bool ha = false;
    int c, rc;

    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            anchor = optarg;
            break;
        case 'c':
            icrt = optarg;
            break;
        case 'k':
            ikey = optarg;
            break;
        case 'H':
            ha = true;
            break;
        case 'h':
            install_usage(stdout);
            return CLI_EXIT_OK;
        case ':':
            return cli_usage_error("install", "%s needs a value", argv[optind - 1]);
        default:
            return cli_usage_error("install", "unknown flag %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("install", "install takes no arguments, got \"%s\"", argv[optind]);
    if ((anchor || icrt || ikey) && !(anchor && icrt && ikey))
        return cli_usage_error("install",
                               "--trust-anchor, --issuer-cert and --issuer-key go together");
    rc = anchor != NULL ? install_identity_load(anchor, icrt, ikey, &id, &err)
                        : install_identity_generate(&id, &err);
    if (rc < 0) {
        rc = cli_fail("%s", err.msg);
        goto out;
    }
    if (install_objects(&id, ha, &objs, &err) < 0 || st_yaml_dump_all(objs, &yaml) < 0) {
        rc = cli_fail("cannot render the manifests: %s", err.msg);
        goto out;
    }
    fputs(st_buf_cstr(&yaml), stdout);
    rc = fflush(stdout) == 0 ? CLI_EXIT_OK : cli_fail("cannot write the manifests");
out:
    json_decref(objs);
    st_buf_free_secret(&yaml);
    install_identity_free(&id);
    return rc;
}

const struct cli_command install_command = {
    "install",
    "Print the control plane manifests for kubectl apply",
    install_run,
};
