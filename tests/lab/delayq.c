/*
 * delayq: hold every packet of one NFQUEUE queue for a fixed time, then
 * accept it. It stands in for "tc qdisc ... netem delay", which this kernel
 * does not have (no sch_netem): the lab's "latency" fault sends an office
 * router's WAN traffic to a queue with "-j NFQUEUE --queue-bypass" and runs
 * one delayq per queue. Packets keep their order because the delay is the
 * same for all of them, so a FIFO is enough.
 *
 * Usage: delayq QUEUE_NUM DELAY_MS
 *
 * Built by tests/lab/lab with cc into the lab's run directory; it is not
 * part of Vantage. Needs libnetfilter-queue-dev.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

/* Packets waiting at most: a lab office sends a few hundred packets a
 * second at most, so 64k covers several seconds of delay with room left;
 * beyond it the kernel's fail-open flag lets packets through undelayed. */
#define DELAYQ_MAX_PENDING 65536
/* One netlink message carries one packet's metadata (NFQNL_COPY_META), far
 * below this; the kernel may batch several into one read. */
#define DELAYQ_RECV_BUF     65536
#define DELAYQ_MAX_DELAY_MS 60000

struct delayq_entry {
    uint32_t id;    /* packet id the verdict names */
    int64_t due_ms; /* monotonic time at which to accept it */
};

struct delayq {
    struct nfq_q_handle *qh;
    struct delayq_entry *ring; /* FIFO of DELAYQ_MAX_PENDING entries */
    size_t head;               /* next entry to release */
    size_t count;              /* entries waiting */
    int64_t delay_ms;
};

static volatile sig_atomic_t delayq_stop;

static void delayq_on_signal(int sig)
{
    (void)sig;
    delayq_stop = 1;
}

static int64_t delayq_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int delayq_on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa,
                            void *data)
{
    struct delayq *dq = data;
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
    (void)msg;
    if (ph == NULL) {
        return 0;
    }
    uint32_t id = ntohl(ph->packet_id);
    if (dq->count == DELAYQ_MAX_PENDING) {
        /* Full: let this one through now rather than stall the office. */
        return nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
    }
    size_t tail = (dq->head + dq->count) % DELAYQ_MAX_PENDING;
    dq->ring[tail].id = id;
    dq->ring[tail].due_ms = delayq_now_ms() + dq->delay_ms;
    dq->count++;
    return 0;
}

/* Accepts every packet that is due (all of them when flush is set, so that
 * stopping delayq never drops what it holds). */
static void delayq_release(struct delayq *dq, int flush)
{
    int64_t now = delayq_now_ms();
    while (dq->count > 0 && (flush || dq->ring[dq->head].due_ms <= now)) {
        nfq_set_verdict(dq->qh, dq->ring[dq->head].id, NF_ACCEPT, 0, NULL);
        dq->head = (dq->head + 1) % DELAYQ_MAX_PENDING;
        dq->count--;
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: delayq QUEUE_NUM DELAY_MS\n");
        return 2;
    }
    char *end = NULL;
    long qnum = strtol(argv[1], &end, 10);
    if (*end != '\0' || qnum < 0 || qnum > 65535) {
        fprintf(stderr, "delayq: bad queue number '%s' (0-65535)\n", argv[1]);
        return 2;
    }
    long delay = strtol(argv[2], &end, 10);
    if (*end != '\0' || delay < 0 || delay > DELAYQ_MAX_DELAY_MS) {
        fprintf(stderr, "delayq: bad delay '%s' (0-%d ms)\n", argv[2], DELAYQ_MAX_DELAY_MS);
        return 2;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = delayq_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    struct delayq dq = {.delay_ms = delay};
    dq.ring = calloc(DELAYQ_MAX_PENDING, sizeof(*dq.ring));
    static char buf[DELAYQ_RECV_BUF];
    struct nfq_handle *h = nfq_open();
    if (dq.ring == NULL || h == NULL) {
        fprintf(stderr, "delayq: cannot open nfqueue: %s\n", strerror(errno));
        return 1;
    }
    dq.qh = nfq_create_queue(h, (uint16_t)qnum, delayq_on_packet, &dq);
    if (dq.qh == NULL || nfq_set_mode(dq.qh, NFQNL_COPY_META, 0) < 0) {
        fprintf(stderr, "delayq: cannot bind queue %ld: %s\n", qnum, strerror(errno));
        return 1;
    }
    nfq_set_queue_maxlen(dq.qh, DELAYQ_MAX_PENDING);
    nfq_set_queue_flags(dq.qh, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN);

    int fd = nfq_fd(h);
    while (!delayq_stop) {
        int timeout = -1;
        if (dq.count > 0) {
            int64_t wait = dq.ring[dq.head].due_ms - delayq_now_ms();
            timeout = wait < 0 ? 0 : (int)wait;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int n = poll(&pfd, 1, timeout);
        if (n < 0 && errno != EINTR) {
            break;
        }
        if (n > 0) {
            ssize_t len = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
            if (len > 0) {
                nfq_handle_packet(h, buf, (int)len);
            } else if (len < 0 && errno == ENOBUFS) {
                /* The kernel dropped messages; keep going with the rest. */
            }
        }
        delayq_release(&dq, 0);
    }
    delayq_release(&dq, 1);
    nfq_destroy_queue(dq.qh);
    nfq_close(h);
    free(dq.ring);
    return 0;
}
