/*
 * libFuzzer target: the mailflow check's reply parsers (agent/
 * mailflow_reply.c) over a server's transcript: every line goes to the
 * SEARCH, FETCH, LIST special-use, EXISTS, UIDL and marker-header parsers,
 * as a reading dialog may meet any of them. Invariants: bounded outputs
 * (UIDs kept, literal sizes, names), NUL-terminated strings, and a marker
 * that parses only in its exact shape. Seeds: tests/fuzz/seeds/
 * reply_mailflow/ (dovecot transcripts).
 */
#include <stdio.h>

#include "fuzz_lines.h"
#include "mailflow_reply.h"

static void check_marker(const struct mailflow_marker *m)
{
    FUZZ_CHECK(mailflow_agent_ok(m->agent));
    FUZZ_CHECK(strlen(m->nonce) == MAILFLOW_NONCE_HEX);
    for (size_t i = 0; i < MAILFLOW_NONCE_HEX; i++)
        FUZZ_CHECK((m->nonce[i] >= '0' && m->nonce[i] <= '9') ||
                   (m->nonce[i] >= 'a' && m->nonce[i] <= 'f'));
    /* What parses formats back to a value that parses to the same. */
    char buf[MAILFLOW_MARKER_MAX + 1];
    struct mailflow_marker again;
    mailflow_marker_format(m, buf, sizeof(buf));
    FUZZ_CHECK(mailflow_marker_parse(buf, strlen(buf), &again) == 0);
    FUZZ_CHECK(strcmp(again.agent, m->agent) == 0 && strcmp(again.nonce, m->nonce) == 0 &&
               again.sent_s == m->sent_s);
}

/* Runs after every line over all the UIDs kept (up to 256): traced, its
 * comparisons were a tenth of the target's time and tell the fuzzer
 * nothing, as they pass on every input (see FUZZ_UNTRACED). */
FUZZ_UNTRACED static void check_uids_nonzero(const struct mailflow_uids *u)
{
    for (size_t i = 0; i < u->n; i++)
        FUZZ_CHECK(u->v[i] != 0);
}

static void one_line(void *ctx, const char *line, size_t len)
{
    struct mailflow_uids *u = ctx;
    uint64_t before = u->total;
    uint32_t uid = 7, n;
    size_t lit = 7;
    char name[MAILFLOW_MAILBOX_NAME_MAX + 1];
    char puid[MAILFLOW_UIDL_MAX + 1];
    struct mailflow_marker m;

    enum mailflow_line l = mailflow_reply_search(line, len, u);
    FUZZ_CHECK((unsigned)l < MAILFLOW_LINE_LAST && l != MAILFLOW_LINE_TOO_BIG);
    FUZZ_CHECK(u->n <= MAILFLOW_UIDS_MAX && u->total >= before && u->n <= u->total);
    check_uids_nonzero(u);
    if (l == MAILFLOW_LINE_OTHER)
        FUZZ_CHECK(u->total == before);

    l = mailflow_reply_fetch(line, len, &uid, &lit);
    FUZZ_CHECK((unsigned)l < MAILFLOW_LINE_LAST);
    FUZZ_CHECK(lit <= MAILFLOW_LITERAL_MAX);
    if (l == MAILFLOW_LINE_MATCH && len > 0)
        FUZZ_CHECK(lit == 0 || memchr(line, '{', len) != NULL);

    l = mailflow_reply_list_junk(line, len, name, sizeof(name));
    FUZZ_CHECK((unsigned)l < MAILFLOW_LINE_LAST && l != MAILFLOW_LINE_TOO_BIG);
    if (l == MAILFLOW_LINE_MATCH) {
        size_t nl = strnlen(name, sizeof(name));
        FUZZ_CHECK(nl > 0 && nl < sizeof(name));
    }

    l = mailflow_reply_exists(line, len, &n);
    FUZZ_CHECK(l == MAILFLOW_LINE_MATCH || l == MAILFLOW_LINE_OTHER);

    l = mailflow_reply_uidl(line, len, &n, puid, sizeof(puid));
    if (l == MAILFLOW_LINE_MATCH) {
        size_t ul = strnlen(puid, sizeof(puid));
        FUZZ_CHECK(n != 0 && ul > 0 && ul <= MAILFLOW_UIDL_MAX);
    }

    int rc = mailflow_marker_header(line, len, &m);
    FUZZ_CHECK(rc >= -1 && rc <= 1);
    if (rc == 1)
        check_marker(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct mailflow_uids u;

    memset(&u, 0, sizeof(u));
    fuzz_lines_each(data, size, one_line, &u);
    return 0;
}
