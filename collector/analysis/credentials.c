/*
 * analysis/credentials.c — can you log in at all? Login failing everywhere while
 * transport and TLS work.
 */
#include "snapshot.h"

#include <stdlib.h>
#include <string.h>

static bool share_host(const struct snap *s, const struct group *a, const struct group *b)
{
    for (size_t i = 0; i < a->nrows; i++)
        for (size_t j = 0; j < b->nrows; j++)
            if (s->ck[s->rows[a->rows[i]].check].host_rep ==
                s->ck[s->rows[b->rows[j]].check].host_rep)
                return true;
    return false;
}

/* Logins failing on a server that went down at the same time (its
 * authentication backend with it, e.g. SMTP AUTH through dovecot, which
 * then offers no login method or refuses every one) are that outage, not
 * a password problem nor a problem of their own. */
int credentials_fold(struct ctx *c, struct snap *s)
{
    for (size_t i = 0; i < s->ngroups; i++) {
        struct group *g = &s->groups[i];
        if (g->merged || (g->verdict != ANALYSIS_CREDENTIALS &&
                          (g->verdict != ANALYSIS_SERVICE || g->layer != RESULT_LAYER_AUTH)))
            continue;
        int64_t gs = snapshot_group_start(s, g);
        for (size_t j = 0; j < s->ngroups; j++) {
            struct group *h = &s->groups[j];
            if (h->merged || h->verdict != ANALYSIS_SERVICE || h->layer == RESULT_LAYER_AUTH ||
                !share_host(s, g, h))
                continue;
            int64_t hs = snapshot_group_start(s, h);
            if (gs - hs > ANALYSIS_CORRELATE_AFTER_US || hs - gs > ANALYSIS_CORRELATE_AFTER_US)
                continue;
            if (snapshot_group_absorb(c, h, g) < 0)
                return -1;
            break;
        }
    }
    return 0;
}

/* The summary and next steps of a credentials finding. */
void credentials_words(struct ctx *c, const struct snap *s, const struct group *g,
                       struct analysis_finding *f, const struct finding_words *w)
{
    (void)s;
    (void)g;
    struct analysis_list *n = &f->next_steps;
    f->summary = text_fmt(c,
                          "Logging in fails everywhere (%s) since %s while connections and TLS "
                          "work: the mailbox's password or account is the problem.",
                          w->err, w->start);
    text_list_add(c, n,
                  "Log in to webmail with the probe's mailbox: if that fails too, the password "
                  "was changed or the account is locked or disabled.");
    text_list_add(c, n,
                  "Once the account is confirmed, unlock it or update the password file the "
                  "agents' [credentials] section names.");
    text_list_add(c, n,
                  "DNS, the networks and the users' computers are fine: every vantage "
                  "point reaches the server.");
}
