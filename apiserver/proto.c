/*
 * Kubernetes protobuf bodies to JSON. The wire format is plain protobuf
 * (varint, 64-bit, length-delimited and 32-bit fields; groups are refused);
 * the meaning of each field comes from the tables in proto_schema.c. The
 * decoder walks the bytes once and builds the JSON object directly, so a
 * body costs at most a fixed number of JSON values per byte, within caps.
 */
#include "proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define PROTO_MAGIC "k8s\0"
#define PROTO_MAGIC_LEN 4

/* Years 0001 to 9999, the range Go's RFC 3339 formatting accepts. */
#define PROTO_TIME_MIN INT64_C(-62135596800)
#define PROTO_TIME_MAX INT64_C(253402300799)

enum {
    PROTO_WIRE_VARINT = 0,
    PROTO_WIRE_I64 = 1,
    PROTO_WIRE_LEN = 2,
    PROTO_WIRE_SGROUP = 3,
    PROTO_WIRE_EGROUP = 4,
    PROTO_WIRE_I32 = 5,
};

/* One field as read from the wire: a varint value or a borrowed byte range. */
struct proto_item {
    uint32_t number;
    unsigned wire;
    uint64_t value;
    const uint8_t *data;
    size_t len;
};

/* State of one proto_decode call. */
struct proto_ctx {
    struct st_err *err;
    size_t nodes; /* JSON values built so far, against PROTO_MAX_NODES */
};

static int proto_decode_message(struct proto_ctx *ctx, const struct proto_message *msg,
                                const uint8_t *p, size_t len, int depth, json_t *obj);

/*
 * Reads one base-128 varint from [*p, end) and advances *p. At most 10 bytes,
 * and the tenth may only carry the top bit of a 64-bit value.
 */
static int
proto_read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    const uint8_t *q = *p;

    for (unsigned i = 0; i < 10; i++) {
        if (q == end)
            return ST_EPARSE;
        uint8_t b = *q++;
        if (i == 9 && b > 1)
            return ST_EPARSE;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (b < 0x80) {
            *p = q;
            *out = v;
            return 0;
        }
    }
    return ST_EPARSE;
}

/* Reads the next field of a message from [*p, end) into <it>; advances *p. */
static int
proto_read_item(const uint8_t **p, const uint8_t *end, struct proto_item *it, struct st_err *err)
{
    uint64_t key, n;

    if (proto_read_varint(p, end, &key) < 0)
        return st_err_set(err, ST_EPARSE, "protobuf: truncated or overlong field key");
    if (key >> 3 == 0 || key >> 3 > 0x1fffffff)
        return st_err_set(err, ST_EPARSE, "protobuf: field number out of range");
    it->number = (uint32_t)(key >> 3);
    it->wire = (unsigned)(key & 7);
    it->value = 0;
    it->data = NULL;
    it->len = 0;
    switch (it->wire) {
    case PROTO_WIRE_VARINT:
        if (proto_read_varint(p, end, &it->value) < 0)
            return st_err_set(err, ST_EPARSE, "protobuf: bad varint in field %u", it->number);
        return 0;
    case PROTO_WIRE_I64:
    case PROTO_WIRE_I32:
        n = it->wire == PROTO_WIRE_I64 ? 8 : 4;
        break;
    case PROTO_WIRE_LEN:
        if (proto_read_varint(p, end, &n) < 0)
            return st_err_set(err, ST_EPARSE, "protobuf: bad length in field %u", it->number);
        break;
    case PROTO_WIRE_SGROUP:
    case PROTO_WIRE_EGROUP:
        return st_err_set(err, ST_EPARSE, "protobuf: groups are not accepted (field %u)",
                          it->number);
    default:
        return st_err_set(err, ST_EPARSE, "protobuf: invalid wire type %u in field %u", it->wire,
                          it->number);
    }
    if (n > (uint64_t)(end - *p))
        return st_err_set(err, ST_EPARSE, "protobuf: field %u runs past the end", it->number);
    it->data = *p;
    it->len = (size_t)n;
    if (it->wire != PROTO_WIRE_LEN)
        for (size_t i = 0; i < it->len; i++)
            it->value |= (uint64_t)it->data[i] << (8 * i);
    *p += n;
    return 0;
}

/* Returns the schema of field <number> in <msg>, or NULL for an unknown field. */
static const struct proto_field *
proto_find_field(const struct proto_message *msg, uint32_t number)
{
    size_t lo = 0, hi = msg->nfields;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (msg->fields[mid].number == number)
            return &msg->fields[mid];
        if (msg->fields[mid].number < number)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Counts one more JSON value against the cap. */
static int
proto_count(struct proto_ctx *ctx, size_t n)
{
    if (n > PROTO_MAX_NODES - ctx->nodes)
        return st_err_set(ctx->err, ST_ETOOBIG, "protobuf: more than %u values in one body",
                          (unsigned)PROTO_MAX_NODES);
    ctx->nodes += n;
    return 0;
}

static int
proto_wire_error(struct proto_ctx *ctx, const struct proto_field *f, unsigned wire)
{
    return st_err_set(ctx->err, ST_EPARSE, "protobuf: field %s (%u) has wire type %u", f->json,
                      f->number, wire);
}

/* Makes a JSON string of UTF-8 bytes; <out> is a new reference. */
static int
proto_string(struct proto_ctx *ctx, const struct proto_field *f, const uint8_t *p, size_t n,
             json_t **out)
{
    *out = json_stringn((const char *)p, n);
    if (*out == NULL)
        return st_err_set(ctx->err, ST_EPARSE, "protobuf: field %s is not valid UTF-8", f->json);
    return 0;
}

/* Formats a Time or MicroTime as Kubernetes' JSON does, in UTC. */
static int
proto_time(struct proto_ctx *ctx, const struct proto_field *f, const uint8_t *p, size_t len,
           json_t **out)
{
    const uint8_t *end = p + len;
    int64_t seconds = 0;
    int64_t nanos = 0;
    bool any = false;
    struct proto_item it;
    struct tm tm;
    char buf[40];
    int rc;

    while (p < end) {
        if ((rc = proto_read_item(&p, end, &it, ctx->err)) < 0)
            return rc;
        if (it.number != 1 && it.number != 2)
            continue;
        if (it.wire != PROTO_WIRE_VARINT)
            return proto_wire_error(ctx, f, it.wire);
        any = true;
        if (it.number == 1)
            seconds = (int64_t)it.value;
        else
            nanos = (int32_t)it.value;
    }
    /* Go writes an empty message for the zero time, whose JSON is null. */
    if (!any) {
        *out = json_null();
        return 0;
    }
    if (seconds < PROTO_TIME_MIN || seconds > PROTO_TIME_MAX || nanos < 0 || nanos > 999999999)
        return st_err_set(ctx->err, ST_EPARSE, "protobuf: time in %s out of range", f->json);
    time_t t = (time_t)seconds;
    if (gmtime_r(&t, &tm) == NULL)
        return st_err_set(ctx->err, ST_EPARSE, "protobuf: time in %s out of range", f->json);
    int n = snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (f->type == PROTO_T_MICROTIME)
        snprintf(buf + n, sizeof(buf) - (size_t)n, ".%06dZ", (int)(nanos / 1000));
    else
        snprintf(buf + n, sizeof(buf) - (size_t)n, "Z");
    *out = json_string(buf);
    return 0;
}

/* intstr.IntOrString: {type = 1 (0 int, 1 string), intVal = 2, strVal = 3}. */
static int
proto_intorstr(struct proto_ctx *ctx, const struct proto_field *f, const uint8_t *p, size_t len,
               json_t **out)
{
    const uint8_t *end = p + len;
    uint64_t type = 0;
    int32_t ival = 0;
    const uint8_t *sval = NULL;
    size_t slen = 0;
    struct proto_item it;
    int rc;

    while (p < end) {
        if ((rc = proto_read_item(&p, end, &it, ctx->err)) < 0)
            return rc;
        if (it.number > 3)
            continue;
        if (it.wire != (it.number == 3 ? PROTO_WIRE_LEN : PROTO_WIRE_VARINT))
            return proto_wire_error(ctx, f, it.wire);
        if (it.number == 1)
            type = it.value;
        else if (it.number == 2)
            ival = (int32_t)it.value;
        else
            sval = it.data, slen = it.len;
    }
    if (type == 0) {
        *out = json_integer(ival);
        return 0;
    }
    if (type != 1)
        return st_err_set(ctx->err, ST_EPARSE, "protobuf: IntOrString %s has type %llu", f->json,
                          (unsigned long long)type);
    return proto_string(ctx, f, sval ? sval : (const uint8_t *)"", slen, out);
}

/*
 * Reads the single field <number> of a wrapper message (Quantity's string,
 * FieldsV1's raw bytes), leaving <data> NULL when it is absent.
 */
static int
proto_wrapped_bytes(struct proto_ctx *ctx, const struct proto_field *f, const uint8_t *p,
                    size_t len, const uint8_t **data, size_t *n)
{
    const uint8_t *end = p + len;
    struct proto_item it;
    int rc;

    *data = NULL;
    *n = 0;
    while (p < end) {
        if ((rc = proto_read_item(&p, end, &it, ctx->err)) < 0)
            return rc;
        if (it.number != 1)
            continue;
        if (it.wire != PROTO_WIRE_LEN)
            return proto_wire_error(ctx, f, it.wire);
        *data = it.data;
        *n = it.len;
    }
    return 0;
}

/* ExtraValue: {repeated string items = 1} as a JSON array of strings. */
static int
proto_strlist(struct proto_ctx *ctx, const struct proto_field *f, const uint8_t *p, size_t len,
              json_t **out)
{
    const uint8_t *end = p + len;
    json_t *arr = json_array();
    struct proto_item it;
    json_t *s;
    int rc = 0;

    while (p < end) {
        if ((rc = proto_read_item(&p, end, &it, ctx->err)) < 0)
            goto fail;
        if (it.number != 1)
            continue;
        if (it.wire != PROTO_WIRE_LEN) {
            rc = proto_wire_error(ctx, f, it.wire);
            goto fail;
        }
        if (json_array_size(arr) >= PROTO_MAX_REPEATED) {
            rc = st_err_set(ctx->err, ST_ETOOBIG, "protobuf: too many items in %s", f->json);
            goto fail;
        }
        if ((rc = proto_count(ctx, 1)) < 0 || (rc = proto_string(ctx, f, it.data, it.len, &s)) < 0)
            goto fail;
        json_array_append_new(arr, s);
    }
    *out = arr;
    return 0;
fail:
    json_decref(arr);
    return rc;
}

/* The JSON of a map value that is absent from its entry: the type's zero. */
static json_t *
proto_zero(const struct proto_field *f)
{
    switch (f->type) {
    case PROTO_T_STRING:
    case PROTO_T_BYTES:
        return json_string("");
    case PROTO_T_BOOL:
        return json_false();
    case PROTO_T_INT32:
    case PROTO_T_INT64:
    case PROTO_T_INTORSTR:
        return json_integer(0);
    case PROTO_T_QUANTITY:
        return json_string("0");
    case PROTO_T_STRLIST:
        return json_array();
    case PROTO_T_MESSAGE:
    case PROTO_T_MAP:
        return json_object();
    default:
        return json_null();
    }
}

/*
 * Decodes one map entry {key = 1, value = 2} of field <f> and stores it in
 * the object <map> (borrowed); a repeated key replaces the earlier value.
 */
static int
proto_map_entry(struct proto_ctx *ctx, const struct proto_field *f, const uint8_t *p, size_t len,
                int depth, json_t *map)
{
    json_t *entry = json_object();
    json_t *key, *value;
    const struct proto_field *vf;
    int rc;

    if (json_object_size(map) >= PROTO_MAX_REPEATED) {
        rc = st_err_set(ctx->err, ST_ETOOBIG, "protobuf: too many entries in %s", f->json);
        goto out;
    }
    if ((rc = proto_decode_message(ctx, f->message, p, len, depth + 1, entry)) < 0)
        goto out;
    key = json_object_get(entry, "key");
    const char *k = key ? json_string_value(key) : "";
    if (k == NULL || (key && strlen(k) != json_string_length(key))) {
        rc = st_err_set(ctx->err, ST_EPARSE, "protobuf: bad key in map %s", f->json);
        goto out;
    }
    value = json_object_get(entry, "value");
    if (value != NULL) {
        json_object_set(map, k, value);
    } else {
        vf = proto_find_field(f->message, 2);
        json_object_set_new(map, k, vf ? proto_zero(vf) : json_null());
    }
out:
    json_decref(entry);
    return rc;
}

/*
 * Turns one wire item of field <f> into a JSON value. Sets *out to a new
 * reference, or to NULL when the value is a zero scalar that Kubernetes' JSON
 * omits (unless <keep>).
 */
static int
proto_value(struct proto_ctx *ctx, const struct proto_field *f, const struct proto_item *it,
            bool keep, int depth, json_t **out)
{
    const uint8_t *data;
    size_t n;
    char *b64;
    int rc;

    *out = NULL;
    if ((rc = proto_count(ctx, 1)) < 0)
        return rc;
    bool varint = f->type == PROTO_T_BOOL || f->type == PROTO_T_INT32 || f->type == PROTO_T_INT64;
    if (it->wire != (varint ? PROTO_WIRE_VARINT : PROTO_WIRE_LEN))
        return proto_wire_error(ctx, f, it->wire);

    switch (f->type) {
    case PROTO_T_STRING:
        if (it->len == 0 && !keep)
            return 0;
        return proto_string(ctx, f, it->data, it->len, out);
    case PROTO_T_BYTES:
        if (it->len == 0 && !keep)
            return 0;
        b64 = st_base64_encode(it->data, it->len);
        *out = json_string(b64);
        free(b64);
        return 0;
    case PROTO_T_BOOL:
        if (it->value == 0 && !keep)
            return 0;
        *out = json_boolean(it->value != 0);
        return 0;
    case PROTO_T_INT32:
        if ((int32_t)it->value == 0 && !keep)
            return 0;
        *out = json_integer((int32_t)it->value);
        return 0;
    case PROTO_T_INT64:
        if (it->value == 0 && !keep)
            return 0;
        *out = json_integer((json_int_t)(int64_t)it->value);
        return 0;
    case PROTO_T_MESSAGE:
        *out = json_object();
        if ((rc = proto_decode_message(ctx, f->message, it->data, it->len, depth + 1, *out)) < 0) {
            json_decref(*out);
            *out = NULL;
        }
        return rc;
    case PROTO_T_INTORSTR:
        return proto_intorstr(ctx, f, it->data, it->len, out);
    case PROTO_T_QUANTITY:
        if ((rc = proto_wrapped_bytes(ctx, f, it->data, it->len, &data, &n)) < 0)
            return rc;
        if (n == 0)
            data = (const uint8_t *)"0", n = 1;
        return proto_string(ctx, f, data, n, out);
    case PROTO_T_TIME:
    case PROTO_T_MICROTIME:
        return proto_time(ctx, f, it->data, it->len, out);
    case PROTO_T_RAWJSON:
        if ((rc = proto_wrapped_bytes(ctx, f, it->data, it->len, &data, &n)) < 0)
            return rc;
        if (n == 0) {
            *out = json_null();
            return 0;
        }
        /* jansson builds at most one value per two bytes; count them so. */
        if ((rc = proto_count(ctx, n / 2)) < 0)
            return rc;
        *out = json_loadb((const char *)data, n, JSON_DECODE_ANY, NULL);
        if (*out == NULL)
            return st_err_set(ctx->err, ST_EPARSE, "protobuf: %s does not hold JSON", f->json);
        return 0;
    case PROTO_T_STRLIST:
        return proto_strlist(ctx, f, it->data, it->len, out);
    default:
        return st_err_set(ctx->err, ST_EINVAL, "protobuf: field %s has no decoder", f->json);
    }
}

/* Appends one element of a repeated field to the array <arr> (borrowed). */
static int
proto_append(struct proto_ctx *ctx, const struct proto_field *f, const struct proto_item *it,
             int depth, json_t *arr)
{
    json_t *v;
    int rc;

    if (json_array_size(arr) >= PROTO_MAX_REPEATED)
        return st_err_set(ctx->err, ST_ETOOBIG, "protobuf: more than %u elements in %s",
                          (unsigned)PROTO_MAX_REPEATED, f->json);
    if ((rc = proto_value(ctx, f, it, true, depth, &v)) < 0)
        return rc;
    json_array_append_new(arr, v);
    return 0;
}

/* Appends the elements of a packed repeated varint field. */
static int
proto_append_packed(struct proto_ctx *ctx, const struct proto_field *f,
                    const struct proto_item *packed, int depth, json_t *arr)
{
    const uint8_t *p = packed->data, *end = p + packed->len;
    struct proto_item it = {.number = packed->number, .wire = PROTO_WIRE_VARINT};
    int rc;

    while (p < end) {
        if (proto_read_varint(&p, end, &it.value) < 0)
            return st_err_set(ctx->err, ST_EPARSE, "protobuf: bad packed varint in %s", f->json);
        if ((rc = proto_append(ctx, f, &it, depth, arr)) < 0)
            return rc;
    }
    return 0;
}

/* Decodes field <f> of one wire item into the object <obj> (borrowed). */
static int
proto_decode_field(struct proto_ctx *ctx, const struct proto_field *f, const struct proto_item *it,
                   int depth, json_t *obj)
{
    json_t *cur = json_object_get(obj, f->json);
    json_t *v;
    int rc;

    if (f->type == PROTO_T_MAP) {
        if (it->wire != PROTO_WIRE_LEN)
            return proto_wire_error(ctx, f, it->wire);
        if (!json_is_object(cur)) {
            if ((rc = proto_count(ctx, 1)) < 0)
                return rc;
            cur = json_object();
            json_object_set_new(obj, f->json, cur);
        }
        return proto_map_entry(ctx, f, it->data, it->len, depth, cur);
    }
    if (f->flags & PROTO_F_REPEATED) {
        if (!json_is_array(cur)) {
            cur = json_array();
            json_object_set_new(obj, f->json, cur);
        }
        bool varint =
            f->type == PROTO_T_BOOL || f->type == PROTO_T_INT32 || f->type == PROTO_T_INT64;
        if (varint && it->wire == PROTO_WIRE_LEN)
            return proto_append_packed(ctx, f, it, depth, cur);
        return proto_append(ctx, f, it, depth, cur);
    }
    /* An embedded struct's fields belong to the enclosing JSON object. */
    if (f->type == PROTO_T_MESSAGE && (f->flags & PROTO_F_INLINE)) {
        if (it->wire != PROTO_WIRE_LEN)
            return proto_wire_error(ctx, f, it->wire);
        return proto_decode_message(ctx, f->message, it->data, it->len, depth + 1, obj);
    }
    /* A message field seen twice merges, as protobuf defines. */
    if (f->type == PROTO_T_MESSAGE && json_is_object(cur)) {
        if (it->wire != PROTO_WIRE_LEN)
            return proto_wire_error(ctx, f, it->wire);
        return proto_decode_message(ctx, f->message, it->data, it->len, depth + 1, cur);
    }
    if ((rc = proto_value(ctx, f, it, (f->flags & PROTO_F_KEEP) != 0, depth, &v)) < 0)
        return rc;
    if (v != NULL)
        json_object_set_new(obj, f->json, v);
    else
        json_object_del(obj, f->json); /* the last value wins, even a zero */
    return 0;
}

/*
 * Decodes the message bytes [p, p + len) with schema <msg> into <obj>
 * (borrowed). Unknown fields are skipped after their framing is checked.
 */
static int
proto_decode_message(struct proto_ctx *ctx, const struct proto_message *msg, const uint8_t *p,
                     size_t len, int depth, json_t *obj)
{
    const uint8_t *end = p + len;
    struct proto_item it;
    int rc;

    if (depth > PROTO_MAX_DEPTH)
        return st_err_set(ctx->err, ST_ETOOBIG, "protobuf: messages nested deeper than %d",
                          PROTO_MAX_DEPTH);
    while (p < end) {
        if ((rc = proto_read_item(&p, end, &it, ctx->err)) < 0)
            return rc;
        const struct proto_field *f = proto_find_field(msg, it.number);
        if (f == NULL)
            continue;
        if ((rc = proto_decode_field(ctx, f, &it, depth, obj)) < 0)
            return rc;
    }
    return 0;
}

/* Returns the schema of <kind> in <api_version>, or NULL. */
static const struct proto_message *
proto_find_kind(const char *api_version, const char *kind)
{
    for (size_t i = 0; i < proto_nkinds; i++)
        if (strcmp(proto_kinds[i].api_version, api_version) == 0 &&
            strcmp(proto_kinds[i].kind, kind) == 0)
            return proto_kinds[i].message;
    return NULL;
}

bool
proto_kind_supported(const char *api_version, const char *kind)
{
    return api_version != NULL && kind != NULL && proto_find_kind(api_version, kind) != NULL;
}

/* The runtime.Unknown envelope, its byte ranges borrowed from the body. */
struct proto_unknown {
    struct st_str api_version;
    struct st_str kind;
    const uint8_t *raw;
    size_t raw_len;
    size_t encoding_len; /* contentEncoding; only "" is accepted */
};

/* Reads a length-delimited string field of the envelope into <out>. */
static int
proto_envelope_str(const struct proto_item *it, struct st_str *out, struct st_err *err)
{
    if (it->wire != PROTO_WIRE_LEN)
        return st_err_set(err, ST_EPARSE, "protobuf: envelope field %u has wire type %u",
                          it->number, it->wire);
    out->p = (const char *)it->data;
    out->n = it->len;
    return 0;
}

/* Parses runtime.Unknown {typeMeta = 1 {apiVersion = 1, kind = 2}, raw = 2, ...}. */
static int
proto_read_unknown(const uint8_t *p, size_t len, struct proto_unknown *u, struct st_err *err)
{
    const uint8_t *end = p + len;
    struct proto_item it, tm;
    struct st_str s = {NULL, 0};
    int rc;

    memset(u, 0, sizeof(*u));
    while (p < end) {
        if ((rc = proto_read_item(&p, end, &it, err)) < 0)
            return rc;
        if (it.number == 1) {
            if ((rc = proto_envelope_str(&it, &s, err)) < 0)
                return rc;
            const uint8_t *q = it.data, *qend = it.data + it.len;
            while (q < qend) {
                if ((rc = proto_read_item(&q, qend, &tm, err)) < 0)
                    return rc;
                if (tm.number == 1 && (rc = proto_envelope_str(&tm, &u->api_version, err)) < 0)
                    return rc;
                if (tm.number == 2 && (rc = proto_envelope_str(&tm, &u->kind, err)) < 0)
                    return rc;
            }
        } else if (it.number == 2) {
            if ((rc = proto_envelope_str(&it, &s, err)) < 0)
                return rc;
            u->raw = it.data;
            u->raw_len = it.len;
        } else if (it.number == 3) {
            if ((rc = proto_envelope_str(&it, &s, err)) < 0)
                return rc;
            u->encoding_len = s.n;
        }
    }
    return 0;
}

/* Copies an envelope string into a C string of at most 255 bytes without NUL. */
static int
proto_envelope_cstr(struct st_str s, char out[256], const char *what, struct st_err *err)
{
    out[0] = '\0';
    if (s.n == 0)
        return 0;
    if (s.n >= 256 || memchr(s.p, '\0', s.n) != NULL)
        return st_err_set(err, ST_EPARSE, "protobuf: bad %s in the envelope", what);
    memcpy(out, s.p, s.n);
    out[s.n] = '\0';
    return 0;
}

json_t *
proto_decode(const void *body, size_t len, struct st_err *err)
{
    const uint8_t *p = body;
    struct proto_ctx ctx = {.err = err};
    struct proto_unknown u;
    const struct proto_message *msg;
    char api_version[256], kind[256];
    json_t *obj = NULL;

    if (len > PROTO_MAX_BODY) {
        st_err_set(err, ST_ETOOBIG, "protobuf: body of %zu bytes is over the %u byte cap", len,
                   (unsigned)PROTO_MAX_BODY);
        goto fail;
    }
    if (len < PROTO_MAGIC_LEN || memcmp(p, PROTO_MAGIC, PROTO_MAGIC_LEN) != 0) {
        st_err_set(err, ST_EPARSE, "protobuf: body does not start with the k8s magic");
        goto fail;
    }
    if (proto_read_unknown(p + PROTO_MAGIC_LEN, len - PROTO_MAGIC_LEN, &u, err) < 0)
        goto fail;
    if (proto_envelope_cstr(u.api_version, api_version, "apiVersion", err) < 0 ||
        proto_envelope_cstr(u.kind, kind, "kind", err) < 0)
        goto fail;
    if (u.encoding_len != 0) {
        st_err_set(err, ST_EINVAL, "protobuf: encoded (contentEncoding) bodies are not accepted");
        goto fail;
    }
    msg = proto_find_kind(api_version, kind);
    if (msg == NULL) {
        st_err_set(err, ST_EINVAL, "protobuf: no schema for kind \"%s\" in \"%s\"", kind,
                   api_version);
        goto fail;
    }
    obj = json_object();
    if (json_object_set_new(obj, "apiVersion", json_string(api_version)) < 0 ||
        json_object_set_new(obj, "kind", json_string(kind)) < 0) {
        st_err_set(err, ST_EPARSE, "protobuf: apiVersion or kind is not valid UTF-8");
        goto fail;
    }
    if (u.raw != NULL && proto_decode_message(&ctx, msg, u.raw, u.raw_len, 0, obj) < 0)
        goto fail;
    return obj;
fail:
    json_decref(obj);
    return NULL;
}
