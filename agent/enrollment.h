/*
 * enrollment — `vantage-agent enroll LINE`: the agent's half of one-line
 * enrollment (the collector's half is collector/enroll.h).
 *
 * Makes the agent's key pair here (the secret key never leaves this
 * machine), sends the line's one-time secret to the collector over CURVE
 * in an Enroll message and waits for Enrolled. The files (DIR/agent.key
 * 0600, DIR/agent.pub, DIR/agent.conf) are written beside temporary names
 * first and put in place only when the collector said yes, so a refused,
 * expired or unanswered line leaves nothing behind.
 */
#ifndef VANTAGE_ENROLLMENT_H
#define VANTAGE_ENROLLMENT_H

#include <stdio.h>

#define ENROLLMENT_DEFAULT_DIR       "/etc/vantage"
#define ENROLLMENT_DEFAULT_TIMEOUT_S 15 /* a CURVE handshake and one round trip, with slack */

struct enrollment_opts {
    const char *line;  /* as pasted */
    const char *dir;   /* where agent.key, agent.pub, agent.conf go */
    const char *spool; /* spool = in agent.conf (NULL: the default) */
    int timeout_s;
};

/* Runs the enrollment; progress to out, errors to errout. Returns the
 * exit status: 0 enrolled, 1 the collector refused or did not answer,
 * 2 a bad line or a local error. */
int enrollment_run(const struct enrollment_opts *o, FILE *out, FILE *errout);

#endif
