/*
 * store_pg — what the PostgreSQL backend's files share (store_impl.h).
 *
 * store_pg.c owns the connection (open, reconnect, schema, migrations,
 * partitions, transactions); store_pg_ingest.c stores results, the latest
 * state and agents' sequence numbers, and store_pg_commit.c writes them at
 * commit; store_pg_read.c the readers;
 * store_pg_findings.c findings, events and the notification queue. More
 * operations (retention, several collectors) go into files of their own
 * that use the helpers below, never into these.
 *
 * Every message a helper writes names the database by
 * store_pg_where(): the location without its password.
 */
#ifndef VANTAGE_STORE_PG_H
#define VANTAGE_STORE_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "store.h"

/* The schema version this build writes, kept in vantage_schema. */
#define STORE_PG_SCHEMA_VERSION 5

/* Every key of pg_advisory_lock that Vantage takes is in this class
 * (the first int4 of the two-key form), so that other users of the same
 * database never collide with ours. */
#define STORE_PG_LOCK_CLASS     0x56414e54 /* "VANT" */
#define STORE_PG_LOCK_MIGRATE   1
#define STORE_PG_LOCK_PARTITION 2

/* results is partitioned by range on started_at_us, one partition per
 * UTC day (results_YYYYMMDD) plus results_default for rows no day
 * partition covers (a skewed clock, a day not created yet): no result is
 * ever refused for its time. */
#define STORE_PG_DAY_US 86400000000LL

/*
 * The hot path, shared with the fleet benchmark (bench/) so that
 * PostgreSQL's own COPY ceiling is measured into exactly this table with
 * exactly these rows: binary COPY, one row per result, columns in this
 * order; store_pg_copy_row() encodes one.
 */
#define STORE_PG_RESULT_COPY                                                                       \
    "COPY results(agent_id, seq, network_id, target_id, check_id, started_at_us, ok, layer,"       \
    " error, total_us, record) FROM STDIN (FORMAT binary)"

/* A growing buffer of binary COPY data (header written by _init). */
struct store_pg_copy {
    uint8_t *buf;
    size_t len, cap;
    size_t rows;
};

/* One row of STORE_PG_RESULT_COPY. network_id 0 = NULL. */
struct store_pg_row {
    int64_t agent_id, seq, network_id, target_id, check_id, started_at_us;
    bool ok;
    int16_t layer, error;
    int64_t total_us;
    const uint8_t *record;
    size_t len;
};

/* Starts (or restarts, keeping the memory) a COPY buffer. 0 or -1. */
int store_pg_copy_init(struct store_pg_copy *c) __attribute__((warn_unused_result));
/* Appends one row. 0, or -1 when out of memory. */
int store_pg_copy_row(struct store_pg_copy *c, const struct store_pg_row *r)
    __attribute__((warn_unused_result));
/* Sends the buffer (with its trailer) through STORE_PG_RESULT_COPY on
 * conn. 0, or -1 with err (what names the step). Leaves the buffer empty. */
int store_pg_copy_send(PGconn *conn, struct store_pg_copy *c, const char *where, char *err,
                       size_t errlen) __attribute__((warn_unused_result));
void store_pg_copy_free(struct store_pg_copy *c);

/* The backend's connection (b is store_pg_ops' state); never NULL after
 * open, but it may be broken (store_pg_ensure reconnects). */
PGconn *store_pg_conn(void *b);

/* A new connection to the backend's database in *conn (an old one there
 * is closed first; on failure *conn may hold the failed one, for
 * PQfinish). 0, or -1 with err naming the server and what to check. */
int store_pg_connect(void *b, PGconn **conn, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The slot of the connection that LISTENs for probe-now requests
 * (store_pg_cluster.c owns what is in it; store_close closes it). */
PGconn **store_pg_wake_conn(void *b);

/* The location for messages: conninfo without the password. */
const char *store_pg_where(void *b);

/* Whether b is inside store_begin .. store_commit. */
bool store_pg_in_txn(void *b);

/* Reconnects a broken connection (at most once a second; cheap when it
 * is fine). 0, or -1 with err naming the server and what to check. */
int store_pg_ensure(void *b, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Formats a failure of what (res may be NULL: the connection's error),
 * adds the GRANT to run when the role lacks a privilege, clears res.
 * Returns -1. */
int store_pg_fail(void *b, const char *what, PGresult *res, char *err, size_t errlen);

/* Runs sql with n text parameters (NULL = SQL NULL). Returns the result
 * when it has rows or is a command's; otherwise NULL with err. The caller
 * PQclear()s it. */
PGresult *store_pg_query(void *b, const char *sql, int n, const char *const *params,
                         const char *what, char *err, size_t errlen);

/* store_pg_query with every column of the result in binary format (bytea
 * as its bytes, not hex text; int8 as 8 bytes in network order). */
PGresult *store_pg_query_binary(void *b, const char *sql, int n, const char *const *params,
                                const char *what, char *err, size_t errlen);

/* store_pg_query for statements whose result is not needed. 0 or -1. */
int store_pg_run(void *b, const char *sql, int n, const char *const *params, const char *what,
                 char *err, size_t errlen) __attribute__((warn_unused_result));

/* Makes sure results has a partition for the UTC day of at_us, moving
 * rows of that day out of results_default (outside a transaction of the
 * store; under an advisory lock, so two collectors may call it at once).
 * 0 or -1. */
int store_pg_partition_ensure(void *b, int64_t at_us, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Text of an int64 for a parameter (buf of at least 24 bytes). */
const char *store_pg_i64(char *buf, int64_t v);
/* Column i of row 0..n as int64 (0 when NULL). */
int64_t store_pg_get_i64(const PGresult *res, int row, int col);
/* An int8 column of a binary result (store_pg_query_binary): 8 bytes in
 * network order; 0 when NULL or not 8 bytes. */
int64_t store_pg_get_i64_binary(const PGresult *res, int row, int col);
/* Column as text, NULL when SQL NULL (in a binary result too: libpq ends
 * every value with a NUL). */
const char *store_pg_get_text(const PGresult *res, int row, int col);

/* ingest (store_pg_ingest.c): the transaction's pending state. */
struct store_pg_ingest;
struct store_pg_ingest *store_pg_ingest_create(void);
void store_pg_ingest_destroy(struct store_pg_ingest **ip);
/* After a commit (forget_ids false): keeps what the transaction wrote.
 * After a rollback or reconnection (true): forgets all it kept, the
 * agents' stored sets and latest rows and the interned ids. */
void store_pg_ingest_reset(struct store_pg_ingest *in, bool forget_ids);
/* Agent id reconnected (results may have gone to another collector):
 * its kept state is read again at its next result. */
void store_pg_ingest_forget_agent(struct store_pg_ingest *in, int64_t agent_id);
/* Locks the transaction's agents (one statement, in id order) and checks
 * their stored sets unchanged, then writes the pending rows (COPY, then
 * the latest state and agents in one pipeline) before COMMIT. 0 or -1.
 * In store_pg_commit.c. */
int store_pg_ingest_flush(void *b, struct store_pg_ingest *in, char *err, size_t errlen)
    __attribute__((warn_unused_result));
struct store_pg_ingest *store_pg_ingest_of(void *b);

int store_pg_agent_id(void *b, const char *name, int64_t *id, char *err, size_t errlen);
int store_pg_agent_update(void *b, int64_t id, const struct store_agent *a, char *err,
                          size_t errlen);
int store_pg_agent_committed_seq(void *b, int64_t id, uint64_t *seq, char *err, size_t errlen);
int store_pg_agent_lost_add(void *b, int64_t id, uint64_t n, char *err, size_t errlen);
int store_pg_agent_counts_add(void *b, int64_t id, const struct store_agent_counts *c, char *err,
                              size_t errlen);
int store_pg_result_add(void *b, int64_t agent_id, const char *network, const struct result *r,
                        const uint8_t *record, size_t len, char *err, size_t errlen);
int store_pg_result_add_facts(void *b, int64_t agent_id, const char *network,
                              const struct result *r, const uint8_t *record, size_t len,
                              const struct store_facts *facts, struct store_prev *prev, char *err,
                              size_t errlen);
int store_pg_change_add(void *b, const struct store_change *c, char *err, size_t errlen);

/* readers (store_pg_read.c) */
int store_pg_agent_get(void *b, int64_t id, store_agent_cb cb, void *arg, char *err, size_t errlen);
int store_pg_agents_each(void *b, int64_t connected_after_us, store_agent_cb cb, void *arg,
                         char *err, size_t errlen);
int store_pg_results_each(void *b, const struct store_result_filter *f, store_result_cb cb,
                          void *arg, char *err, size_t errlen);
int store_pg_latest_each(void *b, const char *target, store_latest_cb cb, void *arg, char *err,
                         size_t errlen);
int store_pg_changes_each(void *b, const char *target, int64_t since_us, store_change_cb cb,
                          void *arg, char *err, size_t errlen);

/* findings (store_pg_findings.c) */
int store_pg_finding_put(void *b, const struct store_finding *f, char *err, size_t errlen);
int store_pg_finding_delete(void *b, const char *id, char *err, size_t errlen);
int store_pg_findings_each(void *b, const struct store_finding_filter *f, store_finding_cb cb,
                           void *arg, char *err, size_t errlen);
int store_pg_finding_event_add(void *b, const struct store_finding_event *e, char *err,
                               size_t errlen);
int store_pg_finding_events_each(void *b, const char *target, int64_t since_us,
                                 store_finding_event_cb cb, void *arg, char *err, size_t errlen);
int store_pg_notification_add(void *b, const struct store_notification *n, char *err,
                              size_t errlen);
int store_pg_notifications_due(void *b, int64_t now_us, size_t limit, store_notification_cb cb,
                               void *arg, char *err, size_t errlen);
int store_pg_notification_done(void *b, int64_t id, char *err, size_t errlen);
int store_pg_notification_retry(void *b, int64_t id, uint32_t attempts, int64_t next_at_us,
                                char *err, size_t errlen);
int store_pg_notifications_pending(void *b, uint64_t *n, int64_t *next_at_us, char *err,
                                   size_t errlen);

/* retention (store_pg_retention.c) */
int store_pg_rollup(void *b, size_t max, uint64_t *rolled, char *err, size_t errlen);
int store_pg_prune(void *b, int64_t results_before_us, int64_t rollups_before_us, size_t max,
                   struct store_pruned *removed, char *err, size_t errlen);
int store_pg_rollups_each(void *b, const struct store_rollup_filter *f, store_rollup_cb cb,
                          void *arg, char *err, size_t errlen);

/* copying a whole store (store_pg_migrate.c, and rollups_next_hour in
 * store_pg_retention.c; store.h) */
int store_pg_records_each(void *b, const char *agent, uint64_t after_seq, size_t limit,
                          store_record_cb cb, void *arg, char *err, size_t errlen);
int store_pg_latest_rows_each(void *b, const char *agent, store_latest_row_cb cb, void *arg,
                              char *err, size_t errlen);
int store_pg_latest_row_put(void *b, const struct store_latest_row *r, char *err, size_t errlen);
int store_pg_rollups_next_hour(void *b, int64_t after_hour_us, store_rollup_cb cb, void *arg,
                               char *err, size_t errlen);
int store_pg_rollup_put(void *b, const struct store_rollup *r, char *err, size_t errlen);
int store_pg_rollups_mark_all(void *b, char *err, size_t errlen);

#endif
