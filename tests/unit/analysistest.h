/*
 * analysistest — synthetic snapshots for the unit tests of
 * collector/analysis/ (test_analysis*.c): offices shaped like the lab's
 * (hq: hq1 hq2, branch: br1 br2, home: home1), states added per agent and
 * check, the analysis run on them, and list assertions. Include it after
 * cmocka.h; every function is static inline, so that a file may use some
 * of them.
 */
#ifndef VANTAGE_TEST_ANALYSISTEST_H
#define VANTAGE_TEST_ANALYSISTEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "analysis.h"
#include "changes.h"

#define NOW        (1800000000LL * 1000000)
#define MIN        (60LL * 1000000)
#define STATES_MAX 128

#define IMAPS "imaps://mail.example.com"
#define SUBM  "submission://mail.example.com"
#define WEB   "https://webmail.example.com/"
#define MX    "dns://example.com/MX"

struct snap {
    struct analysis_state st[STATES_MAX];
    size_t n;
    struct analysis_change ch[16];
    size_t nch;
    struct analysis_input in;
    struct analysis_diagnosis d;
};

static const char *const office_agents[] = {"hq1", "hq2", "br1", "br2", "home1"};
static const char *const office_nets[] = {"hq", "hq", "branch", "branch", "home"};

/* Adds a fresh state; failing ones started failing at since. */
static inline struct analysis_state *add(struct snap *s, const char *agent, const char *net,
                                         const char *check, enum result_error e)
{
    assert_true(s->n < STATES_MAX);
    struct analysis_state *st = &s->st[s->n++];
    bool ok = e == RESULT_OK;
    *st = (struct analysis_state){
        .agent = agent,
        .network = net,
        .check = check,
        .ok = ok,
        .layer = ok ? RESULT_LAYER_NONE : result_error_layer(e),
        .error = e,
        .fail_layer = ok ? RESULT_LAYER_NONE : result_error_layer(e),
        .fail_error = e,
        .at_us = NOW - MIN / 2,
        .since_us = NOW - 10 * MIN,
        .episode_us = ok ? 0 : NOW - 10 * MIN,
        .streak_n = 10,
        .total_us = 40000,
        .phase = RESULT_PHASE_TLS,
        .phase_us = 30000,
    };
    return st;
}

/* Every office agent gets check with error e, except where overridden. */
static inline void all(struct snap *s, const char *check, enum result_error e)
{
    for (size_t i = 0; i < 5; i++)
        add(s, office_agents[i], office_nets[i], check, e);
}

static inline struct analysis_state *find(struct snap *s, const char *agent, const char *check)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->st[i].agent, agent) == 0 && strcmp(s->st[i].check, check) == 0)
            return &s->st[i];
    fail_msg("no state %s %s", agent, check);
    return NULL;
}

static inline void run(struct snap *s)
{
    s->in = (struct analysis_input){
        .target = "corp",
        .domain = "example.com",
        .now_us = NOW,
        .stale_us = 3 * MIN,
        .states = s->st,
        .nstates = s->n,
        .changes = s->ch,
        .nchanges = s->nch,
    };
    char err[128];
    assert_int_equal(analysis_diagnose(&s->in, &s->d, err, sizeof(err)), 0);
}

/* Diagnoses s->in as the test set it. */
static inline void run_in(struct snap *s)
{
    char err[128];
    assert_int_equal(analysis_diagnose(&s->in, &s->d, err, sizeof(err)), 0);
}

static inline void done(struct snap *s)
{
    analysis_diagnosis_clear(&s->d);
    assert_null(s->d.findings);
}

static inline void assert_list(const struct analysis_list *l, const char *csv)
{
    char got[512] = "";
    for (size_t i = 0; i < l->n; i++) {
        strcat(got, i ? "," : "");
        strcat(got, l->v[i]);
    }
    assert_string_equal(got, csv);
}

static inline void healthy_office(struct snap *s)
{
    all(s, IMAPS, RESULT_OK);
    all(s, SUBM, RESULT_OK);
    all(s, WEB, RESULT_OK);
    all(s, MX, RESULT_OK);
}

static inline void fail_state(struct analysis_state *st, enum result_error e)
{
    st->ok = false;
    st->layer = st->fail_layer = result_error_layer(e);
    st->error = st->fail_error = e;
    st->episode_us = st->since_us;
}

/* Every office agent's state of a dns:// check gets these last answers. */
static inline void set_answers(struct snap *s, const char *check, const char *answers)
{
    for (size_t i = 0; i < 5; i++)
        find(s, office_agents[i], check)->answers = answers;
}

#endif
