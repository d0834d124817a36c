/*
 * collconf — collector.conf (docs/reference.md "Configuration"): the collector's
 * own settings and the targets it pushes to every agent.
 */
#ifndef VANTAGE_COLLCONF_H
#define VANTAGE_COLLCONF_H

#include <stdbool.h>
#include <stddef.h>

#include "wire.h"

#define COLLCONF_DEFAULT_LISTEN      "tcp://0.0.0.0:7400"
#define COLLCONF_DEFAULT_DATABASE    "/var/lib/vantage/vantage.db"
#define COLLCONF_DEFAULT_INTERVAL_MS 60000
#define COLLCONF_DEFAULT_TIMEOUT_MS  10000

struct config;

struct collconf {
    char *path;
    char *listen;
    char *database;
    char *secret_key;      /* path; NULL only with insecure_plaintext */
    char *authorized_keys; /* path */
    char *control;         /* endpoint for probe-now; default ipc://DATABASE.control */
    char *log_level;       /* checked: one log_level_parse() takes */
    bool insecure_plaintext;
    struct wire_config targets; /* version is a hash of the targets */
    struct config *ini;         /* the parsed file, kept so collconf_error() can name lines */
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

#endif
