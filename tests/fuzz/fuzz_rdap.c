/*
 * libFuzzer target: rdap_domain_parse() and rdap_bootstrap_parse() over
 * one input (an RDAP server's or a bootstrap file's bytes). Checks that
 * what is kept is bounded and NUL-terminated. Seeds: tests/fuzz/seeds/rdap/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rdap.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256], url[RDAP_URL_MAX + 1];
    struct rdap_domain d;
    if (rdap_domain_parse((const char *)data, size, &d, err, sizeof(err)) == 0) {
        CHECK(d.nstatus <= RDAP_STATUS_MAX && d.nnameservers <= RDAP_NS_MAX);
        CHECK(memchr(d.registrar, '\0', sizeof(d.registrar)) != NULL);
        CHECK(memchr(d.related, '\0', sizeof(d.related)) != NULL);
        for (size_t i = 0; i < d.nstatus; i++)
            (void)rdap_status_hold(d.status[i]);
    } else {
        CHECK(memchr(err, '\0', sizeof(err)) != NULL);
    }
    struct rdap_bootstrap *b = rdap_bootstrap_parse((const char *)data, size, err, sizeof(err));
    if (b != NULL) {
        CHECK(rdap_bootstrap_count(b) <= RDAP_BOOTSTRAP_ENTRIES_MAX);
        (void)rdap_bootstrap_lookup(b, "www.example.co.uk", url, sizeof(url));
        rdap_bootstrap_destroy(&b);
    }
    return 0;
}
