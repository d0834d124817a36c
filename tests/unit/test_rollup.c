/*
 * Unit tests of collector/store/rollup.c: the hour of a result, adding results,
 * and merging partial hours in any order to the same aggregate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "result.h"
#include "rollup.h"

#define H ROLLUP_HOUR_US

static void test_hour_of(void **state)
{
    (void)state;
    assert_true(rollup_hour_of(0) == 0);
    assert_true(rollup_hour_of(H - 1) == 0);
    assert_true(rollup_hour_of(H) == H);
    assert_true(rollup_hour_of(5 * H + 17) == 5 * H);
    /* Before 1970 (an agent with a broken clock): the floor, not 0. */
    assert_true(rollup_hour_of(-1) == -H);
    assert_true(rollup_hour_of(-H) == -H);
    assert_true(rollup_hour_of(-H - 1) == -2 * H);
}

static void test_add(void **state)
{
    (void)state;
    struct rollup r = {0};
    rollup_add(&r, true, 100, 10, RESULT_LAYER_TLS, RESULT_OK);
    assert_true(r.n == 1 && r.ok == 1 && r.total_us_sum == 100 && r.total_us_max == 100);
    assert_true(r.ok == r.n); /* no failure: first_fail_us means nothing */
    rollup_add(&r, false, 5000, 30, RESULT_LAYER_TCP, RESULT_TCP_TIMEOUT);
    rollup_add(&r, false, 300, 20, RESULT_LAYER_TCP, RESULT_TCP_REFUSED);
    rollup_add(&r, true, 200, 5, RESULT_LAYER_TLS, RESULT_OK);
    assert_true(r.n == 4);
    assert_true(r.ok == 2);
    assert_true(r.total_us_sum == 5600);
    assert_true(r.total_us_max == 5000);
    /* The earliest failure by started_at, not the first to arrive. */
    assert_true(r.first_fail_us == 20);
    assert_int_equal(r.fail_error, RESULT_TCP_REFUSED);
    assert_int_equal(r.fail_layer, RESULT_LAYER_TCP);
}

/* A late result merged into an hour rolled up before gives the hour
 * that rolling everything up at once gives, whatever the order. */
static void test_merge_any_order(void **state)
{
    (void)state;
    struct {
        bool ok;
        uint64_t total;
        int64_t at;
        int error;
    } in[] = {{true, 10, 1, RESULT_OK},           {false, 70, 9, RESULT_TLS_CERT_EXPIRED},
              {true, 40, 3, RESULT_OK},           {false, 20, 9, RESULT_DNS_TIMEOUT},
              {false, 90, 12, RESULT_TCP_RESET},  {true, 30, 2, RESULT_OK},
              {false, 15, 50, RESULT_AUTH_FAILED}};
    const size_t n = sizeof(in) / sizeof(in[0]);
    struct rollup all = {0};
    for (size_t i = 0; i < n; i++)
        rollup_add(&all, in[i].ok, in[i].total, in[i].at, result_error_layer(in[i].error),
                   in[i].error);
    /* Every split into two chunks, merged both ways. */
    for (unsigned mask = 0; mask < (1u << n); mask++) {
        struct rollup a = {0}, b = {0};
        for (size_t i = 0; i < n; i++)
            rollup_add(mask & (1u << i) ? &a : &b, in[i].ok, in[i].total, in[i].at,
                       result_error_layer(in[i].error), in[i].error);
        struct rollup ab = a, ba = b;
        rollup_merge(&ab, &b);
        rollup_merge(&ba, &a);
        assert_memory_equal(&ab, &all, sizeof(all));
        assert_memory_equal(&ba, &all, sizeof(all));
    }
    assert_true(all.n == 7 && all.ok == 3);
    /* Two failures at the same microsecond: the lower error wins. */
    assert_true(all.first_fail_us == 9);
    assert_int_equal(all.fail_error, RESULT_DNS_TIMEOUT < RESULT_TLS_CERT_EXPIRED
                                         ? RESULT_DNS_TIMEOUT
                                         : RESULT_TLS_CERT_EXPIRED);
}

static void test_merge_empty_and_saturate(void **state)
{
    (void)state;
    struct rollup r = {0}, empty = {0};
    rollup_add(&r, false, 7, 100, RESULT_LAYER_DNS, RESULT_DNS_NXDOMAIN);
    struct rollup before = r;
    rollup_merge(&r, &empty);
    assert_memory_equal(&r, &before, sizeof(r));
    struct rollup into = {0};
    rollup_merge(&into, &r); /* an empty hour takes the other's failure */
    assert_memory_equal(&into, &r, sizeof(r));
    struct rollup big = {.n = UINT64_MAX - 1,
                         .ok = UINT64_MAX - 1,
                         .total_us_sum = UINT64_MAX - 3,
                         .total_us_max = 9};
    rollup_merge(&big, &r);
    assert_true(big.n == UINT64_MAX);
    assert_true(big.total_us_sum == UINT64_MAX);
    assert_true(big.total_us_max == 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hour_of),
        cmocka_unit_test(test_add),
        cmocka_unit_test(test_merge_any_order),
        cmocka_unit_test(test_merge_empty_and_saturate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
