/*
 * monitor — the continuous diagnosis thread (monitor.h).
 */
#include "monitor.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <jansson.h>

#include "analysis.h"
#include "clock.h"
#include "cluster.h"
#include "collconf.h"
#include "lifecycle.h"
#include "notifier.h"
#include "report.h"
#include "store.h"

/* The longest the thread sleeps: notifications due for a retry are
 * picked up within this. */
#define MONITOR_WAIT_MAX_MS 1000

struct monitor {
    char *path;
    struct log *log;
    struct collconf *conf;
    struct store *store;
    struct notifier *notifier;
    int wake_fd;
    char *holder;             /* this collector's id; NULL: no lease */
    _Atomic int64_t lease_us; /* the lease's expiry; 0: not ours */
    atomic_bool stop;
    atomic_bool reload;
    pthread_t thread;
};

struct enqueue_ctx {
    struct monitor *m;
    int64_t now_us;
};

static int on_event(const struct store_finding *f, const char *event, void *arg)
{
    struct enqueue_ctx *x = arg;
    json_error_t jerr;
    json_t *o = json_loads(f->json, 0, &jerr);
    log_info(x->m->log, "finding %s %s: %s %s%s%s%s: %s", f->id, event, f->target, f->verdict,
             f->layer ? " (" : "", f->layer ? f->layer : "", f->layer ? ")" : "",
             json_string_value(json_object_get(o, "summary"))
                 ? json_string_value(json_object_get(o, "summary"))
                 : "");
    json_decref(o);
    return notifier_enqueue(x->m->store, x->m->conf, f, event, x->now_us);
}

/* One target: diagnose, then the lifecycle in one transaction. */
static void evaluate_target(struct monitor *m, const struct wire_target *t, int64_t now_us)
{
    char err[STORE_ERR_MAX + 128];
    struct report_snapshot *snap =
        report_snapshot_load(m->store, t, now_us, false, err, sizeof(err));
    if (snap == NULL) {
        log_warn(m->log, "evaluating %s: %s", t->name, err);
        return;
    }
    /* The collector's own warning settings, as diagnose applies them. */
    struct analysis_input in = *report_snapshot_input(snap);
    collconf_warnings_into(m->conf, t->name, &in);
    struct analysis_diagnosis d;
    char **json = NULL;
    if (analysis_diagnose(&in, &d, err, sizeof(err)) < 0) {
        log_warn(m->log, "evaluating %s: %s", t->name, err);
        goto out;
    }
    /* No agent reports on it (the collector just started, or the agents
     * are away): nothing is known, so nothing opens or resolves. */
    if (d.status == ANALYSIS_STATUS_NO_DATA)
        goto out;
    if (lifecycle_assign_ids(m->store, t->name, &d, err, sizeof(err)) < 0) {
        log_warn(m->log, "evaluating %s: %s", t->name, err);
        goto out;
    }
    json = calloc(d.nfindings + 1, sizeof(*json));
    if (json == NULL)
        goto out;
    for (size_t i = 0; i < d.nfindings; i++) {
        json_t *o = report_finding_json(&in, &d.findings[i]);
        json[i] = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(o);
        if (json[i] == NULL)
            goto out;
    }
    if (store_begin(m->store) < 0) {
        log_warn(m->log, "evaluating %s: %s", t->name, store_error(m->store));
        goto out;
    }
    /* The fence: a collector that stalled past its lease's expiry must
     * not write what the collector that took over writes. */
    if (m->holder != NULL &&
        store_lease_held(m->store, CLUSTER_LEASE_EVALUATE, m->holder, clock_wall_us()) != 1) {
        log_info(m->log, "evaluating %s: this collector no longer holds the lease; skipped",
                 t->name);
        store_rollback(m->store);
        goto out;
    }
    struct enqueue_ctx x = {m, now_us};
    if (lifecycle_apply(m->store, t->name, &d, (const char *const *)json, now_us, on_event, &x, err,
                        sizeof(err)) < 0) {
        log_warn(m->log, "evaluating %s: %s", t->name, err);
        store_rollback(m->store);
    } else if (store_commit(m->store) < 0) {
        log_warn(m->log, "evaluating %s: %s", t->name, store_error(m->store));
        store_rollback(m->store);
    }
out:
    for (size_t i = 0; json != NULL && i < d.nfindings; i++)
        free(json[i]);
    free(json);
    analysis_diagnosis_clear(&d);
    report_snapshot_destroy(&snap);
}

/* Names of targets with live findings that collector.conf no longer has. */
struct gone_ctx {
    const struct collconf *conf;
    char *names[16];
    size_t n;
};

static int collect_gone(const struct store_finding *f, void *arg)
{
    struct gone_ctx *g = arg;
    if (collconf_target(g->conf, f->target) != NULL)
        return 0;
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->names[i], f->target) == 0)
            return 0;
    if (g->n == sizeof(g->names) / sizeof(g->names[0]))
        return 1; /* the rest next round */
    g->names[g->n] = strdup(f->target);
    if (g->names[g->n] != NULL)
        g->n++;
    return 0;
}

/* A target removed from the configuration has nothing left to find: its
 * findings resolve like healed ones (two evaluations), so that no alert
 * stays open, re-sent to Alertmanager, for a target nobody watches. */
static void resolve_removed(struct monitor *m, int64_t now_us)
{
    struct gone_ctx g = {.conf = m->conf};
    struct store_finding_filter f = {.with_pending = true, .open_only = true};
    if (store_findings_each(m->store, &f, collect_gone, &g) < 0)
        log_warn(m->log, "reading open findings: %s", store_error(m->store));
    struct analysis_diagnosis none = {.status = ANALYSIS_STATUS_OK};
    struct enqueue_ctx x = {m, now_us};
    char err[STORE_ERR_MAX + 128];
    for (size_t i = 0; i < g.n; i++) {
        if (store_begin(m->store) < 0) {
            log_warn(m->log, "resolving findings of %s: %s", g.names[i], store_error(m->store));
        } else if (lifecycle_apply(m->store, g.names[i], &none, NULL, now_us, on_event, &x, err,
                                   sizeof(err)) < 0) {
            log_warn(m->log, "resolving findings of %s: %s", g.names[i], err);
            store_rollback(m->store);
        } else if (store_commit(m->store) < 0) {
            log_warn(m->log, "resolving findings of %s: %s", g.names[i], store_error(m->store));
            store_rollback(m->store);
        }
        free(g.names[i]);
    }
}

static void reload(struct monitor *m)
{
    char err[1024];
    struct collconf *fresh = collconf_load(m->path, err, sizeof(err));
    if (fresh == NULL) {
        log_error(m->log, "continuous diagnosis keeps its configuration: %s", err);
        return;
    }
    collconf_destroy(&m->conf);
    m->conf = fresh;
}

/* Whether this collector evaluates and notifies now (cluster.h). */
static bool leading(struct monitor *m)
{
    return m->holder == NULL || atomic_load(&m->lease_us) > clock_wall_us();
}

static void *run(void *arg)
{
    struct monitor *m = arg;
    uint64_t next_eval = clock_mono_us() + (uint64_t)m->conf->evaluate_every_us;
    bool led = false, ever_led = false;
    while (!atomic_load(&m->stop)) {
        uint64_t drained;
        if (read(m->wake_fd, &drained, sizeof(drained)) < 0 && errno != EAGAIN)
            break;
        if (atomic_exchange(&m->reload, false))
            reload(m);
        uint64_t mono = clock_mono_us();
        bool lead = leading(m);
        /* A collector that takes the lease over evaluates at once: the
         * one before it may have died just before its turn. (At start it
         * waits evaluate_every, as a lone collector always has.) */
        if (lead && !led && ever_led)
            next_eval = mono;
        led = lead;
        ever_led = ever_led || lead;
        if (lead && mono >= next_eval) {
            int64_t now = clock_wall_us();
            for (size_t i = 0; i < m->conf->targets.ntargets && !atomic_load(&m->stop); i++)
                evaluate_target(m, &m->conf->targets.targets[i], now);
            resolve_removed(m, now);
            uint64_t took = clock_mono_us() - mono;
            if (took > (uint64_t)m->conf->evaluate_every_us)
                log_warn(m->log,
                         "evaluating %zu targets took %llu ms, longer than evaluate_every: "
                         "raise evaluate_every",
                         m->conf->targets.ntargets, (unsigned long long)(took / 1000));
            next_eval = mono + (uint64_t)m->conf->evaluate_every_us;
            if (next_eval < clock_mono_us())
                next_eval = clock_mono_us();
        }
        if (lead)
            notifier_pump(m->notifier, m->store, m->conf, clock_wall_us());
        mono = clock_mono_us();
        /* Standing by: monitor_set_lease wakes it when that changes. */
        uint64_t wait_us = !lead              ? MONITOR_WAIT_MAX_MS * 1000ull
                           : next_eval > mono ? next_eval - mono
                                              : 0;
        int wait_ms = (int)(wait_us / 1000) + 1;
        if (wait_ms > MONITOR_WAIT_MAX_MS)
            wait_ms = MONITOR_WAIT_MAX_MS;
        notifier_wait(m->notifier, m->wake_fd, wait_ms);
    }
    return NULL;
}

static void destroy(struct monitor *m)
{
    notifier_destroy(&m->notifier);
    store_close(&m->store);
    collconf_destroy(&m->conf);
    if (m->wake_fd >= 0)
        close(m->wake_fd);
    free(m->holder);
    free(m->path);
    free(m);
}

struct monitor *monitor_start(const char *conf_path, struct log *log, const char *lease_holder,
                              char *err, size_t errlen)
{
    struct monitor *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    m->log = log;
    atomic_init(&m->stop, false);
    atomic_init(&m->reload, false);
    atomic_init(&m->lease_us, 0);
    if (m->wake_fd < 0 || (m->path = strdup(conf_path)) == NULL ||
        (lease_holder != NULL && (m->holder = strdup(lease_holder)) == NULL)) {
        snprintf(err, errlen, "out of resources");
        goto fail;
    }
    if ((m->conf = collconf_load(conf_path, err, errlen)) == NULL)
        goto fail;
    /* Its own connection: sqlite connections are used by one thread. */
    if ((m->store = store_open(m->conf->database, err, errlen)) == NULL)
        goto fail;
    store_set_log(m->store, log);
    if ((m->notifier = notifier_create(log, err, errlen)) == NULL)
        goto fail;
    log_info(log, "continuous diagnosis: every %lld ms, %zu notification receivers",
             (long long)(m->conf->evaluate_every_us / 1000), m->conf->nnotify);
    int rc = pthread_create(&m->thread, NULL, run, m);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the evaluation thread: %s", strerror(rc));
        goto fail;
    }
    return m;
fail:
    destroy(m);
    return NULL;
}

static void wake(struct monitor *m)
{
    uint64_t one = 1;
    if (write(m->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        return; /* the thread still sees the flag within MONITOR_WAIT_MAX_MS */
}

void monitor_set_lease(struct monitor *m, int64_t expires_us)
{
    if (m == NULL)
        return;
    int64_t was = atomic_exchange(&m->lease_us, expires_us);
    if ((was > 0) != (expires_us > 0))
        wake(m);
}

void monitor_reload(struct monitor *m)
{
    if (m == NULL)
        return;
    atomic_store(&m->reload, true);
    wake(m);
}

void monitor_stop(struct monitor **mp)
{
    if (mp == NULL || *mp == NULL)
        return;
    struct monitor *m = *mp;
    atomic_store(&m->stop, true);
    wake(m);
    pthread_join(m->thread, NULL);
    destroy(m);
    *mp = NULL;
}
