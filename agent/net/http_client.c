/*
 * http_client — one HTTP/1.1 exchange with a bounded body and redirects
 * (see http_client.h).
 */
#include "http_client.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <assert.h>
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <http_parser.h>

#include "clock.h"

#define ERR_MAX 256
/* First allocation of the body buffer; it doubles up to the cap, so a
 * small document costs little and a large one a few reallocations. */
#define BODY_CHUNK 16384
/* Header names we keep are short ("content-type", "retry-after"). */
#define NAME_MAX_KEPT 16
/* The Retry-After value: a date is 29 characters. */
#define RETRY_TEXT_MAX 64
#define PORT_HTTPS     443
#define PORT_HTTP      80

enum hc_state {
    HC_ST_RESOLVING,  /* A/AAAA queries in flight */
    HC_ST_CONNECTING, /* TCP */
    HC_ST_HANDSHAKE,  /* TLS */
    HC_ST_RESPONSE,   /* request sent, reading */
    HC_ST_HOP,        /* redirect: the old connection is closing */
    HC_ST_DONE,       /* response ready, callback pending or run */
    HC_ST_LAST
};

static const char *const hc_state_names[HC_ST_LAST] = {
    "resolving", "connecting", "handshake", "response", "hop", "done",
};

enum hc_field { HC_F_OTHER, HC_F_CTYPE, HC_F_LOCATION, HC_F_RETRY, HC_F_LAST };

struct http_client {
    uv_loop_t *loop;
    struct conn_tls *tls;
    struct resolver *resolver;
    struct result *facts;
    http_client_cb cb;
    void *arg;
    bool trace;
    bool follow;
    char *method;
    char *req_body;
    size_t req_body_len;
    char *content_type;
    char *accept;
    size_t body_max;
    uint64_t deadline_us;

    enum hc_state st;
    struct http_url url;
    char url_text[HTTP_CLIENT_URL_MAX + 1];
    char visited[HTTP_CLIENT_REDIRECTS_MAX + 1][HTTP_CLIENT_URL_MAX + 1];
    unsigned nvisited;

    struct resolver_query *q[2];
    struct sockaddr_storage found[2][CONN_ADDRS_MAX];
    size_t nfound[2];
    enum result_error dnserr[2];
    char dnsdetail[2][RESULT_STR_MAX + 1];
    struct conn *c;

    http_parser parser;
    http_parser_settings settings;
    enum hc_field field;
    bool in_value;
    char name[NAME_MAX_KEPT + 1];
    size_t namelen;
    bool name_too_long;
    char retry_text[RETRY_TEXT_MAX];
    bool headers_done;
    bool complete;
    bool too_large;
    bool got_bytes;
    size_t body_cap;

    struct http_response rsp;

    uv_timer_t timer; /* the deadline while resolving; then the callback */
    bool timer_open;
    unsigned conns_closing;
    bool cb_done;
    bool destroying;
    http_client_closed_cb closed;
    void *closed_arg;
};

/* ---- URLs -------------------------------------------------------------- */

int http_url_parse(const char *url, struct http_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *rest;
    if (strncasecmp(url, "https://", 8) == 0) {
        out->tls = true;
        out->port = PORT_HTTPS;
        rest = url + 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        out->port = PORT_HTTP;
        rest = url + 7;
    } else {
        snprintf(err, errlen, "'%.64s' is not an http:// or https:// URL", url);
        return -1;
    }
    if (strlen(url) > HTTP_CLIENT_URL_MAX) {
        snprintf(err, errlen, "a URL longer than %d characters", HTTP_CLIENT_URL_MAX);
        return -1;
    }
    const char *h = rest, *hend, *after;
    if (*h == '[') {
        hend = strchr(h, ']');
        if (hend == NULL) {
            snprintf(err, errlen, "unterminated '[' in the URL '%.64s'", url);
            return -1;
        }
        h++;
        after = hend + 1;
    } else {
        hend = h + strcspn(h, ":/?#");
        after = hend;
    }
    size_t hlen = (size_t)(hend - h);
    if (hlen == 0 || hlen > SPEC_HOST_MAX) {
        snprintf(err, errlen, "the URL '%.64s' has no valid host", url);
        return -1;
    }
    for (size_t i = 0; i < hlen; i++)
        if (!isalnum((unsigned char)h[i]) && strchr("-._:", h[i]) == NULL) {
            snprintf(err, errlen, "the host in the URL '%.64s' contains '%c'", url, h[i]);
            return -1;
        }
    memcpy(out->host, h, hlen);
    out->host[hlen] = '\0';
    if (*after == ':') {
        char *end;
        long port = isdigit((unsigned char)after[1]) ? strtol(after + 1, &end, 10) : 0;
        if (port < 1 || port > 65535) {
            snprintf(err, errlen, "the URL '%.64s' has an invalid port", url);
            return -1;
        }
        out->port = (uint16_t)port;
        after = end;
    }
    if (*after != '\0' && *after != '/' && *after != '?' && *after != '#') {
        snprintf(err, errlen, "unexpected '%.16s' after the host in the URL", after);
        return -1;
    }
    size_t plen = strcspn(after, "#"); /* the fragment is never sent */
    for (size_t i = 0; i < plen; i++)
        if ((unsigned char)after[i] <= ' ' || (unsigned char)after[i] >= 0x7f) {
            snprintf(err, errlen, "the URL contains a space or control character");
            return -1;
        }
    if (plen == 0 || after[0] != '/') {
        out->path[0] = '/';
        memcpy(out->path + 1, after, plen);
        out->path[plen + 1] = '\0';
    } else {
        memcpy(out->path, after, plen);
        out->path[plen] = '\0';
    }
    return 0;
}

void http_url_format(const struct http_url *u, char *buf, size_t len)
{
    bool v6 = strchr(u->host, ':') != NULL;
    char port[8] = "";
    if (u->port != (u->tls ? PORT_HTTPS : PORT_HTTP))
        snprintf(port, sizeof(port), ":%u", u->port);
    snprintf(buf, len, "%s://%s%s%s%s%s", u->tls ? "https" : "http", v6 ? "[" : "", u->host,
             v6 ? "]" : "", port, u->path);
}

int http_url_resolve(const struct http_url *base, const char *ref, char *out, size_t len)
{
    struct http_url u = *base;
    char err[ERR_MAX];
    int n;
    if (strncasecmp(ref, "https://", 8) == 0 || strncasecmp(ref, "http://", 7) == 0) {
        if (http_url_parse(ref, &u, err, sizeof(err)) < 0)
            return -1;
    } else if (ref[0] == '/' && ref[1] == '/') {
        char abs[HTTP_CLIENT_URL_MAX + 16];
        n = snprintf(abs, sizeof(abs), "%s:%s", base->tls ? "https" : "http", ref);
        if (n < 0 || (size_t)n >= sizeof(abs) || http_url_parse(abs, &u, err, sizeof(err)) < 0)
            return -1;
    } else {
        char path[HTTP_CLIENT_URL_MAX + 1];
        if (ref[0] == '/') {
            n = snprintf(path, sizeof(path), "%s", ref);
        } else {
            /* Relative to the base's directory (RFC 3986 §5.2.3, without
             * dot-segment removal: servers send absolute Locations). */
            size_t dir = strcspn(base->path, "?");
            while (dir > 0 && base->path[dir - 1] != '/')
                dir--;
            n = snprintf(path, sizeof(path), "%.*s%s", (int)dir, base->path, ref);
        }
        if (n < 0 || (size_t)n >= sizeof(path))
            return -1;
        for (const char *p = path; *p; p++)
            if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
                return -1;
        path[strcspn(path, "#")] = '\0';
        snprintf(u.path, sizeof(u.path), "%s", path);
    }
    http_url_format(&u, out, len);
    return strlen(out) + 1 < len ? 0 : -1;
}

int64_t http_retry_after_parse(const char *v, int64_t now_s)
{
    while (*v == ' ' || *v == '\t')
        v++;
    int64_t secs;
    if (isdigit((unsigned char)*v)) {
        char *end;
        unsigned long long n = strtoull(v, &end, 10);
        while (*end == ' ' || *end == '\t')
            end++;
        if (*end != '\0')
            return -1;
        secs = n > HTTP_CLIENT_RETRY_MAX_S ? HTTP_CLIENT_RETRY_MAX_S : (int64_t)n;
        return secs;
    }
    /* IMF-fixdate, e.g. "Wed, 21 Oct 2015 07:28:00 GMT" (RFC 9110 §5.6.7). */
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == NULL || *end != '\0')
        return -1;
    secs = (int64_t)timegm(&tm) - now_s;
    if (secs < 0)
        secs = 0;
    return secs > HTTP_CLIENT_RETRY_MAX_S ? HTTP_CLIENT_RETRY_MAX_S : secs;
}

/* ---- life cycle ---------------------------------------------------------- */

static void start_hop(struct http_client *h);
static void on_conn(struct conn *c, enum conn_event ev, void *arg);

static void set_state(struct http_client *h, enum hc_state st)
{
    assert((unsigned)st < HC_ST_LAST);
    if (h->trace)
        fprintf(stderr, "http %s: %s -> %s\n", h->url_text, hc_state_names[h->st],
                hc_state_names[st]);
    h->st = st;
}

static void free_client(struct http_client *h)
{
    http_client_closed_cb closed = h->closed;
    void *arg = h->closed_arg;
    free(h->rsp.body);
    free(h->method);
    free(h->req_body);
    free(h->content_type);
    free(h->accept);
    free(h);
    if (closed != NULL)
        closed(arg);
}

static void maybe_free(struct http_client *h)
{
    if (h->destroying && !h->timer_open && h->conns_closing == 0)
        free_client(h);
}

static void on_timer_closed(uv_handle_t *t)
{
    struct http_client *h = t->data;
    h->timer_open = false;
    maybe_free(h);
}

static void on_conn_closed(void *arg)
{
    struct http_client *h = arg;
    h->conns_closing--;
    if (h->destroying) {
        maybe_free(h);
        return;
    }
    if (h->st == HC_ST_HOP)
        start_hop(h);
}

static void close_conn(struct http_client *h)
{
    if (h->c == NULL)
        return;
    h->conns_closing++;
    conn_destroy(&h->c, on_conn_closed, h);
}

static void cancel_queries(struct http_client *h)
{
    resolver_cancel(&h->q[0]);
    resolver_cancel(&h->q[1]);
}

static void on_timer(uv_timer_t *t);

/* Ends the exchange: the callback runs from the loop. */
static void finish(struct http_client *h)
{
    cancel_queries(h);
    close_conn(h);
    set_state(h, HC_ST_DONE);
    uv_timer_stop(&h->timer);
    uv_timer_start(&h->timer, on_timer, 0, 0);
}

static void fail(struct http_client *h, enum result_error e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct http_client *h, enum result_error e, const char *fmt, ...)
{
    va_list ap;
    h->rsp.error = e;
    va_start(ap, fmt);
    vsnprintf(h->rsp.detail, sizeof(h->rsp.detail), fmt, ap);
    va_end(ap);
    finish(h);
}

static void on_timer(uv_timer_t *t)
{
    struct http_client *h = t->data;
    if (h->st == HC_ST_DONE) {
        if (!h->cb_done) {
            h->cb_done = true;
            h->cb(h, h->arg);
        }
        return;
    }
    if (h->st == HC_ST_RESOLVING) {
        uint64_t now = clock_mono_us();
        if (now < h->deadline_us) {
            uv_timer_start(&h->timer, on_timer, (h->deadline_us - now + 999) / 1000, 0);
            return;
        }
        fail(h, RESULT_DNS_TIMEOUT, "no DNS answer for %s in time", h->url.host);
    }
}

struct http_response *http_client_response(struct http_client *h)
{
    return &h->rsp;
}

void http_client_destroy(struct http_client **hp, http_client_closed_cb closed, void *arg)
{
    if (hp == NULL || *hp == NULL)
        return;
    struct http_client *h = *hp;
    *hp = NULL;
    h->destroying = true;
    h->cb_done = true;
    h->closed = closed;
    h->closed_arg = arg;
    cancel_queries(h);
    close_conn(h);
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, on_timer_closed);
}

/* ---- parsing --------------------------------------------------------------- */

static void reset_head(struct http_client *h)
{
    h->field = HC_F_OTHER;
    h->in_value = false;
    h->namelen = 0;
    h->name_too_long = false;
    h->headers_done = false;
    h->rsp.content_type[0] = '\0';
    h->rsp.location[0] = '\0';
    h->retry_text[0] = '\0';
}

static void append(char *dst, size_t cap, const char *src, size_t len)
{
    size_t have = strlen(dst);
    if (have + 1 >= cap)
        return;
    if (len > cap - 1 - have)
        len = cap - 1 - have;
    for (size_t i = 0; i < len; i++)
        dst[have + i] = (unsigned char)src[i] < ' ' || src[i] == 0x7f ? '?' : src[i];
    dst[have + len] = '\0';
}

static int on_header_field(http_parser *pp, const char *at, size_t len)
{
    struct http_client *h = pp->data;
    if (h->in_value) {
        h->in_value = false;
        h->namelen = 0;
        h->name_too_long = false;
    }
    if (h->namelen + len > NAME_MAX_KEPT) {
        h->name_too_long = true;
        return 0;
    }
    memcpy(h->name + h->namelen, at, len);
    h->namelen += len;
    return 0;
}

static int on_header_value(http_parser *pp, const char *at, size_t len)
{
    struct http_client *h = pp->data;
    if (!h->in_value) {
        h->in_value = true;
        h->name[h->namelen] = '\0';
        h->field = HC_F_OTHER;
        if (!h->name_too_long) {
            if (strcasecmp(h->name, "content-type") == 0)
                h->field = HC_F_CTYPE;
            else if (strcasecmp(h->name, "location") == 0)
                h->field = HC_F_LOCATION;
            else if (strcasecmp(h->name, "retry-after") == 0)
                h->field = HC_F_RETRY;
        }
    }
    switch (h->field) {
    case HC_F_CTYPE:
        append(h->rsp.content_type, sizeof(h->rsp.content_type), at, len);
        break;
    case HC_F_LOCATION:
        append(h->rsp.location, sizeof(h->rsp.location), at, len);
        break;
    case HC_F_RETRY:
        append(h->retry_text, sizeof(h->retry_text), at, len);
        break;
    case HC_F_OTHER:
        break;
    case HC_F_LAST:
    default:
        abort();
    }
    return 0;
}

static int on_headers_complete(http_parser *pp)
{
    struct http_client *h = pp->data;
    h->headers_done = true;
    h->rsp.status = pp->status_code;
    if (pp->status_code >= 200 && pp->content_length != ULLONG_MAX &&
        pp->content_length > h->body_max) {
        h->too_large = true;
        return -1; /* stops the parser: HPE_CB_headers_complete */
    }
    return 0;
}

static int on_body(http_parser *pp, const char *at, size_t len)
{
    struct http_client *h = pp->data;
    if (h->rsp.status < 200)
        return 0;
    if (len > h->body_max - h->rsp.body_len) {
        h->too_large = true;
        return -1;
    }
    if (h->rsp.body_len + len + 1 > h->body_cap) {
        size_t cap = h->body_cap ? h->body_cap : BODY_CHUNK;
        while (cap < h->rsp.body_len + len + 1)
            cap *= 2;
        if (cap > h->body_max + 1)
            cap = h->body_max + 1;
        char *grown = realloc(h->rsp.body, cap);
        if (grown == NULL)
            return -1;
        h->rsp.body = grown;
        h->body_cap = cap;
    }
    memcpy(h->rsp.body + h->rsp.body_len, at, len);
    h->rsp.body_len += len;
    h->rsp.body[h->rsp.body_len] = '\0';
    return 0;
}

static int on_message_complete(http_parser *pp)
{
    struct http_client *h = pp->data;
    /* Interim 1xx responses (100 Continue, 103 Early Hints) are skipped
     * as browsers skip them. */
    if (pp->status_code < 200) {
        reset_head(h);
        return 0;
    }
    h->complete = true;
    return 0;
}

/* ---- the exchange ---------------------------------------------------------- */

static int format_request(struct http_client *h, char **out, size_t *outlen)
{
    bool v6 = strchr(h->url.host, ':') != NULL;
    char port[8] = "";
    char clen[64] = "";
    if (h->url.port != (h->url.tls ? PORT_HTTPS : PORT_HTTP))
        snprintf(port, sizeof(port), ":%u", h->url.port);
    if (h->req_body != NULL)
        snprintf(clen, sizeof(clen), "Content-Length: %zu\r\n", h->req_body_len);
    size_t cap = strlen(h->url.path) + strlen(h->url.host) + strlen(h->accept) +
                 (h->content_type ? strlen(h->content_type) : 0) + h->req_body_len + 512;
    char *buf = malloc(cap);
    if (buf == NULL)
        return -1;
    int n = snprintf(buf, cap,
                     "%s %s HTTP/1.1\r\n"
                     "Host: %s%s%s%s\r\n"
                     "User-Agent: vantage-agent/" VANTAGE_VERSION "\r\n"
                     "Accept: %s\r\n"
                     "%s%s%s%s"
                     "Connection: close\r\n"
                     "\r\n",
                     h->method, h->url.path, v6 ? "[" : "", h->url.host, v6 ? "]" : "", port,
                     h->accept, h->content_type ? "Content-Type: " : "",
                     h->content_type ? h->content_type : "", h->content_type ? "\r\n" : "", clen);
    if (n < 0 || (size_t)n + h->req_body_len >= cap) {
        free(buf);
        return -1;
    }
    if (h->req_body != NULL)
        memcpy(buf + n, h->req_body, h->req_body_len);
    *out = buf;
    *outlen = (size_t)n + h->req_body_len;
    return 0;
}

static void send_request(struct http_client *h)
{
    char *req;
    size_t len;
    char err[ERR_MAX];
    if (format_request(h, &req, &len) < 0) {
        fail(h, RESULT_INTERNAL, "out of memory for the HTTP request");
        return;
    }
    if (h->trace)
        fprintf(stderr, "http >> %s %s\n", h->method, h->url_text);
    int rc = conn_write(h->c, req, len, err, sizeof(err));
    free(req);
    if (rc < 0) {
        fail(h, RESULT_INTERNAL, "%s", err);
        return;
    }
    http_parser_init(&h->parser, HTTP_RESPONSE);
    h->parser.data = h;
    reset_head(h);
    h->complete = h->too_large = h->got_bytes = false;
    free(h->rsp.body);
    h->rsp.body = NULL;
    h->rsp.body_len = 0;
    h->body_cap = 0;
    h->rsp.status = 0;
    set_state(h, HC_ST_RESPONSE);
    conn_read_raw(h->c);
}

static bool is_redirect(unsigned status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

static void chain_add(struct http_client *h, const char *url)
{
    size_t have = strlen(h->rsp.chain);
    snprintf(h->rsp.chain + have, sizeof(h->rsp.chain) - have, "%s%s", have ? " -> " : "", url);
}

/* A complete response: follow it or hand it over. */
static void response_complete(struct http_client *h)
{
    struct http_response *r = &h->rsp;
    r->retry_after_s = -1;
    if (h->retry_text[0] != '\0')
        r->retry_after_s = http_retry_after_parse(h->retry_text, clock_wall_us() / 1000000);
    snprintf(r->url, sizeof(r->url), "%s", h->url_text);
    if (h->trace)
        fprintf(stderr, "http << %u from %s (%zu bytes)\n", r->status, h->url_text, r->body_len);
    if (!h->follow || !is_redirect(r->status) || r->location[0] == '\0') {
        finish(h);
        return;
    }
    char next[HTTP_CLIENT_URL_MAX + 1];
    if (r->chain[0] == '\0')
        chain_add(h, h->url_text);
    if (http_url_resolve(&h->url, r->location, next, sizeof(next)) < 0) {
        fail(h, RESULT_HTTP_STATUS, "HTTP %u from %s redirects to an unusable Location '%.200s'",
             r->status, h->url_text, r->location);
        return;
    }
    for (unsigned i = 0; i < h->nvisited; i++)
        if (strcmp(h->visited[i], next) == 0) {
            r->redirect_loop = true;
            chain_add(h, next);
            fail(h, RESULT_HTTP_STATUS, "redirect loop: %s", r->chain);
            return;
        }
    if (r->redirects >= HTTP_CLIENT_REDIRECTS_MAX) {
        chain_add(h, next);
        fail(h, RESULT_HTTP_STATUS, "more than %d redirects: %s", HTTP_CLIENT_REDIRECTS_MAX,
             r->chain);
        return;
    }
    struct http_url u;
    char err[ERR_MAX];
    if (http_url_parse(next, &u, err, sizeof(err)) < 0) {
        fail(h, RESULT_HTTP_STATUS, "HTTP %u redirects to an unusable URL: %s", r->status, err);
        return;
    }
    if (h->url.tls && !u.tls) {
        /* Mail clients refuse to send a mailbox address or a password
         * in the clear after starting with TLS; so do we. */
        chain_add(h, next);
        fail(h, RESULT_HTTP_STATUS, "HTTP %u redirects from https to plain http: %s", r->status,
             r->chain);
        return;
    }
    r->redirects++;
    chain_add(h, next);
    h->url = u;
    snprintf(h->url_text, sizeof(h->url_text), "%s", next);
    snprintf(h->visited[h->nvisited++], sizeof(h->visited[0]), "%s", next);
    /* RFC 9110 §15.4.4: 303 means "GET the other one"; Outlook re-POSTs an
     * Autodiscover request after 301/302/307/308, and so do we. */
    if (r->status == 303 && h->req_body != NULL) {
        free(h->req_body);
        h->req_body = NULL;
        h->req_body_len = 0;
        free(h->content_type);
        h->content_type = NULL;
        snprintf(h->method, 5, "GET");
    }
    set_state(h, HC_ST_HOP);
    if (h->c != NULL)
        close_conn(h);
    else
        start_hop(h);
}

static void on_data(struct http_client *h)
{
    size_t len;
    const char *data = conn_data(h->c, &len);
    if (h->complete)
        return; /* bytes after the response: ignored */
    h->got_bytes = true;
    size_t used = http_parser_execute(&h->parser, &h->settings, data, len);
    if (h->complete) {
        response_complete(h);
        return;
    }
    if (h->too_large) {
        fail(h, RESULT_PROTO_BAD_GREETING,
             "the answer from %s is larger than %zu bytes: refused, nothing parsed", h->url_text,
             h->body_max);
        return;
    }
    if (HTTP_PARSER_ERRNO(&h->parser) != HPE_OK || used != len)
        fail(h, RESULT_PROTO_BAD_GREETING, "%s did not answer like an HTTP server: %s", h->url_text,
             http_errno_description(HTTP_PARSER_ERRNO(&h->parser)));
}

static void on_eof(struct http_client *h)
{
    if (!h->complete && h->got_bytes && HTTP_PARSER_ERRNO(&h->parser) == HPE_OK)
        (void)http_parser_execute(&h->parser, &h->settings, NULL, 0);
    if (h->complete) {
        response_complete(h);
        return;
    }
    if (!h->got_bytes)
        fail(h, RESULT_PROTO_CLOSED, "%s closed the connection without answering", h->url_text);
    else if (!h->headers_done)
        fail(h, RESULT_PROTO_CLOSED, "%s closed the connection in the middle of the HTTP head",
             h->url_text);
    else
        fail(h, RESULT_PROTO_CLOSED,
             "%s closed the connection after %zu bytes of the body, before its end", h->url_text,
             h->rsp.body_len);
}

static void on_conn(struct conn *c, enum conn_event ev, void *arg)
{
    struct http_client *h = arg;
    char err[ERR_MAX];
    switch (ev) {
    case CONN_EV_CONNECTED:
        if (!h->url.tls) {
            send_request(h);
            return;
        }
        set_state(h, HC_ST_HANDSHAKE);
        if (conn_tls_start(c, err, sizeof(err)) < 0)
            fail(h, RESULT_INTERNAL, "%s", err);
        return;
    case CONN_EV_TLS_READY:
        send_request(h);
        return;
    case CONN_EV_DATA:
        on_data(h);
        return;
    case CONN_EV_EOF:
        on_eof(h);
        return;
    case CONN_EV_TIMEOUT:
        fail(h, RESULT_PROTO_TIMEOUT, "%s did not answer in time (%s)", h->url_text,
             hc_state_names[h->st]);
        return;
    case CONN_EV_FAILED:
        fail(h, conn_error(c), "%s: %s", h->url_text, conn_error_detail(c));
        return;
    case CONN_EV_LINE:
    case CONN_EV_LINE_TOO_LONG:
        /* Raw mode delivers no lines. */
        fail(h, RESULT_INTERNAL, "unexpected line event from the connection");
        return;
    case CONN_EV_LAST:
    default:
        abort();
    }
}

static void connect_addrs(struct http_client *h, const struct sockaddr_storage *addrs, size_t n)
{
    char err[ERR_MAX];
    set_state(h, HC_ST_CONNECTING);
    struct conn_params cp = {
        .loop = h->loop,
        .tls = h->tls,
        .addrs = addrs,
        .naddrs = n,
        .port = h->url.port,
        .servername = h->url.host,
        .deadline_us = h->deadline_us,
        .line_max = CONN_LINE_MAX_LIMIT, /* the raw read chunk */
        .result = h->facts,
    };
    h->c = conn_create(&cp, on_conn, h, err, sizeof(err));
    if (h->c == NULL || conn_connect(h->c, err, sizeof(err)) < 0)
        fail(h, RESULT_INTERNAL, "%s", err);
}

static void resolved(struct http_client *h)
{
    struct sockaddr_storage addrs[CONN_ADDRS_MAX];
    size_t n = 0, i6 = 0, i4 = 0;
    /* RFC 8305 §4: alternate families, IPv6 first. */
    while (n < CONN_ADDRS_MAX && (i6 < h->nfound[1] || i4 < h->nfound[0])) {
        if (i6 < h->nfound[1])
            addrs[n++] = h->found[1][i6++];
        if (i4 < h->nfound[0] && n < CONN_ADDRS_MAX)
            addrs[n++] = h->found[0][i4++];
    }
    if (n == 0) {
        int f = h->dnserr[0] == RESULT_DNS_NODATA && h->dnserr[1] != RESULT_DNS_NODATA &&
                        h->dnserr[1] != RESULT_OK
                    ? 1
                    : 0;
        enum result_error e = h->dnserr[f] != RESULT_OK ? h->dnserr[f] : RESULT_DNS_NODATA;
        fail(h, e, "%s: %s", h->url.host,
             h->dnsdetail[f][0] ? h->dnsdetail[f] : "no address for the host");
        return;
    }
    uv_timer_stop(&h->timer);
    connect_addrs(h, addrs, n);
}

static void on_addr(struct http_client *h, int f, struct resolver_reply *rep)
{
    h->q[f] = NULL;
    h->dnserr[f] = rep->error;
    snprintf(h->dnsdetail[f], sizeof(h->dnsdetail[f]), "%s", rep->detail ? rep->detail : "");
    for (size_t i = 0; i < rep->naddrs && h->nfound[f] < CONN_ADDRS_MAX; i++)
        h->found[f][h->nfound[f]++] = rep->addrs[i];
    if (h->facts != NULL)
        (void)resolver_reply_move(rep, h->facts);
    if (h->q[0] == NULL && h->q[1] == NULL)
        resolved(h);
}

static void on_a(struct resolver_reply *rep, void *arg)
{
    on_addr(arg, 0, rep);
}

static void on_aaaa(struct resolver_reply *rep, void *arg)
{
    on_addr(arg, 1, rep);
}

/* Starts one request: after http_client_fetch() and after each redirect. */
static void start_hop(struct http_client *h)
{
    struct sockaddr_storage ss[2];
    char err[ERR_MAX];
    if (clock_mono_us() >= h->deadline_us) {
        fail(h, RESULT_PROTO_TIMEOUT, "no time left for %s", h->url_text);
        return;
    }
    if (resolver_literal_address(h->url.host, &ss[0]) == 0) {
        connect_addrs(h, ss, 1);
        return;
    }
    if (strcasecmp(h->url.host, "localhost") == 0) {
        (void)resolver_literal_address("::1", &ss[0]);
        (void)resolver_literal_address("127.0.0.1", &ss[1]);
        connect_addrs(h, ss, 2);
        return;
    }
    set_state(h, HC_ST_RESOLVING);
    memset(h->nfound, 0, sizeof(h->nfound));
    h->dnserr[0] = h->dnserr[1] = RESULT_OK;
    uint64_t now = clock_mono_us();
    uv_update_time(h->loop);
    uv_timer_start(&h->timer, on_timer, (h->deadline_us - now + 999) / 1000, 0);
    if (resolver_query(h->resolver, h->url.host, ns_t_a, on_a, h, &h->q[0], err, sizeof(err)) < 0 ||
        resolver_query(h->resolver, h->url.host, ns_t_aaaa, on_aaaa, h, &h->q[1], err,
                       sizeof(err)) < 0)
        fail(h, RESULT_INTERNAL, "%s", err);
}

int http_client_fetch(const struct http_client_params *p, http_client_cb cb, void *arg,
                      struct http_client **hp, char *err, size_t errlen)
{
    *hp = NULL;
    struct http_client *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (http_url_parse(p->url, &h->url, err, errlen) < 0) {
        free(h);
        return -1;
    }
    h->loop = p->loop;
    h->tls = p->tls;
    h->resolver = p->resolver;
    h->facts = p->facts;
    h->cb = cb;
    h->arg = arg;
    h->trace = p->trace;
    h->follow = p->follow_redirects;
    h->deadline_us = p->deadline_us;
    h->body_max =
        p->body_max == 0 || p->body_max > HTTP_CLIENT_BODY_MAX ? HTTP_CLIENT_BODY_MAX : p->body_max;
    /* "POST" or "GET", with room for the switch to GET after a 303. */
    h->method = malloc(8);
    h->accept = strdup(p->accept != NULL ? p->accept : "*/*");
    if (p->body != NULL) {
        h->req_body = malloc(p->body_len + 1);
        h->req_body_len = p->body_len;
        if (h->req_body != NULL)
            memcpy(h->req_body, p->body, p->body_len);
        h->content_type = strdup(p->content_type != NULL ? p->content_type : "text/xml");
    }
    if (h->method == NULL || h->accept == NULL ||
        (p->body != NULL && (h->req_body == NULL || h->content_type == NULL))) {
        free(h->method);
        free(h->accept);
        free(h->req_body);
        free(h->content_type);
        free(h);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(h->method, 8, "%s",
             p->method != NULL && strcmp(p->method, "POST") == 0 ? "POST" : "GET");
    http_url_format(&h->url, h->url_text, sizeof(h->url_text));
    snprintf(h->visited[h->nvisited++], sizeof(h->visited[0]), "%s", h->url_text);
    h->rsp.retry_after_s = -1;
    h->settings.on_header_field = on_header_field;
    h->settings.on_header_value = on_header_value;
    h->settings.on_headers_complete = on_headers_complete;
    h->settings.on_body = on_body;
    h->settings.on_message_complete = on_message_complete;
    uv_timer_init(h->loop, &h->timer);
    h->timer.data = h;
    h->timer_open = true;
    h->st = HC_ST_RESOLVING;
    *hp = h;
    start_hop(h);
    return 0;
}
