/*
 * store_sqlite — the sqlite3 backend of the store (store.h, store_impl.h).
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
#include "wire.h"

/* How long a writer waits for another connection's lock (a CLI reader
 * checkpointing, a second collector by mistake) before failing: longer
 * than any of our transactions, short enough that an operator sees the
 * error instead of a hang. */
#define BUSY_TIMEOUT_MS 5000

/* Interned names kept in memory per table. Targets x checks are bounded by
 * the configuration (WIRE_TARGETS_MAX x WIRE_CHECKS_MAX in the worst case)
 * and networks by the fleet; past this many the cache is emptied and
 * refilled on demand, so memory stays bounded whatever agents send. */
#define INTERN_MAX 65536

/* Keys of the per-transaction maps start with this many slots. */
#define KEYMAP_MIN 64
/* A map grown past this by one large transaction is freed at its end
 * rather than cleared, so that one burst does not pin its memory. */
#define KEYMAP_KEEP 8192

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
    /* 6 (issue 13's "several collectors"; the retention migration may
     * come first: renumber, never reorder): the registry of running
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
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == STORE_SQLITE_SCHEMA_VERSION,
               "STORE_SQLITE_SCHEMA_VERSION must count the migrations");

/* ---- in-memory maps -------------------------------------------------------- */

/* Interned names of one table: name -> id, open addressing. */
struct intern_slot {
    uint64_t hash;
    char *name; /* NULL = empty slot */
    int64_t id;
};

struct intern {
    const char *table;
    sqlite3_stmt *find;
    sqlite3_stmt *add;
    struct intern_slot *slots;
    size_t cap; /* power of two, or 0 */
    size_t n;
};

/* A key of three ids -> index into the owner's array, open addressing. */
struct keymap_slot {
    int64_t k[3];
    uint32_t idx1; /* index + 1; 0 = empty slot */
};

struct keymap {
    struct keymap_slot *slots;
    size_t cap; /* power of two, or 0 */
    size_t n;
};

/* The latest state of one (agent, target, check) as this transaction
 * sees it: loaded from the table on first touch, updated in memory by
 * every newer result, written at commit when dirty. */
struct latest {
    int64_t agent_id, target_id, check_id, network_id;
    bool had;   /* a state exists (stored, or set earlier in this txn) */
    bool dirty; /* changed by this transaction */
    bool ok, discovered;
    int layer, error;
    uint64_t seq;
    int64_t at_us, since_us;
    uint64_t total_us;
    char *detail;      /* valid when has_detail; reused between rows */
    size_t detail_cap; /* bytes allocated at detail */
    bool has_detail;
    struct store_streak streak;
    int fail_layer, fail_error;
    int phase;
    uint64_t phase_us;
    uint64_t delivery_us;                /* mailflow: the latest test mail's delivery time */
    uint64_t fact_hash[STORE_FACT_LAST]; /* last known value of each fact */
    char *fact_text[STORE_FACT_LAST];    /* set when changed by this txn */
};

/* The highest seq a transaction stored for an agent. */
struct agent_seq {
    int64_t agent_id;
    uint64_t max_seq;
};

struct sqlite_store {
    sqlite3 *db;
    char *path;
    bool in_txn;

    sqlite3_stmt *begin, *commit, *rollback;
    sqlite3_stmt *result_insert;
    sqlite3_stmt *latest_get, *latest_put;
    sqlite3_stmt *agent_find, *agent_add, *agent_seq_get, *agent_seq_put, *agent_update;
    sqlite3_stmt *change_add;
    sqlite3_stmt *latest_facts;    /* texts of one key's facts: the rare path */
    char *before[STORE_FACT_LAST]; /* store_prev texts of the last call */

    struct intern targets, checks, networks;

    struct keymap latest_map;
    struct latest *latest;
    size_t nlatest, caplatest;

    struct keymap seq_map;
    struct agent_seq *seqs;
    size_t nseqs, capseqs;

    struct keymap known_agents; /* agent ids seen in the agents table */
    sqlite3_stmt *agent_exists;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t hash_ids(const int64_t k[3])
{
    uint64_t h = (uint64_t)k[0] * 0x9E3779B97F4A7C15ull;
    h ^= (uint64_t)k[1] + 0xBF58476D1CE4E5B9ull + (h << 6) + (h >> 2);
    h ^= (uint64_t)k[2] + 0x94D049BB133111EBull + (h << 6) + (h >> 2);
    h ^= h >> 31;
    return h * 0x9E3779B97F4A7C15ull;
}

static void intern_clear(struct intern *in)
{
    for (size_t i = 0; i < in->cap; i++)
        free(in->slots[i].name);
    free(in->slots);
    in->slots = NULL;
    in->cap = in->n = 0;
}

/* Places an entry known to be absent; the table has room. */
static void intern_place(struct intern *in, uint64_t h, char *name, int64_t id)
{
    size_t i = h & (in->cap - 1);
    while (in->slots[i].name != NULL)
        i = (i + 1) & (in->cap - 1);
    in->slots[i] = (struct intern_slot){h, name, id};
    in->n++;
}

static int intern_grow(struct intern *in)
{
    size_t ncap = in->cap ? in->cap * 2 : KEYMAP_MIN;
    struct intern_slot *old = in->slots;
    size_t ocap = in->cap;
    in->slots = calloc(ncap, sizeof(*in->slots));
    if (in->slots == NULL) {
        in->slots = old;
        return -1;
    }
    in->cap = ncap;
    in->n = 0;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].name != NULL)
            intern_place(in, old[i].hash, old[i].name, old[i].id);
    free(old);
    return 0;
}

static int db_fail(sqlite3 *db, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "database: %s: %s", what, sqlite3_errmsg(db));
    return -1;
}

/* The id of name in the interned table, inserting the row the first time.
 * A NULL name is stored as "" (a result without a target). */
static int intern_id(struct sqlite_store *b, struct intern *in, const char *name, int64_t *id,
                     char *err, size_t errlen)
{
    if (name == NULL)
        name = "";
    uint64_t h = hash_str(name);
    if (in->cap > 0) {
        for (size_t i = h & (in->cap - 1); in->slots[i].name != NULL; i = (i + 1) & (in->cap - 1)) {
            if (in->slots[i].hash == h && strcmp(in->slots[i].name, name) == 0) {
                *id = in->slots[i].id;
                return 0;
            }
        }
    }
    /* A miss: the row may exist already (written by an earlier run). */
    sqlite3_bind_text(in->find, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(in->find);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(in->find, 0);
        sqlite3_reset(in->find);
    } else {
        sqlite3_reset(in->find);
        if (rc != SQLITE_DONE)
            return db_fail(b->db, in->table, err, errlen);
        sqlite3_bind_text(in->add, 1, name, -1, SQLITE_STATIC);
        rc = sqlite3_step(in->add);
        sqlite3_reset(in->add);
        if (rc != SQLITE_DONE)
            return db_fail(b->db, in->table, err, errlen);
        *id = sqlite3_last_insert_rowid(b->db);
    }
    if (in->n >= INTERN_MAX)
        intern_clear(in);
    if ((in->n + 1) * 2 > in->cap && intern_grow(in) < 0)
        return 0; /* the id is right; it is only not cached */
    char *copy = strdup(name);
    if (copy != NULL)
        intern_place(in, h, copy, *id);
    return 0;
}

static void keymap_reset(struct keymap *m)
{
    if (m->cap > KEYMAP_KEEP) {
        free(m->slots);
        m->slots = NULL;
        m->cap = 0;
    } else if (m->cap > 0) {
        memset(m->slots, 0, m->cap * sizeof(*m->slots));
    }
    m->n = 0;
}

static int keymap_grow(struct keymap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : KEYMAP_MIN;
    struct keymap_slot *slots = calloc(ncap, sizeof(*slots));
    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].idx1 == 0)
            continue;
        size_t j = hash_ids(m->slots[i].k) & (ncap - 1);
        while (slots[j].idx1 != 0)
            j = (j + 1) & (ncap - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = ncap;
    return 0;
}

/* Finds key; when absent, adds it with index next and sets *added.
 * Returns the index, or -1 when out of memory. */
static int64_t keymap_get(struct keymap *m, const int64_t k[3], uint32_t next, bool *added)
{
    *added = false;
    if ((m->n + 1) * 2 > m->cap && keymap_grow(m) < 0)
        return -1;
    size_t i = hash_ids(k) & (m->cap - 1);
    for (; m->slots[i].idx1 != 0; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].k[0] == k[0] && m->slots[i].k[1] == k[1] && m->slots[i].k[2] == k[2])
            return m->slots[i].idx1 - 1;
    }
    memcpy(m->slots[i].k, k, sizeof(m->slots[i].k));
    m->slots[i].idx1 = next + 1;
    m->n++;
    *added = true;
    return next;
}

static void keymap_free(struct keymap *m)
{
    free(m->slots);
    *m = (struct keymap){0};
}

/* Forgets what the transaction kept in memory. */
static void pending_clear(struct sqlite_store *b)
{
    for (size_t i = 0; i < b->nlatest; i++) {
        free(b->latest[i].detail);
        for (int f = 0; f < STORE_FACT_LAST; f++)
            free(b->latest[i].fact_text[f]);
    }
    b->nlatest = 0;
    b->nseqs = 0;
    keymap_reset(&b->latest_map);
    keymap_reset(&b->seq_map);
    if (b->caplatest > KEYMAP_KEEP) {
        free(b->latest);
        b->latest = NULL;
        b->caplatest = 0;
    }
    if (b->capseqs > KEYMAP_KEEP) {
        free(b->seqs);
        b->seqs = NULL;
        b->capseqs = 0;
    }
}

/* ---- open, migrate, close ------------------------------------------------- */

static int prepare(struct sqlite_store *b, sqlite3_stmt **st, const char *sql, char *err,
                   size_t errlen)
{
    if (sqlite3_prepare_v3(b->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
        return db_fail(b->db, "preparing a statement", err, errlen);
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
 * memory), and ingest must not silently run without it. */
static int wal_on(struct sqlite_store *b, bool memory, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    const char *mode = NULL;
    if (sqlite3_prepare_v2(b->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        mode = (const char *)sqlite3_column_text(st, 0);
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

static void *sqlite_open(const char *path, char *err, size_t errlen)
{
    if (path[0] == '\0') {
        snprintf(err, errlen, "database location \"sqlite:\" names no file");
        return NULL;
    }
    bool memory = strcmp(path, ":memory:") == 0;
    if (!memory && create_private(path, err, errlen) < 0)
        return NULL;
    struct sqlite_store *b = calloc(1, sizeof(*b));
    if (b == NULL || (b->path = strdup(path)) == NULL) {
        free(b);
        snprintf(err, errlen, "database %s: out of memory", path);
        return NULL;
    }
    b->targets.table = "targets";
    b->checks.table = "checks";
    b->networks.table = "networks";
    int rc = sqlite3_open_v2(
        path, &b->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", path,
                 b->db ? sqlite3_errmsg(b->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(b->db, 1);
    sqlite3_busy_timeout(b->db, BUSY_TIMEOUT_MS);
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
                " fail_error, dns_hash, addr_hash, cert_hash FROM latest"
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
    intern_clear(&b->targets);
    intern_clear(&b->checks);
    intern_clear(&b->networks);
    pending_clear(b);
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

static int step_done(struct sqlite_store *b, sqlite3_stmt *st, const char *what, char *err,
                     size_t errlen)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return db_fail(b->db, what, err, errlen);
    return 0;
}

static int sqlite_begin(void *p, char *err, size_t errlen)
{
    struct sqlite_store *b = p;
    if (b->in_txn) {
        snprintf(err, errlen, "database: store_begin inside a transaction");
        return -1;
    }
    if (step_done(b, b->begin, "starting a transaction", err, errlen) < 0)
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
    pending_clear(b);
    /* Names interned in the rolled-back transaction are gone from the
     * tables; forget every cached id rather than track which. */
    intern_clear(&b->targets);
    intern_clear(&b->checks);
    intern_clear(&b->networks);
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
    return step_done(b, st, "writing the latest state", err, errlen);
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
        if (step_done(b, b->agent_seq_put, "recording the committed seq", err, errlen) < 0)
            goto fail;
    }
    if (step_done(b, b->commit, "committing", err, errlen) < 0)
        goto fail;
    b->in_txn = false;
    pending_clear(b);
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

/* ---- agents ---------------------------------------------------------------- */

static int sqlite_agent_id(void *p, const char *name, int64_t *id, char *err, size_t errlen)
{
    struct sqlite_store *b = p;
    if (name == NULL || name[0] == '\0') {
        snprintf(err, errlen, "database: an agent needs a name");
        return -1;
    }
    sqlite3_bind_text(b->agent_find, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(b->agent_find);
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(b->agent_find, 0);
    sqlite3_reset(b->agent_find);
    sqlite3_clear_bindings(b->agent_find);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc != SQLITE_DONE)
        return db_fail(b->db, "looking up an agent", err, errlen);
    sqlite3_bind_text(b->agent_add, 1, name, -1, SQLITE_STATIC);
    if (step_done(b, b->agent_add, "adding an agent", err, errlen) < 0)
        return -1;
    *id = sqlite3_last_insert_rowid(b->db);
    return 0;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    if (s != NULL)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static int sqlite_agent_update(void *p, int64_t id, const struct store_agent *a, char *err,
                               size_t errlen)
{
    struct sqlite_store *b = p;
    sqlite3_stmt *st = b->agent_update;
    sqlite3_bind_int64(st, 1, id);
    bind_text_or_null(st, 2, a->site);
    bind_text_or_null(st, 3, a->network);
    bind_text_or_null(st, 4, a->version);
    bind_text_or_null(st, 5, a->address);
    bind_text_or_null(st, 6, a->netctx);
    sqlite3_bind_int64(st, 7, a->first_seen_us);
    sqlite3_bind_int64(st, 8, a->last_seen_us);
    sqlite3_bind_int64(st, 9, (int64_t)a->spool_dropped);
    sqlite3_bind_int64(st, 10, (int64_t)a->spool_pending);
    sqlite3_bind_int(st, 11, a->has_spool);
    if (step_done(b, st, "updating an agent", err, errlen) < 0)
        return -1;
    if (sqlite3_changes(b->db) != 1) {
        snprintf(err, errlen, "database: no agent with id %lld", (long long)id);
        return -1;
    }
    return 0;
}

/* The rare path (only when results went missing): no prepared statement. */
static int sqlite_agent_lost_add(void *p, int64_t id, uint64_t n, char *err, size_t errlen)
{
    struct sqlite_store *b = p;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(b->db, "UPDATE agents SET lost = lost + ?2 WHERE id = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return db_fail(b->db, "counting lost results", err, errlen);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, n > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)n);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(b->db, "counting lost results", err, errlen);
}

static int sqlite_agent_committed_seq(void *p, int64_t id, uint64_t *seq, char *err, size_t errlen)
{
    struct sqlite_store *b = p;
    sqlite3_bind_int64(b->agent_seq_get, 1, id);
    int rc = sqlite3_step(b->agent_seq_get);
    if (rc == SQLITE_ROW)
        *seq = (uint64_t)sqlite3_column_int64(b->agent_seq_get, 0);
    sqlite3_reset(b->agent_seq_get);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE) {
        snprintf(err, errlen, "database: no agent with id %lld", (long long)id);
        return -1;
    }
    return db_fail(b->db, "reading the committed seq", err, errlen);
}

/* ---- ingest ---------------------------------------------------------------- */

/* Makes the latest state of the result's key follow it when it is newer
 * than what the store (or this transaction) has. */
static const char *col_text(sqlite3_stmt *st, int i);

/* Keeps the result's facts as the key's last known ones and reports in
 * prev those that changed, with their texts before. */
static int facts_touch(struct sqlite_store *b, struct latest *l, const struct store_facts *facts,
                       struct store_prev *prev, char *err, size_t errlen)
{
    bool loaded = false;
    for (int f = 0; f < STORE_FACT_LAST; f++) {
        uint64_t h = facts->hash[f];
        if (h == 0 || h == l->fact_hash[f])
            continue;
        /* The rare path: something changed, or is seen for the first time. */
        char *now = strdup(facts->text[f] != NULL ? facts->text[f] : "");
        if (now == NULL)
            goto oom;
        if (l->fact_hash[f] != 0 && prev != NULL) {
            const char *was = l->fact_text[f];
            if (was == NULL && !loaded) {
                sqlite3_stmt *st = b->latest_facts;
                sqlite3_bind_int64(st, 1, l->agent_id);
                sqlite3_bind_int64(st, 2, l->target_id);
                sqlite3_bind_int64(st, 3, l->check_id);
                int rc = sqlite3_step(st);
                for (int g = 0; rc == SQLITE_ROW && g < STORE_FACT_LAST; g++) {
                    if (l->fact_text[g] == NULL && sqlite3_column_text(st, g) != NULL) {
                        l->fact_text[g] = strdup(col_text(st, g));
                        if (l->fact_text[g] == NULL) {
                            sqlite3_reset(st);
                            free(now);
                            goto oom;
                        }
                    }
                }
                sqlite3_reset(st);
                if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
                    free(now);
                    return db_fail(b->db, "reading the last facts", err, errlen);
                }
                loaded = true;
                was = l->fact_text[f];
            }
            free(b->before[f]);
            b->before[f] = strdup(was != NULL ? was : "");
            if (b->before[f] == NULL) {
                free(now);
                goto oom;
            }
            prev->changed[f] = true;
            prev->before[f] = b->before[f];
        }
        free(l->fact_text[f]);
        l->fact_text[f] = now;
        l->fact_hash[f] = h;
    }
    return 0;
oom:
    snprintf(err, errlen, "database: out of memory tracking facts");
    return -1;
}

/* The slowest phase of a result, the one a person looks at first. The
 * mailflow phases (submit, delivery, fetch) come after total in the enum
 * and count too: for test mail the slow part is usually delivery. */
static int slowest_phase(const struct result *r, uint64_t *us)
{
    int best = RESULT_PHASE_TOTAL;
    *us = r->phases_us[RESULT_PHASE_TOTAL];
    uint64_t max = 0;
    for (int p = 0; p < RESULT_PHASE_LAST; p++) {
        if (p == RESULT_PHASE_TOTAL)
            continue;
        if (r->phases_us[p] > max) {
            max = r->phases_us[p];
            best = p;
        }
    }
    if (best != RESULT_PHASE_TOTAL)
        *us = max;
    return best;
}

static int latest_touch(struct sqlite_store *b, int64_t agent_id, int64_t network_id,
                        int64_t target_id, int64_t check_id, const struct result *r,
                        const struct store_facts *facts, struct store_prev *prev, char *err,
                        size_t errlen)
{
    const int64_t key[3] = {agent_id, target_id, check_id};
    if (b->nlatest == b->caplatest) {
        size_t ncap = b->caplatest ? b->caplatest * 2 : KEYMAP_MIN;
        struct latest *v = realloc(b->latest, ncap * sizeof(*v));
        if (v == NULL)
            goto oom;
        b->latest = v;
        b->caplatest = ncap;
    }
    bool added;
    int64_t i = keymap_get(&b->latest_map, key, (uint32_t)b->nlatest, &added);
    if (i < 0)
        goto oom;
    struct latest *l = &b->latest[i];
    if (added) {
        /* First touch in this transaction: one read of the stored state. */
        b->nlatest++;
        *l = (struct latest){.agent_id = agent_id, .target_id = target_id, .check_id = check_id};
        sqlite3_stmt *st = b->latest_get;
        sqlite3_bind_int64(st, 1, agent_id);
        sqlite3_bind_int64(st, 2, target_id);
        sqlite3_bind_int64(st, 3, check_id);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            l->had = true;
            l->seq = (uint64_t)sqlite3_column_int64(st, 0);
            l->ok = sqlite3_column_int(st, 1) != 0;
            l->since_us = sqlite3_column_int64(st, 2);
            l->streak = (struct store_streak){
                .had = true,
                .ok = l->ok,
                .since_us = l->since_us,
                .episode_us = sqlite3_column_int64(st, 3),
                .flips = (uint32_t)sqlite3_column_int64(st, 4),
                .n = (uint32_t)sqlite3_column_int64(st, 5),
                .fail_error = sqlite3_column_int(st, 7),
            };
            l->fail_layer = sqlite3_column_int(st, 6);
            l->fail_error = sqlite3_column_int(st, 7);
            for (int f = 0; f < STORE_FACT_LAST; f++)
                l->fact_hash[f] = (uint64_t)sqlite3_column_int64(st, 8 + f);
        }
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return db_fail(b->db, "reading the latest state", err, errlen);
    }
    if (l->had && r->seq <= l->seq)
        return 0; /* an older result arriving late: history, not state */
    if (prev != NULL)
        prev->before_at_us = l->had ? l->at_us : 0;
    if (facts != NULL && facts_touch(b, l, facts, prev, err, errlen) < 0)
        return -1;
    l->has_detail = r->detail != NULL;
    if (l->has_detail) {
        /* Most rows of a key carry a detail of the same size or none, so
         * the buffer is reused instead of a malloc and free per row. */
        size_t n = strlen(r->detail) + 1;
        if (n > l->detail_cap) {
            char *d = realloc(l->detail, n);
            if (d == NULL)
                goto oom;
            l->detail = d;
            l->detail_cap = n;
        }
        memcpy(l->detail, r->detail, n);
    }
    store_streak_next(&l->streak, r->ok, r->error, r->started_at_us);
    l->since_us = l->streak.since_us;
    if (!r->ok) {
        l->fail_layer = r->layer;
        l->fail_error = r->error;
    }
    l->phase = slowest_phase(r, &l->phase_us);
    l->delivery_us = r->delivery != NULL ? r->delivery->delivery_us : 0;
    l->had = l->dirty = true;
    l->network_id = network_id;
    l->ok = r->ok;
    l->discovered = r->discovered;
    l->layer = r->layer;
    l->error = r->error;
    l->seq = r->seq;
    l->at_us = r->started_at_us;
    l->total_us = r->phases_us[RESULT_PHASE_TOTAL];
    return 0;
oom:
    snprintf(err, errlen, "database: out of memory tracking the latest state");
    return -1;
}

static int seq_touch(struct sqlite_store *b, int64_t agent_id, uint64_t seq, char *err,
                     size_t errlen)
{
    /* Batches come from one agent at a time: check the last one first. */
    if (b->nseqs > 0 && b->seqs[b->nseqs - 1].agent_id == agent_id) {
        if (seq > b->seqs[b->nseqs - 1].max_seq)
            b->seqs[b->nseqs - 1].max_seq = seq;
        return 0;
    }
    if (b->nseqs == b->capseqs) {
        size_t ncap = b->capseqs ? b->capseqs * 2 : KEYMAP_MIN;
        struct agent_seq *v = realloc(b->seqs, ncap * sizeof(*v));
        if (v == NULL)
            goto oom;
        b->seqs = v;
        b->capseqs = ncap;
    }
    const int64_t key[3] = {agent_id, 0, 0};
    bool added;
    int64_t i = keymap_get(&b->seq_map, key, (uint32_t)b->nseqs, &added);
    if (i < 0)
        goto oom;
    if (added) {
        b->seqs[b->nseqs++] = (struct agent_seq){agent_id, seq};
    } else if (seq > b->seqs[i].max_seq) {
        b->seqs[i].max_seq = seq;
    }
    return 0;
oom:
    snprintf(err, errlen, "database: out of memory tracking committed seqs");
    return -1;
}

/* Checks that agent_id names a row of agents, from memory after the
 * first time: results carry no foreign key (see the schema). */
static int agent_known(struct sqlite_store *b, int64_t agent_id, char *err, size_t errlen)
{
    const int64_t key[3] = {agent_id, 0, 0};
    if (b->known_agents.n >= INTERN_MAX)
        keymap_free(&b->known_agents);
    bool added;
    if (keymap_get(&b->known_agents, key, 0, &added) < 0) {
        snprintf(err, errlen, "database: out of memory");
        return -1;
    }
    if (!added)
        return 0;
    sqlite3_bind_int64(b->agent_exists, 1, agent_id);
    int rc = sqlite3_step(b->agent_exists);
    sqlite3_reset(b->agent_exists);
    if (rc == SQLITE_ROW)
        return 0;
    /* Not an agent: forget the key again, which the map cannot do by
     * itself; dropping the whole set only costs lookups to refill it. */
    keymap_free(&b->known_agents);
    if (rc == SQLITE_DONE) {
        snprintf(err, errlen, "database: no agent with id %lld", (long long)agent_id);
        return -1;
    }
    return db_fail(b->db, "looking up an agent", err, errlen);
}

static int sqlite_result_add_facts(void *p, int64_t agent_id, const char *network,
                                   const struct result *r, const uint8_t *record, size_t len,
                                   const struct store_facts *facts, struct store_prev *prev,
                                   char *err, size_t errlen)
{
    if (prev != NULL)
        *prev = (struct store_prev){0};
    struct sqlite_store *b = p;
    /* sqlite ends a transaction by itself on some errors (disk full, I/O);
     * rows added after that would each commit alone, unseen by commit. */
    if (!b->in_txn || sqlite3_get_autocommit(b->db)) {
        snprintf(err, errlen, "database: store_result_add outside a transaction%s",
                 b->in_txn ? " (an earlier error ended it; roll back and retry the batch)" : "");
        return -1;
    }
    if (!r->has_seq || r->seq > INT64_MAX || r->check == NULL || record == NULL ||
        len > STORE_RECORD_MAX) {
        snprintf(err, errlen,
                 "database: a stored result needs a seq, a check and its "
                 "encoded bytes (at most STORE_RECORD_MAX)");
        return -1;
    }
    int64_t target_id, check_id, network_id = 0;
    if (agent_known(b, agent_id, err, errlen) < 0 ||
        intern_id(b, &b->targets, r->target, &target_id, err, errlen) < 0 ||
        intern_id(b, &b->checks, r->check, &check_id, err, errlen) < 0 ||
        (network != NULL && intern_id(b, &b->networks, network, &network_id, err, errlen) < 0))
        return -1;

    sqlite3_stmt *st = b->result_insert;
    sqlite3_bind_int64(st, 1, agent_id);
    sqlite3_bind_int64(st, 2, (int64_t)r->seq);
    if (network != NULL)
        sqlite3_bind_int64(st, 3, network_id);
    else
        sqlite3_bind_null(st, 3);
    sqlite3_bind_int64(st, 4, target_id);
    sqlite3_bind_int64(st, 5, check_id);
    sqlite3_bind_int64(st, 6, r->started_at_us);
    sqlite3_bind_int(st, 7, r->ok);
    sqlite3_bind_int(st, 8, r->layer);
    sqlite3_bind_int(st, 9, r->error);
    sqlite3_bind_int64(st, 10, (int64_t)r->phases_us[RESULT_PHASE_TOTAL]);
    sqlite3_bind_blob(st, 11, record, (int)len, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_fail(b->db, "storing a result", err, errlen);
    if (sqlite3_changes(b->db) == 0)
        return 0; /* (agent, seq) is stored already */
    if (latest_touch(b, agent_id, network_id, target_id, check_id, r, facts, prev, err, errlen) <
            0 ||
        seq_touch(b, agent_id, r->seq, err, errlen) < 0)
        return -1;
    return 1;
}

static int sqlite_result_add(void *p, int64_t agent_id, const char *network, const struct result *r,
                             const uint8_t *record, size_t len, char *err, size_t errlen)
{
    return sqlite_result_add_facts(p, agent_id, network, r, record, len, NULL, NULL, err, errlen);
}

static int sqlite_change_add(void *p, const struct store_change *c, char *err, size_t errlen)
{
    struct sqlite_store *b = p;
    if (c->kind == NULL) {
        snprintf(err, errlen, "database: a change needs a kind");
        return -1;
    }
    int64_t agent_id = 0, target_id = 0;
    if (c->agent != NULL && sqlite_agent_id(b, c->agent, &agent_id, err, errlen) < 0)
        return -1;
    if (c->target != NULL && intern_id(b, &b->targets, c->target, &target_id, err, errlen) < 0)
        return -1;
    sqlite3_stmt *st = b->change_add;
    sqlite3_bind_int64(st, 1, c->at_us);
    if (c->agent != NULL)
        sqlite3_bind_int64(st, 2, agent_id);
    if (c->target != NULL)
        sqlite3_bind_int64(st, 3, target_id);
    sqlite3_bind_text(st, 4, c->kind, -1, SQLITE_STATIC);
    bind_text_or_null(st, 5, c->subject);
    bind_text_or_null(st, 6, c->before);
    bind_text_or_null(st, 7, c->after);
    return step_done(b, st, "recording a change", err, errlen);
}

/* ---- readers ---------------------------------------------------------------- */

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* Runs a prepared reader: row(st, arg2) per row until it returns
 * non-zero (stop) or fails (< 0 from the row function means our error). */
static int each_row(struct sqlite_store *b, sqlite3_stmt *st,
                    int (*row)(sqlite3_stmt *st, void *ctx, char *err, size_t errlen), void *ctx,
                    char *err, size_t errlen)
{
    int rc;
    int ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int r = row(st, ctx, err, errlen);
        if (r < 0) {
            ret = -1;
            break;
        }
        if (r > 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        ret = db_fail(b->db, "reading", err, errlen);
    sqlite3_finalize(st);
    return ret;
}

struct agent_ctx {
    int64_t connected_after_us;
    store_agent_cb cb;
    void *arg;
};

static int agent_row(sqlite3_stmt *st, void *p, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct agent_ctx *c = p;
    struct store_agent a = {
        .name = col_text(st, 0),
        .site = col_text(st, 1),
        .network = col_text(st, 2),
        .version = col_text(st, 3),
        .address = col_text(st, 4),
        .netctx = col_text(st, 5),
        .first_seen_us = sqlite3_column_int64(st, 6),
        .last_seen_us = sqlite3_column_int64(st, 7),
        .spool_dropped = (uint64_t)sqlite3_column_int64(st, 8),
        .spool_pending = (uint64_t)sqlite3_column_int64(st, 9),
        .committed_seq = (uint64_t)sqlite3_column_int64(st, 10),
        .lost = (uint64_t)sqlite3_column_int64(st, 11),
    };
    a.connected = a.last_seen_us >= c->connected_after_us;
    return c->cb(&a, c->arg) != 0;
}

static int sqlite_agents_each(void *p, int64_t connected_after_us, store_agent_cb cb, void *arg,
                              char *err, size_t errlen)
{
    struct sqlite_store *b = p;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(b->db,
                           "SELECT name, site, network, version, address, netctx, first_seen_us,"
                           " last_seen_us, spool_dropped, spool_pending, committed_seq, lost"
                           " FROM agents ORDER BY name",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(b->db, "listing agents", err, errlen);
    struct agent_ctx c = {connected_after_us, cb, arg};
    return each_row(b, st, agent_row, &c, err, errlen);
}

static int sqlite_agent_get(void *p, int64_t id, store_agent_cb cb, void *arg, char *err,
                            size_t errlen)
{
    struct sqlite_store *b = p;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(b->db,
                           "SELECT name, site, network, version, address, netctx, first_seen_us,"
                           " last_seen_us, spool_dropped, spool_pending, committed_seq, lost"
                           " FROM agents WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(b->db, "reading an agent", err, errlen);
    sqlite3_bind_int64(st, 1, id);
    struct agent_ctx c = {INT64_MIN, cb, arg};
    return each_row(b, st, agent_row, &c, err, errlen);
}

struct result_ctx {
    store_result_cb cb;
    void *arg;
};

static int result_row(sqlite3_stmt *st, void *p, char *err, size_t errlen)
{
    struct result_ctx *c = p;
    const uint8_t *blob = sqlite3_column_blob(st, 1);
    int len = sqlite3_column_bytes(st, 1);
    const char *agent = col_text(st, 2);
    struct result r;
    char why[256];
    if (wire_result_decode(blob, (size_t)len, &r, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "database: stored result %s #%lld cannot be decoded: %s",
                 agent ? agent : "?", (long long)sqlite3_column_int64(st, 0), why);
        return -1;
    }
    r.has_seq = true;
    r.seq = (uint64_t)sqlite3_column_int64(st, 0);
    if (result_set_str(&r.agent, agent) < 0 || result_set_str(&r.network, col_text(st, 3)) < 0) {
        result_clear(&r);
        snprintf(err, errlen, "database: out of memory");
        return -1;
    }
    int stop = c->cb(&r, c->arg);
    result_clear(&r);
    return stop != 0;
}

static int sqlite_results_each(void *p, const struct store_result_filter *f, store_result_cb cb,
                               void *arg, char *err, size_t errlen)
{
    struct sqlite_store *b = p;
    /* The filters are optional, so the statement is built per call; this
     * is the CLI's path, not ingest's. ?1..?4 are always bound. */
    char where[256];
    /* Without a target, the IN list still lets sqlite walk the
     * (target_id, started_at_us) index once per target instead of
     * scanning the table. */
    snprintf(where, sizeof(where), "r.started_at_us >= ?3%s%s%s",
             f->target != NULL ? " AND r.target_id = (SELECT id FROM targets WHERE name = ?1)"
                               : " AND r.target_id IN (SELECT id FROM targets)",
             f->agent != NULL ? " AND r.agent_id = (SELECT id FROM agents WHERE name = ?2)" : "",
             /* (agent_id, seq) is unique: one row through its index. */
             f->agent != NULL && f->seq != 0 ? " AND r.seq = ?5" : "");
    char sql[768];
    if (f->limit > 0) {
        snprintf(sql, sizeof(sql),
                 "SELECT seq, record, agent, network FROM ("
                 " SELECT r.started_at_us AS at, r.seq AS seq, r.record AS record,"
                 " a.name AS agent, n.name AS network"
                 " FROM results r CROSS JOIN agents a ON a.id = r.agent_id"
                 " LEFT JOIN networks n ON n.id = r.network_id WHERE %s"
                 " ORDER BY r.started_at_us DESC, a.name DESC, r.seq DESC LIMIT ?4)"
                 " ORDER BY at, agent, seq",
                 where);
    } else {
        snprintf(sql, sizeof(sql),
                 "SELECT r.seq, r.record, a.name, n.name"
                 " FROM results r CROSS JOIN agents a ON a.id = r.agent_id"
                 " LEFT JOIN networks n ON n.id = r.network_id WHERE %s"
                 " ORDER BY r.started_at_us, a.name, r.seq",
                 where);
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(b->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(b->db, "listing results", err, errlen);
    if (f->target != NULL)
        sqlite3_bind_text(st, 1, f->target, -1, SQLITE_STATIC);
    if (f->agent != NULL)
        sqlite3_bind_text(st, 2, f->agent, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, f->since_us > 0 ? f->since_us : INT64_MIN);
    if (f->limit > 0)
        sqlite3_bind_int64(st, 4, f->limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)f->limit);
    if (f->agent != NULL && f->seq != 0)
        sqlite3_bind_int64(st, 5, f->seq > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)f->seq);
    struct result_ctx c = {cb, arg};
    return each_row(b, st, result_row, &c, err, errlen);
}

struct latest_ctx {
    store_latest_cb cb;
    void *arg;
};

static int latest_row(sqlite3_stmt *st, void *p, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct latest_ctx *c = p;
    int layer = sqlite3_column_int(st, 6);
    int error = sqlite3_column_int(st, 7);
    const char *target = col_text(st, 2);
    struct store_latest l = {
        .agent = col_text(st, 0),
        .network = col_text(st, 1),
        .target = (target != NULL && target[0] != '\0') ? target : NULL,
        .check = col_text(st, 3),
        .discovered = sqlite3_column_int(st, 4) != 0,
        .ok = sqlite3_column_int(st, 5) != 0,
        /* Values written by a newer build are shown as unknown, not
         * trusted as an index. */
        .layer = (layer >= 0 && layer < RESULT_LAYER_LAST) ? (enum result_layer)layer
                                                           : RESULT_LAYER_NONE,
        .error =
            (error >= 0 && error < RESULT_ERROR_LAST) ? (enum result_error)error : RESULT_INTERNAL,
        .seq = (uint64_t)sqlite3_column_int64(st, 8),
        .at_us = sqlite3_column_int64(st, 9),
        .since_us = sqlite3_column_int64(st, 10),
        .total_us = (uint64_t)sqlite3_column_int64(st, 11),
        .detail = col_text(st, 12),
        .episode_us = sqlite3_column_int64(st, 13),
        .flips = (uint32_t)sqlite3_column_int64(st, 14),
        .streak_n = (uint32_t)sqlite3_column_int64(st, 15),
        .phase_us = (uint64_t)sqlite3_column_int64(st, 19),
        .address = col_text(st, 20),
        .answers = col_text(st, 21),
        .delivery_us = (uint64_t)sqlite3_column_int64(st, 22),
    };
    int fl = sqlite3_column_int(st, 16), fe = sqlite3_column_int(st, 17);
    int ph = sqlite3_column_int(st, 18);
    l.fail_layer = (fl >= 0 && fl < RESULT_LAYER_LAST) ? (enum result_layer)fl : RESULT_LAYER_NONE;
    l.fail_error = (fe >= 0 && fe < RESULT_ERROR_LAST) ? (enum result_error)fe : RESULT_INTERNAL;
    l.phase = (ph >= 0 && ph < RESULT_PHASE_LAST) ? (enum result_phase)ph : RESULT_PHASE_TOTAL;
    return c->cb(&l, c->arg) != 0;
}

static int sqlite_latest_each(void *p, const char *target, store_latest_cb cb, void *arg, char *err,
                              size_t errlen)
{
    struct sqlite_store *b = p;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(b->db,
                           "SELECT a.name, n.name, t.name, c.name, l.discovered, l.ok, l.layer,"
                           " l.error, l.seq, l.at_us, l.since_us, l.total_us, l.detail,"
                           " l.episode_us, l.flips, l.streak_n, l.fail_layer, l.fail_error,"
                           " l.phase, l.phase_us, l.address, l.dns, l.delivery_us"
                           " FROM latest l JOIN agents a ON a.id = l.agent_id"
                           " JOIN targets t ON t.id = l.target_id"
                           " JOIN checks c ON c.id = l.check_id"
                           " LEFT JOIN networks n ON n.id = l.network_id"
                           " WHERE ?1 IS NULL OR t.name = ?1"
                           " ORDER BY t.name, c.name, a.name",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(b->db, "listing the latest state", err, errlen);
    if (target != NULL)
        sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
    struct latest_ctx c = {cb, arg};
    return each_row(b, st, latest_row, &c, err, errlen);
}

struct change_ctx {
    store_change_cb cb;
    void *arg;
};

static int change_row(sqlite3_stmt *st, void *p, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct change_ctx *c = p;
    struct store_change ch = {
        .at_us = sqlite3_column_int64(st, 0),
        .agent = col_text(st, 1),
        .target = col_text(st, 2),
        .kind = col_text(st, 3),
        .subject = col_text(st, 4),
        .before = col_text(st, 5),
        .after = col_text(st, 6),
    };
    return c->cb(&ch, c->arg) != 0;
}

static int sqlite_changes_each(void *p, const char *target, int64_t since_us, store_change_cb cb,
                               void *arg, char *err, size_t errlen)
{
    struct sqlite_store *b = p;
    sqlite3_stmt *st = NULL;
    /* With a target: its own changes and every agent change (an agent's
     * network moving concerns all the targets it probes). */
    if (sqlite3_prepare_v2(b->db,
                           "SELECT c.at_us, a.name, t.name, c.kind, c.subject, c.before, c.after"
                           " FROM changes c LEFT JOIN agents a ON a.id = c.agent_id"
                           " LEFT JOIN targets t ON t.id = c.target_id"
                           " WHERE c.at_us >= ?2"
                           " AND (?1 IS NULL OR c.target_id IS NULL OR t.name = ?1)"
                           " ORDER BY c.at_us, c.id",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(b->db, "listing changes", err, errlen);
    if (target != NULL)
        sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, since_us > 0 ? since_us : INT64_MIN);
    struct change_ctx c = {cb, arg};
    return each_row(b, st, change_row, &c, err, errlen);
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
    .agent_id = sqlite_agent_id,
    .agent_update = sqlite_agent_update,
    .agent_committed_seq = sqlite_agent_committed_seq,
    .agent_lost_add = sqlite_agent_lost_add,
    .result_add = sqlite_result_add,
    .result_add_facts = sqlite_result_add_facts,
    .agent_get = sqlite_agent_get,
    .change_add = sqlite_change_add,
    .agents_each = sqlite_agents_each,
    .results_each = sqlite_results_each,
    .latest_each = sqlite_latest_each,
    .changes_each = sqlite_changes_each,
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
};
