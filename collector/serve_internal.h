/*
 * serve_internal — what the collector daemon's files share (serve.c: the
 * loop, sessions and ingest; serve_control.c: probe-now from the CLI and
 * from the cluster's queue, and the cluster's heartbeat). Not a public
 * interface: serve.h is.
 */
#ifndef VANTAGE_SERVE_INTERNAL_H
#define VANTAGE_SERVE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "assign.h"
#include "auth.h"
#include "collconf.h"
#include "ingest.h"
#include "log.h"
#include "result.h"
#include "serve.h"
#include "wire.h"

#define SESSION_ID_MAX    256  /* ZeroMQ routing ids are at most 255 bytes */
#define SERVE_CONTROL_MAX 4096 /* a control request: a command and a target */

struct session {
    uint8_t id[SESSION_ID_MAX];
    size_t idlen;
    char name[RESULT_NAME_MAX + 1];
    char network[RESULT_NAME_MAX + 1];
    char address[64];
    int64_t agent_id;
    int64_t last_seen_us;
    bool dirty;                              /* last_seen not yet written */
    bool acked;                              /* a batch was stored: send an ack */
    bool gap;                                /* a batch came after a missing one */
    bool gap_logged;                         /* this run of refused batches is in the log already */
    bool fresh;                              /* no hello yet from this connection */
    uint64_t ack_seq;                        /* every seq <= this is stored */
    uint64_t txn_seq;                        /* ack_seq once the open txn commits */
    char config_version[ASSIGN_VERSION_MAX]; /* what the agent said it runs */
    struct wire_spool_stats spool;
    bool have_spool; /* spool holds an agent's report */
    bool revoked;    /* its key left authorized_keys: refuse what it sends */
};

struct serve {
    struct collconf **conf;
    struct log *log;
    void *ctx;
    void *router;
    void *control; /* REP: probe-now requests from the CLI */
    uint64_t next_request;
    struct auth *auth;
    struct store *store;
    struct ingest *ingest;
    struct monitor *monitor; /* continuous diagnosis, its own thread */
    struct cluster *cluster; /* registry, lease, probe-now queue (cluster.h) */
    int sigfd;
    struct session *sessions;
    size_t nsessions;
    struct sessmap *by_id;   /* sessions by routing id */
    struct sessmap *by_name; /* sessions by agent name */
    size_t cap;
    int64_t last_flush_us;
    uint64_t invalid_msgs;
    struct ingest_stats totals;
    struct ingest_stats txn_stats; /* of the open transaction: totals once committed */
    struct web *web;               /* the HTTP endpoint (http =); NULL when off */
    /* rdap:// checks per agent (assign.h), for the agents connected when
     * it was made: connected_sig says which. */
    struct assign *assign;
    uint64_t connected_sig;
    int64_t last_assign_us;
    struct retention *retention; /* rollups and pruning between transactions */
};

/* Re-reads authorized_keys; sessions of agents no longer listed are
 * refused from now on (revoke), re-listed ones admitted again. */
void serve_reload_keys(struct serve *s);

/* Sends m to se's connection without waiting. Returns 0 or -1. */
int serve_send_msg(struct serve *s, const struct session *se, const struct wire_msg *m);

/* Whether se said hello and was heard from within the connected window. */
bool serve_session_connected(const struct session *se, int64_t now);

/* One control request from the CLI (serve_control.c). */
void serve_handle_control(struct serve *s);

/* Heartbeat, lease and queued probe-now requests, when due or woken. */
void serve_cluster_step(struct serve *s, bool woken);

#endif
