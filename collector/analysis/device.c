/*
 * analysis/device.c — does it work from another computer? One agent fails while
 * others on its network pass.
 */
#include "snapshot.h"

/* The summary and next steps of a device finding. */
void device_words(struct ctx *c, const struct snap *s, const struct group *g,
                  struct analysis_finding *f, const struct finding_words *w)
{
    (void)s;
    (void)g;
    struct analysis_list *n = &f->next_steps;
    f->summary = text_fmt(c,
                          "%s %sfail%s (%s) on %s only, since %s; other computers on %s work: "
                          "the problem is that computer.",
                          w->checks, w->intermittent, w->s, w->err, w->agents, w->start, w->nets);
    text_list_add(c, n,
                  "Mailbox, webmail, DNS and the network work for others: nothing to do "
                  "on the server or the domain.");
    text_list_take(c, n,
                   text_fmt(c,
                            "Check %s itself: its firewall, antivirus or security software, VPN or "
                            "proxy settings for %s%s.",
                            w->agents, w->host, w->ports));
    text_list_take(c, n, text_fmt(c, "Compare with a computer on %s that works.", w->nets));
}
