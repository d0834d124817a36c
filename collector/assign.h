/*
 * assign — which agents read a domain's registration (docs/reference.md
 * "What a target's domain adds"): each rdap:// check of the targets goes
 * to at most ASSIGN_RDAP_AGENTS connected agents on different networks,
 * because registries rate-limit; every other check goes to every agent.
 *
 * The ranking is deterministic and needs no state: agents are ordered by
 * a hash of (check, agent name), the best of each network competes, and
 * the best ASSIGN_RDAP_AGENTS networks win. An agent joining or leaving
 * moves a check only when it is (or was) among the chosen, and different
 * domains land on different agents.
 *
 * Since the set of checks then differs per agent, so does the config's
 * version: VERSION-r<hash of the agent's rdap checks>, what the agent
 * echoes in its hello; serve.c re-pushes when an agent's version changes.
 * @unittest: tests/unit/test_assign.c
 */
#ifndef VANTAGE_ASSIGN_H
#define VANTAGE_ASSIGN_H

#include <stddef.h>

#include "wire.h"

#define ASSIGN_RDAP_AGENTS 3
/* "VERSION-r" and 16 hex digits after a version of at most this. */
#define ASSIGN_VERSION_MAX 64

struct assign_agent {
    const char *name;
    const char *network;
};

struct assign;

/* Ranks the agents for every rdap:// check of base (which must outlive
 * the assignment; agents are copied). NULL when out of memory. */
struct assign *assign_create(const struct wire_config *base, const struct assign_agent *agents,
                             size_t nagents);
void assign_destroy(struct assign **ap);

/* The config agent is to run: base's targets with only the rdap:// checks
 * assigned to agent, and the version of that set. out's arrays are the
 * caller's (assign_view_clear), its strings point into base. 0, or -1
 * when out of memory. */
int assign_view(const struct assign *a, const char *agent, struct wire_config *out,
                char version[ASSIGN_VERSION_MAX]) __attribute__((warn_unused_result));
void assign_view_clear(struct wire_config *out);

/* The agents chosen for check of target (NULL-terminated, at most
 * ASSIGN_RDAP_AGENTS; valid while a lives), or NULL when check is not an
 * rdap:// check of it. */
const char *const *assign_rdap_agents(const struct assign *a, const char *target,
                                      const char *check);

#endif
