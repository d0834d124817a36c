/*
 * Unit tests for common/clock.c: durations, ISO 8601 text, the two clocks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"

/* 2026-11-27T10:00:00Z */
#define T0 1795773600LL
#define US 1000000LL
/* The bound clock.h promises: a year (366 days). */
#define YEAR_US (366LL * 86400 * US)

static int64_t duration_ok(const char *text)
{
    int64_t us = -12345;
    if (clock_parse_duration(text, &us) != 0)
        fail_msg("'%s' refused", text);
    return us;
}

static void duration_bad(const char *text)
{
    int64_t us = -12345;
    if (clock_parse_duration(text, &us) == 0)
        fail_msg("'%s' accepted as %lld us", text, (long long)us);
    assert_int_equal(us, -12345); /* untouched */
}

static void test_duration_units(void **state)
{
    (void)state;
    assert_int_equal(duration_ok("250ms"), 250000);
    assert_int_equal(duration_ok("10s"), 10 * US);
    assert_int_equal(duration_ok("5m"), 300 * US);
    assert_int_equal(duration_ok("2h"), 7200 * US);
    assert_int_equal(duration_ok("7d"), 7 * 86400 * US);
    assert_int_equal(duration_ok("30"), 30 * US); /* bare: seconds */
    assert_int_equal(duration_ok("1.5s"), 1500000);
    assert_int_equal(duration_ok("0.5ms"), 500);
    assert_int_equal(duration_ok("0"), 0);
    assert_int_equal(duration_ok("0s"), 0);
}

static void test_duration_bounds(void **state)
{
    (void)state;
    /* A year exactly, in every unit, is the most there is. */
    assert_int_equal(duration_ok("366d"), YEAR_US);
    assert_int_equal(duration_ok("8784h"), YEAR_US);
    assert_int_equal(duration_ok("527040m"), YEAR_US);
    assert_int_equal(duration_ok("31622400"), YEAR_US);
    assert_int_equal(duration_ok("31622400000ms"), YEAR_US);
    duration_bad("367d");
    duration_bad("8785h");
    duration_bad("31622401s");
    duration_bad("31622400001ms");
    duration_bad("1e400");
    duration_bad("inf");
    duration_bad("infs");
    duration_bad("-1s");
    duration_bad("-0.001");
}

/* strtod accepts "nan"; a NaN duration must not turn into a huge negative
 * number (and converting NaN to an integer is undefined behaviour). */
static void test_duration_nan(void **state)
{
    (void)state;
    duration_bad("nan");
    duration_bad("NaNs");
    duration_bad("nan(0x1)ms");
}

static void test_duration_malformed(void **state)
{
    (void)state;
    duration_bad("");
    duration_bad("s");
    duration_bad("ms");
    duration_bad("10 s");
    duration_bad("10x");
    duration_bad("10S");
    duration_bad("10sec");
    duration_bad("10s ");
    duration_bad("ten seconds");
    duration_bad("5m30s");
}

static void format_is(int64_t us, bool with_ms, const char *want)
{
    char buf[40];
    clock_format_iso_us(us, with_ms, buf, sizeof(buf));
    assert_string_equal(buf, want);
}

static int64_t parse_ok(const char *text)
{
    int64_t us = 0;
    if (clock_parse_iso(text, &us) != 0)
        fail_msg("'%s' refused", text);
    return us;
}

static void test_iso_format(void **state)
{
    (void)state;
    format_is(T0 * US, false, "2026-11-27T10:00:00Z");
    format_is(T0 * US + 123456, true, "2026-11-27T10:00:00.123Z");
    format_is(T0 * US + 999999, false, "2026-11-27T10:00:00Z"); /* cut, not rounded */
    format_is(0, true, "1970-01-01T00:00:00.000Z");
    format_is(-1, true, "1969-12-31T23:59:59.999Z");
    format_is(-1500000, true, "1969-12-31T23:59:58.500Z");
    format_is(946684799LL * US, false, "1999-12-31T23:59:59Z");
    format_is(253402300799LL * US, false, "9999-12-31T23:59:59Z");
    /* A short buffer is cut and terminated. */
    char small[11];
    clock_format_iso_us(T0 * US, true, small, sizeof(small));
    assert_string_equal(small, "2026-11-27");
}

static void test_iso_parse(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("2026-11-27T10:00:00Z"), T0 * US);
    assert_int_equal(parse_ok("2026-11-27T10:00:00.123Z"), T0 * US + 123000);
    assert_int_equal(parse_ok("2026-11-27T10:00:00.1Z"), T0 * US + 100000);
    assert_int_equal(parse_ok("2026-11-27T10:00:00.123456Z"), T0 * US + 123456);
    /* Digits past microseconds are dropped. */
    assert_int_equal(parse_ok("2026-11-27T10:00:00.1234569Z"), T0 * US + 123456);
    assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse_ok("1969-12-31T23:59:58.500Z"), -1500000);
    assert_int_equal(parse_ok("2024-02-29T00:00:00Z"), 1709164800LL * 1000000);

    static const char *const bad[] = {
        "",
        "2026-11-27",
        "2026-11-27T10:00:00",       /* no zone */
        "2026-11-27T10:00:00+01:00", /* only UTC */
        "2026-11-27T10:00:00.Z",     /* no fraction digits */
        "2026-11-27T10:00:00Zjunk",
        "2026-11-27 10:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-11-27T25:00:00Z",
        "2026-02-30T00:00:00Z", /* no such day */
        "2025-02-29T00:00:00Z", /* not a leap year */
        "2026-11-27T23:59:60Z", /* leap seconds are not UTC timestamps we store */
        "yesterday",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t us = 0;
        if (clock_parse_iso(bad[i], &us) == 0)
            fail_msg("'%s' accepted", bad[i]);
    }
}

static void test_iso_round_trip(void **state)
{
    (void)state;
    const int64_t samples[] = {
        0,
        T0 * US,
        T0 * US + 123000,
        T0 * US + 1000,
        -1500000,
        946684799LL * US + 999000,
        253402300799LL * US,
    };
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        char buf[40];
        clock_format_iso_us(samples[i], true, buf, sizeof(buf));
        assert_int_equal(parse_ok(buf), samples[i]);
        /* Without milliseconds: the whole second before. */
        clock_format_iso_us(samples[i], false, buf, sizeof(buf));
        int64_t secs = samples[i] / US - (samples[i] % US < 0);
        assert_int_equal(parse_ok(buf), secs * US);
    }
    /* With milliseconds the microseconds are cut. */
    char buf[40];
    clock_format_iso_us(T0 * US + 123999, true, buf, sizeof(buf));
    assert_int_equal(parse_ok(buf), T0 * US + 123000);
}

static void test_clocks(void **state)
{
    (void)state;
    uint64_t a = clock_mono_us();
    struct timespec ts = {0, 2000000}; /* 2 ms */
    nanosleep(&ts, NULL);
    uint64_t b = clock_mono_us();
    assert_true(b >= a + 2000);
    assert_true(b - a < 10 * US); /* a sleep of 2 ms is not 10 s */

    int64_t wall = clock_wall_us();
    int64_t now = (int64_t)time(NULL) * US;
    assert_true(wall > now - 2 * US && wall < now + 2 * US);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_units), cmocka_unit_test(test_duration_bounds),
        cmocka_unit_test(test_duration_nan),   cmocka_unit_test(test_duration_malformed),
        cmocka_unit_test(test_iso_format),     cmocka_unit_test(test_iso_parse),
        cmocka_unit_test(test_iso_round_trip), cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
