/*
 * Unit tests for common/spec.c: check specs of docs/reference.md ("Check specs"),
 * their canonical text and every refusal's message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec.h"

#define ERR_MAX 256

static struct spec parse_ok(const char *text)
{
    struct spec s;
    char err[ERR_MAX] = "";
    if (spec_parse(text, &s, err, sizeof(err)) != 0)
        fail_msg("'%s' refused: %s", text, err);
    return s;
}

/* Parses text, formats it, checks the canonical text, and checks that the
 * canonical text parses back to the same spec. */
static void round_trip(const char *text, const char *canonical)
{
    struct spec a = parse_ok(text);
    char buf[SPEC_TEXT_MAX];
    spec_format(&a, buf, sizeof(buf));
    assert_string_equal(buf, canonical);
    struct spec b = parse_ok(buf);
    assert_int_equal(a.kind, b.kind);
    assert_string_equal(a.host, b.host);
    assert_int_equal(a.port, b.port);
    assert_string_equal(a.path, b.path);
    assert_string_equal(a.dns_type, b.dns_type);
    char again[SPEC_TEXT_MAX];
    spec_format(&b, again, sizeof(again));
    assert_string_equal(again, buf);
}

static void parse_fails(const char *text, const char *want)
{
    struct spec s;
    char err[ERR_MAX] = "";
    if (spec_parse(text, &s, err, sizeof(err)) == 0)
        fail_msg("'%s' accepted", text);
    if (strstr(err, want) == NULL)
        fail_msg("'%s': error '%s' lacks '%s'", text, err, want);
}

static void test_default_ports(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        enum spec_kind kind;
        uint16_t port;
        int tls;
    } cases[] = {
        {"imaps://mail.example.com", SPEC_IMAPS, 993, 1},
        {"imap://mail.example.com", SPEC_IMAP, 143, 0},
        {"pop3s://mail.example.com", SPEC_POP3S, 995, 1},
        {"pop3://mail.example.com", SPEC_POP3, 110, 0},
        {"smtps://mail.example.com", SPEC_SMTPS, 465, 1},
        {"submission://mail.example.com", SPEC_SUBMISSION, 587, 0},
        {"smtp://mail.example.com", SPEC_SMTP, 25, 0},
        {"https://mail.example.com", SPEC_HTTPS, 443, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct spec s = parse_ok(cases[i].text);
        assert_int_equal(s.kind, cases[i].kind);
        assert_string_equal(s.host, "mail.example.com");
        assert_int_equal(s.port, cases[i].port);
        assert_int_equal(spec_default_port(s.kind), cases[i].port);
        assert_int_equal(spec_implicit_tls(s.kind), cases[i].tls);
        assert_string_equal(s.path, s.kind == SPEC_HTTPS ? "/" : "");
        /* https's canonical text always shows its path. */
        char canonical[64];
        snprintf(canonical, sizeof(canonical), "%s%s", cases[i].text,
                 s.kind == SPEC_HTTPS ? "/" : "");
        round_trip(cases[i].text, canonical);
    }
    assert_int_equal(spec_default_port(SPEC_TLS), 0);
    assert_int_equal(spec_default_port(SPEC_TCP), 0);
    assert_int_equal(spec_default_port(SPEC_DNS), 0);
    assert_int_equal(spec_implicit_tls(SPEC_TLS), 1);
    assert_int_equal(spec_implicit_tls(SPEC_TCP), 0);
    assert_int_equal(spec_implicit_tls(SPEC_DNS), 0);
    /* Out of range: no scheme, no port. */
    assert_null(spec_scheme(SPEC_KIND_LAST));
    assert_null(spec_scheme((enum spec_kind) - 1));
    assert_int_equal(spec_default_port(SPEC_KIND_LAST), 0);
    assert_int_equal(spec_implicit_tls(SPEC_KIND_LAST), 0);
    /* Every kind has a scheme that parses back to it. */
    for (int k = 0; k < SPEC_KIND_LAST; k++) {
        const char *scheme = spec_scheme((enum spec_kind)k);
        assert_non_null(scheme);
        char text[64];
        snprintf(text, sizeof(text),
                 k == SPEC_DNS        ? "%s://example.com/A"
                 : k == SPEC_MAILFLOW ? "%s://p@h.example"
                                      : "%s://h.example:7",
                 scheme);
        assert_int_equal(parse_ok(text).kind, k);
    }
}

static void test_explicit_ports(void **state)
{
    (void)state;
    struct spec s = parse_ok("imaps://mail.example.com:10993");
    assert_int_equal(s.port, 10993);
    round_trip("imaps://mail.example.com:10993", "imaps://mail.example.com:10993");
    /* The default port is left out of the canonical text. */
    round_trip("imaps://mail.example.com:993", "imaps://mail.example.com");
    round_trip("submission://mail.example.com:587", "submission://mail.example.com");
    round_trip("smtp://mx.example.com:2525", "smtp://mx.example.com:2525");
    round_trip("tls://mail.example.com:8443", "tls://mail.example.com:8443");
    round_trip("tcp://mail.example.com:1", "tcp://mail.example.com:1");
    round_trip("tcp://mail.example.com:65535", "tcp://mail.example.com:65535");
    /* Schemes are case-insensitive; the canonical form is lower case. */
    round_trip("IMAPS://mail.example.com", "imaps://mail.example.com");
    round_trip("Submission://mail.example.com:587", "submission://mail.example.com");
    /* A bare trailing slash is harmless. */
    round_trip("imaps://mail.example.com/", "imaps://mail.example.com");
    round_trip("pop3s://192.0.2.10", "pop3s://192.0.2.10");
}

static void test_ipv6_literals(void **state)
{
    (void)state;
    struct spec s = parse_ok("tcp://[2001:db8::1]:25");
    assert_int_equal(s.kind, SPEC_TCP);
    assert_string_equal(s.host, "2001:db8::1");
    assert_int_equal(s.port, 25);
    round_trip("tcp://[2001:db8::1]:25", "tcp://[2001:db8::1]:25");
    round_trip("imaps://[2001:db8::10]", "imaps://[2001:db8::10]");
    round_trip("imaps://[2001:db8::10]:993", "imaps://[2001:db8::10]");
    round_trip("https://[::1]:8443/owa/", "https://[::1]:8443/owa/");
    round_trip("smtp://[::ffff:192.0.2.1]", "smtp://[::ffff:192.0.2.1]");
}

static void test_https_paths(void **state)
{
    (void)state;
    struct spec s = parse_ok("https://webmail.example.com");
    assert_string_equal(s.path, "/");
    round_trip("https://webmail.example.com", "https://webmail.example.com/");
    s = parse_ok("https://webmail.example.com/owa/");
    assert_string_equal(s.path, "/owa/");
    round_trip("https://autodiscover.example.com/autodiscover/autodiscover.xml",
               "https://autodiscover.example.com/autodiscover/autodiscover.xml");
    round_trip("https://webmail.example.com:8443/mail/?login=1&x=%20",
               "https://webmail.example.com:8443/mail/?login=1&x=%20");

    /* The longest path allowed, then one more character. */
    char text[SPEC_PATH_MAX + 64];
    int n = snprintf(text, sizeof(text), "https://h.example/");
    memset(text + n, 'p', SPEC_PATH_MAX - 1);
    text[n + SPEC_PATH_MAX - 1] = '\0';
    s = parse_ok(text);
    assert_int_equal(strlen(s.path), SPEC_PATH_MAX);
    round_trip(text, text);
    strcat(text, "p");
    parse_fails(text, "the path is longer than 1024 characters");
}

static void test_dns_specs(void **state)
{
    (void)state;
    static const char *const types[] = {"A", "AAAA", "MX", "SRV", "CNAME", "TXT"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        char text[64];
        snprintf(text, sizeof(text), "dns://example.com/%s", types[i]);
        struct spec s = parse_ok(text);
        assert_int_equal(s.kind, SPEC_DNS);
        assert_string_equal(s.host, "example.com");
        assert_string_equal(s.dns_type, types[i]);
        assert_int_equal(s.port, 0);
        assert_string_equal(s.path, "");
        round_trip(text, text);
    }
    /* Types are case-insensitive; SRV names keep their underscores. */
    struct spec s = parse_ok("dns://_imaps._tcp.example.com/srv");
    assert_string_equal(s.host, "_imaps._tcp.example.com");
    assert_string_equal(s.dns_type, "SRV");
    round_trip("dns://_imaps._tcp.example.com/srv", "dns://_imaps._tcp.example.com/SRV");
    round_trip("DNS://autodiscover.example.com/Cname", "dns://autodiscover.example.com/CNAME");
    round_trip("dns://example.com./MX", "dns://example.com./MX");
}

static void test_host_length(void **state)
{
    (void)state;
    char host[SPEC_HOST_MAX + 2];
    memset(host, 'a', sizeof(host));
    for (int i = 63; i < SPEC_HOST_MAX; i += 64)
        host[i] = '.';
    host[SPEC_HOST_MAX] = '\0';
    char text[SPEC_TEXT_MAX];
    snprintf(text, sizeof(text), "imaps://%s", host);
    struct spec s = parse_ok(text);
    assert_int_equal(strlen(s.host), SPEC_HOST_MAX);
    round_trip(text, text);
    snprintf(text, sizeof(text), "dns://%s/MX", host);
    round_trip(text, text);

    host[SPEC_HOST_MAX] = 'a';
    host[SPEC_HOST_MAX + 1] = '\0';
    snprintf(text, sizeof(text), "imaps://%s", host);
    parse_fails(text, "the host must have 1 to 253 characters");
    snprintf(text, sizeof(text), "dns://%s/MX", host);
    parse_fails(text, "dns spec needs a name of 1 to 253 characters");
}

/* mailflow://MAILBOX[?via=SPEC&read=SPEC]: the mailbox and both sub-specs
 * survive a round trip in canonical form (default ports dropped, via
 * before read). */
static void test_mailflow_specs(void **state)
{
    (void)state;
    round_trip("mailflow://probe@example.com", "mailflow://probe@example.com");
    round_trip("mailflow://@corp-mail", "mailflow://@corp-mail");
    round_trip("mailflow://probe@example.com?via=submission://mail.example.com:587&read="
               "imaps://mail.example.com:993",
               "mailflow://probe@example.com?via=submission://mail.example.com&read="
               "imaps://mail.example.com");
    round_trip("mailflow://a.b+tag@example.com?read=pop3s://127.0.0.1:10995&via=smtp://mx."
               "example.com",
               "mailflow://a.b+tag@example.com?via=smtp://mx.example.com&read=pop3s://"
               "127.0.0.1:10995");
    round_trip("mailflow://p@example.com?read=imap://[::1]:1143",
               "mailflow://p@example.com?read=imap://[::1]:1143");
    struct spec s = parse_ok("mailflow://probe@mail.test?via=smtps://mail.test&read=imaps://"
                             "mail.test:2993");
    assert_int_equal(s.kind, SPEC_MAILFLOW);
    assert_string_equal(s.mailbox, "probe@mail.test");
    assert_string_equal(s.via, "smtps://mail.test");
    assert_string_equal(s.read, "imaps://mail.test:2993");
    assert_string_equal(s.host, "");
    assert_int_equal(s.port, 0);
    assert_string_equal(spec_scheme(SPEC_MAILFLOW), "mailflow");
    assert_int_equal(spec_default_port(SPEC_MAILFLOW), 0);
}

static void test_mailflow_bad(void **state)
{
    (void)state;
    char text[SPEC_TEXT_MAX * 2];

    parse_fails("mailflow://", "mailflow needs a mailbox of 1 to 320 characters");
    parse_fails("mailflow://?via=smtp://mx.example.com", "mailflow needs a mailbox");
    parse_fails("mailflow://probe", "the mailbox 'probe' is not an address");
    parse_fails("mailflow://@", "mailflow://@ needs the name of a [credentials] section");
    parse_fails("mailflow://@corp mail", "the credentials name after '@' contains ' '");
    parse_fails("mailflow://pro be@example.com", "the mailbox's local part contains ' '");
    parse_fails("mailflow://<p>@example.com", "the mailbox's local part contains '<'");
    parse_fails("mailflow://p@exa/mple.com", "the mailbox's domain contains '/'");
    parse_fails("mailflow://p@", "the mailbox needs a local part of 1 to 64 characters");
    memset(text, 0, sizeof(text));
    memcpy(text, "mailflow://", 11);
    memset(text + 11, 'a', 65);
    memcpy(text + 76, "@example.com", 12);
    parse_fails(text, "the mailbox needs a local part of 1 to 64 characters");
    parse_fails("mailflow://p@example.com?", "nothing after '?'");
    parse_fails("mailflow://p@example.com?via=imaps://mail.example.com",
                "via=imaps://mail.example.com cannot send mail");
    parse_fails("mailflow://p@example.com?read=submission://mail.example.com",
                "read=submission://mail.example.com cannot read a mailbox");
    parse_fails("mailflow://p@example.com?read=https://mail.example.com/", "cannot read a mailbox");
    parse_fails("mailflow://p@example.com?via=smtp://mx.example.com&via=smtp://mx.example.com",
                "mailflow: via= given twice");
    parse_fails("mailflow://p@example.com?via=", "mailflow: via= needs a spec");
    parse_fails("mailflow://p@example.com?via=smtp://mx.example.com:0",
                "the port must be a number from 1 to 65535");
    parse_fails("mailflow://p@example.com?from=x@example.com", "unknown parameter 'from'");
    parse_fails("mailflow://p@example.com?via", "unknown parameter 'via'");
}

static void test_bad_specs(void **state)
{
    (void)state;
    parse_fails("mail.example.com", "is not a check spec: expected SCHEME://HOST[:PORT]");
    parse_fails("", "is not a check spec");
    parse_fails("imaps:/mail.example.com", "is not a check spec");
    parse_fails("ftp://mail.example.com", "unknown scheme 'ftp'");
    parse_fails("imapss://mail.example.com", "unknown scheme 'imapss'");
    parse_fails("://mail.example.com", "unknown scheme ''");
    parse_fails("imaps://", "the host must have 1 to 253 characters");
    parse_fails("imaps://:993", "the host must have 1 to 253 characters");
    parse_fails("tcp://[]:25", "the host must have 1 to 253 characters");
    parse_fails("imaps://mail example.com", "the host contains ' '");
    parse_fails("imaps://mail.example.com?x", "the host contains '?'");
    parse_fails("imaps://user@mail.example.com", "the host contains '@'");
    parse_fails("tcp://[2001:db8::1:25", "unterminated '[' in IPv6 address");
    parse_fails("imaps://mail.example.com:", "the port must be a number from 1 to 65535");
    parse_fails("imaps://mail.example.com:0", "the port must be a number from 1 to 65535");
    parse_fails("imaps://mail.example.com:65536", "the port must be a number from 1 to 65535");
    parse_fails("imaps://mail.example.com:-1", "the port must be a number from 1 to 65535");
    parse_fails("imaps://mail.example.com:+993", "the port must be a number from 1 to 65535");
    parse_fails("imaps://mail.example.com: 993", "the port must be a number from 1 to 65535");
    parse_fails("imaps://mail.example.com:imaps", "the port must be a number from 1 to 65535");
    parse_fails("imaps://mail.example.com:99999999999999999999",
                "the port must be a number from 1 to 65535");
    parse_fails("imaps://mail.example.com:993x", "unexpected 'x' after the host");
    parse_fails("imaps://[2001:db8::1]x", "unexpected 'x' after the host");
    parse_fails("tls://mail.example.com", "tls:// has no default port: write tls://HOST:PORT");
    parse_fails("tcp://mail.example.com", "tcp:// has no default port: write tcp://HOST:PORT");
    parse_fails("tcp://[2001:db8::1]", "tcp:// has no default port");
    parse_fails("imaps://mail.example.com/INBOX", "only https:// specs take a path");
    parse_fails("tcp://mail.example.com:25/x", "only https:// specs take a path");
    parse_fails("https://webmail.example.com/a b",
                "the path contains a space or control character");
    parse_fails("https://webmail.example.com/a\tb",
                "the path contains a space or control character");
    parse_fails("https://webmail.example.com/caf\xc3\xa9",
                "the path contains a space or control character");
    parse_fails("dns://example.com", "dns spec needs a record type: dns://NAME/TYPE");
    parse_fails("dns://example.com/", "dns spec needs a record type");
    parse_fails("dns:///MX", "dns spec needs a name of 1 to 253 characters");
    parse_fails("dns://example.com/PTR", "unknown DNS record type 'PTR'");
    parse_fails("dns://exa mple.com/MX", "dns name contains ' '");
    parse_fails("dns://example.com/MX/A", "dns name contains '/'");

    /* A refused spec leaves no half-parsed fields behind. */
    struct spec s;
    char err[ERR_MAX];
    memset(&s, 0x55, sizeof(s));
    assert_int_equal(spec_parse("bogus://x", &s, err, sizeof(err)), -1);
    assert_string_equal(s.host, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_ports), cmocka_unit_test(test_explicit_ports),
        cmocka_unit_test(test_ipv6_literals), cmocka_unit_test(test_https_paths),
        cmocka_unit_test(test_dns_specs),     cmocka_unit_test(test_host_length),
        cmocka_unit_test(test_bad_specs),     cmocka_unit_test(test_mailflow_specs),
        cmocka_unit_test(test_mailflow_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
