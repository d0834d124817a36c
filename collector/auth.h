/*
 * auth — who may talk to the collector: the authorized_keys file and the
 * ZeroMQ ZAP handler that enforces it (RFC 27).
 *
 * authorized_keys has one "<z85 public key> <agent name>" per line; blank
 * lines and lines starting with '#' that are not keys are comments. Since
 * Z85 keys may themselves start with '#', a line is first tried as a key.
 * The ZAP handler admits a CURVE client whose key is listed and tags its
 * messages with the agent name as User-Id; it refuses every other key and
 * logs it with the peer address, except while an enrollment is pending
 * (enroll.h): then an unknown key is admitted as AUTH_ENROLLEE_MARK + key,
 * and the daemon takes nothing but an Enroll from it. reload (SIGHUP) swaps the list only when
 * the new file is valid.
 */
#ifndef VANTAGE_AUTH_H
#define VANTAGE_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"

#define AUTH_KEYS_MAX 100000 /* agents per collector: far beyond a fleet */
/* The User-Id of a key admitted only to enroll: this character, then the
 * key in Z85 (no agent name contains it). */
#define AUTH_ENROLLEE_MARK '?'

struct auth;

/* Binds the ZAP handler on ctx (before any CURVE socket binds) and loads
 * keys_path (may be NULL with plaintext: then everyone is admitted and
 * named by what they claim). NULL with err on failure. */
struct auth *auth_create(void *ctx, const char *keys_path, bool plaintext, struct log *log,
                         char *err, size_t errlen);
void auth_destroy(struct auth **ap);

/* Re-reads the keys file; keeps the old list on error. 0 or -1 with err. */
int auth_reload(struct auth *a, char *err, size_t errlen);

/* The ZAP socket, to poll for ZMQ_POLLIN. */
void *auth_socket(struct auth *a);

/* Answers every pending ZAP request without blocking. */
void auth_handle(struct auth *a);

/* Whether name is bound to a key now (after revoke and reload: no). */
bool auth_knows(const struct auth *a, const char *name);

size_t auth_count(const struct auth *a);
size_t auth_refused(const struct auth *a);

#endif
