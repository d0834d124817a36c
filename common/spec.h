/*
 * spec — check specs (docs/reference.md "Check specs"): parsing and canonical text.
 *
 * A spec names what to probe and how: "imaps://mail.example.com",
 * "tcp://[2001:db8::1]:25", "https://webmail.example.com/owa/",
 * "dns://_imaps._tcp.example.com/SRV". Parsing is strict: an unknown
 * scheme, a missing port where there is no default, or a name longer than
 * DNS allows is an error that says which.
 *
 * "mailflow://MAILBOX[?via=SPEC&read=SPEC]" is the end-to-end mail check:
 * MAILBOX is an address or "@CREDENTIALS", via and read are specs of the
 * kinds that can submit and read mail.
 */
#ifndef VANTAGE_SPEC_H
#define VANTAGE_SPEC_H

#include <stddef.h>
#include <stdint.h>

enum spec_kind {
    SPEC_IMAPS,
    SPEC_IMAP,
    SPEC_POP3S,
    SPEC_POP3,
    SPEC_SMTPS,
    SPEC_SUBMISSION,
    SPEC_SMTP,
    SPEC_HTTPS,
    SPEC_TLS,
    SPEC_TCP,
    SPEC_DNS,
    SPEC_MAILFLOW,
    SPEC_KIND_LAST
};

#define SPEC_HOST_MAX 253  /* the longest DNS name */
#define SPEC_PATH_MAX 1024 /* longer webmail paths are not real */
/* mailflow: RFC 5321 §4.5.3.1 allows 64 octets of local part and 255 of
 * domain; "@" and a credentials section name fit in the same room. */
#define SPEC_MAILBOX_MAX 320
/* A via= or read= spec: a scheme, a host and a port, never a path. */
#define SPEC_SUB_MAX  (16 + SPEC_HOST_MAX + 8)
#define SPEC_TEXT_MAX (16 + SPEC_HOST_MAX + 8 + SPEC_PATH_MAX)

struct spec {
    enum spec_kind kind;
    char host[SPEC_HOST_MAX + 1]; /* name or address, without brackets */
    uint16_t port;                /* 0 for dns:// */
    char path[SPEC_PATH_MAX + 1]; /* https: "/" at least; dns: "" */
    char dns_type[8];             /* dns: "A", "AAAA", "MX", ... */
    /* mailflow: the mailbox ("user@example.com", or "@CREDENTIALS": the
     * user of the agent's [credentials CREDENTIALS]), and the canonical
     * specs to submit through (submission, smtps, smtp) and to read
     * through (imaps, imap, pop3s, pop3); "" = the target's own. host and
     * port stay empty: each of via and read names its own. */
    char mailbox[SPEC_MAILBOX_MAX + 1];
    char via[SPEC_SUB_MAX + 1];
    char read[SPEC_SUB_MAX + 1];
};

/* Parses text into *out. Returns 0, or -1 with a message in err. */
int spec_parse(const char *text, struct spec *out, char *err, size_t errlen);

/* Writes the canonical text of a spec (default ports left out). */
void spec_format(const struct spec *s, char *buf, size_t len);

/* "imaps", "dns", ...; NULL when out of range. */
const char *spec_scheme(enum spec_kind kind);

/* The scheme's default port, 0 when it has none. */
uint16_t spec_default_port(enum spec_kind kind);

/* Whether the dialog begins with implicit TLS (imaps, pop3s, smtps, https,
 * tls) — then the tls phase comes before the greeting. */
int spec_implicit_tls(enum spec_kind kind);

#endif
