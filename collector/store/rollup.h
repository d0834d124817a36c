/*
 * rollup — the arithmetic of the hourly aggregates that outlive raw
 * results (docs/reference.md "Retention"): which hour a result belongs
 * to, adding one result to an hour, and merging two partial aggregates of
 * the same hour. Every store backend aggregates with these, so that an
 * hour is the same whichever backend, chunk or order its results were
 * rolled up in.
 */
#ifndef VANTAGE_ROLLUP_H
#define VANTAGE_ROLLUP_H

#include <stdbool.h>
#include <stdint.h>

#define ROLLUP_HOUR_US (3600LL * 1000000)

/* One hour of one (network, target, check): what "when did it start?" and
 * "how bad was it?" need once the raw results are gone. */
struct rollup {
    uint64_t n;            /* results */
    uint64_t ok;           /* of which passed */
    uint64_t total_us_sum; /* sum of their total times (mean = sum / n) */
    uint64_t total_us_max;
    int64_t first_fail_us; /* started_at of the hour's first failure; valid when ok < n */
    int fail_layer;        /* enum result_layer of that failure */
    int fail_error;        /* enum result_error of that failure */
};

/* The start of the UTC hour that holds t_us (floor, also before 1970). */
int64_t rollup_hour_of(int64_t t_us);

/* Adds one result to r. */
void rollup_add(struct rollup *r, bool ok, uint64_t total_us, int64_t started_at_us, int layer,
                int error);

/*
 * Merges from into into, as if into had been given from's results too.
 * Commutative and associative: the first failure is the earliest, and of
 * failures at the same microsecond the one with the lowest (error,
 * layer), so the outcome never depends on the order results arrived or
 * were rolled up in. Counters saturate instead of wrapping.
 * @unittest: tests/unit/test_rollup.c
 */
void rollup_merge(struct rollup *into, const struct rollup *from);

#endif
