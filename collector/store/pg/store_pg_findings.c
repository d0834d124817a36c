/*
 * store_pg_findings — findings, their events and the notification queue
 * in the PostgreSQL backend (store.h "findings", store_pg.h). Written a
 * few times per evaluation, not per result: one statement per call.
 */
#include <stdio.h>
#include <string.h>

#include "store_pg.h"

int store_pg_finding_put(void *b, const struct store_finding *f, char *err, size_t errlen)
{
    char v[8][24];
    const char *p[] = {f->id,
                       f->target,
                       f->severity,
                       f->verdict,
                       f->layer,
                       store_pg_i64(v[0], (int64_t)f->state),
                       store_pg_i64(v[1], f->seen),
                       store_pg_i64(v[2], f->clean),
                       store_pg_i64(v[3], f->first_seen_us),
                       store_pg_i64(v[4], f->opened_at_us),
                       store_pg_i64(v[5], f->resolved_at_us),
                       store_pg_i64(v[6], f->started_at_us),
                       store_pg_i64(v[7], f->updated_at_us),
                       f->json ? f->json : "{}"};
    return store_pg_run(
        b,
        "INSERT INTO findings(id, target, severity, verdict, layer, state, seen, clean,"
        " first_seen_us, opened_at_us, resolved_at_us, started_at_us, updated_at_us, json)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        " ON CONFLICT (id) DO UPDATE SET target = excluded.target, severity = excluded.severity,"
        " verdict = excluded.verdict, layer = excluded.layer, state = excluded.state,"
        " seen = excluded.seen, clean = excluded.clean, first_seen_us = excluded.first_seen_us,"
        " opened_at_us = excluded.opened_at_us, resolved_at_us = excluded.resolved_at_us,"
        " started_at_us = excluded.started_at_us, updated_at_us = excluded.updated_at_us,"
        " json = excluded.json",
        14, p, "writing a finding", err, errlen);
}

int store_pg_finding_delete(void *b, const char *id, char *err, size_t errlen)
{
    const char *p[] = {id};
    return store_pg_run(b, "DELETE FROM findings WHERE id = $1", 1, p, "deleting a finding", err,
                        errlen);
}

int store_pg_findings_each(void *b, const struct store_finding_filter *f, store_finding_cb cb,
                           void *arg, char *err, size_t errlen)
{
    char v[3][24];
    /* $2: the lowest state wanted, $3 the highest. */
    const char *p[] = {
        f->target, store_pg_i64(v[0], f->with_pending ? STORE_FINDING_PENDING : STORE_FINDING_OPEN),
        store_pg_i64(v[1], f->open_only ? STORE_FINDING_OPEN : STORE_FINDING_RESOLVED),
        store_pg_i64(v[2], f->since_us)};
    PGresult *res = store_pg_query(
        b,
        "SELECT id, target, severity, verdict, layer, state, seen, clean, first_seen_us,"
        " opened_at_us, resolved_at_us, started_at_us, updated_at_us, json FROM findings"
        " WHERE state BETWEEN $2::int AND $3::int AND ($1::text IS NULL OR target = $1)"
        " AND updated_at_us >= $4::bigint"
        " ORDER BY target COLLATE \"C\", CASE WHEN opened_at_us = 0 THEN first_seen_us"
        " ELSE opened_at_us END, id COLLATE \"C\"",
        4, p, "listing findings", err, errlen);
    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        struct store_finding x = {
            .id = store_pg_get_text(res, i, 0),
            .target = store_pg_get_text(res, i, 1),
            .severity = store_pg_get_text(res, i, 2),
            .verdict = store_pg_get_text(res, i, 3),
            .layer = store_pg_get_text(res, i, 4),
            .state = (enum store_finding_state)store_pg_get_i64(res, i, 5),
            .seen = (uint32_t)store_pg_get_i64(res, i, 6),
            .clean = (uint32_t)store_pg_get_i64(res, i, 7),
            .first_seen_us = store_pg_get_i64(res, i, 8),
            .opened_at_us = store_pg_get_i64(res, i, 9),
            .resolved_at_us = store_pg_get_i64(res, i, 10),
            .started_at_us = store_pg_get_i64(res, i, 11),
            .updated_at_us = store_pg_get_i64(res, i, 12),
            .json = store_pg_get_text(res, i, 13),
        };
        if (cb(&x, arg) != 0)
            break;
    }
    PQclear(res);
    return 0;
}

int store_pg_finding_event_add(void *b, const struct store_finding_event *e, char *err,
                               size_t errlen)
{
    char v[24];
    const char *p[] = {e->finding_id, e->target, store_pg_i64(v, e->at_us), e->event,
                       e->json ? e->json : "{}"};
    return store_pg_run(b,
                        "INSERT INTO finding_events(finding_id, target, at_us, event, json)"
                        " VALUES ($1, $2, $3, $4, $5)",
                        5, p, "recording a finding's event", err, errlen);
}

int store_pg_finding_events_each(void *b, const char *target, int64_t since_us,
                                 store_finding_event_cb cb, void *arg, char *err, size_t errlen)
{
    char v[24];
    const char *p[] = {target, store_pg_i64(v, since_us)};
    PGresult *res = store_pg_query(b,
                                   "SELECT seq, finding_id, target, at_us, event, json"
                                   " FROM finding_events WHERE ($1::text IS NULL OR target = $1)"
                                   " AND at_us >= $2::bigint ORDER BY at_us, seq",
                                   2, p, "listing finding events", err, errlen);
    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        struct store_finding_event e = {.seq = store_pg_get_i64(res, i, 0),
                                        .finding_id = store_pg_get_text(res, i, 1),
                                        .target = store_pg_get_text(res, i, 2),
                                        .at_us = store_pg_get_i64(res, i, 3),
                                        .event = store_pg_get_text(res, i, 4),
                                        .json = store_pg_get_text(res, i, 5)};
        if (cb(&e, arg) != 0)
            break;
    }
    PQclear(res);
    return 0;
}

int store_pg_notification_add(void *b, const struct store_notification *n, char *err, size_t errlen)
{
    char v[3][24];
    const char *p[] = {n->notifier,
                       n->kind,
                       n->finding_id,
                       n->event,
                       n->body,
                       store_pg_i64(v[0], n->attempts),
                       store_pg_i64(v[1], n->created_us),
                       store_pg_i64(v[2], n->next_at_us)};
    return store_pg_run(b,
                        "INSERT INTO notifications(notifier, kind, finding_id, event, body,"
                        " attempts, created_us, next_at_us) VALUES ($1, $2, $3, $4, $5, $6, $7,"
                        " $8)",
                        8, p, "queueing a notification", err, errlen);
}

int store_pg_notifications_due(void *b, int64_t now_us, size_t limit, store_notification_cb cb,
                               void *arg, char *err, size_t errlen)
{
    char v[2][24];
    const char *p[] = {store_pg_i64(v[0], now_us),
                       limit > 0 ? store_pg_i64(v[1], (int64_t)limit) : NULL};
    PGresult *res = store_pg_query(
        b,
        "SELECT id, notifier, kind, finding_id, event, body, attempts, created_us,"
        " next_at_us FROM notifications q WHERE next_at_us <= $1::bigint AND NOT EXISTS"
        " (SELECT 1 FROM notifications o WHERE o.notifier = q.notifier"
        " AND o.finding_id = q.finding_id AND o.id < q.id) ORDER BY id LIMIT $2::bigint",
        2, p, "listing due notifications", err, errlen);
    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        struct store_notification n = {.id = store_pg_get_i64(res, i, 0),
                                       .notifier = store_pg_get_text(res, i, 1),
                                       .kind = store_pg_get_text(res, i, 2),
                                       .finding_id = store_pg_get_text(res, i, 3),
                                       .event = store_pg_get_text(res, i, 4),
                                       .body = store_pg_get_text(res, i, 5),
                                       .attempts = (uint32_t)store_pg_get_i64(res, i, 6),
                                       .created_us = store_pg_get_i64(res, i, 7),
                                       .next_at_us = store_pg_get_i64(res, i, 8)};
        if (cb(&n, arg) != 0)
            break;
    }
    PQclear(res);
    return 0;
}

int store_pg_notification_done(void *b, int64_t id, char *err, size_t errlen)
{
    char v[24];
    const char *p[] = {store_pg_i64(v, id)};
    return store_pg_run(b, "DELETE FROM notifications WHERE id = $1", 1, p,
                        "removing a delivered notification", err, errlen);
}

int store_pg_notification_retry(void *b, int64_t id, uint32_t attempts, int64_t next_at_us,
                                char *err, size_t errlen)
{
    char v[3][24];
    const char *p[] = {store_pg_i64(v[0], id), store_pg_i64(v[1], attempts),
                       store_pg_i64(v[2], next_at_us)};
    return store_pg_run(b, "UPDATE notifications SET attempts = $2, next_at_us = $3 WHERE id = $1",
                        3, p, "rescheduling a notification", err, errlen);
}

int store_pg_notifications_pending(void *b, uint64_t *n, int64_t *next_at_us, char *err,
                                   size_t errlen)
{
    PGresult *res =
        store_pg_query(b, "SELECT count(*), COALESCE(min(next_at_us), 0) FROM notifications", 0,
                       NULL, "counting notifications", err, errlen);
    if (res == NULL)
        return -1;
    *n = (uint64_t)store_pg_get_i64(res, 0, 0);
    *next_at_us = store_pg_get_i64(res, 0, 1);
    PQclear(res);
    return 0;
}
