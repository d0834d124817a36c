/*
 * store_pg_track — the in-memory structures of PostgreSQL ingest
 * (store_pg_ingest.c): int64-triple maps, the cache of interned names and
 * an agent's set of stored sequence numbers (int8multirange's ranges).
 * Plain values owned by their holder; nothing here talks to the server.
 */
#ifndef VANTAGE_STORE_PG_TRACK_H
#define VANTAGE_STORE_PG_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keymap.h"

/* Interned names kept in memory per table, as on sqlite: bounded by the
 * configuration and the fleet; past this the cache is emptied. */
#define PG_NAMES_MAX 65536
/* An agent's stored set has one range per gap in its sequence (results
 * its spool dropped). A million gaps would take a spool that overflowed a
 * million separate times; past that the agent's results are refused with
 * a clear error rather than the set read without a bound. */
#define PG_RANGES_MAX 1000000
/* The stored set's text: "{[1,6),[7,10)}"; at most two 20-digit numbers
 * and four characters per range. */
#define PG_RANGES_TEXT_MAX ((size_t)PG_RANGES_MAX * 44 + 3)

struct pg_name_slot {
    uint64_t hash;
    char *name; /* NULL = empty */
    int64_t id;
};

struct pg_names {
    const char *table;
    struct pg_name_slot *slots;
    size_t cap, n;
};

/* The cached id of name: true when found. */
bool pg_names_find(const struct pg_names *in, const char *name, int64_t *id);
/* Caches name's id (a full cache is emptied first); failing for lack of
 * memory only leaves the name uncached. */
void pg_names_put(struct pg_names *in, const char *name, int64_t id);
void pg_names_clear(struct pg_names *in);

struct pg_range {
    int64_t lo, hi; /* [lo, hi) */
};

/* A set of sequence numbers as sorted, disjoint, non-adjacent ranges. */
struct pg_ranges {
    struct pg_range *r;
    size_t n, cap;
};

/* Appends the ranges of "{[1,6),[7,10)}" (int8multirange's canonical
 * text, NUL-terminated at s[len]) to rs. 0 or -1 (malformed, too many). */
int pg_ranges_parse(struct pg_ranges *rs, const char *s, size_t len);
bool pg_ranges_has(const struct pg_ranges *rs, int64_t seq);
/* Adds seq (known absent), merging with its neighbours. 0 or -1. */
int pg_ranges_add(struct pg_ranges *rs, int64_t seq);
/* Makes dst a copy of src. 0 or -1. */
int pg_ranges_copy(struct pg_ranges *dst, const struct pg_ranges *src);
bool pg_ranges_equal(const struct pg_ranges *a, const struct pg_ranges *b);
/* The set as int8multirange text (malloc'ed), NULL without memory. */
char *pg_ranges_text(const struct pg_ranges *rs);
void pg_ranges_free(struct pg_ranges *rs);

#endif
