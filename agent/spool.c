/*
 * spool — the agent's durable result queue in sqlite (spool.h).
 *
 * Schema: results(seq INTEGER PRIMARY KEY, rec BLOB) holds the bytes of
 * wire_result_encode(); meta(key, value) holds next_seq, dropped,
 * acked_seq and the schema version, so that the sequence never goes back
 * and the loss count survives restarts even when no row is left.
 *
 * Rows only ever leave from the bottom (acks and the bound both delete the
 * oldest) and arrive at the top, so the rows held are always one
 * contiguous range of sequence numbers: pending = last - first + 1, read
 * at open with min()/max() (two b-tree descents) instead of a count(*)
 * that would read a million-row file from end to end.
 *
 * Durability: WAL with synchronous=NORMAL and one transaction per append.
 * A commit is atomic and survives the agent being killed (kill -9, a
 * crash): the WAL is written before COMMIT returns, and sqlite replays it
 * at the next open. Only an OS crash or power loss can lose the last
 * commits, because the WAL is fsync'ed at checkpoints rather than at each
 * commit; that saves an fsync per result. To keep such a loss from ever
 * reusing a sequence number the collector has already stored (it would
 * then drop the new result as a duplicate), spool_read() checkpoints (and
 * so fsyncs) before any row leaves the agent when there were appends since
 * the last one: what the collector has seen is always on disk.
 *
 * The database is opened with locking_mode=EXCLUSIVE: a second agent
 * pointed at the same spool file fails at open instead of handing out the
 * same sequence numbers twice. Tests: tests/unit/test_spool.c.
 */
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wire.h"

#define SPOOL_SCHEMA 1
#define STR_(x)      #x
#define STR(x)       STR_(x)
/* sqlite integers are signed 64-bit; sequence numbers stay below that. */
#define SPOOL_SEQ_MAX ((uint64_t)INT64_MAX - 1)

/* Creates a new spool's tables; leaves an existing one as it is. */
/* clang-format off */
static const char schema_sql[] =
    "BEGIN IMMEDIATE;"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS results(seq INTEGER PRIMARY KEY, rec BLOB NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES"
    "  ('schema', " STR(SPOOL_SCHEMA) "), ('next_seq', 1), ('dropped', 0), ('acked_seq', 0);"
    "COMMIT;";
/* clang-format on */

struct spool {
    sqlite3 *db;
    char *path;
    uint64_t max;       /* rows held at most */
    uint64_t first_seq; /* lowest seq held; meaningful when pending > 0 */
    bool unsynced;      /* appends since the last checkpoint */
    /* Results that could not be stored (a full disk): dropped, but the
     * count can only be written with the next append that succeeds. */
    uint64_t unspooled;
    struct spool_stats st; /* mirrors meta and the table, updated after COMMIT */
    sqlite3_stmt *begin;
    sqlite3_stmt *commit;
    sqlite3_stmt *rollback;
    sqlite3_stmt *insert;
    sqlite3_stmt *delete_le;
    sqlite3_stmt *set_meta;
    sqlite3_stmt *read;
};

/* What to do about an sqlite error, for the person reading the log. */
static const char *advice(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_FULL:
        return "free space on the spool's filesystem";
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return "the agent needs read and write access to the file and its directory";
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return "another process holds the spool: is a second vantage-agent using the same spool "
               "file?";
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        return "move the file away and the agent starts a new, empty spool";
    case SQLITE_IOERR:
        return "check the disk and the kernel log";
    case SQLITE_NOMEM:
        return "the machine is out of memory";
    default:
        return "see the sqlite message";
    }
}

static void db_error(const struct spool *s, int rc, const char *what, char *err, size_t errlen)
{
    if (err == NULL || errlen == 0)
        return;
    snprintf(err, errlen, "spool %s: %s: %s (%s)", s->path, what,
             s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc), advice(rc));
}

/* Runs a prepared statement that returns no rows and resets it. */
static int run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static int prepare(struct spool *s, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
}

static int set_meta(struct spool *s, const char *key, uint64_t value)
{
    sqlite3_bind_int64(s->set_meta, 1, (sqlite3_int64)value);
    sqlite3_bind_text(s->set_meta, 2, key, -1, SQLITE_STATIC);
    return run(s->set_meta);
}

static void rollback(struct spool *s)
{
    if (!sqlite3_get_autocommit(s->db))
        (void)run(s->rollback);
}

/* Creates the file 0600 ourselves: sqlite would create it with the umask's
 * mode, and the WAL file copies the database file's mode. */
static int create_file(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        const char *what = errno == ENOENT ? "create its directory, or set spool = in [agent]"
                           : errno == EACCES || errno == EPERM || errno == EROFS
                               ? "the agent needs write access to the file and its directory"
                           : errno == EISDIR ? "spool = must name a file, not a directory"
                                             : "check the path";
        snprintf(err, errlen, "spool %s: cannot open: %s (%s)", path, strerror(errno), what);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "spool %s: not a regular file (spool = must name a file)", path);
        close(fd);
        return -1;
    }
    /* An older file may have been created with a wider mode. Results are
     * not secrets, but they map the network; failing to narrow the mode of
     * a file we can write is not worth refusing to run. */
    if ((st.st_mode & 0077) != 0)
        (void)fchmod(fd, 0600);
    close(fd);
    return 0;
}

static int exec(struct spool *s, const char *sql, const char *what, char *err, size_t errlen)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        db_error(s, rc, what, err, errlen);
        return -1;
    }
    return 0;
}

static int load_state(struct spool *s, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(s, "SELECT key, value FROM meta", &st);
    uint64_t schema = 0;
    uint64_t next = 0;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        if ((rc = sqlite3_step(st)) != SQLITE_ROW)
            break;
        const char *key = (const char *)sqlite3_column_text(st, 0);
        sqlite3_int64 v = sqlite3_column_int64(st, 1);
        if (key == NULL || v < 0)
            continue;
        if (strcmp(key, "schema") == 0)
            schema = (uint64_t)v;
        else if (strcmp(key, "next_seq") == 0)
            next = (uint64_t)v;
        else if (strcmp(key, "dropped") == 0)
            s->st.dropped = (uint64_t)v;
        else if (strcmp(key, "acked_seq") == 0)
            s->st.acked_seq = (uint64_t)v;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        db_error(s, rc, "cannot read its state", err, errlen);
        return -1;
    }
    if (schema != SPOOL_SCHEMA) {
        snprintf(err, errlen,
                 "spool %s: schema version %llu, this agent knows %d (written by another "
                 "version of vantage-agent: run that one until the spool drains, or move the file "
                 "away)",
                 s->path, (unsigned long long)schema, SPOOL_SCHEMA);
        return -1;
    }

    rc = prepare(s, "SELECT min(seq), max(seq) FROM results", &st);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
            uint64_t lo = (uint64_t)sqlite3_column_int64(st, 0);
            uint64_t hi = (uint64_t)sqlite3_column_int64(st, 1);
            s->first_seq = lo;
            s->st.pending = hi - lo + 1;
            /* Never hand out a sequence that a held row already has. */
            if (next <= hi)
                next = hi + 1;
        }
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK) {
        db_error(s, rc, "cannot read its rows", err, errlen);
        return -1;
    }
    s->st.next_seq = next < 1 ? 1 : next;
    return 0;
}

/* Deletes the oldest rows so that room more rows fit under the bound, and
 * counts them as dropped. Runs inside the caller's transaction; the caller
 * applies *lost to the cached stats after COMMIT. */
static int make_room(struct spool *s, uint64_t room, uint64_t *lost)
{
    *lost = 0;
    if (s->st.pending + room <= s->max)
        return SQLITE_OK;
    uint64_t k = s->st.pending + room - s->max;
    if (k > s->st.pending)
        k = s->st.pending;
    sqlite3_bind_int64(s->delete_le, 1, (sqlite3_int64)(s->first_seq + k - 1));
    int rc = run(s->delete_le);
    if (rc != SQLITE_OK)
        return rc;
    *lost = (uint64_t)sqlite3_changes(s->db);
    return set_meta(s, "dropped", s->st.dropped + *lost);
}

static void account_lost(struct spool *s, uint64_t lost)
{
    s->st.dropped += lost;
    s->st.pending -= lost;
    s->first_seq += lost;
}

struct spool *spool_open(const char *path, uint64_t max_results, char *err, size_t errlen)
{
    if (create_file(path, err, errlen) < 0)
        return NULL;
    struct spool *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->path = strdup(path)) == NULL) {
        snprintf(err, errlen, "spool %s: out of memory", path);
        free(s);
        return NULL;
    }
    /* 0 would mean "keep nothing", which no one means. */
    s->max = max_results ? max_results : SPOOL_DEFAULT_MAX;

    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        db_error(s, rc, "cannot open", err, errlen);
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    /* locking_mode before journal_mode, so that the WAL index lives in
     * memory (no -shm file) and the lock is held from the first access. */
    if (exec(s, "PRAGMA locking_mode=EXCLUSIVE", "cannot lock", err, errlen) < 0 ||
        exec(s, "PRAGMA journal_mode=WAL", "cannot switch to WAL", err, errlen) < 0 ||
        exec(s, "PRAGMA synchronous=NORMAL", "cannot set synchronous", err, errlen) < 0)
        goto fail;
    if (exec(s, schema_sql, "cannot create its tables", err, errlen) < 0)
        goto fail;
    if (load_state(s, err, errlen) < 0)
        goto fail;

    struct {
        sqlite3_stmt **st;
        const char *sql;
    } stmts[] = {
        {&s->begin, "BEGIN IMMEDIATE"},
        {&s->commit, "COMMIT"},
        {&s->rollback, "ROLLBACK"},
        {&s->insert, "INSERT INTO results(seq, rec) VALUES(?1, ?2)"},
        {&s->delete_le, "DELETE FROM results WHERE seq <= ?1"},
        {&s->set_meta, "UPDATE meta SET value = ?1 WHERE key = ?2"},
        {&s->read, "SELECT seq, rec FROM results WHERE seq > ?1 ORDER BY seq LIMIT ?2"},
    };
    for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++)
        if ((rc = prepare(s, stmts[i].sql, stmts[i].st)) != SQLITE_OK) {
            db_error(s, rc, "cannot prepare its statements", err, errlen);
            goto fail;
        }

    /* A bound lowered since the last run applies at once. */
    if (s->st.pending > s->max) {
        uint64_t lost = 0;
        rc = run(s->begin);
        if (rc == SQLITE_OK)
            rc = make_room(s, 0, &lost);
        if (rc == SQLITE_OK)
            rc = run(s->commit);
        if (rc != SQLITE_OK) {
            rollback(s);
            db_error(s, rc, "cannot apply spool_max_results", err, errlen);
            goto fail;
        }
        account_lost(s, lost);
    }
    return s;
fail:
    spool_close(&s);
    return NULL;
}

void spool_close(struct spool **sp)
{
    if (sp == NULL || *sp == NULL)
        return;
    struct spool *s = *sp;
    sqlite3_finalize(s->begin);
    sqlite3_finalize(s->commit);
    sqlite3_finalize(s->rollback);
    sqlite3_finalize(s->insert);
    sqlite3_finalize(s->delete_le);
    sqlite3_finalize(s->set_meta);
    sqlite3_finalize(s->read);
    /* Closing checkpoints the WAL into the database file. */
    sqlite3_close(s->db);
    free(s->path);
    free(s);
    *sp = NULL;
}

int spool_append(struct spool *s, struct result *r, char *err, size_t errlen)
{
    uint64_t seq = s->st.next_seq;
    if (seq > SPOOL_SEQ_MAX) {
        snprintf(err, errlen, "spool %s: sequence numbers exhausted (move the file away)", s->path);
        return -1;
    }
    bool had_seq = r->has_seq;
    uint64_t old_seq = r->seq;
    r->seq = seq;
    r->has_seq = true;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (wire_result_encode(r, &buf, &len) < 0) {
        snprintf(err, errlen, "spool %s: cannot encode result %llu: out of memory", s->path,
                 (unsigned long long)seq);
        goto undo;
    }

    uint64_t lost = 0;
    int rc = run(s->begin);
    if (rc == SQLITE_OK)
        rc = make_room(s, 1, &lost);
    if (rc == SQLITE_OK && s->unspooled > 0)
        rc = set_meta(s, "dropped", s->st.dropped + lost + s->unspooled);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(s->insert, 1, (sqlite3_int64)seq);
        sqlite3_bind_blob64(s->insert, 2, buf, len, SQLITE_STATIC);
        rc = run(s->insert);
        sqlite3_clear_bindings(s->insert);
    }
    if (rc == SQLITE_OK)
        rc = set_meta(s, "next_seq", seq + 1);
    if (rc == SQLITE_OK)
        rc = run(s->commit);
    free(buf);
    if (rc != SQLITE_OK) {
        rollback(s);
        char what[64];
        snprintf(what, sizeof(what), "cannot store result %llu", (unsigned long long)seq);
        db_error(s, rc, what, err, errlen);
        s->unspooled++;
        goto undo;
    }
    account_lost(s, lost);
    s->st.dropped += s->unspooled;
    s->unspooled = 0;
    if (s->st.pending == 0)
        s->first_seq = seq;
    s->st.pending++;
    s->st.next_seq = seq + 1;
    s->unsynced = true;
    return 0;
undo:
    r->seq = old_seq;
    r->has_seq = had_seq;
    return -1;
}

/* cb must not call back into this spool: the read statement is open and
 * reset only when the walk ends. */
int spool_read(struct spool *s, uint64_t after, size_t max, size_t max_bytes, spool_row_cb cb,
               void *arg)
{
    if (s->unsynced) {
        /* In WAL mode with synchronous=NORMAL a checkpoint fsyncs the WAL:
         * every row about to leave is then safe from a power loss (see the
         * top of this file). We are the only connection, so a passive
         * checkpoint completes. */
        if (sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL) !=
            SQLITE_OK)
            return -1;
        s->unsynced = false;
    }
    if (after > (uint64_t)INT64_MAX)
        after = (uint64_t)INT64_MAX;
    sqlite3_bind_int64(s->read, 1, (sqlite3_int64)after);
    sqlite3_bind_int64(s->read, 2, max > (size_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)max);
    int visited = 0;
    size_t bytes = 0;
    int rc;
    while ((rc = sqlite3_step(s->read)) == SQLITE_ROW) {
        uint64_t seq = (uint64_t)sqlite3_column_int64(s->read, 0);
        const void *rec = sqlite3_column_blob(s->read, 1);
        size_t len = (size_t)sqlite3_column_bytes(s->read, 1);
        static const uint8_t empty[1];
        if (max_bytes != 0 && visited > 0 && (bytes >= max_bytes || len > max_bytes - bytes)) {
            rc = SQLITE_DONE;
            break;
        }
        bytes += len;
        visited++;
        if (cb(seq, rec ? rec : empty, len, arg) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s->read);
    return rc == SQLITE_DONE ? visited : -1;
}

int spool_ack(struct spool *s, uint64_t seq)
{
    if (seq == 0)
        return 0;
    if (seq > SPOOL_SEQ_MAX)
        return -1;
    /* The collector has stored a sequence this spool never handed out: the
     * spool file was replaced (lost disk, re-install) while the collector
     * kept this agent's rows. Continue above it, or the collector would
     * drop every new result as a duplicate of an old one. */
    bool bump = seq >= s->st.next_seq;
    uint64_t acked = seq > s->st.acked_seq ? seq : s->st.acked_seq;

    int rc = run(s->begin);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(s->delete_le, 1, (sqlite3_int64)seq);
        rc = run(s->delete_le);
    }
    uint64_t removed = rc == SQLITE_OK ? (uint64_t)sqlite3_changes(s->db) : 0;
    if (rc == SQLITE_OK && acked != s->st.acked_seq)
        rc = set_meta(s, "acked_seq", acked);
    if (rc == SQLITE_OK && bump)
        rc = set_meta(s, "next_seq", seq + 1);
    if (rc == SQLITE_OK)
        rc = run(s->commit);
    if (rc != SQLITE_OK) {
        rollback(s);
        return -1;
    }
    s->st.pending -= removed;
    s->first_seq += removed;
    s->st.acked_seq = acked;
    if (bump)
        s->st.next_seq = seq + 1;
    return 0;
}

void spool_get_stats(const struct spool *s, struct spool_stats *out)
{
    *out = s->st;
    out->dropped += s->unspooled; /* reported before it can be written */
}
