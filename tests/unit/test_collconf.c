/*
 * Unit tests for collector/config/collconf.c: which keys are paths (resolved from
 * the config file's directory) and which are taken as written, and errors
 * that name the file, the line and the key, and say what to write instead.
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
#include "config.h"

static char dir[] = "/tmp/test_collconf.XXXXXX";

/* Runs in dir, with the config in sub/: not in the current directory. */
static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) != NULL && chdir(dir) == 0 && mkdir("sub", 0700) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    unlink("sub/collector.conf");
    rmdir("sub");
    return chdir("/") == 0 && rmdir(dir) == 0 ? 0 : -1;
}

static struct collconf *load(const char *text, char *err, size_t errlen)
{
    FILE *f = fopen("sub/collector.conf", "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    err[0] = '\0';
    return collconf_load("sub/collector.conf", err, errlen);
}

/* text must be refused with an error containing each NULL-ended fragment. */
static void load_fails(const char *text, ...)
{
    char err[1024];
    struct collconf *c = load(text, err, sizeof(err));
    if (c != NULL) {
        collconf_destroy(&c);
        fail_msg("accepted: %s", text);
    }
    va_list ap;
    va_start(ap, text);
    for (const char *want = va_arg(ap, const char *); want; want = va_arg(ap, const char *))
        if (strstr(err, want) == NULL)
            fail_msg("error '%s' lacks '%s'", err, want);
    va_end(ap);
}

#define HEAD "[collector]\nsecret_key = collector.key\nauthorized_keys = authorized_keys\n"

static void test_path_keys_resolved(void **state)
{
    (void)state;
    char err[1024];
    struct collconf *c = load(HEAD "listen = tcp://127.0.0.1:7400\n"
                                   "database = data/vantage.db\n"
                                   "control = ipc://control.sock\n"
                                   "log_level = debug\n"
                                   "[target corp]\n"
                                   "domain = example.com\n"
                                   "check = imaps://mail.example.com\n"
                                   "interval = 30s\n"
                                   "timeout = 5s\n"
                                   "credentials = corp\n",
                              err, sizeof(err));
    if (c == NULL)
        fail_msg("%s", err);
    assert_string_equal(c->secret_key, "sub/collector.key");
    assert_string_equal(c->authorized_keys, "sub/authorized_keys");
    assert_string_equal(c->database, "sub/data/vantage.db");
    assert_string_equal(c->control, "ipc://sub/control.sock");
    assert_string_equal(c->log_level, "debug");
    assert_string_equal(c->listen, "tcp://127.0.0.1:7400");
    const struct wire_target *t = collconf_target(c, "corp");
    assert_non_null(t);
    assert_string_equal(t->domain, "example.com");
    assert_string_equal(t->credentials, "corp");
    /* The domain adds autoconfig:// and rdap:// (test_collconf_domain.c). */
    assert_int_equal(t->nchecks, 3);
    assert_non_null(strstr(t->checks[0], "imaps://mail.example.com"));
    assert_null(strstr(t->checks[0], "sub/"));
    assert_int_equal(t->interval_ms, 30000);
    assert_int_equal(t->timeout_ms, 5000);
    collconf_destroy(&c);

    /* A backend prefix keeps its place; the default control socket sits
     * beside the resolved database; absolute paths are kept. */
    c = load(HEAD "database = sqlite:vantage.db\n", err, sizeof(err));
    if (c == NULL)
        fail_msg("%s", err);
    assert_string_equal(c->database, "sqlite:sub/vantage.db");
    assert_string_equal(c->control, "ipc://sub/vantage.db.control");
    assert_string_equal(c->log_level, "info");
    collconf_destroy(&c);
    c = load("[collector]\nsecret_key = /etc/vantage/collector.key\nauthorized_keys = "
             "/etc/vantage/ak\n",
             err, sizeof(err));
    if (c == NULL)
        fail_msg("%s", err);
    assert_string_equal(c->secret_key, "/etc/vantage/collector.key");
    assert_string_equal(c->database, COLLCONF_DEFAULT_DATABASE);
    collconf_destroy(&c);
}

static void test_errors_name_line_and_key(void **state)
{
    (void)state;
    char text[1024], longpath[201];
    memset(longpath, 'x', 200);
    longpath[200] = '\0';
    load_fails(HEAD "listen = 0.0.0.0:7400\n", "sub/collector.conf:4: key 'listen'",
               "not a ZeroMQ endpoint", "e.g. tcp://0.0.0.0:7400", NULL);
    load_fails(HEAD "control = /run/vantage/control\n", "sub/collector.conf:4: key 'control'",
               "not a ZeroMQ endpoint", "ipc://PATH", NULL);
    snprintf(text, sizeof(text), "%scontrol = ipc:///tmp/%s\n", HEAD, longpath);
    load_fails(text, "sub/collector.conf:4: key 'control'", "limit is 107", "shorter path", NULL);
    snprintf(text, sizeof(text), "%sdatabase = /tmp/%s.db\n", HEAD, longpath);
    load_fails(text, "sub/collector.conf:4: key 'database'", "control socket",
               "set control = ipc://", NULL);
    load_fails(HEAD "log_level = loud\n", "sub/collector.conf:4: key 'log_level'",
               "error, warn, info or debug", NULL);
    load_fails("[collector]\nsecret_key =\n", "sub/collector.conf:2: key 'secret_key'", "empty",
               NULL);
    load_fails("[collector]\ninsecure_plaintext = yes\n", "sub/collector.conf:1:", "key 'listen'",
               "write listen = tcp://127.0.0.1:PORT", NULL);
    load_fails(HEAD "[target t]\ncheck = imaps://h\ninterval = soon\n",
               "sub/collector.conf:6: key 'interval'", "e.g. 500ms, 10s", NULL);
    load_fails(HEAD "[target t]\ncheck = imaps://h\ntimeout = 0s\n",
               "sub/collector.conf:6: key 'timeout'", "must be between", NULL);
    load_fails(HEAD "[target t]\ndomain = exa mple.com\n", "sub/collector.conf:5: key 'domain'",
               "not a domain name", NULL);
    load_fails(HEAD "[target t]\ncheck = bogus://x\n", "sub/collector.conf:5: key 'check'", "bogus",
               NULL);
}

static void test_use_time_errors(void **state)
{
    (void)state;
    char err[1024], msg[1024];
    struct collconf *c = load(HEAD, err, sizeof(err));
    if (c == NULL)
        fail_msg("%s", err);
    collconf_error(c, "authorized_keys", "cannot open", msg, sizeof(msg));
    assert_string_equal(msg, "sub/collector.conf:3: key 'authorized_keys': cannot open");
    collconf_error(c, "listen", "in use", msg, sizeof(msg));
    assert_string_equal(msg, "sub/collector.conf:1: [collector] key 'listen' is not set, so its "
                             "default was used: in use");
    collconf_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_keys_resolved),
        cmocka_unit_test(test_errors_name_line_and_key),
        cmocka_unit_test(test_use_time_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
