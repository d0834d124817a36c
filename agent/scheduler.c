/*
 * scheduler — periodic and on-demand probing of the configured targets
 * (scheduler.h).
 */
#include "scheduler.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"

/* Each run lands within +-JITTER_PCT of the interval, so agents that
 * started together drift apart instead of hitting a server together. */
#define JITTER_PCT 10

/* A check outlives its target while a probe of it runs: the target set
 * may be replaced at any time, and the probe's callback still holds it. */
struct check {
    char *spec;
    bool running;
    bool orphan;              /* its target is gone: free when the probe ends */
    uint64_t skipped;
};

struct sched_target {
    struct scheduler *owner;
    char *name;
    uint32_t interval_ms;
    uint32_t timeout_ms;
    const struct agentconf_credentials *cred;
    struct check **checks;
    size_t nchecks;
    uv_timer_t timer;
    bool closing;
};

struct scheduler {
    uv_loop_t *loop;
    struct probe_engine *engine;
    struct log *log;
    const struct agentconf *conf;
    scheduler_result_cb on_result;
    void *arg;
    struct sched_target **targets;
    size_t ntargets;
    uint64_t rng;             /* xorshift state for jitter */
    unsigned pending_close;
    bool destroyed;
    unsigned in_flight;       /* probes started and not yet reported */
};

static uint64_t next_rand(struct scheduler *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return s->rng;
}

static uint64_t jittered(struct scheduler *s, uint32_t interval_ms)
{
    uint64_t span = (uint64_t)interval_ms * JITTER_PCT / 100;
    if (span == 0)
        return interval_ms;
    return interval_ms - span + next_rand(s) % (2 * span + 1);
}

struct probe_ctx {
    struct scheduler *s;
    struct check *check;
};

static void free_check(struct check *c)
{
    free(c->spec);
    free(c);
}

static void maybe_free(struct scheduler *s);

static void on_probe_done(struct result *r, void *arg)
{
    struct probe_ctx *pc = arg;
    struct scheduler *s = pc->s;
    s->in_flight--;
    pc->check->running = false;
    if (pc->check->orphan)
        free_check(pc->check);
    if (!s->destroyed && s->on_result != NULL)
        s->on_result(r, s->arg);
    else
        result_clear(r);
    free(pc);
    maybe_free(s);
}

static int start_check(struct scheduler *s, struct sched_target *t, struct check *c)
{
    if (c->running) {
        c->skipped++;
        log_warn(s->log, "%s %s: previous probe still running, skipped (%llu so far)", t->name,
                 c->spec, (unsigned long long)c->skipped);
        return 0;
    }
    struct probe_ctx *pc = calloc(1, sizeof(*pc));
    if (pc == NULL)
        return 0;
    pc->s = s;
    pc->check = c;
    struct probe_params p = {
        .check = c->spec,
        .target = t->name,
        .timeout_us = (uint64_t)t->timeout_ms * 1000,
        .user = t->cred ? t->cred->user : NULL,
        .password = t->cred ? t->cred->password : NULL,
    };
    char err[256];
    if (probe_engine_start(s->engine, &p, on_probe_done, pc, err, sizeof(err)) < 0) {
        log_error(s->log, "%s %s: cannot probe: %s", t->name, c->spec, err);
        free(pc);
        return 0;
    }
    c->running = true;
    s->in_flight++;
    return 1;
}

static int run_target(struct scheduler *s, struct sched_target *t)
{
    int started = 0;
    for (size_t i = 0; i < t->nchecks; i++)
        started += start_check(s, t, t->checks[i]);
    return started;
}

static void on_timer(uv_timer_t *h)
{
    struct sched_target *t = h->data;
    struct scheduler *s = t->owner;
    run_target(s, t);
    uv_timer_start(&t->timer, on_timer, jittered(s, t->interval_ms), 0);
}

static void free_target(struct sched_target *t)
{
    for (size_t i = 0; i < t->nchecks; i++) {
        if (t->checks[i]->running)
            t->checks[i]->orphan = true;
        else
            free_check(t->checks[i]);
    }
    free(t->checks);
    free(t->name);
    free(t);
}

static void on_target_closed(uv_handle_t *h)
{
    struct sched_target *t = h->data;
    struct scheduler *s = t->owner;
    free_target(t);
    s->pending_close--;
    maybe_free(s);
}

static void maybe_free(struct scheduler *s)
{
    if (s->destroyed && s->pending_close == 0 && s->in_flight == 0) {
        free(s->targets);
        free(s);
    }
}

struct scheduler *scheduler_create(const struct scheduler_params *p)
{
    struct scheduler *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->loop = p->loop;
    s->engine = p->engine;
    s->log = p->log;
    s->conf = p->conf;
    s->on_result = p->on_result;
    s->arg = p->arg;
    s->rng = clock_mono_us() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
    if (s->rng == 0)
        s->rng = 1;
    return s;
}

/* Closes the current targets' timers; their checks are freed on close.
 * Probes in flight keep running but no longer point at a check. */
static void drop_targets(struct scheduler *s)
{
    for (size_t i = 0; i < s->ntargets; i++) {
        struct sched_target *t = s->targets[i];
        s->pending_close++;
        uv_close((uv_handle_t *)&t->timer, on_target_closed);
    }
    s->ntargets = 0;
}

int scheduler_set_targets(struct scheduler *s, const struct wire_config *c)
{
    struct sched_target **fresh = calloc(c->ntargets ? c->ntargets : 1, sizeof(*fresh));
    if (fresh == NULL)
        return -1;
    int scheduled = 0;
    size_t n = 0;
    for (size_t i = 0; i < c->ntargets; i++) {
        const struct wire_target *w = &c->targets[i];
        struct sched_target *t = calloc(1, sizeof(*t));
        if (t == NULL)
            break;
        t->owner = s;
        t->name = strdup(w->name);
        t->interval_ms = w->interval_ms ? w->interval_ms : 60000;
        t->timeout_ms = w->timeout_ms ? w->timeout_ms : 10000;
        if (w->credentials != NULL) {
            t->cred = agentconf_credentials(s->conf, w->credentials);
            if (t->cred == NULL)
                log_warn(s->log, "target %s: no [credentials %s] in %s; login checks skip the login",
                         w->name, w->credentials, s->conf->path);
        }
        t->checks = calloc(w->nchecks ? w->nchecks : 1, sizeof(*t->checks));
        if (t->name == NULL || t->checks == NULL) {
            free_target(t);
            break;
        }
        for (size_t j = 0; j < w->nchecks; j++) {
            struct check *ck = calloc(1, sizeof(*ck));
            if (ck == NULL || (ck->spec = strdup(w->checks[j])) == NULL) {
                free(ck);
                continue;
            }
            t->checks[t->nchecks++] = ck;
        }
        uv_timer_init(s->loop, &t->timer);
        t->timer.data = t;
        /* The first run comes within a tenth of the interval: soon after a
         * start, yet not every target at the same instant. */
        uv_timer_start(&t->timer, on_timer, next_rand(s) % (t->interval_ms / 10 + 1), 0);
        fresh[n++] = t;
        scheduled += (int)t->nchecks;
    }
    drop_targets(s);
    free(s->targets);
    s->targets = fresh;
    s->ntargets = n;
    log_info(s->log, "scheduling %zu targets, %d checks", n, scheduled);
    return scheduled;
}

int scheduler_run_now(struct scheduler *s, const char *target)
{
    int started = 0;
    for (size_t i = 0; i < s->ntargets; i++)
        if (target == NULL || target[0] == '\0' || strcmp(s->targets[i]->name, target) == 0)
            started += run_target(s, s->targets[i]);
    return started;
}

void scheduler_destroy(struct scheduler **sp)
{
    if (sp == NULL || *sp == NULL)
        return;
    struct scheduler *s = *sp;
    *sp = NULL;
    s->destroyed = true;
    drop_targets(s);
    maybe_free(s);
}
