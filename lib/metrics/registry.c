/*
 * The registry: families, interned series, and per-shard counter memory.
 *
 * Counter memory is cut into 4 KiB chunks, one chunk table per shard. A
 * series takes the same slot range in every shard's chunk, and keeps one
 * pointer per shard to its range. Chunks are cache-line aligned and only ever
 * written by their shard's thread, so writers never share a cache line; the
 * scraper only reads. Chunks never move, so the pointers stay valid.
 *
 * Series of a family are found through an open-addressing table of atomic
 * pointers. Readers load the table and probe without a lock; creation (under
 * the registry lock) fills a slot with a release store, and growth publishes
 * a new table while keeping the old one alive until the registry is freed, so
 * a reader that still walks the old table is safe and at worst misses a new
 * series and takes the locked path.
 */
#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "metrics_int.h"

#define CHUNK_SLOTS 512 /* 8-byte slots per chunk: 4 KiB */
#define CACHE_LINE 64

const double st_metrics_latency_bounds_ms[ST_METRICS_LATENCY_N_BOUNDS] = {
    1,   2,   3,    4,    5,    10,   20,   30,    40,    50,    100,   200,   300,
    400, 500, 1000, 2000, 3000, 4000, 5000, 10000, 20000, 30000, 40000, 50000,
};

struct series_table {
    size_t mask;
    struct series_table *retired; /* the table this one replaced */
    _Atomic(struct st_metrics_series *) slot[];
};

struct st_metrics_series {
    struct st_metrics_family *family;
    uint64_t hash;
    enum st_metrics_type type;
    unsigned n_shards;
    size_t ordinal;              /* creation order over the registry */
    size_t raw_offset;           /* of this series' totals in a history record */
    char **values;               /* n_labels, "" when absent */
    _Atomic uint64_t gauge_base; /* bits of a double; gauges only */
    _Atomic uint64_t *slots[];   /* one per shard */
};

struct st_metrics_family {
    struct st_metrics_registry *reg;
    enum st_metrics_type type;
    char *name;
    char *help;
    char **labels;
    size_t n_labels;
    double *bounds;
    size_t n_bounds;
    size_t n_slots;                    /* per shard per series */
    struct st_metrics_series **series; /* creation order; under the lock */
    size_t n_series, cap_series;
    _Atomic(struct series_table *) table;
};

struct metrics_shard {
    _Atomic uint64_t **chunks;
    size_t n_chunks;
};

struct st_metrics_registry {
    pthread_mutex_t lock;
    unsigned n_shards;
    size_t max_series, n_series;
    _Atomic uint64_t refused;
    struct metrics_shard *shards;
    size_t next_slot;               /* the next free slot index, the same in every shard */
    size_t raw_slots;               /* total slots of all series: the size of a history record */
    struct st_metrics_series **all; /* every series in creation order */
    struct st_metrics_family **families;
    size_t n_families, cap_families;
};

struct st_metrics_registry *
st_metrics_registry_new(unsigned n_shards, size_t max_series)
{
    assert(n_shards >= 1 && n_shards <= ST_METRICS_MAX_SHARDS);
    struct st_metrics_registry *r = st_xcalloc(1, sizeof(*r));

    pthread_mutex_init(&r->lock, NULL);
    r->n_shards = n_shards;
    r->max_series = max_series ? max_series : ST_METRICS_DEFAULT_MAX_SERIES;
    atomic_init(&r->refused, 0);
    r->shards = st_xcalloc(n_shards, sizeof(*r->shards));
    return r;
}

static void
family_free(struct st_metrics_family *f)
{
    for (size_t i = 0; i < f->n_series; i++) {
        struct st_metrics_series *s = f->series[i];
        for (size_t j = 0; j < f->n_labels; j++)
            free(s->values[j]);
        free(s->values);
        free(s);
    }
    free(f->series);
    struct series_table *t = atomic_load_explicit(&f->table, memory_order_relaxed);
    while (t != NULL) {
        struct series_table *older = t->retired;
        free(t);
        t = older;
    }
    for (size_t j = 0; j < f->n_labels; j++)
        free(f->labels[j]);
    free(f->labels);
    free(f->bounds);
    free(f->name);
    free(f->help);
    free(f);
}

void
st_metrics_registry_free(struct st_metrics_registry *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_families; i++)
        family_free(r->families[i]);
    free(r->families);
    free(r->all);
    for (unsigned k = 0; k < r->n_shards; k++) {
        for (size_t c = 0; c < r->shards[k].n_chunks; c++)
            free((void *)r->shards[k].chunks[c]);
        free(r->shards[k].chunks);
    }
    free(r->shards);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

unsigned
st_metrics_registry_shards(const struct st_metrics_registry *r)
{
    return r->n_shards;
}

uint64_t
st_metrics_registry_refused(const struct st_metrics_registry *r)
{
    return atomic_load_explicit(&((struct st_metrics_registry *)r)->refused, memory_order_relaxed);
}

/* ---- families ---------------------------------------------------------- */

/* Fills <out> with the sample names a family of <type> and <name> writes. */
static size_t
family_owned_names(enum st_metrics_type type, const char *name, char *out[4])
{
    out[0] = st_xstrdup(name);
    if (type != ST_METRICS_HISTOGRAM)
        return 1;
    out[1] = st_xasprintf("%s_bucket", name);
    out[2] = st_xasprintf("%s_sum", name);
    out[3] = st_xasprintf("%s_count", name);
    return 4;
}

static bool
family_names_clash(const struct st_metrics_family *f, char *const *names, size_t n)
{
    char *own[4];
    size_t n_own = family_owned_names(f->type, f->name, own);
    bool clash = false;

    for (size_t i = 0; i < n_own; i++) {
        for (size_t j = 0; j < n; j++)
            clash = clash || strcmp(own[i], names[j]) == 0;
        free(own[i]);
    }
    return clash;
}

static int
family_check(const struct st_metrics_desc *d, struct st_err *err)
{
    if (d->type != ST_METRICS_COUNTER && d->type != ST_METRICS_GAUGE &&
        d->type != ST_METRICS_HISTOGRAM)
        return st_err_set(err, ST_EINVAL, "metric type %d cannot be registered", (int)d->type);
    if (d->name == NULL || !metrics_valid_metric_name(d->name, strlen(d->name)))
        return st_err_set(err, ST_EINVAL, "invalid metric name");
    if (d->n_labels > ST_METRICS_MAX_LABELS)
        return st_err_set(err, ST_EINVAL, "%s: too many labels", d->name);
    for (size_t i = 0; i < d->n_labels; i++) {
        const char *l = d->labels[i];
        if (l == NULL || !metrics_valid_label_name(l, strlen(l)) || st_str_has_prefix(l, "__"))
            return st_err_set(err, ST_EINVAL, "%s: invalid label name", d->name);
        if (d->type == ST_METRICS_HISTOGRAM && strcmp(l, "le") == 0)
            return st_err_set(err, ST_EINVAL, "%s: a histogram cannot have label le", d->name);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(l, d->labels[j]) == 0)
                return st_err_set(err, ST_EINVAL, "%s: label %s repeats", d->name, l);
        }
    }
    if (d->type != ST_METRICS_HISTOGRAM)
        return 0;
    if (d->n_bounds < 1 || d->n_bounds > ST_METRICS_MAX_BOUNDS || d->bounds == NULL)
        return st_err_set(err, ST_EINVAL, "%s: 1 to %d bucket bounds", d->name,
                          ST_METRICS_MAX_BOUNDS);
    for (size_t i = 0; i < d->n_bounds; i++) {
        if (!isfinite(d->bounds[i]) || (i > 0 && !(d->bounds[i] > d->bounds[i - 1])))
            return st_err_set(err, ST_EINVAL, "%s: bounds must be finite and increasing", d->name);
    }
    return 0;
}

static struct series_table *
table_new(size_t n_slots)
{
    struct series_table *t = st_xcalloc(1, sizeof(*t) + n_slots * sizeof(t->slot[0]));

    t->mask = n_slots - 1;
    for (size_t i = 0; i < n_slots; i++)
        atomic_init(&t->slot[i], NULL);
    return t;
}

int
st_metrics_family_add(struct st_metrics_registry *r, const struct st_metrics_desc *d,
                      struct st_metrics_family **out, struct st_err *err)
{
    char *names[4];
    size_t n_names;
    int rc = family_check(d, err);

    if (rc < 0)
        return rc;
    n_names = family_owned_names(d->type, d->name, names);
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n_families; i++) {
        if (family_names_clash(r->families[i], names, n_names)) {
            rc = st_err_set(err, ST_ECONFLICT, "metric name %s is taken", d->name);
            goto out;
        }
    }

    struct st_metrics_family *f = st_xcalloc(1, sizeof(*f));
    f->reg = r;
    f->type = d->type;
    f->name = st_xstrdup(d->name);
    f->help = st_xstrdup(d->help ? d->help : "");
    f->n_labels = d->n_labels;
    f->labels = st_xcalloc(d->n_labels ? d->n_labels : 1, sizeof(char *));
    for (size_t i = 0; i < d->n_labels; i++)
        f->labels[i] = st_xstrdup(d->labels[i]);
    if (d->type == ST_METRICS_HISTOGRAM) {
        f->n_bounds = d->n_bounds;
        f->bounds = st_xmalloc(d->n_bounds * sizeof(double));
        memcpy(f->bounds, d->bounds, d->n_bounds * sizeof(double));
        f->n_slots = d->n_bounds + 2; /* buckets incl. +Inf, then the sum */
    } else {
        f->n_slots = 1;
    }
    atomic_init(&f->table, table_new(16));

    if (r->n_families == r->cap_families) {
        r->cap_families = r->cap_families ? 2 * r->cap_families : 16;
        r->families = st_xrealloc(r->families, r->cap_families * sizeof(*r->families));
    }
    r->families[r->n_families++] = f;
    if (out != NULL)
        *out = f;
out:
    pthread_mutex_unlock(&r->lock);
    for (size_t i = 0; i < n_names; i++)
        free(names[i]);
    return rc;
}

struct st_metrics_family *
st_metrics_family_find(struct st_metrics_registry *r, const char *name)
{
    struct st_metrics_family *found = NULL;

    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n_families && found == NULL; i++) {
        if (strcmp(r->families[i]->name, name) == 0)
            found = r->families[i];
    }
    pthread_mutex_unlock(&r->lock);
    return found;
}

size_t
st_metrics_family_n_labels(const struct st_metrics_family *f)
{
    return f->n_labels;
}

/* ---- series ------------------------------------------------------------ */

uint64_t
st_metrics_labels_hash(const char *const *values, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, with a separator after each value */

    for (size_t i = 0; i < n; i++) {
        const unsigned char *v = (const unsigned char *)(values[i] ? values[i] : "");
        for (; *v != '\0'; v++)
            h = (h ^ *v) * 0x100000001b3ull;
        h = (h ^ 0xff) * 0x100000001b3ull;
    }
    return h ^ (h >> 29);
}

static bool
series_equal(const struct st_metrics_series *s, uint64_t hash, const char *const *values, size_t n)
{
    if (s->hash != hash)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s->values[i], values[i] ? values[i] : "") != 0)
            return false;
    }
    return true;
}

static struct st_metrics_series *
table_find(struct series_table *t, uint64_t hash, const char *const *values, size_t n)
{
    for (size_t i = hash & t->mask;; i = (i + 1) & t->mask) {
        struct st_metrics_series *s = atomic_load_explicit(&t->slot[i], memory_order_acquire);
        if (s == NULL)
            return NULL;
        if (series_equal(s, hash, values, n))
            return s;
    }
}

static void
table_put(struct series_table *t, struct st_metrics_series *s)
{
    size_t i = s->hash & t->mask;

    while (atomic_load_explicit(&t->slot[i], memory_order_relaxed) != NULL)
        i = (i + 1) & t->mask;
    atomic_store_explicit(&t->slot[i], s, memory_order_release);
}

/* Reserves <n> slots in every shard; returns the first slot's index. Under the lock. */
static size_t
registry_alloc_slots(struct st_metrics_registry *r, size_t n)
{
    size_t first = r->next_slot;

    assert(n <= CHUNK_SLOTS);
    if (first % CHUNK_SLOTS + n > CHUNK_SLOTS)
        first = (first / CHUNK_SLOTS + 1) * CHUNK_SLOTS; /* a range never spans chunks */
    size_t chunk = first / CHUNK_SLOTS;
    for (unsigned k = 0; k < r->n_shards; k++) {
        struct metrics_shard *sh = &r->shards[k];
        while (sh->n_chunks <= chunk) {
            sh->chunks = st_xrealloc(sh->chunks, (sh->n_chunks + 1) * sizeof(*sh->chunks));
            void *mem = aligned_alloc(CACHE_LINE, CHUNK_SLOTS * sizeof(uint64_t));
            if (mem == NULL)
                st_oom();
            memset(mem, 0, CHUNK_SLOTS * sizeof(uint64_t));
            sh->chunks[sh->n_chunks++] = mem;
        }
    }
    r->next_slot = first + n;
    return first;
}

static bool
series_values_ok(const struct st_metrics_family *f, const char *const *values)
{
    for (size_t i = 0; i < f->n_labels; i++) {
        const char *v = values[i] ? values[i] : "";
        size_t len = strlen(v);
        if (len > ST_METRICS_MAX_VALUE || !metrics_valid_utf8(v, len))
            return false;
    }
    return true;
}

/* Creates and publishes a series; under the lock. NULL when refused. */
static struct st_metrics_series *
series_create(struct st_metrics_family *f, uint64_t hash, const char *const *values)
{
    struct st_metrics_registry *r = f->reg;

    if (r->n_series >= r->max_series || !series_values_ok(f, values)) {
        atomic_fetch_add_explicit(&r->refused, 1, memory_order_relaxed);
        return NULL;
    }
    struct st_metrics_series *s = st_xcalloc(1, sizeof(*s) + r->n_shards * sizeof(s->slots[0]));
    s->family = f;
    s->hash = hash;
    s->type = f->type;
    s->n_shards = r->n_shards;
    s->values = st_xcalloc(f->n_labels ? f->n_labels : 1, sizeof(char *));
    for (size_t i = 0; i < f->n_labels; i++)
        s->values[i] = st_xstrdup(values[i] ? values[i] : "");
    atomic_init(&s->gauge_base, 0); /* the bits of 0.0 */
    size_t first = registry_alloc_slots(r, f->n_slots);
    for (unsigned k = 0; k < r->n_shards; k++)
        s->slots[k] = &r->shards[k].chunks[first / CHUNK_SLOTS][first % CHUNK_SLOTS];

    if (f->n_series == f->cap_series) {
        f->cap_series = f->cap_series ? 2 * f->cap_series : 8;
        f->series = st_xrealloc(f->series, f->cap_series * sizeof(*f->series));
    }
    f->series[f->n_series++] = s;
    s->ordinal = r->n_series;
    s->raw_offset = r->raw_slots;
    r->raw_slots += f->n_slots;
    if ((r->n_series & (r->n_series - 1)) == 0) /* capacity doubles at powers of two */
        r->all = st_xrealloc(r->all, (r->n_series ? 2 * r->n_series : 1) * sizeof(*r->all));
    r->all[r->n_series++] = s;

    struct series_table *t = atomic_load_explicit(&f->table, memory_order_relaxed);
    if (2 * f->n_series > t->mask + 1) {
        struct series_table *bigger = table_new(2 * (t->mask + 1));
        for (size_t i = 0; i + 1 < f->n_series; i++)
            table_put(bigger, f->series[i]);
        bigger->retired = t;
        atomic_store_explicit(&f->table, bigger, memory_order_release);
        t = bigger;
    }
    table_put(t, s);
    return s;
}

struct st_metrics_series *
st_metrics_series_get_hashed(struct st_metrics_family *f, uint64_t hash, const char *const *values)
{
    struct st_metrics_series *s;

    if (f == NULL)
        return NULL;
    s = table_find(atomic_load_explicit(&f->table, memory_order_acquire), hash, values,
                   f->n_labels);
    if (s != NULL)
        return s;
    pthread_mutex_lock(&f->reg->lock);
    s = table_find(atomic_load_explicit(&f->table, memory_order_relaxed), hash, values,
                   f->n_labels);
    if (s == NULL)
        s = series_create(f, hash, values);
    pthread_mutex_unlock(&f->reg->lock);
    return s;
}

struct st_metrics_series *
st_metrics_series_get(struct st_metrics_family *f, const char *const *values)
{
    if (f == NULL)
        return NULL;
    return st_metrics_series_get_hashed(f, st_metrics_labels_hash(values, f->n_labels), values);
}

/* ---- the hot path ------------------------------------------------------------ */

/*
 * A shard's slot is written by one thread only, so a relaxed load and store
 * make the increment: no lock prefix, yet the scraper's concurrent relaxed
 * load is not a data race.
 */
static inline void
slot_add(_Atomic uint64_t *p, uint64_t n)
{
    atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

void
st_metrics_counter_add(struct st_metrics_series *s, unsigned shard, uint64_t n)
{
    if (s == NULL)
        return;
    assert(s->type == ST_METRICS_COUNTER && shard < s->n_shards);
    slot_add(s->slots[shard], n);
}

void
st_metrics_counter_inc(struct st_metrics_series *s, unsigned shard)
{
    st_metrics_counter_add(s, shard, 1);
}

void
st_metrics_gauge_add(struct st_metrics_series *s, unsigned shard, int64_t delta)
{
    if (s == NULL)
        return;
    assert(s->type == ST_METRICS_GAUGE && shard < s->n_shards);
    slot_add(s->slots[shard], (uint64_t)delta); /* two's complement wraps to the sum */
}

void
st_metrics_gauge_set(struct st_metrics_series *s, double v)
{
    uint64_t bits;

    if (s == NULL)
        return;
    assert(s->type == ST_METRICS_GAUGE);
    memcpy(&bits, &v, sizeof(bits));
    atomic_store_explicit(&s->gauge_base, bits, memory_order_relaxed);
}

void
st_metrics_histogram_observe(struct st_metrics_series *s, unsigned shard, double v)
{
    if (s == NULL || isnan(v))
        return;
    assert(s->type == ST_METRICS_HISTOGRAM && shard < s->n_shards);
    const struct st_metrics_family *f = s->family;
    size_t lo = 0, hi = f->n_bounds; /* the first bound >= v; n_bounds is +Inf */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v <= f->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    _Atomic uint64_t *p = s->slots[shard];
    slot_add(&p[lo], 1);

    _Atomic uint64_t *sum = &p[f->n_bounds + 1];
    uint64_t bits = atomic_load_explicit(sum, memory_order_relaxed);
    double d;
    memcpy(&d, &bits, sizeof(d));
    d += v;
    memcpy(&bits, &d, sizeof(bits));
    atomic_store_explicit(sum, bits, memory_order_relaxed);
}

/* ---- scraping ------------------------------------------------------------- */

static uint64_t
series_slot_sum(const struct st_metrics_series *s, size_t i)
{
    uint64_t total = 0;

    for (unsigned k = 0; k < s->n_shards; k++)
        total += atomic_load_explicit(&s->slots[k][i], memory_order_relaxed);
    return total;
}

static double
bits_to_double(uint64_t bits)
{
    double d;

    memcpy(&d, &bits, sizeof(d));
    return d;
}

/*
 * Fills <raw> (family's n_slots) with the series' totals over the shards: the
 * counts as integers, a histogram's sum as the bits of a double.
 */
static void
series_raw(const struct st_metrics_family *f, const struct st_metrics_series *s, uint64_t *raw)
{
    size_t n_counts = f->type == ST_METRICS_HISTOGRAM ? f->n_bounds + 1 : 1;
    double sum = 0;

    for (size_t i = 0; i < n_counts; i++)
        raw[i] = series_slot_sum(s, i);
    if (f->type != ST_METRICS_HISTOGRAM)
        return;
    for (unsigned k = 0; k < s->n_shards; k++)
        sum += bits_to_double(
            atomic_load_explicit(&s->slots[k][f->n_bounds + 1], memory_order_relaxed));
    memcpy(&raw[f->n_bounds + 1], &sum, sizeof(sum));
}

/* Copies one series into <out>; <base> (raw totals of an earlier time) is subtracted if set. */
static void
series_snapshot(const struct st_metrics_family *f, const struct st_metrics_series *s,
                const uint64_t *base, struct st_metrics_sample *out)
{
    uint64_t raw[ST_METRICS_MAX_BOUNDS + 2];
    size_t n = 0;

    out->labels = st_xcalloc(f->n_labels ? f->n_labels : 1, sizeof(*out->labels));
    for (size_t i = 0; i < f->n_labels; i++) {
        if (s->values[i][0] == '\0')
            continue;
        out->labels[n].name = st_xstrdup(f->labels[i]);
        out->labels[n].value = st_xstrdup(s->values[i]);
        n++;
    }
    out->n_labels = n;
    (void)metrics_labels_normalize(out->labels, &out->n_labels); /* names are unique */
    out->key = metrics_labels_key(out->labels, out->n_labels);

    series_raw(f, s, raw);
    switch (f->type) {
    case ST_METRICS_COUNTER:
        out->value = (double)(raw[0] - (base != NULL && raw[0] >= base[0] ? base[0] : 0));
        break;
    case ST_METRICS_GAUGE: /* a level, never subtracted */
        out->value = bits_to_double(atomic_load_explicit(
                         &((struct st_metrics_series *)s)->gauge_base, memory_order_relaxed)) +
                     (double)(int64_t)raw[0];
        break;
    case ST_METRICS_HISTOGRAM: {
        double cumulative = 0;
        out->n_buckets = f->n_bounds + 1;
        out->buckets = st_xcalloc(out->n_buckets, sizeof(*out->buckets));
        for (size_t i = 0; i <= f->n_bounds; i++) {
            cumulative += (double)(raw[i] - (base != NULL && raw[i] >= base[i] ? base[i] : 0));
            out->buckets[i].le = i < f->n_bounds ? f->bounds[i] : INFINITY;
            out->buckets[i].count = cumulative;
        }
        out->sum = bits_to_double(raw[f->n_bounds + 1]) -
                   (base != NULL ? bits_to_double(base[f->n_bounds + 1]) : 0);
        out->count = cumulative; /* equal to +Inf by construction, even mid-update */
        break;
    }
    default:
        break;
    }
}

/*
 * Copies every family of <r> into a new snapshot; under the registry lock.
 * With <base>, each series of ordinal below <n_base> has its raw totals of an
 * earlier time at base + its raw_offset, which are subtracted.
 */
static struct st_metrics_snapshot *
registry_snapshot(struct st_metrics_registry *r, const uint64_t *base, size_t n_base)
{
    struct st_metrics_snapshot *snap = st_xcalloc(1, sizeof(*snap));

    snap->n_families = r->n_families;
    snap->families = st_xcalloc(r->n_families ? r->n_families : 1, sizeof(*snap->families));
    for (size_t i = 0; i < r->n_families; i++) {
        const struct st_metrics_family *f = r->families[i];
        struct st_metrics_fam *out = &snap->families[i];
        out->name = st_xstrdup(f->name);
        out->help = st_xstrdup(f->help);
        out->type = f->type;
        out->n_series = f->n_series;
        out->series = st_xcalloc(f->n_series ? f->n_series : 1, sizeof(*out->series));
        for (size_t j = 0; j < f->n_series; j++) {
            const struct st_metrics_series *s = f->series[j];
            const uint64_t *b = base != NULL && s->ordinal < n_base ? base + s->raw_offset : NULL;
            series_snapshot(f, s, b, &out->series[j]);
        }
    }
    metrics_snapshot_sort(snap);
    return snap;
}

struct st_metrics_snapshot *
st_metrics_snapshot_take(struct st_metrics_registry *r)
{
    struct st_metrics_snapshot *snap;

    pthread_mutex_lock(&r->lock);
    snap = registry_snapshot(r, NULL, 0);
    pthread_mutex_unlock(&r->lock);
    snap->time_ms = st_now_ms();
    return snap;
}

int
st_metrics_render(struct st_metrics_registry *r, struct st_buf *out)
{
    struct st_metrics_snapshot *snap = st_metrics_snapshot_take(r);
    int rc = st_metrics_snapshot_render(snap, out);

    st_metrics_snapshot_free(snap);
    return rc;
}

/* ---- history ---------------------------------------------------------------- */

struct history_record {
    uint64_t time_ms;
    size_t n_series; /* series of ordinal below this are in <raw> */
    uint64_t *raw;   /* raw totals at each series' raw_offset */
};

struct st_metrics_history {
    struct st_metrics_registry *reg;
    uint64_t period_ms;
    size_t cap, head, n; /* a ring of records, oldest at head; n >= 1 */
    struct history_record *rec;
};

/* Records the registry's totals now, replacing the oldest record when the ring is full. */
static void
history_record(struct st_metrics_history *h, uint64_t now_ms)
{
    struct st_metrics_registry *r = h->reg;
    struct history_record *rec;

    if (h->n == h->cap) { /* reuse the oldest */
        rec = &h->rec[h->head];
        h->head = (h->head + 1) % h->cap;
    } else {
        rec = &h->rec[(h->head + h->n++) % h->cap];
    }
    pthread_mutex_lock(&r->lock);
    rec->time_ms = now_ms;
    rec->n_series = r->n_series;
    rec->raw = st_xrealloc(rec->raw, (r->raw_slots ? r->raw_slots : 1) * sizeof(uint64_t));
    for (size_t i = 0; i < r->n_series; i++)
        series_raw(r->all[i]->family, r->all[i], rec->raw + r->all[i]->raw_offset);
    pthread_mutex_unlock(&r->lock);
}

struct st_metrics_history *
st_metrics_history_new(struct st_metrics_registry *r, uint64_t period_ms, size_t n_periods,
                       uint64_t now_ms)
{
    assert(period_ms > 0 && n_periods > 0);
    struct st_metrics_history *h = st_xcalloc(1, sizeof(*h));

    h->reg = r;
    h->period_ms = period_ms;
    h->cap = n_periods + 1; /* the window's start may be a whole window back */
    h->rec = st_xcalloc(h->cap, sizeof(*h->rec));
    history_record(h, now_ms); /* so there is always a record to start from */
    return h;
}

void
st_metrics_history_free(struct st_metrics_history *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->cap; i++)
        free(h->rec[i].raw);
    free(h->rec);
    free(h);
}

void
st_metrics_history_tick(struct st_metrics_history *h, uint64_t now_ms)
{
    const struct history_record *last = &h->rec[(h->head + h->n - 1) % h->cap];

    if (now_ms >= last->time_ms + h->period_ms)
        history_record(h, now_ms);
}

struct st_metrics_snapshot *
st_metrics_history_window(struct st_metrics_history *h, uint64_t now_ms, uint64_t window_ms)
{
    const struct history_record *base = NULL;
    struct st_metrics_snapshot *snap;

    /* The newest record at least <window_ms> old; else the oldest one there is. */
    for (size_t i = 0; i < h->n; i++) {
        const struct history_record *rec = &h->rec[(h->head + i) % h->cap];
        if (rec->time_ms <= now_ms && now_ms - rec->time_ms >= window_ms)
            base = rec;
    }
    if (base == NULL)
        base = &h->rec[h->head];

    pthread_mutex_lock(&h->reg->lock);
    snap = registry_snapshot(h->reg, base->raw, base->n_series);
    pthread_mutex_unlock(&h->reg->lock);
    snap->time_ms = now_ms > base->time_ms ? now_ms - base->time_ms : 0;
    return snap;
}
