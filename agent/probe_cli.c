/*
 * probe_cli — "vantage-agent probe" (see probe_cli.h).
 */
#include "probe_cli.h"
#include "probe_nagios.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#include "clock.h"
#include "discover.h"
#include "probe.h"
#include "result.h"
#include "spec.h"

#define EXIT_ALL_OK       0
#define EXIT_CHECK_FAILED 1
#define EXIT_USAGE        2

/* Passwords of mail accounts are far shorter; the bound keeps a wrong file
 * (a key, a log) from being sent as a password. */
#define PASSWORD_MAX 1024
/* Enough for a long load test; larger runs are better split. */
#define REPEAT_MAX 1000000
/* Each probe in flight holds up to two sockets; more than this exceeds
 * what one process may open on a default system. */
#define CONCURRENCY_MAX 4096
/* Failures listed one per line in a --repeat report before the rest are
 * only counted: a load test with thousands of failures needs the summary,
 * not the list. */
#define REPEAT_FAILURES_SHOWN 20
#define ERR_MAX               512
#define US_PER_MS             1000.0

struct job {
    const char *spec;
    bool discovered;
};

struct cli {
    /* options */
    bool json;
    bool trace;
    struct probe_nagios *nagios;             /* --nagios: a plugin line, not a report */
    uint64_t nagios_warn_us, nagios_crit_us; /* -w, -c */
    bool nagios_on;
    bool nagios_done; /* the plugin line is out: its status is the exit status */
    bool load;        /* --repeat or --concurrency given: print the summary */
    uint64_t timeout_us;
    const char *ca_file;
    const char *resolver;
    const char *domain;
    const char *agent_name;
    const char *rdap_bootstrap; /* --rdap-bootstrap (issue 10) */
    const char *user;
    const char *password_file;
    char *password;
    unsigned long repeat;
    unsigned long concurrency;
    const char **specs;
    size_t nspecs;

    /* run */
    uv_loop_t loop;
    struct probe_engine *engine;
    struct job *jobs;
    size_t njobs;
    size_t next_job;
    unsigned long round; /* repeat round of next_job */
    size_t jobs_per_round;
    unsigned in_flight;
    bool keep_results; /* --domain step 1: the DNS results feed discovery */
    struct result *kept;
    size_t nkept;

    /* outcome */
    uint64_t *latencies; /* phases_us.total of each result */
    size_t nresults;
    size_t nfailed;
    size_t nunpublished; /* optional records the domain leaves out: not failures */
    size_t failures_shown;
    bool runtime_error;
    struct discover_list discovered; /* owns the specs of step 2 */
    struct discover_list dnschecks;  /* owns the specs of step 1 */
};

static void usage(FILE *f)
{
    fputs("usage: vantage-agent probe [--json] [--timeout S] [--ca-file F]\n"
          "                           [--resolver IP[:PORT]] [--domain D]\n"
          "                           [--user U --password-file F] [--agent-name N]\n"
          "                           [--rdap-bootstrap FILE|URL]\n"
          "                           [--repeat N] [--concurrency C] [--trace] SPEC...\n"
          "\n"
          "Probes each SPEC like a mail client would and reports every phase.\n"
          "\n"
          "SPEC: imaps://host[:port]  imap://host[:port]  pop3s://host[:port]\n"
          "      pop3://host[:port]  smtps://host[:port]  submission://host[:port]\n"
          "      smtp://host[:port]  https://host[:port]/path  tls://host:port\n"
          "      tcp://host:port  dns://NAME/TYPE (A, AAAA, MX, SRV, CNAME, TXT)\n"
          "      mailflow://ADDRESS?via=submission://host[:port]&read=imaps://host[:port]\n"
          "        (sends a marked test message to ADDRESS and waits for it in the mailbox;\n"
          "        via: submission, smtps, smtp; read: imaps, imap, pop3s, pop3;\n"
          "        needs --user and --password-file; default timeout 120s)\n"
          "      rdap://DOMAIN  autoconfig://DOMAIN[?mailbox=ADDR]\n"
          "\n"
          "  --json               one JSON object per result (JSON Lines)\n"
          "  --timeout S          deadline per probe: 10s, 500ms, 2 (seconds); default 10s\n"
          "  --ca-file F          trust anchors (PEM) instead of the system store\n"
          "  --resolver IP[:PORT] DNS server instead of /etc/resolv.conf\n"
          "  --domain D           also check D's MX, SRV and autodiscover records and\n"
          "                       the servers they name\n"
          "  --user U             log in as U (with --password-file)\n"
          "  --password-file F    file whose first line is the password\n"
          "  --agent-name N       name that marks mailflow test messages (default: the\n"
          "                       host's name); only messages with this name are deleted\n"
          "  --rdap-bootstrap F   RDAP bootstrap registry (RFC 9224) for rdap://: a file\n"
          "                       or an http(s) URL; default " PROBE_RDAP_BOOTSTRAP_DEFAULT "\n"
          "  --repeat N           run each SPEC N times (load tests); prints a summary\n"
          "                       (default 1)\n"
          "  --concurrency C      at most C probes in flight (default: all SPECs)\n"
          "  --trace              log each probe's state changes to stderr\n"
          "  --nagios             Nagios/Icinga plugin: one status line with perfdata;\n"
          "                       exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN\n"
          "  -w, --warning S      with --nagios: WARNING when a check takes longer\n"
          "  -c, --critical S     with --nagios: CRITICAL when a check takes longer\n"
          "  --help               this text\n"
          "\n"
          "Exit status: 0 all checks ok (an optional record the domain does not publish,\n"
          "such as an SRV or AAAA, is not a failure), 1 a check failed, 2 usage or\n"
          "runtime error.\n",
          f);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("vantage-agent probe: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nRun 'vantage-agent probe --help' for the options.\n", stderr);
    return EXIT_USAGE;
}

static int parse_count(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (*s == '\0' || *s == '-' || *end != '\0' || errno != 0 || v == 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Reads the first line of path into a malloc'ed string. */
static char *read_password(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char buf[PASSWORD_MAX + 2];
    if (f == NULL) {
        snprintf(err, errlen, "cannot read the password file %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    size_t len = strlen(buf);
    char *pw = NULL;
    if (len == 0)
        snprintf(err, errlen, "the password file %s is empty: put the password on its first line",
                 path);
    else if (len > PASSWORD_MAX)
        snprintf(err, errlen, "the password file %s has a first line longer than %d bytes", path,
                 PASSWORD_MAX);
    else if ((pw = strdup(buf)) == NULL)
        snprintf(err, errlen, "out of memory");
    explicit_bzero(buf, sizeof(buf));
    return pw;
}

/* Parses argv; returns -1 when the run may go on, else an exit status. */
static int parse_args(struct cli *c, int argc, char **argv)
{
    c->repeat = 1;
    c->specs = calloc((size_t)argc + 1, sizeof(*c->specs));
    if (c->specs == NULL)
        return usage_error("%s", "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        char name[32];
        if (strcmp(a, "-w") == 0 || strcmp(a, "-c") == 0) {
            /* The plugin convention's short thresholds. */
            a = a[1] == 'w' ? "--warning" : "--critical";
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (a[0] == '-' && a[1] != '\0' && strcmp(a, "--") != 0)
                return usage_error("unknown option %s", a);
            if (strcmp(a, "--") == 0) {
                for (i++; i < argc; i++)
                    c->specs[c->nspecs++] = argv[i];
                break;
            }
            c->specs[c->nspecs++] = a;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        if (nl >= sizeof(name))
            return usage_error("unknown option %s", a);
        memcpy(name, a, nl);
        name[nl] = '\0';
        if (strcmp(name, "--help") == 0) {
            usage(stdout);
            return EXIT_ALL_OK;
        }
        if (strcmp(name, "--json") == 0) {
            c->json = true;
            continue;
        }
        if (strcmp(name, "--trace") == 0) {
            c->trace = true;
            continue;
        }
        if (strcmp(name, "--nagios") == 0) {
            c->nagios_on = true;
            continue;
        }
        static const char *const with_value[] = {
            "--timeout",    "--ca-file",        "--resolver",    "--domain",
            "--user",       "--repeat",         "--concurrency", "--password-file",
            "--agent-name", "--rdap-bootstrap", "--warning",     "--critical",
        };
        bool known = false;
        for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
            known = known || strcmp(name, with_value[k]) == 0;
        if (!known)
            return usage_error("unknown option %s", name);
        if (eq != NULL)
            val = eq + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        else
            return usage_error("%s needs a value", name);
        if (strcmp(name, "--timeout") == 0) {
            int64_t us;
            if (clock_parse_duration(val, &us) < 0 || us <= 0)
                return usage_error("--timeout %s is not a duration: use e.g. 10s, 500ms or 2", val);
            c->timeout_us = (uint64_t)us;
        } else if (strcmp(name, "--ca-file") == 0) {
            c->ca_file = val;
        } else if (strcmp(name, "--resolver") == 0) {
            c->resolver = val;
        } else if (strcmp(name, "--domain") == 0) {
            c->domain = val;
        } else if (strcmp(name, "--rdap-bootstrap") == 0) {
            c->rdap_bootstrap = val;
        } else if (strcmp(name, "--user") == 0) {
            c->user = val;
        } else if (strcmp(name, "--agent-name") == 0) {
            c->agent_name = val;
        } else if (strcmp(name, "--password-file") == 0) {
            c->password_file = val;
        } else if (strcmp(name, "--repeat") == 0) {
            if (parse_count(val, REPEAT_MAX, &c->repeat) < 0)
                return usage_error("--repeat %s: give a count from 1 to 1000000", val);
            c->load = true;
        } else if (strcmp(name, "--warning") == 0 || strcmp(name, "--critical") == 0) {
            int64_t us;
            if (clock_parse_duration(val, &us) < 0 || us <= 0)
                return usage_error("%s %s is not a duration: use e.g. 2s, 500ms or 2", name, val);
            *(name[2] == 'w' ? &c->nagios_warn_us : &c->nagios_crit_us) = (uint64_t)us;
        } else if (strcmp(name, "--concurrency") == 0) {
            if (parse_count(val, CONCURRENCY_MAX, &c->concurrency) < 0)
                return usage_error("--concurrency %s: give a count from 1 to 4096", val);
            c->load = true;
        }
    }
    if (c->nspecs == 0 && c->domain == NULL)
        return usage_error("%s", "no SPEC given: name at least one check, e.g. "
                                 "imaps://mail.example.com, or --domain");
    if ((c->user == NULL) != (c->password_file == NULL))
        return usage_error("%s", "--user and --password-file go together");
    char err[ERR_MAX];
    for (size_t i = 0; i < c->nspecs; i++) {
        struct spec s;
        if (spec_parse(c->specs[i], &s, err, sizeof(err)) < 0)
            return usage_error("%s", err);
        /* A one-shot probe has no target whose submission and reading
         * checks it could borrow. */
        if (s.kind == SPEC_MAILFLOW && (s.via[0] == '\0' || s.read[0] == '\0'))
            return usage_error("%s: name the servers: mailflow://%s?via=submission://HOST&read="
                               "imaps://HOST",
                               c->specs[i], s.mailbox);
        if (s.kind == SPEC_MAILFLOW && c->user == NULL)
            return usage_error("%s: mailflow reads the mailbox: give --user and --password-file",
                               c->specs[i]);
    }
    if (c->agent_name != NULL) {
        bool ok = c->agent_name[0] != '\0' && strlen(c->agent_name) <= 64;
        for (const char *p = c->agent_name; ok && *p; p++)
            ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '-' || *p == '_' || *p == '.';
        if (!ok)
            return usage_error("--agent-name %s: use 1 to 64 letters, digits, '-', '_' or '.'",
                               c->agent_name);
    }
    if (c->domain != NULL) {
        struct spec s;
        char text[SPEC_TEXT_MAX + 1];
        snprintf(text, sizeof(text), "dns://%s/MX", c->domain);
        if (strlen(c->domain) > SPEC_HOST_MAX || spec_parse(text, &s, err, sizeof(err)) < 0)
            return usage_error("--domain %s is not a domain name", c->domain);
    }
    if (c->password_file != NULL) {
        c->password = read_password(c->password_file, err, sizeof(err));
        if (c->password == NULL)
            return usage_error("%s", err);
    }
    return -1;
}

/* ---- report -------------------------------------------------------------- */

static void print_ms(FILE *f, const char *name, uint64_t us)
{
    fprintf(f, " %s %.1f ms", name, (double)us / US_PER_MS);
}

/* ---- registration and autoconfig (issue 10) ---- */

/* What whois would say: registrar, expiry, status, name servers. */
static void print_registration(FILE *f, const struct result_registration *g)
{
    fprintf(f, "  domain    %s\n", g->domain ? g->domain : "?");
    fprintf(f, "  registrar %s\n", g->registrar ? g->registrar : "(not named)");
    if (g->expires != 0) {
        char when[40];
        clock_format_iso_us(g->expires * 1000000, false, when, sizeof(when));
        if (g->days_left >= 0)
            fprintf(f, "  expires   %s (%" PRId32 " days left)\n", when, g->days_left);
        else
            fprintf(f, "  expires   %s (EXPIRED %" PRId32 " days ago)\n", when, -g->days_left);
    } else {
        fputs("  expires   (the registry does not say)\n", f);
    }
    fputs("  status   ", f);
    for (size_t i = 0; i < g->nstatus; i++)
        fprintf(f, "%s %s", i ? "," : "", g->status[i]);
    fputs(g->nstatus == 0 ? " (none)\n" : "\n", f);
    fputs("  nservers ", f);
    for (size_t i = 0; i < g->nnameservers; i++)
        fprintf(f, "%s %s", i ? "," : "", g->nameservers[i]);
    fputs(g->nnameservers == 0 ? " (none)\n" : "\n", f);
    if (g->rdap_url != NULL)
        fprintf(f, "  rdap      %s\n", g->rdap_url);
}

/* What a browser would show: every source asked, its answer, its servers. */
static void print_autoconfig(FILE *f, const struct result *r)
{
    for (size_t i = 0; i < r->nautoconfig; i++) {
        const struct result_autoconfig *a = &r->autoconfig[i];
        fprintf(f, "  source    %s %s\n", a->source ? a->source : "?", a->url ? a->url : "");
        fprintf(f, "            answered: %s\n", a->answer ? a->answer : "(nothing)");
        for (size_t k = 0; k < a->nservers; k++)
            fprintf(f, "            server %s %s:%u %s\n", a->servers[k].protocol,
                    a->servers[k].host, a->servers[k].port, a->servers[k].socket);
    }
}

/* ---- end registration and autoconfig ---- */

static void print_result(FILE *f, const struct result *r)
{
    /* Read as compare reads it: an optional record the domain does not
     * publish is no failure (discover_not_published). */
    bool unpublished = discover_not_published(r->check, r->ok, r->error);
    fprintf(f, "%s%s  %s", r->check ? r->check : "?", r->discovered ? " (discovered)" : "",
            r->ok         ? "OK"
            : unpublished ? "none published"
                          : "FAIL");
    if (!r->ok)
        fprintf(f, "  %s / %s", result_layer_name(r->layer), result_error_name(r->error));
    fputc('\n', f);
    if (r->address != NULL) {
        fprintf(f, "  address   %s", r->address);
        if (r->port != 0)
            fprintf(f, " port %u", r->port);
        fputc('\n', f);
    }
    fputs("  phases   ", f);
    for (int i = 0; i < RESULT_PHASE_LAST; i++)
        if (r->phases_us[i] != 0 && i != RESULT_PHASE_TOTAL)
            print_ms(f, result_phase_name(i), r->phases_us[i]);
    print_ms(f, result_phase_name(RESULT_PHASE_TOTAL), r->phases_us[RESULT_PHASE_TOTAL]);
    fputc('\n', f);
    if (r->delivery != NULL) {
        const struct result_delivery *d = r->delivery;
        char when[40];
        fprintf(f, "  message   %s\n", d->message_id ? d->message_id : "?");
        if (d->submitted_at_us != 0) {
            clock_format_iso_us(d->submitted_at_us, true, when, sizeof(when));
            fprintf(f, "  submitted %s\n", when);
        }
        if (d->arrived_at_us != 0) {
            clock_format_iso_us(d->arrived_at_us, true, when, sizeof(when));
            fprintf(f, "  arrived   %s in %s after %.1f ms\n", when, d->folder ? d->folder : "?",
                    (double)d->delivery_us / US_PER_MS);
        } else if (d->folder != NULL) {
            fprintf(f, "  arrived   in %s (found there after the wait; time unknown)\n", d->folder);
        } else {
            fputs("  arrived   never seen\n", f);
        }
    }
    if (r->tls != NULL) {
        const struct result_tls *t = r->tls;
        fprintf(f, "  tls       %s %s\n", t->version ? t->version : "?",
                t->cipher ? t->cipher : "");
        if (t->subject != NULL)
            fprintf(f, "            subject %s\n", t->subject);
        if (t->issuer != NULL)
            fprintf(f, "            issuer  %s\n", t->issuer);
        if (t->nsans > 0) {
            fputs("            names  ", f);
            for (size_t i = 0; i < t->nsans; i++)
                fprintf(f, "%s %s", i ? "," : "", t->sans[i]);
            fputc('\n', f);
        }
        if (t->not_after != 0) {
            char when[40];
            clock_format_iso_us(t->not_after * 1000000, false, when, sizeof(when));
            fprintf(f, "            expires %s (%" PRId32 " days left)\n", when, t->days_left);
        }
        if (t->sha256 != NULL)
            fprintf(f, "            sha256  %s\n", t->sha256);
        if (t->verify != NULL)
            fprintf(f, "            verify  %s\n", t->verify);
    }
    if (r->banner != NULL)
        fprintf(f, "  banner    %s\n", r->banner);
    if (r->registration != NULL)
        print_registration(f, r->registration);
    print_autoconfig(f, r);
    if (r->retry_at_us != 0) {
        char when[40];
        clock_format_iso_us(r->retry_at_us, false, when, sizeof(when));
        fprintf(f, "  retry at  %s (the server asked not to be asked before)\n", when);
    }
    for (size_t i = 0; i < r->ndns; i++) {
        const struct result_dns *d = &r->dns[i];
        fprintf(f, "  dns       %s %s %s", d->name ? d->name : "?", d->type ? d->type : "?",
                d->rcode ? d->rcode : "(no answer)");
        for (size_t k = 0; k < d->nanswers; k++)
            fprintf(f, "%s %s", k ? "," : "", d->answers[k]);
        if (d->rcode != NULL)
            fprintf(f, " (ttl %" PRIu32 ")", d->ttl);
        if (d->resolver != NULL)
            fprintf(f, " via %s", d->resolver);
        fputc('\n', f);
    }
    if (unpublished) {
        fprintf(f, "  note      the domain does not publish this optional record; mail clients "
                   "do without it\n");
    } else if (!r->ok) {
        fprintf(f, "  error     %s%s%s\n", result_error_name(r->error),
                r->detail && r->detail[0] ? ": " : "", r->detail ? r->detail : "");
        fprintf(f, "  hint      %s\n", result_error_hint(r->error));
    } else if (r->detail != NULL && r->detail[0] != '\0') {
        /* What a passing check still has to say: where a web page
         * redirects, which server answered. */
        fprintf(f, "  detail    %s\n", r->detail);
    }
    fputc('\n', f);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v. */
static uint64_t percentile(const uint64_t *v, size_t n, unsigned pct)
{
    size_t rank = (n * pct + 99) / 100;
    return v[rank > 0 ? rank - 1 : 0];
}

static void print_summary(FILE *f, struct cli *c, uint64_t elapsed_us)
{
    if (c->nresults == 0)
        return;
    qsort(c->latencies, c->nresults, sizeof(*c->latencies), cmp_u64);
    double secs = (double)elapsed_us / 1e6;
    char unpublished[48] = "";
    if (c->nunpublished > 0)
        snprintf(unpublished, sizeof(unpublished), ", none published %zu", c->nunpublished);
    fprintf(f,
            "summary: probes %zu, ok %zu, failed %zu%s, %.1f/s, latency median %.1f ms, "
            "p90 %.1f ms, p99 %.1f ms\n",
            c->nresults, c->nresults - c->nfailed - c->nunpublished, c->nfailed, unpublished,
            secs > 0 ? (double)c->nresults / secs : 0.0,
            (double)percentile(c->latencies, c->nresults, 50) / US_PER_MS,
            (double)percentile(c->latencies, c->nresults, 90) / US_PER_MS,
            (double)percentile(c->latencies, c->nresults, 99) / US_PER_MS);
}

/* ---- running ------------------------------------------------------------- */

static void launch(struct cli *c);

static void on_done(struct result *r, void *arg)
{
    struct cli *c = arg;
    c->in_flight--;
    c->latencies[c->nresults++] = r->phases_us[RESULT_PHASE_TOTAL];
    bool unpublished = discover_not_published(r->check, r->ok, r->error);
    if (unpublished)
        c->nunpublished++;
    else if (!r->ok)
        c->nfailed++;
    if (c->nagios != NULL) {
        probe_nagios_add(c->nagios, r);
    } else if (c->json) {
        char *line = result_json(r);
        if (line != NULL) {
            puts(line);
            free(line);
        } else {
            fputs("vantage-agent probe: out of memory printing a result\n", stderr);
            c->runtime_error = true;
        }
    } else if (c->repeat == 1) {
        print_result(stdout, r);
    } else if (!r->ok && !unpublished && c->failures_shown < REPEAT_FAILURES_SHOWN) {
        c->failures_shown++;
        printf("FAIL %s  %s / %s: %s\n", r->check, result_layer_name(r->layer),
               result_error_name(r->error), r->detail ? r->detail : "");
    }
    fflush(stdout);
    if (c->keep_results) {
        c->kept[c->nkept++] = *r; /* takes ownership */
    } else {
        result_clear(r);
    }
    launch(c);
}

static void launch(struct cli *c)
{
    char err[ERR_MAX];
    while (c->in_flight < c->concurrency && c->round < c->repeat) {
        const struct job *j = &c->jobs[c->next_job];
        struct probe_params pp = {
            .check = j->spec,
            .discovered = j->discovered,
            .timeout_us = c->timeout_us,
            .user = c->user,
            .password = c->password,
        };
        if (++c->next_job == c->njobs) {
            c->next_job = 0;
            c->round++;
        }
        if (probe_engine_start(c->engine, &pp, on_done, c, err, sizeof(err)) < 0) {
            fprintf(stderr, "vantage-agent probe: %s\n", err);
            c->runtime_error = true;
            continue;
        }
        c->in_flight++;
    }
}

/* Runs jobs[0..n) repeat times until all are done. */
static int run_jobs(struct cli *c, struct job *jobs, size_t n, unsigned long repeat)
{
    c->jobs = jobs;
    c->njobs = n;
    c->next_job = 0;
    c->round = 0;
    c->repeat = repeat;
    if (n == 0)
        return 0;
    size_t total = n * repeat;
    uint64_t *grown = realloc(c->latencies, (c->nresults + total) * sizeof(*grown));
    if (grown == NULL)
        return -1;
    c->latencies = grown;
    if (c->keep_results) {
        c->kept = calloc(total, sizeof(*c->kept));
        if (c->kept == NULL)
            return -1;
        c->nkept = 0;
    }
    launch(c);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    return 0;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    /* Many probes in flight need many sockets; the hard limit is ours. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int run(struct cli *c)
{
    char err[ERR_MAX];
    struct probe_engine_opts opts = {
        .ca_file = c->ca_file,
        .resolver = c->resolver,
        .trace = c->trace,
        .agent_name = c->agent_name,
        .rdap_bootstrap = c->rdap_bootstrap,
    };
    struct job *jobs = NULL;
    int rc = 0;
    unsigned long repeat = c->repeat;
    uint64_t t0 = clock_mono_us();

    raise_fd_limit();
    if (uv_loop_init(&c->loop) != 0) {
        fputs("vantage-agent probe: cannot create the event loop\n", stderr);
        return EXIT_USAGE;
    }
    c->engine = probe_engine_create(&c->loop, &opts, err, sizeof(err));
    if (c->engine == NULL) {
        fprintf(stderr, "vantage-agent probe: %s\n", err);
        uv_loop_close(&c->loop);
        return EXIT_USAGE;
    }
    jobs = calloc(c->nspecs + 2 * DISCOVER_MAX, sizeof(*jobs));
    if (jobs == NULL)
        goto oom;
    size_t n = 0;
    if (c->domain != NULL) {
        if (discover_dns_checks(c->domain, c->specs, c->nspecs, &c->dnschecks, err, sizeof(err)) <
            0) {
            fprintf(stderr, "vantage-agent probe: %s\n", err);
            rc = -1;
            goto out;
        }
        for (size_t i = 0; i < c->dnschecks.n; i++)
            jobs[n++] = (struct job){c->dnschecks.items[i].spec, false};
    }
    for (size_t i = 0; i < c->nspecs; i++)
        jobs[n++] = (struct job){c->specs[i], false};
    if (c->concurrency == 0)
        c->concurrency = n > CONCURRENCY_MAX ? CONCURRENCY_MAX : n;
    /* Step 1 keeps the domain's DNS results: discovery reads them. */
    c->keep_results = c->domain != NULL;
    if (run_jobs(c, jobs, n, repeat) < 0)
        goto oom;
    if (c->domain != NULL) {
        c->keep_results = false;
        if (discover_from_results(c->domain, c->specs, c->nspecs, c->kept, c->nkept, &c->discovered,
                                  err, sizeof(err)) < 0) {
            fprintf(stderr, "vantage-agent probe: %s\n", err);
            rc = -1;
        }
        for (size_t i = 0; i < c->nkept; i++)
            result_clear(&c->kept[i]);
        free(c->kept);
        c->kept = NULL;
        n = 0;
        for (size_t i = 0; rc == 0 && i < c->discovered.n; i++)
            jobs[n++] = (struct job){c->discovered.items[i].spec, true};
        if (rc == 0 && run_jobs(c, jobs, n, repeat) < 0)
            goto oom;
    }
    if (c->load)
        print_summary(c->json ? stderr : stdout, c, clock_mono_us() - t0);
    goto out;
oom:
    fputs("vantage-agent probe: out of memory\n", stderr);
    rc = -1;
out:
    probe_engine_destroy(&c->engine);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&c->loop) != 0)
        fputs("vantage-agent probe: warning: handles left open at exit\n", stderr);
    free(jobs);
    if (rc < 0 || c->runtime_error)
        return EXIT_USAGE;
    if (c->nagios != NULL) {
        c->nagios_done = true;
        return probe_nagios_print(c->nagios, stdout);
    }
    return c->nfailed > 0 ? EXIT_CHECK_FAILED : EXIT_ALL_OK;
}

int probe_cli_main(int argc, char **argv)
{
    struct cli c;
    memset(&c, 0, sizeof(c));
    int rc = parse_args(&c, argc, argv);
    if (rc < 0 && c.nagios_on && (c.json || c.load)) {
        fputs("vantage-agent probe: --nagios prints one plugin line: it does not go with --json, "
              "--repeat or --concurrency; see 'vantage-agent probe --help'\n",
              stderr);
        rc = EXIT_USAGE;
    } else if (rc < 0 && !c.nagios_on && (c.nagios_warn_us || c.nagios_crit_us)) {
        fputs("vantage-agent probe: -w and -c are thresholds of --nagios; see 'vantage-agent "
              "probe --help'\n",
              stderr);
        rc = EXIT_USAGE;
    } else if (rc < 0 && c.nagios_on &&
               (c.nagios = probe_nagios_create(c.nagios_warn_us, c.nagios_crit_us)) == NULL) {
        fputs("vantage-agent probe: out of memory\n", stderr);
        rc = EXIT_USAGE;
    }
    if (rc < 0)
        rc = run(&c);
    /* For Nagios every error of ours is UNKNOWN, a usage error included. */
    if (c.nagios_on && !c.nagios_done && rc != EXIT_ALL_OK) {
        printf("VANTAGE-PROBE UNKNOWN - usage or runtime error (see stderr)\n");
        rc = PROBE_NAGIOS_UNKNOWN;
    }
    probe_nagios_destroy(&c.nagios);
    if (c.password != NULL) {
        explicit_bzero(c.password, strlen(c.password));
        free(c.password);
    }
    free(c.specs);
    free(c.latencies);
    discover_list_clear(&c.discovered);
    discover_list_clear(&c.dnschecks);
    return rc;
}
