/*
 * Discovery tables: the routes-file parser, canonical authorities and
 * resolution of an authority to a leaf and an endpoint.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

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
    struct disc_table *file;  /* the routes file's table, or NULL */
    struct disc_table *table; /* what requests are routed with: the file merged with the parts */
    bool parts_enabled;
    struct disc_map parts; /* key -> struct disc_part * (a reference each) */
    struct disc_memo_slot *memo; /* DISC_MEMO_SLOTS, allocated on first put */
    /* The negative cache: entries in a ring (the next put evicts the oldest), indexed by key. */
    struct disc_neg *neg_ring; /* DISC_NEG_MAX, allocated on first put */
    size_t neg_next;
    struct disc_map neg; /* key -> struct disc_neg * */
};

struct disc_neg {
    char *key; /* NULL: free slot */
    uint64_t expires_ms;
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

/* ---- maps ---------------------------------------------------------------------- */

static uint64_t
discovery_hash(const void *key, size_t n)
{
    const unsigned char *p = key;
    uint64_t h = 1469598103934665603ull; /* FNV-1a */

    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

void
discovery_map_init(struct disc_map *m)
{
    memset(m, 0, sizeof(*m));
}

void
discovery_map_free(struct disc_map *m)
{
    free(m->slots);
    discovery_map_init(m);
}

static struct disc_map_slot *
discovery_map_find(const struct disc_map *m, const char *key, uint64_t h)
{
    size_t mask = m->cap - 1;

    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        struct disc_map_slot *s = &m->slots[i];
        if (s->key == NULL || (s->hash == h && strcmp(s->key, key) == 0))
            return s;
    }
}

void *
discovery_map_get(const struct disc_map *m, const char *key)
{
    if (m->n == 0)
        return NULL;
    struct disc_map_slot *s = discovery_map_find(m, key, discovery_hash(key, strlen(key)));
    return s->key != NULL ? s->val : NULL;
}

void *
discovery_map_put(struct disc_map *m, const char *key, void *val)
{
    if ((m->n + 1) * 4 > m->cap * 3) { /* keep the load under 3/4 */
        struct disc_map old = *m;
        m->cap = old.cap != 0 ? old.cap * 2 : 16;
        m->slots = st_xcalloc(m->cap, sizeof(*m->slots));
        for (size_t i = 0; i < old.cap; i++)
            if (old.slots[i].key != NULL)
                *discovery_map_find(m, old.slots[i].key, old.slots[i].hash) = old.slots[i];
        free(old.slots);
    }
    uint64_t h = discovery_hash(key, strlen(key));
    struct disc_map_slot *s = discovery_map_find(m, key, h);
    void *prev = s->key != NULL ? s->val : NULL;
    if (s->key == NULL)
        m->n++;
    s->hash = h;
    s->key = key;
    s->val = val;
    return prev;
}

void *
discovery_map_del(struct disc_map *m, const char *key)
{
    if (m->n == 0)
        return NULL;
    struct disc_map_slot *s = discovery_map_find(m, key, discovery_hash(key, strlen(key)));
    if (s->key == NULL)
        return NULL;
    void *val = s->val;
    size_t mask = m->cap - 1, i = (size_t)(s - m->slots);
    /* Backward-shift deletion: move later entries of the run into the hole. */
    for (size_t j = (i + 1) & mask; m->slots[j].key != NULL; j = (j + 1) & mask) {
        size_t home = (size_t)m->slots[j].hash & mask;
        bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!between) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].key = NULL;
    m->n--;
    return val;
}

/* ---- touch records and parts ------------------------------------------------------ */

struct disc_touch *
discovery_touch_new(void)
{
    struct disc_touch *t = st_xcalloc(1, sizeof(*t));

    atomic_init(&t->refs, 1);
    atomic_init(&t->ms, 0);
    return t;
}

struct disc_touch *
discovery_touch_ref(struct disc_touch *t)
{
    if (t != NULL)
        atomic_fetch_add(&t->refs, 1);
    return t;
}

void
discovery_touch_unref(struct disc_touch *t)
{
    if (t != NULL && atomic_fetch_sub(&t->refs, 1) == 1)
        free(t);
}

static void
discovery_touch_use(struct disc_touch *t, uint64_t *last, uint64_t now_ms)
{
    if (t != NULL && now_ms - *last >= DISC_TOUCH_EVERY_MS) {
        *last = now_ms;
        atomic_store_explicit(&t->ms, now_ms, memory_order_relaxed);
    }
}

/* ---- tables ----------------------------------------------------------------------- */

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
        free(s->apex);
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
    for (size_t i = 0; i < t->n_parts; i++)
        discovery_part_unref(t->parts[i]);
    free(t->parts);
    discovery_map_free(&t->svc_index);
    discovery_map_free(&t->split_index);
    free(t->app_index);
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

static struct disc_service *
discovery_find_svc(struct disc_table *t, const char *canon)
{
    return discovery_map_get(&t->svc_index, canon);
}

static struct disc_split *
discovery_find_split(struct disc_table *t, const char *canon)
{
    return discovery_map_get(&t->split_index, canon);
}

/* The hash of an app address: family, IP bytes and <port>; 0 for what is not IP. */
static uint64_t
discovery_app_hash(const struct st_sockaddr *a, uint16_t port)
{
    unsigned char key[2 + 16 + 2];
    size_t n = 0;

    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)&a->ss;
        memcpy(key + 2, &x->sin_addr, 4);
        n = 2 + 4;
    } else if (a->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)&a->ss;
        memcpy(key + 2, &x->sin6_addr, 16);
        n = 2 + 16;
    } else {
        return 0;
    }
    key[0] = (unsigned char)a->ss.ss_family;
    key[1] = 0;
    key[n] = (unsigned char)(port >> 8);
    key[n + 1] = (unsigned char)port;
    uint64_t h = discovery_hash(key, n + 2);
    return h != 0 ? h : 1;
}

static bool discovery_same_ip(const struct st_sockaddr *a, const struct st_sockaddr *b);

/* The app port of <e> of <s>: its target port, else the service's. */
static uint16_t
discovery_app_port(const struct disc_service *s, const struct disc_endpoint *e)
{
    return e->target_port != 0 ? e->target_port : s->port;
}

/*
 * The slot of <t>'s app index for <app> and <port> with hash <h>: the one
 * holding that address, or the empty slot where it would go.
 */
static struct disc_app_slot *
discovery_app_find(const struct disc_table *t, const struct st_sockaddr *app, uint16_t port,
                   uint64_t h)
{
    size_t mask = t->app_cap - 1;

    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        struct disc_app_slot *s = &t->app_index[i];
        if (s->ep == NULL || (s->hash == h && discovery_app_port(s->svc, s->ep) == port &&
                              discovery_same_ip(&s->ep->addr, app)))
            return s;
    }
}

/* Indexes the workload endpoints of <t> by app address (gateway endpoints stand for no app). */
static void
discovery_app_index(struct disc_table *t)
{
    size_t n = 0, cap = 16;

    free(t->app_index);
    t->app_index = NULL;
    t->app_cap = 0;
    for (size_t i = 0; i < t->n_svcs; i++)
        n += t->svcs[i].n_eps;
    if (n == 0)
        return;
    while (cap < n + n / 2 + 1) /* the load stays under 2/3 */
        cap *= 2;
    t->app_index = st_xcalloc(cap, sizeof(*t->app_index));
    t->app_cap = cap;
    for (size_t i = 0; i < t->n_svcs; i++) {
        struct disc_service *s = &t->svcs[i];
        for (size_t j = 0; j < s->n_eps; j++) {
            struct disc_endpoint *e = &s->eps[j];
            uint16_t port = discovery_app_port(s, e);
            uint64_t h = discovery_app_hash(&e->addr, port);
            if (e->target_authority != NULL || h == 0 || port == 0)
                continue;
            struct disc_app_slot *slot = discovery_app_find(t, &e->addr, port, h);
            if (slot->ep == NULL) /* the first of an address wins */
                *slot = (struct disc_app_slot){h, e, s};
        }
    }
}

/*
 * Makes a built table usable: indexes the routable services and the splits
 * (the first of a name wins), links leaves not linked yet to the routable
 * service of their authority, and weighs the leaves that can serve.
 */
static void
discovery_table_finish(struct disc_table *t)
{
    discovery_map_free(&t->svc_index);
    discovery_map_free(&t->split_index);
    for (size_t i = 0; i < t->n_svcs; i++)
        if (t->svcs[i].apex == NULL && discovery_find_svc(t, t->svcs[i].authority) == NULL)
            discovery_map_put(&t->svc_index, t->svcs[i].authority, &t->svcs[i]);
    for (size_t i = 0; i < t->n_splits; i++) {
        struct disc_split *s = &t->splits[i];
        if (discovery_find_split(t, s->authority) == NULL)
            discovery_map_put(&t->split_index, s->authority, s);
        s->total = 0;
        for (size_t j = 0; j < s->n_leaves; j++) {
            struct disc_leaf *l = &s->leaves[j];
            if (l->svc == NULL)
                l->svc = discovery_find_svc(t, l->authority);
            if (l->svc != NULL && l->svc->n_eps > 0)
                s->total += l->weight;
            s->cumulative[j] = s->total;
        }
    }
    discovery_app_index(t);
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
        discovery_map_put(&t->svc_index, s->authority, s);
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
        discovery_map_put(&t->split_index, s->authority, s);
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
        }
    }
    /* Link leaves to services now that every service is known, and weigh them. */
    discovery_table_finish(t);
    json_decref(root);
    *out = t;
    return 0;

fail:
    json_decref(root);
    discovery_table_free(t);
    return rc < 0 ? rc : ST_EINVAL;
}

/* ---- parts: tables from destination snapshots -------------------------------------- */

/* Fills <svc> from a snapshot's endpoints (ready ones only). */
static int
discovery_part_eps(struct disc_service *svc, const struct st_dest_endpoint *eps, size_t n,
                   struct st_err *err)
{
    if (n > DISC_MAX_ENDPOINTS)
        return st_err_set(err, ST_EINVAL, "%s: more than %u endpoints", svc->authority,
                          DISC_MAX_ENDPOINTS);
    svc->eps = st_xcalloc(n + 1, sizeof(*svc->eps));
    for (size_t i = 0; i < n; i++) {
        const struct st_dest_endpoint *e = &eps[i];
        struct disc_endpoint *ep = &svc->eps[svc->n_eps];
        int tport = st_sock_addr_port(&e->target);
        if (!e->ready)
            continue;
        if (e->identity == NULL || e->identity[0] == '\0' || e->proxy_port == 0 || tport <= 0)
            return st_err_set(err, ST_EINVAL, "%s: endpoint %s lacks an identity or a port",
                              svc->authority, e->addr != NULL ? e->addr : "?");
        ep->addr = e->target;
        if (ep->addr.ss.ss_family == AF_INET)
            ((struct sockaddr_in *)&ep->addr.ss)->sin_port = htons(e->proxy_port);
        else if (ep->addr.ss.ss_family == AF_INET6)
            ((struct sockaddr_in6 *)&ep->addr.ss)->sin6_port = htons(e->proxy_port);
        else
            return st_err_set(err, ST_EINVAL, "%s: endpoint %s is not IP", svc->authority,
                              e->addr != NULL ? e->addr : "?");
        char text[ST_SOCK_ADDR_STRLEN];
        st_sock_format_addr(&ep->addr, text, sizeof(text));
        ep->addr_text = st_xstrdup(text);
        ep->identity = st_xstrdup(e->identity);
        ep->target_port = (uint16_t)tport;
        ep->target_authority = e->remote_authority != NULL ? st_xstrdup(e->remote_authority) : NULL;
        svc->n_eps++;
    }
    return 0;
}

static void
discovery_part_free(struct disc_part *p)
{
    if (p->t != NULL)
        discovery_table_free(p->t);
    discovery_touch_unref(p->touch);
    free(p->key);
    free(p);
}

struct disc_part *
discovery_part_ref(struct disc_part *p)
{
    if (p != NULL)
        atomic_fetch_add(&p->refs, 1);
    return p;
}

struct disc_part *
discovery_part_unref(struct disc_part *p)
{
    if (p != NULL && atomic_fetch_sub(&p->refs, 1) == 1)
        discovery_part_free(p);
    return NULL;
}

int
discovery_part_from_snapshot(const char *key, const struct st_dest_snapshot *snap,
                             const char *domain, struct disc_touch *touch,
                             struct disc_part **out, struct st_err *err)
{
    struct disc_part *p = st_xcalloc(1, sizeof(*p));
    struct disc_table *t = NULL;
    int rc = 0;

    atomic_init(&p->refs, 1);
    p->key = st_xstrdup(key);
    p->touch = discovery_touch_ref(touch);
    if (snap->kind == ST_DEST_NOT_FOUND) {
        *out = p;
        return 0;
    }
    if (snap->kind != ST_DEST_SERVICE && snap->kind != ST_DEST_SPLIT) {
        rc = st_err_set(err, ST_EINVAL, "%s: not a routing snapshot", key);
        goto fail;
    }
    t = p->t = st_xcalloc(1, sizeof(*t));
    t->refs = 1;
    p->found = true;
    if (snap->kind == ST_DEST_SERVICE) {
        struct disc_service *s = t->svcs = st_xcalloc(1, sizeof(*t->svcs));
        t->n_svcs = 1;
        s->authority = st_xstrdup(key);
        s->port = discovery_port_of(key);
        if (snap->service != NULL && snap->namespace_ != NULL) {
            s->name = st_xstrdup(snap->service);
            s->namespace_ = st_xstrdup(snap->namespace_);
        } else {
            discovery_labels(key, &s->name, &s->namespace_);
        }
        s->touch = touch;
        if ((rc = discovery_part_eps(s, snap->eps, snap->n_eps, err)) < 0)
            goto fail;
        discovery_table_finish(t);
        *out = p;
        return 0;
    }
    if (snap->n_leaves > DISC_MAX_LEAVES) {
        rc = st_err_set(err, ST_EINVAL, "%s: more than %u leaves", key, DISC_MAX_LEAVES);
        goto fail;
    }
    uint64_t max = 0, div = 1;
    for (size_t i = 0; i < snap->n_leaves; i++)
        max = ST_MAX(max, snap->leaves[i].weight);
    if (max > DISC_MAX_WEIGHT)
        div = max / DISC_MAX_WEIGHT + 1;
    struct disc_split *sp = t->splits = st_xcalloc(1, sizeof(*t->splits));
    t->n_splits = 1;
    sp->authority = st_xstrdup(key);
    if (snap->service != NULL && snap->namespace_ != NULL) {
        sp->name = st_xstrdup(snap->service);
        sp->namespace_ = st_xstrdup(snap->namespace_);
    } else {
        discovery_labels(key, &sp->name, &sp->namespace_);
    }
    sp->touch = touch;
    sp->leaves = st_xcalloc(snap->n_leaves + 1, sizeof(*sp->leaves));
    sp->cumulative = st_xcalloc(snap->n_leaves + 1, sizeof(*sp->cumulative));
    t->svcs = st_xcalloc(snap->n_leaves + 1, sizeof(*t->svcs));
    for (size_t i = 0; i < snap->n_leaves; i++) {
        const struct st_dest_leaf *l = &snap->leaves[i];
        struct disc_service *s = &t->svcs[t->n_svcs];
        char *canon = l->service != NULL ? discovery_canon(st_str_c(l->service), NULL, domain)
                                         : NULL;
        if (canon == NULL) {
            rc = st_err_set(err, ST_EINVAL, "%s: leaf %zu names no valid service", key, i);
            goto fail;
        }
        t->n_svcs++;
        s->authority = canon;
        s->apex = st_xstrdup(key);
        s->port = discovery_port_of(canon);
        if (l->name != NULL && l->namespace_ != NULL) {
            s->name = st_xstrdup(l->name);
            s->namespace_ = st_xstrdup(l->namespace_);
        } else {
            discovery_labels(canon, &s->name, &s->namespace_);
        }
        if ((rc = discovery_part_eps(s, l->eps, l->n_eps, err)) < 0)
            goto fail;
        struct disc_leaf *leaf = &sp->leaves[sp->n_leaves++];
        leaf->authority = st_xstrdup(canon);
        leaf->weight = (uint32_t)(l->weight / div);
        if (leaf->weight == 0 && l->weight > 0)
            leaf->weight = 1;
        leaf->svc = s;
    }
    discovery_table_finish(t);
    *out = p;
    return 0;

fail:
    discovery_part_free(p);
    return rc < 0 ? rc : ST_EINVAL;
}

/* ---- merging the file and the parts ------------------------------------------------- */

static void
discovery_copy_service(struct disc_service *dst, const struct disc_service *src)
{
    dst->authority = st_xstrdup(src->authority);
    dst->name = st_xstrdup(src->name);
    dst->namespace_ = st_xstrdup(src->namespace_);
    dst->apex = src->apex != NULL ? st_xstrdup(src->apex) : NULL;
    dst->port = src->port;
    dst->touch = src->touch;
    dst->eps = st_xcalloc(src->n_eps + 1, sizeof(*dst->eps));
    dst->n_eps = src->n_eps;
    for (size_t i = 0; i < src->n_eps; i++) {
        const struct disc_endpoint *e = &src->eps[i];
        dst->eps[i] = (struct disc_endpoint){
            .addr = e->addr,
            .addr_text = st_xstrdup(e->addr_text),
            .identity = st_xstrdup(e->identity),
            .target_port = e->target_port,
            .target_authority = e->target_authority != NULL ? st_xstrdup(e->target_authority)
                                                            : NULL,
        };
    }
}

/* Copies <src>; leaves are linked to <svcs> at the offsets they had in <src_svcs>, if any. */
static void
discovery_copy_split(struct disc_split *dst, const struct disc_split *src,
                     const struct disc_service *src_svcs, struct disc_service *svcs)
{
    dst->authority = st_xstrdup(src->authority);
    dst->name = st_xstrdup(src->name);
    dst->namespace_ = st_xstrdup(src->namespace_);
    dst->touch = src->touch;
    dst->leaves = st_xcalloc(src->n_leaves + 1, sizeof(*dst->leaves));
    dst->cumulative = st_xcalloc(src->n_leaves + 1, sizeof(*dst->cumulative));
    dst->n_leaves = src->n_leaves;
    for (size_t i = 0; i < src->n_leaves; i++) {
        const struct disc_leaf *l = &src->leaves[i];
        dst->leaves[i].authority = st_xstrdup(l->authority);
        dst->leaves[i].weight = l->weight;
        dst->leaves[i].svc = l->svc != NULL && src_svcs != NULL && l->svc->apex != NULL
                                 ? &svcs[l->svc - src_svcs]
                                 : NULL;
    }
}

/* The key of an endpoint's balancer state across rebuilds; a new string. */
static char *
discovery_ep_key(const struct disc_service *s, const struct disc_endpoint *e)
{
    return st_xasprintf("%s\x1f%s\x1f%s\x1f%s", s->apex != NULL ? s->apex : "", s->authority,
                        e->addr_text, e->identity);
}

/* Copies the balancer state (not the requests in flight) of endpoints <old> also has. */
static void
discovery_carry_state(struct disc_table *t, const struct disc_table *old)
{
    struct disc_map m;
    size_t n = 0, k = 0;

    for (size_t i = 0; i < old->n_svcs; i++)
        n += old->svcs[i].n_eps;
    if (n == 0)
        return;
    char **keys = st_xcalloc(n, sizeof(*keys));
    discovery_map_init(&m);
    for (size_t i = 0; i < old->n_svcs; i++) {
        for (size_t j = 0; j < old->svcs[i].n_eps; j++) {
            keys[k] = discovery_ep_key(&old->svcs[i], &old->svcs[i].eps[j]);
            discovery_map_put(&m, keys[k++], &old->svcs[i].eps[j]);
        }
    }
    for (size_t i = 0; i < t->n_svcs; i++) {
        for (size_t j = 0; j < t->svcs[i].n_eps; j++) {
            struct disc_endpoint *e = &t->svcs[i].eps[j];
            char *key = discovery_ep_key(&t->svcs[i], e);
            const struct disc_endpoint *o = discovery_map_get(&m, key);
            if (o != NULL) {
                e->ewma_ms = o->ewma_ms;
                e->stamp_ms = o->stamp_ms;
                e->failures = o->failures;
            }
            free(key);
        }
    }
    discovery_map_free(&m);
    for (size_t i = 0; i < k; i++)
        free(keys[i]);
    free(keys);
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
        discovery_touch_use(out->split->touch, &out->split->touched_ms, now_ms);
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
        discovery_touch_use(out->svc->touch, &out->svc->touched_ms, now_ms);
    }
    out->ep = balance_pick_endpoint(out->svc->eps, out->svc->n_eps, rng, now_ms);
    return out->ep != NULL ? 0 : -EHOSTUNREACH;
}

bool
discovery_has(struct disc_table *t, const char *canon)
{
    return t != NULL &&
           (discovery_find_split(t, canon) != NULL || discovery_find_svc(t, canon) != NULL);
}

/* True when <a> and <b> hold the same family and IP address (ports are not compared). */
static bool
discovery_same_ip(const struct st_sockaddr *a, const struct st_sockaddr *b)
{
    if (a->ss.ss_family != b->ss.ss_family)
        return false;
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)&a->ss, *y = (const void *)&b->ss;
        return x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)&a->ss, *y = (const void *)&b->ss;
        return memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
    }
    return false;
}

struct disc_endpoint *
discovery_find_endpoint(struct disc_table *t, const struct st_sockaddr *app,
                        struct disc_service **svc)
{
    int port = st_sock_addr_port(app);

    if (t == NULL || t->app_cap == 0 || port <= 0 || port > 65535)
        return NULL;
    uint64_t h = discovery_app_hash(app, (uint16_t)port);
    if (h == 0)
        return NULL;
    struct disc_app_slot *s = discovery_app_find(t, app, (uint16_t)port, h);
    if (s->ep == NULL)
        return NULL;
    if (svc != NULL)
        *svc = s->svc;
    return s->ep;
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
    d->file = discovery_table_unref(d->file);
    for (size_t i = 0; i < d->parts.cap; i++)
        if (d->parts.slots != NULL && d->parts.slots[i].key != NULL)
            discovery_part_unref(d->parts.slots[i].val);
    discovery_map_free(&d->parts);
    if (d->memo != NULL) {
        for (size_t i = 0; i < DISC_MEMO_SLOTS; i++)
            free(d->memo[i].key);
        free(d->memo);
    }
    if (d->neg_ring != NULL) {
        for (size_t i = 0; i < DISC_NEG_MAX; i++)
            free(d->neg_ring[i].key);
        free(d->neg_ring);
    }
    discovery_map_free(&d->neg);
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

bool
discovery_file_has(struct discovery *d, const char *key)
{
    return d->file != NULL &&
           (discovery_find_svc(d->file, key) != NULL || discovery_find_split(d->file, key) != NULL);
}

/* Builds the table requests are routed with from the file's table and the parts. */
static void
discovery_rebuild(struct discovery *d)
{
    struct disc_table *t, *old = d->table;
    size_t n_svcs = 0, n_splits = 0, n_parts = 0;

    if (!d->parts_enabled || d->parts.n == 0) {
        d->table = discovery_table_ref(d->file);
        if (d->table == NULL && d->parts_enabled) {
            d->table = st_xcalloc(1, sizeof(*d->table));
            d->table->refs = 1;
        }
        discovery_table_unref(old);
        return;
    }
    for (size_t i = 0; i < d->parts.cap; i++) {
        const struct disc_part *p = d->parts.slots[i].key != NULL ? d->parts.slots[i].val : NULL;
        if (p == NULL || !p->found || discovery_file_has(d, p->key))
            continue;
        n_svcs += p->t->n_svcs;
        n_splits += p->t->n_splits;
        n_parts++;
    }
    if (d->file != NULL) {
        n_svcs += d->file->n_svcs;
        n_splits += d->file->n_splits;
    }
    t = st_xcalloc(1, sizeof(*t));
    t->refs = 1;
    t->svcs = st_xcalloc(n_svcs + 1, sizeof(*t->svcs));
    t->splits = st_xcalloc(n_splits + 1, sizeof(*t->splits));
    t->parts = st_xcalloc(n_parts + 1, sizeof(*t->parts));
    if (d->file != NULL) {
        for (size_t i = 0; i < d->file->n_svcs; i++)
            discovery_copy_service(&t->svcs[t->n_svcs++], &d->file->svcs[i]);
        for (size_t i = 0; i < d->file->n_splits; i++)
            discovery_copy_split(&t->splits[t->n_splits++], &d->file->splits[i], NULL, NULL);
    }
    for (size_t i = 0; i < d->parts.cap; i++) {
        struct disc_part *p = d->parts.slots[i].key != NULL ? d->parts.slots[i].val : NULL;
        if (p == NULL || !p->found || discovery_file_has(d, p->key))
            continue;
        struct disc_service *base = &t->svcs[t->n_svcs];
        for (size_t j = 0; j < p->t->n_svcs; j++)
            discovery_copy_service(&t->svcs[t->n_svcs++], &p->t->svcs[j]);
        for (size_t j = 0; j < p->t->n_splits; j++)
            discovery_copy_split(&t->splits[t->n_splits++], &p->t->splits[j], p->t->svcs, base);
        t->parts[t->n_parts++] = discovery_part_ref(p);
    }
    discovery_table_finish(t);
    if (old != NULL)
        discovery_carry_state(t, old);
    d->table = t;
    discovery_table_unref(old);
}

void
discovery_set_table(struct discovery *d, struct disc_table *t)
{
    discovery_table_unref(d->file);
    d->file = t;
    discovery_rebuild(d);
}

void
discovery_enable_parts(struct discovery *d)
{
    d->parts_enabled = true;
    discovery_rebuild(d);
}

static void discovery_neg_drop(struct discovery *d, struct disc_neg *e);

void
discovery_set_part(struct discovery *d, struct disc_part *p)
{
    struct disc_neg *e;

    if (p->found && (e = discovery_map_get(&d->neg, p->key)) != NULL)
        discovery_neg_drop(d, e); /* it exists now: ask no more whether it does */
    discovery_part_unref(discovery_map_put(&d->parts, p->key, p));
    discovery_rebuild(d);
}

void
discovery_drop_part(struct discovery *d, const char *key)
{
    struct disc_part *p = discovery_map_del(&d->parts, key);

    if (p != NULL) {
        discovery_part_unref(p);
        discovery_rebuild(d);
    }
}

const struct disc_part *
discovery_part(struct discovery *d, const char *key)
{
    return discovery_map_get(&d->parts, key);
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

/* ---- negative cache ---------------------------------------------------------------- */

/* Empties the ring slot <e> and takes its key out of the index. */
static void
discovery_neg_drop(struct discovery *d, struct disc_neg *e)
{
    discovery_map_del(&d->neg, e->key);
    free(e->key);
    e->key = NULL;
}

void
discovery_neg_put(struct discovery *d, const char *key, uint64_t now_ms, uint32_t ttl_ms)
{
    struct disc_neg *e;

    if (ttl_ms == 0)
        return;
    if ((e = discovery_map_get(&d->neg, key)) != NULL) {
        e->expires_ms = now_ms + ttl_ms;
        return;
    }
    if (d->neg_ring == NULL)
        d->neg_ring = st_xcalloc(DISC_NEG_MAX, sizeof(*d->neg_ring));
    e = &d->neg_ring[d->neg_next];
    d->neg_next = (d->neg_next + 1) % DISC_NEG_MAX;
    if (e->key != NULL)
        discovery_neg_drop(d, e); /* full: the oldest put goes */
    e->key = st_xstrdup(key);
    e->expires_ms = now_ms + ttl_ms;
    discovery_map_put(&d->neg, e->key, e);
}

bool
discovery_neg_has(struct discovery *d, const char *key, uint64_t now_ms)
{
    struct disc_neg *e = discovery_map_get(&d->neg, key);

    if (e == NULL)
        return false;
    if (now_ms < e->expires_ms)
        return true;
    discovery_neg_drop(d, e);
    return false;
}

size_t
discovery_neg_count(const struct discovery *d)
{
    return d->neg.n;
}

/* ---- memo ------------------------------------------------------------------- */

const void *
discovery_memo_get(struct discovery *d, const void *key, size_t n, size_t *len)
{
    if (d->memo == NULL || n > DISC_MEMO_MAX_KEY)
        return NULL;
    uint64_t h = st_hash64(key, n);
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
    uint64_t h = st_hash64(key, n);
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
