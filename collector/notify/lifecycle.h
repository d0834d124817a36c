/*
 * lifecycle — the life of each finding of continuous diagnosis
 * (docs/reference.md "Findings"): its stable id, and opened / changed /
 * resolved from one evaluation to the next, kept in the store.
 *
 * A finding opens once it has held for LIFECYCLE_OPEN_AFTER evaluations
 * in a row and resolves after LIFECYCLE_RESOLVE_AFTER clean ones: one
 * evaluation alone (a probe lost, a server restarting) never notifies.
 *
 * Its id is "f-" and 16 hex digits of a hash of target, verdict, layer and
 * a coarse scope key: the network of a network finding, the agent of a
 * device finding, the server (host of its first check) of any other. A
 * finding whose scope grows or shrinks (one more network, another check
 * of the same server) keeps the id of the finding it overlaps: same
 * target, verdict and layer, and a network, agent or check in common.
 * Ids are derived, not drawn, so they are the same after a restart.
 * @unittest: tests/unit/test_lifecycle.c
 */
#ifndef VANTAGE_LIFECYCLE_H
#define VANTAGE_LIFECYCLE_H

#include <stddef.h>
#include <stdint.h>

#include "analysis.h"
#include "store.h"

#define LIFECYCLE_OPEN_AFTER    2
#define LIFECYCLE_RESOLVE_AFTER 2
#define LIFECYCLE_ID_MAX        32 /* "f-" + 16 hex + "-NN" + NUL, with room */

/* The derived id of finding f of target (before any matching). */
void lifecycle_finding_id(const char *target, const struct analysis_finding *f, char *out,
                          size_t len);

/* Sets d->findings[i].id for every finding of target's diagnosis d: the
 * id of the open or pending finding in s it continues, else the derived
 * one. Returns 0, or -1 with err (a store error or out of memory). */
int lifecycle_assign_ids(struct store *s, const char *target, struct analysis_diagnosis *d,
                         char *err, size_t errlen) __attribute__((warn_unused_result));

/* Called for each opened, changed and resolved: f is the finding's row
 * as written (f->json the finding object). Returns 0 or -1 (abandons). */
typedef int (*lifecycle_event_cb)(const struct store_finding *f, const char *event, void *arg);

/* Applies one evaluation of target at now_us: d's findings (ids
 * assigned) with json[i] the finding object of d->findings[i], against
 * the rows in s. Writes rows and events; calls cb for each event. Runs
 * within the caller's transaction. Returns 0, or -1 with err. */
int lifecycle_apply(struct store *s, const char *target, const struct analysis_diagnosis *d,
                    const char *const *json, int64_t now_us, lifecycle_event_cb cb, void *arg,
                    char *err, size_t errlen) __attribute__((warn_unused_result));

#endif
