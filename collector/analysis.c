/*
 * analysis — verdicts from latest states (analysis.h).
 */
#include "analysis.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "changes.h"
#include "clock.h"
#include "discover.h"
#include "store_impl.h"

/* Names a finding lists in one evidence line before "and N more": a line
 * a person reads, not an inventory (the JSON lists carry every name). */
#define NAMES_IN_LINE 5
/* Evidence lines per finding about checks, for the same reason. */
#define CHECK_LINES 6
/* A host name or an address printed in a sentence. */
#define HOST_MAX (RESULT_NAME_MAX + 1)
/* One sentence of evidence or advice: a few names and a detail. */
#define LINE_MAX_LEN 2048

static const char *const verdict_names[ANALYSIS_VERDICT_LAST] = {
    "service", "dns", "network", "device", "credentials", "client_config", "inconclusive"};

const char *analysis_verdict_name(enum analysis_verdict v)
{
    return (unsigned)v < ANALYSIS_VERDICT_LAST ? verdict_names[v] : NULL;
}

const char *analysis_status_name(enum analysis_status s)
{
    switch (s) {
    case ANALYSIS_STATUS_OK:
        return "ok";
    case ANALYSIS_STATUS_PROBLEM:
        return "problem";
    case ANALYSIS_STATUS_NO_DATA:
        return "no_data";
    }
    return NULL;
}

const char *analysis_cell_name(enum analysis_cell c)
{
    switch (c) {
    case ANALYSIS_CELL_OK:
        return "ok";
    case ANALYSIS_CELL_FAIL:
        return "fail";
    case ANALYSIS_CELL_FLAPPING:
        return "flapping";
    case ANALYSIS_CELL_STALE:
        return "stale";
    case ANALYSIS_CELL_ABSENT:
        return "absent";
    }
    return NULL;
}

static bool fresh(const struct analysis_input *in, const struct analysis_state *s)
{
    return in->now_us - s->at_us <= in->stale_us;
}

static bool flapping(const struct analysis_state *s)
{
    return s->flips >= ANALYSIS_FLAP_FLIPS && (!s->ok || s->streak_n <= STORE_FLAP_GAP_MAX);
}

/* Records a mail domain may leave out (discover_optional). Their lookups
 * answering "no such name" or "no such record", never having resolved,
 * mean "not published". */
static bool optional_record(const struct analysis_state *s)
{
    return s->answers == NULL && discover_optional(s->check);
}

static bool absent(const struct analysis_state *s)
{
    return s->answers == NULL && discover_not_published(s->check, s->ok, s->error);
}

enum analysis_cell analysis_cell_of(const struct analysis_input *in, const struct analysis_state *s)
{
    if (!fresh(in, s))
        return ANALYSIS_CELL_STALE;
    if (absent(s))
        return ANALYSIS_CELL_ABSENT;
    if (flapping(s))
        return ANALYSIS_CELL_FLAPPING;
    return s->ok ? ANALYSIS_CELL_OK : ANALYSIS_CELL_FAIL;
}

bool analysis_state_failing(const struct analysis_input *in, const struct analysis_state *s)
{
    return fresh(in, s) && !absent(s) && (!s->ok || flapping(s));
}

/* ---- small tools ------------------------------------------------------------ */

struct ctx {
    const struct analysis_input *in;
    bool oom;
};

static void *xcalloc(struct ctx *c, size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (p == NULL)
        c->oom = true;
    return p;
}

__attribute__((format(printf, 2, 3))) static char *fmt(struct ctx *c, const char *f, ...)
{
    char buf[LINE_MAX_LEN];
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, sizeof(buf), f, ap);
    va_end(ap);
    char *s = strdup(buf);
    if (s == NULL)
        c->oom = true;
    return s;
}

static void list_take(struct ctx *c, struct analysis_list *l, char *s)
{
    if (s == NULL) {
        c->oom = true;
        return;
    }
    char **v = realloc(l->v, (l->n + 1) * sizeof(*v));
    if (v == NULL) {
        free(s);
        c->oom = true;
        return;
    }
    l->v = v;
    l->v[l->n++] = s;
}

static void list_add(struct ctx *c, struct analysis_list *l, const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        c->oom = true;
    else
        list_take(c, l, d);
}

static void list_clear(struct analysis_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    *l = (struct analysis_list){0};
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_sort(struct analysis_list *l)
{
    if (l->n > 1)
        qsort(l->v, l->n, sizeof(*l->v), cmp_str);
}

/* "a, b, c and 4 more" of a sorted list. */
static void names_line(const struct analysis_list *l, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < l->n && i < NAMES_IN_LINE && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", l->v[i]);
    if (l->n > NAMES_IN_LINE && used < len)
        snprintf(buf + used, len - used, " and %zu more", l->n - NAMES_IN_LINE);
}

static void when(int64_t us, char *buf, size_t len)
{
    clock_format_iso_us(us, false, buf, len);
}

/* Interned names of the snapshot: name -> dense index, open addressing
 * over pointers into the input (nothing is copied). */
struct names {
    const char **v;
    size_t n;
    uint32_t *slots; /* index + 1; 0 = empty */
    size_t cap;      /* power of two, at least twice n */
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static int names_init(struct ctx *c, struct names *t, size_t max)
{
    t->cap = 16;
    while (t->cap < 2 * max + 2)
        t->cap *= 2;
    t->slots = xcalloc(c, t->cap, sizeof(*t->slots));
    t->v = xcalloc(c, max + 1, sizeof(*t->v));
    t->n = 0;
    return c->oom ? -1 : 0;
}

static size_t names_get(struct names *t, const char *name)
{
    size_t i = hash_str(name) & (t->cap - 1);
    for (; t->slots[i] != 0; i = (i + 1) & (t->cap - 1))
        if (strcmp(t->v[t->slots[i] - 1], name) == 0)
            return t->slots[i] - 1;
    t->v[t->n] = name;
    t->slots[i] = (uint32_t)(++t->n);
    return t->n - 1;
}

/* The index of a name known to be interned. */
static size_t names_find(const struct names *t, const char *name)
{
    size_t i = hash_str(name) & (t->cap - 1);
    for (; t->slots[i] != 0; i = (i + 1) & (t->cap - 1))
        if (strcmp(t->v[t->slots[i] - 1], name) == 0)
            return t->slots[i] - 1;
    assert(!"names_find of a name never interned");
    return 0;
}

static void names_free(struct names *t)
{
    free(t->v);
    free(t->slots);
}

/* Mail services a client configures, for matching a configured check
 * with the discovered check DNS now points to. */
enum family { FAM_NONE, FAM_IMAP, FAM_POP, FAM_SUBMIT, FAM_SMTP, FAM_WEB };

static enum family family_of(const char *check)
{
    static const struct {
        const char *scheme;
        enum family f;
    } map[] = {{"imaps://", FAM_IMAP}, {"imap://", FAM_IMAP},    {"pop3s://", FAM_POP},
               {"pop3://", FAM_POP},   {"smtps://", FAM_SUBMIT}, {"submission://", FAM_SUBMIT},
               {"smtp://", FAM_SMTP},  {"https://", FAM_WEB},    {"tls://", FAM_WEB}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strncmp(check, map[i].scheme, strlen(map[i].scheme)) == 0)
            return map[i].f;
    return FAM_NONE;
}

static bool is_dns_check(const char *check)
{
    return strncmp(check, "dns://", 6) == 0;
}

/* The port a check connects to, for advice ("port 993"); 0 = none. */
static unsigned port_of(const char *check)
{
    static const struct {
        const char *scheme;
        unsigned port;
    } map[] = {{"imaps://", 993}, {"imap://", 143},       {"pop3s://", 995}, {"pop3://", 110},
               {"smtps://", 465}, {"submission://", 587}, {"smtp://", 25},   {"https://", 443}};
    const char *p = strstr(check, "://");
    if (p == NULL || is_dns_check(check))
        return 0;
    p += 3;
    if (*p == '[')
        p = strchr(p, ']') ? strchr(p, ']') + 1 : p;
    else
        p += strcspn(p, ":/");
    if (*p == ':')
        return (unsigned)strtoul(p + 1, NULL, 10);
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strncmp(check, map[i].scheme, strlen(map[i].scheme)) == 0)
            return map[i].port;
    return 0;
}

/* Errors only the server side causes, whichever network sees them: one
 * network failing with them is enough for a verdict. An untrusted
 * certificate is not among them (an intercepting proxy gives one). */
static bool server_intrinsic(enum result_error e)
{
    switch (e) {
    case RESULT_AUTH_FAILED:
    case RESULT_AUTH_UNSUPPORTED:
    case RESULT_TLS_CERT_EXPIRED:
    case RESULT_TLS_CERT_NOT_YET_VALID:
    case RESULT_TLS_HOSTNAME_MISMATCH:
    case RESULT_HTTP_STATUS:
        return true;
    default:
        return false;
    }
}

/* ---- the snapshot, indexed -------------------------------------------------- */

enum scope { SCOPE_TARGET, SCOPE_NETWORK, SCOPE_AGENT };

struct row {
    size_t agent, net, check;
    bool fresh, failing, flapping;
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
    enum result_error key; /* of its rows (struct row) */
    size_t *rows;
    size_t nrows;
    bool merged; /* folded into another group */
};

struct snap {
    struct names agents, nets, checks;
    struct row *rows;
    size_t *agent_net; /* per agent: network of its newest state */
    int64_t *agent_at; /* per agent: newest state's time */
    bool *agent_reporting;
    struct checkinfo *ck;
    bool *host_down;       /* [host_rep]: nothing answers on any of its ports */
    size_t *probe, *failn; /* [check * nnets + net] */
    struct group *groups;
    size_t ngroups;
};

static void snap_free(struct snap *s)
{
    names_free(&s->agents);
    names_free(&s->nets);
    names_free(&s->checks);
    free(s->rows);
    free(s->agent_net);
    free(s->agent_at);
    free(s->agent_reporting);
    free(s->ck);
    free(s->host_down);
    free(s->probe);
    free(s->failn);
    for (size_t i = 0; i < s->ngroups; i++)
        free(s->groups[i].rows);
    free(s->groups);
}

/* The most common (layer, error) among rows; ties go to the lowest error
 * code, so the choice does not depend on the order of the rows. */
static void dominant(const struct snap *s, const size_t *rows, size_t n, enum result_layer *layer,
                     enum result_error *error)
{
    size_t count[RESULT_ERROR_LAST] = {0};
    enum result_layer lay[RESULT_ERROR_LAST] = {0};
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &s->rows[rows[i]];
        count[r->error]++;
        lay[r->error] = r->layer;
    }
    size_t best = 0;
    for (size_t e = 1; e < RESULT_ERROR_LAST; e++)
        if (count[e] > count[best])
            best = e;
    *error = (enum result_error)best;
    *layer = lay[best];
}

static int snap_build(struct ctx *c, struct snap *s)
{
    const struct analysis_input *in = c->in;
    size_t n = in->nstates;
    if (names_init(c, &s->agents, n) < 0 || names_init(c, &s->nets, n) < 0 ||
        names_init(c, &s->checks, n) < 0)
        return -1;
    s->rows = xcalloc(c, n, sizeof(*s->rows));
    s->agent_net = xcalloc(c, n, sizeof(*s->agent_net));
    s->agent_at = xcalloc(c, n, sizeof(*s->agent_at));
    s->agent_reporting = xcalloc(c, n, sizeof(*s->agent_reporting));
    if (c->oom)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const struct analysis_state *st = &in->states[i];
        struct row *r = &s->rows[i];
        size_t before = s->agents.n;
        r->agent = names_get(&s->agents, st->agent);
        r->net = names_get(&s->nets, st->network != NULL ? st->network : "unknown");
        r->check = names_get(&s->checks, st->check);
        r->fresh = fresh(in, st);
        r->flapping = r->fresh && flapping(st);
        r->failing = analysis_state_failing(in, st);
        r->layer = st->ok ? st->fail_layer : st->layer;
        r->error = st->ok ? st->fail_error : st->error;
        if ((unsigned)r->error >= RESULT_ERROR_LAST)
            r->error = RESULT_INTERNAL;
        if ((unsigned)r->layer >= RESULT_LAYER_LAST)
            r->layer = RESULT_LAYER_NONE;
        r->start_us = st->episode_us != 0 ? st->episode_us : st->since_us;
        /* A record never published was "failing" all along: its streak
         * does not date a new problem (e.g. AAAA NODATA, then SERVFAIL
         * when the zone goes down). */
        if (optional_record(st))
            r->start_us = st->at_us;
        /* An agent's network is that of its newest state: it may have
         * moved, and older states keep the network they were made on. */
        if (r->agent == before || st->at_us > s->agent_at[r->agent]) {
            s->agent_at[r->agent] = st->at_us;
            s->agent_net[r->agent] = r->net;
        }
        if (r->fresh)
            s->agent_reporting[r->agent] = true;
    }
    for (size_t i = 0; i < n; i++)
        s->rows[i].net = s->agent_net[s->rows[i].agent];

    size_t nc = s->checks.n, nn = s->nets.n;
    s->ck = xcalloc(c, nc, sizeof(*s->ck));
    s->probe = xcalloc(c, nc * nn, sizeof(*s->probe));
    s->failn = xcalloc(c, nc * nn, sizeof(*s->failn));
    size_t *frows = xcalloc(c, n, sizeof(*frows));
    if (c->oom) {
        free(frows);
        return -1;
    }
    for (size_t k = 0; k < nc; k++) {
        s->ck[k].discovered = true;
        s->ck[k].alt = -1;
        s->ck[k].fam = family_of(s->checks.v[k]);
        changes_check_host(s->checks.v[k], s->ck[k].host, sizeof(s->ck[k].host));
    }
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &s->rows[i];
        struct checkinfo *k = &s->ck[r->check];
        if (!in->states[i].discovered)
            k->discovered = false;
        if (k->addr == NULL && in->states[i].address != NULL && in->states[i].address[0])
            k->addr = in->states[i].address;
        if (!r->fresh)
            continue;
        s->probe[r->check * nn + r->net]++;
        if (r->failing) {
            s->failn[r->check * nn + r->net]++;
            k->fail++;
        } else {
            k->ok++;
        }
    }
    /* One server: the same address (webmail and mail are often one
     * machine), or the same name when no address is known. A dns:// check
     * names a record, not the machine that serves it, and knows no
     * address: matching it by name would part checks of one machine
     * under its names (mail, webmail, autodiscover). */
    for (size_t k = 0; k < nc; k++) {
        struct checkinfo *ck = &s->ck[k];
        ck->host_rep = k;
        if (is_dns_check(s->checks.v[k]))
            continue;
        for (size_t o = 0; o < k; o++) {
            const struct checkinfo *ok = &s->ck[o];
            if (is_dns_check(s->checks.v[o]))
                continue;
            bool same = (ck->addr != NULL && ok->addr != NULL)
                            ? strcmp(ck->addr, ok->addr) == 0
                            : strcasecmp(ck->host, ok->host) == 0;
            if (same) {
                ck->host_rep = ok->host_rep;
                break;
            }
        }
    }
    for (size_t k = 0; k < nc; k++) {
        struct checkinfo *ck = &s->ck[k];
        for (size_t m = 0; m < nn; m++) {
            size_t p = s->probe[k * nn + m], f = s->failn[k * nn + m];
            if (p == 0)
                continue;
            ck->nets_probing++;
            if (f == p || (p >= ANALYSIS_NEARLY_MIN && 4 * f >= 3 * p))
                ck->nets_down++;
            else if (f > 0)
                ck->nets_partial++;
        }
        if (ck->fail == 0)
            continue;
        size_t nf = 0;
        for (size_t i = 0; i < n; i++)
            if (s->rows[i].failing && s->rows[i].check == k)
                frows[nf++] = i;
        dominant(s, frows, nf, &ck->layer, &ck->error);
        ck->global = ck->nets_down == ck->nets_probing &&
                     (ck->nets_probing >= 2 || server_intrinsic(ck->error));
        if (ck->layer == RESULT_LAYER_DNS)
            ck->global_verdict = ANALYSIS_DNS;
        else if (ck->layer == RESULT_LAYER_AUTH && ck->error != RESULT_AUTH_UNSUPPORTED)
            ck->global_verdict = ANALYSIS_CREDENTIALS;
        else
            ck->global_verdict = ANALYSIS_SERVICE;
    }
    free(frows);
    return 0;
}

/* True when answers (a dns:// check's records in presentation form) name
 * host as a whole word; a trailing root dot is ignored. */
static bool answers_name(const char *answers, const char *host)
{
    size_t hl = strlen(host);
    for (const char *p = answers; *p != '\0';) {
        size_t n = strcspn(p, " \t\r\n,;");
        size_t w = n > 0 && p[n - 1] == '.' ? n - 1 : n;
        if (w == hl && strncasecmp(p, host, hl) == 0)
            return true;
        p += n;
        p += strspn(p, " \t\r\n,;");
    }
    return false;
}

/* ---- which states are current ---------------------------------------------- */

static bool configured_now(const struct analysis_input *in, const char *check)
{
    for (size_t i = 0; i < in->nchecks; i++)
        if (strcasecmp(in->checks[i], check) == 0)
            return true;
    return false;
}

/* Whether the domain's DNS, as last seen by any configured lookup, names
 * host: a record's answer, or an answering lookup of that very name
 * (autodiscover). True when no answers are known (older stores). */
static bool dns_names(const struct analysis_input *in, const char *host)
{
    bool known = false;
    char qname[HOST_MAX];
    for (size_t i = 0; i < in->nstates; i++) {
        const struct analysis_state *st = &in->states[i];
        if (!is_dns_check(st->check) || !configured_now(in, st->check))
            continue;
        if (st->answers != NULL) {
            known = true;
            if (answers_name(st->answers, host) ||
                strcasecmp(changes_check_host(st->check, qname, sizeof(qname)), host) == 0)
                return true;
        }
    }
    return !known;
}

bool analysis_state_current(const struct analysis_input *in, const struct analysis_state *s)
{
    char host[HOST_MAX];
    if (in->checks == NULL || configured_now(in, s->check))
        return true;
    if (!s->discovered || in->domain == NULL || in->domain[0] == '\0')
        return false;
    return dns_names(in, changes_check_host(s->check, host, sizeof(host)));
}

size_t analysis_keep_current(const struct analysis_input *in, struct analysis_state *states)
{
    assert(in->states == states);
    if (in->checks == NULL)
        return in->nstates;
    /* Decide first: dns_names reads the states being moved. */
    bool *keep = calloc(in->nstates ? in->nstates : 1, sizeof(*keep));
    if (keep == NULL)
        return in->nstates; /* out of memory: show too much, not too little */
    for (size_t i = 0; i < in->nstates; i++)
        keep[i] = analysis_state_current(in, &states[i]);
    size_t n = 0;
    for (size_t i = 0; i < in->nstates; i++)
        if (keep[i])
            states[n++] = states[i];
    free(keep);
    return n;
}

/* True when the domain's DNS, as the fresh states last saw it, points to
 * host: a record names it, or it is the name of a lookup that answers
 * (autodiscover). A discovered check outlives the answer that found it
 * by the staleness window, so after the DNS points back, a later outage
 * must not take the old target for "where DNS points now". Without any
 * known answers (older stores) every discovered host counts. */
static bool dns_points_to(const struct analysis_input *in, const char *host)
{
    bool known = false;
    char qname[HOST_MAX];
    for (size_t i = 0; i < in->nstates; i++) {
        const struct analysis_state *st = &in->states[i];
        if (!is_dns_check(st->check) || !fresh(in, st))
            continue;
        if (st->answers != NULL) {
            known = true;
            if (answers_name(st->answers, host))
                return true;
        }
        if (st->ok && strcasecmp(changes_check_host(st->check, qname, sizeof(qname)), host) == 0)
            return true;
    }
    return !known;
}

/* client_config: a check failing everywhere (service or dns) whose kind of
 * service the domain's DNS now points to another host for, where the
 * discovered check works; then every such failure on a host so abandoned. */
static void find_client_config(const struct analysis_input *in, struct snap *s)
{
    size_t nc = s->checks.n;
    bool any = false;
    for (size_t k = 0; k < nc; k++) {
        struct checkinfo *ck = &s->ck[k];
        if (!ck->global || ck->fam == FAM_NONE || ck->host[0] == '\0' ||
            (ck->global_verdict != ANALYSIS_SERVICE && ck->global_verdict != ANALYSIS_DNS))
            continue;
        for (size_t d = 0; d < nc; d++) {
            const struct checkinfo *dk = &s->ck[d];
            if (d == k || !dk->discovered || dk->fam != ck->fam || dk->ok == 0 ||
                dk->ok < dk->fail || strcasecmp(dk->host, ck->host) == 0 ||
                !dns_points_to(in, dk->host))
                continue;
            ck->alt = (int)d;
            any = true;
            break;
        }
    }
    if (!any)
        return;
    for (size_t k = 0; k < nc; k++) {
        struct checkinfo *ck = &s->ck[k];
        if (!ck->global || ck->alt >= 0 ||
            (ck->global_verdict != ANALYSIS_SERVICE && ck->global_verdict != ANALYSIS_DNS))
            continue;
        for (size_t o = 0; o < nc; o++) {
            if (s->ck[o].alt >= 0 && strcasecmp(s->ck[o].host, ck->host) == 0) {
                ck->alt = s->ck[o].alt;
                break;
            }
        }
    }
    for (size_t k = 0; k < nc; k++)
        if (s->ck[k].alt >= 0)
            s->ck[k].global_verdict = ANALYSIS_CLIENT_CONFIG;
}

/* Errors that say nothing answers at the transport: no connection, or no
 * name server answering for a name. Any other error means something
 * answered (a refused login, a closed greeting, a bad certificate). */
static bool no_answer(enum result_error e)
{
    switch (e) {
    case RESULT_TCP_REFUSED:
    case RESULT_TCP_TIMEOUT:
    case RESULT_TCP_UNREACHABLE:
    case RESULT_DNS_TIMEOUT:
    case RESULT_DNS_REFUSED:
        return true;
    default:
        return false;
    }
}

/* A server is down only when its failures say so: every check of it
 * fails everywhere without an answer (a port that passes, or one that
 * answers with an error, shows the machine is up). Then its failures
 * are one finding listing every port; otherwise each failure keeps its
 * own (issue 15: a closed IMAP greeting and a refused TCP port on one
 * host are two problems). */
static int find_down_hosts(struct ctx *c, struct snap *s)
{
    size_t nc = s->checks.n;
    bool *up = xcalloc(c, nc, sizeof(*up));
    s->host_down = xcalloc(c, nc, sizeof(*s->host_down));
    if (c->oom) {
        free(up);
        return -1;
    }
    for (size_t k = 0; k < nc; k++) {
        const struct checkinfo *ck = &s->ck[k];
        if (is_dns_check(s->checks.v[k]) || ck->ok + ck->fail == 0)
            continue;
        if (ck->global && ck->global_verdict == ANALYSIS_SERVICE && no_answer(ck->error))
            s->host_down[ck->host_rep] = true;
        else
            up[ck->host_rep] = true;
    }
    for (size_t k = 0; k < nc; k++)
        if (up[k])
            s->host_down[k] = false;
    free(up);
    return 0;
}

/* Gives every failing row its verdict and scope (analysis.h). */
static void assign(struct snap *s, size_t nrows)
{
    size_t nn = s->nets.n;
    for (size_t i = 0; i < nrows; i++) {
        struct row *r = &s->rows[i];
        if (!r->failing)
            continue;
        const struct checkinfo *ck = &s->ck[r->check];
        size_t p = s->probe[r->check * nn + r->net], f = s->failn[r->check * nn + r->net];
        bool down = f == p || (p >= ANALYSIS_NEARLY_MIN && 4 * f >= 3 * p);
        if (ck->global) {
            r->verdict = ck->global_verdict;
            r->scope = SCOPE_TARGET;
            /* A server that is down is one problem whatever its ports
             * say; two servers down are two. */
            r->scope_idx = r->verdict == ANALYSIS_SERVICE ? ck->host_rep : 0;
            /* One check is one problem: its rows share its layer. Failures
             * of an up server are apart by error (find_down_hosts). */
            r->layer = ck->layer;
            if (r->verdict == ANALYSIS_SERVICE && !s->host_down[ck->host_rep])
                r->key = ck->error;
        } else if (ck->nets_down == ck->nets_probing) {
            /* Failing from the only network that probes it. */
            r->verdict = ANALYSIS_INCONCLUSIVE;
            r->scope = SCOPE_NETWORK;
            r->scope_idx = r->net;
        } else if (down && p >= 2) {
            r->verdict = ANALYSIS_NETWORK;
            r->scope = SCOPE_NETWORK;
            r->scope_idx = r->net;
        } else if (down) {
            r->verdict = ANALYSIS_INCONCLUSIVE;
            r->scope = SCOPE_AGENT;
            r->scope_idx = r->agent;
        } else {
            r->verdict = ANALYSIS_DEVICE;
            r->scope = SCOPE_AGENT;
            r->scope_idx = r->agent;
        }
    }
}

static int group_rows(struct ctx *c, struct snap *s, size_t nrows)
{
    for (size_t i = 0; i < nrows; i++) {
        const struct row *r = &s->rows[i];
        if (!r->failing)
            continue;
        struct group *g = NULL;
        for (size_t j = 0; j < s->ngroups; j++) {
            struct group *h = &s->groups[j];
            if (h->verdict == r->verdict && h->scope == r->scope && h->scope_idx == r->scope_idx &&
                h->key == r->key && (h->scope == SCOPE_TARGET || h->layer == r->layer)) {
                g = h;
                break;
            }
        }
        if (g == NULL) {
            struct group *v = realloc(s->groups, (s->ngroups + 1) * sizeof(*v));
            if (v == NULL)
                goto oom;
            s->groups = v;
            g = &s->groups[s->ngroups++];
            *g = (struct group){r->verdict, r->layer, r->scope, r->scope_idx,
                                r->key,     NULL,     0,        false};
        }
        size_t *rows = realloc(g->rows, (g->nrows + 1) * sizeof(*rows));
        if (rows == NULL)
            goto oom;
        g->rows = rows;
        g->rows[g->nrows++] = i;
    }
    return 0;
oom:
    c->oom = true;
    return -1;
}

/* Whether two groups cover the same set of checks. */
static bool same_checks(const struct snap *s, const struct group *a, const struct group *b)
{
    for (int pass = 0; pass < 2; pass++) {
        const struct group *x = pass ? b : a, *y = pass ? a : b;
        for (size_t i = 0; i < x->nrows; i++) {
            bool found = false;
            for (size_t j = 0; j < y->nrows && !found; j++)
                found = s->rows[x->rows[i]].check == s->rows[y->rows[j]].check;
            if (!found)
                return false;
        }
    }
    return true;
}

/* Offices failing the same checks in the same way are one finding. */
static int merge_networks(struct ctx *c, struct snap *s)
{
    for (size_t i = 0; i < s->ngroups; i++) {
        struct group *g = &s->groups[i];
        if (g->merged || g->verdict != ANALYSIS_NETWORK)
            continue;
        for (size_t j = i + 1; j < s->ngroups; j++) {
            struct group *h = &s->groups[j];
            if (h->merged || h->verdict != ANALYSIS_NETWORK || h->layer != g->layer ||
                !same_checks(s, g, h))
                continue;
            size_t *rows = realloc(g->rows, (g->nrows + h->nrows) * sizeof(*rows));
            if (rows == NULL) {
                c->oom = true;
                return -1;
            }
            g->rows = rows;
            memcpy(g->rows + g->nrows, h->rows, h->nrows * sizeof(*rows));
            g->nrows += h->nrows;
            h->merged = true;
        }
    }
    return 0;
}

static int64_t group_start(const struct snap *s, const struct group *g)
{
    int64_t start = INT64_MAX;
    for (size_t i = 0; i < g->nrows; i++)
        if (s->rows[g->rows[i]].start_us < start)
            start = s->rows[g->rows[i]].start_us;
    return start;
}

static bool share_host(const struct snap *s, const struct group *a, const struct group *b)
{
    for (size_t i = 0; i < a->nrows; i++)
        for (size_t j = 0; j < b->nrows; j++)
            if (s->ck[s->rows[a->rows[i]].check].host_rep ==
                s->ck[s->rows[b->rows[j]].check].host_rep)
                return true;
    return false;
}

/* Logins failing on a server that went down at the same time (its
 * authentication backend with it, e.g. SMTP AUTH through dovecot, which
 * then offers no login method or refuses every one) are that outage, not
 * a password problem nor a problem of their own. */
static int fold_credentials(struct ctx *c, struct snap *s)
{
    for (size_t i = 0; i < s->ngroups; i++) {
        struct group *g = &s->groups[i];
        if (g->merged || (g->verdict != ANALYSIS_CREDENTIALS &&
                          (g->verdict != ANALYSIS_SERVICE || g->layer != RESULT_LAYER_AUTH)))
            continue;
        int64_t gs = group_start(s, g);
        for (size_t j = 0; j < s->ngroups; j++) {
            struct group *h = &s->groups[j];
            if (h->merged || h->verdict != ANALYSIS_SERVICE || h->layer == RESULT_LAYER_AUTH ||
                !share_host(s, g, h))
                continue;
            int64_t hs = group_start(s, h);
            if (gs - hs > ANALYSIS_CORRELATE_AFTER_US || hs - gs > ANALYSIS_CORRELATE_AFTER_US)
                continue;
            size_t *rows = realloc(h->rows, (h->nrows + g->nrows) * sizeof(*rows));
            if (rows == NULL) {
                c->oom = true;
                return -1;
            }
            h->rows = rows;
            memcpy(h->rows + h->nrows, g->rows, g->nrows * sizeof(*rows));
            h->nrows += g->nrows;
            g->merged = true;
            break;
        }
    }
    return 0;
}

/* When the domain's DNS fails for everyone, every other failure in name
 * lookups is that failure too (e.g. a discovered check one agent probed
 * before it stopped finding it). */
static int fold_into_dns(struct ctx *c, struct snap *s)
{
    struct group *dns = NULL;
    for (size_t i = 0; i < s->ngroups && dns == NULL; i++)
        if (!s->groups[i].merged && s->groups[i].verdict == ANALYSIS_DNS)
            dns = &s->groups[i];
    if (dns == NULL)
        return 0;
    for (size_t j = 0; j < s->ngroups; j++) {
        struct group *h = &s->groups[j];
        if (h == dns || h->merged || h->layer != RESULT_LAYER_DNS ||
            (h->verdict != ANALYSIS_NETWORK && h->verdict != ANALYSIS_DEVICE &&
             h->verdict != ANALYSIS_INCONCLUSIVE))
            continue;
        size_t *rows = realloc(dns->rows, (dns->nrows + h->nrows) * sizeof(*rows));
        if (rows == NULL) {
            c->oom = true;
            return -1;
        }
        dns->rows = rows;
        memcpy(dns->rows + dns->nrows, h->rows, h->nrows * sizeof(*rows));
        dns->nrows += h->nrows;
        h->merged = true;
    }
    return 0;
}

/* ---- findings --------------------------------------------------------------- */

static bool list_has(const struct analysis_list *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return true;
    return false;
}

static void list_add_unique(struct ctx *c, struct analysis_list *l, const char *s)
{
    if (!list_has(l, s))
        list_add(c, l, s);
}

/* The agents and networks that probe the finding's checks and pass all
 * of them (healthy), and the networks wholly so. */
static void healthy(struct ctx *c, const struct snap *s, const bool *in_checks,
                    struct analysis_finding *f)
{
    size_t na = s->agents.n;
    char *bad = xcalloc(c, na, 1), *seen = xcalloc(c, na, 1);
    if (c->oom) {
        free(bad);
        free(seen);
        return;
    }
    for (size_t i = 0; i < c->in->nstates; i++) {
        const struct row *r = &s->rows[i];
        if (!r->fresh || !in_checks[r->check])
            continue;
        seen[r->agent] = 1;
        if (r->failing)
            bad[r->agent] = 1;
    }
    for (size_t a = 0; a < na; a++)
        if (seen[a] && !bad[a])
            list_add(c, &f->healthy_agents, s->agents.v[a]);
    for (size_t a = 0; a < na; a++) {
        const char *net = s->nets.v[s->agent_net[a]];
        if (seen[a] && !bad[a] && !list_has(&f->networks, net))
            list_add_unique(c, &f->healthy_networks, net);
    }
    list_sort(&f->healthy_agents);
    list_sort(&f->healthy_networks);
    free(bad);
    free(seen);
}

static bool change_concerns(const struct analysis_change *ch, const struct analysis_finding *f)
{
    if (ch->kind != NULL && strcmp(ch->kind, CHANGES_AGENT_NETWORK) == 0)
        return ch->agent != NULL && list_has(&f->agents, ch->agent);
    /* Facts of the target: for a problem of everyone, anyone's view of
     * them; for a network's or a device's, what its own agents saw. */
    if (f->verdict == ANALYSIS_SERVICE || f->verdict == ANALYSIS_DNS ||
        f->verdict == ANALYSIS_CREDENTIALS || f->verdict == ANALYSIS_CLIENT_CONFIG)
        return true;
    return ch->agent == NULL || list_has(&f->agents, ch->agent);
}

static bool same_text(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool same_change(const struct analysis_change *a, const struct analysis_change *b)
{
    return same_text(a->kind, b->kind) && same_text(a->subject, b->subject) &&
           same_text(a->before, b->before) && same_text(a->after, b->after);
}

/* Whether ch's subject was back where it began by the time f started: a
 * certificate swapped and swapped back, a zone edit reverted. Such
 * changes explain nothing about f, however close they are. Changes after
 * the start are kept: a revert while the failure goes on is news. */
static bool undone_before(const struct analysis_input *in, const struct analysis_finding *f,
                          const struct analysis_change *ch, int64_t from)
{
    const struct analysis_change *first = NULL, *last = NULL;
    if (ch->at_us > f->started_at_us)
        return false;
    for (size_t i = 0; i < in->nchanges; i++) {
        const struct analysis_change *o = &in->changes[i];
        if (o->at_us < from || o->at_us > f->started_at_us || !change_concerns(o, f) ||
            !same_text(o->kind, ch->kind) || !same_text(o->subject, ch->subject))
            continue;
        if (first == NULL)
            first = o;
        last = o;
    }
    return first != NULL && same_text(first->before, last->after);
}

static void correlate(struct ctx *c, struct analysis_finding *f)
{
    const struct analysis_input *in = c->in;
    int64_t from = f->started_at_us - ANALYSIS_CORRELATE_BEFORE_US;
    int64_t to = f->started_at_us + ANALYSIS_CORRELATE_AFTER_US;
    for (size_t i = 0; i < in->nchanges; i++) {
        const struct analysis_change *ch = &in->changes[i];
        if (ch->at_us < from || ch->at_us > to || !change_concerns(ch, f) ||
            undone_before(in, f, ch, from))
            continue;
        /* Every agent sees a zone edit: list it once, when first seen. */
        bool dup = false;
        for (size_t j = 0; j < f->nchanges && !dup; j++)
            dup = same_change(&in->changes[f->changes[j]], ch);
        if (dup)
            continue;
        size_t *v = realloc(f->changes, (f->nchanges + 1) * sizeof(*v));
        if (v == NULL) {
            c->oom = true;
            return;
        }
        f->changes = v;
        f->changes[f->nchanges++] = i;
    }
}

/* Words for the checks of a finding: "imaps://a and pop3s://a" or
 * "imaps://a and 3 more checks", led by a configured server check (what
 * users' clients use) rather than a DNS lookup. */
static void checks_words(const struct snap *s, const struct analysis_list *l, char *buf, size_t len)
{
    size_t lead = 0;
    bool found = false;
    for (size_t pass = 0; pass < 2 && !found; pass++) {
        for (size_t i = 0; i < l->n && !found; i++) {
            size_t k = names_find(&s->checks, l->v[i]);
            if (!is_dns_check(l->v[i]) && (pass == 1 || !s->ck[k].discovered)) {
                lead = i;
                found = true;
            }
        }
    }
    if (l->n == 1)
        snprintf(buf, len, "%s", l->v[0]);
    else if (l->n == 2)
        snprintf(buf, len, "%s and %s", l->v[lead], l->v[1 - lead]);
    else
        snprintf(buf, len, "%s and %zu more checks", l->v[lead], l->n - 1);
}

/* The first configured (or any) failing server check's host and port, for
 * advice. */
static void main_host(const struct snap *s, const struct group *g, char *host, size_t len,
                      unsigned *port)
{
    host[0] = '\0';
    *port = 0;
    for (int pass = 0; pass < 2 && host[0] == '\0'; pass++) {
        for (size_t i = 0; i < g->nrows; i++) {
            size_t k = s->rows[g->rows[i]].check;
            if ((pass == 0 && s->ck[k].discovered) || is_dns_check(s->checks.v[k]))
                continue;
            snprintf(host, len, "%s", s->ck[k].host);
            *port = port_of(s->checks.v[k]);
            break;
        }
    }
    if (host[0] == '\0' && g->nrows > 0)
        snprintf(host, len, "%s", s->ck[s->rows[g->rows[0]].check].host);
}

/* The ports a group's server checks connect to, each with the error it
 * fails with there, for advice: " port 993 (tcp_refused)", " ports 993
 * and 995 (tcp_refused)", " port 143 (proto_closed) and port 8080
 * (tcp_refused)"; "" when no check names a port. Configured checks
 * first, at most NAMES_IN_LINE ports. Sets *all_no_answer when every
 * port fails without an answer (no_answer). */
static void ports_words(const struct snap *s, const struct group *g, char *buf, size_t len,
                        bool *all_no_answer)
{
    unsigned port[NAMES_IN_LINE];
    enum result_error err[NAMES_IN_LINE];
    size_t n = 0, more = 0;
    size_t *rows = malloc((g->nrows ? g->nrows : 1) * sizeof(*rows));
    buf[0] = '\0';
    *all_no_answer = true;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < g->nrows; i++) {
            size_t k = s->rows[g->rows[i]].check;
            unsigned p = port_of(s->checks.v[k]);
            if (p == 0 || s->ck[k].discovered != (pass == 1))
                continue;
            /* The error of this group's rows of every check on port p. */
            size_t nr = 0;
            for (size_t j = 0; rows != NULL && j < g->nrows; j++)
                if (port_of(s->checks.v[s->rows[g->rows[j]].check]) == p)
                    rows[nr++] = g->rows[j];
            enum result_layer lay;
            enum result_error e = s->rows[g->rows[i]].error;
            if (nr > 0)
                dominant(s, rows, nr, &lay, &e);
            bool seen = false;
            for (size_t m = 0; m < n && !seen; m++)
                seen = port[m] == p;
            if (seen)
                continue;
            *all_no_answer &= no_answer(e);
            if (n == NAMES_IN_LINE) {
                more++;
                continue;
            }
            port[n] = p;
            err[n++] = e;
        }
    }
    free(rows);
    if (n == 0) {
        *all_no_answer = false;
        return;
    }
    bool one_error = true;
    for (size_t m = 1; m < n; m++)
        one_error &= err[m] == err[0];
    size_t used = 0;
    for (size_t m = 0; m < n && used < len; m++) {
        const char *sep = m == 0 ? " " : m + 1 == n && more == 0 ? " and " : ", ";
        if (one_error)
            used += (size_t)snprintf(buf + used, len - used, "%s%s%u", sep,
                                     m == 0 ? (n > 1 ? "ports " : "port ") : "", port[m]);
        else
            used += (size_t)snprintf(buf + used, len - used, "%sport %u (%s)", sep, port[m],
                                     result_error_name(err[m]));
    }
    if (more > 0 && used < len)
        used += (size_t)snprintf(buf + used, len - used, " and %zu more", more);
    if (one_error && used < len)
        snprintf(buf + used, len - used, " (%s)", result_error_name(err[0]));
}

static void words(struct ctx *c, const struct snap *s, const struct group *g,
                  struct analysis_finding *f)
{
    char checks[LINE_MAX_LEN / 2], nets[LINE_MAX_LEN / 4], agents[LINE_MAX_LEN / 4];
    char start[40], host[HOST_MAX], ports[LINE_MAX_LEN / 4];
    unsigned port;
    bool no_reply;
    checks_words(s, &f->checks, checks, sizeof(checks));
    names_line(&f->networks, nets, sizeof(nets));
    names_line(&f->agents, agents, sizeof(agents));
    when(f->started_at_us, start, sizeof(start));
    main_host(s, g, host, sizeof(host), &port);
    ports_words(s, g, ports, sizeof(ports), &no_reply);
    const char *err = result_error_name(f->error);
    const char *intermittent = f->flapping ? "intermittently " : "";
    struct analysis_list *n = &f->next_steps;
    switch (f->verdict) {
    case ANALYSIS_SERVICE:
        f->summary = fmt(c,
                         "%s %sfail%s from every network (%s) since %s: the server side is "
                         "broken, not the users' networks or computers.",
                         checks, intermittent, f->checks.n == 1 ? "s" : "", err, start);
        if (f->layer == RESULT_LAYER_TLS) {
            list_take(c, n,
                      fmt(c,
                          "Check the certificate %s serves%s%s: renew it if it expired, or "
                          "install one that names %s (%s).",
                          host, ports[0] ? " on" : "", ports, host, result_error_hint(f->error)));
        } else if (no_reply && g->key == RESULT_OK && f->checks.n > 1) {
            /* find_down_hosts: nothing answers on any of its ports. */
            list_take(c, n,
                      fmt(c,
                          "Check the server %s: nothing answers on%s. Is the machine up, are "
                          "its mail services running and listening, does a firewall drop the "
                          "traffic? Look at its logs around %s.",
                          host, ports, start));
        } else if (no_reply || ports[0] == '\0') {
            list_take(c, n,
                      fmt(c,
                          "Check the mail service on %s: nothing answers on%s. Is it running "
                          "and listening there? Look at its logs around %s.",
                          host, ports[0] ? ports : " its port", start));
        } else {
            /* The port answers: asking whether it listens would send the
             * administrator to the one thing that works. */
            list_take(c, n,
                      fmt(c,
                          "The service on %s answers on%s but fails: %s. Look at its logs "
                          "around %s for why.",
                          host, ports, result_error_hint(f->error), start));
        }
        list_add(c, n,
                 "Ask a user whether webmail works: if it fails too, the whole mail service "
                 "is down; if a provider runs it, open a ticket quoting the error and the "
                 "start time.");
        list_add(c, n,
                 "Nothing needs changing on users' networks or computers: it fails from "
                 "every network.");
        break;
    case ANALYSIS_CREDENTIALS:
        f->summary = fmt(c,
                         "Logging in fails everywhere (%s) since %s while connections and TLS "
                         "work: the mailbox's password or account is the problem.",
                         err, start);
        list_add(c, n,
                 "Log in to webmail with the probe's mailbox: if that fails too, the password "
                 "was changed or the account is locked or disabled.");
        list_add(c, n,
                 "Once the account is confirmed, unlock it or update the password file the "
                 "agents' [credentials] section names.");
        list_add(c, n,
                 "DNS, the networks and the users' computers are fine: every vantage "
                 "point reaches the server.");
        break;
    case ANALYSIS_CLIENT_CONFIG: {
        const char *alt = NULL;
        for (size_t i = 0; i < g->nrows && alt == NULL; i++) {
            int a = s->ck[s->rows[g->rows[i]].check].alt;
            if (a >= 0)
                alt = s->ck[a].host;
        }
        f->summary = fmt(c,
                         "%s fail%s everywhere since %s, while the domain's DNS now points to "
                         "%s, which works: clients still use the old server.",
                         checks, f->checks.n == 1 ? "s" : "", start, alt ? alt : "another server");
        list_take(c, n,
                  fmt(c,
                      "Update mail clients (and this target's check = lines) from %s to %s, the "
                      "server the domain's MX, SRV and autodiscover records now name.",
                      host, alt ? alt : "the new server"));
        list_add(c, n,
                 "Confirm the migration with whoever runs the domain: the old server no "
                 "longer serves the mailbox.");
        list_add(c, n,
                 "Check that autodiscover hands out the new server, so that clients "
                 "update themselves.");
        break;
    }
    case ANALYSIS_DNS:
        f->summary = fmt(c,
                         "Names of %s do not resolve from any network (%s) since %s: the "
                         "domain's DNS is broken, so no client can find the server.",
                         c->in->domain ? c->in->domain : "the target", err, start);
        list_add(c, n,
                 "Webmail and mail clients cannot find the server from anywhere until "
                 "DNS answers again.");
        list_take(c, n,
                  fmt(c,
                      "Check the domain's registration and its name servers: has %s expired, "
                      "do its NS servers answer (whois %s; dig %s SOA)?",
                      c->in->domain ? c->in->domain : host, c->in->domain ? c->in->domain : host,
                      c->in->domain ? c->in->domain : host));
        list_add(c, n,
                 "Check that the zone still has the records the failing checks need "
                 "(MX, A/AAAA, SRV, autodiscover).");
        break;
    case ANALYSIS_NETWORK: {
        f->summary = fmt(c,
                         "%s %sfail%s (%s) from every agent on %s since %s, while other "
                         "networks work: the problem is that network's %s.",
                         checks, intermittent, f->checks.n == 1 ? "s" : "", err, nets, start,
                         f->layer == RESULT_LAYER_DNS ? "resolver" : "connection");
        char ok_nets[LINE_MAX_LEN / 4];
        names_line(&f->healthy_networks, ok_nets, sizeof(ok_nets));
        list_take(c, n,
                  fmt(c, "Mailbox and webmail work from %s: the server is fine.",
                      f->healthy_networks.n ? ok_nets : "other networks"));
        if (f->layer == RESULT_LAYER_DNS)
            list_take(c, n,
                      fmt(c,
                          "Names do not resolve on %s: check its resolver (the router or the "
                          "DNS servers DHCP gives out) and its upstream.",
                          nets));
        else if (f->layer == RESULT_LAYER_TLS)
            list_take(c, n,
                      fmt(c,
                          "Look for a TLS-inspecting proxy or firewall on %s that breaks the "
                          "connection to %s%s.",
                          nets, host, ports));
        else
            list_take(c, n,
                      fmt(c,
                          "Check the firewall and router of %s for outgoing traffic to %s%s, "
                          "and ask its internet provider if they allow it.",
                          nets, host, ports));
        list_take(c, n,
                  fmt(c,
                      "To confirm, ask a user on %s to try another internet connection (a "
                      "phone's hotspot).",
                      nets));
        break;
    }
    case ANALYSIS_DEVICE:
        f->summary =
            fmt(c,
                "%s %sfail%s (%s) on %s only, since %s; other computers on %s work: "
                "the problem is that computer.",
                checks, intermittent, f->checks.n == 1 ? "s" : "", err, agents, start, nets);
        list_add(c, n,
                 "Mailbox, webmail, DNS and the network work for others: nothing to do "
                 "on the server or the domain.");
        list_take(c, n,
                  fmt(c,
                      "Check %s itself: its firewall, antivirus or security software, VPN or "
                      "proxy settings for %s%s.",
                      agents, host, ports));
        list_take(c, n, fmt(c, "Compare with a computer on %s that works.", nets));
        break;
    case ANALYSIS_INCONCLUSIVE:
    default:
        f->summary = fmt(c,
                         "%s %sfail%s (%s) from %s since %s, and no other vantage point there "
                         "can tell whether the computer or the connection is at fault.",
                         checks, intermittent, f->checks.n == 1 ? "s" : "", err, agents, start);
        if (f->healthy_networks.n > 0)
            list_take(c, n,
                      fmt(c, "Mailbox and webmail work from %s: the server is fine.",
                          f->healthy_networks.v[0]));
        if (g->scope == SCOPE_NETWORK && f->healthy_networks.n == 0)
            list_take(c, n,
                      fmt(c,
                          "Every vantage point is on %s: add one on another internet "
                          "connection (a home or cloud agent) to tell a server fault from a "
                          "network fault.",
                          nets));
        else
            list_take(c, n,
                      fmt(c,
                          "Only %s probes from %s: add a second vantage point (another "
                          "computer) there to tell a fault of the computer from one of the "
                          "connection.",
                          agents, nets));
        list_take(c, n,
                  fmt(c,
                      "Meanwhile ask the user on %s whether mail works from another computer "
                      "or a phone on the same connection.",
                      nets));
        break;
    }
}

static void evidence(struct ctx *c, const struct snap *s, const struct group *g,
                     struct analysis_finding *f)
{
    const struct analysis_input *in = c->in;
    size_t nn = s->nets.n;
    size_t lines = 0;
    /* Configured server checks first (what clients use), then those DNS
     * pointed to, then the DNS lookups. */
    size_t *order = xcalloc(c, f->checks.n, sizeof(*order));
    size_t *grow = xcalloc(c, g->nrows, sizeof(*grow));
    if (order == NULL || grow == NULL) {
        free(order);
        free(grow);
        return;
    }
    size_t no = 0;
    for (int pass = 0; pass < 3; pass++) {
        for (size_t ci = 0; ci < f->checks.n; ci++) {
            size_t k = names_find(&s->checks, f->checks.v[ci]);
            int rank = is_dns_check(f->checks.v[ci]) ? 2 : s->ck[k].discovered ? 1 : 0;
            if (rank == pass)
                order[no++] = ci;
        }
    }
    for (size_t oi = 0; oi < f->checks.n; oi++) {
        if (lines++ >= CHECK_LINES) {
            list_take(c, &f->evidence,
                      fmt(c, "... and %zu more checks fail the same way.", f->checks.n - oi));
            break;
        }
        const char *check = f->checks.v[order[oi]];
        size_t ng = 0;
        /* Which of the group's rows are of this check, by network. */
        char buf[LINE_MAX_LEN];
        size_t used = (size_t)snprintf(buf, sizeof(buf), "%s fails from", check);
        size_t k = names_find(&s->checks, check);
        int64_t start = INT64_MAX;
        size_t shown = 0;
        const struct row *example = NULL;
        bool flap = false;
        for (size_t m = 0; m < nn && used < sizeof(buf); m++) {
            size_t nf = 0;
            for (size_t i = 0; i < g->nrows; i++) {
                const struct row *r = &s->rows[g->rows[i]];
                if (r->check != k || r->net != m)
                    continue;
                grow[ng++] = g->rows[i];
                nf++;
                if (r->start_us < start)
                    start = r->start_us;
                if (example == NULL)
                    example = r;
                flap |= r->flapping;
            }
            if (nf == 0)
                continue;
            if (shown++ < NAMES_IN_LINE)
                used +=
                    (size_t)snprintf(buf + used, sizeof(buf) - used, "%s %s (%zu of %zu)",
                                     shown > 1 ? "," : "", s->nets.v[m], nf, s->probe[k * nn + m]);
        }
        if (shown > NAMES_IN_LINE && used < sizeof(buf))
            used += (size_t)snprintf(buf + used, sizeof(buf) - used, " and %zu more networks",
                                     shown - NAMES_IN_LINE);
        char t[40];
        when(start, t, sizeof(t));
        /* The error of this finding's states of the check, not of all its
         * states: another finding may fail it differently. */
        enum result_layer lay;
        enum result_error err;
        dominant(s, grow, ng, &lay, &err);
        if (used < sizeof(buf))
            snprintf(buf + used, sizeof(buf) - used, ": %s since %s%s", result_error_name(err), t,
                     flap ? " (flapping: passes and fails by turns)" : "");
        list_add(c, &f->evidence, buf);
        if (example != NULL) {
            const struct analysis_state *st = &in->states[example - s->rows];
            if (st->detail != NULL && st->detail[0] != '\0')
                list_take(c, &f->evidence,
                          fmt(c, "%s saw: %s", s->agents.v[example->agent], st->detail));
        }
        int alt = s->ck[k].alt;
        if (f->verdict == ANALYSIS_CLIENT_CONFIG && alt >= 0)
            list_take(c, &f->evidence,
                      fmt(c,
                          "DNS now points to %s, and %s (found through DNS) works from %zu "
                          "agents.",
                          s->ck[alt].host, s->checks.v[alt], s->ck[alt].ok));
    }
    if (f->healthy_agents.n > 0) {
        char names[LINE_MAX_LEN / 2];
        names_line(&f->healthy_agents, names, sizeof(names));
        list_take(c, &f->evidence,
                  fmt(c, "The same checks pass from %s (%zu agent%s).", names, f->healthy_agents.n,
                      f->healthy_agents.n == 1 ? "" : "s"));
    } else {
        list_add(c, &f->evidence, "No vantage point passes these checks.");
    }
    /* The error's meaning, unless an agent's own detail already said it. */
    char saw[LINE_MAX_LEN];
    bool said = false;
    for (size_t i = 0; i < f->agents.n && !said; i++) {
        snprintf(saw, sizeof(saw), "%s saw: %s", f->agents.v[i], result_error_hint(f->error));
        said = list_has(&f->evidence, saw);
    }
    if (!said)
        list_take(c, &f->evidence,
                  fmt(c, "%s: %s", result_error_name(f->error), result_error_hint(f->error)));
    for (size_t i = 0; i < f->nchanges; i++) {
        const struct analysis_change *ch = &in->changes[f->changes[i]];
        char t[40];
        when(ch->at_us, t, sizeof(t));
        list_take(c, &f->evidence,
                  fmt(c, "%s: %s %s: %s -> %s", t, ch->kind ? ch->kind : "change",
                      ch->subject ? ch->subject : "", ch->before ? ch->before : "?",
                      ch->after ? ch->after : "?"));
    }
    free(order);
    free(grow);
}

static void finding_build(struct ctx *c, const struct snap *s, const struct group *g,
                          struct analysis_finding *f)
{
    *f = (struct analysis_finding){.verdict = g->verdict, .layer = g->layer};
    bool *in_checks = xcalloc(c, s->checks.n, sizeof(*in_checks));
    if (in_checks == NULL)
        return;
    dominant(s, g->rows, g->nrows, &f->layer, &f->error);
    f->started_at_us = INT64_MAX;
    for (size_t i = 0; i < g->nrows; i++) {
        const struct row *r = &s->rows[g->rows[i]];
        in_checks[r->check] = true;
        list_add_unique(c, &f->agents, s->agents.v[r->agent]);
        list_add_unique(c, &f->networks, s->nets.v[r->net]);
        if (r->start_us < f->started_at_us)
            f->started_at_us = r->start_us;
        f->flapping |= r->flapping;
    }
    for (size_t k = 0; k < s->checks.n; k++)
        if (in_checks[k])
            list_add(c, &f->checks, s->checks.v[k]);
    list_sort(&f->checks);
    list_sort(&f->agents);
    list_sort(&f->networks);
    healthy(c, s, in_checks, f);
    free(in_checks);
    correlate(c, f);
    words(c, s, g, f);
    evidence(c, s, g, f);
}

static int verdict_rank(enum analysis_verdict v)
{
    /* The help-desk order: the service and the mailbox, then DNS and the
     * domain, then networks, then devices; what cannot be localised last. */
    static const int rank[ANALYSIS_VERDICT_LAST] = {
        [ANALYSIS_SERVICE] = 0,     [ANALYSIS_CREDENTIALS] = 1, [ANALYSIS_CLIENT_CONFIG] = 2,
        [ANALYSIS_DNS] = 3,         [ANALYSIS_NETWORK] = 4,     [ANALYSIS_DEVICE] = 5,
        [ANALYSIS_INCONCLUSIVE] = 6};
    return rank[v];
}

static int cmp_finding(const void *pa, const void *pb)
{
    const struct analysis_finding *a = pa, *b = pb;
    if (verdict_rank(a->verdict) != verdict_rank(b->verdict))
        return verdict_rank(a->verdict) - verdict_rank(b->verdict);
    if (a->started_at_us != b->started_at_us)
        return a->started_at_us < b->started_at_us ? -1 : 1;
    int r = strcmp(a->agents.n ? a->agents.v[0] : "", b->agents.n ? b->agents.v[0] : "");
    if (r != 0)
        return r;
    return strcmp(a->checks.n ? a->checks.v[0] : "", b->checks.n ? b->checks.v[0] : "");
}

int analysis_diagnose(const struct analysis_input *in, struct analysis_diagnosis *d, char *err,
                      size_t errlen)
{
    *d = (struct analysis_diagnosis){.status = ANALYSIS_STATUS_NO_DATA};
    struct ctx c = {.in = in};
    struct snap s = {0};
    if (snap_build(&c, &s) < 0)
        goto oom;
    d->agents = s.agents.n;
    /* Networks of the agents as they are now. */
    bool *net_used = xcalloc(&c, s.nets.n, sizeof(*net_used));
    if (net_used == NULL)
        goto oom;
    for (size_t a = 0; a < s.agents.n; a++) {
        net_used[s.agent_net[a]] = true;
        if (s.agent_reporting[a])
            d->reporting++;
    }
    for (size_t m = 0; m < s.nets.n; m++)
        d->networks += net_used[m];
    free(net_used);
    if (d->reporting == 0) {
        snap_free(&s);
        return 0;
    }
    find_client_config(in, &s);
    if (find_down_hosts(&c, &s) < 0)
        goto oom;
    assign(&s, in->nstates);
    if (group_rows(&c, &s, in->nstates) < 0 || merge_networks(&c, &s) < 0 ||
        fold_credentials(&c, &s) < 0 || fold_into_dns(&c, &s) < 0)
        goto oom;
    size_t live = 0;
    for (size_t i = 0; i < s.ngroups; i++)
        live += !s.groups[i].merged;
    d->status = live > 0 ? ANALYSIS_STATUS_PROBLEM : ANALYSIS_STATUS_OK;
    if (live > 0) {
        d->findings = xcalloc(&c, live, sizeof(*d->findings));
        if (d->findings == NULL)
            goto oom;
        for (size_t i = 0; i < s.ngroups; i++)
            if (!s.groups[i].merged)
                finding_build(&c, &s, &s.groups[i], &d->findings[d->nfindings++]);
        if (c.oom)
            goto oom;
        qsort(d->findings, d->nfindings, sizeof(*d->findings), cmp_finding);
    }
    snap_free(&s);
    return 0;
oom:
    snap_free(&s);
    snprintf(err, errlen, "diagnosis: out of memory");
    return -1;
}

static void finding_clear(struct analysis_finding *f)
{
    list_clear(&f->checks);
    list_clear(&f->networks);
    list_clear(&f->agents);
    list_clear(&f->healthy_networks);
    list_clear(&f->healthy_agents);
    list_clear(&f->evidence);
    list_clear(&f->next_steps);
    free(f->changes);
    free(f->summary);
}

void analysis_diagnosis_clear(struct analysis_diagnosis *d)
{
    for (size_t i = 0; i < d->nfindings; i++)
        finding_clear(&d->findings[i]);
    free(d->findings);
    *d = (struct analysis_diagnosis){0};
}
