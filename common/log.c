/*
 * log — leveled logging (log.h).
 */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"

#define LOG_LINE_MAX 2048 /* a line longer than this is cut, not split */

struct log {
    FILE *out;
    char prog[32];
    enum log_level level;
    bool journal; /* out is systemd's journal stream: "<N>" levels, no time */
};

/* syslog priorities (sd-daemon(3)) of error, warn, info, debug. */
static const int journal_priority[LOG_LEVEL_LAST] = {3, 4, 6, 7};

/* Whether out is the stream systemd connected as the journal: it says so
 * in $JOURNAL_STREAM ("DEVICE:INODE" of that stream), which a child that
 * logs elsewhere inherits, hence the comparison. */
static bool is_journal(FILE *out)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(fileno(out), &st) < 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static const char *const level_names[LOG_LEVEL_LAST] = {"error", "warn", "info", "debug"};

struct log *log_create(FILE *out, const char *prog, enum log_level level)
{
    struct log *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->out = out;
    snprintf(l->prog, sizeof(l->prog), "%s", prog);
    l->level = level;
    l->journal = is_journal(out);
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
    if (l->journal) {
        /* The journal stamps each line and keeps its priority. */
        fprintf(l->out, "<%d>%s\n", journal_priority[level], line);
        fflush(l->out);
        return;
    }
    clock_format_iso_us(clock_wall_us(), true, when, sizeof(when));
    /* One fprintf per line keeps lines whole when several processes share
     * a terminal or a log file. */
    fprintf(l->out, "%s %-5s [%s] %s\n", when, level_names[level], l->prog, line);
    fflush(l->out);
}
