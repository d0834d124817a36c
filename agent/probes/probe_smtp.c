/*
 * probe_smtp — smtps://, submission:// and smtp:// (docs/reference.md "Check
 * specs"): the SMTP dialog a mail client (or, for smtp://, a sending MTA)
 * runs before it sends mail.
 *
 *   smtps:      TCP, TLS, 220 banner, EHLO[, AUTH], QUIT
 *   submission: TCP, 220 banner, EHLO, STARTTLS (required), TLS, EHLO
 *               [, AUTH], QUIT
 *   smtp:       TCP, 220 banner, EHLO, STARTTLS when offered (then TLS,
 *               EHLO), QUIT — never AUTH: port 25 is where other servers
 *               deliver mail, and a target's credentials are for its
 *               mailbox and submission service, not its MX.
 *
 * AUTH is PLAIN with an initial response (RFC 4954) when offered, else
 * LOGIN; it never happens before TLS is up. 535 (and other 5.7.x) is
 * auth_failed; no usable mechanism is auth_unsupported.
 *
 * One state machine per probe (STYLE.md §5): every change goes through
 * smtp_set_state(); conn events arrive in on_conn()'s one switch, and each
 * complete reply in on_reply()'s.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dialog.h"

#define ERR_MAX 256
/* RFC 5321 §4.1.1.1: a domain is at most 255 octets. */
#define SMTP_EHLO_NAME_MAX 256

enum smtp_kind {
    SMTP_KIND_SMTPS,      /* implicit TLS, 465 */
    SMTP_KIND_SUBMISSION, /* STARTTLS required, 587 */
    SMTP_KIND_SMTP        /* STARTTLS when offered, no AUTH, 25 */
};

enum smtp_state {
    SMTP_ST_CONNECTING, /* TCP handshake */
    SMTP_ST_HANDSHAKE,  /* smtps: TLS handshake before the banner */
    SMTP_ST_BANNER,     /* waiting for 220 */
    SMTP_ST_EHLO,       /* EHLO sent */
    SMTP_ST_STARTTLS,   /* STARTTLS sent */
    SMTP_ST_UPGRADING,  /* TLS handshake after STARTTLS */
    SMTP_ST_AUTH_PLAIN, /* AUTH PLAIN with the initial response sent */
    SMTP_ST_AUTH_LOGIN, /* AUTH LOGIN sent, waiting for 334 (user name) */
    SMTP_ST_AUTH_USER,  /* user name sent, waiting for 334 (password) */
    SMTP_ST_AUTH_PASS,  /* password sent, waiting for the verdict */
    SMTP_ST_QUIT,       /* QUIT sent; the check has passed */
    SMTP_ST_DONE,       /* closing */
    SMTP_ST_LAST
};

static const char *const smtp_state_names[SMTP_ST_LAST] = {
    [SMTP_ST_CONNECTING] = "connecting",
    [SMTP_ST_HANDSHAKE] = "handshake",
    [SMTP_ST_BANNER] = "banner",
    [SMTP_ST_EHLO] = "ehlo",
    [SMTP_ST_STARTTLS] = "starttls",
    [SMTP_ST_UPGRADING] = "upgrading",
    [SMTP_ST_AUTH_PLAIN] = "auth-plain",
    [SMTP_ST_AUTH_LOGIN] = "auth-login",
    [SMTP_ST_AUTH_USER] = "auth-user",
    [SMTP_ST_AUTH_PASS] = "auth-pass",
    [SMTP_ST_QUIT] = "quit",
    [SMTP_ST_DONE] = "done",
};

static const char *const smtp_waiting_for[SMTP_ST_LAST] = {
    [SMTP_ST_CONNECTING] = "the connection",
    [SMTP_ST_HANDSHAKE] = "the TLS handshake",
    [SMTP_ST_BANNER] = "the SMTP banner",
    [SMTP_ST_EHLO] = "the reply to EHLO",
    [SMTP_ST_STARTTLS] = "the reply to STARTTLS",
    [SMTP_ST_UPGRADING] = "the TLS handshake after STARTTLS",
    [SMTP_ST_AUTH_PLAIN] = "the verdict on the credentials",
    [SMTP_ST_AUTH_LOGIN] = "the reply to AUTH LOGIN",
    [SMTP_ST_AUTH_USER] = "the reply to the user name",
    [SMTP_ST_AUTH_PASS] = "the verdict on the credentials",
    [SMTP_ST_QUIT] = "the reply to QUIT",
    [SMTP_ST_DONE] = "nothing",
};

struct smtp {
    struct dialog d; /* first: see dialog_create() */
    enum smtp_state st;
    enum smtp_kind kind;
    unsigned caps;      /* REPLY_CAP_* from the last EHLO */
    bool plain_resent;  /* AUTH PLAIN: the server asked (334) for the response */
    const char *method; /* "AUTH PLAIN" or "AUTH LOGIN", for details */
    char ehlo_name[SMTP_EHLO_NAME_MAX];
    struct reply_smtp reply;
};

/* The only way to change state. */
static void smtp_set_state(struct smtp *m, enum smtp_state st)
{
    assert((unsigned)st < SMTP_ST_LAST);
    dialog_trace_state(&m->d, smtp_state_names[m->st], smtp_state_names[st]);
    m->st = st;
}

static void smtp_end(struct smtp *m)
{
    smtp_set_state(m, SMTP_ST_DONE);
    dialog_finish(&m->d);
}

/* Sends "VERB" or "VERB ARG" and prepares the parser for its reply. */
static int smtp_command(struct smtp *m, const char *shown, enum smtp_state next, const char *verb,
                        const char *arg)
{
    reply_smtp_init(&m->reply);
    int rc = arg != NULL ? dialog_send(&m->d, shown, "%s %s", verb, arg)
                         : dialog_send(&m->d, shown, "%s", verb);
    if (rc < 0)
        return -1;
    smtp_set_state(m, next);
    return 0;
}

static void smtp_quit(struct smtp *m)
{
    result_fail(&m->d.p->result, RESULT_OK, NULL);
    m->d.succeeded = true;
    if (smtp_command(m, NULL, SMTP_ST_QUIT, "QUIT", NULL) < 0) {
        result_fail(&m->d.p->result, RESULT_OK, NULL);
        smtp_end(m);
        return;
    }
    uint64_t bye = clock_mono_us() + DIALOG_BYE_WAIT_US;
    conn_set_deadline(m->d.c, bye < m->d.p->deadline_us ? bye : m->d.p->deadline_us);
}

/* "535 5.7.8": the code and the enhanced code of the reply, never its
 * text, which some servers use to echo what they were sent. */
static const char *smtp_codes(const struct smtp *m, char *buf, size_t len)
{
    if (m->reply.enhanced[0] != '\0')
        snprintf(buf, len, "%d %s", m->reply.code, m->reply.enhanced);
    else
        snprintf(buf, len, "%d", m->reply.code);
    return buf;
}

static void smtp_start_auth(struct smtp *m)
{
    struct dialog *d = &m->d;
    int rc;

    if (!(m->caps & REPLY_CAP_AUTH)) {
        dialog_fail(d, RESULT_AUTH_UNSUPPORTED, "the server offers no AUTH after EHLO");
        smtp_end(m);
        return;
    }
    if (!(m->caps & (REPLY_CAP_AUTH_PLAIN | REPLY_CAP_AUTH_LOGIN))) {
        dialog_fail(d, RESULT_AUTH_UNSUPPORTED,
                    "the server offers AUTH, but neither PLAIN nor LOGIN");
        smtp_end(m);
        return;
    }
    if (dialog_secrets(d) < 0) {
        dialog_fail(d, RESULT_AUTH_UNSUPPORTED,
                    "the user name or password is empty, longer than %d bytes or contains a line "
                    "break, which SMTP AUTH cannot send",
                    DIALOG_CRED_MAX);
        smtp_end(m);
        return;
    }
    dialog_phase_begin(d, RESULT_PHASE_AUTH);
    if (m->caps & REPLY_CAP_AUTH_PLAIN) {
        m->method = "AUTH PLAIN";
        rc = smtp_command(m, "AUTH PLAIN ***", SMTP_ST_AUTH_PLAIN, "AUTH PLAIN", d->b64_plain);
    } else {
        m->method = "AUTH LOGIN";
        rc = smtp_command(m, NULL, SMTP_ST_AUTH_LOGIN, "AUTH LOGIN", NULL);
    }
    if (rc < 0)
        smtp_end(m);
}

static void smtp_after_ehlo(struct smtp *m)
{
    struct dialog *d = &m->d;

    if (!conn_is_tls(d->c)) {
        if (m->caps & REPLY_CAP_STARTTLS) {
            dialog_phase_begin(d, RESULT_PHASE_STARTTLS);
            if (smtp_command(m, NULL, SMTP_ST_STARTTLS, "STARTTLS", NULL) < 0)
                smtp_end(m);
            return;
        }
        if (m->kind == SMTP_KIND_SUBMISSION) {
            dialog_fail(d, RESULT_PROTO_STARTTLS_UNSUPPORTED,
                        "the server does not offer STARTTLS (not in its EHLO reply)");
            smtp_end(m);
            return;
        }
        smtp_quit(m); /* smtp://: plaintext is what the server offers */
        return;
    }
    if (m->kind != SMTP_KIND_SMTP && dialog_wants_login(d)) {
        smtp_start_auth(m);
        return;
    }
    smtp_quit(m);
}

/* The verdict on the credentials: 235 or a refusal. */
static void smtp_auth_verdict(struct smtp *m)
{
    struct dialog *d = &m->d;
    const struct reply_smtp *r = &m->reply;
    char codes[32];

    dialog_phase_end(d, RESULT_PHASE_AUTH);
    if (r->code == 235) {
        smtp_quit(m);
        return;
    }
    /* RFC 4954 §6: 504 unknown mechanism, 534 mechanism too weak, 538
     * encryption required; 530 (RFC 3207) STARTTLS first. Everything else
     * (535 and the temporary 454) is a refusal of these credentials. */
    enum result_error e = (r->code == 504 || r->code == 534 || r->code == 538 || r->code == 530)
                              ? RESULT_AUTH_UNSUPPORTED
                              : RESULT_AUTH_FAILED;
    dialog_fail(d, e, "%s rejected: %s%s", m->method, smtp_codes(m, codes, sizeof(codes)),
                reply_smtp_class(r) == 4 ? " (temporary)" : "");
    smtp_end(m);
}

static void on_reply(struct smtp *m)
{
    struct dialog *d = &m->d;
    const struct reply_smtp *r = &m->reply;
    char err[ERR_MAX], codes[32];

    switch (m->st) {
    case SMTP_ST_BANNER:
        dialog_phase_end(d, RESULT_PHASE_GREETING);
        (void)result_set_str(&d->p->result.banner, r->text);
        if (r->code != 220) {
            /* 554 "no SMTP service here", 421 "try later" (RFC 5321 §3.1). */
            dialog_fail(d, RESULT_PROTO_BAD_GREETING, "the server refused the session: %s",
                        r->text);
            smtp_end(m);
        } else if (smtp_command(m, NULL, SMTP_ST_EHLO, "EHLO", m->ehlo_name) < 0) {
            smtp_end(m);
        }
        return;
    case SMTP_ST_EHLO:
        if (reply_smtp_class(r) != 2) {
            dialog_fail(d, RESULT_PROTO_BAD_GREETING, "EHLO rejected: %s", r->text);
            smtp_end(m);
            return;
        }
        m->caps = r->caps;
        smtp_after_ehlo(m);
        return;
    case SMTP_ST_STARTTLS:
        dialog_phase_end(d, RESULT_PHASE_STARTTLS);
        if (r->code != 220) {
            dialog_fail(d, RESULT_PROTO_STARTTLS_UNSUPPORTED, "STARTTLS refused: %s", r->text);
            smtp_end(m);
            return;
        }
        smtp_set_state(m, SMTP_ST_UPGRADING);
        if (conn_tls_start(d->c, err, sizeof(err)) < 0) {
            dialog_fail(d, RESULT_INTERNAL, "%s", err);
            smtp_end(m);
        }
        return;
    case SMTP_ST_AUTH_PLAIN:
        if (r->code == 334 && !m->plain_resent) {
            /* The server ignored the initial response and asks for it. */
            m->plain_resent = true;
            reply_smtp_init(&m->reply);
            if (dialog_send(d, "***", "%s", d->b64_plain) < 0)
                smtp_end(m);
            return;
        }
        smtp_auth_verdict(m);
        return;
    case SMTP_ST_AUTH_LOGIN:
    case SMTP_ST_AUTH_USER:
        if (r->code != 334) {
            if (m->st == SMTP_ST_AUTH_LOGIN && r->code != 535) {
                dialog_phase_end(d, RESULT_PHASE_AUTH);
                dialog_fail(d, RESULT_AUTH_UNSUPPORTED, "AUTH LOGIN refused: %s",
                            smtp_codes(m, codes, sizeof(codes)));
                smtp_end(m);
                return;
            }
            smtp_auth_verdict(m);
            return;
        }
        if (smtp_command(m, "***",
                         m->st == SMTP_ST_AUTH_LOGIN ? SMTP_ST_AUTH_USER : SMTP_ST_AUTH_PASS,
                         m->st == SMTP_ST_AUTH_LOGIN ? d->b64_user : d->b64_pass, NULL) < 0)
            smtp_end(m);
        return;
    case SMTP_ST_AUTH_PASS:
        smtp_auth_verdict(m);
        return;
    case SMTP_ST_QUIT:
        smtp_end(m);
        return;
    case SMTP_ST_CONNECTING:
    case SMTP_ST_HANDSHAKE:
    case SMTP_ST_UPGRADING:
    case SMTP_ST_DONE:
    case SMTP_ST_LAST:
    default:
        /* conn delivers no lines in these states. */
        abort();
    }
}

static void on_line(struct smtp *m)
{
    size_t len;
    const char *line = conn_line(m->d.c, &len);
    enum reply_status st = reply_smtp_feed(&m->reply, line, len);

    if (st == REPLY_MORE)
        return;
    if (st == REPLY_DONE) {
        on_reply(m);
        return;
    }
    dialog_bad_reply(&m->d, reply_status_text(st), line, len, smtp_waiting_for[m->st]);
    smtp_end(m);
}

static void on_conn(struct conn *c, enum conn_event ev, void *arg)
{
    struct smtp *m = arg;
    struct dialog *d = &m->d;
    char err[ERR_MAX];

    switch (ev) {
    case CONN_EV_CONNECTED:
        reply_smtp_init(&m->reply);
        if (m->kind == SMTP_KIND_SMTPS) {
            smtp_set_state(m, SMTP_ST_HANDSHAKE);
            if (conn_tls_start(c, err, sizeof(err)) < 0) {
                dialog_fail(d, RESULT_INTERNAL, "%s", err);
                smtp_end(m);
            }
            return;
        }
        smtp_set_state(m, SMTP_ST_BANNER);
        dialog_phase_begin(d, RESULT_PHASE_GREETING);
        conn_read_start(c);
        return;
    case CONN_EV_TLS_READY:
        if (m->st == SMTP_ST_HANDSHAKE) {
            smtp_set_state(m, SMTP_ST_BANNER);
            dialog_phase_begin(d, RESULT_PHASE_GREETING);
        } else if (smtp_command(m, NULL, SMTP_ST_EHLO, "EHLO", m->ehlo_name) < 0) {
            /* RFC 3207 §4.2: forget what EHLO said before TLS. */
            smtp_end(m);
            return;
        }
        conn_read_start(c);
        return;
    case CONN_EV_LINE:
        on_line(m);
        return;
    case CONN_EV_EOF:
    case CONN_EV_LINE_TOO_LONG:
    case CONN_EV_TIMEOUT:
    case CONN_EV_FAILED:
        dialog_conn_trouble(d, ev, smtp_waiting_for[m->st]);
        smtp_end(m);
        return;
    case CONN_EV_LAST:
    default:
        abort();
    }
}

static int smtp_start(struct probe *p, enum smtp_kind kind)
{
    struct smtp *m = dialog_create(p, sizeof(*m), "smtp");

    if (m == NULL)
        return -1;
    m->kind = kind;
    m->st = SMTP_ST_CONNECTING;
    dialog_ehlo_name(m->ehlo_name, sizeof(m->ehlo_name));
    return dialog_connect(&m->d, on_conn, m);
}

static int smtps_start(struct probe *p)
{
    return smtp_start(p, SMTP_KIND_SMTPS);
}

static int submission_start(struct probe *p)
{
    return smtp_start(p, SMTP_KIND_SUBMISSION);
}

static int smtp_plain_start(struct probe *p)
{
    return smtp_start(p, SMTP_KIND_SMTP);
}

const struct probe_ops probe_smtps_ops = {
    .name = "smtps",
    .needs_addresses = true,
    .abort_grace = true,
    .start = smtps_start,
    .abort = dialog_abort,
};

const struct probe_ops probe_submission_ops = {
    .name = "submission",
    .needs_addresses = true,
    .abort_grace = true,
    .start = submission_start,
    .abort = dialog_abort,
};

const struct probe_ops probe_smtp_ops = {
    .name = "smtp",
    .needs_addresses = true,
    .abort_grace = true,
    .start = smtp_plain_start,
    .abort = dialog_abort,
};
