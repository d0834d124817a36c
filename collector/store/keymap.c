/*
 * keymap — three-id keys to array positions, open addressing (keymap.h).
 * @unittest: tests/unit/test_store_ingest.c, tests/unit/test_store_pg_agents.c
 */
#include "keymap.h"

#include <stdlib.h>
#include <string.h>

/* First size of a map. */
#define KEYMAP_MIN 64

uint64_t keymap_hash_str(const char *s)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t hash_ids(const int64_t k[3])
{
    uint64_t h = (uint64_t)k[0] * 0x9E3779B97F4A7C15ull;
    h ^= (uint64_t)k[1] + 0xBF58476D1CE4E5B9ull + (h << 6) + (h >> 2);
    h ^= (uint64_t)k[2] + 0x94D049BB133111EBull + (h << 6) + (h >> 2);
    h ^= h >> 31;
    return h * 0x9E3779B97F4A7C15ull;
}

static int grow(struct keymap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : KEYMAP_MIN;
    struct keymap_slot *slots = calloc(ncap, sizeof(*slots));
    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].idx1 == 0)
            continue;
        size_t j = hash_ids(m->slots[i].k) & (ncap - 1);
        while (slots[j].idx1 != 0)
            j = (j + 1) & (ncap - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = ncap;
    return 0;
}

int64_t keymap_get(struct keymap *m, const int64_t k[3], uint32_t next, bool *added)
{
    *added = false;
    /* At most half full: probes stay short. */
    if ((m->n + 1) * 2 > m->cap && grow(m) < 0)
        return -1;
    size_t i = hash_ids(k) & (m->cap - 1);
    for (; m->slots[i].idx1 != 0; i = (i + 1) & (m->cap - 1))
        if (memcmp(m->slots[i].k, k, sizeof(m->slots[i].k)) == 0)
            return m->slots[i].idx1 - 1;
    memcpy(m->slots[i].k, k, sizeof(m->slots[i].k));
    m->slots[i].idx1 = next + 1;
    m->n++;
    *added = true;
    return next;
}

int64_t keymap_find(const struct keymap *m, const int64_t k[3])
{
    if (m->cap == 0)
        return -1;
    for (size_t i = hash_ids(k) & (m->cap - 1); m->slots[i].idx1 != 0; i = (i + 1) & (m->cap - 1))
        if (memcmp(m->slots[i].k, k, sizeof(m->slots[i].k)) == 0)
            return m->slots[i].idx1 - 1;
    return -1;
}

void keymap_reset(struct keymap *m, size_t keep)
{
    if (m->cap > keep)
        keymap_free(m);
    else if (m->cap > 0)
        memset(m->slots, 0, m->cap * sizeof(*m->slots));
    m->n = 0;
}

void keymap_free(struct keymap *m)
{
    free(m->slots);
    *m = (struct keymap){0};
}
