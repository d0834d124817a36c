/*
 * probe_imap — imaps:// and imap:// (docs/reference.md "Check specs"): the IMAP
 * dialog a mail client runs before it opens a mailbox.
 *
 *   imaps: TCP, TLS, greeting, CAPABILITY[, login], LOGOUT
 *   imap:  TCP, greeting, CAPABILITY, STARTTLS (required), TLS,
 *          CAPABILITY[, login], LOGOUT
 *
 * The login is AUTHENTICATE PLAIN (with the initial response when the
 * server offers SASL-IR, RFC 4959) when AUTH=PLAIN is offered, else LOGIN
 * unless LOGINDISABLED; it never happens before TLS is up. A NO to the
 * credentials is auth_failed; no usable method is auth_unsupported.
 *
 * One state machine per probe (STYLE.md §5): every change goes through
 * imap_set_state(); conn events arrive in on_conn()'s one switch, and each
 * complete reply in on_reply()'s.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dialog.h"

#define ERR_MAX 256
/* Our tags are "V1", "V2", ...: a dialog sends at most six commands. */
#define IMAP_TAG_MAX 8

enum imap_state {
    IMAP_ST_CONNECTING,   /* TCP handshake */
    IMAP_ST_HANDSHAKE,    /* imaps: TLS handshake before the greeting */
    IMAP_ST_GREETING,     /* waiting for "* OK" */
    IMAP_ST_CAPABILITY,   /* CAPABILITY sent */
    IMAP_ST_STARTTLS,     /* STARTTLS sent */
    IMAP_ST_UPGRADING,    /* TLS handshake after STARTTLS */
    IMAP_ST_AUTHENTICATE, /* AUTHENTICATE PLAIN sent, waiting for "+" */
    IMAP_ST_LOGIN,        /* credentials sent, waiting for the verdict */
    IMAP_ST_LOGOUT,       /* LOGOUT sent; the check has passed */
    IMAP_ST_DONE,         /* closing */
    IMAP_ST_LAST
};

static const char *const imap_state_names[IMAP_ST_LAST] = {
    [IMAP_ST_CONNECTING] = "connecting",
    [IMAP_ST_HANDSHAKE] = "handshake",
    [IMAP_ST_GREETING] = "greeting",
    [IMAP_ST_CAPABILITY] = "capability",
    [IMAP_ST_STARTTLS] = "starttls",
    [IMAP_ST_UPGRADING] = "upgrading",
    [IMAP_ST_AUTHENTICATE] = "authenticate",
    [IMAP_ST_LOGIN] = "login",
    [IMAP_ST_LOGOUT] = "logout",
    [IMAP_ST_DONE] = "done",
};

/* What we were waiting for in each state, for proto_timeout/closed details. */
static const char *const imap_waiting_for[IMAP_ST_LAST] = {
    [IMAP_ST_CONNECTING] = "the connection",
    [IMAP_ST_HANDSHAKE] = "the TLS handshake",
    [IMAP_ST_GREETING] = "the IMAP greeting",
    [IMAP_ST_CAPABILITY] = "the reply to CAPABILITY",
    [IMAP_ST_STARTTLS] = "the reply to STARTTLS",
    [IMAP_ST_UPGRADING] = "the TLS handshake after STARTTLS",
    [IMAP_ST_AUTHENTICATE] = "the go-ahead for AUTHENTICATE PLAIN",
    [IMAP_ST_LOGIN] = "the verdict on the credentials",
    [IMAP_ST_LOGOUT] = "the reply to LOGOUT",
    [IMAP_ST_DONE] = "nothing",
};

struct imap {
    struct dialog d; /* first: see dialog_create() */
    enum imap_state st;
    bool implicit_tls; /* imaps:// */
    unsigned caps;     /* REPLY_CAP_* from the last capability list */
    unsigned tagno;
    char tag[IMAP_TAG_MAX];
    const char *method; /* "LOGIN" or "AUTHENTICATE PLAIN", for details */
    struct reply_imap reply;
};

/* The only way to change state. */
static void imap_set_state(struct imap *m, enum imap_state st)
{
    assert((unsigned)st < IMAP_ST_LAST);
    dialog_trace_state(&m->d, imap_state_names[m->st], imap_state_names[st]);
    m->st = st;
}

static void imap_end(struct imap *m)
{
    imap_set_state(m, IMAP_ST_DONE);
    dialog_finish(&m->d);
}

/* Sends "TAG command" and prepares the parser for its reply. */
static int imap_command(struct imap *m, const char *shown, enum imap_state next, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));

static int imap_command(struct imap *m, const char *shown, enum imap_state next, const char *fmt,
                        ...)
{
    char cmd[DIALOG_CMD_MAX];
    va_list ap;

    snprintf(m->tag, sizeof(m->tag), "V%u", ++m->tagno);
    if (reply_imap_init(&m->reply, m->tag) < 0) {
        dialog_fail(&m->d, RESULT_INTERNAL, "bad IMAP tag %s", m->tag);
        return -1;
    }
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int rc =
        n >= 0 && (size_t)n < sizeof(cmd) ? dialog_send(&m->d, shown, "%s %s", m->tag, cmd) : -1;
    explicit_bzero(cmd, sizeof(cmd));
    if (rc < 0) {
        if (m->d.p->result.error == RESULT_OK)
            dialog_fail(&m->d, RESULT_INTERNAL, "IMAP command too long");
        return -1;
    }
    imap_set_state(m, next);
    return 0;
}

/* The check has passed: say goodbye, but do not wait long for the answer. */
static void imap_logout(struct imap *m)
{
    result_fail(&m->d.p->result, RESULT_OK, NULL);
    m->d.succeeded = true;
    if (imap_command(m, NULL, IMAP_ST_LOGOUT, "LOGOUT") < 0) {
        /* Nothing was lost but the goodbye. */
        result_fail(&m->d.p->result, RESULT_OK, NULL);
        imap_end(m);
        return;
    }
    uint64_t bye = clock_mono_us() + DIALOG_BYE_WAIT_US;
    conn_set_deadline(m->d.c, bye < m->d.p->deadline_us ? bye : m->d.p->deadline_us);
}

/* An RFC 9051 quoted string, or false when s needs a literal (8-bit, CR,
 * LF) or does not fit. */
static bool imap_quote(const char *s, char *out, size_t outlen)
{
    size_t n = 0;

    if (outlen < 3)
        return false;
    out[n++] = '"';
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x80 || c == '\r' || c == '\n')
            return false;
        if (n + 4 > outlen)
            return false;
        if (c == '"' || c == '\\')
            out[n++] = '\\';
        out[n++] = (char)c;
    }
    out[n++] = '"';
    out[n] = '\0';
    return true;
}

static void imap_start_auth(struct imap *m)
{
    struct dialog *d = &m->d;

    if (dialog_secrets(d) < 0) {
        dialog_fail(d, RESULT_AUTH_UNSUPPORTED,
                    "the user name or password is empty, longer than %d bytes or contains a line "
                    "break, which IMAP cannot send",
                    DIALOG_CRED_MAX);
        imap_end(m);
        return;
    }
    dialog_phase_begin(d, RESULT_PHASE_AUTH);
    int rc;
    if (m->caps & REPLY_CAP_AUTH_PLAIN) {
        m->method = "AUTHENTICATE PLAIN";
        if (m->caps & REPLY_CAP_SASL_IR)
            rc = imap_command(m, "AUTHENTICATE PLAIN ***", IMAP_ST_LOGIN, "AUTHENTICATE PLAIN %s",
                              d->b64_plain);
        else
            rc = imap_command(m, NULL, IMAP_ST_AUTHENTICATE, "AUTHENTICATE PLAIN");
    } else if (!(m->caps & REPLY_CAP_LOGINDISABLED)) {
        char qu[2 * DIALOG_CRED_MAX + 3], qp[2 * DIALOG_CRED_MAX + 3];
        m->method = "LOGIN";
        if (!imap_quote(d->p->user, qu, sizeof(qu)) ||
            !imap_quote(d->p->password, qp, sizeof(qp))) {
            explicit_bzero(qp, sizeof(qp));
            dialog_fail(d, RESULT_AUTH_UNSUPPORTED,
                        "the server offers only LOGIN, and the credentials contain 8-bit "
                        "characters that LOGIN cannot send as a quoted string");
            imap_end(m);
            return;
        }
        rc = imap_command(m, "LOGIN ***", IMAP_ST_LOGIN, "LOGIN %s %s", qu, qp);
        explicit_bzero(qp, sizeof(qp));
    } else {
        dialog_fail(d, RESULT_AUTH_UNSUPPORTED,
                    "the server refuses LOGIN (LOGINDISABLED) and offers no AUTH=PLAIN%s",
                    (m->caps & REPLY_CAP_AUTH) ? " (only other SASL mechanisms)" : "");
        imap_end(m);
        return;
    }
    if (rc < 0)
        imap_end(m);
}

/* After the capability list, before or after TLS: what comes next. */
static void imap_after_capability(struct imap *m)
{
    struct dialog *d = &m->d;

    if (!conn_is_tls(d->c)) {
        if (!(m->caps & REPLY_CAP_STARTTLS)) {
            dialog_fail(d, RESULT_PROTO_STARTTLS_UNSUPPORTED,
                        "the server does not offer STARTTLS (not in its CAPABILITY list)");
            imap_end(m);
            return;
        }
        dialog_phase_begin(d, RESULT_PHASE_STARTTLS);
        if (imap_command(m, NULL, IMAP_ST_STARTTLS, "STARTTLS") < 0)
            imap_end(m);
        return;
    }
    if (dialog_wants_login(d)) {
        imap_start_auth(m);
        return;
    }
    imap_logout(m);
}

/* The code in brackets of a refusal, e.g. " [AUTHENTICATIONFAILED]": an
 * atom from the server's fixed vocabulary, never text we sent. */
static const char *imap_code(const struct imap *m, char *buf, size_t len)
{
    if (m->reply.code[0] == '\0')
        return "";
    snprintf(buf, len, " [%s]", m->reply.code);
    return buf;
}

/* A complete reply in state m->st. */
static void on_reply(struct imap *m)
{
    struct dialog *d = &m->d;
    struct reply_imap *r = &m->reply;
    char err[ERR_MAX], code[REPLY_IMAP_CODE_MAX + 4];

    switch (m->st) {
    case IMAP_ST_GREETING:
        dialog_phase_end(d, RESULT_PHASE_GREETING);
        (void)result_set_str(&d->p->result.banner, r->text);
        if (r->cond == REPLY_IMAP_BYE) {
            dialog_fail(d, RESULT_PROTO_BAD_GREETING, "the server refused the session: %s",
                        r->text);
            imap_end(m);
        } else if (r->cond == REPLY_IMAP_PREAUTH && !conn_is_tls(d->c)) {
            /* RFC 9051 §6.2.1: STARTTLS only in the not-authenticated state. */
            dialog_fail(d, RESULT_PROTO_STARTTLS_UNSUPPORTED,
                        "the server greets with PREAUTH, so STARTTLS is impossible");
            imap_end(m);
        } else if (r->cond == REPLY_IMAP_PREAUTH) {
            /* Already authenticated (e.g. by the TLS client certificate). */
            imap_logout(m);
        } else if (imap_command(m, NULL, IMAP_ST_CAPABILITY, "CAPABILITY") < 0) {
            imap_end(m);
        }
        return;
    case IMAP_ST_CAPABILITY:
        if (r->cond != REPLY_IMAP_OK) {
            dialog_fail(d, RESULT_PROTO_BAD_GREETING, "CAPABILITY failed: %s", r->text);
            imap_end(m);
            return;
        }
        m->caps = r->has_caps ? r->caps : 0;
        imap_after_capability(m);
        return;
    case IMAP_ST_STARTTLS:
        dialog_phase_end(d, RESULT_PHASE_STARTTLS);
        if (r->cond != REPLY_IMAP_OK) {
            dialog_fail(d, RESULT_PROTO_STARTTLS_UNSUPPORTED, "STARTTLS refused: %s", r->text);
            imap_end(m);
            return;
        }
        imap_set_state(m, IMAP_ST_UPGRADING);
        if (conn_tls_start(d->c, err, sizeof(err)) < 0) {
            dialog_fail(d, RESULT_INTERNAL, "%s", err);
            imap_end(m);
        }
        return;
    case IMAP_ST_AUTHENTICATE:
        if (r->cond == REPLY_IMAP_CONTINUE) {
            if (reply_imap_init(&m->reply, m->tag) < 0 ||
                dialog_send(d, "***", "%s", d->b64_plain) < 0) {
                imap_end(m);
                return;
            }
            imap_set_state(m, IMAP_ST_LOGIN);
            return;
        }
        dialog_phase_end(d, RESULT_PHASE_AUTH);
        if (r->cond == REPLY_IMAP_OK) {
            imap_logout(m); /* odd, but the server says we are in */
            return;
        }
        dialog_fail(d, RESULT_AUTH_UNSUPPORTED, "AUTHENTICATE PLAIN refused: %s%s",
                    reply_imap_cond_name(r->cond), imap_code(m, code, sizeof(code)));
        imap_end(m);
        return;
    case IMAP_ST_LOGIN:
        dialog_phase_end(d, RESULT_PHASE_AUTH);
        /* Only the condition and the response code go into the detail:
         * the text after them is the server's, and some servers echo
         * what they were sent. */
        switch (r->cond) {
        case REPLY_IMAP_OK:
            imap_logout(m);
            return;
        case REPLY_IMAP_NO:
            dialog_fail(d, RESULT_AUTH_FAILED, "%s rejected: NO%s", m->method,
                        imap_code(m, code, sizeof(code)));
            break;
        case REPLY_IMAP_BAD:
            dialog_fail(d, RESULT_AUTH_UNSUPPORTED, "%s refused: BAD%s", m->method,
                        imap_code(m, code, sizeof(code)));
            break;
        case REPLY_IMAP_CONTINUE:
            dialog_fail(d, RESULT_AUTH_FAILED,
                        "%s: the server asked for more after the credentials", m->method);
            break;
        case REPLY_IMAP_NONE:
        case REPLY_IMAP_PREAUTH:
        case REPLY_IMAP_BYE:
        case REPLY_IMAP_COND_LAST:
        default:
            dialog_fail(d, RESULT_PROTO_BAD_GREETING, "%s: unexpected reply %s", m->method,
                        reply_imap_cond_name(r->cond));
            break;
        }
        imap_end(m);
        return;
    case IMAP_ST_LOGOUT:
        imap_end(m);
        return;
    case IMAP_ST_CONNECTING:
    case IMAP_ST_HANDSHAKE:
    case IMAP_ST_UPGRADING:
    case IMAP_ST_DONE:
    case IMAP_ST_LAST:
    default:
        /* conn delivers no lines in these states. */
        abort();
    }
}

static void on_line(struct imap *m)
{
    size_t len;
    const char *line = conn_line(m->d.c, &len);
    enum reply_status st = reply_imap_feed(&m->reply, line, len);

    if (st == REPLY_MORE)
        return;
    if (st == REPLY_DONE) {
        on_reply(m);
        return;
    }
    dialog_bad_reply(&m->d, reply_status_text(st), line, len, imap_waiting_for[m->st]);
    imap_end(m);
}

static void on_conn(struct conn *c, enum conn_event ev, void *arg)
{
    struct imap *m = arg;
    struct dialog *d = &m->d;
    char err[ERR_MAX];

    switch (ev) {
    case CONN_EV_CONNECTED:
        if (m->implicit_tls) {
            imap_set_state(m, IMAP_ST_HANDSHAKE);
            if (conn_tls_start(c, err, sizeof(err)) < 0) {
                dialog_fail(d, RESULT_INTERNAL, "%s", err);
                imap_end(m);
            }
            return;
        }
        imap_set_state(m, IMAP_ST_GREETING);
        dialog_phase_begin(d, RESULT_PHASE_GREETING);
        conn_read_start(c);
        return;
    case CONN_EV_TLS_READY:
        if (m->st == IMAP_ST_HANDSHAKE) {
            imap_set_state(m, IMAP_ST_GREETING);
            dialog_phase_begin(d, RESULT_PHASE_GREETING);
        } else if (imap_command(m, NULL, IMAP_ST_CAPABILITY, "CAPABILITY") < 0) {
            /* RFC 9051 §6.2.1: capabilities may differ after STARTTLS. */
            imap_end(m);
            return;
        }
        conn_read_start(c);
        return;
    case CONN_EV_LINE:
        on_line(m);
        return;
    case CONN_EV_EOF:
        /* A BYE before the close says why: keep the server's words. */
        if (!d->succeeded && m->reply.bye)
            dialog_fail(d, RESULT_PROTO_CLOSED,
                        "the server closed the connection while we waited for %s: %s",
                        imap_waiting_for[m->st], m->reply.text);
        else
            dialog_conn_trouble(d, ev, imap_waiting_for[m->st]);
        imap_end(m);
        return;
    case CONN_EV_LINE_TOO_LONG:
    case CONN_EV_TIMEOUT:
    case CONN_EV_FAILED:
        dialog_conn_trouble(d, ev, imap_waiting_for[m->st]);
        imap_end(m);
        return;
    case CONN_EV_LAST:
    default:
        abort();
    }
}

static int imap_start(struct probe *p, bool implicit_tls)
{
    struct imap *m = dialog_create(p, sizeof(*m), "imap");

    if (m == NULL)
        return -1;
    m->implicit_tls = implicit_tls;
    m->st = IMAP_ST_CONNECTING;
    return dialog_connect(&m->d, on_conn, m);
}

static int imaps_start(struct probe *p)
{
    return imap_start(p, true);
}

static int imap_plain_start(struct probe *p)
{
    return imap_start(p, false);
}

const struct probe_ops probe_imaps_ops = {
    .name = "imaps",
    .needs_addresses = true,
    .abort_grace = true,
    .start = imaps_start,
    .abort = dialog_abort,
};

const struct probe_ops probe_imap_ops = {
    .name = "imap",
    .needs_addresses = true,
    .abort_grace = true,
    .start = imap_plain_start,
    .abort = dialog_abort,
};
