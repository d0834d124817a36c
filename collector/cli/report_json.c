/*
 * report_json — the JSON pieces diagnose, compare and timeline share
 * (report_internal.h), and the finding object (report_finding_json).
 */
#include "report.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "discover.h"
#include "report_internal.h"
#include "spec.h"

json_t *report_time_json(int64_t us)
{
    char buf[40];
    clock_format_iso_us(us, false, buf, sizeof(buf));
    return json_string(buf);
}

json_t *report_str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

static json_t *list_json(const struct analysis_list *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(a, json_string(l->v[i]));
    return a;
}

const char *report_layer_name(enum result_layer l)
{
    return l == RESULT_LAYER_NONE ? NULL : result_layer_name(l);
}

static json_t *finding_json(const struct analysis_input *in, const struct analysis_finding *f)
{
    json_t *o = json_object();
    if (f->id != NULL)
        json_object_set_new(o, "id", json_string(f->id));
    json_object_set_new(o, "severity", json_string(analysis_severity_name(f->severity)));
    json_object_set_new(o, "verdict", json_string(analysis_verdict_name(f->verdict)));
    json_object_set_new(o, "layer", report_str_or_null(report_layer_name(f->layer)));
    json_object_set_new(o, "error", report_str_or_null(result_error_name(f->error)));
    json_object_set_new(o, "checks", list_json(&f->checks));
    json_object_set_new(o, "networks", list_json(&f->networks));
    json_object_set_new(o, "agents", list_json(&f->agents));
    json_object_set_new(o, "healthy_networks", list_json(&f->healthy_networks));
    json_object_set_new(o, "healthy_agents", list_json(&f->healthy_agents));
    json_object_set_new(o, "started_at", report_time_json(f->started_at_us));
    json_t *ch = json_array();
    for (size_t i = 0; i < f->nchanges; i++) {
        const struct analysis_change *c = &in->changes[f->changes[i]];
        json_t *co = json_object();
        json_object_set_new(co, "at", report_time_json(c->at_us));
        json_object_set_new(co, "kind", report_str_or_null(c->kind));
        json_object_set_new(co, "subject", report_str_or_null(c->subject));
        json_object_set_new(co, "before", report_str_or_null(c->before));
        json_object_set_new(co, "after", report_str_or_null(c->after));
        json_array_append_new(ch, co);
    }
    json_object_set_new(o, "correlated_changes", ch);
    json_object_set_new(o, "summary", report_str_or_null(f->summary));
    json_object_set_new(o, "evidence", list_json(&f->evidence));
    json_object_set_new(o, "next_steps", list_json(&f->next_steps));
    return o;
}

json_t *report_finding_json(const struct analysis_input *in, const struct analysis_finding *f)
{
    return finding_json(in, f);
}

/* The fields diagnose and compare share, in the contract's order. */
json_t *report_head_json(const struct analysis_input *in, const struct analysis_diagnosis *d)
{
    json_t *o = json_object();
    json_object_set_new(o, "target", report_str_or_null(in->target));
    json_object_set_new(o, "generated_at", report_time_json(in->now_us));
    json_t *vp = json_object();
    json_object_set_new(vp, "agents", json_integer((json_int_t)d->agents));
    json_object_set_new(vp, "networks", json_integer((json_int_t)d->networks));
    json_object_set_new(vp, "reporting", json_integer((json_int_t)d->reporting));
    json_object_set_new(o, "vantage_points", vp);
    json_object_set_new(o, "status", json_string(analysis_status_name(d->status)));
    return o;
}

json_t *report_findings_json(const struct analysis_input *in, const struct analysis_diagnosis *d)
{
    json_t *a = json_array();
    for (size_t i = 0; i < d->nfindings; i++)
        json_array_append_new(a, finding_json(in, &d->findings[i]));
    return a;
}

int report_print_json(FILE *out, json_t *o)
{
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (line == NULL)
        return -1;
    int rc = fprintf(out, "%s\n", line) < 0 ? -1 : 0;
    free(line);
    return rc;
}
