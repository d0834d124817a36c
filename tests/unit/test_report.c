/*
 * Unit tests of collector/cli/report*.c's human output, on synthetic inputs:
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
    static const char legend[] = "(* found through the domain's DNS or autoconfig)";
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

/* diagnose's text (json: its JSON line) for states; the caller frees it. */
static char *diagnose_text(const struct analysis_state *st, size_t n, bool json)
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
    assert_int_equal(report_diagnose(out, &in, &d, json), 0);
    fclose(out);
    analysis_diagnosis_clear(&d);
    return buf;
}

/* Issue 9: warnings are counted and listed apart from problems, and the
 * JSON names each finding's severity and the status warning. */
static void test_diagnose_warnings(void **state)
{
    (void)state;
    struct analysis_state st[6];
    const char *agents[] = {"hq1", "hq2", "hq3"};
    for (size_t i = 0; i < 3; i++) {
        st[2 * i] = ok_state(agents[i], "imaps://mail.example.com", false);
        st[2 * i].cert_not_after = NOW / 1000000 + 5 * 86400 + 60;
        st[2 * i].cert_subject = "CN=mail.example.com";
        st[2 * i + 1] = ok_state(agents[i], "pop3s://mail.example.com", false);
    }
    char *text = diagnose_text(st, 6, false);
    assert_non_null(strstr(text, "corp: 1 warning, no problem"));
    assert_non_null(strstr(text, "\nWarnings (working now"));
    assert_null(strstr(text, "Problems:"));
    assert_non_null(strstr(text, "1. service (tls) — The certificate CN=mail.example.com"));
    free(text);
    char *json = diagnose_text(st, 6, true);
    assert_non_null(strstr(json, "\"status\":\"warning\""));
    assert_non_null(strstr(json, "\"severity\":\"warning\""));
    assert_non_null(strstr(json, "\"error\":\"tls_cert_expiring\""));
    free(json);

    /* With a problem too: "1 problem and 1 warning", each list numbered. */
    st[1].ok = st[3].ok = st[5].ok = false;
    for (size_t i = 1; i < 6; i += 2) {
        st[i].error = st[i].fail_error = RESULT_AUTH_FAILED;
        st[i].layer = st[i].fail_layer = RESULT_LAYER_AUTH;
        st[i].episode_us = st[i].since_us;
    }
    text = diagnose_text(st, 6, false);
    assert_non_null(strstr(text, "corp: 1 problem and 1 warning, seen from"));
    assert_non_null(strstr(text, "\nProblems:\n\n1. credentials"));
    assert_non_null(strstr(text, "\nWarnings (working now, but act before users notice):\n\n1. "
                                 "service (tls)"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compare_legend),
        cmocka_unit_test(test_diagnose_warnings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
