/*
 * store_sqlite_ingest — the sqlite backend's writes (store_sqlite.h): the
 * agents, results, the latest state and its facts, and changes; and the
 * in-memory maps that keep ingest free of per-row SELECTs (interned
 * names, and the keys a transaction touches, written at commit by
 * store_sqlite.c).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store_impl.h"
#include "store_sqlite.h"

/* Interned names kept in memory per table. Targets x checks are bounded by
 * the configuration (WIRE_TARGETS_MAX x WIRE_CHECKS_MAX in the worst case)
 * and networks by the fleet; past this many the cache is emptied and
 * refilled on demand, so memory stays bounded whatever agents send. */
#define INTERN_MAX 65536

/* The cache of names and the transaction's arrays start with this many
 * slots. */
#define ARRAY_MIN 64
/* A map grown past this by one large transaction is freed at its end
 * rather than cleared, so that one burst does not pin its memory. */
#define KEYMAP_KEEP 8192

void store_sqlite_intern_clear(struct intern *in)
{
    for (size_t i = 0; i < in->cap; i++)
        free(in->slots[i].name);
    free(in->slots);
    in->slots = NULL;
    in->cap = in->n = 0;
}

/* Places an entry known to be absent; the table has room. */
static void intern_place(struct intern *in, uint64_t h, char *name, int64_t id)
{
    size_t i = h & (in->cap - 1);
    while (in->slots[i].name != NULL)
        i = (i + 1) & (in->cap - 1);
    in->slots[i] = (struct intern_slot){h, name, id};
    in->n++;
}

static int intern_grow(struct intern *in)
{
    size_t ncap = in->cap ? in->cap * 2 : ARRAY_MIN;
    struct intern_slot *old = in->slots;
    size_t ocap = in->cap;
    in->slots = calloc(ncap, sizeof(*in->slots));
    if (in->slots == NULL) {
        in->slots = old;
        return -1;
    }
    in->cap = ncap;
    in->n = 0;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].name != NULL)
            intern_place(in, old[i].hash, old[i].name, old[i].id);
    free(old);
    return 0;
}

/* The id of name in the interned table, inserting the row the first time.
 * A NULL name is stored as "" (a result without a target). */
static int intern_id(struct sqlite_store *b, struct intern *in, const char *name, int64_t *id,
                     char *err, size_t errlen)
{
    if (name == NULL)
        name = "";
    uint64_t h = keymap_hash_str(name);
    if (in->cap > 0) {
        for (size_t i = h & (in->cap - 1); in->slots[i].name != NULL; i = (i + 1) & (in->cap - 1)) {
            if (in->slots[i].hash == h && strcmp(in->slots[i].name, name) == 0) {
                *id = in->slots[i].id;
                return 0;
            }
        }
    }
    /* A miss: the row may exist already (written by an earlier run). */
    sqlite3_bind_text(in->find, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(in->find);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(in->find, 0);
        sqlite3_reset(in->find);
    } else {
        sqlite3_reset(in->find);
        if (rc != SQLITE_DONE)
            return store_sqlite_db_fail(b->db, in->table, err, errlen);
        sqlite3_bind_text(in->add, 1, name, -1, SQLITE_STATIC);
        rc = sqlite3_step(in->add);
        sqlite3_reset(in->add);
        if (rc != SQLITE_DONE)
            return store_sqlite_db_fail(b->db, in->table, err, errlen);
        *id = sqlite3_last_insert_rowid(b->db);
    }
    if (in->n >= INTERN_MAX)
        store_sqlite_intern_clear(in);
    if ((in->n + 1) * 2 > in->cap && intern_grow(in) < 0)
        return 0; /* the id is right; it is only not cached */
    char *copy = strdup(name);
    if (copy != NULL)
        intern_place(in, h, copy, *id);
    return 0;
}

/* Forgets what the transaction kept in memory. */
void store_sqlite_pending_clear(struct sqlite_store *b)
{
    for (size_t i = 0; i < b->nlatest; i++) {
        free(b->latest[i].detail);
        for (int f = 0; f < STORE_FACT_LAST; f++)
            free(b->latest[i].fact_text[f]);
    }
    b->nlatest = 0;
    b->nseqs = 0;
    keymap_reset(&b->latest_map, KEYMAP_KEEP);
    keymap_reset(&b->seq_map, KEYMAP_KEEP);
    if (b->caplatest > KEYMAP_KEEP) {
        free(b->latest);
        b->latest = NULL;
        b->caplatest = 0;
    }
    if (b->capseqs > KEYMAP_KEEP) {
        free(b->seqs);
        b->seqs = NULL;
        b->capseqs = 0;
    }
}

/* ---- agents ---------------------------------------------------------------- */

int store_sqlite_agent_id(void *p, const char *name, int64_t *id, char *err, size_t errlen)
{
    struct sqlite_store *b = p;
    if (name == NULL || name[0] == '\0') {
        snprintf(err, errlen, "database: an agent needs a name");
        return -1;
    }
    sqlite3_bind_text(b->agent_find, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(b->agent_find);
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(b->agent_find, 0);
    sqlite3_reset(b->agent_find);
    sqlite3_clear_bindings(b->agent_find);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc != SQLITE_DONE)
        return store_sqlite_db_fail(b->db, "looking up an agent", err, errlen);
    sqlite3_bind_text(b->agent_add, 1, name, -1, SQLITE_STATIC);
    if (store_sqlite_step_done(b, b->agent_add, "adding an agent", err, errlen) < 0)
        return -1;
    *id = sqlite3_last_insert_rowid(b->db);
    return 0;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    if (s != NULL)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

int store_sqlite_agent_update(void *p, int64_t id, const struct store_agent *a, char *err,
                              size_t errlen)
{
    struct sqlite_store *b = p;
    sqlite3_stmt *st = b->agent_update;
    sqlite3_bind_int64(st, 1, id);
    bind_text_or_null(st, 2, a->site);
    bind_text_or_null(st, 3, a->network);
    bind_text_or_null(st, 4, a->version);
    bind_text_or_null(st, 5, a->address);
    bind_text_or_null(st, 6, a->netctx);
    sqlite3_bind_int64(st, 7, a->first_seen_us);
    sqlite3_bind_int64(st, 8, a->last_seen_us);
    sqlite3_bind_int64(st, 9, (int64_t)a->spool_dropped);
    sqlite3_bind_int64(st, 10, (int64_t)a->spool_pending);
    sqlite3_bind_int(st, 11, a->has_spool);
    if (store_sqlite_step_done(b, st, "updating an agent", err, errlen) < 0)
        return -1;
    if (sqlite3_changes(b->db) != 1) {
        snprintf(err, errlen, "database: no agent with id %lld", (long long)id);
        return -1;
    }
    return 0;
}

/* The rare path (only when results went missing): no prepared statement. */
int store_sqlite_agent_lost_add(void *p, int64_t id, uint64_t n, char *err, size_t errlen)
{
    struct sqlite_store *b = p;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(b->db, "UPDATE agents SET lost = lost + ?2 WHERE id = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return store_sqlite_db_fail(b->db, "counting lost results", err, errlen);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, n > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)n);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0
                             : store_sqlite_db_fail(b->db, "counting lost results", err, errlen);
}

static int64_t clamp_i64(uint64_t n)
{
    return n > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)n;
}

/* Rare too (store.c skips all-zero counts): no prepared statement. */
int store_sqlite_agent_counts_add(void *p, int64_t id, const struct store_agent_counts *c,
                                  char *err, size_t errlen)
{
    struct sqlite_store *b = p;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(b->db,
                           "UPDATE agents SET duplicates = duplicates + ?2, invalid = invalid + ?3,"
                           " clamped = clamped + ?4, refused = refused + ?5 WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return store_sqlite_db_fail(b->db, "counting an agent's refused input", err, errlen);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, clamp_i64(c->duplicates));
    sqlite3_bind_int64(st, 3, clamp_i64(c->invalid));
    sqlite3_bind_int64(st, 4, clamp_i64(c->clamped));
    sqlite3_bind_int64(st, 5, clamp_i64(c->refused));
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE
               ? 0
               : store_sqlite_db_fail(b->db, "counting an agent's refused input", err, errlen);
}

int store_sqlite_agent_committed_seq(void *p, int64_t id, uint64_t *seq, char *err, size_t errlen)
{
    struct sqlite_store *b = p;
    sqlite3_bind_int64(b->agent_seq_get, 1, id);
    int rc = sqlite3_step(b->agent_seq_get);
    if (rc == SQLITE_ROW)
        *seq = (uint64_t)sqlite3_column_int64(b->agent_seq_get, 0);
    sqlite3_reset(b->agent_seq_get);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE) {
        snprintf(err, errlen, "database: no agent with id %lld", (long long)id);
        return -1;
    }
    return store_sqlite_db_fail(b->db, "reading the committed seq", err, errlen);
}

/* ---- ingest ---------------------------------------------------------------- */

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* Keeps the result's facts as the key's last known ones and reports in
 * prev those that changed, with their texts before. */
static int facts_touch(struct sqlite_store *b, struct latest *l, const struct store_facts *facts,
                       struct store_prev *prev, char *err, size_t errlen)
{
    bool loaded = false;
    for (int f = 0; f < STORE_FACT_LAST; f++) {
        uint64_t h = facts->hash[f];
        if (h == 0 || h == l->fact_hash[f])
            continue;
        /* The rare path: something changed, or is seen for the first time. */
        char *now = strdup(facts->text[f] != NULL ? facts->text[f] : "");
        if (now == NULL)
            goto oom;
        if (l->fact_hash[f] != 0 && prev != NULL) {
            const char *was = l->fact_text[f];
            if (was == NULL && !loaded) {
                sqlite3_stmt *st = b->latest_facts;
                sqlite3_bind_int64(st, 1, l->agent_id);
                sqlite3_bind_int64(st, 2, l->target_id);
                sqlite3_bind_int64(st, 3, l->check_id);
                int rc = sqlite3_step(st);
                for (int g = 0; rc == SQLITE_ROW && g < STORE_FACT_LAST; g++) {
                    if (l->fact_text[g] == NULL && sqlite3_column_text(st, g) != NULL) {
                        l->fact_text[g] = strdup(col_text(st, g));
                        if (l->fact_text[g] == NULL) {
                            sqlite3_reset(st);
                            free(now);
                            goto oom;
                        }
                    }
                }
                sqlite3_reset(st);
                if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
                    free(now);
                    return store_sqlite_db_fail(b->db, "reading the last facts", err, errlen);
                }
                loaded = true;
                was = l->fact_text[f];
            }
            free(b->before[f]);
            b->before[f] = strdup(was != NULL ? was : "");
            if (b->before[f] == NULL) {
                free(now);
                goto oom;
            }
            prev->changed[f] = true;
            prev->before[f] = b->before[f];
        }
        free(l->fact_text[f]);
        l->fact_text[f] = now;
        l->fact_hash[f] = h;
    }
    return 0;
oom:
    snprintf(err, errlen, "database: out of memory tracking facts");
    return -1;
}

/* The slowest phase of a result, the one a person looks at first. The
 * mailflow phases (submit, delivery, fetch) come after total in the enum
 * and count too: for test mail the slow part is usually delivery. */
static int slowest_phase(const struct result *r, uint64_t *us)
{
    int best = RESULT_PHASE_TOTAL;
    *us = r->phases_us[RESULT_PHASE_TOTAL];
    uint64_t max = 0;
    for (int p = 0; p < RESULT_PHASE_LAST; p++) {
        if (p == RESULT_PHASE_TOTAL)
            continue;
        if (r->phases_us[p] > max) {
            max = r->phases_us[p];
            best = p;
        }
    }
    if (best != RESULT_PHASE_TOTAL)
        *us = max;
    return best;
}

/* Makes the latest state of the result's key follow it when it is newer
 * than what the store (or this transaction) has. */
static int latest_touch(struct sqlite_store *b, int64_t agent_id, int64_t network_id,
                        int64_t target_id, int64_t check_id, const struct result *r,
                        const struct store_facts *facts, struct store_prev *prev, char *err,
                        size_t errlen)
{
    const int64_t key[3] = {agent_id, target_id, check_id};
    if (b->nlatest == b->caplatest) {
        size_t ncap = b->caplatest ? b->caplatest * 2 : ARRAY_MIN;
        struct latest *v = realloc(b->latest, ncap * sizeof(*v));
        if (v == NULL)
            goto oom;
        b->latest = v;
        b->caplatest = ncap;
    }
    bool added;
    int64_t i = keymap_get(&b->latest_map, key, (uint32_t)b->nlatest, &added);
    if (i < 0)
        goto oom;
    struct latest *l = &b->latest[i];
    if (added) {
        /* First touch in this transaction: one read of the stored state. */
        b->nlatest++;
        *l = (struct latest){.agent_id = agent_id, .target_id = target_id, .check_id = check_id};
        sqlite3_stmt *st = b->latest_get;
        sqlite3_bind_int64(st, 1, agent_id);
        sqlite3_bind_int64(st, 2, target_id);
        sqlite3_bind_int64(st, 3, check_id);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            l->had = true;
            l->seq = (uint64_t)sqlite3_column_int64(st, 0);
            l->ok = sqlite3_column_int(st, 1) != 0;
            l->since_us = sqlite3_column_int64(st, 2);
            l->streak = (struct store_streak){
                .had = true,
                .ok = l->ok,
                .since_us = l->since_us,
                .episode_us = sqlite3_column_int64(st, 3),
                .flips = (uint32_t)sqlite3_column_int64(st, 4),
                .n = (uint32_t)sqlite3_column_int64(st, 5),
                .fail_error = sqlite3_column_int(st, 7),
            };
            l->fail_layer = sqlite3_column_int(st, 6);
            l->fail_error = sqlite3_column_int(st, 7);
            for (int f = 0; f < STORE_FACT_LAST; f++)
                l->fact_hash[f] = (uint64_t)sqlite3_column_int64(st, 8 + f);
            l->at_us = sqlite3_column_int64(st, 11);
        }
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return store_sqlite_db_fail(b->db, "reading the latest state", err, errlen);
    }
    if (l->had && r->seq <= l->seq)
        return 0; /* an older result arriving late: history, not state */
    if (prev != NULL)
        prev->before_at_us = l->had ? l->at_us : 0;
    if (facts != NULL && facts_touch(b, l, facts, prev, err, errlen) < 0)
        return -1;
    l->has_detail = r->detail != NULL;
    if (l->has_detail) {
        /* Most rows of a key carry a detail of the same size or none, so
         * the buffer is reused instead of a malloc and free per row. */
        size_t n = strlen(r->detail) + 1;
        if (n > l->detail_cap) {
            char *d = realloc(l->detail, n);
            if (d == NULL)
                goto oom;
            l->detail = d;
            l->detail_cap = n;
        }
        memcpy(l->detail, r->detail, n);
    }
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

static int seq_touch(struct sqlite_store *b, int64_t agent_id, uint64_t seq, char *err,
                     size_t errlen)
{
    /* Batches come from one agent at a time: check the last one first. */
    if (b->nseqs > 0 && b->seqs[b->nseqs - 1].agent_id == agent_id) {
        if (seq > b->seqs[b->nseqs - 1].max_seq)
            b->seqs[b->nseqs - 1].max_seq = seq;
        return 0;
    }
    if (b->nseqs == b->capseqs) {
        size_t ncap = b->capseqs ? b->capseqs * 2 : ARRAY_MIN;
        struct agent_seq *v = realloc(b->seqs, ncap * sizeof(*v));
        if (v == NULL)
            goto oom;
        b->seqs = v;
        b->capseqs = ncap;
    }
    const int64_t key[3] = {agent_id, 0, 0};
    bool added;
    int64_t i = keymap_get(&b->seq_map, key, (uint32_t)b->nseqs, &added);
    if (i < 0)
        goto oom;
    if (added) {
        b->seqs[b->nseqs++] = (struct agent_seq){agent_id, seq};
    } else if (seq > b->seqs[i].max_seq) {
        b->seqs[i].max_seq = seq;
    }
    return 0;
oom:
    snprintf(err, errlen, "database: out of memory tracking committed seqs");
    return -1;
}

/* Checks that agent_id names a row of agents, from memory after the
 * first time: results carry no foreign key (see the schema). */
static int agent_known(struct sqlite_store *b, int64_t agent_id, char *err, size_t errlen)
{
    const int64_t key[3] = {agent_id, 0, 0};
    if (b->known_agents.n >= INTERN_MAX)
        keymap_free(&b->known_agents);
    bool added;
    if (keymap_get(&b->known_agents, key, 0, &added) < 0) {
        snprintf(err, errlen, "database: out of memory");
        return -1;
    }
    if (!added)
        return 0;
    sqlite3_bind_int64(b->agent_exists, 1, agent_id);
    int rc = sqlite3_step(b->agent_exists);
    sqlite3_reset(b->agent_exists);
    if (rc == SQLITE_ROW)
        return 0;
    /* Not an agent: forget the key again, which the map cannot do by
     * itself; dropping the whole set only costs lookups to refill it. */
    keymap_free(&b->known_agents);
    if (rc == SQLITE_DONE) {
        snprintf(err, errlen, "database: no agent with id %lld", (long long)agent_id);
        return -1;
    }
    return store_sqlite_db_fail(b->db, "looking up an agent", err, errlen);
}

int store_sqlite_result_add_facts(void *p, int64_t agent_id, const char *network,
                                  const struct result *r, const uint8_t *record, size_t len,
                                  const struct store_facts *facts, struct store_prev *prev,
                                  char *err, size_t errlen)
{
    if (prev != NULL)
        *prev = (struct store_prev){0};
    struct sqlite_store *b = p;
    /* sqlite ends a transaction by itself on some errors (disk full, I/O);
     * rows added after that would each commit alone, unseen by commit. */
    if (!b->in_txn || sqlite3_get_autocommit(b->db)) {
        snprintf(err, errlen, "database: store_result_add outside a transaction%s",
                 b->in_txn ? " (an earlier error ended it; roll back and retry the batch)" : "");
        return -1;
    }
    if (!r->has_seq || r->seq > INT64_MAX || r->check == NULL || record == NULL ||
        len > STORE_RECORD_MAX) {
        snprintf(err, errlen,
                 "database: a stored result needs a seq, a check and its "
                 "encoded bytes (at most STORE_RECORD_MAX)");
        return -1;
    }
    int64_t target_id, check_id, network_id = 0;
    if (agent_known(b, agent_id, err, errlen) < 0 ||
        intern_id(b, &b->targets, r->target, &target_id, err, errlen) < 0 ||
        intern_id(b, &b->checks, r->check, &check_id, err, errlen) < 0 ||
        (network != NULL && intern_id(b, &b->networks, network, &network_id, err, errlen) < 0))
        return -1;

    sqlite3_stmt *st = b->result_insert;
    sqlite3_bind_int64(st, 1, agent_id);
    sqlite3_bind_int64(st, 2, (int64_t)r->seq);
    if (network != NULL)
        sqlite3_bind_int64(st, 3, network_id);
    else
        sqlite3_bind_null(st, 3);
    sqlite3_bind_int64(st, 4, target_id);
    sqlite3_bind_int64(st, 5, check_id);
    sqlite3_bind_int64(st, 6, r->started_at_us);
    sqlite3_bind_int(st, 7, r->ok);
    sqlite3_bind_int(st, 8, r->layer);
    sqlite3_bind_int(st, 9, r->error);
    sqlite3_bind_int64(st, 10, (int64_t)r->phases_us[RESULT_PHASE_TOTAL]);
    sqlite3_bind_blob(st, 11, record, (int)len, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_sqlite_db_fail(b->db, "storing a result", err, errlen);
    if (sqlite3_changes(b->db) == 0)
        return 0; /* (agent, seq) is stored already */
    if (latest_touch(b, agent_id, network_id, target_id, check_id, r, facts, prev, err, errlen) <
            0 ||
        seq_touch(b, agent_id, r->seq, err, errlen) < 0)
        return -1;
    return 1;
}

int store_sqlite_result_add(void *p, int64_t agent_id, const char *network, const struct result *r,
                            const uint8_t *record, size_t len, char *err, size_t errlen)
{
    return store_sqlite_result_add_facts(p, agent_id, network, r, record, len, NULL, NULL, err,
                                         errlen);
}

int store_sqlite_change_add(void *p, const struct store_change *c, char *err, size_t errlen)
{
    struct sqlite_store *b = p;
    if (c->kind == NULL) {
        snprintf(err, errlen, "database: a change needs a kind");
        return -1;
    }
    int64_t agent_id = 0, target_id = 0;
    if (c->agent != NULL && store_sqlite_agent_id(b, c->agent, &agent_id, err, errlen) < 0)
        return -1;
    if (c->target != NULL && intern_id(b, &b->targets, c->target, &target_id, err, errlen) < 0)
        return -1;
    sqlite3_stmt *st = b->change_add;
    sqlite3_bind_int64(st, 1, c->at_us);
    if (c->agent != NULL)
        sqlite3_bind_int64(st, 2, agent_id);
    if (c->target != NULL)
        sqlite3_bind_int64(st, 3, target_id);
    sqlite3_bind_text(st, 4, c->kind, -1, SQLITE_STATIC);
    bind_text_or_null(st, 5, c->subject);
    bind_text_or_null(st, 6, c->before);
    bind_text_or_null(st, 7, c->after);
    return store_sqlite_step_done(b, st, "recording a change", err, errlen);
}
