/*
 * sessmap — finds the serve loop's agent sessions by a key (the ZeroMQ
 * routing id of their connection, or the agent's name) in constant time.
 * With one entry per connected agent, a walk over every session for each
 * message made the collector's loop quadratic in the fleet: at 10,000
 * agents the loop spent its time in memcmp (bench/fleet).
 *
 * The map stores indexes only; it reads an entry's key back through the
 * caller's callback, so the key lives once, in the caller's array, and
 * the array may move (realloc) between calls.
 */
#ifndef VANTAGE_SESSMAP_H
#define VANTAGE_SESSMAP_H

#include <stddef.h>

#define SESSMAP_NONE ((size_t)-1)

/* The current key of entry index: sets *key and returns its length. */
typedef size_t (*sessmap_key_fn)(size_t index, const void **key, void *arg);

struct sessmap;

struct sessmap *sessmap_create(sessmap_key_fn key, void *arg);
void sessmap_destroy(struct sessmap **mp);

/* The index whose key equals key, or SESSMAP_NONE. */
size_t sessmap_get(const struct sessmap *m, const void *key, size_t len);

/* Adds index under key, which must be what the callback gives for index.
 * Returns 0, or -1 when out of memory. */
int sessmap_put(struct sessmap *m, const void *key, size_t len, size_t index)
    __attribute__((warn_unused_result));

/* Removes the entry under key (call before the entry's key changes). */
void sessmap_del(struct sessmap *m, const void *key, size_t len);

#endif
