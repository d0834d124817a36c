/*
 * Unit tests of collector/changes.c with the real sqlite store: facts of
 * results, changes recorded at ingest across and within transactions,
 * and an agent's network change on hello.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "changes.h"
#include "store.h"

struct fixture {
    char dir[64];
    char path[128];
    struct store *s;
    int64_t agent;
    uint64_t seq;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/vantage-test-changes-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/v.db", f->dir);
    char err[STORE_ERR_MAX];
    f->s = store_open(f->path, err, sizeof(err));
    if (f->s == NULL)
        fail_msg("store_open: %s", err);
    assert_int_equal(store_agent_id(f->s, "a1", &f->agent), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(&f->s);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* A DNS result of check with answers (NULL-terminated; none = a failure). */
static void dns_result(struct result *r, const char *check, const char *const *answers)
{
    result_init(r);
    assert_int_equal(result_set_str(&r->target, "corp"), 0);
    assert_int_equal(result_set_str(&r->check, check), 0);
    struct result_dns *d = result_add_dns(r);
    assert_non_null(d);
    for (size_t i = 0; answers != NULL && answers[i] != NULL; i++)
        assert_int_equal(result_list_add(&d->answers, &d->nanswers, answers[i]), 0);
    if (answers == NULL || answers[0] == NULL)
        result_fail(r, RESULT_DNS_SERVFAIL, "servfail");
    else
        r->ok = true;
}

static void server_result(struct result *r, const char *check, const char *address,
                          const char *sha256)
{
    result_init(r);
    assert_int_equal(result_set_str(&r->target, "corp"), 0);
    assert_int_equal(result_set_str(&r->check, check), 0);
    assert_int_equal(result_set_str(&r->address, address), 0);
    if (sha256 != NULL) {
        struct result_tls *t = result_tls_new(r);
        assert_non_null(t);
        assert_int_equal(result_set_str(&t->sha256, sha256), 0);
    }
    r->ok = true;
}

/* What ingest does for one result; consumes r. */
static void ingest(struct fixture *f, struct result *r, int64_t at)
{
    r->has_seq = true;
    r->seq = ++f->seq;
    r->started_at_us = at;
    char text[CHANGES_TEXT_MAX];
    struct store_facts facts;
    struct store_prev prev;
    changes_facts(r, &facts, text, sizeof(text));
    static const uint8_t record[] = {0};
    int rc = store_result_add_facts(f->s, f->agent, "hq", r, record, sizeof(record), &facts, &prev);
    if (rc != 1)
        fail_msg("store: %d %s", rc, store_error(f->s));
    if (changes_record(f->s, "a1", r, &facts, &prev) < 0)
        fail_msg("record: %s", store_error(f->s));
    result_clear(r);
}

#define CHANGES_MAX 16
struct seen {
    size_t n;
    int64_t at[CHANGES_MAX];
    char kind[CHANGES_MAX][32];
    char line[CHANGES_MAX][256];
};

static int collect(const struct store_change *c, void *arg)
{
    struct seen *s = arg;
    assert_true(s->n < CHANGES_MAX);
    s->at[s->n] = c->at_us;
    snprintf(s->kind[s->n], sizeof(s->kind[0]), "%s", c->kind);
    snprintf(s->line[s->n], sizeof(s->line[0]), "%s|%s|%s|%s", c->subject ? c->subject : "-",
             c->before ? c->before : "-", c->after ? c->after : "-", c->agent ? c->agent : "-");
    s->n++;
    return 0;
}

static void test_check_host(void **state)
{
    (void)state;
    char h[64];
    assert_string_equal(changes_check_host("imaps://mail.example.com", h, sizeof(h)),
                        "mail.example.com");
    assert_string_equal(changes_check_host("tls://autodiscover.example.com:443", h, sizeof(h)),
                        "autodiscover.example.com");
    assert_string_equal(changes_check_host("https://webmail.example.com/x", h, sizeof(h)),
                        "webmail.example.com");
    assert_string_equal(changes_check_host("tcp://[2001:db8::1]:25", h, sizeof(h)), "2001:db8::1");
    assert_string_equal(changes_check_host("dns://example.com/MX", h, sizeof(h)), "example.com");
    assert_string_equal(changes_check_host("nonsense", h, sizeof(h)), "");
    char tiny[5];
    assert_string_equal(changes_check_host("imaps://mail.example.com", tiny, sizeof(tiny)), "mail");
}

static void test_facts(void **state)
{
    (void)state;
    struct result r;
    char buf[CHANGES_TEXT_MAX];
    struct store_facts f;
    const char *mx[] = {"10 a.example.com", "20 b.example.com", NULL};
    dns_result(&r, "dns://example.com/MX", mx);
    changes_facts(&r, &f, buf, sizeof(buf));
    assert_true(f.hash[STORE_FACT_DNS] != 0);
    assert_string_equal(f.text[STORE_FACT_DNS], "10 a.example.com, 20 b.example.com");
    assert_true(f.hash[STORE_FACT_ADDRESS] == 0 && f.hash[STORE_FACT_CERT] == 0);
    uint64_t h1 = f.hash[STORE_FACT_DNS];
    result_clear(&r);
    /* A failure shows no answers: no fact, so nothing is erased. */
    dns_result(&r, "dns://example.com/MX", NULL);
    changes_facts(&r, &f, buf, sizeof(buf));
    assert_true(f.hash[STORE_FACT_DNS] == 0);
    result_clear(&r);
    const char *mx2[] = {"10 a.example.com", NULL};
    dns_result(&r, "dns://example.com/MX", mx2);
    changes_facts(&r, &f, buf, sizeof(buf));
    assert_true(f.hash[STORE_FACT_DNS] != h1);
    result_clear(&r);
    server_result(&r, "imaps://mail.example.com", "203.0.113.10", "ab12");
    changes_facts(&r, &f, buf, sizeof(buf));
    assert_true(f.hash[STORE_FACT_DNS] == 0);
    assert_string_equal(f.text[STORE_FACT_ADDRESS], "203.0.113.10");
    assert_string_equal(f.text[STORE_FACT_CERT], "ab12");
    result_clear(&r);
}

static void test_dns_change_at_ingest(void **state)
{
    struct fixture *f = *state;
    struct result r;
    const char *old[] = {"10 mail.example.com", NULL};
    const char *new[] = {"10 newmail.example.com", NULL};
    assert_int_equal(store_begin(f->s), 0);
    dns_result(&r, "dns://example.com/MX", old);
    ingest(f, &r, 1000); /* first value: not a change */
    dns_result(&r, "dns://example.com/MX", old);
    ingest(f, &r, 2000);
    assert_int_equal(store_commit(f->s), 0);

    /* A new transaction: the value before comes from the table. A
     * failure in between does not erase the known answers. */
    assert_int_equal(store_begin(f->s), 0);
    dns_result(&r, "dns://example.com/MX", NULL);
    ingest(f, &r, 3000);
    dns_result(&r, "dns://example.com/MX", new);
    ingest(f, &r, 4000);
    /* And back within the same transaction: before is the in-memory one. */
    dns_result(&r, "dns://example.com/MX", old);
    ingest(f, &r, 5000);
    assert_int_equal(store_commit(f->s), 0);

    struct seen s = {0};
    assert_int_equal(store_changes_each(f->s, "corp", 0, collect, &s), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.kind[0], CHANGES_DNS_ANSWER);
    assert_true(s.at[0] == 4000);
    assert_string_equal(s.line[0], "MX example.com|10 mail.example.com|10 newmail.example.com|a1");
    assert_string_equal(s.line[1], "MX example.com|10 newmail.example.com|10 mail.example.com|a1");

    /* An older result arriving late is history: not compared. */
    assert_int_equal(store_begin(f->s), 0);
    dns_result(&r, "dns://example.com/MX", new);
    r.has_seq = true;
    r.seq = 1; /* stored already: a duplicate */
    char text[CHANGES_TEXT_MAX];
    struct store_facts facts;
    struct store_prev prev;
    changes_facts(&r, &facts, text, sizeof(text));
    static const uint8_t record[] = {0};
    assert_int_equal(store_result_add_facts(f->s, f->agent, "hq", &r, record, 1, &facts, &prev), 0);
    result_clear(&r);
    assert_int_equal(store_commit(f->s), 0);
    s = (struct seen){0};
    assert_int_equal(store_changes_each(f->s, "corp", 0, collect, &s), 0);
    assert_int_equal(s.n, 2);
}

static void autoconfig_result(struct result *r, const char *imap_host)
{
    result_init(r);
    assert_int_equal(result_set_str(&r->target, "corp"), 0);
    assert_int_equal(result_set_str(&r->check, "autoconfig://example.com"), 0);
    struct result_autoconfig *a = result_add_autoconfig(r);
    assert_non_null(a);
    assert_int_equal(result_set_str(&a->source, "autodiscover"), 0);
    if (imap_host != NULL) {
        struct result_autoconfig_server *sv = result_autoconfig_add_server(a);
        assert_int_equal(result_set_str(&sv->protocol, "imap"), 0);
        assert_int_equal(result_set_str(&sv->host, imap_host), 0);
        assert_int_equal(result_set_str(&sv->socket, "ssl"), 0);
        sv->port = 993;
    }
    r->ok = true;
}

static void rdap_result(struct result *r, const char *ns1)
{
    result_init(r);
    assert_int_equal(result_set_str(&r->target, "corp"), 0);
    assert_int_equal(result_set_str(&r->check, "rdap://example.com"), 0);
    struct result_registration *g = result_registration_new(r);
    assert_non_null(g);
    assert_int_equal(result_list_add(&g->nameservers, &g->nnameservers, ns1), 0);
    assert_int_equal(result_list_add(&g->nameservers, &g->nnameservers, "ns2.example.net"), 0);
    r->ok = true;
}

/* What autodiscover advertises and the registration's name servers are
 * facts too: autoconfig_changed, nameservers_changed. An autoconfig
 * answer that names no server (its sources down) is no fact. */
static void test_domain_changes(void **state)
{
    struct fixture *f = *state;
    struct result r;
    assert_int_equal(store_begin(f->s), 0);
    autoconfig_result(&r, "mail.example.com");
    ingest(f, &r, 1000);
    autoconfig_result(&r, NULL);
    ingest(f, &r, 1500);
    autoconfig_result(&r, "newmail.example.com");
    ingest(f, &r, 2000);
    rdap_result(&r, "ns1.example.net");
    ingest(f, &r, 3000);
    rdap_result(&r, "ns1.parking.example");
    ingest(f, &r, 4000);
    assert_int_equal(store_commit(f->s), 0);
    struct seen s = {0};
    assert_int_equal(store_changes_each(f->s, "corp", 0, collect, &s), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.kind[0], CHANGES_AUTOCONFIG);
    assert_true(s.at[0] == 2000);
    assert_string_equal(s.line[0], "autoconfig example.com|autodiscover imap mail.example.com 993 "
                                   "ssl|autodiscover imap newmail.example.com 993 ssl|a1");
    assert_string_equal(s.kind[1], CHANGES_NAMESERVERS);
    assert_string_equal(s.line[1], "NS example.com (registration)|ns1.example.net, "
                                   "ns2.example.net|ns1.parking.example, ns2.example.net|a1");
}

static void test_address_and_cert(void **state)
{
    struct fixture *f = *state;
    struct result r;
    assert_int_equal(store_begin(f->s), 0);
    server_result(&r, "imaps://mail.example.com", "203.0.113.10", "aaaa");
    ingest(f, &r, 1000);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(store_begin(f->s), 0);
    server_result(&r, "imaps://mail.example.com", "203.0.113.20", "aaaa");
    ingest(f, &r, 2000);
    server_result(&r, "imaps://mail.example.com", "203.0.113.20", "bbbb");
    ingest(f, &r, 3000);
    assert_int_equal(store_commit(f->s), 0);
    struct seen s = {0};
    assert_int_equal(store_changes_each(f->s, "corp", 0, collect, &s), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.kind[0], CHANGES_ADDRESS);
    assert_string_equal(s.line[0], "mail.example.com|203.0.113.10|203.0.113.20|a1");
    assert_string_equal(s.kind[1], CHANGES_CERT);
    assert_string_equal(s.line[1], "mail.example.com|aaaa|bbbb|a1");
}

static int latest_addr(const struct store_latest *l, void *arg)
{
    snprintf(arg, 64, "%s %u %u", l->address ? l->address : "-", l->flips, l->streak_n);
    return 0;
}

static void test_latest_keeps_address(void **state)
{
    struct fixture *f = *state;
    struct result r;
    assert_int_equal(store_begin(f->s), 0);
    server_result(&r, "imaps://mail.example.com", "203.0.113.10", NULL);
    ingest(f, &r, 1000);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(store_begin(f->s), 0);
    server_result(&r, "imaps://mail.example.com", NULL, NULL);
    result_fail(&r, RESULT_DNS_TIMEOUT, "timeout");
    ingest(f, &r, 2000);
    assert_int_equal(store_commit(f->s), 0);
    char got[64];
    assert_int_equal(store_latest_each(f->s, "corp", latest_addr, got), 0);
    assert_string_equal(got, "203.0.113.10 0 1");
}

static void test_agent_hello(void **state)
{
    struct fixture *f = *state;
    struct store_agent a = {
        .name = "a1",
        .network = "hq",
        .address = "198.51.100.10",
        .netctx = "{\"addresses\":[\"198.18.1.11\"],\"gateway\":\"198.18.1.1\","
                  "\"resolvers\":[\"198.18.1.1\"]}",
    };
    /* First hello: nothing to compare with. */
    assert_int_equal(changes_agent_hello(f->s, f->agent, &a, 100), 0);
    assert_int_equal(store_agent_update(f->s, f->agent, &a), 0);
    /* The same network again; a new local address alone is no move. */
    a.netctx = "{\"addresses\":[\"198.18.1.99\"],\"gateway\":\"198.18.1.1\","
               "\"resolvers\":[\"198.18.1.1\"]}";
    assert_int_equal(changes_agent_hello(f->s, f->agent, &a, 200), 0);
    assert_int_equal(store_agent_update(f->s, f->agent, &a), 0);
    struct seen s = {0};
    assert_int_equal(store_changes_each(f->s, NULL, 0, collect, &s), 0);
    assert_int_equal(s.n, 0);
    /* Moved home: new egress, gateway and resolvers. */
    a.network = "203.0.113.77";
    a.address = "203.0.113.77";
    a.netctx = "{\"addresses\":[\"192.168.1.5\"],\"gateway\":\"192.168.1.1\","
               "\"resolvers\":[\"192.168.1.1\",\"9.9.9.9\"]}";
    assert_int_equal(changes_agent_hello(f->s, f->agent, &a, 300), 0);
    assert_int_equal(store_agent_update(f->s, f->agent, &a), 0);
    assert_int_equal(store_changes_each(f->s, "corp", 0, collect, &s), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.kind[0], CHANGES_AGENT_NETWORK);
    assert_true(s.at[0] == 300);
    assert_string_equal(s.line[0],
                        "a1|network hq, egress 198.51.100.10, gateway 198.18.1.1, resolvers "
                        "198.18.1.1|network 203.0.113.77, egress 203.0.113.77, gateway "
                        "192.168.1.1, resolvers 192.168.1.1 9.9.9.9|a1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_host),
        cmocka_unit_test(test_facts),
        cmocka_unit_test_setup_teardown(test_dns_change_at_ingest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_address_and_cert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_domain_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_latest_keeps_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_hello, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
