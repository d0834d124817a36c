/*
 * conn — TCP with per-address fallback on the libuv loop (see conn.h): the
 * connection's lifetime, its deadline and the connect attempts, and the
 * state and failure reporting the other conn*.c files share.
 *
 * Sockets are plain non-blocking fds watched with uv_poll, so that OpenSSL
 * can own the fd (SSL_set_fd) and the TLS state machine decides whether it
 * waits for reading or writing. Every fd and timer is a libuv handle; the
 * struct is freed only after the last close callback (libuv design.rst).
 * TLS is in conn_tls.c, reading and writing in conn_io.c; the struct they
 * share is in conn_internal.h.
 */
#include "conn.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "conn_internal.h"

static const char *const state_names[CONN_ST_LAST] = {
    "idle", "connecting", "open", "handshake", "tls", "done",
};

static void start_attempts(struct conn *c);

const char *conn_state_name(enum conn_state s)
{
    return (unsigned)s < CONN_ST_LAST ? state_names[s] : "?";
}

/* The only way to change state, so that every transition can be traced. */
void conn_set_state(struct conn *c, enum conn_state s)
{
    assert((unsigned)s < CONN_ST_LAST);
    c->state = s;
    if (s == CONN_ST_DONE) {
        /* Nothing more to wait for: no timer or readiness may fire later. */
        uv_timer_stop(&c->deadline_timer);
        if (c->winner != NULL && c->winner->poll_open)
            uv_poll_stop(&c->winner->poll);
    }
}

void conn_emit(struct conn *c, enum conn_event ev)
{
    if (!c->closing)
        c->cb(c, ev, c->arg);
}

void conn_fail(struct conn *c, enum result_error e, const char *fmt, ...)
{
    va_list ap;
    c->error = e;
    va_start(ap, fmt);
    vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
    va_end(ap);
    conn_set_state(c, CONN_ST_DONE);
    conn_emit(c, CONN_EV_FAILED);
}

static void format_addr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
    const void *a = ss->ss_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
    if (inet_ntop(ss->ss_family, a, buf, (socklen_t)len) == NULL)
        snprintf(buf, len, "?");
}

static uint16_t addr_port(const struct sockaddr_storage *ss)
{
    return ntohs(ss->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)ss)->sin6_port
                                           : ((const struct sockaddr_in *)ss)->sin_port);
}

static void record_address(struct conn *c, const struct sockaddr_storage *ss)
{
    char buf[INET6_ADDRSTRLEN];
    if (c->result == NULL)
        return;
    format_addr(ss, buf, sizeof(buf));
    (void)result_set_str(&c->result->address, buf);
    c->result->port = addr_port(ss);
}

/* ---- classification ---------------------------------------------------- */

enum result_error conn_classify_connect_errno(int err)
{
    switch (err) {
    case ECONNREFUSED:
        return RESULT_TCP_REFUSED;
    case ETIMEDOUT:
        return RESULT_TCP_TIMEOUT;
    case ECONNRESET:
    case ECONNABORTED:
    case EPIPE:
        return RESULT_TCP_RESET;
    case ENETUNREACH:
    case EHOSTUNREACH:
    case ENETDOWN:
    case EHOSTDOWN:
    case EADDRNOTAVAIL: /* no source address of this family */
    case EAFNOSUPPORT:
    case EACCES: /* a local firewall's reject */
    case EPERM:
    default:
        return RESULT_TCP_UNREACHABLE;
    }
}

/* ---- lifetime ---------------------------------------------------------- */

static void on_poll_closed(uv_handle_t *h);

static void on_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    assert(c->open_handles > 0);
    if (--c->open_handles > 0)
        return;
    if (c->closed_cb != NULL)
        c->closed_cb(c->closed_arg);
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    free(c->in);
    free(c->line);
    /* The output buffer has carried login commands: no password is left
     * behind in freed memory. */
    if (c->out != NULL)
        explicit_bzero(c->out, c->outcap);
    free(c->out);
    free(c);
}

/* A poll handle's data is its attempt, not the connection. */
static void on_poll_closed(uv_handle_t *h)
{
    struct attempt *a = h->data;
    h->data = a->conn;
    on_handle_closed(h);
}

static void deadline_fired(uv_timer_t *t);
static void note_tried(struct conn *c, const struct sockaddr_storage *ss, const char *why);

struct conn *conn_create(const struct conn_params *p, conn_event_cb cb, void *arg, char *err,
                         size_t errlen)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->loop = p->loop;
    c->cb = cb;
    c->arg = arg;
    c->fd = -1;
    c->first_verify_err = X509_V_OK;
    c->deadline_us = p->deadline_us;
    c->result = p->result;
    c->line_max = p->line_max == 0 ? CONN_LINE_MAX_DEFAULT : p->line_max;
    if (c->line_max > CONN_LINE_MAX_LIMIT)
        c->line_max = CONN_LINE_MAX_LIMIT;
    c->naddrs = p->naddrs < CONN_ADDRS_MAX ? p->naddrs : CONN_ADDRS_MAX;
    for (size_t i = 0; i < c->naddrs; i++) {
        c->addrs[i] = p->addrs[i];
        if (p->port != 0) {
            if (c->addrs[i].ss_family == AF_INET6)
                ((struct sockaddr_in6 *)&c->addrs[i])->sin6_port = htons(p->port);
            else
                ((struct sockaddr_in *)&c->addrs[i])->sin_port = htons(p->port);
        }
    }
    for (size_t i = 0; i < CONN_ADDRS_MAX; i++) {
        c->attempts[i].fd = -1;
        c->attempts[i].conn = c;
    }
    if (p->servername != NULL)
        snprintf(c->servername, sizeof(c->servername), "%s", p->servername);
    /* The line and output buffers come with the first read and write: a
     * tcp:// or tls:// probe never needs them, and at hundreds of probes
     * in flight they were most of the agent's memory. */
    if (p->tls != NULL) {
        SSL_CTX_up_ref(p->tls->ctx);
        c->ctx = p->tls->ctx;
    }
    uv_timer_init(c->loop, &c->deadline_timer);
    uv_timer_init(c->loop, &c->aux_timer);
    c->deadline_timer.data = c;
    c->aux_timer.data = c;
    c->open_handles = 2;
    conn_set_state(c, CONN_ST_IDLE);
    return c;
}

static void close_attempt(struct attempt *a)
{
    if (a->poll_open) {
        uv_poll_stop(&a->poll);
        a->poll_open = false;
        uv_close((uv_handle_t *)&a->poll, on_poll_closed);
    }
    if (a->fd >= 0)
        close(a->fd);
    a->fd = -1;
    a->pending = false;
}

void conn_destroy(struct conn **cp, conn_closed_cb cb, void *arg)
{
    if (cp == NULL || *cp == NULL)
        return;
    struct conn *c = *cp;
    *cp = NULL;
    assert(!c->closing);
    c->closing = true;
    c->closed_cb = cb;
    c->closed_arg = arg;
    /* SSL_set_fd() leaves the fd to us (BIO_NOCLOSE): closed below. */
    for (size_t i = 0; i < CONN_ADDRS_MAX; i++)
        close_attempt(&c->attempts[i]);
    c->fd = -1;
    uv_close((uv_handle_t *)&c->deadline_timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->aux_timer, on_handle_closed);
}

/* ---- deadline ---------------------------------------------------------- */

static void arm_deadline(struct conn *c)
{
    uv_timer_stop(&c->deadline_timer);
    if (c->deadline_us == 0 || c->state == CONN_ST_DONE || c->state == CONN_ST_IDLE)
        return;
    /* The loop's cached "now" may be stale by the time since its last
     * iteration; the timer would then fire that much early. */
    uv_update_time(c->loop);
    uint64_t now = clock_mono_us();
    uint64_t ms = c->deadline_us > now ? (c->deadline_us - now + 999) / 1000 : 0;
    uv_timer_start(&c->deadline_timer, deadline_fired, ms, 0);
}

void conn_set_deadline(struct conn *c, uint64_t deadline_us)
{
    c->deadline_us = deadline_us;
    arm_deadline(c);
}

static void deadline_fired(uv_timer_t *t)
{
    struct conn *c = t->data;
    /* libuv's loop clock is a coarse clock (a jiffy behind at worst), so
     * the timer may fire before the deadline on clock_mono_us(): wait out
     * the rest rather than report a timeout the caller did not ask for. */
    if (clock_mono_us() < c->deadline_us) {
        arm_deadline(c);
        return;
    }
    switch (c->state) {
    case CONN_ST_CONNECTING:
        for (size_t i = 0; i < CONN_ADDRS_MAX; i++)
            if (c->attempts[i].pending) {
                note_tried(c, &c->addrs[i], "no answer");
                record_address(c, &c->addrs[i]);
                close_attempt(&c->attempts[i]);
            }
        uv_timer_stop(&c->aux_timer);
        conn_fail(c, RESULT_TCP_TIMEOUT, "no answer to the TCP connection attempt in time: %s",
                  c->tried);
        break;
    case CONN_ST_HANDSHAKE:
        conn_fail(c, RESULT_TLS_HANDSHAKE_FAILED,
                  "the server did not complete the TLS handshake in time");
        break;
    case CONN_ST_OPEN:
    case CONN_ST_TLS:
        if (c->winner != NULL && c->winner->poll_open)
            uv_poll_stop(&c->winner->poll);
        c->reading = false;
        conn_emit(c, CONN_EV_TIMEOUT);
        break;
    case CONN_ST_IDLE:
    case CONN_ST_DONE:
        break;
    case CONN_ST_LAST:
    default:
        abort();
    }
}

/* ---- connecting ------------------------------------------------------- */

static void note_tried(struct conn *c, const struct sockaddr_storage *ss, const char *why)
{
    char a[INET6_ADDRSTRLEN];
    size_t used = strlen(c->tried);
    format_addr(ss, a, sizeof(a));
    snprintf(c->tried + used, sizeof(c->tried) - used, "%s%s port %u: %s", used ? "; " : "", a,
             addr_port(ss), why);
}

static size_t pending_attempts(const struct conn *c)
{
    size_t n = 0;
    for (size_t i = 0; i < CONN_ADDRS_MAX; i++)
        n += c->attempts[i].pending;
    return n;
}

static void attempt_failed(struct conn *c, struct attempt *a, int err)
{
    size_t idx = (size_t)(a - c->attempts);
    note_tried(c, &c->addrs[idx], strerror(err));
    record_address(c, &c->addrs[idx]);
    close_attempt(a);
    c->connect_error = conn_classify_connect_errno(err);
    if (c->next_addr < c->naddrs) {
        /* Do not wait for the attempt delay: this address is done. */
        uv_timer_stop(&c->aux_timer);
        start_attempts(c);
        return;
    }
    if (pending_attempts(c) > 0)
        return;
    uv_timer_stop(&c->aux_timer);
    conn_fail(c, c->connect_error, "%s", c->tried);
}

static void connected(struct conn *c, struct attempt *a)
{
    size_t idx = (size_t)(a - c->attempts);
    a->pending = false;
    c->winner = a;
    c->fd = a->fd;
    for (size_t i = 0; i < CONN_ADDRS_MAX; i++)
        if (&c->attempts[i] != a)
            close_attempt(&c->attempts[i]);
    uv_timer_stop(&c->aux_timer);
    c->t_connected = clock_mono_us();
    record_address(c, &c->addrs[idx]);
    if (c->result != NULL)
        c->result->phases_us[RESULT_PHASE_CONNECT] = c->t_connected - c->t_start;
    conn_set_state(c, CONN_ST_OPEN);
    conn_update_poll(c);
    conn_emit(c, CONN_EV_CONNECTED);
}

/* libuv reports EPOLLERR as UV_EBADF without saying what happened: the
 * socket's own pending error is the real reason. */
int conn_socket_error(int fd, int status)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err == 0 && status < 0)
        err = -status;
    return err;
}

void conn_attempt_ready(struct conn *c, struct attempt *a, int status)
{
    int err = conn_socket_error(a->fd, status);
    if (err != 0)
        attempt_failed(c, a, err);
    else
        connected(c, a);
}

static void next_attempt_due(uv_timer_t *t)
{
    start_attempts(t->data);
}

/* Starts the next address; arms the attempt delay if more remain. */
static void start_attempts(struct conn *c)
{
    while (c->next_addr < c->naddrs && !c->closing && c->state == CONN_ST_CONNECTING) {
        size_t idx = c->next_addr++;
        struct attempt *a = &c->attempts[idx];
        const struct sockaddr_storage *ss = &c->addrs[idx];
        socklen_t sl =
            ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
        a->started = clock_mono_us();
        a->fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (a->fd < 0) {
            int e = errno;
            note_tried(c, ss, strerror(e));
            record_address(c, ss);
            c->connect_error = conn_classify_connect_errno(e);
            continue;
        }
        if (connect(a->fd, (const struct sockaddr *)ss, sl) < 0 && errno != EINPROGRESS) {
            int e = errno;
            note_tried(c, ss, strerror(e));
            record_address(c, ss);
            close(a->fd);
            a->fd = -1;
            c->connect_error = conn_classify_connect_errno(e);
            continue;
        }
        if (uv_poll_init(c->loop, &a->poll, a->fd) < 0) {
            note_tried(c, ss, "cannot watch the socket");
            close(a->fd);
            a->fd = -1;
            c->connect_error = RESULT_INTERNAL;
            continue;
        }
        a->poll.data = a;
        a->poll_open = true;
        a->pending = true;
        c->open_handles++;
        uv_poll_start(&a->poll, UV_WRITABLE, conn_on_io);
        if (c->next_addr < c->naddrs)
            uv_timer_start(&c->aux_timer, next_attempt_due, CONN_ATTEMPT_DELAY_US / 1000, 0);
        return;
    }
    if (c->state == CONN_ST_CONNECTING && pending_attempts(c) == 0)
        conn_fail(c, c->connect_error, "%s", c->tried);
}

int conn_connect(struct conn *c, char *err, size_t errlen)
{
    if (c->state != CONN_ST_IDLE) {
        snprintf(err, errlen, "conn_connect called twice");
        return -1;
    }
    if (c->naddrs == 0) {
        snprintf(err, errlen, "no address to connect to");
        return -1;
    }
    c->t_start = clock_mono_us();
    conn_set_state(c, CONN_ST_CONNECTING);
    arm_deadline(c);
    c->connect_error = RESULT_TCP_UNREACHABLE;
    /* Reported from the loop, never from inside this call, so the caller
     * sees a failure only through its callback (STYLE.md §4). */
    uv_timer_start(&c->aux_timer, next_attempt_due, 0, 0);
    return 0;
}
