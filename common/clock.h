/*
 * clock — the two clocks Vantage uses and their text forms.
 *
 * Durations (phase timings, timeouts, backoff) come from the monotonic
 * clock only, so that a wall-clock step never reorders or stretches them.
 * The wall clock only stamps when a result started, for people and for
 * lining up agents.
 */
#ifndef VANTAGE_CLOCK_H
#define VANTAGE_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Monotonic microseconds since an arbitrary origin. */
uint64_t clock_mono_us(void);

/* Wall clock, unix microseconds. */
int64_t clock_wall_us(void);

/* Writes "2026-11-27T10:00:00.123Z" (with_ms) or "2026-11-27T10:00:00Z". */
void clock_format_iso_us(int64_t unix_us, bool with_ms, char *buf, size_t len);

/* Parses "2026-11-27T10:00:00Z" / "...00.123Z"; 0 and *out, or -1. */
int clock_parse_iso(const char *s, int64_t *unix_us);

/* Parses a duration such as "250ms", "10s", "5m", "2h", "7d" or a bare
 * number of seconds into microseconds. Returns 0, or -1 when malformed,
 * negative or larger than a year. */
int clock_parse_duration(const char *s, int64_t *us);

#endif
