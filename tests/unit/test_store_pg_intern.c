/*
 * Tests of store_pg_ingest.c's interned names with two collectors on one
 * PostgreSQL: a name (target, check, network) that another collector's
 * open transaction has just inserted must be found once that transaction
 * commits, not refused as "no row for a name". And the server's own
 * warnings on the store's connection reach the collector's log as one
 * line each (store_set_log). Needs a PostgreSQL 15 (tests/servers/pg-up);
 * skips without one.
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
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "log.h"
#include "store.h"
#include "wire.h"

struct server {
    char dir[256]; /* pg-up's directory; "" when none could start */
    char loc[512];
};

/* The second collector's transaction, run in a thread: it blocks on the
 * first one's uncommitted names. */
struct second {
    struct store *s;
    int64_t agent;
    int rc;
    char err[STORE_ERR_MAX];
};

static int add(struct store *s, int64_t agent, uint64_t seq)
{
    struct result r;
    result_init(&r);
    r.has_seq = true;
    r.seq = seq;
    r.started_at_us = time(NULL) * 1000000LL;
    r.ok = true;
    result_set_str(&r.target, "race");
    result_set_str(&r.check, "imaps://race.example");
    uint8_t *buf;
    size_t len;
    assert_int_equal(wire_result_encode(&r, &buf, &len), 0);
    int rc = store_result_add(s, agent, "race-net", &r, buf, len);
    free(buf);
    result_clear(&r);
    return rc;
}

static void *second_run(void *arg)
{
    struct second *t = arg;
    t->rc = store_begin(t->s);
    if (t->rc == 0)
        t->rc = add(t->s, t->agent, 1);
    if (t->rc == 1)
        t->rc = store_commit(t->s) == 0 ? 1 : -1;
    snprintf(t->err, sizeof(t->err), "%s", store_error(t->s));
    return NULL;
}

static int setup(void **state)
{
    struct server *g = calloc(1, sizeof(*g));
    assert_non_null(g);
    *state = g;
    const char *src = getenv("VANTAGE_SOURCE_DIR");
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "'%s/tests/servers/pg-up' 2>/dev/null", src ? src : ".");
    FILE *p = popen(cmd, "r");
    if (p == NULL || fgets(g->dir, sizeof(g->dir), p) == NULL)
        g->dir[0] = '\0';
    if (p != NULL && pclose(p) != 0)
        g->dir[0] = '\0';
    g->dir[strcspn(g->dir, "\n")] = '\0';
    if (g->dir[0] != '/') {
        g->dir[0] = '\0';
        fprintf(stderr, "SKIP [test_store_pg_intern]: no PostgreSQL server could be started\n");
        return 0;
    }
    snprintf(g->loc, sizeof(g->loc), "postgresql:///postgres?host=%s&user=vantage_admin", g->dir);
    return 0;
}

static int teardown(void **state)
{
    struct server *g = *state;
    if (g->dir[0] != '\0') {
        const char *src = getenv("VANTAGE_SOURCE_DIR");
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "'%s/tests/servers/pg-down' '%s'", src ? src : ".", g->dir);
        assert_int_equal(system(cmd), 0);
    }
    free(g);
    return 0;
}

/* Whether some backend waits on a lock (the second collector's INSERT on
 * the first one's uncommitted name). */
static bool someone_waits(PGconn *admin)
{
    PGresult *r = PQexec(admin, "SELECT count(*) FROM pg_stat_activity"
                                " WHERE wait_event_type = 'Lock'");
    bool waits = PQresultStatus(r) == PGRES_TUPLES_OK && atoi(PQgetvalue(r, 0, 0)) > 0;
    PQclear(r);
    return waits;
}

static void test_name_inserted_by_another_collector(void **state)
{
    struct server *g = *state;
    if (g->dir[0] == '\0')
        skip();
    char err[STORE_ERR_MAX];
    struct store *a = store_open(g->loc, err, sizeof(err));
    if (a == NULL)
        fail_msg("store_open: %s", err);
    struct store *b = store_open(g->loc, err, sizeof(err));
    if (b == NULL)
        fail_msg("store_open: %s", err);
    int64_t agent_a, agent_b;
    assert_int_equal(store_agent_id(a, "a1", &agent_a), 0);
    assert_int_equal(store_agent_id(b, "b1", &agent_b), 0);

    /* The first collector inserts the names and keeps its transaction
     * open; the second needs the same names meanwhile. */
    assert_int_equal(store_begin(a), 0);
    assert_int_equal(add(a, agent_a, 1), 1);
    struct second t = {.s = b, .agent = agent_b};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, second_run, &t), 0);
    char conninfo[400];
    snprintf(conninfo, sizeof(conninfo), "host=%s user=vantage_admin dbname=postgres", g->dir);
    PGconn *admin = PQconnectdb(conninfo);
    assert_int_equal(PQstatus(admin), CONNECTION_OK);
    bool waited = false;
    for (int i = 0; i < 500 && !(waited = someone_waits(admin)); i++)
        usleep(10000);
    assert_true(waited); /* else this test would prove nothing */
    assert_int_equal(store_commit(a), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    if (t.rc != 1)
        fail_msg("the second collector's result was refused: %s", t.err);

    /* Both stored, under the one target. */
    PGresult *r = PQexec(admin, "SELECT count(*), count(DISTINCT target_id) FROM results");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "2");
    assert_string_equal(PQgetvalue(r, 0, 1), "1");
    PQclear(r);
    PQfinish(admin);
    store_close(&a);
    store_close(&b);
}

/* A warning with DETAIL and HINT, as the server sends when another
 * backend crashed (chaos.pg.disk_full): libpq would print it as three
 * bare lines on stderr; with store_set_log it is one line of the log. */
static void test_server_warning_is_one_log_line(void **state)
{
    struct server *g = *state;
    if (g->dir[0] == '\0')
        skip();
    char err[STORE_ERR_MAX];
    struct store *s = store_open(g->loc, err, sizeof(err));
    if (s == NULL)
        fail_msg("store_open: %s", err);
    FILE *out = tmpfile();
    assert_non_null(out);
    struct log *log = log_create(out, "test", LOG_LEVEL_INFO);
    assert_non_null(log);
    store_set_log(s, log);

    char conninfo[400];
    snprintf(conninfo, sizeof(conninfo), "host=%s user=vantage_admin dbname=postgres", g->dir);
    PGconn *admin = PQconnectdb(conninfo);
    assert_int_equal(PQstatus(admin), CONNECTION_OK);
    PGresult *r = PQexec(admin, "CREATE FUNCTION warn_on_agent() RETURNS trigger LANGUAGE plpgsql"
                                " AS $$ BEGIN RAISE WARNING 'vantage test warning'"
                                " USING DETAIL = 'a detail', HINT = 'a hint'; RETURN NEW; END $$;"
                                " CREATE TRIGGER warn_on_agent BEFORE INSERT ON agents"
                                " FOR EACH ROW EXECUTE FUNCTION warn_on_agent()");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    int64_t id;
    assert_int_equal(store_agent_id(s, "warned", &id), 0);

    fflush(out);
    rewind(out);
    char line[2048];
    int lines = 0, warnings = 0;
    while (fgets(line, sizeof(line), out) != NULL) {
        lines++;
        if (strstr(line, " warn  [test] database ") != NULL &&
            strstr(line, "the server says: WARNING:  vantage test warning") != NULL &&
            strstr(line, "a detail") != NULL && strstr(line, "a hint") != NULL)
            warnings++;
    }
    assert_int_equal(warnings, 1);
    assert_int_equal(lines, 1);

    r = PQexec(admin, "DROP TRIGGER warn_on_agent ON agents; DROP FUNCTION warn_on_agent()");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(admin);
    store_close(&s);
    log_destroy(&log);
    fclose(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_inserted_by_another_collector),
        cmocka_unit_test(test_server_warning_is_one_log_line),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
