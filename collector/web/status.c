/*
 * status — the status page (status.h).
 */
#include "status.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "cli.h"
#include "clock.h"
#include "html.h"
#include "report.h"

/* Bars of the latency chart: pixels per bar and for the longest. */
#define CHART_BAR_H   18
#define CHART_BAR_W   360
#define CHART_LABEL_W 300

static const char style[] =
    "body{font-family:sans-serif;margin:1.5em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1em}"
    "td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%;text-align:left}"
    ".ok{background:#d4f4d4}.fail{background:#f8c8c8}.flapping{background:#fbe3b0}"
    ".stale,.absent{background:#eee;color:#777}"
    ".problem{color:#a00}.warning{color:#a60}.no_data{color:#777}"
    "div.finding{border-left:4px solid #a00;padding-left:.8em;margin:1em 0;color:#222}"
    "div.finding.warning{border-color:#d90}"
    "svg text{font-size:12px;font-family:sans-serif}"
    "svg .bar{fill:#4a7fb0}svg .barfail{fill:#c44}";

const char *status_style(void)
{
    return style;
}

static void head(FILE *out, const char *title)
{
    html_printf(out,
                "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<title>%s</title><style>",
                title);
    fputs(style, out);
    fputs("</style></head><body>\n", out);
}

static void when(FILE *out, int64_t us)
{
    char buf[40];
    clock_format_iso_us(us, false, buf, sizeof(buf));
    html_escape(out, buf);
}

/* ---- overview ------------------------------------------------------------- */

static unsigned overview(const struct collconf *c, struct store *s, int64_t now_us, FILE *out)
{
    head(out, "Vantage");
    html_printf(out,
                "<h1>Vantage: %zu targets</h1>\n<table><tr><th>target</th><th>status</th>"
                "<th>findings</th></tr>\n",
                c->targets.ntargets);
    unsigned rc = 200;
    for (size_t i = 0; i < c->targets.ntargets; i++) {
        const struct wire_target *t = &c->targets.targets[i];
        char err[STORE_ERR_MAX + 128];
        struct report_snapshot *snap = report_snapshot_load(s, t, now_us, false, err, sizeof(err));
        if (snap == NULL) {
            rc = 500;
            break;
        }
        struct analysis_input in = cli_input(c, snap, t);
        struct analysis_diagnosis d;
        if (analysis_diagnose(&in, &d, err, sizeof(err)) < 0) {
            analysis_diagnosis_clear(&d);
            report_snapshot_destroy(&snap);
            rc = 500;
            break;
        }
        const char *st = analysis_status_name(d.status);
        html_printf(out,
                    "<tr><td><a href=\"/status?target=%s\">%s</a></td><td class=\"%s\">%s</td><td>",
                    t->name, t->name, st, st);
        for (size_t k = 0; k < d.nfindings; k++)
            html_printf(out, "%s%s", k ? "<br>" : "", d.findings[k].summary);
        fputs("</td></tr>\n", out);
        analysis_diagnosis_clear(&d);
        report_snapshot_destroy(&snap);
    }
    fputs("</table>\n<p>Also: <a href=\"/metrics\">/metrics</a> (Prometheus), "
          "<a href=\"/api/v1/agents\">/api/v1/agents</a>.</p>\n",
          out);
    html_printf(out, "<p>Generated ");
    when(out, now_us);
    fputs("</p></body></html>\n", out);
    return rc;
}

/* ---- one target ------------------------------------------------------------ */

static void list(FILE *out, const char *tag, const struct analysis_list *l)
{
    if (l->n == 0)
        return;
    html_printf(out, "<%s>", tag);
    for (size_t i = 0; i < l->n; i++)
        html_printf(out, "<li>%s</li>", l->v[i]);
    html_printf(out, "</%s>\n", tag);
}

static void names(FILE *out, const char *label, const struct analysis_list *l)
{
    if (l->n == 0)
        return;
    html_printf(out, "<p>%s: ", label);
    for (size_t i = 0; i < l->n; i++)
        html_printf(out, "%s%s", i ? ", " : "", l->v[i]);
    fputs("</p>\n", out);
}

static void findings(FILE *out, const struct analysis_diagnosis *d)
{
    html_printf(out, "<h2>Open findings: %zu</h2>\n", d->nfindings);
    for (size_t i = 0; i < d->nfindings; i++) {
        const struct analysis_finding *f = &d->findings[i];
        const char *sev = analysis_severity_name(f->severity);
        html_printf(out, "<div class=\"finding %s\"><h3 class=\"%s\">%s: %s</h3>\n", sev, sev, sev,
                    f->summary);
        html_printf(out, "<p>verdict %s, layer %s, error %s, since ",
                    analysis_verdict_name(f->verdict), result_layer_name(f->layer),
                    result_error_name(f->error));
        when(out, f->started_at_us);
        fputs("</p>\n", out);
        names(out, "Failing from networks", &f->networks);
        names(out, "Agents", &f->agents);
        names(out, "Working from networks", &f->healthy_networks);
        names(out, "Checks", &f->checks);
        if (f->evidence.n)
            fputs("<h4>Evidence</h4>", out);
        list(out, "ul", &f->evidence);
        if (f->next_steps.n)
            fputs("<h4>Next steps</h4>", out);
        list(out, "ol", &f->next_steps);
        fputs("</div>\n", out);
    }
}

/* Distinct values of a field of the states, in first-seen order. */
struct names_set {
    const char **v;
    size_t n;
};

static int set_add(struct names_set *set, const char *s)
{
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->v[i], s) == 0)
            return 0;
    const char **v = realloc(set->v, (set->n + 1) * sizeof(*v));
    if (v == NULL)
        return -1;
    set->v = v;
    set->v[set->n++] = s;
    return 0;
}

/* The states by (check, agent), so that a matrix of a thousand agents
 * finds each cell without a scan. */
static int cmp_state(const void *pa, const void *pb)
{
    const struct analysis_state *a = *(const struct analysis_state *const *)pa;
    const struct analysis_state *b = *(const struct analysis_state *const *)pb;
    int c = strcmp(a->check, b->check);
    return c != 0 ? c : strcmp(a->agent, b->agent);
}

static const struct analysis_state *state_of(const struct analysis_state *const *idx, size_t n,
                                             const char *agent, const char *check)
{
    struct analysis_state key = {.agent = agent, .check = check};
    const struct analysis_state *kp = &key;
    const struct analysis_state *const *hit = bsearch(&kp, idx, n, sizeof(*idx), cmp_state);
    return hit ? *hit : NULL;
}

/* The matrix and latency chart of one network. */
static void network_section(FILE *out, const struct analysis_input *in,
                            const struct analysis_state *const *idx, const char *net,
                            const struct names_set *checks)
{
    struct names_set agents = {0};
    for (size_t i = 0; i < in->nstates; i++)
        if (strcmp(in->states[i].network ? in->states[i].network : "", net) == 0 &&
            set_add(&agents, in->states[i].agent) < 0)
            break;
    html_printf(out, "<h3>Network %s: %zu agents</h3>\n<table><tr><th>check</th>", net, agents.n);
    for (size_t a = 0; a < agents.n; a++)
        html_printf(out, "<th>%s</th>", agents.v[a]);
    fputs("</tr>\n", out);
    double *mean_ms = calloc(checks->n ? checks->n : 1, sizeof(double));
    bool *failing = calloc(checks->n ? checks->n : 1, sizeof(bool));
    double max_ms = 0;
    for (size_t k = 0; k < checks->n; k++) {
        html_printf(out, "<tr><td>%s</td>", checks->v[k]);
        unsigned n = 0;
        double sum = 0;
        for (size_t a = 0; a < agents.n; a++) {
            const struct analysis_state *st = state_of(idx, in->nstates, agents.v[a], checks->v[k]);
            if (st == NULL) {
                fputs("<td></td>", out);
                continue;
            }
            enum analysis_cell cell = analysis_cell_of(in, st);
            const char *name = analysis_cell_name(cell);
            html_printf(out, "<td class=\"%s\" title=\"%s\">%s", name, st->detail ? st->detail : "",
                        name);
            if (cell == ANALYSIS_CELL_FAIL || cell == ANALYSIS_CELL_FLAPPING)
                html_printf(out, " %s", result_error_name(st->ok ? st->fail_error : st->error));
            else if (cell == ANALYSIS_CELL_OK)
                html_printf(out, " %.0f ms", (double)st->total_us / 1000.0);
            fputs("</td>", out);
            if (cell != ANALYSIS_CELL_STALE && cell != ANALYSIS_CELL_ABSENT) {
                sum += (double)st->total_us / 1000.0;
                n++;
                if (cell != ANALYSIS_CELL_OK && failing != NULL)
                    failing[k] = true;
            }
        }
        fputs("</tr>\n", out);
        if (mean_ms != NULL && n > 0) {
            mean_ms[k] = sum / n;
            if (mean_ms[k] > max_ms)
                max_ms = mean_ms[k];
        }
    }
    fputs("</table>\n", out);
    if (mean_ms != NULL && failing != NULL) {
        html_printf(out,
                    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%zu\" "
                    "role=\"img\" aria-label=\"latency per check from network %s\">"
                    "<title>Mean total time per check from network %s</title>\n",
                    CHART_LABEL_W + CHART_BAR_W + 80, (checks->n + 1) * CHART_BAR_H, net, net);
        for (size_t k = 0; k < checks->n; k++) {
            int y = (int)k * CHART_BAR_H;
            int w = max_ms > 0 ? (int)(mean_ms[k] / max_ms * CHART_BAR_W) : 0;
            html_printf(out, "<text x=\"0\" y=\"%d\">%s</text>", y + 13, checks->v[k]);
            html_printf(out,
                        "<rect class=\"%s\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>"
                        "<text x=\"%d\" y=\"%d\">%.0f ms</text>\n",
                        failing[k] ? "barfail" : "bar", CHART_LABEL_W, y + 2, w > 0 ? w : 1,
                        CHART_BAR_H - 4, CHART_LABEL_W + (w > 0 ? w : 1) + 4, y + 13, mean_ms[k]);
        }
        fputs("</svg>\n", out);
    }
    free(mean_ms);
    free(failing);
    free(agents.v);
}

/* The last STATUS_TIMELINE_US of the timeline, newest first: the CLI's
 * own timeline --json lines, read back. */
static int timeline(FILE *out, struct store *s, const struct wire_target *t, int64_t now_us)
{
    char err[STORE_ERR_MAX + 128];
    struct report_snapshot *snap = report_snapshot_load(s, t, now_us, true, err, sizeof(err));
    if (snap == NULL)
        return -1;
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    int rc = mem ? report_timeline(mem, report_snapshot_input(snap), true) : -1;
    if (mem != NULL && fclose(mem) != 0)
        rc = -1;
    report_snapshot_destroy(&snap);
    if (rc < 0) {
        free(buf);
        return -1;
    }
    char since[40];
    clock_format_iso_us(now_us - STATUS_TIMELINE_US, false, since, sizeof(since));
    /* Lines in time order; keep the newest STATUS_TIMELINE_MAX. */
    json_t *events = json_array();
    for (char *line = buf, *nl; line != NULL && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        json_t *e = json_loads(line, 0, NULL);
        const char *at = json_string_value(json_object_get(e, "at"));
        if (at != NULL && strcmp(at, since) >= 0)
            json_array_append_new(events, e);
        else
            json_decref(e);
    }
    free(buf);
    size_t n = json_array_size(events);
    html_printf(out, "<h2>Last 24 hours: %zu events</h2>\n", n);
    if (n > 0)
        fputs("<table><tr><th>at</th><th>event</th><th>agent</th><th>network</th><th>what</th>"
              "</tr>\n",
              out);
    for (size_t i = n, shown = 0; i-- > 0 && shown < STATUS_TIMELINE_MAX; shown++) {
        json_t *e = json_array_get(events, i);
#define F(k) json_string_value(json_object_get(e, k))
        const char *ev = F("event");
        bool change = ev != NULL && strcmp(ev, "change") == 0;
        html_printf(out, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>", F("at"),
                    change ? F("kind") : ev, F("agent"), F("network"));
        if (change)
            html_printf(out, "%s: %s &rarr; %s", F("subject"), F("before"), F("after"));
        else
            html_printf(out, "%s %s", F("check"), F("error"));
#undef F
        fputs("</td></tr>\n", out);
    }
    if (n > 0)
        fputs("</table>\n", out);
    json_decref(events);
    return 0;
}

static unsigned target_page(const struct collconf *c, struct store *s, const struct wire_target *t,
                            int64_t now_us, FILE *out)
{
    char err[STORE_ERR_MAX + 128];
    struct report_snapshot *snap = report_snapshot_load(s, t, now_us, false, err, sizeof(err));
    if (snap == NULL)
        return 500;
    struct analysis_input in = cli_input(c, snap, t);
    struct analysis_diagnosis d;
    if (analysis_diagnose(&in, &d, err, sizeof(err)) < 0) {
        analysis_diagnosis_clear(&d);
        report_snapshot_destroy(&snap);
        return 500;
    }
    head(out, t->name);
    const char *st = analysis_status_name(d.status);
    html_printf(out,
                "<p><a href=\"/\">all targets</a></p><h1>%s: <span class=\"%s\">%s</span></h1>\n",
                t->name, st, st);
    html_printf(out, "<p>%zu agents on %zu networks, %zu reporting. Generated ", d.agents,
                d.networks, d.reporting);
    when(out, now_us);
    fputs("</p>\n", out);
    findings(out, &d);
    struct names_set checks = {0}, nets = {0};
    for (size_t i = 0; i < in.nstates; i++)
        if (set_add(&checks, in.states[i].check) < 0 ||
            set_add(&nets, in.states[i].network ? in.states[i].network : "") < 0)
            break;
    const struct analysis_state **idx = calloc(in.nstates ? in.nstates : 1, sizeof(*idx));
    for (size_t i = 0; idx != NULL && i < in.nstates; i++)
        idx[i] = &in.states[i];
    if (idx != NULL)
        qsort(idx, in.nstates, sizeof(*idx), cmp_state);
    fputs("<h2>Vantage points</h2>\n", out);
    for (size_t k = 0; idx != NULL && k < nets.n; k++)
        network_section(out, &in, idx, nets.v[k], &checks);
    bool oom = idx == NULL;
    free(idx);
    free(checks.v);
    free(nets.v);
    analysis_diagnosis_clear(&d);
    report_snapshot_destroy(&snap);
    unsigned rc = oom || timeline(out, s, t, now_us) < 0 ? 500 : 200;
    fputs("</body></html>\n", out);
    return rc;
}

unsigned status_page(const struct collconf *c, struct store *s, const char *target, int64_t now_us,
                     FILE *out)
{
    if (target == NULL)
        return overview(c, s, now_us, out);
    const struct wire_target *t = collconf_target(c, target);
    if (t == NULL) {
        head(out, "no such target");
        html_printf(out,
                    "<p>No target '%s' is configured. <a href=\"/\">All targets</a></p>"
                    "</body></html>\n",
                    target);
        return 404;
    }
    return target_page(c, s, t, now_us, out);
}
