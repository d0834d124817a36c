/*
 * keymap — the stores' in-memory index from a key of three ids to a
 * position in the owner's array (agents: {id, 0, 0}; latest rows:
 * {agent, target, check}), open addressing; and the string hash of their
 * caches of interned names. Both backends' ingest use it, one map per
 * transaction-sized working set: no locking, no removal of single keys.
 */
#ifndef VANTAGE_KEYMAP_H
#define VANTAGE_KEYMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct keymap_slot {
    int64_t k[3];
    uint32_t idx1; /* index + 1; 0 = empty slot */
};

/* Zero-initialised is an empty map. */
struct keymap {
    struct keymap_slot *slots;
    size_t cap; /* power of two, or 0 */
    size_t n;
};

/* The index of k; when absent, adds it as next and sets *added.
 * -1 when out of memory (nothing added). */
int64_t keymap_get(struct keymap *m, const int64_t k[3], uint32_t next, bool *added);

/* The index of k, or -1 when absent. */
int64_t keymap_find(const struct keymap *m, const int64_t k[3]);

/* Empties m; a map grown past keep slots gives its memory back. */
void keymap_reset(struct keymap *m, size_t keep);

void keymap_free(struct keymap *m);

/* FNV-1a of a NUL-terminated string, for the caches of interned names. */
uint64_t keymap_hash_str(const char *s);

#endif
