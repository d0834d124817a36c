/*
 * Unit tests of collector/store.c and its backends: every test of the
 * store's contract runs twice, against a real sqlite file in a fresh
 * temporary directory and against a real PostgreSQL 15 (started for this
 * run by tests/servers/pg-up, a fresh schema per test). Backend-specific
 * tests (files, schema versions, partitions) follow each group. The
 * PostgreSQL group skips, saying why, where no server can be started.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "store.h"
#include "store_impl.h"
#include "store_pg.h"
#include "wire.h"

#include "pgtest.h"

#define STR_(x) #x
#define STR(x)  STR_(x)

struct fixture {
    char dir[64];
    char path[128];
    char loc[512]; /* the store's location: path, or the PostgreSQL URI */
    struct pg_server *pg;
    struct store *s;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/vantage-test-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/v.db", f->dir);
    snprintf(f->loc, sizeof(f->loc), "%s", f->path);
    char err[STORE_ERR_MAX];
    f->s = store_open(f->path, err, sizeof(err));
    if (f->s == NULL)
        fail_msg("store_open: %s", err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(&f->s);
    assert_null(f->s);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* ---- PostgreSQL ---- */

/* Each test gets a schema of its own in database "postgres", chosen by
 * the location's search_path: cheaper than a database per test. */
static int pg_setup(void **state)
{
    struct pg_server *g = *state;
    pg_require(g);
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->pg = g;
    pg_schema(g, 's', f->dir, sizeof(f->dir), f->loc, sizeof(f->loc));
    char err[STORE_ERR_MAX];
    f->s = store_open(f->loc, err, sizeof(err));
    if (f->s == NULL)
        fail_msg("store_open: %s", err);
    *state = f;
    return 0;
}

static int pg_teardown(void **state)
{
    struct fixture *f = *state;
    store_close(&f->s);
    assert_null(f->s);
    /* The schema stays: the server and its data go at the end of the run. */
    *state = f->pg;
    free(f);
    return 0;
}

/* Stores one result built from the arguments through its real encoding. */
static int add(struct store *s, int64_t agent, const char *network, const char *target,
               const char *check, uint64_t seq, int64_t at, enum result_error error)
{
    struct result r;
    result_init(&r);
    r.has_seq = true;
    r.seq = seq;
    assert_int_equal(result_set_str(&r.target, target), 0);
    assert_int_equal(result_set_str(&r.check, check), 0);
    r.started_at_us = at;
    r.ok = error == RESULT_OK;
    r.error = error;
    r.layer = result_error_layer(error);
    r.phases_us[RESULT_PHASE_TOTAL] = 1000 + seq;
    char detail[64];
    snprintf(detail, sizeof(detail), "detail %llu", (unsigned long long)seq);
    assert_int_equal(result_set_str(&r.detail, detail), 0);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(wire_result_encode(&r, &buf, &len), 0);
    int rc = store_result_add(s, agent, network, &r, buf, len);
    free(buf);
    result_clear(&r);
    return rc;
}

static int64_t agent(struct store *s, const char *name)
{
    int64_t id = -1;
    if (store_agent_id(s, name, &id) < 0)
        fail_msg("store_agent_id(%s): %s", name, store_error(s));
    return id;
}

static uint64_t committed(struct store *s, int64_t id)
{
    uint64_t seq = 999999;
    if (store_agent_committed_seq(s, id, &seq) < 0)
        fail_msg("committed_seq: %s", store_error(s));
    return seq;
}

/* ---- collectors for the readers ---- */

#define ROWS_MAX 64

struct rows {
    size_t n;
    size_t stop_after; /* 0 = never */
    char agent[ROWS_MAX][32];
    char network[ROWS_MAX][32];
    char target[ROWS_MAX][32];
    char check[ROWS_MAX][64];
    char detail[ROWS_MAX][64];
    uint64_t seq[ROWS_MAX];
    int64_t at[ROWS_MAX];
    int64_t since[ROWS_MAX];
    bool ok[ROWS_MAX];
    bool connected[ROWS_MAX];
    enum result_error error[ROWS_MAX];
};

static void copy(char *dst, size_t n, const char *s)
{
    snprintf(dst, n, "%s", s ? s : "(null)");
}

static int result_cb(const struct result *r, void *arg)
{
    struct rows *w = arg;
    assert_true(w->n < ROWS_MAX);
    assert_true(r->has_seq);
    copy(w->agent[w->n], sizeof(w->agent[0]), r->agent);
    copy(w->network[w->n], sizeof(w->network[0]), r->network);
    copy(w->target[w->n], sizeof(w->target[0]), r->target);
    copy(w->check[w->n], sizeof(w->check[0]), r->check);
    copy(w->detail[w->n], sizeof(w->detail[0]), r->detail);
    w->seq[w->n] = r->seq;
    w->at[w->n] = r->started_at_us;
    w->ok[w->n] = r->ok;
    w->error[w->n] = r->error;
    w->n++;
    return w->stop_after != 0 && w->n >= w->stop_after;
}

static int latest_cb(const struct store_latest *l, void *arg)
{
    struct rows *w = arg;
    assert_true(w->n < ROWS_MAX);
    copy(w->agent[w->n], sizeof(w->agent[0]), l->agent);
    copy(w->network[w->n], sizeof(w->network[0]), l->network);
    copy(w->target[w->n], sizeof(w->target[0]), l->target);
    copy(w->check[w->n], sizeof(w->check[0]), l->check);
    copy(w->detail[w->n], sizeof(w->detail[0]), l->detail);
    w->seq[w->n] = l->seq;
    w->at[w->n] = l->at_us;
    w->since[w->n] = l->since_us;
    w->ok[w->n] = l->ok;
    w->error[w->n] = l->error;
    w->n++;
    return 0;
}

static int agent_cb(const struct store_agent *a, void *arg)
{
    struct rows *w = arg;
    assert_true(w->n < ROWS_MAX);
    copy(w->agent[w->n], sizeof(w->agent[0]), a->name);
    copy(w->network[w->n], sizeof(w->network[0]), a->network);
    copy(w->target[w->n], sizeof(w->target[0]), a->site);
    copy(w->check[w->n], sizeof(w->check[0]), a->version);
    w->seq[w->n] = a->committed_seq;
    w->at[w->n] = a->last_seen_us;
    w->since[w->n] = a->first_seen_us;
    w->connected[w->n] = a->connected;
    w->n++;
    return 0;
}

static int change_cb(const struct store_change *c, void *arg)
{
    struct rows *w = arg;
    assert_true(w->n < ROWS_MAX);
    copy(w->agent[w->n], sizeof(w->agent[0]), c->agent);
    copy(w->target[w->n], sizeof(w->target[0]), c->target);
    copy(w->check[w->n], sizeof(w->check[0]), c->kind);
    copy(w->detail[w->n], sizeof(w->detail[0]), c->after);
    w->at[w->n] = c->at_us;
    w->n++;
    return 0;
}

static size_t count_results(struct store *s, const struct store_result_filter *flt, struct rows *w)
{
    memset(w, 0, sizeof(*w));
    if (store_results_each(s, flt, result_cb, w) < 0)
        fail_msg("results_each: %s", store_error(s));
    return w->n;
}

static int pragma_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    int v = -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void exec_raw(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* ---- tests ---- */

static void test_open_migrate_reopen(void **state)
{
    struct fixture *f = *state;
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    int64_t a = agent(f->s, "a1");
    store_close(&f->s);

    assert_int_equal(pragma_int(f->path, "PRAGMA user_version"), STORE_SQLITE_SCHEMA_VERSION);
    assert_int_equal(pragma_int(f->path, "SELECT count(*) FROM sqlite_master WHERE name IN "
                                         "('agents','results','latest','changes','targets',"
                                         "'checks','networks')"),
                     7);

    /* Reopening keeps the data and migrates nothing; "sqlite:" is the same
     * backend as a plain path. */
    char loc[160], err[STORE_ERR_MAX];
    snprintf(loc, sizeof(loc), "sqlite:%s", f->path);
    f->s = store_open(loc, err, sizeof(err));
    if (f->s == NULL)
        fail_msg("reopen: %s", err);
    assert_int_equal(agent(f->s, "a1"), a);
    store_close(&f->s);
    assert_int_equal(pragma_int(f->path, "PRAGMA user_version"), STORE_SQLITE_SCHEMA_VERSION);

    /* The WAL and shared-memory files are as private as the database. */
    char wal[160];
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    f->s = store_open(f->path, err, sizeof(err));
    assert_non_null(f->s);
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(add(f->s, a, "n", "t", "tcp://x:1", 1, 10, RESULT_OK), 1);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(stat(wal, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    store_close(&f->s);

    /* A database from a newer collector is refused, not downgraded. */
    exec_raw(f->path, "PRAGMA user_version = 99");
    f->s = store_open(f->path, err, sizeof(err));
    assert_null(f->s);
    assert_non_null(strstr(err, "newer"));
    assert_non_null(strstr(err, "99"));
    exec_raw(f->path, "PRAGMA user_version = " STR(STORE_SQLITE_SCHEMA_VERSION));
    f->s = store_open(f->path, err, sizeof(err));
    assert_non_null(f->s);
}

static void test_fresh_file_is_migrated_from_zero(void **state)
{
    struct fixture *f = *state;
    char path[160], err[STORE_ERR_MAX];
    snprintf(path, sizeof(path), "%s/empty.db", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(pragma_int(path, "PRAGMA user_version"), 0);
    struct store *s = store_open(path, err, sizeof(err));
    if (s == NULL)
        fail_msg("%s", err);
    store_close(&s);
    assert_int_equal(pragma_int(path, "PRAGMA user_version"), STORE_SQLITE_SCHEMA_VERSION);
    assert_int_equal(pragma_int(path, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
}

static void test_agent_ids_and_update(void **state)
{
    struct fixture *f = *state;
    int64_t a = agent(f->s, "lyon-pc1");
    int64_t b = agent(f->s, "paris-pc1");
    assert_true(a != b);
    assert_int_equal(agent(f->s, "lyon-pc1"), a);
    int64_t id;
    assert_int_equal(store_agent_id(f->s, "", &id), -1);
    assert_true(strlen(store_error(f->s)) > 0);

    struct store_agent u = {.site = "lyon",
                            .network = "lyon",
                            .version = "0.1.0",
                            .first_seen_us = 500,
                            .last_seen_us = 1000};
    assert_int_equal(store_agent_update(f->s, a, &u), 0);
    /* NULL fields and zero counters keep what was there; first_seen keeps
     * the earliest. */
    struct store_agent u2 = {.version = "0.2.0", .first_seen_us = 900, .last_seen_us = 2000};
    assert_int_equal(store_agent_update(f->s, a, &u2), 0);
    struct store_agent u3 = {.last_seen_us = 100};
    assert_int_equal(store_agent_update(f->s, b, &u3), 0);
    assert_int_equal(store_agent_update(f->s, 12345, &u3), -1);
    assert_non_null(strstr(store_error(f->s), "12345"));

    struct rows w = {0};
    assert_int_equal(store_agents_each(f->s, 1500, agent_cb, &w), 0);
    assert_int_equal(w.n, 2);
    assert_string_equal(w.agent[0], "lyon-pc1");
    assert_string_equal(w.target[0], "lyon");
    assert_string_equal(w.network[0], "lyon");
    assert_string_equal(w.check[0], "0.2.0");
    assert_int_equal(w.since[0], 500);
    assert_int_equal(w.at[0], 2000);
    assert_true(w.connected[0]);
    assert_string_equal(w.agent[1], "paris-pc1");
    assert_string_equal(w.target[1], "(null)");
    assert_false(w.connected[1]);
}

static int pending_cb(const struct store_agent *a, void *arg)
{
    *(uint64_t *)arg = a->spool_pending;
    return 0;
}

/* Zero counters usually mean "not reported"; a fresh spool report of 0
 * pending (a drained spool) must still be written. */
static void test_agent_spool_drains_to_zero(void **state)
{
    struct fixture *f = *state;
    int64_t a = agent(f->s, "a1");
    uint64_t pending = 99;
    struct store_agent u = {.spool_pending = 7, .spool_dropped = 2, .has_spool = true};
    assert_int_equal(store_agent_update(f->s, a, &u), 0);
    assert_int_equal(store_agents_each(f->s, 0, pending_cb, &pending), 0);
    assert_int_equal(pending, 7);
    struct store_agent quiet = {.last_seen_us = 5};
    assert_int_equal(store_agent_update(f->s, a, &quiet), 0);
    assert_int_equal(store_agents_each(f->s, 0, pending_cb, &pending), 0);
    assert_int_equal(pending, 7);
    struct store_agent drained = {.spool_pending = 0, .spool_dropped = 2, .has_spool = true};
    assert_int_equal(store_agent_update(f->s, a, &drained), 0);
    assert_int_equal(store_agents_each(f->s, 0, pending_cb, &pending), 0);
    assert_int_equal(pending, 0);
}

static int lost_cb(const struct store_agent *a, void *arg)
{
    *(uint64_t *)arg = a->lost;
    return 0;
}

/* Lost results add up within a transaction and vanish with its rollback. */
static void test_agent_lost(void **state)
{
    struct fixture *f = *state;
    int64_t a = agent(f->s, "a1");
    uint64_t lost = 99;
    assert_int_equal(store_agents_each(f->s, 0, lost_cb, &lost), 0);
    assert_int_equal(lost, 0);
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_agent_lost_add(f->s, a, 3), 0);
    assert_int_equal(store_agent_lost_add(f->s, a, 4), 0);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(store_agents_each(f->s, 0, lost_cb, &lost), 0);
    assert_int_equal(lost, 7);
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_agent_lost_add(f->s, a, 5), 0);
    store_rollback(f->s);
    assert_int_equal(store_agents_each(f->s, 0, lost_cb, &lost), 0);
    assert_int_equal(lost, 7);
}

static int counts_cb(const struct store_agent *a, void *arg)
{
    *(struct store_agent_counts *)arg = a->counts;
    return 0;
}

static void assert_counts(struct store *s, int64_t id, uint64_t dup, uint64_t inv, uint64_t cl,
                          uint64_t ref)
{
    struct store_agent_counts c = {99, 99, 99, 99}, g = {99, 99, 99, 99};
    assert_int_equal(store_agents_each(s, 0, counts_cb, &c), 0);
    assert_int_equal(store_agent_get(s, id, counts_cb, &g), 0);
    assert_true(c.duplicates == dup && c.invalid == inv && c.clamped == cl && c.refused == ref);
    assert_memory_equal(&c, &g, sizeof(c));
}

/* An agent's counts start at 0, add up field by field within and across
 * transactions, and vanish with a rollback (exactly-once accounting
 * rides on the batch's transaction). Counts of one agent stay its own. */
static void test_agent_counts(void **state)
{
    struct fixture *f = *state;
    int64_t a = agent(f->s, "a1");
    assert_counts(f->s, a, 0, 0, 0, 0);
    struct store_agent_counts c1 = {.duplicates = 10, .clamped = 3};
    struct store_agent_counts c2 = {.duplicates = 1, .invalid = 2, .refused = 5};
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_agent_counts_add(f->s, a, &c1), 0);
    assert_int_equal(store_agent_counts_add(f->s, a, &c2), 0);
    assert_int_equal(store_commit(f->s), 0);
    assert_counts(f->s, a, 11, 2, 3, 5);
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_agent_counts_add(f->s, a, &c1), 0);
    store_rollback(f->s);
    assert_counts(f->s, a, 11, 2, 3, 5);
    /* A second agent: its counts do not touch a1's. */
    int64_t b = agent(f->s, "b2");
    struct store_agent_counts zero = {0};
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_agent_counts_add(f->s, b, &c2), 0);
    assert_int_equal(store_agent_counts_add(f->s, a, &zero), 0);
    assert_int_equal(store_commit(f->s), 0);
    struct store_agent_counts g = {0};
    assert_int_equal(store_agent_get(f->s, a, counts_cb, &g), 0);
    assert_true(g.duplicates == 11 && g.invalid == 2 && g.clamped == 3 && g.refused == 5);
    assert_int_equal(store_agent_get(f->s, b, counts_cb, &g), 0);
    assert_true(g.duplicates == 1 && g.invalid == 2 && g.clamped == 0 && g.refused == 5);
}

/* Stores one result of a new agent a1 and closes the store, to be
 * reopened as an older schema; returns a1's id. */
static int64_t seed_and_close(struct fixture *f)
{
    int64_t a = agent(f->s, "a1");
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(add(f->s, a, "n", "t", "tcp://x:1", 1, 10, RESULT_OK), 1);
    assert_int_equal(store_agent_lost_add(f->s, a, 2), 0);
    assert_int_equal(store_commit(f->s), 0);
    store_close(&f->s);
    return a;
}

/* After the migration to the per-agent counts: agent a (seed_and_close)
 * and its result kept, its counts at 0, and counting from then on. */
static void assert_counts_migrated(struct fixture *f, int64_t a)
{
    assert_int_equal(agent(f->s, "a1"), a);
    assert_int_equal(committed(f->s, a), 1);
    uint64_t lost = 0;
    assert_int_equal(store_agents_each(f->s, 0, lost_cb, &lost), 0);
    assert_int_equal(lost, 2);
    assert_counts(f->s, a, 0, 0, 0, 0);
    struct store_agent_counts c = {.duplicates = 1, .invalid = 2, .clamped = 3, .refused = 4};
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_agent_counts_add(f->s, a, &c), 0);
    assert_int_equal(store_commit(f->s), 0);
    assert_counts(f->s, a, 1, 2, 3, 4);
}

/* A database of schema 7 (no per-agent counts) is migrated to 8. */
static void test_from_schema_7(void **state)
{
    struct fixture *f = *state;
    int64_t a = seed_and_close(f);
    exec_raw(f->path, "ALTER TABLE agents DROP COLUMN duplicates;"
                      " ALTER TABLE agents DROP COLUMN invalid;"
                      " ALTER TABLE agents DROP COLUMN clamped;"
                      " ALTER TABLE agents DROP COLUMN refused; PRAGMA user_version = 7");
    assert_int_equal(pragma_int(f->path, "SELECT count(*) FROM pragma_table_info('agents')"
                                         " WHERE name = 'refused'"),
                     0);
    char err[STORE_ERR_MAX];
    f->s = store_open(f->path, err, sizeof(err));
    if (f->s == NULL)
        fail_msg("%s", err);
    assert_int_equal(pragma_int(f->path, "PRAGMA user_version"), 8);
    assert_counts_migrated(f, a);
}

static void test_results_and_duplicates(void **state)
{
    struct fixture *f = *state;
    int64_t a = agent(f->s, "a1");
    int64_t b = agent(f->s, "b1");
    assert_int_equal(committed(f->s, a), 0);

    assert_int_equal(store_begin(f->s), 0);
    for (uint64_t seq = 1; seq <= 5; seq++)
        assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", seq, 100 * seq, RESULT_OK), 1);
    /* A duplicate inside the transaction, and the same seq from another
     * agent, which is not one. */
    assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", 3, 300, RESULT_OK), 0);
    assert_int_equal(add(f->s, b, "paris", "corp", "imaps://m", 3, 300, RESULT_OK), 1);
    /* committed_seq moves at commit, not before. */
    assert_int_equal(committed(f->s, a), 0);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(committed(f->s, a), 5);
    assert_int_equal(committed(f->s, b), 3);

    /* A resent batch: every row a duplicate, nothing stored twice. */
    assert_int_equal(store_begin(f->s), 0);
    for (uint64_t seq = 1; seq <= 5; seq++)
        assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", seq, 100 * seq, RESULT_OK), 0);
    assert_int_equal(store_commit(f->s), 0);
    struct rows w;
    assert_int_equal(count_results(f->s, NULL, &w), 6);
    assert_int_equal(committed(f->s, a), 5);

    /* A gap and a late, lower seq: committed_seq is the highest stored. */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", 9, 900, RESULT_OK), 1);
    assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", 7, 700, RESULT_OK), 1);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(committed(f->s, a), 9);
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", 8, 800, RESULT_OK), 1);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(committed(f->s, a), 9);

    /* The stored bytes decode to what was sent, with agent, network, seq. */
    assert_int_equal(count_results(f->s, NULL, &w), 9);
    assert_string_equal(w.agent[0], "a1");
    assert_string_equal(w.network[0], "lyon");
    assert_string_equal(w.target[0], "corp");
    assert_string_equal(w.check[0], "imaps://m");
    assert_string_equal(w.detail[0], "detail 1");
    assert_int_equal(w.seq[0], 1);
    assert_int_equal(w.at[0], 100);
    /* Equal started_at: ordered by agent name. */
    assert_string_equal(w.agent[2], "a1");
    assert_string_equal(w.agent[3], "b1");
    assert_string_equal(w.network[3], "paris");
    assert_int_equal(committed(f->s, b), 3);
    uint64_t seq;
    assert_int_equal(store_agent_committed_seq(f->s, 4242, &seq), -1);
}

static int delivery_result_cb(const struct result *r, void *arg)
{
    struct result *out = arg;
    assert_non_null(r->delivery);
    assert_string_equal(r->delivery->message_id, "<x1@vantage>");
    assert_string_equal(r->delivery->folder, "Junk");
    assert_int_equal(r->delivery->delivery_us, 4200000);
    assert_int_equal(r->error, RESULT_MAIL_IN_JUNK);
    assert_int_equal(r->layer, RESULT_LAYER_DELIVERY);
    assert_int_equal(r->phases_us[RESULT_PHASE_DELIVERY], 4200000);
    out->ok = true;
    return 0;
}

static int delivery_latest_cb(const struct store_latest *l, void *arg)
{
    struct store_latest *out = arg;
    *out = *l;
    out->agent = out->network = out->target = out->check = out->detail = NULL;
    out->address = out->answers = NULL;
    return 0;
}

/* A mailflow result keeps its delivery facts, new error and phases in the
 * record (results --json shows them); the latest state keeps the delivery
 * time (schema 4) and the slowest phase may be a mailflow phase. */
static void test_mailflow_result(void **state)
{
    struct fixture *f = *state;
    int64_t a = agent(f->s, "a1");
    struct result r;
    result_init(&r);
    r.has_seq = true;
    r.seq = 1;
    assert_int_equal(result_set_str(&r.target, "corp"), 0);
    assert_int_equal(result_set_str(&r.check, "mailflow://@corp"), 0);
    r.started_at_us = 100;
    r.error = RESULT_MAIL_IN_JUNK;
    r.layer = result_error_layer(r.error);
    r.phases_us[RESULT_PHASE_SUBMIT] = 300000;
    r.phases_us[RESULT_PHASE_DELIVERY] = 4200000;
    r.phases_us[RESULT_PHASE_FETCH] = 20000;
    r.phases_us[RESULT_PHASE_TOTAL] = 4600000;
    struct result_delivery *d = result_delivery_new(&r);
    assert_non_null(d);
    assert_int_equal(result_set_str(&d->message_id, "<x1@vantage>"), 0);
    assert_int_equal(result_set_str(&d->folder, "Junk"), 0);
    d->submitted_at_us = 1000;
    d->arrived_at_us = 4201000;
    d->delivery_us = 4200000;
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(wire_result_encode(&r, &buf, &len), 0);
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_result_add(f->s, a, "lyon", &r, buf, len), 1);
    assert_int_equal(store_commit(f->s), 0);
    free(buf);
    result_clear(&r);

    struct result seen;
    result_init(&seen);
    assert_int_equal(store_results_each(f->s, NULL, delivery_result_cb, &seen), 0);
    assert_true(seen.ok);
    struct store_latest l = {0};
    assert_int_equal(store_latest_each(f->s, NULL, delivery_latest_cb, &l), 0);
    assert_int_equal(l.delivery_us, 4200000);
    assert_int_equal(l.phase, RESULT_PHASE_DELIVERY);
    assert_int_equal(l.phase_us, 4200000);
    assert_int_equal(l.error, RESULT_MAIL_IN_JUNK);
}

static void test_rollback(void **state)
{
    struct fixture *f = *state;
    int64_t a = agent(f->s, "a1");
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", 1, 100, RESULT_OK), 1);
    assert_int_equal(store_commit(f->s), 0);

    /* The rolled-back transaction interns a new target, network and check,
     * and moves the latest state and committed_seq in memory. */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", 2, 200, RESULT_TCP_TIMEOUT), 1);
    assert_int_equal(add(f->s, a, "mobile", "new", "pop3s://p", 3, 300, RESULT_OK), 1);
    store_rollback(f->s);

    struct rows w;
    assert_int_equal(count_results(f->s, NULL, &w), 1);
    assert_int_equal(committed(f->s, a), 1);
    memset(&w, 0, sizeof(w));
    assert_int_equal(store_latest_each(f->s, NULL, latest_cb, &w), 0);
    assert_int_equal(w.n, 1);
    assert_int_equal(w.seq[0], 1);
    assert_true(w.ok[0]);

    /* The same rows are new again, and the names interned by the lost
     * transaction are interned afresh (a stale cached id would point at
     * no row). An empty transaction commits nothing. */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(add(f->s, a, "mobile", "new", "pop3s://p", 3, 300, RESULT_OK), 1);
    assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", 2, 200, RESULT_TCP_TIMEOUT), 1);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(count_results(f->s, NULL, &w), 3);
    assert_int_equal(committed(f->s, a), 3);
    struct store_result_filter flt = {.target = "new"};
    assert_int_equal(count_results(f->s, &flt, &w), 1);
    assert_string_equal(w.network[0], "mobile");
}

/* The latest state of the only (agent, target, check) there is. */
static void latest_one(struct store *s, struct rows *w)
{
    memset(w, 0, sizeof(*w));
    if (store_latest_each(s, "corp", latest_cb, w) < 0)
        fail_msg("latest_each: %s", store_error(s));
    assert_int_equal(w->n, 1);
}

static void test_latest_streaks(void **state)
{
    struct fixture *f = *state;
    int64_t a = agent(f->s, "a1");
    struct rows w;

    /* ok, ok in one transaction: the streak starts at the first. */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", 1, 100, RESULT_OK), 1);
    assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", 2, 200, RESULT_OK), 1);
    assert_int_equal(store_commit(f->s), 0);
    latest_one(f->s, &w);
    assert_int_equal(w.seq[0], 2);
    assert_int_equal(w.at[0], 200);
    assert_int_equal(w.since[0], 100);
    assert_true(w.ok[0]);

    /* Still ok in the next transaction: since is unchanged. */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", 3, 300, RESULT_OK), 1);
    assert_int_equal(store_commit(f->s), 0);
    latest_one(f->s, &w);
    assert_int_equal(w.since[0], 100);

    /* Flips to failing, stays failing: since is the first failure. */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", 4, 400, RESULT_TCP_TIMEOUT), 1);
    assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", 5, 500, RESULT_TCP_REFUSED), 1);
    assert_int_equal(store_commit(f->s), 0);
    latest_one(f->s, &w);
    assert_false(w.ok[0]);
    assert_int_equal(w.error[0], RESULT_TCP_REFUSED);
    assert_int_equal(w.since[0], 400);
    assert_string_equal(w.detail[0], "detail 5");
    assert_string_equal(w.agent[0], "a1");
    assert_string_equal(w.network[0], "lyon");

    /* fail, ok, fail within one transaction: the last flip counts. */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", 6, 600, RESULT_OK), 1);
    assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", 7, 700, RESULT_TLS_CERT_EXPIRED), 1);
    assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", 8, 800, RESULT_TLS_CERT_EXPIRED), 1);
    assert_int_equal(store_commit(f->s), 0);
    latest_one(f->s, &w);
    assert_int_equal(w.since[0], 700);
    assert_int_equal(w.seq[0], 8);

    /* An older result arriving late and a duplicate change nothing. */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", 1, 100, RESULT_OK), 0);
    assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", 20, 2000, RESULT_OK), 1);
    assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", 15, 1500, RESULT_OK), 1);
    assert_int_equal(store_commit(f->s), 0);
    latest_one(f->s, &w);
    assert_int_equal(w.seq[0], 20);
    assert_int_equal(w.since[0], 2000);
    assert_true(w.ok[0]);
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", 10, 1000, RESULT_TCP_RESET), 1);
    assert_int_equal(store_commit(f->s), 0);
    latest_one(f->s, &w);
    assert_int_equal(w.seq[0], 20);
    assert_true(w.ok[0]);

    /* Other keys are separate states; the target filter selects. */
    int64_t b = agent(f->s, "b1");
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(add(f->s, b, "paris", "corp", "imaps://m", 1, 50, RESULT_DNS_NXDOMAIN), 1);
    assert_int_equal(add(f->s, a, "lyon", "corp", "smtps://m", 30, 3000, RESULT_OK), 1);
    assert_int_equal(add(f->s, a, "lyon", "other", "imaps://m", 31, 3100, RESULT_OK), 1);
    assert_int_equal(store_commit(f->s), 0);
    memset(&w, 0, sizeof(w));
    assert_int_equal(store_latest_each(f->s, "corp", latest_cb, &w), 0);
    assert_int_equal(w.n, 3);
    /* Ordered by target, check, agent. */
    assert_string_equal(w.check[0], "imaps://m");
    assert_string_equal(w.agent[0], "a1");
    assert_string_equal(w.agent[1], "b1");
    assert_int_equal(w.since[1], 50);
    assert_int_equal(w.error[1], RESULT_DNS_NXDOMAIN);
    assert_string_equal(w.check[2], "smtps://m");
    memset(&w, 0, sizeof(w));
    assert_int_equal(store_latest_each(f->s, NULL, latest_cb, &w), 0);
    assert_int_equal(w.n, 4);
    assert_string_equal(w.target[3], "other");
}

/* Episodes: short passing streaks between failures keep the first
 * failure and count the flips; a long one starts a new episode. */
/* Episodes: short passing streaks between failures of the same kind
 * keep the first failure and count the flips; a long one, or another
 * error, starts a new episode. */
static void test_episodes(void **state)
{
    (void)state;
    const int ok = RESULT_OK, tmo = RESULT_TCP_TIMEOUT;
    struct store_streak st = {0};
    store_streak_next(&st, true, ok, 10);
    assert_true(st.had && st.ok && st.since_us == 10 && st.episode_us == 0 && st.n == 1);
    store_streak_next(&st, true, ok, 20);
    assert_int_equal(st.n, 2);
    store_streak_next(&st, false, tmo, 30); /* after 2 passes: no episode yet, so a new one */
    assert_true(st.episode_us == 30 && st.flips == 0 && st.since_us == 30);
    store_streak_next(&st, true, ok, 40);
    assert_true(st.episode_us == 30 && st.flips == 1);
    store_streak_next(&st, false, tmo, 50); /* one pass between: the same episode */
    assert_true(st.episode_us == 30 && st.flips == 2 && st.since_us == 50);
    for (int i = 0; i < STORE_FLAP_GAP_MAX; i++)
        store_streak_next(&st, true, ok, 60 + i);
    store_streak_next(&st, false, tmo, 70); /* a gap of STORE_FLAP_GAP_MAX still flaps */
    assert_true(st.episode_us == 30 && st.flips == 4);
    store_streak_next(&st, true, ok, 75);
    store_streak_next(&st, false, RESULT_TCP_REFUSED, 76); /* another fault: a new episode */
    assert_true(st.episode_us == 76 && st.flips == 0 && st.fail_error == RESULT_TCP_REFUSED);
    for (int i = 0; i <= STORE_FLAP_GAP_MAX; i++)
        store_streak_next(&st, true, ok, 80 + i);
    assert_int_equal(st.n, STORE_FLAP_GAP_MAX + 1);
    store_streak_next(&st, false, RESULT_TCP_REFUSED, 90); /* a recovery, then a new problem */
    assert_true(st.episode_us == 90 && st.flips == 0 && st.since_us == 90);
    /* A first result that fails starts an episode. */
    struct store_streak f = {0};
    store_streak_next(&f, false, tmo, 5);
    assert_true(f.episode_us == 5 && !f.ok);
}

static void test_streak_rule(void **state)
{
    (void)state;
    assert_int_equal(store_streak_since(false, false, 0, true, 70), 70);
    assert_int_equal(store_streak_since(true, true, 10, true, 70), 10);
    assert_int_equal(store_streak_since(true, false, 10, false, 70), 10);
    assert_int_equal(store_streak_since(true, true, 10, false, 70), 70);
    assert_int_equal(store_streak_since(true, false, 10, true, 70), 70);
}

static void test_results_filter(void **state)
{
    struct fixture *f = *state;
    int64_t a = agent(f->s, "a1");
    int64_t b = agent(f->s, "b1");
    assert_int_equal(store_begin(f->s), 0);
    for (uint64_t i = 1; i <= 10; i++) {
        assert_int_equal(
            add(f->s, a, "lyon", i % 2 ? "corp" : "other", "imaps://m", i, 1000 * i, RESULT_OK), 1);
        assert_int_equal(add(f->s, b, "paris", "corp", "imaps://m", i, 1000 * i + 1, RESULT_OK), 1);
    }
    assert_int_equal(store_commit(f->s), 0);
    struct rows w;
    assert_int_equal(count_results(f->s, NULL, &w), 20);

    struct store_result_filter flt = {.target = "corp"};
    assert_int_equal(count_results(f->s, &flt, &w), 15);
    flt = (struct store_result_filter){.agent = "a1"};
    assert_int_equal(count_results(f->s, &flt, &w), 10);
    flt = (struct store_result_filter){.target = "corp", .agent = "a1"};
    assert_int_equal(count_results(f->s, &flt, &w), 5);
    for (size_t i = 0; i < w.n; i++) {
        assert_string_equal(w.agent[i], "a1");
        assert_string_equal(w.target[i], "corp");
    }
    flt = (struct store_result_filter){.since_us = 8000};
    assert_int_equal(count_results(f->s, &flt, &w), 6);
    assert_int_equal(w.at[0], 8000);
    flt = (struct store_result_filter){.agent = "nobody"};
    assert_int_equal(count_results(f->s, &flt, &w), 0);
    flt = (struct store_result_filter){.target = "nothing"};
    assert_int_equal(count_results(f->s, &flt, &w), 0);

    /* limit keeps the newest rows, still printed oldest first. */
    flt = (struct store_result_filter){.limit = 3};
    assert_int_equal(count_results(f->s, &flt, &w), 3);
    assert_int_equal(w.at[0], 9001);
    assert_int_equal(w.at[1], 10000);
    assert_int_equal(w.at[2], 10001);
    flt = (struct store_result_filter){.agent = "b1", .since_us = 2000, .limit = 2};
    assert_int_equal(count_results(f->s, &flt, &w), 2);
    assert_int_equal(w.seq[0], 9);
    assert_int_equal(w.seq[1], 10);

    /* A callback that returns non-zero stops the walk without an error. */
    memset(&w, 0, sizeof(w));
    w.stop_after = 4;
    assert_int_equal(store_results_each(f->s, NULL, result_cb, &w), 0);
    assert_int_equal(w.n, 4);
}

static void test_changes(void **state)
{
    struct fixture *f = *state;
    struct store_change c1 = {.at_us = 100,
                              .target = "corp",
                              .kind = "dns_answer_changed",
                              .subject = "MX example.com",
                              .before = "10 a.",
                              .after = "10 b."};
    struct store_change c2 = {.at_us = 200,
                              .agent = "a1",
                              .kind = "agent_network_changed",
                              .subject = "a1",
                              .before = "lyon",
                              .after = "mobile"};
    struct store_change c3 = {.at_us = 300,
                              .target = "other",
                              .kind = "cert_changed",
                              .subject = "imaps://x",
                              .before = "aa",
                              .after = "bb"};
    struct store_change bad = {.at_us = 1};
    assert_int_equal(store_change_add(f->s, &c1), 0);
    assert_int_equal(store_change_add(f->s, &c2), 0);
    assert_int_equal(store_change_add(f->s, &c3), 0);
    assert_int_equal(store_change_add(f->s, &bad), -1);
    assert_non_null(strstr(store_error(f->s), "kind"));

    struct rows w = {0};
    assert_int_equal(store_changes_each(f->s, "corp", 0, change_cb, &w), 0);
    assert_int_equal(w.n, 2);
    assert_string_equal(w.target[0], "corp");
    assert_string_equal(w.agent[0], "(null)");
    assert_string_equal(w.check[0], "dns_answer_changed");
    assert_string_equal(w.detail[0], "10 b.");
    assert_string_equal(w.agent[1], "a1");
    assert_string_equal(w.target[1], "(null)");
    assert_string_equal(w.detail[1], "mobile");

    memset(&w, 0, sizeof(w));
    assert_int_equal(store_changes_each(f->s, NULL, 0, change_cb, &w), 0);
    assert_int_equal(w.n, 3);
    memset(&w, 0, sizeof(w));
    assert_int_equal(store_changes_each(f->s, NULL, 150, change_cb, &w), 0);
    assert_int_equal(w.n, 2);
    assert_int_equal(w.at[0], 200);
    memset(&w, 0, sizeof(w));
    assert_int_equal(store_changes_each(f->s, "other", 250, change_cb, &w), 0);
    assert_int_equal(w.n, 1);
    assert_string_equal(w.check[0], "cert_changed");

    /* The agent named by a change is the agent of its results. */
    assert_int_equal(agent(f->s, "a1"), agent(f->s, "a1"));
    memset(&w, 0, sizeof(w));
    assert_int_equal(store_agents_each(f->s, 0, agent_cb, &w), 0);
    assert_int_equal(w.n, 1);
}

static void test_error_paths(void **state)
{
    struct fixture *f = *state;
    char err[STORE_ERR_MAX], loc[160];

    assert_null(store_open("/nonexistent-vantage-dir/sub/v.db", err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent-vantage-dir/sub/v.db"));
    assert_non_null(strstr(err, "No such file or directory"));
    assert_non_null(strstr(err, "directory exists"));

    /* A directory where the file should be, and a file where a directory
     * should be. */
    assert_null(store_open(f->dir, err, sizeof(err)));
    assert_non_null(strstr(err, f->dir));
    snprintf(loc, sizeof(loc), "%s/sub/x.db", f->path);
    assert_null(store_open(loc, err, sizeof(err)));
    assert_non_null(strstr(err, "Not a directory"));

    /* A file that is not a database. */
    snprintf(loc, sizeof(loc), "%s/junk.db", f->dir);
    FILE *fp = fopen(loc, "w");
    assert_non_null(fp);
    fputs("this is not an sqlite database, it is text long enough to be a header", fp);
    fclose(fp);
    assert_null(store_open(loc, err, sizeof(err)));
    assert_non_null(strstr(err, loc));

    assert_null(store_open("mysql://u:secret@db.example/vantage", err, sizeof(err)));
    assert_non_null(strstr(err, "unknown backend \"mysql\""));
    assert_null(strstr(err, "secret"));
    assert_null(store_open("", err, sizeof(err)));
    assert_non_null(strstr(err, "database ="));
    assert_null(store_open("sqlite:", err, sizeof(err)));
    assert_non_null(strstr(err, "names no file"));

    /* Misuse of transactions is refused with a reason. */
    int64_t a = agent(f->s, "a1");
    assert_int_equal(add(f->s, a, "n", "t", "tcp://x:1", 1, 10, RESULT_OK), -1);
    assert_non_null(strstr(store_error(f->s), "outside a transaction"));
    assert_int_equal(store_commit(f->s), -1);
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_begin(f->s), -1);
    assert_non_null(strstr(store_error(f->s), "inside a transaction"));
    /* An unknown agent id is an error, not a row. */
    assert_int_equal(add(f->s, 777, "n", "t", "tcp://x:1", 1, 10, RESULT_OK), -1);
    assert_non_null(strstr(store_error(f->s), "no agent with id 777"));
    assert_int_equal(add(f->s, a, "n", "t", "tcp://x:1", 1, 10, RESULT_OK), 1);
    store_rollback(f->s);
    struct rows w;
    assert_int_equal(count_results(f->s, NULL, &w), 0);
}

/* Two stores on one file, as the daemon and a CLI reader run: the reader
 * sees committed rows only, and nothing blocks. */
static void test_two_connections(void **state)
{
    struct fixture *f = *state;
    char err[STORE_ERR_MAX];
    struct store *r = store_open(f->loc, err, sizeof(err));
    assert_non_null(r);
    int64_t a = agent(f->s, "a1");
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(add(f->s, a, "n", "corp", "tcp://x:1", 1, 10, RESULT_OK), 1);
    struct rows w;
    assert_int_equal(count_results(r, NULL, &w), 0);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(count_results(r, NULL, &w), 1);
    int64_t ra = agent(r, "a1");
    assert_int_equal(ra, a);
    assert_int_equal(committed(r, ra), 1);
    store_close(&r);
}

/* ---- PostgreSQL only ---- */

/* pg_int of sql with every "@" replaced by the test's schema. */
static long long in_schema(struct fixture *f, const char *sql)
{
    return pg_int_in(f->pg, f->dir, sql);
}

static void test_pg_open_migrate_reopen(void **state)
{
    struct fixture *f = *state;
    int64_t a = agent(f->s, "a1");
    store_close(&f->s);
    assert_int_equal(in_schema(f, "SELECT version FROM @.vantage_schema"), STORE_PG_SCHEMA_VERSION);
    /* results is partitioned, with a default partition and today's. */
    assert_int_equal(in_schema(f, "SELECT count(*) FROM pg_partitioned_table p JOIN pg_class c"
                                  " ON c.oid = p.partrelid JOIN pg_namespace n ON n.oid ="
                                  " c.relnamespace WHERE n.nspname = '@' AND c.relname ="
                                  " 'results'"),
                     1);
    long long parts = in_schema(f, "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid ="
                                   " i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
                                   " WHERE n.nspname = '@' AND c.relname LIKE 'results_%'");
    assert_true(parts >= 2);

    /* Reopening keeps the data and migrates nothing; postgres:// is the
     * same backend. */
    char loc[600], err[STORE_ERR_MAX];
    assert_int_equal(strncmp(f->loc, "postgresql:", 11), 0);
    snprintf(loc, sizeof(loc), "postgres:%s", f->loc + 11);
    f->s = store_open(loc, err, sizeof(err));
    if (f->s == NULL)
        fail_msg("reopen: %s", err);
    assert_int_equal(agent(f->s, "a1"), a);
    store_close(&f->s);

    /* A schema from a newer collector is refused and left as it is. */
    char sql[200];
    snprintf(sql, sizeof(sql), "UPDATE %s.vantage_schema SET version = 99", f->dir);
    pg_admin(f->pg, sql);
    long long tables = in_schema(f, "SELECT count(*) FROM pg_tables WHERE schemaname = '@'");
    f->s = store_open(f->loc, err, sizeof(err));
    assert_null(f->s);
    assert_non_null(strstr(err, "newer"));
    assert_non_null(strstr(err, "99"));
    assert_non_null(strstr(err, "nothing was changed"));
    assert_int_equal(in_schema(f, "SELECT version FROM @.vantage_schema"), 99);
    assert_int_equal(in_schema(f, "SELECT count(*) FROM pg_tables WHERE schemaname = '@'"), tables);
    snprintf(sql, sizeof(sql), "UPDATE %s.vantage_schema SET version = %d", f->dir,
             STORE_PG_SCHEMA_VERSION);
    pg_admin(f->pg, sql);
    f->s = store_open(f->loc, err, sizeof(err));
    assert_non_null(f->s);
}

/* A schema of version 3 (no per-agent counts) is migrated to 4. */
static void test_pg_from_schema_3(void **state)
{
    struct fixture *f = *state;
    int64_t a = seed_and_close(f);
    char sql[300];
    snprintf(sql, sizeof(sql),
             "ALTER TABLE %s.agents DROP COLUMN duplicates, DROP COLUMN invalid,"
             " DROP COLUMN clamped, DROP COLUMN refused",
             f->dir);
    pg_admin(f->pg, sql);
    snprintf(sql, sizeof(sql), "UPDATE %s.vantage_schema SET version = 3", f->dir);
    pg_admin(f->pg, sql);
    assert_int_equal(in_schema(f, "SELECT count(*) FROM information_schema.columns WHERE"
                                  " table_schema = '@' AND table_name = 'agents' AND"
                                  " column_name = 'refused'"),
                     0);
    char err[STORE_ERR_MAX];
    f->s = store_open(f->loc, err, sizeof(err));
    if (f->s == NULL)
        fail_msg("%s", err);
    assert_int_equal(in_schema(f, "SELECT version FROM @.vantage_schema"), 4);
    assert_counts_migrated(f, a);
}

/* A result whose day has no partition (a skewed clock) lands in the
 * default partition; creating that day's partition later moves it, and
 * it stays a duplicate: exactly once does not depend on partitions. */
static void test_pg_partitions(void **state)
{
    struct fixture *f = *state;
    int64_t a = agent(f->s, "a1");
    const int64_t old = 86400000000LL * 3 + 5; /* 1970-01-04 */
    int64_t now = (int64_t)time(NULL) * 1000000;
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(add(f->s, a, "n", "corp", "tcp://x:1", 1, old, RESULT_OK), 1);
    assert_int_equal(add(f->s, a, "n", "corp", "tcp://x:1", 2, now, RESULT_OK), 1);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(in_schema(f, "SELECT count(*) FROM @.results_default"), 1);
    assert_int_equal(in_schema(f, "SELECT count(*) FROM @.results"), 2);

    const struct store_ops *ops;
    void *b = store_backend(f->s, &ops);
    assert_ptr_equal(ops, &store_pg_ops);
    char err[STORE_ERR_MAX];
    if (store_pg_partition_ensure(b, old, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    /* Twice is harmless. */
    assert_int_equal(store_pg_partition_ensure(b, old + 1000, err, sizeof(err)), 0);
    assert_int_equal(in_schema(f, "SELECT count(*) FROM @.results_default"), 0);
    assert_int_equal(in_schema(f, "SELECT count(*) FROM @.results_19700104"), 1);

    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(add(f->s, a, "n", "corp", "tcp://x:1", 1, old, RESULT_OK), 0);
    assert_int_equal(add(f->s, a, "n", "corp", "tcp://x:1", 1, now, RESULT_OK), 0);
    assert_int_equal(add(f->s, a, "n", "corp", "tcp://x:1", 3, old + 7, RESULT_OK), 1);
    assert_int_equal(store_commit(f->s), 0);
    struct rows w;
    assert_int_equal(count_results(f->s, NULL, &w), 3);
    assert_int_equal(w.seq[0], 1);
    assert_int_equal(w.seq[1], 3);
    assert_int_equal(w.seq[2], 2);
    assert_int_equal(in_schema(f, "SELECT count(*) FROM @.results_19700104"), 2);
}

/* Two collectors on one database: what one committed is a duplicate for
 * the other, and each agent's committed seq is the highest of both. */
static void test_pg_two_collectors(void **state)
{
    struct fixture *f = *state;
    char err[STORE_ERR_MAX];
    struct store *other = store_open(f->loc, err, sizeof(err));
    if (other == NULL)
        fail_msg("%s", err);
    int64_t a = agent(f->s, "a1");
    assert_int_equal(agent(other, "a1"), a);
    assert_int_equal(store_begin(f->s), 0);
    for (uint64_t seq = 1; seq <= 5; seq++)
        assert_int_equal(add(f->s, a, "n", "corp", "imaps://m", seq, 100 * seq, RESULT_OK), 1);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(store_begin(other), 0);
    for (uint64_t seq = 3; seq <= 7; seq++)
        assert_int_equal(add(other, a, "n", "corp", "imaps://m", seq, 100 * seq, RESULT_OK),
                         seq > 5);
    assert_int_equal(store_commit(other), 0);
    assert_int_equal(committed(f->s, a), 7);
    struct rows w;
    assert_int_equal(count_results(f->s, NULL, &w), 7);
    for (size_t i = 0; i < w.n; i++)
        assert_int_equal(w.seq[i], i + 1);
    memset(&w, 0, sizeof(w));
    assert_int_equal(store_latest_each(other, NULL, latest_cb, &w), 0);
    assert_int_equal(w.n, 1);
    assert_int_equal(w.seq[0], 7);
    assert_int_equal(w.since[0], 100);
    store_close(&other);
}

static void test_pg_error_paths(void **state)
{
    struct fixture *f = *state;
    char err[STORE_ERR_MAX], loc[700];

    /* No server there: the socket is named, and what to check. */
    assert_null(store_open("postgresql:///vantage?host=/nonexistent-vantage-pg&user=v"
                           "&password=hunter2secret",
                           err, sizeof(err)));
    assert_non_null(strstr(err, "cannot connect"));
    assert_non_null(strstr(err, "/nonexistent-vantage-pg"));
    assert_non_null(strstr(err, "check that PostgreSQL runs"));
    assert_null(strstr(err, "hunter2secret"));

    /* Not a location libpq can read. */
    assert_null(store_open("postgresql:nonsense", err, sizeof(err)));
    assert_non_null(strstr(err, "not a valid PostgreSQL location"));

    /* A wrong password: the role is named, the password never. */
    pg_admin(f->pg, "DO $$ BEGIN IF to_regrole('pwauth') IS NULL THEN CREATE ROLE pwauth;"
                    " CREATE ROLE pwuser LOGIN PASSWORD 'right-one' IN ROLE pwauth; END IF;"
                    " END $$");
    snprintf(loc, sizeof(loc), "postgresql://pwuser:hunter2secret@/postgres?host=%s", f->pg->dir);
    assert_null(store_open(loc, err, sizeof(err)));
    assert_non_null(strstr(err, "password authentication failed"));
    assert_non_null(strstr(err, "pwuser"));
    assert_non_null(strstr(err, "check the user and password"));
    assert_null(strstr(err, "hunter2secret"));

    /* A role without privileges: named, with the statement to run. */
    pg_admin(f->pg, "DO $$ BEGIN IF to_regrole('nopriv') IS NULL THEN CREATE ROLE nopriv LOGIN;"
                    " END IF; END $$");
    snprintf(loc, sizeof(loc), "postgresql:host=%s user=nopriv dbname=postgres", f->pg->dir);
    assert_null(store_open(loc, err, sizeof(err)));
    assert_non_null(strstr(err, "role \"nopriv\" lacks a privilege"));
    assert_non_null(strstr(err, "ALTER DATABASE \"postgres\" OWNER TO \"nopriv\""));

    /* Somebody else's tables: refused, not written into. */
    char sql[200];
    snprintf(sql, sizeof(sql), "CREATE SCHEMA %sx; CREATE TABLE %sx.theirs (x int)", f->dir,
             f->dir);
    pg_admin(f->pg, sql);
    snprintf(loc, sizeof(loc),
             "postgresql:///postgres?host=%s&user=vantage_admin&options=-csearch_path%%3D%sx",
             f->pg->dir, f->dir);
    assert_null(store_open(loc, err, sizeof(err)));
    assert_non_null(strstr(err, "not a Vantage database"));
    snprintf(sql, sizeof(sql), "DROP SCHEMA %sx CASCADE", f->dir);
    pg_admin(f->pg, sql);

    /* Misuse of transactions is refused with a reason, as on sqlite. */
    int64_t a = agent(f->s, "a1");
    assert_int_equal(add(f->s, a, "n", "t", "tcp://x:1", 1, 10, RESULT_OK), -1);
    assert_non_null(strstr(store_error(f->s), "outside a transaction"));
    assert_int_equal(store_commit(f->s), -1);
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_begin(f->s), -1);
    assert_int_equal(add(f->s, 777, "n", "t", "tcp://x:1", 1, 10, RESULT_OK), -1);
    assert_non_null(strstr(store_error(f->s), "no agent with id 777"));
    assert_int_equal(add(f->s, a, "n", "t", "tcp://x:1", 1, 10, RESULT_OK), 1);
    store_rollback(f->s);
    struct rows w;
    assert_int_equal(count_results(f->s, NULL, &w), 0);
}

/* What serve logs and errors print of a location never holds a password. */
static void test_location_redact(void **state)
{
    (void)state;
    char out[256];
    store_location_redact("postgresql://vantage:s3cret@db.example:5433/v?sslmode=require", out,
                          sizeof(out));
    assert_string_equal(out, "postgresql://vantage:***@db.example:5433/v?sslmode=require");
    store_location_redact("postgresql:host=db password=s3cret dbname=v", out, sizeof(out));
    assert_string_equal(out, "postgresql:host=db password=*** dbname=v");
    store_location_redact("postgres:///v?host=/run/pg&password=s3cret&user=u", out, sizeof(out));
    assert_string_equal(out, "postgres:///v?host=/run/pg&password=***&user=u");
    store_location_redact("/var/lib/vantage/vantage.db", out, sizeof(out));
    assert_string_equal(out, "/var/lib/vantage/vantage.db");
    store_location_redact("postgresql://u:s3cret@h/db", out, 12);
    assert_null(strstr(out, "s3cret"));
    assert_int_equal(strlen(out), 11);
}

/* The contract's tests, run on each backend. */
#define CONTRACT_TESTS(SETUP, TEARDOWN)                                                            \
    cmocka_unit_test_setup_teardown(test_agent_ids_and_update, SETUP, TEARDOWN),                   \
        cmocka_unit_test_setup_teardown(test_agent_spool_drains_to_zero, SETUP, TEARDOWN),         \
        cmocka_unit_test_setup_teardown(test_agent_lost, SETUP, TEARDOWN),                         \
        cmocka_unit_test_setup_teardown(test_agent_counts, SETUP, TEARDOWN),                       \
        cmocka_unit_test_setup_teardown(test_results_and_duplicates, SETUP, TEARDOWN),             \
        cmocka_unit_test_setup_teardown(test_rollback, SETUP, TEARDOWN),                           \
        cmocka_unit_test_setup_teardown(test_mailflow_result, SETUP, TEARDOWN),                    \
        cmocka_unit_test_setup_teardown(test_latest_streaks, SETUP, TEARDOWN),                     \
        cmocka_unit_test_setup_teardown(test_results_filter, SETUP, TEARDOWN),                     \
        cmocka_unit_test_setup_teardown(test_changes, SETUP, TEARDOWN),                            \
        cmocka_unit_test_setup_teardown(test_two_connections, SETUP, TEARDOWN)

int main(void)
{
    const struct CMUnitTest sqlite_tests[] = {
        CONTRACT_TESTS(setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_migrate_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fresh_file_is_migrated_from_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_from_schema_7, setup, teardown),
        cmocka_unit_test(test_streak_rule),
        cmocka_unit_test(test_episodes),
        cmocka_unit_test(test_location_redact),
        cmocka_unit_test_setup_teardown(test_error_paths, setup, teardown),
    };
    const struct CMUnitTest pg_tests[] = {
        CONTRACT_TESTS(pg_setup, pg_teardown),
        cmocka_unit_test_setup_teardown(test_pg_open_migrate_reopen, pg_setup, pg_teardown),
        cmocka_unit_test_setup_teardown(test_pg_partitions, pg_setup, pg_teardown),
        cmocka_unit_test_setup_teardown(test_pg_from_schema_3, pg_setup, pg_teardown),
        cmocka_unit_test_setup_teardown(test_pg_two_collectors, pg_setup, pg_teardown),
        cmocka_unit_test_setup_teardown(test_pg_error_paths, pg_setup, pg_teardown),
    };
    int failed = cmocka_run_group_tests_name("sqlite", sqlite_tests, NULL, NULL);
    failed +=
        cmocka_run_group_tests_name("postgresql", pg_tests, pg_group_setup, pg_group_teardown);
    return failed;
}
