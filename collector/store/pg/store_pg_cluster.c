/*
 * store_pg_cluster — several collectors on one PostgreSQL database
 * (store.h "several collectors", store_impl.h store_cluster_ops): the
 * registry of collectors, leases and the probe-now queue, as
 * store_sqlite_cluster.c keeps them on sqlite.
 *
 * Each statement is its own transaction unless the caller holds one. The
 * lease is one INSERT .. ON CONFLICT DO UPDATE .. WHERE: PostgreSQL takes
 * the row lock for it, so two collectors racing for an expired lease get
 * one winner, told by the command's row count.
 *
 * A queued probe-now request wakes every collector at once: the INSERT
 * that queues it also NOTIFYs STORE_PG_WAKE_CHANNEL (one statement, so the
 * wake-up goes out at its commit, never before the row is visible), and
 * each serving collector LISTENs on a connection of its own, the wake
 * connection. Not on the backend's connection: that one reconnects
 * whenever a statement fails and would silently lose its LISTEN, and
 * serve would go on polling a closed descriptor. The wake connection is
 * reopened only by store_probe_listen, so the caller (cluster.c) always
 * knows whether it is woken or must poll (docs/reference.md, "Several
 * collectors").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"
#include "store_pg.h"

/* The channel of probe-now wake-ups; the payload is the request's id. */
#define STORE_PG_WAKE_CHANNEL "vantage_probe_now"

/* ---- registry ---- */

static int collector_put(void *b, const struct store_collector *c, char *err, size_t errlen)
{
    char v[4][24];
    const char *p[] = {c->id,
                       c->host ? c->host : "",
                       store_pg_i64(v[0], c->pid),
                       store_pg_i64(v[1], c->started_us),
                       store_pg_i64(v[2], c->heartbeat_us),
                       c->version ? c->version : "",
                       c->targets ? c->targets : "",
                       store_pg_i64(v[3], c->agents)};
    return store_pg_run(b,
                        "INSERT INTO collectors(id, host, pid, started_us, heartbeat_us, version,"
                        " targets, agents) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                        " ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid,"
                        " started_us = excluded.started_us, heartbeat_us = excluded.heartbeat_us,"
                        " version = excluded.version, targets = excluded.targets,"
                        " agents = excluded.agents",
                        8, p, "recording the collector's heartbeat", err, errlen);
}

static int collector_delete(void *b, const char *id, int64_t forget_before_us, char *err,
                            size_t errlen)
{
    char v[24];
    const char *p[] = {id ? id : "", store_pg_i64(v, forget_before_us)};
    return store_pg_run(b, "DELETE FROM collectors WHERE id = $1 OR heartbeat_us < $2::bigint", 2,
                        p, "removing a collector from the registry", err, errlen);
}

static int collectors_each(void *b, store_collector_cb cb, void *arg, char *err, size_t errlen)
{
    PGresult *res = store_pg_query(b,
                                   "SELECT id, host, pid, started_us, heartbeat_us, version,"
                                   " targets, agents FROM collectors"
                                   " ORDER BY started_us, id COLLATE \"C\"",
                                   0, NULL, "listing collectors", err, errlen);
    if (res == NULL)
        return -1;
    int ret = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        struct store_collector c = {
            .id = store_pg_get_text(res, i, 0),
            .host = store_pg_get_text(res, i, 1),
            .pid = store_pg_get_i64(res, i, 2),
            .started_us = store_pg_get_i64(res, i, 3),
            .heartbeat_us = store_pg_get_i64(res, i, 4),
            .version = store_pg_get_text(res, i, 5),
            .targets = store_pg_get_text(res, i, 6),
            .agents = (uint32_t)store_pg_get_i64(res, i, 7),
        };
        int r = cb(&c, arg);
        if (r != 0) {
            if (r < 0) {
                snprintf(err, errlen, "database %s: a reader failed", store_pg_where(b));
                ret = -1;
            }
            break;
        }
    }
    PQclear(res);
    return ret;
}

/* ---- leases ---- */

static int lease_get(void *b, const char *name, struct store_lease *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *p[] = {name};
    PGresult *res = store_pg_query(b, "SELECT holder, expires_us FROM leases WHERE name = $1", 1, p,
                                   "reading a lease", err, errlen);
    if (res == NULL)
        return -1;
    if (PQntuples(res) == 1) {
        const char *h = store_pg_get_text(res, 0, 0);
        snprintf(out->holder, sizeof(out->holder), "%s", h ? h : "");
        out->expires_us = store_pg_get_i64(res, 0, 1);
    }
    PQclear(res);
    return 0;
}

static int lease_take(void *b, const char *name, const char *holder, int64_t now_us, int64_t ttl_us,
                      struct store_lease *out, char *err, size_t errlen)
{
    char v[2][24];
    const char *p[] = {name, holder, store_pg_i64(v[0], now_us + ttl_us),
                       store_pg_i64(v[1], now_us)};
    PGresult *res =
        store_pg_query(b,
                       "INSERT INTO leases(name, holder, expires_us) VALUES ($1, $2, $3)"
                       " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
                       " expires_us = excluded.expires_us"
                       " WHERE leases.holder = excluded.holder"
                       " OR leases.expires_us <= $4::bigint",
                       4, p, "taking a lease", err, errlen);
    if (res == NULL)
        return -1;
    bool taken = strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    if (taken) {
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
    const char *p[] = {name, holder};
    return store_pg_run(b, "DELETE FROM leases WHERE name = $1 AND holder = $2", 2, p,
                        "releasing a lease", err, errlen);
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

/* As on sqlite: requests this long past their expiry are removed (with
 * their answers) when the next is queued. */
#define PROBE_FORGET_US (3600LL * 1000000)

static int probe_request_add(void *b, const struct store_probe_request *r, int64_t *id, char *err,
                             size_t errlen)
{
    char v[3][24];
    const char *old[] = {store_pg_i64(v[0], r->created_us - PROBE_FORGET_US)};
    if (store_pg_run(b,
                     "DELETE FROM probe_answers WHERE request_id IN"
                     " (SELECT id FROM probe_requests WHERE expires_us < $1::bigint)",
                     1, old, "forgetting old probe-now answers", err, errlen) < 0 ||
        store_pg_run(b, "DELETE FROM probe_requests WHERE expires_us < $1::bigint", 1, old,
                     "forgetting old probe-now requests", err, errlen) < 0)
        return -1;
    const char *p[] = {r->target ? r->target : "", store_pg_i64(v[1], r->created_us),
                       store_pg_i64(v[2], r->expires_us)};
    PGresult *res = store_pg_query(b,
                                   "WITH r AS (INSERT INTO probe_requests(target, created_us,"
                                   " expires_us) VALUES ($1, $2, $3) RETURNING id)"
                                   " SELECT id, pg_notify('" STORE_PG_WAKE_CHANNEL "', id::text)"
                                   " FROM r",
                                   3, p, "queueing a probe-now request", err, errlen);
    if (res == NULL)
        return -1;
    *id = store_pg_get_i64(res, 0, 0);
    PQclear(res);
    return 0;
}

static int probe_requests_after(void *b, int64_t after_id, int64_t now_us,
                                store_probe_request_cb cb, void *arg, char *err, size_t errlen)
{
    char v[2][24];
    const char *p[] = {store_pg_i64(v[0], after_id), store_pg_i64(v[1], now_us)};
    PGresult *res = store_pg_query(b,
                                   "SELECT id, target, created_us, expires_us FROM probe_requests"
                                   " WHERE id > $1::bigint AND expires_us > $2::bigint ORDER BY id",
                                   2, p, "reading the probe-now queue", err, errlen);
    if (res == NULL)
        return -1;
    int ret = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        struct store_probe_request r = {
            .id = store_pg_get_i64(res, i, 0),
            .target = store_pg_get_text(res, i, 1),
            .created_us = store_pg_get_i64(res, i, 2),
            .expires_us = store_pg_get_i64(res, i, 3),
        };
        int rc = cb(&r, arg);
        if (rc != 0) {
            if (rc < 0) {
                snprintf(err, errlen, "database %s: a reader failed", store_pg_where(b));
                ret = -1;
            }
            break;
        }
    }
    PQclear(res);
    return ret;
}

static int probe_answer_add(void *b, const struct store_probe_answer *a, char *err, size_t errlen)
{
    char v[2][24];
    const char *p[] = {store_pg_i64(v[0], a->request_id), a->collector,
                       a->agents ? a->agents : "[]", store_pg_i64(v[1], a->at_us)};
    return store_pg_run(b,
                        "INSERT INTO probe_answers(request_id, collector, agents, at_us)"
                        " VALUES ($1, $2, $3, $4) ON CONFLICT (request_id, collector)"
                        " DO UPDATE SET agents = excluded.agents, at_us = excluded.at_us",
                        4, p, "recording a probe-now answer", err, errlen);
}

static int probe_answers_each(void *b, int64_t request_id, store_probe_answer_cb cb, void *arg,
                              char *err, size_t errlen)
{
    char v[24];
    const char *p[] = {store_pg_i64(v, request_id)};
    PGresult *res = store_pg_query(b,
                                   "SELECT request_id, collector, agents, at_us FROM probe_answers"
                                   " WHERE request_id = $1::bigint"
                                   " ORDER BY at_us, collector COLLATE \"C\"",
                                   1, p, "reading probe-now answers", err, errlen);
    if (res == NULL)
        return -1;
    int ret = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        struct store_probe_answer a = {
            .request_id = store_pg_get_i64(res, i, 0),
            .collector = store_pg_get_text(res, i, 1),
            .agents = store_pg_get_text(res, i, 2),
            .at_us = store_pg_get_i64(res, i, 3),
        };
        int rc = cb(&a, arg);
        if (rc != 0) {
            if (rc < 0) {
                snprintf(err, errlen, "database %s: a reader failed", store_pg_where(b));
                ret = -1;
            }
            break;
        }
    }
    PQclear(res);
    return ret;
}

static void wake_close(void *b)
{
    PGconn **wake = store_pg_wake_conn(b);
    if (*wake != NULL)
        PQfinish(*wake);
    *wake = NULL;
}

/* (Re)opens the wake connection and LISTENs on it: blocking for up to
 * the connect timeout, so the caller retries with a backoff. */
static int probe_listen(void *b, int *fd, char *err, size_t errlen)
{
    PGconn **wake = store_pg_wake_conn(b);
    *fd = -1;
    if (*wake != NULL && PQstatus(*wake) == CONNECTION_OK) {
        *fd = PQsocket(*wake);
        return 0;
    }
    if (store_pg_connect(b, wake, err, errlen) < 0) {
        wake_close(b);
        return -1;
    }
    PGresult *res = PQexec(*wake, "LISTEN " STORE_PG_WAKE_CHANNEL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        snprintf(err, errlen, "database %s: LISTEN " STORE_PG_WAKE_CHANNEL " failed: %s",
                 store_pg_where(b), PQerrorMessage(*wake));
        err[strcspn(err, "\n")] = '\0';
        PQclear(res);
        wake_close(b);
        return -1;
    }
    PQclear(res);
    /* Nothing is ever sent on it again: reading must not block serve. */
    if (PQsetnonblocking(*wake, 1) != 0 || PQsocket(*wake) < 0) {
        snprintf(err, errlen, "database %s: the wake connection has no descriptor",
                 store_pg_where(b));
        wake_close(b);
        return -1;
    }
    *fd = PQsocket(*wake);
    return 0;
}

/* Reads what arrived on the wake connection. A lost connection is
 * closed here, so that the caller stops polling its descriptor. */
static int probe_drain(void *b, char *err, size_t errlen)
{
    PGconn **wake = store_pg_wake_conn(b);
    if (*wake == NULL) {
        snprintf(err, errlen, "database %s: not listening for probe-now requests",
                 store_pg_where(b));
        return -1;
    }
    if (PQconsumeInput(*wake) == 0 || PQstatus(*wake) != CONNECTION_OK) {
        snprintf(err, errlen, "database %s: the wake connection is lost: %s", store_pg_where(b),
                 PQerrorMessage(*wake));
        err[strcspn(err, "\n")] = '\0';
        wake_close(b);
        return -1;
    }
    int woken = 0;
    PGnotify *n;
    while ((n = PQnotifies(*wake)) != NULL) {
        woken = 1;
        PQfreemem(n);
    }
    return woken;
}

const struct store_cluster_ops store_pg_cluster_ops = {
    .scheme = "postgresql",
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
