/*
 * collconf — collector.conf parsing and validation (collconf.h).
 */
#include "collconf.h"
#include "analysis.h"
#include "collconf_domain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "spec.h"
#include "transport.h"

/* Every key and what its value is: the one place that says which values
 * are paths, resolved from the config file's directory (config.h). */
/* One added key per line keeps merges of this table easy. */
/* clang-format off */
static const struct config_key collector_keys[] = {
    {"listen", CONFIG_ENDPOINT, false},  {"database", CONFIG_LOCATION, false},
    {"secret_key", CONFIG_PATH, false},  {"authorized_keys", CONFIG_PATH, false},
    {"control", CONFIG_ENDPOINT, false}, {"insecure_plaintext", CONFIG_TEXT, false},
    {"log_level", CONFIG_TEXT, false},
    {"rdap_bootstrap", CONFIG_LOCATION, false},
    /* continuous diagnosis (collector/notify/) */
    {"evaluate_every", CONFIG_TEXT, false},
    /* the HTTP endpoint (load_http) */
    {"http", CONFIG_TEXT, false},
    {"http_token_file", CONFIG_PATH, false},
    {"metrics_per", CONFIG_TEXT, false},
    /* retention and hourly rollups (load_retention) */
    {"retention", CONFIG_TEXT, false},
    {"rollup_retention", CONFIG_TEXT, false},
    {NULL, CONFIG_TEXT, false}};
/* clang-format on */
static const struct config_key target_keys[] = {{"domain", CONFIG_TEXT, false},
                                                {"interval", CONFIG_TEXT, false},
                                                {"timeout", CONFIG_TEXT, false},
                                                {"credentials", CONFIG_TEXT, false},
                                                {"check", CONFIG_TEXT, true},
                                                /* mailflow (load_mailflow) */
                                                {"mailflow", CONFIG_TEXT, false},
                                                {"mailflow_interval", CONFIG_TEXT, false},
                                                {"mailflow_timeout", CONFIG_TEXT, false},
                                                {"delivery_warn", CONFIG_TEXT, false},
                                                /* warnings (load_warnings) */
                                                {"cert_warn_days", CONFIG_TEXT, false},
                                                /* registration (collconf_domain.c) */
                                                {"rdap_interval", CONFIG_TEXT, false},
                                                {"domain_warn_days", CONFIG_TEXT, false},
                                                {NULL, CONFIG_TEXT, false}};

/* ---- retention: retention, rollup_retention ---------------------------------
 *
 * Raw results for retention, hourly aggregates for rollup_retention, which
 * may not be shorter: an hour whose results are still stored keeps its
 * aggregate. @unittest: tests/unit/test_collconf_retention.c
 */
static int load_retention(const struct config *c, const struct config_section *s,
                          struct collconf *cc, char *err, size_t errlen)
{
    if (config_get_duration(c, s, "retention", COLLCONF_DEFAULT_RETENTION_US,
                            COLLCONF_RETENTION_MIN_US, COLLCONF_RETENTION_MAX_US, &cc->retention_us,
                            err, errlen) < 0 ||
        config_get_duration(c, s, "rollup_retention", COLLCONF_DEFAULT_ROLLUP_RETENTION_US,
                            COLLCONF_RETENTION_MIN_US, COLLCONF_RETENTION_MAX_US,
                            &cc->rollup_retention_us, err, errlen) < 0)
        return -1;
    if (cc->rollup_retention_us < cc->retention_us) {
        const struct config_entry *e = config_get(s, "rollup_retention");
        if (e == NULL)
            e = config_get(s, "retention");
        config_error(c, e, err, errlen,
                     "rollup_retention (%lld h) is shorter than retention (%lld h): hourly "
                     "aggregates must outlive the raw results they count; raise "
                     "rollup_retention or lower retention",
                     (long long)(cc->rollup_retention_us / 3600000000LL),
                     (long long)(cc->retention_us / 3600000000LL));
        return -1;
    }
    return 0;
}

/* ---- the HTTP endpoint: http, http_token_file, metrics_per ----------------
 *
 * http = HOST:PORT binds /metrics, the status page and /api/v1 (off unless
 * set); HOST is an IPv4 or [IPv6] literal, so that where it listens is
 * never a surprise of name resolution. @unittest: tests/unit/test_collconf.c
 */
static int load_http(const struct config *c, const struct config_section *s, struct collconf *cc,
                     char *err, size_t errlen)
{
    if (config_get_string(c, s, collector_keys, "http", NULL, &cc->http, err, errlen) < 0 ||
        config_get_string(c, s, collector_keys, "http_token_file", NULL, &cc->http_token_file, err,
                          errlen) < 0)
        return -1;
    if (cc->http != NULL) {
        const char *colon = strrchr(cc->http, ':');
        char *end = NULL;
        unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
        bool v6 = cc->http[0] == '[';
        if (colon == NULL || colon == cc->http || end == colon + 1 || *end != '\0' || port == 0 ||
            port > 65535 || (v6 && colon[-1] != ']') ||
            (!v6 && memchr(cc->http, ':', (size_t)(colon - cc->http)))) {
            config_error(c, config_get(s, "http"), err, errlen,
                         "'%.100s' is not ADDRESS:PORT; write e.g. http = 127.0.0.1:9740 (or "
                         "[::1]:9740)",
                         cc->http);
            return -1;
        }
    }
    if (cc->http_token_file != NULL && cc->http == NULL) {
        config_error(c, config_get(s, "http_token_file"), err, errlen,
                     "there is no HTTP endpoint to protect: set http = ADDRESS:PORT as well");
        return -1;
    }
    const struct config_entry *e = config_get(s, "metrics_per");
    cc->metrics_per_network = false;
    if (e != NULL) {
        if (strcmp(e->value, "network") == 0) {
            cc->metrics_per_network = true;
        } else if (strcmp(e->value, "agent") != 0) {
            config_error(c, e, err, errlen, "'%.64s' is neither agent nor network", e->value);
            return -1;
        }
    }
    return 0;
}

/* The default control socket: beside the database, so that the CLI finds
 * it from the same file. Its path can be too long for a unix socket where
 * the database's is not: that error names database and control. */
static int default_control(const struct config *c, const struct config_section *s,
                           struct collconf *cc, char *err, size_t errlen)
{
    const char *db = strncmp(cc->database, "sqlite:", 7) == 0 ? cc->database + 7 : cc->database;
    /* A PostgreSQL location is no file to sit beside (and may hold a
     * password): the socket goes beside the configuration instead. */
    char beside_conf[CONFIG_IPC_PATH_MAX + 64];
    if (strncmp(db, "postgresql:", 11) == 0 || strncmp(db, "postgres:", 9) == 0) {
        const char *slash = strrchr(config_path(c), '/');
        snprintf(beside_conf, sizeof(beside_conf), "%.*s/vantage-collector",
                 slash ? (int)(slash - config_path(c)) : 1, slash ? config_path(c) : ".");
        db = beside_conf;
    }
    size_t len = strlen(db) + 16;
    cc->control = malloc(len);
    if (cc->control == NULL) {
        snprintf(err, errlen, "%s: out of memory", config_path(c));
        return -1;
    }
    snprintf(cc->control, len, "ipc://%s.control", db);
    if (strlen(cc->control) - 6 > CONFIG_IPC_PATH_MAX) {
        config_key_error(c, s, "database", err, errlen,
                         "the control socket beside it, %.200s.control, would be %zu characters "
                         "long, over a unix socket's limit of %zu; set control = "
                         "ipc:///run/vantage/control (or another short path) in [collector]",
                         db, strlen(cc->control) - 6, (size_t)CONFIG_IPC_PATH_MAX);
        return -1;
    }
    return 0;
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
        snprintf(num, sizeof(num), "%u/%u", t->mailflow_interval_ms, t->mailflow_timeout_ms);
        hash_str(&h, num);
        hash_str(&h, t->credentials);
        snprintf(num, sizeof(num), "%u", t->rdap_interval_ms);
        hash_str(&h, num);
    }
    hash_str(&h, w->rdap_bootstrap_url);
    hash_str(&h, w->rdap_bootstrap_json);
    char hex[17];
    snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)h);
    w->version = strdup(hex);
    return w->version ? 0 : -1;
}

/* ---- mailflow: the end-to-end mail check of a target ----------------------
 *
 * mailflow = yes | no | ADDRESS | mailflow://... (docs/reference.md
 * "Configuration"). Absent, it is yes when the target has credentials, a
 * check to submit through and one to read through: a target that can log
 * in and send gets its "is the mailbox still receiving email?" check
 * without being asked. The check joins the target's checks, so compare,
 * diagnose and results show it like any other; the agent runs it on its
 * own clock (mailflow_interval, mailflow_timeout). @unittest:
 * tests/unit/test_collconf.c
 */

/* Whether t has a check whose scheme is one of schemes (NULL-terminated). */
static bool has_scheme(const struct wire_target *t, const char *const *schemes)
{
    for (size_t i = 0; i < t->nchecks; i++)
        for (const char *const *sc = schemes; *sc != NULL; sc++) {
            size_t n = strlen(*sc);
            if (strncmp(t->checks[i], *sc, n) == 0 && strncmp(t->checks[i] + n, "://", 3) == 0)
                return true;
        }
    return false;
}

static bool in_list(const char *const *list, const char *v)
{
    for (; *list != NULL; list++)
        if (strcmp(*list, v) == 0)
            return true;
    return false;
}

static const char *const mailflow_via[] = {"submission", "smtps", NULL};
static const char *const mailflow_read[] = {"imaps", "imap", "pop3s", "pop3", NULL};

/* Checks that the target can run mailflow spec sp: credentials to log in
 * with, a server to submit through and one to read through (its own via=
 * and read= or the target's checks). */
static int mailflow_usable(const struct config *c, const struct config_entry *e,
                           const struct wire_target *t, const struct spec *sp, char *err,
                           size_t errlen)
{
    if (t->credentials == NULL) {
        config_error(c, e, err, errlen,
                     "test mail needs the probe account to log in with: add 'credentials = NAME' "
                     "(a [credentials NAME] section on each agent) or set 'mailflow = no'");
        return -1;
    }
    if (sp->via[0] == '\0' && !has_scheme(t, mailflow_via)) {
        config_error(c, e, err, errlen,
                     "test mail needs a server to send through: add 'check = "
                     "submission://HOST' (or smtps://) or write "
                     "'mailflow = mailflow://MAILBOX?via=submission://HOST'");
        return -1;
    }
    if (sp->read[0] == '\0' && !has_scheme(t, mailflow_read)) {
        config_error(c, e, err, errlen,
                     "test mail needs a server to read the mailbox through: add 'check = "
                     "imaps://HOST' (or imap://, pop3s://, pop3://) or write "
                     "'mailflow = mailflow://MAILBOX?read=imaps://HOST'");
        return -1;
    }
    return 0;
}

static int add_check_text(struct wire_target *t, const char *canon)
{
    char **grown = realloc(t->checks, (t->nchecks + 1) * sizeof(char *));
    if (grown == NULL)
        return -1;
    t->checks = grown;
    if ((t->checks[t->nchecks] = strdup(canon)) == NULL)
        return -1;
    t->nchecks++;
    return 0;
}

static int load_mailflow(const struct config *c, const struct config_section *s,
                         struct wire_target *t, struct collconf_mailflow *mf, char *err,
                         size_t errlen)
{
    static const char *const yes[] = {"yes", "true", "on", "1", NULL};
    static const char *const no[] = {"no", "false", "off", "0", NULL};
    static const char *const mailflow_scheme[] = {"mailflow", NULL};
    int64_t interval, timeout, warn;

    /* A second at least: a shorter interval would flood the mailbox, a
     * shorter timeout could not see any real delivery. A day and an hour
     * at most: beyond that nobody is told in time. */
    if (config_get_duration(c, s, "mailflow_interval",
                            COLLCONF_DEFAULT_MAILFLOW_INTERVAL_MS * 1000LL, 1000000,
                            86400LL * 1000000, &interval, err, errlen) < 0 ||
        config_get_duration(c, s, "mailflow_timeout", COLLCONF_DEFAULT_MAILFLOW_TIMEOUT_MS * 1000LL,
                            1000000, 3600LL * 1000000, &timeout, err, errlen) < 0 ||
        config_get_duration(c, s, "delivery_warn", COLLCONF_DEFAULT_DELIVERY_WARN_MS * 1000LL,
                            1000000, 3600LL * 1000000, &warn, err, errlen) < 0)
        return -1;
    mf->delivery_warn_ms = (uint32_t)(warn / 1000);
    bool explicit_check = has_scheme(t, mailflow_scheme);

    const struct config_entry *e = config_get(s, "mailflow");
    char text[SPEC_TEXT_MAX];
    text[0] = '\0';
    if (e == NULL) {
        if (!explicit_check && t->credentials != NULL && has_scheme(t, mailflow_via) &&
            has_scheme(t, mailflow_read))
            snprintf(text, sizeof(text), "mailflow://@%s", t->credentials);
    } else if (in_list(no, e->value)) {
        /* An explicit 'check = mailflow://...' stays: it was asked for. */
    } else if (explicit_check) {
        config_error(c, e, err, errlen,
                     "the target also has a 'check = mailflow://...'; keep one of the two");
        return -1;
    } else if (in_list(yes, e->value)) {
        if (t->credentials == NULL) {
            struct spec none = {0};
            return mailflow_usable(c, e, t, &none, err, errlen);
        }
        snprintf(text, sizeof(text), "mailflow://@%s", t->credentials);
    } else if (strstr(e->value, "://") != NULL) {
        if (strncmp(e->value, "mailflow://", 11) != 0) {
            config_error(c, e, err, errlen,
                         "'%.64s' is not a mailflow:// spec; write yes, no, an address or "
                         "mailflow://MAILBOX[?via=SPEC&read=SPEC]",
                         e->value);
            return -1;
        }
        snprintf(text, sizeof(text), "%s", e->value);
    } else if (strchr(e->value, '@') != NULL && e->value[0] != '@') {
        snprintf(text, sizeof(text), "mailflow://%s", e->value);
    } else {
        config_error(c, e, err, errlen,
                     "'%.64s' is not yes, no, an address (user@example.com) or a mailflow:// "
                     "spec",
                     e->value);
        return -1;
    }
    if (text[0] == '\0') {
        mf->enabled = explicit_check;
    } else {
        struct spec sp;
        char serr[256];
        if (spec_parse(text, &sp, serr, sizeof(serr)) < 0) {
            /* Without the key, the text came from the credentials name. */
            config_error(c, e ? e : config_get(s, "credentials"), err, errlen, "%s", serr);
            return -1;
        }
        if (e != NULL && mailflow_usable(c, e, t, &sp, err, errlen) < 0)
            return -1;
        if (t->nchecks >= WIRE_CHECKS_MAX) {
            config_error(c, e, err, errlen, "more than %d checks in one target", WIRE_CHECKS_MAX);
            return -1;
        }
        char canon[SPEC_TEXT_MAX];
        spec_format(&sp, canon, sizeof(canon));
        if (add_check_text(t, canon) < 0)
            return -1;
        mf->enabled = true;
    }
    if (mf->enabled) {
        t->mailflow_interval_ms = (uint32_t)(interval / 1000);
        t->mailflow_timeout_ms = (uint32_t)(timeout / 1000);
    }
    return 0;
}

static int load_target(const struct config *c, const struct config_section *s,
                       struct wire_target *t, struct collconf_mailflow *mf, char *err,
                       size_t errlen)
{
    int64_t interval, timeout;
    char serr[256];

    if (config_check_section(c, s, target_keys, err, errlen) < 0)
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
    if (load_mailflow(c, s, t, mf, err, errlen) < 0)
        return -1;
    return collconf_domain_checks(c, s, t, err, errlen);
}

/* One unsigned key of every [target] section, in the order of
 * cc->targets, into *out. 0, or -1 with err (empty: out of memory). */
static int load_target_days(const struct config *c, const struct collconf *cc, const char *key,
                            uint64_t def, uint64_t max, unsigned **out, char *err, size_t errlen)
{
    *out = calloc(cc->targets.ntargets ? cc->targets.ntargets : 1, sizeof(unsigned));
    if (*out == NULL)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < config_nsections(c); i++) {
        const struct config_section *s = config_section_at(c, i);
        if (strcmp(s->kind, "target") != 0)
            continue;
        uint64_t v;
        if (config_get_uint(c, s, key, def, 0, max, &v, err, errlen) < 0)
            return -1;
        (*out)[n++] = (unsigned)v;
    }
    return 0;
}

/* Target name's entry of v (loaded by load_target_days), def for an
 * unknown target. */
static unsigned target_days(const struct collconf *c, const unsigned *v, const char *name,
                            unsigned def)
{
    for (size_t i = 0; i < c->targets.ntargets; i++)
        if (strcmp(c->targets.targets[i].name, name) == 0)
            return v != NULL ? v[i] : def;
    return def;
}

/* The collector's own target keys for warnings: the diagnosis reads
 * them, agents never see them (they are not in the wire's targets nor in
 * its version hash). Returns 0, -1 with err, or -1 with err empty when out
 * of memory. */
static int load_warnings(const struct config *c, struct collconf *cc, char *err, size_t errlen)
{
    if (load_target_days(c, cc, "cert_warn_days", COLLCONF_DEFAULT_CERT_WARN_DAYS,
                         COLLCONF_CERT_WARN_DAYS_MAX, &cc->cert_warn_days, err, errlen) < 0)
        return -1;
    return load_target_days(c, cc, "domain_warn_days", COLLCONF_DEFAULT_DOMAIN_WARN_DAYS,
                            COLLCONF_DOMAIN_WARN_DAYS_MAX, &cc->domain_warn_days, err, errlen);
}

unsigned collconf_cert_warn_days(const struct collconf *c, const char *name)
{
    return target_days(c, c->cert_warn_days, name, COLLCONF_DEFAULT_CERT_WARN_DAYS);
}

unsigned collconf_domain_warn_days(const struct collconf *c, const char *name)
{
    return target_days(c, c->domain_warn_days, name, COLLCONF_DEFAULT_DOMAIN_WARN_DAYS);
}

void collconf_warnings_into(const struct collconf *c, const char *name, struct analysis_input *in)
{
    unsigned days = collconf_cert_warn_days(c, name);
    in->cert_warn_days = days == 0 ? -1 : (int)days;
    days = collconf_domain_warn_days(c, name);
    in->domain_warn_days = days == 0 ? -1 : (int)days;
    const struct collconf_mailflow *mf = collconf_mailflow_of(c, name);
    if (mf != NULL && mf->enabled)
        in->delivery_warn_us = (uint64_t)mf->delivery_warn_ms * 1000;
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
        } else if (strcmp(s->kind, "notify") == 0 && s->label[0] != '\0') {
            continue; /* collconf_notify_load(), once the targets are known */
        } else {
            snprintf(err, errlen,
                     "%s:%d: unknown section [%s%s%s]; expected [collector], [target NAME] or "
                     "[notify NAME]",
                     path, s->line, s->kind, s->label[0] ? " " : "", s->label);
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
    if (config_check_section(c, main_s, collector_keys, err, errlen) < 0)
        goto fail;
    int plain;
    if (config_get_bool(c, main_s, "insecure_plaintext", 0, &plain, err, errlen) < 0)
        goto fail;
    cc->insecure_plaintext = plain;
    if (config_get_string(c, main_s, collector_keys, "listen", COLLCONF_DEFAULT_LISTEN, &cc->listen,
                          err, errlen) < 0 ||
        config_get_string(c, main_s, collector_keys, "database", COLLCONF_DEFAULT_DATABASE,
                          &cc->database, err, errlen) < 0 ||
        config_get_string(c, main_s, collector_keys, "secret_key", NULL, &cc->secret_key, err,
                          errlen) < 0 ||
        config_get_string(c, main_s, collector_keys, "authorized_keys", NULL, &cc->authorized_keys,
                          err, errlen) < 0 ||
        config_get_string(c, main_s, collector_keys, "control", NULL, &cc->control, err, errlen) <
            0 ||
        config_get_string(c, main_s, collector_keys, "log_level", "info", &cc->log_level, err,
                          errlen) < 0)
        goto fail;
    enum log_level level;
    if (log_level_parse(cc->log_level, &level) < 0) {
        config_error(c, config_get(main_s, "log_level"), err, errlen,
                     "unknown level '%.64s'; write error, warn, info or debug", cc->log_level);
        goto fail;
    }
    if (cc->control == NULL && default_control(c, main_s, cc, err, errlen) < 0)
        goto fail;
    if (cc->insecure_plaintext && !transport_endpoint_is_local(cc->listen)) {
        config_key_error(c, main_s, "listen", err, errlen,
                         "insecure_plaintext = yes allows only a loopback or ipc listen address; "
                         "write listen = tcp://127.0.0.1:PORT, or remove insecure_plaintext "
                         "and set secret_key and authorized_keys (CURVE)");
        goto fail;
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
    cc->mailflow = calloc(ntargets ? ntargets : 1, sizeof(struct collconf_mailflow));
    if (cc->targets.targets == NULL || cc->mailflow == NULL)
        goto oom;
    for (size_t i = 0; i < config_nsections(c); i++) {
        const struct config_section *s = config_section_at(c, i);
        if (strcmp(s->kind, "target") != 0)
            continue;
        struct collconf_mailflow *mf = &cc->mailflow[cc->targets.ntargets];
        struct wire_target *t = &cc->targets.targets[cc->targets.ntargets++];
        err[0] = '\0';
        if (load_target(c, s, t, mf, err, errlen) < 0) {
            if (err[0] == '\0')
                goto oom;
            goto fail;
        }
    }
    if (load_http(c, main_s, cc, err, errlen) < 0)
        goto fail;
    err[0] = '\0';
    if (load_warnings(c, cc, err, errlen) < 0) {
        if (err[0] == '\0')
            goto oom;
        goto fail;
    }
    char *bootstrap = NULL;
    if (config_get_string(c, main_s, collector_keys, "rdap_bootstrap", NULL, &bootstrap, err,
                          errlen) < 0)
        goto fail;
    err[0] = '\0';
    int brc = collconf_rdap_bootstrap(c, main_s, bootstrap, &cc->targets, err, errlen);
    free(bootstrap);
    if (brc < 0) {
        if (err[0] == '\0')
            goto oom;
        goto fail;
    }
    err[0] = '\0';
    if (collconf_notify_load(c, cc, err, errlen) < 0) {
        if (err[0] == '\0')
            goto oom;
        goto fail;
    }
    /* A second at least: less would be busy work; a day at most. */
    if (config_get_duration(c, main_s, "evaluate_every", COLLCONF_DEFAULT_EVALUATE_MS * 1000LL,
                            1000000, 86400LL * 1000000, &cc->evaluate_every_us, err, errlen) < 0)
        goto fail;
    if (load_retention(c, main_s, cc, err, errlen) < 0)
        goto fail;
    if (make_version(&cc->targets) < 0)
        goto oom;
    cc->ini = c;
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
    free(c->http);
    free(c->http_token_file);
    wire_config_clear(&c->targets);
    config_destroy(&c->ini);
    free(c->mailflow);
    free(c->cert_warn_days);
    collconf_notify_clear(c);
    free(c->domain_warn_days);
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

void collconf_error(const struct collconf *c, const char *key, const char *what, char *err,
                    size_t errlen)
{
    config_key_error(c->ini, config_find(c->ini, "collector", NULL), key, err, errlen, "%s", what);
}

const struct collconf_mailflow *collconf_mailflow_of(const struct collconf *c, const char *name)
{
    for (size_t i = 0; i < c->targets.ntargets; i++)
        if (strcmp(c->targets.targets[i].name, name) == 0)
            return &c->mailflow[i];
    return NULL;
}
