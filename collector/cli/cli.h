/*
 * cli — the collector's read-only commands (agents, results): they open
 * the store directly and print tables for people or JSON Lines for
 * scripts (docs/reference.md "Command line").
 */
#ifndef VANTAGE_CLI_H
#define VANTAGE_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "analysis.h"
#include "collconf.h"
#include "store.h"

/* Each returns the process exit status (0 ok, 2 runtime error) and writes
 * errors to stderr. agents shows an agent as connected only while the
 * collector's control socket accepts connections. */
int cli_agents(const struct collconf *c, bool json, FILE *out);
int cli_results(const struct collconf *c, const struct store_result_filter *f, bool json,
                FILE *out);

/* ---- compare, diagnose, timeline (report.h, analysis.h) ----
 * They read the maintained latest state and recent changes, never the
 * results history. A TARGET must be configured in collector.conf (its
 * domain and interval are part of the analysis). */

/* diagnose: target NULL = every configured target (JSON Lines with
 * json). Returns 1 when a problem was found (status problem), 2 on an
 * error, else 0 (status ok, or no_data: nothing to judge yet); with
 * several targets the highest. */
int cli_diagnose(const struct collconf *c, const char *target, bool json, FILE *out);

/* compare TARGET: vantage points x checks, then the findings; color when
 * out is a terminal. Exit status as diagnose. */
int cli_compare(const struct collconf *c, const char *target, bool json, FILE *out);

/* timeline TARGET: streak starts, recoveries and changes in time order.
 * Returns 0, or 2 on an error. */
int cli_timeline(const struct collconf *c, const char *target, bool json, FILE *out);

/* probe-now: asks every connected agent to probe target now, shows who
 * answered (stderr), then prints the fresh compare (matrix and findings;
 * with json: a {"probe_now": {...}} line, then the compare object). Exit
 * status as diagnose: 0 healthy, 1 a problem, 2 error. */
int cli_probe_now(const struct collconf *c, const char *target, int wait_s, bool json, FILE *out);

/* ---- the same output into any stream (the HTTP endpoint's /api/v1) ----
 * From a store the caller opened: out may be an open_memstream(), so the
 * API answers exactly what the CLI prints. */

/* agents, for a running collector (the caller is inside it). Returns 0 or
 * 2. */
int cli_agents_write(struct store *s, bool json, FILE *out);

struct report_snapshot;
/* The analysis input of target t's snapshot with the collector's warning
 * settings for it (cert_warn_days, delivery_warn): what every command and
 * /metrics diagnose. Valid while snap lives. */
struct analysis_input cli_input(const struct collconf *c, const struct report_snapshot *snap,
                                const struct wire_target *t);

enum cli_report { CLI_REPORT_DIAGNOSE, CLI_REPORT_COMPARE, CLI_REPORT_TIMELINE };

/* diagnose, compare or timeline of the configured target t. Returns the
 * exit status the command would have. */
int cli_report_write(const struct collconf *c, struct store *s, const struct wire_target *t,
                     enum cli_report what, bool json, FILE *out);

#endif
