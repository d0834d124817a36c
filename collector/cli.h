/*
 * cli — the collector's read-only commands (agents, results): they open
 * the store directly and print tables for people or JSON Lines for
 * scripts (DESIGN.md "Command line").
 */
#ifndef VANTAGE_CLI_H
#define VANTAGE_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "collconf.h"
#include "store.h"

/* Each returns the process exit status (0 ok, 2 runtime error) and writes
 * errors to stderr. */
int cli_agents(const struct collconf *c, bool json, FILE *out);
int cli_results(const struct collconf *c, const struct store_result_filter *f, bool json,
                FILE *out);

#endif
