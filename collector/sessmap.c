/*
 * sessmap — open addressing with linear probing (sessmap.h).
 */
#include "sessmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SLOT_EMPTY 0
#define SLOT_GONE  SIZE_MAX /* a removed entry: probing goes on past it */
#define CAP_FIRST  64

struct sessmap {
    size_t *slots; /* index + 1, SLOT_EMPTY or SLOT_GONE */
    size_t cap;    /* a power of two */
    size_t used;   /* entries and removed ones: at most half of cap */
    sessmap_key_fn key;
    void *arg;
};

static uint64_t hash(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static int same(const struct sessmap *m, size_t index, const void *key, size_t len)
{
    const void *k;
    size_t klen = m->key(index, &k, m->arg);
    return klen == len && memcmp(k, key, len) == 0;
}

struct sessmap *sessmap_create(sessmap_key_fn key, void *arg)
{
    struct sessmap *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->slots = calloc(CAP_FIRST, sizeof(*m->slots));
    if (m->slots == NULL) {
        free(m);
        return NULL;
    }
    m->cap = CAP_FIRST;
    m->key = key;
    m->arg = arg;
    return m;
}

void sessmap_destroy(struct sessmap **mp)
{
    if (mp == NULL || *mp == NULL)
        return;
    free((*mp)->slots);
    free(*mp);
    *mp = NULL;
}

/* The slot holding key, or SIZE_MAX. */
static size_t find(const struct sessmap *m, const void *key, size_t len)
{
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)hash(key, len) & mask, n = 0; n < m->cap; i = (i + 1) & mask, n++) {
        size_t v = m->slots[i];
        if (v == SLOT_EMPTY)
            return SIZE_MAX;
        if (v != SLOT_GONE && same(m, v - 1, key, len))
            return i;
    }
    return SIZE_MAX;
}

size_t sessmap_get(const struct sessmap *m, const void *key, size_t len)
{
    size_t i = find(m, key, len);
    return i == SIZE_MAX ? SESSMAP_NONE : m->slots[i] - 1;
}

static void insert(size_t *slots, size_t cap, uint64_t h, size_t value)
{
    size_t mask = cap - 1;
    size_t i = (size_t)h & mask;
    while (slots[i] != SLOT_EMPTY && slots[i] != SLOT_GONE)
        i = (i + 1) & mask;
    slots[i] = value;
}

/* Rebuilds the table at twice the entries it holds (dropping removed
 * ones), reading every key back through the callback. */
static int grow(struct sessmap *m)
{
    size_t live = 0;
    for (size_t i = 0; i < m->cap; i++)
        live += m->slots[i] != SLOT_EMPTY && m->slots[i] != SLOT_GONE;
    size_t cap = m->cap;
    while (cap < 4 * (live + 1))
        cap *= 2;
    size_t *slots = calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        size_t v = m->slots[i];
        if (v == SLOT_EMPTY || v == SLOT_GONE)
            continue;
        const void *k;
        size_t klen = m->key(v - 1, &k, m->arg);
        insert(slots, cap, hash(k, klen), v);
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    m->used = live;
    return 0;
}

int sessmap_put(struct sessmap *m, const void *key, size_t len, size_t index)
{
    if (find(m, key, len) != SIZE_MAX)
        sessmap_del(m, key, len);
    if (2 * (m->used + 1) > m->cap && grow(m) < 0)
        return -1;
    insert(m->slots, m->cap, hash(key, len), index + 1);
    m->used++;
    return 0;
}

void sessmap_del(struct sessmap *m, const void *key, size_t len)
{
    size_t i = find(m, key, len);
    if (i != SIZE_MAX)
        m->slots[i] = SLOT_GONE;
}
