/*
 * reply — bounded parsers for SMTP, IMAP and POP3 replies (see reply.h).
 *
 * Each feed function first normalises the line (strip one trailing CRLF or
 * LF, check length and NULs), then parses it into locals and only commits
 * to the caller's struct when the line is valid, so an error never leaves
 * a half-updated reply behind.
 */
#include "reply.h"

#include <string.h>

static const char *const status_names[REPLY_STATUS_LAST] = {
    [REPLY_MORE] = "more",
    [REPLY_DONE] = "done",
    [REPLY_ERR_SYNTAX] = "syntax",
    [REPLY_ERR_NUL] = "nul",
    [REPLY_ERR_TOO_LONG] = "too_long",
    [REPLY_ERR_TOO_MANY] = "too_many",
    [REPLY_ERR_MISMATCH] = "mismatch",
    [REPLY_ERR_DONE] = "after_done",
};

static const char *const status_texts[REPLY_STATUS_LAST] = {
    [REPLY_MORE] = "reply continues",
    [REPLY_DONE] = "reply complete",
    [REPLY_ERR_SYNTAX] = "malformed reply line",
    [REPLY_ERR_NUL] = "NUL byte in reply line",
    [REPLY_ERR_TOO_LONG] = "reply line too long",
    [REPLY_ERR_TOO_MANY] = "reply has too many lines",
    [REPLY_ERR_MISMATCH] = "reply line does not match the reply it continues",
    [REPLY_ERR_DONE] = "line after the end of the reply",
};

static const char *const imap_cond_names[REPLY_IMAP_COND_LAST] = {
    [REPLY_IMAP_NONE] = "NONE",  [REPLY_IMAP_OK] = "OK",           [REPLY_IMAP_NO] = "NO",
    [REPLY_IMAP_BAD] = "BAD",    [REPLY_IMAP_PREAUTH] = "PREAUTH", [REPLY_IMAP_BYE] = "BYE",
    [REPLY_IMAP_CONTINUE] = "+",
};

const char *reply_status_name(enum reply_status s)
{
    if ((unsigned)s >= REPLY_STATUS_LAST)
        return NULL;
    return status_names[s];
}

const char *reply_status_text(enum reply_status s)
{
    if ((unsigned)s >= REPLY_STATUS_LAST)
        return "unknown reply status";
    return status_texts[s];
}

bool reply_status_is_error(enum reply_status s)
{
    return s != REPLY_MORE && s != REPLY_DONE;
}

const char *reply_imap_cond_name(enum reply_imap_cond c)
{
    if ((unsigned)c >= REPLY_IMAP_COND_LAST)
        return NULL;
    return imap_cond_names[c];
}

size_t reply_printable(char *dst, size_t dstlen, const char *src, size_t len)
{
    size_t n = 0;

    if (dstlen == 0)
        return 0;
    for (size_t i = 0; i < len && n + 1 < dstlen; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    dst[n] = '\0';
    return n;
}

/* Appends a printable copy of a line to text, after a '\n' unless text is
 * empty; whatever does not fit is dropped. */
static void text_append(char *text, const char *line, size_t len)
{
    size_t used = strlen(text);

    if (used > 0) {
        if (used + 1 >= REPLY_TEXT_MAX)
            return;
        text[used++] = '\n';
        text[used] = '\0';
    }
    reply_printable(text + used, REPLY_TEXT_MAX - used, line, len);
}

/* Strips one trailing CRLF or LF and checks the bounds every protocol
 * shares. An LF left inside the line means the caller split lines wrongly
 * or the peer sent a bare LF inside what we took as one line: either way it
 * is not a line of these protocols. */
static enum reply_status line_prep(const char *line, size_t *len)
{
    size_t n = *len;

    if (line == NULL && n > 0)
        return REPLY_ERR_SYNTAX;
    if (n > 0 && line[n - 1] == '\n') {
        n--;
        if (n > 0 && line[n - 1] == '\r')
            n--;
    }
    if (n > REPLY_LINE_MAX)
        return REPLY_ERR_TOO_LONG;
    if (n > 0 && memchr(line, '\0', n) != NULL)
        return REPLY_ERR_NUL;
    if (n > 0 && memchr(line, '\n', n) != NULL)
        return REPLY_ERR_SYNTAX;
    *len = n;
    return REPLY_MORE;
}

static char upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

/* Whether s[0..len) equals the upper-case word w, ignoring case. */
static bool word_is(const char *s, size_t len, const char *w)
{
    size_t wl = strlen(w);

    if (len != wl)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (upper(s[i]) != w[i])
            return false;
    }
    return true;
}

/* Splits the next token off s[*pos..len) at any byte in seps; skips
 * leading separators. Returns false when no token is left. */
static bool next_token(const char *s, size_t len, size_t *pos, const char *seps, const char **tok,
                       size_t *toklen)
{
    size_t i = *pos;

    while (i < len && strchr(seps, s[i]) != NULL)
        i++;
    if (i >= len) {
        *pos = i;
        return false;
    }
    size_t start = i;
    while (i < len && strchr(seps, s[i]) == NULL)
        i++;
    *tok = s + start;
    *toklen = i - start;
    *pos = i;
    return true;
}

/* Maps one SASL mechanism name to its bit (0 for mechanisms we never use). */
static unsigned sasl_mech_cap(const char *m, size_t len)
{
    if (word_is(m, len, "PLAIN"))
        return REPLY_CAP_AUTH_PLAIN;
    if (word_is(m, len, "LOGIN"))
        return REPLY_CAP_AUTH_LOGIN;
    return 0;
}

/* Mechanisms listed after a keyword ("AUTH PLAIN LOGIN", "SASL PLAIN"). */
static unsigned sasl_mech_list(const char *s, size_t len)
{
    unsigned caps = REPLY_CAP_AUTH;
    size_t pos = 0;
    const char *tok;
    size_t toklen;

    while (next_token(s, len, &pos, " =", &tok, &toklen))
        caps |= sasl_mech_cap(tok, toklen);
    return caps;
}

/* ---- SMTP -------------------------------------------------------------- */

void reply_smtp_init(struct reply_smtp *r)
{
    memset(r, 0, sizeof(*r));
}

int reply_smtp_class(const struct reply_smtp *r)
{
    return r->code / 100;
}

/* An EHLO keyword line ("STARTTLS", "AUTH PLAIN LOGIN", "AUTH=LOGIN"). */
static unsigned smtp_ehlo_caps(const char *s, size_t len)
{
    size_t pos = 0;
    const char *kw;
    size_t kwlen;

    if (!next_token(s, len, &pos, " =", &kw, &kwlen))
        return 0;
    if (word_is(kw, kwlen, "STARTTLS"))
        return REPLY_CAP_STARTTLS;
    if (word_is(kw, kwlen, "PIPELINING"))
        return REPLY_CAP_PIPELINING;
    if (word_is(kw, kwlen, "AUTH"))
        return sasl_mech_list(s + pos, len - pos);
    return 0;
}

/* An RFC 3463 enhanced status code "C.SSS.DDD" at the start of text whose
 * class matches the reply's; copied into out or out is left "". */
static void smtp_enhanced(const char *s, size_t len, int klass, char *out, size_t outlen)
{
    size_t i = 0;
    int parts = 0;

    out[0] = '\0';
    if (len == 0 || s[0] != (char)('0' + klass))
        return;
    while (parts < 3) {
        size_t digits = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && digits < 3) {
            i++;
            digits++;
        }
        if (digits == 0 || (parts == 0 && digits != 1))
            return;
        parts++;
        if (parts < 3) {
            if (i >= len || s[i] != '.')
                return;
            i++;
        }
    }
    if (i < len && s[i] != ' ')
        return;
    if (i + 1 > outlen)
        return;
    memcpy(out, s, i);
    out[i] = '\0';
}

enum reply_status reply_smtp_feed(struct reply_smtp *r, const char *line, size_t len)
{
    enum reply_status st;
    int code;
    bool last;

    if (r->done)
        return REPLY_ERR_DONE;
    r->nlines++;
    if (r->nlines > REPLY_LINES_MAX)
        return REPLY_ERR_TOO_MANY;
    st = line_prep(line, &len);
    if (st != REPLY_MORE)
        return st;

    /* RFC 5321 §4.2: Reply-code [ SP textstring ] CRLF, with "-" instead
     * of SP on every line but the last; the first digit is 2-5 and the
     * second 0-5. */
    if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' ||
        line[2] < '0' || line[2] > '9')
        return REPLY_ERR_SYNTAX;
    if (len == 3)
        last = true;
    else if (line[3] == ' ')
        last = true;
    else if (line[3] == '-')
        last = false;
    else
        return REPLY_ERR_SYNTAX;
    code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (r->code != 0 && code != r->code)
        return REPLY_ERR_MISMATCH;

    const char *text = len > 4 ? line + 4 : line + len;
    size_t textlen = len > 4 ? len - 4 : 0;

    if (r->code == 0) {
        r->code = code;
        smtp_enhanced(text, textlen, code / 100, r->enhanced, sizeof(r->enhanced));
    } else if (code == 250) {
        /* The first line of an EHLO reply is the server's name; the
         * following ones are keywords. */
        r->caps |= smtp_ehlo_caps(text, textlen);
    }
    text_append(r->text, line, len);
    if (last) {
        r->done = true;
        return REPLY_DONE;
    }
    return REPLY_MORE;
}

/* ---- IMAP -------------------------------------------------------------- */

/* RFC 9051 atom-char, minus the response code specials we split on. */
static bool imap_atom_char(char c)
{
    unsigned char u = (unsigned char)c;

    if (u <= 0x20 || u >= 0x7f)
        return false;
    return strchr("(){%*\"\\]", c) == NULL;
}

int reply_imap_init(struct reply_imap *r, const char *tag)
{
    size_t n = tag != NULL ? strlen(tag) : 0;

    memset(r, 0, sizeof(*r));
    if (n >= sizeof(r->tag))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!imap_atom_char(tag[i]) || tag[i] == '+')
            return -1;
    }
    if (n > 0)
        memcpy(r->tag, tag, n + 1);
    return 0;
}

/* Capability words ("IMAP4rev1 STARTTLS AUTH=PLAIN LOGINDISABLED"). */
static unsigned imap_caps(const char *s, size_t len)
{
    unsigned caps = 0;
    size_t pos = 0;
    const char *tok;
    size_t toklen;

    while (next_token(s, len, &pos, " ", &tok, &toklen)) {
        if (word_is(tok, toklen, "STARTTLS"))
            caps |= REPLY_CAP_STARTTLS;
        else if (word_is(tok, toklen, "LOGINDISABLED"))
            caps |= REPLY_CAP_LOGINDISABLED;
        else if (word_is(tok, toklen, "SASL-IR"))
            caps |= REPLY_CAP_SASL_IR;
        else if (word_is(tok, toklen, "IMAP4REV1"))
            caps |= REPLY_CAP_IMAP4REV1;
        else if (word_is(tok, toklen, "IDLE"))
            caps |= REPLY_CAP_IDLE;
        else if (word_is(tok, toklen, "UIDPLUS"))
            caps |= REPLY_CAP_UIDPLUS;
        else if (word_is(tok, toklen, "SPECIAL-USE"))
            caps |= REPLY_CAP_SPECIAL_USE;
        else if (toklen > 5 && word_is(tok, 5, "AUTH="))
            caps |= REPLY_CAP_AUTH | sasl_mech_cap(tok + 5, toklen - 5);
    }
    return caps;
}

struct imap_resp_text {
    char code[REPLY_IMAP_CODE_MAX];
    bool has_caps;
    unsigned caps;
};

/* resp-text = ["[" resp-text-code "]" SP] text. A malformed code is not an
 * error: the code is optional decoration and servers get it wrong. */
static void imap_resp_text(const char *s, size_t len, struct imap_resp_text *out)
{
    size_t i = 1;

    memset(out, 0, sizeof(*out));
    if (len == 0 || s[0] != '[')
        return;
    while (i < len && s[i] != ' ' && s[i] != ']')
        i++;
    const char *atom = s + 1;
    size_t atomlen = i - 1;
    bool valid = atomlen > 0 && atomlen < sizeof(out->code);
    for (size_t k = 0; valid && k < atomlen; k++) {
        char c = atom[k];
        valid = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '.';
    }
    if (!valid)
        return;
    for (size_t k = 0; k < atomlen; k++)
        out->code[k] = upper(atom[k]);
    out->code[atomlen] = '\0';
    if (strcmp(out->code, "CAPABILITY") == 0) {
        const char *end = memchr(s + i, ']', len - i);
        size_t argslen = end != NULL ? (size_t)(end - (s + i)) : len - i;
        out->has_caps = true;
        out->caps = imap_caps(s + i, argslen);
    }
}

enum reply_status reply_imap_feed(struct reply_imap *r, const char *line, size_t len)
{
    enum reply_status st;
    bool greeting = r->tag[0] == '\0';
    size_t pos = 0;
    const char *tok;
    size_t toklen;
    struct imap_resp_text rt;

    if (r->done)
        return REPLY_ERR_DONE;
    r->nlines++;
    if (r->nlines > REPLY_LINES_MAX)
        return REPLY_ERR_TOO_MANY;
    st = line_prep(line, &len);
    if (st != REPLY_MORE)
        return st;
    if (len == 0)
        return REPLY_ERR_SYNTAX;

    if (line[0] == '+' && (len == 1 || line[1] == ' ')) {
        if (greeting)
            return REPLY_ERR_SYNTAX;
        r->cond = REPLY_IMAP_CONTINUE;
        r->code[0] = '\0';
        reply_printable(r->text, sizeof(r->text), line, len);
        r->done = true;
        return REPLY_DONE;
    }

    if (line[0] == '*') {
        if (len < 3 || line[1] != ' ')
            return REPLY_ERR_SYNTAX;
        pos = 2;
        if (!next_token(line, len, &pos, " ", &tok, &toklen))
            return REPLY_ERR_SYNTAX;
        if (pos < len)
            pos++; /* the SP before resp-text */
        enum reply_imap_cond cond = REPLY_IMAP_NONE;
        if (word_is(tok, toklen, "OK"))
            cond = REPLY_IMAP_OK;
        else if (word_is(tok, toklen, "NO"))
            cond = REPLY_IMAP_NO;
        else if (word_is(tok, toklen, "BAD"))
            cond = REPLY_IMAP_BAD;
        else if (word_is(tok, toklen, "PREAUTH"))
            cond = REPLY_IMAP_PREAUTH;
        else if (word_is(tok, toklen, "BYE"))
            cond = REPLY_IMAP_BYE;

        if (greeting) {
            if (cond != REPLY_IMAP_OK && cond != REPLY_IMAP_PREAUTH && cond != REPLY_IMAP_BYE)
                return REPLY_ERR_SYNTAX;
            imap_resp_text(line + pos, len - pos, &rt);
            r->cond = cond;
            r->bye = cond == REPLY_IMAP_BYE;
            memcpy(r->code, rt.code, sizeof(r->code));
            if (rt.has_caps) {
                r->has_caps = true;
                r->caps |= rt.caps;
            }
            reply_printable(r->text, sizeof(r->text), line, len);
            r->done = true;
            return REPLY_DONE;
        }
        if (cond != REPLY_IMAP_NONE) {
            imap_resp_text(line + pos, len - pos, &rt);
            if (rt.has_caps) {
                r->has_caps = true;
                r->caps |= rt.caps;
            }
            if (cond == REPLY_IMAP_BYE) {
                r->bye = true;
                reply_printable(r->text, sizeof(r->text), line, len);
            }
        } else if (word_is(tok, toklen, "CAPABILITY")) {
            r->has_caps = true;
            r->caps |= imap_caps(line + pos, len - pos);
        }
        /* Other untagged data (EXISTS, FLAGS, ID, ...) is not ours to read. */
        return REPLY_MORE;
    }

    /* A tagged completion: TAG SP (OK|NO|BAD) [SP resp-text]. */
    if (greeting)
        return REPLY_ERR_SYNTAX;
    if (!next_token(line, len, &pos, " ", &tok, &toklen) || line[0] == ' ')
        return REPLY_ERR_SYNTAX;
    for (size_t k = 0; k < toklen; k++) {
        if (!imap_atom_char(tok[k]))
            return REPLY_ERR_SYNTAX;
    }
    if (toklen != strlen(r->tag) || memcmp(tok, r->tag, toklen) != 0)
        return REPLY_ERR_MISMATCH;
    if (pos + 1 >= len || line[pos] != ' ' || line[pos + 1] == ' ')
        return REPLY_ERR_SYNTAX;
    pos++;
    if (!next_token(line, len, &pos, " ", &tok, &toklen))
        return REPLY_ERR_SYNTAX;
    enum reply_imap_cond cond;
    if (word_is(tok, toklen, "OK"))
        cond = REPLY_IMAP_OK;
    else if (word_is(tok, toklen, "NO"))
        cond = REPLY_IMAP_NO;
    else if (word_is(tok, toklen, "BAD"))
        cond = REPLY_IMAP_BAD;
    else
        return REPLY_ERR_SYNTAX;
    if (pos < len)
        pos++;
    imap_resp_text(line + pos, len - pos, &rt);
    r->cond = cond;
    memcpy(r->code, rt.code, sizeof(r->code));
    if (rt.has_caps) {
        r->has_caps = true;
        r->caps |= rt.caps;
    }
    reply_printable(r->text, sizeof(r->text), line, len);
    r->done = true;
    return REPLY_DONE;
}

/* ---- POP3 -------------------------------------------------------------- */

void reply_pop3_init(struct reply_pop3 *r, bool multiline)
{
    memset(r, 0, sizeof(*r));
    r->multiline = multiline;
}

/* One line of a CAPA list (RFC 2449 §6). */
static unsigned pop3_capa(const char *s, size_t len)
{
    size_t pos = 0;
    const char *kw;
    size_t kwlen;

    if (!next_token(s, len, &pos, " ", &kw, &kwlen))
        return 0;
    if (word_is(kw, kwlen, "STLS"))
        return REPLY_CAP_STARTTLS;
    if (word_is(kw, kwlen, "USER"))
        return REPLY_CAP_USER;
    if (word_is(kw, kwlen, "PIPELINING"))
        return REPLY_CAP_PIPELINING;
    if (word_is(kw, kwlen, "SASL"))
        return sasl_mech_list(s + pos, len - pos);
    return 0;
}

enum reply_status reply_pop3_feed(struct reply_pop3 *r, const char *line, size_t len)
{
    enum reply_status st;

    if (r->done)
        return REPLY_ERR_DONE;
    r->nlines++;
    if (r->nlines > REPLY_LINES_MAX)
        return REPLY_ERR_TOO_MANY;
    st = line_prep(line, &len);
    if (st != REPLY_MORE)
        return st;

    if (!r->status_seen) {
        bool ok;
        if (len >= 3 && word_is(line, 3, "+OK") && (len == 3 || line[3] == ' '))
            ok = true;
        else if (len >= 4 && word_is(line, 4, "-ERR") && (len == 4 || line[4] == ' '))
            ok = false;
        else
            return REPLY_ERR_SYNTAX;
        r->status_seen = true;
        r->ok = ok;
        reply_printable(r->text, sizeof(r->text), line, len);
        if (!ok || !r->multiline) {
            r->done = true;
            return REPLY_DONE;
        }
        return REPLY_MORE;
    }

    if (len == 1 && line[0] == '.') {
        r->done = true;
        return REPLY_DONE;
    }
    /* RFC 1939 §3: a body line that starts with "." has one more prepended. */
    if (len > 0 && line[0] == '.') {
        line++;
        len--;
    }
    r->caps |= pop3_capa(line, len);
    return REPLY_MORE;
}
