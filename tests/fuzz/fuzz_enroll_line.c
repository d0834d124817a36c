/*
 * libFuzzer target: enroll_line_parse(), which reads the line an operator
 * pastes into `vantage-agent enroll`. Two ways in, picked by the first
 * byte: the rest is the pasted text as is (the prefix, base64 and checksum
 * checks), or the rest is the space-separated fields, given a valid
 * checksum and base64 here so that the fuzzer reaches the field checks
 * behind them (it cannot invert SHA-256). A line that parses must hold
 * valid fields and format back to a line that parses to the same fields;
 * one that fails must say why. Seeds: tests/fuzz/seeds/enroll_line/.
 */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enroll_line.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* As enroll_line.c: the checksum is the first 8 hex digits of SHA-256. */
#define FUZZ_CHECKSUM_HEX 8
/* Fields longer than a line can hold are refused before decoding. */
#define FUZZ_FIELDS_MAX ENROLL_LINE_MAX

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* "vantage1:" + base64(fields + " " + checksum(fields)) into out. */
static int wrap(const uint8_t *fields, size_t n, char *out, size_t outlen)
{
    char plain[FUZZ_FIELDS_MAX + 1 + FUZZ_CHECKSUM_HEX + 1], sum[ENROLL_HASH_HEX + 1];
    if (n > FUZZ_FIELDS_MAX || memchr(fields, '\0', n) != NULL)
        return -1;
    memcpy(plain, fields, n);
    plain[n] = '\0';
    enroll_secret_hash(plain, sum);
    plain[n] = ' ';
    memcpy(plain + n + 1, sum, FUZZ_CHECKSUM_HEX);
    size_t len = n + 1 + FUZZ_CHECKSUM_HEX;
    size_t prefix = strlen(ENROLL_LINE_PREFIX);
    if (prefix + 4 * ((len + 2) / 3) + 1 > outlen)
        return -1;
    memcpy(out, ENROLL_LINE_PREFIX, prefix);
    EVP_EncodeBlock((unsigned char *)out + prefix, (const unsigned char *)plain, (int)len);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char line[4 * ENROLL_LINE_MAX], err[512] = "";
    if (size < 1)
        return 0;
    if (data[0] & 1) {
        if (wrap(data + 1, size - 1, line, sizeof(line)) < 0)
            return 0;
    } else {
        if (size - 1 >= sizeof(line))
            return 0;
        memcpy(line, data + 1, size - 1);
        line[size - 1] = '\0';
    }
    struct enroll_line l, again;
    if (enroll_line_parse(line, &l, err, sizeof(err)) < 0) {
        FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL);
        return 0;
    }
    FUZZ_CHECK(memchr(l.endpoint, '\0', sizeof(l.endpoint)) != NULL);
    FUZZ_CHECK(strncmp(l.endpoint, "tcp://", 6) == 0);
    FUZZ_CHECK(strlen(l.server_key) == TRANSPORT_KEY_LEN && transport_key_valid(l.server_key));
    FUZZ_CHECK(enroll_name_valid(l.name));
    FUZZ_CHECK(l.site[0] == '\0' || enroll_name_valid(l.site));
    FUZZ_CHECK(strlen(l.secret) == ENROLL_SECRET_HEX && l.expires > 0);

    char back[ENROLL_LINE_MAX + 1];
    FUZZ_CHECK(enroll_line_format(&l, back, sizeof(back)) == 0);
    FUZZ_CHECK(enroll_line_parse(back, &again, err, sizeof(err)) == 0);
    FUZZ_CHECK(memcmp(&l, &again, sizeof(l)) == 0);
    return 0;
}
