/*
 * conncheck — one connection attempt with a verdict (conncheck.h).
 */
#include "conncheck.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "linkstate.h"
#include "transport.h"
#include "wire.h"

struct attempt {
    const struct agentconf *conf;
    const char *endpoint; /* one of conf->collectors */
    unsigned serial;      /* names the monitor's inproc endpoint */
    void *ctx;
    void *sock;
    void *monitor;
    uint8_t *hello;
    size_t hello_len;
    bool hello_sent;
    bool acked; /* the collector answered the hello */
    struct linkstate link;
    char name[RESULT_NAME_MAX + 1];         /* as the collector knows us */
    char public_key[TRANSPORT_KEY_LEN + 1]; /* ours, for the authorized_keys line */
};

static int setup(struct attempt *a, char *err, size_t errlen)
{
    struct transport_keys keys;
    const struct agentconf *conf = a->conf;
    if (!conf->insecure_plaintext && transport_load_keys(conf->secret_key, &keys, err, errlen) < 0)
        return -1;
    if (!conf->insecure_plaintext)
        memcpy(a->public_key, keys.public_key, sizeof(a->public_key));
    a->ctx = zmq_ctx_new();
    if (a->ctx == NULL) {
        snprintf(err, errlen, "cannot create a ZeroMQ context: %s", zmq_strerror(errno));
        return -1;
    }
    struct transport_opts o = {.endpoint = a->endpoint,
                               .plaintext = conf->insecure_plaintext,
                               .keys = conf->insecure_plaintext ? NULL : &keys,
                               .server_key = conf->collector_public_key};
    a->sock = transport_client_create(a->ctx, &o, err, errlen);
    explicit_bzero(&keys, sizeof(keys));
    if (a->sock == NULL)
        return -1;
    char mon_ep[64];
    snprintf(mon_ep, sizeof(mon_ep), "inproc://conncheck-monitor-%u", a->serial);
    if (zmq_socket_monitor(a->sock, mon_ep, LINKSTATE_EVENTS) != 0 ||
        (a->monitor = zmq_socket(a->ctx, ZMQ_PAIR)) == NULL ||
        zmq_connect(a->monitor, mon_ep) != 0) {
        snprintf(err, errlen, "cannot watch the connection: %s", zmq_strerror(errno));
        return -1;
    }
    struct wire_msg m = {.kind = WIRE_HELLO, .agent = conf->name};
    m.u.hello.name = conf->name;
    m.u.hello.site = conf->site;
    m.u.hello.version = VANTAGE_VERSION;
    m.u.hello.check_only = true;
    if (wire_msg_encode(&m, &a->hello, &a->hello_len) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static void teardown(struct attempt *a)
{
    transport_close(&a->monitor);
    transport_close(&a->sock);
    if (a->ctx != NULL)
        zmq_ctx_term(a->ctx);
    free(a->hello);
}

/* Reads one message: 1 when it was the ack of our hello, 0 for another,
 * -1 when none is waiting. */
static int read_answer(struct attempt *a)
{
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    int rc = -1;
    if (zmq_msg_recv(&msg, a->sock, ZMQ_DONTWAIT) >= 0) {
        char err[256];
        struct wire_msg *m =
            wire_msg_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), err, sizeof(err));
        rc = 0;
        if (m != NULL && m->kind == WIRE_ACK) {
            /* A collector older than the name in the ack leaves it out. */
            snprintf(a->name, sizeof(a->name), "%s", m->u.ack.name ? m->u.ack.name : "");
            a->acked = true;
            rc = 1;
        }
        wire_msg_free(&m);
    }
    zmq_msg_close(&msg);
    return rc;
}

/* Whether what the monitor saw already settles the verdict: a refused
 * connection, a failed handshake or a refused key do not get better by
 * waiting (the daemon retries; a check says why at once). */
static bool settled_failure(const struct attempt *a)
{
    if (a->link.stage == LINKSTATE_HANDSHAKE_FAILED || a->link.stage == LINKSTATE_REFUSED)
        return true;
    return a->link.stage == LINKSTATE_NO_ANSWER && a->link.attempts_failed > 0;
}

/* One poll round over the attempts not yet settled: monitor events, the
 * hello once the handshake is done, the answer. */
static int poll_round(struct attempt *as, size_t n, long wait_ms)
{
    zmq_pollitem_t items[2 * AGENTCONF_COLLECTORS_MAX];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        items[k++] = (zmq_pollitem_t){as[i].sock, 0, ZMQ_POLLIN, 0};
        items[k++] = (zmq_pollitem_t){as[i].monitor, 0, ZMQ_POLLIN, 0};
    }
    if (zmq_poll(items, (int)k, wait_ms) < 0 && errno != EINTR)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct attempt *a = &as[i];
        uint16_t event;
        uint32_t value;
        while (linkstate_read(a->monitor, &event, &value) == 1)
            linkstate_note(&a->link, event, value);
        /* With ZMQ_IMMEDIATE the hello is taken only once the handshake is
         * done; until then the send fails with EAGAIN and is tried again. */
        if (!a->hello_sent && zmq_send(a->sock, a->hello, a->hello_len, ZMQ_DONTWAIT) >= 0)
            a->hello_sent = true;
        while (!a->acked && read_answer(a) >= 0)
            ;
    }
    return 0;
}

static void report_ok(const struct attempt *a, const char *label, FILE *out)
{
    const struct agentconf *conf = a->conf;
    fprintf(out, "connected to the collector at %s%s (%s): %s\n", a->endpoint, label,
            conf->insecure_plaintext ? "PLAINTEXT" : "CURVE",
            conf->insecure_plaintext ? "it answered this agent's hello"
                                     : "the handshake succeeded, the collector accepted this "
                                       "agent's key and answered its hello");
    if (a->name[0] != '\0' && strcmp(a->name, conf->name) != 0)
        fprintf(out,
                "warning: the collector knows this agent as '%s' (its authorized_keys), not "
                "'%s' (name = in %s): results are stored as '%s'; make the two names the "
                "same\n",
                a->name, conf->name, conf->path, a->name);
    else if (a->name[0] != '\0')
        fprintf(out, "the collector knows this agent as '%s'\n", a->name);
}

static void report_failure(const struct attempt *a, const char *label, int timeout_ms, FILE *errout)
{
    char err[768];
    linkstate_explain(&a->link, a->endpoint, a->conf->name, err, sizeof(err));
    if (a->link.stage == LINKSTATE_NO_ANSWER && a->link.attempts_failed == 0)
        fprintf(errout, "vantage-agent: connection%s failed: no answer within %ds: %s\n", label,
                timeout_ms / 1000, err);
    else
        fprintf(errout, "vantage-agent: connection%s failed: %s\n", label, err);
    if (a->link.stage == LINKSTATE_REFUSED)
        fprintf(errout, "the line to add to authorized_keys: %s %s\n", a->public_key,
                a->conf->name);
}

enum conncheck_status conncheck_run(const struct agentconf *conf, int timeout_ms, FILE *out,
                                    FILE *errout)
{
    /* Every collector = at once, so that several cost one timeout. */
    struct attempt as[AGENTCONF_COLLECTORS_MAX];
    size_t n = conf->ncollectors;
    char err[768];
    enum conncheck_status rc = CONNCHECK_OK;
    memset(as, 0, sizeof(as));
    for (size_t i = 0; i < n; i++) {
        as[i] =
            (struct attempt){.conf = conf, .endpoint = conf->collectors[i], .serial = (unsigned)i};
        linkstate_reset(&as[i].link);
        if (setup(&as[i], err, sizeof(err)) < 0) {
            fprintf(errout, "vantage-agent: %s\n", err);
            rc = CONNCHECK_ERROR;
            goto out;
        }
    }
    uint64_t deadline = clock_mono_us() + (uint64_t)timeout_ms * 1000;
    for (;;) {
        bool pending = false;
        for (size_t i = 0; i < n; i++)
            pending |= !as[i].acked && !settled_failure(&as[i]);
        uint64_t now = clock_mono_us();
        if (!pending || now >= deadline)
            break;
        uint64_t left_ms = (deadline - now + 999) / 1000;
        long wait_ms = left_ms < CONNCHECK_POLL_MS ? (long)left_ms : CONNCHECK_POLL_MS;
        if (poll_round(as, n, wait_ms) < 0) {
            fprintf(errout, "vantage-agent: poll failed: %s\n", zmq_strerror(errno));
            rc = CONNCHECK_ERROR;
            goto out;
        }
    }
    size_t answered = 0;
    for (size_t i = 0; i < n; i++) {
        char label[64] = "";
        if (n > 1)
            snprintf(label, sizeof(label), " (collector %zu of %zu)", i + 1, n);
        if (as[i].acked) {
            report_ok(&as[i], label, out);
            answered++;
        } else {
            report_failure(&as[i], label, timeout_ms, errout);
        }
    }
    if (n > 1)
        fprintf(answered == n ? out : errout, "%zu of %zu collectors answer%s\n", answered, n,
                answered == 0  ? ": results wait in the spool until one does"
                : answered < n ? ": the agent sends to the first that answers"
                               : "");
    rc = answered == n ? CONNCHECK_OK : CONNCHECK_FAILED;
out:
    for (size_t i = 0; i < n; i++)
        teardown(&as[i]);
    return rc;
}
