/*
 * mailflow_reply — the pure, bounded pieces of the mailflow check
 * (probe_mailflow.h): the test message's marker, the message itself, and
 * parsers for the reply lines the reading dialog needs beyond reply.h
 * (IMAP SEARCH, FETCH with a literal, LIST with RFC 6154 special-use,
 * EXISTS; POP3 UIDL).
 *
 * The marker is the safety rule of the check: a message is ours to delete
 * only when its X-Vantage-Probe header parses as exactly
 * "<agent> <32 hex digits> <unix seconds>" with our agent name. The nonce
 * comes from RAND_bytes (128 bits), so no one else can produce the marker
 * of a message we are waiting for, and no agent's marker matches another
 * agent's name.
 *
 * Nothing here allocates or does I/O; every input is bounded and a line
 * that does not parse gives MAILFLOW_LINE_BAD, never a crash or unbounded
 * work. Tests: tests/unit/test_mailflow_reply.c; fuzzer:
 * tests/fuzz/fuzz_reply_mailflow.c.
 */
#ifndef VANTAGE_MAILFLOW_REPLY_H
#define VANTAGE_MAILFLOW_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The header that marks our test messages. */
#define MAILFLOW_HEADER "X-Vantage-Probe"
/* Agent names are hostnames or config names: 64 is the longest DNS label
 * and more than any agent name we have seen. */
#define MAILFLOW_AGENT_MAX 64
/* 128 bits of nonce, in lower-case hex. */
#define MAILFLOW_NONCE_BYTES 16
#define MAILFLOW_NONCE_HEX   (2 * MAILFLOW_NONCE_BYTES)
/* "agent nonce seconds": the value of the header. */
#define MAILFLOW_MARKER_MAX (MAILFLOW_AGENT_MAX + 1 + MAILFLOW_NONCE_HEX + 1 + 20)
/* UIDs kept from one SEARCH: the check looks for one message plus the
 * leftovers of earlier runs; more than this many matches means a mailbox
 * flooded with markers, and the newest (highest UIDs) are the ones that
 * matter. */
#define MAILFLOW_UIDS_MAX 256
/* The header fields we fetch are one short line; a literal larger than
 * this is not an answer to our FETCH. */
#define MAILFLOW_LITERAL_MAX 8192
/* A POP3 unique-id is 1 to 70 characters (RFC 1939 §7). */
#define MAILFLOW_UIDL_MAX 70
/* A mailbox name from LIST; longer names are refused. */
#define MAILFLOW_MAILBOX_NAME_MAX 255
/* The test message: headers and a short body, well under 2 KiB. */
#define MAILFLOW_MESSAGE_MAX 2048

struct mailflow_marker {
    char agent[MAILFLOW_AGENT_MAX + 1];
    char nonce[MAILFLOW_NONCE_HEX + 1];
    int64_t sent_s; /* unix seconds when the probe made it */
};

/* Whether name can go into a marker: 1 to MAILFLOW_AGENT_MAX letters,
 * digits, '-', '_' or '.' (what agent.conf allows for a name). */
bool mailflow_agent_ok(const char *name);

/* Makes a fresh marker for agent with a RAND_bytes nonce. Returns 0; or -1
 * when the name is not usable or the RNG fails (never a weak nonce). */
int mailflow_marker_new(const char *agent, int64_t now_s, struct mailflow_marker *m)
    __attribute__((warn_unused_result));

/* Writes "agent nonce seconds" (at most MAILFLOW_MARKER_MAX bytes + NUL). */
void mailflow_marker_format(const struct mailflow_marker *m, char *buf, size_t len);

/* Parses a header value "agent nonce seconds" (surrounding blanks
 * allowed). Returns 0, or -1 when it is not exactly that shape. */
int mailflow_marker_parse(const char *value, size_t len, struct mailflow_marker *m);

/* One header line: 1 and *m filled when it is X-Vantage-Probe (name
 * case-insensitive) with a valid value; 0 when it is another header or a
 * blank line; -1 when it is our header with a value that does not parse. */
int mailflow_marker_header(const char *line, size_t len, struct mailflow_marker *m);

struct mailflow_message_params {
    const char *from;       /* envelope and From: address */
    const char *to;         /* the mailbox */
    const char *agent;      /* for the Subject and the body */
    const char *marker;     /* mailflow_marker_format() text */
    const char *message_id; /* "<...>" */
    int64_t now_s;          /* Date: */
};

/* Writes the RFC 5322 test message (CRLF line ends, no line starting with
 * '.', without the final ".") into buf. Returns its length, or -1 when it
 * does not fit or a field contains CR/LF. */
int mailflow_message(const struct mailflow_message_params *p, char *buf, size_t len)
    __attribute__((warn_unused_result));

/* The outcome of a line parser. */
enum mailflow_line {
    MAILFLOW_LINE_OTHER,   /* not the kind of line the parser reads */
    MAILFLOW_LINE_MATCH,   /* parsed; outputs set */
    MAILFLOW_LINE_BAD,     /* that kind of line, but malformed */
    MAILFLOW_LINE_TOO_BIG, /* FETCH: a literal larger than MAILFLOW_LITERAL_MAX */
    MAILFLOW_LINE_LAST
};

/* UIDs from SEARCH replies, the highest MAILFLOW_UIDS_MAX kept. */
struct mailflow_uids {
    uint32_t v[MAILFLOW_UIDS_MAX];
    size_t n;
    uint64_t total; /* every number seen, kept or not */
};

/* "* SEARCH 4 17 23": adds the numbers to u. OTHER for other lines. */
enum mailflow_line mailflow_reply_search(const char *line, size_t len, struct mailflow_uids *u);

/* "* 3 FETCH (UID 17 BODY[HEADER.FIELDS (X-VANTAGE-PROBE)] {52}": the
 * UID (0 when the line has none) and the literal's size that follows the
 * line (*literal = 0 when the line does not end in one). */
enum mailflow_line mailflow_reply_fetch(const char *line, size_t len, uint32_t *uid,
                                        size_t *literal);

/* "* LIST (\HasNoChildren \Junk) "." Junk": MATCH with the name (quoted
 * or atom; a literal name is BAD) when the attributes hold \Junk; OTHER
 * for other lines and for LIST lines without \Junk. */
enum mailflow_line mailflow_reply_list_junk(const char *line, size_t len, char *name,
                                            size_t namelen);

/* "* 23 EXISTS". */
enum mailflow_line mailflow_reply_exists(const char *line, size_t len, uint32_t *n);

/* A line of a POP3 UIDL listing: "msgno unique-id". */
enum mailflow_line mailflow_reply_uidl(const char *line, size_t len, uint32_t *msgno, char *uid,
                                       size_t uidlen);

#endif
