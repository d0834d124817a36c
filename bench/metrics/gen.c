/*
 * metrics-bench — fills a store with the latest results of a fleet and
 * times /metrics on it in-process (issue 11: "/metrics time and size at
 * N agents x 20 checks").
 *
 *   metrics-bench gen  --db PATH [--agents N] [--networks N]
 *   metrics-bench time --conf PATH [--runs N]
 *
 * gen: every agent has 20 checks (4 targets of 5: imaps, submission,
 * pop3s, https, tls on their own hosts), three results each in the last
 * three minutes through the store's real ingest calls, TLS facts on the
 * TLS checks, one network's agents failing imaps on corp0 (an open
 * finding). The collector.conf for those targets is printed on stdout.
 *
 * time: the median and maximum of N runs of metrics_write (open findings
 * are read from the store, as the continuous diagnosis keeps them), and
 * the size of the output.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "collconf.h"
#include "result.h"
#include "store.h"
#include "web/metrics.h"
#include "wire.h"

#define TARGETS  4
#define PER      5
#define RESULTS  3
#define RUNS_MAX 1001

/* Check k of target t: five kinds, each on a host of its own. */
static void check_name(int t, int k, char *buf, size_t len)
{
    static const char *const scheme[PER] = {"imaps", "submission", "pop3s", "https", "tls"};
    static const char *const host[PER] = {"mail", "smtp", "pop", "webmail", "mx"};
    static const char *const tail[PER] = {"", "", "", "/", ":465"};
    snprintf(buf, len, "%s://%s%d.example.com%s", scheme[k], host[k], t, tail[k]);
}

static int gen(const char *db, int agents, int networks)
{
    char err[STORE_ERR_MAX];
    struct store *s = store_open(db, err, sizeof(err));
    if (s == NULL) {
        fprintf(stderr, "metrics-bench: %s\n", err);
        return 1;
    }
    int64_t now = clock_wall_us();
    if (store_begin(s) < 0)
        goto fail;
    for (int a = 0; a < agents; a++) {
        char name[32], net[32];
        snprintf(name, sizeof(name), "a%04d", a);
        snprintf(net, sizeof(net), "net%02d", a % networks);
        int64_t id;
        struct store_agent ag = {.network = net, .version = "0.1.0", .last_seen_us = now};
        if (store_agent_id(s, name, &id) < 0 || store_agent_update(s, id, &ag) < 0)
            goto fail;
        uint64_t seq = 0;
        for (int t = 0; t < TARGETS; t++)
            for (int k = 0; k < PER; k++)
                for (int r = RESULTS; r > 0; r--) {
                    char target[16], check[64];
                    snprintf(target, sizeof(target), "corp%d", t);
                    check_name(t, k, check, sizeof(check));
                    struct result res;
                    result_init(&res);
                    res.has_seq = true;
                    res.seq = ++seq;
                    bool fail = t == 0 && k == 0 && a % networks == 1;
                    if (result_set_str(&res.target, target) < 0 ||
                        result_set_str(&res.check, check) < 0)
                        goto fail;
                    res.started_at_us = now - (int64_t)r * 60000000;
                    res.ok = !fail;
                    res.error = fail ? RESULT_TCP_TIMEOUT : RESULT_OK;
                    res.layer = result_error_layer(res.error);
                    res.phases_us[RESULT_PHASE_DNS] = 800 + (uint64_t)a;
                    res.phases_us[RESULT_PHASE_CONNECT] = 10000 + (uint64_t)(a * 37 % 5000);
                    res.phases_us[RESULT_PHASE_TLS] = 30000;
                    res.phases_us[RESULT_PHASE_TOTAL] = 45000 + (uint64_t)(a * 91 % 20000);
                    if (k != 3 && !fail) {
                        res.tls = calloc(1, sizeof(*res.tls));
                        if (res.tls == NULL)
                            goto fail;
                        res.tls->not_after = now / 1000000 + 40 * 86400;
                        res.tls->days_left = 40;
                    }
                    uint8_t *buf = NULL;
                    size_t len = 0;
                    int rc = wire_result_encode(&res, &buf, &len);
                    if (rc == 0)
                        rc = store_result_add(s, id, net, &res, buf, len) < 0 ? -1 : 0;
                    free(buf);
                    result_clear(&res);
                    if (rc < 0)
                        goto fail;
                }
    }
    if (store_commit(s) < 0)
        goto fail;
    store_close(&s);
    printf("[collector]\nlisten = tcp://127.0.0.1:7400\ninsecure_plaintext = yes\n"
           "database = %s\n",
           db);
    for (int t = 0; t < TARGETS; t++) {
        printf("\n[target corp%d]\ninterval = 60s\ntimeout = 10s\n", t);
        for (int k = 0; k < PER; k++) {
            char check[64];
            check_name(t, k, check, sizeof(check));
            printf("check = %s\n", check);
        }
    }
    return 0;
fail:
    fprintf(stderr, "metrics-bench: %s\n", store_error(s));
    store_close(&s);
    return 1;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* CPU time of this thread: on a busy machine the wall clock measures the
 * other processes too. */
static int64_t cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void report(const char *what, int64_t *t, int64_t *cpu, int n, size_t size)
{
    qsort(t, (size_t)n, sizeof(*t), cmp_i64);
    qsort(cpu, (size_t)n, sizeof(*cpu), cmp_i64);
    printf("%s (%d runs): median %.1f ms (CPU %.1f ms), max %.1f ms, %zu bytes\n", what, n,
           (double)t[n / 2] / 1000.0, (double)cpu[n / 2] / 1000.0, (double)t[n - 1] / 1000.0, size);
}

static int timing(const char *conf, int runs)
{
    char err[1024];
    struct collconf *c = collconf_load(conf, err, sizeof(err));
    if (c == NULL) {
        fprintf(stderr, "metrics-bench: %s\n", err);
        return 1;
    }
    struct store *s = store_open(c->database, err, sizeof(err));
    if (s == NULL) {
        fprintf(stderr, "metrics-bench: %s\n", err);
        collconf_destroy(&c);
        return 1;
    }
    static int64_t wall[RUNS_MAX], cpu[RUNS_MAX];
    struct metrics_ingest in = {0};
    size_t size = 0;
    int rc = 0;
    struct metrics *m = metrics_create();
    for (int i = 0; i < runs && rc == 0; i++) {
        char *text = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&text, &len);
        int64_t t0 = clock_wall_us(), c0 = cpu_us();
        rc = out != NULL && m != NULL ? metrics_write(m, c, s, &in, t0, out, err, sizeof(err)) : -1;
        wall[i] = clock_wall_us() - t0;
        cpu[i] = cpu_us() - c0;
        if (out != NULL && fclose(out) == 0)
            size = len;
        free(text);
    }
    if (rc == 0)
        report("metrics_write", wall, cpu, runs, size);
    else
        fprintf(stderr, "metrics-bench: %s\n", err);
    metrics_destroy(&m);
    store_close(&s);
    collconf_destroy(&c);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *db = NULL, *conf = NULL;
    int agents = 100, networks = 10, runs = 21;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--db") == 0)
            db = argv[i + 1];
        else if (strcmp(argv[i], "--conf") == 0)
            conf = argv[i + 1];
        else if (strcmp(argv[i], "--agents") == 0)
            agents = (int)strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--networks") == 0)
            networks = (int)strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--runs") == 0)
            runs = (int)strtol(argv[i + 1], NULL, 10);
    }
    if (argc >= 2 && strcmp(argv[1], "gen") == 0 && db != NULL && agents > 0 && networks > 0)
        return gen(db, agents, networks);
    if (argc >= 2 && strcmp(argv[1], "time") == 0 && conf != NULL && runs > 0 && runs <= RUNS_MAX)
        return timing(conf, runs);
    fprintf(stderr, "usage: metrics-bench gen --db PATH [--agents N] [--networks N]\n"
                    "       metrics-bench time --conf PATH [--runs N]\n");
    return 2;
}
