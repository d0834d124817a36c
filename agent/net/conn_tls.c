/*
 * conn_tls — TLS over a conn (see conn.h): the TLS context, the handshake
 * on the connected fd, the certificate facts it records in the result and
 * the classification of verification and handshake failures.
 */
#include "conn.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "conn_internal.h"

#define SECONDS_PER_DAY 86400

enum result_error conn_classify_verify(long v)
{
    switch (v) {
    case X509_V_OK:
        return RESULT_OK;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CRL_HAS_EXPIRED:
        return RESULT_TLS_CERT_EXPIRED;
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_CRL_NOT_YET_VALID:
        return RESULT_TLS_CERT_NOT_YET_VALID;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
    case X509_V_ERR_EMAIL_MISMATCH:
        return RESULT_TLS_HOSTNAME_MISMATCH;
    default:
        /* Self-signed, unknown issuer, bad signature, wrong purpose, ...:
         * all mean "this chain does not lead to an anchor we trust". */
        return RESULT_TLS_CERT_UNTRUSTED;
    }
}

enum result_error conn_classify_ssl_reason(int reason)
{
    switch (reason) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_VERSION_TOO_HIGH:
    case SSL_R_UNSUPPORTED_SSL_VERSION:
        return RESULT_TLS_PROTOCOL_VERSION;
    default:
        /* Includes SSL_R_WRONG_VERSION_NUMBER, which is what a plaintext
         * greeting on a TLS port looks like: the port does not speak TLS. */
        return RESULT_TLS_HANDSHAKE_FAILED;
    }
}

/* ---- TLS context ---------------------------------------------------------- */

/* Accept every certificate during the handshake and record the first
 * problem: the handshake completes, the facts are collected, and the
 * classification happens afterwards, before any application byte. */
static int verify_cb(int preverify_ok, X509_STORE_CTX *xs)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct conn *c = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
    if (!preverify_ok && c != NULL && c->first_verify_err == X509_V_OK)
        c->first_verify_err = X509_STORE_CTX_get_error(xs);
    return 1;
}

struct conn_tls *conn_tls_create(const char *ca_file, char *err, size_t errlen)
{
    struct conn_tls *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (t->ctx == NULL) {
        snprintf(err, errlen, "cannot create the TLS context: %s",
                 ERR_reason_error_string(ERR_get_error()));
        goto fail;
    }
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(t->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* RELEASE_BUFFERS: an idle TLS connection holds no record buffers;
     * with hundreds of probes in flight that is most of OpenSSL's memory. */
    SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                 SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_max_send_fragment(t->ctx, 4096); /* dialog commands are tiny */
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, verify_cb);
    if (ca_file != NULL) {
        if (SSL_CTX_load_verify_locations(t->ctx, ca_file, NULL) != 1) {
            /* OpenSSL 3 has no reason string for a missing file: NULL. */
            const char *why = ERR_reason_error_string(ERR_get_error());
            if (access(ca_file, R_OK) != 0)
                why = strerror(errno);
            else if (why == NULL)
                why = "no PEM certificate in it";
            snprintf(err, errlen, "cannot load trust anchors from %s: %s (check ca_file)", ca_file,
                     why);
            goto fail;
        }
    } else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
        snprintf(err, errlen, "cannot load the system trust store: %s",
                 ERR_reason_error_string(ERR_get_error()));
        goto fail;
    }
    ERR_clear_error();
    return t;
fail:
    ERR_clear_error();
    conn_tls_destroy(&t);
    return NULL;
}

void conn_tls_destroy(struct conn_tls **tp)
{
    if (tp == NULL || *tp == NULL)
        return;
    SSL_CTX_free((*tp)->ctx);
    free(*tp);
    *tp = NULL;
}
static char *name_text(X509_NAME *n)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *out = NULL;
    if (b == NULL)
        return NULL;
    if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) >= 0) {
        char *data;
        long len = BIO_get_mem_data(b, &data);
        if (len > RESULT_STR_MAX)
            len = RESULT_STR_MAX;
        out = strndup(data, (size_t)len);
    }
    BIO_free(b);
    return out;
}

static void record_tls_facts(struct conn *c, long verify)
{
    struct result_tls *t;
    X509 *cert;
    if (c->result == NULL || (t = result_tls_new(c->result)) == NULL)
        return;
    (void)result_set_str(&t->version, SSL_get_version(c->ssl));
    (void)result_set_str(&t->cipher, SSL_get_cipher_name(c->ssl));
    (void)result_set_str(&t->verify,
                         verify == X509_V_OK ? "ok" : X509_verify_cert_error_string(verify));
    cert = SSL_get1_peer_certificate(c->ssl);
    if (cert == NULL)
        return;
    free(t->subject);
    t->subject = name_text(X509_get_subject_name(cert));
    free(t->issuer);
    t->issuer = name_text(X509_get_issuer_name(cert));

    GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char buf[INET6_ADDRSTRLEN + 4];
        if (g->type == GEN_DNS) {
            const unsigned char *s = ASN1_STRING_get0_data(g->d.dNSName);
            int len = ASN1_STRING_length(g->d.dNSName);
            char name[RESULT_NAME_MAX + 1];
            snprintf(name, sizeof(name), "%.*s", len, (const char *)s);
            (void)result_list_add(&t->sans, &t->nsans, name);
        } else if (g->type == GEN_IPADD) {
            int len = ASN1_STRING_length(g->d.iPAddress);
            const unsigned char *s = ASN1_STRING_get0_data(g->d.iPAddress);
            int fam = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
            if (fam != 0 && inet_ntop(fam, s, buf, sizeof(buf)) != NULL)
                (void)result_list_add(&t->sans, &t->nsans, buf);
        }
    }
    GENERAL_NAMES_free(gens);

    struct tm tm;
    if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1) {
        int64_t now = clock_wall_us() / 1000000;
        t->not_after = (int64_t)timegm(&tm);
        int64_t diff = t->not_after - now;
        /* Floor division: a certificate that expired an hour ago has -1
         * days left, not 0. */
        t->days_left = (int32_t)(diff >= 0 ? diff / SECONDS_PER_DAY
                                           : -((-diff + SECONDS_PER_DAY - 1) / SECONDS_PER_DAY));
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (X509_digest(cert, EVP_sha256(), md, &mdlen) == 1) {
        char hex[2 * EVP_MAX_MD_SIZE + 1];
        for (unsigned i = 0; i < mdlen; i++)
            snprintf(hex + 2 * i, 3, "%02x", md[i]);
        (void)result_set_str(&t->sha256, hex);
    }
    X509_free(cert);
}

static void handshake_done(struct conn *c)
{
    long v = c->first_verify_err != X509_V_OK ? c->first_verify_err : SSL_get_verify_result(c->ssl);
    if (v == X509_V_OK && SSL_get0_peer_certificate(c->ssl) == NULL)
        v = X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT; /* no certificate at all */
    record_tls_facts(c, v);
    if (c->result != NULL)
        c->result->phases_us[RESULT_PHASE_TLS] = clock_mono_us() - c->t_tls_start;
    if (v != X509_V_OK) {
        enum result_error e = conn_classify_verify(v);
        conn_fail(c, e, "certificate check failed for %s: %s", c->servername,
                  X509_verify_cert_error_string(v));
        return;
    }
    conn_set_state(c, CONN_ST_TLS);
    conn_update_poll(c);
    conn_emit(c, CONN_EV_TLS_READY);
}

static void handshake_error(struct conn *c, int ret, int sslerr, int sys_errno)
{
    unsigned long e = ERR_peek_error();
    char buf[256] = "";
    if (e != 0)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    if (c->result != NULL)
        c->result->phases_us[RESULT_PHASE_TLS] = clock_mono_us() - c->t_tls_start;
    /* No OpenSSL reason: the socket failed or the peer closed (with
     * SSL_OP_IGNORE_UNEXPECTED_EOF that is SSL_ERROR_ZERO_RETURN). */
    if (sslerr == SSL_ERROR_SYSCALL || e == 0) {
        if (ret == 0 || sys_errno == 0)
            conn_fail(c, RESULT_TLS_HANDSHAKE_FAILED,
                      "the server closed the connection during the TLS handshake");
        else if (conn_classify_connect_errno(sys_errno) == RESULT_TCP_RESET)
            /* A reset in answer to the ClientHello is what filtering
             * firewalls do: the TCP layer says more than "TLS failed". */
            conn_fail(c, RESULT_TCP_RESET, "the connection was reset during the TLS handshake");
        else
            conn_fail(c, RESULT_TLS_HANDSHAKE_FAILED, "TLS handshake failed: %s",
                      strerror(sys_errno));
        return;
    }
    int reason = ERR_GET_REASON(e);
    if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        conn_fail(c, RESULT_TLS_HANDSHAKE_FAILED,
                  "the server closed the connection during the TLS handshake");
        return;
    }
    conn_fail(c, conn_classify_ssl_reason(reason), "TLS handshake failed: %s", buf);
}

void conn_do_handshake(struct conn *c)
{
    ERR_clear_error();
    errno = 0;
    int ret = SSL_do_handshake(c->ssl);
    if (ret == 1) {
        c->ssl_want_write = false;
        handshake_done(c);
        return;
    }
    int sys_errno = errno;
    int se = SSL_get_error(c->ssl, ret);
    if (se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE) {
        c->ssl_want_write = se == SSL_ERROR_WANT_WRITE;
        conn_update_poll(c);
        return;
    }
    handshake_error(c, ret, se, sys_errno);
}

static bool is_ip_literal(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

int conn_tls_start(struct conn *c, char *err, size_t errlen)
{
    if (c->state != CONN_ST_OPEN) {
        snprintf(err, errlen, "TLS can only start on an open plain connection (state %s)",
                 conn_state_name(c->state));
        return -1;
    }
    if (c->ctx == NULL) {
        snprintf(err, errlen, "no TLS context given to this connection");
        return -1;
    }
    c->ssl = SSL_new(c->ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        snprintf(err, errlen, "cannot create a TLS session: out of memory");
        SSL_free(c->ssl);
        c->ssl = NULL;
        return -1;
    }
    SSL_set_app_data(c->ssl, c);
    if (c->servername[0] != '\0') {
        if (is_ip_literal(c->servername)) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), c->servername);
        } else {
            SSL_set_tlsext_host_name(c->ssl, c->servername);
            SSL_set1_host(c->ssl, c->servername);
        }
    }
    /* Plaintext the server sent before the handshake must not be read as
     * if it came through TLS (CVE-2011-0411). */
    c->inlen = 0;
    c->reading = false;
    c->first_verify_err = X509_V_OK;
    c->t_tls_start = clock_mono_us();
    conn_set_state(c, CONN_ST_HANDSHAKE);
    SSL_set_connect_state(c->ssl);
    /* The first flight is sent from the loop so that a failure is never
     * reported from inside this call. */
    c->ssl_want_write = true;
    conn_update_poll(c);
    return 0;
}

bool conn_is_tls(const struct conn *c)
{
    return c->state == CONN_ST_TLS;
}
