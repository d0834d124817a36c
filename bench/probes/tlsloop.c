/*
 * tlsloop — the real ceiling of new TLS 1.3 handshakes against one server
 * (issue 3's bench/probes).
 *
 * A tight C client: one thread, epoll, C connections in flight, each a
 * fresh TCP connect and a full TLS 1.3 handshake (no session resumption:
 * the context's session cache is off and no session is ever set), then a
 * close_notify and close. Nothing else is read or written, so this is the
 * most handshakes per second this machine can do against that server; the
 * probers are compared with it.
 *
 * With --ca-file the server's chain is verified, and with it the host name
 * or IP address given by --name (default: the connect address), as a probe
 * does; without it nothing is verified (say so when quoting the number).
 *
 * Usage: tlsloop --connect IPV4:PORT [--concurrency C] [--seconds S]
 *                [--ca-file F] [--name N]
 * Prints one line:
 *   tlsloop: handshakes N, failed F, R/s, cpu U+S s, X ms cpu/handshake,
 *   maxrss K KiB
 * Exit status: 0 when at least one handshake succeeded and none failed,
 * 1 when some failed, 2 on usage or setup errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* More in flight than this only measures the server's accept queue. */
#define CONCURRENCY_MAX 4096
/* Long enough to average out a noisy shared machine, short enough to stay
 * a benchmark step rather than a soak. */
#define SECONDS_MAX 3600
/* A handshake that has not finished by then counts as failed; loopback
 * handshakes take milliseconds, so this only catches a stuck server. */
#define HANDSHAKE_TIMEOUT_NS (10LL * 1000000000LL)
#define EVENTS_MAX           256
#define NS_PER_SEC           1000000000LL

struct opts {
    struct sockaddr_in addr;
    const char *ca_file;
    const char *name; /* checked against the certificate when ca_file is set */
    unsigned long concurrency;
    unsigned long seconds;
};

/* One connection slot; reused for the next handshake when one ends. */
struct slot {
    int fd;
    SSL *ssl;
    bool connecting;   /* TCP connect not yet finished */
    long long started; /* monotonic ns, for the timeout */
};

struct loop {
    const struct opts *o;
    SSL_CTX *ctx;
    int ep;
    struct slot *slots;
    unsigned long long ok;
    unsigned long long failed;
    bool stopping; /* past the deadline: finish what is in flight, start nothing */
    unsigned long open;
};

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static int usage(void)
{
    fputs("usage: tlsloop --connect IPV4:PORT [--concurrency C] [--seconds S]\n"
          "               [--ca-file F] [--name HOST_OR_IP]\n",
          stderr);
    return 2;
}

static int parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v == 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_addr(const char *s, struct sockaddr_in *sa)
{
    char host[INET_ADDRSTRLEN];
    const char *colon = strrchr(s, ':');
    unsigned long port;
    if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return -1;
    if (parse_ulong(colon + 1, 65535, &port) < 0)
        return -1;
    sa->sin_port = htons((uint16_t)port);
    return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o, char *name_buf, size_t name_len)
{
    bool have_addr = false;
    o->concurrency = 200;
    o->seconds = 5;
    o->ca_file = NULL;
    o->name = NULL;
    /* Every option takes a value, so arguments come in pairs. */
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            return usage();
        if (strcmp(a, "--connect") == 0) {
            if (parse_addr(v, &o->addr) < 0) {
                fprintf(stderr, "tlsloop: --connect %s: give IPV4:PORT\n", v);
                return 2;
            }
            have_addr = true;
        } else if (strcmp(a, "--concurrency") == 0) {
            if (parse_ulong(v, CONCURRENCY_MAX, &o->concurrency) < 0) {
                fprintf(stderr, "tlsloop: --concurrency %s: give 1 to %d\n", v, CONCURRENCY_MAX);
                return 2;
            }
        } else if (strcmp(a, "--seconds") == 0) {
            if (parse_ulong(v, SECONDS_MAX, &o->seconds) < 0) {
                fprintf(stderr, "tlsloop: --seconds %s: give 1 to %d\n", v, SECONDS_MAX);
                return 2;
            }
        } else if (strcmp(a, "--ca-file") == 0) {
            o->ca_file = v;
        } else if (strcmp(a, "--name") == 0) {
            o->name = v;
        } else {
            return usage();
        }
    }
    if (!have_addr)
        return usage();
    if (o->name == NULL) {
        inet_ntop(AF_INET, &o->addr.sin_addr, name_buf, (socklen_t)name_len);
        o->name = name_buf;
    }
    return 0;
}

static void ssl_error(const char *what)
{
    char buf[256]; /* OpenSSL's own messages fit in 256 bytes */
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, buf, sizeof(buf));
    fprintf(stderr, "tlsloop: %s: %s\n", what, e ? buf : "unknown error");
    ERR_clear_error();
}

static SSL_CTX *make_ctx(const struct opts *o)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        ssl_error("SSL_CTX_new");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    /* Every handshake must be a full one: no client-side session cache,
     * and tickets the server sends are never stored or offered. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    if (o->ca_file != NULL) {
        if (SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL) != 1) {
            ssl_error(o->ca_file);
            SSL_CTX_free(ctx);
            return NULL;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    return ctx;
}

static void slot_close(struct loop *l, struct slot *s)
{
    if (s->ssl != NULL) {
        SSL_free(s->ssl);
        s->ssl = NULL;
    }
    if (s->fd >= 0) {
        close(s->fd); /* also removes it from the epoll set */
        s->fd = -1;
        l->open--;
    }
}

static int slot_want(struct loop *l, struct slot *s, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = s};
    return epoll_ctl(l->ep, EPOLL_CTL_MOD, s->fd, &ev);
}

/* Opens a new connection in slot s; 0 on success, -1 after counting a
 * failure (the slot is then free again). */
static int slot_start(struct loop *l, struct slot *s)
{
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (s->fd < 0) {
        perror("tlsloop: socket");
        return -1;
    }
    l->open++;
    int one = 1;
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    s->started = now_ns();
    s->connecting = true;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = s};
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
        perror("tlsloop: epoll_ctl");
        slot_close(l, s);
        return -1;
    }
    if (connect(s->fd, (const struct sockaddr *)&l->o->addr, sizeof(l->o->addr)) < 0 &&
        errno != EINPROGRESS) {
        l->failed++;
        slot_close(l, s);
        return -1;
    }
    return 0;
}

static void slot_next(struct loop *l, struct slot *s)
{
    slot_close(l, s);
    if (!l->stopping)
        slot_start(l, s);
}

static void slot_handshake(struct loop *l, struct slot *s)
{
    int rc = SSL_do_handshake(s->ssl);
    if (rc == 1) {
        l->ok++;
        /* One close_notify, as a polite client sends; not waited for. */
        SSL_shutdown(s->ssl);
        slot_next(l, s);
        return;
    }
    switch (SSL_get_error(s->ssl, rc)) {
    case SSL_ERROR_WANT_READ:
        if (slot_want(l, s, EPOLLIN) == 0)
            return;
        break;
    case SSL_ERROR_WANT_WRITE:
        if (slot_want(l, s, EPOLLOUT) == 0)
            return;
        break;
    default:
        if (l->failed == 0)
            ssl_error("handshake (first failure)");
        break;
    }
    ERR_clear_error();
    l->failed++;
    slot_next(l, s);
}

static void slot_event(struct loop *l, struct slot *s)
{
    if (s->connecting) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
            if (l->failed == 0)
                fprintf(stderr, "tlsloop: connect (first failure): %s\n", strerror(err));
            l->failed++;
            slot_next(l, s);
            return;
        }
        s->connecting = false;
        s->ssl = SSL_new(l->ctx);
        if (s->ssl == NULL || SSL_set_fd(s->ssl, s->fd) != 1) {
            ssl_error("SSL_new");
            l->failed++;
            slot_next(l, s);
            return;
        }
        if (l->o->ca_file != NULL) {
            X509_VERIFY_PARAM *p = SSL_get0_param(s->ssl);
            if (X509_VERIFY_PARAM_set1_ip_asc(p, l->o->name) != 1)
                SSL_set1_host(s->ssl, l->o->name);
        }
        /* SNI only for names; an IP address is never sent as SNI. */
        struct in_addr dummy;
        if (inet_pton(AF_INET, l->o->name, &dummy) != 1)
            SSL_set_tlsext_host_name(s->ssl, l->o->name);
        SSL_set_connect_state(s->ssl);
    }
    slot_handshake(l, s);
}

static void expire(struct loop *l, long long now)
{
    for (unsigned long i = 0; i < l->o->concurrency; i++) {
        struct slot *s = &l->slots[i];
        if (s->fd >= 0 && now - s->started > HANDSHAKE_TIMEOUT_NS) {
            l->failed++;
            slot_next(l, s);
        }
    }
}

static double tv_secs(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
    struct opts o;
    char name_buf[INET_ADDRSTRLEN];
    int rc = parse_opts(argc, argv, &o, name_buf, sizeof(name_buf));
    if (rc != 0)
        return rc;
    signal(SIGPIPE, SIG_IGN);

    struct loop l = {.o = &o};
    l.ctx = make_ctx(&o);
    if (l.ctx == NULL)
        return 2;
    l.ep = epoll_create1(EPOLL_CLOEXEC);
    l.slots = calloc(o.concurrency, sizeof(*l.slots));
    if (l.ep < 0 || l.slots == NULL) {
        perror("tlsloop: setup");
        return 2;
    }
    for (unsigned long i = 0; i < o.concurrency; i++)
        l.slots[i].fd = -1;

    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    long long t0 = now_ns();
    long long deadline = t0 + (long long)o.seconds * NS_PER_SEC;
    long long last_expire = t0;
    for (unsigned long i = 0; i < o.concurrency; i++)
        slot_start(&l, &l.slots[i]);

    struct epoll_event evs[EVENTS_MAX];
    while (l.open > 0) {
        int n = epoll_wait(l.ep, evs, EVENTS_MAX, 100);
        if (n < 0 && errno != EINTR) {
            perror("tlsloop: epoll_wait");
            return 2;
        }
        for (int i = 0; i < n; i++)
            slot_event(&l, evs[i].data.ptr);
        long long now = now_ns();
        if (!l.stopping && now >= deadline)
            l.stopping = true;
        if (now - last_expire > NS_PER_SEC) {
            expire(&l, now);
            last_expire = now;
        }
    }
    long long t1 = now_ns();
    getrusage(RUSAGE_SELF, &ru1);

    double secs = (double)(t1 - t0) / 1e9;
    double cpu_u = tv_secs(ru1.ru_utime) - tv_secs(ru0.ru_utime);
    double cpu_s = tv_secs(ru1.ru_stime) - tv_secs(ru0.ru_stime);
    printf("tlsloop: handshakes %llu, failed %llu, %.1f/s, cpu %.2f+%.2f s, "
           "%.3f ms cpu/handshake, maxrss %ld KiB\n",
           l.ok, l.failed, secs > 0 ? (double)l.ok / secs : 0.0, cpu_u, cpu_s,
           l.ok ? (cpu_u + cpu_s) * 1000.0 / (double)l.ok : 0.0, ru1.ru_maxrss);
    free(l.slots);
    close(l.ep);
    SSL_CTX_free(l.ctx);
    if (l.ok == 0)
        return 2;
    return l.failed ? 1 : 0;
}
