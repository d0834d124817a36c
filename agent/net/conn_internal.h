/*
 * conn_internal — what conn.c, conn_tls.c and conn_io.c share and
 * nothing else includes: the connection struct (opaque outside them) and
 * the few functions one part calls in another. conn.h stays the API.
 */
#ifndef VANTAGE_CONN_INTERNAL_H
#define VANTAGE_CONN_INTERNAL_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "conn.h"

/* Room for the per-address failure list in a detail string. */
#define CONN_DETAIL_MAX 512

struct conn_tls {
    SSL_CTX *ctx;
};

struct attempt {
    struct conn *conn;
    uv_poll_t poll;
    int fd;           /* -1 when not open */
    bool poll_open;   /* handle initialised and not yet closed */
    bool pending;     /* connect in flight */
    uint64_t started; /* monotonic */
};

struct conn {
    uv_loop_t *loop;
    conn_event_cb cb;
    void *arg;
    SSL_CTX *ctx; /* own reference, or NULL */
    struct sockaddr_storage addrs[CONN_ADDRS_MAX];
    size_t naddrs;
    size_t next_addr;     /* next address to try */
    char servername[256]; /* DNS names are at most 253 octets */
    uint64_t deadline_us;
    size_t line_max;
    struct result *result;

    enum conn_state state;
    struct attempt attempts[CONN_ADDRS_MAX];
    struct attempt *winner; /* the attempt whose fd carries the stream */
    int fd;
    uv_timer_t deadline_timer;
    uv_timer_t aux_timer; /* next-attempt delay while connecting; later a kick */
    unsigned open_handles;
    bool closing;
    conn_closed_cb closed_cb;
    void *closed_arg;

    SSL *ssl;
    bool ssl_want_write; /* OpenSSL waits for the fd to become writable */
    long first_verify_err;

    char *in; /* line_max bytes */
    size_t inlen;
    size_t outcap; /* bytes allocated at out (0: none yet) */
    char *line;    /* line_max + 1 bytes: the line handed out */
    size_t linelen;
    bool reading;
    bool raw;      /* conn_read_raw(): bytes, not lines */
    size_t rawlen; /* bytes at in handed out by the current CONN_EV_DATA */
    bool eof_pending;
    bool fail_pending;
    enum result_error pend_error; /* what fail_pending will report */
    char pend_detail[RESULT_STR_MAX + 1];
    enum result_error connect_error; /* classification of the last failed attempt */

    char *out;
    size_t outlen;
    uint64_t t_start, t_connected, t_tls_start;

    enum result_error error;
    char detail[RESULT_STR_MAX + 1];
    char tried[CONN_DETAIL_MAX]; /* "addr: reason; ..." while connecting */
};

/* conn.c: the only way to change state, so that every transition can be
 * traced. */
void conn_set_state(struct conn *c, enum conn_state s);

/* conn.c: hands ev to the owner's callback unless the conn is closing. */
void conn_emit(struct conn *c, enum conn_event ev);

/* conn.c: records the failure and its detail, ends the connection and
 * tells the owner (CONN_EV_FAILED). */
void conn_fail(struct conn *c, enum result_error e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* conn.c: the real reason a socket reported an error or EPOLLERR. */
int conn_socket_error(int fd, int status);

/* conn.c: a connect attempt's fd became ready (connected or failed). */
void conn_attempt_ready(struct conn *c, struct attempt *a, int status);

/* conn_tls.c: drives the TLS handshake one step. */
void conn_do_handshake(struct conn *c);

/* conn_io.c: sets the readiness the fd is watched for from the state. */
void conn_update_poll(struct conn *c);

/* conn_io.c: hands the owner whatever is ready (lines, data, EOF, a
 * pending failure). */
void conn_dispatch(struct conn *c);

/* conn_io.c: the uv_poll callback of every attempt's fd. */
void conn_on_io(uv_poll_t *h, int status, int events);

#endif
