/*
 * http_reply — the head of one HTTP/1.x response (status line and header
 * fields), as the https:// probe needs it: the final status, the reason,
 * and the Server and Location fields.
 *
 * Parsing is Debian's libhttp-parser's job (nodejs/http-parser 2.9), not
 * ours. This module feeds it the lines conn delivers, one at a time (conn
 * bounds each line and strips its end; we give the parser CRLF back), and
 * keeps only the few fields the probe reports, in fixed-size printable
 * buffers. Interim 1xx responses (100 Continue, 103 Early Hints) are
 * skipped as a browser skips them; the body is never read.
 *
 * Like reply.h's parsers, nothing here allocates or does I/O, and every
 * input is bounded: a line longer than HTTP_REPLY_LINE_MAX, a head of more
 * than HTTP_REPLY_LINES_MAX lines, a NUL byte, or anything the parser
 * rejects gives a classified enum reply_status, never a crash.
 * Tests: tests/unit/test_http_reply.c; fuzzer: tests/fuzz/fuzz_http_reply.c.
 */
#ifndef VANTAGE_HTTP_REPLY_H
#define VANTAGE_HTTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include <http_parser.h>

#include "reply.h"

/* Web servers accept request header lines of 8 KiB (nginx's
 * large_client_header_buffers, Apache's LimitRequestFieldSize) and send
 * response lines of that order (long Content-Security-Policy or Set-Cookie
 * fields). 16 KiB leaves room while bounding the buffer per probe. */
#define HTTP_REPLY_LINE_MAX 16384
/* Real response heads have 5-40 fields; the bound caps the work a hostile
 * server can make us do, interim responses included. */
#define HTTP_REPLY_LINES_MAX 200
/* Reason phrase and Server field: a line of a screen, as the result shows
 * them. */
#define HTTP_REPLY_TEXT_MAX 160
/* A Location is a URL; longer ones are cut (the result's detail is cut at
 * RESULT_STR_MAX anyway). */
#define HTTP_REPLY_LOCATION_MAX 1024

enum http_reply_field {
    HTTP_REPLY_FIELD_OTHER,    /* a field we do not keep */
    HTTP_REPLY_FIELD_SERVER,   /* Server */
    HTTP_REPLY_FIELD_LOCATION, /* Location */
    HTTP_REPLY_FIELD_LAST
};

struct http_reply {
    http_parser parser;
    unsigned status; /* the final status code, once REPLY_DONE */
    unsigned major;  /* HTTP version of the final response */
    unsigned minor;
    unsigned nlines;                        /* lines fed so far */
    unsigned interim;                       /* 1xx responses skipped */
    bool done;                              /* the head of the final response is complete */
    bool head_ended;                        /* set by the parser's callback, read by the feeder */
    char reason[HTTP_REPLY_TEXT_MAX];       /* printable, possibly cut */
    char server[HTTP_REPLY_TEXT_MAX];       /* printable, "" when absent */
    char location[HTTP_REPLY_LOCATION_MAX]; /* printable, "" when absent */
    /* The field whose value the parser delivers now, and the bytes of its
     * name seen so far (names we keep are short). */
    enum http_reply_field field;
    bool in_value;
    char name[16];
    size_t namelen;
    bool name_too_long;
    const char *error; /* the parser's description of a syntax error */
};

/* Prepares r for a new response. */
void http_reply_init(struct http_reply *r);

/* Feeds one line (without its line end; need not be NUL-terminated).
 * REPLY_MORE: feed the next line. REPLY_DONE: r->status, reason, server
 * and location are final. REPLY_ERR_SYNTAX: r->error says why. The other
 * errors as in reply.h; REPLY_ERR_DONE when fed after REPLY_DONE. */
enum reply_status http_reply_feed(struct http_reply *r, const char *line, size_t len);

/* Writes "HTTP/1.1 200 OK" for a complete reply (the result's banner). */
void http_reply_status_line(const struct http_reply *r, char *buf, size_t len);

#endif
