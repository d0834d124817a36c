/*
 * Unit tests of collector/notify/notifier.c's payloads: the webhook body,
 * the Alertmanager API v2 alerts, and the HMAC-SHA256 signature.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "notifier.h"

static const char finding[] =
    "{\"id\":\"f-0123456789abcdef\",\"severity\":\"problem\",\"verdict\":\"service\","
    "\"layer\":null,\"started_at\":\"2026-11-27T09:41:10Z\",\"summary\":\"IMAPS is down\","
    "\"evidence\":[\"refused from hq\",\"refused from branch\"],\"next_steps\":[\"restart "
    "dovecot\"]}";

/* RFC 4231, test case 2. */
static void test_signature(void **state)
{
    (void)state;
    char out[80];
    assert_int_equal(
        notifier_signature("Jefe", 4, "what do ya want for nothing?", out, sizeof(out)), 0);
    assert_string_equal(out,
                        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    assert_int_equal(notifier_signature("Jefe", 4, "x", out, 10), -1);
}

static void test_webhook_body(void **state)
{
    (void)state;
    char *b = notifier_webhook_body(finding, "corp-mail", "opened", 1795772470000000LL);
    assert_non_null(b);
    json_error_t e;
    json_t *o = json_loads(b, 0, &e);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "id")), "f-0123456789abcdef");
    assert_string_equal(json_string_value(json_object_get(o, "event")), "opened");
    assert_string_equal(json_string_value(json_object_get(o, "target")), "corp-mail");
    assert_non_null(json_string_value(json_object_get(o, "at")));
    assert_string_equal(json_string_value(json_object_get(o, "summary")), "IMAPS is down");
    json_decref(o);
    free(b);
    assert_null(notifier_webhook_body("[1]", "t", "opened", 0));
}

static void test_alertmanager_body(void **state)
{
    (void)state;
    char *open = notifier_webhook_body(finding, "corp-mail", "opened", 1795772470000000LL);
    char *gone = notifier_webhook_body(finding, "corp-mail", "resolved", 1795772530000000LL);
    const char *bodies[] = {open, gone};
    char *am = notifier_alertmanager_body(bodies, 2, 1795772470000000LL);
    assert_non_null(am);
    json_error_t e;
    json_t *a = json_loads(am, 0, &e);
    assert_true(json_is_array(a));
    assert_int_equal(json_array_size(a), 2);
    json_t *labels = json_object_get(json_array_get(a, 0), "labels");
    assert_string_equal(json_string_value(json_object_get(labels, "alertname")), "VantageFinding");
    assert_string_equal(json_string_value(json_object_get(labels, "target")), "corp-mail");
    assert_string_equal(json_string_value(json_object_get(labels, "verdict")), "service");
    assert_string_equal(json_string_value(json_object_get(labels, "layer")), "none");
    assert_string_equal(json_string_value(json_object_get(labels, "severity")), "problem");
    assert_string_equal(json_string_value(json_object_get(labels, "finding_id")),
                        "f-0123456789abcdef");
    json_t *ann = json_object_get(json_array_get(a, 0), "annotations");
    assert_string_equal(json_string_value(json_object_get(ann, "evidence")),
                        "- refused from hq\n- refused from branch");
    assert_string_equal(json_string_value(json_object_get(ann, "next_steps")), "- restart dovecot");
    assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "startsAt")),
                        "2026-11-27T09:41:10Z");
    /* Firing: endsAt NOTIFIER_ENDS_AFTER_US ahead (4 min); resolved: its time. */
    assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "endsAt")),
                        "2026-11-27T09:45:10Z");
    assert_string_equal(json_string_value(json_object_get(json_array_get(a, 1), "endsAt")),
                        "2026-11-27T09:42:10Z");
    json_decref(a);
    free(am);
    free(open);
    free(gone);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature),
        cmocka_unit_test(test_webhook_body),
        cmocka_unit_test(test_alertmanager_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
