/*
 * probe_cli — "vantage-agent probe": one-shot probes for a person at a
 * terminal or for a script (docs/reference.md "Command line").
 *
 *   vantage-agent probe [--json] [--timeout S] [--ca-file F]
 *                       [--resolver IP[:PORT]] [--domain D]
 *                       [--user U --password-file F]
 *                       [--repeat N] [--concurrency C] SPEC...
 *
 * Without --json, a readable report per check (phases, TLS facts, banner,
 * DNS answers, the error and a plain-language hint); with --json, one
 * result_json() line per check. --domain D adds the domain's DNS checks
 * and, from their answers, the discovered server checks. --repeat and
 * --concurrency run each spec N times with at most C in flight and print
 * a summary (probes, ok, failed, rate, latency median/p90/p99): at the end
 * of the report, or to stderr with --json.
 *
 * Exit status: 0 every check ok, 1 any check failed, 2 usage or runtime
 * error (with a message on stderr that says what was wrong).
 */
#ifndef VANTAGE_PROBE_CLI_H
#define VANTAGE_PROBE_CLI_H

/* Runs the command. argv[0] is the subcommand's name ("probe") and the
 * options follow, i.e. main calls probe_cli_main(argc - 1, argv + 1).
 * Prints to stdout and stderr; returns the exit status (0, 1 or 2). */
int probe_cli_main(int argc, char **argv);

#endif
