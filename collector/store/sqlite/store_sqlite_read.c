/*
 * store_sqlite_read — the sqlite backend's readers (store_sqlite.h):
 * agents, results, the latest state and changes, for the CLI, the
 * analysis and the HTTP endpoint. Filters are optional, so statements
 * are prepared per call; this is not the ingest path.
 */
#include <stdint.h>
#include <stdio.h>

#include <sqlite3.h>

#include "store_sqlite.h"
#include "wire.h"

/* ---- readers ---------------------------------------------------------------- */

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* Runs a prepared reader: row(st, arg2) per row until it returns
 * non-zero (stop) or fails (< 0 from the row function means our error). */
static int each_row(struct sqlite_store *b, sqlite3_stmt *st,
                    int (*row)(sqlite3_stmt *st, void *ctx, char *err, size_t errlen), void *ctx,
                    char *err, size_t errlen)
{
    int rc;
    int ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int r = row(st, ctx, err, errlen);
        if (r < 0) {
            ret = -1;
            break;
        }
        if (r > 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        ret = store_sqlite_db_fail(b->db, "reading", err, errlen);
    sqlite3_finalize(st);
    return ret;
}

struct agent_ctx {
    int64_t connected_after_us;
    store_agent_cb cb;
    void *arg;
};

static int agent_row(sqlite3_stmt *st, void *p, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct agent_ctx *c = p;
    struct store_agent a = {
        .name = col_text(st, 0),
        .site = col_text(st, 1),
        .network = col_text(st, 2),
        .version = col_text(st, 3),
        .address = col_text(st, 4),
        .netctx = col_text(st, 5),
        .first_seen_us = sqlite3_column_int64(st, 6),
        .last_seen_us = sqlite3_column_int64(st, 7),
        .spool_dropped = (uint64_t)sqlite3_column_int64(st, 8),
        .spool_pending = (uint64_t)sqlite3_column_int64(st, 9),
        .committed_seq = (uint64_t)sqlite3_column_int64(st, 10),
        .lost = (uint64_t)sqlite3_column_int64(st, 11),
        .counts = {.duplicates = (uint64_t)sqlite3_column_int64(st, 12),
                   .invalid = (uint64_t)sqlite3_column_int64(st, 13),
                   .clamped = (uint64_t)sqlite3_column_int64(st, 14),
                   .refused = (uint64_t)sqlite3_column_int64(st, 15)},
    };
    a.connected = a.last_seen_us >= c->connected_after_us;
    return c->cb(&a, c->arg) != 0;
}

int store_sqlite_agents_each(void *p, int64_t connected_after_us, store_agent_cb cb, void *arg,
                             char *err, size_t errlen)
{
    struct sqlite_store *b = p;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(b->db,
                           "SELECT name, site, network, version, address, netctx, first_seen_us,"
                           " last_seen_us, spool_dropped, spool_pending, committed_seq, lost,"
                           " duplicates, invalid, clamped, refused FROM agents ORDER BY name",
                           -1, &st, NULL) != SQLITE_OK)
        return store_sqlite_db_fail(b->db, "listing agents", err, errlen);
    struct agent_ctx c = {connected_after_us, cb, arg};
    return each_row(b, st, agent_row, &c, err, errlen);
}

int store_sqlite_agent_get(void *p, int64_t id, store_agent_cb cb, void *arg, char *err,
                           size_t errlen)
{
    struct sqlite_store *b = p;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(b->db,
                           "SELECT name, site, network, version, address, netctx, first_seen_us,"
                           " last_seen_us, spool_dropped, spool_pending, committed_seq, lost,"
                           " duplicates, invalid, clamped, refused FROM agents WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return store_sqlite_db_fail(b->db, "reading an agent", err, errlen);
    sqlite3_bind_int64(st, 1, id);
    struct agent_ctx c = {INT64_MIN, cb, arg};
    return each_row(b, st, agent_row, &c, err, errlen);
}

struct result_ctx {
    store_result_cb cb;
    void *arg;
};

static int result_row(sqlite3_stmt *st, void *p, char *err, size_t errlen)
{
    struct result_ctx *c = p;
    const uint8_t *blob = sqlite3_column_blob(st, 1);
    int len = sqlite3_column_bytes(st, 1);
    const char *agent = col_text(st, 2);
    struct result r;
    char why[256];
    if (wire_result_decode(blob, (size_t)len, &r, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "database: stored result %s #%lld cannot be decoded: %s",
                 agent ? agent : "?", (long long)sqlite3_column_int64(st, 0), why);
        return -1;
    }
    r.has_seq = true;
    r.seq = (uint64_t)sqlite3_column_int64(st, 0);
    if (result_set_str(&r.agent, agent) < 0 || result_set_str(&r.network, col_text(st, 3)) < 0) {
        result_clear(&r);
        snprintf(err, errlen, "database: out of memory");
        return -1;
    }
    int stop = c->cb(&r, c->arg);
    result_clear(&r);
    return stop != 0;
}

int store_sqlite_results_each(void *p, const struct store_result_filter *f, store_result_cb cb,
                              void *arg, char *err, size_t errlen)
{
    struct sqlite_store *b = p;
    /* The filters are optional, so the statement is built per call; this
     * is the CLI's path, not ingest's. ?1..?4 are always bound. */
    char where[256];
    /* Without a target, the IN list still lets sqlite walk the
     * (target_id, started_at_us) index once per target instead of
     * scanning the table. */
    snprintf(where, sizeof(where), "r.started_at_us >= ?3%s%s%s",
             f->target != NULL ? " AND r.target_id = (SELECT id FROM targets WHERE name = ?1)"
                               : " AND r.target_id IN (SELECT id FROM targets)",
             f->agent != NULL ? " AND r.agent_id = (SELECT id FROM agents WHERE name = ?2)" : "",
             /* (agent_id, seq) is unique: one row through its index. */
             f->agent != NULL && f->seq != 0 ? " AND r.seq = ?5" : "");
    char sql[768];
    if (f->limit > 0) {
        snprintf(sql, sizeof(sql),
                 "SELECT seq, record, agent, network FROM ("
                 " SELECT r.started_at_us AS at, r.seq AS seq, r.record AS record,"
                 " a.name AS agent, n.name AS network"
                 " FROM results r CROSS JOIN agents a ON a.id = r.agent_id"
                 " LEFT JOIN networks n ON n.id = r.network_id WHERE %s"
                 " ORDER BY r.started_at_us DESC, a.name DESC, r.seq DESC LIMIT ?4)"
                 " ORDER BY at, agent, seq",
                 where);
    } else {
        snprintf(sql, sizeof(sql),
                 "SELECT r.seq, r.record, a.name, n.name"
                 " FROM results r CROSS JOIN agents a ON a.id = r.agent_id"
                 " LEFT JOIN networks n ON n.id = r.network_id WHERE %s"
                 " ORDER BY r.started_at_us, a.name, r.seq",
                 where);
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(b->db, sql, -1, &st, NULL) != SQLITE_OK)
        return store_sqlite_db_fail(b->db, "listing results", err, errlen);
    if (f->target != NULL)
        sqlite3_bind_text(st, 1, f->target, -1, SQLITE_STATIC);
    if (f->agent != NULL)
        sqlite3_bind_text(st, 2, f->agent, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, f->since_us > 0 ? f->since_us : INT64_MIN);
    if (f->limit > 0)
        sqlite3_bind_int64(st, 4, f->limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)f->limit);
    if (f->agent != NULL && f->seq != 0)
        sqlite3_bind_int64(st, 5, f->seq > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)f->seq);
    struct result_ctx c = {cb, arg};
    return each_row(b, st, result_row, &c, err, errlen);
}

struct latest_ctx {
    store_latest_cb cb;
    void *arg;
};

static int latest_row(sqlite3_stmt *st, void *p, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct latest_ctx *c = p;
    int layer = sqlite3_column_int(st, 6);
    int error = sqlite3_column_int(st, 7);
    const char *target = col_text(st, 2);
    struct store_latest l = {
        .agent = col_text(st, 0),
        .network = col_text(st, 1),
        .target = (target != NULL && target[0] != '\0') ? target : NULL,
        .check = col_text(st, 3),
        .discovered = sqlite3_column_int(st, 4) != 0,
        .ok = sqlite3_column_int(st, 5) != 0,
        /* Values written by a newer build are shown as unknown, not
         * trusted as an index. */
        .layer = (layer >= 0 && layer < RESULT_LAYER_LAST) ? (enum result_layer)layer
                                                           : RESULT_LAYER_NONE,
        .error =
            (error >= 0 && error < RESULT_ERROR_LAST) ? (enum result_error)error : RESULT_INTERNAL,
        .seq = (uint64_t)sqlite3_column_int64(st, 8),
        .at_us = sqlite3_column_int64(st, 9),
        .since_us = sqlite3_column_int64(st, 10),
        .total_us = (uint64_t)sqlite3_column_int64(st, 11),
        .detail = col_text(st, 12),
        .episode_us = sqlite3_column_int64(st, 13),
        .flips = (uint32_t)sqlite3_column_int64(st, 14),
        .streak_n = (uint32_t)sqlite3_column_int64(st, 15),
        .phase_us = (uint64_t)sqlite3_column_int64(st, 19),
        .address = col_text(st, 20),
        .answers = col_text(st, 21),
        .delivery_us = (uint64_t)sqlite3_column_int64(st, 22),
    };
    int fl = sqlite3_column_int(st, 16), fe = sqlite3_column_int(st, 17);
    int ph = sqlite3_column_int(st, 18);
    l.fail_layer = (fl >= 0 && fl < RESULT_LAYER_LAST) ? (enum result_layer)fl : RESULT_LAYER_NONE;
    l.fail_error = (fe >= 0 && fe < RESULT_ERROR_LAST) ? (enum result_error)fe : RESULT_INTERNAL;
    l.phase = (ph >= 0 && ph < RESULT_PHASE_LAST) ? (enum result_phase)ph : RESULT_PHASE_TOTAL;
    return c->cb(&l, c->arg) != 0;
}

int store_sqlite_latest_each(void *p, const char *target, store_latest_cb cb, void *arg, char *err,
                             size_t errlen)
{
    struct sqlite_store *b = p;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(b->db,
                           "SELECT a.name, n.name, t.name, c.name, l.discovered, l.ok, l.layer,"
                           " l.error, l.seq, l.at_us, l.since_us, l.total_us, l.detail,"
                           " l.episode_us, l.flips, l.streak_n, l.fail_layer, l.fail_error,"
                           " l.phase, l.phase_us, l.address, l.dns, l.delivery_us"
                           " FROM latest l JOIN agents a ON a.id = l.agent_id"
                           " JOIN targets t ON t.id = l.target_id"
                           " JOIN checks c ON c.id = l.check_id"
                           " LEFT JOIN networks n ON n.id = l.network_id"
                           " WHERE ?1 IS NULL OR t.name = ?1"
                           " ORDER BY t.name, c.name, a.name",
                           -1, &st, NULL) != SQLITE_OK)
        return store_sqlite_db_fail(b->db, "listing the latest state", err, errlen);
    if (target != NULL)
        sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
    struct latest_ctx c = {cb, arg};
    return each_row(b, st, latest_row, &c, err, errlen);
}

struct change_ctx {
    store_change_cb cb;
    void *arg;
};

static int change_row(sqlite3_stmt *st, void *p, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct change_ctx *c = p;
    struct store_change ch = {
        .at_us = sqlite3_column_int64(st, 0),
        .agent = col_text(st, 1),
        .target = col_text(st, 2),
        .kind = col_text(st, 3),
        .subject = col_text(st, 4),
        .before = col_text(st, 5),
        .after = col_text(st, 6),
    };
    return c->cb(&ch, c->arg) != 0;
}

int store_sqlite_changes_each(void *p, const char *target, int64_t since_us, store_change_cb cb,
                              void *arg, char *err, size_t errlen)
{
    struct sqlite_store *b = p;
    sqlite3_stmt *st = NULL;
    /* With a target: its own changes and every agent change (an agent's
     * network moving concerns all the targets it probes). */
    if (sqlite3_prepare_v2(b->db,
                           "SELECT c.at_us, a.name, t.name, c.kind, c.subject, c.before, c.after"
                           " FROM changes c LEFT JOIN agents a ON a.id = c.agent_id"
                           " LEFT JOIN targets t ON t.id = c.target_id"
                           " WHERE c.at_us >= ?2"
                           " AND (?1 IS NULL OR c.target_id IS NULL OR t.name = ?1)"
                           " ORDER BY c.at_us, c.id",
                           -1, &st, NULL) != SQLITE_OK)
        return store_sqlite_db_fail(b->db, "listing changes", err, errlen);
    if (target != NULL)
        sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, since_us > 0 ? since_us : INT64_MIN);
    struct change_ctx c = {cb, arg};
    return each_row(b, st, change_row, &c, err, errlen);
}
