/*
 * metrics — /metrics in the Prometheus text exposition format 0.0.4
 * (docs/reference.md "HTTP endpoint"): per check and vantage point (or per
 * network with metrics_per = network) up, phase seconds and the duration
 * histogram; open findings; agents' up, last seen, spool drops and lost
 * results; ingest totals; certificate and registration expiry; test mail
 * delivery time. Everything is read from the store at each scrape; open
 * findings are those the continuous diagnosis keeps there (no analysis
 * runs for a scrape).
 * @unittest: tests/unit/test_metrics.c
 */
#ifndef VANTAGE_METRICS_H
#define VANTAGE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "collconf.h"
#include "store.h"

/* The check duration histogram's upper bounds in seconds: from a LAN DNS
 * answer to a check's longest timeout. */
#define METRICS_DURATION_BUCKETS                                                                   \
    {                                                                                              \
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120                       \
    }
#define METRICS_NBUCKETS 14

/* What serve counted since it started (the store does not keep it). */
struct metrics_ingest {
    uint64_t stored, duplicates, invalid;
};

struct metrics;

struct metrics *metrics_create(void);
void metrics_destroy(struct metrics **mp);

/* Writes every metric for the targets of c from store s into out.
 * Returns 0, or -1 with err (a store error, out of memory). */
int metrics_write(struct metrics *m, const struct collconf *c, struct store *s,
                  const struct metrics_ingest *ingest, int64_t now_us, FILE *out, char *err,
                  size_t errlen);

/* ---- the format's pieces, exported for their unit test ---- */

/* Writes v as a label value: backslash, double quote and newline escaped
 * as the text format asks. NULL is written as "". */
void metrics_label_value(FILE *out, const char *v);

/* Writes one histogram's _bucket, _sum and _count lines: counts[i] are the
 * observations in bucket i alone (not cumulative; counts[METRICS_NBUCKETS]
 * those above the last bound), labels the text inside the braces without
 * them ("" for none). */
void metrics_histogram(FILE *out, const char *name, const char *labels,
                       const uint64_t counts[METRICS_NBUCKETS + 1], double sum);

#endif
