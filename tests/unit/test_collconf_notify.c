/*
 * Unit tests for collector/config/collconf_notify.c and evaluate_every: the
 * [notify NAME] sections (docs/reference.md "Configuration") and their
 * errors, each naming the file and line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collconf.h"

#define ERR_MAX 512

static const char head[] = "[collector]\n"
                           "listen = tcp://127.0.0.1:7400\n"
                           "insecure_plaintext = yes\n"
                           "database = /tmp/unused.db\n";

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_collconf_notify.XXXXXX");
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/hook.secret", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("s3cret\n", f);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* head + body in DIR/c.conf, loaded (relative paths: from DIR). */
static struct collconf *load(const char *body, char *err)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/c.conf", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(head, f);
    fputs(body, f);
    fclose(f);
    err[0] = '\0';
    return collconf_load(path, err, ERR_MAX);
}

static void fails_with(const char *body, const char *want)
{
    char err[ERR_MAX];
    struct collconf *cc = load(body, err);
    assert_null(cc);
    if (strstr(err, want) == NULL)
        fail_msg("error '%s' does not contain '%s'", err, want);
}

static const char targets[] = "[target a]\ncheck = imaps://a.example.com\n"
                              "[target b]\ncheck = imaps://b.example.com\n";

static void test_defaults(void **state)
{
    (void)state;
    char err[ERR_MAX];
    struct collconf *cc = load(targets, err);
    if (cc == NULL)
        fail_msg("%s", err);
    assert_int_equal(cc->evaluate_every_us, 15000000);
    assert_int_equal(cc->nnotify, 0);
    collconf_destroy(&cc);
}

static void test_notify(void **state)
{
    (void)state;
    char err[ERR_MAX], body[1024];
    snprintf(body, sizeof(body),
             "%s[notify ops]\nalertmanager = http://127.0.0.1:9093\nmin_severity = problem\n"
             "[notify hook]\nwebhook = https://hooks.example.net/v\nsecret_file = hook.secret\n"
             "targets = b\ntimeout = 3s\n",
             targets);
    struct collconf *cc = load(body, err);
    if (cc == NULL)
        fail_msg("%s", err);
    assert_int_equal(cc->nnotify, 2);
    const struct collconf_notify *ops = &cc->notify[0], *hook = &cc->notify[1];
    assert_string_equal(ops->name, "ops");
    assert_string_equal(ops->alertmanager, "http://127.0.0.1:9093");
    assert_null(ops->webhook);
    assert_true(ops->problems_only);
    assert_int_equal(ops->timeout_ms, 10000);
    assert_true(collconf_notify_wants(ops, "a", true));
    assert_false(collconf_notify_wants(ops, "a", false));
    assert_int_equal(hook->secret_len, 6);
    assert_memory_equal(hook->secret, "s3cret", 6);
    assert_int_equal(hook->timeout_ms, 3000);
    assert_true(collconf_notify_wants(hook, "b", false));
    assert_false(collconf_notify_wants(hook, "a", true));
    collconf_destroy(&cc);
}

static void test_errors(void **state)
{
    (void)state;
    char body[1024];
    snprintf(body, sizeof(body), "%s[notify x]\nsecret_file = hook.secret\n", targets);
    fails_with(body, ":9: [notify x] sends nowhere");
    snprintf(body, sizeof(body), "%s[notify x]\nwebhook = ftp://h/x\n", targets);
    fails_with(body, ":10: key 'webhook': 'ftp://h/x' is not an http:// or https:// URL");
    snprintf(body, sizeof(body), "%s[notify x]\nwebhook = http://h/x\ntargets = a, nosuch\n",
             targets);
    fails_with(body, "key 'targets': no [target nosuch]");
    snprintf(body, sizeof(body), "%s[notify x]\nwebhook = http://h/x\nsecret_file = missing\n",
             targets);
    fails_with(body, "key 'secret_file': cannot read");
    snprintf(body, sizeof(body), "%s[notify x]\nwebhook = http://h/x\nmin_severity = all\n",
             targets);
    fails_with(body, "'all' is not warning or problem");
    snprintf(body, sizeof(body),
             "%s[notify x]\nwebhook = http://h/x\n[notify x]\nwebhook = http://h/y\n", targets);
    fails_with(body, "[notify x] is defined twice");
    snprintf(body, sizeof(body), "evaluate_every = 100ms\n%s", targets);
    fails_with(body, "evaluate_every");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_notify),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
