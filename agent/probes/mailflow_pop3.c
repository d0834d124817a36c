/*
 * mailflow_pop3 — the POP3 dialog of the mailflow check (see
 * mailflow_pop3.h).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "mailflow_pop3.h"

/* POP3 TOP n 0 returns the header: real ones have under 200 lines. */
#define MF_TOP_LINES_MAX 2000

static int pop_cmd(struct mailflow *m, const char *shown, enum mf_state next, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int pop_cmd(struct mailflow *m, const char *shown, enum mf_state next, const char *fmt, ...)
{
    va_list ap;

    reply_pop3_init(&m->pop, false);
    m->pop_status_seen = false;
    m->lines = 0;
    va_start(ap, fmt);
    int rc = probe_mailflow_vsend(m, "POP3", shown, next, "", fmt, ap);
    va_end(ap);
    return rc;
}

static bool pop_checked(const struct mailflow *m, const char *uid)
{
    for (size_t i = 0; i < m->npop_checked; i++)
        if (strcmp(m->pop_checked[i], uid) == 0)
            return true;
    return false;
}

static void pop_check_remember(struct mailflow *m, const char *uid)
{
    size_t n = strnlen(uid, MAILFLOW_UIDL_MAX);
    if (m->npop_checked < MF_POP_RECENT) {
        memmove(m->pop_checked[m->npop_checked], uid, n);
        m->pop_checked[m->npop_checked++][n] = '\0';
    }
}

static void pop_quit(struct mailflow *m)
{
    (void)pop_cmd(m, NULL, MF_ST_POP_QUIT, "QUIT");
}

/* The newest message not yet examined, or QUIT (which commits DELE). */
static void pop_examine_next(struct mailflow *m)
{
    while (m->pop_left > 0) {
        size_t i = (m->pop_next + MF_POP_RECENT - 1) % MF_POP_RECENT;
        m->pop_next = i;
        m->pop_left--;
        const struct mf_pop_msg *msg = &m->recent[i];
        if (pop_checked(m, msg->uid))
            continue;
        m->cur_uid = msg->msgno;
        m->cur_markers = 0;
        m->cur_valid = false;
        m->top_lines = 0;
        (void)pop_cmd(m, NULL, MF_ST_POP_TOP, "TOP %" PRIu32 " 0", msg->msgno);
        return;
    }
    if (m->npop_del > m->pop_del_next) {
        (void)pop_cmd(m, NULL, MF_ST_POP_DELE, "DELE %" PRIu32, m->pop_del[m->pop_del_next++]);
        return;
    }
    pop_quit(m);
}

/* The header of message cur_uid is read: ours, a leftover, or not ours. */
static void pop_classify(struct mailflow *m)
{
    struct mf_pop_msg *msg = &m->recent[m->pop_next];
    enum mf_verdict v = probe_mailflow_verdict(m, m->cur_markers, &m->cur, m->cur_valid);

    if (v == MF_OURS && !m->found) {
        m->found = true;
        probe_mailflow_begin_wait(m); /* DELE and QUIT may outlast the timeout */
        snprintf(m->folder, sizeof(m->folder), "INBOX");
    }
    if (v == MF_LEFTOVER)
        m->leftovers++;
    if (v != MF_KEEP && m->npop_del < MF_DELETE_BATCH)
        m->pop_del[m->npop_del++] = msg->msgno;
    pop_check_remember(m, msg->uid);
}

void mailflow_pop3_after_quit(struct mailflow *m)
{
    struct dialog *d = &m->d;

    probe_mailflow_drop_conn(m);
    dialog_phase_end(d, RESULT_PHASE_FETCH);
    if (m->found) {
        result_fail(&d->p->result, RESULT_OK, NULL);
        d->succeeded = true;
        probe_mailflow_close(m);
        return;
    }
    if (clock_mono_us() >= m->wait_until_us) {
        probe_mailflow_fail_close(
            m, RESULT_MAIL_NOT_DELIVERED,
            "%s accepted the test message for %s, but it was not in the mailbox after "
            "%.0f s (POP3 shows the inbox only)",
            m->via.host, m->mailbox, (double)d->p->timeout_us / 1e6);
        return;
    }
    /* A POP3 session sees the maildrop as it was at login: log in again
     * (the messages examined stay examined). */
    probe_mailflow_begin_wait(m);
    probe_mailflow_set_state(m, MF_ST_POP_WAIT);
    probe_mailflow_arm(m, MF_POLL_US);
}

static void pop_on_status(struct mailflow *m)
{
    struct dialog *d = &m->d;
    const struct reply_pop3 *r = &m->pop;
    char qshown[16];

    switch (m->st) {
    case MF_ST_POP_GREETING:
        dialog_phase_end(d, RESULT_PHASE_GREETING);
        if (!r->ok) {
            probe_mailflow_fail_close(m, RESULT_PROTO_BAD_GREETING, "%s refused the session: %s",
                                      m->read.host, r->text);
            return;
        }
        if (!conn_is_tls(d->c)) {
            dialog_phase_begin(d, RESULT_PHASE_STARTTLS);
            (void)pop_cmd(m, NULL, MF_ST_POP_STLS, "STLS");
            return;
        }
        if (dialog_secrets(d) < 0) {
            probe_mailflow_fail_close(
                m, RESULT_AUTH_UNSUPPORTED,
                "the user name or password is empty, longer than %d bytes or contains "
                "a line break, which POP3 cannot send",
                DIALOG_CRED_MAX);
            return;
        }
        dialog_phase_begin(d, RESULT_PHASE_AUTH);
        (void)pop_cmd(m, NULL, MF_ST_POP_USER, "USER %s", d->p->user);
        return;
    case MF_ST_POP_STLS:
        dialog_phase_end(d, RESULT_PHASE_STARTTLS);
        if (!r->ok) {
            probe_mailflow_fail_close(m, RESULT_PROTO_STARTTLS_UNSUPPORTED, "STLS refused: %s",
                                      r->text);
            return;
        }
        probe_mailflow_tls_start(m, MF_ST_POP_UPGRADING);
        return;
    case MF_ST_POP_USER:
        if (!r->ok) {
            dialog_phase_end(d, RESULT_PHASE_AUTH);
            probe_mailflow_fail_close(m, RESULT_AUTH_FAILED, "USER refused by %s", m->read.host);
            return;
        }
        snprintf(qshown, sizeof(qshown), "PASS ***");
        (void)pop_cmd(m, qshown, MF_ST_POP_PASS, "PASS %s", d->p->password);
        return;
    case MF_ST_POP_PASS:
        dialog_phase_end(d, RESULT_PHASE_AUTH);
        if (!r->ok) {
            /* The text may echo; the verdict is enough. */
            probe_mailflow_fail_close(m, RESULT_AUTH_FAILED, "login to %s rejected: -ERR",
                                      m->read.host);
            return;
        }
        m->nrecent = 0;
        m->nlisted = 0;
        (void)pop_cmd(m, NULL, MF_ST_POP_UIDL, "UIDL");
        return;
    case MF_ST_POP_DELE:
        if (!r->ok) {
            probe_mailflow_fail_close(m, RESULT_PROTO_BAD_GREETING, "DELE refused: %s", r->text);
            return;
        }
        pop_examine_next(m);
        return;
    case MF_ST_POP_QUIT:
        if (!r->ok && m->npop_del > 0) {
            probe_mailflow_fail_close(m, RESULT_PROTO_BAD_GREETING,
                                      "QUIT refused, so the deletions were not committed: %s",
                                      r->text);
            return;
        }
        if (m->npop_del > 0) {
            /* Message numbers change with the next login. */
            m->npop_del = m->pop_del_next = 0;
        }
        mailflow_pop3_after_quit(m);
        return;
    default:
        abort();
    }
}

void mailflow_pop3_line(struct mailflow *m, const char *line, size_t len)
{
    char bad[DIALOG_BAD_MAX];

    if ((m->st == MF_ST_POP_UIDL || m->st == MF_ST_POP_TOP) && m->pop_status_seen) {
        bool end = len == 1 && line[0] == '.';
        if (!end && len > 0 && line[0] == '.') {
            line++; /* RFC 1939 §3: byte-stuffing */
            len--;
        }
        if (m->st == MF_ST_POP_UIDL) {
            if (end) {
                if (!m->found) {
                    m->seen_us = clock_mono_us();
                    m->seen_wall_us = clock_wall_us();
                }
                m->pop_left = m->nrecent;
                m->pop_next = (size_t)(m->nlisted % MF_POP_RECENT);
                m->npop_del = m->pop_del_next = 0;
                pop_examine_next(m);
                return;
            }
            struct mf_pop_msg msg;
            if (mailflow_reply_uidl(line, len, &msg.msgno, msg.uid, sizeof(msg.uid)) !=
                MAILFLOW_LINE_MATCH) {
                dialog_describe_bad("malformed UIDL line", line, len, bad, sizeof(bad));
                probe_mailflow_fail_close(m, RESULT_PROTO_BAD_GREETING, "%s", bad);
                return;
            }
            m->recent[m->nlisted % MF_POP_RECENT] = msg;
            m->nlisted++;
            if (m->nrecent < MF_POP_RECENT)
                m->nrecent++;
            return;
        }
        if (end) {
            pop_classify(m);
            pop_examine_next(m);
            return;
        }
        if (++m->top_lines > MF_TOP_LINES_MAX) {
            probe_mailflow_fail_close(m, RESULT_PROTO_BAD_GREETING,
                                      "a message header of more than %d lines instead of %s",
                                      MF_TOP_LINES_MAX, probe_mailflow_waiting_for(m));
            return;
        }
        struct mailflow_marker mk;
        int rc = mailflow_marker_header(line, len, &mk);
        if (rc != 0) {
            m->cur_markers++;
            m->cur_valid = rc == 1 && m->cur_markers == 1;
            if (m->cur_valid)
                m->cur = mk;
        }
        return;
    }
    enum reply_status st = reply_pop3_feed(&m->pop, line, len);
    if (st == REPLY_DONE) {
        if ((m->st == MF_ST_POP_UIDL || m->st == MF_ST_POP_TOP) && m->pop.ok) {
            m->pop_status_seen = true;
            return;
        }
        if (m->st == MF_ST_POP_UIDL || m->st == MF_ST_POP_TOP) {
            probe_mailflow_fail_close(m, RESULT_PROTO_BAD_GREETING, "%s refused: %s",
                                      m->st == MF_ST_POP_UIDL ? "UIDL" : "TOP", m->pop.text);
            return;
        }
        pop_on_status(m);
        return;
    }
    dialog_bad_reply(&m->d, reply_status_text(st), line, len, probe_mailflow_waiting_for(m));
    probe_mailflow_close(m);
}

int mailflow_pop3_upgraded(struct mailflow *m)
{
    struct dialog *d = &m->d;

    reply_pop3_init(&m->pop, false);
    m->pop_status_seen = false;
    /* No second greeting after STLS: log in at once. */
    if (dialog_secrets(d) < 0) {
        probe_mailflow_fail_close(m, RESULT_AUTH_UNSUPPORTED,
                                  "the user name or password cannot be sent over POP3");
        return -1;
    }
    dialog_phase_begin(d, RESULT_PHASE_AUTH);
    return pop_cmd(m, NULL, MF_ST_POP_USER, "USER %s", d->p->user);
}
