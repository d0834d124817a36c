/*
 * probe_dns — dns://NAME/TYPE: one query through the engine's resolver;
 * the answer (and the CNAME hops met) land in result.dns.
 */
#include "probe_impl.h"

#include <stdio.h>

#include "clock.h"

#define ERR_MAX 256

static void on_reply(struct resolver_reply *rep, void *arg)
{
    struct probe *p = arg;
    p->kind = NULL; /* the query handle is gone once this runs */
    p->result.phases_us[RESULT_PHASE_DNS] = clock_mono_us() - p->started_us;
    if (resolver_reply_move(rep, &p->result) < 0)
        result_fail(&p->result, RESULT_INTERNAL, "cannot keep the DNS answer: out of memory");
    else if (rep->error != RESULT_OK)
        result_fail(&p->result, rep->error, "%s", rep->detail);
    else
        result_fail(&p->result, RESULT_OK, NULL);
    probe_finish(p);
}

static int dns_start(struct probe *p)
{
    char err[ERR_MAX];
    struct resolver_query *q = NULL;
    int type = resolver_type_parse(p->spec.dns_type);
    if (type < 0) {
        result_fail(&p->result, RESULT_INTERNAL, "DNS type %s is not supported", p->spec.dns_type);
        return -1;
    }
    if (resolver_query(p->resolver, p->spec.host, type, on_reply, p, &q, err, sizeof(err)) < 0) {
        result_fail(&p->result, RESULT_INTERNAL, "%s", err);
        return -1;
    }
    p->kind = q;
    return 0;
}

static void dns_abort(struct probe *p, enum probe_abort why)
{
    struct resolver_query *q = p->kind;
    p->kind = NULL;
    resolver_cancel(&q);
    p->result.phases_us[RESULT_PHASE_DNS] = clock_mono_us() - p->started_us;
    if (why == PROBE_ABORT_SHUTDOWN)
        result_fail(&p->result, RESULT_INTERNAL, "aborted: the agent is shutting down");
    else
        result_fail(&p->result, RESULT_DNS_TIMEOUT, "no DNS answer for %s %s within %.1f s",
                    p->spec.host, p->spec.dns_type, (double)(p->deadline_us - p->started_us) / 1e6);
    probe_finish(p);
}

const struct probe_ops probe_dns_ops = {
    .name = "dns",
    .needs_addresses = false,
    .start = dns_start,
    .abort = dns_abort,
};
