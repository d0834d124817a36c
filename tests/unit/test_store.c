/*
 * Unit tests of collector/store/store.c and its backends, the store's life:
 * opening, migrating and reopening (from old schema versions too), two
 * connections or collectors on one store, error paths and the location's
 * redaction. Agents are in test_store_agents.c, writing results in
 * test_store_ingest.c, reading them back in test_store_read.c; the
 * fixtures all four share in storetest.h. Contract tests run twice,
 * against a real sqlite file in a fresh temporary directory and against a
 * real PostgreSQL 15 (started for this run by tests/servers/pg-up, a fresh
 * schema per test); the PostgreSQL group skips, saying why, where no
 * server can be started.
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

#define STR_(x) #x
#define STR(x)  STR_(x)

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
    assert_int_equal(in_schema(f, "SELECT version FROM @.vantage_schema"), STORE_PG_SCHEMA_VERSION);
    assert_counts_migrated(f, a);
}

/* The tables ingest rewrites a row of per result keep room on each page
 * (schema 5): fresh, and migrated from 4. */
static long long fillfactor_tables(struct fixture *f)
{
    return in_schema(f, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid ="
                        " c.relnamespace WHERE n.nspname = '@' AND c.relname IN ('latest',"
                        " 'agents') AND 'fillfactor=50' = ANY(c.reloptions)");
}

static void test_pg_from_schema_4(void **state)
{
    struct fixture *f = *state;
    store_close(&f->s);
    assert_int_equal(fillfactor_tables(f), 2);
    char sql[800];
    snprintf(sql, sizeof(sql),
             "ALTER TABLE %s.latest RESET (fillfactor); ALTER TABLE %s.agents RESET (fillfactor);"
             " UPDATE %s.vantage_schema SET version = 4",
             f->dir, f->dir, f->dir);
    pg_admin(f->pg, sql);
    assert_int_equal(fillfactor_tables(f), 0);
    char err[STORE_ERR_MAX];
    f->s = store_open(f->loc, err, sizeof(err));
    if (f->s == NULL)
        fail_msg("%s", err);
    assert_int_equal(in_schema(f, "SELECT version FROM @.vantage_schema"), 5);
    assert_int_equal(fillfactor_tables(f), 2);
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
    cmocka_unit_test_setup_teardown(test_two_connections, SETUP, TEARDOWN)

int main(void)
{
    const struct CMUnitTest sqlite_tests[] = {
        CONTRACT_TESTS(setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_migrate_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fresh_file_is_migrated_from_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_from_schema_7, setup, teardown),
        cmocka_unit_test(test_location_redact),
        cmocka_unit_test_setup_teardown(test_error_paths, setup, teardown),
    };
    const struct CMUnitTest pg_tests[] = {
        CONTRACT_TESTS(pg_setup, pg_teardown),
        cmocka_unit_test_setup_teardown(test_pg_open_migrate_reopen, pg_setup, pg_teardown),
        cmocka_unit_test_setup_teardown(test_pg_partitions, pg_setup, pg_teardown),
        cmocka_unit_test_setup_teardown(test_pg_from_schema_3, pg_setup, pg_teardown),
        cmocka_unit_test_setup_teardown(test_pg_from_schema_4, pg_setup, pg_teardown),
        cmocka_unit_test_setup_teardown(test_pg_two_collectors, pg_setup, pg_teardown),
        cmocka_unit_test_setup_teardown(test_pg_error_paths, pg_setup, pg_teardown),
    };
    return STORE_TEST_RUN(sqlite_tests, pg_tests);
}
