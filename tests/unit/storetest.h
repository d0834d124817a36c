/*
 * storetest — the fixtures of the store's unit tests (test_store*.c): a
 * store on a fresh sqlite file, or on a fresh schema of the run's
 * PostgreSQL server (pgtest.h); results stored through their real
 * encoding; collectors for the readers; raw SQL on a sqlite file. Include
 * it after cmocka.h and pgtest.h; every function is static inline, so that
 * a file may use some of them.
 */
#ifndef VANTAGE_TEST_STORETEST_H
#define VANTAGE_TEST_STORETEST_H

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "wire.h"

struct fixture {
    char dir[64];
    char path[128];
    char loc[512]; /* the store's location: path, or the PostgreSQL URI */
    struct pg_server *pg;
    struct store *s;
};

static inline int setup(void **state)
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

static inline int teardown(void **state)
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
static inline int pg_setup(void **state)
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

static inline int pg_teardown(void **state)
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
static inline int add(struct store *s, int64_t agent, const char *network, const char *target,
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

static inline int64_t agent(struct store *s, const char *name)
{
    int64_t id = -1;
    if (store_agent_id(s, name, &id) < 0)
        fail_msg("store_agent_id(%s): %s", name, store_error(s));
    return id;
}

static inline uint64_t committed(struct store *s, int64_t id)
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

static inline void copy(char *dst, size_t n, const char *s)
{
    snprintf(dst, n, "%s", s ? s : "(null)");
}

static inline int result_cb(const struct result *r, void *arg)
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

static inline int latest_cb(const struct store_latest *l, void *arg)
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

static inline int agent_cb(const struct store_agent *a, void *arg)
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

static inline size_t count_results(struct store *s, const struct store_result_filter *flt,
                                   struct rows *w)
{
    memset(w, 0, sizeof(*w));
    if (store_results_each(s, flt, result_cb, w) < 0)
        fail_msg("results_each: %s", store_error(s));
    return w->n;
}

static inline int lost_cb(const struct store_agent *a, void *arg)
{
    *(uint64_t *)arg = a->lost;
    return 0;
}

static inline int counts_cb(const struct store_agent *a, void *arg)
{
    *(struct store_agent_counts *)arg = a->counts;
    return 0;
}

static inline void assert_counts(struct store *s, int64_t id, uint64_t dup, uint64_t inv,
                                 uint64_t cl, uint64_t ref)
{
    struct store_agent_counts c = {99, 99, 99, 99}, g = {99, 99, 99, 99};
    assert_int_equal(store_agents_each(s, 0, counts_cb, &c), 0);
    assert_int_equal(store_agent_get(s, id, counts_cb, &g), 0);
    assert_true(c.duplicates == dup && c.invalid == inv && c.clamped == cl && c.refused == ref);
    assert_memory_equal(&c, &g, sizeof(c));
}

/* Runs a file's tests: the sqlite group, then the PostgreSQL group on the
 * run's server (pgtest.h, which skips the group saying why where none can
 * be started). The number of tests that failed. A macro: cmocka sizes the
 * groups from their arrays. */
#define STORE_TEST_RUN(sqlite_tests, pg_tests)                                                     \
    (cmocka_run_group_tests_name("sqlite", sqlite_tests, NULL, NULL) +                             \
     cmocka_run_group_tests_name("postgresql", pg_tests, pg_group_setup, pg_group_teardown))

#endif
