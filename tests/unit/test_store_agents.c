/*
 * Unit tests of collector/store/store.c and its backends, the agents: ids and
 * updates, spool counts, lost agents and the per-agent counters. Each
 * test runs against a real sqlite file and a real PostgreSQL 15, as in
 * test_store.c (fixtures in storetest.h).
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
#include "storetest.h"

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

/* The contract's tests, run on each backend. */
#define CONTRACT_TESTS(SETUP, TEARDOWN)                                                            \
    cmocka_unit_test_setup_teardown(test_agent_ids_and_update, SETUP, TEARDOWN),                   \
        cmocka_unit_test_setup_teardown(test_agent_spool_drains_to_zero, SETUP, TEARDOWN),         \
        cmocka_unit_test_setup_teardown(test_agent_lost, SETUP, TEARDOWN),                         \
        cmocka_unit_test_setup_teardown(test_agent_counts, SETUP, TEARDOWN)

int main(void)
{
    const struct CMUnitTest sqlite_tests[] = {
        CONTRACT_TESTS(setup, teardown),
    };
    const struct CMUnitTest pg_tests[] = {
        CONTRACT_TESTS(pg_setup, pg_teardown),
    };
    return STORE_TEST_RUN(sqlite_tests, pg_tests);
}
