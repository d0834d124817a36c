/*
 * store_pg_retention — hourly rollups and pruning in the PostgreSQL
 * backend (store.h "retention", store_pg.h).
 *
 * Exactly once, with several collectors on one database: each agent's
 * row keeps `rolled`, the set of its sequence numbers the aggregates
 * count, beside `stored`, the set ingest stored (store_pg.c). A rollup is
 * one transaction of a few statements, each taking all its rows as
 * arrays (store_pg_array.h): it locks agents with something to roll up
 * as ingest does (FOR UPDATE, skipping those an ingest holds), reads the
 * results of their ranges of stored - rolled, adds them to their hours
 * (rollup_merge, under the hours' row locks) and adds the ranges to
 * rolled. A late result is a new seq in stored, so it is rolled up later
 * into its own hour, also one rolled up before. (One agent's range per
 * few statements cost the server about as many statements as ingest's
 * in a fleet's shape: bench/RESULTS.md.)
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
#include "store_pg_array.h"
#include "store_pg_track.h"

/* One call reads at most this many results into memory (about 64 bytes
 * each). */
#define ROLLUP_CHUNK_MAX 100000
/* Agents locked by one statement of a call. */
#define ROLLUP_AGENTS_MAX 256

struct pg_row {
    int64_t target_id, check_id, network_id, hour_us, started_at_us;
    uint64_t total_us;
    bool ok;
    int layer, error;
};

/* One hour's aggregate of the call: its key, what the call's results add,
 * and (after the read) the stored aggregate they merge into. */
struct pg_hour {
    int64_t key[4]; /* target_id, check_id, network_id, hour_us */
    struct rollup add, stored;
};

/* What one call rolls up, as array parameters. */
struct pg_rollup {
    struct store_pg_array agent, lo, hi; /* the ranges taken */
    struct store_pg_array key[4];        /* the hours' keys, in key order */
    struct store_pg_array val[7];        /* the merged aggregates */
    struct pg_row *rows;
    size_t nrows, caprows;
    struct pg_hour *hours;
    size_t nhours;
};

static void pg_rollup_free(struct pg_rollup *u)
{
    store_pg_array_free(&u->agent);
    store_pg_array_free(&u->lo);
    store_pg_array_free(&u->hi);
    for (int i = 0; i < 4; i++)
        store_pg_array_free(&u->key[i]);
    for (int i = 0; i < 7; i++)
        store_pg_array_free(&u->val[i]);
    free(u->rows);
    free(u->hours);
}

static int cmp_key(const int64_t *ka, const int64_t *kb)
{
    for (int i = 0; i < 4; i++)
        if (ka[i] != kb[i])
            return ka[i] < kb[i] ? -1 : 1;
    return 0;
}

static void row_key(const struct pg_row *r, int64_t k[4])
{
    k[0] = r->target_id;
    k[1] = r->check_id;
    k[2] = r->network_id;
    k[3] = r->hour_us;
}

static int cmp_row(const void *pa, const void *pb)
{
    int64_t ka[4], kb[4];
    row_key(pa, ka);
    row_key(pb, kb);
    return cmp_key(ka, kb);
}

static int oom(char *err, size_t errlen)
{
    snprintf(err, errlen, "database: out of memory rolling up");
    return -1;
}

/* Locks agents with results to roll up (as ingest locks them, skipping
 * those an ingest holds now) and takes their unrolled ranges in id and
 * seq order until *left seqs are taken. *after: the last agent looked
 * at; *more: whether agents past it may have some. */
static int take_ranges(void *b, struct pg_rollup *u, int64_t *after, size_t *left, bool *more,
                       char *err, size_t errlen)
{
    char a[24], l[24];
    size_t lim = *left < ROLLUP_AGENTS_MAX ? *left : ROLLUP_AGENTS_MAX;
    const char *params[2] = {store_pg_i64(a, *after), store_pg_i64(l, (int64_t)lim)};
    PGresult *res =
        store_pg_query(b,
                       "SELECT id, (stored - rolled)::text FROM agents WHERE id > $1"
                       " AND stored <> rolled ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
                       2, params, "finding results to roll up", err, errlen);
    if (res == NULL)
        return -1;
    int rc = 0;
    struct pg_ranges rs = {0};
    int nt = PQntuples(res);
    *more = (size_t)nt == lim;
    for (int i = 0; i < nt && *left != 0; i++) {
        int64_t agent = store_pg_get_i64(res, i, 0);
        rs.n = 0;
        if (pg_ranges_parse(&rs, PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1)) < 0) {
            snprintf(err, errlen,
                     "database %s: agent id %lld: its seqs to roll up are not readable",
                     store_pg_where(b), (long long)agent);
            rc = -1;
            break;
        }
        for (size_t j = 0; j < rs.n && *left != 0; j++) {
            int64_t lo = rs.r[j].lo, hi = rs.r[j].hi;
            if (hi <= lo)
                continue;
            if ((uint64_t)(hi - lo) > *left)
                hi = lo + (int64_t)*left;
            *left -= (size_t)(hi - lo);
            store_pg_array_i64(&u->agent, agent);
            store_pg_array_i64(&u->lo, lo);
            store_pg_array_i64(&u->hi, hi);
        }
        *after = agent;
    }
    if (*left == 0)
        *more = false;
    pg_ranges_free(&rs);
    PQclear(res);
    return rc;
}

/* Reads the results of the ranges taken (at most cap rows). */
static int read_rows(void *b, struct pg_rollup *u, const char *const *ranges, char *err,
                     size_t errlen)
{
    /* OFFSET 0 keeps the subquery a nested loop over the ranges, each an
     * index scan: flattened into a join, the planner hashed every row of
     * results (a full scan per call, bench/RESULTS.md). */
    PGresult *res =
        store_pg_query(b,
                       "SELECT x.target_id, x.check_id, COALESCE(x.network_id, 0),"
                       " x.started_at_us, x.ok, x.layer, x.error, x.total_us"
                       " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[])"
                       " AS p(agent_id, lo, hi), LATERAL (SELECT target_id, check_id, network_id,"
                       " started_at_us, ok, layer, error, total_us FROM results r"
                       " WHERE r.agent_id = p.agent_id AND r.seq >= p.lo"
                       " AND r.seq < p.hi OFFSET 0) x",
                       3, ranges, "reading results to roll up", err, errlen);
    if (res == NULL)
        return -1;
    size_t n = (size_t)PQntuples(res);
    if (n > u->caprows) {
        /* More rows than seqs: (agent, seq) is stored once, so a store
         * that says otherwise is damaged; nothing is counted. */
        snprintf(err, errlen, "database %s: %zu results for %zu sequence numbers to roll up",
                 store_pg_where(b), n, u->caprows);
        PQclear(res);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct pg_row *r = &u->rows[i];
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
    u->nrows = n;
    PQclear(res);
    return 0;
}

/* Groups the rows into their hours, in key order. */
static int group_rows(struct pg_rollup *u)
{
    qsort(u->rows, u->nrows, sizeof(*u->rows), cmp_row);
    u->hours = u->nrows ? malloc(u->nrows * sizeof(*u->hours)) : NULL;
    if (u->nrows && u->hours == NULL)
        return -1;
    u->nhours = 0;
    for (size_t i = 0; i < u->nrows;) {
        struct pg_hour *h = &u->hours[u->nhours++];
        *h = (struct pg_hour){0};
        row_key(&u->rows[i], h->key);
        size_t j = i;
        for (; j < u->nrows && cmp_row(&u->rows[i], &u->rows[j]) == 0; j++)
            rollup_add(&h->add, u->rows[j].ok, u->rows[j].total_us, u->rows[j].started_at_us,
                       u->rows[j].layer, u->rows[j].error);
        i = j;
    }
    for (int k = 0; k < 4; k++) {
        store_pg_array_start(&u->key[k]);
        for (size_t i = 0; i < u->nhours; i++)
            store_pg_array_i64(&u->key[k], u->hours[i].key[k]);
    }
    return 0;
}

/* Reads the stored aggregates of the hours, locked in key order (so that
 * two collectors rolling up at once never wait on each other in a
 * cycle). Hours not stored yet are first inserted empty: a row to lock,
 * so that a second collector adding to the same new hour waits for this
 * one's commit and then merges into its counts rather than overwriting
 * them. */
static int read_hours(void *b, struct pg_rollup *u, const char *const *keys, char *err,
                      size_t errlen)
{
    if (store_pg_run(b,
                     "INSERT INTO rollups(target_id, check_id, network_id, hour_us, n, ok,"
                     " total_us_sum, total_us_max, first_fail_us, fail_layer, fail_error)"
                     " SELECT t, c, nw, h, 0, 0, 0, 0, 0, 0, 0 FROM unnest($1::bigint[],"
                     " $2::bigint[], $3::bigint[], $4::bigint[]) AS k(t, c, nw, h)"
                     " ON CONFLICT DO NOTHING",
                     4, keys, "adding hourly aggregates", err, errlen) < 0)
        return -1;
    PGresult *res = store_pg_query(
        b,
        "SELECT r.target_id, r.check_id, r.network_id, r.hour_us, r.n, r.ok, r.total_us_sum,"
        " r.total_us_max, r.first_fail_us, r.fail_layer, r.fail_error FROM rollups r"
        " JOIN unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) AS k(t, c, nw, h)"
        " ON r.target_id = k.t AND r.check_id = k.c AND r.network_id = k.nw AND r.hour_us = k.h"
        " ORDER BY r.target_id, r.check_id, r.network_id, r.hour_us FOR UPDATE OF r",
        4, keys, "reading hourly aggregates", err, errlen);
    if (res == NULL)
        return -1;
    int rc = 0;
    size_t i = 0;
    for (int row = 0; row < PQntuples(res); row++) {
        int64_t key[4];
        for (int k = 0; k < 4; k++)
            key[k] = store_pg_get_i64(res, row, k);
        while (i < u->nhours && cmp_key(u->hours[i].key, key) < 0)
            i++;
        if (i == u->nhours || cmp_key(u->hours[i].key, key) != 0)
            continue;
        u->hours[i].stored = (struct rollup){
            .n = (uint64_t)store_pg_get_i64(res, row, 4),
            .ok = (uint64_t)store_pg_get_i64(res, row, 5),
            .total_us_sum = (uint64_t)store_pg_get_i64(res, row, 6),
            .total_us_max = (uint64_t)store_pg_get_i64(res, row, 7),
            .first_fail_us = store_pg_get_i64(res, row, 8),
            .fail_layer = (int)store_pg_get_i64(res, row, 9),
            .fail_error = (int)store_pg_get_i64(res, row, 10),
        };
        i++;
    }
    if ((size_t)PQntuples(res) != u->nhours) {
        snprintf(err, errlen, "database %s: %d of %zu hourly aggregates found to add to",
                 store_pg_where(b), PQntuples(res), u->nhours);
        rc = -1;
    }
    PQclear(res);
    return rc;
}

/* Writes the hours merged (rollup_merge) with what the call adds. */
static int write_hours(void *b, struct pg_rollup *u, const char *const *keys, char *err,
                       size_t errlen)
{
    for (int k = 0; k < 7; k++)
        store_pg_array_start(&u->val[k]);
    for (size_t i = 0; i < u->nhours; i++) {
        struct rollup acc = u->hours[i].stored;
        rollup_merge(&acc, &u->hours[i].add);
        bool failed = acc.ok < acc.n;
        store_pg_array_u64(&u->val[0], acc.n);
        store_pg_array_u64(&u->val[1], acc.ok);
        store_pg_array_u64(&u->val[2], acc.total_us_sum);
        store_pg_array_u64(&u->val[3], acc.total_us_max);
        store_pg_array_i64(&u->val[4], failed ? acc.first_fail_us : 0);
        store_pg_array_i64(&u->val[5], failed ? acc.fail_layer : 0);
        store_pg_array_i64(&u->val[6], failed ? acc.fail_error : 0);
    }
    const char *p[11];
    for (int k = 0; k < 4; k++)
        p[k] = keys[k];
    for (int k = 0; k < 7; k++)
        if ((p[4 + k] = store_pg_array_end(&u->val[k])) == NULL)
            return oom(err, errlen);
    return store_pg_run(
        b,
        "UPDATE rollups r SET n = v.n, ok = v.ok, total_us_sum = v.s, total_us_max = v.m,"
        " first_fail_us = v.ff, fail_layer = v.fl, fail_error = v.fe"
        " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[],"
        " $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[])"
        " AS v(t, c, nw, h, n, ok, s, m, ff, fl, fe)"
        " WHERE r.target_id = v.t AND r.check_id = v.c AND r.network_id = v.nw"
        " AND r.hour_us = v.h",
        11, p, "writing hourly aggregates", err, errlen);
}

/* One transaction: lock agents and take ranges, read their results, add
 * them to their hours, and add the ranges to the agents' rolled sets.
 * Six statements between BEGIN and COMMIT however many hours the call
 * covers (one more per further ROLLUP_AGENTS_MAX agents). */
static int rollup_txn(void *b, struct pg_rollup *u, size_t max, uint64_t *rolled, char *err,
                      size_t errlen)
{
    store_pg_array_start(&u->agent);
    store_pg_array_start(&u->lo);
    store_pg_array_start(&u->hi);
    int64_t after = 0;
    size_t left = max;
    bool more = true;
    while (more && left > 0)
        if (take_ranges(b, u, &after, &left, &more, err, errlen) < 0)
            return -1;
    if (u->agent.n == 0)
        return 0;
    const char *ranges[3] = {store_pg_array_end(&u->agent), store_pg_array_end(&u->lo),
                             store_pg_array_end(&u->hi)};
    if (ranges[0] == NULL || ranges[1] == NULL || ranges[2] == NULL)
        return oom(err, errlen);
    if (read_rows(b, u, ranges, err, errlen) < 0)
        return -1;
    if (group_rows(u) < 0)
        return oom(err, errlen);
    if (u->nhours > 0) {
        const char *keys[4];
        for (int k = 0; k < 4; k++)
            if ((keys[k] = store_pg_array_end(&u->key[k])) == NULL)
                return oom(err, errlen);
        if (read_hours(b, u, keys, err, errlen) < 0 || write_hours(b, u, keys, err, errlen) < 0)
            return -1;
    }
    *rolled = u->nrows;
    /* range_agg: an agent's several ranges, one row of the UPDATE. */
    return store_pg_run(b,
                        "UPDATE agents a SET rolled = a.rolled + v.m FROM (SELECT agent_id,"
                        " range_agg(int8range(lo, hi)) AS m FROM unnest($1::bigint[],"
                        " $2::bigint[], $3::bigint[]) AS p(agent_id, lo, hi) GROUP BY agent_id)"
                        " AS v WHERE a.id = v.agent_id",
                        3, ranges, "recording what was rolled up", err, errlen);
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
    struct pg_rollup u = {.caprows = max};
    if ((u.rows = malloc(max * sizeof(*u.rows))) == NULL)
        return oom(err, errlen);
    int rc = store_pg_run(b, "BEGIN", 0, NULL, "starting the rollup", err, errlen);
    if (rc == 0)
        rc = rollup_txn(b, &u, max, rolled, err, errlen);
    pg_rollup_free(&u);
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
