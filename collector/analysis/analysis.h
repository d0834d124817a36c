/*
 * analysis — the decision logic of compare and diagnose (docs/reference.md
 * "Diagnosis"): pure functions over an in-memory snapshot of one target's
 * latest states and recent changes. No I/O, no clock: the caller (cli.c
 * through report.c) reads the store and passes "now", so unit tests build
 * synthetic snapshots.
 *
 * Rules, per failing check (a state fails when its latest result failed,
 * or when it is flapping; states older than stale_us are not reporting;
 * an optional record the domain never published - AAAA, SRV, autodiscover
 * answering NXDOMAIN or NODATA and never resolved - is absent, not
 * failing):
 *
 *   a network is "down" for a check when every agent of it that probes
 *   the check fails (with ANALYSIS_NEARLY_MIN or more agents: all but a
 *   quarter);
 *   every probing network down, and two networks or more (or an error
 *   only the server can cause, e.g. an expired certificate or a refused
 *   login)   -> dns (layer dns), credentials (layer auth), else service;
 *               service or dns becomes client_config when the domain's DNS
 *               now points the same kind of service to another host whose
 *               discovered check works;
 *   ... only one network probes it                   -> inconclusive;
 *   some networks down, others not: a down network with two agents or
 *   more -> network; a down network of one agent     -> inconclusive;
 *   an agent failing where others of its network pass -> device;
 *   before all these: a degraded network (two of its agents or more, and
 *   half or more, time out - dns, tcp, protocol - or flap on checks that
 *   work elsewhere, not every agent the same way) -> one network finding
 *   for all those failures (collector/analysis/network.c).
 *
 * Test mail (mailflow://, collector/analysis/delivery.c): mail_rejected,
 * mail_not_delivered and mail_in_junk are errors only the server causes;
 * a mailflow state is stale after mailflow_stale_us; test mail failing
 * only because a server it goes through fails (another finding holds a
 * failing submission/IMAP/POP3 check of the same agent) joins that
 * finding; a service finding of layer delivery has its own words.
 *
 * Warnings (severity warning; status warning when every finding is one):
 * a certificate a fresh state saw expiring within cert_warn_days ->
 * service, layer tls, tls_cert_expiring, one per certificate; a network
 * or a computer slower than the others by the ANALYSIS_SLOW_* rule ->
 * network or device, error slow; test mail in Junk (mail_in_junk, never a
 * problem) and test mail slower than delivery_warn_us (delivery_slow) ->
 * service, layer delivery. Problems come first, then warnings.
 *
 * Registration (rdap://, collector/analysis/registration.c): expired,
 * held and unknown registrations are errors only the registry causes
 * (one network reading it is enough) and dns findings; with the domain's
 * other DNS failures they are one finding of layer registration, whose
 * words name the expiry, the status and the registrar. An rdap state is
 * stale after rdap_stale_us. A registration expiring within
 * domain_warn_days -> warning dns, layer registration,
 * registration_expiring; a registry no agent can read (rdap:// failing
 * otherwise everywhere) -> warning dns, layer registration, its error.
 * autoconfig:// (client_config.c): a server autoconfig or autodiscover
 * advertises counts as where the domain points, like DNS; a configured
 * check that passes while an advertised server of its kind fails ->
 * warning client_config, layer autoconfig.
 *
 * Failing (check, agent) pairs with the same verdict, layer and scope (the
 * whole target, a network, an agent) form one finding; network findings
 * of the same layer and checks are merged. A service finding is one
 * server's: all its failures when it is down (every check of it fails
 * everywhere with no answer at the transport: refused, timeout,
 * unreachable), otherwise one per error, so that a port that answers is
 * never reported as a server that does not; logins failing on it at the
 * same time join it. Next steps name the ports and the error of each. Each finding carries the
 * earliest start of its states' episodes (a flapping check keeps its
 * first failure) and the changes from ANALYSIS_CORRELATE_BEFORE_US before
 * to ANALYSIS_CORRELATE_AFTER_US after it that concern it.
 * @unittest: tests/unit/test_analysis*.c, tests/unit/test_delivery.c
 */
#ifndef VANTAGE_ANALYSIS_H
#define VANTAGE_ANALYSIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "result.h"

/* A network with this many probing agents or more counts as down when at
 * least three quarters of them fail ("nearly every agent"); smaller
 * networks must fail entirely, since one of two failing is a device. */
#define ANALYSIS_NEARLY_MIN 4

/* A state with this many pass/fail changes in its episode is flapping
 * while it fails or its passing streak is short: fail, pass, fail, pass. */
#define ANALYSIS_FLAP_FLIPS 3

/* Changes this long before a failure's start count as correlated: long
 * enough for a DNS TTL of an hour to run out after a zone edit... */
#define ANALYSIS_CORRELATE_BEFORE_US (2LL * 3600 * 1000000)
/* ... and this long after it, because the DNS check that sees a change
 * may run after the server check that first fails. */
#define ANALYSIS_CORRELATE_AFTER_US (10LL * 60 * 1000000)

/* The contract's verdict order. */
enum analysis_verdict {
    ANALYSIS_SERVICE,
    ANALYSIS_DNS,
    ANALYSIS_NETWORK,
    ANALYSIS_DEVICE,
    ANALYSIS_CREDENTIALS,
    ANALYSIS_CLIENT_CONFIG,
    ANALYSIS_INCONCLUSIVE,
    ANALYSIS_VERDICT_LAST
};

/* WARNING: every finding is a warning (diagnose exits 0). */
enum analysis_status {
    ANALYSIS_STATUS_OK,
    ANALYSIS_STATUS_PROBLEM,
    ANALYSIS_STATUS_NO_DATA,
    ANALYSIS_STATUS_WARNING
};

/* A problem is failing now; a warning comes before users notice. */
enum analysis_severity { ANALYSIS_SEVERITY_PROBLEM, ANALYSIS_SEVERITY_WARNING };

/* A certificate expiring within this many days is a warning, unless the
 * target sets cert_warn_days. */
#define ANALYSIS_CERT_WARN_DAYS 14
/* ... and a domain's registration (domain_warn_days). */
#define ANALYSIS_DOMAIN_WARN_DAYS 30

/* "Slow" (a warning, error slow): a network whose median total time for
 * server checks (DNS lookups, mostly answered from the office resolver's
 * cache, are left out) the other networks also pass is at least ANALYSIS_SLOW_FACTOR
 * times theirs and at least ANALYSIS_SLOW_MIN_US more, over at least
 * ANALYSIS_SLOW_MIN_RESULTS fresh passing results on each side, and so
 * is each of its computers' own median (else one slow computer would make
 * its network look slow); a computer likewise against the other computers
 * of its network. Only networks without a network problem finding
 * of their own are compared, and degraded networks are left out. A factor
 * of three stays clear of the ordinary spread of round trips between
 * offices; 200 ms is what a person starts to notice. */
#define ANALYSIS_SLOW_FACTOR      3
#define ANALYSIS_SLOW_MIN_US      200000
#define ANALYSIS_SLOW_MIN_RESULTS 3

/* How compare shows one state. */
enum analysis_cell {
    ANALYSIS_CELL_OK,
    ANALYSIS_CELL_FAIL,
    ANALYSIS_CELL_FLAPPING,
    ANALYSIS_CELL_STALE, /* not reporting: older than stale_us */
    ANALYSIS_CELL_ABSENT /* an optional record the domain does not publish */
};

/* One (agent, check) latest state of the target (store_latest). */
struct analysis_state {
    const char *agent;
    const char *network;
    const char *check;
    bool discovered;
    bool ok;
    enum result_layer layer;
    enum result_error error;
    enum result_layer fail_layer; /* the latest failure, kept while passing */
    enum result_error fail_error;
    int64_t at_us;      /* latest result */
    int64_t since_us;   /* current streak */
    int64_t episode_us; /* first failure of the episode; 0 = never failed */
    uint32_t flips;
    uint32_t streak_n;
    uint64_t total_us;
    enum result_phase phase;
    uint64_t phase_us;
    const char *detail;   /* may be NULL */
    const char *address;  /* may be NULL */
    const char *answers;  /* a dns:// check's last known answers; NULL = never any */
    uint64_t delivery_us; /* mailflow: the latest test mail's delivery time; 0 = none */
    /* Facts of the latest result, when the caller read them (report.c). */
    uint64_t phases_us[RESULT_PHASE_LAST]; /* 0 = the phase did not run */
    int64_t cert_not_after;                /* unix seconds; 0 = no certificate seen */
    const char *cert_subject;              /* may be NULL */
    /* rdap://: the registration the latest result read (report.c). */
    int64_t reg_expires;       /* unix seconds; 0 = not known */
    const char *reg_registrar; /* may be NULL */
    const char *reg_status;    /* "client hold, ..."; may be NULL */
};

/* One detected change (store_change); agent NULL = not an agent's. */
struct analysis_change {
    int64_t at_us;
    const char *agent;
    const char *kind;
    const char *subject;
    const char *before;
    const char *after;
};

/* A finding opened or resolved while serve ran (store_finding_event). */
struct analysis_finding_event {
    int64_t at_us;
    const char *id;
    const char *event;                                /* opened | resolved */
    const char *severity, *verdict, *layer, *summary; /* layer may be NULL */
};

struct analysis_input {
    const char *target;
    const char *domain; /* may be NULL */
    int64_t now_us;
    int64_t stale_us; /* states older than this are not reporting */
    const struct analysis_state *states;
    size_t nstates;
    const struct analysis_change *changes; /* in time order */
    size_t nchanges;
    /* The target's checks as configured now, with the DNS checks its
     * domain adds, as canonical spec texts (analysis_state_current);
     * NULL = no configuration known: every state is current. */
    const char *const *checks;
    size_t nchecks;
    /* mailflow:// states run on their own, longer interval: they are
     * stale after this instead of stale_us (0 = stale_us). */
    int64_t mailflow_stale_us;
    /* Test mail slower than this to arrive is a delivery_slow warning;
     * 0 = no such warning. */
    uint64_t delivery_warn_us;
    /* Certificates expiring within this many days are a warning; 0 means
     * ANALYSIS_CERT_WARN_DAYS, negative means no such warning. */
    int cert_warn_days;
    /* For the timeline only (analysis ignores them): findings of
     * continuous diagnosis opened and resolved, in time order. */
    const struct analysis_finding_event *finding_events;
    size_t nfinding_events;
    /* rdap:// states run on their own, long interval (rdap_interval):
     * stale after this instead of stale_us (0 = stale_us). */
    int64_t rdap_stale_us;
    /* A registration expiring within this many days is a warning; 0 means
     * ANALYSIS_DOMAIN_WARN_DAYS, negative means no such warning. */
    int domain_warn_days;
};

/* A list of strings the diagnosis owns. */
struct analysis_list {
    char **v;
    size_t n;
};

struct analysis_finding {
    enum analysis_severity severity;
    enum analysis_verdict verdict;
    enum result_layer layer;
    enum result_error error; /* the most common among its states */
    struct analysis_list checks, networks, agents, healthy_networks, healthy_agents; /* sorted */
    int64_t started_at_us;
    bool flapping;
    size_t *changes; /* indices into the input's changes, in time order */
    size_t nchanges;
    char *summary;
    struct analysis_list evidence, next_steps;
    /* The finding's stable id: analysis leaves it NULL; the finding
     * lifecycle (collector/notify/lifecycle.h) sets it (malloc'ed, freed
     * with the diagnosis). */
    char *id;
};

struct analysis_diagnosis {
    enum analysis_status status;
    size_t agents, networks, reporting; /* vantage_points */
    struct analysis_finding *findings;  /* problems, most general first, then warnings */
    size_t nfindings;
};

/* Diagnoses in; *d is overwritten (clear it after use, also on failure).
 * Strings of in are copied. Returns 0, or -1 with err when out of memory. */
int analysis_diagnose(const struct analysis_input *in, struct analysis_diagnosis *d, char *err,
                      size_t errlen) __attribute__((warn_unused_result));

/* Frees what the diagnosis owns and zeroes it. */
void analysis_diagnosis_clear(struct analysis_diagnosis *d);

/* How compare shows state s of in. */
enum analysis_cell analysis_cell_of(const struct analysis_input *in,
                                    const struct analysis_state *s);

/* True when s is of a check the target has now: one of in->checks, or a
 * check found through the domain's DNS (s->discovered) while the target
 * has a domain and the DNS, as last seen, still names its host (or no
 * DNS answers are known). The states of a check removed from the
 * configuration are not current: compare and diagnose leave them out at
 * once, while results keeps their history (issue 15). */
bool analysis_state_current(const struct analysis_input *in, const struct analysis_state *s);

/* Moves the current states of in (analysis_state_current) to the front of
 * states, the caller's array in->states points to, keeping their order,
 * and returns how many they are; the caller then sets in->nstates. */
size_t analysis_keep_current(const struct analysis_input *in, struct analysis_state *states);

/* True when s fails now: its latest result failed, or it is flapping. */
bool analysis_state_failing(const struct analysis_input *in, const struct analysis_state *s);

/* Contract names; NULL for out-of-range values. */
const char *analysis_verdict_name(enum analysis_verdict v);
const char *analysis_status_name(enum analysis_status s);
const char *analysis_cell_name(enum analysis_cell c);
const char *analysis_severity_name(enum analysis_severity s);

#endif
