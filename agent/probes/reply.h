/*
 * reply — pure, bounded parsers for the line-based replies of SMTP, IMAP
 * and POP3 servers, as a mail client sees them.
 *
 * The dialogs (probe_smtp.c, probe_imap.c, probe_pop3.c) read one line at a
 * time from the connection and feed it here; the parser says whether the
 * reply is complete, still going, or malformed, and collects what the
 * dialog needs to decide its next step: the reply code or condition, the
 * capabilities the server advertised, and a printable copy of the text for
 * the result's banner or detail.
 *
 * Nothing here allocates or does I/O. Every input is bounded: a line longer
 * than REPLY_LINE_MAX, a reply of more than REPLY_LINES_MAX lines, a NUL
 * byte or bytes that do not follow the protocol's grammar give a
 * classified error (enum reply_status), never unbounded memory or a crash.
 * Tests: tests/unit/test_reply.c; fuzzers: tests/fuzz/fuzz_reply_*.c.
 */
#ifndef VANTAGE_REPLY_H
#define VANTAGE_REPLY_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 5321 allows 512 octets per SMTP reply line and POP3 the same; IMAP
 * has no limit, but the capability lines of large servers (Exchange,
 * Gmail, Dovecot with every plugin) stay under 1 KiB. 4 KiB is generous
 * for real servers and keeps a hostile one's cost per line small. */
#define REPLY_LINE_MAX 4096
/* An EHLO reply or a POP3 CAPA list has 10-20 lines; IMAP servers send a
 * few untagged lines before a tagged one. 64 is ample for real servers and
 * bounds the work a hostile server can make us do for one reply. */
#define REPLY_LINES_MAX 64
/* The text ends up in a result's banner or detail, which are cut at
 * RESULT_STR_MAX (1024) anyway. */
#define REPLY_TEXT_MAX 1024

/* The outcome of feeding one line. */
enum reply_status {
    REPLY_MORE,         /* the reply goes on: feed the next line */
    REPLY_DONE,         /* the reply is complete */
    REPLY_ERR_SYNTAX,   /* the line does not follow the protocol's grammar */
    REPLY_ERR_NUL,      /* a NUL byte inside the line */
    REPLY_ERR_TOO_LONG, /* the line is longer than REPLY_LINE_MAX */
    REPLY_ERR_TOO_MANY, /* the reply has more than REPLY_LINES_MAX lines */
    REPLY_ERR_MISMATCH, /* SMTP: a continuation line with another code;
                           IMAP: a tagged line with a tag we did not send */
    REPLY_ERR_DONE,     /* a line fed after the reply was complete */
    REPLY_STATUS_LAST
};

/* Capabilities, one bit each, across the three protocols. */
enum reply_cap {
    REPLY_CAP_STARTTLS = 1u << 0,      /* SMTP/IMAP STARTTLS, POP3 STLS */
    REPLY_CAP_AUTH = 1u << 1,          /* some SASL mechanism is advertised */
    REPLY_CAP_AUTH_PLAIN = 1u << 2,    /* SASL PLAIN */
    REPLY_CAP_AUTH_LOGIN = 1u << 3,    /* SASL LOGIN */
    REPLY_CAP_LOGINDISABLED = 1u << 4, /* IMAP: the LOGIN command is refused */
    REPLY_CAP_SASL_IR = 1u << 5,       /* IMAP: AUTHENTICATE takes an initial response */
    REPLY_CAP_USER = 1u << 6,          /* POP3: USER/PASS */
    REPLY_CAP_IMAP4REV1 = 1u << 7,     /* IMAP: the base protocol */
    REPLY_CAP_PIPELINING = 1u << 8,    /* SMTP PIPELINING, POP3 PIPELINING */
    REPLY_CAP_IDLE = 1u << 9,          /* IMAP IDLE (RFC 2177) */
    REPLY_CAP_UIDPLUS = 1u << 10,      /* IMAP UIDPLUS: UID EXPUNGE (RFC 4315) */
    REPLY_CAP_SPECIAL_USE = 1u << 11   /* IMAP SPECIAL-USE: \Junk and others (RFC 6154) */
};

/* "more", "done", "syntax", ...; NULL when out of range. */
const char *reply_status_name(enum reply_status s);

/* A human-readable phrase for an error status ("line too long"); never NULL. */
const char *reply_status_text(enum reply_status s);

/* Whether s is one of the REPLY_ERR_* values. */
bool reply_status_is_error(enum reply_status s);

/*
 * SMTP (RFC 5321 §4.2): "250-first", "250-next", "250 last". The reply
 * code must be three digits (2-5, 0-5, 0-9) and the same on every line.
 * When the reply is a 250 to EHLO, the lines after the first are keywords
 * (STARTTLS, AUTH PLAIN LOGIN, the old "AUTH=PLAIN LOGIN" form, ...), which
 * set caps.
 */
struct reply_smtp {
    int code;                  /* 0 until the first line is parsed */
    char enhanced[16];         /* "5.7.8" (RFC 3463) of the first line, or "" */
    unsigned caps;             /* REPLY_CAP_* bits from EHLO keywords */
    unsigned nlines;           /* lines fed so far */
    bool done;                 /* the last line has been seen */
    char text[REPLY_TEXT_MAX]; /* printable copy of the lines, '\n'-joined, cut */
};

/* Prepares r for a new reply. */
void reply_smtp_init(struct reply_smtp *r);

/* Feeds one line (a trailing CRLF or LF is ignored). Returns REPLY_MORE
 * until the last line, then REPLY_DONE; an error status leaves r as it was
 * before the line, except nlines. */
enum reply_status reply_smtp_feed(struct reply_smtp *r, const char *line, size_t len);

/* The class of a complete reply: 2, 3, 4 or 5 (the code's first digit). */
int reply_smtp_class(const struct reply_smtp *r);

/*
 * IMAP (RFC 9051 §7): untagged "* ..." lines, a continuation request
 * "+ ...", and the tagged completion "TAG OK|NO|BAD ...". Capabilities come
 * from "* CAPABILITY ..." data and from "[CAPABILITY ...]" response codes
 * in any status line.
 */
enum reply_imap_cond {
    REPLY_IMAP_NONE, /* nothing final seen yet */
    REPLY_IMAP_OK,
    REPLY_IMAP_NO,
    REPLY_IMAP_BAD,
    REPLY_IMAP_PREAUTH,  /* greeting only: already authenticated */
    REPLY_IMAP_BYE,      /* the server is closing the connection */
    REPLY_IMAP_CONTINUE, /* "+ ...": the server waits for more from us */
    REPLY_IMAP_COND_LAST
};

#define REPLY_IMAP_TAG_MAX  16 /* our tags are "V1".."V9"; room to spare */
#define REPLY_IMAP_CODE_MAX 48 /* "AUTHENTICATIONFAILED" and the like */

struct reply_imap {
    char tag[REPLY_IMAP_TAG_MAX]; /* the tag awaited; "" for the greeting */
    enum reply_imap_cond cond;    /* the final condition once done */
    bool bye;                     /* an untagged BYE was seen on the way */
    bool has_caps;                /* a capability list was seen */
    unsigned caps;                /* REPLY_CAP_* bits */
    unsigned nlines;              /* lines fed so far */
    bool done;
    /* The response code atom of the final line ("ALERT",
     * "AUTHENTICATIONFAILED"), letters, digits and '-' only, or "". Safe to
     * show even after an authentication exchange: it never carries text
     * the client sent. */
    char code[REPLY_IMAP_CODE_MAX];
    char text[REPLY_TEXT_MAX]; /* printable copy of the final line, cut */
};

/* Prepares r for the reply to a command sent with tag, or for the greeting
 * when tag is NULL or "". Returns 0, or -1 when the tag is longer than
 * REPLY_IMAP_TAG_MAX - 1 or not an IMAP atom (a programming error). */
int reply_imap_init(struct reply_imap *r, const char *tag);

/* Feeds one line. For the greeting, the first line must be an untagged OK,
 * PREAUTH or BYE and completes the reply. For a command, untagged lines give
 * REPLY_MORE, and the tagged line or a continuation request gives
 * REPLY_DONE with cond set. */
enum reply_status reply_imap_feed(struct reply_imap *r, const char *line, size_t len);

/* "OK", "NO", ...; NULL when out of range. */
const char *reply_imap_cond_name(enum reply_imap_cond c);

/*
 * POP3 (RFC 1939, RFC 2449 CAPA): a status line "+OK ..." or "-ERR ...",
 * optionally followed (for CAPA and other multi-line commands, after +OK)
 * by lines ending in a lone ".". Lines of a CAPA body set caps: STLS, USER,
 * SASL PLAIN LOGIN, PIPELINING.
 */
struct reply_pop3 {
    bool multiline; /* set by init: the command answers with a list */
    bool ok;        /* +OK (true) or -ERR (false), once seen */
    bool status_seen;
    unsigned caps; /* REPLY_CAP_* bits from a CAPA list */
    unsigned nlines;
    bool done;
    char text[REPLY_TEXT_MAX]; /* printable copy of the status line, cut */
};

/* Prepares r for a reply; multiline when the command is CAPA (or another
 * command that answers +OK with a dot-terminated list). */
void reply_pop3_init(struct reply_pop3 *r, bool multiline);

/* Feeds one line. A -ERR is always a single line; +OK of a multi-line
 * reply is followed by body lines until ".". */
enum reply_status reply_pop3_feed(struct reply_pop3 *r, const char *line, size_t len);

/* Copies at most dstlen - 1 bytes of src[0..len) into dst, replacing every
 * byte that is not printable ASCII with '?', and NUL-terminates. A server's
 * text is shown to people and stored as UTF-8 JSON, so control characters
 * and stray high bytes must not pass. Returns the length written. */
size_t reply_printable(char *dst, size_t dstlen, const char *src, size_t len);

#endif
