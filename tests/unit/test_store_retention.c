/*
 * Unit tests of the store's retention operations (store.h "retention")
 * on both backends, against a real sqlite file and a real PostgreSQL 15
 * (tests/servers/pg-up, a schema per test): every result counted once in
 * its hour (in chunks, late, after its hour was rolled up, from before
 * the schema had rollups), and pruning that removes only what is counted
 * (sqlite: rows; PostgreSQL: whole day partitions). The PostgreSQL group
 * skips, saying why, where no server can be started.
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
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <pthread.h>

#include "store.h"
#include "wire.h"

#include "pgtest.h"

#define H  ROLLUP_HOUR_US
#define T0 (1796000000LL * 1000000 / H * H) /* an hour in 2026 */

struct fixture {
    char dir[64];
    char path[128];
    struct pg_server *pg; /* NULL: sqlite */
    struct store *s;
    int64_t agent;
    uint64_t seq;
    char loc[600]; /* PostgreSQL: the store's location, for a second one */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/vantage-test-retention-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/v.db", f->dir);
    char err[STORE_ERR_MAX];
    f->s = store_open(f->path, err, sizeof(err));
    if (f->s == NULL)
        fail_msg("store_open: %s", err);
    assert_int_equal(store_agent_id(f->s, "a1", &f->agent), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(&f->s);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* ---- PostgreSQL ---- */

static int pg_setup(void **state)
{
    struct pg_server *g = *state;
    pg_require(g);
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->pg = g;
    char err[STORE_ERR_MAX];
    pg_schema(g, 'r', f->dir, sizeof(f->dir), f->loc, sizeof(f->loc));
    f->s = store_open(f->loc, err, sizeof(err));
    if (f->s == NULL)
        fail_msg("store_open: %s", err);
    assert_int_equal(store_agent_id(f->s, "a1", &f->agent), 0);
    *state = f;
    return 0;
}

static int pg_teardown(void **state)
{
    struct fixture *f = *state;
    store_close(&f->s);
    *state = f->pg;
    free(f);
    return 0;
}

/* Stores result seq of agent, target corp, in its own transaction. */
static void add_as(struct store *s, int64_t agent, uint64_t seq, const char *network,
                   const char *check, int64_t at, enum result_error error, uint64_t total_us)
{
    struct result r;
    result_init(&r);
    r.has_seq = true;
    r.seq = seq;
    assert_int_equal(result_set_str(&r.target, "corp"), 0);
    assert_int_equal(result_set_str(&r.check, check), 0);
    r.started_at_us = at;
    r.ok = error == RESULT_OK;
    r.error = error;
    r.layer = result_error_layer(error);
    r.phases_us[RESULT_PHASE_TOTAL] = total_us;
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(wire_result_encode(&r, &buf, &len), 0);
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_result_add(s, agent, network, &r, buf, len), 1);
    assert_int_equal(store_commit(s), 0);
    free(buf);
    result_clear(&r);
}

static void add(struct fixture *f, const char *network, const char *check, int64_t at,
                enum result_error error, uint64_t total_us)
{
    add_as(f->s, f->agent, ++f->seq, network, check, at, error, total_us);
}

#define HOURS_MAX 32

struct hours {
    size_t n;
    char network[HOURS_MAX][16];
    char check[HOURS_MAX][32];
    int64_t hour[HOURS_MAX];
    struct rollup r[HOURS_MAX];
};

static int hour_cb(const struct store_rollup *r, void *arg)
{
    struct hours *h = arg;
    assert_true(h->n < HOURS_MAX);
    assert_string_equal(r->target, "corp");
    snprintf(h->network[h->n], sizeof(h->network[0]), "%s", r->network ? r->network : "-");
    snprintf(h->check[h->n], sizeof(h->check[0]), "%s", r->check);
    h->hour[h->n] = r->hour_us;
    h->r[h->n] = r->r;
    h->n++;
    return 0;
}

static size_t hours(struct store *s, const struct store_rollup_filter *flt, struct hours *h)
{
    memset(h, 0, sizeof(*h));
    struct store_rollup_filter all = {.target = "corp"};
    if (store_rollups_each(s, flt ? flt : &all, hour_cb, h) < 0)
        fail_msg("rollups_each: %s", store_error(s));
    return h->n;
}

/* Rolls up everything, chunk by chunk; returns how many results. */
static uint64_t roll_all(struct store *s, size_t chunk)
{
    uint64_t total = 0, n;
    do {
        if (store_rollup(s, chunk, &n) < 0)
            fail_msg("rollup: %s", store_error(s));
        total += n;
    } while (n == chunk);
    return total;
}

static int count_cb(const struct result *r, void *arg)
{
    (void)r;
    (*(size_t *)arg)++;
    return 0;
}

static size_t raw(struct store *s)
{
    size_t n = 0;
    struct store_result_filter all = {0};
    if (store_results_each(s, &all, count_cb, &n) < 0)
        fail_msg("results_each: %s", store_error(s));
    return n;
}

static void test_rollup_exact(void **state)
{
    struct fixture *f = *state;
    /* Hour 0: lyon imaps 3 results (1 failure), paris imaps 1; hour 1:
     * lyon imaps 2; hour 0 again, lyon smtp 1. */
    add(f, "lyon", "imaps://m", T0 + 10, RESULT_OK, 100);
    add(f, "lyon", "imaps://m", T0 + 20, RESULT_TCP_TIMEOUT, 9000);
    add(f, "paris", "imaps://m", T0 + 30, RESULT_OK, 50);
    add(f, "lyon", "imaps://m", T0 + H + 1, RESULT_OK, 10);
    add(f, "lyon", "imaps://m", T0 + 40, RESULT_OK, 200);
    add(f, "lyon", "smtp://m", T0 + 50, RESULT_OK, 70);
    add(f, "lyon", "imaps://m", T0 + 2 * H - 1, RESULT_OK, 30);
    assert_int_equal(roll_all(f->s, 2), 7); /* four chunks: 2, 2, 2, 1 */
    uint64_t n = 99;
    assert_int_equal(store_rollup(f->s, 100, &n), 0);
    assert_int_equal(n, 0); /* nothing is counted twice */
    struct hours h;
    assert_int_equal(hours(f->s, NULL, &h), 4);
    /* (hour, network, check) order */
    assert_true(h.hour[0] == T0);
    assert_string_equal(h.network[0], "lyon");
    assert_string_equal(h.check[0], "imaps://m");
    assert_true(h.r[0].n == 3 && h.r[0].ok == 2);
    assert_true(h.r[0].total_us_sum == 9300 && h.r[0].total_us_max == 9000);
    assert_true(h.r[0].first_fail_us == T0 + 20);
    assert_int_equal(h.r[0].fail_error, RESULT_TCP_TIMEOUT);
    assert_string_equal(h.check[1], "smtp://m");
    assert_true(h.r[1].n == 1);
    assert_string_equal(h.network[2], "paris");
    assert_true(h.hour[3] == T0 + H && h.r[3].n == 2 && h.r[3].ok == 2);

    /* A late result (spooled, or a wrong clock) for an hour rolled up
     * already: added to that hour, once. Its failure is earlier. */
    add(f, "lyon", "imaps://m", T0 + 5, RESULT_DNS_SERVFAIL, 400);
    add(f, "lyon", "imaps://m", T0 + 6, RESULT_OK, 1);
    assert_int_equal(roll_all(f->s, 1000), 2);
    struct store_rollup_filter one = {.target = "corp", .network = "lyon", .check = "imaps://m"};
    assert_int_equal(hours(f->s, &one, &h), 2);
    assert_true(h.r[0].n == 5 && h.r[0].ok == 3);
    assert_true(h.r[0].total_us_sum == 9701);
    assert_true(h.r[0].first_fail_us == T0 + 5);
    assert_int_equal(h.r[0].fail_error, RESULT_DNS_SERVFAIL);

    /* since and before select by the hour's span. */
    struct store_rollup_filter late = {.target = "corp", .since_us = T0 + H + 5};
    assert_int_equal(hours(f->s, &late, &h), 1);
    struct store_rollup_filter early = {.target = "corp", .before_us = T0 + H};
    assert_int_equal(hours(f->s, &early, &h), 3);
    struct store_rollup_filter none = {.target = "other"};
    assert_int_equal(hours(f->s, &none, &h), 0);
}

static void test_prune(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < 5; i++)
        add(f, "lyon", "imaps://m", T0 + i, RESULT_OK, 10);
    add(f, "lyon", "imaps://m", T0 + 3 * H, RESULT_OK, 10);
    assert_int_equal(roll_all(f->s, 100), 6);
    /* Not yet rolled up: stays whatever its age. */
    add(f, "lyon", "imaps://m", T0 + 7, RESULT_TCP_REFUSED, 10);
    struct store_pruned p;
    assert_int_equal(store_prune(f->s, T0 + H, 0, 2, &p), 0);
    assert_true(p.results == 2 && p.rollups == 0); /* bounded chunk */
    assert_int_equal(store_prune(f->s, T0 + H, 0, 100, &p), 0);
    assert_true(p.results == 3);
    assert_int_equal(raw(f->s), 2);
    assert_int_equal(roll_all(f->s, 100), 1);
    struct hours h;
    assert_int_equal(hours(f->s, NULL, &h), 2);
    assert_true(h.r[0].n == 6 && h.r[0].ok == 5); /* the pruned 5 and the late one */
    /* Everything rolled up and old: all goes but the newest row, whose id
     * must stay so that ids are never reused below the rolled-up mark. */
    assert_int_equal(store_prune(f->s, T0 + 10 * H, 0, 100, &p), 0);
    assert_true(p.results == 1);
    assert_int_equal(raw(f->s), 1);
    add(f, "lyon", "imaps://m", T0 + 8, RESULT_OK, 10);
    assert_int_equal(roll_all(f->s, 100), 1);
    assert_int_equal(hours(f->s, NULL, &h), 2);
    assert_true(h.r[0].n == 7);
    /* The latest result of a key stays however old: compare and diagnose
     * read its facts (an rdap:// check runs every 6 h). */
    add(f, "lyon", "rdap://example.com", T0 + 9, RESULT_OK, 10);
    add(f, "lyon", "imaps://m", T0 + 3 * H + 1, RESULT_OK, 10);
    assert_int_equal(roll_all(f->s, 100), 2);
    assert_int_equal(store_prune(f->s, T0 + 10 * H, 0, 100, &p), 0);
    assert_true(p.results == 2); /* two older imaps rows; not the rdap one */
    assert_int_equal(raw(f->s), 2);
    /* Aggregates older than their own horizon. */
    assert_int_equal(store_prune(f->s, 0, T0 + H, 100, &p), 0);
    assert_true(p.results == 0 && p.rollups == 2);
    assert_int_equal(hours(f->s, NULL, &h), 1);
    assert_true(h.hour[0] == T0 + 3 * H);
    assert_true(h.r[0].n == 2);
}

/* A database of schema 5 (results, no rollups) rolls up what it had. */
static void test_from_schema_5(void **state)
{
    struct fixture *f = *state;
    add(f, "lyon", "imaps://m", T0, RESULT_OK, 10);
    add(f, "lyon", "imaps://m", T0 + 1, RESULT_OK, 10);
    store_close(&f->s);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "DROP TABLE rollups; DROP TABLE rollup_state; DROP INDEX latest_agent_seq;"
                     " DROP TABLE collectors; DROP TABLE leases; DROP TABLE probe_requests;"
                     " DROP TABLE probe_answers; ALTER TABLE agents DROP COLUMN duplicates;"
                     " ALTER TABLE agents DROP COLUMN invalid; ALTER TABLE agents DROP COLUMN"
                     " clamped; ALTER TABLE agents DROP COLUMN refused; PRAGMA user_version = 5",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    char err[STORE_ERR_MAX];
    f->s = store_open(f->path, err, sizeof(err));
    assert_non_null(f->s);
    assert_int_equal(roll_all(f->s, 100), 2);
    struct hours h;
    assert_int_equal(hours(f->s, NULL, &h), 1);
    assert_true(h.r[0].n == 2);
}

static void test_not_inside_ingest(void **state)
{
    struct fixture *f = *state;
    uint64_t n;
    struct store_pruned p;
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_rollup(f->s, 10, &n), -1);
    assert_non_null(strstr(store_error(f->s), "inside a transaction"));
    assert_int_equal(store_prune(f->s, T0, 0, 10, &p), -1);
    store_rollback(f->s);
    struct store_rollup_filter none = {0};
    assert_int_equal(store_rollups_each(f->s, &none, hour_cb, NULL), -1);
}

/* PostgreSQL drops a day partition once every row in it is rolled up,
 * and deletes rolled-up rows a skewed clock put in the default
 * partition. */
static void test_pg_prune(void **state)
{
    struct fixture *f = *state;
    /* A day partition for T0's day, as ingest would have made it. */
    int64_t lo = T0 / (86400LL * 1000000) * 86400LL * 1000000, hi = lo + 86400LL * 1000000;
    time_t t = (time_t)(lo / 1000000);
    struct tm tm;
    assert_non_null(gmtime_r(&t, &tm));
    char part[48], sql[400];
    snprintf(part, sizeof(part), "results_%04d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday);
    snprintf(sql, sizeof(sql),
             "CREATE TABLE %s.%s PARTITION OF %s.results FOR VALUES FROM (%lld) TO (%lld)", f->dir,
             part, f->dir, (long long)lo, (long long)hi);
    pg_admin(f->pg, sql);
    for (int i = 0; i < 5; i++)
        add(f, "lyon", "imaps://m", T0 + i, RESULT_OK, 10);
    add(f, "lyon", "imaps://m", lo - 3 * 86400LL * 1000000, RESULT_OK, 10); /* default */
    add(f, "lyon", "imaps://m", lo - 3 * 86400LL * 1000000 + 1, RESULT_OK, 10);
    assert_int_equal(roll_all(f->s, 3), 7);
    add(f, "lyon", "imaps://m", T0 + 7, RESULT_TCP_REFUSED, 10); /* not rolled up yet */
    struct store_pruned p;
    assert_int_equal(store_prune(f->s, hi + H, 0, 100, &p), 0);
    assert_true(p.results == 2); /* the default partition's rows; the day waits */
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
             " WHERE n.nspname = '%s' AND c.relname = '%s'",
             f->dir, part);
    assert_int_equal(pg_int(f->pg, sql), 1);
    assert_int_equal(roll_all(f->s, 100), 1);
    assert_int_equal(store_prune(f->s, hi + H, 0, 100, &p), 0);
    assert_true(p.results == 6); /* the whole day, dropped */
    assert_int_equal(pg_int(f->pg, sql), 0);
    assert_int_equal(raw(f->s), 0);
    struct hours h;
    assert_int_equal(hours(f->s, NULL, &h), 2);
    assert_true(h.r[0].n == 2 && h.r[1].n == 6 && h.r[1].ok == 5);
    assert_true(h.r[1].first_fail_us == T0 + 7);
    assert_int_equal(store_prune(f->s, 0, T0, 100, &p), 0);
    assert_true(p.results == 0 && p.rollups == 1);
    assert_int_equal(hours(f->s, NULL, &h), 1);
}

/* Two collectors rolling up at once (PostgreSQL): they lock different
 * agents, but agents 2k and 2k+1 share hours no aggregate has yet, so
 * both add to the same new hour at the same time. Each hour must count
 * every result once: the second to add waits for the first and merges
 * into its counts. (Before rollups inserted the hour empty and locked
 * it, both found no row and the second's insert overwrote the first's
 * counts.) */
#define RACE_AGENTS 40
#define RACE_PER    5

struct racer {
    const char *loc;
    pthread_barrier_t *bar;
    uint64_t rolled;
    char err[STORE_ERR_MAX];
};

static void *race_rollup(void *arg)
{
    struct racer *r = arg;
    struct store *s = store_open(r->loc, r->err, sizeof(r->err));
    pthread_barrier_wait(r->bar);
    if (s == NULL)
        return NULL;
    uint64_t n;
    do {
        if (store_rollup(s, RACE_PER, &n) < 0) {
            snprintf(r->err, sizeof(r->err), "%s", store_error(s));
            break;
        }
        r->rolled += n;
    } while (n > 0);
    store_close(&s);
    return NULL;
}

static void test_pg_rollup_race(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < RACE_AGENTS; i++) {
        char name[16];
        int64_t id;
        snprintf(name, sizeof(name), "race%02d", i);
        assert_int_equal(store_agent_id(f->s, name, &id), 0);
        for (int j = 0; j < RACE_PER; j++)
            add_as(f->s, id, (uint64_t)j + 1, "lyon", "imaps://m", T0 + (i / 2) * H + j,
                   j == 2 ? RESULT_TCP_TIMEOUT : RESULT_OK, 10);
    }
    pthread_barrier_t bar;
    assert_int_equal(pthread_barrier_init(&bar, NULL, 2), 0);
    struct racer ra = {.loc = f->loc, .bar = &bar}, rb = ra;
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, race_rollup, &ra), 0);
    assert_int_equal(pthread_create(&tb, NULL, race_rollup, &rb), 0);
    assert_int_equal(pthread_join(ta, NULL), 0);
    assert_int_equal(pthread_join(tb, NULL), 0);
    pthread_barrier_destroy(&bar);
    if (ra.err[0] != '\0' || rb.err[0] != '\0')
        fail_msg("rollup: %s / %s", ra.err, rb.err);
    assert_true(ra.rolled + rb.rolled == RACE_AGENTS * RACE_PER);
    struct hours h;
    assert_int_equal(hours(f->s, NULL, &h), RACE_AGENTS / 2);
    for (size_t i = 0; i < h.n; i++) {
        assert_true(h.hour[i] == T0 + (int64_t)i * H);
        assert_true(h.r[i].n == 2 * RACE_PER && h.r[i].ok == 2 * RACE_PER - 2);
        assert_true(h.r[i].total_us_sum == 2 * RACE_PER * 10);
        assert_true(h.r[i].first_fail_us == T0 + (int64_t)i * H + 2);
    }
    uint64_t n = 99;
    assert_int_equal(store_rollup(f->s, 100, &n), 0);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest sqlite_tests[] = {
        cmocka_unit_test_setup_teardown(test_rollup_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_from_schema_5, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_inside_ingest, setup, teardown),
    };
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test_setup_teardown(test_rollup_exact, pg_setup, pg_teardown),
        cmocka_unit_test_setup_teardown(test_pg_prune, pg_setup, pg_teardown),
        cmocka_unit_test_setup_teardown(test_pg_rollup_race, pg_setup, pg_teardown),
        cmocka_unit_test_setup_teardown(test_not_inside_ingest, pg_setup, pg_teardown),
    };
    int failed = cmocka_run_group_tests_name("sqlite", sqlite_tests, NULL, NULL);
    failed +=
        cmocka_run_group_tests_name("postgresql", pg_tests, pg_group_setup, pg_group_teardown);
    return failed;
}
