/*
 * Records of finished `strait exec` clients (cli/stat_record.h,
 * docs/stat.md): encoding, a strict parser for files that may be damaged,
 * and the cut of a window the way a live proxy's history cuts it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "stat_record.h"
#include "strait/json.h"

#define STAT_RECORD_MAX_NAME 253
/* A window may start a little before the start the writer noted (clocks read apart). */
#define STAT_RECORD_SLACK_MS 60000

void
stat_record_free(struct stat_record *r)
{
    for (size_t i = 0; i < r->n_wins; i++)
        st_metrics_snapshot_free(r->wins[i].snap);
    free(r->wins);
    free(r->client);
    free(r->ns);
    free(r->identity);
    memset(r, 0, sizeof(*r));
}

uint64_t
stat_record_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int
stat_record_add(struct stat_record *r, uint64_t from_ms, struct st_metrics_snapshot *snap)
{
    size_t at = 0;

    while (at < r->n_wins && r->wins[at].from_ms < from_ms)
        at++;
    if (at < r->n_wins && r->wins[at].from_ms == from_ms) {
        st_metrics_snapshot_free(snap);
        return ST_ECONFLICT;
    }
    if (r->n_wins >= STAT_RECORD_MAX_WINDOWS) {
        st_metrics_snapshot_free(snap);
        return ST_ETOOBIG;
    }
    r->wins = st_xrealloc(r->wins, (r->n_wins + 1) * sizeof(*r->wins));
    memmove(&r->wins[at + 1], &r->wins[at], (r->n_wins - at) * sizeof(*r->wins));
    r->wins[at] = (struct stat_record_win){from_ms, snap};
    r->n_wins++;
    return 0;
}

/* True when <s> is an outbound series that saw responses (a histogram: observations). */
static bool
stat_record_keep(const struct st_metrics_fam *f, const struct st_metrics_sample *s)
{
    const char *dir = st_metrics_sample_label(s, "direction");

    if (dir == NULL || strcmp(dir, "outbound") != 0)
        return false;
    return f->type == ST_METRICS_HISTOGRAM ? s->count > 0 : s->value > 0;
}

/*
 * Renders what stat ts reads of <s> (see stat_record_keep) as Prometheus
 * text onto <out>. The view borrows the samples of <s>.
 */
static int
stat_record_render(const struct st_metrics_snapshot *s, struct st_buf *out)
{
    /* Sorted by name, as a snapshot's families are. */
    static const char *const keep[] = {"response_latency_ms", "response_total"};
    struct st_metrics_fam fams[ST_ARRAY_LEN(keep)];
    struct st_metrics_snapshot view = {fams, 0, s->time_ms};
    int rc;

    for (size_t k = 0; k < ST_ARRAY_LEN(keep); k++) {
        const struct st_metrics_fam *f = st_metrics_snapshot_find(s, keep[k]);
        if (f == NULL)
            continue;
        struct st_metrics_fam *v = &fams[view.n_families++];
        *v = *f;
        v->series = st_xcalloc(f->n_series ? f->n_series : 1, sizeof(*v->series));
        v->n_series = 0;
        for (size_t i = 0; i < f->n_series; i++)
            if (stat_record_keep(f, &f->series[i]))
                v->series[v->n_series++] = f->series[i];
    }
    rc = st_metrics_snapshot_render(&view, out);
    for (size_t k = 0; k < view.n_families; k++)
        free(fams[k].series);
    return rc;
}

int
stat_record_encode(const struct stat_record *r, struct st_buf *out)
{
    json_t **texts = st_xcalloc(r->n_wins ? r->n_wins : 1, sizeof(*texts));
    struct st_buf t = ST_BUF_INIT(STAT_RECORD_MAX_BYTES);
    int rc = 0;

    for (size_t i = 0; i < r->n_wins && rc == 0; i++) {
        st_buf_reset(&t);
        rc = stat_record_render(r->wins[i].snap, &t);
        if (rc == 0)
            texts[i] = json_stringn(st_buf_cstr(&t), t.len);
        if (rc == 0 && texts[i] == NULL)
            rc = ST_EINVAL; /* not UTF-8: the renderer never makes that */
    }
    st_buf_free(&t);
    if (rc < 0)
        goto out;
    /* The oldest windows matter most: the oldest covers the client's whole life. */
    rc = ST_ETOOBIG;
    for (size_t keep = r->n_wins; keep > 0 && rc == ST_ETOOBIG; keep--) {
        json_t *wins = json_array();
        for (size_t i = 0; i < keep; i++)
            json_array_append_new(wins,
                                  json_pack("{s:I, s:O}", "fromMs", (json_int_t)r->wins[i].from_ms,
                                            "metrics", texts[i]));
        json_t *obj =
            json_pack("{s:s, s:i, s:s, s:s, s:I, s:I, s:I, s:o}", "kind", STAT_RECORD_KIND,
                      "version", STAT_RECORD_VERSION, "client", r->client ? r->client : "",
                      "namespace", r->ns ? r->ns : "", "startMs", (json_int_t)r->start_ms, "endMs",
                      (json_int_t)r->end_ms, "periodMs", (json_int_t)r->period_ms, "windows", wins);
        if (r->identity != NULL)
            json_object_set_new(obj, "identity", json_string(r->identity));
        rc = st_json_dump(obj, out, ST_JSON_NEWLINE);
        json_decref(obj);
        if (rc == 0)
            rc = (int)keep;
    }

out:
    for (size_t i = 0; i < r->n_wins; i++)
        json_decref(texts[i]);
    free(texts);
    return rc;
}

/* Reads a non-negative integer field of at most <max>; ST_EPARSE when missing or out of range. */
static int
stat_record_u64(const json_t *o, const char *key, uint64_t max, uint64_t *out, struct st_err *err)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
        return st_err_set(err, ST_EPARSE, "\"%s\" is not an integer in 0..%llu", key,
                          (unsigned long long)max);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* A string field that is a DNS-1123 label (namespace) or a client name; copied into <out>. */
static int
stat_record_name(const json_t *o, const char *key, bool label, char **out, struct st_err *err)
{
    const char *s = json_string_value(json_object_get(o, key));
    size_t n = s != NULL ? strlen(s) : 0;

    if (s == NULL || n == 0 || n > STAT_RECORD_MAX_NAME)
        return st_err_set(err, ST_EPARSE, "\"%s\" is missing or too long", key);
    if (label && !st_dns1123_label(s))
        return st_err_set(err, ST_EINVAL, "\"%s\" is not a namespace name", key);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] >= 0x7f)
            return st_err_set(err, ST_EINVAL, "\"%s\" has a control or non-ASCII character", key);
    *out = st_xstrdup(s);
    return 0;
}

int
stat_record_parse(const char *p, size_t n, struct stat_record *out, struct st_err *err)
{
    /* Wall-clock milliseconds up to the year 2500 or so. */
    const uint64_t max_ms = UINT64_C(1) << 44;
    struct st_metrics_caps caps = {.max_bytes = STAT_RECORD_MAX_BYTES,
                                   .max_series = STAT_RECORD_MAX_SERIES};
    json_t *o = NULL, *wins, *w;
    size_t i;
    int rc;

    memset(out, 0, sizeof(*out));
    if (n > STAT_RECORD_MAX_BYTES) {
        rc = st_err_set(err, ST_ETOOBIG, "record larger than %zu bytes", STAT_RECORD_MAX_BYTES);
        goto fail;
    }
    if ((o = st_json_load_ex(p, n, STAT_RECORD_MAX_BYTES, 8, err)) == NULL) {
        rc = err != NULL && err->code < 0 ? err->code : ST_EPARSE;
        goto fail;
    }
    const char *kind = json_string_value(json_object_get(o, "kind"));
    json_t *ver = json_object_get(o, "version");
    if (!json_is_object(o) || kind == NULL || strcmp(kind, STAT_RECORD_KIND) != 0) {
        rc = st_err_set(err, ST_EPARSE, "not an " STAT_RECORD_KIND " record");
        goto fail;
    }
    if (!json_is_integer(ver) || json_integer_value(ver) != STAT_RECORD_VERSION) {
        rc = st_err_set(err, ST_EINVAL, "unknown record version");
        goto fail;
    }
    if ((rc = stat_record_name(o, "client", false, &out->client, err)) < 0 ||
        (rc = stat_record_name(o, "namespace", true, &out->ns, err)) < 0 ||
        (rc = stat_record_u64(o, "startMs", max_ms, &out->start_ms, err)) < 0 ||
        (rc = stat_record_u64(o, "endMs", max_ms, &out->end_ms, err)) < 0 ||
        (rc = stat_record_u64(o, "periodMs", 3600000, &out->period_ms, err)) < 0)
        goto fail;
    if (json_object_get(o, "identity") != NULL &&
        (rc = stat_record_name(o, "identity", false, &out->identity, err)) < 0)
        goto fail;
    if (out->start_ms > out->end_ms) {
        rc = st_err_set(err, ST_EINVAL, "startMs is after endMs");
        goto fail;
    }
    wins = json_object_get(o, "windows");
    if (!json_is_array(wins) || json_array_size(wins) == 0 ||
        json_array_size(wins) > STAT_RECORD_MAX_WINDOWS) {
        rc = st_err_set(err, ST_EPARSE, "\"windows\" must hold 1..%d windows",
                        STAT_RECORD_MAX_WINDOWS);
        goto fail;
    }
    json_array_foreach(wins, i, w)
    {
        uint64_t from = 0;
        const char *text = json_string_value(json_object_get(w, "metrics"));
        struct st_metrics_snapshot *snap = NULL;
        struct st_err perr = {0};
        if ((rc = stat_record_u64(w, "fromMs", max_ms, &from, err)) < 0)
            goto fail;
        if (from > out->end_ms || from + STAT_RECORD_SLACK_MS < out->start_ms) {
            rc = st_err_set(err, ST_EINVAL, "window %zu starts outside the client's life", i);
            goto fail;
        }
        if (i > 0 && from <= out->wins[out->n_wins - 1].from_ms) {
            rc = st_err_set(err, ST_EINVAL, "windows are not in ascending order");
            goto fail;
        }
        if (text == NULL) {
            rc = st_err_set(err, ST_EPARSE, "window %zu has no metrics text", i);
            goto fail;
        }
        rc = st_metrics_parse_text(text, json_string_length(json_object_get(w, "metrics")), &caps,
                                   &snap, &perr);
        if (rc < 0) {
            rc = st_err_set(err, rc, "window %zu: %s", i, perr.msg);
            goto fail;
        }
        snap->time_ms = out->end_ms - from;
        if ((rc = stat_record_add(out, from, snap)) < 0) {
            rc = st_err_set(err, rc, "window %zu cannot be added", i);
            goto fail;
        }
    }
    json_decref(o);
    return 0;

fail:
    json_decref(o);
    stat_record_free(out);
    return rc;
}

const struct st_metrics_snapshot *
stat_record_window(const struct stat_record *r, uint64_t now_ms, uint64_t window_ms,
                   uint64_t *len_ms)
{
    uint64_t cut = now_ms > window_ms ? now_ms - window_ms : 0;
    size_t pick = 0;

    if (r->n_wins == 0 || r->end_ms <= cut)
        return NULL;
    /* The newest history record at least <window_ms> old, as st_metrics_history_window picks. */
    for (size_t i = 1; i < r->n_wins; i++)
        if (r->wins[i].from_ms <= cut)
            pick = i;
    *len_ms = now_ms > r->wins[pick].from_ms ? now_ms - r->wins[pick].from_ms : 1;
    return r->wins[pick].snap;
}

int
stat_record_prune(const char *dir, uint64_t now_ms)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int removed = 0;

    if (d == NULL)
        return -errno;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        if (!st_str_has_suffix(e->d_name, ".json") || e->d_name[0] == '.')
            continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        uint64_t mtime =
            (uint64_t)st.st_mtim.tv_sec * 1000u + (uint64_t)st.st_mtim.tv_nsec / 1000000u;
        if (st.st_mtim.tv_sec >= 0 && mtime + STAT_RECORD_KEEP_MS < now_ms &&
            unlinkat(dirfd(d), e->d_name, 0) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}
