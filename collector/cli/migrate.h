/*
 * migrate — `vantage-collector migrate-store`: copies a whole store into
 * another (sqlite into PostgreSQL, or back), through the store interface
 * alone, so any backend copies into any other (docs/reference.md,
 * "vantage-collector migrate-store").
 *
 * What is copied, and how, so that a copy interrupted at any point and
 * run again neither loses nor duplicates a row:
 *   agents             by name, every fact; lost counts set, not added
 *   raw results        per agent in seq order with their exact bytes,
 *                      through the target's store_result_add (exactly
 *                      once by (agent, seq)); an agent resumes after its
 *                      committed seq in the target
 *   latest state       row by row as it is (streaks may predate the
 *                      results retention kept)
 *   changes, finding   appended in the source's order; the target's
 *   events             count says how many were copied already
 *   findings           by id (replaced)
 *   hourly aggregates  hour by hour (replaced), after the source's own
 *                      rollup has counted every result; the copied
 *                      results are then marked counted in the target
 * Not copied: the notification queue (counted and named on stderr),
 * the registry of running collectors, leases and probe-now requests
 * (state of running processes, which a copy has none of).
 *
 * The target is marked with a lease (store.h) named MIGRATE_MARK whose
 * holder is the source's identity: an empty target, or one marked by the
 * same source (an interrupted or earlier copy), is accepted; anything
 * else is refused.
 */
#ifndef VANTAGE_MIGRATE_H
#define VANTAGE_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* The lease a copy leaves in its target, naming its source. */
#define MIGRATE_MARK "migrate-store"

/* Results per transaction of the target unless --batch says otherwise:
 * large enough that a commit's cost vanishes (PostgreSQL writes the
 * batch with one COPY), small enough that an interruption loses seconds
 * of work and memory stays a few MB (records are at most a few KB). */
#define MIGRATE_BATCH_DEFAULT 5000
#define MIGRATE_BATCH_MAX     100000

struct migrate_opts {
    const char *from; /* database location, as `database =` takes it */
    const char *to;
    size_t batch;   /* results (and rows) per transaction of the target */
    FILE *progress; /* progress lines and warnings (stderr) */
    FILE *out;      /* the summary (stdout) */
};

/* Copies o->from into o->to. Returns the exit status: 0 copied (or
 * nothing left to copy), 2 refused or failed, after one line on
 * o->progress naming the database (passwords redacted) and what to do. */
int migrate_store(const struct migrate_opts *o);

/* What a copy may do with a target: it is empty, it holds a copy of the
 * same source (resume, or copy what the source gained since), or it
 * holds other data (refused). holder is the MIGRATE_MARK lease's holder
 * ("" when none), ours the source's identity.
 * @unittest: tests/unit/test_migrate.c */
enum migrate_target { MIGRATE_TARGET_EMPTY, MIGRATE_TARGET_RESUME, MIGRATE_TARGET_OTHER };
enum migrate_target migrate_target_verdict(bool has_data, const char *holder, const char *ours);

/* The identity of a source, from its canonical location (a sqlite
 * file's real path, or the PostgreSQL location without its password):
 * "from-" and 16 hex digits, a lease holder (STORE_COLLECTOR_ID_MAX).
 * @unittest: tests/unit/test_migrate.c */
void migrate_source_id(const char *canonical, char *out, size_t n);

#endif
