/*
 * store_pg_read — the readers of the PostgreSQL backend (store.h
 * "Readers", store_pg.h): agents, results, the latest state, changes.
 *
 * Results are read through a cursor in pages of RESULTS_PAGE rows, so
 * that memory stays bounded whatever the time range, and the callback
 * may use the store between pages (the connection is idle then). The
 * other readers return at most fleet x checks rows and read at once.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"
#include "store_pg.h"
#include "wire.h"

/* Rows fetched per round trip: large enough that the round trip is
 * noise, small enough that a page of full records (a few KiB each) stays
 * a few MiB. */
#define RESULTS_PAGE 1000

static int agent_rows(PGresult *res, int64_t connected_after_us, store_agent_cb cb, void *arg)
{
    for (int i = 0; i < PQntuples(res); i++) {
        struct store_agent a = {
            .name = store_pg_get_text(res, i, 0),
            .site = store_pg_get_text(res, i, 1),
            .network = store_pg_get_text(res, i, 2),
            .version = store_pg_get_text(res, i, 3),
            .address = store_pg_get_text(res, i, 4),
            .netctx = store_pg_get_text(res, i, 5),
            .first_seen_us = store_pg_get_i64(res, i, 6),
            .last_seen_us = store_pg_get_i64(res, i, 7),
            .spool_dropped = (uint64_t)store_pg_get_i64(res, i, 8),
            .spool_pending = (uint64_t)store_pg_get_i64(res, i, 9),
            .committed_seq = (uint64_t)store_pg_get_i64(res, i, 10),
            .lost = (uint64_t)store_pg_get_i64(res, i, 11),
            .counts = {.duplicates = (uint64_t)store_pg_get_i64(res, i, 12),
                       .invalid = (uint64_t)store_pg_get_i64(res, i, 13),
                       .clamped = (uint64_t)store_pg_get_i64(res, i, 14),
                       .refused = (uint64_t)store_pg_get_i64(res, i, 15)},
        };
        a.connected = a.last_seen_us >= connected_after_us;
        if (cb(&a, arg) != 0)
            break;
    }
    PQclear(res);
    return 0;
}

#define AGENT_COLUMNS                                                                              \
    "SELECT name, site, network, version, address, netctx, first_seen_us, last_seen_us,"           \
    " spool_dropped, spool_pending, committed_seq, lost, duplicates, invalid, clamped, refused"    \
    " FROM agents"

int store_pg_agents_each(void *b, int64_t connected_after_us, store_agent_cb cb, void *arg,
                         char *err, size_t errlen)
{
    /* COLLATE "C": the same order as sqlite's byte-wise one. */
    PGresult *res = store_pg_query(b, AGENT_COLUMNS " ORDER BY name COLLATE \"C\"", 0, NULL,
                                   "listing agents", err, errlen);
    return res == NULL ? -1 : agent_rows(res, connected_after_us, cb, arg);
}

int store_pg_agent_get(void *b, int64_t id, store_agent_cb cb, void *arg, char *err, size_t errlen)
{
    char v[24];
    const char *p[] = {store_pg_i64(v, id)};
    PGresult *res =
        store_pg_query(b, AGENT_COLUMNS " WHERE id = $1", 1, p, "reading an agent", err, errlen);
    return res == NULL ? -1 : agent_rows(res, INT64_MIN, cb, arg);
}

/* One page of results (a binary FETCH: seq, record, agent, network);
 * returns 1 when the callback stopped, 0 to go on, -1 on error. */
static int result_rows(void *b, PGresult *res, store_result_cb cb, void *arg, char *err,
                       size_t errlen)
{
    for (int i = 0; i < PQntuples(res); i++) {
        const char *agent = store_pg_get_text(res, i, 2);
        int64_t seq = store_pg_get_i64_binary(res, i, 0);
        struct result r;
        char why[256];
        if (wire_result_decode((const uint8_t *)PQgetvalue(res, i, 1),
                               (size_t)PQgetlength(res, i, 1), &r, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "database %s: stored result %s #%lld cannot be decoded: %s",
                     store_pg_where(b), agent ? agent : "?", (long long)seq, why);
            return -1;
        }
        r.has_seq = true;
        r.seq = (uint64_t)seq;
        if (result_set_str(&r.agent, agent) < 0 ||
            result_set_str(&r.network, store_pg_get_text(res, i, 3)) < 0) {
            result_clear(&r);
            snprintf(err, errlen, "database: out of memory");
            return -1;
        }
        int stop = cb(&r, arg);
        result_clear(&r);
        if (stop != 0)
            return 1;
    }
    return 0;
}

int store_pg_results_each(void *b, const struct store_result_filter *f, store_result_cb cb,
                          void *arg, char *err, size_t errlen)
{
    /* The filters are optional: the statement and its parameters are
     * built together ($n numbered as they are used). */
    char where[512], v[3][24];
    const char *p[5];
    int n = 0;
    size_t w = 0;
    p[n++] = store_pg_i64(v[0], f->since_us > 0 ? f->since_us : INT64_MIN);
    w += (size_t)snprintf(where + w, sizeof(where) - w, "r.started_at_us >= $1");
    if (f->target != NULL) {
        p[n++] = f->target;
        w += (size_t)snprintf(where + w, sizeof(where) - w,
                              " AND r.target_id = (SELECT id FROM targets WHERE name = $%d)", n);
    }
    if (f->agent != NULL) {
        p[n++] = f->agent;
        w += (size_t)snprintf(where + w, sizeof(where) - w,
                              " AND r.agent_id = (SELECT id FROM agents WHERE name = $%d)", n);
        if (f->seq != 0) {
            p[n++] = store_pg_i64(v[1], f->seq > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)f->seq);
            w += (size_t)snprintf(where + w, sizeof(where) - w, " AND r.seq = $%d", n);
        }
    }
    char sql[1400], cursor[48];
    /* The cursor's name is unique per call even when a callback reads
     * results itself. */
    snprintf(cursor, sizeof(cursor), "vantage_results_%" PRIxPTR, (uintptr_t)&sql);
    if (f->limit > 0) {
        p[n++] = store_pg_i64(v[2], f->limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)f->limit);
        snprintf(sql, sizeof(sql),
                 "DECLARE %s NO SCROLL CURSOR FOR SELECT seq, record, agent, network FROM ("
                 " SELECT r.started_at_us AS at, r.seq AS seq, r.record AS record,"
                 " a.name AS agent, n.name AS network"
                 " FROM results r JOIN agents a ON a.id = r.agent_id"
                 " LEFT JOIN networks n ON n.id = r.network_id WHERE %s"
                 " ORDER BY r.started_at_us DESC, a.name COLLATE \"C\" DESC, r.seq DESC"
                 " LIMIT $%d) x ORDER BY at, agent COLLATE \"C\", seq",
                 cursor, where, n);
    } else {
        snprintf(sql, sizeof(sql),
                 "DECLARE %s NO SCROLL CURSOR FOR SELECT r.seq, r.record, a.name, n.name"
                 " FROM results r JOIN agents a ON a.id = r.agent_id"
                 " LEFT JOIN networks n ON n.id = r.network_id WHERE %s"
                 " ORDER BY r.started_at_us, a.name COLLATE \"C\", r.seq",
                 cursor, where);
    }
    /* A cursor lives in a transaction: ours, unless the caller's is open. */
    bool own = !store_pg_in_txn(b);
    if (own && store_pg_run(b, "BEGIN", 0, NULL, "listing results", err, errlen) < 0)
        return -1;
    int rc = store_pg_run(b, sql, n, p, "listing results", err, errlen);
    char fetch[96];
    snprintf(fetch, sizeof(fetch), "FETCH %d FROM %s", RESULTS_PAGE, cursor);
    while (rc == 0) {
        /* Binary: the records as their bytes, not twice as many hex
         * digits to unescape. */
        PGresult *res = store_pg_query_binary(b, fetch, 0, NULL, "listing results", err, errlen);
        if (res == NULL) {
            rc = -1;
            break;
        }
        int rows = PQntuples(res);
        int r = result_rows(b, res, cb, arg, err, errlen);
        PQclear(res);
        if (r != 0 || rows < RESULTS_PAGE) {
            rc = r < 0 ? -1 : 0;
            break;
        }
    }
    char close_sql[80];
    snprintf(close_sql, sizeof(close_sql), "CLOSE %s", cursor);
    if (rc == 0 && !own)
        rc = store_pg_run(b, close_sql, 0, NULL, "listing results", err, errlen);
    if (own)
        PQclear(PQexec(store_pg_conn(b), rc == 0 ? "COMMIT" : "ROLLBACK"));
    return rc;
}

static int clamp_enum(int64_t v, int last, int otherwise)
{
    /* Values written by a newer build are shown as unknown, not trusted
     * as an index. */
    return v >= 0 && v < last ? (int)v : otherwise;
}

int store_pg_latest_each(void *b, const char *target, store_latest_cb cb, void *arg, char *err,
                         size_t errlen)
{
    const char *p[] = {target};
    PGresult *res =
        store_pg_query(b,
                       "SELECT a.name, n.name, t.name, c.name, l.discovered, l.ok, l.layer,"
                       " l.error, l.seq, l.at_us, l.since_us, l.total_us, l.detail,"
                       " l.episode_us, l.flips, l.streak_n, l.fail_layer, l.fail_error,"
                       " l.phase, l.phase_us, l.address, l.dns, l.delivery_us"
                       " FROM latest l JOIN agents a ON a.id = l.agent_id"
                       " JOIN targets t ON t.id = l.target_id"
                       " JOIN checks c ON c.id = l.check_id"
                       " LEFT JOIN networks n ON n.id = l.network_id"
                       " WHERE $1::text IS NULL OR t.name = $1"
                       " ORDER BY t.name COLLATE \"C\", c.name COLLATE \"C\", a.name COLLATE \"C\"",
                       1, p, "listing the latest state", err, errlen);
    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *t = store_pg_get_text(res, i, 2);
        struct store_latest l = {
            .agent = store_pg_get_text(res, i, 0),
            .network = store_pg_get_text(res, i, 1),
            .target = (t != NULL && t[0] != '\0') ? t : NULL,
            .check = store_pg_get_text(res, i, 3),
            .discovered = PQgetvalue(res, i, 4)[0] == 't',
            .ok = PQgetvalue(res, i, 5)[0] == 't',
            .layer = (enum result_layer)clamp_enum(store_pg_get_i64(res, i, 6), RESULT_LAYER_LAST,
                                                   RESULT_LAYER_NONE),
            .error = (enum result_error)clamp_enum(store_pg_get_i64(res, i, 7), RESULT_ERROR_LAST,
                                                   RESULT_INTERNAL),
            .seq = (uint64_t)store_pg_get_i64(res, i, 8),
            .at_us = store_pg_get_i64(res, i, 9),
            .since_us = store_pg_get_i64(res, i, 10),
            .total_us = (uint64_t)store_pg_get_i64(res, i, 11),
            .detail = store_pg_get_text(res, i, 12),
            .episode_us = store_pg_get_i64(res, i, 13),
            .flips = (uint32_t)store_pg_get_i64(res, i, 14),
            .streak_n = (uint32_t)store_pg_get_i64(res, i, 15),
            .fail_layer = (enum result_layer)clamp_enum(store_pg_get_i64(res, i, 16),
                                                        RESULT_LAYER_LAST, RESULT_LAYER_NONE),
            .fail_error = (enum result_error)clamp_enum(store_pg_get_i64(res, i, 17),
                                                        RESULT_ERROR_LAST, RESULT_INTERNAL),
            .phase = (enum result_phase)clamp_enum(store_pg_get_i64(res, i, 18), RESULT_PHASE_LAST,
                                                   RESULT_PHASE_TOTAL),
            .phase_us = (uint64_t)store_pg_get_i64(res, i, 19),
            .address = store_pg_get_text(res, i, 20),
            .answers = store_pg_get_text(res, i, 21),
            .delivery_us = (uint64_t)store_pg_get_i64(res, i, 22),
        };
        if (cb(&l, arg) != 0)
            break;
    }
    PQclear(res);
    return 0;
}

int store_pg_changes_each(void *b, const char *target, int64_t since_us, store_change_cb cb,
                          void *arg, char *err, size_t errlen)
{
    char v[24];
    const char *p[] = {target, store_pg_i64(v, since_us > 0 ? since_us : INT64_MIN)};
    /* With a target: its own changes and every agent change (an agent's
     * network moving concerns all the targets it probes). */
    PGresult *res =
        store_pg_query(b,
                       "SELECT c.at_us, a.name, t.name, c.kind, c.subject, c.before, c.after"
                       " FROM changes c LEFT JOIN agents a ON a.id = c.agent_id"
                       " LEFT JOIN targets t ON t.id = c.target_id"
                       " WHERE c.at_us >= $2::bigint"
                       " AND ($1::text IS NULL OR c.target_id IS NULL OR t.name = $1)"
                       " ORDER BY c.at_us, c.id",
                       2, p, "listing changes", err, errlen);
    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        struct store_change ch = {
            .at_us = store_pg_get_i64(res, i, 0),
            .agent = store_pg_get_text(res, i, 1),
            .target = store_pg_get_text(res, i, 2),
            .kind = store_pg_get_text(res, i, 3),
            .subject = store_pg_get_text(res, i, 4),
            .before = store_pg_get_text(res, i, 5),
            .after = store_pg_get_text(res, i, 6),
        };
        if (cb(&ch, arg) != 0)
            break;
    }
    PQclear(res);
    return 0;
}
