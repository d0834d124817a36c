/*
 * Unit tests for collector/writefail.c: a run of failing database writes
 * is one error line and one recovery line, whatever its length (found by
 * chaos.disk_full: a full disk logged every failed commit, 57 a second),
 * and however often a write slips through while the disk is full.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "writefail.h"

/* Lines in f that contain needle. */
static int count_lines(FILE *f, const char *needle)
{
    char line[1024];
    int n = 0;
    rewind(f);
    while (fgets(line, sizeof(line), f) != NULL)
        if (strstr(line, needle) != NULL)
            n++;
    return n;
}

static void test_one_line_per_run(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    struct log *log = log_create(f, "test", LOG_LEVEL_INFO);
    struct writefail *w = writefail_create(log, 0);
    assert_non_null(w);
    assert_false(writefail_failing(w));
    writefail_ok(w); /* nothing to end: silent */
    for (int run = 0; run < 2; run++) {
        for (int i = 0; i < 1000; i++)
            writefail_failed(w, "committing results", "database or disk is full");
        assert_true(writefail_failing(w));
        writefail_ok(w);
        writefail_ok(w);
        assert_false(writefail_failing(w));
    }
    fflush(f);
    assert_int_equal(count_lines(f, "database writes fail: committing results"), 2);
    assert_int_equal(count_lines(f, "after 1000 failed attempts"), 2);
    assert_int_equal(count_lines(f, ""), 4);
    assert_int_equal(writefail_total(w), 2000);
    writefail_destroy(&w);
    assert_null(w);
    writefail_destroy(&w);
    log_destroy(&log);
    fclose(f);
}

static void test_debug_keeps_the_details(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    struct log *log = log_create(f, "test", LOG_LEVEL_DEBUG);
    struct writefail *w = writefail_create(log, 0);
    writefail_failed(w, "storing a result of agent a1", "disk full");
    writefail_failed(w, "recording when agent a2 was last seen", "disk full");
    fflush(f);
    assert_int_equal(count_lines(f, "agent a2 was last seen"), 1);
    writefail_destroy(&w);
    log_destroy(&log);
    fclose(f);
}

/* A full disk lets some writes through (a free page, a small update): a
 * success followed by a failure within the settle time continues the
 * run, and the one recovery line comes once writes have succeeded for
 * that long, from the next success or from a tick. */
static void test_flapping_is_one_run(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    struct log *log = log_create(f, "test", LOG_LEVEL_INFO);
    struct writefail *w = writefail_create(log, 200000);
    assert_non_null(w);
    for (int i = 0; i < 5; i++) {
        writefail_failed(w, "committing results", "database or disk is full");
        writefail_ok(w);
        writefail_tick(w);
        assert_true(writefail_failing(w));
    }
    writefail_failed(w, "recording when agents were last seen", "database or disk is full");
    writefail_ok(w);
    writefail_tick(w);
    assert_true(writefail_failing(w));
    fflush(f);
    assert_int_equal(count_lines(f, "succeed again"), 0);
    struct timespec pause = {0, 250000000};
    nanosleep(&pause, NULL);
    writefail_tick(w);
    assert_false(writefail_failing(w));
    writefail_tick(w);
    writefail_ok(w);
    fflush(f);
    assert_int_equal(count_lines(f, "database writes fail: committing results"), 1);
    assert_int_equal(count_lines(f, "succeed again, after 6 failed attempts"), 1);
    assert_int_equal(count_lines(f, ""), 2);
    /* The next failure after the run ended starts a new one. */
    writefail_failed(w, "committing results", "database or disk is full");
    fflush(f);
    assert_int_equal(count_lines(f, "database writes fail"), 2);
    assert_int_equal(writefail_total(w), 7);
    writefail_destroy(&w);
    log_destroy(&log);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_line_per_run),
        cmocka_unit_test(test_debug_keeps_the_details),
        cmocka_unit_test(test_flapping_is_one_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
