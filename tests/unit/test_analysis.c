/*
 * Unit tests of collector/analysis/ (analysis.h): verdicts from synthetic snapshots
 * shaped like the lab's offices (hq: hq1 hq2, branch: br1 br2, home:
 * home1) that no single help-desk question owns: healthy and empty
 * snapshots, ties, sparse data, staleness, flapping, removed checks and
 * names. The questions' own tests are test_analysis_network.c and
 * test_analysis_service.c; the shared snapshot builders analysistest.h.
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

static void test_all_healthy(void **state)
{
    (void)state;
    struct snap s = {0};
    healthy_office(&s);
    run(&s);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_OK);
    assert_int_equal(s.d.nfindings, 0);
    assert_int_equal(s.d.agents, 5);
    assert_int_equal(s.d.networks, 3);
    assert_int_equal(s.d.reporting, 5);
    done(&s);
}

static void test_no_data(void **state)
{
    (void)state;
    struct snap s = {0};
    run(&s);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_NO_DATA);
    done(&s);
    /* Known agents whose states are all stale: no data, not "ok". */
    healthy_office(&s);
    for (size_t i = 0; i < s.n; i++)
        s.st[i].at_us = NOW - 60 * MIN;
    s.st[0].ok = false;
    s.st[0].error = RESULT_TCP_TIMEOUT;
    run(&s);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_NO_DATA);
    assert_int_equal(s.d.agents, 5);
    assert_int_equal(s.d.reporting, 0);
    done(&s);
}

static void test_inconclusive_single_host(void **state)
{
    (void)state;
    struct snap s = {0};
    healthy_office(&s);
    fail_state(find(&s, "home1", IMAPS), RESULT_TCP_TIMEOUT);
    run(&s);
    assert_int_equal(s.d.nfindings, 1);
    const struct analysis_finding *f = &s.d.findings[0];
    assert_int_equal(f->verdict, ANALYSIS_INCONCLUSIVE);
    assert_list(&f->agents, "home1");
    assert_list(&f->networks, "home");
    assert_non_null(strstr(f->next_steps.v[f->next_steps.n - 2], "second vantage point"));
    done(&s);

    /* Sparse: everything on one network fails a transport check. */
    struct snap t = {0};
    fail_state(add(&t, "a1", "lan", IMAPS, RESULT_OK), RESULT_TCP_TIMEOUT);
    fail_state(add(&t, "a2", "lan", IMAPS, RESULT_OK), RESULT_TCP_TIMEOUT);
    run(&t);
    assert_int_equal(t.d.nfindings, 1);
    assert_int_equal(t.d.findings[0].verdict, ANALYSIS_INCONCLUSIVE);
    assert_list(&t.d.findings[0].agents, "a1,a2");
    done(&t);
}

static void test_two_findings(void **state)
{
    (void)state;
    struct snap s = {0};
    healthy_office(&s);
    fail_state(find(&s, "hq1", IMAPS), RESULT_TCP_TIMEOUT);
    fail_state(find(&s, "hq2", IMAPS), RESULT_TCP_TIMEOUT);
    fail_state(find(&s, "br1", SUBM), RESULT_TCP_TIMEOUT);
    run(&s);
    assert_int_equal(s.d.nfindings, 2);
    /* The more general problem first. */
    assert_int_equal(s.d.findings[0].verdict, ANALYSIS_NETWORK);
    assert_list(&s.d.findings[0].agents, "hq1,hq2");
    assert_int_equal(s.d.findings[1].verdict, ANALYSIS_DEVICE);
    assert_list(&s.d.findings[1].agents, "br1");
    done(&s);

    /* hq's resolver breaks too: the device's evidence keeps its own error. */
    fail_state(find(&s, "hq1", SUBM), RESULT_DNS_TIMEOUT);
    fail_state(find(&s, "hq2", SUBM), RESULT_DNS_TIMEOUT);
    run(&s);
    assert_int_equal(s.d.nfindings, 3);
    const struct analysis_finding *dev = &s.d.findings[2];
    assert_int_equal(dev->verdict, ANALYSIS_DEVICE);
    assert_non_null(strstr(dev->evidence.v[0], "tcp_timeout"));
    assert_null(strstr(dev->evidence.v[0], "dns_timeout"));
    done(&s);
}

static void test_healed_and_flapping(void **state)
{
    (void)state;
    struct snap s = {0};
    healthy_office(&s);
    /* Healed: failed once, passes again (fail->ok = 2 flips). */
    struct analysis_state *st = find(&s, "hq1", IMAPS);
    st->episode_us = NOW - 30 * MIN;
    st->flips = 1;
    st->fail_error = RESULT_TCP_TIMEOUT;
    st->fail_layer = RESULT_LAYER_TCP;
    st->streak_n = 1;
    run(&s);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_OK);
    done(&s);

    /* Flapping: passing right now, but the 4th change of its episode. */
    st->flips = ANALYSIS_FLAP_FLIPS;
    run(&s);
    assert_int_equal(s.d.nfindings, 1);
    assert_true(s.d.findings[0].flapping);
    assert_int_equal(s.d.findings[0].error, RESULT_TCP_TIMEOUT);
    assert_true(s.d.findings[0].started_at_us == NOW - 30 * MIN);
    assert_int_equal(analysis_cell_of(&s.in, st), ANALYSIS_CELL_FLAPPING);
    done(&s);

    /* A long passing streak after flapping: healed. */
    st->streak_n = 3;
    run(&s);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_OK);
    done(&s);
}

static void test_nearly_every_and_ties(void **state)
{
    (void)state;
    struct snap s = {0};
    /* 4 agents at hq, 3 fail: "nearly every" is the network. */
    const char *hq[] = {"h1", "h2", "h3", "h4"};
    for (size_t i = 0; i < 4; i++) {
        struct analysis_state *st = add(&s, hq[i], "hq", IMAPS, RESULT_OK);
        if (i < 3)
            fail_state(st, RESULT_TCP_TIMEOUT);
    }
    add(&s, "b1", "branch", IMAPS, RESULT_OK);
    add(&s, "b2", "branch", IMAPS, RESULT_OK);
    run(&s);
    assert_int_equal(s.d.nfindings, 1);
    assert_int_equal(s.d.findings[0].verdict, ANALYSIS_NETWORK);
    assert_list(&s.d.findings[0].agents, "h1,h2,h3");
    done(&s);

    /* 2 agents, 1 fails: a tie is a device, not the network. */
    struct snap t = {0};
    fail_state(add(&t, "b1", "branch", IMAPS, RESULT_OK), RESULT_TCP_TIMEOUT);
    add(&t, "b2", "branch", IMAPS, RESULT_OK);
    add(&t, "h1", "hq", IMAPS, RESULT_OK);
    run(&t);
    assert_int_equal(t.d.nfindings, 1);
    assert_int_equal(t.d.findings[0].verdict, ANALYSIS_DEVICE);
    done(&t);

    /* Two offices failing the same way are one finding. */
    struct snap u = {0};
    healthy_office(&u);
    for (size_t i = 0; i < 4; i++)
        fail_state(find(&u, office_agents[i], IMAPS), RESULT_TCP_TIMEOUT);
    run(&u);
    assert_int_equal(u.d.nfindings, 1);
    assert_int_equal(u.d.findings[0].verdict, ANALYSIS_NETWORK);
    assert_list(&u.d.findings[0].networks, "branch,hq");
    assert_list(&u.d.findings[0].healthy_networks, "home");
    done(&u);
}

static void test_stale_agent_ignored(void **state)
{
    (void)state;
    struct snap s = {0};
    healthy_office(&s);
    /* home1 stopped reporting while failing: not a finding. */
    for (size_t i = 0; i < s.n; i++) {
        if (strcmp(s.st[i].agent, "home1") == 0) {
            fail_state(&s.st[i], RESULT_TCP_TIMEOUT);
            s.st[i].at_us = NOW - 10 * MIN;
        }
    }
    run(&s);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_OK);
    assert_int_equal(s.d.reporting, 4);
    assert_int_equal(s.d.agents, 5);
    done(&s);
}

static void test_agent_moved_network(void **state)
{
    (void)state;
    struct snap s = {0};
    healthy_office(&s);
    /* br1's newest state says it is at home now; an agent network change
     * just before its failure is correlated. */
    struct analysis_state *st = find(&s, "br1", IMAPS);
    st->network = "home";
    st->at_us = NOW - MIN / 4;
    fail_state(st, RESULT_TCP_TIMEOUT);
    fail_state(find(&s, "home1", IMAPS), RESULT_TCP_TIMEOUT);
    s.ch[s.nch++] = (struct analysis_change){
        NOW - 12 * MIN, "br1", CHANGES_AGENT_NETWORK, "br1", "network branch", "network home"};
    s.ch[s.nch++] = (struct analysis_change){NOW - 12 * MIN, "hq2",        CHANGES_AGENT_NETWORK,
                                             "hq2",          "network hq", "network hq2"};
    run(&s);
    assert_int_equal(s.d.nfindings, 1);
    const struct analysis_finding *f = &s.d.findings[0];
    assert_int_equal(f->verdict, ANALYSIS_NETWORK);
    assert_list(&f->networks, "home");
    assert_list(&f->agents, "br1,home1");
    assert_int_equal(f->nchanges, 1);
    assert_string_equal(s.ch[f->changes[0]].agent, "br1");
    done(&s);
}

/* The office with two removed checks and two discovered ones, for the
 * configured checks of test_removed_checks; mx names the MX hosts. */
static const char *const now_configured[] = {IMAPS, SUBM, WEB, MX};

static void removed_office(struct snap *s, const char *mx)
{
    healthy_office(s);
    set_answers(s, MX, mx);
    all(s, "imaps://old.example.com", RESULT_TCP_REFUSED); /* removed, stale */
    for (size_t i = 0; i < 5; i++)
        find(s, office_agents[i], "imaps://old.example.com")->at_us = NOW - 60 * MIN;
    add(s, "hq1", "hq", "pop3s://old.example.com", RESULT_TCP_TIMEOUT); /* removed, fresh */
    all(s, "smtp://mx2.example.com", RESULT_TCP_TIMEOUT);
    for (size_t i = s->n - 5; i < s->n; i++)
        s->st[i].discovered = true;
    add(s, "hq1", "hq", "smtp://gone.example.com", RESULT_OK)->discovered = true;
    s->in = (struct analysis_input){.target = "corp",
                                    .domain = "example.com",
                                    .now_us = NOW,
                                    .stale_us = 3 * MIN,
                                    .states = s->st,
                                    .nstates = s->n,
                                    .checks = now_configured,
                                    .nchecks = 4};
}

/* Issue 15: a check removed from the target leaves the comparison and the
 * diagnosis at once, however it fails or however stale it is; checks
 * found through the domain's DNS stay while the DNS names them. */
static void test_removed_checks(void **state)
{
    (void)state;
    struct snap s = {0};
    removed_office(&s, "10 mail.example.com. 20 mx2.example.com.");
    assert_false(analysis_state_current(&s.in, find(&s, "hq1", "pop3s://old.example.com")));
    assert_false(analysis_state_current(&s.in, find(&s, "br1", "imaps://old.example.com")));
    assert_false(analysis_state_current(&s.in, find(&s, "hq1", "smtp://gone.example.com")));
    assert_true(analysis_state_current(&s.in, find(&s, "hq1", "smtp://mx2.example.com")));
    assert_true(analysis_state_current(&s.in, find(&s, "hq1", MX)));
    /* Spec texts compare without case, as DNS names do. */
    struct analysis_state upper = *find(&s, "hq1", IMAPS);
    upper.check = "IMAPS://Mail.Example.com";
    assert_true(analysis_state_current(&s.in, &upper));
    size_t before = s.n;
    s.in.nstates = analysis_keep_current(&s.in, s.st);
    assert_int_equal(s.in.nstates, before - 7);
    for (size_t i = 0; i < s.in.nstates; i++)
        assert_null(strstr(s.st[i].check, "old.example.com"));
    run_in(&s);
    /* The one finding left is the discovered MX host's, not the removed
     * checks' (refused everywhere; the only failing check of hq1). */
    assert_int_equal(s.d.nfindings, 1);
    assert_list(&s.d.findings[0].checks, "smtp://mx2.example.com");
    done(&s);

    /* Once the MX no longer names it, the discovered check leaves too;
     * without a domain no discovered check is current. */
    struct snap t = {0};
    removed_office(&t, "10 mail.example.com.");
    assert_false(analysis_state_current(&t.in, find(&t, "hq1", "smtp://mx2.example.com")));
    t.in.nstates = analysis_keep_current(&t.in, t.st);
    assert_int_equal(t.in.nstates, 20);
    run_in(&t);
    assert_int_equal(t.d.status, ANALYSIS_STATUS_OK);
    done(&t);
    struct snap u = {0};
    removed_office(&u, "10 mail.example.com. 20 mx2.example.com.");
    u.in.domain = NULL;
    assert_false(analysis_state_current(&u.in, find(&u, "hq1", "smtp://mx2.example.com")));
    /* No configuration known: everything is current. */
    u.in.checks = NULL;
    assert_true(analysis_state_current(&u.in, find(&u, "hq1", "pop3s://old.example.com")));
    assert_int_equal(analysis_keep_current(&u.in, u.st), u.n);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(analysis_verdict_name(ANALYSIS_CLIENT_CONFIG), "client_config");
    assert_null(analysis_verdict_name(ANALYSIS_VERDICT_LAST));
    assert_string_equal(analysis_status_name(ANALYSIS_STATUS_NO_DATA), "no_data");
    assert_string_equal(analysis_cell_name(ANALYSIS_CELL_STALE), "stale");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_healthy),
        cmocka_unit_test(test_no_data),
        cmocka_unit_test(test_inconclusive_single_host),
        cmocka_unit_test(test_two_findings),
        cmocka_unit_test(test_healed_and_flapping),
        cmocka_unit_test(test_nearly_every_and_ties),
        cmocka_unit_test(test_stale_agent_ignored),
        cmocka_unit_test(test_agent_moved_network),
        cmocka_unit_test(test_removed_checks),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
