/*
 * diagnose-bench — fills a store with a week of history and times
 * diagnose and compare on it (issue 5: "a store filled with 7 days of
 * 1-minute results from 200 agents on 20 networks, 6 checks each (about
 * 12 million results): diagnose and compare latency, under 50 ms each").
 *
 *   diagnose-bench gen  --db PATH [--agents N] [--networks N] [--days D | --hours H]
 *                              [--changes N]
 *   diagnose-bench time --db PATH [--runs N] [--show]
 *
 * gen: the history up to one hour ago goes into the results table with
 * the store's own INSERT (STORE_SQLITE_RESULT_INSERT) and a real encoded
 * record per row, 50 000 rows per transaction: it is a fixture, and the
 * store's ingest path would take an hour for 12 M rows. With --db
 * postgresql://... (an empty database) the same rows go in with the
 * store's own binary COPY (STORE_PG_RESULT_COPY, store_pg_copy_row) into
 * the day partitions the collector makes, followed by VACUUM ANALYZE, as
 * autovacuum would have run on a week-old table. The last hour
 * goes through the real ingest path (changes_facts, store_result_add_facts,
 * changes_record), so the latest states, streaks, episodes and changes
 * are exactly what the collector keeps. It ends at the wall clock's now
 * with: net03's agents failing imaps for 20 minutes (network), a150
 * failing submission (device), a077 flapping on pop3s, a certificate
 * change 25 minutes ago, and 5 000 older changes spread over the week
 * (--changes: fewer for a quick fixture, tests/integration/migrate_store.sh).
 *
 * time: the median and maximum of N in-process runs of what the CLI does
 * (report_snapshot_load, analysis_diagnose, the printed report, for
 * diagnose --json and for compare --json), with the wall clock as now.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "analysis.h"
#include "changes.h"
#include "clock.h"
#include "report.h"
#include "store.h"
#include "store_impl.h"
#include "store_pg.h"
#include "wire.h"

#define CHECKS    6
#define MINUTE_US (60LL * 1000000)
/* Rows per raw transaction: big enough that the commit cost vanishes. */
#define TXN_ROWS 50000
#define RUNS_MAX 1001

static const char *const checks[CHECKS] = {
    "imaps://mail.example.com", "submission://mail.example.com",
    "pop3s://mail.example.com", "https://webmail.example.com/",
    "dns://example.com/MX",     "dns://_imaps._tcp.example.com/SRV",
};

struct opts {
    const char *db;
    int agents, networks, days, runs, changes;
    int hours; /* --hours: instead of days, for a quick fixture; 0 = days */
    bool show; /* --show: print the diagnosis that was timed */
};

static void die(const char *what, const char *why)
{
    fprintf(stderr, "diagnose-bench: %s: %s\n", what, why);
    exit(2);
}

/* Whether the store is PostgreSQL (postgresql://... or postgres://...). */
static bool is_pg(const char *db)
{
    return strncmp(db, "postgres", 8) == 0;
}

/* A realistic result of check c by an agent at time at. */
static void make(struct result *r, int c, int64_t at, enum result_error e, const char *cert)
{
    result_init(r);
    result_set_str(&r->target, "corp");
    result_set_str(&r->check, checks[c]);
    r->started_at_us = at;
    r->ok = e == RESULT_OK;
    r->error = e;
    r->layer = r->ok ? RESULT_LAYER_NONE : result_error_layer(e);
    if (!r->ok)
        result_set_str(&r->detail, result_error_hint(e));
    r->phases_us[RESULT_PHASE_DNS] = 800;
    if (c < 4) {
        result_set_str(&r->address, "203.0.113.10");
        r->port = (uint16_t)(c == 0 ? 993 : c == 1 ? 587 : c == 2 ? 995 : 443);
        r->phases_us[RESULT_PHASE_CONNECT] = 10000 + (uint64_t)(at / 1000 % 5000);
        r->phases_us[RESULT_PHASE_TLS] = 30000;
        struct result_tls *t = result_tls_new(r);
        result_set_str(&t->version, "TLSv1.3");
        result_set_str(&t->subject, "CN=mail.example.com");
        result_set_str(&t->sha256, cert);
        result_set_str(&r->banner, "* OK [CAPABILITY IMAP4rev1] Dovecot ready.");
    } else {
        struct result_dns *d = result_add_dns(r);
        result_set_str(&d->name, c == 4 ? "example.com" : "_imaps._tcp.example.com");
        result_set_str(&d->type, c == 4 ? "MX" : "SRV");
        result_set_str(&d->rcode, "NOERROR");
        result_list_add(&d->answers, &d->nanswers,
                        c == 4 ? "10 mail.example.com" : "0 1 993 mail.example.com");
    }
    r->phases_us[RESULT_PHASE_TOTAL] = 45000;
}

static int64_t id_of(sqlite3 *db, const char *sql, const char *name)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        die("prepare", sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int64_t id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (id == 0)
        die("no id for", name);
    return id;
}

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        die(sql, msg ? msg : "?");
}

/* What one agent's result at minute m of the last hour is. */
static enum result_error scenario(int agent, int net, int c, int m)
{
    if (net == 3 && c == 0 && m >= 40)
        return RESULT_TCP_TIMEOUT;
    if (agent == 150 && c == 1 && m >= 50)
        return RESULT_TCP_TIMEOUT;
    if (agent == 77 && c == 2 && m >= 45 && m % 2 == 0)
        return RESULT_PROTO_TIMEOUT;
    return RESULT_OK;
}

/* What the history needs: the agents and their networks, one encoded
 * record per check, and the time range. */
struct hist {
    int agents;
    const int64_t *ids;
    char (*nets)[16];
    uint8_t *rec[CHECKS];
    size_t reclen[CHECKS];
    int64_t start, hour_ago, hist_minutes;
    int changes; /* older changes to spread over the history */
};

/* One result in 500 fails, as real history does. */
static bool hist_fails(int64_t m, int a, int c)
{
    return (m * 7 + a * 13 + c) % 500 == 0;
}

/* The history up to an hour ago, with the store's own INSERT; returns the
 * rows written. */
static size_t history_sqlite(const struct opts *o, const struct hist *h)
{
    int64_t start = h->start, hour_ago = h->hour_ago, hist_minutes = h->hist_minutes;
    const int64_t *ids = h->ids;

    sqlite3 *db;
    if (sqlite3_open(o->db, &db) != SQLITE_OK)
        die(o->db, "cannot open");
    exec(db, "PRAGMA synchronous=NORMAL");
    int64_t target_id = id_of(db, "SELECT id FROM targets WHERE name = ?1", "corp");
    int64_t check_id[CHECKS];
    for (int c = 0; c < CHECKS; c++)
        check_id[c] = id_of(db, "SELECT id FROM checks WHERE name = ?1", checks[c]);
    int64_t *net_id = calloc((size_t)o->agents, sizeof(*net_id));
    if (net_id == NULL)
        die("gen", "out of memory");
    for (int a = 0; a < o->agents; a++)
        net_id[a] = id_of(db, "SELECT id FROM networks WHERE name = ?1", h->nets[a]);
    sqlite3_stmt *ins;
    if (sqlite3_prepare_v2(db, STORE_SQLITE_RESULT_INSERT, -1, &ins, NULL) != SQLITE_OK)
        die("prepare", sqlite3_errmsg(db));
    size_t rows = 0;
    exec(db, "BEGIN");
    for (int64_t m = 0; m < hist_minutes; m++) {
        int64_t at = start + m * MINUTE_US;
        for (int a = 0; a < o->agents; a++) {
            for (int c = 0; c < CHECKS; c++) {
                bool fail = hist_fails(m, a, c);
                sqlite3_bind_int64(ins, 1, ids[a]);
                sqlite3_bind_int64(ins, 2, 100 + m * CHECKS + c);
                sqlite3_bind_int64(ins, 3, net_id[a]);
                sqlite3_bind_int64(ins, 4, target_id);
                sqlite3_bind_int64(ins, 5, check_id[c]);
                sqlite3_bind_int64(ins, 6, at + a * 1000);
                sqlite3_bind_int(ins, 7, !fail);
                sqlite3_bind_int(ins, 8, fail ? RESULT_LAYER_TCP : RESULT_LAYER_NONE);
                sqlite3_bind_int(ins, 9, fail ? RESULT_TCP_TIMEOUT : RESULT_OK);
                sqlite3_bind_int64(ins, 10, 45000);
                sqlite3_bind_blob(ins, 11, h->rec[c], (int)h->reclen[c], SQLITE_STATIC);
                if (sqlite3_step(ins) != SQLITE_DONE)
                    die("insert", sqlite3_errmsg(db));
                sqlite3_reset(ins);
                if (++rows % TXN_ROWS == 0) {
                    exec(db, "COMMIT");
                    exec(db, "BEGIN");
                }
            }
        }
    }
    exec(db, "COMMIT");
    sqlite3_finalize(ins);
    /* Older changes, as a week of DNS and certificate churn leaves them. */
    exec(db, "BEGIN");
    sqlite3_stmt *ch;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO changes(at_us, agent_id, target_id, kind, subject, before,"
                           " after) VALUES (?1, ?2, ?3, 'address_changed', 'mail.example.com',"
                           " '203.0.113.9', '203.0.113.10')",
                           -1, &ch, NULL) != SQLITE_OK)
        die("prepare", sqlite3_errmsg(db));
    for (int i = 0; i < h->changes; i++) {
        sqlite3_bind_int64(ch, 1, start + (hour_ago - start) / h->changes * i);
        sqlite3_bind_int64(ch, 2, ids[i % o->agents]);
        sqlite3_bind_int64(ch, 3, target_id);
        sqlite3_step(ch);
        sqlite3_reset(ch);
    }
    sqlite3_finalize(ch);
    exec(db, "COMMIT");
    exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    sqlite3_close(db);
    free(net_id);
    return rows;
}

static void pg_check(PGresult *res, ExecStatusType want, const char *what)
{
    if (PQresultStatus(res) != want)
        die(what, PQresultErrorMessage(res));
    PQclear(res);
}

static int64_t pg_id_of(PGconn *conn, const char *table, const char *name)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT id FROM %s WHERE name = $1", table);
    PGresult *res = PQexecParams(conn, sql, 1, NULL, &name, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        die("no id for", name);
    int64_t id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return id;
}

/* The same history with the store's own binary COPY, one COPY per
 * TXN_ROWS rows, into the collector's day partitions (made first, as a
 * collector running through the week would have). Returns the rows. */
static size_t history_pg(struct store *s, const struct hist *h)
{
    char err[STORE_ERR_MAX];
    void *b = store_backend(s, NULL);
    PGconn *conn = store_pg_conn(b);
    for (int64_t d = h->start; d < h->hour_ago + STORE_PG_DAY_US; d += STORE_PG_DAY_US)
        if (store_pg_partition_ensure(b, d, err, sizeof(err)) < 0)
            die("partition", err);
    int64_t target_id = pg_id_of(conn, "targets", "corp");
    int64_t check_id[CHECKS];
    for (int c = 0; c < CHECKS; c++)
        check_id[c] = pg_id_of(conn, "checks", checks[c]);
    int64_t *net_id = calloc((size_t)h->agents, sizeof(*net_id));
    if (net_id == NULL)
        die("gen", "out of memory");
    for (int a = 0; a < h->agents; a++)
        net_id[a] = pg_id_of(conn, "networks", h->nets[a]);
    struct store_pg_copy cp = {0};
    if (store_pg_copy_init(&cp) < 0)
        die("gen", "out of memory");
    size_t rows = 0;
    for (int64_t m = 0; m < h->hist_minutes; m++) {
        for (int a = 0; a < h->agents; a++) {
            for (int c = 0; c < CHECKS; c++) {
                bool fail = hist_fails(m, a, c);
                struct store_pg_row r = {.agent_id = h->ids[a],
                                         .seq = 100 + m * CHECKS + c,
                                         .network_id = net_id[a],
                                         .target_id = target_id,
                                         .check_id = check_id[c],
                                         .started_at_us = h->start + m * MINUTE_US + a * 1000,
                                         .ok = !fail,
                                         .layer = fail ? RESULT_LAYER_TCP : RESULT_LAYER_NONE,
                                         .error = fail ? RESULT_TCP_TIMEOUT : RESULT_OK,
                                         .total_us = 45000,
                                         .record = h->rec[c],
                                         .len = h->reclen[c]};
                if (store_pg_copy_row(&cp, &r) < 0)
                    die("gen", "out of memory");
                if (++rows % TXN_ROWS != 0)
                    continue;
                if (store_pg_copy_send(conn, &cp, "history", err, sizeof(err)) < 0)
                    die("copy", err);
                if (store_pg_copy_init(&cp) < 0)
                    die("gen", "out of memory");
            }
        }
    }
    if (cp.rows > 0 && store_pg_copy_send(conn, &cp, "history", err, sizeof(err)) < 0)
        die("copy", err);
    store_pg_copy_free(&cp);
    /* The stored sets, as ingest keeps them: seeds 1..6, history from 100. */
    char stored[96];
    snprintf(stored, sizeof(stored), "{[1,7),[100,%lld)}",
             (long long)(100 + h->hist_minutes * CHECKS));
    const char *p[] = {stored};
    pg_check(PQexecParams(conn, "UPDATE agents SET stored = $1::int8multirange", 1, NULL, p, NULL,
                          NULL, 0),
             PGRES_COMMAND_OK, "stored sets");
    char sql[512];
    snprintf(sql, sizeof(sql),
             "INSERT INTO changes(at_us, agent_id, target_id, kind, subject, before, after)"
             " SELECT %lld + %lld * i, (SELECT id FROM agents ORDER BY id OFFSET i %% %d LIMIT 1),"
             " %lld, 'address_changed', 'mail.example.com', '203.0.113.9', '203.0.113.10'"
             " FROM generate_series(0::bigint, %d) i",
             (long long)h->start, (long long)((h->hour_ago - h->start) / h->changes), h->agents,
             (long long)target_id, h->changes - 1);
    pg_check(PQexec(conn, sql), PGRES_COMMAND_OK, "changes");
    pg_check(PQexec(conn, "VACUUM ANALYZE"), PGRES_COMMAND_OK, "vacuum");
    free(net_id);
    return rows;
}

static void gen(const struct opts *o)
{
    char err[STORE_ERR_MAX];
    if (!is_pg(o->db))
        remove(o->db);
    struct store *s = store_open(o->db, err, sizeof(err));
    if (s == NULL)
        die(o->db, err);
    int64_t now = clock_wall_us();
    int64_t hour_ago = now - 60 * MINUTE_US;
    int64_t start = now - (int64_t)(o->hours > 0 ? o->hours : o->days * 24) * 60 * MINUTE_US;
    int64_t hist_minutes = (hour_ago - start) / MINUTE_US;
    int64_t *ids = calloc((size_t)o->agents, sizeof(*ids));
    char(*names)[16] = calloc((size_t)o->agents, sizeof(*names));
    char(*nets)[16] = calloc((size_t)o->agents, sizeof(*nets));
    if (!ids || !names || !nets)
        die("gen", "out of memory");

    /* Agents, and one result per (agent, check) through the store so that
     * the names are interned exactly as ingest does. */
    if (store_begin(s) < 0)
        die("begin", store_error(s));
    for (int a = 0; a < o->agents; a++) {
        snprintf(names[a], sizeof(names[a]), "a%03d", a);
        snprintf(nets[a], sizeof(nets[a]), "net%02d", a % o->networks);
        if (store_agent_id(s, names[a], &ids[a]) < 0)
            die("agent", store_error(s));
        struct store_agent ag = {.name = names[a],
                                 .site = nets[a],
                                 .network = nets[a],
                                 .version = "0.1.0",
                                 .address = "198.51.100.1",
                                 .netctx = "{\"addresses\":[],\"gateway\":\"198.18.0.1\","
                                           "\"resolvers\":[\"198.18.0.1\"]}",
                                 .first_seen_us = start,
                                 .last_seen_us = now};
        if (store_agent_update(s, ids[a], &ag) < 0)
            die("agent", store_error(s));
    }
    if (store_commit(s) < 0)
        die("commit", store_error(s));

    /* Template records, one per check, for the raw history. */
    uint8_t *rec[CHECKS];
    size_t reclen[CHECKS];
    for (int c = 0; c < CHECKS; c++) {
        struct result r;
        make(&r, c, start, RESULT_OK, "aa11");
        r.has_seq = true;
        r.seq = 1;
        if (wire_result_encode(&r, &rec[c], &reclen[c]) < 0)
            die("encode", "out of memory");
        result_clear(&r);
    }
    /* Interned ids: a first ingest of one result per check and network. */
    if (store_begin(s) < 0)
        die("begin", store_error(s));
    for (int c = 0; c < CHECKS; c++) {
        struct result r;
        make(&r, c, start - MINUTE_US, RESULT_OK, "aa11");
        r.has_seq = true;
        r.seq = (uint64_t)(c + 1);
        for (int a = 0; a < o->agents; a++)
            if (store_result_add(s, ids[a], nets[a], &r, rec[c], reclen[c]) < 0)
                die("seed", store_error(s));
        result_clear(&r);
    }
    if (store_commit(s) < 0)
        die("commit", store_error(s));
    struct hist h = {.agents = o->agents,
                     .ids = ids,
                     .nets = nets,
                     .start = start,
                     .hour_ago = hour_ago,
                     .hist_minutes = hist_minutes,
                     .changes = o->changes};
    memcpy(h.rec, rec, sizeof(rec));
    memcpy(h.reclen, reclen, sizeof(reclen));
    uint64_t t0 = clock_mono_us();
    size_t rows;
    if (is_pg(o->db)) {
        rows = history_pg(s, &h);
        store_close(&s);
    } else {
        store_close(&s);
        rows = history_sqlite(o, &h);
    }
    uint64_t t1 = clock_mono_us();
    fprintf(stderr, "history: %zu rows in %.1f s (%.0f rows/s)\n", rows, (double)(t1 - t0) / 1e6,
            (double)rows / ((double)(t1 - t0) / 1e6));

    /* The last hour through the ingest path. */
    s = store_open(o->db, err, sizeof(err));
    if (s == NULL)
        die(o->db, err);
    size_t live = 0;
    for (int m = 0; m < 60; m++) {
        if (store_begin(s) < 0)
            die("begin", store_error(s));
        for (int a = 0; a < o->agents; a++) {
            int net = a % o->networks;
            for (int c = 0; c < CHECKS; c++) {
                struct result r;
                enum result_error e = scenario(a, net, c, m);
                make(&r, c, hour_ago + m * MINUTE_US + a * 1000, e, m < 35 ? "aa11" : "bb22");
                r.has_seq = true;
                r.seq = (uint64_t)(100 + hist_minutes * CHECKS + m * CHECKS + c);
                uint8_t *buf;
                size_t len;
                if (wire_result_encode(&r, &buf, &len) < 0)
                    die("encode", "out of memory");
                char text[CHANGES_TEXT_MAX];
                struct store_facts facts;
                struct store_prev prev;
                changes_facts(&r, &facts, text, sizeof(text));
                int rc = store_result_add_facts(s, ids[a], nets[a], &r, buf, len, &facts, &prev);
                if (rc < 0 || (rc == 1 && changes_record(s, names[a], &r, &facts, &prev) < 0))
                    die("ingest", store_error(s));
                free(buf);
                result_clear(&r);
                live++;
            }
        }
        if (store_commit(s) < 0)
            die("commit", store_error(s));
    }
    store_close(&s);
    fprintf(stderr, "last hour: %zu results through ingest (%.1f s)\n", live,
            (double)(clock_mono_us() - t1) / 1e6);
    for (int c = 0; c < CHECKS; c++)
        free(rec[c]);
    free(ids);
    free(names);
    free(nets);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* One run of what `diagnose corp --json` (compare: `compare corp --json`)
 * does after opening the store; returns the microseconds taken. */
static uint64_t one(struct store *s, const struct wire_target *t, int64_t now, bool compare,
                    FILE *sink, size_t *nfindings)
{
    char err[STORE_ERR_MAX + 128];
    uint64_t t0 = clock_mono_us();
    struct report_snapshot *snap = report_snapshot_load(s, t, now, false, err, sizeof(err));
    if (snap == NULL)
        die("load", err);
    struct analysis_diagnosis d;
    if (analysis_diagnose(report_snapshot_input(snap), &d, err, sizeof(err)) < 0)
        die("diagnose", err);
    int rc = compare ? report_compare(sink, report_snapshot_input(snap), &d, true, false)
                     : report_diagnose(sink, report_snapshot_input(snap), &d, true);
    if (rc < 0)
        die("report", "output error");
    fflush(sink);
    *nfindings = d.nfindings;
    analysis_diagnosis_clear(&d);
    report_snapshot_destroy(&snap);
    return clock_mono_us() - t0;
}

/* The time of the newest latest state. */
static int64_t latest_at(struct store *s, const char *db)
{
    int64_t at = 0;
    if (is_pg(db)) {
        PGresult *res =
            PQexec(store_pg_conn(store_backend(s, NULL)), "SELECT max(at_us) FROM latest");
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
            die(db, "cannot read the latest state");
        at = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        return at;
    }
    sqlite3 *h;
    sqlite3_stmt *st = NULL;
    if (sqlite3_open(db, &h) != SQLITE_OK ||
        sqlite3_prepare_v2(h, "SELECT max(at_us) FROM latest", -1, &st, NULL) != SQLITE_OK)
        die(db, "cannot read the latest state");
    if (sqlite3_step(st) == SQLITE_ROW)
        at = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return at;
}

static void timeit(const struct opts *o)
{
    char err[STORE_ERR_MAX];
    struct store *s = store_open(o->db, err, sizeof(err));
    if (s == NULL)
        die(o->db, err);
    FILE *sink = fopen("/dev/null", "w");
    if (sink == NULL)
        die("/dev/null", "cannot open");
    struct wire_target t = {
        .name = "corp", .domain = "example.com", .interval_ms = 60000, .timeout_ms = 10000};
    static uint64_t us[RUNS_MAX];
    /* "Now" is the end of the generated data, so that the timing does not
     * depend on how long ago gen ran (states go stale after 3 minutes). */
    int64_t now = latest_at(s, o->db) + MINUTE_US / 2;
    for (int pass = 0; pass < 2; pass++) {
        size_t nf = 0;
        for (int i = 0; i < o->runs; i++)
            us[i] = one(s, &t, now, pass == 1, sink, &nf);
        qsort(us, (size_t)o->runs, sizeof(us[0]), cmp_u64);
        printf("%s (in-process, %d runs): median %.2f ms, max %.2f ms, %zu findings\n",
               pass ? "compare --json" : "diagnose --json", o->runs,
               (double)us[o->runs / 2] / 1000.0, (double)us[o->runs - 1] / 1000.0, nf);
    }
    fclose(sink);
    /* What was timed, for a person to check: the diagnosis as JSON. */
    if (o->show) {
        size_t nf;
        one(s, &t, now, false, stdout, &nf);
    }
    store_close(&s);
}

int main(int argc, char **argv)
{
    struct opts o = {.agents = 200, .networks = 20, .days = 7, .runs = 21, .changes = 5000};
    if (argc < 2)
        die("usage", "diagnose-bench gen|time --db PATH [--agents N] [--networks N] [--days D] "
                     "[--hours H] [--changes N] [--runs N]");
    for (int i = 2; i < argc; i += 2) {
        if (strcmp(argv[i], "--show") == 0) {
            o.show = true;
            i--;
            continue;
        }
        if (i + 1 >= argc)
            die("option needs a value", argv[i]);
        if (strcmp(argv[i], "--db") == 0)
            o.db = argv[i + 1];
        else if (strcmp(argv[i], "--agents") == 0)
            o.agents = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--networks") == 0)
            o.networks = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--days") == 0)
            o.days = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--hours") == 0)
            o.hours = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--changes") == 0)
            o.changes = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--runs") == 0)
            o.runs = atoi(argv[i + 1]);
        else
            die("unknown option", argv[i]);
    }
    if (o.db == NULL || o.agents < 1 || o.networks < 1 || o.days < 1 || o.hours < 0 ||
        o.hours == 1 || o.runs < 1 || o.changes < 1 || o.runs > RUNS_MAX || o.agents > 10000)
        die("usage", "needs --db PATH and positive counts (runs <= 1001, agents <= 10000)");
    if (strcmp(argv[1], "gen") == 0)
        gen(&o);
    else if (strcmp(argv[1], "time") == 0)
        timeit(&o);
    else
        die("unknown command", argv[1]);
    return 0;
}
