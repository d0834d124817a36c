/*
 * enrollment — the agent's half of enrollment (enrollment.h).
 */
#include "enrollment.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "agentconf.h"
#include "clock.h"
#include "enroll_line.h"
#include "linkstate.h"
#include "transport.h"
#include "wire.h"

#define ENROLLMENT_USER "vantage" /* the packages' system user (debian/) */

struct staged {
    char final[PATH_MAX];
    char tmp[PATH_MAX];
};

/* Writes text to DIR/NAME.enrolling (mode), remembering the final name.
 * When run as root and the vantage user exists, the files are given to
 * it: the daemon runs as vantage and must read its key. */
static int stage(struct staged *f, const char *dir, const char *name, const char *text, mode_t mode,
                 char *err, size_t errlen)
{
    snprintf(f->final, sizeof(f->final), "%s/%s", dir, name);
    snprintf(f->tmp, sizeof(f->tmp), "%s/%s.enrolling", dir, name);
    unlink(f->tmp); /* left by an interrupted run: ours to replace */
    int fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        snprintf(err, errlen, "%.900s: %s", f->tmp, strerror(errno));
        f->tmp[0] = '\0';
        return -1;
    }
    size_t len = strlen(text);
    bool ok = write(fd, text, len) == (ssize_t)len;
    if (ok && geteuid() == 0) {
        const struct passwd *pw = getpwnam(ENROLLMENT_USER);
        if (pw != NULL)
            ok = fchown(fd, pw->pw_uid, pw->pw_gid) == 0;
    }
    ok = ok && fsync(fd) == 0;
    if (!ok)
        snprintf(err, errlen, "%.900s: cannot write: %s", f->tmp, strerror(errno));
    close(fd);
    return ok ? 0 : -1;
}

static void unstage(struct staged *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (f[i].tmp[0] != '\0')
            unlink(f[i].tmp);
}

/* Why the link failed, for the person enrolling: the monitor's stage
 * tells a refused key (no line pending, or this one used) from a wrong
 * collector key (a line from another collector) and from silence. */
static void explain(const struct linkstate *ls, const struct enroll_line *l, int timeout_s,
                    char *err, size_t errlen)
{
    switch (ls->stage) {
    case LINKSTATE_REFUSED:
        snprintf(err, errlen,
                 "the collector at %s refused this machine's new key: it has no pending "
                 "enrollment (this line was used already, revoked, replaced or has expired); "
                 "print a new one with 'vantage-collector enroll %s' on the collector",
                 l->endpoint, l->name);
        break;
    case LINKSTATE_HANDSHAKE_FAILED:
        snprintf(err, errlen,
                 "the server at %s is not the collector that printed this line (its key "
                 "differs); print the line on the collector this address belongs to",
                 l->endpoint);
        break;
    case LINKSTATE_NO_ANSWER:
        snprintf(err, errlen,
                 "nothing answers at %s within %d s: check that the collector runs and that "
                 "this machine reaches that address and port (firewall, name)",
                 l->endpoint, timeout_s);
        break;
    default:
        snprintf(err, errlen, "no answer from the collector at %s within %d s", l->endpoint,
                 timeout_s);
        break;
    }
}

/* Sends the Enroll and waits for Enrolled. 0 yes, -1 no (err says why). */
static int ask(const struct enroll_line *l, const struct transport_keys *keys, int timeout_s,
               char *err, size_t errlen)
{
    void *ctx = zmq_ctx_new();
    struct transport_opts o = {.endpoint = l->endpoint, .keys = keys, .server_key = l->server_key};
    void *sock = ctx ? transport_client_create(ctx, &o, err, errlen) : NULL;
    void *monitor = NULL;
    int rc = -1;
    uint8_t *buf = NULL;
    size_t len = 0;
    struct linkstate ls;
    linkstate_reset(&ls);
    struct wire_msg m = {.kind = WIRE_ENROLL, .agent = (char *)l->name};
    m.u.enroll.name = (char *)l->name;
    m.u.enroll.secret = (char *)l->secret;
    m.u.enroll.site = l->site[0] ? (char *)l->site : NULL;
    m.u.enroll.version = VANTAGE_VERSION;
    if (sock == NULL)
        goto out;
    const char *mon_ep = "inproc://enroll-monitor";
    if (zmq_socket_monitor(sock, mon_ep, LINKSTATE_EVENTS) != 0 ||
        (monitor = zmq_socket(ctx, ZMQ_PAIR)) == NULL || zmq_connect(monitor, mon_ep) != 0) {
        snprintf(err, errlen, "cannot watch the connection: %s", zmq_strerror(errno));
        goto out;
    }
    if (wire_msg_encode(&m, &buf, &len) < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    int64_t deadline = (int64_t)clock_mono_us() + (int64_t)timeout_s * 1000000;
    bool sent = false;
    for (;;) {
        int64_t left_ms = (deadline - (int64_t)clock_mono_us()) / 1000;
        /* The socket takes a message only once connected (ZMQ_IMMEDIATE). */
        zmq_pollitem_t items[] = {{sock, 0, sent ? ZMQ_POLLIN : ZMQ_POLLOUT, 0},
                                  {monitor, 0, ZMQ_POLLIN, 0}};
        if (left_ms <= 0 || zmq_poll(items, 2, (long)left_ms) < 0) {
            explain(&ls, l, timeout_s, err, errlen);
            goto out;
        }
        uint16_t ev;
        uint32_t val;
        while (linkstate_read(monitor, &ev, &val) == 1)
            linkstate_note(&ls, ev, val);
        if (ls.stage == LINKSTATE_REFUSED || ls.stage == LINKSTATE_HANDSHAKE_FAILED) {
            explain(&ls, l, timeout_s, err, errlen);
            goto out;
        }
        if (!sent) {
            if (items[0].revents & ZMQ_POLLOUT)
                sent = zmq_send(sock, buf, len, ZMQ_DONTWAIT) >= 0;
            continue;
        }
        if (!(items[0].revents & ZMQ_POLLIN))
            continue;
        zmq_msg_t reply;
        zmq_msg_init(&reply);
        if (zmq_msg_recv(&reply, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&reply);
            continue;
        }
        char derr[256];
        struct wire_msg *r =
            wire_msg_decode(zmq_msg_data(&reply), zmq_msg_size(&reply), derr, sizeof(derr));
        zmq_msg_close(&reply);
        if (r == NULL || r->kind != WIRE_ENROLLED) {
            wire_msg_free(&r);
            continue; /* not the answer: wait on */
        }
        if (r->u.enrolled.ok)
            rc = 0;
        else
            snprintf(err, errlen, "the collector refused: %s",
                     r->u.enrolled.error ? r->u.enrolled.error : "no reason given");
        wire_msg_free(&r);
        break;
    }
out:
    if (buf != NULL)
        explicit_bzero(buf, len);
    free(buf);
    if (sock != NULL)
        zmq_socket_monitor(sock, NULL, 0);
    transport_close(&monitor);
    transport_close(&sock);
    if (ctx != NULL)
        zmq_ctx_term(ctx);
    return rc;
}

int enrollment_run(const struct enrollment_opts *o, FILE *out, FILE *errout)
{
    struct enroll_line l;
    char err[1024];
    if (enroll_line_parse(o->line, &l, err, sizeof(err)) < 0) {
        fprintf(errout, "vantage-agent: enroll: %s\n", err);
        return 2;
    }
    int64_t now = clock_wall_us() / 1000000;
    if (l.expires <= now) {
        char when[40];
        clock_format_iso_us(l.expires * 1000000, false, when, sizeof(when));
        fprintf(errout,
                "vantage-agent: enroll: this line expired at %s; print a new one with "
                "'vantage-collector enroll %s' on the collector\n",
                when, l.name);
        explicit_bzero(&l, sizeof(l));
        return 2;
    }
    static const char *const names[] = {"agent.key", "agent.pub", "agent.conf"};
    for (size_t i = 0; i < 3; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", o->dir, names[i]);
        if (access(path, F_OK) == 0) {
            fprintf(errout,
                    "vantage-agent: enroll: %s exists: this machine is enrolled already; to "
                    "enroll it again, move the agent's files in %s away first (or give --out "
                    "DIR)\n",
                    path, o->dir);
            explicit_bzero(&l, sizeof(l));
            return 2;
        }
    }
    struct transport_keys keys;
    if (zmq_curve_keypair(keys.public_key, keys.secret_key) != 0) {
        fprintf(errout, "vantage-agent: enroll: cannot make a CURVE key pair: %s\n",
                zmq_strerror(errno));
        return 2;
    }
    if (mkdir(o->dir, 0750) < 0 && errno != EEXIST) {
        fprintf(errout, "vantage-agent: enroll: %s: cannot create: %s\n", o->dir, strerror(errno));
        explicit_bzero(&keys, sizeof(keys));
        return 2;
    }
    struct stat st;
    if (stat(o->dir, &st) == 0 && (st.st_mode & S_IWOTH)) {
        /* Anyone could swap the key or agent.conf under the daemon. */
        fprintf(errout,
                "vantage-agent: enroll: %s is writable by everyone; run 'chmod o-w %s' (or give "
                "--out a directory only root and vantage can write)\n",
                o->dir, o->dir);
        explicit_bzero(&keys, sizeof(keys));
        return 2;
    }
    /* agent.conf names its files absolutely: relative paths in it would be
     * taken from its own directory, not from where enroll ran. */
    char dir[PATH_MAX], spool[PATH_MAX], cwd[PATH_MAX];
    const char *sp = o->spool ? o->spool : AGENTCONF_DEFAULT_SPOOL;
    if (realpath(o->dir, dir) == NULL || (sp[0] != '/' && getcwd(cwd, sizeof(cwd)) == NULL)) {
        fprintf(errout, "vantage-agent: enroll: %s: %s\n", o->dir, strerror(errno));
        explicit_bzero(&keys, sizeof(keys));
        return 2;
    }
    if (sp[0] == '/')
        snprintf(spool, sizeof(spool), "%s", sp);
    else
        snprintf(spool, sizeof(spool), "%.2000s/%.2000s", cwd, sp);
    char keytext[TRANSPORT_KEY_LEN + 2], pubtext[TRANSPORT_KEY_LEN + 2], conf[2 * PATH_MAX + 512],
        stamp[40];
    snprintf(keytext, sizeof(keytext), "%s\n", keys.secret_key);
    snprintf(pubtext, sizeof(pubtext), "%s\n", keys.public_key);
    clock_format_iso_us(clock_wall_us(), false, stamp, sizeof(stamp));
    snprintf(conf, sizeof(conf),
             "# Written by 'vantage-agent enroll' at %s; see vantage-agent.conf(5).\n"
             "[agent]\n"
             "name = %s\n"
             "%s%s%s"
             "collector = %s\n"
             "collector_public_key = %s\n"
             "secret_key = %.1500s/agent.key\n"
             "spool = %.1500s\n",
             stamp, l.name, l.site[0] ? "site = " : "", l.site, l.site[0] ? "\n" : "", l.endpoint,
             l.server_key, dir, spool);
    struct staged files[3] = {0};
    int rc = 2;
    if (stage(&files[0], o->dir, "agent.key", keytext, 0600, err, sizeof(err)) < 0 ||
        stage(&files[1], o->dir, "agent.pub", pubtext, 0644, err, sizeof(err)) < 0 ||
        stage(&files[2], o->dir, "agent.conf", conf, 0640, err, sizeof(err)) < 0) {
        fprintf(errout, "vantage-agent: enroll: %s\n", err);
        goto out;
    }
    fprintf(out, "enrolling '%s' with the collector at %s ...\n", l.name, l.endpoint);
    fflush(out);
    if (ask(&l, &keys, o->timeout_s, err, sizeof(err)) < 0) {
        fprintf(errout, "vantage-agent: enroll: %s\n", err);
        rc = 1;
        goto out;
    }
    for (size_t i = 0; i < 3; i++) {
        if (rename(files[i].tmp, files[i].final) < 0) {
            fprintf(errout, "vantage-agent: enroll: %s: %s\n", files[i].final, strerror(errno));
            goto out;
        }
        files[i].tmp[0] = '\0';
    }
    fprintf(out,
            "enrolled as '%s': wrote %s/agent.key (0600), %s/agent.pub and %s/agent.conf\n"
            "start the agent: systemctl enable --now vantage-agent (or: vantage-agent run -c "
            "%s/agent.conf)\n",
            l.name, o->dir, o->dir, o->dir, o->dir);
    rc = 0;
out:
    unstage(files, 3);
    explicit_bzero(&keys, sizeof(keys));
    explicit_bzero(keytext, sizeof(keytext));
    explicit_bzero(&l, sizeof(l));
    return rc;
}
