/*
 * libFuzzer target: config_parse() over arbitrary bytes (not
 * NUL-terminated: the length is the contract). Whatever parses must give
 * NUL-terminated keys and values and sane line numbers; whatever fails must
 * say why. Seeds: tests/fuzz/seeds/config/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[CONFIG_ERR_MAX];
    char *text = malloc(size > 0 ? size : 1);

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    err[0] = '\0';
    struct config *c = config_parse("fuzz.conf", text, size, err, sizeof(err));
    free(text); /* the parser must have copied what it keeps */
    if (c == NULL) {
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
        return 0;
    }
    size_t n = config_nsections(c);
    for (size_t i = 0; i < n; i++) {
        const struct config_section *s = config_section_at(c, i);
        FUZZ_CHECK(s != NULL && s->kind != NULL && s->label != NULL);
        FUZZ_CHECK(s->line >= 1);
        FUZZ_CHECK(config_find(c, s->kind, s->label) != NULL);
        for (size_t j = 0; j < s->nentries; j++) {
            const struct config_entry *e = &s->entries[j];
            FUZZ_CHECK(e->key != NULL && e->value != NULL);
            FUZZ_CHECK(strlen(e->key) < CONFIG_LINE_MAX && strlen(e->value) < CONFIG_LINE_MAX);
            FUZZ_CHECK(e->line >= s->line);
            FUZZ_CHECK(config_get(s, e->key) != NULL);
        }
        int64_t d;
        uint64_t u;
        int b;
        (void)config_get_duration(c, s, "interval", 0, 0, INT64_MAX, &d, err, sizeof(err));
        (void)config_get_uint(c, s, "port", 0, 0, UINT64_MAX, &u, err, sizeof(err));
        (void)config_get_bool(c, s, "insecure_plaintext", 0, &b, err, sizeof(err));
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
    }
    config_destroy(&c);
    FUZZ_CHECK(c == NULL);
    return 0;
}
