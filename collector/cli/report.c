/*
 * report — a target's snapshot from the store (report_snapshot_* in
 * report.h): its latest states, the facts of their latest results, recent
 * changes and finding events, as the analysis input. The outputs are
 * report_diagnose.c, report_compare.c and report_timeline.c, over the JSON
 * pieces in report_json.c.
 */
#include "report.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "discover.h"
#include "report_internal.h"
#include "spec.h"

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
