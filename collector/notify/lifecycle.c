/*
 * lifecycle — finding ids and the opened/changed/resolved rules
 * (lifecycle.h).
 */
#include "lifecycle.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "result.h"

/* ---- ids ---- */

static void fnv(uint64_t *h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        *h ^= *p;
        *h *= 1099511628211ULL;
    }
    *h ^= 0xff; /* a separator: "ab","c" differs from "a","bc" */
    *h *= 1099511628211ULL;
}

/* The host of a check spec: between "://" (and any user@) and the port,
 * path or query. */
static void spec_host(const char *spec, char *out, size_t len)
{
    const char *p = strstr(spec, "://");
    p = p ? p + 3 : spec;
    const char *at = strchr(p, '@');
    const char *stop = p + strcspn(p, "/?#");
    if (at != NULL && at < stop)
        p = at + 1;
    size_t n;
    if (*p == '[')
        n = strcspn(p, "]") + 1;
    else
        n = strcspn(p, ":/?#");
    if (n >= len)
        n = len - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

static const char *layer_text(enum result_layer l)
{
    return l == RESULT_LAYER_NONE ? "" : result_layer_name(l);
}

void lifecycle_finding_id(const char *target, const struct analysis_finding *f, char *out,
                          size_t len)
{
    char scope[256] = "";
    if (f->verdict == ANALYSIS_NETWORK && f->networks.n > 0)
        snprintf(scope, sizeof(scope), "network %s", f->networks.v[0]);
    else if (f->verdict == ANALYSIS_DEVICE && f->agents.n > 0)
        snprintf(scope, sizeof(scope), "agent %s", f->agents.v[0]);
    else if (f->checks.n > 0)
        spec_host(f->checks.v[0], scope, sizeof(scope));
    uint64_t h = 1469598103934665603ULL;
    fnv(&h, target);
    fnv(&h, analysis_verdict_name(f->verdict));
    fnv(&h, layer_text(f->layer));
    fnv(&h, scope);
    snprintf(out, len, "f-%016llx", (unsigned long long)h);
}

/* ---- the rows of a target ---- */

struct row {
    struct store_finding f; /* strings below are owned copies */
    char *id, *target, *severity, *verdict, *layer, *json;
    json_t *obj; /* json parsed: the scope to compare */
    bool matched;
};

struct rows {
    struct row *v;
    size_t n, cap;
    bool oom;
};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int add_row(const struct store_finding *f, void *arg)
{
    struct rows *r = arg;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct row *v = realloc(r->v, cap * sizeof(*v));
        if (v == NULL) {
            r->oom = true;
            return 1;
        }
        r->v = v;
        r->cap = cap;
    }
    struct row *w = &r->v[r->n];
    memset(w, 0, sizeof(*w));
    w->f = *f;
    w->id = dup_or_null(f->id);
    w->target = dup_or_null(f->target);
    w->severity = dup_or_null(f->severity);
    w->verdict = dup_or_null(f->verdict);
    w->layer = dup_or_null(f->layer);
    w->json = dup_or_null(f->json);
    json_error_t jerr;
    w->obj = json_loads(f->json ? f->json : "{}", 0, &jerr);
    r->n++;
    if (w->id == NULL || w->target == NULL || w->json == NULL) {
        r->oom = true;
        return 1;
    }
    return 0;
}

static void rows_clear(struct rows *r)
{
    for (size_t i = 0; i < r->n; i++) {
        struct row *w = &r->v[i];
        free(w->id);
        free(w->target);
        free(w->severity);
        free(w->verdict);
        free(w->layer);
        free(w->json);
        json_decref(w->obj);
    }
    free(r->v);
    *r = (struct rows){0};
}

/* Every finding of target the store holds: pending, open and resolved. */
static int rows_load(struct store *s, const char *target, struct rows *r, char *err, size_t errlen)
{
    struct store_finding_filter f = {.target = target, .with_pending = true};
    if (store_findings_each(s, &f, add_row, r) < 0) {
        snprintf(err, errlen, "reading the findings of %s: %s", target, store_error(s));
        rows_clear(r);
        return -1;
    }
    if (r->oom) {
        snprintf(err, errlen, "out of memory reading the findings of %s", target);
        rows_clear(r);
        return -1;
    }
    for (size_t i = 0; i < r->n; i++)
        r->v[i].f.id = r->v[i].id, r->v[i].f.target = r->v[i].target,
        r->v[i].f.severity = r->v[i].severity, r->v[i].f.verdict = r->v[i].verdict,
        r->v[i].f.layer = r->v[i].layer, r->v[i].f.json = r->v[i].json;
    return 0;
}

static bool json_list_has(json_t *obj, const char *key, const struct analysis_list *l)
{
    json_t *a = json_object_get(obj, key);
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        const char *s = json_string_value(v);
        for (size_t j = 0; s != NULL && j < l->n; j++)
            if (strcmp(s, l->v[j]) == 0)
                return true;
    }
    return false;
}

static bool same_text(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Whether row w is finding f under a changed scope. */
static bool overlaps(const struct row *w, const struct analysis_finding *f)
{
    if (!same_text(w->verdict, analysis_verdict_name(f->verdict)) ||
        !same_text(w->layer, f->layer == RESULT_LAYER_NONE ? NULL : result_layer_name(f->layer)))
        return false;
    if (f->verdict == ANALYSIS_NETWORK)
        return json_list_has(w->obj, "networks", &f->networks);
    if (f->verdict == ANALYSIS_DEVICE)
        return json_list_has(w->obj, "agents", &f->agents);
    return json_list_has(w->obj, "checks", &f->checks);
}

static struct row *row_find(struct rows *r, const char *id)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->v[i].id, id) == 0)
            return &r->v[i];
    return NULL;
}

static bool live(const struct row *w)
{
    return w->f.state != STORE_FINDING_RESOLVED;
}

static int assign(struct rows *r, const char *target, struct analysis_diagnosis *d, char *err,
                  size_t errlen)
{
    for (size_t i = 0; i < d->nfindings; i++) {
        struct analysis_finding *f = &d->findings[i];
        char id[LIFECYCLE_ID_MAX];
        lifecycle_finding_id(target, f, id, sizeof(id));
        struct row *w = row_find(r, id);
        if (w == NULL || !live(w) || w->matched) {
            /* A live finding it continues with another scope. */
            for (size_t j = 0; j < r->n; j++)
                if (live(&r->v[j]) && !r->v[j].matched && overlaps(&r->v[j], f)) {
                    w = &r->v[j];
                    snprintf(id, sizeof(id), "%s", w->id);
                    break;
                }
        }
        if (w != NULL && w->matched) {
            /* Two findings with one derived id (a server failing two
             * ways): the second gets a suffix, stable while both last. */
            char base[LIFECYCLE_ID_MAX];
            lifecycle_finding_id(target, f, base, sizeof(base));
            for (int k = 2; k < 100; k++) {
                snprintf(id, sizeof(id), "%.18s-%d", base, k);
                w = row_find(r, id);
                if (w == NULL || !w->matched)
                    break;
            }
        }
        if (w != NULL)
            w->matched = true;
        free(f->id);
        if ((f->id = strdup(id)) == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    for (size_t i = 0; i < r->n; i++)
        r->v[i].matched = false;
    return 0;
}

int lifecycle_assign_ids(struct store *s, const char *target, struct analysis_diagnosis *d,
                         char *err, size_t errlen)
{
    struct rows r = {0};
    if (rows_load(s, target, &r, err, errlen) < 0)
        return -1;
    int rc = assign(&r, target, d, err, errlen);
    rows_clear(&r);
    return rc;
}

/* ---- one evaluation ---- */

/* Whether what a person acts on changed: severity or scope. */
static bool scope_changed(const struct row *w, const char *json_text)
{
    json_error_t jerr;
    json_t *o = json_loads(json_text, 0, &jerr);
    static const char *const keys[] = {"severity", "checks", "networks", "agents"};
    bool changed = false;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]) && !changed; i++) {
        json_t *now = json_object_get(o, keys[i]), *was = json_object_get(w->obj, keys[i]);
        /* json_equal() calls two absent values different. */
        changed = (now != NULL || was != NULL) && !json_equal(now, was);
    }
    json_decref(o);
    return changed;
}

static int emit(struct store *s, const struct store_finding *f, const char *event, int64_t now_us,
                lifecycle_event_cb cb, void *arg, char *err, size_t errlen)
{
    struct store_finding_event e = {
        .finding_id = f->id, .target = f->target, .at_us = now_us, .event = event, .json = f->json};
    if (store_finding_event_add(s, &e) < 0) {
        snprintf(err, errlen, "%s", store_error(s));
        return -1;
    }
    if (cb != NULL && cb(f, event, arg) < 0) {
        snprintf(err, errlen, "queueing the notifications of %s failed", f->id);
        return -1;
    }
    return 0;
}

static int put(struct store *s, const struct store_finding *f, char *err, size_t errlen)
{
    if (store_finding_put(s, f) < 0) {
        snprintf(err, errlen, "%s", store_error(s));
        return -1;
    }
    return 0;
}

int lifecycle_apply(struct store *s, const char *target, const struct analysis_diagnosis *d,
                    const char *const *json, int64_t now_us, lifecycle_event_cb cb, void *arg,
                    char *err, size_t errlen)
{
    struct rows r = {0};
    if (rows_load(s, target, &r, err, errlen) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < d->nfindings && rc == 0; i++) {
        const struct analysis_finding *fd = &d->findings[i];
        if (fd->id == NULL)
            continue;
        struct row *w = row_find(&r, fd->id);
        const char *layer = fd->layer == RESULT_LAYER_NONE ? NULL : result_layer_name(fd->layer);
        struct store_finding f = {
            .id = fd->id,
            .target = target,
            .severity = analysis_severity_name(fd->severity),
            .verdict = analysis_verdict_name(fd->verdict),
            .layer = layer,
            .state = STORE_FINDING_PENDING,
            .seen = 1,
            .first_seen_us = now_us,
            .started_at_us = fd->started_at_us,
            .updated_at_us = now_us,
            .json = json[i],
        };
        const char *event = NULL;
        if (w != NULL && w->matched)
            continue; /* cannot happen: ids are unique per evaluation */
        if (w != NULL && live(w)) {
            w->matched = true;
            f.state = w->f.state;
            f.seen = w->f.seen < UINT32_MAX ? w->f.seen + 1 : w->f.seen;
            f.first_seen_us = w->f.first_seen_us;
            f.opened_at_us = w->f.opened_at_us;
            if (f.state == STORE_FINDING_PENDING && f.seen >= LIFECYCLE_OPEN_AFTER) {
                f.state = STORE_FINDING_OPEN;
                f.opened_at_us = now_us;
                event = "opened";
            } else if (f.state == STORE_FINDING_OPEN && scope_changed(w, json[i])) {
                event = "changed";
            }
        } else if (w != NULL) {
            w->matched = true; /* a resolved finding back: a new life, same id */
        }
        rc = put(s, &f, err, errlen);
        if (rc == 0 && event != NULL)
            rc = emit(s, &f, event, now_us, cb, arg, err, errlen);
    }
    for (size_t i = 0; i < r.n && rc == 0; i++) {
        struct row *w = &r.v[i];
        if (w->matched || !live(w))
            continue;
        if (w->f.state == STORE_FINDING_PENDING) {
            /* Held once only: never opened, nothing to tell. */
            if (store_finding_delete(s, w->id) < 0) {
                snprintf(err, errlen, "%s", store_error(s));
                rc = -1;
            }
            continue;
        }
        struct store_finding f = w->f;
        f.clean++;
        f.seen = 0;
        f.updated_at_us = now_us;
        const char *event = NULL;
        if (f.clean >= LIFECYCLE_RESOLVE_AFTER) {
            f.state = STORE_FINDING_RESOLVED;
            f.resolved_at_us = now_us;
            event = "resolved";
        }
        rc = put(s, &f, err, errlen);
        if (rc == 0 && event != NULL)
            rc = emit(s, &f, event, now_us, cb, arg, err, errlen);
    }
    rows_clear(&r);
    return rc;
}
