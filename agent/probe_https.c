/*
 * probe_https — https://host[:port]/path (DESIGN.md "Check specs"): the
 * webmail or autodiscover page a user's browser or mail client fetches.
 *
 * HTTP is libcurl's job, not ours: one easy handle per probe in a multi
 * handle driven by the agent's libuv loop (CURLMOPT_SOCKETFUNCTION ->
 * uv_poll, CURLMOPT_TIMERFUNCTION -> uv_timer), so an HTTPS probe never
 * blocks the loop. To stay consistent with the other kinds:
 *
 *   - addresses come from the engine's resolver (CURLOPT_RESOLVE), so the
 *     per-office resolver is what HTTPS uses too, and dns is the engine's;
 *   - curl's SSL_CTX gets conn's trust store (conn_tls_store), TLS 1.2 at
 *     least, and verify failures are classified by conn_classify_verify();
 *   - the TLS facts are read from the session itself at the end of the
 *     handshake (an info callback), so they are there even when the
 *     certificate check then fails.
 *
 * One GET, no redirects followed: 2xx and 3xx are ok (the Location goes
 * into the detail), anything else is http_status with the code. The
 * status line becomes the banner; the Server header goes into the detail.
 * Phases: connect, tls and http from CURLINFO_*_TIME_T.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "clock.h"
#include "probe_impl.h"
#include "reply.h"

/* The page body is read only to let the server finish its answer; a
 * webmail login page is a few KiB to a few hundred. Past this much the
 * transfer is cut: the status is known by then. */
#define HTTPS_BODY_MAX (256 * 1024)
/* "HTTP/1.1 200 OK" and the Server header: a line of a screen. */
#define HTTPS_LINE_MAX 160
/* "host:port:addr,addr,..." for CURLOPT_RESOLVE. */
#define HTTPS_RESOLVE_MAX (SPEC_HOST_MAX + 8 + CONN_ADDRS_MAX * (INET6_ADDRSTRLEN + 3))
#define HTTPS_URL_MAX     (SPEC_TEXT_MAX + 16)
#define SECONDS_PER_DAY   86400

enum https_state {
    HTTPS_ST_RUNNING, /* curl owns the transfer */
    HTTPS_ST_CLOSING, /* result classified; handles closing */
    HTTPS_ST_LAST
};

static const char *const https_state_names[HTTPS_ST_LAST] = {"running", "closing"};

struct https {
    struct probe *p;
    enum https_state st;
    CURLM *multi;
    CURL *easy;
    struct curl_slist *resolve;
    uv_timer_t timer;
    unsigned open_handles; /* uv handles not yet closed: the timer and polls */
    size_t body;           /* body bytes seen */
    bool cut;              /* we stopped the transfer after HTTPS_BODY_MAX */
    char status_line[HTTPS_LINE_MAX];
    char server[HTTPS_LINE_MAX];
    char curl_err[CURL_ERROR_SIZE];
    /* Facts captured at the end of the TLS handshake. */
    bool tls_seen;
    char tls_version[32];
    char tls_cipher[128];
    X509 *leaf;               /* own reference, or NULL */
    struct https_sock *socks; /* polls curl asked for and has not removed */
    /* clock_mono_us() when the transfer started, when TCP was up (curl
     * asks for the SSL_CTX then) and when the handshake finished: curl
     * reports 0 for its own connect times when the transfer fails. */
    uint64_t t_start, t_tcp, t_tls;
};

struct https_sock {
    struct https *h;
    uv_poll_t poll;
    curl_socket_t fd;
    struct https_sock *next;
};

static void sock_closed(uv_handle_t *hd);

/* Stops polling s and closes its handle; sock_closed() frees it. */
static void sock_release(struct https *h, struct https_sock *s)
{
    for (struct https_sock **pp = &h->socks; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, sock_closed);
}

/* Whether the engine traces; see dialog.c (requested from probe.c). */

/* The only way to change state. */
static void https_set_state(struct https *h, enum https_state st)
{
    assert((unsigned)st < HTTPS_ST_LAST);
    if (probe_tracing(h->p))
        fprintf(stderr, "probe %s: https %s -> %s\n", h->p->result.check, https_state_names[h->st],
                https_state_names[st]);
    h->st = st;
}

/* ---- TLS facts ----------------------------------------------------------- */

static char *name_text(X509_NAME *n)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *out = NULL;

    if (b == NULL)
        return NULL;
    if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) >= 0) {
        char *data;
        long len = BIO_get_mem_data(b, &data);
        out = strndup(data, len > RESULT_STR_MAX ? RESULT_STR_MAX : (size_t)len);
    }
    BIO_free(b);
    return out;
}

/* The same facts conn records for the mail kinds, from what the info
 * callback captured. verify is the X509_V_* result, or -1 for a hostname
 * mismatch found by curl after the chain verified. */
static void record_tls_facts(struct https *h, long verify)
{
    struct result_tls *t;

    if (!h->tls_seen || (t = result_tls_new(&h->p->result)) == NULL)
        return;
    (void)result_set_str(&t->version, h->tls_version);
    (void)result_set_str(&t->cipher, h->tls_cipher);
    (void)result_set_str(&t->verify, verify == X509_V_OK ? "ok"
                                     : verify < 0        ? "hostname mismatch"
                                                         : X509_verify_cert_error_string(verify));
    if (h->leaf == NULL)
        return;
    t->subject = name_text(X509_get_subject_name(h->leaf));
    t->issuer = name_text(X509_get_issuer_name(h->leaf));
    GENERAL_NAMES *gens = X509_get_ext_d2i(h->leaf, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char buf[RESULT_NAME_MAX + 1];
        if (g->type == GEN_DNS) {
            snprintf(buf, sizeof(buf), "%.*s", ASN1_STRING_length(g->d.dNSName),
                     (const char *)ASN1_STRING_get0_data(g->d.dNSName));
            (void)result_list_add(&t->sans, &t->nsans, buf);
        } else if (g->type == GEN_IPADD) {
            int len = ASN1_STRING_length(g->d.iPAddress);
            int fam = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
            if (fam != 0 &&
                inet_ntop(fam, ASN1_STRING_get0_data(g->d.iPAddress), buf, sizeof(buf)) != NULL)
                (void)result_list_add(&t->sans, &t->nsans, buf);
        }
    }
    GENERAL_NAMES_free(gens);
    struct tm tm;
    if (ASN1_TIME_to_tm(X509_get0_notAfter(h->leaf), &tm) == 1) {
        int64_t diff;
        t->not_after = (int64_t)timegm(&tm);
        diff = t->not_after - clock_wall_us() / 1000000;
        /* Floor division: expired an hour ago is -1 days left, not 0. */
        t->days_left = (int32_t)(diff >= 0 ? diff / SECONDS_PER_DAY
                                           : -((-diff + SECONDS_PER_DAY - 1) / SECONDS_PER_DAY));
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (X509_digest(h->leaf, EVP_sha256(), md, &mdlen) == 1) {
        char hex[2 * EVP_MAX_MD_SIZE + 1];
        for (unsigned i = 0; i < mdlen; i++)
            snprintf(hex + 2 * i, 3, "%02x", md[i]);
        (void)result_set_str(&t->sha256, hex);
    }
}

/* Runs inside OpenSSL during curl's handshake. */
static void tls_info_cb(const SSL *ssl, int where, int ret)
{
    (void)ret;
    if (!(where & SSL_CB_HANDSHAKE_DONE))
        return;
    struct https *h = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    if (h == NULL)
        return;
    /* Final values: the verify callback may have run mid-handshake. */
    h->tls_seen = true;
    if (h->t_tls == 0)
        h->t_tls = clock_mono_us();
    snprintf(h->tls_version, sizeof(h->tls_version), "%s", SSL_get_version(ssl));
    snprintf(h->tls_cipher, sizeof(h->tls_cipher), "%s", SSL_get_cipher_name(ssl));
    if (h->leaf == NULL)
        h->leaf = SSL_get1_peer_certificate(ssl);
}

/* Whether the certificate names host (a DNS name or an IP literal). */
static bool leaf_names_host(X509 *leaf, const char *host)
{
    if (X509_check_ip_asc(leaf, host, 0) == 1)
        return true;
    return X509_check_host(leaf, host, 0, 0, NULL) == 1;
}

/* OpenSSL's chain verification, as curl asked for it (preverify_ok is
 * the verdict, kept unchanged); at depth 0 it also captures the facts,
 * since a failing chain ends the handshake before tls_info_cb could. */
static int tls_verify_cb(int preverify_ok, X509_STORE_CTX *xs)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct https *h = ssl != NULL ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;

    if (h != NULL && !preverify_ok && h->t_tls == 0)
        h->t_tls = clock_mono_us(); /* the handshake ends here */
    if (h != NULL && h->leaf == NULL) {
        X509 *leaf = X509_STORE_CTX_get0_cert(xs);
        if (leaf != NULL && X509_up_ref(leaf) == 1)
            h->leaf = leaf;
        h->tls_seen = true;
        snprintf(h->tls_version, sizeof(h->tls_version), "%s", SSL_get_version(ssl));
        snprintf(h->tls_cipher, sizeof(h->tls_cipher), "%s", SSL_get_cipher_name(ssl));
    }
    return preverify_ok;
}

/* CURLOPT_SSL_CTX_FUNCTION: the trust store and the fact hooks. */
static CURLcode ssl_ctx_cb(CURL *easy, void *sslctx, void *arg)
{
    struct https *h = arg;
    SSL_CTX *ctx = sslctx;
    X509_STORE *store = conn_tls_store(h->p->tls);

    (void)easy;
    h->t_tcp = clock_mono_us();
    if (store == NULL || X509_STORE_up_ref(store) != 1)
        return CURLE_SSL_CERTPROBLEM;
    SSL_CTX_set_cert_store(ctx, store); /* takes the reference */
    SSL_CTX_set_app_data(ctx, h);
    SSL_CTX_set_info_callback(ctx, tls_info_cb);
    SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), tls_verify_cb);
    return CURLE_OK;
}

/* ---- curl callbacks -------------------------------------------------------- */

static size_t header_cb(char *buf, size_t size, size_t n, void *arg)
{
    struct https *h = arg;
    size_t len = size * n;
    size_t l = len;

    while (l > 0 && (buf[l - 1] == '\n' || buf[l - 1] == '\r'))
        l--;
    if (l >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        /* A new response (after 1xx) starts over. */
        reply_printable(h->status_line, sizeof(h->status_line), buf, l);
        h->server[0] = '\0';
    } else if (l > 7 && strncasecmp(buf, "server:", 7) == 0) {
        size_t skip = 7;
        while (skip < l && (buf[skip] == ' ' || buf[skip] == '\t'))
            skip++;
        reply_printable(h->server, sizeof(h->server), buf + skip, l - skip);
    }
    return len;
}

static size_t body_cb(char *buf, size_t size, size_t n, void *arg)
{
    struct https *h = arg;
    size_t len = size * n;

    (void)buf;
    h->body += len;
    if (h->body > HTTPS_BODY_MAX) {
        h->cut = true;
        return 0; /* CURLE_WRITE_ERROR, judged as complete in finish */
    }
    return len;
}

static void check_done(struct https *h);

static void on_poll(uv_poll_t *poll, int status, int events)
{
    struct https_sock *s = poll->data;
    struct https *h = s->h;
    int flags = 0;
    int running;

    if (h->st != HTTPS_ST_RUNNING)
        return;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(h->multi, s->fd, flags, &running);
    check_done(h);
}

static void handle_gone(struct https *h);

static void sock_closed(uv_handle_t *hd)
{
    struct https_sock *s = hd->data;
    struct https *h = s->h;

    free(s); /* hd lives inside s */
    handle_gone(h);
}

/* CURLMOPT_SOCKETFUNCTION: mirror curl's interest in fd onto a uv_poll. */
static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
    struct https *h = arg;
    struct https_sock *s = sockp;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            /* Stop polling before curl closes the fd (libuv: never close a
             * polled fd). */
            sock_release(h, s);
            curl_multi_assign(h->multi, fd, NULL);
        }
        return 0;
    }
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL)
            return -1;
        s->h = h;
        s->fd = fd;
        if (uv_poll_init_socket(h->p->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        s->next = h->socks;
        h->socks = s;
        h->open_handles++;
        curl_multi_assign(h->multi, fd, s);
    }
    int events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

static void on_timer(uv_timer_t *t)
{
    struct https *h = t->data;
    int running;

    if (h->st != HTTPS_ST_RUNNING)
        return;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
}

/* CURLMOPT_TIMERFUNCTION: one uv timer; curl must not be re-entered from
 * here, so even a 0 ms timeout goes through the loop. */
static int timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
    struct https *h = arg;

    (void)multi;
    if (timeout_ms < 0)
        uv_timer_stop(&h->timer);
    else
        uv_timer_start(&h->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- classification ------------------------------------------------------- */

static curl_off_t info_time(CURL *easy, CURLINFO what)
{
    curl_off_t v = 0;

    if (curl_easy_getinfo(easy, what, &v) != CURLE_OK)
        return 0;
    return v;
}

static void record_phases(struct https *h)
{
    curl_off_t dns = info_time(h->easy, CURLINFO_NAMELOOKUP_TIME_T);
    curl_off_t conn = info_time(h->easy, CURLINFO_CONNECT_TIME_T);
    curl_off_t app = info_time(h->easy, CURLINFO_APPCONNECT_TIME_T);
    curl_off_t total = info_time(h->easy, CURLINFO_TOTAL_TIME_T);
    uint64_t *ph = h->p->result.phases_us;

    /* dns stays the engine's: curl took the addresses from CURLOPT_RESOLVE. */
    if (conn > dns)
        ph[RESULT_PHASE_CONNECT] = (uint64_t)(conn - dns);
    else if (h->t_tcp > h->t_start)
        ph[RESULT_PHASE_CONNECT] = h->t_tcp - h->t_start;
    if (app > conn && conn > 0)
        ph[RESULT_PHASE_TLS] = (uint64_t)(app - conn);
    else if (h->t_tls > h->t_tcp && h->t_tcp > 0)
        ph[RESULT_PHASE_TLS] = h->t_tls - h->t_tcp;
    if (total > app && app > 0)
        ph[RESULT_PHASE_HTTP] = (uint64_t)(total - app);
}

static void record_address(struct https *h)
{
    char *ip = NULL;
    long port = 0;

    if (curl_easy_getinfo(h->easy, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip != NULL &&
        ip[0] != '\0')
        (void)result_set_str(&h->p->result.address, ip);
    if (curl_easy_getinfo(h->easy, CURLINFO_PRIMARY_PORT, &port) == CURLE_OK && port > 0 &&
        port <= UINT16_MAX)
        h->p->result.port = (uint16_t)port;
}

/* Whether curl's message says the peer and we share no TLS version. */
static bool version_problem(const char *msg)
{
    return strstr(msg, "unsupported protocol") != NULL || strstr(msg, "protocol version") != NULL ||
           strstr(msg, "no protocols available") != NULL;
}

/* A transfer that did not complete: classify by what curl says and by how
 * far it got. */
static void classify_failure(struct https *h, CURLcode rc)
{
    struct result *r = &h->p->result;
    const char *msg = h->curl_err[0] != '\0' ? h->curl_err : curl_easy_strerror(rc);
    long os_errno = 0;
    long verify = X509_V_OK;

    (void)curl_easy_getinfo(h->easy, CURLINFO_OS_ERRNO, &os_errno);
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        result_fail(r, conn_classify_connect_errno(os_errno != 0 ? (int)os_errno : ECONNREFUSED),
                    "cannot connect: %s", msg);
        return;
    case CURLE_OPERATION_TIMEDOUT:
        if (h->t_tcp == 0)
            result_fail(r, RESULT_TCP_TIMEOUT, "no answer to the TCP connection attempt in time");
        else if (h->t_tls == 0)
            result_fail(r, RESULT_TLS_HANDSHAKE_FAILED,
                        "the server did not complete the TLS handshake in time");
        else
            result_fail(r, RESULT_PROTO_TIMEOUT, "no complete HTTP response before the deadline");
        return;
    case CURLE_PEER_FAILED_VERIFICATION:
        (void)curl_easy_getinfo(h->easy, CURLINFO_SSL_VERIFYRESULT, &verify);
        /* curl checks the name itself after the chain verified, and then
         * reports OpenSSL's "unspecified" error; the leaf tells which. */
        if ((verify == X509_V_ERR_UNSPECIFIED || verify == X509_V_ERR_HOSTNAME_MISMATCH ||
             verify == X509_V_ERR_IP_ADDRESS_MISMATCH) &&
            h->leaf != NULL && !leaf_names_host(h->leaf, h->p->spec.host))
            verify = X509_V_OK;
        if (verify == X509_V_OK) {
            /* The chain verified; curl's own check of the name failed. */
            record_tls_facts(h, -1);
            result_fail(r, RESULT_TLS_HOSTNAME_MISMATCH, "certificate check failed for %s: %s",
                        h->p->spec.host, msg);
        } else {
            record_tls_facts(h, verify);
            result_fail(r, conn_classify_verify(verify), "certificate check failed for %s: %s",
                        h->p->spec.host, X509_verify_cert_error_string(verify));
        }
        return;
    case CURLE_SSL_CONNECT_ERROR:
        result_fail(
            r, version_problem(msg) ? RESULT_TLS_PROTOCOL_VERSION : RESULT_TLS_HANDSHAKE_FAILED,
            "TLS handshake failed: %s", msg);
        return;
    case CURLE_GOT_NOTHING:
        result_fail(r, RESULT_PROTO_CLOSED, "the server closed the connection without a response");
        return;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        if (os_errno == ECONNRESET)
            result_fail(r, RESULT_TCP_RESET, "the connection was reset: %s", msg);
        else
            result_fail(r, RESULT_PROTO_CLOSED, "the connection broke: %s", msg);
        return;
    case CURLE_PARTIAL_FILE:
        result_fail(r, RESULT_PROTO_CLOSED, "the server closed the connection mid-response: %s",
                    msg);
        return;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_UNSUPPORTED_PROTOCOL:
        result_fail(r, RESULT_PROTO_BAD_GREETING, "not an HTTP response: %s", msg);
        return;
    default:
        result_fail(r, RESULT_INTERNAL, "curl: %s", msg);
        return;
    }
}

/* A response arrived (complete, or cut by us after HTTPS_BODY_MAX). */
static void classify_response(struct https *h)
{
    struct result *r = &h->p->result;
    long code = 0;
    char *location = NULL;
    char server[HTTPS_LINE_MAX + 16] = "";

    (void)curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &code);
    (void)curl_easy_getinfo(h->easy, CURLINFO_REDIRECT_URL, &location);
    if (h->server[0] != '\0')
        snprintf(server, sizeof(server), "; server: %s", h->server);
    if (h->status_line[0] != '\0')
        (void)result_set_str(&r->banner, h->status_line);
    if (code >= 200 && code < 400) {
        char loc[HTTPS_URL_MAX] = "";
        if (location != NULL)
            reply_printable(loc, sizeof(loc), location, strlen(location));
        result_fail(r, RESULT_OK, "HTTP %ld%s%s%s", code, loc[0] != '\0' ? " -> " : "", loc,
                    server);
    } else {
        result_fail(r, RESULT_HTTP_STATUS, "HTTP %ld%s", code, server);
    }
}

/* ---- lifetime ------------------------------------------------------------ */

static void https_free(struct https *h)
{
    struct probe *p = h->p;

    X509_free(h->leaf);
    curl_slist_free_all(h->resolve);
    free(h);
    p->kind = NULL;
    probe_finish(p);
}

static void handle_gone(struct https *h)
{
    assert(h->open_handles > 0);
    if (--h->open_handles == 0 && h->st == HTTPS_ST_CLOSING)
        https_free(h);
}

static void on_handle_closed(uv_handle_t *hd)
{
    handle_gone(hd->data);
}

/* Ends the transfer: curl lets go of its sockets (socket_cb REMOVE closes
 * their polls), then the timer closes; the last close frees the probe. */
static void https_close(struct https *h)
{
    if (h->st == HTTPS_ST_CLOSING)
        return;
    https_set_state(h, HTTPS_ST_CLOSING);
    if (h->multi != NULL && h->easy != NULL)
        curl_multi_remove_handle(h->multi, h->easy);
    if (h->easy != NULL)
        curl_easy_cleanup(h->easy);
    if (h->multi != NULL)
        curl_multi_cleanup(h->multi);
    h->easy = NULL;
    h->multi = NULL;
    /* Should curl have dropped a socket without CURL_POLL_REMOVE, its poll
     * must still close, or the probe would never finish. */
    while (h->socks != NULL)
        sock_release(h, h->socks);
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, on_handle_closed);
}

static void check_done(struct https *h)
{
    CURLMsg *msg;
    int left;

    while (h->st == HTTPS_ST_RUNNING && (msg = curl_multi_info_read(h->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURLcode rc = msg->data.result;
        long code = 0;
        record_phases(h);
        record_address(h);
        (void)curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &code);
        if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && h->cut && code > 0)) {
            record_tls_facts(h, X509_V_OK);
            classify_response(h);
        } else {
            if (rc != CURLE_PEER_FAILED_VERIFICATION)
                record_tls_facts(h, X509_V_OK);
            classify_failure(h, rc);
        }
        https_close(h);
    }
}

static void https_abort(struct probe *p, enum probe_abort why)
{
    struct https *h = p->kind;

    if (h == NULL || h->st != HTTPS_ST_RUNNING)
        return;
    if (why == PROBE_ABORT_SHUTDOWN)
        probe_classify_abort(p, NULL, why);
    else
        classify_failure(h, CURLE_OPERATION_TIMEDOUT);
    https_close(h);
}

/* "host:port:a1,a2" with IPv6 addresses in brackets (CURLOPT_RESOLVE). */
static int resolve_entry(const struct probe *p, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "%s:%u:", p->spec.host, p->spec.port);

    for (size_t i = 0; i < p->naddrs && n < len; i++) {
        char ip[INET6_ADDRSTRLEN];
        const struct sockaddr_storage *ss = &p->addrs[i];
        const void *a = ss->ss_family == AF_INET6
                            ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
                            : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
        if (inet_ntop(ss->ss_family, a, ip, sizeof(ip)) == NULL)
            continue;
        n += (size_t)snprintf(buf + n, len - n, ss->ss_family == AF_INET6 ? "%s[%s]" : "%s%s",
                              buf[n - 1] == ':' ? "" : ",", ip);
    }
    return n < len ? 0 : -1;
}

/* Every option of the one GET; -1 when curl refuses one. */
static int set_options(struct https *h, const char *url)
{
    CURL *e = h->easy;
    long left_ms = 1;
    uint64_t now = clock_mono_us();
    bool bad = false;

    if (h->p->deadline_us > now)
        left_ms = (long)((h->p->deadline_us - now + 999) / 1000);
    bad |= curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK;
    if (h->resolve != NULL)
        bad |= curl_easy_setopt(e, CURLOPT_RESOLVE, h->resolve) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
    /* One connection per probe, closed at the end, so that its fd is
     * released through socket_cb while the loop still polls it. */
    bad |= curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, left_ms) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, left_ms) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
    /* The trust store comes from conn in ssl_ctx_cb; loading curl's default
     * bundle first would only cost time. */
    bad |= curl_easy_setopt(e, CURLOPT_CAINFO, (char *)NULL) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_CAPATH, (char *)NULL) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, h) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "vantage-agent/" VANTAGE_VERSION) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, h) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_cb) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, h) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->curl_err) != CURLE_OK;
    return bad ? -1 : 0;
}

static int https_start(struct probe *p)
{
    struct https *h = calloc(1, sizeof(*h));
    char url[HTTPS_URL_MAX], resolve[HTTPS_RESOLVE_MAX];
    bool v6 = strchr(p->spec.host, ':') != NULL;

    if (h == NULL) {
        result_fail(&p->result, RESULT_INTERNAL, "out of memory starting the HTTPS probe");
        return -1;
    }
    h->p = p;
    h->t_start = clock_mono_us();
    snprintf(url, sizeof(url), v6 ? "https://[%s]:%u%s" : "https://%s:%u%s", p->spec.host,
             p->spec.port, p->spec.path);
    /* An address literal needs no resolving (and CURLOPT_RESOLVE cannot
     * name an IPv6 one). */
    unsigned char lit[sizeof(struct in6_addr)];
    bool literal =
        inet_pton(AF_INET, p->spec.host, lit) == 1 || inet_pton(AF_INET6, p->spec.host, lit) == 1;
    if ((!literal && (resolve_entry(p, resolve, sizeof(resolve)) < 0 ||
                      (h->resolve = curl_slist_append(NULL, resolve)) == NULL)) ||
        (h->multi = curl_multi_init()) == NULL || (h->easy = curl_easy_init()) == NULL) {
        result_fail(&p->result, RESULT_INTERNAL, "cannot set up curl (out of memory)");
        goto fail;
    }
    if (set_options(h, url) < 0) {
        result_fail(&p->result, RESULT_INTERNAL, "curl refused an option (too old a libcurl?)");
        goto fail;
    }
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    uv_timer_init(p->loop, &h->timer);
    h->timer.data = h;
    h->open_handles = 1;
    p->kind = h;
    if (curl_multi_add_handle(h->multi, h->easy) != CURLM_OK) {
        result_fail(&p->result, RESULT_INTERNAL, "curl refused the transfer");
        https_close(h); /* the timer's close finishes the probe */
        return 0;
    }
    return 0;
fail:
    if (h->easy != NULL)
        curl_easy_cleanup(h->easy);
    if (h->multi != NULL)
        curl_multi_cleanup(h->multi);
    curl_slist_free_all(h->resolve);
    free(h);
    return -1;
}

const struct probe_ops probe_https_ops = {
    .name = "https",
    .needs_addresses = true,
    .abort_grace = true,
    .start = https_start,
    .abort = https_abort,
};
