/*
 * store_pg_ingest_internal — what store_pg_ingest.c (the transaction's
 * results, latest rows and agents, read and kept) and store_pg_commit.c
 * (writing them at commit) share; nothing else includes it.
 * store_pg.h stays the API.
 */
#ifndef VANTAGE_STORE_PG_INGEST_INTERNAL_H
#define VANTAGE_STORE_PG_INGEST_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keymap.h"
#include "store.h"
#include "store_pg.h"
#include "store_pg_array.h"
#include "store_pg_track.h"

/* Columns of latest written at commit (store_pg_commit.c's latest_put). */
#define LATEST_NCOLS 27

/* An agent as this store knows it: read once, kept between transactions. */
struct agent {
    int64_t id;
    struct pg_ranges stored; /* with this transaction's results */
    struct pg_ranges base;   /* as the transaction started: checked at commit */
    uint64_t max_seq;        /* highest seq stored by this transaction */
    bool touched;            /* by this transaction */
    bool dirty;
    bool stale;       /* it reconnected: perhaps sent to another collector since */
    uint64_t kept_us; /* clock_mono_us() when last read or committed */
};

/* As store_sqlite.c's: one key's latest state as the transaction sees it. */
struct latest {
    int64_t agent_id, target_id, check_id, network_id;
    bool had, dirty, ok, discovered;
    int layer, error;
    uint64_t seq;
    int64_t at_us, since_us;
    uint64_t total_us;
    char *detail; /* NULL = none */
    struct store_streak streak;
    int fail_layer, fail_error, phase;
    uint64_t phase_us, delivery_us;
    uint64_t fact_hash[STORE_FACT_LAST];
    char *fact_text[STORE_FACT_LAST]; /* known texts; freed at commit */
    bool texts_loaded;
};

struct store_pg_ingest {
    struct pg_names targets, checks, networks;
    struct keymap agent_map, latest_map;
    struct agent *agents;
    size_t nagents, capagents, ntouched;
    size_t last1;      /* index + 1 of the agent touched last; 0 = none */
    int64_t *lock_ids; /* the transaction's agents, sorted, for the lock */
    size_t caplock;
    struct latest *latest;
    size_t nlatest, caplatest;
    struct store_pg_copy copy;
    struct store_pg_array col[LATEST_NCOLS]; /* the latest rows, a column each */
    struct store_pg_array ids, seqs, sets;   /* the agents' update and lock */
    char *before[STORE_FACT_LAST];           /* store_prev texts of the last call */
    uint64_t keep_fresh_us;                  /* KEEP_FRESH_US, or the test's (keep_fresh_of) */
};

#endif
