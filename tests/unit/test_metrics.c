/*
 * Unit tests for collector/web/metrics.c: the Prometheus text format -
 * metric names and one HELP/TYPE per family, label values escaped,
 * histogram buckets cumulative with +Inf equal to _count - over a real
 * store with results from agents on two networks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "collconf.h"
#include "result.h"
#include "store.h"
#include "web/metrics.h"
#include "wire.h"

static char dir[] = "/tmp/test_metrics.XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) != NULL && chdir(dir) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    unlink("collector.conf");
    unlink("v.db");
    unlink("v.db-wal");
    unlink("v.db-shm");
    return chdir("/") == 0 && rmdir(dir) == 0 ? 0 : -1;
}

static char *capture_label(const char *v)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    metrics_label_value(f, v);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static void test_label_escaping(void **state)
{
    (void)state;
    char *s = capture_label("a\"b\\c\nd");
    assert_string_equal(s, "\"a\\\"b\\\\c\\nd\"");
    free(s);
    s = capture_label(NULL);
    assert_string_equal(s, "\"\"");
    free(s);
}

/* Buckets are cumulative, +Inf equals _count, _sum is the sum. */
static void test_histogram(void **state)
{
    (void)state;
    uint64_t counts[METRICS_NBUCKETS + 1] = {0};
    counts[0] = 2;                /* <= 0.005 */
    counts[5] = 1;                /* <= 0.25 */
    counts[METRICS_NBUCKETS] = 3; /* > 120 */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    metrics_histogram(f, "x_seconds", "a=\"1\"", counts, 400.5);
    assert_int_equal(fclose(f), 0);
    assert_non_null(strstr(buf, "x_seconds_bucket{a=\"1\",le=\"0.005\"} 2\n"));
    assert_non_null(strstr(buf, "x_seconds_bucket{a=\"1\",le=\"0.1\"} 2\n"));
    assert_non_null(strstr(buf, "x_seconds_bucket{a=\"1\",le=\"0.25\"} 3\n"));
    assert_non_null(strstr(buf, "x_seconds_bucket{a=\"1\",le=\"120\"} 3\n"));
    assert_non_null(strstr(buf, "x_seconds_bucket{a=\"1\",le=\"+Inf\"} 6\n"));
    assert_non_null(strstr(buf, "x_seconds_sum{a=\"1\"} 400.5\n"));
    assert_non_null(strstr(buf, "x_seconds_count{a=\"1\"} 6\n"));
    free(buf);
}

static void add(struct store *s, const char *agent, const char *network, uint64_t seq, int64_t at,
                enum result_error error, uint64_t total_us)
{
    int64_t id;
    assert_int_equal(store_agent_id(s, agent, &id), 0);
    struct store_agent a = {.network = network, .last_seen_us = at};
    assert_int_equal(store_agent_update(s, id, &a), 0);
    struct result r;
    result_init(&r);
    r.has_seq = true;
    r.seq = seq;
    assert_int_equal(result_set_str(&r.target, "corp"), 0);
    assert_int_equal(result_set_str(&r.check, "tcp://192.0.2.1:25"), 0);
    r.started_at_us = at;
    r.ok = error == RESULT_OK;
    r.error = error;
    r.layer = result_error_layer(error);
    r.phases_us[RESULT_PHASE_CONNECT] = total_us / 2;
    r.phases_us[RESULT_PHASE_TOTAL] = total_us;
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(wire_result_encode(&r, &buf, &len), 0);
    assert_int_equal(store_result_add(s, id, network, &r, buf, len), 1);
    free(buf);
    result_clear(&r);
}

/* A collector with target corp probed by three agents on two networks
 * (one network's name needs escaping); returns the /metrics text. */
static char *scrape(bool per_network)
{
    FILE *f = fopen("collector.conf", "w");
    assert_non_null(f);
    fprintf(f,
            "[collector]\nlisten = tcp://127.0.0.1:7400\ninsecure_plaintext = yes\n"
            "database = v.db\n%s\n[target corp]\ncheck = tcp://192.0.2.1:25\n"
            "interval = 60s\n",
            per_network ? "metrics_per = network" : "");
    fclose(f);
    char err[1024];
    struct collconf *c = collconf_load("collector.conf", err, sizeof(err));
    assert_non_null(c);
    struct store *s = store_open(c->database, err, sizeof(err));
    assert_non_null(s);
    int64_t now = clock_wall_us();
    assert_int_equal(store_begin(s), 0);
    add(s, "a1", "hq", 1, now - 2000000, RESULT_OK, 3000);
    add(s, "a2", "hq", 1, now - 2000000, RESULT_OK, 70000);
    add(s, "b1", "branch \"b\"", 1, now - 2000000, RESULT_TCP_TIMEOUT, 2000000);
    int64_t a2;
    assert_int_equal(store_agent_id(s, "a2", &a2), 0);
    struct store_agent_counts odd = {.duplicates = 10, .invalid = 1, .clamped = 3, .refused = 2};
    assert_int_equal(store_agent_counts_add(s, a2, &odd), 0);
    /* Findings as the continuous diagnosis keeps them: two open, one
     * pending (not counted) and one resolved (not counted). */
    static const struct {
        const char *id;
        enum store_finding_state state;
    } fs[] = {{"f1", STORE_FINDING_OPEN},
              {"f2", STORE_FINDING_OPEN},
              {"f3", STORE_FINDING_PENDING},
              {"f4", STORE_FINDING_RESOLVED}};
    for (size_t i = 0; i < 4; i++) {
        struct store_finding sf = {.id = fs[i].id,
                                   .target = "corp",
                                   .severity = "problem",
                                   .verdict = "device",
                                   .layer = "tcp",
                                   .state = fs[i].state,
                                   .seen = 2,
                                   .first_seen_us = now,
                                   .opened_at_us = now,
                                   .started_at_us = now,
                                   .updated_at_us = now,
                                   .json = "{}"};
        assert_int_equal(store_finding_put(s, &sf), 0);
    }
    assert_int_equal(store_commit(s), 0);
    struct metrics *m = metrics_create();
    assert_non_null(m);
    struct metrics_ingest in = {.stored = 3};
    char *buf = NULL;
    size_t len = 0;
    f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(metrics_write(m, c, s, &in, now, f, err, sizeof(err)), 0);
    assert_int_equal(fclose(f), 0);
    metrics_destroy(&m);
    store_close(&s);
    collconf_destroy(&c);
    unlink("v.db");
    unlink("v.db-wal");
    unlink("v.db-shm");
    return buf;
}

/* Every sample belongs to the family named by the TYPE line before it,
 * and each family is announced once. */
static void check_families(const char *text)
{
    char family[128] = "";
    char seen[64][128];
    size_t nseen = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        char line[1024];
        snprintf(line, sizeof(line), "%.*s", (int)(nl - p), p);
        if (strncmp(line, "# TYPE ", 7) == 0) {
            sscanf(line + 7, "%127s", family);
            for (size_t i = 0; i < nseen; i++)
                assert_string_not_equal(seen[i], family);
            snprintf(seen[nseen++], sizeof(seen[0]), "%s", family);
        } else if (line[0] != '#') {
            assert_true(family[0] != '\0');
            assert_int_equal(strncmp(line, family, strlen(family)), 0);
            assert_true(strncmp(line, "vantage_", 8) == 0);
        }
        p = nl + 1;
    }
    assert_true(nseen >= 8);
}

static void test_per_agent(void **state)
{
    (void)state;
    char *t = scrape(false);
    check_families(t);
    assert_non_null(strstr(t, "vantage_check_up{target=\"corp\",check=\"tcp://192.0.2.1:25\","
                              "network=\"hq\",agent=\"a1\"} 1\n"));
    assert_non_null(strstr(t, "vantage_check_up{target=\"corp\",check=\"tcp://192.0.2.1:25\","
                              "network=\"branch \\\"b\\\"\",agent=\"b1\"} 0\n"));
    assert_non_null(strstr(t, "vantage_check_phase_seconds{target=\"corp\",check=\"tcp://"
                              "192.0.2.1:25\",network=\"hq\",agent=\"a2\",phase=\"connect\"} "
                              "0.035000\n"));
    /* hq: 3 ms and 70 ms: one in the first bucket, both by 0.1 s. */
    assert_non_null(strstr(t, "network=\"hq\",le=\"0.005\"} 1\n"));
    assert_non_null(strstr(t, "network=\"hq\",le=\"0.05\"} 1\n"));
    assert_non_null(strstr(t, "network=\"hq\",le=\"0.1\"} 2\n"));
    assert_non_null(strstr(t, "network=\"hq\",le=\"+Inf\"} 2\n"));
    assert_non_null(strstr(t, "vantage_check_duration_seconds_count{target=\"corp\",check=\"tcp://"
                              "192.0.2.1:25\",network=\"hq\"} 2\n"));
    assert_non_null(strstr(t, "# TYPE vantage_check_duration_seconds histogram\n"));
    assert_non_null(strstr(t, "vantage_agent_up{agent=\"a1\",network=\"hq\"} 1\n"));
    assert_non_null(strstr(t, "vantage_ingest_results_total{outcome=\"stored\"} 3\n"));
    assert_non_null(strstr(t, "# TYPE vantage_agent_spool_dropped_total counter\n"));
    assert_non_null(strstr(t, "# TYPE vantage_agent_input_anomalies_total counter\n"));
    assert_non_null(strstr(t, "vantage_agent_input_anomalies_total{agent=\"a2\",network=\"hq\","
                              "kind=\"duplicate\"} 10\n"));
    assert_non_null(strstr(t, "vantage_agent_input_anomalies_total{agent=\"a2\",network=\"hq\","
                              "kind=\"clamped\"} 3\n"));
    assert_non_null(strstr(t, "vantage_agent_input_anomalies_total{agent=\"a1\",network=\"hq\","
                              "kind=\"refused\"} 0\n"));
    assert_non_null(strstr(t, "vantage_findings_open{target=\"corp\",verdict=\"device\","
                              "layer=\"tcp\",severity=\"problem\"} 2\n"));
    free(t);
}

/* metrics_per = network: no agent label, shares and counts instead. */
static void test_per_network(void **state)
{
    (void)state;
    char *t = scrape(true);
    check_families(t);
    assert_null(strstr(t, "agent=\""));
    assert_non_null(strstr(t, "vantage_check_up{target=\"corp\",check=\"tcp://192.0.2.1:25\","
                              "network=\"hq\"} 1\n"));
    assert_non_null(strstr(t, "vantage_check_agents{target=\"corp\",check=\"tcp://192.0.2.1:25\","
                              "network=\"hq\"} 2\n"));
    assert_non_null(strstr(t, "vantage_check_phase_seconds{target=\"corp\",check=\"tcp://"
                              "192.0.2.1:25\",network=\"hq\",phase=\"total\"} 0.036500\n"));
    assert_non_null(strstr(t, "vantage_agents{network=\"hq\"} 2\n"));
    /* Summed over the network's agents. */
    assert_non_null(strstr(t, "vantage_agent_input_anomalies_total{network=\"hq\","
                              "kind=\"invalid\"} 1\n"));
    assert_non_null(strstr(t, "vantage_agent_input_anomalies_total{network=\"hq\","
                              "kind=\"refused\"} 2\n"));
    assert_non_null(strstr(t, "vantage_agent_up{network=\"hq\"} 2\n"));
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_escaping),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_per_agent),
        cmocka_unit_test(test_per_network),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
