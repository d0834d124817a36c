/*
 * report_compare — the compare output (report_compare in report.h): the
 * matrix of checks against vantage points, grouped by network, as text or
 * JSON.
 */
#include "report.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "discover.h"
#include "report_internal.h"
#include "spec.h"

/* Width of one matrix cell: "ok connect 1234ms" and "FAIL tcp_timeout"
 * fit; the longest error names are cut, the JSON has them whole. */
/* Up to this many vantage points, compare lists checks down and vantage
 * points across; a fleet gets one row per vantage point instead. */
#define COMPARE_COLUMNS_MAX 8
#define CHECK_WIDTH         44 /* "dns://_submission._tcp.example.com/SRV *" fits */
#define CELL_WIDTH          18
/* Width of the agent and network columns of the matrix. */
#define NAME_WIDTH 16

/* Checks, agents and networks of the snapshot in display order: checks
 * configured first, then discovered, each sorted; networks and agents
 * sorted by name. */
struct matrix {
    const char **checks;
    bool *discovered;
    size_t nchecks;
    const char **agents;
    const char **agent_net;
    bool *reporting;
    size_t nagents;
};

static int find_name(const char **v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return (int)i;
    return -1;
}

static int cmp_check(const void *a, const void *b, void *arg)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    const struct matrix *m = arg;
    /* Configured server checks, then the domain's DNS checks, then what
     * DNS pointed to. */
    if (m->discovered[i] != m->discovered[j])
        return m->discovered[i] ? 1 : -1;
    bool di = strncmp(m->checks[i], "dns://", 6) == 0, dj = strncmp(m->checks[j], "dns://", 6) == 0;
    if (di != dj)
        return di ? 1 : -1;
    return strcmp(m->checks[i], m->checks[j]);
}

static int cmp_agent(const void *a, const void *b, void *arg)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    const struct matrix *m = arg;
    int r = strcmp(m->agent_net[i], m->agent_net[j]);
    return r != 0 ? r : strcmp(m->agents[i], m->agents[j]);
}

static void cell_text(const struct analysis_input *in, const struct analysis_state *st,
                      enum analysis_cell c, char *buf, size_t len)
{
    switch (c) {
    case ANALYSIS_CELL_OK:
        if (st->phase != RESULT_PHASE_TOTAL)
            snprintf(buf, len, "ok %s %.0fms", result_phase_name(st->phase),
                     (double)st->phase_us / 1000.0);
        else
            snprintf(buf, len, "ok %.0fms", (double)st->total_us / 1000.0);
        break;
    case ANALYSIS_CELL_FAIL:
        snprintf(buf, len, "FAIL %s", result_error_name(st->error));
        break;
    case ANALYSIS_CELL_FLAPPING:
        snprintf(buf, len, "FLAP %s", result_error_name(st->ok ? st->fail_error : st->error));
        break;
    case ANALYSIS_CELL_STALE:
        snprintf(buf, len, "stale");
        break;
    case ANALYSIS_CELL_ABSENT:
        snprintf(buf, len, "none published");
        break;
    }
    (void)in;
}

static const char *cell_color(enum analysis_cell c)
{
    switch (c) {
    case ANALYSIS_CELL_OK:
        return "\033[32m";
    case ANALYSIS_CELL_FAIL:
        return "\033[1;31m";
    case ANALYSIS_CELL_FLAPPING:
        return "\033[33m";
    case ANALYSIS_CELL_STALE:
    case ANALYSIS_CELL_ABSENT:
        return "\033[2m";
    }
    return "";
}

int report_compare(FILE *out, const struct analysis_input *in, const struct analysis_diagnosis *d,
                   bool json, bool color)
{
    size_t n = in->nstates;
    struct matrix m = {0};
    m.checks = calloc(n + 1, sizeof(*m.checks));
    m.discovered = calloc(n + 1, sizeof(*m.discovered));
    m.agents = calloc(n + 1, sizeof(*m.agents));
    m.agent_net = calloc(n + 1, sizeof(*m.agent_net));
    m.reporting = calloc(n + 1, sizeof(*m.reporting));
    int *cell = NULL;
    size_t *corder = calloc(n + 1, sizeof(*corder)), *aorder = calloc(n + 1, sizeof(*aorder));
    int64_t *agent_at = calloc(n + 1, sizeof(*agent_at));
    size_t *state_check = calloc(n + 1, sizeof(*state_check));
    size_t *state_agent = calloc(n + 1, sizeof(*state_agent));
    int rc = -1;
    if (!m.checks || !m.discovered || !m.agents || !m.agent_net || !m.reporting || !corder ||
        !aorder || !agent_at || !state_check || !state_agent)
        goto out;
    /* Names are few (agents x checks = states): linear lookups of the
     * previous row first keep this fast for the store's sorted order. */
    for (size_t i = 0; i < n; i++) {
        const struct analysis_state *st = &in->states[i];
        int k = m.nchecks && strcmp(m.checks[m.nchecks - 1], st->check) == 0
                    ? (int)m.nchecks - 1
                    : find_name(m.checks, m.nchecks, st->check);
        if (k < 0) {
            k = (int)m.nchecks++;
            m.checks[k] = st->check;
            m.discovered[k] = true;
        }
        if (!st->discovered)
            m.discovered[k] = false;
        int a = find_name(m.agents, m.nagents, st->agent);
        if (a < 0) {
            a = (int)m.nagents++;
            m.agents[a] = st->agent;
            m.agent_net[a] = st->network;
            agent_at[a] = st->at_us;
        } else if (st->at_us > agent_at[a]) {
            agent_at[a] = st->at_us;
            m.agent_net[a] = st->network;
        }
        if (analysis_cell_of(in, st) != ANALYSIS_CELL_STALE)
            m.reporting[a] = true;
        state_check[i] = (size_t)k;
        state_agent[i] = (size_t)a;
    }
    for (size_t i = 0; i < m.nchecks; i++)
        corder[i] = i;
    for (size_t i = 0; i < m.nagents; i++)
        aorder[i] = i;
    qsort_r(corder, m.nchecks, sizeof(*corder), cmp_check, &m);
    qsort_r(aorder, m.nagents, sizeof(*aorder), cmp_agent, &m);
    /* state index per (agent, check), -1 when none */
    cell = malloc((m.nagents * m.nchecks + 1) * sizeof(*cell));
    if (cell == NULL)
        goto out;
    for (size_t i = 0; i < m.nagents * m.nchecks; i++)
        cell[i] = -1;
    for (size_t i = 0; i < n; i++)
        cell[state_agent[i] * m.nchecks + state_check[i]] = (int)i;

    if (json) {
        json_t *o = report_head_json(in, d);
        json_t *checks = json_array();
        for (size_t ci = 0; ci < m.nchecks; ci++) {
            json_t *c = json_object();
            json_object_set_new(c, "check", json_string(m.checks[corder[ci]]));
            json_object_set_new(c, "discovered", json_boolean(m.discovered[corder[ci]]));
            json_array_append_new(checks, c);
        }
        json_object_set_new(o, "checks", checks);
        json_t *nets = json_array();
        json_t *net = NULL, *agents = NULL;
        const char *cur = NULL;
        for (size_t ai = 0; ai < m.nagents; ai++) {
            size_t a = aorder[ai];
            if (cur == NULL || strcmp(cur, m.agent_net[a]) != 0) {
                cur = m.agent_net[a];
                net = json_object();
                agents = json_array();
                json_object_set_new(net, "network", json_string(cur));
                json_object_set_new(net, "agents", agents);
                json_array_append_new(nets, net);
            }
            json_t *ag = json_object();
            json_object_set_new(ag, "agent", json_string(m.agents[a]));
            json_object_set_new(ag, "reporting", json_boolean(m.reporting[a]));
            json_t *cells = json_array();
            for (size_t ci = 0; ci < m.nchecks; ci++) {
                int si = cell[a * m.nchecks + corder[ci]];
                if (si < 0)
                    continue;
                const struct analysis_state *st = &in->states[si];
                enum analysis_cell cs = analysis_cell_of(in, st);
                json_t *c = json_object();
                json_object_set_new(c, "check", json_string(st->check));
                json_object_set_new(c, "status", json_string(analysis_cell_name(cs)));
                enum result_layer lay = st->ok ? st->fail_layer : st->layer;
                enum result_error err =
                    st->ok && cs == ANALYSIS_CELL_FLAPPING ? st->fail_error : st->error;
                json_object_set_new(c, "layer",
                                    report_str_or_null(st->ok && cs != ANALYSIS_CELL_FLAPPING
                                                           ? NULL
                                                           : report_layer_name(lay)));
                json_object_set_new(c, "error", report_str_or_null(result_error_name(err)));
                json_object_set_new(c, "phase", report_str_or_null(result_phase_name(st->phase)));
                json_object_set_new(c, "phase_us", json_integer((json_int_t)st->phase_us));
                json_object_set_new(c, "total_us", json_integer((json_int_t)st->total_us));
                json_object_set_new(c, "at", report_time_json(st->at_us));
                json_object_set_new(c, "since", report_time_json(st->since_us));
                json_array_append_new(cells, c);
            }
            json_object_set_new(ag, "cells", cells);
            json_array_append_new(agents, ag);
        }
        json_object_set_new(o, "networks", nets);
        json_object_set_new(o, "findings", report_findings_json(in, d));
        rc = report_print_json(out, o);
        goto out;
    }

    char now[40];
    clock_format_iso_us(in->now_us, false, now, sizeof(now));
    fprintf(out, "%s: %zu agents on %zu networks, %zu reporting (%s)\n\n", in->target, d->agents,
            d->networks, d->reporting, now);
    if (m.nagents <= COMPARE_COLUMNS_MAX) {
        /* A few vantage points: checks down, vantage points across, so
         * that a person reads one check's row across networks. */
        fprintf(out, "%-*s", CHECK_WIDTH, "");
        const char *net = NULL;
        for (size_t ai = 0; ai < m.nagents; ai++) {
            const char *an = m.agent_net[aorder[ai]];
            bool first = net == NULL || strcmp(net, an) != 0;
            net = an;
            fprintf(out, " %-*.*s", CELL_WIDTH, CELL_WIDTH, first ? an : "");
        }
        fprintf(out, "\n%-*s", CHECK_WIDTH, "CHECK");
        for (size_t ai = 0; ai < m.nagents; ai++)
            fprintf(out, " %-*.*s", CELL_WIDTH, CELL_WIDTH, m.agents[aorder[ai]]);
        fputc('\n', out);
        for (size_t ci = 0; ci < m.nchecks; ci++) {
            char name[CHECK_WIDTH + 1];
            snprintf(name, sizeof(name), "%s%s", m.checks[corder[ci]],
                     m.discovered[corder[ci]] ? " *" : "");
            fprintf(out, "%-*s", CHECK_WIDTH, name);
            for (size_t ai = 0; ai < m.nagents; ai++) {
                int si = cell[aorder[ai] * m.nchecks + corder[ci]];
                char txt[CELL_WIDTH + 1] = "-";
                enum analysis_cell cs = ANALYSIS_CELL_STALE;
                if (si >= 0) {
                    cs = analysis_cell_of(in, &in->states[si]);
                    cell_text(in, &in->states[si], cs, txt, sizeof(txt));
                }
                if (color && si >= 0)
                    fprintf(out, " %s%-*s\033[0m", cell_color(cs), CELL_WIDTH, txt);
                else
                    fprintf(out, " %-*s", CELL_WIDTH, txt);
            }
            fputc('\n', out);
        }
        /* The legend explains a mark: without one it would only puzzle. */
        bool any_discovered = false;
        for (size_t ci = 0; ci < m.nchecks; ci++)
            any_discovered |= m.discovered[ci];
        if (any_discovered)
            fprintf(out, "(* found through the domain's DNS or autoconfig)\n");
    } else {
        for (size_t ci = 0; ci < m.nchecks; ci++)
            fprintf(out, "  [%zu] %s%s\n", ci + 1, m.checks[corder[ci]],
                    m.discovered[corder[ci]] ? " (found through DNS or autoconfig)" : "");
        fprintf(out, "\n%-*s %-*s", NAME_WIDTH, "NETWORK", NAME_WIDTH, "AGENT");
        for (size_t ci = 0; ci < m.nchecks; ci++) {
            char h[24];
            snprintf(h, sizeof(h), "[%zu]", ci + 1);
            fprintf(out, " %-*s", CELL_WIDTH, h);
        }
        fputc('\n', out);
        const char *cur = NULL;
        for (size_t ai = 0; ai < m.nagents; ai++) {
            size_t a = aorder[ai];
            bool first = cur == NULL || strcmp(cur, m.agent_net[a]) != 0;
            cur = m.agent_net[a];
            fprintf(out, "%-*.*s %-*.*s", NAME_WIDTH, NAME_WIDTH, first ? cur : "", NAME_WIDTH,
                    NAME_WIDTH, m.agents[a]);
            for (size_t ci = 0; ci < m.nchecks; ci++) {
                int si = cell[a * m.nchecks + corder[ci]];
                char txt[CELL_WIDTH + 1] = "-";
                enum analysis_cell cs = ANALYSIS_CELL_STALE;
                if (si >= 0) {
                    cs = analysis_cell_of(in, &in->states[si]);
                    cell_text(in, &in->states[si], cs, txt, sizeof(txt));
                }
                if (color && si >= 0)
                    fprintf(out, " %s%-*s\033[0m", cell_color(cs), CELL_WIDTH, txt);
                else
                    fprintf(out, " %-*s", CELL_WIDTH, txt);
            }
            fputc('\n', out);
        }
    }
    fputc('\n', out);
    rc = report_diagnose(out, in, d, false);
out:
    free(m.checks);
    free(m.discovered);
    free(m.agents);
    free(m.agent_net);
    free(m.reporting);
    free(cell);
    free(corder);
    free(aorder);
    free(agent_at);
    free(state_check);
    free(state_agent);
    return rc;
}
