/*
 * store — everything the collector keeps, behind one interface so that a
 * PostgreSQL backend can be added without touching ingest or analysis.
 *
 * A store holds agents, results (each with its exact encoded bytes, so
 * nothing an agent sent is lost to a schema), the latest state per
 * (agent, target, check) with the start of its current streak, and the
 * changes detected at ingest. Results are unique by (agent, seq): adding
 * one twice is not an error, it is reported as a duplicate.
 *
 * Writes happen inside store_begin()/store_commit(); the latest-state rows
 * touched by a transaction are written once, at commit.
 *
 * Backends: "sqlite:PATH" or a plain PATH (sqlite3, WAL). The schema is
 * versioned; store_open() applies missing migrations in order.
 */
#ifndef VANTAGE_STORE_H
#define VANTAGE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "result.h"

#define STORE_ERR_MAX 512

struct store;

struct store_agent {
    const char *name;
    const char *site;          /* NULL when the agent has no site label */
    const char *network;       /* site, or derived from the egress address */
    const char *version;
    const char *address;       /* egress address as the collector sees it */
    const char *netctx;        /* JSON: addresses, gateway, resolvers */
    int64_t first_seen_us;
    int64_t last_seen_us;
    uint64_t spool_dropped;
    uint64_t spool_pending;
    uint64_t committed_seq;    /* highest seq stored */
    bool connected;            /* filled by the reader: seen recently */
};

struct store_latest {
    const char *agent;
    const char *network;
    const char *target;
    const char *check;
    bool discovered;
    bool ok;
    enum result_layer layer;
    enum result_error error;
    uint64_t seq;
    int64_t at_us;             /* started_at of the latest result */
    int64_t since_us;          /* start of the current passing/failing streak */
    uint64_t total_us;         /* the latest result's total time */
    const char *detail;
};

struct store_change {
    int64_t at_us;
    const char *agent;         /* NULL for target-wide changes */
    const char *target;        /* NULL for agent changes */
    const char *kind;          /* dns_answer_changed, cert_changed, ... */
    const char *subject;
    const char *before;
    const char *after;
};

struct store_result_filter {
    const char *target;        /* NULL = any */
    const char *agent;         /* NULL = any */
    int64_t since_us;          /* 0 = all time */
    size_t limit;              /* 0 = no limit; newest rows kept */
};

/* Opens (creating and migrating) a store. NULL with err on failure. */
struct store *store_open(const char *location, char *err, size_t errlen);
void store_close(struct store **sp);

/* The last error message of this store; never NULL. */
const char *store_error(const struct store *s);

int store_begin(struct store *s) __attribute__((warn_unused_result));
int store_commit(struct store *s) __attribute__((warn_unused_result));
void store_rollback(struct store *s);

/* Finds or creates the agent row for name. Returns 0 with *id, or -1. */
int store_agent_id(struct store *s, const char *name, int64_t *id)
    __attribute__((warn_unused_result));

/* Updates an agent's facts (NULL fields are left as they were; zero
 * counters likewise). Returns 0 or -1. */
int store_agent_update(struct store *s, int64_t id, const struct store_agent *a)
    __attribute__((warn_unused_result));

/* Highest seq stored for the agent (0 when none). Returns 0 or -1. */
int store_agent_committed_seq(struct store *s, int64_t id, uint64_t *seq)
    __attribute__((warn_unused_result));

/* Adds one result of agent id, r->seq set. record/len are the encoded
 * bytes kept verbatim. network is the agent's network at ingest. Returns
 * 1 stored, 0 duplicate (agent, seq), -1 error. */
int store_result_add(struct store *s, int64_t agent_id, const char *network,
                     const struct result *r, const uint8_t *record, size_t len)
    __attribute__((warn_unused_result));

/* Records a detected change. Returns 0 or -1. */
int store_change_add(struct store *s, const struct store_change *c)
    __attribute__((warn_unused_result));

/* Readers: call cb for each row; cb returns 0 to go on, non-zero to stop.
 * Pointers in the row are valid only during the call. Return 0 or -1. */
typedef int (*store_agent_cb)(const struct store_agent *a, void *arg);
int store_agents_each(struct store *s, int64_t connected_after_us, store_agent_cb cb, void *arg);

/* Results in (started_at, agent, seq) order; r carries agent, network, seq. */
typedef int (*store_result_cb)(const struct result *r, void *arg);
int store_results_each(struct store *s, const struct store_result_filter *f, store_result_cb cb,
                       void *arg);

typedef int (*store_latest_cb)(const struct store_latest *l, void *arg);
int store_latest_each(struct store *s, const char *target, store_latest_cb cb, void *arg);

typedef int (*store_change_cb)(const struct store_change *c, void *arg);
int store_changes_each(struct store *s, const char *target, int64_t since_us, store_change_cb cb,
                       void *arg);

#endif
