/*
 * enroll_line — the one line `vantage-collector enroll` prints and
 * `vantage-agent enroll` reads: where the collector is, its public key,
 * the agent's name and site, a one-time secret and when the line expires.
 *
 * Text form: "vantage1:" + base64 of the space-separated fields followed
 * by the first 8 hex digits of their SHA-256, so that a line cut short or
 * altered by one character is refused where it is pasted, before anything
 * is written or sent. The checksum is no signature: what makes a line
 * trustworthy is the secret, which the collector checks (it keeps only its
 * SHA-256, enroll_secret_hash()). The fields hold no spaces: endpoints,
 * Z85 keys, names and hex never do.
 */
#ifndef VANTAGE_ENROLL_LINE_H
#define VANTAGE_ENROLL_LINE_H

#include <stddef.h>
#include <stdint.h>

#include "transport.h"

#define ENROLL_LINE_PREFIX  "vantage1:"
#define ENROLL_NAME_MAX     64 /* as authorized_keys names (auth.h) */
#define ENROLL_SECRET_BYTES 32 /* 256 bits: not guessable within any expiry */
#define ENROLL_SECRET_HEX   (2 * ENROLL_SECRET_BYTES)
#define ENROLL_HASH_HEX     64   /* SHA-256 in hex */
#define ENROLL_LINE_MAX     1024 /* base64 of every field at its maximum */

struct enroll_line {
    char endpoint[TRANSPORT_ENDPOINT_MAX + 1]; /* tcp://HOST:PORT of the collector */
    char server_key[TRANSPORT_KEY_LEN + 1];    /* the collector's Z85 public key */
    char name[ENROLL_NAME_MAX + 1];            /* the agent's name */
    char site[ENROLL_NAME_MAX + 1];            /* "" when none */
    char secret[ENROLL_SECRET_HEX + 1];        /* one-time secret, hex */
    int64_t expires;                           /* Unix time, seconds */
};

/* Writes the text form of l into out. 0, or -1 when a field is invalid
 * or out is too small. */
int enroll_line_format(const struct enroll_line *l, char *out, size_t outlen);

/* Parses text (leading "vantage-agent enroll " tolerated) into l.
 * 0, or -1 with a sentence in err saying what is wrong with the line and
 * what to do. Does not check the expiry (the caller knows the time). */
int enroll_line_parse(const char *text, struct enroll_line *l, char *err, size_t errlen);

/* out = lower-case hex SHA-256 of secret (ENROLL_HASH_HEX + 1 bytes). */
void enroll_secret_hash(const char *secret, char *out);

/* Fills secret with ENROLL_SECRET_HEX hex digits from the kernel's
 * random source. 0 or -1. */
int enroll_secret_new(char *secret);

/* Whether s is a valid agent name (the rule of authorized_keys). */
int enroll_name_valid(const char *s);

#endif
