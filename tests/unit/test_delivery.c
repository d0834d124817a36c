/*
 * Unit tests of collector/analysis/delivery.c: the diagnosis of the
 * mailflow:// check ("is the mailbox still receiving email?") from
 * synthetic snapshots shaped like the lab's offices (hq: hq1 hq2,
 * branch: br1 br2, home: home1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "analysis.h"

#define NOW        (1800000000LL * 1000000)
#define MIN        (60LL * 1000000)
#define STATES_MAX 64

#define IMAPS "imaps://mail.example.com"
#define SUBM  "submission://mail.example.com"
#define WEB   "https://webmail.example.com/"
#define FLOW  "mailflow://@corp-mail"

struct snap {
    struct analysis_state st[STATES_MAX];
    size_t n;
    struct analysis_input in;
    struct analysis_diagnosis d;
};

static const char *const agents[] = {"hq1", "hq2", "br1", "br2", "home1"};
static const char *const nets[] = {"hq", "hq", "branch", "branch", "home"};

static struct analysis_state *add(struct snap *s, size_t a, const char *check, enum result_error e,
                                  const char *detail)
{
    assert_true(s->n < STATES_MAX);
    struct analysis_state *st = &s->st[s->n++];
    bool ok = e == RESULT_OK;
    *st = (struct analysis_state){
        .agent = agents[a],
        .network = nets[a],
        .check = check,
        .ok = ok,
        .layer = ok ? RESULT_LAYER_NONE : result_error_layer(e),
        .error = e,
        .fail_layer = ok ? RESULT_LAYER_NONE : result_error_layer(e),
        .fail_error = e,
        .at_us = NOW - MIN / 2,
        .since_us = NOW - 10 * MIN,
        .episode_us = ok ? 0 : NOW - 10 * MIN,
        .streak_n = 10,
        .total_us = 40000,
        .phase = RESULT_PHASE_TLS,
        .phase_us = 30000,
        .detail = detail,
    };
    return st;
}

static void all(struct snap *s, const char *check, enum result_error e, const char *detail)
{
    for (size_t a = 0; a < 5; a++)
        add(s, a, check, e, detail);
}

static void run(struct snap *s)
{
    s->in = (struct analysis_input){
        .target = "corp",
        .domain = "example.com",
        .now_us = NOW,
        .stale_us = 3 * MIN,
        .states = s->st,
        .nstates = s->n,
    };
    char err[128];
    assert_int_equal(analysis_diagnose(&s->in, &s->d, err, sizeof(err)), 0);
}

static bool list_has_text(const struct analysis_list *l, const char *needle)
{
    for (size_t i = 0; i < l->n; i++)
        if (strstr(l->v[i], needle) != NULL)
            return true;
    return false;
}

static bool list_has(const struct analysis_list *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return true;
    return false;
}

static void contains(const char *text, const char *needle)
{
    if (text == NULL || strstr(text, needle) == NULL)
        fail_msg("'%s' does not contain '%s'", text ? text : "(null)", needle);
}

/* Accepted, not delivered, from every network, while login and webmail
 * work: one service finding, layer delivery, that says the mailbox is not
 * receiving mail and sends the administrator to the queue, the quota and
 * the delivery agent. */
static void test_not_delivered_everywhere(void **state)
{
    (void)state;
    static struct snap s;
    memset(&s, 0, sizeof(s));
    all(&s, IMAPS, RESULT_OK, NULL);
    all(&s, SUBM, RESULT_OK, NULL);
    all(&s, WEB, RESULT_OK, NULL);
    all(&s, FLOW, RESULT_MAIL_NOT_DELIVERED,
        "mail.example.com accepted the test message for probe@example.com, but it was in "
        "neither INBOX nor Junk after 120 s");
    run(&s);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_PROBLEM);
    assert_int_equal(s.d.nfindings, 1);
    const struct analysis_finding *f = &s.d.findings[0];
    assert_int_equal(f->verdict, ANALYSIS_SERVICE);
    assert_int_equal(f->layer, RESULT_LAYER_DELIVERY);
    assert_int_equal(f->error, RESULT_MAIL_NOT_DELIVERED);
    assert_int_equal(f->checks.n, 1);
    assert_string_equal(f->checks.v[0], FLOW);
    assert_int_equal(f->networks.n, 3);
    contains(f->summary, "not receiving mail");
    contains(f->summary, "accepted by mail.example.com");
    contains(f->summary, "logging in (" IMAPS ") and webmail (" WEB ") still work");
    assert_true(list_has_text(&f->next_steps, "postqueue -p"));
    assert_true(list_has_text(&f->next_steps, "mailq"));
    assert_true(list_has_text(&f->next_steps, "quota"));
    assert_true(list_has_text(&f->next_steps, "LMTP"));
    assert_true(list_has_text(&f->evidence, "in neither INBOX nor Junk"));
    analysis_diagnosis_clear(&s.d);
}

/* Refused at RCPT: the summary quotes what the server said. */
static void test_rejected_quotes_server(void **state)
{
    (void)state;
    static struct snap s;
    memset(&s, 0, sizeof(s));
    all(&s, IMAPS, RESULT_OK, NULL);
    all(&s, SUBM, RESULT_OK, NULL);
    all(&s, FLOW, RESULT_MAIL_REJECTED,
        "RCPT TO refused by mail.example.com: 552 5.2.2 <probe@example.com>: Mailbox full");
    run(&s);
    assert_int_equal(s.d.nfindings, 1);
    const struct analysis_finding *f = &s.d.findings[0];
    assert_int_equal(f->verdict, ANALYSIS_SERVICE);
    assert_int_equal(f->layer, RESULT_LAYER_DELIVERY);
    assert_int_equal(f->error, RESULT_MAIL_REJECTED);
    contains(f->summary, "refuses test mail (RCPT TO)");
    contains(f->summary, "the server said \"552 5.2.2 <probe@example.com>: Mailbox full\"");
    assert_true(list_has_text(&f->next_steps, "Mailbox full"));
    analysis_diagnosis_clear(&s.d);
}

/* From one computer only: the device question's, not the service's. */
static void test_one_computer_is_device(void **state)
{
    (void)state;
    static struct snap s;
    memset(&s, 0, sizeof(s));
    all(&s, IMAPS, RESULT_OK, NULL);
    all(&s, SUBM, RESULT_OK, NULL);
    for (size_t a = 0; a < 5; a++)
        add(&s, a, FLOW, a == 2 ? RESULT_TCP_TIMEOUT : RESULT_OK, NULL);
    run(&s);
    assert_int_equal(s.d.nfindings, 1);
    assert_int_equal(s.d.findings[0].verdict, ANALYSIS_DEVICE);
    assert_true(list_has(&s.d.findings[0].agents, "br1"));
    analysis_diagnosis_clear(&s.d);
}

/* From one network only: the network question's. */
static void test_one_network_is_network(void **state)
{
    (void)state;
    static struct snap s;
    memset(&s, 0, sizeof(s));
    all(&s, IMAPS, RESULT_OK, NULL);
    for (size_t a = 0; a < 5; a++)
        add(&s, a, FLOW, a == 2 || a == 3 ? RESULT_TCP_TIMEOUT : RESULT_OK, NULL);
    run(&s);
    assert_int_equal(s.d.nfindings, 1);
    assert_int_equal(s.d.findings[0].verdict, ANALYSIS_NETWORK);
    assert_true(list_has(&s.d.findings[0].networks, "branch"));
    analysis_diagnosis_clear(&s.d);
}

/* IMAPS refused everywhere: test mail cannot be read either. One problem,
 * one finding: the mailflow check joins the IMAPS finding, whatever
 * address (none here) its result names. */
static void test_joins_read_server(void **state)
{
    (void)state;
    static struct snap s;
    memset(&s, 0, sizeof(s));
    all(&s, IMAPS, RESULT_TCP_REFUSED, NULL);
    all(&s, SUBM, RESULT_OK, NULL);
    all(&s, WEB, RESULT_OK, NULL);
    all(&s, FLOW, RESULT_PROTO_TIMEOUT, "reading the mailbox: no answer");
    for (size_t i = 0; i < s.n; i++)
        if (strcmp(s.st[i].check, FLOW) != 0)
            s.st[i].address = "192.0.2.10";
    run(&s);
    assert_int_equal(s.d.nfindings, 1);
    const struct analysis_finding *f = &s.d.findings[0];
    assert_int_equal(f->verdict, ANALYSIS_SERVICE);
    assert_int_equal(f->error, RESULT_TCP_REFUSED);
    assert_true(list_has(&f->checks, IMAPS));
    assert_true(list_has(&f->checks, FLOW));
    analysis_diagnosis_clear(&s.d);
}

/* The login refused everywhere: test mail joins the credentials finding. */
static void test_joins_credentials(void **state)
{
    (void)state;
    static struct snap s;
    memset(&s, 0, sizeof(s));
    all(&s, IMAPS, RESULT_AUTH_FAILED, NULL);
    all(&s, SUBM, RESULT_AUTH_FAILED, NULL);
    all(&s, FLOW, RESULT_AUTH_FAILED, NULL);
    for (size_t i = 0; i < s.n; i++)
        if (strcmp(s.st[i].check, FLOW) == 0)
            s.st[i].address = "192.0.2.99"; /* not the servers': no shared host */
    run(&s);
    assert_int_equal(s.d.nfindings, 1);
    assert_int_equal(s.d.findings[0].verdict, ANALYSIS_CREDENTIALS);
    assert_true(list_has(&s.d.findings[0].checks, FLOW));
    analysis_diagnosis_clear(&s.d);
}

/* Test mail not delivered while IMAPS fails from one computer: two
 * problems, two findings (delivery is not folded into a device). */
static void test_delivery_not_folded(void **state)
{
    (void)state;
    static struct snap s;
    memset(&s, 0, sizeof(s));
    for (size_t a = 0; a < 5; a++)
        add(&s, a, IMAPS, a == 2 ? RESULT_TCP_TIMEOUT : RESULT_OK, NULL);
    all(&s, FLOW, RESULT_MAIL_NOT_DELIVERED, NULL);
    run(&s);
    assert_int_equal(s.d.nfindings, 2);
    assert_int_equal(s.d.findings[0].verdict, ANALYSIS_SERVICE);
    assert_int_equal(s.d.findings[0].layer, RESULT_LAYER_DELIVERY);
    assert_int_equal(s.d.findings[1].verdict, ANALYSIS_DEVICE);
    analysis_diagnosis_clear(&s.d);
}

/* Test mail runs every few minutes: a mailflow state ten minutes old is
 * stale for the target's 3-minute window but fresh within the mailflow
 * window, and still counts. */
static void test_mailflow_staleness(void **state)
{
    (void)state;
    static struct snap s;
    memset(&s, 0, sizeof(s));
    all(&s, IMAPS, RESULT_OK, NULL);
    all(&s, FLOW, RESULT_MAIL_NOT_DELIVERED, NULL);
    for (size_t i = 0; i < s.n; i++)
        if (strcmp(s.st[i].check, FLOW) == 0)
            s.st[i].at_us = NOW - 10 * MIN;
    run(&s);
    assert_int_equal(s.d.nfindings, 0);
    analysis_diagnosis_clear(&s.d);
    s.in.mailflow_stale_us = 17 * MIN;
    char err[128];
    assert_int_equal(analysis_diagnose(&s.in, &s.d, err, sizeof(err)), 0);
    assert_int_equal(s.d.nfindings, 1);
    assert_int_equal(s.d.findings[0].layer, RESULT_LAYER_DELIVERY);
    analysis_diagnosis_clear(&s.d);
}

/* Test mail in Junk from every agent: one warning (status warning), a
 * service finding of layer delivery, never a problem. */
static void test_junk_is_warning(void **state)
{
    (void)state;
    static struct snap s;
    memset(&s, 0, sizeof(s));
    all(&s, IMAPS, RESULT_OK, NULL);
    all(&s, FLOW, RESULT_MAIL_IN_JUNK,
        "the test message was delivered to the Junk folder \"Junk\" of probe@example.com");
    run(&s);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_WARNING);
    assert_int_equal(s.d.nfindings, 1);
    const struct analysis_finding *f = &s.d.findings[0];
    assert_int_equal(f->severity, ANALYSIS_SEVERITY_WARNING);
    assert_int_equal(f->verdict, ANALYSIS_SERVICE);
    assert_int_equal(f->layer, RESULT_LAYER_DELIVERY);
    assert_int_equal(f->error, RESULT_MAIL_IN_JUNK);
    assert_int_equal(f->agents.n, 5);
    contains(f->summary, "delivered into Junk");
    assert_true(list_has_text(&f->evidence, "delivered to the Junk folder"));
    assert_true(list_has_text(&f->next_steps, "SPF"));
    analysis_diagnosis_clear(&s.d);
}

/* Slower than delivery_warn: a delivery_slow warning naming the agents
 * that saw it and the delay; at or under it, nothing. */
static void test_delivery_slow(void **state)
{
    (void)state;
    static struct snap s;
    memset(&s, 0, sizeof(s));
    all(&s, IMAPS, RESULT_OK, NULL);
    all(&s, FLOW, RESULT_OK, NULL);
    for (size_t i = 0; i < s.n; i++)
        if (strcmp(s.st[i].check, FLOW) == 0)
            s.st[i].delivery_us = strcmp(s.st[i].agent, "br1") == 0 ? 95000000 : 3000000;
    run(&s);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_OK); /* no delivery_warn: no warning */
    analysis_diagnosis_clear(&s.d);
    s.in.delivery_warn_us = 60000000;
    char err[128];
    assert_int_equal(analysis_diagnose(&s.in, &s.d, err, sizeof(err)), 0);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_WARNING);
    assert_int_equal(s.d.nfindings, 1);
    const struct analysis_finding *f = &s.d.findings[0];
    assert_int_equal(f->severity, ANALYSIS_SEVERITY_WARNING);
    assert_int_equal(f->verdict, ANALYSIS_SERVICE);
    assert_int_equal(f->layer, RESULT_LAYER_DELIVERY);
    assert_int_equal(f->error, RESULT_DELIVERY_SLOW);
    assert_int_equal(f->agents.n, 1);
    assert_string_equal(f->agents.v[0], "br1");
    contains(f->summary, "took 95.0 s to arrive");
    contains(f->summary, "delivery_warn (60 s)");
    assert_true(list_has_text(&f->evidence, "br1: test mail took 95.0 s"));
    analysis_diagnosis_clear(&s.d);
}

/* Late on a network whose line fails other checks: the network's
 * finding alone, no delivery_slow (lab.test_warnings, 25% loss). */
static void test_delivery_slow_on_failing_network(void **state)
{
    (void)state;
    static struct snap s;
    memset(&s, 0, sizeof(s));
    for (size_t a = 0; a < 5; a++)
        add(&s, a, IMAPS, a == 2 ? RESULT_PROTO_TIMEOUT : RESULT_OK, NULL);
    all(&s, FLOW, RESULT_OK, NULL);
    for (size_t i = 0; i < s.n; i++)
        if (strcmp(s.st[i].check, FLOW) == 0)
            s.st[i].delivery_us = strcmp(s.st[i].agent, "br2") == 0 ? 95000000 : 3000000;
    run(&s);
    analysis_diagnosis_clear(&s.d);
    s.in.delivery_warn_us = 60000000;
    char err[128];
    assert_int_equal(analysis_diagnose(&s.in, &s.d, err, sizeof(err)), 0);
    for (size_t k = 0; k < s.d.nfindings; k++)
        assert_int_not_equal(s.d.findings[k].error, RESULT_DELIVERY_SLOW);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_PROBLEM);
    analysis_diagnosis_clear(&s.d);
}

/* A problem and a warning at once: status problem, the problem first. */
static void test_problem_and_junk(void **state)
{
    (void)state;
    static struct snap s;
    memset(&s, 0, sizeof(s));
    all(&s, SUBM, RESULT_OK, NULL);
    for (size_t a = 0; a < 5; a++)
        add(&s, a, IMAPS, a == 2 ? RESULT_TCP_TIMEOUT : RESULT_OK, NULL);
    for (size_t a = 0; a < 5; a++)
        add(&s, a, FLOW, a == 2 ? RESULT_OK : RESULT_MAIL_IN_JUNK, NULL);
    run(&s);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_PROBLEM);
    assert_int_equal(s.d.nfindings, 2);
    assert_int_equal(s.d.findings[0].severity, ANALYSIS_SEVERITY_PROBLEM);
    assert_int_equal(s.d.findings[0].verdict, ANALYSIS_DEVICE);
    assert_int_equal(s.d.findings[1].error, RESULT_MAIL_IN_JUNK);
    analysis_diagnosis_clear(&s.d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_delivered_everywhere),
        cmocka_unit_test(test_rejected_quotes_server),
        cmocka_unit_test(test_one_computer_is_device),
        cmocka_unit_test(test_one_network_is_network),
        cmocka_unit_test(test_joins_read_server),
        cmocka_unit_test(test_joins_credentials),
        cmocka_unit_test(test_delivery_not_folded),
        cmocka_unit_test(test_mailflow_staleness),
        cmocka_unit_test(test_junk_is_warning),
        cmocka_unit_test(test_delivery_slow),
        cmocka_unit_test(test_delivery_slow_on_failing_network),
        cmocka_unit_test(test_problem_and_junk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
