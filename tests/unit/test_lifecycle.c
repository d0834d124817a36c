/*
 * Unit tests of collector/notify/lifecycle.c (ids, opened / changed /
 * resolved) and of the store's findings, events and notification queue,
 * against a real sqlite file per test.
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

#include "collconf.h"
#include "lifecycle.h"
#include "notifier.h"
#include "store.h"

struct fixture {
    char dir[64];
    char path[128];
    struct store *s;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/vantage-test-lifecycle-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/v.db", f->dir);
    char err[STORE_ERR_MAX];
    f->s = store_open(f->path, err, sizeof(err));
    if (f->s == NULL)
        fail_msg("store_open: %s", err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(&f->s);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* A list the diagnosis owns, from a NULL-terminated array. */
static struct analysis_list list(const char *const *v)
{
    struct analysis_list l = {0};
    while (v != NULL && v[l.n] != NULL)
        l.n++;
    l.v = calloc(l.n + 1, sizeof(char *));
    for (size_t i = 0; i < l.n; i++)
        l.v[i] = strdup(v[i]);
    return l;
}

/* One finding of verdict v on networks nets and check chk. */
static void diag_one(struct analysis_diagnosis *d, enum analysis_verdict v, const char *const *nets,
                     const char *chk)
{
    const char *checks[] = {chk, NULL};
    memset(d, 0, sizeof(*d));
    d->status = ANALYSIS_STATUS_PROBLEM;
    d->findings = calloc(1, sizeof(*d->findings));
    d->nfindings = 1;
    struct analysis_finding *f = &d->findings[0];
    f->severity = ANALYSIS_SEVERITY_PROBLEM;
    f->verdict = v;
    f->layer = RESULT_LAYER_TCP;
    f->checks = list(checks);
    f->networks = list(nets);
    f->summary = strdup("down");
    f->started_at_us = 1000000;
}

struct events {
    char what[16][32];
    size_t n;
};

static int on_event(const struct store_finding *f, const char *event, void *arg)
{
    struct events *e = arg;
    assert_non_null(f->json);
    snprintf(e->what[e->n++], sizeof(e->what[0]), "%s", event);
    return 0;
}

/* One evaluation of target "t" with d (NULL = healthy). */
static void evaluate(struct store *s, struct analysis_diagnosis *d, int64_t now, struct events *ev)
{
    struct analysis_diagnosis none = {.status = ANALYSIS_STATUS_OK};
    if (d == NULL)
        d = &none;
    char err[256];
    if (lifecycle_assign_ids(s, "t", d, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    const char *json[4] = {0};
    char text[4][256];
    for (size_t i = 0; i < d->nfindings; i++) {
        snprintf(text[i], sizeof(text[i]),
                 "{\"id\":\"%s\",\"severity\":\"problem\",\"networks\":[\"%s\"]}",
                 d->findings[i].id, d->findings[i].networks.v[0]);
        json[i] = text[i];
    }
    assert_int_equal(store_begin(s), 0);
    if (lifecycle_apply(s, "t", d, json, now, on_event, ev, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    assert_int_equal(store_commit(s), 0);
}

static int count_open(const struct store_finding *f, void *arg)
{
    assert_int_equal(f->state, STORE_FINDING_OPEN);
    (*(int *)arg)++;
    return 0;
}

/* Opens after two evaluations, stays quiet while unchanged, resolves after
 * two clean ones; one id throughout, derived and stable. */
static void test_open_resolve(void **state)
{
    struct fixture *fx = *state;
    const char *nets[] = {"branch", NULL};
    struct events ev = {0};
    struct analysis_diagnosis d;
    char first_id[LIFECYCLE_ID_MAX];
    for (int round = 0; round < 3; round++) {
        diag_one(&d, ANALYSIS_NETWORK, nets, "imaps://mail.example.com");
        evaluate(fx->s, &d, 10 + round, &ev);
        if (round == 0)
            snprintf(first_id, sizeof(first_id), "%s", d.findings[0].id);
        assert_string_equal(d.findings[0].id, first_id);
        analysis_diagnosis_clear(&d);
        if (ev.n != (round == 0 ? 0u : 1u))
            fail_msg("round %d: %zu events, last %s", round, ev.n, ev.n ? ev.what[ev.n - 1] : "");
    }
    assert_string_equal(ev.what[0], "opened");
    assert_int_equal(strlen(first_id), 18);
    assert_memory_equal(first_id, "f-", 2);
    int open = 0;
    assert_int_equal(store_open_findings(fx->s, "t", count_open, &open), 0);
    assert_int_equal(open, 1);
    evaluate(fx->s, NULL, 20, &ev);
    assert_int_equal(ev.n, 1); /* one clean evaluation is not a recovery */
    evaluate(fx->s, NULL, 21, &ev);
    assert_int_equal(ev.n, 2);
    assert_string_equal(ev.what[1], "resolved");
    open = 0;
    assert_int_equal(store_open_findings(fx->s, NULL, count_open, &open), 0);
    assert_int_equal(open, 0);
}

/* Seen once, then gone: never opened, nothing recorded. */
static void test_blip(void **state)
{
    struct fixture *fx = *state;
    const char *nets[] = {"branch", NULL};
    struct events ev = {0};
    struct analysis_diagnosis d;
    diag_one(&d, ANALYSIS_SERVICE, nets, "imaps://mail.example.com");
    evaluate(fx->s, &d, 10, &ev);
    analysis_diagnosis_clear(&d);
    evaluate(fx->s, NULL, 11, &ev);
    evaluate(fx->s, NULL, 12, &ev);
    assert_int_equal(ev.n, 0);
    struct store_finding_filter f = {.with_pending = true};
    int n = 0;
    assert_int_equal(store_findings_each(fx->s, &f, count_open, &n), 0);
    assert_int_equal(n, 0);
}

/* A network finding that spreads to a second network keeps its id (the
 * derived one would change: the scope key is the first network) and says
 * changed. */
static void test_scope_change(void **state)
{
    struct fixture *fx = *state;
    const char *b[] = {"branch", NULL};
    const char *ab[] = {"a-office", "branch", NULL};
    struct events ev = {0};
    struct analysis_diagnosis d;
    char id[LIFECYCLE_ID_MAX];
    for (int i = 0; i < 2; i++) {
        diag_one(&d, ANALYSIS_NETWORK, b, "imaps://mail.example.com");
        evaluate(fx->s, &d, 10 + i, &ev);
        snprintf(id, sizeof(id), "%s", d.findings[0].id);
        analysis_diagnosis_clear(&d);
    }
    diag_one(&d, ANALYSIS_NETWORK, ab, "imaps://mail.example.com");
    char derived[LIFECYCLE_ID_MAX];
    lifecycle_finding_id("t", &d.findings[0], derived, sizeof(derived));
    assert_string_not_equal(derived, id);
    evaluate(fx->s, &d, 12, &ev);
    assert_string_equal(d.findings[0].id, id);
    analysis_diagnosis_clear(&d);
    assert_int_equal(ev.n, 2);
    assert_string_equal(ev.what[1], "changed");
}

/* The same verdict, layer and server from another evaluation (another
 * process: a restart) derives the same id; another server another. */
static void test_id_stable(void **state)
{
    (void)state;
    const char *nets[] = {"hq", NULL};
    struct analysis_diagnosis d1, d2, d3;
    diag_one(&d1, ANALYSIS_SERVICE, nets, "imaps://mail.example.com:993");
    diag_one(&d2, ANALYSIS_SERVICE, nets, "submission://mail.example.com");
    diag_one(&d3, ANALYSIS_SERVICE, nets, "imaps://other.example.com");
    char a[LIFECYCLE_ID_MAX], b[LIFECYCLE_ID_MAX], c[LIFECYCLE_ID_MAX];
    lifecycle_finding_id("t", &d1.findings[0], a, sizeof(a));
    lifecycle_finding_id("t", &d2.findings[0], b, sizeof(b));
    lifecycle_finding_id("t", &d3.findings[0], c, sizeof(c));
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    analysis_diagnosis_clear(&d1);
    analysis_diagnosis_clear(&d2);
    analysis_diagnosis_clear(&d3);
}

struct due {
    int64_t ids[8];
    char events[8][16];
    size_t n;
};

static int on_due(const struct store_notification *n, void *arg)
{
    struct due *d = arg;
    d->ids[d->n] = n->id;
    snprintf(d->events[d->n++], sizeof(d->events[0]), "%s", n->event);
    return 0;
}

/* The queue: only the oldest notification of a (receiver, finding) is
 * due, so a retried "opened" is never overtaken by its "resolved"; the
 * queue is in the file, so a new connection (a restart) sees it. */
static void test_queue_order(void **state)
{
    struct fixture *fx = *state;
    struct collconf_notify nc = {.name = "hook", .webhook = "http://127.0.0.1:1/x"};
    struct collconf conf = {.notify = &nc, .nnotify = 1};
    struct store_finding f = {.id = "f-1",
                              .target = "t",
                              .severity = "problem",
                              .verdict = "service",
                              .json = "{\"id\":\"f-1\"}"};
    assert_int_equal(store_begin(fx->s), 0);
    assert_int_equal(notifier_enqueue(fx->s, &conf, &f, "opened", 100), 0);
    assert_int_equal(notifier_enqueue(fx->s, &conf, &f, "resolved", 200), 0);
    assert_int_equal(store_commit(fx->s), 0);
    struct due d = {0};
    assert_int_equal(store_notifications_due(fx->s, 1000, 10, on_due, &d), 0);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.events[0], "opened");
    /* A failed attempt: not due before its time, and nothing overtakes it. */
    assert_int_equal(store_notification_retry(fx->s, d.ids[0], 1, 5000), 0);
    struct due d2 = {0};
    assert_int_equal(store_notifications_due(fx->s, 1000, 10, on_due, &d2), 0);
    assert_int_equal(d2.n, 0);
    store_close(&fx->s);
    char err[STORE_ERR_MAX];
    fx->s = store_open(fx->path, err, sizeof(err));
    assert_non_null(fx->s);
    uint64_t pending;
    int64_t next;
    assert_int_equal(store_notifications_pending(fx->s, &pending, &next), 0);
    assert_int_equal(pending, 2);
    assert_int_equal(next, 200);
    struct due d3 = {0};
    assert_int_equal(store_notifications_due(fx->s, 5000, 10, on_due, &d3), 0);
    assert_int_equal(d3.n, 1);
    assert_string_equal(d3.events[0], "opened");
    assert_int_equal(store_notification_done(fx->s, d3.ids[0]), 0);
    struct due d4 = {0};
    assert_int_equal(store_notifications_due(fx->s, 5000, 10, on_due, &d4), 0);
    assert_int_equal(d4.n, 1);
    assert_string_equal(d4.events[0], "resolved");
    /* min_severity = problem: a warning is not queued. */
    nc.problems_only = true;
    f.severity = "warning";
    assert_int_equal(notifier_enqueue(fx->s, &conf, &f, "opened", 300), 0);
    assert_int_equal(store_notifications_pending(fx->s, &pending, &next), 0);
    assert_int_equal(pending, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scope_change, setup, teardown),
        cmocka_unit_test(test_id_stable),
        cmocka_unit_test_setup_teardown(test_queue_order, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
