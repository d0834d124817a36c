/*
 * Unit tests for agent/probes/mailflow_reply.c: the test message's marker (format,
 * uniqueness, strict parsing), the message itself, and the bounded parsers
 * of SEARCH, FETCH literals, LIST special-use, EXISTS and UIDL lines.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailflow_reply.h"

#define L(s) (s), strlen(s)

static void test_marker_format(void **state)
{
    (void)state;
    struct mailflow_marker m, back;
    char text[MAILFLOW_MARKER_MAX + 1];

    assert_int_equal(mailflow_marker_new("lyon-pc1", 1796401164, &m), 0);
    assert_string_equal(m.agent, "lyon-pc1");
    assert_int_equal(strlen(m.nonce), MAILFLOW_NONCE_HEX);
    assert_int_equal(strspn(m.nonce, "0123456789abcdef"), MAILFLOW_NONCE_HEX);
    mailflow_marker_format(&m, text, sizeof(text));
    char want[128];
    snprintf(want, sizeof(want), "lyon-pc1 %s 1796401164", m.nonce);
    assert_string_equal(text, want);
    assert_int_equal(mailflow_marker_parse(L(text), &back), 0);
    assert_string_equal(back.agent, m.agent);
    assert_string_equal(back.nonce, m.nonce);
    assert_int_equal(back.sent_s, 1796401164);

    /* Names a marker cannot carry. */
    assert_int_equal(mailflow_marker_new("", 1, &m), -1);
    assert_int_equal(mailflow_marker_new("two words", 1, &m), -1);
    assert_int_equal(mailflow_marker_new("a\"b", 1, &m), -1);
    char longname[MAILFLOW_AGENT_MAX + 2];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(mailflow_marker_new(longname, 1, &m), -1);
    longname[MAILFLOW_AGENT_MAX] = '\0';
    assert_int_equal(mailflow_marker_new(longname, 1, &m), 0);
}

/* 128 random bits: a thousand markers never repeat, and every hex digit
 * shows up in every position's neighbourhood (no constant nibble). */
static void test_marker_unique(void **state)
{
    (void)state;
    enum { N = 1000 };
    static char seen[N][MAILFLOW_NONCE_HEX + 1];
    unsigned digits[16] = {0};

    for (int i = 0; i < N; i++) {
        struct mailflow_marker m;
        assert_int_equal(mailflow_marker_new("a1", 1, &m), 0);
        for (int k = 0; k < i; k++)
            assert_string_not_equal(seen[k], m.nonce);
        memcpy(seen[i], m.nonce, sizeof(seen[i]));
        for (int k = 0; k < MAILFLOW_NONCE_HEX; k++)
            digits[m.nonce[k] <= '9' ? m.nonce[k] - '0' : m.nonce[k] - 'a' + 10]++;
    }
    /* 32000 digits, 2000 expected each: a broken RNG is far off. */
    for (int d = 0; d < 16; d++)
        assert_true(digits[d] > 1500 && digits[d] < 2500);
}

static void test_marker_parse_strict(void **state)
{
    (void)state;
    struct mailflow_marker m;
    const char *nonce = "0123456789abcdef0123456789abcdef";
    char buf[256];

    snprintf(buf, sizeof(buf), "  a1 %s 42 \t", nonce);
    assert_int_equal(mailflow_marker_parse(L(buf), &m), 0);
    assert_string_equal(m.agent, "a1");
    assert_int_equal(m.sent_s, 42);
    static const char *const bad[] = {
        "",
        "a1",
        "a1 0123456789abcdef0123456789abcdef",
        "a1 0123456789abcdef0123456789abcdef x",
        "a1 0123456789ABCDEF0123456789ABCDEF 1",             /* upper case: not ours */
        "a1 0123456789abcdef0123456789abcde 1",              /* 31 digits */
        "a1 0123456789abcdef0123456789abcdef0 1",            /* 33 digits */
        "a1 0123456789abcdef0123456789abcdef 1 x",           /* trailing word */
        "a1  0123456789abcdef0123456789abcdef 1",            /* two spaces */
        "a\"1 0123456789abcdef0123456789abcdef 1",           /* not a name */
        "a1 0123456789abcdef0123456789abcdef 1234567890123", /* 13 digits of time */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (mailflow_marker_parse(L(bad[i]), &m) == 0)
            fail_msg("'%s' parsed as a marker", bad[i]);

    snprintf(buf, sizeof(buf), "X-Vantage-Probe: a1 %s 42\r\n", nonce);
    assert_int_equal(mailflow_marker_header(L(buf), &m), 1);
    snprintf(buf, sizeof(buf), "x-vantage-probe :a1 %s 42", nonce);
    assert_int_equal(mailflow_marker_header(L(buf), &m), 1);
    assert_int_equal(mailflow_marker_header(L("X-Vantage-Probe: a1 forged"), &m), -1);
    assert_int_equal(mailflow_marker_header(L("X-Vantage-Probe-Other: x"), &m), 0);
    assert_int_equal(mailflow_marker_header(L("Subject: X-Vantage-Probe: a1"), &m), 0);
    assert_int_equal(mailflow_marker_header(L(""), &m), 0);
}

static void test_message(void **state)
{
    (void)state;
    char buf[MAILFLOW_MESSAGE_MAX];
    struct mailflow_message_params p = {
        .from = "probe@example.com",
        .to = "probe@example.com",
        .agent = "a1",
        .marker = "a1 0123456789abcdef0123456789abcdef 1796401164",
        .message_id = "<0123456789abcdef0123456789abcdef.1796401164@vantage>",
        .now_s = 1796401164,
    };
    int n = mailflow_message(&p, buf, sizeof(buf));
    assert_true(n > 0 && (size_t)n == strlen(buf));
    assert_non_null(strstr(buf, "Date: Fri, 04 Dec 2026 16:19:24 +0000\r\n"));
    assert_non_null(
        strstr(buf, "\r\nMessage-ID: <0123456789abcdef0123456789abcdef.1796401164@vantage>\r\n"));
    assert_non_null(
        strstr(buf, "\r\nX-Vantage-Probe: a1 0123456789abcdef0123456789abcdef 1796401164\r\n"));
    assert_non_null(strstr(buf, "\r\nTo: <probe@example.com>\r\n"));
    assert_non_null(strstr(buf, "\r\nSubject: Vantage delivery test from a1\r\n"));
    /* A body, CRLF everywhere, no line that SMTP would end the data at. */
    const char *body = strstr(buf, "\r\n\r\n");
    assert_non_null(body);
    assert_true(strlen(body + 4) > 40);
    for (const char *s = buf; *s; s++) {
        if (*s == '\n')
            assert_true(s > buf && s[-1] == '\r');
        if (*s == '\n')
            assert_true(s[1] != '.');
    }
    p.to = "x@example.com\r\nBcc: victim@example.com";
    assert_int_equal(mailflow_message(&p, buf, sizeof(buf)), -1);
    p.to = "probe@example.com";
    assert_int_equal(mailflow_message(&p, buf, 100), -1);
}

static void test_search(void **state)
{
    (void)state;
    struct mailflow_uids u;
    memset(&u, 0, sizeof(u));

    assert_int_equal(mailflow_reply_search(L("* SEARCH 3 17 23\r\n"), &u), MAILFLOW_LINE_MATCH);
    assert_int_equal(u.n, 3);
    assert_int_equal(u.v[1], 17);
    assert_int_equal(mailflow_reply_search(L("* SEARCH"), &u), MAILFLOW_LINE_MATCH);
    assert_int_equal(mailflow_reply_search(L("* search 5 (MODSEQ 12)"), &u), MAILFLOW_LINE_MATCH);
    assert_int_equal(u.n, 4);
    assert_int_equal(mailflow_reply_search(L("* 3 EXISTS"), &u), MAILFLOW_LINE_OTHER);
    assert_int_equal(mailflow_reply_search(L("M4 OK done"), &u), MAILFLOW_LINE_OTHER);
    assert_int_equal(mailflow_reply_search(L("* SEARCH 1 x"), &u), MAILFLOW_LINE_BAD);
    assert_int_equal(mailflow_reply_search(L("* SEARCH 0"), &u), MAILFLOW_LINE_BAD);
    assert_int_equal(mailflow_reply_search(L("* SEARCH 4294967296"), &u), MAILFLOW_LINE_BAD);
    assert_int_equal(mailflow_reply_search(L("* SEARCH 1  2"), &u), MAILFLOW_LINE_BAD);

    /* An endless SEARCH: memory stays at MAILFLOW_UIDS_MAX, the highest
     * UIDs are kept. */
    memset(&u, 0, sizeof(u));
    size_t cap = 64 * 1024;
    char *big = malloc(cap);
    size_t used = (size_t)snprintf(big, cap, "* SEARCH");
    uint32_t v = 1;
    while (used + 12 < cap)
        used += (size_t)snprintf(big + used, cap - used, " %u", v++);
    assert_int_equal(mailflow_reply_search(big, used, &u), MAILFLOW_LINE_MATCH);
    assert_int_equal(u.n, MAILFLOW_UIDS_MAX);
    assert_int_equal(u.total, v - 1);
    for (size_t i = 0; i < u.n; i++)
        assert_true(u.v[i] >= v - MAILFLOW_UIDS_MAX);

    /* In any order, over many lines: exactly the highest are kept, each
     * once (a server may sort SEARCH results as it likes). */
    const uint32_t all = 5 * MAILFLOW_UIDS_MAX + 3;
    memset(&u, 0, sizeof(u));
    for (uint32_t i = 0, x = 0; i < all; i++) {
        x = (x + 2 * MAILFLOW_UIDS_MAX + 1) % all; /* coprime step: each of 0..all-1 once */
        char line[32];
        int n = snprintf(line, sizeof(line), "* SEARCH %u\r\n", x + 1);
        assert_int_equal(mailflow_reply_search(line, (size_t)n, &u), MAILFLOW_LINE_MATCH);
    }
    assert_int_equal(u.n, MAILFLOW_UIDS_MAX);
    assert_int_equal(u.total, all);
    bool seen[MAILFLOW_UIDS_MAX] = {false};
    for (size_t i = 0; i < u.n; i++) {
        assert_true(u.v[i] > all - MAILFLOW_UIDS_MAX && u.v[i] <= all);
        size_t k = u.v[i] - (all - MAILFLOW_UIDS_MAX) - 1;
        assert_false(seen[k]);
        seen[k] = true;
    }
    free(big);
}

static void test_fetch(void **state)
{
    (void)state;
    uint32_t uid;
    size_t lit;

    assert_int_equal(
        mailflow_reply_fetch(L("* 1 FETCH (UID 17 BODY[HEADER.FIELDS (X-VANTAGE-PROBE)] {72}\r\n"),
                             &uid, &lit),
        MAILFLOW_LINE_MATCH);
    assert_int_equal(uid, 17);
    assert_int_equal(lit, 72);
    assert_int_equal(mailflow_reply_fetch(L("* 2 FETCH (FLAGS (\\Seen) UID 9)"), &uid, &lit),
                     MAILFLOW_LINE_MATCH);
    assert_int_equal(uid, 9);
    assert_int_equal(lit, 0);
    assert_int_equal(mailflow_reply_fetch(L("* 2 FETCH (FLAGS (\\Seen))"), &uid, &lit),
                     MAILFLOW_LINE_MATCH);
    assert_int_equal(uid, 0);
    assert_int_equal(mailflow_reply_fetch(L("* 2 FETCH (UID 3 BODY[] {8193}"), &uid, &lit),
                     MAILFLOW_LINE_TOO_BIG);
    assert_int_equal(mailflow_reply_fetch(L("* 2 FETCH (UID 3 BODY[] {99999999999}"), &uid, &lit),
                     MAILFLOW_LINE_BAD);
    assert_int_equal(mailflow_reply_fetch(L("* 2 FETCH (UID 3 BODY[] {12x}"), &uid, &lit),
                     MAILFLOW_LINE_BAD);
    assert_int_equal(mailflow_reply_fetch(L("* 2 FETCH (UID 0)"), &uid, &lit), MAILFLOW_LINE_BAD);
    assert_int_equal(mailflow_reply_fetch(L("* 2 FETCH UID 3"), &uid, &lit), MAILFLOW_LINE_BAD);
    assert_int_equal(mailflow_reply_fetch(L("* 2 EXPUNGE"), &uid, &lit), MAILFLOW_LINE_OTHER);
    assert_int_equal(mailflow_reply_fetch(L("* SEARCH 2"), &uid, &lit), MAILFLOW_LINE_OTHER);
}

static void test_list_junk(void **state)
{
    (void)state;
    char name[MAILFLOW_MAILBOX_NAME_MAX + 1];

    assert_int_equal(mailflow_reply_list_junk(L("* LIST (\\HasNoChildren \\Junk) \"/\" Junk\r\n"),
                                              name, sizeof(name)),
                     MAILFLOW_LINE_MATCH);
    assert_string_equal(name, "Junk");
    assert_int_equal(mailflow_reply_list_junk(L("* LIST (\\Junk) \".\" \"INBOX.Spam \\\"x\\\"\""),
                                              name, sizeof(name)),
                     MAILFLOW_LINE_MATCH);
    assert_string_equal(name, "INBOX.Spam \"x\"");
    assert_int_equal(mailflow_reply_list_junk(L("* LIST (\\junk) NIL Spam"), name, sizeof(name)),
                     MAILFLOW_LINE_MATCH);
    assert_int_equal(mailflow_reply_list_junk(L("* LIST (\\HasNoChildren \\Trash) \"/\" Trash"),
                                              name, sizeof(name)),
                     MAILFLOW_LINE_OTHER);
    assert_int_equal(
        mailflow_reply_list_junk(L("* LIST (\\Junkmail) \"/\" Trash"), name, sizeof(name)),
        MAILFLOW_LINE_OTHER);
    assert_int_equal(mailflow_reply_list_junk(L("* LIST (\\Junk) \"/\" {4}"), name, sizeof(name)),
                     MAILFLOW_LINE_BAD);
    assert_int_equal(mailflow_reply_list_junk(L("* LIST (\\Junk \"/\" Junk"), name, sizeof(name)),
                     MAILFLOW_LINE_BAD);
    assert_int_equal(
        mailflow_reply_list_junk(L("* LIST (\\Junk) \"/\" \"Junk"), name, sizeof(name)),
        MAILFLOW_LINE_BAD);
    assert_int_equal(mailflow_reply_list_junk(L("* LSUB (\\Junk) \"/\" Junk"), name, sizeof(name)),
                     MAILFLOW_LINE_OTHER);
    /* A name longer than the buffer is refused, not cut. */
    char small[4];
    assert_int_equal(
        mailflow_reply_list_junk(L("* LIST (\\Junk) \"/\" Junk"), small, sizeof(small)),
        MAILFLOW_LINE_BAD);
}

static void test_exists_uidl(void **state)
{
    (void)state;
    uint32_t n;
    char uid[MAILFLOW_UIDL_MAX + 1];

    assert_int_equal(mailflow_reply_exists(L("* 23 EXISTS\r\n"), &n), MAILFLOW_LINE_MATCH);
    assert_int_equal(n, 23);
    assert_int_equal(mailflow_reply_exists(L("* 23 RECENT"), &n), MAILFLOW_LINE_OTHER);
    assert_int_equal(mailflow_reply_exists(L("* 23 EXISTSX"), &n), MAILFLOW_LINE_OTHER);

    assert_int_equal(mailflow_reply_uidl(L("2 000000024f3b1d2a\r\n"), &n, uid, sizeof(uid)),
                     MAILFLOW_LINE_MATCH);
    assert_int_equal(n, 2);
    assert_string_equal(uid, "000000024f3b1d2a");
    assert_int_equal(mailflow_reply_uidl(L("0 x"), &n, uid, sizeof(uid)), MAILFLOW_LINE_BAD);
    assert_int_equal(mailflow_reply_uidl(L("2 has space"), &n, uid, sizeof(uid)),
                     MAILFLOW_LINE_BAD);
    assert_int_equal(mailflow_reply_uidl(L("2 "), &n, uid, sizeof(uid)), MAILFLOW_LINE_BAD);
    char longuid[100];
    memset(longuid, 'u', sizeof(longuid));
    memcpy(longuid, "1 ", 2);
    assert_int_equal(mailflow_reply_uidl(longuid, 73, &n, uid, sizeof(uid)), MAILFLOW_LINE_BAD);
    assert_int_equal(mailflow_reply_uidl(longuid, 72, &n, uid, sizeof(uid)), MAILFLOW_LINE_MATCH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_marker_format),
        cmocka_unit_test(test_marker_unique),
        cmocka_unit_test(test_marker_parse_strict),
        cmocka_unit_test(test_message),
        cmocka_unit_test(test_search),
        cmocka_unit_test(test_fetch),
        cmocka_unit_test(test_list_junk),
        cmocka_unit_test(test_exists_uidl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
