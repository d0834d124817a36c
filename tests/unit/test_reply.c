/*
 * Unit tests for agent/probes/reply.c: the SMTP, IMAP and POP3 reply parsers.
 * The transcripts are what Dovecot 2.3 and Postfix 3.7 sent in
 * tests/servers/ (also the fuzzers' seeds), plus the hostile cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reply.h"

static enum reply_status smtp_line(struct reply_smtp *r, const char *s)
{
    return reply_smtp_feed(r, s, strlen(s));
}

static enum reply_status imap_line(struct reply_imap *r, const char *s)
{
    return reply_imap_feed(r, s, strlen(s));
}

static enum reply_status pop3_line(struct reply_pop3 *r, const char *s)
{
    return reply_pop3_feed(r, s, strlen(s));
}

/* ---- SMTP -------------------------------------------------------------- */

static void test_smtp_banner_single(void **state)
{
    (void)state;
    struct reply_smtp r;
    reply_smtp_init(&r);
    assert_int_equal(smtp_line(&r, "220 mail.example.test ESMTP Postfix (Debian/GNU)\r\n"),
                     REPLY_DONE);
    assert_int_equal(r.code, 220);
    assert_int_equal(reply_smtp_class(&r), 2);
    assert_string_equal(r.text, "220 mail.example.test ESMTP Postfix (Debian/GNU)");
    assert_int_equal(smtp_line(&r, "250 late\r\n"), REPLY_ERR_DONE);
}

static void test_smtp_banner_multiline(void **state)
{
    (void)state;
    struct reply_smtp r;
    reply_smtp_init(&r);
    assert_int_equal(smtp_line(&r, "220-mail.example.test ESMTP\r\n"), REPLY_MORE);
    assert_int_equal(smtp_line(&r, "220-Unauthorised use prohibited\r\n"), REPLY_MORE);
    assert_int_equal(smtp_line(&r, "220 ready\r\n"), REPLY_DONE);
    assert_int_equal(r.code, 220);
    assert_int_equal(r.nlines, 3);
    assert_string_equal(r.text,
                        "220-mail.example.test ESMTP\n220-Unauthorised use prohibited\n220 ready");
    assert_int_equal(r.caps, 0); /* banner lines are not EHLO keywords */
}

static void test_smtp_ehlo_keywords(void **state)
{
    (void)state;
    static const char *const lines[] = {
        "250-mail.example.test\r\n",
        "250-PIPELINING\r\n",
        "250-SIZE 10240000\r\n",
        "250-VRFY\r\n",
        "250-ETRN\r\n",
        "250-STARTTLS\r\n",
        "250-AUTH PLAIN LOGIN\r\n",
        "250-AUTH=PLAIN LOGIN\r\n",
        "250-ENHANCEDSTATUSCODES\r\n",
        "250-8BITMIME\r\n",
        "250-DSN\r\n",
        "250-SMTPUTF8\r\n",
        "250 CHUNKING\r\n",
    };
    struct reply_smtp r;
    reply_smtp_init(&r);
    for (size_t i = 0; i + 1 < sizeof(lines) / sizeof(lines[0]); i++)
        assert_int_equal(smtp_line(&r, lines[i]), REPLY_MORE);
    assert_int_equal(smtp_line(&r, lines[sizeof(lines) / sizeof(lines[0]) - 1]), REPLY_DONE);
    assert_int_equal(r.code, 250);
    assert_true(r.caps & REPLY_CAP_STARTTLS);
    assert_true(r.caps & REPLY_CAP_AUTH);
    assert_true(r.caps & REPLY_CAP_AUTH_PLAIN);
    assert_true(r.caps & REPLY_CAP_AUTH_LOGIN);
    assert_true(r.caps & REPLY_CAP_PIPELINING);
}

static void test_smtp_ehlo_case_and_mechs(void **state)
{
    (void)state;
    struct reply_smtp r;
    reply_smtp_init(&r);
    assert_int_equal(smtp_line(&r, "250-mx\n"), REPLY_MORE);
    assert_int_equal(smtp_line(&r, "250-starttls\n"), REPLY_MORE);
    assert_int_equal(smtp_line(&r, "250 auth cram-md5 xoauth2\n"), REPLY_DONE);
    assert_true(r.caps & REPLY_CAP_STARTTLS);
    assert_true(r.caps & REPLY_CAP_AUTH);
    assert_false(r.caps & REPLY_CAP_AUTH_PLAIN);
    assert_false(r.caps & REPLY_CAP_AUTH_LOGIN);

    /* The server's own name on the first line is not a keyword. */
    reply_smtp_init(&r);
    assert_int_equal(smtp_line(&r, "250-STARTTLS\r\n"), REPLY_MORE);
    assert_int_equal(smtp_line(&r, "250 SIZE\r\n"), REPLY_DONE);
    assert_false(r.caps & REPLY_CAP_STARTTLS);
}

static void test_smtp_enhanced(void **state)
{
    (void)state;
    struct reply_smtp r;
    reply_smtp_init(&r);
    assert_int_equal(
        smtp_line(&r, "535 5.7.8 Error: authentication failed: authentication failure\r\n"),
        REPLY_DONE);
    assert_int_equal(r.code, 535);
    assert_string_equal(r.enhanced, "5.7.8");
    reply_smtp_init(&r);
    assert_int_equal(smtp_line(&r, "250 2.0.0 Ok\r\n"), REPLY_DONE);
    assert_string_equal(r.enhanced, "2.0.0");
    /* Class must match the code; no code at all is fine. */
    reply_smtp_init(&r);
    assert_int_equal(smtp_line(&r, "454 5.7.0 nope\r\n"), REPLY_DONE);
    assert_string_equal(r.enhanced, "");
    reply_smtp_init(&r);
    assert_int_equal(smtp_line(&r, "354\r\n"), REPLY_DONE);
    assert_int_equal(r.code, 354);
    assert_string_equal(r.enhanced, "");
    reply_smtp_init(&r);
    assert_int_equal(smtp_line(&r, "250 2.0.0000 x\r\n"), REPLY_DONE);
    assert_string_equal(r.enhanced, "");
}

static void test_smtp_bad_lines(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "\r\n",
        "22\r\n",
        "2200 x\r\n",
        "220x\r\n",
        "120 x\r\n",
        "620 x\r\n",
        "290 x\r\n",
        "SSH-2.0-OpenSSH_9.2\r\n",
        "HTTP/1.1 400 Bad Request\r\n",
        "* OK IMAP ready\r\n",
        "+OK POP3 ready\r\n",
        "22a x\r\n",
        " 220 x\r\n",
        "220\tx\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct reply_smtp r;
        reply_smtp_init(&r);
        assert_int_equal(smtp_line(&r, bad[i]), REPLY_ERR_SYNTAX);
        assert_int_equal(r.code, 0);
    }
}

static void test_smtp_mismatch(void **state)
{
    (void)state;
    struct reply_smtp r;
    reply_smtp_init(&r);
    assert_int_equal(smtp_line(&r, "250-first\r\n"), REPLY_MORE);
    assert_int_equal(smtp_line(&r, "251 other\r\n"), REPLY_ERR_MISMATCH);
    assert_int_equal(r.code, 250);
    assert_false(r.done);
}

static void test_smtp_nul_and_long(void **state)
{
    (void)state;
    struct reply_smtp r;
    reply_smtp_init(&r);
    assert_int_equal(reply_smtp_feed(&r, "220 a\0b\r\n", 9), REPLY_ERR_NUL);

    size_t n = REPLY_LINE_MAX + 10;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, 'x', n);
    memcpy(big, "220 ", 4);
    reply_smtp_init(&r);
    assert_int_equal(reply_smtp_feed(&r, big, n), REPLY_ERR_TOO_LONG);
    /* Exactly the limit is accepted, and the text is cut to the bound. */
    reply_smtp_init(&r);
    assert_int_equal(reply_smtp_feed(&r, big, REPLY_LINE_MAX), REPLY_DONE);
    assert_int_equal(strlen(r.text), REPLY_TEXT_MAX - 1);
    free(big);

    /* A bare LF inside a line is not an SMTP line. */
    reply_smtp_init(&r);
    assert_int_equal(smtp_line(&r, "220 a\nb\r\n"), REPLY_ERR_SYNTAX);
}

static void test_smtp_too_many_lines(void **state)
{
    (void)state;
    struct reply_smtp r;
    reply_smtp_init(&r);
    for (unsigned i = 0; i < REPLY_LINES_MAX; i++)
        assert_int_equal(smtp_line(&r, "250-X\r\n"), REPLY_MORE);
    assert_int_equal(smtp_line(&r, "250 X\r\n"), REPLY_ERR_TOO_MANY);
    assert_true(strlen(r.text) < REPLY_TEXT_MAX);
}

static void test_smtp_text_printable(void **state)
{
    (void)state;
    struct reply_smtp r;
    reply_smtp_init(&r);
    assert_int_equal(smtp_line(&r, "220 \x1b[31mred\x1b[0m caf\xc3\xa9\r\n"), REPLY_DONE);
    assert_string_equal(r.text, "220 ?[31mred?[0m caf??");
}

/* ---- IMAP -------------------------------------------------------------- */

static void test_imap_greeting_dovecot(void **state)
{
    (void)state;
    struct reply_imap r;
    assert_int_equal(reply_imap_init(&r, NULL), 0);
    assert_int_equal(imap_line(&r,
                               "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE "
                               "IDLE LITERAL+ STARTTLS LOGINDISABLED] Dovecot (Debian) ready.\r\n"),
                     REPLY_DONE);
    assert_int_equal(r.cond, REPLY_IMAP_OK);
    assert_true(r.has_caps);
    assert_true(r.caps & REPLY_CAP_STARTTLS);
    assert_true(r.caps & REPLY_CAP_LOGINDISABLED);
    assert_true(r.caps & REPLY_CAP_SASL_IR);
    assert_true(r.caps & REPLY_CAP_IMAP4REV1);
    assert_false(r.caps & REPLY_CAP_AUTH);
    assert_string_equal(r.code, "CAPABILITY");
    assert_string_equal(r.text, "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE "
                                "IDLE LITERAL+ STARTTLS LOGINDISABLED] Dovecot (Debian) ready.");
}

static void test_imap_greeting_forms(void **state)
{
    (void)state;
    struct reply_imap r;
    assert_int_equal(reply_imap_init(&r, ""), 0);
    assert_int_equal(imap_line(&r, "* PREAUTH IMAP4rev1 server logged in as Smith\r\n"),
                     REPLY_DONE);
    assert_int_equal(r.cond, REPLY_IMAP_PREAUTH);
    assert_false(r.has_caps);

    assert_int_equal(reply_imap_init(&r, NULL), 0);
    assert_int_equal(imap_line(&r, "* BYE Too many connections\r\n"), REPLY_DONE);
    assert_int_equal(r.cond, REPLY_IMAP_BYE);
    assert_true(r.bye);

    assert_int_equal(reply_imap_init(&r, NULL), 0);
    assert_int_equal(imap_line(&r, "* ok\r\n"), REPLY_DONE);
    assert_int_equal(r.cond, REPLY_IMAP_OK);

    static const char *const bad[] = {
        "",
        "\r\n",
        "*\r\n",
        "* \r\n",
        "*OK hi\r\n",
        "* NO go away\r\n",
        "* CAPABILITY IMAP4rev1\r\n",
        "+ go ahead\r\n",
        "A1 OK done\r\n",
        "220 smtp.example ESMTP\r\n",
        "+OK pop3\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(reply_imap_init(&r, NULL), 0);
        assert_int_equal(imap_line(&r, bad[i]), REPLY_ERR_SYNTAX);
        assert_false(r.done);
    }
}

static void test_imap_capability_command(void **state)
{
    (void)state;
    struct reply_imap r;
    assert_int_equal(reply_imap_init(&r, "V1"), 0);
    assert_int_equal(imap_line(&r, "* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE "
                                   "LITERAL+ AUTH=PLAIN AUTH=LOGIN\r\n"),
                     REPLY_MORE);
    assert_int_equal(imap_line(&r, "V1 OK Pre-login capabilities listed, post-login capabilities "
                                   "have more.\r\n"),
                     REPLY_DONE);
    assert_int_equal(r.cond, REPLY_IMAP_OK);
    assert_true(r.has_caps);
    assert_true(r.caps & REPLY_CAP_AUTH_PLAIN);
    assert_true(r.caps & REPLY_CAP_AUTH_LOGIN);
    assert_true(r.caps & REPLY_CAP_AUTH);
    assert_false(r.caps & REPLY_CAP_STARTTLS);
    assert_false(r.caps & REPLY_CAP_LOGINDISABLED);
}

static void test_imap_tagged(void **state)
{
    (void)state;
    struct reply_imap r;
    assert_int_equal(reply_imap_init(&r, "V3"), 0);
    assert_int_equal(imap_line(&r, "V3 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"),
                     REPLY_DONE);
    assert_int_equal(r.cond, REPLY_IMAP_NO);
    assert_string_equal(r.code, "AUTHENTICATIONFAILED");

    assert_int_equal(reply_imap_init(&r, "V3"), 0);
    assert_int_equal(imap_line(&r, "V3 OK [CAPABILITY IMAP4rev1 SASL-IR SORT THREAD=REFERENCES] "
                                   "Logged in\r\n"),
                     REPLY_DONE);
    assert_int_equal(r.cond, REPLY_IMAP_OK);
    assert_true(r.has_caps);
    assert_true(r.caps & REPLY_CAP_IMAP4REV1);

    assert_int_equal(reply_imap_init(&r, "V2"), 0);
    assert_int_equal(imap_line(&r, "V2 BAD Error in IMAP command\r\n"), REPLY_DONE);
    assert_int_equal(r.cond, REPLY_IMAP_BAD);
    assert_string_equal(r.code, "");

    /* A bare "V2 OK" without text is accepted, as servers send it. */
    assert_int_equal(reply_imap_init(&r, "V2"), 0);
    assert_int_equal(imap_line(&r, "V2 OK\r\n"), REPLY_DONE);
    assert_int_equal(r.cond, REPLY_IMAP_OK);
}

static void test_imap_logout_bye(void **state)
{
    (void)state;
    struct reply_imap r;
    assert_int_equal(reply_imap_init(&r, "V4"), 0);
    assert_int_equal(imap_line(&r, "* BYE Logging out\r\n"), REPLY_MORE);
    assert_true(r.bye);
    assert_int_equal(imap_line(&r, "V4 OK Logout completed (0.001 + 0.000 secs).\r\n"), REPLY_DONE);
    assert_int_equal(r.cond, REPLY_IMAP_OK);
}

static void test_imap_continue_and_untagged(void **state)
{
    (void)state;
    struct reply_imap r;
    assert_int_equal(reply_imap_init(&r, "V5"), 0);
    assert_int_equal(imap_line(&r, "+ \r\n"), REPLY_DONE);
    assert_int_equal(r.cond, REPLY_IMAP_CONTINUE);

    assert_int_equal(reply_imap_init(&r, "V5"), 0);
    assert_int_equal(imap_line(&r, "+\r\n"), REPLY_DONE);
    assert_int_equal(r.cond, REPLY_IMAP_CONTINUE);

    assert_int_equal(reply_imap_init(&r, "V5"), 0);
    assert_int_equal(imap_line(&r, "* 23 EXISTS\r\n"), REPLY_MORE);
    assert_int_equal(imap_line(&r, "* OK [ALERT] System shutdown in 10 minutes\r\n"), REPLY_MORE);
    assert_int_equal(imap_line(&r, "* FLAGS (\\Answered \\Flagged)\r\n"), REPLY_MORE);
    assert_int_equal(imap_line(&r, "V5 OK done\r\n"), REPLY_DONE);
    assert_false(r.has_caps);
}

static void test_imap_bad_lines(void **state)
{
    (void)state;
    struct reply_imap r;
    assert_int_equal(reply_imap_init(&r, "V1"), 0);
    assert_int_equal(imap_line(&r, "V9 OK wrong tag\r\n"), REPLY_ERR_MISMATCH);
    assert_int_equal(imap_line(&r, "V1 MAYBE\r\n"), REPLY_ERR_SYNTAX);
    assert_int_equal(imap_line(&r, "V1\r\n"), REPLY_ERR_SYNTAX);
    assert_int_equal(imap_line(&r, " V1 OK\r\n"), REPLY_ERR_SYNTAX);
    assert_int_equal(imap_line(&r, "V1  OK\r\n"), REPLY_ERR_SYNTAX);
    assert_int_equal(imap_line(&r, "V1 O\x01K\r\n"), REPLY_ERR_SYNTAX);
    assert_int_equal(imap_line(&r, "\r\n"), REPLY_ERR_SYNTAX);
    assert_int_equal(reply_imap_feed(&r, "V1 OK \0\r\n", 9), REPLY_ERR_NUL);
    assert_false(r.done);

    /* Bad tags are refused at init. */
    assert_int_equal(reply_imap_init(&r, "A B"), -1);
    assert_int_equal(reply_imap_init(&r, "A*"), -1);
    assert_int_equal(reply_imap_init(&r, "+"), -1);
    assert_int_equal(reply_imap_init(&r, "AAAAAAAAAAAAAAAAAAAAAAAA"), -1);
}

static void test_imap_too_many(void **state)
{
    (void)state;
    struct reply_imap r;
    assert_int_equal(reply_imap_init(&r, "V1"), 0);
    for (unsigned i = 0; i < REPLY_LINES_MAX; i++)
        assert_int_equal(imap_line(&r, "* 1 EXISTS\r\n"), REPLY_MORE);
    assert_int_equal(imap_line(&r, "V1 OK\r\n"), REPLY_ERR_TOO_MANY);
}

static void test_imap_code_bounds(void **state)
{
    (void)state;
    struct reply_imap r;
    char line[256];
    /* A response code longer than REPLY_IMAP_CODE_MAX is dropped, not cut. */
    snprintf(line, sizeof(line), "V1 NO [%0*d] x\r\n", REPLY_IMAP_CODE_MAX + 4, 7);
    assert_int_equal(reply_imap_init(&r, "V1"), 0);
    assert_int_equal(imap_line(&r, line), REPLY_DONE);
    assert_string_equal(r.code, "");
    /* Text a server echoes inside brackets is not an atom, so not kept. */
    assert_int_equal(reply_imap_init(&r, "V1"), 0);
    assert_int_equal(imap_line(&r, "V1 NO [secret=hunter2] x\r\n"), REPLY_DONE);
    assert_string_equal(r.code, "");
    /* An unterminated CAPABILITY code still parses what is there. */
    assert_int_equal(reply_imap_init(&r, NULL), 0);
    assert_int_equal(imap_line(&r, "* OK [CAPABILITY STARTTLS\r\n"), REPLY_DONE);
    assert_true(r.caps & REPLY_CAP_STARTTLS);
}

/* ---- POP3 -------------------------------------------------------------- */

static void test_pop3_greeting(void **state)
{
    (void)state;
    struct reply_pop3 r;
    reply_pop3_init(&r, false);
    assert_int_equal(pop3_line(&r, "+OK Dovecot (Debian) ready.\r\n"), REPLY_DONE);
    assert_true(r.ok);
    assert_string_equal(r.text, "+OK Dovecot (Debian) ready.");

    reply_pop3_init(&r, false);
    assert_int_equal(pop3_line(&r, "-ERR [AUTH] Authentication failed.\r\n"), REPLY_DONE);
    assert_false(r.ok);

    reply_pop3_init(&r, false);
    assert_int_equal(pop3_line(&r, "+OK\r\n"), REPLY_DONE);
    assert_true(r.ok);

    static const char *const bad[] = {
        "", "+OKAY\r\n", "OK\r\n", "-ER\r\n", "* OK imap\r\n", "220 smtp\r\n", "+ \r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        reply_pop3_init(&r, false);
        assert_int_equal(pop3_line(&r, bad[i]), REPLY_ERR_SYNTAX);
    }
}

static void test_pop3_capa(void **state)
{
    (void)state;
    static const char *const lines[] = {
        "+OK\r\n",        "CAPA\r\n",           "TOP\r\n",  "UIDL\r\n", "RESP-CODES\r\n",
        "PIPELINING\r\n", "AUTH-RESP-CODE\r\n", "STLS\r\n", "USER\r\n", "SASL PLAIN LOGIN\r\n",
    };
    struct reply_pop3 r;
    reply_pop3_init(&r, true);
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        assert_int_equal(pop3_line(&r, lines[i]), REPLY_MORE);
    assert_int_equal(pop3_line(&r, ".\r\n"), REPLY_DONE);
    assert_true(r.ok);
    assert_true(r.caps & REPLY_CAP_STARTTLS);
    assert_true(r.caps & REPLY_CAP_USER);
    assert_true(r.caps & REPLY_CAP_AUTH_PLAIN);
    assert_true(r.caps & REPLY_CAP_AUTH_LOGIN);
    assert_true(r.caps & REPLY_CAP_PIPELINING);
    assert_int_equal(pop3_line(&r, "+OK\r\n"), REPLY_ERR_DONE);
}

static void test_pop3_capa_err_and_stuffing(void **state)
{
    (void)state;
    struct reply_pop3 r;
    /* -ERR to CAPA ends the reply at once. */
    reply_pop3_init(&r, true);
    assert_int_equal(pop3_line(&r, "-ERR unknown command\r\n"), REPLY_DONE);
    assert_false(r.ok);
    assert_int_equal(r.caps, 0);

    /* ".STLS" is a dot-stuffed "STLS"; ".." is a stuffed ".", not the end. */
    reply_pop3_init(&r, true);
    assert_int_equal(pop3_line(&r, "+OK\r\n"), REPLY_MORE);
    assert_int_equal(pop3_line(&r, "..\r\n"), REPLY_MORE);
    assert_int_equal(pop3_line(&r, ".STLS\r\n"), REPLY_MORE);
    assert_int_equal(pop3_line(&r, ".\r\n"), REPLY_DONE);
    assert_true(r.caps & REPLY_CAP_STARTTLS);

    /* A CAPA list that never ends is cut by the line bound. */
    reply_pop3_init(&r, true);
    assert_int_equal(pop3_line(&r, "+OK\r\n"), REPLY_MORE);
    for (unsigned i = 1; i < REPLY_LINES_MAX; i++)
        assert_int_equal(pop3_line(&r, "X\r\n"), REPLY_MORE);
    assert_int_equal(pop3_line(&r, ".\r\n"), REPLY_ERR_TOO_MANY);
}

/* ---- misc -------------------------------------------------------------- */

static void test_status_names(void **state)
{
    (void)state;
    for (int s = 0; s < REPLY_STATUS_LAST; s++) {
        assert_non_null(reply_status_name((enum reply_status)s));
        assert_non_null(reply_status_text((enum reply_status)s));
    }
    assert_null(reply_status_name(REPLY_STATUS_LAST));
    assert_false(reply_status_is_error(REPLY_MORE));
    assert_false(reply_status_is_error(REPLY_DONE));
    assert_true(reply_status_is_error(REPLY_ERR_SYNTAX));
    for (int c = 0; c < REPLY_IMAP_COND_LAST; c++)
        assert_non_null(reply_imap_cond_name((enum reply_imap_cond)c));
    assert_null(reply_imap_cond_name(REPLY_IMAP_COND_LAST));
}

static void test_printable(void **state)
{
    (void)state;
    char buf[4];
    assert_int_equal(reply_printable(buf, sizeof(buf), "a\tbcd", 5), 3);
    assert_string_equal(buf, "a?b");
    assert_int_equal(reply_printable(buf, 0, "abc", 3), 0);
    assert_int_equal(reply_printable(buf, 1, "abc", 3), 0);
    assert_string_equal(buf, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smtp_banner_single),
        cmocka_unit_test(test_smtp_banner_multiline),
        cmocka_unit_test(test_smtp_ehlo_keywords),
        cmocka_unit_test(test_smtp_ehlo_case_and_mechs),
        cmocka_unit_test(test_smtp_enhanced),
        cmocka_unit_test(test_smtp_bad_lines),
        cmocka_unit_test(test_smtp_mismatch),
        cmocka_unit_test(test_smtp_nul_and_long),
        cmocka_unit_test(test_smtp_too_many_lines),
        cmocka_unit_test(test_smtp_text_printable),
        cmocka_unit_test(test_imap_greeting_dovecot),
        cmocka_unit_test(test_imap_greeting_forms),
        cmocka_unit_test(test_imap_capability_command),
        cmocka_unit_test(test_imap_tagged),
        cmocka_unit_test(test_imap_logout_bye),
        cmocka_unit_test(test_imap_continue_and_untagged),
        cmocka_unit_test(test_imap_bad_lines),
        cmocka_unit_test(test_imap_too_many),
        cmocka_unit_test(test_imap_code_bounds),
        cmocka_unit_test(test_pop3_greeting),
        cmocka_unit_test(test_pop3_capa),
        cmocka_unit_test(test_pop3_capa_err_and_stuffing),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_printable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
