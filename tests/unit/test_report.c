/*
 * Unit tests of collector/report.c's human output, on synthetic inputs:
 * what compare prints around the matrix.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "report.h"

#define NOW (1800000000LL * 1000000)
#define MIN (60LL * 1000000)

static struct analysis_state ok_state(const char *agent, const char *check, bool discovered)
{
    return (struct analysis_state){.agent = agent,
                                   .network = "hq",
                                   .check = check,
                                   .discovered = discovered,
                                   .ok = true,
                                   .at_us = NOW - MIN / 2,
                                   .since_us = NOW - 10 * MIN,
                                   .streak_n = 10,
                                   .total_us = 40000,
                                   .phase = RESULT_PHASE_TLS,
                                   .phase_us = 30000};
}

/* compare's text for states; the caller frees it. */
static char *compare_text(const struct analysis_state *st, size_t n)
{
    struct analysis_input in = {.target = "corp",
                                .domain = "example.com",
                                .now_us = NOW,
                                .stale_us = 3 * MIN,
                                .states = st,
                                .nstates = n};
    struct analysis_diagnosis d;
    char err[128];
    assert_int_equal(analysis_diagnose(&in, &d, err, sizeof(err)), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    assert_int_equal(report_compare(out, &in, &d, false, false), 0);
    fclose(out);
    analysis_diagnosis_clear(&d);
    return buf;
}

/* Issue 15: the legend of '*' only when a row has one. */
static void test_compare_legend(void **state)
{
    (void)state;
    static const char legend[] = "(* found through the domain's DNS)";
    struct analysis_state st[] = {ok_state("hq1", "imaps://mail.example.com", false),
                                  ok_state("hq1", "dns://example.com/MX", false),
                                  ok_state("hq1", "smtp://mx.example.com", true)};
    char *with = compare_text(st, 3);
    assert_non_null(strstr(with, "smtp://mx.example.com *"));
    assert_non_null(strstr(with, legend));
    free(with);
    char *without = compare_text(st, 2);
    assert_non_null(strstr(without, "imaps://mail.example.com"));
    assert_null(strstr(without, " *\n"));
    assert_null(strstr(without, legend));
    free(without);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compare_legend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
