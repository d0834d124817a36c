/*
 * collectors — the collectors command (collectors.h).
 */
#include "collectors.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cluster.h"
#include "config.h"

struct count_ctx {
    const char *targets;
    int64_t after_us;
    size_t alive;
    size_t differ;
};

static int count_one(const struct store_collector *o, void *arg)
{
    struct count_ctx *x = arg;
    if (o->heartbeat_us <= x->after_us)
        return 0;
    x->alive++;
    x->differ += strcmp(o->targets, x->targets) != 0;
    return 0;
}

int collectors_count(struct store *s, const char *targets, int64_t now_us, size_t *alive,
                     size_t *differ)
{
    struct count_ctx x = {.targets = targets, .after_us = now_us - CLUSTER_ALIVE_US};
    int rc = store_collectors_each(s, count_one, &x);
    *alive = x.alive;
    *differ = x.differ;
    return rc;
}

struct list_ctx {
    FILE *out;
    bool json;
    const char *targets; /* this collector.conf's */
    struct store_lease lease;
    int64_t now;
    size_t n;
    size_t alive;
    size_t differ;
};

static void ago(int64_t then_us, int64_t now_us, char *buf, size_t len)
{
    int64_t s = (now_us - then_us) / 1000000;
    if (s < 0)
        s = 0;
    if (s < 120)
        snprintf(buf, len, "%llds ago", (long long)s);
    else if (s < 7200)
        snprintf(buf, len, "%lldm ago", (long long)(s / 60));
    else
        snprintf(buf, len, "%lldh ago", (long long)(s / 3600));
}

static int print_one(const struct store_collector *o, void *arg)
{
    struct list_ctx *x = arg;
    bool alive = o->heartbeat_us > x->now - CLUSTER_ALIVE_US;
    bool same = strcmp(o->targets, x->targets) == 0;
    /* The lease outlives a dead holder until it expires: only a live
     * holder is the one that evaluates. */
    bool evaluates = alive && strcmp(x->lease.holder, o->id) == 0 && x->lease.expires_us > x->now;
    x->n++;
    x->alive += alive;
    x->differ += alive && !same;
    char started[40], beat[40];
    clock_format_iso_us(o->started_us, false, started, sizeof(started));
    if (x->json) {
        clock_format_iso_us(o->heartbeat_us, false, beat, sizeof(beat));
        json_t *j = json_object();
        json_object_set_new(j, "id", json_string(o->id));
        json_object_set_new(j, "host", json_string(o->host));
        json_object_set_new(j, "pid", json_integer((json_int_t)o->pid));
        json_object_set_new(j, "started_at", json_string(started));
        json_object_set_new(j, "heartbeat", json_string(beat));
        json_object_set_new(j, "running", json_boolean(alive));
        json_object_set_new(j, "version", json_string(o->version));
        json_object_set_new(j, "targets", json_string(o->targets));
        json_object_set_new(j, "same_targets", json_boolean(same));
        json_object_set_new(j, "agents", json_integer((json_int_t)o->agents));
        json_object_set_new(j, "evaluates", json_boolean(evaluates));
        char *line = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(j);
        if (line == NULL)
            return -1;
        fprintf(x->out, "%s\n", line);
        free(line);
        return 0;
    }
    if (x->n == 1)
        fprintf(x->out, "%-18s %-20s %-8s %-8s %-20s %-10s %-8s %-6s %-9s %s\n", "COLLECTOR",
                "HOST", "PID", "STATE", "STARTED", "HEARTBEAT", "VERSION", "AGENTS", "EVALUATES",
                "TARGETS");
    ago(o->heartbeat_us, x->now, beat, sizeof(beat));
    char targets[64];
    snprintf(targets, sizeof(targets), "%s (%s)", same ? "same" : "DIFFERENT", o->targets);
    fprintf(x->out, "%-18s %-20s %-8lld %-8s %-20s %-10s %-8s %-6u %-9s %s\n", o->id, o->host,
            (long long)o->pid, alive ? "running" : "gone", started, beat, o->version, o->agents,
            evaluates ? "yes" : "-", targets);
    return 0;
}

int collectors_list(const struct collconf *c, bool json, FILE *out)
{
    char err[STORE_ERR_MAX];
    struct store *s = store_open_flags(c->database, STORE_OPEN_READONLY, err, sizeof(err));
    if (s == NULL) {
        char msg[STORE_ERR_MAX + CONFIG_ERR_MAX];
        collconf_error(c, "database", err, msg, sizeof(msg));
        fprintf(stderr, "vantage-collector: %s\n", msg);
        return 2;
    }
    struct list_ctx x = {.out = out, .json = json, .targets = c->targets.version};
    x.now = clock_wall_us();
    int rc = store_lease_get(s, CLUSTER_LEASE_EVALUATE, &x.lease);
    if (rc == 0)
        rc = store_collectors_each(s, print_one, &x);
    if (rc < 0) {
        fprintf(stderr, "vantage-collector: cannot list the collectors: %s\n", store_error(s));
        store_close(&s);
        return 2;
    }
    if (!json) {
        if (x.n == 0)
            fprintf(out,
                    "No collector runs on this database: start one with "
                    "'vantage-collector -c %s serve'.\n",
                    c->path ? c->path : "collector.conf");
        else if (x.alive == 0)
            fprintf(out,
                    "No collector is running: start one with 'vantage-collector -c %s serve'.\n",
                    c->path ? c->path : "collector.conf");
        if (x.differ > 0)
            fprintf(out,
                    "%zu running collector%s ha%s a different target list than %s (version %s): "
                    "give every collector the same [target] sections; the one that evaluates "
                    "diagnoses its own targets, and agents get those of the collector they are "
                    "connected to.\n",
                    x.differ, x.differ == 1 ? "" : "s", x.differ == 1 ? "s" : "ve",
                    c->path ? c->path : "this configuration", c->targets.version);
    }
    store_close(&s);
    return ferror(out) ? 2 : 0;
}
