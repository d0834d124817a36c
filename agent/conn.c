/*
 * conn — TCP with per-address fallback, TLS and a bounded line reader on
 * the libuv loop (see conn.h).
 *
 * Sockets are plain non-blocking fds watched with uv_poll, so that OpenSSL
 * can own the fd (SSL_set_fd) and the TLS state machine decides whether it
 * waits for reading or writing. Every fd and timer is a libuv handle; the
 * struct is freed only after the last close callback (libuv design.rst).
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

/* The output queue holds commands a dialog sends; the longest is an AUTH
 * PLAIN line or an HTTP request, far below this. */
#define CONN_OUT_MAX 65536
#define CONN_OUT_MIN 512 /* an EHLO, a LOGIN: the first write fits */

/* Room for the per-address failure list in a detail string. */
#define CONN_DETAIL_MAX 512

#define SECONDS_PER_DAY 86400

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

static const char *const state_names[CONN_ST_LAST] = {
    "idle", "connecting", "open", "handshake", "tls", "done",
};

static void update_poll(struct conn *c);
static void dispatch(struct conn *c);
static void start_attempts(struct conn *c);

const char *conn_state_name(enum conn_state s)
{
    return (unsigned)s < CONN_ST_LAST ? state_names[s] : "?";
}

/* The only way to change state, so that every transition can be traced. */
static void set_state(struct conn *c, enum conn_state s)
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

static void emit(struct conn *c, enum conn_event ev)
{
    if (!c->closing)
        c->cb(c, ev, c->arg);
}

static void fail(struct conn *c, enum result_error e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct conn *c, enum result_error e, const char *fmt, ...)
{
    va_list ap;
    c->error = e;
    va_start(ap, fmt);
    vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
    va_end(ap);
    set_state(c, CONN_ST_DONE);
    emit(c, CONN_EV_FAILED);
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

enum result_error conn_classify_verify(long v)
{
    switch (v) {
    case X509_V_OK:
        return RESULT_OK;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CRL_HAS_EXPIRED:
        return RESULT_TLS_CERT_EXPIRED;
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_CRL_NOT_YET_VALID:
        return RESULT_TLS_CERT_NOT_YET_VALID;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
    case X509_V_ERR_EMAIL_MISMATCH:
        return RESULT_TLS_HOSTNAME_MISMATCH;
    default:
        /* Self-signed, unknown issuer, bad signature, wrong purpose, ...:
         * all mean "this chain does not lead to an anchor we trust". */
        return RESULT_TLS_CERT_UNTRUSTED;
    }
}

enum result_error conn_classify_ssl_reason(int reason)
{
    switch (reason) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_VERSION_TOO_HIGH:
    case SSL_R_UNSUPPORTED_SSL_VERSION:
        return RESULT_TLS_PROTOCOL_VERSION;
    default:
        /* Includes SSL_R_WRONG_VERSION_NUMBER, which is what a plaintext
         * greeting on a TLS port looks like: the port does not speak TLS. */
        return RESULT_TLS_HANDSHAKE_FAILED;
    }
}

/* ---- TLS context ---------------------------------------------------------- */

/* Accept every certificate during the handshake and record the first
 * problem: the handshake completes, the facts are collected, and the
 * classification happens afterwards, before any application byte. */
static int verify_cb(int preverify_ok, X509_STORE_CTX *xs)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct conn *c = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
    if (!preverify_ok && c != NULL && c->first_verify_err == X509_V_OK)
        c->first_verify_err = X509_STORE_CTX_get_error(xs);
    return 1;
}

struct conn_tls *conn_tls_create(const char *ca_file, char *err, size_t errlen)
{
    struct conn_tls *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (t->ctx == NULL) {
        snprintf(err, errlen, "cannot create the TLS context: %s",
                 ERR_reason_error_string(ERR_get_error()));
        goto fail;
    }
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(t->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* RELEASE_BUFFERS: an idle TLS connection holds no record buffers;
     * with hundreds of probes in flight that is most of OpenSSL's memory. */
    SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                 SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_max_send_fragment(t->ctx, 4096); /* dialog commands are tiny */
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, verify_cb);
    if (ca_file != NULL) {
        if (SSL_CTX_load_verify_locations(t->ctx, ca_file, NULL) != 1) {
            /* OpenSSL 3 has no reason string for a missing file: NULL. */
            const char *why = ERR_reason_error_string(ERR_get_error());
            if (access(ca_file, R_OK) != 0)
                why = strerror(errno);
            else if (why == NULL)
                why = "no PEM certificate in it";
            snprintf(err, errlen, "cannot load trust anchors from %s: %s (check ca_file)", ca_file,
                     why);
            goto fail;
        }
    } else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
        snprintf(err, errlen, "cannot load the system trust store: %s",
                 ERR_reason_error_string(ERR_get_error()));
        goto fail;
    }
    ERR_clear_error();
    return t;
fail:
    ERR_clear_error();
    conn_tls_destroy(&t);
    return NULL;
}

void conn_tls_destroy(struct conn_tls **tp)
{
    if (tp == NULL || *tp == NULL)
        return;
    SSL_CTX_free((*tp)->ctx);
    free(*tp);
    *tp = NULL;
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
    set_state(c, CONN_ST_IDLE);
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
        fail(c, RESULT_TCP_TIMEOUT, "no answer to the TCP connection attempt in time: %s",
             c->tried);
        break;
    case CONN_ST_HANDSHAKE:
        fail(c, RESULT_TLS_HANDSHAKE_FAILED,
             "the server did not complete the TLS handshake in time");
        break;
    case CONN_ST_OPEN:
    case CONN_ST_TLS:
        if (c->winner != NULL && c->winner->poll_open)
            uv_poll_stop(&c->winner->poll);
        c->reading = false;
        emit(c, CONN_EV_TIMEOUT);
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
    fail(c, c->connect_error, "%s", c->tried);
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
    set_state(c, CONN_ST_OPEN);
    update_poll(c);
    emit(c, CONN_EV_CONNECTED);
}

static void on_io(uv_poll_t *h, int status, int events);

/* libuv reports EPOLLERR as UV_EBADF without saying what happened: the
 * socket's own pending error is the real reason. */
static int socket_error(int fd, int status)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err == 0 && status < 0)
        err = -status;
    return err;
}

static void attempt_ready(struct conn *c, struct attempt *a, int status)
{
    int err = socket_error(a->fd, status);
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
        uv_poll_start(&a->poll, UV_WRITABLE, on_io);
        if (c->next_addr < c->naddrs)
            uv_timer_start(&c->aux_timer, next_attempt_due, CONN_ATTEMPT_DELAY_US / 1000, 0);
        return;
    }
    if (c->state == CONN_ST_CONNECTING && pending_attempts(c) == 0)
        fail(c, c->connect_error, "%s", c->tried);
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
    set_state(c, CONN_ST_CONNECTING);
    arm_deadline(c);
    c->connect_error = RESULT_TCP_UNREACHABLE;
    /* Reported from the loop, never from inside this call, so the caller
     * sees a failure only through its callback (STYLE.md §4). */
    uv_timer_start(&c->aux_timer, next_attempt_due, 0, 0);
    return 0;
}

/* ---- TLS ---------------------------------------------------------------- */

static char *name_text(X509_NAME *n)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *out = NULL;
    if (b == NULL)
        return NULL;
    if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) >= 0) {
        char *data;
        long len = BIO_get_mem_data(b, &data);
        if (len > RESULT_STR_MAX)
            len = RESULT_STR_MAX;
        out = strndup(data, (size_t)len);
    }
    BIO_free(b);
    return out;
}

static void record_tls_facts(struct conn *c, long verify)
{
    struct result_tls *t;
    X509 *cert;
    if (c->result == NULL || (t = result_tls_new(c->result)) == NULL)
        return;
    (void)result_set_str(&t->version, SSL_get_version(c->ssl));
    (void)result_set_str(&t->cipher, SSL_get_cipher_name(c->ssl));
    (void)result_set_str(&t->verify,
                         verify == X509_V_OK ? "ok" : X509_verify_cert_error_string(verify));
    cert = SSL_get1_peer_certificate(c->ssl);
    if (cert == NULL)
        return;
    free(t->subject);
    t->subject = name_text(X509_get_subject_name(cert));
    free(t->issuer);
    t->issuer = name_text(X509_get_issuer_name(cert));

    GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char buf[INET6_ADDRSTRLEN + 4];
        if (g->type == GEN_DNS) {
            const unsigned char *s = ASN1_STRING_get0_data(g->d.dNSName);
            int len = ASN1_STRING_length(g->d.dNSName);
            char name[RESULT_NAME_MAX + 1];
            snprintf(name, sizeof(name), "%.*s", len, (const char *)s);
            (void)result_list_add(&t->sans, &t->nsans, name);
        } else if (g->type == GEN_IPADD) {
            int len = ASN1_STRING_length(g->d.iPAddress);
            const unsigned char *s = ASN1_STRING_get0_data(g->d.iPAddress);
            int fam = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
            if (fam != 0 && inet_ntop(fam, s, buf, sizeof(buf)) != NULL)
                (void)result_list_add(&t->sans, &t->nsans, buf);
        }
    }
    GENERAL_NAMES_free(gens);

    struct tm tm;
    if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1) {
        int64_t now = clock_wall_us() / 1000000;
        t->not_after = (int64_t)timegm(&tm);
        int64_t diff = t->not_after - now;
        /* Floor division: a certificate that expired an hour ago has -1
         * days left, not 0. */
        t->days_left = (int32_t)(diff >= 0 ? diff / SECONDS_PER_DAY
                                           : -((-diff + SECONDS_PER_DAY - 1) / SECONDS_PER_DAY));
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (X509_digest(cert, EVP_sha256(), md, &mdlen) == 1) {
        char hex[2 * EVP_MAX_MD_SIZE + 1];
        for (unsigned i = 0; i < mdlen; i++)
            snprintf(hex + 2 * i, 3, "%02x", md[i]);
        (void)result_set_str(&t->sha256, hex);
    }
    X509_free(cert);
}

static void handshake_done(struct conn *c)
{
    long v = c->first_verify_err != X509_V_OK ? c->first_verify_err : SSL_get_verify_result(c->ssl);
    if (v == X509_V_OK && SSL_get0_peer_certificate(c->ssl) == NULL)
        v = X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT; /* no certificate at all */
    record_tls_facts(c, v);
    if (c->result != NULL)
        c->result->phases_us[RESULT_PHASE_TLS] = clock_mono_us() - c->t_tls_start;
    if (v != X509_V_OK) {
        enum result_error e = conn_classify_verify(v);
        fail(c, e, "certificate check failed for %s: %s", c->servername,
             X509_verify_cert_error_string(v));
        return;
    }
    set_state(c, CONN_ST_TLS);
    update_poll(c);
    emit(c, CONN_EV_TLS_READY);
}

static void handshake_error(struct conn *c, int ret, int sslerr, int sys_errno)
{
    unsigned long e = ERR_peek_error();
    char buf[256] = "";
    if (e != 0)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    if (c->result != NULL)
        c->result->phases_us[RESULT_PHASE_TLS] = clock_mono_us() - c->t_tls_start;
    /* No OpenSSL reason: the socket failed or the peer closed (with
     * SSL_OP_IGNORE_UNEXPECTED_EOF that is SSL_ERROR_ZERO_RETURN). */
    if (sslerr == SSL_ERROR_SYSCALL || e == 0) {
        if (ret == 0 || sys_errno == 0)
            fail(c, RESULT_TLS_HANDSHAKE_FAILED,
                 "the server closed the connection during the TLS handshake");
        else if (conn_classify_connect_errno(sys_errno) == RESULT_TCP_RESET)
            /* A reset in answer to the ClientHello is what filtering
             * firewalls do: the TCP layer says more than "TLS failed". */
            fail(c, RESULT_TCP_RESET, "the connection was reset during the TLS handshake");
        else
            fail(c, RESULT_TLS_HANDSHAKE_FAILED, "TLS handshake failed: %s", strerror(sys_errno));
        return;
    }
    int reason = ERR_GET_REASON(e);
    if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        fail(c, RESULT_TLS_HANDSHAKE_FAILED,
             "the server closed the connection during the TLS handshake");
        return;
    }
    fail(c, conn_classify_ssl_reason(reason), "TLS handshake failed: %s", buf);
}

static void do_handshake(struct conn *c)
{
    ERR_clear_error();
    errno = 0;
    int ret = SSL_do_handshake(c->ssl);
    if (ret == 1) {
        c->ssl_want_write = false;
        handshake_done(c);
        return;
    }
    int sys_errno = errno;
    int se = SSL_get_error(c->ssl, ret);
    if (se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE) {
        c->ssl_want_write = se == SSL_ERROR_WANT_WRITE;
        update_poll(c);
        return;
    }
    handshake_error(c, ret, se, sys_errno);
}

static bool is_ip_literal(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

int conn_tls_start(struct conn *c, char *err, size_t errlen)
{
    if (c->state != CONN_ST_OPEN) {
        snprintf(err, errlen, "TLS can only start on an open plain connection (state %s)",
                 conn_state_name(c->state));
        return -1;
    }
    if (c->ctx == NULL) {
        snprintf(err, errlen, "no TLS context given to this connection");
        return -1;
    }
    c->ssl = SSL_new(c->ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        snprintf(err, errlen, "cannot create a TLS session: out of memory");
        SSL_free(c->ssl);
        c->ssl = NULL;
        return -1;
    }
    SSL_set_app_data(c->ssl, c);
    if (c->servername[0] != '\0') {
        if (is_ip_literal(c->servername)) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), c->servername);
        } else {
            SSL_set_tlsext_host_name(c->ssl, c->servername);
            SSL_set1_host(c->ssl, c->servername);
        }
    }
    /* Plaintext the server sent before the handshake must not be read as
     * if it came through TLS (CVE-2011-0411). */
    c->inlen = 0;
    c->reading = false;
    c->first_verify_err = X509_V_OK;
    c->t_tls_start = clock_mono_us();
    set_state(c, CONN_ST_HANDSHAKE);
    SSL_set_connect_state(c->ssl);
    /* The first flight is sent from the loop so that a failure is never
     * reported from inside this call. */
    c->ssl_want_write = true;
    update_poll(c);
    return 0;
}

bool conn_is_tls(const struct conn *c)
{
    return c->state == CONN_ST_TLS;
}

/* ---- reading and writing ------------------------------------------------ */

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

static void update_poll(struct conn *c)
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
        uv_poll_start(&c->winner->poll, ev, on_io);
    else
        uv_poll_stop(&c->winner->poll);
}

/* Delivers complete lines while the dialog reads, then what ended the
 * stream, so that a server's last words before closing are never lost. */
static void dispatch(struct conn *c)
{
    while (!c->closing && (c->state == CONN_ST_OPEN || c->state == CONN_ST_TLS)) {
        if (c->reading && c->raw && c->inlen > 0) {
            /* Nothing refills in before the callback returns: reads
             * happen only in on_io() and dispatch() itself. */
            c->rawlen = c->inlen;
            c->inlen = 0;
            emit(c, CONN_EV_DATA);
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
                emit(c, CONN_EV_LINE);
                continue;
            }
            if (c->inlen >= c->line_max) {
                c->reading = false;
                set_state(c, CONN_ST_DONE);
                emit(c, CONN_EV_LINE_TOO_LONG);
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
                fail(c, c->pend_error, "%s", c->pend_detail);
                return;
            }
            if (c->eof_pending) {
                c->eof_pending = false;
                set_state(c, CONN_ST_DONE);
                emit(c, CONN_EV_EOF);
                return;
            }
        }
        break;
    }
    update_poll(c);
}

static void on_io(uv_poll_t *h, int status, int events)
{
    struct attempt *a = h->data;
    struct conn *c = a->conn;
    if (c->closing)
        return;
    if (c->state == CONN_ST_CONNECTING) {
        attempt_ready(c, a, status);
        return;
    }
    if (status < 0) {
        int err = socket_error(c->fd, status);
        if (c->state == CONN_ST_HANDSHAKE) {
            if (conn_classify_connect_errno(err) == RESULT_TCP_RESET)
                fail(c, RESULT_TCP_RESET, "the connection was reset during the TLS handshake");
            else
                fail(c, RESULT_TLS_HANDSHAKE_FAILED, "TLS handshake failed: %s", strerror(err));
            return;
        }
        c->pend_error = conn_classify_connect_errno(err);
        snprintf(c->pend_detail, sizeof(c->pend_detail), "connection error: %s", strerror(err));
        c->fail_pending = true;
        dispatch(c);
        return;
    }
    if (c->state == CONN_ST_HANDSHAKE) {
        do_handshake(c);
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
    dispatch(c);
}

static void kick(uv_timer_t *t)
{
    struct conn *c = t->data;
    if (c->closing || (c->state != CONN_ST_OPEN && c->state != CONN_ST_TLS))
        return;
    /* dispatch() also reads what OpenSSL holds and the fd will not
     * signal again. */
    dispatch(c);
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
    update_poll(c);
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
