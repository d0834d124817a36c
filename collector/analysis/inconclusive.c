/*
 * analysis/inconclusive.c — a failure the vantage points cannot localise: the
 * next step says which vantage point to add.
 */
#include "snapshot.h"

/* The summary and next steps of a inconclusive finding. */
void inconclusive_words(struct ctx *c, const struct snap *s, const struct group *g,
                        struct analysis_finding *f, const struct finding_words *w)
{
    (void)s;
    struct analysis_list *n = &f->next_steps;
    f->summary = text_fmt(c,
                          "%s %sfail%s (%s) from %s since %s, and no other vantage point there "
                          "can tell whether the computer or the connection is at fault.",
                          w->checks, w->intermittent, w->s, w->err, w->agents, w->start);
    if (f->healthy_networks.n > 0)
        text_list_take(c, n,
                       text_fmt(c, "Mailbox and webmail work from %s: the server is fine.",
                                f->healthy_networks.v[0]));
    if (g->scope == SCOPE_NETWORK && f->healthy_networks.n == 0)
        text_list_take(c, n,
                       text_fmt(c,
                                "Every vantage point is on %s: add one on another internet "
                                "connection (a home or cloud agent) to tell a server fault from a "
                                "network fault.",
                                w->nets));
    else
        text_list_take(c, n,
                       text_fmt(c,
                                "Only %s probes from %s: add a second vantage point (another "
                                "computer) there to tell a fault of the computer from one of the "
                                "connection.",
                                w->agents, w->nets));
    text_list_take(c, n,
                   text_fmt(c,
                            "Meanwhile ask the user on %s whether mail works from another computer "
                            "or a phone on the same connection.",
                            w->nets));
}
