/*
 * pgtest — the throwaway PostgreSQL 15 server of one unit test run
 * (tests/servers/pg-up), shared by the test files that need one: a group
 * setup starts it (or says why it cannot, and the group's tests skip),
 * the group teardown stops it, two helpers run SQL as its superuser, and
 * pg_schema gives each test a schema of its own with the store location
 * that uses it.
 * Include it after cmocka.h; every function is static inline, so that a
 * file may use some of them.
 */
#ifndef VANTAGE_TEST_PGTEST_H
#define VANTAGE_TEST_PGTEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

/* The PostgreSQL server of this run (group state). */
struct pg_server {
    char dir[256];    /* "" = none could be started */
    char why[512];    /* why not */
    unsigned schemas; /* schemas made so far: one per test */
};

static inline int pg_group_setup(void **state)
{
    struct pg_server *g = calloc(1, sizeof(*g));
    assert_non_null(g);
    *state = g;
    const char *src = getenv("VANTAGE_SOURCE_DIR");
    char cmd[512], out[] = "/tmp/vantage-test-store-pg-XXXXXX";
    int fd = mkstemp(out);
    assert_true(fd >= 0);
    close(fd);
    snprintf(cmd, sizeof(cmd), "'%s/tests/servers/pg-up' >'%s' 2>&1", src ? src : ".", out);
    int rc = system(cmd);
    FILE *fp = fopen(out, "r");
    char line[512] = "";
    if (fp != NULL) {
        if (fgets(line, sizeof(line), fp) == NULL)
            line[0] = '\0';
        fclose(fp);
    }
    unlink(out);
    line[strcspn(line, "\n")] = '\0';
    if (rc != 0 || line[0] != '/') {
        snprintf(g->why, sizeof(g->why), "no PostgreSQL server could be started (%s%s)",
                 src ? "" : "VANTAGE_SOURCE_DIR unset; ", line);
        fprintf(stderr, "SKIP [postgresql group]: %s\n", g->why);
        return 0;
    }
    snprintf(g->dir, sizeof(g->dir), "%s", line);
    return 0;
}

static inline int pg_group_teardown(void **state)
{
    struct pg_server *g = *state;
    const char *src = getenv("VANTAGE_SOURCE_DIR");
    if (g->dir[0] != '\0') {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "'%s/tests/servers/pg-down' '%s'", src ? src : ".", g->dir);
        assert_int_equal(system(cmd), 0);
    }
    free(g);
    return 0;
}

/* Runs sql as the server's superuser in database "postgres". */
static inline void pg_admin(const struct pg_server *g, const char *sql)
{
    char conninfo[400];
    snprintf(conninfo, sizeof(conninfo),
             "host=%s user=vantage_admin dbname=postgres options=-cclient_min_messages=warning",
             g->dir);
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("admin connection: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/* The first value of sql's first row, as the superuser, -1 when none. */
static inline long long pg_int(const struct pg_server *g, const char *sql)
{
    char conninfo[400];
    snprintf(conninfo, sizeof(conninfo), "host=%s user=vantage_admin dbname=postgres", g->dir);
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("admin connection: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    long long v = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    PQfinish(c);
    return v;
}

/* pg_int with each '@' of sql replaced by schema (a test's pg_schema). */
static inline long long pg_int_in(const struct pg_server *g, const char *schema, const char *sql)
{
    char out[1000];
    size_t n = 0, len = strlen(schema);
    for (const char *c = sql; *c && n + len + 1 < sizeof(out); c++) {
        if (*c == '@')
            n += (size_t)snprintf(out + n, sizeof(out) - n, "%s", schema);
        else
            out[n++] = *c;
    }
    out[n] = '\0';
    return pg_int(g, out);
}

/* Skips the calling test when the group has no server (the group setup
 * said why). */
static inline void pg_require(const struct pg_server *g)
{
    if (g->dir[0] == '\0')
        skip();
}

/* A new schema (prefix and a number) in database "postgres" and the
 * store location whose search_path is that schema: cheaper than a
 * database per test. */
static inline void pg_schema(struct pg_server *g, char prefix, char *name, size_t namelen,
                             char *loc, size_t loclen)
{
    char sql[80];
    snprintf(name, namelen, "%c%u", prefix, ++g->schemas);
    snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", name);
    pg_admin(g, sql);
    snprintf(loc, loclen,
             "postgresql:///postgres?host=%s&user=vantage_admin&options=-csearch_path%%3D%s",
             g->dir, name);
}

#endif
