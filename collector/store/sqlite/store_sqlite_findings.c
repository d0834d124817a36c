/*
 * store_sqlite_findings — findings, their events and the notification
 * queue in the sqlite backend (store.h "findings", store_sqlite.h).
 *
 * These are written a few times per evaluation, not per result, so each
 * call prepares its statement (sqlite caches nothing for us, and a few
 * microseconds a call is nothing next to evaluate_every).
 */
#include <stdio.h>
#include <string.h>

#include "store_sqlite.h"

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s != NULL)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static const char *col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

int store_sqlite_finding_put(void *b, const struct store_finding *f, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (store_sqlite_prep(
            b, &st,
            "INSERT OR REPLACE INTO findings(id, target, severity, verdict, layer, state, seen,"
            " clean, first_seen_us, opened_at_us, resolved_at_us, started_at_us, updated_at_us,"
            " json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            err, errlen) < 0)
        return -1;
    bind_text(st, 1, f->id);
    bind_text(st, 2, f->target);
    bind_text(st, 3, f->severity);
    bind_text(st, 4, f->verdict);
    bind_text(st, 5, f->layer);
    sqlite3_bind_int(st, 6, (int)f->state);
    sqlite3_bind_int64(st, 7, f->seen);
    sqlite3_bind_int64(st, 8, f->clean);
    sqlite3_bind_int64(st, 9, f->first_seen_us);
    sqlite3_bind_int64(st, 10, f->opened_at_us);
    sqlite3_bind_int64(st, 11, f->resolved_at_us);
    sqlite3_bind_int64(st, 12, f->started_at_us);
    sqlite3_bind_int64(st, 13, f->updated_at_us);
    bind_text(st, 14, f->json ? f->json : "{}");
    return store_sqlite_run(b, st, "writing a finding", err, errlen);
}

int store_sqlite_finding_delete(void *b, const char *id, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (store_sqlite_prep(b, &st, "DELETE FROM findings WHERE id = ?1", err, errlen) < 0)
        return -1;
    bind_text(st, 1, id);
    return store_sqlite_run(b, st, "deleting a finding", err, errlen);
}

struct finding_ctx {
    store_finding_cb cb;
    void *arg;
};

static int finding_row(sqlite3_stmt *st, void *p)
{
    struct finding_ctx *c = p;
    struct store_finding f = {
        .id = col(st, 0),
        .target = col(st, 1),
        .severity = col(st, 2),
        .verdict = col(st, 3),
        .layer = col(st, 4),
        .state = (enum store_finding_state)sqlite3_column_int(st, 5),
        .seen = (uint32_t)sqlite3_column_int64(st, 6),
        .clean = (uint32_t)sqlite3_column_int64(st, 7),
        .first_seen_us = sqlite3_column_int64(st, 8),
        .opened_at_us = sqlite3_column_int64(st, 9),
        .resolved_at_us = sqlite3_column_int64(st, 10),
        .started_at_us = sqlite3_column_int64(st, 11),
        .updated_at_us = sqlite3_column_int64(st, 12),
        .json = col(st, 13),
    };
    return c->cb(&f, c->arg);
}

int store_sqlite_findings_each(void *b, const struct store_finding_filter *f, store_finding_cb cb,
                               void *arg, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    /* ?2: the lowest state wanted, ?3 the highest. */
    if (store_sqlite_prep(
            b, &st,
            "SELECT id, target, severity, verdict, layer, state, seen, clean, first_seen_us,"
            " opened_at_us, resolved_at_us, started_at_us, updated_at_us, json FROM findings"
            " WHERE state BETWEEN ?2 AND ?3 AND (?1 IS NULL OR target = ?1)"
            " AND updated_at_us >= ?4"
            " ORDER BY target, CASE WHEN opened_at_us = 0 THEN first_seen_us"
            " ELSE opened_at_us END, id",
            err, errlen) < 0)
        return -1;
    bind_text(st, 1, f->target);
    sqlite3_bind_int(st, 2, f->with_pending ? STORE_FINDING_PENDING : STORE_FINDING_OPEN);
    sqlite3_bind_int(st, 3, f->open_only ? STORE_FINDING_OPEN : STORE_FINDING_RESOLVED);
    sqlite3_bind_int64(st, 4, f->since_us);
    struct finding_ctx c = {cb, arg};
    return store_sqlite_each(b, st, finding_row, &c, err, errlen);
}

int store_sqlite_finding_event_add(void *b, const struct store_finding_event *e, char *err,
                                   size_t errlen)
{
    sqlite3_stmt *st;
    if (store_sqlite_prep(b, &st,
                          "INSERT INTO finding_events(finding_id, target, at_us, event, json)"
                          " VALUES (?1, ?2, ?3, ?4, ?5)",
                          err, errlen) < 0)
        return -1;
    bind_text(st, 1, e->finding_id);
    bind_text(st, 2, e->target);
    sqlite3_bind_int64(st, 3, e->at_us);
    bind_text(st, 4, e->event);
    bind_text(st, 5, e->json ? e->json : "{}");
    return store_sqlite_run(b, st, "recording a finding's event", err, errlen);
}

struct event_ctx {
    store_finding_event_cb cb;
    void *arg;
};

static int event_row(sqlite3_stmt *st, void *p)
{
    struct event_ctx *c = p;
    struct store_finding_event e = {.seq = sqlite3_column_int64(st, 0),
                                    .finding_id = col(st, 1),
                                    .target = col(st, 2),
                                    .at_us = sqlite3_column_int64(st, 3),
                                    .event = col(st, 4),
                                    .json = col(st, 5)};
    return c->cb(&e, c->arg);
}

int store_sqlite_finding_events_each(void *b, const char *target, int64_t since_us,
                                     store_finding_event_cb cb, void *arg, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (store_sqlite_prep(b, &st,
                          "SELECT seq, finding_id, target, at_us, event, json FROM finding_events"
                          " WHERE (?1 IS NULL OR target = ?1) AND at_us >= ?2 ORDER BY at_us, seq",
                          err, errlen) < 0)
        return -1;
    bind_text(st, 1, target);
    sqlite3_bind_int64(st, 2, since_us);
    struct event_ctx c = {cb, arg};
    return store_sqlite_each(b, st, event_row, &c, err, errlen);
}

int store_sqlite_notification_add(void *b, const struct store_notification *n, char *err,
                                  size_t errlen)
{
    sqlite3_stmt *st;
    if (store_sqlite_prep(
            b, &st,
            "INSERT INTO notifications(notifier, kind, finding_id, event, body, attempts,"
            " created_us, next_at_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            err, errlen) < 0)
        return -1;
    bind_text(st, 1, n->notifier);
    bind_text(st, 2, n->kind);
    bind_text(st, 3, n->finding_id);
    bind_text(st, 4, n->event);
    bind_text(st, 5, n->body);
    sqlite3_bind_int64(st, 6, n->attempts);
    sqlite3_bind_int64(st, 7, n->created_us);
    sqlite3_bind_int64(st, 8, n->next_at_us);
    return store_sqlite_run(b, st, "queueing a notification", err, errlen);
}

struct notification_ctx {
    store_notification_cb cb;
    void *arg;
};

static int notification_row(sqlite3_stmt *st, void *p)
{
    struct notification_ctx *c = p;
    struct store_notification n = {.id = sqlite3_column_int64(st, 0),
                                   .notifier = col(st, 1),
                                   .kind = col(st, 2),
                                   .finding_id = col(st, 3),
                                   .event = col(st, 4),
                                   .body = col(st, 5),
                                   .attempts = (uint32_t)sqlite3_column_int64(st, 6),
                                   .created_us = sqlite3_column_int64(st, 7),
                                   .next_at_us = sqlite3_column_int64(st, 8)};
    return c->cb(&n, c->arg);
}

int store_sqlite_notifications_due(void *b, int64_t now_us, size_t limit, store_notification_cb cb,
                                   void *arg, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (store_sqlite_prep(
            b, &st,
            "SELECT id, notifier, kind, finding_id, event, body, attempts, created_us,"
            " next_at_us FROM notifications q WHERE next_at_us <= ?1 AND NOT EXISTS"
            " (SELECT 1 FROM notifications o WHERE o.notifier = q.notifier"
            " AND o.finding_id = q.finding_id AND o.id < q.id) ORDER BY id LIMIT ?2",
            err, errlen) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, now_us);
    sqlite3_bind_int64(st, 2, limit > 0 ? (int64_t)limit : -1);
    struct notification_ctx c = {cb, arg};
    return store_sqlite_each(b, st, notification_row, &c, err, errlen);
}

int store_sqlite_notification_done(void *b, int64_t id, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (store_sqlite_prep(b, &st, "DELETE FROM notifications WHERE id = ?1", err, errlen) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    return store_sqlite_run(b, st, "removing a delivered notification", err, errlen);
}

int store_sqlite_notification_retry(void *b, int64_t id, uint32_t attempts, int64_t next_at_us,
                                    char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (store_sqlite_prep(b, &st,
                          "UPDATE notifications SET attempts = ?2, next_at_us = ?3 WHERE id = ?1",
                          err, errlen) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, attempts);
    sqlite3_bind_int64(st, 3, next_at_us);
    return store_sqlite_run(b, st, "rescheduling a notification", err, errlen);
}

int store_sqlite_notifications_pending(void *b, uint64_t *n, int64_t *next_at_us, char *err,
                                       size_t errlen)
{
    sqlite3_stmt *st;
    if (store_sqlite_prep(b, &st,
                          "SELECT COUNT(*), COALESCE(MIN(next_at_us), 0) FROM notifications", err,
                          errlen) < 0)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *n = (uint64_t)sqlite3_column_int64(st, 0);
        *next_at_us = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : store_sqlite_fail(b, "counting notifications", err, errlen);
}
