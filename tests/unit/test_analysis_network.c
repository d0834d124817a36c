/*
 * Unit tests of collector/analysis/ (analysis.h), the network, DNS and
 * device questions: which networks or devices fail or are slow, a zone
 * that is down, optional records that are absent, degraded networks and
 * their summary counts. Snapshots from analysistest.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "analysis.h"
#include "analysistest.h"
#include "changes.h"

static void test_network_tcp(void **state)
{
    (void)state;
    struct snap t = {0};
    healthy_office(&t);
    for (size_t i = 0; i < 2; i++) {
        struct analysis_state *st = find(&t, office_agents[i], IMAPS);
        st->ok = false;
        st->layer = st->fail_layer = RESULT_LAYER_TCP;
        st->error = st->fail_error = RESULT_TCP_TIMEOUT;
        st->episode_us = st->since_us = NOW - (5 + (int64_t)i) * MIN;
    }
    run(&t);
    assert_int_equal(t.d.status, ANALYSIS_STATUS_PROBLEM);
    assert_int_equal(t.d.nfindings, 1);
    const struct analysis_finding *f = &t.d.findings[0];
    assert_int_equal(f->verdict, ANALYSIS_NETWORK);
    assert_int_equal(f->layer, RESULT_LAYER_TCP);
    assert_int_equal(f->error, RESULT_TCP_TIMEOUT);
    assert_list(&f->checks, IMAPS);
    assert_list(&f->networks, "hq");
    assert_list(&f->agents, "hq1,hq2");
    assert_list(&f->healthy_networks, "branch,home");
    assert_list(&f->healthy_agents, "br1,br2,home1");
    assert_true(f->started_at_us == NOW - 6 * MIN); /* the first agent to fail */
    assert_non_null(f->summary);
    assert_true(f->evidence.n > 0);
    assert_true(f->next_steps.n > 0);
    assert_non_null(strstr(f->next_steps.v[1], "993"));
    done(&t);
}

static void test_network_dns(void **state)
{
    (void)state;
    struct snap s = {0};
    healthy_office(&s);
    const char *checks[] = {IMAPS, SUBM, WEB, MX};
    for (size_t i = 0; i < 2; i++)
        for (size_t c = 0; c < 4; c++)
            fail_state(find(&s, office_agents[i], checks[c]),
                       c % 2 ? RESULT_DNS_REFUSED : RESULT_DNS_TIMEOUT);
    run(&s);
    assert_int_equal(s.d.nfindings, 1);
    const struct analysis_finding *f = &s.d.findings[0];
    assert_int_equal(f->verdict, ANALYSIS_NETWORK);
    assert_int_equal(f->layer, RESULT_LAYER_DNS);
    assert_int_equal(f->checks.n, 4);
    assert_list(&f->networks, "hq");
    /* A tie between two errors (4 each) goes to the lower code. */
    assert_int_equal(f->error, RESULT_DNS_REFUSED);
    done(&s);
}

static void test_device(void **state)
{
    (void)state;
    struct snap s = {0};
    healthy_office(&s);
    fail_state(find(&s, "br1", SUBM), RESULT_TCP_TIMEOUT);
    run(&s);
    assert_int_equal(s.d.nfindings, 1);
    const struct analysis_finding *f = &s.d.findings[0];
    assert_int_equal(f->verdict, ANALYSIS_DEVICE);
    assert_list(&f->agents, "br1");
    assert_list(&f->networks, "branch");
    assert_list(&f->healthy_agents, "br2,home1,hq1,hq2");
    assert_list(&f->healthy_networks, "home,hq");
    done(&s);
}

static void test_dns_zone_down(void **state)
{
    (void)state;
    struct snap s = {0};
    healthy_office(&s);
    for (size_t i = 0; i < s.n; i++)
        fail_state(&s.st[i], RESULT_DNS_SERVFAIL);
    /* An AAAA record never published failed (NODATA) all along: it is
     * in the finding, but does not date it. One agent still probing a
     * check it discovered earlier is the same outage. */
    struct analysis_state *aaaa =
        add(&s, "hq1", "hq", "dns://mail.example.com/AAAA", RESULT_DNS_SERVFAIL);
    aaaa->since_us = aaaa->episode_us = NOW - 600 * MIN;
    add(&s, "hq2", "hq", "imap://mail.example.com", RESULT_DNS_SERVFAIL)->discovered = true;
    add(&s, "br1", "branch", "imap://mail.example.com", RESULT_OK)->discovered = true;
    run(&s);
    assert_int_equal(s.d.nfindings, 1);
    assert_int_equal(s.d.findings[0].verdict, ANALYSIS_DNS);
    assert_int_equal(s.d.findings[0].checks.n, 6);
    assert_true(s.d.findings[0].started_at_us == NOW - 10 * MIN);
    done(&s);
}

/* A domain without IPv6 or SRV records is not broken; a record that
 * resolved before and is gone is. */
static void test_absent_optional_records(void **state)
{
    (void)state;
    struct snap s = {0};
    healthy_office(&s);
    all(&s, "dns://mail.example.com/AAAA", RESULT_DNS_NODATA);
    all(&s, "dns://_imap._tcp.example.com/SRV", RESULT_DNS_NXDOMAIN);
    all(&s, "dns://autodiscover.example.com/A", RESULT_DNS_NXDOMAIN);
    run(&s);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_OK);
    assert_int_equal(analysis_cell_of(&s.in, find(&s, "hq1", "dns://mail.example.com/AAAA")),
                     ANALYSIS_CELL_ABSENT);
    done(&s);
    /* The SRV record used to answer: its disappearance is a DNS problem. */
    for (size_t i = 0; i < 5; i++)
        find(&s, office_agents[i], "dns://_imap._tcp.example.com/SRV")->answers =
            "0 1 143 mail.example.com";
    run(&s);
    assert_int_equal(s.d.nfindings, 1);
    assert_int_equal(s.d.findings[0].verdict, ANALYSIS_DNS);
    assert_list(&s.d.findings[0].checks, "dns://_imap._tcp.example.com/SRV");
    done(&s);
    /* MX is never optional. */
    struct snap t = {0};
    healthy_office(&t);
    for (size_t i = 0; i < 5; i++)
        fail_state(find(&t, office_agents[i], MX), RESULT_DNS_NXDOMAIN);
    run(&t);
    assert_int_equal(t.d.nfindings, 1);
    assert_int_equal(t.d.findings[0].verdict, ANALYSIS_DNS);
    done(&t);
}

/* ---- degraded networks, warnings (issue 9) ---------------------------------- */

static bool has_text(const struct analysis_list *l, const char *needle)
{
    for (size_t i = 0; i < l->n; i++)
        if (strstr(l->v[i], needle) != NULL)
            return true;
    return false;
}

/* Sets every state of net (NULL: of agent) to total_us, its phases with it. */
static void set_time(struct snap *s, const char *net, const char *agent, uint64_t total_us)
{
    for (size_t i = 0; i < s->n; i++) {
        struct analysis_state *st = &s->st[i];
        if ((net != NULL && strcmp(st->network, net) != 0) ||
            (agent != NULL && strcmp(st->agent, agent) != 0))
            continue;
        st->total_us = total_us;
        st->phases_us[RESULT_PHASE_CONNECT] = total_us / 4;
        st->phases_us[RESULT_PHASE_TLS] = total_us / 2;
        st->phases_us[RESULT_PHASE_TOTAL] = total_us;
        st->phase = RESULT_PHASE_TLS;
        st->phase_us = total_us / 2;
    }
}

/* branch's link degrades: br1 times out in DNS, br2 at TCP, br3 passes
 * and fails by turns. One network finding names all three. */
static void test_degraded_network(void **state)
{
    (void)state;
    struct snap s = {0};
    healthy_office(&s);
    const char *checks[] = {IMAPS, SUBM, WEB, MX};
    for (size_t c = 0; c < 4; c++)
        add(&s, "br3", "branch", checks[c], RESULT_OK);
    set_time(&s, "branch", NULL, 2500000);
    fail_state(find(&s, "br1", IMAPS), RESULT_DNS_TIMEOUT);
    fail_state(find(&s, "br1", WEB), RESULT_DNS_TIMEOUT);
    fail_state(find(&s, "br2", SUBM), RESULT_TCP_TIMEOUT);
    /* Lost packets break a TLS handshake too: the same link's problem. */
    fail_state(find(&s, "br2", WEB), RESULT_TLS_HANDSHAKE_FAILED);
    struct analysis_state *flap = find(&s, "br3", IMAPS);
    flap->flips = ANALYSIS_FLAP_FLIPS;
    flap->streak_n = 1;
    flap->episode_us = NOW - 20 * MIN;
    flap->fail_error = RESULT_PROTO_TIMEOUT;
    flap->fail_layer = RESULT_LAYER_PROTOCOL;
    run(&s);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_PROBLEM);
    assert_int_equal(s.d.nfindings, 1);
    const struct analysis_finding *f = &s.d.findings[0];
    assert_int_equal(f->severity, ANALYSIS_SEVERITY_PROBLEM);
    assert_int_equal(f->verdict, ANALYSIS_NETWORK);
    assert_list(&f->networks, "branch");
    assert_list(&f->agents, "br1,br2,br3");
    assert_list(&f->healthy_networks, "home,hq");
    assert_non_null(strstr(f->summary, "br1 dns_timeout"));
    assert_non_null(strstr(f->summary, "br2 tcp_timeout"));
    assert_non_null(strstr(f->summary, "br3 flapping"));
    assert_non_null(strstr(f->summary, "3 of 3 computers there fail, at different steps or "
                                       "by turns, checks"));
    assert_null(strstr(f->summary, "every agent"));
    /* Latency evidence: branch first, against the others. */
    assert_true(has_text(&f->evidence, "Median times of these checks on branch: connect 625 ms, "
                                       "tls 1250 ms, total 2500 ms"));
    assert_true(has_text(&f->evidence, "on hq:"));
    done(&s);

    /* Issue 9's report: both of branch's computers fail the same checks,
     * one at DNS, one at TCP. Not two network findings of one agent each
     * (whose summaries said "every agent"): one, naming both. */
    struct snap v = {0};
    healthy_office(&v);
    fail_state(find(&v, "br1", IMAPS), RESULT_DNS_TIMEOUT);
    fail_state(find(&v, "br2", IMAPS), RESULT_TCP_TIMEOUT);
    fail_state(find(&v, "br1", SUBM), RESULT_TCP_TIMEOUT);
    fail_state(find(&v, "br2", SUBM), RESULT_PROTO_TIMEOUT);
    run(&v);
    assert_int_equal(v.d.nfindings, 1);
    assert_int_equal(v.d.findings[0].verdict, ANALYSIS_NETWORK);
    assert_list(&v.d.findings[0].agents, "br1,br2");
    assert_list(&v.d.findings[0].checks, IMAPS "," SUBM);
    assert_non_null(strstr(v.d.findings[0].summary, "degraded"));
    assert_non_null(strstr(v.d.findings[0].summary, "2 of 2 computers there fail, at "
                                                    "different steps, checks"));
    done(&v);

    /* Seconds of latency (lab.test_warnings): every computer fails the
     * same way per check, but the dialogs time out at the greeting and the
     * TLS handshakes do not finish. One link, one finding, not one per
     * layer. */
    struct snap l = {0};
    healthy_office(&l);
    set_time(&l, "branch", NULL, 5000000);
    fail_state(find(&l, "br1", IMAPS), RESULT_TLS_HANDSHAKE_FAILED);
    fail_state(find(&l, "br2", IMAPS), RESULT_TLS_HANDSHAKE_FAILED);
    fail_state(find(&l, "br1", SUBM), RESULT_PROTO_TIMEOUT);
    fail_state(find(&l, "br2", SUBM), RESULT_PROTO_TIMEOUT);
    run(&l);
    assert_int_equal(l.d.nfindings, 1);
    assert_int_equal(l.d.findings[0].verdict, ANALYSIS_NETWORK);
    assert_list(&l.d.findings[0].agents, "br1,br2");
    assert_list(&l.d.findings[0].checks, IMAPS "," SUBM);
    assert_non_null(strstr(l.d.findings[0].summary, "degraded"));
    done(&l);

    /* A TLS-breaking proxy alone is one symptom, no timeout: the ordinary
     * network finding of its layer. */
    struct snap p = {0};
    healthy_office(&p);
    fail_state(find(&p, "br1", IMAPS), RESULT_TLS_HANDSHAKE_FAILED);
    fail_state(find(&p, "br2", IMAPS), RESULT_TLS_HANDSHAKE_FAILED);
    fail_state(find(&p, "br1", WEB), RESULT_TLS_HANDSHAKE_FAILED);
    fail_state(find(&p, "br2", WEB), RESULT_TLS_HANDSHAKE_FAILED);
    run(&p);
    assert_int_equal(p.d.nfindings, 1);
    assert_int_equal(p.d.findings[0].verdict, ANALYSIS_NETWORK);
    assert_int_equal(p.d.findings[0].layer, RESULT_LAYER_TLS);
    assert_null(strstr(p.d.findings[0].summary, "degraded"));
    done(&p);

    /* The same office when only one computer times out: that computer. */
    struct snap t = {0};
    healthy_office(&t);
    fail_state(find(&t, "br1", IMAPS), RESULT_DNS_TIMEOUT);
    run(&t);
    assert_int_equal(t.d.nfindings, 1);
    assert_int_equal(t.d.findings[0].verdict, ANALYSIS_DEVICE);
    done(&t);
}

/* A network summary says "every agent" only when every one fails. */
static void test_network_summary_counts(void **state)
{
    (void)state;
    struct snap s = {0};
    healthy_office(&s);
    fail_state(find(&s, "hq1", IMAPS), RESULT_TCP_TIMEOUT);
    fail_state(find(&s, "hq2", IMAPS), RESULT_TCP_TIMEOUT);
    run(&s);
    assert_int_equal(s.d.nfindings, 1);
    assert_non_null(strstr(s.d.findings[0].summary, "every agent on hq (2)"));
    done(&s);

    /* Nearly every agent: three of four. */
    struct snap t = {0};
    const char *names[] = {"a1", "a2", "a3", "a4"};
    for (size_t i = 0; i < 4; i++)
        add(&t, names[i], "lan", IMAPS, i < 3 ? RESULT_TCP_TIMEOUT : RESULT_OK);
    add(&t, "h1", "home", IMAPS, RESULT_OK);
    run(&t);
    assert_int_equal(t.d.nfindings, 1);
    assert_int_equal(t.d.findings[0].verdict, ANALYSIS_NETWORK);
    assert_non_null(strstr(t.d.findings[0].summary, "3 of 4 agents on lan"));
    assert_null(strstr(t.d.findings[0].summary, "every agent"));
    done(&t);
}

static void test_slow_network(void **state)
{
    (void)state;
    struct snap s = {0};
    healthy_office(&s);
    set_time(&s, "branch", NULL, 900000);
    run(&s);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_WARNING);
    assert_int_equal(s.d.nfindings, 1);
    const struct analysis_finding *f = &s.d.findings[0];
    assert_int_equal(f->severity, ANALYSIS_SEVERITY_WARNING);
    assert_int_equal(f->verdict, ANALYSIS_NETWORK);
    assert_int_equal(f->error, RESULT_SLOW);
    assert_int_equal(f->layer, RESULT_LAYER_TLS);
    assert_list(&f->networks, "branch");
    assert_list(&f->agents, "br1,br2");
    assert_non_null(strstr(f->summary, "900 ms"));
    assert_non_null(strstr(f->summary, "40 ms"));
    /* Three server checks each of br1 and br2; MX lookups are no sample. */
    assert_true(has_text(&f->evidence, "over 6 results"));
    assert_true(has_text(&f->evidence, "other networks over 9 results"));
    assert_true(has_text(&f->evidence, "Median times of these checks on branch"));
    done(&s);

    /* A slow network with a problem of its own: the problem only. */
    fail_state(find(&s, "br1", IMAPS), RESULT_TCP_TIMEOUT);
    fail_state(find(&s, "br2", IMAPS), RESULT_TCP_TIMEOUT);
    run(&s);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_PROBLEM);
    assert_int_equal(s.d.nfindings, 1);
    assert_int_equal(s.d.findings[0].severity, ANALYSIS_SEVERITY_PROBLEM);
    done(&s);
}

static void test_slow_device(void **state)
{
    (void)state;
    struct snap s = {0};
    healthy_office(&s);
    set_time(&s, NULL, "hq2", 600000);
    run(&s);
    /* hq2 alone is slow; hq is not (hq1 is fast). */
    assert_int_equal(s.d.status, ANALYSIS_STATUS_WARNING);
    assert_int_equal(s.d.nfindings, 1);
    const struct analysis_finding *f = &s.d.findings[0];
    assert_int_equal(f->verdict, ANALYSIS_DEVICE);
    assert_int_equal(f->error, RESULT_SLOW);
    assert_list(&f->agents, "hq2");
    assert_non_null(strstr(f->summary, "hq2 is slow"));
    done(&s);
}

static void test_not_slow_within_thresholds(void **state)
{
    (void)state;
    /* 2.5 times slower: under the factor. */
    struct snap s = {0};
    healthy_office(&s);
    set_time(&s, "branch", NULL, 100000);
    run(&s);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_OK);
    assert_int_equal(s.d.nfindings, 0);
    done(&s);

    /* Four times slower, but only 120 ms more: nobody notices. */
    struct snap t = {0};
    healthy_office(&t);
    set_time(&t, "branch", NULL, 160000);
    run(&t);
    assert_int_equal(t.d.nfindings, 0);
    done(&t);

    /* Slow, but too few results on the slow side (one check each). */
    struct snap u = {0};
    add(&u, "br1", "branch", IMAPS, RESULT_OK);
    add(&u, "br2", "branch", IMAPS, RESULT_OK);
    add(&u, "hq1", "hq", IMAPS, RESULT_OK);
    add(&u, "hq2", "hq", IMAPS, RESULT_OK);
    add(&u, "hq3", "hq", IMAPS, RESULT_OK);
    set_time(&u, "branch", NULL, 900000);
    run(&u);
    assert_int_equal(u.d.nfindings, 0);
    done(&u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_network_tcp),
        cmocka_unit_test(test_network_dns),
        cmocka_unit_test(test_device),
        cmocka_unit_test(test_dns_zone_down),
        cmocka_unit_test(test_absent_optional_records),
        cmocka_unit_test(test_degraded_network),
        cmocka_unit_test(test_network_summary_counts),
        cmocka_unit_test(test_slow_network),
        cmocka_unit_test(test_slow_device),
        cmocka_unit_test(test_not_slow_within_thresholds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
