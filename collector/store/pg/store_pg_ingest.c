/*
 * store_pg_ingest — results, the latest state, agents and their sequence
 * numbers in the PostgreSQL backend (store_pg.h).
 *
 * A transaction's results are buffered as binary COPY data and sent at
 * commit (store_pg_commit.c) in one COPY; the latest state of every key
 * the transaction touched and each agent's stored sequence numbers
 * follow as two statements in one pipeline, each taking all its rows as
 * arrays (store_pg_array.h). Duplicates are decided in memory from the
 * agent's `stored` set (store_pg.c explains why there is no unique
 * index).
 *
 * An agent's stored set and latest rows are read once (its row locked,
 * as before) and kept in memory across transactions: an agent sends to
 * one collector at a time, so they stay right. While an agent keeps
 * sending (within KEEP_FRESH_US), its next transactions read nothing
 * and lock nothing until commit, where one statement locks every agent
 * of the transaction in id order and reads their stored sets back: each
 * must still be what this store started the transaction from. Only
 * ingest writes `stored` and `latest`, and every result ingested by
 * anyone grows `stored`, so an unchanged set proves the kept latest rows
 * current too; a changed one (another collector stored results for the
 * agent meanwhile) fails the commit, the transaction is rolled back, the
 * memory forgotten, and the agents resend into a fresh read. In a fleet's
 * shape (hundreds of agents per transaction, a few results each) this
 * replaced two round trips per agent and transaction by one per
 * transaction (bench/RESULTS.md).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "store_impl.h"
#include "store_pg.h"
#include "store_pg_ingest_internal.h"

/* A map grown past this is freed when it is emptied. */
#define MAP_KEEP 8192
/* Agents and latest rows kept in memory between transactions; past these
 * the memory is emptied after a commit and read again. A kept latest row
 * holds no text (about 200 bytes): 131,072 of them, some 25 MB, cover
 * 5,000 agents of 26 keys each. */
#define KEEP_AGENTS 65536
/* Kept state older than this is read again (locked) at its next touch:
 * an agent silent that long may have gone to another collector, and
 * waiting for that one's transaction on the row lock beats failing this
 * one's commit (integration.pg.failover: a collector stopped for seconds
 * wakes with the agent's unread batches). Agents sending in quick
 * succession (a burst, spools draining, the benchmark) stay kept. */
#define KEEP_FRESH_US 2000000

#define KEEP_LATEST 131072
/* First size of the arrays. */
#define ARRAY_MIN 64

/* KEEP_FRESH_US, unless VANTAGE_PG_KEEP_FRESH_MS (1 to 3,600,000) says
 * otherwise: tests that race two stores on kept state set a minute, so
 * that a slow machine (sanitizers, a loaded CI) cannot turn their kept
 * agents stale between two steps. Not a setting for operators. */
static uint64_t keep_fresh_of(void)
{
    const char *v = getenv("VANTAGE_PG_KEEP_FRESH_MS");
    if (v == NULL || *v == '\0')
        return KEEP_FRESH_US;
    char *end;
    errno = 0;
    long long ms = strtoll(v, &end, 10);
    if (errno != 0 || *end != '\0' || ms < 1 || ms > 3600000)
        return KEEP_FRESH_US;
    return (uint64_t)ms * 1000;
}

struct store_pg_ingest *store_pg_ingest_create(void)
{
    struct store_pg_ingest *in = calloc(1, sizeof(*in));
    if (in == NULL)
        return NULL;
    in->targets.table = "targets";
    in->checks.table = "checks";
    in->networks.table = "networks";
    in->keep_fresh_us = keep_fresh_of();
    if (store_pg_copy_init(&in->copy) < 0) {
        free(in);
        return NULL;
    }
    return in;
}

/* After a commit: what the transaction wrote is what the database has;
 * the texts go (read again when a fact changes), the rest is kept. */
static void keep_committed(struct store_pg_ingest *in)
{
    for (size_t i = 0; i < in->nlatest; i++) {
        struct latest *l = &in->latest[i];
        free(l->detail);
        l->detail = NULL;
        for (int f = 0; f < STORE_FACT_LAST; f++) {
            free(l->fact_text[f]);
            l->fact_text[f] = NULL;
        }
        l->texts_loaded = l->dirty = false;
    }
    uint64_t now = clock_mono_us();
    for (size_t i = 0; i < in->nagents; i++) {
        struct agent *a = &in->agents[i];
        if (a->touched)
            a->kept_us = now;
        a->touched = a->dirty = false;
        a->max_seq = 0;
    }
    in->ntouched = 0;
}

void store_pg_ingest_reset(struct store_pg_ingest *in, bool forget_ids)
{
    if (in == NULL)
        return;
    if (!forget_ids && in->nagents <= KEEP_AGENTS && in->nlatest <= KEEP_LATEST) {
        keep_committed(in);
        goto copy;
    }
    for (size_t i = 0; i < in->nlatest; i++) {
        free(in->latest[i].detail);
        for (int f = 0; f < STORE_FACT_LAST; f++)
            free(in->latest[i].fact_text[f]);
    }
    for (size_t i = 0; i < in->nagents; i++) {
        pg_ranges_free(&in->agents[i].stored);
        pg_ranges_free(&in->agents[i].base);
    }
    in->nlatest = in->nagents = in->ntouched = in->last1 = 0;
    keymap_reset(&in->agent_map, MAP_KEEP);
    keymap_reset(&in->latest_map, MAP_KEEP);
    if (in->caplatest > MAP_KEEP) {
        free(in->latest);
        in->latest = NULL;
        in->caplatest = 0;
    }
    if (in->capagents > MAP_KEEP) {
        free(in->agents);
        in->agents = NULL;
        in->capagents = 0;
    }
copy:
    if (in->copy.cap > ((size_t)64 << 20)) /* one burst does not pin its memory */
        store_pg_copy_free(&in->copy);
    if (store_pg_copy_init(&in->copy) < 0) /* out of memory: shows at the next row */
        in->copy.len = 0;
    if (forget_ids) {
        pg_names_clear(&in->targets);
        pg_names_clear(&in->checks);
        pg_names_clear(&in->networks);
    }
}

void store_pg_ingest_destroy(struct store_pg_ingest **ip)
{
    if (ip == NULL || *ip == NULL)
        return;
    struct store_pg_ingest *in = *ip;
    store_pg_ingest_reset(in, true);
    free(in->agents);
    free(in->latest);
    free(in->lock_ids);
    keymap_free(&in->agent_map);
    keymap_free(&in->latest_map);
    store_pg_copy_free(&in->copy);
    for (int c = 0; c < LATEST_NCOLS; c++)
        store_pg_array_free(&in->col[c]);
    store_pg_array_free(&in->ids);
    store_pg_array_free(&in->seqs);
    store_pg_array_free(&in->sets);
    for (int f = 0; f < STORE_FACT_LAST; f++)
        free(in->before[f]);
    free(in);
    *ip = NULL;
}

/* The id of name in an interned table, inserting the row the first time.
 * A NULL name is stored as "" (a result without a target). */
static int intern_id(void *b, struct pg_names *in, const char *name, int64_t *id, char *err,
                     size_t errlen)
{
    if (name == NULL)
        name = "";
    if (pg_names_find(in, name, id))
        return 0;
    /* ON CONFLICT DO NOTHING returns no row when another collector (or
     * an earlier run) has the name: the second SELECT finds it. When the
     * other collector's insert was still uncommitted, the INSERT waited
     * for its commit, but the SELECT of the same statement reads the
     * snapshot taken before: the name is then read again in a statement
     * of its own (two collectors seeing a new target, check or network at
     * once; found by integration.pg_bench_smoke). */
    char sql[256], again[128];
    snprintf(sql, sizeof(sql),
             "WITH ins AS (INSERT INTO %s(name) VALUES ($1) ON CONFLICT (name) DO NOTHING"
             " RETURNING id) SELECT id FROM ins UNION ALL SELECT id FROM %s WHERE name = $1",
             in->table, in->table);
    snprintf(again, sizeof(again), "SELECT id FROM %s WHERE name = $1", in->table);
    const char *p[] = {name};
    PGresult *res = store_pg_query(b, sql, 1, p, in->table, err, errlen);
    if (res != NULL && PQntuples(res) < 1) {
        PQclear(res);
        res = store_pg_query(b, again, 1, p, in->table, err, errlen);
    }
    if (res == NULL)
        return -1;
    if (PQntuples(res) < 1) {
        PQclear(res);
        snprintf(err, errlen, "database %s: %s: no row for a name", store_pg_where(b), in->table);
        return -1;
    }
    *id = store_pg_get_i64(res, 0, 0);
    PQclear(res);
    pg_names_put(in, name, *id);
    return 0;
}

int store_pg_agent_id(void *b, const char *name, int64_t *id, char *err, size_t errlen)
{
    if (name == NULL || name[0] == '\0') {
        snprintf(err, errlen, "database: an agent needs a name");
        return -1;
    }
    const char *p[] = {name};
    PGresult *res = store_pg_query(
        b,
        "WITH ins AS (INSERT INTO agents(name) VALUES ($1) ON CONFLICT (name) DO NOTHING"
        " RETURNING id) SELECT id FROM ins UNION ALL SELECT id FROM agents WHERE name = $1",
        1, p, "adding an agent", err, errlen);
    if (res == NULL)
        return -1;
    int ok = PQntuples(res) > 0;
    if (ok)
        *id = store_pg_get_i64(res, 0, 0);
    PQclear(res);
    if (!ok)
        snprintf(err, errlen, "database %s: adding agent %s: no row", store_pg_where(b), name);
    return ok ? 0 : -1;
}

static const char *u64p(char *buf, uint64_t v)
{
    return store_pg_i64(buf, v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v);
}

int store_pg_agent_update(void *b, int64_t id, const struct store_agent *a, char *err,
                          size_t errlen)
{
    char v[6][24];
    const char *p[] = {store_pg_i64(v[0], id),
                       a->site,
                       a->network,
                       a->version,
                       a->address,
                       a->netctx,
                       store_pg_i64(v[1], a->first_seen_us),
                       store_pg_i64(v[2], a->last_seen_us),
                       u64p(v[3], a->spool_dropped),
                       u64p(v[4], a->spool_pending),
                       a->has_spool ? "t" : "f"};
    PGresult *res = store_pg_query(
        b,
        "UPDATE agents SET site = COALESCE($2, site), network = COALESCE($3, network),"
        " version = COALESCE($4, version), address = COALESCE($5, address),"
        " netctx = COALESCE($6, netctx),"
        " first_seen_us = CASE WHEN $7::bigint <> 0 AND (first_seen_us = 0 OR"
        "   $7::bigint < first_seen_us) THEN $7::bigint ELSE first_seen_us END,"
        " last_seen_us = CASE WHEN $8::bigint <> 0 THEN $8::bigint ELSE last_seen_us END,"
        " spool_dropped = CASE WHEN $11::boolean OR $9::bigint <> 0 THEN $9::bigint"
        "   ELSE spool_dropped END,"
        " spool_pending = CASE WHEN $11::boolean OR $10::bigint <> 0 THEN $10::bigint"
        "   ELSE spool_pending END"
        " WHERE id = $1",
        11, p, "updating an agent", err, errlen);
    if (res == NULL)
        return -1;
    int ok = strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    if (!ok)
        snprintf(err, errlen, "database: no agent with id %lld", (long long)id);
    return ok ? 0 : -1;
}

int store_pg_agent_committed_seq(void *b, int64_t id, uint64_t *seq, char *err, size_t errlen)
{
    /* Asked when an agent reconnects, perhaps from another collector. */
    store_pg_ingest_forget_agent(store_pg_ingest_of(b), id);
    char v[24];
    const char *p[] = {store_pg_i64(v, id)};
    PGresult *res = store_pg_query(b, "SELECT committed_seq FROM agents WHERE id = $1", 1, p,
                                   "reading the committed seq", err, errlen);
    if (res == NULL)
        return -1;
    int ok = PQntuples(res) == 1;
    if (ok)
        *seq = (uint64_t)store_pg_get_i64(res, 0, 0);
    PQclear(res);
    if (!ok)
        snprintf(err, errlen, "database: no agent with id %lld", (long long)id);
    return ok ? 0 : -1;
}

int store_pg_agent_lost_add(void *b, int64_t id, uint64_t n, char *err, size_t errlen)
{
    char v[2][24];
    const char *p[] = {store_pg_i64(v[0], id), u64p(v[1], n)};
    return store_pg_run(b, "UPDATE agents SET lost = lost + $2 WHERE id = $1", 2, p,
                        "counting lost results", err, errlen);
}

int store_pg_agent_counts_add(void *b, int64_t id, const struct store_agent_counts *c, char *err,
                              size_t errlen)
{
    char v[5][24];
    const char *p[] = {store_pg_i64(v[0], id), u64p(v[1], c->duplicates), u64p(v[2], c->invalid),
                       u64p(v[3], c->clamped), u64p(v[4], c->refused)};
    return store_pg_run(b,
                        "UPDATE agents SET duplicates = duplicates + $2, invalid = invalid + $3,"
                        " clamped = clamped + $4, refused = refused + $5 WHERE id = $1",
                        5, p, "counting an agent's refused input", err, errlen);
}

int store_pg_change_add(void *b, const struct store_change *c, char *err, size_t errlen)
{
    if (c->kind == NULL) {
        snprintf(err, errlen, "database: a change needs a kind");
        return -1;
    }
    struct store_pg_ingest *in = store_pg_ingest_of(b);
    int64_t agent_id = 0, target_id = 0;
    if (c->agent != NULL && store_pg_agent_id(b, c->agent, &agent_id, err, errlen) < 0)
        return -1;
    if (c->target != NULL && intern_id(b, &in->targets, c->target, &target_id, err, errlen) < 0)
        return -1;
    char v[3][24];
    const char *p[] = {store_pg_i64(v[0], c->at_us),
                       c->agent != NULL ? store_pg_i64(v[1], agent_id) : NULL,
                       c->target != NULL ? store_pg_i64(v[2], target_id) : NULL,
                       c->kind,
                       c->subject,
                       c->before,
                       c->after};
    return store_pg_run(b,
                        "INSERT INTO changes(at_us, agent_id, target_id, kind, subject, before,"
                        " after) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        7, p, "recording a change", err, errlen);
}

/* ---- per-transaction state ------------------------------------------------------- */

static struct latest *latest_slot(struct store_pg_ingest *in, const int64_t key[3], bool *added)
{
    if (in->nlatest == in->caplatest) {
        size_t ncap = in->caplatest ? in->caplatest * 2 : ARRAY_MIN;
        struct latest *v = realloc(in->latest, ncap * sizeof(*v));
        if (v == NULL)
            return NULL;
        in->latest = v;
        in->caplatest = ncap;
    }
    int64_t i = keymap_get(&in->latest_map, key, (uint32_t)in->nlatest, added);
    if (i < 0)
        return NULL;
    if (*added) {
        in->latest[in->nlatest++] =
            (struct latest){.agent_id = key[0], .target_id = key[1], .check_id = key[2]};
    }
    return &in->latest[i];
}

/* Loads the agent's latest rows into the transaction's map. */
static int latest_load(void *b, struct store_pg_ingest *in, int64_t agent_id, char *err,
                       size_t errlen)
{
    char v[24];
    const char *p[] = {store_pg_i64(v, agent_id)};
    PGresult *res = store_pg_query(b,
                                   "SELECT target_id, check_id, seq, ok, since_us, episode_us,"
                                   " flips, streak_n, fail_layer, fail_error, dns_hash,"
                                   " addr_hash, cert_hash, at_us FROM latest WHERE agent_id = $1",
                                   1, p, "reading the latest state", err, errlen);
    if (res == NULL)
        return -1;
    for (int row = 0; row < PQntuples(res); row++) {
        const int64_t key[3] = {agent_id, store_pg_get_i64(res, row, 0),
                                store_pg_get_i64(res, row, 1)};
        bool added;
        struct latest *l = latest_slot(in, key, &added);
        if (l == NULL) {
            PQclear(res);
            snprintf(err, errlen, "database: out of memory tracking the latest state");
            return -1;
        }
        l->had = true;
        l->seq = (uint64_t)store_pg_get_i64(res, row, 2);
        l->ok = PQgetvalue(res, row, 3)[0] == 't';
        l->since_us = store_pg_get_i64(res, row, 4);
        l->streak = (struct store_streak){
            .had = true,
            .ok = l->ok,
            .since_us = l->since_us,
            .episode_us = store_pg_get_i64(res, row, 5),
            .flips = (uint32_t)store_pg_get_i64(res, row, 6),
            .n = (uint32_t)store_pg_get_i64(res, row, 7),
            .fail_error = (int)store_pg_get_i64(res, row, 9),
        };
        l->fail_layer = (int)store_pg_get_i64(res, row, 8);
        l->fail_error = (int)store_pg_get_i64(res, row, 9);
        for (int f = 0; f < STORE_FACT_LAST; f++)
            l->fact_hash[f] = (uint64_t)store_pg_get_i64(res, row, 10 + f);
        l->at_us = store_pg_get_i64(res, row, 13);
    }
    PQclear(res);
    return 0;
}

/* Reads the agent's stored set, locking its row as the old per-agent
 * path did (a first or stale read: the agent may be ingested elsewhere
 * right now), and its latest rows. */
static int agent_read(void *b, struct store_pg_ingest *in, struct agent *a, char *err,
                      size_t errlen)
{
    char v[24];
    const char *p[] = {store_pg_i64(v, a->id)};
    PGresult *res = store_pg_query(b, "SELECT stored::text FROM agents WHERE id = $1 FOR UPDATE", 1,
                                   p, "locking an agent's row", err, errlen);
    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        snprintf(err, errlen, "database: no agent with id %lld", (long long)a->id);
        return -1;
    }
    a->stored.n = 0;
    int rc = pg_ranges_parse(&a->stored, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
    PQclear(res);
    if (rc < 0) {
        snprintf(err, errlen,
                 "database %s: agent id %lld: its stored sequence numbers are not readable "
                 "(more than %d gaps?)",
                 store_pg_where(b), (long long)a->id, PG_RANGES_MAX);
        return -1;
    }
    if (latest_load(b, in, a->id, err, errlen) < 0)
        return -1;
    a->stale = false;
    a->kept_us = clock_mono_us();
    return 0;
}

/* The agent's state in this transaction: read from the database the first
 * time (or after it reconnected), else as kept from earlier transactions. */
static struct agent *agent_touch(void *b, struct store_pg_ingest *in, int64_t agent_id, char *err,
                                 size_t errlen)
{
    /* Batches come from one agent at a time: the last one first. */
    if (in->last1 > 0 && in->agents[in->last1 - 1].id == agent_id &&
        in->agents[in->last1 - 1].touched)
        return &in->agents[in->last1 - 1];
    const int64_t key[3] = {agent_id, 0, 0};
    if (in->nagents == in->capagents) {
        size_t ncap = in->capagents ? in->capagents * 2 : ARRAY_MIN;
        struct agent *v = realloc(in->agents, ncap * sizeof(*v));
        if (v == NULL)
            goto oom;
        in->agents = v;
        in->capagents = ncap;
    }
    bool added;
    int64_t i = keymap_get(&in->agent_map, key, (uint32_t)in->nagents, &added);
    if (i < 0)
        goto oom;
    if (added)
        in->agents[in->nagents++] = (struct agent){.id = agent_id, .stale = true};
    struct agent *a = &in->agents[i];
    in->last1 = (size_t)i + 1;
    if (a->touched)
        return a;
    if (!a->stale && clock_mono_us() - a->kept_us > in->keep_fresh_us)
        a->stale = true;
    /* A failed read leaves it stale: the next touch reads again. */
    if (a->stale && agent_read(b, in, a, err, errlen) < 0)
        return NULL;
    if (pg_ranges_copy(&a->base, &a->stored) < 0)
        goto oom;
    a->touched = true;
    in->ntouched++;
    return a;
oom:
    snprintf(err, errlen, "database: out of memory tracking agents");
    return NULL;
}

void store_pg_ingest_forget_agent(struct store_pg_ingest *in, int64_t agent_id)
{
    const int64_t key[3] = {agent_id, 0, 0};
    int64_t i = keymap_find(&in->agent_map, key);
    if (i >= 0 && !in->agents[i].touched)
        in->agents[i].stale = true;
}

/* ---- results ---------------------------------------------------------------------- */

static int load_texts(void *b, struct latest *l, char *err, size_t errlen)
{
    char v[3][24];
    const char *p[] = {store_pg_i64(v[0], l->agent_id), store_pg_i64(v[1], l->target_id),
                       store_pg_i64(v[2], l->check_id)};
    PGresult *res = store_pg_query(b,
                                   "SELECT dns, address, cert FROM latest WHERE agent_id = $1"
                                   " AND target_id = $2 AND check_id = $3",
                                   3, p, "reading the last facts", err, errlen);
    if (res == NULL)
        return -1;
    for (int g = 0; PQntuples(res) == 1 && g < STORE_FACT_LAST; g++) {
        const char *t = store_pg_get_text(res, 0, g);
        if (l->fact_text[g] == NULL && t != NULL && (l->fact_text[g] = strdup(t)) == NULL) {
            PQclear(res);
            snprintf(err, errlen, "database: out of memory tracking facts");
            return -1;
        }
    }
    PQclear(res);
    l->texts_loaded = true;
    return 0;
}

/* As store_sqlite.c's facts_touch: keeps the result's facts as the key's
 * last known ones and reports in prev those that changed. */
static int facts_touch(void *b, struct store_pg_ingest *in, struct latest *l,
                       const struct store_facts *facts, struct store_prev *prev, char *err,
                       size_t errlen)
{
    for (int f = 0; f < STORE_FACT_LAST; f++) {
        uint64_t h = facts->hash[f];
        if (h == 0 || h == l->fact_hash[f])
            continue;
        if (l->fact_hash[f] != 0 && prev != NULL) {
            if (l->fact_text[f] == NULL && !l->texts_loaded && load_texts(b, l, err, errlen) < 0)
                return -1;
            free(in->before[f]);
            in->before[f] = strdup(l->fact_text[f] != NULL ? l->fact_text[f] : "");
            if (in->before[f] == NULL)
                goto oom;
            prev->changed[f] = true;
            prev->before[f] = in->before[f];
        }
        char *now = strdup(facts->text[f] != NULL ? facts->text[f] : "");
        if (now == NULL)
            goto oom;
        free(l->fact_text[f]);
        l->fact_text[f] = now;
        l->fact_hash[f] = h;
    }
    return 0;
oom:
    snprintf(err, errlen, "database: out of memory tracking facts");
    return -1;
}

static int slowest_phase(const struct result *r, uint64_t *us)
{
    int best = RESULT_PHASE_TOTAL;
    *us = r->phases_us[RESULT_PHASE_TOTAL];
    uint64_t max = 0;
    for (int p = 0; p < RESULT_PHASE_LAST; p++) {
        if (p != RESULT_PHASE_TOTAL && r->phases_us[p] > max) {
            max = r->phases_us[p];
            best = p;
        }
    }
    if (best != RESULT_PHASE_TOTAL)
        *us = max;
    return best;
}

static int latest_touch(void *b, struct store_pg_ingest *in, const int64_t key[3],
                        int64_t network_id, const struct result *r, const struct store_facts *facts,
                        struct store_prev *prev, char *err, size_t errlen)
{
    bool added;
    struct latest *l = latest_slot(in, key, &added);
    if (l == NULL)
        goto oom;
    if (l->had && r->seq <= l->seq)
        return 0; /* an older result arriving late: history, not state */
    if (prev != NULL)
        prev->before_at_us = l->had ? l->at_us : 0;
    if (facts != NULL && facts_touch(b, in, l, facts, prev, err, errlen) < 0)
        return -1;
    free(l->detail);
    l->detail = NULL;
    if (r->detail != NULL && (l->detail = strdup(r->detail)) == NULL)
        goto oom;
    store_streak_next(&l->streak, r->ok, r->error, r->started_at_us);
    l->since_us = l->streak.since_us;
    if (!r->ok) {
        l->fail_layer = r->layer;
        l->fail_error = r->error;
    }
    l->phase = slowest_phase(r, &l->phase_us);
    l->delivery_us = r->delivery != NULL ? r->delivery->delivery_us : 0;
    l->had = l->dirty = true;
    l->network_id = network_id;
    l->ok = r->ok;
    l->discovered = r->discovered;
    l->layer = r->layer;
    l->error = r->error;
    l->seq = r->seq;
    l->at_us = r->started_at_us;
    l->total_us = r->phases_us[RESULT_PHASE_TOTAL];
    return 0;
oom:
    snprintf(err, errlen, "database: out of memory tracking the latest state");
    return -1;
}

int store_pg_result_add_facts(void *b, int64_t agent_id, const char *network,
                              const struct result *r, const uint8_t *record, size_t len,
                              const struct store_facts *facts, struct store_prev *prev, char *err,
                              size_t errlen)
{
    if (prev != NULL)
        *prev = (struct store_prev){0};
    struct store_pg_ingest *in = store_pg_ingest_of(b);
    if (!store_pg_in_txn(b)) {
        snprintf(err, errlen, "database: store_result_add outside a transaction");
        return -1;
    }
    if (!r->has_seq || r->seq > INT64_MAX - 1 || r->check == NULL || record == NULL ||
        len > STORE_RECORD_MAX) {
        snprintf(err, errlen,
                 "database: a stored result needs a seq, a check and its "
                 "encoded bytes (at most STORE_RECORD_MAX)");
        return -1;
    }
    struct agent *a = agent_touch(b, in, agent_id, err, errlen);
    if (a == NULL)
        return -1;
    if (pg_ranges_has(&a->stored, (int64_t)r->seq))
        return 0; /* (agent, seq) is stored already, or earlier in this txn */
    int64_t target_id, check_id, network_id = 0;
    if (intern_id(b, &in->targets, r->target, &target_id, err, errlen) < 0 ||
        intern_id(b, &in->checks, r->check, &check_id, err, errlen) < 0 ||
        (network != NULL && intern_id(b, &in->networks, network, &network_id, err, errlen) < 0))
        return -1;
    struct store_pg_row row = {.agent_id = agent_id,
                               .seq = (int64_t)r->seq,
                               .network_id = network_id,
                               .target_id = target_id,
                               .check_id = check_id,
                               .started_at_us = r->started_at_us,
                               .ok = r->ok,
                               .layer = (int16_t)r->layer,
                               .error = (int16_t)r->error,
                               .total_us = (int64_t)r->phases_us[RESULT_PHASE_TOTAL],
                               .record = record,
                               .len = len};
    /* agent_touch may have realloc'ed in->agents: a is still valid (it
     * was taken after). */
    if (pg_ranges_add(&a->stored, (int64_t)r->seq) < 0 || store_pg_copy_row(&in->copy, &row) < 0) {
        snprintf(err, errlen, "database: out of memory buffering results");
        return -1;
    }
    if (r->seq > a->max_seq)
        a->max_seq = r->seq;
    a->dirty = true;
    const int64_t key[3] = {agent_id, target_id, check_id};
    if (latest_touch(b, in, key, network_id, r, facts, prev, err, errlen) < 0)
        return -1;
    return 1;
}

int store_pg_result_add(void *b, int64_t agent_id, const char *network, const struct result *r,
                        const uint8_t *record, size_t len, char *err, size_t errlen)
{
    return store_pg_result_add_facts(b, agent_id, network, r, record, len, NULL, NULL, err, errlen);
}
