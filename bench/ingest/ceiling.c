/*
 * ingest-ceiling — how fast can results go into the collector's database?
 *
 * "ceiling": the raw sqlite ceiling of issue 2 — the same rows the store
 * writes, inserted by a tight C loop with one prepared statement, in
 * 1000-row transactions, into a fresh database with exactly the store's
 * schema (store_open creates it) and the store's pragmas (WAL,
 * synchronous=NORMAL, foreign keys on).
 * "store": the same rows through store_begin / store_result_add /
 * store_commit, which also interns names, keeps the latest state and the
 * agents' committed_seq, and reads committed_seq back once per batch as
 * ingest does before it acks.
 *
 * Rows are realistic: real results (TLS facts, banners, DNS answers, a
 * tenth failing) encoded with wire_result_encode, from 50 agents on 10
 * networks probing 20 targets x 4 checks, each batch from one agent in
 * seq order. Encoding happens before the clock starts. Each measurement
 * runs on a fresh database; the median of the repeats is printed.
 *
 * Usage: ingest-ceiling [--rows N] [--repeat R] [--batch B] [--dir DIR]
 *                       [--mode ceiling|store|both] [--synchronous normal|full]
 * (--synchronous applies to the ceiling only, to show what an fsync per
 * transaction would cost; the store always runs NORMAL.)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "clock.h"
#include "store.h"
#include "store_impl.h"
#include "wire.h"

#define AGENTS            50
#define NETWORKS          10
#define TARGETS           20
#define CHECKS_PER_TARGET 4
#define CHECKS            (TARGETS * CHECKS_PER_TARGET)
/* One result in ten fails, in one of these ways. */
#define FAIL_EVERY 10
#define VARIANTS   4
#define REPEAT_MAX 101

struct opts {
    size_t rows;
    size_t repeat;
    size_t batch;
    const char *dir;
    const char *mode;
    const char *sync;
};

/* One pre-encoded row: which template it came from and its own fields. */
struct row {
    uint16_t agent;
    uint16_t tmpl;
    uint64_t seq;
    int64_t started_at_us;
    uint8_t *blob;
    size_t len;
};

struct data {
    struct result tmpl[CHECKS * VARIANTS]; /* check x (ok, 3 failures) */
    char *targets[TARGETS];
    char *checks[CHECKS];
    char *networks[NETWORKS];
    char *agents[AGENTS];
    struct row *rows;
    size_t nrows;
};

static void die(const char *what, const char *why)
{
    fprintf(stderr, "ingest-ceiling: %s: %s\n", what, why);
    exit(2);
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (p == NULL)
        die("strdup", "out of memory");
    return p;
}

static void set(char **slot, const char *s)
{
    if (result_set_str(slot, s) < 0)
        die("result_set_str", "out of memory");
}

/* A result of check c as a probe would fill it; variant 0 is a success. */
static void make_template(struct data *d, size_t c, int variant, struct result *r)
{
    static const enum result_error fails[VARIANTS] = {RESULT_OK, RESULT_TCP_TIMEOUT,
                                                      RESULT_TLS_CERT_EXPIRED, RESULT_AUTH_FAILED};
    char buf[256];
    size_t t = c / CHECKS_PER_TARGET;
    result_init(r);
    set(&r->target, d->targets[t]);
    set(&r->check, d->checks[c]);
    r->error = fails[variant];
    r->ok = r->error == RESULT_OK;
    r->layer = result_error_layer(r->error);
    r->has_seq = true;
    const uint64_t ph[RESULT_PHASE_LAST] = {812, 10321, 30211, 2003, 0, 0, 0, 45000};
    memcpy(r->phases_us, ph, sizeof(ph));
    if (!r->ok) {
        snprintf(buf, sizeof(buf), "%s: %s", result_error_name(r->error),
                 result_error_hint(r->error));
        set(&r->detail, buf);
    }
    if (c % CHECKS_PER_TARGET == 3) {
        /* dns://example-N.com/MX with its answers */
        struct result_dns *dns = result_add_dns(r);
        if (dns == NULL)
            die("result_add_dns", "out of memory");
        snprintf(buf, sizeof(buf), "example-%zu.com", t);
        set(&dns->name, buf);
        set(&dns->type, "MX");
        set(&dns->rcode, "NOERROR");
        set(&dns->resolver, "192.0.2.53:53");
        dns->ttl = 300;
        for (int i = 0; i < 2; i++) {
            snprintf(buf, sizeof(buf), "%d mx%d.example-%zu.com", 10 * (i + 1), i, t);
            if (result_list_add(&dns->answers, &dns->nanswers, buf) < 0)
                die("result_list_add", "out of memory");
        }
        return;
    }
    snprintf(buf, sizeof(buf), "203.0.113.%zu", t + 1);
    set(&r->address, buf);
    r->port = c % CHECKS_PER_TARGET == 0 ? 993 : c % CHECKS_PER_TARGET == 1 ? 587 : 443;
    if (c % CHECKS_PER_TARGET == 0)
        set(&r->banner, "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE "
                        "LITERAL+ AUTH=PLAIN] Dovecot (Debian) ready.");
    else if (c % CHECKS_PER_TARGET == 1)
        set(&r->banner, "220 mail.example.com ESMTP Postfix (Debian/GNU)");
    struct result_tls *tls = result_tls_new(r);
    if (tls == NULL)
        die("result_tls_new", "out of memory");
    set(&tls->version, "TLSv1.3");
    set(&tls->cipher, "TLS_AES_256_GCM_SHA384");
    snprintf(buf, sizeof(buf), "CN=mail.example-%zu.com", t);
    set(&tls->subject, buf);
    set(&tls->issuer, "C=US, O=Let's Encrypt, CN=R3");
    snprintf(buf, sizeof(buf), "mail.example-%zu.com", t);
    if (result_list_add(&tls->sans, &tls->nsans, buf) < 0)
        die("result_list_add", "out of memory");
    snprintf(buf, sizeof(buf), "webmail.example-%zu.com", t);
    if (result_list_add(&tls->sans, &tls->nsans, buf) < 0)
        die("result_list_add", "out of memory");
    tls->not_after = 1798761600;
    tls->days_left = 61;
    set(&tls->sha256, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    set(&tls->verify, r->error == RESULT_TLS_CERT_EXPIRED ? "certificate has expired" : "ok");
}

/* The result a row stands for: its template with its own seq and time.
 * A shallow copy: the strings stay the template's. */
static struct result row_result(const struct data *d, const struct row *w)
{
    struct result r = d->tmpl[w->tmpl];
    r.seq = w->seq;
    r.started_at_us = w->started_at_us;
    return r;
}

static void make_data(struct data *d, size_t nrows, size_t batch)
{
    char buf[128];
    for (size_t t = 0; t < TARGETS; t++) {
        snprintf(buf, sizeof(buf), "target-%02zu", t);
        d->targets[t] = xstrdup(buf);
        static const char *const pre[CHECKS_PER_TARGET] = {"imaps://mail.", "submission://mail.",
                                                           "https://webmail.", "dns://"};
        static const char *const suf[CHECKS_PER_TARGET] = {"", "", "/", "/MX"};
        for (size_t k = 0; k < CHECKS_PER_TARGET; k++) {
            snprintf(buf, sizeof(buf), "%sexample-%zu.com%s", pre[k], t, suf[k]);
            d->checks[t * CHECKS_PER_TARGET + k] = xstrdup(buf);
        }
    }
    for (size_t n = 0; n < NETWORKS; n++) {
        snprintf(buf, sizeof(buf), "site-%02zu", n);
        d->networks[n] = xstrdup(buf);
    }
    for (size_t a = 0; a < AGENTS; a++) {
        snprintf(buf, sizeof(buf), "agent-%02zu.site-%02zu", a, a % NETWORKS);
        d->agents[a] = xstrdup(buf);
    }
    for (size_t c = 0; c < CHECKS; c++)
        for (int v = 0; v < VARIANTS; v++)
            make_template(d, c, v, &d->tmpl[c * VARIANTS + (size_t)v]);

    d->rows = calloc(nrows, sizeof(*d->rows));
    if (d->rows == NULL)
        die("rows", "out of memory");
    d->nrows = nrows;
    uint64_t next_seq[AGENTS] = {0};
    const int64_t base = 1795000000000000; /* 2026-11-18, a plausible "now" */
    for (size_t i = 0; i < nrows; i++) {
        struct row *w = &d->rows[i];
        w->agent = (uint16_t)((i / batch) % AGENTS);
        w->seq = ++next_seq[w->agent];
        size_t c = (size_t)(w->seq % CHECKS);
        /* Every check once a minute, a tenth of them failing. */
        int variant = (w->seq * 7919) % FAIL_EVERY == 0 ? 1 + (int)(w->seq % (VARIANTS - 1)) : 0;
        w->tmpl = (uint16_t)(c * VARIANTS + (size_t)variant);
        w->started_at_us = base + (int64_t)(w->seq / CHECKS) * 60000000 +
                           (int64_t)(w->seq % CHECKS) * 100000 + (int64_t)w->agent * 1000;
        struct result r = row_result(d, w);
        if (wire_result_encode(&r, &w->blob, &w->len) < 0)
            die("wire_result_encode", "out of memory");
    }
}

static void free_data(struct data *d)
{
    for (size_t i = 0; i < d->nrows; i++)
        free(d->rows[i].blob);
    free(d->rows);
    for (size_t i = 0; i < CHECKS * VARIANTS; i++)
        result_clear(&d->tmpl[i]);
    for (size_t i = 0; i < TARGETS; i++)
        free(d->targets[i]);
    for (size_t i = 0; i < CHECKS; i++)
        free(d->checks[i]);
    for (size_t i = 0; i < NETWORKS; i++)
        free(d->networks[i]);
    for (size_t i = 0; i < AGENTS; i++)
        free(d->agents[i]);
}

static double now_s(void)
{
    return (double)clock_mono_us() / 1e6;
}

static void remove_db(const char *path)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    char p[4200];
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
        if (unlink(p) < 0 && errno != ENOENT)
            die(p, strerror(errno));
    }
}

/* A fresh database with the store's schema and the agents; their ids. */
static void fresh_store_db(const struct data *d, const char *path, int64_t *agent_ids)
{
    char err[STORE_ERR_MAX];
    remove_db(path);
    struct store *s = store_open(path, err, sizeof(err));
    if (s == NULL)
        die("store_open", err);
    for (size_t a = 0; a < AGENTS; a++)
        if (store_agent_id(s, d->agents[a], &agent_ids[a]) < 0)
            die("store_agent_id", store_error(s));
    store_close(&s);
}

static void sql(sqlite3 *db, const char *q)
{
    char *msg = NULL;
    if (sqlite3_exec(db, q, NULL, NULL, &msg) != SQLITE_OK)
        die(q, msg ? msg : sqlite3_errmsg(db));
}

static void intern_raw(sqlite3 *db, const char *table, char *const *names, size_t n, int64_t *ids)
{
    char q[128];
    snprintf(q, sizeof(q), "INSERT INTO %s(name) VALUES (?1)", table);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK)
        die(q, sqlite3_errmsg(db));
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_text(st, 1, names[i], -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            die(q, sqlite3_errmsg(db));
        sqlite3_reset(st);
        ids[i] = sqlite3_last_insert_rowid(db);
    }
    sqlite3_finalize(st);
}

/* The raw ceiling: rows/s of one prepared INSERT in a tight loop. */
static double run_ceiling(const struct data *d, const struct opts *o, const char *path)
{
    int64_t agent_ids[AGENTS], target_ids[TARGETS], check_ids[CHECKS], net_ids[NETWORKS];
    fresh_store_db(d, path, agent_ids);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        die(path, sqlite3_errmsg(db));
    char q[64];
    snprintf(q, sizeof(q), "PRAGMA synchronous=%s", o->sync);
    sql(db, "PRAGMA journal_mode=WAL");
    sql(db, q);
    sql(db, "PRAGMA foreign_keys=ON");
    intern_raw(db, "targets", d->targets, TARGETS, target_ids);
    intern_raw(db, "checks", d->checks, CHECKS, check_ids);
    intern_raw(db, "networks", d->networks, NETWORKS, net_ids);
    sqlite3_stmt *ins = NULL, *begin = NULL, *commit = NULL;
    if (sqlite3_prepare_v2(db, STORE_SQLITE_RESULT_INSERT, -1, &ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL) != SQLITE_OK)
        die("prepare", sqlite3_errmsg(db));

    double t0 = now_s();
    for (size_t i = 0; i < d->nrows; i += o->batch) {
        size_t end = i + o->batch < d->nrows ? i + o->batch : d->nrows;
        if (sqlite3_step(begin) != SQLITE_DONE)
            die("BEGIN", sqlite3_errmsg(db));
        sqlite3_reset(begin);
        for (size_t j = i; j < end; j++) {
            const struct row *w = &d->rows[j];
            const struct result *t = &d->tmpl[w->tmpl];
            size_t c = w->tmpl / VARIANTS;
            sqlite3_bind_int64(ins, 1, agent_ids[w->agent]);
            sqlite3_bind_int64(ins, 2, (int64_t)w->seq);
            sqlite3_bind_int64(ins, 3, net_ids[w->agent % NETWORKS]);
            sqlite3_bind_int64(ins, 4, target_ids[c / CHECKS_PER_TARGET]);
            sqlite3_bind_int64(ins, 5, check_ids[c]);
            sqlite3_bind_int64(ins, 6, w->started_at_us);
            sqlite3_bind_int(ins, 7, t->ok);
            sqlite3_bind_int(ins, 8, t->layer);
            sqlite3_bind_int(ins, 9, t->error);
            sqlite3_bind_int64(ins, 10, (int64_t)t->phases_us[RESULT_PHASE_TOTAL]);
            sqlite3_bind_blob(ins, 11, w->blob, (int)w->len, SQLITE_STATIC);
            if (sqlite3_step(ins) != SQLITE_DONE)
                die("INSERT", sqlite3_errmsg(db));
            sqlite3_reset(ins);
        }
        if (sqlite3_step(commit) != SQLITE_DONE)
            die("COMMIT", sqlite3_errmsg(db));
        sqlite3_reset(commit);
    }
    double dt = now_s() - t0;
    sqlite3_finalize(ins);
    sqlite3_finalize(begin);
    sqlite3_finalize(commit);
    sqlite3_close(db);
    return (double)d->nrows / dt;
}

/* The same rows through the store API, as ingest calls it. */
static double run_store(const struct data *d, const struct opts *o, const char *path)
{
    int64_t agent_ids[AGENTS];
    char err[STORE_ERR_MAX];
    fresh_store_db(d, path, agent_ids);
    struct store *s = store_open(path, err, sizeof(err));
    if (s == NULL)
        die("store_open", err);
    double t0 = now_s();
    for (size_t i = 0; i < d->nrows; i += o->batch) {
        size_t end = i + o->batch < d->nrows ? i + o->batch : d->nrows;
        if (store_begin(s) < 0)
            die("store_begin", store_error(s));
        for (size_t j = i; j < end; j++) {
            const struct row *w = &d->rows[j];
            struct result r = row_result(d, w);
            if (store_result_add(s, agent_ids[w->agent], d->networks[w->agent % NETWORKS], &r,
                                 w->blob, w->len) != 1)
                die("store_result_add", store_error(s));
        }
        if (store_commit(s) < 0)
            die("store_commit", store_error(s));
        uint64_t acked;
        if (store_agent_committed_seq(s, agent_ids[d->rows[i].agent], &acked) < 0 ||
            acked < d->rows[end - 1].seq)
            die("store_agent_committed_seq", store_error(s));
    }
    double dt = now_s() - t0;
    store_close(&s);
    return (double)d->nrows / dt;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Prints one measurement's line and returns its median rate. sync: the
 * synchronous setting the runs used (the store always uses its own). */
static double report(const char *name, const double *rates, const struct data *d,
                     const struct opts *o, const char *sync)
{
    double sorted[REPEAT_MAX];
    memcpy(sorted, rates, o->repeat * sizeof(double));
    qsort(sorted, o->repeat, sizeof(double), cmp_double);
    double median = sorted[o->repeat / 2];
    printf("%-7s %zu rows, %zu-row transactions, synchronous=%s: median %.0f rows/s (runs:", name,
           d->nrows, o->batch, sync, median);
    for (size_t i = 0; i < o->repeat; i++)
        printf(" %.0f", rates[i]);
    printf(")\n");
    fflush(stdout);
    return median;
}

static void usage(void)
{
    fprintf(stderr, "usage: ingest-ceiling [--rows N] [--repeat R] [--batch B] [--dir DIR]\n"
                    "                      [--mode ceiling|store|both] "
                    "[--synchronous normal|full]\n");
    exit(2);
}

static size_t parse_count(const char *s, size_t max)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v == 0 || v > max)
        usage();
    return (size_t)v;
}

int main(int argc, char **argv)
{
    struct opts o = {
        .rows = 200000, .repeat = 5, .batch = WIRE_BATCH_MAX, .mode = "both", .sync = "NORMAL"};
    const char *tmp = getenv("TMPDIR");
    o.dir = tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp";
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (strcmp(argv[i - 1], "--rows") == 0)
            o.rows = parse_count(v, 100000000);
        else if (strcmp(argv[i - 1], "--repeat") == 0)
            o.repeat = parse_count(v, REPEAT_MAX);
        else if (strcmp(argv[i - 1], "--batch") == 0)
            o.batch = parse_count(v, 1000000);
        else if (strcmp(argv[i - 1], "--dir") == 0)
            o.dir = v;
        else if (strcmp(argv[i - 1], "--mode") == 0 &&
                 (strcmp(v, "ceiling") == 0 || strcmp(v, "store") == 0 || strcmp(v, "both") == 0))
            o.mode = v;
        else if (strcmp(argv[i - 1], "--synchronous") == 0 &&
                 (strcmp(v, "normal") == 0 || strcmp(v, "full") == 0))
            o.sync = strcmp(v, "full") == 0 ? "FULL" : "NORMAL";
        else
            usage();
    }
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/ingest-ceiling-XXXXXX", o.dir);
    if (mkdtemp(dir) == NULL)
        die(dir, strerror(errno));
    char path[4200];
    snprintf(path, sizeof(path), "%s/bench.db", dir);

    struct data d = {0};
    make_data(&d, o.rows, o.batch);
    size_t bytes = 0;
    for (size_t i = 0; i < d.nrows; i++)
        bytes += d.rows[i].len;
    printf("rows: %zu results from %d agents, %d checks, mean record %zu bytes; database in %s\n",
           d.nrows, AGENTS, CHECKS, bytes / d.nrows, o.dir);

    /* The two kinds of run alternate, so that load from elsewhere on the
     * machine weighs on both alike. */
    bool do_ceiling = strcmp(o.mode, "store") != 0, do_store = strcmp(o.mode, "ceiling") != 0;
    double crates[REPEAT_MAX], srates[REPEAT_MAX];
    for (size_t i = 0; i < o.repeat; i++) {
        if (do_ceiling)
            crates[i] = run_ceiling(&d, &o, path);
        if (do_store)
            srates[i] = run_store(&d, &o, path);
    }
    remove_db(path);
    double ceiling = do_ceiling ? report("ceiling", crates, &d, &o, o.sync) : 0;
    double store = do_store ? report("store", srates, &d, &o, "NORMAL") : 0;
    if (ceiling > 0 && store > 0)
        printf("ratio   store/ceiling = %.2f (issue 2 wants >= 0.70)\n", store / ceiling);
    free_data(&d);
    rmdir(dir);
    return 0;
}
