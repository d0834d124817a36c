/*
 * analysis/network.c — does it work on another internet connection? Every (or
 * nearly every) agent of a network fails while another network works.
 */
#include "snapshot.h"

#include <stdlib.h>
#include <string.h>

/* Whether two groups cover the same set of checks. */
static bool same_checks(const struct snap *s, const struct group *a, const struct group *b)
{
    for (int pass = 0; pass < 2; pass++) {
        const struct group *x = pass ? b : a, *y = pass ? a : b;
        for (size_t i = 0; i < x->nrows; i++) {
            bool found = false;
            for (size_t j = 0; j < y->nrows && !found; j++)
                found = s->rows[x->rows[i]].check == s->rows[y->rows[j]].check;
            if (!found)
                return false;
        }
    }
    return true;
}

/* Offices failing the same checks in the same way are one finding. */
int network_merge(struct ctx *c, struct snap *s)
{
    for (size_t i = 0; i < s->ngroups; i++) {
        struct group *g = &s->groups[i];
        if (g->merged || g->verdict != ANALYSIS_NETWORK)
            continue;
        for (size_t j = i + 1; j < s->ngroups; j++) {
            struct group *h = &s->groups[j];
            if (h->merged || h->verdict != ANALYSIS_NETWORK || h->layer != g->layer ||
                !same_checks(s, g, h))
                continue;
            if (snapshot_group_absorb(c, g, h) < 0)
                return -1;
        }
    }
    return 0;
}

/* The summary and next steps of a network finding. */
void network_words(struct ctx *c, const struct snap *s, const struct group *g,
                   struct analysis_finding *f, const struct finding_words *w)
{
    (void)s;
    (void)g;
    struct analysis_list *n = &f->next_steps;
    f->summary = text_fmt(c,
                          "%s %sfail%s (%s) from every agent on %s since %s, while other "
                          "networks work: the problem is that network's %s.",
                          w->checks, w->intermittent, w->s, w->err, w->nets, w->start,
                          f->layer == RESULT_LAYER_DNS ? "resolver" : "connection");
    char ok_nets[LINE_MAX_LEN / 4];
    text_names_line(&f->healthy_networks, ok_nets, sizeof(ok_nets));
    text_list_take(c, n,
                   text_fmt(c, "Mailbox and webmail work from %s: the server is fine.",
                            f->healthy_networks.n ? ok_nets : "other networks"));
    if (f->layer == RESULT_LAYER_DNS)
        text_list_take(c, n,
                       text_fmt(c,
                                "Names do not resolve on %s: check its resolver (the router or the "
                                "DNS servers DHCP gives out) and its upstream.",
                                w->nets));
    else if (f->layer == RESULT_LAYER_TLS)
        text_list_take(c, n,
                       text_fmt(c,
                                "Look for a TLS-inspecting proxy or firewall on %s that breaks the "
                                "connection to %s%s.",
                                w->nets, w->host, w->ports));
    else
        text_list_take(c, n,
                       text_fmt(c,
                                "Check the firewall and router of %s for outgoing traffic to %s%s, "
                                "and ask its internet provider if they allow it.",
                                w->nets, w->host, w->ports));
    text_list_take(c, n,
                   text_fmt(c,
                            "To confirm, ask a user on %s to try another internet connection (a "
                            "phone's hotspot).",
                            w->nets));
}
