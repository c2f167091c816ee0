/*
 * The destination model (dmodel.h): authorities, weights, snapshots and the
 * Endpoints of workload Services. Pure functions over borrowed JSON.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#include <arpa/inet.h>

#include "strait/json.h"

#include "dmodel.h"

/* ---- authorities ----------------------------------------------------------------- */

static bool
dmodel_host_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '-' || ch == '.';
}

int
dmodel_parse_authority(const char *authority, const char *client_ns, const char *domain,
                       struct dmodel_authority *out)
{
    char host[DMODEL_AUTHORITY_MAX + 1];
    const char *labels[8];
    size_t n_labels = 0, hn;
    uint64_t port = 80;
    const char *colon;

    memset(out, 0, sizeof(*out));
    size_t len = strlen(authority);
    if (len == 0 || len > DMODEL_AUTHORITY_MAX)
        return ST_EPARSE;
    colon = strchr(authority, ':');
    hn = colon ? (size_t)(colon - authority) : len;
    if (colon != NULL && st_parse_u64(st_str_c(colon + 1), 65535, &port) < 0)
        return ST_EPARSE;
    if (hn == 0 || port == 0)
        return ST_EPARSE;
    for (size_t i = 0; i < hn; i++) {
        if (!dmodel_host_char(authority[i]))
            return ST_EPARSE;
        host[i] = (char)tolower((unsigned char)authority[i]);
    }
    host[hn] = '\0';
    if (hn > 1 && host[hn - 1] == '.')
        host[--hn] = '\0'; /* a fully qualified name with its root dot */
    if (host[0] == '.' || host[hn - 1] == '.' || strstr(host, "..") != NULL)
        return ST_EPARSE;
    out->port = (uint16_t)port;

    struct in_addr a4;
    if (inet_pton(AF_INET, host, &a4) == 1) {
        out->is_ip = true;
        inet_ntop(AF_INET, &a4, out->ip, sizeof(out->ip));
        snprintf(out->key, sizeof(out->key), "%s:%u", out->ip, out->port);
        return 0;
    }
    snprintf(out->key, sizeof(out->key), "%s:%u", host, out->port);

    /* Split into labels in place. */
    char *p = host;
    labels[n_labels++] = p;
    for (; *p; p++) {
        if (*p != '.')
            continue;
        *p = '\0';
        if (n_labels == ST_ARRAY_LEN(labels))
            return ST_ENOTFOUND;
        labels[n_labels++] = p + 1;
    }
    const char *name = labels[0], *ns = client_ns;
    if (n_labels >= 2)
        ns = labels[1];
    if (n_labels >= 3 && strcmp(labels[2], "svc") != 0)
        return ST_ENOTFOUND;
    if (n_labels > 3) {
        /* The rest must be exactly the cluster domain. */
        char rest[DMODEL_AUTHORITY_MAX + 1] = "";
        size_t off = 0;
        for (size_t i = 3; i < n_labels; i++)
            off += (size_t)snprintf(rest + off, sizeof(rest) - off, "%s%s", i > 3 ? "." : "",
                                    labels[i]);
        if (strcmp(rest, domain) != 0)
            return ST_ENOTFOUND;
    }
    if (ns == NULL || !st_dns1123_label(name) || !st_dns1123_label(ns))
        return ST_ENOTFOUND;
    st_strlcpy(out->name, name, sizeof(out->name));
    st_strlcpy(out->ns, ns, sizeof(out->ns));
    snprintf(out->key, sizeof(out->key), "%s.%s.svc.%s:%u", name, ns, domain, out->port);
    return 0;
}

/* ---- weights ----------------------------------------------------------------------- */

int
dmodel_quantity_milli(const char *s, int64_t *out)
{
    /* The value is mantissa * 10^exp10 * 2^exp2, computed in milli-units. */
    const char *p = s;
    uint64_t mant = 0;
    int frac_digits = 0, exp10 = 0, exp2 = 0;
    bool digits = false, dot = false;

    if (*p == '+')
        p++;
    for (; *p; p++) {
        if (*p == '.' && !dot) {
            dot = true;
            continue;
        }
        if (!isdigit((unsigned char)*p))
            break;
        digits = true;
        if (mant > UINT64_MAX / 100) {
            /* Past 18 significant digits: drop fraction digits, refuse integer ones. */
            if (!dot)
                return ST_ETOOBIG;
            continue;
        }
        mant = mant * 10 + (uint64_t)(*p - '0');
        frac_digits += dot;
    }
    if (!digits)
        return ST_EPARSE;
    const char *suf = p;
    if (*suf == '\0')
        exp10 = 0;
    else if (strcmp(suf, "n") == 0)
        exp10 = -9;
    else if (strcmp(suf, "u") == 0)
        exp10 = -6;
    else if (strcmp(suf, "m") == 0)
        exp10 = -3;
    else if (strcmp(suf, "k") == 0)
        exp10 = 3;
    else if (strcmp(suf, "M") == 0)
        exp10 = 6;
    else if (strcmp(suf, "G") == 0)
        exp10 = 9;
    else if (strcmp(suf, "T") == 0)
        exp10 = 12;
    else if (strcmp(suf, "P") == 0)
        exp10 = 15;
    else if (strcmp(suf, "E") == 0)
        exp10 = 18;
    else if (strcmp(suf, "Ki") == 0)
        exp2 = 10;
    else if (strcmp(suf, "Mi") == 0)
        exp2 = 20;
    else if (strcmp(suf, "Gi") == 0)
        exp2 = 30;
    else if (strcmp(suf, "Ti") == 0)
        exp2 = 40;
    else if (strcmp(suf, "Pi") == 0)
        exp2 = 50;
    else if (strcmp(suf, "Ei") == 0)
        exp2 = 60;
    else if (suf[0] == 'e' || suf[0] == 'E') {
        int64_t e;
        if (st_parse_i64(st_str_c(suf + 1), &e) < 0 || suf[1] == '\0' || e < -30 || e > 30)
            return ST_EPARSE;
        exp10 = (int)e;
    } else
        return ST_EPARSE;

    /* milli = mant * 10^(exp10 + 3 - frac_digits) * 2^exp2, rounded up. */
    int e10 = exp10 + 3 - frac_digits;
    unsigned __int128 v = mant;
    const unsigned __int128 cap = (unsigned __int128)DMODEL_MAX_WEIGHT_MILLI;
    for (int i = 0; i < exp2; i++) {
        v <<= 1;
        if (v > cap)
            return ST_ETOOBIG;
    }
    for (; e10 > 0; e10--) {
        v *= 10;
        if (v > cap)
            return ST_ETOOBIG;
    }
    for (; e10 < 0; e10++) {
        bool rest = v % 10 != 0;
        v = v / 10 + rest;
    }
    if (v > cap)
        return ST_ETOOBIG;
    *out = (int64_t)v;
    return 0;
}

int
dmodel_weight_milli(const json_t *weight, int64_t *out)
{
    if (json_is_integer(weight)) {
        json_int_t w = json_integer_value(weight);
        if (w < 0)
            return ST_EPARSE;
        if (w > DMODEL_MAX_WEIGHT_MILLI / 1000)
            return ST_ETOOBIG;
        *out = (int64_t)w * 1000;
        return 0;
    }
    if (json_is_string(weight))
        return dmodel_quantity_milli(json_string_value(weight), out);
    return ST_EPARSE;
}

/* ---- identities ---------------------------------------------------------------------- */

char *
dmodel_identity_dns(const char *id)
{
    if (id == NULL || *id == '\0')
        return NULL;
    if (strncmp(id, "spiffe://", 9) != 0)
        return st_dns1123_subdomain(id) ? st_xstrdup(id) : NULL;
    /* spiffe://<td>/ns/<ns>/sa/<sa> */
    const char *td = id + 9, *slash = strchr(td, '/');
    char tdb[254], ns[64], sa[254];
    if (slash == NULL || (size_t)(slash - td) >= sizeof(tdb))
        return NULL;
    memcpy(tdb, td, (size_t)(slash - td));
    tdb[slash - td] = '\0';
    if (sscanf(slash, "/ns/%63[^/]/sa/%253[^/]", ns, sa) != 2)
        return NULL;
    char *want = st_xasprintf("spiffe://%s/ns/%s/sa/%s", tdb, ns, sa);
    bool exact = strcmp(want, id) == 0;
    free(want);
    if (!exact || !st_dns1123_subdomain(tdb) || !st_dns1123_label(ns) || !st_dns1123_subdomain(sa))
        return NULL;
    return st_xasprintf("%s.%s.serviceaccount.identity.strait.%s", sa, ns, tdb);
}

/* ---- service snapshots ------------------------------------------------------------------ */

static const json_t *
dmodel_service_port(const json_t *svc, uint16_t port)
{
    size_t i;
    json_t *p;

    json_array_foreach(st_json_path(svc, "spec.ports"), i, p) {
        if (st_json_int_or(p, "port", -1) == port)
            return p;
    }
    return NULL;
}

bool
dmodel_service_has_port(const json_t *svc, uint16_t port)
{
    return dmodel_service_port(svc, port) != NULL;
}

/* The port of subset <ss> that serves Service port <sp>, or 0. */
static uint16_t
dmodel_subset_port(const json_t *ss, const json_t *sp)
{
    const json_t *ports = json_object_get(ss, "ports");
    const char *sp_name = st_json_str(sp, "name");
    json_t *target = json_object_get(sp, "targetPort");
    size_t i;
    json_t *p;

    if (sp_name == NULL || *sp_name == '\0') {
        if (json_array_size(ports) == 1)
            return (uint16_t)st_json_int_or(json_array_get(ports, 0), "port", 0);
    } else {
        json_array_foreach(ports, i, p) {
            const char *n = st_json_str(p, "name");
            if (n != NULL && strcmp(n, sp_name) == 0)
                return (uint16_t)st_json_int_or(p, "port", 0);
        }
    }
    if (json_is_string(target)) {
        json_array_foreach(ports, i, p) {
            const char *n = st_json_str(p, "name");
            if (n != NULL && strcmp(n, json_string_value(target)) == 0)
                return (uint16_t)st_json_int_or(p, "port", 0);
        }
        return 0;
    }
    int64_t t = json_is_integer(target) ? json_integer_value(target)
                                        : st_json_int_or(sp, "port", 0);
    json_array_foreach(ports, i, p) {
        if (st_json_int_or(p, "port", -1) == t)
            return (uint16_t)t;
    }
    return 0;
}

static json_t *
dmodel_endpoint(const json_t *svc, const json_t *addr, uint16_t svc_port, uint16_t port,
                const char *td, const struct dmodel_lookup *lk)
{
    const char *ip = st_json_str(addr, "ip");
    const char *ns = st_json_str(svc, "metadata.namespace");
    const char *gw_segs[] = {"metadata", "annotations", DMODEL_REMOTE_GW_ID_ANNOTATION};
    const char *fq_segs[] = {"metadata", "annotations", DMODEL_REMOTE_FQ_ANNOTATION};
    const char *gw_id = st_json_strv(svc, gw_segs, 3);
    const char *remote = st_json_strv(svc, fq_segs, 3);
    struct in_addr a4;
    char *identity = NULL;
    json_t *labels = json_object();

    if (ip == NULL || inet_pton(AF_INET, ip, &a4) != 1 || ns == NULL) {
        json_decref(labels);
        return NULL;
    }
    if (gw_id != NULL && remote != NULL) {
        /* A mirrored service: the address is the remote gateway. */
        identity = dmodel_identity_dns(gw_id);
        json_t *ep = json_object();
        char buf[64];
        snprintf(buf, sizeof(buf), "%s:%u", ip, port);
        json_object_set_new(ep, "addr", json_string(buf));
        json_object_set_new(ep, "proxy_port", json_integer(port));
        json_object_set_new(ep, "identity", identity ? json_string(identity) : json_null());
        json_object_set_new(ep, "labels", labels);
        json_object_set_new(ep, "ready", json_true());
        char *ra = strchr(remote, ':') ? st_xstrdup(remote) : st_xasprintf("%s:%u", remote, svc_port);
        json_object_set_new(ep, "remote_authority", json_string(ra));
        free(ra);
        free(identity);
        return ep;
    }
    const char *kind = st_json_str(addr, "targetRef.kind");
    const char *ref_name = st_json_str(addr, "targetRef.name");
    const char *ref_ns = st_json_str(addr, "targetRef.namespace");
    json_t *ew = NULL;
    if (kind != NULL && strcmp(kind, "ExternalWorkload") == 0 && ref_name != NULL &&
        lk != NULL && lk->workload != NULL)
        ew = lk->workload(lk->arg, ref_ns ? ref_ns : ns, ref_name);
    if (ew != NULL) {
        identity = dmodel_identity_dns(st_json_str(ew, "spec.meshTLS.identity"));
        json_t *l = st_json_path(ew, "metadata.labels");
        if (json_is_object(l))
            json_object_update(labels, l);
        json_object_set_new(labels, "workload", json_string(ref_name));
        json_decref(ew);
    }
    if (identity == NULL)
        identity = st_xasprintf("default.%s.serviceaccount.identity.strait.%s", ns, td);
    json_t *ep = json_object();
    char buf[64];
    snprintf(buf, sizeof(buf), "%s:%u", ip, port);
    json_object_set_new(ep, "addr", json_string(buf));
    json_object_set_new(ep, "proxy_port", json_integer(DMODEL_PROXY_PORT));
    json_object_set_new(ep, "identity", json_string(identity));
    json_object_set_new(ep, "labels", labels);
    json_object_set_new(ep, "ready", json_true());
    free(identity);
    return ep;
}

static int
dmodel_cmp_addr(const void *a, const void *b)
{
    const json_t *const *x = a, *const *y = b;
    return strcmp(st_json_str(*x, "addr"), st_json_str(*y, "addr"));
}

json_t *
dmodel_service_endpoints(const json_t *svc, const json_t *eps, uint16_t port, const char *td,
                         const struct dmodel_lookup *lk)
{
    const json_t *sp = dmodel_service_port(svc, port);
    json_t *out = json_array();
    size_t i, j;
    json_t *ss, *addr;

    if (sp == NULL || eps == NULL)
        return out;
    json_array_foreach(st_json_path(eps, "subsets"), i, ss) {
        uint16_t tp = dmodel_subset_port(ss, sp);
        if (tp == 0)
            continue;
        json_array_foreach(json_object_get(ss, "addresses"), j, addr) {
            if (json_array_size(out) >= DMODEL_MAX_ENDPOINTS)
                break;
            json_t *ep = dmodel_endpoint(svc, addr, port, tp, td, lk);
            if (ep != NULL)
                json_array_append_new(out, ep);
        }
    }
    /* A stable order, so that equal states render to equal snapshots. */
    size_t n = json_array_size(out);
    if (n > 1) {
        json_t **v = st_xmalloc(n * sizeof(*v));
        for (i = 0; i < n; i++)
            v[i] = json_incref(json_array_get(out, i));
        qsort(v, n, sizeof(*v), dmodel_cmp_addr);
        json_array_clear(out);
        for (i = 0; i < n; i++)
            json_array_append_new(out, v[i]);
        free(v);
    }
    return out;
}

/* ---- splits ------------------------------------------------------------------------------ */

bool
dmodel_split_apex(const json_t *ts, const char *domain, char out[64])
{
    const char *svc = st_json_str(ts, "spec.service");
    const char *ns = st_json_str(ts, "metadata.namespace");
    struct dmodel_authority a;

    if (svc == NULL || ns == NULL || dmodel_parse_authority(svc, ns, domain, &a) < 0 || a.is_ip ||
        strcmp(a.ns, ns) != 0)
        return false;
    st_strlcpy(out, a.name, 64);
    return true;
}

json_t *
dmodel_split_leaves(const json_t *ts, uint16_t port, const char *domain, size_t *bad)
{
    const char *ns = st_json_str(ts, "metadata.namespace");
    json_t *out = json_array();
    size_t i;
    json_t *b;

    if (bad)
        *bad = 0;
    json_array_foreach(st_json_path(ts, "spec.backends"), i, b) {
        const char *svc = st_json_str(b, "service");
        struct dmodel_authority a;
        int64_t w;
        char *host = NULL;

        if (json_array_size(out) >= DMODEL_MAX_LEAVES || svc == NULL || ns == NULL ||
            strchr(svc, ':') != NULL ||
            dmodel_parse_authority(svc, ns, domain, &a) < 0 || a.is_ip ||
            dmodel_weight_milli(json_object_get(b, "weight"), &w) < 0) {
            if (bad)
                (*bad)++;
            continue;
        }
        host = st_xasprintf("%s.%s.svc.%s:%u", a.name, a.ns, domain, port);
        json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:I}", "service", host, "name",
                                             a.name, "namespace", a.ns, "weight", (json_int_t)w));
        free(host);
    }
    return out;
}

/* ---- the workload endpoints controller ------------------------------------------------------ */

bool
dmodel_selector_matches(const json_t *selector, const json_t *labels)
{
    const char *k;
    json_t *v;

    if (!json_is_object(selector) || json_object_size(selector) == 0)
        return false;
    json_object_foreach((json_t *)selector, k, v) {
        const char *have = json_string_value(json_object_get(labels, k));
        if (!json_is_string(v) || have == NULL || strcmp(have, json_string_value(v)) != 0)
            return false;
    }
    return true;
}

bool
dmodel_endpoints_managed(const json_t *eps)
{
    const char *segs[] = {"metadata", "labels", DMODEL_MANAGED_BY_LABEL};
    const char *v = st_json_strv(eps, segs, 3);
    return v != NULL && strcmp(v, DMODEL_MANAGED_BY_VALUE) == 0;
}

static bool
dmodel_workload_ready(const json_t *ew)
{
    size_t i;
    json_t *c;

    json_array_foreach(st_json_path(ew, "status.conditions"), i, c) {
        const char *t = st_json_str(c, "type");
        if (t != NULL && strcmp(t, "Ready") == 0) {
            const char *s = st_json_str(c, "status");
            return s != NULL && strcmp(s, "True") == 0;
        }
    }
    return false;
}

/* The workload port serving Service port <sp>, or 0 when the workload has none. */
static uint16_t
dmodel_workload_port(const json_t *ew, const json_t *sp)
{
    json_t *target = json_object_get(sp, "targetPort");
    size_t i;
    json_t *p;

    if (json_is_string(target)) {
        json_array_foreach(st_json_path(ew, "spec.ports"), i, p) {
            const char *n = st_json_str(p, "name");
            if (n != NULL && strcmp(n, json_string_value(target)) == 0)
                return (uint16_t)st_json_int_or(p, "port", 0);
        }
        return 0;
    }
    int64_t t = json_is_integer(target) ? json_integer_value(target)
                                        : st_json_int_or(sp, "port", 0);
    return t > 0 && t <= 65535 ? (uint16_t)t : 0;
}

static int
dmodel_cmp_ip(const void *a, const void *b)
{
    const json_t *const *x = a, *const *y = b;
    return strcmp(st_json_str(*x, "ip"), st_json_str(*y, "ip"));
}

static void
dmodel_sort_addresses(json_t *arr)
{
    size_t n = json_array_size(arr);
    if (n < 2)
        return;
    json_t **v = st_xmalloc(n * sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(arr, i));
    qsort(v, n, sizeof(*v), dmodel_cmp_ip);
    json_array_clear(arr);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, v[i]);
    free(v);
}

json_t *
dmodel_endpoints_for(const json_t *svc, const json_t *workloads)
{
    const json_t *selector = st_json_path(svc, "spec.selector");
    const char *name = st_json_str(svc, "metadata.name");
    const char *ns = st_json_str(svc, "metadata.namespace");
    const json_t *sports = st_json_path(svc, "spec.ports");
    json_t *subsets = json_array(); /* in order of first appearance of each port set */
    json_t *keys = json_array();    /* the port-set key of each subset */
    size_t i, j;
    json_t *ew, *sp;

    if (!json_is_object(selector) || json_object_size(selector) == 0 || name == NULL ||
        ns == NULL) {
        json_decref(subsets);
        json_decref(keys);
        return NULL;
    }
    json_array_foreach((json_t *)workloads, i, ew) {
        const char *ew_ns = st_json_str(ew, "metadata.namespace");
        const char *ew_name = st_json_str(ew, "metadata.name");
        const char *ip = st_json_str(ew, "spec.workloadIPs.0.ip");
        struct in_addr a4;
        if (ew_ns == NULL || strcmp(ew_ns, ns) != 0 || ew_name == NULL || ip == NULL ||
            inet_pton(AF_INET, ip, &a4) != 1 ||
            !dmodel_selector_matches(selector, st_json_path(ew, "metadata.labels")))
            continue;
        /* The workload's resolved ports, and their key. */
        json_t *ports = json_array();
        struct st_buf key = ST_BUF_INIT(0);
        json_array_foreach(sports, j, sp) {
            uint16_t port = dmodel_workload_port(ew, sp);
            if (port == 0)
                continue;
            const char *pn = st_json_str(sp, "name");
            const char *proto = st_json_str(sp, "protocol");
            json_t *p = json_object();
            if (pn != NULL && *pn != '\0')
                json_object_set_new(p, "name", json_string(pn));
            json_object_set_new(p, "port", json_integer(port));
            json_object_set_new(p, "protocol", json_string(proto ? proto : "TCP"));
            json_array_append_new(ports, p);
            (void)!st_buf_appendf(&key, "%s/%u,", pn ? pn : "", port);
        }
        if (json_array_size(ports) == 0) {
            json_decref(ports);
            st_buf_free(&key);
            continue; /* as for a pod without the named port: not an endpoint */
        }
        json_t *subset = NULL;
        json_array_foreach(keys, j, sp) {
            if (strcmp(json_string_value(sp), st_buf_cstr(&key)) == 0) {
                subset = json_array_get(subsets, j);
                break;
            }
        }
        if (subset == NULL) {
            subset = json_pack("{s:[], s:[], s:o}", "addresses", "notReadyAddresses", "ports",
                               json_incref(ports));
            json_array_append_new(subsets, subset);
            json_array_append_new(keys, json_string(st_buf_cstr(&key)));
        }
        json_t *addr = json_pack("{s:s, s:{s:s, s:s, s:s}}", "ip", ip, "targetRef", "kind",
                                 "ExternalWorkload", "namespace", ns, "name", ew_name);
        json_array_append_new(json_object_get(subset, dmodel_workload_ready(ew)
                                                          ? "addresses"
                                                          : "notReadyAddresses"),
                              addr);
        json_decref(ports);
        st_buf_free(&key);
    }
    /* Empty lists are left out, as Kubernetes does. */
    json_array_foreach(subsets, i, sp) {
        dmodel_sort_addresses(json_object_get(sp, "addresses"));
        dmodel_sort_addresses(json_object_get(sp, "notReadyAddresses"));
        if (json_array_size(json_object_get(sp, "addresses")) == 0)
            json_object_del(sp, "addresses");
        if (json_array_size(json_object_get(sp, "notReadyAddresses")) == 0)
            json_object_del(sp, "notReadyAddresses");
    }
    /* Subsets in the order of their port sets, so that equal states give equal objects. */
    size_t n = json_array_size(subsets);
    for (i = 1; i < n; i++) {
        for (j = i; j > 0; j--) {
            const char *a = json_string_value(json_array_get(keys, j - 1));
            const char *b = json_string_value(json_array_get(keys, j));
            if (strcmp(a, b) <= 0)
                break;
            json_t *ka = json_incref(json_array_get(keys, j - 1));
            json_t *sa = json_incref(json_array_get(subsets, j - 1));
            json_array_set(keys, j - 1, json_array_get(keys, j));
            json_array_set(subsets, j - 1, json_array_get(subsets, j));
            json_array_set_new(keys, j, ka);
            json_array_set_new(subsets, j, sa);
        }
    }
    json_decref(keys);
    json_t *labels = json_object();
    json_object_set_new(labels, DMODEL_MANAGED_BY_LABEL, json_string(DMODEL_MANAGED_BY_VALUE));
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:o}, s:o}", "apiVersion", "v1", "kind", "Endpoints",
                     "metadata", "name", name, "namespace", ns, "labels", labels, "subsets",
                     subsets);
}

bool
dmodel_endpoints_equal(const json_t *a, const json_t *b)
{
    json_t *sa = st_json_path(a, "subsets"), *sb = st_json_path(b, "subsets");
    json_t *empty = json_array();
    bool eq = json_equal(sa && json_array_size(sa) ? sa : empty,
                         sb && json_array_size(sb) ? sb : empty);

    json_decref(empty);
    return eq && dmodel_endpoints_managed(a) == dmodel_endpoints_managed(b);
}

/* ---- indexes -------------------------------------------------------------------------------- */

struct dmodel_map_entry {
    struct dmodel_map_entry *next;
    uint64_t hash;
    void *value;
    char key[]; /* NUL-terminated */
};

static uint64_t
dmodel_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static struct dmodel_map_entry **
dmodel_map_find(const struct dmodel_map *m, const char *key, uint64_t hash)
{
    if (m->n_buckets == 0)
        return NULL;
    struct dmodel_map_entry **p = &m->buckets[hash & (m->n_buckets - 1)];
    for (; *p != NULL; p = &(*p)->next)
        if ((*p)->hash == hash && strcmp((*p)->key, key) == 0)
            return p;
    return NULL;
}

void *
dmodel_map_get(const struct dmodel_map *m, const char *key)
{
    struct dmodel_map_entry **p = dmodel_map_find(m, key, dmodel_hash(key));
    return p != NULL ? (*p)->value : NULL;
}

bool
dmodel_map_has(const struct dmodel_map *m, const char *key)
{
    return dmodel_map_find(m, key, dmodel_hash(key)) != NULL;
}

static void
dmodel_map_grow(struct dmodel_map *m)
{
    size_t nb = m->n_buckets ? m->n_buckets * 2 : 4; /* most maps (dependency sets) hold one key */
    struct dmodel_map_entry **b = st_xcalloc(nb, sizeof(*b));

    for (size_t i = 0; i < m->n_buckets; i++) {
        struct dmodel_map_entry *e = m->buckets[i];
        while (e != NULL) {
            struct dmodel_map_entry *next = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->n_buckets = nb;
}

void *
dmodel_map_put(struct dmodel_map *m, const char *key, void *value)
{
    uint64_t h = dmodel_hash(key);
    struct dmodel_map_entry **p = dmodel_map_find(m, key, h);

    if (p != NULL) {
        void *old = (*p)->value;
        (*p)->value = value;
        return old;
    }
    if (m->n >= m->n_buckets)
        dmodel_map_grow(m);
    size_t len = strlen(key);
    struct dmodel_map_entry *e = st_xmalloc(sizeof(*e) + len + 1);
    memcpy(e->key, key, len + 1);
    e->hash = h;
    e->value = value;
    e->next = m->buckets[h & (m->n_buckets - 1)];
    m->buckets[h & (m->n_buckets - 1)] = e;
    m->n++;
    return NULL;
}

void *
dmodel_map_del(struct dmodel_map *m, const char *key)
{
    struct dmodel_map_entry **p = dmodel_map_find(m, key, dmodel_hash(key));

    if (p == NULL)
        return NULL;
    struct dmodel_map_entry *e = *p;
    void *value = e->value;
    *p = e->next;
    free(e);
    m->n--;
    return value;
}

const char *
dmodel_map_next(const struct dmodel_map *m, size_t *pos, void **value)
{
    /* <pos> counts entries: the bucket is pos's high part, the chain index its low part. */
    size_t bucket = *pos >> 16, depth = *pos & 0xffff;

    for (; bucket < m->n_buckets; bucket++, depth = 0) {
        struct dmodel_map_entry *e = m->buckets[bucket];
        for (size_t i = 0; e != NULL && i < depth; i++)
            e = e->next;
        if (e != NULL) {
            *pos = (bucket << 16) | (depth + 1);
            if (value != NULL)
                *value = e->value;
            return e->key;
        }
    }
    *pos = bucket << 16;
    return NULL;
}

void
dmodel_map_clear(struct dmodel_map *m, void (*free_value)(void *))
{
    for (size_t i = 0; i < m->n_buckets; i++) {
        struct dmodel_map_entry *e = m->buckets[i];
        while (e != NULL) {
            struct dmodel_map_entry *next = e->next;
            if (free_value != NULL && e->value != NULL)
                free_value(e->value);
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = NULL;
    m->n_buckets = 0;
    m->n = 0;
}

void
dmodel_compact(json_t *obj, bool service)
{
    static const char *const meta[] = {"managedFields", "uid",  "creationTimestamp",
                                       "generation",    "ownerReferences", "selfLink",
                                       "finalizers"};
    static const char *const spec[] = {"clusterIPs", "ipFamilies", "ipFamilyPolicy",
                                       "sessionAffinity", "internalTrafficPolicy"};
    json_t *md = json_object_get(obj, "metadata");
    json_t *sp = json_object_get(obj, "spec");

    if (md == NULL)
        return; /* not an API object: left alone */
    /* No reader looks at the type: one cache holds one kind. */
    json_object_del(obj, "apiVersion");
    json_object_del(obj, "kind");
    for (size_t i = 0; i < ST_ARRAY_LEN(meta); i++)
        json_object_del(md, meta[i]);
    /* A workload's identity is read, its TLS server name is not. */
    json_object_del(json_object_get(sp, "meshTLS"), "serverName");
    /* Endpoints: an address's target is read by kind, namespace and name only. */
    json_t *subset, *addr;
    size_t si, ai;
    json_array_foreach(json_object_get(obj, "subsets"), si, subset) {
        static const char *const lists[] = {"addresses", "notReadyAddresses"};
        for (size_t l = 0; l < ST_ARRAY_LEN(lists); l++) {
            json_array_foreach(json_object_get(subset, lists[l]), ai, addr) {
                json_t *ref = json_object_get(addr, "targetRef");
                json_object_del(ref, "uid");
                json_object_del(ref, "resourceVersion");
            }
        }
    }
    json_t *ann = json_object_get(md, "annotations");
    json_object_del(ann, "kubectl.kubernetes.io/last-applied-configuration");
    if (json_is_object(ann) && json_object_size(ann) == 0)
        json_object_del(md, "annotations");
    /* Only a condition's type and status are read (a workload's Ready). */
    json_t *conds = st_json_path(obj, "status.conditions"), *cond;
    size_t ci;
    json_array_foreach(conds, ci, cond) {
        json_object_del(cond, "lastTransitionTime");
        json_object_del(cond, "lastProbeTime");
        json_object_del(cond, "lastUpdateTime");
        json_object_del(cond, "message");
        json_object_del(cond, "reason");
    }
    if (service) {
        for (size_t i = 0; i < ST_ARRAY_LEN(spec); i++)
            json_object_del(sp, spec[i]);
        json_object_del(obj, "status");
    }
}
