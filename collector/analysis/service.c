/*
 * analysis/service.c — is the mailbox's server itself working? A check failing
 * from every network that probes it, while its name resolves; a server down
 * when nothing answers on any of its ports.
 */
#include "snapshot.h"

#include <stdlib.h>

#include "result.h"

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

/* The summary and next steps of a service finding. */
void service_words(struct ctx *c, const struct snap *s, const struct group *g,
                   struct analysis_finding *f, const struct finding_words *w)
{
    (void)s;
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
