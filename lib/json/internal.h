/*
 * Internal to lib/json: the plain-scalar resolver shared by the YAML loader
 * (which turns plain text into JSON values) and the dumper (which must quote
 * every string that the loader would not read back as that same string), and
 * the JSON nesting check shared by the JSON and YAML loaders.
 */
#ifndef STRAIT_JSON_INTERNAL_H
#define STRAIT_JSON_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strait/core.h"

enum yaml_kind {
    YAML_K_STR,
    YAML_K_NULL,
    YAML_K_BOOL,
    YAML_K_INT,
    YAML_K_REAL,    /* finite, not integral or outside int64 */
    YAML_K_INF_NAN, /* .inf, -.inf, .nan: no JSON form */
    YAML_K_MERGE,   /* "<<", a merge key when it is an untagged plain key */
};

struct yaml_scalar {
    enum yaml_kind kind;
    bool b;
    int64_t i;
    double d;        /* REAL, INF_NAN, and the float an INT came from */
    uint64_t u;      /* the exact value of a REAL above int64 written as an integer */
    bool from_float; /* written in float syntax (matters for map keys) */
    bool from_uint;  /* REAL that was written as an integer past int64 */
};

/*
 * Resolves the text of a plain scalar as go-yaml v2 does for an untyped
 * target, followed by sigs.k8s.io/yaml's trip through JSON (integral floats
 * become integers). <s> need not be NUL-terminated.
 */
void st_yaml_resolve_plain(const char *s, size_t n, struct yaml_scalar *out);

/*
 * Counts bracket nesting outside strings in JSON text; ST_ETOOBIG with line
 * and column in <err> past <max_depth>, else 0.
 */
int st_json_check_depth(const char *p, size_t n, size_t max_depth, struct st_err *err);

/*
 * Formats a finite double in the shortest "%.Ng" form that reads back as the
 * same value, with ".0" added when it would otherwise look like an integer.
 */
void st_json_format_real(double d, char *buf, size_t size);

#endif
