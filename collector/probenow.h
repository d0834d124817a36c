/*
 * probenow — `vantage-collector probe-now TARGET [--wait S]`: "try it from
 * another computer and another network" in seconds.
 *
 * Asks the running collector (over its control socket) to send run-now to
 * every connected agent, then watches the store as their fresh results
 * arrive, showing which agents answered and which are missing, until all
 * have answered or the wait ends.
 */
#ifndef VANTAGE_PROBENOW_H
#define VANTAGE_PROBENOW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "collconf.h"

#define PROBENOW_DEFAULT_WAIT_S 30
#define PROBENOW_AGENTS_MAX     4096 /* agents tracked in one request */

struct probenow_outcome {
    size_t asked;
    size_t answered;
    int64_t at_us; /* when the request was made (wall clock) */
};

/* Runs the request and the wait; progress goes to progress (NULL: none).
 * Returns 0 with *out filled, or 2 after printing why to stderr. */
int probenow_run(const struct collconf *c, const char *target, int wait_s, FILE *progress,
                 struct probenow_outcome *out);

#endif
