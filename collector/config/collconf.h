/*
 * collconf — collector.conf (docs/reference.md "Configuration"): the collector's
 * own settings and the targets it pushes to every agent.
 */
#ifndef VANTAGE_COLLCONF_H
#define VANTAGE_COLLCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define COLLCONF_DEFAULT_LISTEN      "tcp://0.0.0.0:7400"
#define COLLCONF_DEFAULT_DATABASE    "/var/lib/vantage/vantage.db"
#define COLLCONF_DEFAULT_INTERVAL_MS 60000
#define COLLCONF_DEFAULT_TIMEOUT_MS  10000
/* Warnings (target keys the collector keeps; agents never see them). */
#define COLLCONF_DEFAULT_CERT_WARN_DAYS 14
#define COLLCONF_CERT_WARN_DAYS_MAX     3650 /* ten years: anything more is a typo */
/* Registration (collconf_domain.c): registries rate-limit, and a
 * registration changes over weeks, so four reads a day are plenty; a
 * month is when a renewal is still routine. */
#define COLLCONF_DEFAULT_RDAP_INTERVAL_MS (6u * 3600 * 1000)
#define COLLCONF_DEFAULT_DOMAIN_WARN_DAYS 30
#define COLLCONF_DOMAIN_WARN_DAYS_MAX     365 /* a registration runs one to ten years */
#define COLLCONF_DEFAULT_RDAP_BOOTSTRAP   "https://data.iana.org/rdap/dns.json"

struct config;
/* mailflow (docs/reference.md "Configuration"): test mail every five
 * minutes is a few hundred small messages a day, little enough for any
 * mailbox; two minutes to arrive covers greylisting-free queues and
 * content filters; a minute of delay is when users start to notice. */
#define COLLCONF_DEFAULT_MAILFLOW_INTERVAL_MS 300000
#define COLLCONF_DEFAULT_MAILFLOW_TIMEOUT_MS  120000
#define COLLCONF_DEFAULT_DELIVERY_WARN_MS     60000

struct collconf {
    char *path;
    char *listen;
    char *database;
    char *secret_key;      /* path; NULL only with insecure_plaintext */
    char *authorized_keys; /* path */
    char *control;         /* endpoint for probe-now; default ipc://DATABASE.control */
    char *log_level;       /* checked: one log_level_parse() takes */
    bool insecure_plaintext;
    /* The HTTP endpoint (collector/web/): ADDRESS:PORT or NULL = off. */
    char *http;
    char *http_token_file;      /* path; NULL = no token asked */
    bool metrics_per_network;   /* metrics_per = network: no agent label */
    struct wire_config targets; /* version is a hash of the targets */
    struct config *ini;         /* the parsed file, kept so collconf_error() can name lines */
    /* What the collector alone needs of each target's mailflow check, one
     * per targets.targets[i] (same order). */
    struct collconf_mailflow *mailflow;
    /* Per target, in the order of targets.targets: cert_warn_days
     * (0 = no certificate warnings). */
    unsigned *cert_warn_days;
    /* continuous diagnosis and notifications */
    int64_t evaluate_every_us;
    struct collconf_notify *notify;
    size_t nnotify;
    /* Per target, likewise: domain_warn_days (0 = no registration
     * warnings). */
    unsigned *domain_warn_days;
    /* retention (collector/retention.h): raw results, hourly aggregates */
    int64_t retention_us;
    int64_t rollup_retention_us;
};

/* Continuous diagnosis and notifications (docs/reference.md
 * "Findings", "Notifications"): every 15 s is four evaluations a minute,
 * so a finding opens (two evaluations) within half a minute; an
 * evaluation costs milliseconds per target (bench/RESULTS.md). */
#define COLLCONF_DEFAULT_EVALUATE_MS 15000
#define COLLCONF_NOTIFY_TIMEOUT_MS   10000
#define COLLCONF_NOTIFY_URL_MAX      1024

/* Retention (docs/reference.md "Retention"): a month of raw results
 * answers "what happened last week?" with every detail; hourly aggregates
 * for a year answer "has this happened before?" and "when did it start?"
 * after the details are gone. An hour at least (the unit of the
 * aggregates); 366 days at most (the longest duration config.c reads). */
#define COLLCONF_DEFAULT_RETENTION_US        (30LL * 86400 * 1000000)
#define COLLCONF_DEFAULT_ROLLUP_RETENTION_US (365LL * 86400 * 1000000)
#define COLLCONF_RETENTION_MIN_US            (3600LL * 1000000)
#define COLLCONF_RETENTION_MAX_US            (366LL * 86400 * 1000000)

/* One [notify NAME] section (collconf_notify.c). */
struct collconf_notify {
    char *name;
    char *alertmanager; /* base URL, or NULL */
    char *webhook;      /* URL, or NULL */
    char *secret;       /* secret_file's content (HMAC key), or NULL; never logged */
    size_t secret_len;
    char **targets; /* none = every target */
    size_t ntargets;
    bool problems_only; /* min_severity = problem */
    uint32_t timeout_ms;
    int line; /* of the section, for messages */
};

/* Reads every [notify NAME] of c into cc (targets already loaded).
 * Returns 0, or -1 with "FILE:LINE: ..." in err (err empty: out of
 * memory). */
int collconf_notify_load(const struct config *c, struct collconf *cc, char *err, size_t errlen);
void collconf_notify_clear(struct collconf *cc);

/* Whether notifier n wants the findings of target (problem: a problem,
 * not a warning). */
bool collconf_notify_wants(const struct collconf_notify *n, const char *target, bool problem);

struct collconf_mailflow {
    bool enabled;              /* the target has a mailflow:// check */
    uint32_t delivery_warn_ms; /* slower test mail is a delivery_slow warning */
};

/* Loads and validates path. Relative paths in it are taken from the
 * file's directory. Returns NULL with "FILE:LINE: ..." in err. */
struct collconf *collconf_load(const char *path, char *err, size_t errlen);
void collconf_destroy(struct collconf **cp);

/* For a failure found when a [collector] setting is used (opening the
 * database, binding listen or control, reading keys): "FILE:LINE: key 'K':
 * what" into err, from the line that set key (or the [collector] line when
 * key was left at its default). what should say what to do. */
void collconf_error(const struct collconf *c, const char *key, const char *what, char *err,
                    size_t errlen);

/* The target named name, or NULL. */
const struct wire_target *collconf_target(const struct collconf *c, const char *name);

/* The mailflow settings of the target named name, or NULL. */
const struct collconf_mailflow *collconf_mailflow_of(const struct collconf *c, const char *name);

/* Target name's cert_warn_days: days before a certificate's expiry that
 * diagnose warns; 0 = never. COLLCONF_DEFAULT_CERT_WARN_DAYS for an
 * unknown target. */
unsigned collconf_cert_warn_days(const struct collconf *c, const char *name);

/* Target name's domain_warn_days: days before the domain's registration
 * expires that diagnose warns; 0 = never. COLLCONF_DEFAULT_DOMAIN_WARN_DAYS
 * for an unknown target. */
unsigned collconf_domain_warn_days(const struct collconf *c, const char *name);

/* Puts target name's warning settings (cert_warn_days, domain_warn_days,
 * delivery_warn) into a diagnosis input, so that every command and the
 * continuous evaluation diagnose alike. */
struct analysis_input;
void collconf_warnings_into(const struct collconf *c, const char *name, struct analysis_input *in);

#endif
