/*
 * metrics — the Prometheus text format (metrics.h).
 *
 * Samples of one metric must be contiguous in the output: every target's
 * snapshot is loaded first, then each family is written in one pass over
 * them, straight into the output (building the families in buffers of
 * their own and joining them cost a quarter of a scrape at 1000 agents).
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
    F_INPUT,
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
    [F_FINDINGS] =
        {"vantage_findings_open", "gauge",
         "Findings open now (opened after two evaluations of the continuous diagnosis)."},
    [F_AGENT_UP] = {"vantage_agent_up", "gauge",
                    "Whether the agent is connected (1) or not (0); per network: how many are."},
    [F_AGENTS] = {"vantage_agents", "gauge", "Agents known in the network."},
    [F_LAST_SEEN] = {"vantage_agent_last_seen_timestamp_seconds", "gauge",
                     "When the agent was last heard from; per network: the latest of its agents."},
    [F_SPOOL_DROPPED] = {"vantage_agent_spool_dropped_total", "counter",
                         "Results the agent's full spool dropped before sending them."},
    [F_LOST] = {"vantage_agent_results_lost_total", "counter",
                "Sequence numbers the collector never received from the agent."},
    [F_INPUT] = {"vantage_agent_input_anomalies_total", "counter",
                 "What the collector refused or changed of the agent's input, by kind: duplicate "
                 "results, invalid results, results clamped to its time, refused messages."},
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

struct metrics {
    double last_scrape_s;
};

struct metrics *metrics_create(void)
{
    return calloc(1, sizeof(struct metrics));
}

void metrics_destroy(struct metrics **mp)
{
    if (mp == NULL || *mp == NULL)
        return;
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
 * The one place that knows where open findings come from: the finding
 * lifecycle the running collector keeps in the store (opened after two
 * evaluations, as Alertmanager sees them), read without running the
 * analysis. */

struct finding_count {
    char *verdict, *layer, *severity;
    unsigned count;
};

struct finding_counts {
    struct finding_count *v;
    size_t n, cap;
    bool oom;
};

static bool same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int count_finding(const struct store_finding *f, void *arg)
{
    struct finding_counts *fc = arg;
    for (size_t i = 0; i < fc->n; i++)
        if (same(fc->v[i].verdict, f->verdict) && same(fc->v[i].layer, f->layer) &&
            same(fc->v[i].severity, f->severity)) {
            fc->v[i].count++;
            return 0;
        }
    if (fc->n == fc->cap) {
        size_t cap = fc->cap ? fc->cap * 2 : 8;
        struct finding_count *v = realloc(fc->v, cap * sizeof(*v));
        if (v == NULL)
            goto oom;
        fc->v = v;
        fc->cap = cap;
    }
    struct finding_count *c = &fc->v[fc->n++];
    memset(c, 0, sizeof(*c));
    c->count = 1;
    if ((f->verdict && (c->verdict = strdup(f->verdict)) == NULL) ||
        (f->layer && (c->layer = strdup(f->layer)) == NULL) ||
        (f->severity && (c->severity = strdup(f->severity)) == NULL))
        goto oom;
    return 0;
oom:
    fc->oom = true;
    return 1;
}

static void counts_clear(struct finding_counts *fc)
{
    for (size_t i = 0; i < fc->n; i++) {
        free(fc->v[i].verdict);
        free(fc->v[i].layer);
        free(fc->v[i].severity);
    }
    free(fc->v);
    memset(fc, 0, sizeof(*fc));
}

/* Target's open findings counted by verdict, layer and severity. Returns
 * 0 or -1 with err. */
static int open_findings(struct store *s, const char *target, struct finding_counts *fc, char *err,
                         size_t errlen)
{
    if (store_open_findings(s, target, count_finding, fc) < 0 || fc->oom) {
        snprintf(err, errlen, "reading the open findings of %s: %s", target,
                 fc->oom ? "out of memory" : store_error(s));
        return -1;
    }
    return 0;
}

/* ---- the scrape ------------------------------------------------------------ */

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

/* One target's snapshot, loaded before any family is written. */
struct tsnap {
    const struct wire_target *t;
    struct report_snapshot *snap;
    struct analysis_input in;
};

/* One agent, or one network's agents with metrics_per = network. */
struct agent_row {
    char *name; /* NULL for a network's row */
    char *network;
    unsigned agents, up;
    int64_t last_seen_us;
    uint64_t dropped, lost;
    uint64_t input[4]; /* duplicates, invalid, clamped, refused (store_agent_counts) */
};

struct scrape {
    FILE *out;
    bool per_network;
    enum family cur; /* the family being written */
    bool started;    /* its HELP and TYPE are out */
    struct net_acc *acc;
    size_t nacc, capacc;
    struct agent_row *rows;
    size_t nrows, caprows;
    bool oom;
};

static void begin(struct scrape *x, enum family f)
{
    x->cur = f;
    x->started = false;
}

/* HELP and TYPE before the family's first sample: a family without
 * samples is left out. */
static void header(struct scrape *x)
{
    if (x->started)
        return;
    x->started = true;
    const char *name = families[x->cur].name;
    fprintf(x->out, "# HELP %s %s\n# TYPE %s %s\n", name, families[x->cur].help, name,
            families[x->cur].type);
}

/* name{k1="v1",k2="v2"} of the current family, with NULL-terminated key,
 * value pairs; a NULL value leaves its label out. */
static void sample(struct scrape *x, ...)
{
    header(x);
    FILE *out = x->out;
    va_list ap;
    va_start(ap, x);
    fputs(families[x->cur].name, out);
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

static struct net_acc *acc_of(struct scrape *x, const char *network)
{
    for (size_t i = 0; i < x->nacc; i++)
        if (strcmp(x->acc[i].network, network) == 0)
            return &x->acc[i];
    if (x->nacc == x->capacc) {
        size_t cap = x->capacc ? x->capacc * 2 : 16;
        struct net_acc *v = realloc(x->acc, cap * sizeof(*v));
        if (v == NULL) {
            x->oom = true;
            return NULL;
        }
        x->acc = v;
        x->capacc = cap;
    }
    struct net_acc *a = &x->acc[x->nacc++];
    memset(a, 0, sizeof(*a));
    a->network = network;
    return a;
}

/* Whether state st is reporting, and whether it passes. Stale states
 * have no series: they go stale in Prometheus rather than keep a value. */
static bool fresh(const struct analysis_input *in, const struct analysis_state *st, bool *ok)
{
    enum analysis_cell cell = analysis_cell_of(in, st);
    *ok = cell == ANALYSIS_CELL_OK;
    return cell != ANALYSIS_CELL_STALE && cell != ANALYSIS_CELL_ABSENT;
}

/* The per-network figures of the states [i, j) of one check. */
static void accumulate(struct scrape *x, const struct analysis_input *in, size_t i, size_t j)
{
    x->nacc = 0;
    for (size_t k = i; k < j; k++) {
        const struct analysis_state *st = &in->states[k];
        bool ok;
        if (!fresh(in, st, &ok))
            continue;
        struct net_acc *a = acc_of(x, st->network ? st->network : "");
        if (a == NULL)
            return;
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
}

/* One agent's sample of the current family. */
static void write_state(struct scrape *x, const char *target, const struct analysis_state *st,
                        bool ok)
{
    const char *l[] = {"target",  target,      "check", st->check,
                       "network", st->network, "agent", st->agent};
#define LABELS l[0], l[1], l[2], l[3], l[4], l[5], l[6], l[7]
    switch (x->cur) {
    case F_CHECK_UP:
        sample(x, LABELS, NULL);
        fprintf(x->out, "%d\n", ok ? 1 : 0);
        break;
    case F_PHASE:
        for (int p = 0; p < RESULT_PHASE_LAST; p++) {
            if (st->phases_us[p] == 0)
                continue;
            sample(x, LABELS, "phase", result_phase_name(p), NULL);
            fprintf(x->out, "%.6f\n", (double)st->phases_us[p] / 1e6);
        }
        break;
    case F_CERT:
        if (st->cert_not_after > 0) {
            sample(x, LABELS, NULL);
            fprintf(x->out, "%lld\n", (long long)st->cert_not_after);
        }
        break;
    case F_DELIVERY:
        if (st->delivery_us > 0) {
            sample(x, LABELS, NULL);
            fprintf(x->out, "%.6f\n", (double)st->delivery_us / 1e6);
        }
        break;
    default:
        break;
    }
#undef LABELS
}

/* One network's sample of the current family. */
static void write_network(struct scrape *x, const char *target, const char *check,
                          const struct net_acc *a)
{
    const char *l[] = {"target", target, "check", check, "network", a->network};
#define LABELS l[0], l[1], l[2], l[3], l[4], l[5]
    switch (x->cur) {
    case F_CHECK_UP:
        sample(x, LABELS, NULL);
        fprintf(x->out, "%.6g\n", (double)a->ok / a->fresh);
        break;
    case F_CHECK_AGENTS:
        sample(x, LABELS, NULL);
        fprintf(x->out, "%u\n", a->fresh);
        break;
    case F_PHASE:
        for (int p = 0; p < RESULT_PHASE_LAST; p++) {
            if (a->phase_n[p] == 0)
                continue;
            sample(x, LABELS, "phase", result_phase_name(p), NULL);
            fprintf(x->out, "%.6f\n", a->phase_sum[p] / a->phase_n[p] / 1e6);
        }
        break;
    case F_CERT:
        if (a->cert_min > 0) {
            sample(x, LABELS, NULL);
            fprintf(x->out, "%lld\n", (long long)a->cert_min);
        }
        break;
    case F_DELIVERY:
        if (a->delivery_max > 0) {
            sample(x, LABELS, NULL);
            fprintf(x->out, "%.6f\n", (double)a->delivery_max / 1e6);
        }
        break;
    case F_DURATION: {
        char *labels = NULL;
        size_t len = 0;
        FILE *lf = open_memstream(&labels, &len);
        if (lf == NULL) {
            x->oom = true;
            break;
        }
        fputs("target=", lf);
        metrics_label_value(lf, target);
        fputs(",check=", lf);
        metrics_label_value(lf, check);
        fputs(",network=", lf);
        metrics_label_value(lf, a->network);
        if (fclose(lf) == 0 && labels != NULL) {
            header(x);
            metrics_histogram(x->out, families[F_DURATION].name, labels, a->counts, a->sum);
        } else {
            x->oom = true;
        }
        free(labels);
        break;
    }
    default:
        break;
    }
#undef LABELS
}

/* Family f over every check of every target: per agent or per network. */
static void write_checks(struct scrape *x, enum family f, const struct tsnap *ts, size_t nts)
{
    begin(x, f);
    bool networks = x->per_network || f == F_DURATION;
    for (size_t n = 0; n < nts; n++) {
        const struct analysis_input *in = &ts[n].in;
        /* States come in (check, agent) order: one run per check. */
        for (size_t i = 0, j; i < in->nstates; i = j) {
            for (j = i; j < in->nstates && strcmp(in->states[j].check, in->states[i].check) == 0;
                 j++)
                ;
            if (!networks) {
                for (size_t k = i; k < j; k++) {
                    bool ok;
                    if (fresh(in, &in->states[k], &ok))
                        write_state(x, ts[n].t->name, &in->states[k], ok);
                }
                continue;
            }
            accumulate(x, in, i, j);
            for (size_t k = 0; k < x->nacc; k++)
                write_network(x, ts[n].t->name, in->states[i].check, &x->acc[k]);
        }
    }
}

/* The registration expiry each target's rdap:// check read last. */
static void write_registrations(struct scrape *x, const struct tsnap *ts, size_t nts)
{
    begin(x, F_REGISTRATION);
    for (size_t n = 0; n < nts; n++) {
        const struct analysis_input *in = &ts[n].in;
        int64_t expires = 0;
        const char *check = NULL;
        for (size_t i = 0; i < in->nstates; i++) {
            bool ok;
            if (in->states[i].reg_expires > expires && fresh(in, &in->states[i], &ok)) {
                expires = in->states[i].reg_expires;
                check = in->states[i].check;
            }
        }
        if (expires == 0)
            continue;
        const char *domain = strncmp(check, "rdap://", 7) == 0 ? check + 7 : ts[n].t->domain;
        sample(x, "target", ts[n].t->name, "domain", domain, NULL);
        fprintf(x->out, "%lld\n", (long long)expires);
    }
}

static int write_findings(struct scrape *x, struct store *s, const struct tsnap *ts, size_t nts,
                          char *err, size_t errlen)
{
    begin(x, F_FINDINGS);
    for (size_t n = 0; n < nts; n++) {
        struct finding_counts fc = {0};
        int rc = open_findings(s, ts[n].t->name, &fc, err, errlen);
        for (size_t i = 0; rc == 0 && i < fc.n; i++) {
            sample(x, "target", ts[n].t->name, "verdict", fc.v[i].verdict, "layer", fc.v[i].layer,
                   "severity", fc.v[i].severity, NULL);
            fprintf(x->out, "%u\n", fc.v[i].count);
        }
        counts_clear(&fc);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* ---- agents ------------------------------------------------------------------ */

static int add_agent(const struct store_agent *a, void *arg)
{
    struct scrape *x = arg;
    const char *net = a->network ? a->network : "";
    size_t i = x->nrows;
    if (x->per_network)
        for (i = 0; i < x->nrows && strcmp(x->rows[i].network, net) != 0; i++)
            ;
    if (i == x->nrows) {
        if (x->nrows == x->caprows) {
            size_t cap = x->caprows ? x->caprows * 2 : 64;
            struct agent_row *v = realloc(x->rows, cap * sizeof(*v));
            if (v == NULL)
                goto oom;
            x->rows = v;
            x->caprows = cap;
        }
        struct agent_row *r = &x->rows[x->nrows];
        memset(r, 0, sizeof(*r));
        if ((r->network = strdup(net)) == NULL)
            goto oom;
        x->nrows++;
        if (!x->per_network && (r->name = strdup(a->name)) == NULL)
            goto oom;
    }
    struct agent_row *r = &x->rows[i];
    r->agents++;
    r->up += a->connected;
    if (a->last_seen_us > r->last_seen_us)
        r->last_seen_us = a->last_seen_us;
    r->dropped += a->spool_dropped;
    r->lost += a->lost;
    r->input[0] += a->counts.duplicates;
    r->input[1] += a->counts.invalid;
    r->input[2] += a->counts.clamped;
    r->input[3] += a->counts.refused;
    return 0;
oom:
    x->oom = true;
    return 1;
}

static void write_agents(struct scrape *x)
{
    static const enum family fams[] = {F_AGENT_UP, F_AGENTS, F_LAST_SEEN, F_SPOOL_DROPPED, F_LOST};
    for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
        if (fams[f] == F_AGENTS && !x->per_network)
            continue;
        begin(x, fams[f]);
        for (size_t i = 0; i < x->nrows; i++) {
            const struct agent_row *r = &x->rows[i];
            if (fams[f] == F_LAST_SEEN && r->last_seen_us == 0)
                continue;
            sample(x, "agent", r->name, "network", r->network, NULL);
            switch (fams[f]) {
            case F_AGENT_UP:
                fprintf(x->out, "%u\n", r->up);
                break;
            case F_AGENTS:
                fprintf(x->out, "%u\n", r->agents);
                break;
            case F_LAST_SEEN:
                fprintf(x->out, "%.3f\n", (double)r->last_seen_us / 1e6);
                break;
            case F_SPOOL_DROPPED:
                fprintf(x->out, "%llu\n", (unsigned long long)r->dropped);
                break;
            default:
                fprintf(x->out, "%llu\n", (unsigned long long)r->lost);
                break;
            }
        }
    }
    /* The kinds are the `agents` fields (docs/reference.md), singular as
     * the outcomes of vantage_ingest_results_total are. */
    static const char *const kinds[] = {"duplicate", "invalid", "clamped", "refused"};
    begin(x, F_INPUT);
    for (size_t i = 0; i < x->nrows; i++)
        for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
            sample(x, "agent", x->rows[i].name, "network", x->rows[i].network, "kind", kinds[k],
                   NULL);
            fprintf(x->out, "%llu\n", (unsigned long long)x->rows[i].input[k]);
        }
}

int metrics_write(struct metrics *m, const struct collconf *c, struct store *s,
                  const struct metrics_ingest *ingest, int64_t now_us, FILE *out, char *err,
                  size_t errlen)
{
    int64_t t0 = clock_wall_us();
    struct scrape x = {.out = out, .per_network = c->metrics_per_network};
    size_t nts = c->targets.ntargets;
    struct tsnap *ts = calloc(nts ? nts : 1, sizeof(*ts));
    int rc = ts == NULL ? -1 : 0;
    if (ts == NULL)
        snprintf(err, errlen, "out of memory");
    for (size_t i = 0; rc == 0 && i < nts; i++) {
        ts[i].t = &c->targets.targets[i];
        ts[i].snap = report_snapshot_load(s, ts[i].t, now_us, false, err, errlen);
        if (ts[i].snap == NULL)
            rc = -1;
        else
            ts[i].in = cli_input(c, ts[i].snap, ts[i].t);
    }
    if (rc == 0 && store_agents_each(s, now_us - SERVE_CONNECTED_WINDOW_US, add_agent, &x) < 0) {
        snprintf(err, errlen, "listing agents: %s", store_error(s));
        rc = -1;
    }
    if (rc == 0) {
        write_checks(&x, F_CHECK_UP, ts, nts);
        if (x.per_network)
            write_checks(&x, F_CHECK_AGENTS, ts, nts);
        write_checks(&x, F_PHASE, ts, nts);
        write_checks(&x, F_DURATION, ts, nts);
        rc = write_findings(&x, s, ts, nts, err, errlen);
    }
    if (rc == 0) {
        write_agents(&x);
        begin(&x, F_INGEST);
        static const char *const outcomes[] = {"stored", "duplicate", "invalid"};
        const uint64_t v[] = {ingest->stored, ingest->duplicates, ingest->invalid};
        for (size_t i = 0; i < 3; i++) {
            sample(&x, "outcome", outcomes[i], NULL);
            fprintf(out, "%llu\n", (unsigned long long)v[i]);
        }
        write_checks(&x, F_CERT, ts, nts);
        write_registrations(&x, ts, nts);
        write_checks(&x, F_DELIVERY, ts, nts);
        begin(&x, F_SCRAPE);
        sample(&x, NULL);
        fprintf(out, "%.6f\n", m->last_scrape_s);
    }
    if (rc == 0 && (x.oom || ferror(out))) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    for (size_t i = 0; ts != NULL && i < nts; i++)
        report_snapshot_destroy(&ts[i].snap);
    free(ts);
    for (size_t i = 0; i < x.nrows; i++) {
        free(x.rows[i].name);
        free(x.rows[i].network);
    }
    free(x.rows);
    free(x.acc);
    m->last_scrape_s = (double)(clock_wall_us() - t0) / 1e6;
    return rc;
}
