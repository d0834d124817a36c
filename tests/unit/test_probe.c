/*
 * Unit tests for agent/probes/probe.c, the engine: spec refusal, tcp probes to a
 * real listener on loopback, the whole-probe deadline, DNS failure of the
 * host lookup, and aborting probes in flight. The certificate and DNS
 * cases against real servers run in tests/integration/probe_*.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "probe.h"

#define ERR_MAX   256
#define CHECK_MAX 128

struct fixture {
    uv_loop_t loop;
    uv_tcp_t listener; /* accepts into the kernel's queue; never calls accept */
    uv_udp_t silent;   /* a "resolver" that reads nothing and answers nothing */
    uint16_t tcp_port, udp_port;
    struct probe_engine *engine;
    struct result result;
    int calls;
};

static void on_connection(uv_stream_t *s, int status)
{
    (void)s;
    (void)status;
}

static uint16_t bound_port(const uv_handle_t *h, bool udp)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (udp)
        uv_udp_getsockname((const uv_udp_t *)h, (struct sockaddr *)&ss, &len);
    else
        uv_tcp_getsockname((const uv_tcp_t *)h, (struct sockaddr *)&ss, &len);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct sockaddr_in sa;
    char err[ERR_MAX], resolver[32];
    assert_non_null(f);
    uv_loop_init(&f->loop);
    uv_ip4_addr("127.0.0.1", 0, &sa);
    uv_tcp_init(&f->loop, &f->listener);
    assert_int_equal(uv_tcp_bind(&f->listener, (struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&f->listener, 16, on_connection), 0);
    f->tcp_port = bound_port((uv_handle_t *)&f->listener, false);
    uv_udp_init(&f->loop, &f->silent);
    assert_int_equal(uv_udp_bind(&f->silent, (struct sockaddr *)&sa, 0), 0);
    f->udp_port = bound_port((uv_handle_t *)&f->silent, true);
    snprintf(resolver, sizeof(resolver), "127.0.0.1:%u", f->udp_port);
    struct probe_engine_opts opts = {.resolver = resolver};
    f->engine = probe_engine_create(&f->loop, &opts, err, sizeof(err));
    assert_non_null(f->engine);
    result_init(&f->result);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    probe_engine_destroy(&f->engine);
    assert_null(f->engine);
    uv_close((uv_handle_t *)&f->listener, NULL);
    uv_close((uv_handle_t *)&f->silent, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    result_clear(&f->result);
    free(f);
    return 0;
}

static void on_done(struct result *r, void *arg)
{
    struct fixture *f = arg;
    f->calls++;
    result_clear(&f->result);
    f->result = *r; /* takes ownership */
}

static void start(struct fixture *f, const char *check, uint64_t timeout_us)
{
    char err[ERR_MAX];
    struct probe_params p = {.check = check, .target = "t1", .timeout_us = timeout_us};
    assert_int_equal(probe_engine_start(f->engine, &p, on_done, f, err, sizeof(err)), 0);
}

/* Runs the loop until the probes started so far are done. */
static void wait_done(struct fixture *f)
{
    while (probe_engine_active(f->engine) > 0)
        uv_run(&f->loop, UV_RUN_ONCE);
}

static void test_bad_spec(void **state)
{
    struct fixture *f = *state;
    char err[ERR_MAX] = "";
    struct probe_params p = {.check = "nonsense"};
    assert_int_equal(probe_engine_start(f->engine, &p, on_done, f, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "nonsense"));
    assert_int_equal(probe_engine_active(f->engine), 0);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(f->calls, 0);
}

static void test_tcp_ok(void **state)
{
    struct fixture *f = *state;
    char check[CHECK_MAX];
    snprintf(check, sizeof(check), "tcp://127.0.0.1:%u", f->tcp_port);
    start(f, check, 2000000);
    assert_int_equal(probe_engine_active(f->engine), 1);
    wait_done(f);
    assert_int_equal(f->calls, 1);
    assert_true(f->result.ok);
    assert_int_equal(f->result.error, RESULT_OK);
    assert_string_equal(f->result.check, check);
    assert_string_equal(f->result.target, "t1");
    assert_string_equal(f->result.address, "127.0.0.1");
    assert_int_equal(f->result.port, f->tcp_port);
    assert_int_equal(f->result.phases_us[RESULT_PHASE_DNS], 0); /* a literal */
    assert_true(f->result.phases_us[RESULT_PHASE_CONNECT] > 0);
    assert_true(f->result.phases_us[RESULT_PHASE_TOTAL] >=
                f->result.phases_us[RESULT_PHASE_CONNECT]);
    assert_true(f->result.started_at_us > 0);
}

static void test_tcp_refused(void **state)
{
    struct fixture *f = *state;
    /* The UDP port's number is free for TCP only by chance; port 1 needs
     * root to listen on and nothing here does. */
    start(f, "tcp://127.0.0.1:1", 2000000);
    wait_done(f);
    assert_false(f->result.ok);
    assert_int_equal(f->result.error, RESULT_TCP_REFUSED);
    assert_int_equal(f->result.layer, RESULT_LAYER_TCP);
    assert_non_null(f->result.detail);
}

static void test_host_lookup_times_out(void **state)
{
    struct fixture *f = *state;
    uint64_t t0 = clock_mono_us();
    start(f, "tcp://mail.example.test:25", 300000);
    wait_done(f);
    uint64_t took = clock_mono_us() - t0;
    assert_int_equal(f->result.error, RESULT_DNS_TIMEOUT);
    assert_int_equal(f->result.layer, RESULT_LAYER_DNS);
    assert_true(took >= 300000);
    assert_true(took < 1500000);
    assert_true(f->result.phases_us[RESULT_PHASE_DNS] >= 290000);
    assert_null(f->result.address);
}

static void test_dns_check_deadline(void **state)
{
    struct fixture *f = *state;
    start(f, "dns://example.test/MX", 200000);
    wait_done(f);
    assert_int_equal(f->result.error, RESULT_DNS_TIMEOUT);
    assert_string_equal(f->result.check, "dns://example.test/MX");
}

static void test_destroy_aborts(void **state)
{
    struct fixture *f = *state;
    start(f, "dns://example.test/A", 5000000);
    start(f, "tcp://mail.example.test:25", 5000000);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(probe_engine_active(f->engine), 2);
    probe_engine_destroy(&f->engine);
    assert_null(f->engine);
    /* The done callbacks run from the loop, never inside destroy. */
    assert_int_equal(f->calls, 0);
    for (int i = 0; i < 100 && f->calls < 2; i++)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(f->calls, 2);
    assert_int_equal(f->result.error, RESULT_INTERNAL);
    assert_non_null(strstr(f->result.detail, "aborted"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_spec, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_host_lookup_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns_check_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_aborts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
