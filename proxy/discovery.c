/*
 * Discovery tables: the routes-file parser, canonical authorities and
 * resolution of an authority to a leaf and an endpoint.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <jansson.h>

#include "strait/json.h"

#include "discovery.h"

struct disc_memo_slot {
    uint64_t hash;
    char *key; /* key bytes followed by the value bytes */
    size_t key_len, val_len;
};

struct discovery {
    char *path;
    char *ns, *domain;
    struct timespec mtime;
    off_t size;
    bool loaded_once;
    struct disc_table *table;
    struct disc_memo_slot *memo; /* DISC_MEMO_SLOTS, allocated on first put */
};

static bool
discovery_host_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '-' || ch == '.' || ch == '_';
}

char *
discovery_canon(struct st_str a, const char *ns, const char *domain)
{
    struct st_str host = a, port = ST_STR("80");
    uint64_t pv;
    size_t dots = 0;

    if (a.n == 0 || a.n > 300)
        return NULL;
    if (a.p[0] == '[') { /* IPv6 literal: kept as it is */
        const char *end = memchr(a.p, ']', a.n);
        if (end == NULL)
            return NULL;
        host = (struct st_str){a.p, (size_t)(end - a.p) + 1};
        if (host.n < a.n) {
            if (a.p[host.n] != ':')
                return NULL;
            port = (struct st_str){a.p + host.n + 1, a.n - host.n - 1};
        }
    } else {
        const char *colon = memchr(a.p, ':', a.n);
        if (colon != NULL) {
            host = (struct st_str){a.p, (size_t)(colon - a.p)};
            port = (struct st_str){colon + 1, a.n - host.n - 1};
        }
        if (host.n == 0 || host.n > 253)
            return NULL;
        for (size_t i = 0; i < host.n; i++) {
            if (!discovery_host_char(host.p[i]))
                return NULL;
            dots += host.p[i] == '.';
        }
    }
    if (st_parse_u64(port, 65535, &pv) < 0 || pv == 0)
        return NULL;

    struct st_buf b = ST_BUF_INIT(512);
    int rc = 0;
    for (size_t i = 0; i < host.n && rc == 0; i++) {
        char ch = (char)tolower((unsigned char)host.p[i]);
        rc = st_buf_append(&b, &ch, 1);
    }
    if (rc == 0 && host.p[0] != '[' && host.n > 0 && host.p[host.n - 1] == '.') {
        b.len--; /* a fully qualified name with its root dot */
        b.data[b.len] = '\0';
    } else if (rc == 0 && host.p[0] != '[' && !isdigit((unsigned char)host.p[host.n - 1])) {
        /* Kubernetes short names: svc, svc.ns, svc.ns.svc. */
        bool has_svc = st_str_has_suffix(b.data, ".svc");
        if (dots == 0 && ns != NULL)
            rc = st_buf_appendf(&b, ".%s.svc.%s", ns, domain);
        else if (dots == 1)
            rc = st_buf_appendf(&b, ".svc.%s", domain);
        else if (dots == 2 && has_svc)
            rc = st_buf_appendf(&b, ".%s", domain);
    }
    if (rc == 0)
        rc = st_buf_appendf(&b, ":%u", (unsigned)pv);
    if (rc < 0) {
        st_buf_free(&b);
        return NULL;
    }
    return st_buf_steal(&b);
}

/* Splits "name.ns.svc.domain:port" into name and namespace labels (empty when not a service). */
static void
discovery_labels(const char *canon, char **name, char **ns)
{
    const char *dot1 = strchr(canon, '.');
    const char *dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;

    if (dot1 != NULL && dot2 != NULL && strncmp(dot2, ".svc.", 5) == 0) {
        *name = st_xstrndup(canon, (size_t)(dot1 - canon));
        *ns = st_xstrndup(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    } else {
        const char *colon = strrchr(canon, ':');
        *name = st_xstrndup(canon, colon != NULL ? (size_t)(colon - canon) : strlen(canon));
        *ns = st_xstrdup("");
    }
}

static uint16_t
discovery_port_of(const char *canon)
{
    const char *colon = strrchr(canon, ':');
    uint64_t v = 0;

    if (colon != NULL && st_parse_u64(st_str_c(colon + 1), 65535, &v) < 0)
        v = 0;
    return (uint16_t)v;
}

static void
discovery_table_free(struct disc_table *t)
{
    for (size_t i = 0; i < t->n_svcs; i++) {
        struct disc_service *s = &t->svcs[i];
        for (size_t j = 0; j < s->n_eps; j++) {
            free(s->eps[j].addr_text);
            free(s->eps[j].identity);
            free(s->eps[j].target_authority);
        }
        free(s->eps);
        free(s->authority);
        free(s->name);
        free(s->namespace_);
    }
    for (size_t i = 0; i < t->n_splits; i++) {
        struct disc_split *s = &t->splits[i];
        for (size_t j = 0; j < s->n_leaves; j++)
            free(s->leaves[j].authority);
        free(s->leaves);
        free(s->cumulative);
        free(s->authority);
        free(s->name);
        free(s->namespace_);
    }
    free(t->svcs);
    free(t->splits);
    free(t);
}

struct disc_table *
discovery_table_ref(struct disc_table *t)
{
    if (t != NULL)
        t->refs++;
    return t;
}

struct disc_table *
discovery_table_unref(struct disc_table *t)
{
    if (t != NULL && --t->refs == 0)
        discovery_table_free(t);
    return NULL;
}

/* A weight: a non-negative integer (scaled by 1000) or a quantity string "500m" / "1". */
static int
discovery_weight(json_t *w, uint32_t *out)
{
    uint64_t v;

    if (json_is_integer(w)) {
        if (json_integer_value(w) < 0 || json_integer_value(w) > DISC_MAX_WEIGHT / 1000)
            return ST_EINVAL;
        *out = (uint32_t)json_integer_value(w) * 1000;
        return 0;
    }
    if (!json_is_string(w))
        return ST_EINVAL;
    struct st_str s = {json_string_value(w), json_string_length(w)};
    if (s.n > 1 && s.p[s.n - 1] == 'm') {
        s.n--;
        if (st_parse_u64(s, DISC_MAX_WEIGHT, &v) < 0)
            return ST_EINVAL;
        *out = (uint32_t)v;
        return 0;
    }
    if (st_parse_u64(s, DISC_MAX_WEIGHT / 1000, &v) < 0)
        return ST_EINVAL;
    *out = (uint32_t)v * 1000;
    return 0;
}

static int
discovery_parse_endpoint(json_t *e, const char *svc, struct disc_endpoint *ep, struct st_err *err)
{
    const char *addr = st_json_str(e, "addr");
    const char *id = st_json_str(e, "identity");
    const char *ta = st_json_str(e, "target_authority");
    int64_t port = st_json_int_or(e, "target_port", 0);

    if (!json_is_object(e) || addr == NULL || st_sock_parse_addr(addr, &ep->addr) < 0)
        return st_err_set(err, ST_EINVAL, "routes: %s: endpoint needs \"addr\" as IP:PORT", svc);
    if (id == NULL || id[0] == '\0' || strlen(id) > 253)
        return st_err_set(err, ST_EINVAL, "routes: %s: endpoint %s needs an \"identity\"", svc,
                          addr);
    if (port < 0 || port > 65535)
        return st_err_set(err, ST_EINVAL, "routes: %s: bad target_port", svc);
    if (ta != NULL && strlen(ta) > 300)
        return st_err_set(err, ST_EINVAL, "routes: %s: target_authority too long", svc);
    ep->addr_text = st_xstrdup(addr);
    ep->identity = st_xstrdup(id);
    ep->target_port = (uint16_t)port;
    ep->target_authority = ta != NULL ? st_xstrdup(ta) : NULL;
    return 0;
}

static struct disc_service *
discovery_find_svc(struct disc_table *t, const char *canon)
{
    for (size_t i = 0; i < t->n_svcs; i++)
        if (strcmp(t->svcs[i].authority, canon) == 0)
            return &t->svcs[i];
    return NULL;
}

static struct disc_split *
discovery_find_split(struct disc_table *t, const char *canon)
{
    for (size_t i = 0; i < t->n_splits; i++)
        if (strcmp(t->splits[i].authority, canon) == 0)
            return &t->splits[i];
    return NULL;
}

int
discovery_load_json(const char *data, size_t n, const char *ns, const char *domain,
                    struct disc_table **out, struct st_err *err)
{
    struct disc_table *t = st_xcalloc(1, sizeof(*t));
    json_t *root = NULL, *svcs, *splits, *v;
    const char *key;
    int rc = 0;

    t->refs = 1;
    if (n > DISC_MAX_BYTES) {
        rc = st_err_set(err, ST_ETOOBIG, "routes: more than %u bytes", DISC_MAX_BYTES);
        goto fail;
    }
    root = st_json_load_ex(data, n, DISC_MAX_BYTES, 16, err);
    if (root == NULL) {
        rc = err != NULL && err->code < 0 ? err->code : ST_EPARSE;
        goto fail;
    }
    if (!json_is_object(root)) {
        rc = st_err_set(err, ST_EINVAL, "routes: the document must be an object");
        goto fail;
    }
    svcs = json_object_get(root, "services");
    splits = json_object_get(root, "splits");
    if ((svcs != NULL && !json_is_object(svcs)) || (splits != NULL && !json_is_object(splits))) {
        rc = st_err_set(err, ST_EINVAL, "routes: \"services\" and \"splits\" must be objects");
        goto fail;
    }
    t->svcs = st_xcalloc(json_object_size(svcs) + 1, sizeof(*t->svcs));
    json_object_foreach(svcs, key, v)
    {
        char *canon = discovery_canon(st_str_c(key), ns, domain);
        json_t *eps = json_object_get(v, "endpoints");
        if (canon == NULL) {
            rc = st_err_set(err, ST_EINVAL, "routes: bad authority \"%.100s\"", key);
            goto fail;
        }
        if (discovery_find_svc(t, canon) != NULL) {
            rc = st_err_set(err, ST_EINVAL, "routes: %s listed twice", canon);
            free(canon);
            goto fail;
        }
        struct disc_service *s = &t->svcs[t->n_svcs++];
        s->authority = canon;
        s->port = discovery_port_of(canon);
        discovery_labels(canon, &s->name, &s->namespace_);
        if (!json_is_array(eps) || json_array_size(eps) > DISC_MAX_ENDPOINTS) {
            rc = st_err_set(err, ST_EINVAL, "routes: %s needs \"endpoints\" (at most %u)", canon,
                            DISC_MAX_ENDPOINTS);
            goto fail;
        }
        s->eps = st_xcalloc(json_array_size(eps) + 1, sizeof(*s->eps));
        for (size_t i = 0; i < json_array_size(eps); i++) {
            if ((rc = discovery_parse_endpoint(json_array_get(eps, i), canon, &s->eps[i], err)) < 0)
                goto fail;
            s->n_eps++;
        }
    }
    t->splits = st_xcalloc(json_object_size(splits) + 1, sizeof(*t->splits));
    json_object_foreach(splits, key, v)
    {
        char *canon = discovery_canon(st_str_c(key), ns, domain);
        json_t *leaves = json_object_get(v, "leaves");
        if (canon == NULL) {
            rc = st_err_set(err, ST_EINVAL, "routes: bad authority \"%.100s\"", key);
            goto fail;
        }
        if (discovery_find_split(t, canon) != NULL) {
            rc = st_err_set(err, ST_EINVAL, "routes: split %s listed twice", canon);
            free(canon);
            goto fail;
        }
        struct disc_split *s = &t->splits[t->n_splits++];
        s->authority = canon;
        discovery_labels(canon, &s->name, &s->namespace_);
        if (!json_is_array(leaves) || json_array_size(leaves) == 0 ||
            json_array_size(leaves) > DISC_MAX_LEAVES) {
            rc = st_err_set(err, ST_EINVAL, "routes: split %s needs 1 to %u \"leaves\"", canon,
                            DISC_MAX_LEAVES);
            goto fail;
        }
        s->leaves = st_xcalloc(json_array_size(leaves), sizeof(*s->leaves));
        s->cumulative = st_xcalloc(json_array_size(leaves), sizeof(*s->cumulative));
        for (size_t i = 0; i < json_array_size(leaves); i++) {
            json_t *l = json_array_get(leaves, i);
            const char *svc = st_json_str(l, "service");
            struct disc_leaf *leaf = &s->leaves[i];
            leaf->authority = svc != NULL ? discovery_canon(st_str_c(svc), ns, domain) : NULL;
            if (leaf->authority == NULL) {
                rc = st_err_set(err, ST_EINVAL, "routes: split %s: leaf %zu needs a \"service\"",
                                canon, i);
                goto fail;
            }
            s->n_leaves++;
            if (discovery_weight(json_object_get(l, "weight"), &leaf->weight) < 0) {
                rc = st_err_set(err, ST_EINVAL, "routes: split %s: leaf %s has a bad weight", canon,
                                leaf->authority);
                goto fail;
            }
            s->total += leaf->weight;
            s->cumulative[i] = s->total;
        }
    }
    /* Link leaves to services now that every service is known. */
    for (size_t i = 0; i < t->n_splits; i++)
        for (size_t j = 0; j < t->splits[i].n_leaves; j++)
            t->splits[i].leaves[j].svc = discovery_find_svc(t, t->splits[i].leaves[j].authority);
    json_decref(root);
    *out = t;
    return 0;

fail:
    json_decref(root);
    discovery_table_free(t);
    return rc < 0 ? rc : ST_EINVAL;
}

int
discovery_resolve(struct disc_table *t, const char *canon, struct st_rng *rng, uint64_t now_ms,
                  struct disc_target *out)
{
    memset(out, 0, sizeof(*out));
    if (t == NULL)
        return ST_ENOTFOUND;
    out->split = discovery_find_split(t, canon);
    if (out->split != NULL) {
        if (out->split->total == 0)
            return -EHOSTUNREACH;
        size_t i = balance_pick_leaf(out->split, st_rng_next(rng));
        out->svc = out->split->leaves[i].svc;
        if (out->svc == NULL)
            return -EHOSTUNREACH;
    } else {
        out->svc = discovery_find_svc(t, canon);
        if (out->svc == NULL)
            return ST_ENOTFOUND;
    }
    out->ep = balance_pick_endpoint(out->svc->eps, out->svc->n_eps, rng, now_ms);
    return out->ep != NULL ? 0 : -EHOSTUNREACH;
}

struct discovery *
discovery_new(const char *path, const char *ns, const char *domain)
{
    struct discovery *d = st_xcalloc(1, sizeof(*d));

    d->path = path != NULL ? st_xstrdup(path) : NULL;
    d->ns = st_xstrdup(ns != NULL ? ns : "default");
    d->domain = st_xstrdup(domain != NULL ? domain : "cluster.local");
    return d;
}

void
discovery_free(struct discovery *d)
{
    if (d == NULL)
        return;
    d->table = discovery_table_unref(d->table);
    if (d->memo != NULL) {
        for (size_t i = 0; i < DISC_MEMO_SLOTS; i++)
            free(d->memo[i].key);
        free(d->memo);
    }
    free(d->path);
    free(d->ns);
    free(d->domain);
    free(d);
}

int
discovery_poll_file(struct discovery *d, struct st_err *err)
{
    struct st_buf b = ST_BUF_INIT(DISC_MAX_BYTES);
    struct disc_table *t = NULL;
    struct stat st;
    int rc;

    if (d->path == NULL)
        return 0;
    if (stat(d->path, &st) < 0)
        return st_err_set(err, -errno, "routes: %s: %s", d->path, st_strerror(errno));
    if (d->loaded_once && st.st_mtim.tv_sec == d->mtime.tv_sec &&
        st.st_mtim.tv_nsec == d->mtime.tv_nsec && st.st_size == d->size)
        return 0;
    /* Remember the attempt, so a bad file is reported once, not on every poll. */
    d->loaded_once = true;
    d->mtime = st.st_mtim;
    d->size = st.st_size;
    if ((rc = st_file_read(d->path, &b)) < 0) {
        st_buf_free(&b);
        return st_err_set(err, rc, "routes: %s: %s", d->path, st_strerror(rc));
    }
    rc = discovery_load_json(b.data != NULL ? b.data : "", b.len, d->ns, d->domain, &t, err);
    st_buf_free(&b);
    if (rc < 0)
        return rc;
    discovery_set_table(d, t);
    return 1;
}

void
discovery_set_table(struct discovery *d, struct disc_table *t)
{
    discovery_table_unref(d->table);
    d->table = t;
}

struct disc_table *
discovery_table(struct discovery *d)
{
    return d->table;
}

const char *
discovery_namespace(const struct discovery *d)
{
    return d->ns;
}

const char *
discovery_domain(const struct discovery *d)
{
    return d->domain;
}

/* ---- memo ------------------------------------------------------------------- */

static uint64_t
discovery_memo_hash(const void *key, size_t n)
{
    const unsigned char *p = key;
    uint64_t h = 1469598103934665603ull; /* FNV-1a */

    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

const void *
discovery_memo_get(struct discovery *d, const void *key, size_t n, size_t *len)
{
    if (d->memo == NULL || n > DISC_MEMO_MAX_KEY)
        return NULL;
    uint64_t h = discovery_memo_hash(key, n);
    struct disc_memo_slot *s = &d->memo[h % DISC_MEMO_SLOTS];
    if (s->key == NULL || s->hash != h || s->key_len != n || memcmp(s->key, key, n) != 0)
        return NULL;
    *len = s->val_len;
    return s->key + n;
}

const void *
discovery_memo_put(struct discovery *d, const void *key, size_t n, const void *val, size_t len)
{
    if (n > DISC_MEMO_MAX_KEY)
        return NULL;
    if (d->memo == NULL)
        d->memo = st_xcalloc(DISC_MEMO_SLOTS, sizeof(*d->memo));
    uint64_t h = discovery_memo_hash(key, n);
    struct disc_memo_slot *s = &d->memo[h % DISC_MEMO_SLOTS];
    free(s->key);
    /* One block: key, value, and a NUL so that string values can be used as they are. */
    s->key = st_xmalloc(n + len + 1);
    memcpy(s->key, key, n);
    if (len > 0)
        memcpy(s->key + n, val, len);
    s->key[n + len] = '\0';
    s->hash = h;
    s->key_len = n;
    s->val_len = len;
    return s->key + n;
}
