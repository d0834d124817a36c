/*
 * store_pg_migrate — the PostgreSQL backend's side of copying a whole
 * store (store.h "copying a whole store", collector/cli/migrate.c): raw
 * results by sequence number and latest-state rows read and written as
 * they are, hourly aggregates written (store_pg_retention.c reads them).
 *
 * Names are the contract between two stores, never ids: a row written
 * here interns its target, check and network by name (INSERT ... ON
 * CONFLICT DO NOTHING, then the id by a sub-select), as ingest finds
 * them later. Every read is bounded by its caller: one page of one
 * agent's results, one agent's latest rows, one hour's aggregates.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_pg.h"

int store_pg_records_each(void *b, const char *agent, uint64_t after_seq, size_t limit,
                          store_record_cb cb, void *arg, char *err, size_t errlen)
{
    if (store_pg_ensure(b, err, errlen) < 0)
        return -1;
    char after[24], lim[24];
    const char *p[3] = {
        agent,
        store_pg_i64(after, after_seq > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)after_seq),
        store_pg_i64(lim, limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit)};
    /* results_agent_seq on every partition gives the order (a merge). */
    /* Binary: the records as their bytes (as results_each reads them). */
    PGresult *res =
        store_pg_query_binary(b,
                              "SELECT r.seq, n.name, r.record FROM results r"
                              " LEFT JOIN networks n ON n.id = r.network_id"
                              " WHERE r.agent_id = (SELECT id FROM agents WHERE name = $1)"
                              " AND r.seq > $2::bigint ORDER BY r.seq LIMIT $3::bigint",
                              3, p, "listing results to copy", err, errlen);
    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        struct store_record r = {
            .seq = (uint64_t)store_pg_get_i64_binary(res, i, 0),
            .network = store_pg_get_text(res, i, 1),
            .record = (const uint8_t *)PQgetvalue(res, i, 2),
            .len = (size_t)PQgetlength(res, i, 2),
        };
        if (cb(&r, arg) != 0)
            break;
    }
    PQclear(res);
    return 0;
}

int store_pg_latest_rows_each(void *b, const char *agent, store_latest_row_cb cb, void *arg,
                              char *err, size_t errlen)
{
    if (store_pg_ensure(b, err, errlen) < 0)
        return -1;
    const char *p[1] = {agent};
    /* Booleans as 0/1, the form sqlite keeps and both accept back. */
    PGresult *res = store_pg_query(
        b,
        "SELECT a.name, t.name, c.name, n.name, l.discovered::int, l.ok::int, l.layer, l.error,"
        " l.seq, l.at_us, l.since_us, l.total_us, l.detail, l.episode_us, l.flips, l.streak_n,"
        " l.fail_layer, l.fail_error, l.phase, l.phase_us, l.dns_hash, l.dns, l.addr_hash,"
        " l.address, l.cert_hash, l.cert, l.delivery_us"
        " FROM latest l JOIN agents a ON a.id = l.agent_id"
        " JOIN targets t ON t.id = l.target_id JOIN checks c ON c.id = l.check_id"
        " LEFT JOIN networks n ON n.id = l.network_id"
        " WHERE a.name = $1 ORDER BY t.name COLLATE \"C\", c.name COLLATE \"C\"",
        1, p, "listing the latest state to copy", err, errlen);
    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        struct store_latest_row r = {
            .agent = store_pg_get_text(res, i, 0),
            .target = store_pg_get_text(res, i, 1),
            .check = store_pg_get_text(res, i, 2),
            .network = store_pg_get_text(res, i, 3),
        };
        for (int c = 0; c < STORE_LATEST_NCOLUMNS; c++)
            r.col[c] = store_pg_get_text(res, i, 4 + c);
        if (cb(&r, arg) != 0)
            break;
    }
    PQclear(res);
    return 0;
}

/* Makes sure name is in table (targets, checks or networks). */
static int intern(void *b, const char *table, const char *name, char *err, size_t errlen)
{
    char sql[96];
    snprintf(sql, sizeof(sql), "INSERT INTO %s(name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
             table);
    const char *p[1] = {name};
    return store_pg_run(b, sql, 1, p, table, err, errlen);
}

static int need_txn(void *b, const char *what, char *err, size_t errlen)
{
    if (store_pg_in_txn(b))
        return 0;
    snprintf(err, errlen, "database %s: %s needs a transaction", store_pg_where(b), what);
    return -1;
}

/* Runs an INSERT ... SELECT that finds its ids by name: one round trip
 * when the names are known (the rows of a copy share a few); when one is
 * missing the SELECT finds no row, and the names are added first. */
static int put_by_names(void *b, const char *sql, int n, const char *const *p, const char *target,
                        const char *check, const char *network, const char *what, char *err,
                        size_t errlen)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        PGresult *res = store_pg_query(b, sql, n, p, what, err, errlen);
        if (res == NULL)
            return -1;
        bool done = strcmp(PQcmdTuples(res), "0") != 0;
        PQclear(res);
        if (done)
            return 0;
        if (intern(b, "targets", target, err, errlen) < 0 ||
            intern(b, "checks", check, err, errlen) < 0 ||
            (network != NULL && intern(b, "networks", network, err, errlen) < 0))
            return -1;
    }
    snprintf(err, errlen, "database %s: %s: its agent is not in the table", store_pg_where(b),
             what);
    return -1;
}

int store_pg_latest_row_put(void *b, const struct store_latest_row *r, char *err, size_t errlen)
{
    if (need_txn(b, "writing a latest-state row", err, errlen) < 0)
        return -1;
    const char *p[4 + STORE_LATEST_NCOLUMNS] = {r->agent, r->target, r->check, r->network};
    for (int i = 0; i < STORE_LATEST_NCOLUMNS; i++)
        p[4 + i] = r->col[i];
    /* Parameters take the columns' types; "0"/"1" are valid booleans. */
    return put_by_names(
        b,
        "INSERT INTO latest(agent_id, target_id, check_id, network_id, " STORE_LATEST_COLUMNS
        ") SELECT a.id, t.id, c.id, n.id, $5::int::boolean, $6::int::boolean, $7::smallint,"
        " $8::smallint, $9::bigint, $10::bigint, $11::bigint, $12::bigint, $13::text,"
        " $14::bigint, $15::bigint, $16::bigint, $17::smallint, $18::smallint, $19::smallint,"
        " $20::bigint, $21::bigint, $22::text, $23::bigint, $24::text, $25::bigint, $26::text,"
        " $27::bigint"
        " FROM agents a JOIN targets t ON t.name = $2 JOIN checks c ON c.name = $3"
        " LEFT JOIN networks n ON n.name = $4::text"
        " WHERE a.name = $1 AND ($4::text IS NULL OR n.id IS NOT NULL)"
        " ON CONFLICT (agent_id, target_id, check_id) DO UPDATE SET"
        " network_id = excluded.network_id, discovered = excluded.discovered, ok = excluded.ok,"
        " layer = excluded.layer, error = excluded.error, seq = excluded.seq,"
        " at_us = excluded.at_us, since_us = excluded.since_us, total_us = excluded.total_us,"
        " detail = excluded.detail, episode_us = excluded.episode_us, flips = excluded.flips,"
        " streak_n = excluded.streak_n, fail_layer = excluded.fail_layer,"
        " fail_error = excluded.fail_error, phase = excluded.phase, phase_us = excluded.phase_us,"
        " dns_hash = excluded.dns_hash, dns = excluded.dns, addr_hash = excluded.addr_hash,"
        " address = excluded.address, cert_hash = excluded.cert_hash, cert = excluded.cert,"
        " delivery_us = excluded.delivery_us",
        4 + STORE_LATEST_NCOLUMNS, p, r->target, r->check, r->network, "writing a latest-state row",
        err, errlen);
}

static int64_t clamp64(uint64_t v)
{
    return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

int store_pg_rollup_put(void *b, const struct store_rollup *r, char *err, size_t errlen)
{
    if (need_txn(b, "writing an hourly aggregate", err, errlen) < 0)
        return -1;
    char v[8][24];
    const char *p[11] = {r->target,
                         r->check,
                         r->network,
                         store_pg_i64(v[0], r->hour_us),
                         store_pg_i64(v[1], clamp64(r->r.n)),
                         store_pg_i64(v[2], clamp64(r->r.ok)),
                         store_pg_i64(v[3], clamp64(r->r.total_us_sum)),
                         store_pg_i64(v[4], clamp64(r->r.total_us_max)),
                         store_pg_i64(v[5], r->r.first_fail_us),
                         store_pg_i64(v[6], r->r.fail_layer),
                         store_pg_i64(v[7], r->r.fail_error)};
    /* network_id 0: results stored without a network (as rollups keeps them). */
    return put_by_names(b,
                        "INSERT INTO rollups(target_id, check_id, network_id, hour_us, n, ok,"
                        " total_us_sum, total_us_max, first_fail_us, fail_layer, fail_error)"
                        " SELECT t.id, c.id, COALESCE(n.id, 0), $4::bigint, $5::bigint,"
                        " $6::bigint, $7::bigint, $8::bigint, $9::bigint, $10::smallint,"
                        " $11::smallint FROM targets t JOIN checks c ON c.name = $2"
                        " LEFT JOIN networks n ON n.name = $3::text"
                        " WHERE t.name = $1 AND ($3::text IS NULL OR n.id IS NOT NULL)"
                        " ON CONFLICT (target_id, check_id, network_id, hour_us) DO UPDATE SET"
                        " n = excluded.n, ok = excluded.ok, total_us_sum = excluded.total_us_sum,"
                        " total_us_max = excluded.total_us_max,"
                        " first_fail_us = excluded.first_fail_us,"
                        " fail_layer = excluded.fail_layer, fail_error = excluded.fail_error",
                        11, p, r->target, r->check, r->network, "writing an hourly aggregate", err,
                        errlen);
}

int store_pg_rollups_mark_all(void *b, char *err, size_t errlen)
{
    /* rolled beside stored, per agent (store_pg_retention.c). */
    if (need_txn(b, "marking results rolled up", err, errlen) < 0)
        return -1;
    return store_pg_run(b, "UPDATE agents SET rolled = stored WHERE rolled <> stored", 0, NULL,
                        "marking results rolled up", err, errlen);
}
