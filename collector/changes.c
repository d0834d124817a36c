/*
 * changes — change detection at ingest (changes.h).
 */
#include "changes.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* A change subject: a DNS type and name, or a host name. */
#define SUBJECT_MAX (RESULT_NAME_MAX + 32)
/* An agent's network summary: a label, an egress address, a gateway and
 * a few resolvers, each at most a name long. */
#define AGENT_SUMMARY_MAX 1024

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

#define FNV_INIT 14695981039346656037ull

/* A hash that is never 0, which means "no fact". */
static uint64_t nonzero(uint64_t h)
{
    return h != 0 ? h : 1;
}

static bool is_dns_check(const char *check)
{
    return check != NULL && strncmp(check, "dns://", 6) == 0;
}

const char *changes_check_host(const char *check, char *buf, size_t len)
{
    if (len == 0)
        return buf;
    buf[0] = '\0';
    const char *p = check != NULL ? strstr(check, "://") : NULL;
    if (p == NULL)
        return buf;
    p += 3;
    size_t n;
    if (*p == '[') {
        const char *end = strchr(p, ']');
        if (end == NULL)
            return buf;
        p++;
        n = (size_t)(end - p);
    } else {
        n = strcspn(p, ":/");
    }
    if (n >= len)
        n = len - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

/* Appends "sep text" to buf (bounded, cut silently: the hash covers all). */
static size_t append(char *buf, size_t buflen, size_t used, const char *sep, const char *text)
{
    if (used < buflen)
        used += (size_t)snprintf(buf + used, buflen - used, "%s%s", used ? sep : "", text);
    return used < buflen ? used : buflen - 1;
}

/* The facts of rdap:// and autoconfig:// checks ride in the DNS slot
 * (these checks have no answers of their own): the name servers the
 * registration lists, the servers each source advertises. 1 when r is
 * such a check. */
static int domain_facts(const struct result *r, struct store_facts *f, char *buf, size_t buflen)
{
    size_t used = 0;
    uint64_t h = FNV_INIT;
    char item[RESULT_NAME_MAX * 2];
    if (buflen == 0)
        return 0;
    buf[0] = '\0';
    if (strncmp(r->check, "rdap://", 7) == 0) {
        const struct result_registration *g = r->registration;
        if (g == NULL || g->nnameservers == 0)
            return 1;
        for (size_t i = 0; i < g->nnameservers; i++) {
            h = fnv(fnv(h, g->nameservers[i]), "\n");
            used = append(buf, buflen, used, ", ", g->nameservers[i]);
        }
    } else if (strncmp(r->check, "autoconfig://", 13) == 0) {
        for (size_t i = 0; i < r->nautoconfig; i++) {
            const struct result_autoconfig *a = &r->autoconfig[i];
            for (size_t j = 0; j < a->nservers; j++) {
                const struct result_autoconfig_server *sv = &a->servers[j];
                /* Words apart, so that the analysis finds the host in
                 * it as in a DNS answer (snapshot_answers_name). */
                snprintf(item, sizeof(item), "%s %s %s %u %s", a->source ? a->source : "?",
                         sv->protocol ? sv->protocol : "?", sv->host ? sv->host : "?",
                         (unsigned)sv->port, sv->socket ? sv->socket : "?");
                h = fnv(fnv(h, item), "\n");
                used = append(buf, buflen, used, ", ", item);
            }
        }
        /* No source answered with servers (all failed): no fact, so that
         * an outage of the web server is not "autoconfig changed". */
        if (used == 0)
            return 1;
    } else {
        return 0;
    }
    f->hash[STORE_FACT_DNS] = nonzero(h);
    f->text[STORE_FACT_DNS] = buf;
    return 1;
}

void changes_facts(const struct result *r, struct store_facts *f, char *buf, size_t buflen)
{
    *f = (struct store_facts){0};
    if (r->check != NULL && domain_facts(r, f, buf, buflen))
        return;
    if (is_dns_check(r->check)) {
        if (!r->ok || r->ndns == 0 || buflen == 0)
            return;
        /* The answers in presentation form, already sorted by the agent,
         * so a reordering is not a change. */
        size_t used = 0;
        uint64_t h = FNV_INIT;
        buf[0] = '\0';
        for (size_t i = 0; i < r->ndns; i++) {
            for (size_t j = 0; j < r->dns[i].nanswers; j++) {
                const char *a = r->dns[i].answers[j];
                h = fnv(fnv(h, a), "\n");
                size_t n = strlen(a);
                if (used + n + 3 < buflen) {
                    if (used > 0) {
                        memcpy(buf + used, ", ", 2);
                        used += 2;
                    }
                    memcpy(buf + used, a, n);
                    used += n;
                    buf[used] = '\0';
                }
            }
        }
        if (used == 0)
            return;
        f->hash[STORE_FACT_DNS] = nonzero(h);
        f->text[STORE_FACT_DNS] = buf;
        return;
    }
    if (r->address != NULL && r->address[0] != '\0') {
        f->hash[STORE_FACT_ADDRESS] = nonzero(fnv(FNV_INIT, r->address));
        f->text[STORE_FACT_ADDRESS] = r->address;
    }
    if (r->tls != NULL && r->tls->sha256 != NULL && r->tls->sha256[0] != '\0') {
        f->hash[STORE_FACT_CERT] = nonzero(fnv(FNV_INIT, r->tls->sha256));
        f->text[STORE_FACT_CERT] = r->tls->sha256;
    }
}

/* "MX example.com" for dns://example.com/MX. */
static void dns_subject(const char *check, char *buf, size_t len)
{
    const char *name = check + 6;
    const char *slash = strrchr(name, '/');
    if (slash == NULL)
        snprintf(buf, len, "%s", name);
    else
        snprintf(buf, len, "%s %.*s", slash + 1, (int)(slash - name), name);
}

int changes_record(struct store *s, const char *agent, const struct result *r,
                   const struct store_facts *f, const struct store_prev *prev)
{
    static const char *const kinds[STORE_FACT_LAST] = {CHANGES_DNS_ANSWER, CHANGES_ADDRESS,
                                                       CHANGES_CERT};
    for (int i = 0; i < STORE_FACT_LAST; i++) {
        if (!prev->changed[i])
            continue;
        char subject[SUBJECT_MAX];
        const char *kind = kinds[i];
        char host[RESULT_NAME_MAX + 1];
        if (i == STORE_FACT_DNS && strncmp(r->check, "rdap://", 7) == 0) {
            kind = CHANGES_NAMESERVERS;
            snprintf(subject, sizeof(subject), "NS %s (registration)",
                     changes_check_host(r->check, host, sizeof(host)));
        } else if (i == STORE_FACT_DNS && strncmp(r->check, "autoconfig://", 13) == 0) {
            kind = CHANGES_AUTOCONFIG;
            snprintf(subject, sizeof(subject), "autoconfig %s",
                     changes_check_host(r->check, host, sizeof(host)));
        } else if (i == STORE_FACT_DNS) {
            dns_subject(r->check, subject, sizeof(subject));
        } else {
            changes_check_host(r->check, subject, sizeof(subject));
        }
        struct store_change c = {
            .at_us = r->started_at_us,
            .agent = agent,
            .target = r->target,
            .kind = kind,
            .subject = subject,
            .before = prev->before[i],
            .after = f->text[i],
        };
        if (store_change_add(s, &c) < 0)
            return -1;
    }
    return 0;
}

/* Appends the strings of a JSON array to buf, space-separated. */
static size_t append_list(char *buf, size_t len, size_t used, const json_t *arr)
{
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v) && used < len)
            used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? " " : "",
                                     json_string_value(v));
    }
    return used;
}

const char *changes_agent_summary(const struct store_agent *a, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "network %s, egress %s", a->network ? a->network : "?",
                                   a->address ? a->address : "?");
    json_t *ctx = a->netctx ? json_loads(a->netctx, 0, NULL) : NULL;
    if (ctx != NULL && used < len) {
        const char *gw = json_string_value(json_object_get(ctx, "gateway"));
        used += (size_t)snprintf(buf + used, len - used, ", gateway %s, resolvers ",
                                 gw && gw[0] ? gw : "?");
        append_list(buf, len, used, json_object_get(ctx, "resolvers"));
    }
    json_decref(ctx);
    return buf;
}

struct agent_copy {
    bool found;
    char summary[AGENT_SUMMARY_MAX];
    char name[RESULT_NAME_MAX + 1];
};

static int copy_agent(const struct store_agent *a, void *arg)
{
    struct agent_copy *c = arg;
    /* An agent row made by store_agent_id but never told its network
     * has nothing to compare with. */
    c->found = a->network != NULL;
    snprintf(c->name, sizeof(c->name), "%s", a->name);
    changes_agent_summary(a, c->summary, sizeof(c->summary));
    return 1;
}

int changes_agent_hello(struct store *s, int64_t agent_id, const struct store_agent *now,
                        int64_t at_us)
{
    struct agent_copy was = {0};
    if (store_agent_get(s, agent_id, copy_agent, &was) < 0)
        return -1;
    if (!was.found)
        return 0;
    /* Fields the hello leaves out keep their stored value (as
     * store_agent_update does), so only what it says is compared. */
    char after[AGENT_SUMMARY_MAX];
    changes_agent_summary(now, after, sizeof(after));
    if (strcmp(after, was.summary) == 0)
        return 0;
    struct store_change c = {
        .at_us = at_us,
        .agent = now->name != NULL ? now->name : was.name,
        .target = NULL,
        .kind = CHANGES_AGENT_NETWORK,
        .subject = now->name != NULL ? now->name : was.name,
        .before = was.summary,
        .after = after,
    };
    return store_change_add(s, &c);
}
