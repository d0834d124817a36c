/*
 * Unit tests for agent/probes/autoconfig.c: Thunderbird config-v1.1.xml and
 * Autodiscover POX responses shaped like real ones (a provider with
 * several incoming servers, a Microsoft 365 style redirectAddr, an
 * Exchange <Error>), and the attacks an XML parser meets (billion laughs,
 * external entities, DTDs, huge documents, deep nesting, wrong
 * namespaces).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "autoconfig.h"

#define ERR_MAX 256

static int parse(enum autoconfig_dialect d, const char *doc, struct autoconfig_doc *out, char *err)
{
    return autoconfig_parse(d, doc, strlen(doc), "jo@example.com", out, err, ERR_MAX);
}

static const char thunderbird[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<clientConfig version=\"1.1\">\n"
    "  <emailProvider id=\"example.com\">\n"
    "    <domain>example.com</domain>\n"
    "    <displayName>Example Mail</displayName>\n"
    "    <incomingServer type=\"imap\">\n"
    "      <hostname>imap.example.com</hostname>\n"
    "      <port>993</port>\n"
    "      <socketType>SSL</socketType>\n"
    "      <authentication>password-cleartext</authentication>\n"
    "      <username>%EMAILADDRESS%</username>\n"
    "    </incomingServer>\n"
    "    <incomingServer type=\"imap\">\n"
    "      <hostname>imap.example.com</hostname>\n"
    "      <port>143</port>\n"
    "      <socketType>STARTTLS</socketType>\n"
    "    </incomingServer>\n"
    "    <incomingServer type=\"pop3\">\n"
    "      <hostname> POP.Example.COM </hostname>\n"
    "      <port>995</port>\n"
    "      <socketType>SSL</socketType>\n"
    "    </incomingServer>\n"
    "    <incomingServer type=\"exchange\"><hostname>ews.example.com</hostname></incomingServer>\n"
    "    <outgoingServer type=\"smtp\">\n"
    "      <hostname>smtp.%EMAILDOMAIN%</hostname>\n"
    "      <port>587</port>\n"
    "      <socketType>STARTTLS</socketType>\n"
    "    </outgoingServer>\n"
    "    <outgoingServer type=\"smtp\"><hostname>bad host</hostname><port>465</port>"
    "<socketType>SSL</socketType></outgoingServer>\n"
    "  </emailProvider>\n"
    "  <webMail><loginPage url=\"https://mail.example.com/\"/></webMail>\n"
    "</clientConfig>\n";

static const char *const ns_open =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
    "<Autodiscover "
    "xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">"
    "<Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/"
    "responseschema/2006a\">";

static char *ad(const char *inner)
{
    static char buf[8192];
    snprintf(buf, sizeof(buf), "%s%s</Response></Autodiscover>", ns_open, inner);
    return buf;
}

static void test_thunderbird(void **state)
{
    (void)state;
    struct autoconfig_doc d;
    char err[ERR_MAX];
    assert_int_equal(parse(AUTOCONFIG_THUNDERBIRD, thunderbird, &d, err), 0);
    assert_int_equal(d.action, AUTOCONFIG_SETTINGS);
    assert_int_equal(d.nservers, 4);
    assert_int_equal(d.servers[0].proto, AUTOCONFIG_IMAP);
    assert_string_equal(d.servers[0].host, "imap.example.com");
    assert_int_equal(d.servers[0].port, 993);
    assert_int_equal(d.servers[0].socket, AUTOCONFIG_SSL);
    assert_int_equal(d.servers[1].socket, AUTOCONFIG_STARTTLS);
    assert_string_equal(d.servers[2].host, "pop.example.com");
    assert_int_equal(d.servers[2].proto, AUTOCONFIG_POP3);
    assert_string_equal(d.servers[3].host, "smtp.example.com"); /* %EMAILDOMAIN% */
    assert_int_equal(d.servers[3].proto, AUTOCONFIG_SMTP);
    assert_int_equal(d.nother, 1);   /* exchange */
    assert_int_equal(d.nskipped, 1); /* "bad host" */

    char spec[300];
    assert_int_equal(autoconfig_server_spec(AUTOCONFIG_IMAP, "imap.example.com", 993,
                                            AUTOCONFIG_SSL, spec, sizeof(spec)),
                     0);
    assert_string_equal(spec, "imaps://imap.example.com");
    assert_int_equal(autoconfig_server_spec(AUTOCONFIG_SMTP, "smtp.example.com", 587,
                                            AUTOCONFIG_STARTTLS, spec, sizeof(spec)),
                     0);
    assert_string_equal(spec, "submission://smtp.example.com");
    assert_int_equal(autoconfig_server_spec(AUTOCONFIG_SMTP, "mx.example.com", 25, AUTOCONFIG_PLAIN,
                                            spec, sizeof(spec)),
                     0);
    assert_string_equal(spec, "smtp://mx.example.com");
    assert_int_equal(autoconfig_server_spec(AUTOCONFIG_POP3, "pop.example.com", 1110,
                                            AUTOCONFIG_PLAIN, spec, sizeof(spec)),
                     0);
    assert_string_equal(spec, "pop3://pop.example.com:1110");
    assert_int_equal(
        autoconfig_server_spec(AUTOCONFIG_IMAP, "a b", 993, AUTOCONFIG_SSL, spec, sizeof(spec)),
        -1);
}

static void test_autodiscover(void **state)
{
    (void)state;
    struct autoconfig_doc d;
    char err[ERR_MAX];
    /* An Exchange / hosted provider's settings. */
    assert_int_equal(
        parse(AUTOCONFIG_AUTODISCOVER,
              ad("<User><DisplayName>Jo</DisplayName></User><Account><AccountType>email"
                 "</AccountType><Action>settings</Action>"
                 "<Protocol><Type>EXCH</Type><Server>x.outlook.com</Server></Protocol>"
                 "<Protocol><Type>IMAP</Type><Server>outlook.office365.com</Server>"
                 "<Port>993</Port><SSL>on</SSL></Protocol>"
                 "<Protocol><Type>POP3</Type><Server>outlook.office365.com</Server>"
                 "<Port>110</Port><SSL>on</SSL></Protocol>"
                 "<Protocol><Type>SMTP</Type><Server>smtp.office365.com</Server><Port>587</Port>"
                 "<SSL>on</SSL><Encryption>TLS</Encryption></Protocol>"
                 "<Protocol><Type>IMAP</Type><Server>legacy.example.com</Server>"
                 "<SSL>off</SSL></Protocol></Account>"),
              &d, err),
        0);
    assert_int_equal(d.action, AUTOCONFIG_SETTINGS);
    assert_int_equal(d.nother, 1);
    assert_int_equal(d.nservers, 4);
    assert_int_equal(d.servers[0].socket, AUTOCONFIG_SSL);
    assert_int_equal(d.servers[1].socket, AUTOCONFIG_STARTTLS); /* SSL on, port 110 */
    assert_int_equal(d.servers[2].socket, AUTOCONFIG_STARTTLS); /* Encryption TLS */
    assert_int_equal(d.servers[3].socket, AUTOCONFIG_PLAIN);
    assert_int_equal(d.servers[3].port, 143); /* no Port: the protocol's default */

    /* Microsoft 365: the address moved to the tenant's domain. */
    assert_int_equal(parse(AUTOCONFIG_AUTODISCOVER,
                           ad("<Account><AccountType>email</AccountType>"
                              "<Action>redirectAddr</Action>"
                              "<RedirectAddr>jo@contoso.onmicrosoft.com</RedirectAddr></Account>"),
                           &d, err),
                     0);
    assert_int_equal(d.action, AUTOCONFIG_REDIRECT_ADDR);
    assert_string_equal(d.redirect, "jo@contoso.onmicrosoft.com");
    assert_int_equal(parse(AUTOCONFIG_AUTODISCOVER,
                           ad("<Account><Action>redirectUrl</Action><RedirectUrl>"
                              "https://autodiscover-s.outlook.com/autodiscover/autodiscover.xml"
                              "</RedirectUrl></Account>"),
                           &d, err),
                     0);
    assert_int_equal(d.action, AUTOCONFIG_REDIRECT_URL);
    assert_int_equal(parse(AUTOCONFIG_AUTODISCOVER,
                           ad("<Account><Action>redirectUrl</Action><RedirectUrl>"
                              "http://plain.example/a</RedirectUrl></Account>"),
                           &d, err),
                     -1);
    assert_non_null(strstr(err, "not an https URL"));

    /* Exchange's answer for an unknown address. */
    const char error[] =
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
        "<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/"
        "responseschema/2006\"><Response><Error Time=\"10:00:00\" Id=\"1\"><ErrorCode>500"
        "</ErrorCode><Message>The email address can't be found.</Message><DebugData />"
        "</Error></Response></Autodiscover>";
    assert_int_equal(parse(AUTOCONFIG_AUTODISCOVER, error, &d, err), 0);
    assert_int_equal(d.action, AUTOCONFIG_ERROR);
    assert_string_equal(d.error, "error 500: The email address can't be found.");

    char req[1024];
    int n = autoconfig_request("jo@example.com", req, sizeof(req));
    assert_true(n > 0);
    assert_non_null(strstr(req, "<EMailAddress>jo@example.com</EMailAddress>"));
    assert_non_null(strstr(req, AUTOCONFIG_NS_OUTLOOK));
    assert_int_equal(autoconfig_request("jo@example.com", req, 64), -1);
}

static void test_refused(void **state)
{
    (void)state;
    struct autoconfig_doc d;
    char err[ERR_MAX];
    const char laughs[] =
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
        "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
        "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>"
        "<clientConfig><emailProvider><incomingServer type=\"imap\"><hostname>&lol3;"
        "</hostname></incomingServer></emailProvider></clientConfig>";
    assert_int_equal(parse(AUTOCONFIG_THUNDERBIRD, laughs, &d, err), -1);
    assert_non_null(strstr(err, "DTD"));
    const char xxe[] = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM "
                       "\"file:///etc/passwd\">]><clientConfig>&e;</clientConfig>";
    assert_int_equal(parse(AUTOCONFIG_THUNDERBIRD, xxe, &d, err), -1);
    assert_non_null(strstr(err, "DTD"));
    const char ext[] =
        "<!DOCTYPE clientConfig SYSTEM \"http://evil.example/x.dtd\"><clientConfig/>";
    assert_int_equal(parse(AUTOCONFIG_THUNDERBIRD, ext, &d, err), -1);
    /* Undeclared entity without a DTD: not well-formed. */
    assert_int_equal(parse(AUTOCONFIG_THUNDERBIRD, "<clientConfig>&e;</clientConfig>", &d, err),
                     -1);
    assert_int_equal(parse(AUTOCONFIG_THUNDERBIRD, "<clientConfig><x></clientConfig>", &d, err),
                     -1);
    assert_non_null(strstr(err, "not well-formed XML"));
    assert_int_equal(autoconfig_parse(AUTOCONFIG_THUNDERBIRD, "", 0, NULL, &d, err, ERR_MAX), -1);
    /* Wrong roots and namespaces. */
    assert_int_equal(parse(AUTOCONFIG_THUNDERBIRD, "<html><body/></html>", &d, err), -1);
    assert_non_null(strstr(err, "not Thunderbird's <clientConfig>"));
    assert_int_equal(parse(AUTOCONFIG_THUNDERBIRD, "<clientConfig xmlns=\"urn:x\"/>", &d, err), -1);
    assert_int_equal(parse(AUTOCONFIG_AUTODISCOVER,
                           "<Autodiscover xmlns=\"urn:other\"><Response/></Autodiscover>", &d, err),
                     -1);
    assert_non_null(strstr(err, "namespace"));
    assert_int_equal(
        parse(AUTOCONFIG_AUTODISCOVER,
              "<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/"
              "responseschema/2006\"><Response xmlns=\"urn:mobilesync\"><Account/></Response>"
              "</Autodiscover>",
              &d, err),
        -1);
    /* A Thunderbird document sent for Autodiscover, and the reverse. */
    assert_int_equal(parse(AUTOCONFIG_AUTODISCOVER, thunderbird, &d, err), -1);
    assert_int_equal(parse(AUTOCONFIG_THUNDERBIRD, ad("<Account/>"), &d, err), -1);
    /* No usable server. */
    assert_int_equal(parse(AUTOCONFIG_THUNDERBIRD,
                           "<clientConfig><emailProvider><incomingServer type=\"imap\">"
                           "<hostname>x.example</hostname><port>99999</port><socketType>SSL"
                           "</socketType></incomingServer></emailProvider></clientConfig>",
                           &d, err),
                     -1);
    assert_non_null(strstr(err, "no server"));
}

static void test_bounds(void **state)
{
    (void)state;
    struct autoconfig_doc d;
    char err[ERR_MAX];
    /* 10 MB: refused before parsing. */
    size_t big = 10u << 20;
    char *doc = malloc(big);
    assert_non_null(doc);
    memset(doc, ' ', big);
    memcpy(doc, "<clientConfig>", 14);
    assert_int_equal(autoconfig_parse(AUTOCONFIG_THUNDERBIRD, doc, big, NULL, &d, err, ERR_MAX),
                     -1);
    assert_non_null(strstr(err, "larger than"));
    /* Deep nesting. */
    size_t n = 0;
    n += (size_t)snprintf(doc, big, "<clientConfig>");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(doc + n, big - n, "<a>");
    assert_int_equal(autoconfig_parse(AUTOCONFIG_THUNDERBIRD, doc, n, NULL, &d, err, ERR_MAX), -1);
    assert_non_null(strstr(err, "nested deeper"));
    /* Too many elements. */
    n = (size_t)snprintf(doc, big, "<clientConfig>");
    for (int i = 0; i < AUTOCONFIG_ELEMENTS_MAX + 10; i++)
        n += (size_t)snprintf(doc + n, big - n, "<a/>");
    n += (size_t)snprintf(doc + n, big - n, "</clientConfig>");
    assert_int_equal(autoconfig_parse(AUTOCONFIG_THUNDERBIRD, doc, n, NULL, &d, err, ERR_MAX), -1);
    assert_non_null(strstr(err, "more than"));
    /* An element's text too long. */
    n = (size_t)snprintf(doc, big,
                         "<clientConfig><emailProvider><incomingServer type=\"imap\">"
                         "<hostname>");
    memset(doc + n, 'a', 5000);
    n += 5000;
    n += (size_t)snprintf(doc + n, big - n,
                          "</hostname></incomingServer></emailProvider></clientConfig>");
    assert_int_equal(autoconfig_parse(AUTOCONFIG_THUNDERBIRD, doc, n, NULL, &d, err, ERR_MAX), -1);
    assert_non_null(strstr(err, "longer than"));
    /* More servers than kept: cut, not refused. */
    n = (size_t)snprintf(doc, big, "<clientConfig><emailProvider>");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(doc + n, big - n,
                              "<incomingServer type=\"imap\"><hostname>h%d.example</hostname>"
                              "<port>993</port><socketType>SSL</socketType></incomingServer>",
                              i);
    n += (size_t)snprintf(doc + n, big - n, "</emailProvider></clientConfig>");
    assert_int_equal(autoconfig_parse(AUTOCONFIG_THUNDERBIRD, doc, n, NULL, &d, err, ERR_MAX), 0);
    assert_int_equal(d.nservers, AUTOCONFIG_SERVERS_MAX);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thunderbird),
        cmocka_unit_test(test_autodiscover),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
