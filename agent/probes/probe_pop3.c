/*
 * probe_pop3 — pop3s:// and pop3:// (docs/reference.md "Check specs"): the POP3
 * dialog a mail client runs before it downloads mail.
 *
 *   pop3s: TCP, TLS, greeting, CAPA[, USER/PASS], QUIT
 *   pop3:  TCP, greeting, CAPA, STLS (required, RFC 2595), TLS, CAPA
 *          [, USER/PASS], QUIT
 *
 * The login is USER/PASS (RFC 1939) when the server lists USER in CAPA or
 * answers CAPA with -ERR (old servers without RFC 2449), else AUTH PLAIN
 * with an initial response (RFC 5034) when SASL PLAIN is listed; it never
 * happens before TLS is up. -ERR to the credentials is auth_failed.
 *
 * One state machine per probe (STYLE.md §5): every change goes through
 * pop3_set_state(); conn events arrive in on_conn()'s one switch, and each
 * complete reply in on_reply()'s.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dialog.h"

#define ERR_MAX 256
/* RFC 3206 response codes ("[AUTH]", "[SYS/TEMP]") are short. */
#define POP3_CODE_MAX 32

enum pop3_state {
    POP3_ST_CONNECTING, /* TCP handshake */
    POP3_ST_HANDSHAKE,  /* pop3s: TLS handshake before the greeting */
    POP3_ST_GREETING,   /* waiting for "+OK" */
    POP3_ST_CAPA,       /* CAPA sent */
    POP3_ST_STLS,       /* STLS sent */
    POP3_ST_UPGRADING,  /* TLS handshake after STLS */
    POP3_ST_USER,       /* USER sent */
    POP3_ST_PASS,       /* PASS or AUTH PLAIN sent, waiting for the verdict */
    POP3_ST_QUIT,       /* QUIT sent; the check has passed */
    POP3_ST_DONE,       /* closing */
    POP3_ST_LAST
};

static const char *const pop3_state_names[POP3_ST_LAST] = {
    [POP3_ST_CONNECTING] = "connecting",
    [POP3_ST_HANDSHAKE] = "handshake",
    [POP3_ST_GREETING] = "greeting",
    [POP3_ST_CAPA] = "capa",
    [POP3_ST_STLS] = "stls",
    [POP3_ST_UPGRADING] = "upgrading",
    [POP3_ST_USER] = "user",
    [POP3_ST_PASS] = "pass",
    [POP3_ST_QUIT] = "quit",
    [POP3_ST_DONE] = "done",
};

static const char *const pop3_waiting_for[POP3_ST_LAST] = {
    [POP3_ST_CONNECTING] = "the connection",  [POP3_ST_HANDSHAKE] = "the TLS handshake",
    [POP3_ST_GREETING] = "the POP3 greeting", [POP3_ST_CAPA] = "the reply to CAPA",
    [POP3_ST_STLS] = "the reply to STLS",     [POP3_ST_UPGRADING] = "the TLS handshake after STLS",
    [POP3_ST_USER] = "the reply to USER",     [POP3_ST_PASS] = "the verdict on the credentials",
    [POP3_ST_QUIT] = "the reply to QUIT",     [POP3_ST_DONE] = "nothing",
};

struct pop3 {
    struct dialog d; /* first: see dialog_create() */
    enum pop3_state st;
    bool implicit_tls;  /* pop3s:// */
    bool capa_known;    /* CAPA answered +OK (else the server predates RFC 2449) */
    unsigned caps;      /* REPLY_CAP_* from the last CAPA */
    const char *method; /* "USER/PASS" or "AUTH PLAIN", for details */
    struct reply_pop3 reply;
};

/* The only way to change state. */
static void pop3_set_state(struct pop3 *m, enum pop3_state st)
{
    assert((unsigned)st < POP3_ST_LAST);
    dialog_trace_state(&m->d, pop3_state_names[m->st], pop3_state_names[st]);
    m->st = st;
}

static void pop3_end(struct pop3 *m)
{
    pop3_set_state(m, POP3_ST_DONE);
    dialog_finish(&m->d);
}

/* Sends "VERB" or "VERB ARG" and prepares the parser for its reply. */
static int pop3_command(struct pop3 *m, const char *shown, bool multiline, enum pop3_state next,
                        const char *verb, const char *arg)
{
    reply_pop3_init(&m->reply, multiline);
    int rc = arg != NULL ? dialog_send(&m->d, shown, "%s %s", verb, arg)
                         : dialog_send(&m->d, shown, "%s", verb);
    if (rc < 0)
        return -1;
    pop3_set_state(m, next);
    return 0;
}

static void pop3_quit(struct pop3 *m)
{
    result_fail(&m->d.p->result, RESULT_OK, NULL);
    m->d.succeeded = true;
    if (pop3_command(m, NULL, false, POP3_ST_QUIT, "QUIT", NULL) < 0) {
        result_fail(&m->d.p->result, RESULT_OK, NULL);
        pop3_end(m);
        return;
    }
    uint64_t bye = clock_mono_us() + DIALOG_BYE_WAIT_US;
    conn_set_deadline(m->d.c, bye < m->d.p->deadline_us ? bye : m->d.p->deadline_us);
}

/* The RFC 2449/3206 response code of a -ERR ("[AUTH]"), letters, digits,
 * '/' and '-' only; never the free text, which may echo what we sent. */
static const char *pop3_code(const struct pop3 *m, char *buf, size_t len)
{
    const char *t = m->reply.text;
    const char *open = strstr(t, " [");
    size_t n = 0;

    if (open == NULL || open != strchr(t, ' '))
        return "";
    open += 2;
    while (open[n] != '\0' && open[n] != ']' && n < POP3_CODE_MAX) {
        char c = open[n];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '-'))
            return "";
        n++;
    }
    if (n == 0 || open[n] != ']')
        return "";
    snprintf(buf, len, " [%.*s]", (int)n, open);
    return buf;
}

static void pop3_start_auth(struct pop3 *m)
{
    struct dialog *d = &m->d;
    int rc;

    if (dialog_secrets(d) < 0) {
        dialog_fail(d, RESULT_AUTH_UNSUPPORTED,
                    "the user name or password is empty, longer than %d bytes or contains a line "
                    "break, which POP3 cannot send",
                    DIALOG_CRED_MAX);
        pop3_end(m);
        return;
    }
    if (!m->capa_known || (m->caps & REPLY_CAP_USER)) {
        m->method = "USER/PASS";
        dialog_phase_begin(d, RESULT_PHASE_AUTH);
        rc = pop3_command(m, NULL, false, POP3_ST_USER, "USER", d->p->user);
    } else if (m->caps & REPLY_CAP_AUTH_PLAIN) {
        m->method = "AUTH PLAIN";
        dialog_phase_begin(d, RESULT_PHASE_AUTH);
        rc = pop3_command(m, "AUTH PLAIN ***", false, POP3_ST_PASS, "AUTH PLAIN", d->b64_plain);
    } else {
        dialog_fail(d, RESULT_AUTH_UNSUPPORTED,
                    "the server offers neither USER nor SASL PLAIN in its CAPA list");
        pop3_end(m);
        return;
    }
    if (rc < 0)
        pop3_end(m);
}

static void pop3_after_capa(struct pop3 *m)
{
    struct dialog *d = &m->d;

    if (!conn_is_tls(d->c)) {
        /* A server without CAPA may still know STLS: ask (RFC 2595 §4). */
        if (m->capa_known && !(m->caps & REPLY_CAP_STARTTLS)) {
            dialog_fail(d, RESULT_PROTO_STARTTLS_UNSUPPORTED,
                        "the server does not offer STLS (not in its CAPA list)");
            pop3_end(m);
            return;
        }
        dialog_phase_begin(d, RESULT_PHASE_STARTTLS);
        if (pop3_command(m, NULL, false, POP3_ST_STLS, "STLS", NULL) < 0)
            pop3_end(m);
        return;
    }
    if (dialog_wants_login(d)) {
        pop3_start_auth(m);
        return;
    }
    pop3_quit(m);
}

static void on_reply(struct pop3 *m)
{
    struct dialog *d = &m->d;
    struct reply_pop3 *r = &m->reply;
    char err[ERR_MAX], code[POP3_CODE_MAX + 4];

    switch (m->st) {
    case POP3_ST_GREETING:
        dialog_phase_end(d, RESULT_PHASE_GREETING);
        (void)result_set_str(&d->p->result.banner, r->text);
        if (!r->ok) {
            dialog_fail(d, RESULT_PROTO_BAD_GREETING, "the server refused the session: %s",
                        r->text);
            pop3_end(m);
        } else if (pop3_command(m, NULL, true, POP3_ST_CAPA, "CAPA", NULL) < 0) {
            pop3_end(m);
        }
        return;
    case POP3_ST_CAPA:
        m->capa_known = r->ok;
        m->caps = r->ok ? r->caps : 0;
        pop3_after_capa(m);
        return;
    case POP3_ST_STLS:
        dialog_phase_end(d, RESULT_PHASE_STARTTLS);
        if (!r->ok) {
            dialog_fail(d, RESULT_PROTO_STARTTLS_UNSUPPORTED, "STLS refused: %s", r->text);
            pop3_end(m);
            return;
        }
        pop3_set_state(m, POP3_ST_UPGRADING);
        if (conn_tls_start(d->c, err, sizeof(err)) < 0) {
            dialog_fail(d, RESULT_INTERNAL, "%s", err);
            pop3_end(m);
        }
        return;
    case POP3_ST_USER:
        if (!r->ok) {
            dialog_phase_end(d, RESULT_PHASE_AUTH);
            dialog_fail(d, RESULT_AUTH_FAILED, "USER rejected: -ERR%s",
                        pop3_code(m, code, sizeof(code)));
            pop3_end(m);
            return;
        }
        if (pop3_command(m, "PASS ***", false, POP3_ST_PASS, "PASS", d->p->password) < 0)
            pop3_end(m);
        return;
    case POP3_ST_PASS:
        dialog_phase_end(d, RESULT_PHASE_AUTH);
        if (r->ok) {
            pop3_quit(m);
            return;
        }
        /* Only the response code: the text may echo what we sent. */
        dialog_fail(d, RESULT_AUTH_FAILED, "%s rejected: -ERR%s", m->method,
                    pop3_code(m, code, sizeof(code)));
        pop3_end(m);
        return;
    case POP3_ST_QUIT:
        pop3_end(m);
        return;
    case POP3_ST_CONNECTING:
    case POP3_ST_HANDSHAKE:
    case POP3_ST_UPGRADING:
    case POP3_ST_DONE:
    case POP3_ST_LAST:
    default:
        /* conn delivers no lines in these states. */
        abort();
    }
}

static void on_line(struct pop3 *m)
{
    size_t len;
    const char *line = conn_line(m->d.c, &len);
    enum reply_status st = reply_pop3_feed(&m->reply, line, len);

    if (st == REPLY_MORE)
        return;
    if (st == REPLY_DONE) {
        on_reply(m);
        return;
    }
    dialog_bad_reply(&m->d, reply_status_text(st), line, len, pop3_waiting_for[m->st]);
    pop3_end(m);
}

static void on_conn(struct conn *c, enum conn_event ev, void *arg)
{
    struct pop3 *m = arg;
    struct dialog *d = &m->d;
    char err[ERR_MAX];

    switch (ev) {
    case CONN_EV_CONNECTED:
        reply_pop3_init(&m->reply, false);
        if (m->implicit_tls) {
            pop3_set_state(m, POP3_ST_HANDSHAKE);
            if (conn_tls_start(c, err, sizeof(err)) < 0) {
                dialog_fail(d, RESULT_INTERNAL, "%s", err);
                pop3_end(m);
            }
            return;
        }
        pop3_set_state(m, POP3_ST_GREETING);
        dialog_phase_begin(d, RESULT_PHASE_GREETING);
        conn_read_start(c);
        return;
    case CONN_EV_TLS_READY:
        if (m->st == POP3_ST_HANDSHAKE) {
            pop3_set_state(m, POP3_ST_GREETING);
            dialog_phase_begin(d, RESULT_PHASE_GREETING);
        } else if (pop3_command(m, NULL, true, POP3_ST_CAPA, "CAPA", NULL) < 0) {
            /* RFC 2595 §4: forget what CAPA said before TLS. */
            pop3_end(m);
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
        dialog_conn_trouble(d, ev, pop3_waiting_for[m->st]);
        pop3_end(m);
        return;
    case CONN_EV_LAST:
    default:
        abort();
    }
}

static int pop3_start(struct probe *p, bool implicit_tls)
{
    struct pop3 *m = dialog_create(p, sizeof(*m), "pop3");

    if (m == NULL)
        return -1;
    m->implicit_tls = implicit_tls;
    m->st = POP3_ST_CONNECTING;
    return dialog_connect(&m->d, on_conn, m);
}

static int pop3s_start(struct probe *p)
{
    return pop3_start(p, true);
}

static int pop3_plain_start(struct probe *p)
{
    return pop3_start(p, false);
}

const struct probe_ops probe_pop3s_ops = {
    .name = "pop3s",
    .needs_addresses = true,
    .abort_grace = true,
    .start = pop3s_start,
    .abort = dialog_abort,
};

const struct probe_ops probe_pop3_ops = {
    .name = "pop3",
    .needs_addresses = true,
    .abort_grace = true,
    .start = pop3_plain_start,
    .abort = dialog_abort,
};
