/*
 * Unit tests of collector/analysis/ (analysis.h), the service, credentials
 * and client configuration questions: outages of one host or all its
 * ports, TLS and certificate changes and expiry, changes correlated or
 * not, wrong passwords and wrong client settings. Snapshots from
 * analysistest.h.
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

#define POP3S "pop3s://mail.example.com"

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
        cmocka_unit_test(test_service),
        cmocka_unit_test(test_service_tls_and_cert_change),
        cmocka_unit_test(test_undone_changes_not_correlated),
        cmocka_unit_test(test_service_outage_with_auth),
        cmocka_unit_test(test_credentials),
        cmocka_unit_test(test_client_config),
        cmocka_unit_test(test_client_config_needs_fresh_answers),
        cmocka_unit_test(test_service_one_server_many_names),
        cmocka_unit_test(test_mixed_failures_one_host),
        cmocka_unit_test(test_host_down_all_ports),
        cmocka_unit_test(test_cert_expiring),
        cmocka_unit_test(test_cert_expired_is_problem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
