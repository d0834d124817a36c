/*
 * Unit tests of collector/store/store.c and its backends, writing results:
 * duplicates, rollback of a failed batch, mail-flow results. Each test
 * runs against a real sqlite file and a real PostgreSQL 15, as in
 * test_store.c (fixtures in storetest.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "store.h"
#include "store_impl.h"
#include "store_pg.h"
#include "wire.h"

#include "pgtest.h"
#include "storetest.h"

static void test_results_and_duplicates(void **state)
{
    struct fixture *f = *state;
    int64_t a = agent(f->s, "a1");
    int64_t b = agent(f->s, "b1");
    assert_int_equal(committed(f->s, a), 0);

    assert_int_equal(store_begin(f->s), 0);
    for (uint64_t seq = 1; seq <= 5; seq++)
        assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", seq, 100 * seq, RESULT_OK), 1);
    /* A duplicate inside the transaction, and the same seq from another
     * agent, which is not one. */
    assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", 3, 300, RESULT_OK), 0);
    assert_int_equal(add(f->s, b, "paris", "corp", "imaps://m", 3, 300, RESULT_OK), 1);
    /* committed_seq moves at commit, not before. */
    assert_int_equal(committed(f->s, a), 0);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(committed(f->s, a), 5);
    assert_int_equal(committed(f->s, b), 3);

    /* A resent batch: every row a duplicate, nothing stored twice. */
    assert_int_equal(store_begin(f->s), 0);
    for (uint64_t seq = 1; seq <= 5; seq++)
        assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", seq, 100 * seq, RESULT_OK), 0);
    assert_int_equal(store_commit(f->s), 0);
    struct rows w;
    assert_int_equal(count_results(f->s, NULL, &w), 6);
    assert_int_equal(committed(f->s, a), 5);

    /* A gap and a late, lower seq: committed_seq is the highest stored. */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", 9, 900, RESULT_OK), 1);
    assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", 7, 700, RESULT_OK), 1);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(committed(f->s, a), 9);
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", 8, 800, RESULT_OK), 1);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(committed(f->s, a), 9);

    /* The stored bytes decode to what was sent, with agent, network, seq. */
    assert_int_equal(count_results(f->s, NULL, &w), 9);
    assert_string_equal(w.agent[0], "a1");
    assert_string_equal(w.network[0], "lyon");
    assert_string_equal(w.target[0], "corp");
    assert_string_equal(w.check[0], "imaps://m");
    assert_string_equal(w.detail[0], "detail 1");
    assert_int_equal(w.seq[0], 1);
    assert_int_equal(w.at[0], 100);
    /* Equal started_at: ordered by agent name. */
    assert_string_equal(w.agent[2], "a1");
    assert_string_equal(w.agent[3], "b1");
    assert_string_equal(w.network[3], "paris");
    assert_int_equal(committed(f->s, b), 3);
    uint64_t seq;
    assert_int_equal(store_agent_committed_seq(f->s, 4242, &seq), -1);
}

static int delivery_result_cb(const struct result *r, void *arg)
{
    struct result *out = arg;
    assert_non_null(r->delivery);
    assert_string_equal(r->delivery->message_id, "<x1@vantage>");
    assert_string_equal(r->delivery->folder, "Junk");
    assert_int_equal(r->delivery->delivery_us, 4200000);
    assert_int_equal(r->error, RESULT_MAIL_IN_JUNK);
    assert_int_equal(r->layer, RESULT_LAYER_DELIVERY);
    assert_int_equal(r->phases_us[RESULT_PHASE_DELIVERY], 4200000);
    out->ok = true;
    return 0;
}

static int delivery_latest_cb(const struct store_latest *l, void *arg)
{
    struct store_latest *out = arg;
    *out = *l;
    out->agent = out->network = out->target = out->check = out->detail = NULL;
    out->address = out->answers = NULL;
    return 0;
}

/* A mailflow result keeps its delivery facts, new error and phases in the
 * record (results --json shows them); the latest state keeps the delivery
 * time (schema 4) and the slowest phase may be a mailflow phase. */
static void test_mailflow_result(void **state)
{
    struct fixture *f = *state;
    int64_t a = agent(f->s, "a1");
    struct result r;
    result_init(&r);
    r.has_seq = true;
    r.seq = 1;
    assert_int_equal(result_set_str(&r.target, "corp"), 0);
    assert_int_equal(result_set_str(&r.check, "mailflow://@corp"), 0);
    r.started_at_us = 100;
    r.error = RESULT_MAIL_IN_JUNK;
    r.layer = result_error_layer(r.error);
    r.phases_us[RESULT_PHASE_SUBMIT] = 300000;
    r.phases_us[RESULT_PHASE_DELIVERY] = 4200000;
    r.phases_us[RESULT_PHASE_FETCH] = 20000;
    r.phases_us[RESULT_PHASE_TOTAL] = 4600000;
    struct result_delivery *d = result_delivery_new(&r);
    assert_non_null(d);
    assert_int_equal(result_set_str(&d->message_id, "<x1@vantage>"), 0);
    assert_int_equal(result_set_str(&d->folder, "Junk"), 0);
    d->submitted_at_us = 1000;
    d->arrived_at_us = 4201000;
    d->delivery_us = 4200000;
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(wire_result_encode(&r, &buf, &len), 0);
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_result_add(f->s, a, "lyon", &r, buf, len), 1);
    assert_int_equal(store_commit(f->s), 0);
    free(buf);
    result_clear(&r);

    struct result seen;
    result_init(&seen);
    assert_int_equal(store_results_each(f->s, NULL, delivery_result_cb, &seen), 0);
    assert_true(seen.ok);
    struct store_latest l = {0};
    assert_int_equal(store_latest_each(f->s, NULL, delivery_latest_cb, &l), 0);
    assert_int_equal(l.delivery_us, 4200000);
    assert_int_equal(l.phase, RESULT_PHASE_DELIVERY);
    assert_int_equal(l.phase_us, 4200000);
    assert_int_equal(l.error, RESULT_MAIL_IN_JUNK);
}

static void test_rollback(void **state)
{
    struct fixture *f = *state;
    int64_t a = agent(f->s, "a1");
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", 1, 100, RESULT_OK), 1);
    assert_int_equal(store_commit(f->s), 0);

    /* The rolled-back transaction interns a new target, network and check,
     * and moves the latest state and committed_seq in memory. */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", 2, 200, RESULT_TCP_TIMEOUT), 1);
    assert_int_equal(add(f->s, a, "mobile", "new", "pop3s://p", 3, 300, RESULT_OK), 1);
    store_rollback(f->s);

    struct rows w;
    assert_int_equal(count_results(f->s, NULL, &w), 1);
    assert_int_equal(committed(f->s, a), 1);
    memset(&w, 0, sizeof(w));
    assert_int_equal(store_latest_each(f->s, NULL, latest_cb, &w), 0);
    assert_int_equal(w.n, 1);
    assert_int_equal(w.seq[0], 1);
    assert_true(w.ok[0]);

    /* The same rows are new again, and the names interned by the lost
     * transaction are interned afresh (a stale cached id would point at
     * no row). An empty transaction commits nothing. */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(add(f->s, a, "mobile", "new", "pop3s://p", 3, 300, RESULT_OK), 1);
    assert_int_equal(add(f->s, a, "lyon", "corp", "imaps://m", 2, 200, RESULT_TCP_TIMEOUT), 1);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(count_results(f->s, NULL, &w), 3);
    assert_int_equal(committed(f->s, a), 3);
    struct store_result_filter flt = {.target = "new"};
    assert_int_equal(count_results(f->s, &flt, &w), 1);
    assert_string_equal(w.network[0], "mobile");
}

struct latest_texts {
    char detail[4][128];
    char address[4][128];
    bool detail_null[4];
    size_t n;
};

static int note_latest_texts(const struct store_latest *l, void *arg)
{
    struct latest_texts *x = arg;
    assert_true(x->n < 4);
    x->detail_null[x->n] = l->detail == NULL || l->detail[0] == '\0';
    snprintf(x->detail[x->n], sizeof(x->detail[0]), "%s", l->detail ? l->detail : "");
    snprintf(x->address[x->n], sizeof(x->address[0]), "%s", l->address ? l->address : "");
    x->n++;
    return 0;
}

/* Texts that array literals and COPY treat specially (PostgreSQL writes a
 * transaction's latest rows as arrays) come back as sent, in one commit
 * with a row whose texts are absent. */
static void test_latest_texts(void **state)
{
    struct fixture *f = *state;
    int64_t a = agent(f->s, "a1");
    static const char *const awkward[] = {"say \"hi\", {x} \\ back\\slash\nnew line\ttab", "NULL",
                                          "", "caf\xc3\xa9 \"\\\""};
    assert_int_equal(store_begin(f->s), 0);
    for (size_t i = 0; i < 4; i++) {
        struct result r;
        result_init(&r);
        r.has_seq = true;
        r.seq = i + 1;
        char check[32];
        snprintf(check, sizeof(check), "tcp://h:%zu", 10 + i);
        assert_int_equal(result_set_str(&r.target, "corp"), 0);
        assert_int_equal(result_set_str(&r.check, check), 0);
        r.started_at_us = 100 + (int64_t)i;
        r.ok = true;
        /* The third has no detail and no known address at all. */
        struct store_facts facts = {0};
        if (i != 2) {
            assert_int_equal(result_set_str(&r.detail, awkward[i]), 0);
            facts.hash[STORE_FACT_ADDRESS] = 1 + i;
            facts.text[STORE_FACT_ADDRESS] = awkward[i];
        }
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal(wire_result_encode(&r, &buf, &len), 0);
        struct store_prev prev;
        assert_int_equal(store_result_add_facts(f->s, a, "lyon", &r, buf, len, &facts, &prev), 1);
        free(buf);
        result_clear(&r);
    }
    assert_int_equal(store_commit(f->s), 0);
    struct latest_texts x = {0};
    assert_int_equal(store_latest_each(f->s, "corp", note_latest_texts, &x), 0);
    assert_int_equal(x.n, 4);
    /* Ordered by check: tcp://h:10 .. tcp://h:13. */
    for (size_t i = 0; i < 4; i++) {
        if (i == 2) {
            assert_true(x.detail_null[i]);
            assert_string_equal(x.address[i], "");
            continue;
        }
        assert_string_equal(x.detail[i], awkward[i]);
        assert_string_equal(x.address[i], awkward[i]);
    }
}

/* The contract's tests, run on each backend. */
#define CONTRACT_TESTS(SETUP, TEARDOWN)                                                            \
    cmocka_unit_test_setup_teardown(test_results_and_duplicates, SETUP, TEARDOWN),                 \
        cmocka_unit_test_setup_teardown(test_rollback, SETUP, TEARDOWN),                           \
        cmocka_unit_test_setup_teardown(test_mailflow_result, SETUP, TEARDOWN),                    \
        cmocka_unit_test_setup_teardown(test_latest_texts, SETUP, TEARDOWN)

int main(void)
{
    const struct CMUnitTest sqlite_tests[] = {
        CONTRACT_TESTS(setup, teardown),
    };
    const struct CMUnitTest pg_tests[] = {
        CONTRACT_TESTS(pg_setup, pg_teardown),
    };
    return STORE_TEST_RUN(sqlite_tests, pg_tests);
}
