/*
 * store_sqlite_copy — the sqlite backend's side of copying a whole store
 * (store.h "copying a whole store", collector/cli/migrate.c): raw results by
 * sequence number and latest-state rows read and written as they are,
 * hourly aggregates written (store_sqlite_retention.c reads them).
 *
 * Names are the contract between two stores, never ids: a row written
 * here interns its target, check and network by name (INSERT OR IGNORE,
 * then the id by a sub-select), as ingest's own interning would find
 * them later.
 */
#include <stdio.h>
#include <string.h>

#include "store_sqlite.h"

static int prep(struct sqlite_store *b, sqlite3_stmt **st, const char *sql, const char *what,
                char *err, size_t errlen)
{
    *st = NULL;
    if (sqlite3_prepare_v2(b->db, sql, -1, st, NULL) != SQLITE_OK)
        return store_sqlite_db_fail(b->db, what, err, errlen);
    return 0;
}

/* Steps a reader to the end, row(st, arg) per row until it returns
 * non-zero; finalizes st. 0 or -1. */
static int each(struct sqlite_store *b, sqlite3_stmt *st, const char *what,
                int (*row)(sqlite3_stmt *st, void *ctx), void *ctx, char *err, size_t errlen)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (row(st, ctx) != 0)
            break;
    int ret = 0;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        ret = store_sqlite_db_fail(b->db, what, err, errlen);
    sqlite3_finalize(st);
    return ret;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

struct record_ctx {
    store_record_cb cb;
    void *arg;
};

static int record_row(sqlite3_stmt *st, void *p)
{
    struct record_ctx *c = p;
    struct store_record r = {
        .seq = (uint64_t)sqlite3_column_int64(st, 0),
        .network = col_text(st, 1),
        .record = sqlite3_column_blob(st, 2),
        .len = (size_t)sqlite3_column_bytes(st, 2),
    };
    return c->cb(&r, c->arg);
}

int store_sqlite_records_each(void *p, const char *agent, uint64_t after_seq, size_t limit,
                              store_record_cb cb, void *arg, char *err, size_t errlen)
{
    struct sqlite_store *b = p;
    sqlite3_stmt *st;
    /* The (agent_id, seq) unique index serves the range and the order. */
    if (prep(b, &st,
             "SELECT r.seq, n.name, r.record FROM results r"
             " LEFT JOIN networks n ON n.id = r.network_id"
             " WHERE r.agent_id = (SELECT id FROM agents WHERE name = ?1) AND r.seq > ?2"
             " ORDER BY r.seq LIMIT ?3",
             "listing results to copy", err, errlen) < 0)
        return -1;
    sqlite3_bind_text(st, 1, agent, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, after_seq > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)after_seq);
    sqlite3_bind_int64(st, 3, limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit);
    struct record_ctx c = {cb, arg};
    return each(b, st, "listing results to copy", record_row, &c, err, errlen);
}

struct latest_ctx {
    store_latest_row_cb cb;
    void *arg;
};

static int latest_row(sqlite3_stmt *st, void *p)
{
    struct latest_ctx *c = p;
    struct store_latest_row r = {
        .agent = col_text(st, 0),
        .target = col_text(st, 1),
        .check = col_text(st, 2),
        .network = col_text(st, 3),
    };
    for (int i = 0; i < STORE_LATEST_NCOLUMNS; i++)
        r.col[i] = col_text(st, 4 + i);
    return c->cb(&r, c->arg);
}

int store_sqlite_latest_rows_each(void *p, const char *agent, store_latest_row_cb cb, void *arg,
                                  char *err, size_t errlen)
{
    struct sqlite_store *b = p;
    sqlite3_stmt *st;
    if (prep(b, &st,
             "SELECT a.name, t.name, c.name, n.name, l.discovered, l.ok, l.layer, l.error,"
             " l.seq, l.at_us, l.since_us, l.total_us, l.detail, l.episode_us, l.flips,"
             " l.streak_n, l.fail_layer, l.fail_error, l.phase, l.phase_us, l.dns_hash, l.dns,"
             " l.addr_hash, l.address, l.cert_hash, l.cert, l.delivery_us"
             " FROM latest l JOIN agents a ON a.id = l.agent_id"
             " JOIN targets t ON t.id = l.target_id JOIN checks c ON c.id = l.check_id"
             " LEFT JOIN networks n ON n.id = l.network_id"
             " WHERE a.name = ?1 ORDER BY t.name, c.name",
             "listing the latest state to copy", err, errlen) < 0)
        return -1;
    sqlite3_bind_text(st, 1, agent, -1, SQLITE_STATIC);
    struct latest_ctx c = {cb, arg};
    return each(b, st, "listing the latest state to copy", latest_row, &c, err, errlen);
}

/* Makes sure name is in table (targets, checks or networks). */
static int intern(struct sqlite_store *b, const char *table, const char *name, char *err,
                  size_t errlen)
{
    char sql[64];
    snprintf(sql, sizeof(sql), "INSERT OR IGNORE INTO %s(name) VALUES (?1)", table);
    sqlite3_stmt *st;
    if (prep(b, &st, sql, table, err, errlen) < 0)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return store_sqlite_db_fail(b->db, table, err, errlen);
    return 0;
}

/* The names a copied row refers to (network NULL: none). */
static int intern_names(struct sqlite_store *b, const char *target, const char *check,
                        const char *network, char *err, size_t errlen)
{
    if (intern(b, "targets", target, err, errlen) < 0 ||
        intern(b, "checks", check, err, errlen) < 0)
        return -1;
    return network != NULL ? intern(b, "networks", network, err, errlen) : 0;
}

int store_sqlite_latest_row_put(void *p, const struct store_latest_row *r, char *err, size_t errlen)
{
    struct sqlite_store *b = p;
    /* Ingest keeps the latest state of the keys it touched in memory and
     * writes it at commit, which would overwrite this row: a copied row
     * goes in a transaction without results. */
    if (!b->in_txn || b->nlatest > 0 || b->nseqs > 0) {
        snprintf(err, errlen,
                 "database: a latest-state row is written in a transaction without results");
        return -1;
    }
    if (intern_names(b, r->target, r->check, r->network, err, errlen) < 0)
        return -1;
    sqlite3_stmt *st;
    /* Text into INTEGER columns: sqlite's affinity stores them as integers. */
    if (prep(b, &st,
             "INSERT OR REPLACE INTO latest(agent_id, target_id, check_id, "
             "network_id, " STORE_LATEST_COLUMNS
             ") VALUES ((SELECT id FROM agents WHERE name = ?1),"
             " (SELECT id FROM targets WHERE name = ?2), (SELECT id FROM checks WHERE name = ?3),"
             " (SELECT id FROM networks WHERE name = ?4), ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
             " ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)",
             "writing a latest-state row", err, errlen) < 0)
        return -1;
    const char *key[4] = {r->agent, r->target, r->check, r->network};
    for (int i = 0; i < 4; i++)
        if (key[i] != NULL)
            sqlite3_bind_text(st, i + 1, key[i], -1, SQLITE_STATIC);
    for (int i = 0; i < STORE_LATEST_NCOLUMNS; i++)
        if (r->col[i] != NULL)
            sqlite3_bind_text(st, 5 + i, r->col[i], -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return store_sqlite_db_fail(b->db, "writing a latest-state row", err, errlen);
    return 0;
}

int store_sqlite_rollup_put(void *p, const struct store_rollup *r, char *err, size_t errlen)
{
    struct sqlite_store *b = p;
    if (!b->in_txn) {
        snprintf(err, errlen, "database: an hourly aggregate is written inside a transaction");
        return -1;
    }
    if (intern_names(b, r->target, r->check, r->network, err, errlen) < 0)
        return -1;
    sqlite3_stmt *st;
    /* network_id 0: results stored without a network (as rollups keeps them). */
    if (prep(b, &st,
             "INSERT OR REPLACE INTO rollups(target_id, check_id, network_id, hour_us, n, ok,"
             " total_us_sum, total_us_max, first_fail_us, fail_layer, fail_error)"
             " VALUES ((SELECT id FROM targets WHERE name = ?1),"
             " (SELECT id FROM checks WHERE name = ?2),"
             " COALESCE((SELECT id FROM networks WHERE name = ?3), 0),"
             " ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
             "writing an hourly aggregate", err, errlen) < 0)
        return -1;
    sqlite3_bind_text(st, 1, r->target, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->check, -1, SQLITE_STATIC);
    if (r->network != NULL)
        sqlite3_bind_text(st, 3, r->network, -1, SQLITE_STATIC);
    const uint64_t u[4] = {r->r.n, r->r.ok, r->r.total_us_sum, r->r.total_us_max};
    sqlite3_bind_int64(st, 4, r->hour_us);
    for (int i = 0; i < 4; i++)
        sqlite3_bind_int64(st, 5 + i, u[i] > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u[i]);
    sqlite3_bind_int64(st, 9, r->r.first_fail_us);
    sqlite3_bind_int(st, 10, r->r.fail_layer);
    sqlite3_bind_int(st, 11, r->r.fail_error);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return store_sqlite_db_fail(b->db, "writing an hourly aggregate", err, errlen);
    return 0;
}

int store_sqlite_rollups_mark_all(void *p, char *err, size_t errlen)
{
    struct sqlite_store *b = p;
    if (!b->in_txn) {
        snprintf(err, errlen, "database: marking results rolled up needs a transaction");
        return -1;
    }
    /* rolled_id is a high-water mark of results.id (store_sqlite_retention.c). */
    if (sqlite3_exec(b->db,
                     "UPDATE rollup_state SET rolled_id ="
                     " MAX(rolled_id, (SELECT COALESCE(MAX(id), 0) FROM results))",
                     NULL, NULL, NULL) != SQLITE_OK)
        return store_sqlite_db_fail(b->db, "marking results rolled up", err, errlen);
    return 0;
}
