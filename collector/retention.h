/*
 * retention — serve's housekeeping of the store (docs/reference.md
 * "Retention"): keeps the hourly aggregates up to date with what was
 * stored (store_rollup) and removes raw results older than `retention`
 * and aggregates older than `rollup_retention` (store_prune).
 *
 * It runs on serve's thread, between ingest transactions, in bounded
 * chunks and within a small time budget per call, so ingest is never held
 * up for long: a backlog (a database of millions of results from before
 * rollups existed, or the first prune after retention was lowered) is
 * worked off over many loop turns. Each prune run logs once what it
 * removed.
 */
#ifndef VANTAGE_RETENTION_H
#define VANTAGE_RETENTION_H

#include <stdint.h>

#include "collconf.h"
#include "log.h"
#include "store.h"

/* The aggregates follow ingest within this long: history and timeline
 * see results stored a few seconds ago. */
#define RETENTION_ROLLUP_EVERY_US (2LL * 1000000)
/* A prune run starts at start-up, on SIGHUP and then this often: raw
 * results outlive retention by at most this much, and the log gets a line
 * an hour at most. */
#define RETENTION_PRUNE_EVERY_US (3600LL * 1000000)

struct retention;

/* Housekeeping of store s (owned by the caller, who outlives it); log
 * may be shared. NULL when out of memory. */
struct retention *retention_create(struct store *s, struct log *log);
void retention_destroy(struct retention **rp);

/* Does what is due at now_us, within a few tens of milliseconds, outside
 * any transaction of the caller. conf gives retention and
 * rollup_retention (it may change between calls: SIGHUP). Failures are
 * logged once per run and retried at the next one. */
void retention_tick(struct retention *r, const struct collconf *conf, int64_t now_us);

/* Starts a prune run at the next tick (after SIGHUP: retention may have
 * been lowered). */
void retention_prune_soon(struct retention *r);

#endif
