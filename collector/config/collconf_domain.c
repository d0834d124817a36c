/*
 * collconf_domain — registration keys of collector.conf (collconf_domain.h).
 */
#include "collconf_domain.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec.h"

/* rdap_interval bounds: a second for tests and labs; a month at most,
 * since a longer gap would miss an expiry warning window entirely. */
#define RDAP_INTERVAL_MIN_US 1000000LL
#define RDAP_INTERVAL_MAX_US (30LL * 86400 * 1000000)

static bool has_check(const struct wire_target *t, const char *canon)
{
    for (size_t i = 0; i < t->nchecks; i++)
        if (strcmp(t->checks[i], canon) == 0)
            return true;
    return false;
}

static bool has_rdap(const struct wire_target *t)
{
    for (size_t i = 0; i < t->nchecks; i++)
        if (strncmp(t->checks[i], "rdap://", 7) == 0)
            return true;
    return false;
}

/* Adds scheme://domain (canonical) unless t has it. */
static int add_domain_check(const struct config *c, const struct config_section *s,
                            struct wire_target *t, const char *scheme, char *err, size_t errlen)
{
    char text[SPEC_TEXT_MAX], canon[SPEC_TEXT_MAX], serr[256];
    struct spec sp;
    snprintf(text, sizeof(text), "%s://%s", scheme, t->domain);
    if (spec_parse(text, &sp, serr, sizeof(serr)) < 0) {
        config_error(c, config_get(s, "domain"), err, errlen, "%s", serr);
        return -1;
    }
    spec_format(&sp, canon, sizeof(canon));
    if (has_check(t, canon))
        return 0;
    if (t->nchecks >= WIRE_CHECKS_MAX) {
        config_error(c, config_get(s, "domain"), err, errlen,
                     "with the %s check the domain adds, the target has more than %d checks",
                     scheme, WIRE_CHECKS_MAX);
        return -1;
    }
    char **grown = realloc(t->checks, (t->nchecks + 1) * sizeof(char *));
    if (grown == NULL)
        return -1;
    t->checks = grown;
    if ((t->checks[t->nchecks] = strdup(canon)) == NULL)
        return -1;
    t->nchecks++;
    return 0;
}

int collconf_domain_checks(const struct config *c, const struct config_section *s,
                           struct wire_target *t, char *err, size_t errlen)
{
    int64_t interval;
    if (config_get_duration(c, s, "rdap_interval", COLLCONF_DEFAULT_RDAP_INTERVAL_MS * 1000LL,
                            RDAP_INTERVAL_MIN_US, RDAP_INTERVAL_MAX_US, &interval, err, errlen) < 0)
        return -1;
    if (t->domain != NULL) {
        /* What mail clients are told differs by network (split DNS,
         * intercepting proxies): every agent asks. The registration is
         * the same from everywhere: a few agents ask (assign.c). */
        if (add_domain_check(c, s, t, "autoconfig", err, errlen) < 0 ||
            add_domain_check(c, s, t, "rdap", err, errlen) < 0)
            return -1;
    }
    if (has_rdap(t))
        t->rdap_interval_ms = (uint32_t)(interval / 1000);
    return 0;
}

/* Checks that j is an RFC 9224 registry naming at least one server. NULL,
 * or what is wrong. */
static const char *bootstrap_problem(const json_t *j)
{
    const json_t *services = json_object_get(j, "services");
    if (!json_is_array(services))
        return "has no \"services\" list (RFC 9224 section 3)";
    size_t i, urls = 0;
    const json_t *svc;
    json_array_foreach(services, i, svc)
    {
        const json_t *labels = json_array_get(svc, 0), *bases = json_array_get(svc, 1);
        if (!json_is_array(svc) || !json_is_array(labels) || !json_is_array(bases))
            return "has a service that is not [[labels], [URLs]]";
        urls += json_array_size(bases);
    }
    return urls == 0 ? "names no RDAP server" : NULL;
}

static bool is_url(const char *v)
{
    return strncmp(v, "https://", 8) == 0 || strncmp(v, "http://", 7) == 0;
}

int collconf_rdap_bootstrap(const struct config *c, const struct config_section *main_s,
                            const char *value, struct wire_config *w, char *err, size_t errlen)
{
    const struct config_entry *e = config_get(main_s, "rdap_bootstrap");
    if (value == NULL || is_url(value)) {
        if (value != NULL && strlen(value) > RESULT_STR_MAX) {
            config_error(c, e, err, errlen, "the URL is longer than %d characters", RESULT_STR_MAX);
            return -1;
        }
        w->rdap_bootstrap_url = strdup(value ? value : COLLCONF_DEFAULT_RDAP_BOOTSTRAP);
        return w->rdap_bootstrap_url ? 0 : -1;
    }
    if (strstr(value, "://") != NULL) {
        config_error(c, e, err, errlen,
                     "'%.64s' is neither an http(s):// URL nor a file; write the bootstrap "
                     "registry's URL (default %s) or the path of a copy of it",
                     value, COLLCONF_DEFAULT_RDAP_BOOTSTRAP);
        return -1;
    }
    FILE *f = fopen(value, "rb");
    if (f == NULL) {
        config_error(c, e, err, errlen,
                     "cannot read %.200s: %s; give the path of an RFC 9224 file (a copy of %s) or "
                     "its URL",
                     value, strerror(errno), COLLCONF_DEFAULT_RDAP_BOOTSTRAP);
        return -1;
    }
    char *buf = malloc(WIRE_RDAP_BOOTSTRAP_MAX + 1);
    size_t n = buf ? fread(buf, 1, WIRE_RDAP_BOOTSTRAP_MAX + 1, f) : 0;
    fclose(f);
    if (buf == NULL)
        return -1;
    if (n > WIRE_RDAP_BOOTSTRAP_MAX) {
        free(buf);
        config_error(c, e, err, errlen, "%.200s is larger than %d bytes: not a bootstrap registry",
                     value, WIRE_RDAP_BOOTSTRAP_MAX);
        return -1;
    }
    buf[n] = '\0';
    json_error_t je;
    json_t *j = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &je);
    const char *why = j == NULL ? NULL : bootstrap_problem(j);
    if (j == NULL || why != NULL) {
        if (j == NULL)
            config_error(c, e, err, errlen, "%.200s is not JSON: %s (line %d)", value, je.text,
                         je.line);
        else
            config_error(c, e, err, errlen, "%.200s %s; give an RFC 9224 file such as %s", value,
                         why, COLLCONF_DEFAULT_RDAP_BOOTSTRAP);
        json_decref(j);
        free(buf);
        return -1;
    }
    json_decref(j);
    /* The wire carries text: a file with NUL bytes or bad UTF-8 would be
     * refused by every agent; jansson has checked both. */
    w->rdap_bootstrap_json = buf;
    return 0;
}
