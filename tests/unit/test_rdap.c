/*
 * Unit tests for agent/probes/rdap.c: the RFC 9224 bootstrap file and RFC 9083
 * domain answers, shaped like real ones (a .com thin-registry answer from
 * Verisign with its registrar link, a registrar's answer, an IANA-style
 * bootstrap), plus the hostile cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rdap.h"

#define ERR_MAX 256

static const char bootstrap[] =
    "{\"description\": \"RDAP bootstrap file for Domain Name System registrations\","
    " \"publication\": \"2024-05-01T18:00:01Z\", \"version\": \"1.0\","
    " \"services\": ["
    "  [[\"com\", \"net\"], [\"https://rdap.verisign.com/com/v1/\"]],"
    "  [[\"co.uk\"], [\"http://rdap.example/couk\", \"https://rdap.example/couk\"]],"
    "  [[\"uk\"], [\"https://rdap.nominet.uk/uk/\"]],"
    "  [[\"empty\"], []]"
    " ]}";

/* Verisign's answer for a .com name: a thin registry that names the
 * registrar (with an IANA id) but keeps the contacts at the registrar. */
static const char thin_com[] =
    "{\"objectClassName\":\"domain\",\"handle\":\"2336799_DOMAIN_COM-VRSN\","
    "\"ldhName\":\"EXAMPLE.COM\","
    "\"links\":[{\"value\":\"https://rdap.verisign.com/com/v1/domain/"
    "EXAMPLE.COM\",\"rel\":\"self\","
    "\"href\":\"https://rdap.verisign.com/com/v1/domain/EXAMPLE.COM\",\"type\":\"application/"
    "rdap+json\"},"
    "{\"value\":\"https://rdap.markmonitor.com/rdap/domain/EXAMPLE.COM\",\"rel\":\"related\","
    "\"href\":\"https://rdap.markmonitor.com/rdap/domain/EXAMPLE.COM\",\"type\":\"application/"
    "rdap+json\"}],"
    "\"status\":[\"client delete prohibited\",\"client transfer prohibited\",\"client update "
    "prohibited\"],"
    "\"entities\":[{\"objectClassName\":\"entity\",\"handle\":\"376\",\"roles\":[\"registrar\"],"
    "\"publicIds\":[{\"type\":\"IANA Registrar ID\",\"identifier\":\"376\"}],"
    "\"vcardArray\":[\"vcard\",[[\"version\",{},\"text\",\"4.0\"],"
    "[\"fn\",{},\"text\",\"RESERVED-Internet Assigned Numbers Authority\"]]]}],"
    "\"events\":[{\"eventAction\":\"registration\",\"eventDate\":\"1995-08-14T04:00:00Z\"},"
    "{\"eventAction\":\"expiration\",\"eventDate\":\"2025-08-13T04:00:00Z\"},"
    "{\"eventAction\":\"last update of RDAP database\",\"eventDate\":\"2024-05-01T17:48:22Z\"}],"
    "\"secureDNS\":{\"delegationSigned\":true},"
    "\"nameservers\":[{\"objectClassName\":\"nameserver\",\"ldhName\":\"A.IANA-SERVERS.NET\"},"
    "{\"objectClassName\":\"nameserver\",\"ldhName\":\"B.IANA-SERVERS.NET\"}],"
    "\"rdapConformance\":[\"rdap_level_0\",\"icann_rdap_technical_implementation_guide_0\"]}";

static void test_bootstrap(void **state)
{
    (void)state;
    char err[ERR_MAX], url[256];
    struct rdap_bootstrap *b =
        rdap_bootstrap_parse(bootstrap, sizeof(bootstrap) - 1, err, sizeof(err));
    assert_non_null(b);
    assert_int_equal(rdap_bootstrap_count(b), 5);
    assert_int_equal(rdap_bootstrap_lookup(b, "example.com", url, sizeof(url)), 1);
    assert_string_equal(url, "https://rdap.verisign.com/com/v1/");
    assert_int_equal(rdap_bootstrap_lookup(b, "EXAMPLE.NET.", url, sizeof(url)), 1);
    /* The longest match, and https before http. */
    assert_int_equal(rdap_bootstrap_lookup(b, "shop.example.co.uk", url, sizeof(url)), 1);
    assert_string_equal(url, "https://rdap.example/couk");
    assert_int_equal(rdap_bootstrap_lookup(b, "example.uk", url, sizeof(url)), 1);
    assert_string_equal(url, "https://rdap.nominet.uk/uk/");
    /* No service: no entry, or an entry without URLs. */
    assert_int_equal(rdap_bootstrap_lookup(b, "example.de", url, sizeof(url)), 0);
    assert_int_equal(rdap_bootstrap_lookup(b, "x.empty", url, sizeof(url)), 0);
    assert_int_equal(rdap_bootstrap_lookup(b, "example.com", url, 8), -1);
    rdap_bootstrap_destroy(&b);
    assert_null(b);

    assert_int_equal(
        rdap_domain_url("https://rdap.verisign.com/com/v1/", "example.com", url, sizeof(url)), 0);
    assert_string_equal(url, "https://rdap.verisign.com/com/v1/domain/example.com");
    assert_int_equal(rdap_domain_url("https://rdap.example/x", "a.x", url, sizeof(url)), 0);
    assert_string_equal(url, "https://rdap.example/x/domain/a.x");
}

static void test_bootstrap_bad(void **state)
{
    (void)state;
    char err[ERR_MAX];
    assert_null(rdap_bootstrap_parse("", 0, err, sizeof(err)));
    assert_non_null(strstr(err, "not JSON"));
    assert_null(rdap_bootstrap_parse("{\"services\": 7}", 15, err, sizeof(err)));
    assert_non_null(strstr(err, "no \"services\" list"));
    assert_null(rdap_bootstrap_parse("[1,2]", 5, err, sizeof(err)));
    /* Junk entries are skipped, not fatal. */
    const char junk[] = "{\"services\": [7, [[1, \"ok\"], [\"ftp://x\", 3]], [[], []]]}";
    struct rdap_bootstrap *b = rdap_bootstrap_parse(junk, sizeof(junk) - 1, err, sizeof(err));
    assert_non_null(b);
    char url[64];
    assert_int_equal(rdap_bootstrap_lookup(b, "a.ok", url, sizeof(url)), 0);
    rdap_bootstrap_destroy(&b);
}

static void test_thin_registry(void **state)
{
    (void)state;
    struct rdap_domain d;
    char err[ERR_MAX];
    assert_int_equal(rdap_domain_parse(thin_com, sizeof(thin_com) - 1, &d, err, sizeof(err)), 0);
    assert_string_equal(d.ldh_name, "example.com");
    assert_string_equal(d.registrar, "RESERVED-Internet Assigned Numbers Authority");
    assert_int_equal(d.registered, 808372800);
    assert_int_equal(d.expires, 1755057600);
    assert_int_equal(d.nstatus, 3);
    assert_string_equal(d.status[1], "client transfer prohibited");
    assert_int_equal(d.nnameservers, 2);
    assert_string_equal(d.nameservers[0], "a.iana-servers.net");
    assert_string_equal(d.related, "https://rdap.markmonitor.com/rdap/domain/EXAMPLE.COM");
    for (size_t i = 0; i < d.nstatus; i++)
        assert_false(rdap_status_hold(d.status[i]));
}

static void test_status_and_types(void **state)
{
    (void)state;
    assert_true(rdap_status_hold("client hold"));
    assert_true(rdap_status_hold("Server Hold"));
    assert_true(rdap_status_hold("redemption period"));
    assert_true(rdap_status_hold("pending delete"));
    assert_false(rdap_status_hold("active"));
    assert_false(rdap_status_hold("client transfer prohibited"));
    assert_true(rdap_content_type_ok("application/rdap+json"));
    assert_true(rdap_content_type_ok("application/rdap+json; charset=utf-8"));
    assert_true(rdap_content_type_ok("application/json"));
    assert_false(rdap_content_type_ok("text/html"));
    assert_false(rdap_content_type_ok(""));
    assert_false(rdap_content_type_ok("application/jsonx"));
    assert_int_equal(rdap_time_parse("2025-08-13T04:00:00Z"), 1755057600);
    assert_int_equal(rdap_time_parse("2025-08-13T04:00:00.123Z"), 1755057600);
    assert_int_equal(rdap_time_parse("2025-08-13T06:00:00+02:00"), 1755057600);
    assert_int_equal(rdap_time_parse("2025-08-13"), -1);
    assert_int_equal(rdap_time_parse("2025-13-13T04:00:00Z"), -1);
    assert_int_equal(rdap_time_parse("2025-08-13T04:00:00"), -1);
    assert_int_equal(rdap_time_parse("2025-08-13T04:00:00Zjunk"), -1);
    assert_int_equal(rdap_time_parse(NULL), -1);
}

static void test_bad_answers(void **state)
{
    (void)state;
    struct rdap_domain d;
    char err[ERR_MAX];
    assert_int_equal(rdap_domain_parse("{\"objectClassName\": ", 20, &d, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not JSON"));
    assert_int_equal(rdap_domain_parse("<html></html>", 13, &d, err, sizeof(err)), -1);
    const char e404[] = "{\"errorCode\": 404, \"title\": \"Not Found\"}";
    assert_int_equal(rdap_domain_parse(e404, sizeof(e404) - 1, &d, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "errorCode 404: Not Found"));
    const char ent[] = "{\"objectClassName\": \"entity\"}";
    assert_int_equal(rdap_domain_parse(ent, sizeof(ent) - 1, &d, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not an RDAP domain object"));
    /* Wrong types everywhere: parsed, nothing kept, no crash. */
    const char odd[] = "{\"objectClassName\": \"domain\", \"status\": 5, \"events\": {},"
                       " \"nameservers\": [1, {\"ldhName\": 2}], \"entities\": [{\"roles\": 7}],"
                       " \"links\": [{\"rel\": \"related\", \"href\": \"javascript:x\"}]}";
    assert_int_equal(rdap_domain_parse(odd, sizeof(odd) - 1, &d, err, sizeof(err)), 0);
    assert_int_equal(d.nstatus, 0);
    assert_int_equal(d.expires, 0);
    assert_string_equal(d.related, "");
    /* Many status values and name servers: cut at the bounds. */
    char big[40000];
    int n = snprintf(big, sizeof(big), "{\"objectClassName\": \"domain\", \"status\": [");
    for (int i = 0; i < 100; i++)
        n += snprintf(big + n, sizeof(big) - (size_t)n, "%s\"s%d\"", i ? "," : "", i);
    n += snprintf(big + n, sizeof(big) - (size_t)n, "], \"nameservers\": [");
    for (int i = 0; i < 100; i++)
        n += snprintf(big + n, sizeof(big) - (size_t)n, "%s{\"ldhName\": \"ns%d.x\"}", i ? "," : "",
                      i);
    n += snprintf(big + n, sizeof(big) - (size_t)n, "]}");
    assert_int_equal(rdap_domain_parse(big, (size_t)n, &d, err, sizeof(err)), 0);
    assert_int_equal(d.nstatus, RDAP_STATUS_MAX);
    assert_int_equal(d.nnameservers, RDAP_NS_MAX);
    /* Deep nesting: jansson's depth limit, an error. */
    char deep[8192];
    memset(deep, '[', sizeof(deep));
    assert_int_equal(rdap_domain_parse(deep, sizeof(deep), &d, err, sizeof(err)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bootstrap),     cmocka_unit_test(test_bootstrap_bad),
        cmocka_unit_test(test_thin_registry), cmocka_unit_test(test_status_and_types),
        cmocka_unit_test(test_bad_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
