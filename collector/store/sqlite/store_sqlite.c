/*
 * store_sqlite — the sqlite3 backend of the store (store.h, store_impl.h):
 * the connection, its schema and migrations, and transactions. Ingest
 * (store_sqlite_ingest.c), the readers (store_sqlite_read.c) and findings
 * (store_sqlite_findings.c) work on the connection this file opens.
 *
 * One connection per store, used from one thread. Ingest is the hot path:
 * store_result_add() is one cached INSERT with interned ids (targets,
 * checks and networks are looked up in in-memory caches, never with a
 * per-row SELECT); the latest state and the agents' committed_seq are
 * kept in memory for the keys a transaction touches and written once, at
 * commit.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store_impl.h"
#include "store_sqlite.h"

/* How long a writer waits for another connection's lock (a CLI reader
 * checkpointing, a second collector by mistake) before failing: longer
 * than any of our transactions, short enough that an operator sees the
 * error instead of a hang. */
#define BUSY_TIMEOUT_MS 5000

/* ---- schema ---------------------------------------------------------------
 *
 * Migrations are applied in order, each once, inside one transaction with
 * PRAGMA user_version = its number. Append, never edit: a database in the
 * field has run the old text. layer and error hold the enum values of
 * common/result.h, whose order is a contract (fields are only appended).
 */
static const char *const migrations[] = {
    /* 1: agents, interned names, results, latest state, changes. */
    "CREATE TABLE agents ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  site TEXT,"
    "  network TEXT,"
    "  version TEXT,"
    "  address TEXT,"
    "  netctx TEXT,"
    "  first_seen_us INTEGER NOT NULL DEFAULT 0,"
    "  last_seen_us INTEGER NOT NULL DEFAULT 0,"
    "  spool_dropped INTEGER NOT NULL DEFAULT 0,"
    "  spool_pending INTEGER NOT NULL DEFAULT 0,"
    "  committed_seq INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE targets (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE checks (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE networks (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    /* results has no REFERENCES: they would cost four parent lookups per
     * row on the hot path (a third of the insert rate), and every id in
     * it comes from the store itself (interned names, agent ids checked
     * against the agents the store knows). One index serves time ranges
     * with or without a target (see results_each); a second index on
     * started_at alone would cost another random insert per row. */
    "CREATE TABLE results ("
    "  id INTEGER PRIMARY KEY,"
    "  agent_id INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  network_id INTEGER,"
    "  target_id INTEGER NOT NULL,"
    "  check_id INTEGER NOT NULL,"
    "  started_at_us INTEGER NOT NULL,"
    "  ok INTEGER NOT NULL,"
    "  layer INTEGER NOT NULL,"
    "  error INTEGER NOT NULL,"
    "  total_us INTEGER NOT NULL,"
    "  record BLOB NOT NULL,"
    "  UNIQUE (agent_id, seq));"
    "CREATE INDEX results_target_time ON results(target_id, started_at_us);"
    "CREATE TABLE latest ("
    "  agent_id INTEGER NOT NULL REFERENCES agents(id),"
    "  target_id INTEGER NOT NULL REFERENCES targets(id),"
    "  check_id INTEGER NOT NULL REFERENCES checks(id),"
    "  network_id INTEGER REFERENCES networks(id),"
    "  discovered INTEGER NOT NULL,"
    "  ok INTEGER NOT NULL,"
    "  layer INTEGER NOT NULL,"
    "  error INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  at_us INTEGER NOT NULL,"
    "  since_us INTEGER NOT NULL,"
    "  total_us INTEGER NOT NULL,"
    "  detail TEXT,"
    "  PRIMARY KEY (agent_id, target_id, check_id)) WITHOUT ROWID;"
    "CREATE TABLE changes ("
    "  id INTEGER PRIMARY KEY,"
    "  at_us INTEGER NOT NULL,"
    "  agent_id INTEGER REFERENCES agents(id),"
    "  target_id INTEGER REFERENCES targets(id),"
    "  kind TEXT NOT NULL,"
    "  subject TEXT,"
    "  before TEXT,"
    "  after TEXT);"
    "CREATE INDEX changes_time ON changes(at_us);"
    "CREATE INDEX changes_target_time ON changes(target_id, at_us);",
    /* 2: episodes (flapping), the latest failure's classification, the
     * slowest phase, and the last known facts change detection compares
     * (hashes for the hot path, texts for the "before" of a change).
     * Rows from version 1 that are failing start their episode at their
     * streak. */
    "ALTER TABLE latest ADD COLUMN episode_us INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE latest ADD COLUMN flips INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE latest ADD COLUMN streak_n INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE latest ADD COLUMN fail_layer INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE latest ADD COLUMN fail_error INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE latest ADD COLUMN phase INTEGER NOT NULL DEFAULT 7;"
    "ALTER TABLE latest ADD COLUMN phase_us INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE latest ADD COLUMN dns_hash INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE latest ADD COLUMN dns TEXT;"
    "ALTER TABLE latest ADD COLUMN addr_hash INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE latest ADD COLUMN address TEXT;"
    "ALTER TABLE latest ADD COLUMN cert_hash INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE latest ADD COLUMN cert TEXT;"
    "UPDATE latest SET episode_us = since_us, fail_layer = layer, fail_error = error"
    " WHERE ok = 0;",
    /* 3: results that never arrived, counted where the agent's sequence
     * jumps (store_agent_lost_add). */
    "ALTER TABLE agents ADD COLUMN lost INTEGER NOT NULL DEFAULT 0;",
    /* 4: how long the latest test mail of a mailflow:// check took to
     * arrive (0: none arrived, or not a mailflow check), for the
     * delivery_slow warning; the result's full delivery facts stay in
     * its record. */
    "ALTER TABLE latest ADD COLUMN delivery_us INTEGER NOT NULL DEFAULT 0;",
    /* 5: continuous diagnosis (store_sqlite_findings.c): each finding's
     * life, its opened/changed/resolved events, and the notifications not
     * yet delivered. */
    "CREATE TABLE findings ("
    " id TEXT PRIMARY KEY, target TEXT NOT NULL, severity TEXT NOT NULL,"
    " verdict TEXT NOT NULL, layer TEXT, state INTEGER NOT NULL,"
    " seen INTEGER NOT NULL, clean INTEGER NOT NULL, first_seen_us INTEGER NOT NULL,"
    " opened_at_us INTEGER NOT NULL, resolved_at_us INTEGER NOT NULL,"
    " started_at_us INTEGER NOT NULL, updated_at_us INTEGER NOT NULL, json TEXT NOT NULL);"
    "CREATE INDEX findings_state ON findings(state, target);"
    "CREATE TABLE finding_events ("
    " seq INTEGER PRIMARY KEY, finding_id TEXT NOT NULL, target TEXT NOT NULL,"
    " at_us INTEGER NOT NULL, event TEXT NOT NULL, json TEXT NOT NULL);"
    "CREATE INDEX finding_events_time ON finding_events(at_us);"
    "CREATE TABLE notifications ("
    " id INTEGER PRIMARY KEY, notifier TEXT NOT NULL, kind TEXT NOT NULL,"
    " finding_id TEXT NOT NULL, event TEXT NOT NULL, body TEXT NOT NULL,"
    " attempts INTEGER NOT NULL, created_us INTEGER NOT NULL, next_at_us INTEGER NOT NULL);"
    "CREATE INDEX notifications_order ON notifications(notifier, finding_id, id);",
    /* 6: retention (store_sqlite_retention.c): hourly aggregates per
     * (target, check, network) that outlive raw results, and the highest
     * results.id they count (every row up to it is counted exactly once;
     * pruning never removes the row of the highest id, so ids are never
     * reused below it, nor the latest result of a key). Results stored
     * before this version are rolled up by the first store_rollup()
     * calls. */
    "CREATE TABLE rollups ("
    " target_id INTEGER NOT NULL, check_id INTEGER NOT NULL, network_id INTEGER NOT NULL,"
    " hour_us INTEGER NOT NULL, n INTEGER NOT NULL, ok INTEGER NOT NULL,"
    " total_us_sum INTEGER NOT NULL, total_us_max INTEGER NOT NULL,"
    " first_fail_us INTEGER NOT NULL, fail_layer INTEGER NOT NULL, fail_error INTEGER NOT NULL,"
    " PRIMARY KEY (target_id, check_id, network_id, hour_us)) WITHOUT ROWID;"
    "CREATE INDEX rollups_hour ON rollups(hour_us);"
    "CREATE TABLE rollup_state (one INTEGER PRIMARY KEY CHECK (one = 1),"
    " rolled_id INTEGER NOT NULL);"
    "INSERT INTO rollup_state VALUES (1, 0);"
    /* pruning keeps each key's latest result: found by (agent, seq) */
    "CREATE INDEX latest_agent_seq ON latest(agent_id, seq);",
    /* 7 (issue 13's "several collectors"): the registry of running
     * collectors, leases, and the probe-now queue with its answers
     * (store_sqlite_cluster.c). */
    "CREATE TABLE collectors ("
    " id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL,"
    " started_us INTEGER NOT NULL, heartbeat_us INTEGER NOT NULL, version TEXT NOT NULL,"
    " targets TEXT NOT NULL, agents INTEGER NOT NULL);"
    "CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL,"
    " expires_us INTEGER NOT NULL);"
    "CREATE TABLE probe_requests ("
    " id INTEGER PRIMARY KEY, target TEXT NOT NULL, created_us INTEGER NOT NULL,"
    " expires_us INTEGER NOT NULL);"
    "CREATE TABLE probe_answers ("
    " request_id INTEGER NOT NULL, collector TEXT NOT NULL, agents TEXT NOT NULL,"
    " at_us INTEGER NOT NULL, PRIMARY KEY (request_id, collector));",
    /* 8 (issue 14): what the collector refused or changed of each agent's
     * input (store_agent_counts_add), shown by `agents`. */
    "ALTER TABLE agents ADD COLUMN duplicates INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE agents ADD COLUMN invalid INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE agents ADD COLUMN clamped INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE agents ADD COLUMN refused INTEGER NOT NULL DEFAULT 0;",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == STORE_SQLITE_SCHEMA_VERSION,
               "STORE_SQLITE_SCHEMA_VERSION must count the migrations");

int store_sqlite_db_fail(sqlite3 *db, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "database: %s: %s", what, sqlite3_errmsg(db));
    return -1;
}

int store_sqlite_fail(void *b, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "database %s: %s: %s", store_sqlite_path(b), what,
             sqlite3_errmsg(store_sqlite_db(b)));
    return -1;
}

int store_sqlite_prep(void *b, sqlite3_stmt **st, const char *sql, char *err, size_t errlen)
{
    *st = NULL;
    if (sqlite3_prepare_v2(store_sqlite_db(b), sql, -1, st, NULL) != SQLITE_OK)
        return store_sqlite_fail(b, "preparing a statement", err, errlen);
    return 0;
}

int store_sqlite_run(void *b, sqlite3_stmt *st, const char *what, char *err, size_t errlen)
{
    int rc = sqlite3_step(st);
    int ret = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : store_sqlite_fail(b, what, err, errlen);
    sqlite3_finalize(st);
    return ret;
}

int store_sqlite_each(void *b, sqlite3_stmt *st, int (*row)(sqlite3_stmt *st, void *ctx), void *ctx,
                      char *err, size_t errlen)
{
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int r = row(st, ctx);
        if (r != 0) {
            ret = r < 0 ? -1 : 0;
            if (r < 0)
                snprintf(err, errlen, "database %s: a reader failed", store_sqlite_path(b));
            break;
        }
    }
    if (ret == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        ret = store_sqlite_fail(b, "reading", err, errlen);
    sqlite3_finalize(st);
    return ret;
}

/* ---- open, migrate, close ------------------------------------------------- */

static int prepare(struct sqlite_store *b, sqlite3_stmt **st, const char *sql, char *err,
                   size_t errlen)
{
    if (sqlite3_prepare_v3(b->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
        return store_sqlite_db_fail(b->db, "preparing a statement", err, errlen);
    return 0;
}

static int exec(struct sqlite_store *b, const char *sql, const char *what, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(b->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "database %s: %s: %s", b->path, what,
                 msg ? msg : sqlite3_errmsg(b->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int user_version(struct sqlite_store *b, int *v, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(b->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        snprintf(err, errlen,
                 "database %s: reading the schema version: %s (is it a Vantage "
                 "database?)",
                 b->path, sqlite3_errmsg(b->db));
        sqlite3_finalize(st);
        return -1;
    }
    *v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return 0;
}

static int migrate(struct sqlite_store *b, char *err, size_t errlen)
{
    const int latest = STORE_SQLITE_SCHEMA_VERSION;
    int v;
    if (user_version(b, &v, err, errlen) < 0)
        return -1;
    if (v == latest)
        return 0;
    if (v > latest) {
        snprintf(err, errlen,
                 "database %s has schema version %d, newer than this vantage-collector knows "
                 "(%d): upgrade vantage-collector",
                 b->path, v, latest);
        return -1;
    }
    /* IMMEDIATE: two processes opening a new database at once migrate one
     * after the other; the second sees the first's version below. */
    if (exec(b, "BEGIN IMMEDIATE", "starting the schema migration", err, errlen) < 0)
        return -1;
    if (user_version(b, &v, err, errlen) < 0)
        goto fail;
    for (; v < latest; v++) {
        char what[64];
        snprintf(what, sizeof(what), "migrating the schema to version %d", v + 1);
        if (exec(b, migrations[v], what, err, errlen) < 0)
            goto fail;
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
        if (exec(b, sql, what, err, errlen) < 0)
            goto fail;
    }
    if (exec(b, "COMMIT", "committing the schema migration", err, errlen) < 0)
        goto fail;
    return 0;
fail:
    sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* Switches to WAL and checks that it took: sqlite quietly keeps the old
 * journal mode where WAL cannot work (e.g. a filesystem without shared
 * memory), and ingest must not silently run without it.
 *
 * The switch needs the database to itself. Where another process holds a
 * read lock at that moment (a `query` reading a database the collector is
 * creating), sqlite may answer SQLITE_BUSY at once instead of calling the
 * busy handler, so the switch is retried here for the busy timeout. */
static int wal_on(struct sqlite_store *b, bool memory, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    const char *mode = NULL;
    if (sqlite3_prepare_v2(b->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) == SQLITE_OK) {
        int rc = sqlite3_step(st);
        for (int waited = 0; (rc & 0xff) == SQLITE_BUSY && waited < BUSY_TIMEOUT_MS; waited += 10) {
            sqlite3_reset(st);
            sqlite3_sleep(10);
            rc = sqlite3_step(st);
        }
        if (rc == SQLITE_ROW)
            mode = (const char *)sqlite3_column_text(st, 0);
    }
    int ok = mode != NULL && (strcmp(mode, "wal") == 0 || (memory && strcmp(mode, "memory") == 0));
    if (!ok)
        snprintf(err, errlen,
                 "database %s: cannot switch to WAL mode (%s): put it on a local "
                 "filesystem",
                 b->path, mode != NULL ? mode : sqlite3_errmsg(b->db));
    sqlite3_finalize(st);
    return ok ? 0 : -1;
}

static void sqlite_close(void *p);

/* Creates the file with mode 0600 before sqlite does (sqlite would use
 * 0644): results name the organisation's servers and networks. The WAL
 * and shared-memory files inherit the database file's mode. */
static int create_private(const char *path, char *err, size_t errlen)
{
    /* O_EXCL: an existing file is left unopened. Closing any descriptor
     * of the file drops every POSIX lock this process holds on it, the
     * locks of its other sqlite connections included (serve's ingest and
     * its evaluation thread): another process would then think itself
     * the database's only user and delete the WAL under them. */
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
        return 0;
    if (fd < 0) {
        snprintf(err, errlen,
                 "cannot open database %s: %s (check that the directory exists and that this "
                 "user may write to it)",
                 path, strerror(errno));
        return -1;
    }
    /* Created by root (an administrator's `agents` before the daemon's
     * first start): give it to whoever owns the data directory, the
     * daemon's user, or the daemon could never write it. sqlite itself
     * gives its -wal and -shm files the database file's owner when it
     * runs as root. */
    if (geteuid() == 0) {
        char dir[PATH_MAX];
        const char *slash = strrchr(path, '/');
        struct stat st;
        if (slash == NULL)
            snprintf(dir, sizeof(dir), ".");
        else
            snprintf(dir, sizeof(dir), "%.*s", (int)(slash == path ? 1 : slash - path), path);
        if (stat(dir, &st) == 0 && st.st_uid != 0 && fchown(fd, st.st_uid, st.st_gid) < 0) {
            snprintf(err, errlen, "cannot give database %s to the owner of %s: %s", path, dir,
                     strerror(errno));
            close(fd);
            unlink(path);
            return -1;
        }
    }
    close(fd);
    return 0;
}

/* A new backend with its connection to path opened with flags; NULL
 * with err when it cannot be. */
static struct sqlite_store *connect_db(const char *path, int flags, char *err, size_t errlen)
{
    struct sqlite_store *b = calloc(1, sizeof(*b));
    if (b == NULL || (b->path = strdup(path)) == NULL) {
        free(b);
        snprintf(err, errlen, "database %s: out of memory", path);
        return NULL;
    }
    b->targets.table = "targets";
    b->checks.table = "checks";
    b->networks.table = "networks";
    int rc = sqlite3_open_v2(path, &b->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", path,
                 b->db ? sqlite3_errmsg(b->db) : sqlite3_errstr(rc));
        sqlite_close(b);
        return NULL;
    }
    sqlite3_extended_result_codes(b->db, 1);
    sqlite3_busy_timeout(b->db, BUSY_TIMEOUT_MS);
    return b;
}

/*
 * A read-only open (STORE_OPEN_READONLY): the existing file with its
 * schema checked, nothing prepared, writes refused (query_only). Opened
 * read-write all the same: a WAL reader writes the -shm index, and
 * SQLITE_OPEN_READONLY reads a database that a collector is writing only
 * under conditions (an existing -shm) that this need not depend on.
 * NULL with err[0] == '\0' when the store has no schema yet: the caller
 * opens it as a writer, which creates it.
 */
static struct sqlite_store *open_readonly(const char *path, char *err, size_t errlen)
{
    err[0] = '\0';
    if (access(path, F_OK) != 0)
        return NULL;
    struct sqlite_store *b = connect_db(path, SQLITE_OPEN_READWRITE, err, errlen);
    int v = 0;
    if (b == NULL)
        return NULL;
    if (exec(b, "PRAGMA query_only = 1", "making the connection read-only", err, errlen) < 0 ||
        user_version(b, &v, err, errlen) < 0)
        goto fail;
    if (v == STORE_SQLITE_SCHEMA_VERSION)
        return b;
    if (v > STORE_SQLITE_SCHEMA_VERSION)
        snprintf(err, errlen,
                 "database %s has schema version %d, newer than this vantage-collector knows "
                 "(%d): upgrade vantage-collector",
                 path, v, STORE_SQLITE_SCHEMA_VERSION);
    else if (v > 0)
        snprintf(err, errlen,
                 "database %s has schema version %d, older than this vantage-collector's (%d): "
                 "start the upgraded collector (vantage-collector serve), which migrates it; "
                 "this command only reads (nothing was changed)",
                 path, v, STORE_SQLITE_SCHEMA_VERSION);
fail:
    sqlite_close(b);
    return NULL;
}

static void *sqlite_open(const char *path, unsigned flags, char *err, size_t errlen)
{
    if (path[0] == '\0') {
        snprintf(err, errlen, "database location \"sqlite:\" names no file");
        return NULL;
    }
    if ((flags & STORE_OPEN_READONLY) != 0 && strcmp(path, ":memory:") != 0) {
        struct sqlite_store *ro = open_readonly(path, err, errlen);
        if (ro != NULL || err[0] != '\0')
            return ro;
    }
    bool memory = strcmp(path, ":memory:") == 0;
    if (!memory && create_private(path, err, errlen) < 0)
        return NULL;
    struct sqlite_store *b =
        connect_db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err, errlen);
    if (b == NULL)
        return NULL;
    if (sqlite3_db_readonly(b->db, "main") == 1) {
        snprintf(err, errlen,
                 "database %s is read-only for this user: the collector needs "
                 "to write it (and its -wal and -shm files)",
                 path);
        goto fail;
    }
    /*
     * WAL: readers (the CLI) never block ingest and ingest never blocks
     * them, and a commit appends to one file instead of rewriting pages.
     * synchronous=NORMAL: in WAL mode a commit is then not fsync'ed, only
     * checkpoints are. A crash or kill of the collector loses nothing
     * committed (the WAL is in the OS's cache), which is the failure the
     * ack-after-commit contract is about. A power loss or kernel crash can
     * lose the last transactions before a checkpoint (never corrupt the
     * file), and the agents have already dropped those from their spools:
     * a deliberate trade for a collector host that does not lose power
     * uncleanly. FULL costs one fsync per batch (about 15% of the raw
     * insert rate on the 2-core benchmark VM; bench/ingest --synchronous).
     */
    if (wal_on(b, memory, err, errlen) < 0 ||
        exec(b, "PRAGMA synchronous=NORMAL", "setting synchronous", err, errlen) < 0 ||
        exec(b, "PRAGMA foreign_keys=ON", "enabling foreign keys", err, errlen) < 0)
        goto fail;
    if (migrate(b, err, errlen) < 0)
        goto fail;

    /* Fact texts are bound only when they changed; NULL keeps the stored
     * one, so the common row writes no text. */
    static const char latest_put[] =
        "INSERT INTO latest(agent_id, target_id, check_id, network_id, discovered, ok, layer,"
        " error, seq, at_us, since_us, total_us, detail, episode_us, flips, streak_n,"
        " fail_layer, fail_error, phase, phase_us, dns_hash, dns, addr_hash, address,"
        " cert_hash, cert, delivery_us)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"
        " ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)"
        " ON CONFLICT(agent_id, target_id, check_id) DO UPDATE SET"
        " network_id = excluded.network_id, discovered = excluded.discovered,"
        " ok = excluded.ok, layer = excluded.layer, error = excluded.error,"
        " seq = excluded.seq, at_us = excluded.at_us, since_us = excluded.since_us,"
        " total_us = excluded.total_us, detail = excluded.detail,"
        " episode_us = excluded.episode_us, flips = excluded.flips,"
        " streak_n = excluded.streak_n, fail_layer = excluded.fail_layer,"
        " fail_error = excluded.fail_error, phase = excluded.phase,"
        " phase_us = excluded.phase_us, dns_hash = excluded.dns_hash,"
        " dns = COALESCE(excluded.dns, dns), addr_hash = excluded.addr_hash,"
        " address = COALESCE(excluded.address, address), cert_hash = excluded.cert_hash,"
        " cert = COALESCE(excluded.cert, cert), delivery_us = excluded.delivery_us";
    static const char agent_update[] =
        "UPDATE agents SET site = COALESCE(?2, site), network = COALESCE(?3, network),"
        " version = COALESCE(?4, version), address = COALESCE(?5, address),"
        " netctx = COALESCE(?6, netctx),"
        " first_seen_us = CASE WHEN ?7 <> 0 AND (first_seen_us = 0 OR ?7 < first_seen_us)"
        "   THEN ?7 ELSE first_seen_us END,"
        " last_seen_us = CASE WHEN ?8 <> 0 THEN ?8 ELSE last_seen_us END,"
        " spool_dropped = CASE WHEN ?11 OR ?9 <> 0 THEN ?9 ELSE spool_dropped END,"
        " spool_pending = CASE WHEN ?11 OR ?10 <> 0 THEN ?10 ELSE spool_pending END"
        " WHERE id = ?1";
    if (prepare(b, &b->begin, "BEGIN IMMEDIATE", err, errlen) < 0 ||
        prepare(b, &b->commit, "COMMIT", err, errlen) < 0 ||
        prepare(b, &b->rollback, "ROLLBACK", err, errlen) < 0 ||
        prepare(b, &b->result_insert, STORE_SQLITE_RESULT_INSERT, err, errlen) < 0 ||
        prepare(b, &b->latest_get,
                "SELECT seq, ok, since_us, episode_us, flips, streak_n, fail_layer,"
                " fail_error, dns_hash, addr_hash, cert_hash, at_us FROM latest"
                " WHERE agent_id = ?1 AND target_id = ?2 AND check_id = ?3",
                err, errlen) < 0 ||
        prepare(b, &b->latest_facts,
                "SELECT dns, address, cert FROM latest"
                " WHERE agent_id = ?1 AND target_id = ?2 AND check_id = ?3",
                err, errlen) < 0 ||
        prepare(b, &b->latest_put, latest_put, err, errlen) < 0 ||
        prepare(b, &b->agent_find, "SELECT id FROM agents WHERE name = ?1", err, errlen) < 0 ||
        prepare(b, &b->agent_exists, "SELECT 1 FROM agents WHERE id = ?1", err, errlen) < 0 ||
        prepare(b, &b->agent_add, "INSERT INTO agents(name) VALUES (?1)", err, errlen) < 0 ||
        prepare(b, &b->agent_seq_get, "SELECT committed_seq FROM agents WHERE id = ?1", err,
                errlen) < 0 ||
        prepare(b, &b->agent_seq_put,
                "UPDATE agents SET committed_seq = MAX(committed_seq, ?2) WHERE id = ?1", err,
                errlen) < 0 ||
        prepare(b, &b->agent_update, agent_update, err, errlen) < 0 ||
        prepare(b, &b->change_add,
                "INSERT INTO changes(at_us, agent_id, target_id, kind, subject, before, after)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                err, errlen) < 0 ||
        prepare(b, &b->targets.find, "SELECT id FROM targets WHERE name = ?1", err, errlen) < 0 ||
        prepare(b, &b->targets.add, "INSERT INTO targets(name) VALUES (?1)", err, errlen) < 0 ||
        prepare(b, &b->checks.find, "SELECT id FROM checks WHERE name = ?1", err, errlen) < 0 ||
        prepare(b, &b->checks.add, "INSERT INTO checks(name) VALUES (?1)", err, errlen) < 0 ||
        prepare(b, &b->networks.find, "SELECT id FROM networks WHERE name = ?1", err, errlen) < 0 ||
        prepare(b, &b->networks.add, "INSERT INTO networks(name) VALUES (?1)", err, errlen) < 0)
        goto fail;
    return b;
fail:
    sqlite_close(b);
    return NULL;
}

static void sqlite_close(void *p)
{
    struct sqlite_store *b = p;
    if (b == NULL)
        return;
    if (b->in_txn)
        sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_stmt *all[] = {b->begin,         b->commit,        b->rollback,     b->result_insert,
                           b->latest_get,    b->latest_put,    b->agent_find,   b->agent_add,
                           b->agent_seq_get, b->agent_seq_put, b->agent_update, b->change_add,
                           b->targets.find,  b->targets.add,   b->checks.find,  b->checks.add,
                           b->networks.find, b->networks.add,  b->agent_exists, b->latest_facts};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        sqlite3_finalize(all[i]);
    sqlite3_close(b->db);
    store_sqlite_intern_clear(&b->targets);
    store_sqlite_intern_clear(&b->checks);
    store_sqlite_intern_clear(&b->networks);
    store_sqlite_pending_clear(b);
    keymap_free(&b->latest_map);
    keymap_free(&b->seq_map);
    keymap_free(&b->known_agents);
    free(b->latest);
    free(b->seqs);
    for (int f = 0; f < STORE_FACT_LAST; f++)
        free(b->before[f]);
    free(b->path);
    free(b);
}

/* ---- transactions --------------------------------------------------------- */

int store_sqlite_step_done(struct sqlite_store *b, sqlite3_stmt *st, const char *what, char *err,
                           size_t errlen)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return store_sqlite_db_fail(b->db, what, err, errlen);
    return 0;
}

static int sqlite_begin(void *p, char *err, size_t errlen)
{
    struct sqlite_store *b = p;
    if (b->in_txn) {
        snprintf(err, errlen, "database: store_begin inside a transaction");
        return -1;
    }
    if (store_sqlite_step_done(b, b->begin, "starting a transaction", err, errlen) < 0)
        return -1;
    b->in_txn = true;
    return 0;
}

static void sqlite_rollback(void *p)
{
    struct sqlite_store *b = p;
    if (b->in_txn || !sqlite3_get_autocommit(b->db)) {
        sqlite3_step(b->rollback);
        sqlite3_reset(b->rollback);
    }
    b->in_txn = false;
    store_sqlite_pending_clear(b);
    /* Names interned in the rolled-back transaction are gone from the
     * tables; forget every cached id rather than track which. */
    store_sqlite_intern_clear(&b->targets);
    store_sqlite_intern_clear(&b->checks);
    store_sqlite_intern_clear(&b->networks);
    keymap_free(&b->known_agents);
}

static int latest_write(struct sqlite_store *b, const struct latest *l, char *err, size_t errlen)
{
    sqlite3_stmt *st = b->latest_put;
    sqlite3_bind_int64(st, 1, l->agent_id);
    sqlite3_bind_int64(st, 2, l->target_id);
    sqlite3_bind_int64(st, 3, l->check_id);
    if (l->network_id != 0)
        sqlite3_bind_int64(st, 4, l->network_id);
    sqlite3_bind_int(st, 5, l->discovered);
    sqlite3_bind_int(st, 6, l->ok);
    sqlite3_bind_int(st, 7, l->layer);
    sqlite3_bind_int(st, 8, l->error);
    sqlite3_bind_int64(st, 9, (int64_t)l->seq);
    sqlite3_bind_int64(st, 10, l->at_us);
    sqlite3_bind_int64(st, 11, l->since_us);
    sqlite3_bind_int64(st, 12, (int64_t)l->total_us);
    if (l->has_detail)
        sqlite3_bind_text(st, 13, l->detail, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 14, l->streak.episode_us);
    sqlite3_bind_int64(st, 15, l->streak.flips);
    sqlite3_bind_int64(st, 16, l->streak.n);
    sqlite3_bind_int(st, 17, l->fail_layer);
    sqlite3_bind_int(st, 18, l->fail_error);
    sqlite3_bind_int(st, 19, l->phase);
    sqlite3_bind_int64(st, 20, (int64_t)l->phase_us);
    for (int f = 0; f < STORE_FACT_LAST; f++) {
        sqlite3_bind_int64(st, 21 + 2 * f, (int64_t)l->fact_hash[f]);
        if (l->fact_text[f] != NULL)
            sqlite3_bind_text(st, 22 + 2 * f, l->fact_text[f], -1, SQLITE_STATIC);
    }
    sqlite3_bind_int64(st, 27, (int64_t)l->delivery_us);
    return store_sqlite_step_done(b, st, "writing the latest state", err, errlen);
}

static int sqlite_commit(void *p, char *err, size_t errlen)
{
    struct sqlite_store *b = p;
    if (!b->in_txn) {
        snprintf(err, errlen, "database: store_commit outside a transaction");
        return -1;
    }
    for (size_t i = 0; i < b->nlatest; i++) {
        if (b->latest[i].dirty && latest_write(b, &b->latest[i], err, errlen) < 0)
            goto fail;
    }
    for (size_t i = 0; i < b->nseqs; i++) {
        sqlite3_bind_int64(b->agent_seq_put, 1, b->seqs[i].agent_id);
        sqlite3_bind_int64(b->agent_seq_put, 2, (int64_t)b->seqs[i].max_seq);
        if (store_sqlite_step_done(b, b->agent_seq_put, "recording the committed seq", err,
                                   errlen) < 0)
            goto fail;
    }
    if (store_sqlite_step_done(b, b->commit, "committing", err, errlen) < 0)
        goto fail;
    b->in_txn = false;
    store_sqlite_pending_clear(b);
    return 0;
fail:
    /* Nothing of the transaction is kept, so nothing is acknowledged: the
     * agent resends the batch. */
    sqlite_rollback(b);
    size_t n = strlen(err);
    if (n + 1 < errlen)
        snprintf(err + n, errlen - n, " (transaction rolled back)");
    return -1;
}

sqlite3 *store_sqlite_db(void *p)
{
    return ((struct sqlite_store *)p)->db;
}

const char *store_sqlite_path(void *p)
{
    return ((struct sqlite_store *)p)->path;
}

const struct store_ops store_sqlite_ops = {
    .scheme = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .agent_id = store_sqlite_agent_id,
    .agent_update = store_sqlite_agent_update,
    .agent_committed_seq = store_sqlite_agent_committed_seq,
    .agent_lost_add = store_sqlite_agent_lost_add,
    .agent_counts_add = store_sqlite_agent_counts_add,
    .result_add = store_sqlite_result_add,
    .result_add_facts = store_sqlite_result_add_facts,
    .agent_get = store_sqlite_agent_get,
    .change_add = store_sqlite_change_add,
    .agents_each = store_sqlite_agents_each,
    .results_each = store_sqlite_results_each,
    .latest_each = store_sqlite_latest_each,
    .changes_each = store_sqlite_changes_each,
    /* findings and notifications: store_sqlite_findings.c */
    .finding_put = store_sqlite_finding_put,
    .finding_delete = store_sqlite_finding_delete,
    .findings_each = store_sqlite_findings_each,
    .finding_event_add = store_sqlite_finding_event_add,
    .finding_events_each = store_sqlite_finding_events_each,
    .notification_add = store_sqlite_notification_add,
    .notifications_due = store_sqlite_notifications_due,
    .notification_done = store_sqlite_notification_done,
    .notification_retry = store_sqlite_notification_retry,
    .notifications_pending = store_sqlite_notifications_pending,
    /* retention: store_sqlite_retention.c */
    .rollup = store_sqlite_rollup,
    .prune = store_sqlite_prune,
    .rollups_each = store_sqlite_rollups_each,
    .records_each = store_sqlite_records_each,
    .latest_rows_each = store_sqlite_latest_rows_each,
    .latest_row_put = store_sqlite_latest_row_put,
    .rollups_next_hour = store_sqlite_rollups_next_hour,
    .rollup_put = store_sqlite_rollup_put,
    .rollups_mark_all = store_sqlite_rollups_mark_all,
};
