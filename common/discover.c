/*
 * discover — a domain's DNS checks and the servers they name (discover.h).
 */
#include "discover.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Port of https/autodiscover: the autodiscover host is probed with TLS. */
#define DISCOVER_HTTPS_PORT 443

const struct discover_srv discover_srv_services[4] = {
    {"_imaps._tcp", SPEC_IMAPS},
    {"_imap._tcp", SPEC_IMAP},
    {"_submission._tcp", SPEC_SUBMISSION},
    {"_pop3s._tcp", SPEC_POP3S},
};

void discover_list_clear(struct discover_list *l)
{
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

bool discover_optional(const char *check)
{
    if (check == NULL || strncmp(check, "dns://", 6) != 0)
        return false;
    const char *type = strrchr(check, '/');
    if (type == NULL)
        return false;
    return strcasecmp(type, "/AAAA") == 0 || strcasecmp(type, "/SRV") == 0 ||
           strncasecmp(check + 6, "autodiscover.", 13) == 0;
}

bool discover_not_published(const char *check, bool ok, enum result_error error)
{
    return !ok && (error == RESULT_DNS_NXDOMAIN || error == RESULT_DNS_NODATA) &&
           discover_optional(check);
}

/* Canonical text of a spec, or -1 when it does not parse. */
static int canonical(const char *text, char *buf, size_t len, struct spec *s, char *err,
                     size_t errlen)
{
    struct spec tmp;
    if (s == NULL)
        s = &tmp;
    if (spec_parse(text, s, err, errlen) < 0)
        return -1;
    spec_format(s, buf, len);
    return 0;
}

static bool listed(const struct discover_list *l, const char *spec)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcasecmp(l->items[i].spec, spec) == 0)
            return true;
    return false;
}

static bool configured(const char *const *checks, size_t n, const char *spec)
{
    char buf[SPEC_TEXT_MAX + 1], err[8];
    for (size_t i = 0; i < n; i++)
        if (canonical(checks[i], buf, sizeof(buf), NULL, err, sizeof(err)) == 0 &&
            strcasecmp(buf, spec) == 0)
            return true;
    return false;
}

/* Adds text (canonicalised) unless listed already. 0 or -1 with err. */
static int add(struct discover_list *l, const char *text, bool discovered, char *err, size_t errlen)
{
    char buf[SPEC_TEXT_MAX + 1];
    if (canonical(text, buf, sizeof(buf), NULL, err, errlen) < 0)
        return -1;
    if (listed(l, buf))
        return 0;
    if (l->n >= DISCOVER_MAX)
        return 0; /* the first DISCOVER_MAX are kept: see discover.h */
    struct discover_check *grown = realloc(l->items, (l->n + 1) * sizeof(*grown));
    if (grown == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    l->items = grown;
    snprintf(grown[l->n].spec, sizeof(grown[l->n].spec), "%s", buf);
    grown[l->n].discovered = discovered;
    l->n++;
    return 0;
}

/* Adds "dns://NAME/TYPE". */
static int add_dns(struct discover_list *l, const char *prefix, const char *name, const char *type,
                   char *err, size_t errlen)
{
    char text[SPEC_TEXT_MAX + 1];
    snprintf(text, sizeof(text), "dns://%s%s%s/%s", prefix ? prefix : "", prefix ? "." : "", name,
             type);
    return add(l, text, false, err, errlen);
}

int discover_dns_checks(const char *domain, const char *const *checks, size_t nchecks,
                        struct discover_list *out, char *err, size_t errlen)
{
    char buf[SPEC_TEXT_MAX + 1];
    struct spec s;
    if (domain == NULL || domain[0] == '\0') {
        snprintf(err, errlen, "no domain given");
        return -1;
    }
    if (add_dns(out, NULL, domain, "MX", err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < sizeof(discover_srv_services) / sizeof(discover_srv_services[0]); i++)
        if (add_dns(out, discover_srv_services[i].service, domain, "SRV", err, errlen) < 0)
            return -1;
    if (add_dns(out, "autodiscover", domain, "A", err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < nchecks; i++) {
        if (canonical(checks[i], buf, sizeof(buf), &s, err, errlen) < 0)
            return -1;
        if (s.kind == SPEC_DNS || strchr(s.host, ':') != NULL ||
            strspn(s.host, "0123456789.") == strlen(s.host))
            continue; /* a DNS check already, or an address literal */
        if (s.kind == SPEC_RDAP || s.kind == SPEC_AUTOCONFIG)
            continue; /* names a domain, not a server to connect to */
        if (add_dns(out, NULL, s.host, "A", err, errlen) < 0 ||
            add_dns(out, NULL, s.host, "AAAA", err, errlen) < 0)
            return -1;
    }
    return 0;
}

static bool same_name(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 0 && a[la - 1] == '.')
        la--;
    if (lb > 0 && b[lb - 1] == '.')
        lb--;
    return la == lb && strncasecmp(a, b, la) == 0;
}

/* Adds a discovered server check unless it is configured. */
static int add_server(struct discover_list *out, const char *const *checks, size_t nchecks,
                      enum spec_kind kind, const char *host, unsigned port, char *err,
                      size_t errlen)
{
    char text[SPEC_TEXT_MAX + 1], canon[SPEC_TEXT_MAX + 1], perr[128];
    size_t hl = strlen(host);
    if (hl == 0 || strcmp(host, ".") == 0)
        return 0; /* RFC 2782: "." = the service is decidedly not available */
    if (host[hl - 1] == '.')
        hl--;
    if (port != 0)
        snprintf(text, sizeof(text), "%s://%.*s:%u", spec_scheme(kind), (int)hl, host, port);
    else
        snprintf(text, sizeof(text), "%s://%.*s", spec_scheme(kind), (int)hl, host);
    /* A name the zone gives that is not a valid spec is skipped, not an
     * error of ours: the DNS check's own result shows it. */
    if (canonical(text, canon, sizeof(canon), NULL, perr, sizeof(perr)) < 0)
        return 0;
    if (configured(checks, nchecks, canon))
        return 0;
    return add(out, canon, true, err, errlen);
}

/* The spec kind a client would use for an advertised server: SSL/TLS on
 * connect or STARTTLS, as autoconfig and autodiscover say; plain IMAP or
 * POP3 (no client should be told that) and unknown protocols are not
 * probed. SPEC_KIND_LAST = none. */
static enum spec_kind advertised_kind(const char *protocol, const char *socket)
{
    bool ssl = socket != NULL && strcasecmp(socket, "ssl") == 0;
    bool starttls = socket != NULL && strcasecmp(socket, "starttls") == 0;
    if (protocol == NULL)
        return SPEC_KIND_LAST;
    if (strcasecmp(protocol, "imap") == 0)
        return ssl ? SPEC_IMAPS : starttls ? SPEC_IMAP : SPEC_KIND_LAST;
    if (strcasecmp(protocol, "pop3") == 0)
        return ssl ? SPEC_POP3S : starttls ? SPEC_POP3 : SPEC_KIND_LAST;
    if (strcasecmp(protocol, "smtp") == 0)
        return ssl ? SPEC_SMTPS : starttls ? SPEC_SUBMISSION : SPEC_SMTP;
    return SPEC_KIND_LAST;
}

/* The servers an autoconfig://domain result's sources advertise. */
static int from_autoconfig(const char *domain, const char *const *checks, size_t nchecks,
                           const struct result *r, struct discover_list *out, char *err,
                           size_t errlen)
{
    char host[SPEC_HOST_MAX + 1];
    if (r->check == NULL || strncasecmp(r->check, "autoconfig://", 13) != 0)
        return 0;
    size_t hl = strcspn(r->check + 13, "?/");
    if (hl >= sizeof(host))
        return 0;
    memcpy(host, r->check + 13, hl);
    host[hl] = '\0';
    if (!same_name(host, domain))
        return 0;
    for (size_t i = 0; i < r->nautoconfig; i++) {
        const struct result_autoconfig *a = &r->autoconfig[i];
        for (size_t j = 0; j < a->nservers; j++) {
            const struct result_autoconfig_server *sv = &a->servers[j];
            enum spec_kind k = advertised_kind(sv->protocol, sv->socket);
            if (k == SPEC_KIND_LAST || sv->host == NULL)
                continue;
            if (add_server(out, checks, nchecks, k, sv->host, sv->port, err, errlen) < 0)
                return -1;
        }
    }
    return 0;
}

int discover_from_results(const char *domain, const char *const *checks, size_t nchecks,
                          const struct result *results, size_t nresults, struct discover_list *out,
                          char *err, size_t errlen)
{
    char name[RESULT_NAME_MAX + 1];
    for (size_t i = 0; i < nresults; i++) {
        const struct result *r = &results[i];
        for (size_t k = 0; k < r->ndns; k++) {
            const struct result_dns *d = &r->dns[k];
            if (d->name == NULL || d->type == NULL)
                continue;
            if (strcmp(d->type, "MX") == 0 && same_name(d->name, domain)) {
                for (size_t a = 0; a < d->nanswers; a++) {
                    unsigned pref;
                    char host[RESULT_NAME_MAX + 1];
                    if (sscanf(d->answers[a], "%u %255s", &pref, host) == 2 &&
                        add_server(out, checks, nchecks, SPEC_SMTP, host, 0, err, errlen) < 0)
                        return -1;
                }
            }
            if (strcmp(d->type, "SRV") == 0) {
                for (size_t s = 0;
                     s < sizeof(discover_srv_services) / sizeof(discover_srv_services[0]); s++) {
                    snprintf(name, sizeof(name), "%s.%s", discover_srv_services[s].service, domain);
                    if (!same_name(d->name, name))
                        continue;
                    for (size_t a = 0; a < d->nanswers; a++) {
                        unsigned prio, weight, port;
                        char host[RESULT_NAME_MAX + 1];
                        if (sscanf(d->answers[a], "%u %u %u %255s", &prio, &weight, &port, host) ==
                                4 &&
                            add_server(out, checks, nchecks, discover_srv_services[s].kind, host,
                                       port, err, errlen) < 0)
                            return -1;
                    }
                }
            }
        }
        if (from_autoconfig(domain, checks, nchecks, r, out, err, errlen) < 0)
            return -1;
        snprintf(name, sizeof(name), "dns://autodiscover.%s/A", domain);
        if (r->ok && r->check != NULL && strcasecmp(r->check, name) == 0) {
            snprintf(name, sizeof(name), "autodiscover.%s", domain);
            if (add_server(out, checks, nchecks, SPEC_TLS, name, DISCOVER_HTTPS_PORT, err, errlen) <
                0)
                return -1;
        }
    }
    return 0;
}
