/*
 * Unit tests for common/config.c: the INI dialect of docs/reference.md
 * ("Configuration") and its file:line errors.
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

#include "config.h"

#define ERR_MAX CONFIG_ERR_MAX

/* A real Z85 public key: '#', ';', '%', '@', '{', ']' and more, no space. */
#define Z85_KEY "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"

static const char good_text[] =
    "# collector.conf\n"                                                /* 1 */
    "; a comment of the other kind\n"                                   /* 2 */
    "\n"                                                                /* 3 */
    "[collector]\n"                                                     /* 4 */
    "listen = tcp://0.0.0.0:7400\n"                                     /* 5 */
    "database = /var/lib/vantage/vantage.db   ; inline comment\n"       /* 6 */
    "secret_key=/etc/vantage/collector.key\n"                           /* 7 */
    "authorized_keys = /etc/vantage/authorized_keys\t; tab, then ';'\n" /* 8 */
    "public_key = " Z85_KEY "\n"                                        /* 9 */
    "hashy = a#b;c ;but this is a comment\n"                            /* 10 */
    "empty =\n"                                                         /* 11 */
    "   indented\t=\tyes   \n"                                          /* 12 */
    "    # an indented comment\n"                                       /* 13 */
    "\n"                                                                /* 14 */
    "[target corp-mail]\n"                                              /* 15 */
    "domain = example.com\n"                                            /* 16 */
    "check = imaps://mail.example.com\n"                                /* 17 */
    "check = submission://mail.example.com\n"                           /* 18 */
    "check = https://webmail.example.com/\n"                            /* 19 */
    "interval = 60s\n"                                                  /* 20 */
    "timeout = 250ms\n"                                                 /* 21 */
    "[ credentials   corp-mail ]   ; a comment after a header\n"        /* 22 */
    "user = probe@example.com\n"                                        /* 23 */
    "retries = 3\n"                                                     /* 24 */
    "equals = a=b=c\n"                                                  /* 25 */
    "hash_inline = v # not a comment";                                  /* 26, no newline */

static struct config *parse(const char *text, char *err)
{
    err[0] = '\0';
    return config_parse("test.conf", text, strlen(text), err, ERR_MAX);
}

/* Parses text that must fail and checks the message starts with want. */
static void parse_fails(const char *text, const char *want)
{
    char err[ERR_MAX];
    struct config *c = parse(text, err);
    if (c != NULL) {
        config_destroy(&c);
        fail_msg("accepted: %s", text);
    }
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("error '%s' does not start with '%s'", err, want);
}

static void test_good_file(void **state)
{
    (void)state;
    char err[ERR_MAX];
    struct config *c = parse(good_text, err);
    if (c == NULL)
        fail_msg("%s", err);
    assert_string_equal(config_path(c), "test.conf");
    assert_int_equal(config_nsections(c), 3);

    const struct config_section *s = config_section_at(c, 0);
    assert_string_equal(s->kind, "collector");
    assert_string_equal(s->label, "");
    assert_int_equal(s->line, 4);
    assert_int_equal(s->nentries, 8);
    assert_string_equal(config_get(s, "listen")->value, "tcp://0.0.0.0:7400");
    assert_int_equal(config_get(s, "listen")->line, 5);
    assert_string_equal(config_get(s, "database")->value, "/var/lib/vantage/vantage.db");
    assert_string_equal(config_get(s, "secret_key")->value, "/etc/vantage/collector.key");
    assert_string_equal(config_get(s, "authorized_keys")->value, "/etc/vantage/authorized_keys");
    /* Never cut at '#', nor at ';' without whitespace before it. */
    assert_string_equal(config_get(s, "public_key")->value, Z85_KEY);
    assert_string_equal(config_get(s, "hashy")->value, "a#b;c");
    assert_string_equal(config_get(s, "empty")->value, "");
    assert_string_equal(config_get(s, "indented")->value, "yes");
    assert_int_equal(config_get(s, "indented")->line, 12);
    assert_null(config_get(s, "domain"));

    const struct config_section *t = config_find(c, "target", "corp-mail");
    assert_non_null(t);
    assert_ptr_equal(t, config_section_at(c, 1));
    assert_ptr_equal(config_find(c, "target", NULL), t);
    assert_null(config_find(c, "target", "other"));
    assert_null(config_find(c, "agent", NULL));
    assert_null(config_section_at(c, 3));
    assert_int_equal(t->line, 15);
    /* Repeated keys are kept in order; config_get gives the last. */
    assert_int_equal(t->nentries, 6);
    assert_string_equal(t->entries[1].key, "check");
    assert_string_equal(t->entries[1].value, "imaps://mail.example.com");
    assert_string_equal(t->entries[2].value, "submission://mail.example.com");
    assert_string_equal(config_get(t, "check")->value, "https://webmail.example.com/");
    assert_int_equal(config_get(t, "check")->line, 19);

    const struct config_section *cr = config_section_at(c, 2);
    assert_string_equal(cr->kind, "credentials");
    assert_string_equal(cr->label, "corp-mail");
    assert_string_equal(config_get(cr, "user")->value, "probe@example.com");
    assert_string_equal(config_get(cr, "equals")->value, "a=b=c");
    assert_int_equal(config_get(cr, "equals")->line, 25);
    /* '#' after whitespace does not start a comment either. */
    assert_string_equal(config_get(cr, "hash_inline")->value, "v # not a comment");
    assert_int_equal(config_get(cr, "hash_inline")->line, 26);

    /* Typed look-ups. */
    int64_t us;
    uint64_t u;
    int b;
    assert_int_equal(
        config_get_duration(c, t, "interval", 0, 1000000, 86400000000LL, &us, err, sizeof(err)), 0);
    assert_int_equal(us, 60000000);
    assert_int_equal(config_get_duration(c, t, "timeout", 0, 1000, 60000000, &us, err, sizeof(err)),
                     0);
    assert_int_equal(us, 250000);
    assert_int_equal(config_get_duration(c, t, "absent", 42, 0, 60000000, &us, err, sizeof(err)),
                     0);
    assert_int_equal(us, 42);
    assert_int_equal(config_get_uint(c, cr, "retries", 0, 0, 10, &u, err, sizeof(err)), 0);
    assert_int_equal(u, 3);
    assert_int_equal(config_get_uint(c, cr, "absent", 7, 0, 10, &u, err, sizeof(err)), 0);
    assert_int_equal(u, 7);
    assert_int_equal(config_get_bool(c, s, "indented", 0, &b, err, sizeof(err)), 0);
    assert_int_equal(b, 1);
    assert_int_equal(config_get_bool(c, s, "absent", 1, &b, err, sizeof(err)), 0);
    assert_int_equal(b, 1);

    static const char *const target_keys[] = {"domain", "interval", "timeout", NULL};
    static const char *const target_lists[] = {"check", NULL};
    assert_int_equal(config_check_keys(c, t, target_keys, target_lists, err, sizeof(err)), 0);
    config_destroy(&c);
    assert_null(c);
    config_destroy(&c); /* NULL is ignored */
    config_destroy(NULL);
}

static void test_bools(void **state)
{
    (void)state;
    char err[ERR_MAX];
    struct config *c = parse("[a]\n"
                             "y1 = yes\ny2 = true\ny3 = on\ny4 = 1\n"
                             "n1 = no\nn2 = false\nn3 = off\nn4 = 0\n"
                             "bad = maybe\n",
                             err);
    assert_non_null(c);
    const struct config_section *s = config_section_at(c, 0);
    const char *yes[] = {"y1", "y2", "y3", "y4"};
    const char *no[] = {"n1", "n2", "n3", "n4"};
    for (int i = 0; i < 4; i++) {
        int b = -1;
        assert_int_equal(config_get_bool(c, s, yes[i], 0, &b, err, sizeof(err)), 0);
        assert_int_equal(b, 1);
        assert_int_equal(config_get_bool(c, s, no[i], 1, &b, err, sizeof(err)), 0);
        assert_int_equal(b, 0);
    }
    int b = -1;
    assert_int_equal(config_get_bool(c, s, "bad", 0, &b, err, sizeof(err)), -1);
    assert_string_equal(err, "test.conf:10: key 'bad': 'maybe' is not yes or no");
    config_destroy(&c);
}

static void test_crlf_and_empty(void **state)
{
    (void)state;
    char err[ERR_MAX];
    struct config *c = parse("[agent]\r\nname = lyon-pc1\r\n; c\r\nsite = lyon ; x\r\n", err);
    assert_non_null(c);
    const struct config_section *s = config_find(c, "agent", "");
    assert_non_null(s);
    assert_string_equal(config_get(s, "name")->value, "lyon-pc1");
    assert_string_equal(config_get(s, "site")->value, "lyon");
    assert_int_equal(config_get(s, "site")->line, 4);
    config_destroy(&c);

    c = parse("", err);
    assert_non_null(c);
    assert_int_equal(config_nsections(c), 0);
    config_destroy(&c);

    c = parse("# only comments\n\n   \n; more\n", err);
    assert_non_null(c);
    assert_int_equal(config_nsections(c), 0);
    config_destroy(&c);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    parse_fails("[agent\nname = x\n", "test.conf:1: section header lacks its closing ']'");
    parse_fails("# c\n[agent] x\n", "test.conf:2: section header lacks its closing ']'");
    parse_fails("name = x\n[agent]\n", "test.conf:1: key 'name' appears before any [section]");
    parse_fails("[agent]\nname = x\njust some words\n",
                "test.conf:3: expected 'key = value', '[section]' or a comment");
    parse_fails("[agent]\nbad key = 1\n", "test.conf:2: bad key 'bad key'");
    parse_fails("[agent]\nk!y = 1\n", "test.conf:2: bad key 'k!y'");
    parse_fails("[agent]\n = value\n", "test.conf:2: bad key ''");
    parse_fails("[]\n", "test.conf:1: bad section header");
    parse_fails("[target a b]\n", "test.conf:1: bad section header");
    parse_fails("[tar/get]\n", "test.conf:1: bad section header");
}

static void test_line_too_long(void **state)
{
    (void)state;
    char err[ERR_MAX];
    size_t n = CONFIG_LINE_MAX + 64;
    char *text = malloc(n + 64);
    assert_non_null(text);

    /* Exactly CONFIG_LINE_MAX characters is still fine. */
    strcpy(text, "[a]\nk = ");
    size_t used = strlen(text);
    memset(text + used, 'v', CONFIG_LINE_MAX - 4);
    text[used + CONFIG_LINE_MAX - 4] = '\0';
    assert_int_equal(strlen(text) - 4, CONFIG_LINE_MAX);
    struct config *c = parse(text, err);
    if (c == NULL)
        fail_msg("%s", err);
    config_destroy(&c);

    /* One more is not. */
    strcat(text, "v\n");
    parse_fails(text, "test.conf:2: line longer than 4096 characters");
    free(text);
}

static void test_nul_and_size(void **state)
{
    (void)state;
    char err[ERR_MAX] = "";
    static const char text[] = "[a]\nk = v\0x\n";
    assert_null(config_parse("nul.conf", text, sizeof(text) - 1, err, sizeof(err)));
    assert_string_equal(err, "nul.conf: contains a NUL byte; not a text file");

    size_t big = (size_t)CONFIG_FILE_MAX + 1;
    char *buf = malloc(big);
    assert_non_null(buf);
    memset(buf, '\n', big);
    assert_null(config_parse("big.conf", buf, big, err, sizeof(err)));
    assert_non_null(strstr(err, "big.conf: larger than"));
    free(buf);
}

static void test_load_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_config.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], err[ERR_MAX] = "";
    snprintf(path, sizeof(path), "%s/agent.conf", dir);

    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("[agent]\nname = a1\ncollector_public_key = " Z85_KEY "   ; the collector's key\n", f);
    fclose(f);
    struct config *c = config_load(path, err, sizeof(err));
    if (c == NULL)
        fail_msg("%s", err);
    assert_string_equal(config_path(c), path);
    assert_string_equal(config_get(config_find(c, "agent", NULL), "collector_public_key")->value,
                        Z85_KEY);
    config_destroy(&c);

    /* Errors from a file name the file. */
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("[agent]\nname = a1\nname2\n", f);
    fclose(f);
    assert_null(config_load(path, err, sizeof(err)));
    char want[256];
    snprintf(want, sizeof(want), "%s:3: expected 'key = value'", path);
    assert_int_equal(strncmp(err, want, strlen(want)), 0);

    f = fopen(path, "wb");
    assert_non_null(f);
    fwrite("[agent]\nname = a\0\n", 1, 18, f);
    fclose(f);
    assert_null(config_load(path, err, sizeof(err)));
    assert_non_null(strstr(err, "NUL byte"));
    assert_non_null(strstr(err, path));

    /* An empty file is a valid, empty configuration. */
    f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    c = config_load(path, err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(config_nsections(c), 0);
    config_destroy(&c);

    unlink(path);
    assert_null(config_load(path, err, sizeof(err)));
    snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
    assert_string_equal(err, want);

    assert_null(config_load(dir, err, sizeof(err)));
    snprintf(want, sizeof(want), "%s: not a regular file", dir);
    assert_string_equal(err, want);
    rmdir(dir);
}

static void test_check_keys(void **state)
{
    (void)state;
    char err[ERR_MAX];
    static const char *const keys[] = {"domain", "interval", "timeout", NULL};
    static const char *const lists[] = {"check", NULL};

    struct config *c = parse("[target t]\n"
                             "domain = example.com\n"
                             "check = imaps://a\n"
                             "check = imaps://b\n"
                             "domain = example.org\n",
                             err);
    assert_non_null(c);
    const struct config_section *s = config_section_at(c, 0);
    assert_int_equal(config_check_keys(c, s, keys, lists, err, sizeof(err)), -1);
    assert_string_equal(err, "test.conf:5: key 'domain': given twice (first on line 2)");
    /* A list key may repeat when declared as one, not otherwise. */
    assert_int_equal(config_check_keys(c, s, (const char *const[]){"domain", "check", NULL}, NULL,
                                       err, sizeof(err)),
                     -1);
    assert_string_equal(err, "test.conf:4: key 'check': given twice (first on line 3)");
    config_destroy(&c);

    c = parse("[target t]\ndomain = example.com\nintervall = 5s\n", err);
    assert_non_null(c);
    s = config_section_at(c, 0);
    assert_int_equal(config_check_keys(c, s, keys, lists, err, sizeof(err)), -1);
    assert_string_equal(err, "test.conf:3: key 'intervall': unknown in [target t] (known keys: "
                             "domain, interval, timeout, check)");
    assert_int_equal(config_check_keys(c, s, keys, NULL, err, sizeof(err)), -1);
    assert_string_equal(err, "test.conf:3: key 'intervall': unknown in [target t] (known keys: "
                             "domain, interval, timeout)");
    config_destroy(&c);

    /* A known-keys list longer than the message buffer is cut, not overrun. */
    c = parse("[agent]\nzzz = 1\n", err);
    assert_non_null(c);
    s = config_section_at(c, 0);
    enum { NKEYS = 120 };
    char names[NKEYS][24];
    const char *many[NKEYS + 1];
    for (int i = 0; i < NKEYS; i++) {
        snprintf(names[i], sizeof(names[i]), "a_rather_long_key_%03d", i);
        many[i] = names[i];
    }
    many[NKEYS] = NULL;
    assert_int_equal(config_check_keys(c, s, many, many, err, sizeof(err)), -1);
    assert_int_equal(strncmp(err,
                             "test.conf:2: key 'zzz': unknown in [agent] (known keys: "
                             "a_rather_long_key_000, a_rather_long_key_001",
                             100),
                     0);
    assert_true(strlen(err) < sizeof(err));
    config_destroy(&c);
}

static void test_typed_errors(void **state)
{
    (void)state;
    char err[ERR_MAX];
    struct config *c = parse("[t]\n"
                             "d1 = soon\n"
                             "d2 = 10 s\n"
                             "d3 = 500ms\n"
                             "d4 = -5s\n"
                             "u1 = -5\n"
                             "u2 = 12abc\n"
                             "u3 =\n"
                             "u4 = 99999999999999999999999\n"
                             "u5 = 101\n",
                             err);
    assert_non_null(c);
    const struct config_section *s = config_section_at(c, 0);
    int64_t us;
    uint64_t u;

    assert_int_equal(config_get_duration(c, s, "d1", 0, 0, 60000000, &us, err, sizeof(err)), -1);
    assert_string_equal(err, "test.conf:2: key 'd1': 'soon' is not a duration (e.g. 500ms, 10s, "
                             "5m, 1h)");
    assert_int_equal(config_get_duration(c, s, "d2", 0, 0, 60000000, &us, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "test.conf:3: key 'd2': '10 s' is not a duration"));
    assert_int_equal(config_get_duration(c, s, "d3", 0, 1000000, 60000000, &us, err, sizeof(err)),
                     -1);
    assert_string_equal(err, "test.conf:4: key 'd3': must be between 1000ms and 60s");
    assert_int_equal(config_get_duration(c, s, "d4", 0, 0, 60000000, &us, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "test.conf:5: key 'd4'"));

    assert_int_equal(config_get_uint(c, s, "u1", 0, 0, 100, &u, err, sizeof(err)), -1);
    assert_string_equal(err, "test.conf:6: key 'u1': '-5' is not a whole number");
    assert_int_equal(config_get_uint(c, s, "u2", 0, 0, 100, &u, err, sizeof(err)), -1);
    assert_string_equal(err, "test.conf:7: key 'u2': '12abc' is not a whole number");
    assert_int_equal(config_get_uint(c, s, "u3", 0, 0, 100, &u, err, sizeof(err)), -1);
    assert_string_equal(err, "test.conf:8: key 'u3': '' is not a whole number");
    assert_int_equal(config_get_uint(c, s, "u4", 0, 0, UINT64_MAX, &u, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "test.conf:9: key 'u4'"));
    assert_int_equal(config_get_uint(c, s, "u5", 0, 0, 100, &u, err, sizeof(err)), -1);
    assert_string_equal(err, "test.conf:10: key 'u5': must be between 0 and 100");

    /* config_error for consumers' own checks. */
    config_error(c, config_get(s, "u5"), err, sizeof(err), "no more than %d", 3);
    assert_string_equal(err, "test.conf:10: key 'u5': no more than 3");
    config_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_file),      cmocka_unit_test(test_bools),
        cmocka_unit_test(test_crlf_and_empty), cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_line_too_long),  cmocka_unit_test(test_nul_and_size),
        cmocka_unit_test(test_load_files),     cmocka_unit_test(test_check_keys),
        cmocka_unit_test(test_typed_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
