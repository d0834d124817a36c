/*
 * findings — the `findings` command (docs/reference.md "Findings"): the
 * history of the findings continuous diagnosis opened, changed and
 * resolved while serve ran, or with open_only the findings open now, read
 * from the store (store_findings_each, store_finding_events_each).
 *
 * JSON Lines: each line is the finding object of diagnose --json (with
 * its id) plus "target"; history lines add "event" (opened | changed |
 * resolved) and "at"; open ones add "opened_at".
 */
#ifndef VANTAGE_FINDINGS_H
#define VANTAGE_FINDINGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "collconf.h"

/* target NULL = every target; since_us 0 = all time. Returns the exit
 * status: 0, or 2 on an error (written to stderr). */
int findings_list(const struct collconf *c, const char *target, bool open_only, int64_t since_us,
                  bool json, FILE *out);

/* The same on an open store (the HTTP endpoint's /api/v1/findings). */
struct store;
int findings_write(struct store *s, const char *target, bool open_only, int64_t since_us, bool json,
                   FILE *out);

#endif
