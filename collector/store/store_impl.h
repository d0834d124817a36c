/*
 * store_impl — what a storage backend provides to the store dispatcher
 * (store.c), and the rules every backend shares.
 *
 * store.c picks a backend by the location's prefix ("sqlite:PATH", or a
 * plain PATH for sqlite; "postgresql:" or "postgres:" for PostgreSQL) and forwards each store_*
 * call to the backend's operation of the same name. A backend keeps its own state behind a void
 * pointer and writes its failures into the err buffer of each call; the
 * dispatcher keeps that message for store_error(). The contracts are those
 * of store.h; only the first argument differs.
 *
 * Included only by store.c, the backends, and the ingest benchmark (which
 * needs the sqlite backend's exact INSERT to measure the raw ceiling).
 */
#ifndef VANTAGE_STORE_IMPL_H
#define VANTAGE_STORE_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct store_ops {
    const char *scheme; /* location prefix before ':', e.g. "sqlite" */
    void *(*open)(const char *path, unsigned flags, char *err, size_t errlen); /* STORE_OPEN_* */
    void (*close)(void *b);
    /* Optional (NULL: nothing to route): where the backend's own messages
     * go, e.g. a server's notices (store_set_log). */
    void (*set_log)(void *b, struct log *log);
    int (*begin)(void *b, char *err, size_t errlen);
    int (*commit)(void *b, char *err, size_t errlen);
    void (*rollback)(void *b);
    int (*agent_id)(void *b, const char *name, int64_t *id, char *err, size_t errlen);
    int (*agent_update)(void *b, int64_t id, const struct store_agent *a, char *err, size_t errlen);
    int (*agent_committed_seq)(void *b, int64_t id, uint64_t *seq, char *err, size_t errlen);
    int (*agent_lost_add)(void *b, int64_t id, uint64_t n, char *err, size_t errlen);
    int (*agent_counts_add)(void *b, int64_t id, const struct store_agent_counts *c, char *err,
                            size_t errlen);
    int (*result_add)(void *b, int64_t agent_id, const char *network, const struct result *r,
                      const uint8_t *record, size_t len, char *err, size_t errlen);
    int (*result_add_facts)(void *b, int64_t agent_id, const char *network, const struct result *r,
                            const uint8_t *record, size_t len, const struct store_facts *facts,
                            struct store_prev *prev, char *err, size_t errlen);
    int (*agent_get)(void *b, int64_t id, store_agent_cb cb, void *arg, char *err, size_t errlen);
    int (*change_add)(void *b, const struct store_change *c, char *err, size_t errlen);
    int (*agents_each)(void *b, int64_t connected_after_us, store_agent_cb cb, void *arg, char *err,
                       size_t errlen);
    int (*results_each)(void *b, const struct store_result_filter *f, store_result_cb cb, void *arg,
                        char *err, size_t errlen);
    int (*latest_each)(void *b, const char *target, store_latest_cb cb, void *arg, char *err,
                       size_t errlen);
    int (*changes_each)(void *b, const char *target, int64_t since_us, store_change_cb cb,
                        void *arg, char *err, size_t errlen);
    /* findings and notifications (store.h) */
    int (*finding_put)(void *b, const struct store_finding *f, char *err, size_t errlen);
    int (*finding_delete)(void *b, const char *id, char *err, size_t errlen);
    int (*findings_each)(void *b, const struct store_finding_filter *f, store_finding_cb cb,
                         void *arg, char *err, size_t errlen);
    int (*finding_event_add)(void *b, const struct store_finding_event *e, char *err,
                             size_t errlen);
    int (*finding_events_each)(void *b, const char *target, int64_t since_us,
                               store_finding_event_cb cb, void *arg, char *err, size_t errlen);
    int (*notification_add)(void *b, const struct store_notification *n, char *err, size_t errlen);
    int (*notifications_due)(void *b, int64_t now_us, size_t limit, store_notification_cb cb,
                             void *arg, char *err, size_t errlen);
    int (*notification_done)(void *b, int64_t id, char *err, size_t errlen);
    int (*notification_retry)(void *b, int64_t id, uint32_t attempts, int64_t next_at_us, char *err,
                              size_t errlen);
    int (*notifications_pending)(void *b, uint64_t *n, int64_t *next_at_us, char *err,
                                 size_t errlen);
    /* retention (store.h); NULL in a backend that has none yet */
    int (*rollup)(void *b, size_t max, uint64_t *rolled, char *err, size_t errlen);
    int (*prune)(void *b, int64_t results_before_us, int64_t rollups_before_us, size_t max,
                 struct store_pruned *removed, char *err, size_t errlen);
    int (*rollups_each)(void *b, const struct store_rollup_filter *f, store_rollup_cb cb, void *arg,
                        char *err, size_t errlen);
    /* copying a whole store (store.h "migrate-store"); NULL in a backend
     * that cannot be copied */
    int (*records_each)(void *b, const char *agent, uint64_t after_seq, size_t limit,
                        store_record_cb cb, void *arg, char *err, size_t errlen);
    int (*latest_rows_each)(void *b, const char *agent, store_latest_row_cb cb, void *arg,
                            char *err, size_t errlen);
    int (*latest_row_put)(void *b, const struct store_latest_row *r, char *err, size_t errlen);
    int (*rollups_next_hour)(void *b, int64_t after_hour_us, store_rollup_cb cb, void *arg,
                             char *err, size_t errlen);
    int (*rollup_put)(void *b, const struct store_rollup *r, char *err, size_t errlen);
    int (*rollups_mark_all)(void *b, char *err, size_t errlen);
};

extern const struct store_ops store_sqlite_ops;
/* PostgreSQL (store_pg.c): "postgresql:" and "postgres:", a libpq URI
 * (postgresql://…) or key=value conninfo after the colon. */
extern const struct store_ops store_pg_ops;

/* The backend behind s and its operations (tools that work below the
 * store interface: migrate-store, the tests of a backend). */
void *store_backend(struct store *s, const struct store_ops **ops);

/*
 * The operations of several collectors on one database (store.h), kept
 * apart from store_ops so that each backend adds them in a file of its
 * own (store_sqlite_cluster.c): store.c finds a backend's table by its
 * scheme. Contracts as in store.h; only the first argument differs.
 */
struct store_cluster_ops {
    const char *scheme;
    int (*collector_put)(void *b, const struct store_collector *c, char *err, size_t errlen);
    int (*collector_delete)(void *b, const char *id, int64_t forget_before_us, char *err,
                            size_t errlen);
    int (*collectors_each)(void *b, store_collector_cb cb, void *arg, char *err, size_t errlen);
    int (*lease_take)(void *b, const char *name, const char *holder, int64_t now_us, int64_t ttl_us,
                      struct store_lease *out, char *err, size_t errlen);
    int (*lease_release)(void *b, const char *name, const char *holder, char *err, size_t errlen);
    int (*lease_get)(void *b, const char *name, struct store_lease *out, char *err, size_t errlen);
    int (*lease_held)(void *b, const char *name, const char *holder, int64_t now_us, char *err,
                      size_t errlen);
    int (*probe_request_add)(void *b, const struct store_probe_request *r, int64_t *id, char *err,
                             size_t errlen);
    int (*probe_requests_after)(void *b, int64_t after_id, int64_t now_us,
                                store_probe_request_cb cb, void *arg, char *err, size_t errlen);
    int (*probe_answer_add)(void *b, const struct store_probe_answer *a, char *err, size_t errlen);
    int (*probe_answers_each)(void *b, int64_t request_id, store_probe_answer_cb cb, void *arg,
                              char *err, size_t errlen);
    int (*probe_listen)(void *b, int *fd, char *err, size_t errlen);
    int (*probe_drain)(void *b, char *err, size_t errlen);
};

extern const struct store_cluster_ops store_sqlite_cluster_ops;
extern const struct store_cluster_ops store_pg_cluster_ops;

/* The largest encoded result a store accepts: one wire message. A result
 * decoded by wire is far smaller; this only stops a caller's bug from
 * writing an unbounded row. */
#define STORE_RECORD_MAX (8u << 20)

/*
 * The streak rule every backend applies when a result newer (by seq) than
 * the stored latest state arrives: the streak goes on while the status
 * (ok / failing) stays the same, and starts at the new result when it
 * flips or when there was no state yet. Returns the new since_us.
 * @unittest: tests/unit/test_store_read.c (streak across flips)
 */
int64_t store_streak_since(bool had_prev, bool prev_ok, int64_t prev_since_us, bool ok,
                           int64_t started_at_us);

/* A passing streak of at most this many results between two failures
 * keeps them in one episode (a flapping check), so "when did it start?"
 * stays the first failure. Two: one or two good probes in a row are what
 * loss or an overloaded server give; three in a row is a recovery. */
#define STORE_FLAP_GAP_MAX 2

/* The streak and episode state of one key, as the latest row keeps it. */
struct store_streak {
    bool had;           /* a result was seen */
    bool ok;            /* status of the current streak */
    int64_t since_us;   /* start of the current streak */
    int64_t episode_us; /* first failure of the current episode; 0 = none */
    uint32_t flips;     /* status changes since episode_us */
    uint32_t n;         /* results in the current streak, saturating */
    int fail_error;     /* enum result_error of the latest failure */
};

/*
 * Advances st by one newer result (ok, error, started_at_us): the streak
 * rule of store_streak_since, plus episodes: a failure with the same
 * error as the last one after a passing streak of at most
 * STORE_FLAP_GAP_MAX results continues the episode (flips + 1); a later
 * one, or a different error (another fault), starts a new episode at its
 * time.
 * @unittest: tests/unit/test_store_read.c (episodes)
 */
void store_streak_next(struct store_streak *st, bool ok, int error, int64_t started_at_us);

/*
 * The sqlite backend's schema version (PRAGMA user_version after
 * store_open) and its one hot-path statement, shared with
 * bench/ingest/ceiling.c so that the raw ceiling inserts exactly what the
 * store inserts. Parameters: agent_id, seq, network_id, target_id,
 * check_id, started_at_us, ok, layer, error, total_us, record.
 */
#define STORE_SQLITE_SCHEMA_VERSION 8
#define STORE_SQLITE_RESULT_INSERT                                                                 \
    "INSERT INTO results(agent_id, seq, network_id, target_id, check_id, started_at_us, ok,"       \
    " layer, error, total_us, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"       \
    " ON CONFLICT(agent_id, seq) DO NOTHING"

#endif
