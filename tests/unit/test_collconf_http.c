/*
 * Unit tests for the HTTP endpoint's keys in collector/config/collconf.c: http
 * (off unless set, ADDRESS:PORT), http_token_file (a path, resolved from
 * the file's directory; nothing to protect without http) and metrics_per.
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

static char dir[] = "/tmp/test_collconf_http.XXXXXX";

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

#define HEAD "[collector]\nlisten = tcp://127.0.0.1:7400\ninsecure_plaintext = yes\n"

static struct collconf *load(const char *text, char *err, size_t errlen)
{
    FILE *f = fopen("sub/collector.conf", "w");
    assert_non_null(f);
    fputs(HEAD, f);
    fputs(text, f);
    fclose(f);
    err[0] = '\0';
    return collconf_load("sub/collector.conf", err, errlen);
}

static void test_defaults_off(void **state)
{
    (void)state;
    char err[1024];
    struct collconf *c = load("", err, sizeof(err));
    if (c == NULL)
        fail_msg("%s", err);
    assert_null(c->http);
    assert_null(c->http_token_file);
    assert_false(c->metrics_per_network);
    collconf_destroy(&c);
}

static void test_keys(void **state)
{
    (void)state;
    char err[1024];
    struct collconf *c = load("http = 127.0.0.1:9740\nhttp_token_file = http.token\n"
                              "metrics_per = network\n",
                              err, sizeof(err));
    if (c == NULL)
        fail_msg("%s", err);
    assert_string_equal(c->http, "127.0.0.1:9740");
    assert_string_equal(c->http_token_file, "sub/http.token");
    assert_true(c->metrics_per_network);
    collconf_destroy(&c);
    c = load("http = [::1]:9740\nmetrics_per = agent\n", err, sizeof(err));
    if (c == NULL)
        fail_msg("%s", err);
    assert_string_equal(c->http, "[::1]:9740");
    assert_false(c->metrics_per_network);
    collconf_destroy(&c);
}

/* Each is refused with the file, the line and the key. */
static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"http = 9740\n", "collector.conf:4: key 'http'"},
        {"http = 127.0.0.1\n", "key 'http'"},
        {"http = 127.0.0.1:0\n", "key 'http'"},
        {"http = 127.0.0.1:70000\n", "key 'http'"},
        {"http = 127.0.0.1:80x\n", "key 'http'"},
        {"http = ::1:9740\n", "key 'http'"},
        {"http_token_file = t\n", "set http = ADDRESS:PORT"},
        {"http = 127.0.0.1:9740\nmetrics_per = target\n", "neither agent nor network"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[1024];
        struct collconf *c = load(cases[i].text, err, sizeof(err));
        if (c != NULL) {
            collconf_destroy(&c);
            fail_msg("accepted: %s", cases[i].text);
        }
        if (strstr(err, cases[i].want) == NULL)
            fail_msg("'%s': error '%s' lacks '%s'", cases[i].text, err, cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_off),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
