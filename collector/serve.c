/*
 * serve — the collector daemon (serve.h): its loop, the agents' sessions
 * and ingest; probe-now and the cluster's heartbeat are serve_control.c.
 */
#include "serve.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <jansson.h>
#include <unistd.h>
#include <zmq.h>

#include "assign.h"
#include "auth.h"
#include "changes.h"
#include "clock.h"
#include "cluster.h"
#include "enroll.h"
#include "enroll_line.h"
#include "ingest.h"
#include "sdnotify.h"
#include "sessmap.h"
#include "monitor.h"
#include "retention.h"
#include "store.h"
#include "transport.h"
#include "web/web.h"

#include "serve_internal.h"

#define SESSIONS_MAX 100000 /* agents connected at once */
/* One transaction takes up to this many results: large enough to amortise
 * the commit, and well below an agent's window of unacknowledged results
 * (4 batches of 1000), so that acks return while agents still have
 * batches in flight. At 20000 the collector swallowed every agent's whole
 * window in one transaction and then sat idle while they refilled it:
 * 0.56 of the sqlite ceiling instead of 1.0 (bench/RESULTS.md). */
#define SERVE_TXN_RESULTS_MAX 2000
#define SERVE_POLL_MS         1000    /* wake-up for housekeeping */
#define SERVE_FLUSH_US        1000000 /* write last_seen at most once a second */
/* Descriptors for a fleet of 10,000 agents (one each) with room. */
#define SERVE_NOFILE_WANTED 16384
/* ZeroMQ I/O threads (see serve_io_threads): at least this many even on
 * a small machine, since the walks shrink with their number, at most
 * this many since each costs a thread. */
#define SERVE_IO_THREADS_MIN 4
#define SERVE_IO_THREADS_MAX 8

static size_t key_of_id(size_t i, const void **key, void *arg)
{
    const struct serve *s = arg;
    *key = s->sessions[i].id;
    return s->sessions[i].idlen;
}

static size_t key_of_name(size_t i, const void **key, void *arg)
{
    const struct serve *s = arg;
    *key = s->sessions[i].name;
    return strlen(s->sessions[i].name);
}

static struct session *session_find(struct serve *s, const uint8_t *id, size_t idlen)
{
    size_t i = sessmap_get(s->by_id, id, idlen);
    return i == SESSMAP_NONE ? NULL : &s->sessions[i];
}

/* A reconnecting agent gets a new routing id; its old session is dropped
 * so that pushes go to the live connection only. */
static struct session *session_get(struct serve *s, const uint8_t *id, size_t idlen,
                                   const char *name)
{
    struct session *se = session_find(s, id, idlen);
    if (se != NULL && strcmp(se->name, name) == 0)
        return se;
    size_t i = sessmap_get(s->by_name, name, strlen(name));
    if (i != SESSMAP_NONE) {
        se = &s->sessions[i];
        sessmap_del(s->by_id, se->id, se->idlen);
        memcpy(se->id, id, idlen);
        se->idlen = idlen;
        if (sessmap_put(s->by_id, se->id, se->idlen, i) < 0)
            return NULL;
        se->config_version[0] = '\0';
        se->fresh = true;
        se->revoked = !auth_knows(s->auth, name);
        return se;
    }
    if (s->nsessions == SESSIONS_MAX)
        return NULL;
    if (s->nsessions == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct session *grown = realloc(s->sessions, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        s->sessions = grown;
        s->cap = cap;
    }
    se = &s->sessions[s->nsessions];
    memset(se, 0, sizeof(*se));
    if (store_agent_id(s->store, name, &se->agent_id) < 0) {
        char what[RESULT_NAME_MAX + 64];
        snprintf(what, sizeof(what), "registering agent %s", name);
        writefail_failed(ingest_writefail(s->ingest), what, store_error(s->store));
        return NULL;
    }
    /* Batches are stored only in order (see WIRE_BATCH below), so the
     * highest stored seq is also the highest contiguous one. */
    if (store_agent_committed_seq(s->store, se->agent_id, &se->ack_seq) < 0) {
        log_error(s->log, "cannot read agent %s: %s", name, store_error(s->store));
        return NULL;
    }
    se->txn_seq = se->ack_seq;
    se->fresh = true;
    memcpy(se->id, id, idlen);
    se->idlen = idlen;
    snprintf(se->name, sizeof(se->name), "%s", name);
    se->revoked = !auth_knows(s->auth, name);
    /* sessmap_put moves a key that another session held to this one. */
    if (sessmap_put(s->by_id, se->id, se->idlen, s->nsessions) < 0 ||
        sessmap_put(s->by_name, se->name, strlen(se->name), s->nsessions) < 0) {
        sessmap_del(s->by_id, se->id, se->idlen);
        log_error(s->log, "out of memory registering agent %s", name);
        return NULL;
    }
    s->nsessions++;
    return se;
}

/* Re-reads authorized_keys; sessions of agents no longer listed are
 * refused from now on (revoke), re-listed ones admitted again. */
void serve_reload_keys(struct serve *s)
{
    char err[512];
    if (auth_reload(s->auth, err, sizeof(err)) < 0) {
        log_error(s->log, "authorized_keys reload failed, keeping the old list: %s", err);
        return;
    }
    log_info(s->log, "authorized_keys: %zu agents", auth_count(s->auth));
    for (size_t i = 0; i < s->nsessions; i++) {
        struct session *se = &s->sessions[i];
        bool revoked = !auth_knows(s->auth, se->name);
        if (revoked && !se->revoked)
            log_info(s->log, "agent %s is no longer authorized: refusing it", se->name);
        se->revoked = revoked;
    }
}

/* Sends m to the connection with routing id id; name is for the log. */
static int send_to(struct serve *s, const uint8_t *id, size_t idlen, const char *name,
                   const struct wire_msg *m)
{
    uint8_t *buf;
    size_t len;
    if (wire_msg_encode(m, &buf, &len) < 0) {
        log_error(s->log, "cannot encode a %s for %s", wire_kind_name(m->kind), name);
        return -1;
    }
    int rc = 0;
    /* DONTWAIT: a slow or vanished agent must never stall ingest; it will
     * ask again (hello, resend) and get its answer then. */
    if (zmq_send(s->router, id, idlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(s->router, buf, len, ZMQ_DONTWAIT) < 0) {
        log_debug(s->log, "cannot send %s to %s: %s", wire_kind_name(m->kind), name,
                  zmq_strerror(errno));
        rc = -1;
    }
    free(buf);
    return rc;
}

int serve_send_msg(struct serve *s, const struct session *se, const struct wire_msg *m)
{
    return send_to(s, se->id, se->idlen, se->name, m);
}

/* hello: this ack answers a hello, so it tells the agent its name here. */
static void send_ack(struct serve *s, struct session *se, bool hello)
{
    struct wire_msg m = {.kind = WIRE_ACK, .u.ack = {.seq = se->ack_seq, .gap = se->gap}};
    if (hello)
        m.u.ack.name = se->name;
    serve_send_msg(s, se, &m);
    se->gap = false;
}

/* With CURVE an agent's results go under the name authorized_keys binds to
 * its key; a different name = in its agent.conf is a mistake that would
 * otherwise go unnoticed (the agent logs its side from the hello's ack). */
static void warn_name_mismatch(struct serve *s, const char *user, const struct wire_msg *m,
                               const char *peer)
{
    const char *claimed = m->u.hello.name && m->u.hello.name[0] ? m->u.hello.name : m->agent;
    if (user == NULL || user[0] == '\0' || claimed == NULL || strcmp(claimed, user) == 0)
        return;
    log_warn(s->log,
             "agent at %s calls itself '%s' (name = in its agent.conf), but authorized_keys "
             "binds its key to '%s': '%s' is the name used for its results; make the two names "
             "the same",
             peer ? peer : "?", claimed, user, user);
}

/* `vantage-agent check-connection`: an ack that names the agent, and
 * nothing recorded, so that the agent's own session is left alone. */
static void answer_check(struct serve *s, const zmq_msg_t *idm, const char *name, const char *peer)
{
    log_info(s->log, "agent %s (%s) checked its connection", name, peer ? peer : "?");
    struct wire_msg m = {.kind = WIRE_ACK, .u.ack = {.name = (char *)name}};
    send_to(s, zmq_msg_data((zmq_msg_t *)idm), zmq_msg_size((zmq_msg_t *)idm), name, &m);
}

/* Sends se its view of the targets (assign.h) when it does not run that
 * version yet, or always with force. */
static void send_config_if(struct serve *s, struct session *se, bool force)
{
    struct wire_config view;
    char version[ASSIGN_VERSION_MAX];
    if (s->assign == NULL)
        return; /* out of memory ranking: update_assignment said so */
    if (assign_view(s->assign, se->name, &view, version) < 0) {
        log_error(s->log, "out of memory making the targets of %s", se->name);
        return;
    }
    view.version = version;
    if (force || strcmp(se->config_version, version) != 0) {
        struct wire_msg m = {.kind = WIRE_CONFIG, .u.config = view};
        if (serve_send_msg(s, se, &m) == 0) {
            snprintf(se->config_version, sizeof(se->config_version), "%s", version);
            log_info(s->log, "sent %zu targets (version %s) to %s", view.ntargets, version,
                     se->name);
        }
    }
    assign_view_clear(&view);
}

static void send_config(struct serve *s, struct session *se)
{
    send_config_if(s, se, true);
}

bool serve_session_connected(const struct session *se, int64_t now)
{
    return se->network[0] != '\0' && now - se->last_seen_us < SERVE_CONNECTED_WINDOW_US;
}

/* Re-ranks the rdap:// checks when the connected agents changed (or
 * force: the targets did) and pushes to every connected agent whose set
 * of checks moved. At most once a second unless forced: a fleet
 * connecting after a restart must not re-rank on every hello. */
static void update_assignment(struct serve *s, bool force)
{
    int64_t now = clock_wall_us();
    if (!force && s->assign != NULL && now - s->last_assign_us < SERVE_FLUSH_US)
        return;
    uint64_t sig = 0;
    size_t n = 0;
    for (size_t i = 0; i < s->nsessions; i++) {
        const struct session *se = &s->sessions[i];
        if (!serve_session_connected(se, now))
            continue;
        /* Order-free: a sum of per-agent hashes. */
        uint64_t h = 14695981039346656037ull;
        for (const char *p = se->name; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull;
        for (const char *p = se->network; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        sig += h;
        n++;
    }
    s->last_assign_us = now;
    if (!force && s->assign != NULL && sig == s->connected_sig)
        return;
    struct assign_agent *agents = calloc(n ? n : 1, sizeof(*agents));
    if (agents == NULL)
        return;
    size_t k = 0;
    for (size_t i = 0; i < s->nsessions; i++)
        if (serve_session_connected(&s->sessions[i], now))
            agents[k++] = (struct assign_agent){s->sessions[i].name, s->sessions[i].network};
    struct assign *fresh = assign_create(&(*s->conf)->targets, agents, k);
    free(agents);
    if (fresh == NULL) {
        log_error(s->log, "out of memory assigning the rdap checks");
        return;
    }
    assign_destroy(&s->assign);
    s->assign = fresh;
    s->connected_sig = sig;
    for (size_t i = 0; i < s->nsessions; i++)
        if (serve_session_connected(&s->sessions[i], now))
            send_config_if(s, &s->sessions[i], false);
}

/* Writes the facts of a hello: site, network, version, netctx, spool. */
static void on_hello(struct serve *s, struct session *se, const struct wire_hello *h)
{
    char netctx[2048];
    size_t used = 0;
    used += (size_t)snprintf(netctx + used, sizeof(netctx) - used, "{\"addresses\":[");
    for (size_t i = 0; i < h->net.naddresses && used < sizeof(netctx); i++)
        used += (size_t)snprintf(netctx + used, sizeof(netctx) - used, "%s\"%s\"", i ? "," : "",
                                 h->net.addresses[i]);
    if (used < sizeof(netctx))
        used += (size_t)snprintf(netctx + used, sizeof(netctx) - used,
                                 "],\"gateway\":\"%s\",\"resolvers\":[",
                                 h->net.gateway ? h->net.gateway : "");
    for (size_t i = 0; i < h->net.nresolvers && used < sizeof(netctx); i++)
        used += (size_t)snprintf(netctx + used, sizeof(netctx) - used, "%s\"%s\"", i ? "," : "",
                                 h->net.resolvers[i]);
    if (used < sizeof(netctx))
        snprintf(netctx + used, sizeof(netctx) - used, "]}");
    else
        snprintf(netctx, sizeof(netctx), "{}");

    const char *network = h->site && h->site[0] ? h->site : se->address;
    snprintf(se->network, sizeof(se->network), "%s", network[0] ? network : "unknown");
    struct store_agent a = {
        .name = se->name,
        .site = h->site && h->site[0] ? h->site : NULL,
        .network = se->network,
        .version = h->version,
        .address = se->address[0] ? se->address : NULL,
        .netctx = netctx,
        .last_seen_us = se->last_seen_us,
        .spool_dropped = h->spool.dropped,
        .spool_pending = h->spool.pending,
        .has_spool = true,
    };
    if (changes_agent_hello(s->store, se->agent_id, &a, se->last_seen_us) < 0)
        log_warn(s->log, "cannot record a network change of %s: %s", se->name,
                 store_error(s->store));
    if (store_agent_update(s->store, se->agent_id, &a) < 0) {
        char what[RESULT_NAME_MAX + 64];
        snprintf(what, sizeof(what), "recording the hello of agent %s", se->name);
        writefail_failed(ingest_writefail(s->ingest), what, store_error(s->store));
    }
    se->dirty = false;
    se->spool = h->spool;
    se->have_spool = true;
    log_info(s->log, "agent %s (network %s, version %s) says hello: %llu spooled, %llu dropped",
             se->name, se->network, h->version ? h->version : "?",
             (unsigned long long)h->spool.pending, (unsigned long long)h->spool.dropped);
    send_ack(s, se, true);
    /* What the agent runs; a new agent may take over rdap checks, which
     * re-ranks (and pushes to those that lose them). */
    snprintf(se->config_version, sizeof(se->config_version), "%s",
             h->config_version ? h->config_version : "");
    update_assignment(s, false);
    send_config_if(s, se, false);
}

/* Ends the open transaction: on success the sessions' acks advance to
 * what it stored; on failure nothing it held is acknowledged. */
static int commit(struct serve *s, bool *in_txn)
{
    *in_txn = false;
    int rc = ingest_commit(s->ingest);
    if (rc < 0)
        ingest_rollback(s->ingest);
    /* Counted when they are really stored: a failing disk would
     * otherwise count every resend of the same rows again. */
    if (rc == 0 && s->txn_stats.stored > 0)
        writefail_ok(ingest_writefail(s->ingest)); /* an empty commit proves nothing */
    if (rc == 0) {
        s->totals.stored += s->txn_stats.stored;
        s->totals.duplicates += s->txn_stats.duplicates;
        s->totals.invalid += s->txn_stats.invalid;
        s->totals.clamped += s->txn_stats.clamped;
    }
    s->txn_stats = (struct ingest_stats){0};
    for (size_t i = 0; i < s->nsessions; i++) {
        struct session *se = &s->sessions[i];
        if (rc == 0 && se->txn_seq > se->ack_seq)
            se->gap_logged = false; /* progress: the next gap is news */
        if (rc == 0)
            se->ack_seq = se->txn_seq;
        else
            se->txn_seq = se->ack_seq;
    }
    return rc;
}

/* A new connection of a known agent (its routing id changed): with
 * collectors sharing one database it may come back from another collector
 * that stored its results meanwhile (agent failover), so the acks and the
 * gap check resume from what the database has committed, read after this
 * collector's own open transaction is committed. Without this the session
 * would ack an old seq and call every batch a gap, for ever. */
static int session_resync(struct serve *s, struct session *se, bool *in_txn)
{
    if (*in_txn && commit(s, in_txn) < 0)
        return -1;
    uint64_t committed;
    if (store_agent_committed_seq(s->store, se->agent_id, &committed) < 0) {
        log_error(s->log, "cannot read agent %s: %s", se->name, store_error(s->store));
        return -1;
    }
    if (committed > se->ack_seq) {
        log_info(s->log, "agent %s: seq %llu committed meanwhile (by another collector)", se->name,
                 (unsigned long long)committed);
        se->ack_seq = se->txn_seq = committed;
    }
    return 0;
}

/* A peer flooding garbage must not flood the log: bad messages are
 * logged at the 1st, 2nd, 4th, 8th... (all of them at debug level). */
static enum log_level bad_msg_level(uint64_t n)
{
    return (n & (n - 1)) == 0 ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG;
}

/* Receives one message; returns 1 if it was a batch that was ingested, 0
 * for anything else, -1 when nothing was waiting. */
/* From a key admitted only to enroll (auth.h): an Enroll, answered with
 * Enrolled; anything else is dropped. The secret is never logged. */
static void on_enrollee(struct serve *s, zmq_msg_t *idm, const char *key, const struct wire_msg *m,
                        const char *peer)
{
    if (m->kind != WIRE_ENROLL) {
        s->invalid_msgs++;
        log_warn(s->log, "dropped a %s from %s: key %s is not authorized (it may only enroll)",
                 wire_kind_name(m->kind), peer ? peer : "?", key);
        return;
    }
    char err[WIRE_ENROLL_ERROR_MAX], name[RESULT_NAME_MAX + 1] = "";
    /* What an unauthorized peer claims reaches the log only when it is a
     * plain name: no control characters into log lines. */
    const char *claimed = m->u.enroll.name && enroll_name_valid(m->u.enroll.name)
                              ? m->u.enroll.name
                              : "(invalid name)";
    const char *version =
        m->u.enroll.version && enroll_name_valid(m->u.enroll.version) ? m->u.enroll.version : "?";
    struct wire_msg r = {.kind = WIRE_ENROLLED};
    if (enroll_accept((*s->conf)->authorized_keys, m->u.enroll.name, m->u.enroll.secret, key, name,
                      sizeof(name), err, sizeof(err)) < 0) {
        log_warn(s->log, "refused the enrollment of '%.64s' (key %s from %s): %s", claimed, key,
                 peer ? peer : "?", err);
        r.u.enrolled.error = err;
    } else {
        serve_reload_keys(s);
        log_info(s->log, "enrolled agent %s (key %s, from %s, version %.64s)", name, key,
                 peer ? peer : "?", version);
        r.u.enrolled.ok = true;
        r.u.enrolled.name = name;
    }
    send_to(s, zmq_msg_data(idm), zmq_msg_size(idm), key, &r);
}

/* Counts a dropped message in the agent's `refused` (store.h), in the
 * open transaction (begun if none is): it commits with the next burst. */
static void count_refused(struct serve *s, struct session *se, bool *in_txn)
{
    if (!*in_txn) {
        if (ingest_begin(s->ingest) < 0)
            return; /* ingest logged it (once per run of failures) */
        *in_txn = true;
    }
    if (ingest_refused(s->ingest, se->agent_id, se->name) < 0)
        (void)commit(s, in_txn); /* fails: rolls back, acks nothing new */
}

/* Receives one message; returns 1 if it was a batch that was ingested, 0
 * for anything else, -1 when nothing was waiting. */
static int handle_one(struct serve *s, size_t *results_in_txn, bool *in_txn)
{
    zmq_msg_t idm, body;
    int more;
    size_t more_len = sizeof(more);

    zmq_msg_init(&idm);
    if (zmq_msg_recv(&idm, s->router, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&idm);
        return -1;
    }
    zmq_getsockopt(s->router, ZMQ_RCVMORE, &more, &more_len);
    if (!more) {
        zmq_msg_close(&idm);
        return 0;
    }
    zmq_msg_init(&body);
    zmq_msg_recv(&body, s->router, 0);
    /* Extra frames are not part of the protocol: drain and ignore. */
    zmq_getsockopt(s->router, ZMQ_RCVMORE, &more, &more_len);
    while (more) {
        zmq_msg_t extra;
        zmq_msg_init(&extra);
        zmq_msg_recv(&extra, s->router, 0);
        zmq_msg_close(&extra);
        zmq_getsockopt(s->router, ZMQ_RCVMORE, &more, &more_len);
    }

    int rc = 0;
    char err[256];
    const char *user = zmq_msg_gets(&body, "User-Id");
    const char *peer = zmq_msg_gets(&body, "Peer-Address");
    struct wire_msg *m =
        wire_msg_decode(zmq_msg_data(&body), zmq_msg_size(&body), err, sizeof(err));
    if (m == NULL) {
        s->invalid_msgs++;
        log_msg(s->log, bad_msg_level(s->invalid_msgs),
                "dropped a message from %s (%s): %s (%llu bad messages so far; logged at the "
                "1st, 2nd, 4th, 8th...)",
                user ? user : "an agent", peer ? peer : "?", err,
                (unsigned long long)s->invalid_msgs);
        /* With CURVE the sender is the agent its key names: counted in
         * its row. (In plaintext, or from an enrollee, nobody is.) */
        if (user != NULL && user[0] != '\0' && user[0] != AUTH_ENROLLEE_MARK) {
            struct session *bad = session_get(s, zmq_msg_data(&idm), zmq_msg_size(&idm), user);
            if (bad != NULL)
                count_refused(s, bad, in_txn);
        }
        goto out;
    }
    if (user != NULL && user[0] == AUTH_ENROLLEE_MARK) {
        on_enrollee(s, &idm, user + 1, m, peer);
        goto out;
    }
    /* With CURVE the name is the one bound to the key, whatever the
     * message claims; in plaintext (loopback tests) the claim is all. */
    const char *name = user && user[0] ? user : m->agent;
    if (name == NULL || name[0] == '\0') {
        s->invalid_msgs++;
        log_warn(s->log, "dropped a %s from %s: no agent name", wire_kind_name(m->kind),
                 peer ? peer : "?");
        goto out;
    }
    /* The socket is dual-stack: IPv4 peers arrive as ::ffff:a.b.c.d. */
    if (peer != NULL && strncmp(peer, "::ffff:", 7) == 0 && strchr(peer + 7, '.') != NULL)
        peer += 7;
    if (m->kind == WIRE_HELLO)
        warn_name_mismatch(s, user, m, peer);
    if (m->kind == WIRE_HELLO && m->u.hello.check_only) {
        answer_check(s, &idm, name, peer);
        goto out;
    }
    struct session *se = session_get(s, zmq_msg_data(&idm), zmq_msg_size(&idm), name);
    if (se == NULL)
        goto out;
    if (se->revoked) {
        /* ZeroMQ cannot close one peer of a ROUTER: refusing all it sends
         * (no ack, nothing stored) is the disconnection. */
        s->invalid_msgs++;
        log_debug(s->log, "dropped a %s from revoked agent %s", wire_kind_name(m->kind), se->name);
        count_refused(s, se, in_txn);
        goto out;
    }
    if (se->fresh && session_resync(s, se, in_txn) < 0)
        goto out;
    se->last_seen_us = clock_wall_us();
    se->dirty = true;
    if (peer != NULL)
        snprintf(se->address, sizeof(se->address), "%s", peer);

    /* An agent that reconnected to this (restarted) collector without a
     * hello still gets the current targets. */
    bool push = se->fresh && m->kind != WIRE_HELLO;
    se->fresh = false;
    switch (m->kind) {
    case WIRE_HELLO:
        /* The hello's ack must report committed rows only. */
        if (*in_txn && commit(s, in_txn) < 0)
            goto out;
        on_hello(s, se, &m->u.hello);
        break;
    case WIRE_BATCH:
        if (se->network[0] == '\0') {
            /* No hello since this collector started: the batch carries the
             * site; without one the network is the egress address. */
            const char *site = m->u.batch.site;
            snprintf(se->network, sizeof(se->network), "%s",
                     site && site[0]  ? site
                     : se->address[0] ? se->address
                                      : "unknown");
        }
        if (!*in_txn) {
            if (ingest_begin(s->ingest) < 0)
                goto out; /* ingest logged it (once per run of failures) */
            *in_txn = true;
        }
        se->acked = true;
        se->spool = m->u.batch.spool;
        se->have_spool = true;
        /* A batch that does not follow what is stored means an earlier
         * one was lost with a broken connection. Storing it would let the
         * ack cover the missing rows, so it is refused and the agent told
         * to resend from the ack. */
        if (m->u.batch.after_seq > se->txn_seq) {
            se->gap = true;
            /* Once per run: the rest of the agent's window follows the
             * same gap, and while the disk is full every resend does. */
            log_msg(s->log, se->gap_logged ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO,
                    "agent %s: batch after seq %llu but only %llu stored; asking for a resend",
                    se->name, (unsigned long long)m->u.batch.after_seq,
                    (unsigned long long)se->txn_seq);
            se->gap_logged = true;
            break;
        }
        uint64_t max_seq = se->txn_seq;
        if (ingest_batch(s->ingest, se->agent_id, se->name, se->network, &m->u.batch, &s->txn_stats,
                         &max_seq) < 0) {
            (void)commit(s, in_txn); /* fails: rolls back, acks nothing new */
            goto out;
        }
        se->txn_seq = max_seq;
        *results_in_txn += m->u.batch.nresults;
        rc = 1;
        break;
    case WIRE_HEARTBEAT:
        if (!*in_txn)
            send_ack(s, se, false);
        else
            se->acked = true;
        break;
    default:
        s->invalid_msgs++;
        log_warn(s->log, "agent %s sent an unexpected %s", se->name, wire_kind_name(m->kind));
        count_refused(s, se, in_txn);
        break;
    }
    if (push) {
        /* After the batch: it told the session its network. */
        update_assignment(s, false);
        send_config(s, se);
    }
out:
    wire_msg_free(&m);
    zmq_msg_close(&body);
    zmq_msg_close(&idm);
    return rc;
}

static void flush_last_seen(struct serve *s, bool force)
{
    struct writefail *wf = ingest_writefail(s->ingest);
    writefail_tick(wf);
    int64_t now = clock_wall_us();
    if (!force && now - s->last_flush_us < SERVE_FLUSH_US)
        return;
    s->last_flush_us = now;
    /* One transaction for all of them: a write per agent, each its own
     * commit, stalled the loop for seconds at 5,000 agents (bench/fleet:
     * ack p99 6.7 s). */
    bool in_txn = false;
    for (size_t i = 0; i < s->nsessions; i++) {
        struct session *se = &s->sessions[i];
        if (!se->dirty)
            continue;
        if (!in_txn)
            in_txn = store_begin(s->store) == 0;
        struct store_agent a = {.last_seen_us = se->last_seen_us,
                                .address = se->address[0] ? se->address : NULL,
                                .spool_dropped = se->spool.dropped,
                                .spool_pending = se->spool.pending,
                                .has_spool = se->have_spool};
        if (store_agent_update(s->store, se->agent_id, &a) < 0) {
            char what[RESULT_NAME_MAX + 64];
            snprintf(what, sizeof(what), "recording when agent %s was last seen", se->name);
            writefail_failed(wf, what, store_error(s->store));
        }
        se->dirty = false;
    }
    if (!in_txn)
        return;
    /* Through writefail like every write: a full disk fails this once a
     * second for as long as it lasts, and one line says so. */
    if (store_commit(s->store) < 0) {
        writefail_failed(wf, "recording when agents were last seen", store_error(s->store));
        store_rollback(s->store);
    } else {
        writefail_ok(wf);
    }
}

static void reload(struct serve *s)
{
    char err[512];
    struct collconf *fresh = collconf_load((*s->conf)->path, err, sizeof(err));
    if (fresh == NULL) {
        log_error(s->log, "reload failed, keeping the running configuration: %s", err);
        return;
    }
    monitor_reload(s->monitor);
    serve_reload_keys(s);
    retention_prune_soon(s->retention); /* retention may have been lowered */
    bool changed = strcmp(fresh->targets.version, (*s->conf)->targets.version) != 0;
    /* The assignment points into the targets it was made from. */
    assign_destroy(&s->assign);
    collconf_destroy(s->conf);
    *s->conf = fresh;
    web_reload(s->web);
    if (changed)
        log_info(s->log, "targets changed (version %s): pushing to connected agents",
                 fresh->targets.version);
    update_assignment(s, true);
}

static int serve_loop(struct serve *s)
{
    bool running = true;
    while (running) {
        zmq_pollitem_t items[] = {
            {s->router, 0, ZMQ_POLLIN, 0},
            {auth_socket(s->auth), 0, ZMQ_POLLIN, 0},
            {NULL, s->sigfd, ZMQ_POLLIN, 0},
            {s->control, 0, ZMQ_POLLIN, 0},
            {NULL, cluster_fd(s->cluster), ZMQ_POLLIN, 0},
        };
        int timeout = cluster_timeout_ms(s->cluster);
        if (timeout > SERVE_POLL_MS)
            timeout = SERVE_POLL_MS;
        if (zmq_poll(items, items[4].fd >= 0 ? 5 : 4, timeout) < 0 && errno != EINTR) {
            log_error(s->log, "poll failed: %s", zmq_strerror(errno));
            return -1;
        }
        if (items[1].revents & ZMQ_POLLIN)
            auth_handle(s->auth);
        if (items[3].revents & ZMQ_POLLIN)
            serve_handle_control(s);
        if (items[2].revents & ZMQ_POLLIN) {
            struct signalfd_siginfo si;
            while (read(s->sigfd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo == SIGHUP) {
                    sdnotify_reloading();
                    reload(s);
                    sdnotify_send("READY=1");
                } else {
                    sdnotify_send("STOPPING=1");
                    running = false;
                }
            }
        }
        /* Drain what is waiting into one transaction, then commit and ack. */
        size_t results = 0;
        bool in_txn = false;
        while (results < SERVE_TXN_RESULTS_MAX) {
            if (handle_one(s, &results, &in_txn) < 0)
                break;
            /* ZAP requests wait on our loop; don't let a burst starve them. */
            auth_handle(s->auth);
        }
        if (in_txn)
            (void)commit(s, &in_txn);
        web_note_ingest(s->web, &s->totals);
        for (size_t i = 0; i < s->nsessions; i++)
            if (s->sessions[i].acked) {
                s->sessions[i].acked = false;
                send_ack(s, &s->sessions[i], false);
            }
        flush_last_seen(s, false);
        update_assignment(s, false);
        retention_tick(s->retention, *s->conf, clock_wall_us());
        serve_cluster_step(s, items[4].fd >= 0 && (items[4].revents & ZMQ_POLLIN));
    }
    flush_last_seen(s, true);
    return 0;
}

/* Every connected agent holds one descriptor, and service managers start
 * daemons with a soft limit of 1024 (systemd's default): beyond about
 * 1000 agents libzmq could accept no more connections, and agents would
 * wait unanswered. The hard limit is what the administrator allows, so
 * the collector takes all of it (integration.fleet_smoke starts one with
 * a soft limit of 64 and connects 150 agents). */
static void raise_nofile(struct log *log)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            log_warn(log, "cannot raise the descriptor limit from %llu: %s",
                     (unsigned long long)was, strerror(errno));
            return;
        }
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < SERVE_NOFILE_WANTED)
        log_warn(log,
                 "at most %llu descriptors (one per connected agent): raise the hard limit "
                 "(LimitNOFILE= in the unit, ulimit -Hn) for a larger fleet",
                 (unsigned long long)rl.rlim_cur);
}

/* libzmq 4.3.4 keeps an I/O thread's timers in one std::multimap and
 * cancels a timer by walking it, and every message received on a
 * connection with ZMTP heartbeats cancels one: with all agents on one
 * I/O thread each agent's heartbeat walks the timers of every other
 * agent, and at a few thousand agents that thread saturates a core
 * before any result is stored (bench/fleet, bench/RESULTS.md). Several
 * I/O threads split the connections, so each walk is that much shorter,
 * and CURVE's per-message cryptography spreads over the cores too. */
static int serve_io_threads(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < SERVE_IO_THREADS_MIN)
        return SERVE_IO_THREADS_MIN;
    return cpus > SERVE_IO_THREADS_MAX ? SERVE_IO_THREADS_MAX : (int)cpus;
}

/* Logs err, found using the setting key, with the line that set it. */
static void log_conf_error(struct log *log, const struct collconf *conf, const char *key,
                           const char *err, const char *todo)
{
    char what[768], msg[1024];
    snprintf(what, sizeof(what), "%s; %s", err, todo);
    collconf_error(conf, key, what, msg, sizeof(msg));
    log_error(log, "%s", msg);
}

int serve_run(struct collconf **confp, struct log *log)
{
    struct collconf *conf = *confp;
    struct serve s = {.conf = confp, .log = log, .sigfd = -1};
    struct transport_keys keys;
    char err[512];
    int rc = -1;

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    s.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    raise_nofile(log);

    s.store = store_open(conf->database, err, sizeof(err));
    if (s.store == NULL) {
        log_conf_error(log, conf, "database", err,
                       "give database = a path in a directory this user can write, or a "
                       "PostgreSQL location this user may connect to");
        goto out;
    }
    store_set_log(s.store, log);
    s.ingest = ingest_create(s.store, log);
    s.retention = retention_create(s.store, log);
    s.by_id = sessmap_create(key_of_id, &s);
    s.by_name = sessmap_create(key_of_name, &s);
    s.ctx = zmq_ctx_new();
    if (s.ctx != NULL)
        zmq_ctx_set(s.ctx, ZMQ_IO_THREADS, serve_io_threads());
    if (s.ingest == NULL || s.retention == NULL || s.ctx == NULL || s.sigfd < 0 ||
        s.by_id == NULL || s.by_name == NULL) {
        log_error(log, "cannot start: out of resources");
        goto out;
    }
    if (!conf->insecure_plaintext &&
        transport_load_keys(conf->secret_key, &keys, err, sizeof(err)) < 0) {
        log_conf_error(log, conf, "secret_key", err,
                       "give secret_key = the collector.key file of this collector");
        goto out;
    }
    s.auth = auth_create(s.ctx, conf->insecure_plaintext ? NULL : conf->authorized_keys,
                         conf->insecure_plaintext, log, err, sizeof(err));
    if (s.auth == NULL) {
        log_conf_error(log, conf, "authorized_keys", err,
                       "give authorized_keys = a file of '<agent.pub key> <agent name>' lines");
        goto out;
    }
    struct transport_opts o = {.endpoint = conf->listen,
                               .plaintext = conf->insecure_plaintext,
                               .keys = conf->insecure_plaintext ? NULL : &keys};
    s.router = transport_server_create(s.ctx, &o, err, sizeof(err));
    explicit_bzero(&keys, sizeof(keys));
    if (s.router == NULL) {
        log_conf_error(log, conf, "listen", err,
                       "give listen = tcp://ADDRESS:PORT with an address of this host and a free "
                       "port");
        goto out;
    }
    /* The control socket has no authentication of its own: an ipc file
     * readable by the collector's user only. */
    s.control = zmq_socket(s.ctx, ZMQ_REP);
    mode_t old = umask(077);
    int bound = s.control ? zmq_bind(s.control, conf->control) : -1;
    umask(old);
    if (bound != 0) {
        snprintf(err, sizeof(err), "cannot open the control socket %s: %s", conf->control,
                 zmq_strerror(errno));
        log_conf_error(log, conf, "control", err,
                       "give control = ipc://PATH in a directory this user can write (is another "
                       "collector using it?)");
        goto out;
    }
    int linger = 0;
    zmq_setsockopt(s.control, ZMQ_LINGER, &linger, sizeof(linger));
    s.cluster = cluster_create(s.store, log, conf->targets.version, err, sizeof(err));
    if (s.cluster == NULL) {
        log_conf_error(log, conf, "database", err,
                       "give database = a database this user can write");
        goto out;
    }
    s.monitor = monitor_start(conf->path, log, cluster_id(s.cluster), err, sizeof(err));
    if (s.monitor == NULL) {
        log_error(log, "cannot start continuous diagnosis: %s", err);
        goto out;
    }
    if (conf->http != NULL && (s.web = web_start(conf, log, err, sizeof(err))) == NULL) {
        log_error(log, "%s", err);
        goto out;
    }
    char where[512];
    store_location_redact(conf->database, where, sizeof(where));
    log_info(log, "listening on %s (%s), %zu targets, %zu authorized agents, database %s",
             conf->listen, conf->insecure_plaintext ? "PLAINTEXT, loopback only" : "CURVE",
             conf->targets.ntargets, auth_count(s.auth), where);
    sdnotify_send("READY=1");
    rc = serve_loop(&s);
    log_info(
        log,
        "stopping: %llu results stored, %llu duplicates, %llu invalid results, %llu bad messages, "
        "%llu results from the future clamped",
        (unsigned long long)s.totals.stored, (unsigned long long)s.totals.duplicates,
        (unsigned long long)s.totals.invalid, (unsigned long long)s.invalid_msgs,
        (unsigned long long)s.totals.clamped);
out:
    web_stop(&s.web);
    monitor_stop(&s.monitor);
    cluster_destroy(&s.cluster);
    transport_close(&s.router);
    transport_close(&s.control);
    auth_destroy(&s.auth);
    if (s.ctx != NULL)
        zmq_ctx_term(s.ctx);
    ingest_destroy(&s.ingest);
    retention_destroy(&s.retention);
    store_close(&s.store);
    free(s.sessions);
    sessmap_destroy(&s.by_id);
    sessmap_destroy(&s.by_name);
    assign_destroy(&s.assign);
    if (s.sigfd >= 0)
        close(s.sigfd);
    return rc;
}
