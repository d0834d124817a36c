/*
 * check — the Nagios/Icinga plugin (check.h).
 */
#include "check.h"

#include <string.h>

#include "analysis.h"
#include "clock.h"
#include "report.h"
#include "store.h"

static const char *const status_names[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};

/* Plugin output is one line: newlines and the perfdata separator '|'
 * out of a summary would break it. */
static void one_line(const char *in, char *out, size_t len)
{
    size_t j = 0;
    for (size_t i = 0; in != NULL && in[i] != '\0' && j + 1 < len; i++)
        out[j++] = in[i] == '\n' || in[i] == '\r' ? ' ' : in[i] == '|' ? '/' : in[i];
    out[j] = '\0';
}

static int count_open(const struct store_finding *f, void *arg)
{
    (void)f;
    (*(size_t *)arg)++;
    return 0;
}

int check_run(const struct collconf *c, const char *target, FILE *out)
{
    const struct wire_target *t = collconf_target(c, target);
    if (t == NULL) {
        fprintf(out, "VANTAGE UNKNOWN - no target '%s' in %s\n", target,
                c->path ? c->path : "the configuration");
        return CHECK_UNKNOWN;
    }
    char err[STORE_ERR_MAX + 128];
    struct store *s = store_open_flags(c->database, STORE_OPEN_READONLY, err, sizeof(err));
    if (s == NULL) {
        one_line(err, err, sizeof(err));
        fprintf(out, "VANTAGE UNKNOWN - %s: cannot read the database: %s\n", target, err);
        return CHECK_UNKNOWN;
    }
    int64_t now = clock_wall_us();
    struct report_snapshot *snap = report_snapshot_load(s, t, now, false, err, sizeof(err));
    if (snap == NULL) {
        one_line(err, err, sizeof(err));
        fprintf(out, "VANTAGE UNKNOWN - %s: %s\n", target, err);
        store_close(&s);
        return CHECK_UNKNOWN;
    }
    struct analysis_input in = *report_snapshot_input(snap);
    collconf_warnings_into(c, t->name, &in);
    struct analysis_diagnosis d;
    int rc;
    if (analysis_diagnose(&in, &d, err, sizeof(err)) < 0) {
        fprintf(out, "VANTAGE UNKNOWN - %s: %s\n", target, err);
        report_snapshot_destroy(&snap);
        store_close(&s);
        return CHECK_UNKNOWN;
    }
    size_t problems = 0, warnings = 0, open = 0;
    for (size_t i = 0; i < d.nfindings; i++) {
        if (d.findings[i].severity == ANALYSIS_SEVERITY_PROBLEM)
            problems++;
        else
            warnings++;
    }
    /* Open findings of the running collector: perfdata only (0 when it
     * does not run continuous diagnosis). */
    if (store_open_findings(s, target, count_open, &open) < 0)
        open = 0;
    char text[512];
    switch (d.status) {
    case ANALYSIS_STATUS_NO_DATA:
        rc = CHECK_UNKNOWN;
        snprintf(text, sizeof(text),
                 "%s: no data, no agent has reported on it recently (%zu known)", target, d.agents);
        break;
    case ANALYSIS_STATUS_OK:
        rc = CHECK_OK;
        snprintf(text, sizeof(text),
                 "%s: healthy, every check passes from %zu agents on %zu networks", target,
                 d.reporting, d.networks);
        break;
    default: {
        rc = d.status == ANALYSIS_STATUS_PROBLEM ? CHECK_CRITICAL : CHECK_WARNING;
        const struct analysis_finding *f = &d.findings[0];
        char summary[384];
        one_line(f->summary, summary, sizeof(summary));
        const char *layer = f->layer == RESULT_LAYER_NONE ? NULL : result_layer_name(f->layer);
        snprintf(text, sizeof(text), "%s: %zu problem%s, %zu warning%s: %s%s%s%s: %s", target,
                 problems, problems == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s",
                 analysis_verdict_name(f->verdict), layer ? " (" : "", layer ? layer : "",
                 layer ? ")" : "", summary);
        break;
    }
    }
    fprintf(out,
            "VANTAGE %s - %s | problems=%zu;;1;0 warnings=%zu;1;;0 open_findings=%zu;;;0 "
            "agents=%zu;;;0 reporting=%zu;;;0 networks=%zu;;;0\n",
            status_names[rc], text, problems, warnings, open, d.agents, d.reporting, d.networks);
    analysis_diagnosis_clear(&d);
    report_snapshot_destroy(&snap);
    store_close(&s);
    return rc;
}
