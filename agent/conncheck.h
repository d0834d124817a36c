/*
 * conncheck — `vantage-agent check-connection`: tries the link to the
 * collector once, the way the daemon would (CURVE handshake, then a hello
 * answered by an ack), and says plainly whether it works and, if not,
 * which of the usual causes the socket monitor points at (linkstate.h).
 *
 * With several collector = lines every one is tried at once (one timeout
 * for all), and each is reported: the link works when all answer.
 *
 * The hello is marked check_only, so a collector records nothing and the
 * running daemon's session is left alone.
 */
#ifndef VANTAGE_CONNCHECK_H
#define VANTAGE_CONNCHECK_H

#include <stdio.h>

#include "agentconf.h"

#define CONNCHECK_DEFAULT_TIMEOUT_S 10
#define CONNCHECK_POLL_MS           100 /* how often the monitor is read */

enum conncheck_status {
    CONNCHECK_OK = 0,     /* connected, key accepted, hello answered */
    CONNCHECK_FAILED = 1, /* the collector could not be reached or refused us */
    CONNCHECK_ERROR = 2,  /* could not try: keys, sockets */
};

/* Tries once, for at most timeout_ms. Each collector's verdict goes to
 * out when its link works and to errout otherwise; CONNCHECK_OK only when
 * every collector answered. */
enum conncheck_status conncheck_run(const struct agentconf *conf, int timeout_ms, FILE *out,
                                    FILE *errout);

#endif
