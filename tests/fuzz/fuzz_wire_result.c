/*
 * libFuzzer target: wire_result_decode(), the collector's decode+validate
 * of one result from an agent. Whatever it accepts must stay within the
 * result model's bounds, print as JSON and survive an encode/decode round
 * trip unchanged in its key fields. Seeds: tests/fuzz/seeds/wire_result/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "result.h"
#include "wire.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static void check_str(const char *s, size_t max)
{
    if (s != NULL)
        FUZZ_CHECK(strnlen(s, max + 1) <= max);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct result r, again;
    char err[256];
    uint8_t *buf = NULL;
    size_t len = 0;

    err[0] = '\0';
    if (wire_result_decode(data, size, &r, err, sizeof(err)) != 0) {
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(r.check != NULL && r.check[0] != '\0');
    FUZZ_CHECK((unsigned)r.error < RESULT_ERROR_LAST && (unsigned)r.layer < RESULT_LAYER_LAST);
    FUZZ_CHECK(r.ok == (r.error == RESULT_OK));
    check_str(r.detail, RESULT_STR_MAX);
    check_str(r.banner, RESULT_STR_MAX);
    check_str(r.target, RESULT_NAME_MAX);
    FUZZ_CHECK(r.ndns <= RESULT_LIST_MAX);
    for (size_t i = 0; i < r.ndns; i++)
        FUZZ_CHECK(r.dns[i].nanswers <= RESULT_LIST_MAX);
    if (r.tls != NULL)
        FUZZ_CHECK(r.tls->nsans <= RESULT_LIST_MAX);

    /* What the collector prints must carry what it stored: a string that
     * JSON cannot hold (invalid UTF-8) must have been refused by decode,
     * not silently dropped from the output. */
    char *json = result_json(&r);
    FUZZ_CHECK(json != NULL);
    json_t *parsed = json_loads(json, 0, NULL);
    FUZZ_CHECK(parsed != NULL);
    const char *check = json_string_value(json_object_get(parsed, "check"));
    FUZZ_CHECK(check != NULL && strcmp(check, r.check) == 0);
    if (r.banner != NULL)
        FUZZ_CHECK(json_object_get(parsed, "banner") != NULL);
    if (r.detail != NULL && r.detail[0] != '\0')
        FUZZ_CHECK(json_object_get(parsed, "detail") != NULL);
    json_decref(parsed);
    free(json);

    FUZZ_CHECK(wire_result_encode(&r, &buf, &len) == 0);
    FUZZ_CHECK(wire_result_decode(buf, len, &again, err, sizeof(err)) == 0);
    FUZZ_CHECK(strcmp(again.check, r.check) == 0);
    FUZZ_CHECK(again.error == r.error && again.started_at_us == r.started_at_us);
    FUZZ_CHECK(again.port == r.port && again.ndns == r.ndns);
    FUZZ_CHECK(memcmp(again.phases_us, r.phases_us, sizeof(r.phases_us)) == 0);
    result_clear(&again);
    free(buf);
    result_clear(&r);
    return 0;
}
