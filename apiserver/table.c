/*
 * Server-side Table output; see table.h. Column names, types and cell
 * formats follow Kubernetes' internal printers (pkg/printers/internalversion)
 * for the kinds strait serves.
 */
#include "table.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct table_col {
    const char *name, *type, *format, *desc;
    int priority;
};

#define COL_NAME                                                                                   \
    {                                                                                              \
        "Name", "string", "name", "Name must be unique within a namespace.", 0                     \
    }
#define COL_AGE                                                                                    \
    {                                                                                              \
        "Age", "string", "",                                                                       \
            "CreationTimestamp is a timestamp representing the server time when "                  \
            "this object was created.",                                                            \
            0                                                                                      \
    }

static const struct table_col table_cols_default[] = {COL_NAME, COL_AGE};
static const struct table_col table_cols_namespace[] = {
    COL_NAME, {"Status", "string", "", "The status of the namespace", 0}, COL_AGE};
static const struct table_col table_cols_service[] = {
    COL_NAME,
    {"Type", "string", "", "The type of the service.", 0},
    {"Cluster-IP", "string", "", "The cluster IP of the service.", 0},
    {"External-IP", "string", "", "The external IP of the service.", 0},
    {"Port(s)", "string", "", "The ports of the service.", 0},
    COL_AGE,
    {"Selector", "string", "", "The selector of the service.", 1},
};
static const struct table_col table_cols_endpoints[] = {
    COL_NAME, {"Endpoints", "string", "", "Endpoints of the service.", 0}, COL_AGE};
static const struct table_col table_cols_secret[] = {
    COL_NAME,
    {"Type", "string", "", "The type of the secret.", 0},
    {"Data", "string", "", "The number of entries in the secret.", 0},
    COL_AGE,
};
static const struct table_col table_cols_configmap[] = {
    COL_NAME, {"Data", "string", "", "The number of entries in the config map.", 0}, COL_AGE};
static const struct table_col table_cols_serviceaccount[] = {
    COL_NAME, {"Secrets", "string", "", "The secrets of the service account.", 0}, COL_AGE};
static const struct table_col table_cols_event[] = {
    {"Last Seen", "string", "", "The time the event was last seen.", 0},
    {"Type", "string", "", "The type of the event.", 0},
    {"Reason", "string", "", "The reason of the event.", 0},
    {"Object", "string", "", "The object the event is about.", 0},
    {"Message", "string", "", "A human-readable description of the event.", 0},
};
static const struct table_col table_cols_deployment[] = {
    COL_NAME,
    {"Ready", "string", "", "Number of the pod with ready state.", 0},
    {"Up-to-date", "string", "",
     "Total number of non-terminated pods targeted by this "
     "deployment that have the desired template spec.",
     0},
    {"Available", "string", "", "Total number of available pods targeted by this deployment.", 0},
    COL_AGE,
    {"Containers", "string", "", "Names of each container in the template.", 1},
    {"Images", "string", "", "Images referenced by each container in the template.", 1},
    {"Selector", "string", "", "Label selector for pods.", 1},
};
static const struct table_col table_cols_crd[] = {
    COL_NAME, {"Created At", "date", "", "The time the object was created.", 0}};
static const struct table_col table_cols_lease[] = {
    COL_NAME, {"Holder", "string", "", "The holder of the lease.", 0}, COL_AGE};
static const struct table_col table_cols_binding[] = {
    COL_NAME,
    {"Role", "string", "", "The role of the binding.", 0},
    COL_AGE,
    {"Users", "string", "", "Users in the binding.", 1},
    {"Groups", "string", "", "Groups in the binding.", 1},
    {"ServiceAccounts", "string", "", "Service accounts in the binding.", 1},
};

static const struct table_col *
table_cols(enum reg_table t, size_t *n)
{
#define TC(a)                                                                                      \
    do {                                                                                           \
        *n = ST_ARRAY_LEN(a);                                                                      \
        return a;                                                                                  \
    } while (0)
    switch (t) {
    case REG_TABLE_NAMESPACE:
        TC(table_cols_namespace);
    case REG_TABLE_SERVICE:
        TC(table_cols_service);
    case REG_TABLE_ENDPOINTS:
        TC(table_cols_endpoints);
    case REG_TABLE_SECRET:
        TC(table_cols_secret);
    case REG_TABLE_CONFIGMAP:
        TC(table_cols_configmap);
    case REG_TABLE_SERVICEACCOUNT:
        TC(table_cols_serviceaccount);
    case REG_TABLE_EVENT:
        TC(table_cols_event);
    case REG_TABLE_DEPLOYMENT:
        TC(table_cols_deployment);
    case REG_TABLE_CRD:
        TC(table_cols_crd);
    case REG_TABLE_CREATED_AT:
        TC(table_cols_crd);
    case REG_TABLE_LEASE:
        TC(table_cols_lease);
    case REG_TABLE_BINDING:
        TC(table_cols_binding);
    case REG_TABLE_DEFAULT:
        break;
    }
    TC(table_cols_default);
#undef TC
}

void
table_human_duration(int64_t s, char *out, size_t n)
{
    if (s < -1) {
        snprintf(out, n, "<invalid>");
        return;
    }
    if (s < 0)
        s = 0;
    if (s < 120) {
        snprintf(out, n, "%" PRId64 "s", s);
        return;
    }
    int64_t m = s / 60;
    if (m < 10) {
        if (s % 60)
            snprintf(out, n, "%" PRId64 "m%" PRId64 "s", m, s % 60);
        else
            snprintf(out, n, "%" PRId64 "m", m);
        return;
    }
    if (m < 180) {
        snprintf(out, n, "%" PRId64 "m", m);
        return;
    }
    int64_t h = s / 3600;
    if (h < 8) {
        if (m % 60)
            snprintf(out, n, "%" PRId64 "h%" PRId64 "m", h, m % 60);
        else
            snprintf(out, n, "%" PRId64 "h", h);
        return;
    }
    if (h < 48) {
        snprintf(out, n, "%" PRId64 "h", h);
        return;
    }
    if (h < 24 * 8) {
        if (h % 24)
            snprintf(out, n, "%" PRId64 "d%" PRId64 "h", h / 24, h % 24);
        else
            snprintf(out, n, "%" PRId64 "d", h / 24);
        return;
    }
    if (h < 24 * 365 * 2) {
        snprintf(out, n, "%" PRId64 "d", h / 24);
        return;
    }
    if (h < 24 * 365 * 8) {
        int64_t dy = (h / 24) % 365;
        if (dy)
            snprintf(out, n, "%" PRId64 "y%" PRId64 "d", h / 24 / 365, dy);
        else
            snprintf(out, n, "%" PRId64 "y", h / 24 / 365);
        return;
    }
    snprintf(out, n, "%" PRId64 "y", h / 24 / 365);
}

static const char *
table_str(const json_t *o, const char *path)
{
    const json_t *v = o;
    char seg[128];

    while (*path && v) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        if (len >= sizeof(seg))
            return NULL;
        memcpy(seg, path, len);
        seg[len] = '\0';
        v = json_object_get(v, seg);
        path += len + (dot ? 1 : 0);
    }
    return json_string_value(v);
}

/* The AGE cell of a timestamp string: "<unknown>" when missing or malformed. */
static json_t *
table_age(const char *ts, int64_t now)
{
    int64_t t;
    char buf[32];

    if (!ts || st_parse_rfc3339(ts, &t) < 0)
        return json_string("<unknown>");
    table_human_duration(now - t, buf, sizeof(buf));
    return json_string(buf);
}

static json_t *
table_age_of(const json_t *obj, int64_t now)
{
    return table_age(table_str(obj, "metadata.creationTimestamp"), now);
}

static json_t *
table_or_none(const char *s)
{
    return json_string(s && *s ? s : "<none>");
}

/* Appends "k=v" pairs of a string map, comma-separated. */
static void
table_map_pairs(struct st_buf *b, const json_t *map)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)map, k, v)
    {
        if (!json_is_string(v))
            continue;
        if (st_buf_appendf(b, "%s%s=%s", b->len ? "," : "", k, json_string_value(v)) < 0)
            return;
    }
}

static json_t *
table_buf_cell(struct st_buf *b)
{
    json_t *c = table_or_none(st_buf_cstr(b));
    st_buf_free(b);
    return c;
}

static void
table_service_cells(json_t *cells, const json_t *o, int64_t now)
{
    const json_t *spec = json_object_get(o, "spec");
    const char *type = table_str(spec, "type");
    const char *cip = table_str(spec, "clusterIP");
    struct st_buf ext = ST_BUF_INIT(4096), ports = ST_BUF_INIT(4096), sel = ST_BUF_INIT(4096);
    size_t i;
    json_t *v;

    if (!type)
        type = "ClusterIP";
    json_array_append_new(cells, json_string(type));
    json_array_append_new(cells, table_or_none(cip));
    if (!strcmp(type, "ExternalName")) {
        const char *en = table_str(spec, "externalName");
        if (st_buf_append_str(&ext, en ? en : "") < 0) {
            /* Capped: the cell is then shown partially. */
        }
    }
    json_array_foreach(json_object_get(spec, "externalIPs"), i, v)
    {
        if (json_is_string(v) &&
            st_buf_appendf(&ext, "%s%s", ext.len ? "," : "", json_string_value(v)) < 0)
            break;
    }
    if (!strcmp(type, "LoadBalancer")) {
        const json_t *ing = json_object_get(
            json_object_get(json_object_get(o, "status"), "loadBalancer"), "ingress");
        json_array_foreach(ing, i, v)
        {
            const char *ip = table_str(v, "ip");
            if (!ip)
                ip = table_str(v, "hostname");
            if (ip && st_buf_appendf(&ext, "%s%s", ext.len ? "," : "", ip) < 0)
                break;
        }
        if (ext.len == 0 && st_buf_append_str(&ext, "<pending>") < 0) {
            /* Cannot fail under the cap. */
        }
    }
    json_array_append_new(cells, table_buf_cell(&ext));
    json_array_foreach(json_object_get(spec, "ports"), i, v)
    {
        const char *proto = table_str(v, "protocol");
        json_int_t port = json_integer_value(json_object_get(v, "port"));
        json_int_t np = json_integer_value(json_object_get(v, "nodePort"));
        int rc;
        if (np)
            rc = st_buf_appendf(&ports, "%s%" JSON_INTEGER_FORMAT ":%" JSON_INTEGER_FORMAT "/%s",
                                ports.len ? "," : "", port, np, proto ? proto : "TCP");
        else
            rc = st_buf_appendf(&ports, "%s%" JSON_INTEGER_FORMAT "/%s", ports.len ? "," : "", port,
                                proto ? proto : "TCP");
        if (rc < 0)
            break;
    }
    json_array_append_new(cells, table_buf_cell(&ports));
    json_array_append_new(cells, table_age_of(o, now));
    table_map_pairs(&sel, json_object_get(spec, "selector"));
    json_array_append_new(cells, table_buf_cell(&sel));
}

static json_t *
table_endpoints_cell(const json_t *o)
{
    struct st_buf b = ST_BUF_INIT(4096);
    size_t count = 0, i, j, k;
    const size_t max = 3;
    json_t *subset, *addr, *port;

    json_array_foreach(json_object_get(o, "subsets"), i, subset)
    {
        const json_t *ports = json_object_get(subset, "ports");
        const json_t *addrs = json_object_get(subset, "addresses");
        if (json_array_size(ports) == 0) {
            json_array_foreach(addrs, k, addr)
            {
                if (count++ < max &&
                    st_buf_appendf(&b, "%s%s", b.len ? "," : "",
                                   table_str(addr, "ip") ? table_str(addr, "ip") : "") < 0)
                    break;
            }
            continue;
        }
        json_array_foreach(ports, j, port)
        {
            json_array_foreach(addrs, k, addr)
            {
                if (count++ >= max)
                    continue;
                const char *ip = table_str(addr, "ip");
                if (st_buf_appendf(&b, "%s%s:%" JSON_INTEGER_FORMAT, b.len ? "," : "", ip ? ip : "",
                                   json_integer_value(json_object_get(port, "port"))) < 0)
                    break;
            }
        }
    }
    if (count > max && st_buf_appendf(&b, " + %zu more...", count - max) < 0) {
        /* The cell stays without the suffix. */
    }
    return table_buf_cell(&b);
}

static void
table_deployment_cells(json_t *cells, const json_t *o, int64_t now)
{
    const json_t *spec = json_object_get(o, "spec"), *st = json_object_get(o, "status");
    json_t *rep = json_object_get(spec, "replicas");
    json_int_t want = rep ? json_integer_value(rep) : 1;
    char buf[64];
    struct st_buf names = ST_BUF_INIT(4096), images = ST_BUF_INIT(4096), sel = ST_BUF_INIT(4096);
    size_t i;
    json_t *c;

    snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(st, "readyReplicas")), want);
    json_array_append_new(cells, json_string(buf));
    json_array_append_new(cells,
                          json_integer(json_integer_value(json_object_get(st, "updatedReplicas"))));
    json_array_append_new(
        cells, json_integer(json_integer_value(json_object_get(st, "availableReplicas"))));
    json_array_append_new(cells, table_age_of(o, now));
    json_array_foreach(
        json_object_get(json_object_get(json_object_get(spec, "template"), "spec"), "containers"),
        i, c)
    {
        const char *n = table_str(c, "name"), *im = table_str(c, "image");
        if (st_buf_appendf(&names, "%s%s", i ? "," : "", n ? n : "") < 0 ||
            st_buf_appendf(&images, "%s%s", i ? "," : "", im ? im : "") < 0)
            break;
    }
    json_array_append_new(cells, table_buf_cell(&names));
    json_array_append_new(cells, table_buf_cell(&images));
    table_map_pairs(&sel, json_object_get(json_object_get(spec, "selector"), "matchLabels"));
    json_array_append_new(cells, table_buf_cell(&sel));
}

static void
table_binding_cells(json_t *cells, const json_t *o, int64_t now)
{
    const json_t *ref = json_object_get(o, "roleRef");
    struct st_buf users = ST_BUF_INIT(4096), groups = ST_BUF_INIT(4096), sas = ST_BUF_INIT(4096);
    char buf[512];
    size_t i;
    json_t *s;

    snprintf(buf, sizeof(buf), "%s/%s", table_str(ref, "kind") ? table_str(ref, "kind") : "",
             table_str(ref, "name") ? table_str(ref, "name") : "");
    json_array_append_new(cells, json_string(buf));
    json_array_append_new(cells, table_age_of(o, now));
    json_array_foreach(json_object_get(o, "subjects"), i, s)
    {
        const char *kind = table_str(s, "kind"), *name = table_str(s, "name");
        const char *ns = table_str(s, "namespace");
        if (!kind || !name)
            continue;
        int rc = 0;
        if (!strcmp(kind, "User"))
            rc = st_buf_appendf(&users, "%s%s", users.len ? ", " : "", name);
        else if (!strcmp(kind, "Group"))
            rc = st_buf_appendf(&groups, "%s%s", groups.len ? ", " : "", name);
        else if (!strcmp(kind, "ServiceAccount"))
            rc = st_buf_appendf(&sas, "%s%s/%s", sas.len ? ", " : "", ns ? ns : "", name);
        if (rc < 0)
            break;
    }
    json_array_append_new(cells, json_string(st_buf_cstr(&users)));
    json_array_append_new(cells, json_string(st_buf_cstr(&groups)));
    json_array_append_new(cells, json_string(st_buf_cstr(&sas)));
    st_buf_free(&users);
    st_buf_free(&groups);
    st_buf_free(&sas);
}

static void
table_event_cells(json_t *cells, const json_t *o, int64_t now)
{
    const char *last = table_str(o, "lastTimestamp");
    char buf[512];

    if (!last)
        last = table_str(o, "eventTime");
    if (!last)
        last = table_str(o, "metadata.creationTimestamp");
    json_array_append_new(cells, table_age(last, now));
    json_array_append_new(cells, json_string(table_str(o, "type") ? table_str(o, "type") : ""));
    json_array_append_new(cells, json_string(table_str(o, "reason") ? table_str(o, "reason") : ""));
    const char *kind = table_str(o, "involvedObject.kind");
    const char *name = table_str(o, "involvedObject.name");
    snprintf(buf, sizeof(buf), "%s/%s", kind ? kind : "", name ? name : "");
    for (char *c = buf; *c && *c != '/'; c++)
        *c = (char)tolower((unsigned char)*c);
    json_array_append_new(cells, json_string(buf));
    json_array_append_new(cells,
                          json_string(table_str(o, "message") ? table_str(o, "message") : ""));
}

/*
 * Evaluates the simple JSONPath subset additionalPrinterColumns use here:
 * ".a.b.c" (a leading '.' optional, "{...}" braces accepted). Returns a
 * borrowed value or NULL.
 */
static const json_t *
table_jsonpath(const json_t *o, const char *path)
{
    char seg[256];
    const json_t *v = o;

    if (*path == '{')
        path++;
    while (*path == '.')
        path++;
    while (*path && *path != '}' && v) {
        size_t len = strcspn(path, ".}");
        if (len == 0 || len >= sizeof(seg) || memchr(path, '[', len))
            return NULL;
        memcpy(seg, path, len);
        seg[len] = '\0';
        v = json_object_get(v, seg);
        path += len;
        if (*path == '.')
            path++;
    }
    return v;
}

static json_t *
table_custom_cell(const json_t *col, const json_t *o, int64_t now)
{
    const char *path = json_string_value(json_object_get(col, "jsonPath"));
    const char *type = json_string_value(json_object_get(col, "type"));
    const json_t *v = path ? table_jsonpath(o, path) : NULL;

    if (!v || json_is_null(v))
        return json_null();
    if (type && !strcmp(type, "date"))
        return table_age(json_string_value(v), now);
    if (type && !strcmp(type, "integer") && json_is_integer(v))
        return json_integer(json_integer_value(v));
    if (type && !strcmp(type, "number") && json_is_number(v))
        return json_real(json_number_value(v));
    if (type && !strcmp(type, "boolean") && json_is_boolean(v))
        return json_boolean(json_is_true(v));
    if (json_is_string(v))
        return json_string(json_string_value(v));
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_t *c = json_string(s ? s : "");
    free(s);
    return c;
}

json_t *
table_new(const struct reg_resource *r, const struct table_opts *o)
{
    json_t *defs = json_array();
    size_t n;
    const struct table_col *cols = table_cols(r->table, &n);

    if (r->table == REG_TABLE_DEFAULT && r->columns) {
        size_t i;
        json_t *c;
        json_array_append_new(defs, json_pack("{s:s,s:s,s:s,s:s,s:i}", "name", "Name", "type",
                                              "string", "format", "name", "description",
                                              cols[0].desc, "priority", 0));
        json_array_foreach(r->columns, i, c)
        {
            const char *type = json_string_value(json_object_get(c, "type"));
            const char *fmt = json_string_value(json_object_get(c, "format"));
            const char *desc = json_string_value(json_object_get(c, "description"));
            json_array_append_new(
                defs, json_pack("{s:s,s:s,s:s,s:s,s:I}", "name",
                                json_string_value(json_object_get(c, "name"))
                                    ? json_string_value(json_object_get(c, "name"))
                                    : "",
                                "type", type ? type : "string", "format", fmt ? fmt : "",
                                "description", desc ? desc : "", "priority",
                                (json_int_t)json_integer_value(json_object_get(c, "priority"))));
        }
    } else {
        for (size_t i = 0; i < n; i++)
            json_array_append_new(defs,
                                  json_pack("{s:s,s:s,s:s,s:s,s:i}", "name", cols[i].name, "type",
                                            cols[i].type, "format", cols[i].format, "description",
                                            cols[i].desc, "priority", cols[i].priority));
    }
    return json_pack("{s:s,s:s,s:{},s:o,s:[]}", "kind", "Table", "apiVersion",
                     o->api_version ? o->api_version : "meta.k8s.io/v1", "metadata",
                     "columnDefinitions", defs, "rows");
}

void
table_add_row(json_t *table, const struct reg_resource *r, const json_t *obj,
              const struct table_opts *o)
{
    json_t *cells = json_array();
    const char *name = table_str(obj, "metadata.name");
    int64_t now = o->now;

    if (r->table != REG_TABLE_EVENT)
        json_array_append_new(cells, json_string(name ? name : ""));
    switch (r->table) {
    case REG_TABLE_NAMESPACE: {
        const char *phase = table_str(obj, "status.phase");
        json_array_append_new(cells, json_string(phase ? phase : "Active"));
        json_array_append_new(cells, table_age_of(obj, now));
        break;
    }
    case REG_TABLE_SERVICE:
        table_service_cells(cells, obj, now);
        break;
    case REG_TABLE_ENDPOINTS:
        json_array_append_new(cells, table_endpoints_cell(obj));
        json_array_append_new(cells, table_age_of(obj, now));
        break;
    case REG_TABLE_SECRET: {
        const char *type = table_str(obj, "type");
        json_array_append_new(cells, json_string(type ? type : "Opaque"));
        json_array_append_new(
            cells, json_integer((json_int_t)json_object_size(json_object_get(obj, "data"))));
        json_array_append_new(cells, table_age_of(obj, now));
        break;
    }
    case REG_TABLE_CONFIGMAP:
        json_array_append_new(
            cells,
            json_integer((json_int_t)(json_object_size(json_object_get(obj, "data")) +
                                      json_object_size(json_object_get(obj, "binaryData")))));
        json_array_append_new(cells, table_age_of(obj, now));
        break;
    case REG_TABLE_SERVICEACCOUNT:
        json_array_append_new(
            cells, json_integer((json_int_t)json_array_size(json_object_get(obj, "secrets"))));
        json_array_append_new(cells, table_age_of(obj, now));
        break;
    case REG_TABLE_EVENT:
        table_event_cells(cells, obj, now);
        break;
    case REG_TABLE_DEPLOYMENT:
        table_deployment_cells(cells, obj, now);
        break;
    case REG_TABLE_CRD:
    case REG_TABLE_CREATED_AT: {
        const char *ts = table_str(obj, "metadata.creationTimestamp");
        json_array_append_new(cells, ts ? json_string(ts) : json_null());
        break;
    }
    case REG_TABLE_LEASE:
        json_array_append_new(cells, table_or_none(table_str(obj, "spec.holderIdentity")));
        json_array_append_new(cells, table_age_of(obj, now));
        break;
    case REG_TABLE_BINDING:
        table_binding_cells(cells, obj, now);
        break;
    case REG_TABLE_DEFAULT:
        if (r->columns) {
            size_t i;
            json_t *c;
            json_array_foreach(r->columns, i, c)
                json_array_append_new(cells, table_custom_cell(c, obj, now));
        } else {
            json_array_append_new(cells, table_age_of(obj, now));
        }
        break;
    }
    json_t *row = json_pack("{s:o}", "cells", cells);
    if (o->include == TABLE_INCLUDE_OBJECT) {
        json_object_set_new(row, "object", json_deep_copy(obj));
    } else if (o->include == TABLE_INCLUDE_METADATA) {
        json_t *md = json_deep_copy(json_object_get(obj, "metadata"));
        json_object_set_new(row, "object",
                            json_pack("{s:s,s:s,s:o}", "kind", "PartialObjectMetadata",
                                      "apiVersion",
                                      o->api_version ? o->api_version : "meta.k8s.io/v1",
                                      "metadata", md ? md : json_object()));
    }
    json_array_append_new(json_object_get(table, "rows"), row);
}
