/*
 * collconf_notify — the [notify NAME] sections of collector.conf
 * (docs/reference.md "Notifications"): where findings are sent, signed
 * with which secret, for which targets and severities. Part of collconf:
 * collconf_load() calls it after the targets are known.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collconf.h"
#include "config.h"

static const struct config_key notify_keys[] = {{"alertmanager", CONFIG_TEXT, false},
                                                {"webhook", CONFIG_TEXT, false},
                                                {"secret_file", CONFIG_PATH, false},
                                                {"targets", CONFIG_TEXT, true},
                                                {"min_severity", CONFIG_TEXT, false},
                                                {"timeout", CONFIG_TEXT, false},
                                                {NULL, CONFIG_TEXT, false}};

/* A webhook secret is a line of text; 4 KiB is far beyond any HMAC key
 * worth having and keeps a wrong path (a big file) from being read. */
#define NOTIFY_SECRET_MAX 4096

static int check_url(const struct config *c, const struct config_entry *e, char *err, size_t errlen)
{
    if (e == NULL)
        return 0;
    size_t n = strlen(e->value);
    if ((strncmp(e->value, "http://", 7) != 0 && strncmp(e->value, "https://", 8) != 0) ||
        n > COLLCONF_NOTIFY_URL_MAX || strpbrk(e->value, " \t\"<>") != NULL) {
        config_error(c, e, err, errlen,
                     "'%.64s' is not an http:// or https:// URL (at most %d characters)", e->value,
                     COLLCONF_NOTIFY_URL_MAX);
        return -1;
    }
    return 0;
}

static int read_secret(const struct config *c, const struct config_entry *e, const char *path,
                       struct collconf_notify *n, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        config_error(c, e, err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(NOTIFY_SECRET_MAX + 1);
    size_t len = buf ? fread(buf, 1, NOTIFY_SECRET_MAX + 1, f) : 0;
    fclose(f);
    if (buf == NULL)
        return -1;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    if (len == 0 || len > NOTIFY_SECRET_MAX) {
        explicit_bzero(buf, NOTIFY_SECRET_MAX + 1);
        free(buf);
        config_error(c, e, err, errlen, "%s must hold one line of 1 to %d bytes: the shared secret",
                     path, NOTIFY_SECRET_MAX);
        return -1;
    }
    n->secret = buf;
    n->secret_len = len;
    return 0;
}

/* targets = a, b  (or one per line): each a [target NAME]. */
static int load_targets(const struct config *c, const struct config_section *s,
                        const struct collconf *cc, struct collconf_notify *n, char *err,
                        size_t errlen)
{
    for (size_t i = 0; i < s->nentries; i++) {
        const struct config_entry *e = &s->entries[i];
        if (strcmp(e->key, "targets") != 0)
            continue;
        char *copy = strdup(e->value), *save = NULL;
        if (copy == NULL)
            return -1;
        for (char *t = strtok_r(copy, ", \t", &save); t != NULL;
             t = strtok_r(NULL, ", \t", &save)) {
            if (collconf_target(cc, t) == NULL) {
                config_error(c, e, err, errlen, "no [target %.64s] in this file", t);
                free(copy);
                return -1;
            }
            char **grown = realloc(n->targets, (n->ntargets + 1) * sizeof(char *));
            if (grown == NULL || (grown[n->ntargets] = strdup(t)) == NULL) {
                if (grown != NULL)
                    n->targets = grown;
                free(copy);
                return -1;
            }
            n->targets = grown;
            n->ntargets++;
        }
        free(copy);
    }
    return 0;
}

static int load_one(const struct config *c, const struct config_section *s,
                    const struct collconf *cc, struct collconf_notify *n, char *err, size_t errlen)
{
    if (config_check_section(c, s, notify_keys, err, errlen) < 0)
        return -1;
    n->line = s->line;
    if ((n->name = strdup(s->label)) == NULL)
        return -1;
    const struct config_entry *am = config_get(s, "alertmanager");
    const struct config_entry *wh = config_get(s, "webhook");
    if (am == NULL && wh == NULL) {
        snprintf(err, errlen,
                 "%s:%d: [notify %s] sends nowhere: add 'alertmanager = http://HOST:9093' or "
                 "'webhook = https://HOST/PATH'",
                 config_path(c), s->line, s->label);
        return -1;
    }
    if (check_url(c, am, err, errlen) < 0 || check_url(c, wh, err, errlen) < 0)
        return -1;
    if ((am && (n->alertmanager = strdup(am->value)) == NULL) ||
        (wh && (n->webhook = strdup(wh->value)) == NULL))
        return -1;
    char *secret_path = NULL;
    if (config_get_string(c, s, notify_keys, "secret_file", NULL, &secret_path, err, errlen) < 0)
        return -1;
    if (secret_path != NULL) {
        int rc = read_secret(c, config_get(s, "secret_file"), secret_path, n, err, errlen);
        free(secret_path);
        if (rc < 0)
            return -1;
    }
    const struct config_entry *sev = config_get(s, "min_severity");
    if (sev != NULL) {
        if (strcmp(sev->value, "problem") == 0)
            n->problems_only = true;
        else if (strcmp(sev->value, "warning") != 0) {
            config_error(c, sev, err, errlen, "'%.64s' is not warning or problem", sev->value);
            return -1;
        }
    }
    int64_t timeout;
    /* A second at least (a receiver on another continent), a minute at
     * most: sending runs beside evaluation, but a hung receiver must
     * not hold a slot for long. */
    if (config_get_duration(c, s, "timeout", COLLCONF_NOTIFY_TIMEOUT_MS * 1000LL, 1000000,
                            60LL * 1000000, &timeout, err, errlen) < 0)
        return -1;
    n->timeout_ms = (uint32_t)(timeout / 1000);
    return load_targets(c, s, cc, n, err, errlen);
}

int collconf_notify_load(const struct config *c, struct collconf *cc, char *err, size_t errlen)
{
    for (size_t i = 0; i < config_nsections(c); i++) {
        const struct config_section *s = config_section_at(c, i);
        if (strcmp(s->kind, "notify") != 0)
            continue;
        for (size_t j = 0; j < cc->nnotify; j++)
            if (strcmp(cc->notify[j].name, s->label) == 0) {
                snprintf(err, errlen, "%s:%d: [notify %s] is defined twice (first on line %d)",
                         config_path(c), s->line, s->label, cc->notify[j].line);
                return -1;
            }
        struct collconf_notify *grown = realloc(cc->notify, (cc->nnotify + 1) * sizeof(*grown));
        if (grown == NULL)
            return -1;
        cc->notify = grown;
        struct collconf_notify *n = &cc->notify[cc->nnotify++];
        memset(n, 0, sizeof(*n));
        if (load_one(c, s, cc, n, err, errlen) < 0)
            return -1;
    }
    return 0;
}

void collconf_notify_clear(struct collconf *cc)
{
    for (size_t i = 0; i < cc->nnotify; i++) {
        struct collconf_notify *n = &cc->notify[i];
        free(n->name);
        free(n->alertmanager);
        free(n->webhook);
        if (n->secret != NULL)
            explicit_bzero(n->secret, n->secret_len);
        free(n->secret);
        for (size_t j = 0; j < n->ntargets; j++)
            free(n->targets[j]);
        free(n->targets);
    }
    free(cc->notify);
    cc->notify = NULL;
    cc->nnotify = 0;
}

bool collconf_notify_wants(const struct collconf_notify *n, const char *target, bool problem)
{
    if (n->problems_only && !problem)
        return false;
    if (n->ntargets == 0)
        return true;
    for (size_t i = 0; i < n->ntargets; i++)
        if (strcmp(n->targets[i], target) == 0)
            return true;
    return false;
}
