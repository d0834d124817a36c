/*
 * conn_io — reading and writing a conn (see conn.h): the bounded line
 * reader and raw reads over plain TCP or TLS, the output queue, and the
 * readiness dispatch that drives connect attempts, the TLS handshake and
 * I/O from one uv_poll callback.
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

/* The output queue holds commands a dialog sends; the longest is an AUTH
 * PLAIN line or an HTTP request, far below this. */
#define CONN_OUT_MAX 65536
#define CONN_OUT_MIN 512 /* an EHLO, a LOGIN: the first write fits */

/* Allocates the input and line buffers on the first read. Returns 0, or
 * -1 after making the failure pending. */
static int ensure_in(struct conn *c)
{
    if (c->in != NULL)
        return 0;
    c->in = malloc(c->line_max);
    c->line = malloc(c->line_max + 1);
    if (c->in != NULL && c->line != NULL)
        return 0;
    free(c->in);
    free(c->line);
    c->in = c->line = NULL;
    c->pend_error = RESULT_INTERNAL;
    snprintf(c->pend_detail, sizeof(c->pend_detail), "out of memory for the read buffer");
    c->fail_pending = true;
    return -1;
}

static void read_plain(struct conn *c)
{
    if (ensure_in(c) < 0)
        return;
    while (c->inlen < c->line_max) {
        ssize_t n = read(c->fd, c->in + c->inlen, c->line_max - c->inlen);
        if (n > 0) {
            c->inlen += (size_t)n;
            continue;
        }
        if (n == 0) {
            c->eof_pending = true;
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        c->pend_error = conn_classify_connect_errno(errno);
        snprintf(c->pend_detail, sizeof(c->pend_detail), "reading from the server: %s",
                 strerror(errno));
        c->fail_pending = true;
        return;
    }
}

static void read_tls(struct conn *c)
{
    if (ensure_in(c) < 0)
        return;
    while (c->inlen < c->line_max) {
        ERR_clear_error();
        errno = 0;
        int n = SSL_read(c->ssl, c->in + c->inlen, (int)(c->line_max - c->inlen));
        if (n > 0) {
            c->inlen += (size_t)n;
            continue;
        }
        int se = SSL_get_error(c->ssl, n);
        int sys_errno = errno;
        switch (se) {
        case SSL_ERROR_WANT_READ:
            return;
        case SSL_ERROR_WANT_WRITE:
            c->ssl_want_write = true;
            return;
        case SSL_ERROR_ZERO_RETURN:
            c->eof_pending = true;
            return;
        case SSL_ERROR_SYSCALL:
            if (sys_errno == 0) {
                c->eof_pending = true;
                return;
            }
            c->pend_error = conn_classify_connect_errno(sys_errno);
            snprintf(c->pend_detail, sizeof(c->pend_detail), "reading from the server: %s",
                     strerror(sys_errno));
            c->fail_pending = true;
            return;
        default: {
            char buf[256];
            ERR_error_string_n(ERR_peek_error(), buf, sizeof(buf));
            ERR_clear_error();
            c->pend_error = RESULT_TLS_HANDSHAKE_FAILED;
            snprintf(c->pend_detail, sizeof(c->pend_detail), "TLS error while reading: %s", buf);
            c->fail_pending = true;
            return;
        }
        }
    }
}

static void flush_out(struct conn *c)
{
    while (c->outlen > 0) {
        ssize_t n;
        int sys_errno;
        if (c->ssl != NULL) {
            ERR_clear_error();
            errno = 0;
            int r = SSL_write(c->ssl, c->out, (int)c->outlen);
            if (r > 0) {
                n = r;
            } else {
                int se = SSL_get_error(c->ssl, r);
                sys_errno = errno;
                if (se == SSL_ERROR_WANT_WRITE || se == SSL_ERROR_WANT_READ) {
                    c->ssl_want_write = se == SSL_ERROR_WANT_WRITE;
                    return;
                }
                ERR_clear_error();
                c->pend_error =
                    sys_errno != 0 ? conn_classify_connect_errno(sys_errno) : RESULT_TCP_RESET;
                snprintf(c->pend_detail, sizeof(c->pend_detail), "writing to the server: %s",
                         sys_errno ? strerror(sys_errno) : "TLS write failed");
                c->fail_pending = true;
                return;
            }
        } else {
            n = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL);
            if (n < 0) {
                sys_errno = errno;
                if (sys_errno == EINTR)
                    continue;
                if (sys_errno == EAGAIN || sys_errno == EWOULDBLOCK)
                    return;
                c->pend_error = conn_classify_connect_errno(sys_errno);
                snprintf(c->pend_detail, sizeof(c->pend_detail), "writing to the server: %s",
                         strerror(sys_errno));
                c->fail_pending = true;
                return;
            }
        }
        memmove(c->out, c->out + n, c->outlen - (size_t)n);
        c->outlen -= (size_t)n;
    }
    c->ssl_want_write = false;
}

void conn_update_poll(struct conn *c)
{
    if (c->closing || c->winner == NULL || !c->winner->poll_open)
        return;
    int ev = 0;
    switch (c->state) {
    case CONN_ST_HANDSHAKE:
        ev = c->ssl_want_write ? UV_WRITABLE : UV_READABLE;
        break;
    case CONN_ST_OPEN:
    case CONN_ST_TLS:
        if (c->inlen < c->line_max && !c->eof_pending && !c->fail_pending)
            ev |= UV_READABLE;
        if (c->outlen > 0 || c->ssl_want_write)
            ev |= UV_WRITABLE;
        break;
    case CONN_ST_IDLE:
    case CONN_ST_CONNECTING:
    case CONN_ST_DONE:
        break;
    case CONN_ST_LAST:
    default:
        abort();
    }
    if (ev != 0)
        uv_poll_start(&c->winner->poll, ev, conn_on_io);
    else
        uv_poll_stop(&c->winner->poll);
}

/* Delivers complete lines while the dialog reads, then what ended the
 * stream, so that a server's last words before closing are never lost. */
void conn_dispatch(struct conn *c)
{
    while (!c->closing && (c->state == CONN_ST_OPEN || c->state == CONN_ST_TLS)) {
        if (c->reading && c->raw && c->inlen > 0) {
            /* Nothing refills in before the callback returns: reads
             * happen only in conn_on_io() and conn_dispatch() itself. */
            c->rawlen = c->inlen;
            c->inlen = 0;
            conn_emit(c, CONN_EV_DATA);
            c->rawlen = 0;
            continue;
        }
        if (c->reading && c->inlen > 0) {
            char *nl = memchr(c->in, '\n', c->inlen);
            if (nl != NULL) {
                size_t used = (size_t)(nl - c->in) + 1;
                size_t len = used - 1;
                if (len > 0 && c->in[len - 1] == '\r')
                    len--;
                memcpy(c->line, c->in, len);
                c->line[len] = '\0';
                c->linelen = len;
                memmove(c->in, c->in + used, c->inlen - used);
                c->inlen -= used;
                conn_emit(c, CONN_EV_LINE);
                continue;
            }
            if (c->inlen >= c->line_max) {
                c->reading = false;
                conn_set_state(c, CONN_ST_DONE);
                conn_emit(c, CONN_EV_LINE_TOO_LONG);
                return;
            }
        }
        /* A TLS record can hold more than the buffer had room for; OpenSSL
         * keeps the rest, and the fd will not signal it again. */
        if (c->reading && c->ssl != NULL && c->inlen < c->line_max && !c->eof_pending &&
            !c->fail_pending && SSL_pending(c->ssl) > 0) {
            read_tls(c);
            continue;
        }
        if (c->reading || c->inlen == 0 || c->fail_pending) {
            if (c->fail_pending) {
                c->fail_pending = false;
                conn_fail(c, c->pend_error, "%s", c->pend_detail);
                return;
            }
            if (c->eof_pending) {
                c->eof_pending = false;
                conn_set_state(c, CONN_ST_DONE);
                conn_emit(c, CONN_EV_EOF);
                return;
            }
        }
        break;
    }
    conn_update_poll(c);
}

void conn_on_io(uv_poll_t *h, int status, int events)
{
    struct attempt *a = h->data;
    struct conn *c = a->conn;
    if (c->closing)
        return;
    if (c->state == CONN_ST_CONNECTING) {
        conn_attempt_ready(c, a, status);
        return;
    }
    if (status < 0) {
        int err = conn_socket_error(c->fd, status);
        if (c->state == CONN_ST_HANDSHAKE) {
            if (conn_classify_connect_errno(err) == RESULT_TCP_RESET)
                conn_fail(c, RESULT_TCP_RESET, "the connection was reset during the TLS handshake");
            else
                conn_fail(c, RESULT_TLS_HANDSHAKE_FAILED, "TLS handshake failed: %s",
                          strerror(err));
            return;
        }
        c->pend_error = conn_classify_connect_errno(err);
        snprintf(c->pend_detail, sizeof(c->pend_detail), "connection error: %s", strerror(err));
        c->fail_pending = true;
        conn_dispatch(c);
        return;
    }
    if (c->state == CONN_ST_HANDSHAKE) {
        conn_do_handshake(c);
        return;
    }
    if (c->state != CONN_ST_OPEN && c->state != CONN_ST_TLS)
        return;
    if (events & UV_WRITABLE || c->ssl_want_write)
        flush_out(c);
    if ((events & UV_READABLE) && !c->fail_pending) {
        if (c->ssl != NULL)
            read_tls(c);
        else
            read_plain(c);
    }
    conn_dispatch(c);
}

static void kick(uv_timer_t *t)
{
    struct conn *c = t->data;
    if (c->closing || (c->state != CONN_ST_OPEN && c->state != CONN_ST_TLS))
        return;
    /* conn_dispatch() also reads what OpenSSL holds and the fd will not
     * signal again. */
    conn_dispatch(c);
}

void conn_read_start(struct conn *c)
{
    if (c->closing || (c->state != CONN_ST_OPEN && c->state != CONN_ST_TLS))
        return;
    c->reading = true;
    /* Buffered lines are delivered from the loop, not from inside this
     * call, so the caller's stack never re-enters itself. */
    uv_timer_start(&c->aux_timer, kick, 0, 0);
}

void conn_read_stop(struct conn *c)
{
    c->reading = false;
}

void conn_read_raw(struct conn *c)
{
    c->raw = true;
    conn_read_start(c);
}

const char *conn_data(const struct conn *c, size_t *len)
{
    if (len != NULL)
        *len = c->rawlen;
    return c->in;
}

const char *conn_line(const struct conn *c, size_t *len)
{
    if (len != NULL)
        *len = c->linelen;
    return c->line;
}

int conn_write(struct conn *c, const void *buf, size_t len, char *err, size_t errlen)
{
    if (c->closing || (c->state != CONN_ST_OPEN && c->state != CONN_ST_TLS)) {
        snprintf(err, errlen, "cannot write: the connection is %s", conn_state_name(c->state));
        return -1;
    }
    if (len > CONN_OUT_MAX - c->outlen) {
        snprintf(err, errlen, "cannot write %zu bytes: output queue full", len);
        return -1;
    }
    if (c->outlen + len > c->outcap) {
        /* Dialog commands are short: start small, double up to the cap. */
        size_t cap = c->outcap ? c->outcap : CONN_OUT_MIN;
        while (cap < c->outlen + len)
            cap *= 2;
        if (cap > CONN_OUT_MAX)
            cap = CONN_OUT_MAX;
        char *grown = malloc(cap);
        if (grown == NULL) {
            snprintf(err, errlen, "out of memory for the output queue");
            return -1;
        }
        if (c->out != NULL) {
            memcpy(grown, c->out, c->outlen);
            explicit_bzero(c->out, c->outcap); /* may hold a login command */
            free(c->out);
        }
        c->out = grown;
        c->outcap = cap;
    }
    memcpy(c->out + c->outlen, buf, len);
    c->outlen += len;
    conn_update_poll(c);
    return 0;
}

enum result_error conn_error(const struct conn *c)
{
    return c->error;
}

const char *conn_error_detail(const struct conn *c)
{
    return c->error == RESULT_OK ? "" : c->detail;
}

enum conn_state conn_state(const struct conn *c)
{
    return c->state;
}
