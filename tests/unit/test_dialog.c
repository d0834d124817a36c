/*
 * Unit tests for agent/probes/dialog.c: the credential encodings the mail dialogs
 * send and the scrubbing that keeps them out of every detail. The dialogs
 * themselves run against real servers and peers in
 * tests/integration/probe_mail_*.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dialog.h"

struct fixture {
    struct probe p;
    struct dialog *d;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    result_init(&f->p.result);
    (void)result_set_str(&f->p.result.check, "imaps://mail.test");
    f->p.user = "probe@mail.test";
    f->p.password = "hunter2-S3cret";
    f->d = dialog_create(&f->p, sizeof(struct dialog), "imap");
    if (f->d == NULL)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    dialog_discard(f->d);
    result_clear(&f->p.result);
    free(f);
    return 0;
}

static void test_create_sets_kind(void **state)
{
    struct fixture *f = *state;
    assert_ptr_equal(f->p.kind, f->d);
    assert_ptr_equal(f->d->p, &f->p);
    assert_true(dialog_wants_login(f->d));
    f->p.password = NULL;
    assert_false(dialog_wants_login(f->d));
}

static void test_secrets_encodings(void **state)
{
    struct fixture *f = *state;
    f->p.user = "u";
    f->p.password = "p";
    assert_int_equal(dialog_secrets(f->d), 0);
    /* RFC 4616: base64("\0u\0p"). */
    assert_string_equal(f->d->b64_plain, "AHUAcA==");
    assert_string_equal(f->d->b64_user, "dQ==");
    assert_string_equal(f->d->b64_pass, "cA==");
}

static void test_secrets_refused(void **state)
{
    struct fixture *f = *state;
    char longpw[DIALOG_CRED_MAX + 2];

    f->p.password = "a\r\nQUIT";
    assert_int_equal(dialog_secrets(f->d), -1);
    f->p.password = "";
    assert_int_equal(dialog_secrets(f->d), -1);
    memset(longpw, 'x', sizeof(longpw) - 1);
    longpw[sizeof(longpw) - 1] = '\0';
    f->p.password = longpw;
    assert_int_equal(dialog_secrets(f->d), -1);
    /* The longest allowed credentials fit the encodings. */
    longpw[DIALOG_CRED_MAX] = '\0';
    char longuser[DIALOG_CRED_MAX + 1];
    memset(longuser, 'u', DIALOG_CRED_MAX);
    longuser[DIALOG_CRED_MAX] = '\0';
    f->p.user = longuser;
    assert_int_equal(dialog_secrets(f->d), 0);
    assert_int_equal(strlen(f->d->b64_plain), ((2 * DIALOG_CRED_MAX + 2 + 2) / 3) * 4);
}

static void test_fail_scrubs_password(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(dialog_secrets(f->d), 0);
    char echo[4 * DIALOG_B64_MAX];
    snprintf(echo, sizeof(echo), "server said: you sent AUTH PLAIN %s / %s / pass %s%s",
             f->d->b64_plain, f->d->b64_pass, f->p.password, f->p.password);
    dialog_fail(f->d, RESULT_AUTH_FAILED, "%s", echo);
    const char *detail = f->p.result.detail;
    assert_non_null(detail);
    assert_null(strstr(detail, f->p.password));
    assert_null(strstr(detail, f->d->b64_plain));
    assert_null(strstr(detail, f->d->b64_pass));
    assert_string_equal(detail, "server said: you sent AUTH PLAIN *** / *** / pass ******");
    assert_int_equal(f->p.result.error, RESULT_AUTH_FAILED);
    assert_false(f->p.result.ok);
}

static void test_fail_scrubs_without_encodings(void **state)
{
    struct fixture *f = *state;
    /* Before dialog_secrets() the password itself is still scrubbed. */
    dialog_fail(f->d, RESULT_PROTO_CLOSED, "* BYE %s", f->p.password);
    assert_string_equal(f->p.result.detail, "* BYE ***");
}

static void test_fail_bounded(void **state)
{
    struct fixture *f = *state;
    char big[3 * RESULT_STR_MAX];
    memset(big, 'y', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    dialog_fail(f->d, RESULT_PROTO_BAD_GREETING, "%s", big);
    assert_int_equal(strlen(f->p.result.detail), RESULT_STR_MAX);
}

static void test_describe_bad(void **state)
{
    (void)state;
    char buf[200];
    dialog_describe_bad(reply_status_text(REPLY_ERR_SYNTAX), "SSH-2.0-x\x1b[0m", 13, buf,
                        sizeof(buf));
    assert_string_equal(buf, "malformed reply line: \"SSH-2.0-x?[0m\"");
    char line[300];
    memset(line, 'z', sizeof(line));
    dialog_describe_bad("invalid constant string", line, sizeof(line), buf, sizeof(buf));
    static const char want[] = "invalid constant string: \"zzz";
    assert_int_equal(strncmp(buf, want, sizeof(want) - 1), 0);
    assert_non_null(strstr(buf, "...\""));
    assert_true(strlen(buf) < 120);
}

static void test_phases_accumulate(void **state)
{
    struct fixture *f = *state;
    dialog_phase_end(f->d, RESULT_PHASE_AUTH); /* without begin: nothing */
    assert_int_equal(f->p.result.phases_us[RESULT_PHASE_AUTH], 0);
    dialog_phase_begin(f->d, RESULT_PHASE_AUTH);
    for (volatile int i = 0; i < 100000; i++)
        ;
    dialog_phase_end(f->d, RESULT_PHASE_AUTH);
    uint64_t first = f->p.result.phases_us[RESULT_PHASE_AUTH];
    dialog_phase_begin(f->d, RESULT_PHASE_AUTH);
    dialog_phase_end(f->d, RESULT_PHASE_AUTH);
    assert_true(f->p.result.phases_us[RESULT_PHASE_AUTH] >= first);
}

static void test_ehlo_name(void **state)
{
    (void)state;
    char name[256];
    dialog_ehlo_name(name, sizeof(name));
    assert_true(strlen(name) > 0);
    assert_non_null(strchr(name, '.'));
    for (const char *s = name; *s != '\0'; s++)
        assert_true((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                    (*s >= '0' && *s <= '9') || *s == '-' || *s == '.');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_sets_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_encodings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_scrubs_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_scrubs_without_encodings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_describe_bad, setup, teardown),
        cmocka_unit_test_setup_teardown(test_phases_accumulate, setup, teardown),
        cmocka_unit_test(test_ehlo_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
