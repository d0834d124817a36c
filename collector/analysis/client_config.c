/*
 * analysis/client_config.c — did you recently migrate or upgrade? The configured
 * server fails while the domain's DNS now points to another, working one.
 */
#include "snapshot.h"

#include <string.h>
#include <strings.h>

#include "changes.h"

/* True when the domain's DNS, as the fresh states last saw it, points to
 * host: a record names it, or it is the name of a lookup that answers
 * (autodiscover). A discovered check outlives the answer that found it
 * by the staleness window, so after the DNS points back, a later outage
 * must not take the old target for "where DNS points now". Without any
 * known answers (older stores) every discovered host counts. */
static bool dns_points_to(const struct analysis_input *in, const char *host)
{
    bool known = false;
    char qname[HOST_MAX];
    for (size_t i = 0; i < in->nstates; i++) {
        const struct analysis_state *st = &in->states[i];
        if (!snapshot_is_dns_check(st->check) || !snapshot_fresh(in, st))
            continue;
        if (st->answers != NULL) {
            known = true;
            if (snapshot_answers_name(st->answers, host))
                return true;
        }
        if (st->ok && strcasecmp(changes_check_host(st->check, qname, sizeof(qname)), host) == 0)
            return true;
    }
    return !known;
}

/* client_config: a check failing everywhere (service or dns) whose kind of
 * service the domain's DNS now points to another host for, where the
 * discovered check works; then every such failure on a host so abandoned. */
void client_config_find(const struct analysis_input *in, struct snap *s)
{
    size_t nc = s->checks.n;
    bool any = false;
    for (size_t k = 0; k < nc; k++) {
        struct checkinfo *ck = &s->ck[k];
        if (!ck->global || ck->fam == FAM_NONE || ck->host[0] == '\0' ||
            (ck->global_verdict != ANALYSIS_SERVICE && ck->global_verdict != ANALYSIS_DNS))
            continue;
        for (size_t d = 0; d < nc; d++) {
            const struct checkinfo *dk = &s->ck[d];
            if (d == k || !dk->discovered || dk->fam != ck->fam || dk->ok == 0 ||
                dk->ok < dk->fail || strcasecmp(dk->host, ck->host) == 0 ||
                !dns_points_to(in, dk->host))
                continue;
            ck->alt = (int)d;
            any = true;
            break;
        }
    }
    if (!any)
        return;
    for (size_t k = 0; k < nc; k++) {
        struct checkinfo *ck = &s->ck[k];
        if (!ck->global || ck->alt >= 0 ||
            (ck->global_verdict != ANALYSIS_SERVICE && ck->global_verdict != ANALYSIS_DNS))
            continue;
        for (size_t o = 0; o < nc; o++) {
            if (s->ck[o].alt >= 0 && strcasecmp(s->ck[o].host, ck->host) == 0) {
                ck->alt = s->ck[o].alt;
                break;
            }
        }
    }
    for (size_t k = 0; k < nc; k++)
        if (s->ck[k].alt >= 0)
            s->ck[k].global_verdict = ANALYSIS_CLIENT_CONFIG;
}

/* The summary and next steps of a client_config finding. */
void client_config_words(struct ctx *c, const struct snap *s, const struct group *g,
                         struct analysis_finding *f, const struct finding_words *w)
{
    struct analysis_list *n = &f->next_steps;
    const char *alt = NULL;
    for (size_t i = 0; i < g->nrows && alt == NULL; i++) {
        int a = s->ck[s->rows[g->rows[i]].check].alt;
        if (a >= 0)
            alt = s->ck[a].host;
    }
    f->summary = text_fmt(c,
                          "%s fail%s everywhere since %s, while the domain's DNS now points to "
                          "%s, which works: clients still use the old server.",
                          w->checks, w->s, w->start, alt ? alt : "another server");
    text_list_take(
        c, n,
        text_fmt(c,
                 "Update mail clients (and this target's check = lines) from %s to %s, the "
                 "server the domain's MX, SRV and autodiscover records now name.",
                 w->host, alt ? alt : "the new server"));
    text_list_add(c, n,
                  "Confirm the migration with whoever runs the domain: the old server no "
                  "longer serves the mailbox.");
    text_list_add(c, n,
                  "Check that autodiscover hands out the new server, so that clients "
                  "update themselves.");
}
