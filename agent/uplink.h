/*
 * uplink — the agent's link to its collector: a ZeroMQ DEALER driven by the
 * agent's libuv loop.
 *
 * It says hello (name, site, version, network context, spool statistics),
 * ships spooled results in sequence order in batches of up to
 * WIRE_BATCH_MAX with a bounded number in flight, deletes rows from the
 * spool only when the collector acknowledges them, and resends whatever
 * was not acknowledged after a silence (the collector ignores duplicates).
 * Target configurations and run-now commands from the collector are handed
 * to the callbacks. ZMQ_FD is edge-triggered, so ZMQ_EVENTS is re-read
 * after every send and receive, and a timer re-checks it as a safety net.
 *
 * Failover: with several collector endpoints (collectors that share one
 * database), it sends to one at a time, the first at start. When that one
 * has no connection, or leaves what was sent to it unanswered, for
 * failover_us, it closes the link (so no late ack of the old one is ever
 * read) and sends to the next, starting with a hello and a resend of
 * everything unacknowledged; the new collector acks from what the database
 * has committed. While it is not on the first, every failback_us it asks
 * the earlier ones with a check-only hello (nothing recorded) and goes
 * back to the first that answers. Each switch is logged once, with why.
 */
#ifndef VANTAGE_UPLINK_H
#define VANTAGE_UPLINK_H

#include <stdint.h>
#include <uv.h>

#include "log.h"
#include "netctx.h"
#include "spool.h"
#include "transport.h"
#include "wire.h"

/* Results in flight without an ack: a few batches keep the pipe full over
 * a long-latency link without resending much after a loss. */
#define UPLINK_WINDOW (4 * WIRE_BATCH_MAX)
/* No word from the collector for this long: resend what is unacknowledged
 * and say hello again (it may have restarted). */
#define UPLINK_SILENCE_MS   25000
#define UPLINK_HEARTBEAT_MS 10000
/* After the collector refused our key, try again this often: the operator
 * may have added it to authorized_keys in the meantime. */
#define UPLINK_REFUSED_RETRY_MS 10000
/* A batch without an ack for this long is sent again. */
#define UPLINK_ACK_TIMEOUT_MS 5000
/* Results are held this long to travel together instead of one by one. */
#define UPLINK_COALESCE_MS 100
/* collector = lines an agent may list (agentconf.h says why). */
#define UPLINK_ENDPOINTS_MAX 8

struct uplink;

typedef void (*uplink_config_cb)(const struct wire_config *c, void *arg);
typedef void (*uplink_run_now_cb)(const char *target, uint64_t request_id, void *arg);

struct uplink_params {
    uv_loop_t *loop;
    struct log *log;
    struct spool *spool; /* not owned */
    const char *name;
    const char *site;             /* may be NULL */
    const char *const *endpoints; /* in order of preference; copied */
    size_t nendpoints;            /* 1 to UPLINK_ENDPOINTS_MAX */
    int64_t failover_us;          /* with several: no answer this long, the next; 0 = default */
    int64_t failback_us;          /* with several: how often earlier ones are asked; 0 = default */
    bool plaintext;
    const struct transport_keys *keys;
    const char *server_key;
    uplink_config_cb on_config;
    uplink_run_now_cb on_run_now;
    void *arg;
};

/* Creates the link and starts connecting. NULL with err on failure. */
struct uplink *uplink_create(const struct uplink_params *p, char *err, size_t errlen);

/* Closes the socket and the loop handles; frees once they are closed (run
 * the loop afterwards). Sets *up to NULL. */
void uplink_destroy(struct uplink **up);

/* New results are in the spool: ship them soon. */
void uplink_kick(struct uplink *u);

/* The network context changed (or is first known): say hello again. */
void uplink_set_netctx(struct uplink *u, const struct netctx *ctx);

/* The target configuration version the agent runs (sent in hello). */
void uplink_set_config_version(struct uplink *u, const char *version);

/* Whether the collector answered within UPLINK_SILENCE_MS. */
bool uplink_connected(const struct uplink *u);

/* The endpoint of the collector the agent sends to now. */
const char *uplink_endpoint(const struct uplink *u);

#endif
