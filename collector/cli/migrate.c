/*
 * migrate — copying a whole store into another (migrate.h).
 */
#include "migrate.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "collectors.h"
#include "store.h"
#include "wire.h"

/* The MIGRATE_MARK lease never expires in practice: it records where the
 * target's data came from for as long as the target lives. */
#define MARK_TTL_US (100LL * 365 * 86400 * 1000000)
/* Progress lines at most this often. */
#define PROGRESS_EVERY_US 1000000ULL
/* store_rollup() chunk while the source counts what it has not yet. */
#define ROLLUP_CHUNK 100000
/* A location as printed (store_location_redact). */
#define WHERE_MAX 512

enum migrate_target migrate_target_verdict(bool has_data, const char *holder, const char *ours)
{
    if (holder != NULL && holder[0] != '\0' && strcmp(holder, ours) == 0)
        return MIGRATE_TARGET_RESUME;
    return has_data ? MIGRATE_TARGET_OTHER : MIGRATE_TARGET_EMPTY;
}

void migrate_source_id(const char *canonical, char *out, size_t n)
{
    /* FNV-1a: stable across builds and machines, which is all a name of
     * the source needs; it is not a secret. */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)canonical; *p != '\0'; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    snprintf(out, n, "from-%016" PRIx64, h);
}

/* One agent of the source, copied out of the reader's row. */
struct agent_copy {
    char *name;
    int64_t id;                       /* in the target */
    uint64_t lost;                    /* the source's count */
    struct store_agent_counts counts; /* the source's refused and clamped input */
};

struct migration {
    const struct migrate_opts *o;
    struct store *src, *dst;
    char from[WHERE_MAX], to[WHERE_MAX]; /* redacted, for messages */
    struct agent_copy *agents;
    size_t nagents, capagents;
    struct wire_arena *arena;
    /* what was done */
    uint64_t results, results_there, latest, changes, changes_there, findings, events, events_there,
        rollups;
    uint64_t started_us, last_progress_us;
    size_t in_txn; /* rows written in the target's open transaction */
    size_t skip;   /* rows of the source the target has already */
    int failed;    /* a callback failed: the message is printed */
};

__attribute__((format(printf, 2, 3))) static int say(struct migration *m, const char *fmt, ...)
{
    va_list ap;
    fprintf(m->o->progress, "vantage-collector: migrate-store: ");
    va_start(ap, fmt);
    vfprintf(m->o->progress, fmt, ap);
    va_end(ap);
    fputc('\n', m->o->progress);
    fflush(m->o->progress);
    return -1;
}

/* A failure of store s (the source or the target), named. */
static int store_failed(struct migration *m, struct store *s, const char *what)
{
    m->failed = 1;
    return say(m, "%s %s: %s: %s", s == m->src ? "source" : "target", s == m->src ? m->from : m->to,
               what, store_error(s));
}

static void progress(struct migration *m, const char *what, uint64_t done, bool last)
{
    uint64_t now = clock_mono_us();
    if (!last && now - m->last_progress_us < PROGRESS_EVERY_US)
        return;
    m->last_progress_us = now;
    double secs = (double)(now - m->started_us) / 1e6;
    fprintf(m->o->progress, "vantage-collector: migrate-store: %s: %" PRIu64 " copied (%.0f/s)\n",
            what, done, secs > 0 ? (double)done / secs : 0.0);
    fflush(m->o->progress);
}

static int begin(struct migration *m)
{
    if (store_begin(m->dst) < 0)
        return store_failed(m, m->dst, "beginning a transaction");
    m->in_txn = 0;
    return 0;
}

static int commit(struct migration *m)
{
    if (store_commit(m->dst) < 0) {
        store_rollback(m->dst);
        return store_failed(m, m->dst, "committing");
    }
    m->in_txn = 0;
    return 0;
}

/* After one more row in the target's transaction: commits every batch. */
static int row_done(struct migration *m)
{
    if (++m->in_txn < m->o->batch)
        return 0;
    return commit(m) < 0 || begin(m) < 0 ? -1 : 0;
}

/* ---- the target: may this copy write into it? ---- */

static int any_row(const void *row, void *arg)
{
    (void)row;
    *(bool *)arg = true;
    return 1;
}

static int any_agent(const struct store_agent *a, void *arg)
{
    return any_row(a, arg);
}

static int any_finding(const struct store_finding *f, void *arg)
{
    return any_row(f, arg);
}

static int any_change(const struct store_change *c, void *arg)
{
    return any_row(c, arg);
}

/* Whether the target holds anything a collector wrote. */
static int target_has_data(struct migration *m, bool *has)
{
    static const struct store_finding_filter every = {.with_pending = true};
    *has = false;
    if (store_agents_each(m->dst, INT64_MAX, any_agent, has) < 0 ||
        store_findings_each(m->dst, &every, any_finding, has) < 0 ||
        store_changes_each(m->dst, NULL, 0, any_change, has) < 0)
        return store_failed(m, m->dst, "looking for data");
    return 0;
}

/* Refuses a store that a running collector writes to. */
static int not_running(struct migration *m, struct store *s)
{
    size_t alive = 0, differ = 0;
    if (collectors_count(s, "", clock_wall_us(), &alive, &differ) < 0)
        return store_failed(m, s, "reading the registry of collectors");
    if (alive == 0)
        return 0;
    m->failed = 1;
    return say(m,
               "%s %s: %zu collector%s running on it (see 'vantage-collector collectors'): stop "
               "%s first; results stored during the copy would be missed",
               s == m->src ? "source" : "target", s == m->src ? m->from : m->to, alive,
               alive == 1 ? " is" : "s are", alive == 1 ? "it" : "them");
}

/* The source's identity: a sqlite file by its real path (however it is
 * spelled), PostgreSQL by its location without the password. */
static void source_identity(const char *location, const char *redacted, char *id, size_t n)
{
    const char *path = location;
    if (strncmp(location, "sqlite:", 7) == 0)
        path = location + 7;
    char real[PATH_MAX];
    bool is_pg = strncmp(location, "postgres", 8) == 0;
    migrate_source_id(!is_pg && realpath(path, real) != NULL ? real : redacted, id, n);
}

static int claim_target(struct migration *m)
{
    char ours[STORE_COLLECTOR_ID_MAX + 1];
    source_identity(m->o->from, m->from, ours, sizeof(ours));
    struct store_lease mark;
    bool has = false;
    if (store_lease_get(m->dst, MIGRATE_MARK, &mark) < 0)
        return store_failed(m, m->dst, "reading its migrate-store mark");
    if (target_has_data(m, &has) < 0)
        return -1;
    switch (migrate_target_verdict(has, mark.holder, ours)) {
    case MIGRATE_TARGET_RESUME:
        fprintf(m->o->progress,
                "vantage-collector: migrate-store: target %s holds a copy of this source: "
                "copying what it lacks\n",
                m->to);
        return 0;
    case MIGRATE_TARGET_OTHER:
        m->failed = 1;
        return say(m,
                   "target %s already holds data that is not a copy of source %s: give an empty "
                   "database (nothing was changed)",
                   m->to, m->from);
    case MIGRATE_TARGET_EMPTY:
        break;
    }
    /* An empty target that an abandoned copy of another source marked. */
    if (mark.holder[0] != '\0' && store_lease_release(m->dst, MIGRATE_MARK, mark.holder) < 0)
        return store_failed(m, m->dst, "clearing an old migrate-store mark");
    if (store_lease_take(m->dst, MIGRATE_MARK, ours, clock_wall_us(), MARK_TTL_US, NULL) != 1)
        return store_failed(m, m->dst, "marking it as a copy of the source");
    return 0;
}

/* ---- agents ---- */

static int agent_copy(const struct store_agent *a, void *arg)
{
    struct migration *m = arg;
    if (m->nagents == m->capagents) {
        size_t cap = m->capagents ? m->capagents * 2 : 64;
        struct agent_copy *p = realloc(m->agents, cap * sizeof(*p));
        if (p == NULL)
            goto oom;
        m->agents = p;
        m->capagents = cap;
    }
    struct agent_copy *c = &m->agents[m->nagents];
    c->name = strdup(a->name);
    if (c->name == NULL)
        goto oom;
    m->nagents++;
    struct store_agent u = *a;
    u.has_spool = true; /* a spool counter of 0 is a fact too */
    c->lost = a->lost;
    c->counts = a->counts;
    if (store_agent_id(m->dst, a->name, &c->id) < 0 || store_agent_update(m->dst, c->id, &u) < 0)
        return store_failed(m, m->dst, "writing an agent");
    return 0;
oom:
    m->failed = 1;
    return say(m, "out of memory listing agents");
}

struct agent_there {
    uint64_t lost;
    struct store_agent_counts counts;
};

static int agent_there(const struct store_agent *a, void *arg)
{
    struct agent_there *t = arg;
    t->lost = a->lost;
    t->counts = a->counts;
    return 0;
}

static uint64_t lacking(uint64_t want, uint64_t there)
{
    return want > there ? want - there : 0;
}

/* The store adds to the lost count and the input counts: add what the
 * target lacks, so that a second run adds nothing. */
static int copy_counts(struct migration *m, const struct agent_copy *ac)
{
    struct agent_there t = {0};
    if (store_agent_get(m->dst, ac->id, agent_there, &t) < 0)
        return store_failed(m, m->dst, "reading an agent");
    if (ac->lost > t.lost && store_agent_lost_add(m->dst, ac->id, ac->lost - t.lost) < 0)
        return store_failed(m, m->dst, "writing an agent's lost count");
    struct store_agent_counts add = {
        .duplicates = lacking(ac->counts.duplicates, t.counts.duplicates),
        .invalid = lacking(ac->counts.invalid, t.counts.invalid),
        .clamped = lacking(ac->counts.clamped, t.counts.clamped),
        .refused = lacking(ac->counts.refused, t.counts.refused),
    };
    if ((add.duplicates | add.invalid | add.clamped | add.refused) != 0 &&
        store_agent_counts_add(m->dst, ac->id, &add) < 0)
        return store_failed(m, m->dst, "writing an agent's input counts");
    return 0;
}

static int copy_agents(struct migration *m)
{
    if (begin(m) < 0)
        return -1;
    if (store_agents_each(m->src, INT64_MAX, agent_copy, m) < 0 && !m->failed)
        store_failed(m, m->src, "listing agents");
    for (size_t i = 0; i < m->nagents && !m->failed; i++)
        copy_counts(m, &m->agents[i]);
    if (m->failed) {
        store_rollback(m->dst);
        return -1;
    }
    if (commit(m) < 0)
        return -1;
    fprintf(m->o->progress, "vantage-collector: migrate-store: agents: %zu copied\n", m->nagents);
    return 0;
}

/* ---- raw results ---- */

struct result_ctx {
    struct migration *m;
    const struct agent_copy *agent;
    uint64_t last_seq;
    size_t rows;
};

static int result_copy(const struct store_record *rec, void *arg)
{
    struct result_ctx *c = arg;
    struct migration *m = c->m;
    struct result r;
    char why[256];
    c->rows++;
    c->last_seq = rec->seq;
    if (wire_result_decode_in(m->arena, rec->record, rec->len, &r, why, sizeof(why)) < 0) {
        m->failed = 1;
        return say(m, "source %s: result %" PRIu64 " of agent %s cannot be decoded: %s", m->from,
                   rec->seq, c->agent->name, why);
    }
    r.has_seq = true;
    r.seq = rec->seq;
    int rc = store_result_add(m->dst, c->agent->id, rec->network, &r, rec->record, rec->len);
    if (rc < 0)
        return store_failed(m, m->dst, "storing a result");
    if (rc == 1)
        m->results++;
    else
        m->results_there++;
    return 0;
}

static int copy_results(struct migration *m)
{
    for (size_t i = 0; i < m->nagents; i++) {
        struct result_ctx c = {m, &m->agents[i], 0, 0};
        /* Copied in seq order, a batch per transaction: the target's
         * committed seq of the agent is where the copy stopped. */
        if (store_agent_committed_seq(m->dst, c.agent->id, &c.last_seq) < 0)
            return store_failed(m, m->dst, "reading an agent's committed seq");
        do {
            c.rows = 0;
            wire_arena_reset(m->arena);
            if (begin(m) < 0)
                return -1;
            if (store_records_each(m->src, c.agent->name, c.last_seq, m->o->batch, result_copy,
                                   &c) < 0 &&
                !m->failed)
                store_failed(m, m->src, "reading results");
            if (m->failed) {
                store_rollback(m->dst);
                return -1;
            }
            if (commit(m) < 0)
                return -1;
            progress(m, "results", m->results, false);
        } while (c.rows == m->o->batch);
    }
    progress(m, "results", m->results, true);
    return 0;
}

/* ---- latest state ---- */

static int latest_copy(const struct store_latest_row *r, void *arg)
{
    struct migration *m = arg;
    if (store_latest_row_put(m->dst, r) < 0)
        return store_failed(m, m->dst, "writing the latest state");
    m->latest++;
    return row_done(m);
}

static int copy_latest(struct migration *m)
{
    if (begin(m) < 0)
        return -1;
    for (size_t i = 0; i < m->nagents && !m->failed; i++)
        if (store_latest_rows_each(m->src, m->agents[i].name, latest_copy, m) < 0 && !m->failed)
            store_failed(m, m->src, "reading the latest state");
    if (m->failed) {
        store_rollback(m->dst);
        return -1;
    }
    if (commit(m) < 0)
        return -1;
    fprintf(m->o->progress, "vantage-collector: migrate-store: latest state: %" PRIu64 " rows\n",
            m->latest);
    return 0;
}

/* ---- changes, findings and their events ---- */

static int count_change(const struct store_change *c, void *arg)
{
    (void)c;
    (*(size_t *)arg)++;
    return 0;
}

static int change_copy(const struct store_change *c, void *arg)
{
    struct migration *m = arg;
    /* The target holds the first `skip` of the source's changes in this
     * order: they were appended in it, a batch per transaction. */
    if (m->skip > 0) {
        m->skip--;
        m->changes_there++;
        return 0;
    }
    if (store_change_add(m->dst, c) < 0)
        return store_failed(m, m->dst, "writing a change");
    m->changes++;
    return row_done(m);
}

static int finding_copy(const struct store_finding *f, void *arg)
{
    struct migration *m = arg;
    if (store_finding_put(m->dst, f) < 0)
        return store_failed(m, m->dst, "writing a finding");
    m->findings++;
    return row_done(m);
}

static int count_event(const struct store_finding_event *e, void *arg)
{
    (void)e;
    (*(size_t *)arg)++;
    return 0;
}

static int event_copy(const struct store_finding_event *e, void *arg)
{
    struct migration *m = arg;
    if (m->skip > 0) { /* as for changes */
        m->skip--;
        m->events_there++;
        return 0;
    }
    if (store_finding_event_add(m->dst, e) < 0)
        return store_failed(m, m->dst, "writing a finding event");
    m->events++;
    return row_done(m);
}

static int copy_history(struct migration *m)
{
    static const struct store_finding_filter every = {.with_pending = true};
    m->skip = 0;
    if (store_changes_each(m->dst, NULL, 0, count_change, &m->skip) < 0)
        return store_failed(m, m->dst, "counting changes");
    if (begin(m) < 0)
        return -1;
    if (store_changes_each(m->src, NULL, 0, change_copy, m) < 0 && !m->failed)
        store_failed(m, m->src, "reading changes");
    if (!m->failed && store_findings_each(m->src, &every, finding_copy, m) < 0 && !m->failed)
        store_failed(m, m->src, "reading findings");
    if (m->failed) {
        store_rollback(m->dst);
        return -1;
    }
    if (commit(m) < 0)
        return -1;
    m->skip = 0;
    if (store_finding_events_each(m->dst, NULL, 0, count_event, &m->skip) < 0)
        return store_failed(m, m->dst, "counting finding events");
    if (begin(m) < 0)
        return -1;
    if (store_finding_events_each(m->src, NULL, 0, event_copy, m) < 0 && !m->failed)
        store_failed(m, m->src, "reading finding events");
    if (m->failed) {
        store_rollback(m->dst);
        return -1;
    }
    if (commit(m) < 0)
        return -1;
    fprintf(m->o->progress,
            "vantage-collector: migrate-store: changes: %" PRIu64 " copied (%" PRIu64
            " were there); findings: %" PRIu64 "; finding events: %" PRIu64 " copied (%" PRIu64
            " were there)\n",
            m->changes, m->changes_there, m->findings, m->events, m->events_there);
    return 0;
}

/* ---- hourly aggregates ---- */

struct hour_ctx {
    struct migration *m;
    int64_t hour_us;
    size_t rows;
};

static int rollup_copy(const struct store_rollup *r, void *arg)
{
    struct hour_ctx *c = arg;
    c->hour_us = r->hour_us;
    c->rows++;
    if (store_rollup_put(c->m->dst, r) < 0)
        return store_failed(c->m, c->m->dst, "writing an hourly aggregate");
    c->m->rollups++;
    return row_done(c->m);
}

static int copy_rollups(struct migration *m)
{
    /* Every result of the source counted first (what serve does every
     * minute), so that its aggregates are whole and the copied results
     * can all be marked counted in the target. */
    uint64_t rolled;
    do {
        if (store_rollup(m->src, ROLLUP_CHUNK, &rolled) < 0)
            return store_failed(m, m->src, "counting results into their hours");
    } while (rolled == ROLLUP_CHUNK);
    if (begin(m) < 0)
        return -1;
    struct hour_ctx c = {m, INT64_MIN, 0};
    do {
        c.rows = 0;
        if (store_rollups_next_hour(m->src, c.hour_us, rollup_copy, &c) < 0 && !m->failed)
            store_failed(m, m->src, "reading hourly aggregates");
    } while (!m->failed && c.rows > 0);
    /* In the transaction of the last aggregates: a copy interrupted
     * before never leaves results marked that no copied hour counts. */
    if (!m->failed && store_rollups_mark_all(m->dst) < 0)
        store_failed(m, m->dst, "marking the copied results counted");
    if (m->failed) {
        store_rollback(m->dst);
        return -1;
    }
    if (commit(m) < 0)
        return -1;
    fprintf(m->o->progress, "vantage-collector: migrate-store: hourly aggregates: %" PRIu64 "\n",
            m->rollups);
    return 0;
}

/* ---- the command ---- */

static struct store *open_store(struct migration *m, const char *location, const char *where,
                                const char *role)
{
    char err[STORE_ERR_MAX];
    struct store *s = store_open(location, err, sizeof(err));
    if (s == NULL)
        say(m, "%s %s: %s", role, where, err);
    return s;
}

/* A sqlite source must exist: store_open would create an empty one. */
static int source_exists(struct migration *m)
{
    const char *loc = m->o->from;
    if (strncmp(loc, "postgres", 8) == 0)
        return 0;
    const char *path = strncmp(loc, "sqlite:", 7) == 0 ? loc + 7 : loc;
    struct stat st;
    if (stat(path, &st) == 0)
        return 0;
    return say(m, "source %s: %s (give the database = of the collector to copy, or --from)",
               m->from, strerror(errno));
}

static int run(struct migration *m)
{
    if (source_exists(m) < 0)
        return -1;
    if ((m->src = open_store(m, m->o->from, m->from, "source")) == NULL ||
        not_running(m, m->src) < 0 || (m->dst = open_store(m, m->o->to, m->to, "target")) == NULL ||
        not_running(m, m->dst) < 0 || claim_target(m) < 0)
        return -1;
    m->started_us = clock_mono_us();
    if (copy_agents(m) < 0 || copy_results(m) < 0 || copy_latest(m) < 0 || copy_history(m) < 0 ||
        copy_rollups(m) < 0)
        return -1;
    uint64_t queued = 0;
    int64_t next_at = 0;
    if (store_notifications_pending(m->src, &queued, &next_at) < 0)
        return store_failed(m, m->src, "counting queued notifications");
    if (queued > 0)
        fprintf(m->o->progress,
                "vantage-collector: migrate-store: warning: %" PRIu64
                " notification%s waiting in source %s %s not copied (a queue belongs to the "
                "collector that sends it; run the old collector until they are sent to have "
                "them delivered)\n",
                queued, queued == 1 ? "" : "s", m->from, queued == 1 ? "is" : "are");
    double secs = (double)(clock_mono_us() - m->started_us) / 1e6;
    fprintf(m->o->out,
            "copied %s to %s in %.1f s: %zu agents, %" PRIu64 " results (%" PRIu64
            " were there), %" PRIu64 " latest-state rows, %" PRIu64 " changes (%" PRIu64
            " were there), %" PRIu64 " findings, %" PRIu64 " finding events (%" PRIu64
            " were there), %" PRIu64 " hourly aggregates\n",
            m->from, m->to, secs, m->nagents, m->results, m->results_there, m->latest, m->changes,
            m->changes_there, m->findings, m->events, m->events_there, m->rollups);
    return 0;
}

int migrate_store(const struct migrate_opts *o)
{
    struct migration m = {.o = o};
    store_location_redact(o->from, m.from, sizeof(m.from));
    store_location_redact(o->to, m.to, sizeof(m.to));
    if (strcmp(o->from, o->to) == 0) {
        say(&m, "source and target are the same database (%s)", m.from);
        return 2;
    }
    m.arena = wire_arena_create();
    int rc = m.arena == NULL ? say(&m, "out of memory") : run(&m);
    for (size_t i = 0; i < m.nagents; i++)
        free(m.agents[i].name);
    free(m.agents);
    wire_arena_destroy(&m.arena);
    store_close(&m.dst);
    store_close(&m.src);
    return rc < 0 ? 2 : 0;
}
