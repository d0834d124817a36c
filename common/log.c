/*
 * log — leveled logging (log.h).
 */
#include "log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

#define LOG_LINE_MAX 2048 /* a line longer than this is cut, not split */

struct log {
    FILE *out;
    char prog[32];
    enum log_level level;
};

static const char *const level_names[LOG_LEVEL_LAST] = {"error", "warn", "info", "debug"};

struct log *log_create(FILE *out, const char *prog, enum log_level level)
{
    struct log *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->out = out;
    snprintf(l->prog, sizeof(l->prog), "%s", prog);
    l->level = level;
    return l;
}

void log_destroy(struct log **lp)
{
    if (lp == NULL || *lp == NULL)
        return;
    free(*lp);
    *lp = NULL;
}

int log_level_parse(const char *name, enum log_level *out)
{
    for (int i = 0; i < LOG_LEVEL_LAST; i++)
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    return -1;
}

void log_msg(struct log *l, enum log_level level, const char *fmt, ...)
{
    if (l == NULL || level > l->level)
        return;
    char when[40], line[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    clock_format_iso_us(clock_wall_us(), true, when, sizeof(when));
    /* One fprintf per line keeps lines whole when several processes share
     * a terminal or a log file. */
    fprintf(l->out, "%s %-5s [%s] %s\n", when, level_names[level], l->prog, line);
    fflush(l->out);
}
