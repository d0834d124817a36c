/*
 * daemon — the agent process (daemon.h).
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netctx.h"
#include "probe.h"
#include "sdnotify.h"
#include "scheduler.h"
#include "spool.h"
#include "uplink.h"
#include "wire.h"

#define TARGETS_FILE_MAX WIRE_MSG_MAX
/* Loop iterations at exit for the handles still closing to finish: a
 * close chain (connection, then its probe) takes one each; more is a bug
 * the final sweep still cleans up. */
#define DAEMON_CLOSE_ROUNDS 64

struct daemon {
    const struct agentconf *conf;
    struct log *log;
    uv_loop_t loop;
    struct spool *spool;
    struct probe_engine *engine;
    struct scheduler *sched;
    struct uplink *uplink;
    uv_timer_t net_timer;
    uv_signal_t sigterm;
    uv_signal_t sigint;
    uv_signal_t sighup;
    bool handles_open; /* the four above: closed by daemon_run at its end */
    bool reload;       /* stopped by a valid SIGHUP: run again */
    struct netctx net;
    char targets_path[4096];
    char *config_version; /* of the targets being probed */
    uint64_t spooled;
    uint64_t unspooled; /* results the spool refused in a row (disk full) */
};

static void on_result(struct result *r, void *arg)
{
    struct daemon *d = arg;
    char err[512];
    if (spool_append(d->spool, r, err, sizeof(err)) < 0) {
        /* Once per run: a full disk fails every result until it is over. */
        if (d->unspooled++ == 0)
            log_error(d->log,
                      "cannot spool results (from %s on): %s; they are counted as dropped until "
                      "spooling works again, repeats are logged at debug level",
                      r->check, err);
        else
            log_debug(d->log, "cannot spool a result of %s: %s", r->check, err);
    } else {
        if (d->unspooled > 0)
            log_info(d->log,
                     "spooling works again; %llu results could not be spooled and are "
                     "counted as dropped",
                     (unsigned long long)d->unspooled);
        d->unspooled = 0;
        d->spooled++;
        log_debug(d->log, "%s %s: %s %s", r->target ? r->target : "-", r->check,
                  r->ok ? "ok" : "FAIL", result_error_name(r->error));
        uplink_kick(d->uplink);
    }
    result_clear(r);
}

/* Keeps the collector's targets for a restart without a collector. */
static void save_targets(struct daemon *d, const struct wire_config *c)
{
    struct wire_msg m = {.kind = WIRE_CONFIG, .u.config = *c};
    uint8_t *buf;
    size_t len;
    char tmp[4200];
    if (wire_msg_encode(&m, &buf, &len) < 0)
        return;
    snprintf(tmp, sizeof(tmp), "%s.tmp", d->targets_path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, buf, len) != (ssize_t)len || fsync(fd) < 0 ||
        rename(tmp, d->targets_path) < 0)
        log_warn(d->log, "cannot save targets to %s: %s", d->targets_path, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(buf);
}

/* Where rdap:// finds the bootstrap registry: the collector's
 * rdap_bootstrap, a URL or a file's content. */
static void apply_rdap_bootstrap(struct daemon *d, const struct wire_config *c)
{
    char err[256];
    if (c->rdap_bootstrap_json != NULL) {
        if (probe_engine_set_rdap_bootstrap(d->engine, c->rdap_bootstrap_json,
                                            strlen(c->rdap_bootstrap_json), err, sizeof(err)) < 0)
            log_warn(d->log, "the collector's rdap_bootstrap is unusable, keeping the last: %s",
                     err);
    } else if (probe_engine_set_rdap_source(d->engine, c->rdap_bootstrap_url) < 0) {
        log_error(d->log, "out of memory setting the RDAP bootstrap registry");
    }
}

static void apply_config(struct daemon *d, const struct wire_config *c)
{
    apply_rdap_bootstrap(d, c);
    if (scheduler_set_targets(d->sched, c) < 0) {
        log_error(d->log, "out of memory applying the targets");
        return;
    }
    uplink_set_config_version(d->uplink, c->version);
}

static void on_config(const struct wire_config *c, void *arg)
{
    struct daemon *d = arg;
    /* The collector re-sends the set after a restart; the same version
     * must not reset every timer. */
    if (c->version != NULL && d->config_version != NULL &&
        strcmp(c->version, d->config_version) == 0)
        return;
    free(d->config_version);
    d->config_version = c->version ? strdup(c->version) : NULL;
    apply_config(d, c);
    save_targets(d, c);
}

static void on_run_now(const char *target, uint64_t request_id, void *arg)
{
    struct daemon *d = arg;
    int n = scheduler_run_now(d->sched, target);
    log_info(d->log, "run-now %llu for %s: %d checks started", (unsigned long long)request_id,
             target && target[0] ? target : "all targets", n);
}

static void load_targets(struct daemon *d)
{
    FILE *f = fopen(d->targets_path, "rb");
    if (f == NULL)
        return;
    uint8_t *buf = malloc(TARGETS_FILE_MAX);
    size_t len = buf ? fread(buf, 1, TARGETS_FILE_MAX, f) : 0;
    fclose(f);
    char err[256];
    struct wire_msg *m = buf ? wire_msg_decode(buf, len, err, sizeof(err)) : NULL;
    if (m != NULL && m->kind == WIRE_CONFIG) {
        d->config_version = m->u.config.version ? strdup(m->u.config.version) : NULL;
        log_info(d->log, "probing the %zu saved targets until the collector answers",
                 m->u.config.ntargets);
        apply_config(d, &m->u.config);
    } else if (buf != NULL) {
        log_warn(d->log, "%s: ignoring unreadable saved targets", d->targets_path);
    }
    wire_msg_free(&m);
    free(buf);
}

static void check_netctx(struct daemon *d, bool first)
{
    struct netctx now;
    char err[256], text[512];
    if (netctx_detect(&now, NULL, err, sizeof(err)) < 0)
        log_warn(d->log, "network context: %s", err);
    if (!first && netctx_equal(&now, &d->net))
        return;
    netctx_format(&now, text, sizeof(text));
    log_info(d->log, "%s: %s", first ? "network" : "network changed", text);
    d->net = now;
    uplink_set_netctx(d->uplink, &now);
}

static void on_net_timer(uv_timer_t *t)
{
    check_netctx(t->data, false);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct daemon *d = h->data;
    log_info(d->log, "signal %d: stopping (%llu results spooled this run)", signum,
             (unsigned long long)d->spooled);
    sdnotify_send("STOPPING=1");
    uv_stop(&d->loop);
}

/* SIGHUP: agent.conf is read again, and only a valid file stops the loop
 * for a restart with it (daemon.h), so a typo never stops the agent. */
static void on_sighup(uv_signal_t *h, int signum)
{
    (void)signum;
    struct daemon *d = h->data;
    char err[1024];
    struct agentconf *fresh = agentconf_load(d->conf->path, err, sizeof(err));
    if (fresh == NULL) {
        log_error(d->log, "SIGHUP: keeping the running configuration: %s", err);
        return;
    }
    agentconf_destroy(&fresh);
    log_info(d->log, "SIGHUP: reloading %s", d->conf->path);
    sdnotify_reloading();
    d->reload = true;
    uv_stop(&d->loop);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Logs err, found using the setting key, with the line that set it. */
static void log_conf_error(struct daemon *d, const char *key, const char *err, const char *todo)
{
    char what[768], msg[1024];
    snprintf(what, sizeof(what), "%s; %s", err, todo);
    agentconf_error(d->conf, key, what, msg, sizeof(msg));
    log_error(d->log, "%s", msg);
}

int daemon_run(const struct agentconf *conf, struct log *log)
{
    struct daemon *d = calloc(1, sizeof(*d));
    struct transport_keys keys;
    char err[512];
    int rc = -1;
    if (d == NULL)
        return -1;
    d->conf = conf;
    d->log = log;
    uv_loop_init(&d->loop);
    snprintf(d->targets_path, sizeof(d->targets_path), "%s.targets", conf->spool);

    /* Errors of settings used here name the line of agent.conf that set
     * them (agentconf_error): the file said what to open, not the code. */
    d->spool = spool_open(conf->spool, conf->spool_max_results, err, sizeof(err));
    if (d->spool == NULL) {
        log_conf_error(d, "spool", err, "give spool = a path in a directory this user can write");
        goto out;
    }
    if (!conf->insecure_plaintext &&
        transport_load_keys(conf->secret_key, &keys, err, sizeof(err)) < 0) {
        log_conf_error(d, "secret_key", err, "give secret_key = the agent.key file of this agent");
        goto out;
    }
    struct probe_engine_opts eo = {
        .ca_file = conf->ca_file, .resolver = conf->resolver, .agent_name = conf->name};
    d->engine = probe_engine_create(&d->loop, &eo, err, sizeof(err));
    if (d->engine == NULL) {
        /* ca_file and resolver were tried when the file was loaded. */
        log_error(log, "%s", err);
        goto out;
    }
    struct scheduler_params sp = {.loop = &d->loop,
                                  .engine = d->engine,
                                  .log = log,
                                  .conf = conf,
                                  .on_result = on_result,
                                  .arg = d};
    d->sched = scheduler_create(&sp);
    struct uplink_params up = {.loop = &d->loop,
                               .log = log,
                               .spool = d->spool,
                               .name = conf->name,
                               .site = conf->site,
                               .endpoints = (const char *const *)conf->collectors,
                               .nendpoints = conf->ncollectors,
                               .failover_us = conf->failover_timeout_us,
                               .failback_us = conf->failback_interval_us,
                               .plaintext = conf->insecure_plaintext,
                               .keys = conf->insecure_plaintext ? NULL : &keys,
                               .server_key = conf->collector_public_key,
                               .on_config = on_config,
                               .on_run_now = on_run_now,
                               .arg = d};
    d->uplink = d->sched ? uplink_create(&up, err, sizeof(err)) : NULL;
    explicit_bzero(&keys, sizeof(keys));
    if (d->uplink == NULL) {
        if (d->sched == NULL)
            log_error(log, "out of memory");
        else
            log_conf_error(d, "collector", err,
                           "give collector = tcp://HOST:PORT of the collector");
        goto out;
    }
    load_targets(d);
    check_netctx(d, true);
    uv_timer_init(&d->loop, &d->net_timer);
    d->net_timer.data = d;
    uv_timer_start(&d->net_timer, on_net_timer, DAEMON_NETCTX_MS, DAEMON_NETCTX_MS);
    uv_signal_init(&d->loop, &d->sigterm);
    uv_signal_init(&d->loop, &d->sigint);
    d->sigterm.data = d->sigint.data = d;
    uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    uv_signal_start(&d->sigint, on_signal, SIGINT);
    uv_signal_init(&d->loop, &d->sighup);
    d->sighup.data = d;
    d->handles_open = true;
    uv_signal_start(&d->sighup, on_sighup, SIGHUP);
    signal(SIGPIPE, SIG_IGN);

    struct spool_stats st;
    spool_get_stats(d->spool, &st);
    char collectors[2048];
    size_t used = 0;
    for (size_t i = 0; i < conf->ncollectors && used < sizeof(collectors); i++)
        used += (size_t)snprintf(collectors + used, sizeof(collectors) - used, "%s%s",
                                 i ? ", then " : "", conf->collectors[i]);
    log_info(log, "agent %s%s%s started: collector%s %s (%s), spool %s with %llu pending",
             conf->name, conf->site ? " at " : "", conf->site ? conf->site : "",
             conf->ncollectors > 1 ? "s" : "", collectors,
             conf->insecure_plaintext ? "PLAINTEXT" : "CURVE", conf->spool,
             (unsigned long long)st.pending);
    sdnotify_send("READY=1");
    uv_run(&d->loop, UV_RUN_DEFAULT);
    rc = d->reload ? DAEMON_RELOAD : 0;
out:
    scheduler_destroy(&d->sched);
    uplink_destroy(&d->uplink);
    probe_engine_destroy(&d->engine);
    if (d->handles_open) {
        uv_close((uv_handle_t *)&d->net_timer, NULL);
        uv_close((uv_handle_t *)&d->sigterm, NULL);
        uv_close((uv_handle_t *)&d->sigint, NULL);
        uv_close((uv_handle_t *)&d->sighup, NULL);
    }
    /* The owners closed their handles above, but a probe whose connection
     * is still closing closes its own deadline timer only when that
     * finishes, a step per loop iteration: let those chains end before
     * anything left is swept up. The sweep had closed such timers first,
     * and the probe's own close then aborted in libuv (integration.agent_stop). */
    for (int i = 0; i < DAEMON_CLOSE_ROUNDS && uv_loop_alive(&d->loop); i++)
        uv_run(&d->loop, UV_RUN_NOWAIT);
    uv_walk(&d->loop, close_walk, NULL);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    uv_loop_close(&d->loop);
    spool_close(&d->spool);
    free(d->config_version);
    free(d);
    return rc;
}
