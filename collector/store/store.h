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
 * Backends: "sqlite:PATH" or a plain PATH (sqlite3, WAL); "postgresql:"
 * or "postgres:" then a libpq URI or key=value conninfo (store_pg.c). The
 * schema is versioned; store_open() applies missing migrations in order.
 */
#ifndef VANTAGE_STORE_H
#define VANTAGE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "result.h"
#include "rollup.h"

#define STORE_ERR_MAX 512

struct store;

/* What the collector refused, or changed, of one agent's input. Each is
 * counted in the transaction of the message it came in, so a batch whose
 * transaction rolled back (a collector killed before its commit) counts
 * nothing, and its resend counts once; a result received again after its
 * commit (an ack lost with a killed collector, a replay) was received
 * twice and counts as a duplicate (docs/reference.md, agents). */
struct store_agent_counts {
    uint64_t duplicates; /* results received again after they were stored */
    uint64_t invalid;    /* results refused by validation */
    uint64_t clamped;    /* results stored at the collector's time: they started in the future */
    uint64_t refused;    /* messages dropped: undecodable, unexpected, or sent after revocation */
};

struct store_agent {
    const char *name;
    const char *site;    /* NULL when the agent has no site label */
    const char *network; /* site, or derived from the egress address */
    const char *version;
    const char *address; /* egress address as the collector sees it */
    const char *netctx;  /* JSON: addresses, gateway, resolvers */
    int64_t first_seen_us;
    int64_t last_seen_us;
    uint64_t spool_dropped;
    uint64_t spool_pending;
    bool has_spool;                   /* update: the spool counters are news, even 0 */
    uint64_t committed_seq;           /* highest seq stored */
    uint64_t lost;                    /* seqs below committed_seq that never arrived */
    struct store_agent_counts counts; /* read only: store_agent_counts_add() writes them */
    bool connected;                   /* filled by the reader: seen recently */
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
    int64_t at_us;     /* started_at of the latest result */
    int64_t since_us;  /* start of the current passing/failing streak */
    uint64_t total_us; /* the latest result's total time */
    const char *detail;
    /* Episodes (store_streak_next): failing streaks separated by passing
     * streaks of at most STORE_FLAP_GAP_MAX results are one episode, so a
     * flapping check keeps the time of its first failure. */
    int64_t episode_us;           /* first failure of the current episode; 0 = never failed */
    uint32_t flips;               /* status changes since episode_us */
    uint32_t streak_n;            /* results in the current streak (saturating) */
    enum result_layer fail_layer; /* the latest failure's classification, */
    enum result_error fail_error; /* kept while the check passes again */
    enum result_phase phase;      /* the latest result's slowest phase */
    uint64_t phase_us;            /* and its time */
    const char *address;          /* last address the check resolved to; NULL = none */
    const char *answers;          /* a dns:// check's last known answers; NULL = never any */
    uint64_t delivery_us;         /* mailflow: the latest test mail's delivery time; 0 = none */
};

/*
 * What change detection (collector/changes.c) compares between consecutive
 * results of one (agent, target, check). The caller computes the hashes
 * (0 = the result does not show that fact) and passes the texts; the store
 * keeps the last known value of each fact in the latest state, so a
 * result without the fact (a failure) does not erase it.
 */
enum store_fact { STORE_FACT_DNS, STORE_FACT_ADDRESS, STORE_FACT_CERT, STORE_FACT_LAST };

struct store_facts {
    uint64_t hash[STORE_FACT_LAST];
    const char *text[STORE_FACT_LAST]; /* read only when the hash differs from the stored one */
};

/* What store_result_add_facts() found: for each fact whose known value
 * changed, the value before (valid until the next call on the store). */
struct store_prev {
    bool changed[STORE_FACT_LAST];
    const char *before[STORE_FACT_LAST];
    int64_t before_at_us; /* started_at of the key's previous latest result */
};

struct store_change {
    int64_t at_us;
    const char *agent;  /* NULL for target-wide changes */
    const char *target; /* NULL for agent changes */
    const char *kind;   /* dns_answer_changed, cert_changed, ... */
    const char *subject;
    const char *before;
    const char *after;
};

struct store_result_filter {
    const char *target; /* NULL = any */
    const char *agent;  /* NULL = any */
    int64_t since_us;   /* 0 = all time */
    size_t limit;       /* 0 = no limit; newest rows kept */
    uint64_t seq;       /* with agent: that one result (0 = any); rdap facts, report.c */
};

/* location as it may be printed: a password in it (a PostgreSQL URI's
 * user:password@, password=…) is replaced by "***". */
void store_location_redact(const char *location, char *out, size_t n);

/* Opens (creating and migrating) a store. NULL with err on failure. */
struct store *store_open(const char *location, char *err, size_t errlen);

/* store_open_flags: the store is only read (diagnose, agents, history,
 * ...): none of ingest's set-up (PostgreSQL: no migration, no day
 * partitions, nothing prepared; sqlite: no statements prepared), one
 * schema check, and writes refused by the database itself. A store of an
 * older schema is refused (the collector migrates it, serve or
 * migrate-store), not migrated; a newer one too. A store that does not
 * exist yet (no schema at all) is created as store_open() does, so that
 * a first look before the collector's first start answers "no data". */
#define STORE_OPEN_READONLY 0x1u

struct store *store_open_flags(const char *location, unsigned flags, char *err, size_t errlen);
void store_close(struct store **sp);

/* Where the backend logs what its database server says on its own: a
 * PostgreSQL server's warnings (e.g. "terminating connection because of
 * crash of another server process") become one warn line each in log
 * instead of several bare lines on stderr. Without it (the CLI) libpq
 * prints them to stderr as usual. log may be NULL (nothing routed). */
void store_set_log(struct store *s, struct log *log);

/* The last error message of this store; never NULL. */
const char *store_error(const struct store *s);

int store_begin(struct store *s) __attribute__((warn_unused_result));
int store_commit(struct store *s) __attribute__((warn_unused_result));
void store_rollback(struct store *s);

/* Finds or creates the agent row for name. Returns 0 with *id, or -1. */
int store_agent_id(struct store *s, const char *name, int64_t *id)
    __attribute__((warn_unused_result));

/* Updates an agent's facts (NULL fields are left as they were; zero
 * counters likewise, unless has_spool says the spool counters are the
 * agent's fresh report — a drained spool is 0 pending). Returns 0 or -1. */
int store_agent_update(struct store *s, int64_t id, const struct store_agent *a)
    __attribute__((warn_unused_result));

/* Counts n more of the agent's results as lost: sequence numbers it
 * skipped because its bounded spool dropped them before they were stored.
 * Within the caller's transaction. Returns 0 or -1. */
int store_agent_lost_add(struct store *s, int64_t id, uint64_t n)
    __attribute__((warn_unused_result));

/* Adds c to the agent's counts (struct store_agent_counts), within the
 * caller's transaction: the counts commit or roll back with the results
 * they describe. All zero writes nothing. Returns 0 or -1. */
int store_agent_counts_add(struct store *s, int64_t id, const struct store_agent_counts *c)
    __attribute__((warn_unused_result));

/* Highest seq stored for the agent (0 when none). Returns 0 or -1. */
int store_agent_committed_seq(struct store *s, int64_t id, uint64_t *seq)
    __attribute__((warn_unused_result));

/* Adds one result of agent id, r->seq set. record/len are the encoded
 * bytes kept verbatim. network is the agent's network at ingest. Returns
 * 1 stored, 0 duplicate (agent, seq), -1 error. */
int store_result_add(struct store *s, int64_t agent_id, const char *network, const struct result *r,
                     const uint8_t *record, size_t len) __attribute__((warn_unused_result));

/* store_result_add that also keeps the result's facts in the key's latest
 * state and reports in *prev (zeroed first) which known facts changed.
 * Facts are compared only when the result is the newest of its key and
 * the key had a known value: a first value is not a change. facts NULL =
 * none. Returns 1 stored, 0 duplicate, -1 error. */
int store_result_add_facts(struct store *s, int64_t agent_id, const char *network,
                           const struct result *r, const uint8_t *record, size_t len,
                           const struct store_facts *facts, struct store_prev *prev)
    __attribute__((warn_unused_result));

/* Records a detected change. Returns 0 or -1. */
int store_change_add(struct store *s, const struct store_change *c)
    __attribute__((warn_unused_result));

/* Readers: call cb for each row; cb returns 0 to go on, non-zero to stop.
 * Pointers in the row are valid only during the call. Return 0 or -1. */
typedef int (*store_agent_cb)(const struct store_agent *a, void *arg);
int store_agents_each(struct store *s, int64_t connected_after_us, store_agent_cb cb, void *arg);

/* Calls cb once with the agent of that id (0 and no call when there is
 * none). Returns 0 or -1. */
int store_agent_get(struct store *s, int64_t id, store_agent_cb cb, void *arg);

/* Results in (started_at, agent, seq) order; r carries agent, network, seq. */
typedef int (*store_result_cb)(const struct result *r, void *arg);
int store_results_each(struct store *s, const struct store_result_filter *f, store_result_cb cb,
                       void *arg);

typedef int (*store_latest_cb)(const struct store_latest *l, void *arg);
int store_latest_each(struct store *s, const char *target, store_latest_cb cb, void *arg);

typedef int (*store_change_cb)(const struct store_change *c, void *arg);
int store_changes_each(struct store *s, const char *target, int64_t since_us, store_change_cb cb,
                       void *arg);

/* ---- retention: hourly rollups, pruning (docs/reference.md "Retention") ----
 *
 * Raw results are kept for `retention`; before they go, each is counted
 * in the hourly aggregate (collector/store/rollup.h) of its (network, target,
 * check) and started_at hour, exactly once: a result stored late (spooled
 * through an outage, or from an agent whose clock was wrong) is added to
 * its own hour whenever it arrives, even when that hour was rolled up
 * before. serve calls these periodically, in bounded chunks, between its
 * ingest transactions (collector/retention.h).
 */

/* One hour of one (network, target, check). */
struct store_rollup {
    const char *network; /* NULL: results stored without a network */
    const char *target;
    const char *check;
    int64_t hour_us; /* start of the UTC hour */
    struct rollup r;
};

struct store_rollup_filter {
    const char *target;  /* required */
    const char *network; /* NULL = every network */
    const char *check;   /* NULL = every check */
    int64_t since_us;    /* hours that end after this; 0 = all */
    int64_t before_us;   /* hours that start before this; 0 = all */
};

/* What one store_prune() call removed. */
struct store_pruned {
    uint64_t results; /* raw results */
    uint64_t rollups; /* hourly aggregates */
};

/* Counts at most max stored results that no aggregate counts yet into
 * their hours, in one transaction of its own (never inside
 * store_begin()); *rolled says how many (fewer than max: none is left).
 * Returns 0 or -1. */
int store_rollup(struct store *s, size_t max, uint64_t *rolled) __attribute__((warn_unused_result));

/* Removes, in one transaction of its own, at most max rows in all: raw
 * results started before results_before_us that an aggregate counts
 * already (a result not yet rolled up stays, whatever its age), then
 * aggregates of hours that started before rollups_before_us (0: none).
 * *removed says what went; fewer than max in all means nothing is left
 * to remove. Returns 0 or -1. */
int store_prune(struct store *s, int64_t results_before_us, int64_t rollups_before_us, size_t max,
                struct store_pruned *removed) __attribute__((warn_unused_result));

/* The aggregates f selects, in (hour, network, check) order; a network
 * of NULL sorts first. Returns 0 or -1. */
typedef int (*store_rollup_cb)(const struct store_rollup *r, void *arg);
int store_rollups_each(struct store *s, const struct store_rollup_filter *f, store_rollup_cb cb,
                       void *arg);

/* ---- copying a whole store (migrate-store, collector/cli/migrate.h) ----------
 *
 * What a copy needs below the readers above: each agent's raw results by
 * sequence number with their exact bytes, the latest state as it is
 * (streaks and last known facts that the remaining results may no longer
 * reproduce once retention pruned the older ones), and every hourly
 * aggregate (including hours whose raw results are gone). A backend
 * without these refuses to be copied from or into, by name.
 */

/* One stored result as it was received. */
struct store_record {
    uint64_t seq;
    const char *network; /* the agent's network at ingest; NULL = none */
    const uint8_t *record;
    size_t len;
};

/* At most limit results of agent with seq > after_seq, in seq order.
 * Returns 0 or -1. */
typedef int (*store_record_cb)(const struct store_record *r, void *arg);
int store_records_each(struct store *s, const char *agent, uint64_t after_seq, size_t limit,
                       store_record_cb cb, void *arg);

/* The columns of a latest-state row after its key, in this order, as
 * text (NULL = SQL NULL; booleans "0"/"1"): a copy carries them without
 * knowing them. A column added to both backends is one more name here
 * and in each backend's reader (store_*_copy.c, store_pg_migrate.c). */
#define STORE_LATEST_COLUMNS                                                                       \
    "discovered, ok, layer, error, seq, at_us, since_us, total_us, detail, episode_us, flips,"     \
    " streak_n, fail_layer, fail_error, phase, phase_us, dns_hash, dns, addr_hash, address,"       \
    " cert_hash, cert, delivery_us"
#define STORE_LATEST_NCOLUMNS 23

struct store_latest_row {
    const char *agent;
    const char *target;
    const char *check;
    const char *network; /* NULL = none */
    const char *col[STORE_LATEST_NCOLUMNS];
};

/* Every latest-state row of agent, in (target, check) order. 0 or -1. */
typedef int (*store_latest_row_cb)(const struct store_latest_row *r, void *arg);
int store_latest_rows_each(struct store *s, const char *agent, store_latest_row_cb cb, void *arg);

/* Inserts or replaces the latest-state row of (agent, target, check); the
 * agent must exist. Within a transaction of the caller that stores no
 * results (ingest writes the keys it touched at commit, over this row).
 * 0 or -1. */
int store_latest_row_put(struct store *s, const struct store_latest_row *r)
    __attribute__((warn_unused_result));

/* Every aggregate of the first hour after after_hour_us that has any
 * (INT64_MIN: the oldest), in (network, check) order of any target; no
 * call when there is none. Hour by hour keeps memory to one hour's
 * aggregates. Returns 0 or -1. */
int store_rollups_next_hour(struct store *s, int64_t after_hour_us, store_rollup_cb cb, void *arg);

/* Inserts or replaces one aggregate (not merged: a copy run twice writes
 * the same row). Within the caller's transaction. 0 or -1. */
int store_rollup_put(struct store *s, const struct store_rollup *r)
    __attribute__((warn_unused_result));

/* Records every stored result as counted by the aggregates, so that
 * store_rollup() never counts a copied result into hours copied whole.
 * Within the caller's transaction. 0 or -1. */
int store_rollups_mark_all(struct store *s) __attribute__((warn_unused_result));

/* ---- findings: the life of each finding of continuous diagnosis ----------
 *
 * While serve runs, collector/notify/lifecycle.c diagnoses every target
 * every evaluate_every and keeps here what it found (docs/reference.md
 * "Findings"): one row per finding, keyed by its stable id, with the
 * state of its life and the latest finding object (diagnose --json's,
 * with its id) as JSON text; an event per opened/changed/resolved; and
 * the queue of notifications not yet delivered, so that a restart
 * neither loses nor repeats one. Other readers (findings, check, the
 * HTTP endpoint's /metrics) read open findings with store_open_findings()
 * instead of running the analysis again.
 */

enum store_finding_state {
    STORE_FINDING_PENDING,  /* seen once: not opened until it holds twice */
    STORE_FINDING_OPEN,     /* seen twice in a row; notified */
    STORE_FINDING_RESOLVED, /* clean twice in a row after it was open */
};

struct store_finding {
    const char *id; /* stable: docs/reference.md "Finding id" */
    const char *target;
    const char *severity; /* problem | warning */
    const char *verdict;
    const char *layer; /* NULL when the finding has none */
    enum store_finding_state state;
    uint32_t seen;          /* evaluations in a row that found it */
    uint32_t clean;         /* evaluations in a row without it, while open */
    int64_t first_seen_us;  /* the evaluation that first found it (this life) */
    int64_t opened_at_us;   /* 0 while pending */
    int64_t resolved_at_us; /* 0 unless resolved */
    int64_t started_at_us;  /* the finding's started_at */
    int64_t updated_at_us;  /* the last evaluation that wrote the row */
    const char *json;       /* the finding object, with "id"; never NULL */
};

struct store_finding_filter {
    const char *target; /* NULL = every target */
    bool open_only;     /* only STORE_FINDING_OPEN */
    bool with_pending;  /* also pending ones (the lifecycle's own read) */
    int64_t since_us;   /* only those updated since; 0 = all */
};

/* One opened/changed/resolved of a finding. */
struct store_finding_event {
    int64_t seq; /* set by the store, increasing */
    const char *finding_id;
    const char *target;
    int64_t at_us;
    const char *event; /* opened | changed | resolved */
    const char *json;  /* the finding object at that moment */
};

/* A notification waiting to be delivered to notifier (a [notify NAME]
 * section). body is exactly what is sent; secrets are never stored (the
 * webhook's signature is computed when it is sent). */
struct store_notification {
    int64_t id; /* set by the store, increasing */
    const char *notifier;
    const char *kind; /* alertmanager | webhook */
    const char *finding_id;
    const char *event;
    const char *body;
    uint32_t attempts;
    int64_t created_us;
    int64_t next_at_us; /* not sent before this */
};

/* Inserts or replaces the row of f->id. Returns 0 or -1. */
int store_finding_put(struct store *s, const struct store_finding *f)
    __attribute__((warn_unused_result));

/* Removes a pending finding that did not hold. Returns 0 or -1. */
int store_finding_delete(struct store *s, const char *id) __attribute__((warn_unused_result));

/* Findings in (target, opened or first seen) order; pending ones only
 * with f->with_pending. f NULL = every open or resolved finding. */
typedef int (*store_finding_cb)(const struct store_finding *f, void *arg);
int store_findings_each(struct store *s, const struct store_finding_filter *f, store_finding_cb cb,
                        void *arg);

/* The open findings of target (NULL = every target): what is wrong now
 * as the running collector sees it, without running the analysis. Cheap
 * (an index on the state). Returns 0 or -1. */
int store_open_findings(struct store *s, const char *target, store_finding_cb cb, void *arg);

/* Appends an event (e->seq is ignored). Returns 0 or -1. */
int store_finding_event_add(struct store *s, const struct store_finding_event *e)
    __attribute__((warn_unused_result));

/* Events in order, of target (NULL = all) since since_us (0 = all). */
typedef int (*store_finding_event_cb)(const struct store_finding_event *e, void *arg);
int store_finding_events_each(struct store *s, const char *target, int64_t since_us,
                              store_finding_event_cb cb, void *arg);

/* Queues a notification (n->id ignored). Returns 0 or -1. */
int store_notification_add(struct store *s, const struct store_notification *n)
    __attribute__((warn_unused_result));

/* Notifications due at now_us, oldest first, at most limit, and of each
 * (notifier, finding) only the oldest: a finding's events reach a
 * receiver in order even when one had to be retried. */
typedef int (*store_notification_cb)(const struct store_notification *n, void *arg);
int store_notifications_due(struct store *s, int64_t now_us, size_t limit, store_notification_cb cb,
                            void *arg);

/* Removes a delivered (or abandoned) notification. Returns 0 or -1. */
int store_notification_done(struct store *s, int64_t id) __attribute__((warn_unused_result));

/* Records a failed attempt: not tried again before next_at_us. */
int store_notification_retry(struct store *s, int64_t id, uint32_t attempts, int64_t next_at_us)
    __attribute__((warn_unused_result));

/* How many notifications wait; *next_at_us the earliest (0 when none). */
int store_notifications_pending(struct store *s, uint64_t *n, int64_t *next_at_us)
    __attribute__((warn_unused_result));

/* ---- several collectors on one database ----------------------------------
 *
 * Collectors that share a database keep nothing but their agent
 * connections to themselves (collector/cluster.h): a registry of the
 * running collectors, leases that let exactly one of them do what must
 * run once (continuous diagnosis and notifications), and the queue of
 * probe-now requests that each collector serves for the agents connected
 * to it, with its answer (whom it asked) flowing back through the store.
 */

#define STORE_COLLECTOR_ID_MAX 32 /* "c-" and 16 hex digits, with room */

/* One running (or lately running) collector. */
struct store_collector {
    const char *id; /* drawn at start: unique per run */
    const char *host;
    int64_t pid;
    int64_t started_us;
    int64_t heartbeat_us; /* its last heartbeat (its own clock) */
    const char *version;  /* the collector's software version */
    const char *targets;  /* the version (a hash) of its target list */
    uint32_t agents;      /* agents connected to it at that heartbeat */
};

/* Registers c or records its heartbeat (a row per id; every field is
 * replaced). Returns 0 or -1. */
int store_collector_put(struct store *s, const struct store_collector *c)
    __attribute__((warn_unused_result));

/* Removes collector id (a clean stop) and rows whose heartbeat is older
 * than forget_before_us (collectors that died long ago; 0 = none).
 * Returns 0 or -1. */
int store_collector_delete(struct store *s, const char *id, int64_t forget_before_us)
    __attribute__((warn_unused_result));

/* Every registered collector, oldest start first. Returns 0 or -1. */
typedef int (*store_collector_cb)(const struct store_collector *c, void *arg);
int store_collectors_each(struct store *s, store_collector_cb cb, void *arg);

/* A lease: name (what it allows, e.g. "evaluate"), who holds it and until
 * when (the holder's clock). */
struct store_lease {
    char holder[STORE_COLLECTOR_ID_MAX + 1]; /* "" when nobody does */
    int64_t expires_us;
};

/*
 * Takes or renews lease name for holder, atomically: it is taken when
 * nobody holds it, when holder already does, or when its holder let it
 * expire (expires_us <= now_us); it then runs until now_us + ttl_us.
 * Returns 1 when holder holds it now, 0 when another does, -1 on error;
 * *out (may be NULL) is the lease as it stands after the call.
 */
int store_lease_take(struct store *s, const char *name, const char *holder, int64_t now_us,
                     int64_t ttl_us, struct store_lease *out) __attribute__((warn_unused_result));

/* Gives lease name up if holder holds it, so that another takes it at
 * once (a clean stop). Returns 0 or -1. */
int store_lease_release(struct store *s, const char *name, const char *holder)
    __attribute__((warn_unused_result));

/* The lease as it stands (holder "" when there is none). Returns 0 or -1. */
int store_lease_get(struct store *s, const char *name, struct store_lease *out)
    __attribute__((warn_unused_result));

/* Whether holder holds lease name at now_us: inside a transaction, the
 * fence that keeps a holder who lost its lease (a stall past its expiry)
 * from writing what the new holder writes. Returns 1, 0, or -1. */
int store_lease_held(struct store *s, const char *name, const char *holder, int64_t now_us)
    __attribute__((warn_unused_result));

/* A probe-now request: every collector sends run-now for target to the
 * agents connected to it while the request has not expired. */
struct store_probe_request {
    int64_t id; /* set by the store, increasing */
    const char *target;
    int64_t created_us;
    int64_t expires_us;
};

/* What one collector did with a request: agents is a JSON array of the
 * names of the agents it asked (possibly empty). */
struct store_probe_answer {
    int64_t request_id;
    const char *collector;
    const char *agents;
    int64_t at_us;
};

/* Queues a request (r->id ignored; *id gets it) and wakes the collectors
 * (PostgreSQL: NOTIFY at commit). Requests that expired an hour before
 * r->created_us are removed with their answers. Returns 0 or -1. */
int store_probe_request_add(struct store *s, const struct store_probe_request *r, int64_t *id)
    __attribute__((warn_unused_result));

/* Requests with an id above after_id not expired at now_us, oldest
 * first (at most a few dozen per call on sqlite; the rest come with the
 * next). cb may write to the store (its answer): it runs outside the
 * read. Returns 0 or -1. */
typedef int (*store_probe_request_cb)(const struct store_probe_request *r, void *arg);
int store_probe_requests_after(struct store *s, int64_t after_id, int64_t now_us,
                               store_probe_request_cb cb, void *arg);

/* Records collector's answer to a request (one per collector: a second
 * replaces the first). Returns 0 or -1. */
int store_probe_answer_add(struct store *s, const struct store_probe_answer *a)
    __attribute__((warn_unused_result));

/* The answers to request_id so far. Returns 0 or -1. */
typedef int (*store_probe_answer_cb)(const struct store_probe_answer *a, void *arg);
int store_probe_answers_each(struct store *s, int64_t request_id, store_probe_answer_cb cb,
                             void *arg);

/* Starts listening for new requests, or makes sure it still listens.
 * *fd is a descriptor that becomes readable when one may have arrived
 * (then call store_probe_drain); it may change from one call to the
 * next (PostgreSQL: the socket of a connection of its own, reopened
 * here). *fd is -1 with 0 returned when the backend cannot wake anyone
 * (sqlite: poll store_probe_requests_after at a short interval). Returns
 * -1 (with *fd -1) when it cannot listen now: poll, and call it again
 * later (it may block for the connect timeout). */
int store_probe_listen(struct store *s, int *fd) __attribute__((warn_unused_result));

/* Consumes the wake-ups waiting on the listening descriptor. Returns 1
 * when there was one, 0 when none, -1 when the listening connection is
 * lost (its descriptor is closed: stop polling it and call
 * store_probe_listen again later). */
int store_probe_drain(struct store *s);

#endif
