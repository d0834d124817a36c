/*
 * Unit tests for agent/conn*.c: the classification tables, and the line
 * reader, writer, deadline and address fallback against a real TCP peer on
 * loopback (a libuv server in this process). TLS cases run against
 * openssl s_server in tests/integration/probe_tls.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "conn.h"

#define ERR_MAX       256
#define EVENTS_MAX    16
#define LINE_COPY_MAX 64

static void test_classify_errno(void **state)
{
    (void)state;
    assert_int_equal(conn_classify_connect_errno(ECONNREFUSED), RESULT_TCP_REFUSED);
    assert_int_equal(conn_classify_connect_errno(ETIMEDOUT), RESULT_TCP_TIMEOUT);
    assert_int_equal(conn_classify_connect_errno(ENETUNREACH), RESULT_TCP_UNREACHABLE);
    assert_int_equal(conn_classify_connect_errno(EHOSTUNREACH), RESULT_TCP_UNREACHABLE);
    assert_int_equal(conn_classify_connect_errno(EACCES), RESULT_TCP_UNREACHABLE);
    assert_int_equal(conn_classify_connect_errno(ECONNRESET), RESULT_TCP_RESET);
    assert_int_equal(conn_classify_connect_errno(EPIPE), RESULT_TCP_RESET);
}

static void test_classify_verify(void **state)
{
    (void)state;
    assert_int_equal(conn_classify_verify(X509_V_OK), RESULT_OK);
    assert_int_equal(conn_classify_verify(X509_V_ERR_CERT_HAS_EXPIRED), RESULT_TLS_CERT_EXPIRED);
    assert_int_equal(conn_classify_verify(X509_V_ERR_CERT_NOT_YET_VALID),
                     RESULT_TLS_CERT_NOT_YET_VALID);
    assert_int_equal(conn_classify_verify(X509_V_ERR_HOSTNAME_MISMATCH),
                     RESULT_TLS_HOSTNAME_MISMATCH);
    assert_int_equal(conn_classify_verify(X509_V_ERR_IP_ADDRESS_MISMATCH),
                     RESULT_TLS_HOSTNAME_MISMATCH);
    assert_int_equal(conn_classify_verify(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT),
                     RESULT_TLS_CERT_UNTRUSTED);
    assert_int_equal(conn_classify_verify(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY),
                     RESULT_TLS_CERT_UNTRUSTED);
}

static void test_classify_ssl_reason(void **state)
{
    (void)state;
    assert_int_equal(conn_classify_ssl_reason(SSL_R_TLSV1_ALERT_PROTOCOL_VERSION),
                     RESULT_TLS_PROTOCOL_VERSION);
    assert_int_equal(conn_classify_ssl_reason(SSL_R_UNSUPPORTED_PROTOCOL),
                     RESULT_TLS_PROTOCOL_VERSION);
    /* Plaintext on a TLS port: the port does not speak TLS. */
    assert_int_equal(conn_classify_ssl_reason(SSL_R_WRONG_VERSION_NUMBER),
                     RESULT_TLS_HANDSHAKE_FAILED);
    assert_int_equal(conn_classify_ssl_reason(SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE),
                     RESULT_TLS_HANDSHAKE_FAILED);
}

/* ---- a scripted peer ------------------------------------------------------ */

struct peer {
    uv_tcp_t server;
    uv_tcp_t client;
    bool accepted;
    const char *script; /* sent on accept; NULL = say nothing */
    bool close_after;   /* close after the script */
    bool echo;          /* send back what arrives */
    bool reset;         /* reset the connection (RST) when data arrives */
    uint16_t port;
    char rbuf[256];
    uv_shutdown_t shut;
};

struct run {
    uv_loop_t loop;
    struct peer peer;
    struct conn *conn;
    struct result result;
    enum conn_event events[EVENTS_MAX];
    char lines[EVENTS_MAX][LINE_COPY_MAX];
    size_t nevents;
    bool write_on_connect;
    bool closed;
    enum result_error error; /* conn_error() at CONN_EV_FAILED */
};

static void peer_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct peer *p = h->data;
    (void)hint;
    *buf = uv_buf_init(p->rbuf, sizeof(p->rbuf));
}

static void peer_written(uv_write_t *w, int status)
{
    (void)status;
    free(w->data);
    free(w);
}

static void peer_send(struct peer *p, const char *data, size_t len)
{
    uv_write_t *w = malloc(sizeof(*w));
    char *copy = malloc(len);
    assert_non_null(w);
    assert_non_null(copy);
    memcpy(copy, data, len);
    w->data = copy;
    uv_buf_t b = uv_buf_init(copy, (unsigned)len);
    assert_int_equal(uv_write(w, (uv_stream_t *)&p->client, &b, 1, peer_written), 0);
}

static void peer_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct peer *p = s->data;
    if (n > 0 && p->reset && p->accepted) {
        uv_tcp_close_reset(&p->client, NULL);
        p->accepted = false; /* closed already */
        return;
    }
    if (n > 0 && p->echo)
        peer_send(p, buf->base, (size_t)n);
}

static void peer_connection(uv_stream_t *server, int status)
{
    struct peer *p = server->data;
    assert_int_equal(status, 0);
    uv_tcp_init(server->loop, &p->client);
    p->client.data = p;
    assert_int_equal(uv_accept(server, (uv_stream_t *)&p->client), 0);
    p->accepted = true;
    if (p->script != NULL)
        peer_send(p, p->script, strlen(p->script));
    if (p->close_after)
        uv_shutdown(&p->shut, (uv_stream_t *)&p->client, NULL);

    uv_read_start((uv_stream_t *)&p->client, peer_alloc, peer_read);
}

static void peer_start(uv_loop_t *loop, struct peer *p)
{
    struct sockaddr_in sa;
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    uv_ip4_addr("127.0.0.1", 0, &sa);
    uv_tcp_init(loop, &p->server);
    p->server.data = p;
    assert_int_equal(uv_tcp_bind(&p->server, (struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&p->server, 8, peer_connection), 0);
    uv_tcp_getsockname(&p->server, (struct sockaddr *)&bound, &len);
    p->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
}

static void closed_cb(void *arg)
{
    struct run *r = arg;
    r->closed = true;
    uv_close((uv_handle_t *)&r->peer.server, NULL);
    if (r->peer.accepted)
        uv_close((uv_handle_t *)&r->peer.client, NULL);
}

static void on_event(struct conn *c, enum conn_event ev, void *arg)
{
    struct run *r = arg;
    char err[ERR_MAX];
    assert_true(r->nevents < EVENTS_MAX);
    r->events[r->nevents] = ev;
    if (ev == CONN_EV_LINE)
        snprintf(r->lines[r->nevents], LINE_COPY_MAX, "%s", conn_line(c, NULL));
    r->nevents++;
    switch (ev) {
    case CONN_EV_CONNECTED:
        if (r->write_on_connect)
            assert_int_equal(conn_write(c, "ping\r\n", 6, err, sizeof(err)), 0);
        conn_read_start(c);
        return;
    case CONN_EV_LINE:
        if (strcmp(conn_line(c, NULL), "ping") != 0)
            return;
        break; /* the echo came back: done */
    case CONN_EV_TLS_READY:
        return;
    case CONN_EV_FAILED:
        r->error = conn_error(c);
        assert_true(conn_error_detail(c)[0] != '\0');
        break;
    case CONN_EV_EOF:
    case CONN_EV_LINE_TOO_LONG:
    case CONN_EV_TIMEOUT:
        break;
    case CONN_EV_LAST:
    default:
        fail();
    }
    conn_destroy(&r->conn, closed_cb, r);
}

/* Runs one connection to addrs (port = the peer's) until it is closed. */
static void run_conn(struct run *r, const char *const *addrs, size_t naddrs, size_t line_max,
                     uint64_t timeout_us)
{
    struct sockaddr_storage ss[4];
    char err[ERR_MAX];
    memset(ss, 0, sizeof(ss));
    for (size_t i = 0; i < naddrs; i++) {
        if (strchr(addrs[i], ':') != NULL) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss[i];
            s6->sin6_family = AF_INET6;
            inet_pton(AF_INET6, addrs[i], &s6->sin6_addr);
        } else {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss[i];
            s4->sin_family = AF_INET;
            inet_pton(AF_INET, addrs[i], &s4->sin_addr);
        }
    }
    struct conn_params cp = {
        .loop = &r->loop,
        .addrs = ss,
        .naddrs = naddrs,
        .port = r->peer.port,
        .servername = "localhost",
        .deadline_us = clock_mono_us() + timeout_us,
        .line_max = line_max,
        .result = &r->result,
    };
    r->conn = conn_create(&cp, on_event, r, err, sizeof(err));
    assert_non_null(r->conn);
    assert_int_equal(conn_connect(r->conn, err, sizeof(err)), 0);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    assert_true(r->closed);
    assert_int_equal(uv_loop_close(&r->loop), 0);
}

static struct run *run_new(const char *script, bool close_after)
{
    struct run *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    uv_loop_init(&r->loop);
    result_init(&r->result);
    r->peer.script = script;
    r->peer.close_after = close_after;
    peer_start(&r->loop, &r->peer);
    return r;
}

static void run_free(struct run *r)
{
    result_clear(&r->result);
    free(r);
}

static const char *const LOCAL4[] = {"127.0.0.1"};

static void test_lines_then_eof(void **state)
{
    (void)state;
    /* CRLF and bare LF both end a line; an unterminated tail is no line. */
    struct run *r = run_new("* OK hello\r\nsecond\nthird-unterminated", true);
    run_conn(r, LOCAL4, 1, 0, 2000000);
    assert_int_equal(r->nevents, 4);
    assert_int_equal(r->events[0], CONN_EV_CONNECTED);
    assert_int_equal(r->events[1], CONN_EV_LINE);
    assert_string_equal(r->lines[1], "* OK hello");
    assert_int_equal(r->events[2], CONN_EV_LINE);
    assert_string_equal(r->lines[2], "second");
    assert_int_equal(r->events[3], CONN_EV_EOF);
    assert_string_equal(r->result.address, "127.0.0.1");
    assert_int_equal(r->result.port, r->peer.port);
    assert_true(r->result.phases_us[RESULT_PHASE_CONNECT] > 0);
    run_free(r);
}

static void test_line_too_long(void **state)
{
    (void)state;
    /* 40 bytes without a newline against a 16-byte limit. */
    struct run *r = run_new("0123456789012345678901234567890123456789", false);
    run_conn(r, LOCAL4, 1, 16, 2000000);
    assert_int_equal(r->nevents, 2);
    assert_int_equal(r->events[1], CONN_EV_LINE_TOO_LONG);
    run_free(r);
}

static void test_line_at_limit(void **state)
{
    (void)state;
    /* 14 characters + CRLF = 16 bytes: exactly the limit, still a line. */
    struct run *r = run_new("abcdefghijklmn\r\n", true);
    run_conn(r, LOCAL4, 1, 16, 2000000);
    assert_int_equal(r->events[1], CONN_EV_LINE);
    assert_string_equal(r->lines[1], "abcdefghijklmn");
    run_free(r);
}

static void test_timeout(void **state)
{
    (void)state;
    struct run *r = run_new(NULL, false);
    uint64_t t0 = clock_mono_us();
    run_conn(r, LOCAL4, 1, 0, 150000);
    uint64_t took = clock_mono_us() - t0;
    assert_int_equal(r->nevents, 2);
    assert_int_equal(r->events[1], CONN_EV_TIMEOUT);
    assert_true(took >= 150000);
    assert_true(took < 1000000);
    run_free(r);
}

static void test_write_echo(void **state)
{
    (void)state;
    struct run *r = run_new(NULL, false);
    r->peer.echo = true;
    r->write_on_connect = true;
    run_conn(r, LOCAL4, 1, 0, 2000000);
    assert_int_equal(r->nevents, 2);
    assert_int_equal(r->events[1], CONN_EV_LINE);
    assert_string_equal(r->lines[1], "ping");
    run_free(r);
}

static void test_fallback_to_next_address(void **state)
{
    (void)state;
    /* Nothing listens on 127.0.0.2 at the peer's port (the peer is bound
     * to 127.0.0.1): refused, then the second address wins. */
    static const char *const addrs[] = {"127.0.0.2", "127.0.0.1"};
    struct run *r = run_new("hi\r\n", true);
    run_conn(r, addrs, 2, 0, 2000000);
    assert_int_equal(r->events[0], CONN_EV_CONNECTED);
    assert_string_equal(r->result.address, "127.0.0.1");
    run_free(r);
}

static void test_all_refused(void **state)
{
    (void)state;
    static const char *const addrs[] = {"127.0.0.2", "127.0.0.3"};
    struct run *r = run_new(NULL, false);
    run_conn(r, addrs, 2, 0, 2000000);
    assert_int_equal(r->nevents, 1);
    assert_int_equal(r->events[0], CONN_EV_FAILED);
    assert_int_equal(r->error, RESULT_TCP_REFUSED);
    /* The result keeps the last address tried. */
    assert_string_equal(r->result.address, "127.0.0.3");
    run_free(r);
}

static void test_reset_while_reading(void **state)
{
    (void)state;
    /* The peer resets when our "ping" arrives: the stream is open, so the
     * reset shows while reading. */
    struct run *r = run_new(NULL, false);
    r->peer.reset = true;
    r->write_on_connect = true;
    run_conn(r, LOCAL4, 1, 0, 2000000);
    assert_int_equal(r->events[0], CONN_EV_CONNECTED);
    assert_int_equal(r->events[r->nevents - 1], CONN_EV_FAILED);
    assert_int_equal(r->error, RESULT_TCP_RESET);
    run_free(r);
}

static void test_attempt_delay(void **state)
{
    (void)state;
    /* The first address is a listener whose accept queue is full (listen
     * backlog 0 plus one queued connection): its SYNs are dropped, so the
     * second address must be tried after CONN_ATTEMPT_DELAY_US and win
     * long before the deadline. */
    int lfd = socket(AF_INET, SOCK_STREAM, 0), filler = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 0), 0);
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    assert_int_equal(connect(filler, (struct sockaddr *)&sa, sizeof(sa)), 0);

    struct run *r = run_new("hi\r\n", true);
    struct sockaddr_storage ss[2];
    struct sockaddr_in good = sa;
    good.sin_port = htons(r->peer.port);
    memcpy(&ss[0], &sa, sizeof(sa));
    memcpy(&ss[1], &good, sizeof(good));
    char err[ERR_MAX];
    struct conn_params cp = {.loop = &r->loop,
                             .addrs = ss,
                             .naddrs = 2,
                             .deadline_us = clock_mono_us() + 3000000,
                             .result = &r->result};
    uint64_t t0 = clock_mono_us();
    r->conn = conn_create(&cp, on_event, r, err, sizeof(err));
    assert_non_null(r->conn);
    assert_int_equal(conn_connect(r->conn, err, sizeof(err)), 0);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    uint64_t took = clock_mono_us() - t0;
    assert_int_equal(r->events[0], CONN_EV_CONNECTED);
    assert_int_equal(r->result.port, r->peer.port);
    assert_true(r->result.phases_us[RESULT_PHASE_CONNECT] >= CONN_ATTEMPT_DELAY_US);
    assert_true(took < 1000000);
    assert_int_equal(uv_loop_close(&r->loop), 0);
    run_free(r);
    close(filler);
    close(lfd);
}

static void test_tls_start_needs_open(void **state)
{
    (void)state;
    uv_loop_t loop;
    char err[ERR_MAX];
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    ss.ss_family = AF_INET;
    uv_loop_init(&loop);
    struct conn_params cp = {.loop = &loop, .addrs = &ss, .naddrs = 1, .port = 1};
    struct conn *c = conn_create(&cp, on_event, NULL, err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(conn_tls_start(c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "open"));
    assert_int_equal(conn_write(c, "x", 1, err, sizeof(err)), -1);
    assert_int_equal(conn_error(c), RESULT_OK);
    assert_string_equal(conn_error_detail(c), "");
    conn_destroy(&c, NULL, NULL);
    assert_null(c);
    conn_destroy(&c, NULL, NULL); /* NULL is ignored */
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_tls_context(void **state)
{
    (void)state;
    char err[ERR_MAX];
    struct conn_tls *t = conn_tls_create("/nonexistent/ca.pem", err, sizeof(err));
    assert_null(t);
    assert_non_null(strstr(err, "/nonexistent/ca.pem"));
    t = conn_tls_create(NULL, err, sizeof(err));
    assert_non_null(t);
    conn_tls_destroy(&t);
    assert_null(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_errno),
        cmocka_unit_test(test_classify_verify),
        cmocka_unit_test(test_classify_ssl_reason),
        cmocka_unit_test(test_lines_then_eof),
        cmocka_unit_test(test_line_too_long),
        cmocka_unit_test(test_line_at_limit),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_write_echo),
        cmocka_unit_test(test_fallback_to_next_address),
        cmocka_unit_test(test_all_refused),
        cmocka_unit_test(test_reset_while_reading),
        cmocka_unit_test(test_attempt_delay),
        cmocka_unit_test(test_tls_start_needs_open),
        cmocka_unit_test(test_tls_context),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
