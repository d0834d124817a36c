/*
 * Helpers shared by the reply fuzzers: split the input into lines the way
 * conn's line reader would hand them over, each fenced by poisoned memory
 * on both sides so that AddressSanitizer sees any read past either end.
 */
#ifndef VANTAGE_FUZZ_LINES_H
#define VANTAGE_FUZZ_LINES_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sanitizer/asan_interface.h>

#include "reply.h"

/* Stops the run with a crash the fuzzer records: an invariant broke. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* Poisoned bytes before each line, as wide as ASan's smallest heap redzone
 * (beyond them lies the buffer's own redzone). */
#define FUZZ_LINE_FENCE 16

/* Calls fn(ctx, line, len) for each '\n'-terminated piece of data (the
 * last one may lack it), line including its '\n'.
 *
 * A 64 KiB input is thousands of lines, and a malloc per line (ASan's:
 * stack capture, quarantine) cost more than the parsers under test, so
 * one buffer serves the whole input. All of it stays poisoned except the
 * current line, which starts on a granule boundary: a read before the line,
 * or past its last byte (ASan tracks a granule's addressable prefix to the
 * byte), is reported as a heap buffer would report it. The parsers copy
 * what they keep, so a pointer kept into an earlier line is a finding too
 * whenever that line was longer than the current one. */
static inline void fuzz_lines_each(const uint8_t *data, size_t size,
                                   void (*fn)(void *ctx, const char *line, size_t len), void *ctx)
{
    size_t cap = FUZZ_LINE_FENCE + size + FUZZ_LINE_FENCE;
    char *buf = malloc(cap);
    char *line;
    size_t pos = 0;

    if (buf == NULL)
        return;
    line = buf + FUZZ_LINE_FENCE;
    ASAN_POISON_MEMORY_REGION(buf, cap);
    while (pos < size) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        size_t len = nl != NULL ? (size_t)(nl - (data + pos)) + 1 : size - pos;

        ASAN_UNPOISON_MEMORY_REGION(line, len);
        memcpy(line, data + pos, len);
        fn(ctx, line, len);
        ASAN_POISON_MEMORY_REGION(line, len);
        pos += len;
    }
    ASAN_UNPOISON_MEMORY_REGION(buf, cap);
    free(buf);
}

/* The harness's own checks stay out of the coverage instrumentation: they
 * pass on every input, so their branches tell the fuzzer nothing, and the
 * three comparisons per byte of reply text they would report for every
 * line took 28% of fuzz_reply_smtp's time. AddressSanitizer still checks
 * them. */
#define FUZZ_UNTRACED __attribute__((noinline, no_sanitize("coverage")))

/* A reply's text: NUL-terminated inside its array, printable ASCII and
 * the '\n' that joins lines, nothing else. */
FUZZ_UNTRACED static inline void fuzz_check_text(const char *text, size_t max)
{
    const char *end = memchr(text, '\0', max);
    FUZZ_CHECK(end != NULL);
    for (const char *p = text; p < end; p++)
        FUZZ_CHECK((*p >= 0x20 && *p < 0x7f) || *p == '\n');
}

FUZZ_UNTRACED static inline void fuzz_check_status(enum reply_status st)
{
    FUZZ_CHECK((unsigned)st < REPLY_STATUS_LAST);
    FUZZ_CHECK(reply_status_name(st) != NULL);
}

#endif
