/*
 * notifier — the notification queue's sender (notifier.h).
 */
#include "notifier.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "clock.h"

struct send {
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    int64_t id; /* queue row; 0 = a re-send outside the queue */
    uint32_t attempts;
    int64_t created_us;
    char notifier[128];
    char error[CURL_ERROR_SIZE];
    size_t replied; /* bytes of the reply read (and dropped) */
};

struct notifier {
    struct log *log;
    CURLM *multi;
    struct send *sends[NOTIFIER_INFLIGHT_MAX];
    size_t nsends;
    int64_t next_resend_us;
};

/* ---- payloads ---- */

char *notifier_webhook_body(const char *finding_json, const char *target, const char *event,
                            int64_t at_us)
{
    json_error_t jerr;
    json_t *o = json_loads(finding_json, 0, &jerr);
    if (!json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    char at[40];
    clock_format_iso_us(at_us, false, at, sizeof(at));
    json_object_set_new(o, "event", json_string(event));
    json_object_set_new(o, "target", json_string(target));
    json_object_set_new(o, "at", json_string(at));
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return text;
}

static const char *str_of(json_t *v)
{
    const char *s = json_string_value(v);
    return s ? s : "";
}

static json_t *joined(json_t *list)
{
    size_t len = 1, i;
    json_t *v;
    json_array_foreach(list, i, v) len += strlen(str_of(v)) + 3;
    char *buf = malloc(len);
    if (buf == NULL)
        return json_string("");
    buf[0] = '\0';
    size_t used = 0;
    json_array_foreach(list, i, v)
    {
        used += (size_t)snprintf(buf + used, len - used, "%s- %s", i ? "\n" : "", str_of(v));
    }
    json_t *s = json_string(buf);
    free(buf);
    return s ? s : json_string("");
}

static void label(json_t *labels, const char *name, json_t *v)
{
    const char *s = json_string_value(v);
    /* An empty label is no label to Alertmanager: say "none". */
    json_object_set_new(labels, name, json_string(s && s[0] ? s : "none"));
}

char *notifier_alertmanager_body(const char *const *bodies, size_t n, int64_t now_us)
{
    json_t *alerts = json_array();
    for (size_t i = 0; i < n; i++) {
        json_error_t jerr;
        json_t *f = json_loads(bodies[i], 0, &jerr);
        if (!json_is_object(f)) {
            json_decref(f);
            continue;
        }
        json_t *a = json_object(), *labels = json_object(), *ann = json_object();
        json_object_set_new(labels, "alertname", json_string("VantageFinding"));
        label(labels, "target", json_object_get(f, "target"));
        label(labels, "verdict", json_object_get(f, "verdict"));
        label(labels, "layer", json_object_get(f, "layer"));
        label(labels, "severity", json_object_get(f, "severity"));
        label(labels, "finding_id", json_object_get(f, "id"));
        json_object_set_new(ann, "summary", json_string(str_of(json_object_get(f, "summary"))));
        json_object_set_new(ann, "evidence", joined(json_object_get(f, "evidence")));
        json_object_set_new(ann, "next_steps", joined(json_object_get(f, "next_steps")));
        json_object_set_new(a, "labels", labels);
        json_object_set_new(a, "annotations", ann);
        json_object_set(a, "startsAt", json_object_get(f, "started_at"));
        const char *ev = json_string_value(json_object_get(f, "event"));
        if (ev != NULL && strcmp(ev, "resolved") == 0) {
            json_object_set(a, "endsAt", json_object_get(f, "at"));
        } else {
            char ends[40];
            clock_format_iso_us(now_us + NOTIFIER_ENDS_AFTER_US, false, ends, sizeof(ends));
            json_object_set_new(a, "endsAt", json_string(ends));
        }
        json_array_append_new(alerts, a);
        json_decref(f);
    }
    char *text = json_dumps(alerts, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(alerts);
    return text;
}

int notifier_signature(const char *key, size_t keylen, const char *body, char *out, size_t outlen)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (outlen < 7 + 64 + 1 || HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)body,
                                    strlen(body), mac, &maclen) == NULL)
        return -1;
    memcpy(out, "sha256=", 7);
    for (unsigned int i = 0; i < maclen; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", mac[i]);
    return 0;
}

/* ---- queue ---- */

int notifier_enqueue(struct store *s, const struct collconf *c, const struct store_finding *f,
                     const char *event, int64_t now_us)
{
    bool problem = f->severity != NULL && strcmp(f->severity, "problem") == 0;
    char *body = NULL;
    int rc = 0;
    for (size_t i = 0; i < c->nnotify && rc == 0; i++) {
        const struct collconf_notify *nc = &c->notify[i];
        if (!collconf_notify_wants(nc, f->target, problem))
            continue;
        if (body == NULL &&
            (body = notifier_webhook_body(f->json, f->target, event, now_us)) == NULL)
            return -1;
        const char *kinds[2] = {nc->alertmanager ? "alertmanager" : NULL,
                                nc->webhook ? "webhook" : NULL};
        for (int k = 0; k < 2 && rc == 0; k++) {
            if (kinds[k] == NULL)
                continue;
            struct store_notification q = {.notifier = nc->name,
                                           .kind = kinds[k],
                                           .finding_id = f->id,
                                           .event = event,
                                           .body = body,
                                           .created_us = now_us,
                                           .next_at_us = now_us};
            rc = store_notification_add(s, &q);
        }
    }
    free(body);
    return rc;
}

/* ---- sending ---- */

struct notifier *notifier_create(struct log *log, char *err, size_t errlen)
{
    /* Here, on the thread that starts the monitor, before its thread
     * runs: libcurl's global state is set up once, not raced. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "cannot start libcurl");
        return NULL;
    }
    struct notifier *n = calloc(1, sizeof(*n));
    if (n == NULL || (n->multi = curl_multi_init()) == NULL) {
        snprintf(err, errlen, "cannot start libcurl");
        free(n);
        curl_global_cleanup();
        return NULL;
    }
    n->log = log;
    return n;
}

static void send_free(struct notifier *n, struct send *x)
{
    curl_multi_remove_handle(n->multi, x->easy);
    curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    free(x->body);
    free(x);
}

void notifier_destroy(struct notifier **np)
{
    if (np == NULL || *np == NULL)
        return;
    struct notifier *n = *np;
    for (size_t i = 0; i < n->nsends; i++)
        send_free(n, n->sends[i]);
    curl_multi_cleanup(n->multi);
    free(n);
    curl_global_cleanup();
    *np = NULL;
}

size_t notifier_inflight(const struct notifier *n)
{
    return n->nsends;
}

static const struct collconf_notify *notifier_conf(const struct collconf *c, const char *name)
{
    for (size_t i = 0; i < c->nnotify; i++)
        if (strcmp(c->notify[i].name, name) == 0)
            return &c->notify[i];
    return NULL;
}

/* The reply is read and dropped, at most NOTIFIER_REPLY_MAX of it. */
static size_t drop_reply(char *p, size_t size, size_t nmemb, void *arg)
{
    (void)p;
    struct send *x = arg;
    x->replied += size * nmemb;
    return x->replied > NOTIFIER_REPLY_MAX ? 0 : size * nmemb;
}

/* Starts one POST; takes body. Returns 0 or -1 (body freed). */
static int start(struct notifier *n, const struct collconf_notify *nc, bool alertmanager,
                 char *body, int64_t id, uint32_t attempts, int64_t created_us)
{
    struct send *x = calloc(1, sizeof(*x));
    if (x == NULL || (x->easy = curl_easy_init()) == NULL) {
        free(x);
        free(body);
        return -1;
    }
    x->body = body;
    x->id = id;
    x->attempts = attempts;
    x->created_us = created_us;
    snprintf(x->notifier, sizeof(x->notifier), "%s", nc->name);
    char url[COLLCONF_NOTIFY_URL_MAX + 32];
    if (alertmanager) {
        size_t len = strlen(nc->alertmanager);
        while (len > 0 && nc->alertmanager[len - 1] == '/')
            len--;
        snprintf(url, sizeof(url), "%.*s/api/v2/alerts", (int)len, nc->alertmanager);
    } else {
        snprintf(url, sizeof(url), "%s", nc->webhook);
    }
    x->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (!alertmanager && nc->secret != NULL) {
        char sig[80], header[128];
        if (notifier_signature(nc->secret, nc->secret_len, body, sig, sizeof(sig)) == 0) {
            snprintf(header, sizeof(header), "%s: %s", NOTIFIER_SIGNATURE_HEADER, sig);
            x->headers = curl_slist_append(x->headers, header);
        }
    }
    x->headers = curl_slist_append(x->headers, "User-Agent: vantage-collector/" VANTAGE_VERSION);
    CURL *e = x->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(x->body));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)nc->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)nc->timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, drop_reply);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->error);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    if (curl_multi_add_handle(n->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        curl_slist_free_all(x->headers);
        free(x->body);
        free(x);
        return -1;
    }
    n->sends[n->nsends++] = x;
    return 0;
}

struct due_ctx {
    struct notifier *n;
    struct store *s;
    const struct collconf *c;
    int64_t now_us;
};

static int start_due(const struct store_notification *q, void *arg)
{
    struct due_ctx *d = arg;
    struct notifier *n = d->n;
    if (n->nsends == NOTIFIER_INFLIGHT_MAX)
        return 1;
    const struct collconf_notify *nc = notifier_conf(d->c, q->notifier);
    bool am = strcmp(q->kind, "alertmanager") == 0;
    if (nc == NULL || (am ? nc->alertmanager : nc->webhook) == NULL) {
        log_warn(n->log,
                 "dropping a %s notification of %s for [notify %s]: no such receiver in "
                 "the configuration any more",
                 q->event, q->finding_id, q->notifier);
        if (store_notification_done(d->s, q->id) < 0)
            return -1;
        return 0;
    }
    char *body = am ? notifier_alertmanager_body(&q->body, 1, d->now_us) : strdup(q->body);
    if (body == NULL)
        return 1;
    /* In flight: not due again until this send has had its chance. */
    if (store_notification_retry(d->s, q->id, q->attempts,
                                 d->now_us + (int64_t)nc->timeout_ms * 1000 + 1000000) < 0) {
        free(body);
        return -1;
    }
    if (start(n, nc, am, body, q->id, q->attempts, q->created_us) < 0)
        return 1;
    log_debug(n->log, "sending %s of %s to [notify %s] (%s)", q->event, q->finding_id, q->notifier,
              q->kind);
    return 0;
}

static int64_t backoff_us(uint32_t attempts)
{
    int64_t d = NOTIFIER_BACKOFF_MIN_US;
    for (uint32_t i = 1; i < attempts && d < NOTIFIER_BACKOFF_MAX_US; i++)
        d *= 2;
    return d < NOTIFIER_BACKOFF_MAX_US ? d : NOTIFIER_BACKOFF_MAX_US;
}

static void finished(struct notifier *n, struct store *s, struct send *x, CURLcode code,
                     int64_t now_us)
{
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    bool ok = code == CURLE_OK && status >= 200 && status < 300;
    bool refused =
        code == CURLE_OK && status >= 400 && status < 500 && status != 408 && status != 429;
    if (x->id == 0) {
        if (!ok)
            log_warn(n->log, "re-sending open findings to [notify %s] failed: %s", x->notifier,
                     code != CURLE_OK ? (x->error[0] ? x->error : curl_easy_strerror(code))
                                      : "HTTP error");
        return;
    }
    if (ok || refused) {
        if (refused)
            log_error(n->log,
                      "[notify %s] refused a notification with HTTP %ld: dropped (check the "
                      "receiver's URL and its log)",
                      x->notifier, status);
        else
            log_info(n->log, "notification delivered to [notify %s]", x->notifier);
        if (store_notification_done(s, x->id) < 0)
            log_error(n->log, "cannot remove a delivered notification: %s", store_error(s));
        return;
    }
    uint32_t attempts = x->attempts + 1;
    char why[CURL_ERROR_SIZE + 32];
    if (code != CURLE_OK)
        snprintf(why, sizeof(why), "%s", x->error[0] ? x->error : curl_easy_strerror(code));
    else
        snprintf(why, sizeof(why), "HTTP %ld", status);
    if (now_us - x->created_us >= NOTIFIER_GIVE_UP_US) {
        log_error(n->log, "[notify %s]: giving up a notification after %u attempts over a day: %s",
                  x->notifier, attempts, why);
        if (store_notification_done(s, x->id) < 0)
            log_error(n->log, "cannot drop a notification: %s", store_error(s));
        return;
    }
    int64_t next = now_us + backoff_us(attempts);
    log_warn(n->log, "[notify %s]: sending failed (%s); attempt %u, next in %lld s", x->notifier,
             why, attempts, (long long)((next - now_us) / 1000000));
    if (store_notification_retry(s, x->id, attempts, next) < 0)
        log_error(n->log, "cannot reschedule a notification: %s", store_error(s));
}

struct resend_ctx {
    const char *target_filter;
    char **bodies;
    size_t n, cap;
    const struct collconf_notify *nc;
    int64_t now_us;
};

static int collect_open(const struct store_finding *f, void *arg)
{
    struct resend_ctx *r = arg;
    bool problem = f->severity != NULL && strcmp(f->severity, "problem") == 0;
    if (!collconf_notify_wants(r->nc, f->target, problem))
        return 0;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        char **v = realloc(r->bodies, cap * sizeof(*v));
        if (v == NULL)
            return 1;
        r->bodies = v;
        r->cap = cap;
    }
    char *b = notifier_webhook_body(f->json, f->target, "opened", f->opened_at_us);
    if (b != NULL)
        r->bodies[r->n++] = b;
    return 0;
}

static void resend(struct notifier *n, struct store *s, const struct collconf *c, int64_t now_us)
{
    for (size_t i = 0; i < c->nnotify; i++) {
        const struct collconf_notify *nc = &c->notify[i];
        if (nc->alertmanager == NULL || n->nsends == NOTIFIER_INFLIGHT_MAX)
            continue;
        struct resend_ctx r = {.nc = nc, .now_us = now_us};
        if (store_open_findings(s, NULL, collect_open, &r) < 0)
            log_warn(n->log, "cannot read open findings: %s", store_error(s));
        if (r.n > 0) {
            char *body = notifier_alertmanager_body((const char *const *)r.bodies, r.n, now_us);
            if (body != NULL)
                (void)start(n, nc, true, body, 0, 0, now_us);
        }
        for (size_t j = 0; j < r.n; j++)
            free(r.bodies[j]);
        free(r.bodies);
    }
}

void notifier_pump(struct notifier *n, struct store *s, const struct collconf *c, int64_t now_us)
{
    int running;
    curl_multi_perform(n->multi, &running);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(n->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct send *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        CURLcode code = m->data.result;
        for (size_t i = 0; i < n->nsends; i++)
            if (n->sends[i] == x) {
                n->sends[i] = n->sends[--n->nsends];
                break;
            }
        finished(n, s, x, code, now_us);
        send_free(n, x);
    }
    if (c->nnotify == 0)
        return;
    if (n->nsends < NOTIFIER_INFLIGHT_MAX) {
        struct due_ctx d = {n, s, c, now_us};
        if (store_notifications_due(s, now_us, NOTIFIER_INFLIGHT_MAX - n->nsends, start_due, &d) <
            0)
            log_warn(n->log, "cannot read the notification queue: %s", store_error(s));
    }
    if (now_us >= n->next_resend_us) {
        if (n->next_resend_us != 0)
            resend(n, s, c, now_us);
        n->next_resend_us = now_us + NOTIFIER_RESEND_US;
    }
    curl_multi_perform(n->multi, &running);
}

void notifier_wait(struct notifier *n, int wake_fd, int timeout_ms)
{
    struct curl_waitfd w = {.fd = wake_fd, .events = CURL_WAIT_POLLIN};
    curl_multi_poll(n->multi, &w, wake_fd >= 0 ? 1 : 0, timeout_ms, NULL);
}
