/*
 * status — the status page a help-desk colleague reads in a browser
 * (docs/reference.md "HTTP endpoint"): server-rendered HTML, no script,
 * no external resource, one inline style (its hash is in the page's
 * Content-Security-Policy), every string through html_escape.
 *   /                  every target: its status and its findings' summaries
 *   /status?target=T   one target: its open findings with evidence and next
 *                      steps, the vantage-point matrix grouped by network,
 *                      a latency chart per network (SVG) and the last 24
 *                      hours of its timeline
 */
#ifndef VANTAGE_STATUS_H
#define VANTAGE_STATUS_H

#include <stdint.h>
#include <stdio.h>

#include "collconf.h"
#include "store.h"

/* How far back the page's timeline goes. */
#define STATUS_TIMELINE_US (24LL * 3600 * 1000000)
/* Timeline events shown at most (the newest): the page stays readable
 * when a flapping check produced hundreds. */
#define STATUS_TIMELINE_MAX 100

/* The text of the page's one <style> element, for the CSP hash. */
const char *status_style(void);

/* Writes the page into out: the overview when target is NULL. Returns the
 * HTTP status: 200, 404 (no such target; out holds a page saying so) or
 * 500 (a store error). */
unsigned status_page(const struct collconf *c, struct store *s, const char *target, int64_t now_us,
                     FILE *out);

#endif
