/*
 * ingest — validated, batched storage of results (ingest.h).
 */
#include "ingest.h"

#include <stdlib.h>

#include "changes.h"
#include "clock.h"
#include "writefail.h"

/* How far ahead of the collector's clock a result may have started: NTP
 * keeps agents within milliseconds, a badly set clock is hours off. */
#define INGEST_FUTURE_MAX_US (300LL * 1000000)

struct ingest {
    struct wire_arena *arena; /* decoded results of the current batch */
    struct store *store;
    struct log *log;
    struct writefail *wf; /* a failing database logged once per run */
    uint64_t clamped;     /* results from the future, ever (for the log's pace) */
    int in_txn;
};

struct ingest *ingest_create(struct store *store, struct log *log)
{
    struct ingest *in = calloc(1, sizeof(*in));
    if (in == NULL)
        return NULL;
    in->store = store;
    in->log = log;
    in->arena = wire_arena_create();
    in->wf = writefail_create(log, WRITEFAIL_SETTLE_US);
    if (in->arena == NULL || in->wf == NULL) {
        wire_arena_destroy(&in->arena);
        writefail_destroy(&in->wf);
        free(in);
        return NULL;
    }
    return in;
}

void ingest_destroy(struct ingest **ip)
{
    if (ip == NULL || *ip == NULL)
        return;
    if ((*ip)->in_txn)
        store_rollback((*ip)->store);
    wire_arena_destroy(&(*ip)->arena);
    writefail_destroy(&(*ip)->wf);
    free(*ip);
    *ip = NULL;
}

int ingest_begin(struct ingest *in)
{
    if (store_begin(in->store) < 0) {
        writefail_failed(in->wf, "beginning a transaction", store_error(in->store));
        return -1;
    }
    in->in_txn = 1;
    return 0;
}

int ingest_batch(struct ingest *in, int64_t agent_id, const char *agent, const char *network,
                 const struct wire_batch *b, struct ingest_stats *stats, uint64_t *max_seq)
{
    /* Decoded results borrow from the arena, emptied per batch: the store
     * copies what it keeps past store_result_add(). */
    wire_arena_reset(in->arena);
    /* Batches follow what is stored (serve refuses one after a gap), so
     * a sequence number skipped here is one the agent no longer had: its
     * spool dropped it before it reached us. Rows it dropped after we
     * stored them (an ack lost with a killed collector) are not lost, so
     * this, not the spool's own count, is the exact loss. */
    uint64_t lost = 0;
    /* The agent's counts ride in the batch's transaction (store.h,
     * struct store_agent_counts): a rolled back batch counts nothing. */
    struct store_agent_counts counts = {0};
    for (size_t i = 0; i < b->nresults; i++) {
        struct result r;
        char err[256];
        if (wire_result_decode_in(in->arena, b->results[i], b->lens[i], &r, err, sizeof(err)) < 0) {
            stats->invalid++;
            counts.invalid++;
            log_warn(in->log, "agent %s: refused result %zu of a batch: %s", agent, i, err);
            continue;
        }
        if (!r.has_seq || r.seq == 0) {
            stats->invalid++;
            counts.invalid++;
            log_warn(in->log, "agent %s: refused a result without a sequence number", agent);
            continue;
        }
        /* The gap before a row is counted by whoever stores the row: a
         * batch ingested twice (by two collectors sharing the database,
         * after a failover) must not count its gaps twice. */
        uint64_t gap = r.seq > *max_seq ? r.seq - *max_seq - 1 : 0;
        if (r.seq > *max_seq)
            *max_seq = r.seq;
        /* A result from hours ahead (an agent's clock set wrong) would be
         * its check's latest state until real time caught up with it,
         * hiding every newer result from the analysis: it is stored at
         * our time instead, the record re-encoded to say so. */
        const uint8_t *record = b->results[i];
        size_t rlen = b->lens[i];
        uint8_t *clamped = NULL;
        int64_t now = clock_wall_us();
        if (r.started_at_us > now + INGEST_FUTURE_MAX_US) {
            int64_t ahead_s = (r.started_at_us - now) / 1000000;
            r.started_at_us = now;
            if (wire_result_encode(&r, &clamped, &rlen) < 0) {
                stats->invalid++;
                counts.invalid++;
                log_error(in->log, "agent %s: out of memory clamping a result", agent);
                continue;
            }
            record = clamped;
            in->clamped++;
            if ((in->clamped & (in->clamped - 1)) == 0)
                log_warn(in->log,
                         "agent %s: result %llu started %lld s in the future (is its clock "
                         "wrong?); stored at the collector's time (%llu results clamped so far; "
                         "logged at the 1st, 2nd, 4th...)",
                         agent, (unsigned long long)r.seq, (long long)ahead_s,
                         (unsigned long long)in->clamped);
        }
        /* Change detection rides on the store's latest state: hashes on
         * the hot path, change rows only when a fact differs. */
        char dns_text[CHANGES_TEXT_MAX];
        struct store_facts facts;
        struct store_prev prev;
        changes_facts(&r, &facts, dns_text, sizeof(dns_text));
        int rc =
            store_result_add_facts(in->store, agent_id, network, &r, record, rlen, &facts, &prev);
        if (rc == 1 && changes_record(in->store, agent, &r, &facts, &prev) < 0)
            rc = -1;
        bool was_clamped = clamped != NULL;
        free(clamped);
        if (rc < 0) {
            char what[RESULT_NAME_MAX + 64];
            snprintf(what, sizeof(what), "storing a result of agent %s", agent);
            writefail_failed(in->wf, what, store_error(in->store));
            return -1;
        }
        /* Clamped counts rows stored at our time: the replay of a clamped
         * result is a duplicate, not a second clamp. */
        if (rc == 1) {
            stats->stored++;
            lost += gap;
            if (was_clamped) {
                stats->clamped++;
                counts.clamped++;
            }
        } else {
            stats->duplicates++;
            counts.duplicates++;
        }
    }
    if (store_agent_counts_add(in->store, agent_id, &counts) < 0) {
        char what[RESULT_NAME_MAX + 64];
        snprintf(what, sizeof(what), "counting the refused input of agent %s", agent);
        writefail_failed(in->wf, what, store_error(in->store));
        return -1;
    }
    if (lost > 0) {
        if (store_agent_lost_add(in->store, agent_id, lost) < 0) {
            char what[RESULT_NAME_MAX + 64];
            snprintf(what, sizeof(what), "counting lost results of agent %s", agent);
            writefail_failed(in->wf, what, store_error(in->store));
            return -1;
        }
        log_warn(in->log, "agent %s: %llu results never arrived (dropped by its bounded spool)",
                 agent, (unsigned long long)lost);
    }
    return 0;
}

int ingest_refused(struct ingest *in, int64_t agent_id, const char *agent)
{
    struct store_agent_counts c = {.refused = 1};
    if (store_agent_counts_add(in->store, agent_id, &c) < 0) {
        char what[RESULT_NAME_MAX + 64];
        snprintf(what, sizeof(what), "counting a refused message of agent %s", agent);
        writefail_failed(in->wf, what, store_error(in->store));
        return -1;
    }
    return 0;
}

int ingest_commit(struct ingest *in)
{
    in->in_txn = 0;
    if (store_commit(in->store) < 0) {
        writefail_failed(in->wf, "committing results", store_error(in->store));
        return -1;
    }
    return 0;
}

void ingest_rollback(struct ingest *in)
{
    if (in->in_txn)
        store_rollback(in->store);
    in->in_txn = 0;
}

struct writefail *ingest_writefail(struct ingest *in)
{
    return in->wf;
}
