/*
 * daemon — `vantage-agent run`: wires the loop, probe engine, scheduler,
 * spool, uplink and network watcher together and runs until SIGTERM/SIGINT.
 *
 * The last target configuration from the collector is kept next to the
 * spool (SPOOL.targets) so that a restarted agent goes on probing while
 * its collector is away.
 */
#ifndef VANTAGE_DAEMON_H
#define VANTAGE_DAEMON_H

#include "agentconf.h"
#include "log.h"

/* Network context re-detection period: a moved laptop shows up within it. */
#define DAEMON_NETCTX_MS 15000

/* Runs the agent. Returns 0 after a clean stop, -1 when it could not start
 * (the reason is logged). */
int daemon_run(const struct agentconf *conf, struct log *log);

#endif
