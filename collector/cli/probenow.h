/*
 * probenow — `vantage-collector probe-now TARGET [--wait S]`: "try it from
 * another computer and another network" in seconds.
 *
 * Queues the request in the store, where every running collector of the
 * database finds it (cluster.h) and sends run-now to the agents connected
 * to it, recording whom it asked; then watches the store as the answers
 * and the agents' fresh results arrive, showing which agents answered and
 * which are missing, until all have answered or the wait ends.
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
    size_t collectors; /* that answered the request */
    int64_t at_us;     /* when the request was made (wall clock) */
};

/* Runs the request and the wait; progress goes to progress (NULL: none).
 * Returns 0 with *out filled, or 2 after printing why to stderr. */
int probenow_run(const struct collconf *c, const char *target, int wait_s, FILE *progress,
                 struct probenow_outcome *out);

#endif
