/*
 * analysis/text.c — lists, sentences and the words findings share (snapshot.h).
 */
#include "snapshot.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

void *text_calloc(struct ctx *c, size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (p == NULL)
        c->oom = true;
    return p;
}

char *text_fmt(struct ctx *c, const char *f, ...)
{
    char buf[LINE_MAX_LEN];
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, sizeof(buf), f, ap);
    va_end(ap);
    char *s = strdup(buf);
    if (s == NULL)
        c->oom = true;
    return s;
}

void text_list_take(struct ctx *c, struct analysis_list *l, char *s)
{
    if (s == NULL) {
        c->oom = true;
        return;
    }
    char **v = realloc(l->v, (l->n + 1) * sizeof(*v));
    if (v == NULL) {
        free(s);
        c->oom = true;
        return;
    }
    l->v = v;
    l->v[l->n++] = s;
}

void text_list_add(struct ctx *c, struct analysis_list *l, const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        c->oom = true;
    else
        text_list_take(c, l, d);
}

void text_list_clear(struct analysis_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    *l = (struct analysis_list){0};
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void text_list_sort(struct analysis_list *l)
{
    if (l->n > 1)
        qsort(l->v, l->n, sizeof(*l->v), cmp_str);
}

/* "a, b, c and 4 more" of a sorted list. */
void text_names_line(const struct analysis_list *l, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < l->n && i < NAMES_IN_LINE && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", l->v[i]);
    if (l->n > NAMES_IN_LINE && used < len)
        snprintf(buf + used, len - used, " and %zu more", l->n - NAMES_IN_LINE);
}

void text_when(int64_t us, char *buf, size_t len)
{
    clock_format_iso_us(us, false, buf, len);
}

bool text_list_has(const struct analysis_list *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return true;
    return false;
}

void text_list_add_unique(struct ctx *c, struct analysis_list *l, const char *s)
{
    if (!text_list_has(l, s))
        text_list_add(c, l, s);
}

/* Words for the checks of a finding: "imaps://a and pop3s://a" or
 * "imaps://a and 3 more checks", led by a configured server check (what
 * users' clients use) rather than a DNS lookup. */
static void checks_words(const struct snap *s, const struct analysis_list *l, char *buf, size_t len)
{
    size_t lead = 0;
    bool found = false;
    for (size_t pass = 0; pass < 2 && !found; pass++) {
        for (size_t i = 0; i < l->n && !found; i++) {
            size_t k = snapshot_name_index(&s->checks, l->v[i]);
            if (!snapshot_is_dns_check(l->v[i]) && (pass == 1 || !s->ck[k].discovered)) {
                lead = i;
                found = true;
            }
        }
    }
    if (l->n == 1)
        snprintf(buf, len, "%s", l->v[0]);
    else if (l->n == 2)
        snprintf(buf, len, "%s and %s", l->v[lead], l->v[1 - lead]);
    else
        snprintf(buf, len, "%s and %zu more checks", l->v[lead], l->n - 1);
}

/* The first configured (or any) failing server check's host and port, for
 * advice. */
static void main_host(const struct snap *s, const struct group *g, char *host, size_t len,
                      unsigned *port)
{
    host[0] = '\0';
    *port = 0;
    for (int pass = 0; pass < 2 && host[0] == '\0'; pass++) {
        for (size_t i = 0; i < g->nrows; i++) {
            size_t k = s->rows[g->rows[i]].check;
            if ((pass == 0 && s->ck[k].discovered) || snapshot_is_dns_check(s->checks.v[k]))
                continue;
            snprintf(host, len, "%s", s->ck[k].host);
            *port = snapshot_port_of(s->checks.v[k]);
            break;
        }
    }
    if (host[0] == '\0' && g->nrows > 0)
        snprintf(host, len, "%s", s->ck[s->rows[g->rows[0]].check].host);
}

/* The ports a group's server checks connect to, each with the error it
 * fails with there, for advice: " port 993 (tcp_refused)", " ports 993
 * and 995 (tcp_refused)", " port 143 (proto_closed) and port 8080
 * (tcp_refused)"; "" when no check names a port. Configured checks
 * first, at most NAMES_IN_LINE ports. Sets *all_no_answer when every
 * port fails without an answer (no_answer). */
static void ports_words(const struct snap *s, const struct group *g, char *buf, size_t len,
                        bool *all_no_answer)
{
    unsigned port[NAMES_IN_LINE];
    enum result_error err[NAMES_IN_LINE];
    size_t n = 0, more = 0;
    size_t *rows = malloc((g->nrows ? g->nrows : 1) * sizeof(*rows));
    /* Each check's port, parsed once: a group of a thousand agents has
     * thousands of rows, and each new port scans them all. */
    unsigned *cport = malloc((s->checks.n ? s->checks.n : 1) * sizeof(*cport));
    for (size_t k = 0; cport != NULL && k < s->checks.n; k++)
        cport[k] = snapshot_port_of(s->checks.v[k]);
    buf[0] = '\0';
    *all_no_answer = true;
    for (int pass = 0; pass < 2 && cport != NULL; pass++) {
        for (size_t i = 0; i < g->nrows; i++) {
            size_t k = s->rows[g->rows[i]].check;
            unsigned p = cport[k];
            if (p == 0 || s->ck[k].discovered != (pass == 1))
                continue;
            bool seen = false;
            for (size_t m = 0; m < n && !seen; m++)
                seen = port[m] == p;
            if (seen)
                continue;
            /* The error of this group's rows of every check on port p. */
            size_t nr = 0;
            for (size_t j = 0; rows != NULL && j < g->nrows; j++)
                if (cport[s->rows[g->rows[j]].check] == p)
                    rows[nr++] = g->rows[j];
            enum result_layer lay;
            enum result_error e = s->rows[g->rows[i]].error;
            if (nr > 0)
                snapshot_dominant(s, rows, nr, &lay, &e);
            *all_no_answer &= snapshot_no_answer(e);
            if (n == NAMES_IN_LINE) {
                more++;
                continue;
            }
            port[n] = p;
            err[n++] = e;
        }
    }
    free(rows);
    free(cport);
    if (n == 0) {
        *all_no_answer = false;
        return;
    }
    bool one_error = true;
    for (size_t m = 1; m < n; m++)
        one_error &= err[m] == err[0];
    size_t used = 0;
    for (size_t m = 0; m < n && used < len; m++) {
        const char *sep = m == 0 ? " " : m + 1 == n && more == 0 ? " and " : ", ";
        if (one_error)
            used += (size_t)snprintf(buf + used, len - used, "%s%s%u", sep,
                                     m == 0 ? (n > 1 ? "ports " : "port ") : "", port[m]);
        else
            used += (size_t)snprintf(buf + used, len - used, "%sport %u (%s)", sep, port[m],
                                     result_error_name(err[m]));
    }
    if (more > 0 && used < len)
        used += (size_t)snprintf(buf + used, len - used, " and %zu more", more);
    if (one_error && used < len)
        snprintf(buf + used, len - used, " (%s)", result_error_name(err[0]));
}

void text_finding_words(const struct snap *s, const struct group *g,
                        const struct analysis_finding *f, struct finding_words *w)
{
    checks_words(s, &f->checks, w->checks, sizeof(w->checks));
    text_names_line(&f->networks, w->nets, sizeof(w->nets));
    text_names_line(&f->agents, w->agents, sizeof(w->agents));
    text_when(f->started_at_us, w->start, sizeof(w->start));
    main_host(s, g, w->host, sizeof(w->host), &w->port);
    ports_words(s, g, w->ports, sizeof(w->ports), &w->no_reply);
    w->err = result_error_name(f->error);
    w->intermittent = f->flapping ? "intermittently " : "";
    w->s = f->checks.n == 1 ? "s" : "";
}
