/*
 * vantage-fleet — a fleet of simulated agents against real collectors
 * (issue 13): ingest rate, acknowledgement latency, the collector's CPU
 * and memory per connected agent, CLI latency while the fleet runs, and
 * at the end exact counts (every result acknowledged, and stored once).
 *
 *   vantage-fleet [options]
 *
 * It writes into --dir: the collector's key pair, one CURVE key pair per
 * agent (fleet.keys, 0600: "<z85 secret> <name>" lines), authorized_keys
 * and a collector-N.conf per collector, starts the collectors, runs the
 * fleet, stops them and counts the store. With --endpoint it dials given
 * collectors instead (keys from --dir; --pid for /proc figures).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "fleet_proc.h"
#include "fleet_sim.h"
#include "store.h"
#include "transport.h"

#define FLEET_COLLECTORS_MAX 8
#define FLEET_AGENTS_MAX     100000
#define FLEET_CLI_RUNS_MAX   100
/* Descriptors the simulator needs per agent: the TCP connection and the
 * socket's mailbox (an eventfd). */
#define FLEET_FDS_PER_AGENT 2
#define FLEET_FDS_SPARE     256
#define FLEET_PROCS_MAX     64

struct opts {
    const char *dir;
    const char *bin; /* vantage-collector */
    const char *database;
    const char *endpoints[FLEET_COLLECTORS_MAX];
    size_t nendpoints;
    pid_t pids[FLEET_COLLECTORS_MAX]; /* given with --pid */
    size_t npids;
    int collectors;
    size_t agents;
    int threads;
    int checks;
    double interval_s;
    int per_network;
    double warmup_s, duration_s, drain_s;
    int connect_rate;
    int cli_runs;
    const char *log_level;
    const char *target;
    bool no_count;
    int procs; /* simulator processes; 0 = as the descriptor limit needs */
};

struct run {
    struct opts o;
    char (*secrets)[41];
    char server_pub[41];
    char confs[FLEET_COLLECTORS_MAX][PATH_MAX];
    int ports[FLEET_COLLECTORS_MAX];
    char endpoint_buf[FLEET_COLLECTORS_MAX][64];
    pid_t pids[FLEET_COLLECTORS_MAX];
    size_t npids;
    bool started;         /* the collectors are ours to stop */
    struct rlimit nofile; /* as this program was started: the collectors get it */
};

static void usage(FILE *f)
{
    fputs("usage: vantage-fleet --dir DIR [--agents N] [--checks N] [--interval S]\n"
          "         [--threads N] [--collectors N] [--database PATH|URI] [--bin COLLECTOR]\n"
          "         [--warmup S] [--duration S] [--drain S] [--connect-rate N]\n"
          "         [--per-network N] [--cli-runs N] [--log-level L] [--no-count] [--procs N]\n"
          "       vantage-fleet --dir DIR --endpoint E [--endpoint E2] [--pid PID] ...\n",
          f);
}

static double now_s(void)
{
    return (double)clock_mono_us() / 1e6;
}

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Takes every descriptor the hard limit allows and returns how many
 * agents one simulator process can hold with them: a fleet larger than
 * that is split over processes (without CAP_SYS_RESOURCE, even root
 * cannot go past the hard limit). */
static size_t agents_per_proc(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur == RLIM_INFINITY)
        return FLEET_AGENTS_MAX;
    if (rl.rlim_cur <= FLEET_FDS_SPARE)
        return 0;
    return (size_t)(rl.rlim_cur - FLEET_FDS_SPARE) / FLEET_FDS_PER_AGENT;
}

static int read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char *ok = fgets(buf, (int)len, f);
    fclose(f);
    if (ok == NULL)
        return -1;
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

/* Makes (or, when fleet.keys has enough lines, reuses) every agent's key
 * pair, and the collector's. */
static int prepare_keys(struct run *r)
{
    char path[PATH_MAX], err[512];
    size_t n = r->o.agents;
    r->secrets = calloc(n, sizeof(*r->secrets));
    if (r->secrets == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/collector.pub", r->o.dir);
    if (access(path, R_OK) != 0 && r->o.nendpoints == 0 &&
        transport_keygen(r->o.dir, "collector", err, sizeof(err)) < 0) {
        fprintf(stderr, "vantage-fleet: %s\n", err);
        return -1;
    }
    if (read_line(path, r->server_pub, sizeof(r->server_pub)) < 0) {
        fprintf(stderr, "vantage-fleet: %s: cannot read the collector's public key\n", path);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/fleet.keys", r->o.dir);
    size_t have = 0;
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        char line[128];
        while (have < n && fgets(line, sizeof(line), f) != NULL) {
            line[strcspn(line, " \r\n")] = '\0';
            if (!transport_key_valid(line))
                break;
            memcpy(r->secrets[have], line, 41);
            have++;
        }
        fclose(f);
    }
    if (have == n)
        return 0;
    if (r->o.nendpoints > 0) {
        fprintf(stderr, "vantage-fleet: %s has keys for %zu agents, not %zu\n", path, have, n);
        return -1;
    }
    char apath[PATH_MAX];
    snprintf(apath, sizeof(apath), "%s/authorized_keys", r->o.dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    FILE *kf = fd >= 0 ? fdopen(fd, "w") : NULL;
    FILE *af = fopen(apath, "w");
    if (kf == NULL || af == NULL) {
        fprintf(stderr, "vantage-fleet: cannot write %s and %s\n", path, apath);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char pub[41], name[32];
        if (zmq_curve_keypair(pub, r->secrets[i]) != 0)
            return -1;
        fleet_sim_agent_name(i, name, sizeof(name));
        fprintf(kf, "%s %s\n", r->secrets[i], name);
        fprintf(af, "%s %s\n", pub, name);
    }
    fclose(kf);
    fclose(af);
    return 0;
}

static int write_confs(struct run *r)
{
    for (int c = 0; c < r->o.collectors; c++) {
        r->ports[c] = fleet_proc_free_port();
        snprintf(r->endpoint_buf[c], sizeof(r->endpoint_buf[c]), "tcp://127.0.0.1:%d", r->ports[c]);
        snprintf(r->confs[c], sizeof(r->confs[c]), "%s/collector-%d.conf", r->o.dir, c);
        FILE *f = fopen(r->confs[c], "w");
        if (f == NULL || r->ports[c] < 0) {
            fprintf(stderr, "vantage-fleet: cannot write %s\n", r->confs[c]);
            if (f != NULL)
                fclose(f);
            return -1;
        }
        char db[PATH_MAX];
        if (r->o.database != NULL)
            snprintf(db, sizeof(db), "%s", r->o.database);
        else
            snprintf(db, sizeof(db), "%s/vantage.db", r->o.dir);
        fprintf(f,
                "[collector]\nlisten = %s\ndatabase = %s\nsecret_key = %s/collector.key\n"
                "authorized_keys = %s/authorized_keys\ncontrol = ipc://%s/control-%d.sock\n"
                "log_level = %s\n\n"
                "[target %s]\ndomain = example.com\ncheck = imaps://mail.example.com\n"
                "check = submission://mail.example.com\ncheck = pop3s://mail.example.com\n"
                "check = https://webmail.example.com/\ncheck = smtp://mx.example.com\n"
                "interval = %.0fs\n",
                r->endpoint_buf[c], db, r->o.dir, r->o.dir, r->o.dir, c, r->o.log_level,
                r->o.target, r->o.interval_s < 1 ? 1 : r->o.interval_s);
        fclose(f);
    }
    return 0;
}

static int start_collectors(struct run *r)
{
    char err[512], log[PATH_MAX];
    for (int c = 0; c < r->o.collectors; c++) {
        snprintf(log, sizeof(log), "%s/collector-%d.log", r->o.dir, c);
        pid_t pid = fleet_proc_start(r->o.bin, r->confs[c], log, &r->nofile, err, sizeof(err));
        if (pid < 0) {
            fprintf(stderr, "vantage-fleet: %s\n", err);
            return -1;
        }
        r->pids[r->npids++] = pid;
        r->started = true;
        if (fleet_proc_wait_port(pid, r->ports[c], 30000) < 0) {
            fprintf(stderr, "vantage-fleet: collector %d did not start listening (see %s)\n", c,
                    log);
            return -1;
        }
    }
    return 0;
}

static void stop_collectors(struct run *r)
{
    if (!r->started)
        return;
    for (size_t i = 0; i < r->npids; i++)
        if (fleet_proc_stop(r->pids[i], 30000) != 0)
            fprintf(stderr, "vantage-fleet: collector %zu did not stop cleanly\n", i);
    r->started = false;
}

static void usage_sum(const struct run *r, struct fleet_proc_usage *sum)
{
    memset(sum, 0, sizeof(*sum));
    for (size_t i = 0; i < r->npids; i++) {
        struct fleet_proc_usage u;
        if (fleet_proc_usage(r->pids[i], &u) == 0) {
            sum->cpu_us += u.cpu_us;
            sum->rss_kib += u.rss_kib;
            sum->anon_kib += u.anon_kib;
            sum->fds += u.fds;
        }
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static double percentile_u32(const uint32_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

/* The CLI commands an operator runs while the fleet reports. */
enum { CLI_AGENTS, CLI_COMPARE, CLI_DIAGNOSE, CLI_LAST };
static const char *const cli_names[CLI_LAST] = {"agents", "compare", "diagnose"};

struct cli_times {
    uint64_t us[CLI_LAST][FLEET_CLI_RUNS_MAX];
    int n[CLI_LAST];
    int failed;
};

static void cli_round(const struct run *r, struct cli_times *ct)
{
    for (int k = 0; k < CLI_LAST; k++) {
        char *argv[] = {(char *)r->o.bin,
                        "-c",
                        (char *)r->confs[0],
                        (char *)cli_names[k],
                        k == CLI_AGENTS ? NULL : (char *)r->o.target,
                        NULL};
        uint64_t us;
        int st;
        if (ct->n[k] >= FLEET_CLI_RUNS_MAX)
            continue;
        /* diagnose exits 1 when it finds a problem: that is an answer. */
        if (fleet_proc_time(argv, &us, &st) < 0 || st < 0 || st > 1) {
            ct->failed++;
            continue;
        }
        ct->us[k][ct->n[k]++] = us;
    }
}

static double median_ms(uint64_t *v, int n)
{
    if (n == 0)
        return 0;
    qsort(v, (size_t)n, sizeof(*v), cmp_u64);
    return (double)v[(n - 1) / 2] / 1000.0;
}

struct agent_count {
    uint64_t n, max, sum;
};

struct count_ctx {
    struct agent_count *per;
    size_t agents;
    uint64_t total, foreign;
};

static int count_one(const struct result *res, void *arg)
{
    struct count_ctx *c = arg;
    c->total++;
    char *end;
    if (res->agent == NULL || strncmp(res->agent, "fleet", 5) != 0) {
        c->foreign++;
        return 0;
    }
    unsigned long long i = strtoull(res->agent + 5, &end, 10);
    if (*end != '\0' || i >= c->agents) {
        c->foreign++;
        return 0;
    }
    c->per[i].n++;
    c->per[i].sum += res->seq;
    if (res->seq > c->per[i].max)
        c->per[i].max = res->seq;
    return 0;
}

/* Every agent's results 1..G stored once: count G, highest seq G and the
 * sum of seqs G(G+1)/2 (the store's UNIQUE (agent, seq) forbids twins;
 * the sum catches a missing seq made up by a stray one). */
static int count_store(const struct run *r, const uint64_t *generated, uint64_t *stored)
{
    char err[512], db[PATH_MAX];
    if (r->o.database != NULL)
        snprintf(db, sizeof(db), "%s", r->o.database);
    else
        snprintf(db, sizeof(db), "%s/vantage.db", r->o.dir);
    struct store *st = store_open(db, err, sizeof(err));
    if (st == NULL) {
        fprintf(stderr, "vantage-fleet: %s\n", err);
        return -1;
    }
    struct count_ctx c = {.per = calloc(r->o.agents, sizeof(*c.per)), .agents = r->o.agents};
    struct store_result_filter f = {0};
    int rc = c.per != NULL && store_results_each(st, &f, count_one, &c) == 0 ? 0 : -1;
    store_close(&st);
    size_t bad = 0;
    for (size_t i = 0; rc == 0 && i < r->o.agents; i++) {
        uint64_t g = generated[i];
        if (c.per[i].n != g || c.per[i].max != g || c.per[i].sum != g * (g + 1) / 2) {
            if (bad++ < 5)
                fprintf(stderr,
                        "vantage-fleet: agent %zu: generated %llu, stored %llu (highest seq "
                        "%llu)\n",
                        i, (unsigned long long)g, (unsigned long long)c.per[i].n,
                        (unsigned long long)c.per[i].max);
        }
    }
    free(c.per);
    *stored = c.total - c.foreign;
    if (rc < 0) {
        fprintf(stderr, "vantage-fleet: cannot read the results back from %s\n", db);
        return -1;
    }
    return bad == 0 && c.foreign == 0 ? 0 : 1;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {{"dir", required_argument, NULL, 'd'},
                                       {"bin", required_argument, NULL, 'b'},
                                       {"database", required_argument, NULL, 'D'},
                                       {"endpoint", required_argument, NULL, 'e'},
                                       {"pid", required_argument, NULL, 'p'},
                                       {"collectors", required_argument, NULL, 'c'},
                                       {"agents", required_argument, NULL, 'a'},
                                       {"threads", required_argument, NULL, 't'},
                                       {"checks", required_argument, NULL, 'k'},
                                       {"interval", required_argument, NULL, 'i'},
                                       {"per-network", required_argument, NULL, 'n'},
                                       {"warmup", required_argument, NULL, 'w'},
                                       {"duration", required_argument, NULL, 'T'},
                                       {"drain", required_argument, NULL, 'r'},
                                       {"connect-rate", required_argument, NULL, 'C'},
                                       {"cli-runs", required_argument, NULL, 'R'},
                                       {"log-level", required_argument, NULL, 'l'},
                                       {"no-count", no_argument, NULL, 'N'},
                                       {"procs", required_argument, NULL, 'P'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    int ch;
    char *end = NULL;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        end = NULL;
        switch (ch) {
        case 'd':
            o->dir = optarg;
            break;
        case 'b':
            o->bin = optarg;
            break;
        case 'D':
            o->database = optarg;
            break;
        case 'e':
            if (o->nendpoints == FLEET_COLLECTORS_MAX)
                return -1;
            o->endpoints[o->nendpoints++] = optarg;
            break;
        case 'p':
            if (o->npids == FLEET_COLLECTORS_MAX)
                return -1;
            o->pids[o->npids++] = (pid_t)strtol(optarg, &end, 10);
            break;
        case 'c':
            o->collectors = (int)strtol(optarg, &end, 10);
            break;
        case 'a':
            o->agents = strtoull(optarg, &end, 10);
            break;
        case 't':
            o->threads = (int)strtol(optarg, &end, 10);
            break;
        case 'k':
            o->checks = (int)strtol(optarg, &end, 10);
            break;
        case 'i':
            o->interval_s = strtod(optarg, &end);
            break;
        case 'n':
            o->per_network = (int)strtol(optarg, &end, 10);
            break;
        case 'w':
            o->warmup_s = strtod(optarg, &end);
            break;
        case 'T':
            o->duration_s = strtod(optarg, &end);
            break;
        case 'r':
            o->drain_s = strtod(optarg, &end);
            break;
        case 'C':
            o->connect_rate = (int)strtol(optarg, &end, 10);
            break;
        case 'R':
            o->cli_runs = (int)strtol(optarg, &end, 10);
            break;
        case 'l':
            o->log_level = optarg;
            break;
        case 'N':
            o->no_count = true;
            break;
        case 'P':
            o->procs = (int)strtol(optarg, &end, 10);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            return -1;
        }
        if (end != NULL && *end != '\0')
            return -1;
    }
    if (o->dir == NULL || o->agents < 1 || o->agents > FLEET_AGENTS_MAX || o->threads < 1 ||
        o->checks < 1 || o->interval_s <= 0 || o->collectors < 1 ||
        o->collectors > FLEET_COLLECTORS_MAX || o->per_network < 1 || o->connect_rate < 1 ||
        o->cli_runs < 0 || o->cli_runs > FLEET_CLI_RUNS_MAX || o->procs < 0 ||
        o->procs > FLEET_PROCS_MAX || optind != argc)
        return -1;
    return 0;
}

/* The collector binary beside this one (both land in build/bin). */
static void default_bin(char *buf, size_t len)
{
    char self[PATH_MAX - 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        snprintf(buf, len, "vantage-collector");
        return;
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash != NULL)
        *slash = '\0';
    snprintf(buf, len, "%s/vantage-collector", self);
}

/* What the parent tells each simulator process once every process's
 * agents are connected: when to start producing results, when to measure
 * (CLOCK_MONOTONIC is the same clock in every process). */
struct schedule {
    double gen_at, m0, m1, drain_s;
};

struct child_report {
    struct fleet_sim_counts c0, c1, end;
    uint64_t nlat;
};

struct child {
    pid_t pid;
    int rd, wr; /* from and to the child */
    size_t first, n;
};

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void sleep_until(double t)
{
    sleep_s(t - now_s());
}

/* One simulator process: connects its agents, says so, follows the
 * schedule, then reports its counts, latencies and per-agent seqs. */
static int child_main(const struct run *r, const struct fleet_sim_params *base, size_t first,
                      size_t n, int rd, int wr)
{
    struct fleet_sim_params p = *base;
    p.first = first;
    p.agents = n;
    p.threads = base->threads < (int)n ? base->threads : (int)n;
    p.connect_rate = (int)((double)base->connect_rate * (double)n / (double)base->fleet) + 1;
    char err[512];
    struct fleet_sim *sim = fleet_sim_start(&p, err, sizeof(err));
    if (sim == NULL) {
        fprintf(stderr, "vantage-fleet: %s\n", err);
        return 2;
    }
    struct fleet_sim_counts c;
    double limit = now_s() + (double)n / p.connect_rate + 300;
    do {
        sleep_s(0.02);
        fleet_sim_counts(sim, &c);
    } while (c.hellos < n && now_s() < limit);
    uint64_t hellos = c.hellos;
    struct schedule sc;
    struct child_report rep = {0};
    if (write_all(wr, &hellos, sizeof(hellos)) < 0 || read_all(rd, &sc, sizeof(sc)) < 0 ||
        hellos < n) {
        fleet_sim_destroy(&sim);
        return 2;
    }
    sleep_until(sc.gen_at);
    fleet_sim_generate(sim, true);
    sleep_until(sc.m0);
    fleet_sim_counts(sim, &rep.c0);
    fleet_sim_measure(sim, true);
    sleep_until(sc.m1);
    fleet_sim_measure(sim, false);
    fleet_sim_counts(sim, &rep.c1);
    fleet_sim_generate(sim, false);
    limit = now_s() + sc.drain_s;
    do {
        sleep_s(0.05);
        fleet_sim_counts(sim, &c);
    } while (c.acked < c.generated && now_s() < limit);
    fleet_sim_stop(sim);
    fleet_sim_counts(sim, &rep.end);
    size_t nlat;
    const uint32_t *lat = fleet_sim_latencies(sim, &nlat);
    rep.nlat = nlat;
    uint64_t *gen = calloc(n, sizeof(*gen));
    int rc = gen == NULL ? 2 : 0;
    for (size_t i = 0; gen != NULL && i < n; i++) {
        gen[i] = fleet_sim_agent_generated(sim, i);
        if (fleet_sim_agent_acked(sim, i) < gen[i] && rc++ < 5) {
            char why[256];
            fleet_sim_agent_describe(sim, i, why, sizeof(why));
            fprintf(stderr, "vantage-fleet: agent %zu: %s\n", first + i, why);
        }
    }
    if (gen == NULL || write_all(wr, &rep, sizeof(rep)) < 0 ||
        (nlat > 0 && write_all(wr, lat, nlat * sizeof(*lat)) < 0) ||
        write_all(wr, gen, n * sizeof(*gen)) < 0)
        rc = 2;
    free(gen);
    fleet_sim_destroy(&sim);
    (void)r;
    return rc > 2 ? 1 : rc;
}

static int spawn_children(const struct run *r, const struct fleet_sim_params *p, struct child *ch,
                          int procs)
{
    for (int i = 0; i < procs; i++) {
        ch[i].first = r->o.agents * (size_t)i / (size_t)procs;
        ch[i].n = r->o.agents * (size_t)(i + 1) / (size_t)procs - ch[i].first;
        int down[2], up[2];
        if (pipe2(down, O_CLOEXEC) != 0 || pipe2(up, O_CLOEXEC) != 0)
            return -1;
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0)
            return -1;
        if (pid == 0) {
            close(down[1]);
            close(up[0]);
            _exit(child_main(r, p, ch[i].first, ch[i].n, down[0], up[1]));
        }
        close(down[0]);
        close(up[1]);
        ch[i].pid = pid;
        ch[i].rd = up[0];
        ch[i].wr = down[1];
    }
    return 0;
}

static void add_counts(struct fleet_sim_counts *sum, const struct fleet_sim_counts *c)
{
    sum->generated += c->generated;
    sum->acked += c->acked;
    sum->batches += c->batches;
    sum->resent += c->resent;
    sum->hellos += c->hellos;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    char bin[PATH_MAX];
    struct run r = {.o = {.collectors = 1,
                          .agents = 50,
                          .threads = 2,
                          .checks = 6,
                          .interval_s = 60,
                          .per_network = 20,
                          .warmup_s = 5,
                          .duration_s = 30,
                          .drain_s = 60,
                          .connect_rate = 2000,
                          .cli_runs = 0,
                          .log_level = "warn",
                          .target = "corp-mail"}};
    if (parse_opts(argc, argv, &r.o) < 0) {
        usage(stderr);
        return 2;
    }
    if (r.o.bin == NULL) {
        default_bin(bin, sizeof(bin));
        r.o.bin = bin;
    }
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress as it happens, into a file too */
    mkdir(r.o.dir, 0700);
    getrlimit(RLIMIT_NOFILE, &r.nofile);
    size_t per_proc = agents_per_proc();
    int procs = r.o.procs;
    if (procs == 0)
        procs = per_proc ? (int)((r.o.agents + per_proc - 1) / per_proc) : FLEET_PROCS_MAX + 1;
    if (procs > FLEET_PROCS_MAX || (size_t)procs > r.o.agents ||
        (r.o.agents + (size_t)procs - 1) / (size_t)procs > per_proc) {
        fprintf(stderr, "vantage-fleet: %zu agents do not fit %d processes of %zu descriptors\n",
                r.o.agents, procs, per_proc * FLEET_FDS_PER_AGENT + FLEET_FDS_SPARE);
        return 2;
    }
    if (prepare_keys(&r) < 0)
        return 2;
    const char *eps[FLEET_COLLECTORS_MAX];
    size_t neps;
    int rc = 2;
    struct child ch[FLEET_PROCS_MAX];
    int nch = 0;
    uint32_t *lat = NULL;
    uint64_t *gen = NULL;
    if (r.o.nendpoints > 0) {
        memcpy(eps, r.o.endpoints, sizeof(eps));
        neps = r.o.nendpoints;
        memcpy(r.pids, r.o.pids, sizeof(r.pids));
        r.npids = r.o.npids;
        r.o.cli_runs = 0;
        r.o.no_count = r.o.no_count || r.o.database == NULL;
    } else {
        if (write_confs(&r) < 0 || start_collectors(&r) < 0)
            goto out;
        for (int c = 0; c < r.o.collectors; c++)
            eps[c] = r.endpoint_buf[c];
        neps = (size_t)r.o.collectors;
    }
    double offered = (double)r.o.agents * r.o.checks / r.o.interval_s;
    printf("fleet: %zu agents (%d process(es), %d threads each) -> %zu collector(s), %d checks "
           "every %.3g s each: offered %.1f results/s\n",
           r.o.agents, procs, r.o.threads, neps, r.o.checks, r.o.interval_s, offered);
    struct fleet_proc_usage base, conn, u0, u1, end;
    usage_sum(&r, &base);

    struct fleet_sim_params p = {.agents = r.o.agents,
                                 .fleet = r.o.agents,
                                 .threads = r.o.threads,
                                 .endpoints = eps,
                                 .nendpoints = neps,
                                 .server_key = r.server_pub,
                                 .secret_keys = (const char(*)[41])r.secrets,
                                 .target = r.o.target,
                                 .checks = r.o.checks,
                                 .interval_us = (uint64_t)(r.o.interval_s * 1e6),
                                 .per_network = r.o.per_network,
                                 .fail_network = r.o.agents > (size_t)r.o.per_network ? 1 : -1,
                                 .window = 4000,
                                 .connect_rate = r.o.connect_rate};
    double t0 = now_s();
    if (spawn_children(&r, &p, ch, procs) < 0) {
        fprintf(stderr, "vantage-fleet: cannot start the simulator processes\n");
        goto out;
    }
    nch = procs;
    uint64_t hellos = 0;
    for (int i = 0; i < nch; i++) {
        uint64_t h = 0;
        if (read_all(ch[i].rd, &h, sizeof(h)) < 0)
            h = 0;
        hellos += h;
    }
    if (hellos < r.o.agents) {
        fprintf(stderr, "vantage-fleet: only %llu of %zu agents were answered\n",
                (unsigned long long)hellos, r.o.agents);
        goto out;
    }
    printf("connect: %zu agents answered in %.2f s\n", r.o.agents, now_s() - t0);
    sleep_s(1); /* the last hellos' session state settles */
    usage_sum(&r, &conn);
    struct schedule sc = {.gen_at = now_s() + 0.1};
    sc.m0 = sc.gen_at + r.o.warmup_s;
    sc.m1 = sc.m0 + r.o.duration_s;
    sc.drain_s = r.o.drain_s;
    for (int i = 0; i < nch; i++)
        if (write_all(ch[i].wr, &sc, sizeof(sc)) < 0)
            goto out;
    sleep_until(sc.m0);
    usage_sum(&r, &u0);
    struct cli_times ct = {0};
    for (int i = 0; i < r.o.cli_runs && now_s() < sc.m1; i++)
        cli_round(&r, &ct);
    sleep_until(sc.m1);
    usage_sum(&r, &u1);

    struct fleet_sim_counts c0 = {0}, c1 = {0}, cend = {0};
    size_t nlat = 0;
    gen = calloc(r.o.agents, sizeof(*gen));
    if (gen == NULL)
        goto out;
    int child_failed = 0;
    for (int i = 0; i < nch; i++) {
        struct child_report rep;
        if (read_all(ch[i].rd, &rep, sizeof(rep)) < 0) {
            child_failed++;
            continue;
        }
        uint32_t *grown = realloc(lat, (nlat + rep.nlat + 1) * sizeof(*lat));
        if (grown == NULL)
            goto out;
        lat = grown;
        if (read_all(ch[i].rd, lat + nlat, rep.nlat * sizeof(*lat)) < 0 ||
            read_all(ch[i].rd, gen + ch[i].first, ch[i].n * sizeof(*gen)) < 0) {
            child_failed++;
            continue;
        }
        nlat += rep.nlat;
        add_counts(&c0, &rep.c0);
        add_counts(&c1, &rep.c1);
        add_counts(&cend, &rep.end);
    }
    usage_sum(&r, &end);
    if (lat != NULL)
        qsort(lat, nlat, sizeof(*lat), cmp_u32);

    double secs = sc.m1 - sc.m0;
    double rate = (double)(c1.acked - c0.acked) / secs;
    printf("ingest: %.1f results/s acknowledged over %.1f s (offered %.1f; %.3f of it), "
           "backlog at the end %llu results\n",
           rate, secs, offered, rate / offered, (unsigned long long)(c1.generated - c1.acked));
    printf("ack latency: median %.2f ms, p99 %.2f ms, max %.2f ms (%zu batches)\n",
           percentile_u32(lat, nlat, 0.5) / 1000, percentile_u32(lat, nlat, 0.99) / 1000,
           nlat ? lat[nlat - 1] / 1000.0 : 0.0, nlat);
    if (r.npids > 0) {
        double cpu = (double)(u1.cpu_us - u0.cpu_us) / 1e6 / secs;
        printf("collector: CPU %.1f%% of a core (%.1f µs per result); RSS %.1f MiB, %.1f MiB "
               "before agents; %llu descriptors\n",
               cpu * 100, rate > 0 ? cpu * 1e6 / rate : 0.0, u1.rss_kib / 1024.0,
               base.rss_kib / 1024.0, (unsigned long long)u1.fds);
        printf(
            "memory per connected agent: %.2f KiB idle (RSS %.1f MiB), %.2f KiB ingesting "
            "(RSS %.1f MiB), %.2f KiB at the end (RSS %.1f MiB; heap only %.2f KiB)\n",
            ((double)conn.rss_kib - (double)base.rss_kib) / (double)r.o.agents,
            conn.rss_kib / 1024.0, ((double)u1.rss_kib - (double)base.rss_kib) / (double)r.o.agents,
            u1.rss_kib / 1024.0, ((double)end.rss_kib - (double)base.rss_kib) / (double)r.o.agents,
            end.rss_kib / 1024.0,
            ((double)end.anon_kib - (double)base.anon_kib) / (double)r.o.agents);
    }
    if (r.o.cli_runs > 0) {
        printf("cli while ingesting:");
        for (int k = 0; k < CLI_LAST; k++)
            printf(" %s median %.1f ms (%d runs)%s", cli_names[k], median_ms(ct.us[k], ct.n[k]),
                   ct.n[k], k + 1 < CLI_LAST ? "," : "");
        printf("%s\n", ct.failed ? " - some runs FAILED" : "");
    }
    stop_collectors(&r);
    rc = cend.acked == cend.generated && ct.failed == 0 && child_failed == 0 ? 0 : 1;
    printf("exact: %llu results generated, %llu acknowledged, %llu batches, %llu resent",
           (unsigned long long)cend.generated, (unsigned long long)cend.acked,
           (unsigned long long)cend.batches, (unsigned long long)cend.resent);
    if (!r.o.no_count && child_failed == 0) {
        uint64_t stored = 0;
        int cr = count_store(&r, gen, &stored);
        printf(", %llu stored: %s\n", (unsigned long long)stored,
               cr == 0 ? "each once" : "MISMATCH");
        if (cr != 0)
            rc = 1;
    } else {
        printf("\n");
    }
    if (rc != 0)
        printf("FAILED: not every result was acknowledged and stored once\n");
out:
    for (int i = 0; i < nch; i++) {
        int st;
        close(ch[i].wr);
        close(ch[i].rd);
        if (rc == 2)
            kill(ch[i].pid, SIGTERM);
        waitpid(ch[i].pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            rc = rc ? rc : 1;
    }
    stop_collectors(&r);
    free(lat);
    free(gen);
    free(r.secrets);
    return rc;
}
