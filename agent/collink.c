/*
 * collink — a watched DEALER and its monitor (collink.h).
 */
#include "collink.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "linkstate.h"

struct collink {
    void *sock;
    void *monitor;
    char *endpoint;
    uv_poll_t poll;     /* ZMQ_FD of sock */
    uv_poll_t mon_poll; /* ZMQ_FD of monitor */
    int closing;        /* handles still to close */
    collink_event_cb on_event;
    void *arg;
    void (*on_closed)(void *arg);
    void *closed_arg;
};

static void on_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    struct collink *l = h->data;
    l->on_event(l, false, l->arg);
}

static void on_mon_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    struct collink *l = h->data;
    l->on_event(l, true, l->arg);
}

static void free_sockets(struct collink *l)
{
    transport_close(&l->monitor);
    transport_close(&l->sock);
    free(l->endpoint);
    free(l);
}

struct collink *collink_open(const struct collink_params *p, char *err, size_t errlen)
{
    struct collink *l = calloc(1, sizeof(*l));
    if (l == NULL || (l->endpoint = strdup(p->endpoint)) == NULL) {
        free(l);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->on_event = p->on_event;
    l->arg = p->arg;
    struct transport_opts o = {.endpoint = p->endpoint,
                               .plaintext = p->plaintext,
                               .keys = p->keys,
                               .server_key = p->server_key};
    l->sock = transport_client_create(p->ctx, &o, err, errlen);
    if (l->sock == NULL) {
        free_sockets(l);
        return NULL;
    }
    /* A serial, not an address: an inproc name stays bound until libzmq
     * has reaped the old monitor, so it must never be reused. */
    char mon_ep[64];
    snprintf(mon_ep, sizeof(mon_ep), "inproc://collink-monitor-%u", p->serial);
    int fd, mon_fd;
    size_t fdlen = sizeof(fd);
    if (zmq_socket_monitor(l->sock, mon_ep, LINKSTATE_EVENTS) != 0 ||
        (l->monitor = zmq_socket(p->ctx, ZMQ_PAIR)) == NULL ||
        zmq_connect(l->monitor, mon_ep) != 0 || zmq_getsockopt(l->sock, ZMQ_FD, &fd, &fdlen) != 0 ||
        zmq_getsockopt(l->monitor, ZMQ_FD, &mon_fd, &fdlen) != 0) {
        snprintf(err, errlen, "cannot watch the connection to %s: %s", p->endpoint,
                 zmq_strerror(errno));
        free_sockets(l);
        return NULL;
    }
    uv_poll_init(p->loop, &l->poll, fd);
    l->poll.data = l;
    uv_poll_start(&l->poll, UV_READABLE, on_poll);
    uv_poll_init(p->loop, &l->mon_poll, mon_fd);
    l->mon_poll.data = l;
    uv_poll_start(&l->mon_poll, UV_READABLE, on_mon_poll);
    return l;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct collink *l = h->data;
    if (--l->closing > 0)
        return;
    void (*cb)(void *) = l->on_closed;
    void *arg = l->closed_arg;
    free_sockets(l);
    if (cb != NULL)
        cb(arg);
}

void collink_close(struct collink **lp, void (*on_closed)(void *arg), void *arg)
{
    if (lp == NULL || *lp == NULL)
        return;
    struct collink *l = *lp;
    *lp = NULL;
    l->on_closed = on_closed;
    l->closed_arg = arg;
    l->closing = 2;
    uv_close((uv_handle_t *)&l->poll, on_handle_closed);
    uv_close((uv_handle_t *)&l->mon_poll, on_handle_closed);
}

void *collink_socket(const struct collink *l)
{
    return l->sock;
}

void *collink_monitor(const struct collink *l)
{
    return l->monitor;
}

const char *collink_endpoint(const struct collink *l)
{
    return l->endpoint;
}
