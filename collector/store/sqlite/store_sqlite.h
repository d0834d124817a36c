/*
 * store_sqlite — what the sqlite backend's files share. store_sqlite.c
 * owns the connection, the schema and transactions;
 * store_sqlite_ingest.c the writes of ingest and the in-memory maps they
 * use; store_sqlite_read.c the readers; store_sqlite_retention.c the
 * hourly rollups and pruning; store_sqlite_findings.c keeps
 * findings, their events and the notification queue on the connection
 * (store.h "findings"); store_sqlite_copy.c what migrate-store reads and
 * writes. The backend's state (struct sqlite_store) is
 * defined here for these files alone; nothing outside them includes this
 * header.
 */
#ifndef VANTAGE_STORE_SQLITE_H
#define VANTAGE_STORE_SQLITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "keymap.h"
#include "store.h"
#include "store_impl.h"

/* Interned names of one table: name -> id, open addressing. */
struct intern_slot {
    uint64_t hash;
    char *name; /* NULL = empty slot */
    int64_t id;
};

struct intern {
    const char *table;
    sqlite3_stmt *find;
    sqlite3_stmt *add;
    struct intern_slot *slots;
    size_t cap; /* power of two, or 0 */
    size_t n;
};

/* The latest state of one (agent, target, check) as this transaction
 * sees it: loaded from the table on first touch, updated in memory by
 * every newer result, written at commit when dirty. */
struct latest {
    int64_t agent_id, target_id, check_id, network_id;
    bool had;   /* a state exists (stored, or set earlier in this txn) */
    bool dirty; /* changed by this transaction */
    bool ok, discovered;
    int layer, error;
    uint64_t seq;
    int64_t at_us, since_us;
    uint64_t total_us;
    char *detail;      /* valid when has_detail; reused between rows */
    size_t detail_cap; /* bytes allocated at detail */
    bool has_detail;
    struct store_streak streak;
    int fail_layer, fail_error;
    int phase;
    uint64_t phase_us;
    uint64_t delivery_us;                /* mailflow: the latest test mail's delivery time */
    uint64_t fact_hash[STORE_FACT_LAST]; /* last known value of each fact */
    char *fact_text[STORE_FACT_LAST];    /* set when changed by this txn */
};

/* The highest seq a transaction stored for an agent. */
struct agent_seq {
    int64_t agent_id;
    uint64_t max_seq;
};

struct sqlite_store {
    sqlite3 *db;
    char *path;
    bool in_txn;

    sqlite3_stmt *begin, *commit, *rollback;
    sqlite3_stmt *result_insert;
    sqlite3_stmt *latest_get, *latest_put;
    sqlite3_stmt *agent_find, *agent_add, *agent_seq_get, *agent_seq_put, *agent_update;
    sqlite3_stmt *change_add;
    sqlite3_stmt *latest_facts;    /* texts of one key's facts: the rare path */
    char *before[STORE_FACT_LAST]; /* store_prev texts of the last call */

    struct intern targets, checks, networks;

    struct keymap latest_map;
    struct latest *latest;
    size_t nlatest, caplatest;

    struct keymap seq_map;
    struct agent_seq *seqs;
    size_t nseqs, capseqs;

    struct keymap known_agents; /* agent ids seen in the agents table */
    sqlite3_stmt *agent_exists;
};

/* The backend's connection and file (b is store_sqlite_ops' state). */
sqlite3 *store_sqlite_db(void *b);
const char *store_sqlite_path(void *b);

/* Writes "database: WHAT: <sqlite's message>" into err; returns -1. */
int store_sqlite_db_fail(sqlite3 *db, const char *what, char *err, size_t errlen);

/* For the statements prepared per call (collectors, findings, retention):
 * fail writes "database PATH: WHAT: <sqlite's message>" and returns -1;
 * prep prepares sql (*st NULL on failure); run steps a writing statement
 * once and finalizes it; each calls row() per row until it returns
 * non-zero (negative: an error, -1 with err set), then finalizes. */
int store_sqlite_fail(void *b, const char *what, char *err, size_t errlen);
int store_sqlite_prep(void *b, sqlite3_stmt **st, const char *sql, char *err, size_t errlen);
int store_sqlite_run(void *b, sqlite3_stmt *st, const char *what, char *err, size_t errlen);
int store_sqlite_each(void *b, sqlite3_stmt *st, int (*row)(sqlite3_stmt *st, void *ctx), void *ctx,
                      char *err, size_t errlen);

/* Steps a cached statement once, then resets it and clears its bindings.
 * Returns 0, or -1 with err naming what. */
int store_sqlite_step_done(struct sqlite_store *b, sqlite3_stmt *st, const char *what, char *err,
                           size_t errlen);

/* In-memory maps (store_sqlite_ingest.c): forget every cached name of a
 * table; free a key map; forget what the transaction kept in memory. */
void store_sqlite_intern_clear(struct intern *in);
void store_sqlite_pending_clear(struct sqlite_store *b);

/* store_ops of store_sqlite_ingest.c (contracts: store.h). */
int store_sqlite_agent_id(void *b, const char *name, int64_t *id, char *err, size_t errlen);
int store_sqlite_agent_update(void *b, int64_t id, const struct store_agent *a, char *err,
                              size_t errlen);
int store_sqlite_agent_lost_add(void *b, int64_t id, uint64_t n, char *err, size_t errlen);
int store_sqlite_agent_counts_add(void *b, int64_t id, const struct store_agent_counts *c,
                                  char *err, size_t errlen);
int store_sqlite_agent_committed_seq(void *b, int64_t id, uint64_t *seq, char *err, size_t errlen);
int store_sqlite_result_add(void *b, int64_t agent_id, const char *network, const struct result *r,
                            const uint8_t *record, size_t len, char *err, size_t errlen);
int store_sqlite_result_add_facts(void *b, int64_t agent_id, const char *network,
                                  const struct result *r, const uint8_t *record, size_t len,
                                  const struct store_facts *facts, struct store_prev *prev,
                                  char *err, size_t errlen);
int store_sqlite_change_add(void *b, const struct store_change *c, char *err, size_t errlen);

/* store_ops of store_sqlite_read.c. */
int store_sqlite_agents_each(void *b, int64_t connected_after_us, store_agent_cb cb, void *arg,
                             char *err, size_t errlen);
int store_sqlite_agent_get(void *b, int64_t id, store_agent_cb cb, void *arg, char *err,
                           size_t errlen);
int store_sqlite_results_each(void *b, const struct store_result_filter *f, store_result_cb cb,
                              void *arg, char *err, size_t errlen);
int store_sqlite_latest_each(void *b, const char *target, store_latest_cb cb, void *arg, char *err,
                             size_t errlen);
int store_sqlite_changes_each(void *b, const char *target, int64_t since_us, store_change_cb cb,
                              void *arg, char *err, size_t errlen);

/* store_ops of store_sqlite_findings.c. */
int store_sqlite_finding_put(void *b, const struct store_finding *f, char *err, size_t errlen);
int store_sqlite_finding_delete(void *b, const char *id, char *err, size_t errlen);
int store_sqlite_findings_each(void *b, const struct store_finding_filter *f, store_finding_cb cb,
                               void *arg, char *err, size_t errlen);
int store_sqlite_finding_event_add(void *b, const struct store_finding_event *e, char *err,
                                   size_t errlen);
int store_sqlite_finding_events_each(void *b, const char *target, int64_t since_us,
                                     store_finding_event_cb cb, void *arg, char *err,
                                     size_t errlen);
int store_sqlite_notification_add(void *b, const struct store_notification *n, char *err,
                                  size_t errlen);
int store_sqlite_notifications_due(void *b, int64_t now_us, size_t limit, store_notification_cb cb,
                                   void *arg, char *err, size_t errlen);
int store_sqlite_notification_done(void *b, int64_t id, char *err, size_t errlen);
int store_sqlite_notification_retry(void *b, int64_t id, uint32_t attempts, int64_t next_at_us,
                                    char *err, size_t errlen);
int store_sqlite_notifications_pending(void *b, uint64_t *n, int64_t *next_at_us, char *err,
                                       size_t errlen);

/* store_ops of store_sqlite_retention.c. */
int store_sqlite_rollup(void *b, size_t max, uint64_t *rolled, char *err, size_t errlen);
int store_sqlite_prune(void *b, int64_t results_before_us, int64_t rollups_before_us, size_t max,
                       struct store_pruned *removed, char *err, size_t errlen);
int store_sqlite_rollups_each(void *b, const struct store_rollup_filter *f, store_rollup_cb cb,
                              void *arg, char *err, size_t errlen);

/* store_ops of store_sqlite_copy.c (store.h "copying a whole store"). */
int store_sqlite_records_each(void *b, const char *agent, uint64_t after_seq, size_t limit,
                              store_record_cb cb, void *arg, char *err, size_t errlen);
int store_sqlite_latest_rows_each(void *b, const char *agent, store_latest_row_cb cb, void *arg,
                                  char *err, size_t errlen);
int store_sqlite_latest_row_put(void *b, const struct store_latest_row *r, char *err,
                                size_t errlen);
int store_sqlite_rollups_next_hour(void *b, int64_t after_hour_us, store_rollup_cb cb, void *arg,
                                   char *err, size_t errlen);
int store_sqlite_rollup_put(void *b, const struct store_rollup *r, char *err, size_t errlen);
int store_sqlite_rollups_mark_all(void *b, char *err, size_t errlen);

#endif
