/*
 * Unit tests for agent/net/dns_answer.c: answers of the asked type in
 * presentation form with the smallest TTL, CNAME hops from the asked name,
 * the SOA's negative TTL, TXT bytes escaped, and a response cut inside a
 * record refused with nothing kept. Fuzzed by tests/fuzz/fuzz_dns_answer.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/nameser.h>
#include <stdlib.h>
#include <string.h>

#include "dns_answer.h"

/* A response to "mail.example.com" (the question at offset 12, so that
 * 0xc0 0x0c points to its name) followed by the records given. */
#define HEADER(rcode, an, ns) 0x12, 0x34, 0x81, 0x80 | (rcode), 0, 1, 0, (an), 0, (ns), 0, 0
#define QNAME                 4, 'm', 'a', 'i', 'l', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0
#define QUESTION(type)        QNAME, 0, (type), 0, 1
#define PTR                   0xc0, 0x0c

/* Parses msg, checks the return value against want; on failure err
 * must say why. */
static struct dns_answer *parse(const unsigned char *msg, size_t len, int qtype, int want,
                                char *err, size_t errlen)
{
    struct dns_answer *a = calloc(1, sizeof(*a));
    assert_non_null(a);
    err[0] = '\0';
    assert_int_equal(dns_answer_parse(msg, len, "mail.example.com.", qtype, a, err, errlen), want);
    if (want < 0)
        assert_true(err[0] != '\0');
    return a;
}

static void done(struct dns_answer **a)
{
    dns_answer_clear(*a);
    free(*a);
    *a = NULL;
}

static void test_a_records_min_ttl(void **state)
{
    char err[64];
    (void)state;
    /* clang-format off */
    static const unsigned char msg[] = {
        HEADER(0, 2, 0), QUESTION(ns_t_a),
        PTR, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 10, /* ttl 300 */
        PTR, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 9,  /* ttl 60 */
    };
    /* clang-format on */
    struct dns_answer *a = parse(msg, sizeof(msg), ns_t_a, 0, err, sizeof(err));
    assert_int_equal(a->rcode, 0);
    assert_int_equal(a->nanswers, 2);
    assert_string_equal(a->answers[0], "192.0.2.10");
    assert_int_equal(a->ttl, 60);
    assert_int_equal(a->naddrs, 2);
    dns_answer_sort_addrs(a);
    assert_int_equal(a->addrs[0].ss_family, AF_INET);
    done(&a);
}

static void test_cname_chain_and_txt(void **state)
{
    char err[64];
    (void)state;
    /* clang-format off */
    static const unsigned char cname[] = {
        HEADER(0, 1, 0), QUESTION(ns_t_mx),
        PTR, 0, 5, 0, 1, 0, 0, 0, 30, 0, 6, 3, 'm', 'x', '1', PTR, /* -> mx1.mail.example.com */
    };
    /* clang-format on */
    struct dns_answer *a = parse(cname, sizeof(cname), ns_t_mx, 0, err, sizeof(err));
    assert_int_equal(a->nanswers, 0);
    assert_int_equal(a->nchain, 1);
    assert_string_equal(a->chain[0][0], "mail.example.com");
    assert_string_equal(a->chain[0][1], "mx1.mail.example.com");
    assert_int_equal(a->chain_ttl[0], 30);
    done(&a);

    /* clang-format off */
    static const unsigned char txt[] = {
        HEADER(0, 1, 0), QUESTION(ns_t_txt),
        PTR, 0, 16, 0, 1, 0, 0, 0, 9, 0, 7, 3, 'a', '\\', 0x01, 2, 'b', 0xff,
    };
    /* clang-format on */
    a = parse(txt, sizeof(txt), ns_t_txt, 0, err, sizeof(err));
    assert_int_equal(a->nanswers, 1);
    assert_string_equal(a->answers[0], "a\\092\\001b\\255");
    done(&a);
}

static void test_nxdomain_soa_ttl(void **state)
{
    char err[64];
    (void)state;
    /* clang-format off */
    static const unsigned char msg[] = {
        HEADER(3, 0, 1), QUESTION(ns_t_a),
        PTR, 0, 6, 0, 1, 0, 0, 3, 132, 0, 28, /* SOA, ttl 900, rdlength 28 */
        1, 'n', PTR, 1, 'h', PTR,             /* mname, rname */
        0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 1, 44, /* minimum 300 */
    };
    /* clang-format on */
    struct dns_answer *a = parse(msg, sizeof(msg), ns_t_a, 0, err, sizeof(err));
    assert_int_equal(a->rcode, 3);
    assert_int_equal(a->nanswers, 0);
    assert_true(a->have_neg_ttl);
    assert_int_equal(a->neg_ttl, 300);
    done(&a);
}

static void test_cut_record_refused(void **state)
{
    char err[64];
    (void)state;
    /* clang-format off */
    static const unsigned char msg[] = {
        HEADER(0, 2, 0), QUESTION(ns_t_a),
        PTR, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 10,
        PTR, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, /* rdlength 4, 2 bytes left */
    };
    /* clang-format on */
    struct dns_answer *a = parse(msg, sizeof(msg), ns_t_a, -1, err, sizeof(err));
    assert_string_equal(err, "malformed DNS answer");
    assert_null(a->answers);
    assert_int_equal(a->nanswers, 0);
    assert_int_equal(a->naddrs, 0);
    done(&a);
    a = parse(msg, 11, ns_t_a, -1, err, sizeof(err)); /* shorter than a header */
    assert_string_equal(err, "answer of 11 bytes");
    done(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_records_min_ttl),
        cmocka_unit_test(test_cname_chain_and_txt),
        cmocka_unit_test(test_nxdomain_soa_ttl),
        cmocka_unit_test(test_cut_record_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
