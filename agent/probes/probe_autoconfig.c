/*
 * probe_autoconfig — autoconfig://DOMAIN[?mailbox=ADDR] (docs/reference.md "Check
 * specs"): what mail clients are told to use, asked as they ask, in their
 * order.
 *
 *   Thunderbird (stops at the first usable answer):
 *     1. GET https://autoconfig.DOMAIN/mail/config-v1.1.xml?emailaddress=MAILBOX
 *     2. GET https://DOMAIN/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=...
 *   Outlook, Autodiscover POX (stops at the first usable answer):
 *     3. POST https://autodiscover.DOMAIN/autodiscover/autodiscover.xml
 *     4. POST https://DOMAIN/autodiscover/autodiscover.xml
 *     5. the _autodiscover._tcp.DOMAIN SRV target: POST
 *        https://TARGET[:PORT]/autodiscover/autodiscover.xml
 *     An answer's redirectAddr starts 3-5 over for the new address's
 *     domain; a redirectUrl is POSTed to next. At most
 *     AUTOCONFIG_AD_REDIRECTS_MAX of them (Outlook allows 10); an address
 *     or URL met twice is a loop.
 *
 * HTTP redirects are followed by http_client (HTTP_CLIENT_REDIRECTS_MAX,
 * loops detected). Every source asked becomes one entry of the result's
 * "autoconfig" list: its source ("autoconfig", "autodiscover" or "srv"),
 * URL, what it answered and the servers it named.
 *
 * The mailbox asked for is ?mailbox= when given, else postmaster@DOMAIN:
 * RFC 5321 §4.5.1 requires every mail domain to accept mail for it, so it
 * is the address most likely to exist; Exchange answers an unknown
 * address with an <Error>, which is reported as such.
 *
 * Status: ok when each client family ends with usable settings or with no
 * answer at all (most domains publish nothing: no failure); the check
 * fails with autoconfig_invalid when a family got no usable settings and
 * at least one of its sources answered with a document no client can use
 * (not XML, a DTD, over a bound, wrong namespace, no server, a redirect
 * loop). Network failures of a source (no such name, refused, TLS) are
 * said in its entry: clients skip such a source too.
 */
#include <arpa/nameser.h>
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "autoconfig.h"
#include "clock.h"
#include "http_client.h"
#include "probe_impl.h"

#define ERR_MAX 256
/* Outlook follows at most 10 Autodiscover redirects (addresses and URLs
 * together) before it gives up. */
#define AUTOCONFIG_AD_REDIRECTS_MAX 10
/* Each source gets a fair share of the time left, but at least this much
 * (or all that is left): a TLS handshake and a small answer take well under
 * a second on a working server. */
#define SOURCE_MIN_US 1000000u
/* Steps planned at the start: two Thunderbird URLs, three Autodiscover
 * sources. */
#define STEPS_PLANNED 5
#define REQUEST_MAX   1024
#define ANSWER_MAX    512

enum ac_step {
    AC_TB_SUB,       /* autoconfig.DOMAIN */
    AC_TB_WELLKNOWN, /* DOMAIN/.well-known/autoconfig */
    AC_AD_SUB,       /* autodiscover.DOMAIN */
    AC_AD_DOMAIN,    /* DOMAIN/autodiscover */
    AC_AD_SRV_QUERY, /* _autodiscover._tcp.DOMAIN SRV in flight */
    AC_AD_SRV,       /* the SRV target */
    AC_AD_URL,       /* a redirectUrl */
    AC_CLOSING,
    AC_STEP_LAST
};

static const char *const step_names[AC_STEP_LAST] = {
    "autoconfig", "well-known", "autodiscover", "domain-autodiscover",
    "srv-query",  "srv",        "redirect-url", "closing",
};

enum ac_outcome { AC_NONE, AC_USABLE, AC_INVALID };

struct ac_probe {
    struct probe *p;
    enum ac_step st;
    struct http_client *http;
    struct resolver_query *q;
    unsigned steps_left;
    enum ac_outcome tb, ad;
    bool tb_invalid_seen, ad_invalid_seen;
    char mailbox[SPEC_MAILBOX_MAX + 1]; /* the address Autodiscover is asked about */
    char ad_domain[SPEC_HOST_MAX + 1];  /* the domain Autodiscover asks now */
    unsigned ad_redirects;
    /* Addresses and URLs asked: a redirect to one of them is a loop. */
    char seen[2 * AUTOCONFIG_AD_REDIRECTS_MAX + 8][HTTP_CLIENT_URL_MAX + 1];
    unsigned nseen;
    struct result_autoconfig *entry; /* the entry of the source asked now; may be NULL */
    char tb_summary[ANSWER_MAX];
    char ad_summary[ANSWER_MAX];
};

/* snprintf for texts that are cut on purpose (answers and summaries are
 * bounded; a cut URL still says which source it was). */
static void say(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

static void set_step(struct ac_probe *a, enum ac_step st)
{
    assert((unsigned)st < AC_STEP_LAST);
    if (probe_tracing(a->p))
        fprintf(stderr, "probe %s: autoconfig %s -> %s\n", a->p->result.check, step_names[a->st],
                step_names[st]);
    a->st = st;
}

static void on_closed(void *arg)
{
    struct ac_probe *a = arg;
    struct probe *p = a->p;
    free(a);
    p->kind = NULL;
    probe_finish(p);
}

static void end(struct ac_probe *a)
{
    set_step(a, AC_CLOSING);
    resolver_cancel(&a->q);
    if (a->http != NULL) {
        http_client_destroy(&a->http, on_closed, a);
        return;
    }
    on_closed(a);
}

static void conclude(struct ac_probe *a)
{
    struct probe *p = a->p;
    if (a->tb == AC_NONE && a->tb_invalid_seen)
        a->tb = AC_INVALID;
    if (a->ad == AC_NONE && a->ad_invalid_seen)
        a->ad = AC_INVALID;
    const char *tb = a->tb_summary[0] ? a->tb_summary : "no answer";
    const char *ad = a->ad_summary[0] ? a->ad_summary : "no answer";
    if (a->tb == AC_INVALID || a->ad == AC_INVALID)
        result_fail(&p->result, RESULT_AUTOCONFIG_INVALID,
                    "%s: Thunderbird autoconfig: %s; Outlook Autodiscover: %s",
                    a->tb == AC_INVALID && a->ad == AC_INVALID ? "no client gets usable settings"
                    : a->tb == AC_INVALID ? "Thunderbird gets no usable settings"
                                          : "Outlook gets no usable settings",
                    tb, ad);
    else if (a->tb == AC_NONE && a->ad == AC_NONE)
        result_fail(&p->result, RESULT_OK,
                    "no client configuration published for %s (Thunderbird autoconfig: %s; "
                    "Outlook Autodiscover: %s)",
                    p->spec.host, tb, ad);
    else
        result_fail(&p->result, RESULT_OK, "Thunderbird autoconfig: %s; Outlook Autodiscover: %s",
                    tb, ad);
    end(a);
}

/* A new entry in the result for the source asked now. */
static void new_entry(struct ac_probe *a, const char *source, const char *url)
{
    a->entry = result_add_autoconfig(&a->p->result);
    if (a->entry == NULL)
        return; /* past RESULT_AUTOCONFIG_SOURCES_MAX: asked, not listed */
    (void)result_set_str(&a->entry->source, source);
    (void)result_set_str(&a->entry->url, url);
}

static void set_answer(struct ac_probe *a, const char *text)
{
    if (a->entry != NULL)
        (void)result_set_str(&a->entry->answer, text);
}

static void on_response(struct http_client *h, void *arg);

/* Fetches url for the current step (POST with the request for
 * Autodiscover). On our own failure (bad URL, no memory) returns -1 with
 * the answer set. */
static int fetch(struct ac_probe *a, const char *source, const char *url, bool autodiscover)
{
    struct probe *p = a->p;
    char err[ERR_MAX], req[REQUEST_MAX];
    uint64_t now = clock_mono_us();
    uint64_t left = p->deadline_us > now ? p->deadline_us - now : 0;
    uint64_t share = a->steps_left > 0 ? left / a->steps_left : left;
    if (share < SOURCE_MIN_US)
        share = left < SOURCE_MIN_US ? left : SOURCE_MIN_US;
    if (a->steps_left > 1)
        a->steps_left--;
    new_entry(a, source, url);
    int n = autodiscover ? autoconfig_request(a->mailbox, req, sizeof(req)) : 0;
    struct http_client_params hp = {
        .loop = p->loop,
        .tls = p->tls,
        .resolver = p->resolver,
        .url = url,
        .method = autodiscover ? "POST" : "GET",
        .body = autodiscover ? req : NULL,
        .body_len = n > 0 ? (size_t)n : 0,
        .content_type = "text/xml; charset=utf-8",
        .accept = "text/xml, application/xml",
        .body_max = AUTOCONFIG_DOC_MAX,
        .follow_redirects = true,
        .deadline_us = now + share,
        .trace = probe_tracing(p),
        .facts = &p->result,
    };
    http_client_destroy(&a->http, NULL, NULL);
    if (n < 0 || http_client_fetch(&hp, on_response, a, &a->http, err, sizeof(err)) < 0) {
        set_answer(a, n < 0 ? "not asked: the mailbox does not fit the request" : err);
        return -1;
    }
    return 0;
}

static void next_step(struct ac_probe *a);

static void tb_fetch(struct ac_probe *a, enum ac_step st)
{
    char url[HTTP_CLIENT_URL_MAX + 1];
    const char *host = a->p->spec.host;
    set_step(a, st);
    if (st == AC_TB_SUB)
        say(url, sizeof(url), "https://autoconfig.%s/mail/config-v1.1.xml?emailaddress=%s", host,
            a->mailbox);
    else
        say(url, sizeof(url),
            "https://%s/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=%s", host,
            a->mailbox);
    if (fetch(a, "autoconfig", url, false) < 0)
        next_step(a);
}

static bool first_visit(struct ac_probe *a, const char *what);

static void ad_fetch(struct ac_probe *a, enum ac_step st, const char *source, const char *url)
{
    set_step(a, st);
    (void)first_visit(a, url);
    if (fetch(a, source, url, true) < 0)
        next_step(a);
}

static void ad_start(struct ac_probe *a)
{
    char url[HTTP_CLIENT_URL_MAX + 1];
    say(url, sizeof(url), "https://autodiscover.%s/autodiscover/autodiscover.xml", a->ad_domain);
    ad_fetch(a, AC_AD_SUB, "autodiscover", url);
}

static void on_srv(struct resolver_reply *rep, void *arg)
{
    struct ac_probe *a = arg;
    a->q = NULL;
    char name[SPEC_HOST_MAX + 32], url[HTTP_CLIENT_URL_MAX + 1], target[SPEC_HOST_MAX + 2];
    unsigned prio, weight, port;
    say(name, sizeof(name), "_autodiscover._tcp.%s", a->ad_domain);
    const char *first =
        rep->nrecords > 0 && rep->records[0].nanswers > 0 ? rep->records[0].answers[0] : NULL;
    bool usable = rep->error == RESULT_OK && first != NULL &&
                  sscanf(first, "%u %u %u %254s", &prio, &weight, &port, target) == 4 && port > 0 &&
                  port < 65536 && strcmp(target, ".") != 0;
    char why[ANSWER_MAX];
    say(why, sizeof(why), "%s", rep->detail && rep->detail[0] ? rep->detail : "no SRV record");
    (void)resolver_reply_move(rep, &a->p->result);
    if (!usable) {
        new_entry(a, "srv", name);
        set_answer(a, why);
        if (a->ad_summary[0] == '\0')
            say(a->ad_summary, sizeof(a->ad_summary), "no source answered");
        next_step(a);
        return;
    }
    size_t tl = strlen(target);
    if (tl > 0 && target[tl - 1] == '.')
        target[tl - 1] = '\0';
    if (port == 443)
        say(url, sizeof(url), "https://%s/autodiscover/autodiscover.xml", target);
    else
        say(url, sizeof(url), "https://%s:%u/autodiscover/autodiscover.xml", target, port);
    ad_fetch(a, AC_AD_SRV, "srv", url);
}

/* After a source gave no usable settings: the next one in the clients'
 * order, or the end. */
static void next_step(struct ac_probe *a)
{
    char err[ERR_MAX], name[SPEC_HOST_MAX + 32];
    switch (a->st) {
    case AC_TB_SUB:
        tb_fetch(a, AC_TB_WELLKNOWN);
        return;
    case AC_TB_WELLKNOWN:
        ad_start(a);
        return;
    case AC_AD_SUB: {
        char url[HTTP_CLIENT_URL_MAX + 1];
        say(url, sizeof(url), "https://%s/autodiscover/autodiscover.xml", a->ad_domain);
        ad_fetch(a, AC_AD_DOMAIN, "autodiscover", url);
        return;
    }
    case AC_AD_DOMAIN:
        set_step(a, AC_AD_SRV_QUERY);
        say(name, sizeof(name), "_autodiscover._tcp.%s", a->ad_domain);
        if (resolver_query(a->p->resolver, name, ns_t_srv, on_srv, a, &a->q, err, sizeof(err)) <
            0) {
            new_entry(a, "srv", name);
            set_answer(a, err);
            conclude(a);
        }
        return;
    case AC_AD_SRV_QUERY:
    case AC_AD_SRV:
    case AC_AD_URL:
        conclude(a);
        return;
    case AC_CLOSING:
    case AC_STEP_LAST:
    default:
        abort();
    }
}

/* Records url (an address or URL) as asked; false when it was already:
 * a redirect loop. */
static bool first_visit(struct ac_probe *a, const char *what)
{
    for (unsigned i = 0; i < a->nseen; i++)
        if (strcasecmp(a->seen[i], what) == 0)
            return false;
    if (a->nseen < sizeof(a->seen) / sizeof(a->seen[0]))
        say(a->seen[a->nseen++], sizeof(a->seen[0]), "%s", what);
    return true;
}

static void keep_servers(struct ac_probe *a, const struct autoconfig_doc *doc)
{
    if (a->entry == NULL)
        return;
    for (size_t i = 0; i < doc->nservers; i++) {
        struct result_autoconfig_server *s = result_autoconfig_add_server(a->entry);
        if (s == NULL)
            break;
        (void)result_set_str(&s->protocol, autoconfig_proto_name(doc->servers[i].proto));
        (void)result_set_str(&s->host, doc->servers[i].host);
        s->port = doc->servers[i].port;
        (void)result_set_str(&s->socket, autoconfig_socket_name(doc->servers[i].socket));
    }
}

static void describe_servers(const struct autoconfig_doc *doc, char *buf, size_t len)
{
    int n = snprintf(buf, len, "settings:");
    for (size_t i = 0; i < doc->nservers && n > 0 && (size_t)n < len; i++)
        n += snprintf(buf + n, len - (size_t)n, "%s %s %s:%u %s", i ? "," : "",
                      autoconfig_proto_name(doc->servers[i].proto), doc->servers[i].host,
                      doc->servers[i].port, autoconfig_socket_name(doc->servers[i].socket));
    if (n > 0 && (size_t)n < len && doc->nother > 0)
        n += snprintf(buf + n, len - (size_t)n, "%s%u server(s) of other kinds (Exchange, web)",
                      doc->nservers ? "; " : " ", doc->nother);
    if (n > 0 && (size_t)n < len && doc->nskipped > 0)
        say(buf + n, len - (size_t)n, "; %u unusable entr%s skipped", doc->nskipped,
            doc->nskipped == 1 ? "y" : "ies");
}

static void on_response(struct http_client *h, void *arg)
{
    struct ac_probe *a = arg;
    const struct http_response *rsp = http_client_response(h);
    bool thunderbird = a->st == AC_TB_SUB || a->st == AC_TB_WELLKNOWN;
    char answer[ANSWER_MAX], err[ERR_MAX], prefix[ANSWER_MAX] = "";
    bool *invalid_seen = thunderbird ? &a->tb_invalid_seen : &a->ad_invalid_seen;
    char *summary = thunderbird ? a->tb_summary : a->ad_summary;
    struct autoconfig_doc doc;

    if (rsp->redirects > 0)
        say(prefix, sizeof(prefix), "HTTP redirects %s; ", rsp->chain);
    if (rsp->error != RESULT_OK) {
        say(answer, sizeof(answer), "%s%s: %s", prefix, result_error_name(rsp->error), rsp->detail);
        /* The server answered, but with nothing a client can use: a
         * redirect loop, too large, not HTTP. */
        if (rsp->error == RESULT_HTTP_STATUS || rsp->error == RESULT_PROTO_BAD_GREETING) {
            *invalid_seen = true;
            say(summary, ANSWER_MAX, "%s", answer);
        }
        set_answer(a, answer);
        next_step(a);
        return;
    }
    if (rsp->status != 200) {
        say(answer, sizeof(answer), "%sHTTP %u", prefix, rsp->status);
        set_answer(a, answer);
        if (!*invalid_seen)
            say(summary, ANSWER_MAX, "%s from %s", answer, rsp->url);
        next_step(a);
        return;
    }
    if (autoconfig_parse(thunderbird ? AUTOCONFIG_THUNDERBIRD : AUTOCONFIG_AUTODISCOVER,
                         rsp->body ? rsp->body : "", rsp->body_len, a->mailbox, &doc, err,
                         sizeof(err)) < 0) {
        say(answer, sizeof(answer), "%sinvalid: %s", prefix, err);
        set_answer(a, answer);
        *invalid_seen = true;
        say(summary, ANSWER_MAX, "%s answered a document no client can use: %s", rsp->url, err);
        next_step(a);
        return;
    }
    switch (doc.action) {
    case AUTOCONFIG_SETTINGS:
        describe_servers(&doc, answer, sizeof(answer));
        keep_servers(a, &doc);
        if (prefix[0] != '\0') {
            char both[ANSWER_MAX];
            say(both, sizeof(both), "%s%s", prefix, answer);
            set_answer(a, both);
        } else {
            set_answer(a, answer);
        }
        say(summary, ANSWER_MAX, "%s from %s", answer, rsp->url);
        if (thunderbird) {
            a->tb = AC_USABLE;
            if (a->st == AC_TB_SUB && a->steps_left > 1)
                a->steps_left--; /* the well-known URL is not asked */
            ad_start(a);
        } else {
            a->ad = AC_USABLE;
            conclude(a);
        }
        return;
    case AUTOCONFIG_ERROR:
        say(answer, sizeof(answer), "%sAutodiscover %s", prefix, doc.error);
        set_answer(a, answer);
        say(summary, ANSWER_MAX, "%s answered %s for %s", rsp->url, doc.error, a->mailbox);
        next_step(a);
        return;
    case AUTOCONFIG_REDIRECT_ADDR:
    case AUTOCONFIG_REDIRECT_URL: {
        bool addr = doc.action == AUTOCONFIG_REDIRECT_ADDR;
        say(answer, sizeof(answer), "%s%s to %s", prefix, addr ? "redirectAddr" : "redirectUrl",
            doc.redirect);
        set_answer(a, answer);
        if (++a->ad_redirects > AUTOCONFIG_AD_REDIRECTS_MAX || !first_visit(a, doc.redirect)) {
            a->ad_invalid_seen = true;
            say(a->ad_summary, ANSWER_MAX, "%s at %s (after %u Autodiscover redirects)",
                a->ad_redirects > AUTOCONFIG_AD_REDIRECTS_MAX ? "too many redirects"
                                                              : "a redirect loop",
                doc.redirect, a->ad_redirects - 1);
            conclude(a);
            return;
        }
        if (addr) {
            say(a->mailbox, sizeof(a->mailbox), "%s", doc.redirect);
            say(a->ad_domain, sizeof(a->ad_domain), "%s", strrchr(doc.redirect, '@') + 1);
            a->steps_left = STEPS_PLANNED - 2;
            ad_start(a);
        } else {
            a->steps_left = 1;
            ad_fetch(a, AC_AD_URL, "autodiscover", doc.redirect);
        }
        return;
    }
    case AUTOCONFIG_ACTION_LAST:
    default:
        abort();
    }
}

static int autoconfig_start(struct probe *p)
{
    struct ac_probe *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        result_fail(&p->result, RESULT_INTERNAL, "out of memory");
        return -1;
    }
    a->p = p;
    p->kind = a;
    a->steps_left = STEPS_PLANNED;
    if (p->spec.mailbox[0] != '\0')
        say(a->mailbox, sizeof(a->mailbox), "%s", p->spec.mailbox);
    else
        say(a->mailbox, sizeof(a->mailbox), "postmaster@%s", p->spec.host);
    say(a->ad_domain, sizeof(a->ad_domain), "%s", p->spec.host);
    (void)first_visit(a, a->mailbox);
    a->st = AC_TB_SUB;
    tb_fetch(a, AC_TB_SUB);
    return 0;
}

static void autoconfig_abort(struct probe *p, enum probe_abort why)
{
    struct ac_probe *a = p->kind;
    if (why == PROBE_ABORT_SHUTDOWN)
        result_fail(&p->result, RESULT_INTERNAL, "aborted: the agent is shutting down");
    else
        result_fail(&p->result, RESULT_PROTO_TIMEOUT,
                    "the sources did not all answer within the deadline (asking %s)",
                    step_names[a->st]);
    if (a->st == AC_CLOSING)
        return;
    end(a);
}

const struct probe_ops probe_autoconfig_ops = {
    .name = "autoconfig",
    .needs_addresses = false,
    .abort_grace = true,
    .start = autoconfig_start,
    .abort = autoconfig_abort,
};
