/*
 * agentconf — agent.conf (docs/reference.md "Configuration"): the agent's identity,
 * where its collector is, its spool, its trust anchors, and the
 * credentials for login checks, which never leave this machine.
 */
#ifndef VANTAGE_AGENTCONF_H
#define VANTAGE_AGENTCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGENTCONF_DEFAULT_SPOOL "/var/lib/vantage/spool.db"
#define AGENTCONF_PASSWORD_MAX  1024 /* longer passwords are not typed by people */
/* collector = lines: collectors that share one database are a handful per
 * fleet; more lines would only make an outage cost more switches. */
#define AGENTCONF_COLLECTORS_MAX 8
/* failover_timeout and failback_interval (docs/reference.md, agent.conf). */
#define AGENTCONF_FAILOVER_DEFAULT_US (10 * 1000000LL)
#define AGENTCONF_FAILBACK_DEFAULT_US (30 * 1000000LL)

struct config;

struct agentconf_credentials {
    char *name;
    char *user;
    char *password; /* read from password_file; wiped on destroy */
};

struct agentconf {
    char *path;
    char *name;      /* default: hostname */
    char *site;      /* NULL: the collector derives the network */
    char *collector; /* the first endpoint: collectors[0] (not a copy) */
    /* Every collector = in order: the first is preferred, the others take
     * over when it does not answer (uplink.h). */
    char *collectors[AGENTCONF_COLLECTORS_MAX];
    size_t ncollectors;
    int64_t failover_timeout_us;  /* no answer this long: the next collector */
    int64_t failback_interval_us; /* how often an earlier one is asked again */
    char *collector_public_key;
    char *secret_key; /* path */
    char *spool;      /* path */
    char *ca_file;    /* NULL: system store */
    char *resolver;   /* NULL: resolv.conf */
    char *log_level;  /* checked: one log_level_parse() takes */
    bool insecure_plaintext;
    uint64_t spool_max_results;
    struct agentconf_credentials *credentials;
    size_t ncredentials;
    struct config *ini; /* the parsed file, kept so agentconf_error() can name lines */
};

/* Loads and validates path (relative paths from the file's directory),
 * reading every password_file. NULL with "FILE:LINE: ..." in err. */
struct agentconf *agentconf_load(const char *path, char *err, size_t errlen);
void agentconf_destroy(struct agentconf **cp);

/* For a failure found when an [agent] setting is used (opening the spool,
 * reading secret_key, connecting to collector): "FILE:LINE: key 'K': what"
 * into err, from the line that set key (or the [agent] line when key was
 * left at its default). what should say what to do. */
void agentconf_error(const struct agentconf *c, const char *key, const char *what, char *err,
                     size_t errlen);

/* The credentials section named name, or NULL. */
const struct agentconf_credentials *agentconf_credentials(const struct agentconf *c,
                                                          const char *name);

/* Reads a password file: first line, without its newline; refuses files
 * that group or others can read. 0, or -1 with err (never the content). */
int agentconf_read_password(const char *path, char **out, char *err, size_t errlen);

#endif
