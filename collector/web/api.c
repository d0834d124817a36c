/*
 * api — the CLI's JSON over HTTP (api.h).
 */
#include "api.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "findings.h"

static unsigned error_reply(FILE *out, unsigned status, const char *msg)
{
    json_t *o = json_object();
    json_object_set_new(o, "error", json_string(msg));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (text != NULL)
        fprintf(out, "%s\n", text);
    free(text);
    return status;
}

unsigned api_answer(const struct collconf *c, struct store *s, const char *endpoint,
                    const char *target, bool open_only, FILE *out)
{
    if (strcmp(endpoint, "agents") == 0)
        return cli_agents_write(s, true, out) == 2 ? 500 : 200;
    if (strcmp(endpoint, "findings") == 0) {
        if (target != NULL && collconf_target(c, target) == NULL) {
            char msg[400];
            snprintf(msg, sizeof(msg), "no target '%.200s' in the collector's configuration",
                     target);
            return error_reply(out, 404, msg);
        }
        return findings_write(s, target, open_only, 0, true, out) == 2 ? 500 : 200;
    }
    enum cli_report what;
    if (strcmp(endpoint, "diagnose") == 0)
        what = CLI_REPORT_DIAGNOSE;
    else if (strcmp(endpoint, "compare") == 0)
        what = CLI_REPORT_COMPARE;
    else if (strcmp(endpoint, "timeline") == 0)
        what = CLI_REPORT_TIMELINE;
    else
        return error_reply(out, 404,
                           "no such endpoint; there are /api/v1/agents, /api/v1/diagnose, "
                           "/api/v1/compare?target=T, /api/v1/timeline?target=T and "
                           "/api/v1/findings[?target=T][&open=1]");
    if (target == NULL && what == CLI_REPORT_DIAGNOSE) {
        for (size_t i = 0; i < c->targets.ntargets; i++)
            if (cli_report_write(c, s, &c->targets.targets[i], what, true, out) == 2)
                return 500;
        return 200;
    }
    if (target == NULL)
        return error_reply(out, 400, "this endpoint needs ?target=NAME");
    const struct wire_target *t = collconf_target(c, target);
    if (t == NULL) {
        char msg[400];
        snprintf(msg, sizeof(msg), "no target '%.200s' in the collector's configuration", target);
        return error_reply(out, 404, msg);
    }
    return cli_report_write(c, s, t, what, true, out) == 2 ? 500 : 200;
}
