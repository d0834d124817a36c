/*
 * ingest — turns result batches from agents into stored rows.
 *
 * Each result is decoded and validated (wire) before it is stored with its
 * exact bytes; a result that fails validation is counted and logged with
 * the agent and the reason, never stored half-way. Several batches share
 * one transaction (ingest_begin .. ingest_commit) so the per-transaction
 * cost is paid once per burst, and acknowledgements are sent only after
 * the commit (the caller asks ingest for each agent's committed seq then).
 */
#ifndef VANTAGE_INGEST_H
#define VANTAGE_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "writefail.h"
#include "store.h"
#include "wire.h"

struct ingest;

struct ingest_stats {
    uint64_t stored;     /* new rows */
    uint64_t duplicates; /* (agent, seq) already stored: resends */
    uint64_t invalid;    /* refused by validation */
    uint64_t clamped;    /* stored at the collector's time: started in the future */
};

struct ingest *ingest_create(struct store *store, struct log *log);
void ingest_destroy(struct ingest **ip);

int ingest_begin(struct ingest *in) __attribute__((warn_unused_result));

/* Stores the results of one batch from agent (agent_id, name, network).
 * Adds to *stats, and to the agent's row in the same transaction its
 * duplicates, invalid and clamped results (store_agent_counts_add), and
 * raises *max_seq to the highest seq in the batch
 * (invalid results included: they are settled too). Returns 0, or -1 on a store error (the
 * transaction must then be rolled back with ingest_rollback). */
int ingest_batch(struct ingest *in, int64_t agent_id, const char *agent, const char *network,
                 const struct wire_batch *b, struct ingest_stats *stats, uint64_t *max_seq)
    __attribute__((warn_unused_result));

/* Counts one message of agent (agent_id, name) that was dropped
 * (undecodable, unexpected, or sent after its key was revoked) in the
 * agent's `refused`, within the open transaction (ingest_begin). Returns
 * 0, or -1 on a store error (logged; roll back as after ingest_batch). */
int ingest_refused(struct ingest *in, int64_t agent_id, const char *agent)
    __attribute__((warn_unused_result));

int ingest_commit(struct ingest *in) __attribute__((warn_unused_result));
void ingest_rollback(struct ingest *in);

/* The run of failing writes (writefail.h) that ingest's own writes
 * report to; the daemon reports its other writes (hello, last seen) to
 * it too, so that a full disk is one log line, not one per write. Owned
 * by in. */
struct writefail *ingest_writefail(struct ingest *in);

#endif
