/*
 * Server-side Table output (meta.k8s.io/v1 Table), which `kubectl get` asks
 * for with "Accept: application/json;as=Table;g=meta.k8s.io;v=v1". The
 * columns per kind follow Kubernetes' printers; custom resources get NAME
 * plus their CRD's additionalPrinterColumns (default: AGE).
 */
#ifndef STRAIT_APISERVER_TABLE_H
#define STRAIT_APISERVER_TABLE_H

#include <jansson.h>
#include <stdint.h>

#include "registry.h"

/* What each row carries as "object" (the includeObject query parameter). */
enum table_include {
    TABLE_INCLUDE_METADATA, /* PartialObjectMetadata, the default */
    TABLE_INCLUDE_NONE,
    TABLE_INCLUDE_OBJECT,
};

struct table_opts {
    enum table_include include;
    const char *api_version; /* "meta.k8s.io/v1" or "meta.k8s.io/v1beta1" */
    int64_t now;             /* wall-clock seconds, for AGE cells */
};

/*
 * Returns a new Table for <r> (borrowed) with its column definitions and no
 * rows; the caller adds rows and sets metadata (resourceVersion, continue).
 */
json_t *table_new(const struct reg_resource *r, const struct table_opts *o);
/* Appends the row for <obj> (borrowed) to <table>. */
void table_add_row(json_t *table, const struct reg_resource *r, const json_t *obj,
                   const struct table_opts *o);

/*
 * Formats a duration like Kubernetes' duration.HumanDuration ("38s", "5m2s",
 * "3h", "12d", "2y30d"); negative beyond -1 s is "<invalid>".
 */
void table_human_duration(int64_t seconds, char *out, size_t n);

#endif
