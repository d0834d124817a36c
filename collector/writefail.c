/*
 * writefail — a failing database logged once per run (writefail.h).
 */
#include "writefail.h"

#include <stdlib.h>

#include "clock.h"

struct writefail {
    struct log *log;
    uint64_t settle_us;
    bool failing;
    bool settling;            /* a write succeeded since the last failure */
    uint64_t run;             /* failures in the current run */
    uint64_t total;           /* failures ever */
    uint64_t since_us;        /* monotonic start of the current run */
    uint64_t settled_from_us; /* the first success after the last failure */
};

struct writefail *writefail_create(struct log *log, uint64_t settle_us)
{
    struct writefail *w = calloc(1, sizeof(*w));
    if (w != NULL) {
        w->log = log;
        w->settle_us = settle_us;
    }
    return w;
}

void writefail_destroy(struct writefail **wp)
{
    if (wp == NULL || *wp == NULL)
        return;
    free(*wp);
    *wp = NULL;
}

void writefail_failed(struct writefail *w, const char *what, const char *err)
{
    if (w == NULL)
        return;
    w->total++;
    w->run++;
    w->settling = false;
    if (w->failing) {
        log_debug(w->log, "database write failed again (%llu in this run): %s: %s",
                  (unsigned long long)w->run, what, err);
        return;
    }
    w->failing = true;
    w->since_us = clock_mono_us();
    log_error(w->log,
              "database writes fail: %s: %s; results are not acknowledged until a write "
              "succeeds again (agents keep them in their spools); repeats of this are logged "
              "at debug level only",
              what, err);
}

static void end_run(struct writefail *w)
{
    double secs = (double)(w->settled_from_us - w->since_us) / 1e6;
    log_info(w->log,
             "database writes succeed again, after %llu failed attempts over %.1f s; "
             "acknowledgements resume",
             (unsigned long long)w->run, secs);
    w->failing = false;
    w->settling = false;
    w->run = 0;
}

void writefail_tick(struct writefail *w)
{
    if (w != NULL && w->failing && w->settling &&
        clock_mono_us() - w->settled_from_us >= w->settle_us)
        end_run(w);
}

void writefail_ok(struct writefail *w)
{
    if (w == NULL || !w->failing)
        return;
    if (!w->settling) {
        w->settling = true;
        w->settled_from_us = clock_mono_us();
    }
    writefail_tick(w);
}

bool writefail_failing(const struct writefail *w)
{
    return w != NULL && w->failing;
}

uint64_t writefail_total(const struct writefail *w)
{
    return w ? w->total : 0;
}
