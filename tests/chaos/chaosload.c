/*
 * vantage-chaosload — many agents at a steady rate, for the chaos suite
 * (tests/chaos). Unlike vantage-loadgen, which measures the collector at
 * full speed, this one keeps a rate while the collector is killed under
 * it, and behaves as an agent's uplink must: it resends from the last
 * acknowledgement when acks stop or the collector reports a gap, so that
 * the store must end up holding every seq 1..N of every agent exactly once.
 *
 *   vantage-chaosload run   [options]  N agents, --rate results/s in all,
 *                                      --results per agent; exits 0 when all
 *                                      are acknowledged, 1 at --timeout
 *   vantage-chaosload flood [options]  agent 0 sends garbage and valid
 *                                      batches as fast as it can for
 *                                      --seconds
 *   vantage-chaosload hostile [options] agent --first: a batch, its
 *                                      replay, a batch from 5 h ahead, a
 *                                      truncated batch, then a good one;
 *                                      prints the ack after each
 *   vantage-chaosload revoked [options] agent --first sends a batch; exits
 *                                      0 when no ack comes (it is refused)
 *
 * options: --endpoint E --server-key PUBFILE --keys DIR (from
 *          `vantage-loadgen keys`) --agents N --first K (use keys
 *          load<K>.. ) --rate R --results N --batch B --timeout S
 *          --seconds S --acked FILE (run: rewritten every 100 ms with
 *          one line "AGENT ACKED" per agent, for a test to see whether
 *          acknowledgements advance while the store is down)
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "transport.h"
#include "wire.h"

#define CHAOS_AGENTS_MAX 1024
/* Unacknowledged batches in flight per agent, as the real uplink allows. */
#define CHAOS_WINDOW_BATCHES 4
/* No ack for this long with results in flight: assume they died with the
 * collector and resend from the ack (the collector ignores duplicates). */
#define CHAOS_RESEND_US 700000
/* The collector restarts within a second in these tests; a real agent's
 * 5 s backoff would only make them slower. */
#define CHAOS_RECONNECT_MAX_MS 300
#define CHAOS_TICK_MS          10
#define CHAOS_GARBAGE_BYTES    65536
#define CHAOS_HOSTILE_N        10
#define CHAOS_AHEAD_US         (5LL * 3600 * 1000000) /* an agent clock 5 h fast */
#define CHAOS_ACK_WAIT_MS      5000
#define CHAOS_REFUSE_WAIT_MS   2000
#define CHAOS_ACKED_EVERY_US   100000

struct agent {
    void *sock;
    char name[32];
    uint64_t next_seq; /* next seq to send */
    uint64_t acked;
    int64_t last_ack_us; /* last ack progress, or last (re)send */
};

struct opts {
    const char *endpoint;
    const char *server_key_file;
    const char *keys_dir;
    int agents;
    int first;
    double rate;
    uint64_t results;
    int batch;
    int timeout_s;
    int seconds;
    const char *acked_file;
};

static int64_t mono_us(void)
{
    return (int64_t)clock_mono_us();
}

static int read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char *ok = fgets(buf, (int)len, f);
    fclose(f);
    if (ok == NULL)
        return -1;
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

static void *connect_agent(void *ctx, const struct opts *o, int i, char *name)
{
    char path[4096], server_key[128], err[512];
    struct transport_keys keys;
    snprintf(name, 32, "load%04d", i);
    if (read_line(o->server_key_file, server_key, sizeof(server_key)) < 0) {
        fprintf(stderr, "vantage-chaosload: %s: cannot read\n", o->server_key_file);
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/%s.key", o->keys_dir, name);
    if (transport_load_keys(path, &keys, err, sizeof(err)) < 0) {
        fprintf(stderr, "vantage-chaosload: %s\n", err);
        return NULL;
    }
    struct transport_opts to = {.endpoint = o->endpoint, .keys = &keys, .server_key = server_key};
    void *s = transport_client_create(ctx, &to, err, sizeof(err));
    if (s == NULL) {
        fprintf(stderr, "vantage-chaosload: %s\n", err);
        return NULL;
    }
    int ivl = CHAOS_RECONNECT_MAX_MS;
    zmq_setsockopt(s, ZMQ_RECONNECT_IVL_MAX, &ivl, sizeof(ivl));
    return s;
}

static void fill_result(struct result *r)
{
    result_init(r);
    r->has_seq = true;
    r->target = strdup("chaos");
    r->check = strdup("tcp://198.18.0.10:993");
    r->ok = true;
    r->layer = RESULT_LAYER_TCP;
    r->phases_us[RESULT_PHASE_CONNECT] = 812;
    r->phases_us[RESULT_PHASE_TOTAL] = 900;
    r->address = strdup("198.18.0.10");
    r->port = 993;
}

/* Sends seqs [a->next_seq, last] as one batch; 0, or -1 when the socket
 * would block (nothing is lost: the resend timer covers it). */
static int send_batch(struct agent *a, uint64_t last, struct result *tmpl)
{
    uint8_t *bufs[WIRE_BATCH_MAX];
    const uint8_t *ptrs[WIRE_BATCH_MAX];
    size_t lens[WIRE_BATCH_MAX];
    size_t n = 0;
    int rc = -1;
    tmpl->started_at_us = clock_wall_us();
    for (uint64_t seq = a->next_seq; seq <= last && n < WIRE_BATCH_MAX; seq++) {
        tmpl->seq = seq;
        if (wire_result_encode(tmpl, &bufs[n], &lens[n]) < 0)
            goto out;
        ptrs[n] = bufs[n];
        n++;
    }
    struct wire_msg m = {.kind = WIRE_BATCH, .agent = a->name};
    m.u.batch.results = ptrs;
    m.u.batch.lens = lens;
    m.u.batch.nresults = n;
    m.u.batch.after_seq = a->next_seq - 1;
    uint8_t *out;
    size_t olen;
    if (wire_msg_encode(&m, &out, &olen) < 0)
        goto out;
    rc = zmq_send(a->sock, out, olen, ZMQ_DONTWAIT) < 0 ? -1 : 0;
    free(out);
    if (rc == 0)
        a->next_seq += n;
out:
    for (size_t i = 0; i < n; i++)
        free(bufs[i]);
    return rc;
}

/* Ack delay: from when a result was made (its schedule) to its ack. */
struct delay {
    int64_t t0;
    double per_agent_us;
    int64_t max_us;
};

static void note_delay(struct delay *d, uint64_t from, uint64_t to, int64_t now)
{
    if (d == NULL || d->per_agent_us <= 0 || to < from)
        return;
    /* The oldest newly acknowledged result waited longest. */
    int64_t made = d->t0 + (int64_t)((double)from * d->per_agent_us);
    if (now - made > d->max_us)
        d->max_us = now - made;
}

static void recv_acks(struct agent *a, int64_t now, struct delay *d)
{
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, a->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        char err[128];
        struct wire_msg *w = wire_msg_decode(zmq_msg_data(&m), zmq_msg_size(&m), err, sizeof(err));
        if (w != NULL && w->kind == WIRE_ACK) {
            if (w->u.ack.seq > a->acked) {
                note_delay(d, a->acked + 1, w->u.ack.seq, now);
                a->acked = w->u.ack.seq;
                a->last_ack_us = now;
            }
            if (a->next_seq <= a->acked)
                a->next_seq = a->acked + 1;
            if (w->u.ack.gap) {
                a->next_seq = a->acked + 1;
                a->last_ack_us = now;
            }
        }
        wire_msg_free(&w);
        zmq_msg_close(&m);
    }
}

/* Replaces --acked FILE atomically (rename), so a reader never sees half
 * of it. Best effort: a test that reads it fails on its own if it is
 * missing. */
static void write_acked(const struct opts *o, const struct agent *ag)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.new", o->acked_file);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return;
    for (int i = 0; i < o->agents; i++)
        fprintf(f, "%s %llu\n", ag[i].name, (unsigned long long)ag[i].acked);
    if (fclose(f) == 0)
        rename(tmp, o->acked_file);
}

static int cmd_run(void *ctx, const struct opts *o)
{
    struct agent *ag = calloc((size_t)o->agents, sizeof(*ag));
    if (ag == NULL)
        return 2;
    int64_t t0 = mono_us();
    for (int i = 0; i < o->agents; i++) {
        ag[i].sock = connect_agent(ctx, o, o->first + i, ag[i].name);
        if (ag[i].sock == NULL)
            return 2;
        ag[i].next_seq = 1;
        ag[i].last_ack_us = t0;
    }
    struct result tmpl;
    fill_result(&tmpl);
    uint64_t resends = 0;
    double per_agent_us = o->rate > 0 ? 1e6 * o->agents / o->rate : 0;
    struct delay delay = {.t0 = t0, .per_agent_us = per_agent_us};
    int rc = 1;
    int64_t acked_at = 0;
    for (;;) {
        int64_t now = mono_us();
        if (o->acked_file != NULL && now - acked_at >= CHAOS_ACKED_EVERY_US) {
            write_acked(o, ag);
            acked_at = now;
        }
        /* Results exist when the schedule says they were probed. */
        uint64_t made =
            per_agent_us > 0 ? (uint64_t)((double)(now - t0) / per_agent_us) : o->results;
        if (made > o->results)
            made = o->results;
        int done = 1;
        for (int i = 0; i < o->agents; i++) {
            struct agent *a = &ag[i];
            recv_acks(a, now, &delay);
            if (a->acked < o->results)
                done = 0;
            if (a->next_seq - 1 > a->acked && now - a->last_ack_us > CHAOS_RESEND_US) {
                resends++;
                a->next_seq = a->acked + 1;
                a->last_ack_us = now;
            }
            while (a->next_seq <= made &&
                   a->next_seq - 1 - a->acked < (uint64_t)o->batch * CHAOS_WINDOW_BATCHES) {
                uint64_t last = a->next_seq + (uint64_t)o->batch - 1;
                if (send_batch(a, last < made ? last : made, &tmpl) < 0)
                    break;
            }
        }
        if (done) {
            if (o->acked_file != NULL)
                write_acked(o, ag);
            rc = 0;
            break;
        }
        if (now - t0 > (int64_t)o->timeout_s * 1000000) {
            fprintf(stderr, "vantage-chaosload: not all acknowledged after %d s\n", o->timeout_s);
            for (int i = 0; i < o->agents; i++)
                if (ag[i].acked < o->results)
                    fprintf(stderr, "  %s: acked %llu of %llu\n", ag[i].name,
                            (unsigned long long)ag[i].acked, (unsigned long long)o->results);
            break;
        }
        usleep(CHAOS_TICK_MS * 1000);
    }
    double secs = (double)(mono_us() - t0) / 1e6;
    if (rc == 0)
        printf("chaosload: %d agents x %llu results acknowledged in %.1f s (%.0f results/s), "
               "%llu resends after silence, ack delay at most %lld ms\n",
               o->agents, (unsigned long long)o->results, secs,
               (double)o->results * o->agents / secs, (unsigned long long)resends,
               (long long)(delay.max_us / 1000));
    result_clear(&tmpl);
    for (int i = 0; i < o->agents; i++)
        transport_close(&ag[i].sock);
    free(ag);
    return rc;
}

/* An authorized agent gone wrong: garbage and valid batches back to back,
 * as fast as the socket takes them, acks read and ignored but for the seq. */
static int cmd_flood(void *ctx, const struct opts *o)
{
    struct agent a = {.next_seq = 1};
    a.sock = connect_agent(ctx, o, o->first, a.name);
    if (a.sock == NULL)
        return 2;
    uint8_t *junk = malloc(CHAOS_GARBAGE_BYTES);
    if (junk == NULL)
        return 2;
    unsigned x = 12345;
    for (size_t i = 0; i < CHAOS_GARBAGE_BYTES; i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (uint8_t)(x >> 16);
    }
    struct result tmpl;
    fill_result(&tmpl);
    uint64_t garbage = 0, batches = 0;
    int64_t end = mono_us() + (int64_t)o->seconds * 1000000;
    while (mono_us() < end) {
        int64_t now = mono_us();
        recv_acks(&a, now, NULL);
        int sent = 0;
        if (zmq_send(a.sock, junk, CHAOS_GARBAGE_BYTES, ZMQ_DONTWAIT) >= 0) {
            garbage++;
            sent = 1;
        }
        /* Valid batches that never wait for their ack: a new seq range each
         * time, so that the collector has real rows to store from it too. */
        if (send_batch(&a, a.next_seq + (uint64_t)o->batch - 1, &tmpl) == 0) {
            batches++;
            sent = 1;
        }
        if (!sent) {
            zmq_pollitem_t it = {a.sock, 0, ZMQ_POLLOUT, 0};
            zmq_poll(&it, 1, CHAOS_TICK_MS);
        }
    }
    printf("chaosload: flood sent %llu garbage messages of %d bytes and %llu batches of %d\n",
           (unsigned long long)garbage, CHAOS_GARBAGE_BYTES, (unsigned long long)batches, o->batch);
    result_clear(&tmpl);
    free(junk);
    transport_close(&a.sock);
    return 0;
}

/* Waits up to ms for the ack to reach want; returns the ack then. */
static uint64_t wait_ack(struct agent *a, uint64_t want, int ms)
{
    int64_t end = mono_us() + (int64_t)ms * 1000;
    while (a->acked < want && mono_us() < end) {
        zmq_pollitem_t it = {a->sock, 0, ZMQ_POLLIN, 0};
        zmq_poll(&it, 1, CHAOS_TICK_MS);
        recv_acks(a, mono_us(), NULL);
    }
    return a->acked;
}

/* Sends within CHAOS_REFUSE_WAIT_MS or gives up: a refused key never
 * completes its handshake, and the socket queues nothing until one does. */
static int send_bounded(void *sock, const void *buf, size_t len)
{
    int64_t end = mono_us() + (int64_t)CHAOS_REFUSE_WAIT_MS * 1000;
    while (zmq_send(sock, buf, len, ZMQ_DONTWAIT) < 0) {
        if (errno != EAGAIN || mono_us() > end)
            return -1;
        zmq_pollitem_t it = {sock, 0, ZMQ_POLLOUT, 0};
        zmq_poll(&it, 1, CHAOS_TICK_MS);
    }
    return 0;
}

static int send_heartbeat(struct agent *a)
{
    struct wire_msg hb = {.kind = WIRE_HEARTBEAT, .agent = a->name};
    uint8_t *buf;
    size_t len;
    if (wire_msg_encode(&hb, &buf, &len) < 0)
        return -1;
    int rc = send_bounded(a->sock, buf, len);
    free(buf);
    return rc;
}

/* Encodes seqs [from, from + n) started at `at` as one batch message. */
static int encode_batch(struct agent *a, uint64_t from, size_t n, int64_t at, uint8_t **out,
                        size_t *olen)
{
    uint8_t *bufs[WIRE_BATCH_MAX];
    const uint8_t *ptrs[WIRE_BATCH_MAX];
    size_t lens[WIRE_BATCH_MAX];
    struct result r;
    fill_result(&r);
    r.started_at_us = at;
    size_t k = 0;
    int rc = -1;
    for (; k < n; k++) {
        r.seq = from + k;
        if (wire_result_encode(&r, &bufs[k], &lens[k]) < 0)
            goto out;
        ptrs[k] = bufs[k];
    }
    struct wire_msg m = {.kind = WIRE_BATCH, .agent = a->name};
    m.u.batch.results = ptrs;
    m.u.batch.lens = lens;
    m.u.batch.nresults = n;
    m.u.batch.after_seq = from - 1;
    rc = wire_msg_encode(&m, out, olen);
out:
    for (size_t i = 0; i < k; i++)
        free(bufs[i]);
    result_clear(&r);
    return rc;
}

static int send_encoded(struct agent *a, uint64_t from, size_t n, int64_t at, size_t cut)
{
    uint8_t *out;
    size_t olen;
    if (encode_batch(a, from, n, at, &out, &olen) < 0)
        return -1;
    int rc = send_bounded(a->sock, out, cut ? cut : olen);
    free(out);
    return rc;
}

/* The acks after each step, for the test to compare: 10 10 20 20 30. */
static int cmd_hostile(void *ctx, const struct opts *o)
{
    struct agent a = {0};
    a.sock = connect_agent(ctx, o, o->first, a.name);
    if (a.sock == NULL || send_heartbeat(&a) < 0)
        return 2;
    int64_t now = clock_wall_us();
    uint64_t acks[5];
    int rc = 0;
    rc |= send_encoded(&a, 1, CHAOS_HOSTILE_N, now, 0);
    acks[0] = wait_ack(&a, 10, CHAOS_ACK_WAIT_MS);
    rc |= send_encoded(&a, 1, CHAOS_HOSTILE_N, now, 0); /* replayed */
    rc |= send_heartbeat(&a);
    acks[1] = wait_ack(&a, 11, CHAOS_REFUSE_WAIT_MS);
    rc |= send_encoded(&a, 11, CHAOS_HOSTILE_N, now + CHAOS_AHEAD_US, 0);
    acks[2] = wait_ack(&a, 20, CHAOS_ACK_WAIT_MS);
    rc |= send_encoded(&a, 21, CHAOS_HOSTILE_N, now, 100); /* truncated */
    rc |= send_heartbeat(&a);
    acks[3] = wait_ack(&a, 21, CHAOS_REFUSE_WAIT_MS);
    rc |= send_encoded(&a, 21, CHAOS_HOSTILE_N, now, 0);
    acks[4] = wait_ack(&a, 30, CHAOS_ACK_WAIT_MS);
    printf("acks %llu %llu %llu %llu %llu\n", (unsigned long long)acks[0],
           (unsigned long long)acks[1], (unsigned long long)acks[2], (unsigned long long)acks[3],
           (unsigned long long)acks[4]);
    transport_close(&a.sock);
    return rc ? 2 : 0;
}

static int cmd_revoked(void *ctx, const struct opts *o)
{
    struct agent a = {0};
    a.sock = connect_agent(ctx, o, o->first, a.name);
    if (a.sock == NULL)
        return 2;
    /* Refused at the handshake: the sends time out; either way no ack. */
    (void)send_heartbeat(&a);
    (void)send_encoded(&a, o->results, CHAOS_HOSTILE_N, clock_wall_us(), 0);
    uint64_t last = o->results + CHAOS_HOSTILE_N - 1;
    uint64_t acked = wait_ack(&a, last, CHAOS_REFUSE_WAIT_MS);
    transport_close(&a.sock);
    printf("revoked: %s\n", acked >= last ? "acknowledged" : "not acknowledged");
    return acked >= last ? 1 : 0;
}

int main(int argc, char **argv)
{
    static const char *const cmds[] = {"run", "flood", "hostile", "revoked"};
    int cmd = -1;
    for (int i = 0; argc >= 2 && i < 4; i++)
        if (strcmp(argv[1], cmds[i]) == 0)
            cmd = i;
    if (cmd < 0) {
        fputs("usage: vantage-chaosload run|flood|hostile|revoked [options] (see "
              "tests/chaos/chaosload.c)\n",
              stderr);
        return 2;
    }
    struct opts o = {
        .agents = 1, .rate = 1000, .results = 1000, .batch = 50, .timeout_s = 120, .seconds = 5};
    static const struct option lo[] = {
        {"endpoint", required_argument, NULL, 'e'}, {"server-key", required_argument, NULL, 's'},
        {"keys", required_argument, NULL, 'k'},     {"agents", required_argument, NULL, 'a'},
        {"first", required_argument, NULL, 'f'},    {"rate", required_argument, NULL, 'R'},
        {"results", required_argument, NULL, 'r'},  {"batch", required_argument, NULL, 'b'},
        {"timeout", required_argument, NULL, 't'},  {"seconds", required_argument, NULL, 'S'},
        {"acked", required_argument, NULL, 'A'},    {NULL, 0, NULL, 0}};
    int ch;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'e':
            o.endpoint = optarg;
            break;
        case 's':
            o.server_key_file = optarg;
            break;
        case 'k':
            o.keys_dir = optarg;
            break;
        case 'a':
            o.agents = atoi(optarg);
            break;
        case 'f':
            o.first = atoi(optarg);
            break;
        case 'R':
            o.rate = atof(optarg);
            break;
        case 'r':
            o.results = strtoull(optarg, NULL, 10);
            break;
        case 'b':
            o.batch = atoi(optarg);
            break;
        case 't':
            o.timeout_s = atoi(optarg);
            break;
        case 'S':
            o.seconds = atoi(optarg);
            break;
        case 'A':
            o.acked_file = optarg;
            break;
        default:
            return 2;
        }
    }
    if (o.endpoint == NULL || o.server_key_file == NULL || o.keys_dir == NULL || o.agents < 1 ||
        o.agents > CHAOS_AGENTS_MAX || o.first < 0 || o.batch < 1 || o.batch > WIRE_BATCH_MAX ||
        o.results < 1 || o.timeout_s < 1) {
        fputs("vantage-chaosload: bad options (--endpoint, --server-key and --keys are needed)\n",
              stderr);
        return 2;
    }
    void *ctx = zmq_ctx_new();
    int rc = cmd == 0   ? cmd_run(ctx, &o)
             : cmd == 1 ? cmd_flood(ctx, &o)
             : cmd == 2 ? cmd_hostile(ctx, &o)
                        : cmd_revoked(ctx, &o);
    zmq_ctx_term(ctx);
    return rc;
}
