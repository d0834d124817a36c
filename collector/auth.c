/*
 * auth — authorized_keys and the ZAP handler (auth.h).
 */
#include "auth.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "enroll.h"
#include "transport.h"

#define AUTH_LINE_MAX  512 /* a key, a name and some slack */
#define AUTH_NAME_MAX  64  /* agent names are host-like labels */
#define ZAP_FRAMES_MAX 8   /* RFC 27 requests have 6 + credentials */
#define ZAP_FRAME_MAX  256 /* no ZAP frame we read is longer */
#define AUTH_WHEN_MAX  40  /* an ISO time stamp of enroll.c */

struct auth_key {
    uint8_t key[32];
    char name[AUTH_NAME_MAX + 1];
};

/* A line of the `revoked` file beside authorized_keys (enroll_revoke
 * writes "TIME NAME KEY"), so that the log names the agent whose revoked
 * key is refused: it has no agent row left to count the refusal in. */
struct auth_revoked {
    uint8_t key[32];
    char name[AUTH_NAME_MAX + 1];
    char when[AUTH_WHEN_MAX + 1];
};

struct auth {
    void *zap;
    char *path;
    bool plaintext;
    struct log *log;
    struct auth_key *keys;
    size_t nkeys;
    struct auth_revoked *revoked;
    size_t nrevoked;
    size_t refused;
};

static int valid_name(const char *s)
{
    if (*s == '\0' || strlen(s) > AUTH_NAME_MAX)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
            return 0;
    return 1;
}

static int load_keys(const char *path, struct auth_key **out, size_t *nout, char *err,
                     size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open authorized_keys: %s", path, strerror(errno));
        return -1;
    }
    struct auth_key *keys = NULL;
    size_t n = 0, cap = 0;
    char line[AUTH_LINE_MAX + 2];
    int lineno = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        size_t len = strlen(line);
        if (len > AUTH_LINE_MAX && line[len - 1] != '\n') {
            snprintf(err, errlen, "%s:%d: line longer than %d characters", path, lineno,
                     AUTH_LINE_MAX);
            goto fail;
        }
        line[strcspn(line, "\r\n")] = '\0';
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            continue;
        char keytext[TRANSPORT_KEY_LEN + 1] = "";
        size_t klen = strcspn(p, " \t");
        if (klen == TRANSPORT_KEY_LEN) {
            memcpy(keytext, p, klen);
            keytext[klen] = '\0';
        }
        if (!transport_key_valid(keytext)) {
            if (*p == '#')
                continue;
            snprintf(err, errlen,
                     "%s:%d: expected '<z85 public key> <agent name>' (the key is the 40-character "
                     "line of the agent's agent.pub)",
                     path, lineno);
            goto fail;
        }
        char *name = p + klen;
        while (*name == ' ' || *name == '\t')
            name++;
        char *end = name + strlen(name);
        while (end > name && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        if (!valid_name(name)) {
            snprintf(err, errlen,
                     "%s:%d: agent name '%.64s' must be 1-%d letters, digits, '-', '_' or '.'",
                     path, lineno, name, AUTH_NAME_MAX);
            goto fail;
        }
        uint8_t raw[32];
        zmq_z85_decode(raw, keytext);
        for (size_t i = 0; i < n; i++) {
            if (memcmp(keys[i].key, raw, 32) == 0) {
                snprintf(err, errlen, "%s:%d: this key is listed twice", path, lineno);
                goto fail;
            }
            if (strcmp(keys[i].name, name) == 0) {
                snprintf(err, errlen, "%s:%d: agent name '%s' is given to two keys", path, lineno,
                         name);
                goto fail;
            }
        }
        if (n == AUTH_KEYS_MAX) {
            snprintf(err, errlen, "%s: more than %d keys", path, AUTH_KEYS_MAX);
            goto fail;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            struct auth_key *grown = realloc(keys, cap * sizeof(*keys));
            if (grown == NULL) {
                snprintf(err, errlen, "%s: out of memory", path);
                goto fail;
            }
            keys = grown;
        }
        memcpy(keys[n].key, raw, 32);
        snprintf(keys[n].name, sizeof(keys[n].name), "%s", name);
        n++;
    }
    fclose(f);
    *out = keys;
    *nout = n;
    return 0;
fail:
    fclose(f);
    free(keys);
    return -1;
}

/* (Re)reads the revoked keys, for the log only: a missing file is none,
 * a line that is not "TIME NAME KEY" (a pending enrollment's has "-" for
 * KEY) is skipped, and a file that cannot be read is logged and leaves
 * none. */
static void load_revoked(struct auth *a)
{
    free(a->revoked);
    a->revoked = NULL;
    a->nrevoked = 0;
    char copy[PATH_MAX], path[PATH_MAX];
    if (snprintf(copy, sizeof(copy), "%s", a->path) >= (int)sizeof(copy) ||
        snprintf(path, sizeof(path), "%s/revoked", dirname(copy)) >= (int)sizeof(path))
        return;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        if (errno != ENOENT)
            log_warn(a->log, "cannot read %s: %s (refused keys are not named)", path,
                     strerror(errno));
        return;
    }
    char line[AUTH_LINE_MAX + 2];
    size_t cap = 0;
    while (fgets(line, sizeof(line), f) != NULL && a->nrevoked < AUTH_KEYS_MAX) {
        char when[AUTH_WHEN_MAX + 1], name[AUTH_NAME_MAX + 1], key[TRANSPORT_KEY_LEN + 1];
        if (sscanf(line, "%40s %64s %40s", when, name, key) != 3 || !valid_name(name) ||
            !transport_key_valid(key))
            continue;
        if (a->nrevoked == cap) {
            cap = cap ? cap * 2 : 16;
            struct auth_revoked *grown = realloc(a->revoked, cap * sizeof(*grown));
            if (grown == NULL)
                break; /* the names are a courtesy of the log */
            a->revoked = grown;
        }
        struct auth_revoked *r = &a->revoked[a->nrevoked++];
        zmq_z85_decode(r->key, key);
        snprintf(r->name, sizeof(r->name), "%s", name);
        snprintf(r->when, sizeof(r->when), "%s", when);
    }
    fclose(f);
}

struct auth *auth_create(void *ctx, const char *keys_path, bool plaintext, struct log *log,
                         char *err, size_t errlen)
{
    struct auth *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->plaintext = plaintext;
    a->log = log;
    if (keys_path != NULL) {
        a->path = strdup(keys_path);
        if (a->path == NULL || load_keys(keys_path, &a->keys, &a->nkeys, err, errlen) < 0)
            goto fail;
        load_revoked(a);
    }
    a->zap = zmq_socket(ctx, ZMQ_REP);
    if (a->zap == NULL || zmq_bind(a->zap, "inproc://zeromq.zap.01") != 0) {
        snprintf(err, errlen, "cannot start the ZAP handler: %s", zmq_strerror(errno));
        goto fail;
    }
    int linger = 0;
    zmq_setsockopt(a->zap, ZMQ_LINGER, &linger, sizeof(linger));
    return a;
fail:
    auth_destroy(&a);
    return NULL;
}

void auth_destroy(struct auth **ap)
{
    if (ap == NULL || *ap == NULL)
        return;
    struct auth *a = *ap;
    if (a->zap != NULL)
        zmq_close(a->zap);
    free(a->keys);
    free(a->revoked);
    free(a->path);
    free(a);
    *ap = NULL;
}

int auth_reload(struct auth *a, char *err, size_t errlen)
{
    if (a->path == NULL)
        return 0;
    struct auth_key *keys;
    size_t n;
    if (load_keys(a->path, &keys, &n, err, errlen) < 0)
        return -1;
    free(a->keys);
    a->keys = keys;
    a->nkeys = n;
    load_revoked(a); /* `vantage-collector revoke` wrote it before asking for this */
    return 0;
}

void *auth_socket(struct auth *a)
{
    return a->zap;
}

size_t auth_count(const struct auth *a)
{
    return a->nkeys;
}

size_t auth_refused(const struct auth *a)
{
    return a->refused;
}

bool auth_knows(const struct auth *a, const char *name)
{
    if (a->path == NULL)
        return true; /* plaintext: everyone is who they claim */
    for (size_t i = 0; i < a->nkeys; i++)
        if (strcmp(a->keys[i].name, name) == 0)
            return true;
    return false;
}

static const char *lookup(const struct auth *a, const uint8_t *key)
{
    for (size_t i = 0; i < a->nkeys; i++)
        if (memcmp(a->keys[i].key, key, 32) == 0)
            return a->keys[i].name;
    return NULL;
}

/* The latest revocation of key (a key revoked, re-added and revoked
 * again has several lines), or NULL. */
static const struct auth_revoked *revoked_of(const struct auth *a, const uint8_t *key)
{
    for (size_t i = a->nrevoked; i-- > 0;)
        if (memcmp(a->revoked[i].key, key, 32) == 0)
            return &a->revoked[i];
    return NULL;
}

static void send_frame(void *s, const char *text, int more)
{
    zmq_send(s, text, strlen(text), more ? ZMQ_SNDMORE : 0);
}

/* Reads one multi-frame ZAP request; returns the frame count or -1. */
static int read_request(void *s, char frames[][ZAP_FRAME_MAX + 1], size_t *lens)
{
    int n = 0, more;
    size_t more_len = sizeof(more);
    do {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return n == 0 ? -1 : n;
        }
        if (n < ZAP_FRAMES_MAX) {
            size_t len = zmq_msg_size(&m);
            if (len > ZAP_FRAME_MAX)
                len = ZAP_FRAME_MAX;
            memcpy(frames[n], zmq_msg_data(&m), len);
            frames[n][len] = '\0';
            lens[n] = len;
            n++;
        }
        zmq_msg_close(&m);
        zmq_getsockopt(s, ZMQ_RCVMORE, &more, &more_len);
    } while (more);
    return n;
}

void auth_handle(struct auth *a)
{
    for (;;) {
        char frames[ZAP_FRAMES_MAX][ZAP_FRAME_MAX + 1];
        size_t lens[ZAP_FRAMES_MAX];
        int n = read_request(a->zap, frames, lens);
        if (n < 0)
            return;
        const char *status = "400", *text = "refused", *user = "";
        char enrollee[TRANSPORT_KEY_LEN + 2] = {AUTH_ENROLLEE_MARK};
        /* frames: version, request id, domain, address, identity,
         * mechanism, credentials... */
        if (n >= 6 && strcmp(frames[0], "1.0") == 0) {
            const char *address = frames[3], *mech = frames[5];
            if (strcmp(mech, "CURVE") == 0 && n >= 7 && lens[6] == 32) {
                const char *name = lookup(a, (const uint8_t *)frames[6]);
                if (name != NULL) {
                    status = "200";
                    text = "OK";
                    user = name;
                } else if (a->path != NULL && enroll_pending(a->path)) {
                    /* Admitted for one Enroll message only: the User-Id
                     * marks it (serve.c refuses anything else from it). */
                    zmq_z85_encode(enrollee + 1, (const uint8_t *)frames[6], 32);
                    status = "200";
                    text = "OK";
                    user = enrollee;
                } else {
                    char z85[TRANSPORT_KEY_LEN + 1];
                    zmq_z85_encode(z85, (const uint8_t *)frames[6], 32);
                    a->refused++;
                    const struct auth_revoked *r = revoked_of(a, (const uint8_t *)frames[6]);
                    if (r != NULL)
                        log_warn(a->log,
                                 "refused agent key %s from %s: agent %s, revoked at %s (to admit "
                                 "it again, add '%s %s' to %s and send SIGHUP)",
                                 z85, address, r->name, r->when, z85, r->name, a->path);
                    else
                        log_warn(a->log,
                                 "refused agent key %s from %s: not in authorized_keys (add '%s "
                                 "NAME' to %s and send SIGHUP)",
                                 z85, address, z85, a->path ? a->path : "authorized_keys");
                }
            } else if (strcmp(mech, "NULL") == 0 && a->plaintext) {
                status = "200";
                text = "OK";
            } else {
                a->refused++;
                log_warn(a->log, "refused %s connection from %s", mech, address);
            }
        }
        send_frame(a->zap, "1.0", 1);
        zmq_send(a->zap, n >= 2 ? frames[1] : "", n >= 2 ? lens[1] : 0, ZMQ_SNDMORE);
        send_frame(a->zap, status, 1);
        send_frame(a->zap, text, 1);
        send_frame(a->zap, user, 1);
        send_frame(a->zap, "", 0);
    }
}
