/*
 * vantage-loadgen — a stand-in for many agents that speaks the real
 * protocol (CURVE, protobuf envelopes, acks) to a collector. Used by
 * bench/ingest to measure ingest, and by tests as a misbehaving but
 * admitted agent (garbage bytes, oversized messages, invalid results).
 *
 *   vantage-loadgen keys N DIR        make N agent keys and DIR/authorized_keys
 *   vantage-loadgen load  [options]   send --results per agent, wait for acks
 *   vantage-loadgen garbage|oversize|badresult [options]
 *
 * options: --endpoint E --server-key PUBFILE --keys DIR --agents N
 *          --results N --batch N --window N --plaintext
 *          --ago S          results started S seconds ago (a spooled backlog,
 *                           or an agent whose clock is behind), 1 ms apart
 *          --fail-every N   every result whose seq is a multiple of N fails
 *                           (tcp_timeout), the others pass
 *          --first I        the agents are loadI, loadI+1, ... (keys made for
 *                           more agents than one generator sends as, so that
 *                           two generators split a fleet between collectors)
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "transport.h"
#include "wire.h"

#define LOADGEN_AGENTS_MAX 1024

struct agent {
    void *sock;
    char name[32];
    uint64_t next_seq; /* next seq to send */
    uint64_t acked;
    uint64_t target; /* last seq to send */
};

struct opts {
    const char *endpoint;
    const char *server_key_file;
    const char *keys_dir;
    int agents;
    int first; /* --first: index of the first agent's name and key */
    uint64_t results;
    int batch;
    uint64_t window;
    int plaintext;
    int64_t seq_base;
    int64_t ago_us;      /* --ago: started_at is this long before now */
    uint64_t fail_every; /* --fail-every; 0 = every result passes */
};

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

static int cmd_keys(int n, const char *dir)
{
    char err[512], path[4096], pub[128];
    mkdir(dir, 0700);
    snprintf(path, sizeof(path), "%s/authorized_keys", dir);
    FILE *ak = fopen(path, "w");
    if (ak == NULL) {
        perror(path);
        return 2;
    }
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "load%04d", i);
        if (transport_keygen(dir, name, err, sizeof(err)) < 0) {
            fprintf(stderr, "vantage-loadgen: %s\n", err);
            fclose(ak);
            return 2;
        }
        snprintf(path, sizeof(path), "%s/%s.pub", dir, name);
        if (read_line(path, pub, sizeof(pub)) < 0) {
            fclose(ak);
            return 2;
        }
        fprintf(ak, "%s %s\n", pub, name);
    }
    fclose(ak);
    return 0;
}

/* A realistic result: an IMAPS check with TLS facts and a banner. */
static void fill_result(struct result *rp)
{
    struct result r;
    result_init(&r);
    r.has_seq = true;
    r.seq = 0;
    r.target = strdup("corp-mail");
    r.check = strdup("imaps://mail.example.com");
    r.started_at_us = clock_wall_us();
    r.ok = true;
    r.layer = RESULT_LAYER_PROTOCOL;
    r.phases_us[RESULT_PHASE_DNS] = 812;
    r.phases_us[RESULT_PHASE_CONNECT] = 10321;
    r.phases_us[RESULT_PHASE_TLS] = 30211;
    r.phases_us[RESULT_PHASE_GREETING] = 2003;
    r.phases_us[RESULT_PHASE_TOTAL] = 45000;
    r.address = strdup("203.0.113.10");
    r.port = 993;
    r.banner =
        strdup("* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE] Dovecot ready.");
    struct result_tls *t = result_tls_new(&r);
    t->version = strdup("TLSv1.3");
    t->cipher = strdup("TLS_AES_256_GCM_SHA384");
    t->subject = strdup("CN=mail.example.com");
    t->issuer = strdup("CN=Example CA");
    result_list_add(&t->sans, &t->nsans, "mail.example.com");
    t->not_after = 1800000000;
    t->days_left = 200;
    t->sha256 = strdup("5f1d2c9a0b7e44f3a1c2d3e4f5061728394a5b6c7d8e9f00112233445566778899");
    t->verify = strdup("ok");
    *rp = r;
}

/* Built once: the generator must cost the collector's machine little.
 * With --ago, base_us is the first result's time and each seq is 1 ms
 * later; with --fail-every, some of them fail. */
static int make_result(struct result *tmpl, const struct opts *o, int64_t base_us, uint64_t seq,
                       uint8_t **buf, size_t *len)
{
    tmpl->seq = seq;
    if (o->ago_us != 0)
        tmpl->started_at_us = base_us + (int64_t)seq * 1000;
    if (o->fail_every != 0) {
        bool fail = seq % o->fail_every == 0;
        tmpl->ok = !fail;
        tmpl->error = fail ? RESULT_TCP_TIMEOUT : RESULT_OK;
        tmpl->layer = fail ? RESULT_LAYER_TCP : RESULT_LAYER_PROTOCOL;
    }
    return wire_result_encode(tmpl, buf, len);
}

static int send_batch(struct agent *a, int batch, struct result *tmpl, const struct opts *o,
                      int64_t base_us)
{
    uint8_t *bufs[WIRE_BATCH_MAX];
    const uint8_t *ptrs[WIRE_BATCH_MAX];
    size_t lens[WIRE_BATCH_MAX];
    int n = 0;
    uint64_t after = a->next_seq - 1;
    while (n < batch && a->next_seq <= a->target) {
        if (make_result(tmpl, o, base_us, a->next_seq, &bufs[n], &lens[n]) < 0)
            return -1;
        ptrs[n] = bufs[n];
        n++;
        a->next_seq++;
    }
    struct wire_msg m = {.kind = WIRE_BATCH, .agent = a->name};
    m.u.batch.results = ptrs;
    m.u.batch.lens = lens;
    m.u.batch.nresults = (size_t)n;
    m.u.batch.after_seq = after;
    uint8_t *out;
    size_t olen;
    int rc = wire_msg_encode(&m, &out, &olen);
    for (int i = 0; i < n; i++)
        free(bufs[i]);
    if (rc < 0)
        return -1;
    rc = zmq_send(a->sock, out, olen, 0);
    free(out);
    return rc < 0 ? -1 : 0;
}

static int send_raw(void *sock, const void *buf, size_t len)
{
    return zmq_send(sock, buf, len, 0) < 0 ? -1 : 0;
}

static void *connect_agent(void *ctx, const struct opts *o, int i, char *name, char *err,
                           size_t errlen)
{
    char path[4096], server_key[128];
    struct transport_keys keys;
    snprintf(name, 32, "load%04d", o->first + i);
    struct transport_opts to = {.endpoint = o->endpoint, .plaintext = o->plaintext != 0};
    if (!o->plaintext) {
        if (read_line(o->server_key_file, server_key, sizeof(server_key)) < 0) {
            snprintf(err, errlen, "%s: cannot read the collector's public key", o->server_key_file);
            return NULL;
        }
        snprintf(path, sizeof(path), "%s/%s.key", o->keys_dir, name);
        if (transport_load_keys(path, &keys, err, errlen) < 0)
            return NULL;
        to.keys = &keys;
        to.server_key = server_key;
    }
    void *s = transport_client_create(ctx, &to, err, errlen);
    if (s != NULL) {
        /* The load generator may block: it measures the collector. */
        int hwm = 100000;
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
        int imm = 0;
        zmq_setsockopt(s, ZMQ_IMMEDIATE, &imm, sizeof(imm));
    }
    return s;
}

static int recv_acks(struct agent *a, int timeout_ms)
{
    zmq_pollitem_t it = {a->sock, 0, ZMQ_POLLIN, 0};
    int got = 0;
    while (zmq_poll(&it, 1, got ? 0 : timeout_ms) > 0) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, a->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            break;
        }
        char err[128];
        struct wire_msg *w = wire_msg_decode(zmq_msg_data(&m), zmq_msg_size(&m), err, sizeof(err));
        if (w != NULL && w->kind == WIRE_ACK) {
            if (w->u.ack.seq > a->acked)
                a->acked = w->u.ack.seq;
            if (w->u.ack.gap)
                a->next_seq = a->acked + 1;
        }
        wire_msg_free(&w);
        zmq_msg_close(&m);
        got = 1;
    }
    return got;
}

static int cmd_load(void *ctx, const struct opts *o)
{
    struct agent *ag = calloc((size_t)o->agents, sizeof(*ag));
    char err[512];
    for (int i = 0; i < o->agents; i++) {
        ag[i].sock = connect_agent(ctx, o, i, ag[i].name, err, sizeof(err));
        if (ag[i].sock == NULL) {
            fprintf(stderr, "vantage-loadgen: %s\n", err);
            return 2;
        }
        ag[i].next_seq = (uint64_t)o->seq_base + 1;
        ag[i].acked = (uint64_t)o->seq_base;
        ag[i].target = (uint64_t)o->seq_base + o->results;
    }
    /* A heartbeat first: it returns the collector's ack, so a rerun
     * against the same database continues where the last one stopped. */
    for (int i = 0; i < o->agents; i++) {
        struct wire_msg hb = {.kind = WIRE_HEARTBEAT, .agent = ag[i].name};
        uint8_t *buf;
        size_t len;
        if (wire_msg_encode(&hb, &buf, &len) == 0) {
            send_raw(ag[i].sock, buf, len);
            free(buf);
        }
    }
    for (int i = 0; i < o->agents; i++) {
        if (!recv_acks(&ag[i], 10000)) {
            fprintf(stderr, "vantage-loadgen: no answer from %s for agent %s\n", o->endpoint,
                    ag[i].name);
            return 2;
        }
        ag[i].next_seq = ag[i].acked + 1;
        ag[i].target = ag[i].acked + o->results;
    }
    struct result tmpl;
    fill_result(&tmpl);
    tmpl.started_at_us = clock_wall_us();
    int64_t base_us = tmpl.started_at_us - o->ago_us;
    uint64_t t0 = clock_mono_us();
    uint64_t last_progress = t0;
    for (;;) {
        int done = 1;
        for (int i = 0; i < o->agents; i++) {
            struct agent *a = &ag[i];
            while (a->next_seq <= a->target && a->next_seq - 1 - a->acked < o->window)
                if (send_batch(a, o->batch, &tmpl, o, base_us) < 0) {
                    fprintf(stderr, "vantage-loadgen: send failed: %s\n", zmq_strerror(errno));
                    return 2;
                }
            if (recv_acks(a, 0))
                last_progress = clock_mono_us();
            if (a->acked < a->target)
                done = 0;
        }
        if (done)
            break;
        if (clock_mono_us() - last_progress > 30000000) {
            fprintf(stderr, "vantage-loadgen: no ack progress for 30 s\n");
            return 2;
        }
        /* Wait for any ack rather than spin. */
        zmq_pollitem_t items[LOADGEN_AGENTS_MAX];
        for (int i = 0; i < o->agents; i++)
            items[i] = (zmq_pollitem_t){ag[i].sock, 0, ZMQ_POLLIN, 0};
        zmq_poll(items, o->agents, 100);
    }
    double secs = (double)(clock_mono_us() - t0) / 1e6;
    uint64_t total = o->results * (uint64_t)o->agents;
    result_clear(&tmpl);
    printf("loadgen: %llu results from %d agents acknowledged in %.3f s: %.0f results/s\n",
           (unsigned long long)total, o->agents, secs, (double)total / secs);
    for (int i = 0; i < o->agents; i++)
        transport_close(&ag[i].sock);
    free(ag);
    return 0;
}

static int cmd_misbehave(void *ctx, const struct opts *o, const char *mode)
{
    char err[512], name[32];
    void *s = connect_agent(ctx, o, 0, name, err, sizeof(err));
    if (s == NULL) {
        fprintf(stderr, "vantage-loadgen: %s\n", err);
        return 2;
    }
    int rc;
    if (strcmp(mode, "garbage") == 0) {
        static const char junk[] = "\xff\x00garbage that is not a protobuf envelope\x01\x02";
        rc = send_raw(s, junk, sizeof(junk));
    } else if (strcmp(mode, "oversize") == 0) {
        size_t len = (size_t)WIRE_MSG_MAX + 4096;
        uint8_t *big = calloc(1, len);
        rc = big ? send_raw(s, big, len) : -1;
        free(big);
    } else {
        /* A well-formed envelope whose one result has no check. */
        struct result r;
        result_init(&r);
        r.has_seq = true;
        r.seq = 1;
        r.started_at_us = clock_wall_us();
        uint8_t *rb, *out;
        size_t rlen, olen;
        if (wire_result_encode(&r, &rb, &rlen) < 0)
            return 2;
        const uint8_t *ptrs[1] = {rb};
        struct wire_msg m = {.kind = WIRE_BATCH, .agent = name};
        m.u.batch.results = ptrs;
        m.u.batch.lens = &rlen;
        m.u.batch.nresults = 1;
        rc = wire_msg_encode(&m, &out, &olen) == 0 ? send_raw(s, out, olen) : -1;
        free(rb);
        if (rc == 0)
            free(out);
    }
    /* Give the collector a moment to take it before the socket closes.
     * (Not zmq_poll: libzmq 4.3.4 asserts polling a socket whose peer
     * just dropped the connection for an oversized message.) */
    usleep(500000);
    transport_close(&s);
    if (rc < 0) {
        fprintf(stderr, "vantage-loadgen: send failed: %s\n", zmq_strerror(errno));
        return 2;
    }
    printf("loadgen: sent %s\n", mode);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("usage: vantage-loadgen keys N DIR | load|garbage|oversize|badresult [options]\n",
              stderr);
        return 2;
    }
    if (strcmp(argv[1], "keys") == 0) {
        if (argc != 4)
            return 2;
        return cmd_keys(atoi(argv[2]), argv[3]);
    }
    struct opts o = {.endpoint = "tcp://127.0.0.1:7400",
                     .agents = 1,
                     .results = 100000,
                     .batch = WIRE_BATCH_MAX,
                     .window = 4 * WIRE_BATCH_MAX};
    static const struct option lo[] = {
        {"endpoint", required_argument, NULL, 'e'}, {"server-key", required_argument, NULL, 's'},
        {"keys", required_argument, NULL, 'k'},     {"agents", required_argument, NULL, 'a'},
        {"results", required_argument, NULL, 'r'},  {"batch", required_argument, NULL, 'b'},
        {"window", required_argument, NULL, 'w'},   {"plaintext", no_argument, NULL, 'p'},
        {"ago", required_argument, NULL, 'g'},      {"fail-every", required_argument, NULL, 'f'},
        {"first", required_argument, NULL, 'i'},    {NULL, 0, NULL, 0}};
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
        case 'r':
            o.results = strtoull(optarg, NULL, 10);
            break;
        case 'b':
            o.batch = atoi(optarg);
            break;
        case 'w':
            o.window = strtoull(optarg, NULL, 10);
            break;
        case 'p':
            o.plaintext = 1;
            break;
        case 'g':
            o.ago_us = strtoll(optarg, NULL, 10) * 1000000;
            break;
        case 'f':
            o.fail_every = strtoull(optarg, NULL, 10);
            break;
        case 'i':
            o.first = atoi(optarg);
            break;
        default:
            return 2;
        }
    }
    if (o.agents < 1 || o.agents > LOADGEN_AGENTS_MAX || o.first < 0 || o.first > 9999 - o.agents ||
        o.batch < 1 || o.batch > WIRE_BATCH_MAX ||
        (!o.plaintext && (o.server_key_file == NULL || o.keys_dir == NULL))) {
        fputs("vantage-loadgen: bad options (CURVE needs --server-key and --keys)\n", stderr);
        return 2;
    }
    void *ctx = zmq_ctx_new();
    int rc = strcmp(argv[1], "load") == 0 ? cmd_load(ctx, &o) : cmd_misbehave(ctx, &o, argv[1]);
    zmq_ctx_term(ctx);
    return rc;
}
