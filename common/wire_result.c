/*
 * wire_result — protobuf-c encoding and validated decoding of one probe
 * result (wire_result_* in wire.h): the enum mappings to the proto, the
 * registration and autoconfig facts, and the checks a decoded result must
 * pass. The same bytes go in a batch, the agent's spool and its saved
 * targets. One of the common/wire*.c files, the only ones that include
 * vantage.pb-c.h (see wire.c).
 */
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vantage.pb-c.h"
#include "wire_internal.h"

/* The C enums and the proto's are one numbering: a value is appended to
 * both at the end, never moved (the store keeps these integers too). These
 * asserts catch a list that grew on one side only. */
_Static_assert((int)VANTAGE__ERROR_CODE__ERROR_AUTOCONFIG_INVALID ==
                       (int)RESULT_AUTOCONFIG_INVALID &&
                   (int)VANTAGE__ERROR_CODE__ERROR_DELIVERY_SLOW == (int)RESULT_DELIVERY_SLOW &&
                   (int)VANTAGE__ERROR_CODE__ERROR_REGISTRATION_EXPIRING ==
                       (int)RESULT_REGISTRATION_EXPIRING &&
                   (int)RESULT_REGISTRATION_EXPIRING + 1 == (int)RESULT_ERROR_LAST,
               "proto ErrorCode and enum result_error differ");
_Static_assert((int)VANTAGE__LAYER__LAYER_AUTOCONFIG == (int)RESULT_LAYER_AUTOCONFIG &&
                   (int)RESULT_LAYER_AUTOCONFIG + 1 == (int)RESULT_LAYER_LAST,
               "proto Layer and enum result_layer differ");

static Vantage__ErrorCode error_to_pb(enum result_error e)
{
    return (Vantage__ErrorCode)e;
}

/* -1 for a number this build does not know. */
static int error_from_pb(int v)
{
    return v >= 0 && v < (int)RESULT_ERROR_LAST ? v : -1;
}

static Vantage__Layer layer_to_pb(enum result_layer l)
{
    return (Vantage__Layer)l;
}

static enum result_layer layer_from_pb(int v)
{
    return v >= 0 && v < (int)RESULT_LAYER_LAST ? (enum result_layer)v : RESULT_LAYER_NONE;
}

/* ---- registration and autoconfig (issue 10): messages ------------------- */

/* The pieces encode allocates for the newer facts, freed after packing. */
struct ext_pb {
    Vantage__Registration reg;
    Vantage__AutoconfigSource *src;
    Vantage__AutoconfigSource **srcp;
    Vantage__AutoconfigServer *srv;
    Vantage__AutoconfigServer **srvp;
};

static int ext_to_pb(const struct result *r, Vantage__Result *m, struct ext_pb *x)
{
    memset(x, 0, sizeof(*x));
    if (r->registration != NULL) {
        const struct result_registration *g = r->registration;
        vantage__registration__init(&x->reg);
        x->reg.domain = g->domain;
        x->reg.registrar = g->registrar;
        x->reg.has_expires = x->reg.has_days_left = g->expires != 0;
        x->reg.expires = g->expires;
        x->reg.days_left = g->days_left;
        x->reg.n_status = g->nstatus;
        x->reg.status = g->status;
        x->reg.n_nameservers = g->nnameservers;
        x->reg.nameservers = g->nameservers;
        x->reg.rdap_url = g->rdap_url;
        m->registration = &x->reg;
    }
    m->has_retry_at_us = r->retry_at_us != 0;
    m->retry_at_us = r->retry_at_us;
    if (r->nautoconfig == 0)
        return 0;
    size_t nsrv = 0;
    for (size_t i = 0; i < r->nautoconfig; i++)
        nsrv += r->autoconfig[i].nservers;
    x->src = calloc(r->nautoconfig, sizeof(*x->src));
    x->srcp = calloc(r->nautoconfig, sizeof(*x->srcp));
    x->srv = calloc(nsrv ? nsrv : 1, sizeof(*x->srv));
    x->srvp = calloc(nsrv ? nsrv : 1, sizeof(*x->srvp));
    if (x->src == NULL || x->srcp == NULL || x->srv == NULL || x->srvp == NULL)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < r->nautoconfig; i++) {
        const struct result_autoconfig *a = &r->autoconfig[i];
        Vantage__AutoconfigSource *ps = &x->src[i];
        vantage__autoconfig_source__init(ps);
        ps->source = a->source;
        ps->url = a->url;
        ps->answer = a->answer;
        ps->n_servers = a->nservers;
        ps->servers = &x->srvp[k];
        for (size_t j = 0; j < a->nservers; j++, k++) {
            vantage__autoconfig_server__init(&x->srv[k]);
            x->srv[k].protocol = a->servers[j].protocol;
            x->srv[k].host = a->servers[j].host;
            x->srv[k].has_port = 1;
            x->srv[k].port = a->servers[j].port;
            x->srv[k].socket = a->servers[j].socket;
            x->srvp[k] = &x->srv[k];
        }
        x->srcp[i] = ps;
    }
    m->n_autoconfig = r->nautoconfig;
    m->autoconfig = x->srcp;
    return 0;
}

static void ext_free(struct ext_pb *x)
{
    free(x->src);
    free(x->srcp);
    free(x->srv);
    free(x->srvp);
}

static int ext_valid(const Vantage__Result *m, char *err, size_t errlen)
{
    if (m->registration != NULL) {
        const Vantage__Registration *g = m->registration;
        if (!wire_str_ok(g->domain, RESULT_NAME_MAX, "registration domain", err, errlen) ||
            !wire_str_ok(g->registrar, RESULT_STR_MAX, "registrar", err, errlen) ||
            !wire_str_ok(g->rdap_url, RESULT_STR_MAX, "rdap_url", err, errlen))
            return 0;
        if (g->has_expires && (g->expires < WIRE_TIME_MIN_S || g->expires > WIRE_TIME_MAX_S)) {
            snprintf(err, errlen, "registration expiry out of range");
            return 0;
        }
        if (g->n_status > RESULT_LIST_MAX || g->n_nameservers > RESULT_LIST_MAX) {
            snprintf(err, errlen, "more than %d registration status values or name servers",
                     RESULT_LIST_MAX);
            return 0;
        }
        for (size_t j = 0; j < g->n_status; j++)
            if (!wire_str_ok(g->status[j], RESULT_NAME_MAX, "registration status", err, errlen))
                return 0;
        for (size_t j = 0; j < g->n_nameservers; j++)
            if (!wire_str_ok(g->nameservers[j], RESULT_NAME_MAX, "name server", err, errlen))
                return 0;
    }
    if (m->has_retry_at_us && (m->retry_at_us < 0 || m->retry_at_us / 1000000 > WIRE_TIME_MAX_S)) {
        snprintf(err, errlen, "retry_at out of range");
        return 0;
    }
    if (m->n_autoconfig > RESULT_AUTOCONFIG_SOURCES_MAX) {
        snprintf(err, errlen, "more than %d autoconfig sources", RESULT_AUTOCONFIG_SOURCES_MAX);
        return 0;
    }
    for (size_t i = 0; i < m->n_autoconfig; i++) {
        const Vantage__AutoconfigSource *a = m->autoconfig[i];
        if (!wire_str_ok(a->source, 32, "autoconfig source", err, errlen) ||
            !wire_str_ok(a->url, RESULT_STR_MAX, "autoconfig url", err, errlen) ||
            !wire_str_ok(a->answer, RESULT_STR_MAX, "autoconfig answer", err, errlen))
            return 0;
        if (a->n_servers > RESULT_AUTOCONFIG_SERVERS_MAX) {
            snprintf(err, errlen, "more than %d servers from one autoconfig source",
                     RESULT_AUTOCONFIG_SERVERS_MAX);
            return 0;
        }
        for (size_t j = 0; j < a->n_servers; j++) {
            const Vantage__AutoconfigServer *v = a->servers[j];
            if (!wire_str_ok(v->protocol, 16, "autoconfig protocol", err, errlen) ||
                !wire_str_ok(v->host, RESULT_NAME_MAX, "autoconfig host", err, errlen) ||
                !wire_str_ok(v->socket, 16, "autoconfig socket", err, errlen))
                return 0;
            if (v->has_port && v->port > 65535) {
                snprintf(err, errlen, "autoconfig port %u out of range", v->port);
                return 0;
            }
        }
    }
    return 1;
}

/* ---- results ------------------------------------------------------------- */

int wire_result_encode(const struct result *r, uint8_t **buf, size_t *len)
{
    Vantage__Result m = VANTAGE__RESULT__INIT;
    Vantage__Phases ph = VANTAGE__PHASES__INIT;
    Vantage__TlsFacts tls = VANTAGE__TLS_FACTS__INIT;
    Vantage__DeliveryFacts dlv = VANTAGE__DELIVERY_FACTS__INIT;
    Vantage__DnsAnswer *dns = NULL;
    Vantage__DnsAnswer **dnsp = NULL;
    int rc = -1;

    m.has_seq = r->has_seq;
    m.seq = r->seq;
    m.target = r->target;
    m.check = r->check;
    m.has_discovered = r->discovered;
    m.discovered = r->discovered;
    m.has_started_at_us = 1;
    m.started_at_us = r->started_at_us;
    m.has_ok = 1;
    m.ok = r->ok;
    m.has_layer = r->layer != RESULT_LAYER_NONE;
    m.layer = layer_to_pb(r->layer);
    m.has_error = 1;
    m.error = error_to_pb(r->error);
    m.detail = r->detail;
    uint64_t *slots[RESULT_PHASE_LAST] = {&ph.dns,      &ph.connect,  &ph.tls,  &ph.greeting,
                                          &ph.starttls, &ph.auth,     &ph.http, &ph.total,
                                          &ph.submit,   &ph.delivery, &ph.fetch};
    protobuf_c_boolean *has[RESULT_PHASE_LAST] = {
        &ph.has_dns,      &ph.has_connect,  &ph.has_tls,  &ph.has_greeting,
        &ph.has_starttls, &ph.has_auth,     &ph.has_http, &ph.has_total,
        &ph.has_submit,   &ph.has_delivery, &ph.has_fetch};
    for (int i = 0; i < RESULT_PHASE_LAST; i++) {
        *slots[i] = r->phases_us[i];
        *has[i] = r->phases_us[i] != 0;
    }
    m.phases = &ph;
    m.address = r->address;
    m.has_port = r->port != 0;
    m.port = r->port;
    if (r->tls != NULL) {
        tls.version = r->tls->version;
        tls.cipher = r->tls->cipher;
        tls.subject = r->tls->subject;
        tls.issuer = r->tls->issuer;
        tls.n_sans = r->tls->nsans;
        tls.sans = r->tls->sans;
        tls.has_not_after = r->tls->not_after != 0;
        tls.not_after = r->tls->not_after;
        tls.has_days_left = r->tls->not_after != 0;
        tls.days_left = r->tls->days_left;
        tls.sha256 = r->tls->sha256;
        tls.verify = r->tls->verify;
        m.tls = &tls;
    }
    m.banner = r->banner;
    if (r->delivery != NULL) {
        const struct result_delivery *d = r->delivery;
        dlv.message_id = d->message_id;
        dlv.has_submitted_at_us = d->submitted_at_us != 0;
        dlv.submitted_at_us = d->submitted_at_us;
        dlv.has_arrived_at_us = d->arrived_at_us != 0;
        dlv.arrived_at_us = d->arrived_at_us;
        dlv.has_delivery_us = d->arrived_at_us != 0;
        dlv.delivery_us = d->delivery_us;
        dlv.folder = d->folder;
        m.delivery = &dlv;
    }
    if (r->ndns > 0) {
        dns = calloc(r->ndns, sizeof(*dns));
        dnsp = calloc(r->ndns, sizeof(*dnsp));
        if (dns == NULL || dnsp == NULL)
            goto out;
        for (size_t i = 0; i < r->ndns; i++) {
            const struct result_dns *d = &r->dns[i];
            vantage__dns_answer__init(&dns[i]);
            dns[i].name = d->name;
            dns[i].type = d->type;
            dns[i].rcode = d->rcode;
            dns[i].n_answers = d->nanswers;
            dns[i].answers = d->answers;
            dns[i].has_ttl = 1;
            dns[i].ttl = d->ttl;
            dns[i].resolver = d->resolver;
            dnsp[i] = &dns[i];
        }
        m.n_dns = r->ndns;
        m.dns = dnsp;
    }
    struct ext_pb ext;
    if (ext_to_pb(r, &m, &ext) < 0)
        goto out_ext;
    *len = vantage__result__get_packed_size(&m);
    *buf = malloc(*len ? *len : 1);
    if (*buf == NULL)
        goto out_ext;
    vantage__result__pack(&m, *buf);
    rc = 0;
out_ext:
    ext_free(&ext);
out:
    free(dns);
    free(dnsp);
    return rc;
}

static int result_valid(const Vantage__Result *m, char *err, size_t errlen)
{
    if (!wire_str_ok(m->target, RESULT_NAME_MAX, "target", err, errlen) ||
        !wire_str_ok(m->check, RESULT_STR_MAX, "check", err, errlen) ||
        !wire_str_ok(m->detail, RESULT_STR_MAX, "detail", err, errlen) ||
        !wire_str_ok(m->address, RESULT_NAME_MAX, "address", err, errlen) ||
        !wire_str_ok(m->banner, RESULT_STR_MAX, "banner", err, errlen))
        return 0;
    if (m->check == NULL || m->check[0] == '\0') {
        snprintf(err, errlen, "result without a check");
        return 0;
    }
    if (!m->has_started_at_us || m->started_at_us <= 0 ||
        m->started_at_us / 1000000 > WIRE_TIME_MAX_S) {
        snprintf(err, errlen, "result without a plausible start time");
        return 0;
    }
    if (m->has_port && m->port > 65535) {
        snprintf(err, errlen, "port %u out of range", m->port);
        return 0;
    }
    if (m->n_dns > RESULT_LIST_MAX) {
        snprintf(err, errlen, "more than %d DNS answers", RESULT_LIST_MAX);
        return 0;
    }
    for (size_t i = 0; i < m->n_dns; i++) {
        const Vantage__DnsAnswer *d = m->dns[i];
        if (!wire_str_ok(d->name, RESULT_NAME_MAX, "dns name", err, errlen) ||
            !wire_str_ok(d->type, 16, "dns type", err, errlen) ||
            !wire_str_ok(d->rcode, 16, "dns rcode", err, errlen) ||
            !wire_str_ok(d->resolver, RESULT_NAME_MAX, "dns resolver", err, errlen))
            return 0;
        if (d->n_answers > RESULT_LIST_MAX) {
            snprintf(err, errlen, "more than %d answers in one DNS record", RESULT_LIST_MAX);
            return 0;
        }
        for (size_t j = 0; j < d->n_answers; j++)
            if (!wire_str_ok(d->answers[j], RESULT_STR_MAX, "dns answer", err, errlen))
                return 0;
    }
    if (m->delivery != NULL) {
        const Vantage__DeliveryFacts *d = m->delivery;
        if (!wire_str_ok(d->message_id, RESULT_NAME_MAX, "delivery message_id", err, errlen) ||
            !wire_str_ok(d->folder, RESULT_NAME_MAX, "delivery folder", err, errlen))
            return 0;
        /* Microseconds of years 1..9999, like every other time. */
        if ((d->has_submitted_at_us && (d->submitted_at_us < WIRE_TIME_MIN_S * 1000000 ||
                                        d->submitted_at_us > WIRE_TIME_MAX_S * 1000000)) ||
            (d->has_arrived_at_us && (d->arrived_at_us < WIRE_TIME_MIN_S * 1000000 ||
                                      d->arrived_at_us > WIRE_TIME_MAX_S * 1000000))) {
            snprintf(err, errlen, "delivery time out of range");
            return 0;
        }
    }
    if (m->tls != NULL) {
        const Vantage__TlsFacts *t = m->tls;
        if (!wire_str_ok(t->version, 32, "tls version", err, errlen) ||
            !wire_str_ok(t->cipher, 128, "tls cipher", err, errlen) ||
            !wire_str_ok(t->subject, RESULT_STR_MAX, "tls subject", err, errlen) ||
            !wire_str_ok(t->issuer, RESULT_STR_MAX, "tls issuer", err, errlen) ||
            !wire_str_ok(t->sha256, 128, "tls sha256", err, errlen) ||
            !wire_str_ok(t->verify, RESULT_STR_MAX, "tls verify", err, errlen))
            return 0;
        if (t->has_not_after &&
            (t->not_after < WIRE_TIME_MIN_S || t->not_after > WIRE_TIME_MAX_S)) {
            snprintf(err, errlen, "tls not_after out of range");
            return 0;
        }
        if (t->n_sans > RESULT_LIST_MAX) {
            snprintf(err, errlen, "more than %d SANs", RESULT_LIST_MAX);
            return 0;
        }
        for (size_t j = 0; j < t->n_sans; j++)
            if (!wire_str_ok(t->sans[j], RESULT_NAME_MAX, "tls SAN", err, errlen))
                return 0;
    }
    return ext_valid(m, err, errlen);
}

/* Fills r from m. Without an arena every string is copied to the heap
 * (result_clear frees them); with one, strings and lists are borrowed from
 * m, which lives in the same arena, and the few allocations come from it. */
static int result_from_pb(const Vantage__Result *m, struct result *r, struct wire_arena *a)
{
#define TAKE_STR(dst, src) (a ? ((dst) = (src), 0) : wire_dup_str(&(dst), (src)))
#define TAKE_LIST(dst, n, src, nsrc)                                                               \
    (a ? ((dst) = (src), (n) = (nsrc), 0) : wire_dup_list(&(dst), &(n), (src), (nsrc)))
    r->has_seq = m->has_seq;
    r->seq = m->seq;
    r->discovered = m->has_discovered && m->discovered;
    r->started_at_us = m->started_at_us;
    r->layer = m->has_layer ? layer_from_pb((int)m->layer) : RESULT_LAYER_NONE;
    int error = m->has_error ? error_from_pb((int)m->error) : RESULT_OK;
    r->error = error < 0 ? RESULT_ERROR_LAST : (enum result_error)error;
    if ((unsigned)r->error >= RESULT_ERROR_LAST || result_error_of_finding(r->error)) {
        /* A newer agent's code, or one only a finding carries: keep the
         * fact that it failed. */
        char detail[96];
        if (result_error_of_finding(r->error))
            snprintf(detail, sizeof(detail), "error code %d (%s) names a finding, not a result",
                     (int)m->error, result_error_name(r->error));
        else
            snprintf(detail, sizeof(detail), "unknown error code %d from a newer agent",
                     (int)m->error);
        r->error = RESULT_INTERNAL;
        if (a != NULL) {
            size_t len = strlen(detail) + 1;
            r->detail = wire_arena_pb_alloc(a, len);
            if (r->detail == NULL)
                return -1;
            memcpy(r->detail, detail, len);
        } else if (result_set_str(&r->detail, detail) < 0)
            return -1;
    } else if (TAKE_STR(r->detail, m->detail) < 0)
        return -1;
    r->ok = r->error == RESULT_OK;
    if (TAKE_STR(r->target, m->target) < 0 || TAKE_STR(r->check, m->check) < 0 ||
        TAKE_STR(r->address, m->address) < 0 || TAKE_STR(r->banner, m->banner) < 0)
        return -1;
    r->port = m->has_port ? (uint16_t)m->port : 0;
    if (m->phases != NULL) {
        const Vantage__Phases *p = m->phases;
        uint64_t v[RESULT_PHASE_LAST] = {p->dns,      p->connect,  p->tls,  p->greeting,
                                         p->starttls, p->auth,     p->http, p->total,
                                         p->submit,   p->delivery, p->fetch};
        memcpy(r->phases_us, v, sizeof(v));
    }
    if (m->tls != NULL) {
        const Vantage__TlsFacts *t = m->tls;
        struct result_tls *rt = a ? wire_arena_pb_alloc(a, sizeof(*rt)) : result_tls_new(r);
        if (rt == NULL)
            return -1;
        if (a != NULL) {
            memset(rt, 0, sizeof(*rt));
            r->tls = rt;
        }
        if (TAKE_STR(rt->version, t->version) < 0 || TAKE_STR(rt->cipher, t->cipher) < 0 ||
            TAKE_STR(rt->subject, t->subject) < 0 || TAKE_STR(rt->issuer, t->issuer) < 0 ||
            TAKE_STR(rt->sha256, t->sha256) < 0 || TAKE_STR(rt->verify, t->verify) < 0 ||
            TAKE_LIST(rt->sans, rt->nsans, t->sans, t->n_sans) < 0)
            return -1;
        rt->not_after = t->has_not_after ? t->not_after : 0;
        rt->days_left = t->has_days_left ? t->days_left : 0;
    }
    if (m->delivery != NULL) {
        const Vantage__DeliveryFacts *d = m->delivery;
        struct result_delivery *rd =
            a ? wire_arena_pb_alloc(a, sizeof(*rd)) : result_delivery_new(r);
        if (rd == NULL)
            return -1;
        if (a != NULL) {
            memset(rd, 0, sizeof(*rd));
            r->delivery = rd;
        }
        if (TAKE_STR(rd->message_id, d->message_id) < 0 || TAKE_STR(rd->folder, d->folder) < 0)
            return -1;
        rd->submitted_at_us = d->has_submitted_at_us ? d->submitted_at_us : 0;
        rd->arrived_at_us = d->has_arrived_at_us ? d->arrived_at_us : 0;
        rd->delivery_us = d->has_delivery_us ? d->delivery_us : 0;
    }
    if (m->n_dns > 0) {
        size_t bytes = m->n_dns * sizeof(*r->dns);
        r->dns = a ? wire_arena_pb_alloc(a, bytes) : calloc(m->n_dns, sizeof(*r->dns));
        if (r->dns == NULL)
            return -1;
        if (a != NULL)
            memset(r->dns, 0, bytes);
        for (size_t i = 0; i < m->n_dns; i++) {
            const Vantage__DnsAnswer *d = m->dns[i];
            struct result_dns *rd = &r->dns[i];
            r->ndns++;
            if (TAKE_STR(rd->name, d->name) < 0 || TAKE_STR(rd->type, d->type) < 0 ||
                TAKE_STR(rd->rcode, d->rcode) < 0 || TAKE_STR(rd->resolver, d->resolver) < 0 ||
                TAKE_LIST(rd->answers, rd->nanswers, d->answers, d->n_answers) < 0)
                return -1;
            rd->ttl = d->has_ttl ? d->ttl : 0;
        }
    }
    /* ---- registration and autoconfig (issue 10) ---- */
    r->retry_at_us = m->has_retry_at_us ? m->retry_at_us : 0;
    if (m->registration != NULL) {
        const Vantage__Registration *g = m->registration;
        struct result_registration *rg =
            a ? wire_arena_pb_alloc(a, sizeof(*rg)) : result_registration_new(r);
        if (rg == NULL)
            return -1;
        if (a != NULL) {
            memset(rg, 0, sizeof(*rg));
            r->registration = rg;
        }
        if (TAKE_STR(rg->domain, g->domain) < 0 || TAKE_STR(rg->registrar, g->registrar) < 0 ||
            TAKE_STR(rg->rdap_url, g->rdap_url) < 0 ||
            TAKE_LIST(rg->status, rg->nstatus, g->status, g->n_status) < 0 ||
            TAKE_LIST(rg->nameservers, rg->nnameservers, g->nameservers, g->n_nameservers) < 0)
            return -1;
        rg->expires = g->has_expires ? g->expires : 0;
        rg->days_left = g->has_days_left ? g->days_left : 0;
    }
    if (m->n_autoconfig > 0) {
        size_t bytes = m->n_autoconfig * sizeof(*r->autoconfig);
        r->autoconfig =
            a ? wire_arena_pb_alloc(a, bytes) : calloc(m->n_autoconfig, sizeof(*r->autoconfig));
        if (r->autoconfig == NULL)
            return -1;
        if (a != NULL)
            memset(r->autoconfig, 0, bytes);
        for (size_t i = 0; i < m->n_autoconfig; i++) {
            const Vantage__AutoconfigSource *ps = m->autoconfig[i];
            struct result_autoconfig *ra = &r->autoconfig[i];
            r->nautoconfig++;
            if (TAKE_STR(ra->source, ps->source) < 0 || TAKE_STR(ra->url, ps->url) < 0 ||
                TAKE_STR(ra->answer, ps->answer) < 0)
                return -1;
            if (ps->n_servers == 0)
                continue;
            size_t sbytes = ps->n_servers * sizeof(*ra->servers);
            ra->servers =
                a ? wire_arena_pb_alloc(a, sbytes) : calloc(ps->n_servers, sizeof(*ra->servers));
            if (ra->servers == NULL)
                return -1;
            if (a != NULL)
                memset(ra->servers, 0, sbytes);
            for (size_t j = 0; j < ps->n_servers; j++) {
                const Vantage__AutoconfigServer *v = ps->servers[j];
                struct result_autoconfig_server *rv = &ra->servers[j];
                ra->nservers++;
                if (TAKE_STR(rv->protocol, v->protocol) < 0 || TAKE_STR(rv->host, v->host) < 0 ||
                    TAKE_STR(rv->socket, v->socket) < 0)
                    return -1;
                rv->port = v->has_port ? (uint16_t)v->port : 0;
            }
        }
    }
    /* ---- end registration and autoconfig ---- */
    return 0;
#undef TAKE_STR
#undef TAKE_LIST
}

int wire_result_decode(const uint8_t *buf, size_t len, struct result *out, char *err, size_t errlen)
{
    result_init(out);
    if (len > WIRE_MSG_MAX) {
        snprintf(err, errlen, "result of %zu bytes exceeds %d", len, WIRE_MSG_MAX);
        return -1;
    }
    Vantage__Result *m = vantage__result__unpack(NULL, len, buf);
    if (m == NULL) {
        snprintf(err, errlen, "malformed result (%zu bytes)", len);
        return -1;
    }
    int rc = -1;
    if (!result_valid(m, err, errlen))
        goto out;
    if (result_from_pb(m, out, NULL) < 0) {
        snprintf(err, errlen, "out of memory decoding a result");
        result_clear(out);
        goto out;
    }
    rc = 0;
out:
    vantage__result__free_unpacked(m, NULL);
    return rc;
}

int wire_result_decode_in(struct wire_arena *a, const uint8_t *buf, size_t len, struct result *out,
                          char *err, size_t errlen)
{
    result_init(out);
    if (len > WIRE_MSG_MAX) {
        snprintf(err, errlen, "result of %zu bytes exceeds %d", len, WIRE_MSG_MAX);
        return -1;
    }
    ProtobufCAllocator alloc = {
        .alloc = wire_arena_pb_alloc, .free = wire_arena_pb_free, .allocator_data = a};
    Vantage__Result *m = vantage__result__unpack(&alloc, len, buf);
    if (m == NULL) {
        snprintf(err, errlen, "malformed result (%zu bytes)", len);
        return -1;
    }
    if (!result_valid(m, err, errlen))
        return -1;
    if (result_from_pb(m, out, a) < 0) {
        snprintf(err, errlen, "out of memory decoding a result");
        result_init(out);
        return -1;
    }
    return 0;
}
