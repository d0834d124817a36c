/*
 * clock — monotonic and wall time, ISO 8601 and duration text (clock.h).
 */
#include "clock.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A year: no timeout, interval or look-back window is sensibly longer. */
#define CLOCK_DURATION_MAX_US (366LL * 24 * 3600 * 1000000)

uint64_t clock_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int64_t clock_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void clock_format_iso_us(int64_t unix_us, bool with_ms, char *buf, size_t len)
{
    time_t secs = (time_t)(unix_us / 1000000);
    int64_t rem = unix_us % 1000000;
    if (rem < 0) {
        rem += 1000000;
        secs -= 1;
    }
    struct tm tm;
    char base[32];
    gmtime_r(&secs, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    if (with_ms)
        snprintf(buf, len, "%s.%03dZ", base, (int)(rem / 1000));
    else
        snprintf(buf, len, "%sZ", base);
}

int clock_parse_iso(const char *s, int64_t *unix_us)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == NULL)
        return -1;
    int64_t frac = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; isdigit((unsigned char)*p); p++, digits++)
            if (digits < 6)
                frac = frac * 10 + (*p - '0');
        if (digits == 0)
            return -1;
        for (; digits < 6; digits++)
            frac *= 10;
    }
    if (*p != 'Z' || p[1] != '\0')
        return -1;
    /* strptime takes 2026-02-30 and 23:59:60 and timegm rolls them over;
     * a date that does not come back unchanged does not exist. */
    struct tm want = tm, back;
    time_t t = timegm(&tm);
    if (gmtime_r(&t, &back) == NULL || back.tm_year != want.tm_year || back.tm_mon != want.tm_mon ||
        back.tm_mday != want.tm_mday || back.tm_hour != want.tm_hour ||
        back.tm_min != want.tm_min || back.tm_sec != want.tm_sec)
        return -1;
    *unix_us = (int64_t)t * 1000000 + frac;
    return 0;
}

int clock_parse_duration(const char *s, int64_t *us)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno != 0 || !(v >= 0)) /* !(v >= 0): NaN too */
        return -1;
    double mult;
    if (*end == '\0' || strcmp(end, "s") == 0)
        mult = 1e6;
    else if (strcmp(end, "ms") == 0)
        mult = 1e3;
    else if (strcmp(end, "m") == 0)
        mult = 60e6;
    else if (strcmp(end, "h") == 0)
        mult = 3600e6;
    else if (strcmp(end, "d") == 0)
        mult = 86400e6;
    else
        return -1;
    double total = v * mult;
    if (!(total <= (double)CLOCK_DURATION_MAX_US))
        return -1;
    *us = (int64_t)total;
    return 0;
}
