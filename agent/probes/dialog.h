/*
 * dialog — what the mail dialogs (probe_imap.c, probe_pop3.c,
 * probe_smtp.c) share on top of conn: starting the connection, sending
 * bounded commands, timing phases, failing with a detail that can never
 * carry the password, and closing down to probe_finish().
 *
 * A dialog kind allocates its state with dialog_create(), which puts a
 * struct dialog at offset 0 of a block of the kind's size; the kind's own
 * struct must therefore begin with a struct dialog member. From then on
 * the kind ends the probe exactly once, through dialog_finish() (after
 * success or dialog_fail()) or dialog_abort() (the engine takes it back);
 * both close the connection, free the block and call probe_finish().
 *
 * Secrets: the password and every encoding of it we put on the wire (the
 * base64 of a SASL PLAIN blob, of the password alone for SASL LOGIN) are
 * scrubbed from every detail dialog_fail() writes, and commands that carry
 * them are never traced and are wiped from our buffers after use.
 */
#ifndef VANTAGE_DIALOG_H
#define VANTAGE_DIALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "probe_impl.h"
#include "reply.h"

/* The longest command we send: "AUTH PLAIN " and the base64 of
 * "\0user\0password" with both at DIALOG_CRED_MAX bytes is about 700
 * bytes; other commands are short. */
#define DIALOG_CMD_MAX 1024
/* Longest user name or password we send. RFC 4616 allows 255 octets for
 * SASL PLAIN's authcid and passwd; real accounts are far shorter. */
#define DIALOG_CRED_MAX 255
/* base64 of "\0" user "\0" password, NUL-terminated. */
#define DIALOG_B64_MAX (((2 * DIALOG_CRED_MAX + 2 + 2) / 3) * 4 + 1)
/* After QUIT/LOGOUT the check has succeeded; waiting longer than this for
 * the server's goodbye only delays the result. */
#define DIALOG_BYE_WAIT_US 2000000u

struct dialog {
    struct probe *p;
    struct conn *c;                       /* NULL once closing */
    const char *proto;                    /* "imap", "pop3", "smtp": for traces */
    size_t line_max;                      /* longest line without its end; set
                                             before dialog_connect(), 0 = REPLY_LINE_MAX */
    bool finishing;                       /* dialog_finish()/dialog_abort() called */
    bool succeeded;                       /* the check passed; only the goodbye is left,
                                             and nothing that happens to it changes that */
    uint64_t phase_t0[RESULT_PHASE_LAST]; /* clock_mono_us() at begin, 0 = not running */
    /* Encodings of the credentials, made once by dialog_secrets(); each is
     * scrubbed from details and wiped on free. */
    char b64_plain[DIALOG_B64_MAX]; /* base64("\0" user "\0" password) */
    char b64_user[DIALOG_B64_MAX];  /* base64(user), for SASL LOGIN */
    char b64_pass[DIALOG_B64_MAX];  /* base64(password), for SASL LOGIN */
    bool have_secrets;
};

/* Allocates the kind's state (size bytes, zeroed, a struct dialog first)
 * and sets p->kind to it. NULL when out of memory (p->result classified
 * internal). proto names the dialog in traces. */
void *dialog_create(struct probe *p, size_t size, const char *proto);

/* Creates the connection with the probe's addresses, port, server name,
 * TLS context and deadline, and starts connecting; events go to cb with
 * arg. Each line is bounded by d->line_max (REPLY_LINE_MAX for the mail
 * dialogs) plus its CRLF. Returns 0; or -1 with p->result classified and
 * the state freed (dialog_discard()), which the start op returns as is. */
int dialog_connect(struct dialog *d, conn_event_cb cb, void *arg)
    __attribute__((warn_unused_result));

/* Frees the state of a dialog whose connection never started;
 * dialog_connect() does it on failure. The engine then finishes the probe. */
void dialog_discard(struct dialog *d);

/* Whether the probe wants a login: user and password both given. */
bool dialog_wants_login(const struct dialog *d);

/* Fills the b64_* fields from the probe's credentials. Returns 0; or -1
 * when a credential is longer than DIALOG_CRED_MAX or contains a byte a
 * line-based protocol cannot carry (NUL, CR, LF); then the caller fails
 * with auth_unsupported. Never puts the credential into any message. */
int dialog_secrets(struct dialog *d) __attribute__((warn_unused_result));

/* Sends one command line (CRLF appended). The trace shows the command, or
 * only shown when that is not NULL (a command carrying a credential, e.g.
 * "AUTH PLAIN ***"; its buffer is wiped too). Returns 0; or -1 after
 * dialog_fail(internal) — then the caller must dialog_finish(). */
int dialog_send(struct dialog *d, const char *shown, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), warn_unused_result));

/* Marks the start and end of a phase; end adds the elapsed time to
 * result.phases_us[ph] (so a phase run twice, e.g. CAPABILITY before and
 * after STARTTLS, accumulates). end without begin does nothing. */
void dialog_phase_begin(struct dialog *d, enum result_phase ph);
void dialog_phase_end(struct dialog *d, enum result_phase ph);

/* Classifies the result with a printf-style detail, after scrubbing the
 * password and its encodings from the text. Does not end the dialog. */
void dialog_fail(struct dialog *d, enum result_error e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the failure a connection event means for a dialog waiting for
 * waiting_for: a line too long (proto_bad_greeting), the deadline
 * (proto_timeout), the end of the stream (proto_closed), a transport
 * failure (conn's classification). Nothing once d->succeeded: a dialog
 * saying goodbye already has its result. */
void dialog_conn_trouble(struct dialog *d, enum conn_event ev, const char *waiting_for);

/* Classifies a conn CONN_EV_FAILED from conn_error()/conn_error_detail(). */
void dialog_conn_failed(struct dialog *d);

/* Closes the connection; once its handles are closed, wipes and frees the
 * state and calls probe_finish(). Safe inside a conn callback; a second
 * call does nothing. */
void dialog_finish(struct dialog *d);

/* The kinds' abort op: classifies with probe_classify_abort() unless the
 * dialog is already finishing or has succeeded, then dialog_finish(). */
void dialog_abort(struct probe *p, enum probe_abort why);

/* Traces a state change ("imap greeting -> capability") at debug level
 * when the engine traces. */
void dialog_trace_state(const struct dialog *d, const char *from, const char *to);

/* Writes the name we announce in EHLO: this host's name when it is a
 * plausible FQDN, else "localhost.localdomain" (what mail clients send
 * when they know no better; RFC 5321 §4.1.4 forbids rejecting EHLO for
 * it). */
void dialog_ehlo_name(char *buf, size_t len);

/* How much of a malformed line a detail shows: enough to recognise an SSH
 * or HTTP banner, a stray TLS record or a wrong protocol. */
#define DIALOG_SHOWN_MAX 80
/* Room for dialog_describe_bad(): the reason, quotes and the shown bytes. */
#define DIALOG_BAD_MAX (DIALOG_SHOWN_MAX + 80)

/* A short, safe description of a malformed line for a detail: why it is
 * malformed (reply_status_text(), or a parser's own reason) and up to
 * DIALOG_SHOWN_MAX printable bytes of it. */
void dialog_describe_bad(const char *why, const char *line, size_t len, char *buf, size_t buflen);

/* Fails the dialog with proto_bad_greeting: the description of the
 * malformed line, "instead of" what the dialog was waiting for. Nothing
 * once d->succeeded: a garbled goodbye changes nothing. */
void dialog_bad_reply(struct dialog *d, const char *why, const char *line, size_t len,
                      const char *waiting_for);

#endif
