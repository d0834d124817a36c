/*
 * probe_mailflow — mailflow:// (docs/reference.md "Check specs"): "is the mailbox
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
 *
 * This file is the driver: params, the state table, DNS, connections, the
 * timer, closing, the result's facts and the deletion rule
 * (probe_mailflow_verdict). The dialogs are mailflow_submit.c (1),
 * mailflow_imap.c and mailflow_pop3.c (2 and 3); probe_mailflow.h is
 * what the four share.
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
#include "mailflow_imap.h"
#include "mailflow_pop3.h"
#include "mailflow_submit.h"
#include "probe_mailflow.h"
/* Used when the check gives no timeout: mail normally arrives in seconds,
 * but greylisting and busy queues take minutes (docs/reference.md
 * mailflow_timeout). */
#define MF_TIMEOUT_DEFAULT_US 120000000u
/* After the wait ends: LIST, SELECT Junk, SEARCH, FETCH, delete, LOGOUT. */
#define MF_CLEANUP_US 15000000u

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

/* ---- state, failure, closing ----------------------------------------- */

void probe_mailflow_set_state(struct mailflow *m, enum mf_state st)
{
    assert((unsigned)st < MF_ST_LAST);
    dialog_trace_state(&m->d, mf_state_names[m->st], mf_state_names[st]);
    m->st = st;
}

void probe_mailflow_fail(struct mailflow *m, enum result_error e, const char *fmt, ...)
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

void probe_mailflow_fail_close(struct mailflow *m, enum result_error e, const char *fmt, ...)
{
    char buf[RESULT_STR_MAX + 1];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    probe_mailflow_fail(m, e, "%s", buf);
    probe_mailflow_close(m);
}

const char *probe_mailflow_waiting_for(const struct mailflow *m)
{
    return mf_waiting_for[m->st];
}

int probe_mailflow_vsend(struct mailflow *m, const char *proto, const char *shown,
                         enum mf_state next, const char *tag, const char *fmt, va_list ap)
{
    char cmd[DIALOG_CMD_MAX];

    int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
    int rc = n >= 0 && (size_t)n < sizeof(cmd)
                 ? dialog_send(&m->d, shown, "%s%s%s", tag, tag[0] != '\0' ? " " : "", cmd)
                 : -1;
    explicit_bzero(cmd, sizeof(cmd)); /* it may carry the password */
    if (rc < 0) {
        probe_mailflow_fail_close(m, RESULT_INTERNAL, "%s command too long", proto);
        return -1;
    }
    probe_mailflow_set_state(m, next);
    return 0;
}

void probe_mailflow_tls_start(struct mailflow *m, enum mf_state st)
{
    char err[MF_ERR_MAX];

    probe_mailflow_set_state(m, st);
    if (conn_tls_start(m->d.c, err, sizeof(err)) < 0)
        probe_mailflow_fail_close(m, RESULT_INTERNAL, "%s", err);
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

/* Cancels DNS, closes the timer and the connection; mf_closed_one()
 * finishes once both are closed. */
void probe_mailflow_close(struct mailflow *m)
{
    if (m->closing)
        return;
    m->closing = true;
    probe_mailflow_set_state(m, MF_ST_CLOSING);
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
    probe_mailflow_close(m);
}

void probe_mailflow_drop_conn(struct mailflow *m)
{
    if (m->d.c != NULL)
        conn_destroy(&m->d.c, NULL, NULL);
}

/* ---- DNS ---------------------------------------------------------------- */

static void mf_resolved(struct mailflow *m);

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
        probe_mailflow_fail_close(m, e, "%s: %s", m->resolving,
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
    char err[MF_ERR_MAX];

    probe_mailflow_set_state(m, st);
    m->resolving = s->host;
    m->port = s->port;
    m->servername = s->host;
    memset(m->nfound, 0, sizeof(m->nfound));
    m->dnserr[0] = m->dnserr[1] = RESULT_OK;
    m->dns_t0 = clock_mono_us();
    if (resolver_literal_address(s->host, &m->dnsfound[0][0]) == 0) {
        m->nfound[0] = 1;
        mf_dns_done(m);
        return;
    }
    if (is_localhost(s->host)) {
        (void)resolver_literal_address("::1", &m->dnsfound[1][0]);
        (void)resolver_literal_address("127.0.0.1", &m->dnsfound[0][0]);
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
        probe_mailflow_fail_close(m, RESULT_INTERNAL, "%s", err);
    }
}

static void on_conn(struct conn *c, enum conn_event ev, void *arg);

/* Opens a connection to the addresses just resolved. */
static void mf_connect(struct mailflow *m, enum mf_state st)
{
    struct probe *p = m->d.p;
    char err[MF_ERR_MAX];

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
        .deadline_us = m->waiting ? p->deadline_us : p->started_us + p->timeout_us,
        .line_max = MF_LINE_MAX + 2,
        .result = &p->result,
    };
    probe_mailflow_set_state(m, st);
    m->d.c = conn_create(&cp, on_conn, m, err, sizeof(err));
    if (m->d.c == NULL || conn_connect(m->d.c, err, sizeof(err)) < 0) {
        probe_mailflow_drop_conn(m);
        probe_mailflow_fail_close(m, RESULT_INTERNAL, "%s", err);
    }
}

/* ---- what is ours to delete -------------------------------------------- */

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

enum mf_verdict probe_mailflow_verdict(const struct mailflow *m, unsigned markers,
                                       const struct mailflow_marker *mk, bool valid)
{
    int64_t now_s = clock_wall_us() / 1000000;
    uint64_t timeout_s = m->d.p->timeout_us / 1000000;

    /* Another agent's, a forged or malformed one: never touched. */
    if (markers != 1 || !valid || strcmp(mk->agent, m->marker.agent) != 0)
        return MF_KEEP;
    if (strcmp(mk->nonce, m->marker.nonce) == 0)
        return MF_OURS;
    /* This agent's with another nonce: a leftover unless a probe here
     * waits for it, or it is younger than our timeout (a probe of the same
     * agent name in another process may still wait for it). */
    if (!nonce_awaited(m, mk->nonce) && mk->sent_s + (int64_t)timeout_s <= now_s)
        return MF_LEFTOVER;
    return MF_KEEP;
}

/* ---- the timer ------------------------------------------------------------ */

static void on_timer(uv_timer_t *t);

void probe_mailflow_begin_wait(struct mailflow *m)
{
    if (m->waiting)
        return;
    m->waiting = true;
    if (m->d.c != NULL)
        conn_set_deadline(m->d.c, m->d.p->deadline_us);
}

void probe_mailflow_arm(struct mailflow *m, uint64_t us)
{
    uint64_t now = clock_mono_us();
    if (now + us > m->wait_until_us)
        us = m->wait_until_us > now ? m->wait_until_us - now : 0;
    m->timer_armed = true;
    uv_update_time(m->d.p->loop);
    uv_timer_start(&m->timer, on_timer, (us + 999) / 1000, 0);
}

/* ---- the read side: connect ------------------------------------------------ */

void probe_mailflow_start_read(struct mailflow *m)
{
    probe_mailflow_drop_conn(m);
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
        mailflow_imap_poll(m);
        return;
    case MF_ST_IMAP_IDLING:
        mailflow_imap_idle_done(m);
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
    if (implicit) {
        probe_mailflow_tls_start(m, handshake);
        return;
    }
    probe_mailflow_set_state(m, greeting);
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
            probe_mailflow_set_state(m, MF_ST_SMTP_BANNER);
            dialog_phase_begin(d, RESULT_PHASE_GREETING);
            break;
        case MF_ST_SMTP_UPGRADING:
            if (mailflow_submit_upgraded(m) < 0)
                return;
            break;
        case MF_ST_IMAP_HANDSHAKE:
            probe_mailflow_set_state(m, MF_ST_IMAP_GREETING);
            dialog_phase_begin(d, RESULT_PHASE_GREETING);
            break;
        case MF_ST_IMAP_UPGRADING:
            if (mailflow_imap_upgraded(m) < 0)
                return;
            break;
        case MF_ST_POP_HANDSHAKE:
            probe_mailflow_set_state(m, MF_ST_POP_GREETING);
            dialog_phase_begin(d, RESULT_PHASE_GREETING);
            break;
        case MF_ST_POP_UPGRADING:
            if (mailflow_pop3_upgraded(m) < 0)
                return;
            break;
        default:
            abort();
        }
        conn_read_start(d->c);
        return;
    case CONN_EV_LINE:
        line = conn_line(d->c, &len);
        if (m->st >= MF_ST_SMTP_BANNER && m->st <= MF_ST_SMTP_QUIT)
            mailflow_submit_line(m, line, len);
        else if (m->st >= MF_ST_IMAP_GREETING && m->st <= MF_ST_IMAP_LOGOUT)
            mailflow_imap_line(m, line, len);
        else if (m->st >= MF_ST_POP_GREETING && m->st <= MF_ST_POP_QUIT)
            mailflow_pop3_line(m, line, len);
        return;
    case CONN_EV_EOF:
    case CONN_EV_LINE_TOO_LONG:
    case CONN_EV_TIMEOUT:
    case CONN_EV_FAILED:
        if (m->st == MF_ST_SMTP_QUIT) {
            probe_mailflow_start_read(m); /* the message is accepted; the goodbye is lost */
            return;
        }
        if (m->st == MF_ST_POP_QUIT && m->npop_del == 0) {
            mailflow_pop3_after_quit(m);
            return;
        }
        if (m->st == MF_ST_IMAP_LOGOUT || d->succeeded) {
            probe_mailflow_close(m);
            return;
        }
        if (ev == CONN_EV_LINE_TOO_LONG)
            probe_mailflow_fail(
                m, RESULT_PROTO_BAD_GREETING,
                "a line longer than %d bytes instead of %s (an endless SEARCH or FETCH "
                "response?)",
                MF_LINE_MAX, probe_mailflow_waiting_for(m));
        else if (ev == CONN_EV_EOF && m->imap.bye)
            probe_mailflow_fail(m, RESULT_PROTO_CLOSED,
                                "the server closed the connection while we waited for %s: %s",
                                probe_mailflow_waiting_for(m), m->imap.text);
        else
            dialog_conn_trouble(d, ev, probe_mailflow_waiting_for(m));
        probe_mailflow_close(m);
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
    char err[MF_ERR_MAX];
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
