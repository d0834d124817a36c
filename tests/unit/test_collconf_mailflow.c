/*
 * Unit tests for collector/config/collconf.c (beside test_collconf.c, which
 * covers the key kinds and errors): the mailflow keys of a target
 * (mailflow, mailflow_interval, mailflow_timeout, delivery_warn) and their
 * defaults (docs/reference.md "Configuration").
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

#define ERR_MAX 512

static const char head[] = "[collector]\n"
                           "listen = tcp://127.0.0.1:7400\n"
                           "insecure_plaintext = yes\n"
                           "database = /tmp/unused.db\n";

/* Writes head + body to a temporary file and loads it. */
static struct collconf *load(const char *body, char *err)
{
    char path[] = "/tmp/test_collconf_mailflow.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(head, f);
    fputs(body, f);
    fclose(f);
    err[0] = '\0';
    struct collconf *cc = collconf_load(path, err, ERR_MAX);
    unlink(path);
    return cc;
}

static const char *last_check(const struct wire_target *t)
{
    return t->nchecks ? t->checks[t->nchecks - 1] : "";
}

static void fails_with(const char *body, const char *want)
{
    char err[ERR_MAX];
    struct collconf *cc = load(body, err);
    assert_null(cc);
    if (strstr(err, want) == NULL)
        fail_msg("error '%s' does not contain '%s'", err, want);
}

/* A target with credentials, submission and imaps gets
 * mailflow://@CREDENTIALS with the default interval, timeout and warning. */
static void test_default_yes(void **state)
{
    (void)state;
    char err[ERR_MAX];
    struct collconf *cc = load("[target corp]\n"
                               "check = imaps://mail.example.com\n"
                               "check = submission://mail.example.com\n"
                               "credentials = corp-mail\n",
                               err);
    assert_non_null(cc);
    const struct wire_target *t = collconf_target(cc, "corp");
    assert_int_equal(t->nchecks, 3);
    assert_string_equal(last_check(t), "mailflow://@corp-mail");
    assert_int_equal(t->mailflow_interval_ms, 300000);
    assert_int_equal(t->mailflow_timeout_ms, 120000);
    const struct collconf_mailflow *mf = collconf_mailflow_of(cc, "corp");
    assert_true(mf->enabled);
    assert_int_equal(mf->delivery_warn_ms, 60000);
    collconf_destroy(&cc);
}

/* Without credentials, or without submission, nothing is added. */
static void test_default_absent(void **state)
{
    (void)state;
    char err[ERR_MAX];
    struct collconf *cc = load("[target a]\n"
                               "check = imaps://mail.example.com\n"
                               "check = submission://mail.example.com\n"
                               "[target b]\n"
                               "check = imaps://mail.example.com\n"
                               "credentials = corp-mail\n",
                               err);
    assert_non_null(cc);
    for (size_t i = 0; i < 2; i++) {
        const struct wire_target *t = &cc->targets.targets[i];
        for (size_t j = 0; j < t->nchecks; j++)
            assert_null(strstr(t->checks[j], "mailflow"));
        assert_int_equal(t->mailflow_interval_ms, 0);
        assert_false(cc->mailflow[i].enabled);
    }
    collconf_destroy(&cc);
}

static void test_no(void **state)
{
    (void)state;
    char err[ERR_MAX];
    struct collconf *cc = load("[target corp]\n"
                               "check = imaps://mail.example.com\n"
                               "check = submission://mail.example.com\n"
                               "credentials = corp-mail\n"
                               "mailflow = no\n",
                               err);
    assert_non_null(cc);
    const struct wire_target *t = collconf_target(cc, "corp");
    assert_int_equal(t->nchecks, 2);
    assert_false(collconf_mailflow_of(cc, "corp")->enabled);
    collconf_destroy(&cc);
}

/* An address, a full spec and the other keys. */
static void test_address_spec_and_keys(void **state)
{
    (void)state;
    char err[ERR_MAX];
    struct collconf *cc =
        load("[target a]\n"
             "check = imaps://mail.example.com\n"
             "check = submission://mail.example.com\n"
             "credentials = corp-mail\n"
             "mailflow = probe@example.com\n"
             "mailflow_interval = 30s\n"
             "mailflow_timeout = 20s\n"
             "delivery_warn = 5s\n"
             "[target b]\n"
             "check = imaps://mail.example.com\n"
             "credentials = corp-mail\n"
             "mailflow = mailflow://probe@example.com?via=smtp://mx.example.com\n",
             err);
    if (cc == NULL)
        fail_msg("%s", err);
    const struct wire_target *a = collconf_target(cc, "a");
    assert_string_equal(last_check(a), "mailflow://probe@example.com");
    assert_int_equal(a->mailflow_interval_ms, 30000);
    assert_int_equal(a->mailflow_timeout_ms, 20000);
    assert_int_equal(collconf_mailflow_of(cc, "a")->delivery_warn_ms, 5000);
    const struct wire_target *b = collconf_target(cc, "b");
    assert_string_equal(last_check(b), "mailflow://probe@example.com?via=smtp://mx.example.com");
    assert_int_equal(b->mailflow_timeout_ms, 120000);
    assert_true(collconf_mailflow_of(cc, "b")->enabled);
    assert_null(collconf_mailflow_of(cc, "c"));
    collconf_destroy(&cc);
}

/* An explicit check = mailflow://... is kept and not doubled. */
static void test_explicit_check(void **state)
{
    (void)state;
    char err[ERR_MAX];
    struct collconf *cc = load("[target corp]\n"
                               "check = imaps://mail.example.com\n"
                               "check = submission://mail.example.com\n"
                               "check = mailflow://probe@example.com\n"
                               "credentials = corp-mail\n"
                               "mailflow_timeout = 30s\n",
                               err);
    assert_non_null(cc);
    const struct wire_target *t = collconf_target(cc, "corp");
    assert_int_equal(t->nchecks, 3);
    assert_string_equal(t->checks[2], "mailflow://probe@example.com");
    assert_int_equal(t->mailflow_timeout_ms, 30000);
    collconf_destroy(&cc);
}

static void test_errors(void **state)
{
    (void)state;
    fails_with("[target c]\ncheck = imaps://m.example.com\ncheck = submission://m.example.com\n"
               "mailflow = yes\n",
               "key 'mailflow': test mail needs the probe account");
    fails_with("[target c]\ncheck = imaps://m.example.com\ncredentials = x\nmailflow = yes\n",
               "needs a server to send through");
    fails_with("[target c]\ncheck = submission://m.example.com\ncredentials = x\nmailflow = yes\n",
               "needs a server to read the mailbox through");
    fails_with("[target c]\ncheck = imaps://m.example.com\ncheck = submission://m.example.com\n"
               "credentials = x\nmailflow = maybe\n",
               "'maybe' is not yes, no, an address");
    fails_with("[target c]\ncheck = imaps://m.example.com\ncheck = submission://m.example.com\n"
               "credentials = x\nmailflow = imaps://m.example.com\n",
               "is not a mailflow:// spec");
    fails_with("[target c]\ncheck = imaps://m.example.com\ncheck = submission://m.example.com\n"
               "check = mailflow://@x\ncredentials = x\nmailflow = yes\n",
               "keep one of the two");
    fails_with("[target c]\ncheck = imaps://m.example.com\ncheck = submission://m.example.com\n"
               "credentials = x\nmailflow_interval = 10ms\n",
               "mailflow_interval");
    fails_with("[target c]\ncheck = imaps://m.example.com\ncheck = submission://m.example.com\n"
               "credentials = x\ndelivery_warn = forever\n",
               "delivery_warn");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_yes),
        cmocka_unit_test(test_default_absent),
        cmocka_unit_test(test_no),
        cmocka_unit_test(test_address_spec_and_keys),
        cmocka_unit_test(test_explicit_check),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
