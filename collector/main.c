/*
 * vantage-collector — command-line entry: keygen, serve and the read-only
 * commands (docs/reference.md, "Command line"). Each command lives in its
 * module; this file only parses arguments, prints each command's help and
 * maps outcomes to exit statuses: 0 success / healthy (or no data yet),
 * 1 a problem was found (compare, diagnose, probe-now), 2 usage or runtime
 * error.
 */
#include <getopt.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "check.h"
#include "cli.h"
#include "collectors.h"
#include "findings.h"
#include "history.h"
#include "probenow.h"
#include "clock.h"
#include "collconf.h"
#include "enroll.h"
#include "enroll_line.h"
#include "log.h"
#include "migrate.h"
#include "serve.h"
#include "transport.h"
#include "version.h"

#define DEFAULT_CONFIG "/etc/vantage/collector.conf"

/* The options a command accepts besides --help (a bit set). */
enum {
    OPT_CONFIG = 1 << 0,
    OPT_JSON = 1 << 1,
    OPT_TARGET = 1 << 2,
    OPT_AGENT = 1 << 3,
    OPT_SINCE = 1 << 4,
    OPT_LIMIT = 1 << 5,
    OPT_WAIT = 1 << 6,
    OPT_OUT = 1 << 7,
    OPT_OPEN = 1 << 8,
    OPT_SITE = 1 << 9,
    OPT_EXPIRES = 1 << 10,
    OPT_ADDRESS = 1 << 11,
    /* history */
    OPT_NETWORK = 1 << 12,
    OPT_CHECK = 1 << 13,
    /* migrate-store */
    OPT_TO = 1 << 14,
    OPT_FROM = 1 << 15,
    OPT_BATCH = 1 << 16,
};

/* Whether a command takes a TARGET argument. */
enum target_arg { ARG_NONE, ARG_TARGET, ARG_TARGET_OPTIONAL, ARG_NAME };

#define EXIT_PLAIN "exit status: 0 success, 2 usage or runtime error\n"
#define EXIT_DIAGNOSIS                                                                             \
    "exit status: 0 healthy (status ok), or no agent has reported on the target yet\n"             \
    "             (status no_data); 1 a problem was found (status problem);\n"                     \
    "             2 usage or runtime error\n"
#define OPTION_CONFIG "  -c, --config FILE   collector.conf (default " DEFAULT_CONFIG ")\n"
#define OPTION_JSON_DIAGNOSIS                                                                      \
    "  --json              one JSON object per target (the diagnosis of docs/reference.md)\n"
#define OPTION_HELP "  -h, --help          this help\n"

/* One subcommand: its synopsis (after "vantage-collector "), what it
 * does, its options with their defaults, and its exit statuses. The help
 * text is checked against README.md by tests/integration/cli_help_sync.sh. */
struct command {
    const char *name;
    const char *brief; /* one line in the global help */
    const char *synopsis;
    const char *about;
    const char *options;
    const char *status;
    unsigned opts;
    enum target_arg arg;
};

static const struct command commands[] = {
    {"keygen", "write the collector's key pair", "keygen --out DIR",
     "Writes a new key pair: DIR/collector.key (secret, mode 0600) and DIR/collector.pub\n"
     "(its public key, one line: collector_public_key of every agent.conf). DIR must\n"
     "exist; an existing key is never overwritten.\n",
     "  --out DIR           the directory to write the keys to (required)\n" OPTION_HELP,
     EXIT_PLAIN, OPT_OUT, ARG_NONE},
    {"serve", "run the collector daemon (logs to stderr)", "[-c FILE] serve",
     "Runs the collector daemon in the foreground: receives the agents' results, stores\n"
     "them, pushes the targets to every agent. Logs to stderr. SIGHUP reloads the\n"
     "targets and authorized_keys; SIGTERM or SIGINT stop it.\n",
     OPTION_CONFIG OPTION_HELP,
     "exit status: 0 stopped by a signal, 2 usage error or could not start\n", OPT_CONFIG,
     ARG_NONE},
    {"agents", "agents: network, version, connected, last seen", "[-c FILE] agents [--json]",
     "Lists every agent that has reported: network, egress address, version, whether\n"
     "it is connected, when it was last seen, what its spool dropped, what was lost,\n"
     "and what the collector refused or changed of its input: duplicates (results\n"
     "received again), invalid results, results clamped to the collector's time\n"
     "(the agent's clock runs ahead) and refused messages. 'connected' means the agent's last "
     "message is less than 30 s old (agents\n"
     "send a heartbeat every 10 s) and a collector of the database is running (this\n"
     "one's control socket answers, or another has a heartbeat); when none runs, no\n"
     "agent is shown as connected.\n",
     OPTION_CONFIG "  --json              JSON Lines, one agent per line\n" OPTION_HELP, EXIT_PLAIN,
     OPT_CONFIG | OPT_JSON, ARG_NONE},
    {"results", "stored results, oldest first",
     "[-c FILE] results [--target T] [--agent A] [--since DUR] [--limit N] [--json]",
     "Prints stored results, oldest first.\n",
     OPTION_CONFIG
     "  --target T          only the results of target T (default: every target)\n"
     "  --agent A           only the results of agent A (default: every agent)\n"
     "  --since DUR         only results of the last DUR: 30m, 2h, 7d (default: all)\n"
     "  --limit N           only the N newest of those, still oldest first\n"
     "                      (default: no limit)\n"
     "  --json              JSON Lines, one result per line (the result model)\n" OPTION_HELP,
     EXIT_PLAIN, OPT_CONFIG | OPT_JSON | OPT_TARGET | OPT_AGENT | OPT_SINCE | OPT_LIMIT, ARG_NONE},
    {"compare", "vantage points (by network) x checks, then the findings",
     "[-c FILE] compare TARGET [--json]",
     "Shows what every vantage point sees of TARGET (a [target NAME] of collector.conf):\n"
     "one row per check, one column per agent, grouped by network; then the findings.\n",
     OPTION_CONFIG
     "  --json              one JSON object: the matrix and the findings\n" OPTION_HELP,
     EXIT_DIAGNOSIS, OPT_CONFIG | OPT_JSON, ARG_TARGET},
    {"diagnose", "what is wrong, since when, where, and what to do next",
     "[-c FILE] diagnose [TARGET] [--json]",
     "Says what is wrong with TARGET, since when, where, and what to do next; without\n"
     "TARGET, every configured target (the exit status is then the highest of them).\n",
     OPTION_CONFIG OPTION_JSON_DIAGNOSIS OPTION_HELP, EXIT_DIAGNOSIS, OPT_CONFIG | OPT_JSON,
     ARG_TARGET_OPTIONAL},
    {"timeline", "failures, recoveries and changes in time order",
     "[-c FILE] timeline TARGET [--json]",
     "Lists failures, recoveries and detected changes (DNS answers, certificates,\n"
     "addresses, agents' networks) of TARGET in time order.\n",
     OPTION_CONFIG "  --json              JSON Lines, one event per line\n" OPTION_HELP, EXIT_PLAIN,
     OPT_CONFIG | OPT_JSON, ARG_TARGET},
    {"probe-now", "every connected agent probes TARGET now, then compare",
     "[-c FILE] probe-now TARGET [--wait S] [--json]",
     "Asks every connected agent, through every collector running on the database\n"
     "(a request queued in the store), to probe TARGET now; shows which agents\n"
     "answered (on stderr), then the fresh comparison and findings, as compare does.\n",
     OPTION_CONFIG
     "  --wait S            wait at most S seconds for the agents, 1 to 3600\n"
     "                      (default 30)\n"
     "  --json              a {\"probe_now\": ...} line, then the compare object\n" OPTION_HELP,
     EXIT_DIAGNOSIS, OPT_CONFIG | OPT_JSON | OPT_WAIT, ARG_TARGET},
    {"findings", "findings opened, changed and resolved while serve ran",
     "[-c FILE] findings [--target T] [--open] [--since DUR] [--json]",
     "Prints the history of the findings that continuous diagnosis (serve, every\n"
     "evaluate_every) opened, changed and resolved, oldest first; with --open, the\n"
     "findings open now. A finding opens when it holds for two evaluations and\n"
     "resolves after two clean ones; its id stays the same throughout.\n",
     OPTION_CONFIG
     "  --target T          only the findings of target T (default: every target)\n"
     "  --open              only the findings open now\n"
     "  --since DUR         only events of the last DUR: 30m, 2h, 7d (default: all)\n"
     "  --json              JSON Lines: the finding object of diagnose --json with\n"
     "                      target, and event and at (or opened_at with --open)\n" OPTION_HELP,
     EXIT_PLAIN, OPT_CONFIG | OPT_JSON | OPT_TARGET | OPT_SINCE | OPT_OPEN, ARG_NONE},
    {"history", "hourly results and failures, kept beyond the raw results",
     "[-c FILE] history TARGET [--network N] [--check C] [--since DUR] [--json]",
     "Prints TARGET's hourly history, oldest hour first: per hour, network and check,\n"
     "how many results there were, how many failed, their mean and maximum time, and\n"
     "the hour's first failure. Hours are kept for rollup_retention (default a year),\n"
     "long after the raw results (retention, default 30 days); every result counts\n"
     "once in the hour it started, also when it arrived late.\n",
     OPTION_CONFIG
     "  --network N         only network N (default: every network)\n"
     "  --check C           only check C, e.g. imaps://mail.example.com (default: every\n"
     "                      check)\n"
     "  --since DUR         only hours of the last DUR: 30m, 2h, 7d (default: all)\n"
     "  --json              JSON Lines, one hour of one network and check per line\n" OPTION_HELP,
     EXIT_PLAIN, OPT_CONFIG | OPT_JSON | OPT_SINCE | OPT_NETWORK | OPT_CHECK, ARG_TARGET},
    {"check", "Nagios/Icinga plugin: one status line with perfdata", "[-c FILE] check TARGET",
     "Diagnoses TARGET and prints one line for Nagios or Icinga: VANTAGE OK, WARNING,\n"
     "CRITICAL or UNKNOWN, what is wrong, and performance data (problems, warnings,\n"
     "open_findings, agents, reporting, networks). --target T is the same as TARGET.\n",
     OPTION_CONFIG "  --target T          the target (instead of TARGET)\n" OPTION_HELP,
     "exit status: 0 OK (healthy), 1 WARNING (warnings only), 2 CRITICAL (a problem),\n"
     "             3 UNKNOWN (no data, unknown target, unreadable database, usage)\n",
     OPT_CONFIG | OPT_TARGET, ARG_TARGET_OPTIONAL},
    {"enroll", "print the one line that enrolls agent NAME",
     "[-c FILE] enroll NAME [--site S] [--expires DUR] [--address tcp://HOST:PORT]",
     "Prints one line to run on the agent's machine ('vantage-agent enroll ...'). It\n"
     "carries this collector's address and public key and a one-time secret; the\n"
     "collector keeps only the secret's SHA-256 (in 'enrollments' beside\n"
     "authorized_keys). When the agent runs it, the running collector adds the agent's\n"
     "new public key to authorized_keys as NAME. The line works once and expires; a\n"
     "new line for NAME replaces an unused older one.\n",
     OPTION_CONFIG
     "  --site S            the agent's site (network label) in its agent.conf\n"
     "  --expires DUR       the line expires after DUR: 30m, 2h, 7d (default 24h)\n"
     "  --address ADDR      tcp://HOST:PORT agents reach the collector at (default:\n"
     "                      listen, with this host's name for a wildcard address)\n" OPTION_HELP,
     EXIT_PLAIN, OPT_CONFIG | OPT_SITE | OPT_EXPIRES | OPT_ADDRESS, ARG_NAME},
    {"revoke", "refuse agent NAME from now on", "[-c FILE] revoke NAME",
     "Removes agent NAME's key from authorized_keys (and any pending enrollment of\n"
     "NAME), records it in 'revoked' beside authorized_keys, and tells the running\n"
     "collector, which refuses everything the agent sends from that moment, without a\n"
     "restart. Its stored results stay.\n",
     OPTION_CONFIG OPTION_HELP, EXIT_PLAIN, OPT_CONFIG, ARG_NAME},
    {"collectors", "collectors on this database: running, evaluating, same targets?",
     "[-c FILE] collectors [--json]",
     "Lists the collectors that run (or lately ran) on this collector.conf's database:\n"
     "host, pid, start, last heartbeat, version, connected agents, which one runs\n"
     "continuous diagnosis and notifications (one at a time, under a lease), and\n"
     "whether each one's target list is the one of this collector.conf. A collector\n"
     "without a heartbeat for 5 s is gone; its lease passes to another within 6 s.\n",
     OPTION_CONFIG "  --json              JSON Lines, one collector per line\n" OPTION_HELP,
     EXIT_PLAIN, OPT_CONFIG | OPT_JSON, ARG_NONE},
    {"migrate-store", "copy a whole store into another database (sqlite to PostgreSQL)",
     "[-c FILE] migrate-store --to DATABASE [--from DATABASE] [--batch N]",
     "Copies every agent, result, latest state, change, finding (with its events)\n"
     "and hourly aggregate of one store into another: sqlite into PostgreSQL, or\n"
     "back. DATABASE is written as the database key of collector.conf (a path, or\n"
     "postgresql://...). Stop the collector first: a running one is refused on both.\n"
     "The target must be empty or hold an earlier copy of the same source: an\n"
     "interrupted copy runs again from where it stopped, and a second run copies only\n"
     "what is new. Progress goes to stderr, one summary line to stdout; then point\n"
     "database at the target and start the collector. Queued notifications are not\n"
     "copied (their number is printed).\n",
     OPTION_CONFIG
     "  --to DATABASE       the database to copy into (required)\n"
     "  --from DATABASE     the database to copy (default: collector.conf's database)\n"
     "  --batch N           results per transaction of the target, 1 to 100000\n"
     "                      (default 5000)\n" OPTION_HELP,
     EXIT_PLAIN, OPT_CONFIG | OPT_TO | OPT_FROM | OPT_BATCH, ARG_NONE},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct command *command_find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void usage(FILE *out)
{
    fputs("usage: vantage-collector [-c FILE] COMMAND [OPTIONS]\n"
          "\n"
          "Stores what vantage-agents see of your mail service and compares them.\n"
          "\n"
          "commands:\n",
          out);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-13s %s\n", commands[i].name, commands[i].brief);
    fputs("\n"
          "'vantage-collector COMMAND --help' shows a command's usage, options and exit\n"
          "status.\n"
          "\n"
          "options:\n" OPTION_CONFIG "  -h, --help          this help\n"
          "  -V, --version       print the version\n"
          "\n"
          "exit status: 0 success or healthy, 1 a problem was found (compare, diagnose,\n"
          "probe-now), 2 usage or runtime error\n",
          out);
}

static void command_usage(const struct command *c, FILE *out)
{
    fprintf(out, "usage: vantage-collector %s\n\n%s\noptions:\n%s\n%s", c->synopsis, c->about,
            c->options, c->status);
}

/* Prints one line naming the problem, and where the options are listed. */
__attribute__((format(printf, 2, 3))) static int fail_usage(const struct command *c,
                                                            const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "vantage-collector: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (c != NULL)
        fprintf(stderr, "; see 'vantage-collector %s --help'\n", c->name);
    else
        fprintf(stderr, "; see 'vantage-collector --help'\n");
    return 2;
}

static int cmd_keygen(const char *out)
{
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

/* The option a getopt error is about: a short option's letter, or the
 * long option as written. */
static void bad_option_name(int ch, int argc, char **argv, char *buf, size_t len)
{
    /* For a long option without its value, glibc sets optopt to its val. */
    if (ch == '?' && optopt != 0)
        snprintf(buf, len, "-%c", optopt);
    else
        snprintf(buf, len, "%s", optind > 0 && optind <= argc ? argv[optind - 1] : "?");
}

static int run_command(const struct command *c, const char *config, const char *target, bool json,
                       const struct store_result_filter *filter, int wait_s, bool open_only,
                       const struct store_rollup_filter *hours)
{
    char err[1024];
    struct collconf *conf = collconf_load(config, err, sizeof(err));
    if (conf == NULL) {
        if (strcmp(c->name, "check") == 0) {
            printf("VANTAGE UNKNOWN - %s\n", err);
            return CHECK_UNKNOWN;
        }
        fprintf(stderr, "vantage-collector: %s\n", err);
        return 2;
    }
    int rc;
    if (strcmp(c->name, "history") == 0) {
        struct store_rollup_filter h = *hours;
        h.target = target;
        rc = history_list(conf, &h, json, stdout);
    } else if (strcmp(c->name, "findings") == 0) {
        rc = findings_list(conf, filter->target, open_only, filter->since_us, json, stdout);
    } else if (strcmp(c->name, "check") == 0) {
        rc = check_run(conf, target, stdout);
    } else if (strcmp(c->name, "serve") == 0) {
        enum log_level level = LOG_LEVEL_INFO;
        if (log_level_parse(conf->log_level, &level) < 0)
            fprintf(stderr, "vantage-collector: unknown log_level '%s', using info\n",
                    conf->log_level);
        struct log *log = log_create(stderr, "collector", level);
        rc = serve_run(&conf, log) < 0 ? 2 : 0;
        log_destroy(&log);
    } else if (strcmp(c->name, "agents") == 0) {
        rc = cli_agents(conf, json, stdout);
        if (!json && !conf->insecure_plaintext)
            enroll_print_state(conf, false, stdout);
    } else if (strcmp(c->name, "results") == 0) {
        rc = cli_results(conf, filter, json, stdout);
    } else if (strcmp(c->name, "diagnose") == 0) {
        rc = cli_diagnose(conf, target, json, stdout);
    } else if (strcmp(c->name, "compare") == 0) {
        rc = cli_compare(conf, target, json, stdout);
    } else if (strcmp(c->name, "probe-now") == 0) {
        rc = cli_probe_now(conf, target, wait_s, json, stdout);
    } else if (strcmp(c->name, "collectors") == 0) {
        rc = collectors_list(conf, json, stdout);
    } else {
        rc = cli_timeline(conf, target, json, stdout);
    }
    collconf_destroy(&conf);
    return rc;
}

struct enroll_opts {
    const char *site;
    const char *address;
    int64_t ttl_s;
};

/* Tells a running collector to re-read authorized_keys. 0 when it
 * answered, -1 when none runs (then it reads the file when it starts). */
static int tell_reload_keys(const struct collconf *conf)
{
    void *ctx = zmq_ctx_new();
    void *req = zmq_socket(ctx, ZMQ_REQ);
    int t = 2000, linger = 0, n = -1;
    zmq_setsockopt(req, ZMQ_RCVTIMEO, &t, sizeof(t));
    zmq_setsockopt(req, ZMQ_SNDTIMEO, &t, sizeof(t));
    zmq_setsockopt(req, ZMQ_LINGER, &linger, sizeof(linger));
    const char *msg = "{\"cmd\":\"reload-keys\"}";
    char buf[256];
    if (zmq_connect(req, conf->control) == 0 && zmq_send(req, msg, strlen(msg), 0) >= 0)
        n = zmq_recv(req, buf, sizeof(buf), 0);
    zmq_close(req);
    zmq_ctx_term(ctx);
    return n < 0 ? -1 : 0;
}

static int run_enroll_command(const struct command *c, const char *config, const char *name,
                              const struct enroll_opts *o)
{
    char err[1024];
    struct collconf *conf = collconf_load(config, err, sizeof(err));
    if (conf == NULL) {
        fprintf(stderr, "vantage-collector: %s\n", err);
        return 2;
    }
    int rc = 0;
    if (strcmp(c->name, "enroll") == 0) {
        char line[ENROLL_LINE_MAX + 64];
        if (enroll_create(conf, name, o->site, o->ttl_s, o->address, line, sizeof(line), err,
                          sizeof(err)) < 0) {
            fprintf(stderr, "vantage-collector: enroll: %s\n", err);
            rc = 2;
        } else {
            long long t = (long long)o->ttl_s;
            fprintf(stderr, "run this on the agent's machine (as root, once, within %lld%s):\n",
                    t % 3600 == 0 ? t / 3600 : t / 60, t % 3600 == 0 ? "h" : "m");
            printf("vantage-agent enroll %s\n", line);
            explicit_bzero(line, sizeof(line));
        }
    } else if (enroll_revoke(conf, name, err, sizeof(err)) < 0) {
        fprintf(stderr, "vantage-collector: revoke: %s\n", err);
        rc = 2;
    } else if (tell_reload_keys(conf) < 0) {
        printf("revoked %s; the collector is not running (no answer on %s): it refuses the agent "
               "when it starts\n",
               name, conf->control);
    } else {
        printf("revoked %s: the running collector refuses it from now on\n", name);
    }
    collconf_destroy(&conf);
    return rc;
}

/* migrate-store: --from defaults to collector.conf's database, so the
 * configuration is read only without it. */
static int run_migrate(const struct command *c, const char *config, struct migrate_opts *o)
{
    if (o->to == NULL)
        return fail_usage(c, "%s", "migrate-store needs --to DATABASE (the database to copy into)");
    if (o->from != NULL)
        return migrate_store(o);
    char err[1024];
    struct collconf *conf = collconf_load(config, err, sizeof(err));
    if (conf == NULL) {
        fprintf(stderr, "vantage-collector: %s (or give --from DATABASE)\n", err);
        return 2;
    }
    o->from = conf->database;
    int rc = migrate_store(o);
    collconf_destroy(&conf);
    return rc;
}

/* The command line; *check is true while the command is check and has
 * not run yet: its usage errors are UNKNOWN (3) for Nagios, not 2. */
static int run(int argc, char **argv, bool *check)
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
            char extra[64];
            snprintf(extra, sizeof(extra), "sqlite %s", sqlite3_libversion());
            version_print(stdout, "vantage-collector", extra);
            return 0;
        } else if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
                   i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
            return fail_usage(NULL, "%s needs a FILE (collector.conf)", argv[i]);
        } else {
            return fail_usage(NULL, "unknown option '%s' before the command", argv[i]);
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[i];
    if (strcmp(cmd, "help") == 0) {
        const struct command *h = i + 1 < argc ? command_find(argv[i + 1]) : NULL;
        if (h != NULL)
            command_usage(h, stdout);
        else
            usage(stdout);
        return 0;
    }
    const struct command *c = command_find(cmd);
    if (c == NULL)
        return fail_usage(NULL, "unknown command '%s'", cmd);
    *check = strcmp(c->name, "check") == 0;
    int cargc = argc - i;
    char **cargv = argv + i;

    bool json = false, open_only = false;
    const char *out_dir = NULL;
    int wait_s = PROBENOW_DEFAULT_WAIT_S;
    struct store_result_filter filter = {0};
    struct enroll_opts enroll_opts = {.ttl_s = ENROLL_DEFAULT_TTL_S};
    struct store_rollup_filter hours = {0}; /* history's --network, --check */
    struct migrate_opts migrate = {
        .batch = MIGRATE_BATCH_DEFAULT, .progress = stderr, .out = stdout};
    static const struct option all_opts[] = {{"config", required_argument, NULL, 'c'},
                                             {"json", no_argument, NULL, 'j'},
                                             {"target", required_argument, NULL, 't'},
                                             {"agent", required_argument, NULL, 'a'},
                                             {"since", required_argument, NULL, 's'},
                                             {"limit", required_argument, NULL, 'l'},
                                             {"wait", required_argument, NULL, 'w'},
                                             {"out", required_argument, NULL, 'o'},
                                             {"help", no_argument, NULL, 'h'},
                                             {"open", no_argument, NULL, 'O'},
                                             {"site", required_argument, NULL, 'S'},
                                             {"expires", required_argument, NULL, 'E'},
                                             {"address", required_argument, NULL, 'A'},
                                             {"network", required_argument, NULL, 'N'},
                                             {"check", required_argument, NULL, 'C'},
                                             {"to", required_argument, NULL, 'T'},
                                             {"from", required_argument, NULL, 'F'},
                                             {"batch", required_argument, NULL, 'B'},
                                             {NULL, 0, NULL, 0}};
    /* The bit of each entry of all_opts, in order (help: always). */
    static const unsigned opt_bits[] = {
        OPT_CONFIG,  OPT_JSON,    OPT_TARGET, OPT_AGENT, OPT_SINCE, OPT_LIMIT,
        OPT_WAIT,    OPT_OUT,     ~0u,        OPT_OPEN,  OPT_SITE,  OPT_EXPIRES,
        OPT_ADDRESS, OPT_NETWORK, OPT_CHECK,  OPT_TO,    OPT_FROM,  OPT_BATCH};
    int ch, idx;
    char name[64];
    optind = 1;
    opterr = 0; /* our own one-line messages instead of getopt's */
    while ((idx = -1, ch = getopt_long(cargc, cargv, ":c:h", all_opts, &idx)) != -1) {
        if (ch == '?') {
            bad_option_name(ch, cargc, cargv, name, sizeof(name));
            return fail_usage(c, "%s: unknown option '%s'", c->name, name);
        }
        if (ch == ':') {
            bad_option_name(ch, cargc, cargv, name, sizeof(name));
            return fail_usage(c, "%s: option '%s' needs a value", c->name, name);
        }
        if (ch == 'h') {
            command_usage(c, stdout);
            return 0;
        }
        unsigned bit = ch == 'c' ? OPT_CONFIG : idx >= 0 ? opt_bits[idx] : 0;
        if ((c->opts & bit) == 0) {
            snprintf(name, sizeof(name), "%s%s", ch == 'c' ? "-c" : "--",
                     ch == 'c' ? "" : all_opts[idx].name);
            return fail_usage(c, "%s does not take '%s'", c->name, name);
        }
        switch (ch) {
        case 'c':
            config = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'O':
            open_only = true;
            break;
        case 't':
            filter.target = optarg;
            break;
        case 'a':
            filter.agent = optarg;
            break;
        case 'o':
            out_dir = optarg;
            break;
        case 's': {
            int64_t us;
            if (clock_parse_duration(optarg, &us) < 0)
                return fail_usage(c, "--since '%s' is not a duration (e.g. 30m, 2h, 7d)", optarg);
            filter.since_us = clock_wall_us() - us;
            hours.since_us = filter.since_us;
            break;
        }
        case 'l': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end != '\0' || n < 1)
                return fail_usage(c, "--limit '%s' is not a positive number", optarg);
            filter.limit = (size_t)n;
            break;
        }
        case 'w': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end != '\0' || n < 1 || n > 3600)
                return fail_usage(c, "--wait '%s' must be 1 to 3600 seconds", optarg);
            wait_s = (int)n;
            break;
        }
        case 'S':
            enroll_opts.site = optarg;
            break;
        case 'N':
            hours.network = optarg;
            break;
        case 'C':
            hours.check = optarg;
            break;
        case 'A':
            enroll_opts.address = optarg;
            break;
        case 'T':
            migrate.to = optarg;
            break;
        case 'F':
            migrate.from = optarg;
            break;
        case 'B': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end != '\0' || n < 1 || n > MIGRATE_BATCH_MAX)
                return fail_usage(c, "--batch '%s' must be 1 to %d", optarg, MIGRATE_BATCH_MAX);
            migrate.batch = (size_t)n;
            break;
        }
        case 'E': {
            int64_t us;
            if (clock_parse_duration(optarg, &us) < 0 || us < 60000000LL ||
                us > 365LL * 86400 * 1000000)
                return fail_usage(c, "--expires '%s' must be a duration from 1m to 365d (e.g. 2h)",
                                  optarg);
            enroll_opts.ttl_s = us / 1000000;
            break;
        }
        default:
            return fail_usage(c, "%s: unknown option", c->name);
        }
    }
    const char *target = NULL;
    if (c->arg != ARG_NONE && optind < cargc)
        target = cargv[optind++];
    if (optind < cargc)
        return fail_usage(c, "%s: unexpected argument '%s'", c->name, cargv[optind]);
    if (*check && target == NULL)
        target = filter.target;
    if (*check && target == NULL)
        return fail_usage(c, "%s needs a TARGET (a [target NAME] of collector.conf)", c->name);
    if (c->arg == ARG_TARGET && target == NULL)
        return fail_usage(c, "%s needs a TARGET (a [target NAME] of collector.conf)", c->name);
    if (c->arg == ARG_NAME && target == NULL)
        return fail_usage(c, "%s needs the agent's NAME", c->name);
    if (c->arg == ARG_NAME)
        return run_enroll_command(c, config, target, &enroll_opts);
    if (strcmp(c->name, "keygen") == 0) {
        if (out_dir == NULL)
            return fail_usage(c, "%s", "keygen needs --out DIR");
        return cmd_keygen(out_dir);
    }
    if (strcmp(c->name, "migrate-store") == 0)
        return run_migrate(c, config, &migrate);
    int rc = run_command(c, config, target, json, &filter, wait_s, open_only, &hours);
    *check = false; /* the plugin's own status, 2 = CRITICAL included */
    return rc;
}

int main(int argc, char **argv)
{
    bool check = false;
    int rc = run(argc, argv, &check);
    if (check && rc == 2) {
        /* Nagios shows stdout's first line: say what happened there too. */
        printf("VANTAGE UNKNOWN - usage error (the reason is on stderr); see 'vantage-collector "
               "check --help'\n");
        return CHECK_UNKNOWN;
    }
    return rc;
}
