/*
 * probe_nagios — `vantage-agent probe --nagios [-w S] [-c S] SPEC...`:
 * the one-shot probe's outcome as a Nagios/Icinga plugin line
 * (docs/reference.md "Nagios and Icinga"), as check_imap and check_smtp
 * users expect: exit 0 OK, 1 WARNING (slower than -w), 2 CRITICAL (a check
 * failed, or slower than -c), 3 UNKNOWN (usage or runtime error); one
 * status line, then perfdata with each phase's seconds and the total with
 * its thresholds.
 * @unittest: tests/integration/probe_nagios.sh
 */
#ifndef VANTAGE_PROBE_NAGIOS_H
#define VANTAGE_PROBE_NAGIOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "result.h"

enum probe_nagios_status {
    PROBE_NAGIOS_OK = 0,
    PROBE_NAGIOS_WARNING = 1,
    PROBE_NAGIOS_CRITICAL = 2,
    PROBE_NAGIOS_UNKNOWN = 3
};

/* The results one run reports on; more are counted, not shown. */
#define PROBE_NAGIOS_MAX 64

struct probe_nagios;

/* warn_us / crit_us: total time thresholds; 0 = none. NULL when out of
 * memory. */
struct probe_nagios *probe_nagios_create(uint64_t warn_us, uint64_t crit_us);
void probe_nagios_destroy(struct probe_nagios **np);

/* Takes note of one result (copies what it needs). */
void probe_nagios_add(struct probe_nagios *n, const struct result *r);

/* Prints the plugin's line and returns its exit status. */
int probe_nagios_print(const struct probe_nagios *n, FILE *out);

#endif
