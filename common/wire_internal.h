/*
 * wire_internal — what common/wire.c, wire_result.c and wire_msg.c share
 * and nothing else includes: the time bounds, the string check and heap
 * copies both decoders use, and the arena's protobuf-c allocator. It
 * includes no protobuf header (only wire*.c see vantage.pb-c.h).
 */
#ifndef VANTAGE_WIRE_INTERNAL_H
#define VANTAGE_WIRE_INTERNAL_H

#include <stddef.h>

#include "wire.h"

/* Times outside years 1..9999 cannot be printed as ISO 8601 and are no
 * real probe's: refused rather than overflowed. */
#define WIRE_TIME_MIN_S (-62135596800LL)
#define WIRE_TIME_MAX_S 253402300799LL

/* 1 when s is absent, or at most max bytes of UTF-8; else 0 with err
 * saying which (what names the field). */
int wire_str_ok(const char *s, size_t max, const char *what, char *err, size_t errlen);

/* *dst = a heap copy of src (NULL for NULL); -1 when out of memory. */
int wire_dup_str(char **dst, const char *src);

/* A heap copy of a list of nsrc strings (NULL ones become ""); *n counts
 * the strings copied so far, so the caller frees a partial copy. */
int wire_dup_list(char ***dst, size_t *n, char **src, size_t nsrc);

/* The arena's ProtobufCAllocator functions (data is the struct wire_arena):
 * allocation never frees, everything goes at wire_arena_reset(). */
void *wire_arena_pb_alloc(void *data, size_t size);
void wire_arena_pb_free(void *data, void *ptr);

#endif
