/*
 * history — hourly history output (history.h).
 */
#include "history.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "rollup.h"
#include "spec.h"

/* Failing hours timeline reads at most: a year of one check failing
 * every hour on a few networks. */
#define HISTORY_FAIL_HOURS_MAX 100000

static json_t *str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

static int print_json(FILE *out, json_t *o)
{
    char *line = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (line == NULL)
        return -1;
    fprintf(out, "%s\n", line);
    free(line);
    return 0;
}

static void iso(int64_t us, char *buf, size_t len)
{
    clock_format_iso_us(us, false, buf, len);
}

struct list_ctx {
    FILE *out;
    bool json;
    size_t n;
};

static int print_hour(const struct store_rollup *h, void *arg)
{
    struct list_ctx *x = arg;
    const struct rollup *r = &h->r;
    bool failed = r->ok < r->n;
    uint64_t mean = r->n > 0 ? r->total_us_sum / r->n : 0;
    char hour[40], first[40] = "";
    iso(h->hour_us, hour, sizeof(hour));
    if (failed) /* to the millisecond: "when did it start?" */
        clock_format_iso_us(r->first_fail_us, true, first, sizeof(first));
    const char *layer = failed ? result_layer_name((enum result_layer)r->fail_layer) : NULL;
    const char *error = failed ? result_error_name((enum result_error)r->fail_error) : NULL;
    x->n++;
    if (x->json) {
        json_t *o = json_object();
        json_object_set_new(o, "hour", json_string(hour));
        json_object_set_new(o, "target", str_or_null(h->target));
        json_object_set_new(o, "network", str_or_null(h->network));
        json_object_set_new(o, "check", str_or_null(h->check));
        json_object_set_new(o, "results", json_integer((json_int_t)r->n));
        json_object_set_new(o, "ok", json_integer((json_int_t)r->ok));
        json_object_set_new(o, "failed", json_integer((json_int_t)(r->n - r->ok)));
        json_object_set_new(o, "total_us_mean", json_integer((json_int_t)mean));
        json_object_set_new(o, "total_us_max", json_integer((json_int_t)r->total_us_max));
        json_object_set_new(o, "first_failure_at", failed ? json_string(first) : json_null());
        json_object_set_new(o, "layer", str_or_null(layer));
        json_object_set_new(o, "error", str_or_null(error));
        return print_json(x->out, o) < 0 ? -1 : 0;
    }
    if (x->n == 1)
        fprintf(x->out, "%-20s %-14s %-40s %7s %7s %9s %9s  %-24s %s\n", "HOUR", "NETWORK", "CHECK",
                "RESULTS", "FAILED", "MEAN", "MAX", "FIRST FAILURE", "ERROR");
    fprintf(x->out, "%-20s %-14s %-40s %7llu %7llu %7.1fms %7.1fms  %s%s%s\n", hour,
            h->network ? h->network : "-", h->check, (unsigned long long)r->n,
            (unsigned long long)(r->n - r->ok), (double)mean / 1000.0,
            (double)r->total_us_max / 1000.0, failed ? first : "-", failed ? " " : "",
            error ? error : "");
    return 0;
}

int history_write(struct store *s, const struct store_rollup_filter *f, bool json, FILE *out)
{
    struct store_rollup_filter g = *f;
    char canon[SPEC_TEXT_MAX + 1], perr[256];
    struct spec sp;
    /* A check as the configuration writes it is stored in canonical form
     * (imaps://host, default port left out). */
    if (f->check != NULL && spec_parse(f->check, &sp, perr, sizeof(perr)) == 0) {
        spec_format(&sp, canon, sizeof(canon));
        g.check = canon;
    }
    struct list_ctx x = {.out = out, .json = json};
    if (store_rollups_each(s, &g, print_hour, &x) < 0) {
        fprintf(stderr, "vantage-collector: cannot read the hourly history: %s\n", store_error(s));
        return 2;
    }
    if (x.n == 0 && !json)
        fprintf(out,
                "No hourly history of %s matches%s%s%s%s (hours are aggregated while serve runs, "
                "within seconds of their results).\n",
                f->target, f->network ? " on network " : "", f->network ? f->network : "",
                f->check ? " for " : "", f->check ? g.check : "");
    if (ferror(out)) {
        fprintf(stderr, "vantage-collector: cannot write the output\n");
        return 2;
    }
    return 0;
}

int history_list(const struct collconf *c, const struct store_rollup_filter *f, bool json,
                 FILE *out)
{
    char err[STORE_ERR_MAX];
    struct store *s = store_open_flags(c->database, STORE_OPEN_READONLY, err, sizeof(err));
    if (s == NULL) {
        char msg[STORE_ERR_MAX + 512];
        collconf_error(c, "database", err, msg, sizeof(msg));
        fprintf(stderr, "vantage-collector: %s\n", msg);
        return 2;
    }
    int rc = history_write(s, f, json, out);
    store_close(&s);
    return rc;
}

/* ---- failures before retention, for timeline --------------------------- */

/* One failing hour, or a run of them once merged. */
struct run {
    char *network; /* NULL: none */
    char *check;
    int64_t from_us, until_us; /* first hour's start, last hour's end */
    struct rollup r;
};

struct runs {
    struct run *v;
    size_t n, cap;
    bool oom;
};

static int add_fail_hour(const struct store_rollup *h, void *arg)
{
    struct runs *w = arg;
    if (h->r.ok >= h->r.n)
        return 0;
    if (w->n == HISTORY_FAIL_HOURS_MAX)
        return 1; /* enough for HISTORY_RUNS_MAX runs of any length */
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        struct run *v = realloc(w->v, cap * sizeof(*v));
        if (v == NULL) {
            w->oom = true;
            return 1;
        }
        w->v = v;
        w->cap = cap;
    }
    struct run *r = &w->v[w->n];
    *r = (struct run){.from_us = h->hour_us, .until_us = h->hour_us + ROLLUP_HOUR_US, .r = h->r};
    r->network = h->network ? strdup(h->network) : NULL;
    r->check = strdup(h->check);
    if (r->check == NULL || (h->network != NULL && r->network == NULL)) {
        free(r->network);
        free(r->check);
        w->oom = true;
        return 1;
    }
    w->n++;
    return 0;
}

static int cmp_str(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

static int cmp_key_time(const void *pa, const void *pb)
{
    const struct run *a = pa, *b = pb;
    int c = cmp_str(a->network, b->network);
    if (c == 0)
        c = strcmp(a->check, b->check);
    if (c == 0 && a->from_us != b->from_us)
        c = a->from_us < b->from_us ? -1 : 1;
    return c;
}

static int cmp_first_fail(const void *pa, const void *pb)
{
    const struct run *a = pa, *b = pb;
    if (a->r.first_fail_us != b->r.first_fail_us)
        return a->r.first_fail_us < b->r.first_fail_us ? -1 : 1;
    return cmp_key_time(pa, pb);
}

static int print_run(const struct run *r, bool json, FILE *out)
{
    char at[40], from[40], until[40];
    iso(r->r.first_fail_us, at, sizeof(at));
    iso(r->from_us, from, sizeof(from));
    iso(r->until_us, until, sizeof(until));
    const char *layer = result_layer_name((enum result_layer)r->r.fail_layer);
    const char *error = result_error_name((enum result_error)r->r.fail_error);
    if (json) {
        json_t *o = json_object();
        json_object_set_new(o, "at", json_string(at));
        json_object_set_new(o, "event", json_string("failures"));
        json_object_set_new(o, "network", str_or_null(r->network));
        json_object_set_new(o, "check", json_string(r->check));
        json_object_set_new(o, "from", json_string(from));
        json_object_set_new(o, "until", json_string(until));
        json_object_set_new(o, "results", json_integer((json_int_t)r->r.n));
        json_object_set_new(o, "failed", json_integer((json_int_t)(r->r.n - r->r.ok)));
        json_object_set_new(o, "layer", str_or_null(layer));
        json_object_set_new(o, "error", str_or_null(error));
        return print_json(out, o);
    }
    fprintf(out, "%s  %-14s %-22s %s on network %s: %llu of %llu failed until %s\n", at, "failures",
            error ? error : "?", r->check, r->network ? r->network : "-",
            (unsigned long long)(r->r.n - r->r.ok), (unsigned long long)r->r.n, until);
    return 0;
}

int history_failures_write(struct store *s, const char *target, int64_t before_us, bool json,
                           FILE *out, size_t *n, char *err, size_t errlen)
{
    *n = 0;
    struct runs w = {0};
    struct store_rollup_filter f = {.target = target, .before_us = before_us};
    int rc = 0;
    if (store_rollups_each(s, &f, add_fail_hour, &w) < 0) {
        snprintf(err, errlen, "reading the hourly history of %s: %s", target, store_error(s));
        rc = -1;
    } else if (w.oom) {
        snprintf(err, errlen, "out of memory reading the hourly history of %s", target);
        rc = -1;
    }
    /* Consecutive failing hours of one (network, check) are one run. */
    size_t runs = 0;
    if (rc == 0 && w.n > 0) {
        qsort(w.v, w.n, sizeof(*w.v), cmp_key_time);
        for (size_t i = 0; i < w.n; i++) {
            struct run *last = runs > 0 ? &w.v[runs - 1] : NULL;
            if (last != NULL && cmp_str(last->network, w.v[i].network) == 0 &&
                strcmp(last->check, w.v[i].check) == 0 && last->until_us == w.v[i].from_us) {
                last->until_us = w.v[i].until_us;
                rollup_merge(&last->r, &w.v[i].r);
                free(w.v[i].network);
                free(w.v[i].check);
                continue;
            }
            w.v[runs++] = w.v[i];
        }
        qsort(w.v, runs, sizeof(*w.v), cmp_first_fail);
        size_t first = runs > HISTORY_RUNS_MAX ? runs - HISTORY_RUNS_MAX : 0;
        for (size_t i = first; i < runs && rc == 0; i++) {
            rc = print_run(&w.v[i], json, out);
            if (rc == 0)
                (*n)++;
        }
        if (rc < 0)
            snprintf(err, errlen, "cannot write the output");
    } else {
        runs = w.n; /* only on error: free what was read */
    }
    for (size_t i = 0; i < runs; i++) {
        free(w.v[i].network);
        free(w.v[i].check);
    }
    free(w.v);
    return rc;
}
