/*
 * Unit tests of collector/analysis/registration.c (and the autoconfig
 * side of client_config.c): the domain's registration and what mail
 * clients are told, diagnosed from synthetic snapshots shaped like the
 * lab's offices (hq: hq1 hq2, branch: br1 br2, home: home1), with the
 * rdap:// check on three agents of three networks as the collector
 * assigns it.
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
#define DAY        86400LL
#define STATES_MAX 64

#define IMAPS "imaps://mail.example.com"
#define WEB   "https://webmail.example.com/"
#define MX    "dns://example.com/MX"
#define HOSTA "dns://mail.example.com/A"
#define RDAP  "rdap://example.com"
#define AUTO  "autoconfig://example.com"

struct snap {
    struct analysis_state st[STATES_MAX];
    size_t n;
    struct analysis_change ch[4];
    size_t nch;
    struct analysis_input in;
    struct analysis_diagnosis d;
};

static const char *const agents[] = {"hq1", "hq2", "br1", "br2", "home1"};
static const char *const nets[] = {"hq", "hq", "branch", "branch", "home"};
/* The agents the collector gave rdap:// (one per network). */
static const size_t rdap_agents[] = {0, 2, 4};

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

/* rdap:// on the three assigned agents, read an hour ago (it runs every
 * rdap_interval, much longer than the target's interval). */
static void rdap(struct snap *s, enum result_error e, int64_t expires, const char *status)
{
    for (size_t i = 0; i < 3; i++) {
        struct analysis_state *st = add(s, rdap_agents[i], RDAP, e, "registrar Example Registrar");
        st->at_us = NOW - 60 * MIN;
        st->reg_expires = expires;
        st->reg_registrar = "Example Registrar, Inc.";
        st->reg_status = status;
    }
}

static void run(struct snap *s, int domain_warn_days)
{
    s->in = (struct analysis_input){
        .target = "corp",
        .domain = "example.com",
        .now_us = NOW,
        .stale_us = 3 * MIN,
        .rdap_stale_us = 3 * 360 * MIN,
        .domain_warn_days = domain_warn_days,
        .states = s->st,
        .nstates = s->n,
        .changes = s->ch,
        .nchanges = s->nch,
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

static void contains(const char *text, const char *needle)
{
    if (text == NULL || strstr(text, needle) == NULL)
        fail_msg("'%s' does not contain '%s'", text ? text : "(null)", needle);
}

/* The registry put the domain on hold and the zone is gone: one dns
 * finding of layer registration that names the hold, the registrar and
 * the expiry, and sends the owner to the registrar. */
static void test_hold_names_the_registrar(void **state)
{
    (void)state;
    static struct snap s;
    memset(&s, 0, sizeof(s));
    all(&s, MX, RESULT_DNS_SERVFAIL, NULL);
    all(&s, HOSTA, RESULT_DNS_SERVFAIL, NULL);
    all(&s, IMAPS, RESULT_DNS_SERVFAIL, NULL);
    rdap(&s, RESULT_REGISTRATION_HOLD, NOW / 1000000 + 200 * DAY, "client hold");
    run(&s, 0);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_PROBLEM);
    assert_int_equal(s.d.nfindings, 1);
    const struct analysis_finding *f = &s.d.findings[0];
    assert_int_equal(f->severity, ANALYSIS_SEVERITY_PROBLEM);
    assert_int_equal(f->verdict, ANALYSIS_DNS);
    assert_int_equal(f->layer, RESULT_LAYER_REGISTRATION);
    assert_int_equal(f->error, RESULT_REGISTRATION_HOLD);
    contains(f->summary, "on hold");
    contains(f->summary, "client hold");
    contains(f->summary, "Example Registrar, Inc.");
    contains(f->summary, "no longer resolve");
    assert_true(list_has_text(&f->next_steps, "Call Example Registrar, Inc."));
    assert_true(list_has_text(&f->evidence, "200 days left"));
    analysis_diagnosis_clear(&s.d);
}

/* Expired, while DNS still answers (the registry's grace period): a dns
 * finding of layer registration on its own; everything else works. */
static void test_expired_while_dns_answers(void **state)
{
    (void)state;
    static struct snap s;
    memset(&s, 0, sizeof(s));
    all(&s, MX, RESULT_OK, NULL);
    all(&s, IMAPS, RESULT_OK, NULL);
    rdap(&s, RESULT_REGISTRATION_EXPIRED, NOW / 1000000 - 3 * DAY, "auto renew period");
    run(&s, 0);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_PROBLEM);
    assert_int_equal(s.d.nfindings, 1);
    const struct analysis_finding *f = &s.d.findings[0];
    assert_int_equal(f->verdict, ANALYSIS_DNS);
    assert_int_equal(f->layer, RESULT_LAYER_REGISTRATION);
    assert_int_equal(f->error, RESULT_REGISTRATION_EXPIRED);
    contains(f->summary, "expired on");
    contains(f->summary, "3 days ago");
    contains(f->summary, "DNS still answers");
    assert_true(list_has_text(&f->next_steps, "Renew example.com with Example Registrar"));
    analysis_diagnosis_clear(&s.d);
}

/* Expiring in 10 days: every check passes; a warning (status warning,
 * so diagnose exits 0) of verdict dns, layer registration. With
 * domain_warn_days at 5 there is none; at -1 (0 in collector.conf)
 * never. */
static void test_expiring_is_a_warning(void **state)
{
    (void)state;
    static struct snap s;
    memset(&s, 0, sizeof(s));
    all(&s, MX, RESULT_OK, NULL);
    all(&s, IMAPS, RESULT_OK, NULL);
    rdap(&s, RESULT_OK, NOW / 1000000 + 10 * DAY + 3600, "client transfer prohibited");
    run(&s, 0);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_WARNING);
    assert_int_equal(s.d.nfindings, 1);
    const struct analysis_finding *f = &s.d.findings[0];
    assert_int_equal(f->severity, ANALYSIS_SEVERITY_WARNING);
    assert_int_equal(f->verdict, ANALYSIS_DNS);
    assert_int_equal(f->layer, RESULT_LAYER_REGISTRATION);
    assert_int_equal(f->error, RESULT_REGISTRATION_EXPIRING);
    contains(f->summary, "10 days left");
    contains(f->summary, "domain_warn_days (30)");
    assert_int_equal(f->agents.n, 3);
    /* It started when the registration entered the warning window. */
    assert_true(f->started_at_us < NOW);
    analysis_diagnosis_clear(&s.d);

    s.d = (struct analysis_diagnosis){0};
    run(&s, 5);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_OK);
    analysis_diagnosis_clear(&s.d);
    run(&s, -1);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_OK);
    analysis_diagnosis_clear(&s.d);
}

/* No agent reaches the registry: a warning, not a problem; one agent
 * that reads it is enough to say nothing. */
static void test_registry_unreachable(void **state)
{
    (void)state;
    static struct snap s;
    memset(&s, 0, sizeof(s));
    all(&s, IMAPS, RESULT_OK, NULL);
    rdap(&s, RESULT_TCP_TIMEOUT, 0, NULL);
    run(&s, 0);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_WARNING);
    assert_int_equal(s.d.nfindings, 1);
    assert_int_equal(s.d.findings[0].verdict, ANALYSIS_DNS);
    assert_int_equal(s.d.findings[0].layer, RESULT_LAYER_REGISTRATION);
    assert_int_equal(s.d.findings[0].error, RESULT_TCP_TIMEOUT);
    contains(s.d.findings[0].summary, "No agent can read the registration");
    analysis_diagnosis_clear(&s.d);

    s.st[s.n - 1].ok = true;
    s.st[s.n - 1].error = RESULT_OK;
    s.st[s.n - 1].layer = RESULT_LAYER_NONE;
    s.d = (struct analysis_diagnosis){0};
    run(&s, 0);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_OK);
    analysis_diagnosis_clear(&s.d);
}

/* An rdap state older than the target's staleness but within its own
 * (rdap_interval) still counts; beyond it, it does not. */
static void test_rdap_staleness(void **state)
{
    (void)state;
    static struct snap s;
    memset(&s, 0, sizeof(s));
    all(&s, IMAPS, RESULT_OK, NULL);
    rdap(&s, RESULT_REGISTRATION_HOLD, 0, "server hold");
    run(&s, 0);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_PROBLEM);
    analysis_diagnosis_clear(&s.d);
    for (size_t i = 0; i < s.n; i++)
        if (strcmp(s.st[i].check, RDAP) == 0)
            s.st[i].at_us = NOW - 2000 * MIN;
    s.d = (struct analysis_diagnosis){0};
    run(&s, 0);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_OK);
    analysis_diagnosis_clear(&s.d);
}

/* The mailbox moved, announced through autodiscover only: the configured
 * server refuses, autodiscover names newmail.example.com, whose check
 * (found through autoconfig) works. client_config saying who tells
 * Outlook what, since when. */
static void test_autodiscover_migration(void **state)
{
    (void)state;
    static struct snap s;
    memset(&s, 0, sizeof(s));
    /* DNS still names the old server: only autodiscover tells. */
    for (size_t a = 0; a < 5; a++)
        add(&s, a, MX, RESULT_OK, NULL)->answers = "10 mail.example.com.";
    all(&s, IMAPS, RESULT_TCP_REFUSED, "203.0.113.10 port 993: refused");
    for (size_t a = 0; a < 5; a++)
        add(&s, a, AUTO, RESULT_OK, NULL)->answers =
            "autodiscover imap newmail.example.com 993 ssl, autodiscover smtp "
            "newmail.example.com 587 starttls";
    for (size_t a = 0; a < 5; a++)
        add(&s, a, "imaps://newmail.example.com", RESULT_OK, NULL)->discovered = true;
    s.ch[0] = (struct analysis_change){.at_us = NOW - 12 * MIN,
                                       .agent = "hq1",
                                       .kind = "autoconfig_changed",
                                       .subject = "autoconfig example.com",
                                       .before = "autodiscover imap mail.example.com 993 ssl",
                                       .after = "autodiscover imap newmail.example.com 993 ssl"};
    s.nch = 1;
    run(&s, 0);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_PROBLEM);
    assert_int_equal(s.d.nfindings, 1);
    const struct analysis_finding *f = &s.d.findings[0];
    assert_int_equal(f->verdict, ANALYSIS_CLIENT_CONFIG);
    contains(f->summary, "autodiscover for example.com now tells Outlook to use "
                         "newmail.example.com:993");
    contains(f->summary, "since ");
    assert_true(list_has_text(&f->next_steps, "new profile"));
    assert_int_equal(f->nchanges, 1);
    analysis_diagnosis_clear(&s.d);
}

/* autoconfig advertises a server that refuses while the configured one
 * works: a client_config warning (layer autoconfig), not a problem. */
static void test_autoconfig_dead_server(void **state)
{
    (void)state;
    static struct snap s;
    memset(&s, 0, sizeof(s));
    all(&s, IMAPS, RESULT_OK, NULL);
    for (size_t a = 0; a < 5; a++)
        add(&s, a, MX, RESULT_OK, NULL)->answers = "10 mail.example.com.";
    for (size_t a = 0; a < 5; a++)
        add(&s, a, AUTO, RESULT_OK, NULL)->answers = "autoconfig imap dead.example.com 993 ssl";
    for (size_t a = 0; a < 5; a++)
        add(&s, a, "imaps://dead.example.com", RESULT_TCP_REFUSED, "refused")->discovered = true;
    run(&s, 0);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_WARNING);
    assert_int_equal(s.d.nfindings, 1);
    const struct analysis_finding *f = &s.d.findings[0];
    assert_int_equal(f->severity, ANALYSIS_SEVERITY_WARNING);
    assert_int_equal(f->verdict, ANALYSIS_CLIENT_CONFIG);
    assert_int_equal(f->layer, RESULT_LAYER_AUTOCONFIG);
    assert_int_equal(f->error, RESULT_TCP_REFUSED);
    contains(f->summary, "tells Thunderbird to use dead.example.com:993");
    analysis_diagnosis_clear(&s.d);
}

/* The registry read an hour ago through a slow office is no sample of
 * the slow rule: the warning dates from the results that measured the
 * slowness, not from the last read of the registry. */
static void test_rdap_no_slow_sample(void **state)
{
    (void)state;
    static struct snap s;
    memset(&s, 0, sizeof(s));
    static const char *const checks[] = {IMAPS, WEB, "submission://mail.example.com"};
    for (size_t c = 0; c < 3; c++)
        for (size_t a = 0; a < 5; a++)
            add(&s, a, checks[c], RESULT_OK, NULL)->total_us = (a == 2 || a == 3) ? 900000 : 40000;
    rdap(&s, RESULT_OK, NOW / 1000000 + 300 * DAY, "client transfer prohibited");
    for (size_t i = 0; i < s.n; i++)
        s.st[i].total_us = strcmp(s.st[i].check, RDAP) == 0 ? 900000 : s.st[i].total_us;
    run(&s, 0);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_WARNING);
    assert_int_equal(s.d.nfindings, 1);
    const struct analysis_finding *f = &s.d.findings[0];
    assert_int_equal(f->error, RESULT_SLOW);
    assert_int_equal(f->started_at_us, NOW - MIN / 2);
    for (size_t i = 0; i < f->checks.n; i++)
        assert_string_not_equal(f->checks.v[i], RDAP);
    analysis_diagnosis_clear(&s.d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hold_names_the_registrar),
        cmocka_unit_test(test_expired_while_dns_answers),
        cmocka_unit_test(test_expiring_is_a_warning),
        cmocka_unit_test(test_registry_unreachable),
        cmocka_unit_test(test_rdap_staleness),
        cmocka_unit_test(test_autodiscover_migration),
        cmocka_unit_test(test_autoconfig_dead_server),
        cmocka_unit_test(test_rdap_no_slow_sample),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
