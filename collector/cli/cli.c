/*
 * cli — agents and results commands (cli.h).
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "analysis.h"
#include "clock.h"
#include "collectors.h"
#include "config.h"
#include "history.h"
#include "lifecycle.h"
#include "probenow.h"
#include "report.h"
#include "serve.h"

static struct store *open_store(const struct collconf *c)
{
    char err[STORE_ERR_MAX];
    struct store *s = store_open_flags(c->database, STORE_OPEN_READONLY, err, sizeof(err));
    if (s == NULL) {
        char msg[STORE_ERR_MAX + CONFIG_ERR_MAX];
        collconf_error(c, "database", err, msg, sizeof(msg));
        fprintf(stderr, "vantage-collector: %s\n", msg);
    }
    return s;
}

static void ago(int64_t then_us, int64_t now_us, char *buf, size_t len)
{
    if (then_us <= 0) {
        snprintf(buf, len, "never");
        return;
    }
    int64_t s = (now_us - then_us) / 1000000;
    if (s < 0)
        s = 0;
    if (s < 120)
        snprintf(buf, len, "%llds ago", (long long)s);
    else if (s < 7200)
        snprintf(buf, len, "%lldm ago", (long long)(s / 60));
    else if (s < 172800)
        snprintf(buf, len, "%lldh ago", (long long)(s / 3600));
    else
        snprintf(buf, len, "%lldd ago", (long long)(s / 86400));
}

/* How long agents waits for a tcp:// control endpoint to accept: a
 * running collector accepts at once, even across a LAN. */
#define CLI_CONTROL_CONNECT_MS 1000

enum liveness { LIVE_UNKNOWN, LIVE_RUNNING, LIVE_STOPPED };

/* Connects a stream socket to addr and closes it. LIVE_STOPPED only when
 * nothing listens there for certain (refused, or no such socket file);
 * anything else (no permission, a timeout) cannot tell. */
static enum liveness try_connect(int family, const struct sockaddr *addr, socklen_t len)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return LIVE_UNKNOWN;
    enum liveness l = LIVE_UNKNOWN;
    if (connect(fd, addr, len) == 0) {
        l = LIVE_RUNNING;
    } else if (errno == ECONNREFUSED || errno == ENOENT) {
        l = LIVE_STOPPED;
    } else if (errno == EINPROGRESS || errno == EAGAIN) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (poll(&p, 1, CLI_CONTROL_CONNECT_MS) == 1 &&
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0)
            l = soerr == 0 ? LIVE_RUNNING : soerr == ECONNREFUSED ? LIVE_STOPPED : LIVE_UNKNOWN;
    }
    close(fd);
    return l;
}

/* Whether the collector that writes this database runs: its control
 * socket (ipc:// or tcp://) accepts a connection. A ZeroMQ socket takes a
 * connection that closes before its handshake without a trace. */
static enum liveness collector_liveness(const char *endpoint)
{
    if (strncmp(endpoint, "ipc://", 6) == 0) {
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        const char *path = endpoint + 6;
        if (strlen(path) >= sizeof(un.sun_path))
            return LIVE_UNKNOWN;
        memcpy(un.sun_path, path, strlen(path));
        socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
        if (path[0] == '@') /* ZeroMQ's abstract namespace */
            un.sun_path[0] = '\0';
        else
            len++;
        return try_connect(AF_UNIX, (const struct sockaddr *)&un, len);
    }
    if (strncmp(endpoint, "tcp://", 6) != 0)
        return LIVE_UNKNOWN;
    char host[256];
    const char *hp = endpoint + 6;
    const char *colon = strrchr(hp, ':');
    if (colon == NULL || (size_t)(colon - hp) >= sizeof(host))
        return LIVE_UNKNOWN;
    snprintf(host, sizeof(host), "%.*s", (int)(colon - hp), hp);
    const char *h = host;
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        h = host + 1;
    }
    if (strcmp(h, "*") == 0 || strcmp(h, "0.0.0.0") == 0)
        h = "127.0.0.1"; /* bound to every address: loopback is one */
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(h, colon + 1, &hints, &ai) != 0 || ai == NULL)
        return LIVE_UNKNOWN;
    enum liveness l = try_connect(ai->ai_family, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return l;
}

struct agents_ctx {
    FILE *out;
    bool json;
    bool collector_stopped; /* nobody can be connected to it */
    int64_t now;
    size_t n;
};

static int print_agent(const struct store_agent *a, void *arg)
{
    struct agents_ctx *x = arg;
    char when[40];
    bool connected = a->connected && !x->collector_stopped;
    x->n++;
    if (x->json) {
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(a->name));
        json_object_set_new(o, "network", a->network ? json_string(a->network) : json_null());
        json_object_set_new(o, "site", a->site ? json_string(a->site) : json_null());
        json_object_set_new(o, "version", a->version ? json_string(a->version) : json_null());
        json_object_set_new(o, "address", a->address ? json_string(a->address) : json_null());
        json_object_set_new(o, "connected", json_boolean(connected));
        if (a->last_seen_us > 0) {
            clock_format_iso_us(a->last_seen_us, false, when, sizeof(when));
            json_object_set_new(o, "last_seen", json_string(when));
        } else {
            json_object_set_new(o, "last_seen", json_null());
        }
        json_object_set_new(o, "spool_dropped", json_integer((json_int_t)a->spool_dropped));
        json_object_set_new(o, "committed_seq", json_integer((json_int_t)a->committed_seq));
        json_object_set_new(o, "lost", json_integer((json_int_t)a->lost));
        json_object_set_new(o, "duplicates", json_integer((json_int_t)a->counts.duplicates));
        json_object_set_new(o, "invalid", json_integer((json_int_t)a->counts.invalid));
        json_object_set_new(o, "clamped", json_integer((json_int_t)a->counts.clamped));
        json_object_set_new(o, "refused", json_integer((json_int_t)a->counts.refused));
        char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (line == NULL)
            return -1;
        fprintf(x->out, "%s\n", line);
        free(line);
        return 0;
    }
    if (x->n == 1)
        fprintf(x->out, "%-20s %-16s %-16s %-8s %-10s %-10s %-13s %-6s %-10s %-7s %-7s %s\n",
                "AGENT", "NETWORK", "ADDRESS", "VERSION", "STATE", "LAST SEEN", "SPOOL DROPPED",
                "LOST", "DUPLICATES", "INVALID", "CLAMPED", "REFUSED");
    ago(a->last_seen_us, x->now, when, sizeof(when));
    fprintf(x->out,
            "%-20s %-16s %-16s %-8s %-10s %-10s %-13llu %-6llu %-10llu %-7llu %-7llu %llu\n",
            a->name, a->network ? a->network : "-", a->address ? a->address : "-",
            a->version ? a->version : "-", connected ? "connected" : "gone", when,
            (unsigned long long)a->spool_dropped, (unsigned long long)a->lost,
            (unsigned long long)a->counts.duplicates, (unsigned long long)a->counts.invalid,
            (unsigned long long)a->counts.clamped, (unsigned long long)a->counts.refused);
    return 0;
}

/* The agents of store s into out; *n how many. Returns 0 or -1. */
static int write_agents(struct store *s, bool collector_stopped, bool json, FILE *out, size_t *n)
{
    /* "connected" is computed here, never stored: the agent's last
     * message is recent (the store compares last_seen) and the collector
     * that recorded it still runs. */
    struct agents_ctx x = {
        .out = out, .json = json, .collector_stopped = collector_stopped, .now = clock_wall_us()};
    int rc = store_agents_each(s, x.now - SERVE_CONNECTED_WINDOW_US, print_agent, &x);
    if (rc < 0)
        fprintf(stderr, "vantage-collector: cannot list agents: %s\n", store_error(s));
    *n = x.n;
    return rc < 0 || ferror(out) ? -1 : 0;
}

int cli_agents_write(struct store *s, bool json, FILE *out)
{
    size_t n;
    return write_agents(s, false, json, out, &n) < 0 ? 2 : 0;
}

int cli_agents(const struct collconf *c, bool json, FILE *out)
{
    struct store *s = open_store(c);
    if (s == NULL)
        return 2;
    /* Agents may be connected to another collector of this database:
     * nobody is connected only when no collector runs at all. */
    size_t alive = 0, differ = 0;
    if (collectors_count(s, c->targets.version, clock_wall_us(), &alive, &differ) < 0)
        alive = differ = 0;
    struct agents_ctx x = {.collector_stopped =
                               alive == 0 && collector_liveness(c->control) == LIVE_STOPPED};
    int rc = write_agents(s, x.collector_stopped, json, out, &x.n);
    if (rc == 0 && x.n == 0 && !json)
        fprintf(out,
                "No agent has reported yet. Check that agents run, that their keys are in %s, and "
                "the collector's log.\n",
                c->authorized_keys ? c->authorized_keys : "authorized_keys");
    if (rc >= 0 && x.collector_stopped && !json)
        fprintf(out,
                "The collector is not running (nothing answers on %s), so no agent is "
                "connected: start it with 'vantage-collector -c %s serve'.\n",
                c->control, c->path ? c->path : "collector.conf");
    if (rc >= 0 && differ > 0 && !json)
        fprintf(out,
                "%zu running collector%s of this database ha%s a different target list than %s: "
                "see 'vantage-collector collectors'.\n",
                differ, differ == 1 ? "" : "s", differ == 1 ? "s" : "ve",
                c->path ? c->path : "this configuration");
    store_close(&s);
    return rc < 0 ? 2 : 0;
}

struct results_ctx {
    FILE *out;
    bool json;
    size_t n;
};

static int print_result(const struct result *r, void *arg)
{
    struct results_ctx *x = arg;
    x->n++;
    if (x->json) {
        char *line = result_json(r);
        if (line == NULL)
            return -1;
        fprintf(x->out, "%s\n", line);
        free(line);
        return 0;
    }
    char when[40];
    clock_format_iso_us(r->started_at_us, false, when, sizeof(when));
    if (x->n == 1)
        fprintf(x->out, "%-20s %-14s %-12s %-14s %-40s %-4s %-22s %9s  %s\n", "STARTED", "AGENT",
                "NETWORK", "TARGET", "CHECK", "", "ERROR", "TOTAL", "DETAIL");
    fprintf(x->out, "%-20s %-14s %-12s %-14s %-40s %-4s %-22s %7.1fms  %s\n", when,
            r->agent ? r->agent : "-", r->network ? r->network : "-", r->target ? r->target : "-",
            r->check, r->ok ? "ok" : "FAIL", result_error_name(r->error),
            (double)r->phases_us[RESULT_PHASE_TOTAL] / 1000.0, r->detail ? r->detail : "");
    return 0;
}

int cli_results(const struct collconf *c, const struct store_result_filter *f, bool json, FILE *out)
{
    struct store *s = open_store(c);
    if (s == NULL)
        return 2;
    struct results_ctx x = {.out = out, .json = json};
    int rc = store_results_each(s, f, print_result, &x);
    if (rc < 0)
        fprintf(stderr, "vantage-collector: cannot list results: %s\n", store_error(s));
    else if (x.n == 0 && !json)
        fprintf(out, "No results match.\n");
    store_close(&s);
    return rc < 0 ? 2 : 0;
}

/* ---- compare, diagnose, timeline ------------------------------------------- */

static const struct wire_target *known_target(const struct collconf *c, const char *name)
{
    const struct wire_target *t = collconf_target(c, name);
    if (t != NULL)
        return t;
    fprintf(stderr, "vantage-collector: no target '%s' in %s; configured targets:", name,
            c->path ? c->path : "the configuration");
    for (size_t i = 0; i < c->targets.ntargets; i++)
        fprintf(stderr, " %s", c->targets.targets[i].name);
    fprintf(stderr, "%s\n", c->targets.ntargets ? "" : " none (add a [target NAME] section)");
    return NULL;
}

struct analysis_input cli_input(const struct collconf *c, const struct report_snapshot *snap,
                                const struct wire_target *t)
{
    /* The collector's own warning settings for the target. */
    struct analysis_input input = *report_snapshot_input(snap);
    collconf_warnings_into(c, t->name, &input);
    return input;
}

/* CMD_FRESH is compare after probe-now: the matrix and findings. */
enum analysis_cmd { CMD_DIAGNOSE, CMD_COMPARE, CMD_TIMELINE, CMD_FRESH };

/* The one exit rule of compare, diagnose and probe-now: 1 when a problem
 * was found, else 0. No data (no agent has reported on the target) is no
 * finding: the output says status no_data, and the exit status is 0.
 * Covered by tests/integration/cli_status.sh. */
static int diagnosis_status(const struct analysis_diagnosis *d)
{
    return d->status == ANALYSIS_STATUS_PROBLEM ? 1 : 0; /* a warning alone is 0 */
}

/* timeline's failures from before retention, where the raw results are
 * gone (history.h): JSON lines before the timeline's (time order), or a
 * section after it. Returns 0 or -1 (err). */
static int timeline_history(const struct collconf *c, struct store *s, const char *target,
                            int64_t now_us, bool json, FILE *out, bool before, char *err,
                            size_t errlen)
{
    int64_t horizon = now_us - c->retention_us;
    size_t n = 0;
    if (json)
        return before ? history_failures_write(s, target, horizon, true, out, &n, err, errlen) : 0;
    if (before)
        return 0;
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (mem == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = history_failures_write(s, target, horizon, false, mem, &n, err, errlen);
    fclose(mem);
    if (rc == 0 && n > 0) {
        char when[40];
        clock_format_iso_us(horizon, false, when, sizeof(when));
        fprintf(out,
                "\nBefore %s (raw results are kept for retention, %lldh), hours with "
                "failures from the hourly history (%zu run%s%s):\n%s",
                when, (long long)(c->retention_us / 3600000000LL), n, n == 1 ? "" : "s",
                n == HISTORY_RUNS_MAX ? ", the newest" : "", text);
    }
    free(text);
    return rc;
}

/* Loads one target's snapshot and runs cmd on it. Returns the exit
 * status. */
static int analyse_one(const struct collconf *c, struct store *s, const struct wire_target *t,
                       enum analysis_cmd cmd, bool json, FILE *out)
{
    char err[STORE_ERR_MAX + 128];
    int64_t now = clock_wall_us();
    struct report_snapshot *snap =
        report_snapshot_load(s, t, now, cmd == CMD_TIMELINE, err, sizeof(err));
    if (snap == NULL) {
        fprintf(stderr, "vantage-collector: %s\n", err);
        return 2;
    }
    struct analysis_input input = cli_input(c, snap, t);
    const struct analysis_input *in = &input;
    int rc = 0;
    if (cmd == CMD_TIMELINE) {
        err[0] = '\0';
        if (timeline_history(c, s, t->name, now, json, out, true, err, sizeof(err)) < 0 ||
            report_timeline(out, in, json) < 0 ||
            timeline_history(c, s, t->name, now, json, out, false, err, sizeof(err)) < 0) {
            fprintf(stderr, "vantage-collector: %s\n", err[0] ? err : "cannot write the output");
            rc = 2;
        }
        report_snapshot_destroy(&snap);
        return rc;
    }
    struct analysis_diagnosis d;
    if (analysis_diagnose(in, &d, err, sizeof(err)) < 0) {
        fprintf(stderr, "vantage-collector: %s\n", err);
        rc = 2;
    } else if (lifecycle_assign_ids(s, t->name, &d, err, sizeof(err)) < 0) {
        fprintf(stderr, "vantage-collector: %s\n", err);
        rc = 2;
    } else if (cmd == CMD_COMPARE || cmd == CMD_FRESH) {
        bool color = !json && isatty(fileno(out)) && getenv("NO_COLOR") == NULL;
        rc = report_compare(out, in, &d, json, color) < 0 ? 2 : diagnosis_status(&d);
    } else {
        rc = report_diagnose(out, in, &d, json) < 0 ? 2 : diagnosis_status(&d);
    }
    if (rc == 2 && ferror(out))
        fprintf(stderr, "vantage-collector: cannot write the output\n");
    analysis_diagnosis_clear(&d);
    report_snapshot_destroy(&snap);
    return rc;
}

int cli_report_write(const struct collconf *c, struct store *s, const struct wire_target *t,
                     enum cli_report what, bool json, FILE *out)
{
    enum analysis_cmd cmd = what == CLI_REPORT_COMPARE    ? CMD_COMPARE
                            : what == CLI_REPORT_TIMELINE ? CMD_TIMELINE
                                                          : CMD_DIAGNOSE;
    return analyse_one(c, s, t, cmd, json, out);
}

static int analyse(const struct collconf *c, const char *target, enum analysis_cmd cmd, bool json,
                   FILE *out)
{
    const struct wire_target *t = NULL;
    if (target != NULL && (t = known_target(c, target)) == NULL)
        return 2;
    struct store *s = open_store(c);
    if (s == NULL)
        return 2;
    int rc = 0;
    if (t != NULL) {
        rc = analyse_one(c, s, t, cmd, json, out);
    } else {
        if (c->targets.ntargets == 0) {
            fprintf(stderr,
                    "vantage-collector: %s defines no target: add a [target NAME] "
                    "section\n",
                    c->path ? c->path : "the configuration");
            rc = 2;
        }
        for (size_t i = 0; i < c->targets.ntargets; i++) {
            if (i > 0 && !json)
                fputc('\n', out);
            int r = analyse_one(c, s, &c->targets.targets[i], cmd, json, out);
            if (r > rc)
                rc = r;
        }
    }
    store_close(&s);
    return rc;
}

int cli_diagnose(const struct collconf *c, const char *target, bool json, FILE *out)
{
    return analyse(c, target, CMD_DIAGNOSE, json, out);
}

int cli_compare(const struct collconf *c, const char *target, bool json, FILE *out)
{
    return analyse(c, target, CMD_COMPARE, json, out);
}

int cli_timeline(const struct collconf *c, const char *target, bool json, FILE *out)
{
    return analyse(c, target, CMD_TIMELINE, json, out);
}

int cli_probe_now(const struct collconf *c, const char *target, int wait_s, bool json, FILE *out)
{
    struct probenow_outcome o;
    int rc = probenow_run(c, target, wait_s, stderr, &o);
    if (rc != 0)
        return rc;
    if (json) {
        char when[40];
        clock_format_iso_us(o.at_us, true, when, sizeof(when));
        fprintf(out, "{\"probe_now\":{\"target\":");
        json_t *t = json_string(target);
        json_dumpf(t, out, JSON_ENCODE_ANY);
        json_decref(t);
        fprintf(out,
                ",\"requested_at\":\"%s\",\"asked\":%zu,\"answered\":%zu,\"collectors\":%zu}}\n",
                when, o.asked, o.answered, o.collectors);
    } else {
        fprintf(out, "%zu of %zu agents answered.\n\n", o.answered, o.asked);
    }
    return analyse(c, target, CMD_FRESH, json, out);
}
