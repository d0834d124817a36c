/*
 * probe_rdap — rdap://DOMAIN (docs/reference.md "Check specs"): the domain's
 * registration as its registry reports it, what a person would read from
 * whois.
 *
 *   1. the RDAP bootstrap registry (RFC 9224): the engine's cached copy,
 *      else fetched from its URL or read from its file, and cached;
 *   2. the base URL serving the domain's TLD; none: said once in the
 *      detail, status ok, no registration object (not a failure: many
 *      ccTLDs have no RDAP service yet);
 *   3. GET BASE/domain/DOMAIN (Accept: application/rdap+json, redirects
 *      followed): 404 -> registration_not_found; 429 -> http_status with
 *      retry_at from Retry-After (the scheduler must not ask again
 *      before); another non-2xx -> http_status; an answer that is not RDAP
 *      JSON (wrong type, malformed, too large) -> proto_bad_greeting;
 *   4. when the registry links to the registrar's RDAP server (rel
 *      "related": thin registries such as .com keep the registrar's
 *      details there), GET that too; it fills what the registry left out
 *      (registrar, expiry, name servers, further status values). Its
 *      failure is said in the detail and does not fail the check: the
 *      registry's answer is the authoritative one;
 *   5. expiry in the past -> registration_expired; a hold status (client
 *      hold, server hold, redemption period, pending delete) ->
 *      registration_hold; otherwise ok. The result's "registration"
 *      object carries the facts in every case where an answer was read.
 *
 * Every fetch goes through http_client (the agent's own conn and TLS) with
 * the probe's deadline; the bodies are bounded by HTTP_CLIENT_BODY_MAX.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "http_client.h"
#include "probe_impl.h"
#include "rdap.h"

#define ERR_MAX         256
#define SECONDS_PER_DAY 86400
/* What a bootstrap file or URL says is accepted as JSON. */
#define ACCEPT_BOOTSTRAP "application/json"
#define ACCEPT_RDAP      "application/rdap+json, application/json;q=0.9"

enum rdap_state {
    RDAP_ST_BOOTSTRAP, /* fetching the bootstrap file */
    RDAP_ST_REGISTRY,  /* fetching the registry's answer */
    RDAP_ST_REGISTRAR, /* fetching the registrar's answer */
    RDAP_ST_CLOSING,   /* the last fetch is closing */
    RDAP_ST_LAST
};

static const char *const rdap_state_names[RDAP_ST_LAST] = {
    "bootstrap",
    "registry",
    "registrar",
    "closing",
};

struct rdap_probe {
    struct probe *p;
    enum rdap_state st;
    struct http_client *http;
    struct rdap_domain registry;
    char registry_url[HTTP_CLIENT_URL_MAX + 1];
    char note[RESULT_STR_MAX + 1]; /* what the registrar step says, for the detail */
};

/* snprintf for texts that are cut on purpose (the detail is bounded). */
static void say(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

static void set_state(struct rdap_probe *r, enum rdap_state st)
{
    assert((unsigned)st < RDAP_ST_LAST);
    if (probe_tracing(r->p))
        fprintf(stderr, "probe %s: rdap %s -> %s\n", r->p->result.check, rdap_state_names[r->st],
                rdap_state_names[st]);
    r->st = st;
}

static void on_closed(void *arg)
{
    struct rdap_probe *r = arg;
    struct probe *p = r->p;
    free(r);
    p->kind = NULL;
    probe_finish(p);
}

/* Ends the probe once the fetch in flight (if any) is closed. */
static void end(struct rdap_probe *r)
{
    set_state(r, RDAP_ST_CLOSING);
    if (r->http != NULL) {
        http_client_destroy(&r->http, on_closed, r);
        return;
    }
    on_closed(r);
}

static void on_response(struct http_client *h, void *arg);

/* Starts a fetch; on failure classifies the result and returns -1. */
static int fetch(struct rdap_probe *r, const char *url, const char *accept)
{
    char err[ERR_MAX];
    struct probe *p = r->p;
    struct http_client_params hp = {
        .loop = p->loop,
        .tls = p->tls,
        .resolver = p->resolver,
        .url = url,
        .accept = accept,
        .follow_redirects = true,
        .deadline_us = p->deadline_us,
        .trace = probe_tracing(p),
        .facts = &p->result,
    };
    /* Each fetch replaces the previous one, which is done. */
    http_client_destroy(&r->http, NULL, NULL);
    if (http_client_fetch(&hp, on_response, r, &r->http, err, sizeof(err)) < 0) {
        result_fail(&p->result, RESULT_INTERNAL, "%s", err);
        return -1;
    }
    return 0;
}

static void fill_list(char ***list, size_t *n, const char (*src)[RDAP_NAME_MAX + 1], size_t nsrc)
{
    for (size_t i = 0; i < nsrc; i++)
        (void)result_list_add(list, n, src[i]);
}

/* Writes the registration object and classifies the result. */
static void classify(struct rdap_probe *r)
{
    struct probe *p = r->p;
    const struct rdap_domain *d = &r->registry;
    struct result_registration *g = result_registration_new(&p->result);
    int64_t now = clock_wall_us() / 1000000;
    char expires[40] = "", status[RESULT_STR_MAX / 2] = "", days[48] = "";
    const char *hold = NULL;

    if (g == NULL) {
        result_fail(&p->result, RESULT_INTERNAL, "out of memory");
        return;
    }
    (void)result_set_str(&g->domain, d->ldh_name[0] ? d->ldh_name : p->spec.host);
    (void)result_set_str(&g->registrar, d->registrar[0] ? d->registrar : NULL);
    (void)result_set_str(&g->rdap_url, r->registry_url);
    for (size_t i = 0; i < d->nstatus; i++) {
        (void)result_list_add(&g->status, &g->nstatus, d->status[i]);
        size_t have = strlen(status);
        snprintf(status + have, sizeof(status) - have, "%s%s", have ? ", " : "", d->status[i]);
        if (hold == NULL && rdap_status_hold(d->status[i]))
            hold = d->status[i];
    }
    fill_list(&g->nameservers, &g->nnameservers, d->nameservers, d->nnameservers);
    if (d->expires > 0) {
        g->expires = d->expires;
        /* Whole days, rounded towards the past: "0 days left" on the last
         * day, -1 the day after. */
        int64_t diff = d->expires - now;
        g->days_left = (int32_t)(diff >= 0 ? diff / SECONDS_PER_DAY
                                           : -((-diff + SECONDS_PER_DAY - 1) / SECONDS_PER_DAY));
        clock_format_iso_us(d->expires * 1000000, false, expires, sizeof(expires));
        snprintf(days, sizeof(days), " (%" PRId32 " days %s)",
                 g->days_left >= 0 ? g->days_left : -g->days_left,
                 g->days_left >= 0 ? "left" : "ago");
    }
    const char *registrar = d->registrar[0] ? d->registrar : "(not named)";
    if (d->expires > 0 && d->expires < now)
        result_fail(&p->result, RESULT_REGISTRATION_EXPIRED,
                    "%s expired on %s%s; registrar %s; status %s%s%s", g->domain, expires, days,
                    registrar, status[0] ? status : "(none)", r->note[0] ? "; " : "", r->note);
    else if (hold != NULL)
        result_fail(&p->result, RESULT_REGISTRATION_HOLD,
                    "%s is on %s at the registry; registrar %s; expires %s%s; status %s%s%s",
                    g->domain, hold, registrar, expires[0] ? expires : "(not given)", days, status,
                    r->note[0] ? "; " : "", r->note);
    else
        result_fail(&p->result, RESULT_OK, "registrar %s; expires %s%s; status %s%s%s", registrar,
                    expires[0] ? expires : "(not given)", days, status[0] ? status : "(none)",
                    r->note[0] ? "; " : "", r->note);
}

/* Fills what the registry's answer left out from the registrar's. */
static void merge_registrar(struct rdap_domain *d, const struct rdap_domain *rr)
{
    if (d->registrar[0] == '\0')
        memcpy(d->registrar, rr->registrar, sizeof(d->registrar));
    if (d->expires == 0)
        d->expires = rr->expires;
    if (d->registered == 0)
        d->registered = rr->registered;
    if (d->nnameservers == 0) {
        memcpy(d->nameservers, rr->nameservers, sizeof(d->nameservers));
        d->nnameservers = rr->nnameservers;
    }
    for (size_t i = 0; i < rr->nstatus && d->nstatus < RDAP_STATUS_MAX; i++) {
        bool have = false;
        for (size_t k = 0; k < d->nstatus && !have; k++)
            have = strcmp(d->status[k], rr->status[i]) == 0;
        if (!have)
            memcpy(d->status[d->nstatus++], rr->status[i], RDAP_STATUS_TEXT);
    }
}

/* Checks a response that should carry an RDAP document. 0, or -1 after
 * classifying (into the result for the registry, into note otherwise). */
static int usable(struct rdap_probe *r, const struct http_response *rsp, bool registry)
{
    struct probe *p = r->p;
    char why[RESULT_STR_MAX + 1];
    enum result_error e = RESULT_OK;

    if (rsp->error != RESULT_OK) {
        e = rsp->error;
        say(why, sizeof(why), "%s", rsp->detail);
    } else if (rsp->status == 404) {
        e = RESULT_REGISTRATION_NOT_FOUND;
        say(why, sizeof(why), "%s answered 404: the registry does not know %s", rsp->url,
            p->spec.host);
    } else if (rsp->status == 429) {
        e = RESULT_HTTP_STATUS;
        if (rsp->retry_after_s >= 0) {
            char when[40];
            p->result.retry_at_us = clock_wall_us() + rsp->retry_after_s * 1000000;
            clock_format_iso_us(p->result.retry_at_us, false, when, sizeof(when));
            say(why, sizeof(why),
                "%s answered 429 Too Many Requests: the registry rate-limits this agent; "
                "not asking again before %s (Retry-After %" PRId64 " s)",
                rsp->url, when, rsp->retry_after_s);
        } else {
            say(why, sizeof(why),
                "%s answered 429 Too Many Requests: the registry rate-limits this agent "
                "(no Retry-After)",
                rsp->url);
        }
    } else if (rsp->status < 200 || rsp->status >= 300) {
        e = RESULT_HTTP_STATUS;
        say(why, sizeof(why), "%s answered HTTP %u%s%s", rsp->url, rsp->status,
            rsp->location[0] ? " -> " : "", rsp->location);
    } else if (!rdap_content_type_ok(rsp->content_type)) {
        e = RESULT_PROTO_BAD_GREETING;
        say(why, sizeof(why),
            "%s answered with Content-Type '%s', not application/rdap+json: not an RDAP "
            "server, or a proxy or captive portal in the way",
            rsp->url, rsp->content_type[0] ? rsp->content_type : "(none)");
    } else {
        return 0;
    }
    if (registry) {
        result_fail(&p->result, e, "%s", why);
    } else {
        say(r->note, sizeof(r->note), "the registrar's RDAP server failed: %s", why);
    }
    return -1;
}

static void start_registry(struct rdap_probe *r, const struct rdap_bootstrap *b)
{
    struct probe *p = r->p;
    char base[RDAP_URL_MAX + 1];
    int found = rdap_bootstrap_lookup(b, p->spec.host, base, sizeof(base));
    if (found <= 0) {
        const char *tld = strrchr(p->spec.host, '.');
        result_fail(&p->result, RESULT_OK,
                    "no RDAP service for .%s in the bootstrap registry (%s): the registration "
                    "is not checked",
                    tld != NULL ? tld + 1 : p->spec.host, probe_rdap_bootstrap_source(p));
        end(r);
        return;
    }
    if (rdap_domain_url(base, p->spec.host, r->registry_url, sizeof(r->registry_url)) < 0) {
        result_fail(&p->result, RESULT_INTERNAL, "the RDAP URL for %s is too long", p->spec.host);
        end(r);
        return;
    }
    set_state(r, RDAP_ST_REGISTRY);
    if (fetch(r, r->registry_url, ACCEPT_RDAP) < 0)
        end(r);
}

static void on_bootstrap(struct rdap_probe *r, const struct http_response *rsp)
{
    struct probe *p = r->p;
    char err[ERR_MAX];
    if (rsp->error != RESULT_OK) {
        result_fail(&p->result, rsp->error, "fetching the RDAP bootstrap registry: %s",
                    rsp->detail);
        end(r);
        return;
    }
    if (rsp->status != 200) {
        result_fail(&p->result, RESULT_HTTP_STATUS,
                    "the RDAP bootstrap registry %s answered HTTP %u: set --rdap-bootstrap (or "
                    "the collector's rdap_bootstrap) to a file or a working URL",
                    rsp->url, rsp->status);
        end(r);
        return;
    }
    struct rdap_bootstrap *b =
        rdap_bootstrap_parse(rsp->body ? rsp->body : "", rsp->body_len, err, sizeof(err));
    if (b == NULL) {
        result_fail(&p->result, RESULT_PROTO_BAD_GREETING, "%s: %s", rsp->url, err);
        end(r);
        return;
    }
    probe_rdap_bootstrap_keep(p, &b);
    start_registry(r, probe_rdap_bootstrap(p));
}

static void on_response(struct http_client *h, void *arg)
{
    struct rdap_probe *r = arg;
    struct probe *p = r->p;
    const struct http_response *rsp = http_client_response(h);
    char err[ERR_MAX];
    struct rdap_domain d;

    switch (r->st) {
    case RDAP_ST_BOOTSTRAP:
        on_bootstrap(r, rsp);
        return;
    case RDAP_ST_REGISTRY:
        if (usable(r, rsp, true) < 0) {
            end(r);
            return;
        }
        if (rdap_domain_parse(rsp->body ? rsp->body : "", rsp->body_len, &r->registry, err,
                              sizeof(err)) < 0) {
            result_fail(&p->result, RESULT_PROTO_BAD_GREETING, "%s: %s", rsp->url, err);
            end(r);
            return;
        }
        if (rsp->redirects > 0)
            say(r->registry_url, sizeof(r->registry_url), "%s", rsp->url);
        if (r->registry.related[0] != '\0') {
            set_state(r, RDAP_ST_REGISTRAR);
            say(r->note, sizeof(r->note), "registrar's RDAP: %s", r->registry.related);
            char url[RDAP_URL_MAX + 1];
            say(url, sizeof(url), "%s", r->registry.related);
            if (fetch(r, url, ACCEPT_RDAP) == 0)
                return;
            say(r->note, sizeof(r->note), "the registrar's RDAP URL %s is unusable",
                r->registry.related);
        }
        classify(r);
        end(r);
        return;
    case RDAP_ST_REGISTRAR:
        if (usable(r, rsp, false) == 0) {
            if (rdap_domain_parse(rsp->body ? rsp->body : "", rsp->body_len, &d, err, sizeof(err)) <
                0) {
                say(r->note, sizeof(r->note), "the registrar's RDAP answer from %s: %s", rsp->url,
                    err);
            } else {
                merge_registrar(&r->registry, &d);
            }
        }
        classify(r);
        end(r);
        return;
    case RDAP_ST_CLOSING:
    case RDAP_ST_LAST:
    default:
        abort();
    }
}

/* Reads a bootstrap file (bounded like a fetched body). */
static struct rdap_bootstrap *read_bootstrap_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cannot read the RDAP bootstrap file %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(HTTP_CLIENT_BODY_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    size_t n = fread(buf, 1, HTTP_CLIENT_BODY_MAX + 1, f);
    fclose(f);
    struct rdap_bootstrap *b = NULL;
    if (n > HTTP_CLIENT_BODY_MAX) {
        snprintf(err, errlen, "the RDAP bootstrap file %s is larger than %u bytes", path,
                 HTTP_CLIENT_BODY_MAX);
    } else {
        char why[ERR_MAX];
        b = rdap_bootstrap_parse(buf, n, why, sizeof(why));
        if (b == NULL)
            say(err, errlen, "%s: %s", path, why);
    }
    free(buf);
    return b;
}

static int rdap_start(struct probe *p)
{
    struct rdap_probe *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        result_fail(&p->result, RESULT_INTERNAL, "out of memory");
        return -1;
    }
    r->p = p;
    p->kind = r;
    const struct rdap_bootstrap *b = probe_rdap_bootstrap(p);
    if (b != NULL) {
        start_registry(r, b);
        return 0;
    }
    const char *src = probe_rdap_bootstrap_source(p);
    if (strncasecmp(src, "https://", 8) == 0 || strncasecmp(src, "http://", 7) == 0) {
        r->st = RDAP_ST_BOOTSTRAP;
        if (fetch(r, src, ACCEPT_BOOTSTRAP) < 0)
            end(r);
        return 0;
    }
    char err[ERR_MAX];
    struct rdap_bootstrap *fb = read_bootstrap_file(src, err, sizeof(err));
    if (fb == NULL) {
        result_fail(&p->result, RESULT_INTERNAL, "%s", err);
        end(r);
        return 0;
    }
    probe_rdap_bootstrap_keep(p, &fb);
    start_registry(r, probe_rdap_bootstrap(p));
    return 0;
}

static void rdap_abort(struct probe *p, enum probe_abort why)
{
    struct rdap_probe *r = p->kind;
    if (why == PROBE_ABORT_SHUTDOWN)
        result_fail(&p->result, RESULT_INTERNAL, "aborted: the agent is shutting down");
    else
        result_fail(&p->result, RESULT_PROTO_TIMEOUT, "no RDAP answer within the deadline (%s)",
                    rdap_state_names[r->st]);
    if (r->st == RDAP_ST_CLOSING)
        return; /* already ending */
    end(r);
}

const struct probe_ops probe_rdap_ops = {
    .name = "rdap",
    .needs_addresses = false,
    .abort_grace = true,
    .start = rdap_start,
    .abort = rdap_abort,
};
