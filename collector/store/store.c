/*
 * store — the dispatcher: picks a backend by the location's prefix and
 * forwards every call to it, keeping the last error message for
 * store_error(). Ingest and analysis see only store.h.
 */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"

struct store {
    const struct store_ops *ops;
    const struct store_cluster_ops *cluster; /* NULL: the backend has none */
    void *b;                                 /* the backend's state */
    char err[STORE_ERR_MAX];                 /* last failure, "" when none yet */
};

/* Backends compiled in; the first is the one of a plain path. */
static const struct store_ops *const backends[] = {&store_sqlite_ops, &store_pg_ops};

/* Their operations for several collectors on one database, by scheme. */
static const struct store_cluster_ops *const cluster_backends[] = {&store_sqlite_cluster_ops,
                                                                   &store_pg_cluster_ops};

/* Other names of a backend's scheme: libpq accepts both URI schemes, and
 * so does the store. */
static const struct {
    const char *alias, *scheme;
} scheme_aliases[] = {{"postgres", "postgresql"}};

/* Whether the n-byte scheme at loc names ops's backend. */
static bool scheme_is(const char *loc, size_t n, const struct store_ops *ops)
{
    if (strlen(ops->scheme) == n && strncmp(ops->scheme, loc, n) == 0)
        return true;
    for (size_t i = 0; i < sizeof(scheme_aliases) / sizeof(scheme_aliases[0]); i++)
        if (strlen(scheme_aliases[i].alias) == n && strncmp(scheme_aliases[i].alias, loc, n) == 0 &&
            strcmp(scheme_aliases[i].scheme, ops->scheme) == 0)
            return true;
    return false;
}

/* The scheme of "scheme:rest" when the prefix looks like a URI scheme
 * (letters, digits, '+', '-', '.'; at least two characters so that a
 * Windows-like drive letter never counts). Returns its length, or 0 when
 * the location is a plain path. */
static size_t scheme_len(const char *loc)
{
    size_t i = 0;
    while ((loc[i] >= 'a' && loc[i] <= 'z') || (loc[i] >= 'A' && loc[i] <= 'Z') ||
           (i > 0 &&
            ((loc[i] >= '0' && loc[i] <= '9') || loc[i] == '+' || loc[i] == '-' || loc[i] == '.')))
        i++;
    return (i >= 2 && loc[i] == ':') ? i : 0;
}

void store_location_redact(const char *location, char *out, size_t n)
{
    size_t o = 0;
    for (const char *p = location; *p != '\0' && o + 1 < n;) {
        /* URI userinfo: "//user:password@" */
        if (p[0] == '/' && p[1] == '/') {
            const char *at = strpbrk(p + 2, "@/?");
            const char *colon = strchr(p + 2, ':');
            if (at != NULL && *at == '@' && colon != NULL && colon < at) {
                o += (size_t)snprintf(out + o, n - o, "%.*s:***@", (int)(colon - p), p);
                p = at + 1;
                continue;
            }
        }
        /* "password=" in conninfo or a URI's query */
        if (strncmp(p, "password=", 9) == 0 &&
            (p == location || p[-1] == ' ' || p[-1] == '?' || p[-1] == '&')) {
            o += (size_t)snprintf(out + o, n - o, "password=***");
            p += 9 + strcspn(p + 9, " &");
            continue;
        }
        out[o++] = *p++;
    }
    if (o >= n)
        o = n - 1;
    out[o] = '\0';
}

struct store *store_open(const char *location, char *err, size_t errlen)
{
    return store_open_flags(location, 0, err, errlen);
}

struct store *store_open_flags(const char *location, unsigned flags, char *err, size_t errlen)
{
    if (location == NULL || location[0] == '\0') {
        snprintf(err, errlen,
                 "no database location given (set `database =` in the "
                 "[collector] section)");
        return NULL;
    }
    const struct store_ops *ops = backends[0];
    const char *path = location;
    size_t n = scheme_len(location);
    if (n > 0) {
        ops = NULL;
        for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
            if (scheme_is(location, n, backends[i]))
                ops = backends[i];
        }
        if (ops == NULL) {
            snprintf(err, errlen,
                     "database: unknown backend \"%.*s\" (this build has: sqlite:PATH or a "
                     "plain PATH, postgresql://… or postgres://…)",
                     (int)n, location);
            return NULL;
        }
        path = location + n + 1;
    }
    struct store *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "database: out of memory");
        return NULL;
    }
    s->ops = ops;
    for (size_t i = 0; i < sizeof(cluster_backends) / sizeof(cluster_backends[0]); i++)
        if (strcmp(cluster_backends[i]->scheme, ops->scheme) == 0)
            s->cluster = cluster_backends[i];
    s->b = ops->open(path, flags, err, errlen);
    if (s->b == NULL) {
        free(s);
        return NULL;
    }
    return s;
}

void store_close(struct store **sp)
{
    if (sp == NULL || *sp == NULL)
        return;
    struct store *s = *sp;
    s->ops->close(s->b);
    free(s);
    *sp = NULL;
}

void store_set_log(struct store *s, struct log *log)
{
    if (s->ops->set_log != NULL)
        s->ops->set_log(s->b, log);
}

void *store_backend(struct store *s, const struct store_ops **ops)
{
    if (ops != NULL)
        *ops = s->ops;
    return s->b;
}

const char *store_error(const struct store *s)
{
    return s->err;
}

int store_begin(struct store *s)
{
    return s->ops->begin(s->b, s->err, sizeof(s->err));
}

int store_commit(struct store *s)
{
    return s->ops->commit(s->b, s->err, sizeof(s->err));
}

void store_rollback(struct store *s)
{
    s->ops->rollback(s->b);
}

int store_agent_id(struct store *s, const char *name, int64_t *id)
{
    return s->ops->agent_id(s->b, name, id, s->err, sizeof(s->err));
}

int store_agent_update(struct store *s, int64_t id, const struct store_agent *a)
{
    return s->ops->agent_update(s->b, id, a, s->err, sizeof(s->err));
}

int store_agent_lost_add(struct store *s, int64_t id, uint64_t n)
{
    return s->ops->agent_lost_add(s->b, id, n, s->err, sizeof(s->err));
}

int store_agent_counts_add(struct store *s, int64_t id, const struct store_agent_counts *c)
{
    if (c->duplicates == 0 && c->invalid == 0 && c->clamped == 0 && c->refused == 0)
        return 0; /* the common batch: no write on the hot path */
    return s->ops->agent_counts_add(s->b, id, c, s->err, sizeof(s->err));
}

int store_agent_committed_seq(struct store *s, int64_t id, uint64_t *seq)
{
    return s->ops->agent_committed_seq(s->b, id, seq, s->err, sizeof(s->err));
}

int store_result_add(struct store *s, int64_t agent_id, const char *network, const struct result *r,
                     const uint8_t *record, size_t len)
{
    return s->ops->result_add(s->b, agent_id, network, r, record, len, s->err, sizeof(s->err));
}

int store_result_add_facts(struct store *s, int64_t agent_id, const char *network,
                           const struct result *r, const uint8_t *record, size_t len,
                           const struct store_facts *facts, struct store_prev *prev)
{
    return s->ops->result_add_facts(s->b, agent_id, network, r, record, len, facts, prev, s->err,
                                    sizeof(s->err));
}

int store_agent_get(struct store *s, int64_t id, store_agent_cb cb, void *arg)
{
    return s->ops->agent_get(s->b, id, cb, arg, s->err, sizeof(s->err));
}

int store_change_add(struct store *s, const struct store_change *c)
{
    return s->ops->change_add(s->b, c, s->err, sizeof(s->err));
}

int store_agents_each(struct store *s, int64_t connected_after_us, store_agent_cb cb, void *arg)
{
    return s->ops->agents_each(s->b, connected_after_us, cb, arg, s->err, sizeof(s->err));
}

int store_results_each(struct store *s, const struct store_result_filter *f, store_result_cb cb,
                       void *arg)
{
    static const struct store_result_filter all = {0};
    return s->ops->results_each(s->b, f != NULL ? f : &all, cb, arg, s->err, sizeof(s->err));
}

int store_latest_each(struct store *s, const char *target, store_latest_cb cb, void *arg)
{
    return s->ops->latest_each(s->b, target, cb, arg, s->err, sizeof(s->err));
}

int store_changes_each(struct store *s, const char *target, int64_t since_us, store_change_cb cb,
                       void *arg)
{
    return s->ops->changes_each(s->b, target, since_us, cb, arg, s->err, sizeof(s->err));
}

/* ---- findings and notifications ---- */

int store_finding_put(struct store *s, const struct store_finding *f)
{
    return s->ops->finding_put(s->b, f, s->err, sizeof(s->err));
}

int store_finding_delete(struct store *s, const char *id)
{
    return s->ops->finding_delete(s->b, id, s->err, sizeof(s->err));
}

int store_findings_each(struct store *s, const struct store_finding_filter *f, store_finding_cb cb,
                        void *arg)
{
    static const struct store_finding_filter all = {0};
    return s->ops->findings_each(s->b, f != NULL ? f : &all, cb, arg, s->err, sizeof(s->err));
}

int store_open_findings(struct store *s, const char *target, store_finding_cb cb, void *arg)
{
    struct store_finding_filter f = {.target = target, .open_only = true};
    return s->ops->findings_each(s->b, &f, cb, arg, s->err, sizeof(s->err));
}

int store_finding_event_add(struct store *s, const struct store_finding_event *e)
{
    return s->ops->finding_event_add(s->b, e, s->err, sizeof(s->err));
}

int store_finding_events_each(struct store *s, const char *target, int64_t since_us,
                              store_finding_event_cb cb, void *arg)
{
    return s->ops->finding_events_each(s->b, target, since_us, cb, arg, s->err, sizeof(s->err));
}

int store_notification_add(struct store *s, const struct store_notification *n)
{
    return s->ops->notification_add(s->b, n, s->err, sizeof(s->err));
}

int store_notifications_due(struct store *s, int64_t now_us, size_t limit, store_notification_cb cb,
                            void *arg)
{
    return s->ops->notifications_due(s->b, now_us, limit, cb, arg, s->err, sizeof(s->err));
}

int store_notification_done(struct store *s, int64_t id)
{
    return s->ops->notification_done(s->b, id, s->err, sizeof(s->err));
}

int store_notification_retry(struct store *s, int64_t id, uint32_t attempts, int64_t next_at_us)
{
    return s->ops->notification_retry(s->b, id, attempts, next_at_us, s->err, sizeof(s->err));
}

int store_notifications_pending(struct store *s, uint64_t *n, int64_t *next_at_us)
{
    return s->ops->notifications_pending(s->b, n, next_at_us, s->err, sizeof(s->err));
}

/* ---- several collectors on one database ---- */

/* Refuses a cluster operation on a backend without them. */
static int no_cluster(struct store *s)
{
    snprintf(s->err, sizeof(s->err), "this database backend (%s) cannot be shared by collectors",
             s->ops->scheme);
    return -1;
}

int store_collector_put(struct store *s, const struct store_collector *c)
{
    if (s->cluster == NULL)
        return no_cluster(s);
    return s->cluster->collector_put(s->b, c, s->err, sizeof(s->err));
}

int store_collector_delete(struct store *s, const char *id, int64_t forget_before_us)
{
    if (s->cluster == NULL)
        return no_cluster(s);
    return s->cluster->collector_delete(s->b, id, forget_before_us, s->err, sizeof(s->err));
}

int store_collectors_each(struct store *s, store_collector_cb cb, void *arg)
{
    if (s->cluster == NULL)
        return no_cluster(s);
    return s->cluster->collectors_each(s->b, cb, arg, s->err, sizeof(s->err));
}

int store_lease_take(struct store *s, const char *name, const char *holder, int64_t now_us,
                     int64_t ttl_us, struct store_lease *out)
{
    if (s->cluster == NULL)
        return no_cluster(s);
    struct store_lease ignored;
    return s->cluster->lease_take(s->b, name, holder, now_us, ttl_us, out ? out : &ignored, s->err,
                                  sizeof(s->err));
}

int store_lease_release(struct store *s, const char *name, const char *holder)
{
    if (s->cluster == NULL)
        return no_cluster(s);
    return s->cluster->lease_release(s->b, name, holder, s->err, sizeof(s->err));
}

int store_lease_get(struct store *s, const char *name, struct store_lease *out)
{
    if (s->cluster == NULL)
        return no_cluster(s);
    return s->cluster->lease_get(s->b, name, out, s->err, sizeof(s->err));
}

int store_lease_held(struct store *s, const char *name, const char *holder, int64_t now_us)
{
    if (s->cluster == NULL)
        return no_cluster(s);
    return s->cluster->lease_held(s->b, name, holder, now_us, s->err, sizeof(s->err));
}

int store_probe_request_add(struct store *s, const struct store_probe_request *r, int64_t *id)
{
    if (s->cluster == NULL)
        return no_cluster(s);
    return s->cluster->probe_request_add(s->b, r, id, s->err, sizeof(s->err));
}

int store_probe_requests_after(struct store *s, int64_t after_id, int64_t now_us,
                               store_probe_request_cb cb, void *arg)
{
    if (s->cluster == NULL)
        return no_cluster(s);
    return s->cluster->probe_requests_after(s->b, after_id, now_us, cb, arg, s->err,
                                            sizeof(s->err));
}

int store_probe_answer_add(struct store *s, const struct store_probe_answer *a)
{
    if (s->cluster == NULL)
        return no_cluster(s);
    return s->cluster->probe_answer_add(s->b, a, s->err, sizeof(s->err));
}

int store_probe_answers_each(struct store *s, int64_t request_id, store_probe_answer_cb cb,
                             void *arg)
{
    if (s->cluster == NULL)
        return no_cluster(s);
    return s->cluster->probe_answers_each(s->b, request_id, cb, arg, s->err, sizeof(s->err));
}

int store_probe_listen(struct store *s, int *fd)
{
    *fd = -1;
    if (s->cluster == NULL)
        return no_cluster(s);
    return s->cluster->probe_listen(s->b, fd, s->err, sizeof(s->err));
}

int store_probe_drain(struct store *s)
{
    if (s->cluster == NULL)
        return no_cluster(s);
    return s->cluster->probe_drain(s->b, s->err, sizeof(s->err));
}

int64_t store_streak_since(bool had_prev, bool prev_ok, int64_t prev_since_us, bool ok,
                           int64_t started_at_us)
{
    if (had_prev && prev_ok == ok)
        return prev_since_us;
    return started_at_us;
}

void store_streak_next(struct store_streak *st, bool ok, int error, int64_t started_at_us)
{
    if (!st->had) {
        *st = (struct store_streak){.had = true,
                                    .ok = ok,
                                    .since_us = started_at_us,
                                    .episode_us = ok ? 0 : started_at_us,
                                    .n = 1,
                                    .fail_error = ok ? 0 : error};
        return;
    }
    int last_error = st->fail_error;
    if (!ok)
        st->fail_error = error;
    if (st->ok == ok) {
        if (st->n < UINT32_MAX)
            st->n++;
        return;
    }
    if (ok) {
        if (st->episode_us == 0) /* a row from before episodes were kept */
            st->episode_us = st->since_us;
        st->flips++;
    } else if (st->episode_us != 0 && st->n <= STORE_FLAP_GAP_MAX && error == last_error) {
        st->flips++;
    } else {
        st->episode_us = started_at_us;
        st->flips = 0;
    }
    st->ok = ok;
    st->since_us = started_at_us;
    st->n = 1;
}

/* Retention is optional for a backend: one without it says so (serve
 * logs it once per run) instead of crashing. */
static int no_retention(struct store *s)
{
    snprintf(s->err, sizeof(s->err),
             "database: this backend (%s) has no hourly rollups and retention yet", s->ops->scheme);
    return -1;
}

int store_rollup(struct store *s, size_t max, uint64_t *rolled)
{
    *rolled = 0;
    if (s->ops->rollup == NULL)
        return no_retention(s);
    return s->ops->rollup(s->b, max, rolled, s->err, sizeof(s->err));
}

int store_prune(struct store *s, int64_t results_before_us, int64_t rollups_before_us, size_t max,
                struct store_pruned *removed)
{
    *removed = (struct store_pruned){0};
    if (s->ops->prune == NULL)
        return no_retention(s);
    return s->ops->prune(s->b, results_before_us, rollups_before_us, max, removed, s->err,
                         sizeof(s->err));
}

int store_rollups_each(struct store *s, const struct store_rollup_filter *f, store_rollup_cb cb,
                       void *arg)
{
    if (s->ops->rollups_each == NULL)
        return no_retention(s);
    return s->ops->rollups_each(s->b, f, cb, arg, s->err, sizeof(s->err));
}

/* ---- copying a whole store ---- */

/* A backend without the copy operations says so instead of crashing. */
static int no_copy(struct store *s)
{
    snprintf(s->err, sizeof(s->err),
             "database: this backend (%s) cannot be copied by migrate-store", s->ops->scheme);
    return -1;
}

int store_records_each(struct store *s, const char *agent, uint64_t after_seq, size_t limit,
                       store_record_cb cb, void *arg)
{
    if (s->ops->records_each == NULL)
        return no_copy(s);
    return s->ops->records_each(s->b, agent, after_seq, limit, cb, arg, s->err, sizeof(s->err));
}

int store_latest_rows_each(struct store *s, const char *agent, store_latest_row_cb cb, void *arg)
{
    if (s->ops->latest_rows_each == NULL)
        return no_copy(s);
    return s->ops->latest_rows_each(s->b, agent, cb, arg, s->err, sizeof(s->err));
}

int store_latest_row_put(struct store *s, const struct store_latest_row *r)
{
    if (s->ops->latest_row_put == NULL)
        return no_copy(s);
    return s->ops->latest_row_put(s->b, r, s->err, sizeof(s->err));
}

int store_rollups_next_hour(struct store *s, int64_t after_hour_us, store_rollup_cb cb, void *arg)
{
    if (s->ops->rollups_next_hour == NULL)
        return no_copy(s);
    return s->ops->rollups_next_hour(s->b, after_hour_us, cb, arg, s->err, sizeof(s->err));
}

int store_rollup_put(struct store *s, const struct store_rollup *r)
{
    if (s->ops->rollup_put == NULL)
        return no_copy(s);
    return s->ops->rollup_put(s->b, r, s->err, sizeof(s->err));
}

int store_rollups_mark_all(struct store *s)
{
    if (s->ops->rollups_mark_all == NULL)
        return no_copy(s);
    return s->ops->rollups_mark_all(s->b, s->err, sizeof(s->err));
}
