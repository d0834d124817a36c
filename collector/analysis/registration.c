/*
 * analysis/registration.c — has the domain's registration expired, or has
 * the registry put it on hold? (rdap://, analysis.h "Registration"). The
 * one fact a domain owner needs when the domain's names fail from
 * everywhere: the expiry date, the status and the registrar to call.
 */
#include "snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECONDS_PER_DAY 86400

bool registration_is_rdap(const char *check)
{
    return check != NULL && strncmp(check, "rdap://", 7) == 0;
}

static int warn_days(const struct analysis_input *in)
{
    return in->domain_warn_days == 0 ? ANALYSIS_DOMAIN_WARN_DAYS : in->domain_warn_days;
}

/* Whole days from now to t, rounded towards the past ("0 days" on the
 * last day), as the agent counts them. */
static long days_until(int64_t now_us, int64_t t)
{
    int64_t diff = t - now_us / 1000000;
    return (long)(diff >= 0 ? diff / SECONDS_PER_DAY
                            : -((-diff + SECONDS_PER_DAY - 1) / SECONDS_PER_DAY));
}

void registration_classify(const struct snap *s, const struct group *g, struct analysis_finding *f)
{
    if (g->warning || f->verdict != ANALYSIS_DNS)
        return;
    /* hold before expired before not found: a held domain may also be
     * past its date, and the hold is what took it out of DNS. */
    static const enum result_error order[] = {RESULT_REGISTRATION_HOLD, RESULT_REGISTRATION_EXPIRED,
                                              RESULT_REGISTRATION_NOT_FOUND};
    for (size_t o = 0; o < sizeof(order) / sizeof(order[0]); o++)
        for (size_t i = 0; i < g->nrows; i++) {
            const struct row *r = &s->rows[g->rows[i]];
            if (r->failing && r->layer == RESULT_LAYER_REGISTRATION && r->error == order[o]) {
                f->layer = RESULT_LAYER_REGISTRATION;
                f->error = order[o];
                return;
            }
        }
}

/* The warning group of s for check k with key, or a new one. NULL with
 * c->oom. */
static struct group *warning_group(struct ctx *c, struct snap *s, size_t k, enum result_error key)
{
    for (size_t j = 0; j < s->ngroups; j++) {
        struct group *g = &s->groups[j];
        if (g->warning && !g->merged && g->key == key && g->nrows > 0 &&
            s->rows[g->rows[0]].check == k)
            return g;
    }
    struct group proto = {.verdict = ANALYSIS_DNS,
                          .layer = RESULT_LAYER_REGISTRATION,
                          .scope = SCOPE_TARGET,
                          .scope_idx = s->ngroups,
                          .key = key,
                          .warning = true};
    return snapshot_group_new(c, s, &proto);
}

int registration_find_warnings(struct ctx *c, struct snap *s)
{
    const struct analysis_input *in = c->in;
    int days = warn_days(in);
    for (size_t k = 0; k < s->checks.n; k++) {
        if (!registration_is_rdap(s->checks.v[k]))
            continue;
        size_t fresh = 0, down = 0;
        enum result_error down_err = RESULT_OK;
        for (size_t i = 0; i < in->nstates; i++) {
            const struct row *r = &s->rows[i];
            if (r->check != k || !r->fresh)
                continue;
            fresh++;
            if (r->registry_down) {
                down++;
                down_err = r->error;
            }
        }
        for (size_t i = 0; i < in->nstates; i++) {
            const struct row *r = &s->rows[i];
            const struct analysis_state *st = &in->states[i];
            if (r->check != k || !r->fresh)
                continue;
            bool expiring = days > 0 && st->ok && !r->failing && st->reg_expires > 0 &&
                            days_until(in->now_us, st->reg_expires) < days;
            /* A registry one agent reads is not down: others may be
             * rate-limited or behind a proxy. */
            bool unreadable = r->registry_down && down == fresh;
            if (!expiring && !unreadable)
                continue;
            struct group *g =
                warning_group(c, s, k, expiring ? RESULT_REGISTRATION_EXPIRING : down_err);
            if (g == NULL || snapshot_group_add_row(c, g, i) < 0)
                return -1;
        }
    }
    return 0;
}

/* The facts of the first row of g that read a registration. */
static const struct analysis_state *facts_of(const struct analysis_input *in, const struct group *g)
{
    const struct analysis_state *any = NULL;
    for (size_t i = 0; i < g->nrows; i++) {
        const struct analysis_state *st = &in->states[g->rows[i]];
        if (!registration_is_rdap(st->check))
            continue;
        if (st->reg_expires > 0 || st->reg_registrar != NULL)
            return st;
        if (any == NULL)
            any = st;
    }
    return any;
}

static void expiry_words(const struct analysis_input *in, const struct analysis_state *st,
                         char *buf, size_t len)
{
    if (st == NULL || st->reg_expires <= 0) {
        snprintf(buf, len, "an expiry date the registry did not give");
        return;
    }
    char when[40];
    text_when(st->reg_expires * 1000000, when, sizeof(when));
    long d = days_until(in->now_us, st->reg_expires);
    snprintf(buf, len, "%.10s (%ld day%s %s)", when, d >= 0 ? d : -d,
             (d == 1 || d == -1) ? "" : "s", d >= 0 ? "left" : "ago");
}

/* One evidence line with what the registry says, and who read it. */
static void facts_evidence(struct ctx *c, const struct snap *s, const struct group *g,
                           struct analysis_finding *f, const struct analysis_state *st,
                           const char *domain)
{
    struct analysis_list readers = {0};
    for (size_t i = 0; i < g->nrows; i++) {
        const struct analysis_state *o = &c->in->states[g->rows[i]];
        if (registration_is_rdap(o->check))
            text_list_add_unique(c, &readers, s->agents.v[s->rows[g->rows[i]].agent]);
    }
    text_list_sort(&readers);
    char names[LINE_MAX_LEN / 2], expiry[96];
    text_names_line(&readers, names, sizeof(names));
    expiry_words(c->in, st, expiry, sizeof(expiry));
    text_list_take(c, &f->evidence,
                   text_fmt(c,
                            "The registry of %s says: registrar %s; expires %s; status %s (read "
                            "by %s).",
                            domain, st && st->reg_registrar ? st->reg_registrar : "(not named)",
                            expiry, st && st->reg_status ? st->reg_status : "(none)",
                            names[0] ? names : "no agent"));
    text_list_clear(&readers);
}

/* Whether g also holds failing lookups of the domain's names. */
static bool names_fail(const struct snap *s, const struct group *g)
{
    for (size_t i = 0; i < g->nrows; i++)
        if (snapshot_is_dns_check(s->checks.v[s->rows[g->rows[i]].check]))
            return true;
    return false;
}

void registration_words(struct ctx *c, const struct snap *s, const struct group *g,
                        struct analysis_finding *f, const struct finding_words *w)
{
    const struct analysis_input *in = c->in;
    struct analysis_list *n = &f->next_steps;
    const struct analysis_state *st = facts_of(in, g);
    const char *domain = in->domain ? in->domain : w->host;
    const char *registrar = st && st->reg_registrar ? st->reg_registrar : "the registrar";
    char expiry[96];
    expiry_words(in, st, expiry, sizeof(expiry));
    const char *dns = names_fail(s, g)
                          ? "its names no longer resolve from any network, so no client can "
                            "find the mail server"
                          : "DNS still answers for now, but the registry will take the domain "
                            "out of DNS";
    if (g->warning && f->error == RESULT_REGISTRATION_EXPIRING) {
        f->summary = text_fmt(c,
                              "The registration of %s expires on %s, within domain_warn_days "
                              "(%d): renew it with %s before the domain goes out of DNS.",
                              domain, expiry, warn_days(in), registrar);
        facts_evidence(c, s, g, f, st, domain);
        text_list_take(c, n,
                       text_fmt(c,
                                "Renew %s with %s now, or check that automatic renewal is on "
                                "and its payment method still works.",
                                domain, registrar));
        text_list_add(c, n,
                      "If it is renewed already, the new date shows at the next read of the "
                      "registry (rdap_interval).");
        return;
    }
    if (g->warning) {
        f->summary = text_fmt(c,
                              "No agent can read the registration of %s from its registry "
                              "(%s, seen by %s since %s): its expiry and any hold go unwatched.",
                              domain, w->err, w->agents, w->start);
        for (size_t i = 0; i < g->nrows && i < NAMES_IN_LINE; i++) {
            const struct analysis_state *o = &in->states[g->rows[i]];
            if (o->detail != NULL)
                text_list_take(
                    c, &f->evidence,
                    text_fmt(c, "%s saw: %s", s->agents.v[s->rows[g->rows[i]].agent], o->detail));
        }
        text_list_add(c, n,
                      "Check that the agents reach the registry's RDAP server over HTTPS "
                      "(a proxy or firewall may block it), or set rdap_bootstrap in "
                      "collector.conf to a registry they can reach.");
        text_list_take(
            c, n, text_fmt(c, "Meanwhile look the registration up by hand: whois %s.", domain));
        return;
    }
    switch (f->error) {
    case RESULT_REGISTRATION_HOLD:
        f->summary = text_fmt(c,
                              "%s is on hold at its registry (status %s; registrar %s; expires "
                              "%s): %s.",
                              domain, st && st->reg_status ? st->reg_status : "hold", registrar,
                              expiry, dns);
        text_list_take(
            c, n,
            text_fmt(c,
                     "Call %s: a client hold is set by the registrar (an unpaid renewal, an "
                     "abuse complaint, an owner who did not confirm their contact address), a "
                     "server hold by the registry; ask what lifts it.",
                     registrar));
        text_list_add(c, n,
                      "In a redemption period or pending delete, the registrar can still "
                      "restore the domain for a fee; act before the registry deletes it.");
        break;
    case RESULT_REGISTRATION_EXPIRED:
        f->summary = text_fmt(c,
                              "The registration of %s expired on %s (registrar %s; status %s): "
                              "%s.",
                              domain, expiry, registrar,
                              st && st->reg_status ? st->reg_status : "(none)", dns);
        text_list_take(c, n,
                       text_fmt(c,
                                "Renew %s with %s now: most registries keep an expired domain "
                                "restorable for a few weeks (grace, then redemption).",
                                domain, registrar));
        break;
    default:
        f->summary = text_fmt(c,
                              "The registry does not know %s (registration_not_found): the "
                              "domain was deleted or never registered, and %s.",
                              domain, dns);
        text_list_take(c, n,
                       text_fmt(c,
                                "Ask %s what became of %s; if it was deleted, register it "
                                "again at once, before someone else does.",
                                registrar, domain));
        break;
    }
    facts_evidence(c, s, g, f, st, domain);
    text_list_add(c, n,
                  "After the registry releases the domain, DNS answers again within the "
                  "records' TTL; mail queued elsewhere is retried for days.");
}
