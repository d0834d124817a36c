/*
 * check — `vantage-collector check TARGET`, a Nagios/Icinga plugin
 * (docs/reference.md "Nagios and Icinga"): diagnoses TARGET as diagnose
 * does and prints one status line with performance data, following the
 * Monitoring Plugins guidelines: exit 0 OK, 1 WARNING (warnings only),
 * 2 CRITICAL (a problem), 3 UNKNOWN (no data, an unknown target, the
 * database unreadable).
 *
 * The diagnosis is fresh, not the open findings of a running collector:
 * Nagios has its own soft and hard states (max_check_attempts), and the
 * plugin works with the daemon stopped. Perfdata: problems, warnings,
 * open_findings (as the running collector keeps them), agents,
 * reporting, networks.
 */
#ifndef VANTAGE_CHECK_H
#define VANTAGE_CHECK_H

#include <stdio.h>

#include "collconf.h"

enum check_status { CHECK_OK = 0, CHECK_WARNING = 1, CHECK_CRITICAL = 2, CHECK_UNKNOWN = 3 };

/* Prints the plugin's line to out; returns its exit status. */
int check_run(const struct collconf *c, const char *target, FILE *out);

#endif
