/*
 * rdap — bootstrap and domain answers (see rdap.h).
 */
#include "rdap.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct rdap_entry {
    char *label; /* lower case, no dots at the ends */
    char *url;   /* NULL: the service names no server */
};

struct rdap_bootstrap {
    struct rdap_entry *e;
    size_t n;
};

/* Copies a JSON string into a fixed buffer, lower-cased when asked, with
 * control characters replaced: what we keep is printed and sent on. */
static void copy_text(char *dst, size_t cap, const char *src, bool lower)
{
    size_t i = 0;
    for (; src[i] != '\0' && i + 1 < cap; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[i] = ch < ' ' || ch == 0x7f ? '?' : lower ? (char)tolower(ch) : (char)ch;
    }
    dst[i] = '\0';
}

/* ---- bootstrap -------------------------------------------------------------- */

void rdap_bootstrap_destroy(struct rdap_bootstrap **bp)
{
    if (bp == NULL || *bp == NULL)
        return;
    struct rdap_bootstrap *b = *bp;
    for (size_t i = 0; i < b->n; i++) {
        free(b->e[i].label);
        free(b->e[i].url);
    }
    free(b->e);
    free(b);
    *bp = NULL;
}

size_t rdap_bootstrap_count(const struct rdap_bootstrap *b)
{
    return b->n;
}

/* The service's first https URL, else its first http one; NULL when none. */
static const char *pick_url(json_t *urls)
{
    const char *http = NULL;
    size_t i;
    json_t *u;
    json_array_foreach(urls, i, u)
    {
        const char *s = json_string_value(u);
        if (s == NULL || strlen(s) > RDAP_URL_MAX)
            continue;
        if (strncasecmp(s, "https://", 8) == 0)
            return s;
        if (http == NULL && strncasecmp(s, "http://", 7) == 0)
            http = s;
    }
    return http;
}

struct rdap_bootstrap *rdap_bootstrap_parse(const char *buf, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        snprintf(err, errlen, "the RDAP bootstrap file is not JSON: %s (line %d)", je.text,
                 je.line);
        return NULL;
    }
    json_t *services = json_object_get(root, "services");
    if (!json_is_array(services)) {
        snprintf(err, errlen, "the RDAP bootstrap file has no \"services\" list (RFC 9224 §3)");
        json_decref(root);
        return NULL;
    }
    struct rdap_bootstrap *b = calloc(1, sizeof(*b));
    if (b == NULL)
        goto oom;
    size_t i;
    json_t *svc;
    json_array_foreach(services, i, svc)
    {
        json_t *labels = json_array_get(svc, 0), *urls = json_array_get(svc, 1);
        if (!json_is_array(labels) || !json_is_array(urls))
            continue;
        const char *url = pick_url(urls);
        size_t k;
        json_t *l;
        json_array_foreach(labels, k, l)
        {
            const char *s = json_string_value(l);
            if (s == NULL || s[0] == '\0' || strlen(s) > RDAP_NAME_MAX)
                continue;
            if (b->n >= RDAP_BOOTSTRAP_ENTRIES_MAX) {
                snprintf(err, errlen, "the RDAP bootstrap file lists more than %d labels",
                         RDAP_BOOTSTRAP_ENTRIES_MAX);
                json_decref(root);
                rdap_bootstrap_destroy(&b);
                return NULL;
            }
            if ((b->n & (b->n - 1)) == 0) { /* grow at powers of two */
                struct rdap_entry *grown = realloc(b->e, (b->n ? 2 * b->n : 1) * sizeof(*grown));
                if (grown == NULL)
                    goto oom;
                b->e = grown;
            }
            char label[RDAP_NAME_MAX + 1];
            copy_text(label, sizeof(label), s[0] == '.' ? s + 1 : s, true);
            size_t ll = strlen(label);
            if (ll > 0 && label[ll - 1] == '.')
                label[ll - 1] = '\0';
            b->e[b->n].label = strdup(label);
            b->e[b->n].url = url != NULL ? strdup(url) : NULL;
            b->n++;
            if (b->e[b->n - 1].label == NULL || (url != NULL && b->e[b->n - 1].url == NULL))
                goto oom;
        }
    }
    json_decref(root);
    return b;
oom:
    snprintf(err, errlen, "out of memory reading the RDAP bootstrap file");
    json_decref(root);
    rdap_bootstrap_destroy(&b);
    return NULL;
}

int rdap_bootstrap_lookup(const struct rdap_bootstrap *b, const char *domain, char *url, size_t len)
{
    char name[RDAP_NAME_MAX + 1];
    copy_text(name, sizeof(name), domain, true);
    size_t nl = strlen(name);
    if (nl > 0 && name[nl - 1] == '.')
        name[--nl] = '\0';
    /* Try "example.co.uk", then "co.uk", then "uk": the longest match wins. */
    for (const char *suffix = name; suffix != NULL;) {
        for (size_t i = 0; i < b->n; i++) {
            if (strcmp(b->e[i].label, suffix) != 0)
                continue;
            if (b->e[i].url == NULL)
                return 0;
            int n = snprintf(url, len, "%s", b->e[i].url);
            return n >= 0 && (size_t)n < len ? 1 : -1;
        }
        const char *dot = strchr(suffix, '.');
        suffix = dot != NULL ? dot + 1 : NULL;
    }
    return 0;
}

int rdap_domain_url(const char *base, const char *domain, char *out, size_t len)
{
    size_t bl = strlen(base);
    int n =
        snprintf(out, len, "%s%sdomain/%s", base, bl > 0 && base[bl - 1] == '/' ? "" : "/", domain);
    return n >= 0 && (size_t)n < len ? 0 : -1;
}

/* ---- domain answers ---------------------------------------------------------- */

int64_t rdap_time_parse(const char *s)
{
    int y, mo, d, h, mi, sec, consumed = 0;
    if (s == NULL ||
        sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &consumed) != 6 ||
        consumed != 19)
        return -1;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    const char *p = s + consumed;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    int offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, oc = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &oc) != 2 || oc != 5 || oh > 23 || om > 59)
            return -1;
        offset = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    return (int64_t)timegm(&tm) - offset;
}

bool rdap_status_hold(const char *status)
{
    static const char *const hold[] = {"client hold", "server hold", "redemption period",
                                       "pending delete"};
    for (size_t i = 0; i < sizeof(hold) / sizeof(hold[0]); i++)
        if (strcasecmp(status, hold[i]) == 0)
            return true;
    return false;
}

bool rdap_content_type_ok(const char *ct)
{
    while (*ct == ' ')
        ct++;
    size_t n = strcspn(ct, "; ");
    return (n == 21 && strncasecmp(ct, "application/rdap+json", 21) == 0) ||
           (n == 16 && strncasecmp(ct, "application/json", 16) == 0);
}

/* The registrar's name: the "fn" of the vCard of an entity with role
 * "registrar" (RFC 9083 §5.1, jCard RFC 7095). */
static void find_registrar(json_t *entities, char *out, size_t cap)
{
    size_t i;
    json_t *ent;
    json_array_foreach(entities, i, ent)
    {
        json_t *roles = json_object_get(ent, "roles");
        bool registrar = false;
        size_t k;
        json_t *r;
        json_array_foreach(roles, k, r)
        {
            const char *s = json_string_value(r);
            registrar = registrar || (s != NULL && strcasecmp(s, "registrar") == 0);
        }
        if (!registrar)
            continue;
        json_t *props = json_array_get(json_object_get(ent, "vcardArray"), 1);
        json_t *prop;
        json_array_foreach(props, k, prop)
        {
            const char *name = json_string_value(json_array_get(prop, 0));
            const char *value = json_string_value(json_array_get(prop, 3));
            if (name != NULL && value != NULL && strcasecmp(name, "fn") == 0 && value[0] != '\0') {
                copy_text(out, cap, value, false);
                return;
            }
        }
        /* No vCard: a handle is better than nothing. */
        const char *handle = json_string_value(json_object_get(ent, "handle"));
        if (handle != NULL && out[0] == '\0')
            copy_text(out, cap, handle, false);
    }
}

int rdap_domain_parse(const char *buf, size_t len, struct rdap_domain *out, char *err,
                      size_t errlen)
{
    memset(out, 0, sizeof(*out));
    json_error_t je;
    json_t *root = json_loadb(buf, len, 0, &je);
    if (root == NULL) {
        snprintf(err, errlen, "the answer is not JSON: %s (line %d)", je.text, je.line);
        return -1;
    }
    const char *cls = json_string_value(json_object_get(root, "objectClassName"));
    if (!json_is_object(root) || cls == NULL || strcmp(cls, "domain") != 0) {
        const char *title = json_string_value(json_object_get(root, "title"));
        json_t *code = json_object_get(root, "errorCode");
        if (json_is_integer(code))
            snprintf(err, errlen,
                     "an RDAP error object (errorCode %lld%s%.100s) instead of a domain",
                     (long long)json_integer_value(code), title ? ": " : "", title ? title : "");
        else
            snprintf(err, errlen, "not an RDAP domain object (objectClassName \"%.32s\")",
                     cls ? cls : "");
        json_decref(root);
        return -1;
    }
    const char *ldh = json_string_value(json_object_get(root, "ldhName"));
    if (ldh != NULL) {
        copy_text(out->ldh_name, sizeof(out->ldh_name), ldh, true);
        size_t n = strlen(out->ldh_name);
        if (n > 0 && out->ldh_name[n - 1] == '.')
            out->ldh_name[n - 1] = '\0';
    }
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(root, "status"), i, v)
    {
        const char *s = json_string_value(v);
        if (s != NULL && out->nstatus < RDAP_STATUS_MAX)
            copy_text(out->status[out->nstatus++], RDAP_STATUS_TEXT, s, true);
    }
    json_array_foreach(json_object_get(root, "events"), i, v)
    {
        const char *action = json_string_value(json_object_get(v, "eventAction"));
        int64_t t = rdap_time_parse(json_string_value(json_object_get(v, "eventDate")));
        if (action == NULL || t <= 0)
            continue;
        if (strcasecmp(action, "expiration") == 0)
            out->expires = t;
        else if (strcasecmp(action, "registration") == 0)
            out->registered = t;
    }
    json_array_foreach(json_object_get(root, "nameservers"), i, v)
    {
        const char *s = json_string_value(json_object_get(v, "ldhName"));
        if (s == NULL || out->nnameservers >= RDAP_NS_MAX)
            continue;
        char *ns = out->nameservers[out->nnameservers++];
        copy_text(ns, RDAP_NAME_MAX + 1, s, true);
        size_t n = strlen(ns);
        if (n > 0 && ns[n - 1] == '.')
            ns[n - 1] = '\0';
    }
    find_registrar(json_object_get(root, "entities"), out->registrar, sizeof(out->registrar));
    const char *self = NULL;
    json_array_foreach(json_object_get(root, "links"), i, v)
    {
        const char *rel = json_string_value(json_object_get(v, "rel"));
        const char *href = json_string_value(json_object_get(v, "href"));
        if (rel != NULL && href != NULL && strcasecmp(rel, "self") == 0)
            self = href;
    }
    json_array_foreach(json_object_get(root, "links"), i, v)
    {
        const char *rel = json_string_value(json_object_get(v, "rel"));
        const char *href = json_string_value(json_object_get(v, "href"));
        const char *type = json_string_value(json_object_get(v, "type"));
        /* The registrar's RDAP answer about this domain: rel "related",
         * an RDAP type (or none) and a .../domain/... URL (RFC 9083 §4.2;
         * ICANN's gTLD RDAP profile §2.10). */
        if (rel == NULL || href == NULL || strcasecmp(rel, "related") != 0 ||
            strlen(href) > RDAP_URL_MAX || strncasecmp(href, "http", 4) != 0 ||
            strstr(href, "/domain/") == NULL || (self != NULL && strcmp(self, href) == 0) ||
            (type != NULL && !rdap_content_type_ok(type)))
            continue;
        copy_text(out->related, sizeof(out->related), href, false);
        break;
    }
    json_decref(root);
    return 0;
}
