/*
 * probe_https — https://host[:port]/path (docs/reference.md "Check specs"): the
 * webmail or autodiscover page a user's browser or mail client fetches.
 *
 *   TCP (conn's per-address fallback), TLS (conn: SNI, the trust store,
 *   the name check and the certificate facts, as for every mail kind),
 *   one GET, the head of the response (http_reply: libhttp-parser).
 *
 * One GET, no redirects followed: 2xx and 3xx are ok (the Location goes
 * into the detail), anything else is http_status with the code. The
 * status line becomes the banner; the Server field goes into the detail.
 * Only the head is read: the status is known then, and a webmail page's
 * body would cost time and memory and tell nothing more. The http phase
 * runs from the request to the end of the head.
 *
 * Earlier versions used libcurl's multi interface. It duplicated what conn
 * does (TLS facts, verify classification) through callbacks, and its tree
 * of about 25 shared libraries cost the agent 4 MiB of resident memory.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dialog.h"
#include "http_reply.h"

#define ERR_MAX 256
/* Request line, Host, User-Agent, Accept, Connection: the path and host at
 * their longest plus a few hundred bytes. */
#define HTTPS_REQUEST_MAX (SPEC_PATH_MAX + SPEC_HOST_MAX + 256)
/* The default port, left out of the Host field (RFC 9110 §7.2). */
#define HTTPS_PORT_DEFAULT 443

enum https_state {
    HTTPS_ST_CONNECTING, /* TCP handshake */
    HTTPS_ST_HANDSHAKE,  /* TLS handshake */
    HTTPS_ST_RESPONSE,   /* GET sent, reading the head of the response */
    HTTPS_ST_DONE,       /* closing */
    HTTPS_ST_LAST
};

static const char *const https_state_names[HTTPS_ST_LAST] = {
    [HTTPS_ST_CONNECTING] = "connecting",
    [HTTPS_ST_HANDSHAKE] = "handshake",
    [HTTPS_ST_RESPONSE] = "response",
    [HTTPS_ST_DONE] = "done",
};

static const char *const https_waiting_for[HTTPS_ST_LAST] = {
    [HTTPS_ST_CONNECTING] = "the connection",
    [HTTPS_ST_HANDSHAKE] = "the TLS handshake",
    [HTTPS_ST_RESPONSE] = "the HTTP response",
    [HTTPS_ST_DONE] = "nothing",
};

struct https {
    struct dialog d; /* first: see dialog_create() */
    enum https_state st;
    struct http_reply reply;
};

/* The only way to change state. */
static void https_set_state(struct https *h, enum https_state st)
{
    assert((unsigned)st < HTTPS_ST_LAST);
    dialog_trace_state(&h->d, https_state_names[h->st], https_state_names[st]);
    h->st = st;
}

static void https_end(struct https *h)
{
    https_set_state(h, HTTPS_ST_DONE);
    dialog_finish(&h->d);
}

/* Writes the GET into buf; -1 when it does not fit. */
static int format_request(const struct probe *p, char *buf, size_t len)
{
    char port[8] = "";
    bool v6 = strchr(p->spec.host, ':') != NULL;

    if (p->spec.port != HTTPS_PORT_DEFAULT)
        snprintf(port, sizeof(port), ":%u", p->spec.port);
    int n = snprintf(buf, len,
                     "GET %s HTTP/1.1\r\n"
                     "Host: %s%s%s%s\r\n"
                     "User-Agent: vantage-agent/" VANTAGE_VERSION "\r\n"
                     "Accept: */*\r\n"
                     "Connection: close\r\n"
                     "\r\n",
                     p->spec.path, v6 ? "[" : "", p->spec.host, v6 ? "]" : "", port);
    return n > 0 && (size_t)n < len ? n : -1;
}

static void send_request(struct https *h)
{
    struct dialog *d = &h->d;
    char req[HTTPS_REQUEST_MAX], err[ERR_MAX];
    int n = format_request(d->p, req, sizeof(req));

    if (n < 0) {
        dialog_fail(d, RESULT_INTERNAL, "the HTTP request is longer than %d bytes",
                    HTTPS_REQUEST_MAX);
        https_end(h);
        return;
    }
    if (probe_tracing(d->p))
        fprintf(stderr, "probe %s: http >> GET %s HTTP/1.1\n", d->p->result.check, d->p->spec.path);
    if (conn_write(d->c, req, (size_t)n, err, sizeof(err)) < 0) {
        dialog_fail(d, RESULT_INTERNAL, "%s", err);
        https_end(h);
        return;
    }
    http_reply_init(&h->reply);
    https_set_state(h, HTTPS_ST_RESPONSE);
    dialog_phase_begin(d, RESULT_PHASE_HTTP);
    conn_read_start(d->c);
}

/* The head is complete: 2xx and 3xx are what a browser or mail client
 * gets on with; anything else is http_status. */
static void classify(struct https *h)
{
    struct dialog *d = &h->d;
    const struct http_reply *r = &h->reply;
    char banner[HTTP_REPLY_TEXT_MAX + 32];
    char server[HTTP_REPLY_TEXT_MAX + 16] = "";

    http_reply_status_line(r, banner, sizeof(banner));
    (void)result_set_str(&d->p->result.banner, banner);
    if (r->server[0] != '\0')
        snprintf(server, sizeof(server), "; server: %s", r->server);
    if (r->status >= 200 && r->status < 400)
        dialog_fail(d, RESULT_OK, "HTTP %u%s%s%s", r->status, r->location[0] != '\0' ? " -> " : "",
                    r->location, server);
    else
        dialog_fail(d, RESULT_HTTP_STATUS, "HTTP %u%s", r->status, server);
}

static void on_line(struct https *h)
{
    struct dialog *d = &h->d;
    size_t len;
    const char *line = conn_line(d->c, &len);
    enum reply_status st = http_reply_feed(&h->reply, line, len);

    if (st == REPLY_MORE)
        return;
    dialog_phase_end(d, RESULT_PHASE_HTTP);
    if (st == REPLY_DONE) {
        classify(h);
    } else {
        /* The parser's own reason says more than "malformed". */
        dialog_bad_reply(d,
                         st == REPLY_ERR_SYNTAX && h->reply.error != NULL ? h->reply.error
                                                                          : reply_status_text(st),
                         line, len, https_waiting_for[h->st]);
    }
    https_end(h);
}

static void on_conn(struct conn *c, enum conn_event ev, void *arg)
{
    struct https *h = arg;
    struct dialog *d = &h->d;
    char err[ERR_MAX];

    switch (ev) {
    case CONN_EV_CONNECTED:
        https_set_state(h, HTTPS_ST_HANDSHAKE);
        if (conn_tls_start(c, err, sizeof(err)) < 0) {
            dialog_fail(d, RESULT_INTERNAL, "%s", err);
            https_end(h);
        }
        return;
    case CONN_EV_TLS_READY:
        send_request(h);
        return;
    case CONN_EV_LINE:
        on_line(h);
        return;
    case CONN_EV_EOF:
    case CONN_EV_LINE_TOO_LONG:
    case CONN_EV_TIMEOUT:
    case CONN_EV_FAILED:
        dialog_conn_trouble(d, ev, https_waiting_for[h->st]);
        https_end(h);
        return;
    case CONN_EV_LAST:
    default:
        abort();
    }
}

static int https_start(struct probe *p)
{
    struct https *h = dialog_create(p, sizeof(*h), "http");

    if (h == NULL)
        return -1;
    h->st = HTTPS_ST_CONNECTING;
    h->d.line_max = HTTP_REPLY_LINE_MAX;
    return dialog_connect(&h->d, on_conn, h);
}

const struct probe_ops probe_https_ops = {
    .name = "https",
    .needs_addresses = true,
    .abort_grace = true,
    .start = https_start,
    .abort = dialog_abort,
};
