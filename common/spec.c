/*
 * spec — check spec parsing (spec.h).
 */
#include "spec.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *scheme;
    uint16_t port;
    int implicit_tls;
} kinds[SPEC_KIND_LAST] = {
    [SPEC_IMAPS] = {"imaps", 993, 1}, [SPEC_IMAP] = {"imap", 143, 0},
    [SPEC_POP3S] = {"pop3s", 995, 1}, [SPEC_POP3] = {"pop3", 110, 0},
    [SPEC_SMTPS] = {"smtps", 465, 1}, [SPEC_SUBMISSION] = {"submission", 587, 0},
    [SPEC_SMTP] = {"smtp", 25, 0},    [SPEC_HTTPS] = {"https", 443, 1},
    [SPEC_TLS] = {"tls", 0, 1},       [SPEC_TCP] = {"tcp", 0, 0},
    [SPEC_DNS] = {"dns", 0, 0},       [SPEC_MAILFLOW] = {"mailflow", 0, 0},
};

static const char *const dns_types[] = {"A", "AAAA", "MX", "SRV", "CNAME", "TXT"};

const char *spec_scheme(enum spec_kind kind)
{
    return (unsigned)kind < SPEC_KIND_LAST ? kinds[kind].scheme : NULL;
}

uint16_t spec_default_port(enum spec_kind kind)
{
    return (unsigned)kind < SPEC_KIND_LAST ? kinds[kind].port : 0;
}

int spec_implicit_tls(enum spec_kind kind)
{
    return (unsigned)kind < SPEC_KIND_LAST ? kinds[kind].implicit_tls : 0;
}

/* Letters, digits, '-', '_' (SRV labels) and '.'; or an IP literal. */
static int host_char_ok(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.';
}

static int parse_dns(const char *rest, struct spec *out, char *err, size_t errlen)
{
    const char *slash = strrchr(rest, '/');
    if (slash == NULL || slash[1] == '\0') {
        snprintf(err, errlen,
                 "dns spec needs a record type: dns://NAME/TYPE (A, AAAA, MX, SRV, CNAME, TXT)");
        return -1;
    }
    size_t hlen = (size_t)(slash - rest);
    if (hlen == 0 || hlen > SPEC_HOST_MAX) {
        snprintf(err, errlen, "dns spec needs a name of 1 to %d characters", SPEC_HOST_MAX);
        return -1;
    }
    for (size_t i = 0; i < hlen; i++)
        if (!host_char_ok(rest[i])) {
            snprintf(err, errlen, "dns name contains '%c'", rest[i]);
            return -1;
        }
    memcpy(out->host, rest, hlen);
    out->host[hlen] = '\0';
    for (size_t i = 0; i < sizeof(dns_types) / sizeof(dns_types[0]); i++)
        if (strcasecmp(slash + 1, dns_types[i]) == 0) {
            snprintf(out->dns_type, sizeof(out->dns_type), "%s", dns_types[i]);
            return 0;
        }
    snprintf(err, errlen, "unknown DNS record type '%.16s' (use A, AAAA, MX, SRV, CNAME or TXT)",
             slash + 1);
    return -1;
}

/* RFC 5322 atext: what a dot-atom local part may hold, minus '?', which
 * starts the spec's query here. Quoted local parts are not supported. */
static int local_char_ok(char c)
{
    return isalnum((unsigned char)c) || (c != '\0' && strchr("!#$%&'*+-/=^_`{|}~.", c) != NULL);
}

static int mailbox_ok(const char *m, size_t len, char *err, size_t errlen)
{
    if (len == 0 || len > SPEC_MAILBOX_MAX) {
        snprintf(err, errlen,
                 "mailflow needs a mailbox of 1 to %d characters: mailflow://user@example.com or "
                 "mailflow://@CREDENTIALS",
                 SPEC_MAILBOX_MAX);
        return -1;
    }
    const char *at = memchr(m, '@', len);
    if (at == NULL) {
        snprintf(err, errlen,
                 "the mailbox '%.*s' is not an address: write user@example.com, or @CREDENTIALS "
                 "for the user of the agent's [credentials CREDENTIALS]",
                 (int)(len > 64 ? 64 : len), m);
        return -1;
    }
    if (at == m) {
        /* "@CREDENTIALS": a section name of agent.conf. */
        if (len == 1) {
            snprintf(err, errlen, "mailflow://@ needs the name of a [credentials] section");
            return -1;
        }
        for (size_t i = 1; i < len; i++)
            if (!(isalnum((unsigned char)m[i]) || m[i] == '-' || m[i] == '_' || m[i] == '.')) {
                snprintf(err, errlen,
                         "the credentials name after '@' contains '%c': use letters, digits, "
                         "'-', '_' or '.'",
                         m[i]);
                return -1;
            }
        return 0;
    }
    size_t llen = (size_t)(at - m), dlen = len - llen - 1;
    if (llen > 64 || dlen == 0 || dlen > SPEC_HOST_MAX) {
        snprintf(err, errlen,
                 "the mailbox needs a local part of 1 to 64 characters and a domain of 1 to %d",
                 SPEC_HOST_MAX);
        return -1;
    }
    for (size_t i = 0; i < llen; i++)
        if (!local_char_ok(m[i])) {
            snprintf(err, errlen, "the mailbox's local part contains '%c'", m[i]);
            return -1;
        }
    for (size_t i = 0; i < dlen; i++)
        if (!host_char_ok(at[1 + i])) {
            snprintf(err, errlen, "the mailbox's domain contains '%c'", at[1 + i]);
            return -1;
        }
    return 0;
}

/* One via= or read= value: a spec of an allowed kind, stored canonical. */
static int parse_sub(const char *key, const char *v, size_t len, char *dst, size_t dstlen,
                     char *err, size_t errlen)
{
    static const enum spec_kind via_kinds[] = {SPEC_SUBMISSION, SPEC_SMTPS, SPEC_SMTP};
    static const enum spec_kind read_kinds[] = {SPEC_IMAPS, SPEC_IMAP, SPEC_POP3S, SPEC_POP3};
    int via = strcmp(key, "via") == 0;
    char text[SPEC_SUB_MAX + 1];
    struct spec sub;

    if (dst[0] != '\0') {
        snprintf(err, errlen, "mailflow: %s= given twice", key);
        return -1;
    }
    if (len == 0 || len > SPEC_SUB_MAX) {
        snprintf(err, errlen, "mailflow: %s= needs a spec of 1 to %d characters", key,
                 SPEC_SUB_MAX);
        return -1;
    }
    memcpy(text, v, len);
    text[len] = '\0';
    char suberr[256];
    if (spec_parse(text, &sub, suberr, sizeof(suberr)) < 0) {
        snprintf(err, errlen, "mailflow: %s=%s: %s", key, text, suberr);
        return -1;
    }
    const enum spec_kind *ok = via ? via_kinds : read_kinds;
    size_t nok = via ? 3 : 4;
    for (size_t i = 0; i < nok; i++)
        if (sub.kind == ok[i]) {
            spec_format(&sub, dst, dstlen);
            return 0;
        }
    snprintf(err, errlen,
             via ? "mailflow: via=%s cannot send mail: use submission://, smtps:// or smtp://"
                 : "mailflow: read=%s cannot read a mailbox: use imaps://, imap://, pop3s:// or "
                   "pop3://",
             text);
    return -1;
}

static int parse_mailflow(const char *rest, struct spec *out, char *err, size_t errlen)
{
    const char *q = strchr(rest, '?');
    size_t mlen = q != NULL ? (size_t)(q - rest) : strlen(rest);

    if (mailbox_ok(rest, mlen, err, errlen) < 0)
        return -1;
    memcpy(out->mailbox, rest, mlen);
    out->mailbox[mlen] = '\0';
    if (q == NULL)
        return 0;
    const char *p = q + 1;
    if (*p == '\0') {
        snprintf(err, errlen, "mailflow: nothing after '?': write ?via=SPEC&read=SPEC");
        return -1;
    }
    while (*p != '\0') {
        const char *amp = strchr(p, '&');
        size_t plen = amp != NULL ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq != NULL ? (size_t)(eq - p) : plen;
        if (eq != NULL && klen == 3 && strncmp(p, "via", 3) == 0) {
            if (parse_sub("via", eq + 1, plen - 4, out->via, sizeof(out->via), err, errlen) < 0)
                return -1;
        } else if (eq != NULL && klen == 4 && strncmp(p, "read", 4) == 0) {
            if (parse_sub("read", eq + 1, plen - 5, out->read, sizeof(out->read), err, errlen) < 0)
                return -1;
        } else {
            snprintf(err, errlen, "mailflow: unknown parameter '%.*s' (use via= and read=)",
                     (int)(klen > 16 ? 16 : klen), p);
            return -1;
        }
        p += plen;
        if (*p == '&')
            p++;
    }
    return 0;
}

int spec_parse(const char *text, struct spec *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *sep = strstr(text, "://");
    if (sep == NULL) {
        snprintf(err, errlen,
                 "'%.64s' is not a check spec: expected SCHEME://HOST[:PORT], e.g. "
                 "imaps://mail.example.com",
                 text);
        return -1;
    }
    size_t slen = (size_t)(sep - text);
    int kind = -1;
    for (int i = 0; i < SPEC_KIND_LAST; i++)
        if (strlen(kinds[i].scheme) == slen && strncasecmp(text, kinds[i].scheme, slen) == 0)
            kind = i;
    if (kind < 0) {
        snprintf(err, errlen,
                 "unknown scheme '%.*s' (use imaps, imap, pop3s, pop3, smtps, submission, smtp, "
                 "https, tls, tcp, dns or mailflow)",
                 (int)(slen > 16 ? 16 : slen), text);
        return -1;
    }
    out->kind = (enum spec_kind)kind;
    const char *rest = sep + 3;
    if (out->kind == SPEC_DNS)
        return parse_dns(rest, out, err, errlen);
    if (out->kind == SPEC_MAILFLOW)
        return parse_mailflow(rest, out, err, errlen);

    const char *host = rest, *hend;
    const char *after;
    if (*host == '[') {
        hend = strchr(host, ']');
        if (hend == NULL) {
            snprintf(err, errlen, "unterminated '[' in IPv6 address");
            return -1;
        }
        host++;
        after = hend + 1;
    } else {
        hend = host;
        while (*hend && *hend != ':' && *hend != '/')
            hend++;
        after = hend;
    }
    size_t hlen = (size_t)(hend - host);
    if (hlen == 0 || hlen > SPEC_HOST_MAX) {
        snprintf(err, errlen, "the host must have 1 to %d characters", SPEC_HOST_MAX);
        return -1;
    }
    for (size_t i = 0; i < hlen; i++)
        if (!host_char_ok(host[i]) && host[i] != ':') {
            snprintf(err, errlen, "the host contains '%c'", host[i]);
            return -1;
        }
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';

    out->port = kinds[kind].port;
    if (*after == ':') {
        char *end;
        /* strtol alone would take " 25" and "+25". */
        long port = isdigit((unsigned char)after[1]) ? strtol(after + 1, &end, 10) : 0;
        if (port < 1 || port > 65535) {
            snprintf(err, errlen, "the port must be a number from 1 to 65535");
            return -1;
        }
        out->port = (uint16_t)port;
        after = end;
    }
    if (out->port == 0) {
        snprintf(err, errlen, "%s:// has no default port: write %s://HOST:PORT", kinds[kind].scheme,
                 kinds[kind].scheme);
        return -1;
    }
    if (*after == '/') {
        if (out->kind != SPEC_HTTPS && after[1] != '\0') {
            snprintf(err, errlen, "only https:// specs take a path");
            return -1;
        }
        if (strlen(after) > SPEC_PATH_MAX) {
            snprintf(err, errlen, "the path is longer than %d characters", SPEC_PATH_MAX);
            return -1;
        }
        for (const char *p = after; *p; p++)
            if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) {
                snprintf(err, errlen, "the path contains a space or control character");
                return -1;
            }
        if (out->kind == SPEC_HTTPS)
            snprintf(out->path, sizeof(out->path), "%s", after);
    } else if (*after != '\0') {
        snprintf(err, errlen, "unexpected '%.16s' after the host", after);
        return -1;
    }
    if (out->kind == SPEC_HTTPS && out->path[0] == '\0')
        snprintf(out->path, sizeof(out->path), "/");
    return 0;
}

void spec_format(const struct spec *s, char *buf, size_t len)
{
    const char *scheme = spec_scheme(s->kind);
    if (s->kind == SPEC_DNS) {
        snprintf(buf, len, "dns://%s/%s", s->host, s->dns_type);
        return;
    }
    if (s->kind == SPEC_MAILFLOW) {
        snprintf(buf, len, "mailflow://%s%s%s%s%s%s", s->mailbox,
                 s->via[0] || s->read[0] ? "?" : "", s->via[0] ? "via=" : "", s->via,
                 s->via[0] && s->read[0] ? "&read=" : (s->read[0] ? "read=" : ""), s->read);
        return;
    }
    int v6 = strchr(s->host, ':') != NULL;
    char port[8] = "";
    if (s->port != kinds[s->kind].port)
        snprintf(port, sizeof(port), ":%u", s->port);
    snprintf(buf, len, "%s://%s%s%s%s%s", scheme, v6 ? "[" : "", s->host, v6 ? "]" : "", port,
             s->kind == SPEC_HTTPS ? s->path : "");
}
