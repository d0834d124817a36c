/*
 * wire — protobuf-c encoding and validated decoding of every message
 * (wire.h): message kind names, the string checks and heap copies both
 * decoders share, and the arena a batch's results are decoded into.
 *
 * Only the files named common/wire*.c include the generated vantage.pb-c.h:
 * this one, wire_result.c (one probe result) and wire_msg.c (the envelope
 * and its messages). What they share is declared in wire_internal.h, which
 * includes no protobuf header, so nothing outside them sees protobuf even
 * by accident; wire.h stays the only header the rest of the code includes.
 */
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vantage.pb-c.h"
#include "wire_internal.h"

static const char *const kind_names[WIRE_KIND_LAST] = {
    "hello", "batch", "ack", "config", "run_now", "heartbeat", "enroll", "enrolled",
};

const char *wire_kind_name(enum wire_kind kind)
{
    return (unsigned)kind < WIRE_KIND_LAST ? kind_names[kind] : "unknown";
}

/* ---- validation helpers ------------------------------------------------ */

/* Whether s is well-formed UTF-8 (no overlong forms, no surrogates). A
 * probe copies server text as printable ASCII, so only a broken or hostile
 * peer sends anything else, and every consumer (JSON, a PostgreSQL store)
 * needs valid text. */
static int utf8_ok(const unsigned char *s)
{
    while (*s) {
        if (*s < 0x80) {
            s++;
            continue;
        }
        int n;
        uint32_t cp;
        if ((*s & 0xe0) == 0xc0) {
            n = 1;
            cp = *s & 0x1f;
        } else if ((*s & 0xf0) == 0xe0) {
            n = 2;
            cp = *s & 0x0f;
        } else if ((*s & 0xf8) == 0xf0) {
            n = 3;
            cp = *s & 0x07;
        } else {
            return 0;
        }
        for (int i = 1; i <= n; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i] & 0x3f);
        }
        static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        s += n + 1;
    }
    return 1;
}

/* Whether s has no byte above 0x7f, eight bytes at a time: nearly every
 * string is ASCII, and this runs for every field of every result. */
static int ascii_only(const char *s)
{
    size_t len = strlen(s), i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & 0x8080808080808080ULL)
            return 0;
    }
    for (; i < len; i++)
        if ((unsigned char)s[i] & 0x80)
            return 0;
    return 1;
}

/* A decoded string is acceptable when absent, or at most max bytes of
 * UTF-8. */
int wire_str_ok(const char *s, size_t max, const char *what, char *err, size_t errlen)
{
    if (s != NULL && strnlen(s, max + 1) > max) {
        snprintf(err, errlen, "%s longer than %zu bytes", what, max);
        return 0;
    }
    if (s != NULL && !ascii_only(s) && !utf8_ok((const unsigned char *)s)) {
        snprintf(err, errlen, "%s is not UTF-8 text", what);
        return 0;
    }
    return 1;
}

int wire_dup_str(char **dst, const char *src)
{
    if (src == NULL) {
        *dst = NULL;
        return 0;
    }
    *dst = strdup(src);
    return *dst ? 0 : -1;
}

int wire_dup_list(char ***dst, size_t *n, char **src, size_t nsrc)
{
    *dst = NULL;
    *n = 0;
    if (nsrc == 0)
        return 0;
    *dst = calloc(nsrc, sizeof(char *));
    if (*dst == NULL)
        return -1;
    for (size_t i = 0; i < nsrc; i++) {
        if (wire_dup_str(&(*dst)[i], src[i] ? src[i] : "") < 0)
            return -1;
        (*n)++;
    }
    return 0;
}

/* ---- arena ----------------------------------------------------------------- */

/* Blocks of this size hold a batch's decoded results with few blocks; a
 * larger single allocation gets a block of its own. */
#define ARENA_BLOCK 65536

struct arena_block {
    struct arena_block *next;
    size_t cap;
    size_t used;
    max_align_t data[];
};

struct wire_arena {
    struct arena_block *head;
};

struct wire_arena *wire_arena_create(void)
{
    return calloc(1, sizeof(struct wire_arena));
}

void *wire_arena_pb_alloc(void *data, size_t size)
{
    struct wire_arena *a = data;
    size = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    struct arena_block *b = a->head;
    if (b == NULL || b->cap - b->used < size) {
        size_t cap = size > ARENA_BLOCK ? size : ARENA_BLOCK;
        b = malloc(sizeof(*b) + cap);
        if (b == NULL)
            return NULL;
        b->cap = cap;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += size;
    return p;
}

void wire_arena_pb_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr; /* everything goes at wire_arena_reset() */
}

void wire_arena_reset(struct wire_arena *a)
{
    if (a == NULL || a->head == NULL)
        return;
    /* Keep one block: the next batch reuses it without a malloc. */
    struct arena_block *keep = a->head;
    while (keep->next != NULL && keep->cap != ARENA_BLOCK)
        keep = keep->next;
    for (struct arena_block *b = a->head, *next; b != NULL; b = next) {
        next = b->next;
        if (b != keep)
            free(b);
    }
    if (keep->cap == ARENA_BLOCK) {
        keep->next = NULL;
        keep->used = 0;
        a->head = keep;
    } else {
        free(keep);
        a->head = NULL;
    }
}

void wire_arena_destroy(struct wire_arena **ap)
{
    if (ap == NULL || *ap == NULL)
        return;
    for (struct arena_block *b = (*ap)->head, *next; b != NULL; b = next) {
        next = b->next;
        free(b);
    }
    free(*ap);
    *ap = NULL;
}

const char *wire_library_version(void)
{
    return protobuf_c_version();
}
