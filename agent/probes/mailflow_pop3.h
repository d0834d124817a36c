/*
 * mailflow_pop3 — the reading side of the mailflow check over POP3
 * (probe_mailflow.h): greeting, STLS for pop3://, USER/PASS, UIDL, TOP n 0
 * of the newest MF_POP_RECENT messages not examined yet, DELE of what
 * probe_mailflow_verdict() calls ours or a leftover, QUIT (which commits
 * the DELEs). A POP3 session sees the maildrop as it was at login, so
 * until ours is there it logs in again every MF_POLL_US; POP3 shows the
 * inbox only, there is no Junk to look in.
 */
#ifndef VANTAGE_MAILFLOW_POP3_H
#define VANTAGE_MAILFLOW_POP3_H

#include <stddef.h>

#include "probe_mailflow.h"

/* One line while m->st is one of MF_ST_POP_GREETING..MF_ST_POP_QUIT. */
void mailflow_pop3_line(struct mailflow *m, const char *line, size_t len);

/* The TLS handshake after STLS is done: log in (no second greeting).
 * Returns 0, or -1 when the probe is closing. */
int mailflow_pop3_upgraded(struct mailflow *m);

/* The session is over (QUIT answered, or the connection lost with no
 * DELE pending): done, out of time, or wait and log in again. */
void mailflow_pop3_after_quit(struct mailflow *m);

#endif
