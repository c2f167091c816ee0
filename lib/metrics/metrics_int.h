/*
 * Internal helpers shared by the files of lib/metrics: name and UTF-8
 * checks, the canonical series key, and snapshot construction.
 */
#ifndef STRAIT_METRICS_INT_H
#define STRAIT_METRICS_INT_H

#include "strait/metrics.h"

/* The byte that separates names and values in a series key; never in UTF-8. */
#define METRICS_KEY_SEP '\xff'

bool metrics_valid_metric_name(const char *s, size_t n);
bool metrics_valid_label_name(const char *s, size_t n);
bool metrics_valid_utf8(const char *s, size_t n);

/*
 * Sorts <labels> by name, drops empty values (freeing them) and checks that
 * no name repeats. Returns 0 or ST_EPARSE on a repeated name.
 */
int metrics_labels_normalize(struct st_metrics_label *labels, size_t *n);
/* Returns the canonical key of normalized <labels>; the caller frees it. */
char *metrics_labels_key(const struct st_metrics_label *labels, size_t n);

/* Frees one sample's contents. */
void metrics_sample_clear(struct st_metrics_sample *s);
/* Frees one family's contents. */
void metrics_fam_clear(struct st_metrics_fam *f);
/* Deep-copies <src> into <dst>. */
void metrics_sample_copy(struct st_metrics_sample *dst, const struct st_metrics_sample *src);
/* Sorts families by name and every family's series by key. */
void metrics_snapshot_sort(struct st_metrics_snapshot *s);

/* Writes <v> in the shortest form that parses back to the same double. */
void metrics_format_double(double v, char out[32]);

#endif
