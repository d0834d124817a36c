/*
 * history — the hourly history that outlives raw results
 * (docs/reference.md "Retention"): the `history` command, and the
 * failures timeline shows for the time before `retention`, where the raw
 * results are gone.
 *
 * history --json prints JSON Lines, oldest hour first: {hour, target,
 * network, check, results, ok, failed, total_us_mean, total_us_max,
 * first_failure_at, layer, error} (the last three null for an hour
 * without failures).
 */
#ifndef VANTAGE_HISTORY_H
#define VANTAGE_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "collconf.h"
#include "store.h"

/* The history command: the hours f selects (f->check as written on the
 * command line; it is compared in its canonical form). Returns the exit
 * status: 0, or 2 on an error (written to stderr). */
int history_list(const struct collconf *c, const struct store_rollup_filter *f, bool json,
                 FILE *out);

/* The same on an open store. */
int history_write(struct store *s, const struct store_rollup_filter *f, bool json, FILE *out);

/* At most this many runs of failing hours are shown by timeline: the
 * newest ones; a check that failed every other hour for a year would
 * otherwise print thousands of lines. */
#define HISTORY_RUNS_MAX 100

/*
 * For timeline: target's failures before before_us, from the hourly
 * history, one event per run of consecutive hours in which a (network,
 * check) failed, oldest first: with json, lines {at (the run's first
 * failure), event "failures", network, check, from, until, results,
 * failed, layer, error}; else one line each. *n says how many were
 * printed. Returns 0 or -1 (a store error, in err; an output error).
 */
int history_failures_write(struct store *s, const char *target, int64_t before_us, bool json,
                           FILE *out, size_t *n, char *err, size_t errlen);

#endif
