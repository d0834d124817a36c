/*
 * analysis/client_config.c — did you recently migrate or upgrade? The configured
 * server fails while the domain's DNS now points to another, working one.
 */
#include "snapshot.h"

#include <stdio.h>
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
        if (!snapshot_names_servers(st->check) || !snapshot_fresh(in, st))
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

/* Whether the domain's DNS records (not autoconfig) name host. */
static bool dns_records_name(const struct analysis_input *in, const char *host)
{
    for (size_t i = 0; i < in->nstates; i++) {
        const struct analysis_state *st = &in->states[i];
        if (snapshot_is_dns_check(st->check) && snapshot_fresh(in, st) && st->answers != NULL &&
            snapshot_answers_name(st->answers, host))
            return true;
    }
    return false;
}

/* What autoconfig://'s sources advertise for host, as a fresh state last
 * saw it: the first "SOURCE PROTOCOL HOST PORT SOCKET" entry naming it
 * (changes.c writes them so), into source/port/socket. 0 when none. */
static int advertised(const struct analysis_input *in, const char *host, char *source, size_t slen,
                      unsigned *port, char *socket, size_t socklen)
{
    for (size_t i = 0; i < in->nstates; i++) {
        const struct analysis_state *st = &in->states[i];
        if (strncmp(st->check, "autoconfig://", 13) != 0 || !snapshot_fresh(in, st) ||
            st->answers == NULL)
            continue;
        for (const char *p = st->answers; *p != '\0';) {
            size_t n = strcspn(p, ",");
            char entry[LINE_MAX_LEN / 4], src[32], proto[16], h[HOST_MAX], sock[16];
            unsigned pt;
            snprintf(entry, sizeof(entry), "%.*s", (int)(n < sizeof(entry) ? n : sizeof(entry) - 1),
                     p);
            if (sscanf(entry, " %31s %15s %255s %u %15s", src, proto, h, &pt, sock) == 5 &&
                strcasecmp(h, host) == 0) {
                snprintf(source, slen, "%s", src);
                snprintf(socket, socklen, "%s", sock);
                *port = pt;
                return 1;
            }
            p += n;
            p += strspn(p, ", ");
        }
    }
    return 0;
}

/* When autoconfig's sources began to name host: the first
 * autoconfig_changed change whose after names it and whose before does
 * not, since the last that took it back; 0 when none is known. */
static int64_t advertised_since(const struct analysis_input *in, const char *host)
{
    /* The first agent to see it: every agent records the change. */
    int64_t at = 0;
    for (size_t i = 0; i < in->nchanges; i++) {
        const struct analysis_change *ch = &in->changes[i];
        if (ch->kind == NULL || strcmp(ch->kind, CHANGES_AUTOCONFIG) != 0)
            continue;
        bool now = ch->after != NULL && snapshot_answers_name(ch->after, host);
        bool was = ch->before != NULL && snapshot_answers_name(ch->before, host);
        if (now && !was && at == 0)
            at = ch->at_us;
        else if (!now && was)
            at = 0; /* taken back: a later announcement starts again */
    }
    return at;
}

static const char *client_of(const char *source)
{
    return strcmp(source, "autodiscover") == 0 ? "Outlook"
           : strcmp(source, "autoconfig") == 0 ? "Thunderbird"
                                               : "mail clients";
}

void client_config_mark_bad_ads(const struct analysis_input *in, struct snap *s)
{
    char src[32], sock[16];
    unsigned port;
    for (size_t d = 0; d < s->checks.n; d++) {
        const struct checkinfo *dk = &s->ck[d];
        if (!dk->discovered || dk->fam == FAM_NONE || dk->fail == 0 || dk->ok > 0 ||
            !advertised(in, dk->host, src, sizeof(src), &port, sock, sizeof(sock)) ||
            dns_records_name(in, dk->host))
            continue;
        bool configured_works = false;
        for (size_t k = 0; k < s->checks.n && !configured_works; k++) {
            const struct checkinfo *ck = &s->ck[k];
            configured_works = k != d && !ck->discovered && ck->fam == dk->fam && ck->ok > 0 &&
                               ck->fail == 0 && strcasecmp(ck->host, dk->host) != 0;
        }
        if (!configured_works)
            continue;
        for (size_t i = 0; i < in->nstates; i++) {
            struct row *r = &s->rows[i];
            if (r->check == d && r->failing) {
                r->failing = false;
                r->bad_ad = true;
            }
        }
    }
}

int client_config_find_warnings(struct ctx *c, struct snap *s)
{
    for (size_t i = 0; i < c->in->nstates; i++) {
        const struct row *r = &s->rows[i];
        if (!r->bad_ad)
            continue;
        struct group *g = NULL;
        for (size_t j = 0; j < s->ngroups && g == NULL; j++) {
            struct group *h = &s->groups[j];
            if (h->warning && !h->merged && h->verdict == ANALYSIS_CLIENT_CONFIG && h->nrows > 0 &&
                s->ck[s->rows[h->rows[0]].check].host_rep == s->ck[r->check].host_rep)
                g = h;
        }
        if (g == NULL) {
            struct group proto = {.verdict = ANALYSIS_CLIENT_CONFIG,
                                  .layer = RESULT_LAYER_AUTOCONFIG,
                                  .scope = SCOPE_TARGET,
                                  .scope_idx = s->ngroups,
                                  .key = s->ck[r->check].error,
                                  .warning = true};
            g = snapshot_group_new(c, s, &proto);
        }
        if (g == NULL || snapshot_group_add_row(c, g, i) < 0)
            return -1;
    }
    return 0;
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

/* A warning: autoconfig or autodiscover advertises a server that fails
 * while the configured one works; new clients will be set up wrong. */
static void bad_ad_words(struct ctx *c, const struct snap *s, const struct group *g,
                         struct analysis_finding *f, const struct finding_words *w)
{
    const struct analysis_input *in = c->in;
    const struct checkinfo *dk = &s->ck[s->rows[g->rows[0]].check];
    char src[32] = "autoconfig", sock[16] = "";
    unsigned port = 0;
    (void)advertised(in, dk->host, src, sizeof(src), &port, sock, sizeof(sock));
    const char *configured = NULL;
    for (size_t k = 0; k < s->checks.n && configured == NULL; k++)
        if (!s->ck[k].discovered && s->ck[k].fam == dk->fam && s->ck[k].ok > 0)
            configured = s->ck[k].host;
    f->summary = text_fmt(c,
                          "%s for %s tells %s to use %s:%u, which fails everywhere (%s), while "
                          "%s works: mail clients set up now will be set up wrong.",
                          src, in->domain ? in->domain : "the domain", client_of(src), dk->host,
                          port, w->err, configured ? configured : "the configured server");
    for (size_t i = 0; i < g->nrows && i < NAMES_IN_LINE; i++) {
        const struct analysis_state *st = &in->states[g->rows[i]];
        if (st->detail != NULL)
            text_list_take(c, &f->evidence,
                           text_fmt(c, "%s saw: %s: %s", s->agents.v[s->rows[g->rows[i]].agent],
                                    st->check, st->detail));
    }
    text_list_take(c, &f->evidence,
                   text_fmt(c, "%s advertises %s port %u (%s).", src, dk->host, port, sock));
    text_list_take(c, &f->next_steps,
                   text_fmt(c,
                            "Fix the %s document of %s: it should name %s (the server that "
                            "works), or bring %s back.",
                            src, in->domain ? in->domain : "the domain",
                            configured ? configured : "the working server", dk->host));
    text_list_add(c, &f->next_steps,
                  "Clients already set up keep their settings; new profiles and new phones "
                  "take what autoconfig and autodiscover say.");
}

/* The summary and next steps of a client_config finding. */
void client_config_words(struct ctx *c, const struct snap *s, const struct group *g,
                         struct analysis_finding *f, const struct finding_words *w)
{
    if (g->warning) {
        bad_ad_words(c, s, g, f, w);
        return;
    }
    struct analysis_list *n = &f->next_steps;
    const char *alt = NULL;
    const char *alt_check = NULL;
    for (size_t i = 0; i < g->nrows && alt == NULL; i++) {
        int a = s->ck[s->rows[g->rows[i]].check].alt;
        if (a >= 0) {
            alt = s->ck[a].host;
            alt_check = s->checks.v[a];
        }
    }
    char src[32], sock[16];
    unsigned port = 0;
    if (alt != NULL && advertised(c->in, alt, src, sizeof(src), &port, sock, sizeof(sock))) {
        /* What clients are told, by whom, since when (issue 10). */
        char since[40] = "";
        int64_t at = advertised_since(c->in, alt);
        if (at > 0)
            text_when(at, since, sizeof(since));
        f->summary =
            text_fmt(c,
                     "%s fail%s everywhere since %s, while %s for %s now tells %s to "
                     "use %s:%u (%s)%s%s, which works: the mailbox moved, and clients "
                     "still use the old server.",
                     w->checks, w->s, w->start, src, c->in->domain ? c->in->domain : "the domain",
                     client_of(src), alt, port, sock, since[0] ? ", since " : "", since);
        text_list_take(c, &f->evidence,
                       text_fmt(c, "%s advertises %s port %u (%s); %s works.", src, alt, port, sock,
                                alt_check));
        text_list_take(c, n,
                       text_fmt(c,
                                "Make the clients connect to %s: in Outlook create a new "
                                "profile (Autodiscover then sets it up), in Thunderbird set up "
                                "the account again; update this target's check = lines from "
                                "%s to %s.",
                                alt, w->host, alt));
        text_list_add(c, n,
                      "Confirm the migration with whoever runs the domain: the old server no "
                      "longer serves the mailbox.");
        return;
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
