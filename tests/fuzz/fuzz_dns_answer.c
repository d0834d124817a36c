/*
 * libFuzzer target: dns_answer_parse(), the agent's reading of whatever
 * answers its DNS queries. The first byte picks the asked type (A, AAAA,
 * MX, SRV, CNAME, TXT), the rest is the response. Whatever parses must be
 * bounded, NUL-terminated and printable, with every address also an
 * answer; whatever fails must say why and keep nothing.
 * Seeds: tests/fuzz/seeds/dns_answer/ (answers written by hand with
 * Python struct.pack: A, AAAA, MX, SRV, CNAME chains, TXT, SOA).
 */
#include <arpa/nameser.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns_answer.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* The name every seed asks about: CNAME hops count only from it. */
#define FUZZ_QNAME "mail.example.com"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s, size_t max)
{
    const char *end = memchr(s, '\0', max + 1);
    FUZZ_CHECK(end != NULL);
    for (const char *p = s; p < end; p++)
        FUZZ_CHECK(*p != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int types[] = {ns_t_a, ns_t_aaaa, ns_t_mx, ns_t_srv, ns_t_cname, ns_t_txt};
    if (size < 1)
        return 0;
    int qtype = types[data[0] % (sizeof(types) / sizeof(types[0]))];
    size_t len = size - 1;
    /* A heap copy of exactly the response's size: ASan sees any read
     * past its end. */
    unsigned char *msg = malloc(len > 0 ? len : 1);
    if (msg == NULL)
        return 0;
    memcpy(msg, data + 1, len);

    struct dns_answer *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        free(msg);
        return 0;
    }
    char err[64] = "";
    if (dns_answer_parse(msg, len, FUZZ_QNAME, qtype, a, err, sizeof(err)) == 0) {
        FUZZ_CHECK(a->rcode >= 0 && a->rcode <= 15);
        FUZZ_CHECK(a->nanswers <= RESULT_LIST_MAX && a->nchain <= DNS_ANSWER_CHAIN_MAX);
        FUZZ_CHECK(a->naddrs <= a->nanswers);
        FUZZ_CHECK(a->nanswers == 0 || a->have_ttl);
        for (size_t i = 0; i < a->nanswers; i++) {
            check_text(a->answers[i], DNS_ANSWER_TEXT_MAX);
            if (qtype == ns_t_txt)
                for (const char *p = a->answers[i]; *p; p++)
                    FUZZ_CHECK(*p >= 0x20 && *p < 0x7f);
        }
        FUZZ_CHECK(qtype == ns_t_a || qtype == ns_t_aaaa || a->naddrs == 0);
        for (size_t i = 0; i < a->nchain; i++) {
            check_text(a->chain[i][0], RESULT_NAME_MAX);
            check_text(a->chain[i][1], RESULT_NAME_MAX);
        }
        dns_answer_sort_addrs(a);
        for (size_t i = 0; i < a->naddrs; i++)
            FUZZ_CHECK(a->addrs[i].ss_family == (qtype == ns_t_a ? AF_INET : AF_INET6));
    } else {
        FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL);
        FUZZ_CHECK(a->answers == NULL && a->nanswers == 0 && a->naddrs == 0);
    }
    dns_answer_clear(a);
    FUZZ_CHECK(a->answers == NULL);
    free(a);
    free(msg);
    return 0;
}
