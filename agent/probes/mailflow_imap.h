/*
 * mailflow_imap — the reading side of the mailflow check over IMAP
 * (probe_mailflow.h): greeting, CAPABILITY, STARTTLS for imap://, login
 * (AUTHENTICATE PLAIN with SASL-IR, else LOGIN), SELECT INBOX, UID SEARCH
 * HEADER X-Vantage-Probe "<agent> ", UID FETCH of the marker header of
 * every match (BODY.PEEK: no \Seen flag changes), then IDLE (or a SEARCH
 * every second) until ours is there or the wait ends; then LIST the \Junk
 * folder (RFC 6154) and look there.
 *
 * Deleting: what probe_mailflow_verdict() calls ours or a leftover, by UID
 * STORE +FLAGS.SILENT (\Deleted) and UID EXPUNGE of exactly those UIDs
 * (UIDPLUS); without UIDPLUS a plain EXPUNGE only when every \Deleted
 * message in the folder is one of ours, else they stay flagged.
 */
#ifndef VANTAGE_MAILFLOW_IMAP_H
#define VANTAGE_MAILFLOW_IMAP_H

#include <stddef.h>

#include "probe_mailflow.h"

/* One line while m->st is one of MF_ST_IMAP_GREETING..MF_ST_IMAP_LOGOUT. */
void mailflow_imap_line(struct mailflow *m, const char *line, size_t len);

/* The TLS handshake after STARTTLS is done: CAPABILITY again. Returns 0,
 * or -1 when the probe is closing. */
int mailflow_imap_upgraded(struct mailflow *m);

/* Time for the next SEARCH (the poll timer, or the end of IDLE); once the
 * wait is over, this is the last one in INBOX before Junk. */
void mailflow_imap_poll(struct mailflow *m);

/* Ends IDLE (DONE): news came, or the recheck timer fired. */
void mailflow_imap_idle_done(struct mailflow *m);

#endif
