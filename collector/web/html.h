/*
 * html — the one way text reaches the status page: every string, above
 * all those that came from the network (banners, DNS answers, agent
 * names, certificate subjects), goes through html_escape.
 * @unittest: tests/unit/test_html.c
 */
#ifndef VANTAGE_HTML_H
#define VANTAGE_HTML_H

#include <stdio.h>

/* Writes s to out escaped for HTML text and for quoted attribute values
 * (& < > " ' replaced by character references). Bytes below 0x20 other
 * than tab and newline, and DEL, become U+FFFD: they have no business on
 * the page and some are not allowed in HTML at all. NULL writes nothing. */
void html_escape(FILE *out, const char *s);

/* printf, with every %s argument passed through html_escape. Only %s,
 * %d, %u, %zu, %lld, %.Nf and %% are understood; fmt itself is trusted. */
void html_printf(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
