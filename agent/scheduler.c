/*
 * scheduler — periodic and on-demand probing of the configured targets
 * (scheduler.h).
 */
#include "scheduler.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "discover.h"
#include "spec.h"

/* Each run lands within +-JITTER_PCT of the interval, so agents that
 * started together drift apart instead of hitting a server together. */
#define JITTER_PCT 10

/* A check outlives its target while a probe of it runs: the target set
 * may be replaced at any time, and the probe's callback still holds it. */
struct check {
    char *spec;
    struct sched_target *target; /* NULL once orphaned */
    bool running;
    bool orphan;            /* its target is gone: free when the probe ends */
    bool is_dns;            /* feeds discovery: a DNS check of the domain, or autoconfig:// */
    bool discovered;        /* a server found through the domain's DNS */
    bool is_mailflow;       /* a mailflow:// check: runs on the target's mailflow timer */
    bool is_rdap;           /* an rdap:// check: runs on the target's rdap timer only */
    int64_t not_before_us;  /* rdap: the registry asked to wait until (Retry-After) */
    struct result last_dns; /* is_dns: the latest answer (check + dns only) */
    uint64_t skipped;
};

struct sched_target {
    struct scheduler *owner;
    char *name;
    uint32_t interval_ms;
    uint32_t timeout_ms;
    uint32_t mailflow_interval_ms; /* test mail is sent on its own clock, */
    uint32_t mailflow_timeout_ms;  /* and may take longer than a dialog */
    uint32_t rdap_interval_ms;     /* registries rate-limit: rdap:// on its own clock */
    const struct agentconf_credentials *cred;
    char *domain;      /* NULL: no DNS checks, nothing discovered */
    char **configured; /* the configured check specs */
    size_t nconfigured;
    struct check **checks; /* configured, then DNS, then discovered */
    size_t nchecks;
    size_t cap;
    uv_timer_t timer;
    uv_timer_t mailflow_timer; /* runs the mailflow:// checks */
    uv_timer_t rdap_timer;     /* runs the rdap:// checks */
    unsigned open_handles;     /* timers not yet closed: free the target at 0 */
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
    uint64_t rng; /* xorshift state for jitter */
    unsigned pending_close;
    bool destroyed;
    unsigned in_flight; /* probes started and not yet reported */
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
    result_clear(&c->last_dns);
    free(c->spec);
    free(c);
}

static void update_discovered(struct scheduler *s, struct sched_target *t);
static void release_check(struct check *c);
static int start_check(struct scheduler *s, struct sched_target *t, struct check *c);

/* Keeps what discovery needs of a DNS check's result: its spec, its
 * status and the records. */
static void keep_dns(struct check *c, const struct result *r)
{
    result_clear(&c->last_dns);
    struct result *k = &c->last_dns;
    if (result_set_str(&k->check, r->check) < 0)
        return;
    k->ok = r->ok;
    k->error = r->error;
    for (size_t i = 0; i < r->ndns; i++) {
        const struct result_dns *d = &r->dns[i];
        struct result_dns *kd = result_add_dns(k);
        if (kd == NULL)
            return;
        (void)result_set_str(&kd->name, d->name);
        (void)result_set_str(&kd->type, d->type);
        (void)result_set_str(&kd->rcode, d->rcode);
        for (size_t j = 0; j < d->nanswers; j++)
            (void)result_list_add(&kd->answers, &kd->nanswers, d->answers[j]);
        kd->ttl = d->ttl;
    }
    /* autoconfig://: the servers each source names (discover.h). */
    for (size_t i = 0; i < r->nautoconfig; i++) {
        const struct result_autoconfig *a = &r->autoconfig[i];
        struct result_autoconfig *ka = result_add_autoconfig(k);
        if (ka == NULL)
            return;
        (void)result_set_str(&ka->source, a->source);
        for (size_t j = 0; j < a->nservers; j++) {
            struct result_autoconfig_server *ks = result_autoconfig_add_server(ka);
            if (ks == NULL)
                return;
            (void)result_set_str(&ks->protocol, a->servers[j].protocol);
            (void)result_set_str(&ks->host, a->servers[j].host);
            (void)result_set_str(&ks->socket, a->servers[j].socket);
            ks->port = a->servers[j].port;
        }
    }
}

static void maybe_free(struct scheduler *s);

static void on_probe_done(struct result *r, void *arg)
{
    struct probe_ctx *pc = arg;
    struct scheduler *s = pc->s;
    s->in_flight--;
    struct check *c = pc->check;
    c->running = false;
    if (c->orphan) {
        /* Its target went (new targets, or the agent stopping) while it
         * ran: nothing of it is read after this. */
        free_check(c);
    } else {
        if (c->is_dns && !s->destroyed) {
            keep_dns(c, r);
            update_discovered(s, c->target);
        }
        if (c->is_rdap && r->retry_at_us > 0)
            c->not_before_us = r->retry_at_us;
    }
    if (!s->destroyed && s->on_result != NULL)
        s->on_result(r, s->arg);
    else
        result_clear(r);
    free(pc);
    maybe_free(s);
}

/* The first configured check of one of the kinds, in order of preference. */
static const char *first_check(const struct sched_target *t, const enum spec_kind *kinds,
                               size_t nkinds)
{
    for (size_t k = 0; k < nkinds; k++)
        for (size_t i = 0; i < t->nconfigured; i++) {
            const char *sep = strstr(t->configured[i], "://");
            const char *scheme = spec_scheme(kinds[k]);
            if (sep != NULL && (size_t)(sep - t->configured[i]) == strlen(scheme) &&
                strncmp(t->configured[i], scheme, strlen(scheme)) == 0)
                return t->configured[i];
        }
    return NULL;
}

/* A mailflow check borrows what its spec leaves out from the target: the
 * submission (else smtps) check to send through, the imaps (else imap,
 * pop3s, pop3) check to read through, and for mailflow://@CREDENTIALS that
 * section's user and password. Its timeout is the target's
 * mailflow_timeout (default 120 s): the target's timeout is for a dialog,
 * not for mail to arrive. */
static void mailflow_params(struct scheduler *s, const struct sched_target *t,
                            const struct check *c, struct probe_params *p)
{
    static const enum spec_kind via[] = {SPEC_SUBMISSION, SPEC_SMTPS};
    static const enum spec_kind read[] = {SPEC_IMAPS, SPEC_IMAP, SPEC_POP3S, SPEC_POP3};
    p->mailflow_via = first_check(t, via, sizeof(via) / sizeof(via[0]));
    p->mailflow_read = first_check(t, read, sizeof(read) / sizeof(read[0]));
    p->timeout_us = (uint64_t)t->mailflow_timeout_ms * 1000;
    const char *at = c->spec + 11;
    if (at[0] == '@') {
        const char *name = at + 1;
        size_t n = strcspn(name, "?");
        char section[RESULT_NAME_MAX + 1];
        if (n < sizeof(section)) {
            memcpy(section, name, n);
            section[n] = '\0';
            const struct agentconf_credentials *cr = agentconf_credentials(s->conf, section);
            if (cr != NULL) {
                p->user = cr->user;
                p->password = cr->password;
            }
        }
    }
}

static int start_check(struct scheduler *s, struct sched_target *t, struct check *c)
{
    if (s->destroyed)
        return 0;
    if (c->is_rdap && c->not_before_us > clock_wall_us()) {
        log_info(s->log, "%s %s: the registry asked not to be asked before a later time; waiting",
                 t->name, c->spec);
        return 0;
    }
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
        .discovered = c->discovered,
        .timeout_us = (uint64_t)t->timeout_ms * 1000,
        .user = t->cred ? t->cred->user : NULL,
        .password = t->cred ? t->cred->password : NULL,
    };
    if (strncmp(c->spec, "mailflow://", 11) == 0)
        mailflow_params(s, t, c, &p);
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

enum run_which { RUN_ALL, RUN_PERIODIC, RUN_MAILFLOW, RUN_RDAP };

/* Starts the target's checks: all of them but rdap:// (probe-now: a
 * registry rate-limits, and a registration does not change in a
 * minute), those on the target's interval, or the mailflow or rdap ones
 * on their own intervals. */
static int run_target(struct scheduler *s, struct sched_target *t, enum run_which which)
{
    int started = 0;
    for (size_t i = 0; i < t->nchecks; i++) {
        struct check *c = t->checks[i];
        bool run;
        if (c->is_rdap)
            run = which == RUN_RDAP;
        else if (which == RUN_ALL)
            run = true;
        else
            run = (which == RUN_MAILFLOW) == c->is_mailflow && which != RUN_RDAP;
        if (run)
            started += start_check(s, t, c);
    }
    return started;
}

/* Appends a check; returns it, or NULL when out of memory. */
static struct check *add_check(struct sched_target *t, const char *spec, bool is_dns,
                               bool discovered)
{
    if (t->nchecks == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        struct check **grown = realloc(t->checks, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        t->checks = grown;
        t->cap = cap;
    }
    struct check *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->spec = strdup(spec)) == NULL) {
        free(c);
        return NULL;
    }
    c->target = t;
    /* autoconfig:// feeds discovery like the DNS checks: the servers
     * clients are told to use are probed too. */
    c->is_dns = is_dns || strncmp(spec, "autoconfig://", 13) == 0;
    c->discovered = discovered;
    c->is_mailflow = strncmp(spec, "mailflow://", 11) == 0;
    c->is_rdap = strncmp(spec, "rdap://", 7) == 0;
    t->checks[t->nchecks++] = c;
    return c;
}

/* Recomputes the servers the domain's DNS points to from the latest DNS
 * answers: new ones are probed at once (a migration shows up within one
 * round), vanished ones are dropped. */
static void update_discovered(struct scheduler *s, struct sched_target *t)
{
    if (t == NULL || t->domain == NULL)
        return;
    struct result *res = calloc(t->nchecks ? t->nchecks : 1, sizeof(*res));
    if (res == NULL)
        return;
    size_t nres = 0;
    for (size_t i = 0; i < t->nchecks; i++)
        if (t->checks[i]->is_dns && t->checks[i]->last_dns.check != NULL)
            res[nres++] = t->checks[i]->last_dns; /* shallow: discover only reads */
    struct discover_list dl = {0};
    char derr[256];
    int rc = discover_from_results(t->domain, (const char *const *)t->configured, t->nconfigured,
                                   res, nres, &dl, derr, sizeof(derr));
    free(res);
    if (rc < 0) {
        log_warn(s->log, "target %s: discovery failed: %s", t->name, derr);
        return;
    }
    /* Drop discovered checks the DNS no longer names. */
    size_t kept = 0;
    for (size_t i = 0; i < t->nchecks; i++) {
        struct check *c = t->checks[i];
        bool keep = !c->discovered;
        for (size_t j = 0; !keep && j < dl.n; j++)
            keep = strcmp(dl.items[j].spec, c->spec) == 0;
        if (keep) {
            t->checks[kept++] = c;
        } else {
            log_info(s->log, "target %s: %s is no longer named by %s's DNS", t->name, c->spec,
                     t->domain);
            release_check(c);
        }
    }
    t->nchecks = kept;
    for (size_t j = 0; j < dl.n; j++) {
        bool known = false;
        for (size_t i = 0; i < t->nchecks && !known; i++)
            known = strcmp(t->checks[i]->spec, dl.items[j].spec) == 0;
        if (known)
            continue;
        struct check *c = add_check(t, dl.items[j].spec, false, true);
        if (c == NULL)
            break;
        log_info(s->log, "target %s: %s's DNS or autoconfig names %s; probing it too", t->name,
                 t->domain, c->spec);
        start_check(s, t, c);
    }
    discover_list_clear(&dl);
}

static void on_timer(uv_timer_t *h)
{
    struct sched_target *t = h->data;
    struct scheduler *s = t->owner;
    run_target(s, t, RUN_PERIODIC);
    uv_timer_start(&t->timer, on_timer, jittered(s, t->interval_ms), 0);
}

static void on_mailflow_timer(uv_timer_t *h)
{
    struct sched_target *t = h->data;
    struct scheduler *s = t->owner;
    run_target(s, t, RUN_MAILFLOW);
    uv_timer_start(&t->mailflow_timer, on_mailflow_timer, jittered(s, t->mailflow_interval_ms), 0);
}

static void on_rdap_timer(uv_timer_t *h)
{
    struct sched_target *t = h->data;
    struct scheduler *s = t->owner;
    run_target(s, t, RUN_RDAP);
    uv_timer_start(&t->rdap_timer, on_rdap_timer, jittered(s, t->rdap_interval_ms), 0);
}

static void release_check(struct check *c)
{
    c->target = NULL;
    if (c->running)
        c->orphan = true;
    else
        free_check(c);
}

static void free_target(struct sched_target *t)
{
    for (size_t i = 0; i < t->nchecks; i++)
        release_check(t->checks[i]);
    for (size_t i = 0; i < t->nconfigured; i++)
        free(t->configured[i]);
    free(t->configured);
    free(t->domain);
    free(t->checks);
    free(t->name);
    free(t);
}

static void on_target_closed(uv_handle_t *h)
{
    struct sched_target *t = h->data;
    struct scheduler *s = t->owner;
    s->pending_close--;
    if (--t->open_handles == 0)
        free_target(t);
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
        s->pending_close += 3;
        uv_close((uv_handle_t *)&t->timer, on_target_closed);
        uv_close((uv_handle_t *)&t->mailflow_timer, on_target_closed);
        uv_close((uv_handle_t *)&t->rdap_timer, on_target_closed);
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
        t->mailflow_interval_ms =
            w->mailflow_interval_ms ? w->mailflow_interval_ms : SCHEDULER_MAILFLOW_INTERVAL_MS;
        t->mailflow_timeout_ms =
            w->mailflow_timeout_ms ? w->mailflow_timeout_ms : SCHEDULER_MAILFLOW_TIMEOUT_MS;
        t->rdap_interval_ms =
            w->rdap_interval_ms ? w->rdap_interval_ms : SCHEDULER_RDAP_INTERVAL_MS;
        if (w->credentials != NULL) {
            t->cred = agentconf_credentials(s->conf, w->credentials);
            if (t->cred == NULL)
                log_warn(s->log,
                         "target %s: no [credentials %s] in %s; login checks skip the login",
                         w->name, w->credentials, s->conf->path);
        }
        t->configured = calloc(w->nchecks ? w->nchecks : 1, sizeof(char *));
        if (t->name == NULL || t->configured == NULL ||
            (w->domain != NULL && (t->domain = strdup(w->domain)) == NULL)) {
            free_target(t);
            break;
        }
        for (size_t j = 0; j < w->nchecks; j++) {
            if ((t->configured[t->nconfigured] = strdup(w->checks[j])) == NULL)
                continue;
            t->nconfigured++;
            (void)add_check(t, w->checks[j], false, false);
        }
        if (t->domain != NULL) {
            struct discover_list dl = {0};
            char derr[256];
            if (discover_dns_checks(t->domain, (const char *const *)t->configured, t->nconfigured,
                                    &dl, derr, sizeof(derr)) < 0)
                log_warn(s->log, "target %s: cannot expand domain %s: %s", t->name, t->domain,
                         derr);
            for (size_t j = 0; j < dl.n; j++)
                (void)add_check(t, dl.items[j].spec, true, false);
            discover_list_clear(&dl);
        }
        uv_timer_init(s->loop, &t->timer);
        uv_timer_init(s->loop, &t->mailflow_timer);
        uv_timer_init(s->loop, &t->rdap_timer);
        t->timer.data = t->mailflow_timer.data = t->rdap_timer.data = t;
        t->open_handles = 3;
        /* The first run comes within a tenth of the interval: soon after a
         * start, yet not every target at the same instant. Test mail
         * follows the same rule on its own interval, capped at the
         * target's so that a new agent proves delivery early. */
        uv_timer_start(&t->timer, on_timer, next_rand(s) % (t->interval_ms / 10 + 1), 0);
        uint32_t first =
            t->mailflow_interval_ms < t->interval_ms ? t->mailflow_interval_ms : t->interval_ms;
        uv_timer_start(&t->mailflow_timer, on_mailflow_timer, next_rand(s) % (first / 10 + 1), 0);
        /* The registration is read soon after the targets arrive (within
         * a minute), then every rdap_interval. */
        uint32_t rfirst = t->rdap_interval_ms / 10 < 60000 ? t->rdap_interval_ms / 10 : 60000;
        uv_timer_start(&t->rdap_timer, on_rdap_timer, next_rand(s) % (rfirst + 1), 0);
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
            started += run_target(s, s->targets[i], RUN_ALL);
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
