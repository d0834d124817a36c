/*
 * Unit tests of the store's operations for several collectors on one
 * database (store.h, store_sqlite_cluster.c, store_pg_cluster.c): two
 * connections to one real sqlite file stand for two collectors; on a
 * real PostgreSQL 15 (tests/servers/pg-up; skipped, saying why, where
 * none can start) two stores on one database check the probe-now
 * wake-up (LISTEN/NOTIFY), its loss and its reopening.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

#include "pgtest.h"

struct fixture {
    char dir[64];
    char path[128];
    struct store *a;      /* collector A's connection */
    struct store *b;      /* collector B's */
    struct pg_server *pg; /* the run's server (PostgreSQL group) */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/vantage-test-cluster-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/v.db", f->dir);
    char err[STORE_ERR_MAX];
    f->a = store_open(f->path, err, sizeof(err));
    if (f->a == NULL)
        fail_msg("store_open: %s", err);
    f->b = store_open(f->path, err, sizeof(err));
    if (f->b == NULL)
        fail_msg("store_open: %s", err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(&f->a);
    store_close(&f->b);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

#define S 1000000LL

/* One holder at a time; renewal extends; an expired lease passes on; a
 * released one is free at once; the fence follows the holder. */
static void test_lease(void **state)
{
    struct fixture *f = *state;
    struct store_lease l;
    assert_int_equal(store_lease_take(f->a, "evaluate", "c-a", 100 * S, 5 * S, &l), 1);
    assert_string_equal(l.holder, "c-a");
    assert_int_equal(l.expires_us, 105 * S);
    /* B cannot take it while it runs, and learns who holds it. */
    assert_int_equal(store_lease_take(f->b, "evaluate", "c-b", 101 * S, 5 * S, &l), 0);
    assert_string_equal(l.holder, "c-a");
    assert_int_equal(l.expires_us, 105 * S);
    /* A renews: the expiry moves on. */
    assert_int_equal(store_lease_take(f->a, "evaluate", "c-a", 102 * S, 5 * S, &l), 1);
    assert_int_equal(l.expires_us, 107 * S);
    assert_int_equal(store_lease_held(f->b, "evaluate", "c-a", 106 * S), 1);
    assert_int_equal(store_lease_held(f->b, "evaluate", "c-b", 106 * S), 0);
    /* A dies: at its expiry B takes over, and A's fence closes. */
    assert_int_equal(store_lease_take(f->b, "evaluate", "c-b", 106 * S, 5 * S, &l), 0);
    assert_int_equal(store_lease_take(f->b, "evaluate", "c-b", 107 * S, 5 * S, &l), 1);
    assert_string_equal(l.holder, "c-b");
    assert_int_equal(store_lease_held(f->a, "evaluate", "c-a", 107 * S), 0);
    assert_int_equal(store_lease_take(f->a, "evaluate", "c-a", 108 * S, 5 * S, &l), 0);
    /* Other leases are independent. */
    assert_int_equal(store_lease_take(f->a, "other", "c-a", 108 * S, 5 * S, NULL), 1);
    /* Release: only the holder's counts; then it is free at once. */
    assert_int_equal(store_lease_release(f->a, "evaluate", "c-a"), 0);
    assert_int_equal(store_lease_get(f->a, "evaluate", &l), 0);
    assert_string_equal(l.holder, "c-b");
    assert_int_equal(store_lease_release(f->b, "evaluate", "c-b"), 0);
    assert_int_equal(store_lease_get(f->a, "evaluate", &l), 0);
    assert_string_equal(l.holder, "");
    assert_int_equal(store_lease_take(f->a, "evaluate", "c-a", 109 * S, 5 * S, &l), 1);
}

struct seen {
    char ids[8][STORE_COLLECTOR_ID_MAX + 1];
    char targets[8][32];
    uint32_t agents[8];
    size_t n;
};

static int note(const struct store_collector *c, void *arg)
{
    struct seen *x = arg;
    assert_true(x->n < 8);
    snprintf(x->ids[x->n], sizeof(x->ids[0]), "%s", c->id);
    snprintf(x->targets[x->n], sizeof(x->targets[0]), "%s", c->targets);
    x->agents[x->n++] = c->agents;
    return 0;
}

static void test_registry(void **state)
{
    struct fixture *f = *state;
    struct store_collector a = {.id = "c-a",
                                .host = "h1",
                                .pid = 10,
                                .started_us = 1 * S,
                                .heartbeat_us = 1 * S,
                                .version = "0.1.0",
                                .targets = "v1"};
    struct store_collector b = a;
    b.id = "c-b";
    b.started_us = b.heartbeat_us = 2 * S;
    b.targets = "v2";
    assert_int_equal(store_collector_put(f->a, &a), 0);
    assert_int_equal(store_collector_put(f->b, &b), 0);
    /* A heartbeat replaces the row. */
    a.heartbeat_us = 3 * S;
    a.agents = 7;
    assert_int_equal(store_collector_put(f->a, &a), 0);
    struct seen x = {0};
    assert_int_equal(store_collectors_each(f->b, note, &x), 0);
    assert_int_equal(x.n, 2);
    assert_string_equal(x.ids[0], "c-a"); /* oldest start first */
    assert_int_equal(x.agents[0], 7);
    assert_string_equal(x.targets[1], "v2");
    /* A clean stop removes A; rows silent since before 3 s go too. */
    assert_int_equal(store_collector_delete(f->a, "c-a", 0), 0);
    memset(&x, 0, sizeof(x));
    assert_int_equal(store_collectors_each(f->a, note, &x), 0);
    assert_int_equal(x.n, 1);
    assert_int_equal(store_collector_delete(f->a, "", 3 * S), 0);
    memset(&x, 0, sizeof(x));
    assert_int_equal(store_collectors_each(f->a, note, &x), 0);
    assert_int_equal(x.n, 0);
}

struct reqs {
    int64_t ids[8];
    char targets[8][32];
    size_t n;
};

static int note_req(const struct store_probe_request *r, void *arg)
{
    struct reqs *x = arg;
    assert_true(x->n < 8);
    x->ids[x->n] = r->id;
    snprintf(x->targets[x->n++], sizeof(x->targets[0]), "%s", r->target);
    return 0;
}

static int note_answer(const struct store_probe_answer *a, void *arg)
{
    char *out = arg;
    size_t used = strlen(out);
    snprintf(out + used, 256 - used, "%s=%s;", a->collector, a->agents);
    return 0;
}

/* A request queued on one connection is seen on the other once, until
 * it expires; answers come back per collector. */
static void test_probe_queue(void **state)
{
    struct fixture *f = *state;
    int fd = 0;
    assert_int_equal(store_probe_listen(f->b, &fd), 0);
    assert_int_equal(fd, -1); /* sqlite: polled */
    int64_t id1 = 0, id2 = 0;
    struct store_probe_request r = {.target = "mail", .created_us = 10 * S, .expires_us = 40 * S};
    assert_int_equal(store_probe_request_add(f->a, &r, &id1), 0);
    r.target = "web";
    r.created_us = 20 * S;
    r.expires_us = 25 * S;
    assert_int_equal(store_probe_request_add(f->a, &r, &id2), 0);
    assert_true(id2 > id1);
    struct reqs x = {0};
    assert_int_equal(store_probe_requests_after(f->b, 0, 21 * S, note_req, &x), 0);
    assert_int_equal(x.n, 2);
    assert_string_equal(x.targets[0], "mail");
    memset(&x, 0, sizeof(x));
    assert_int_equal(store_probe_requests_after(f->b, id1, 21 * S, note_req, &x), 0);
    assert_int_equal(x.n, 1);
    assert_int_equal(x.ids[0], id2);
    /* Expired: not served any more. */
    memset(&x, 0, sizeof(x));
    assert_int_equal(store_probe_requests_after(f->b, 0, 30 * S, note_req, &x), 0);
    assert_int_equal(x.n, 1);
    assert_string_equal(x.targets[0], "mail");

    struct store_probe_answer a = {
        .request_id = id1, .collector = "c-b", .agents = "[\"b1\"]", .at_us = 11 * S};
    assert_int_equal(store_probe_answer_add(f->b, &a), 0);
    a.collector = "c-a";
    a.agents = "[]";
    assert_int_equal(store_probe_answer_add(f->a, &a), 0);
    char got[256] = "";
    assert_int_equal(store_probe_answers_each(f->a, id1, note_answer, got), 0);
    assert_string_equal(got, "c-a=[];c-b=[\"b1\"];");
    got[0] = '\0';
    assert_int_equal(store_probe_answers_each(f->a, id2, note_answer, got), 0);
    assert_string_equal(got, "");
    /* An hour after they expired, the next request removes them. */
    r.created_us = 40 * S + 3601 * S;
    r.expires_us = r.created_us + 5 * S;
    int64_t id3;
    assert_int_equal(store_probe_request_add(f->b, &r, &id3), 0);
    memset(&x, 0, sizeof(x));
    assert_int_equal(store_probe_requests_after(f->a, 0, 0, note_req, &x), 0);
    assert_int_equal(x.n, 1);
    assert_int_equal(x.ids[0], id3);
    got[0] = '\0';
    assert_int_equal(store_probe_answers_each(f->a, id1, note_answer, got), 0);
    assert_string_equal(got, "");
}

/* B answers a request from inside the reading callback, after A has
 * committed in between (its heartbeat): on sqlite's WAL an answer written
 * inside the open read would need a snapshot A's commit made stale, and
 * failed at once with "database is locked" (integration.cluster under
 * load). */
struct serve_ctx {
    struct store *self, *other;
    int answered;
};

static int serve_req(const struct store_probe_request *r, void *arg)
{
    struct serve_ctx *x = arg;
    struct store_collector other = {.id = "c-a",
                                    .host = "h",
                                    .pid = 1,
                                    .heartbeat_us = 12 * S,
                                    .version = "v",
                                    .targets = "t",
                                    .agents = 0};
    assert_int_equal(store_collector_put(x->other, &other), 0);
    struct store_probe_answer a = {
        .request_id = r->id, .collector = "c-b", .agents = "[]", .at_us = 12 * S};
    if (store_probe_answer_add(x->self, &a) < 0)
        fail_msg("answering request %lld: %s", (long long)r->id, store_error(x->self));
    x->answered++;
    return 0;
}

static void test_probe_answer_while_other_commits(void **state)
{
    struct fixture *f = *state;
    int64_t id[3];
    struct store_probe_request r = {.target = "mail", .created_us = 10 * S, .expires_us = 40 * S};
    for (int i = 0; i < 3; i++)
        assert_int_equal(store_probe_request_add(f->a, &r, &id[i]), 0);
    struct serve_ctx x = {f->b, f->a, 0};
    assert_int_equal(store_probe_requests_after(f->b, 0, 11 * S, serve_req, &x), 0);
    assert_int_equal(x.answered, 3);
    char got[256] = "";
    assert_int_equal(store_probe_answers_each(f->a, id[2], note_answer, got), 0);
    assert_string_equal(got, "c-b=[];");
}

/* ---- PostgreSQL: the wake-up ---- */

/* A and B on one database of the run's server, in a schema of their own. */
static int pg_setup(void **state)
{
    struct pg_server *g = *state;
    pg_require(g);
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    char loc[600], err[STORE_ERR_MAX];
    pg_schema(g, 'c', f->dir, sizeof(f->dir), loc, sizeof(loc));
    if ((f->a = store_open(loc, err, sizeof(err))) == NULL ||
        (f->b = store_open(loc, err, sizeof(err))) == NULL)
        fail_msg("store_open: %s", err);
    f->pg = g;
    *state = f;
    return 0;
}

static int pg_teardown(void **state)
{
    struct fixture *f = *state;
    store_close(&f->a);
    store_close(&f->b);
    *state = f->pg; /* the group's again */
    free(f);
    return 0;
}

static int readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms);
}

static void queue(struct store *s, int64_t *id)
{
    struct store_probe_request r = {
        .target = "mail", .created_us = 10 * S, .expires_us = 4000000000LL * S};
    assert_int_equal(store_probe_request_add(s, &r, id), 0);
}

/* B listens; A's request wakes it once; the wake connection killed by
 * the server is reported lost (and its descriptor given up); listening
 * again works, and the queue missed nothing meanwhile. */
static void test_pg_wakeup(void **state)
{
    struct fixture *f = *state;
    int fd = -1, again = -1;
    assert_int_equal(store_probe_listen(f->b, &fd), 0);
    assert_true(fd >= 0);
    assert_int_equal(readable(fd, 200), 0); /* nothing queued, nothing to read */
    assert_int_equal(store_probe_drain(f->b), 0);
    int64_t id1 = 0, id2 = 0;
    queue(f->a, &id1);
    assert_int_equal(readable(fd, 5000), 1);
    assert_int_equal(store_probe_drain(f->b), 1);
    assert_int_equal(store_probe_drain(f->b), 0); /* consumed */
    assert_int_equal(store_probe_listen(f->b, &again), 0);
    assert_int_equal(again, fd); /* still up: the same connection */

    /* The server ends the wake connection (a restart, an administrator).
     * libpq may read the server's goodbye and the end of the stream in
     * two turns, so drain until it says so. */
    pg_admin(f->pg, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE query = 'LISTEN vantage_probe_now'");
    int r = 0;
    for (int i = 0; i < 10 && r >= 0; i++) {
        assert_int_equal(readable(fd, 5000), 1);
        r = store_probe_drain(f->b);
    }
    assert_int_equal(r, -1);
    assert_non_null(strstr(store_error(f->b), "wake connection is lost"));
    assert_int_equal(store_probe_drain(f->b), -1); /* not listening now */
    /* A queues while nobody listens; the queue keeps it. */
    queue(f->a, &id2);
    assert_int_equal(store_probe_listen(f->b, &fd), 0);
    assert_true(fd >= 0);
    struct reqs x = {0};
    assert_int_equal(store_probe_requests_after(f->b, id1, 11 * S, note_req, &x), 0);
    assert_int_equal(x.n, 1);
    assert_int_equal(x.ids[0], id2);
    /* Woken again through the new connection. */
    int64_t id3 = 0;
    queue(f->a, &id3);
    assert_int_equal(readable(fd, 5000), 1);
    assert_int_equal(store_probe_drain(f->b), 1);
    /* B's other connection was never touched: it still reads. */
    memset(&x, 0, sizeof(x));
    assert_int_equal(store_probe_requests_after(f->b, 0, 11 * S, note_req, &x), 0);
    assert_int_equal(x.n, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lease, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_probe_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_probe_answer_while_other_commits, setup, teardown),
    };
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test_setup_teardown(test_pg_wakeup, pg_setup, pg_teardown),
    };
    int failed = cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);
    return failed +
           cmocka_run_group_tests_name("postgresql", pg_tests, pg_group_setup, pg_group_teardown);
}
