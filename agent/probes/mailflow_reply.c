/*
 * mailflow_reply — marker, test message and reply parsers of the mailflow
 * check (see mailflow_reply.h).
 */
#include "mailflow_reply.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

/* A number in a reply: UIDs, message numbers and sizes are 32-bit in IMAP
 * (RFC 9051 nz-number) and POP3; ten digits are the most that can fit. */
#define NUMBER_DIGITS_MAX 10

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool ieq(const char *s, size_t len, const char *w)
{
    size_t wl = strlen(w);
    if (len != wl)
        return false;
    for (size_t i = 0; i < len; i++)
        if (lower(s[i]) != lower(w[i]))
            return false;
    return true;
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

/* Strips one trailing CRLF or LF. */
static size_t chomp(const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\n')
        len--;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    return len;
}

/* A decimal number of 1..NUMBER_DIGITS_MAX digits at s[*pos] that fits in
 * 32 bits; advances *pos. */
static bool number(const char *s, size_t len, size_t *pos, uint32_t *out)
{
    size_t i = *pos;
    uint64_t v = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9' && i - *pos < NUMBER_DIGITS_MAX) {
        v = v * 10 + (uint64_t)(s[i] - '0');
        i++;
    }
    if (i == *pos || v > UINT32_MAX || (i < len && s[i] >= '0' && s[i] <= '9'))
        return false;
    *out = (uint32_t)v;
    *pos = i;
    return true;
}

/* Whether s[*pos..] starts with word (case-insensitive) followed by a
 * space or the end; advances past the space. */
static bool keyword(const char *s, size_t len, size_t *pos, const char *word)
{
    size_t wl = strlen(word);
    if (len - *pos < wl || !ieq(s + *pos, wl, word))
        return false;
    if (*pos + wl < len && s[*pos + wl] != ' ')
        return false;
    *pos += wl;
    if (*pos < len)
        (*pos)++;
    return true;
}

/* ---- marker ------------------------------------------------------------- */

bool mailflow_agent_ok(const char *name)
{
    size_t n = name != NULL ? strnlen(name, MAILFLOW_AGENT_MAX + 1) : 0;
    if (n == 0 || n > MAILFLOW_AGENT_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char(name[i]))
            return false;
    return true;
}

int mailflow_marker_new(const char *agent, int64_t now_s, struct mailflow_marker *m)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[MAILFLOW_NONCE_BYTES];

    memset(m, 0, sizeof(*m));
    if (!mailflow_agent_ok(agent))
        return -1;
    /* RAND_bytes, not a PRNG of our own: the nonce is what keeps anyone
     * from forging the marker of a message we would then delete. */
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -1;
    for (size_t i = 0; i < sizeof(raw); i++) {
        m->nonce[2 * i] = hex[raw[i] >> 4];
        m->nonce[2 * i + 1] = hex[raw[i] & 0xf];
    }
    m->nonce[MAILFLOW_NONCE_HEX] = '\0';
    snprintf(m->agent, sizeof(m->agent), "%s", agent);
    m->sent_s = now_s;
    return 0;
}

void mailflow_marker_format(const struct mailflow_marker *m, char *buf, size_t len)
{
    snprintf(buf, len, "%s %s %" PRId64, m->agent, m->nonce, m->sent_s);
}

int mailflow_marker_parse(const char *value, size_t len, struct mailflow_marker *m)
{
    size_t i = 0, start;

    memset(m, 0, sizeof(*m));
    while (i < len && (value[i] == ' ' || value[i] == '\t'))
        i++;
    start = i;
    while (i < len && name_char(value[i]))
        i++;
    if (i == start || i - start > MAILFLOW_AGENT_MAX || i >= len || value[i] != ' ')
        return -1;
    memcpy(m->agent, value + start, i - start);
    m->agent[i - start] = '\0';
    start = ++i;
    while (i < len &&
           ((value[i] >= '0' && value[i] <= '9') || (value[i] >= 'a' && value[i] <= 'f')))
        i++;
    if (i - start != MAILFLOW_NONCE_HEX || i >= len || value[i] != ' ')
        return -1;
    memcpy(m->nonce, value + start, MAILFLOW_NONCE_HEX);
    m->nonce[MAILFLOW_NONCE_HEX] = '\0';
    start = ++i;
    int64_t t = 0;
    /* Unix seconds: up to 12 digits reach past the year 9999. */
    while (i < len && value[i] >= '0' && value[i] <= '9' && i - start < 12)
        t = t * 10 + (value[i++] - '0');
    if (i == start)
        return -1;
    while (i < len && (value[i] == ' ' || value[i] == '\t'))
        i++;
    if (i != len)
        return -1;
    m->sent_s = t;
    return 0;
}

int mailflow_marker_header(const char *line, size_t len, struct mailflow_marker *m)
{
    size_t hl = strlen(MAILFLOW_HEADER);

    len = chomp(line, len);
    if (len < hl + 1 || !ieq(line, hl, MAILFLOW_HEADER))
        return 0;
    size_t i = hl;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i >= len || line[i] != ':')
        return 0; /* "X-Vantage-Probe-Other:" or similar */
    i++;
    return mailflow_marker_parse(line + i, len - i, m) == 0 ? 1 : -1;
}

/* ---- the test message ------------------------------------------------------ */

static bool one_line(const char *s)
{
    return s != NULL && strpbrk(s, "\r\n") == NULL;
}

int mailflow_message(const struct mailflow_message_params *p, char *buf, size_t len)
{
    char date[64];
    time_t t = (time_t)p->now_s;
    struct tm tm;

    if (!one_line(p->from) || !one_line(p->to) || !one_line(p->agent) || !one_line(p->marker) ||
        !one_line(p->message_id) || gmtime_r(&t, &tm) == NULL)
        return -1;
    /* RFC 5322 §3.3 date-time, in English whatever the locale. */
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    snprintf(date, sizeof(date), "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7],
             tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
             tm.tm_sec);
    /* What spam filters expect of real mail: Date, Message-ID, From, To,
     * a Subject and a text body that is not empty. */
    int n = snprintf(buf, len,
                     "Date: %s\r\n"
                     "From: Vantage probe <%s>\r\n"
                     "To: <%s>\r\n"
                     "Subject: Vantage delivery test from %s\r\n"
                     "Message-ID: %s\r\n"
                     "MIME-Version: 1.0\r\n"
                     "Content-Type: text/plain; charset=us-ascii\r\n"
                     "Content-Transfer-Encoding: 7bit\r\n"
                     "Auto-Submitted: auto-generated\r\n"
                     "%s: %s\r\n"
                     "\r\n"
                     "This message tests that this mailbox still receives email.\r\n"
                     "It was sent by the Vantage agent %s, which deletes it as soon as\r\n"
                     "it arrives. If you see it, delivery works; it is safe to delete.\r\n",
                     date, p->from, p->to, p->agent, p->message_id, MAILFLOW_HEADER, p->marker,
                     p->agent);
    if (n < 0 || (size_t)n >= len)
        return -1;
    return n;
}

/* ---- IMAP lines ----------------------------------------------------------- */

/* Restores the min-heap below h[i] (h[i] no larger than its children). */
static void uids_sift_down(uint32_t *h, size_t n, size_t i)
{
    for (;;) {
        size_t min = i, l = 2 * i + 1, r = l + 1;
        if (l < n && h[l] < h[min])
            min = l;
        if (r < n && h[r] < h[min])
            min = r;
        if (min == i)
            return;
        uint32_t t = h[i];
        h[i] = h[min];
        h[min] = t;
        i = min;
    }
}

/* Once full, the smallest kept UID gives way to a larger one (newer
 * messages have higher UIDs, and ours is the newest). v[] is then a
 * min-heap, so that a SEARCH that returns a whole large mailbox costs
 * log2(MAILFLOW_UIDS_MAX) steps per UID rather than a scan of all kept. */
static void uids_add(struct mailflow_uids *u, uint32_t v)
{
    u->total++;
    if (u->n < MAILFLOW_UIDS_MAX) {
        u->v[u->n++] = v;
        if (u->n == MAILFLOW_UIDS_MAX)
            for (size_t i = u->n / 2; i-- > 0;)
                uids_sift_down(u->v, u->n, i);
        return;
    }
    if (v > u->v[0]) {
        u->v[0] = v;
        uids_sift_down(u->v, u->n, 0);
    }
}

enum mailflow_line mailflow_reply_search(const char *line, size_t len, struct mailflow_uids *u)
{
    size_t pos = 0;

    len = chomp(line, len);
    if (!keyword(line, len, &pos, "*") || !keyword(line, len, &pos, "SEARCH"))
        return MAILFLOW_LINE_OTHER;
    while (pos < len) {
        uint32_t v;
        if (line[pos] == '(')
            break; /* "(MODSEQ 917162500)" of CONDSTORE: nothing we need */
        if (!number(line, len, &pos, &v) || v == 0)
            return MAILFLOW_LINE_BAD;
        uids_add(u, v);
        if (pos < len) {
            if (line[pos] != ' ')
                return MAILFLOW_LINE_BAD;
            pos++;
        }
    }
    return MAILFLOW_LINE_MATCH;
}

enum mailflow_line mailflow_reply_fetch(const char *line, size_t len, uint32_t *uid,
                                        size_t *literal)
{
    size_t pos = 0;
    uint32_t seq;

    *uid = 0;
    *literal = 0;
    len = chomp(line, len);
    if (!keyword(line, len, &pos, "*") || !number(line, len, &pos, &seq) || pos >= len ||
        line[pos] != ' ')
        return MAILFLOW_LINE_OTHER;
    pos++;
    if (!keyword(line, len, &pos, "FETCH"))
        return MAILFLOW_LINE_OTHER;
    if (pos >= len || line[pos] != '(')
        return MAILFLOW_LINE_BAD;
    /* The UID item anywhere in the list ("UID 17"), bounded by the line. */
    for (size_t i = pos + 1; i + 4 < len; i++) {
        if ((line[i - 1] == '(' || line[i - 1] == ' ') && ieq(line + i, 4, "UID ")) {
            size_t p = i + 4;
            if (!number(line, len, &p, uid) || *uid == 0)
                return MAILFLOW_LINE_BAD;
            break;
        }
    }
    /* A literal "{52}" (or "{52+}") ends the line when data follows. */
    if (len > 0 && line[len - 1] == '}') {
        size_t open = len - 1;
        while (open > pos && line[open] != '{')
            open--;
        if (line[open] != '{')
            return MAILFLOW_LINE_BAD;
        size_t p = open + 1;
        uint32_t n;
        if (!number(line, len, &p, &n))
            return MAILFLOW_LINE_BAD;
        if (p < len - 1 && line[p] == '+')
            p++;
        if (p != len - 1)
            return MAILFLOW_LINE_BAD;
        if (n > MAILFLOW_LITERAL_MAX)
            return MAILFLOW_LINE_TOO_BIG;
        *literal = n;
    }
    return MAILFLOW_LINE_MATCH;
}

/* An astring mailbox name at s[*pos]: a quoted string (with \" and \\
 * escapes) or an atom. A literal is refused. */
static enum mailflow_line mailbox_name(const char *s, size_t len, size_t pos, char *name,
                                       size_t namelen)
{
    size_t n = 0;

    if (namelen == 0 || pos >= len)
        return MAILFLOW_LINE_BAD;
    if (s[pos] == '"') {
        pos++;
        while (pos < len && s[pos] != '"') {
            char c = s[pos];
            if (c == '\\') {
                if (++pos >= len)
                    return MAILFLOW_LINE_BAD;
                c = s[pos];
            }
            if ((unsigned char)c < 0x20 || n + 1 >= namelen || n >= MAILFLOW_MAILBOX_NAME_MAX)
                return MAILFLOW_LINE_BAD;
            name[n++] = c;
            pos++;
        }
        if (pos >= len || pos + 1 != len)
            return MAILFLOW_LINE_BAD;
    } else {
        while (pos < len) {
            unsigned char c = (unsigned char)s[pos];
            if (c <= 0x20 || c >= 0x7f || c == '(' || c == ')' || c == '{' || c == '"' ||
                c == '\\' || n + 1 >= namelen || n >= MAILFLOW_MAILBOX_NAME_MAX)
                return MAILFLOW_LINE_BAD;
            name[n++] = (char)c;
            pos++;
        }
    }
    if (n == 0)
        return MAILFLOW_LINE_BAD;
    name[n] = '\0';
    return MAILFLOW_LINE_MATCH;
}

enum mailflow_line mailflow_reply_list_junk(const char *line, size_t len, char *name,
                                            size_t namelen)
{
    size_t pos = 0;
    bool junk = false;

    len = chomp(line, len);
    if (!keyword(line, len, &pos, "*") || !keyword(line, len, &pos, "LIST"))
        return MAILFLOW_LINE_OTHER;
    if (pos >= len || line[pos] != '(')
        return MAILFLOW_LINE_BAD;
    const char *close = memchr(line + pos, ')', len - pos);
    if (close == NULL)
        return MAILFLOW_LINE_BAD;
    size_t end = (size_t)(close - line);
    size_t i = pos + 1;
    while (i < end) {
        size_t start = i;
        while (i < end && line[i] != ' ')
            i++;
        if (ieq(line + start, i - start, "\\Junk"))
            junk = true;
        while (i < end && line[i] == ' ')
            i++;
    }
    pos = end + 1;
    /* SP delimiter SP: a quoted character or NIL. */
    if (pos >= len || line[pos] != ' ')
        return MAILFLOW_LINE_BAD;
    pos++;
    if (len - pos >= 3 && ieq(line + pos, 3, "NIL")) {
        pos += 3;
    } else if (pos < len && line[pos] == '"') {
        pos++;
        if (pos < len && line[pos] == '\\')
            pos++;
        pos++;
        if (pos >= len || line[pos] != '"')
            return MAILFLOW_LINE_BAD;
        pos++;
    } else {
        return MAILFLOW_LINE_BAD;
    }
    if (pos >= len || line[pos] != ' ')
        return MAILFLOW_LINE_BAD;
    pos++;
    if (!junk)
        return MAILFLOW_LINE_OTHER;
    return mailbox_name(line, len, pos, name, namelen);
}

enum mailflow_line mailflow_reply_exists(const char *line, size_t len, uint32_t *n)
{
    size_t pos = 0;

    len = chomp(line, len);
    if (!keyword(line, len, &pos, "*") || !number(line, len, &pos, n) || pos >= len ||
        line[pos] != ' ')
        return MAILFLOW_LINE_OTHER;
    pos++;
    if (len - pos != 6 || !ieq(line + pos, 6, "EXISTS"))
        return MAILFLOW_LINE_OTHER;
    return MAILFLOW_LINE_MATCH;
}

/* ---- POP3 ------------------------------------------------------------------ */

enum mailflow_line mailflow_reply_uidl(const char *line, size_t len, uint32_t *msgno, char *uid,
                                       size_t uidlen)
{
    size_t pos = 0;

    len = chomp(line, len);
    if (!number(line, len, &pos, msgno) || *msgno == 0 || pos >= len || line[pos] != ' ')
        return MAILFLOW_LINE_BAD;
    pos++;
    size_t n = len - pos;
    if (n == 0 || n > MAILFLOW_UIDL_MAX || n + 1 > uidlen)
        return MAILFLOW_LINE_BAD;
    /* RFC 1939 §7: unique-id is 0x21..0x7E. */
    for (size_t i = pos; i < len; i++)
        if ((unsigned char)line[i] < 0x21 || (unsigned char)line[i] > 0x7e)
            return MAILFLOW_LINE_BAD;
    memcpy(uid, line + pos, n);
    uid[n] = '\0';
    return MAILFLOW_LINE_MATCH;
}
