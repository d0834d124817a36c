/*
 * wire — protobuf-c encoding and validated decoding of every message
 * (wire.h). The only file that includes the generated vantage.pb-c.h.
 */
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vantage.pb-c.h"

static const char *const kind_names[WIRE_KIND_LAST] = {
    "hello", "batch", "ack", "config", "run_now", "heartbeat", "enroll", "enrolled",
};

const char *wire_kind_name(enum wire_kind kind)
{
    return (unsigned)kind < WIRE_KIND_LAST ? kind_names[kind] : "unknown";
}

/* ---- validation helpers ------------------------------------------------ */

/* Whether s is well-formed UTF-8 (no overlong forms, no surrogates). A
 * probe copies server text as printable ASCII, so only a broken or hostile
 * peer sends anything else, and every consumer (JSON, a PostgreSQL store)
 * needs valid text. */
static int utf8_ok(const unsigned char *s)
{
    while (*s) {
        if (*s < 0x80) {
            s++;
            continue;
        }
        int n;
        uint32_t cp;
        if ((*s & 0xe0) == 0xc0) {
            n = 1;
            cp = *s & 0x1f;
        } else if ((*s & 0xf0) == 0xe0) {
            n = 2;
            cp = *s & 0x0f;
        } else if ((*s & 0xf8) == 0xf0) {
            n = 3;
            cp = *s & 0x07;
        } else {
            return 0;
        }
        for (int i = 1; i <= n; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i] & 0x3f);
        }
        static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        s += n + 1;
    }
    return 1;
}

/* Whether s has no byte above 0x7f, eight bytes at a time: nearly every
 * string is ASCII, and this runs for every field of every result. */
static int ascii_only(const char *s)
{
    size_t len = strlen(s), i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & 0x8080808080808080ULL)
            return 0;
    }
    for (; i < len; i++)
        if ((unsigned char)s[i] & 0x80)
            return 0;
    return 1;
}

/* A decoded string is acceptable when absent, or at most max bytes of
 * UTF-8. */
static int str_ok(const char *s, size_t max, const char *what, char *err, size_t errlen)
{
    if (s != NULL && strnlen(s, max + 1) > max) {
        snprintf(err, errlen, "%s longer than %zu bytes", what, max);
        return 0;
    }
    if (s != NULL && !ascii_only(s) && !utf8_ok((const unsigned char *)s)) {
        snprintf(err, errlen, "%s is not UTF-8 text", what);
        return 0;
    }
    return 1;
}

/* Times outside years 1..9999 cannot be printed as ISO 8601 and are no
 * real probe's: refused rather than overflowed. */
#define WIRE_TIME_MIN_S (-62135596800LL)
#define WIRE_TIME_MAX_S 253402300799LL

static int dup_str(char **dst, const char *src)
{
    if (src == NULL) {
        *dst = NULL;
        return 0;
    }
    *dst = strdup(src);
    return *dst ? 0 : -1;
}

static int dup_list(char ***dst, size_t *n, char **src, size_t nsrc)
{
    *dst = NULL;
    *n = 0;
    if (nsrc == 0)
        return 0;
    *dst = calloc(nsrc, sizeof(char *));
    if (*dst == NULL)
        return -1;
    for (size_t i = 0; i < nsrc; i++) {
        if (dup_str(&(*dst)[i], src[i] ? src[i] : "") < 0)
            return -1;
        (*n)++;
    }
    return 0;
}

/* ---- arena ----------------------------------------------------------------- */

/* Blocks of this size hold a batch's decoded results with few blocks; a
 * larger single allocation gets a block of its own. */
#define ARENA_BLOCK 65536

struct arena_block {
    struct arena_block *next;
    size_t cap;
    size_t used;
    max_align_t data[];
};

struct wire_arena {
    struct arena_block *head;
};

struct wire_arena *wire_arena_create(void)
{
    return calloc(1, sizeof(struct wire_arena));
}

static void *arena_alloc(void *data, size_t size)
{
    struct wire_arena *a = data;
    size = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    struct arena_block *b = a->head;
    if (b == NULL || b->cap - b->used < size) {
        size_t cap = size > ARENA_BLOCK ? size : ARENA_BLOCK;
        b = malloc(sizeof(*b) + cap);
        if (b == NULL)
            return NULL;
        b->cap = cap;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += size;
    return p;
}

static void arena_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr; /* everything goes at wire_arena_reset() */
}

void wire_arena_reset(struct wire_arena *a)
{
    if (a == NULL || a->head == NULL)
        return;
    /* Keep one block: the next batch reuses it without a malloc. */
    struct arena_block *keep = a->head;
    while (keep->next != NULL && keep->cap != ARENA_BLOCK)
        keep = keep->next;
    for (struct arena_block *b = a->head, *next; b != NULL; b = next) {
        next = b->next;
        if (b != keep)
            free(b);
    }
    if (keep->cap == ARENA_BLOCK) {
        keep->next = NULL;
        keep->used = 0;
        a->head = keep;
    } else {
        free(keep);
        a->head = NULL;
    }
}

void wire_arena_destroy(struct wire_arena **ap)
{
    if (ap == NULL || *ap == NULL)
        return;
    for (struct arena_block *b = (*ap)->head, *next; b != NULL; b = next) {
        next = b->next;
        free(b);
    }
    free(*ap);
    *ap = NULL;
}

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
        if (!str_ok(g->domain, RESULT_NAME_MAX, "registration domain", err, errlen) ||
            !str_ok(g->registrar, RESULT_STR_MAX, "registrar", err, errlen) ||
            !str_ok(g->rdap_url, RESULT_STR_MAX, "rdap_url", err, errlen))
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
            if (!str_ok(g->status[j], RESULT_NAME_MAX, "registration status", err, errlen))
                return 0;
        for (size_t j = 0; j < g->n_nameservers; j++)
            if (!str_ok(g->nameservers[j], RESULT_NAME_MAX, "name server", err, errlen))
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
        if (!str_ok(a->source, 32, "autoconfig source", err, errlen) ||
            !str_ok(a->url, RESULT_STR_MAX, "autoconfig url", err, errlen) ||
            !str_ok(a->answer, RESULT_STR_MAX, "autoconfig answer", err, errlen))
            return 0;
        if (a->n_servers > RESULT_AUTOCONFIG_SERVERS_MAX) {
            snprintf(err, errlen, "more than %d servers from one autoconfig source",
                     RESULT_AUTOCONFIG_SERVERS_MAX);
            return 0;
        }
        for (size_t j = 0; j < a->n_servers; j++) {
            const Vantage__AutoconfigServer *v = a->servers[j];
            if (!str_ok(v->protocol, 16, "autoconfig protocol", err, errlen) ||
                !str_ok(v->host, RESULT_NAME_MAX, "autoconfig host", err, errlen) ||
                !str_ok(v->socket, 16, "autoconfig socket", err, errlen))
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
    if (!str_ok(m->target, RESULT_NAME_MAX, "target", err, errlen) ||
        !str_ok(m->check, RESULT_STR_MAX, "check", err, errlen) ||
        !str_ok(m->detail, RESULT_STR_MAX, "detail", err, errlen) ||
        !str_ok(m->address, RESULT_NAME_MAX, "address", err, errlen) ||
        !str_ok(m->banner, RESULT_STR_MAX, "banner", err, errlen))
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
        if (!str_ok(d->name, RESULT_NAME_MAX, "dns name", err, errlen) ||
            !str_ok(d->type, 16, "dns type", err, errlen) ||
            !str_ok(d->rcode, 16, "dns rcode", err, errlen) ||
            !str_ok(d->resolver, RESULT_NAME_MAX, "dns resolver", err, errlen))
            return 0;
        if (d->n_answers > RESULT_LIST_MAX) {
            snprintf(err, errlen, "more than %d answers in one DNS record", RESULT_LIST_MAX);
            return 0;
        }
        for (size_t j = 0; j < d->n_answers; j++)
            if (!str_ok(d->answers[j], RESULT_STR_MAX, "dns answer", err, errlen))
                return 0;
    }
    if (m->delivery != NULL) {
        const Vantage__DeliveryFacts *d = m->delivery;
        if (!str_ok(d->message_id, RESULT_NAME_MAX, "delivery message_id", err, errlen) ||
            !str_ok(d->folder, RESULT_NAME_MAX, "delivery folder", err, errlen))
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
        if (!str_ok(t->version, 32, "tls version", err, errlen) ||
            !str_ok(t->cipher, 128, "tls cipher", err, errlen) ||
            !str_ok(t->subject, RESULT_STR_MAX, "tls subject", err, errlen) ||
            !str_ok(t->issuer, RESULT_STR_MAX, "tls issuer", err, errlen) ||
            !str_ok(t->sha256, 128, "tls sha256", err, errlen) ||
            !str_ok(t->verify, RESULT_STR_MAX, "tls verify", err, errlen))
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
            if (!str_ok(t->sans[j], RESULT_NAME_MAX, "tls SAN", err, errlen))
                return 0;
    }
    return ext_valid(m, err, errlen);
}

/* Fills r from m. Without an arena every string is copied to the heap
 * (result_clear frees them); with one, strings and lists are borrowed from
 * m, which lives in the same arena, and the few allocations come from it. */
static int result_from_pb(const Vantage__Result *m, struct result *r, struct wire_arena *a)
{
#define TAKE_STR(dst, src) (a ? ((dst) = (src), 0) : dup_str(&(dst), (src)))
#define TAKE_LIST(dst, n, src, nsrc)                                                               \
    (a ? ((dst) = (src), (n) = (nsrc), 0) : dup_list(&(dst), &(n), (src), (nsrc)))
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
            r->detail = arena_alloc(a, len);
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
        struct result_tls *rt = a ? arena_alloc(a, sizeof(*rt)) : result_tls_new(r);
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
        struct result_delivery *rd = a ? arena_alloc(a, sizeof(*rd)) : result_delivery_new(r);
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
        r->dns = a ? arena_alloc(a, bytes) : calloc(m->n_dns, sizeof(*r->dns));
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
            a ? arena_alloc(a, sizeof(*rg)) : result_registration_new(r);
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
        r->autoconfig = a ? arena_alloc(a, bytes) : calloc(m->n_autoconfig, sizeof(*r->autoconfig));
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
            ra->servers = a ? arena_alloc(a, sbytes) : calloc(ps->n_servers, sizeof(*ra->servers));
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
    ProtobufCAllocator alloc = {.alloc = arena_alloc, .free = arena_free, .allocator_data = a};
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

/* ---- envelopes ------------------------------------------------------------ */

static void stats_to_pb(const struct wire_spool_stats *s, Vantage__SpoolStats *p)
{
    vantage__spool_stats__init(p);
    p->has_pending = p->has_dropped = p->has_next_seq = 1;
    p->pending = s->pending;
    p->dropped = s->dropped;
    p->next_seq = s->next_seq;
}

static void stats_from_pb(const Vantage__SpoolStats *p, struct wire_spool_stats *s)
{
    memset(s, 0, sizeof(*s));
    if (p == NULL)
        return;
    s->pending = p->pending;
    s->dropped = p->dropped;
    s->next_seq = p->next_seq;
}

int wire_msg_encode(const struct wire_msg *m, uint8_t **buf, size_t *len)
{
    Vantage__Envelope env = VANTAGE__ENVELOPE__INIT;
    Vantage__Hello hello = VANTAGE__HELLO__INIT;
    Vantage__NetContext net = VANTAGE__NET_CONTEXT__INIT;
    Vantage__SpoolStats stats;
    Vantage__ResultBatch batch = VANTAGE__RESULT_BATCH__INIT;
    Vantage__Ack ack = VANTAGE__ACK__INIT;
    Vantage__TargetConfig config = VANTAGE__TARGET_CONFIG__INIT;
    Vantage__RunNow run_now = VANTAGE__RUN_NOW__INIT;
    Vantage__Heartbeat hb = VANTAGE__HEARTBEAT__INIT;
    Vantage__Enroll enroll = VANTAGE__ENROLL__INIT;
    Vantage__Enrolled enrolled = VANTAGE__ENROLLED__INIT;
    ProtobufCBinaryData *bins = NULL;
    Vantage__Target *targets = NULL;
    Vantage__Target **targetp = NULL;
    int rc = -1;

    env.protocol = WIRE_PROTOCOL_VERSION;
    env.agent = m->agent;
    switch (m->kind) {
    case WIRE_HELLO:
        hello.name = m->u.hello.name;
        hello.site = m->u.hello.site;
        hello.version = m->u.hello.version;
        net.n_addresses = m->u.hello.net.naddresses;
        net.addresses = m->u.hello.net.addresses;
        net.gateway = m->u.hello.net.gateway;
        net.n_resolvers = m->u.hello.net.nresolvers;
        net.resolvers = m->u.hello.net.resolvers;
        hello.net = &net;
        stats_to_pb(&m->u.hello.spool, &stats);
        hello.spool = &stats;
        hello.config_version = m->u.hello.config_version;
        hello.has_check_only = m->u.hello.check_only;
        hello.check_only = m->u.hello.check_only;
        env.body_case = VANTAGE__ENVELOPE__BODY_HELLO;
        env.hello = &hello;
        break;
    case WIRE_BATCH:
        if (m->u.batch.nresults > WIRE_BATCH_MAX)
            return -1;
        bins = calloc(m->u.batch.nresults ? m->u.batch.nresults : 1, sizeof(*bins));
        if (bins == NULL)
            return -1;
        for (size_t i = 0; i < m->u.batch.nresults; i++) {
            bins[i].data = (uint8_t *)m->u.batch.results[i];
            bins[i].len = m->u.batch.lens[i];
        }
        batch.n_results = m->u.batch.nresults;
        batch.results = bins;
        stats_to_pb(&m->u.batch.spool, &stats);
        batch.spool = &stats;
        batch.site = m->u.batch.site;
        batch.has_after_seq = 1;
        batch.after_seq = m->u.batch.after_seq;
        env.body_case = VANTAGE__ENVELOPE__BODY_BATCH;
        env.batch = &batch;
        break;
    case WIRE_ACK:
        ack.committed_seq = m->u.ack.seq;
        ack.has_gap = m->u.ack.gap;
        ack.gap = m->u.ack.gap;
        ack.agent_name = m->u.ack.name;
        env.body_case = VANTAGE__ENVELOPE__BODY_ACK;
        env.ack = &ack;
        break;
    case WIRE_CONFIG: {
        size_t n = m->u.config.ntargets;
        if (n > WIRE_TARGETS_MAX)
            return -1;
        targets = calloc(n ? n : 1, sizeof(*targets));
        targetp = calloc(n ? n : 1, sizeof(*targetp));
        if (targets == NULL || targetp == NULL)
            goto out;
        for (size_t i = 0; i < n; i++) {
            const struct wire_target *t = &m->u.config.targets[i];
            vantage__target__init(&targets[i]);
            targets[i].name = t->name;
            targets[i].domain = t->domain;
            targets[i].n_checks = t->nchecks;
            targets[i].checks = t->checks;
            targets[i].has_interval_ms = targets[i].has_timeout_ms = 1;
            targets[i].interval_ms = t->interval_ms;
            targets[i].timeout_ms = t->timeout_ms;
            targets[i].credentials = t->credentials;
            targets[i].has_mailflow_interval_ms = t->mailflow_interval_ms != 0;
            targets[i].mailflow_interval_ms = t->mailflow_interval_ms;
            targets[i].has_mailflow_timeout_ms = t->mailflow_timeout_ms != 0;
            targets[i].mailflow_timeout_ms = t->mailflow_timeout_ms;
            targets[i].has_rdap_interval_ms = t->rdap_interval_ms != 0;
            targets[i].rdap_interval_ms = t->rdap_interval_ms;
            targetp[i] = &targets[i];
        }
        config.version = m->u.config.version;
        config.n_targets = n;
        config.targets = targetp;
        config.rdap_bootstrap_url = m->u.config.rdap_bootstrap_url;
        config.rdap_bootstrap_json = m->u.config.rdap_bootstrap_json;
        env.body_case = VANTAGE__ENVELOPE__BODY_CONFIG;
        env.config = &config;
        break;
    }
    case WIRE_RUN_NOW:
        run_now.target = m->u.run_now.target;
        run_now.has_request_id = 1;
        run_now.request_id = m->u.run_now.request_id;
        env.body_case = VANTAGE__ENVELOPE__BODY_RUN_NOW;
        env.run_now = &run_now;
        break;
    case WIRE_HEARTBEAT:
        hb.has_sent_at_us = 1;
        hb.sent_at_us = m->u.heartbeat_us;
        env.body_case = VANTAGE__ENVELOPE__BODY_HEARTBEAT;
        env.heartbeat = &hb;
        break;
    case WIRE_ENROLL:
        enroll.name = m->u.enroll.name;
        enroll.secret = m->u.enroll.secret;
        enroll.site = m->u.enroll.site;
        enroll.version = m->u.enroll.version;
        env.body_case = VANTAGE__ENVELOPE__BODY_ENROLL;
        env.enroll = &enroll;
        break;
    case WIRE_ENROLLED:
        enrolled.has_ok = 1;
        enrolled.ok = m->u.enrolled.ok;
        enrolled.name = m->u.enrolled.name;
        enrolled.error = m->u.enrolled.error;
        env.body_case = VANTAGE__ENVELOPE__BODY_ENROLLED;
        env.enrolled = &enrolled;
        break;
    default:
        return -1;
    }
    *len = vantage__envelope__get_packed_size(&env);
    if (*len > WIRE_MSG_MAX)
        goto out;
    *buf = malloc(*len ? *len : 1);
    if (*buf == NULL)
        goto out;
    vantage__envelope__pack(&env, *buf);
    rc = 0;
out:
    free(bins);
    free(targets);
    free(targetp);
    return rc;
}

static int netctx_from_pb(const Vantage__NetContext *p, struct wire_netctx *n, char *err,
                          size_t errlen)
{
    memset(n, 0, sizeof(*n));
    if (p == NULL)
        return 0;
    if (p->n_addresses > RESULT_LIST_MAX || p->n_resolvers > RESULT_LIST_MAX) {
        snprintf(err, errlen, "network context lists more than %d entries", RESULT_LIST_MAX);
        return -1;
    }
    if (!str_ok(p->gateway, RESULT_NAME_MAX, "gateway", err, errlen))
        return -1;
    for (size_t i = 0; i < p->n_addresses; i++)
        if (!str_ok(p->addresses[i], RESULT_NAME_MAX, "address", err, errlen))
            return -1;
    for (size_t i = 0; i < p->n_resolvers; i++)
        if (!str_ok(p->resolvers[i], RESULT_NAME_MAX, "resolver", err, errlen))
            return -1;
    n->addresses = p->addresses;
    n->naddresses = p->n_addresses;
    n->gateway = p->gateway;
    n->resolvers = p->resolvers;
    n->nresolvers = p->n_resolvers;
    return 0;
}

static int config_from_pb(const Vantage__TargetConfig *p, struct wire_config *c, char *err,
                          size_t errlen)
{
    if (p->n_targets > WIRE_TARGETS_MAX) {
        snprintf(err, errlen, "config with more than %d targets", WIRE_TARGETS_MAX);
        return -1;
    }
    if (!str_ok(p->version, RESULT_NAME_MAX, "config version", err, errlen))
        return -1;
    c->version = p->version;
    if (!str_ok(p->rdap_bootstrap_url, RESULT_STR_MAX, "RDAP bootstrap URL", err, errlen) ||
        !str_ok(p->rdap_bootstrap_json, WIRE_RDAP_BOOTSTRAP_MAX, "RDAP bootstrap registry", err,
                errlen))
        return -1;
    c->rdap_bootstrap_url = p->rdap_bootstrap_url;
    c->rdap_bootstrap_json = p->rdap_bootstrap_json;
    c->ntargets = p->n_targets;
    c->targets = calloc(p->n_targets ? p->n_targets : 1, sizeof(*c->targets));
    if (c->targets == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < p->n_targets; i++) {
        const Vantage__Target *t = p->targets[i];
        struct wire_target *w = &c->targets[i];
        if (t->name == NULL || t->name[0] == '\0') {
            snprintf(err, errlen, "target %zu without a name", i);
            return -1;
        }
        if (!str_ok(t->name, RESULT_NAME_MAX, "target name", err, errlen) ||
            !str_ok(t->domain, RESULT_NAME_MAX, "target domain", err, errlen) ||
            !str_ok(t->credentials, RESULT_NAME_MAX, "credentials", err, errlen))
            return -1;
        if (t->n_checks > WIRE_CHECKS_MAX) {
            snprintf(err, errlen, "target %s has more than %d checks", t->name, WIRE_CHECKS_MAX);
            return -1;
        }
        for (size_t j = 0; j < t->n_checks; j++)
            if (!str_ok(t->checks[j], RESULT_STR_MAX, "check", err, errlen))
                return -1;
        w->name = t->name;
        w->domain = t->domain;
        w->checks = t->checks;
        w->nchecks = t->n_checks;
        w->interval_ms = t->interval_ms;
        w->timeout_ms = t->timeout_ms;
        w->credentials = t->credentials;
        w->mailflow_interval_ms = t->mailflow_interval_ms;
        w->mailflow_timeout_ms = t->mailflow_timeout_ms;
        w->rdap_interval_ms = t->rdap_interval_ms;
    }
    return 0;
}

struct wire_msg *wire_msg_decode(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
    if (len > WIRE_MSG_MAX) {
        snprintf(err, errlen, "message of %zu bytes exceeds %d", len, WIRE_MSG_MAX);
        return NULL;
    }
    /* The envelope's many small fields (a batch holds a thousand results)
     * come from one arena that goes with the message. */
    struct wire_arena *a = wire_arena_create();
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ProtobufCAllocator alloc = {.alloc = arena_alloc, .free = arena_free, .allocator_data = a};
    Vantage__Envelope *env = vantage__envelope__unpack(&alloc, len, buf);
    if (env == NULL) {
        snprintf(err, errlen, "malformed message (%zu bytes)", len);
        wire_arena_destroy(&a);
        return NULL;
    }
    struct wire_msg *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        snprintf(err, errlen, "out of memory");
        wire_arena_destroy(&a);
        return NULL;
    }
    m->priv = a;
    m->kind = WIRE_KIND_LAST;
    if (env->protocol != WIRE_PROTOCOL_VERSION) {
        snprintf(err, errlen, "protocol version %u, expected %d", env->protocol,
                 WIRE_PROTOCOL_VERSION);
        goto fail;
    }
    if (!str_ok(env->agent, RESULT_NAME_MAX, "agent name", err, errlen))
        goto fail;
    m->agent = env->agent;
    switch (env->body_case) {
    case VANTAGE__ENVELOPE__BODY_HELLO: {
        const Vantage__Hello *h = env->hello;
        if (!str_ok(h->name, RESULT_NAME_MAX, "name", err, errlen) ||
            !str_ok(h->site, RESULT_NAME_MAX, "site", err, errlen) ||
            !str_ok(h->version, 64, "version", err, errlen) ||
            !str_ok(h->config_version, RESULT_NAME_MAX, "config version", err, errlen))
            goto fail;
        if (netctx_from_pb(h->net, &m->u.hello.net, err, errlen) < 0)
            goto fail;
        m->u.hello.name = h->name;
        m->u.hello.site = h->site;
        m->u.hello.version = h->version;
        m->u.hello.config_version = h->config_version;
        m->u.hello.check_only = h->has_check_only && h->check_only;
        stats_from_pb(h->spool, &m->u.hello.spool);
        m->kind = WIRE_HELLO;
        break;
    }
    case VANTAGE__ENVELOPE__BODY_BATCH: {
        const Vantage__ResultBatch *b = env->batch;
        if (b->n_results > WIRE_BATCH_MAX) {
            snprintf(err, errlen, "batch of %zu results exceeds %d", b->n_results, WIRE_BATCH_MAX);
            goto fail;
        }
        size_t n = b->n_results ? b->n_results : 1;
        m->u.batch.results = calloc(n, sizeof(*m->u.batch.results));
        m->u.batch.lens = calloc(n, sizeof(*m->u.batch.lens));
        m->kind = WIRE_BATCH; /* so that wire_msg_free frees the arrays */
        if (m->u.batch.results == NULL || m->u.batch.lens == NULL) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < b->n_results; i++) {
            m->u.batch.results[i] = b->results[i].data;
            m->u.batch.lens[i] = b->results[i].len;
        }
        if (!str_ok(b->site, RESULT_NAME_MAX, "site", err, errlen))
            goto fail;
        m->u.batch.site = b->site;
        m->u.batch.after_seq = b->after_seq;
        m->u.batch.nresults = b->n_results;
        stats_from_pb(b->spool, &m->u.batch.spool);
        break;
    }
    case VANTAGE__ENVELOPE__BODY_ACK:
        if (!str_ok(env->ack->agent_name, RESULT_NAME_MAX, "agent name", err, errlen))
            goto fail;
        m->u.ack.name = env->ack->agent_name;
        m->u.ack.seq = env->ack->committed_seq;
        m->u.ack.gap = env->ack->has_gap && env->ack->gap;
        m->kind = WIRE_ACK;
        break;
    case VANTAGE__ENVELOPE__BODY_CONFIG:
        m->kind = WIRE_CONFIG;
        if (config_from_pb(env->config, &m->u.config, err, errlen) < 0)
            goto fail;
        break;
    case VANTAGE__ENVELOPE__BODY_RUN_NOW:
        if (!str_ok(env->run_now->target, RESULT_NAME_MAX, "target", err, errlen))
            goto fail;
        m->u.run_now.target = env->run_now->target;
        m->u.run_now.request_id = env->run_now->request_id;
        m->kind = WIRE_RUN_NOW;
        break;
    case VANTAGE__ENVELOPE__BODY_HEARTBEAT:
        m->u.heartbeat_us = env->heartbeat->sent_at_us;
        m->kind = WIRE_HEARTBEAT;
        break;
    case VANTAGE__ENVELOPE__BODY_ENROLL:
        if (!str_ok(env->enroll->name, RESULT_NAME_MAX, "agent name", err, errlen) ||
            !str_ok(env->enroll->secret, WIRE_ENROLL_SECRET_MAX, "secret", err, errlen) ||
            !str_ok(env->enroll->site, RESULT_NAME_MAX, "site", err, errlen) ||
            !str_ok(env->enroll->version, RESULT_NAME_MAX, "version", err, errlen))
            goto fail;
        m->u.enroll.name = env->enroll->name;
        m->u.enroll.secret = env->enroll->secret;
        m->u.enroll.site = env->enroll->site;
        m->u.enroll.version = env->enroll->version;
        m->kind = WIRE_ENROLL;
        break;
    case VANTAGE__ENVELOPE__BODY_ENROLLED:
        if (!str_ok(env->enrolled->name, RESULT_NAME_MAX, "agent name", err, errlen) ||
            !str_ok(env->enrolled->error, WIRE_ENROLL_ERROR_MAX, "error", err, errlen))
            goto fail;
        m->u.enrolled.ok = env->enrolled->has_ok && env->enrolled->ok;
        m->u.enrolled.name = env->enrolled->name;
        m->u.enrolled.error = env->enrolled->error;
        m->kind = WIRE_ENROLLED;
        break;
    default:
        snprintf(err, errlen, "message without a known body");
        goto fail;
    }
    return m;
fail:
    wire_msg_free(&m);
    return NULL;
}

void wire_msg_free(struct wire_msg **mp)
{
    if (mp == NULL || *mp == NULL)
        return;
    struct wire_msg *m = *mp;
    if (m->kind == WIRE_BATCH) {
        free(m->u.batch.results);
        free(m->u.batch.lens);
    } else if (m->kind == WIRE_CONFIG) {
        free(m->u.config.targets);
    }
    struct wire_arena *a = m->priv;
    wire_arena_destroy(&a);
    free(m);
    *mp = NULL;
}

void wire_hello_clear(struct wire_hello *h)
{
    free(h->name);
    free(h->site);
    free(h->version);
    result_list_free(h->net.addresses, h->net.naddresses);
    free(h->net.gateway);
    result_list_free(h->net.resolvers, h->net.nresolvers);
    free(h->config_version);
    memset(h, 0, sizeof(*h));
}

void wire_config_clear(struct wire_config *c)
{
    for (size_t i = 0; i < c->ntargets; i++) {
        struct wire_target *t = &c->targets[i];
        free(t->name);
        free(t->domain);
        result_list_free(t->checks, t->nchecks);
        free(t->credentials);
    }
    free(c->targets);
    free(c->version);
    free(c->rdap_bootstrap_url);
    free(c->rdap_bootstrap_json);
    memset(c, 0, sizeof(*c));
}

int wire_config_copy(const struct wire_config *src, struct wire_config *dst)
{
    memset(dst, 0, sizeof(*dst));
    if (dup_str(&dst->version, src->version) < 0 ||
        dup_str(&dst->rdap_bootstrap_url, src->rdap_bootstrap_url) < 0 ||
        dup_str(&dst->rdap_bootstrap_json, src->rdap_bootstrap_json) < 0)
        goto fail;
    dst->targets = calloc(src->ntargets ? src->ntargets : 1, sizeof(*dst->targets));
    if (dst->targets == NULL)
        goto fail;
    for (size_t i = 0; i < src->ntargets; i++) {
        const struct wire_target *s = &src->targets[i];
        struct wire_target *d = &dst->targets[i];
        dst->ntargets++;
        if (dup_str(&d->name, s->name) < 0 || dup_str(&d->domain, s->domain) < 0 ||
            dup_str(&d->credentials, s->credentials) < 0 ||
            dup_list(&d->checks, &d->nchecks, s->checks, s->nchecks) < 0)
            goto fail;
        d->interval_ms = s->interval_ms;
        d->timeout_ms = s->timeout_ms;
        d->mailflow_interval_ms = s->mailflow_interval_ms;
        d->mailflow_timeout_ms = s->mailflow_timeout_ms;
        d->rdap_interval_ms = s->rdap_interval_ms;
    }
    return 0;
fail:
    wire_config_clear(dst);
    return -1;
}

const char *wire_library_version(void)
{
    return protobuf_c_version();
}
