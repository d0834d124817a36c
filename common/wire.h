/*
 * wire — the only module that sees the generated protobuf-c code
 * (proto/vantage.proto). Everything else builds and reads messages here.
 *
 * Decoding validates: every string is bounded and UTF-8-free of NULs, every
 * list is bounded, enum values outside the taxonomy are mapped to
 * RESULT_INTERNAL with a detail that says so, and a message of the wrong
 * protocol version or with no body is refused with a reason.
 */
#ifndef VANTAGE_WIRE_H
#define VANTAGE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "result.h"

#define WIRE_PROTOCOL_VERSION 1
/* The largest message either side accepts (ZMQ_MAXMSGSIZE). A batch of
 * WIRE_BATCH_MAX results of a few hundred bytes each fits with room. */
#define WIRE_MSG_MAX (8 << 20)
/* Results per batch: large enough to amortise a CURVE frame and a
 * transaction, small enough that a resend after a partition is cheap. */
#define WIRE_BATCH_MAX 1000
/* Encoded results per batch stop short of this many bytes. A result with
 * every list at RESULT_LIST_MAX of RESULT_STR_MAX strings is about 4.3 MB,
 * so a batch of large results (or one such result, which always goes)
 * still fits WIRE_MSG_MAX: a batch the collector's socket would refuse
 * would be resent forever. */
#define WIRE_BATCH_BYTES       (WIRE_MSG_MAX / 2)
#define WIRE_TARGETS_MAX       4096 /* targets in one config push */
#define WIRE_CHECKS_MAX        64   /* checks per target */
#define WIRE_ENROLL_SECRET_MAX 64   /* an enrollment secret: 32 bytes in hex */
#define WIRE_ENROLL_ERROR_MAX  512  /* one sentence for the person enrolling */
/* A pushed RDAP bootstrap file: IANA's dns.json is about 30 kB; a MiB
 * bounds a broken one and stays far below WIRE_MSG_MAX. */
#define WIRE_RDAP_BOOTSTRAP_MAX (1 << 20)

enum wire_kind {
    WIRE_HELLO,
    WIRE_BATCH,
    WIRE_ACK,
    WIRE_CONFIG,
    WIRE_RUN_NOW,
    WIRE_HEARTBEAT,
    WIRE_ENROLL,
    WIRE_ENROLLED,
    WIRE_KIND_LAST
};

struct wire_netctx {
    char **addresses;
    size_t naddresses;
    char *gateway;
    char **resolvers;
    size_t nresolvers;
};

struct wire_spool_stats {
    uint64_t pending;
    uint64_t dropped;
    uint64_t next_seq;
};

struct wire_hello {
    char *name;
    char *site;
    char *version;
    struct wire_netctx net;
    struct wire_spool_stats spool;
    char *config_version;
    bool check_only; /* a connection check: ack it, record nothing */
};

struct wire_target {
    char *name;
    char *domain;
    char **checks;
    size_t nchecks;
    uint32_t interval_ms;
    uint32_t timeout_ms;
    char *credentials;
    uint32_t mailflow_interval_ms; /* mailflow:// checks' own interval; 0 = default */
    uint32_t mailflow_timeout_ms;  /* and timeout (mail may take long to arrive); 0 = default */
    uint32_t rdap_interval_ms;     /* rdap:// checks' own interval; 0 = default */
};

struct wire_config {
    char *version;
    struct wire_target *targets;
    size_t ntargets;
    /* The RDAP bootstrap registry: a URL, or a file's content; NULL = the
     * agent's default. */
    char *rdap_bootstrap_url;
    char *rdap_bootstrap_json;
};

/* A batch refers to encoded results; on encode the caller owns them, on
 * decode they point into the decoded message and live as long as it. */
struct wire_batch {
    const uint8_t **results;
    size_t *lens;
    size_t nresults;
    struct wire_spool_stats spool;
    char *site;         /* the agent's site label; may be NULL */
    uint64_t after_seq; /* highest seq sent before this batch */
};

struct wire_msg {
    enum wire_kind kind;
    char *agent; /* claimed sender name; may be NULL */
    union {
        struct wire_hello hello;
        struct wire_batch batch;
        struct {
            uint64_t seq; /* every result with seq <= this is stored */
            bool gap;     /* results after seq are missing: resend */
            char *name;   /* answering a hello: the agent's name there; may be NULL */
        } ack;
        struct wire_config config;
        struct {
            char *target;
            uint64_t request_id;
        } run_now;
        int64_t heartbeat_us;
        struct {
            char *name;
            char *secret; /* the line's one-time secret: never logged */
            char *site;
            char *version;
        } enroll;
        struct {
            bool ok;
            char *name;
            char *error;
        } enrolled;
    } u;
    void *priv; /* the decoded protobuf message, if any */
};

/* Encodes one result (including r->seq when r->has_seq) into a malloc'ed
 * buffer. Returns 0, or -1 when out of memory. */
int wire_result_encode(const struct result *r, uint8_t **buf, size_t *len)
    __attribute__((warn_unused_result));

/* Decodes and validates one result into *out (result_init'ed by the call).
 * Returns 0, or -1 with the reason in err (and *out cleared). */
int wire_result_decode(const uint8_t *buf, size_t len, struct result *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* An arena for decoding many results without a malloc per field: the
 * collector's hot path. Everything decoded into it lives until the next
 * wire_arena_reset(). */
struct wire_arena;
struct wire_arena *wire_arena_create(void);
void wire_arena_reset(struct wire_arena *a);
void wire_arena_destroy(struct wire_arena **ap);

/* Like wire_result_decode(), but *out borrows every string and list from
 * the arena: valid until wire_arena_reset(); never result_clear() it. */
int wire_result_decode_in(struct wire_arena *a, const uint8_t *buf, size_t len, struct result *out,
                          char *err, size_t errlen) __attribute__((warn_unused_result));

/* Encodes a message into a malloc'ed buffer. Returns 0 or -1 (no memory,
 * or a field beyond the bounds above). */
int wire_msg_encode(const struct wire_msg *m, uint8_t **buf, size_t *len)
    __attribute__((warn_unused_result));

/* Decodes and validates a message. Returns a message to free with
 * wire_msg_free(), or NULL with the reason in err. */
struct wire_msg *wire_msg_decode(const uint8_t *buf, size_t len, char *err, size_t errlen);

/* Frees a decoded message (never one the caller built for encoding). */
void wire_msg_free(struct wire_msg **mp);

/* Frees the strings of a hello / config the caller built or copied. */
void wire_hello_clear(struct wire_hello *h);
void wire_config_clear(struct wire_config *c);

/* Deep-copies a decoded config so it can outlive its message. */
int wire_config_copy(const struct wire_config *src, struct wire_config *dst);

const char *wire_kind_name(enum wire_kind kind);

/* The protobuf-c library's version, as loaded (for --version). */
const char *wire_library_version(void);

#endif
