/*
 * store_pg_commit — the commit of a PostgreSQL ingest transaction
 * (store_pg_ingest_flush in store_pg.h): the transaction's agents locked
 * in id order and checked against what it started from (store_pg_ingest.c's
 * header says why that suffices), its results in one binary COPY, then
 * its latest rows and its agents' sequence numbers as two statements in
 * one pipeline, each taking all its rows as arrays (store_pg_array.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "store_impl.h"
#include "store_pg.h"
#include "store_pg_ingest_internal.h"

/* Reads the results of n pipelined statements and the sync. */
static int pipeline_read(void *b, size_t n, char *err, size_t errlen)
{
    PGconn *conn = store_pg_conn(b);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        PGresult *res = PQgetResult(conn);
        if (res == NULL) {
            if (rc == 0)
                rc = store_pg_fail(b, "writing the latest state", NULL, err, errlen);
            break;
        }
        ExecStatusType st = PQresultStatus(res);
        if (st != PGRES_COMMAND_OK && rc == 0)
            rc = store_pg_fail(b, "writing the latest state", res, err, errlen);
        else
            PQclear(res);
        /* Each statement's results end with a NULL. */
        while ((res = PQgetResult(conn)) != NULL)
            PQclear(res);
    }
    PGresult *res = PQgetResult(conn);
    if (res == NULL || PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
        if (rc == 0)
            rc = store_pg_fail(b, "ending a pipeline", res, err, errlen);
        else
            PQclear(res);
    } else {
        PQclear(res);
    }
    return rc;
}

/* Every dirty latest row of the transaction in one statement: the rows
 * go as one array per column (27 parameters) and unnest() turns them back
 * into rows. One pipelined upsert per key cost the server a parse, plan
 * and execution each: in a fleet's shape that was most of its time
 * (bench/RESULTS.md). The keys are unique within the transaction (one
 * struct latest per key), as ON CONFLICT DO UPDATE requires. */
static const char latest_put[] =
    "INSERT INTO latest(agent_id, target_id, check_id, network_id, discovered, ok, layer,"
    " error, seq, at_us, since_us, total_us, detail, episode_us, flips, streak_n,"
    " fail_layer, fail_error, phase, phase_us, dns_hash, dns, addr_hash, address,"
    " cert_hash, cert, delivery_us)"
    " SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[],"
    " $5::boolean[], $6::boolean[], $7::smallint[], $8::smallint[], $9::bigint[],"
    " $10::bigint[], $11::bigint[], $12::bigint[], $13::text[], $14::bigint[], $15::bigint[],"
    " $16::bigint[], $17::smallint[], $18::smallint[], $19::smallint[], $20::bigint[],"
    " $21::bigint[], $22::text[], $23::bigint[], $24::text[], $25::bigint[], $26::text[],"
    " $27::bigint[])"
    " ON CONFLICT(agent_id, target_id, check_id) DO UPDATE SET"
    " network_id = excluded.network_id, discovered = excluded.discovered,"
    " ok = excluded.ok, layer = excluded.layer, error = excluded.error,"
    " seq = excluded.seq, at_us = excluded.at_us, since_us = excluded.since_us,"
    " total_us = excluded.total_us, detail = excluded.detail,"
    " episode_us = excluded.episode_us, flips = excluded.flips,"
    " streak_n = excluded.streak_n, fail_layer = excluded.fail_layer,"
    " fail_error = excluded.fail_error, phase = excluded.phase,"
    " phase_us = excluded.phase_us, dns_hash = excluded.dns_hash,"
    " dns = COALESCE(excluded.dns, latest.dns), addr_hash = excluded.addr_hash,"
    " address = COALESCE(excluded.address, latest.address), cert_hash = excluded.cert_hash,"
    " cert = COALESCE(excluded.cert, latest.cert), delivery_us = excluded.delivery_us";

static void latest_columns(struct store_pg_array *col, const struct latest *l)
{
    store_pg_array_i64(&col[0], l->agent_id);
    store_pg_array_i64(&col[1], l->target_id);
    store_pg_array_i64(&col[2], l->check_id);
    store_pg_array_i64_or_null(&col[3], l->network_id, l->network_id == 0);
    store_pg_array_bool(&col[4], l->discovered);
    store_pg_array_bool(&col[5], l->ok);
    store_pg_array_i64(&col[6], l->layer);
    store_pg_array_i64(&col[7], l->error);
    store_pg_array_u64(&col[8], l->seq);
    store_pg_array_i64(&col[9], l->at_us);
    store_pg_array_i64(&col[10], l->since_us);
    store_pg_array_u64(&col[11], l->total_us);
    store_pg_array_text(&col[12], l->detail);
    store_pg_array_i64(&col[13], l->streak.episode_us);
    store_pg_array_i64(&col[14], l->streak.flips);
    store_pg_array_i64(&col[15], l->streak.n);
    store_pg_array_i64(&col[16], l->fail_layer);
    store_pg_array_i64(&col[17], l->fail_error);
    store_pg_array_i64(&col[18], l->phase);
    store_pg_array_u64(&col[19], l->phase_us);
    for (int f = 0; f < STORE_FACT_LAST; f++) {
        store_pg_array_u64(&col[20 + 2 * f], l->fact_hash[f]);
        store_pg_array_text(&col[21 + 2 * f], l->fact_text[f]);
    }
    store_pg_array_u64(&col[26], l->delivery_us);
}

/* Sends (1; 0 when none is dirty, -1 out of memory or on a send error)
 * the transaction's latest rows. */
static int latest_send(PGconn *conn, struct store_pg_ingest *in)
{
    _Static_assert(20 + 2 * STORE_FACT_LAST + 1 == LATEST_NCOLS, "latest_put's columns");
    for (int c = 0; c < LATEST_NCOLS; c++)
        store_pg_array_start(&in->col[c]);
    for (size_t i = 0; i < in->nlatest; i++)
        if (in->latest[i].dirty)
            latest_columns(in->col, &in->latest[i]);
    if (in->col[0].n == 0)
        return 0;
    const char *p[LATEST_NCOLS];
    for (int c = 0; c < LATEST_NCOLS; c++)
        if ((p[c] = store_pg_array_end(&in->col[c])) == NULL)
            return -1;
    return PQsendQueryParams(conn, latest_put, LATEST_NCOLS, NULL, p, NULL, NULL, 0) == 1 ? 1 : -1;
}

/* Sends (1; 0 when none) one statement that updates every agent the
 * transaction stored results for: their committed seqs and stored sets
 * as three arrays. (One UPDATE per agent cost the server as much as the
 * latest upserts.) */
static int agents_send(PGconn *conn, struct store_pg_ingest *in)
{
    store_pg_array_start(&in->ids);
    store_pg_array_start(&in->seqs);
    store_pg_array_start(&in->sets);
    for (size_t i = 0; i < in->nagents; i++) {
        const struct agent *a = &in->agents[i];
        if (!a->dirty)
            continue;
        char *set = pg_ranges_text(&a->stored);
        if (set == NULL)
            return -1;
        store_pg_array_i64(&in->ids, a->id);
        store_pg_array_u64(&in->seqs, a->max_seq);
        store_pg_array_text(&in->sets, set);
        free(set);
    }
    if (in->ids.n == 0)
        return 0;
    const char *p[] = {store_pg_array_end(&in->ids), store_pg_array_end(&in->seqs),
                       store_pg_array_end(&in->sets)};
    if (p[0] == NULL || p[1] == NULL || p[2] == NULL)
        return -1;
    return PQsendQueryParams(conn,
                             "UPDATE agents a SET committed_seq = GREATEST(a.committed_seq, v.seq),"
                             " stored = v.stored::int8multirange FROM unnest($1::bigint[],"
                             " $2::bigint[], $3::text[]) AS v(id, seq, stored) WHERE a.id = v.id",
                             3, NULL, p, NULL, NULL, 0) == 1
               ? 1
               : -1;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

/* Locks the transaction's agents in id order, in one statement, and
 * requires each one's stored set as the transaction started from
 * (store_pg_ingest.c's header comment says why that suffices). */
static int agents_lock(void *b, struct store_pg_ingest *in, char *err, size_t errlen)
{
    if (in->ntouched == 0)
        return 0;
    if (in->caplock < in->ntouched) {
        int64_t *ids = realloc(in->lock_ids, in->ntouched * sizeof(*ids));
        if (ids == NULL)
            goto oom;
        in->lock_ids = ids;
        in->caplock = in->ntouched;
    }
    size_t n = 0;
    for (size_t i = 0; i < in->nagents && n < in->ntouched; i++)
        if (in->agents[i].touched)
            in->lock_ids[n++] = in->agents[i].id;
    qsort(in->lock_ids, n, sizeof(*in->lock_ids), cmp_i64);
    store_pg_array_start(&in->ids);
    for (size_t i = 0; i < n; i++)
        store_pg_array_i64(&in->ids, in->lock_ids[i]);
    const char *p[] = {store_pg_array_end(&in->ids)};
    if (p[0] == NULL)
        goto oom;
    PGresult *res =
        store_pg_query(b,
                       "SELECT id, stored::text FROM agents WHERE id = ANY($1::bigint[])"
                       " ORDER BY id FOR UPDATE",
                       1, p, "locking the agents' rows", err, errlen);
    if (res == NULL)
        return -1;
    int rc = 0;
    struct pg_ranges now = {0};
    if ((size_t)PQntuples(res) != n) {
        snprintf(err, errlen, "database %s: %zu of the transaction's %zu agents have no row",
                 store_pg_where(b), n - (size_t)PQntuples(res), n);
        rc = -1;
    }
    for (int row = 0; rc == 0 && row < PQntuples(res); row++) {
        const int64_t key[3] = {store_pg_get_i64(res, row, 0), 0, 0};
        int64_t i = keymap_find(&in->agent_map, key);
        now.n = 0;
        if (i < 0 ||
            pg_ranges_parse(&now, PQgetvalue(res, row, 1), (size_t)PQgetlength(res, row, 1)) < 0) {
            snprintf(err, errlen, "database %s: agent id %lld: its stored seqs are not readable",
                     store_pg_where(b), (long long)key[0]);
            rc = -1;
        } else if (!pg_ranges_equal(&now, &in->agents[i].base)) {
            snprintf(err, errlen,
                     "database %s: agent id %lld: results were stored for it elsewhere (another "
                     "collector) since this one read it; its results are taken again",
                     store_pg_where(b), (long long)key[0]);
            rc = -1;
        }
    }
    pg_ranges_free(&now);
    PQclear(res);
    return rc;
oom:
    snprintf(err, errlen, "database: out of memory locking agents");
    return -1;
}

int store_pg_ingest_flush(void *b, struct store_pg_ingest *in, char *err, size_t errlen)
{
    PGconn *conn = store_pg_conn(b);
    if (agents_lock(b, in, err, errlen) < 0)
        return -1;
    if (in->copy.rows > 0 &&
        store_pg_copy_send(conn, &in->copy, store_pg_where(b), err, errlen) < 0)
        return -1;
    if (PQenterPipelineMode(conn) != 1)
        return store_pg_fail(b, "entering pipeline mode", NULL, err, errlen);
    int rc = 0;
    size_t sent = 0;
    int latest = latest_send(conn, in);
    if (latest < 0)
        rc = store_pg_fail(b, "writing the latest state", NULL, err, errlen);
    else
        sent += (size_t)latest;
    int agents = rc == 0 ? agents_send(conn, in) : 0;
    if (agents < 0)
        rc = store_pg_fail(b, "recording the committed seq", NULL, err, errlen);
    else
        sent += (size_t)agents;
    /* What was sent is read even after a failure: the connection must
     * leave pipeline mode idle for the rollback. */
    if (sent > 0) {
        if (PQpipelineSync(conn) != 1) {
            if (rc == 0)
                rc = store_pg_fail(b, "writing the latest state", NULL, err, errlen);
        } else {
            char e2[STORE_ERR_MAX];
            if (pipeline_read(b, sent, rc == 0 ? err : e2, rc == 0 ? errlen : sizeof(e2)) < 0)
                rc = -1;
        }
    }
    if (PQexitPipelineMode(conn) != 1 && rc == 0)
        rc = store_pg_fail(b, "leaving pipeline mode", NULL, err, errlen);
    return rc;
}
