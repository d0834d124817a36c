/*
 * Unit tests for collector/config/collconf_domain.c: what a target's domain adds
 * (autoconfig:// and rdap://), rdap_interval, domain_warn_days, and
 * rdap_bootstrap (a URL kept as written, a file read, bounded and checked,
 * its content pushed), with errors that name the file, the line and the
 * key.
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

static char dir[] = "/tmp/test_collconf_domain.XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) != NULL && chdir(dir) == 0 && mkdir("sub", 0700) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    unlink("sub/collector.conf");
    unlink("sub/dns.json");
    rmdir("sub");
    return chdir("/") == 0 && rmdir(dir) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static struct collconf *load(const char *text, char *err, size_t errlen)
{
    write_file("sub/collector.conf", text);
    err[0] = '\0';
    return collconf_load("sub/collector.conf", err, errlen);
}

static void load_fails(const char *text, const char *want1, const char *want2)
{
    char err[1024];
    struct collconf *c = load(text, err, sizeof(err));
    if (c != NULL) {
        collconf_destroy(&c);
        fail_msg("accepted: %s", text);
    }
    if (strstr(err, want1) == NULL || (want2 != NULL && strstr(err, want2) == NULL))
        fail_msg("error '%s' lacks '%s' or '%s'", err, want1, want2 ? want2 : "");
}

#define HEAD "[collector]\ninsecure_plaintext = yes\nlisten = tcp://127.0.0.1:7400\n"

static void test_domain_adds_checks(void **state)
{
    (void)state;
    char err[1024];
    struct collconf *c = load(HEAD "[target t]\ndomain = Example.COM\n"
                                   "check = rdap://example.com\n"
                                   "[target u]\ncheck = imaps://mail.example.org\n",
                              err, sizeof(err));
    if (c == NULL)
        fail_msg("%s", err);
    const struct wire_target *t = collconf_target(c, "t");
    /* rdap:// was configured already: not added twice. */
    assert_int_equal(t->nchecks, 2);
    assert_string_equal(t->checks[0], "rdap://example.com");
    assert_string_equal(t->checks[1], "autoconfig://example.com");
    assert_int_equal(t->rdap_interval_ms, 6u * 3600 * 1000);
    assert_int_equal(collconf_domain_warn_days(c, "t"), 30);
    /* No domain, no rdap: nothing added, no rdap interval pushed. */
    const struct wire_target *u = collconf_target(c, "u");
    assert_int_equal(u->nchecks, 1);
    assert_int_equal(u->rdap_interval_ms, 0);
    /* The default bootstrap is IANA's, pushed as a URL. */
    assert_string_equal(c->targets.rdap_bootstrap_url, "https://data.iana.org/rdap/dns.json");
    assert_null(c->targets.rdap_bootstrap_json);
    collconf_destroy(&c);
}

static void test_intervals_and_days(void **state)
{
    (void)state;
    char err[1024];
    struct collconf *c =
        load(HEAD "[target t]\ndomain = example.com\nrdap_interval = 3s\ndomain_warn_days = 0\n",
             err, sizeof(err));
    if (c == NULL)
        fail_msg("%s", err);
    assert_int_equal(collconf_target(c, "t")->rdap_interval_ms, 3000);
    assert_int_equal(collconf_domain_warn_days(c, "t"), 0);
    char v1[64];
    snprintf(v1, sizeof(v1), "%s", c->targets.version);
    collconf_destroy(&c);
    /* The interval is pushed to agents: another one is another version. */
    c = load(HEAD "[target t]\ndomain = example.com\nrdap_interval = 4s\n", err, sizeof(err));
    assert_non_null(c);
    assert_string_not_equal(c->targets.version, v1);
    collconf_destroy(&c);
    load_fails(HEAD "[target t]\ndomain = example.com\nrdap_interval = 500ms\n",
               "collector.conf:6:", "rdap_interval");
    load_fails(HEAD "[target t]\ndomain = example.com\ndomain_warn_days = 400\n",
               "collector.conf:6:", "domain_warn_days");
}

static void test_bootstrap(void **state)
{
    (void)state;
    char err[1024];
    struct collconf *c =
        load(HEAD "rdap_bootstrap = https://rdap.example.net/dns.json\n", err, sizeof(err));
    if (c == NULL)
        fail_msg("%s", err);
    assert_string_equal(c->targets.rdap_bootstrap_url, "https://rdap.example.net/dns.json");
    collconf_destroy(&c);

    /* A file, relative to the config's directory: read and pushed. */
    static const char good[] =
        "{\"version\": \"1.0\", \"services\": [[[\"com\"], [\"https://203.0.113.43/rdap/\"]]]}";
    write_file("sub/dns.json", good);
    c = load(HEAD "rdap_bootstrap = dns.json\n", err, sizeof(err));
    if (c == NULL)
        fail_msg("%s", err);
    assert_null(c->targets.rdap_bootstrap_url);
    assert_string_equal(c->targets.rdap_bootstrap_json, good);
    collconf_destroy(&c);

    write_file("sub/dns.json", "{\"services\": [[[\"com\"], []]]}");
    load_fails(HEAD "rdap_bootstrap = dns.json\n", "collector.conf:4:", "names no RDAP server");
    write_file("sub/dns.json", "{\"services\": [[[\"com\"], [\"https://x/\"]]");
    load_fails(HEAD "rdap_bootstrap = dns.json\n", "collector.conf:4:", "is not JSON");
    write_file("sub/dns.json", "[1, 2]");
    load_fails(HEAD "rdap_bootstrap = dns.json\n", "rdap_bootstrap", "services");
    unlink("sub/dns.json");
    load_fails(HEAD "rdap_bootstrap = dns.json\n", "cannot read", "RFC 9224");
    load_fails(HEAD "rdap_bootstrap = ftp://x/dns.json\n", "neither", "URL");
    /* Larger than the bound: refused without reading it all. */
    FILE *f = fopen("sub/dns.json", "w");
    assert_non_null(f);
    fputs("{\"services\": [], \"pad\": \"", f);
    for (int i = 0; i < (1 << 20) / 64 + 1; i++)
        fputs("0123456789012345678901234567890123456789012345678901234567890123", f);
    fputs("\"}", f);
    fclose(f);
    load_fails(HEAD "rdap_bootstrap = dns.json\n", "larger than", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_domain_adds_checks),
        cmocka_unit_test(test_intervals_and_days),
        cmocka_unit_test(test_bootstrap),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
