/*
 * probe_mailflow — the mailflow:// check's own state, shared by the three
 * files of the check and by nothing else (the engine knows the check only
 * as probe_mailflow_ops, probe_impl.h):
 *
 *   probe_mailflow.c   the driver: spec, DNS, connections, the timer,
 *                      closing, the result's facts, and the rule of what
 *                      is ours to delete (probe_mailflow_verdict)
 *   mailflow_submit.c  the SMTP dialog that sends the test message
 *   mailflow_imap.c    reading, deleting and looking in Junk over IMAP
 *   mailflow_pop3.c    reading and deleting over POP3
 *
 * One state machine runs over all of them: one enum (the order matters,
 * the driver dispatches lines by range), one struct mailflow, and one
 * connection at a time (d.c). Only probe_mailflow_set_state() changes
 * the state.
 */
#ifndef VANTAGE_PROBE_MAILFLOW_H
#define VANTAGE_PROBE_MAILFLOW_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dialog.h"
#include "mailflow_reply.h"

/* Error buffers of conn, resolver and spec. */
#define MF_ERR_MAX 256
/* Lines of a mailbox listing (SEARCH results are one line each): a long
 * SEARCH line is the one conn bounds (MF_LINE_MAX). */
#define MF_LINE_MAX 65536
/* Polling without IDLE, and POP3 logging in again: a SEARCH (or a login)
 * a second costs the server little and keeps the delivery time within a
 * second. */
#define MF_POLL_US 1000000u
/* UIDs one UID STORE / UID EXPUNGE names; the rest wait for the next run. */
#define MF_DELETE_BATCH 64
/* POP3: only the newest messages are examined (ours is among them); a
 * mailbox with 100,000 messages costs one UIDL listing, not 100,000 TOPs. */
#define MF_POP_RECENT 64
/* Our IMAP tags are "M1", "M2", ...; a long wait sends a few hundred. */
#define MF_TAG_MAX 12
/* A mailbox address (spec.h SPEC_MAILBOX_MAX). */
#define MF_ADDR_MAX (SPEC_MAILBOX_MAX + 1)

enum mf_state {
    MF_ST_RESOLVE_VIA,
    MF_ST_SMTP_CONNECTING,
    MF_ST_SMTP_HANDSHAKE,
    MF_ST_SMTP_BANNER,
    MF_ST_SMTP_EHLO,
    MF_ST_SMTP_STARTTLS,
    MF_ST_SMTP_UPGRADING,
    MF_ST_SMTP_AUTH,
    MF_ST_SMTP_MAIL,
    MF_ST_SMTP_RCPT,
    MF_ST_SMTP_DATA,
    MF_ST_SMTP_BODY,
    MF_ST_SMTP_QUIT,
    MF_ST_RESOLVE_READ,
    MF_ST_IMAP_CONNECTING,
    MF_ST_IMAP_HANDSHAKE,
    MF_ST_IMAP_GREETING,
    MF_ST_IMAP_CAPABILITY,
    MF_ST_IMAP_STARTTLS,
    MF_ST_IMAP_UPGRADING,
    MF_ST_IMAP_LOGIN,
    MF_ST_IMAP_CAPS_AUTHED,
    MF_ST_IMAP_SELECT,
    MF_ST_IMAP_SEARCH,
    MF_ST_IMAP_FETCH,
    MF_ST_IMAP_STORE,
    MF_ST_IMAP_EXPUNGE,
    MF_ST_IMAP_SEARCH_DELETED,
    MF_ST_IMAP_IDLE,
    MF_ST_IMAP_IDLING,
    MF_ST_IMAP_IDLE_DONE,
    MF_ST_IMAP_POLL,
    MF_ST_IMAP_LIST,
    MF_ST_IMAP_LOGOUT,
    MF_ST_POP_CONNECTING,
    MF_ST_POP_HANDSHAKE,
    MF_ST_POP_GREETING,
    MF_ST_POP_STLS,
    MF_ST_POP_UPGRADING,
    MF_ST_POP_USER,
    MF_ST_POP_PASS,
    MF_ST_POP_UIDL,
    MF_ST_POP_TOP,
    MF_ST_POP_DELE,
    MF_ST_POP_QUIT,
    MF_ST_POP_WAIT,
    MF_ST_CLOSING,
    MF_ST_LAST
};

/* One POP3 message of the listing. */
struct mf_pop_msg {
    uint32_t msgno;
    char uid[MAILFLOW_UIDL_MAX + 1];
};

struct mailflow {
    struct dialog d; /* first: see dialog_create(); d.c is the current conn */
    enum mf_state st;
    struct spec via;  /* parsed ?via= or the target's submission check */
    struct spec read; /* parsed ?read= or the target's reading check */
    bool read_pop;    /* read is pop3s:// or pop3:// */
    char mailbox[MF_ADDR_MAX];
    char from[MF_ADDR_MAX];
    struct mailflow_marker marker;
    char marker_text[MAILFLOW_MARKER_MAX + 1];
    char message_id[MAILFLOW_NONCE_HEX + 32];
    char ehlo_name[256];
    uint64_t wait_until_us; /* clock_mono_us(): the message must be there by then */
    bool waiting;           /* the wait began: connections may use MF_CLEANUP_US past the timeout */
    uv_timer_t timer;       /* polls, IDLE rechecks, POP3 reconnects */
    bool timer_armed;
    bool closing;
    unsigned pending_close;

    /* DNS of the host being resolved. */
    const char *resolving; /* spec host */
    struct resolver_query *q[2];
    struct sockaddr_storage dnsfound[2][CONN_ADDRS_MAX];
    size_t nfound[2];
    enum result_error dnserr[2];
    char dnsdetail[2][MF_ERR_MAX];
    struct sockaddr_storage addrs[CONN_ADDRS_MAX];
    size_t naddrs;
    uint16_t port;
    const char *servername;
    uint64_t dns_t0;

    /* SMTP */
    struct reply_smtp smtp;
    unsigned caps;
    bool plain_resent; /* AUTH PLAIN: the server asked (334) for the response */
    char message[MAILFLOW_MESSAGE_MAX];
    int msglen;
    uint64_t submit_t0;
    uint64_t accepted_us;     /* clock_mono_us() of the 250 after DATA */
    int64_t accepted_wall_us; /* clock_wall_us() of the same */

    /* IMAP */
    struct reply_imap imap;
    unsigned tagno;
    char tag[MF_TAG_MAX];
    unsigned lines; /* untagged lines of the current reply */
    bool in_junk;   /* the selected folder is the Junk folder */
    char folder[MAILFLOW_MAILBOX_NAME_MAX + 1];
    char junk[MAILFLOW_MAILBOX_NAME_MAX + 1]; /* from LIST; "" = none */
    uint32_t exists;
    bool news; /* EXISTS grew while idling */
    struct mailflow_uids uids;
    size_t next_uid;  /* uids.v[next_uid..] still to FETCH */
    uint64_t seen_us; /* clock_mono_us() of the SEARCH reply that listed it */
    int64_t seen_wall_us;
    /* FETCH literal */
    size_t literal_left;
    bool in_literal;
    bool after_literal; /* the next line continues the FETCH response */
    uint32_t cur_uid;
    unsigned cur_markers;
    struct mailflow_marker cur;
    bool cur_valid;
    /* UIDs known not to be ours to delete (another agent's, or this
     * agent's but too young or awaited); not fetched again this session. */
    uint32_t checked[MAILFLOW_UIDS_MAX];
    size_t nchecked;
    uint32_t del[MF_DELETE_BATCH]; /* ours and leftovers to delete */
    size_t ndel;
    uint32_t found_uid; /* ours, 0 = not yet */
    bool found;
    bool delete_ours_done;
    unsigned leftovers;    /* leftovers deleted (or flagged) */
    bool expunge_withheld; /* no UIDPLUS and other \Deleted messages: left flagged */
    bool other_deleted;

    /* POP3 */
    struct reply_pop3 pop;
    bool pop_status_seen;                    /* multi-line reply: past the status line */
    struct mf_pop_msg recent[MF_POP_RECENT]; /* ring of the newest */
    size_t nrecent;
    uint64_t nlisted;
    size_t pop_next; /* recent[] index being examined, from the newest */
    size_t pop_left;
    unsigned top_lines;
    char pop_checked[MF_POP_RECENT][MAILFLOW_UIDL_MAX + 1];
    size_t npop_checked;
    uint32_t pop_del[MF_DELETE_BATCH];
    size_t npop_del;
    size_t pop_del_next;
};

/* What a fetched message is to this check (probe_mailflow_verdict()). */
enum mf_verdict {
    MF_KEEP,     /* not ours: never written to */
    MF_OURS,     /* the test message of this check */
    MF_LEFTOVER, /* an old test message of this agent: deleted too */
};

/* ---- driver services (probe_mailflow.c) ---- */

/* The only way to change m->st; traces old->new. */
void probe_mailflow_set_state(struct mailflow *m, enum mf_state st);

/* What the current state waits for, for error details ("the reply to
 * UIDL"). */
const char *probe_mailflow_waiting_for(const struct mailflow *m);

/* Records a failure unless the verdict is already in (d.succeeded). */
void probe_mailflow_fail(struct mailflow *m, enum result_error e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* probe_mailflow_fail(), then probe_mailflow_close(). */
void probe_mailflow_fail_close(struct mailflow *m, enum result_error e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Ends the probe: cancels DNS, closes the timer and the connection, then
 * records the facts and calls probe_finish(). Safe inside a conn callback;
 * once only. m may be freed when the caller's conn callback returns. */
void probe_mailflow_close(struct mailflow *m);

/* Sends one command, "TAG " (when tag is not "") and fmt formatted, and
 * moves to next; the caller has reset its reply parser. The command is
 * wiped from our buffer after sending (it may carry the password); shown
 * is what the trace says instead (NULL: the command itself). Returns 0,
 * or -1 after failing ("<proto> command too long") and closing. */
int probe_mailflow_vsend(struct mailflow *m, const char *proto, const char *shown,
                         enum mf_state next, const char *tag, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));

/* Moves to st (a handshake or an upgrade after STARTTLS/STLS) and starts
 * TLS on the current connection; CONN_EV_TLS_READY follows, or a failure
 * that closes the probe. */
void probe_mailflow_tls_start(struct mailflow *m, enum mf_state st);

/* Drops the current connection without waiting for it (the next one
 * starts now; conn frees itself once closed). */
void probe_mailflow_drop_conn(struct mailflow *m);

/* The wait for the message begins (or it was found): from now on the
 * current and later connections may run until the probe's hard deadline,
 * the check's timeout plus the time to look in Junk and delete. Before,
 * they end at the timeout, so that a server that does not answer costs
 * the check's timeout and no more. */
void probe_mailflow_begin_wait(struct mailflow *m);

/* Arms the timer for us, cut short at wait_until_us. */
void probe_mailflow_arm(struct mailflow *m, uint64_t us);

/* The message is accepted: drops the SMTP connection and resolves read's
 * host; the reading dialog follows. */
void probe_mailflow_start_read(struct mailflow *m);

/* Whether a message may be deleted, from its X-Vantage-Probe header(s):
 * markers is how many there were, mk the first and valid whether it
 * parsed. The one place that decides it (see probe_mailflow.c "Safety"). */
enum mf_verdict probe_mailflow_verdict(const struct mailflow *m, unsigned markers,
                                       const struct mailflow_marker *mk, bool valid);

#endif
