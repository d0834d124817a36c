/*
 * linkstate — what a ZeroMQ socket monitor tells about the link to the
 * collector, turned into words an operator can act on.
 *
 * libzmq says little by itself: a collector that is not running, one whose
 * public key the agent has wrong, and one that refuses the agent's key all
 * look like silence to the socket. The monitor's events tell them apart:
 * no ZMQ_EVENT_CONNECTED means nothing answers at the address; CONNECTED
 * followed by ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL or _PROTOCOL means the
 * CURVE handshake failed (with a wrong collector_public_key the collector
 * cannot open the agent's HELLO and drops the connection);
 * ZMQ_EVENT_HANDSHAKE_FAILED_AUTH is the collector's ZAP handler refusing
 * the agent's key. Used by the uplink (warnings while the collector does
 * not answer) and by `vantage-agent check-connection`.
 */
#ifndef VANTAGE_LINKSTATE_H
#define VANTAGE_LINKSTATE_H

#include <stddef.h>
#include <stdint.h>

/* The events linkstate_note() reads; pass them to zmq_socket_monitor(). */
#define LINKSTATE_EVENTS                                                                           \
    (ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CONNECT_RETRIED | ZMQ_EVENT_DISCONNECTED |                    \
     ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |                        \
     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

/* How far connections got, in order: a later stage explains more. */
enum linkstate_stage {
    LINKSTATE_NO_ANSWER,        /* no TCP (or ipc) connection completed */
    LINKSTATE_CONNECTED,        /* connected; no handshake finished or failed */
    LINKSTATE_HANDSHAKE_FAILED, /* the collector dropped the handshake */
    LINKSTATE_REFUSED,          /* the collector refused this agent's key */
    LINKSTATE_UP,               /* handshake done */
    LINKSTATE_LAST
};

struct linkstate {
    enum linkstate_stage stage; /* the furthest stage seen since the reset */
    unsigned attempts_failed;   /* ZMQ_EVENT_CONNECT_RETRIED since the reset */
    uint32_t protocol_error;    /* ZMQ_PROTOCOL_ERROR_* of the last failed handshake; 0 none */
};

/* Forgets what was seen: a new period of trouble starts. */
void linkstate_reset(struct linkstate *ls);

/* Reads one event from a monitor socket without blocking. Returns 1 with
 * *event and *value, 0 when none is waiting. */
int linkstate_read(void *monitor, uint16_t *event, uint32_t *value);

/* Takes one monitor event into account. */
void linkstate_note(struct linkstate *ls, uint16_t event, uint32_t value);

/* Writes what the stage means and what to do about it: the likely causes,
 * naming endpoint and the agent's name (for authorized_keys). */
void linkstate_explain(const struct linkstate *ls, const char *endpoint, const char *name,
                       char *buf, size_t len);

#endif
