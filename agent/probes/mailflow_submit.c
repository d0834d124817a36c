/*
 * mailflow_submit — the SMTP dialog of the mailflow check (see
 * mailflow_submit.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "mailflow_submit.h"

static int smtp_cmd(struct mailflow *m, const char *shown, enum mf_state next, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int smtp_cmd(struct mailflow *m, const char *shown, enum mf_state next, const char *fmt, ...)
{
    va_list ap;

    reply_smtp_init(&m->smtp);
    va_start(ap, fmt);
    int rc = probe_mailflow_vsend(m, "SMTP", shown, next, "", fmt, ap);
    va_end(ap);
    return rc;
}

static void smtp_after_ehlo(struct mailflow *m)
{
    struct dialog *d = &m->d;

    if (!conn_is_tls(d->c)) {
        if (m->caps & REPLY_CAP_STARTTLS) {
            dialog_phase_begin(d, RESULT_PHASE_STARTTLS);
            (void)smtp_cmd(m, NULL, MF_ST_SMTP_STARTTLS, "STARTTLS");
            return;
        }
        if (m->via.kind == SPEC_SUBMISSION) {
            probe_mailflow_fail_close(m, RESULT_PROTO_STARTTLS_UNSUPPORTED,
                                      "%s does not offer STARTTLS (not in its EHLO reply)",
                                      m->via.host);
            return;
        }
    }
    if (m->via.kind != SPEC_SMTP && dialog_wants_login(d)) {
        if (!(m->caps & REPLY_CAP_AUTH_PLAIN)) {
            probe_mailflow_fail_close(
                m, RESULT_AUTH_UNSUPPORTED,
                "%s offers no AUTH PLAIN after EHLO (the mailflow check logs in with "
                "PLAIN only)",
                m->via.host);
            return;
        }
        if (dialog_secrets(d) < 0) {
            probe_mailflow_fail_close(
                m, RESULT_AUTH_UNSUPPORTED,
                "the user name or password is empty, longer than %d bytes or contains "
                "a line break, which SMTP AUTH cannot send",
                DIALOG_CRED_MAX);
            return;
        }
        dialog_phase_begin(d, RESULT_PHASE_AUTH);
        (void)smtp_cmd(m, "AUTH PLAIN ***", MF_ST_SMTP_AUTH, "AUTH PLAIN %s", d->b64_plain);
        return;
    }
    (void)smtp_cmd(m, NULL, MF_ST_SMTP_MAIL, "MAIL FROM:<%s>", m->from);
}

/* A refusal of the test message: the server's own words go into the
 * detail (they say "mailbox full", "user unknown"). */
static void smtp_refused(struct mailflow *m, const char *what)
{
    probe_mailflow_fail_close(m, RESULT_MAIL_REJECTED, "%s refused by %s: %s", what, m->via.host,
                              m->smtp.text);
}

static void smtp_on_reply(struct mailflow *m)
{
    struct dialog *d = &m->d;
    const struct reply_smtp *r = &m->smtp;
    char err[MF_ERR_MAX];

    switch (m->st) {
    case MF_ST_SMTP_BANNER:
        dialog_phase_end(d, RESULT_PHASE_GREETING);
        (void)result_set_str(&d->p->result.banner, r->text);
        if (r->code != 220) {
            probe_mailflow_fail_close(m, RESULT_PROTO_BAD_GREETING, "%s refused the session: %s",
                                      m->via.host, r->text);
            return;
        }
        (void)smtp_cmd(m, NULL, MF_ST_SMTP_EHLO, "EHLO %s", m->ehlo_name);
        return;
    case MF_ST_SMTP_EHLO:
        if (reply_smtp_class(r) != 2) {
            probe_mailflow_fail_close(m, RESULT_PROTO_BAD_GREETING, "EHLO rejected: %s", r->text);
            return;
        }
        m->caps = r->caps;
        smtp_after_ehlo(m);
        return;
    case MF_ST_SMTP_STARTTLS:
        dialog_phase_end(d, RESULT_PHASE_STARTTLS);
        if (r->code != 220) {
            probe_mailflow_fail_close(m, RESULT_PROTO_STARTTLS_UNSUPPORTED, "STARTTLS refused: %s",
                                      r->text);
            return;
        }
        probe_mailflow_tls_start(m, MF_ST_SMTP_UPGRADING);
        return;
    case MF_ST_SMTP_AUTH:
        if (r->code == 334 && !m->plain_resent) {
            /* The server ignored the initial response and asks for it. */
            m->plain_resent = true;
            reply_smtp_init(&m->smtp);
            if (dialog_send(d, "***", "%s", d->b64_plain) < 0)
                probe_mailflow_close(m);
            return;
        }
        dialog_phase_end(d, RESULT_PHASE_AUTH);
        if (r->code != 235) {
            /* Codes only: some servers echo what they were sent. */
            probe_mailflow_fail_close(m,
                                      r->code == 504 || r->code == 534 || r->code == 538 ||
                                              r->code == 530
                                          ? RESULT_AUTH_UNSUPPORTED
                                          : RESULT_AUTH_FAILED,
                                      "AUTH PLAIN rejected by %s: %d%s%s", m->via.host, r->code,
                                      r->enhanced[0] ? " " : "", r->enhanced);
            return;
        }
        (void)smtp_cmd(m, NULL, MF_ST_SMTP_MAIL, "MAIL FROM:<%s>", m->from);
        return;
    case MF_ST_SMTP_MAIL:
        if (reply_smtp_class(r) != 2) {
            smtp_refused(m, "MAIL FROM");
            return;
        }
        (void)smtp_cmd(m, NULL, MF_ST_SMTP_RCPT, "RCPT TO:<%s>", m->mailbox);
        return;
    case MF_ST_SMTP_RCPT:
        if (reply_smtp_class(r) != 2) {
            smtp_refused(m, "RCPT TO");
            return;
        }
        (void)smtp_cmd(m, NULL, MF_ST_SMTP_DATA, "DATA");
        return;
    case MF_ST_SMTP_DATA:
        if (r->code != 354) {
            smtp_refused(m, "DATA");
            return;
        }
        reply_smtp_init(&m->smtp);
        probe_mailflow_set_state(m, MF_ST_SMTP_BODY);
        if (conn_write(d->c, m->message, (size_t)m->msglen, err, sizeof(err)) < 0 ||
            conn_write(d->c, ".\r\n", 3, err, sizeof(err)) < 0)
            probe_mailflow_fail_close(m, RESULT_INTERNAL, "%s", err);
        return;
    case MF_ST_SMTP_BODY:
        if (reply_smtp_class(r) != 2) {
            smtp_refused(m, "the message (after DATA)");
            return;
        }
        m->accepted_us = clock_mono_us();
        m->accepted_wall_us = clock_wall_us();
        d->p->result.phases_us[RESULT_PHASE_SUBMIT] = m->accepted_us - m->submit_t0;
        if (smtp_cmd(m, NULL, MF_ST_SMTP_QUIT, "QUIT") == 0) {
            uint64_t bye = clock_mono_us() + DIALOG_BYE_WAIT_US;
            conn_set_deadline(d->c, bye < d->p->deadline_us ? bye : d->p->deadline_us);
        }
        return;
    case MF_ST_SMTP_QUIT:
        probe_mailflow_start_read(m);
        return;
    default:
        abort();
    }
}

void mailflow_submit_line(struct mailflow *m, const char *line, size_t len)
{
    enum reply_status st = reply_smtp_feed(&m->smtp, line, len);

    if (st == REPLY_MORE)
        return;
    if (st == REPLY_DONE) {
        smtp_on_reply(m);
        return;
    }
    if (m->st == MF_ST_SMTP_QUIT) {
        probe_mailflow_start_read(m); /* a garbled goodbye after the 250 */
        return;
    }
    dialog_bad_reply(&m->d, reply_status_text(st), line, len, probe_mailflow_waiting_for(m));
    probe_mailflow_close(m);
}

int mailflow_submit_upgraded(struct mailflow *m)
{
    /* RFC 3207 §4.2: forget what EHLO said before TLS. */
    return smtp_cmd(m, NULL, MF_ST_SMTP_EHLO, "EHLO %s", m->ehlo_name);
}
