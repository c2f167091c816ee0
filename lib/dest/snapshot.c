/*
 * The snapshot codec of the destination API (include/strait/dest.h): one
 * untrusted JSON line into a struct st_dest_snapshot, with caps on sizes and
 * counts and strict types for every field the proxy relies on.
 */
#include <stdio.h>
#include <stdlib.h>

#include "strait/dest.h"
#include "strait/json.h"

#define DEST_JSON_DEPTH 16

static void
dest_endpoints_free(struct st_dest_endpoint *eps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(eps[i].addr);
        free(eps[i].identity);
        free(eps[i].remote_authority);
    }
    free(eps);
}

void
st_dest_snapshot_free(struct st_dest_snapshot *s)
{
    if (s == NULL)
        return;
    dest_endpoints_free(s->eps, s->n_eps);
    for (size_t i = 0; i < s->n_leaves; i++) {
        free(s->leaves[i].service);
        free(s->leaves[i].name);
        free(s->leaves[i].namespace_);
        dest_endpoints_free(s->leaves[i].eps, s->leaves[i].n_eps);
    }
    free(s->leaves);
    free(s->authority);
    free(s->service);
    free(s->namespace_);
    free(s);
}

/* A copy of string field <key> of <obj>, or NULL (then ST_EPARSE if <required>). */
static int
dest_str(json_t *obj, const char *key, bool required, size_t max, char **out, struct st_err *err)
{
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        if (required)
            return st_err_set(err, ST_EPARSE, "missing field \"%s\"", key);
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max)
        return st_err_set(err, ST_EPARSE, "field \"%s\" must be a string of 1..%zu bytes", key,
                          max);
    *out = st_xstrndup(json_string_value(v), json_string_length(v));
    return 0;
}

static int
dest_port(json_t *obj, const char *key, uint16_t *out, struct st_err *err)
{
    json_t *v = json_object_get(obj, key);

    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65535)
        return st_err_set(err, ST_EPARSE, "field \"%s\" must be a port number", key);
    *out = (uint16_t)json_integer_value(v);
    return 0;
}

static int
dest_parse_endpoints(json_t *arr, struct st_dest_endpoint **out, size_t *n_out,
                     struct st_err *err)
{
    size_t n, i;
    json_t *e;
    int rc = 0;

    *out = NULL;
    *n_out = 0;
    if (!json_is_array(arr))
        return st_err_set(err, ST_EPARSE, "\"endpoints\" must be an array");
    n = json_array_size(arr);
    if (n > ST_DEST_MAX_ENDPOINTS)
        return st_err_set(err, ST_ETOOBIG, "more than %u endpoints", ST_DEST_MAX_ENDPOINTS);
    if (n == 0)
        return 0;
    *out = st_xcalloc(n, sizeof(**out));
    json_array_foreach(arr, i, e) {
        struct st_dest_endpoint *ep = &(*out)[i];
        *n_out = i + 1;
        if (!json_is_object(e)) {
            rc = st_err_set(err, ST_EPARSE, "an endpoint must be an object");
            break;
        }
        if ((rc = dest_str(e, "addr", true, ST_SOCK_ADDR_MAXLEN, &ep->addr, err)) < 0 ||
            (rc = dest_str(e, "identity", true, 1024, &ep->identity, err)) < 0 ||
            (rc = dest_str(e, "remote_authority", false, ST_DEST_AUTHORITY_MAX,
                           &ep->remote_authority, err)) < 0 ||
            (rc = dest_port(e, "proxy_port", &ep->proxy_port, err)) < 0)
            break;
        if (st_sock_parse_addr(ep->addr, &ep->target) < 0 ||
            st_sock_addr_port(&ep->target) <= 0) {
            rc = st_err_set(err, ST_EPARSE, "bad endpoint address \"%s\"", ep->addr);
            break;
        }
        json_t *ready = json_object_get(e, "ready");
        if (ready != NULL && !json_is_boolean(ready)) {
            rc = st_err_set(err, ST_EPARSE, "\"ready\" must be a boolean");
            break;
        }
        ep->ready = ready == NULL || json_is_true(ready);
    }
    return rc;
}

int
st_dest_snapshot_parse(const char *line, size_t len, struct st_dest_snapshot **out,
                       struct st_err *err)
{
    struct st_dest_snapshot *s = NULL;
    json_t *root = NULL;
    const char *kind;
    int rc;

    *out = NULL;
    if (len > ST_DEST_LINE_MAX)
        return st_err_set(err, ST_ETOOBIG, "snapshot line over %u bytes", ST_DEST_LINE_MAX);
    if (len > 0 && line[len - 1] == '\n')
        len--;
    root = st_json_load_ex(line, len, ST_DEST_LINE_MAX, DEST_JSON_DEPTH, err);
    if (root == NULL)
        return err && err->code == ST_ETOOBIG ? ST_ETOOBIG : ST_EPARSE;
    s = st_xcalloc(1, sizeof(*s));
    kind = json_string_value(json_object_get(root, "kind"));
    if (!json_is_object(root) || kind == NULL) {
        rc = st_err_set(err, ST_EPARSE, "a snapshot is an object with a \"kind\"");
        goto fail;
    }
    if (strcmp(kind, "heartbeat") == 0) {
        s->kind = ST_DEST_HEARTBEAT;
        goto done;
    }
    if ((rc = dest_str(root, "authority", true, ST_DEST_AUTHORITY_MAX + 16, &s->authority,
                       err)) < 0)
        goto fail;
    if (strcmp(kind, "not_found") == 0) {
        s->kind = ST_DEST_NOT_FOUND;
        goto done;
    }
    if (strcmp(kind, "service") == 0)
        s->kind = ST_DEST_SERVICE;
    else if (strcmp(kind, "split") == 0)
        s->kind = ST_DEST_SPLIT;
    else {
        rc = st_err_set(err, ST_EPARSE, "unknown snapshot kind \"%.32s\"", kind);
        goto fail;
    }
    if ((rc = dest_str(root, "service", true, 253, &s->service, err)) < 0 ||
        (rc = dest_str(root, "namespace", true, 63, &s->namespace_, err)) < 0 ||
        (rc = dest_port(root, "port", &s->port, err)) < 0)
        goto fail;
    if (s->kind == ST_DEST_SERVICE) {
        rc = dest_parse_endpoints(json_object_get(root, "endpoints"), &s->eps, &s->n_eps, err);
        if (rc < 0)
            goto fail;
        goto done;
    }
    json_t *leaves = json_object_get(root, "leaves"), *l;
    size_t i, n;
    if (!json_is_array(leaves)) {
        rc = st_err_set(err, ST_EPARSE, "\"leaves\" must be an array");
        goto fail;
    }
    n = json_array_size(leaves);
    if (n > ST_DEST_MAX_LEAVES) {
        rc = st_err_set(err, ST_ETOOBIG, "more than %u leaves", ST_DEST_MAX_LEAVES);
        goto fail;
    }
    s->leaves = n ? st_xcalloc(n, sizeof(*s->leaves)) : NULL;
    json_array_foreach(leaves, i, l) {
        struct st_dest_leaf *lf = &s->leaves[i];
        s->n_leaves = i + 1;
        json_t *w = json_object_get(l, "weight");
        if (!json_is_object(l) || !json_is_integer(w) || json_integer_value(w) < 0) {
            rc = st_err_set(err, ST_EPARSE, "a leaf is an object with an integer weight >= 0");
            goto fail;
        }
        lf->weight = (uint64_t)json_integer_value(w);
        if ((rc = dest_str(l, "service", true, ST_DEST_AUTHORITY_MAX, &lf->service, err)) < 0 ||
            (rc = dest_str(l, "name", true, 253, &lf->name, err)) < 0 ||
            (rc = dest_str(l, "namespace", true, 63, &lf->namespace_, err)) < 0 ||
            (rc = dest_parse_endpoints(json_object_get(l, "endpoints"), &lf->eps, &lf->n_eps,
                                       err)) < 0)
            goto fail;
    }
done:
    json_decref(root);
    *out = s;
    return 0;
fail:
    json_decref(root);
    st_dest_snapshot_free(s);
    return rc;
}
