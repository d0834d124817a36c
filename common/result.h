/*
 * result — the result model of docs/reference.md ("Result model"): one probe of one
 * check, with its classification, phase timings and the facts it saw.
 *
 * A result is a plain record, not a handle: it is filled in by a probe,
 * encoded by wire, stored by the collector and printed by result_json.
 * Every pointer member is owned by the record (heap, NUL-terminated) and
 * freed by result_clear(). Absent facts are NULL / zero / has_* false.
 */
#ifndef VANTAGE_RESULT_H
#define VANTAGE_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Layers and error codes keep the order of docs/reference.md and proto/. */
enum result_layer {
    RESULT_LAYER_NONE,
    RESULT_LAYER_DNS,
    RESULT_LAYER_TCP,
    RESULT_LAYER_TLS,
    RESULT_LAYER_PROTOCOL,
    RESULT_LAYER_AUTH,
    RESULT_LAYER_HTTP,
    RESULT_LAYER_DELIVERY, /* mailflow: the server took the test mail, or did not deliver it */
    /* ---- registration and autoconfig (issue 10) ---- */
    RESULT_LAYER_REGISTRATION,
    RESULT_LAYER_AUTOCONFIG,
    /* ---- end registration and autoconfig ---- */
    RESULT_LAYER_LAST
};

enum result_error {
    RESULT_OK,
    RESULT_DNS_NXDOMAIN,
    RESULT_DNS_NODATA,
    RESULT_DNS_SERVFAIL,
    RESULT_DNS_REFUSED,
    RESULT_DNS_TIMEOUT,
    RESULT_TCP_REFUSED,
    RESULT_TCP_TIMEOUT,
    RESULT_TCP_UNREACHABLE,
    RESULT_TCP_RESET,
    RESULT_TLS_HANDSHAKE_FAILED,
    RESULT_TLS_CERT_EXPIRED,
    RESULT_TLS_CERT_NOT_YET_VALID,
    RESULT_TLS_CERT_UNTRUSTED,
    RESULT_TLS_HOSTNAME_MISMATCH,
    RESULT_TLS_PROTOCOL_VERSION,
    RESULT_PROTO_BAD_GREETING,
    RESULT_PROTO_STARTTLS_UNSUPPORTED,
    RESULT_PROTO_TIMEOUT,
    RESULT_PROTO_CLOSED,
    RESULT_AUTH_FAILED,
    RESULT_AUTH_UNSUPPORTED,
    RESULT_HTTP_STATUS,
    RESULT_INTERNAL,
    /* Appended after internal: the values are the wire's ErrorCode numbers
     * and the store's integers, so they never move. */
    RESULT_MAIL_REJECTED,          /* MAIL, RCPT or DATA answered 4xx/5xx */
    RESULT_MAIL_NOT_DELIVERED,     /* accepted, not in the mailbox within the timeout */
    RESULT_MAIL_IN_JUNK,           /* delivered to the Junk folder (RFC 6154 \Junk) */
    RESULT_REGISTRATION_EXPIRED,   /* the registry says it expired */
    RESULT_REGISTRATION_HOLD,      /* client/server hold, redemption, pending delete */
    RESULT_REGISTRATION_NOT_FOUND, /* the registry does not know the domain */
    RESULT_AUTOCONFIG_INVALID,     /* a settings document no client can use */
    /* Errors of findings, never of a probe's result: the analysis names
     * a warning with them (result_error_of_finding); wire refuses them
     * from agents. */
    RESULT_TLS_CERT_EXPIRING,
    RESULT_SLOW,
    RESULT_DELIVERY_SLOW,         /* test mail slower than delivery_warn */
    RESULT_REGISTRATION_EXPIRING, /* the registration expires within domain_warn_days */
    RESULT_ERROR_LAST
};

enum result_phase {
    RESULT_PHASE_DNS,
    RESULT_PHASE_CONNECT,
    RESULT_PHASE_TLS,
    RESULT_PHASE_GREETING,
    RESULT_PHASE_STARTTLS,
    RESULT_PHASE_AUTH,
    RESULT_PHASE_HTTP,
    RESULT_PHASE_TOTAL,
    /* mailflow, appended after total (the store keeps phase indexes):
     * connect to the 250 after DATA; accepted to visible in the mailbox;
     * the reading dialog's own time (connect, login, search, delete). */
    RESULT_PHASE_SUBMIT,
    RESULT_PHASE_DELIVERY,
    RESULT_PHASE_FETCH,
    RESULT_PHASE_LAST
};

/* Bounds on what a result may carry; wire rejects anything larger, so a
 * hostile agent cannot make the collector store unbounded rows. */
#define RESULT_STR_MAX  1024 /* detail, banner, subject: a screenful */
#define RESULT_NAME_MAX 255  /* DNS names, target names, check specs */
#define RESULT_LIST_MAX 64   /* SANs, DNS answers, DNS queries */

struct result_tls {
    char *version;
    char *cipher;
    char *subject;
    char *issuer;
    char **sans;
    size_t nsans;
    int64_t not_after; /* unix seconds; 0 = unknown */
    int32_t days_left;
    char *sha256; /* leaf certificate fingerprint, hex */
    char *verify; /* "ok" or the verifier's reason */
};

struct result_dns {
    char *name;
    char *type;     /* "MX", "A", ... */
    char *rcode;    /* "NOERROR", "NXDOMAIN", ... */
    char **answers; /* sorted presentation form */
    size_t nanswers;
    uint32_t ttl;
    char *resolver; /* "ip:port" that answered */
};

/* What a mailflow check learnt of its test message (docs/reference.md "Result
 * model", "delivery"). */
struct result_delivery {
    char *message_id;        /* "<...@vantage>", the Message-ID we gave it */
    int64_t submitted_at_us; /* unix microseconds of the 250 after DATA; 0 = never */
    int64_t arrived_at_us;   /* unix microseconds it became visible; 0 = never */
    uint64_t delivery_us;    /* accepted to visible, monotonic; 0 = not seen */
    char *folder;            /* "INBOX", the Junk folder's name; NULL = not found */
};

/* ---- registration and autoconfig (issue 10) ---------------------------- */

/* Bounds for the newer facts; wire refuses more. */
#define RESULT_AUTOCONFIG_SOURCES_MAX 16 /* sources tried, redirects included */
#define RESULT_AUTOCONFIG_SERVERS_MAX 16 /* servers one source may name */

/* A domain's registration as its registry (or registrar) reports it over
 * RDAP (docs/reference.md "Result model": "registration"). */
struct result_registration {
    char *domain;
    char *registrar;   /* the registrar entity's name; NULL = not given */
    int64_t expires;   /* unix seconds; 0 = no expiration event */
    int32_t days_left; /* whole days from the probe to expires */
    char **status;     /* RDAP status values, e.g. "client hold" */
    size_t nstatus;
    char **nameservers; /* lower-case ldhName values */
    size_t nnameservers;
    char *rdap_url; /* the URL whose answer these facts come from */
};

struct result_autoconfig_server {
    char *protocol; /* "imap", "pop3", "smtp" */
    char *host;
    uint16_t port;
    char *socket; /* "ssl", "starttls", "plain" */
};

/* One source a mail client asks for its settings ("autoconfig"). */
struct result_autoconfig {
    char *source; /* "autoconfig", "autodiscover", "srv" */
    char *url;    /* the URL asked first (redirects are in answer) */
    char *answer; /* what it answered, in words: "settings", "HTTP 404", ... */
    struct result_autoconfig_server *servers;
    size_t nservers;
};

/* ---- end registration and autoconfig ------------------------------------ */

struct result {
    /* Filled in by the collector's copy; a one-shot probe leaves them out. */
    char *agent;
    char *network;
    bool has_seq;
    uint64_t seq;

    char *target;          /* may be NULL for a one-shot probe */
    char *check;           /* the check spec, e.g. "imaps://mail.example.com" */
    bool discovered;       /* found through DNS rather than configured */
    int64_t started_at_us; /* unix microseconds */
    bool ok;
    enum result_layer layer;
    enum result_error error;
    char *detail;
    uint64_t phases_us[RESULT_PHASE_LAST];
    char *address;
    uint16_t port;          /* 0 = none */
    struct result_tls *tls; /* NULL = no TLS facts */
    char *banner;
    struct result_dns *dns;
    size_t ndns;
    struct result_delivery *delivery; /* NULL = not a mailflow check */
    /* ---- registration and autoconfig (issue 10) ---- */
    struct result_registration *registration; /* NULL = none read */
    struct result_autoconfig *autoconfig;     /* every source asked, in order */
    size_t nautoconfig;
    int64_t retry_at_us; /* unix microseconds: the server asked not to be
                            asked again before (HTTP 429 Retry-After); 0 = none */
    /* ---- end registration and autoconfig ---- */
};

/* Zeroes a record so that result_clear() is safe on it. */
void result_init(struct result *r);

/* Frees everything the record owns and zeroes it. */
void result_clear(struct result *r);

/* Names used in JSON, the store and the CLI; NULL for out-of-range values. */
const char *result_layer_name(enum result_layer layer);
const char *result_error_name(enum result_error error);
const char *result_phase_name(enum result_phase phase);

/* Parses a name back; returns 0 and sets *out, or -1 if unknown. */
int result_layer_parse(const char *name, enum result_layer *out);
int result_error_parse(const char *name, enum result_error *out);

/* The layer an error code belongs to (RESULT_OK -> RESULT_LAYER_NONE). */
/* True for the errors only a finding carries (RESULT_TLS_CERT_EXPIRING,
 * RESULT_SLOW, RESULT_DELIVERY_SLOW, RESULT_REGISTRATION_EXPIRING): a
 * probe never reports them. */
bool result_error_of_finding(enum result_error error);

enum result_layer result_error_layer(enum result_error error);

/* A plain-language hint for a person reading a failure; never NULL. */
const char *result_error_hint(enum result_error error);

/* Sets the classification and a printf-style detail in one step; the
 * detail is cut at RESULT_STR_MAX. ok follows from error == RESULT_OK. */
void result_fail(struct result *r, enum result_error error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Replaces *slot with a bounded copy of s (NULL clears it). Returns 0, or
 * -1 when out of memory (the slot is then left NULL). */
int result_set_str(char **slot, const char *s);

/* Appends a DNS record / TLS facts object; returns the new element, or NULL
 * when out of memory or past RESULT_LIST_MAX. */
struct result_dns *result_add_dns(struct result *r);
struct result_tls *result_tls_new(struct result *r);
struct result_delivery *result_delivery_new(struct result *r);
int result_list_add(char ***list, size_t *n, const char *s);
/* Frees a list of n strings made by result_list_add() (or alike). */
void result_list_free(char **list, size_t n);

/* ---- registration and autoconfig (issue 10) ---- */

/* The registration object, created on first use; NULL when out of memory. */
struct result_registration *result_registration_new(struct result *r);

/* Appends an autoconfig source / a server to one; returns the new element
 * (zeroed), or NULL when out of memory or past the bounds above. */
struct result_autoconfig *result_add_autoconfig(struct result *r);
struct result_autoconfig_server *result_autoconfig_add_server(struct result_autoconfig *a);

/* ---- end registration and autoconfig ---- */

/* Writes the record as one line of JSON (no trailing newline) into a
 * malloc'ed string the caller frees; NULL when out of memory. */
char *result_json(const struct result *r);

#endif
