/*
 * analysis/device.c — does it work from another computer? One agent fails while
 * others on its network pass; or it works, but much slower than they do.
 */
#include "snapshot.h"

#include <stdlib.h>

int device_find_slow(struct ctx *c, struct snap *s)
{
    size_t na = s->agents.n, nn = s->nets.n, nrows = c->in->nstates;
    char *self = text_calloc(c, nrows, 1), *base = text_calloc(c, nrows, 1);
    char *passing = snapshot_passing_rows(c, s);
    /* The rows of each network, grouped once (a counting sort): an agent
     * is compared with its own network only, so at a thousand agents
     * each costs its network's rows, not the fleet's. */
    size_t *start = text_calloc(c, nn + 1, sizeof(*start));
    size_t *bynet = text_calloc(c, nrows, sizeof(*bynet));
    if (c->oom)
        goto out;
    for (size_t i = 0; i < nrows; i++)
        start[s->rows[i].net + 1]++;
    for (size_t m = 0; m < nn; m++)
        start[m + 1] += start[m];
    for (size_t i = 0; i < nrows; i++)
        bynet[start[s->rows[i].net]++] = i;
    /* Each start[m] now ends network m: shift back to where each begins. */
    for (size_t m = nn; m > 0; m--)
        start[m] = start[m - 1];
    start[0] = 0;
    for (size_t a = 0; a < na && !c->oom; a++) {
        size_t m = s->agent_net[a];
        /* On a degraded network every computer suffers: not one's fault. */
        if (s->net_degraded[m])
            continue;
        const size_t *mine = bynet + start[m];
        size_t nmine = start[m + 1] - start[m];
        for (size_t j = 0; j < nmine; j++) {
            size_t i = mine[j];
            self[i] = passing[i] && s->rows[i].agent == a;
            base[i] = passing[i] && s->rows[i].agent != a;
        }
        struct group proto = {.verdict = ANALYSIS_DEVICE,
                              .scope = SCOPE_AGENT,
                              .scope_idx = a,
                              .key = RESULT_SLOW,
                              .warning = true};
        if (snapshot_slow(c, s, self, base, mine, nmine, false, &proto) < 0)
            break;
    }
out:
    free(start);
    free(bynet);
    free(passing);
    free(self);
    free(base);
    return c->oom ? -1 : 0;
}

static void slow_words(struct ctx *c, const struct group *g, struct analysis_finding *f,
                       const struct finding_words *w)
{
    struct analysis_list *n = &f->next_steps;
    double slow = (double)g->slow_us / 1000.0, base = (double)g->base_us / 1000.0;
    f->summary = text_fmt(c,
                          "%s is slow: its checks take %.0f ms against %.0f ms for the other "
                          "computers on %s (median, %.1f times): that computer, not the network "
                          "or the server.",
                          w->agents, slow, base, w->nets, base > 0 ? slow / base : 0.0);
    text_list_take(c, &f->evidence,
                   text_fmt(c,
                            "Median total time of %s: %.0f ms from %s over %zu results; %.0f ms "
                            "from the other computers on %s over %zu results (slow: at least %d "
                            "times and %d ms more).",
                            w->checks, slow, w->agents, g->slow_n, base, w->nets, g->base_n,
                            ANALYSIS_SLOW_FACTOR, ANALYSIS_SLOW_MIN_US / 1000));
    if (f->layer != RESULT_LAYER_NONE)
        text_list_take(
            c, &f->evidence,
            text_fmt(c, "Most of the time goes to the %s step.", result_layer_name(f->layer)));
    text_list_take(c, n,
                   text_fmt(c,
                            "Check %s itself: its load, its Wi-Fi signal, a VPN, or security "
                            "software that inspects mail traffic.",
                            w->agents));
    text_list_take(c, n, text_fmt(c, "Compare with another computer on %s.", w->nets));
}

/* The summary and next steps of a device finding. */
void device_words(struct ctx *c, const struct snap *s, const struct group *g,
                  struct analysis_finding *f, const struct finding_words *w)
{
    (void)s;
    if (g->warning) {
        slow_words(c, g, f, w);
        return;
    }
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
