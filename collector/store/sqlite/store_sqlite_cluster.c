/*
 * store_sqlite_cluster — several collectors on one sqlite database
 * (store.h "several collectors", store_impl.h store_cluster_ops): the
 * registry of collectors, leases and the probe-now queue.
 *
 * On sqlite the collectors share one file on one machine (WAL); each
 * statement here is its own short transaction unless the caller holds
 * one. Nothing wakes a listener: sqlite has no notification channel, so
 * store_probe_listen gives -1 and collectors poll the queue (cluster.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"
#include "store_sqlite.h"

static const char *col(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    return t != NULL ? t : "";
}

/* ---- registry ---- */

static int collector_put(void *b, const struct store_collector *c, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (store_sqlite_prep(
            b, &st,
            "INSERT OR REPLACE INTO collectors(id, host, pid, started_us, heartbeat_us, version,"
            " targets, agents) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            err, errlen) < 0)
        return -1;
    sqlite3_bind_text(st, 1, c->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, c->host ? c->host : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, c->pid);
    sqlite3_bind_int64(st, 4, c->started_us);
    sqlite3_bind_int64(st, 5, c->heartbeat_us);
    sqlite3_bind_text(st, 6, c->version ? c->version : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, c->targets ? c->targets : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 8, c->agents);
    return store_sqlite_run(b, st, "recording the collector's heartbeat", err, errlen);
}

static int collector_delete(void *b, const char *id, int64_t forget_before_us, char *err,
                            size_t errlen)
{
    sqlite3_stmt *st;
    if (store_sqlite_prep(b, &st, "DELETE FROM collectors WHERE id = ?1 OR heartbeat_us < ?2", err,
                          errlen) < 0)
        return -1;
    sqlite3_bind_text(st, 1, id ? id : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, forget_before_us);
    return store_sqlite_run(b, st, "removing a collector from the registry", err, errlen);
}

struct collector_ctx {
    store_collector_cb cb;
    void *arg;
};

static int collector_row(sqlite3_stmt *st, void *p)
{
    struct collector_ctx *x = p;
    struct store_collector c = {
        .id = col(st, 0),
        .host = col(st, 1),
        .pid = sqlite3_column_int64(st, 2),
        .started_us = sqlite3_column_int64(st, 3),
        .heartbeat_us = sqlite3_column_int64(st, 4),
        .version = col(st, 5),
        .targets = col(st, 6),
        .agents = (uint32_t)sqlite3_column_int64(st, 7),
    };
    return x->cb(&c, x->arg);
}

static int collectors_each(void *b, store_collector_cb cb, void *arg, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (store_sqlite_prep(b, &st,
                          "SELECT id, host, pid, started_us, heartbeat_us, version, targets, agents"
                          " FROM collectors ORDER BY started_us, id",
                          err, errlen) < 0)
        return -1;
    struct collector_ctx x = {cb, arg};
    return store_sqlite_each(b, st, collector_row, &x, err, errlen);
}

/* ---- leases ---- */

static int lease_get(void *b, const char *name, struct store_lease *out, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    memset(out, 0, sizeof(*out));
    if (store_sqlite_prep(b, &st, "SELECT holder, expires_us FROM leases WHERE name = ?1", err,
                          errlen) < 0)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        snprintf(out->holder, sizeof(out->holder), "%s", col(st, 0));
        out->expires_us = sqlite3_column_int64(st, 1);
    }
    int ret = rc == SQLITE_ROW || rc == SQLITE_DONE
                  ? 0
                  : store_sqlite_fail(b, "reading a lease", err, errlen);
    sqlite3_finalize(st);
    return ret;
}

static int lease_take(void *b, const char *name, const char *holder, int64_t now_us, int64_t ttl_us,
                      struct store_lease *out, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    /* One statement, so one atomic step: the row changes only when it is
     * free, ours, or expired; sqlite3_changes() says whether it did. */
    if (store_sqlite_prep(b, &st,
                          "INSERT INTO leases(name, holder, expires_us) VALUES (?1, ?2, ?3)"
                          " ON CONFLICT(name) DO UPDATE SET holder = excluded.holder,"
                          " expires_us = excluded.expires_us"
                          " WHERE leases.holder = excluded.holder OR leases.expires_us <= ?4",
                          err, errlen) < 0)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, holder, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, now_us + ttl_us);
    sqlite3_bind_int64(st, 4, now_us);
    if (store_sqlite_run(b, st, "taking a lease", err, errlen) < 0)
        return -1;
    if (sqlite3_changes(store_sqlite_db(b)) == 1) {
        snprintf(out->holder, sizeof(out->holder), "%s", holder);
        out->expires_us = now_us + ttl_us;
        return 1;
    }
    if (lease_get(b, name, out, err, errlen) < 0)
        return -1;
    return strcmp(out->holder, holder) == 0 && out->expires_us > now_us;
}

static int lease_release(void *b, const char *name, const char *holder, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (store_sqlite_prep(b, &st, "DELETE FROM leases WHERE name = ?1 AND holder = ?2", err,
                          errlen) < 0)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, holder, -1, SQLITE_TRANSIENT);
    return store_sqlite_run(b, st, "releasing a lease", err, errlen);
}

static int lease_held(void *b, const char *name, const char *holder, int64_t now_us, char *err,
                      size_t errlen)
{
    struct store_lease l;
    if (lease_get(b, name, &l, err, errlen) < 0)
        return -1;
    return strcmp(l.holder, holder) == 0 && l.expires_us > now_us;
}

/* ---- the probe-now queue ---- */

/* Requests this long past their expiry are removed (with their answers)
 * when the next is queued: the queue holds minutes of requests, never
 * history. */
#define PROBE_FORGET_US (3600LL * 1000000)

static int probe_request_add(void *b, const struct store_probe_request *r, int64_t *id, char *err,
                             size_t errlen)
{
    sqlite3_stmt *st;
    if (store_sqlite_prep(b, &st,
                          "DELETE FROM probe_answers WHERE request_id IN"
                          " (SELECT id FROM probe_requests WHERE expires_us < ?1)",
                          err, errlen) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, r->created_us - PROBE_FORGET_US);
    if (store_sqlite_run(b, st, "forgetting old probe-now answers", err, errlen) < 0)
        return -1;
    if (store_sqlite_prep(b, &st, "DELETE FROM probe_requests WHERE expires_us < ?1", err, errlen) <
        0)
        return -1;
    sqlite3_bind_int64(st, 1, r->created_us - PROBE_FORGET_US);
    if (store_sqlite_run(b, st, "forgetting old probe-now requests", err, errlen) < 0)
        return -1;
    if (store_sqlite_prep(
            b, &st,
            "INSERT INTO probe_requests(target, created_us, expires_us) VALUES (?1, ?2, ?3)", err,
            errlen) < 0)
        return -1;
    sqlite3_bind_text(st, 1, r->target ? r->target : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, r->created_us);
    sqlite3_bind_int64(st, 3, r->expires_us);
    if (store_sqlite_run(b, st, "queueing a probe-now request", err, errlen) < 0)
        return -1;
    *id = sqlite3_last_insert_rowid(store_sqlite_db(b));
    return 0;
}

/* Requests read per call; the rest wait for the next poll (the caller
 * moves after_id past what it served). */
#define PROBE_READ_MAX 64

struct request_list {
    struct store_probe_request r[PROBE_READ_MAX];
    char *target[PROBE_READ_MAX];
    size_t n;
};

static int request_row(sqlite3_stmt *st, void *p)
{
    struct request_list *l = p;
    char *t = strdup(col(st, 1));
    if (t == NULL)
        return -1;
    l->target[l->n] = t;
    l->r[l->n] = (struct store_probe_request){
        .id = sqlite3_column_int64(st, 0),
        .target = t,
        .created_us = sqlite3_column_int64(st, 2),
        .expires_us = sqlite3_column_int64(st, 3),
    };
    return ++l->n == PROBE_READ_MAX ? 1 : 0;
}

/* The rows are read and the statement finished before the callbacks run:
 * a callback that writes (its answer) inside the open read would have to
 * upgrade a WAL snapshot that another collector's commit made stale, and
 * sqlite refuses that at once with SQLITE_BUSY, whatever the busy
 * timeout. */
static int probe_requests_after(void *b, int64_t after_id, int64_t now_us,
                                store_probe_request_cb cb, void *arg, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (store_sqlite_prep(b, &st,
                          "SELECT id, target, created_us, expires_us FROM probe_requests"
                          " WHERE id > ?1 AND expires_us > ?2 ORDER BY id LIMIT ?3",
                          err, errlen) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, after_id);
    sqlite3_bind_int64(st, 2, now_us);
    sqlite3_bind_int(st, 3, PROBE_READ_MAX);
    struct request_list l = {.n = 0};
    int ret = store_sqlite_each(b, st, request_row, &l, err, errlen);
    for (size_t i = 0; i < l.n && ret == 0; i++) {
        int rc = cb(&l.r[i], arg);
        if (rc < 0) {
            snprintf(err, errlen, "database %s: a reader failed", store_sqlite_path(b));
            ret = -1;
        } else if (rc > 0) {
            break;
        }
    }
    for (size_t i = 0; i < l.n; i++)
        free(l.target[i]);
    return ret;
}

static int probe_answer_add(void *b, const struct store_probe_answer *a, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (store_sqlite_prep(
            b, &st,
            "INSERT OR REPLACE INTO probe_answers(request_id, collector, agents, at_us)"
            " VALUES (?1, ?2, ?3, ?4)",
            err, errlen) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, a->request_id);
    sqlite3_bind_text(st, 2, a->collector, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, a->agents ? a->agents : "[]", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, a->at_us);
    return store_sqlite_run(b, st, "recording a probe-now answer", err, errlen);
}

struct answer_ctx {
    store_probe_answer_cb cb;
    void *arg;
};

static int answer_row(sqlite3_stmt *st, void *p)
{
    struct answer_ctx *x = p;
    struct store_probe_answer a = {
        .request_id = sqlite3_column_int64(st, 0),
        .collector = col(st, 1),
        .agents = col(st, 2),
        .at_us = sqlite3_column_int64(st, 3),
    };
    return x->cb(&a, x->arg);
}

static int probe_answers_each(void *b, int64_t request_id, store_probe_answer_cb cb, void *arg,
                              char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (store_sqlite_prep(b, &st,
                          "SELECT request_id, collector, agents, at_us FROM probe_answers"
                          " WHERE request_id = ?1 ORDER BY at_us, collector",
                          err, errlen) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, request_id);
    struct answer_ctx x = {cb, arg};
    return store_sqlite_each(b, st, answer_row, &x, err, errlen);
}

static int probe_listen(void *b, int *fd, char *err, size_t errlen)
{
    (void)b;
    (void)err;
    (void)errlen;
    *fd = -1;
    return 0;
}

static int probe_drain(void *b, char *err, size_t errlen)
{
    (void)b;
    (void)err;
    (void)errlen;
    return 0;
}

const struct store_cluster_ops store_sqlite_cluster_ops = {
    .scheme = "sqlite",
    .collector_put = collector_put,
    .collector_delete = collector_delete,
    .collectors_each = collectors_each,
    .lease_take = lease_take,
    .lease_release = lease_release,
    .lease_get = lease_get,
    .lease_held = lease_held,
    .probe_request_add = probe_request_add,
    .probe_requests_after = probe_requests_after,
    .probe_answer_add = probe_answer_add,
    .probe_answers_each = probe_answers_each,
    .probe_listen = probe_listen,
    .probe_drain = probe_drain,
};
