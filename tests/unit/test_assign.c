/*
 * Unit tests of collector/assign.c: which agents read a domain's
 * registration (at most three, on different networks, chosen the same
 * way every time) and the per-agent view and version of the targets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "assign.h"

static char *checks_a[] = {"imaps://mail.example.com", "autoconfig://example.com",
                           "rdap://example.com"};
static char *checks_b[] = {"rdap://example.org", "autoconfig://example.org"};

static struct wire_target targets[] = {
    {.name = "a", .domain = "example.com", .checks = checks_a, .nchecks = 3},
    {.name = "b", .domain = "example.org", .checks = checks_b, .nchecks = 2},
};
static struct wire_config base = {.version = "0123456789abcdef", .targets = targets, .ntargets = 2};

static const struct assign_agent fleet[] = {
    {"hq1", "hq"},     {"hq2", "hq"}, {"br1", "branch"}, {"br2", "branch"},
    {"home1", "home"}, {"dc1", "dc"}, {"dc2", "dc"},
};
#define NFLEET (sizeof(fleet) / sizeof(fleet[0]))

static const char *network_of(const char *agent)
{
    for (size_t i = 0; i < NFLEET; i++)
        if (strcmp(fleet[i].name, agent) == 0)
            return fleet[i].network;
    return NULL;
}

static size_t count(const char *const *v)
{
    size_t n = 0;
    while (v != NULL && v[n] != NULL)
        n++;
    return n;
}

/* Three agents, three different networks, for each rdap check; not an
 * rdap check: NULL. */
static void test_three_on_different_networks(void **state)
{
    (void)state;
    struct assign *a = assign_create(&base, fleet, NFLEET);
    assert_non_null(a);
    const char *const *v = assign_rdap_agents(a, "a", "rdap://example.com");
    assert_int_equal(count(v), ASSIGN_RDAP_AGENTS);
    for (size_t i = 0; i < 3; i++)
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(network_of(v[i]), network_of(v[j]));
    assert_int_equal(count(assign_rdap_agents(a, "b", "rdap://example.org")), 3);
    assert_null(assign_rdap_agents(a, "a", "imaps://mail.example.com"));
    assign_destroy(&a);
    assert_null(a);
}

/* One network: one agent, not three (the registry sees one address). */
static void test_one_network_one_agent(void **state)
{
    (void)state;
    struct assign *a = assign_create(&base, fleet, 2); /* hq1, hq2 */
    assert_non_null(a);
    assert_int_equal(count(assign_rdap_agents(a, "a", "rdap://example.com")), 1);
    assign_destroy(&a);
    a = assign_create(&base, fleet, 0);
    assert_non_null(a);
    assert_int_equal(count(assign_rdap_agents(a, "a", "rdap://example.com")), 0);
    assign_destroy(&a);
}

/* The same agents in another order give the same choice; an agent that
 * is not chosen leaving changes nothing. */
static void test_deterministic_and_stable(void **state)
{
    (void)state;
    struct assign_agent rev[NFLEET];
    for (size_t i = 0; i < NFLEET; i++)
        rev[i] = fleet[NFLEET - 1 - i];
    struct assign *a = assign_create(&base, fleet, NFLEET);
    struct assign *b = assign_create(&base, rev, NFLEET);
    const char *const *va = assign_rdap_agents(a, "a", "rdap://example.com");
    const char *const *vb = assign_rdap_agents(b, "a", "rdap://example.com");
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(va[i], vb[i]);
    /* Drop one agent that was not chosen. */
    struct assign_agent fewer[NFLEET];
    size_t n = 0;
    bool dropped = false;
    for (size_t i = 0; i < NFLEET; i++) {
        bool chosen = false;
        for (size_t k = 0; k < 3; k++)
            chosen |= strcmp(va[k], fleet[i].name) == 0;
        if (!chosen && !dropped) {
            dropped = true;
            continue;
        }
        fewer[n++] = fleet[i];
    }
    assert_true(dropped);
    struct assign *c = assign_create(&base, fewer, n);
    const char *const *vc = assign_rdap_agents(c, "a", "rdap://example.com");
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(va[i], vc[i]);
    assign_destroy(&a);
    assign_destroy(&b);
    assign_destroy(&c);
}

/* An agent's view keeps every other check and its own rdap checks; its
 * version says which rdap checks it has, and equal sets give equal
 * versions. */
static void test_views_and_versions(void **state)
{
    (void)state;
    struct assign *a = assign_create(&base, fleet, NFLEET);
    const char *const *chosen = assign_rdap_agents(a, "a", "rdap://example.com");
    size_t with = 0, without = 0;
    char v_with[ASSIGN_VERSION_MAX] = "", v_without[ASSIGN_VERSION_MAX] = "";
    for (size_t i = 0; i < NFLEET; i++) {
        struct wire_config view;
        char version[ASSIGN_VERSION_MAX];
        assert_int_equal(assign_view(a, fleet[i].name, &view, version), 0);
        assert_int_equal(view.ntargets, 2);
        assert_string_equal(view.targets[0].checks[0], "imaps://mail.example.com");
        assert_string_equal(view.targets[0].checks[1], "autoconfig://example.com");
        assert_int_equal(strncmp(version, "0123456789abcdef-r", 18), 0);
        bool mine = false;
        for (size_t k = 0; chosen[k] != NULL; k++)
            mine |= strcmp(chosen[k], fleet[i].name) == 0;
        assert_int_equal(view.targets[0].nchecks, mine ? 3 : 2);
        bool has_b = view.targets[1].nchecks == 2;
        if (mine && !has_b) {
            if (with++ > 0)
                assert_string_equal(version, v_with);
            snprintf(v_with, sizeof(v_with), "%s", version);
        }
        if (!mine && !has_b) {
            if (without++ > 0)
                assert_string_equal(version, v_without);
            snprintf(v_without, sizeof(v_without), "%s", version);
        }
        assign_view_clear(&view);
    }
    if (v_with[0] != '\0' && v_without[0] != '\0')
        assert_string_not_equal(v_with, v_without);
    assign_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_on_different_networks),
        cmocka_unit_test(test_one_network_one_agent),
        cmocka_unit_test(test_deterministic_and_stable),
        cmocka_unit_test(test_views_and_versions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
