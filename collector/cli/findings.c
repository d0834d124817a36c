/*
 * findings — the findings command (findings.h).
 */
#include "findings.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "clock.h"
#include "store.h"

struct list_ctx {
    FILE *out;
    bool json;
    size_t n;
};

static json_t *time_json(int64_t us)
{
    char buf[40];
    clock_format_iso_us(us, false, buf, sizeof(buf));
    return json_string(buf);
}

static int print_obj(FILE *out, json_t *o)
{
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (line == NULL)
        return -1;
    fprintf(out, "%s\n", line);
    free(line);
    return 0;
}

/* The stored finding object with target (and the caller's fields). */
static json_t *finding_obj(const char *text, const char *target)
{
    json_error_t jerr;
    json_t *o = json_loads(text ? text : "{}", 0, &jerr);
    if (!json_is_object(o)) {
        json_decref(o);
        o = json_object();
    }
    json_object_set_new(o, "target", json_string(target));
    return o;
}

static const char *summary_of(json_t *o)
{
    const char *s = json_string_value(json_object_get(o, "summary"));
    return s ? s : "";
}

static const char *str_or(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "?";
}

static int print_event(const struct store_finding_event *e, void *arg)
{
    struct list_ctx *x = arg;
    x->n++;
    json_t *o = finding_obj(e->json, e->target);
    json_object_set_new(o, "event", json_string(e->event));
    json_object_set_new(o, "at", time_json(e->at_us));
    if (x->json)
        return print_obj(x->out, o);
    char at[40];
    clock_format_iso_us(e->at_us, false, at, sizeof(at));
    const char *layer = json_string_value(json_object_get(o, "layer"));
    if (x->n == 1)
        fprintf(x->out, "%-20s %-9s %-20s %-14s %-8s %s\n", "AT", "EVENT", "ID", "TARGET",
                "SEVERITY", "FINDING");
    fprintf(x->out, "%-20s %-9s %-20s %-14s %-8s %s%s%s%s — %s\n", at, e->event, e->finding_id,
            e->target, str_or(o, "severity"), str_or(o, "verdict"), layer ? " (" : "",
            layer ? layer : "", layer ? ")" : "", summary_of(o));
    json_decref(o);
    return 0;
}

static int print_open(const struct store_finding *f, void *arg)
{
    struct list_ctx *x = arg;
    x->n++;
    json_t *o = finding_obj(f->json, f->target);
    json_object_set_new(o, "opened_at", time_json(f->opened_at_us));
    if (x->json)
        return print_obj(x->out, o);
    char at[40];
    clock_format_iso_us(f->opened_at_us, false, at, sizeof(at));
    if (x->n == 1)
        fprintf(x->out, "%-20s %-20s %-14s %-8s %s\n", "OPENED", "ID", "TARGET", "SEVERITY",
                "FINDING");
    fprintf(x->out, "%-20s %-20s %-14s %-8s %s%s%s%s — %s\n", at, f->id, f->target, f->severity,
            f->verdict, f->layer ? " (" : "", f->layer ? f->layer : "", f->layer ? ")" : "",
            summary_of(o));
    json_decref(o);
    return 0;
}

int findings_write(struct store *s, const char *target, bool open_only, int64_t since_us, bool json,
                   FILE *out)
{
    struct list_ctx x = {.out = out, .json = json};
    int rc;
    if (open_only) {
        struct store_finding_filter f = {.target = target, .open_only = true, .since_us = 0};
        rc = store_findings_each(s, &f, print_open, &x);
    } else {
        rc = store_finding_events_each(s, target, since_us, print_event, &x);
    }
    if (rc < 0)
        fprintf(stderr, "vantage-collector: cannot read findings: %s\n", store_error(s));
    else if (x.n == 0 && !json)
        fprintf(out, "%s\n",
                open_only ? "No finding is open."
                          : "No finding was opened (findings are kept while 'serve' runs: every "
                            "evaluate_every it diagnoses every target).");
    return rc < 0 ? 2 : 0;
}

int findings_list(const struct collconf *c, const char *target, bool open_only, int64_t since_us,
                  bool json, FILE *out)
{
    if (target != NULL && collconf_target(c, target) == NULL) {
        fprintf(stderr, "vantage-collector: no target '%s' in %s\n", target,
                c->path ? c->path : "the configuration");
        return 2;
    }
    char err[STORE_ERR_MAX];
    struct store *s = store_open_flags(c->database, STORE_OPEN_READONLY, err, sizeof(err));
    if (s == NULL) {
        fprintf(stderr, "vantage-collector: %s\n", err);
        return 2;
    }
    int rc = findings_write(s, target, open_only, since_us, json, out);
    store_close(&s);
    return rc;
}
