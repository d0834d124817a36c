/*
 * libFuzzer target: http_reply_feed() over a web server's answer, split
 * into lines and stripped of their ends the way conn hands them over.
 * After a complete head or an error the next lines start a new response,
 * so one input exercises many. Seeds: tests/fuzz/seeds/http_reply/ (nginx
 * answers).
 */
#include "fuzz_lines.h"
#include "http_reply.h"

static void one_line(void *ctx, const char *line, size_t len)
{
    struct http_reply *r = ctx;

    /* conn strips "\n" and one "\r" before it. */
    if (len > 0 && line[len - 1] == '\n')
        len--;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    enum reply_status st = http_reply_feed(r, line, len);
    fuzz_check_status(st);
    fuzz_check_text(r->reason, sizeof(r->reason));
    fuzz_check_text(r->server, sizeof(r->server));
    fuzz_check_text(r->location, sizeof(r->location));
    FUZZ_CHECK(r->nlines <= HTTP_REPLY_LINES_MAX + 1);
    FUZZ_CHECK(st != REPLY_ERR_SYNTAX || r->error != NULL);
    if (st == REPLY_DONE) {
        FUZZ_CHECK(r->done && r->status >= 100 && r->status <= 999);
        FUZZ_CHECK(r->status < 100 || r->status >= 200 || r->status == 101);
        char banner[HTTP_REPLY_TEXT_MAX + 32];
        http_reply_status_line(r, banner, sizeof(banner));
        fuzz_check_text(banner, sizeof(banner));
    }
    if (st != REPLY_MORE)
        http_reply_init(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_reply r;

    http_reply_init(&r);
    fuzz_lines_each(data, size, one_line, &r);
    return 0;
}
