/*
 * Validation of custom resources against their CRD version's structural
 * openAPIV3Schema, and defaulting, as Kubernetes' apiextensions-apiserver
 * does for the common keywords: type, properties, required, items,
 * additionalProperties, enum, minimum/maximum (and exclusive forms),
 * minLength/maxLength, minItems/maxItems, nullable, default,
 * x-kubernetes-int-or-string and x-kubernetes-preserve-unknown-fields.
 *
 * Deliberately not done: pruning of unknown fields (they are kept),
 * pattern, format, CEL rules (x-kubernetes-validations), oneOf/anyOf/allOf/not.
 * See docs/apiserver.md.
 */
#include "api_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define SCHEMA_MAX_DEPTH 64
#define SCHEMA_MAX_CAUSES 20

struct schema_ctx {
    json_t *causes;
    char path[1024];
};

static void schema_cause(struct schema_ctx *s, const char *reason, const char *fmt, ...)
    ST_PRINTF(3, 4);

static void
schema_cause(struct schema_ctx *s, const char *reason, const char *fmt, ...)
{
    char msg[600];
    va_list ap;

    if (json_array_size(s->causes) >= SCHEMA_MAX_CAUSES)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_array_append_new(
        s->causes, json_pack("{s:s,s:s,s:s}", "reason", reason, "message", msg, "field", s->path));
}

/* The value as Kubernetes quotes it in messages: JSON text, cut short. */
static void
schema_quote(const json_t *v, char *out, size_t n)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(out, n, "%.100s", s ? s : "");
    free(s);
}

static const char *
schema_type_of(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        break;
    }
    return "null";
}

static bool
schema_type_ok(const char *type, const json_t *v)
{
    if (!strcmp(type, "object"))
        return json_is_object(v);
    if (!strcmp(type, "array"))
        return json_is_array(v);
    if (!strcmp(type, "string"))
        return json_is_string(v);
    if (!strcmp(type, "boolean"))
        return json_is_boolean(v);
    if (!strcmp(type, "number"))
        return json_is_number(v);
    if (!strcmp(type, "integer")) {
        if (json_is_integer(v))
            return true;
        double d = json_is_real(v) ? json_real_value(v) : NAN;
        return isfinite(d) && d == floor(d);
    }
    return true; /* unknown types are the CRD author's problem */
}

/* Appends ".<key>" or "[<i>]" to the path; returns the old length to restore. */
static size_t
schema_push(struct schema_ctx *s, const char *key, size_t index)
{
    size_t len = strlen(s->path);

    if (key)
        snprintf(s->path + len, sizeof(s->path) - len, "%s%s", len ? "." : "", key);
    else
        snprintf(s->path + len, sizeof(s->path) - len, "[%zu]", index);
    return len;
}

static void schema_walk(struct schema_ctx *s, const json_t *sch, json_t *v, int depth);

static void
schema_bounds(struct schema_ctx *s, const json_t *sch, const json_t *v)
{
    char q[128];
    const json_t *min = json_object_get(sch, "minimum"), *max = json_object_get(sch, "maximum");
    double d = json_number_value(v);

    schema_quote(v, q, sizeof(q));
    if (json_is_number(min)) {
        bool excl = json_is_true(json_object_get(sch, "exclusiveMinimum"));
        if (excl ? d <= json_number_value(min) : d < json_number_value(min))
            schema_cause(s, "FieldValueInvalid",
                         "Invalid value: %s: %s in body should be greater than %s%g", q, s->path,
                         excl ? "" : "or equal to ", json_number_value(min));
    }
    if (json_is_number(max)) {
        bool excl = json_is_true(json_object_get(sch, "exclusiveMaximum"));
        if (excl ? d >= json_number_value(max) : d > json_number_value(max))
            schema_cause(s, "FieldValueInvalid",
                         "Invalid value: %s: %s in body should be less than %s%g", q, s->path,
                         excl ? "" : "or equal to ", json_number_value(max));
    }
}

static void
schema_object(struct schema_ctx *s, const json_t *sch, json_t *v, int depth)
{
    const json_t *props = json_object_get(sch, "properties");
    const json_t *addl = json_object_get(sch, "additionalProperties");
    const char *k;
    json_t *pv, *ps;
    size_t i;
    json_t *req;

    /* Defaults first, so that required fields with defaults are satisfied. */
    json_object_foreach((json_t *)props, k, ps)
    {
        const json_t *def = json_object_get(ps, "default");
        if (def && !json_object_get(v, k))
            json_object_set_new(v, k, json_deep_copy(def));
    }
    json_array_foreach(json_object_get(sch, "required"), i, req)
    {
        const char *rk = json_string_value(req);
        if (rk && !json_object_get(v, rk)) {
            size_t old = schema_push(s, rk, 0);
            schema_cause(s, "FieldValueRequired", "Required value");
            s->path[old] = '\0';
        }
    }
    json_object_foreach(v, k, pv)
    {
        if (depth == 0 &&
            (!strcmp(k, "metadata") || !strcmp(k, "apiVersion") || !strcmp(k, "kind")))
            continue;
        const json_t *sub = json_object_get(props, k);
        if (!sub && json_is_object(addl))
            sub = addl;
        if (!sub)
            continue; /* unknown fields are kept, not pruned */
        size_t old = schema_push(s, k, 0);
        schema_walk(s, sub, pv, depth + 1);
        s->path[old] = '\0';
    }
}

static void
schema_walk(struct schema_ctx *s, const json_t *sch, json_t *v, int depth)
{
    char q[128];

    if (!json_is_object(sch) || depth > SCHEMA_MAX_DEPTH)
        return;
    if (json_is_null(v)) {
        if (!json_is_true(json_object_get(sch, "nullable")) && json_object_get(sch, "type"))
            schema_cause(s, "FieldValueTypeInvalid",
                         "Invalid value: \"null\": %s in body must be "
                         "of type %s: \"null\"",
                         s->path, json_string_value(json_object_get(sch, "type")));
        return;
    }
    if (json_is_true(json_object_get(sch, "x-kubernetes-int-or-string"))) {
        if (!json_is_integer(v) && !json_is_string(v))
            schema_cause(s, "FieldValueTypeInvalid",
                         "Invalid value: \"%s\": %s in body must be of type integer or string: "
                         "\"%s\"",
                         schema_type_of(v), s->path, schema_type_of(v));
        return;
    }
    const char *type = json_string_value(json_object_get(sch, "type"));
    if (type && !schema_type_ok(type, v)) {
        /* Kubernetes names the offending type twice, e.g. `... of type integer: "string"`. */
        schema_cause(s, "FieldValueTypeInvalid",
                     "Invalid value: \"%s\": %s in body must be of type %s: \"%s\"",
                     schema_type_of(v), s->path, type, schema_type_of(v));
        return;
    }
    const json_t *en = json_object_get(sch, "enum");
    if (json_is_array(en)) {
        bool ok = false;
        size_t i;
        json_t *e;
        json_array_foreach(en, i, e) ok = ok || json_equal(e, v);
        if (!ok) {
            char list[300] = "";
            size_t w = 0;
            json_array_foreach(en, i, e)
            {
                char one[64];
                schema_quote(e, one, sizeof(one));
                w += (size_t)snprintf(list + w, w < sizeof(list) ? sizeof(list) - w : 0, "%s%s",
                                      i ? ", " : "", one);
                if (w >= sizeof(list))
                    break;
            }
            schema_quote(v, q, sizeof(q));
            schema_cause(s, "FieldValueNotSupported", "Unsupported value: %s: supported values: %s",
                         q, list);
        }
    }
    if (json_is_number(v))
        schema_bounds(s, sch, v);
    if (json_is_string(v)) {
        size_t len = json_string_length(v);
        json_int_t maxl = json_integer_value(json_object_get(sch, "maxLength"));
        json_int_t minl = json_integer_value(json_object_get(sch, "minLength"));
        if (json_object_get(sch, "maxLength") && (json_int_t)len > maxl)
            schema_cause(s, "FieldValueTooLong",
                         "Too long: may not be more than %" JSON_INTEGER_FORMAT " bytes", maxl);
        if (minl > 0 && (json_int_t)len < minl)
            schema_cause(s, "FieldValueInvalid",
                         "Invalid value: \"\": %s in body should be at least %" JSON_INTEGER_FORMAT
                         " chars long",
                         s->path, minl);
    }
    if (json_is_array(v)) {
        json_int_t n = (json_int_t)json_array_size(v);
        const json_t *maxi = json_object_get(sch, "maxItems"),
                     *mini = json_object_get(sch, "minItems");
        if (json_is_integer(maxi) && n > json_integer_value(maxi))
            schema_cause(s, "FieldValueTooMany",
                         "Too many: %" JSON_INTEGER_FORMAT
                         ": must have at most %" JSON_INTEGER_FORMAT " items",
                         n, json_integer_value(maxi));
        if (json_is_integer(mini) && n < json_integer_value(mini))
            schema_cause(s, "FieldValueInvalid",
                         "Invalid value: %" JSON_INTEGER_FORMAT
                         ": %s in body should have at least %" JSON_INTEGER_FORMAT " items",
                         n, s->path, json_integer_value(mini));
        const json_t *items = json_object_get(sch, "items");
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            size_t old = schema_push(s, NULL, i);
            schema_walk(s, items, e, depth + 1);
            s->path[old] = '\0';
        }
    }
    if (json_is_object(v))
        schema_object(s, sch, v, depth);
}

int
api_schema_check(const json_t *schema, json_t *obj, json_t *causes)
{
    struct schema_ctx s = {.causes = causes};

    schema_walk(&s, schema, obj, 0);
    return json_array_size(causes) ? ST_EINVAL : 0;
}
