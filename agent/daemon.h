/*
 * daemon — `vantage-agent run`: wires the loop, probe engine, scheduler,
 * spool, uplink and network watcher together and runs until SIGTERM/SIGINT
 * (or SIGHUP: reload).
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

#define DAEMON_RELOAD 1 /* daemon_run's answer to SIGHUP */

/* Runs the agent. Returns 0 after a clean stop, -1 when it could not start
 * (the reason is logged), DAEMON_RELOAD after SIGHUP when conf->path has
 * been read again and is valid: the caller loads it and runs again (the
 * spool keeps every result; probes in flight are started anew). A SIGHUP
 * with an invalid file logs why and changes nothing. Tells systemd
 * READY=1 once running, RELOADING=1 on SIGHUP, STOPPING=1 on SIGTERM. */
int daemon_run(const struct agentconf *conf, struct log *log);

#endif
