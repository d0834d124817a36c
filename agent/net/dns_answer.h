/*
 * dns_answer — a DNS response in wire format (RFC 1035 §4.1), as the
 * resolver receives it from the network, parsed into what a probe result
 * keeps: the rcode, the answers of the asked type in presentation form,
 * their smallest TTL (or the SOA's negative-caching TTL), the CNAME hops
 * from the asked name, and the A/AAAA addresses.
 *
 * Every byte comes from whoever answers on port 53, so every length is
 * checked against the buffer and every list is bounded; names are expanded
 * by c-ares (ares_expand_name), which follows compression pointers safely.
 * Fuzzed by tests/fuzz/fuzz_dns_answer.c.
 */
#ifndef VANTAGE_DNS_ANSWER_H
#define VANTAGE_DNS_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "result.h"

/* CNAME hops kept per answer; resolvers give up on chains around 8-16
 * hops, and longer chains are a misconfiguration the first hops show. */
#define DNS_ANSWER_CHAIN_MAX 8
/* Presentation form of one answer: a TXT record may carry up to 64 KiB,
 * but results keep at most RESULT_STR_MAX bytes of any string. */
#define DNS_ANSWER_TEXT_MAX RESULT_STR_MAX

struct dns_answer {
    int rcode;       /* the header's RCODE, 0-15 */
    char **answers;  /* result_list_add() list, in the order received */
    size_t nanswers; /* at most RESULT_LIST_MAX: the first ones are kept */
    uint32_t ttl;    /* min over answers of the asked type */
    bool have_ttl;
    uint32_t neg_ttl; /* from the SOA in authority, for NXDOMAIN/NODATA */
    bool have_neg_ttl;
    char chain[DNS_ANSWER_CHAIN_MAX][2][RESULT_NAME_MAX + 1]; /* alias -> target */
    uint32_t chain_ttl[DNS_ANSWER_CHAIN_MAX];
    size_t nchain;
    struct sockaddr_storage addrs[RESULT_LIST_MAX]; /* A/AAAA answers, port 0 */
    size_t naddrs;
};

/* Parses the response abuf[0..alen) to the question qname/qtype (qtype as
 * in arpa/nameser.h) into *a, which must be zeroed or cleared. 0; or -1
 * with why in err (a short phrase, no name), and *a cleared. */
int dns_answer_parse(const unsigned char *abuf, size_t alen, const char *qname, int qtype,
                     struct dns_answer *a, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Sorts the addresses: IPv6 first, then by value, so that a reordered
 * answer is not a change. */
void dns_answer_sort_addrs(struct dns_answer *a);

/* Frees the answers list (whoever took it set answers to NULL) and zeroes
 * *a. */
void dns_answer_clear(struct dns_answer *a);

#endif
