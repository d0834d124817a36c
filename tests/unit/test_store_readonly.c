/*
 * Unit tests of the read-only open (store.h STORE_OPEN_READONLY) that
 * the CLI's reading commands use: on a real sqlite file while a writer
 * commits, and on a real PostgreSQL 15 (tests/servers/pg-up; skipped,
 * saying why, where none can start): no partition created, writes
 * refused, a role with only SELECT reads while a writer's open with it
 * fails with the grant hint, and a schema of another version refused and
 * left as it was.
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
#include <unistd.h>

#include "store.h"
#include "store_impl.h"
#include "store_pg.h"

#include "pgtest.h"

struct fixture {
    char dir[64];    /* sqlite: the temporary directory; PostgreSQL: the schema */
    char loc[600];   /* the store's location */
    struct store *w; /* the writer (a collector) */
    struct pg_server *pg;
};

static int64_t agent(struct store *s, const char *name)
{
    int64_t id = -1;
    if (store_agent_id(s, name, &id) < 0)
        fail_msg("store_agent_id(%s): %s", name, store_error(s));
    return id;
}

static int count_one(const struct store_agent *a, void *arg)
{
    (void)a;
    ++*(size_t *)arg;
    return 0;
}

static size_t agents(struct store *s)
{
    size_t n = 0;
    if (store_agents_each(s, 0, count_one, &n) < 0)
        fail_msg("store_agents_each: %s", store_error(s));
    return n;
}

static struct store *open_ro(const char *loc)
{
    char err[STORE_ERR_MAX];
    struct store *s = store_open_flags(loc, STORE_OPEN_READONLY, err, sizeof(err));
    if (s == NULL)
        fail_msg("read-only open: %s", err);
    return s;
}

/* ---- sqlite ---- */

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/vantage-test-readonly-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->loc, sizeof(f->loc), "%s/v.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(&f->w);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void set_user_version(const char *path, int v)
{
    sqlite3 *db = NULL;
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static int user_version(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* A reader open while the collector commits sees each commit (WAL), and
 * cannot write itself. */
static void test_sqlite_reads_while_writer_commits(void **state)
{
    struct fixture *f = *state;
    char err[STORE_ERR_MAX];
    f->w = store_open(f->loc, err, sizeof(err));
    if (f->w == NULL)
        fail_msg("store_open: %s", err);
    agent(f->w, "a1");
    struct store *r = open_ro(f->loc);
    assert_int_equal(agents(r), 1);
    assert_int_equal(store_begin(f->w), 0);
    agent(f->w, "a2");
    assert_int_equal(agents(r), 1); /* not committed yet */
    assert_int_equal(store_commit(f->w), 0);
    assert_int_equal(agents(r), 2);

    struct store_finding fd = {
        .id = "f1", .target = "corp", .severity = "problem", .verdict = "v", .json = "{}"};
    assert_int_equal(store_finding_put(r, &fd), -1);
    assert_non_null(strstr(store_error(r), "readonly"));
    store_close(&r);
    assert_int_equal(agents(f->w), 2);
}

/* A store that does not exist yet is created (a first look before the
 * collector's first start answers "no data"), one of another schema
 * version is refused and left as it was. */
static void test_sqlite_schema_versions(void **state)
{
    struct fixture *f = *state;
    struct store *r = open_ro(f->loc);
    assert_int_equal(agents(r), 0);
    store_close(&r);
    assert_int_equal(user_version(f->loc), STORE_SQLITE_SCHEMA_VERSION);

    char err[STORE_ERR_MAX];
    set_user_version(f->loc, 99);
    assert_null(store_open_flags(f->loc, STORE_OPEN_READONLY, err, sizeof(err)));
    assert_non_null(strstr(err, "newer"));
    assert_int_equal(user_version(f->loc), 99);

    set_user_version(f->loc, STORE_SQLITE_SCHEMA_VERSION - 1);
    assert_null(store_open_flags(f->loc, STORE_OPEN_READONLY, err, sizeof(err)));
    assert_non_null(strstr(err, "older"));
    assert_non_null(strstr(err, "vantage-collector serve"));
    assert_int_equal(user_version(f->loc), STORE_SQLITE_SCHEMA_VERSION - 1);
}

/* ---- PostgreSQL ---- */

static int pg_setup(void **state)
{
    struct pg_server *g = *state;
    pg_require(g);
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->pg = g;
    pg_schema(g, 'r', f->dir, sizeof(f->dir), f->loc, sizeof(f->loc));
    char err[STORE_ERR_MAX];
    f->w = store_open(f->loc, err, sizeof(err));
    if (f->w == NULL)
        fail_msg("store_open: %s", err);
    agent(f->w, "a1");
    *state = f;
    return 0;
}

static int pg_teardown(void **state)
{
    struct fixture *f = *state;
    store_close(&f->w);
    *state = f->pg;
    free(f);
    return 0;
}

/* sql with each '@' replaced by the test's schema, as the superuser. */
static long long in_schema(struct fixture *f, const char *sql)
{
    return pg_int_in(f->pg, f->dir, sql);
}

#define PARTITIONS                                                                                 \
    "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN"                \
    " pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '@' AND c.relkind = 'r'"

/* Drops the newest day partition, which a writer's open creates again. */
static void drop_newest_partition(struct fixture *f)
{
    char sql[600];
    snprintf(sql, sizeof(sql),
             "DO $$ DECLARE p text; BEGIN SELECT max(c.relname) INTO p FROM pg_inherits i"
             " JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON"
             " n.oid = c.relnamespace WHERE n.nspname = '%s' AND c.relkind = 'r' AND c.relname <> "
             "'results_default';"
             " EXECUTE format('DROP TABLE %%I.%%I', '%s', p); END $$",
             f->dir, f->dir);
    pg_admin(f->pg, sql);
}

/* A read-only open runs no DDL: a day partition that a writer's open
 * creates is not created by the reader; the reader's writes are refused
 * by the server. */
static void test_pg_no_partition_no_write(void **state)
{
    struct fixture *f = *state;
    store_close(&f->w);
    long long parts = in_schema(f, PARTITIONS);
    assert_true(parts >= 2);
    drop_newest_partition(f);
    assert_int_equal(in_schema(f, PARTITIONS), parts - 1);

    struct store *r = open_ro(f->loc);
    assert_int_equal(agents(r), 1);
    int64_t id = 0;
    assert_int_equal(store_agent_id(r, "a2", &id), -1);
    assert_non_null(strstr(store_error(r), "read-only transaction"));
    store_close(&r);
    assert_int_equal(in_schema(f, PARTITIONS), parts - 1);
    assert_int_equal(in_schema(f, "SELECT count(*) FROM @.agents"), 1);

    char err[STORE_ERR_MAX];
    f->w = store_open(f->loc, err, sizeof(err));
    if (f->w == NULL)
        fail_msg("store_open: %s", err);
    assert_int_equal(in_schema(f, PARTITIONS), parts);
}

/* The help-desk's role (docs/reference.md "A read-only role"): USAGE on
 * the schema and SELECT on its tables. It reads; a collector's open with
 * it fails with the grant hint once it has a partition to create. */
static void test_pg_select_only_role(void **state)
{
    struct fixture *f = *state;
    char sql[400], loc[700], err[STORE_ERR_MAX];
    pg_admin(f->pg, "DO $$ BEGIN IF to_regrole('helpdesk') IS NULL THEN CREATE ROLE helpdesk"
                    " LOGIN; END IF; END $$");
    snprintf(sql, sizeof(sql),
             "GRANT USAGE ON SCHEMA %s TO helpdesk; GRANT SELECT ON ALL TABLES IN SCHEMA %s TO"
             " helpdesk",
             f->dir, f->dir);
    pg_admin(f->pg, sql);
    snprintf(loc, sizeof(loc),
             "postgresql:///postgres?host=%s&user=helpdesk&options=-csearch_path%%3D%s", f->pg->dir,
             f->dir);

    struct store *r = open_ro(loc);
    assert_int_equal(agents(r), 1);
    store_close(&r);

    store_close(&f->w);
    drop_newest_partition(f);
    assert_null(store_open(loc, err, sizeof(err)));
    assert_non_null(strstr(err, "role \"helpdesk\" lacks a privilege"));
    r = open_ro(loc);
    assert_int_equal(agents(r), 1);
    store_close(&r);
}

/* A schema of another version is refused, by name, and left as it is. */
static void test_pg_schema_versions(void **state)
{
    struct fixture *f = *state;
    store_close(&f->w);
    char sql[200], err[STORE_ERR_MAX];
    snprintf(sql, sizeof(sql), "UPDATE %s.vantage_schema SET version = 99", f->dir);
    pg_admin(f->pg, sql);
    assert_null(store_open_flags(f->loc, STORE_OPEN_READONLY, err, sizeof(err)));
    assert_non_null(strstr(err, "newer"));
    assert_non_null(strstr(err, "99"));
    assert_int_equal(in_schema(f, "SELECT version FROM @.vantage_schema"), 99);

    snprintf(sql, sizeof(sql), "UPDATE %s.vantage_schema SET version = %d", f->dir,
             STORE_PG_SCHEMA_VERSION - 1);
    pg_admin(f->pg, sql);
    assert_null(store_open_flags(f->loc, STORE_OPEN_READONLY, err, sizeof(err)));
    assert_non_null(strstr(err, "older"));
    assert_non_null(strstr(err, "vantage-collector serve"));
    assert_int_equal(in_schema(f, "SELECT version FROM @.vantage_schema"),
                     STORE_PG_SCHEMA_VERSION - 1);
}

/* A database without the schema yet: created, as by the collector. */
static void test_pg_new_database(void **state)
{
    struct fixture *f = *state;
    char name[32], loc[600];
    pg_schema(f->pg, 'n', name, sizeof(name), loc, sizeof(loc));
    struct store *r = open_ro(loc);
    assert_int_equal(agents(r), 0);
    store_close(&r);
    char sql[200];
    snprintf(sql, sizeof(sql), "SELECT version FROM %s.vantage_schema", name);
    assert_int_equal(pg_int(f->pg, sql), STORE_PG_SCHEMA_VERSION);
}

int main(void)
{
    const struct CMUnitTest sqlite_tests[] = {
        cmocka_unit_test_setup_teardown(test_sqlite_reads_while_writer_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_schema_versions, setup, teardown),
    };
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test_setup_teardown(test_pg_no_partition_no_write, pg_setup, pg_teardown),
        cmocka_unit_test_setup_teardown(test_pg_select_only_role, pg_setup, pg_teardown),
        cmocka_unit_test_setup_teardown(test_pg_schema_versions, pg_setup, pg_teardown),
        cmocka_unit_test_setup_teardown(test_pg_new_database, pg_setup, pg_teardown),
    };
    int failed = cmocka_run_group_tests_name("sqlite", sqlite_tests, NULL, NULL);
    return failed +
           cmocka_run_group_tests_name("postgresql", pg_tests, pg_group_setup, pg_group_teardown);
}
