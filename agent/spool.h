/*
 * spool — the agent's durable queue of results (sqlite, survives restart).
 *
 * Every result gets the next per-agent sequence number when it is spooled;
 * rows leave only when the collector acknowledges a sequence at or above
 * theirs. The spool is bounded: past max_results the oldest rows go first,
 * and the count of rows lost that way is kept (and reported in hello and in
 * every batch) for the life of the spool file.
 */
#ifndef VANTAGE_SPOOL_H
#define VANTAGE_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "result.h"

#define SPOOL_DEFAULT_MAX 1000000

struct spool;

struct spool_stats {
    uint64_t pending;   /* rows held */
    uint64_t dropped;   /* rows lost to the bound, ever */
    uint64_t next_seq;  /* sequence the next result gets (first is 1) */
    uint64_t acked_seq; /* highest sequence acknowledged */
};

/* Opens or creates the spool at path (0600, WAL, held exclusively: a second
 * agent on the same file is refused). max_results = 0 means
 * SPOOL_DEFAULT_MAX. NULL with err on failure. */
struct spool *spool_open(const char *path, uint64_t max_results, char *err, size_t errlen);

void spool_close(struct spool **sp);

/* Assigns r->seq (and has_seq), encodes r and stores it durably. Returns 0,
 * or -1 with err. Drops the oldest rows first if the bound is reached. A
 * result that cannot be stored (disk full) counts as dropped: at once in
 * spool_get_stats, in the file with the next append that succeeds. */
int spool_append(struct spool *s, struct result *r, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* cb must not call back into the spool. Calls cb for up to max rows with seq > after, in sequence
 * order, stopping before a row that would bring the bytes delivered past max_bytes (0: no bound;
 * the first row is always delivered, so a large row cannot stall the reader). The bytes are the
 * encoded result; valid only during the call. cb returns 0 to go on, non-zero to stop. Returns
 * the number of rows delivered, or -1. */
typedef int (*spool_row_cb)(uint64_t seq, const uint8_t *rec, size_t len, void *arg);
int spool_read(struct spool *s, uint64_t after, size_t max, size_t max_bytes, spool_row_cb cb,
               void *arg);

/* Deletes every row with seq <= seq. An ack above next_seq (the spool file
 * was replaced while the collector kept the old rows) raises next_seq past
 * it, so new results are not taken for duplicates. Returns 0 or -1. */
int spool_ack(struct spool *s, uint64_t seq);

void spool_get_stats(const struct spool *s, struct spool_stats *out);

#endif
