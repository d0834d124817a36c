/*
 * report — compare, diagnose and timeline for people and scripts: reads
 * one target's snapshot from the store (latest states, the facts of their
 * latest results - phase times, certificate expiry - and recent changes,
 * never older history), runs analysis on it and prints the outcome
 * as a short report (terminal) or JSON (docs/reference.md "Diagnosis").
 *
 * JSON shapes:
 *   diagnose --json  the contract object, one line per target;
 *   compare --json   one object: target, generated_at, vantage_points,
 *                    status, checks [{check, discovered}], networks
 *                    [{network, agents [{agent, reporting, cells [{check,
 *                    status ok|fail|flapping|stale|absent, layer,
 *                    error, phase, phase_us, total_us, at, since}]}]}],
 *                    findings (as in diagnose);
 *   timeline --json  JSON Lines in time order: {at, event failed|
 *                    failing_again|recovered, agent, network, check,
 *                    layer, error, flapping} for state changes and
 *                    {at, event "change", kind, agent, subject, before,
 *                    after, seen_by} for detected changes (identical
 *                    ones from several agents within 15 minutes are one
 *                    event: agent is the first to see it, seen_by how
 *                    many did).
 *                    Findings opened and resolved by continuous
 *                    diagnosis: {at, event opened|resolved, id,
 *                    severity, verdict, layer, summary}.
 */
#ifndef VANTAGE_REPORT_H
#define VANTAGE_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "analysis.h"
#include "store.h"
#include "wire.h"

/* A state older than this many probe intervals (plus the timeout) is not
 * reporting: one lost batch or a slow probe must not hide an agent, three
 * missed rounds mean it is gone or cut off. */
#define REPORT_STALE_INTERVALS 3

/* How far back timeline lists detected changes. */
#define REPORT_TIMELINE_US (7LL * 24 * 3600 * 1000000)

struct report_snapshot;

/* Loads target t's latest states and the changes diagnose may correlate
 * (timeline: those of the last REPORT_TIMELINE_US). Returns NULL with err
 * on a store error. */
struct report_snapshot *report_snapshot_load(struct store *s, const struct wire_target *t,
                                             int64_t now_us, bool for_timeline, char *err,
                                             size_t errlen);
void report_snapshot_destroy(struct report_snapshot **sp);

/* The analysis input the snapshot holds (valid while it lives). */
const struct analysis_input *report_snapshot_input(const struct report_snapshot *snap);

/* Sets the target's delivery_warn (collector.conf) for the diagnosis. */
void report_snapshot_set_delivery_warn(struct report_snapshot *snap, uint64_t us);

/* The finding object of diagnose --json (with "id" when f->id is set);
 * the caller owns the reference. NULL when out of memory. */
json_t *report_finding_json(const struct analysis_input *in, const struct analysis_finding *f);

/* Prints a diagnosis: the contract's JSON object on one line, or a short
 * report. Returns 0, or -1 when out of memory or on an output error. */
int report_diagnose(FILE *out, const struct analysis_input *in, const struct analysis_diagnosis *d,
                    bool json);

/* Prints the vantage points x checks matrix and the findings; color adds
 * ANSI colours to the cells. Returns 0 or -1. */
int report_compare(FILE *out, const struct analysis_input *in, const struct analysis_diagnosis *d,
                   bool json, bool color);

/* Prints streak starts, recoveries and changes in time order. Returns 0
 * or -1. */
int report_timeline(FILE *out, const struct analysis_input *in, bool json);

#endif
