/*
 * mailflow_submit — the sending side of the mailflow check
 * (probe_mailflow.h): the SMTP dialog from the banner to QUIT. EHLO,
 * STARTTLS (required for submission://, when offered for smtp://), AUTH
 * PLAIN (not for smtp://), MAIL FROM, RCPT TO, DATA and the test message
 * built by mailflow_start(); the 250 after it is "accepted" and starts the
 * reading side. A refusal carries the server's words (they say "mailbox
 * full", "user unknown"); an AUTH refusal carries only its codes.
 */
#ifndef VANTAGE_MAILFLOW_SUBMIT_H
#define VANTAGE_MAILFLOW_SUBMIT_H

#include <stddef.h>

#include "probe_mailflow.h"

/* One line while m->st is one of MF_ST_SMTP_BANNER..MF_ST_SMTP_QUIT. */
void mailflow_submit_line(struct mailflow *m, const char *line, size_t len);

/* The TLS handshake after STARTTLS is done: EHLO again. Returns 0, or -1
 * when the probe is closing. */
int mailflow_submit_upgraded(struct mailflow *m);

#endif
