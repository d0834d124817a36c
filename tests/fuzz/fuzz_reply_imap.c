/*
 * libFuzzer target: reply_imap_feed() over a server's transcript. The first
 * reply is the greeting; the following ones answer commands tagged "a",
 * "b", "c", ... in turn, as in the seed transcripts.
 * Seeds: tests/fuzz/seeds/reply_imap/ (dovecot transcripts).
 */
#include "fuzz_lines.h"

struct fuzz_imap {
    struct reply_imap r;
    unsigned replies;
};

static void next_reply(struct fuzz_imap *f)
{
    char tag[2] = {(char)('a' + f->replies % 26), '\0'};

    f->replies++;
    FUZZ_CHECK(reply_imap_init(&f->r, tag) == 0);
}

static void one_line(void *ctx, const char *line, size_t len)
{
    struct fuzz_imap *f = ctx;
    struct reply_imap *r = &f->r;
    enum reply_status st = reply_imap_feed(r, line, len);

    fuzz_check_status(st);
    fuzz_check_text(r->text, sizeof(r->text));
    FUZZ_CHECK(memchr(r->code, '\0', sizeof(r->code)) != NULL);
    for (const char *p = r->code; *p != '\0'; p++)
        FUZZ_CHECK((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.');
    FUZZ_CHECK((unsigned)r->cond < REPLY_IMAP_COND_LAST);
    FUZZ_CHECK(r->nlines <= REPLY_LINES_MAX + 1);
    if (st == REPLY_DONE) {
        FUZZ_CHECK(r->done);
        FUZZ_CHECK(r->cond != REPLY_IMAP_NONE);
        if (r->tag[0] == '\0')
            FUZZ_CHECK(r->cond == REPLY_IMAP_OK || r->cond == REPLY_IMAP_PREAUTH ||
                       r->cond == REPLY_IMAP_BYE);
    }
    if (!r->has_caps)
        FUZZ_CHECK(r->caps == 0);
    if (st != REPLY_MORE)
        next_reply(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_imap f = {.replies = 0};

    FUZZ_CHECK(reply_imap_init(&f.r, NULL) == 0);
    fuzz_lines_each(data, size, one_line, &f);
    return 0;
}
