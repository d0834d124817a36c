/*
 * enroll — one-line enrollment and revocation of agents on the collector:
 * the state files beside authorized_keys and the rules that change them.
 *
 * DIR/enrollments (DIR: authorized_keys' directory) lists the pending
 * lines, "<sha256 of the secret> <name> <site or -> <expires, Unix s>":
 * the secret itself is kept nowhere, so the file cannot be used to enroll.
 * A line works once: accepting it appends "<key> <name>" to
 * authorized_keys and removes the entry in the same locked step (the
 * daemon is single-threaded, so two agents racing for one line get one
 * success and one "unknown line"). DIR/revoked records "<time> <name>
 * <key>" for every revoked agent. Every rewrite goes to a temporary file
 * renamed over the old one, under flock on DIR, so a crash leaves the old
 * file or the new one, never half of one. Hand-edited authorized_keys
 * lines are kept as written.
 */
#ifndef VANTAGE_ENROLL_H
#define VANTAGE_ENROLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "collconf.h"

#define ENROLL_DEFAULT_TTL_S (24 * 3600) /* a day: long enough to reach the branch machine */
#define ENROLL_PENDING_MAX   10000       /* pending lines kept in the file */

/* `vantage-collector enroll`: records a new pending enrollment for name
 * (replacing a pending one of that name) and writes the line into line.
 * address: the collector's tcp://HOST:PORT as agents reach it; NULL
 * derives it from listen (the host name when listen is a wildcard).
 * 0, or -1 with a sentence in err. */
int enroll_create(const struct collconf *c, const char *name, const char *site, int64_t ttl_s,
                  const char *address, char *line, size_t linelen, char *err, size_t errlen);

/* Whether a pending, unexpired enrollment exists beside keys_path: only
 * then may unknown keys connect (to send Enroll and nothing else). */
bool enroll_pending(const char *keys_path);

/* The daemon's half: checks secret against the pending entries, and on
 * success authorizes key_z85 under the entry's name (written into
 * name_out). 0, or -1 with err: a sentence for the person at the agent
 * (it is sent back in Enrolled; it never contains the secret). */
int enroll_accept(const char *keys_path, const char *name, const char *secret, const char *key_z85,
                  char *name_out, size_t namelen, char *err, size_t errlen);

/* `vantage-collector revoke`: removes name's keys from authorized_keys
 * and its pending enrollments, records it in revoked. 0, or -1 with err.
 * The caller tells a running collector (control "reload-keys"). */
int enroll_revoke(const struct collconf *c, const char *name, char *err, size_t errlen);

/* Prints the pending enrollments and revoked agents (for `agents`);
 * json: JSON Lines with "name", "state" ("pending" or "revoked"), "site",
 * "expires" or "revoked_at". Nothing when there is neither. */
void enroll_print_state(const struct collconf *c, bool json, FILE *out);

#endif
