/*
 * Unit tests for collector/web/html.c: everything that reaches the status
 * page is escaped, above all what a hostile server or agent sent.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web/html.h"

static char *escaped(const char *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    html_escape(f, s);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static void expect(const char *in, const char *want)
{
    char *got = escaped(in);
    assert_string_equal(got, want);
    free(got);
}

static void test_markup(void **state)
{
    (void)state;
    expect("220 <script>alert(1)</script> ESMTP",
           "220 &lt;script&gt;alert(1)&lt;/script&gt; ESMTP");
    expect("a & b", "a &amp; b");
    expect("&amp;", "&amp;amp;");
    expect("plain text, unchanged", "plain text, unchanged");
    expect("", "");
}

/* Attribute values are quoted with ", but ' is escaped too: a template
 * that someday quotes with ' must not open a hole. */
static void test_attribute_quotes(void **state)
{
    (void)state;
    expect("\" onmouseover=\"x", "&quot; onmouseover=&quot;x");
    expect("' onload='x", "&#39; onload=&#39;x");
}

/* Control bytes (NUL cannot be in a C string) become U+FFFD; UTF-8 and
 * tab/newline pass. */
static void test_controls_and_utf8(void **state)
{
    (void)state;
    expect("a\x01"
           "b\x1b[31m\x7f",
           "a\xef\xbf\xbd"
           "b\xef\xbf\xbd[31m\xef\xbf\xbd");
    expect("Z\xc3\xbcrich\tline\n", "Z\xc3\xbcrich\tline\n");
}

static void test_null(void **state)
{
    (void)state;
    char *got = escaped(NULL);
    assert_string_equal(got, "");
    free(got);
}

/* html_printf escapes every %s and only those. */
static void test_printf(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    html_printf(f, "<td class=\"%s\">%s %d %zu %lld %.1f%%</td>", "x\"y", "<b>", -3, (size_t)7,
                123456789012LL, 2.25);
    assert_int_equal(fclose(f), 0);
    assert_string_equal(buf, "<td class=\"x&quot;y\">&lt;b&gt; -3 7 123456789012 2.2%</td>");
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_markup),
        cmocka_unit_test(test_attribute_quotes),
        cmocka_unit_test(test_controls_and_utf8),
        cmocka_unit_test(test_null),
        cmocka_unit_test(test_printf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
