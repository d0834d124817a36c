/*
 * notifier — sends findings' events to the [notify NAME] receivers
 * (docs/reference.md "Notifications"): Alertmanager API v2 and a JSON
 * webhook signed with HMAC-SHA256.
 *
 * Every event goes first into the store's queue (notifier_enqueue, in the
 * evaluation's transaction), then out through libcurl's multi interface
 * (notifier_pump): no call here waits for a receiver. A delivered
 * notification leaves the queue; a failed one is tried again after 1 s,
 * 2 s, 4 s ... at most NOTIFIER_BACKOFF_MAX_US apart, for up to
 * NOTIFIER_GIVE_UP_US after it was queued; a receiver's 4xx (other than
 * 408 and 429) is a permanent refusal, logged and dropped. Because the
 * queue is in the store, a restart neither loses nor repeats one (only a
 * send cut off by the stop itself is sent again: at least once).
 *
 * Alertmanager resolves an alert it is not told about again before its
 * endsAt: open findings are re-sent every NOTIFIER_RESEND_US with endsAt
 * NOTIFIER_ENDS_AFTER ahead (the way Prometheus itself does it), outside
 * the queue since the next re-send replaces a lost one.
 */
#ifndef VANTAGE_NOTIFIER_H
#define VANTAGE_NOTIFIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collconf.h"
#include "log.h"
#include "store.h"

#define NOTIFIER_BACKOFF_MIN_US (1LL * 1000000)
#define NOTIFIER_BACKOFF_MAX_US (10LL * 60 * 1000000)
#define NOTIFIER_GIVE_UP_US     (24LL * 3600 * 1000000)
/* Prometheus docs: re-send active alerts every 30 s to 3 min; a minute
 * with endsAt four re-sends ahead outlives a few lost ones and stays far
 * inside any sane resolve_timeout. */
#define NOTIFIER_RESEND_US     (60LL * 1000000)
#define NOTIFIER_ENDS_AFTER_US (4 * NOTIFIER_RESEND_US)
/* Sends in flight at once: receivers are few; more would only queue in
 * a hung one. */
#define NOTIFIER_INFLIGHT_MAX 16
/* A receiver's answer is read and dropped; this bounds what is read. */
#define NOTIFIER_REPLY_MAX        (64 * 1024)
#define NOTIFIER_SIGNATURE_HEADER "X-Vantage-Signature"

struct notifier;

/* NULL with err when libcurl cannot start. */
struct notifier *notifier_create(struct log *log, char *err, size_t errlen);
void notifier_destroy(struct notifier **np);

/* Queues event (opened|changed|resolved) of finding f for every receiver
 * of c that wants it. Within the caller's transaction. Returns 0 or -1. */
int notifier_enqueue(struct store *s, const struct collconf *c, const struct store_finding *f,
                     const char *event, int64_t now_us) __attribute__((warn_unused_result));

/* Starts what is due, collects what finished, and every
 * NOTIFIER_RESEND_US re-sends open findings to Alertmanager. Never waits
 * for a receiver. */
void notifier_pump(struct notifier *n, struct store *s, const struct collconf *c, int64_t now_us);

/* Waits up to timeout_ms for network activity of the sends in flight or
 * for wake_fd to be readable. */
void notifier_wait(struct notifier *n, int wake_fd, int timeout_ms);

/* Sends in flight now. */
size_t notifier_inflight(const struct notifier *n);

/* ---- payloads (pure; @unittest: tests/unit/test_notifier.c) ---- */

/* The webhook body: the finding object plus "event", "target" and "at".
 * Malloc'ed; NULL when out of memory or finding_json is not an object. */
char *notifier_webhook_body(const char *finding_json, const char *target, const char *event,
                            int64_t at_us);

/* The Alertmanager API v2 body (a JSON array) for webhook bodies
 * (notifier_webhook_body) of findings: resolved ones end at their "at",
 * others NOTIFIER_ENDS_AFTER_US after now_us. Malloc'ed, or NULL. */
char *notifier_alertmanager_body(const char *const *bodies, size_t n, int64_t now_us);

/* "sha256=" and the hex HMAC-SHA256 of body under key, into out (at least
 * 72 bytes). Returns 0 or -1. */
int notifier_signature(const char *key, size_t keylen, const char *body, char *out, size_t outlen);

#endif
