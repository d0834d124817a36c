/*
 * serve_control — probe-now for the collector daemon (serve_internal.h):
 * requests from the CLI on the control socket, requests other collectors
 * of the database queued for this one's agents, and the cluster's
 * heartbeat and lease that go with the queue.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <zmq.h>

#include "clock.h"
#include "cluster.h"
#include "monitor.h"

#include "serve_internal.h"

/* Sends run-now for target ("" = every target) to every connected agent
 * of this collector; returns the JSON array of the names asked. */
static json_t *run_now(struct serve *s, const char *target, uint64_t id)
{
    int64_t now = clock_wall_us();
    json_t *asked = json_array();
    struct wire_msg m = {.kind = WIRE_RUN_NOW};
    m.u.run_now.target = (char *)target;
    m.u.run_now.request_id = id;
    for (size_t i = 0; i < s->nsessions; i++) {
        struct session *se = &s->sessions[i];
        if (now - se->last_seen_us >= SERVE_CONNECTED_WINDOW_US || se->revoked)
            continue;
        if (serve_send_msg(s, se, &m) == 0)
            json_array_append_new(asked, json_string(se->name));
    }
    log_info(s->log, "probe-now %llu for %s: asked %zu agents", (unsigned long long)id,
             target[0] ? target : "all targets", json_array_size(asked));
    return asked;
}

/* A request from the store's queue (cluster.h): probe-now run through
 * any collector of the database reaches the agents connected here. */
static void on_queued_request(const char *target, uint64_t request_id, char *asked_out,
                              size_t asked_len, void *arg)
{
    struct serve *s = arg;
    /* Its agents have only this collector's targets: a target it does
     * not have is nobody's here (the target lists differ, as logged). */
    if (target[0] != '\0' && collconf_target(*s->conf, target) == NULL) {
        log_warn(s->log, "probe-now %llu for %s: not a target of this collector; no agent asked",
                 (unsigned long long)request_id, target);
        return;
    }
    json_t *asked = run_now(s, target, request_id);
    /* The names that fit, in the order asked (the CLI follows at most
     * PROBENOW_AGENTS_MAX agents anyway); escapes may make the estimate
     * short, and then the check below records none rather than a cut. */
    json_t *fit = json_array();
    size_t used = 2;
    for (size_t i = 0; i < json_array_size(asked); i++) {
        json_t *name = json_array_get(asked, i);
        size_t len = strlen(json_string_value(name)) + 3;
        if (used + len + 8 > asked_len)
            break;
        json_array_append(fit, name);
        used += len;
    }
    char *text = json_dumps(fit, JSON_COMPACT);
    if (text != NULL && strlen(text) < asked_len)
        memcpy(asked_out, text, strlen(text) + 1);
    free(text);
    json_decref(fit);
    json_decref(asked);
}

/* Heartbeat, lease and queued probe-now requests (cluster.h); the lease
 * decides whether this collector's monitor evaluates and notifies. */
void serve_cluster_step(struct serve *s, bool woken)
{
    /* Called on every turn of the loop: nothing to do most of them. */
    if (!woken && cluster_timeout_ms(s->cluster) > 0)
        return;
    int64_t now = clock_wall_us();
    uint32_t agents = 0;
    for (size_t i = 0; i < s->nsessions; i++)
        agents += serve_session_connected(&s->sessions[i], now);
    struct cluster_tick t = {.targets = (*s->conf)->targets.version,
                             .agents = agents,
                             .woken = woken,
                             .request = on_queued_request,
                             .arg = s};
    monitor_set_lease(s->monitor, cluster_tick(s->cluster, &t));
}

/* One control request: {"cmd":"probe-now","target":T}. The reply names
 * the agents that were asked, so the CLI knows whom to wait for. */
void serve_handle_control(struct serve *s)
{
    char buf[SERVE_CONTROL_MAX + 1];
    int n = zmq_recv(s->control, buf, SERVE_CONTROL_MAX, ZMQ_DONTWAIT);
    if (n < 0)
        return;
    if (n > SERVE_CONTROL_MAX)
        n = SERVE_CONTROL_MAX;
    buf[n] = '\0';
    json_error_t jerr;
    json_t *req = json_loads(buf, 0, &jerr);
    json_t *reply = json_object();
    const char *cmd = req ? json_string_value(json_object_get(req, "cmd")) : NULL;
    const char *target = req ? json_string_value(json_object_get(req, "target")) : NULL;
    if (cmd != NULL && strcmp(cmd, "reload-keys") == 0) {
        serve_reload_keys(s); /* `vantage-collector revoke`: refused at once */
        json_object_set_new(reply, "agents", json_integer((json_int_t)auth_count(s->auth)));
    } else if (cmd == NULL || strcmp(cmd, "probe-now") != 0) {
        json_object_set_new(reply, "error", json_string("unknown control command"));
    } else if (target != NULL && target[0] != '\0' && collconf_target(*s->conf, target) == NULL) {
        json_object_set_new(reply, "error",
                            json_string("no such target in the running configuration"));
    } else {
        uint64_t id = ++s->next_request;
        int64_t now = clock_wall_us();
        json_t *asked = run_now(s, target ? target : "", id);
        json_object_set_new(reply, "request_id", json_integer((json_int_t)id));
        json_object_set_new(reply, "at_us", json_integer((json_int_t)now));
        json_object_set_new(reply, "agents", asked);
    }
    char *text = json_dumps(reply, JSON_COMPACT);
    zmq_send(s->control, text ? text : "{}", text ? strlen(text) : 2, 0);
    free(text);
    json_decref(reply);
    json_decref(req);
}
