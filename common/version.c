/*
 * version — `--version` (version.h).
 */
#include "version.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <zmq.h>

#include "wire.h"

#ifndef VANTAGE_GIT_COMMIT
#define VANTAGE_GIT_COMMIT "unknown"
#endif

void version_print(FILE *out, const char *prog, const char *extra)
{
    int major, minor, patch;
    zmq_version(&major, &minor, &patch);
    fprintf(out, "%s %s (commit %s)\n", prog, VANTAGE_VERSION, VANTAGE_GIT_COMMIT);
    fprintf(out, "libzmq %d.%d.%d, protobuf-c %s, %s, jansson %s%s%s\n", major, minor, patch,
            wire_library_version(), OpenSSL_version(OPENSSL_VERSION), jansson_version_str(),
            extra ? ", " : "", extra ? extra : "");
}
