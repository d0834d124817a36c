/*
 * assign — rdap:// checks to a few agents on different networks (assign.h).
 */
#include "assign.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FNV_INIT  14695981039346656037ull
#define FNV_PRIME 1099511628211ull

struct chosen {
    size_t target, check;                       /* indices into base */
    const char *agents[ASSIGN_RDAP_AGENTS + 1]; /* into the copies; NULL-terminated */
};

struct assign {
    const struct wire_config *base;
    struct assign_agent *agents; /* copies */
    size_t nagents;
    struct chosen *chosen;
    size_t nchosen;
};

struct ranked {
    uint64_t score;
    const struct assign_agent *agent;
};

static uint64_t fnv(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        h ^= *p;
        h *= FNV_PRIME;
    }
    h ^= 0xff; /* a separator, so that ("ab","c") and ("a","bc") differ */
    return h * FNV_PRIME;
}

/* FNV's low bits mix poorly for short inputs that differ only at the
 * end (agent names a1, a2, ...): a final avalanche (splitmix64's). */
static uint64_t mix(uint64_t h)
{
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

static int cmp_ranked(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    return strcmp(x->agent->name, y->agent->name);
}

static bool is_rdap(const char *check)
{
    return check != NULL && strncmp(check, "rdap://", 7) == 0;
}

/* Picks the agents of one check into ch->agents. r has room for every
 * agent. */
static void choose(struct assign *a, const char *check, struct ranked *r, struct chosen *ch)
{
    for (size_t i = 0; i < a->nagents; i++) {
        r[i].agent = &a->agents[i];
        r[i].score = mix(fnv(fnv(FNV_INIT, check), a->agents[i].name));
    }
    qsort(r, a->nagents, sizeof(*r), cmp_ranked);
    const char *nets[ASSIGN_RDAP_AGENTS];
    size_t n = 0;
    for (size_t i = 0; i < a->nagents && n < ASSIGN_RDAP_AGENTS; i++) {
        bool taken = false;
        for (size_t k = 0; k < n && !taken; k++)
            taken = strcmp(nets[k], r[i].agent->network) == 0;
        if (taken)
            continue;
        nets[n] = r[i].agent->network;
        ch->agents[n++] = r[i].agent->name;
    }
    ch->agents[n] = NULL;
}

void assign_destroy(struct assign **ap)
{
    if (ap == NULL || *ap == NULL)
        return;
    struct assign *a = *ap;
    for (size_t i = 0; i < a->nagents; i++) {
        free((char *)a->agents[i].name);
        free((char *)a->agents[i].network);
    }
    free(a->agents);
    free(a->chosen);
    free(a);
    *ap = NULL;
}

struct assign *assign_create(const struct wire_config *base, const struct assign_agent *agents,
                             size_t nagents)
{
    struct assign *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->base = base;
    a->agents = calloc(nagents ? nagents : 1, sizeof(*a->agents));
    size_t nrdap = 0;
    for (size_t t = 0; t < base->ntargets; t++)
        for (size_t c = 0; c < base->targets[t].nchecks; c++)
            nrdap += is_rdap(base->targets[t].checks[c]);
    a->chosen = calloc(nrdap ? nrdap : 1, sizeof(*a->chosen));
    struct ranked *r = calloc(nagents ? nagents : 1, sizeof(*r));
    if (a->agents == NULL || a->chosen == NULL || r == NULL)
        goto fail;
    for (size_t i = 0; i < nagents; i++) {
        a->agents[i].name = strdup(agents[i].name ? agents[i].name : "");
        a->agents[i].network = strdup(agents[i].network ? agents[i].network : "unknown");
        a->nagents++;
        if (a->agents[i].name == NULL || a->agents[i].network == NULL)
            goto fail;
    }
    for (size_t t = 0; t < base->ntargets; t++)
        for (size_t c = 0; c < base->targets[t].nchecks; c++) {
            if (!is_rdap(base->targets[t].checks[c]))
                continue;
            struct chosen *ch = &a->chosen[a->nchosen++];
            ch->target = t;
            ch->check = c;
            choose(a, base->targets[t].checks[c], r, ch);
        }
    free(r);
    return a;
fail:
    free(r);
    assign_destroy(&a);
    return NULL;
}

static const struct chosen *chosen_of(const struct assign *a, size_t t, size_t c)
{
    for (size_t i = 0; i < a->nchosen; i++)
        if (a->chosen[i].target == t && a->chosen[i].check == c)
            return &a->chosen[i];
    return NULL;
}

static bool runs(const struct chosen *ch, const char *agent)
{
    for (size_t k = 0; ch->agents[k] != NULL; k++)
        if (strcmp(ch->agents[k], agent) == 0)
            return true;
    return false;
}

void assign_view_clear(struct wire_config *out)
{
    for (size_t i = 0; i < out->ntargets; i++)
        free(out->targets[i].checks);
    free(out->targets);
    memset(out, 0, sizeof(*out));
}

int assign_view(const struct assign *a, const char *agent, struct wire_config *out,
                char version[ASSIGN_VERSION_MAX])
{
    const struct wire_config *b = a->base;
    memset(out, 0, sizeof(*out));
    out->targets = calloc(b->ntargets ? b->ntargets : 1, sizeof(*out->targets));
    if (out->targets == NULL)
        return -1;
    uint64_t h = FNV_INIT;
    for (size_t t = 0; t < b->ntargets; t++) {
        const struct wire_target *bt = &b->targets[t];
        struct wire_target *ot = &out->targets[out->ntargets++];
        *ot = *bt;
        ot->checks = calloc(bt->nchecks ? bt->nchecks : 1, sizeof(char *));
        if (ot->checks == NULL) {
            assign_view_clear(out);
            return -1;
        }
        ot->nchecks = 0;
        for (size_t c = 0; c < bt->nchecks; c++) {
            const struct chosen *ch = chosen_of(a, t, c);
            if (ch != NULL && !runs(ch, agent))
                continue;
            if (ch != NULL)
                h = fnv(fnv(h, bt->name), bt->checks[c]);
            ot->checks[ot->nchecks++] = bt->checks[c];
        }
    }
    out->version = b->version;
    out->rdap_bootstrap_url = b->rdap_bootstrap_url;
    out->rdap_bootstrap_json = b->rdap_bootstrap_json;
    snprintf(version, ASSIGN_VERSION_MAX, "%.40s-r%016llx", b->version ? b->version : "",
             (unsigned long long)h);
    return 0;
}

const char *const *assign_rdap_agents(const struct assign *a, const char *target, const char *check)
{
    for (size_t i = 0; i < a->nchosen; i++) {
        const struct wire_target *t = &a->base->targets[a->chosen[i].target];
        if (strcmp(t->name, target) == 0 && strcmp(t->checks[a->chosen[i].check], check) == 0)
            return a->chosen[i].agents;
    }
    return NULL;
}
