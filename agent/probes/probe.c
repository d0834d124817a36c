/*
 * probe — the engine: spec -> kind, host resolution, whole-probe deadline,
 * and the hand-over of the result (see probe.h and probe_impl.h).
 */
#include "probe_impl.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "clock.h"
#include "rdap.h"

/* Used when probe_params.timeout_us is 0: a mail client gives up on a
 * server after about 10-60 s; 10 s is the default timeout (docs/reference.md). */
#define PROBE_TIMEOUT_DEFAULT_US 10000000u

/* After the deadline the kind's own timers (which share it) should already
 * have fired; the engine takes the probe back only if they have not. */
#define PROBE_ABORT_GRACE_MS 200

#define ERR_MAX 256
/* Room for a host name (RFC 1035: 255 octets). */
#define PROBE_HOSTNAME_MAX 256

struct probe_engine {
    uv_loop_t *loop;
    char agent_name[PROBE_HOSTNAME_MAX]; /* marks mailflow test messages */
    struct resolver *resolver;
    struct conn_tls *tls;
    bool trace;
    struct probe *head; /* probes in flight */
    unsigned active;    /* probes whose done callback has not run yet */
    unsigned in_callback;
    bool destroying;
    /* ---- registration (issue 10) ---- */
    char *rdap_source;                /* URL or file; never NULL */
    struct rdap_bootstrap *rdap_boot; /* cached; NULL = none yet */
    uint64_t rdap_boot_at_us;         /* clock_mono_us() when cached */
    /* ---- end registration ---- */
};

/* Indexed by enum spec_kind. */
static const struct probe_ops *kind_ops(enum spec_kind k)
{
    switch (k) {
    case SPEC_IMAPS:
        return &probe_imaps_ops;
    case SPEC_IMAP:
        return &probe_imap_ops;
    case SPEC_POP3S:
        return &probe_pop3s_ops;
    case SPEC_POP3:
        return &probe_pop3_ops;
    case SPEC_SMTPS:
        return &probe_smtps_ops;
    case SPEC_SUBMISSION:
        return &probe_submission_ops;
    case SPEC_SMTP:
        return &probe_smtp_ops;
    case SPEC_HTTPS:
        return &probe_https_ops;
    case SPEC_TLS:
        return &probe_tls_ops;
    case SPEC_TCP:
        return &probe_tcp_ops;
    case SPEC_DNS:
        return &probe_dns_ops;
    case SPEC_MAILFLOW:
        return &probe_mailflow_ops;
    /* registration and autoconfig (issue 10) */
    case SPEC_RDAP:
        return &probe_rdap_ops;
    case SPEC_AUTOCONFIG:
        return &probe_autoconfig_ops;
    case SPEC_KIND_LAST:
    default:
        return NULL;
    }
}

static const char *const state_names[PROBE_ST_LAST] = {"resolving", "running", "closing"};

/* The only way to change a probe's state. */
static void set_state(struct probe *p, enum probe_state s)
{
    assert((unsigned)s < PROBE_ST_LAST);
    if (p->engine->trace)
        fprintf(stderr, "probe %s: %s -> %s\n", p->result.check, state_names[p->state],
                state_names[s]);
    p->state = s;
}

static void free_engine(struct probe_engine *e)
{
    rdap_bootstrap_destroy(&e->rdap_boot);
    free(e->rdap_source);
    free(e);
}

struct probe_engine *probe_engine_create(uv_loop_t *loop, const struct probe_engine_opts *opts,
                                         char *err, size_t errlen)
{
    struct probe_engine *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->loop = loop;
    e->trace = opts != NULL && opts->trace;
    if (opts != NULL && opts->agent_name != NULL) {
        snprintf(e->agent_name, sizeof(e->agent_name), "%s", opts->agent_name);
    } else if (gethostname(e->agent_name, sizeof(e->agent_name) - 1) != 0 ||
               e->agent_name[0] == '\0') {
        snprintf(e->agent_name, sizeof(e->agent_name), "vantage-agent");
    }
    /* A hostname may hold what a marker cannot (agent.conf refuses such a
     * name for the daemon): keep the usable characters. */
    for (char *c = e->agent_name; *c != '\0'; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_' || *c == '.'))
            *c = '-';
    e->rdap_source =
        strdup(opts != NULL && opts->rdap_bootstrap != NULL ? opts->rdap_bootstrap
                                                            : PROBE_RDAP_BOOTSTRAP_DEFAULT);
    if (e->rdap_source == NULL) {
        snprintf(err, errlen, "out of memory");
        free(e);
        return NULL;
    }
    e->tls = conn_tls_create(opts != NULL ? opts->ca_file : NULL, err, errlen);
    if (e->tls == NULL) {
        free(e->rdap_source);
        free(e);
        return NULL;
    }
    e->resolver = resolver_create(loop, opts != NULL ? opts->resolver : NULL, err, errlen);
    if (e->resolver == NULL) {
        conn_tls_destroy(&e->tls);
        free(e->rdap_source);
        free(e);
        return NULL;
    }
    return e;
}

unsigned probe_engine_active(const struct probe_engine *e)
{
    return e->active;
}

/* ---- finishing --------------------------------------------------------- */

static void wipe_free(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

static void on_probe_closed(uv_handle_t *h)
{
    struct probe *p = h->data;
    struct probe_engine *e = p->engine;
    probe_done_cb done = p->done;
    void *arg = p->done_arg;
    struct result r = p->result;

    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        e->head = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    for (int i = 0; i < 2; i++) {
        result_clear(&p->dnsbuf[i]);
        free(p->dnsdetail[i]);
    }
    wipe_free(p->password_copy);
    free(p->user_copy);
    free(p->via_copy);
    free(p->read_copy);
    free(p);

    e->in_callback++;
    done(&r, arg);
    e->in_callback--;
    e->active--;
    if (e->destroying && e->active == 0 && e->in_callback == 0)
        free_engine(e);
}

void probe_finish(struct probe *p)
{
    assert(p->state != PROBE_ST_CLOSING);
    set_state(p, PROBE_ST_CLOSING);
    p->result.phases_us[RESULT_PHASE_TOTAL] = clock_mono_us() - p->started_us;
    if (p->result.error == RESULT_OK)
        p->result.ok = true;
    uv_timer_stop(&p->deadline_timer);
    uv_close((uv_handle_t *)&p->deadline_timer, on_probe_closed);
}

void probe_classify_abort(struct probe *p, const struct conn *c, enum probe_abort why)
{
    double secs = (double)(p->deadline_us - p->started_us) / 1e6;
    if (why == PROBE_ABORT_SHUTDOWN) {
        result_fail(&p->result, RESULT_INTERNAL, "aborted: the agent is shutting down");
        return;
    }
    switch (c != NULL ? conn_state(c) : CONN_ST_OPEN) {
    case CONN_ST_IDLE:
    case CONN_ST_CONNECTING:
        result_fail(&p->result, RESULT_TCP_TIMEOUT, "no TCP connection within %.1f s", secs);
        break;
    case CONN_ST_HANDSHAKE:
        result_fail(&p->result, RESULT_TLS_HANDSHAKE_FAILED,
                    "the TLS handshake did not finish within %.1f s", secs);
        break;
    case CONN_ST_OPEN:
    case CONN_ST_TLS:
    case CONN_ST_DONE:
        result_fail(&p->result, RESULT_PROTO_TIMEOUT, "the server did not finish within %.1f s",
                    secs);
        break;
    case CONN_ST_LAST:
    default:
        abort();
    }
}

/* ---- resolution ----------------------------------------------------------- */

static void start_kind(struct probe *p)
{
    set_state(p, PROBE_ST_RUNNING);
    if (p->ops->start(p) < 0) {
        if (p->result.error == RESULT_OK)
            result_fail(&p->result, RESULT_INTERNAL, "the %s probe could not start", p->ops->name);
        probe_finish(p);
    }
}

static bool same_record(const struct result_dns *a, const struct result_dns *b)
{
    return a->name && b->name && a->type && b->type && strcmp(a->name, b->name) == 0 &&
           strcmp(a->type, b->type) == 0 && a->nanswers == b->nanswers &&
           (a->nanswers == 0 || strcmp(a->answers[0], b->answers[0]) == 0);
}

/* Moves buffered records into the result, A first, dropping the CNAME hops
 * that both queries met. */
static void keep_records(struct probe *p)
{
    for (int f = 0; f < 2; f++) {
        struct result *src = &p->dnsbuf[f];
        for (size_t i = 0; i < src->ndns; i++) {
            bool dup = false;
            for (size_t k = 0; k < p->result.ndns && !dup; k++)
                dup = same_record(&p->result.dns[k], &src->dns[i]);
            if (dup)
                continue;
            struct result_dns *d = result_add_dns(&p->result);
            if (d == NULL)
                break;
            *d = src->dns[i];
            memset(&src->dns[i], 0, sizeof(src->dns[i]));
        }
        result_clear(src);
    }
}

static void resolved(struct probe *p)
{
    keep_records(p);
    p->result.phases_us[RESULT_PHASE_DNS] = clock_mono_us() - p->started_us;
    /* RFC 8305 §4: alternate families, IPv6 first. */
    size_t i6 = 0, i4 = 0;
    while (p->naddrs < CONN_ADDRS_MAX && (i6 < p->nfound[1] || i4 < p->nfound[0])) {
        if (i6 < p->nfound[1])
            p->addrs[p->naddrs++] = p->found[1][i6++];
        if (i4 < p->nfound[0] && p->naddrs < CONN_ADDRS_MAX)
            p->addrs[p->naddrs++] = p->found[0][i4++];
    }
    if (p->naddrs == 0) {
        /* The A answer says most about a mail host; when it merely has no
         * data, the AAAA answer may say more (a timeout, a SERVFAIL). */
        int f = p->dnserr[0] == RESULT_DNS_NODATA && p->dnserr[1] != RESULT_DNS_NODATA &&
                        p->dnserr[1] != RESULT_OK
                    ? 1
                    : 0;
        enum result_error e = p->dnserr[f];
        if (e == RESULT_OK)
            e = RESULT_DNS_NODATA;
        result_fail(&p->result, e, "%s",
                    p->dnsdetail[f] != NULL ? p->dnsdetail[f] : "no address for the host");
        probe_finish(p);
        return;
    }
    start_kind(p);
}

static void on_addr_reply(struct probe *p, int f, struct resolver_reply *rep)
{
    p->q[f] = NULL;
    p->dnserr[f] = rep->error;
    if (rep->detail != NULL && rep->detail[0] != '\0')
        p->dnsdetail[f] = strndup(rep->detail, RESULT_STR_MAX);
    for (size_t i = 0; i < rep->naddrs && p->nfound[f] < CONN_ADDRS_MAX; i++)
        p->found[f][p->nfound[f]++] = rep->addrs[i];
    (void)resolver_reply_move(rep, &p->dnsbuf[f]);
    if (p->q[0] == NULL && p->q[1] == NULL)
        resolved(p);
}

static void on_a(struct resolver_reply *rep, void *arg)
{
    on_addr_reply(arg, 0, rep);
}

static void on_aaaa(struct resolver_reply *rep, void *arg)
{
    on_addr_reply(arg, 1, rep);
}

static void cancel_queries(struct probe *p)
{
    resolver_cancel(&p->q[0]);
    resolver_cancel(&p->q[1]);
}

/* ---- deadline -------------------------------------------------------------- */

static void deadline_fired(uv_timer_t *t)
{
    struct probe *p = t->data;
    /* libuv's loop clock is coarse (milliseconds, a cached coarse clock),
     * so a timer may fire a little before the deadline measured on
     * clock_mono_us(): wait out the rest rather than end early. */
    uint64_t now = clock_mono_us();
    if (p->state == PROBE_ST_RESOLVING && now < p->deadline_us) {
        uv_timer_start(&p->deadline_timer, deadline_fired, (p->deadline_us - now + 999) / 1000, 0);
        return;
    }
    switch (p->state) {
    case PROBE_ST_RESOLVING:
        cancel_queries(p);
        keep_records(p);
        p->result.phases_us[RESULT_PHASE_DNS] = clock_mono_us() - p->started_us;
        result_fail(&p->result, RESULT_DNS_TIMEOUT, "no DNS answer for %s within %.1f s",
                    p->spec.host, (double)(p->deadline_us - p->started_us) / 1e6);
        probe_finish(p);
        break;
    case PROBE_ST_RUNNING:
        if (p->ops->abort_grace &&
            clock_mono_us() < p->deadline_us + PROBE_ABORT_GRACE_MS * 1000u) {
            uv_timer_start(&p->deadline_timer, deadline_fired, PROBE_ABORT_GRACE_MS, 0);
            break;
        }
        if (!p->aborted) {
            p->aborted = true;
            p->ops->abort(p, PROBE_ABORT_DEADLINE);
        }
        break;
    case PROBE_ST_CLOSING:
        break;
    case PROBE_ST_LAST:
    default:
        abort();
    }
}

/* ---- start ------------------------------------------------------------------ */

static bool is_localhost(const char *host)
{
    size_t n = strlen(host);
    if (n > 0 && host[n - 1] == '.')
        n--;
    return (n == 9 && strncasecmp(host, "localhost", 9) == 0) ||
           (n > 10 && strncasecmp(host + n - 10, ".localhost", 10) == 0);
}

int probe_engine_start(struct probe_engine *e, const struct probe_params *pp, probe_done_cb done,
                       void *arg, char *err, size_t errlen)
{
    struct spec spec;
    char text[SPEC_TEXT_MAX + 1];
    if (e->destroying) {
        snprintf(err, errlen, "the probe engine is shutting down");
        return -1;
    }
    if (pp->check == NULL || spec_parse(pp->check, &spec, err, errlen) < 0)
        return -1;
    const struct probe_ops *ops = kind_ops(spec.kind);
    if (ops == NULL || ops->start == NULL) {
        snprintf(err, errlen, "%s: %s:// checks are not implemented in this build", pp->check,
                 spec_scheme(spec.kind));
        return -1;
    }
    struct probe *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    result_init(&p->result);
    spec_format(&spec, text, sizeof(text));
    if (result_set_str(&p->result.check, text) < 0 ||
        result_set_str(&p->result.target, pp->target) < 0 ||
        (pp->user != NULL && (p->user_copy = strdup(pp->user)) == NULL) ||
        (pp->password != NULL && (p->password_copy = strdup(pp->password)) == NULL) ||
        (pp->mailflow_via != NULL && (p->via_copy = strdup(pp->mailflow_via)) == NULL) ||
        (pp->mailflow_read != NULL && (p->read_copy = strdup(pp->mailflow_read)) == NULL)) {
        result_clear(&p->result);
        free(p->via_copy);
        free(p->read_copy);
        free(p->user_copy);
        wipe_free(p->password_copy);
        free(p);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    p->engine = e;
    p->loop = e->loop;
    p->ops = ops;
    p->spec = spec;
    p->tls = e->tls;
    p->resolver = e->resolver;
    p->user = p->user_copy;
    p->password = p->password_copy;
    p->agent_name = e->agent_name;
    p->mailflow_via = p->via_copy;
    p->mailflow_read = p->read_copy;
    p->done = done;
    p->done_arg = arg;
    p->result.discovered = pp->discovered;
    p->result.started_at_us = clock_wall_us();
    p->started_us = clock_mono_us();
    p->timeout_us = pp->timeout_us != 0            ? pp->timeout_us
                    : ops->default_timeout_us != 0 ? ops->default_timeout_us
                                                   : PROBE_TIMEOUT_DEFAULT_US;
    p->deadline_us = p->started_us + p->timeout_us + ops->cleanup_us;
    p->state = PROBE_ST_RESOLVING;

    uv_timer_init(e->loop, &p->deadline_timer);
    /* Refresh the loop's cached time, or the timer fires early by as much
     * as the loop has been busy since its last iteration. */
    uv_update_time(e->loop);
    p->deadline_timer.data = p;
    uv_timer_start(&p->deadline_timer, deadline_fired, (p->deadline_us - p->started_us) / 1000, 0);
    p->next = e->head;
    if (e->head != NULL)
        e->head->prev = p;
    e->head = p;
    e->active++;

    if (!ops->needs_addresses) {
        start_kind(p);
        return 0;
    }
    if (resolver_literal_address(spec.host, &p->addrs[0]) == 0) {
        p->naddrs = 1;
        start_kind(p);
        return 0;
    }
    if (is_localhost(spec.host)) {
        /* RFC 6761 §6.3: "localhost" is loopback and is not sent to DNS;
         * getaddrinfo() in mail clients answers it from /etc/hosts. */
        (void)resolver_literal_address("::1", &p->addrs[0]);
        (void)resolver_literal_address("127.0.0.1", &p->addrs[1]);
        p->naddrs = 2;
        start_kind(p);
        return 0;
    }
    char qerr[ERR_MAX];
    if (resolver_query(e->resolver, spec.host, ns_t_a, on_a, p, &p->q[0], qerr, sizeof(qerr)) < 0 ||
        resolver_query(e->resolver, spec.host, ns_t_aaaa, on_aaaa, p, &p->q[1], qerr,
                       sizeof(qerr)) < 0) {
        /* Our failure (no memory, a name c-ares rejects): data, not a
         * broken call, since the check itself was valid. */
        cancel_queries(p);
        result_fail(&p->result, RESULT_INTERNAL, "%s", qerr);
        probe_finish(p);
    }
    return 0;
}

void probe_engine_destroy(struct probe_engine **ep)
{
    if (ep == NULL || *ep == NULL)
        return;
    struct probe_engine *e = *ep;
    *ep = NULL;
    e->destroying = true;
    for (struct probe *p = e->head, *next; p != NULL; p = next) {
        next = p->next;
        switch (p->state) {
        case PROBE_ST_RESOLVING:
            cancel_queries(p);
            keep_records(p);
            result_fail(&p->result, RESULT_INTERNAL, "aborted: the agent is shutting down");
            probe_finish(p);
            break;
        case PROBE_ST_RUNNING:
            if (!p->aborted) {
                p->aborted = true;
                p->ops->abort(p, PROBE_ABORT_SHUTDOWN);
            }
            break;
        case PROBE_ST_CLOSING:
            break;
        case PROBE_ST_LAST:
        default:
            abort();
        }
    }
    resolver_destroy(&e->resolver);
    conn_tls_destroy(&e->tls);
    if (e->active == 0 && e->in_callback == 0)
        free_engine(e);
}

struct probe *probe_engine_first(const struct probe *p)
{
    return p->engine->head;
}

/* ---- registration (issue 10) ---- */

int probe_engine_set_rdap_bootstrap(struct probe_engine *e, const char *json, size_t len, char *err,
                                    size_t errlen)
{
    struct rdap_bootstrap *b = rdap_bootstrap_parse(json, len, err, errlen);
    if (b == NULL)
        return -1;
    rdap_bootstrap_destroy(&e->rdap_boot);
    e->rdap_boot = b;
    /* Pushed content is as fresh as the collector's; it never expires
     * here, the next push replaces it. */
    e->rdap_boot_at_us = UINT64_MAX;
    return 0;
}

int probe_engine_set_rdap_source(struct probe_engine *e, const char *source)
{
    if (source == NULL)
        source = PROBE_RDAP_BOOTSTRAP_DEFAULT;
    bool pushed = e->rdap_boot != NULL && e->rdap_boot_at_us == UINT64_MAX;
    if (strcmp(e->rdap_source, source) == 0 && !pushed)
        return 0;
    char *copy = strdup(source);
    if (copy == NULL)
        return -1;
    free(e->rdap_source);
    e->rdap_source = copy;
    rdap_bootstrap_destroy(&e->rdap_boot);
    e->rdap_boot_at_us = 0;
    return 0;
}

const struct rdap_bootstrap *probe_rdap_bootstrap(const struct probe *p)
{
    const struct probe_engine *e = p->engine;
    if (e->rdap_boot == NULL)
        return NULL;
    if (e->rdap_boot_at_us != UINT64_MAX &&
        clock_mono_us() - e->rdap_boot_at_us > PROBE_RDAP_BOOTSTRAP_TTL_US)
        return NULL;
    return e->rdap_boot;
}

void probe_rdap_bootstrap_keep(struct probe *p, struct rdap_bootstrap **b)
{
    struct probe_engine *e = p->engine;
    if (e->rdap_boot != NULL && e->rdap_boot_at_us == UINT64_MAX) {
        rdap_bootstrap_destroy(b); /* pushed content wins */
        return;
    }
    rdap_bootstrap_destroy(&e->rdap_boot);
    e->rdap_boot = *b;
    *b = NULL;
    e->rdap_boot_at_us = clock_mono_us();
}

const char *probe_rdap_bootstrap_source(const struct probe *p)
{
    return p->engine->rdap_source;
}

/* ---- end registration ---- */

bool probe_tracing(const struct probe *p)
{
    return p->engine->trace;
}
