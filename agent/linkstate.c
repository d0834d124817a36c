/*
 * linkstate — monitor events and what they mean (linkstate.h).
 */
#include "linkstate.h"

#include <stdio.h>
#include <string.h>
#include <zmq.h>

void linkstate_reset(struct linkstate *ls)
{
    memset(ls, 0, sizeof(*ls));
}

int linkstate_read(void *monitor, uint16_t *event, uint32_t *value)
{
    zmq_msg_t frame;
    zmq_msg_init(&frame);
    if (zmq_msg_recv(&frame, monitor, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&frame);
        return 0;
    }
    /* The first frame: a 16-bit event and a 32-bit value (errno, protocol
     * error or ZAP status), in host order. */
    *event = 0;
    *value = 0;
    if (zmq_msg_size(&frame) >= 6) {
        memcpy(event, zmq_msg_data(&frame), 2);
        memcpy(value, (uint8_t *)zmq_msg_data(&frame) + 2, 4);
    }
    int more = zmq_msg_more(&frame);
    zmq_msg_close(&frame);
    while (more) { /* the second frame: the endpoint */
        zmq_msg_init(&frame);
        if (zmq_msg_recv(&frame, monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&frame);
            break;
        }
        more = zmq_msg_more(&frame);
        zmq_msg_close(&frame);
    }
    return 1;
}

static void advance(struct linkstate *ls, enum linkstate_stage stage)
{
    if (stage > ls->stage)
        ls->stage = stage;
}

void linkstate_note(struct linkstate *ls, uint16_t event, uint32_t value)
{
    switch (event) {
    case ZMQ_EVENT_CONNECTED:
        advance(ls, LINKSTATE_CONNECTED);
        break;
    case ZMQ_EVENT_CONNECT_RETRIED:
        ls->attempts_failed++;
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        ls->protocol_error = value;
        advance(ls, LINKSTATE_HANDSHAKE_FAILED);
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        advance(ls, LINKSTATE_HANDSHAKE_FAILED);
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        advance(ls, LINKSTATE_REFUSED);
        break;
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        advance(ls, LINKSTATE_UP);
        break;
    default:
        break;
    }
}

void linkstate_explain(const struct linkstate *ls, const char *endpoint, const char *name,
                       char *buf, size_t len)
{
    switch (ls->stage) {
    case LINKSTATE_NO_ANSWER:
        snprintf(buf, len,
                 "nothing answers at %s%s: is the collector running (vantage-collector serve) "
                 "and listening on that address (listen = in its collector.conf)? Is the address "
                 "right in collector = and reachable from here (name, port, firewall)?",
                 endpoint,
                 ls->attempts_failed ? " (connection refused or unreachable)" : " (no reply)");
        break;
    case LINKSTATE_CONNECTED:
        snprintf(buf, len,
                 "a connection to %s opens but no handshake completes: is the service at that "
                 "port the vantage collector (listen = in its collector.conf)?",
                 endpoint);
        break;
    case LINKSTATE_HANDSHAKE_FAILED:
        if (ls->protocol_error == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
            snprintf(buf, len,
                     "the collector at %s and this agent disagree on encryption: "
                     "insecure_plaintext = yes is set on one side only; set it on both or "
                     "neither",
                     endpoint);
        else
            snprintf(buf, len,
                     "the collector at %s answers but the CURVE handshake fails: "
                     "collector_public_key in agent.conf is most likely not the line of that "
                     "collector's collector.pub (copy that line again), or the service at that "
                     "address is not the vantage collector",
                     endpoint);
        break;
    case LINKSTATE_REFUSED:
        snprintf(buf, len,
                 "the collector at %s refused this agent's key: add the line of agent.pub "
                 "followed by the name '%s' to its authorized_keys and send it SIGHUP",
                 endpoint, name);
        break;
    case LINKSTATE_UP:
        snprintf(buf, len,
                 "the handshake with the collector at %s succeeds but it does not answer: is it "
                 "overloaded, or stuck (see its log)?",
                 endpoint);
        break;
    default:
        snprintf(buf, len, "unknown link state");
        break;
    }
}
