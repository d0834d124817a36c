/*
 * web — the collector's HTTP endpoint (collector.conf "http =";
 * docs/reference.md "HTTP endpoint"): /metrics, the status page and
 * /api/v1, on libmicrohttpd.
 *
 * It runs on its own thread (libmicrohttpd's internal polling thread,
 * which serves every connection in turn) with its own store connection and
 * its own copy of collector.conf, so that serve's loop never waits for a
 * scrape: serve only starts it, tells it of a reload and of its ingest
 * counters, and stops it.
 *
 * Bounds: request headers and URL within WEB_REQUEST_MAX (larger: 431 or
 * 414 from libmicrohttpd), no request body (413), GET and HEAD only (405),
 * WEB_CONNECTIONS_MAX connections, idle ones closed after
 * WEB_IDLE_TIMEOUT_S. With http_token_file every request needs
 * "Authorization: Bearer TOKEN" (401 otherwise), compared in constant time.
 */
#ifndef VANTAGE_WEB_H
#define VANTAGE_WEB_H

#include <stddef.h>

#include "collconf.h"
#include "ingest.h"
#include "log.h"

/* Per connection, for the request line and headers: an honest client
 * (Prometheus, a browser, curl) sends well under 8 KiB. */
#define WEB_REQUEST_MAX (16 * 1024)
/* Scrapers and a few browsers; more is a client gone wrong. */
#define WEB_CONNECTIONS_MAX 64
#define WEB_PER_IP_MAX      32
/* A client that sends nothing for this long is dropped (slow clients). */
#define WEB_IDLE_TIMEOUT_S 10
/* A token file holds one line; a longer one is not a token file. */
#define WEB_TOKEN_MAX 4096

struct web;

/* Starts serving c->http. Returns NULL with err (naming the key at fault)
 * when it cannot: bad address, port in use, token file unreadable or
 * readable by others, database unreadable. */
struct web *web_start(const struct collconf *c, struct log *log, char *err, size_t errlen);

/* Rereads collector.conf (after serve reloaded it): new targets show at
 * once. Keeps the old one when the file no longer loads. */
void web_reload(struct web *w);

/* Tells the endpoint serve's ingest counters (cheap: no lock is taken). */
void web_note_ingest(struct web *w, const struct ingest_stats *totals);

/* Stops serving and frees everything; NULL is fine. */
void web_stop(struct web **wp);

#endif
