/*
 * Decoding of Kubernetes protobuf request bodies (application/vnd.kubernetes.protobuf)
 * into the JSON form the rest of the API layer works on.
 *
 * Why: client-go 1.32's typed clientset sends protobuf bodies, and kubectl
 * uses it for `create secret|configmap|namespace|serviceaccount|service|role|
 * rolebinding|clusterrole|clusterrolebinding` and `auth can-i|whoami`; it
 * does not retry with JSON after a 415. Responses stay JSON: those clients
 * always accept application/json as well.
 *
 * The envelope is the 4 bytes "k8s\0" followed by a runtime.Unknown message
 * {typeMeta (1) {apiVersion (1), kind (2)}, raw (2), contentEncoding (3),
 * contentType (4)}; <raw> is the object's message. Field numbers below are
 * those of k8s.io/api's generated.proto files for the kinds listed in
 * proto_kinds; other kinds are refused (415) by the caller. Unknown fields
 * are skipped by wire type. Empty strings, zero numbers, false and empty
 * lists are omitted (the JSON tags are omitempty), except for fields that
 * are pointers in Go (PROTO_KEEP), where presence is meaningful.
 */
#include "api_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define PROTO_MAX_DEPTH 32

enum proto_type {
    PROTO_STRING,
    PROTO_BYTES, /* base64 in JSON */
    PROTO_INT,   /* varint int32/int64 */
    PROTO_BOOL,
    PROTO_MSG,      /* nested message, schema in <sub> */
    PROTO_MAP_SS,   /* map<string, string> */
    PROTO_MAP_SB,   /* map<string, bytes>, values base64 */
    PROTO_TIME,     /* meta.v1.Time {seconds (1), nanos (2)} as RFC 3339 */
    PROTO_INTORSTR, /* intstr.IntOrString {type (1), intVal (2), strVal (3)} */
};

enum {
    PROTO_REPEATED = 1u << 0, /* a JSON array */
    PROTO_KEEP = 1u << 1,     /* a Go pointer: keep zero values */
};

struct proto_field {
    unsigned num;
    const char *name;
    enum proto_type type;
    unsigned flags;
    const struct proto_field *sub; /* for PROTO_MSG, terminated by num == 0 */
};

#define END                                                                                        \
    {                                                                                              \
        0, NULL, PROTO_STRING, 0, NULL                                                             \
    }

static const struct proto_field proto_owner_ref[] = {
    {1, "kind", PROTO_STRING, 0, NULL},
    {3, "name", PROTO_STRING, 0, NULL},
    {4, "uid", PROTO_STRING, 0, NULL},
    {5, "apiVersion", PROTO_STRING, 0, NULL},
    {6, "controller", PROTO_BOOL, PROTO_KEEP, NULL},
    {7, "blockOwnerDeletion", PROTO_BOOL, PROTO_KEEP, NULL},
    END,
};

static const struct proto_field proto_object_meta[] = {
    {1, "name", PROTO_STRING, 0, NULL},
    {2, "generateName", PROTO_STRING, 0, NULL},
    {3, "namespace", PROTO_STRING, 0, NULL},
    {5, "uid", PROTO_STRING, 0, NULL},
    {6, "resourceVersion", PROTO_STRING, 0, NULL},
    {7, "generation", PROTO_INT, 0, NULL},
    {8, "creationTimestamp", PROTO_TIME, 0, NULL},
    {11, "labels", PROTO_MAP_SS, 0, NULL},
    {12, "annotations", PROTO_MAP_SS, 0, NULL},
    {13, "ownerReferences", PROTO_MSG, PROTO_REPEATED, proto_owner_ref},
    {14, "finalizers", PROTO_STRING, PROTO_REPEATED, NULL},
    END,
};

static const struct proto_field proto_namespace_spec[] = {
    {1, "finalizers", PROTO_STRING, PROTO_REPEATED, NULL},
    END,
};
static const struct proto_field proto_namespace[] = {
    {1, "metadata", PROTO_MSG, 0, proto_object_meta},
    {2, "spec", PROTO_MSG, 0, proto_namespace_spec},
    END,
};

static const struct proto_field proto_secret[] = {
    {1, "metadata", PROTO_MSG, 0, proto_object_meta},
    {2, "data", PROTO_MAP_SB, 0, NULL},
    {3, "type", PROTO_STRING, 0, NULL},
    {4, "stringData", PROTO_MAP_SS, 0, NULL},
    {5, "immutable", PROTO_BOOL, PROTO_KEEP, NULL},
    END,
};

static const struct proto_field proto_configmap[] = {
    {1, "metadata", PROTO_MSG, 0, proto_object_meta},
    {2, "data", PROTO_MAP_SS, 0, NULL},
    {3, "binaryData", PROTO_MAP_SB, 0, NULL},
    {4, "immutable", PROTO_BOOL, PROTO_KEEP, NULL},
    END,
};

static const struct proto_field proto_object_ref[] = {
    {1, "kind", PROTO_STRING, 0, NULL},       {2, "namespace", PROTO_STRING, 0, NULL},
    {3, "name", PROTO_STRING, 0, NULL},       {4, "uid", PROTO_STRING, 0, NULL},
    {5, "apiVersion", PROTO_STRING, 0, NULL}, {6, "resourceVersion", PROTO_STRING, 0, NULL},
    {7, "fieldPath", PROTO_STRING, 0, NULL},  END,
};
static const struct proto_field proto_local_ref[] = {
    {1, "name", PROTO_STRING, 0, NULL},
    END,
};
static const struct proto_field proto_service_account[] = {
    {1, "metadata", PROTO_MSG, 0, proto_object_meta},
    {2, "secrets", PROTO_MSG, PROTO_REPEATED, proto_object_ref},
    {3, "imagePullSecrets", PROTO_MSG, PROTO_REPEATED, proto_local_ref},
    {4, "automountServiceAccountToken", PROTO_BOOL, PROTO_KEEP, NULL},
    END,
};

static const struct proto_field proto_service_port[] = {
    {1, "name", PROTO_STRING, 0, NULL},
    {2, "protocol", PROTO_STRING, 0, NULL},
    {6, "appProtocol", PROTO_STRING, 0, NULL},
    {3, "port", PROTO_INT, 0, NULL},
    {4, "targetPort", PROTO_INTORSTR, 0, NULL},
    {5, "nodePort", PROTO_INT, 0, NULL},
    END,
};
static const struct proto_field proto_service_spec[] = {
    {1, "ports", PROTO_MSG, PROTO_REPEATED, proto_service_port},
    {2, "selector", PROTO_MAP_SS, 0, NULL},
    {3, "clusterIP", PROTO_STRING, 0, NULL},
    {18, "clusterIPs", PROTO_STRING, PROTO_REPEATED, NULL},
    {4, "type", PROTO_STRING, 0, NULL},
    {5, "externalIPs", PROTO_STRING, PROTO_REPEATED, NULL},
    {7, "sessionAffinity", PROTO_STRING, 0, NULL},
    {8, "loadBalancerIP", PROTO_STRING, 0, NULL},
    {9, "loadBalancerSourceRanges", PROTO_STRING, PROTO_REPEATED, NULL},
    {10, "externalName", PROTO_STRING, 0, NULL},
    {11, "externalTrafficPolicy", PROTO_STRING, 0, NULL},
    {12, "healthCheckNodePort", PROTO_INT, 0, NULL},
    {13, "publishNotReadyAddresses", PROTO_BOOL, 0, NULL},
    {19, "ipFamilies", PROTO_STRING, PROTO_REPEATED, NULL},
    {17, "ipFamilyPolicy", PROTO_STRING, 0, NULL},
    {20, "allocateLoadBalancerNodePorts", PROTO_BOOL, PROTO_KEEP, NULL},
    {21, "loadBalancerClass", PROTO_STRING, 0, NULL},
    {22, "internalTrafficPolicy", PROTO_STRING, 0, NULL},
    END,
};
static const struct proto_field proto_service[] = {
    {1, "metadata", PROTO_MSG, 0, proto_object_meta},
    {2, "spec", PROTO_MSG, 0, proto_service_spec},
    END,
};

static const struct proto_field proto_policy_rule[] = {
    {1, "verbs", PROTO_STRING, PROTO_REPEATED, NULL},
    {2, "apiGroups", PROTO_STRING, PROTO_REPEATED, NULL},
    {3, "resources", PROTO_STRING, PROTO_REPEATED, NULL},
    {4, "resourceNames", PROTO_STRING, PROTO_REPEATED, NULL},
    {5, "nonResourceURLs", PROTO_STRING, PROTO_REPEATED, NULL},
    END,
};
static const struct proto_field proto_role[] = {
    {1, "metadata", PROTO_MSG, 0, proto_object_meta},
    {2, "rules", PROTO_MSG, PROTO_REPEATED, proto_policy_rule},
    END,
};
static const struct proto_field proto_subject[] = {
    {1, "kind", PROTO_STRING, 0, NULL},
    {2, "apiGroup", PROTO_STRING, 0, NULL},
    {3, "name", PROTO_STRING, 0, NULL},
    {4, "namespace", PROTO_STRING, 0, NULL},
    END,
};
static const struct proto_field proto_role_ref[] = {
    {1, "apiGroup", PROTO_STRING, 0, NULL},
    {2, "kind", PROTO_STRING, 0, NULL},
    {3, "name", PROTO_STRING, 0, NULL},
    END,
};
static const struct proto_field proto_binding[] = {
    {1, "metadata", PROTO_MSG, 0, proto_object_meta},
    {2, "subjects", PROTO_MSG, PROTO_REPEATED, proto_subject},
    {3, "roleRef", PROTO_MSG, 0, proto_role_ref},
    END,
};

static const struct proto_field proto_resource_attrs[] = {
    {1, "namespace", PROTO_STRING, 0, NULL}, {2, "verb", PROTO_STRING, 0, NULL},
    {3, "group", PROTO_STRING, 0, NULL},     {4, "version", PROTO_STRING, 0, NULL},
    {5, "resource", PROTO_STRING, 0, NULL},  {6, "subresource", PROTO_STRING, 0, NULL},
    {7, "name", PROTO_STRING, 0, NULL},      END,
};
static const struct proto_field proto_nonresource_attrs[] = {
    {1, "path", PROTO_STRING, 0, NULL},
    {2, "verb", PROTO_STRING, 0, NULL},
    END,
};
static const struct proto_field proto_ssar_spec[] = {
    {1, "resourceAttributes", PROTO_MSG, PROTO_KEEP, proto_resource_attrs},
    {2, "nonResourceAttributes", PROTO_MSG, PROTO_KEEP, proto_nonresource_attrs},
    END,
};
static const struct proto_field proto_ssar[] = {
    {1, "metadata", PROTO_MSG, 0, proto_object_meta},
    {2, "spec", PROTO_MSG, PROTO_KEEP, proto_ssar_spec},
    END,
};
static const struct proto_field proto_sar_spec[] = {
    {1, "resourceAttributes", PROTO_MSG, PROTO_KEEP, proto_resource_attrs},
    {2, "nonResourceAttributes", PROTO_MSG, PROTO_KEEP, proto_nonresource_attrs},
    {3, "user", PROTO_STRING, 0, NULL},
    {4, "groups", PROTO_STRING, PROTO_REPEATED, NULL},
    {6, "uid", PROTO_STRING, 0, NULL},
    END,
};
static const struct proto_field proto_sar[] = {
    {1, "metadata", PROTO_MSG, 0, proto_object_meta},
    {2, "spec", PROTO_MSG, PROTO_KEEP, proto_sar_spec},
    END,
};
static const struct proto_field proto_ssrr_spec[] = {
    {1, "namespace", PROTO_STRING, 0, NULL},
    END,
};
static const struct proto_field proto_ssrr[] = {
    {1, "metadata", PROTO_MSG, 0, proto_object_meta},
    {2, "spec", PROTO_MSG, PROTO_KEEP, proto_ssrr_spec},
    END,
};
static const struct proto_field proto_token_review_spec[] = {
    {1, "token", PROTO_STRING, 0, NULL},
    {2, "audiences", PROTO_STRING, PROTO_REPEATED, NULL},
    END,
};
static const struct proto_field proto_token_review[] = {
    {1, "metadata", PROTO_MSG, 0, proto_object_meta},
    {2, "spec", PROTO_MSG, PROTO_KEEP, proto_token_review_spec},
    END,
};
static const struct proto_field proto_self_subject_review[] = {
    {1, "metadata", PROTO_MSG, 0, proto_object_meta},
    END,
};

/*
 * apps/v1 Deployment, limited to what `kubectl create deployment` sets:
 * replicas, selector, and a pod template with containers (name, image,
 * command, args, workingDir, ports, env). It is stored only.
 */
static const struct proto_field proto_label_selector[] = {
    {1, "matchLabels", PROTO_MAP_SS, 0, NULL},
    END,
};
static const struct proto_field proto_container_port[] = {
    {1, "name", PROTO_STRING, 0, NULL},       {2, "hostPort", PROTO_INT, 0, NULL},
    {3, "containerPort", PROTO_INT, 0, NULL}, {4, "protocol", PROTO_STRING, 0, NULL},
    {5, "hostIP", PROTO_STRING, 0, NULL},     END,
};
static const struct proto_field proto_env_var[] = {
    {1, "name", PROTO_STRING, 0, NULL},
    {2, "value", PROTO_STRING, 0, NULL},
    END,
};
static const struct proto_field proto_container[] = {
    {1, "name", PROTO_STRING, 0, NULL},
    {2, "image", PROTO_STRING, 0, NULL},
    {3, "command", PROTO_STRING, PROTO_REPEATED, NULL},
    {4, "args", PROTO_STRING, PROTO_REPEATED, NULL},
    {5, "workingDir", PROTO_STRING, 0, NULL},
    {6, "ports", PROTO_MSG, PROTO_REPEATED, proto_container_port},
    {7, "env", PROTO_MSG, PROTO_REPEATED, proto_env_var},
    {8, "resources", PROTO_MSG, PROTO_KEEP, (const struct proto_field[]){END}},
    END,
};
static const struct proto_field proto_pod_spec[] = {
    {2, "containers", PROTO_MSG, PROTO_REPEATED, proto_container},
    END,
};
static const struct proto_field proto_pod_template[] = {
    {1, "metadata", PROTO_MSG, 0, proto_object_meta},
    {2, "spec", PROTO_MSG, PROTO_KEEP, proto_pod_spec},
    END,
};
static const struct proto_field proto_deployment_spec[] = {
    {1, "replicas", PROTO_INT, PROTO_KEEP, NULL},
    {2, "selector", PROTO_MSG, PROTO_KEEP, proto_label_selector},
    {3, "template", PROTO_MSG, PROTO_KEEP, proto_pod_template},
    {4, "strategy", PROTO_MSG, PROTO_KEEP, (const struct proto_field[]){END}},
    END,
};
static const struct proto_field proto_deployment[] = {
    {1, "metadata", PROTO_MSG, 0, proto_object_meta},
    {2, "spec", PROTO_MSG, PROTO_KEEP, proto_deployment_spec},
    END,
};

static const struct {
    const char *api_version, *kind;
    const struct proto_field *schema;
} proto_kinds[] = {
    {"v1", "Namespace", proto_namespace},
    {"v1", "Secret", proto_secret},
    {"v1", "ConfigMap", proto_configmap},
    {"v1", "ServiceAccount", proto_service_account},
    {"v1", "Service", proto_service},
    {"rbac.authorization.k8s.io/v1", "Role", proto_role},
    {"rbac.authorization.k8s.io/v1", "ClusterRole", proto_role},
    {"rbac.authorization.k8s.io/v1", "RoleBinding", proto_binding},
    {"rbac.authorization.k8s.io/v1", "ClusterRoleBinding", proto_binding},
    {"authorization.k8s.io/v1", "SelfSubjectAccessReview", proto_ssar},
    {"authorization.k8s.io/v1", "SubjectAccessReview", proto_sar},
    {"authorization.k8s.io/v1", "LocalSubjectAccessReview", proto_sar},
    {"authorization.k8s.io/v1", "SelfSubjectRulesReview", proto_ssrr},
    {"authentication.k8s.io/v1", "TokenReview", proto_token_review},
    {"authentication.k8s.io/v1", "SelfSubjectReview", proto_self_subject_review},
    {"apps/v1", "Deployment", proto_deployment},
};

/* ---- wire reading ---------------------------------------------------------------- */

struct proto_rd {
    const uint8_t *p, *end;
};

static int
proto_varint(struct proto_rd *r, uint64_t *out)
{
    uint64_t v = 0;

    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return -1;
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Reads one field header and, for length-delimited fields, the slice. */
static int
proto_next(struct proto_rd *r, unsigned *num, unsigned *wire, uint64_t *val, struct proto_rd *sub)
{
    uint64_t key;

    if (proto_varint(r, &key) < 0 || (key >> 3) == 0 || (key >> 3) > UINT32_MAX)
        return -1;
    *num = (unsigned)(key >> 3);
    *wire = (unsigned)(key & 7);
    switch (*wire) {
    case 0:
        return proto_varint(r, val);
    case 1:
        if (r->end - r->p < 8)
            return -1;
        r->p += 8;
        return 0;
    case 2: {
        uint64_t len;
        if (proto_varint(r, &len) < 0 || len > (uint64_t)(r->end - r->p))
            return -1;
        sub->p = r->p;
        sub->end = r->p + len;
        r->p += len;
        return 0;
    }
    case 5:
        if (r->end - r->p < 4)
            return -1;
        r->p += 4;
        return 0;
    default:
        return -1;
    }
}

static json_t *
proto_string(struct proto_rd s)
{
    return json_stringn_nocheck((const char *)s.p, (size_t)(s.end - s.p));
}

static json_t *
proto_bytes(struct proto_rd s)
{
    char *b = st_base64_encode(s.p, (size_t)(s.end - s.p));
    json_t *v = json_string(b);
    free(b);
    return v;
}

static json_t *proto_message(struct proto_rd r, const struct proto_field *schema, int depth,
                             struct st_err *err);

/* A map entry {key (1), value (2)} into <obj>. */
static int
proto_map_entry(struct proto_rd r, json_t *obj, bool bytes)
{
    struct proto_rd key = {NULL, NULL}, val = {NULL, NULL}, sub;
    unsigned num, wire;
    uint64_t v;

    while (r.p < r.end) {
        if (proto_next(&r, &num, &wire, &v, &sub) < 0)
            return -1;
        if (wire == 2 && num == 1)
            key = sub;
        else if (wire == 2 && num == 2)
            val = sub;
    }
    char *k = st_xstrndup(key.p ? (const char *)key.p : "", key.p ? (size_t)(key.end - key.p) : 0);
    json_t *jv = !val.p ? json_string("") : bytes ? proto_bytes(val) : proto_string(val);
    json_object_set_new(obj, k, jv ? jv : json_string(""));
    free(k);
    return 0;
}

static json_t *
proto_time(struct proto_rd r)
{
    unsigned num, wire;
    uint64_t v, secs = 0;
    struct proto_rd sub;
    char ts[21];

    while (r.p < r.end) {
        if (proto_next(&r, &num, &wire, &v, &sub) < 0)
            return NULL;
        if (num == 1 && wire == 0)
            secs = v;
    }
    if (secs == 0)
        return NULL; /* the zero time is null in JSON */
    st_rfc3339((int64_t)secs, ts);
    return json_string(ts);
}

static json_t *
proto_intorstr(struct proto_rd r)
{
    unsigned num, wire;
    uint64_t v, type = 0, ival = 0;
    struct proto_rd sub, sval = {NULL, NULL};

    while (r.p < r.end) {
        if (proto_next(&r, &num, &wire, &v, &sub) < 0)
            return NULL;
        if (num == 1 && wire == 0)
            type = v;
        else if (num == 2 && wire == 0)
            ival = v;
        else if (num == 3 && wire == 2)
            sval = sub;
    }
    if (type == 1)
        return sval.p ? proto_string(sval) : json_string("");
    return json_integer((json_int_t)(int32_t)(uint32_t)ival);
}

/* Decodes one field value; NULL means "omit" (zero value) or, with err set, failure. */
static json_t *
proto_value(const struct proto_field *f, unsigned wire, uint64_t v, struct proto_rd sub, int depth,
            struct st_err *err)
{
    bool keep = f->flags & PROTO_KEEP;

    switch (f->type) {
    case PROTO_STRING:
        if (wire != 2)
            break;
        if (sub.p == sub.end && !(f->flags & PROTO_REPEATED) && !keep)
            return NULL;
        return proto_string(sub);
    case PROTO_BYTES:
        return wire == 2 ? proto_bytes(sub) : NULL;
    case PROTO_INT:
        if (wire != 0)
            break;
        if (v == 0 && !keep)
            return NULL;
        return json_integer((json_int_t)v);
    case PROTO_BOOL:
        if (wire != 0)
            break;
        if (v == 0 && !keep)
            return NULL;
        return json_boolean(v != 0);
    case PROTO_MSG:
        if (wire != 2)
            break;
        return proto_message(sub, f->sub, depth + 1, err);
    case PROTO_TIME:
        return wire == 2 ? proto_time(sub) : NULL;
    case PROTO_INTORSTR:
        return wire == 2 ? proto_intorstr(sub) : NULL;
    case PROTO_MAP_SS:
    case PROTO_MAP_SB:
        break; /* handled by the caller */
    }
    return NULL;
}

static json_t *
proto_message(struct proto_rd r, const struct proto_field *schema, int depth, struct st_err *err)
{
    json_t *obj = json_object();
    unsigned num, wire;
    uint64_t v;
    struct proto_rd sub = {NULL, NULL};

    if (depth > PROTO_MAX_DEPTH) {
        st_err_set(err, ST_ETOOBIG, "protobuf nesting too deep");
        json_decref(obj);
        return NULL;
    }
    while (r.p < r.end) {
        if (proto_next(&r, &num, &wire, &v, &sub) < 0) {
            st_err_set(err, ST_EPARSE, "malformed protobuf");
            json_decref(obj);
            return NULL;
        }
        const struct proto_field *f = schema;
        while (f->num && f->num != num)
            f++;
        if (!f->num)
            continue; /* a field strait does not use */
        if (f->type == PROTO_MAP_SS || f->type == PROTO_MAP_SB) {
            if (wire != 2)
                continue;
            json_t *m = json_object_get(obj, f->name);
            if (!m) {
                m = json_object();
                json_object_set_new(obj, f->name, m);
            }
            if (proto_map_entry(sub, m, f->type == PROTO_MAP_SB) < 0) {
                st_err_set(err, ST_EPARSE, "malformed protobuf map entry in %s", f->name);
                json_decref(obj);
                return NULL;
            }
            continue;
        }
        json_t *val = proto_value(f, wire, v, sub, depth, err);
        if (!val) {
            if (err && err->code) {
                json_decref(obj);
                return NULL;
            }
            continue;
        }
        if (f->flags & PROTO_REPEATED) {
            json_t *a = json_object_get(obj, f->name);
            if (!a) {
                a = json_array();
                json_object_set_new(obj, f->name, a);
            }
            json_array_append_new(a, val);
        } else {
            json_object_set_new(obj, f->name, val);
        }
    }
    return obj;
}

bool
api_proto_is(const char *content_type)
{
    if (!content_type)
        return false;
    size_t n = strcspn(content_type, ";");
    struct st_str t = st_str_trim((struct st_str){content_type, n});
    return st_str_casecmp_eq(t, ST_STR("application/vnd.kubernetes.protobuf"));
}

json_t *
api_proto_decode(const void *p, size_t n, struct st_err *err)
{
    struct proto_rd r = {p, (const uint8_t *)p + n}, sub, typemeta = {NULL, NULL};
    struct proto_rd raw = {NULL, NULL};
    unsigned num, wire;
    uint64_t v;

    st_err_clear(err);
    if (n < 4 || memcmp(p, "k8s\0", 4) != 0) {
        st_err_set(err, ST_EPARSE, "protobuf body without the k8s envelope");
        return NULL;
    }
    r.p += 4;
    while (r.p < r.end) {
        if (proto_next(&r, &num, &wire, &v, &sub) < 0) {
            st_err_set(err, ST_EPARSE, "malformed protobuf envelope");
            return NULL;
        }
        if (num == 1 && wire == 2)
            typemeta = sub;
        else if (num == 2 && wire == 2)
            raw = sub;
    }
    json_t *tm = typemeta.p ? proto_message(typemeta,
                                            (const struct proto_field[]){
                                                {1, "apiVersion", PROTO_STRING, 0, NULL},
                                                {2, "kind", PROTO_STRING, 0, NULL},
                                                END,
                                            },
                                            0, err)
                            : NULL;
    const char *av = json_string_value(json_object_get(tm, "apiVersion"));
    const char *kind = json_string_value(json_object_get(tm, "kind"));
    const struct proto_field *schema = NULL;
    for (size_t i = 0; av && kind && i < ST_ARRAY_LEN(proto_kinds); i++)
        if (!strcmp(proto_kinds[i].api_version, av) && !strcmp(proto_kinds[i].kind, kind))
            schema = proto_kinds[i].schema;
    if (!schema) {
        st_err_set(err, ST_EINVAL, "protobuf bodies of %s %s are not supported; send JSON",
                   av ? av : "?", kind ? kind : "?");
        json_decref(tm);
        return NULL;
    }
    json_t *obj = raw.p ? proto_message(raw, schema, 0, err) : json_object();
    if (obj) {
        json_object_set_new(obj, "apiVersion", json_string(av));
        json_object_set_new(obj, "kind", json_string(kind));
    }
    json_decref(tm);
    return obj;
}
