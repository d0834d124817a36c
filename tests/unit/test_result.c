/*
 * Unit tests for common/result.c: the taxonomy's names (docs/reference.md "Error
 * taxonomy"), the record's helpers and bounds, and its JSON form (docs/reference.md
 * "Result model"), read back with jansson.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "result.h"

/* The contract's lists, in its order. */
static const char *const layer_names[] = {"none", "dns",  "tcp",      "tls",          "protocol",
                                          "auth", "http", "delivery", "registration", "autoconfig"};
static const char *const error_names[] = {
    "ok",
    "dns_nxdomain",
    "dns_nodata",
    "dns_servfail",
    "dns_refused",
    "dns_timeout",
    "tcp_refused",
    "tcp_timeout",
    "tcp_unreachable",
    "tcp_reset",
    "tls_handshake_failed",
    "tls_cert_expired",
    "tls_cert_not_yet_valid",
    "tls_cert_untrusted",
    "tls_hostname_mismatch",
    "tls_protocol_version",
    "proto_bad_greeting",
    "proto_starttls_unsupported",
    "proto_timeout",
    "proto_closed",
    "auth_failed",
    "auth_unsupported",
    "http_status",
    "internal",
    "mail_rejected",
    "mail_not_delivered",
    "mail_in_junk",
    "registration_expired",
    "registration_hold",
    "registration_not_found",
    "autoconfig_invalid",
    "tls_cert_expiring",
    "slow",
    "delivery_slow",
    "registration_expiring",
};
static const char *const phase_names[] = {"dns",      "connect",  "tls",  "greeting",
                                          "starttls", "auth",     "http", "total",
                                          "submit",   "delivery", "fetch"};

static void test_layer_names(void **state)
{
    (void)state;
    assert_int_equal(sizeof(layer_names) / sizeof(layer_names[0]), RESULT_LAYER_LAST);
    for (int i = 0; i < RESULT_LAYER_LAST; i++) {
        assert_string_equal(result_layer_name((enum result_layer)i), layer_names[i]);
        enum result_layer back = RESULT_LAYER_LAST;
        assert_int_equal(result_layer_parse(layer_names[i], &back), 0);
        assert_int_equal(back, i);
    }
    assert_null(result_layer_name(RESULT_LAYER_LAST));
    assert_null(result_layer_name((enum result_layer) - 1));
    enum result_layer l = RESULT_LAYER_TLS;
    assert_int_equal(result_layer_parse("TLS", &l), -1);
    assert_int_equal(result_layer_parse("", &l), -1);
    assert_int_equal(result_layer_parse("transport", &l), -1);
    assert_int_equal(l, RESULT_LAYER_TLS); /* untouched */
}

static void test_error_names(void **state)
{
    (void)state;
    assert_int_equal(sizeof(error_names) / sizeof(error_names[0]), RESULT_ERROR_LAST);
    for (int i = 0; i < RESULT_ERROR_LAST; i++) {
        enum result_error e = (enum result_error)i;
        assert_string_equal(result_error_name(e), error_names[i]);
        enum result_error back = RESULT_ERROR_LAST;
        assert_int_equal(result_error_parse(error_names[i], &back), 0);
        assert_int_equal(back, i);
        const char *hint = result_error_hint(e);
        assert_non_null(hint);
        assert_true(strlen(hint) > 10);

        /* The layer follows from the name's prefix. */
        enum result_layer want = RESULT_LAYER_NONE;
        if (strncmp(error_names[i], "dns_", 4) == 0)
            want = RESULT_LAYER_DNS;
        else if (strncmp(error_names[i], "tcp_", 4) == 0)
            want = RESULT_LAYER_TCP;
        else if (strncmp(error_names[i], "tls_", 4) == 0)
            want = RESULT_LAYER_TLS;
        else if (strncmp(error_names[i], "proto_", 6) == 0)
            want = RESULT_LAYER_PROTOCOL;
        else if (strncmp(error_names[i], "auth_", 5) == 0)
            want = RESULT_LAYER_AUTH;
        else if (strncmp(error_names[i], "http_", 5) == 0)
            want = RESULT_LAYER_HTTP;
        else if (strncmp(error_names[i], "mail_", 5) == 0 ||
                 strncmp(error_names[i], "delivery_", 9) == 0)
            want = RESULT_LAYER_DELIVERY;
        else if (strncmp(error_names[i], "registration_", 13) == 0)
            want = RESULT_LAYER_REGISTRATION;
        else if (strncmp(error_names[i], "autoconfig_", 11) == 0)
            want = RESULT_LAYER_AUTOCONFIG;
        assert_int_equal(result_error_layer(e), want);
    }
    assert_null(result_error_name(RESULT_ERROR_LAST));
    assert_non_null(result_error_hint(RESULT_ERROR_LAST));
    assert_non_null(result_error_hint((enum result_error) - 5));
    assert_int_equal(result_error_layer(RESULT_ERROR_LAST), RESULT_LAYER_NONE);
    enum result_error e = RESULT_OK;
    assert_int_equal(result_error_parse("TCP_TIMEOUT", &e), -1);
    assert_int_equal(result_error_parse("timeout", &e), -1);
    assert_int_equal(e, RESULT_OK);

    for (int i = 0; i < RESULT_PHASE_LAST; i++)
        assert_string_equal(result_phase_name((enum result_phase)i), phase_names[i]);
    assert_null(result_phase_name(RESULT_PHASE_LAST));
}

static void test_fail(void **state)
{
    (void)state;
    struct result r;
    result_init(&r);
    result_fail(&r, RESULT_TLS_CERT_EXPIRED, "expired %d days ago", 3);
    assert_false(r.ok);
    assert_int_equal(r.error, RESULT_TLS_CERT_EXPIRED);
    assert_int_equal(r.layer, RESULT_LAYER_TLS);
    assert_string_equal(r.detail, "expired 3 days ago");

    /* internal keeps the layer the probe was in. */
    r.layer = RESULT_LAYER_PROTOCOL;
    result_fail(&r, RESULT_INTERNAL, "out of memory");
    assert_int_equal(r.layer, RESULT_LAYER_PROTOCOL);
    assert_int_equal(r.error, RESULT_INTERNAL);
    assert_string_equal(r.detail, "out of memory");

    /* No format: the detail stays. */
    result_fail(&r, RESULT_AUTH_FAILED, NULL);
    assert_int_equal(r.layer, RESULT_LAYER_AUTH);
    assert_string_equal(r.detail, "out of memory");

    result_fail(&r, RESULT_OK, "fine");
    assert_true(r.ok);
    assert_int_equal(r.error, RESULT_OK);

    /* The detail is cut at RESULT_STR_MAX. */
    char *big = malloc(3 * RESULT_STR_MAX);
    assert_non_null(big);
    memset(big, 'x', 3 * RESULT_STR_MAX - 1);
    big[3 * RESULT_STR_MAX - 1] = '\0';
    result_fail(&r, RESULT_PROTO_CLOSED, "%s", big);
    assert_int_equal(strlen(r.detail), RESULT_STR_MAX);
    assert_int_equal(r.layer, RESULT_LAYER_PROTOCOL);

    assert_int_equal(result_set_str(&r.banner, big), 0);
    assert_int_equal(strlen(r.banner), RESULT_STR_MAX);
    assert_int_equal(result_set_str(&r.banner, NULL), 0);
    assert_null(r.banner);
    free(big);

    result_clear(&r);
    assert_null(r.detail);
    assert_int_equal(r.error, RESULT_OK);
    result_clear(&r); /* twice is fine */
}

static void test_list_bounds(void **state)
{
    (void)state;
    struct result r;
    result_init(&r);
    struct result_tls *t = result_tls_new(&r);
    assert_non_null(t);
    assert_ptr_equal(result_tls_new(&r), t); /* one TLS object per result */
    for (int i = 0; i < RESULT_LIST_MAX; i++) {
        char san[32];
        snprintf(san, sizeof(san), "san%d.example.com", i);
        assert_int_equal(result_list_add(&t->sans, &t->nsans, san), 0);
    }
    assert_int_equal(result_list_add(&t->sans, &t->nsans, "one.too.many"), -1);
    assert_int_equal(t->nsans, RESULT_LIST_MAX);
    assert_string_equal(t->sans[RESULT_LIST_MAX - 1], "san63.example.com");

    for (int i = 0; i < RESULT_LIST_MAX; i++) {
        struct result_dns *d = result_add_dns(&r);
        assert_non_null(d);
        assert_null(d->name); /* zeroed */
        assert_int_equal(result_set_str(&d->name, "example.com"), 0);
        assert_int_equal(result_list_add(&d->answers, &d->nanswers, "10 mx.example.com"), 0);
    }
    assert_null(result_add_dns(&r));
    assert_int_equal(r.ndns, RESULT_LIST_MAX);

    /* Long list entries are cut too. */
    char *big = malloc(RESULT_STR_MAX + 100);
    assert_non_null(big);
    memset(big, 'a', RESULT_STR_MAX + 99);
    big[RESULT_STR_MAX + 99] = '\0';
    assert_int_equal(result_list_add(&r.dns[0].answers, &r.dns[0].nanswers, big), 0);
    assert_int_equal(strlen(r.dns[0].answers[1]), RESULT_STR_MAX);
    free(big);
    result_clear(&r); /* ASan checks that every list is freed */
    assert_null(r.tls);
    assert_int_equal(r.ndns, 0);
}

/* 2026-11-27T10:00:00.123Z */
#define STARTED_US (1795773600LL * 1000000 + 123456)

static void fill_full(struct result *r)
{
    result_init(r);
    assert_int_equal(result_set_str(&r->agent, "a1"), 0);
    assert_int_equal(result_set_str(&r->network, "lyon"), 0);
    r->has_seq = true;
    r->seq = 42;
    assert_int_equal(result_set_str(&r->target, "corp-mail"), 0);
    assert_int_equal(result_set_str(&r->check, "imaps://mail.example.com"), 0);
    r->discovered = true;
    r->started_at_us = STARTED_US;
    result_fail(r, RESULT_TLS_CERT_EXPIRED, "certificate expired \"yesterday\"\n\tcaf\xc3\xa9");
    for (int i = 0; i < RESULT_PHASE_LAST; i++)
        r->phases_us[i] = 1000u * (unsigned)(i + 1);
    assert_int_equal(result_set_str(&r->address, "203.0.113.10"), 0);
    r->port = 993;
    struct result_tls *t = result_tls_new(r);
    assert_non_null(t);
    assert_int_equal(result_set_str(&t->version, "TLSv1.3"), 0);
    assert_int_equal(result_set_str(&t->cipher, "TLS_AES_256_GCM_SHA384"), 0);
    assert_int_equal(result_set_str(&t->subject, "CN=mail.example.com"), 0);
    assert_int_equal(result_set_str(&t->issuer, "CN=Example CA"), 0);
    assert_int_equal(result_list_add(&t->sans, &t->nsans, "mail.example.com"), 0);
    assert_int_equal(result_list_add(&t->sans, &t->nsans, "imap.example.com"), 0);
    t->not_after = 1795773600LL - 86400; /* 2026-11-26T10:00:00Z */
    t->days_left = -1;
    assert_int_equal(result_set_str(&t->sha256, "ab12"), 0);
    assert_int_equal(result_set_str(&t->verify, "certificate has expired"), 0);
    assert_int_equal(result_set_str(&r->banner, "* OK [CAPABILITY IMAP4rev1] ready"), 0);
    struct result_dns *d = result_add_dns(r);
    assert_non_null(d);
    assert_int_equal(result_set_str(&d->name, "example.com"), 0);
    assert_int_equal(result_set_str(&d->type, "MX"), 0);
    assert_int_equal(result_set_str(&d->rcode, "NOERROR"), 0);
    assert_int_equal(result_list_add(&d->answers, &d->nanswers, "10 mail.example.com"), 0);
    assert_int_equal(result_list_add(&d->answers, &d->nanswers, "20 backup.example.com"), 0);
    d->ttl = 300;
    assert_int_equal(result_set_str(&d->resolver, "192.0.2.53:53"), 0);
}

static json_t *parse_json(const char *text)
{
    json_error_t jerr;
    json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (o == NULL)
        fail_msg("result_json printed invalid JSON (%s): %s", jerr.text, text);
    assert_true(json_is_object(o));
    return o;
}

static const char *str_of(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        fail_msg("'%s' is not a string", key);
    return json_string_value(v);
}

static json_int_t int_of(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("'%s' is not an integer", key);
    return json_integer_value(v);
}

/* A mailflow result: the delivery object, and the mailflow phases, which
 * other results leave out. */
static void test_json_delivery(void **state)
{
    (void)state;
    struct result r;
    result_init(&r);
    assert_int_equal(result_set_str(&r.check, "mailflow://probe@example.com"), 0);
    r.started_at_us = 1796032800123000LL;
    result_fail(&r, RESULT_MAIL_IN_JUNK, "in Junk");
    assert_int_equal(r.layer, RESULT_LAYER_DELIVERY);
    r.phases_us[RESULT_PHASE_SUBMIT] = 52000;
    r.phases_us[RESULT_PHASE_DELIVERY] = 4200000;
    struct result_delivery *d = result_delivery_new(&r);
    assert_non_null(d);
    assert_ptr_equal(result_delivery_new(&r), d);
    assert_int_equal(result_set_str(&d->message_id, "<abc.1@vantage>"), 0);
    assert_int_equal(result_set_str(&d->folder, "Junk"), 0);
    d->submitted_at_us = 1796032800200000LL;
    d->arrived_at_us = 1796032804400000LL;
    d->delivery_us = 4200000;
    char *text = result_json(&r);
    json_t *o = parse_json(text);
    assert_string_equal(str_of(o, "layer"), "delivery");
    assert_string_equal(str_of(o, "error"), "mail_in_junk");
    json_t *ph = json_object_get(o, "phases_us");
    assert_int_equal(int_of(ph, "submit"), 52000);
    assert_int_equal(int_of(ph, "delivery"), 4200000);
    assert_int_equal(int_of(ph, "fetch"), 0);
    json_t *dl = json_object_get(o, "delivery");
    assert_true(json_is_object(dl));
    assert_string_equal(str_of(dl, "message_id"), "<abc.1@vantage>");
    assert_string_equal(str_of(dl, "submitted_at"), "2026-11-30T10:00:00.200Z");
    assert_string_equal(str_of(dl, "arrived_at"), "2026-11-30T10:00:04.400Z");
    assert_int_equal(int_of(dl, "delivery_us"), 4200000);
    assert_string_equal(str_of(dl, "folder"), "Junk");
    json_decref(o);
    free(text);

    /* Never seen: no arrival facts, no folder. */
    d->arrived_at_us = 0;
    result_set_str(&d->folder, NULL);
    text = result_json(&r);
    o = parse_json(text);
    dl = json_object_get(o, "delivery");
    assert_null(json_object_get(dl, "arrived_at"));
    assert_null(json_object_get(dl, "delivery_us"));
    assert_null(json_object_get(dl, "folder"));
    json_decref(o);
    free(text);
    result_clear(&r);
    assert_null(r.delivery);

    /* Other results keep the phases they always had. */
    result_init(&r);
    assert_int_equal(result_set_str(&r.check, "imaps://mail.example.com"), 0);
    text = result_json(&r);
    o = parse_json(text);
    ph = json_object_get(o, "phases_us");
    assert_int_equal(json_object_size(ph), RESULT_PHASE_TOTAL + 1);
    assert_null(json_object_get(ph, "submit"));
    assert_null(json_object_get(o, "delivery"));
    json_decref(o);
    free(text);
    result_clear(&r);
}

static void test_json_full(void **state)
{
    (void)state;
    struct result r;
    fill_full(&r);
    char *text = result_json(&r);
    assert_non_null(text);
    /* One line, ASCII only. */
    assert_null(strchr(text, '\n'));
    for (const char *p = text; *p; p++)
        assert_true((unsigned char)*p < 0x80);
    json_t *o = parse_json(text);

    assert_string_equal(str_of(o, "agent"), "a1");
    assert_string_equal(str_of(o, "network"), "lyon");
    assert_int_equal(int_of(o, "seq"), 42);
    assert_string_equal(str_of(o, "target"), "corp-mail");
    assert_string_equal(str_of(o, "check"), "imaps://mail.example.com");
    assert_true(json_is_true(json_object_get(o, "discovered")));
    assert_string_equal(str_of(o, "started_at"), "2026-11-27T10:00:00.123Z");
    assert_string_equal(str_of(o, "status"), "fail");
    assert_string_equal(str_of(o, "layer"), "tls");
    assert_string_equal(str_of(o, "error"), "tls_cert_expired");
    assert_string_equal(str_of(o, "detail"), "certificate expired \"yesterday\"\n\tcaf\xc3\xa9");
    json_t *ph = json_object_get(o, "phases_us");
    assert_true(json_is_object(ph));
    assert_int_equal(json_object_size(ph), RESULT_PHASE_LAST);
    for (int i = 0; i < RESULT_PHASE_LAST; i++)
        assert_int_equal(int_of(ph, phase_names[i]), 1000 * (i + 1));
    assert_string_equal(str_of(o, "address"), "203.0.113.10");
    assert_int_equal(int_of(o, "port"), 993);

    json_t *tls = json_object_get(o, "tls");
    assert_true(json_is_object(tls));
    assert_string_equal(str_of(tls, "version"), "TLSv1.3");
    assert_string_equal(str_of(tls, "cipher"), "TLS_AES_256_GCM_SHA384");
    assert_string_equal(str_of(tls, "subject"), "CN=mail.example.com");
    assert_string_equal(str_of(tls, "issuer"), "CN=Example CA");
    json_t *sans = json_object_get(tls, "sans");
    assert_int_equal(json_array_size(sans), 2);
    assert_string_equal(json_string_value(json_array_get(sans, 1)), "imap.example.com");
    assert_string_equal(str_of(tls, "not_after"), "2026-11-26T10:00:00Z");
    assert_int_equal(int_of(tls, "days_left"), -1);
    assert_string_equal(str_of(tls, "sha256"), "ab12");
    assert_string_equal(str_of(tls, "verify"), "certificate has expired");
    assert_string_equal(str_of(o, "banner"), "* OK [CAPABILITY IMAP4rev1] ready");

    json_t *dns = json_object_get(o, "dns");
    assert_int_equal(json_array_size(dns), 1);
    json_t *d = json_array_get(dns, 0);
    assert_string_equal(str_of(d, "name"), "example.com");
    assert_string_equal(str_of(d, "type"), "MX");
    assert_string_equal(str_of(d, "rcode"), "NOERROR");
    json_t *ans = json_object_get(d, "answers");
    assert_int_equal(json_array_size(ans), 2);
    assert_string_equal(json_string_value(json_array_get(ans, 0)), "10 mail.example.com");
    assert_int_equal(int_of(d, "ttl"), 300);
    assert_string_equal(str_of(d, "resolver"), "192.0.2.53:53");

    /* Nothing beyond the contract's fields. */
    static const char *const keys[] = {
        "agent",      "network", "seq",   "target", "check",  "discovered",
        "started_at", "status",  "layer", "error",  "detail", "phases_us",
        "address",    "port",    "tls",   "banner", "dns",
    };
    assert_int_equal(json_object_size(o), sizeof(keys) / sizeof(keys[0]));
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (json_object_get(o, keys[i]) == NULL)
            fail_msg("missing '%s'", keys[i]);
    json_decref(o);
    free(text);
    result_clear(&r);
}

/* A one-shot probe's success: absent facts are left out, not faked. */
static void test_json_minimal(void **state)
{
    (void)state;
    struct result r;
    result_init(&r);
    assert_int_equal(result_set_str(&r.check, "tcp://192.0.2.1:25"), 0);
    r.started_at_us = STARTED_US;
    result_fail(&r, RESULT_OK, NULL);
    char *text = result_json(&r);
    assert_non_null(text);
    json_t *o = parse_json(text);
    static const char *const absent[] = {"agent",   "network", "seq", "target", "layer", "detail",
                                         "address", "port",    "tls", "banner", "dns"};
    for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
        if (json_object_get(o, absent[i]) != NULL)
            fail_msg("'%s' present in %s", absent[i], text);
    assert_string_equal(str_of(o, "status"), "ok");
    assert_string_equal(str_of(o, "error"), "ok");
    assert_true(json_is_false(json_object_get(o, "discovered")));
    assert_int_equal(int_of(json_object_get(o, "phases_us"), "total"), 0);
    json_decref(o);
    free(text);

    /* TLS facts without a known expiry leave not_after and days_left out. */
    struct result_tls *t = result_tls_new(&r);
    assert_non_null(t);
    assert_int_equal(result_set_str(&t->version, "TLSv1.2"), 0);
    text = result_json(&r);
    o = parse_json(text);
    json_t *tls = json_object_get(o, "tls");
    assert_string_equal(str_of(tls, "version"), "TLSv1.2");
    assert_null(json_object_get(tls, "not_after"));
    assert_null(json_object_get(tls, "days_left"));
    assert_int_equal(json_array_size(json_object_get(tls, "sans")), 0);
    json_decref(o);
    free(text);
    result_clear(&r);
}

/* A server's banner is not always UTF-8: the JSON must stay valid. */
static void test_json_bad_utf8(void **state)
{
    (void)state;
    struct result r;
    result_init(&r);
    assert_int_equal(result_set_str(&r.check, "imaps://mail.example.com"), 0);
    assert_int_equal(result_set_str(&r.banner, "* OK caf\xe9 \xff ready"), 0);
    r.started_at_us = STARTED_US;
    result_fail(&r, RESULT_PROTO_BAD_GREETING, "greeting: caf\xe9");
    char *text = result_json(&r);
    assert_non_null(text);
    json_t *o = parse_json(text);
    assert_string_equal(str_of(o, "check"), "imaps://mail.example.com");
    assert_string_equal(str_of(o, "error"), "proto_bad_greeting");
    json_decref(o);
    free(text);
    result_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layer_names),  cmocka_unit_test(test_error_names),
        cmocka_unit_test(test_fail),         cmocka_unit_test(test_list_bounds),
        cmocka_unit_test(test_json_full),    cmocka_unit_test(test_json_delivery),
        cmocka_unit_test(test_json_minimal), cmocka_unit_test(test_json_bad_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
