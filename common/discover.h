/*
 * discover — what a target's domain adds (docs/reference.md "Check specs"): the
 * DNS checks a mail client's autoconfiguration depends on, and the server
 * checks their answers point to.
 *
 * Two steps, so that the scheduler runs the DNS checks like any other
 * check and feeds their results back:
 *
 *     discover_dns_checks(domain, configured, n, &dns)   -> dns://... checks
 *     ... run them, keep their results ...
 *     discover_from_results(domain, configured, n, results, nres, &servers)
 *                                                        -> imaps://..., smtp://...
 *
 * Every check listed in step 2 is marked discovered; a check that is
 * already configured (same canonical spec) is not listed again.
 */
#ifndef VANTAGE_DISCOVER_H
#define VANTAGE_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>

#include "result.h"
#include "spec.h"

/* Checks one target may add: 5 fixed DNS checks, two per named host, and
 * the servers from MX and four SRV answers. A zone that points a domain
 * to more servers than this is misconfigured, and the first are shown. */
#define DISCOVER_MAX 64

struct discover_check {
    char spec[SPEC_TEXT_MAX + 1]; /* canonical spec text */
    bool discovered;              /* true: found through DNS, not configured */
};

struct discover_list {
    struct discover_check *items; /* heap; discover_list_clear frees it */
    size_t n;
};

/* The SRV services of RFC 6186 / RFC 8314 a mail client looks up, and
 * the scheme each one's target is probed with. */
struct discover_srv {
    const char *service; /* "_imaps._tcp" */
    enum spec_kind kind; /* SPEC_IMAPS */
};
extern const struct discover_srv discover_srv_services[4];

/* Lists the DNS checks for domain: dns://D/MX, dns://_imaps._tcp.D/SRV,
 * dns://_imap._tcp.D/SRV, dns://_submission._tcp.D/SRV,
 * dns://_pop3s._tcp.D/SRV, dns://autodiscover.D/A, and dns://H/A plus
 * dns://H/AAAA for every host H the configured checks name (not for IP
 * literals, dns://, rdap:// or autoconfig:// checks). Appends to *out (init it to {0}). Returns 0,
 * or -1 with err set when domain or a check is not valid. */
int discover_dns_checks(const char *domain, const char *const *checks, size_t nchecks,
                        struct discover_list *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* From the results of those DNS checks (any order; other results are
 * ignored), lists the server checks they point to, discovered = true:
 * each MX host -> smtp://HOST; each SRV target of _imaps/_imap/
 * _submission/_pop3s -> imaps/imap/submission/pop3s://HOST[:PORT] (a "."
 * target means "no such service", RFC 2782, and is skipped); an answering
 * autodiscover.D -> tls://autodiscover.D:443 (clients check its
 * certificate before anything else); each server an autoconfig://D
 * result's sources advertise -> imaps/imap/pop3s/pop3/smtps/submission/
 * smtp://HOST:PORT by protocol and socket (plain IMAP and POP3 are not
 * probed). Configured checks and duplicates are left out. Appends to
 * *out. Returns 0, or -1 with err set. */
int discover_from_results(const char *domain, const char *const *checks, size_t nchecks,
                          const struct result *results, size_t nresults, struct discover_list *out,
                          char *err, size_t errlen) __attribute__((warn_unused_result));

/* True when check looks up a record a mail domain may leave out: an IPv6
 * address (AAAA), an RFC 6186 SRV record, an autodiscover name. */
bool discover_optional(const char *check);

/* True when a result of check with that outcome means "the domain does
 * not publish this optional record": the lookup answered "no such name"
 * or "no such record" (dns_nxdomain, dns_nodata). Not a failure: probe
 * and compare both show it as "none published" (issue 15). */
bool discover_not_published(const char *check, bool ok, enum result_error error);

/* Frees the list's items and zeroes it. */
void discover_list_clear(struct discover_list *l);

#endif
