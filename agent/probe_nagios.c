/*
 * probe_nagios — the probe's Nagios plugin output (probe_nagios.h).
 */
#include "probe_nagios.h"

#include <stdlib.h>
#include <string.h>

#define SPEC_SHOWN_MAX   128 /* of a check's text in the status line */
#define DETAIL_SHOWN_MAX 160

struct seen {
    char check[SPEC_SHOWN_MAX];
    bool ok;
    enum result_error error;
    enum result_layer layer;
    char detail[DETAIL_SHOWN_MAX];
    uint64_t phases_us[RESULT_PHASE_LAST];
};

struct probe_nagios {
    uint64_t warn_us, crit_us;
    struct seen seen[PROBE_NAGIOS_MAX];
    size_t n, total;
};

struct probe_nagios *probe_nagios_create(uint64_t warn_us, uint64_t crit_us)
{
    struct probe_nagios *n = calloc(1, sizeof(*n));
    if (n != NULL) {
        n->warn_us = warn_us;
        n->crit_us = crit_us;
    }
    return n;
}

void probe_nagios_destroy(struct probe_nagios **np)
{
    if (np == NULL || *np == NULL)
        return;
    free(*np);
    *np = NULL;
}

/* Copies s without newlines or '|' (the perfdata separator). */
static void one_line(char *out, size_t len, const char *s)
{
    size_t j = 0;
    for (size_t i = 0; s != NULL && s[i] != '\0' && j + 1 < len; i++)
        out[j++] = s[i] == '\n' || s[i] == '\r' ? ' ' : s[i] == '|' ? '/' : s[i];
    out[j] = '\0';
}

void probe_nagios_add(struct probe_nagios *n, const struct result *r)
{
    n->total++;
    if (n->n == PROBE_NAGIOS_MAX)
        return;
    struct seen *s = &n->seen[n->n++];
    one_line(s->check, sizeof(s->check), r->check);
    s->ok = r->ok;
    s->error = r->error;
    s->layer = r->layer;
    one_line(s->detail, sizeof(s->detail), r->detail);
    memcpy(s->phases_us, r->phases_us, sizeof(s->phases_us));
}

static void seconds(FILE *out, uint64_t us)
{
    fprintf(out, "%.6f", (double)us / 1e6);
}

int probe_nagios_print(const struct probe_nagios *n, FILE *out)
{
    static const char *const names[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};
    int status = n->n == 0 ? PROBE_NAGIOS_UNKNOWN : PROBE_NAGIOS_OK;
    const struct seen *worst = NULL;
    size_t failed = 0;
    for (size_t i = 0; i < n->n; i++) {
        const struct seen *s = &n->seen[i];
        uint64_t total = s->phases_us[RESULT_PHASE_TOTAL];
        int st = PROBE_NAGIOS_OK;
        if (!s->ok) {
            st = PROBE_NAGIOS_CRITICAL;
            failed++;
        } else if (n->crit_us > 0 && total > n->crit_us) {
            st = PROBE_NAGIOS_CRITICAL;
        } else if (n->warn_us > 0 && total > n->warn_us) {
            st = PROBE_NAGIOS_WARNING;
        }
        if (worst == NULL || st > status ||
            (st == status && total > worst->phases_us[RESULT_PHASE_TOTAL])) {
            status = st > status ? st : status;
            worst = s;
        }
    }
    fprintf(out, "VANTAGE-PROBE %s - ", names[status]);
    if (worst == NULL) {
        fprintf(out, "no result\n");
        return PROBE_NAGIOS_UNKNOWN;
    }
    if (failed > 0)
        fprintf(out, "%zu of %zu checks failed: %s %s (%s)%s%s", failed, n->total, worst->check,
                result_error_name(worst->error), result_layer_name(worst->layer),
                worst->detail[0] ? ": " : "", worst->detail);
    else
        fprintf(out, "%s%s %.3f s", n->total > 1 ? "slowest " : "", worst->check,
                (double)worst->phases_us[RESULT_PHASE_TOTAL] / 1e6);
    fputs(" |", out);
    for (size_t i = 0; i < n->n; i++) {
        const struct seen *s = &n->seen[i];
        char prefix[32] = "";
        if (n->n > 1)
            snprintf(prefix, sizeof(prefix), "c%zu_", i + 1);
        for (int p = 0; p < RESULT_PHASE_LAST; p++) {
            if (p == RESULT_PHASE_TOTAL || s->phases_us[p] == 0)
                continue;
            fprintf(out, " %s%s=", prefix, result_phase_name((enum result_phase)p));
            seconds(out, s->phases_us[p]);
            fputs("s;;;0", out);
        }
        fprintf(out, " %stime=", prefix);
        seconds(out, s->phases_us[RESULT_PHASE_TOTAL]);
        fputs("s;", out);
        if (n->warn_us > 0)
            seconds(out, n->warn_us);
        fputc(';', out);
        if (n->crit_us > 0)
            seconds(out, n->crit_us);
        fputs(";0", out);
    }
    fputc('\n', out);
    return status;
}
