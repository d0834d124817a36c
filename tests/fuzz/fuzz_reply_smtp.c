/*
 * libFuzzer target: reply_smtp_feed() over a server's transcript. Each
 * complete (or failed) reply starts a new one, as a dialog would.
 * Seeds: tests/fuzz/seeds/reply_smtp/ (postfix transcripts).
 */
#include "fuzz_lines.h"

static void one_line(void *ctx, const char *line, size_t len)
{
    struct reply_smtp *r = ctx;
    unsigned before = r->nlines;
    enum reply_status st = reply_smtp_feed(r, line, len);

    fuzz_check_status(st);
    fuzz_check_text(r->text, sizeof(r->text));
    FUZZ_CHECK(memchr(r->enhanced, '\0', sizeof(r->enhanced)) != NULL);
    FUZZ_CHECK(r->nlines == before + 1);
    FUZZ_CHECK(r->nlines <= REPLY_LINES_MAX + 1);
    if (st == REPLY_DONE || st == REPLY_MORE)
        FUZZ_CHECK(r->code >= 200 && r->code <= 559);
    if (st == REPLY_DONE) {
        FUZZ_CHECK(r->done);
        FUZZ_CHECK(reply_smtp_class(r) >= 2 && reply_smtp_class(r) <= 5);
    }
    if (st != REPLY_MORE)
        reply_smtp_init(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct reply_smtp r;

    reply_smtp_init(&r);
    fuzz_lines_each(data, size, one_line, &r);
    return 0;
}
