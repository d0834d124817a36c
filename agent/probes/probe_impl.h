/*
 * probe_impl — what the engine (probe.c) and the check kinds (probe_tcp.c,
 * probe_tls.c, probe_dns.c, probe_imap.c, ...) share. Not for the
 * scheduler or the CLI: they use probe.h.
 *
 * A kind is a table of operations, as RIPE Atlas registers its tests with
 * struct testops. The engine parses the spec, resolves the host (A and
 * AAAA through the engine's resolver, both kept in result.dns) unless the
 * kind does its own DNS, arms the whole-probe deadline, then calls
 * ops->start(). From then on the kind owns the probe until it calls
 * probe_finish() exactly once, after its own handles are closed.
 *
 * Lifecycle of a kind, e.g. imaps:
 *
 *     start(p):  c = conn_create(&(struct conn_params){ .loop = p->loop,
 *                    .tls = p->tls, .addrs = p->addrs, .naddrs = p->naddrs,
 *                    .port = p->spec.port, .servername = p->spec.host,
 *                    .deadline_us = p->deadline_us, .result = &p->result }, ...);
 *                conn_connect(c, ...);  return 0;
 *     ... dialog on conn events, phases into p->result.phases_us,
 *         result_fail(&p->result, ...) on a failure ...
 *     conn_destroy(&c, closed, p);   closed(p): free kind state; probe_finish(p);
 *     abort(p, why): probe_classify_abort(p, c, why); then close as above.
 */
#ifndef VANTAGE_PROBE_IMPL_H
#define VANTAGE_PROBE_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "conn.h"
#include "probe.h"
#include "resolver.h"
#include "result.h"
#include "spec.h"

/* Why the engine takes a probe back before the kind finished it. */
enum probe_abort {
    PROBE_ABORT_DEADLINE, /* the whole-probe deadline passed (plus a grace) */
    PROBE_ABORT_SHUTDOWN, /* probe_engine_destroy(): record internal "aborted" */
    PROBE_ABORT_LAST
};

/* The engine's view of a probe's life; changed only by probe.c's one
 * transition function, which logs old -> new when tracing is on. */
enum probe_state {
    PROBE_ST_RESOLVING, /* A/AAAA queries for spec.host in flight */
    PROBE_ST_RUNNING,   /* the kind owns the probe */
    PROBE_ST_CLOSING,   /* finished; the deadline timer is closing */
    PROBE_ST_LAST
};

struct probe;

struct probe_ops {
    const char *name; /* the scheme: "imaps", "tcp", ... */
    /* false: the engine does not resolve spec.host (dns:// asks its own
     * question). */
    bool needs_addresses;
    /* true: the kind's own timers enforce p->deadline_us (every conn given
     * it does), so the engine waits PROBE_ABORT_GRACE_MS past the deadline
     * before it calls abort(); false: abort() comes at the deadline. */
    bool abort_grace;
    /* Used when probe_params.timeout_us is 0; 0 = the engine's default. */
    uint64_t default_timeout_us;
    /* Time the kind needs after its timeout to clean up (mailflow deletes
     * its test message and logs out after the wait ends): the deadline is
     * the timeout plus this. */
    uint64_t cleanup_us;
    /* Starts the kind. p->addrs holds the addresses (v6 and v4
     * interleaved, RFC 8305 §4) when needs_addresses. Returns 0 and later
     * calls probe_finish(p) once; or -1 after classifying p->result
     * (e.g. result_fail(&p->result, RESULT_INTERNAL, ...)) without having
     * kept any handle, and the engine finishes the probe. */
    int (*start)(struct probe *p);
    /* Takes the probe back: classify with probe_classify_abort() (or
     * better), close every handle, then probe_finish(p). May be called
     * at most once, only while the kind owns the probe. */
    void (*abort)(struct probe *p, enum probe_abort why);
};

struct probe {
    struct probe_engine *engine;
    uv_loop_t *loop;
    const struct probe_ops *ops;
    struct spec spec;
    struct result result;                          /* handed to the done callback */
    uint64_t started_us;                           /* clock_mono_us() at probe_engine_start */
    uint64_t deadline_us;                          /* clock_mono_us() value: give every conn this */
    const char *user;                              /* NULL when no login is wanted */
    const char *password;                          /* never copied into results, logs or errors */
    const char *agent_name;                        /* the engine's; never NULL */
    const char *mailflow_via;                      /* probe_params.mailflow_via (copy) or NULL */
    const char *mailflow_read;                     /* probe_params.mailflow_read (copy) or NULL */
    uint64_t timeout_us;                           /* the check's timeout, without cleanup_us */
    struct conn_tls *tls;                          /* the engine's TLS client context */
    struct resolver *resolver;                     /* the engine's resolver */
    struct sockaddr_storage addrs[CONN_ADDRS_MAX]; /* port 0: pass spec.port to conn */
    size_t naddrs;
    void *kind; /* the kind's own state; the kind frees it before probe_finish */

    /* Engine-private below. */
    enum probe_state state;
    probe_done_cb done;
    void *done_arg;
    uv_timer_t deadline_timer;
    struct resolver_query *q[2]; /* [0] A, [1] AAAA; NULL once answered */
    struct result dnsbuf[2];     /* their records, kept until both answered */
    enum result_error dnserr[2]; /* their classification */
    char *dnsdetail[2];          /* and its detail (heap) */
    struct sockaddr_storage found[2][CONN_ADDRS_MAX];
    size_t nfound[2];
    bool aborted; /* abort() already called */
    char *user_copy;
    char *password_copy;
    char *via_copy;
    char *read_copy;
    struct probe *prev, *next; /* the engine's list of probes in flight */
};

/* Ends the probe: sets phases_us[TOTAL], closes the deadline timer and
 * then hands the result to the done callback and frees the probe. The kind
 * must have closed its handles and freed p->kind. Call exactly once. */
void probe_finish(struct probe *p);

/* Classifies p->result for an abort: SHUTDOWN -> internal "aborted";
 * DEADLINE -> by the connection's stage (c may be NULL): connecting ->
 * tcp_timeout, TLS handshake -> tls_handshake_failed, otherwise
 * proto_timeout. */
void probe_classify_abort(struct probe *p, const struct conn *c, enum probe_abort why);

/* Every kind's operations, referenced from probe.c's kind table.
 *
 * They were declared weak while the dialogs' kinds were being written, so
 * that a missing kind made probe_engine_start() fail with "not
 * implemented" instead of the link failing. That does not survive static
 * libraries: a weak reference never pulls an object file out of an archive
 * (GNU ld), so written kinds stayed "not implemented" in vantage-agent.
 * Every kind exists now and the references are strong. To go back to weak
 * ones, link vantage_agent_core whole ($<LINK_LIBRARY:WHOLE_ARCHIVE,...>,
 * CMake >= 3.24); probe.c's "not implemented" path stays for that case. */
extern const struct probe_ops probe_imaps_ops;
extern const struct probe_ops probe_imap_ops;
extern const struct probe_ops probe_pop3s_ops;
extern const struct probe_ops probe_pop3_ops;
extern const struct probe_ops probe_smtps_ops;
extern const struct probe_ops probe_submission_ops;
extern const struct probe_ops probe_smtp_ops;
extern const struct probe_ops probe_https_ops;
extern const struct probe_ops probe_tls_ops;
extern const struct probe_ops probe_tcp_ops;
extern const struct probe_ops probe_dns_ops;
extern const struct probe_ops probe_mailflow_ops;

/* The first probe in flight of p's engine (follow ->next): a kind may look
 * at its siblings, e.g. mailflow at the test messages other probes of this
 * agent are still waiting for. */
struct probe *probe_engine_first(const struct probe *p);
/* ---- registration and autoconfig (issue 10) ---- */
extern const struct probe_ops probe_rdap_ops;
extern const struct probe_ops probe_autoconfig_ops;

struct rdap_bootstrap;
/* The engine's cached RDAP bootstrap registry; NULL when none is cached
 * or it is older than PROBE_RDAP_BOOTSTRAP_TTL_US. */
const struct rdap_bootstrap *probe_rdap_bootstrap(const struct probe *p);
/* Hands a freshly parsed one to the engine's cache (takes *b, sets it
 * NULL); a newer one already cached wins and *b is freed. */
void probe_rdap_bootstrap_keep(struct probe *p, struct rdap_bootstrap **b);
/* Where to get it: a URL or a file name (probe_engine_opts.rdap_bootstrap). */
const char *probe_rdap_bootstrap_source(const struct probe *p);
/* ---- end registration and autoconfig ---- */

/* Whether the engine was asked to trace (--trace): dialogs log their
 * state changes then. */
bool probe_tracing(const struct probe *p);

#endif
