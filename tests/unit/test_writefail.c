/*
 * Unit tests for collector/writefail.c: a run of failing database writes
 * is one error line and one recovery line, whatever its length (found by
 * chaos.disk_full: a full disk logged every failed commit, 57 a second).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

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
    struct writefail *w = writefail_create(log);
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
    struct writefail *w = writefail_create(log);
    writefail_failed(w, "storing a result of agent a1", "disk full");
    writefail_failed(w, "recording when agent a2 was last seen", "disk full");
    fflush(f);
    assert_int_equal(count_lines(f, "agent a2 was last seen"), 1);
    writefail_destroy(&w);
    log_destroy(&log);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_line_per_run),
        cmocka_unit_test(test_debug_keeps_the_details),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
