/*
 * monitor — continuous diagnosis while serve runs (docs/reference.md
 * "Findings"): every evaluate_every it diagnoses every target, keeps each
 * finding's life (lifecycle.h) and sends notifications (notifier.h).
 *
 * It runs in a thread of its own with its own store connection and its
 * own copy of collector.conf, so ingest never waits for an evaluation
 * (sqlite in WAL mode: the readers of an evaluation do not block ingest's
 * writer, and the evaluation's own write is one short transaction per
 * target), and nothing is shared with serve's loop but two flags and an
 * eventfd that wakes the thread. A timer in serve's loop with a time
 * budget would have cut evaluations of large fleets into slices and
 * still delayed acks by the slice; a thread costs nothing while it waits.
 */
#ifndef VANTAGE_MONITOR_H
#define VANTAGE_MONITOR_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"

struct monitor;

/* Starts the thread for collector.conf at conf_path. With lease_holder
 * (this collector's id, cluster.h) it evaluates and sends only while
 * monitor_set_lease says it holds the lease, and writes each evaluation
 * only if the store still says so in the same transaction; NULL: always.
 * NULL with err when it cannot start (the configuration, the store,
 * libcurl or the thread). */
struct monitor *monitor_start(const char *conf_path, struct log *log, const char *lease_holder,
                              char *err, size_t errlen);

/* The expiry (wall clock) of this collector's lease; 0: another
 * collector holds it, so this one neither evaluates nor notifies. */
void monitor_set_lease(struct monitor *m, int64_t expires_us);

/* Asks the thread to read collector.conf again (SIGHUP); it keeps the
 * configuration it has when the file does not load. */
void monitor_reload(struct monitor *m);

/* Stops the thread after its current step and frees m; NULL is fine. */
void monitor_stop(struct monitor **mp);

#endif
