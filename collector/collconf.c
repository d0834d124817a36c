/*
 * collconf — collector.conf parsing and validation (collconf.h).
 */
#include "collconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "spec.h"
#include "transport.h"

static const char *const collector_keys[] = {"listen",          "database", "secret_key",
                                             "authorized_keys", "control",  "insecure_plaintext",
                                             "log_level",       NULL};
static const char *const target_keys[] = {"domain", "interval", "timeout", "credentials",
                                          /* warnings (load_warnings) */
                                          "cert_warn_days", NULL};
static const char *const target_lists[] = {"check", NULL};

/* An ipc:// endpoint's path is resolved like a file path. */
static char *resolve_endpoint(const char *conf_path, const char *value)
{
    if (strncmp(value, "ipc://", 6) != 0 || value[6] == '/')
        return strdup(value);
    char *p = config_resolve_path(conf_path, value + 6);
    if (p == NULL)
        return NULL;
    size_t len = strlen(p) + 7;
    char *out = malloc(len);
    if (out != NULL)
        snprintf(out, len, "ipc://%s", p);
    free(p);
    return out;
}

static int set_path(const struct config *c, const struct config_section *s, const char *key,
                    const char *def, char **out, int endpoint)
{
    const struct config_entry *e = config_get(s, key);
    const char *v = e ? e->value : def;
    if (v == NULL) {
        *out = NULL;
        return 0;
    }
    *out = endpoint ? resolve_endpoint(config_path(c), v) : config_resolve_path(config_path(c), v);
    return *out ? 0 : -1;
}

/* FNV-1a over the canonical target list: equal sets, equal versions. */
static void hash_str(uint64_t *h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        *h ^= *p;
        *h *= 1099511628211ULL;
    }
    *h ^= 0xff;
    *h *= 1099511628211ULL;
}

static int make_version(struct wire_config *w)
{
    uint64_t h = 1469598103934665603ULL;
    char num[32];
    for (size_t i = 0; i < w->ntargets; i++) {
        const struct wire_target *t = &w->targets[i];
        hash_str(&h, t->name);
        hash_str(&h, t->domain);
        for (size_t j = 0; j < t->nchecks; j++)
            hash_str(&h, t->checks[j]);
        snprintf(num, sizeof(num), "%u/%u", t->interval_ms, t->timeout_ms);
        hash_str(&h, num);
        hash_str(&h, t->credentials);
    }
    char hex[17];
    snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)h);
    w->version = strdup(hex);
    return w->version ? 0 : -1;
}

static int load_target(const struct config *c, const struct config_section *s,
                       struct wire_target *t, char *err, size_t errlen)
{
    int64_t interval, timeout;
    char serr[256];

    if (config_check_keys(c, s, target_keys, target_lists, err, errlen) < 0)
        return -1;
    if (config_get_duration(c, s, "interval", COLLCONF_DEFAULT_INTERVAL_MS * 1000LL, 1000000,
                            86400LL * 1000000, &interval, err, errlen) < 0 ||
        config_get_duration(c, s, "timeout", COLLCONF_DEFAULT_TIMEOUT_MS * 1000LL, 100000,
                            600LL * 1000000, &timeout, err, errlen) < 0)
        return -1;
    t->interval_ms = (uint32_t)(interval / 1000);
    t->timeout_ms = (uint32_t)(timeout / 1000);
    if ((t->name = strdup(s->label)) == NULL)
        return -1;
    const struct config_entry *e = config_get(s, "domain");
    if (e != NULL) {
        struct spec probe;
        char spec_text[SPEC_TEXT_MAX];
        snprintf(spec_text, sizeof(spec_text), "dns://%s/MX", e->value);
        if (spec_parse(spec_text, &probe, serr, sizeof(serr)) < 0) {
            config_error(c, e, err, errlen, "'%.64s' is not a domain name", e->value);
            return -1;
        }
        if ((t->domain = strdup(e->value)) == NULL)
            return -1;
    }
    e = config_get(s, "credentials");
    if (e != NULL && (t->credentials = strdup(e->value)) == NULL)
        return -1;
    for (size_t i = 0; i < s->nentries; i++) {
        e = &s->entries[i];
        if (strcmp(e->key, "check") != 0)
            continue;
        struct spec sp;
        if (spec_parse(e->value, &sp, serr, sizeof(serr)) < 0) {
            config_error(c, e, err, errlen, "%s", serr);
            return -1;
        }
        if (t->nchecks >= WIRE_CHECKS_MAX) {
            config_error(c, e, err, errlen, "more than %d checks in one target", WIRE_CHECKS_MAX);
            return -1;
        }
        char canon[SPEC_TEXT_MAX];
        spec_format(&sp, canon, sizeof(canon));
        char **grown = realloc(t->checks, (t->nchecks + 1) * sizeof(char *));
        if (grown == NULL)
            return -1;
        t->checks = grown;
        if ((t->checks[t->nchecks] = strdup(canon)) == NULL)
            return -1;
        t->nchecks++;
    }
    if (t->nchecks == 0 && t->domain == NULL) {
        snprintf(err, errlen,
                 "%s:%d: [target %s] has neither a check nor a domain; add 'check = imaps://HOST' "
                 "or 'domain = DOMAIN'",
                 config_path(c), s->line, s->label);
        return -1;
    }
    return 0;
}

/* The collector's own target keys for warnings: the diagnosis reads
 * them, agents never see them (they are not in the wire's targets nor in
 * its version hash). Returns 0, -1 with err, or -1 with err empty when out
 * of memory. */
static int load_warnings(const struct config *c, struct collconf *cc, char *err, size_t errlen)
{
    cc->cert_warn_days = calloc(cc->targets.ntargets ? cc->targets.ntargets : 1, sizeof(unsigned));
    if (cc->cert_warn_days == NULL)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < config_nsections(c); i++) {
        const struct config_section *s = config_section_at(c, i);
        if (strcmp(s->kind, "target") != 0)
            continue;
        uint64_t days;
        if (config_get_uint(c, s, "cert_warn_days", COLLCONF_DEFAULT_CERT_WARN_DAYS, 0,
                            COLLCONF_CERT_WARN_DAYS_MAX, &days, err, errlen) < 0)
            return -1;
        cc->cert_warn_days[n++] = (unsigned)days;
    }
    return 0;
}

unsigned collconf_cert_warn_days(const struct collconf *c, const char *name)
{
    for (size_t i = 0; i < c->targets.ntargets; i++)
        if (strcmp(c->targets.targets[i].name, name) == 0)
            return c->cert_warn_days != NULL ? c->cert_warn_days[i]
                                             : COLLCONF_DEFAULT_CERT_WARN_DAYS;
    return COLLCONF_DEFAULT_CERT_WARN_DAYS;
}

struct collconf *collconf_load(const char *path, char *err, size_t errlen)
{
    struct config *c = config_load(path, err, errlen);
    if (c == NULL)
        return NULL;
    struct collconf *cc = calloc(1, sizeof(*cc));
    if (cc == NULL)
        goto oom;
    cc->path = strdup(path);
    const struct config_section *main_s = NULL;
    size_t ntargets = 0;
    for (size_t i = 0; i < config_nsections(c); i++) {
        const struct config_section *s = config_section_at(c, i);
        if (strcmp(s->kind, "collector") == 0 && s->label[0] == '\0') {
            if (main_s != NULL) {
                snprintf(err, errlen,
                         "%s:%d: a second [collector] section (the first is on line %d)", path,
                         s->line, main_s->line);
                goto fail;
            }
            main_s = s;
        } else if (strcmp(s->kind, "target") == 0 && s->label[0] != '\0') {
            for (size_t j = 0; j < i; j++) {
                const struct config_section *o = config_section_at(c, j);
                if (strcmp(o->kind, "target") == 0 && strcmp(o->label, s->label) == 0) {
                    snprintf(err, errlen, "%s:%d: target '%s' is defined twice (first on line %d)",
                             path, s->line, s->label, o->line);
                    goto fail;
                }
            }
            ntargets++;
        } else {
            snprintf(err, errlen,
                     "%s:%d: unknown section [%s%s%s]; expected [collector] or [target NAME]", path,
                     s->line, s->kind, s->label[0] ? " " : "", s->label);
            goto fail;
        }
    }
    if (main_s == NULL) {
        snprintf(err, errlen, "%s: no [collector] section", path);
        goto fail;
    }
    if (ntargets > WIRE_TARGETS_MAX) {
        snprintf(err, errlen, "%s: more than %d targets", path, WIRE_TARGETS_MAX);
        goto fail;
    }
    if (config_check_keys(c, main_s, collector_keys, NULL, err, errlen) < 0)
        goto fail;
    int plain;
    if (config_get_bool(c, main_s, "insecure_plaintext", 0, &plain, err, errlen) < 0)
        goto fail;
    cc->insecure_plaintext = plain;
    if (set_path(c, main_s, "listen", COLLCONF_DEFAULT_LISTEN, &cc->listen, 1) < 0 ||
        set_path(c, main_s, "database", COLLCONF_DEFAULT_DATABASE, &cc->database, 0) < 0 ||
        set_path(c, main_s, "secret_key", NULL, &cc->secret_key, 0) < 0 ||
        set_path(c, main_s, "authorized_keys", NULL, &cc->authorized_keys, 0) < 0 ||
        set_path(c, main_s, "control", NULL, &cc->control, 1) < 0 ||
        set_path(c, main_s, "log_level", "info", &cc->log_level, 0) < 0)
        goto oom;
    if (cc->control == NULL) {
        /* Beside the database: the CLI finds it from the same file. */
        const char *db = strncmp(cc->database, "sqlite:", 7) == 0 ? cc->database + 7 : cc->database;
        size_t len = strlen(db) + 16;
        cc->control = malloc(len);
        if (cc->control == NULL)
            goto oom;
        snprintf(cc->control, len, "ipc://%s.control", db);
    }
    if (!cc->insecure_plaintext && (cc->secret_key == NULL || cc->authorized_keys == NULL)) {
        snprintf(err, errlen,
                 "%s:%d: [collector] needs secret_key and authorized_keys (CURVE is on; make keys "
                 "with 'vantage-collector keygen --out DIR')",
                 path, main_s->line);
        goto fail;
    }
    if (!cc->insecure_plaintext) {
        const struct config_entry *e = config_get(main_s, "secret_key");
        char why[CONFIG_ERR_MAX];
        if (transport_key_file_public(cc->secret_key, e->value, NULL, why, sizeof(why))) {
            config_error(c, e, err, errlen, "%s", why);
            goto fail;
        }
    }
    cc->targets.targets = calloc(ntargets ? ntargets : 1, sizeof(struct wire_target));
    if (cc->targets.targets == NULL)
        goto oom;
    for (size_t i = 0; i < config_nsections(c); i++) {
        const struct config_section *s = config_section_at(c, i);
        if (strcmp(s->kind, "target") != 0)
            continue;
        struct wire_target *t = &cc->targets.targets[cc->targets.ntargets++];
        err[0] = '\0';
        if (load_target(c, s, t, err, errlen) < 0) {
            if (err[0] == '\0')
                goto oom;
            goto fail;
        }
    }
    err[0] = '\0';
    if (load_warnings(c, cc, err, errlen) < 0) {
        if (err[0] == '\0')
            goto oom;
        goto fail;
    }
    if (make_version(&cc->targets) < 0)
        goto oom;
    config_destroy(&c);
    return cc;
oom:
    snprintf(err, errlen, "%s: out of memory", path);
fail:
    config_destroy(&c);
    collconf_destroy(&cc);
    return NULL;
}

void collconf_destroy(struct collconf **cp)
{
    if (cp == NULL || *cp == NULL)
        return;
    struct collconf *c = *cp;
    free(c->path);
    free(c->listen);
    free(c->database);
    free(c->secret_key);
    free(c->authorized_keys);
    free(c->control);
    free(c->log_level);
    wire_config_clear(&c->targets);
    free(c->cert_warn_days);
    free(c);
    *cp = NULL;
}

const struct wire_target *collconf_target(const struct collconf *c, const char *name)
{
    for (size_t i = 0; i < c->targets.ntargets; i++)
        if (strcmp(c->targets.targets[i].name, name) == 0)
            return &c->targets.targets[i];
    return NULL;
}
