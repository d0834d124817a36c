/*
 * store_sqlite_retention — hourly rollups and pruning in the sqlite
 * backend (store.h "retention", store_sqlite.h).
 *
 * Exactly once: rollup_state.rolled_id is the highest results.id the
 * aggregates count. store_rollup() reads the rows above it in id order,
 * adds them to their hours and moves rolled_id, all in one transaction,
 * so a row is counted once whether it arrived on time, late, or after
 * its hour was rolled up before. This needs ids that only grow: sqlite
 * gives a new row the highest id plus one, so pruning never removes the
 * row of the highest id (and nothing else deletes results).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollup.h"
#include "store_sqlite.h"

/* One store_rollup() call reads at most this many results: about 64 bytes
 * each in memory, and a transaction short enough that ingest, which waits
 * for it on the same thread, is held up for milliseconds. */
#define ROLLUP_CHUNK_MAX 100000

/* The columns of a result that its hour needs. */
struct rollup_row {
    int64_t target_id, check_id, network_id, hour_us;
    int64_t started_at_us;
    uint64_t total_us;
    bool ok;
    int layer, error;
};

/* Starts this call's own transaction: the ops run between ingest's. */
static int txn_begin(struct sqlite_store *b, const char *op, char *err, size_t errlen)
{
    if (b->in_txn) {
        snprintf(err, errlen, "database: %s inside a transaction", op);
        return -1;
    }
    if (sqlite3_exec(b->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return store_sqlite_fail(b, op, err, errlen);
    return 0;
}

static int txn_end(struct sqlite_store *b, bool ok, const char *op, char *err, size_t errlen)
{
    if (ok && sqlite3_exec(b->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    if (ok)
        store_sqlite_fail(b, op, err, errlen);
    sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static int rolled_id(struct sqlite_store *b, int64_t *id, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (store_sqlite_prep(b, &st, "SELECT rolled_id FROM rollup_state", err, errlen) < 0)
        return -1;
    int rc = sqlite3_step(st);
    *id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return store_sqlite_fail(b, "reading the rollup state", err, errlen);
    return 0;
}

static int cmp_row(const void *pa, const void *pb)
{
    const struct rollup_row *a = pa, *b = pb;
    const int64_t ka[4] = {a->target_id, a->check_id, a->network_id, a->hour_us};
    const int64_t kb[4] = {b->target_id, b->check_id, b->network_id, b->hour_us};
    for (int i = 0; i < 4; i++)
        if (ka[i] != kb[i])
            return ka[i] < kb[i] ? -1 : 1;
    return 0;
}

static int64_t clamp64(uint64_t v)
{
    return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* Adds acc to the stored aggregate of row's hour (rollup_merge, so that
 * the arithmetic is rollup.c's alone). */
static int hour_merge(struct sqlite_store *b, sqlite3_stmt *get, sqlite3_stmt *put,
                      const struct rollup_row *row, struct rollup acc, char *err, size_t errlen)
{
    const int64_t key[4] = {row->target_id, row->check_id, row->network_id, row->hour_us};
    for (int i = 0; i < 4; i++)
        sqlite3_bind_int64(get, i + 1, key[i]);
    int rc = sqlite3_step(get);
    if (rc == SQLITE_ROW) {
        struct rollup old = {
            .n = (uint64_t)sqlite3_column_int64(get, 0),
            .ok = (uint64_t)sqlite3_column_int64(get, 1),
            .total_us_sum = (uint64_t)sqlite3_column_int64(get, 2),
            .total_us_max = (uint64_t)sqlite3_column_int64(get, 3),
            .first_fail_us = sqlite3_column_int64(get, 4),
            .fail_layer = sqlite3_column_int(get, 5),
            .fail_error = sqlite3_column_int(get, 6),
        };
        rollup_merge(&old, &acc);
        acc = old;
    }
    sqlite3_reset(get);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_sqlite_fail(b, "reading an hourly aggregate", err, errlen);
    for (int i = 0; i < 4; i++)
        sqlite3_bind_int64(put, i + 1, key[i]);
    sqlite3_bind_int64(put, 5, clamp64(acc.n));
    sqlite3_bind_int64(put, 6, clamp64(acc.ok));
    sqlite3_bind_int64(put, 7, clamp64(acc.total_us_sum));
    sqlite3_bind_int64(put, 8, clamp64(acc.total_us_max));
    sqlite3_bind_int64(put, 9, acc.ok < acc.n ? acc.first_fail_us : 0);
    sqlite3_bind_int(put, 10, acc.ok < acc.n ? acc.fail_layer : 0);
    sqlite3_bind_int(put, 11, acc.ok < acc.n ? acc.fail_error : 0);
    rc = sqlite3_step(put);
    sqlite3_reset(put);
    if (rc != SQLITE_DONE)
        return store_sqlite_fail(b, "writing an hourly aggregate", err, errlen);
    return 0;
}

/* Reads the results above after (at most max) into rows; *last the
 * highest id read. */
static int rows_read(struct sqlite_store *b, int64_t after, size_t max, struct rollup_row *rows,
                     size_t *n, int64_t *last, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (store_sqlite_prep(
            b, &st,
            "SELECT id, target_id, check_id, COALESCE(network_id, 0), started_at_us, ok, layer,"
            " error, total_us FROM results WHERE id > ?1 ORDER BY id LIMIT ?2",
            err, errlen) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, (int64_t)max);
    int rc;
    *n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct rollup_row *r = &rows[(*n)++];
        *last = sqlite3_column_int64(st, 0);
        r->target_id = sqlite3_column_int64(st, 1);
        r->check_id = sqlite3_column_int64(st, 2);
        r->network_id = sqlite3_column_int64(st, 3);
        r->started_at_us = sqlite3_column_int64(st, 4);
        r->hour_us = rollup_hour_of(r->started_at_us);
        r->ok = sqlite3_column_int(st, 5) != 0;
        r->layer = sqlite3_column_int(st, 6);
        r->error = sqlite3_column_int(st, 7);
        int64_t total = sqlite3_column_int64(st, 8);
        r->total_us = total > 0 ? (uint64_t)total : 0;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return store_sqlite_fail(b, "reading results to roll up", err, errlen);
    return 0;
}

int store_sqlite_rollup(void *p, size_t max, uint64_t *rolled, char *err, size_t errlen)
{
    struct sqlite_store *b = p;
    *rolled = 0;
    if (max == 0)
        return 0;
    if (b->in_txn) {
        snprintf(err, errlen, "database: rolling up results inside a transaction");
        return -1;
    }
    if (max > ROLLUP_CHUNK_MAX)
        max = ROLLUP_CHUNK_MAX;
    /* Nothing new (serve asks every 2 s, mostly for nothing): a read,
     * without taking the write lock or touching the WAL. */
    int64_t done = 0, newest = 0;
    sqlite3_stmt *peek;
    if (rolled_id(b, &done, err, errlen) < 0 ||
        store_sqlite_prep(b, &peek, "SELECT COALESCE(MAX(id), 0) FROM results", err, errlen) < 0)
        return -1;
    int prc = sqlite3_step(peek);
    newest = prc == SQLITE_ROW ? sqlite3_column_int64(peek, 0) : 0;
    sqlite3_finalize(peek);
    if (prc != SQLITE_ROW)
        return store_sqlite_fail(b, "reading the newest result", err, errlen);
    if (newest <= done)
        return 0;
    struct rollup_row *rows = malloc(max * sizeof(*rows));
    if (rows == NULL) {
        snprintf(err, errlen, "database: out of memory rolling up");
        return -1;
    }
    sqlite3_stmt *get = NULL, *put = NULL, *mark = NULL;
    if (txn_begin(b, "rolling up results", err, errlen) < 0) {
        free(rows);
        return -1;
    }
    int64_t after = 0, last = 0;
    size_t n = 0;
    bool ok = rolled_id(b, &after, err, errlen) == 0 &&
              rows_read(b, after, max, rows, &n, &last, err, errlen) == 0;
    if (ok && n > 0) {
        ok =
            store_sqlite_prep(b, &get,
                              "SELECT n, ok, total_us_sum, total_us_max, first_fail_us, fail_layer,"
                              " fail_error FROM rollups WHERE target_id = ?1 AND check_id = ?2"
                              " AND network_id = ?3 AND hour_us = ?4",
                              err, errlen) == 0 &&
            store_sqlite_prep(
                b, &put,
                "INSERT OR REPLACE INTO rollups(target_id, check_id, network_id, hour_us, n,"
                " ok, total_us_sum, total_us_max, first_fail_us, fail_layer, fail_error)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                err, errlen) == 0 &&
            store_sqlite_prep(b, &mark, "UPDATE rollup_state SET rolled_id = ?1", err, errlen) == 0;
        /* One read and one write per hour touched, not per result. */
        qsort(rows, n, sizeof(*rows), cmp_row);
        for (size_t i = 0; ok && i < n;) {
            struct rollup acc = {0};
            size_t j = i;
            for (; j < n && cmp_row(&rows[i], &rows[j]) == 0; j++)
                rollup_add(&acc, rows[j].ok, rows[j].total_us, rows[j].started_at_us, rows[j].layer,
                           rows[j].error);
            ok = hour_merge(b, get, put, &rows[i], acc, err, errlen) == 0;
            i = j;
        }
        if (ok) {
            sqlite3_bind_int64(mark, 1, last);
            ok = sqlite3_step(mark) == SQLITE_DONE;
            if (!ok)
                store_sqlite_fail(b, "recording what was rolled up", err, errlen);
        }
    }
    sqlite3_finalize(get);
    sqlite3_finalize(put);
    sqlite3_finalize(mark);
    free(rows);
    if (txn_end(b, ok, "committing the rollup", err, errlen) < 0)
        return -1;
    *rolled = n;
    return 0;
}

/* Runs a DELETE with ?1 = before and ?2 = limit; *n the rows it removed. */
static int delete_some(struct sqlite_store *b, const char *sql, int64_t before, int64_t rolled,
                       size_t limit, uint64_t *n, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (store_sqlite_prep(b, &st, sql, err, errlen) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, before);
    sqlite3_bind_int64(st, 2, (int64_t)limit);
    if (sqlite3_bind_parameter_count(st) >= 3)
        sqlite3_bind_int64(st, 3, rolled);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return store_sqlite_fail(b, "pruning", err, errlen);
    *n = (uint64_t)sqlite3_changes(b->db);
    return 0;
}

int store_sqlite_prune(void *p, int64_t results_before_us, int64_t rollups_before_us, size_t max,
                       struct store_pruned *removed, char *err, size_t errlen)
{
    struct sqlite_store *b = p;
    *removed = (struct store_pruned){0};
    if (max == 0)
        return 0;
    if (max > (size_t)INT64_MAX)
        max = (size_t)INT64_MAX;
    if (txn_begin(b, "pruning", err, errlen) < 0)
        return -1;
    int64_t rolled = 0;
    /* The IN over targets walks the (target_id, started_at_us) index
     * from its oldest end per target instead of scanning the table. The
     * row of the highest id stays (see the top of this file), and so does
     * the latest result of every (agent, target, check): compare and
     * diagnose read facts from it (a certificate's expiry, an rdap://
     * check's registration, run every 6 h) however old it is. */
    bool ok = rolled_id(b, &rolled, err, errlen) == 0 &&
              delete_some(b,
                          "DELETE FROM results WHERE id IN (SELECT id FROM results r"
                          " WHERE target_id IN (SELECT id FROM targets) AND started_at_us < ?1"
                          " AND id <= ?3 AND id < (SELECT MAX(id) FROM results)"
                          " AND NOT EXISTS (SELECT 1 FROM latest l"
                          "  WHERE l.agent_id = r.agent_id AND l.seq = r.seq) LIMIT ?2)",
                          results_before_us, rolled, max, &removed->results, err, errlen) == 0;
    if (ok && rollups_before_us != 0 && removed->results < max)
        ok = delete_some(b,
                         "DELETE FROM rollups WHERE (target_id, check_id, network_id, hour_us)"
                         " IN (SELECT target_id, check_id, network_id, hour_us FROM rollups"
                         " WHERE hour_us < ?1 LIMIT ?2)",
                         rollups_before_us, 0, max - removed->results, &removed->rollups, err,
                         errlen) == 0;
    if (txn_end(b, ok, "committing the pruning", err, errlen) < 0) {
        *removed = (struct store_pruned){0};
        return -1;
    }
    return 0;
}

/* The aggregates with their names, for the readers below. */
#define ROLLUP_SELECT                                                                              \
    "SELECT nw.name, t.name, c.name, r.hour_us, r.n, r.ok, r.total_us_sum, r.total_us_max,"        \
    " r.first_fail_us, r.fail_layer, r.fail_error FROM rollups r"                                  \
    " JOIN targets t ON t.id = r.target_id JOIN checks c ON c.id = r.check_id"                     \
    " LEFT JOIN networks nw ON nw.id = r.network_id"

/* Steps ROLLUP_SELECT's rows into cb until it stops; finalizes st.
 * as_stored: layer and error as the row has them (a copy), otherwise
 * values a newer build wrote are shown as unknown. 0 or -1. */
static int rollup_rows(struct sqlite_store *b, sqlite3_stmt *st, bool as_stored, store_rollup_cb cb,
                       void *arg, const char *what, char *err, size_t errlen)
{
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int layer = sqlite3_column_int(st, 9), error = sqlite3_column_int(st, 10);
        struct store_rollup r = {
            .network = (const char *)sqlite3_column_text(st, 0),
            .target = (const char *)sqlite3_column_text(st, 1),
            .check = (const char *)sqlite3_column_text(st, 2),
            .hour_us = sqlite3_column_int64(st, 3),
            .r =
                {
                    .n = (uint64_t)sqlite3_column_int64(st, 4),
                    .ok = (uint64_t)sqlite3_column_int64(st, 5),
                    .total_us_sum = (uint64_t)sqlite3_column_int64(st, 6),
                    .total_us_max = (uint64_t)sqlite3_column_int64(st, 7),
                    .first_fail_us = sqlite3_column_int64(st, 8),
                    .fail_layer =
                        as_stored || (layer >= 0 && layer < RESULT_LAYER_LAST) ? layer : 0,
                    .fail_error = as_stored || (error >= 0 && error < RESULT_ERROR_LAST)
                                      ? error
                                      : RESULT_INTERNAL,
                },
        };
        if (cb(&r, arg) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        ret = store_sqlite_fail(b, what, err, errlen);
    sqlite3_finalize(st);
    return ret;
}

int store_sqlite_rollups_each(void *p, const struct store_rollup_filter *f, store_rollup_cb cb,
                              void *arg, char *err, size_t errlen)
{
    struct sqlite_store *b = p;
    if (f->target == NULL) {
        snprintf(err, errlen, "database: the hourly history needs a target");
        return -1;
    }
    sqlite3_stmt *st;
    if (store_sqlite_prep(
            b, &st,
            ROLLUP_SELECT
            " WHERE t.name = ?1 AND (?2 IS NULL OR nw.name = ?2) AND (?3 IS NULL OR c.name = ?3)"
            " AND r.hour_us > ?4 AND r.hour_us < ?5"
            " ORDER BY r.hour_us, nw.name, c.name",
            err, errlen) < 0)
        return -1;
    sqlite3_bind_text(st, 1, f->target, -1, SQLITE_STATIC);
    if (f->network != NULL)
        sqlite3_bind_text(st, 2, f->network, -1, SQLITE_STATIC);
    if (f->check != NULL)
        sqlite3_bind_text(st, 3, f->check, -1, SQLITE_STATIC);
    /* An hour ends after since when it starts after since - 1 h. */
    sqlite3_bind_int64(st, 4,
                       f->since_us > INT64_MIN + ROLLUP_HOUR_US && f->since_us != 0
                           ? f->since_us - ROLLUP_HOUR_US
                           : INT64_MIN);
    sqlite3_bind_int64(st, 5, f->before_us != 0 ? f->before_us : INT64_MAX);
    return rollup_rows(b, st, false, cb, arg, "reading the hourly history", err, errlen);
}

int store_sqlite_rollups_next_hour(void *p, int64_t after_hour_us, store_rollup_cb cb, void *arg,
                                   char *err, size_t errlen)
{
    struct sqlite_store *b = p;
    sqlite3_stmt *st;
    if (store_sqlite_prep(b, &st,
                          ROLLUP_SELECT
                          " WHERE r.hour_us = (SELECT min(hour_us) FROM rollups WHERE hour_us > ?1)"
                          " ORDER BY t.name, nw.name, c.name",
                          err, errlen) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, after_hour_us);
    /* Copied as stored: also values a newer build wrote. */
    return rollup_rows(b, st, true, cb, arg, "listing hourly aggregates to copy", err, errlen);
}
