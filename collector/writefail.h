/*
 * writefail — one log line when the database starts refusing writes and
 * one when it takes them again, instead of a line per attempt: a full
 * disk fails every batch of every agent, many times a second, for as long
 * as it lasts, and a log that repeats itself that fast hides what happened
 * (and fills the disk the journal shares).
 *
 * A run of failures starts at the first writefail_failed() and ends when
 * writes have succeeded for settle_us without a failure between; within a
 * run, later failures go to the debug level. The settling is because a
 * full disk does not fail every write: sqlite reuses a free page, a small
 * last_seen update fits where a batch of results does not, and a run that
 * ended at the first success logged fail, succeed, fail again within
 * 20 ms (chaos.disk_full).
 */
#ifndef VANTAGE_WRITEFAIL_H
#define VANTAGE_WRITEFAIL_H

#include <stdbool.h>
#include <stdint.h>

#include "log.h"

struct writefail;

/* How long writes must succeed before a run of failures counts as over. */
#define WRITEFAIL_SETTLE_US 1000000

/* NULL when out of memory. log may be NULL. settle_us: WRITEFAIL_SETTLE_US
 * (0 ends a run at its first success). */
struct writefail *writefail_create(struct log *log, uint64_t settle_us);
void writefail_destroy(struct writefail **wp);

/* A write failed: what was being written ("storing results of agent a1")
 * and the store's error. Logged at error level when it starts a run; a
 * failure while a run settles continues that run. */
void writefail_failed(struct writefail *w, const char *what, const char *err);

/* A transaction committed: starts the run's settling, or ends the run once
 * it has settled, logging how many writes failed in it and for how long.
 * Does nothing outside a run. */
void writefail_ok(struct writefail *w);

/* Ends a settled run when no write came to do it (call it now and then). */
void writefail_tick(struct writefail *w);

/* True from a failure until the run has ended. */
bool writefail_failing(const struct writefail *w);

/* Failed writes since creation (for tests and metrics). */
uint64_t writefail_total(const struct writefail *w);

#endif
