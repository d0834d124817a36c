/*
 * store_pg_track — the in-memory structures of PostgreSQL ingest: maps,
 * the interned-name cache and stored sets (store_pg_track.h).
 */
#include "store_pg_track.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The cache of names starts with this many slots. */
#define NAMES_MIN 64

/* ---- interned names --------------------------------------------------------------- */

void pg_names_clear(struct pg_names *in)
{
    for (size_t i = 0; i < in->cap; i++)
        free(in->slots[i].name);
    free(in->slots);
    in->slots = NULL;
    in->cap = in->n = 0;
}

static void names_place(struct pg_names *in, uint64_t h, char *name, int64_t id)
{
    size_t i = h & (in->cap - 1);
    while (in->slots[i].name != NULL)
        i = (i + 1) & (in->cap - 1);
    in->slots[i] = (struct pg_name_slot){h, name, id};
    in->n++;
}

static int names_grow(struct pg_names *in)
{
    size_t ncap = in->cap ? in->cap * 2 : NAMES_MIN, ocap = in->cap;
    struct pg_name_slot *old = in->slots;
    in->slots = calloc(ncap, sizeof(*in->slots));
    if (in->slots == NULL) {
        in->slots = old;
        return -1;
    }
    in->cap = ncap;
    in->n = 0;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].name != NULL)
            names_place(in, old[i].hash, old[i].name, old[i].id);
    free(old);
    return 0;
}

bool pg_names_find(const struct pg_names *in, const char *name, int64_t *id)
{
    if (in->cap == 0)
        return false;
    uint64_t h = keymap_hash_str(name);
    for (size_t i = h & (in->cap - 1); in->slots[i].name != NULL; i = (i + 1) & (in->cap - 1))
        if (in->slots[i].hash == h && strcmp(in->slots[i].name, name) == 0) {
            *id = in->slots[i].id;
            return true;
        }
    return false;
}

void pg_names_put(struct pg_names *in, const char *name, int64_t id)
{
    if (in->n >= PG_NAMES_MAX)
        pg_names_clear(in);
    if ((in->n + 1) * 2 > in->cap && names_grow(in) < 0)
        return;
    char *copy = strdup(name);
    if (copy != NULL)
        names_place(in, keymap_hash_str(name), copy, id);
}

/* ---- stored sets ------------------------------------------------------------------ */

/* One number of the set's text at *p, followed by the character want. */
static int range_number(const char **p, const char *end, char want, int64_t *v)
{
    char *stop;
    errno = 0;
    long long x = strtoll(*p, &stop, 10);
    if (errno != 0 || stop == *p || stop >= end || *stop != want)
        return -1;
    *v = x;
    *p = stop + 1;
    return 0;
}

static int ranges_reserve(struct pg_ranges *rs, size_t n)
{
    if (n <= rs->cap)
        return 0;
    size_t ncap = rs->cap ? rs->cap : 4;
    while (ncap < n)
        ncap *= 2;
    if (ncap > PG_RANGES_MAX)
        return -1;
    struct pg_range *r = realloc(rs->r, ncap * sizeof(*r));
    if (r == NULL)
        return -1;
    rs->r = r;
    rs->cap = ncap;
    return 0;
}

int pg_ranges_parse(struct pg_ranges *rs, const char *s, size_t len)
{
    if (len > PG_RANGES_TEXT_MAX || len < 2 || s[0] != '{' || s[len - 1] != '}')
        return -1;
    const char *p = s + 1, *end = s + len;
    while (p < end && *p != '}') {
        if (*p == ',')
            p++;
        if (p >= end || *p != '[')
            return -1;
        p++;
        int64_t lo, hi;
        if (range_number(&p, end, ',', &lo) < 0 || range_number(&p, end, ')', &hi) < 0 || lo >= hi)
            return -1;
        if (ranges_reserve(rs, rs->n + 1) < 0)
            return -1;
        rs->r[rs->n++] = (struct pg_range){lo, hi};
    }
    return 0;
}

/* Index of the first range with hi > seq. */
static size_t ranges_find(const struct pg_ranges *rs, int64_t seq)
{
    size_t lo = 0, hi = rs->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (rs->r[mid].hi <= seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

bool pg_ranges_has(const struct pg_ranges *rs, int64_t seq)
{
    size_t i = ranges_find(rs, seq);
    return i < rs->n && rs->r[i].lo <= seq;
}

int pg_ranges_add(struct pg_ranges *rs, int64_t seq)
{
    size_t i = ranges_find(rs, seq);
    bool join_prev = i > 0 && rs->r[i - 1].hi == seq;
    bool join_next = i < rs->n && rs->r[i].lo == seq + 1;
    if (join_prev && join_next) {
        rs->r[i - 1].hi = rs->r[i].hi;
        memmove(&rs->r[i], &rs->r[i + 1], (rs->n - i - 1) * sizeof(*rs->r));
        rs->n--;
    } else if (join_prev) {
        rs->r[i - 1].hi = seq + 1;
    } else if (join_next) {
        rs->r[i].lo = seq;
    } else {
        if (ranges_reserve(rs, rs->n + 1) < 0)
            return -1;
        memmove(&rs->r[i + 1], &rs->r[i], (rs->n - i) * sizeof(*rs->r));
        rs->r[i] = (struct pg_range){seq, seq + 1};
        rs->n++;
    }
    return 0;
}

int pg_ranges_copy(struct pg_ranges *dst, const struct pg_ranges *src)
{
    if (ranges_reserve(dst, src->n) < 0)
        return -1;
    if (src->n > 0)
        memcpy(dst->r, src->r, src->n * sizeof(*src->r));
    dst->n = src->n;
    return 0;
}

bool pg_ranges_equal(const struct pg_ranges *a, const struct pg_ranges *b)
{
    return a->n == b->n && (a->n == 0 || memcmp(a->r, b->r, a->n * sizeof(*a->r)) == 0);
}

char *pg_ranges_text(const struct pg_ranges *rs)
{
    size_t cap = rs->n * 44 + 3;
    char *s = malloc(cap);
    if (s == NULL)
        return NULL;
    size_t n = 0;
    s[n++] = '{';
    for (size_t i = 0; i < rs->n; i++)
        n += (size_t)snprintf(s + n, cap - n, "%s[%" PRId64 ",%" PRId64 ")", i ? "," : "",
                              rs->r[i].lo, rs->r[i].hi);
    snprintf(s + n, cap - n, "}");
    return s;
}

void pg_ranges_free(struct pg_ranges *rs)
{
    free(rs->r);
    *rs = (struct pg_ranges){0};
}
