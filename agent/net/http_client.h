/*
 * http_client — one HTTP/1.1 exchange (GET, or POST with a body) over the
 * agent's own transport (conn: TCP fallback, TLS, the trust store), with
 * the response body read into a bounded buffer and redirects followed up
 * to a limit. Used by rdap:// and autoconfig://, which need bodies; the
 * https:// probe reads only a head (http_reply) and stays as it is.
 *
 *   resolve the URL's host (A and AAAA through the engine's resolver),
 *   connect, TLS for https://, send the request, feed every byte to
 *   libhttp-parser (Content-Length, chunked, or until the close), and on
 *   301/302/303/307/308 with a Location start over at the new URL.
 *
 * All on the loop: no blocking call, no thread. Every input is bounded:
 * the body (HTTP_CLIENT_BODY_MAX or the caller's smaller cap), the head
 * (libhttp-parser's HTTP_MAX_HEADER_SIZE, 80 KiB), the kept header values,
 * the number of redirects (HTTP_CLIENT_REDIRECTS_MAX) and the URLs visited
 * (a redirect back to one of them is a loop, reported as such). What goes
 * wrong is classified into the result taxonomy (dns_*, tcp_*, tls_*,
 * proto_*, http_status) with a detail, never a crash and never unbounded
 * memory.
 *
 * Usage:
 *
 *     struct http_client_params hp = {.loop = p->loop, .tls = p->tls,
 *         .resolver = p->resolver, .url = "https://rdap.example/domain/x.com",
 *         .accept = "application/rdap+json", .deadline_us = p->deadline_us,
 *         .follow_redirects = true, .facts = &p->result};
 *     if (http_client_fetch(&hp, on_response, p, &p->http, err, sizeof(err)) < 0) ...
 *
 *     static void on_response(struct http_client *h, void *arg)
 *     {
 *         const struct http_response *rsp = http_client_response(h);
 *         ... rsp->error, rsp->status, rsp->body, rsp->body_len ...
 *         http_client_destroy(&p->http, closed, p);  // closed(): handles gone
 *     }
 */
#ifndef VANTAGE_HTTP_CLIENT_H
#define VANTAGE_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "conn.h"
#include "resolver.h"
#include "result.h"
#include "spec.h"

/* The largest body read. The IANA RDAP bootstrap file (dns.json) is about
 * 100 KiB and grows slowly; RDAP domain answers of the largest registries
 * are 10-50 KiB; Autodiscover and autoconfig documents a few KiB. 1 MiB is
 * ten times the largest of these, and bounds what one hostile server can
 * make a probe hold (a 10 MB answer is cut off and reported). */
#define HTTP_CLIENT_BODY_MAX (1u << 20)
/* Redirects followed: browsers allow 20, Outlook's Autodiscover about 10
 * in total; real services use one or two. 5 catches loops quickly. */
#define HTTP_CLIENT_REDIRECTS_MAX 5
/* A URL we request or report; longer Locations are refused. */
#define HTTP_CLIENT_URL_MAX 1024
/* Content-Type kept (the media type and its parameters). */
#define HTTP_CLIENT_CTYPE_MAX 128
/* Retry-After, not far in the future: one day. A server asking for more
 * still gets its wish clamped, so a typo cannot silence a check for good. */
#define HTTP_CLIENT_RETRY_MAX_S 86400

struct http_client;

/* A URL split into what a request needs. */
struct http_url {
    bool tls;                           /* https:// */
    char host[SPEC_HOST_MAX + 1];       /* name or address, without brackets */
    uint16_t port;                      /* explicit or the scheme's default */
    char path[HTTP_CLIENT_URL_MAX + 1]; /* path and query, "/" at least */
};

struct http_client_params {
    uv_loop_t *loop;
    struct conn_tls *tls;      /* the engine's TLS context */
    struct resolver *resolver; /* the engine's resolver */
    const char *url;           /* http:// or https:// (copied) */
    const char *method;        /* "GET" (NULL) or "POST" */
    const char *body;          /* POST: the request body (copied) */
    size_t body_len;
    const char *content_type; /* POST: its Content-Type */
    const char *accept;       /* Accept field; NULL = "*" "/" "*" */
    size_t body_max;          /* 0 or more than HTTP_CLIENT_BODY_MAX = that */
    bool follow_redirects;    /* false: a 3xx is the response */
    uint64_t deadline_us;     /* clock_mono_us() value for the whole exchange */
    bool trace;               /* log requests and statuses to stderr */
    /* Receives the address, port and TLS facts of the last connection, and
     * the DNS records met (while room is left); may be NULL. Not owned. */
    struct result *facts;
};

struct http_response {
    enum result_error error;                  /* RESULT_OK: a complete response arrived */
    char detail[RESULT_STR_MAX + 1];          /* why, when error is set */
    unsigned status;                          /* final HTTP status; 0 when none */
    char content_type[HTTP_CLIENT_CTYPE_MAX]; /* "" when absent */
    char location[HTTP_CLIENT_URL_MAX + 1];   /* of a 3xx not followed; "" */
    int64_t retry_after_s;                    /* -1 when absent */
    char *body;                               /* NUL-terminated; NULL when empty */
    size_t body_len;
    char url[HTTP_CLIENT_URL_MAX + 1]; /* the URL that gave this response */
    unsigned redirects;                /* redirects followed */
    /* "url -> url -> ..." of the redirects followed, cut at RESULT_STR_MAX */
    char chain[RESULT_STR_MAX + 1];
    bool redirect_loop; /* error set because a Location led back */
};

typedef void (*http_client_cb)(struct http_client *h, void *arg);
typedef void (*http_client_closed_cb)(void *arg);

/* Parses an absolute http:// or https:// URL. 0, or -1 with err set. */
int http_url_parse(const char *url, struct http_url *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Resolves ref (an absolute URL, "//host/path" or "/path"; other relative
 * forms against the base's directory) against base into out. 0 or -1. */
int http_url_resolve(const struct http_url *base, const char *ref, char *out, size_t len)
    __attribute__((warn_unused_result));

/* Writes the canonical text of u. */
void http_url_format(const struct http_url *u, char *buf, size_t len);

/* Parses a Retry-After value (delta-seconds or an HTTP-date, RFC 9110
 * §10.2.3) into seconds from now_s, clamped to 0..HTTP_CLIENT_RETRY_MAX_S;
 * -1 when it is neither. */
int64_t http_retry_after_parse(const char *v, int64_t now_s);

/* Starts the exchange. 0: cb runs exactly once later (from the loop), and
 * *hp is the handle to destroy after it (or to cancel with before). -1
 * with err set (bad URL, out of memory): cb never runs, *hp is NULL. */
int http_client_fetch(const struct http_client_params *p, http_client_cb cb, void *arg,
                      struct http_client **hp, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The response; valid from the callback until destroy. The caller may take
 * the body (set body to NULL and free it later). */
struct http_response *http_client_response(struct http_client *h);

/* Stops whatever is in flight (the callback will not run if it has not),
 * closes the handles and frees h once they are closed, then calls closed
 * (may be NULL) from the loop, never from inside this call. Safe inside the
 * callback. Ignores NULL; sets *hp to NULL. */
void http_client_destroy(struct http_client **hp, http_client_closed_cb closed, void *arg);

#endif
