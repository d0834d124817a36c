/*
 * serve — the collector daemon: receives hellos, result batches and
 * heartbeats from agents, stores results, acknowledges what is committed,
 * and pushes the target configuration.
 *
 * One thread, one zmq_poll loop over the agents' ROUTER, the ZAP handler
 * and a signalfd; continuous diagnosis and notifications run beside it in
 * a thread of their own (collector/notify/monitor.h). SIGHUP reloads collector.conf's targets and
 * authorized_keys; SIGTERM/SIGINT stop after the current transaction.
 */
#ifndef VANTAGE_SERVE_H
#define VANTAGE_SERVE_H

#include "collconf.h"
#include "log.h"

/* An agent seen within this long counts as connected; agents send a
 * heartbeat every SERVE_AGENT_HEARTBEAT_MS. */
#define SERVE_AGENT_HEARTBEAT_MS  10000
#define SERVE_CONNECTED_WINDOW_US (3LL * SERVE_AGENT_HEARTBEAT_MS * 1000)

/* Runs the daemon until a stop signal. conf is owned by the caller and may
 * be replaced internally on SIGHUP (the caller's pointer stays valid for
 * destruction: serve frees what it replaces). Returns 0 on a clean stop,
 * -1 when it could not start (the reason is logged). */
int serve_run(struct collconf **conf, struct log *log);

#endif
