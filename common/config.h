/*
 * config — INI files as docs/reference.md ("Configuration") defines them.
 *
 * "[name]" or "[kind label]" opens a section; "key = value" adds an entry
 * (a key may repeat where a list is meant). A line starting with ';' or '#'
 * is a comment, and so is the rest of a line after whitespace and ';'. A
 * value is never cut at '#': Z85 keys contain it.
 *
 * Every entry remembers its line, so that each consumer's errors name
 * file:line and key. The parser owns all strings; they live until
 * config_destroy().
 */
#ifndef VANTAGE_CONFIG_H
#define VANTAGE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#define CONFIG_LINE_MAX 4096      /* no sane config line is longer */
#define CONFIG_FILE_MAX (4 << 20) /* 4 MiB: thousands of targets */
#define CONFIG_ERR_MAX  512
/* Longest ipc:// path: sun_path less its terminating NUL. ZeroMQ refuses
 * longer ones with a bare "File name too long" at bind or connect time. */
#define CONFIG_IPC_PATH_MAX (sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1)

struct config;

struct config_entry {
    const char *key;
    const char *value;
    int line;
};

struct config_section {
    const char *kind;  /* "agent", "target", "credentials" */
    const char *label; /* "corp-mail" in "[target corp-mail]"; "" if none */
    int line;
    const struct config_entry *entries;
    size_t nentries;
};

/* Parses a file. Returns NULL with "FILE:LINE: what is wrong" in err. */
struct config *config_load(const char *path, char *err, size_t errlen);

/* Parses text held in memory; name stands for the file in messages. */
struct config *config_parse(const char *name, const char *text, size_t len, char *err,
                            size_t errlen);

void config_destroy(struct config **cp);

const char *config_path(const struct config *c);
size_t config_nsections(const struct config *c);
const struct config_section *config_section_at(const struct config *c, size_t i);

/* The first section of that kind (and label, when label is not NULL). */
const struct config_section *config_find(const struct config *c, const char *kind,
                                         const char *label);

/* The last entry of key in s, or NULL: a repeated scalar key is an error
 * that config_check_keys() reports, so "last" only matters for lists. */
const struct config_entry *config_get(const struct config_section *s, const char *key);

/* Checks that every key of s is in the NULL-terminated allowed list and
 * that keys not in lists (NULL-terminated) appear at most once. Returns 0,
 * or -1 with "FILE:LINE: ..." in err. lists may be NULL. */
int config_check_keys(const struct config *c, const struct config_section *s,
                      const char *const *allowed, const char *const *lists, char *err,
                      size_t errlen);

/* Typed look-ups: 0 and *out (def when the key is absent), or -1 with
 * "FILE:LINE: key 'K': ..." in err. */
int config_get_duration(const struct config *c, const struct config_section *s, const char *key,
                        int64_t def_us, int64_t min_us, int64_t max_us, int64_t *out, char *err,
                        size_t errlen);
int config_get_uint(const struct config *c, const struct config_section *s, const char *key,
                    uint64_t def, uint64_t min, uint64_t max, uint64_t *out, char *err,
                    size_t errlen);
int config_get_bool(const struct config *c, const struct config_section *s, const char *key,
                    int def, int *out, char *err, size_t errlen);

/* Formats "FILE:LINE: key 'K': <fmt>" into err; for consumers' own checks. */
void config_error(const struct config *c, const struct config_entry *e, char *err, size_t errlen,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* What a key's value is; it decides how the value is read. Relative paths
 * are taken from the config file's directory for CONFIG_PATH,
 * CONFIG_LOCATION and ipc:// CONFIG_ENDPOINT values, and for nothing else:
 * a key is a path because its table says so, never because of the function
 * a consumer happened to call (log_level was once read as a path that way).
 * @unittest: tests/unit/test_agentconf.c, test_collconf.c */
enum config_kind {
    CONFIG_TEXT,     /* taken as written: names, levels, addresses, numbers */
    CONFIG_PATH,     /* a file */
    CONFIG_LOCATION, /* "PATH", "SCHEME:PATH" (PATH resolved) or "SCHEME://..." (kept) */
    CONFIG_ENDPOINT, /* ZeroMQ: tcp://HOST:PORT, ipc://PATH (resolved) or inproc://NAME */
};

/* One key a section may hold. Tables end with {NULL}. */
struct config_key {
    const char *name;
    enum config_kind kind;
    bool list; /* may repeat (e.g. check) */
};

/* config_check_keys() for a key table. */
int config_check_section(const struct config *c, const struct config_section *s,
                         const struct config_key *keys, char *err, size_t errlen);

/* The value of key in s (def when absent; NULL def: *out = NULL), read as
 * keys says: paths resolved, endpoints checked. key must be in keys. Returns
 * 0 with a malloc'ed *out, or -1 with "FILE:LINE: key 'K': ..." (or "out of
 * memory") in err. */
int config_get_string(const struct config *c, const struct config_section *s,
                      const struct config_key *keys, const char *key, const char *def, char **out,
                      char *err, size_t errlen);

/* config_get_string() for one entry e of s (an item of a list key, such
 * as a repeated collector =), read as its key's kind in keys says. */
int config_entry_string(const struct config *c, const struct config_section *s,
                        const struct config_key *keys, const struct config_entry *e, char **out,
                        char *err, size_t errlen);

/* For errors found when a value is used (opening, binding, connecting):
 * formats "FILE:LINE: key 'K': <fmt>" from key's line in s, or, when s does
 * not set key, "FILE:LINE: [SECTION] key 'K' is not set, so its default
 * was used: <fmt>" from the section's line. */
void config_key_error(const struct config *c, const struct config_section *s, const char *key,
                      char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Whether endpoint is a ZeroMQ endpoint Vantage can use. 0, or -1 with what
 * is wrong and what to write instead in why. */
int config_check_endpoint(const char *endpoint, char *why, size_t whylen);

#endif
