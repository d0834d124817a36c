/*
 * dns_answer — DNS responses in wire format parsed for results
 * (dns_answer.h). Parsed here rather than with ares_parse_*_reply because
 * the result needs the rcode, every TTL and the CNAME hops of every type
 * alike.
 */
#include "dns_answer.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DNS_HEADER_LEN   12
#define DNS_QUESTION_LEN 4  /* type, class after the name */
#define DNS_RR_FIXED_LEN 10 /* type, class, ttl, rdlength */
#define DNS_SOA_FIXED    20 /* serial, refresh, retry, expire, minimum */
#define DNS_CLASS_IN     1
/* ares_expand_name() takes an int length; no UDP or TCP DNS message is
 * longer than 65535 bytes. */
#define DNS_MESSAGE_MAX 65535

static uint16_t get16(const unsigned char *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Expands the name at p into out; returns its encoded length or -1. */
static long expand(const unsigned char *p, const unsigned char *abuf, int alen, char *out,
                   size_t outlen)
{
    char *name = NULL;
    long enclen = 0;
    if (ares_expand_name(p, abuf, alen, &name, &enclen) != ARES_SUCCESS)
        return -1;
    snprintf(out, outlen, "%s", name[0] ? name : ".");
    ares_free_string(name);
    return enclen;
}

/* Copies a name into a RESULT_NAME_MAX + 1 buffer, cut if longer. */
static void copy_name(char *dst, const char *src)
{
    size_t n = strnlen(src, RESULT_NAME_MAX);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Presentation form of one RR's data; 0, or -1 on a malformed record. */
static int rdata_text(int type, const unsigned char *rd, size_t rdlen, const unsigned char *abuf,
                      int alen, char *out, size_t outlen)
{
    char name[RESULT_NAME_MAX + 1];
    switch (type) {
    case ns_t_a:
        if (rdlen != 4 || inet_ntop(AF_INET, rd, out, (socklen_t)outlen) == NULL)
            return -1;
        return 0;
    case ns_t_aaaa:
        if (rdlen != 16 || inet_ntop(AF_INET6, rd, out, (socklen_t)outlen) == NULL)
            return -1;
        return 0;
    case ns_t_cname:
        if (expand(rd, abuf, alen, out, outlen) < 0)
            return -1;
        return 0;
    case ns_t_mx:
        if (rdlen < 3 || expand(rd + 2, abuf, alen, name, sizeof(name)) < 0)
            return -1;
        snprintf(out, outlen, "%u %s", get16(rd), name);
        return 0;
    case ns_t_srv:
        if (rdlen < 7 || expand(rd + 6, abuf, alen, name, sizeof(name)) < 0)
            return -1;
        snprintf(out, outlen, "%u %u %u %s", get16(rd), get16(rd + 2), get16(rd + 4), name);
        return 0;
    case ns_t_txt: {
        /* The character-strings joined, as SPF and DKIM readers join
         * them; bytes outside printable ASCII as \DDD. */
        size_t o = 0, i = 0;
        while (i < rdlen) {
            size_t seg = rd[i++];
            if (seg > rdlen - i)
                return -1;
            for (size_t k = 0; k < seg && o + 5 < outlen; k++) {
                unsigned char ch = rd[i + k];
                if (ch >= 0x20 && ch < 0x7f && ch != '\\')
                    out[o++] = (char)ch;
                else
                    o += (size_t)snprintf(out + o, outlen - o, "\\%03u", ch);
            }
            i += seg;
        }
        out[o < outlen ? o : outlen - 1] = '\0';
        return 0;
    }
    default:
        return -1;
    }
}

void dns_answer_clear(struct dns_answer *a)
{
    result_list_free(a->answers, a->nanswers);
    memset(a, 0, sizeof(*a));
}

int dns_answer_parse(const unsigned char *abuf, size_t alen_sz, const char *qname, int qtype,
                     struct dns_answer *ps, char *err, size_t errlen)
{
    char owner[RESULT_NAME_MAX + 1];
    char cur[RESULT_NAME_MAX + 1];
    if (alen_sz < DNS_HEADER_LEN || alen_sz > DNS_MESSAGE_MAX) {
        snprintf(err, errlen, "answer of %zu bytes", alen_sz);
        return -1;
    }
    int alen = (int)alen_sz;
    ps->rcode = abuf[3] & 0x0f;
    unsigned qd = get16(abuf + 4), an = get16(abuf + 6), ns = get16(abuf + 8);
    const unsigned char *p = abuf + DNS_HEADER_LEN, *end = abuf + alen;
    for (unsigned i = 0; i < qd; i++) {
        long l = expand(p, abuf, alen, owner, sizeof(owner));
        if (l < 0 || end - p < l + DNS_QUESTION_LEN)
            goto malformed;
        p += l + DNS_QUESTION_LEN;
    }
    snprintf(cur, sizeof(cur), "%s", qname);
    size_t cl = strlen(cur);
    if (cl > 1 && cur[cl - 1] == '.')
        cur[cl - 1] = '\0';
    for (unsigned i = 0; i < an + ns; i++) {
        long l = expand(p, abuf, alen, owner, sizeof(owner));
        if (l < 0 || end - p < l + DNS_RR_FIXED_LEN)
            goto malformed;
        p += l;
        int type = get16(p), cls = get16(p + 2);
        uint32_t ttl = get32(p + 4);
        size_t rdlen = get16(p + 8);
        p += DNS_RR_FIXED_LEN;
        if ((size_t)(end - p) < rdlen)
            goto malformed;
        const unsigned char *rd = p;
        p += rdlen;
        if (cls != DNS_CLASS_IN)
            continue;
        if (i >= an) { /* authority: the SOA gives the negative-caching TTL */
            if (type == ns_t_soa) {
                char n1[RESULT_NAME_MAX + 1];
                long l1 = expand(rd, abuf, alen, n1, sizeof(n1));
                long l2 = l1 < 0 ? -1 : expand(rd + l1, abuf, alen, n1, sizeof(n1));
                if (l2 >= 0 && (size_t)(l1 + l2 + DNS_SOA_FIXED) <= rdlen) {
                    uint32_t minimum = get32(rd + l1 + l2 + 16);
                    ps->neg_ttl = ttl < minimum ? ttl : minimum;
                    ps->have_neg_ttl = true;
                }
            }
            continue;
        }
        char text[DNS_ANSWER_TEXT_MAX + 1];
        if (type == ns_t_cname && qtype != ns_t_cname) {
            if (ps->nchain < DNS_ANSWER_CHAIN_MAX && strcasecmp(owner, cur) == 0 &&
                rdata_text(type, rd, rdlen, abuf, alen, text, sizeof(text)) == 0) {
                copy_name(ps->chain[ps->nchain][0], owner);
                copy_name(ps->chain[ps->nchain][1], text);
                ps->chain_ttl[ps->nchain++] = ttl;
                copy_name(cur, text);
            }
            continue;
        }
        if (type != qtype)
            continue;
        if (rdata_text(type, rd, rdlen, abuf, alen, text, sizeof(text)) < 0)
            goto malformed;
        if (result_list_add(&ps->answers, &ps->nanswers, text) < 0)
            continue; /* past RESULT_LIST_MAX: the first ones are kept */
        if (!ps->have_ttl || ttl < ps->ttl)
            ps->ttl = ttl;
        ps->have_ttl = true;
        if ((type == ns_t_a || type == ns_t_aaaa) && ps->naddrs < RESULT_LIST_MAX) {
            struct sockaddr_storage *ss = &ps->addrs[ps->naddrs++];
            memset(ss, 0, sizeof(*ss));
            if (type == ns_t_a) {
                struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
                s4->sin_family = AF_INET;
                memcpy(&s4->sin_addr, rd, 4);
            } else {
                struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
                s6->sin6_family = AF_INET6;
                memcpy(&s6->sin6_addr, rd, 16);
            }
        }
    }
    return 0;
malformed:
    dns_answer_clear(ps);
    snprintf(err, errlen, "malformed DNS answer");
    return -1;
}

static int addr_cmp(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return a->ss_family == AF_INET6 ? -1 : 1;
    if (a->ss_family == AF_INET)
        return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
                      &((const struct sockaddr_in *)b)->sin_addr, 4);
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)b)->sin6_addr, 16);
}

void dns_answer_sort_addrs(struct dns_answer *a)
{
    for (size_t i = 1; i < a->naddrs; i++) {
        struct sockaddr_storage x = a->addrs[i];
        size_t j = i;
        while (j > 0 && addr_cmp(&a->addrs[j - 1], &x) > 0) {
            a->addrs[j] = a->addrs[j - 1];
            j--;
        }
        a->addrs[j] = x;
    }
}
