/*
 * sessmap: lookups by key, re-keying an entry (a reconnecting agent's new
 * routing id), removal, and growth past thousands of entries whose array
 * moves between calls (collector/sessmap.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sessmap.h"

struct keys {
    char (*k)[16];
    size_t n;
};

static size_t key_of(size_t i, const void **key, void *arg)
{
    struct keys *ks = arg;
    *key = ks->k[i];
    return strlen(ks->k[i]);
}

static void test_many_keys_rekey_and_delete(void **state)
{
    (void)state;
    struct keys ks = {0};
    struct sessmap *m = sessmap_create(key_of, &ks);
    assert_non_null(m);
    assert_int_equal(sessmap_get(m, "a", 1), SESSMAP_NONE);
    const size_t n = 20000;
    for (size_t i = 0; i < n; i++) {
        /* The array moves as it grows, as the collector's sessions do. */
        ks.k = realloc(ks.k, (i + 1) * sizeof(*ks.k));
        assert_non_null(ks.k);
        snprintf(ks.k[i], sizeof(ks.k[i]), "agent%zu", i);
        ks.n = i + 1;
        assert_int_equal(sessmap_put(m, ks.k[i], strlen(ks.k[i]), i), 0);
    }
    for (size_t i = 0; i < n; i += 97) {
        char k[16];
        snprintf(k, sizeof(k), "agent%zu", i);
        assert_int_equal(sessmap_get(m, k, strlen(k)), i);
    }
    assert_int_equal(sessmap_get(m, "agent", 5), SESSMAP_NONE);
    assert_int_equal(sessmap_get(m, "agent20000", 10), SESSMAP_NONE);

    /* Re-keying: delete under the old key, change it, put under the new. */
    sessmap_del(m, "agent5", 6);
    snprintf(ks.k[5], sizeof(ks.k[5]), "moved5");
    assert_int_equal(sessmap_put(m, "moved5", 6, 5), 0);
    assert_int_equal(sessmap_get(m, "agent5", 6), SESSMAP_NONE);
    assert_int_equal(sessmap_get(m, "moved5", 6), 5);
    assert_int_equal(sessmap_get(m, "agent6", 6), 6);

    /* Many deletions and re-insertions leave every other key findable. */
    for (size_t round = 0; round < 3; round++)
        for (size_t i = 10; i < n; i += 2) {
            sessmap_del(m, ks.k[i], strlen(ks.k[i]));
            assert_int_equal(sessmap_put(m, ks.k[i], strlen(ks.k[i]), i), 0);
        }
    for (size_t i = 10; i < n; i += 101)
        assert_int_equal(sessmap_get(m, ks.k[i], strlen(ks.k[i])), i);
    sessmap_destroy(&m);
    assert_null(m);
    sessmap_destroy(&m);
    free(ks.k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_keys_rekey_and_delete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
