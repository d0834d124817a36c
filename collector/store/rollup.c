/*
 * rollup — hourly aggregate arithmetic (rollup.h).
 */
#include "rollup.h"

int64_t rollup_hour_of(int64_t t_us)
{
    int64_t h = t_us / ROLLUP_HOUR_US;
    if (t_us % ROLLUP_HOUR_US < 0)
        h--; /* C division truncates toward zero; an hour starts at its floor */
    return h * ROLLUP_HOUR_US;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Whether failure (t, error, layer) comes before the one r holds. */
static bool fail_before(const struct rollup *r, int64_t t, int error, int layer)
{
    if (r->ok >= r->n)
        return true; /* r has no failure yet */
    if (t != r->first_fail_us)
        return t < r->first_fail_us;
    if (error != r->fail_error)
        return error < r->fail_error;
    return layer < r->fail_layer;
}

void rollup_add(struct rollup *r, bool ok, uint64_t total_us, int64_t started_at_us, int layer,
                int error)
{
    struct rollup one = {.n = 1,
                         .ok = ok ? 1 : 0,
                         .total_us_sum = total_us,
                         .total_us_max = total_us,
                         .first_fail_us = ok ? 0 : started_at_us,
                         .fail_layer = ok ? 0 : layer,
                         .fail_error = ok ? 0 : error};
    rollup_merge(r, &one);
}

void rollup_merge(struct rollup *into, const struct rollup *from)
{
    if (from->n == 0)
        return;
    /* Decided before the counters change: fail_before reads into->ok/n. */
    bool take = from->ok < from->n &&
                fail_before(into, from->first_fail_us, from->fail_error, from->fail_layer);
    if (take) {
        into->first_fail_us = from->first_fail_us;
        into->fail_layer = from->fail_layer;
        into->fail_error = from->fail_error;
    }
    into->n = add_sat(into->n, from->n);
    into->ok = add_sat(into->ok, from->ok);
    into->total_us_sum = add_sat(into->total_us_sum, from->total_us_sum);
    if (from->total_us_max > into->total_us_max)
        into->total_us_max = from->total_us_max;
}
