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
#include <zmq.h>

#include "clock.h"
#include "config.h"
#include "store.h"

#define PROBENOW_REPLY_MAX  65536  /* the reply lists agent names */
#define PROBENOW_POLL_US    250000 /* how often the store is looked at */
#define PROBENOW_CONNECT_MS 3000   /* a running collector answers at once */

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

/* Sends the request; returns the parsed reply or NULL after printing why. */
static json_t *request(const struct collconf *c, const char *target)
{
    void *ctx = zmq_ctx_new();
    void *req = zmq_socket(ctx, ZMQ_REQ);
    json_t *reply = NULL;
    int t = PROBENOW_CONNECT_MS, linger = 0;
    zmq_setsockopt(req, ZMQ_RCVTIMEO, &t, sizeof(t));
    zmq_setsockopt(req, ZMQ_SNDTIMEO, &t, sizeof(t));
    zmq_setsockopt(req, ZMQ_LINGER, &linger, sizeof(linger));
    char *text = NULL;
    json_t *o = json_pack("{s:s, s:s}", "cmd", "probe-now", "target", target);
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    char buf[PROBENOW_REPLY_MAX + 1];
    int n = -1;
    if (zmq_connect(req, c->control) == 0 && zmq_send(req, text, strlen(text), 0) >= 0)
        n = zmq_recv(req, buf, PROBENOW_REPLY_MAX, 0);
    if (n < 0) {
        fprintf(stderr,
                "vantage-collector: no answer on %s: is 'vantage-collector -c %s serve' running?\n",
                c->control, c->path);
    } else {
        buf[n > PROBENOW_REPLY_MAX ? PROBENOW_REPLY_MAX : n] = '\0';
        json_error_t jerr;
        reply = json_loads(buf, 0, &jerr);
        const char *e = reply ? json_string_value(json_object_get(reply, "error")) : "bad reply";
        if (e != NULL) {
            fprintf(stderr, "vantage-collector: the collector refused probe-now: %s\n", e);
            json_decref(reply);
            reply = NULL;
        }
    }
    free(text);
    zmq_close(req);
    zmq_ctx_term(ctx);
    return reply;
}

int probenow_run(const struct collconf *c, const char *target, int wait_s, FILE *progress,
                 struct probenow_outcome *out)
{
    memset(out, 0, sizeof(*out));
    if (collconf_target(c, target) == NULL) {
        fprintf(stderr, "vantage-collector: no target '%s' in %s\n", target, c->path);
        return 2;
    }
    json_t *reply = request(c, target);
    if (reply == NULL)
        return 2;
    json_t *agents = json_object_get(reply, "agents");
    struct scan sc = {.since_us = json_integer_value(json_object_get(reply, "at_us"))};
    size_t n = json_array_size(agents);
    if (n > PROBENOW_AGENTS_MAX)
        n = PROBENOW_AGENTS_MAX;
    sc.agents = calloc(n ? n : 1, sizeof(*sc.agents));
    if (sc.agents == NULL) {
        json_decref(reply);
        fprintf(stderr, "vantage-collector: out of memory\n");
        return 2;
    }
    for (size_t i = 0; i < n; i++)
        snprintf(sc.agents[i].name, sizeof(sc.agents[i].name), "%s",
                 json_string_value(json_array_get(agents, i)));
    sc.n = n;
    out->asked = n;
    out->at_us = sc.since_us;
    json_decref(reply);
    const struct wire_target *wt = collconf_target(c, target);
    size_t expected = 0;
    for (size_t i = 0; i < wt->nchecks; i++)
        expected += strncmp(wt->checks[i], "rdap://", 7) != 0;
    if (progress != NULL)
        fprintf(progress, "asked %zu connected agents to probe %s now; waiting up to %ds\n", n,
                target, wait_s);

    char err[STORE_ERR_MAX];
    struct store *st = store_open(c->database, err, sizeof(err));
    if (st == NULL) {
        char msg[STORE_ERR_MAX + CONFIG_ERR_MAX];
        collconf_error(c, "database", err, msg, sizeof(msg));
        fprintf(stderr, "vantage-collector: %s\n", msg);
        free(sc.agents);
        return 2;
    }
    uint64_t deadline = clock_mono_us() + (uint64_t)wait_s * 1000000;
    while (out->answered < n && clock_mono_us() < deadline) {
        usleep(PROBENOW_POLL_US);
        for (size_t i = 0; i < n; i++)
            sc.agents[i].checks = sc.agents[i].fresh = 0;
        if (store_latest_each(st, target, count_fresh, &sc) < 0)
            continue; /* the daemon may hold the write lock for a moment */
        for (size_t i = 0; i < n; i++) {
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
    }
    if (progress != NULL && out->answered < n) {
        fprintf(progress, "missing after %ds:", wait_s);
        for (size_t i = 0; i < n; i++)
            if (!sc.agents[i].answered)
                fprintf(progress, " %s", sc.agents[i].name);
        fputc('\n', progress);
    }
    store_close(&st);
    free(sc.agents);
    return 0;
}
