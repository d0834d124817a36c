/*
 * probe_mailflow — mailflow:// (DESIGN.md "Check specs"): "is the mailbox
 * still receiving email?", end to end, as one state machine on the
 * agent's loop.
 *
 *   1. submit   resolve via's host; TCP[, TLS]; 220; EHLO; STARTTLS
 *               (required for submission://, when offered for smtp://);
 *               EHLO; AUTH PLAIN (not for smtp://); MAIL FROM; RCPT TO;
 *               DATA; the test message; 250 = accepted; QUIT
 *   2. read     resolve read's host; TCP[, TLS]; greeting; (IMAP)
 *               CAPABILITY, STARTTLS for imap://, login, SELECT INBOX,
 *               UID SEARCH HEADER X-Vantage-Probe "<agent> ", UID FETCH of
 *               the header of every match, IDLE (or a SEARCH every
 *               second) until ours is there or the timeout; then LIST the
 *               \Junk folder and look there; (POP3) USER/PASS, UIDL, TOP n
 *               0 of the newest messages, QUIT and again every second
 *   3. delete   ours, and this agent's leftovers: UID STORE +FLAGS.SILENT
 *               (\Deleted) and UID EXPUNGE of exactly those UIDs (UIDPLUS);
 *               without UIDPLUS, EXPUNGE only when every \Deleted message
 *               in the folder is one of ours; POP3 DELE, QUIT
 *
 * Safety: a message is deleted only when its one X-Vantage-Probe header
 * parses as "<this agent's name> <nonce> <seconds>" (mailflow_reply.h),
 * read with BODY.PEEK / TOP (the \Seen flag of nothing else changes). Ours
 * has our nonce; a leftover has another nonce, is not awaited by another
 * probe of this engine, and is older than this check's timeout (a probe
 * of the same agent name in another process is still waiting for younger
 * ones). Everything else in the mailbox is never written to.
 *
 * Phases: submit (connect to the 250 after DATA), delivery (accepted to
 * visible), fetch (the reading dialog's own work, waits excluded). The
 * result's address, port and TLS facts are those of the last connection.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "dialog.h"
#include "mailflow_reply.h"

#define ERR_MAX 256
/* Used when the check gives no timeout: mail normally arrives in seconds,
 * but greylisting and busy queues take minutes (DESIGN.md
 * mailflow_timeout). */
#define MF_TIMEOUT_DEFAULT_US 120000000u
/* After the wait ends: LIST, SELECT Junk, SEARCH, FETCH, delete, LOGOUT. */
#define MF_CLEANUP_US 15000000u
/* Polling without IDLE: a SEARCH a second costs the server little and
 * keeps the delivery time within a second. */
#define MF_POLL_US 1000000u
/* IDLE is re-issued this often even without news: some servers notify
 * late (dovecot without inotify checks every 30 s). */
#define MF_IDLE_RECHECK_US 2000000u
/* Untagged lines, literal lines included, in one reply to our commands: a
 * SEARCH or FETCH of our few messages is a handful; a server that sends
 * more is misbehaving. */
#define MF_REPLY_LINES_MAX 4096
/* Lines of a mailbox listing (SEARCH results are one line each): a long
 * SEARCH line is the one conn bounds (MF_LINE_MAX). */
#define MF_LINE_MAX 65536
/* Messages whose header one UID FETCH asks for (2 reply lines each). */
#define MF_FETCH_BATCH 16
/* UIDs one UID STORE / UID EXPUNGE names; the rest wait for the next run. */
#define MF_DELETE_BATCH 64
/* POP3: only the newest messages are examined (ours is among them); a
 * mailbox with 100,000 messages costs one UIDL listing, not 100,000 TOPs. */
#define MF_POP_RECENT 64
/* POP3 TOP n 0 returns the header: real ones have under 200 lines. */
#define MF_TOP_LINES_MAX 2000
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

static const char *const mf_state_names[MF_ST_LAST] = {
    [MF_ST_RESOLVE_VIA] = "resolve-via",
    [MF_ST_SMTP_CONNECTING] = "smtp-connecting",
    [MF_ST_SMTP_HANDSHAKE] = "smtp-handshake",
    [MF_ST_SMTP_BANNER] = "smtp-banner",
    [MF_ST_SMTP_EHLO] = "smtp-ehlo",
    [MF_ST_SMTP_STARTTLS] = "smtp-starttls",
    [MF_ST_SMTP_UPGRADING] = "smtp-upgrading",
    [MF_ST_SMTP_AUTH] = "smtp-auth",
    [MF_ST_SMTP_MAIL] = "smtp-mail",
    [MF_ST_SMTP_RCPT] = "smtp-rcpt",
    [MF_ST_SMTP_DATA] = "smtp-data",
    [MF_ST_SMTP_BODY] = "smtp-body",
    [MF_ST_SMTP_QUIT] = "smtp-quit",
    [MF_ST_RESOLVE_READ] = "resolve-read",
    [MF_ST_IMAP_CONNECTING] = "imap-connecting",
    [MF_ST_IMAP_HANDSHAKE] = "imap-handshake",
    [MF_ST_IMAP_GREETING] = "imap-greeting",
    [MF_ST_IMAP_CAPABILITY] = "imap-capability",
    [MF_ST_IMAP_STARTTLS] = "imap-starttls",
    [MF_ST_IMAP_UPGRADING] = "imap-upgrading",
    [MF_ST_IMAP_LOGIN] = "imap-login",
    [MF_ST_IMAP_CAPS_AUTHED] = "imap-caps-authed",
    [MF_ST_IMAP_SELECT] = "imap-select",
    [MF_ST_IMAP_SEARCH] = "imap-search",
    [MF_ST_IMAP_FETCH] = "imap-fetch",
    [MF_ST_IMAP_STORE] = "imap-store",
    [MF_ST_IMAP_EXPUNGE] = "imap-expunge",
    [MF_ST_IMAP_SEARCH_DELETED] = "imap-search-deleted",
    [MF_ST_IMAP_IDLE] = "imap-idle",
    [MF_ST_IMAP_IDLING] = "imap-idling",
    [MF_ST_IMAP_IDLE_DONE] = "imap-idle-done",
    [MF_ST_IMAP_POLL] = "imap-poll",
    [MF_ST_IMAP_LIST] = "imap-list",
    [MF_ST_IMAP_LOGOUT] = "imap-logout",
    [MF_ST_POP_CONNECTING] = "pop-connecting",
    [MF_ST_POP_HANDSHAKE] = "pop-handshake",
    [MF_ST_POP_GREETING] = "pop-greeting",
    [MF_ST_POP_STLS] = "pop-stls",
    [MF_ST_POP_UPGRADING] = "pop-upgrading",
    [MF_ST_POP_USER] = "pop-user",
    [MF_ST_POP_PASS] = "pop-pass",
    [MF_ST_POP_UIDL] = "pop-uidl",
    [MF_ST_POP_TOP] = "pop-top",
    [MF_ST_POP_DELE] = "pop-dele",
    [MF_ST_POP_QUIT] = "pop-quit",
    [MF_ST_POP_WAIT] = "pop-wait",
    [MF_ST_CLOSING] = "closing",
};

static const char *const mf_waiting_for[MF_ST_LAST] = {
    [MF_ST_RESOLVE_VIA] = "DNS",
    [MF_ST_SMTP_CONNECTING] = "the connection",
    [MF_ST_SMTP_HANDSHAKE] = "the TLS handshake",
    [MF_ST_SMTP_BANNER] = "the SMTP banner",
    [MF_ST_SMTP_EHLO] = "the reply to EHLO",
    [MF_ST_SMTP_STARTTLS] = "the reply to STARTTLS",
    [MF_ST_SMTP_UPGRADING] = "the TLS handshake after STARTTLS",
    [MF_ST_SMTP_AUTH] = "the verdict on the credentials",
    [MF_ST_SMTP_MAIL] = "the reply to MAIL FROM",
    [MF_ST_SMTP_RCPT] = "the reply to RCPT TO",
    [MF_ST_SMTP_DATA] = "the reply to DATA",
    [MF_ST_SMTP_BODY] = "the reply to the end of the message",
    [MF_ST_SMTP_QUIT] = "the reply to QUIT",
    [MF_ST_RESOLVE_READ] = "DNS",
    [MF_ST_IMAP_CONNECTING] = "the connection",
    [MF_ST_IMAP_HANDSHAKE] = "the TLS handshake",
    [MF_ST_IMAP_GREETING] = "the IMAP greeting",
    [MF_ST_IMAP_CAPABILITY] = "the reply to CAPABILITY",
    [MF_ST_IMAP_STARTTLS] = "the reply to STARTTLS",
    [MF_ST_IMAP_UPGRADING] = "the TLS handshake after STARTTLS",
    [MF_ST_IMAP_LOGIN] = "the verdict on the credentials",
    [MF_ST_IMAP_CAPS_AUTHED] = "the reply to CAPABILITY",
    [MF_ST_IMAP_SELECT] = "the reply to SELECT",
    [MF_ST_IMAP_SEARCH] = "the reply to UID SEARCH",
    [MF_ST_IMAP_FETCH] = "the reply to UID FETCH",
    [MF_ST_IMAP_STORE] = "the reply to UID STORE",
    [MF_ST_IMAP_EXPUNGE] = "the reply to EXPUNGE",
    [MF_ST_IMAP_SEARCH_DELETED] = "the reply to UID SEARCH DELETED",
    [MF_ST_IMAP_IDLE] = "the reply to IDLE",
    [MF_ST_IMAP_IDLING] = "news while idling",
    [MF_ST_IMAP_IDLE_DONE] = "the end of IDLE",
    [MF_ST_IMAP_POLL] = "nothing",
    [MF_ST_IMAP_LIST] = "the reply to LIST",
    [MF_ST_IMAP_LOGOUT] = "the reply to LOGOUT",
    [MF_ST_POP_CONNECTING] = "the connection",
    [MF_ST_POP_HANDSHAKE] = "the TLS handshake",
    [MF_ST_POP_GREETING] = "the POP3 greeting",
    [MF_ST_POP_STLS] = "the reply to STLS",
    [MF_ST_POP_UPGRADING] = "the TLS handshake after STLS",
    [MF_ST_POP_USER] = "the reply to USER",
    [MF_ST_POP_PASS] = "the verdict on the credentials",
    [MF_ST_POP_UIDL] = "the reply to UIDL",
    [MF_ST_POP_TOP] = "the reply to TOP",
    [MF_ST_POP_DELE] = "the reply to DELE",
    [MF_ST_POP_QUIT] = "the reply to QUIT",
    [MF_ST_POP_WAIT] = "nothing",
    [MF_ST_CLOSING] = "nothing",
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
    char dnsdetail[2][ERR_MAX];
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

/* ---- state, failure, closing ----------------------------------------- */

static void mf_set_state(struct mailflow *m, enum mf_state st)
{
    assert((unsigned)st < MF_ST_LAST);
    dialog_trace_state(&m->d, mf_state_names[m->st], mf_state_names[st]);
    m->st = st;
}

static void mf_close(struct mailflow *m);

/* Records a failure unless the verdict is already in. */
static void mf_fail(struct mailflow *m, enum result_error e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void mf_fail(struct mailflow *m, enum result_error e, const char *fmt, ...)
{
    char buf[RESULT_STR_MAX + 1];
    va_list ap;

    if (m->d.succeeded)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    dialog_fail(&m->d, e, "%s", buf);
}

static void mf_fail_close(struct mailflow *m, enum result_error e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void mf_fail_close(struct mailflow *m, enum result_error e, const char *fmt, ...)
{
    char buf[RESULT_STR_MAX + 1];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    mf_fail(m, e, "%s", buf);
    mf_close(m);
}

/* The delivery facts as far as they go, and the detail of a passing check. */
static void mf_facts(struct mailflow *m)
{
    struct result *r = &m->d.p->result;
    struct result_delivery *dl = result_delivery_new(r);

    if (dl == NULL)
        return;
    (void)result_set_str(&dl->message_id, m->message_id);
    dl->submitted_at_us = m->accepted_wall_us;
    if (m->found) {
        (void)result_set_str(&dl->folder, m->folder);
        /* Found in Junk only after the wait: when it got there is unknown,
         * and the wait is no delivery time. */
        if (!m->in_junk) {
            dl->arrived_at_us = m->seen_wall_us;
            dl->delivery_us = m->seen_us > m->accepted_us ? m->seen_us - m->accepted_us : 0;
            r->phases_us[RESULT_PHASE_DELIVERY] = dl->delivery_us;
        }
    }
    if (r->error == RESULT_OK) {
        char extra[160] = "";
        if (m->expunge_withheld)
            snprintf(extra, sizeof(extra),
                     "; left flagged \\Deleted, not expunged: the server has no UIDPLUS and "
                     "other messages are flagged \\Deleted too");
        result_fail(r, RESULT_OK,
                    "delivered to %s in %.1f s; %u leftover%s of this agent "
                    "removed%s",
                    m->folder, (double)dl->delivery_us / 1e6, m->leftovers,
                    m->leftovers == 1 ? "" : "s", extra);
    } else if (m->leftovers > 0 && r->detail != NULL) {
        char buf[RESULT_STR_MAX + 1];
        snprintf(buf, sizeof(buf), "%s (%u leftover%s of this agent removed)", r->detail,
                 m->leftovers, m->leftovers == 1 ? "" : "s");
        (void)result_set_str(&r->detail, buf);
    }
}

static void mf_closed_one(struct mailflow *m)
{
    if (--m->pending_close > 0)
        return;
    struct probe *p = m->d.p;
    mf_facts(m);
    dialog_discard(&m->d); /* wipes the credentials' encodings, frees m */
    probe_finish(p);
}

static void on_timer_closed(uv_handle_t *h)
{
    mf_closed_one(h->data);
}

static void on_conn_closed(void *arg)
{
    mf_closed_one(arg);
}

/* Ends the probe: cancels DNS, closes the timer and the connection, then
 * mf_closed_one() finishes. Safe inside a conn callback; once only. */
static void mf_close(struct mailflow *m)
{
    if (m->closing)
        return;
    m->closing = true;
    mf_set_state(m, MF_ST_CLOSING);
    resolver_cancel(&m->q[0]);
    resolver_cancel(&m->q[1]);
    m->pending_close = 1;
    uv_timer_stop(&m->timer);
    uv_close((uv_handle_t *)&m->timer, on_timer_closed);
    if (m->d.c != NULL) {
        struct conn *c = m->d.c;
        m->d.c = NULL;
        m->pending_close++;
        conn_destroy(&c, on_conn_closed, m);
    }
}

static void mf_abort(struct probe *p, enum probe_abort why)
{
    struct mailflow *m = p->kind;

    if (m == NULL || m->closing)
        return;
    if (!m->d.succeeded) {
        if (why == PROBE_ABORT_SHUTDOWN)
            result_fail(&p->result, RESULT_INTERNAL, "aborted: the agent is shutting down");
        else if (m->st == MF_ST_RESOLVE_VIA || m->st == MF_ST_RESOLVE_READ)
            result_fail(&p->result, RESULT_DNS_TIMEOUT, "no DNS answer for %s in time",
                        m->resolving != NULL ? m->resolving : "?");
        else
            probe_classify_abort(p, m->d.c, why);
    }
    mf_close(m);
}

/* Drops the current connection without waiting for it (the next one
 * starts now; conn frees itself once closed). */
static void mf_drop_conn(struct mailflow *m)
{
    if (m->d.c != NULL)
        conn_destroy(&m->d.c, NULL, NULL);
}

/* ---- DNS ---------------------------------------------------------------- */

static void mf_resolved(struct mailflow *m);

static int literal_address(const char *host, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        return 0;
    }
    return -1;
}

static void mf_dns_done(struct mailflow *m)
{
    m->d.p->result.phases_us[RESULT_PHASE_DNS] += clock_mono_us() - m->dns_t0;
    size_t i6 = 0, i4 = 0;
    m->naddrs = 0;
    /* RFC 8305 §4: alternate families, IPv6 first (as probe.c does). */
    while (m->naddrs < CONN_ADDRS_MAX && (i6 < m->nfound[1] || i4 < m->nfound[0])) {
        if (i6 < m->nfound[1])
            m->addrs[m->naddrs++] = m->dnsfound[1][i6++];
        if (i4 < m->nfound[0] && m->naddrs < CONN_ADDRS_MAX)
            m->addrs[m->naddrs++] = m->dnsfound[0][i4++];
    }
    if (m->naddrs == 0) {
        int f = m->dnserr[0] == RESULT_DNS_NODATA && m->dnserr[1] != RESULT_DNS_NODATA &&
                        m->dnserr[1] != RESULT_OK
                    ? 1
                    : 0;
        enum result_error e = m->dnserr[f] != RESULT_OK ? m->dnserr[f] : RESULT_DNS_NODATA;
        mf_fail_close(m, e, "%s: %s", m->resolving,
                      m->dnsdetail[f][0] ? m->dnsdetail[f] : "no address for the host");
        return;
    }
    mf_resolved(m);
}

static void mf_on_addr(struct mailflow *m, int f, struct resolver_reply *rep)
{
    m->q[f] = NULL;
    m->dnserr[f] = rep->error;
    snprintf(m->dnsdetail[f], sizeof(m->dnsdetail[f]), "%s", rep->detail ? rep->detail : "");
    for (size_t i = 0; i < rep->naddrs && m->nfound[f] < CONN_ADDRS_MAX; i++)
        m->dnsfound[f][m->nfound[f]++] = rep->addrs[i];
    (void)resolver_reply_move(rep, &m->d.p->result);
    if (m->q[0] == NULL && m->q[1] == NULL)
        mf_dns_done(m);
}

static void mf_on_a(struct resolver_reply *rep, void *arg)
{
    mf_on_addr(arg, 0, rep);
}

static void mf_on_aaaa(struct resolver_reply *rep, void *arg)
{
    mf_on_addr(arg, 1, rep);
}

static bool is_localhost(const char *host)
{
    size_t n = strlen(host);
    if (n > 0 && host[n - 1] == '.')
        n--;
    return (n == 9 && strncasecmp(host, "localhost", 9) == 0) ||
           (n > 10 && strncasecmp(host + n - 10, ".localhost", 10) == 0);
}

/* Resolves s's host (A and AAAA, as the engine does for other kinds);
 * mf_resolved() follows, maybe right away. */
static void mf_resolve(struct mailflow *m, const struct spec *s, enum mf_state st)
{
    char err[ERR_MAX];

    mf_set_state(m, st);
    m->resolving = s->host;
    m->port = s->port;
    m->servername = s->host;
    memset(m->nfound, 0, sizeof(m->nfound));
    m->dnserr[0] = m->dnserr[1] = RESULT_OK;
    m->dns_t0 = clock_mono_us();
    if (literal_address(s->host, &m->dnsfound[0][0]) == 0) {
        m->nfound[0] = 1;
        mf_dns_done(m);
        return;
    }
    if (is_localhost(s->host)) {
        (void)literal_address("::1", &m->dnsfound[1][0]);
        (void)literal_address("127.0.0.1", &m->dnsfound[0][0]);
        m->nfound[0] = m->nfound[1] = 1;
        mf_dns_done(m);
        return;
    }
    if (resolver_query(m->d.p->resolver, s->host, ns_t_a, mf_on_a, m, &m->q[0], err, sizeof(err)) <
            0 ||
        resolver_query(m->d.p->resolver, s->host, ns_t_aaaa, mf_on_aaaa, m, &m->q[1], err,
                       sizeof(err)) < 0) {
        resolver_cancel(&m->q[0]);
        resolver_cancel(&m->q[1]);
        mf_fail_close(m, RESULT_INTERNAL, "%s", err);
    }
}

static void on_conn(struct conn *c, enum conn_event ev, void *arg);

/* Opens a connection to the addresses just resolved. */
static void mf_connect(struct mailflow *m, enum mf_state st)
{
    struct probe *p = m->d.p;
    char err[ERR_MAX];

    /* The result shows the last connection's TLS facts, not a mix. */
    if (p->result.tls != NULL) {
        struct result tmp;
        result_init(&tmp);
        tmp.tls = p->result.tls;
        p->result.tls = NULL;
        result_clear(&tmp);
    }
    struct conn_params cp = {
        .loop = p->loop,
        .tls = p->tls,
        .addrs = m->addrs,
        .naddrs = m->naddrs,
        .port = m->port,
        .servername = m->servername,
        .deadline_us = p->deadline_us,
        .line_max = MF_LINE_MAX + 2,
        .result = &p->result,
    };
    mf_set_state(m, st);
    m->d.c = conn_create(&cp, on_conn, m, err, sizeof(err));
    if (m->d.c == NULL || conn_connect(m->d.c, err, sizeof(err)) < 0) {
        mf_drop_conn(m);
        mf_fail_close(m, RESULT_INTERNAL, "%s", err);
    }
}

/* ---- SMTP: submit --------------------------------------------------------- */

static int smtp_cmd(struct mailflow *m, const char *shown, enum mf_state next, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int smtp_cmd(struct mailflow *m, const char *shown, enum mf_state next, const char *fmt, ...)
{
    char cmd[DIALOG_CMD_MAX];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    reply_smtp_init(&m->smtp);
    int rc = n >= 0 && (size_t)n < sizeof(cmd) ? dialog_send(&m->d, shown, "%s", cmd) : -1;
    explicit_bzero(cmd, sizeof(cmd));
    if (rc < 0) {
        mf_fail_close(m, RESULT_INTERNAL, "SMTP command too long");
        return -1;
    }
    mf_set_state(m, next);
    return 0;
}

static void mf_start_read(struct mailflow *m);

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
            mf_fail_close(m, RESULT_PROTO_STARTTLS_UNSUPPORTED,
                          "%s does not offer STARTTLS (not in its EHLO reply)", m->via.host);
            return;
        }
    }
    if (m->via.kind != SPEC_SMTP && dialog_wants_login(d)) {
        if (!(m->caps & REPLY_CAP_AUTH_PLAIN)) {
            mf_fail_close(m, RESULT_AUTH_UNSUPPORTED,
                          "%s offers no AUTH PLAIN after EHLO (the mailflow check logs in with "
                          "PLAIN only)",
                          m->via.host);
            return;
        }
        if (dialog_secrets(d) < 0) {
            mf_fail_close(m, RESULT_AUTH_UNSUPPORTED,
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
    mf_fail_close(m, RESULT_MAIL_REJECTED, "%s refused by %s: %s", what, m->via.host, m->smtp.text);
}

static void smtp_on_reply(struct mailflow *m)
{
    struct dialog *d = &m->d;
    const struct reply_smtp *r = &m->smtp;
    char err[ERR_MAX];

    switch (m->st) {
    case MF_ST_SMTP_BANNER:
        dialog_phase_end(d, RESULT_PHASE_GREETING);
        (void)result_set_str(&d->p->result.banner, r->text);
        if (r->code != 220) {
            mf_fail_close(m, RESULT_PROTO_BAD_GREETING, "%s refused the session: %s", m->via.host,
                          r->text);
            return;
        }
        (void)smtp_cmd(m, NULL, MF_ST_SMTP_EHLO, "EHLO %s", m->ehlo_name);
        return;
    case MF_ST_SMTP_EHLO:
        if (reply_smtp_class(r) != 2) {
            mf_fail_close(m, RESULT_PROTO_BAD_GREETING, "EHLO rejected: %s", r->text);
            return;
        }
        m->caps = r->caps;
        smtp_after_ehlo(m);
        return;
    case MF_ST_SMTP_STARTTLS:
        dialog_phase_end(d, RESULT_PHASE_STARTTLS);
        if (r->code != 220) {
            mf_fail_close(m, RESULT_PROTO_STARTTLS_UNSUPPORTED, "STARTTLS refused: %s", r->text);
            return;
        }
        mf_set_state(m, MF_ST_SMTP_UPGRADING);
        if (conn_tls_start(d->c, err, sizeof(err)) < 0)
            mf_fail_close(m, RESULT_INTERNAL, "%s", err);
        return;
    case MF_ST_SMTP_AUTH:
        if (r->code == 334 && !m->plain_resent) {
            /* The server ignored the initial response and asks for it. */
            m->plain_resent = true;
            reply_smtp_init(&m->smtp);
            if (dialog_send(d, "***", "%s", d->b64_plain) < 0)
                mf_close(m);
            return;
        }
        dialog_phase_end(d, RESULT_PHASE_AUTH);
        if (r->code != 235) {
            /* Codes only: some servers echo what they were sent. */
            mf_fail_close(m,
                          r->code == 504 || r->code == 534 || r->code == 538 || r->code == 530
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
        mf_set_state(m, MF_ST_SMTP_BODY);
        if (conn_write(d->c, m->message, (size_t)m->msglen, err, sizeof(err)) < 0 ||
            conn_write(d->c, ".\r\n", 3, err, sizeof(err)) < 0)
            mf_fail_close(m, RESULT_INTERNAL, "%s", err);
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
        mf_start_read(m);
        return;
    default:
        abort();
    }
}

/* ---- IMAP: read ------------------------------------------------------------ */

static int imap_cmd(struct mailflow *m, const char *shown, enum mf_state next, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int imap_cmd(struct mailflow *m, const char *shown, enum mf_state next, const char *fmt, ...)
{
    char cmd[DIALOG_CMD_MAX];
    va_list ap;

    snprintf(m->tag, sizeof(m->tag), "M%u", ++m->tagno);
    if (reply_imap_init(&m->imap, m->tag) < 0) {
        mf_fail_close(m, RESULT_INTERNAL, "bad IMAP tag %s", m->tag);
        return -1;
    }
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int rc =
        n >= 0 && (size_t)n < sizeof(cmd) ? dialog_send(&m->d, shown, "%s %s", m->tag, cmd) : -1;
    explicit_bzero(cmd, sizeof(cmd));
    if (rc < 0) {
        mf_fail_close(m, RESULT_INTERNAL, "IMAP command too long");
        return -1;
    }
    m->lines = 0;
    m->in_literal = m->after_literal = false;
    mf_set_state(m, next);
    return 0;
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

/* Whether another probe of this engine waits for the message with this
 * nonce (--concurrency, or two targets sharing a mailbox). */
static bool nonce_awaited(const struct mailflow *m, const char *nonce)
{
    for (const struct probe *q = probe_engine_first(m->d.p); q != NULL; q = q->next) {
        const struct mailflow *o = q->kind;
        if (q == m->d.p || q->ops != &probe_mailflow_ops || o == NULL)
            continue;
        if (strcmp(o->marker.nonce, nonce) == 0)
            return true;
    }
    return false;
}

/* Classifies one fetched message by its marker header(s). */
static void mf_classify(struct mailflow *m, uint32_t uid, unsigned markers,
                        const struct mailflow_marker *mk, bool valid)
{
    int64_t now_s = clock_wall_us() / 1000000;
    uint64_t timeout_s = m->d.p->timeout_us / 1000000;

    if (uid == 0)
        return; /* no UID on the line: never deleted */
    if (markers != 1 || !valid || strcmp(mk->agent, m->marker.agent) != 0) {
        /* Another agent's, a forged or malformed one: never touched. */
        if (m->nchecked < MAILFLOW_UIDS_MAX)
            m->checked[m->nchecked++] = uid;
        return;
    }
    if (strcmp(mk->nonce, m->marker.nonce) == 0) {
        if (!m->found) {
            m->found = true;
            m->found_uid = uid;
            snprintf(m->folder, sizeof(m->folder), "%s", m->in_junk ? m->junk : "INBOX");
        }
        if (!uid_in(m->del, m->ndel, uid) && m->ndel < MF_DELETE_BATCH)
            m->del[m->ndel++] = uid;
        return;
    }
    if (!nonce_awaited(m, mk->nonce) && mk->sent_s + (int64_t)timeout_s <= now_s) {
        if (!uid_in(m->del, m->ndel, uid) && m->ndel < MF_DELETE_BATCH) {
            m->del[m->ndel++] = uid;
            m->leftovers++;
        }
        return;
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
        mf_classify(m, m->cur_uid, m->cur_markers, &m->cur, m->cur_valid);
        return;
    }
    /* ")" or " UID 5)": the rest of the FETCH response. Another literal
     * here is not what we asked for. */
    m->after_literal = false;
    if (len > 0 && line[len - 1] == '}')
        mf_fail_close(m, RESULT_PROTO_BAD_GREETING,
                      "a second literal in one FETCH response instead of %s",
                      mf_waiting_for[m->st]);
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
            mf_fail_close(m, RESULT_PROTO_BAD_GREETING, "%s", bad);
        }
        return;
    }
    case MF_ST_IMAP_FETCH: {
        uint32_t uid;
        size_t lit;
        enum mailflow_line l = mailflow_reply_fetch(line, len, &uid, &lit);
        if (l == MAILFLOW_LINE_TOO_BIG) {
            mf_fail_close(m, RESULT_PROTO_BAD_GREETING,
                          "a FETCH literal of more than %d bytes for one header field",
                          MAILFLOW_LITERAL_MAX);
            return;
        }
        if (l == MAILFLOW_LINE_BAD) {
            dialog_describe_bad("malformed FETCH response", line, len, bad, sizeof(bad));
            mf_fail_close(m, RESULT_PROTO_BAD_GREETING, "%s", bad);
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
                mf_classify(m, uid, 0, &m->cur, false);
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
            mf_fail(m, RESULT_MAIL_IN_JUNK,
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
        mf_fail(m, RESULT_MAIL_NOT_DELIVERED,
                "%s accepted the test message for %s, but it was in neither INBOX nor Junk "
                "after %.0f s",
                m->via.host, m->mailbox, (double)d->p->timeout_us / 1e6);
        imap_logout(m);
        return;
    }
    imap_wait(m);
}

static void on_timer(uv_timer_t *t);

static void mf_arm(struct mailflow *m, uint64_t us)
{
    uint64_t now = clock_mono_us();
    if (now + us > m->wait_until_us)
        us = m->wait_until_us > now ? m->wait_until_us - now : 0;
    m->timer_armed = true;
    uv_update_time(m->d.p->loop);
    uv_timer_start(&m->timer, on_timer, (us + 999) / 1000, 0);
}

static void imap_wait(struct mailflow *m)
{
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
    mf_set_state(m, MF_ST_IMAP_POLL);
    mf_arm(m, MF_POLL_US);
}

static void imap_idle_done(struct mailflow *m)
{
    uv_timer_stop(&m->timer);
    m->timer_armed = false;
    if (reply_imap_init(&m->imap, m->tag) < 0 || dialog_send(&m->d, NULL, "DONE") < 0) {
        mf_close(m);
        return;
    }
    mf_set_state(m, MF_ST_IMAP_IDLE_DONE);
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
        mf_fail_close(m, RESULT_AUTH_UNSUPPORTED,
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
        mf_fail_close(m, RESULT_AUTH_UNSUPPORTED,
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
            mf_fail_close(m, RESULT_PROTO_STARTTLS_UNSUPPORTED,
                          "%s does not offer STARTTLS (not in its CAPABILITY list)", m->read.host);
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
        mf_fail_close(m, RESULT_PROTO_BAD_GREETING, "the Junk folder's name cannot be quoted");
        return;
    }
    (void)imap_cmd(m, NULL, MF_ST_IMAP_SELECT, "SELECT %s", q);
}

static void imap_on_reply(struct mailflow *m)
{
    struct dialog *d = &m->d;
    struct reply_imap *r = &m->imap;
    char err[ERR_MAX], code[REPLY_IMAP_CODE_MAX + 4];

    /* A NO or BAD to a mailbox command: the server's code names why. */
    bool ok = r->cond == REPLY_IMAP_OK;
    switch (m->st) {
    case MF_ST_IMAP_GREETING:
        dialog_phase_end(d, RESULT_PHASE_GREETING);
        if (r->cond == REPLY_IMAP_BYE) {
            mf_fail_close(m, RESULT_PROTO_BAD_GREETING, "%s refused the session: %s", m->read.host,
                          r->text);
            return;
        }
        if (r->cond == REPLY_IMAP_PREAUTH) {
            mf_fail_close(m, RESULT_AUTH_UNSUPPORTED,
                          "%s greets with PREAUTH: the mailflow check logs in itself",
                          m->read.host);
            return;
        }
        (void)imap_cmd(m, NULL, MF_ST_IMAP_CAPABILITY, "CAPABILITY");
        return;
    case MF_ST_IMAP_CAPABILITY:
        if (!ok) {
            mf_fail_close(m, RESULT_PROTO_BAD_GREETING, "CAPABILITY failed: %s", r->text);
            return;
        }
        m->caps = r->has_caps ? r->caps : 0;
        imap_after_capability(m);
        return;
    case MF_ST_IMAP_STARTTLS:
        dialog_phase_end(d, RESULT_PHASE_STARTTLS);
        if (!ok) {
            mf_fail_close(m, RESULT_PROTO_STARTTLS_UNSUPPORTED, "STARTTLS refused: %s", r->text);
            return;
        }
        mf_set_state(m, MF_ST_IMAP_UPGRADING);
        if (conn_tls_start(d->c, err, sizeof(err)) < 0)
            mf_fail_close(m, RESULT_INTERNAL, "%s", err);
        return;
    case MF_ST_IMAP_LOGIN:
        dialog_phase_end(d, RESULT_PHASE_AUTH);
        if (!ok) {
            mf_fail_close(m,
                          r->cond == REPLY_IMAP_NO ? RESULT_AUTH_FAILED : RESULT_AUTH_UNSUPPORTED,
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
            mf_fail_close(m, RESULT_PROTO_BAD_GREETING, "SELECT %s refused: %s%s",
                          m->in_junk ? m->junk : "INBOX", reply_imap_cond_name(r->cond),
                          imap_code(m, code, sizeof(code)));
            return;
        }
        imap_search(m);
        return;
    case MF_ST_IMAP_SEARCH:
        if (!ok) {
            mf_fail_close(m, RESULT_PROTO_BAD_GREETING, "UID SEARCH refused: %s%s",
                          reply_imap_cond_name(r->cond), imap_code(m, code, sizeof(code)));
            return;
        }
        m->seen_us = clock_mono_us();
        m->seen_wall_us = clock_wall_us();
        imap_fetch_next(m);
        return;
    case MF_ST_IMAP_FETCH:
        if (!ok) {
            mf_fail_close(m, RESULT_PROTO_BAD_GREETING, "UID FETCH refused: %s%s",
                          reply_imap_cond_name(r->cond), imap_code(m, code, sizeof(code)));
            return;
        }
        imap_fetch_next(m);
        return;
    case MF_ST_IMAP_STORE:
        if (!ok) {
            mf_fail_close(m, RESULT_PROTO_BAD_GREETING,
                          "UID STORE +FLAGS (\\Deleted) refused: %s%s",
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
            mf_fail_close(m, RESULT_PROTO_BAD_GREETING, "EXPUNGE refused: %s%s",
                          reply_imap_cond_name(r->cond), imap_code(m, code, sizeof(code)));
            return;
        }
        imap_deleted(m);
        return;
    case MF_ST_IMAP_IDLE:
        if (r->cond == REPLY_IMAP_CONTINUE) {
            if (reply_imap_init(&m->imap, m->tag) < 0) {
                mf_close(m);
                return;
            }
            mf_set_state(m, MF_ST_IMAP_IDLING);
            if (m->news)
                imap_idle_done(m);
            else
                mf_arm(m, MF_IDLE_RECHECK_US);
            return;
        }
        /* IDLE refused after all: poll instead. */
        m->caps &= ~(unsigned)REPLY_CAP_IDLE;
        mf_set_state(m, MF_ST_IMAP_POLL);
        mf_arm(m, MF_POLL_US);
        return;
    case MF_ST_IMAP_IDLING:
    case MF_ST_IMAP_IDLE_DONE:
        dialog_phase_begin(d, RESULT_PHASE_FETCH);
        if (clock_mono_us() >= m->wait_until_us) {
            /* One last look before Junk: it may have come just now. */
            m->wait_until_us = 0;
        }
        imap_search(m);
        return;
    case MF_ST_IMAP_LIST:
        if (!ok || m->junk[0] == '\0') {
            mf_fail(m, RESULT_MAIL_NOT_DELIVERED,
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
        mf_close(m);
        return;
    default:
        abort();
    }
}

static void imap_line(struct mailflow *m, const char *line, size_t len)
{
    enum reply_status st;

    if (m->st >= MF_ST_IMAP_SELECT && m->st <= MF_ST_IMAP_LOGOUT) {
        if (++m->lines > MF_REPLY_LINES_MAX) {
            mf_fail_close(m, RESULT_PROTO_BAD_GREETING, "more than %d lines instead of %s",
                          MF_REPLY_LINES_MAX, mf_waiting_for[m->st]);
            return;
        }
        if (m->in_literal || m->after_literal) {
            imap_literal_line(m, line, len);
            return;
        }
        if (len >= 2 && line[0] == '*' && line[1] == ' ') {
            imap_untagged(m, line, len);
            if (!m->closing && m->st == MF_ST_IMAP_IDLING && m->news)
                imap_idle_done(m);
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
    dialog_bad_reply(&m->d, reply_status_text(st), line, len, mf_waiting_for[m->st]);
    mf_close(m);
}

/* ---- POP3: read ------------------------------------------------------------ */

static int pop_cmd(struct mailflow *m, const char *shown, enum mf_state next, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int pop_cmd(struct mailflow *m, const char *shown, enum mf_state next, const char *fmt, ...)
{
    char cmd[DIALOG_CMD_MAX];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    reply_pop3_init(&m->pop, false);
    m->pop_status_seen = false;
    m->lines = 0;
    int rc = n >= 0 && (size_t)n < sizeof(cmd) ? dialog_send(&m->d, shown, "%s", cmd) : -1;
    explicit_bzero(cmd, sizeof(cmd));
    if (rc < 0) {
        mf_fail_close(m, RESULT_INTERNAL, "POP3 command too long");
        return -1;
    }
    mf_set_state(m, next);
    return 0;
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
    int64_t now_s = clock_wall_us() / 1000000;
    uint64_t timeout_s = m->d.p->timeout_us / 1000000;
    bool del = false;

    if (m->cur_markers == 1 && m->cur_valid && strcmp(m->cur.agent, m->marker.agent) == 0) {
        if (strcmp(m->cur.nonce, m->marker.nonce) == 0) {
            del = true;
            if (!m->found) {
                m->found = true;
                snprintf(m->folder, sizeof(m->folder), "INBOX");
            }
        } else if (!nonce_awaited(m, m->cur.nonce) && m->cur.sent_s + (int64_t)timeout_s <= now_s) {
            del = true;
            m->leftovers++;
        }
    }
    if (del && m->npop_del < MF_DELETE_BATCH)
        m->pop_del[m->npop_del++] = msg->msgno;
    pop_check_remember(m, msg->uid);
}

static void pop_after_quit(struct mailflow *m)
{
    struct dialog *d = &m->d;

    mf_drop_conn(m);
    dialog_phase_end(d, RESULT_PHASE_FETCH);
    if (m->found) {
        result_fail(&d->p->result, RESULT_OK, NULL);
        d->succeeded = true;
        mf_close(m);
        return;
    }
    if (clock_mono_us() >= m->wait_until_us) {
        mf_fail_close(m, RESULT_MAIL_NOT_DELIVERED,
                      "%s accepted the test message for %s, but it was not in the mailbox after "
                      "%.0f s (POP3 shows the inbox only)",
                      m->via.host, m->mailbox, (double)d->p->timeout_us / 1e6);
        return;
    }
    /* A POP3 session sees the maildrop as it was at login: log in again
     * (the messages examined stay examined). */
    mf_set_state(m, MF_ST_POP_WAIT);
    mf_arm(m, MF_POLL_US);
}

static void pop_on_status(struct mailflow *m)
{
    struct dialog *d = &m->d;
    const struct reply_pop3 *r = &m->pop;
    char err[ERR_MAX];
    char qshown[16];

    switch (m->st) {
    case MF_ST_POP_GREETING:
        dialog_phase_end(d, RESULT_PHASE_GREETING);
        if (!r->ok) {
            mf_fail_close(m, RESULT_PROTO_BAD_GREETING, "%s refused the session: %s", m->read.host,
                          r->text);
            return;
        }
        if (!conn_is_tls(d->c)) {
            dialog_phase_begin(d, RESULT_PHASE_STARTTLS);
            (void)pop_cmd(m, NULL, MF_ST_POP_STLS, "STLS");
            return;
        }
        if (dialog_secrets(d) < 0) {
            mf_fail_close(m, RESULT_AUTH_UNSUPPORTED,
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
            mf_fail_close(m, RESULT_PROTO_STARTTLS_UNSUPPORTED, "STLS refused: %s", r->text);
            return;
        }
        mf_set_state(m, MF_ST_POP_UPGRADING);
        if (conn_tls_start(d->c, err, sizeof(err)) < 0)
            mf_fail_close(m, RESULT_INTERNAL, "%s", err);
        return;
    case MF_ST_POP_USER:
        if (!r->ok) {
            dialog_phase_end(d, RESULT_PHASE_AUTH);
            mf_fail_close(m, RESULT_AUTH_FAILED, "USER refused by %s", m->read.host);
            return;
        }
        snprintf(qshown, sizeof(qshown), "PASS ***");
        (void)pop_cmd(m, qshown, MF_ST_POP_PASS, "PASS %s", d->p->password);
        return;
    case MF_ST_POP_PASS:
        dialog_phase_end(d, RESULT_PHASE_AUTH);
        if (!r->ok) {
            /* The text may echo; the verdict is enough. */
            mf_fail_close(m, RESULT_AUTH_FAILED, "login to %s rejected: -ERR", m->read.host);
            return;
        }
        m->nrecent = 0;
        m->nlisted = 0;
        (void)pop_cmd(m, NULL, MF_ST_POP_UIDL, "UIDL");
        return;
    case MF_ST_POP_DELE:
        if (!r->ok) {
            mf_fail_close(m, RESULT_PROTO_BAD_GREETING, "DELE refused: %s", r->text);
            return;
        }
        pop_examine_next(m);
        return;
    case MF_ST_POP_QUIT:
        if (!r->ok && m->npop_del > 0) {
            mf_fail_close(m, RESULT_PROTO_BAD_GREETING,
                          "QUIT refused, so the deletions were not committed: %s", r->text);
            return;
        }
        if (m->npop_del > 0) {
            /* Message numbers change with the next login. */
            m->npop_del = m->pop_del_next = 0;
        }
        pop_after_quit(m);
        return;
    default:
        abort();
    }
}

static void pop_line(struct mailflow *m, const char *line, size_t len)
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
                mf_fail_close(m, RESULT_PROTO_BAD_GREETING, "%s", bad);
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
            mf_fail_close(m, RESULT_PROTO_BAD_GREETING,
                          "a message header of more than %d lines instead of %s", MF_TOP_LINES_MAX,
                          mf_waiting_for[m->st]);
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
            mf_fail_close(m, RESULT_PROTO_BAD_GREETING, "%s refused: %s",
                          m->st == MF_ST_POP_UIDL ? "UIDL" : "TOP", m->pop.text);
            return;
        }
        pop_on_status(m);
        return;
    }
    dialog_bad_reply(&m->d, reply_status_text(st), line, len, mf_waiting_for[m->st]);
    mf_close(m);
}

/* ---- the read side: connect, timer ----------------------------------------- */

static void mf_start_read(struct mailflow *m)
{
    mf_drop_conn(m);
    mf_resolve(m, &m->read, MF_ST_RESOLVE_READ);
}

static void mf_read_connect(struct mailflow *m)
{
    dialog_phase_begin(&m->d, RESULT_PHASE_FETCH);
    mf_connect(m, m->read_pop ? MF_ST_POP_CONNECTING : MF_ST_IMAP_CONNECTING);
}

static void mf_resolved(struct mailflow *m)
{
    switch (m->st) {
    case MF_ST_RESOLVE_VIA:
        m->submit_t0 = clock_mono_us();
        mf_connect(m, MF_ST_SMTP_CONNECTING);
        return;
    case MF_ST_RESOLVE_READ:
        mf_read_connect(m);
        return;
    default:
        abort();
    }
}

static void on_timer(uv_timer_t *t)
{
    struct mailflow *m = t->data;

    m->timer_armed = false;
    switch (m->st) {
    case MF_ST_IMAP_POLL:
        dialog_phase_begin(&m->d, RESULT_PHASE_FETCH);
        if (clock_mono_us() >= m->wait_until_us)
            m->wait_until_us = 0; /* this SEARCH is the last in INBOX */
        imap_search(m);
        return;
    case MF_ST_IMAP_IDLING:
        imap_idle_done(m);
        return;
    case MF_ST_POP_WAIT:
        mf_read_connect(m);
        return;
    default:
        return; /* stale: the state moved on */
    }
}

/* ---- conn events ------------------------------------------------------------ */

static void mf_tls_or_greeting(struct mailflow *m, bool implicit, enum mf_state handshake,
                               enum mf_state greeting)
{
    char err[ERR_MAX];

    if (implicit) {
        mf_set_state(m, handshake);
        if (conn_tls_start(m->d.c, err, sizeof(err)) < 0)
            mf_fail_close(m, RESULT_INTERNAL, "%s", err);
        return;
    }
    mf_set_state(m, greeting);
    dialog_phase_begin(&m->d, RESULT_PHASE_GREETING);
    conn_read_start(m->d.c);
}

static void on_conn(struct conn *c, enum conn_event ev, void *arg)
{
    struct mailflow *m = arg;
    struct dialog *d = &m->d;
    size_t len;
    const char *line;

    (void)c;
    switch (ev) {
    case CONN_EV_CONNECTED:
        if (m->st == MF_ST_SMTP_CONNECTING) {
            reply_smtp_init(&m->smtp);
            mf_tls_or_greeting(m, m->via.kind == SPEC_SMTPS, MF_ST_SMTP_HANDSHAKE,
                               MF_ST_SMTP_BANNER);
        } else if (m->st == MF_ST_IMAP_CONNECTING) {
            (void)reply_imap_init(&m->imap, NULL);
            mf_tls_or_greeting(m, m->read.kind == SPEC_IMAPS, MF_ST_IMAP_HANDSHAKE,
                               MF_ST_IMAP_GREETING);
        } else {
            reply_pop3_init(&m->pop, false);
            m->pop_status_seen = false;
            mf_tls_or_greeting(m, m->read.kind == SPEC_POP3S, MF_ST_POP_HANDSHAKE,
                               MF_ST_POP_GREETING);
        }
        return;
    case CONN_EV_TLS_READY:
        switch (m->st) {
        case MF_ST_SMTP_HANDSHAKE:
            mf_set_state(m, MF_ST_SMTP_BANNER);
            dialog_phase_begin(d, RESULT_PHASE_GREETING);
            break;
        case MF_ST_SMTP_UPGRADING:
            /* RFC 3207 §4.2: forget what EHLO said before TLS. */
            if (smtp_cmd(m, NULL, MF_ST_SMTP_EHLO, "EHLO %s", m->ehlo_name) < 0)
                return;
            break;
        case MF_ST_IMAP_HANDSHAKE:
            mf_set_state(m, MF_ST_IMAP_GREETING);
            dialog_phase_begin(d, RESULT_PHASE_GREETING);
            break;
        case MF_ST_IMAP_UPGRADING:
            if (imap_cmd(m, NULL, MF_ST_IMAP_CAPABILITY, "CAPABILITY") < 0)
                return;
            break;
        case MF_ST_POP_HANDSHAKE:
            mf_set_state(m, MF_ST_POP_GREETING);
            dialog_phase_begin(d, RESULT_PHASE_GREETING);
            break;
        case MF_ST_POP_UPGRADING:
            reply_pop3_init(&m->pop, false);
            m->pop_status_seen = false;
            /* No second greeting after STLS: log in at once. */
            if (dialog_secrets(d) < 0) {
                mf_fail_close(m, RESULT_AUTH_UNSUPPORTED,
                              "the user name or password cannot be sent over POP3");
                return;
            }
            dialog_phase_begin(d, RESULT_PHASE_AUTH);
            if (pop_cmd(m, NULL, MF_ST_POP_USER, "USER %s", d->p->user) < 0)
                return;
            break;
        default:
            abort();
        }
        conn_read_start(d->c);
        return;
    case CONN_EV_LINE:
        line = conn_line(d->c, &len);
        if (m->st >= MF_ST_SMTP_BANNER && m->st <= MF_ST_SMTP_QUIT) {
            enum reply_status st = reply_smtp_feed(&m->smtp, line, len);
            if (st == REPLY_MORE)
                return;
            if (st == REPLY_DONE) {
                smtp_on_reply(m);
                return;
            }
            if (m->st == MF_ST_SMTP_QUIT) {
                mf_start_read(m); /* a garbled goodbye after the 250 */
                return;
            }
            dialog_bad_reply(d, reply_status_text(st), line, len, mf_waiting_for[m->st]);
            mf_close(m);
        } else if (m->st >= MF_ST_IMAP_GREETING && m->st <= MF_ST_IMAP_LOGOUT) {
            imap_line(m, line, len);
        } else if (m->st >= MF_ST_POP_GREETING && m->st <= MF_ST_POP_QUIT) {
            pop_line(m, line, len);
        }
        return;
    case CONN_EV_EOF:
    case CONN_EV_LINE_TOO_LONG:
    case CONN_EV_TIMEOUT:
    case CONN_EV_FAILED:
        if (m->st == MF_ST_SMTP_QUIT) {
            mf_start_read(m); /* the message is accepted; the goodbye is lost */
            return;
        }
        if (m->st == MF_ST_POP_QUIT && m->npop_del == 0) {
            pop_after_quit(m);
            return;
        }
        if (m->st == MF_ST_IMAP_LOGOUT || d->succeeded) {
            mf_close(m);
            return;
        }
        if (ev == CONN_EV_LINE_TOO_LONG)
            mf_fail(m, RESULT_PROTO_BAD_GREETING,
                    "a line longer than %d bytes instead of %s (an endless SEARCH or FETCH "
                    "response?)",
                    MF_LINE_MAX, mf_waiting_for[m->st]);
        else if (ev == CONN_EV_EOF && m->imap.bye)
            mf_fail(m, RESULT_PROTO_CLOSED,
                    "the server closed the connection while we waited for %s: %s",
                    mf_waiting_for[m->st], m->imap.text);
        else
            dialog_conn_trouble(d, ev, mf_waiting_for[m->st]);
        mf_close(m);
        return;
    case CONN_EV_LAST:
    default:
        abort();
    }
}

/* ---- start ------------------------------------------------------------------- */

static int mf_sub(struct mailflow *m, const char *own, const char *dflt, const char *what,
                  struct spec *out)
{
    char err[ERR_MAX];
    const char *text = own[0] != '\0' ? own : dflt;

    if (text == NULL) {
        result_fail(&m->d.p->result, RESULT_INTERNAL,
                    "%s names no %s: write ?%s=SPEC, or give the target a %s check", "mailflow",
                    strcmp(what, "via") == 0 ? "server to send through" : "mailbox server to read",
                    what, strcmp(what, "via") == 0 ? "submission://" : "imaps://");
        return -1;
    }
    if (spec_parse(text, out, err, sizeof(err)) < 0) {
        result_fail(&m->d.p->result, RESULT_INTERNAL, "%s=%s: %s", what, text, err);
        return -1;
    }
    return 0;
}

static int mailflow_start(struct probe *p)
{
    struct mailflow *m = dialog_create(p, sizeof(*m), "mailflow");
    int64_t now_s = clock_wall_us() / 1000000;

    if (m == NULL)
        return -1;
    m->st = MF_ST_RESOLVE_VIA;
    if (mf_sub(m, p->spec.via, p->mailflow_via, "via", &m->via) < 0 ||
        mf_sub(m, p->spec.read, p->mailflow_read, "read", &m->read) < 0)
        goto fail;
    m->read_pop = m->read.kind == SPEC_POP3S || m->read.kind == SPEC_POP3;
    if (!dialog_wants_login(&m->d)) {
        result_fail(&p->result, RESULT_INTERNAL,
                    "mailflow needs credentials to read the mailbox: --user and "
                    "--password-file, or the target's credentials");
        goto fail;
    }
    if (p->spec.mailbox[0] == '@') {
        /* "@CREDENTIALS": the mailbox of the credentials' user. */
        if (strchr(p->user, '@') == NULL) {
            result_fail(&p->result, RESULT_INTERNAL,
                        "the user '%.64s' of [credentials %.64s] is not an address: name the "
                        "mailbox, mailflow://user@example.com",
                        p->user, p->spec.mailbox + 1);
            goto fail;
        }
        snprintf(m->mailbox, sizeof(m->mailbox), "%s", p->user);
    } else {
        snprintf(m->mailbox, sizeof(m->mailbox), "%s", p->spec.mailbox);
    }
    /* Submission servers want the envelope sender to be the logged-in
     * user (postfix reject_sender_login_mismatch); smtp:// to an MX has
     * no login, and the mailbox itself is the safest sender there. */
    if (m->via.kind != SPEC_SMTP && strchr(p->user, '@') != NULL)
        snprintf(m->from, sizeof(m->from), "%s", p->user);
    else
        memcpy(m->from, m->mailbox, sizeof(m->from));
    if (strpbrk(m->mailbox, "<>\r\n ") != NULL || strpbrk(m->from, "<>\r\n ") != NULL) {
        result_fail(&p->result, RESULT_INTERNAL, "the mailbox address contains '<', '>' or space");
        goto fail;
    }
    if (mailflow_marker_new(p->agent_name, now_s, &m->marker) < 0) {
        result_fail(&p->result, RESULT_INTERNAL,
                    "cannot make the test message's marker: the agent name '%.64s' is not "
                    "letters, digits, '-', '_', '.' (at most %d), or the random generator failed",
                    p->agent_name, MAILFLOW_AGENT_MAX);
        goto fail;
    }
    mailflow_marker_format(&m->marker, m->marker_text, sizeof(m->marker_text));
    snprintf(m->message_id, sizeof(m->message_id), "<%s.%" PRId64 "@vantage>", m->marker.nonce,
             now_s);
    dialog_ehlo_name(m->ehlo_name, sizeof(m->ehlo_name));
    struct mailflow_message_params mp = {
        .from = m->from,
        .to = m->mailbox,
        .agent = m->marker.agent,
        .marker = m->marker_text,
        .message_id = m->message_id,
        .now_s = now_s,
    };
    m->msglen = mailflow_message(&mp, m->message, sizeof(m->message));
    if (m->msglen < 0) {
        result_fail(&p->result, RESULT_INTERNAL, "the test message does not fit %d bytes",
                    MAILFLOW_MESSAGE_MAX);
        goto fail;
    }
    (void)result_delivery_new(&p->result);
    m->wait_until_us = p->started_us + p->timeout_us;
    uv_timer_init(p->loop, &m->timer);
    m->timer.data = m;
    mf_resolve(m, &m->via, MF_ST_RESOLVE_VIA);
    return 0;
fail:
    dialog_discard(&m->d);
    return -1;
}

const struct probe_ops probe_mailflow_ops = {
    .name = "mailflow",
    .needs_addresses = false,
    .abort_grace = true,
    .default_timeout_us = MF_TIMEOUT_DEFAULT_US,
    .cleanup_us = MF_CLEANUP_US,
    .start = mailflow_start,
    .abort = mf_abort,
};
