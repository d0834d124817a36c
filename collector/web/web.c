/*
 * web — the HTTP endpoint on libmicrohttpd (web.h).
 */
#include "web.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "clock.h"
#include "metrics.h"
#include "status.h"
#include "store.h"

/* "Content-Security-Policy: ... 'sha256-<44 base64>'" and the rest. */
#define WEB_CSP_MAX 512

struct web {
    struct MHD_Daemon *daemon;
    struct log *log;
    /* Only the daemon's thread uses the store and metrics. */
    struct store *store;
    struct metrics *metrics;
    /* conf is replaced by web_reload (serve's thread) while the daemon's
     * thread reads it: lock guards the pointer and its use. */
    pthread_mutex_t lock;
    struct collconf *conf;
    _Atomic uint64_t stored, duplicates, invalid;
    bool has_token;
    unsigned char token_hash[SHA256_DIGEST_LENGTH];
    char csp[WEB_CSP_MAX];
};

/* ---- start-up ----------------------------------------------------------------- */

/* Reads the token file: one line, not readable by group or others (like
 * every secret file), kept only as its SHA-256. */
static int load_token(struct web *w, const struct collconf *c, char *err, size_t errlen)
{
    char what[1024];
    int fd = open(c->http_token_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(what, sizeof(what), "cannot read %.300s: %s; create it with one line, the token",
                 c->http_token_file, strerror(errno));
        goto fail;
    }
    if (st.st_mode & 077) {
        snprintf(what, sizeof(what),
                 "%.300s is readable by group or others (mode %03o); run chmod 600 %.300s",
                 c->http_token_file, (unsigned)(st.st_mode & 0777), c->http_token_file);
        goto fail;
    }
    char buf[WEB_TOKEN_MAX + 1];
    ssize_t n = read(fd, buf, sizeof(buf));
    close(fd);
    fd = -1;
    if (n < 0 || n > WEB_TOKEN_MAX) {
        snprintf(what, sizeof(what), "%.300s: %s", c->http_token_file,
                 n < 0 ? strerror(errno) : "longer than a token (4096 bytes)");
        explicit_bzero(buf, sizeof(buf));
        goto fail;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    if (n == 0 || memchr(buf, '\n', (size_t)n) != NULL) {
        snprintf(what, sizeof(what), "%.300s must hold the token alone on one line",
                 c->http_token_file);
        explicit_bzero(buf, sizeof(buf));
        goto fail;
    }
    SHA256((const unsigned char *)buf, (size_t)n, w->token_hash);
    explicit_bzero(buf, sizeof(buf));
    w->has_token = true;
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    collconf_error(c, "http_token_file", what, err, errlen);
    return -1;
}

/* The CSP: nothing from anywhere, except the page's own style by hash. */
static void make_csp(struct web *w)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    const char *css = status_style();
    SHA256((const unsigned char *)css, strlen(css), md);
    unsigned char b64[4 * ((SHA256_DIGEST_LENGTH + 2) / 3) + 1];
    EVP_EncodeBlock(b64, md, SHA256_DIGEST_LENGTH);
    snprintf(w->csp, sizeof(w->csp),
             "default-src 'none'; style-src 'sha256-%s'; img-src 'self'; base-uri 'none'; "
             "form-action 'none'; frame-ancestors 'none'",
             (const char *)b64);
}

/* http = ADDRESS:PORT (collconf checked the form). */
static int parse_listen(const char *http, struct sockaddr_storage *ss, bool *v6)
{
    char host[64];
    const char *colon = strrchr(http, ':');
    size_t hl = (size_t)(colon - http);
    if (hl >= sizeof(host))
        return -1;
    memcpy(host, http, hl);
    host[hl] = '\0';
    unsigned long port = strtoul(colon + 1, NULL, 10); /* collconf checked it */
    memset(ss, 0, sizeof(*ss));
    *v6 = host[0] == '[';
    if (*v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        host[hl - 1] = '\0';
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        return inet_pton(AF_INET6, host + 1, &a->sin6_addr) == 1 ? 0 : -1;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

/* ---- requests ------------------------------------------------------------------ */

static enum MHD_Result reply(struct web *w, struct MHD_Connection *conn, unsigned status,
                             const char *type, char *body, size_t len, bool html)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body, body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    if (html) {
        MHD_add_response_header(r, "Content-Security-Policy", w->csp);
        MHD_add_response_header(r, "X-Frame-Options", "DENY");
    }
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"vantage\"");
    enum MHD_Result ok = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result reply_text(struct web *w, struct MHD_Connection *conn, unsigned status,
                                  const char *text)
{
    char *body = strdup(text);
    return reply(w, conn, status, "text/plain; charset=utf-8", body, body ? strlen(body) : 0,
                 false);
}

static bool authorized(struct web *w, struct MHD_Connection *conn)
{
    if (!w->has_token)
        return true;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    /* Comparing hashes takes the same time whatever the length and the
     * first differing byte of what the client sent. */
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)h + 7, strlen(h + 7), md);
    return CRYPTO_memcmp(md, w->token_hash, sizeof(md)) == 0;
}

/* Runs one page or document into a memory buffer and replies with it. */
static enum MHD_Result answer(struct web *w, struct MHD_Connection *conn, const char *url)
{
    const char *target = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "target");
    char *body = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&body, &len);
    if (out == NULL)
        return reply_text(w, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
    unsigned status = 404;
    const char *type = "text/plain; charset=utf-8";
    bool html = false;
    int64_t now = clock_wall_us();
    pthread_mutex_lock(&w->lock);
    if (strcmp(url, "/metrics") == 0) {
        struct metrics_ingest in = {atomic_load(&w->stored), atomic_load(&w->duplicates),
                                    atomic_load(&w->invalid)};
        char err[STORE_ERR_MAX + 128];
        if (metrics_write(w->metrics, w->conf, w->store, &in, now, out, err, sizeof(err)) < 0) {
            log_error(w->log, "/metrics: %s", err);
            status = 500;
        } else {
            status = 200;
            type = "text/plain; version=0.0.4; charset=utf-8";
        }
    } else if (strncmp(url, "/api/v1/", 8) == 0) {
        const char *open = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "open");
        bool open_only = open != NULL && strcmp(open, "0") != 0;
        status = api_answer(w->conf, w->store, url + 8, target, open_only, out);
        type = "application/json";
    } else if (strcmp(url, "/") == 0 || strcmp(url, "/status") == 0) {
        if (strcmp(url, "/status") == 0 && target == NULL) {
            status = 400;
            fputs("/status needs ?target=NAME\n", out);
        } else {
            status =
                status_page(w->conf, w->store, strcmp(url, "/") == 0 ? NULL : target, now, out);
            type = "text/html; charset=utf-8";
            html = true;
        }
    } else {
        fputs("not found: there are /, /status?target=NAME, /metrics and /api/v1/\n", out);
    }
    pthread_mutex_unlock(&w->lock);
    if (fclose(out) != 0) {
        free(body);
        return reply_text(w, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
    }
    if (status == 500) {
        free(body);
        return reply_text(w, conn, 500, "internal error: see the collector's log\n");
    }
    return reply(w, conn, status, type, body, len, html);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **state)
{
    (void)version;
    (void)upload_data;
    struct web *w = cls;
    /* Answered on the first call, when the headers are in: a body is
     * never read, so its size costs nothing. */
    if (*state != NULL) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    *state = w;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply_text(w, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding");
    if ((cl != NULL && strcmp(cl, "0") != 0) || te != NULL)
        return reply_text(w, conn, MHD_HTTP_CONTENT_TOO_LARGE, "no request body is accepted\n");
    if (!authorized(w, conn))
        return reply_text(w, conn, MHD_HTTP_UNAUTHORIZED,
                          "this collector needs 'Authorization: Bearer TOKEN' (http_token_file)\n");
    return answer(w, conn, url);
}

__attribute__((format(printf, 2, 0))) static void on_log(void *cls, const char *fmt, va_list ap)
{
    struct web *w = cls;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && line[n - 1] == '\n')
        line[--n] = '\0';
    log_warn(w->log, "http: %s", line);
}

struct web *web_start(const struct collconf *c, struct log *log, char *err, size_t errlen)
{
    struct web *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->log = log;
    pthread_mutex_init(&w->lock, NULL);
    make_csp(w);
    char e2[STORE_ERR_MAX + 128];
    struct sockaddr_storage ss;
    bool v6;
    if (parse_listen(c->http, &ss, &v6) < 0) {
        collconf_error(c, "http", "not an address this host has; write e.g. 127.0.0.1:9740", err,
                       errlen);
        goto fail;
    }
    if (c->http_token_file != NULL && load_token(w, c, err, errlen) < 0)
        goto fail;
    if ((w->conf = collconf_load(c->path, e2, sizeof(e2))) == NULL) {
        snprintf(err, errlen, "%s", e2);
        goto fail;
    }
    if ((w->store = store_open(c->database, e2, sizeof(e2))) == NULL) {
        collconf_error(c, "database", e2, err, errlen);
        goto fail;
    }
    store_set_log(w->store, w->log);
    if ((w->metrics = metrics_create()) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (v6)
        flags |= MHD_USE_IPv6;
    w->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, w, MHD_OPTION_EXTERNAL_LOGGER, on_log, w,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)WEB_REQUEST_MAX, MHD_OPTION_CONNECTION_LIMIT, (unsigned)WEB_CONNECTIONS_MAX,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)WEB_PER_IP_MAX, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)WEB_IDLE_TIMEOUT_S, MHD_OPTION_END);
    if (w->daemon == NULL) {
        char what[300];
        snprintf(what, sizeof(what),
                 "cannot listen on %.100s (is the port in use, or the address not this host's?)",
                 c->http);
        collconf_error(c, "http", what, err, errlen);
        goto fail;
    }
    log_info(log, "http: serving /metrics, / and /api/v1/ on %s%s", c->http,
             w->has_token ? " (bearer token required)" : "");
    return w;
fail:
    web_stop(&w);
    return NULL;
}

void web_reload(struct web *w)
{
    if (w == NULL)
        return;
    char err[STORE_ERR_MAX + 128];
    struct collconf *fresh = collconf_load(w->conf->path, err, sizeof(err));
    if (fresh == NULL) {
        log_error(w->log, "http: reload failed, keeping the running targets: %s", err);
        return;
    }
    pthread_mutex_lock(&w->lock);
    struct collconf *old = w->conf;
    w->conf = fresh;
    pthread_mutex_unlock(&w->lock);
    collconf_destroy(&old);
}

void web_note_ingest(struct web *w, const struct ingest_stats *t)
{
    if (w == NULL)
        return;
    atomic_store(&w->stored, t->stored);
    atomic_store(&w->duplicates, t->duplicates);
    atomic_store(&w->invalid, t->invalid);
}

void web_stop(struct web **wp)
{
    if (wp == NULL || *wp == NULL)
        return;
    struct web *w = *wp;
    if (w->daemon != NULL)
        MHD_stop_daemon(w->daemon);
    metrics_destroy(&w->metrics);
    store_close(&w->store);
    collconf_destroy(&w->conf);
    pthread_mutex_destroy(&w->lock);
    explicit_bzero(w->token_hash, sizeof(w->token_hash));
    free(w);
    *wp = NULL;
}
