/*
 * fleet_sim — simulated agents over real ZeroMQ + CURVE (fleet_sim.h).
 *
 * Each thread owns every threads-th agent and waits on one epoll set of
 * their ZMQ_FDs rather than zmq_poll: zmq_poll asks every socket for its
 * events on every call, which at thousands of sockets per thread would
 * cost more CPU than the collector being measured. ZMQ_FD only says
 * "look at ZMQ_EVENTS", so every wake-up and every send is followed by a
 * drain of the socket (libzmq doc/zmq_getsockopt), and a sweep once a
 * second catches anything an edge left behind.
 */
#include "fleet_sim.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "transport.h"
#include "wire.h"

/* As agent/uplink.h: a heartbeat after this much silence, a resend when
 * an ack takes longer than the ack timeout. */
#define SIM_HEARTBEAT_US   (10 * 1000000ULL)
#define SIM_ACK_TIMEOUT_US (5 * 1000000ULL)
#define SIM_SWEEP_US       1000000ULL
#define SIM_WAIT_MS        10
#define SIM_EVENTS_MAX     256
#define SIM_CHECKS_MAX     64
/* Batches whose send time is kept for the latency; more in flight (an
 * overloaded collector) go unrecorded rather than growing the agent. */
#define SIM_INFLIGHT_MAX 8
/* Latency samples per thread: a 10-minute run at 60,000 batches/s. */
#define SIM_SAMPLES_MAX (40u * 1000 * 1000)

struct inflight {
    uint64_t seq; /* last seq of the batch */
    uint64_t at_us;
};

struct agent {
    void *sock;
    size_t index;
    uint64_t next_seq;      /* given to the next result */
    uint64_t sent;          /* highest seq sent on this connection */
    uint64_t acked;         /* highest seq acknowledged */
    uint64_t next_round_us; /* monotonic */
    uint64_t last_tx_us;
    uint64_t wait_since_us; /* unacknowledged data since; 0 = none */
    struct inflight fl[SIM_INFLIGHT_MAX];
    int nfl;
    bool hello_sent;
    bool hello_acked;
};

struct thread {
    struct fleet_sim *sim;
    pthread_t tid;
    bool started;
    int ep;
    struct agent *ag;
    size_t n;
    size_t created;
    size_t ptr; /* next agent whose round is due */
    uint64_t gen_start_us;
    uint32_t *lat;
    size_t nlat, caplat;
    _Atomic uint64_t generated, acked, batches, resent, hellos;
};

struct fleet_sim {
    struct fleet_sim_params p;
    void *ctx;
    struct thread *th;
    struct result tmpl[SIM_CHECKS_MAX];
    struct result fail_tmpl; /* the failing network's imaps result */
    atomic_bool stop;
    _Atomic uint64_t gen_start_us; /* 0 = not generating */
    atomic_bool measuring;
    uint32_t *lat; /* all threads', sorted, after stop */
    size_t nlat;
};

void fleet_sim_agent_name(size_t i, char *buf, size_t len)
{
    snprintf(buf, len, "fleet%05zu", i);
}

static void site_of(const struct fleet_sim *s, size_t i, char *buf, size_t len)
{
    snprintf(buf, len, "net%04zu", i / (size_t)s->p.per_network);
}

/* The checks of a mail target, then tcp:// ports for more checks. */
static void make_templates(struct fleet_sim *s)
{
    static const char *const checks[] = {
        "imaps://mail.example.com",     "submission://mail.example.com", "pop3s://mail.example.com",
        "https://webmail.example.com/", "smtp://mx.example.com",         "dns://example.com/MX",
    };
    for (int k = 0; k < s->p.checks; k++) {
        struct result *r = &s->tmpl[k];
        char spec[64];
        result_init(r);
        r->has_seq = true;
        result_set_str(&r->target, s->p.target);
        if (k < 6)
            snprintf(spec, sizeof(spec), "%s", checks[k]);
        else
            snprintf(spec, sizeof(spec), "tcp://mail.example.com:%d", 10000 + k);
        result_set_str(&r->check, spec);
        r->ok = true;
        r->layer = RESULT_LAYER_PROTOCOL;
        r->phases_us[RESULT_PHASE_DNS] = 812;
        r->phases_us[RESULT_PHASE_CONNECT] = 10321;
        r->phases_us[RESULT_PHASE_TOTAL] = 45000;
        if (strncmp(spec, "dns:", 4) != 0) {
            result_set_str(&r->address, "203.0.113.10");
            r->port = 993;
        }
        if (k < 4) {
            r->phases_us[RESULT_PHASE_TLS] = 30211;
            r->phases_us[RESULT_PHASE_GREETING] = 2003;
            result_set_str(&r->banner, "* OK [CAPABILITY IMAP4rev1 SASL-IR IDLE] Dovecot ready.");
            struct result_tls *t = result_tls_new(r);
            if (t != NULL) {
                result_set_str(&t->version, "TLSv1.3");
                result_set_str(&t->cipher, "TLS_AES_256_GCM_SHA384");
                result_set_str(&t->subject, "CN=mail.example.com");
                result_set_str(&t->issuer, "CN=Example CA");
                result_list_add(&t->sans, &t->nsans, "mail.example.com");
                t->not_after = 1800000000;
                t->days_left = 200;
                result_set_str(&t->sha256, "5f1d2c9a0b7e44f3a1c2d3e4f50617283"
                                           "94a5b6c7d8e9f00112233445566778899");
                result_set_str(&t->verify, "ok");
            }
        }
    }
    struct result *f = &s->fail_tmpl;
    result_init(f);
    f->has_seq = true;
    result_set_str(&f->target, s->p.target);
    result_set_str(&f->check, checks[0]);
    result_fail(f, RESULT_TCP_TIMEOUT, "no answer from 203.0.113.10:993 within 10 s");
    f->layer = RESULT_LAYER_TCP;
    f->phases_us[RESULT_PHASE_TOTAL] = 10000000;
    result_set_str(&f->address, "203.0.113.10");
    f->port = 993;
}

static int send_msg(struct agent *a, struct wire_msg *m)
{
    char name[32];
    uint8_t *buf;
    size_t len;
    fleet_sim_agent_name(a->index, name, sizeof(name));
    m->agent = name;
    if (wire_msg_encode(m, &buf, &len) < 0)
        return -1;
    int rc = zmq_send(a->sock, buf, len, ZMQ_DONTWAIT);
    free(buf);
    if (rc < 0)
        return -1;
    a->last_tx_us = clock_mono_us();
    return 0;
}

static void send_hello(struct thread *t, struct agent *a)
{
    char name[32], site[32];
    fleet_sim_agent_name(a->index, name, sizeof(name));
    site_of(t->sim, a->index, site, sizeof(site));
    struct wire_msg m = {.kind = WIRE_HELLO};
    m.u.hello.name = name;
    m.u.hello.site = site;
    m.u.hello.version = "fleet-sim";
    m.u.hello.spool.next_seq = a->next_seq;
    if (send_msg(a, &m) == 0)
        a->hello_sent = true;
}

/* Sends the next batch if the window allows. Returns 1 if one went. */
static int send_batch(struct thread *t, struct agent *a)
{
    struct fleet_sim *s = t->sim;
    uint64_t last = a->next_seq - 1;
    if (!a->hello_acked || a->sent >= last || a->sent - a->acked >= s->p.window)
        return 0;
    uint64_t upto = last;
    if (upto - a->sent > WIRE_BATCH_MAX)
        upto = a->sent + WIRE_BATCH_MAX;
    if (upto - a->acked > s->p.window)
        upto = a->acked + s->p.window;
    size_t n = (size_t)(upto - a->sent);
    uint8_t *bufs[WIRE_BATCH_MAX];
    const uint8_t *ptrs[WIRE_BATCH_MAX];
    size_t lens[WIRE_BATCH_MAX];
    size_t k = 0;
    int64_t now = clock_wall_us();
    bool failing =
        s->p.fail_network >= 0 && a->index / (size_t)s->p.per_network == (size_t)s->p.fail_network;
    for (; k < n; k++) {
        uint64_t seq = a->sent + 1 + k;
        int check = (int)((seq - 1) % (uint64_t)s->p.checks);
        /* A shallow copy: the encoder only reads the template's strings. */
        struct result r = failing && check == 0 ? s->fail_tmpl : s->tmpl[check];
        r.seq = seq;
        r.started_at_us = now;
        if (wire_result_encode(&r, &bufs[k], &lens[k]) < 0)
            break;
        ptrs[k] = bufs[k];
    }
    char site[32];
    site_of(s, a->index, site, sizeof(site));
    struct wire_msg m = {.kind = WIRE_BATCH};
    m.u.batch.results = ptrs;
    m.u.batch.lens = lens;
    m.u.batch.nresults = k;
    m.u.batch.site = site;
    m.u.batch.after_seq = a->sent;
    m.u.batch.spool.pending = last - a->acked;
    m.u.batch.spool.next_seq = a->next_seq;
    int rc = k == n ? send_msg(a, &m) : -1;
    for (size_t i = 0; i < k; i++)
        free(bufs[i]);
    if (rc < 0)
        return 0; /* not connected (EAGAIN): the sweep tries again */
    a->sent = upto;
    atomic_fetch_add_explicit(&t->batches, 1, memory_order_relaxed);
    uint64_t now_us = a->last_tx_us;
    if (a->wait_since_us == 0)
        a->wait_since_us = now_us;
    if (a->nfl < SIM_INFLIGHT_MAX)
        a->fl[a->nfl++] = (struct inflight){upto, now_us};
    return 1;
}

/* Time since a monotonic instant; 0 for one later than now (a send
 * after now was read). */
static uint64_t since(uint64_t now, uint64_t at)
{
    return now > at ? now - at : 0;
}

static void record_latency(struct thread *t, uint64_t us)
{
    if (t->nlat == t->caplat) {
        if (t->caplat >= SIM_SAMPLES_MAX)
            return;
        size_t cap = t->caplat ? t->caplat * 2 : 4096;
        uint32_t *grown = realloc(t->lat, cap * sizeof(*grown));
        if (grown == NULL)
            return;
        t->lat = grown;
        t->caplat = cap;
    }
    t->lat[t->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static void on_ack(struct thread *t, struct agent *a, uint64_t seq, bool gap)
{
    uint64_t now = clock_mono_us();
    if (!a->hello_acked) {
        a->hello_acked = true;
        atomic_fetch_add_explicit(&t->hellos, 1, memory_order_relaxed);
        /* A store that already holds this agent (a rerun): go on from it. */
        if (seq >= a->next_seq) {
            a->next_seq = seq + 1;
            a->sent = a->acked = seq;
        }
    }
    if (seq > a->acked && seq < a->next_seq) {
        atomic_fetch_add_explicit(&t->acked, seq - a->acked, memory_order_relaxed);
        a->acked = seq;
        /* An ack of a batch sent before a resend began covers it too. */
        if (a->sent < a->acked)
            a->sent = a->acked;
        a->wait_since_us = a->sent > a->acked ? now : 0;
    }
    int keep = 0;
    bool measuring = atomic_load_explicit(&t->sim->measuring, memory_order_relaxed);
    for (int i = 0; i < a->nfl; i++) {
        if (a->fl[i].seq <= a->acked) {
            if (measuring)
                record_latency(t, since(now, a->fl[i].at_us));
        } else {
            a->fl[keep++] = a->fl[i];
        }
    }
    a->nfl = keep;
    if (gap && a->sent > a->acked) {
        atomic_fetch_add_explicit(&t->resent, a->sent - a->acked, memory_order_relaxed);
        a->sent = a->acked;
        a->nfl = 0;
    }
}

static void handle(struct thread *t, struct agent *a, const uint8_t *buf, size_t len)
{
    char err[128];
    struct wire_msg *m = wire_msg_decode(buf, len, err, sizeof(err));
    if (m == NULL)
        return;
    if (m->kind == WIRE_ACK)
        on_ack(t, a, m->u.ack.seq, m->u.ack.gap);
    /* Config pushes and probe-now requests need no answer. */
    wire_msg_free(&m);
}

/* Reads everything waiting, then sends what the window allows, until
 * neither has anything to do (ZMQ_FD fires only on a change). */
static void drain(struct thread *t, struct agent *a)
{
    for (int rounds = 0; rounds < 1000; rounds++) {
        bool progress = false;
        int ev = 0;
        size_t elen = sizeof(ev);
        while (zmq_getsockopt(a->sock, ZMQ_EVENTS, &ev, &elen) == 0 && (ev & ZMQ_POLLIN)) {
            zmq_msg_t msg;
            zmq_msg_init(&msg);
            if (zmq_msg_recv(&msg, a->sock, ZMQ_DONTWAIT) >= 0)
                handle(t, a, zmq_msg_data(&msg), zmq_msg_size(&msg));
            zmq_msg_close(&msg);
            progress = true;
        }
        if (!a->hello_sent)
            send_hello(t, a);
        else if (send_batch(t, a))
            progress = true;
        if (!progress)
            return;
    }
}

static int create_agent(struct thread *t, struct agent *a, char *err, size_t errlen)
{
    struct fleet_sim *s = t->sim;
    struct transport_keys keys;
    memcpy(keys.secret_key, s->p.secret_keys[a->index], sizeof(keys.secret_key));
    if (zmq_curve_public(keys.public_key, keys.secret_key) != 0) {
        snprintf(err, errlen, "agent %zu: bad secret key", a->index);
        return -1;
    }
    struct transport_opts o = {.endpoint = s->p.endpoints[a->index % s->p.nendpoints],
                               .keys = &keys,
                               .server_key = s->p.server_key};
    a->sock = transport_client_create(s->ctx, &o, err, errlen);
    explicit_bzero(&keys, sizeof(keys));
    if (a->sock == NULL)
        return -1;
    int fd;
    size_t fdlen = sizeof(fd);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = a};
    if (zmq_getsockopt(a->sock, ZMQ_FD, &fd, &fdlen) != 0 ||
        epoll_ctl(t->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        snprintf(err, errlen, "agent %zu: cannot watch its socket: %s", a->index, strerror(errno));
        return -1;
    }
    a->next_seq = 1;
    send_hello(t, a);
    return 0;
}

/* Every agent's own timers: heartbeat, ack timeout, edge safety. */
static void sweep(struct thread *t, uint64_t now)
{
    for (size_t i = 0; i < t->created; i++) {
        struct agent *a = &t->ag[i];
        if (a->wait_since_us != 0 && since(now, a->wait_since_us) > SIM_ACK_TIMEOUT_US &&
            a->sent > a->acked) {
            atomic_fetch_add_explicit(&t->resent, a->sent - a->acked, memory_order_relaxed);
            a->sent = a->acked;
            a->nfl = 0;
            a->wait_since_us = 0;
            a->hello_sent = false; /* a silent collector may be a new one: hello */
        }
        if (a->hello_acked && since(now, a->last_tx_us) > SIM_HEARTBEAT_US) {
            struct wire_msg m = {.kind = WIRE_HEARTBEAT, .u.heartbeat_us = clock_wall_us()};
            (void)send_msg(a, &m);
        }
        if (!a->hello_acked && a->hello_sent && since(now, a->last_tx_us) > SIM_ACK_TIMEOUT_US)
            a->hello_sent = false;
        drain(t, a);
    }
}

static void rounds(struct thread *t, uint64_t now)
{
    struct fleet_sim *s = t->sim;
    uint64_t gen = atomic_load_explicit(&s->gen_start_us, memory_order_relaxed);
    if (gen != t->gen_start_us) {
        t->gen_start_us = gen;
        /* Phases spread evenly over the interval across the whole fleet. */
        for (size_t i = 0; i < t->n; i++)
            t->ag[i].next_round_us = gen + s->p.interval_us * t->ag[i].index / s->p.fleet;
        t->ptr = 0;
    }
    if (gen == 0 || t->created < t->n)
        return;
    for (size_t k = 0; k < t->n; k++) {
        struct agent *a = &t->ag[t->ptr];
        if (a->next_round_us > now)
            break;
        a->next_round_us += s->p.interval_us;
        a->next_seq += (uint64_t)s->p.checks;
        atomic_fetch_add_explicit(&t->generated, (uint64_t)s->p.checks, memory_order_relaxed);
        drain(t, a);
        t->ptr = (t->ptr + 1) % t->n;
    }
}

static void *thread_main(void *arg)
{
    struct thread *t = arg;
    struct fleet_sim *s = t->sim;
    char err[256];
    uint64_t start = clock_mono_us();
    uint64_t next_sweep = start + SIM_SWEEP_US;
    double per_thread_rate = (double)s->p.connect_rate / s->p.threads;
    struct epoll_event evs[SIM_EVENTS_MAX];
    while (!atomic_load(&s->stop)) {
        uint64_t now = clock_mono_us();
        size_t allowed = (size_t)((double)(now - start) / 1e6 * per_thread_rate) + 1;
        while (t->created < t->n && t->created < allowed) {
            if (create_agent(t, &t->ag[t->created], err, sizeof(err)) < 0) {
                fprintf(stderr, "vantage-fleet: %s\n", err);
                break;
            }
            t->created++;
        }
        rounds(t, now);
        if (now >= next_sweep) {
            sweep(t, now);
            next_sweep = now + SIM_SWEEP_US;
        }
        int n = epoll_wait(t->ep, evs, SIM_EVENTS_MAX, SIM_WAIT_MS);
        for (int i = 0; i < n; i++)
            drain(t, evs[i].data.ptr);
    }
    return NULL;
}

/* libzmq 4.3.4 keeps an I/O thread's timers in one std::multimap and
 * cancels one by walking it: every handshake and every ZMTP heartbeat
 * costs a walk over the timers of all the thread's connections. Spread
 * over more I/O threads, each walk is shorter (one thread per
 * SIM_CONNS_PER_IO_THREAD connections). */
#define SIM_CONNS_PER_IO_THREAD 1000
#define SIM_IO_THREADS_MAX      8
static int sim_io_threads(size_t agents)
{
    size_t n = agents / SIM_CONNS_PER_IO_THREAD + 1;
    return n > SIM_IO_THREADS_MAX ? SIM_IO_THREADS_MAX : (int)n;
}

struct fleet_sim *fleet_sim_start(const struct fleet_sim_params *p, char *err, size_t errlen)
{
    if (p->agents == 0 || p->fleet < p->first + p->agents || p->threads < 1 || p->nendpoints == 0 ||
        p->checks < 1 || p->checks > SIM_CHECKS_MAX || p->per_network < 1 || p->interval_us == 0) {
        snprintf(err, errlen, "bad fleet parameters");
        return NULL;
    }
    struct fleet_sim *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->p = *p;
    make_templates(s);
    s->ctx = zmq_ctx_new();
    s->th = calloc((size_t)p->threads, sizeof(*s->th));
    if (s->ctx == NULL || s->th == NULL ||
        zmq_ctx_set(s->ctx, ZMQ_MAX_SOCKETS, (int)p->agents + 64) != 0 ||
        zmq_ctx_set(s->ctx, ZMQ_IO_THREADS, sim_io_threads(p->agents)) != 0) {
        snprintf(err, errlen, "cannot make a ZeroMQ context for %zu sockets", p->agents);
        goto fail;
    }
    for (int i = 0; i < p->threads; i++) {
        struct thread *t = &s->th[i];
        t->sim = s;
        t->n = p->agents / (size_t)p->threads + ((size_t)i < p->agents % (size_t)p->threads);
        t->ag = calloc(t->n ? t->n : 1, sizeof(*t->ag));
        t->ep = epoll_create1(EPOLL_CLOEXEC);
        if (t->ag == NULL || t->ep < 0) {
            snprintf(err, errlen, "out of memory or descriptors");
            goto fail;
        }
        for (size_t k = 0; k < t->n; k++)
            t->ag[k].index = p->first + k * (size_t)p->threads + (size_t)i;
    }
    for (int i = 0; i < p->threads; i++) {
        if (pthread_create(&s->th[i].tid, NULL, thread_main, &s->th[i]) != 0) {
            snprintf(err, errlen, "cannot start a thread");
            goto fail;
        }
        s->th[i].started = true;
    }
    return s;
fail:
    fleet_sim_stop(s);
    fleet_sim_destroy(&s);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

void fleet_sim_stop(struct fleet_sim *s)
{
    atomic_store(&s->stop, true);
    if (s->th == NULL)
        return;
    size_t total = 0;
    for (int i = 0; i < s->p.threads; i++) {
        struct thread *t = &s->th[i];
        if (t->started)
            pthread_join(t->tid, NULL);
        t->started = false;
        for (size_t k = 0; k < t->n; k++)
            transport_close(&t->ag[k].sock);
        total += t->nlat;
    }
    if (s->lat != NULL || total == 0)
        return;
    s->lat = malloc(total * sizeof(*s->lat));
    if (s->lat == NULL)
        return;
    for (int i = 0; i < s->p.threads; i++) {
        memcpy(s->lat + s->nlat, s->th[i].lat, s->th[i].nlat * sizeof(*s->lat));
        s->nlat += s->th[i].nlat;
    }
    qsort(s->lat, s->nlat, sizeof(*s->lat), cmp_u32);
}

void fleet_sim_destroy(struct fleet_sim **sp)
{
    if (sp == NULL || *sp == NULL)
        return;
    struct fleet_sim *s = *sp;
    fleet_sim_stop(s);
    if (s->th != NULL)
        for (int i = 0; i < s->p.threads; i++) {
            free(s->th[i].ag);
            free(s->th[i].lat);
            if (s->th[i].ep > 0)
                close(s->th[i].ep);
        }
    free(s->th);
    if (s->ctx != NULL)
        zmq_ctx_term(s->ctx);
    for (int k = 0; k < s->p.checks; k++)
        result_clear(&s->tmpl[k]);
    result_clear(&s->fail_tmpl);
    free(s->lat);
    free(s);
    *sp = NULL;
}

void fleet_sim_generate(struct fleet_sim *s, bool on)
{
    atomic_store(&s->gen_start_us, on ? clock_mono_us() : 0);
}

void fleet_sim_measure(struct fleet_sim *s, bool on)
{
    atomic_store(&s->measuring, on);
}

void fleet_sim_counts(struct fleet_sim *s, struct fleet_sim_counts *c)
{
    memset(c, 0, sizeof(*c));
    for (int i = 0; i < s->p.threads; i++) {
        struct thread *t = &s->th[i];
        c->generated += atomic_load_explicit(&t->generated, memory_order_relaxed);
        c->acked += atomic_load_explicit(&t->acked, memory_order_relaxed);
        c->batches += atomic_load_explicit(&t->batches, memory_order_relaxed);
        c->resent += atomic_load_explicit(&t->resent, memory_order_relaxed);
        c->hellos += atomic_load_explicit(&t->hellos, memory_order_relaxed);
    }
}

const uint32_t *fleet_sim_latencies(struct fleet_sim *s, size_t *n)
{
    *n = s->nlat;
    return s->lat;
}

static const struct agent *agent_at(const struct fleet_sim *s, size_t i)
{
    const struct thread *t = &s->th[i % (size_t)s->p.threads];
    return &t->ag[i / (size_t)s->p.threads];
}

uint64_t fleet_sim_agent_generated(const struct fleet_sim *s, size_t i)
{
    return agent_at(s, i)->next_seq - 1;
}

uint64_t fleet_sim_agent_acked(const struct fleet_sim *s, size_t i)
{
    return agent_at(s, i)->acked;
}

void fleet_sim_agent_describe(const struct fleet_sim *s, size_t i, char *buf, size_t len)
{
    const struct agent *a = agent_at(s, i);
    snprintf(buf, len,
             "generated up to %llu, sent up to %llu, acked %llu, hello %s, %d batches in "
             "flight",
             (unsigned long long)(a->next_seq - 1), (unsigned long long)a->sent,
             (unsigned long long)a->acked,
             a->hello_acked  ? "answered"
             : a->hello_sent ? "sent"
                             : "not sent",
             a->nfl);
}
