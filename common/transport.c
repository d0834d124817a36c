/*
 * transport — ZeroMQ socket set-up and CURVE key files (transport.h).
 */
#include "transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "wire.h"

bool transport_key_valid(const char *text)
{
    uint8_t raw[32];
    return text != NULL && strlen(text) == TRANSPORT_KEY_LEN && zmq_z85_decode(raw, text) != NULL;
}

static int write_file(const char *path, const char *text, mode_t mode, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s%s", path, strerror(errno),
                 errno == EEXIST ? " (refusing to overwrite an existing key; remove it first)"
                                 : "");
        return -1;
    }
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    if (n < 0 || (size_t)n != len || fsync(fd) < 0) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    close(fd);
    return 0;
}

int transport_keygen(const char *dir, const char *name, char *err, size_t errlen)
{
    char pub[TRANSPORT_KEY_LEN + 1], sec[TRANSPORT_KEY_LEN + 1];
    char path[4096], text[128];

    if (zmq_curve_keypair(pub, sec) != 0) {
        snprintf(err, errlen, "cannot make a CURVE key pair: %s (is libzmq built with libsodium?)",
                 zmq_strerror(errno));
        return -1;
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: cannot create directory: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof(path), "%s/%s.key", dir, name);
    snprintf(text, sizeof(text), "%s\n", sec);
    /* umask may widen nothing here: O_CREAT with 0600 only narrows. */
    if (write_file(path, text, 0600, err, errlen) < 0)
        return -1;
    explicit_bzero(sec, sizeof(sec));
    explicit_bzero(text, sizeof(text));
    snprintf(path, sizeof(path), "%s/%s.pub", dir, name);
    snprintf(text, sizeof(text), "%s\n", pub);
    return write_file(path, text, 0644, err, errlen);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int transport_key_file_public(const char *path, const char *value, const char *known_public,
                              char *err, size_t errlen)
{
    if (ends_with(path, ".pub")) {
        size_t stem = strlen(value) - (ends_with(value, ".pub") ? 4 : 0);
        snprintf(err, errlen,
                 "%s is a public key file (what keygen writes for the other side); secret_key "
                 "must name the secret key keygen wrote beside it: write secret_key = %.*s.key",
                 value, (int)stem, value);
        return 1;
    }
    if (known_public == NULL)
        return 0;
    char buf[128];
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    int same = strcmp(buf, known_public) == 0;
    explicit_bzero(buf, sizeof(buf));
    if (!same)
        return 0;
    snprintf(err, errlen,
             "%s holds the peer's public key (the same as collector_public_key), not this "
             "side's secret key: write secret_key = the .key file that 'keygen --out DIR' "
             "wrote on this machine",
             value);
    return 1;
}

int transport_load_keys(const char *path, struct transport_keys *keys, char *err, size_t errlen)
{
    char buf[256];
    struct stat st;
    /* Before the mode check: "chmod 600" would be the wrong advice. */
    if (transport_key_file_public(path, path, NULL, err, errlen))
        return -1;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open secret key: %s (make one with 'keygen --out DIR')",
                 path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_mode & 077) {
        snprintf(err, errlen,
                 "%s: secret key is readable by group or others (mode %03o); run chmod 600 %s",
                 path, (unsigned)(st.st_mode & 0777), path);
        close(fd);
        return -1;
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0) {
        snprintf(err, errlen, "%s: read failed: %s", path, strerror(errno));
        return -1;
    }
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (!transport_key_valid(buf)) {
        snprintf(err, errlen,
                 "%s: not a Z85 CURVE secret key (expected 40 characters on the first line)", path);
        explicit_bzero(buf, sizeof(buf));
        return -1;
    }
    memcpy(keys->secret_key, buf, TRANSPORT_KEY_LEN + 1);
    explicit_bzero(buf, sizeof(buf));
    if (zmq_curve_public(keys->public_key, keys->secret_key) != 0) {
        snprintf(err, errlen, "%s: cannot derive the public key: %s", path, zmq_strerror(errno));
        return -1;
    }
    return 0;
}

bool transport_endpoint_is_local(const char *endpoint)
{
    if (strncmp(endpoint, "ipc://", 6) == 0 || strncmp(endpoint, "inproc://", 9) == 0)
        return true;
    if (strncmp(endpoint, "tcp://", 6) != 0)
        return false;
    const char *host = endpoint + 6;
    char addr[64];
    size_t len;
    if (*host == '[') {
        const char *end = strchr(host, ']');
        if (end == NULL)
            return false;
        len = (size_t)(end - host - 1);
        host++;
    } else {
        const char *colon = strrchr(host, ':');
        len = colon ? (size_t)(colon - host) : strlen(host);
    }
    if (len >= sizeof(addr))
        return false;
    memcpy(addr, host, len);
    addr[len] = '\0';
    if (strcmp(addr, "localhost") == 0)
        return true;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, addr, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, addr, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

static int setopt_int(void *s, int opt, int v)
{
    return zmq_setsockopt(s, opt, &v, sizeof(v));
}

/* Options both ends share. */
static int common_opts(void *s)
{
    int64_t maxmsg = WIRE_MSG_MAX;
    if (zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) != 0 ||
        setopt_int(s, ZMQ_LINGER, 0) != 0 ||
        setopt_int(s, ZMQ_HEARTBEAT_IVL, TRANSPORT_HEARTBEAT_IVL_MS) != 0 ||
        setopt_int(s, ZMQ_HEARTBEAT_TIMEOUT, TRANSPORT_HEARTBEAT_TIMEOUT_MS) != 0 ||
        setopt_int(s, ZMQ_HEARTBEAT_TTL, TRANSPORT_HEARTBEAT_TIMEOUT_MS) != 0 ||
        setopt_int(s, ZMQ_IPV6, 1) != 0)
        return -1;
    return 0;
}

static int check_plaintext(const struct transport_opts *o, char *err, size_t errlen)
{
    if (o->plaintext && !transport_endpoint_is_local(o->endpoint)) {
        snprintf(err, errlen,
                 "%s: insecure_plaintext is allowed only on loopback or ipc endpoints; remove it "
                 "to use CURVE",
                 o->endpoint);
        return -1;
    }
    if (!o->plaintext && o->keys == NULL) {
        snprintf(err, errlen,
                 "no CURVE keys given (set secret_key, or make keys with 'keygen --out DIR')");
        return -1;
    }
    return 0;
}

void *transport_server_create(void *ctx, const struct transport_opts *o, char *err, size_t errlen)
{
    if (check_plaintext(o, err, errlen) < 0)
        return NULL;
    void *s = zmq_socket(ctx, ZMQ_ROUTER);
    if (s == NULL) {
        snprintf(err, errlen, "cannot create socket: %s", zmq_strerror(errno));
        return NULL;
    }
    /* The receive queue is per connection: ZeroMQ reads no more from a
     * peer whose queue is full, so TCP pushes back on that peer alone,
     * while the socket takes one message from each peer in turn (fair
     * queueing). An agent keeps at most 4 batches unacknowledged, so a
     * queue of TRANSPORT_PEER_RCVHWM never stalls one that behaves, and
     * one that floods holds at most that many messages of the collector's
     * memory (it was 100000: a flooding agent grew the collector by
     * 10 MB/s, chaos.flood). */
    if (common_opts(s) != 0 || setopt_int(s, ZMQ_ROUTER_MANDATORY, 1) != 0 ||
        setopt_int(s, ZMQ_RCVHWM, TRANSPORT_PEER_RCVHWM) != 0 ||
        setopt_int(s, ZMQ_SNDHWM, 100000) != 0 ||
        setopt_int(s, ZMQ_BACKLOG, TRANSPORT_BACKLOG) != 0 ||
        zmq_setsockopt(s, ZMQ_ZAP_DOMAIN, TRANSPORT_ZAP_DOMAIN, strlen(TRANSPORT_ZAP_DOMAIN)) != 0)
        goto fail;
    if (!o->plaintext) {
        if (setopt_int(s, ZMQ_CURVE_SERVER, 1) != 0 ||
            zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, o->keys->secret_key, TRANSPORT_KEY_LEN) != 0)
            goto fail;
    }
    if (zmq_bind(s, o->endpoint) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", o->endpoint, zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    return s;
fail:
    snprintf(err, errlen, "cannot set socket options: %s", zmq_strerror(errno));
    zmq_close(s);
    return NULL;
}

void *transport_client_create(void *ctx, const struct transport_opts *o, char *err, size_t errlen)
{
    if (check_plaintext(o, err, errlen) < 0)
        return NULL;
    if (!o->plaintext && !transport_key_valid(o->server_key)) {
        snprintf(err, errlen,
                 "collector_public_key is not a Z85 CURVE public key (40 characters from the "
                 "collector's .pub file)");
        return NULL;
    }
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    if (s == NULL) {
        snprintf(err, errlen, "cannot create socket: %s", zmq_strerror(errno));
        return NULL;
    }
    /* IMMEDIATE: queue only on a finished connection, so nothing sits in a
     * dead pipe; the uplink resends whatever was not acknowledged. */
    if (common_opts(s) != 0 || setopt_int(s, ZMQ_IMMEDIATE, 1) != 0 ||
        setopt_int(s, ZMQ_RECONNECT_IVL, TRANSPORT_RECONNECT_MS) != 0 ||
        setopt_int(s, ZMQ_RECONNECT_IVL_MAX, TRANSPORT_RECONNECT_MAX_MS) != 0 ||
        setopt_int(s, ZMQ_SNDHWM, 1000) != 0)
        goto fail;
    if (!o->plaintext) {
        if (zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, o->server_key, TRANSPORT_KEY_LEN) != 0 ||
            zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, o->keys->public_key, TRANSPORT_KEY_LEN) != 0 ||
            zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, o->keys->secret_key, TRANSPORT_KEY_LEN) != 0)
            goto fail;
    }
    if (zmq_connect(s, o->endpoint) != 0) {
        snprintf(err, errlen, "cannot connect to %s: %s", o->endpoint, zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    return s;
fail:
    snprintf(err, errlen, "cannot set socket options: %s", zmq_strerror(errno));
    zmq_close(s);
    return NULL;
}

void transport_close(void **sockp)
{
    if (sockp == NULL || *sockp == NULL)
        return;
    zmq_close(*sockp);
    *sockp = NULL;
}
