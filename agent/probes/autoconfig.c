/*
 * autoconfig — Thunderbird autoconfig and Autodiscover POX documents
 * (see autoconfig.h).
 */
#include "autoconfig.h"

#include <ctype.h>
#include <expat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spec.h"

/* Separates a namespace URI from the local name in expat's names. */
#define NS_SEP  '|'
#define ERR_MAX 256

/* What a server entry collects while it is open. */
struct cur_server {
    bool open;
    char type[32];
    char host[AUTOCONFIG_HOST_MAX + 1];
    bool host_bad;
    char port[16];
    char socket[32];     /* Thunderbird socketType */
    char ssl[16];        /* Autodiscover SSL */
    char encryption[16]; /* Autodiscover Encryption */
};

struct ac_parse {
    XML_Parser xp;
    enum autoconfig_dialect dialect;
    struct autoconfig_doc *out;
    const char *mailbox;
    char err[ERR_MAX];
    bool failed;
    unsigned depth;
    unsigned elements;
    bool root_ok;
    bool provider_seen; /* Thunderbird: <emailProvider> */
    bool account_seen;  /* Autodiscover: <Account> */
    bool error_seen;    /* Autodiscover: <Error> */
    char action[32];
    char redirect_addr[AUTOCONFIG_TEXT_MAX + 1];
    char redirect_url[AUTOCONFIG_TEXT_MAX + 1];
    char error_code[32];
    char message[256];
    char text[AUTOCONFIG_TEXT_MAX + 1];
    size_t textlen;
    struct cur_server cur;
};

static const char *const proto_names[AUTOCONFIG_PROTO_LAST] = {"imap", "pop3", "smtp"};
static const char *const socket_names[AUTOCONFIG_SOCKET_LAST] = {"ssl", "starttls", "plain"};

const char *autoconfig_proto_name(enum autoconfig_proto p)
{
    return (unsigned)p < AUTOCONFIG_PROTO_LAST ? proto_names[p] : NULL;
}

const char *autoconfig_socket_name(enum autoconfig_socket s)
{
    return (unsigned)s < AUTOCONFIG_SOCKET_LAST ? socket_names[s] : NULL;
}

int autoconfig_proto_parse(const char *name, enum autoconfig_proto *out)
{
    for (int i = 0; i < AUTOCONFIG_PROTO_LAST; i++)
        if (strcasecmp(name, proto_names[i]) == 0) {
            *out = (enum autoconfig_proto)i;
            return 0;
        }
    return -1;
}

int autoconfig_socket_parse(const char *name, enum autoconfig_socket *out)
{
    for (int i = 0; i < AUTOCONFIG_SOCKET_LAST; i++)
        if (strcasecmp(name, socket_names[i]) == 0) {
            *out = (enum autoconfig_socket)i;
            return 0;
        }
    return -1;
}

static void stop(struct ac_parse *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void stop(struct ac_parse *a, const char *fmt, ...)
{
    if (a->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->err, sizeof(a->err), fmt, ap);
    va_end(ap);
    a->failed = true;
    XML_StopParser(a->xp, XML_FALSE);
}

/* The local part of an expat name "uri|local" (or "local"). */
static const char *local_name(const char *name)
{
    const char *sep = strrchr(name, NS_SEP);
    return sep != NULL ? sep + 1 : name;
}

/* Whether name is in namespace ns ("" = none). */
static bool in_ns(const char *name, const char *ns)
{
    const char *sep = strrchr(name, NS_SEP);
    if (sep == NULL)
        return ns[0] == '\0';
    size_t n = (size_t)(sep - name);
    return strlen(ns) == n && strncmp(name, ns, n) == 0;
}

static void trim_copy(char *dst, size_t cap, const char *src)
{
    while (isspace((unsigned char)*src))
        src++;
    size_t n = strlen(src);
    while (n > 0 && isspace((unsigned char)src[n - 1]))
        n--;
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* ---- servers ---------------------------------------------------------------- */

/* Default ports when an Autodiscover Protocol gives none. */
static uint16_t default_port(enum autoconfig_proto p, enum autoconfig_socket s)
{
    switch (p) {
    case AUTOCONFIG_IMAP:
        return s == AUTOCONFIG_SSL ? 993 : 143;
    case AUTOCONFIG_POP3:
        return s == AUTOCONFIG_SSL ? 995 : 110;
    case AUTOCONFIG_SMTP:
        return s == AUTOCONFIG_SSL ? 465 : 587;
    case AUTOCONFIG_PROTO_LAST:
    default:
        return 0;
    }
}

/* Replaces Thunderbird's %EMAILDOMAIN% with the mailbox's domain; other
 * placeholders leave a '%' that makes the host unusable. */
static void expand_host(const char *in, const char *mailbox, char *out, size_t cap)
{
    const char *at = mailbox != NULL ? strrchr(mailbox, '@') : NULL;
    const char *ph = strstr(in, "%EMAILDOMAIN%");
    if (ph == NULL || at == NULL) {
        snprintf(out, cap, "%s", in);
        return;
    }
    snprintf(out, cap, "%.*s%s%s", (int)(ph - in), in, at + 1, ph + 13);
}

static bool host_ok(const char *h)
{
    if (h[0] == '\0' || h[0] == '.' || h[0] == '-')
        return false;
    for (const char *p = h; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_')
            return false;
    return true;
}

static void end_server(struct ac_parse *a)
{
    struct cur_server *c = &a->cur;
    struct autoconfig_doc *out = a->out;
    enum autoconfig_proto proto;
    enum autoconfig_socket sock = AUTOCONFIG_PLAIN;
    c->open = false;
    if (autoconfig_proto_parse(c->type, &proto) < 0) {
        out->nother++; /* EXCH, EXPR, WEB, exchange, ews, jmap: not ours to probe */
        return;
    }
    if (a->dialect == AUTOCONFIG_THUNDERBIRD) {
        if (strcasecmp(c->socket, "SSL") == 0)
            sock = AUTOCONFIG_SSL;
        else if (strcasecmp(c->socket, "STARTTLS") == 0)
            sock = AUTOCONFIG_STARTTLS;
        else if (strcasecmp(c->socket, "plain") == 0)
            sock = AUTOCONFIG_PLAIN;
        else {
            out->nskipped++;
            return;
        }
    } else {
        bool ssl = strcasecmp(c->ssl, "off") != 0; /* Outlook's default is on */
        if (strcasecmp(c->encryption, "SSL") == 0)
            sock = AUTOCONFIG_SSL;
        else if (strcasecmp(c->encryption, "TLS") == 0)
            sock = AUTOCONFIG_STARTTLS;
        else if (strcasecmp(c->encryption, "None") == 0)
            sock = AUTOCONFIG_PLAIN;
        else if (!ssl)
            sock = AUTOCONFIG_PLAIN;
        else
            sock = AUTOCONFIG_SSL;
    }
    long port = 0;
    if (c->port[0] != '\0') {
        char *end;
        port = isdigit((unsigned char)c->port[0]) ? strtol(c->port, &end, 10) : -1;
        if (port < 1 || port > 65535 || *end != '\0') {
            out->nskipped++;
            return;
        }
    } else if (a->dialect == AUTOCONFIG_AUTODISCOVER) {
        port = default_port(proto, sock);
    } else {
        out->nskipped++;
        return;
    }
    /* Outlook: SSL on for the ports that speak STARTTLS means STARTTLS. */
    if (a->dialect == AUTOCONFIG_AUTODISCOVER && sock == AUTOCONFIG_SSL &&
        c->encryption[0] == '\0' && (port == 143 || port == 110 || port == 587 || port == 25))
        sock = AUTOCONFIG_STARTTLS;
    char host[AUTOCONFIG_HOST_MAX + 1];
    expand_host(c->host, a->mailbox, host, sizeof(host));
    for (char *p = host; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    size_t hl = strlen(host);
    if (hl > 0 && host[hl - 1] == '.')
        host[hl - 1] = '\0';
    if (c->host_bad || !host_ok(host)) {
        out->nskipped++;
        return;
    }
    if (out->nservers >= AUTOCONFIG_SERVERS_MAX)
        return;
    struct autoconfig_server *s = &out->servers[out->nservers++];
    s->proto = proto;
    s->socket = sock;
    s->port = (uint16_t)port;
    snprintf(s->host, sizeof(s->host), "%s", host);
}

/* ---- expat handlers ---------------------------------------------------------- */

static void on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    struct ac_parse *a = ud;
    if (a->failed)
        return;
    a->depth++;
    a->elements++;
    a->textlen = 0;
    a->text[0] = '\0';
    if (a->depth > AUTOCONFIG_DEPTH_MAX) {
        stop(a, "nested deeper than %d elements", AUTOCONFIG_DEPTH_MAX);
        return;
    }
    if (a->elements > AUTOCONFIG_ELEMENTS_MAX) {
        stop(a, "more than %d elements", AUTOCONFIG_ELEMENTS_MAX);
        return;
    }
    const char *ln = local_name(name);
    if (a->depth == 1) {
        if (a->dialect == AUTOCONFIG_THUNDERBIRD) {
            if (strcmp(ln, "clientConfig") != 0 || !in_ns(name, ""))
                stop(a, "the root element is <%.64s>, not Thunderbird's <clientConfig>", name);
        } else if (strcmp(ln, "Autodiscover") != 0 || !in_ns(name, AUTOCONFIG_NS_RESPONSE)) {
            stop(a,
                 "the root element is <%.64s>, not <Autodiscover> in the "
                 "namespace " AUTOCONFIG_NS_RESPONSE,
                 name);
        }
        a->root_ok = !a->failed;
        return;
    }
    if (a->dialect == AUTOCONFIG_THUNDERBIRD) {
        if (a->depth == 2 && strcmp(ln, "emailProvider") == 0)
            a->provider_seen = true;
        if (a->depth == 3 && a->provider_seen &&
            (strcmp(ln, "incomingServer") == 0 || strcmp(ln, "outgoingServer") == 0)) {
            memset(&a->cur, 0, sizeof(a->cur));
            a->cur.open = true;
            for (size_t i = 0; attrs[i] != NULL && attrs[i + 1] != NULL; i += 2)
                if (strcmp(attrs[i], "type") == 0)
                    trim_copy(a->cur.type, sizeof(a->cur.type), attrs[i + 1]);
        }
        return;
    }
    /* Autodiscover: Autodiscover > Response > Account > Protocol. */
    if (a->depth == 2 && strcmp(ln, "Response") == 0 &&
        !(in_ns(name, AUTOCONFIG_NS_OUTLOOK) || in_ns(name, AUTOCONFIG_NS_RESPONSE)))
        stop(
            a,
            "<Response> is in the namespace of another schema (%.100s), not " AUTOCONFIG_NS_OUTLOOK,
            name);
    else if (a->depth == 3 && strcmp(ln, "Account") == 0)
        a->account_seen = true;
    else if (a->depth == 3 && strcmp(ln, "Error") == 0)
        a->error_seen = true;
    else if (a->depth == 4 && a->account_seen && strcmp(ln, "Protocol") == 0) {
        memset(&a->cur, 0, sizeof(a->cur));
        a->cur.open = true;
    }
}

static void on_end(void *ud, const XML_Char *name)
{
    struct ac_parse *a = ud;
    if (a->failed)
        return;
    const char *ln = local_name(name);
    char v[AUTOCONFIG_TEXT_MAX + 1];
    trim_copy(v, sizeof(v), a->text);
    if (a->cur.open) {
        bool server_end = a->dialect == AUTOCONFIG_THUNDERBIRD
                              ? a->depth == 3 && (strcmp(ln, "incomingServer") == 0 ||
                                                  strcmp(ln, "outgoingServer") == 0)
                              : a->depth == 4 && strcmp(ln, "Protocol") == 0;
        if (server_end) {
            end_server(a);
        } else if (a->depth == (a->dialect == AUTOCONFIG_THUNDERBIRD ? 4u : 5u)) {
            if (strcmp(ln, "hostname") == 0 || strcmp(ln, "Server") == 0) {
                a->cur.host_bad = strlen(v) > AUTOCONFIG_HOST_MAX;
                trim_copy(a->cur.host, sizeof(a->cur.host), v);
            } else if (strcmp(ln, "port") == 0 || strcmp(ln, "Port") == 0) {
                trim_copy(a->cur.port, sizeof(a->cur.port), v);
            } else if (strcmp(ln, "socketType") == 0) {
                trim_copy(a->cur.socket, sizeof(a->cur.socket), v);
            } else if (strcmp(ln, "Type") == 0) {
                trim_copy(a->cur.type, sizeof(a->cur.type), v);
            } else if (strcmp(ln, "SSL") == 0) {
                trim_copy(a->cur.ssl, sizeof(a->cur.ssl), v);
            } else if (strcmp(ln, "Encryption") == 0) {
                trim_copy(a->cur.encryption, sizeof(a->cur.encryption), v);
            }
        }
    } else if (a->dialect == AUTOCONFIG_AUTODISCOVER && a->depth == 4) {
        if (a->account_seen && strcmp(ln, "Action") == 0)
            trim_copy(a->action, sizeof(a->action), v);
        else if (a->account_seen && strcmp(ln, "RedirectAddr") == 0)
            trim_copy(a->redirect_addr, sizeof(a->redirect_addr), v);
        else if (a->account_seen && strcmp(ln, "RedirectUrl") == 0)
            trim_copy(a->redirect_url, sizeof(a->redirect_url), v);
        else if (a->error_seen && strcmp(ln, "ErrorCode") == 0)
            trim_copy(a->error_code, sizeof(a->error_code), v);
        else if (a->error_seen && strcmp(ln, "Message") == 0)
            trim_copy(a->message, sizeof(a->message), v);
    }
    a->depth--;
    a->textlen = 0;
    a->text[0] = '\0';
}

static void on_text(void *ud, const XML_Char *s, int len)
{
    struct ac_parse *a = ud;
    if (a->failed || len <= 0)
        return;
    size_t n = (size_t)len;
    if (a->textlen + n > AUTOCONFIG_TEXT_MAX) {
        /* Only whitespace between elements may be long; a value this long
         * is no host name, port or URL. */
        for (size_t i = 0; i < n; i++)
            if (!isspace((unsigned char)s[i])) {
                stop(a, "an element's text is longer than %d bytes", AUTOCONFIG_TEXT_MAX);
                return;
            }
        return;
    }
    for (size_t i = 0; i < n; i++)
        a->text[a->textlen++] = (unsigned char)s[i] < ' ' ? ' ' : s[i];
    a->text[a->textlen] = '\0';
}

static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
                       int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    stop(ud, "the document has a DTD (<!DOCTYPE>): refused, as it may declare entities "
             "(billion laughs, external files)");
}

static void on_entity_decl(void *ud, const XML_Char *name, int is_param, const XML_Char *value,
                           int value_len, const XML_Char *base, const XML_Char *sysid,
                           const XML_Char *pubid, const XML_Char *notation)
{
    (void)name;
    (void)is_param;
    (void)value;
    (void)value_len;
    (void)base;
    (void)sysid;
    (void)pubid;
    (void)notation;
    stop(ud, "the document declares an entity: refused");
}

/* ---- the document ------------------------------------------------------------ */

static int finish_thunderbird(struct ac_parse *a, char *err, size_t errlen)
{
    struct autoconfig_doc *out = a->out;
    out->action = AUTOCONFIG_SETTINGS;
    if (!a->provider_seen) {
        snprintf(err, errlen, "<clientConfig> without an <emailProvider>");
        return -1;
    }
    if (out->nservers == 0 && out->nother == 0) {
        snprintf(err, errlen, "no server a mail client can use (%u entries unusable)",
                 out->nskipped);
        return -1;
    }
    return 0;
}

static int finish_autodiscover(struct ac_parse *a, char *err, size_t errlen)
{
    struct autoconfig_doc *out = a->out;
    if (a->error_seen && !a->account_seen) {
        out->action = AUTOCONFIG_ERROR;
        snprintf(out->error, sizeof(out->error), "error %s%s%s",
                 a->error_code[0] ? a->error_code : "?", a->message[0] ? ": " : "", a->message);
        return 0;
    }
    if (!a->account_seen) {
        snprintf(err, errlen, "an Autodiscover response without <Account> or <Error>");
        return -1;
    }
    if (strcasecmp(a->action, "redirectAddr") == 0) {
        const char *at = strchr(a->redirect_addr, '@');
        if (at == NULL || at == a->redirect_addr || at[1] == '\0' ||
            strpbrk(a->redirect_addr, " <>\"'&") != NULL) {
            snprintf(err, errlen, "redirectAddr without a usable address ('%.100s')",
                     a->redirect_addr);
            return -1;
        }
        out->action = AUTOCONFIG_REDIRECT_ADDR;
        snprintf(out->redirect, sizeof(out->redirect), "%s", a->redirect_addr);
        return 0;
    }
    if (strcasecmp(a->action, "redirectUrl") == 0) {
        if (strncasecmp(a->redirect_url, "https://", 8) != 0) {
            snprintf(err, errlen, "redirectUrl is not an https URL ('%.100s'): Outlook refuses it",
                     a->redirect_url);
            return -1;
        }
        out->action = AUTOCONFIG_REDIRECT_URL;
        snprintf(out->redirect, sizeof(out->redirect), "%s", a->redirect_url);
        return 0;
    }
    if (a->action[0] != '\0' && strcasecmp(a->action, "settings") != 0) {
        snprintf(err, errlen, "unknown Action '%.32s'", a->action);
        return -1;
    }
    out->action = AUTOCONFIG_SETTINGS;
    if (out->nservers == 0 && out->nother == 0) {
        snprintf(err, errlen, "settings without a usable <Protocol> (%u entries unusable)",
                 out->nskipped);
        return -1;
    }
    return 0;
}

int autoconfig_parse(enum autoconfig_dialect dialect, const char *buf, size_t len,
                     const char *mailbox, struct autoconfig_doc *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (len > AUTOCONFIG_DOC_MAX) {
        snprintf(err, errlen, "a document of %zu bytes, larger than %u: refused", len,
                 AUTOCONFIG_DOC_MAX);
        return -1;
    }
    if (len == 0) {
        snprintf(err, errlen, "an empty document");
        return -1;
    }
    struct ac_parse *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    a->dialect = dialect;
    a->out = out;
    a->mailbox = mailbox;
    a->xp = XML_ParserCreateNS(NULL, NS_SEP);
    if (a->xp == NULL) {
        free(a);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    XML_SetUserData(a->xp, a);
    XML_SetElementHandler(a->xp, on_start, on_end);
    XML_SetCharacterDataHandler(a->xp, on_text);
    XML_SetStartDoctypeDeclHandler(a->xp, on_doctype);
    XML_SetEntityDeclHandler(a->xp, on_entity_decl);
    /* No external entity reference handler is installed, and parameter
     * entities are never parsed: expat reads nothing but buf. */
    XML_SetParamEntityParsing(a->xp, XML_PARAM_ENTITY_PARSING_NEVER);
    int rc = -1;
    if (XML_Parse(a->xp, buf, (int)len, XML_TRUE) == XML_STATUS_ERROR) {
        if (a->failed)
            snprintf(err, errlen, "%s", a->err);
        else
            snprintf(err, errlen, "not well-formed XML: %s at line %lu",
                     XML_ErrorString(XML_GetErrorCode(a->xp)),
                     (unsigned long)XML_GetCurrentLineNumber(a->xp));
    } else if (a->failed) {
        snprintf(err, errlen, "%s", a->err);
    } else if (!a->root_ok) {
        snprintf(err, errlen, "no root element");
    } else if (dialect == AUTOCONFIG_THUNDERBIRD) {
        rc = finish_thunderbird(a, err, errlen);
    } else {
        rc = finish_autodiscover(a, err, errlen);
    }
    XML_ParserFree(a->xp);
    free(a);
    if (rc < 0) {
        memset(out, 0, sizeof(*out));
    }
    return rc;
}

int autoconfig_request(const char *mailbox, char *buf, size_t len)
{
    char esc[SPEC_MAILBOX_MAX * 6 + 1];
    size_t n = 0;
    for (const char *p = mailbox; *p && n + 7 < sizeof(esc); p++) {
        const char *rep = *p == '<'   ? "&lt;"
                          : *p == '>' ? "&gt;"
                          : *p == '&' ? "&amp;"
                          : *p == '"' ? "&quot;"
                                      : NULL;
        if (rep != NULL) {
            memcpy(esc + n, rep, strlen(rep));
            n += strlen(rep);
        } else {
            esc[n++] = *p;
        }
    }
    esc[n] = '\0';
    int w = snprintf(buf, len,
                     "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n"
                     "<Autodiscover xmlns=\"" AUTOCONFIG_NS_REQUEST "\">\r\n"
                     "  <Request>\r\n"
                     "    <EMailAddress>%s</EMailAddress>\r\n"
                     "    <AcceptableResponseSchema>" AUTOCONFIG_NS_OUTLOOK
                     "</AcceptableResponseSchema>\r\n"
                     "  </Request>\r\n"
                     "</Autodiscover>\r\n",
                     esc);
    return w >= 0 && (size_t)w < len ? w : -1;
}

int autoconfig_server_spec(enum autoconfig_proto proto, const char *host, uint16_t port,
                           enum autoconfig_socket socket, char *buf, size_t len)
{
    const char *scheme;
    bool ssl = socket == AUTOCONFIG_SSL;
    switch (proto) {
    case AUTOCONFIG_IMAP:
        scheme = ssl ? "imaps" : "imap";
        break;
    case AUTOCONFIG_POP3:
        scheme = ssl ? "pop3s" : "pop3";
        break;
    case AUTOCONFIG_SMTP:
        scheme = ssl ? "smtps" : port == 25 ? "smtp" : "submission";
        break;
    case AUTOCONFIG_PROTO_LAST:
    default:
        return -1;
    }
    char text[SPEC_TEXT_MAX + 1], perr[ERR_MAX];
    int n = snprintf(text, sizeof(text), "%s://%s:%u", scheme, host, port);
    struct spec s;
    if (n < 0 || (size_t)n >= sizeof(text) || !host_ok(host) ||
        spec_parse(text, &s, perr, sizeof(perr)) < 0)
        return -1;
    spec_format(&s, buf, len); /* canonical: the default port left out */
    return 0;
}
