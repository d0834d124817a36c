/*
 * enroll — enrollment state beside authorized_keys (enroll.h).
 */
#include "enroll.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "enroll_line.h"
#include "transport.h"

#define STATE_LINE_MAX  512        /* a hash, a name, a site and a time; a key line */
#define STATE_BYTES_MAX (16 << 20) /* authorized_keys of AUTH_KEYS_MAX agents fits */

struct pending {
    char hash[ENROLL_HASH_HEX + 1];
    char name[ENROLL_NAME_MAX + 1];
    char site[ENROLL_NAME_MAX + 1];
    int64_t expires;
};

/* The directory of keys_path and a file in it. */
static int state_path(const char *keys_path, const char *file, char *out, size_t len)
{
    char copy[PATH_MAX];
    if (snprintf(copy, sizeof(copy), "%s", keys_path) >= (int)sizeof(copy))
        return -1;
    int n = snprintf(out, len, "%s/%s", dirname(copy), file);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* flock on the directory: every change of the state files holds it. */
static int lock_dir(const char *keys_path, char *err, size_t errlen)
{
    char copy[PATH_MAX];
    snprintf(copy, sizeof(copy), "%s", keys_path);
    const char *dir = dirname(copy);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && (st.st_mode & S_IWOTH)) {
        /* Anyone could replace authorized_keys there. */
        snprintf(err, errlen,
                 "%s (the directory of authorized_keys) is writable by everyone; run 'chmod o-w "
                 "%s'",
                 dir, dir);
        close(fd);
        return -1;
    }
    if (fd < 0 || flock(fd, LOCK_EX) < 0) {
        snprintf(err, errlen, "%s: cannot lock: %s", dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static void unlock_dir(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

/* Reads a whole state file (absent: empty). NULL with err on failure. */
static char *read_all(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL && errno == ENOENT)
        return strdup("");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(STATE_BYTES_MAX + 1);
    size_t n = buf ? fread(buf, 1, STATE_BYTES_MAX + 1, f) : 0;
    fclose(f);
    if (buf == NULL || n > STATE_BYTES_MAX) {
        snprintf(err, errlen, "%s: larger than %d bytes", path, STATE_BYTES_MAX);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* Replaces path with text atomically. The new file keeps the old one's
 * owner, group and mode; a new file gets the directory's owner and group
 * and mode 0640 (nothing in these files is secret), so that what root
 * writes with `enroll` the collector's user can still read and change. */
static int write_atomic(const char *path, const char *text, char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    struct stat st;
    uid_t uid;
    gid_t gid;
    mode_t mode;
    if (stat(path, &st) == 0) {
        uid = st.st_uid;
        gid = st.st_gid;
        mode = st.st_mode & 0777;
    } else {
        char copy[PATH_MAX];
        snprintf(copy, sizeof(copy), "%s", path);
        if (stat(dirname(copy), &st) < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            return -1;
        }
        uid = st.st_uid;
        gid = st.st_gid;
        mode = 0640;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, errlen, "cannot write beside %s: %s", path, strerror(errno));
        return -1;
    }
    size_t len = strlen(text);
    bool ok = write(fd, text, len) == (ssize_t)len && fchmod(fd, mode) == 0;
    if (ok && geteuid() == 0)
        ok = fchown(fd, uid, gid) == 0;
    ok = ok && fsync(fd) == 0;
    int saved = errno;
    close(fd);
    if (!ok || rename(tmp, path) < 0) {
        if (ok)
            saved = errno;
        unlink(tmp);
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(saved));
        return -1;
    }
    return 0;
}

/* Parses enrollments into an array; bad lines are skipped (the file is
 * ours, but a hand edit must not stop every enrollment). */
static size_t parse_pending(char *text, struct pending *out, size_t max)
{
    size_t n = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && n < max;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#' || strlen(line) > STATE_LINE_MAX)
            continue;
        struct pending p;
        long long exp;
        char extra;
        if (sscanf(line, "%64s %64s %64s %lld %c", p.hash, p.name, p.site, &exp, &extra) != 4 ||
            strlen(p.hash) != ENROLL_HASH_HEX || !enroll_name_valid(p.name))
            continue;
        if (strcmp(p.site, "-") == 0)
            p.site[0] = '\0';
        p.expires = exp;
        out[n++] = p;
    }
    return n;
}

static char *format_pending(const struct pending *p, size_t n)
{
    size_t cap = 128 + n * (STATE_LINE_MAX + 1);
    char *buf = malloc(cap);
    if (buf == NULL)
        return NULL;
    size_t off = (size_t)snprintf(
        buf, cap,
        "# vantage enrollments: sha256(secret) name site expires (written by vantage-collector)\n");
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(buf + off, cap - off, "%s %s %s %" PRId64 "\n", p[i].hash,
                                p[i].name, p[i].site[0] ? p[i].site : "-", p[i].expires);
    return buf;
}

static struct pending *load_pending(const char *keys_path, size_t *n, char *err, size_t errlen)
{
    char path[PATH_MAX];
    if (state_path(keys_path, "enrollments", path, sizeof(path)) < 0) {
        snprintf(err, errlen, "%s: path too long", keys_path);
        return NULL;
    }
    char *text = read_all(path, err, errlen);
    struct pending *p = calloc(ENROLL_PENDING_MAX + 1, sizeof(*p));
    if (text == NULL || p == NULL) {
        if (text != NULL)
            snprintf(err, errlen, "out of memory");
        free(text);
        free(p);
        return NULL;
    }
    *n = parse_pending(text, p, ENROLL_PENDING_MAX + 1);
    free(text);
    return p;
}

static int save_pending(const char *keys_path, const struct pending *p, size_t n, char *err,
                        size_t errlen)
{
    char path[PATH_MAX];
    state_path(keys_path, "enrollments", path, sizeof(path));
    char *text = format_pending(p, n);
    if (text == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = write_atomic(path, text, err, errlen);
    free(text);
    return rc;
}

/* The key authorized_keys lists for name ("" when none). Bounded reads;
 * lines that are not "<key> <name>" are left to auth.c to judge. */
static bool keys_lookup(const char *text, const char *name, const char *key, char *found_name,
                        size_t len)
{
    const char *line = text;
    while (*line) {
        size_t l = strcspn(line, "\n");
        char buf[STATE_LINE_MAX + 1], k[TRANSPORT_KEY_LEN + 2], nm[ENROLL_NAME_MAX + 2];
        if (l <= STATE_LINE_MAX) {
            memcpy(buf, line, l);
            buf[l] = '\0';
            if (sscanf(buf, "%41s %65s", k, nm) == 2 && transport_key_valid(k) &&
                ((name && strcmp(nm, name) == 0) || (key && strcmp(k, key) == 0))) {
                if (found_name)
                    snprintf(found_name, len, "%s", nm);
                return true;
            }
        }
        line += l + (line[l] == '\n');
    }
    return false;
}

static int derive_address(const struct collconf *c, char *out, size_t len, char *err, size_t errlen)
{
    const char *l = c->listen;
    if (strncmp(l, "tcp://", 6) != 0) {
        snprintf(err, errlen, "listen = %s is not tcp://; give --address tcp://HOST:PORT", l);
        return -1;
    }
    const char *hostport = l + 6, *colon = strrchr(hostport, ':');
    if (colon == NULL) {
        snprintf(err, errlen, "listen = %s has no port; give --address tcp://HOST:PORT", l);
        return -1;
    }
    size_t hlen = (size_t)(colon - hostport);
    if ((hlen == 1 && hostport[0] == '*') || (hlen == 7 && strncmp(hostport, "0.0.0.0", 7) == 0) ||
        (hlen == 4 && strncmp(hostport, "[::]", 4) == 0)) {
        char host[256];
        if (gethostname(host, sizeof(host)) < 0) {
            snprintf(err, errlen, "cannot read the host name; give --address tcp://HOST:PORT");
            return -1;
        }
        host[sizeof(host) - 1] = '\0';
        int n = snprintf(out, len, "tcp://%.200s%.16s", host, colon);
        if (n < 0 || (size_t)n >= len)
            return -1;
    } else {
        snprintf(out, len, "%s", l);
    }
    return 0;
}

int enroll_create(const struct collconf *c, const char *name, const char *site, int64_t ttl_s,
                  const char *address, char *line, size_t linelen, char *err, size_t errlen)
{
    if (c->insecure_plaintext) {
        snprintf(err, errlen,
                 "enrollment needs CURVE: this collector runs with insecure_plaintext = yes");
        return -1;
    }
    if (!enroll_name_valid(name) || (site && !enroll_name_valid(site))) {
        snprintf(err, errlen, "NAME and --site must be 1-%d letters, digits, '-', '_' or '.'",
                 ENROLL_NAME_MAX);
        return -1;
    }
    struct enroll_line l = {.expires = clock_wall_us() / 1000000 + ttl_s};
    snprintf(l.name, sizeof(l.name), "%s", name);
    snprintf(l.site, sizeof(l.site), "%s", site ? site : "");
    if (address != NULL) {
        snprintf(l.endpoint, sizeof(l.endpoint), "%s", address);
    } else if (derive_address(c, l.endpoint, sizeof(l.endpoint), err, errlen) < 0) {
        return -1;
    }
    struct transport_keys keys;
    if (transport_load_keys(c->secret_key, &keys, err, errlen) < 0)
        return -1;
    snprintf(l.server_key, sizeof(l.server_key), "%s", keys.public_key);
    explicit_bzero(&keys, sizeof(keys));
    if (enroll_secret_new(l.secret) < 0) {
        snprintf(err, errlen, "cannot read random bytes: %s", strerror(errno));
        return -1;
    }
    int rc = -1;
    struct pending *p = NULL;
    char *keys_text = NULL;
    int lock = lock_dir(c->authorized_keys, err, errlen);
    if (lock < 0)
        goto out;
    keys_text = read_all(c->authorized_keys, err, errlen);
    if (keys_text == NULL)
        goto out;
    if (keys_lookup(keys_text, name, NULL, NULL, 0)) {
        snprintf(err, errlen,
                 "agent '%s' is already in %s; revoke it first ('vantage-collector revoke %s') or "
                 "choose another name",
                 name, c->authorized_keys, name);
        goto out;
    }
    size_t n;
    p = load_pending(c->authorized_keys, &n, err, errlen);
    if (p == NULL)
        goto out;
    /* A new line for a name replaces its older one; expired entries go. */
    int64_t now = clock_wall_us() / 1000000;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(p[i].name, name) != 0 && p[i].expires > now)
            p[kept++] = p[i];
    if (kept >= ENROLL_PENDING_MAX) {
        snprintf(err, errlen, "%d enrollments are pending already; revoke unused ones",
                 ENROLL_PENDING_MAX);
        goto out;
    }
    enroll_secret_hash(l.secret, p[kept].hash);
    snprintf(p[kept].name, sizeof(p[kept].name), "%s", name);
    snprintf(p[kept].site, sizeof(p[kept].site), "%s", l.site);
    p[kept].expires = l.expires;
    if (enroll_line_format(&l, line, linelen) < 0) {
        snprintf(err, errlen, "cannot form the line: is --address tcp://HOST:PORT?");
        goto out;
    }
    if (save_pending(c->authorized_keys, p, kept + 1, err, errlen) < 0)
        goto out;
    rc = 0;
out:
    explicit_bzero(&l, sizeof(l));
    unlock_dir(lock);
    free(keys_text);
    free(p);
    return rc;
}

bool enroll_pending(const char *keys_path)
{
    /* Called for every unknown key that knocks: read line by line, with
     * no allocation, and stop at the first live entry. */
    char path[PATH_MAX], line[STATE_LINE_MAX + 2];
    if (state_path(keys_path, "enrollments", path, sizeof(path)) < 0)
        return false;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    int64_t now = clock_wall_us() / 1000000;
    bool any = false;
    for (size_t n = 0; !any && n <= ENROLL_PENDING_MAX && fgets(line, sizeof(line), f); n++) {
        char hash[ENROLL_HASH_HEX + 2], name[ENROLL_NAME_MAX + 2], site[ENROLL_NAME_MAX + 2];
        long long exp;
        any = line[0] != '#' && sscanf(line, "%65s %65s %65s %lld", hash, name, site, &exp) == 4 &&
              exp > now;
    }
    fclose(f);
    return any;
}

/* Appends "<key> <name>" to authorized_keys (creating it if need be). */
static int keys_append(const char *path, const char *text, const char *key, const char *name,
                       char *err, size_t errlen)
{
    size_t len = strlen(text);
    size_t cap = len + TRANSPORT_KEY_LEN + ENROLL_NAME_MAX + 4;
    char *fresh = malloc(cap);
    if (fresh == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(fresh, cap, "%s%s%s %s\n", text, len && text[len - 1] != '\n' ? "\n" : "", key, name);
    int rc = write_atomic(path, fresh, err, errlen);
    free(fresh);
    return rc;
}

#define UNKNOWN_LINE                                                                               \
    "the collector does not know this enrollment line: it was used already, replaced by a newer "  \
    "one, revoked, or printed by another collector; print a new one with 'vantage-collector "      \
    "enroll NAME' on the collector"

int enroll_accept(const char *keys_path, const char *name, const char *secret, const char *key_z85,
                  char *name_out, size_t namelen, char *err, size_t errlen)
{
    if (secret == NULL || name == NULL) {
        snprintf(err, errlen, "%s", UNKNOWN_LINE);
        return -1;
    }
    char hash[ENROLL_HASH_HEX + 1];
    enroll_secret_hash(secret, hash);
    char lerr[512];
    int rc = -1;
    struct pending *p = NULL;
    char *keys_text = NULL;
    int lock = lock_dir(keys_path, lerr, sizeof(lerr));
    size_t n = 0;
    if (lock < 0 || (p = load_pending(keys_path, &n, lerr, sizeof(lerr))) == NULL ||
        (keys_text = read_all(keys_path, lerr, sizeof(lerr))) == NULL) {
        snprintf(err, errlen,
                 "the collector cannot read its enrollment state (%s); ask its "
                 "administrator to check the collector's log",
                 lerr);
        goto out;
    }
    size_t i = 0;
    while (i < n && strcmp(p[i].hash, hash) != 0)
        i++;
    int64_t now = clock_wall_us() / 1000000;
    if (i == n || strcmp(p[i].name, name) != 0) {
        snprintf(err, errlen, "%s", UNKNOWN_LINE);
        goto out;
    }
    if (p[i].expires <= now) {
        snprintf(err, errlen,
                 "this enrollment line expired; print a new one with 'vantage-collector enroll %s' "
                 "on the collector",
                 p[i].name);
        memmove(&p[i], &p[i + 1], (n - i - 1) * sizeof(*p));
        (void)save_pending(keys_path, p, n - 1, lerr, sizeof(lerr));
        goto out;
    }
    char holder[ENROLL_NAME_MAX + 2];
    if (keys_lookup(keys_text, NULL, key_z85, holder, sizeof(holder))) {
        snprintf(err, errlen, "this agent's key is already authorized as '%s'", holder);
        goto out;
    }
    if (keys_lookup(keys_text, p[i].name, NULL, NULL, 0)) {
        snprintf(err, errlen,
                 "agent '%s' is already authorized (another agent used this line first); ask for "
                 "a new line",
                 p[i].name);
        goto out;
    }
    /* Authorize first, then consume: a failure between the two leaves a
     * line that can only be refused ("already authorized"), never an
     * agent that was told yes and is not listed. */
    if (keys_append(keys_path, keys_text, key_z85, p[i].name, lerr, sizeof(lerr)) < 0) {
        snprintf(err, errlen, "the collector cannot write authorized_keys (%s)", lerr);
        goto out;
    }
    snprintf(name_out, namelen, "%s", p[i].name);
    memmove(&p[i], &p[i + 1], (n - i - 1) * sizeof(*p));
    if (save_pending(keys_path, p, n - 1, lerr, sizeof(lerr)) < 0) {
        snprintf(err, errlen, "the collector cannot write its enrollments (%s)", lerr);
        goto out;
    }
    rc = 0;
out:
    unlock_dir(lock);
    free(keys_text);
    free(p);
    return rc;
}

int enroll_revoke(const struct collconf *c, const char *name, char *err, size_t errlen)
{
    int rc = -1;
    struct pending *p = NULL;
    char *text = NULL, *kept = NULL, *revoked = NULL;
    int lock = lock_dir(c->authorized_keys, err, errlen);
    if (lock < 0 || (text = read_all(c->authorized_keys, err, errlen)) == NULL)
        goto out;
    size_t len = strlen(text);
    /* Each revoked line is a dropped key line plus a time stamp. */
    size_t rcap = 2 * len + 128;
    kept = malloc(len + 2);
    revoked = malloc(rcap);
    if (kept == NULL || revoked == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    size_t koff = 0, roff = 0;
    char stamp[40];
    clock_format_iso_us(clock_wall_us(), false, stamp, sizeof(stamp));
    for (const char *line = text; *line;) {
        size_t l = strcspn(line, "\n");
        char buf[STATE_LINE_MAX + 1], k[TRANSPORT_KEY_LEN + 2], nm[ENROLL_NAME_MAX + 2];
        bool drop = false;
        if (l <= STATE_LINE_MAX) {
            memcpy(buf, line, l);
            buf[l] = '\0';
            drop = sscanf(buf, "%41s %65s", k, nm) == 2 && transport_key_valid(k) &&
                   strcmp(nm, name) == 0;
        }
        if (drop) {
            roff += (size_t)snprintf(revoked + roff, rcap - roff, "%s %s %s\n", stamp, name, k);
        } else {
            memcpy(kept + koff, line, l);
            koff += l;
            kept[koff++] = '\n';
        }
        line += l + (line[l] == '\n');
    }
    kept[koff] = '\0';
    size_t n;
    p = load_pending(c->authorized_keys, &n, err, errlen);
    if (p == NULL)
        goto out;
    size_t npend = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(p[i].name, name) != 0)
            p[npend++] = p[i];
    if (roff == 0 && npend == n) {
        snprintf(err, errlen, "no agent '%s' in %s and no pending enrollment of that name", name,
                 c->authorized_keys);
        goto out;
    }
    if (roff == 0)
        roff = (size_t)snprintf(revoked, rcap, "%s %s -\n", stamp, name); /* a pending line only */
    char rpath[PATH_MAX];
    state_path(c->authorized_keys, "revoked", rpath, sizeof(rpath));
    char *old = read_all(rpath, err, errlen);
    if (old == NULL)
        goto out;
    size_t acap = strlen(old) + roff + 1;
    char *all = malloc(acap);
    if (all == NULL) {
        free(old);
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    snprintf(all, acap, "%s%s", old, revoked);
    free(old);
    /* The key goes first: once it is gone, the agent is refused. */
    rc = write_atomic(c->authorized_keys, kept, err, errlen) < 0 ||
                 (npend != n && save_pending(c->authorized_keys, p, npend, err, errlen) < 0) ||
                 write_atomic(rpath, all, err, errlen) < 0
             ? -1
             : 0;
    free(all);
out:
    unlock_dir(lock);
    free(text);
    free(kept);
    free(revoked);
    free(p);
    return rc;
}

void enroll_print_state(const struct collconf *c, bool json, FILE *out)
{
    if (c->authorized_keys == NULL)
        return;
    char err[256];
    size_t n;
    struct pending *p = load_pending(c->authorized_keys, &n, err, sizeof(err));
    int64_t now = clock_wall_us() / 1000000;
    for (size_t i = 0; p && i < n; i++) {
        if (p[i].expires <= now)
            continue;
        char when[40];
        clock_format_iso_us(p[i].expires * 1000000, false, when, sizeof(when));
        if (json) {
            json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "name", p[i].name, "state", "pending",
                                  "site", p[i].site, "expires", when);
            char *t = json_dumps(o, JSON_COMPACT);
            fprintf(out, "%s\n", t ? t : "{}");
            free(t);
            json_decref(o);
        } else {
            fprintf(out, "pending enrollment: %s%s%s, line expires %s\n", p[i].name,
                    p[i].site[0] ? " site " : "", p[i].site, when);
        }
    }
    free(p);
    char rpath[PATH_MAX];
    if (state_path(c->authorized_keys, "revoked", rpath, sizeof(rpath)) < 0)
        return;
    char *text = read_all(rpath, err, sizeof(err));
    for (char *save = NULL, *line = text ? strtok_r(text, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        char when[41], nm[ENROLL_NAME_MAX + 2];
        if (strlen(line) > STATE_LINE_MAX || sscanf(line, "%40s %65s", when, nm) != 2)
            continue;
        if (json) {
            json_t *o =
                json_pack("{s:s, s:s, s:s}", "name", nm, "state", "revoked", "revoked_at", when);
            char *t = json_dumps(o, JSON_COMPACT);
            fprintf(out, "%s\n", t ? t : "{}");
            free(t);
            json_decref(o);
        } else {
            fprintf(out, "revoked: %s at %s\n", nm, when);
        }
    }
    free(text);
}
