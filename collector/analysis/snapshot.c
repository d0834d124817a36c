/*
 * analysis/snapshot.c — the shared snapshot of a target's latest states (snapshot.h).
 */
#include "snapshot.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "changes.h"
#include "discover.h"
#include "store_impl.h"

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
    case ANALYSIS_STATUS_WARNING:
        return "warning";
    }
    return NULL;
}

const char *analysis_severity_name(enum analysis_severity s)
{
    switch (s) {
    case ANALYSIS_SEVERITY_PROBLEM:
        return "problem";
    case ANALYSIS_SEVERITY_WARNING:
        return "warning";
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

bool snapshot_fresh(const struct analysis_input *in, const struct analysis_state *s)
{
    int64_t stale = in->stale_us;
    if (in->mailflow_stale_us > stale && delivery_is_mailflow(s->check))
        stale = in->mailflow_stale_us;
    if (in->rdap_stale_us > stale && registration_is_rdap(s->check))
        stale = in->rdap_stale_us;
    return in->now_us - s->at_us <= stale;
}

bool snapshot_flapping(const struct analysis_state *s)
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
    if (!snapshot_fresh(in, s))
        return ANALYSIS_CELL_STALE;
    if (absent(s))
        return ANALYSIS_CELL_ABSENT;
    if (snapshot_flapping(s))
        return ANALYSIS_CELL_FLAPPING;
    return s->ok ? ANALYSIS_CELL_OK : ANALYSIS_CELL_FAIL;
}

bool analysis_state_failing(const struct analysis_input *in, const struct analysis_state *s)
{
    return snapshot_fresh(in, s) && !absent(s) && (!s->ok || snapshot_flapping(s));
}

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
    t->slots = text_calloc(c, t->cap, sizeof(*t->slots));
    t->v = text_calloc(c, max + 1, sizeof(*t->v));
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
size_t snapshot_name_index(const struct names *t, const char *name)
{
    size_t i = hash_str(name) & (t->cap - 1);
    for (; t->slots[i] != 0; i = (i + 1) & (t->cap - 1))
        if (strcmp(t->v[t->slots[i] - 1], name) == 0)
            return t->slots[i] - 1;
    assert(!"snapshot_name_index of a name never interned");
    return 0;
}

static void names_free(struct names *t)
{
    free(t->v);
    free(t->slots);
}

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

bool snapshot_is_dns_check(const char *check)
{
    return strncmp(check, "dns://", 6) == 0;
}

bool snapshot_names_servers(const char *check)
{
    return snapshot_is_dns_check(check) || strncmp(check, "autoconfig://", 13) == 0;
}

/* The port a check connects to, for advice ("port 993"); 0 = none. */
unsigned snapshot_port_of(const char *check)
{
    static const struct {
        const char *scheme;
        unsigned port;
    } map[] = {{"imaps://", 993}, {"imap://", 143},       {"pop3s://", 995}, {"pop3://", 110},
               {"smtps://", 465}, {"submission://", 587}, {"smtp://", 25},   {"https://", 443}};
    const char *p = strstr(check, "://");
    if (p == NULL || snapshot_is_dns_check(check))
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
 * certificate is not among them (an intercepting proxy gives one). Test
 * mail the server took (or refused with its own words) and then did not
 * deliver is the server's doing: the network carried every dialog. */
static bool server_intrinsic(enum result_error e)
{
    switch (e) {
    case RESULT_AUTH_FAILED:
    case RESULT_AUTH_UNSUPPORTED:
    case RESULT_TLS_CERT_EXPIRED:
    case RESULT_TLS_CERT_NOT_YET_VALID:
    case RESULT_TLS_HOSTNAME_MISMATCH:
    case RESULT_HTTP_STATUS:
    case RESULT_MAIL_REJECTED:
    case RESULT_MAIL_NOT_DELIVERED:
    case RESULT_MAIL_IN_JUNK:
    /* The registry's answer is the same from every network. */
    case RESULT_REGISTRATION_EXPIRED:
    case RESULT_REGISTRATION_HOLD:
    case RESULT_REGISTRATION_NOT_FOUND:
        return true;
    default:
        return false;
    }
}

void snapshot_free(struct snap *s)
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
    free(s->net_degraded);
    for (size_t i = 0; i < s->ngroups; i++)
        free(s->groups[i].rows);
    free(s->groups);
}

/* The most common (layer, error) among rows; ties go to the lowest error
 * code, so the choice does not depend on the order of the rows. */
void snapshot_dominant(const struct snap *s, const size_t *rows, size_t n, enum result_layer *layer,
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

int snapshot_build(struct ctx *c, struct snap *s)
{
    const struct analysis_input *in = c->in;
    size_t n = in->nstates;
    if (names_init(c, &s->agents, n) < 0 || names_init(c, &s->nets, n) < 0 ||
        names_init(c, &s->checks, n) < 0)
        return -1;
    s->rows = text_calloc(c, n, sizeof(*s->rows));
    s->agent_net = text_calloc(c, n, sizeof(*s->agent_net));
    s->agent_at = text_calloc(c, n, sizeof(*s->agent_at));
    s->agent_reporting = text_calloc(c, n, sizeof(*s->agent_reporting));
    if (c->oom)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const struct analysis_state *st = &in->states[i];
        struct row *r = &s->rows[i];
        size_t before = s->agents.n;
        r->agent = names_get(&s->agents, st->agent);
        r->net = names_get(&s->nets, st->network != NULL ? st->network : "unknown");
        r->check = names_get(&s->checks, st->check);
        r->fresh = snapshot_fresh(in, st);
        r->flapping = r->fresh && snapshot_flapping(st);
        r->failing = analysis_state_failing(in, st);
        r->layer = st->ok ? st->fail_layer : st->layer;
        r->error = st->ok ? st->fail_error : st->error;
        if ((unsigned)r->error >= RESULT_ERROR_LAST)
            r->error = RESULT_INTERNAL;
        if ((unsigned)r->layer >= RESULT_LAYER_LAST)
            r->layer = RESULT_LAYER_NONE;
        r->start_us = st->episode_us != 0 ? st->episode_us : st->since_us;
        /* Test mail filed into Junk was delivered: a warning of its own
         * (delivery_find_warnings), never a problem, also while it
         * alternates with INBOX. */
        if (r->failing && r->error == RESULT_MAIL_IN_JUNK) {
            r->failing = false;
            r->junk = !st->ok;
        }
        /* A registry that cannot be read says nothing of the domain: a
         * warning of its own (registration_find_warnings). */
        if (r->failing && registration_is_rdap(st->check) &&
            r->layer != RESULT_LAYER_REGISTRATION) {
            r->failing = false;
            r->registry_down = true;
        }
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
    s->ck = text_calloc(c, nc, sizeof(*s->ck));
    s->probe = text_calloc(c, nc * nn, sizeof(*s->probe));
    s->failn = text_calloc(c, nc * nn, sizeof(*s->failn));
    size_t *frows = text_calloc(c, n, sizeof(*frows));
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
        if (snapshot_is_dns_check(s->checks.v[k]))
            continue;
        for (size_t o = 0; o < k; o++) {
            const struct checkinfo *ok = &s->ck[o];
            if (snapshot_is_dns_check(s->checks.v[o]))
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
        snapshot_dominant(s, frows, nf, &ck->layer, &ck->error);
        ck->global = ck->nets_down == ck->nets_probing &&
                     (ck->nets_probing >= 2 || server_intrinsic(ck->error));
        if (ck->layer == RESULT_LAYER_DNS || ck->layer == RESULT_LAYER_REGISTRATION)
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
bool snapshot_answers_name(const char *answers, const char *host)
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
        if (!snapshot_names_servers(st->check) || !configured_now(in, st->check))
            continue;
        if (st->answers != NULL) {
            known = true;
            if (snapshot_answers_name(st->answers, host) ||
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

/* Errors that say nothing answers at the transport: no connection, or no
 * name server answering for a name. Any other error means something
 * answered (a refused login, a closed greeting, a bad certificate). */
bool snapshot_no_answer(enum result_error e)
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

int64_t snapshot_group_start(const struct snap *s, const struct group *g)
{
    int64_t start = INT64_MAX;
    for (size_t i = 0; i < g->nrows; i++)
        if (s->rows[g->rows[i]].start_us < start)
            start = s->rows[g->rows[i]].start_us;
    return start;
}

int snapshot_group_absorb(struct ctx *c, struct group *a, struct group *b)
{
    size_t *rows = realloc(a->rows, (a->nrows + b->nrows) * sizeof(*rows));
    if (rows == NULL) {
        c->oom = true;
        return -1;
    }
    a->rows = rows;
    memcpy(a->rows + a->nrows, b->rows, b->nrows * sizeof(*rows));
    a->nrows += b->nrows;
    b->merged = true;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

uint64_t snapshot_median(uint64_t *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), cmp_u64);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct group *snapshot_group_new(struct ctx *c, struct snap *s, const struct group *proto)
{
    struct group *v = realloc(s->groups, (s->ngroups + 1) * sizeof(*v));
    if (v == NULL) {
        c->oom = true;
        return NULL;
    }
    s->groups = v;
    struct group *g = &s->groups[s->ngroups++];
    *g = *proto;
    g->rows = NULL;
    g->nrows = 0;
    g->merged = false;
    return g;
}

int snapshot_group_add_row(struct ctx *c, struct group *g, size_t row)
{
    size_t *rows = realloc(g->rows, (g->nrows + 1) * sizeof(*rows));
    if (rows == NULL) {
        c->oom = true;
        return -1;
    }
    g->rows = rows;
    g->rows[g->nrows++] = row;
    return 0;
}

enum result_layer snapshot_phase_layer(enum result_phase p)
{
    switch (p) {
    case RESULT_PHASE_DNS:
        return RESULT_LAYER_DNS;
    case RESULT_PHASE_CONNECT:
        return RESULT_LAYER_TCP;
    case RESULT_PHASE_TLS:
        return RESULT_LAYER_TLS;
    case RESULT_PHASE_HTTP:
        return RESULT_LAYER_HTTP;
    case RESULT_PHASE_GREETING:
    case RESULT_PHASE_STARTTLS:
    case RESULT_PHASE_AUTH:
        return RESULT_LAYER_PROTOCOL;
    default:
        return RESULT_LAYER_NONE;
    }
}

/* The slow rule on two medians (analysis.h). */
static bool slow_vs(uint64_t self_us, uint64_t base_us)
{
    return self_us >= (uint64_t)ANALYSIS_SLOW_FACTOR * base_us &&
           self_us >= base_us + ANALYSIS_SLOW_MIN_US;
}

int snapshot_slow(struct ctx *c, struct snap *s, const char *self, const char *base,
                  const size_t *subset, size_t nsubset, bool each_agent, const struct group *proto)
{
    const struct analysis_input *in = c->in;
    size_t nc = s->checks.n, nrows = subset != NULL ? nsubset : in->nstates;
    char *kself = text_calloc(c, nc, 1), *kbase = text_calloc(c, nc, 1);
    uint64_t *vs = text_calloc(c, nrows, sizeof(*vs)), *vb = text_calloc(c, nrows, sizeof(*vb));
    size_t *rows = text_calloc(c, nrows, sizeof(*rows));
    size_t ns = 0, nb = 0;
    if (c->oom)
        goto out;
    /* Only checks both sides pass count: a check only one side runs
     * (a discovered one, a slow kind of check) would skew the medians. */
    for (size_t j = 0; j < nrows; j++) {
        size_t i = subset != NULL ? subset[j] : j;
        if (self[i])
            kself[s->rows[i].check] = 1;
        if (base[i])
            kbase[s->rows[i].check] = 1;
    }
    for (size_t j = 0; j < nrows; j++) {
        size_t i = subset != NULL ? subset[j] : j;
        size_t k = s->rows[i].check;
        if (!kself[k] || !kbase[k])
            continue;
        if (self[i]) {
            rows[ns] = i;
            vs[ns++] = in->states[i].total_us;
        } else if (base[i]) {
            vb[nb++] = in->states[i].total_us;
        }
    }
    if (ns < ANALYSIS_SLOW_MIN_RESULTS || nb < ANALYSIS_SLOW_MIN_RESULTS)
        goto out;
    uint64_t ms = snapshot_median(vs, ns), mb = snapshot_median(vb, nb);
    if (!slow_vs(ms, mb))
        goto out;
    /* A network is slow only when each of its computers is: one slow
     * computer among fast ones is that computer (device_find_slow). */
    for (size_t a = 0; each_agent && a < s->agents.n; a++) {
        size_t na = 0;
        for (size_t j = 0; j < ns; j++)
            if (s->rows[rows[j]].agent == a)
                vs[na++] = in->states[rows[j]].total_us;
        if (na > 0 && !slow_vs(snapshot_median(vs, na), mb))
            goto out;
    }
    /* The step that takes the time, by the slowest phase of its results. */
    size_t count[RESULT_PHASE_LAST] = {0};
    for (size_t j = 0; j < ns; j++)
        if ((unsigned)in->states[rows[j]].phase < RESULT_PHASE_LAST)
            count[in->states[rows[j]].phase]++;
    size_t best = RESULT_PHASE_TOTAL;
    for (size_t p = 0; p < RESULT_PHASE_LAST; p++)
        if (p != RESULT_PHASE_TOTAL && count[p] > (best == RESULT_PHASE_TOTAL ? 0 : count[best]))
            best = p;
    struct group *g = snapshot_group_new(c, s, proto);
    if (g == NULL)
        goto out;
    g->layer = snapshot_phase_layer((enum result_phase)best);
    g->slow_us = ms;
    g->base_us = mb;
    g->slow_n = ns;
    g->base_n = nb;
    for (size_t j = 0; j < ns; j++)
        if (snapshot_group_add_row(c, g, rows[j]) < 0)
            break;
out:
    free(kself);
    free(kbase);
    free(vs);
    free(vb);
    free(rows);
    return c->oom ? -1 : 0;
}

static bool passing(const struct analysis_input *in, const struct snap *s, size_t i)
{
    /* DNS lookups are no sample: the office's resolver answers most from
     * its cache without crossing the link, so they would hide a slow
     * link's results in the median (seen in the lab: 1 ms beside 500).
     * Nor is test mail: its time is the server's delivery, not the
     * network's, and has its own warning (delivery_slow). Nor the
     * registry (rdap://): read every few hours by three agents, its
     * latest result may long predate a network's slowness (issue 10). */
    return s->rows[i].fresh && !s->rows[i].failing && in->states[i].total_us > 0 &&
           !snapshot_is_dns_check(s->checks.v[s->rows[i].check]) &&
           !delivery_is_mailflow(in->states[i].check) && !registration_is_rdap(in->states[i].check);
}

char *snapshot_passing_rows(struct ctx *c, const struct snap *s)
{
    size_t nrows = c->in->nstates;
    char *ok = text_calloc(c, nrows, 1);
    for (size_t i = 0; ok != NULL && i < nrows; i++)
        ok[i] = passing(c->in, s, i);
    return ok;
}
