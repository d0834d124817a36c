/*
 * netctx — detection of the agent's network context (netctx.h).
 *
 * Plain files and getifaddrs() rather than rtnetlink: the agent re-reads
 * the context every so often, the files are small, and the parsers take
 * paths so that the tests feed them fixtures (tests/unit/test_netctx.c).
 */
#include "netctx.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/if_addr.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* /proc/net/route, ipv6_route and if_inet6 lines are at most about 150
 * characters; a longer one is not a line we understand. */
#define ROUTE_LINE_MAX 512
/* Flagged IPv6 addresses remembered while listing: a host with more
 * temporary addresses than this is misconfigured, and the rest then show
 * up as addresses (noise, not harm). */
#define NETCTX_V6_SKIP_MAX 256
/* if_inet6 prints the low 8 bits of the address flags, where these are. */
#define V6_FLAGS_SKIP (IFA_F_TEMPORARY | IFA_F_DADFAILED | IFA_F_DEPRECATED | IFA_F_TENTATIVE)

void netctx_init(struct netctx *ctx)
{
    memset(ctx, 0, sizeof(*ctx));
}

/* Reads one line into buf (without its newline). A line longer than the
 * buffer is consumed whole and reported through *too_long, so that its
 * tail is never mistaken for a line of its own. Returns 0 at EOF. */
static int read_line(FILE *f, char *buf, size_t size, int *too_long)
{
    *too_long = 0;
    if (fgets(buf, (int)size, f) == NULL)
        return 0;
    size_t n = strlen(buf);
    if (n > 0 && buf[n - 1] == '\n') {
        buf[n - 1] = '\0';
        return 1;
    }
    if (feof(f))
        return 1; /* the last line, without a newline */
    *too_long = 1;
    int c;
    while ((c = fgetc(f)) != EOF && c != '\n')
        ;
    return 1;
}

/* Opens a file the context is read from. Returns NULL with *missing set
 * when it does not exist (then it just has nothing to say), NULL with err
 * for any other failure. */
static FILE *open_source(const char *path, int *missing, char *err, size_t errlen)
{
    *missing = 0;
    FILE *f = fopen(path, "re");
    if (f != NULL)
        return f;
    if (errno == ENOENT) {
        *missing = 1;
        return NULL;
    }
    snprintf(err, errlen, "netctx: cannot read %s: %s (check its permissions)", path,
             strerror(errno));
    return NULL;
}

static int prefix_len(const struct sockaddr *mask)
{
    const unsigned char *b;
    size_t n;
    if (mask == NULL)
        return -1;
    if (mask->sa_family == AF_INET) {
        b = (const unsigned char *)&((const struct sockaddr_in *)(const void *)mask)->sin_addr;
        n = 4;
    } else if (mask->sa_family == AF_INET6) {
        b = (const unsigned char *)&((const struct sockaddr_in6 *)(const void *)mask)->sin6_addr;
        n = 16;
    } else {
        return -1;
    }
    int bits = 0;
    for (size_t i = 0; i < n; i++)
        for (int j = 7; j >= 0; j--)
            bits += (b[i] >> j) & 1;
    return bits;
}

static int cmp_text(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* IPv6 addresses whose flags say they come and go on their own. */
struct v6_skip {
    struct in6_addr addr[NETCTX_V6_SKIP_MAX];
    size_t n;
};

static int hex_to_in6(const char *hex, struct in6_addr *out);

/* Reads /proc/net/if_inet6: "address ifindex plen scope flags ifname",
 * all hex. A missing file skips nothing; so does an unreadable one, since
 * the addresses themselves come from getifaddrs(). */
static void read_v6_skip(const char *path, struct v6_skip *skip)
{
    skip->n = 0;
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return;
    char line[ROUTE_LINE_MAX];
    int too_long;
    for (long n = 0; n < NETCTX_LINES_MAX && skip->n < NETCTX_V6_SKIP_MAX &&
                     read_line(f, line, sizeof(line), &too_long);
         n++) {
        char hex[40], ifname[IFNAMSIZ + 16];
        unsigned ifindex, plen, scope, flags;
        if (too_long || sscanf(line, "%39s %x %x %x %x %31s", hex, &ifindex, &plen, &scope, &flags,
                               ifname) != 6)
            continue;
        if (!(flags & V6_FLAGS_SKIP) || hex_to_in6(hex, &skip->addr[skip->n]) < 0)
            continue;
        skip->n++;
    }
    fclose(f);
}

static int v6_skipped(const struct v6_skip *skip, const struct in6_addr *a)
{
    for (size_t i = 0; i < skip->n; i++)
        if (memcmp(&skip->addr[i], a, sizeof(*a)) == 0)
            return 1;
    return 0;
}

int netctx_read_addresses(struct netctx *ctx, const char *if_inet6_path, char *err, size_t errlen)
{
    struct ifaddrs *list;
    struct v6_skip skip;
    ctx->naddresses = 0;
    read_v6_skip(if_inet6_path ? if_inet6_path : NETCTX_IF_INET6, &skip);
    if (getifaddrs(&list) < 0) {
        snprintf(err, errlen, "netctx: cannot list the network interfaces: %s", strerror(errno));
        return -1;
    }
    for (struct ifaddrs *i = list; i != NULL && ctx->naddresses < NETCTX_ADDR_MAX;
         i = i->ifa_next) {
        if (i->ifa_addr == NULL || (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP))
            continue;
        int family = i->ifa_addr->sa_family;
        const void *addr;
        if (family == AF_INET)
            addr = &((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr;
        else if (family == AF_INET6) {
            const struct in6_addr *a6 =
                &((const struct sockaddr_in6 *)(const void *)i->ifa_addr)->sin6_addr;
            if (IN6_IS_ADDR_LINKLOCAL(a6) || v6_skipped(&skip, a6))
                continue;
            addr = a6;
        } else {
            continue;
        }
        char ip[INET6_ADDRSTRLEN];
        if (inet_ntop(family, addr, ip, sizeof(ip)) == NULL)
            continue;
        int plen = prefix_len(i->ifa_netmask);
        char *slot = ctx->addresses[ctx->naddresses];
        if (plen >= 0)
            snprintf(slot, NETCTX_ADDR_TEXT_MAX, "%s/%d", ip, plen);
        else
            snprintf(slot, NETCTX_ADDR_TEXT_MAX, "%s", ip);
        ctx->naddresses++;
    }
    freeifaddrs(list);
    qsort(ctx->addresses, ctx->naddresses, sizeof(ctx->addresses[0]), cmp_text);
    /* The same address on two interfaces is one fact, not two. */
    size_t out = 0;
    for (size_t i = 0; i < ctx->naddresses; i++)
        if (out == 0 || strcmp(ctx->addresses[out - 1], ctx->addresses[i]) != 0) {
            if (out != i)
                memcpy(ctx->addresses[out], ctx->addresses[i], sizeof(ctx->addresses[0]));
            out++;
        }
    ctx->naddresses = out;
    return 0;
}

/* Whether text (an optional "%scope" suffix allowed) is an IP address. */
static int is_ip(const char *text)
{
    char tmp[NETCTX_ADDR_TEXT_MAX];
    unsigned char bin[sizeof(struct in6_addr)];
    size_t len = strlen(text);
    if (len >= sizeof(tmp))
        return 0;
    memcpy(tmp, text, len + 1);
    char *pct = strchr(tmp, '%');
    if (pct != NULL) {
        if (pct[1] == '\0')
            return 0;
        *pct = '\0';
        return inet_pton(AF_INET6, tmp, bin) == 1;
    }
    return inet_pton(AF_INET, tmp, bin) == 1 || inet_pton(AF_INET6, tmp, bin) == 1;
}

int netctx_read_resolvers(struct netctx *ctx, const char *path, char *err, size_t errlen)
{
    int missing;
    ctx->nresolvers = 0;
    FILE *f = open_source(path, &missing, err, errlen);
    if (f == NULL)
        return missing ? 0 : -1;
    char line[NETCTX_LINE_MAX + 2];
    int too_long;
    for (long n = 0; n < NETCTX_LINES_MAX && read_line(f, line, sizeof(line), &too_long); n++) {
        if (too_long || ctx->nresolvers == NETCTX_RESOLVER_MAX)
            continue;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        static const char keyword[] = "nameserver";
        if (strncmp(p, keyword, sizeof(keyword) - 1) != 0)
            continue;
        p += sizeof(keyword) - 1;
        if (*p != ' ' && *p != '\t')
            continue;
        while (*p == ' ' || *p == '\t')
            p++;
        char *end = p;
        while (*end && !isspace((unsigned char)*end) && *end != '#' && *end != ';')
            end++;
        *end = '\0';
        if (!is_ip(p))
            continue;
        snprintf(ctx->resolvers[ctx->nresolvers++], NETCTX_ADDR_TEXT_MAX, "%s", p);
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        snprintf(err, errlen, "netctx: error while reading %s", path);
        return -1;
    }
    return 0;
}

int netctx_read_gateway4(struct netctx *ctx, const char *path, char *err, size_t errlen)
{
    int missing;
    ctx->gateway4[0] = '\0';
    FILE *f = open_source(path, &missing, err, errlen);
    if (f == NULL)
        return missing ? 0 : -1;
    char line[ROUTE_LINE_MAX];
    int too_long;
    unsigned best_metric = 0;
    int found = 0;
    for (long n = 0; n < NETCTX_LINES_MAX && read_line(f, line, sizeof(line), &too_long); n++) {
        char ifname[IFNAMSIZ + 16];
        unsigned dest, gw, flags, metric, mask;
        /* Iface Destination Gateway Flags RefCnt Use Metric Mask ...; the
         * header line does not match the hex fields and is skipped. */
        if (too_long || sscanf(line, "%31s %x %x %x %*d %*d %u %x", ifname, &dest, &gw, &flags,
                               &metric, &mask) != 6)
            continue;
        if (dest != 0 || mask != 0 || gw == 0 ||
            (flags & (RTF_UP | RTF_GATEWAY)) != (RTF_UP | RTF_GATEWAY) || (flags & RTF_REJECT))
            continue;
        if (found && metric >= best_metric)
            continue;
        /* The kernel prints the address's 32 bits as they lie in memory,
         * so the native value is already in network byte order. */
        struct in_addr a = {.s_addr = (in_addr_t)gw};
        if (inet_ntop(AF_INET, &a, ctx->gateway4, sizeof(ctx->gateway4)) == NULL)
            continue;
        best_metric = metric;
        found = 1;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        snprintf(err, errlen, "netctx: error while reading %s", path);
        return -1;
    }
    return 0;
}

static int hex_to_in6(const char *hex, struct in6_addr *out)
{
    if (strlen(hex) != 32)
        return -1;
    for (int i = 0; i < 16; i++) {
        unsigned v = 0;
        for (int j = 0; j < 2; j++) {
            char c = hex[2 * i + j];
            int d = isdigit((unsigned char)c) ? c - '0'
                    : (c >= 'a' && c <= 'f')  ? c - 'a' + 10
                    : (c >= 'A' && c <= 'F')  ? c - 'A' + 10
                                              : -1;
            if (d < 0)
                return -1;
            v = v * 16 + (unsigned)d;
        }
        out->s6_addr[i] = (unsigned char)v;
    }
    return 0;
}

int netctx_read_gateway6(struct netctx *ctx, const char *path, char *err, size_t errlen)
{
    int missing;
    ctx->gateway6[0] = '\0';
    FILE *f = open_source(path, &missing, err, errlen);
    if (f == NULL)
        return missing ? 0 : -1;
    char line[ROUTE_LINE_MAX];
    int too_long;
    unsigned best_metric = 0;
    int found = 0;
    for (long n = 0; n < NETCTX_LINES_MAX && read_line(f, line, sizeof(line), &too_long); n++) {
        char dest[40], src[40], hop[40], ifname[IFNAMSIZ + 16];
        unsigned dplen, splen, metric, refcnt, use, flags;
        /* dest dest_plen src src_plen next_hop metric refcnt use flags ifname */
        if (too_long || sscanf(line, "%39s %x %39s %x %39s %x %x %x %x %31s", dest, &dplen, src,
                               &splen, hop, &metric, &refcnt, &use, &flags, ifname) != 10)
            continue;
        struct in6_addr d, h;
        if (hex_to_in6(dest, &d) < 0 || hex_to_in6(hop, &h) < 0)
            continue;
        if (dplen != 0 || !IN6_IS_ADDR_UNSPECIFIED(&d) || IN6_IS_ADDR_UNSPECIFIED(&h) ||
            (flags & (RTF_UP | RTF_GATEWAY)) != (RTF_UP | RTF_GATEWAY) || (flags & RTF_REJECT))
            continue;
        if (found && metric >= best_metric)
            continue;
        char ip[INET6_ADDRSTRLEN];
        if (inet_ntop(AF_INET6, &h, ip, sizeof(ip)) == NULL)
            continue;
        /* A link-local next hop means nothing without its interface. */
        if (IN6_IS_ADDR_LINKLOCAL(&h))
            snprintf(ctx->gateway6, sizeof(ctx->gateway6), "%s%%%.15s", ip, ifname);
        else
            snprintf(ctx->gateway6, sizeof(ctx->gateway6), "%s", ip);
        best_metric = metric;
        found = 1;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        snprintf(err, errlen, "netctx: error while reading %s", path);
        return -1;
    }
    return 0;
}

int netctx_detect(struct netctx *ctx, const char *resolv_path, char *err, size_t errlen)
{
    netctx_init(ctx);
    if (netctx_read_addresses(ctx, NULL, err, errlen) < 0 ||
        netctx_read_gateway4(ctx, NETCTX_ROUTE4, err, errlen) < 0 ||
        netctx_read_gateway6(ctx, NETCTX_ROUTE6, err, errlen) < 0 ||
        netctx_read_resolvers(ctx, resolv_path ? resolv_path : NETCTX_RESOLV_CONF, err, errlen) < 0)
        return -1;
    return 0;
}

bool netctx_equal(const struct netctx *a, const struct netctx *b)
{
    if (a->naddresses != b->naddresses || a->nresolvers != b->nresolvers ||
        strcmp(a->gateway4, b->gateway4) != 0 || strcmp(a->gateway6, b->gateway6) != 0)
        return false;
    for (size_t i = 0; i < a->naddresses; i++)
        if (strcmp(a->addresses[i], b->addresses[i]) != 0)
            return false;
    for (size_t i = 0; i < a->nresolvers; i++)
        if (strcmp(a->resolvers[i], b->resolvers[i]) != 0)
            return false;
    return true;
}

/* Appends to buf at *used, never past len; *used may end beyond len, which
 * only means the text was cut. */
static void append(char *buf, size_t len, size_t *used, const char *s)
{
    size_t n = strlen(s);
    if (*used < len) {
        size_t room = len - *used - 1;
        size_t take = n < room ? n : room;
        memcpy(buf + *used, s, take);
        buf[*used + take] = '\0';
    }
    *used += n;
}

static void append_list(char *buf, size_t len, size_t *used,
                        const char (*items)[NETCTX_ADDR_TEXT_MAX], size_t n)
{
    if (n == 0)
        append(buf, len, used, "-");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            append(buf, len, used, ",");
        append(buf, len, used, items[i]);
    }
}

void netctx_format(const struct netctx *ctx, char *buf, size_t len)
{
    size_t used = 0;
    if (len == 0)
        return;
    buf[0] = '\0';
    append(buf, len, &used, "addresses=");
    append_list(buf, len, &used, ctx->addresses, ctx->naddresses);
    append(buf, len, &used, " gateway4=");
    append(buf, len, &used, ctx->gateway4[0] ? ctx->gateway4 : "-");
    append(buf, len, &used, " gateway6=");
    append(buf, len, &used, ctx->gateway6[0] ? ctx->gateway6 : "-");
    append(buf, len, &used, " resolvers=");
    append_list(buf, len, &used, ctx->resolvers, ctx->nresolvers);
}

static char **copy_list(const char (*items)[NETCTX_ADDR_TEXT_MAX], size_t n)
{
    char **list = calloc(n, sizeof(*list));
    if (list == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if ((list[i] = strdup(items[i])) == NULL) {
            while (i > 0)
                free(list[--i]);
            free(list);
            return NULL;
        }
    return list;
}

int netctx_to_wire(const struct netctx *ctx, struct wire_netctx *out)
{
    memset(out, 0, sizeof(*out));
    const char *gw = ctx->gateway4[0] ? ctx->gateway4 : ctx->gateway6[0] ? ctx->gateway6 : NULL;
    if (ctx->naddresses > 0) {
        out->addresses = copy_list(ctx->addresses, ctx->naddresses);
        if (out->addresses == NULL)
            goto oom;
        out->naddresses = ctx->naddresses;
    }
    if (ctx->nresolvers > 0) {
        out->resolvers = copy_list(ctx->resolvers, ctx->nresolvers);
        if (out->resolvers == NULL)
            goto oom;
        out->nresolvers = ctx->nresolvers;
    }
    if (gw != NULL && (out->gateway = strdup(gw)) == NULL)
        goto oom;
    return 0;
oom:
    netctx_wire_clear(out);
    return -1;
}

void netctx_wire_clear(struct wire_netctx *w)
{
    for (size_t i = 0; i < w->naddresses; i++)
        free(w->addresses[i]);
    free(w->addresses);
    for (size_t i = 0; i < w->nresolvers; i++)
        free(w->resolvers[i]);
    free(w->resolvers);
    free(w->gateway);
    memset(w, 0, sizeof(*w));
}
