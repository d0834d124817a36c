/*
 * html — escaping for the status page (html.h).
 */
#include "html.h"

#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

void html_escape(FILE *out, const char *s)
{
    if (s == NULL)
        return;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&#39;", out);
            break;
        default:
            if ((*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7f)
                fputs("\xef\xbf\xbd", out);
            else
                fputc(*p, out);
        }
    }
}

void html_printf(FILE *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            fputc(*p, out);
            continue;
        }
        p++;
        int prec = -1;
        if (*p == '.') {
            prec = 0;
            for (p++; *p >= '0' && *p <= '9'; p++)
                prec = prec * 10 + (*p - '0');
        }
        bool ll = false, z = false;
        if (p[0] == 'l' && p[1] == 'l') {
            ll = true;
            p += 2;
        } else if (*p == 'z') {
            z = true;
            p++;
        }
        switch (*p) {
        case 's':
            html_escape(out, va_arg(ap, const char *));
            break;
        case 'd':
            if (ll)
                fprintf(out, "%lld", va_arg(ap, long long));
            else
                fprintf(out, "%d", va_arg(ap, int));
            break;
        case 'u':
            if (z)
                fprintf(out, "%zu", va_arg(ap, size_t));
            else
                fprintf(out, "%u", va_arg(ap, unsigned));
            break;
        case 'f':
            fprintf(out, "%.*f", prec < 0 ? 6 : prec, va_arg(ap, double));
            break;
        case '%':
            fputc('%', out);
            break;
        default: /* not a conversion html_printf knows: fmt is ours, so a bug */
            va_end(ap);
            return;
        }
    }
    va_end(ap);
}
