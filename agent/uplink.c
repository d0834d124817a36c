/*
 * uplink — hello, batches, acks and pushes over a DEALER socket (uplink.h).
 */
#include "uplink.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "agentconf.h"
#include "clock.h"
#include "collink.h"
#include "linkstate.h"
#include "sdnotify.h"

#define UPLINK_TICK_MS 1000 /* safety re-check of ZMQ_EVENTS */

/* While the collector does not answer, the agent says why it thinks so
 * after these many seconds, then again after each next one; the last
 * repeats. Soon enough that a wrong key shows up while the operator is
 * still looking; rarely enough that an outage does not flood the log. */
static const unsigned trouble_warn_s[] = {10, 30, 60, 300};
#define TROUBLE_WARN_STEPS (sizeof(trouble_warn_s) / sizeof(trouble_warn_s[0]))

struct pending_row {
    uint8_t *data;
    size_t len;
};

/* A check-only hello to an earlier collector: does it answer again? */
struct failback_probe {
    struct collink *link;
    size_t idx;      /* into endpoints */
    bool hello_sent; /* with ZMQ_IMMEDIATE it goes once the handshake is done */
};

struct uplink {
    uv_loop_t *loop;
    struct log *log;
    struct spool *spool;
    char *name;
    char *site;
    char *config_version;
    void *ctx;
    struct collink *link; /* to endpoints[cur]; NULL when it could not open */
    unsigned serial;      /* of the next link (collink_params) */
    int links_closing;    /* closed links libuv has not let go of yet */
    bool destroying;      /* uplink_destroy: free once everything closed */
    uv_timer_t tick;
    uv_timer_t coalesce;
    int closing; /* timers still to close */
    struct netctx net;
    bool have_net;
    bool hello_due;
    bool hello_on_link; /* a hello went out since the last disconnect */
    uint64_t sent_seq;  /* highest seq sent in this connection */
    uint64_t acked_seq;
    uint64_t waiting_since_us; /* monotonic: unacked data since; 0 = none */
    /* The last resend went from resend_seq at resend_us (monotonic; 0 =
     * none since the last connection); resends counts those from the same
     * seq since resend_first_us. */
    uint64_t resend_seq;
    uint64_t resend_us;
    uint64_t resend_first_us;
    unsigned resends;
    uint64_t refused_at_us; /* the collector refused our key; 0 = not */
    char *endpoints[UPLINK_ENDPOINTS_MAX];
    size_t nendpoints;
    size_t cur;           /* the collector sent to: endpoints[cur] */
    const char *endpoint; /* endpoints[cur] */
    uint64_t failover_us;
    uint64_t failback_us;
    bool plaintext;
    struct transport_keys keys; /* for the links of later switches; wiped at the end */
    char *server_key;
    /* Switches since any collector last answered: after a whole round of
     * them, the trouble warnings (growing apart) speak for the outage and
     * the switches go to the debug log. */
    size_t silent_switches;
    uint64_t down_since_us;  /* monotonic: the link has no handshake since; 0 = up */
    uint64_t answer_due_us;  /* monotonic: sent something unanswered since; 0 = none */
    uint64_t next_probe_us;  /* monotonic: when to ask the earlier collectors again */
    uint64_t probe_since_us; /* monotonic: the probes in flight started; 0 = none */
    struct failback_probe probes[UPLINK_ENDPOINTS_MAX];
    size_t nprobes;
    uint64_t last_rx_us; /* monotonic; 0 = never */
    uint64_t last_tx_us;
    uint64_t last_hello_us;
    bool was_connected;
    uint64_t trouble_since_us; /* monotonic: no answer since; 0 = the link works */
    uint64_t next_warn_us;     /* monotonic: when to say why next */
    unsigned warn_step;        /* index into trouble_warn_s */
    struct linkstate linkst;   /* what the monitor saw since trouble began */
    uplink_config_cb on_config;
    uplink_run_now_cb on_run_now;
    void *arg;
};

static void process(struct uplink *u);

static int send_msg(struct uplink *u, struct wire_msg *m)
{
    uint8_t *buf;
    size_t len;
    m->agent = u->name;
    if (wire_msg_encode(m, &buf, &len) < 0) {
        log_error(u->log, "cannot encode a %s", wire_kind_name(m->kind));
        return -1;
    }
    int rc = u->link ? zmq_send(collink_socket(u->link), buf, len, ZMQ_DONTWAIT) : -1;
    free(buf);
    if (rc < 0)
        return -1; /* EAGAIN: not connected; the caller retries later */
    u->last_tx_us = clock_mono_us();
    /* Everything the agent sends is answered (hello and batch by an ack, a
     * heartbeat by an ack too): silence after a send is what failover
     * watches for. */
    if (u->answer_due_us == 0)
        u->answer_due_us = u->last_tx_us;
    return 0;
}

static void fill_stats(struct uplink *u, struct wire_spool_stats *w)
{
    struct spool_stats st;
    spool_get_stats(u->spool, &st);
    w->pending = st.pending;
    w->dropped = st.dropped;
    w->next_seq = st.next_seq;
}

static int send_hello(struct uplink *u)
{
    struct wire_msg m = {.kind = WIRE_HELLO};
    m.u.hello.name = u->name;
    m.u.hello.site = u->site;
    m.u.hello.version = VANTAGE_VERSION;
    m.u.hello.config_version = u->config_version;
    if (u->have_net && netctx_to_wire(&u->net, &m.u.hello.net) < 0)
        return -1;
    fill_stats(u, &m.u.hello.spool);
    int rc = send_msg(u, &m);
    netctx_wire_clear(&m.u.hello.net);
    if (rc == 0) {
        u->hello_due = false;
        u->hello_on_link = true;
        u->last_hello_us = clock_mono_us();
        log_debug(u->log, "hello sent");
    }
    return rc;
}

struct collect {
    struct pending_row rows[WIRE_BATCH_MAX];
    size_t n;
    uint64_t last_seq;
};

static int collect_row(uint64_t seq, const uint8_t *rec, size_t len, void *arg)
{
    struct collect *c = arg;
    c->rows[c->n].data = malloc(len ? len : 1);
    if (c->rows[c->n].data == NULL)
        return 1;
    memcpy(c->rows[c->n].data, rec, len);
    c->rows[c->n].len = len;
    c->n++;
    c->last_seq = seq;
    return 0;
}

/* Sends one batch if the window allows; returns 1 if one was sent. */
static int send_batch(struct uplink *u)
{
    if (u->sent_seq < u->acked_seq)
        u->sent_seq = u->acked_seq;
    if (u->sent_seq - u->acked_seq >= UPLINK_WINDOW)
        return 0;
    struct collect *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return 0;
    int sent = 0;
    if (spool_read(u->spool, u->sent_seq, WIRE_BATCH_MAX, WIRE_BATCH_BYTES, collect_row, c) > 0 &&
        c->n > 0) {
        const uint8_t *ptrs[WIRE_BATCH_MAX];
        size_t lens[WIRE_BATCH_MAX];
        for (size_t i = 0; i < c->n; i++) {
            ptrs[i] = c->rows[i].data;
            lens[i] = c->rows[i].len;
        }
        struct wire_msg m = {.kind = WIRE_BATCH};
        m.u.batch.results = ptrs;
        m.u.batch.lens = lens;
        m.u.batch.nresults = c->n;
        m.u.batch.site = u->site;
        m.u.batch.after_seq = u->sent_seq;
        fill_stats(u, &m.u.batch.spool);
        if (send_msg(u, &m) == 0) {
            log_debug(u->log, "sent %zu results up to seq %llu", c->n,
                      (unsigned long long)c->last_seq);
            u->sent_seq = c->last_seq;
            if (u->waiting_since_us == 0)
                u->waiting_since_us = clock_mono_us();
            sent = 1;
        }
    }
    for (size_t i = 0; i < c->n; i++)
        free(c->rows[i].data);
    free(c);
    return sent;
}

/* The link stopped working (or has not worked yet): watch what the
 * monitor sees, and say why after the first delay. */
static void begin_trouble(struct uplink *u, uint64_t now)
{
    if (u->trouble_since_us != 0)
        return;
    u->trouble_since_us = now;
    u->warn_step = 0;
    u->next_warn_us = now + trouble_warn_s[0] * 1000000ULL;
    linkstate_reset(&u->linkst);
}

static void end_trouble(struct uplink *u)
{
    if (u->trouble_since_us != 0 && u->warn_step > 0)
        log_info(u->log, "the collector at %s answers again after %llus", u->endpoint,
                 (unsigned long long)((clock_mono_us() - u->trouble_since_us) / 1000000));
    u->trouble_since_us = 0;
}

/* A collector that never answers is the first thing a new deployment
 * meets (wrong key, collector not started): say what the monitor saw and
 * what to check, with a growing interval. */
static void warn_trouble(struct uplink *u, uint64_t now)
{
    if (u->trouble_since_us == 0 || now < u->next_warn_us)
        return;
    char why[768];
    linkstate_explain(&u->linkst, u->endpoint, u->name, why, sizeof(why));
    if (u->warn_step + 1 < TROUBLE_WARN_STEPS)
        u->warn_step++;
    unsigned next = trouble_warn_s[u->warn_step];
    char which[64] = "the collector";
    if (u->nendpoints > 1)
        snprintf(which, sizeof(which), "any of the %zu collectors", u->nendpoints);
    log_warn(u->log,
             "no answer from %s for %llus: %s (results wait in the spool; "
             "'vantage-agent check-connection -c agent.conf' tests the link once; next warning "
             "in %us)",
             which, (unsigned long long)((now - u->trouble_since_us) / 1000000), why, next);
    u->next_warn_us = now + next * 1000000ULL;
}

/* Sends everything unacknowledged again, from the ack on. A collector
 * whose commits fail (a full disk) refuses every batch and asks for a
 * resend after each, and its acks stop: resending the window and logging
 * it each time flooded both logs and its failing store (finding 18 in
 * docs/reliability.md). So a resend from the seq the last one started at
 * waits for the ack timeout, the first of a run is logged at info and
 * the rest at debug, and only the first ack timeout says hello (the
 * collector may have restarted; one that answers does not need it). */
static void resend(struct uplink *u, bool ack_timeout)
{
    uint64_t now = clock_mono_us();
    bool again = u->resend_us != 0 && u->resend_seq == u->acked_seq;
    if (again && !ack_timeout && now - u->resend_us < UPLINK_ACK_TIMEOUT_MS * 1000ULL) {
        log_debug(u->log, "collector misses results after seq %llu; resent %llums ago",
                  (unsigned long long)u->acked_seq,
                  (unsigned long long)((now - u->resend_us) / 1000));
        return;
    }
    if (!again) {
        u->resends = 0;
        u->resend_first_us = now;
    }
    u->resends++;
    log_msg(u->log, again ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO,
            "%s results after seq %llu; resending", ack_timeout ? "no ack for" : "collector misses",
            (unsigned long long)u->acked_seq);
    if (ack_timeout && !again)
        u->hello_due = true;
    u->sent_seq = u->acked_seq;
    u->resend_seq = u->acked_seq;
    u->resend_us = now;
}

static void handle(struct uplink *u, const uint8_t *buf, size_t len)
{
    char err[256];
    struct wire_msg *m = wire_msg_decode(buf, len, err, sizeof(err));
    if (m == NULL) {
        log_warn(u->log, "dropped a message from the collector: %s", err);
        return;
    }
    u->last_rx_us = clock_mono_us();
    u->answer_due_us = 0;
    u->silent_switches = 0;
    if (!u->was_connected) {
        u->was_connected = true;
        log_info(u->log, "collector %s answered", u->endpoint);
    }
    end_trouble(u);
    switch (m->kind) {
    case WIRE_ACK:
        /* The ack of a hello names this agent as the collector knows it. */
        if (m->u.ack.name != NULL && strcmp(m->u.ack.name, u->name) != 0)
            log_warn(u->log,
                     "the collector knows this agent as '%s' (the name its authorized_keys "
                     "gives this agent's key), not '%s' (name = in agent.conf): results are "
                     "stored as '%s'; make the two names the same",
                     m->u.ack.name, u->name, m->u.ack.name);
        if (m->u.ack.seq > u->acked_seq) {
            if (spool_ack(u->spool, m->u.ack.seq) < 0)
                log_error(u->log, "cannot drop acknowledged results from the spool");
            u->acked_seq = m->u.ack.seq;
            u->waiting_since_us = u->sent_seq > u->acked_seq ? clock_mono_us() : 0;
            if (u->resends > 1)
                log_info(u->log,
                         "the collector acknowledges results again (up to seq %llu), after %u "
                         "resends over %llus",
                         (unsigned long long)u->acked_seq, u->resends,
                         (unsigned long long)((clock_mono_us() - u->resend_first_us) / 1000000));
            u->resends = 0;
        }
        if (m->u.ack.gap && u->sent_seq > u->acked_seq)
            resend(u, false);
        break;
    case WIRE_CONFIG:
        log_info(u->log, "received %zu targets (version %s)", m->u.config.ntargets,
                 m->u.config.version ? m->u.config.version : "?");
        if (u->on_config != NULL)
            u->on_config(&m->u.config, u->arg);
        break;
    case WIRE_RUN_NOW:
        if (u->on_run_now != NULL)
            u->on_run_now(m->u.run_now.target, m->u.run_now.request_id, u->arg);
        break;
    case WIRE_HEARTBEAT:
        break;
    default:
        log_warn(u->log, "unexpected %s from the collector", wire_kind_name(m->kind));
        break;
    }
    wire_msg_free(&m);
}

/* Receives and sends until the socket has nothing more for us. */
static void process(struct uplink *u)
{
    if (u->link == NULL)
        return;
    void *sock = collink_socket(u->link);
    for (int rounds = 0; rounds < 10000; rounds++) {
        int events = 0;
        size_t elen = sizeof(events);
        if (zmq_getsockopt(sock, ZMQ_EVENTS, &events, &elen) != 0)
            return;
        bool progress = false;
        if (events & ZMQ_POLLIN) {
            zmq_msg_t msg;
            zmq_msg_init(&msg);
            if (zmq_msg_recv(&msg, sock, ZMQ_DONTWAIT) >= 0) {
                handle(u, zmq_msg_data(&msg), zmq_msg_size(&msg));
                progress = true;
            }
            zmq_msg_close(&msg);
        }
        if (events & ZMQ_POLLOUT) {
            if (u->hello_due)
                progress |= send_hello(u) == 0;
            else
                progress |= send_batch(u) == 1;
        }
        if (!progress)
            return;
    }
}

/* A new connection (after a collector restart or a network change) may
 * reach a collector that knows nothing of this agent: say hello again.
 * Batches lost with the old connection are not resent from here: the
 * next batch tells the collector it missed them (it refuses it and asks
 * for a resend from its ack), and without a next batch the ack timeout
 * resends them. */
static void drain_monitor(struct uplink *u)
{
    uint16_t event;
    uint32_t value;
    if (u->link == NULL)
        return;
    while (linkstate_read(collink_monitor(u->link), &event, &value) == 1) {
        linkstate_note(&u->linkst, event, value);
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
            /* libzmq does not retry after a refusal; we do, slowly, so that
             * adding the key on the collector is all an operator does. */
            if (u->refused_at_us == 0)
                log_error(u->log,
                          "the collector refused this agent's key: add the line of agent.pub "
                          "and the name '%s' to its authorized_keys and send it SIGHUP; "
                          "retrying every %ds",
                          u->name, UPLINK_REFUSED_RETRY_MS / 1000);
            u->refused_at_us = clock_mono_us();
        } else if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            u->refused_at_us = 0;
            u->down_since_us = 0;
            log_debug(u->log, "connected to the collector");
            /* The pipe may have let a hello through before this event was
             * read: a second one would make the collector log the connect
             * and push the targets twice. So may batches have gone: sending
             * everything unacknowledged again here made the collector
             * receive the whole spool twice after every outage (finding 14
             * in docs/reliability.md). */
            if (!u->hello_on_link)
                u->hello_due = true;
            /* A resend in flight may have died with the old connection:
             * the next gap ack must not wait for the ack timeout. */
            u->resend_us = 0;
        } else if (event == ZMQ_EVENT_DISCONNECTED) {
            log_debug(u->log, "disconnected from the collector");
            u->hello_on_link = false;
            if (u->down_since_us == 0)
                u->down_since_us = clock_mono_us();
            begin_trouble(u, clock_mono_us());
        }
    }
}

static void probe_event(struct uplink *u, struct failback_probe *p);

static void on_link_event(struct collink *l, bool monitor, void *arg)
{
    struct uplink *u = arg;
    if (l == u->link) {
        if (monitor)
            drain_monitor(u);
        process(u);
        return;
    }
    for (size_t i = 0; i < u->nprobes; i++)
        if (u->probes[i].link == l) {
            probe_event(u, &u->probes[i]);
            return;
        }
}

static void on_link_closed(void *arg)
{
    struct uplink *u = arg;
    u->links_closing--;
    if (u->destroying && u->links_closing == 0 && u->closing == 0) {
        /* Every socket is closed now: the context can go. */
        zmq_ctx_term(u->ctx);
        free(u);
    }
}

static void close_link(struct uplink *u, struct collink **lp)
{
    if (*lp == NULL)
        return;
    u->links_closing++;
    collink_close(lp, on_link_closed, u);
}

static struct collink *open_link(struct uplink *u, size_t idx, char *err, size_t errlen)
{
    struct collink_params p = {.loop = u->loop,
                               .ctx = u->ctx,
                               .endpoint = u->endpoints[idx],
                               .plaintext = u->plaintext,
                               .keys = u->plaintext ? NULL : &u->keys,
                               .server_key = u->server_key,
                               .serial = u->serial++,
                               .on_event = on_link_event,
                               .arg = u};
    return collink_open(&p, err, errlen);
}

static void close_probes(struct uplink *u)
{
    for (size_t i = 0; i < u->nprobes; i++)
        close_link(u, &u->probes[i].link);
    u->nprobes = 0;
    u->probe_since_us = 0;
}

/* Tells systemd (systemctl status) which collector the agent sends to. */
static void note_status(struct uplink *u, const char *why)
{
    char st[512];
    snprintf(st, sizeof(st), "STATUS=sending to %s (collector %zu of %zu)%s%s", u->endpoint,
             u->cur + 1, u->nendpoints, why ? ": " : "", why ? why : "");
    (void)sdnotify_send(st);
}

/* Sends to endpoints[idx] from now on: the old link is closed (nothing it
 * still holds is read, so no late ack of the old collector counts), and
 * the new one starts like a first connection: hello, then everything
 * unacknowledged from the spool. */
static void switch_to(struct uplink *u, size_t idx, const char *why)
{
    uint64_t now = clock_mono_us();
    close_link(u, &u->link);
    u->cur = idx;
    u->endpoint = u->endpoints[idx];
    char err[512];
    u->link = open_link(u, idx, err, sizeof(err));
    if (u->link == NULL)
        log_error(u->log, "cannot open the link to %s: %s", u->endpoint, err);
    u->sent_seq = u->acked_seq;
    u->waiting_since_us = 0;
    u->resend_us = 0;
    u->resends = 0;
    u->hello_due = true;
    u->hello_on_link = false;
    u->refused_at_us = 0;
    u->last_rx_us = 0;
    u->last_hello_us = now;
    u->answer_due_us = 0;
    u->down_since_us = now;
    u->was_connected = false;
    linkstate_reset(&u->linkst);
    close_probes(u);
    u->next_probe_us = now + u->failback_us;
    note_status(u, why);
}

/* The collector sent to has had no connection, or left what was sent
 * unanswered, for failover_us: the next one takes over. Logged once per
 * switch, with what the monitor saw. */
static void check_failover(struct uplink *u, uint64_t now)
{
    if (u->nendpoints < 2)
        return;
    bool down = u->down_since_us != 0 && now - u->down_since_us >= u->failover_us;
    bool silent = u->answer_due_us != 0 && now - u->answer_due_us >= u->failover_us;
    if (!down && !silent && u->link != NULL)
        return;
    char why[768], reason[1024];
    if (silent && !down)
        snprintf(why, sizeof(why), "it left what was sent to it unanswered for %llus",
                 (unsigned long long)((now - u->answer_due_us) / 1000000));
    else
        linkstate_explain(&u->linkst, u->endpoint, u->name, why, sizeof(why));
    size_t next = (u->cur + 1) % u->nendpoints;
    bool round_done = ++u->silent_switches > u->nendpoints;
    log_msg(u->log, round_done ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN,
            "collector %s (%zu of %zu) does not answer: %s; switching to %s (%zu of %zu); "
            "unacknowledged results are sent again from the spool",
            u->endpoint, u->cur + 1, u->nendpoints, why, u->endpoints[next], next + 1,
            u->nendpoints);
    snprintf(reason, sizeof(reason), "%s (%zu of %zu) did not answer", u->endpoint, u->cur + 1,
             u->nendpoints);
    switch_to(u, next, reason);
}

/* Reads what a failback probe's socket has: an ack of its hello means that
 * collector answers again, and the agent goes back to it. */
static void probe_event(struct uplink *u, struct failback_probe *p)
{
    void *sock = collink_socket(p->link);
    uint16_t event;
    uint32_t value;
    while (linkstate_read(collink_monitor(p->link), &event, &value) == 1)
        ; /* only the answer counts */
    for (int rounds = 0; rounds < 100; rounds++) {
        int events = 0;
        size_t elen = sizeof(events);
        if (zmq_getsockopt(sock, ZMQ_EVENTS, &events, &elen) != 0)
            return;
        if ((events & ZMQ_POLLOUT) && !p->hello_sent) {
            struct wire_msg m = {.kind = WIRE_HELLO, .agent = u->name};
            m.u.hello.name = u->name;
            m.u.hello.site = u->site;
            m.u.hello.version = VANTAGE_VERSION;
            m.u.hello.check_only = true;
            uint8_t *buf;
            size_t len;
            if (wire_msg_encode(&m, &buf, &len) == 0) {
                p->hello_sent = zmq_send(sock, buf, len, ZMQ_DONTWAIT) >= 0;
                free(buf);
            }
            continue;
        }
        if (!(events & ZMQ_POLLIN))
            return;
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        bool answered = false;
        if (zmq_msg_recv(&msg, sock, ZMQ_DONTWAIT) >= 0) {
            char err[256];
            struct wire_msg *m =
                wire_msg_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), err, sizeof(err));
            answered = m != NULL && m->kind == WIRE_ACK;
            wire_msg_free(&m);
        }
        zmq_msg_close(&msg);
        if (answered && p->idx < u->cur) {
            size_t idx = p->idx;
            log_info(u->log,
                     "collector %s (%zu of %zu) answers again: sending to it instead of %s "
                     "(%zu of %zu)",
                     u->endpoints[idx], idx + 1, u->nendpoints, u->endpoint, u->cur + 1,
                     u->nendpoints);
            switch_to(u, idx, NULL); /* closes the probes, p among them */
            process(u);
            return;
        }
    }
}

/* While not on the first collector: every failback_us, ask each earlier
 * one for failover_us whether it answers (one connection each, closed
 * after: an earlier collector that stays down costs a connection attempt
 * per interval, not a retry loop). */
static void check_failback(struct uplink *u, uint64_t now)
{
    if (u->cur == 0)
        return;
    if (u->probe_since_us != 0) {
        for (size_t i = 0; i < u->nprobes; i++)
            if (u->probes[i].link != NULL)
                probe_event(u, &u->probes[i]);
        if (u->probe_since_us != 0 && now - u->probe_since_us >= u->failover_us) {
            close_probes(u);
            u->next_probe_us = now + u->failback_us;
        }
        return;
    }
    if (now < u->next_probe_us)
        return;
    char err[512];
    u->probe_since_us = now;
    for (size_t i = 0; i < u->cur; i++) {
        struct failback_probe *p = &u->probes[u->nprobes];
        *p = (struct failback_probe){.idx = i};
        p->link = open_link(u, i, err, sizeof(err));
        if (p->link == NULL)
            log_warn(u->log, "cannot ask %s whether it answers: %s", u->endpoints[i], err);
        else
            u->nprobes++;
    }
}

static void on_tick(uv_timer_t *t)
{
    struct uplink *u = t->data;
    /* ZMQ_FD is edge-triggered: an event that arrived before the poll
     * started would otherwise wait for the next one. */
    drain_monitor(u);
    uint64_t now = clock_mono_us();
    if (u->link != NULL && u->refused_at_us != 0 &&
        now - u->refused_at_us > UPLINK_REFUSED_RETRY_MS * 1000ULL) {
        /* A new connection means a new handshake with the collector. */
        void *sock = collink_socket(u->link);
        u->refused_at_us = now;
        zmq_disconnect(sock, u->endpoint);
        if (zmq_connect(sock, u->endpoint) != 0)
            log_error(u->log, "cannot reconnect to %s: %s", u->endpoint, zmq_strerror(errno));
    }
    uint64_t silent = u->last_rx_us ? now - u->last_rx_us : now - u->last_hello_us;
    if (silent > UPLINK_SILENCE_MS * 1000ULL) {
        if (u->was_connected) {
            log_warn(u->log, "collector silent for %llus; will resend unacknowledged results",
                     (unsigned long long)(silent / 1000000));
            u->was_connected = false;
            begin_trouble(u, now);
        }
        /* Whatever is unacknowledged may have been lost with a restart. */
        u->sent_seq = u->acked_seq;
        if (now - u->last_hello_us > UPLINK_SILENCE_MS * 1000ULL)
            u->hello_due = true;
        u->last_rx_us = 0;
        u->last_hello_us = u->last_hello_us ? u->last_hello_us : now;
    }
    /* An ack normally follows a batch within milliseconds; without one the
     * batch or its ack was lost on a broken connection. */
    if (u->waiting_since_us != 0 && now - u->waiting_since_us > UPLINK_ACK_TIMEOUT_MS * 1000ULL &&
        u->sent_seq > u->acked_seq) {
        resend(u, true);
        u->waiting_since_us = 0;
    }
    warn_trouble(u, now);
    check_failover(u, now);
    check_failback(u, now);
    /* With another collector to go to, a heartbeat at least every
     * failover_us keeps a silent collector from going unnoticed longer. */
    uint64_t heartbeat_us = UPLINK_HEARTBEAT_MS * 1000ULL;
    if (u->nendpoints > 1 && u->failover_us < heartbeat_us)
        heartbeat_us = u->failover_us;
    /* Not before the hello: a heartbeat first would reach a collector that
     * has no session for us yet, which pushes the targets, and then again
     * for the hello that follows. */
    if (!u->hello_due && now - u->last_tx_us > heartbeat_us) {
        struct wire_msg m = {.kind = WIRE_HEARTBEAT, .u.heartbeat_us = clock_wall_us()};
        (void)send_msg(u, &m);
    }
    process(u);
}

static void on_coalesce(uv_timer_t *t)
{
    process(t->data);
}

static void free_fields(struct uplink *u)
{
    for (size_t i = 0; i < u->nendpoints; i++)
        free(u->endpoints[i]);
    free(u->name);
    free(u->site);
    free(u->server_key);
    free(u->config_version);
    explicit_bzero(&u->keys, sizeof(u->keys));
}

struct uplink *uplink_create(const struct uplink_params *p, char *err, size_t errlen)
{
    struct uplink *u = calloc(1, sizeof(*u));
    if (u == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (p->nendpoints < 1 || p->nendpoints > UPLINK_ENDPOINTS_MAX) {
        snprintf(err, errlen, "1 to %d collectors, not %zu", UPLINK_ENDPOINTS_MAX, p->nendpoints);
        free(u);
        return NULL;
    }
    u->loop = p->loop;
    u->log = p->log;
    u->spool = p->spool;
    u->on_config = p->on_config;
    u->on_run_now = p->on_run_now;
    u->arg = p->arg;
    u->hello_due = true;
    u->plaintext = p->plaintext;
    u->failover_us =
        (uint64_t)(p->failover_us > 0 ? p->failover_us : AGENTCONF_FAILOVER_DEFAULT_US);
    u->failback_us =
        (uint64_t)(p->failback_us > 0 ? p->failback_us : AGENTCONF_FAILBACK_DEFAULT_US);
    if (!p->plaintext && p->keys != NULL)
        u->keys = *p->keys;
    bool oom = false;
    for (size_t i = 0; i < p->nendpoints; i++) {
        u->endpoints[i] = strdup(p->endpoints[i]);
        oom |= u->endpoints[i] == NULL;
        u->nendpoints++;
    }
    u->endpoint = u->endpoints[0];
    u->name = strdup(p->name);
    u->site = p->site ? strdup(p->site) : NULL;
    u->server_key = p->server_key ? strdup(p->server_key) : NULL;
    u->ctx = zmq_ctx_new();
    if (oom || u->name == NULL || (p->site && u->site == NULL) ||
        (p->server_key && u->server_key == NULL) || u->ctx == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    u->link = open_link(u, 0, err, errlen);
    if (u->link == NULL)
        goto fail;
    struct spool_stats st;
    spool_get_stats(u->spool, &st);
    u->acked_seq = u->sent_seq = st.acked_seq;
    uv_timer_init(p->loop, &u->tick);
    u->tick.data = u;
    uv_timer_start(&u->tick, on_tick, UPLINK_TICK_MS, UPLINK_TICK_MS);
    uv_timer_init(p->loop, &u->coalesce);
    u->coalesce.data = u;
    u->last_hello_us = clock_mono_us();
    u->down_since_us = u->last_hello_us;
    begin_trouble(u, u->last_hello_us);
    if (u->nendpoints > 1)
        note_status(u, NULL);
    /* The first round runs from the loop, not from here: a round that
     * reads the collector's answer calls on_config, and the caller has
     * no handle yet to apply it with (a loaded CI machine stalled between
     * the hello and the next read long enough for the answer to arrive:
     * the agent crashed on a NULL uplink). */
    uv_timer_start(&u->coalesce, on_coalesce, 0, 0);
    return u;
fail:
    if (u->ctx != NULL)
        zmq_ctx_term(u->ctx);
    free_fields(u);
    free(u);
    return NULL;
}

static void on_closed(uv_handle_t *h)
{
    struct uplink *u = h->data;
    if (--u->closing > 0)
        return;
    free_fields(u);
    if (u->links_closing == 0) {
        zmq_ctx_term(u->ctx);
        free(u);
    } /* else the last link's close frees it (on_link_closed) */
}

void uplink_destroy(struct uplink **up)
{
    if (up == NULL || *up == NULL)
        return;
    struct uplink *u = *up;
    *up = NULL;
    u->destroying = true;
    close_link(u, &u->link);
    close_probes(u);
    u->closing = 2;
    uv_close((uv_handle_t *)&u->tick, on_closed);
    uv_close((uv_handle_t *)&u->coalesce, on_closed);
}

void uplink_kick(struct uplink *u)
{
    if (!uv_is_active((uv_handle_t *)&u->coalesce))
        uv_timer_start(&u->coalesce, on_coalesce, UPLINK_COALESCE_MS, 0);
}

void uplink_set_netctx(struct uplink *u, const struct netctx *ctx)
{
    u->net = *ctx;
    u->have_net = true;
    u->hello_due = true;
    process(u);
}

void uplink_set_config_version(struct uplink *u, const char *version)
{
    free(u->config_version);
    u->config_version = version ? strdup(version) : NULL;
}

bool uplink_connected(const struct uplink *u)
{
    return u->last_rx_us != 0 && clock_mono_us() - u->last_rx_us < UPLINK_SILENCE_MS * 1000ULL;
}

const char *uplink_endpoint(const struct uplink *u)
{
    return u->endpoint;
}
