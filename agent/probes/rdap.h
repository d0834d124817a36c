/*
 * rdap — the documents of rdap:// (docs/reference.md "Check specs"), parsed with
 * jansson: the bootstrap registry that says which RDAP server serves a
 * TLD (RFC 9224, IANA's dns.json) and a registry's or registrar's answer
 * about one domain (RFC 9083 §5.3): events, status, registrar, name
 * servers and the link to the registrar's own RDAP server.
 *
 * Nothing here does I/O (probe_rdap.c fetches); everything read is
 * bounded: the caller's buffer is at most HTTP_CLIENT_BODY_MAX, jansson
 * limits nesting depth (2048), and what is kept is cut to the fixed sizes
 * below, so a hostile document gives an error or a cut value, never a
 * crash. Tests: tests/unit/test_rdap.c; fuzzer: tests/fuzz/fuzz_rdap.c.
 */
#ifndef VANTAGE_RDAP_H
#define VANTAGE_RDAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Status values a registry uses are about a dozen (RFC 8056 maps EPP's
 * 17); more are cut. */
#define RDAP_STATUS_MAX 24
/* Longest status text kept ("client transfer prohibited" is 26). */
#define RDAP_STATUS_TEXT 48
/* Name servers kept: registries accept 13 at most. */
#define RDAP_NS_MAX 16
/* Registrar name (a vCard fn): a line of a screen. */
#define RDAP_TEXT_MAX 160
/* URLs we keep (registrar link, bootstrap base). */
#define RDAP_URL_MAX 1024
/* Labels a bootstrap file may list: IANA's lists about 1,200 TLDs today;
 * eight times that bounds a hostile or broken file. */
#define RDAP_BOOTSTRAP_ENTRIES_MAX 8192
/* Longest DNS name. */
#define RDAP_NAME_MAX 253

struct rdap_domain {
    char ldh_name[RDAP_NAME_MAX + 1]; /* lower case; "" when absent */
    char registrar[RDAP_TEXT_MAX];    /* "" when no registrar entity names itself */
    int64_t expires;                  /* unix seconds of the "expiration" event; 0 = none */
    int64_t registered;               /* ... of "registration"; 0 = none */
    char status[RDAP_STATUS_MAX][RDAP_STATUS_TEXT];
    size_t nstatus;
    char nameservers[RDAP_NS_MAX][RDAP_NAME_MAX + 1]; /* lower case, no final dot */
    size_t nnameservers;
    char related[RDAP_URL_MAX + 1]; /* links[rel=related] to an RDAP domain
                                       answer (thin registries); "" = none */
};

struct rdap_bootstrap;

/* Parses an RFC 9224 bootstrap file ({"services": [[[labels], [urls]],
 * ...]}). NULL with err set when it is not one (or out of memory). A
 * service without URLs is kept: lookups then say "no service". */
struct rdap_bootstrap *rdap_bootstrap_parse(const char *buf, size_t len, char *err, size_t errlen);

/* Labels the file lists. */
size_t rdap_bootstrap_count(const struct rdap_bootstrap *b);

/* Finds the base URL for domain by the longest label match (RFC 9224
 * §4: "com" for "example.com"; "co.uk" before "uk"), preferring https.
 * 1 with the URL in url; 0 when no entry matches or the matching entry
 * names no server; -1 when the URL does not fit. */
int rdap_bootstrap_lookup(const struct rdap_bootstrap *b, const char *domain, char *url,
                          size_t len);

/* Frees b; ignores NULL; sets *bp to NULL. */
void rdap_bootstrap_destroy(struct rdap_bootstrap **bp);

/* base + "domain/" + domain, with the slash RFC 9224 §3 says bases end
 * with added when missing. 0, or -1 when it does not fit. */
int rdap_domain_url(const char *base, const char *domain, char *out, size_t len);

/* Parses an RDAP domain answer into *out. 0; or -1 with err set when buf
 * is not JSON or not a domain object (objectClassName "domain"). */
int rdap_domain_parse(const char *buf, size_t len, struct rdap_domain *out, char *err,
                      size_t errlen);

/* Whether an RDAP status takes or is about to take the domain out of DNS:
 * client hold, server hold, redemption period, pending delete. */
bool rdap_status_hold(const char *status);

/* Whether a Content-Type is an RDAP answer's: application/rdap+json (RFC
 * 7480 §4.2) or application/json, which some servers still send. */
bool rdap_content_type_ok(const char *content_type);

/* An RFC 3339 date-time ("2026-08-13T04:00:00Z", fractions and offsets
 * allowed) in unix seconds; -1 when it is not one. */
int64_t rdap_time_parse(const char *s);

#endif
