/*
 * scheduler — runs every target's checks at the target's interval, with
 * jitter so that a fleet of agents (and the checks of one agent) do not
 * probe in lock-step, and on demand (run-now).
 *
 * A check whose previous probe is still running is not started again; the
 * skip is counted and logged, so a slow server cannot pile up probes.
 *
 * mailflow:// checks run on a timer of their own, at the target's
 * mailflow_interval with its mailflow_timeout (the collector pushes both);
 * run-now starts them with the others.
 *
 * rdap:// checks likewise run on a timer of their own (the target's
 * rdap_interval, default 6 h), and not on run-now: registries rate-limit.
 * A registry's Retry-After (result retry_at) is waited out. autoconfig://
 * results feed discovery like the domain's DNS checks: the servers they
 * advertise become discovered checks.
 */
#ifndef VANTAGE_SCHEDULER_H
#define VANTAGE_SCHEDULER_H

#include <stdint.h>
#include <uv.h>

#include "agentconf.h"
#include "log.h"
#include "probe.h"
#include "wire.h"

/* What an agent uses when the collector does not say (an older one): the
 * defaults of collector.conf's mailflow_interval and mailflow_timeout. */
#define SCHEDULER_MAILFLOW_INTERVAL_MS 300000
#define SCHEDULER_MAILFLOW_TIMEOUT_MS  120000
/* ... and of rdap_interval: registries rate-limit (docs/reference.md). */
#define SCHEDULER_RDAP_INTERVAL_MS (6u * 3600 * 1000)

struct scheduler;

/* Receives every finished probe's result; takes ownership of *r. */
typedef void (*scheduler_result_cb)(struct result *r, void *arg);

struct scheduler_params {
    uv_loop_t *loop;
    struct probe_engine *engine; /* not owned */
    struct log *log;
    const struct agentconf *conf; /* credentials; not owned */
    scheduler_result_cb on_result;
    void *arg;
};

struct scheduler *scheduler_create(const struct scheduler_params *p);

/* Stops every timer and frees once they are closed; probes in flight
 * finish into the engine (their results are dropped). Sets *sp to NULL. */
void scheduler_destroy(struct scheduler **sp);

/* Replaces the target set. Checks that fail to parse are logged and left
 * out. Returns the number of checks scheduled, or -1 when out of memory. */
int scheduler_set_targets(struct scheduler *s, const struct wire_config *c);

/* Probes target (every target when NULL or empty) now. Returns how many
 * checks were started. */
int scheduler_run_now(struct scheduler *s, const char *target);

#endif
