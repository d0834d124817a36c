/*
 * Tests of store_pg_ingest.c's agents kept between transactions and
 * locked at commit (one sorted FOR UPDATE): two stores ingesting the same
 * kept agents at once store every (agent, seq) once and never deadlock; a
 * store whose kept state another collector made stale fails its commit
 * (and succeeds on the resend), or reads again after a reconnection; and
 * the latest state and fact changes match sqlite's for the same batches.
 * Needs a PostgreSQL 15 (tests/servers/pg-up); skips without one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "wire.h"

#include "pgtest.h"

#define AGENTS 16
#define ROUNDS 5
#define PER    4 /* results per agent and round */
#define T0     1780000000000000LL

/* One result of agent through its real encoding, with facts that change
 * every third seq; prev (may be NULL) gets what changed. */
static int add(struct store *s, int64_t agent, uint64_t seq, bool ok, struct store_prev *prev)
{
    struct result r;
    result_init(&r);
    r.has_seq = true;
    r.seq = seq;
    r.started_at_us = T0 + (int64_t)seq * 1000000;
    r.ok = ok;
    r.error = ok ? RESULT_OK : RESULT_TCP_REFUSED;
    r.layer = result_error_layer(r.error);
    r.phases_us[RESULT_PHASE_TOTAL] = 1000 + seq;
    assert_int_equal(result_set_str(&r.target, seq % 2 ? "imap.example" : "smtp.example"), 0);
    assert_int_equal(result_set_str(&r.check, "tls"), 0);
    char detail[32], dns[32];
    snprintf(detail, sizeof(detail), "detail %llu", (unsigned long long)seq);
    assert_int_equal(result_set_str(&r.detail, detail), 0);
    snprintf(dns, sizeof(dns), "192.0.2.%llu", (unsigned long long)(seq / 3));
    struct store_facts facts = {.hash = {seq / 3 + 1}, .text = {dns}};
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(wire_result_encode(&r, &buf, &len), 0);
    int rc = store_result_add_facts(s, agent, "net", &r, buf, len, &facts, prev);
    free(buf);
    result_clear(&r);
    return rc;
}

static struct store *open_pg(struct pg_server *g, const char *loc)
{
    (void)g;
    char err[STORE_ERR_MAX];
    struct store *s = store_open(loc, err, sizeof(err));
    if (s == NULL)
        fail_msg("store_open: %s", err);
    return s;
}

static int64_t agent_of(struct store *s, const char *name)
{
    int64_t id = -1;
    if (store_agent_id(s, name, &id) < 0)
        fail_msg("store_agent_id(%s): %s", name, store_error(s));
    return id;
}

/* ---- two stores, the same agents, at once ---- */

struct racer {
    struct store *s;
    const int64_t *ids;
    bool reverse; /* touches the agents in the other order */
    pthread_barrier_t *bar;
    int stale_fails, other_fails;
    char other[STORE_ERR_MAX];
};

static void *race(void *arg)
{
    struct racer *t = arg;
    for (int round = 0; round < ROUNDS; round++) {
        for (int attempt = 0; attempt < 10; attempt++) {
            if (store_begin(t->s) < 0)
                goto other;
            for (int k = 0; k < AGENTS; k++) {
                int64_t id = t->ids[t->reverse ? AGENTS - 1 - k : k];
                for (int j = 2; j <= PER + 1; j++)
                    if (add(t->s, id, (uint64_t)(round * PER + j), true, NULL) < 0)
                        goto other;
            }
            /* Both hold their whole transaction before either commits. */
            if (attempt == 0)
                pthread_barrier_wait(t->bar);
            if (store_commit(t->s) == 0)
                break;
            if (strstr(store_error(t->s), "stored for it elsewhere") == NULL)
                goto other;
            t->stale_fails++; /* the agents resend: the next attempt */
        }
    }
    return NULL;
other:
    t->other_fails++;
    snprintf(t->other, sizeof(t->other), "%s", store_error(t->s));
    store_rollback(t->s);
    return NULL;
}

static void test_two_stores_same_agents(void **state)
{
    struct pg_server *g = *state;
    pg_require(g);
    char schema[32], loc[512];
    pg_schema(g, 'a', schema, sizeof(schema), loc, sizeof(loc));
    struct store *a = open_pg(g, loc), *b = open_pg(g, loc);
    int64_t ids[AGENTS];
    for (int i = 0; i < AGENTS; i++) {
        char name[16];
        snprintf(name, sizeof(name), "agent%d", i);
        ids[i] = agent_of(a, name);
    }
    /* The names first, committed: else the second store's insert of a
     * name waits for the first's commit, which waits at the barrier. */
    int64_t warm = agent_of(a, "warm");
    assert_int_equal(store_begin(a), 0);
    assert_int_equal(add(a, warm, 1, true, NULL), 1);
    assert_int_equal(add(a, warm, 2, true, NULL), 1);
    assert_int_equal(store_commit(a), 0);
    /* Each store reads (and locks, one after the other) the agents once:
     * the race is between kept states, locked only at commit. */
    for (int k = 0; k < 2; k++) {
        struct store *s = k ? b : a;
        assert_int_equal(store_begin(s), 0);
        for (int i = 0; i < AGENTS; i++)
            assert_int_equal(add(s, ids[i], 1, true, NULL), k ? 0 : 1);
        assert_int_equal(store_commit(s), 0);
    }
    pthread_barrier_t bar;
    assert_int_equal(pthread_barrier_init(&bar, NULL, 2), 0);
    struct racer ra = {.s = a, .ids = ids, .bar = &bar};
    struct racer rb = {.s = b, .ids = ids, .reverse = true, .bar = &bar};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, race, &ra), 0);
    assert_int_equal(pthread_create(&tb, NULL, race, &rb), 0);
    assert_int_equal(pthread_join(ta, NULL), 0);
    assert_int_equal(pthread_join(tb, NULL), 0);
    pthread_barrier_destroy(&bar);
    if (ra.other_fails || rb.other_fails)
        fail_msg("a store failed otherwise (a deadlock?): %s / %s", ra.other, rb.other);
    /* Each round, both read the agents before either committed: exactly
     * one of the two commits found them changed. */
    assert_int_equal(ra.stale_fails + rb.stale_fails, ROUNDS);

    char sql[200];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s.results", schema);
    assert_int_equal(pg_int(g, sql), AGENTS * (ROUNDS * PER + 1) + 2);
    snprintf(sql, sizeof(sql), "SELECT count(DISTINCT (agent_id, seq)) FROM %s.results", schema);
    assert_int_equal(pg_int(g, sql), AGENTS * (ROUNDS * PER + 1) + 2);
    for (int i = 0; i < AGENTS; i++) {
        uint64_t seq = 0;
        assert_int_equal(store_agent_committed_seq(b, ids[i], &seq), 0);
        assert_int_equal(seq, ROUNDS * PER + 1);
    }
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM %s.agents WHERE name <> 'warm' AND"
             " stored <> int8multirange(int8range(1, %d))",
             schema, ROUNDS * PER + 2);
    assert_int_equal(pg_int(g, sql), 0);
    store_close(&a);
    store_close(&b);
}

/* ---- the latest state against sqlite's ---- */

struct rows {
    char text[8192];
    size_t len;
};

static int collect(const struct store_latest_row *r, void *arg)
{
    struct rows *out = arg;
    int n = snprintf(out->text + out->len, sizeof(out->text) - out->len, "%s|%s|%s|%s", r->agent,
                     r->target, r->check, r->network ? r->network : "-");
    out->len += (size_t)n;
    for (int c = 0; c < STORE_LATEST_NCOLUMNS; c++) {
        n = snprintf(out->text + out->len, sizeof(out->text) - out->len, "|%s",
                     r->col[c] ? r->col[c] : "NULL");
        out->len += (size_t)n;
    }
    out->len += (size_t)snprintf(out->text + out->len, sizeof(out->text) - out->len, "\n");
    assert_true(out->len < sizeof(out->text) - 1);
    return 0;
}

static void latest_of(struct store *s, const char *agent, struct rows *out)
{
    *out = (struct rows){0};
    assert_int_equal(store_latest_rows_each(s, agent, collect, out), 0);
}

/* One transaction of results from..to of agent "x" (ok unless seq % 5 ==
 * 0), the same on both stores; the fact changes each reported must match.
 * Returns the pg store's commit result. */
static int txn(struct store *pg, struct store *lite, int64_t pg_id, int64_t lite_id, uint64_t from,
               uint64_t to)
{
    assert_int_equal(store_begin(pg), 0);
    if (lite != NULL)
        assert_int_equal(store_begin(lite), 0);
    for (uint64_t seq = from; seq <= to; seq++) {
        struct store_prev pp, lp;
        int rp = add(pg, pg_id, seq, seq % 5 != 0, &pp);
        if (rp < 0)
            fail_msg("pg: %s", store_error(pg));
        if (lite == NULL)
            continue;
        assert_int_equal(add(lite, lite_id, seq, seq % 5 != 0, &lp), rp);
        for (int f = 0; f < STORE_FACT_LAST; f++) {
            assert_int_equal(pp.changed[f], lp.changed[f]);
            if (pp.changed[f])
                assert_string_equal(pp.before[f], lp.before[f]);
        }
        if (pp.before_at_us != lp.before_at_us)
            fail_msg("seq %llu: before_at_us %lld on pg, %lld on sqlite", (unsigned long long)seq,
                     (long long)pp.before_at_us, (long long)lp.before_at_us);
    }
    if (lite != NULL)
        assert_int_equal(store_commit(lite), 0);
    return store_commit(pg);
}

static void test_kept_state_like_sqlite(void **state)
{
    struct pg_server *g = *state;
    pg_require(g);
    char schema[32], loc[512], dir[] = "/tmp/vantage-test-pgagents-XXXXXX", path[80];
    pg_schema(g, 'a', schema, sizeof(schema), loc, sizeof(loc));
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/v.db", dir);
    char err[STORE_ERR_MAX];
    struct store *lite = store_open(path, err, sizeof(err));
    if (lite == NULL)
        fail_msg("store_open: %s", err);
    struct store *a = open_pg(g, loc), *b = open_pg(g, loc);
    int64_t xa = agent_of(a, "x"), xl = agent_of(lite, "x");

    /* Many transactions through the kept state, with duplicates. */
    for (uint64_t s = 1; s <= 40; s += 4)
        assert_int_equal(txn(a, lite, xa, xl, s, s + 5), 0);
    /* Another collector stores results of x: a's kept state is stale,
     * its commit fails and nothing of it stays; the resend succeeds. */
    assert_int_equal(txn(b, lite, xa, xl, 46, 50), 0);
    assert_int_not_equal(txn(a, NULL, xa, 0, 51, 53), 0);
    assert_non_null(strstr(store_error(a), "stored for it elsewhere"));
    assert_int_equal(txn(a, lite, xa, xl, 51, 53), 0);
    /* After a reconnection (the committed seq asked), a reads again
     * first: no failed commit. */
    uint64_t seq = 0;
    assert_int_equal(store_agent_committed_seq(b, xa, &seq), 0);
    assert_int_equal(seq, 53);
    assert_int_equal(txn(b, lite, xa, xl, 54, 58), 0);
    assert_int_equal(store_agent_committed_seq(a, xa, &seq), 0);
    assert_int_equal(seq, 58);
    assert_int_equal(txn(a, lite, xa, xl, 59, 66), 0);

    struct rows rp, rl;
    latest_of(a, "x", &rp);
    latest_of(lite, "x", &rl);
    assert_true(rp.len > 0);
    assert_string_equal(rp.text, rl.text);
    char sql[160];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s.results", schema);
    assert_int_equal(pg_int(g, sql), 63); /* 1-42, 46-66 */
    store_close(&a);
    store_close(&b);
    store_close(&lite);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    /* Kept state stays fresh for a minute here: the races below must not
     * turn into first-touch locks because a step was slow (ASan, load). */
    setenv("VANTAGE_PG_KEEP_FRESH_MS", "60000", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_stores_same_agents),
        cmocka_unit_test(test_kept_state_like_sqlite),
    };
    return cmocka_run_group_tests(tests, pg_group_setup, pg_group_teardown);
}
