/*
 * version — what `--version` prints: the program's version, the git
 * commit it was built from, and the versions of the libraries it runs
 * with (as loaded, not as compiled against), for bug reports.
 */
#ifndef VANTAGE_VERSION_H
#define VANTAGE_VERSION_H

#include <stdio.h>

/* Prints "PROG VERSION (commit C)" and a line of the libraries both
 * programs use (libzmq, protobuf-c, OpenSSL, jansson); extra, if not
 * NULL, is appended to that line (each program's own libraries). */
void version_print(FILE *out, const char *prog, const char *extra);

#endif
