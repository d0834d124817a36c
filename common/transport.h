/*
 * transport — ZeroMQ sockets between agents and the collector, and their
 * CURVE keys.
 *
 * The collector binds a ROUTER, agents connect a DEALER (agents sit behind
 * NAT at branch offices, so they always dial out). CURVE is on unless
 * plaintext is asked for by name, and plaintext is refused on anything but
 * a loopback endpoint. Every socket bounds its messages (ZMQ_MAXMSGSIZE;
 * the libzmq default is unlimited), uses ZMTP heartbeats to notice a dead
 * peer, and reconnects with exponential backoff.
 *
 * Key files: NAME.key holds the Z85 secret key (created 0600, refused when
 * group or others can read it); NAME.pub holds the Z85 public key alone on
 * one line.
 */
#ifndef VANTAGE_TRANSPORT_H
#define VANTAGE_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

#define TRANSPORT_KEY_LEN      40 /* Z85 text of a 32-byte CURVE key */
#define TRANSPORT_ENDPOINT_MAX 256
#define TRANSPORT_ZAP_DOMAIN   "vantage"
/* Heartbeats: a peer silent for TIMEOUT is dropped; IVL keeps NAT
 * mappings alive at branch offices, which often expire idle UDP/TCP state
 * after a minute or two. */
#define TRANSPORT_HEARTBEAT_IVL_MS     5000
#define TRANSPORT_HEARTBEAT_TIMEOUT_MS 15000
#define TRANSPORT_RECONNECT_MS         250 /* first retry: quick after a restart */
/* Backoff ceiling during an outage: one connection attempt per agent every
 * few seconds costs a collector nothing, and a restarted collector hears
 * from every agent within this long. */
#define TRANSPORT_RECONNECT_MAX_MS 5000
/* Messages the collector queues per agent connection (transport.c says
 * why): 4 batches in flight, hello and heartbeats, with room to spare. */
#define TRANSPORT_PEER_RCVHWM 32

/* Connections waiting to be accepted. libzmq's default of 100 overflows
 * when a fleet reconnects at once (a collector restart: every agent
 * retries within TRANSPORT_RECONNECT_MS): the kernel drops the rest, and
 * each dropped agent waits out SYN retransmission, 1, 3, 7, 15 s...
 * (bench/fleet: 3,000 agents took 37 s to connect). The kernel caps it
 * at net.core.somaxconn (4096 by default). */
#define TRANSPORT_BACKLOG 4096

struct transport_keys {
    char public_key[TRANSPORT_KEY_LEN + 1];
    char secret_key[TRANSPORT_KEY_LEN + 1];
};

struct transport_opts {
    const char *endpoint;              /* "tcp://host:port" or "ipc://path" */
    bool plaintext;                    /* insecure_plaintext = yes */
    const struct transport_keys *keys; /* own keys; unused when plaintext */
    const char *server_key;            /* client only: collector's Z85 public key */
};

/* Writes DIR/NAME.key (0600) and DIR/NAME.pub for a new CURVE key pair,
 * refusing to overwrite an existing key. Returns 0, or -1 with err. */
int transport_keygen(const char *dir, const char *name, char *err, size_t errlen);

/* Reads a secret key file and derives its public key. Returns 0, or -1
 * with err (missing, unreadable, group/other-readable, malformed). */
int transport_load_keys(const char *path, struct transport_keys *keys, char *err, size_t errlen);

/* Whether the file at path, named value in a config file, holds a public
 * key where a secret key belongs: its name ends in ".pub" (keygen's
 * NAME.pub), or its first line is known_public (the peer's public key
 * from the same config; may be NULL). Both are 40 Z85 characters on a
 * line, so the content alone cannot tell them apart. Returns 1 with what
 * to write instead in err, 0 when it looks like a secret key file (or
 * cannot be read: loading it will say why). */
int transport_key_file_public(const char *path, const char *value, const char *known_public,
                              char *err, size_t errlen);

/* Whether text is a valid Z85-encoded 32-byte key. */
bool transport_key_valid(const char *text);

/* Whether endpoint names only this machine (loopback tcp, ipc, inproc). */
bool transport_endpoint_is_local(const char *endpoint);

/* Creates and binds the collector's ROUTER on ctx. The caller must have
 * bound a ZAP handler (inproc://zeromq.zap.01) first when using CURVE.
 * Returns the socket, or NULL with err. */
void *transport_server_create(void *ctx, const struct transport_opts *o, char *err, size_t errlen);

/* Creates and connects an agent's DEALER on ctx. Returns the socket, or
 * NULL with err. Connection happens in the background. */
void *transport_client_create(void *ctx, const struct transport_opts *o, char *err, size_t errlen);

/* Closes a socket created here (never blocks: linger 0) and NULLs *sockp. */
void transport_close(void **sockp);

#endif
