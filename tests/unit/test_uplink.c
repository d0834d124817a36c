/*
 * Unit tests for agent/uplink.c against a real ZeroMQ ROUTER on loopback
 * that plays the collector: when the first hello goes out, and that the
 * collector's answer to it reaches the daemon only once the daemon holds
 * its handle to the uplink (finding 17 in docs/reliability.md: the
 * answer could arrive inside uplink_create, and the agent crashed on a
 * NULL uplink).
 *
 * That crash needed a loaded machine to stall the agent's thread twice at
 * the wrong instants. The executable is linked with --wrap=zmq_connect and
 * --wrap=zmq_send (tests/CMakeLists.txt) so that the stalls happen every
 * time: after a TCP connect (the connection completes meanwhile) and
 * after each send (the collector's answer arrives meanwhile).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>
#include <zmq.h>

#include "clock.h"
#include "log.h"
#include "spool.h"
#include "uplink.h"
#include "wire.h"

#define ERR_MAX 512
/* Generous for a loaded CI machine; the loop ends as soon as it is met. */
#define WAIT_MS 10000
/* Long enough for a loopback connection to complete and for the
 * collector's thread to answer. */
#define STALL_US 300000

int __real_zmq_connect(void *s, const char *endpoint);
int __real_zmq_send(void *s, const void *buf, size_t len, int flags);
int __wrap_zmq_connect(void *s, const char *endpoint);
int __wrap_zmq_send(void *s, const void *buf, size_t len, int flags);

/* Every zmq_send and zmq_connect of the executable, the agent's and the
 * test's, goes through the wrappers; only the agent's to a TCP endpoint
 * stall (inproc is the socket monitor's), and the test's own sends call
 * __real_zmq_send. */
int __wrap_zmq_connect(void *s, const char *endpoint)
{
    int rc = __real_zmq_connect(s, endpoint);
    if (rc == 0 && strncmp(endpoint, "tcp://", 6) == 0)
        usleep(STALL_US);
    return rc;
}

int __wrap_zmq_send(void *s, const void *buf, size_t len, int flags)
{
    int rc = __real_zmq_send(s, buf, len, flags);
    if (rc >= 0)
        usleep(STALL_US);
    return rc;
}

struct fixture {
    char dir[64];
    char path[128];
    uv_loop_t loop;
    struct spool *spool;
    void *ctx;
    void *router;
    char endpoint[128];
    struct log *log;
    struct uplink *up; /* what the daemon holds: NULL until create returns */
    int configs;
    bool handle_held; /* on_config found the handle assigned */
    char version[32];
    /* The collector's thread, which owns the router while it runs. */
    pthread_t collector;
    bool collector_started;
    atomic_bool stop;
    atomic_int answered;
    atomic_int broken; /* receives and sends of the collector's side that failed */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_uplink.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/spool.db", f->dir);
    char err[ERR_MAX];
    f->spool = spool_open(f->path, 1000, err, sizeof(err));
    assert_non_null(f->spool);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->log =
        log_create(stderr, "test_uplink", getenv("TEST_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
    assert_non_null(f->log);
    f->ctx = zmq_ctx_new();
    assert_non_null(f->ctx);
    f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
    assert_non_null(f->router);
    int linger = 0;
    assert_int_equal(zmq_setsockopt(f->router, ZMQ_LINGER, &linger, sizeof(linger)), 0);
    assert_int_equal(zmq_bind(f->router, "tcp://127.0.0.1:*"), 0);
    size_t len = sizeof(f->endpoint);
    assert_int_equal(zmq_getsockopt(f->router, ZMQ_LAST_ENDPOINT, f->endpoint, &len), 0);
    *state = f;
    return 0;
}

static void stop_collector(struct fixture *f)
{
    if (!f->collector_started)
        return;
    atomic_store(&f->stop, true);
    assert_int_equal(pthread_join(f->collector, NULL), 0);
    f->collector_started = false;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    /* A test that failed early leaves the collector's thread on the
     * router that is about to close. */
    stop_collector(f);
    if (f->up != NULL) {
        uplink_destroy(&f->up);
        uv_run(&f->loop, UV_RUN_DEFAULT);
    }
    assert_int_equal(uv_loop_close(&f->loop), 0);
    zmq_close(f->router);
    zmq_ctx_term(f->ctx);
    spool_close(&f->spool);
    log_destroy(&f->log);
    const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
    char p[160];
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* What the daemon's on_config does first: tell the uplink which version
 * it runs now, through the handle uplink_create returned. */
static void on_config(const struct wire_config *c, void *arg)
{
    struct fixture *f = arg;
    f->configs++;
    f->handle_held = f->up != NULL;
    snprintf(f->version, sizeof(f->version), "%s", c->version ? c->version : "");
    if (f->up != NULL)
        uplink_set_config_version(f->up, c->version);
}

static struct uplink *create(struct fixture *f)
{
    const char *endpoints[] = {f->endpoint};
    struct uplink_params p = {.loop = &f->loop,
                              .log = f->log,
                              .spool = f->spool,
                              .name = "branch-1",
                              .endpoints = endpoints,
                              .nendpoints = 1,
                              .plaintext = true,
                              .on_config = on_config,
                              .arg = f};
    char err[ERR_MAX];
    struct uplink *u = uplink_create(&p, err, sizeof(err));
    if (u == NULL)
        fail_msg("uplink_create: %s", err);
    return u;
}

/* One message from the agent within ms, with the routing id it came
 * with; NULL when none came. What fails here is counted in f->broken, not
 * asserted: the collector's thread calls it, and cmocka's failures jump
 * within the test's own thread only. */
static struct wire_msg *router_recv(struct fixture *f, long ms, zmq_msg_t *id)
{
    zmq_pollitem_t it = {.socket = f->router, .events = ZMQ_POLLIN};
    if (zmq_poll(&it, 1, ms) <= 0)
        return NULL;
    zmq_msg_t body;
    zmq_msg_init(id);
    zmq_msg_init(&body);
    struct wire_msg *m = NULL;
    if (zmq_msg_recv(id, f->router, 0) >= 0 && zmq_msg_recv(&body, f->router, 0) >= 0) {
        char err[ERR_MAX];
        m = wire_msg_decode(zmq_msg_data(&body), zmq_msg_size(&body), err, sizeof(err));
        if (m == NULL)
            fprintf(stderr, "the agent sent what does not decode: %s\n", err);
    }
    zmq_msg_close(&body);
    if (m == NULL) {
        zmq_msg_close(id);
        atomic_fetch_add(&f->broken, 1);
    }
    return m;
}

static void router_send(struct fixture *f, zmq_msg_t *id, const struct wire_msg *m)
{
    uint8_t *buf;
    size_t len;
    if (wire_msg_encode(m, &buf, &len) != 0) {
        atomic_fetch_add(&f->broken, 1);
        return;
    }
    /* Sending a message empties it, and the id serves every answer. */
    size_t idlen = zmq_msg_size(id);
    if (__real_zmq_send(f->router, zmq_msg_data(id), idlen, ZMQ_SNDMORE) != (int)idlen ||
        __real_zmq_send(f->router, buf, len, 0) != (int)len)
        atomic_fetch_add(&f->broken, 1);
    free(buf);
}

/* The collector: answers the first hello at once with an ack naming the
 * agent and its targets, as collector/serve.c does. */
static void *collector_main(void *arg)
{
    struct fixture *f = arg;
    while (!atomic_load(&f->stop)) {
        zmq_msg_t id;
        struct wire_msg *m = router_recv(f, 10, &id);
        if (m == NULL)
            continue;
        if (m->kind == WIRE_HELLO && atomic_load(&f->answered) == 0) {
            struct wire_msg ack = {.kind = WIRE_ACK, .u.ack = {.seq = 0, .name = "branch-1"}};
            router_send(f, &id, &ack);
            struct wire_msg config = {.kind = WIRE_CONFIG, .u.config = {.version = "v7"}};
            router_send(f, &id, &config);
            atomic_store(&f->answered, 1);
        }
        wire_msg_free(&m);
        zmq_msg_close(&id);
    }
    return NULL;
}

/* Runs the agent's loop and the collector's socket side by side until a
 * message arrives from the agent (returned) or WAIT_MS pass (NULL). */
static struct wire_msg *run_until_message(struct fixture *f, zmq_msg_t *id)
{
    uint64_t end = clock_mono_us() + WAIT_MS * 1000ULL;
    while (clock_mono_us() < end) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        struct wire_msg *m = router_recv(f, 10, id);
        if (m != NULL)
            return m;
    }
    return NULL;
}

static void run_until_config(struct fixture *f)
{
    uint64_t end = clock_mono_us() + WAIT_MS * 1000ULL;
    while (f->configs == 0 && clock_mono_us() < end) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        usleep(2000);
    }
}

static void test_no_hello_before_the_loop_runs(void **state)
{
    struct fixture *f = *state;
    f->up = create(f);
    /* Whatever uplink_create sent would reach the collector now: it was
     * connected before returning (the stall), and ZeroMQ's own threads
     * deliver without the agent's loop. */
    zmq_msg_t id;
    struct wire_msg *early = router_recv(f, 500, &id);
    if (early != NULL) {
        const char *kind = wire_kind_name(early->kind);
        wire_msg_free(&early);
        zmq_msg_close(&id);
        fail_msg("uplink_create sent a %s before returning: an answer to it could reach "
                 "on_config before the caller holds the uplink",
                 kind);
    }
    struct wire_msg *hello = run_until_message(f, &id);
    assert_non_null(hello);
    assert_int_equal(hello->kind, WIRE_HELLO);
    assert_string_equal(hello->u.hello.name, "branch-1");
    assert_int_equal(f->configs, 0);
    assert_int_equal(atomic_load(&f->broken), 0);
    wire_msg_free(&hello);
    zmq_msg_close(&id);
}

static void test_answer_reaches_the_daemon_after_create(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(pthread_create(&f->collector, NULL, collector_main, f), 0);
    f->collector_started = true;
    f->up = create(f);
    run_until_config(f);
    stop_collector(f);
    assert_int_equal(atomic_load(&f->broken), 0);
    assert_int_equal(atomic_load(&f->answered), 1);
    assert_int_equal(f->configs, 1);
    /* Before the fix: on_config ran inside uplink_create, and the
     * daemon's uplink_set_config_version got a NULL uplink. */
    assert_true(f->handle_held);
    assert_string_equal(f->version, "v7");
    assert_true(uplink_connected(f->up));
    assert_string_equal(uplink_endpoint(f->up), f->endpoint);
}

static void test_refuses_a_bad_endpoint_count(void **state)
{
    struct fixture *f = *state;
    struct uplink_params p = {.loop = &f->loop,
                              .spool = f->spool,
                              .name = "branch-1",
                              .endpoints = NULL,
                              .nendpoints = 0,
                              .plaintext = true};
    char err[ERR_MAX] = "";
    assert_null(uplink_create(&p, err, sizeof(err)));
    assert_non_null(strstr(err, "1 to 8 collectors"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_hello_before_the_loop_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answer_reaches_the_daemon_after_create, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_refuses_a_bad_endpoint_count, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
