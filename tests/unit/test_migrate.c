/*
 * Unit tests of collector/cli/migrate.c's pure rules (which targets a copy
 * may write into; the source's identity) and of the store's copy
 * operations (store.h "copying a whole store") between two real sqlite
 * files. The PostgreSQL side and the command end to end are
 * tests/integration/migrate_store.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate.h"
#include "rollup.h"
#include "store.h"
#include "wire.h"

#define HOUR_US (3600LL * 1000000)

static void test_target_verdict(void **state)
{
    (void)state;
    assert_int_equal(migrate_target_verdict(false, "", "from-1"), MIGRATE_TARGET_EMPTY);
    /* An empty target that another source's abandoned copy marked. */
    assert_int_equal(migrate_target_verdict(false, "from-2", "from-1"), MIGRATE_TARGET_EMPTY);
    assert_int_equal(migrate_target_verdict(true, "from-1", "from-1"), MIGRATE_TARGET_RESUME);
    assert_int_equal(migrate_target_verdict(false, "from-1", "from-1"), MIGRATE_TARGET_RESUME);
    /* Data without a mark (a collector wrote it), or another source's. */
    assert_int_equal(migrate_target_verdict(true, "", "from-1"), MIGRATE_TARGET_OTHER);
    assert_int_equal(migrate_target_verdict(true, "from-2", "from-1"), MIGRATE_TARGET_OTHER);
}

static void test_source_id(void **state)
{
    (void)state;
    char a[STORE_COLLECTOR_ID_MAX + 1], b[STORE_COLLECTOR_ID_MAX + 1];
    migrate_source_id("/var/lib/vantage/vantage.db", a, sizeof(a));
    migrate_source_id("/var/lib/vantage/vantage.db", b, sizeof(b));
    assert_string_equal(a, b);
    assert_int_equal(strlen(a), 5 + 16);
    assert_memory_equal(a, "from-", 5);
    migrate_source_id("/var/lib/vantage/vantage2.db", b, sizeof(b));
    assert_string_not_equal(a, b);
}

struct pair {
    char dir[64];
    struct store *a, *b;
};

static struct store *open_in(const char *dir, const char *name)
{
    char path[128], err[STORE_ERR_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    struct store *s = store_open(path, err, sizeof(err));
    if (s == NULL)
        fail_msg("store_open %s: %s", path, err);
    return s;
}

static int setup(void **state)
{
    struct pair *p = calloc(1, sizeof(*p));
    assert_non_null(p);
    snprintf(p->dir, sizeof(p->dir), "/tmp/vantage-test-migrate-XXXXXX");
    assert_non_null(mkdtemp(p->dir));
    p->a = open_in(p->dir, "a.db");
    p->b = open_in(p->dir, "b.db");
    *state = p;
    return 0;
}

static int teardown(void **state)
{
    struct pair *p = *state;
    store_close(&p->a);
    store_close(&p->b);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p->dir);
    assert_int_equal(system(cmd), 0);
    free(p);
    return 0;
}

/* Stores results seq 1..n of agent "a1" (every third failing), an hour
 * apart from at_us, with network "lyon". */
static void fill(struct store *s, int n, int64_t at_us)
{
    int64_t id;
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_agent_id(s, "a1", &id), 0);
    for (int i = 1; i <= n; i++) {
        struct result r;
        result_init(&r);
        assert_int_equal(result_set_str(&r.target, "corp"), 0);
        assert_int_equal(result_set_str(&r.check, "imaps://mail.example.com"), 0);
        r.started_at_us = at_us + (int64_t)(i - 1) * HOUR_US;
        r.ok = i % 3 != 0;
        r.error = r.ok ? RESULT_OK : RESULT_TCP_TIMEOUT;
        r.layer = r.ok ? RESULT_LAYER_NONE : RESULT_LAYER_TCP;
        r.phases_us[RESULT_PHASE_TOTAL] = 1000 * (uint64_t)i;
        r.has_seq = true;
        r.seq = (uint64_t)i;
        uint8_t *rec;
        size_t len;
        assert_int_equal(wire_result_encode(&r, &rec, &len), 0);
        assert_int_equal(store_result_add(s, id, "lyon", &r, rec, len), 1);
        free(rec);
        result_clear(&r);
    }
    assert_int_equal(store_commit(s), 0);
}

struct seen {
    uint64_t seq[16];
    size_t n;
    struct store *from; /* the seq's own bytes are compared with this store's */
};

static int record_seen(const struct store_record *r, void *arg)
{
    struct seen *s = arg;
    assert_true(s->n < 16);
    s->seq[s->n++] = r->seq;
    assert_string_equal(r->network, "lyon");
    struct result d;
    char why[128];
    assert_int_equal(wire_result_decode(r->record, r->len, &d, why, sizeof(why)), 0);
    assert_int_equal(d.phases_us[RESULT_PHASE_TOTAL], 1000 * r->seq);
    result_clear(&d);
    return 0;
}

/* Results by seq, a page at a time, after a given seq. */
static void test_records_by_seq(void **state)
{
    struct pair *p = *state;
    fill(p->a, 5, 1700000000000000LL);
    struct seen s = {0};
    assert_int_equal(store_records_each(p->a, "a1", 2, 2, record_seen, &s), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.seq[0], 3);
    assert_int_equal(s.seq[1], 4);
    s.n = 0;
    assert_int_equal(store_records_each(p->a, "a1", 4, 100, record_seen, &s), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.seq[0], 5);
    s.n = 0;
    assert_int_equal(store_records_each(p->a, "nobody", 0, 100, record_seen, &s), 0);
    assert_int_equal(s.n, 0);
}

struct put {
    struct store *to;
    int rc; /* the last store_latest_row_put's */
};

static int latest_put(const struct store_latest_row *r, void *arg)
{
    struct put *p = arg;
    p->rc = store_latest_row_put(p->to, r);
    return p->rc < 0; /* a reader's callback stops it with non-zero */
}

struct latest_text {
    char buf[2048];
    size_t n;
};

static int latest_print(const struct store_latest *l, void *arg)
{
    struct latest_text *t = arg;
    t->n +=
        (size_t)snprintf(t->buf + t->n, sizeof(t->buf) - t->n,
                         "%s %s %s %s ok=%d err=%d seq=%llu at=%lld since=%lld ep=%lld "
                         "flips=%u n=%u\n",
                         l->agent, l->network, l->target, l->check, l->ok, l->error,
                         (unsigned long long)l->seq, (long long)l->at_us, (long long)l->since_us,
                         (long long)l->episode_us, l->flips, l->streak_n);
    return 0;
}

/* The latest state is copied as it is, also where the target's own
 * results would have built another (here: none at all). */
static void test_latest_rows_copied_as_they_are(void **state)
{
    struct pair *p = *state;
    fill(p->a, 5, 1700000000000000LL);
    int64_t id;
    assert_int_equal(store_begin(p->b), 0);
    assert_int_equal(store_agent_id(p->b, "a1", &id), 0);
    struct put put = {p->b, -2};
    assert_int_equal(store_latest_rows_each(p->a, "a1", latest_put, &put), 0);
    assert_int_equal(put.rc, 0);
    assert_int_equal(store_commit(p->b), 0);
    struct latest_text ta = {0}, tb = {0};
    assert_int_equal(store_latest_each(p->a, NULL, latest_print, &ta), 0);
    assert_int_equal(store_latest_each(p->b, NULL, latest_print, &tb), 0);
    assert_true(ta.n > 0);
    assert_string_equal(ta.buf, tb.buf);
    /* A row is refused outside a transaction without results. */
    assert_int_equal(store_begin(p->b), 0);
    struct result r;
    result_init(&r);
    assert_int_equal(result_set_str(&r.target, "corp"), 0);
    assert_int_equal(result_set_str(&r.check, "tcp://x:1"), 0);
    r.ok = true;
    r.started_at_us = 1700000000000000LL;
    r.has_seq = true;
    r.seq = 9;
    uint8_t *rec;
    size_t len;
    assert_int_equal(wire_result_encode(&r, &rec, &len), 0);
    assert_int_equal(store_result_add(p->b, id, "lyon", &r, rec, len), 1);
    free(rec);
    result_clear(&r);
    put.rc = -2;
    assert_int_equal(store_latest_rows_each(p->a, "a1", latest_put, &put), 0);
    assert_int_equal(put.rc, -1);
    assert_non_null(strstr(store_error(p->b), "without results"));
    store_rollback(p->b);
}

struct hours {
    struct store *to;
    int64_t last;
    size_t rows;
};

static int hour_put(const struct store_rollup *r, void *arg)
{
    struct hours *h = arg;
    h->last = r->hour_us;
    h->rows++;
    return store_rollup_put(h->to, r) < 0 ? -1 : 0;
}

struct rollup_text {
    char buf[4096];
    size_t n;
};

static int rollup_print(const struct store_rollup *r, void *arg)
{
    struct rollup_text *t = arg;
    t->n += (size_t)snprintf(
        t->buf + t->n, sizeof(t->buf) - t->n,
        "%s %s %lld n=%llu ok=%llu sum=%llu max=%llu ff=%lld fe=%d\n",
        r->network ? r->network : "-", r->check, (long long)r->hour_us, (unsigned long long)r->r.n,
        (unsigned long long)r->r.ok, (unsigned long long)r->r.total_us_sum,
        (unsigned long long)r->r.total_us_max, (long long)r->r.first_fail_us, r->r.fail_error);
    return 0;
}

/* Hour by hour, replaced not merged; then every copied result counted. */
static void test_rollups_copied_and_marked(void **state)
{
    struct pair *p = *state;
    int64_t at = 1700000000000000LL - 1700000000000000LL % HOUR_US;
    fill(p->a, 5, at);
    uint64_t rolled;
    assert_int_equal(store_rollup(p->a, 1000, &rolled), 0);
    assert_int_equal(rolled, 5);
    /* The same results in b, which has not counted them. */
    fill(p->b, 5, at);
    for (int pass = 0; pass < 2; pass++) { /* twice: a second copy changes nothing */
        struct hours h = {p->b, INT64_MIN, 0};
        size_t hours = 0;
        assert_int_equal(store_begin(p->b), 0);
        do {
            h.rows = 0;
            assert_int_equal(store_rollups_next_hour(p->a, h.last, hour_put, &h), 0);
            hours += h.rows > 0;
        } while (h.rows > 0);
        assert_int_equal(store_rollups_mark_all(p->b), 0);
        assert_int_equal(store_commit(p->b), 0);
        assert_int_equal(hours, 5);
    }
    struct rollup_filter_text {
        struct rollup_text a, b;
    } t = {0};
    struct store_rollup_filter f = {.target = "corp"};
    assert_int_equal(store_rollups_each(p->a, &f, rollup_print, &t.a), 0);
    assert_int_equal(store_rollups_each(p->b, &f, rollup_print, &t.b), 0);
    assert_true(t.a.n > 0);
    assert_string_equal(t.a.buf, t.b.buf);
    /* Marked: b's own rollup finds nothing left to count. */
    assert_int_equal(store_rollup(p->b, 1000, &rolled), 0);
    assert_int_equal(rolled, 0);
    memset(&t.b, 0, sizeof(t.b));
    assert_int_equal(store_rollups_each(p->b, &f, rollup_print, &t.b), 0);
    assert_string_equal(t.a.buf, t.b.buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_target_verdict),
        cmocka_unit_test(test_source_id),
        cmocka_unit_test_setup_teardown(test_records_by_seq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_latest_rows_copied_as_they_are, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollups_copied_and_marked, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
