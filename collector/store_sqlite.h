/*
 * store_sqlite — what the sqlite backend's files share: store_sqlite.c
 * owns the connection; store_sqlite_findings.c keeps findings, their
 * events and the notification queue on it (store.h "findings").
 */
#ifndef VANTAGE_STORE_SQLITE_H
#define VANTAGE_STORE_SQLITE_H

#include <sqlite3.h>

#include "store.h"

/* The backend's connection and file (b is store_sqlite_ops' state). */
sqlite3 *store_sqlite_db(void *b);
const char *store_sqlite_path(void *b);

int store_sqlite_finding_put(void *b, const struct store_finding *f, char *err, size_t errlen);
int store_sqlite_finding_delete(void *b, const char *id, char *err, size_t errlen);
int store_sqlite_findings_each(void *b, const struct store_finding_filter *f, store_finding_cb cb,
                               void *arg, char *err, size_t errlen);
int store_sqlite_finding_event_add(void *b, const struct store_finding_event *e, char *err,
                                   size_t errlen);
int store_sqlite_finding_events_each(void *b, const char *target, int64_t since_us,
                                     store_finding_event_cb cb, void *arg, char *err,
                                     size_t errlen);
int store_sqlite_notification_add(void *b, const struct store_notification *n, char *err,
                                  size_t errlen);
int store_sqlite_notifications_due(void *b, int64_t now_us, size_t limit, store_notification_cb cb,
                                   void *arg, char *err, size_t errlen);
int store_sqlite_notification_done(void *b, int64_t id, char *err, size_t errlen);
int store_sqlite_notification_retry(void *b, int64_t id, uint32_t attempts, int64_t next_at_us,
                                    char *err, size_t errlen);
int store_sqlite_notifications_pending(void *b, uint64_t *n, int64_t *next_at_us, char *err,
                                       size_t errlen);

#endif
