/*
 * retention — rollups and pruning while serve runs (retention.h).
 */
#include "retention.h"

#include <stdbool.h>
#include <stdlib.h>

#include "clock.h"
#include "rollup.h"

/* Rows one store call rolls up or removes: a few milliseconds of work, a
 * transaction that ingest hardly notices. */
#define RETENTION_CHUNK 5000
/* Work per tick stops after this long; the rest waits for the next turn
 * of serve's loop (at least once a second). */
#define RETENTION_TICK_BUDGET_US 20000

struct retention {
    struct store *store;
    struct log *log;
    int64_t next_rollup_us;      /* 0: now */
    int64_t next_prune_us;       /* 0: now */
    bool pruning;                /* a prune run is under way */
    bool failed;                 /* this run logged a failure already */
    struct store_pruned removed; /* by the run under way */
    int64_t results_before_us;   /* the run's horizons, fixed at its start */
    int64_t rollups_before_us;
};

struct retention *retention_create(struct store *s, struct log *log)
{
    struct retention *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->store = s;
    r->log = log;
    return r;
}

void retention_destroy(struct retention **rp)
{
    if (rp == NULL || *rp == NULL)
        return;
    free(*rp);
    *rp = NULL;
}

void retention_prune_soon(struct retention *r)
{
    if (!r->pruning)
        r->next_prune_us = 0;
}

static void fail_once(struct retention *r, const char *what)
{
    if (!r->failed)
        log_error(r->log, "retention: %s: %s (retrying later)", what, store_error(r->store));
    r->failed = true;
}

enum step { STEP_DONE, STEP_MORE, STEP_FAILED };

/* Rolls up chunks until none is left or the budget is spent. */
static enum step rollup_some(struct retention *r, uint64_t deadline)
{
    for (;;) {
        uint64_t n = 0;
        if (store_rollup(r->store, RETENTION_CHUNK, &n) < 0) {
            fail_once(r, "rolling up results into hourly aggregates");
            return STEP_FAILED;
        }
        if (n < RETENTION_CHUNK)
            return STEP_DONE;
        if (clock_mono_us() >= deadline)
            return STEP_MORE;
    }
}

static void prune_done(struct retention *r, const struct collconf *conf)
{
    r->pruning = false;
    if (r->removed.results == 0 && r->removed.rollups == 0)
        return;
    char raw[40], agg[40];
    clock_format_iso_us(r->results_before_us, false, raw, sizeof(raw));
    clock_format_iso_us(r->rollups_before_us, false, agg, sizeof(agg));
    log_info(r->log,
             "retention: removed %llu raw results started before %s (retention %lldh) and %llu "
             "hourly aggregates before %s (rollup_retention %lldd)",
             (unsigned long long)r->removed.results, raw,
             (long long)(conf->retention_us / 3600000000LL), (unsigned long long)r->removed.rollups,
             agg, (long long)(conf->rollup_retention_us / 86400000000LL));
}

/* Prunes chunks until the run is over or the budget is spent. */
static void prune_some(struct retention *r, const struct collconf *conf, uint64_t deadline)
{
    while (clock_mono_us() < deadline) {
        struct store_pruned p;
        if (store_prune(r->store, r->results_before_us, r->rollups_before_us, RETENTION_CHUNK, &p) <
            0) {
            fail_once(r, "removing old results");
            r->pruning = false; /* the next run tries again */
            return;
        }
        r->removed.results += p.results;
        r->removed.rollups += p.rollups;
        if (p.results + p.rollups < RETENTION_CHUNK) {
            prune_done(r, conf);
            return;
        }
    }
}

void retention_tick(struct retention *r, const struct collconf *conf, int64_t now_us)
{
    uint64_t deadline = clock_mono_us() + RETENTION_TICK_BUDGET_US;
    bool prune_due = !r->pruning && now_us >= r->next_prune_us;
    if (!r->pruning && !prune_due && now_us < r->next_rollup_us)
        return;
    /* Pruning removes only what is rolled up: catch up first. */
    enum step st = rollup_some(r, deadline);
    if (st == STEP_FAILED)
        r->next_rollup_us = now_us + RETENTION_ROLLUP_EVERY_US;
    if (st != STEP_DONE)
        return;
    if (!r->pruning)
        r->failed = false; /* a failure is logged again once it comes back */
    r->next_rollup_us = now_us + RETENTION_ROLLUP_EVERY_US;
    if (prune_due) {
        r->pruning = true;
        r->removed = (struct store_pruned){0};
        r->results_before_us = now_us - conf->retention_us;
        r->rollups_before_us = rollup_hour_of(now_us - conf->rollup_retention_us);
        r->next_prune_us = now_us + RETENTION_PRUNE_EVERY_US;
    }
    if (r->pruning)
        prune_some(r, conf, deadline);
}
