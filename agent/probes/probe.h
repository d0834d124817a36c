/*
 * probe — the probe engine: runs checks (docs/reference.md "Check specs") as
 * non-blocking state machines on the agent's one libuv loop.
 *
 * The engine owns what probes share: the DNS resolver (c-ares), the TLS
 * client context and the trust store. Each check kind implements the
 * operations in probe_impl.h and is registered in the kind table in
 * probe.c; the scheduler (vantage-agent run) and the one-shot CLI
 * (vantage-agent probe) both go through probe_engine_start().
 */
#ifndef VANTAGE_PROBE_H
#define VANTAGE_PROBE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "result.h"

struct probe_engine;

struct probe_engine_opts {
    const char *ca_file;  /* trust anchors for probed servers; NULL = system */
    const char *resolver; /* "ip[:port]" to use instead of resolv.conf; NULL = system */
    bool trace;           /* log each probe's state changes to stderr */
    /* The agent's name, which marks its mailflow test messages (letters,
     * digits, '-', '_', '.'); NULL = this host's name. */
    const char *agent_name;
    /* ---- registration (issue 10) ---- */
    /* Where rdap:// finds the RDAP bootstrap registry (RFC 9224): an
     * http(s):// URL fetched on first use, or a file read then; NULL =
     * PROBE_RDAP_BOOTSTRAP_DEFAULT. The parsed copy is cached for
     * PROBE_RDAP_BOOTSTRAP_TTL_US; probe_engine_set_rdap_bootstrap()
     * replaces it with content the collector pushes. */
    const char *rdap_bootstrap;
    /* ---- end registration ---- */
};

/* ---- registration (issue 10) ---- */
#define PROBE_RDAP_BOOTSTRAP_DEFAULT "https://data.iana.org/rdap/dns.json"
/* IANA updates dns.json a few times a month; a day keeps a fleet of
 * agents from asking more than once a day each. */
#define PROBE_RDAP_BOOTSTRAP_TTL_US (24ull * 3600 * 1000000)
/* ---- end registration ---- */

struct probe_params {
    const char *check;    /* spec text, e.g. "imaps://mail.example.com" */
    const char *target;   /* target name copied into the result; may be NULL */
    bool discovered;      /* copied into the result */
    uint64_t timeout_us;  /* whole-probe deadline; each phase also gets it */
    const char *user;     /* login wanted when user and password are set */
    const char *password; /* never copied: not into results, logs or errors */
    /* mailflow:// without ?via= / ?read=: the target's own submission and
     * reading checks (e.g. "submission://mail.example.com",
     * "imaps://mail.example.com"); NULL = none, and such a check fails. */
    const char *mailflow_via;
    const char *mailflow_read;
};

/* Called once per started probe, on the loop. The callee takes ownership of
 * *r (and must result_clear() it); the probe's fds and timers are already
 * closed when this runs. */
typedef void (*probe_done_cb)(struct result *r, void *arg);

/* Creates an engine on loop. NULL on failure, with the reason in err. */
struct probe_engine *probe_engine_create(uv_loop_t *loop, const struct probe_engine_opts *opts,
                                         char *err, size_t errlen);

/* Starts one probe. Returns 0 and later calls done exactly once; or -1 with
 * the reason in err (unparsable spec, out of memory) and never calls done. */
int probe_engine_start(struct probe_engine *e, const struct probe_params *p, probe_done_cb done,
                       void *arg, char *err, size_t errlen) __attribute__((warn_unused_result));

/* ---- registration (issue 10) ---- */
/* Replaces the cached RDAP bootstrap registry with the content of an RFC
 * 9224 file (the daemon gets it from the collector's rdap_bootstrap). 0,
 * or -1 with err set when it does not parse (the cache is kept then). */
int probe_engine_set_rdap_bootstrap(struct probe_engine *e, const char *json, size_t len, char *err,
                                    size_t errlen) __attribute__((warn_unused_result));
/* Makes source (a URL or file; NULL = PROBE_RDAP_BOOTSTRAP_DEFAULT) where
 * rdap:// finds the bootstrap registry from now on. A change drops the
 * cached copy, pushed content included. 0, or -1 when out of memory. */
int probe_engine_set_rdap_source(struct probe_engine *e, const char *source)
    __attribute__((warn_unused_result));
/* ---- end registration ---- */

/* Number of probes in flight. */
unsigned probe_engine_active(const struct probe_engine *e);

/* Aborts every probe in flight (their done callbacks run with
 * RESULT_INTERNAL "aborted"), then frees the engine once its handles are
 * closed; run the loop until it has no handles left. Sets *ep to NULL. */
void probe_engine_destroy(struct probe_engine **ep);

#endif
