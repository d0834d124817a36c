/*
 * dialog — shared plumbing of the mail dialogs (see dialog.h).
 */
#include "dialog.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "clock.h"

#define ERR_MAX 256
/* What a scrubbed secret is replaced with in a detail. */
#define DIALOG_REDACTED "***"

/*
 * Whether the engine traces (probe_engine_opts.trace). probe.c keeps the
 * flag private; this accessor is requested from it (see the report of the
 * dialogs work). Until it exists the weak reference is NULL and dialogs do
 * not trace.
 */

static bool tracing(const struct dialog *d)
{
    return probe_tracing(d->p);
}

void *dialog_create(struct probe *p, size_t size, const char *proto)
{
    struct dialog *d;

    assert(size >= sizeof(*d));
    d = calloc(1, size);
    if (d == NULL) {
        result_fail(&p->result, RESULT_INTERNAL, "out of memory starting the %s dialog", proto);
        return NULL;
    }
    d->p = p;
    d->proto = proto;
    p->kind = d;
    return d;
}

/* The encodings of the credentials live in struct dialog only (the kinds
 * keep no copy of the password), so wiping them is enough. */
static void wipe_free(struct dialog *d)
{
    explicit_bzero(d->b64_plain, sizeof(d->b64_plain));
    explicit_bzero(d->b64_user, sizeof(d->b64_user));
    explicit_bzero(d->b64_pass, sizeof(d->b64_pass));
    free(d);
}

void dialog_discard(struct dialog *d)
{
    if (d == NULL)
        return;
    d->p->kind = NULL;
    wipe_free(d);
}

static void closed(void *arg)
{
    struct dialog *d = arg;
    struct probe *p = d->p;

    p->kind = NULL;
    wipe_free(d);
    probe_finish(p);
}

void dialog_finish(struct dialog *d)
{
    if (d->finishing)
        return;
    d->finishing = true;
    struct conn *c = d->c;
    d->c = NULL;
    if (tracing(d))
        fprintf(stderr, "probe %s: %s finished: %s\n", d->p->result.check, d->proto,
                result_error_name(d->p->result.error));
    if (c == NULL) {
        /* No connection to wait for (cannot happen after dialog_connect()
         * succeeded, but the probe must still end exactly once). */
        closed(d);
        return;
    }
    conn_destroy(&c, closed, d);
}

void dialog_abort(struct probe *p, enum probe_abort why)
{
    struct dialog *d = p->kind;

    if (d == NULL || d->finishing)
        return; /* already closing: closed() finishes the probe */
    if (!d->succeeded)
        probe_classify_abort(p, d->c, why);
    dialog_finish(d);
}

int dialog_connect(struct dialog *d, conn_event_cb cb, void *arg)
{
    struct probe *p = d->p;
    char err[ERR_MAX];
    struct conn_params cp = {
        .loop = p->loop,
        .tls = p->tls,
        .addrs = p->addrs,
        .naddrs = p->naddrs,
        .port = p->spec.port,
        .servername = p->spec.host,
        .deadline_us = p->deadline_us,
        /* A reply line longer than the parsers accept is malformed; let
         * conn stop at the same bound (plus CRLF). */
        .line_max = (d->line_max != 0 ? d->line_max : REPLY_LINE_MAX) + 2,
        .result = &p->result,
    };

    d->c = conn_create(&cp, cb, arg, err, sizeof(err));
    if (d->c != NULL && conn_connect(d->c, err, sizeof(err)) == 0)
        return 0;
    result_fail(&p->result, RESULT_INTERNAL, "%s", err);
    if (d->c != NULL)
        conn_destroy(&d->c, NULL, NULL);
    dialog_discard(d);
    return -1;
}

bool dialog_wants_login(const struct dialog *d)
{
    return d->p->user != NULL && d->p->password != NULL;
}

/* base64 of len bytes into out (outlen >= 4 * ceil(len / 3) + 1). */
static int b64(const void *in, size_t len, char *out, size_t outlen)
{
    if (((len + 2) / 3) * 4 + 1 > outlen || len > INT32_MAX)
        return -1;
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    return 0;
}

static bool cred_ok(const char *s)
{
    size_t n = strnlen(s, DIALOG_CRED_MAX + 1);

    if (n == 0 || n > DIALOG_CRED_MAX)
        return false;
    return strpbrk(s, "\r\n") == NULL;
}

int dialog_secrets(struct dialog *d)
{
    const char *user = d->p->user;
    const char *pass = d->p->password;
    unsigned char blob[2 * DIALOG_CRED_MAX + 2];

    if (d->have_secrets)
        return 0;
    if (user == NULL || pass == NULL || !cred_ok(user) || !cred_ok(pass))
        return -1;
    size_t ul = strlen(user), pl = strlen(pass);
    /* RFC 4616: [authzid] NUL authcid NUL passwd, authzid left empty. */
    blob[0] = '\0';
    memcpy(blob + 1, user, ul);
    blob[1 + ul] = '\0';
    memcpy(blob + 2 + ul, pass, pl);
    int rc = b64(blob, 2 + ul + pl, d->b64_plain, sizeof(d->b64_plain)) == 0 &&
                     b64(user, ul, d->b64_user, sizeof(d->b64_user)) == 0 &&
                     b64(pass, pl, d->b64_pass, sizeof(d->b64_pass)) == 0
                 ? 0
                 : -1;
    explicit_bzero(blob, sizeof(blob));
    d->have_secrets = rc == 0;
    return rc;
}

/* Copies src to dst (capacity cap), replacing every occurrence of secret
 * with DIALOG_REDACTED; what does not fit is cut. */
static void scrub(char *dst, size_t cap, const char *src, const char *secret)
{
    size_t sl = secret != NULL ? strlen(secret) : 0;
    size_t rl = strlen(DIALOG_REDACTED);
    size_t n = 0;

    while (*src != '\0' && n + 1 < cap) {
        if (sl > 0 && strncmp(src, secret, sl) == 0) {
            for (size_t i = 0; i < rl && n + 1 < cap; i++)
                dst[n++] = DIALOG_REDACTED[i];
            src += sl;
        } else {
            dst[n++] = *src++;
        }
    }
    dst[n] = '\0';
}

void dialog_fail(struct dialog *d, enum result_error e, const char *fmt, ...)
{
    char buf[RESULT_STR_MAX + 1];
    char tmp[RESULT_STR_MAX + 1];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    /* Longest first, so that a shorter secret inside a longer one does not
     * leave the rest of the longer one behind. */
    scrub(tmp, sizeof(tmp), buf, d->b64_plain);
    scrub(buf, sizeof(buf), tmp, d->b64_pass);
    scrub(tmp, sizeof(tmp), buf, d->p->password);
    result_fail(&d->p->result, e, "%s", tmp);
    explicit_bzero(buf, sizeof(buf));
    explicit_bzero(tmp, sizeof(tmp));
}

void dialog_conn_trouble(struct dialog *d, enum conn_event ev, const char *waiting_for)
{
    if (d->succeeded)
        return;
    switch (ev) {
    case CONN_EV_LINE_TOO_LONG:
        dialog_fail(d, RESULT_PROTO_BAD_GREETING, "a line longer than %zu bytes instead of %s",
                    d->line_max != 0 ? d->line_max : (size_t)REPLY_LINE_MAX, waiting_for);
        break;
    case CONN_EV_TIMEOUT:
        dialog_fail(d, RESULT_PROTO_TIMEOUT, "the deadline passed while we waited for %s",
                    waiting_for);
        break;
    case CONN_EV_EOF:
        dialog_fail(d, RESULT_PROTO_CLOSED,
                    "the server closed the connection while we waited for %s", waiting_for);
        break;
    default:
        dialog_conn_failed(d);
        break;
    }
}

void dialog_conn_failed(struct dialog *d)
{
    dialog_fail(d, conn_error(d->c), "%s", conn_error_detail(d->c));
}

int dialog_send(struct dialog *d, const char *shown, const char *fmt, ...)
{
    char buf[DIALOG_CMD_MAX + 2];
    char err[ERR_MAX];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(buf) - 2) {
        explicit_bzero(buf, sizeof(buf));
        dialog_fail(d, RESULT_INTERNAL, "%s command longer than %d bytes", d->proto,
                    DIALOG_CMD_MAX);
        return -1;
    }
    if (tracing(d))
        fprintf(stderr, "probe %s: %s >> %s\n", d->p->result.check, d->proto,
                shown != NULL ? shown : buf);
    buf[n] = '\r';
    buf[n + 1] = '\n';
    int rc = conn_write(d->c, buf, (size_t)n + 2, err, sizeof(err));
    explicit_bzero(buf, sizeof(buf));
    if (rc < 0) {
        dialog_fail(d, RESULT_INTERNAL, "%s", err);
        return -1;
    }
    return 0;
}

void dialog_phase_begin(struct dialog *d, enum result_phase ph)
{
    d->phase_t0[ph] = clock_mono_us();
    if (d->phase_t0[ph] == 0)
        d->phase_t0[ph] = 1;
}

void dialog_phase_end(struct dialog *d, enum result_phase ph)
{
    if (d->phase_t0[ph] == 0)
        return;
    uint64_t now = clock_mono_us();
    if (now > d->phase_t0[ph])
        d->p->result.phases_us[ph] += now - d->phase_t0[ph];
    d->phase_t0[ph] = 0;
}

void dialog_trace_state(const struct dialog *d, const char *from, const char *to)
{
    if (tracing(d))
        fprintf(stderr, "probe %s: %s %s -> %s\n", d->p->result.check, d->proto, from, to);
}

void dialog_ehlo_name(char *buf, size_t len)
{
    char host[256];

    if (gethostname(host, sizeof(host)) == 0) {
        host[sizeof(host) - 1] = '\0';
        bool ok = strchr(host, '.') != NULL && host[0] != '.' && host[0] != '-';
        for (const char *s = host; ok && *s != '\0'; s++)
            ok = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                 *s == '-' || *s == '.';
        if (ok) {
            snprintf(buf, len, "%s", host);
            return;
        }
    }
    snprintf(buf, len, "localhost.localdomain");
}

void dialog_describe_bad(const char *why, const char *line, size_t len, char *buf, size_t buflen)
{
    char shown[DIALOG_SHOWN_MAX + 1];

    reply_printable(shown, sizeof(shown), line, len);
    snprintf(buf, buflen, "%s: \"%s%s\"", why, shown, len > sizeof(shown) - 1 ? "..." : "");
}

void dialog_bad_reply(struct dialog *d, const char *why, const char *line, size_t len,
                      const char *waiting_for)
{
    char bad[DIALOG_BAD_MAX];

    if (d->succeeded)
        return;
    dialog_describe_bad(why, line, len, bad, sizeof(bad));
    dialog_fail(d, RESULT_PROTO_BAD_GREETING, "%s instead of %s", bad, waiting_for);
}
