/*
 * result — names, lifetime and JSON form of a probe result (see result.h).
 */
#include "result.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

static const char *const layer_names[RESULT_LAYER_LAST] = {
    "none", "dns",  "tcp",      "tls",          "protocol",
    "auth", "http", "delivery", "registration", "autoconfig",
};

static const struct {
    const char *name;
    enum result_layer layer;
    const char *hint;
} error_table[RESULT_ERROR_LAST] = {
    {"ok", RESULT_LAYER_NONE, "everything worked"},
    {"dns_nxdomain", RESULT_LAYER_DNS,
     "the name does not exist: check the spelling, the domain's registration and its zone"},
    {"dns_nodata", RESULT_LAYER_DNS,
     "the name exists but has no record of this type: check the zone's records"},
    {"dns_servfail", RESULT_LAYER_DNS,
     "the resolver could not get an answer: the zone's servers or the resolver are broken"},
    {"dns_refused", RESULT_LAYER_DNS,
     "the resolver refused the query, or nothing listens on its port: check which resolver "
     "this machine uses and that it is running"},
    {"dns_timeout", RESULT_LAYER_DNS,
     "no DNS answer in time: the resolver is down or unreachable from here"},
    {"tcp_refused", RESULT_LAYER_TCP,
     "the server actively refused the connection: the service is not listening on that port"},
    {"tcp_timeout", RESULT_LAYER_TCP,
     "no answer to the connection attempt: a firewall drops the traffic or the server is down"},
    {"tcp_unreachable", RESULT_LAYER_TCP,
     "no route to the server: check this network's routing and firewall"},
    {"tcp_reset", RESULT_LAYER_TCP, "the connection was reset: a firewall or the server cut it"},
    {"tls_handshake_failed", RESULT_LAYER_TLS,
     "the TLS handshake failed: the port may not speak TLS, or client and server share no cipher"},
    {"tls_cert_expired", RESULT_LAYER_TLS,
     "the server's certificate has expired: renew it on the server"},
    {"tls_cert_not_yet_valid", RESULT_LAYER_TLS,
     "the certificate is not valid yet: check the clock here and on the server"},
    {"tls_cert_untrusted", RESULT_LAYER_TLS,
     "the certificate is not signed by a trusted authority: a self-signed certificate or an "
     "intercepting proxy"},
    {"tls_hostname_mismatch", RESULT_LAYER_TLS,
     "the certificate does not name this host: the client uses a name the server is not set up "
     "for"},
    {"tls_protocol_version", RESULT_LAYER_TLS,
     "client and server share no TLS version: one side is too old"},
    {"proto_bad_greeting", RESULT_LAYER_PROTOCOL,
     "the server did not greet like a mail server: wrong port, or a proxy in the way"},
    {"proto_starttls_unsupported", RESULT_LAYER_PROTOCOL,
     "the server does not offer STARTTLS: clients that require encryption will refuse it"},
    {"proto_timeout", RESULT_LAYER_PROTOCOL,
     "the server stopped answering in the middle of the dialog"},
    {"proto_closed", RESULT_LAYER_PROTOCOL,
     "the server closed the connection in the middle of the dialog"},
    {"auth_failed", RESULT_LAYER_AUTH,
     "the server rejected the login: wrong password, locked or moved mailbox"},
    {"auth_unsupported", RESULT_LAYER_AUTH,
     "the server offers no login method the client can use here"},
    {"http_status", RESULT_LAYER_HTTP, "the web server answered with an error status"},
    {"internal", RESULT_LAYER_NONE, "the probe itself failed: see the detail"},
    {"mail_rejected", RESULT_LAYER_DELIVERY,
     "the server refused the test message: its answer (mailbox full, unknown user, policy) is "
     "in the detail"},
    {"mail_not_delivered", RESULT_LAYER_DELIVERY,
     "the server accepted the test message but it never reached the mailbox: check the mail "
     "queue, the mailbox's quota and the delivery agent"},
    {"mail_in_junk", RESULT_LAYER_DELIVERY,
     "the test message was delivered to the Junk folder: check the spam filter's rules and "
     "the sending domain's SPF/DKIM"},
    /* ---- registration and autoconfig (issue 10) ---- */
    {"registration_expired", RESULT_LAYER_REGISTRATION,
     "the domain's registration has expired: renew it with the registrar named here"},
    {"registration_hold", RESULT_LAYER_REGISTRATION,
     "the registry has put the domain on hold or is deleting it, which takes it out of DNS: "
     "call the registrar named here"},
    {"registration_not_found", RESULT_LAYER_REGISTRATION,
     "the registry does not know the domain: check the spelling, or whether it was deleted"},
    {"autoconfig_invalid", RESULT_LAYER_AUTOCONFIG,
     "a source mail clients ask for their settings answered with a document they cannot use: "
     "fix or remove that document"},
    /* ---- end registration and autoconfig ---- */
    {"tls_cert_expiring", RESULT_LAYER_TLS,
     "the server's certificate expires soon: renew it before clients start refusing it"},
    {"slow", RESULT_LAYER_NONE,
     "it works, but much slower than the same checks elsewhere: users see stalls and timeouts"},
    {"delivery_slow", RESULT_LAYER_DELIVERY,
     "test mail arrives, but later than delivery_warn: a busy queue, a slow content filter or "
     "greylisting delays every message"},
    {"registration_expiring", RESULT_LAYER_REGISTRATION,
     "the domain's registration expires soon: renew it with the registrar before the domain "
     "goes out of DNS"},
};

static const char *const phase_names[RESULT_PHASE_LAST] = {
    "dns",  "connect", "tls",    "greeting", "starttls", "auth",
    "http", "total",   "submit", "delivery", "fetch",
};

void result_init(struct result *r)
{
    memset(r, 0, sizeof(*r));
}

void result_list_free(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

static void tls_free(struct result_tls *t)
{
    if (t == NULL)
        return;
    free(t->version);
    free(t->cipher);
    free(t->subject);
    free(t->issuer);
    result_list_free(t->sans, t->nsans);
    free(t->sha256);
    free(t->verify);
    free(t);
}

static void delivery_free(struct result_delivery *d)
{
    if (d == NULL)
        return;
    free(d->message_id);
    free(d->folder);
    free(d);
}

/* ---- registration and autoconfig (issue 10) ---- */

static void registration_free(struct result_registration *g)
{
    if (g == NULL)
        return;
    free(g->domain);
    free(g->registrar);
    result_list_free(g->status, g->nstatus);
    result_list_free(g->nameservers, g->nnameservers);
    free(g->rdap_url);
    free(g);
}

static void autoconfig_free(struct result_autoconfig *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(a[i].source);
        free(a[i].url);
        free(a[i].answer);
        for (size_t k = 0; k < a[i].nservers; k++) {
            free(a[i].servers[k].protocol);
            free(a[i].servers[k].host);
            free(a[i].servers[k].socket);
        }
        free(a[i].servers);
    }
    free(a);
}

struct result_registration *result_registration_new(struct result *r)
{
    if (r->registration == NULL)
        r->registration = calloc(1, sizeof(*r->registration));
    return r->registration;
}

struct result_autoconfig *result_add_autoconfig(struct result *r)
{
    if (r->nautoconfig >= RESULT_AUTOCONFIG_SOURCES_MAX)
        return NULL;
    struct result_autoconfig *grown = realloc(r->autoconfig, (r->nautoconfig + 1) * sizeof(*grown));
    if (grown == NULL)
        return NULL;
    r->autoconfig = grown;
    memset(&grown[r->nautoconfig], 0, sizeof(*grown));
    return &grown[r->nautoconfig++];
}

struct result_autoconfig_server *result_autoconfig_add_server(struct result_autoconfig *a)
{
    if (a->nservers >= RESULT_AUTOCONFIG_SERVERS_MAX)
        return NULL;
    struct result_autoconfig_server *grown =
        realloc(a->servers, (a->nservers + 1) * sizeof(*grown));
    if (grown == NULL)
        return NULL;
    a->servers = grown;
    memset(&grown[a->nservers], 0, sizeof(*grown));
    return &grown[a->nservers++];
}

/* ---- end registration and autoconfig ---- */

void result_clear(struct result *r)
{
    free(r->agent);
    free(r->network);
    free(r->target);
    free(r->check);
    free(r->detail);
    free(r->address);
    free(r->banner);
    tls_free(r->tls);
    for (size_t i = 0; i < r->ndns; i++) {
        struct result_dns *d = &r->dns[i];
        free(d->name);
        free(d->type);
        free(d->rcode);
        result_list_free(d->answers, d->nanswers);
        free(d->resolver);
    }
    free(r->dns);
    delivery_free(r->delivery);
    registration_free(r->registration);
    autoconfig_free(r->autoconfig, r->nautoconfig);
    result_init(r);
}

const char *result_layer_name(enum result_layer layer)
{
    return (unsigned)layer < RESULT_LAYER_LAST ? layer_names[layer] : NULL;
}

const char *result_error_name(enum result_error error)
{
    return (unsigned)error < RESULT_ERROR_LAST ? error_table[error].name : NULL;
}

const char *result_phase_name(enum result_phase phase)
{
    return (unsigned)phase < RESULT_PHASE_LAST ? phase_names[phase] : NULL;
}

int result_layer_parse(const char *name, enum result_layer *out)
{
    for (int i = 0; i < RESULT_LAYER_LAST; i++)
        if (strcmp(name, layer_names[i]) == 0) {
            *out = (enum result_layer)i;
            return 0;
        }
    return -1;
}

int result_error_parse(const char *name, enum result_error *out)
{
    for (int i = 0; i < RESULT_ERROR_LAST; i++)
        if (strcmp(name, error_table[i].name) == 0) {
            *out = (enum result_error)i;
            return 0;
        }
    return -1;
}

bool result_error_of_finding(enum result_error error)
{
    return error == RESULT_TLS_CERT_EXPIRING || error == RESULT_SLOW ||
           error == RESULT_DELIVERY_SLOW || error == RESULT_REGISTRATION_EXPIRING;
}

enum result_layer result_error_layer(enum result_error error)
{
    return (unsigned)error < RESULT_ERROR_LAST ? error_table[error].layer : RESULT_LAYER_NONE;
}

const char *result_error_hint(enum result_error error)
{
    return (unsigned)error < RESULT_ERROR_LAST ? error_table[error].hint
                                               : error_table[RESULT_INTERNAL].hint;
}

int result_set_str(char **slot, const char *s)
{
    free(*slot);
    *slot = NULL;
    if (s == NULL)
        return 0;
    *slot = strndup(s, RESULT_STR_MAX);
    return *slot ? 0 : -1;
}

void result_fail(struct result *r, enum result_error error, const char *fmt, ...)
{
    char buf[RESULT_STR_MAX + 1];
    va_list ap;

    r->error = error;
    r->ok = error == RESULT_OK;
    if (error != RESULT_OK && error != RESULT_INTERNAL)
        r->layer = error_table[error].layer;
    if (fmt == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    (void)result_set_str(&r->detail, buf);
}

int result_list_add(char ***list, size_t *n, const char *s)
{
    if (*n >= RESULT_LIST_MAX)
        return -1;
    char **grown = realloc(*list, (*n + 1) * sizeof(**list));
    if (grown == NULL)
        return -1;
    *list = grown;
    grown[*n] = strndup(s, RESULT_STR_MAX);
    if (grown[*n] == NULL)
        return -1;
    (*n)++;
    return 0;
}

struct result_dns *result_add_dns(struct result *r)
{
    if (r->ndns >= RESULT_LIST_MAX)
        return NULL;
    struct result_dns *grown = realloc(r->dns, (r->ndns + 1) * sizeof(*grown));
    if (grown == NULL)
        return NULL;
    r->dns = grown;
    memset(&grown[r->ndns], 0, sizeof(*grown));
    return &grown[r->ndns++];
}

struct result_tls *result_tls_new(struct result *r)
{
    if (r->tls == NULL)
        r->tls = calloc(1, sizeof(*r->tls));
    return r->tls;
}

struct result_delivery *result_delivery_new(struct result *r)
{
    if (r->delivery == NULL)
        r->delivery = calloc(1, sizeof(*r->delivery));
    return r->delivery;
}

/* A JSON string of s; bytes that are not UTF-8 (a garbage banner is
 * evidence too) become '?' rather than dropping the whole value. */
static json_t *safe_string(const char *s)
{
    json_t *j = json_string(s);
    if (j != NULL)
        return j;
    size_t len = strnlen(s, RESULT_STR_MAX * 4);
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++)
        copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    copy[len] = '\0';
    j = json_string(copy);
    free(copy);
    return j;
}

static void put_str(json_t *o, const char *key, const char *v)
{
    if (v != NULL)
        json_object_set_new(o, key, safe_string(v));
}

static json_t *str_array(char **list, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, safe_string(list[i]));
    return a;
}

/* ---- registration and autoconfig (issue 10) ---- */

/* Unix seconds within years 1..9999 (wire refuses others), so the
 * microsecond product cannot overflow. */
static bool time_printable(int64_t s)
{
    return s > -62135596800LL && s < 253402300800LL;
}

static void put_registration_autoconfig(json_t *o, const struct result *r)
{
    char when[40];
    if (r->registration != NULL) {
        const struct result_registration *g = r->registration;
        json_t *go = json_object();
        put_str(go, "domain", g->domain);
        put_str(go, "registrar", g->registrar);
        if (g->expires != 0 && time_printable(g->expires)) {
            clock_format_iso_us(g->expires * 1000000, false, when, sizeof(when));
            json_object_set_new(go, "expires", json_string(when));
            json_object_set_new(go, "days_left", json_integer(g->days_left));
        }
        json_object_set_new(go, "status", str_array(g->status, g->nstatus));
        json_object_set_new(go, "nameservers", str_array(g->nameservers, g->nnameservers));
        put_str(go, "rdap_url", g->rdap_url);
        json_object_set_new(o, "registration", go);
    }
    if (r->nautoconfig > 0) {
        json_t *aa = json_array();
        for (size_t i = 0; i < r->nautoconfig; i++) {
            const struct result_autoconfig *a = &r->autoconfig[i];
            json_t *ao = json_object();
            put_str(ao, "source", a->source);
            put_str(ao, "url", a->url);
            put_str(ao, "answer", a->answer);
            json_t *sa = json_array();
            for (size_t k = 0; k < a->nservers; k++) {
                const struct result_autoconfig_server *sv = &a->servers[k];
                json_t *so = json_object();
                put_str(so, "protocol", sv->protocol);
                put_str(so, "host", sv->host);
                json_object_set_new(so, "port", json_integer(sv->port));
                put_str(so, "socket", sv->socket);
                json_array_append_new(sa, so);
            }
            json_object_set_new(ao, "servers", sa);
            json_array_append_new(aa, ao);
        }
        json_object_set_new(o, "autoconfig", aa);
    }
    if (r->retry_at_us > 0 && time_printable(r->retry_at_us / 1000000)) {
        clock_format_iso_us(r->retry_at_us, false, when, sizeof(when));
        json_object_set_new(o, "retry_at", json_string(when));
    }
}

/* ---- end registration and autoconfig ---- */

char *result_json(const struct result *r)
{
    char when[40];
    json_t *o = json_object();
    if (o == NULL)
        return NULL;

    put_str(o, "agent", r->agent);
    put_str(o, "network", r->network);
    if (r->has_seq)
        json_object_set_new(o, "seq", json_integer((json_int_t)r->seq));
    put_str(o, "target", r->target);
    put_str(o, "check", r->check);
    json_object_set_new(o, "discovered", json_boolean(r->discovered));
    clock_format_iso_us(r->started_at_us, true, when, sizeof(when));
    json_object_set_new(o, "started_at", json_string(when));
    json_object_set_new(o, "status", json_string(r->ok ? "ok" : "fail"));
    if (r->layer != RESULT_LAYER_NONE)
        put_str(o, "layer", result_layer_name(r->layer));
    put_str(o, "error", result_error_name(r->error));
    put_str(o, "detail", r->detail);

    json_t *ph = json_object();
    for (int i = 0; i < RESULT_PHASE_LAST; i++) {
        /* The mailflow phases only where a check has them: every other
         * result keeps the object it always had. */
        if (i > RESULT_PHASE_TOTAL && r->phases_us[i] == 0 && r->delivery == NULL)
            continue;
        json_object_set_new(ph, phase_names[i], json_integer((json_int_t)r->phases_us[i]));
    }
    json_object_set_new(o, "phases_us", ph);

    put_str(o, "address", r->address);
    if (r->port != 0)
        json_object_set_new(o, "port", json_integer(r->port));
    if (r->tls != NULL) {
        const struct result_tls *t = r->tls;
        json_t *to = json_object();
        put_str(to, "version", t->version);
        put_str(to, "cipher", t->cipher);
        put_str(to, "subject", t->subject);
        put_str(to, "issuer", t->issuer);
        json_object_set_new(to, "sans", str_array(t->sans, t->nsans));
        /* Years 1..9999 only (wire refuses others): the product below
         * must not overflow. */
        if (t->not_after != 0 && t->not_after > -62135596800LL && t->not_after < 253402300800LL) {
            clock_format_iso_us(t->not_after * 1000000, false, when, sizeof(when));
            json_object_set_new(to, "not_after", json_string(when));
            json_object_set_new(to, "days_left", json_integer(t->days_left));
        }
        put_str(to, "sha256", t->sha256);
        put_str(to, "verify", t->verify);
        json_object_set_new(o, "tls", to);
    }
    put_str(o, "banner", r->banner);
    if (r->ndns > 0) {
        json_t *da = json_array();
        for (size_t i = 0; i < r->ndns; i++) {
            const struct result_dns *d = &r->dns[i];
            json_t *dobj = json_object();
            put_str(dobj, "name", d->name);
            put_str(dobj, "type", d->type);
            put_str(dobj, "rcode", d->rcode);
            json_object_set_new(dobj, "answers", str_array(d->answers, d->nanswers));
            json_object_set_new(dobj, "ttl", json_integer(d->ttl));
            put_str(dobj, "resolver", d->resolver);
            json_array_append_new(da, dobj);
        }
        json_object_set_new(o, "dns", da);
    }
    if (r->delivery != NULL) {
        const struct result_delivery *d = r->delivery;
        json_t *dobj = json_object();
        put_str(dobj, "message_id", d->message_id);
        if (d->submitted_at_us != 0) {
            clock_format_iso_us(d->submitted_at_us, true, when, sizeof(when));
            json_object_set_new(dobj, "submitted_at", json_string(when));
        }
        if (d->arrived_at_us != 0) {
            clock_format_iso_us(d->arrived_at_us, true, when, sizeof(when));
            json_object_set_new(dobj, "arrived_at", json_string(when));
            json_object_set_new(dobj, "delivery_us", json_integer((json_int_t)d->delivery_us));
        }
        put_str(dobj, "folder", d->folder);
        json_object_set_new(o, "delivery", dobj);
    }
    put_registration_autoconfig(o, r);
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(o);
    return s;
}
