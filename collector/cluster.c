/*
 * cluster — registry, lease and probe-now queue of a running collector
 * (cluster.h).
 */
#include "cluster.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "clock.h"

#define CLUSTER_HOST_MAX 256
/* The JSON list of the agents asked by one request: room for
 * PROBENOW_AGENTS_MAX (4096) names of up to 64 characters, quoted; a
 * collector with more records those that fit. */
#define CLUSTER_ASKED_MAX (4096 * 68)
/* How many differing collectors one log line names. */
#define CLUSTER_NAMED_MAX 8
/* A lost wake connection is reopened after 1 s, then 2, 4, ... up to
 * 30 s: each attempt may block serve for the connect timeout, and the
 * queue is polled meanwhile, so nothing waits on it. */
#define CLUSTER_LISTEN_RETRY_MIN_US 1000000ULL
#define CLUSTER_LISTEN_RETRY_MAX_US 30000000ULL

struct cluster {
    struct store *store;
    struct log *log;
    char id[STORE_COLLECTOR_ID_MAX + 1];
    char host[CLUSTER_HOST_MAX];
    int64_t started_us;
    int fd;                    /* the wake descriptor; -1: poll the queue */
    bool can_listen;           /* the backend can wake us (PostgreSQL) */
    bool listen_lost;          /* logged once until listening again */
    uint64_t listen_retry_us;  /* the backoff before the next attempt */
    uint64_t next_listen_mono; /* when to try to listen again */
    uint64_t next_beat_mono;
    uint64_t next_poll_mono;
    int64_t last_request; /* the highest request id served */
    int64_t lease_expires_us;
    char holder[STORE_COLLECTOR_ID_MAX + 1]; /* who held the lease at the last look */
    uint64_t differ_sig; /* the differing collectors at the last look (0: none) */
    bool beat_failed;    /* logged once until a heartbeat works again */
    bool lease_failed;   /* logged once until the lease can be taken again */
    char *asked;         /* CLUSTER_ASKED_MAX bytes */
};

/* The wake connection could not be opened or was lost: poll meanwhile. */
static void listen_failed(struct cluster *c, uint64_t mono)
{
    if (!c->listen_lost)
        log_warn(c->log,
                 "cannot listen for probe-now requests (%s): polling the queue every %lld ms "
                 "(poll) until listening works again",
                 store_error(c->store), CLUSTER_POLL_US / 1000);
    c->listen_lost = true;
    c->fd = -1;
    c->next_listen_mono = mono + c->listen_retry_us;
    c->listen_retry_us *= 2;
    if (c->listen_retry_us > CLUSTER_LISTEN_RETRY_MAX_US)
        c->listen_retry_us = CLUSTER_LISTEN_RETRY_MAX_US;
}

static void listen_again(struct cluster *c, uint64_t mono)
{
    if (store_probe_listen(c->store, &c->fd) < 0 || c->fd < 0) {
        listen_failed(c, mono);
        return;
    }
    log_info(c->log, "listening for probe-now requests again (listen: PostgreSQL LISTEN/NOTIFY)");
    c->listen_lost = false;
    c->listen_retry_us = CLUSTER_LISTEN_RETRY_MIN_US;
}

struct cluster *cluster_create(struct store *s, struct log *log, const char *targets, char *err,
                               size_t errlen)
{
    struct cluster *c = calloc(1, sizeof(*c));
    uint64_t r = 0;
    if (c == NULL || (c->asked = malloc(CLUSTER_ASKED_MAX)) == NULL) {
        free(c);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        r = (uint64_t)clock_wall_us() ^ ((uint64_t)getpid() << 40);
    snprintf(c->id, sizeof(c->id), "c-%016" PRIx64, r);
    if (gethostname(c->host, sizeof(c->host)) != 0)
        snprintf(c->host, sizeof(c->host), "unknown");
    c->host[sizeof(c->host) - 1] = '\0';
    c->store = s;
    c->log = log;
    c->started_us = clock_wall_us();
    c->fd = -1;
    struct store_collector me = {.id = c->id,
                                 .host = c->host,
                                 .pid = getpid(),
                                 .started_us = c->started_us,
                                 .heartbeat_us = c->started_us,
                                 .version = VANTAGE_VERSION,
                                 .targets = targets};
    if (store_collector_put(s, &me) < 0) {
        snprintf(err, errlen, "%s", store_error(s));
        free(c->asked);
        free(c);
        return NULL;
    }
    /* last_request starts at 0: a request queued before this collector
     * started and not expired yet is served at the first look, so that
     * agents which moved here answer it too. */
    log_info(log, "registered as collector %s (%s, pid %d) in the database", c->id, c->host,
             (int)getpid());
    int rc = store_probe_listen(s, &c->fd);
    c->can_listen = rc < 0 || c->fd >= 0;
    c->listen_retry_us = CLUSTER_LISTEN_RETRY_MIN_US;
    if (c->fd >= 0)
        log_info(log, "probe-now requests wake this collector (listen: PostgreSQL LISTEN/NOTIFY; "
                      "the queue is also read every second)");
    else if (!c->can_listen)
        log_info(
            log,
            "probe-now requests reach this collector through the queue, read every %lld ms (poll)",
            CLUSTER_POLL_US / 1000);
    else
        listen_failed(c, clock_mono_us());
    return c;
}

void cluster_destroy(struct cluster **cp)
{
    if (cp == NULL || *cp == NULL)
        return;
    struct cluster *c = *cp;
    if (store_lease_release(c->store, CLUSTER_LEASE_EVALUATE, c->id) < 0 ||
        store_collector_delete(c->store, c->id, 0) < 0)
        log_warn(c->log, "cannot leave the registry of collectors: %s", store_error(c->store));
    free(c->asked);
    free(c);
    *cp = NULL;
}

const char *cluster_id(const struct cluster *c)
{
    return c->id;
}

int cluster_fd(const struct cluster *c)
{
    return c->fd;
}

int cluster_timeout_ms(const struct cluster *c)
{
    uint64_t now = clock_mono_us();
    uint64_t next = c->next_beat_mono;
    if (c->fd < 0 && c->next_poll_mono < next)
        next = c->next_poll_mono;
    if (c->fd < 0 && c->can_listen && c->next_listen_mono < next)
        next = c->next_listen_mono;
    return next <= now ? 0 : (int)((next - now + 999) / 1000);
}

/* ---- heartbeat, lease, differing target lists ---- */

struct differ_ctx {
    const struct cluster *c;
    const char *targets;
    int64_t alive_after_us;
    uint64_t sig;
    size_t n;
    char names[CLUSTER_NAMED_MAX * 96];
    size_t used;
};

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (h ^ 0xff) * 1099511628211ull;
}

static int note_differ(const struct store_collector *o, void *arg)
{
    struct differ_ctx *x = arg;
    if (strcmp(o->id, x->c->id) == 0 || o->heartbeat_us <= x->alive_after_us ||
        strcmp(o->targets, x->targets) == 0)
        return 0;
    /* Order-free: a sum of per-collector hashes. */
    x->sig += fnv(fnv(14695981039346656037ull, o->id), o->targets);
    if (x->n++ < CLUSTER_NAMED_MAX && x->used < sizeof(x->names)) {
        int w = snprintf(x->names + x->used, sizeof(x->names) - x->used, "%s%s (%s, pid %lld)",
                         x->used ? ", " : "", o->id, o->host, (long long)o->pid);
        if (w > 0)
            x->used += (size_t)w;
    }
    return 0;
}

/* Logs once per change whether other running collectors have a
 * different target list: the lease holder evaluates with its own, agents
 * get the list of the collector they are connected to. */
static void check_targets(struct cluster *c, const char *targets, int64_t now)
{
    struct differ_ctx x = {.c = c, .targets = targets, .alive_after_us = now - CLUSTER_ALIVE_US};
    if (store_collectors_each(c->store, note_differ, &x) < 0) {
        log_debug(c->log, "cannot read the registry of collectors: %s", store_error(c->store));
        return;
    }
    if (x.sig == c->differ_sig)
        return;
    if (x.sig != 0)
        log_warn(c->log,
                 "%zu other running collector%s of this database ha%s a different target list "
                 "than this one (version %s): %s%s; give every collector the same [target] "
                 "sections ('vantage-collector collectors' shows them)",
                 x.n, x.n == 1 ? "" : "s", x.n == 1 ? "s" : "ve", targets, x.names,
                 x.n > CLUSTER_NAMED_MAX ? ", ..." : "");
    else
        log_info(c->log, "every running collector of this database has the same target list");
    c->differ_sig = x.sig;
}

struct holder_ctx {
    const char *id;
    char desc[CLUSTER_HOST_MAX + 64];
};

static int find_holder(const struct store_collector *o, void *arg)
{
    struct holder_ctx *x = arg;
    if (strcmp(o->id, x->id) == 0)
        snprintf(x->desc, sizeof(x->desc), "%s (%s, pid %lld)", o->id, o->host, (long long)o->pid);
    return 0;
}

static void take_lease(struct cluster *c, int64_t now)
{
    struct store_lease l;
    int held =
        store_lease_take(c->store, CLUSTER_LEASE_EVALUATE, c->id, now, CLUSTER_LEASE_TTL_US, &l);
    if (held < 0) {
        /* Once per outage: this is tried every heartbeat, and a database
         * that is down or out of disk fails it every time for as long as
         * that lasts (chaos.pg.disk_full). */
        if (!c->lease_failed)
            log_warn(c->log,
                     "cannot renew the lease of continuous diagnosis: %s (retrying every "
                     "heartbeat; logged again when it works)",
                     store_error(c->store));
        c->lease_failed = true;
        /* Keep what we have: it runs out by itself at its expiry. */
        if (c->lease_expires_us <= now)
            c->lease_expires_us = 0;
        return;
    }
    if (c->lease_failed) {
        log_info(c->log, "the lease of continuous diagnosis can be taken again");
        c->lease_failed = false;
    }
    c->lease_expires_us = held ? l.expires_us : 0;
    if (strcmp(l.holder, c->holder) == 0)
        return;
    if (held) {
        log_info(c->log,
                 "this collector (%s) now runs continuous diagnosis and notifications for "
                 "every collector of this database",
                 c->id);
    } else {
        struct holder_ctx x = {.id = l.holder};
        snprintf(x.desc, sizeof(x.desc), "%s", l.holder);
        (void)store_collectors_each(c->store, find_holder, &x);
        log_info(c->log,
                 "collector %s runs continuous diagnosis and notifications; this one stands by "
                 "and takes over when its lease expires",
                 x.desc);
    }
    snprintf(c->holder, sizeof(c->holder), "%s", l.holder);
}

static void heartbeat(struct cluster *c, const struct cluster_tick *t)
{
    int64_t now = clock_wall_us();
    struct store_collector me = {.id = c->id,
                                 .host = c->host,
                                 .pid = getpid(),
                                 .started_us = c->started_us,
                                 .heartbeat_us = now,
                                 .version = VANTAGE_VERSION,
                                 .targets = t->targets,
                                 .agents = t->agents};
    if (store_collector_put(c->store, &me) < 0 ||
        store_collector_delete(c->store, "", now - CLUSTER_FORGET_US) < 0) {
        if (!c->beat_failed)
            log_warn(c->log, "cannot record this collector's heartbeat: %s", store_error(c->store));
        c->beat_failed = true;
    } else if (c->beat_failed) {
        log_info(c->log, "heartbeats are recorded again");
        c->beat_failed = false;
    }
    take_lease(c, now);
    check_targets(c, t->targets, now);
}

/* ---- the probe-now queue ---- */

struct serve_ctx {
    struct cluster *c;
    const struct cluster_tick *t;
    bool woken; /* by a notification, rather than found by polling */
};

static int serve_request(const struct store_probe_request *r, void *arg)
{
    struct serve_ctx *x = arg;
    struct cluster *c = x->c;
    snprintf(c->asked, CLUSTER_ASKED_MAX, "[]");
    /* Says which path served it: integration.pg.cluster checks it. */
    log_info(c->log, "probe-now request %lld for %s from the queue (%s)", (long long)r->id,
             r->target[0] ? r->target : "all targets", x->woken ? "listen" : "poll");
    x->t->request(r->target, (uint64_t)r->id, c->asked, CLUSTER_ASKED_MAX, x->t->arg);
    struct store_probe_answer a = {
        .request_id = r->id, .collector = c->id, .agents = c->asked, .at_us = clock_wall_us()};
    if (store_probe_answer_add(c->store, &a) < 0)
        log_warn(c->log, "cannot record the answer to probe-now request %lld: %s", (long long)r->id,
                 store_error(c->store));
    if (r->id > c->last_request)
        c->last_request = r->id;
    return 0;
}

static void serve_requests(struct cluster *c, const struct cluster_tick *t, bool woken)
{
    struct serve_ctx x = {c, t, woken};
    if (store_probe_requests_after(c->store, c->last_request, clock_wall_us(), serve_request, &x) <
        0)
        log_debug(c->log, "cannot read the probe-now queue: %s", store_error(c->store));
}

int64_t cluster_tick(struct cluster *c, const struct cluster_tick *t)
{
    uint64_t mono = clock_mono_us();
    bool poll = false, woken = false;
    /* Drained whenever we look, not only when serve saw the descriptor
     * readable, so that a request whose wake-up has arrived is counted
     * as woken even when a heartbeat reads the queue first. */
    if (c->fd >= 0 && (t->woken || mono >= c->next_beat_mono)) {
        int r = store_probe_drain(c->store);
        if (r < 0)
            listen_failed(c, mono);
        woken = poll = r > 0;
    }
    if (c->fd < 0 && c->can_listen && mono >= c->next_listen_mono)
        listen_again(c, mono);
    if (mono >= c->next_beat_mono) {
        heartbeat(c, t);
        c->next_beat_mono = mono + CLUSTER_HEARTBEAT_US;
        poll = true; /* while listening too: a missed wake-up costs a second at most */
    }
    if (c->fd < 0 && mono >= c->next_poll_mono) {
        poll = true;
        c->next_poll_mono = mono + CLUSTER_POLL_US;
    }
    if (poll)
        serve_requests(c, t, woken);
    if (c->lease_expires_us != 0 && c->lease_expires_us <= clock_wall_us())
        c->lease_expires_us = 0;
    return c->lease_expires_us;
}
