/*
 * report — snapshots from the store and their output (report.h).
 */
#include "report.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "discover.h"
#include "spec.h"

/* Width of one matrix cell: "ok connect 1234ms" and "FAIL tcp_timeout"
 * fit; the longest error names are cut, the JSON has them whole. */
/* Up to this many vantage points, compare lists checks down and vantage
 * points across; a fleet gets one row per vantage point instead. */
#define COMPARE_COLUMNS_MAX 8
#define CHECK_WIDTH         44 /* "dns://_submission._tcp.example.com/SRV *" fits */
#define CELL_WIDTH          18
/* Identical changes (kind, subject, before, after) seen by several agents
 * within this long are one timeline event: a zone edit reaches every
 * agent within a TTL and a probe interval. */
#define COLLAPSE_US (15LL * 60 * 1000000)
/* Distinct changes the collapsing remembers at once. */
#define COLLAPSE_SLOTS 64
/* Width of the agent and network columns of the matrix. */
#define NAME_WIDTH 16

struct report_snapshot {
    struct analysis_input in;
    struct analysis_state *states;
    size_t nstates, capstates;
    struct analysis_change *changes;
    size_t nchanges, capchanges;
    struct analysis_finding_event *fevents; /* in.finding_events (timeline) */
    size_t nfevents, capfevents;
    const char **checks; /* in.checks; the strings are in strs */
    char **strs;         /* every string the snapshot owns */
    size_t nstrs, capstrs;
    bool oom;
    /* The latest seq of each rdap:// state, same index as states until
     * analysis_keep_current reorders (rdap_facts reads them before). */
    uint64_t *seqs;
    size_t capseqs;
};

static const char *keep(struct report_snapshot *sn, const char *s)
{
    if (s == NULL)
        return NULL;
    if (sn->nstrs == sn->capstrs) {
        size_t cap = sn->capstrs ? sn->capstrs * 2 : 256;
        char **v = realloc(sn->strs, cap * sizeof(*v));
        if (v == NULL) {
            sn->oom = true;
            return NULL;
        }
        sn->strs = v;
        sn->capstrs = cap;
    }
    char *d = strdup(s);
    if (d == NULL) {
        sn->oom = true;
        return NULL;
    }
    sn->strs[sn->nstrs++] = d;
    return d;
}

/* The last name kept, reused when the next row repeats it (rows come
 * sorted by check, then agent, so checks repeat in runs). */
static const char *keep_same(struct report_snapshot *sn, const char *prev, const char *s)
{
    if (prev != NULL && s != NULL && strcmp(prev, s) == 0)
        return prev;
    return keep(sn, s);
}

static int add_state(const struct store_latest *l, void *arg)
{
    struct report_snapshot *sn = arg;
    if (sn->nstates == sn->capstates) {
        size_t cap = sn->capstates ? sn->capstates * 2 : 256;
        struct analysis_state *v = realloc(sn->states, cap * sizeof(*v));
        if (v == NULL) {
            sn->oom = true;
            return 1;
        }
        sn->states = v;
        sn->capstates = cap;
    }
    if (sn->nstates >= sn->capseqs) {
        size_t cap = sn->capstates;
        uint64_t *v = realloc(sn->seqs, cap * sizeof(*v));
        if (v == NULL) {
            sn->oom = true;
            return 1;
        }
        sn->seqs = v;
        sn->capseqs = cap;
    }
    sn->seqs[sn->nstates] = l->seq;
    const struct analysis_state *prev = sn->nstates ? &sn->states[sn->nstates - 1] : NULL;
    struct analysis_state *st = &sn->states[sn->nstates++];
    *st = (struct analysis_state){
        .agent = keep(sn, l->agent),
        .network = keep(sn, l->network != NULL ? l->network : "unknown"),
        .check = keep_same(sn, prev ? prev->check : NULL, l->check),
        .discovered = l->discovered,
        .ok = l->ok,
        .layer = l->layer,
        .error = l->error,
        .fail_layer = l->fail_layer,
        .fail_error = l->fail_error,
        .at_us = l->at_us,
        .since_us = l->since_us,
        .episode_us = l->episode_us,
        .flips = l->flips,
        .streak_n = l->streak_n,
        .total_us = l->total_us,
        .phase = l->phase,
        .phase_us = l->phase_us,
        .detail = keep(sn, l->detail),
        .address = keep(sn, l->address),
        .answers = keep(sn, l->answers),
        .delivery_us = l->delivery_us,
    };
    return sn->oom ? 1 : 0;
}

static int add_change(const struct store_change *c, void *arg)
{
    struct report_snapshot *sn = arg;
    if (sn->nchanges == sn->capchanges) {
        size_t cap = sn->capchanges ? sn->capchanges * 2 : 64;
        struct analysis_change *v = realloc(sn->changes, cap * sizeof(*v));
        if (v == NULL) {
            sn->oom = true;
            return 1;
        }
        sn->changes = v;
        sn->capchanges = cap;
    }
    sn->changes[sn->nchanges++] = (struct analysis_change){
        .at_us = c->at_us,
        .agent = keep(sn, c->agent),
        .kind = keep(sn, c->kind),
        .subject = keep(sn, c->subject),
        .before = keep(sn, c->before),
        .after = keep(sn, c->after),
    };
    return sn->oom ? 1 : 0;
}

/* What the analysis needs of an rdap:// result's registration. */
static void keep_registration(struct report_snapshot *sn, struct analysis_state *st,
                              const struct result *r)
{
    const struct result_registration *g = r->registration;
    if (g == NULL)
        return;
    st->reg_expires = g->expires;
    st->reg_registrar = keep(sn, g->registrar);
    char status[RESULT_STR_MAX + 1];
    size_t used = 0;
    status[0] = '\0';
    for (size_t i = 0; i < g->nstatus && used < sizeof(status); i++)
        used += (size_t)snprintf(status + used, sizeof(status) - used, "%s%s", i ? ", " : "",
                                 g->status[i]);
    if (status[0] != '\0')
        st->reg_status = keep(sn, status);
}

struct rdap_one {
    struct report_snapshot *sn;
    struct analysis_state *st;
};

static int add_rdap_facts(const struct result *r, void *arg)
{
    struct rdap_one *one = arg;
    if (r->started_at_us == one->st->at_us)
        keep_registration(one->sn, one->st, r);
    return one->sn->oom ? 1 : 0;
}

/* Orders states by (check, agent), as store_latest_each gives them. */
/* The timeline shows when continuous diagnosis opened and resolved a
 * finding; "changed" stays in the findings history. */
static int add_finding_event(const struct store_finding_event *e, void *arg)
{
    struct report_snapshot *sn = arg;
    if (strcmp(e->event, "opened") != 0 && strcmp(e->event, "resolved") != 0)
        return 0;
    if (sn->nfevents == sn->capfevents) {
        size_t cap = sn->capfevents ? sn->capfevents * 2 : 16;
        struct analysis_finding_event *v = realloc(sn->fevents, cap * sizeof(*v));
        if (v == NULL) {
            sn->oom = true;
            return 1;
        }
        sn->fevents = v;
        sn->capfevents = cap;
    }
    json_error_t jerr;
    json_t *o = json_loads(e->json, 0, &jerr);
    struct analysis_finding_event *fe = &sn->fevents[sn->nfevents++];
    fe->at_us = e->at_us;
    fe->id = keep(sn, e->finding_id);
    fe->event = keep(sn, e->event);
    fe->severity = keep(sn, json_string_value(json_object_get(o, "severity")));
    fe->verdict = keep(sn, json_string_value(json_object_get(o, "verdict")));
    fe->layer = keep(sn, json_string_value(json_object_get(o, "layer")));
    fe->summary = keep(sn, json_string_value(json_object_get(o, "summary")));
    json_decref(o);
    return sn->oom ? 1 : 0;
}

static int cmp_state_key(const void *key, const void *elem)
{
    const struct result *r = key;
    const struct analysis_state *st = elem;
    int c = strcmp(r->check, st->check);
    return c != 0 ? c : strcmp(r->agent, st->agent);
}

/* Copies what the latest state does not keep from the result it came
 * from: phase times (latency evidence, the slow rule) and the
 * certificate's expiry (warnings). Other results are skipped. */
static int add_result_facts(const struct result *r, void *arg)
{
    struct report_snapshot *sn = arg;
    if (r->check == NULL || r->agent == NULL)
        return 0;
    struct analysis_state *st =
        bsearch(r, sn->states, sn->nstates, sizeof(*sn->states), cmp_state_key);
    if (st == NULL || st->at_us != r->started_at_us)
        return 0;
    memcpy(st->phases_us, r->phases_us, sizeof(st->phases_us));
    if (r->tls != NULL && r->tls->not_after > 0) {
        st->cert_not_after = r->tls->not_after;
        st->cert_subject = keep(sn, r->tls->subject);
    }
    keep_registration(sn, st, r);
    return sn->oom ? 1 : 0;
}

/* The rdap:// states older than the target's staleness window (they run
 * every rdap_interval): their latest results one by one, by (agent, seq),
 * rather than hours of the target's results. */
static int load_rdap_facts(struct report_snapshot *sn, struct store *s, const char *target)
{
    for (size_t i = 0; i < sn->nstates; i++) {
        struct analysis_state *st = &sn->states[i];
        if (strncmp(st->check, "rdap://", 7) != 0 || sn->seqs[i] == 0 ||
            sn->in.now_us - st->at_us <= sn->in.stale_us)
            continue;
        struct rdap_one one = {sn, st};
        struct store_result_filter f = {.target = target, .agent = st->agent, .seq = sn->seqs[i]};
        if (store_results_each(s, &f, add_rdap_facts, &one) < 0)
            return -1;
    }
    return 0;
}

/* The facts of the fresh states' latest results (add_result_facts): only
 * the results of the staleness window are read, the newest of each key
 * among them. */
static int load_result_facts(struct report_snapshot *sn, struct store *s, const char *target)
{
    int64_t since = INT64_MAX;
    for (size_t i = 0; i < sn->nstates; i++) {
        const struct analysis_state *st = &sn->states[i];
        if (sn->in.now_us - st->at_us <= sn->in.stale_us && st->at_us < since)
            since = st->at_us;
    }
    /* The states must be in (check, agent) order for bsearch; the store
     * gives them so, and analysis_keep_current keeps the order. */
    for (size_t i = 1; i < sn->nstates; i++)
        if (cmp_state_key(&(struct result){.check = (char *)sn->states[i].check,
                                           .agent = (char *)sn->states[i].agent},
                          &sn->states[i - 1]) < 0)
            return 0; /* not sorted: go without the facts rather than guess */
    if (since == INT64_MAX)
        return 0;
    struct store_result_filter f = {.target = target, .since_us = since};
    return store_results_each(s, &f, add_result_facts, sn);
}

/* The target's checks as configured now, canonical, with those its domain
 * adds (discover_dns_checks), into sn->in.checks. Returns 0, or -1 with
 * err. */
static int load_checks(struct report_snapshot *sn, const struct wire_target *t, char *err,
                       size_t errlen)
{
    struct discover_list dns = {0};
    char text[SPEC_TEXT_MAX + 1], perr[256];
    if (t->domain != NULL && t->domain[0] != '\0' &&
        discover_dns_checks(t->domain, (const char *const *)t->checks, t->nchecks, &dns, perr,
                            sizeof(perr)) < 0) {
        snprintf(err, errlen, "the checks of target %s: %s", t->name, perr);
        return -1;
    }
    sn->checks = calloc(t->nchecks + dns.n + 1, sizeof(*sn->checks));
    if (sn->checks == NULL) {
        discover_list_clear(&dns);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < t->nchecks; i++) {
        struct spec sp;
        /* The configuration was checked when it was read: a check that
         * does not parse now is kept as written. */
        if (spec_parse(t->checks[i], &sp, perr, sizeof(perr)) == 0)
            spec_format(&sp, text, sizeof(text));
        else
            snprintf(text, sizeof(text), "%s", t->checks[i]);
        sn->checks[n++] = keep(sn, text);
    }
    for (size_t i = 0; i < dns.n; i++)
        sn->checks[n++] = keep(sn, dns.items[i].spec);
    discover_list_clear(&dns);
    if (sn->oom) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    sn->in.checks = sn->checks;
    sn->in.nchecks = n;
    return 0;
}

struct report_snapshot *report_snapshot_load(struct store *s, const struct wire_target *t,
                                             int64_t now_us, bool for_timeline, char *err,
                                             size_t errlen)
{
    struct report_snapshot *sn = calloc(1, sizeof(*sn));
    if (sn == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    int64_t interval = (int64_t)(t->interval_ms ? t->interval_ms : 60000) * 1000;
    int64_t timeout = (int64_t)(t->timeout_ms ? t->timeout_ms : 10000) * 1000;
    sn->in.target = keep(sn, t->name);
    sn->in.domain = keep(sn, t->domain);
    sn->in.now_us = now_us;
    sn->in.stale_us = REPORT_STALE_INTERVALS * interval + timeout;
    if (t->mailflow_interval_ms != 0)
        sn->in.mailflow_stale_us =
            REPORT_STALE_INTERVALS * (int64_t)t->mailflow_interval_ms * 1000 +
            (int64_t)t->mailflow_timeout_ms * 1000;
    if (t->rdap_interval_ms != 0)
        sn->in.rdap_stale_us =
            REPORT_STALE_INTERVALS * (int64_t)t->rdap_interval_ms * 1000 + timeout;
    if (store_latest_each(s, t->name, add_state, sn) < 0) {
        snprintf(err, errlen, "reading the latest state of %s: %s", t->name, store_error(s));
        goto fail;
    }
    if (load_checks(sn, t, err, errlen) < 0)
        goto fail;
    if (!for_timeline && load_rdap_facts(sn, s, t->name) < 0) {
        snprintf(err, errlen, "reading the registration of %s: %s", t->name, store_error(s));
        goto fail;
    }
    sn->in.states = sn->states;
    sn->in.nstates = sn->nstates;
    /* A check removed from the configuration leaves compare and diagnose
     * at once; its results stay in the store. */
    sn->nstates = analysis_keep_current(&sn->in, sn->states);
    sn->in.nstates = sn->nstates;
    if (!for_timeline && load_result_facts(sn, s, t->name) < 0) {
        snprintf(err, errlen, "reading the latest results of %s: %s", t->name, store_error(s));
        goto fail;
    }
    /* Only changes that can correlate with a current failure are read. */
    int64_t since = INT64_MAX;
    if (for_timeline) {
        since = now_us - REPORT_TIMELINE_US;
    } else {
        for (size_t i = 0; i < sn->nstates; i++) {
            const struct analysis_state *st = &sn->states[i];
            if (!analysis_state_failing(&sn->in, st))
                continue;
            int64_t start = st->episode_us ? st->episode_us : st->since_us;
            if (start - ANALYSIS_CORRELATE_BEFORE_US < since)
                since = start - ANALYSIS_CORRELATE_BEFORE_US;
        }
    }
    if (since != INT64_MAX && !sn->oom &&
        store_changes_each(s, t->name, since, add_change, sn) < 0) {
        snprintf(err, errlen, "reading the changes of %s: %s", t->name, store_error(s));
        goto fail;
    }
    if (for_timeline && !sn->oom &&
        store_finding_events_each(s, t->name, since, add_finding_event, sn) < 0) {
        snprintf(err, errlen, "reading the findings of %s: %s", t->name, store_error(s));
        goto fail;
    }
    if (sn->oom) {
        snprintf(err, errlen, "out of memory reading %s", t->name);
        goto fail;
    }
    sn->in.finding_events = sn->fevents;
    sn->in.nfinding_events = sn->nfevents;
    sn->in.states = sn->states;
    sn->in.changes = sn->changes;
    sn->in.nchanges = sn->nchanges;
    return sn;
fail:
    report_snapshot_destroy(&sn);
    return NULL;
}

void report_snapshot_destroy(struct report_snapshot **sp)
{
    if (sp == NULL || *sp == NULL)
        return;
    struct report_snapshot *sn = *sp;
    for (size_t i = 0; i < sn->nstrs; i++)
        free(sn->strs[i]);
    free(sn->strs);
    free(sn->checks);
    free(sn->states);
    free(sn->seqs);
    free(sn->changes);
    free(sn->fevents);
    free(sn);
    *sp = NULL;
}

const struct analysis_input *report_snapshot_input(const struct report_snapshot *snap)
{
    return &snap->in;
}

void report_snapshot_set_delivery_warn(struct report_snapshot *snap, uint64_t us)
{
    snap->in.delivery_warn_us = us;
}

/* ---- JSON ------------------------------------------------------------------- */

static json_t *time_json(int64_t us)
{
    char buf[40];
    clock_format_iso_us(us, false, buf, sizeof(buf));
    return json_string(buf);
}

static json_t *str_or_null(const char *s)
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

static const char *layer_name(enum result_layer l)
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
    json_object_set_new(o, "layer", str_or_null(layer_name(f->layer)));
    json_object_set_new(o, "error", str_or_null(result_error_name(f->error)));
    json_object_set_new(o, "checks", list_json(&f->checks));
    json_object_set_new(o, "networks", list_json(&f->networks));
    json_object_set_new(o, "agents", list_json(&f->agents));
    json_object_set_new(o, "healthy_networks", list_json(&f->healthy_networks));
    json_object_set_new(o, "healthy_agents", list_json(&f->healthy_agents));
    json_object_set_new(o, "started_at", time_json(f->started_at_us));
    json_t *ch = json_array();
    for (size_t i = 0; i < f->nchanges; i++) {
        const struct analysis_change *c = &in->changes[f->changes[i]];
        json_t *co = json_object();
        json_object_set_new(co, "at", time_json(c->at_us));
        json_object_set_new(co, "kind", str_or_null(c->kind));
        json_object_set_new(co, "subject", str_or_null(c->subject));
        json_object_set_new(co, "before", str_or_null(c->before));
        json_object_set_new(co, "after", str_or_null(c->after));
        json_array_append_new(ch, co);
    }
    json_object_set_new(o, "correlated_changes", ch);
    json_object_set_new(o, "summary", str_or_null(f->summary));
    json_object_set_new(o, "evidence", list_json(&f->evidence));
    json_object_set_new(o, "next_steps", list_json(&f->next_steps));
    return o;
}

json_t *report_finding_json(const struct analysis_input *in, const struct analysis_finding *f)
{
    return finding_json(in, f);
}

/* The fields diagnose and compare share, in the contract's order. */
static json_t *head_json(const struct analysis_input *in, const struct analysis_diagnosis *d)
{
    json_t *o = json_object();
    json_object_set_new(o, "target", str_or_null(in->target));
    json_object_set_new(o, "generated_at", time_json(in->now_us));
    json_t *vp = json_object();
    json_object_set_new(vp, "agents", json_integer((json_int_t)d->agents));
    json_object_set_new(vp, "networks", json_integer((json_int_t)d->networks));
    json_object_set_new(vp, "reporting", json_integer((json_int_t)d->reporting));
    json_object_set_new(o, "vantage_points", vp);
    json_object_set_new(o, "status", json_string(analysis_status_name(d->status)));
    return o;
}

static json_t *findings_json(const struct analysis_input *in, const struct analysis_diagnosis *d)
{
    json_t *a = json_array();
    for (size_t i = 0; i < d->nfindings; i++)
        json_array_append_new(a, finding_json(in, &d->findings[i]));
    return a;
}

static int print_json(FILE *out, json_t *o)
{
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (line == NULL)
        return -1;
    int rc = fprintf(out, "%s\n", line) < 0 ? -1 : 0;
    free(line);
    return rc;
}

/* ---- diagnose --------------------------------------------------------------- */

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
        json_t *o = head_json(in, d);
        json_object_set_new(o, "findings", findings_json(in, d));
        return print_json(out, o);
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
        const char *layer = layer_name(f->layer);
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

/* ---- compare ---------------------------------------------------------------- */

/* Checks, agents and networks of the snapshot in display order: checks
 * configured first, then discovered, each sorted; networks and agents
 * sorted by name. */
struct matrix {
    const char **checks;
    bool *discovered;
    size_t nchecks;
    const char **agents;
    const char **agent_net;
    bool *reporting;
    size_t nagents;
};

static int find_name(const char **v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return (int)i;
    return -1;
}

static int cmp_check(const void *a, const void *b, void *arg)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    const struct matrix *m = arg;
    /* Configured server checks, then the domain's DNS checks, then what
     * DNS pointed to. */
    if (m->discovered[i] != m->discovered[j])
        return m->discovered[i] ? 1 : -1;
    bool di = strncmp(m->checks[i], "dns://", 6) == 0, dj = strncmp(m->checks[j], "dns://", 6) == 0;
    if (di != dj)
        return di ? 1 : -1;
    return strcmp(m->checks[i], m->checks[j]);
}

static int cmp_agent(const void *a, const void *b, void *arg)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    const struct matrix *m = arg;
    int r = strcmp(m->agent_net[i], m->agent_net[j]);
    return r != 0 ? r : strcmp(m->agents[i], m->agents[j]);
}

static void cell_text(const struct analysis_input *in, const struct analysis_state *st,
                      enum analysis_cell c, char *buf, size_t len)
{
    switch (c) {
    case ANALYSIS_CELL_OK:
        if (st->phase != RESULT_PHASE_TOTAL)
            snprintf(buf, len, "ok %s %.0fms", result_phase_name(st->phase),
                     (double)st->phase_us / 1000.0);
        else
            snprintf(buf, len, "ok %.0fms", (double)st->total_us / 1000.0);
        break;
    case ANALYSIS_CELL_FAIL:
        snprintf(buf, len, "FAIL %s", result_error_name(st->error));
        break;
    case ANALYSIS_CELL_FLAPPING:
        snprintf(buf, len, "FLAP %s", result_error_name(st->ok ? st->fail_error : st->error));
        break;
    case ANALYSIS_CELL_STALE:
        snprintf(buf, len, "stale");
        break;
    case ANALYSIS_CELL_ABSENT:
        snprintf(buf, len, "none published");
        break;
    }
    (void)in;
}

static const char *cell_color(enum analysis_cell c)
{
    switch (c) {
    case ANALYSIS_CELL_OK:
        return "\033[32m";
    case ANALYSIS_CELL_FAIL:
        return "\033[1;31m";
    case ANALYSIS_CELL_FLAPPING:
        return "\033[33m";
    case ANALYSIS_CELL_STALE:
    case ANALYSIS_CELL_ABSENT:
        return "\033[2m";
    }
    return "";
}

int report_compare(FILE *out, const struct analysis_input *in, const struct analysis_diagnosis *d,
                   bool json, bool color)
{
    size_t n = in->nstates;
    struct matrix m = {0};
    m.checks = calloc(n + 1, sizeof(*m.checks));
    m.discovered = calloc(n + 1, sizeof(*m.discovered));
    m.agents = calloc(n + 1, sizeof(*m.agents));
    m.agent_net = calloc(n + 1, sizeof(*m.agent_net));
    m.reporting = calloc(n + 1, sizeof(*m.reporting));
    int *cell = NULL;
    size_t *corder = calloc(n + 1, sizeof(*corder)), *aorder = calloc(n + 1, sizeof(*aorder));
    int64_t *agent_at = calloc(n + 1, sizeof(*agent_at));
    size_t *state_check = calloc(n + 1, sizeof(*state_check));
    size_t *state_agent = calloc(n + 1, sizeof(*state_agent));
    int rc = -1;
    if (!m.checks || !m.discovered || !m.agents || !m.agent_net || !m.reporting || !corder ||
        !aorder || !agent_at || !state_check || !state_agent)
        goto out;
    /* Names are few (agents x checks = states): linear lookups of the
     * previous row first keep this fast for the store's sorted order. */
    for (size_t i = 0; i < n; i++) {
        const struct analysis_state *st = &in->states[i];
        int k = m.nchecks && strcmp(m.checks[m.nchecks - 1], st->check) == 0
                    ? (int)m.nchecks - 1
                    : find_name(m.checks, m.nchecks, st->check);
        if (k < 0) {
            k = (int)m.nchecks++;
            m.checks[k] = st->check;
            m.discovered[k] = true;
        }
        if (!st->discovered)
            m.discovered[k] = false;
        int a = find_name(m.agents, m.nagents, st->agent);
        if (a < 0) {
            a = (int)m.nagents++;
            m.agents[a] = st->agent;
            m.agent_net[a] = st->network;
            agent_at[a] = st->at_us;
        } else if (st->at_us > agent_at[a]) {
            agent_at[a] = st->at_us;
            m.agent_net[a] = st->network;
        }
        if (analysis_cell_of(in, st) != ANALYSIS_CELL_STALE)
            m.reporting[a] = true;
        state_check[i] = (size_t)k;
        state_agent[i] = (size_t)a;
    }
    for (size_t i = 0; i < m.nchecks; i++)
        corder[i] = i;
    for (size_t i = 0; i < m.nagents; i++)
        aorder[i] = i;
    qsort_r(corder, m.nchecks, sizeof(*corder), cmp_check, &m);
    qsort_r(aorder, m.nagents, sizeof(*aorder), cmp_agent, &m);
    /* state index per (agent, check), -1 when none */
    cell = malloc((m.nagents * m.nchecks + 1) * sizeof(*cell));
    if (cell == NULL)
        goto out;
    for (size_t i = 0; i < m.nagents * m.nchecks; i++)
        cell[i] = -1;
    for (size_t i = 0; i < n; i++)
        cell[state_agent[i] * m.nchecks + state_check[i]] = (int)i;

    if (json) {
        json_t *o = head_json(in, d);
        json_t *checks = json_array();
        for (size_t ci = 0; ci < m.nchecks; ci++) {
            json_t *c = json_object();
            json_object_set_new(c, "check", json_string(m.checks[corder[ci]]));
            json_object_set_new(c, "discovered", json_boolean(m.discovered[corder[ci]]));
            json_array_append_new(checks, c);
        }
        json_object_set_new(o, "checks", checks);
        json_t *nets = json_array();
        json_t *net = NULL, *agents = NULL;
        const char *cur = NULL;
        for (size_t ai = 0; ai < m.nagents; ai++) {
            size_t a = aorder[ai];
            if (cur == NULL || strcmp(cur, m.agent_net[a]) != 0) {
                cur = m.agent_net[a];
                net = json_object();
                agents = json_array();
                json_object_set_new(net, "network", json_string(cur));
                json_object_set_new(net, "agents", agents);
                json_array_append_new(nets, net);
            }
            json_t *ag = json_object();
            json_object_set_new(ag, "agent", json_string(m.agents[a]));
            json_object_set_new(ag, "reporting", json_boolean(m.reporting[a]));
            json_t *cells = json_array();
            for (size_t ci = 0; ci < m.nchecks; ci++) {
                int si = cell[a * m.nchecks + corder[ci]];
                if (si < 0)
                    continue;
                const struct analysis_state *st = &in->states[si];
                enum analysis_cell cs = analysis_cell_of(in, st);
                json_t *c = json_object();
                json_object_set_new(c, "check", json_string(st->check));
                json_object_set_new(c, "status", json_string(analysis_cell_name(cs)));
                enum result_layer lay = st->ok ? st->fail_layer : st->layer;
                enum result_error err =
                    st->ok && cs == ANALYSIS_CELL_FLAPPING ? st->fail_error : st->error;
                json_object_set_new(
                    c, "layer",
                    str_or_null(st->ok && cs != ANALYSIS_CELL_FLAPPING ? NULL : layer_name(lay)));
                json_object_set_new(c, "error", str_or_null(result_error_name(err)));
                json_object_set_new(c, "phase", str_or_null(result_phase_name(st->phase)));
                json_object_set_new(c, "phase_us", json_integer((json_int_t)st->phase_us));
                json_object_set_new(c, "total_us", json_integer((json_int_t)st->total_us));
                json_object_set_new(c, "at", time_json(st->at_us));
                json_object_set_new(c, "since", time_json(st->since_us));
                json_array_append_new(cells, c);
            }
            json_object_set_new(ag, "cells", cells);
            json_array_append_new(agents, ag);
        }
        json_object_set_new(o, "networks", nets);
        json_object_set_new(o, "findings", findings_json(in, d));
        rc = print_json(out, o);
        goto out;
    }

    char now[40];
    clock_format_iso_us(in->now_us, false, now, sizeof(now));
    fprintf(out, "%s: %zu agents on %zu networks, %zu reporting (%s)\n\n", in->target, d->agents,
            d->networks, d->reporting, now);
    if (m.nagents <= COMPARE_COLUMNS_MAX) {
        /* A few vantage points: checks down, vantage points across, so
         * that a person reads one check's row across networks. */
        fprintf(out, "%-*s", CHECK_WIDTH, "");
        const char *net = NULL;
        for (size_t ai = 0; ai < m.nagents; ai++) {
            const char *an = m.agent_net[aorder[ai]];
            bool first = net == NULL || strcmp(net, an) != 0;
            net = an;
            fprintf(out, " %-*.*s", CELL_WIDTH, CELL_WIDTH, first ? an : "");
        }
        fprintf(out, "\n%-*s", CHECK_WIDTH, "CHECK");
        for (size_t ai = 0; ai < m.nagents; ai++)
            fprintf(out, " %-*.*s", CELL_WIDTH, CELL_WIDTH, m.agents[aorder[ai]]);
        fputc('\n', out);
        for (size_t ci = 0; ci < m.nchecks; ci++) {
            char name[CHECK_WIDTH + 1];
            snprintf(name, sizeof(name), "%s%s", m.checks[corder[ci]],
                     m.discovered[corder[ci]] ? " *" : "");
            fprintf(out, "%-*s", CHECK_WIDTH, name);
            for (size_t ai = 0; ai < m.nagents; ai++) {
                int si = cell[aorder[ai] * m.nchecks + corder[ci]];
                char txt[CELL_WIDTH + 1] = "-";
                enum analysis_cell cs = ANALYSIS_CELL_STALE;
                if (si >= 0) {
                    cs = analysis_cell_of(in, &in->states[si]);
                    cell_text(in, &in->states[si], cs, txt, sizeof(txt));
                }
                if (color && si >= 0)
                    fprintf(out, " %s%-*s\033[0m", cell_color(cs), CELL_WIDTH, txt);
                else
                    fprintf(out, " %-*s", CELL_WIDTH, txt);
            }
            fputc('\n', out);
        }
        /* The legend explains a mark: without one it would only puzzle. */
        bool any_discovered = false;
        for (size_t ci = 0; ci < m.nchecks; ci++)
            any_discovered |= m.discovered[ci];
        if (any_discovered)
            fprintf(out, "(* found through the domain's DNS or autoconfig)\n");
    } else {
        for (size_t ci = 0; ci < m.nchecks; ci++)
            fprintf(out, "  [%zu] %s%s\n", ci + 1, m.checks[corder[ci]],
                    m.discovered[corder[ci]] ? " (found through DNS or autoconfig)" : "");
        fprintf(out, "\n%-*s %-*s", NAME_WIDTH, "NETWORK", NAME_WIDTH, "AGENT");
        for (size_t ci = 0; ci < m.nchecks; ci++) {
            char h[24];
            snprintf(h, sizeof(h), "[%zu]", ci + 1);
            fprintf(out, " %-*s", CELL_WIDTH, h);
        }
        fputc('\n', out);
        const char *cur = NULL;
        for (size_t ai = 0; ai < m.nagents; ai++) {
            size_t a = aorder[ai];
            bool first = cur == NULL || strcmp(cur, m.agent_net[a]) != 0;
            cur = m.agent_net[a];
            fprintf(out, "%-*.*s %-*.*s", NAME_WIDTH, NAME_WIDTH, first ? cur : "", NAME_WIDTH,
                    NAME_WIDTH, m.agents[a]);
            for (size_t ci = 0; ci < m.nchecks; ci++) {
                int si = cell[a * m.nchecks + corder[ci]];
                char txt[CELL_WIDTH + 1] = "-";
                enum analysis_cell cs = ANALYSIS_CELL_STALE;
                if (si >= 0) {
                    cs = analysis_cell_of(in, &in->states[si]);
                    cell_text(in, &in->states[si], cs, txt, sizeof(txt));
                }
                if (color && si >= 0)
                    fprintf(out, " %s%-*s\033[0m", cell_color(cs), CELL_WIDTH, txt);
                else
                    fprintf(out, " %-*s", CELL_WIDTH, txt);
            }
            fputc('\n', out);
        }
    }
    fputc('\n', out);
    rc = report_diagnose(out, in, d, false);
out:
    free(m.checks);
    free(m.discovered);
    free(m.agents);
    free(m.agent_net);
    free(m.reporting);
    free(cell);
    free(corder);
    free(aorder);
    free(agent_at);
    free(state_check);
    free(state_agent);
    return rc;
}

/* ---- timeline --------------------------------------------------------------- */

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
        json_object_set_new(o, "id", str_or_null(fe->id));
        json_object_set_new(o, "severity", str_or_null(fe->severity));
        json_object_set_new(o, "verdict", str_or_null(fe->verdict));
        json_object_set_new(o, "layer", str_or_null(fe->layer));
        json_object_set_new(o, "summary", str_or_null(fe->summary));
        return print_json(out, o);
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
                json_object_set_new(o, "kind", str_or_null(c->kind));
                json_object_set_new(o, "agent", str_or_null(c->agent));
                json_object_set_new(o, "subject", str_or_null(c->subject));
                json_object_set_new(o, "before", str_or_null(c->before));
                json_object_set_new(o, "after", str_or_null(c->after));
                json_object_set_new(o, "seen_by", json_integer((json_int_t)seen[e]));
                rc = print_json(out, o);
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
            json_object_set_new(o, "agent", str_or_null(st->agent));
            json_object_set_new(o, "network", str_or_null(st->network));
            json_object_set_new(o, "check", str_or_null(st->check));
            json_object_set_new(o, "layer", str_or_null(layer_name(lay)));
            json_object_set_new(o, "error", str_or_null(result_error_name(err)));
            json_object_set_new(o, "flapping", json_boolean(flap));
            rc = print_json(out, o);
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
