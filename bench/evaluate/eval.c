/*
 * evaluate-bench — the cost of one evaluation of continuous diagnosis
 * per target (issue 11: "evaluation cost per target at 1,000 agents
 * (aim under 5 ms, so that evaluating every 15 s is free)").
 *
 *   evaluate-bench gen  --db PATH [--agents N] [--networks N] [--rounds R]
 *   evaluate-bench time --db PATH [--runs N]
 *
 * gen: R rounds, one minute apart and ending at the wall clock's now, of
 * one result per agent and check (20 checks: IMAPS, submission, POP3S,
 * HTTPS and DNS on four servers) through the real ingest path
 * (changes_facts, store_result_add_facts, changes_record), so the latest
 * states and streaks are what the collector keeps. In the last three
 * rounds net03's agents fail IMAPS on mail0 (a network finding), a150
 * fails submission on mail1 (a device finding) and every agent fails
 * HTTPS on mail3 (a server finding): an evaluation has findings to keep.
 *
 * time: N evaluations of the target as the monitor's evaluate_target does
 * them (report_snapshot_load, analysis_diagnose, lifecycle_assign_ids,
 * the findings' JSON, lifecycle_apply in one transaction, committed),
 * with "now" just after the last round; wall and CPU time of each, the
 * median, p90 and maximum. The first two runs open the findings (pending,
 * then opened); the rest are the steady state. Not included: the
 * collector's warning overrides (collconf_warnings_into copies a few
 * numbers) and the notification queue (a row per event, and events
 * happen only when a finding opens, changes or resolves).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sqlite3.h>

#include "analysis.h"
#include "changes.h"
#include "clock.h"
#include "lifecycle.h"
#include "report.h"
#include "store.h"
#include "wire.h"

#define CHECKS    20
#define SERVERS   4
#define MINUTE_US (60LL * 1000000)
#define RUNS_MAX  1001

enum kind { K_IMAPS, K_SUBMISSION, K_POP3S, K_HTTPS, K_DNS, K_KINDS };

struct opts {
    const char *db;
    int agents, networks, rounds, runs;
};

static char checks[CHECKS][64];

static void die(const char *what, const char *why)
{
    fprintf(stderr, "evaluate-bench: %s: %s\n", what, why);
    exit(2);
}

static void names(void)
{
    static const char *const scheme[K_KINDS] = {"imaps", "submission", "pop3s", "https", "dns"};
    static const char *const tail[K_KINDS] = {"", "", "", "/", "/A"};
    for (int c = 0; c < CHECKS; c++)
        snprintf(checks[c], sizeof(checks[c]), "%s://mail%d.example.com%s", scheme[c % K_KINDS],
                 c / K_KINDS, tail[c % K_KINDS]);
}

/* A realistic result of check c by an agent at time at. */
static void make(struct result *r, int c, int64_t at, enum result_error e)
{
    static const uint16_t ports[K_KINDS] = {993, 587, 995, 443, 53};
    char host[32], addr[32];
    snprintf(host, sizeof(host), "mail%d.example.com", c / K_KINDS);
    snprintf(addr, sizeof(addr), "203.0.113.%d", 10 + c / K_KINDS);
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
    if (c % K_KINDS != K_DNS) {
        result_set_str(&r->address, addr);
        r->port = ports[c % K_KINDS];
        r->phases_us[RESULT_PHASE_CONNECT] = 10000 + (uint64_t)(at / 1000 % 5000);
        r->phases_us[RESULT_PHASE_TLS] = 30000;
        struct result_tls *t = result_tls_new(r);
        result_set_str(&t->version, "TLSv1.3");
        result_set_str(&t->subject, "CN=mail.example.com");
        result_set_str(&t->sha256, "aa11");
    } else {
        struct result_dns *d = result_add_dns(r);
        result_set_str(&d->name, host);
        result_set_str(&d->type, "A");
        result_set_str(&d->rcode, "NOERROR");
        result_list_add(&d->answers, &d->nanswers, addr);
    }
    r->phases_us[RESULT_PHASE_TOTAL] = 45000;
}

/* What agent's result of check c is in round m of r rounds. */
static enum result_error scenario(int agent, int net, int c, int m, int rounds)
{
    if (m < rounds - 3)
        return RESULT_OK;
    if (net == 3 && c == 0 * K_KINDS + K_IMAPS)
        return RESULT_TCP_TIMEOUT;
    if (agent == 150 && c == 1 * K_KINDS + K_SUBMISSION)
        return RESULT_TCP_TIMEOUT;
    if (c == 3 * K_KINDS + K_HTTPS)
        return RESULT_TCP_REFUSED;
    return RESULT_OK;
}

static void gen(const struct opts *o)
{
    char err[STORE_ERR_MAX];
    remove(o->db);
    struct store *s = store_open(o->db, err, sizeof(err));
    if (s == NULL)
        die(o->db, err);
    int64_t now = clock_wall_us();
    int64_t first = now - (int64_t)(o->rounds - 1) * MINUTE_US - (int64_t)o->agents * 1000;
    int64_t *ids = calloc((size_t)o->agents, sizeof(*ids));
    char(*agent)[16] = calloc((size_t)o->agents, sizeof(*agent));
    char(*nets)[16] = calloc((size_t)o->agents, sizeof(*nets));
    if (!ids || !agent || !nets)
        die("gen", "out of memory");
    if (store_begin(s) < 0)
        die("begin", store_error(s));
    for (int a = 0; a < o->agents; a++) {
        snprintf(agent[a], sizeof(agent[a]), "a%03d", a);
        snprintf(nets[a], sizeof(nets[a]), "net%02d", a % o->networks);
        if (store_agent_id(s, agent[a], &ids[a]) < 0)
            die("agent", store_error(s));
        struct store_agent ag = {.name = agent[a],
                                 .site = nets[a],
                                 .network = nets[a],
                                 .version = "0.1.0",
                                 .address = "198.51.100.1",
                                 .netctx = "{\"addresses\":[],\"gateway\":\"198.18.0.1\","
                                           "\"resolvers\":[\"198.18.0.1\"]}",
                                 .first_seen_us = first,
                                 .last_seen_us = now};
        if (store_agent_update(s, ids[a], &ag) < 0)
            die("agent", store_error(s));
    }
    if (store_commit(s) < 0)
        die("commit", store_error(s));
    uint64_t t0 = clock_mono_us();
    size_t n = 0;
    for (int m = 0; m < o->rounds; m++) {
        if (store_begin(s) < 0)
            die("begin", store_error(s));
        for (int a = 0; a < o->agents; a++) {
            for (int c = 0; c < CHECKS; c++) {
                struct result r;
                make(&r, c, first + m * MINUTE_US + a * 1000,
                     scenario(a, a % o->networks, c, m, o->rounds));
                r.has_seq = true;
                r.seq = (uint64_t)(1 + m * CHECKS + c);
                uint8_t *buf;
                size_t len;
                if (wire_result_encode(&r, &buf, &len) < 0)
                    die("encode", "out of memory");
                char text[CHANGES_TEXT_MAX];
                struct store_facts facts;
                struct store_prev prev;
                changes_facts(&r, &facts, text, sizeof(text));
                int rc = store_result_add_facts(s, ids[a], nets[a], &r, buf, len, &facts, &prev);
                if (rc < 0 || (rc == 1 && changes_record(s, agent[a], &r, &facts, &prev) < 0))
                    die("ingest", store_error(s));
                free(buf);
                result_clear(&r);
                n++;
            }
        }
        if (store_commit(s) < 0)
            die("commit", store_error(s));
    }
    store_close(&s);
    fprintf(stderr, "%zu results through ingest in %.1f s\n", n,
            (double)(clock_mono_us() - t0) / 1e6);
    free(ids);
    free(agent);
    free(nets);
}

static uint64_t cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int count_event(const struct store_finding *f, const char *event, void *arg)
{
    (void)f;
    (void)event;
    ++*(size_t *)arg;
    return 0;
}

/* One evaluation of t at now, as monitor.c's evaluate_target does it. */
/* Wall time of each step of one evaluation. */
enum phase { P_LOAD, P_DIAGNOSE, P_IDS, P_JSON, P_LIFECYCLE, P_PHASES };
static const char *const phase_name[P_PHASES] = {"snapshot load", "analysis_diagnose",
                                                 "lifecycle_assign_ids", "findings JSON",
                                                 "lifecycle_apply+commit"};

static void one(struct store *s, const struct wire_target *t, int64_t now, uint64_t *wall,
                uint64_t *cpu, uint64_t *phase, size_t *nfindings, size_t *events)
{
    char err[STORE_ERR_MAX + 128];
    uint64_t w0 = clock_mono_us(), c0 = cpu_us();
    struct report_snapshot *snap = report_snapshot_load(s, t, now, false, err, sizeof(err));
    if (snap == NULL)
        die("load", err);
    uint64_t w1 = clock_mono_us();
    phase[P_LOAD] = w1 - w0;
    struct analysis_input in = *report_snapshot_input(snap);
    struct analysis_diagnosis d;
    if (analysis_diagnose(&in, &d, err, sizeof(err)) < 0)
        die("diagnose", err);
    if (d.status == ANALYSIS_STATUS_NO_DATA)
        die("diagnose", "no data: the states are stale (run time within 3 minutes of gen)");
    uint64_t w2 = clock_mono_us();
    phase[P_DIAGNOSE] = w2 - w1;
    if (lifecycle_assign_ids(s, t->name, &d, err, sizeof(err)) < 0)
        die("assign ids", err);
    uint64_t w3 = clock_mono_us();
    phase[P_IDS] = w3 - w2;
    char **json = calloc(d.nfindings + 1, sizeof(*json));
    if (json == NULL)
        die("json", "out of memory");
    for (size_t i = 0; i < d.nfindings; i++) {
        json_t *o = report_finding_json(&in, &d.findings[i]);
        json[i] = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(o);
        if (json[i] == NULL)
            die("json", "out of memory");
    }
    uint64_t w4 = clock_mono_us();
    phase[P_JSON] = w4 - w3;
    if (store_begin(s) < 0)
        die("begin", store_error(s));
    if (lifecycle_apply(s, t->name, &d, (const char *const *)json, now, count_event, events, err,
                        sizeof(err)) < 0)
        die("lifecycle", err);
    if (store_commit(s) < 0)
        die("commit", store_error(s));
    *wall = clock_mono_us() - w0;
    phase[P_LIFECYCLE] = w0 + *wall - w4;
    *cpu = cpu_us() - c0;
    *nfindings = d.nfindings;
    for (size_t i = 0; i < d.nfindings; i++)
        free(json[i]);
    free(json);
    analysis_diagnosis_clear(&d);
    report_snapshot_destroy(&snap);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void stats(const char *what, uint64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof(v[0]), cmp_u64);
    printf("  %-5s median %.2f ms, p90 %.2f ms, min %.2f ms, max %.2f ms\n", what,
           (double)v[n / 2] / 1000.0, (double)v[(n * 9) / 10 < n ? (n * 9) / 10 : n - 1] / 1000.0,
           (double)v[0] / 1000.0, (double)v[n - 1] / 1000.0);
}

static void timeit(const struct opts *o)
{
    char err[STORE_ERR_MAX];
    struct store *s = store_open(o->db, err, sizeof(err));
    if (s == NULL)
        die(o->db, err);
    /* The target as collector.conf would give it: its 20 checks, no
     * domain (a domain would add discovered DNS checks nobody probed). */
    char *list[CHECKS];
    for (int c = 0; c < CHECKS; c++)
        list[c] = checks[c];
    struct wire_target t = {.name = "corp",
                            .checks = list,
                            .nchecks = CHECKS,
                            .interval_ms = 60000,
                            .timeout_ms = 10000};
    /* "Now" is just after the last round, so the timing does not depend
     * on how long ago gen ran. */
    sqlite3 *db;
    sqlite3_stmt *st = NULL;
    int64_t now = 0;
    if (sqlite3_open(o->db, &db) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT max(at_us) FROM latest", -1, &st, NULL) != SQLITE_OK)
        die(o->db, "cannot read the latest state");
    if (sqlite3_step(st) == SQLITE_ROW)
        now = sqlite3_column_int64(st, 0) + 5 * 1000000;
    sqlite3_finalize(st);
    sqlite3_close(db);
    static uint64_t wall[RUNS_MAX], cpu[RUNS_MAX], phase[P_PHASES][RUNS_MAX];
    size_t nf = 0, events = 0, first_events = 0;
    for (int i = 0; i < o->runs; i++) {
        uint64_t ph[P_PHASES];
        one(s, &t, now + i * 1000, &wall[i], &cpu[i], ph, &nf, &events);
        for (int p = 0; p < P_PHASES; p++)
            phase[p][i] = ph[p];
        if (i == 1)
            first_events = events;
        if (i < 2)
            printf("run %d (opens findings): wall %.2f ms, cpu %.2f ms\n", i + 1,
                   (double)wall[i] / 1000.0, (double)cpu[i] / 1000.0);
    }
    printf("one evaluation of corp (%d runs, %zu findings, %zu events in the first two runs, "
           "%zu after):\n",
           o->runs, nf, first_events, events - first_events);
    stats("wall", wall, o->runs);
    stats("cpu", cpu, o->runs);
    printf("wall time by step:\n");
    for (int p = 0; p < P_PHASES; p++) {
        printf("  %s\n", phase_name[p]);
        stats("wall", phase[p], o->runs);
    }
    store_close(&s);
}

int main(int argc, char **argv)
{
    struct opts o = {.agents = 1000, .networks = 50, .rounds = 5, .runs = 51};
    if (argc < 2)
        die("usage", "evaluate-bench gen|time --db PATH [--agents N] [--networks N] [--rounds R] "
                     "[--runs N]");
    for (int i = 2; i < argc; i += 2) {
        if (i + 1 >= argc)
            die("option needs a value", argv[i]);
        if (strcmp(argv[i], "--db") == 0)
            o.db = argv[i + 1];
        else if (strcmp(argv[i], "--agents") == 0)
            o.agents = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--networks") == 0)
            o.networks = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--rounds") == 0)
            o.rounds = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--runs") == 0)
            o.runs = atoi(argv[i + 1]);
        else
            die("unknown option", argv[i]);
    }
    if (o.db == NULL || o.agents < 1 || o.networks < 1 || o.rounds < 3 || o.runs < 3 ||
        o.runs > RUNS_MAX || o.agents > 10000)
        die("usage", "needs --db PATH, positive counts, rounds >= 3, 3 <= runs <= 1001, "
                     "agents <= 10000");
    names();
    if (strcmp(argv[1], "gen") == 0)
        gen(&o);
    else if (strcmp(argv[1], "time") == 0)
        timeit(&o);
    else
        die("unknown command", argv[1]);
    return 0;
}
