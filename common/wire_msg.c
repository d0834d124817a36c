/*
 * wire_msg — protobuf-c encoding and validated decoding of the envelope
 * and every message kind in it (wire_msg_* in wire.h: hello, batch, ack,
 * config, run_now, heartbeat, enroll, enrolled), and the clear and copy of
 * the structures they decode into. A batch's results stay encoded here;
 * wire_result.c decodes them. One of the common/wire*.c files, the only
 * ones that include vantage.pb-c.h (see wire.c).
 */
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vantage.pb-c.h"
#include "wire_internal.h"

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
    if (!wire_str_ok(p->gateway, RESULT_NAME_MAX, "gateway", err, errlen))
        return -1;
    for (size_t i = 0; i < p->n_addresses; i++)
        if (!wire_str_ok(p->addresses[i], RESULT_NAME_MAX, "address", err, errlen))
            return -1;
    for (size_t i = 0; i < p->n_resolvers; i++)
        if (!wire_str_ok(p->resolvers[i], RESULT_NAME_MAX, "resolver", err, errlen))
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
    if (!wire_str_ok(p->version, RESULT_NAME_MAX, "config version", err, errlen))
        return -1;
    c->version = p->version;
    if (!wire_str_ok(p->rdap_bootstrap_url, RESULT_STR_MAX, "RDAP bootstrap URL", err, errlen) ||
        !wire_str_ok(p->rdap_bootstrap_json, WIRE_RDAP_BOOTSTRAP_MAX, "RDAP bootstrap registry",
                     err, errlen))
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
        if (!wire_str_ok(t->name, RESULT_NAME_MAX, "target name", err, errlen) ||
            !wire_str_ok(t->domain, RESULT_NAME_MAX, "target domain", err, errlen) ||
            !wire_str_ok(t->credentials, RESULT_NAME_MAX, "credentials", err, errlen))
            return -1;
        if (t->n_checks > WIRE_CHECKS_MAX) {
            snprintf(err, errlen, "target %s has more than %d checks", t->name, WIRE_CHECKS_MAX);
            return -1;
        }
        for (size_t j = 0; j < t->n_checks; j++)
            if (!wire_str_ok(t->checks[j], RESULT_STR_MAX, "check", err, errlen))
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
    ProtobufCAllocator alloc = {
        .alloc = wire_arena_pb_alloc, .free = wire_arena_pb_free, .allocator_data = a};
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
    if (!wire_str_ok(env->agent, RESULT_NAME_MAX, "agent name", err, errlen))
        goto fail;
    m->agent = env->agent;
    switch (env->body_case) {
    case VANTAGE__ENVELOPE__BODY_HELLO: {
        const Vantage__Hello *h = env->hello;
        if (!wire_str_ok(h->name, RESULT_NAME_MAX, "name", err, errlen) ||
            !wire_str_ok(h->site, RESULT_NAME_MAX, "site", err, errlen) ||
            !wire_str_ok(h->version, 64, "version", err, errlen) ||
            !wire_str_ok(h->config_version, RESULT_NAME_MAX, "config version", err, errlen))
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
        if (!wire_str_ok(b->site, RESULT_NAME_MAX, "site", err, errlen))
            goto fail;
        m->u.batch.site = b->site;
        m->u.batch.after_seq = b->after_seq;
        m->u.batch.nresults = b->n_results;
        stats_from_pb(b->spool, &m->u.batch.spool);
        break;
    }
    case VANTAGE__ENVELOPE__BODY_ACK:
        if (!wire_str_ok(env->ack->agent_name, RESULT_NAME_MAX, "agent name", err, errlen))
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
        if (!wire_str_ok(env->run_now->target, RESULT_NAME_MAX, "target", err, errlen))
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
        if (!wire_str_ok(env->enroll->name, RESULT_NAME_MAX, "agent name", err, errlen) ||
            !wire_str_ok(env->enroll->secret, WIRE_ENROLL_SECRET_MAX, "secret", err, errlen) ||
            !wire_str_ok(env->enroll->site, RESULT_NAME_MAX, "site", err, errlen) ||
            !wire_str_ok(env->enroll->version, RESULT_NAME_MAX, "version", err, errlen))
            goto fail;
        m->u.enroll.name = env->enroll->name;
        m->u.enroll.secret = env->enroll->secret;
        m->u.enroll.site = env->enroll->site;
        m->u.enroll.version = env->enroll->version;
        m->kind = WIRE_ENROLL;
        break;
    case VANTAGE__ENVELOPE__BODY_ENROLLED:
        if (!wire_str_ok(env->enrolled->name, RESULT_NAME_MAX, "agent name", err, errlen) ||
            !wire_str_ok(env->enrolled->error, WIRE_ENROLL_ERROR_MAX, "error", err, errlen))
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
    if (wire_dup_str(&dst->version, src->version) < 0 ||
        wire_dup_str(&dst->rdap_bootstrap_url, src->rdap_bootstrap_url) < 0 ||
        wire_dup_str(&dst->rdap_bootstrap_json, src->rdap_bootstrap_json) < 0)
        goto fail;
    dst->targets = calloc(src->ntargets ? src->ntargets : 1, sizeof(*dst->targets));
    if (dst->targets == NULL)
        goto fail;
    for (size_t i = 0; i < src->ntargets; i++) {
        const struct wire_target *s = &src->targets[i];
        struct wire_target *d = &dst->targets[i];
        dst->ntargets++;
        if (wire_dup_str(&d->name, s->name) < 0 || wire_dup_str(&d->domain, s->domain) < 0 ||
            wire_dup_str(&d->credentials, s->credentials) < 0 ||
            wire_dup_list(&d->checks, &d->nchecks, s->checks, s->nchecks) < 0)
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
