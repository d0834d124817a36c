/*
 * resolver — DNS queries for probes: c-ares driven by the agent's libuv loop
 * (sock_state_cb -> uv_poll, ares_timeout -> uv_timer, ares_process_fd).
 *
 * One resolver serves every probe of an engine. A query returns what the
 * probe result keeps (struct result_dns): the rcode, the answers sorted in
 * presentation form, the smallest TTL, and the "ip:port" of the resolver
 * that answered; CNAME hops met on the way come back as extra CNAME
 * records. Failures are classified into dns_nxdomain, dns_nodata,
 * dns_servfail, dns_refused and dns_timeout.
 *
 * Queries never use the search list: names are taken as fully qualified,
 * as a mail client's configured server name is.
 */
#ifndef VANTAGE_RESOLVER_H
#define VANTAGE_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "result.h"

struct resolver;
struct resolver_query;

/* CNAME hops reported per query; resolvers give up on chains around 8-16
 * hops, and longer chains are a misconfiguration the first hops show. */
#define RESOLVER_CHAIN_MAX 8

/* Per-try timeout and tries: 1 s, then 2 s, then 4 s (c-ares doubles the
 * timeout per round), close to glibc's default of 5 s x 2 while giving a
 * lost UDP packet a quick second chance. The probe's deadline cuts it. */
#define RESOLVER_TIMEOUT_MS 1000
#define RESOLVER_TRIES      3

struct resolver_reply {
    enum result_error error;    /* RESULT_OK or a dns_* code */
    const char *detail;         /* human-readable; "" when ok */
    struct result_dns *records; /* [0] is the query itself, then one CNAME
                                   record per alias hop; see resolver_reply_move */
    size_t nrecords;
    const struct sockaddr_storage *addrs; /* A/AAAA answers in sorted order, port 0 */
    size_t naddrs;
};

/* Called once per query that was not cancelled, on the loop. The reply and
 * what it points to live until the callback returns. */
typedef void (*resolver_cb)(struct resolver_reply *rep, void *arg);

/* Creates a resolver on loop. server is "ip", "ip:port", "[ipv6]:port" or
 * NULL for the servers of /etc/resolv.conf. NULL on failure with err set. */
struct resolver *resolver_create(uv_loop_t *loop, const char *server, char *err, size_t errlen);

/* Whether server is in a form resolver_create() takes. 0, or -1 with what
 * to write instead in err. */
int resolver_check_server(const char *server, char *err, size_t errlen);

/* Fills *ss (port 0) when host is an IPv4 or IPv6 literal, which needs no
 * lookup. 0, or -1 when host is a name. */
int resolver_literal_address(const char *host, struct sockaddr_storage *ss);

/* Stops every query (their callbacks never run: cancel them first if a
 * caller holds resolver_query pointers) and frees the resolver once its
 * handles are closed. Ignores NULL; sets *rp to NULL. */
void resolver_destroy(struct resolver **rp);

/* Starts one query of type qtype (ns_t_a, ns_t_mx, ... from
 * arpa/nameser.h). On 0, cb runs exactly once later (unless cancelled) and
 * *qp (may be NULL) is a handle valid until then. On -1, err says why and
 * cb never runs. */
int resolver_query(struct resolver *r, const char *name, int qtype, resolver_cb cb, void *arg,
                   struct resolver_query **qp, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Forgets a query: its callback will not run. Ignores NULL; sets *qp NULL. */
void resolver_cancel(struct resolver_query **qp);

/* Moves the reply's records into r->dns (the reply keeps empty ones).
 * Returns 0, or -1 when r's list is full or out of memory. */
int resolver_reply_move(struct resolver_reply *rep, struct result *r);

/* "A" -> ns_t_a, ...; -1 for types probes do not query. Case-insensitive. */
int resolver_type_parse(const char *name);

/* ns_t_a -> "A", ...; NULL for others. */
const char *resolver_type_name(int qtype);

/* "NOERROR", "NXDOMAIN", ...; "RCODE<n>" form for the rest into buf. */
const char *resolver_rcode_name(int rcode, char *buf, size_t len);

/* The classification of a DNS rcode with ancount answers of the asked type:
 * NOERROR+answers -> ok, NOERROR without -> dns_nodata, ... */
enum result_error resolver_classify_rcode(int rcode, size_t nanswers);

/* Orders two answers of qtype in presentation form: addresses by value,
 * MX by preference then host, SRV by priority, weight, port, target, the
 * rest as text. Negative, zero or positive like strcmp. */
int resolver_answer_cmp(int qtype, const char *a, const char *b);

/* Sorts a list of answers with resolver_answer_cmp. */
void resolver_sort_answers(int qtype, char **answers, size_t n);

#endif
