/*
 * cluster — what a running collector does so that several of them can
 * share one database (docs/reference.md "Several collectors"): it
 * registers itself in the store and renews a heartbeat there, takes or
 * renews the lease that makes it the one collector that runs continuous
 * diagnosis and notifications, says when another collector runs a
 * different target list, and serves the store's probe-now queue for the
 * agents connected to it.
 *
 * It runs in serve's thread, on serve's store: serve polls cluster_fd()
 * (the socket of PostgreSQL's wake connection, which LISTENs for queued
 * requests; -1 on sqlite and while that connection is down, when the
 * queue is polled every CLUSTER_POLL_US instead) and calls cluster_tick()
 * when it is readable or cluster_timeout_ms() says it is due. The
 * descriptor may change from one tick to the next: ask for it each turn.
 */
#ifndef VANTAGE_CLUSTER_H
#define VANTAGE_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "store.h"

/* The lease that continuous diagnosis and notifications run under. */
#define CLUSTER_LEASE_EVALUATE "evaluate"

/* A heartbeat a second costs one small write; the lease runs five, so a
 * holder killed with SIGKILL is replaced within CLUSTER_LEASE_TTL_US +
 * CLUSTER_HEARTBEAT_US (6 s), while a holder that stalls for less than
 * four seconds (a slow disk, a long transaction) keeps it. */
#define CLUSTER_HEARTBEAT_US 1000000LL
#define CLUSTER_LEASE_TTL_US 5000000LL
/* A collector whose last heartbeat is older than this is gone (for
 * agents' "connected", probe-now's answers and the collectors command). */
#define CLUSTER_ALIVE_US 5000000LL
/* Registry rows of collectors gone this long are removed. */
#define CLUSTER_FORGET_US (3600LL * 1000000)
/* How often the probe-now queue is read where nothing wakes us (sqlite,
 * or PostgreSQL while the wake connection is down): a fifth of a second
 * adds little to probes that take seconds. While woken, the queue is
 * still read at every heartbeat, a safety net for a lost wake-up. */
#define CLUSTER_POLL_US 200000LL

struct cluster;

/* Registers this collector (targets: the version of its target list).
 * NULL with err when the store refuses (its error). */
struct cluster *cluster_create(struct store *s, struct log *log, const char *targets, char *err,
                               size_t errlen);

/* Releases the lease (so another collector takes it at once), removes
 * this collector from the registry, frees c. NULL is fine. */
void cluster_destroy(struct cluster **cp);

/* This collector's id in the registry ("c-" and 16 hex digits). */
const char *cluster_id(const struct cluster *c);

/* The descriptor to poll for probe-now requests, or -1. */
int cluster_fd(const struct cluster *c);

/* Milliseconds until cluster_tick has work (0: now). */
int cluster_timeout_ms(const struct cluster *c);

/* A request for the agents connected to this collector: send run-now for
 * target ("" = every target) and fill asked (a JSON array text, at most
 * asked_len bytes with its NUL) with the names of the agents asked. */
typedef void (*cluster_request_fn)(const char *target, uint64_t request_id, char *asked,
                                   size_t asked_len, void *arg);

struct cluster_tick {
    const char *targets; /* the version of the running target list */
    uint32_t agents;     /* connected to this collector now */
    bool woken;          /* cluster_fd() was readable */
    cluster_request_fn request;
    void *arg;
};

/*
 * Does what is due: the heartbeat with the lease (every
 * CLUSTER_HEARTBEAT_US), the requests queued since the last look (when
 * woken, at every heartbeat, and every CLUSTER_POLL_US without a
 * descriptor), reopening a lost wake connection when due. Failures are
 * logged, never fatal: the store may be away for a moment. Returns the
 * expiry of this collector's lease, 0 when it does not hold it.
 */
int64_t cluster_tick(struct cluster *c, const struct cluster_tick *t);

#endif
