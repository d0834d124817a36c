/*
 * fleet_sim — thousands of simulated agents in a few threads. Each agent
 * has its own CURVE key and DEALER socket and speaks the agent's protocol
 * as agent/uplink.c does: hello, batches of encoded results with a
 * per-agent sequence, acks (with gap = resend), heartbeats when idle, a
 * window of unacknowledged results. Each round (every interval) an agent
 * produces one result per check, as a real agent's checks of one target
 * finish together and leave in one batch.
 */
#ifndef VANTAGE_FLEET_SIM_H
#define VANTAGE_FLEET_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A result is due every interval_us / checks per agent; this keeps one
 * agent's round in one batch whatever the rate. */
struct fleet_sim_params {
    size_t agents; /* simulated here: agents first .. first + agents - 1 */
    size_t first;
    size_t fleet; /* agents in the whole fleet (over every process): phases */
    int threads;
    const char *const *endpoints; /* agent i dials endpoints[i % nendpoints] */
    size_t nendpoints;
    const char *server_key;        /* Z85 public key of the collector(s) */
    const char (*secret_keys)[41]; /* Z85 secret keys of the whole fleet, by agent number */
    const char *target;            /* target name of every result */
    int checks;                    /* results per round */
    uint64_t interval_us;          /* between rounds of one agent */
    int per_network;               /* agents per site label */
    int fail_network;              /* this network's agents fail imaps; -1 = none */
    uint64_t window;               /* unacknowledged results per agent */
    int connect_rate;              /* new connections per second while starting */
};

struct fleet_sim_counts {
    uint64_t generated; /* results produced (given a seq) */
    uint64_t acked;     /* results covered by acks */
    uint64_t batches;   /* batches sent, resends included */
    uint64_t resent;    /* results sent again after a gap or a silent collector */
    uint64_t hellos;    /* agents whose hello was acknowledged */
};

struct fleet_sim;

/* Creates the sockets and starts the threads; agents say hello at once and
 * produce nothing until fleet_sim_generate(true). NULL with err. */
struct fleet_sim *fleet_sim_start(const struct fleet_sim_params *p, char *err, size_t errlen);

/* Stops the threads and closes every socket; counts, latencies and the
 * per-agent figures stay readable until fleet_sim_destroy(). */
void fleet_sim_stop(struct fleet_sim *s);
void fleet_sim_destroy(struct fleet_sim **sp);

void fleet_sim_generate(struct fleet_sim *s, bool on);

/* Acknowledgement latencies are recorded only while measuring. */
void fleet_sim_measure(struct fleet_sim *s, bool on);

void fleet_sim_counts(struct fleet_sim *s, struct fleet_sim_counts *c);

/* The recorded latencies (µs) of every thread, sorted; only after
 * fleet_sim_stop(). NULL when none were recorded. */
const uint32_t *fleet_sim_latencies(struct fleet_sim *s, size_t *n);

/* Per agent (i counts from params.first), after fleet_sim_stop(): the
 * highest seq generated and the highest seq acknowledged. */
uint64_t fleet_sim_agent_generated(const struct fleet_sim *s, size_t i);
uint64_t fleet_sim_agent_acked(const struct fleet_sim *s, size_t i);

/* One agent's state in words, for a report of what went missing. */
void fleet_sim_agent_describe(const struct fleet_sim *s, size_t i, char *buf, size_t len);

/* The agent's name: fleet%05zu. */
void fleet_sim_agent_name(size_t i, char *buf, size_t len);

#endif
