/*
 * analysis/network.c — does it work on another internet connection? Every (or
 * nearly every) agent of a network fails while another network works.
 */
#include "snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a degraded link does to the checks over it: they time out at
 * whichever step the lost or late packets hit (the office's resolver
 * gives up on its upstream: servfail), or pass and fail by turns. */
static bool degraded_sign(const struct row *r)
{
    return r->flapping || r->error == RESULT_DNS_TIMEOUT || r->error == RESULT_DNS_SERVFAIL ||
           r->error == RESULT_TCP_TIMEOUT || r->error == RESULT_PROTO_TIMEOUT;
}

/* Once the link is found degraded (by its signs), every failure there of
 * a check that works elsewhere is the link's: lost packets also break
 * TLS handshakes (tls_handshake_failed) and cut connections, and a
 * person sees one problem, that office's connection (issue 9). */
bool network_degraded_row(const struct snap *s, const struct row *r)
{
    return s->net_degraded[r->net] && r->failing && !s->ck[r->check].global;
}

/* A network is degraded when at least two of its computers, and at least
 * half of those reporting, show the signs (degraded_sign) on checks that
 * do not fail everywhere, another network has no such sign, and the
 * signs are not only clean failures the ordinary rule already calls
 * network problems (every computer failing a check the same way): some
 * check there fails for some of its computers only, or fails differently
 * on different computers (a DNS timeout on one, a TCP timeout on
 * another), or flaps, or its dialogs stall in both ways: some time out
 * waiting for a greeting while the TLS handshakes of others do not finish
 * (tls_handshake_failed "in time"). A proxy that breaks TLS gives only the
 * second; a link seconds slow gives both, which read as two network
 * findings before (lab.test_warnings, 3 s of latency). A DNS timeout on
 * one check and a TCP timeout on another stay two problems (a resolver and
 * a firewall, test_two_findings). */
int network_find_degraded(struct ctx *c, struct snap *s)
{
    size_t nn = s->nets.n, na = s->agents.n, nrows = c->in->nstates;
    s->net_degraded = text_calloc(c, nn, sizeof(*s->net_degraded));
    char *sign = text_calloc(c, na, 1), *member = text_calloc(c, na, 1);
    char *partial = text_calloc(c, nn, 1);
    /* Per (check, network): the first symptom seen, + 1 (0 = none yet). */
    int *first = text_calloc(c, s->checks.n * nn, sizeof(*first));
    /* Per network: the first stall seen (a dialog or a TLS handshake that
     * does not finish), + 1 (0 = none yet). */
    int *net_first = text_calloc(c, nn, sizeof(*net_first));
    size_t *nsign = text_calloc(c, nn, sizeof(*nsign)), *nmem = text_calloc(c, nn, sizeof(*nmem));
    if (c->oom)
        goto out;
    for (size_t i = 0; i < nrows; i++) {
        const struct row *r = &s->rows[i];
        if (!r->fresh)
            continue;
        member[r->agent] = 1;
        if (!r->failing || s->ck[r->check].global)
            continue;
        if (!r->flapping &&
            (r->error == RESULT_PROTO_TIMEOUT || r->error == RESULT_TLS_HANDSHAKE_FAILED)) {
            int symptom = (int)r->error + 1;
            if (net_first[r->net] == 0)
                net_first[r->net] = symptom;
            else if (net_first[r->net] != symptom)
                partial[r->net] = 1;
        }
        if (!degraded_sign(r))
            continue;
        sign[r->agent] = 1;
        size_t p = s->probe[r->check * nn + r->net], f = s->failn[r->check * nn + r->net];
        bool down = f == p || (p >= ANALYSIS_NEARLY_MIN && 4 * f >= 3 * p);
        int symptom = r->flapping ? RESULT_ERROR_LAST + 1 : (int)r->error + 1;
        int *seen = &first[r->check * nn + r->net];
        if (!down || p < 2 || r->flapping || (*seen != 0 && *seen != symptom))
            partial[r->net] = 1;
        if (*seen == 0)
            *seen = symptom;
    }
    for (size_t a = 0; a < na; a++) {
        nmem[s->agent_net[a]] += member[a] != 0;
        nsign[s->agent_net[a]] += sign[a] != 0;
    }
    for (size_t m = 0; m < nn; m++) {
        bool other_fine = false;
        for (size_t o = 0; o < nn && !other_fine; o++)
            other_fine = o != m && nmem[o] > 0 && nsign[o] == 0;
        s->net_degraded[m] = nsign[m] >= 2 && 2 * nsign[m] >= nmem[m] && other_fine && partial[m];
    }
out:
    free(sign);
    free(member);
    free(partial);
    free(first);
    free(net_first);
    free(nsign);
    free(nmem);
    return c->oom ? -1 : 0;
}

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
        if (g->merged || g->verdict != ANALYSIS_NETWORK || g->degraded || g->warning)
            continue;
        for (size_t j = i + 1; j < s->ngroups; j++) {
            struct group *h = &s->groups[j];
            if (h->merged || h->verdict != ANALYSIS_NETWORK || h->degraded || h->warning ||
                h->layer != g->layer || !same_checks(s, g, h))
                continue;
            if (snapshot_group_absorb(c, g, h) < 0)
                return -1;
        }
    }
    return 0;
}

/* Whether a problem finding already covers network m: its slowness
 * would only repeat it. */
static bool has_problem(const struct snap *s, size_t m)
{
    for (size_t j = 0; j < s->ngroups; j++) {
        const struct group *g = &s->groups[j];
        if (g->merged || g->warning || g->verdict != ANALYSIS_NETWORK)
            continue;
        for (size_t i = 0; i < g->nrows; i++)
            if (s->rows[g->rows[i]].net == m)
                return true;
    }
    return false;
}

int network_find_slow(struct ctx *c, struct snap *s)
{
    size_t nn = s->nets.n, nrows = c->in->nstates;
    if (nn < 2)
        return 0;
    char *self = text_calloc(c, nrows, 1), *base = text_calloc(c, nrows, 1);
    char *passing = snapshot_passing_rows(c, s);
    for (size_t m = 0; m < nn && !c->oom; m++) {
        if (s->net_degraded[m] || has_problem(s, m))
            continue;
        for (size_t i = 0; i < nrows; i++) {
            const struct row *r = &s->rows[i];
            self[i] = passing[i] && r->net == m;
            base[i] = passing[i] && r->net != m && !s->net_degraded[r->net];
        }
        struct group proto = {.verdict = ANALYSIS_NETWORK,
                              .scope = SCOPE_NETWORK,
                              .scope_idx = m,
                              .key = RESULT_SLOW,
                              .warning = true};
        if (snapshot_slow(c, s, self, base, NULL, 0, true, &proto) < 0)
            break;
    }
    free(passing);
    free(self);
    free(base);
    return c->oom ? -1 : 0;
}

/* Phases a person compares between networks, besides the total. */
static const struct {
    enum result_phase phase;
    const char *name;
} shown_phases[] = {
    {RESULT_PHASE_DNS, "dns"}, {RESULT_PHASE_CONNECT, "connect"}, {RESULT_PHASE_TLS, "tls"}};

void network_latency_evidence(struct ctx *c, const struct snap *s, struct analysis_finding *f)
{
    const struct analysis_input *in = c->in;
    size_t nn = s->nets.n, nrows = in->nstates;
    char *in_checks = text_calloc(c, s->checks.n, 1);
    uint64_t *v = text_calloc(c, nrows, sizeof(*v));
    size_t *order = text_calloc(c, nn, sizeof(*order));
    if (c->oom)
        goto out;
    for (size_t i = 0; i < f->checks.n; i++)
        in_checks[snapshot_name_index(&s->checks, f->checks.v[i])] = 1;
    size_t no = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t m = 0; m < nn; m++)
            if (text_list_has(&f->networks, s->nets.v[m]) == (pass == 0))
                order[no++] = m;
    size_t shown = 0;
    for (size_t oi = 0; oi < no && shown < NAMES_IN_LINE; oi++) {
        size_t m = order[oi];
        char buf[LINE_MAX_LEN];
        int used = snprintf(buf, sizeof(buf), "Median times of these checks on %s:", s->nets.v[m]);
        for (size_t p = 0; p < sizeof(shown_phases) / sizeof(shown_phases[0]); p++) {
            size_t k = 0;
            for (size_t i = 0; i < nrows; i++)
                if (s->rows[i].fresh && s->rows[i].net == m && in_checks[s->rows[i].check] &&
                    in->states[i].phases_us[shown_phases[p].phase] > 0)
                    v[k++] = in->states[i].phases_us[shown_phases[p].phase];
            if (k > 0 && used > 0 && (size_t)used < sizeof(buf))
                used += snprintf(buf + used, sizeof(buf) - (size_t)used, " %s %.0f ms,",
                                 shown_phases[p].name, (double)snapshot_median(v, k) / 1000.0);
        }
        size_t k = 0;
        for (size_t i = 0; i < nrows; i++)
            if (s->rows[i].fresh && s->rows[i].net == m && in_checks[s->rows[i].check] &&
                in->states[i].total_us > 0)
                v[k++] = in->states[i].total_us;
        if (k == 0 || used <= 0 || (size_t)used >= sizeof(buf))
            continue;
        snprintf(buf + used, sizeof(buf) - (size_t)used, " total %.0f ms (%zu results).",
                 (double)snapshot_median(v, k) / 1000.0, k);
        text_list_add(c, &f->evidence, buf);
        shown++;
    }
out:
    free(in_checks);
    free(v);
    free(order);
}

/* How many computers on f's networks probe f's checks: "every agent" is
 * said only when they all fail. */
static size_t agents_probing(const struct ctx *c, const struct snap *s,
                             const struct analysis_finding *f)
{
    size_t n = 0;
    for (size_t a = 0; a < s->agents.n; a++) {
        if (!text_list_has(&f->networks, s->nets.v[s->agent_net[a]]))
            continue;
        bool probes = false;
        for (size_t i = 0; i < c->in->nstates && !probes; i++)
            probes = s->rows[i].agent == a && s->rows[i].fresh &&
                     text_list_has(&f->checks, s->checks.v[s->rows[i].check]);
        n += probes;
    }
    return n;
}

/* "a1 dns_timeout, a2 tcp_timeout, a3 flapping": each computer of a
 * degraded network's finding with its most common symptom. */
static void symptoms_line(const struct snap *s, const struct group *g, char *buf, size_t len)
{
    size_t used = 0, shown = 0, na = s->agents.n;
    buf[0] = '\0';
    for (size_t a = 0; a < na && used < len; a++) {
        size_t count[RESULT_ERROR_LAST + 1] = {0}; /* the last slot: flapping */
        bool any = false;
        for (size_t i = 0; i < g->nrows; i++) {
            const struct row *r = &s->rows[g->rows[i]];
            if (r->agent != a)
                continue;
            any = true;
            count[r->flapping ? RESULT_ERROR_LAST : r->error]++;
        }
        if (!any)
            continue;
        if (shown++ == NAMES_IN_LINE) {
            snprintf(buf + used, len - used, " and more");
            return;
        }
        size_t best = 0;
        for (size_t e = 1; e <= RESULT_ERROR_LAST; e++)
            if (count[e] > count[best])
                best = e;
        used += (size_t)snprintf(
            buf + used, len - used, "%s%s %s", shown > 1 ? ", " : "", s->agents.v[a],
            best == RESULT_ERROR_LAST ? "flapping" : result_error_name((enum result_error)best));
    }
}

static void degraded_words(struct ctx *c, const struct snap *s, const struct group *g,
                           struct analysis_finding *f, const struct finding_words *w)
{
    struct analysis_list *n = &f->next_steps;
    char mix[LINE_MAX_LEN / 2], ok_nets[LINE_MAX_LEN / 4];
    symptoms_line(s, g, mix, sizeof(mix));
    text_names_line(&f->healthy_networks, ok_nets, sizeof(ok_nets));
    /* Say "at different steps" only when they differ, "by turns" only
     * when something flaps. */
    bool differ = false, flaps = false;
    for (size_t i = 0; i < g->nrows; i++) {
        const struct row *r = &s->rows[g->rows[i]], *r0 = &s->rows[g->rows[0]];
        flaps |= r->flapping;
        differ |= r->error != r0->error;
    }
    const char *how = differ && flaps ? ", at different steps or by turns,"
                      : differ        ? ", at different steps,"
                      : flaps         ? ", by turns,"
                                      : "";
    f->summary = text_fmt(c,
                          "The connection of %s is degraded since %s: %zu of %zu computers there "
                          "fail%s checks that work from other networks (%s): look at that "
                          "network's link (latency, packet loss).",
                          w->nets, w->start, f->agents.n, agents_probing(c, s, f), how, mix);
    text_list_take(c, n,
                   text_fmt(c, "Mailbox and webmail work from %s: the server is fine.",
                            f->healthy_networks.n ? ok_nets : "other networks"));
    text_list_take(c, n,
                   text_fmt(c,
                            "Measure the link of %s: ping and traceroute from a computer there "
                            "to %s and to the router, and look for latency and packet loss.",
                            w->nets, w->host));
    text_list_take(c, n,
                   text_fmt(c,
                            "Look at what fills or breaks the line of %s (backups, updates, video "
                            "calls, a failing modem or Wi-Fi) and ask its internet provider "
                            "about the line's quality.",
                            w->nets));
}

static void slow_words(struct ctx *c, const struct snap *s, const struct group *g,
                       struct analysis_finding *f, const struct finding_words *w)
{
    (void)s;
    struct analysis_list *n = &f->next_steps;
    double slow = (double)g->slow_us / 1000.0, base = (double)g->base_us / 1000.0;
    const char *layer = result_layer_name(f->layer);
    f->summary = text_fmt(c,
                          "%s is slow: the same checks take %.0f ms there against %.0f ms from "
                          "other networks (median, %.1f times): mail still works, but users "
                          "there wait, and a worse day makes it fail.",
                          w->nets, slow, base, base > 0 ? slow / base : 0.0);
    text_list_take(c, &f->evidence,
                   text_fmt(c,
                            "Median total time of %s: %.0f ms on %s over %zu results; %.0f ms on "
                            "the other networks over %zu results (slow: at least %d times and "
                            "%d ms more).",
                            w->checks, slow, w->nets, g->slow_n, base, g->base_n,
                            ANALYSIS_SLOW_FACTOR, ANALYSIS_SLOW_MIN_US / 1000));
    if (layer != NULL && f->layer != RESULT_LAYER_NONE)
        text_list_take(c, &f->evidence,
                       text_fmt(c, "Most of the time goes to the %s step.", layer));
    text_list_take(c, n,
                   text_fmt(c,
                            "Measure the link of %s: ping and traceroute from a computer there "
                            "to %s, and look for latency and packet loss on the line, the "
                            "router and the Wi-Fi.",
                            w->nets, w->host));
    text_list_take(c, n,
                   text_fmt(c,
                            "Look for what fills the line of %s (backups, updates, video calls) "
                            "and ask its internet provider about the line's quality.",
                            w->nets));
}

/* The summary and next steps of a network finding. */
void network_words(struct ctx *c, const struct snap *s, const struct group *g,
                   struct analysis_finding *f, const struct finding_words *w)
{
    if (g->warning) {
        slow_words(c, s, g, f, w);
        return;
    }
    if (g->degraded) {
        degraded_words(c, s, g, f, w);
        return;
    }
    struct analysis_list *n = &f->next_steps;
    size_t probing = agents_probing(c, s, f);
    char who[LINE_MAX_LEN / 2];
    if (f->agents.n >= probing)
        snprintf(who, sizeof(who), "every agent on %s (%zu)", w->nets, f->agents.n);
    else
        snprintf(who, sizeof(who), "%zu of %zu agents on %s", f->agents.n, probing, w->nets);
    f->summary = text_fmt(c,
                          "%s %sfail%s (%s) from %s since %s, while other networks work: the "
                          "problem is that network's %s.",
                          w->checks, w->intermittent, w->s, w->err, who, w->start,
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
