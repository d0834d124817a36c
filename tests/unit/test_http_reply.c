/*
 * Unit tests for agent/probes/http_reply.c: the head of an HTTP response, fed line
 * by line as conn delivers it (line ends stripped). The transcripts are
 * what nginx 1.22 sends in tests/servers/, plus the hostile cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_reply.h"

/* Feeds NULL-terminated lines; returns the status of the last one fed
 * (stops at the first that is not REPLY_MORE). */
static enum reply_status feed(struct http_reply *r, const char *const *lines)
{
    enum reply_status st = REPLY_MORE;

    for (size_t i = 0; lines[i] != NULL && st == REPLY_MORE; i++)
        st = http_reply_feed(r, lines[i], strlen(lines[i]));
    return st;
}

static void test_nginx_ok(void **state)
{
    (void)state;
    static const char *const head[] = {"HTTP/1.1 200 OK",
                                       "Server: nginx/1.22.1",
                                       "Date: Fri, 27 Nov 2026 05:51:29 GMT",
                                       "Content-Type: text/plain",
                                       "Content-Length: 11",
                                       "Connection: close",
                                       "",
                                       NULL};
    struct http_reply r;
    char line[64];

    http_reply_init(&r);
    assert_int_equal(feed(&r, head), REPLY_DONE);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.major, 1);
    assert_int_equal(r.minor, 1);
    assert_string_equal(r.reason, "OK");
    assert_string_equal(r.server, "nginx/1.22.1");
    assert_string_equal(r.location, "");
    http_reply_status_line(&r, line, sizeof(line));
    assert_string_equal(line, "HTTP/1.1 200 OK");
    /* The body is not ours to read. */
    assert_int_equal(http_reply_feed(&r, "webmail ok", 10), REPLY_ERR_DONE);
}

static void test_redirect_location(void **state)
{
    (void)state;
    static const char *const head[] = {"HTTP/1.0 302 Moved Temporarily",
                                       "location: https://mail.test:8443/", "SERVER: Apache", "",
                                       NULL};
    struct http_reply r;

    http_reply_init(&r);
    assert_int_equal(feed(&r, head), REPLY_DONE);
    assert_int_equal(r.status, 302);
    assert_int_equal(r.minor, 0);
    assert_string_equal(r.location, "https://mail.test:8443/");
    assert_string_equal(r.server, "Apache");
}

static void test_interim_skipped(void **state)
{
    (void)state;
    /* 103 Early Hints carries its own fields; only the final head counts. */
    static const char *const head[] = {"HTTP/1.1 103 Early Hints",
                                       "Link: </style.css>; rel=preload",
                                       "Server: early",
                                       "",
                                       "HTTP/1.1 100 Continue",
                                       "",
                                       "HTTP/1.1 404 Not Found",
                                       "Content-Length: 0",
                                       "",
                                       NULL};
    struct http_reply r;

    http_reply_init(&r);
    assert_int_equal(feed(&r, head), REPLY_DONE);
    assert_int_equal(r.status, 404);
    assert_int_equal(r.interim, 2);
    assert_string_equal(r.reason, "Not Found");
    assert_string_equal(r.server, "");
}

static void test_switching_protocols_is_final(void **state)
{
    (void)state;
    static const char *const head[] = {"HTTP/1.1 101 Switching Protocols", "Upgrade: h2c", "",
                                       NULL};
    struct http_reply r;

    http_reply_init(&r);
    assert_int_equal(feed(&r, head), REPLY_DONE);
    assert_int_equal(r.status, 101);
}

static void test_fields_in_any_case_and_repeated(void **state)
{
    (void)state;
    static const char *const head[] = {"HTTP/1.1 301 Moved Permanently",
                                       "LoCaTiOn: /first",
                                       "X-Server: not-this-one",
                                       "Servers: nor-this",
                                       "Location: /second",
                                       "",
                                       NULL};
    struct http_reply r;

    http_reply_init(&r);
    assert_int_equal(feed(&r, head), REPLY_DONE);
    assert_string_equal(r.location, "/second");
    assert_string_equal(r.server, "");
}

static void test_not_http(void **state)
{
    (void)state;
    struct http_reply r;
    static const char *const imap[] = {"* OK [CAPABILITY IMAP4rev1] Dovecot ready.", NULL};
    static const char *const smtp[] = {"220 mail.test ESMTP Postfix", NULL};

    http_reply_init(&r);
    assert_int_equal(feed(&r, imap), REPLY_ERR_SYNTAX);
    assert_non_null(r.error);
    http_reply_init(&r);
    assert_int_equal(feed(&r, smtp), REPLY_ERR_SYNTAX);
    http_reply_init(&r);
    static const char *const bad_code[] = {"HTTP/1.1 2x0 OK", NULL};
    assert_int_equal(feed(&r, bad_code), REPLY_ERR_SYNTAX);
    http_reply_init(&r);
    static const char *const short_code[] = {"HTTP/1.1 3 Early", "", NULL};
    assert_int_equal(feed(&r, short_code), REPLY_ERR_SYNTAX);
    assert_string_equal(r.error, "the status code is not three digits");
    http_reply_init(&r);
    static const char *const bad_field[] = {"HTTP/1.1 200 OK", "no colon here", "", NULL};
    assert_int_equal(feed(&r, bad_field), REPLY_ERR_SYNTAX);
}

static void test_nul_and_length_bounds(void **state)
{
    (void)state;
    struct http_reply r;
    char *big = malloc(HTTP_REPLY_LINE_MAX + 1);

    assert_non_null(big);
    http_reply_init(&r);
    assert_int_equal(http_reply_feed(&r, "HTTP/1.1 200\0OK", 15), REPLY_ERR_NUL);

    http_reply_init(&r);
    assert_int_equal(http_reply_feed(&r, "HTTP/1.1 200 OK", 15), REPLY_MORE);
    memcpy(big, "X-Long: ", 8);
    memset(big + 8, 'a', HTTP_REPLY_LINE_MAX + 1 - 8);
    assert_int_equal(http_reply_feed(&r, big, HTTP_REPLY_LINE_MAX + 1), REPLY_ERR_TOO_LONG);

    /* A Server field longer than its buffer is cut, not an error. */
    http_reply_init(&r);
    assert_int_equal(http_reply_feed(&r, "HTTP/1.1 200 OK", 15), REPLY_MORE);
    memcpy(big, "Server: ", 8);
    memset(big + 8, 's', 1000);
    assert_int_equal(http_reply_feed(&r, big, 1008), REPLY_MORE);
    assert_int_equal(http_reply_feed(&r, "", 0), REPLY_DONE);
    assert_int_equal(strlen(r.server), HTTP_REPLY_TEXT_MAX - 1);
    free(big);
}

static void test_too_many_lines(void **state)
{
    (void)state;
    struct http_reply r;
    enum reply_status st;
    unsigned n = 0;

    http_reply_init(&r);
    st = http_reply_feed(&r, "HTTP/1.1 200 OK", 15);
    while (st == REPLY_MORE && n++ < 10 * HTTP_REPLY_LINES_MAX)
        st = http_reply_feed(&r, "X-A: b", 6);
    assert_int_equal(st, REPLY_ERR_TOO_MANY);
    assert_int_equal(n, HTTP_REPLY_LINES_MAX);
}

static void test_unprintable_text_replaced(void **state)
{
    (void)state;
    static const char *const head[] = {"HTTP/1.1 503 Serv\x01\xff", "Server: a\tb", "", NULL};
    struct http_reply r;

    http_reply_init(&r);
    assert_int_equal(feed(&r, head), REPLY_DONE);
    assert_int_equal(r.status, 503);
    for (const char *p = r.reason; *p != '\0'; p++)
        assert_true(*p >= 0x20 && *p < 0x7f);
    assert_string_equal(r.server, "a?b");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nginx_ok),
        cmocka_unit_test(test_redirect_location),
        cmocka_unit_test(test_interim_skipped),
        cmocka_unit_test(test_switching_protocols_is_final),
        cmocka_unit_test(test_fields_in_any_case_and_repeated),
        cmocka_unit_test(test_not_http),
        cmocka_unit_test(test_nul_and_length_bounds),
        cmocka_unit_test(test_too_many_lines),
        cmocka_unit_test(test_unprintable_text_replaced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
