/*
 * Unit tests for agent/net/resolver.c: answer sorting, rcode classification,
 * type names, and parsing of real DNS messages sent by a scripted UDP
 * responder on loopback (CNAME chain, TTLs, the answering resolver,
 * SERVFAIL, NXDOMAIN with the SOA's negative TTL). nsd-backed cases run in
 * tests/integration/probe_dns.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resolver.h"

#define ERR_MAX 256
#define MSG_MAX 512

static void test_sort_addresses(void **state)
{
    (void)state;
    /* By value, not as text: "9.x" before "10.x". */
    char *a[] = {"10.0.0.2", "9.0.0.1", "10.0.0.10", "10.0.0.1"};
    resolver_sort_answers(ns_t_a, a, 4);
    assert_string_equal(a[0], "9.0.0.1");
    assert_string_equal(a[1], "10.0.0.1");
    assert_string_equal(a[2], "10.0.0.2");
    assert_string_equal(a[3], "10.0.0.10");
    char *b[] = {"2001:db8::10", "2001:db8::9", "::1"};
    resolver_sort_answers(ns_t_aaaa, b, 3);
    assert_string_equal(b[0], "::1");
    assert_string_equal(b[1], "2001:db8::9");
    assert_string_equal(b[2], "2001:db8::10");
}

static void test_sort_mx_srv(void **state)
{
    (void)state;
    char *mx[] = {"20 b.example.com", "5 z.example.com", "20 a.example.com", "100 c.example"};
    resolver_sort_answers(ns_t_mx, mx, 4);
    assert_string_equal(mx[0], "5 z.example.com");
    assert_string_equal(mx[1], "20 a.example.com");
    assert_string_equal(mx[2], "20 b.example.com");
    assert_string_equal(mx[3], "100 c.example");
    char *srv[] = {"10 5 993 b.example", "0 10 993 c.example", "0 5 993 d.example",
                   "0 5 143 e.example"};
    resolver_sort_answers(ns_t_srv, srv, 4);
    assert_string_equal(srv[0], "0 5 143 e.example");
    assert_string_equal(srv[1], "0 5 993 d.example");
    assert_string_equal(srv[2], "0 10 993 c.example");
    assert_string_equal(srv[3], "10 5 993 b.example");
    char *txt[] = {"v=spf1 -all", "google-site-verification=x", "MS=ms123"};
    resolver_sort_answers(ns_t_txt, txt, 3);
    assert_string_equal(txt[0], "MS=ms123");
    assert_string_equal(txt[2], "v=spf1 -all");
}

static void test_classify_rcode(void **state)
{
    (void)state;
    assert_int_equal(resolver_classify_rcode(ns_r_noerror, 2), RESULT_OK);
    assert_int_equal(resolver_classify_rcode(ns_r_noerror, 0), RESULT_DNS_NODATA);
    assert_int_equal(resolver_classify_rcode(ns_r_nxdomain, 0), RESULT_DNS_NXDOMAIN);
    assert_int_equal(resolver_classify_rcode(ns_r_servfail, 0), RESULT_DNS_SERVFAIL);
    assert_int_equal(resolver_classify_rcode(ns_r_refused, 0), RESULT_DNS_REFUSED);
    assert_int_equal(resolver_classify_rcode(ns_r_notimpl, 0), RESULT_DNS_SERVFAIL);
}

static void test_names(void **state)
{
    (void)state;
    char buf[16];
    assert_int_equal(resolver_type_parse("mx"), ns_t_mx);
    assert_int_equal(resolver_type_parse("AAAA"), ns_t_aaaa);
    assert_int_equal(resolver_type_parse("PTR"), -1);
    assert_string_equal(resolver_type_name(ns_t_srv), "SRV");
    assert_null(resolver_type_name(ns_t_ptr));
    assert_string_equal(resolver_rcode_name(3, buf, sizeof(buf)), "NXDOMAIN");
    assert_string_equal(resolver_rcode_name(9, buf, sizeof(buf)), "RCODE9");
}

static void test_bad_server(void **state)
{
    (void)state;
    uv_loop_t loop;
    char err[ERR_MAX];
    uv_loop_init(&loop);
    assert_null(resolver_create(&loop, "not-an-ip", err, sizeof(err)));
    assert_non_null(strstr(err, "not-an-ip"));
    assert_null(resolver_create(&loop, "127.0.0.1:99999", err, sizeof(err)));
    struct resolver *r = resolver_create(&loop, "[::1]:5353", err, sizeof(err));
    assert_non_null(r);
    resolver_destroy(&r);
    assert_null(r);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- a scripted responder --------------------------------------------------- */

enum script { SCRIPT_CNAME_CHAIN, SCRIPT_SERVFAIL, SCRIPT_NXDOMAIN_SOA };

struct responder {
    uv_udp_t udp;
    enum script script;
    uint16_t port;
    char buf[MSG_MAX];  /* the answer being sent */
    char rbuf[MSG_MAX]; /* the query being read */
};

struct outcome {
    bool called;
    enum result_error error;
    struct result result;
    size_t naddrs;
    char first_addr[INET6_ADDRSTRLEN];
};

static size_t put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
    return 2;
}

static size_t put32(unsigned char *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v & 0xffff);
    return 4;
}

/* Appends an uncompressed name. */
static size_t put_name(unsigned char *p, const char *name)
{
    size_t o = 0;
    while (*name != '\0') {
        const char *dot = strchr(name, '.');
        size_t len = dot ? (size_t)(dot - name) : strlen(name);
        p[o++] = (unsigned char)len;
        memcpy(p + o, name, len);
        o += len;
        name += len + (dot ? 1 : 0);
    }
    p[o++] = 0;
    return o;
}

static size_t put_rr(unsigned char *p, const char *owner, int type, uint32_t ttl,
                     const unsigned char *rd, size_t rdlen)
{
    size_t o = put_name(p, owner);
    o += put16(p + o, (unsigned)type);
    o += put16(p + o, ns_c_in);
    o += put32(p + o, ttl);
    o += put16(p + o, (unsigned)rdlen);
    memcpy(p + o, rd, rdlen);
    return o + rdlen;
}

static void sent(uv_udp_send_t *req, int status)
{
    (void)status;
    free(req);
}

static void on_query(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
                     unsigned flags)
{
    struct responder *rs = h->data;
    unsigned char out[MSG_MAX], rd[MSG_MAX];
    (void)flags;
    if (n < 12 || from == NULL)
        return;
    const unsigned char *q = (const unsigned char *)buf->base;
    /* The question ends after its name and 4 bytes of type and class. */
    size_t qend = 12;
    while (qend < (size_t)n && q[qend] != 0)
        qend += q[qend] + 1u;
    qend += 5;
    size_t o = 0;
    memcpy(out, q, qend);
    o = qend;
    unsigned ancount = 0, nscount = 0, rcode = 0;
    switch (rs->script) {
    case SCRIPT_CNAME_CHAIN: {
        size_t l = put_name(rd, "www.example.test");
        o += put_rr(out + o, "webmail.example.test", ns_t_cname, 600, rd, l);
        l = put_name(rd, "mail.example.test");
        o += put_rr(out + o, "www.example.test", ns_t_cname, 500, rd, l);
        unsigned char a1[4] = {192, 0, 2, 20}, a2[4] = {192, 0, 2, 3};
        o += put_rr(out + o, "mail.example.test", ns_t_a, 300, a1, 4);
        o += put_rr(out + o, "mail.example.test", ns_t_a, 120, a2, 4);
        ancount = 4;
        break;
    }
    case SCRIPT_SERVFAIL:
        rcode = ns_r_servfail;
        break;
    case SCRIPT_NXDOMAIN_SOA: {
        size_t l = put_name(rd, "ns.example.test");
        l += put_name(rd + l, "hostmaster.example.test");
        l += put32(rd + l, 1);
        l += put32(rd + l, 3600);
        l += put32(rd + l, 600);
        l += put32(rd + l, 86400);
        l += put32(rd + l, 90); /* minimum: the negative TTL, below the RR's */
        o += put_rr(out + o, "example.test", ns_t_soa, 3600, rd, l);
        nscount = 1;
        rcode = ns_r_nxdomain;
        break;
    }
    }
    out[2] = 0x80 | (q[2] & 0x01); /* QR, keep RD */
    out[3] = (unsigned char)(0x80 | rcode);
    put16(out + 6, ancount);
    put16(out + 8, nscount);
    put16(out + 10, 0);
    uv_udp_send_t *req = malloc(sizeof(*req));
    memcpy(rs->buf, out, o);
    uv_buf_t b = uv_buf_init(rs->buf, (unsigned)o);
    assert_int_equal(uv_udp_send(req, h, &b, 1, from, sent), 0);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct responder *rs = h->data;
    (void)hint;
    *buf = uv_buf_init(rs->rbuf, sizeof(rs->rbuf));
}

static void responder_start(uv_loop_t *loop, struct responder *rs)
{
    struct sockaddr_in sa;
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    uv_ip4_addr("127.0.0.1", 0, &sa);
    uv_udp_init(loop, &rs->udp);
    rs->udp.data = rs;
    assert_int_equal(uv_udp_bind(&rs->udp, (struct sockaddr *)&sa, 0), 0);
    uv_udp_getsockname(&rs->udp, (struct sockaddr *)&bound, &len);
    rs->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    assert_int_equal(uv_udp_recv_start(&rs->udp, alloc_cb, on_query), 0);
}

struct ctx {
    struct responder *rs;
    struct resolver *res;
    struct outcome *out;
};

static void on_reply(struct resolver_reply *rep, void *arg)
{
    struct ctx *c = arg;
    c->out->called = true;
    c->out->error = rep->error;
    c->out->naddrs = rep->naddrs;
    if (rep->naddrs > 0)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)&rep->addrs[0])->sin_addr,
                  c->out->first_addr, sizeof(c->out->first_addr));
    assert_int_equal(resolver_reply_move(rep, &c->out->result), 0);
    resolver_destroy(&c->res);
    uv_close((uv_handle_t *)&c->rs->udp, NULL);
}

static void ask(enum script script, const char *name, int type, struct outcome *out)
{
    uv_loop_t loop;
    struct responder rs;
    char server[32], err[ERR_MAX];
    memset(&rs, 0, sizeof(rs));
    memset(out, 0, sizeof(*out));
    result_init(&out->result);
    uv_loop_init(&loop);
    rs.script = script;
    responder_start(&loop, &rs);
    snprintf(server, sizeof(server), "127.0.0.1:%u", rs.port);
    struct ctx c = {.rs = &rs, .out = out};
    c.res = resolver_create(&loop, server, err, sizeof(err));
    assert_non_null(c.res);
    assert_int_equal(resolver_query(c.res, name, type, on_reply, &c, NULL, err, sizeof(err)), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(out->called);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_cname_chain(void **state)
{
    (void)state;
    struct outcome o;
    ask(SCRIPT_CNAME_CHAIN, "webmail.example.test", ns_t_a, &o);
    assert_int_equal(o.error, RESULT_OK);
    assert_int_equal(o.result.ndns, 3);
    const struct result_dns *d = &o.result.dns[0];
    assert_string_equal(d->name, "webmail.example.test");
    assert_string_equal(d->type, "A");
    assert_string_equal(d->rcode, "NOERROR");
    assert_int_equal(d->nanswers, 2);
    assert_string_equal(d->answers[0], "192.0.2.3"); /* sorted by value */
    assert_string_equal(d->answers[1], "192.0.2.20");
    assert_int_equal(d->ttl, 120); /* the smallest */
    assert_non_null(d->resolver);
    assert_non_null(strstr(d->resolver, "127.0.0.1:"));
    assert_string_equal(o.result.dns[1].name, "webmail.example.test");
    assert_string_equal(o.result.dns[1].type, "CNAME");
    assert_string_equal(o.result.dns[1].answers[0], "www.example.test");
    assert_int_equal(o.result.dns[1].ttl, 600);
    assert_string_equal(o.result.dns[2].name, "www.example.test");
    assert_string_equal(o.result.dns[2].answers[0], "mail.example.test");
    assert_int_equal(o.naddrs, 2);
    assert_string_equal(o.first_addr, "192.0.2.3");
    result_clear(&o.result);
}

static void test_servfail(void **state)
{
    (void)state;
    struct outcome o;
    ask(SCRIPT_SERVFAIL, "mail.example.test", ns_t_mx, &o);
    assert_int_equal(o.error, RESULT_DNS_SERVFAIL);
    assert_int_equal(o.result.ndns, 1);
    assert_string_equal(o.result.dns[0].rcode, "SERVFAIL");
    assert_int_equal(o.result.dns[0].nanswers, 0);
    result_clear(&o.result);
}

static void test_nxdomain_negative_ttl(void **state)
{
    (void)state;
    struct outcome o;
    ask(SCRIPT_NXDOMAIN_SOA, "nothing.example.test", ns_t_a, &o);
    assert_int_equal(o.error, RESULT_DNS_NXDOMAIN);
    assert_string_equal(o.result.dns[0].rcode, "NXDOMAIN");
    assert_int_equal(o.result.dns[0].ttl, 90); /* min(SOA TTL, SOA minimum) */
    assert_int_equal(o.naddrs, 0);
    result_clear(&o.result);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sort_addresses), cmocka_unit_test(test_sort_mx_srv),
        cmocka_unit_test(test_classify_rcode), cmocka_unit_test(test_names),
        cmocka_unit_test(test_bad_server),     cmocka_unit_test(test_cname_chain),
        cmocka_unit_test(test_servfail),       cmocka_unit_test(test_nxdomain_negative_ttl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
