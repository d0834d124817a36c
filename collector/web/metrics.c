/*
 * metrics — the Prometheus text format (metrics.h).
 *
 * Samples of one metric must be contiguous in the output, but they are
 * found target by target: each family writes into its own memory stream
 * and the streams are joined, with their HELP and TYPE lines, at the end.
 */
#include "metrics.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "cli.h"
#include "clock.h"
#include "report.h"
#include "serve.h"

enum family {
    F_CHECK_UP,
    F_CHECK_AGENTS,
    F_PHASE,
    F_DURATION,
    F_FINDINGS,
    F_AGENT_UP,
    F_AGENTS,
    F_LAST_SEEN,
    F_SPOOL_DROPPED,
    F_LOST,
    F_INGEST,
    F_CERT,
    F_REGISTRATION,
    F_DELIVERY,
    F_SCRAPE,
    F_LAST
};

static const struct {
    const char *name, *type, *help;
} families[F_LAST] = {
    [F_CHECK_UP] = {"vantage_check_up", "gauge",
                    "Whether the check's latest result passed (1) or failed (0); per network: the "
                    "share of its reporting agents that passed."},
    [F_CHECK_AGENTS] = {"vantage_check_agents", "gauge",
                        "Agents of the network reporting the check (metrics_per = network)."},
    [F_PHASE] = {"vantage_check_phase_seconds", "gauge",
                 "Time of one phase of the check's latest result; per network: the mean over its "
                 "agents."},
    [F_DURATION] = {"vantage_check_duration_seconds", "histogram",
                    "Total time of the latest result of each agent of the network that reports "
                    "the check."},
    [F_FINDINGS] = {"vantage_findings_open", "gauge", "Findings of the diagnosis open now."},
    [F_AGENT_UP] = {"vantage_agent_up", "gauge",
                    "Whether the agent is connected (1) or not (0); per network: how many are."},
    [F_AGENTS] = {"vantage_agents", "gauge", "Agents known in the network."},
    [F_LAST_SEEN] = {"vantage_agent_last_seen_timestamp_seconds", "gauge",
                     "When the agent was last heard from; per network: the latest of its agents."},
    [F_SPOOL_DROPPED] = {"vantage_agent_spool_dropped_total", "counter",
                         "Results the agent's full spool dropped before sending them."},
    [F_LOST] = {"vantage_agent_results_lost_total", "counter",
                "Sequence numbers the collector never received from the agent."},
    [F_INGEST] = {"vantage_ingest_results_total", "counter",
                  "Results received since the collector started, by outcome."},
    [F_CERT] = {"vantage_certificate_expiry_timestamp_seconds", "gauge",
                "When the certificate the check saw expires; per network: the earliest."},
    [F_REGISTRATION] = {"vantage_registration_expiry_timestamp_seconds", "gauge",
                        "When the domain's registration expires, as its registry says (RDAP)."},
    [F_DELIVERY] = {"vantage_mail_delivery_seconds", "gauge",
                    "How long the latest test mail took to arrive; per network: the slowest."},
    [F_SCRAPE] = {"vantage_metrics_scrape_seconds", "gauge",
                  "How long the collector took to compute the previous scrape."},
};

/* Open findings of one target, cached (open_findings). */
struct findings_entry {
    char *target;
    int64_t at_us;
    size_t n;
    struct {
        enum analysis_verdict verdict;
        enum result_layer layer;
        enum analysis_severity severity;
        unsigned count;
    } * v;
};

struct metrics {
    struct findings_entry *cache;
    size_t ncache;
    double last_scrape_s;
};

struct metrics *metrics_create(void)
{
    return calloc(1, sizeof(struct metrics));
}

static void entry_clear(struct findings_entry *e)
{
    free(e->target);
    free(e->v);
    memset(e, 0, sizeof(*e));
}

void metrics_destroy(struct metrics **mp)
{
    if (mp == NULL || *mp == NULL)
        return;
    for (size_t i = 0; i < (*mp)->ncache; i++)
        entry_clear(&(*mp)->cache[i]);
    free((*mp)->cache);
    free(*mp);
    *mp = NULL;
}

void metrics_label_value(FILE *out, const char *v)
{
    fputc('"', out);
    /* Spans without a character to escape go out whole: a scrape writes
     * hundreds of thousands of label values. */
    for (const char *p = v ? v : ""; *p;) {
        size_t n = strcspn(p, "\\\"\n");
        fwrite(p, 1, n, out);
        p += n;
        if (*p == '\0')
            break;
        fputs(*p == '\n' ? "\\n" : *p == '"' ? "\\\"" : "\\\\", out);
        p++;
    }
    fputc('"', out);
}

/* name{k1="v1",k2="v2"} with NULL-terminated key, value pairs; a NULL
 * value leaves its label out. */
static void sample(FILE *out, const char *name, ...)
{
    va_list ap;
    va_start(ap, name);
    fputs(name, out);
    bool first = true;
    for (const char *k; (k = va_arg(ap, const char *)) != NULL;) {
        const char *v = va_arg(ap, const char *);
        if (v == NULL)
            continue;
        fprintf(out, "%s%s=", first ? "{" : ",", k);
        metrics_label_value(out, v);
        first = false;
    }
    if (!first)
        fputc('}', out);
    fputc(' ', out);
    va_end(ap);
}

void metrics_histogram(FILE *out, const char *name, const char *labels,
                       const uint64_t counts[METRICS_NBUCKETS + 1], double sum)
{
    static const double bounds[METRICS_NBUCKETS] = METRICS_DURATION_BUCKETS;
    const char *sep = labels[0] ? "," : "";
    uint64_t cum = 0;
    for (size_t i = 0; i < METRICS_NBUCKETS; i++) {
        cum += counts[i];
        fprintf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, bounds[i],
                (unsigned long long)cum);
    }
    cum += counts[METRICS_NBUCKETS];
    fprintf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)cum);
    fprintf(out, "%s_sum%s%s%s %.9g\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
            sum);
    fprintf(out, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
            (unsigned long long)cum);
}

static size_t bucket_of(double s)
{
    static const double bounds[METRICS_NBUCKETS] = METRICS_DURATION_BUCKETS;
    size_t i = 0;
    while (i < METRICS_NBUCKETS && s > bounds[i])
        i++;
    return i;
}

/* ---- open findings ----------------------------------------------------------
 * The one place that knows where open findings come from: today a
 * diagnosis of the snapshot, cached per target. When the store keeps the
 * finding lifecycle (continuous diagnosis), this reads it instead. */
static struct findings_entry *open_findings(struct metrics *m, const struct analysis_input *in,
                                            int64_t now_us, char *err, size_t errlen)
{
    struct findings_entry *e = NULL;
    for (size_t i = 0; i < m->ncache; i++)
        if (strcmp(m->cache[i].target, in->target) == 0)
            e = &m->cache[i];
    if (e != NULL && now_us - e->at_us < METRICS_FINDINGS_CACHE_US && now_us >= e->at_us)
        return e;
    if (e == NULL) {
        struct findings_entry *v = realloc(m->cache, (m->ncache + 1) * sizeof(*v));
        if (v == NULL) {
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        m->cache = v;
        e = &m->cache[m->ncache++];
        memset(e, 0, sizeof(*e));
        if ((e->target = strdup(in->target)) == NULL) {
            m->ncache--;
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
    }
    struct analysis_diagnosis d;
    if (analysis_diagnose(in, &d, err, errlen) < 0) {
        analysis_diagnosis_clear(&d);
        return NULL;
    }
    free(e->v);
    e->v = calloc(d.nfindings ? d.nfindings : 1, sizeof(*e->v));
    e->n = 0;
    if (e->v == NULL) {
        analysis_diagnosis_clear(&d);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < d.nfindings; i++) {
        const struct analysis_finding *f = &d.findings[i];
        size_t j = 0;
        while (j < e->n && !(e->v[j].verdict == f->verdict && e->v[j].layer == f->layer &&
                             e->v[j].severity == f->severity))
            j++;
        if (j == e->n) {
            e->v[j].verdict = f->verdict;
            e->v[j].layer = f->layer;
            e->v[j].severity = f->severity;
            e->n++;
        }
        e->v[j].count++;
    }
    e->at_us = now_us;
    analysis_diagnosis_clear(&d);
    return e;
}

/* ---- per check and network ------------------------------------------------- */

/* What one network's agents show for one check. */
struct net_acc {
    const char *network;
    unsigned fresh, ok;
    double phase_sum[RESULT_PHASE_LAST];
    unsigned phase_n[RESULT_PHASE_LAST];
    uint64_t counts[METRICS_NBUCKETS + 1];
    double sum;
    int64_t cert_min;
    uint64_t delivery_max;
};

struct scrape {
    FILE *f[F_LAST];
    bool per_network;
    struct net_acc *acc;
    size_t nacc, capacc;
};

static struct net_acc *acc_of(struct scrape *x, const char *network)
{
    for (size_t i = 0; i < x->nacc; i++)
        if (strcmp(x->acc[i].network, network) == 0)
            return &x->acc[i];
    if (x->nacc == x->capacc) {
        size_t cap = x->capacc ? x->capacc * 2 : 16;
        struct net_acc *v = realloc(x->acc, cap * sizeof(*v));
        if (v == NULL)
            return NULL;
        x->acc = v;
        x->capacc = cap;
    }
    struct net_acc *a = &x->acc[x->nacc++];
    memset(a, 0, sizeof(*a));
    a->network = network;
    return a;
}

static void write_state(struct scrape *x, const char *target, const struct analysis_state *st,
                        bool ok)
{
    const char *l[] = {"target",  target,      "check", st->check,
                       "network", st->network, "agent", st->agent};
#define LABELS l[0], l[1], l[2], l[3], l[4], l[5], l[6], l[7]
    sample(x->f[F_CHECK_UP], families[F_CHECK_UP].name, LABELS, NULL);
    fprintf(x->f[F_CHECK_UP], "%d\n", ok ? 1 : 0);
    for (int p = 0; p < RESULT_PHASE_LAST; p++) {
        if (st->phases_us[p] == 0)
            continue;
        sample(x->f[F_PHASE], families[F_PHASE].name, LABELS, "phase", result_phase_name(p), NULL);
        fprintf(x->f[F_PHASE], "%.6f\n", (double)st->phases_us[p] / 1e6);
    }
    if (st->cert_not_after > 0) {
        sample(x->f[F_CERT], families[F_CERT].name, LABELS, NULL);
        fprintf(x->f[F_CERT], "%lld\n", (long long)st->cert_not_after);
    }
    if (st->delivery_us > 0) {
        sample(x->f[F_DELIVERY], families[F_DELIVERY].name, LABELS, NULL);
        fprintf(x->f[F_DELIVERY], "%.6f\n", (double)st->delivery_us / 1e6);
    }
#undef LABELS
}

static void write_network(struct scrape *x, const char *target, const char *check,
                          const struct net_acc *a)
{
    const char *l[] = {"target", target, "check", check, "network", a->network};
#define LABELS l[0], l[1], l[2], l[3], l[4], l[5]
    if (x->per_network) {
        sample(x->f[F_CHECK_UP], families[F_CHECK_UP].name, LABELS, NULL);
        fprintf(x->f[F_CHECK_UP], "%.6g\n", (double)a->ok / a->fresh);
        sample(x->f[F_CHECK_AGENTS], families[F_CHECK_AGENTS].name, LABELS, NULL);
        fprintf(x->f[F_CHECK_AGENTS], "%u\n", a->fresh);
        for (int p = 0; p < RESULT_PHASE_LAST; p++) {
            if (a->phase_n[p] == 0)
                continue;
            sample(x->f[F_PHASE], families[F_PHASE].name, LABELS, "phase", result_phase_name(p),
                   NULL);
            fprintf(x->f[F_PHASE], "%.6f\n", a->phase_sum[p] / a->phase_n[p] / 1e6);
        }
        if (a->cert_min > 0) {
            sample(x->f[F_CERT], families[F_CERT].name, LABELS, NULL);
            fprintf(x->f[F_CERT], "%lld\n", (long long)a->cert_min);
        }
        if (a->delivery_max > 0) {
            sample(x->f[F_DELIVERY], families[F_DELIVERY].name, LABELS, NULL);
            fprintf(x->f[F_DELIVERY], "%.6f\n", (double)a->delivery_max / 1e6);
        }
    }
#undef LABELS
    char *labels = NULL;
    size_t len = 0;
    FILE *lf = open_memstream(&labels, &len);
    if (lf == NULL)
        return;
    fputs("target=", lf);
    metrics_label_value(lf, target);
    fputs(",check=", lf);
    metrics_label_value(lf, check);
    fputs(",network=", lf);
    metrics_label_value(lf, a->network);
    if (fclose(lf) == 0 && labels != NULL)
        metrics_histogram(x->f[F_DURATION], families[F_DURATION].name, labels, a->counts, a->sum);
    free(labels);
}

/* One target's samples. Returns 0 or -1 with err. */
static int write_target(struct metrics *m, struct scrape *x, const struct collconf *c,
                        struct store *s, const struct wire_target *t, int64_t now_us, char *err,
                        size_t errlen)
{
    struct report_snapshot *snap = report_snapshot_load(s, t, now_us, false, err, errlen);
    if (snap == NULL)
        return -1;
    struct analysis_input in = cli_input(c, snap, t);
    int64_t reg_expires = 0;
    const char *reg_check = NULL;
    /* States come in (check, agent) order: one run per check. */
    for (size_t i = 0; i < in.nstates;) {
        size_t j = i;
        x->nacc = 0;
        for (; j < in.nstates && strcmp(in.states[j].check, in.states[i].check) == 0; j++) {
            const struct analysis_state *st = &in.states[j];
            enum analysis_cell cell = analysis_cell_of(&in, st);
            if (cell == ANALYSIS_CELL_STALE || cell == ANALYSIS_CELL_ABSENT)
                continue; /* not reporting: its series go stale in Prometheus */
            bool ok = cell == ANALYSIS_CELL_OK;
            if (!x->per_network)
                write_state(x, t->name, st, ok);
            if (st->reg_expires > reg_expires) {
                reg_expires = st->reg_expires;
                reg_check = st->check;
            }
            struct net_acc *a = acc_of(x, st->network ? st->network : "");
            if (a == NULL) {
                snprintf(err, errlen, "out of memory");
                report_snapshot_destroy(&snap);
                return -1;
            }
            a->fresh++;
            a->ok += ok;
            for (int p = 0; p < RESULT_PHASE_LAST; p++)
                if (st->phases_us[p] > 0) {
                    a->phase_sum[p] += (double)st->phases_us[p];
                    a->phase_n[p]++;
                }
            double total = (double)st->total_us / 1e6;
            a->counts[bucket_of(total)]++;
            a->sum += total;
            if (st->cert_not_after > 0 && (a->cert_min == 0 || st->cert_not_after < a->cert_min))
                a->cert_min = st->cert_not_after;
            if (st->delivery_us > a->delivery_max)
                a->delivery_max = st->delivery_us;
        }
        for (size_t k = 0; k < x->nacc; k++)
            write_network(x, t->name, in.states[i].check, &x->acc[k]);
        i = j;
    }
    if (reg_expires > 0) {
        const char *domain = strncmp(reg_check, "rdap://", 7) == 0 ? reg_check + 7 : t->domain;
        sample(x->f[F_REGISTRATION], families[F_REGISTRATION].name, "target", t->name, "domain",
               domain, NULL);
        fprintf(x->f[F_REGISTRATION], "%lld\n", (long long)reg_expires);
    }
    struct findings_entry *e = open_findings(m, &in, now_us, err, errlen);
    if (e != NULL)
        for (size_t i = 0; i < e->n; i++) {
            sample(x->f[F_FINDINGS], families[F_FINDINGS].name, "target", t->name, "verdict",
                   analysis_verdict_name(e->v[i].verdict), "layer",
                   result_layer_name(e->v[i].layer), "severity",
                   analysis_severity_name(e->v[i].severity), NULL);
            fprintf(x->f[F_FINDINGS], "%u\n", e->v[i].count);
        }
    report_snapshot_destroy(&snap);
    return e == NULL ? -1 : 0;
}

/* ---- agents ------------------------------------------------------------------ */

struct agent_net {
    char *network;
    unsigned agents, up;
    int64_t last_seen_us;
    uint64_t dropped, lost;
};

struct agents_scrape {
    struct scrape *x;
    struct agent_net *nets;
    size_t n, cap;
    bool oom;
};

static int add_agent(const struct store_agent *a, void *arg)
{
    struct agents_scrape *as = arg;
    struct scrape *x = as->x;
    const char *net = a->network ? a->network : "";
    if (!x->per_network) {
        FILE **f = x->f;
        sample(f[F_AGENT_UP], families[F_AGENT_UP].name, "agent", a->name, "network", net, NULL);
        fprintf(f[F_AGENT_UP], "%d\n", a->connected ? 1 : 0);
        if (a->last_seen_us > 0) {
            sample(f[F_LAST_SEEN], families[F_LAST_SEEN].name, "agent", a->name, "network", net,
                   NULL);
            fprintf(f[F_LAST_SEEN], "%.3f\n", (double)a->last_seen_us / 1e6);
        }
        sample(f[F_SPOOL_DROPPED], families[F_SPOOL_DROPPED].name, "agent", a->name, "network", net,
               NULL);
        fprintf(f[F_SPOOL_DROPPED], "%llu\n", (unsigned long long)a->spool_dropped);
        sample(f[F_LOST], families[F_LOST].name, "agent", a->name, "network", net, NULL);
        fprintf(f[F_LOST], "%llu\n", (unsigned long long)a->lost);
        return 0;
    }
    size_t i = 0;
    while (i < as->n && strcmp(as->nets[i].network, net) != 0)
        i++;
    if (i == as->n) {
        if (as->n == as->cap) {
            size_t cap = as->cap ? as->cap * 2 : 16;
            struct agent_net *v = realloc(as->nets, cap * sizeof(*v));
            if (v == NULL) {
                as->oom = true;
                return 1;
            }
            as->nets = v;
            as->cap = cap;
        }
        memset(&as->nets[i], 0, sizeof(as->nets[i]));
        if ((as->nets[i].network = strdup(net)) == NULL) {
            as->oom = true;
            return 1;
        }
        as->n++;
    }
    struct agent_net *n = &as->nets[i];
    n->agents++;
    n->up += a->connected;
    if (a->last_seen_us > n->last_seen_us)
        n->last_seen_us = a->last_seen_us;
    n->dropped += a->spool_dropped;
    n->lost += a->lost;
    return 0;
}

static int write_agents(struct scrape *x, struct store *s, int64_t now_us, char *err, size_t errlen)
{
    struct agents_scrape as = {.x = x};
    int rc = store_agents_each(s, now_us - SERVE_CONNECTED_WINDOW_US, add_agent, &as);
    if (rc < 0 || as.oom)
        snprintf(err, errlen, "listing agents: %s", as.oom ? "out of memory" : store_error(s));
    for (size_t i = 0; i < as.n; i++) {
        const struct agent_net *n = &as.nets[i];
        FILE **f = x->f;
        sample(f[F_AGENT_UP], families[F_AGENT_UP].name, "network", n->network, NULL);
        fprintf(f[F_AGENT_UP], "%u\n", n->up);
        sample(f[F_AGENTS], families[F_AGENTS].name, "network", n->network, NULL);
        fprintf(f[F_AGENTS], "%u\n", n->agents);
        if (n->last_seen_us > 0) {
            sample(f[F_LAST_SEEN], families[F_LAST_SEEN].name, "network", n->network, NULL);
            fprintf(f[F_LAST_SEEN], "%.3f\n", (double)n->last_seen_us / 1e6);
        }
        sample(f[F_SPOOL_DROPPED], families[F_SPOOL_DROPPED].name, "network", n->network, NULL);
        fprintf(f[F_SPOOL_DROPPED], "%llu\n", (unsigned long long)n->dropped);
        sample(f[F_LOST], families[F_LOST].name, "network", n->network, NULL);
        fprintf(f[F_LOST], "%llu\n", (unsigned long long)n->lost);
        free(as.nets[i].network);
    }
    free(as.nets);
    return rc < 0 || as.oom ? -1 : 0;
}

int metrics_write(struct metrics *m, const struct collconf *c, struct store *s,
                  const struct metrics_ingest *ingest, int64_t now_us, FILE *out, char *err,
                  size_t errlen)
{
    int64_t t0 = clock_wall_us();
    struct scrape x = {.per_network = c->metrics_per_network};
    char *buf[F_LAST] = {0};
    size_t len[F_LAST] = {0};
    int rc = 0;
    for (int i = 0; i < F_LAST; i++)
        if ((x.f[i] = open_memstream(&buf[i], &len[i])) == NULL) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    for (size_t i = 0; rc == 0 && i < c->targets.ntargets; i++)
        rc = write_target(m, &x, c, s, &c->targets.targets[i], now_us, err, errlen);
    if (rc == 0)
        rc = write_agents(&x, s, now_us, err, errlen);
    if (rc == 0) {
        static const char *const outcomes[] = {"stored", "duplicate", "invalid"};
        const uint64_t v[] = {ingest->stored, ingest->duplicates, ingest->invalid};
        for (size_t i = 0; i < 3; i++) {
            sample(x.f[F_INGEST], families[F_INGEST].name, "outcome", outcomes[i], NULL);
            fprintf(x.f[F_INGEST], "%llu\n", (unsigned long long)v[i]);
        }
        fprintf(x.f[F_SCRAPE], "%s %.6f\n", families[F_SCRAPE].name, m->last_scrape_s);
    }
    for (int i = 0; i < F_LAST; i++) {
        if (x.f[i] != NULL && fclose(x.f[i]) != 0 && rc == 0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
        if (rc == 0 && len[i] > 0) {
            fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", families[i].name, families[i].help,
                    families[i].name, families[i].type);
            fwrite(buf[i], 1, len[i], out);
        }
        free(buf[i]);
    }
    free(x.acc);
    m->last_scrape_s = (double)(clock_wall_us() - t0) / 1e6;
    return rc;
}
