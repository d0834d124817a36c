/*
 * agentconf — agent.conf parsing and validation (agentconf.h).
 */
#include "agentconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "log.h"
#include "resolver.h"
#include "spool.h"
#include "transport.h"

/* Every key and what its value is: the one place that says which values
 * are paths, resolved from the config file's directory (config.h). */
static const struct config_key agent_keys[] = {{"name", CONFIG_TEXT, false},
                                               {"site", CONFIG_TEXT, false},
                                               {"collector", CONFIG_ENDPOINT, true},
                                               {"collector_public_key", CONFIG_TEXT, false},
                                               {"secret_key", CONFIG_PATH, false},
                                               {"spool", CONFIG_PATH, false},
                                               {"ca_file", CONFIG_PATH, false},
                                               {"resolver", CONFIG_TEXT, false},
                                               {"insecure_plaintext", CONFIG_TEXT, false},
                                               {"spool_max_results", CONFIG_TEXT, false},
                                               {"log_level", CONFIG_TEXT, false},
                                               {"failover_timeout", CONFIG_TEXT, false},
                                               {"failback_interval", CONFIG_TEXT, false},
                                               {NULL, CONFIG_TEXT, false}};
static const struct config_key cred_keys[] = {{"user", CONFIG_TEXT, false},
                                              {"password_file", CONFIG_PATH, false},
                                              {NULL, CONFIG_TEXT, false}};

int agentconf_read_password(const char *path, char **out, char *err, size_t errlen)
{
    char buf[AGENTCONF_PASSWORD_MAX + 2];
    struct stat st;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open password file: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_mode & 077) {
        snprintf(err, errlen, "%s: password file is readable by group or others; run chmod 600 %s",
                 path, path);
        close(fd);
        return -1;
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0) {
        snprintf(err, errlen, "%s: read failed: %s", path, strerror(errno));
        return -1;
    }
    buf[n] = '\0';
    size_t len = strcspn(buf, "\r\n");
    if (len > AGENTCONF_PASSWORD_MAX || len == 0) {
        snprintf(err, errlen, "%s: the password must be 1 to %d characters on the first line", path,
                 AGENTCONF_PASSWORD_MAX);
        explicit_bzero(buf, sizeof(buf));
        return -1;
    }
    buf[len] = '\0';
    *out = strdup(buf);
    explicit_bzero(buf, sizeof(buf));
    if (*out == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int load_credentials(const struct config *c, const struct config_section *s,
                            struct agentconf_credentials *cr, char *err, size_t errlen)
{
    if (config_check_section(c, s, cred_keys, err, errlen) < 0)
        return -1;
    const struct config_entry *user = config_get(s, "user");
    const struct config_entry *pf = config_get(s, "password_file");
    if (user == NULL || pf == NULL) {
        snprintf(err, errlen, "%s:%d: [credentials %s] needs user and password_file",
                 config_path(c), s->line, s->label);
        return -1;
    }
    char *path;
    if (config_get_string(c, s, cred_keys, "password_file", NULL, &path, err, errlen) < 0)
        return -1;
    cr->name = strdup(s->label);
    cr->user = strdup(user->value);
    if (cr->name == NULL || cr->user == NULL) {
        free(path);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char perr[512];
    int rc = agentconf_read_password(path, &cr->password, perr, sizeof(perr));
    free(path);
    if (rc < 0) {
        config_error(c, pf, err, errlen, "%s", perr);
        return -1;
    }
    return 0;
}

/* Every collector = line in order, at most AGENTCONF_COLLECTORS_MAX,
 * none twice; with insecure_plaintext each must be local. */
static int load_collectors(const struct config *c, const struct config_section *s,
                           struct agentconf *ac, char *err, size_t errlen)
{
    for (size_t i = 0; i < s->nentries; i++) {
        const struct config_entry *e = &s->entries[i];
        if (strcmp(e->key, "collector") != 0)
            continue;
        if (ac->ncollectors == AGENTCONF_COLLECTORS_MAX) {
            config_error(c, e, err, errlen,
                         "more than %d collectors; list at most %d (the agent tries them in "
                         "order)",
                         AGENTCONF_COLLECTORS_MAX, AGENTCONF_COLLECTORS_MAX);
            return -1;
        }
        char *ep;
        if (config_entry_string(c, s, agent_keys, e, &ep, err, errlen) < 0)
            return -1;
        for (size_t j = 0; j < ac->ncollectors; j++)
            if (strcmp(ac->collectors[j], ep) == 0) {
                config_error(c, e, err, errlen, "%s is listed twice; remove this line", ep);
                free(ep);
                return -1;
            }
        ac->collectors[ac->ncollectors++] = ep;
        if (ac->insecure_plaintext && !transport_endpoint_is_local(ep)) {
            config_error(c, config_get(s, "insecure_plaintext"), err, errlen,
                         "plaintext is allowed only to a loopback or ipc collector, and "
                         "collector = %.200s (line %d) is not; remove this line and set "
                         "secret_key and collector_public_key (CURVE)",
                         ep, e->line);
            return -1;
        }
    }
    ac->collector = ac->ncollectors ? ac->collectors[0] : NULL;
    return 0;
}

/* Checks, while the file is at hand, what would otherwise fail later with
 * no file or line: the log level, the resolver's form, the trust anchors. */
static int check_values(const struct config *c, const struct config_section *s,
                        const struct agentconf *ac, char *err, size_t errlen)
{
    char why[CONFIG_ERR_MAX];
    enum log_level level;
    if (log_level_parse(ac->log_level, &level) < 0) {
        config_error(c, config_get(s, "log_level"), err, errlen,
                     "unknown level '%.64s'; write error, warn, info or debug", ac->log_level);
        return -1;
    }
    if (ac->resolver != NULL && resolver_check_server(ac->resolver, why, sizeof(why)) < 0) {
        config_error(c, config_get(s, "resolver"), err, errlen,
                     "%s, or remove the line to use /etc/resolv.conf", why);
        return -1;
    }
    if (ac->ca_file != NULL) {
        struct conn_tls *tls = conn_tls_create(ac->ca_file, why, sizeof(why));
        if (tls == NULL) {
            config_error(c, config_get(s, "ca_file"), err, errlen,
                         "%s; give a PEM file of CA certificates, or remove the line to use the "
                         "system's trust store",
                         why);
            return -1;
        }
        conn_tls_destroy(&tls);
    }
    return 0;
}

struct agentconf *agentconf_load(const char *path, char *err, size_t errlen)
{
    struct config *c = config_load(path, err, errlen);
    if (c == NULL)
        return NULL;
    struct agentconf *ac = calloc(1, sizeof(*ac));
    const struct config_section *main_s = NULL;
    size_t ncred = 0;
    if (ac == NULL || (ac->path = strdup(path)) == NULL)
        goto oom;
    for (size_t i = 0; i < config_nsections(c); i++) {
        const struct config_section *s = config_section_at(c, i);
        if (strcmp(s->kind, "agent") == 0 && s->label[0] == '\0') {
            if (main_s != NULL) {
                snprintf(err, errlen, "%s:%d: a second [agent] section (the first is on line %d)",
                         path, s->line, main_s->line);
                goto fail;
            }
            main_s = s;
        } else if (strcmp(s->kind, "credentials") == 0 && s->label[0] != '\0') {
            ncred++;
        } else {
            snprintf(err, errlen,
                     "%s:%d: unknown section [%s%s%s]; expected [agent] or [credentials NAME]",
                     path, s->line, s->kind, s->label[0] ? " " : "", s->label);
            goto fail;
        }
    }
    if (main_s == NULL) {
        snprintf(err, errlen, "%s: no [agent] section", path);
        goto fail;
    }
    if (config_check_section(c, main_s, agent_keys, err, errlen) < 0)
        goto fail;
    int plain;
    if (config_get_bool(c, main_s, "insecure_plaintext", 0, &plain, err, errlen) < 0 ||
        config_get_uint(c, main_s, "spool_max_results", SPOOL_DEFAULT_MAX, 100, 100000000,
                        &ac->spool_max_results, err, errlen) < 0)
        goto fail;
    ac->insecure_plaintext = plain;

    char host[256] = "agent";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    if (config_get_string(c, main_s, agent_keys, "name", host, &ac->name, err, errlen) < 0 ||
        config_get_string(c, main_s, agent_keys, "site", NULL, &ac->site, err, errlen) < 0 ||
        config_get_string(c, main_s, agent_keys, "collector_public_key", NULL,
                          &ac->collector_public_key, err, errlen) < 0 ||
        config_get_string(c, main_s, agent_keys, "resolver", NULL, &ac->resolver, err, errlen) <
            0 ||
        config_get_string(c, main_s, agent_keys, "log_level", "info", &ac->log_level, err, errlen) <
            0 ||
        config_get_string(c, main_s, agent_keys, "secret_key", NULL, &ac->secret_key, err, errlen) <
            0 ||
        config_get_string(c, main_s, agent_keys, "ca_file", NULL, &ac->ca_file, err, errlen) < 0 ||
        config_get_string(c, main_s, agent_keys, "spool", AGENTCONF_DEFAULT_SPOOL, &ac->spool, err,
                          errlen) < 0)
        goto fail;
    if (check_values(c, main_s, ac, err, errlen) < 0 ||
        load_collectors(c, main_s, ac, err, errlen) < 0 ||
        config_get_duration(c, main_s, "failover_timeout", AGENTCONF_FAILOVER_DEFAULT_US, 1000000LL,
                            600 * 1000000LL, &ac->failover_timeout_us, err, errlen) < 0 ||
        config_get_duration(c, main_s, "failback_interval", AGENTCONF_FAILBACK_DEFAULT_US,
                            1000000LL, 3600 * 1000000LL, &ac->failback_interval_us, err,
                            errlen) < 0)
        goto fail;

    bool bad_name = ac->name[0] == '\0';
    for (const char *p = ac->name; *p; p++)
        if (!(*p == '-' || *p == '_' || *p == '.' || (*p >= '0' && *p <= '9') ||
              (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            bad_name = true;
    if (bad_name) {
        config_key_error(c, main_s, "name", err, errlen,
                         "'%.64s' is not a usable agent name; write name = NAME with letters, "
                         "digits, '-', '_' or '.'",
                         ac->name);
        goto fail;
    }
    if (ac->collector == NULL) {
        snprintf(err, errlen, "%s:%d: [agent] needs collector = tcp://HOST:PORT", path,
                 main_s->line);
        goto fail;
    }
    if (!ac->insecure_plaintext) {
        if (ac->secret_key == NULL || ac->collector_public_key == NULL) {
            snprintf(err, errlen,
                     "%s:%d: [agent] needs secret_key and collector_public_key (CURVE is on; make "
                     "keys with 'vantage-agent keygen --out DIR')",
                     path, main_s->line);
            goto fail;
        }
        if (!transport_key_valid(ac->collector_public_key)) {
            config_error(c, config_get(main_s, "collector_public_key"), err, errlen,
                         "not a Z85 public key: paste the 40-character line of collector.pub");
            goto fail;
        }
        const struct config_entry *e = config_get(main_s, "secret_key");
        char why[CONFIG_ERR_MAX];
        if (transport_key_file_public(ac->secret_key, e->value, ac->collector_public_key, why,
                                      sizeof(why))) {
            config_error(c, e, err, errlen, "%s", why);
            goto fail;
        }
    }
    ac->credentials = calloc(ncred ? ncred : 1, sizeof(*ac->credentials));
    if (ac->credentials == NULL)
        goto oom;
    for (size_t i = 0; i < config_nsections(c); i++) {
        const struct config_section *s = config_section_at(c, i);
        if (strcmp(s->kind, "credentials") != 0)
            continue;
        if (agentconf_credentials(ac, s->label) != NULL) {
            snprintf(err, errlen, "%s:%d: credentials '%s' are defined twice", path, s->line,
                     s->label);
            goto fail;
        }
        if (load_credentials(c, s, &ac->credentials[ac->ncredentials++], err, errlen) < 0)
            goto fail;
    }
    ac->ini = c;
    return ac;
oom:
    snprintf(err, errlen, "%s: out of memory", path);
fail:
    config_destroy(&c);
    agentconf_destroy(&ac);
    return NULL;
}

void agentconf_destroy(struct agentconf **cp)
{
    if (cp == NULL || *cp == NULL)
        return;
    struct agentconf *c = *cp;
    free(c->path);
    free(c->name);
    free(c->site);
    for (size_t i = 0; i < c->ncollectors; i++)
        free(c->collectors[i]);
    free(c->collector_public_key);
    free(c->secret_key);
    free(c->spool);
    free(c->ca_file);
    free(c->resolver);
    free(c->log_level);
    for (size_t i = 0; i < c->ncredentials; i++) {
        free(c->credentials[i].name);
        free(c->credentials[i].user);
        if (c->credentials[i].password != NULL) {
            explicit_bzero(c->credentials[i].password, strlen(c->credentials[i].password));
            free(c->credentials[i].password);
        }
    }
    free(c->credentials);
    config_destroy(&c->ini);
    free(c);
    *cp = NULL;
}

const struct agentconf_credentials *agentconf_credentials(const struct agentconf *c,
                                                          const char *name)
{
    for (size_t i = 0; i < c->ncredentials; i++)
        if (c->credentials[i].name && strcmp(c->credentials[i].name, name) == 0)
            return &c->credentials[i];
    return NULL;
}

void agentconf_error(const struct agentconf *c, const char *key, const char *what, char *err,
                     size_t errlen)
{
    config_key_error(c->ini, config_find(c->ini, "agent", NULL), key, err, errlen, "%s", what);
}
