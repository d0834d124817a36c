/*
 * Unit tests for common/enroll_line.c: a formatted line parses back to the
 * same fields; a line cut short, altered in any one character, or not an
 * enrollment line at all is refused with a sentence saying what to do;
 * the secret hash is SHA-256; invalid fields are not formatted. Also the
 * Enroll/Enrolled wire messages round-trip (common/wire_msg.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enroll_line.h"
#include "wire.h"

#define Z85_KEY "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"

static void fill(struct enroll_line *l)
{
    memset(l, 0, sizeof(*l));
    strcpy(l->endpoint, "tcp://collector.example.net:7400");
    strcpy(l->server_key, Z85_KEY);
    strcpy(l->name, "lyon-pc1");
    strcpy(l->site, "lyon");
    assert_int_equal(enroll_secret_new(l->secret), 0);
    l->expires = 1800000000;
}

static void test_round_trip(void **state)
{
    (void)state;
    struct enroll_line l, back;
    char text[ENROLL_LINE_MAX], err[512];
    fill(&l);
    assert_int_equal(enroll_line_format(&l, text, sizeof(text)), 0);
    assert_int_equal(strncmp(text, ENROLL_LINE_PREFIX, strlen(ENROLL_LINE_PREFIX)), 0);
    assert_null(strchr(text, ' '));
    assert_int_equal(enroll_line_parse(text, &back, err, sizeof(err)), 0);
    assert_string_equal(back.endpoint, l.endpoint);
    assert_string_equal(back.server_key, l.server_key);
    assert_string_equal(back.name, l.name);
    assert_string_equal(back.site, l.site);
    assert_string_equal(back.secret, l.secret);
    assert_int_equal(back.expires, l.expires);

    /* Pasted whole, with the command in front and a newline behind. */
    char pasted[ENROLL_LINE_MAX + 64];
    snprintf(pasted, sizeof(pasted), "  vantage-agent enroll %s\n", text);
    assert_int_equal(enroll_line_parse(pasted, &back, err, sizeof(err)), 0);
    assert_string_equal(back.secret, l.secret);

    /* No site. */
    l.site[0] = '\0';
    assert_int_equal(enroll_line_format(&l, text, sizeof(text)), 0);
    assert_int_equal(enroll_line_parse(text, &back, err, sizeof(err)), 0);
    assert_string_equal(back.site, "");
}

static void test_every_one_character_change_is_refused(void **state)
{
    (void)state;
    struct enroll_line l, back;
    char text[ENROLL_LINE_MAX], err[512];
    fill(&l);
    assert_int_equal(enroll_line_format(&l, text, sizeof(text)), 0);
    size_t len = strlen(text), plen = strlen(ENROLL_LINE_PREFIX);
    for (size_t i = plen; i < len; i++) {
        char copy[ENROLL_LINE_MAX];
        strcpy(copy, text);
        copy[i] = copy[i] == 'A' ? 'B' : 'A';
        err[0] = '\0';
        int rc = enroll_line_parse(copy, &back, err, sizeof(err));
        /* Changing a base64 padding bit may decode to the same bytes:
         * then the line is the same line. */
        if (rc == 0) {
            assert_string_equal(back.secret, l.secret);
            assert_string_equal(back.endpoint, l.endpoint);
            continue;
        }
        assert_non_null(strstr(err, "copy it again"));
    }
    /* Cut short anywhere. */
    for (size_t n = 0; n < len; n++) {
        char copy[ENROLL_LINE_MAX];
        memcpy(copy, text, n);
        copy[n] = '\0';
        assert_int_equal(enroll_line_parse(copy, &back, err, sizeof(err)), -1);
    }
}

static void test_not_a_line(void **state)
{
    (void)state;
    struct enroll_line back;
    char err[512];
    assert_int_equal(enroll_line_parse("hello", &back, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "vantage-collector enroll"));
    assert_int_equal(enroll_line_parse("vantage1:!!!!", &back, err, sizeof(err)), -1);
    assert_int_equal(enroll_line_parse("vantage1:AAAA extra", &back, err, sizeof(err)), -1);
    assert_int_equal(enroll_line_parse("", &back, err, sizeof(err)), -1);
}

static void test_invalid_fields_not_formatted(void **state)
{
    (void)state;
    struct enroll_line l;
    char text[ENROLL_LINE_MAX];
    fill(&l);
    strcpy(l.name, "bad name");
    assert_int_equal(enroll_line_format(&l, text, sizeof(text)), -1);
    fill(&l);
    strcpy(l.endpoint, "ipc:///tmp/x");
    assert_int_equal(enroll_line_format(&l, text, sizeof(text)), -1);
    fill(&l);
    strcpy(l.server_key, "short");
    assert_int_equal(enroll_line_format(&l, text, sizeof(text)), -1);
    fill(&l);
    assert_int_equal(enroll_line_format(&l, text, 20), -1);
}

static void test_secret_hash(void **state)
{
    (void)state;
    char hash[ENROLL_HASH_HEX + 1];
    enroll_secret_hash("abc", hash);
    assert_string_equal(hash, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    char a[ENROLL_SECRET_HEX + 1], b[ENROLL_SECRET_HEX + 1];
    assert_int_equal(enroll_secret_new(a), 0);
    assert_int_equal(enroll_secret_new(b), 0);
    assert_int_equal(strlen(a), ENROLL_SECRET_HEX);
    assert_string_not_equal(a, b);
    assert_true(enroll_name_valid("lyon-pc1.corp_2"));
    assert_false(enroll_name_valid("a/b"));
    assert_false(enroll_name_valid(""));
}

static void test_wire_round_trip(void **state)
{
    (void)state;
    struct wire_msg m = {.kind = WIRE_ENROLL, .agent = "b1"};
    m.u.enroll.name = "b1";
    m.u.enroll.secret = "00ff";
    m.u.enroll.site = "lyon";
    m.u.enroll.version = "0.1.0";
    uint8_t *buf;
    size_t len;
    char err[256];
    assert_int_equal(wire_msg_encode(&m, &buf, &len), 0);
    struct wire_msg *d = wire_msg_decode(buf, len, err, sizeof(err));
    free(buf);
    assert_non_null(d);
    assert_int_equal(d->kind, WIRE_ENROLL);
    assert_string_equal(d->u.enroll.secret, "00ff");
    assert_string_equal(d->u.enroll.site, "lyon");
    wire_msg_free(&d);

    struct wire_msg r = {.kind = WIRE_ENROLLED};
    r.u.enrolled.error = "no";
    assert_int_equal(wire_msg_encode(&r, &buf, &len), 0);
    d = wire_msg_decode(buf, len, err, sizeof(err));
    free(buf);
    assert_non_null(d);
    assert_int_equal(d->kind, WIRE_ENROLLED);
    assert_false(d->u.enrolled.ok);
    assert_string_equal(d->u.enrolled.error, "no");
    assert_string_equal(wire_kind_name(d->kind), "enrolled");
    wire_msg_free(&d);

    /* A secret longer than any we make is refused at decode. */
    char longsecret[WIRE_ENROLL_SECRET_MAX + 2];
    memset(longsecret, 'a', sizeof(longsecret) - 1);
    longsecret[sizeof(longsecret) - 1] = '\0';
    m.u.enroll.secret = longsecret;
    assert_int_equal(wire_msg_encode(&m, &buf, &len), 0);
    d = wire_msg_decode(buf, len, err, sizeof(err));
    free(buf);
    assert_null(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_every_one_character_change_is_refused),
        cmocka_unit_test(test_not_a_line),
        cmocka_unit_test(test_invalid_fields_not_formatted),
        cmocka_unit_test(test_secret_hash),
        cmocka_unit_test(test_wire_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
