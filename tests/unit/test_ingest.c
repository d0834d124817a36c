/*
 * Unit tests of collector/ingest.c with two real sqlite stores on one
 * file, as two collectors sharing a database are after an agent's
 * failover: the same batch ingested by both is stored once and its gaps
 * (results the agent's spool dropped) are counted lost once; and the
 * agent's counts of refused and clamped input (store_agent_counts) ride
 * on the batch's transaction: a batch rolled back counts nothing, its
 * resend counts once, a replay after the commit counts duplicates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "ingest.h"
#include "log.h"
#include "store.h"
#include "wire.h"

#define NSTORES 2

struct fixture {
    char dir[64];
    char path[128];
    struct log *log;
    struct store *s[NSTORES]; /* two collectors' connections to one file */
    struct ingest *in[NSTORES];
    int64_t agent;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/vantage-test-ingest-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/v.db", f->dir);
    f->log = log_create(stderr, "test", LOG_LEVEL_ERROR);
    assert_non_null(f->log);
    char err[STORE_ERR_MAX];
    for (int i = 0; i < NSTORES; i++) {
        f->s[i] = store_open(f->path, err, sizeof(err));
        if (f->s[i] == NULL)
            fail_msg("store_open: %s", err);
        f->in[i] = ingest_create(f->s[i], f->log);
        assert_non_null(f->in[i]);
    }
    assert_int_equal(store_agent_id(f->s[0], "a1", &f->agent), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < NSTORES; i++) {
        ingest_destroy(&f->in[i]);
        store_close(&f->s[i]);
    }
    log_destroy(&f->log);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* One passing result of the agent, encoded: seq, started at `at`. */
static void encode_one(uint64_t seq, int64_t at, uint8_t **buf, size_t *len)
{
    struct result r;
    result_init(&r);
    assert_int_equal(result_set_str(&r.target, "corp"), 0);
    assert_int_equal(result_set_str(&r.check, "tcp://198.51.100.7:993"), 0);
    r.ok = true;
    r.has_seq = true;
    r.seq = seq;
    r.started_at_us = at;
    assert_int_equal(wire_result_encode(&r, buf, len), 0);
    result_clear(&r);
}

/* Ingests one batch of the agent's results with these seqs through
 * collector c, whose view of the agent's stored seq is *max_seq. */
static void ingest_seqs(struct fixture *f, int c, const uint64_t *seqs, size_t n, uint64_t *max_seq,
                        struct ingest_stats *st)
{
    uint8_t *bufs[8];
    size_t lens[8];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++)
        encode_one(seqs[i], 1000000 * (int64_t)seqs[i], &bufs[i], &lens[i]);
    struct wire_batch b = {.results = (const uint8_t **)bufs, .lens = lens, .nresults = n};
    assert_int_equal(ingest_begin(f->in[c]), 0);
    assert_int_equal(ingest_batch(f->in[c], f->agent, "a1", "hq", &b, st, max_seq), 0);
    assert_int_equal(ingest_commit(f->in[c]), 0);
    for (size_t i = 0; i < n; i++)
        free(bufs[i]);
}

static int get_agent(const struct store_agent *a, void *arg)
{
    *(struct store_agent *)arg = *a;
    return 0;
}

static void test_batch_twice_counts_gaps_once(void **state)
{
    struct fixture *f = *state;
    /* The agent's spool dropped 3 and 4 before they were sent. */
    static const uint64_t seqs[] = {1, 2, 5, 6};
    struct ingest_stats st = {0};
    uint64_t max_a = 0, max_b = 0;
    ingest_seqs(f, 0, seqs, 4, &max_a, &st);
    assert_int_equal(st.stored, 4);
    assert_int_equal(max_a, 6);
    /* Collector b, which last saw the agent at seq 0, gets the same batch
     * (the agent failed over before a's ack arrived). */
    ingest_seqs(f, 1, seqs, 4, &max_b, &st);
    assert_int_equal(st.stored, 4);
    assert_int_equal(st.duplicates, 4);
    assert_int_equal(max_b, 6);
    struct store_agent a = {0};
    assert_int_equal(store_agent_get(f->s[1], f->agent, get_agent, &a), 0);
    assert_int_equal(a.committed_seq, 6);
    assert_int_equal(a.lost, 2); /* 3 and 4, once: not 4 */

    /* b goes on from there; a's stale view (6) meets b's rows: a result
     * after a real gap (9, 10 dropped) is counted by whoever stores it. */
    static const uint64_t more[] = {7, 8, 11};
    ingest_seqs(f, 1, more, 3, &max_b, &st);
    ingest_seqs(f, 0, more, 3, &max_a, &st);
    assert_int_equal(store_agent_get(f->s[0], f->agent, get_agent, &a), 0);
    assert_int_equal(a.committed_seq, 11);
    assert_int_equal(a.lost, 4);
}

/* One batch as a broken agent sends it: seqs 1 and 2 now, seq 3 from
 * five hours ahead (its clock is wrong), and bytes that are no result.
 * Ingested by collector 0, committed or rolled back (killed before its
 * commit). */
static void ingest_hostile(struct fixture *f, bool commit, struct ingest_stats *st)
{
    uint8_t *bufs[4];
    size_t lens[4];
    int64_t now = clock_wall_us();
    for (int i = 0; i < 3; i++)
        encode_one((uint64_t)i + 1, i == 2 ? now + 5 * 3600 * 1000000LL : now, &bufs[i], &lens[i]);
    static const uint8_t junk[] = "\xff\xff not a result";
    bufs[3] = (uint8_t *)junk;
    lens[3] = sizeof(junk);
    struct wire_batch b = {.results = (const uint8_t **)bufs, .lens = lens, .nresults = 4};
    uint64_t max_seq = 0;
    assert_int_equal(ingest_begin(f->in[0]), 0);
    assert_int_equal(ingest_batch(f->in[0], f->agent, "a1", "hq", &b, st, &max_seq), 0);
    if (commit)
        assert_int_equal(ingest_commit(f->in[0]), 0);
    else
        ingest_rollback(f->in[0]);
    for (int i = 0; i < 3; i++)
        free(bufs[i]);
}

static void assert_agent_counts(struct fixture *f, uint64_t dup, uint64_t inv, uint64_t cl,
                                uint64_t ref)
{
    struct store_agent a = {0};
    assert_int_equal(store_agent_get(f->s[0], f->agent, get_agent, &a), 0);
    assert_true(a.counts.duplicates == dup);
    assert_true(a.counts.invalid == inv);
    assert_true(a.counts.clamped == cl);
    assert_true(a.counts.refused == ref);
}

static void test_counts_exactly_once(void **state)
{
    struct fixture *f = *state;
    struct ingest_stats st = {0};
    /* The collector is killed before its commit: nothing stored, nothing
     * counted, although the batch was seen. */
    ingest_hostile(f, false, &st);
    assert_agent_counts(f, 0, 0, 0, 0);
    /* The agent resends it (no ack came): counted once. */
    ingest_hostile(f, true, &st);
    assert_agent_counts(f, 0, 1, 1, 0);
    /* Replayed after the commit (the ack lost, or an attacker): it was
     * received twice. The stored results are duplicates, not clamped a
     * second time; the bytes that are no result are refused again. */
    ingest_hostile(f, true, &st);
    assert_agent_counts(f, 3, 2, 1, 0);
    /* A refused message (undecodable, unexpected, after revocation) is
     * counted in the open transaction, and rolls back with it. */
    assert_int_equal(ingest_begin(f->in[0]), 0);
    assert_int_equal(ingest_refused(f->in[0], f->agent, "a1"), 0);
    ingest_rollback(f->in[0]);
    assert_agent_counts(f, 3, 2, 1, 0);
    assert_int_equal(ingest_begin(f->in[0]), 0);
    assert_int_equal(ingest_refused(f->in[0], f->agent, "a1"), 0);
    assert_int_equal(ingest_commit(f->in[0]), 0);
    assert_agent_counts(f, 3, 2, 1, 1);
    /* The per-run stats count what committed and what did not alike:
     * serve adds them to its totals only after a commit. */
    assert_int_equal(st.clamped, 2);
    assert_int_equal(st.duplicates, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batch_twice_counts_gaps_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counts_exactly_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
