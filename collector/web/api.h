/*
 * api — /api/v1/: exactly what the CLI prints with --json, from the same
 * printers (cli_agents_write, cli_report_write):
 *   /api/v1/agents                    agents --json (JSON Lines)
 *   /api/v1/diagnose[?target=T]       diagnose [T] --json
 *   /api/v1/compare?target=T          compare T --json
 *   /api/v1/timeline?target=T         timeline T --json (JSON Lines)
 * The exit status the command would have had is not part of the answer:
 * a diagnosed problem is still 200, its status is in the JSON.
 */
#ifndef VANTAGE_API_H
#define VANTAGE_API_H

#include <stdbool.h>
#include <stdio.h>

#include "collconf.h"
#include "store.h"

/* Answers endpoint (the path after /api/v1/) into out; open_only is
 * findings' ?open=1 (the command's --open). Returns the HTTP status: 200;
 * 400 without a needed target; 404 for an unknown endpoint or target (out
 * then holds {"error": "..."}); 500 when the store fails. */
unsigned api_answer(const struct collconf *c, struct store *s, const char *endpoint,
                    const char *target, bool open_only, FILE *out);

#endif
