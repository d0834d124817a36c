/*
 * log — leveled logging to a stream (stderr for the daemons).
 *
 * A logger is a handle that main() creates and hands to the modules that
 * log, so that there is no global logging state. Every module may be given
 * NULL, which logs nothing. Callers never pass secrets: passwords and
 * secret keys do not reach a log line.
 */
#ifndef VANTAGE_LOG_H
#define VANTAGE_LOG_H

#include <stdio.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG, LOG_LEVEL_LAST };

struct log;

/* Creates a logger writing lines "TIME LEVEL [prog] message" to out, or
 * "<PRIORITY>message" when out is systemd's journal ($JOURNAL_STREAM). */
struct log *log_create(FILE *out, const char *prog, enum log_level level);
void log_destroy(struct log **lp);

/* Parses "error", "warn", "info", "debug"; 0 and *out, or -1. */
int log_level_parse(const char *name, enum log_level *out);

void log_msg(struct log *l, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(l, ...) log_msg((l), LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(l, ...)  log_msg((l), LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(l, ...)  log_msg((l), LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(l, ...) log_msg((l), LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
