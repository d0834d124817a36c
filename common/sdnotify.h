/*
 * sdnotify — readiness and state for systemd's Type=notify, without
 * linking libsystemd (the agent stays small): one datagram per call to the
 * AF_UNIX socket named by $NOTIFY_SOCKET (sd_notify(3)'s protocol: a path,
 * or '@' for an abstract name). Without $NOTIFY_SOCKET it does nothing,
 * so the daemons run the same outside systemd.
 */
#ifndef VANTAGE_SDNOTIFY_H
#define VANTAGE_SDNOTIFY_H

/* Sends state ("READY=1", "RELOADING=1\nMONOTONIC_USEC=…", "STOPPING=1",
 * "STATUS=…"). 1 sent, 0 no socket to send to, -1 failed. */
int sdnotify_send(const char *state);

/* "RELOADING=1" with the MONOTONIC_USEC systemd wants alongside it. */
int sdnotify_reloading(void);

#endif
