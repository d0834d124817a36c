/*
 * store_pg_retention — hourly rollups and pruning in the PostgreSQL
 * backend (store.h "retention", store_pg.h).
 *
 * Exactly once, with several collectors on one database: each agent's
 * row keeps `rolled`, the set of its sequence numbers the aggregates
 * count, beside `stored`, the set ingest stored (store_pg.c). A rollup
 * locks an agent's row as ingest does (FOR UPDATE, skipping one that an
 * ingest holds), reads the results of the lowest range of stored -
 * rolled, adds them to their hours and adds the range to rolled, in one
 * transaction. A late result is a new seq in stored, so it is rolled up
 * later into its own hour, also one rolled up before.
 *
 * Pruning drops whole day partitions of results (results_YYYYMMDD) that
 * end before the horizon once no row in them is left to roll up; rows a
 * skewed clock put in results_default are deleted. Retention on
 * PostgreSQL is therefore in whole UTC days: a result goes on the first
 * run after its day has wholly passed the horizon.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rollup.h"
#include "store_pg.h"

/* One call reads at most this many results into memory (about 64 bytes
 * each). */
#define ROLLUP_CHUNK_MAX 100000

struct pg_row {
    int64_t target_id, check_id, network_id, hour_us, started_at_us;
    uint64_t total_us;
    bool ok;
    int layer, error;
};

static int cmp_row(const void *pa, const void *pb)
{
    const struct pg_row *a = pa, *b = pb;
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

/* Adds acc to its stored hour: the row is locked (FOR UPDATE) while it is
 * merged by rollup_merge; hours are taken in key order, so two
 * collectors rolling up at once never wait on each other in a cycle. */
static int hour_merge(void *b, const struct pg_row *row, struct rollup acc, char *err,
                      size_t errlen)
{
    char k[4][24];
    const char *key[4] = {store_pg_i64(k[0], row->target_id), store_pg_i64(k[1], row->check_id),
                          store_pg_i64(k[2], row->network_id), store_pg_i64(k[3], row->hour_us)};
    PGresult *res = store_pg_query(b,
                                   "SELECT n, ok, total_us_sum, total_us_max, first_fail_us,"
                                   " fail_layer, fail_error FROM rollups WHERE target_id = $1"
                                   " AND check_id = $2 AND network_id = $3 AND hour_us = $4"
                                   " FOR UPDATE",
                                   4, key, "reading an hourly aggregate", err, errlen);
    if (res == NULL)
        return -1;
    if (PQntuples(res) == 1) {
        struct rollup old = {
            .n = (uint64_t)store_pg_get_i64(res, 0, 0),
            .ok = (uint64_t)store_pg_get_i64(res, 0, 1),
            .total_us_sum = (uint64_t)store_pg_get_i64(res, 0, 2),
            .total_us_max = (uint64_t)store_pg_get_i64(res, 0, 3),
            .first_fail_us = store_pg_get_i64(res, 0, 4),
            .fail_layer = (int)store_pg_get_i64(res, 0, 5),
            .fail_error = (int)store_pg_get_i64(res, 0, 6),
        };
        rollup_merge(&old, &acc);
        acc = old;
    }
    PQclear(res);
    bool failed = acc.ok < acc.n;
    char v[7][24];
    const char *params[11] = {key[0],
                              key[1],
                              key[2],
                              key[3],
                              store_pg_i64(v[0], clamp64(acc.n)),
                              store_pg_i64(v[1], clamp64(acc.ok)),
                              store_pg_i64(v[2], clamp64(acc.total_us_sum)),
                              store_pg_i64(v[3], clamp64(acc.total_us_max)),
                              store_pg_i64(v[4], failed ? acc.first_fail_us : 0),
                              store_pg_i64(v[5], failed ? acc.fail_layer : 0),
                              store_pg_i64(v[6], failed ? acc.fail_error : 0)};
    return store_pg_run(b,
                        "INSERT INTO rollups(target_id, check_id, network_id, hour_us, n, ok,"
                        " total_us_sum, total_us_max, first_fail_us, fail_layer, fail_error)"
                        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                        " ON CONFLICT (target_id, check_id, network_id, hour_us) DO UPDATE SET"
                        " n = excluded.n, ok = excluded.ok, total_us_sum = excluded.total_us_sum,"
                        " total_us_max = excluded.total_us_max,"
                        " first_fail_us = excluded.first_fail_us,"
                        " fail_layer = excluded.fail_layer, fail_error = excluded.fail_error",
                        11, params, "writing an hourly aggregate", err, errlen);
}

/* Rolls up one range [lo, hi) of agent's seqs. *n the results read. */
static int rollup_range(void *b, int64_t agent, int64_t lo, int64_t hi, struct pg_row *rows,
                        size_t *n, char *err, size_t errlen)
{
    char a[24], l[24], h[24];
    const char *params[3] = {store_pg_i64(a, agent), store_pg_i64(l, lo), store_pg_i64(h, hi)};
    PGresult *res = store_pg_query(b,
                                   "SELECT target_id, check_id, COALESCE(network_id, 0),"
                                   " started_at_us, ok, layer, error, total_us FROM results"
                                   " WHERE agent_id = $1 AND seq >= $2 AND seq < $3",
                                   3, params, "reading results to roll up", err, errlen);
    if (res == NULL)
        return -1;
    *n = (size_t)PQntuples(res);
    for (size_t i = 0; i < *n; i++) {
        struct pg_row *r = &rows[i];
        r->target_id = store_pg_get_i64(res, (int)i, 0);
        r->check_id = store_pg_get_i64(res, (int)i, 1);
        r->network_id = store_pg_get_i64(res, (int)i, 2);
        r->started_at_us = store_pg_get_i64(res, (int)i, 3);
        r->hour_us = rollup_hour_of(r->started_at_us);
        r->ok = PQgetvalue(res, (int)i, 4)[0] == 't';
        r->layer = (int)store_pg_get_i64(res, (int)i, 5);
        r->error = (int)store_pg_get_i64(res, (int)i, 6);
        int64_t t = store_pg_get_i64(res, (int)i, 7);
        r->total_us = t > 0 ? (uint64_t)t : 0;
    }
    PQclear(res);
    qsort(rows, *n, sizeof(*rows), cmp_row);
    for (size_t i = 0; i < *n;) {
        struct rollup acc = {0};
        size_t j = i;
        for (; j < *n && cmp_row(&rows[i], &rows[j]) == 0; j++)
            rollup_add(&acc, rows[j].ok, rows[j].total_us, rows[j].started_at_us, rows[j].layer,
                       rows[j].error);
        if (hour_merge(b, &rows[i], acc, err, errlen) < 0)
            return -1;
        i = j;
    }
    return store_pg_run(b,
                        "UPDATE agents SET rolled = rolled + int8multirange(int8range($2, $3))"
                        " WHERE id = $1",
                        3, params, "recording what was rolled up", err, errlen);
}

int store_pg_rollup(void *b, size_t max, uint64_t *rolled, char *err, size_t errlen)
{
    *rolled = 0;
    if (max == 0)
        return 0;
    if (store_pg_in_txn(b)) {
        snprintf(err, errlen, "database: rolling up results inside a transaction");
        return -1;
    }
    if (max > ROLLUP_CHUNK_MAX)
        max = ROLLUP_CHUNK_MAX;
    if (store_pg_ensure(b, err, errlen) < 0)
        return -1;
    struct pg_row *rows = malloc(max * sizeof(*rows));
    if (rows == NULL) {
        snprintf(err, errlen, "database: out of memory rolling up");
        return -1;
    }
    if (store_pg_run(b, "BEGIN", 0, NULL, "starting the rollup", err, errlen) < 0) {
        free(rows);
        return -1;
    }
    int rc = 0;
    int64_t after = 0;
    size_t left = max;
    /* Agent by agent, each locked as ingest locks it; one an ingest holds
     * now is skipped (its range waits for the next call). */
    while (rc == 0 && left > 0) {
        char a[24];
        const char *params[1] = {store_pg_i64(a, after)};
        PGresult *res = store_pg_query(b,
                                       "SELECT a.id, lower(x.r), upper(x.r) FROM agents a,"
                                       " LATERAL (SELECT r FROM unnest(a.stored - a.rolled) r"
                                       "  ORDER BY lower(r) LIMIT 1) x"
                                       " WHERE a.id > $1 ORDER BY a.id LIMIT 1"
                                       " FOR UPDATE OF a SKIP LOCKED",
                                       1, params, "finding results to roll up", err, errlen);
        if (res == NULL) {
            rc = -1;
            break;
        }
        if (PQntuples(res) == 0) {
            PQclear(res);
            break;
        }
        int64_t agent = store_pg_get_i64(res, 0, 0);
        int64_t lo = store_pg_get_i64(res, 0, 1), hi = store_pg_get_i64(res, 0, 2);
        PQclear(res);
        if (hi - lo > (int64_t)left)
            hi = lo + (int64_t)left;
        size_t n = 0;
        rc = rollup_range(b, agent, lo, hi, rows, &n, err, errlen);
        *rolled += n;
        left -= (size_t)(hi - lo) < left ? (size_t)(hi - lo) : left;
        after = agent;
    }
    free(rows);
    if (rc == 0 && store_pg_run(b, "COMMIT", 0, NULL, "committing the rollup", err, errlen) == 0)
        return 0;
    PQclear(PQexec(store_pg_conn(b), "ROLLBACK"));
    *rolled = 0;
    return -1;
}

/* The day partitions of results (results_YYYYMMDD) that end before
 * before_us, oldest first, as names into names (at most cap). */
static int old_partitions(void *b, int64_t before_us, char (*names)[32], size_t cap, size_t *n,
                          char *err, size_t errlen)
{
    *n = 0;
    PGresult *res = store_pg_query(b,
                                   "SELECT c.relname FROM pg_inherits i"
                                   " JOIN pg_class c ON c.oid = i.inhrelid"
                                   " WHERE i.inhparent = 'results'::regclass"
                                   " AND c.relname ~ '^results_[0-9]{8}$' ORDER BY c.relname",
                                   0, NULL, "listing the partitions of results", err, errlen);
    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res) && *n < cap; i++) {
        const char *name = PQgetvalue(res, i, 0);
        struct tm tm = {0};
        if (sscanf(name, "results_%4d%2d%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3)
            continue;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        int64_t end = ((int64_t)timegm(&tm) + 86400) * 1000000;
        if (end > before_us)
            break;
        snprintf(names[(*n)++], sizeof(names[0]), "%s", name);
    }
    PQclear(res);
    return 0;
}

/* Whether partition part holds a result no aggregate counts yet: a seq
 * in its agent's stored - rolled (through the partition's (agent_id,
 * seq) index; after a rollup that set is empty or small). */
static int unrolled_in(void *b, const char *part, bool *any, char *err, size_t errlen)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT EXISTS (SELECT 1 FROM agents a, unnest(a.stored - a.rolled) r"
             " WHERE EXISTS (SELECT 1 FROM %s p WHERE p.agent_id = a.id"
             " AND p.seq >= lower(r) AND p.seq < upper(r)))",
             part);
    PGresult *res =
        store_pg_query(b, sql, 0, NULL, "checking a partition is rolled up", err, errlen);
    if (res == NULL)
        return -1;
    *any = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return 0;
}

/* Drops one partition that is wholly rolled up; *rows how many it held. */
static int drop_partition(void *b, const char *part, uint64_t *rows, char *err, size_t errlen)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", part);
    PGresult *res = store_pg_query(b, sql, 0, NULL, "counting a partition", err, errlen);
    if (res == NULL)
        return -1;
    *rows = (uint64_t)store_pg_get_i64(res, 0, 0);
    PQclear(res);
    snprintf(sql, sizeof(sql), "DROP TABLE %s", part);
    return store_pg_run(b, sql, 0, NULL, "dropping a partition", err, errlen);
}

/* Partitions dropped by one call at most: each DROP is cheap, but takes
 * a short exclusive lock on results that ingest waits for. */
#define PRUNE_PARTITIONS_MAX 32

int store_pg_prune(void *b, int64_t results_before_us, int64_t rollups_before_us, size_t max,
                   struct store_pruned *removed, char *err, size_t errlen)
{
    *removed = (struct store_pruned){0};
    if (max == 0)
        return 0;
    if (store_pg_in_txn(b)) {
        snprintf(err, errlen, "database: pruning inside a transaction");
        return -1;
    }
    if (store_pg_ensure(b, err, errlen) < 0)
        return -1;
    char parts[PRUNE_PARTITIONS_MAX][32];
    size_t nparts = 0;
    if (old_partitions(b, results_before_us, parts, PRUNE_PARTITIONS_MAX, &nparts, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < nparts; i++) {
        bool any = false;
        uint64_t rows = 0;
        if (store_pg_run(b, "BEGIN", 0, NULL, "starting to prune", err, errlen) < 0)
            return -1;
        int rc = unrolled_in(b, parts[i], &any, err, errlen);
        if (rc == 0 && !any)
            rc = drop_partition(b, parts[i], &rows, err, errlen);
        if (rc == 0)
            rc = store_pg_run(b, "COMMIT", 0, NULL, "committing the pruning", err, errlen);
        if (rc < 0) {
            PQclear(PQexec(store_pg_conn(b), "ROLLBACK"));
            return -1;
        }
        removed->results += rows;
    }
    /* Rows a skewed clock put in the default partition, and the hours
     * past rollup_retention: deleted, in chunks. */
    char before[24], lim[24], rbefore[24];
    size_t left = removed->results < max ? max - removed->results : 0;
    const char *p1[2] = {store_pg_i64(before, results_before_us), store_pg_i64(lim, (int64_t)left)};
    PGresult *res = left == 0 ? NULL
                              : store_pg_query(b,
                                               "DELETE FROM results_default WHERE ctid IN"
                                               " (SELECT d.ctid FROM results_default d"
                                               " JOIN agents a ON a.id = d.agent_id"
                                               " WHERE d.started_at_us < $1"
                                               " AND d.seq <@ a.rolled LIMIT $2)",
                                               2, p1, "pruning", err, errlen);
    if (left != 0 && res == NULL)
        return -1;
    if (res != NULL) {
        removed->results += strtoull(PQcmdTuples(res), NULL, 10);
        PQclear(res);
    }
    left = removed->results < max ? max - removed->results : 0;
    if (rollups_before_us != 0 && left > 0) {
        const char *p2[2] = {store_pg_i64(rbefore, rollups_before_us),
                             store_pg_i64(lim, (int64_t)left)};
        res = store_pg_query(b,
                             "DELETE FROM rollups WHERE (target_id, check_id, network_id, hour_us)"
                             " IN (SELECT target_id, check_id, network_id, hour_us FROM rollups"
                             " WHERE hour_us < $1 LIMIT $2)",
                             2, p2, "pruning hourly aggregates", err, errlen);
        if (res == NULL)
            return -1;
        removed->rollups = strtoull(PQcmdTuples(res), NULL, 10);
        PQclear(res);
    }
    return 0;
}

/* The aggregates with their names, for the readers below. */
#define ROLLUP_SELECT                                                                              \
    "SELECT nw.name, t.name, c.name, r.hour_us, r.n, r.ok, r.total_us_sum, r.total_us_max,"        \
    " r.first_fail_us, r.fail_layer, r.fail_error FROM rollups r"                                  \
    " JOIN targets t ON t.id = r.target_id JOIN checks c ON c.id = r.check_id"                     \
    " LEFT JOIN networks nw ON nw.id = r.network_id"

/* Calls cb with each row of ROLLUP_SELECT until it stops; clears res.
 * as_stored: layer and error as the row has them (a copy), otherwise
 * values a newer build wrote are shown as unknown. */
static void rollup_rows(PGresult *res, bool as_stored, store_rollup_cb cb, void *arg)
{
    for (int i = 0; i < PQntuples(res); i++) {
        int layer = (int)store_pg_get_i64(res, i, 9), error = (int)store_pg_get_i64(res, i, 10);
        struct store_rollup r = {
            .network = store_pg_get_text(res, i, 0),
            .target = store_pg_get_text(res, i, 1),
            .check = store_pg_get_text(res, i, 2),
            .hour_us = store_pg_get_i64(res, i, 3),
            .r =
                {
                    .n = (uint64_t)store_pg_get_i64(res, i, 4),
                    .ok = (uint64_t)store_pg_get_i64(res, i, 5),
                    .total_us_sum = (uint64_t)store_pg_get_i64(res, i, 6),
                    .total_us_max = (uint64_t)store_pg_get_i64(res, i, 7),
                    .first_fail_us = store_pg_get_i64(res, i, 8),
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
    PQclear(res);
}

int store_pg_rollups_each(void *b, const struct store_rollup_filter *f, store_rollup_cb cb,
                          void *arg, char *err, size_t errlen)
{
    if (f->target == NULL) {
        snprintf(err, errlen, "database: the hourly history needs a target");
        return -1;
    }
    if (store_pg_ensure(b, err, errlen) < 0)
        return -1;
    char since[24], before[24];
    int64_t s = f->since_us != 0 && f->since_us > INT64_MIN + ROLLUP_HOUR_US
                    ? f->since_us - ROLLUP_HOUR_US
                    : INT64_MIN;
    const char *params[5] = {f->target, f->network, f->check, store_pg_i64(since, s),
                             store_pg_i64(before, f->before_us != 0 ? f->before_us : INT64_MAX)};
    PGresult *res = store_pg_query(
        b,
        ROLLUP_SELECT " WHERE t.name = $1 AND ($2::text IS NULL OR nw.name = $2)"
                      " AND ($3::text IS NULL OR c.name = $3) AND r.hour_us > $4::bigint"
                      " AND r.hour_us < $5::bigint ORDER BY r.hour_us, nw.name NULLS FIRST, c.name",
        5, params, "reading the hourly history", err, errlen);
    if (res == NULL)
        return -1;
    rollup_rows(res, false, cb, arg);
    return 0;
}

int store_pg_rollups_next_hour(void *b, int64_t after_hour_us, store_rollup_cb cb, void *arg,
                               char *err, size_t errlen)
{
    if (store_pg_ensure(b, err, errlen) < 0)
        return -1;
    char after[24];
    const char *p[1] = {store_pg_i64(after, after_hour_us)};
    PGresult *res = store_pg_query(
        b,
        ROLLUP_SELECT
        " WHERE r.hour_us = (SELECT min(hour_us) FROM rollups WHERE hour_us > $1::bigint)"
        " ORDER BY t.name COLLATE \"C\", nw.name COLLATE \"C\" NULLS FIRST,"
        " c.name COLLATE \"C\"",
        1, p, "listing hourly aggregates to copy", err, errlen);
    if (res == NULL)
        return -1;
    /* Copied as stored: also values a newer build wrote. */
    rollup_rows(res, true, cb, arg);
    return 0;
}
