/*
 * snapshot — what every help-desk question of the analysis shares
 * (analysis.h): the target's latest states indexed by agent, network and
 * check (struct snap), the failing rows grouped into would-be findings
 * (struct group), facts about checks (the kind of service, the port, the
 * server), and the small text tools findings are written with.
 *
 * Internal to collector/analysis/: callers outside it use analysis.h.
 * Where each question lives:
 *   snapshot.c       building the snapshot; per-state and per-check facts;
 *                    which states are current (issue 15); contract names
 *   text.c           lists, sentences and the shared words of findings
 *   service.c        is the server itself working? (a server down;
 *                    certificates about to expire: warnings)
 *   credentials.c    can you log in at all?
 *   client_config.c  did you recently migrate? (DNS points elsewhere)
 *   dns.c            is it every user on the domain? DNS broken?
 *   network.c        does it work on another internet connection? (a
 *                    degraded link; a slow network: warning; latency)
 *   device.c         does it work from another computer? (a slow
 *                    computer: warning)
 *   inconclusive.c   what the vantage points cannot localise
 *   delivery.c       is the mailbox still receiving email? (mailflow://)
 *   registration.c   has the domain's registration expired or been put
 *                    on hold? (rdap://; expiring: warning)
 *   diagnose.c       the driver: verdicts per row, groups, evidence,
 *                    correlated changes, the order of findings
 */
#ifndef VANTAGE_ANALYSIS_SNAPSHOT_H
#define VANTAGE_ANALYSIS_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis.h"
#include "result.h"

/* Names a finding lists in one evidence line before "and N more": a line
 * a person reads, not an inventory (the JSON lists carry every name). */
#define NAMES_IN_LINE 5
/* Evidence lines per finding about checks, for the same reason. */
#define CHECK_LINES 6
/* A host name or an address printed in a sentence. */
#define HOST_MAX (RESULT_NAME_MAX + 1)
/* One sentence of evidence or advice: a few names and a detail. */
#define LINE_MAX_LEN 2048

/* One diagnosis run: its input, and whether an allocation failed (every
 * helper records it here, the driver checks it once). */
struct ctx {
    const struct analysis_input *in;
    bool oom;
};

/* Interned names of the snapshot: name -> dense index, open addressing
 * over pointers into the input (nothing is copied). */
struct names {
    const char **v;
    size_t n;
    uint32_t *slots; /* index + 1; 0 = empty */
    size_t cap;      /* power of two, at least twice n */
};

/* Mail services a client configures, for matching a configured check
 * with the discovered check DNS now points to. */
enum family { FAM_NONE, FAM_IMAP, FAM_POP, FAM_SUBMIT, FAM_SMTP, FAM_WEB };

enum scope { SCOPE_TARGET, SCOPE_NETWORK, SCOPE_AGENT };

struct row {
    size_t agent, net, check;
    bool fresh, failing, flapping;
    bool junk;          /* test mail delivered to Junk: a warning, not a failure (delivery.c) */
    bool registry_down; /* rdap:// failing to read the registry: a warning (registration.c) */
    bool bad_ad;        /* a server autoconfig advertises fails, the configured one works:
                           a warning (client_config.c) */
    enum result_layer layer; /* of the failure */
    enum result_error error;
    int64_t start_us;
    /* the assignment of a failing row */
    enum analysis_verdict verdict;
    enum scope scope;
    size_t scope_idx;
    /* A service failure's own error, which keeps it apart from the other
     * failures of its server; RESULT_OK when the server is down and all
     * its failures are that one problem. */
    enum result_error key;
    bool degraded; /* a timeout or flapping on a degraded network (network.c) */
};

struct checkinfo {
    enum family fam;
    bool discovered; /* every state of it says so */
    char host[HOST_MAX];
    size_t nets_probing, nets_down, nets_partial;
    size_t ok, fail;
    enum result_layer layer; /* most common failure */
    enum result_error error;
    bool global;
    enum analysis_verdict global_verdict;
    size_t host_rep;  /* the first check of the same server */
    const char *addr; /* an address it resolved to; NULL = none known */
    int alt;          /* a working discovered check DNS points to instead, or -1 */
};

struct group {
    enum analysis_verdict verdict;
    enum result_layer layer;
    enum scope scope;
    size_t scope_idx;
    enum result_error key; /* of its rows (struct row); a warning's error */
    size_t *rows;
    size_t nrows;
    bool merged;   /* folded into another group */
    bool degraded; /* a degraded network's mixed timeouts (network.c) */
    bool warning;  /* rows that pass, but warn (warnings: their own words) */
    /* A slow warning's medians: of its rows, and of the same checks
     * elsewhere (the other networks, or the computer's own network). */
    uint64_t slow_us, base_us;
    size_t slow_n, base_n;
};

struct snap {
    struct names agents, nets, checks;
    struct row *rows;  /* one per input state, same index */
    size_t *agent_net; /* per agent: network of its newest state */
    int64_t *agent_at; /* per agent: newest state's time */
    bool *agent_reporting;
    struct checkinfo *ck;
    bool *host_down;       /* [host_rep]: nothing answers on any of its ports */
    size_t *probe, *failn; /* [check * nnets + net] */
    bool *net_degraded;    /* per network (network_find_degraded) */
    struct group *groups;
    size_t ngroups;
};

/* The words every finding's sentences share, computed once per finding
 * by diagnose.c and handed to the question's own words function. */
struct finding_words {
    char checks[LINE_MAX_LEN / 2]; /* "imaps://a and 3 more checks" */
    char nets[LINE_MAX_LEN / 4];   /* the finding's networks */
    char agents[LINE_MAX_LEN / 4]; /* the finding's agents */
    char start[40];                /* its start, ISO 8601 */
    char host[HOST_MAX];           /* the main failing server */
    char ports[LINE_MAX_LEN / 4];  /* " port 993 (tcp_refused)" or "" */
    unsigned port;
    bool no_reply;            /* every port fails without an answer */
    const char *err;          /* the finding's error name */
    const char *intermittent; /* "intermittently " or "" */
    const char *s;            /* "s" when one check fails, else "" */
};

/* ---- snapshot.c ------------------------------------------------------------- */

/* Whether s reported within the staleness window. */
bool snapshot_fresh(const struct analysis_input *in, const struct analysis_state *s);
/* Whether s passes and fails by turns (ANALYSIS_FLAP_FLIPS). */
bool snapshot_flapping(const struct analysis_state *s);

/* Builds s from c->in: rows, networks of agents, per-check facts and the
 * global verdict of each check. Returns 0, or -1 with c->oom set. */
int snapshot_build(struct ctx *c, struct snap *s);
/* Frees what s owns (also a half-built one). */
void snapshot_free(struct snap *s);

/* The index of a name known to be interned. */
size_t snapshot_name_index(const struct names *t, const char *name);

/* The most common (layer, error) among rows; ties go to the lowest error
 * code, so the choice does not depend on the order of the rows. */
void snapshot_dominant(const struct snap *s, const size_t *rows, size_t n, enum result_layer *layer,
                       enum result_error *error);

/* A group's earliest start among its rows. */
int64_t snapshot_group_start(const struct snap *s, const struct group *g);
/* Appends b's rows to a and marks b merged. Returns 0, or -1 with c->oom. */
int snapshot_group_absorb(struct ctx *c, struct group *a, struct group *b);

/* Adds a group like proto (without its rows) to s; the pointer is valid
 * until the next group is added. NULL with c->oom. */
struct group *snapshot_group_new(struct ctx *c, struct snap *s, const struct group *proto);
/* Appends row to g. Returns 0, or -1 with c->oom. */
int snapshot_group_add_row(struct ctx *c, struct group *g, size_t row);

/* The median of v (sorted in place); 0 when n is 0. */
uint64_t snapshot_median(uint64_t *v, size_t n);
/* The layer a phase belongs to (a slow connect is tcp, a slow login
 * protocol). */
enum result_layer snapshot_phase_layer(enum result_phase p);

/* The slow rule (analysis.h, ANALYSIS_SLOW_*): compares the total times
 * of the rows marked in self (one per input state) with those in base,
 * over the checks both have, and adds a warning group like proto with
 * the self rows when they are slow (with each_agent: and when each
 * agent's own self rows are). Only the nsubset rows listed in subset are
 * read (subset NULL: every row), so that a rule asked once per agent
 * costs that agent's network, not the fleet. Returns 0, or -1 with
 * c->oom. */
int snapshot_slow(struct ctx *c, struct snap *s, const char *self, const char *base,
                  const size_t *subset, size_t nsubset, bool each_agent, const struct group *proto);
/* For every row, whether it is a sample for the slow rule: fresh,
 * passing, timed, and of a server check (not a DNS lookup, test mail or
 * the registry). Computed once per rule (callers free it); NULL with
 * c->oom. */
char *snapshot_passing_rows(struct ctx *c, const struct snap *s);

bool snapshot_is_dns_check(const char *check);
/* Whether check's answers (analysis_state.answers) name the servers the
 * domain sends clients to: a dns:// lookup, or autoconfig:// (the servers
 * its sources advertise, as "SOURCE PROTOCOL HOST PORT SOCKET"). */
bool snapshot_names_servers(const char *check);
/* The port a check connects to, for advice ("port 993"); 0 = none. */
unsigned snapshot_port_of(const char *check);
/* Errors that say nothing answers at the transport. */
bool snapshot_no_answer(enum result_error e);
/* True when answers (a dns:// check's records in presentation form) name
 * host as a whole word; a trailing root dot is ignored. */
bool snapshot_answers_name(const char *answers, const char *host);

/* ---- text.c ----------------------------------------------------------------- */

void *text_calloc(struct ctx *c, size_t n, size_t size);
/* A formatted sentence (at most LINE_MAX_LEN), or NULL with c->oom. */
__attribute__((format(printf, 2, 3))) char *text_fmt(struct ctx *c, const char *f, ...);
/* Appends s, which the list now owns (NULL records c->oom). */
void text_list_take(struct ctx *c, struct analysis_list *l, char *s);
/* Appends a copy of s. */
void text_list_add(struct ctx *c, struct analysis_list *l, const char *s);
/* Appends a copy of s unless the list has it. */
void text_list_add_unique(struct ctx *c, struct analysis_list *l, const char *s);
bool text_list_has(const struct analysis_list *l, const char *s);
void text_list_sort(struct analysis_list *l);
void text_list_clear(struct analysis_list *l);
/* "a, b, c and 4 more" of a sorted list. */
void text_names_line(const struct analysis_list *l, char *buf, size_t len);
/* An ISO 8601 time for a sentence. */
void text_when(int64_t us, char *buf, size_t len);
/* Fills w from the finding f of group g (struct finding_words). */
void text_finding_words(const struct snap *s, const struct group *g,
                        const struct analysis_finding *f, struct finding_words *w);

/* ---- one file per question: its rules and its words -------------------------- */

/* service.c: marks the servers that are down (nothing answers on any of
 * their ports), whose failures then form one finding. */
int service_find_down_hosts(struct ctx *c, struct snap *s);
/* service.c: warning groups for certificates that expire within the
 * target's cert_warn_days, one per certificate. */
int service_find_expiring(struct ctx *c, struct snap *s);
void service_words(struct ctx *c, const struct snap *s, const struct group *g,
                   struct analysis_finding *f, const struct finding_words *w);

/* credentials.c: logins failing on a server that went down at the same
 * time join that server's finding. */
int credentials_fold(struct ctx *c, struct snap *s);
void credentials_words(struct ctx *c, const struct snap *s, const struct group *g,
                       struct analysis_finding *f, const struct finding_words *w);

/* client_config.c: a check failing everywhere whose service the domain's
 * DNS now points elsewhere for, where it works. */
void client_config_find(const struct analysis_input *in, struct snap *s);
/* client_config.c: a discovered server only autoconfig advertises that
 * fails everywhere while the configured server of its kind works is not
 * a problem (its rows stop failing) but a warning
 * (client_config_find_warnings). Before rows are assigned. */
void client_config_mark_bad_ads(const struct analysis_input *in, struct snap *s);
int client_config_find_warnings(struct ctx *c, struct snap *s);
void client_config_words(struct ctx *c, const struct snap *s, const struct group *g,
                         struct analysis_finding *f, const struct finding_words *w);

/* dns.c: every other name-lookup failure joins the domain's DNS failure. */
int dns_fold(struct ctx *c, struct snap *s);
void dns_words(struct ctx *c, const struct snap *s, const struct group *g,
               struct analysis_finding *f, const struct finding_words *w);

/* network.c: a network whose link degrades (its computers time out at
 * different steps, or pass and fail by turns) is one finding, marked in
 * s->net_degraded before rows are assigned (network_degraded_row). */
int network_find_degraded(struct ctx *c, struct snap *s);
/* Whether row r is a failure of its degraded network's link: on a
 * degraded network, any failure of a check that works elsewhere. */
bool network_degraded_row(const struct snap *s, const struct row *r);
/* network.c: offices failing the same checks the same way are one finding. */
int network_merge(struct ctx *c, struct snap *s);
/* network.c: warning groups for networks much slower than the others
 * (ANALYSIS_SLOW_*), after the problems are grouped. */
int network_find_slow(struct ctx *c, struct snap *s);
/* network.c: evidence lines with the median phase times of f's checks on
 * each network, f's own networks first. */
void network_latency_evidence(struct ctx *c, const struct snap *s, struct analysis_finding *f);
void network_words(struct ctx *c, const struct snap *s, const struct group *g,
                   struct analysis_finding *f, const struct finding_words *w);

/* device.c: warning groups for computers much slower than the others of
 * their network (ANALYSIS_SLOW_*). */
int device_find_slow(struct ctx *c, struct snap *s);
void device_words(struct ctx *c, const struct snap *s, const struct group *g,
                  struct analysis_finding *f, const struct finding_words *w);

/* delivery.c: test mail that fails only because a server it goes
 * through fails joins that server's finding. */
bool delivery_is_mailflow(const char *check);
int delivery_fold(struct ctx *c, struct snap *s);
/* delivery.c: warning groups for test mail in Junk (mail_in_junk) and
 * test mail slower than delivery_warn (delivery_slow). */
int delivery_find_warnings(struct ctx *c, struct snap *s);
/* The words of a service finding of layer delivery: not delivered (the
 * queue, the quota, the delivery agent) or refused (the server's text). */
void delivery_words(struct ctx *c, const struct snap *s, const struct group *g,
                    struct analysis_finding *f, const struct finding_words *w);

/* registration.c: whether check is an rdap:// check. */
bool registration_is_rdap(const char *check);
/* registration.c: a dns finding holding a failing registration is of
 * layer registration with the registration's error (set on f after
 * its dominant layer and error). */
void registration_classify(const struct snap *s, const struct group *g, struct analysis_finding *f);
/* registration.c: warning groups for a registration expiring within
 * domain_warn_days (registration_expiring) and a registry no agent can
 * read. */
int registration_find_warnings(struct ctx *c, struct snap *s);
/* The words of a dns finding of layer registration. */
void registration_words(struct ctx *c, const struct snap *s, const struct group *g,
                        struct analysis_finding *f, const struct finding_words *w);

/* inconclusive.c */
void inconclusive_words(struct ctx *c, const struct snap *s, const struct group *g,
                        struct analysis_finding *f, const struct finding_words *w);

#endif
