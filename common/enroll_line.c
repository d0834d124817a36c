/*
 * enroll_line — the enrollment line's text form (enroll_line.h).
 */
#include "enroll_line.h"

#include <ctype.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#define FIELDS_MAX   512 /* the space-separated fields before encoding */
#define CHECKSUM_HEX 8   /* catches typos and truncation, not forgery */

static void hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void enroll_secret_hash(const char *secret, char *out)
{
    uint8_t md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)secret, strlen(secret), md);
    hex(md, sizeof(md), out);
}

int enroll_secret_new(char *secret)
{
    uint8_t raw[ENROLL_SECRET_BYTES];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return -1;
    hex(raw, sizeof(raw), secret);
    explicit_bzero(raw, sizeof(raw));
    return 0;
}

int enroll_name_valid(const char *s)
{
    if (*s == '\0' || strlen(s) > ENROLL_NAME_MAX)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
            return 0;
    return 1;
}

static int hex_valid(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;
    for (; *s; s++)
        if (!isxdigit((unsigned char)*s) || isupper((unsigned char)*s))
            return 0;
    return 1;
}

static int endpoint_valid(const char *s)
{
    if (strncmp(s, "tcp://", 6) != 0 || strlen(s) > TRANSPORT_ENDPOINT_MAX)
        return 0;
    for (; *s; s++)
        if (!isgraph((unsigned char)*s))
            return 0;
    return 1;
}

static void checksum(const char *fields, char *out)
{
    char full[ENROLL_HASH_HEX + 1];
    enroll_secret_hash(fields, full);
    memcpy(out, full, CHECKSUM_HEX);
    out[CHECKSUM_HEX] = '\0';
}

int enroll_line_format(const struct enroll_line *l, char *out, size_t outlen)
{
    if (!endpoint_valid(l->endpoint) || !transport_key_valid(l->server_key) ||
        !enroll_name_valid(l->name) || (l->site[0] && !enroll_name_valid(l->site)) ||
        !hex_valid(l->secret, ENROLL_SECRET_HEX))
        return -1;
    char fields[FIELDS_MAX], sum[CHECKSUM_HEX + 1];
    int n = snprintf(fields, sizeof(fields), "%s %s %s %s %s %" PRId64, l->endpoint, l->server_key,
                     l->name, l->site[0] ? l->site : "-", l->secret, l->expires);
    if (n < 0 || (size_t)n + 1 + CHECKSUM_HEX >= sizeof(fields))
        return -1;
    checksum(fields, sum);
    snprintf(fields + n, sizeof(fields) - (size_t)n, " %s", sum);
    size_t len = strlen(fields);
    size_t need = strlen(ENROLL_LINE_PREFIX) + 4 * ((len + 2) / 3) + 1;
    if (need > outlen)
        return -1;
    memcpy(out, ENROLL_LINE_PREFIX, strlen(ENROLL_LINE_PREFIX) + 1);
    EVP_EncodeBlock((unsigned char *)out + strlen(ENROLL_LINE_PREFIX),
                    (const unsigned char *)fields, (int)len);
    explicit_bzero(fields, sizeof(fields));
    return 0;
}

#define BAD_LINE                                                                                   \
    "the enrollment line is damaged (cut short or altered); copy it again, whole, "                \
    "from the output of 'vantage-collector enroll'"

int enroll_line_parse(const char *text, struct enroll_line *l, char *err, size_t errlen)
{
    memset(l, 0, sizeof(*l));
    while (isspace((unsigned char)*text))
        text++;
    if (strncmp(text, "vantage-agent enroll ", 21) == 0)
        text += 21;
    while (isspace((unsigned char)*text))
        text++;
    size_t plen = strlen(ENROLL_LINE_PREFIX);
    if (strncmp(text, ENROLL_LINE_PREFIX, plen) != 0) {
        snprintf(err, errlen,
                 "not an enrollment line (it starts with '%s'); paste the line that "
                 "'vantage-collector enroll NAME' printed",
                 ENROLL_LINE_PREFIX);
        return -1;
    }
    text += plen;
    size_t len = strcspn(text, " \t\r\n");
    if (text[len] != '\0' && strspn(text + len, " \t\r\n") != strlen(text + len)) {
        snprintf(err, errlen, "%s", BAD_LINE);
        return -1;
    }
    if (len == 0 || len % 4 != 0 || len > ENROLL_LINE_MAX) {
        snprintf(err, errlen, "%s", BAD_LINE);
        return -1;
    }
    unsigned char fields[ENROLL_LINE_MAX];
    int n = EVP_DecodeBlock(fields, (const unsigned char *)text, (int)len);
    if (n < 0) {
        snprintf(err, errlen, "%s", BAD_LINE);
        return -1;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    while (n > 0 && fields[n - 1] == '\0')
        n--;
    fields[n] = '\0';
    if (strlen((char *)fields) != (size_t)n) {
        snprintf(err, errlen, "%s", BAD_LINE);
        return -1;
    }
    char *sum = strrchr((char *)fields, ' ');
    char expect[CHECKSUM_HEX + 1];
    if (sum == NULL) {
        snprintf(err, errlen, "%s", BAD_LINE);
        return -1;
    }
    *sum++ = '\0';
    checksum((char *)fields, expect);
    if (strcmp(sum, expect) != 0) {
        snprintf(err, errlen, "%s", BAD_LINE);
        explicit_bzero(fields, sizeof(fields));
        return -1;
    }
    char endpoint[TRANSPORT_ENDPOINT_MAX + 2], key[TRANSPORT_KEY_LEN + 2],
        name[ENROLL_NAME_MAX + 2], site[ENROLL_NAME_MAX + 2], secret[ENROLL_SECRET_HEX + 2];
    long long expires;
    char extra;
    int got = sscanf((char *)fields, "%257s %41s %65s %65s %65s %lld %c", endpoint, key, name, site,
                     secret, &expires, &extra);
    explicit_bzero(fields, sizeof(fields));
    if (got != 6 || !endpoint_valid(endpoint) || !transport_key_valid(key) ||
        !enroll_name_valid(name) || (strcmp(site, "-") != 0 && !enroll_name_valid(site)) ||
        !hex_valid(secret, ENROLL_SECRET_HEX) || expires <= 0) {
        explicit_bzero(secret, sizeof(secret));
        snprintf(err, errlen,
                 "the enrollment line is not one this version understands; print a new one with "
                 "'vantage-collector enroll' of the same version");
        return -1;
    }
    /* Every length was checked by the *_valid() calls above. */
    memcpy(l->endpoint, endpoint, strlen(endpoint) + 1);
    memcpy(l->server_key, key, TRANSPORT_KEY_LEN + 1);
    memcpy(l->name, name, strlen(name) + 1);
    if (strcmp(site, "-") != 0)
        memcpy(l->site, site, strlen(site) + 1);
    memcpy(l->secret, secret, ENROLL_SECRET_HEX + 1);
    l->expires = expires;
    explicit_bzero(secret, sizeof(secret));
    return 0;
}
