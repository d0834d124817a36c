/*
 * config — INI parsing with line-accurate errors (config.h).
 */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "clock.h"

struct section_priv {
    struct config_section pub;
    struct config_entry *entries;
    size_t cap;
};

struct config {
    char *path;
    char *text; /* a private copy, cut into keys and values */
    struct section_priv *sections;
    size_t nsections;
    size_t cap;
};

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        *--end = '\0';
    return s;
}

/* Cuts an inline comment: ';' preceded by whitespace. Never '#'. */
static void cut_comment(char *s)
{
    for (char *p = s; *p; p++)
        if (*p == ';' && p > s && (p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            return;
        }
}

static int valid_name(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
            return 0;
    return 1;
}

static struct section_priv *add_section(struct config *c)
{
    if (c->nsections == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        struct section_priv *s = realloc(c->sections, cap * sizeof(*s));
        if (s == NULL)
            return NULL;
        c->sections = s;
        c->cap = cap;
    }
    struct section_priv *s = &c->sections[c->nsections++];
    memset(s, 0, sizeof(*s));
    return s;
}

static int add_entry(struct section_priv *s, const char *key, const char *value, int line)
{
    if (s->pub.nentries == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        struct config_entry *e = realloc(s->entries, cap * sizeof(*e));
        if (e == NULL)
            return -1;
        s->entries = e;
        s->cap = cap;
    }
    s->entries[s->pub.nentries++] = (struct config_entry){key, value, line};
    return 0;
}

static int parse_lines(struct config *c, char *err, size_t errlen)
{
    struct section_priv *cur = NULL;
    int line = 0;
    char *p = c->text;

    while (*p) {
        char *nl = strchr(p, '\n');
        char *next = nl ? nl + 1 : p + strlen(p);
        if (nl)
            *nl = '\0';
        line++;
        if (strlen(p) > CONFIG_LINE_MAX) {
            snprintf(err, errlen, "%s:%d: line longer than %d characters", c->path, line,
                     CONFIG_LINE_MAX);
            return -1;
        }
        char *s = trim(p);
        p = next;
        if (*s == '\0' || *s == ';' || *s == '#')
            continue;
        if (*s == '[') {
            cut_comment(s);
            s = trim(s);
            size_t n = strlen(s);
            if (s[n - 1] != ']') {
                snprintf(err, errlen, "%s:%d: section header lacks its closing ']'", c->path, line);
                return -1;
            }
            s[n - 1] = '\0';
            char *kind = trim(s + 1);
            char *label = kind;
            while (*label && *label != ' ' && *label != '\t')
                label++;
            if (*label)
                *label++ = '\0';
            label = trim(label);
            if (!valid_name(kind) || (*label && !valid_name(label))) {
                snprintf(err, errlen,
                         "%s:%d: bad section header: expected [name] or [kind label] with letters, "
                         "digits, '-', '_' or '.'",
                         c->path, line);
                return -1;
            }
            cur = add_section(c);
            if (cur == NULL)
                goto oom;
            cur->pub.kind = kind;
            cur->pub.label = label;
            cur->pub.line = line;
            continue;
        }
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "%s:%d: expected 'key = value', '[section]' or a comment",
                     c->path, line);
            return -1;
        }
        *eq = '\0';
        char *key = trim(s);
        char *value = eq + 1;
        cut_comment(value);
        value = trim(value);
        if (!valid_name(key)) {
            snprintf(err, errlen, "%s:%d: bad key '%.64s'", c->path, line, key);
            return -1;
        }
        if (cur == NULL) {
            snprintf(err, errlen, "%s:%d: key '%s' appears before any [section]", c->path, line,
                     key);
            return -1;
        }
        if (add_entry(cur, key, value, line) < 0)
            goto oom;
    }
    for (size_t i = 0; i < c->nsections; i++)
        c->sections[i].pub.entries = c->sections[i].entries;
    return 0;
oom:
    snprintf(err, errlen, "%s: out of memory", c->path);
    return -1;
}

struct config *config_parse(const char *name, const char *text, size_t len, char *err,
                            size_t errlen)
{
    if (len > CONFIG_FILE_MAX) {
        snprintf(err, errlen, "%s: larger than %d bytes", name, CONFIG_FILE_MAX);
        return NULL;
    }
    if (memchr(text, '\0', len) != NULL) {
        snprintf(err, errlen, "%s: contains a NUL byte; not a text file", name);
        return NULL;
    }
    struct config *c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto oom;
    c->path = strdup(name);
    c->text = malloc(len + 1);
    if (c->path == NULL || c->text == NULL)
        goto oom;
    memcpy(c->text, text, len);
    c->text[len] = '\0';
    if (parse_lines(c, err, errlen) < 0) {
        config_destroy(&c);
        return NULL;
    }
    return c;
oom:
    snprintf(err, errlen, "%s: out of memory", name);
    config_destroy(&c);
    return NULL;
}

struct config *config_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        fclose(f);
        return NULL;
    }
    if (st.st_size > CONFIG_FILE_MAX) {
        snprintf(err, errlen, "%s: larger than %d bytes", path, CONFIG_FILE_MAX);
        fclose(f);
        return NULL;
    }
    size_t len = (size_t)st.st_size;
    char *buf = malloc(len + 1);
    if (buf == NULL || fread(buf, 1, len, f) != len) {
        snprintf(err, errlen, "%s: cannot read: %s", path, buf ? strerror(errno) : "out of memory");
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    struct config *c = config_parse(path, buf, len, err, errlen);
    free(buf);
    return c;
}

void config_destroy(struct config **cp)
{
    if (cp == NULL || *cp == NULL)
        return;
    struct config *c = *cp;
    for (size_t i = 0; i < c->nsections; i++)
        free(c->sections[i].entries);
    free(c->sections);
    free(c->text);
    free(c->path);
    free(c);
    *cp = NULL;
}

const char *config_path(const struct config *c)
{
    return c->path;
}

size_t config_nsections(const struct config *c)
{
    return c->nsections;
}

const struct config_section *config_section_at(const struct config *c, size_t i)
{
    return i < c->nsections ? &c->sections[i].pub : NULL;
}

const struct config_section *config_find(const struct config *c, const char *kind,
                                         const char *label)
{
    for (size_t i = 0; i < c->nsections; i++) {
        const struct config_section *s = &c->sections[i].pub;
        if (strcmp(s->kind, kind) == 0 && (label == NULL || strcmp(s->label, label) == 0))
            return s;
    }
    return NULL;
}

const struct config_entry *config_get(const struct config_section *s, const char *key)
{
    const struct config_entry *found = NULL;
    for (size_t i = 0; s != NULL && i < s->nentries; i++)
        if (strcmp(s->entries[i].key, key) == 0)
            found = &s->entries[i];
    return found;
}

void config_error(const struct config *c, const struct config_entry *e, char *err, size_t errlen,
                  const char *fmt, ...)
{
    char msg[CONFIG_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s:%d: key '%s': %s", c->path, e->line, e->key, msg);
}

static int in_list(const char *const *list, const char *key)
{
    for (; list != NULL && *list != NULL; list++)
        if (strcmp(*list, key) == 0)
            return 1;
    return 0;
}

int config_check_keys(const struct config *c, const struct config_section *s,
                      const char *const *allowed, const char *const *lists, char *err,
                      size_t errlen)
{
    for (size_t i = 0; i < s->nentries; i++) {
        const struct config_entry *e = &s->entries[i];
        if (!in_list(allowed, e->key) && !in_list(lists, e->key)) {
            char known[CONFIG_ERR_MAX] = "";
            size_t used = 0;
            /* Stop once the buffer is full: known + used must never point
             * past its end, even for a zero-length write. */
            for (const char *const *k = allowed; k && *k && used < sizeof(known); k++)
                used += (size_t)snprintf(known + used, sizeof(known) - used, "%s%s",
                                         used ? ", " : "", *k);
            for (const char *const *k = lists; k && *k && used < sizeof(known); k++)
                used += (size_t)snprintf(known + used, sizeof(known) - used, "%s%s",
                                         used ? ", " : "", *k);
            config_error(c, e, err, errlen, "unknown in [%s%s%s] (known keys: %s)", s->kind,
                         *s->label ? " " : "", s->label, known);
            return -1;
        }
        if (in_list(lists, e->key))
            continue;
        for (size_t j = 0; j < i; j++)
            if (strcmp(s->entries[j].key, e->key) == 0) {
                config_error(c, e, err, errlen, "given twice (first on line %d)",
                             s->entries[j].line);
                return -1;
            }
    }
    return 0;
}

int config_get_duration(const struct config *c, const struct config_section *s, const char *key,
                        int64_t def_us, int64_t min_us, int64_t max_us, int64_t *out, char *err,
                        size_t errlen)
{
    const struct config_entry *e = config_get(s, key);
    if (e == NULL) {
        *out = def_us;
        return 0;
    }
    int64_t v;
    if (clock_parse_duration(e->value, &v) < 0) {
        config_error(c, e, err, errlen, "'%.64s' is not a duration (e.g. 500ms, 10s, 5m, 1h)",
                     e->value);
        return -1;
    }
    if (v < min_us || v > max_us) {
        config_error(c, e, err, errlen, "must be between %lldms and %llds",
                     (long long)(min_us / 1000), (long long)(max_us / 1000000));
        return -1;
    }
    *out = v;
    return 0;
}

int config_get_uint(const struct config *c, const struct config_section *s, const char *key,
                    uint64_t def, uint64_t min, uint64_t max, uint64_t *out, char *err,
                    size_t errlen)
{
    const struct config_entry *e = config_get(s, key);
    if (e == NULL) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(e->value, &end, 10);
    if (end == e->value || *end != '\0' || errno != 0 || e->value[0] == '-') {
        config_error(c, e, err, errlen, "'%.64s' is not a whole number", e->value);
        return -1;
    }
    if (v < min || v > max) {
        config_error(c, e, err, errlen, "must be between %llu and %llu", (unsigned long long)min,
                     (unsigned long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

int config_get_bool(const struct config *c, const struct config_section *s, const char *key,
                    int def, int *out, char *err, size_t errlen)
{
    const struct config_entry *e = config_get(s, key);
    if (e == NULL) {
        *out = def;
        return 0;
    }
    static const char *const yes[] = {"yes", "true", "on", "1", NULL};
    static const char *const no[] = {"no", "false", "off", "0", NULL};
    if (in_list(yes, e->value)) {
        *out = 1;
        return 0;
    }
    if (in_list(no, e->value)) {
        *out = 0;
        return 0;
    }
    config_error(c, e, err, errlen, "'%.64s' is not yes or no", e->value);
    return -1;
}

/* value taken from the directory of the config file at conf_path (absolute
 * values are kept). malloc'ed, or NULL when out of memory. */
static char *resolve_path(const char *conf_path, const char *value)
{
    if (value[0] == '/')
        return strdup(value);
    const char *slash = strrchr(conf_path, '/');
    if (slash == NULL)
        return strdup(value);
    size_t dlen = (size_t)(slash - conf_path);
    size_t len = dlen + 1 + strlen(value) + 1;
    char *out = malloc(len);
    if (out != NULL)
        snprintf(out, len, "%.*s/%s", (int)dlen, conf_path, value);
    return out;
}

/* prefix + the resolved path; malloc'ed or NULL when out of memory. */
static char *resolve_after(const char *conf_path, const char *prefix, size_t plen,
                           const char *value)
{
    char *p = resolve_path(conf_path, value);
    if (p == NULL)
        return NULL;
    size_t len = plen + strlen(p) + 1;
    char *out = malloc(len);
    if (out != NULL)
        snprintf(out, len, "%.*s%s", (int)plen, prefix, p);
    free(p);
    return out;
}

/* The length of "SCHEME:" at the start of v (two or more letters, then
 * letters, digits, '+', '-' or '.'), or 0. */
static size_t scheme_prefix(const char *v)
{
    size_t i = 0;
    /* strchr() finds the terminator too: test for it first, or a value
     * such as "vantage.db" is read past its end (ASan, config_errors). */
    while (isalpha((unsigned char)v[i]) ||
           (i > 0 && v[i] != '\0' && (isdigit((unsigned char)v[i]) || strchr("+-.", v[i]) != NULL)))
        i++;
    return i >= 2 && v[i] == ':' ? i + 1 : 0;
}

static char *resolve_value(const char *conf_path, enum config_kind kind, const char *v)
{
    size_t n;
    switch (kind) {
    case CONFIG_TEXT:
        return strdup(v);
    case CONFIG_PATH:
        return resolve_path(conf_path, v);
    case CONFIG_LOCATION:
        if (strstr(v, "://") != NULL)
            return strdup(v);
        n = scheme_prefix(v);
        /* "postgresql:host=db dbname=vantage": key=value pairs, no path. */
        if (n > 0 && strspn(v + n, "abcdefghijklmnopqrstuvwxyz_") > 0 &&
            v[n + strspn(v + n, "abcdefghijklmnopqrstuvwxyz_")] == '=')
            return strdup(v);
        return resolve_after(conf_path, v, n, v + n);
    case CONFIG_ENDPOINT:
        /* "ipc://@name" is Linux's abstract namespace: not a file. */
        if (strncmp(v, "ipc://", 6) == 0 && v[6] != '@')
            return resolve_after(conf_path, v, 6, v + 6);
        return strdup(v);
    }
    return NULL;
}

int config_check_endpoint(const char *v, char *why, size_t whylen)
{
    static const char hint[] = "write tcp://HOST:PORT (e.g. tcp://127.0.0.1:7400) or ipc://PATH";
    if (strncmp(v, "tcp://", 6) == 0) {
        const char *host = v + 6;
        const char *colon = strrchr(host, ':');
        const char *port = colon ? colon + 1 : "";
        char *end;
        errno = 0;
        unsigned long n = strtoul(port, &end, 10);
        if (colon == NULL || colon == host || !isdigit((unsigned char)*port) || *end != '\0' ||
            n == 0 || n > 65535 || strchr(host, '/') != NULL) {
            snprintf(why, whylen, "'%.200s' needs a host and a port 1-65535; %s", v, hint);
            return -1;
        }
        return 0;
    }
    if (strncmp(v, "ipc://", 6) == 0) {
        size_t len = strlen(v + 6);
        if (len == 0) {
            snprintf(why, whylen, "ipc:// needs a path; %s", hint);
            return -1;
        }
        if (len > CONFIG_IPC_PATH_MAX) {
            snprintf(why, whylen,
                     "the socket path %.200s%s is %zu characters long, and a unix socket's "
                     "limit is %zu; use a shorter path, e.g. ipc:///run/vantage/NAME",
                     v + 6, len > 200 ? "..." : "", len, (size_t)CONFIG_IPC_PATH_MAX);
            return -1;
        }
        return 0;
    }
    if (strncmp(v, "inproc://", 9) == 0 && v[9] != '\0')
        return 0;
    if (strstr(v, "://") == NULL && strchr(v, ':') != NULL)
        snprintf(why, whylen,
                 "'%.200s' is not a ZeroMQ endpoint; write tcp://HOST:PORT, e.g. tcp://%.200s", v,
                 v);
    else
        snprintf(why, whylen, "'%.200s' is not a ZeroMQ endpoint; %s", v, hint);
    return -1;
}

static const struct config_key *find_key(const struct config_key *keys, const char *name)
{
    for (; keys->name != NULL; keys++)
        if (strcmp(keys->name, name) == 0)
            return keys;
    return NULL;
}

int config_check_section(const struct config *c, const struct config_section *s,
                         const struct config_key *keys, char *err, size_t errlen)
{
    /* Key tables are short (a dozen keys); twice the longest is ample. */
    enum { MAX_KEYS = 32 };
    const char *scalars[MAX_KEYS + 1], *lists[MAX_KEYS + 1];
    size_t ns = 0, nl = 0;
    for (const struct config_key *k = keys; k->name != NULL; k++) {
        assert(ns < MAX_KEYS && nl < MAX_KEYS);
        if (k->list)
            lists[nl++] = k->name;
        else
            scalars[ns++] = k->name;
    }
    scalars[ns] = lists[nl] = NULL;
    return config_check_keys(c, s, scalars, lists, err, errlen);
}

/* Reads one entry (or the default def when e is NULL) as k says. */
static int entry_string(const struct config *c, const struct config_section *s,
                        const struct config_key *k, const struct config_entry *e, const char *def,
                        char **out, char *err, size_t errlen)
{
    const char *v = e ? e->value : def;
    *out = NULL;
    if (v == NULL)
        return 0;
    if (e != NULL && k->kind != CONFIG_TEXT && v[0] == '\0') {
        config_error(c, e, err, errlen, "is empty; give a value or remove the line%s",
                     def ? " to use the default" : "");
        return -1;
    }
    *out = resolve_value(c->path, k->kind, v);
    if (*out == NULL) {
        snprintf(err, errlen, "%s: out of memory", c->path);
        return -1;
    }
    char why[CONFIG_ERR_MAX];
    if (k->kind == CONFIG_ENDPOINT && config_check_endpoint(*out, why, sizeof(why)) < 0) {
        if (e != NULL)
            config_error(c, e, err, errlen, "%s", why);
        else
            snprintf(err, errlen, "%s:%d: [%s] default %s = %s: %s", c->path, s->line, s->kind,
                     k->name, *out, why);
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

int config_get_string(const struct config *c, const struct config_section *s,
                      const struct config_key *keys, const char *key, const char *def, char **out,
                      char *err, size_t errlen)
{
    const struct config_key *k = find_key(keys, key);
    assert(k != NULL); /* a key outside the table is a programmer's error */
    return entry_string(c, s, k, config_get(s, key), def, out, err, errlen);
}

int config_entry_string(const struct config *c, const struct config_section *s,
                        const struct config_key *keys, const struct config_entry *e, char **out,
                        char *err, size_t errlen)
{
    const struct config_key *k = find_key(keys, e->key);
    assert(k != NULL); /* a key outside the table is a programmer's error */
    return entry_string(c, s, k, e, NULL, out, err, errlen);
}

void config_key_error(const struct config *c, const struct config_section *s, const char *key,
                      char *err, size_t errlen, const char *fmt, ...)
{
    char msg[CONFIG_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    const struct config_entry *e = config_get(s, key);
    if (e != NULL)
        snprintf(err, errlen, "%s:%d: key '%s': %s", c->path, e->line, key, msg);
    else
        snprintf(err, errlen, "%s:%d: [%s%s%s] key '%s' is not set, so its default was used: %s",
                 c->path, s->line, s->kind, *s->label ? " " : "", s->label, key, msg);
}
