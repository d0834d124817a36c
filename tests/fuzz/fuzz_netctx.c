/*
 * libFuzzer target: the files the agent reads its network context from
 * (resolv.conf, /proc/net/route, /proc/net/ipv6_route). The input is given
 * to each reader as that file, through a memfd and its /proc/self/fd path,
 * so netctx.c's own file handling runs unchanged. What it keeps must be
 * bounded, NUL-terminated and an address; the summary and the hello's copy
 * must hold it. Seeds: tests/fuzz/seeds/netctx/.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "netctx.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The file every reader is pointed at, made once. */
struct fuzz_file {
    int fd;
    char path[64];
};

static void check_address(const char *text)
{
    char tmp[NETCTX_ADDR_TEXT_MAX];
    unsigned char bin[16];
    const char *end = memchr(text, '\0', NETCTX_ADDR_TEXT_MAX);
    FUZZ_CHECK(end != NULL && end > text);
    memcpy(tmp, text, (size_t)(end - text) + 1);
    char *pct = strchr(tmp, '%');
    if (pct != NULL)
        *pct = '\0';
    FUZZ_CHECK(inet_pton(AF_INET, tmp, bin) == 1 || inet_pton(AF_INET6, tmp, bin) == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fuzz_file file = {.fd = -1};
    if (file.fd < 0) {
        file.fd = memfd_create("netctx", 0);
        FUZZ_CHECK(file.fd >= 0);
        snprintf(file.path, sizeof(file.path), "/proc/self/fd/%d", file.fd);
    }
    FUZZ_CHECK(ftruncate(file.fd, 0) == 0);
    FUZZ_CHECK(pwrite(file.fd, data, size, 0) == (ssize_t)size);

    struct netctx ctx;
    char err[256];
    netctx_init(&ctx);
    FUZZ_CHECK(netctx_read_resolvers(&ctx, file.path, err, sizeof(err)) == 0);
    FUZZ_CHECK(netctx_read_gateway4(&ctx, file.path, err, sizeof(err)) == 0);
    FUZZ_CHECK(netctx_read_gateway6(&ctx, file.path, err, sizeof(err)) == 0);
    FUZZ_CHECK(ctx.nresolvers <= NETCTX_RESOLVER_MAX);
    for (size_t i = 0; i < ctx.nresolvers; i++)
        check_address(ctx.resolvers[i]);
    if (ctx.gateway4[0])
        check_address(ctx.gateway4);
    if (ctx.gateway6[0])
        check_address(ctx.gateway6);

    char line[1024];
    netctx_format(&ctx, line, sizeof(line));
    FUZZ_CHECK(memchr(line, '\0', sizeof(line)) != NULL);
    struct wire_netctx w;
    if (netctx_to_wire(&ctx, &w) == 0) {
        FUZZ_CHECK(w.nresolvers == ctx.nresolvers);
        netctx_wire_clear(&w);
    }
    struct netctx copy = ctx;
    FUZZ_CHECK(netctx_equal(&ctx, &copy));
    return 0;
}
