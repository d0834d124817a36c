/*
 * Unit tests for agent/agentconf.c: which keys are paths (resolved from the
 * config file's directory) and which are taken as written, and errors that
 * name the file, the line and the key, and say what to write instead.
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

#include "agentconf.h"
#include "config.h"

#define Z85_KEY   "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
#define CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

static char dir[] = "/tmp/test_agentconf.XXXXXX";

/* Runs in dir, with the config one level down in sub/: the file is not in
 * the current directory, as with -c /etc/vantage/agent.conf. */
static int setup(void **state)
{
    (void)state;
    if (mkdtemp(dir) == NULL || chdir(dir) != 0 || mkdir("sub", 0700) != 0)
        return -1;
    FILE *f = fopen("sub/pw", "w");
    if (f == NULL)
        return -1;
    fputs("secret\n", f);
    fclose(f);
    return chmod("sub/pw", 0600);
}

static int teardown(void **state)
{
    (void)state;
    unlink("sub/pw");
    unlink("sub/ca.pem");
    unlink("sub/agent.conf");
    rmdir("sub");
    return chdir("/") == 0 && rmdir(dir) == 0 ? 0 : -1;
}

static void write_conf(const char *text)
{
    FILE *f = fopen("sub/agent.conf", "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static struct agentconf *load(const char *text, char *err, size_t errlen)
{
    write_conf(text);
    err[0] = '\0';
    return agentconf_load("sub/agent.conf", err, errlen);
}

/* text must be refused with an error containing each of the NULL-ended
 * fragments (file:line: key 'K', what is wrong, what to write). */
static void load_fails(const char *text, ...)
{
    char err[1024];
    struct agentconf *c = load(text, err, sizeof(err));
    if (c != NULL) {
        agentconf_destroy(&c);
        fail_msg("accepted: %s", text);
    }
    va_list ap;
    va_start(ap, text);
    for (const char *want = va_arg(ap, const char *); want; want = va_arg(ap, const char *))
        if (strstr(err, want) == NULL)
            fail_msg("error '%s' lacks '%s'", err, want);
    va_end(ap);
}

#define HEAD "[agent]\ncollector_public_key = " Z85_KEY "\nsecret_key = agent.key\n"

static void test_path_keys_resolved(void **state)
{
    (void)state;
    char err[1024], cmd[256];
    snprintf(cmd, sizeof(cmd), "cp %s sub/ca.pem", CA_BUNDLE);
    if (access(CA_BUNDLE, R_OK) != 0 || system(cmd) != 0)
        skip();
    struct agentconf *c = load("[agent]\n"
                               "name = lyon-pc1\n"
                               "site = lyon\n"
                               "collector = tcp://127.0.0.1:7400\n"
                               "collector_public_key = " Z85_KEY "\n"
                               "secret_key = keys/agent.key\n"
                               "spool = spool.db\n"
                               "ca_file = ca.pem\n"
                               "resolver = 127.0.0.1:5353\n"
                               "log_level = debug\n"
                               "spool_max_results = 1000\n"
                               "[credentials corp]\n"
                               "user = probe@example.com\n"
                               "password_file = pw\n",
                               err, sizeof(err));
    if (c == NULL)
        fail_msg("%s", err);
    /* Path keys: from the file's directory. */
    assert_string_equal(c->secret_key, "sub/keys/agent.key");
    assert_string_equal(c->spool, "sub/spool.db");
    assert_string_equal(c->ca_file, "sub/ca.pem");
    assert_non_null(agentconf_credentials(c, "corp"));
    assert_string_equal(agentconf_credentials(c, "corp")->password, "secret");
    /* Everything else: as written. */
    assert_string_equal(c->log_level, "debug");
    assert_string_equal(c->name, "lyon-pc1");
    assert_string_equal(c->site, "lyon");
    assert_string_equal(c->collector, "tcp://127.0.0.1:7400");
    assert_string_equal(c->collector_public_key, Z85_KEY);
    assert_string_equal(c->resolver, "127.0.0.1:5353");
    assert_string_equal(agentconf_credentials(c, "corp")->user, "probe@example.com");
    assert_int_equal(c->spool_max_results, 1000);
    agentconf_destroy(&c);

    /* Absolute paths are kept; an ipc:// collector is a path too. */
    c = load(HEAD "collector = ipc://collector.sock\nspool = /var/tmp/s.db\n", err, sizeof(err));
    if (c == NULL)
        fail_msg("%s", err);
    assert_string_equal(c->collector, "ipc://sub/collector.sock");
    assert_string_equal(c->spool, "/var/tmp/s.db");
    assert_string_equal(c->log_level, "info");
    agentconf_destroy(&c);
}

static void test_errors_name_line_and_key(void **state)
{
    (void)state;
    load_fails(HEAD "collector = 127.0.0.1:7400\n", "sub/agent.conf:4: key 'collector'",
               "not a ZeroMQ endpoint", "write tcp://HOST:PORT, e.g. tcp://127.0.0.1:7400", NULL);
    load_fails(HEAD "collector = tcp://127.0.0.1\n", "sub/agent.conf:4: key 'collector'",
               "port 1-65535", "tcp://HOST:PORT", NULL);
    load_fails(HEAD "collector = tcp://127.0.0.1:7400\nresolver = 1.2.3\n",
               "sub/agent.conf:5: key 'resolver'", "IP:PORT", "remove the line", NULL);
    load_fails(HEAD "collector = tcp://127.0.0.1:7400\nca_file = missing.pem\n",
               "sub/agent.conf:5: key 'ca_file'", "sub/missing.pem: No such file or directory",
               "PEM file", NULL);
    load_fails(HEAD "collector = tcp://127.0.0.1:7400\nca_file = pw\n",
               "sub/agent.conf:5: key 'ca_file'", "PEM", NULL);
    load_fails(HEAD "collector = tcp://127.0.0.1:7400\nlog_level = verbose\n",
               "sub/agent.conf:5: key 'log_level'", "'verbose'", "error, warn, info or debug",
               NULL);
    load_fails(HEAD "collector = tcp://127.0.0.1:7400\nspool =\n", "sub/agent.conf:5: key 'spool'",
               "empty", NULL);
    load_fails(HEAD "collector = tcp://127.0.0.1:7400\nname = a b\n",
               "sub/agent.conf:5: key 'name'", "write name = NAME", NULL);
    load_fails(HEAD "collector = tcp://127.0.0.1:7400\nname =\n", "sub/agent.conf:5: key 'name'",
               NULL);
    char longpath[256];
    memset(longpath, 'x', 200);
    longpath[200] = '\0';
    char text[512];
    snprintf(text, sizeof(text), "%scollector = ipc:///tmp/%s\n", HEAD, longpath);
    load_fails(text, "sub/agent.conf:4: key 'collector'", "limit is 107", "shorter path", NULL);
    load_fails("[agent]\ncollector = tcp://198.51.100.7:7400\ninsecure_plaintext = yes\n",
               "sub/agent.conf:3: key 'insecure_plaintext'", "loopback", "set secret_key", NULL);
}

/* Errors found when a setting is used name the line that set it, or the
 * [agent] line when the default was used. */
static void test_use_time_errors(void **state)
{
    (void)state;
    char err[1024], msg[1024];
    struct agentconf *c = load(HEAD "\ncollector = tcp://127.0.0.1:7400\n", err, sizeof(err));
    if (c == NULL)
        fail_msg("%s", err);
    agentconf_error(c, "secret_key", "cannot open", msg, sizeof(msg));
    assert_string_equal(msg, "sub/agent.conf:3: key 'secret_key': cannot open");
    agentconf_error(c, "spool", "cannot open", msg, sizeof(msg));
    assert_string_equal(msg, "sub/agent.conf:1: [agent] key 'spool' is not set, so its default "
                             "was used: cannot open");
    agentconf_destroy(&c);
}

/* Several collector = lines: kept in order, each an endpoint (ipc paths
 * resolved), at most AGENTCONF_COLLECTORS_MAX, none twice, and plaintext
 * only when every one of them is local. */
static void test_several_collectors(void **state)
{
    (void)state;
    char err[1024];
    struct agentconf *c = load(HEAD "collector = tcp://127.0.0.1:7400\n"
                                    "collector = ipc://c2.sock\n"
                                    "collector = tcp://[::1]:7401\n"
                                    "failover_timeout = 2s\nfailback_interval = 500ms\n",
                               err, sizeof(err));
    if (c != NULL)
        fail_msg("a failback_interval under 1 s was accepted");
    assert_non_null(strstr(err, "sub/agent.conf:8: key 'failback_interval'"));
    c = load(HEAD "collector = tcp://127.0.0.1:7400\n"
                  "collector = ipc://c2.sock\n"
                  "collector = tcp://[::1]:7401\n"
                  "failover_timeout = 2s\nfailback_interval = 5s\n",
             err, sizeof(err));
    if (c == NULL)
        fail_msg("%s", err);
    assert_int_equal(c->ncollectors, 3);
    assert_string_equal(c->collectors[0], "tcp://127.0.0.1:7400");
    assert_string_equal(c->collectors[1], "ipc://sub/c2.sock");
    assert_string_equal(c->collectors[2], "tcp://[::1]:7401");
    assert_ptr_equal(c->collector, c->collectors[0]);
    assert_int_equal(c->failover_timeout_us, 2000000);
    assert_int_equal(c->failback_interval_us, 5000000);
    agentconf_destroy(&c);

    c = load(HEAD "collector = tcp://127.0.0.1:7400\n", err, sizeof(err));
    if (c == NULL)
        fail_msg("%s", err);
    assert_int_equal(c->ncollectors, 1);
    assert_int_equal(c->failover_timeout_us, AGENTCONF_FAILOVER_DEFAULT_US);
    assert_int_equal(c->failback_interval_us, AGENTCONF_FAILBACK_DEFAULT_US);
    agentconf_destroy(&c);

    char text[2048];
    int n = snprintf(text, sizeof(text), "%s", HEAD);
    for (int i = 0; i <= AGENTCONF_COLLECTORS_MAX; i++)
        n += snprintf(text + n, sizeof(text) - (size_t)n, "collector = tcp://127.0.0.1:%d\n",
                      7400 + i);
    load_fails(text, "sub/agent.conf:12: key 'collector'", "at most 8", NULL);
    load_fails(HEAD "collector = tcp://127.0.0.1:7400\ncollector = tcp://127.0.0.1:7400\n",
               "sub/agent.conf:5: key 'collector'", "listed twice", NULL);
    load_fails(HEAD "collector = tcp://127.0.0.1:7400\ncollector = tcp://127.0.0.1\n",
               "sub/agent.conf:5: key 'collector'", "port 1-65535", NULL);
    load_fails("[agent]\ninsecure_plaintext = yes\ncollector = tcp://127.0.0.1:7400\n"
               "collector = tcp://198.51.100.7:7400\n",
               "sub/agent.conf:2: key 'insecure_plaintext'", "tcp://198.51.100.7:7400 (line 4)",
               "loopback", NULL);
    load_fails(HEAD "collector = tcp://127.0.0.1:7400\nfailover_timeout = soon\n",
               "sub/agent.conf:5: key 'failover_timeout'", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_keys_resolved),
        cmocka_unit_test(test_errors_name_line_and_key),
        cmocka_unit_test(test_use_time_errors),
        cmocka_unit_test(test_several_collectors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
