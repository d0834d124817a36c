/*
 * resolver — c-ares on the libuv loop, answers parsed into result_dns
 * (see resolver.h).
 *
 * c-ares reports which sockets it wants watched through sock_state_cb; each
 * becomes a uv_poll handle, and one uv_timer follows ares_timeout(). The
 * raw answer is parsed by dns_answer.c. Model: curl lib/vdns/asyn-ares.c
 * and lib/asyn-base.c.
 */
#include "resolver.h"

#include "dns_answer.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <unistd.h>

#define DNS_RCODE_NAME_MAX 16

_Static_assert(DNS_ANSWER_CHAIN_MAX <= RESOLVER_CHAIN_MAX, "a reply has room for every CNAME hop");
/* A query name (at most 255) plus a sentence about it. */
#define DETAIL_MAX 512
/* The parser's own complaint, inserted into a detail. */
#define PARSE_ERR_MAX 64

struct resolver_poll {
    struct resolver *res;
    uv_poll_t poll;
    ares_socket_t fd;
    struct resolver_poll *next;
};

struct resolver {
    uv_loop_t *loop;
    ares_channel channel;
    bool channel_ok;
    uv_timer_t timer;
    struct resolver_poll *polls; /* sockets c-ares asked us to watch */
    unsigned open_handles;
    bool closing;
    bool destroyed; /* ares_destroy done, handles closing */
    unsigned busy;  /* inside ares_process_fd: destroying must wait */
    /* The source of the last datagram or stream read by c-ares: query
     * callbacks run synchronously right after that read, so this is the
     * resolver that answered. */
    char last_from[INET6_ADDRSTRLEN + 8];
    char first_server[INET6_ADDRSTRLEN + 8]; /* named when nobody answered */
    struct ares_socket_functions sockfns;
    /* Queries c-ares failed inside ares_query() for a network reason (a
     * local firewall rejecting the send): answered from the timer, so that
     * the failure is the probe's data and the callback never runs inside
     * resolver_query(). */
    struct resolver_query *deferred;
};

struct resolver_query {
    struct resolver *res;
    resolver_cb cb;
    void *arg;
    bool cancelled;
    bool starting;  /* inside ares_query(): an answer now must not reach cb */
    bool sync_done; /* c-ares failed it before sending */
    int sync_status;
    struct resolver_query *next_deferred;
    int qtype;
    char name[RESULT_NAME_MAX + 1];
};

static void reschedule(struct resolver *r);

/* ---- names and classification ------------------------------------------ */

static const struct {
    const char *name;
    int type;
} type_table[] = {
    {"A", ns_t_a},     {"AAAA", ns_t_aaaa},   {"MX", ns_t_mx},
    {"SRV", ns_t_srv}, {"CNAME", ns_t_cname}, {"TXT", ns_t_txt},
};

int resolver_type_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(type_table) / sizeof(type_table[0]); i++)
        if (strcasecmp(name, type_table[i].name) == 0)
            return type_table[i].type;
    return -1;
}

const char *resolver_type_name(int qtype)
{
    for (size_t i = 0; i < sizeof(type_table) / sizeof(type_table[0]); i++)
        if (type_table[i].type == qtype)
            return type_table[i].name;
    return NULL;
}

const char *resolver_rcode_name(int rcode, char *buf, size_t len)
{
    static const char *const names[] = {"NOERROR",  "FORMERR", "SERVFAIL",
                                        "NXDOMAIN", "NOTIMP",  "REFUSED"};
    if (rcode >= 0 && (size_t)rcode < sizeof(names) / sizeof(names[0]))
        return names[rcode];
    snprintf(buf, len, "RCODE%d", rcode);
    return buf;
}

enum result_error resolver_classify_rcode(int rcode, size_t nanswers)
{
    switch (rcode) {
    case ns_r_noerror:
        return nanswers > 0 ? RESULT_OK : RESULT_DNS_NODATA;
    case ns_r_nxdomain:
        return RESULT_DNS_NXDOMAIN;
    case ns_r_refused:
        return RESULT_DNS_REFUSED;
    default:
        /* SERVFAIL, and FORMERR/NOTIMP which also mean "this resolver
         * cannot answer this question". */
        return RESULT_DNS_SERVFAIL;
    }
}

/* Leading unsigned numbers of "10 mail.example.com" / "0 5 993 host". */
static const char *skip_numbers(const char *s, unsigned long *vals, int n)
{
    for (int i = 0; i < n; i++) {
        char *end;
        vals[i] = strtoul(s, &end, 10);
        s = end;
        while (*s == ' ')
            s++;
    }
    return s;
}

int resolver_answer_cmp(int qtype, const char *a, const char *b)
{
    switch (qtype) {
    case ns_t_a:
    case ns_t_aaaa: {
        unsigned char x[16] = {0}, y[16] = {0};
        int fam = qtype == ns_t_a ? AF_INET : AF_INET6;
        int okx = inet_pton(fam, a, x) == 1, oky = inet_pton(fam, b, y) == 1;
        if (okx && oky)
            return memcmp(x, y, sizeof(x));
        return strcmp(a, b);
    }
    case ns_t_mx:
    case ns_t_srv: {
        int n = qtype == ns_t_mx ? 1 : 3;
        unsigned long va[3] = {0}, vb[3] = {0};
        const char *ra = skip_numbers(a, va, n);
        const char *rb = skip_numbers(b, vb, n);
        for (int i = 0; i < n; i++)
            if (va[i] != vb[i])
                return va[i] < vb[i] ? -1 : 1;
        return strcasecmp(ra, rb);
    }
    default:
        return strcmp(a, b);
    }
}

void resolver_sort_answers(int qtype, char **answers, size_t n)
{
    /* Insertion sort: lists hold at most RESULT_LIST_MAX answers, and the
     * comparison needs the type, which qsort cannot pass along in C11. */
    for (size_t i = 1; i < n; i++) {
        char *v = answers[i];
        size_t j = i;
        while (j > 0 && resolver_answer_cmp(qtype, answers[j - 1], v) > 0) {
            answers[j] = answers[j - 1];
            j--;
        }
        answers[j] = v;
    }
}

/* ---- socket functions: remember who answered ----------------------------- */

static void note_from(struct resolver *r, const struct sockaddr *sa)
{
    char ip[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        snprintf(r->last_from, sizeof(r->last_from), "%s:%u", ip, ntohs(s4->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        snprintf(r->last_from, sizeof(r->last_from), "[%s]:%u", ip, ntohs(s6->sin6_port));
    }
}

static ares_socket_t sock_open(int domain, int type, int protocol, void *data)
{
    (void)data;
    return socket(domain, type, protocol);
}

static int sock_close(ares_socket_t fd, void *data)
{
    (void)data;
    return close(fd);
}

static int sock_connect(ares_socket_t fd, const struct sockaddr *sa, ares_socklen_t len, void *data)
{
    (void)data;
    return connect(fd, sa, len);
}

static ares_ssize_t sock_recvfrom(ares_socket_t fd, void *buf, size_t len, int flags,
                                  struct sockaddr *from, ares_socklen_t *fromlen, void *data)
{
    struct resolver *r = data;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    ssize_t n = recvfrom(fd, buf, len, flags, (struct sockaddr *)&ss, &sl);
    if (n < 0)
        return n;
    /* TCP reads carry no source address: ask the socket. */
    if (sl == 0 || ss.ss_family == AF_UNSPEC) {
        sl = sizeof(ss);
        if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
            sl = 0;
    }
    if (sl > 0)
        note_from(r, (struct sockaddr *)&ss);
    if (from != NULL && fromlen != NULL) {
        socklen_t copy = sl < *fromlen ? sl : *fromlen;
        memcpy(from, &ss, copy);
        *fromlen = sl;
    }
    return n;
}

static ares_ssize_t sock_sendv(ares_socket_t fd, const struct iovec *iov, int iovcnt, void *data)
{
    (void)data;
    return writev(fd, iov, iovcnt);
}

/* ---- loop integration ------------------------------------------------- */

static void handle_closed(struct resolver *r)
{
    assert(r->open_handles > 0);
    if (--r->open_handles == 0 && r->closing) {
        ares_library_cleanup();
        free(r);
    }
}

static void on_poll_closed(uv_handle_t *h)
{
    struct resolver_poll *rp = h->data;
    struct resolver *r = rp->res;
    free(rp);
    handle_closed(r);
}

static void on_timer_closed(uv_handle_t *h)
{
    handle_closed(h->data);
}

static void destroy_now(struct resolver *r);

/* Query callbacks run inside ares_process_fd and may destroy the resolver;
 * c-ares must not see its channel vanish under it, so that waits. */
static void process(struct resolver *r, ares_socket_t rfd, ares_socket_t wfd)
{
    r->busy++;
    ares_process_fd(r->channel, rfd, wfd);
    r->busy--;
    if (r->closing) {
        if (r->busy == 0 && !r->destroyed)
            destroy_now(r);
        return;
    }
    reschedule(r);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct resolver_poll *rp = h->data;
    struct resolver *r = rp->res;
    ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;
    /* On an error let c-ares try both directions: it reads the error and
     * fails the query over to the next server or try. */
    if (status < 0 || (events & UV_READABLE))
        rfd = rp->fd;
    if (status < 0 || (events & UV_WRITABLE))
        wfd = rp->fd;
    process(r, rfd, wfd);
}

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen);

static void on_timer(uv_timer_t *t)
{
    struct resolver *r = t->data;
    r->busy++;
    while (r->deferred != NULL && !r->closing) {
        struct resolver_query *q = r->deferred;
        r->deferred = q->next_deferred;
        on_answer(q, q->sync_status, 0, NULL, 0);
    }
    r->busy--;
    /* Processing with no fd runs c-ares' timeout handling: retries go out
     * and expired queries fail with ARES_ETIMEOUT. */
    process(r, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

static void reschedule(struct resolver *r)
{
    struct timeval tv, *tvp;
    if (r->closing)
        return;
    if (r->deferred != NULL) {
        uv_timer_start(&r->timer, on_timer, 0, 0);
        return;
    }
    tvp = ares_timeout(r->channel, NULL, &tv);
    if (tvp == NULL) {
        uv_timer_stop(&r->timer);
        return;
    }
    uint64_t ms = (uint64_t)tvp->tv_sec * 1000 + ((uint64_t)tvp->tv_usec + 999) / 1000;
    uv_timer_start(&r->timer, on_timer, ms, 0);
}

static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
    struct resolver *r = data;
    struct resolver_poll **pp = &r->polls, *rp;
    while (*pp != NULL && (*pp)->fd != fd)
        pp = &(*pp)->next;
    rp = *pp;
    if (!readable && !writable) {
        if (rp == NULL)
            return;
        /* c-ares closes the fd right after this call: stop watching now. */
        *pp = rp->next;
        uv_poll_stop(&rp->poll);
        uv_close((uv_handle_t *)&rp->poll, on_poll_closed);
        return;
    }
    if (rp == NULL) {
        rp = calloc(1, sizeof(*rp));
        if (rp == NULL)
            return; /* the query times out; nothing better to do without memory */
        rp->res = r;
        rp->fd = fd;
        if (uv_poll_init_socket(r->loop, &rp->poll, fd) < 0) {
            free(rp);
            return;
        }
        rp->poll.data = rp;
        r->open_handles++;
        rp->next = r->polls;
        r->polls = rp;
    }
    uv_poll_start(&rp->poll, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0), on_poll);
}

/* ---- create / destroy --------------------------------------------------- */

/* Parses "ip", "ip:port", "[ipv6]:port" or "ipv6" into node. */
static int parse_server(const char *s, struct ares_addr_port_node *node, char *err, size_t errlen)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *port = NULL;
    size_t hlen;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL)
            goto bad;
        hlen = (size_t)(end - s - 1);
        if (hlen >= sizeof(host))
            goto bad;
        memcpy(host, s + 1, hlen);
        host[hlen] = '\0';
        if (end[1] == ':')
            port = end + 2;
        else if (end[1] != '\0')
            goto bad;
    } else {
        const char *colon = strchr(s, ':');
        if (colon != NULL && strchr(colon + 1, ':') == NULL) {
            hlen = (size_t)(colon - s);
            port = colon + 1;
        } else {
            hlen = strlen(s);
        }
        if (hlen >= sizeof(host))
            goto bad;
        memcpy(host, s, hlen);
        host[hlen] = '\0';
    }
    memset(node, 0, sizeof(*node));
    if (inet_pton(AF_INET, host, &node->addr.addr4) == 1)
        node->family = AF_INET;
    else if (inet_pton(AF_INET6, host, &node->addr.addr6) == 1)
        node->family = AF_INET6;
    else
        goto bad;
    node->udp_port = node->tcp_port = 53;
    if (port != NULL) {
        char *end;
        unsigned long v = strtoul(port, &end, 10);
        if (*port == '\0' || *end != '\0' || v == 0 || v > 65535)
            goto bad;
        node->udp_port = node->tcp_port = (int)v;
    }
    return 0;
bad:
    snprintf(err, errlen,
             "resolver \"%s\" is not an address: use IP, IP:PORT or [IPv6]:PORT "
             "(e.g. 127.0.0.1:5353)",
             s);
    return -1;
}

int resolver_literal_address(const char *host, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        return 0;
    }
    return -1;
}

int resolver_check_server(const char *server, char *err, size_t errlen)
{
    struct ares_addr_port_node node;
    return parse_server(server, &node, err, errlen);
}

struct resolver *resolver_create(uv_loop_t *loop, const char *server, char *err, size_t errlen)
{
    struct ares_addr_port_node node;
    struct ares_options opts;
    int rc;
    if (server != NULL && parse_server(server, &node, err, errlen) < 0)
        return NULL;
    struct resolver *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->loop = loop;
    if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
        snprintf(err, errlen, "cannot initialise c-ares: %s", ares_strerror(rc));
        free(r);
        return NULL;
    }
    memset(&opts, 0, sizeof(opts));
    /* NOCHECKRESP: hand SERVFAIL and REFUSED to us instead of retrying
     * them, so the result says what the resolver answered. */
    opts.flags = ARES_FLAG_NOCHECKRESP | ARES_FLAG_NOSEARCH;
    opts.timeout = RESOLVER_TIMEOUT_MS;
    opts.tries = RESOLVER_TRIES;
    opts.sock_state_cb = sock_state_cb;
    opts.sock_state_cb_data = r;
    rc = ares_init_options(&r->channel, &opts,
                           ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
                               ARES_OPT_SOCK_STATE_CB);
    if (rc != ARES_SUCCESS) {
        snprintf(err, errlen, "cannot set up the DNS resolver: %s (check /etc/resolv.conf)",
                 ares_strerror(rc));
        ares_library_cleanup();
        free(r);
        return NULL;
    }
    r->channel_ok = true;
    if (server != NULL && (rc = ares_set_servers_ports(r->channel, &node)) != ARES_SUCCESS) {
        snprintf(err, errlen, "cannot use resolver %s: %s", server, ares_strerror(rc));
        ares_destroy(r->channel);
        ares_library_cleanup();
        free(r);
        return NULL;
    }
    r->sockfns.asocket = sock_open;
    r->sockfns.aclose = sock_close;
    r->sockfns.aconnect = sock_connect;
    r->sockfns.arecvfrom = sock_recvfrom;
    r->sockfns.asendv = sock_sendv;
    ares_set_socket_functions(r->channel, &r->sockfns, r);
    struct ares_addr_port_node *servers = NULL;
    if (ares_get_servers_ports(r->channel, &servers) == ARES_SUCCESS && servers != NULL) {
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof(ss));
        if (servers->family == AF_INET) {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            s4->sin_family = AF_INET;
            s4->sin_addr = servers->addr.addr4;
            s4->sin_port = htons((uint16_t)(servers->udp_port ? servers->udp_port : 53));
        } else {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            s6->sin6_family = AF_INET6;
            memcpy(&s6->sin6_addr, &servers->addr.addr6, sizeof(s6->sin6_addr));
            s6->sin6_port = htons((uint16_t)(servers->udp_port ? servers->udp_port : 53));
        }
        note_from(r, (struct sockaddr *)&ss);
        memcpy(r->first_server, r->last_from, sizeof(r->first_server));
        r->last_from[0] = '\0';
    }
    ares_free_data(servers);
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    r->open_handles = 1;
    return r;
}

static void destroy_now(struct resolver *r)
{
    r->destroyed = true;
    while (r->deferred != NULL) { /* like ARES_EDESTRUCTION: freed, no callback */
        struct resolver_query *q = r->deferred;
        r->deferred = q->next_deferred;
        free(q);
    }
    /* Runs outstanding callbacks with ARES_EDESTRUCTION (they only free
     * their query) and reports every socket closed via sock_state_cb. */
    ares_destroy(r->channel);
    while (r->polls != NULL) {
        struct resolver_poll *p = r->polls;
        r->polls = p->next;
        uv_poll_stop(&p->poll);
        uv_close((uv_handle_t *)&p->poll, on_poll_closed);
    }
    uv_close((uv_handle_t *)&r->timer, on_timer_closed);
}

void resolver_destroy(struct resolver **rp)
{
    if (rp == NULL || *rp == NULL)
        return;
    struct resolver *r = *rp;
    *rp = NULL;
    r->closing = true;
    if (r->busy == 0)
        destroy_now(r);
}

/* ---- queries ------------------------------------------------------------- */

static void free_records(struct result_dns *recs, size_t n)
{
    struct result tmp;
    result_init(&tmp);
    tmp.dns = recs;
    tmp.ndns = n;
    result_clear(&tmp); /* frees the records and the array */
}

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct resolver_query *q = arg;
    struct resolver *r = q->res;
    (void)timeouts;
    if (q->starting) {
        q->sync_done = true;
        q->sync_status = status;
        return;
    }
    if (q->cancelled || status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
        free(q);
        return;
    }
    struct dns_answer *ps = calloc(1, sizeof(*ps));
    struct result_dns *recs = calloc(1 + RESOLVER_CHAIN_MAX, sizeof(*recs));
    char detail[DETAIL_MAX] = "";
    char rbuf[DNS_RCODE_NAME_MAX];
    struct resolver_reply rep = {.error = RESULT_OK, .detail = detail};
    if (ps == NULL || recs == NULL) {
        rep.error = RESULT_INTERNAL;
        snprintf(detail, sizeof(detail), "out of memory");
        free(recs);
        recs = NULL;
        goto deliver;
    }
    rep.records = recs;
    rep.nrecords = 1;
    (void)result_set_str(&recs[0].name, q->name);
    (void)result_set_str(&recs[0].type, resolver_type_name(q->qtype));
    bool parsed = false;
    if (abuf != NULL && alen > 0) {
        char perr[PARSE_ERR_MAX];
        if (dns_answer_parse(abuf, (size_t)alen, q->name, q->qtype, ps, perr, sizeof(perr)) == 0) {
            parsed = true;
        } else {
            rep.error = RESULT_DNS_SERVFAIL;
            snprintf(detail, sizeof(detail), "%s %s: %s", q->name, resolver_type_name(q->qtype),
                     perr);
        }
    }
    if (parsed) {
        (void)result_set_str(&recs[0].rcode, resolver_rcode_name(ps->rcode, rbuf, sizeof(rbuf)));
        (void)result_set_str(&recs[0].resolver, r->last_from[0] ? r->last_from : NULL);
        resolver_sort_answers(q->qtype, ps->answers, ps->nanswers);
        recs[0].answers = ps->answers;
        recs[0].nanswers = ps->nanswers;
        ps->answers = NULL;
        ps->nanswers = 0;
        recs[0].ttl = ps->have_ttl ? ps->ttl : ps->have_neg_ttl ? ps->neg_ttl : 0;
        rep.error = resolver_classify_rcode(ps->rcode, recs[0].nanswers);
        for (size_t i = 0; i < ps->nchain; i++) {
            struct result_dns *c = &recs[rep.nrecords++];
            (void)result_set_str(&c->name, ps->chain[i][0]);
            (void)result_set_str(&c->type, "CNAME");
            (void)result_set_str(&c->rcode, "NOERROR");
            (void)result_list_add(&c->answers, &c->nanswers, ps->chain[i][1]);
            c->ttl = ps->chain_ttl[i];
            (void)result_set_str(&c->resolver, recs[0].resolver);
        }
        dns_answer_sort_addrs(ps);
        rep.addrs = ps->addrs;
        rep.naddrs = ps->naddrs;
        if (rep.error != RESULT_OK)
            snprintf(detail, sizeof(detail), "%s %s: %s%s", q->name, resolver_type_name(q->qtype),
                     recs[0].rcode,
                     rep.error == RESULT_DNS_NODATA ? " without records of this type" : "");
        if (rep.error != RESULT_OK && recs[0].resolver != NULL) {
            size_t used = strlen(detail);
            snprintf(detail + used, sizeof(detail) - used, " (from %s)", recs[0].resolver);
        }
    } else if (rep.error == RESULT_OK) {
        if (r->first_server[0])
            (void)result_set_str(&recs[0].resolver, r->first_server);
        switch (status) {
        case ARES_ETIMEOUT:
            rep.error = RESULT_DNS_TIMEOUT;
            snprintf(detail, sizeof(detail), "%s %s: no answer from the resolver", q->name,
                     resolver_type_name(q->qtype));
            break;
        case ARES_ECONNREFUSED:
            /* ICMP "port unreachable": an answer, not silence. Calling it a
             * timeout sent people looking for a firewall that drops. */
            rep.error = RESULT_DNS_REFUSED;
            snprintf(detail, sizeof(detail),
                     "%s %s: the resolver's port is closed (ICMP port unreachable: nothing "
                     "listens there)",
                     q->name, resolver_type_name(q->qtype));
            break;
        case ARES_ENOMEM:
            rep.error = RESULT_INTERNAL;
            snprintf(detail, sizeof(detail), "out of memory");
            break;
        case ARES_ESERVFAIL:
            rep.error = RESULT_DNS_SERVFAIL;
            snprintf(detail, sizeof(detail), "%s %s: SERVFAIL", q->name,
                     resolver_type_name(q->qtype));
            break;
        case ARES_EREFUSED:
            rep.error = RESULT_DNS_REFUSED;
            snprintf(detail, sizeof(detail), "%s %s: REFUSED", q->name,
                     resolver_type_name(q->qtype));
            break;
        case ARES_ENOTFOUND:
            rep.error = RESULT_DNS_NXDOMAIN;
            snprintf(detail, sizeof(detail), "%s %s: NXDOMAIN", q->name,
                     resolver_type_name(q->qtype));
            break;
        case ARES_ENODATA:
            rep.error = RESULT_DNS_NODATA;
            snprintf(detail, sizeof(detail), "%s %s: no records of this type", q->name,
                     resolver_type_name(q->qtype));
            break;
        default:
            rep.error = RESULT_DNS_SERVFAIL;
            snprintf(detail, sizeof(detail), "%s %s: %s", q->name, resolver_type_name(q->qtype),
                     ares_strerror(status));
            break;
        }
    }
deliver:
    q->cb(&rep, q->arg);
    if (recs != NULL)
        free_records(recs, rep.nrecords);
    if (ps != NULL)
        dns_answer_clear(ps);
    free(ps);
    free(q);
}

int resolver_query(struct resolver *r, const char *name, int qtype, resolver_cb cb, void *arg,
                   struct resolver_query **qp, char *err, size_t errlen)
{
    if (resolver_type_name(qtype) == NULL) {
        snprintf(err, errlen, "DNS type %d is not supported (A, AAAA, MX, SRV, CNAME, TXT)", qtype);
        return -1;
    }
    if (strlen(name) > RESULT_NAME_MAX) {
        snprintf(err, errlen, "DNS name too long (%zu > %d)", strlen(name), RESULT_NAME_MAX);
        return -1;
    }
    struct resolver_query *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    q->res = r;
    q->cb = cb;
    q->arg = arg;
    q->qtype = qtype;
    snprintf(q->name, sizeof(q->name), "%s", name);
    if (qp != NULL)
        *qp = q;
    /* ares_query calls on_answer before returning when it fails before
     * sending (a malformed name, no memory): report that as our failure,
     * so the callback never runs from inside this call (STYLE.md §4). */
    q->starting = true;
    ares_query(r->channel, name, ns_c_in, qtype, on_answer, q);
    q->starting = false;
    if (q->sync_done && (q->sync_status == ARES_ECONNREFUSED || q->sync_status == ARES_ETIMEOUT ||
                         q->sync_status == ARES_ESERVFAIL || q->sync_status == ARES_EREFUSED ||
                         q->sync_status == ARES_ENOTFOUND)) {
        q->next_deferred = r->deferred;
        r->deferred = q;
        uv_timer_start(&r->timer, on_timer, 0, 0);
        return 0;
    }
    if (q->sync_done) {
        snprintf(err, errlen, "cannot query %s: %s", name, ares_strerror(q->sync_status));
        free(q);
        if (qp != NULL)
            *qp = NULL;
        return -1;
    }
    reschedule(r);
    return 0;
}

void resolver_cancel(struct resolver_query **qp)
{
    if (qp == NULL || *qp == NULL)
        return;
    (*qp)->cancelled = true;
    *qp = NULL;
}

int resolver_reply_move(struct resolver_reply *rep, struct result *r)
{
    for (size_t i = 0; i < rep->nrecords; i++) {
        struct result_dns *d = result_add_dns(r);
        if (d == NULL)
            return -1;
        *d = rep->records[i];
        memset(&rep->records[i], 0, sizeof(rep->records[i]));
    }
    return 0;
}
