/*
 * libFuzzer target: wire_msg_decode(), the first thing either daemon does
 * with bytes from the network. An accepted message must have a known kind
 * and bounded lists, re-encode, and decode again to the same kind.
 * Seeds: tests/fuzz/seeds/wire_msg/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    uint8_t *buf = NULL;
    size_t len = 0;

    err[0] = '\0';
    struct wire_msg *m = wire_msg_decode(data, size, err, sizeof(err));
    if (m == NULL) {
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
        return 0;
    }
    FUZZ_CHECK((unsigned)m->kind < WIRE_KIND_LAST);
    switch (m->kind) {
    case WIRE_BATCH:
        FUZZ_CHECK(m->u.batch.nresults <= WIRE_BATCH_MAX);
        for (size_t i = 0; i < m->u.batch.nresults; i++) {
            /* Each result is decoded separately by ingest; it must be
             * readable up to its length. */
            volatile uint8_t sink = 0;
            for (size_t k = 0; k < m->u.batch.lens[i]; k++)
                sink ^= m->u.batch.results[i][k];
            (void)sink;
        }
        break;
    case WIRE_CONFIG:
        FUZZ_CHECK(m->u.config.ntargets <= WIRE_TARGETS_MAX);
        for (size_t i = 0; i < m->u.config.ntargets; i++)
            FUZZ_CHECK(m->u.config.targets[i].nchecks <= WIRE_CHECKS_MAX);
        struct wire_config copy;
        if (wire_config_copy(&m->u.config, &copy) == 0)
            wire_config_clear(&copy);
        break;
    default:
        break;
    }

    FUZZ_CHECK(wire_msg_encode(m, &buf, &len) == 0);
    struct wire_msg *again = wire_msg_decode(buf, len, err, sizeof(err));
    FUZZ_CHECK(again != NULL);
    FUZZ_CHECK(again->kind == m->kind);
    wire_msg_free(&again);
    FUZZ_CHECK(again == NULL);
    free(buf);
    wire_msg_free(&m);
    return 0;
}
