/*
 * analysis/diagnose.c — the driver of analysis_diagnose (analysis.h): a verdict
 * per failing row, rows grouped into findings, each question's folds, the
 * evidence and correlated changes of each finding, and their order.
 */
#include "snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "changes.h"

static int cert_warn_days(const struct analysis_input *in)
{
    return in->cert_warn_days == 0 ? ANALYSIS_CERT_WARN_DAYS : in->cert_warn_days;
}

static int domain_warn_days(const struct analysis_input *in)
{
    return in->domain_warn_days == 0 ? ANALYSIS_DOMAIN_WARN_DAYS : in->domain_warn_days;
}

/* Gives every failing row its verdict and scope (analysis.h). */
static void assign(struct snap *s, size_t nrows)
{
    size_t nn = s->nets.n;
    for (size_t i = 0; i < nrows; i++) {
        struct row *r = &s->rows[i];
        if (!r->failing)
            continue;
        const struct checkinfo *ck = &s->ck[r->check];
        size_t p = s->probe[r->check * nn + r->net], f = s->failn[r->check * nn + r->net];
        bool down = f == p || (p >= ANALYSIS_NEARLY_MIN && 4 * f >= 3 * p);
        if (network_degraded_row(s, r)) {
            /* One problem, the office's link, however its checks fail. */
            r->verdict = ANALYSIS_NETWORK;
            r->scope = SCOPE_NETWORK;
            r->scope_idx = r->net;
            r->degraded = true;
        } else if (ck->global) {
            r->verdict = ck->global_verdict;
            r->scope = SCOPE_TARGET;
            /* A server that is down is one problem whatever its ports
             * say; two servers down are two. */
            r->scope_idx = r->verdict == ANALYSIS_SERVICE ? ck->host_rep : 0;
            /* One check is one problem: its rows share its layer. Failures
             * of an up server are apart by error (service_find_down_hosts). */
            r->layer = ck->layer;
            if (r->verdict == ANALYSIS_SERVICE && !s->host_down[ck->host_rep])
                r->key = ck->error;
        } else if (ck->nets_down == ck->nets_probing) {
            /* Failing from the only network that probes it. */
            r->verdict = ANALYSIS_INCONCLUSIVE;
            r->scope = SCOPE_NETWORK;
            r->scope_idx = r->net;
        } else if (down && p >= 2) {
            r->verdict = ANALYSIS_NETWORK;
            r->scope = SCOPE_NETWORK;
            r->scope_idx = r->net;
        } else if (down) {
            r->verdict = ANALYSIS_INCONCLUSIVE;
            r->scope = SCOPE_AGENT;
            r->scope_idx = r->agent;
        } else {
            r->verdict = ANALYSIS_DEVICE;
            r->scope = SCOPE_AGENT;
            r->scope_idx = r->agent;
        }
    }
}

static int group_rows(struct ctx *c, struct snap *s, size_t nrows)
{
    for (size_t i = 0; i < nrows; i++) {
        const struct row *r = &s->rows[i];
        if (!r->failing)
            continue;
        struct group *g = NULL;
        for (size_t j = 0; j < s->ngroups; j++) {
            struct group *h = &s->groups[j];
            if (!h->warning && h->verdict == r->verdict && h->scope == r->scope &&
                h->scope_idx == r->scope_idx && h->key == r->key && h->degraded == r->degraded &&
                (h->scope == SCOPE_TARGET || h->degraded || h->layer == r->layer)) {
                g = h;
                break;
            }
        }
        if (g == NULL) {
            struct group *v = realloc(s->groups, (s->ngroups + 1) * sizeof(*v));
            if (v == NULL)
                goto oom;
            s->groups = v;
            g = &s->groups[s->ngroups++];
            *g = (struct group){.verdict = r->verdict,
                                .layer = r->layer,
                                .scope = r->scope,
                                .scope_idx = r->scope_idx,
                                .key = r->key,
                                .degraded = r->degraded};
        }
        size_t *rows = realloc(g->rows, (g->nrows + 1) * sizeof(*rows));
        if (rows == NULL)
            goto oom;
        g->rows = rows;
        g->rows[g->nrows++] = i;
    }
    return 0;
oom:
    c->oom = true;
    return -1;
}

/* The agents and networks that probe the finding's checks and pass all
 * of them (healthy), and the networks wholly so. */
static void healthy(struct ctx *c, const struct snap *s, const bool *in_checks,
                    struct analysis_finding *f)
{
    size_t na = s->agents.n;
    char *bad = text_calloc(c, na, 1), *seen = text_calloc(c, na, 1);
    if (c->oom) {
        free(bad);
        free(seen);
        return;
    }
    for (size_t i = 0; i < c->in->nstates; i++) {
        const struct row *r = &s->rows[i];
        if (!r->fresh || !in_checks[r->check])
            continue;
        seen[r->agent] = 1;
        /* A warning's agents pass: they are not healthy all the same. */
        if (f->severity == ANALYSIS_SEVERITY_WARNING
                ? text_list_has(&f->agents, s->agents.v[r->agent])
                : r->failing)
            bad[r->agent] = 1;
    }
    for (size_t a = 0; a < na; a++)
        if (seen[a] && !bad[a])
            text_list_add(c, &f->healthy_agents, s->agents.v[a]);
    for (size_t a = 0; a < na; a++) {
        const char *net = s->nets.v[s->agent_net[a]];
        if (seen[a] && !bad[a] && !text_list_has(&f->networks, net))
            text_list_add_unique(c, &f->healthy_networks, net);
    }
    text_list_sort(&f->healthy_agents);
    text_list_sort(&f->healthy_networks);
    free(bad);
    free(seen);
}

static bool change_concerns(const struct analysis_change *ch, const struct analysis_finding *f)
{
    if (ch->kind != NULL && strcmp(ch->kind, CHANGES_AGENT_NETWORK) == 0)
        return ch->agent != NULL && text_list_has(&f->agents, ch->agent);
    /* Facts of the target: for a problem of everyone, anyone's view of
     * them; for a network's or a device's, what its own agents saw. */
    if (f->verdict == ANALYSIS_SERVICE || f->verdict == ANALYSIS_DNS ||
        f->verdict == ANALYSIS_CREDENTIALS || f->verdict == ANALYSIS_CLIENT_CONFIG)
        return true;
    return ch->agent == NULL || text_list_has(&f->agents, ch->agent);
}

static bool same_text(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool same_change(const struct analysis_change *a, const struct analysis_change *b)
{
    return same_text(a->kind, b->kind) && same_text(a->subject, b->subject) &&
           same_text(a->before, b->before) && same_text(a->after, b->after);
}

/* Whether ch's subject was back where it began by the time f started: a
 * certificate swapped and swapped back, a zone edit reverted. Such
 * changes explain nothing about f, however close they are. Changes after
 * the start are kept: a revert while the failure goes on is news. */
static bool undone_before(const struct analysis_input *in, const struct analysis_finding *f,
                          const struct analysis_change *ch, int64_t from)
{
    const struct analysis_change *first = NULL, *last = NULL;
    if (ch->at_us > f->started_at_us)
        return false;
    for (size_t i = 0; i < in->nchanges; i++) {
        const struct analysis_change *o = &in->changes[i];
        if (o->at_us < from || o->at_us > f->started_at_us || !change_concerns(o, f) ||
            !same_text(o->kind, ch->kind) || !same_text(o->subject, ch->subject))
            continue;
        if (first == NULL)
            first = o;
        last = o;
    }
    return first != NULL && same_text(first->before, last->after);
}

static void correlate(struct ctx *c, struct analysis_finding *f)
{
    const struct analysis_input *in = c->in;
    int64_t from = f->started_at_us - ANALYSIS_CORRELATE_BEFORE_US;
    int64_t to = f->started_at_us + ANALYSIS_CORRELATE_AFTER_US;
    for (size_t i = 0; i < in->nchanges; i++) {
        const struct analysis_change *ch = &in->changes[i];
        if (ch->at_us < from || ch->at_us > to || !change_concerns(ch, f) ||
            undone_before(in, f, ch, from))
            continue;
        /* Every agent sees a zone edit: list it once, when first seen. */
        bool dup = false;
        for (size_t j = 0; j < f->nchanges && !dup; j++)
            dup = same_change(&in->changes[f->changes[j]], ch);
        if (dup)
            continue;
        size_t *v = realloc(f->changes, (f->nchanges + 1) * sizeof(*v));
        if (v == NULL) {
            c->oom = true;
            return;
        }
        f->changes = v;
        f->changes[f->nchanges++] = i;
    }
}

static void evidence(struct ctx *c, const struct snap *s, const struct group *g,
                     struct analysis_finding *f)
{
    const struct analysis_input *in = c->in;
    size_t nn = s->nets.n;
    size_t lines = 0;
    /* Configured server checks first (what clients use), then those DNS
     * pointed to, then the DNS lookups. */
    size_t *order = text_calloc(c, f->checks.n, sizeof(*order));
    size_t *grow = text_calloc(c, g->nrows, sizeof(*grow));
    if (order == NULL || grow == NULL) {
        free(order);
        free(grow);
        return;
    }
    size_t no = 0;
    for (int pass = 0; pass < 3; pass++) {
        for (size_t ci = 0; ci < f->checks.n; ci++) {
            size_t k = snapshot_name_index(&s->checks, f->checks.v[ci]);
            int rank = snapshot_is_dns_check(f->checks.v[ci]) ? 2 : s->ck[k].discovered ? 1 : 0;
            if (rank == pass)
                order[no++] = ci;
        }
    }
    for (size_t oi = 0; oi < f->checks.n; oi++) {
        if (lines++ >= CHECK_LINES) {
            text_list_take(
                c, &f->evidence,
                text_fmt(c, "... and %zu more checks fail the same way.", f->checks.n - oi));
            break;
        }
        const char *check = f->checks.v[order[oi]];
        size_t ng = 0;
        /* Which of the group's rows are of this check, by network. */
        char buf[LINE_MAX_LEN];
        size_t used = (size_t)snprintf(buf, sizeof(buf), "%s fails from", check);
        size_t k = snapshot_name_index(&s->checks, check);
        int64_t start = INT64_MAX;
        size_t shown = 0;
        const struct row *example = NULL;
        bool flap = false;
        for (size_t m = 0; m < nn && used < sizeof(buf); m++) {
            size_t nf = 0;
            for (size_t i = 0; i < g->nrows; i++) {
                const struct row *r = &s->rows[g->rows[i]];
                if (r->check != k || r->net != m)
                    continue;
                grow[ng++] = g->rows[i];
                nf++;
                if (r->start_us < start)
                    start = r->start_us;
                if (example == NULL)
                    example = r;
                flap |= r->flapping;
            }
            if (nf == 0)
                continue;
            if (shown++ < NAMES_IN_LINE)
                used +=
                    (size_t)snprintf(buf + used, sizeof(buf) - used, "%s %s (%zu of %zu)",
                                     shown > 1 ? "," : "", s->nets.v[m], nf, s->probe[k * nn + m]);
        }
        if (shown > NAMES_IN_LINE && used < sizeof(buf))
            used += (size_t)snprintf(buf + used, sizeof(buf) - used, " and %zu more networks",
                                     shown - NAMES_IN_LINE);
        char t[40];
        text_when(start, t, sizeof(t));
        /* The error of this finding's states of the check, not of all its
         * states: another finding may fail it differently. */
        enum result_layer lay;
        enum result_error err;
        snapshot_dominant(s, grow, ng, &lay, &err);
        if (used < sizeof(buf))
            snprintf(buf + used, sizeof(buf) - used, ": %s since %s%s", result_error_name(err), t,
                     flap ? " (flapping: passes and fails by turns)" : "");
        text_list_add(c, &f->evidence, buf);
        if (example != NULL) {
            const struct analysis_state *st = &in->states[example - s->rows];
            if (st->detail != NULL && st->detail[0] != '\0')
                text_list_take(c, &f->evidence,
                               text_fmt(c, "%s saw: %s", s->agents.v[example->agent], st->detail));
        }
        int alt = s->ck[k].alt;
        if (f->verdict == ANALYSIS_CLIENT_CONFIG && alt >= 0)
            text_list_take(c, &f->evidence,
                           text_fmt(c,
                                    "DNS or autoconfig now point to %s, and %s (found through the "
                                    "domain's DNS or autoconfig) works from %zu "
                                    "agents.",
                                    s->ck[alt].host, s->checks.v[alt], s->ck[alt].ok));
    }
    if (f->healthy_agents.n > 0) {
        char names[LINE_MAX_LEN / 2];
        text_names_line(&f->healthy_agents, names, sizeof(names));
        text_list_take(c, &f->evidence,
                       text_fmt(c, "The same checks pass from %s (%zu agent%s).", names,
                                f->healthy_agents.n, f->healthy_agents.n == 1 ? "" : "s"));
    } else {
        text_list_add(c, &f->evidence, "No vantage point passes these checks.");
    }
    /* The error's meaning, unless an agent's own detail already said it. */
    char saw[LINE_MAX_LEN];
    bool said = false;
    for (size_t i = 0; i < f->agents.n && !said; i++) {
        snprintf(saw, sizeof(saw), "%s saw: %s", f->agents.v[i], result_error_hint(f->error));
        said = text_list_has(&f->evidence, saw);
    }
    if (!said)
        text_list_take(
            c, &f->evidence,
            text_fmt(c, "%s: %s", result_error_name(f->error), result_error_hint(f->error)));
    for (size_t i = 0; i < f->nchanges; i++) {
        const struct analysis_change *ch = &in->changes[f->changes[i]];
        char t[40];
        text_when(ch->at_us, t, sizeof(t));
        text_list_take(c, &f->evidence,
                       text_fmt(c, "%s: %s %s: %s -> %s", t, ch->kind ? ch->kind : "change",
                                ch->subject ? ch->subject : "", ch->before ? ch->before : "?",
                                ch->after ? ch->after : "?"));
    }
    free(order);
    free(grow);
}

/* Each question writes its own findings' summary and next steps. */
static void (*const words_of[ANALYSIS_VERDICT_LAST])(struct ctx *, const struct snap *,
                                                     const struct group *,
                                                     struct analysis_finding *,
                                                     const struct finding_words *) = {
    [ANALYSIS_SERVICE] = service_words,          [ANALYSIS_DNS] = dns_words,
    [ANALYSIS_NETWORK] = network_words,          [ANALYSIS_DEVICE] = device_words,
    [ANALYSIS_CREDENTIALS] = credentials_words,  [ANALYSIS_CLIENT_CONFIG] = client_config_words,
    [ANALYSIS_INCONCLUSIVE] = inconclusive_words};

static void finding_build(struct ctx *c, const struct snap *s, const struct group *g,
                          struct analysis_finding *f)
{
    *f = (struct analysis_finding){.verdict = g->verdict, .layer = g->layer};
    bool *in_checks = text_calloc(c, s->checks.n, sizeof(*in_checks));
    if (in_checks == NULL)
        return;
    if (g->warning) {
        /* Its rows pass: the warning names its own error and layer. */
        f->severity = ANALYSIS_SEVERITY_WARNING;
        f->error = g->key;
    } else {
        snapshot_dominant(s, g->rows, g->nrows, &f->layer, &f->error);
        registration_classify(s, g, f);
    }
    f->started_at_us = INT64_MAX;
    for (size_t i = 0; i < g->nrows; i++) {
        const struct row *r = &s->rows[g->rows[i]];
        const struct analysis_state *st = &c->in->states[g->rows[i]];
        in_checks[r->check] = true;
        text_list_add_unique(c, &f->agents, s->agents.v[r->agent]);
        text_list_add_unique(c, &f->networks, s->nets.v[r->net]);
        /* A warning starts when the results show it: an expiring
         * certificate when it entered the warning window, slowness with
         * the results that measured it. */
        int64_t start = r->start_us;
        if (g->warning && g->key == RESULT_TLS_CERT_EXPIRING)
            start = (st->cert_not_after - (int64_t)cert_warn_days(c->in) * 86400) * 1000000;
        else if (g->warning && g->key == RESULT_REGISTRATION_EXPIRING)
            start = (st->reg_expires - (int64_t)domain_warn_days(c->in) * 86400) * 1000000;
        else if (g->warning)
            start = st->at_us;
        if (start < f->started_at_us)
            f->started_at_us = start;
        f->flapping |= r->flapping;
    }
    for (size_t k = 0; k < s->checks.n; k++)
        if (in_checks[k])
            text_list_add(c, &f->checks, s->checks.v[k]);
    text_list_sort(&f->checks);
    text_list_sort(&f->agents);
    text_list_sort(&f->networks);
    healthy(c, s, in_checks, f);
    free(in_checks);
    correlate(c, f);
    struct finding_words w;
    text_finding_words(s, g, f, &w);
    if (f->verdict == ANALYSIS_SERVICE && f->layer == RESULT_LAYER_DELIVERY)
        delivery_words(c, s, g, f, &w);
    else if (f->verdict == ANALYSIS_DNS && f->layer == RESULT_LAYER_REGISTRATION)
        registration_words(c, s, g, f, &w);
    else
        words_of[f->verdict](c, s, g, f, &w);
    /* A warning's words carry its evidence: its checks pass. */
    if (!g->warning)
        evidence(c, s, g, f);
    if (f->verdict == ANALYSIS_NETWORK)
        network_latency_evidence(c, s, f);
}

static int verdict_rank(enum analysis_verdict v)
{
    /* The help-desk order: the service and the mailbox, then DNS and the
     * domain, then networks, then devices; what cannot be localised last. */
    static const int rank[ANALYSIS_VERDICT_LAST] = {
        [ANALYSIS_SERVICE] = 0,     [ANALYSIS_CREDENTIALS] = 1, [ANALYSIS_CLIENT_CONFIG] = 2,
        [ANALYSIS_DNS] = 3,         [ANALYSIS_NETWORK] = 4,     [ANALYSIS_DEVICE] = 5,
        [ANALYSIS_INCONCLUSIVE] = 6};
    return rank[v];
}

static int cmp_finding(const void *pa, const void *pb)
{
    const struct analysis_finding *a = pa, *b = pb;
    if (a->severity != b->severity)
        return a->severity == ANALYSIS_SEVERITY_PROBLEM ? -1 : 1;
    if (verdict_rank(a->verdict) != verdict_rank(b->verdict))
        return verdict_rank(a->verdict) - verdict_rank(b->verdict);
    if (a->started_at_us != b->started_at_us)
        return a->started_at_us < b->started_at_us ? -1 : 1;
    int r = strcmp(a->agents.n ? a->agents.v[0] : "", b->agents.n ? b->agents.v[0] : "");
    if (r != 0)
        return r;
    return strcmp(a->checks.n ? a->checks.v[0] : "", b->checks.n ? b->checks.v[0] : "");
}

int analysis_diagnose(const struct analysis_input *in, struct analysis_diagnosis *d, char *err,
                      size_t errlen)
{
    *d = (struct analysis_diagnosis){.status = ANALYSIS_STATUS_NO_DATA};
    struct ctx c = {.in = in};
    struct snap s = {0};
    if (snapshot_build(&c, &s) < 0)
        goto oom;
    d->agents = s.agents.n;
    /* Networks of the agents as they are now. */
    bool *net_used = text_calloc(&c, s.nets.n, sizeof(*net_used));
    if (net_used == NULL)
        goto oom;
    for (size_t a = 0; a < s.agents.n; a++) {
        net_used[s.agent_net[a]] = true;
        if (s.agent_reporting[a])
            d->reporting++;
    }
    for (size_t m = 0; m < s.nets.n; m++)
        d->networks += net_used[m];
    free(net_used);
    if (d->reporting == 0) {
        snapshot_free(&s);
        return 0;
    }
    client_config_mark_bad_ads(in, &s);
    client_config_find(in, &s);
    if (service_find_down_hosts(&c, &s) < 0 || network_find_degraded(&c, &s) < 0)
        goto oom;
    assign(&s, in->nstates);
    if (group_rows(&c, &s, in->nstates) < 0 || network_merge(&c, &s) < 0 ||
        credentials_fold(&c, &s) < 0 || dns_fold(&c, &s) < 0 || delivery_fold(&c, &s) < 0)
        goto oom;
    /* Warnings come last: slowness is not reported where a problem
     * already is. */
    if (service_find_expiring(&c, &s) < 0 || delivery_find_warnings(&c, &s) < 0 ||
        registration_find_warnings(&c, &s) < 0 || client_config_find_warnings(&c, &s) < 0 ||
        network_find_slow(&c, &s) < 0 || device_find_slow(&c, &s) < 0)
        goto oom;
    size_t live = 0, problems = 0;
    for (size_t i = 0; i < s.ngroups; i++) {
        live += !s.groups[i].merged;
        problems += !s.groups[i].merged && !s.groups[i].warning;
    }
    d->status = problems > 0 ? ANALYSIS_STATUS_PROBLEM
                : live > 0   ? ANALYSIS_STATUS_WARNING
                             : ANALYSIS_STATUS_OK;
    if (live > 0) {
        d->findings = text_calloc(&c, live, sizeof(*d->findings));
        if (d->findings == NULL)
            goto oom;
        for (size_t i = 0; i < s.ngroups; i++)
            if (!s.groups[i].merged)
                finding_build(&c, &s, &s.groups[i], &d->findings[d->nfindings++]);
        if (c.oom)
            goto oom;
        qsort(d->findings, d->nfindings, sizeof(*d->findings), cmp_finding);
    }
    snapshot_free(&s);
    return 0;
oom:
    snapshot_free(&s);
    snprintf(err, errlen, "diagnosis: out of memory");
    return -1;
}

static void finding_clear(struct analysis_finding *f)
{
    text_list_clear(&f->checks);
    text_list_clear(&f->networks);
    text_list_clear(&f->agents);
    text_list_clear(&f->healthy_networks);
    text_list_clear(&f->healthy_agents);
    text_list_clear(&f->evidence);
    text_list_clear(&f->next_steps);
    free(f->changes);
    free(f->summary);
    free(f->id);
}

void analysis_diagnosis_clear(struct analysis_diagnosis *d)
{
    for (size_t i = 0; i < d->nfindings; i++)
        finding_clear(&d->findings[i]);
    free(d->findings);
    *d = (struct analysis_diagnosis){0};
}
