/*
 * Unit tests of collector/store/store.c and its backends, reading back: latest
 * states and their streaks, episodes, result filters and changes. Each
 * store test runs against a real sqlite file and a real PostgreSQL 15, as
 * in test_store.c (fixtures in storetest.h).
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

/* The contract's tests, run on each backend. */
#define CONTRACT_TESTS(SETUP, TEARDOWN)                                                            \
    cmocka_unit_test_setup_teardown(test_latest_streaks, SETUP, TEARDOWN),                         \
        cmocka_unit_test_setup_teardown(test_results_filter, SETUP, TEARDOWN),                     \
        cmocka_unit_test_setup_teardown(test_changes, SETUP, TEARDOWN)

int main(void)
{
    const struct CMUnitTest sqlite_tests[] = {
        CONTRACT_TESTS(setup, teardown),
        cmocka_unit_test(test_streak_rule),
        cmocka_unit_test(test_episodes),
    };
    const struct CMUnitTest pg_tests[] = {
        CONTRACT_TESTS(pg_setup, pg_teardown),
    };
    return STORE_TEST_RUN(sqlite_tests, pg_tests);
}
