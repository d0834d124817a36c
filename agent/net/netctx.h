/*
 * netctx — the agent's network context: where this vantage point sits.
 *
 * Local addresses, the default gateway and the resolvers tell the collector
 * (and the timeline) when an agent moved to another network: a laptop that
 * changed Wi-Fi, a VPN that came up, a DHCP lease with new resolvers. The
 * agent detects the context at start, sends it in hello, re-detects it
 * periodically and sends a new hello when netctx_equal() says it changed.
 *
 * struct netctx is a plain record of fixed-size arrays: it owns no heap
 * memory, can be copied with '=' and compared with netctx_equal(). Only
 * netctx_to_wire() allocates (see there). Everything read from the system
 * is bounded below; what does not fit is left out, never truncated into a
 * misleading value.
 */
#ifndef VANTAGE_NETCTX_H
#define VANTAGE_NETCTX_H

#include <stdbool.h>
#include <stddef.h>

#include "wire.h"

/* A host with more addresses is a router or a container host; 64 covers a
 * workstation with docker, VPNs and several IPv6 privacy addresses. */
#define NETCTX_ADDR_MAX 64
/* glibc reads at most 3 (MAXNS); other stub resolvers a few more. */
#define NETCTX_RESOLVER_MAX 8
/* "ip/prefix" or "fe80::1%ifname": INET6_ADDRSTRLEN (46) + "%" + IFNAMSIZ
 * (16) + "/128", rounded up. */
#define NETCTX_ADDR_TEXT_MAX 72
/* resolv.conf lines: "search" may list 6 domains of 253 characters
 * (resolv.conf(5)); a longer line cannot be a nameserver line and is
 * skipped. */
#define NETCTX_LINE_MAX 2048
/* Lines read from one file: far above any real resolv.conf, and it keeps a
 * router's full /proc/net/route table from stalling the agent's loop. */
#define NETCTX_LINES_MAX 100000

#define NETCTX_RESOLV_CONF "/etc/resolv.conf"
/* Through /proc/self: the hardened unit mounts /proc with ProcSubset=pid,
 * which hides /proc/net but not the same files under the process's own
 * directory (the process's network namespace either way). */
#define NETCTX_ROUTE4   "/proc/self/net/route"
#define NETCTX_ROUTE6   "/proc/self/net/ipv6_route"
#define NETCTX_IF_INET6 "/proc/self/net/if_inet6"

struct netctx {
    /* Local addresses "ip/prefix" (see netctx_read_addresses for those left
     * out), sorted so that the interfaces' order does not count as a
     * change. */
    char addresses[NETCTX_ADDR_MAX][NETCTX_ADDR_TEXT_MAX];
    size_t naddresses;
    char gateway4[NETCTX_ADDR_TEXT_MAX]; /* "" = no IPv4 default route */
    char gateway6[NETCTX_ADDR_TEXT_MAX]; /* "" = none; link-local ones carry "%ifname" */
    /* nameserver lines in file order: the order is the resolver's order. */
    char resolvers[NETCTX_RESOLVER_MAX][NETCTX_ADDR_TEXT_MAX];
    size_t nresolvers;
};

/* Empties a record. */
void netctx_init(struct netctx *ctx);

/* Fills ctx from the running system: getifaddrs() with /proc/net/if_inet6,
 * /proc/net/route, /proc/net/ipv6_route and resolv_path (NULL =
 * /etc/resolv.conf). A
 * missing route or resolv.conf file means "none", not an error. Returns 0,
 * or -1 with the reason in err (ctx then holds what was found so far). */
int netctx_detect(struct netctx *ctx, const char *resolv_path, char *err, size_t errlen);

/* Replaces ctx's addresses with the addresses of the host's interfaces
 * that are up, except those that say nothing about the network or come
 * and go on their own: loopback, IPv6 link-local (every link has fe80::/64,
 * and a container host gains one per veth), and IPv6 addresses that
 * if_inet6_path (NULL = /proc/net/if_inet6) flags temporary (privacy
 * addresses rotate daily), deprecated, tentative or failed DAD. Without
 * that file no IPv6 address is left out for its flags. Returns 0, or -1
 * with err. */
int netctx_read_addresses(struct netctx *ctx, const char *if_inet6_path, char *err, size_t errlen);

/* Replaces ctx's resolvers with the "nameserver" lines of path (a
 * resolv.conf). Lines that do not hold an IP address are skipped; past
 * NETCTX_RESOLVER_MAX the rest are ignored. A missing file gives no
 * resolvers and 0; any other failure -1 with err. */
int netctx_read_resolvers(struct netctx *ctx, const char *path, char *err, size_t errlen);

/* Sets ctx->gateway4 from a /proc/net/route file at path: the up default
 * route with a gateway and the lowest metric. Same return rules. */
int netctx_read_gateway4(struct netctx *ctx, const char *path, char *err, size_t errlen);

/* Sets ctx->gateway6 from a /proc/net/ipv6_route file at path, likewise. */
int netctx_read_gateway6(struct netctx *ctx, const char *path, char *err, size_t errlen);

/* Whether two contexts describe the same network attachment. */
bool netctx_equal(const struct netctx *a, const struct netctx *b);

/* Writes a one-line summary for logs: "addresses=a,b gateway=g resolvers=r".
 * Cut at len. */
void netctx_format(const struct netctx *ctx, char *buf, size_t len);

/* Fills *out with heap copies: addresses, resolvers, and gateway = the IPv4
 * gateway, or the IPv6 one when there is no IPv4 default route (NULL when
 * neither). The caller owns them and frees them with netctx_wire_clear(),
 * or with wire_hello_clear() once *out is a hello's net. Returns 0, or -1
 * when out of memory (then *out is cleared). */
int netctx_to_wire(const struct netctx *ctx, struct wire_netctx *out)
    __attribute__((warn_unused_result));

/* Frees what netctx_to_wire() allocated and zeroes *w. */
void netctx_wire_clear(struct wire_netctx *w);

#endif
