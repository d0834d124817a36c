/*
 * Unit tests for the retention keys in collector/config/collconf.c: retention
 * (raw results, default 30 days) and rollup_retention (hourly aggregates,
 * default a year, never shorter than retention).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collconf.h"

static char dir[] = "/tmp/test_collconf_retention.XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) != NULL && chdir(dir) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    unlink("collector.conf");
    return chdir("/") == 0 && rmdir(dir) == 0 ? 0 : -1;
}

#define HEAD "[collector]\nlisten = tcp://127.0.0.1:7400\ninsecure_plaintext = yes\n"
#define HOUR (3600LL * 1000000)

static struct collconf *load(const char *text, char *err, size_t errlen)
{
    FILE *f = fopen("collector.conf", "w");
    assert_non_null(f);
    fputs(HEAD, f);
    fputs(text, f);
    fclose(f);
    err[0] = '\0';
    return collconf_load("collector.conf", err, errlen);
}

static void test_defaults(void **state)
{
    (void)state;
    char err[1024];
    struct collconf *c = load("", err, sizeof(err));
    if (c == NULL)
        fail_msg("%s", err);
    assert_true(c->retention_us == 30 * 24 * HOUR);
    assert_true(c->rollup_retention_us == 365 * 24 * HOUR);
    collconf_destroy(&c);
}

static void test_set(void **state)
{
    (void)state;
    char err[1024];
    struct collconf *c = load("retention = 2h\nrollup_retention = 3d\n", err, sizeof(err));
    if (c == NULL)
        fail_msg("%s", err);
    assert_true(c->retention_us == 2 * HOUR);
    assert_true(c->rollup_retention_us == 72 * HOUR);
    collconf_destroy(&c);
}

static void test_errors(void **state)
{
    (void)state;
    char err[1024];
    /* The line that set it, and what to do. */
    assert_null(load("retention = 300d\nrollup_retention = 30d\n", err, sizeof(err)));
    assert_non_null(strstr(err, "collector.conf:5: key 'rollup_retention'"));
    assert_non_null(strstr(err, "shorter than retention"));
    assert_null(load("retention = 400d\n", err, sizeof(err)));
    assert_non_null(strstr(err, "collector.conf:4: key 'retention'"));
    assert_null(load("retention = 10m\n", err, sizeof(err)));
    assert_non_null(strstr(err, "key 'retention'"));
    assert_null(load("retention = forever\n", err, sizeof(err)));
    assert_non_null(strstr(err, "not a duration"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
