/*
 * vantage-collector — command-line entry: keygen, serve and the read-only
 * commands (DESIGN.md "Command line"). Each command lives in its module;
 * this file only parses arguments and maps outcomes to exit statuses:
 * 0 success / healthy, 1 a problem was diagnosed, 2 usage or runtime error.
 */
#include <getopt.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "probenow.h"
#include "clock.h"
#include "collconf.h"
#include "log.h"
#include "serve.h"
#include "transport.h"

#define DEFAULT_CONFIG "/etc/vantage/collector.conf"

static void usage(FILE *out)
{
    fputs("usage: vantage-collector [-c FILE] COMMAND [OPTIONS]\n"
          "\n"
          "Stores what vantage-agents see of your mail service and compares them.\n"
          "\n"
          "commands:\n"
          "  keygen --out DIR          write DIR/collector.key (0600) and DIR/collector.pub\n"
          "  serve                     run the collector daemon (logs to stderr)\n"
          "  agents   [--json]         agents: network, version, last seen\n"
          "  results  [--target T] [--agent A] [--since DUR] [--limit N] [--json]\n"
          "                            stored results, oldest first (DUR: 30m, 2h, 7d)\n"
          "  compare  TARGET [--json]  vantage points (by network) x checks, then the findings\n"
          "  diagnose [TARGET] [--json]\n"
          "                            what is wrong, since when, where, and what to do next\n"
          "  timeline TARGET [--json]  failures, recoveries and changes in time order\n"
          "  probe-now TARGET [--wait S] [--json]\n"
          "                            every connected agent probes TARGET now; shows who\n"
          "                            answered, then the fresh comparison and findings\n"
          "\n"
          "options:\n"
          "  -c, --config FILE         collector.conf (default " DEFAULT_CONFIG ")\n"
          "  -h, --help                this help\n"
          "  -V, --version             print the version\n"
          "\n"
          "exit status: 0 success, 1 a problem was diagnosed, 2 usage or runtime error\n",
          out);
}

__attribute__((format(printf, 1, 2))) static int fail_usage(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "vantage-collector: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'vantage-collector --help'.\n");
    return 2;
}

static int cmd_keygen(int argc, char **argv)
{
    const char *out = NULL;
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        if (ch == 'o')
            out = optarg;
        else if (ch == 'h') {
            puts("usage: vantage-collector keygen --out DIR");
            return 0;
        } else
            return fail_usage("%s", "keygen: bad option");
    }
    if (out == NULL)
        return fail_usage("%s", "keygen needs --out DIR");
    char err[512];
    if (transport_keygen(out, "collector", err, sizeof(err)) < 0) {
        fprintf(stderr, "vantage-collector: %s\n", err);
        return 2;
    }
    printf("wrote %s/collector.key (secret, mode 0600) and %s/collector.pub\n"
           "put the line of collector.pub into each agent.conf as collector_public_key\n",
           out, out);
    return 0;
}

/* compare, diagnose and timeline take a TARGET argument (diagnose: optional). */
static bool is_analysis_cmd(const char *cmd)
{
    return strcmp(cmd, "compare") == 0 || strcmp(cmd, "diagnose") == 0 ||
           strcmp(cmd, "timeline") == 0 || strcmp(cmd, "probe-now") == 0;
}

static int run_analysis_cmd(const char *cmd, const struct collconf *conf, const char *target,
                            bool json, int wait_s)
{
    if (strcmp(cmd, "diagnose") == 0)
        return cli_diagnose(conf, target, json, stdout);
    if (target == NULL)
        return fail_usage("%s needs a TARGET (a [target NAME] of collector.conf)", cmd);
    if (strcmp(cmd, "compare") == 0)
        return cli_compare(conf, target, json, stdout);
    if (strcmp(cmd, "probe-now") == 0)
        return cli_probe_now(conf, target, wait_s, json, stdout);
    return cli_timeline(conf, target, json, stdout);
}

int main(int argc, char **argv)
{
    /* One thread uses each connection, and nothing reads sqlite's memory
     * statistics: without them every allocation skips a mutex (a few per
     * cent of ingest). Must precede any other sqlite call. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    const char *config = DEFAULT_CONFIG;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
            printf("vantage-collector %s\n", VANTAGE_VERSION);
            return 0;
        } else if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
                   i + 1 < argc) {
            config = argv[++i];
        } else {
            return fail_usage("unknown option '%s'", argv[i]);
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[i];
    int cargc = argc - i;
    char **cargv = argv + i;
    if (strcmp(cmd, "keygen") == 0)
        return cmd_keygen(cargc, cargv);

    bool json = false;
    int wait_s = PROBENOW_DEFAULT_WAIT_S;
    struct store_result_filter filter = {0};
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"target", required_argument, NULL, 't'},
                                         {"agent", required_argument, NULL, 'a'},
                                         {"since", required_argument, NULL, 's'},
                                         {"limit", required_argument, NULL, 'l'},
                                         {"wait", required_argument, NULL, 'w'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(cargc, cargv, "c:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            config = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 't':
            filter.target = optarg;
            break;
        case 'a':
            filter.agent = optarg;
            break;
        case 's': {
            int64_t us;
            if (clock_parse_duration(optarg, &us) < 0)
                return fail_usage("--since '%s' is not a duration (e.g. 30m, 2h, 7d)", optarg);
            filter.since_us = clock_wall_us() - us;
            break;
        }
        case 'l': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end != '\0' || n < 1)
                return fail_usage("--limit '%s' is not a positive number", optarg);
            filter.limit = (size_t)n;
            break;
        }
        case 'w': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end != '\0' || n < 1 || n > 3600)
                return fail_usage("--wait '%s' must be 1 to 3600 seconds", optarg);
            wait_s = (int)n;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            return fail_usage("%s", "bad option");
        }
    }
    const char *target_arg = NULL;
    if (is_analysis_cmd(cmd) && optind < cargc)
        target_arg = cargv[optind++];
    if (optind < cargc)
        return fail_usage("unexpected argument '%s'", cargv[optind]);

    char err[1024];
    struct collconf *conf = collconf_load(config, err, sizeof(err));
    if (conf == NULL) {
        fprintf(stderr, "vantage-collector: %s\n", err);
        return 2;
    }
    int rc;
    if (strcmp(cmd, "serve") == 0) {
        enum log_level level = LOG_LEVEL_INFO;
        if (log_level_parse(conf->log_level, &level) < 0)
            fprintf(stderr, "vantage-collector: unknown log_level '%s', using info\n",
                    conf->log_level);
        struct log *log = log_create(stderr, "collector", level);
        rc = serve_run(&conf, log) < 0 ? 2 : 0;
        log_destroy(&log);
    } else if (strcmp(cmd, "agents") == 0) {
        rc = cli_agents(conf, json, stdout);
    } else if (strcmp(cmd, "results") == 0) {
        rc = cli_results(conf, &filter, json, stdout);
    } else if (is_analysis_cmd(cmd)) {
        rc = run_analysis_cmd(cmd, conf, target_arg, json, wait_s);
    } else {
        rc = fail_usage("unknown command '%s'", cmd);
    }
    collconf_destroy(&conf);
    return rc;
}
