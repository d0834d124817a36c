/*
 * libFuzzer target: the collector's authorized_keys file, read by
 * auth_create() at start and by auth_reload() on SIGHUP (and after every
 * enrollment or revocation). The input is the file: it goes into a memfd
 * that the auth object reads by its /proc/self/fd path, so auth.c is
 * exercised unchanged. A file that loads has at most one key per line; a
 * file that fails names itself and its line, and the keys loaded before
 * stay (reload keeps the old list on error).
 * Seeds: tests/fuzz/seeds/authorized_keys/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zmq.h>

#include "auth.h"
#include "log.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* The collector under test, made once: a ZAP handler can be bound once
 * per ZeroMQ context, and reload is what runs again and again. */
struct fuzz_state {
    void *ctx;
    struct log *log;
    struct auth *auth;
    int fd;
    char path[64];
};
static struct fuzz_state st;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[512];
    (void)argc;
    (void)argv;
    st.fd = memfd_create("authorized_keys", 0);
    FUZZ_CHECK(st.fd >= 0);
    snprintf(st.path, sizeof(st.path), "/proc/self/fd/%d", st.fd);
    st.ctx = zmq_ctx_new();
    st.log = log_create(stderr, "fuzz", LOG_LEVEL_ERROR);
    FUZZ_CHECK(st.ctx != NULL && st.log != NULL);
    st.auth = auth_create(st.ctx, st.path, false, st.log, err, sizeof(err));
    FUZZ_CHECK(st.auth != NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512] = "";
    FUZZ_CHECK(ftruncate(st.fd, 0) == 0);
    FUZZ_CHECK(pwrite(st.fd, data, size, 0) == (ssize_t)size);

    size_t before = auth_count(st.auth);
    if (auth_reload(st.auth, err, sizeof(err)) == 0) {
        size_t lines = 1;
        for (size_t i = 0; i < size; i++)
            lines += data[i] == '\n';
        FUZZ_CHECK(auth_count(st.auth) <= lines && auth_count(st.auth) <= AUTH_KEYS_MAX);
    } else {
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
        FUZZ_CHECK(strncmp(err, st.path, strlen(st.path)) == 0);
        FUZZ_CHECK(auth_count(st.auth) == before);
    }
    FUZZ_CHECK(!auth_knows(st.auth, ""));
    return 0;
}
