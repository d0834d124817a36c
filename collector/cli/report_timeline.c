/*
 * report_timeline — the timeline output (report_timeline in report.h):
 * failures, recoveries, detected changes and finding events in time order,
 * identical changes from several agents collapsed into one event.
 */
#include "report.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "discover.h"
#include "report_internal.h"
#include "spec.h"

/* Identical changes (kind, subject, before, after) seen by several agents
 * within this long are one timeline event: a zone edit reaches every
 * agent within a TTL and a probe interval. */
#define COLLAPSE_US (15LL * 60 * 1000000)
/* Distinct changes the collapsing remembers at once. */
#define COLLAPSE_SLOTS 64

enum event_kind { EV_FAILED, EV_FAILING_AGAIN, EV_RECOVERED, EV_CHANGE, EV_FINDING };

struct event {
    int64_t at_us;
    enum event_kind kind;
    size_t idx; /* state or change index */
};

static int cmp_event(const void *pa, const void *pb)
{
    const struct event *a = pa, *b = pb;
    if (a->at_us != b->at_us)
        return a->at_us < b->at_us ? -1 : 1;
    if (a->kind != b->kind)
        return (int)a->kind - (int)b->kind;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static const char *const event_names[] = {"failed", "failing_again", "recovered", "change",
                                          "finding"};

/* A finding opened or resolved by continuous diagnosis. */
static int print_finding_event(FILE *out, const struct analysis_finding_event *fe, const char *t,
                               bool json)
{
    if (json) {
        json_t *o = json_object();
        json_object_set_new(o, "at", json_string(t));
        json_object_set_new(o, "event", json_string(fe->event));
        json_object_set_new(o, "id", report_str_or_null(fe->id));
        json_object_set_new(o, "severity", report_str_or_null(fe->severity));
        json_object_set_new(o, "verdict", report_str_or_null(fe->verdict));
        json_object_set_new(o, "layer", report_str_or_null(fe->layer));
        json_object_set_new(o, "summary", report_str_or_null(fe->summary));
        return report_print_json(out, o);
    }
    fprintf(out, "%s  %-14s %-22s %s%s%s%s — %s\n", t, fe->event, fe->id ? fe->id : "?",
            fe->verdict ? fe->verdict : "?", fe->layer ? " (" : "", fe->layer ? fe->layer : "",
            fe->layer ? ")" : "", fe->summary ? fe->summary : "");
    return 0;
}

int report_timeline(FILE *out, const struct analysis_input *in, bool json)
{
    size_t cap = 3 * in->nstates + in->nchanges + in->nfinding_events + 1, n = 0;
    struct event *ev = malloc(cap * sizeof(*ev));
    if (ev == NULL)
        return -1;
    for (size_t i = 0; i < in->nstates; i++) {
        const struct analysis_state *st = &in->states[i];
        if (st->episode_us == 0 && st->ok)
            continue; /* never failed: nothing happened to it */
        if (analysis_cell_of(in, st) == ANALYSIS_CELL_ABSENT)
            continue; /* an optional record the domain never published */
        int64_t first = st->episode_us ? st->episode_us : st->since_us;
        ev[n++] = (struct event){first, EV_FAILED, i};
        if (!st->ok && st->since_us > first)
            ev[n++] = (struct event){st->since_us, EV_FAILING_AGAIN, i};
        if (st->ok)
            ev[n++] = (struct event){st->since_us, EV_RECOVERED, i};
    }
    for (size_t i = 0; i < in->nchanges; i++)
        ev[n++] = (struct event){in->changes[i].at_us, EV_CHANGE, i};
    for (size_t i = 0; i < in->nfinding_events; i++)
        ev[n++] = (struct event){in->finding_events[i].at_us, EV_FINDING, i};
    qsort(ev, n, sizeof(*ev), cmp_event);
    /* seen[e]: how many agents reported change event e; 0 = folded into
     * an earlier identical one. */
    size_t *seen = calloc(n + 1, sizeof(*seen));
    size_t lead[COLLAPSE_SLOTS];
    size_t nlead = 0, next = 0;
    if (seen == NULL) {
        free(ev);
        return -1;
    }
    for (size_t e = 0; e < n; e++) {
        if (ev[e].kind != EV_CHANGE)
            continue;
        const struct analysis_change *c = &in->changes[ev[e].idx];
        bool folded = false;
        for (size_t j = 0; j < nlead && !folded; j++) {
            const struct event *l = &ev[lead[j]];
            const struct analysis_change *lc = &in->changes[l->idx];
            if (ev[e].at_us - l->at_us <= COLLAPSE_US && same_str(lc->kind, c->kind) &&
                same_str(lc->subject, c->subject) && same_str(lc->before, c->before) &&
                same_str(lc->after, c->after)) {
                seen[lead[j]]++;
                folded = true;
            }
        }
        if (folded)
            continue;
        seen[e] = 1;
        lead[next] = e;
        next = (next + 1) % COLLAPSE_SLOTS;
        if (nlead < COLLAPSE_SLOTS)
            nlead++;
    }
    size_t shown = 0;
    for (size_t e = 0; e < n; e++)
        shown += ev[e].kind != EV_CHANGE || seen[e] > 0;
    if (!json) {
        fprintf(out, "%s: %zu events", in->target, shown);
        fprintf(out, n ? " (current streaks of every check that failed, and detected changes)\n"
                       : ": no check has failed and nothing changed.\n");
    }
    int rc = 0;
    for (size_t e = 0; e < n && rc == 0; e++) {
        char t[40];
        clock_format_iso_us(ev[e].at_us, false, t, sizeof(t));
        if (ev[e].kind == EV_FINDING) {
            rc = print_finding_event(out, &in->finding_events[ev[e].idx], t, json);
            continue;
        }
        if (ev[e].kind == EV_CHANGE) {
            const struct analysis_change *c = &in->changes[ev[e].idx];
            if (seen[e] == 0)
                continue;
            if (json) {
                json_t *o = json_object();
                json_object_set_new(o, "at", json_string(t));
                json_object_set_new(o, "event", json_string("change"));
                json_object_set_new(o, "kind", report_str_or_null(c->kind));
                json_object_set_new(o, "agent", report_str_or_null(c->agent));
                json_object_set_new(o, "subject", report_str_or_null(c->subject));
                json_object_set_new(o, "before", report_str_or_null(c->before));
                json_object_set_new(o, "after", report_str_or_null(c->after));
                json_object_set_new(o, "seen_by", json_integer((json_int_t)seen[e]));
                rc = report_print_json(out, o);
            } else {
                char more[48] = "";
                if (seen[e] > 1)
                    snprintf(more, sizeof(more), " and %zu more", seen[e] - 1);
                fprintf(out, "%s  %-14s %-22s %s: %s -> %s (seen by %s%s)\n", t, "change",
                        c->kind ? c->kind : "?", c->subject ? c->subject : "",
                        c->before ? c->before : "?", c->after ? c->after : "?",
                        c->agent ? c->agent : "the collector", more);
            }
            continue;
        }
        const struct analysis_state *st = &in->states[ev[e].idx];
        enum result_error err = st->ok ? st->fail_error : st->error;
        enum result_layer lay = st->ok ? st->fail_layer : st->layer;
        bool flap = analysis_cell_of(in, st) == ANALYSIS_CELL_FLAPPING;
        if (json) {
            json_t *o = json_object();
            json_object_set_new(o, "at", json_string(t));
            json_object_set_new(o, "event", json_string(event_names[ev[e].kind]));
            json_object_set_new(o, "agent", report_str_or_null(st->agent));
            json_object_set_new(o, "network", report_str_or_null(st->network));
            json_object_set_new(o, "check", report_str_or_null(st->check));
            json_object_set_new(o, "layer", report_str_or_null(report_layer_name(lay)));
            json_object_set_new(o, "error", report_str_or_null(result_error_name(err)));
            json_object_set_new(o, "flapping", json_boolean(flap));
            rc = report_print_json(out, o);
        } else {
            fprintf(out, "%s  %-14s %-22s %s on %s (%s)%s\n", t, event_names[ev[e].kind],
                    result_error_name(ev[e].kind == EV_RECOVERED ? RESULT_OK : err), st->check,
                    st->agent, st->network ? st->network : "?",
                    flap && ev[e].kind == EV_FAILED ? ", flapping since" : "");
        }
    }
    free(seen);
    free(ev);
    return rc < 0 || ferror(out) ? -1 : 0;
}
