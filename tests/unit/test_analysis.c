/*
 * Unit tests of collector/analysis/ (analysis.h): verdicts from synthetic snapshots
 * shaped like the lab's offices (hq: hq1 hq2, branch: br1 br2, home:
 * home1), plus ties, sparse data, staleness and flapping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "analysis.h"
#include "changes.h"

#define NOW        (1800000000LL * 1000000)
#define MIN        (60LL * 1000000)
#define STATES_MAX 128

#define IMAPS "imaps://mail.example.com"
#define SUBM  "submission://mail.example.com"
#define POP3S "pop3s://mail.example.com"
#define WEB   "https://webmail.example.com/"
#define MX    "dns://example.com/MX"

struct snap {
    struct analysis_state st[STATES_MAX];
    size_t n;
    struct analysis_change ch[16];
    size_t nch;
    struct analysis_input in;
    struct analysis_diagnosis d;
};

static const char *const office_agents[] = {"hq1", "hq2", "br1", "br2", "home1"};
static const char *const office_nets[] = {"hq", "hq", "branch", "branch", "home"};

/* Adds a fresh state; failing ones started failing at since. */
static struct analysis_state *add(struct snap *s, const char *agent, const char *net,
                                  const char *check, enum result_error e)
{
    assert_true(s->n < STATES_MAX);
    struct analysis_state *st = &s->st[s->n++];
    bool ok = e == RESULT_OK;
    *st = (struct analysis_state){
        .agent = agent,
        .network = net,
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
    };
    return st;
}

/* Every office agent gets check with error e, except where overridden. */
static void all(struct snap *s, const char *check, enum result_error e)
{
    for (size_t i = 0; i < 5; i++)
        add(s, office_agents[i], office_nets[i], check, e);
}

static struct analysis_state *find(struct snap *s, const char *agent, const char *check)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->st[i].agent, agent) == 0 && strcmp(s->st[i].check, check) == 0)
            return &s->st[i];
    fail_msg("no state %s %s", agent, check);
    return NULL;
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
        .changes = s->ch,
        .nchanges = s->nch,
    };
    char err[128];
    assert_int_equal(analysis_diagnose(&s->in, &s->d, err, sizeof(err)), 0);
}

/* Diagnoses s->in as the test set it. */
static void run_in(struct snap *s)
{
    char err[128];
    assert_int_equal(analysis_diagnose(&s->in, &s->d, err, sizeof(err)), 0);
}

static void done(struct snap *s)
{
    analysis_diagnosis_clear(&s->d);
    assert_null(s->d.findings);
}

static void assert_list(const struct analysis_list *l, const char *csv)
{
    char got[512] = "";
    for (size_t i = 0; i < l->n; i++) {
        strcat(got, i ? "," : "");
        strcat(got, l->v[i]);
    }
    assert_string_equal(got, csv);
}

static void healthy_office(struct snap *s)
{
    all(s, IMAPS, RESULT_OK);
    all(s, SUBM, RESULT_OK);
    all(s, WEB, RESULT_OK);
    all(s, MX, RESULT_OK);
}

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

static void fail_state(struct analysis_state *st, enum result_error e)
{
    st->ok = false;
    st->layer = st->fail_layer = result_error_layer(e);
    st->error = st->fail_error = e;
    st->episode_us = st->since_us;
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

static void test_service(void **state)
{
    (void)state;
    struct snap s = {0};
    healthy_office(&s);
    all(&s, POP3S, RESULT_TCP_REFUSED);
    for (size_t i = 0; i < 5; i++)
        fail_state(find(&s, office_agents[i], IMAPS), RESULT_TCP_REFUSED);
    run(&s);
    assert_int_equal(s.d.nfindings, 1);
    const struct analysis_finding *f = &s.d.findings[0];
    assert_int_equal(f->verdict, ANALYSIS_SERVICE);
    assert_int_equal(f->layer, RESULT_LAYER_TCP);
    assert_list(&f->checks, IMAPS "," POP3S);
    assert_list(&f->networks, "branch,home,hq");
    assert_int_equal(f->healthy_agents.n, 0);
    done(&s);
}

static void test_service_tls_and_cert_change(void **state)
{
    (void)state;
    struct snap s = {0};
    healthy_office(&s);
    /* mail and webmail are one machine: one finding. */
    for (size_t i = 0; i < 5; i++) {
        fail_state(find(&s, office_agents[i], IMAPS), RESULT_TLS_CERT_EXPIRED);
        fail_state(find(&s, office_agents[i], WEB), RESULT_TLS_CERT_EXPIRED);
        find(&s, office_agents[i], IMAPS)->address = "203.0.113.10";
        find(&s, office_agents[i], WEB)->address = "203.0.113.10";
    }
    /* The same certificate change seen by two agents is listed once; one
     * three hours before the start is not correlated. */
    s.ch[s.nch++] = (struct analysis_change){NOW - 200 * MIN,    "hq1", CHANGES_CERT,
                                             "mail.example.com", "aa",  "bb"};
    /* webmail's address moved and moved back an hour ago: not listed. */
    s.ch[s.nch++] = (struct analysis_change){NOW - 70 * MIN,        "hq1",          CHANGES_ADDRESS,
                                             "webmail.example.com", "203.0.113.10", "203.0.113.20"};
    s.ch[s.nch++] = (struct analysis_change){NOW - 60 * MIN,        "hq1",          CHANGES_ADDRESS,
                                             "webmail.example.com", "203.0.113.20", "203.0.113.10"};
    s.ch[s.nch++] = (struct analysis_change){NOW - 11 * MIN,     "hq1", CHANGES_CERT,
                                             "mail.example.com", "bb",  "cc"};
    s.ch[s.nch++] = (struct analysis_change){NOW - 10 * MIN,     "br1", CHANGES_CERT,
                                             "mail.example.com", "bb",  "cc"};
    run(&s);
    assert_int_equal(s.d.nfindings, 1);
    const struct analysis_finding *f = &s.d.findings[0];
    assert_int_equal(f->verdict, ANALYSIS_SERVICE);
    assert_int_equal(f->layer, RESULT_LAYER_TLS);
    assert_int_equal(f->error, RESULT_TLS_CERT_EXPIRED);
    assert_int_equal(f->nchanges, 1);
    assert_int_equal(f->changes[0], 3);
    done(&s);
}

/* A change undone before the failure began explains nothing; one that was
 * undone and then made again does. */
static void test_undone_changes_not_correlated(void **state)
{
    (void)state;
    struct snap s = {0};
    healthy_office(&s);
    for (size_t i = 0; i < 5; i++)
        fail_state(find(&s, office_agents[i], IMAPS), RESULT_TCP_REFUSED);
    /* A certificate swapped and swapped back (seen by two agents). */
    s.ch[s.nch++] = (struct analysis_change){NOW - 50 * MIN,     "hq1", CHANGES_CERT,
                                             "mail.example.com", "aa",  "bb"};
    s.ch[s.nch++] = (struct analysis_change){NOW - 49 * MIN,     "br1", CHANGES_CERT,
                                             "mail.example.com", "aa",  "bb"};
    s.ch[s.nch++] = (struct analysis_change){NOW - 40 * MIN,     "hq1", CHANGES_CERT,
                                             "mail.example.com", "bb",  "aa"};
    s.ch[s.nch++] = (struct analysis_change){NOW - 39 * MIN,     "br1", CHANGES_CERT,
                                             "mail.example.com", "bb",  "aa"};
    /* MX: moved, moved back, moved again: it points elsewhere now. */
    s.ch[s.nch++] = (struct analysis_change){NOW - 30 * MIN,   "hq1",     CHANGES_DNS_ANSWER,
                                             "MX example.com", "10 mail", "10 newmail"};
    s.ch[s.nch++] = (struct analysis_change){NOW - 25 * MIN,   "hq1",        CHANGES_DNS_ANSWER,
                                             "MX example.com", "10 newmail", "10 mail"};
    s.ch[s.nch++] = (struct analysis_change){NOW - 20 * MIN,   "hq1",     CHANGES_DNS_ANSWER,
                                             "MX example.com", "10 mail", "10 newmail"};
    run(&s);
    assert_int_equal(s.d.nfindings, 1);
    const struct analysis_finding *f = &s.d.findings[0];
    assert_int_equal(f->verdict, ANALYSIS_SERVICE);
    /* The MX changes are listed (once each), the certificate's are not. */
    assert_int_equal(f->nchanges, 2);
    for (size_t i = 0; i < f->nchanges; i++)
        assert_string_equal(s.ch[f->changes[i]].kind, CHANGES_DNS_ANSWER);
    done(&s);
}

/* dovecot stopped: IMAP and POP refuse connections, and SMTP AUTH (SASL
 * through dovecot) is gone or fails at the same time: one service
 * finding. Two servers down are two findings. */
static void test_service_outage_with_auth(void **state)
{
    (void)state;
    struct snap s = {0};
    healthy_office(&s);
    all(&s, POP3S, RESULT_TCP_REFUSED);
    for (size_t i = 0; i < 5; i++) {
        fail_state(find(&s, office_agents[i], IMAPS), RESULT_TCP_REFUSED);
        fail_state(find(&s, office_agents[i], SUBM),
                   i < 3 ? RESULT_AUTH_UNSUPPORTED : RESULT_AUTH_FAILED);
    }
    run(&s);
    assert_int_equal(s.d.nfindings, 1);
    assert_int_equal(s.d.findings[0].verdict, ANALYSIS_SERVICE);
    assert_int_equal(s.d.findings[0].layer, RESULT_LAYER_TCP);
    assert_int_equal(s.d.findings[0].error, RESULT_TCP_REFUSED);
    assert_list(&s.d.findings[0].checks, IMAPS "," POP3S "," SUBM);
    done(&s);

    /* A password change an hour after an unrelated outage stays apart. */
    for (size_t i = 0; i < 5; i++) {
        struct analysis_state *st = find(&s, office_agents[i], SUBM);
        fail_state(st, RESULT_AUTH_FAILED);
        st->since_us = st->episode_us = NOW - 5 * MIN;
        st = find(&s, office_agents[i], IMAPS);
        st->since_us = st->episode_us = NOW - 70 * MIN;
        st = find(&s, office_agents[i], POP3S);
        st->since_us = st->episode_us = NOW - 70 * MIN;
    }
    run(&s);
    assert_int_equal(s.d.nfindings, 2);
    assert_int_equal(s.d.findings[0].verdict, ANALYSIS_SERVICE);
    assert_int_equal(s.d.findings[1].verdict, ANALYSIS_CREDENTIALS);
    assert_list(&s.d.findings[1].checks, SUBM);
    done(&s);

    struct snap t = {0};
    all(&t, IMAPS, RESULT_TCP_REFUSED);
    all(&t, "imaps://other.example.net", RESULT_TCP_TIMEOUT);
    all(&t, WEB, RESULT_OK);
    run(&t);
    assert_int_equal(t.d.nfindings, 2);
    assert_int_equal(t.d.findings[0].verdict, ANALYSIS_SERVICE);
    assert_int_equal(t.d.findings[1].verdict, ANALYSIS_SERVICE);
    done(&t);
}

static void test_credentials(void **state)
{
    (void)state;
    struct snap s = {0};
    healthy_office(&s);
    for (size_t i = 0; i < 5; i++) {
        fail_state(find(&s, office_agents[i], IMAPS), RESULT_AUTH_FAILED);
        fail_state(find(&s, office_agents[i], SUBM), RESULT_AUTH_FAILED);
    }
    run(&s);
    assert_int_equal(s.d.nfindings, 1);
    assert_int_equal(s.d.findings[0].verdict, ANALYSIS_CREDENTIALS);
    assert_int_equal(s.d.findings[0].layer, RESULT_LAYER_AUTH);
    assert_list(&s.d.findings[0].healthy_agents, "");
    done(&s);

    /* Sparse: one agent on one network is enough for a refused login. */
    struct snap t = {0};
    fail_state(add(&t, "solo", "home", IMAPS, RESULT_OK), RESULT_AUTH_FAILED);
    run(&t);
    assert_int_equal(t.d.nfindings, 1);
    assert_int_equal(t.d.findings[0].verdict, ANALYSIS_CREDENTIALS);
    done(&t);
}

static void test_client_config(void **state)
{
    (void)state;
    struct snap s = {0};
    healthy_office(&s);
    all(&s, "imaps://newmail.example.com", RESULT_OK);
    all(&s, "submission://newmail.example.com", RESULT_OK);
    for (size_t i = s.n - 10; i < s.n; i++)
        s.st[i].discovered = true;
    for (size_t i = 0; i < 5; i++) {
        fail_state(find(&s, office_agents[i], IMAPS), RESULT_TCP_RESET);
        fail_state(find(&s, office_agents[i], SUBM), RESULT_TCP_RESET);
    }
    /* The DNS change is seen a minute after the first failure. */
    s.ch[s.nch++] = (struct analysis_change){NOW - 9 * MIN,         "hq1",
                                             CHANGES_DNS_ANSWER,    "MX example.com",
                                             "10 mail.example.com", "10 newmail.example.com"};
    s.ch[s.nch++] = (struct analysis_change){NOW - 9 * MIN,         "br2",
                                             CHANGES_DNS_ANSWER,    "MX example.com",
                                             "10 mail.example.com", "10 newmail.example.com"};
    run(&s);
    assert_int_equal(s.d.nfindings, 1);
    const struct analysis_finding *f = &s.d.findings[0];
    assert_int_equal(f->verdict, ANALYSIS_CLIENT_CONFIG);
    assert_list(&f->checks, IMAPS "," SUBM);
    assert_int_equal(f->nchanges, 1);
    assert_string_equal(s.ch[f->changes[0]].kind, CHANGES_DNS_ANSWER);
    assert_non_null(strstr(f->summary, "newmail.example.com"));
    done(&s);

    /* Without a working discovered server it is the service. */
    struct snap t = {0};
    healthy_office(&t);
    for (size_t i = 0; i < 5; i++)
        fail_state(find(&t, office_agents[i], IMAPS), RESULT_TCP_RESET);
    all(&t, "imaps://newmail.example.com", RESULT_TCP_RESET);
    run(&t);
    assert_int_equal(t.d.nfindings, 2); /* two servers down */
    assert_int_equal(t.d.findings[0].verdict, ANALYSIS_SERVICE);
    assert_int_equal(t.d.findings[1].verdict, ANALYSIS_SERVICE);
    done(&t);
}

/* Every office agent probed a discovered check, passing, found when DNS
 * named its host; at is the time of its latest result. */
static void discovered_ok(struct snap *s, const char *check, int64_t at)
{
    for (size_t i = 0; i < 5; i++) {
        struct analysis_state *st = add(s, office_agents[i], office_nets[i], check, RESULT_OK);
        st->discovered = true;
        st->at_us = at;
    }
}

/* Every office agent's state of a dns:// check gets these last answers. */
static void set_answers(struct snap *s, const char *check, const char *answers)
{
    for (size_t i = 0; i < 5; i++)
        find(s, office_agents[i], check)->answers = answers;
}

/* A discovered server is "where DNS points now" only when fresh answers
 * name it (or its own lookup answers). */
static void test_client_config_needs_fresh_answers(void **state)
{
    (void)state;
    /* The domain's DNS is down for everyone. newmail's imaps check still
     * passes from before (inside the staleness window), but the last
     * answers name mail.example.com: the DNS, not a migration. */
    struct snap s = {0};
    all(&s, IMAPS, RESULT_DNS_SERVFAIL);
    all(&s, MX, RESULT_DNS_SERVFAIL);
    all(&s, "dns://mail.example.com/A", RESULT_DNS_SERVFAIL);
    all(&s, "dns://_imaps._tcp.example.com/SRV", RESULT_DNS_SERVFAIL);
    set_answers(&s, MX, "10 mail.example.com.");
    set_answers(&s, "dns://mail.example.com/A", "203.0.113.10");
    set_answers(&s, "dns://_imaps._tcp.example.com/SRV", "0 1 993 mail.example.com.");
    discovered_ok(&s, "imaps://newmail.example.com", NOW - 2 * MIN);
    run(&s);
    assert_int_equal(s.d.nfindings, 1);
    const struct analysis_finding *f = &s.d.findings[0];
    assert_int_equal(f->verdict, ANALYSIS_DNS);
    assert_int_equal(f->layer, RESULT_LAYER_DNS);
    assert_int_equal(f->error, RESULT_DNS_SERVFAIL);
    assert_list(&f->checks, "dns://_imaps._tcp.example.com/SRV,dns://example.com/MX,"
                            "dns://mail.example.com/A," IMAPS);
    done(&s);

    /* Fresh MX and SRV answers name newmail, whose discovered checks
     * pass, while the configured server fails everywhere: a migration. */
    struct snap t = {0};
    healthy_office(&t);
    all(&t, "dns://_imaps._tcp.example.com/SRV", RESULT_OK);
    set_answers(&t, MX, "10 newmail.example.com.");
    set_answers(&t, "dns://_imaps._tcp.example.com/SRV", "0 1 993 newmail.example.com.");
    discovered_ok(&t, "imaps://newmail.example.com", NOW - MIN / 2);
    discovered_ok(&t, "submission://newmail.example.com", NOW - MIN / 2);
    for (size_t i = 0; i < 5; i++) {
        fail_state(find(&t, office_agents[i], IMAPS), RESULT_TCP_RESET);
        fail_state(find(&t, office_agents[i], SUBM), RESULT_TCP_RESET);
    }
    run(&t);
    assert_int_equal(t.d.nfindings, 1);
    assert_int_equal(t.d.findings[0].verdict, ANALYSIS_CLIENT_CONFIG);
    assert_list(&t.d.findings[0].checks, IMAPS "," SUBM);
    assert_non_null(strstr(t.d.findings[0].summary, "newmail.example.com"));
    done(&t);

    /* The same outage after the DNS pointed back to mail.example.com:
     * newmail is no longer where the domain points, so it is the service. */
    set_answers(&t, MX, "10 mail.example.com.");
    set_answers(&t, "dns://_imaps._tcp.example.com/SRV", "0 1 993 mail.example.com.");
    run(&t);
    assert_int_equal(t.d.nfindings, 1);
    assert_int_equal(t.d.findings[0].verdict, ANALYSIS_SERVICE);
    assert_list(&t.d.findings[0].checks, IMAPS "," SUBM);
    done(&t);

    /* A lookup that answers points to its own name: webmail fails, the
     * autodiscover name the domain publishes resolves and its discovered
     * check works. */
    struct snap u = {0};
    healthy_office(&u);
    set_answers(&u, MX, "10 mail.example.com.");
    all(&u, "dns://autodiscover.example.com/A", RESULT_OK);
    set_answers(&u, "dns://autodiscover.example.com/A", "203.0.113.20");
    discovered_ok(&u, "https://autodiscover.example.com/", NOW - MIN / 2);
    for (size_t i = 0; i < 5; i++)
        fail_state(find(&u, office_agents[i], WEB), RESULT_TCP_REFUSED);
    run(&u);
    assert_int_equal(u.d.nfindings, 1);
    assert_int_equal(u.d.findings[0].verdict, ANALYSIS_CLIENT_CONFIG);
    assert_list(&u.d.findings[0].checks, WEB);
    done(&u);
}

/* One machine under three names is one service finding, even when the
 * lookups of those names (listed first, as the store sorts checks) pass. */
static void test_service_one_server_many_names(void **state)
{
    (void)state;
    const char *lookups[] = {"dns://mail.example.com/A", "dns://webmail.example.com/A",
                             "dns://autodiscover.example.com/A"};
    const char *checks[] = {IMAPS, WEB, "tls://autodiscover.example.com:443"};
    struct snap s = {0};
    for (size_t c = 0; c < 3; c++) {
        all(&s, lookups[c], RESULT_OK);
        set_answers(&s, lookups[c], "203.0.113.10");
    }
    all(&s, MX, RESULT_OK);
    set_answers(&s, MX, "10 mail.example.com.");
    for (size_t c = 0; c < 3; c++) {
        all(&s, checks[c], RESULT_TLS_CERT_EXPIRED);
        for (size_t i = 0; i < 5; i++)
            find(&s, office_agents[i], checks[c])->address = "203.0.113.10";
    }
    run(&s);
    assert_int_equal(s.d.nfindings, 1);
    const struct analysis_finding *f = &s.d.findings[0];
    assert_int_equal(f->verdict, ANALYSIS_SERVICE);
    assert_int_equal(f->layer, RESULT_LAYER_TLS);
    assert_int_equal(f->error, RESULT_TLS_CERT_EXPIRED);
    assert_list(&f->checks, WEB "," IMAPS ",tls://autodiscover.example.com:443");
    assert_list(&f->networks, "branch,home,hq");
    assert_list(&f->agents, "br1,br2,home1,hq1,hq2");
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

/* The finding of f's checks that contains check, or fails. */
static const struct analysis_finding *finding_of(const struct snap *s, const char *check)
{
    for (size_t i = 0; i < s->d.nfindings; i++)
        for (size_t k = 0; k < s->d.findings[i].checks.n; k++)
            if (strcmp(s->d.findings[i].checks.v[k], check) == 0)
                return &s->d.findings[i];
    fail_msg("no finding lists %s", check);
    return NULL;
}

/* Whether some next step of f contains every one of the words (NULL-ended)
 * and none of the words after the NULL (NULL-ended). */
static bool step_says(const struct analysis_finding *f, const char *const *yes,
                      const char *const *no)
{
    for (size_t i = 0; i < f->next_steps.n; i++) {
        bool ok = true;
        for (size_t w = 0; yes[w] != NULL && ok; w++)
            ok = strstr(f->next_steps.v[i], yes[w]) != NULL;
        for (size_t w = 0; no[w] != NULL && ok; w++)
            ok = strstr(f->next_steps.v[i], no[w]) == NULL;
        if (ok)
            return true;
    }
    return false;
}

/* Issue 15: imap://H:1143 closing the dialog (the port answers) and
 * tcp://H:8025 refused are two problems of one host, each with its own
 * layer, error and port in the advice; not one "server down" asking
 * whether the server listens on 1143. */
static void test_mixed_failures_one_host(void **state)
{
    (void)state;
    struct snap s = {0};
    healthy_office(&s);
    all(&s, "imap://mail.example.com:1143", RESULT_PROTO_CLOSED);
    all(&s, "tcp://mail.example.com:8025", RESULT_TCP_REFUSED);
    run(&s);
    assert_int_equal(s.d.nfindings, 2);
    const struct analysis_finding *proto = finding_of(&s, "imap://mail.example.com:1143");
    const struct analysis_finding *tcp = finding_of(&s, "tcp://mail.example.com:8025");
    assert_ptr_not_equal(proto, tcp);
    assert_int_equal(proto->verdict, ANALYSIS_SERVICE);
    assert_int_equal(proto->layer, RESULT_LAYER_PROTOCOL);
    assert_int_equal(proto->error, RESULT_PROTO_CLOSED);
    assert_list(&proto->checks, "imap://mail.example.com:1143");
    assert_int_equal(tcp->verdict, ANALYSIS_SERVICE);
    assert_int_equal(tcp->layer, RESULT_LAYER_TCP);
    assert_int_equal(tcp->error, RESULT_TCP_REFUSED);
    assert_list(&tcp->checks, "tcp://mail.example.com:8025");
    /* Each next step names its own port and error, never the other's, and
     * the port that answers is not asked whether it listens. */
    assert_true(step_says(proto, (const char *[]){"port 1143", "proto_closed", NULL},
                          (const char *[]){NULL}));
    for (size_t i = 0; i < proto->next_steps.n; i++) {
        assert_null(strstr(proto->next_steps.v[i], "8025"));
        assert_null(strstr(proto->next_steps.v[i], "listening"));
        assert_null(strstr(proto->next_steps.v[i], "tcp_refused"));
    }
    assert_true(step_says(tcp, (const char *[]){"port 8025", "tcp_refused", "listening", NULL},
                          (const char *[]){"1143", NULL}));
    for (size_t i = 0; i < tcp->next_steps.n; i++)
        assert_null(strstr(tcp->next_steps.v[i], "1143"));
    done(&s);

    /* One port of the host passes, two others fail without an answer in
     * two ways: the host is up, and the two failures stay apart. */
    struct snap t = {0};
    healthy_office(&t);
    all(&t, POP3S, RESULT_TCP_REFUSED);
    all(&t, "tcp://mail.example.com:8025", RESULT_TCP_TIMEOUT);
    run(&t);
    assert_int_equal(t.d.nfindings, 2);
    const struct analysis_finding *pop = finding_of(&t, POP3S);
    const struct analysis_finding *to = finding_of(&t, "tcp://mail.example.com:8025");
    assert_ptr_not_equal(pop, to);
    assert_int_equal(pop->error, RESULT_TCP_REFUSED);
    assert_int_equal(to->error, RESULT_TCP_TIMEOUT);
    assert_true(step_says(pop, (const char *[]){"port 995 (tcp_refused)", NULL},
                          (const char *[]){"8025", NULL}));
    assert_true(step_says(to, (const char *[]){"port 8025 (tcp_timeout)", NULL},
                          (const char *[]){"995", NULL}));
    done(&t);

    /* An expired certificate on 993 and a refused 995: two findings, the
     * certificate's naming 993 only. */
    struct snap u = {0};
    all(&u, IMAPS, RESULT_TLS_CERT_EXPIRED);
    all(&u, POP3S, RESULT_TCP_REFUSED);
    run(&u);
    assert_int_equal(u.d.nfindings, 2);
    const struct analysis_finding *cert = finding_of(&u, IMAPS);
    assert_int_equal(cert->layer, RESULT_LAYER_TLS);
    assert_list(&cert->checks, IMAPS);
    assert_true(step_says(cert, (const char *[]){"port 993 (tls_cert_expired)", NULL},
                          (const char *[]){"995", NULL}));
    assert_list(&finding_of(&u, POP3S)->checks, POP3S);
    done(&u);
}

/* Nothing answers on any port of the host (refused on some, timing out on
 * others): the host is down, one finding listing every port. */
static void test_host_down_all_ports(void **state)
{
    (void)state;
    struct snap s = {0};
    all(&s, IMAPS, RESULT_TCP_REFUSED);
    all(&s, POP3S, RESULT_TCP_REFUSED);
    all(&s, SUBM, RESULT_TCP_TIMEOUT);
    all(&s, "tcp://mail.example.com:8025", RESULT_TCP_TIMEOUT);
    all(&s, WEB, RESULT_OK); /* another host */
    all(&s, MX, RESULT_OK);
    run(&s);
    assert_int_equal(s.d.nfindings, 1);
    const struct analysis_finding *f = &s.d.findings[0];
    assert_int_equal(f->verdict, ANALYSIS_SERVICE);
    assert_int_equal(f->layer, RESULT_LAYER_TCP);
    assert_list(&f->checks, IMAPS "," POP3S "," SUBM ",tcp://mail.example.com:8025");
    assert_true(
        step_says(f,
                  (const char *[]){"mail.example.com", "nothing answers", "port 993 (tcp_refused)",
                                   "port 995 (tcp_refused)", "port 587 (tcp_timeout)",
                                   "port 8025 (tcp_timeout)", NULL},
                  (const char *[]){NULL}));
    done(&s);

    /* All refused: the ports share one error, said once. */
    struct snap t = {0};
    all(&t, IMAPS, RESULT_TCP_REFUSED);
    all(&t, POP3S, RESULT_TCP_REFUSED);
    run(&t);
    assert_int_equal(t.d.nfindings, 1);
    assert_true(step_says(&t.d.findings[0],
                          (const char *[]){"ports 993 and 995 (tcp_refused)", NULL},
                          (const char *[]){NULL}));
    done(&t);

    /* The same host once one of its ports answers with a closed dialog:
     * up, so the refused ports are one finding and the closed one another. */
    struct snap u = {0};
    all(&u, IMAPS, RESULT_TCP_REFUSED);
    all(&u, POP3S, RESULT_TCP_REFUSED);
    all(&u, SUBM, RESULT_PROTO_CLOSED);
    run(&u);
    assert_int_equal(u.d.nfindings, 2);
    assert_list(&finding_of(&u, IMAPS)->checks, IMAPS "," POP3S);
    assert_list(&finding_of(&u, SUBM)->checks, SUBM);
    assert_int_equal(finding_of(&u, SUBM)->error, RESULT_PROTO_CLOSED);
    done(&u);
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

/* Certificates seen by imaps and submission expire in 5 days. */
static void expiring_office(struct snap *s, int64_t not_after_s)
{
    healthy_office(s);
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->st[i].check, IMAPS) != 0 && strcmp(s->st[i].check, SUBM) != 0)
            continue;
        s->st[i].cert_not_after = not_after_s;
        s->st[i].cert_subject = "CN=mail.example.com";
    }
}

static void test_cert_expiring(void **state)
{
    (void)state;
    struct snap s = {0};
    expiring_office(&s, NOW / 1000000 + 5 * 86400 + 3600);
    run(&s);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_WARNING);
    assert_int_equal(s.d.nfindings, 1);
    const struct analysis_finding *f = &s.d.findings[0];
    assert_int_equal(f->severity, ANALYSIS_SEVERITY_WARNING);
    assert_int_equal(f->verdict, ANALYSIS_SERVICE);
    assert_int_equal(f->layer, RESULT_LAYER_TLS);
    assert_int_equal(f->error, RESULT_TLS_CERT_EXPIRING);
    assert_list(&f->checks, IMAPS "," SUBM);
    assert_list(&f->agents, "br1,br2,home1,hq1,hq2");
    assert_non_null(strstr(f->summary, "CN=mail.example.com"));
    assert_non_null(strstr(f->summary, "mail.example.com:993"));
    assert_non_null(strstr(f->summary, "mail.example.com:587"));
    assert_non_null(strstr(f->summary, "2027-01-20T"));
    assert_non_null(strstr(f->summary, "in 5 days"));
    assert_non_null(strstr(f->next_steps.v[0], "Renew"));
    assert_string_equal(analysis_severity_name(f->severity), "warning");
    assert_string_equal(analysis_status_name(s.d.status), "warning");
    assert_string_equal(result_error_name(f->error), "tls_cert_expiring");
    done(&s);

    /* 20 days left: outside the default 14; inside a target's 30. */
    struct snap t = {0};
    expiring_office(&t, NOW / 1000000 + 20 * 86400);
    run(&t);
    assert_int_equal(t.d.status, ANALYSIS_STATUS_OK);
    done(&t);
    t.in.cert_warn_days = 30;
    run_in(&t);
    assert_int_equal(t.d.status, ANALYSIS_STATUS_WARNING);
    done(&t);
    /* Turned off. */
    struct snap u = {0};
    expiring_office(&u, NOW / 1000000 + 86400);
    run(&u);
    assert_int_equal(u.d.nfindings, 1);
    done(&u);
    u.in.cert_warn_days = -1;
    run_in(&u);
    assert_int_equal(u.d.status, ANALYSIS_STATUS_OK);
    done(&u);
}

/* An expired certificate fails its checks: a problem, not a warning; a
 * warning beside a problem leaves the status a problem, listed after it. */
static void test_cert_expired_is_problem(void **state)
{
    (void)state;
    struct snap s = {0};
    expiring_office(&s, NOW / 1000000 - 86400);
    for (size_t i = 0; i < s.n; i++)
        if (strcmp(s.st[i].check, IMAPS) == 0)
            fail_state(&s.st[i], RESULT_TLS_CERT_EXPIRED);
    run(&s);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_PROBLEM);
    assert_int_equal(s.d.nfindings, 1);
    assert_int_equal(s.d.findings[0].severity, ANALYSIS_SEVERITY_PROBLEM);
    assert_int_equal(s.d.findings[0].error, RESULT_TLS_CERT_EXPIRED);
    done(&s);

    /* webmail's certificate expires soon while IMAPS is expired. */
    for (size_t i = 0; i < s.n; i++)
        if (strcmp(s.st[i].check, WEB) == 0) {
            s.st[i].cert_not_after = NOW / 1000000 + 3 * 86400;
            s.st[i].cert_subject = "CN=webmail.example.com";
        }
    run(&s);
    assert_int_equal(s.d.status, ANALYSIS_STATUS_PROBLEM);
    assert_int_equal(s.d.nfindings, 2);
    assert_int_equal(s.d.findings[0].severity, ANALYSIS_SEVERITY_PROBLEM);
    assert_int_equal(s.d.findings[1].severity, ANALYSIS_SEVERITY_WARNING);
    assert_non_null(strstr(s.d.findings[1].summary, "CN=webmail.example.com"));
    done(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_healthy),
        cmocka_unit_test(test_no_data),
        cmocka_unit_test(test_network_tcp),
        cmocka_unit_test(test_network_dns),
        cmocka_unit_test(test_device),
        cmocka_unit_test(test_service),
        cmocka_unit_test(test_service_tls_and_cert_change),
        cmocka_unit_test(test_undone_changes_not_correlated),
        cmocka_unit_test(test_service_outage_with_auth),
        cmocka_unit_test(test_credentials),
        cmocka_unit_test(test_client_config),
        cmocka_unit_test(test_client_config_needs_fresh_answers),
        cmocka_unit_test(test_service_one_server_many_names),
        cmocka_unit_test(test_dns_zone_down),
        cmocka_unit_test(test_inconclusive_single_host),
        cmocka_unit_test(test_two_findings),
        cmocka_unit_test(test_healed_and_flapping),
        cmocka_unit_test(test_nearly_every_and_ties),
        cmocka_unit_test(test_stale_agent_ignored),
        cmocka_unit_test(test_agent_moved_network),
        cmocka_unit_test(test_absent_optional_records),
        cmocka_unit_test(test_mixed_failures_one_host),
        cmocka_unit_test(test_host_down_all_ports),
        cmocka_unit_test(test_removed_checks),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_degraded_network),
        cmocka_unit_test(test_network_summary_counts),
        cmocka_unit_test(test_slow_network),
        cmocka_unit_test(test_slow_device),
        cmocka_unit_test(test_not_slow_within_thresholds),
        cmocka_unit_test(test_cert_expiring),
        cmocka_unit_test(test_cert_expired_is_problem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
