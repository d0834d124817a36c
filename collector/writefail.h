/*
 * writefail — one log line when the database starts refusing writes and
 * one when it takes them again, instead of a line per attempt: a full
 * disk fails every batch of every agent, many times a second, for as long
 * as it lasts, and a log that repeats itself that fast hides what happened
 * (and fills the disk the journal shares).
 *
 * A run of failures starts at the first writefail_failed() and ends at the
 * next writefail_ok(); within a run, later failures go to the debug level.
 */
#ifndef VANTAGE_WRITEFAIL_H
#define VANTAGE_WRITEFAIL_H

#include <stdbool.h>
#include <stdint.h>

#include "log.h"

struct writefail;

/* NULL when out of memory. log may be NULL. */
struct writefail *writefail_create(struct log *log);
void writefail_destroy(struct writefail **wp);

/* A write failed: what was being written ("storing results of agent a1")
 * and the store's error. Logged at error level when it starts a run. */
void writefail_failed(struct writefail *w, const char *what, const char *err);

/* A transaction committed: ends a run, logging how many writes failed in
 * it and for how long. Does nothing outside a run. */
void writefail_ok(struct writefail *w);

/* True between a failure and the next success. */
bool writefail_failing(const struct writefail *w);

/* Failed writes since creation (for tests and metrics). */
uint64_t writefail_total(const struct writefail *w);

#endif
