/*
 * analysis/service.c — is the mailbox's server itself working? A check failing
 * from every network that probes it, while its name resolves; a server down
 * when nothing answers on any of its ports.
 */
#include "snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "result.h"

#define DAY_S 86400

/* A server is down only when its failures say so: every check of it
 * fails everywhere without an answer (a port that passes, or one that
 * answers with an error, shows the machine is up). Then its failures
 * are one finding listing every port; otherwise each failure keeps its
 * own (issue 15: a closed IMAP greeting and a refused TCP port on one
 * host are two problems). */
int service_find_down_hosts(struct ctx *c, struct snap *s)
{
    size_t nc = s->checks.n;
    bool *up = text_calloc(c, nc, sizeof(*up));
    s->host_down = text_calloc(c, nc, sizeof(*s->host_down));
    if (c->oom) {
        free(up);
        return -1;
    }
    for (size_t k = 0; k < nc; k++) {
        const struct checkinfo *ck = &s->ck[k];
        if (snapshot_is_dns_check(s->checks.v[k]) || ck->ok + ck->fail == 0)
            continue;
        if (ck->global && ck->global_verdict == ANALYSIS_SERVICE && snapshot_no_answer(ck->error))
            s->host_down[ck->host_rep] = true;
        else
            up[ck->host_rep] = true;
    }
    for (size_t k = 0; k < nc; k++)
        if (up[k])
            s->host_down[k] = false;
    free(up);
    return 0;
}

static bool same_cert(const struct analysis_state *a, const struct analysis_state *b)
{
    return a->cert_not_after == b->cert_not_after &&
           strcmp(a->cert_subject ? a->cert_subject : "", b->cert_subject ? b->cert_subject : "") ==
               0;
}

/* Only what a check saw lately counts: a stale state may show a
 * certificate renewed since. An expired one is not a warning: the check
 * fails with tls_cert_expired, a problem. */
int service_find_expiring(struct ctx *c, struct snap *s)
{
    const struct analysis_input *in = c->in;
    int days = in->cert_warn_days == 0 ? ANALYSIS_CERT_WARN_DAYS : in->cert_warn_days;
    if (days < 0)
        return 0;
    int64_t now_s = in->now_us / 1000000;
    for (size_t i = 0; i < in->nstates; i++) {
        const struct analysis_state *st = &in->states[i];
        if (!s->rows[i].fresh || st->cert_not_after <= now_s ||
            st->cert_not_after - now_s >= (int64_t)days * DAY_S)
            continue;
        struct group *g = NULL;
        for (size_t j = 0; j < s->ngroups && g == NULL; j++) {
            struct group *h = &s->groups[j];
            if (h->warning && h->key == RESULT_TLS_CERT_EXPIRING &&
                same_cert(&in->states[h->rows[0]], st))
                g = h;
        }
        if (g == NULL) {
            struct group proto = {.verdict = ANALYSIS_SERVICE,
                                  .layer = RESULT_LAYER_TLS,
                                  .scope = SCOPE_TARGET,
                                  .scope_idx = s->ngroups,
                                  .key = RESULT_TLS_CERT_EXPIRING,
                                  .warning = true};
            g = snapshot_group_new(c, s, &proto);
        }
        if (g == NULL || snapshot_group_add_row(c, g, i) < 0)
            return -1;
    }
    return 0;
}

/* "mail.example.com:993, mail.example.com:587": where a group's
 * certificate is served. */
static void endpoints(const struct snap *s, const struct group *g, char *buf, size_t len)
{
    size_t used = 0, shown = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < g->nrows && used < len; i++) {
        size_t k = s->rows[g->rows[i]].check;
        char ep[HOST_MAX + 8];
        snprintf(ep, sizeof(ep), "%s:%u", s->ck[k].host, snapshot_port_of(s->checks.v[k]));
        if (strstr(buf, ep) != NULL)
            continue;
        if (shown++ == NAMES_IN_LINE) {
            snprintf(buf + used, len - used, " and more");
            return;
        }
        used += (size_t)snprintf(buf + used, len - used, "%s%s", shown > 1 ? ", " : "", ep);
    }
}

static void expiring_words(struct ctx *c, const struct snap *s, const struct group *g,
                           struct analysis_finding *f, const struct finding_words *w)
{
    const struct analysis_input *in = c->in;
    const struct analysis_state *st = &in->states[g->rows[0]];
    struct analysis_list *n = &f->next_steps;
    char eps[LINE_MAX_LEN / 2], until[40];
    endpoints(s, g, eps, sizeof(eps));
    text_when(st->cert_not_after * 1000000, until, sizeof(until));
    int64_t left = (st->cert_not_after - in->now_us / 1000000) / DAY_S;
    const char *subject =
        st->cert_subject && st->cert_subject[0] ? st->cert_subject : "(no subject)";
    f->summary = text_fmt(c,
                          "The certificate %s served on %s expires on %s, in %lld day%s: renew "
                          "it before mail clients start refusing the server.",
                          subject, eps, until, (long long)left, left == 1 ? "" : "s");
    for (size_t i = 0; i < f->checks.n && i < CHECK_LINES; i++)
        text_list_take(c, &f->evidence,
                       text_fmt(c, "%s serves %s, valid until %s (%lld days left).", f->checks.v[i],
                                subject, until, (long long)left));
    char agents[LINE_MAX_LEN / 4];
    text_names_line(&f->agents, agents, sizeof(agents));
    text_list_take(
        c, &f->evidence,
        text_fmt(c, "Seen by %s; warning within %d days (cert_warn_days).", agents,
                 in->cert_warn_days == 0 ? ANALYSIS_CERT_WARN_DAYS : in->cert_warn_days));
    text_list_take(c, n,
                   text_fmt(c,
                            "Renew the certificate of %s (with your CA or ACME client) and "
                            "reload every service that serves it: %s.",
                            w->host, eps));
    text_list_add(c, n,
                  "Then check that each port serves the new certificate: this warning "
                  "clears when the next checks see the new expiry date.");
}

/* The summary and next steps of a service finding. */
void service_words(struct ctx *c, const struct snap *s, const struct group *g,
                   struct analysis_finding *f, const struct finding_words *w)
{
    if (g->warning) {
        expiring_words(c, s, g, f, w);
        return;
    }
    struct analysis_list *n = &f->next_steps;
    f->summary = text_fmt(c,
                          "%s %sfail%s from every network (%s) since %s: the server side is "
                          "broken, not the users' networks or computers.",
                          w->checks, w->intermittent, w->s, w->err, w->start);
    if (f->layer == RESULT_LAYER_TLS) {
        text_list_take(c, n,
                       text_fmt(c,
                                "Check the certificate %s serves%s%s: renew it if it expired, or "
                                "install one that names %s (%s).",
                                w->host, w->ports[0] ? " on" : "", w->ports, w->host,
                                result_error_hint(f->error)));
    } else if (w->no_reply && g->key == RESULT_OK && f->checks.n > 1) {
        /* service_find_down_hosts: nothing answers on any of its ports. */
        text_list_take(c, n,
                       text_fmt(c,
                                "Check the server %s: nothing answers on%s. Is the machine up, are "
                                "its mail services running and listening, does a firewall drop the "
                                "traffic? Look at its logs around %s.",
                                w->host, w->ports, w->start));
    } else if (w->no_reply || w->ports[0] == '\0') {
        text_list_take(c, n,
                       text_fmt(c,
                                "Check the mail service on %s: nothing answers on%s. Is it running "
                                "and listening there? Look at its logs around %s.",
                                w->host, w->ports[0] ? w->ports : " its port", w->start));
    } else {
        /* The port answers: asking whether it listens would send the
         * administrator to the one thing that works. */
        text_list_take(c, n,
                       text_fmt(c,
                                "The service on %s answers on%s but fails: %s. Look at its logs "
                                "around %s for why.",
                                w->host, w->ports, result_error_hint(f->error), w->start));
    }
    text_list_add(c, n,
                  "Ask a user whether webmail works: if it fails too, the whole mail service "
                  "is down; if a provider runs it, open a ticket quoting the error and the "
                  "start time.");
    text_list_add(c, n,
                  "Nothing needs changing on users' networks or computers: it fails from "
                  "every network.");
}
