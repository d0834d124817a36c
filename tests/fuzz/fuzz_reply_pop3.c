/*
 * libFuzzer target: reply_pop3_feed() over a server's transcript. The first
 * input byte says which of the first eight replies are multi-line (bit i
 * for reply i), the way a dialog knows it sent CAPA; the rest is the
 * transcript. Seeds: tests/fuzz/seeds/reply_pop3/ (dovecot transcripts).
 */
#include "fuzz_lines.h"

struct fuzz_pop3 {
    struct reply_pop3 r;
    unsigned replies;
    uint8_t multimask;
};

static void next_reply(struct fuzz_pop3 *f)
{
    bool multi = f->replies < 8 && (f->multimask >> f->replies) & 1u;

    f->replies++;
    reply_pop3_init(&f->r, multi);
}

static void one_line(void *ctx, const char *line, size_t len)
{
    struct fuzz_pop3 *f = ctx;
    struct reply_pop3 *r = &f->r;
    enum reply_status st = reply_pop3_feed(r, line, len);

    fuzz_check_status(st);
    fuzz_check_text(r->text, sizeof(r->text));
    FUZZ_CHECK(r->nlines <= REPLY_LINES_MAX + 1);
    if (st == REPLY_DONE || st == REPLY_MORE)
        FUZZ_CHECK(r->status_seen);
    if (st == REPLY_DONE && !r->ok)
        FUZZ_CHECK(r->caps == 0);
    if (!r->multiline)
        FUZZ_CHECK(r->caps == 0 && st != REPLY_MORE);
    if (st != REPLY_MORE)
        next_reply(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_pop3 f = {.replies = 0};

    if (size == 0)
        return 0;
    f.multimask = data[0];
    next_reply(&f);
    fuzz_lines_each(data + 1, size - 1, one_line, &f);
    return 0;
}
