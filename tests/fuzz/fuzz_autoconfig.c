/*
 * libFuzzer target: autoconfig_parse() over one input, as a Thunderbird
 * config-v1.1.xml and as an Autodiscover response. Checks the bounds of
 * what is kept. Seeds: tests/fuzz/seeds/autoconfig/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "autoconfig.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int dialect = 0; dialect < AUTOCONFIG_DIALECT_LAST; dialect++) {
        struct autoconfig_doc d;
        char err[256], spec[512];
        if (autoconfig_parse((enum autoconfig_dialect)dialect, (const char *)data, size,
                             "jo@example.com", &d, err, sizeof(err)) < 0) {
            CHECK(memchr(err, '\0', sizeof(err)) != NULL);
            continue;
        }
        CHECK(d.nservers <= AUTOCONFIG_SERVERS_MAX && (unsigned)d.action < AUTOCONFIG_ACTION_LAST);
        CHECK(memchr(d.redirect, '\0', sizeof(d.redirect)) != NULL);
        for (size_t i = 0; i < d.nservers; i++) {
            CHECK(d.servers[i].port > 0 && d.servers[i].host[0] != '\0');
            (void)autoconfig_server_spec(d.servers[i].proto, d.servers[i].host, d.servers[i].port,
                                         d.servers[i].socket, spec, sizeof(spec));
        }
    }
    return 0;
}
