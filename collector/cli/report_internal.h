/*
 * report_internal — the JSON pieces collector/cli/report_json.c lends to the
 * other report*.c outputs (diagnose, compare, timeline); nothing else
 * includes it. report.h stays the API.
 */
#ifndef VANTAGE_REPORT_INTERNAL_H
#define VANTAGE_REPORT_INTERNAL_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "report.h"

/* An ISO 8601 string of a time in microseconds since the epoch. */
json_t *report_time_json(int64_t us);

/* s as a JSON string, or null when s is NULL. */
json_t *report_str_or_null(const char *s);

/* A layer's name, or NULL for RESULT_LAYER_NONE. */
const char *report_layer_name(enum result_layer l);

/* The fields diagnose and compare share, in the contract's order. */
json_t *report_head_json(const struct analysis_input *in, const struct analysis_diagnosis *d);

/* The array of d's finding objects. */
json_t *report_findings_json(const struct analysis_input *in, const struct analysis_diagnosis *d);

/* Prints o as one compact line and releases it; -1 on failure. */
int report_print_json(FILE *out, json_t *o);

#endif
