/*
 * probe_tcp — tcp://host:port, the TCP handshake and nothing else, and
 * tls://host:port, the same connection followed by the TLS handshake and
 * the certificate checks (trust, validity, hostname) with the TLS facts.
 * The two differ only in where the probe ends.
 */
#include "probe_impl.h"

#include <stdio.h>
#include <stdlib.h>

#define ERR_MAX 256

static void closed(void *arg)
{
    probe_finish(arg);
}

static void on_conn(struct conn *c, enum conn_event ev, void *arg)
{
    struct probe *p = arg;
    bool want_tls = p->spec.kind == SPEC_TLS;
    switch (ev) {
    case CONN_EV_CONNECTED:
        if (want_tls) {
            char err[ERR_MAX];
            if (conn_tls_start(c, err, sizeof(err)) == 0)
                return;
            result_fail(&p->result, RESULT_INTERNAL, "%s", err);
            break;
        }
        result_fail(&p->result, RESULT_OK, NULL);
        break;
    case CONN_EV_TLS_READY:
        if (!want_tls)
            return; /* not asked for */
        result_fail(&p->result, RESULT_OK, NULL);
        break;
    case CONN_EV_FAILED:
        result_fail(&p->result, conn_error(c), "%s", conn_error_detail(c));
        break;
    case CONN_EV_LINE:
    case CONN_EV_EOF:
    case CONN_EV_LINE_TOO_LONG:
    case CONN_EV_TIMEOUT:
        /* Not asked for; the probe ends at CONNECTED or TLS_READY. */
        return;
    case CONN_EV_LAST:
    default:
        abort();
    }
    struct conn *mine = p->kind;
    p->kind = NULL;
    conn_destroy(&mine, closed, p);
}

static int tcp_start(struct probe *p)
{
    char err[ERR_MAX];
    struct conn_params cp = {
        .loop = p->loop,
        .addrs = p->addrs,
        .naddrs = p->naddrs,
        .port = p->spec.port,
        .servername = p->spec.host,
        .deadline_us = p->deadline_us,
        .result = &p->result,
        .tls = p->spec.kind == SPEC_TLS ? p->tls : NULL,
    };
    struct conn *c = conn_create(&cp, on_conn, p, err, sizeof(err));
    if (c == NULL) {
        result_fail(&p->result, RESULT_INTERNAL, "%s", err);
        return -1;
    }
    p->kind = c;
    if (conn_connect(c, err, sizeof(err)) < 0) {
        result_fail(&p->result, RESULT_INTERNAL, "%s", err);
        p->kind = NULL;
        conn_destroy(&c, closed, p);
        return 0; /* closed() finishes the probe */
    }
    return 0;
}

static void tcp_abort(struct probe *p, enum probe_abort why)
{
    struct conn *c = p->kind;
    if (c == NULL)
        return; /* already closing: closed() finishes the probe */
    probe_classify_abort(p, c, why);
    p->kind = NULL;
    conn_destroy(&c, closed, p);
}

const struct probe_ops probe_tcp_ops = {
    .name = "tcp",
    .needs_addresses = true,
    .abort_grace = true,
    .start = tcp_start,
    .abort = tcp_abort,
};

const struct probe_ops probe_tls_ops = {
    .name = "tls",
    .needs_addresses = true,
    .abort_grace = true,
    .start = tcp_start,
    .abort = tcp_abort,
};
