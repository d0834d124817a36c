/*
 * autoconfig — the documents mail clients read their settings from, parsed
 * with expat (docs/reference.md "Check specs", autoconfig://):
 *
 *   - Thunderbird's autoconfig, config-v1.1.xml: <clientConfig> with
 *     <emailProvider>, its <incomingServer type="imap|pop3"> and
 *     <outgoingServer type="smtp"> (hostname, port, socketType);
 *   - Microsoft Autodiscover "POX" responses (responseschema/2006 with the
 *     outlook/responseschema/2006a Response): <Account> with <Action>
 *     settings, redirectAddr or redirectUrl, and <Protocol> entries (Type
 *     IMAP, POP3, SMTP; Server, Port, SSL, Encryption), or an <Error>.
 *
 * The parser refuses what no mail client needs and what attacks parsers:
 * any DTD (<!DOCTYPE>, hence every entity declaration, so no billion
 * laughs and no external entity: expat never loads one, and we install no
 * handler that would), documents larger than AUTOCONFIG_DOC_MAX, nesting
 * deeper than AUTOCONFIG_DEPTH_MAX, more than AUTOCONFIG_ELEMENTS_MAX
 * elements, element text longer than AUTOCONFIG_TEXT_MAX. A refusal is a
 * classified answer ("invalid: ..."), never a crash.
 *
 * Nothing here does I/O (probe_autoconfig.c fetches). Tests:
 * tests/unit/test_autoconfig.c; fuzzer: tests/fuzz/fuzz_autoconfig.c.
 */
#ifndef VANTAGE_AUTOCONFIG_H
#define VANTAGE_AUTOCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Real config-v1.1.xml files are 1-5 KiB, Autodiscover responses up to
 * about 10 KiB; 256 KiB bounds a hostile one well above any real one. */
#define AUTOCONFIG_DOC_MAX (256u * 1024)
/* Both dialects nest 5 deep; 32 leaves room for extensions. */
#define AUTOCONFIG_DEPTH_MAX 32
/* Elements per document: a large provider's config has about 100. */
#define AUTOCONFIG_ELEMENTS_MAX 4096
/* Text of one element kept (host names, URLs, messages). */
#define AUTOCONFIG_TEXT_MAX 1024
/* Servers kept per document: a provider lists a handful. */
#define AUTOCONFIG_SERVERS_MAX 16
#define AUTOCONFIG_HOST_MAX    253

/* The namespaces of an Autodiscover POX exchange. */
#define AUTOCONFIG_NS_REQUEST                                                                      \
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
#define AUTOCONFIG_NS_RESPONSE                                                                     \
    "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
#define AUTOCONFIG_NS_OUTLOOK                                                                      \
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"

enum autoconfig_dialect {
    AUTOCONFIG_THUNDERBIRD,  /* config-v1.1.xml */
    AUTOCONFIG_AUTODISCOVER, /* POX response */
    AUTOCONFIG_DIALECT_LAST
};

enum autoconfig_proto { AUTOCONFIG_IMAP, AUTOCONFIG_POP3, AUTOCONFIG_SMTP, AUTOCONFIG_PROTO_LAST };

enum autoconfig_socket {
    AUTOCONFIG_SSL,      /* implicit TLS */
    AUTOCONFIG_STARTTLS, /* plain, then STARTTLS */
    AUTOCONFIG_PLAIN,    /* no TLS at all */
    AUTOCONFIG_SOCKET_LAST
};

enum autoconfig_action {
    AUTOCONFIG_SETTINGS,      /* servers (possibly only ones of other kinds) */
    AUTOCONFIG_REDIRECT_ADDR, /* Autodiscover: ask again for redirect (an address) */
    AUTOCONFIG_REDIRECT_URL,  /* Autodiscover: ask redirect (a URL) */
    AUTOCONFIG_ERROR,         /* Autodiscover <Error>: error says what */
    AUTOCONFIG_ACTION_LAST
};

struct autoconfig_server {
    enum autoconfig_proto proto;
    char host[AUTOCONFIG_HOST_MAX + 1]; /* lower case */
    uint16_t port;
    enum autoconfig_socket socket;
};

struct autoconfig_doc {
    enum autoconfig_action action;
    struct autoconfig_server servers[AUTOCONFIG_SERVERS_MAX];
    size_t nservers;
    unsigned nother;                        /* servers of kinds mail clients of IMAP/POP/SMTP do not
                                               use (EXCH, EXPR, WEB, exchange, ...) */
    unsigned nskipped;                      /* server entries dropped as unusable (bad host, port,
                                               socket type) */
    char redirect[AUTOCONFIG_TEXT_MAX + 1]; /* the address or URL to ask next */
    char error[AUTOCONFIG_TEXT_MAX + 1];    /* the <Error>'s code and message */
};

/* Parses one document of the dialect. mailbox (may be NULL) fills
 * Thunderbird's %EMAILDOMAIN% placeholder. 0 with *out filled: the
 * document is one a client understands (settings naming at least one
 * server of some kind, a redirect, or an Autodiscover error). -1 with err
 * set: it is not (not XML, a DTD, over a bound, wrong root element or
 * namespace, no usable server). */
int autoconfig_parse(enum autoconfig_dialect dialect, const char *buf, size_t len,
                     const char *mailbox, struct autoconfig_doc *out, char *err, size_t errlen);

/* Writes the Autodiscover POX request for mailbox (XML-escaped). Returns
 * its length, or -1 when it does not fit. */
int autoconfig_request(const char *mailbox, char *buf, size_t len);

/* "imap", "pop3", "smtp"; "ssl", "starttls", "plain"; NULL when out of
 * range. */
const char *autoconfig_proto_name(enum autoconfig_proto p);
const char *autoconfig_socket_name(enum autoconfig_socket s);
int autoconfig_proto_parse(const char *name, enum autoconfig_proto *out);
int autoconfig_socket_parse(const char *name, enum autoconfig_socket *out);

/* The check spec a client told to use this server runs: imap+ssl ->
 * imaps://HOST[:PORT], imap+starttls/plain -> imap://..., pop3 alike,
 * smtp+ssl -> smtps://..., smtp on port 25 -> smtp://HOST, other smtp ->
 * submission://HOST[:PORT]. A plain server gets the STARTTLS check, which
 * then fails as a client that insists on encryption would. 0, or -1 when
 * it does not fit or the host is not valid in a spec. */
int autoconfig_server_spec(enum autoconfig_proto proto, const char *host, uint16_t port,
                           enum autoconfig_socket socket, char *buf, size_t len);

#endif
