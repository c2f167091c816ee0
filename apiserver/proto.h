/*
 * Kubernetes protobuf request bodies (application/vnd.kubernetes.protobuf).
 *
 * kubectl's typed clients send create bodies, access reviews and token
 * requests in this encoding and never fall back to JSON, so strait-apiserver
 * decodes them into the JSON object the JSON encoding would have carried and
 * handles them from there; answers stay JSON. See docs/apiserver-protobuf.md.
 *
 * The encoding: the 4 bytes "k8s\0", then a runtime.Unknown message whose
 * typeMeta names apiVersion and kind and whose raw field holds the object's
 * own message. Field numbers come from the tables in proto_schema.c.
 */
#ifndef STRAIT_APISERVER_PROTO_H
#define STRAIT_APISERVER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "strait/core.h"

#define PROTO_CONTENT_TYPE "application/vnd.kubernetes.protobuf"

/* Caps on what a peer may send; past them decoding fails with ST_ETOOBIG. */
#define PROTO_MAX_BODY (3u * 1024 * 1024 + 4096) /* the API's 3 MiB plus the envelope */
#define PROTO_MAX_DEPTH 32                       /* nested messages below the object */
#define PROTO_MAX_REPEATED 100000                /* elements of one repeated field or map */
#define PROTO_MAX_NODES 500000                   /* JSON values built for one body */

/*
 * Decodes a Kubernetes protobuf body into the JSON object the JSON encoding
 * would carry: apiVersion and kind set, fields under their JSON names, zero
 * values dropped where Kubernetes' JSON drops them, IntOrString as a number
 * or string, Quantity as a string, Time and MicroTime as RFC 3339 (a zero
 * time as null), []byte as base64, maps as objects. Unknown field numbers in
 * a known message are skipped, as proto3 does. <body> is borrowed.
 *
 * Returns a new reference, or NULL with <err> set: ST_EPARSE for malformed
 * bytes (HTTP 400), ST_EINVAL for a kind without a schema or an encoded
 * (contentEncoding) payload (HTTP 415), ST_ETOOBIG past one of the caps
 * above (HTTP 413 for the size, 400 otherwise).
 */
json_t *proto_decode(const void *body, size_t len, struct st_err *err);

/* True when proto_decode knows the message of <kind> in <api_version>. */
bool proto_kind_supported(const char *api_version, const char *kind);

/* ---- schema tables (proto_schema.c); exposed for the decoder and tests ---- */

/* How a field's bytes turn into JSON. */
enum proto_type {
    PROTO_T_STRING,    /* UTF-8 string */
    PROTO_T_BYTES,     /* []byte: base64 string */
    PROTO_T_BOOL,      /* varint */
    PROTO_T_INT32,     /* varint, truncated to 32 bits like Go */
    PROTO_T_INT64,     /* varint */
    PROTO_T_MESSAGE,   /* nested message <message> */
    PROTO_T_MAP,       /* map entry message <message> (key = 1, value = 2): JSON object */
    PROTO_T_INTORSTR,  /* intstr.IntOrString {type, intVal, strVal}: number or string */
    PROTO_T_QUANTITY,  /* resource.Quantity {string}: string */
    PROTO_T_TIME,      /* meta.v1.Time {seconds, nanos}: RFC 3339 seconds, null if zero */
    PROTO_T_MICROTIME, /* meta.v1.MicroTime: RFC 3339 with microseconds, null if zero */
    PROTO_T_RAWJSON,   /* meta.v1.FieldsV1 {raw}: the JSON text the bytes hold */
    PROTO_T_STRLIST,   /* ExtraValue {repeated items}: array of strings */
};

enum {
    PROTO_F_REPEATED = 1u, /* repeated field: JSON array (packed varints accepted) */
    PROTO_F_KEEP = 2u,     /* a zero scalar on the wire stays (Go pointer / no omitempty) */
    PROTO_F_INLINE = 4u,   /* embedded Go struct: its fields go into the parent object */
};

struct proto_message;

struct proto_field {
    uint32_t number;
    uint8_t type;  /* enum proto_type */
    uint8_t flags; /* PROTO_F_* */
    const char *json;
    const struct proto_message *message; /* for PROTO_T_MESSAGE and PROTO_T_MAP */
};

struct proto_message {
    const char *name;
    size_t nfields;
    const struct proto_field *fields; /* sorted by number */
};

struct proto_kind {
    const char *api_version;
    const char *kind;
    const struct proto_message *message;
};

extern const struct proto_kind proto_kinds[];
extern const size_t proto_nkinds;

#endif
