/*
 * vantage-agent — command-line entry: keygen, run and probe
 * (docs/reference.md, "Command line"). This file only parses arguments and maps outcomes to
 * exit statuses: 0 success, 1 a probe failed, 2 usage or runtime error.
 */
#include <ares.h>
#include <expat.h>
#include <getopt.h>
#include <sqlite3.h>
#include <uv.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "agentconf.h"
#include "conncheck.h"
#include "daemon.h"
#include "enrollment.h"
#include "log.h"
#if __has_include("probe_cli.h")
#include "probe_cli.h"
#else
static int probe_cli_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs("vantage-agent: probe is not built yet\n", stderr);
    return 2;
}
#endif
#include "enroll_line.h"
#include "transport.h"
#include "version.h"

#define DEFAULT_CONFIG "/etc/vantage/agent.conf"

static void usage(FILE *out)
{
    fputs("usage: vantage-agent COMMAND [OPTIONS]\n"
          "\n"
          "Probes your mail service the way a mail client does, from where you run it.\n"
          "\n"
          "commands:\n"
          "  keygen --out DIR       write DIR/agent.key (0600) and DIR/agent.pub\n"
          "  enroll LINE [--out DIR]\n"
          "                         join a collector with the line 'vantage-collector\n"
          "                         enroll' printed: keys, agent.conf, authorization\n"
          "  run [-c FILE]          run the agent daemon (default " DEFAULT_CONFIG ")\n"
          "  check-connection [-c FILE] [--timeout S]\n"
          "                         try the link to the collector once and say why it fails\n"
          "  probe [OPTIONS] SPEC...  probe now and print what was seen (see probe --help)\n"
          "\n"
          "'vantage-agent COMMAND --help' shows a command's usage, options and exit status.\n"
          "\n"
          "  -h, --help             this help\n"
          "  -V, --version          print the version\n"
          "\n"
          "exit status: 0 success, 1 a probe failed (check-connection: the connection\n"
          "failed), 2 usage or runtime error\n",
          out);
}

static int cmd_keygen(int argc, char **argv)
{
    const char *out = NULL;
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        if (ch == 'o') {
            out = optarg;
        } else if (ch == 'h') {
            puts("usage: vantage-agent keygen --out DIR\n"
                 "\n"
                 "Writes a new key pair: DIR/agent.key (secret, mode 0600) and DIR/agent.pub\n"
                 "(its public key, one line: with the agent's name, its line in the\n"
                 "collector's authorized_keys). DIR must exist; an existing key is never\n"
                 "overwritten.\n"
                 "\n"
                 "options:\n"
                 "  --out DIR           the directory to write the keys to (required)\n"
                 "  -h, --help          this help\n"
                 "\n"
                 "exit status: 0 success, 2 usage or runtime error");
            return 0;
        } else {
            fputs("Try 'vantage-agent keygen --help'.\n", stderr);
            return 2;
        }
    }
    if (out == NULL) {
        fputs("vantage-agent: keygen needs --out DIR\n", stderr);
        return 2;
    }
    char err[512];
    if (transport_keygen(out, "agent", err, sizeof(err)) < 0) {
        fprintf(stderr, "vantage-agent: %s\n", err);
        return 2;
    }
    printf("wrote %s/agent.key (secret, mode 0600) and %s/agent.pub\n"
           "on the collector, add this line to authorized_keys (then send it SIGHUP):\n"
           "  <the line of %s/agent.pub> AGENT-NAME\n",
           out, out, out);
    return 0;
}

/* What run and check-connection share once their options are parsed: no
 * operands, then agent.conf. NULL (and the reason on stderr) means exit 2. */
static struct agentconf *load_config(int argc, char **argv, const char *config)
{
    if (optind < argc) {
        fprintf(stderr, "vantage-agent: unexpected argument '%s'\n", argv[optind]);
        return NULL;
    }
    char err[1024];
    struct agentconf *conf = agentconf_load(config, err, sizeof(err));
    if (conf == NULL)
        fprintf(stderr, "vantage-agent: %s\n", err);
    return conf;
}

static int cmd_run(int argc, char **argv)
{
    const char *config = DEFAULT_CONFIG;
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        if (ch == 'c') {
            config = optarg;
        } else if (ch == 'h') {
            puts("usage: vantage-agent run [-c agent.conf]\n"
                 "\n"
                 "Runs the agent daemon in the foreground and logs to stderr: probes the\n"
                 "targets the collector sends, spools the results and ships them. SIGHUP\n"
                 "reads agent.conf again (an invalid file is logged and ignored); SIGTERM or\n"
                 "SIGINT stop it. Under systemd (Type=notify) it reports readiness.\n"
                 "\n"
                 "options:\n"
                 "  -c, --config FILE   agent.conf (default " DEFAULT_CONFIG ")\n"
                 "  -h, --help          this help\n"
                 "\n"
                 "exit status: 0 stopped by a signal, 2 usage error or could not start");
            return 0;
        } else {
            fputs("Try 'vantage-agent run --help'.\n", stderr);
            return 2;
        }
    }
    struct agentconf *conf = load_config(argc, argv, config);
    if (conf == NULL)
        return 2;
    int rc;
    for (;;) {
        enum log_level level = LOG_LEVEL_INFO;
        if (log_level_parse(conf->log_level, &level) < 0)
            fprintf(stderr, "vantage-agent: unknown log_level '%s', using info\n", conf->log_level);
        struct log *log = log_create(stderr, conf->name, level);
        rc = daemon_run(conf, log);
        log_destroy(&log);
        if (rc != DAEMON_RELOAD)
            break;
        /* daemon_run checked the file; it may have changed since. */
        char err[1024];
        struct agentconf *fresh = agentconf_load(config, err, sizeof(err));
        if (fresh == NULL)
            fprintf(stderr, "vantage-agent: reload: %s; going on with the old configuration\n",
                    err);
        else {
            agentconf_destroy(&conf);
            conf = fresh;
        }
    }
    agentconf_destroy(&conf);
    return rc < 0 ? 2 : 0;
}

static void check_connection_usage(FILE *out)
{
    fprintf(out,
            "usage: vantage-agent check-connection [-c agent.conf] [--timeout S]\n"
            "\n"
            "Connects to the collector once, as 'run' would (CURVE handshake, then a hello\n"
            "that the collector answers without recording anything), and says whether the\n"
            "link works and, if not, the likely cause: nothing answers at the address, the\n"
            "handshake fails (collector_public_key is not the line of that collector's\n"
            "collector.pub), or the collector refuses this agent's key (not in its\n"
            "authorized_keys). With several collector = lines it tries them all at once\n"
            "and says which answer.\n"
            "\n"
            "  -c, --config FILE   agent configuration (default " DEFAULT_CONFIG ")\n"
            "  --timeout S         give up after S seconds (default %d)\n"
            "  -h, --help          this help\n"
            "\n"
            "exit status: 0 connected and accepted (by every collector), 1 a connection\n"
            "failed, 2 usage or configuration error\n",
            CONNCHECK_DEFAULT_TIMEOUT_S);
}

static int cmd_check_connection(int argc, char **argv)
{
    const char *config = DEFAULT_CONFIG;
    int timeout_s = CONNCHECK_DEFAULT_TIMEOUT_S;
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        if (ch == 'c') {
            config = optarg;
        } else if (ch == 't') {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < 1 || v > 3600) {
                fprintf(stderr,
                        "vantage-agent: --timeout '%s': give whole seconds from 1 to 3600\n",
                        optarg);
                return 2;
            }
            timeout_s = (int)v;
        } else if (ch == 'h') {
            check_connection_usage(stdout);
            return 0;
        } else {
            fputs("Try 'vantage-agent check-connection --help'.\n", stderr);
            return 2;
        }
    }
    struct agentconf *conf = load_config(argc, argv, config);
    if (conf == NULL)
        return 2;
    enum conncheck_status st = conncheck_run(conf, timeout_s * 1000, stdout, stderr);
    agentconf_destroy(&conf);
    return (int)st;
}

static int cmd_enroll(int argc, char **argv)
{
    struct enrollment_opts o = {.dir = ENROLLMENT_DEFAULT_DIR,
                                .timeout_s = ENROLLMENT_DEFAULT_TIMEOUT_S};
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"spool", required_argument, NULL, 's'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        if (ch == 'o') {
            o.dir = optarg;
        } else if (ch == 's') {
            o.spool = optarg;
        } else if (ch == 't') {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < 1 || v > 3600) {
                fprintf(stderr,
                        "vantage-agent: --timeout '%s': give whole seconds from 1 to 3600\n",
                        optarg);
                return 2;
            }
            o.timeout_s = (int)v;
        } else if (ch == 'h') {
            printf("usage: vantage-agent enroll LINE [--out DIR] [--spool FILE] [--timeout S]\n"
                   "\n"
                   "Joins the collector with the line 'vantage-collector enroll NAME' printed\n"
                   "(LINE starts with vantage1:). Makes this agent's key pair here (the secret\n"
                   "key never leaves this machine), sends the line's one-time secret to the\n"
                   "collector over CURVE, and once the collector has authorized the key writes\n"
                   "DIR/agent.key (0600), DIR/agent.pub and DIR/agent.conf. A refused, expired\n"
                   "or unanswered line writes nothing. Run as root, the files are given to the\n"
                   "'vantage' user when it exists.\n"
                   "\n"
                   "options:\n"
                   "  --out DIR           where the files go (default " ENROLLMENT_DEFAULT_DIR ")\n"
                   "  --spool FILE        spool = in agent.conf (default " AGENTCONF_DEFAULT_SPOOL
                   ")\n"
                   "  --timeout S         wait at most S seconds for the collector (default %d)\n"
                   "  -h, --help          this help\n"
                   "\n"
                   "exit status: 0 enrolled, 1 the collector refused or did not answer, 2 usage\n"
                   "error, a damaged or expired line, or a local error\n",
                   ENROLLMENT_DEFAULT_TIMEOUT_S);
            return 0;
        } else {
            fputs("Try 'vantage-agent enroll --help'.\n", stderr);
            return 2;
        }
    }
    /* The line may be pasted whole: "vantage-agent enroll vantage1:...". */
    while (optind < argc && strncmp(argv[optind], ENROLL_LINE_PREFIX, 9) != 0 &&
           (strcmp(argv[optind], "vantage-agent") == 0 || strcmp(argv[optind], "enroll") == 0))
        optind++;
    if (optind >= argc) {
        fputs("vantage-agent: enroll needs the LINE that 'vantage-collector enroll NAME' "
              "printed\nTry 'vantage-agent enroll --help'.\n",
              stderr);
        return 2;
    }
    if (optind + 1 < argc) {
        fprintf(stderr, "vantage-agent: enroll: unexpected argument '%s'\n", argv[optind + 1]);
        return 2;
    }
    o.line = argv[optind];
    return enrollment_run(&o, stdout, stderr);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
        char extra[256];
        snprintf(extra, sizeof(extra), "libuv %s, c-ares %s, sqlite %s, %s", uv_version_string(),
                 ares_version(NULL), sqlite3_libversion(), XML_ExpatVersion());
        version_print(stdout, "vantage-agent", extra);
        return 0;
    }
    /* Each command sees argv[0] = its own name, as getopt expects. */
    if (strcmp(cmd, "keygen") == 0)
        return cmd_keygen(argc - 1, argv + 1);
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "enroll") == 0)
        return cmd_enroll(argc - 1, argv + 1);
    if (strcmp(cmd, "check-connection") == 0)
        return cmd_check_connection(argc - 1, argv + 1);
    if (strcmp(cmd, "probe") == 0)
        return probe_cli_main(argc - 1, argv + 1);
    fprintf(stderr, "vantage-agent: unknown command '%s'\nTry 'vantage-agent --help'.\n", cmd);
    return 2;
}
