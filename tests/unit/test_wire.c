/*
 * Unit tests for common/wire*.c: every message survives a round trip, and
 * decoding refuses what a hostile or broken peer could send (wrong
 * protocol, garbage, over-long fields, results without a check), maps
 * unknown enum values instead of trusting them, and the arena decoder
 * gives the same result as the heap one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "wire.h"

static void full_result(struct result *r)
{
    result_init(r);
    r->has_seq = true;
    r->seq = 42;
    r->target = strdup("corp-mail");
    r->check = strdup("imaps://mail.example.com");
    r->discovered = true;
    r->started_at_us = 1795000000123456;
    result_fail(r, RESULT_TLS_CERT_EXPIRED, "certificate expired %d days ago", 3);
    r->phases_us[RESULT_PHASE_DNS] = 812;
    r->phases_us[RESULT_PHASE_TLS] = 30211;
    r->phases_us[RESULT_PHASE_TOTAL] = 45000;
    r->address = strdup("203.0.113.10");
    r->port = 993;
    struct result_tls *t = result_tls_new(r);
    t->version = strdup("TLSv1.3");
    t->subject = strdup("CN=mail.example.com");
    result_list_add(&t->sans, &t->nsans, "mail.example.com");
    result_list_add(&t->sans, &t->nsans, "imap.example.com");
    t->not_after = 1790000000;
    t->days_left = -3;
    t->sha256 = strdup("ab12");
    t->verify = strdup("certificate has expired");
    r->banner = strdup("* OK ready");
    struct result_dns *d = result_add_dns(r);
    d->name = strdup("example.com");
    d->type = strdup("MX");
    d->rcode = strdup("NOERROR");
    result_list_add(&d->answers, &d->nanswers, "10 mail.example.com");
    d->ttl = 300;
    d->resolver = strdup("192.0.2.53:53");
}

static void assert_same(const struct result *a, const struct result *b)
{
    assert_int_equal(a->seq, b->seq);
    assert_true(b->has_seq);
    assert_string_equal(a->target, b->target);
    assert_string_equal(a->check, b->check);
    assert_int_equal(a->discovered, b->discovered);
    assert_int_equal(a->started_at_us, b->started_at_us);
    assert_int_equal(a->ok, b->ok);
    assert_int_equal(a->layer, b->layer);
    assert_int_equal(a->error, b->error);
    assert_string_equal(a->detail, b->detail);
    assert_memory_equal(a->phases_us, b->phases_us, sizeof(a->phases_us));
    assert_string_equal(a->address, b->address);
    assert_int_equal(a->port, b->port);
    assert_non_null(b->tls);
    assert_string_equal(a->tls->version, b->tls->version);
    assert_null(b->tls->cipher);
    assert_int_equal(b->tls->nsans, 2);
    assert_string_equal(b->tls->sans[1], "imap.example.com");
    assert_int_equal(a->tls->not_after, b->tls->not_after);
    assert_int_equal(b->tls->days_left, -3);
    assert_string_equal(a->banner, b->banner);
    assert_int_equal(b->ndns, 1);
    assert_string_equal(b->dns[0].answers[0], "10 mail.example.com");
    assert_int_equal(b->dns[0].ttl, 300);
}

static void test_result_round_trip(void **state)
{
    (void)state;
    struct result r, back;
    uint8_t *buf;
    size_t len;
    char err[256];
    full_result(&r);
    assert_int_equal(wire_result_encode(&r, &buf, &len), 0);
    assert_int_equal(wire_result_decode(buf, len, &back, err, sizeof(err)), 0);
    assert_same(&r, &back);
    result_clear(&back);

    struct wire_arena *a = wire_arena_create();
    assert_non_null(a);
    for (int round = 0; round < 3; round++) {
        assert_int_equal(wire_result_decode_in(a, buf, len, &back, err, sizeof(err)), 0);
        assert_same(&r, &back);
        wire_arena_reset(a);
    }
    wire_arena_destroy(&a);
    assert_null(a);
    free(buf);
    result_clear(&r);
}

/* A mailflow result: the delivery facts, the new error codes and phases
 * survive the wire, decoded on the heap and in an arena; a time outside
 * years 1..9999 is refused. */
static void test_delivery_round_trip(void **state)
{
    (void)state;
    struct result r, back;
    uint8_t *buf;
    size_t len;
    char err[256];

    result_init(&r);
    assert_int_equal(result_set_str(&r.check, "mailflow://probe@example.com"), 0);
    r.started_at_us = 1796032800123000LL;
    result_fail(&r, RESULT_MAIL_IN_JUNK, "in Junk");
    r.phases_us[RESULT_PHASE_SUBMIT] = 11;
    r.phases_us[RESULT_PHASE_DELIVERY] = 22;
    r.phases_us[RESULT_PHASE_FETCH] = 33;
    struct result_delivery *d = result_delivery_new(&r);
    assert_int_equal(result_set_str(&d->message_id, "<n.1@vantage>"), 0);
    assert_int_equal(result_set_str(&d->folder, "Junk"), 0);
    d->submitted_at_us = 1796032800200000LL;
    d->arrived_at_us = 1796032804400000LL;
    d->delivery_us = 4200000;
    assert_int_equal(wire_result_encode(&r, &buf, &len), 0);
    for (int arena = 0; arena < 2; arena++) {
        struct wire_arena *a = arena ? wire_arena_create() : NULL;
        int rc = arena ? wire_result_decode_in(a, buf, len, &back, err, sizeof(err))
                       : wire_result_decode(buf, len, &back, err, sizeof(err));
        assert_int_equal(rc, 0);
        assert_int_equal(back.error, RESULT_MAIL_IN_JUNK);
        assert_int_equal(back.layer, RESULT_LAYER_DELIVERY);
        assert_int_equal(back.phases_us[RESULT_PHASE_SUBMIT], 11);
        assert_int_equal(back.phases_us[RESULT_PHASE_DELIVERY], 22);
        assert_int_equal(back.phases_us[RESULT_PHASE_FETCH], 33);
        assert_non_null(back.delivery);
        assert_string_equal(back.delivery->message_id, "<n.1@vantage>");
        assert_string_equal(back.delivery->folder, "Junk");
        assert_int_equal(back.delivery->submitted_at_us, 1796032800200000LL);
        assert_int_equal(back.delivery->arrived_at_us, 1796032804400000LL);
        assert_int_equal(back.delivery->delivery_us, 4200000);
        if (arena)
            wire_arena_destroy(&a);
        else
            result_clear(&back);
    }
    free(buf);
    d->arrived_at_us = 253402300800LL * 1000000; /* year 10000 */
    assert_int_equal(wire_result_encode(&r, &buf, &len), 0);
    assert_int_equal(wire_result_decode(buf, len, &back, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "delivery time out of range"));
    free(buf);
    result_clear(&r);
}

/* rdap:// and autoconfig:// facts survive the wire, on the heap and in an
 * arena; too many autoconfig sources are refused. */
static void test_domain_round_trip(void **state)
{
    (void)state;
    struct result r, back;
    uint8_t *buf;
    size_t len;
    char err[256];

    result_init(&r);
    assert_int_equal(result_set_str(&r.check, "rdap://example.com"), 0);
    r.started_at_us = 1796032800123000LL;
    result_fail(&r, RESULT_REGISTRATION_HOLD, "client hold");
    r.retry_at_us = 1796032900000000LL;
    struct result_registration *g = result_registration_new(&r);
    assert_non_null(g);
    assert_int_equal(result_set_str(&g->domain, "example.com"), 0);
    assert_int_equal(result_set_str(&g->registrar, "Example Registrar"), 0);
    assert_int_equal(result_set_str(&g->rdap_url, "https://rdap.test/domain/example.com"), 0);
    g->expires = 1800000000;
    g->days_left = 41;
    assert_int_equal(result_list_add(&g->status, &g->nstatus, "client hold"), 0);
    assert_int_equal(result_list_add(&g->nameservers, &g->nnameservers, "ns1.example.net"), 0);
    struct result_autoconfig *ac = result_add_autoconfig(&r);
    assert_non_null(ac);
    assert_int_equal(result_set_str(&ac->source, "autodiscover"), 0);
    assert_int_equal(result_set_str(&ac->url, "https://autodiscover.example.com/x"), 0);
    assert_int_equal(result_set_str(&ac->answer, "settings"), 0);
    struct result_autoconfig_server *sv = result_autoconfig_add_server(ac);
    assert_non_null(sv);
    assert_int_equal(result_set_str(&sv->protocol, "imap"), 0);
    assert_int_equal(result_set_str(&sv->host, "newmail.example.com"), 0);
    assert_int_equal(result_set_str(&sv->socket, "ssl"), 0);
    sv->port = 993;
    assert_int_equal(wire_result_encode(&r, &buf, &len), 0);
    for (int arena = 0; arena < 2; arena++) {
        struct wire_arena *a = arena ? wire_arena_create() : NULL;
        int rc = arena ? wire_result_decode_in(a, buf, len, &back, err, sizeof(err))
                       : wire_result_decode(buf, len, &back, err, sizeof(err));
        assert_int_equal(rc, 0);
        assert_int_equal(back.error, RESULT_REGISTRATION_HOLD);
        assert_int_equal(back.layer, RESULT_LAYER_REGISTRATION);
        assert_int_equal(back.retry_at_us, 1796032900000000LL);
        assert_non_null(back.registration);
        assert_string_equal(back.registration->registrar, "Example Registrar");
        assert_int_equal(back.registration->expires, 1800000000);
        assert_int_equal(back.registration->days_left, 41);
        assert_int_equal(back.registration->nstatus, 1);
        assert_string_equal(back.registration->status[0], "client hold");
        assert_string_equal(back.registration->nameservers[0], "ns1.example.net");
        assert_int_equal(back.nautoconfig, 1);
        assert_string_equal(back.autoconfig[0].source, "autodiscover");
        assert_int_equal(back.autoconfig[0].nservers, 1);
        assert_string_equal(back.autoconfig[0].servers[0].host, "newmail.example.com");
        assert_int_equal(back.autoconfig[0].servers[0].port, 993);
        if (arena)
            wire_arena_destroy(&a);
        else
            result_clear(&back);
    }
    free(buf);
    result_clear(&r);

    /* An autoconfig error keeps its own code and layer. */
    result_init(&r);
    assert_int_equal(result_set_str(&r.check, "autoconfig://example.com"), 0);
    r.started_at_us = 1796032800123000LL;
    result_fail(&r, RESULT_AUTOCONFIG_INVALID, "not XML");
    assert_int_equal(wire_result_encode(&r, &buf, &len), 0);
    assert_int_equal(wire_result_decode(buf, len, &back, err, sizeof(err)), 0);
    assert_int_equal(back.error, RESULT_AUTOCONFIG_INVALID);
    assert_int_equal(back.layer, RESULT_LAYER_AUTOCONFIG);
    result_clear(&back);
    free(buf);
    result_clear(&r);
}

static void test_result_refusals(void **state)
{
    (void)state;
    struct result r, back;
    uint8_t *buf;
    size_t len;
    char err[256];

    /* No check. */
    result_init(&r);
    r.started_at_us = 1;
    assert_int_equal(wire_result_encode(&r, &buf, &len), 0);
    assert_int_equal(wire_result_decode(buf, len, &back, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "without a check"));
    free(buf);

    /* A detail beyond RESULT_STR_MAX (built by hand: result_set_str bounds it). */
    r.check = strdup("tcp://h:1");
    r.detail = malloc(RESULT_STR_MAX + 10);
    memset(r.detail, 'x', RESULT_STR_MAX + 9);
    r.detail[RESULT_STR_MAX + 9] = '\0';
    assert_int_equal(wire_result_encode(&r, &buf, &len), 0);
    assert_int_equal(wire_result_decode(buf, len, &back, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "detail longer"));
    free(buf);
    result_clear(&r);

    /* Garbage. */
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    assert_int_equal(wire_result_decode(junk, sizeof(junk), &back, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "malformed"));
}

static void test_unknown_error_code(void **state)
{
    (void)state;
    struct result r, back;
    uint8_t *buf;
    size_t len;
    char err[256];
    result_init(&r);
    r.check = strdup("tcp://h:1");
    r.started_at_us = 5;
    r.error = (enum result_error)77; /* a newer agent's code */
    assert_int_equal(wire_result_encode(&r, &buf, &len), 0);
    assert_int_equal(wire_result_decode(buf, len, &back, err, sizeof(err)), 0);
    assert_int_equal(back.error, RESULT_INTERNAL);
    assert_false(back.ok);
    assert_non_null(strstr(back.detail, "unknown error code 77"));
    result_clear(&back);
    free(buf);
    /* A finding's error (issue 9) is no probe's result either. */
    r.error = RESULT_SLOW;
    assert_int_equal(wire_result_encode(&r, &buf, &len), 0);
    assert_int_equal(wire_result_decode(buf, len, &back, err, sizeof(err)), 0);
    assert_int_equal(back.error, RESULT_INTERNAL);
    assert_non_null(strstr(back.detail, "(slow) names a finding"));
    result_clear(&back);
    free(buf);
    result_clear(&r);
}

static struct wire_msg *round_trip(const struct wire_msg *m)
{
    uint8_t *buf;
    size_t len;
    char err[256];
    assert_int_equal(wire_msg_encode(m, &buf, &len), 0);
    struct wire_msg *back = wire_msg_decode(buf, len, err, sizeof(err));
    free(buf);
    if (back == NULL)
        fail_msg("decode failed: %s", err);
    assert_int_equal(back->kind, m->kind);
    return back;
}

static void test_messages(void **state)
{
    (void)state;
    char *addrs[] = {"192.0.2.2/24", "2001:db8::2/64"};
    char *res[] = {"192.0.2.53"};
    struct wire_msg m = {.kind = WIRE_HELLO, .agent = "lyon-pc1"};
    m.u.hello.name = "lyon-pc1";
    m.u.hello.site = "lyon";
    m.u.hello.version = "0.1.0";
    m.u.hello.net = (struct wire_netctx){addrs, 2, "192.0.2.1", res, 1};
    m.u.hello.spool = (struct wire_spool_stats){5, 2, 100};
    m.u.hello.config_version = "abc";
    struct wire_msg *b = round_trip(&m);
    assert_string_equal(b->agent, "lyon-pc1");
    assert_string_equal(b->u.hello.site, "lyon");
    assert_int_equal(b->u.hello.net.naddresses, 2);
    assert_string_equal(b->u.hello.net.addresses[1], "2001:db8::2/64");
    assert_string_equal(b->u.hello.net.gateway, "192.0.2.1");
    assert_int_equal(b->u.hello.spool.dropped, 2);
    assert_int_equal(b->u.hello.spool.next_seq, 100);
    assert_false(b->u.hello.check_only);
    wire_msg_free(&b);
    assert_null(b);
    m.u.hello.check_only = true;
    b = round_trip(&m);
    assert_true(b->u.hello.check_only);
    wire_msg_free(&b);

    struct result r;
    full_result(&r);
    uint8_t *rb;
    size_t rlen;
    assert_int_equal(wire_result_encode(&r, &rb, &rlen), 0);
    const uint8_t *ptrs[2] = {rb, rb};
    size_t lens[2] = {rlen, rlen};
    m = (struct wire_msg){.kind = WIRE_BATCH};
    m.u.batch = (struct wire_batch){ptrs, lens, 2, {7, 0, 9}, "lyon", 40};
    b = round_trip(&m);
    assert_int_equal(b->u.batch.nresults, 2);
    assert_int_equal(b->u.batch.lens[1], rlen);
    assert_memory_equal(b->u.batch.results[1], rb, rlen);
    assert_int_equal(b->u.batch.after_seq, 40);
    assert_string_equal(b->u.batch.site, "lyon");
    wire_msg_free(&b);
    free(rb);
    result_clear(&r);

    m = (struct wire_msg){.kind = WIRE_ACK, .u.ack = {123456789012ULL, true}};
    b = round_trip(&m);
    assert_int_equal(b->u.ack.seq, 123456789012ULL);
    assert_true(b->u.ack.gap);
    assert_null(b->u.ack.name);
    wire_msg_free(&b);
    m.u.ack.name = "lyon-pc1";
    b = round_trip(&m);
    assert_string_equal(b->u.ack.name, "lyon-pc1");
    wire_msg_free(&b);

    char *checks[] = {"imaps://mail.example.com", "https://webmail.example.com/"};
    struct wire_target t = {"corp-mail", "example.com", checks, 2,      60000,
                            10000,       "corp",        300000, 120000, 7200000};
    m = (struct wire_msg){.kind = WIRE_CONFIG};
    m.u.config = (struct wire_config){"v1", &t, 1, "https://rdap.example.net/dns.json", NULL};
    b = round_trip(&m);
    assert_int_equal(b->u.config.targets[0].rdap_interval_ms, 7200000);
    assert_string_equal(b->u.config.rdap_bootstrap_url, "https://rdap.example.net/dns.json");
    assert_null(b->u.config.rdap_bootstrap_json);
    assert_int_equal(b->u.config.ntargets, 1);
    assert_string_equal(b->u.config.targets[0].checks[1], "https://webmail.example.com/");
    assert_int_equal(b->u.config.targets[0].interval_ms, 60000);
    assert_int_equal(b->u.config.targets[0].mailflow_interval_ms, 300000);
    assert_int_equal(b->u.config.targets[0].mailflow_timeout_ms, 120000);
    struct wire_config copy;
    assert_int_equal(wire_config_copy(&b->u.config, &copy), 0);
    wire_msg_free(&b);
    assert_string_equal(copy.targets[0].credentials, "corp");
    assert_int_equal(copy.targets[0].mailflow_timeout_ms, 120000);
    wire_config_clear(&copy);

    m = (struct wire_msg){.kind = WIRE_RUN_NOW};
    m.u.run_now.target = "corp-mail";
    m.u.run_now.request_id = 9;
    b = round_trip(&m);
    assert_string_equal(b->u.run_now.target, "corp-mail");
    assert_int_equal(b->u.run_now.request_id, 9);
    wire_msg_free(&b);

    m = (struct wire_msg){.kind = WIRE_HEARTBEAT, .u.heartbeat_us = 77};
    b = round_trip(&m);
    assert_int_equal(b->u.heartbeat_us, 77);
    wire_msg_free(&b);
}

static void test_message_refusals(void **state)
{
    (void)state;
    char err[256];
    static const uint8_t junk[] = "not a protobuf at all";
    assert_null(wire_msg_decode(junk, sizeof(junk), err, sizeof(err)));

    /* An empty envelope: protocol 0 (missing required field) is refused. */
    assert_null(wire_msg_decode((const uint8_t *)"", 0, err, sizeof(err)));

    /* Protocol 2 from a future agent: field 1 = 2, then a heartbeat. */
    static const uint8_t v2[] = {0x08, 0x02, 0x7a, 0x00};
    assert_null(wire_msg_decode(v2, sizeof(v2), err, sizeof(err)));
    assert_non_null(strstr(err, "protocol version 2"));

    /* Protocol 1 without a body. */
    static const uint8_t nobody[] = {0x08, 0x01};
    assert_null(wire_msg_decode(nobody, sizeof(nobody), err, sizeof(err)));
    assert_non_null(strstr(err, "without a known body"));

    /* An unknown field (tag 99, varint) is ignored: forward compatibility. */
    static const uint8_t extra[] = {0x08, 0x01, 0x98, 0x06, 0x05, 0x7a, 0x00};
    struct wire_msg *m = wire_msg_decode(extra, sizeof(extra), err, sizeof(err));
    assert_non_null(m);
    assert_int_equal(m->kind, WIRE_HEARTBEAT);
    wire_msg_free(&m);

    /* A batch beyond WIRE_BATCH_MAX is refused on encode and decode. */
    size_t n = WIRE_BATCH_MAX + 1;
    const uint8_t **ptrs = calloc(n, sizeof(*ptrs));
    size_t *lens = calloc(n, sizeof(*lens));
    for (size_t i = 0; i < n; i++)
        ptrs[i] = (const uint8_t *)"x";
    struct wire_msg big = {.kind = WIRE_BATCH};
    big.u.batch.results = ptrs;
    big.u.batch.lens = lens;
    big.u.batch.nresults = n;
    uint8_t *buf;
    size_t len;
    assert_int_equal(wire_msg_encode(&big, &buf, &len), -1);
    free(ptrs);
    free(lens);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_result_round_trip),  cmocka_unit_test(test_delivery_round_trip),
        cmocka_unit_test(test_domain_round_trip),  cmocka_unit_test(test_result_refusals),
        cmocka_unit_test(test_unknown_error_code), cmocka_unit_test(test_messages),
        cmocka_unit_test(test_message_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
