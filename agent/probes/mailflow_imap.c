/*
 * mailflow_imap — the IMAP dialog of the mailflow check (see
 * mailflow_imap.h).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "mailflow_imap.h"

/* IDLE is re-issued this often even without news: some servers notify
 * late (dovecot without inotify checks every 30 s). */
#define MF_IDLE_RECHECK_US 2000000u
/* Untagged lines, literal lines included, in one reply to our commands: a
 * SEARCH or FETCH of our few messages is a handful; a server that sends
 * more is misbehaving. */
#define MF_REPLY_LINES_MAX 4096
/* Messages whose header one UID FETCH asks for (2 reply lines each). */
#define MF_FETCH_BATCH 16

static int imap_cmd(struct mailflow *m, const char *shown, enum mf_state next, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int imap_cmd(struct mailflow *m, const char *shown, enum mf_state next, const char *fmt, ...)
{
    va_list ap;

    snprintf(m->tag, sizeof(m->tag), "M%u", ++m->tagno);
    if (reply_imap_init(&m->imap, m->tag) < 0) {
        probe_mailflow_fail_close(m, RESULT_INTERNAL, "bad IMAP tag %s", m->tag);
        return -1;
    }
    m->lines = 0;
    m->in_literal = m->after_literal = false;
    va_start(ap, fmt);
    int rc = probe_mailflow_vsend(m, "IMAP", shown, next, m->tag, fmt, ap);
    va_end(ap);
    return rc;
}

/* An RFC 9051 quoted string, or false when s needs a literal. */
static bool imap_quote(const char *s, char *out, size_t outlen)
{
    size_t n = 0;

    if (outlen < 3)
        return false;
    out[n++] = '"';
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x80 || c == '\r' || c == '\n' || n + 4 > outlen)
            return false;
        if (c == '"' || c == '\\')
            out[n++] = '\\';
        out[n++] = (char)c;
    }
    out[n++] = '"';
    out[n] = '\0';
    return true;
}

static void imap_logout(struct mailflow *m)
{
    m->d.succeeded = true; /* the verdict is in; the goodbye changes nothing */
    if (imap_cmd(m, NULL, MF_ST_IMAP_LOGOUT, "LOGOUT") == 0) {
        uint64_t bye = clock_mono_us() + DIALOG_BYE_WAIT_US;
        conn_set_deadline(m->d.c, bye < m->d.p->deadline_us ? bye : m->d.p->deadline_us);
    }
}

static void imap_search(struct mailflow *m)
{
    char q[MAILFLOW_AGENT_MAX + 8];

    memset(&m->uids, 0, sizeof(m->uids));
    m->next_uid = 0;
    /* SEARCH HEADER is a substring match: "name " also finds "xname ",
     * which FETCH then tells apart. */
    snprintf(q, sizeof(q), "\"%s \"", m->marker.agent);
    (void)imap_cmd(m, NULL, MF_ST_IMAP_SEARCH, "UID SEARCH HEADER %s %s", MAILFLOW_HEADER, q);
}

static bool uid_in(const uint32_t *v, size_t n, uint32_t uid)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == uid)
            return true;
    return false;
}

static void imap_fetch_next(struct mailflow *m);
static void imap_after_verify(struct mailflow *m);

/* Files one fetched message by probe_mailflow_verdict(): ours and
 * leftovers are to be deleted, the rest is not fetched again. */
static void imap_classify(struct mailflow *m, uint32_t uid, unsigned markers,
                          const struct mailflow_marker *mk, bool valid)
{
    if (uid == 0)
        return; /* no UID on the line: never deleted */
    switch (probe_mailflow_verdict(m, markers, mk, valid)) {
    case MF_OURS:
        if (!m->found) {
            m->found = true;
            m->found_uid = uid;
            probe_mailflow_begin_wait(m); /* the deletion and goodbye may outlast the timeout */
            snprintf(m->folder, sizeof(m->folder), "%s", m->in_junk ? m->junk : "INBOX");
        }
        if (!uid_in(m->del, m->ndel, uid) && m->ndel < MF_DELETE_BATCH)
            m->del[m->ndel++] = uid;
        return;
    case MF_LEFTOVER:
        if (!uid_in(m->del, m->ndel, uid) && m->ndel < MF_DELETE_BATCH) {
            m->del[m->ndel++] = uid;
            m->leftovers++;
        }
        return;
    case MF_KEEP:
        break;
    }
    if (m->nchecked < MAILFLOW_UIDS_MAX)
        m->checked[m->nchecked++] = uid;
}

/* A line inside or right after a FETCH literal. */
static void imap_literal_line(struct mailflow *m, const char *line, size_t len)
{
    if (m->in_literal) {
        struct mailflow_marker mk;
        int rc = mailflow_marker_header(line, len, &mk);
        if (rc != 0) {
            m->cur_markers++;
            if (rc == 1 && m->cur_markers == 1) {
                m->cur = mk;
                m->cur_valid = true;
            } else {
                m->cur_valid = false;
            }
        }
        size_t used = len + 2;
        if (used < m->literal_left) {
            m->literal_left -= used;
            return;
        }
        /* The literal ends here: exactly at the line's end (the FETCH goes
         * on in the next line), or inside it (the rest was the end). */
        m->in_literal = false;
        m->after_literal = used == m->literal_left;
        m->literal_left = 0;
        imap_classify(m, m->cur_uid, m->cur_markers, &m->cur, m->cur_valid);
        return;
    }
    /* ")" or " UID 5)": the rest of the FETCH response. Another literal
     * here is not what we asked for. */
    m->after_literal = false;
    if (len > 0 && line[len - 1] == '}')
        probe_mailflow_fail_close(m, RESULT_PROTO_BAD_GREETING,
                                  "a second literal in one FETCH response instead of %s",
                                  probe_mailflow_waiting_for(m));
}

/* An untagged line while one of our mailbox commands runs. */
static void imap_untagged(struct mailflow *m, const char *line, size_t len)
{
    char bad[DIALOG_BAD_MAX];
    uint32_t n;

    if (mailflow_reply_exists(line, len, &n) == MAILFLOW_LINE_MATCH) {
        if (n > m->exists)
            m->news = true;
        m->exists = n;
        return;
    }
    if (len >= 6 && strncasecmp(line, "* BYE ", 6) == 0) {
        reply_printable(m->imap.text, sizeof(m->imap.text), line, len);
        m->imap.bye = true;
        return;
    }
    switch (m->st) {
    case MF_ST_IMAP_SEARCH:
    case MF_ST_IMAP_SEARCH_DELETED: {
        enum mailflow_line l = mailflow_reply_search(line, len, &m->uids);
        if (l == MAILFLOW_LINE_BAD) {
            dialog_describe_bad("malformed SEARCH response", line, len, bad, sizeof(bad));
            probe_mailflow_fail_close(m, RESULT_PROTO_BAD_GREETING, "%s", bad);
        }
        return;
    }
    case MF_ST_IMAP_FETCH: {
        uint32_t uid;
        size_t lit;
        enum mailflow_line l = mailflow_reply_fetch(line, len, &uid, &lit);
        if (l == MAILFLOW_LINE_TOO_BIG) {
            probe_mailflow_fail_close(m, RESULT_PROTO_BAD_GREETING,
                                      "a FETCH literal of more than %d bytes for one header field",
                                      MAILFLOW_LITERAL_MAX);
            return;
        }
        if (l == MAILFLOW_LINE_BAD) {
            dialog_describe_bad("malformed FETCH response", line, len, bad, sizeof(bad));
            probe_mailflow_fail_close(m, RESULT_PROTO_BAD_GREETING, "%s", bad);
            return;
        }
        if (l == MAILFLOW_LINE_MATCH) {
            m->cur_uid = uid;
            m->cur_markers = 0;
            m->cur_valid = false;
            if (lit > 0) {
                m->in_literal = true;
                m->literal_left = lit;
            } else {
                /* No header at all ("BODY[...] NIL" or ""): not ours. */
                imap_classify(m, uid, 0, &m->cur, false);
            }
        }
        return;
    }
    case MF_ST_IMAP_LIST: {
        char name[MAILFLOW_MAILBOX_NAME_MAX + 1];
        /* A malformed or literal-named LIST line is one folder less. */
        if (mailflow_reply_list_junk(line, len, name, sizeof(name)) == MAILFLOW_LINE_MATCH &&
            m->junk[0] == '\0')
            snprintf(m->junk, sizeof(m->junk), "%s", name);
        return;
    }
    default:
        return; /* FLAGS, RECENT, EXPUNGE, FETCH FLAGS, ... */
    }
}

static void imap_wait(struct mailflow *m);
static void imap_junk(struct mailflow *m);
static void imap_delete(struct mailflow *m);

static void mf_uidset(const uint32_t *v, size_t n, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used + 12 < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%" PRIu32, i ? "," : "", v[i]);
}

static void imap_fetch_next(struct mailflow *m)
{
    uint32_t batch[MF_FETCH_BATCH];
    size_t n = 0;
    char set[MF_FETCH_BATCH * 12];

    while (m->next_uid < m->uids.n && n < MF_FETCH_BATCH) {
        uint32_t uid = m->uids.v[m->next_uid++];
        if (!uid_in(m->checked, m->nchecked, uid) && !uid_in(m->del, m->ndel, uid))
            batch[n++] = uid;
    }
    if (n == 0) {
        imap_after_verify(m);
        return;
    }
    mf_uidset(batch, n, set, sizeof(set));
    (void)imap_cmd(m, NULL, MF_ST_IMAP_FETCH, "UID FETCH %s (UID BODY.PEEK[HEADER.FIELDS (%s)])",
                   set, MAILFLOW_HEADER);
}

/* After a round of SEARCH and FETCH: delete what is ours to delete, then
 * finish, wait, or look in Junk. */
static void imap_after_verify(struct mailflow *m)
{
    struct dialog *d = &m->d;

    if (m->ndel > 0) {
        imap_delete(m);
        return;
    }
    if (m->found) {
        dialog_phase_end(d, RESULT_PHASE_FETCH);
        if (m->in_junk)
            probe_mailflow_fail(
                m, RESULT_MAIL_IN_JUNK,
                "the test message was delivered to the Junk folder \"%s\" of %s, not to "
                "INBOX",
                m->junk, m->mailbox);
        else
            result_fail(&d->p->result, RESULT_OK, NULL);
        imap_logout(m);
        return;
    }
    if (m->in_junk) {
        dialog_phase_end(d, RESULT_PHASE_FETCH);
        probe_mailflow_fail(
            m, RESULT_MAIL_NOT_DELIVERED,
            "%s accepted the test message for %s, but it was in neither INBOX nor Junk "
            "after %.0f s",
            m->via.host, m->mailbox, (double)d->p->timeout_us / 1e6);
        imap_logout(m);
        return;
    }
    imap_wait(m);
}

static void imap_wait(struct mailflow *m)
{
    probe_mailflow_begin_wait(m);
    if (clock_mono_us() >= m->wait_until_us) {
        imap_junk(m);
        return;
    }
    dialog_phase_end(&m->d, RESULT_PHASE_FETCH);
    m->news = false;
    if (m->caps & REPLY_CAP_IDLE) {
        (void)imap_cmd(m, NULL, MF_ST_IMAP_IDLE, "IDLE");
        return;
    }
    probe_mailflow_set_state(m, MF_ST_IMAP_POLL);
    probe_mailflow_arm(m, MF_POLL_US);
}

void mailflow_imap_idle_done(struct mailflow *m)
{
    uv_timer_stop(&m->timer);
    m->timer_armed = false;
    if (reply_imap_init(&m->imap, m->tag) < 0 || dialog_send(&m->d, NULL, "DONE") < 0) {
        probe_mailflow_close(m);
        return;
    }
    probe_mailflow_set_state(m, MF_ST_IMAP_IDLE_DONE);
}

/* Not in INBOX by the timeout: find the \Junk folder (RFC 6154). */
static void imap_junk(struct mailflow *m)
{
    dialog_phase_begin(&m->d, RESULT_PHASE_FETCH);
    m->junk[0] = '\0';
    if (m->caps & REPLY_CAP_SPECIAL_USE)
        (void)imap_cmd(m, NULL, MF_ST_IMAP_LIST, "LIST (SPECIAL-USE) \"\" \"*\"");
    else
        (void)imap_cmd(m, NULL, MF_ST_IMAP_LIST, "LIST \"\" \"*\"");
}

static void imap_delete(struct mailflow *m)
{
    char set[MF_DELETE_BATCH * 12];

    mf_uidset(m->del, m->ndel, set, sizeof(set));
    (void)imap_cmd(m, NULL, MF_ST_IMAP_STORE, "UID STORE %s +FLAGS.SILENT (\\Deleted)", set);
}

static void imap_deleted(struct mailflow *m)
{
    /* Deleted (or left flagged): never fetched again this session. */
    for (size_t i = 0; i < m->ndel && m->nchecked < MAILFLOW_UIDS_MAX; i++)
        m->checked[m->nchecked++] = m->del[i];
    m->ndel = 0;
    imap_after_verify(m);
}

/* The code of a refusal, never its text (it may echo what we sent). */
static const char *imap_code(const struct mailflow *m, char *buf, size_t len)
{
    if (m->imap.code[0] == '\0')
        return "";
    snprintf(buf, len, " [%s]", m->imap.code);
    return buf;
}

static void imap_start_login(struct mailflow *m)
{
    struct dialog *d = &m->d;
    char qu[2 * DIALOG_CRED_MAX + 3], qp[2 * DIALOG_CRED_MAX + 3];

    if (dialog_secrets(d) < 0) {
        probe_mailflow_fail_close(
            m, RESULT_AUTH_UNSUPPORTED,
            "the user name or password is empty, longer than %d bytes or contains a "
            "line break, which IMAP cannot send",
            DIALOG_CRED_MAX);
        return;
    }
    dialog_phase_begin(d, RESULT_PHASE_AUTH);
    if (m->caps & REPLY_CAP_AUTH_PLAIN && m->caps & REPLY_CAP_SASL_IR) {
        (void)imap_cmd(m, "AUTHENTICATE PLAIN ***", MF_ST_IMAP_LOGIN, "AUTHENTICATE PLAIN %s",
                       d->b64_plain);
        return;
    }
    if (m->caps & REPLY_CAP_LOGINDISABLED || !imap_quote(d->p->user, qu, sizeof(qu)) ||
        !imap_quote(d->p->password, qp, sizeof(qp))) {
        explicit_bzero(qp, sizeof(qp));
        probe_mailflow_fail_close(
            m, RESULT_AUTH_UNSUPPORTED,
            "%s offers neither AUTH=PLAIN with SASL-IR nor a LOGIN the credentials "
            "fit",
            m->read.host);
        return;
    }
    (void)imap_cmd(m, "LOGIN ***", MF_ST_IMAP_LOGIN, "LOGIN %s %s", qu, qp);
    explicit_bzero(qp, sizeof(qp));
}

static void imap_after_capability(struct mailflow *m)
{
    if (!conn_is_tls(m->d.c)) {
        if (!(m->caps & REPLY_CAP_STARTTLS)) {
            probe_mailflow_fail_close(m, RESULT_PROTO_STARTTLS_UNSUPPORTED,
                                      "%s does not offer STARTTLS (not in its CAPABILITY list)",
                                      m->read.host);
            return;
        }
        dialog_phase_begin(&m->d, RESULT_PHASE_STARTTLS);
        (void)imap_cmd(m, NULL, MF_ST_IMAP_STARTTLS, "STARTTLS");
        return;
    }
    imap_start_login(m);
}

static void imap_select(struct mailflow *m, const char *folder)
{
    char q[2 * MAILFLOW_MAILBOX_NAME_MAX + 3];

    m->nchecked = 0;
    m->exists = 0;
    if (!imap_quote(folder, q, sizeof(q))) {
        probe_mailflow_fail_close(m, RESULT_PROTO_BAD_GREETING,
                                  "the Junk folder's name cannot be quoted");
        return;
    }
    (void)imap_cmd(m, NULL, MF_ST_IMAP_SELECT, "SELECT %s", q);
}

static void imap_on_reply(struct mailflow *m)
{
    struct dialog *d = &m->d;
    struct reply_imap *r = &m->imap;
    char code[REPLY_IMAP_CODE_MAX + 4];

    /* A NO or BAD to a mailbox command: the server's code names why. */
    bool ok = r->cond == REPLY_IMAP_OK;
    switch (m->st) {
    case MF_ST_IMAP_GREETING:
        dialog_phase_end(d, RESULT_PHASE_GREETING);
        if (r->cond == REPLY_IMAP_BYE) {
            probe_mailflow_fail_close(m, RESULT_PROTO_BAD_GREETING, "%s refused the session: %s",
                                      m->read.host, r->text);
            return;
        }
        if (r->cond == REPLY_IMAP_PREAUTH) {
            probe_mailflow_fail_close(m, RESULT_AUTH_UNSUPPORTED,
                                      "%s greets with PREAUTH: the mailflow check logs in itself",
                                      m->read.host);
            return;
        }
        (void)imap_cmd(m, NULL, MF_ST_IMAP_CAPABILITY, "CAPABILITY");
        return;
    case MF_ST_IMAP_CAPABILITY:
        if (!ok) {
            probe_mailflow_fail_close(m, RESULT_PROTO_BAD_GREETING, "CAPABILITY failed: %s",
                                      r->text);
            return;
        }
        m->caps = r->has_caps ? r->caps : 0;
        imap_after_capability(m);
        return;
    case MF_ST_IMAP_STARTTLS:
        dialog_phase_end(d, RESULT_PHASE_STARTTLS);
        if (!ok) {
            probe_mailflow_fail_close(m, RESULT_PROTO_STARTTLS_UNSUPPORTED, "STARTTLS refused: %s",
                                      r->text);
            return;
        }
        probe_mailflow_tls_start(m, MF_ST_IMAP_UPGRADING);
        return;
    case MF_ST_IMAP_LOGIN:
        dialog_phase_end(d, RESULT_PHASE_AUTH);
        if (!ok) {
            probe_mailflow_fail_close(
                m, r->cond == REPLY_IMAP_NO ? RESULT_AUTH_FAILED : RESULT_AUTH_UNSUPPORTED,
                "login to %s rejected: %s%s", m->read.host, reply_imap_cond_name(r->cond),
                imap_code(m, code, sizeof(code)));
            return;
        }
        if (r->has_caps) {
            m->caps = r->caps;
            imap_select(m, "INBOX");
        } else {
            (void)imap_cmd(m, NULL, MF_ST_IMAP_CAPS_AUTHED, "CAPABILITY");
        }
        return;
    case MF_ST_IMAP_CAPS_AUTHED:
        if (ok && r->has_caps)
            m->caps = r->caps;
        imap_select(m, "INBOX");
        return;
    case MF_ST_IMAP_SELECT:
        if (!ok) {
            probe_mailflow_fail_close(m, RESULT_PROTO_BAD_GREETING, "SELECT %s refused: %s%s",
                                      m->in_junk ? m->junk : "INBOX", reply_imap_cond_name(r->cond),
                                      imap_code(m, code, sizeof(code)));
            return;
        }
        imap_search(m);
        return;
    case MF_ST_IMAP_SEARCH:
        if (!ok) {
            probe_mailflow_fail_close(m, RESULT_PROTO_BAD_GREETING, "UID SEARCH refused: %s%s",
                                      reply_imap_cond_name(r->cond),
                                      imap_code(m, code, sizeof(code)));
            return;
        }
        m->seen_us = clock_mono_us();
        m->seen_wall_us = clock_wall_us();
        imap_fetch_next(m);
        return;
    case MF_ST_IMAP_FETCH:
        if (!ok) {
            probe_mailflow_fail_close(m, RESULT_PROTO_BAD_GREETING, "UID FETCH refused: %s%s",
                                      reply_imap_cond_name(r->cond),
                                      imap_code(m, code, sizeof(code)));
            return;
        }
        imap_fetch_next(m);
        return;
    case MF_ST_IMAP_STORE:
        if (!ok) {
            probe_mailflow_fail_close(
                m, RESULT_PROTO_BAD_GREETING, "UID STORE +FLAGS (\\Deleted) refused: %s%s",
                reply_imap_cond_name(r->cond), imap_code(m, code, sizeof(code)));
            return;
        }
        if (m->caps & REPLY_CAP_UIDPLUS) {
            char set[MF_DELETE_BATCH * 12];
            mf_uidset(m->del, m->ndel, set, sizeof(set));
            (void)imap_cmd(m, NULL, MF_ST_IMAP_EXPUNGE, "UID EXPUNGE %s", set);
        } else {
            /* Plain EXPUNGE removes every \Deleted message, also those
             * another client flagged and has not expunged: only when all
             * of them are ours. */
            memset(&m->uids, 0, sizeof(m->uids));
            (void)imap_cmd(m, NULL, MF_ST_IMAP_SEARCH_DELETED, "UID SEARCH DELETED");
        }
        return;
    case MF_ST_IMAP_SEARCH_DELETED: {
        bool only_ours = ok && m->uids.total == m->uids.n;
        for (size_t i = 0; only_ours && i < m->uids.n; i++)
            only_ours = uid_in(m->del, m->ndel, m->uids.v[i]);
        memset(&m->uids, 0, sizeof(m->uids));
        m->next_uid = 0;
        if (only_ours) {
            (void)imap_cmd(m, NULL, MF_ST_IMAP_EXPUNGE, "EXPUNGE");
            return;
        }
        m->expunge_withheld = true;
        imap_deleted(m);
        return;
    }
    case MF_ST_IMAP_EXPUNGE:
        if (!ok) {
            probe_mailflow_fail_close(m, RESULT_PROTO_BAD_GREETING, "EXPUNGE refused: %s%s",
                                      reply_imap_cond_name(r->cond),
                                      imap_code(m, code, sizeof(code)));
            return;
        }
        imap_deleted(m);
        return;
    case MF_ST_IMAP_IDLE:
        if (r->cond == REPLY_IMAP_CONTINUE) {
            if (reply_imap_init(&m->imap, m->tag) < 0) {
                probe_mailflow_close(m);
                return;
            }
            probe_mailflow_set_state(m, MF_ST_IMAP_IDLING);
            if (m->news)
                mailflow_imap_idle_done(m);
            else
                probe_mailflow_arm(m, MF_IDLE_RECHECK_US);
            return;
        }
        /* IDLE refused after all: poll instead. */
        m->caps &= ~(unsigned)REPLY_CAP_IDLE;
        probe_mailflow_set_state(m, MF_ST_IMAP_POLL);
        probe_mailflow_arm(m, MF_POLL_US);
        return;
    case MF_ST_IMAP_IDLING:
    case MF_ST_IMAP_IDLE_DONE:
        mailflow_imap_poll(m);
        return;
    case MF_ST_IMAP_LIST:
        if (!ok || m->junk[0] == '\0') {
            probe_mailflow_fail(
                m, RESULT_MAIL_NOT_DELIVERED,
                "%s accepted the test message for %s, but it was not in INBOX after %.0f s "
                "(and the mailbox has no \\Junk folder)",
                m->via.host, m->mailbox, (double)d->p->timeout_us / 1e6);
            dialog_phase_end(d, RESULT_PHASE_FETCH);
            imap_logout(m);
            return;
        }
        m->in_junk = true;
        imap_select(m, m->junk);
        return;
    case MF_ST_IMAP_LOGOUT:
        probe_mailflow_close(m);
        return;
    default:
        abort();
    }
}

void mailflow_imap_line(struct mailflow *m, const char *line, size_t len)
{
    enum reply_status st;

    if (m->st >= MF_ST_IMAP_SELECT && m->st <= MF_ST_IMAP_LOGOUT) {
        if (++m->lines > MF_REPLY_LINES_MAX) {
            probe_mailflow_fail_close(m, RESULT_PROTO_BAD_GREETING,
                                      "more than %d lines instead of %s", MF_REPLY_LINES_MAX,
                                      probe_mailflow_waiting_for(m));
            return;
        }
        if (m->in_literal || m->after_literal) {
            imap_literal_line(m, line, len);
            return;
        }
        if (len >= 2 && line[0] == '*' && line[1] == ' ') {
            imap_untagged(m, line, len);
            if (!m->closing && m->st == MF_ST_IMAP_IDLING && m->news)
                mailflow_imap_idle_done(m);
            return;
        }
    }
    st = reply_imap_feed(&m->imap, line, len);
    if (st == REPLY_MORE)
        return;
    if (st == REPLY_DONE) {
        imap_on_reply(m);
        return;
    }
    dialog_bad_reply(&m->d, reply_status_text(st), line, len, probe_mailflow_waiting_for(m));
    probe_mailflow_close(m);
}

int mailflow_imap_upgraded(struct mailflow *m)
{
    return imap_cmd(m, NULL, MF_ST_IMAP_CAPABILITY, "CAPABILITY");
}

void mailflow_imap_poll(struct mailflow *m)
{
    dialog_phase_begin(&m->d, RESULT_PHASE_FETCH);
    if (clock_mono_us() >= m->wait_until_us) {
        /* One last look before Junk: it may have come just now. */
        m->wait_until_us = 0;
    }
    imap_search(m);
}
