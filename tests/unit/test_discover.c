/*
 * Unit tests for common/discover.c: the DNS checks a domain adds and the
 * server checks their answers point to (docs/reference.md "Check specs").
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "discover.h"

#define ERR_MAX 256

static bool has(const struct discover_list *l, const char *spec, bool discovered)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i].spec, spec) == 0)
            return l->items[i].discovered == discovered;
    return false;
}

static void test_dns_checks(void **state)
{
    (void)state;
    const char *checks[] = {"imaps://mail.example.com", "submission://MAIL.example.com:587",
                            "https://webmail.example.com/owa/", "tcp://192.0.2.1:25",
                            "dns://example.com/TXT"};
    struct discover_list l = {0};
    char err[ERR_MAX];
    assert_int_equal(discover_dns_checks("example.com", checks, 5, &l, err, sizeof(err)), 0);
    assert_true(has(&l, "dns://example.com/MX", false));
    assert_true(has(&l, "dns://_imaps._tcp.example.com/SRV", false));
    assert_true(has(&l, "dns://_imap._tcp.example.com/SRV", false));
    assert_true(has(&l, "dns://_submission._tcp.example.com/SRV", false));
    assert_true(has(&l, "dns://_pop3s._tcp.example.com/SRV", false));
    assert_true(has(&l, "dns://autodiscover.example.com/A", false));
    assert_true(has(&l, "dns://mail.example.com/A", false));
    assert_true(has(&l, "dns://mail.example.com/AAAA", false));
    assert_true(has(&l, "dns://webmail.example.com/AAAA", false));
    /* 6 fixed + 2 x (mail, webmail); "MAIL" is the same host; no checks
     * for an address literal or for a dns:// check. */
    assert_int_equal(l.n, 10);
    discover_list_clear(&l);
    assert_null(l.items);

    assert_int_equal(discover_dns_checks("", checks, 0, &l, err, sizeof(err)), -1);
    const char *bad[] = {"bogus"};
    assert_int_equal(discover_dns_checks("example.com", bad, 1, &l, err, sizeof(err)), -1);
    discover_list_clear(&l);
}

static void add_record(struct result *r, const char *name, const char *type,
                       const char *const *answers, size_t n)
{
    struct result_dns *d = result_add_dns(r);
    assert_non_null(d);
    d->name = strdup(name);
    d->type = strdup(type);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(result_list_add(&d->answers, &d->nanswers, answers[i]), 0);
}

static void test_from_results(void **state)
{
    (void)state;
    struct result rs[4];
    for (int i = 0; i < 4; i++)
        result_init(&rs[i]);
    const char *mx[] = {"10 mx1.example.com", "20 mx2.example.com."};
    add_record(&rs[0], "example.com", "MX", mx, 2);
    const char *imaps[] = {"0 1 993 mail.example.com", "10 1 9993 backup.example.com."};
    add_record(&rs[1], "_imaps._tcp.example.com", "SRV", imaps, 2);
    const char *imap[] = {"0 0 0 ."}; /* RFC 6186: not offered */
    add_record(&rs[2], "_imap._tcp.example.com", "SRV", imap, 1);
    rs[3].check = strdup("dns://autodiscover.example.com/A");
    rs[3].ok = true;
    const char *ad[] = {"192.0.2.7"};
    add_record(&rs[3], "autodiscover.example.com", "A", ad, 1);

    const char *configured[] = {"imaps://mail.example.com:993"};
    struct discover_list l = {0};
    char err[ERR_MAX];
    assert_int_equal(
        discover_from_results("example.com", configured, 1, rs, 4, &l, err, sizeof(err)), 0);
    assert_true(has(&l, "smtp://mx1.example.com", true));
    assert_true(has(&l, "smtp://mx2.example.com", true));
    assert_true(has(&l, "imaps://backup.example.com:9993", true));
    assert_true(has(&l, "tls://autodiscover.example.com:443", true));
    /* The configured imaps check is not repeated; "." gives nothing. */
    assert_false(has(&l, "imaps://mail.example.com", true));
    assert_int_equal(l.n, 4);

    /* Feeding the same results again adds no duplicates. */
    assert_int_equal(
        discover_from_results("example.com", configured, 1, rs, 4, &l, err, sizeof(err)), 0);
    assert_int_equal(l.n, 4);
    discover_list_clear(&l);

    /* A failed autodiscover lookup points nowhere. */
    rs[3].ok = false;
    assert_int_equal(discover_from_results("example.com", NULL, 0, &rs[3], 1, &l, err, sizeof(err)),
                     0);
    assert_int_equal(l.n, 0);
    discover_list_clear(&l);
    for (int i = 0; i < 4; i++)
        result_clear(&rs[i]);
}

static void add_server(struct result_autoconfig *a, const char *proto, const char *host,
                       uint16_t port, const char *socket)
{
    struct result_autoconfig_server *sv = result_autoconfig_add_server(a);
    assert_non_null(sv);
    sv->protocol = strdup(proto);
    sv->host = strdup(host);
    sv->port = port;
    sv->socket = strdup(socket);
}

/* What autoconfig and autodiscover advertise becomes discovered checks,
 * by protocol and socket; an rdap:// or autoconfig:// check names a
 * domain, not a host to look up. */
static void test_from_autoconfig(void **state)
{
    (void)state;
    struct result r;
    result_init(&r);
    r.check = strdup("autoconfig://example.com");
    struct result_autoconfig *ad = result_add_autoconfig(&r);
    assert_non_null(ad);
    ad->source = strdup("autodiscover");
    add_server(ad, "imap", "newmail.example.com", 993, "ssl");
    add_server(ad, "smtp", "newmail.example.com", 587, "starttls");
    add_server(ad, "pop3", "newmail.example.com", 110, "plain"); /* no client should use it */
    struct result_autoconfig *tb = result_add_autoconfig(&r);
    tb->source = strdup("autoconfig");
    add_server(tb, "imap", "mail.example.com", 993, "ssl"); /* configured */
    add_server(tb, "smtp", "mail.example.com", 465, "ssl");
    const char *configured[] = {"imaps://mail.example.com"};
    struct discover_list l = {0};
    char err[ERR_MAX];
    assert_int_equal(
        discover_from_results("example.com", configured, 1, &r, 1, &l, err, sizeof(err)), 0);
    assert_true(has(&l, "imaps://newmail.example.com", true));
    assert_true(has(&l, "submission://newmail.example.com", true));
    assert_true(has(&l, "smtps://mail.example.com", true));
    assert_int_equal(l.n, 3);
    discover_list_clear(&l);
    /* Another domain's autoconfig result says nothing about this one. */
    assert_int_equal(
        discover_from_results("example.org", configured, 1, &r, 1, &l, err, sizeof(err)), 0);
    assert_int_equal(l.n, 0);
    discover_list_clear(&l);
    result_clear(&r);

    const char *domain_checks[] = {"rdap://example.com", "autoconfig://example.com"};
    assert_int_equal(discover_dns_checks("example.com", domain_checks, 2, &l, err, sizeof(err)), 0);
    assert_false(has(&l, "dns://example.com/A", false));
    assert_int_equal(l.n, 6);
    discover_list_clear(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dns_checks),
        cmocka_unit_test(test_from_results),
        cmocka_unit_test(test_from_autoconfig),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
