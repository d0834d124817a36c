/*
 * analysis/delivery.c — is the mailbox still receiving email? The
 * mailflow:// check sends a marked test message and waits for it in the
 * mailbox (docs/reference.md "Check specs").
 *
 * Test mail accepted but never delivered, or refused, from every network
 * is a service finding of layer delivery even while logging in and
 * webmail work: its words send the administrator to the queue, the quota
 * and the delivery agent, or quote what the server said. Failing from one
 * network or one computer is the network or device question's. When test
 * mail fails only because the server it is sent or read through fails
 * (IMAPS down, submission refused, the login refused), the mailflow check
 * joins that server's finding: one problem is one finding.
 *
 * Warnings, whose checks pass: test mail filed into Junk (mail_in_junk:
 * delivered, but a filter takes it for spam, and real mail with it) and
 * test mail slower to arrive than the target's delivery_warn
 * (delivery_slow, unless the network it was late on fails other checks),
 * both service findings of layer delivery.
 * @unittest: tests/unit/test_delivery.c
 */
#include "snapshot.h"

#include <stdio.h>
#include <string.h>

bool delivery_is_mailflow(const char *check)
{
    return strncmp(check, "mailflow://", 11) == 0;
}

/* Whether check is a server a mailflow check sends or reads through: a
 * mail client's own protocols, never webmail nor a DNS lookup. */
static bool mail_path(const struct snap *s, size_t k)
{
    enum family f = s->ck[k].fam;
    return f == FAM_IMAP || f == FAM_POP || f == FAM_SUBMIT || f == FAM_SMTP;
}

/* The group that holds a failing row of agent a on a server check that
 * test mail goes through, other than g; NULL when none. */
static struct group *path_group(struct snap *s, const struct group *g, size_t agent)
{
    for (size_t j = 0; j < s->ngroups; j++) {
        struct group *h = &s->groups[j];
        if (h == g || h->merged)
            continue;
        for (size_t i = 0; i < h->nrows; i++) {
            const struct row *r = &s->rows[h->rows[i]];
            if (r->agent == agent && mail_path(s, r->check))
                return h;
        }
    }
    return NULL;
}

int delivery_fold(struct ctx *c, struct snap *s)
{
    for (size_t i = 0; i < s->ngroups; i++) {
        struct group *g = &s->groups[i];
        if (g->merged || g->layer == RESULT_LAYER_DELIVERY)
            continue;
        /* Only a group of test mail alone: one that already holds the
         * server's own checks is that server's finding. */
        bool only_mailflow = g->nrows > 0;
        for (size_t r = 0; r < g->nrows && only_mailflow; r++)
            only_mailflow = delivery_is_mailflow(s->checks.v[s->rows[g->rows[r]].check]);
        if (!only_mailflow)
            continue;
        struct group *h = path_group(s, g, s->rows[g->rows[0]].agent);
        if (h != NULL && snapshot_group_absorb(c, h, g) < 0)
            return -1;
    }
    return 0;
}

/* The warning group of s with key, or a new one. NULL with c->oom. */
static struct group *warning_group(struct ctx *c, struct snap *s, enum result_error key)
{
    for (size_t j = 0; j < s->ngroups; j++)
        if (s->groups[j].warning && s->groups[j].key == key && !s->groups[j].merged)
            return &s->groups[j];
    struct group proto = {.verdict = ANALYSIS_SERVICE,
                          .layer = RESULT_LAYER_DELIVERY,
                          .scope = SCOPE_TARGET,
                          .scope_idx = s->ngroups,
                          .key = key,
                          .warning = true};
    return snapshot_group_new(c, s, &proto);
}

static bool delivered_slowly(const struct analysis_input *in, size_t i)
{
    const struct analysis_state *st = &in->states[i];
    return st->ok && in->delivery_warn_us > 0 && st->delivery_us > in->delivery_warn_us;
}

/* Whether other checks fail on row i's network now. Test mail late on a
 * network whose line fails other checks too is that line's (a lossy link
 * delays the IDLE notice that the message is there), not a slow queue;
 * late from a network that is otherwise healthy stays a warning (a
 * greylisting filter delays by the sender's address). */
static bool network_failing(const struct snap *s, const struct analysis_input *in, size_t i)
{
    for (size_t j = 0; j < in->nstates; j++)
        if (s->rows[j].net == s->rows[i].net && s->rows[j].fresh && s->rows[j].failing)
            return true;
    return false;
}

int delivery_find_warnings(struct ctx *c, struct snap *s)
{
    const struct analysis_input *in = c->in;
    for (size_t i = 0; i < in->nstates; i++) {
        const struct row *r = &s->rows[i];
        const struct analysis_state *st = &in->states[i];
        if (!r->fresh || r->failing || !delivery_is_mailflow(st->check))
            continue;
        enum result_error key;
        if (r->junk)
            key = RESULT_MAIL_IN_JUNK;
        else if (delivered_slowly(in, i) && !network_failing(s, in, i))
            key = RESULT_DELIVERY_SLOW;
        else
            continue;
        struct group *g = warning_group(c, s, key);
        if (g == NULL || snapshot_group_add_row(c, g, i) < 0)
            return -1;
    }
    return 0;
}

/* The server test mail is sent through: the spec's via=, else the
 * target's first submission (or smtps) check; "" when none is known. */
static void via_host(const struct snap *s, const char *mailflow, char *buf, size_t len)
{
    buf[0] = '\0';
    const char *via = strstr(mailflow, "via=");
    if (via != NULL) {
        const char *h = strstr(via, "://");
        if (h != NULL) {
            h += 3;
            snprintf(buf, len, "%.*s", (int)strcspn(h, ":/&?"), h);
            return;
        }
    }
    for (size_t k = 0; k < s->checks.n; k++)
        if (s->ck[k].fam == FAM_SUBMIT && !s->ck[k].discovered) {
            snprintf(buf, len, "%s", s->ck[k].host);
            return;
        }
}

/* "logging in (imaps://m) and webmail (https://w/)" for the target's
 * checks of those kinds that pass everywhere they are probed; "" when
 * none does. */
static void still_working(const struct snap *s, char *buf, size_t len)
{
    char login[LINE_MAX_LEN / 4] = "", web[LINE_MAX_LEN / 4] = "";
    for (size_t k = 0; k < s->checks.n; k++) {
        const struct checkinfo *ck = &s->ck[k];
        if (ck->discovered || ck->fail > 0 || ck->ok == 0)
            continue;
        char *dst = ck->fam == FAM_IMAP || ck->fam == FAM_POP ? login
                    : ck->fam == FAM_WEB                      ? web
                                                              : NULL;
        if (dst == NULL || dst[0] != '\0')
            continue;
        snprintf(dst, LINE_MAX_LEN / 4, "%s", s->checks.v[k]);
    }
    if (login[0] && web[0])
        snprintf(buf, len, "logging in (%s) and webmail (%s) still work", login, web);
    else if (login[0])
        snprintf(buf, len, "logging in (%s) still works", login);
    else if (web[0])
        snprintf(buf, len, "webmail (%s) still works", web);
    else
        buf[0] = '\0';
}

/* What the server answered, from a mail_rejected detail ("RCPT TO refused
 * by HOST: 552 5.2.2 Mailbox full"): the text after "refused by HOST: ",
 * else the whole detail. */
static const char *server_said(const char *detail)
{
    if (detail == NULL)
        return NULL;
    const char *by = strstr(detail, " refused by ");
    const char *colon = by != NULL ? strstr(by, ": ") : NULL;
    return colon != NULL ? colon + 2 : detail;
}

/* The command a mail_rejected detail names: "MAIL FROM", "RCPT TO", "DATA". */
static void refused_command(const char *detail, char *buf, size_t len)
{
    const char *by = detail != NULL ? strstr(detail, " refused by ") : NULL;
    if (by == NULL) {
        snprintf(buf, len, "the test message");
        return;
    }
    snprintf(buf, len, "%.*s", (int)(by - detail), detail);
}

/* Words and evidence of the two warnings: their checks pass, so the
 * evidence is theirs to give (each agent's delay, or where it landed). */
static void warning_words(struct ctx *c, const struct snap *s, const struct group *g,
                          struct analysis_finding *f, const struct finding_words *w,
                          const char *server)
{
    const struct analysis_input *in = c->in;
    struct analysis_list *n = &f->next_steps;
    uint64_t worst = 0, delays[NAMES_IN_LINE * 4];
    size_t nd = 0;
    for (size_t i = 0; i < g->nrows; i++) {
        const struct analysis_state *st = &in->states[g->rows[i]];
        const char *agent = s->agents.v[s->rows[g->rows[i]].agent];
        if (f->error == RESULT_DELIVERY_SLOW) {
            if (st->delivery_us > worst)
                worst = st->delivery_us;
            if (nd < sizeof(delays) / sizeof(delays[0]))
                delays[nd++] = st->delivery_us;
            if (i < NAMES_IN_LINE)
                text_list_take(c, &f->evidence,
                               text_fmt(c, "%s: test mail took %.1f s to arrive.", agent,
                                        (double)st->delivery_us / 1e6));
        } else if (i < NAMES_IN_LINE && st->detail != NULL) {
            text_list_take(c, &f->evidence, text_fmt(c, "%s saw: %s", agent, st->detail));
        }
    }
    if (g->nrows > NAMES_IN_LINE)
        text_list_take(c, &f->evidence,
                       text_fmt(c, "... and %zu more agents.", g->nrows - NAMES_IN_LINE));
    if (f->error == RESULT_DELIVERY_SLOW) {
        uint64_t median = snapshot_median(delays, nd);
        f->summary = text_fmt(c,
                              "Mail reaches the mailbox late: test mail took %.1f s to arrive "
                              "(the slowest %.1f s), more than delivery_warn (%.0f s), as seen "
                              "by %s since %s.",
                              (double)median / 1e6, (double)worst / 1e6,
                              (double)in->delivery_warn_us / 1e6, w->agents, w->start);
        text_list_take(c, n,
                       text_fmt(c,
                                "Look at the mail queue on %s ('postqueue -p' or 'mailq'): "
                                "deferred mail and its reason show a slow or failing delivery "
                                "agent (LMTP, local delivery).",
                                server));
        text_list_add(c, n,
                      "Check what every message passes through before the mailbox: content "
                      "and virus filters, greylisting, a relay between the MX and the mailbox "
                      "server; their logs show which step waits.");
        text_list_add(c, n,
                      "If the delay is expected (a slow filter by design), raise delivery_warn "
                      "for the target in collector.conf.");
    } else {
        f->summary = text_fmt(c,
                              "Mail is delivered into Junk: test mail to the mailbox lands in "
                              "its Junk folder (seen by %s since %s), so real mail may too.",
                              w->agents, w->start);
        text_list_add(c, n,
                      "Check the spam filter and the mailbox's filter rules (sieve scripts, "
                      "server-side rules) for what files the test message as spam; the test "
                      "message carries an X-Vantage-Probe header.");
        text_list_add(c, n,
                      "Check the sending domain's SPF, DKIM and DMARC records and the "
                      "server's spam score of the message: mail failing them is often filed "
                      "as spam.");
        text_list_add(c, n, "Ask users to look in their Junk folder for missing mail meanwhile.");
    }
}

void delivery_words(struct ctx *c, const struct snap *s, const struct group *g,
                    struct analysis_finding *f, const struct finding_words *w)
{
    struct analysis_list *n = &f->next_steps;
    const struct analysis_state *example = NULL;
    for (size_t i = 0; i < g->nrows && example == NULL; i++) {
        const struct row *r = &s->rows[g->rows[i]];
        if (r->error == f->error && delivery_is_mailflow(s->checks.v[r->check]))
            example = &c->in->states[g->rows[i]];
    }
    char server[HOST_MAX];
    via_host(s, example != NULL ? example->check : f->checks.v[0], server, sizeof(server));
    if (server[0] == '\0')
        snprintf(server, sizeof(server), "the mail server");
    char working[LINE_MAX_LEN / 2];
    still_working(s, working, sizeof(working));

    if (g->warning) {
        warning_words(c, s, g, f, w, server);
        return;
    }
    if (f->error == RESULT_MAIL_REJECTED) {
        const char *said = example != NULL ? server_said(example->detail) : NULL;
        char cmd[64];
        refused_command(example != NULL ? example->detail : NULL, cmd, sizeof(cmd));
        f->summary = text_fmt(c,
                              "The mailbox is not receiving mail: %s refuses test mail (%s) from "
                              "every network since %s; the server said \"%s\".",
                              server, cmd, w->start, said != NULL ? said : "nothing");
        text_list_take(c, n,
                       text_fmt(c,
                                "Read what %s answered: \"%s\". \"Mailbox full\" or \"over "
                                "quota\": free space or raise the mailbox's quota; \"user "
                                "unknown\": the mailbox or its alias is gone (a deleted account, "
                                "a migration); a policy text: check the server's recipient and "
                                "sender restrictions (postfix access tables, "
                                "smtpd_recipient_restrictions).",
                                server, said != NULL ? said : "nothing"));
        text_list_add(c, n,
                      "Everyone who writes to this mailbox gets the same refusal as a bounce: "
                      "tell the user and their correspondents once it is fixed.");
    } else {
        f->summary =
            text_fmt(c,
                     "The mailbox is not receiving mail: test mail is accepted by %s "
                     "but %snot delivered to the mailbox, from every network, since "
                     "%s%s%s.",
                     server, w->intermittent, w->start, working[0] ? ", while " : "", working);
        text_list_take(c, n,
                       text_fmt(c,
                                "Look at the mail queue on %s: 'postqueue -p' (or 'mailq') lists "
                                "held and deferred mail with the reason; once the cause is "
                                "fixed, 'postqueue -f' delivers what waits.",
                                server));
        text_list_add(c, n,
                      "Check the mailbox's quota (e.g. 'doveadm quota get -u USER'): a full "
                      "mailbox defers new mail.");
        text_list_add(c, n,
                      "Check the delivery agent: the mail log for 'status=deferred' lines of the "
                      "test message, and whether LMTP or local delivery (dovecot-lmtp, the "
                      "local transport) runs and answers.");
        text_list_add(c, n,
                      "Users can still log in and read old mail, so they may not notice: new "
                      "mail waits in the queue or bounces after the queue's lifetime.");
    }
}
