/*
 * probenow — run-now through the collector and wait for the answers
 * (probenow.h).
 */
#include "probenow.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "cluster.h"
#include "config.h"
#include "store.h"

#define PROBENOW_POLL_US 100000 /* how often the store is looked at */

struct tracked {
    char name[RESULT_NAME_MAX + 1];
    char network[RESULT_NAME_MAX + 1];
    size_t checks; /* configured checks seen in the latest state */
    size_t fresh;  /* of those, probed since the request */
    bool answered;
};

struct scan {
    struct tracked *agents;
    size_t n;
    int64_t since_us;
};

static int count_fresh(const struct store_latest *l, void *arg)
{
    struct scan *sc = arg;
    /* rdap:// checks run every rdap_interval on a few agents only
     * (registries rate-limit) and not on demand: nothing to wait for. */
    if (l->discovered || strncmp(l->check, "rdap://", 7) == 0)
        return 0;
    for (size_t i = 0; i < sc->n; i++) {
        struct tracked *t = &sc->agents[i];
        if (strcmp(t->name, l->agent) != 0)
            continue;
        t->checks++;
        if (l->at_us >= sc->since_us) {
            t->fresh++;
        }
        if (l->network != NULL)
            snprintf(t->network, sizeof(t->network), "%s", l->network);
    }
    return 0;
}

/* The collectors expected to answer: those alive when it was queued. */
#define PROBENOW_COLLECTORS_MAX 64

struct alive_ctx {
    int64_t after_us;
    char ids[PROBENOW_COLLECTORS_MAX][STORE_COLLECTOR_ID_MAX + 1];
    bool answered[PROBENOW_COLLECTORS_MAX];
    size_t n;
};

static int note_alive(const struct store_collector *o, void *arg)
{
    struct alive_ctx *x = arg;
    if (o->heartbeat_us > x->after_us && x->n < PROBENOW_COLLECTORS_MAX)
        snprintf(x->ids[x->n++], sizeof(x->ids[0]), "%s", o->id);
    return 0;
}

struct answers_ctx {
    struct alive_ctx *alive;
    struct scan *sc;
    size_t new_answers;
};

/* One collector's answer: the agents it asked join those waited for. */
static int take_answer(const struct store_probe_answer *a, void *arg)
{
    struct answers_ctx *x = arg;
    size_t i = 0;
    while (i < x->alive->n && strcmp(x->alive->ids[i], a->collector) != 0)
        i++;
    if (i < x->alive->n && x->alive->answered[i])
        return 0;
    if (i == x->alive->n) {
        if (x->alive->n == PROBENOW_COLLECTORS_MAX)
            return 0;
        /* One that started after the request was queued. */
        snprintf(x->alive->ids[i], sizeof(x->alive->ids[0]), "%s", a->collector);
        x->alive->n++;
    }
    x->alive->answered[i] = true;
    x->new_answers++;
    json_error_t jerr;
    json_t *names = json_loads(a->agents, 0, &jerr);
    for (size_t k = 0; k < json_array_size(names); k++) {
        const char *name = json_string_value(json_array_get(names, k));
        if (name == NULL || x->sc->n == PROBENOW_AGENTS_MAX)
            continue;
        size_t j = 0;
        while (j < x->sc->n && strcmp(x->sc->agents[j].name, name) != 0)
            j++;
        if (j == x->sc->n)
            snprintf(x->sc->agents[x->sc->n++].name, sizeof(x->sc->agents[0].name), "%s", name);
    }
    json_decref(names);
    return 0;
}

static size_t count_answered(const struct alive_ctx *a)
{
    size_t n = 0;
    for (size_t i = 0; i < a->n; i++)
        n += a->answered[i];
    return n;
}

/* Opens the store and queues the request; 0, or 2 after printing why. */
static int queue_request(const struct collconf *c, const char *target, int wait_s,
                         struct store **stp, struct alive_ctx *alive, int64_t *id, int64_t *at_us)
{
    char err[STORE_ERR_MAX];
    struct store *st = store_open(c->database, err, sizeof(err));
    if (st == NULL) {
        char msg[STORE_ERR_MAX + CONFIG_ERR_MAX];
        collconf_error(c, "database", err, msg, sizeof(msg));
        fprintf(stderr, "vantage-collector: %s\n", msg);
        return 2;
    }
    *at_us = clock_wall_us();
    alive->after_us = *at_us - CLUSTER_ALIVE_US;
    if (store_collectors_each(st, note_alive, alive) < 0) {
        fprintf(stderr, "vantage-collector: cannot read the collectors: %s\n", store_error(st));
        store_close(&st);
        return 2;
    }
    if (alive->n == 0) {
        fprintf(stderr,
                "vantage-collector: no collector of database %s is running (none has recorded a "
                "heartbeat in the last %llds): is 'vantage-collector -c %s serve' running?\n",
                c->database, CLUSTER_ALIVE_US / 1000000, c->path);
        store_close(&st);
        return 2;
    }
    struct store_probe_request r = {
        .target = target, .created_us = *at_us, .expires_us = *at_us + wait_s * 1000000LL};
    if (store_probe_request_add(st, &r, id) < 0) {
        fprintf(stderr, "vantage-collector: cannot queue the request: %s\n", store_error(st));
        store_close(&st);
        return 2;
    }
    *stp = st;
    return 0;
}

int probenow_run(const struct collconf *c, const char *target, int wait_s, FILE *progress,
                 struct probenow_outcome *out)
{
    memset(out, 0, sizeof(*out));
    const struct wire_target *wt = collconf_target(c, target);
    if (wt == NULL) {
        fprintf(stderr, "vantage-collector: no target '%s' in %s\n", target, c->path);
        return 2;
    }
    struct scan sc = {0};
    sc.agents = calloc(PROBENOW_AGENTS_MAX, sizeof(*sc.agents));
    struct alive_ctx *alive = calloc(1, sizeof(*alive));
    if (sc.agents == NULL || alive == NULL) {
        free(sc.agents);
        free(alive);
        fprintf(stderr, "vantage-collector: out of memory\n");
        return 2;
    }
    struct store *st = NULL;
    int64_t id = 0;
    int rc = queue_request(c, target, wait_s, &st, alive, &id, &sc.since_us);
    if (rc != 0) {
        free(sc.agents);
        free(alive);
        return rc;
    }
    out->at_us = sc.since_us;
    size_t expected = 0;
    for (size_t i = 0; i < wt->nchecks; i++)
        expected += strncmp(wt->checks[i], "rdap://", 7) != 0;

    uint64_t start = clock_mono_us();
    uint64_t deadline = start + (uint64_t)wait_s * 1000000;
    /* Collectors are woken by the request (PostgreSQL) or read the queue
     * every CLUSTER_POLL_US, and read it at each heartbeat in any case:
     * one that has not answered in a few heartbeats is busy or dying,
     * and its agents are not waited for. */
    uint64_t answers_deadline = start + 3 * CLUSTER_HEARTBEAT_US;
    bool answers_done = false;
    while (clock_mono_us() < deadline) {
        usleep(PROBENOW_POLL_US);
        if (!answers_done) {
            struct answers_ctx ax = {.alive = alive, .sc = &sc};
            if (store_probe_answers_each(st, id, take_answer, &ax) < 0)
                continue; /* the daemons may hold the write lock for a moment */
            out->collectors = count_answered(alive);
            answers_done = out->collectors == alive->n || clock_mono_us() >= answers_deadline;
            if (answers_done && progress != NULL) {
                fprintf(progress,
                        "asked %zu connected agents (through %zu collector%s) to probe %s now; "
                        "waiting up to %ds\n",
                        sc.n, out->collectors, out->collectors == 1 ? "" : "s", target, wait_s);
                for (size_t i = 0; i < alive->n; i++)
                    if (!alive->answered[i])
                        fprintf(progress,
                                "  collector %s did not answer: its agents are not asked\n",
                                alive->ids[i]);
            }
        }
        for (size_t i = 0; i < sc.n; i++)
            sc.agents[i].checks = sc.agents[i].fresh = 0;
        if (store_latest_each(st, target, count_fresh, &sc) < 0)
            continue;
        for (size_t i = 0; i < sc.n; i++) {
            struct tracked *t = &sc.agents[i];
            size_t want = expected > t->checks ? expected : t->checks;
            if (t->answered || want == 0 || t->fresh < want)
                continue;
            t->answered = true;
            out->answered++;
            if (progress != NULL)
                fprintf(progress, "  %-20s %-16s answered after %.1fs (%zu checks)\n", t->name,
                        t->network, (double)(clock_wall_us() - sc.since_us) / 1e6, t->fresh);
        }
        if (answers_done && out->answered == sc.n)
            break;
    }
    out->asked = sc.n;
    if (progress != NULL && out->answered < sc.n) {
        fprintf(progress, "missing after %ds:", wait_s);
        for (size_t i = 0; i < sc.n; i++)
            if (!sc.agents[i].answered)
                fprintf(progress, " %s", sc.agents[i].name);
        fputc('\n', progress);
    }
    store_close(&st);
    free(sc.agents);
    free(alive);
    return 0;
}
