/*
 * conn — the transport under every dialog: a non-blocking TCP connection
 * (with per-address fallback), an optional TLS layer (implicit, or started
 * later for STARTTLS), a bounded line reader and a write call, all driven
 * by the agent's one libuv loop.
 *
 * The connection reports everything through one callback with an event
 * enum, which the dialog handles in one switch (STYLE.md §5). Failures of
 * the probed server are classified here into the taxonomy of result.h
 * (tcp_*, tls_*); end-of-stream, too-long lines and read timeouts are
 * events, because only the dialog knows whether they mean
 * proto_bad_greeting, proto_closed or proto_timeout.
 *
 * What conn learns is written straight into the caller's result (params.
 * result): address and port used, TLS facts, phases_us[CONNECT] (TCP
 * handshake of the address that won) and phases_us[TLS] (the TLS handshake
 * itself, implicit or after STARTTLS). The dialog owns the other phases.
 *
 * Usage sketch (an imaps-like dialog):
 *
 *     struct conn_params cp = {
 *         .loop = loop, .tls = engine_tls, .addrs = addrs, .naddrs = n,
 *         .port = 993, .servername = "mail.example.com",
 *         .deadline_us = clock_mono_us() + timeout_us, .result = &result,
 *     };
 *     p->conn = conn_create(&cp, on_conn, p, err, sizeof(err));
 *     if (p->conn == NULL || conn_connect(p->conn, err, sizeof(err)) < 0) ...
 *
 *     static void on_conn(struct conn *c, enum conn_event ev, void *arg)
 *     {
 *         switch (ev) {
 *         case CONN_EV_CONNECTED:   conn_tls_start(c, ...); break;
 *         case CONN_EV_TLS_READY:   conn_read_start(c); break;
 *         case CONN_EV_LINE:        line = conn_line(c, &len); ... ;
 *                                   conn_write(c, "a1 CAPABILITY\r\n", 15, ...);
 *                                   break;
 *         case CONN_EV_FAILED:      result_fail(r, conn_error(c), "%s",
 *                                               conn_error_detail(c)); done(); break;
 *         case CONN_EV_LINE_TOO_LONG: -> proto_bad_greeting (or as fits)
 *         case CONN_EV_EOF:         -> proto_closed
 *         case CONN_EV_TIMEOUT:     -> proto_timeout
 *         case CONN_EV_LAST:        abort();
 *         }
 *     }
 *
 *     conn_destroy(&p->conn, on_closed, p);  // on_closed: fds, timers gone
 *
 * Callbacks run on the loop. Inside the callback the dialog may call any
 * conn function, including conn_destroy(); no event follows a destroy.
 */
#ifndef VANTAGE_CONN_H
#define VANTAGE_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "result.h"

struct conn;
struct conn_tls; /* shared TLS client context: trust store, versions */

/* Longest line the reader accepts, CRLF included, when params.line_max is 0.
 * RFC 5321 §4.5.3.1.5 limits SMTP reply lines to 512 octets and RFC 3501
 * IMAP servers send CAPABILITY lines of a few hundred; 8 KiB leaves room
 * for the long capability lists of real servers and for HTTP headers while
 * bounding what a hostile peer can make us buffer. */
#define CONN_LINE_MAX_DEFAULT 8192

/* Upper bound for params.line_max, so no caller can ask for unbounded
 * buffers: 64 KiB covers the largest HTTP header line servers accept. */
#define CONN_LINE_MAX_LIMIT 65536

/* Delay before trying the next address while the previous one is still
 * connecting: RFC 8305 §5 recommends 250 ms ("Connection Attempt Delay"). */
#define CONN_ATTEMPT_DELAY_US 250000

/* At most this many addresses are tried; a name with more A/AAAA records
 * than this is rare, and mail clients give up long before. */
#define CONN_ADDRS_MAX 16

enum conn_event {
    CONN_EV_CONNECTED,     /* TCP is up; result->address/port say where */
    CONN_EV_TLS_READY,     /* handshake done and the certificate verified */
    CONN_EV_LINE,          /* a complete line: conn_line() */
    CONN_EV_EOF,           /* the peer closed the stream (TCP FIN or TLS close) */
    CONN_EV_LINE_TOO_LONG, /* a line exceeded line_max; reading stopped */
    CONN_EV_TIMEOUT,       /* deadline passed while reading or writing */
    CONN_EV_FAILED,        /* classified failure: conn_error(), conn_error_detail() */
    CONN_EV_DATA,          /* raw mode (conn_read_raw): bytes arrived: conn_data() */
    CONN_EV_LAST
};

/* The stage the connection is in, for logs and for classifying timeouts. */
enum conn_state {
    CONN_ST_IDLE,       /* created, conn_connect() not yet called */
    CONN_ST_CONNECTING, /* TCP handshakes in flight */
    CONN_ST_OPEN,       /* plain TCP stream */
    CONN_ST_HANDSHAKE,  /* TLS handshake in flight */
    CONN_ST_TLS,        /* TLS stream */
    CONN_ST_DONE,       /* failed or EOF; only destroy remains */
    CONN_ST_LAST
};

typedef void (*conn_event_cb)(struct conn *c, enum conn_event ev, void *arg);
typedef void (*conn_closed_cb)(void *arg);

struct conn_params {
    uv_loop_t *loop;
    struct conn_tls *tls;                 /* needed for conn_tls_start(); may be NULL otherwise */
    const struct sockaddr_storage *addrs; /* tried in order (copied; <= CONN_ADDRS_MAX used) */
    size_t naddrs;
    uint16_t port;          /* overrides the port in addrs when not 0 */
    const char *servername; /* SNI and the hostname checked; an IP literal is
                               checked as an address and sent without SNI */
    uint64_t deadline_us;   /* clock_mono_us() value after which every operation
                               times out; 0 = none */
    size_t line_max;        /* 0 = CONN_LINE_MAX_DEFAULT; capped at CONN_LINE_MAX_LIMIT */
    struct result *result;  /* receives address, port, tls facts, phases; not owned */
};

/* Creates the shared TLS client context. ca_file NULL = the system store.
 * The context accepts TLS 1.2 and 1.3 (what current mail clients accept).
 * NULL on failure with the reason in err. */
struct conn_tls *conn_tls_create(const char *ca_file, char *err, size_t errlen);

/* Frees the context; connections still using it keep their own reference. */
void conn_tls_destroy(struct conn_tls **tp);

/* Creates an idle connection; nothing happens until conn_connect(). The
 * params are copied (servername too). NULL on failure with err set. */
struct conn *conn_create(const struct conn_params *p, conn_event_cb cb, void *arg, char *err,
                         size_t errlen);

/* Starts connecting to the addresses: one every CONN_ATTEMPT_DELAY_US while
 * earlier ones are pending, the first to succeed wins. Later reports
 * CONN_EV_CONNECTED or CONN_EV_FAILED (tcp_refused, tcp_timeout,
 * tcp_unreachable, tcp_reset; when addresses fail differently, the last
 * failure is reported and the detail lists each). Returns -1 with err set
 * only for our own failures (no addresses, called twice). */
int conn_connect(struct conn *c, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Starts the TLS handshake on the open stream (right after connect for
 * implicit TLS, or after the server's "go ahead" for STARTTLS). Bytes the
 * server sent before the handshake and not yet read as lines are discarded,
 * so a man in the middle cannot inject plaintext into the TLS session
 * (CVE-2011-0411). Line delivery stops; call conn_read_start() after
 * CONN_EV_TLS_READY. Later reports CONN_EV_TLS_READY or CONN_EV_FAILED
 * (tls_*). TLS facts are recorded in params.result in both cases when a
 * certificate was seen. Returns -1 with err set when not in CONN_ST_OPEN. */
int conn_tls_start(struct conn *c, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Starts (or resumes) delivering CONN_EV_LINE for each complete line. */
void conn_read_start(struct conn *c);

/* Stops delivering lines; bytes keep being buffered up to line_max. */
void conn_read_stop(struct conn *c);

/* Switches to raw mode for good and starts reading: from now on every
 * buffered byte, those already read but not yet delivered as lines
 * included, arrives as CONN_EV_DATA in chunks of at most line_max bytes
 * (an HTTP body, whose lines may be longer than any line bound). Like
 * conn_read_start(), delivery begins from the loop. */
void conn_read_raw(struct conn *c);

/* The bytes of the current CONN_EV_DATA and their count; valid until the
 * callback returns. */
const char *conn_data(const struct conn *c, size_t *len);

/* The current line during CONN_EV_LINE, CRLF (or LF) removed and NUL
 * terminated; *len (may be NULL) gets its length. Valid until the callback
 * returns. A NUL byte inside the line shows as the end of the string; len
 * counts all bytes. */
const char *conn_line(const struct conn *c, size_t *len);

/* Queues len bytes for sending (copied), through TLS when it is up. Write
 * failures arrive later as CONN_EV_FAILED (tcp_reset) or CONN_EV_EOF.
 * Returns -1 with err set when the stream is not open or the output queue
 * would exceed 64 KiB (a dialog never needs more: commands are short). */
int conn_write(struct conn *c, const void *buf, size_t len, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Replaces the deadline (clock_mono_us() value, 0 = none). */
void conn_set_deadline(struct conn *c, uint64_t deadline_us);

/* The classification of the last CONN_EV_FAILED; RESULT_OK before any. */
enum result_error conn_error(const struct conn *c);

/* Human-readable detail of the last failure; "" when none. */
const char *conn_error_detail(const struct conn *c);

/* The current stage, and its name for logs ("connecting", "tls", ...). */
enum conn_state conn_state(const struct conn *c);
const char *conn_state_name(enum conn_state s);

/* Whether TLS is up on the stream. */
bool conn_is_tls(const struct conn *c);

/* Closes the fds and timers; cb (may be NULL) runs once they are all
 * closed, from the loop, never from inside this call. The memory is freed
 * then too. Safe inside the event callback; no event is reported after
 * this. Ignores NULL; sets *cp to NULL. */
void conn_destroy(struct conn **cp, conn_closed_cb cb, void *arg);

/* Classifications, exposed for unit tests and for dialogs that see the same
 * errors elsewhere. */

/* errno of a failed connect() or SO_ERROR -> tcp_refused / tcp_timeout /
 * tcp_unreachable / tcp_reset; anything else -> tcp_unreachable. */
enum result_error conn_classify_connect_errno(int err);

/* An X509_V_ERR_* value from certificate verification -> tls_cert_expired,
 * tls_cert_not_yet_valid, tls_hostname_mismatch, tls_cert_untrusted. */
enum result_error conn_classify_verify(long verify_result);

/* An OpenSSL error-queue reason (ERR_GET_REASON) from a failed handshake
 * without a verify failure -> tls_protocol_version or tls_handshake_failed. */
enum result_error conn_classify_ssl_reason(int reason);

#endif
