/*
 * http_reply — see http_reply.h. libhttp-parser does the parsing; this
 * file feeds it lines and keeps what the probe reports.
 */
#include "http_reply.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static struct http_reply *reply_of(http_parser *p)
{
    return p->data;
}

/* Appends a printable copy of src to the NUL-terminated buf; what does
 * not fit is dropped. */
static void append(char *buf, size_t buflen, const char *src, size_t len)
{
    size_t used = strlen(buf);

    if (used + 1 < buflen)
        reply_printable(buf + used, buflen - used, src, len);
}

static int on_status(http_parser *p, const char *at, size_t len)
{
    struct http_reply *r = reply_of(p);

    append(r->reason, sizeof(r->reason), at, len);
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_reply *r = reply_of(p);

    /* The parser may hand over a name in pieces; a value ends it. */
    if (r->in_value) {
        r->in_value = false;
        r->field = HTTP_REPLY_FIELD_OTHER;
        r->namelen = 0;
        r->name_too_long = false;
    }
    if (len > sizeof(r->name) - r->namelen) {
        r->name_too_long = true;
        return 0;
    }
    memcpy(r->name + r->namelen, at, len);
    r->namelen += len;
    return 0;
}

static enum http_reply_field field_of(const struct http_reply *r)
{
    if (r->name_too_long)
        return HTTP_REPLY_FIELD_OTHER;
    if (r->namelen == 6 && strncasecmp(r->name, "server", 6) == 0)
        return HTTP_REPLY_FIELD_SERVER;
    if (r->namelen == 8 && strncasecmp(r->name, "location", 8) == 0)
        return HTTP_REPLY_FIELD_LOCATION;
    return HTTP_REPLY_FIELD_OTHER;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct http_reply *r = reply_of(p);

    if (!r->in_value) {
        /* A field's first piece of value: a repeated field replaces the
         * earlier one, as the last word is what a client acts on. */
        r->in_value = true;
        r->field = field_of(r);
        if (r->field == HTTP_REPLY_FIELD_SERVER)
            r->server[0] = '\0';
        else if (r->field == HTTP_REPLY_FIELD_LOCATION)
            r->location[0] = '\0';
    }
    if (r->field == HTTP_REPLY_FIELD_SERVER)
        append(r->server, sizeof(r->server), at, len);
    else if (r->field == HTTP_REPLY_FIELD_LOCATION)
        append(r->location, sizeof(r->location), at, len);
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    reply_of(p)->head_ended = true;
    /* 1: no body follows as far as we are concerned; we never read it. */
    return 1;
}

static const http_parser_settings settings = {
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
};

/* Starts a new response head: the first, or the one after a 1xx. */
static void start_head(struct http_reply *r)
{
    http_parser_init(&r->parser, HTTP_RESPONSE);
    r->parser.data = r;
    r->head_ended = false;
    r->reason[0] = r->server[0] = r->location[0] = '\0';
    r->field = HTTP_REPLY_FIELD_OTHER;
    r->in_value = false;
    r->namelen = 0;
    r->name_too_long = false;
}

void http_reply_init(struct http_reply *r)
{
    memset(r, 0, sizeof(*r));
    start_head(r);
}

/* Runs the parser over data; false with r->error set on a parse error. */
static bool execute(struct http_reply *r, const char *data, size_t len)
{
    size_t used = http_parser_execute(&r->parser, &settings, data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);

    if (e != HPE_OK) {
        r->error = http_errno_description(e);
        return false;
    }
    if (used != len) {
        r->error = "the parser stopped inside the line";
        return false;
    }
    return true;
}

enum reply_status http_reply_feed(struct http_reply *r, const char *line, size_t len)
{
    if (r->done)
        return REPLY_ERR_DONE;
    if (len > HTTP_REPLY_LINE_MAX)
        return REPLY_ERR_TOO_LONG;
    if (memchr(line, '\0', len) != NULL)
        return REPLY_ERR_NUL;
    if (++r->nlines > HTTP_REPLY_LINES_MAX)
        return REPLY_ERR_TOO_MANY;
    /* Never a zero length: to http_parser_execute() that means EOF. */
    if ((len > 0 && !execute(r, line, len)) || !execute(r, "\r\n", 2))
        return REPLY_ERR_SYNTAX;
    if (!r->head_ended)
        return REPLY_MORE;
    unsigned code = r->parser.status_code;
    if (code < 100 || code > 999) {
        /* The parser takes "HTTP/1.1 3 Early"; RFC 9112 §4 wants 3 digits. */
        r->error = "the status code is not three digits";
        return REPLY_ERR_SYNTAX;
    }
    if (code < 200 && code != 101) {
        /* Interim (RFC 9110 §15.2): the real answer follows. 101 would
         * switch protocols, which we never asked for: it is final. */
        r->interim++;
        start_head(r);
        return REPLY_MORE;
    }
    r->status = code;
    r->major = r->parser.http_major;
    r->minor = r->parser.http_minor;
    r->done = true;
    return REPLY_DONE;
}

void http_reply_status_line(const struct http_reply *r, char *buf, size_t len)
{
    snprintf(buf, len, "HTTP/%u.%u %u%s%s", r->major, r->minor, r->status,
             r->reason[0] != '\0' ? " " : "", r->reason);
}
