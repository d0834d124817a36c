/*
 * collink — one ZeroMQ link from the agent to one collector endpoint: a
 * DEALER (transport.h) with its socket monitor, both watched by the
 * agent's libuv loop.
 *
 * The uplink keeps one for the collector it sends to, and opens short-lived
 * ones to ask an earlier collector of agent.conf whether it answers again
 * (failback). Switching collectors closes one link and opens another, so a
 * link's sockets must outlive the libuv handles that watch their fds:
 * closing is asynchronous, and the sockets are closed only once libuv has
 * let go of the handles (an fd number reused by the next link's socket
 * must never meet a stale watcher).
 */
#ifndef VANTAGE_COLLINK_H
#define VANTAGE_COLLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "transport.h"

struct collink;

/* Something may be waiting on the link: monitor says whether it was the
 * monitor's fd. ZMQ_FD is edge-triggered: read ZMQ_EVENTS until it says
 * nothing is left. */
typedef void (*collink_event_cb)(struct collink *l, bool monitor, void *arg);

struct collink_params {
    uv_loop_t *loop;
    void *ctx;            /* the ZeroMQ context; outlives the link */
    const char *endpoint; /* copied */
    bool plaintext;
    const struct transport_keys *keys; /* used at once, not kept */
    const char *server_key;
    unsigned serial; /* unique per ctx: names the monitor's inproc endpoint */
    collink_event_cb on_event;
    void *arg;
};

/* Creates the socket and its monitor and starts connecting in the
 * background. NULL with err on failure. */
struct collink *collink_open(const struct collink_params *p, char *err, size_t errlen);

/* Stops watching the link and closes it. The sockets are closed and the
 * memory freed once libuv has closed the handles (run the loop); on_closed
 * (may be NULL) is called with arg then, so that the owner can wait for
 * every link before it terminates the ZeroMQ context. Nothing queued on the
 * socket is sent (linger 0). Sets *lp to NULL; does nothing on NULL. */
void collink_close(struct collink **lp, void (*on_closed)(void *arg), void *arg);

/* The DEALER socket and the PAIR socket its monitor events arrive on. */
void *collink_socket(const struct collink *l);
void *collink_monitor(const struct collink *l);

/* The endpoint the link connects to. */
const char *collink_endpoint(const struct collink *l);

#endif
