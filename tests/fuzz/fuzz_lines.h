/*
 * Helpers shared by the reply fuzzers: split the input into lines the way
 * conn's line reader would hand them over, each in a heap buffer of exactly
 * its size so that AddressSanitizer sees any read past the end.
 */
#ifndef VANTAGE_FUZZ_LINES_H
#define VANTAGE_FUZZ_LINES_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"

/* Stops the run with a crash the fuzzer records: an invariant broke. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* Calls fn(ctx, line, len) for each '\n'-terminated piece of data (the
 * last one may lack it), line including its '\n'. */
static inline void fuzz_lines_each(const uint8_t *data, size_t size,
                                   void (*fn)(void *ctx, const char *line, size_t len), void *ctx)
{
    size_t pos = 0;

    while (pos < size) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        size_t len = nl != NULL ? (size_t)(nl - (data + pos)) + 1 : size - pos;
        char *line = malloc(len);
        if (line == NULL)
            return;
        memcpy(line, data + pos, len);
        fn(ctx, line, len);
        free(line);
        pos += len;
    }
}

/* A reply's text: NUL-terminated inside its array, printable ASCII and
 * the '\n' that joins lines, nothing else. */
static inline void fuzz_check_text(const char *text, size_t max)
{
    const char *end = memchr(text, '\0', max);
    FUZZ_CHECK(end != NULL);
    for (const char *p = text; p < end; p++)
        FUZZ_CHECK((*p >= 0x20 && *p < 0x7f) || *p == '\n');
}

static inline void fuzz_check_status(enum reply_status st)
{
    FUZZ_CHECK((unsigned)st < REPLY_STATUS_LAST);
    FUZZ_CHECK(reply_status_name(st) != NULL);
}

#endif
