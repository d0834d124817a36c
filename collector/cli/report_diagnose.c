/*
 * report_diagnose — the diagnose output (report_diagnose in report.h):
 * the findings with their evidence and next steps, as text or JSON.
 */
#include "report.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "discover.h"
#include "report_internal.h"
#include "spec.h"

static void print_names(FILE *out, const char *label, const struct analysis_list *l)
{
    if (l->n == 0)
        return;
    fprintf(out, "   %-9s ", label);
    for (size_t i = 0; i < l->n; i++)
        fprintf(out, "%s%s", i ? ", " : "", l->v[i]);
    fputc('\n', out);
}

int report_diagnose(FILE *out, const struct analysis_input *in, const struct analysis_diagnosis *d,
                    bool json)
{
    if (json) {
        json_t *o = report_head_json(in, d);
        json_object_set_new(o, "findings", report_findings_json(in, d));
        return report_print_json(out, o);
    }
    char now[40];
    clock_format_iso_us(in->now_us, false, now, sizeof(now));
    fprintf(out, "%s: ", in->target);
    switch (d->status) {
    case ANALYSIS_STATUS_NO_DATA:
        fprintf(out,
                "no data. No agent has reported on it recently (%zu known). Check that the "
                "agents run and reach the collector (vantage-collector agents).\n",
                d->agents);
        return 0;
    case ANALYSIS_STATUS_OK:
        fprintf(out, "healthy. Every check passes from %zu agents on %zu networks (%s).\n",
                d->reporting, d->networks, now);
        return 0;
    case ANALYSIS_STATUS_PROBLEM:
    case ANALYSIS_STATUS_WARNING:
        break;
    }
    size_t nwarn = 0;
    for (size_t i = 0; i < d->nfindings; i++)
        nwarn += d->findings[i].severity == ANALYSIS_SEVERITY_WARNING;
    size_t nprob = d->nfindings - nwarn;
    if (nprob > 0 && nwarn > 0)
        fprintf(out, "%zu problem%s and %zu warning%s", nprob, nprob == 1 ? "" : "s", nwarn,
                nwarn == 1 ? "" : "s");
    else if (nprob > 0)
        fprintf(out, "%zu problem%s found", nprob, nprob == 1 ? "" : "s");
    else
        fprintf(out, "%zu warning%s, no problem: every check works", nwarn, nwarn == 1 ? "" : "s");
    fprintf(out, ", seen from %zu of %zu agents on %zu networks (%s).\n", d->reporting, d->agents,
            d->networks, now);
    /* Findings come problems first (analysis_diagnose): the warnings
     * follow under their own heading, numbered apart. */
    for (size_t i = 0, shown = 0; i < d->nfindings; i++) {
        const struct analysis_finding *f = &d->findings[i];
        if (f->severity == ANALYSIS_SEVERITY_WARNING &&
            (i == 0 || d->findings[i - 1].severity != ANALYSIS_SEVERITY_WARNING)) {
            fprintf(out, "\nWarnings (working now, but act before users notice):\n");
            shown = 0;
        } else if (i == 0 && nwarn > 0) {
            fprintf(out, "\nProblems:\n");
        }
        shown++;
        char start[40];
        clock_format_iso_us(f->started_at_us, false, start, sizeof(start));
        const char *layer = report_layer_name(f->layer);
        fprintf(out, "\n%zu. %s%s%s%s — %s\n", shown, analysis_verdict_name(f->verdict),
                layer ? " (" : "", layer ? layer : "", layer ? ")" : "", f->summary);
        fprintf(out, "   %-9s %s%s\n", "since", start, f->flapping ? " (flapping)" : "");
        print_names(out, "checks", &f->checks);
        print_names(out, "networks", &f->networks);
        print_names(out, "agents", &f->agents);
        print_names(out, "healthy", &f->healthy_networks);
        fprintf(out, "   evidence\n");
        for (size_t j = 0; j < f->evidence.n; j++)
            fprintf(out, "     - %s\n", f->evidence.v[j]);
        fprintf(out, "   next steps\n");
        for (size_t j = 0; j < f->next_steps.n; j++)
            fprintf(out, "     %zu. %s\n", j + 1, f->next_steps.v[j]);
    }
    return ferror(out) ? -1 : 0;
}
