/*
 * analysis/dns.c — is it every user on the domain? The domain's names fail
 * or are missing from every network.
 */
#include "snapshot.h"

#include <stdlib.h>
#include <string.h>

/* When the domain's DNS fails for everyone, every other failure in name
 * lookups is that failure too (e.g. a discovered check one agent probed
 * before it stopped finding it). */
int dns_fold(struct ctx *c, struct snap *s)
{
    struct group *dns = NULL;
    for (size_t i = 0; i < s->ngroups && dns == NULL; i++)
        if (!s->groups[i].merged && s->groups[i].verdict == ANALYSIS_DNS)
            dns = &s->groups[i];
    if (dns == NULL)
        return 0;
    for (size_t j = 0; j < s->ngroups; j++) {
        struct group *h = &s->groups[j];
        if (h == dns || h->merged || h->layer != RESULT_LAYER_DNS ||
            (h->verdict != ANALYSIS_NETWORK && h->verdict != ANALYSIS_DEVICE &&
             h->verdict != ANALYSIS_INCONCLUSIVE))
            continue;
        if (snapshot_group_absorb(c, dns, h) < 0)
            return -1;
    }
    return 0;
}

/* The summary and next steps of a dns finding. */
void dns_words(struct ctx *c, const struct snap *s, const struct group *g,
               struct analysis_finding *f, const struct finding_words *w)
{
    (void)s;
    (void)g;
    struct analysis_list *n = &f->next_steps;
    f->summary = text_fmt(c,
                          "Names of %s do not resolve from any network (%s) since %s: the "
                          "domain's DNS is broken, so no client can find the server.",
                          c->in->domain ? c->in->domain : "the target", w->err, w->start);
    text_list_add(c, n,
                  "Webmail and mail clients cannot find the server from anywhere until "
                  "DNS answers again.");
    text_list_take(c, n,
                   text_fmt(c,
                            "Check the domain's registration and its name servers: has %s expired, "
                            "do its NS servers answer (whois %s; dig %s SOA)?",
                            c->in->domain ? c->in->domain : w->host,
                            c->in->domain ? c->in->domain : w->host,
                            c->in->domain ? c->in->domain : w->host));
    text_list_add(c, n,
                  "Check that the zone still has the records the failing checks need "
                  "(MX, A/AAAA, SRV, autodiscover).");
}
