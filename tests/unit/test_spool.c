/*
 * Unit tests for agent/spool.c: sequence numbers, reads, acks, the bound,
 * persistence across close/reopen and across a kill -9, and errors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sched.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "result.h"
#include "spool.h"
#include "wire.h"

#define ERR_MAX 512

struct fixture {
    char dir[64];
    char path[128];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_spool.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/spool.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
    char p[160];
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
        unlink(p);
    }
    snprintf(p, sizeof(p), "%s/notadb", f->dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/dir", f->dir);
    rmdir(p);
    rmdir(f->dir);
    free(f);
    return 0;
}

static struct spool *open_ok(const char *path, uint64_t max)
{
    char err[ERR_MAX] = "";
    struct spool *s = spool_open(path, max, err, sizeof(err));
    if (s == NULL)
        fail_msg("spool_open: %s", err);
    return s;
}

/* Appends one result whose detail names n, and checks the seq it got. */
static uint64_t append_n(struct spool *s, int n)
{
    struct result r;
    char err[ERR_MAX] = "";
    result_init(&r);
    assert_int_equal(result_set_str(&r.check, "imaps://mail.example.com"), 0);
    assert_int_equal(result_set_str(&r.target, "corp-mail"), 0);
    r.started_at_us = 1795780800000000LL + n;
    result_fail(&r, RESULT_TCP_TIMEOUT, "result %d", n);
    if (spool_append(s, &r, err, sizeof(err)) != 0)
        fail_msg("spool_append: %s", err);
    assert_true(r.has_seq);
    uint64_t seq = r.seq;
    result_clear(&r);
    return seq;
}

struct seen {
    uint64_t seqs[64];
    int details[64];
    size_t n;
    size_t stop_after; /* 0 = never stop */
};

static int collect(uint64_t seq, const uint8_t *rec, size_t len, void *arg)
{
    struct seen *sn = arg;
    struct result r;
    char err[ERR_MAX] = "";
    if (wire_result_decode(rec, len, &r, err, sizeof(err)) != 0)
        fail_msg("stored record %llu does not decode: %s", (unsigned long long)seq, err);
    /* The stored bytes carry the sequence they were given. */
    assert_true(r.has_seq);
    assert_int_equal(r.seq, seq);
    assert_string_equal(r.check, "imaps://mail.example.com");
    assert_int_equal(r.error, RESULT_TCP_TIMEOUT);
    int n = -1;
    assert_int_equal(sscanf(r.detail, "result %d", &n), 1);
    assert_true(sn->n < 64);
    sn->seqs[sn->n] = seq;
    sn->details[sn->n] = n;
    sn->n++;
    result_clear(&r);
    return sn->stop_after != 0 && sn->n >= sn->stop_after;
}

static struct spool_stats stats(const struct spool *s)
{
    struct spool_stats st;
    spool_get_stats(s, &st);
    return st;
}

static void test_append_assigns_sequence(void **state)
{
    struct fixture *f = *state;
    struct spool *s = open_ok(f->path, 0);
    struct spool_stats st = stats(s);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.next_seq, 1);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.acked_seq, 0);
    for (int i = 1; i <= 3; i++)
        assert_int_equal(append_n(s, i), (uint64_t)i);
    st = stats(s);
    assert_int_equal(st.pending, 3);
    assert_int_equal(st.next_seq, 4);

    /* A result that already carries a sequence gets the spool's. */
    struct result r;
    char err[ERR_MAX];
    result_init(&r);
    r.has_seq = true;
    r.seq = 999;
    assert_int_equal(spool_append(s, &r, err, sizeof(err)), 0);
    assert_int_equal(r.seq, 4);
    result_clear(&r);
    spool_close(&s);
    assert_null(s);
    spool_close(&s); /* NULL is ignored */
}

static void test_file_mode(void **state)
{
    struct fixture *f = *state;
    mode_t old = umask(0);
    struct spool *s = open_ok(f->path, 0);
    umask(old);
    append_n(s, 1);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    spool_close(&s);

    /* A file left with a wider mode is narrowed. */
    assert_int_equal(chmod(f->path, 0644), 0);
    s = open_ok(f->path, 0);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    spool_close(&s);
}

/* total[0] rows, total[1] bytes, total[2] the last row's length. */
static int sizes(uint64_t seq, const uint8_t *rec, size_t len, void *arg)
{
    size_t *total = arg;
    (void)seq;
    (void)rec;
    total[0]++;
    total[1] += len;
    total[2] = len;
    return 0;
}

static void test_read_byte_bound(void **state)
{
    struct fixture *f = *state;
    struct spool *s = open_ok(f->path, 0);
    for (int i = 1; i <= 5; i++)
        append_n(s, 10 + i); /* "result 11".."result 15": rows of one size */

    size_t all[3] = {0};
    assert_int_equal(spool_read(s, 0, 100, 0, sizes, all), 5);
    size_t one = all[2];
    assert_true(one > 0);
    assert_int_equal(all[1], 5 * one);

    /* Room for two and a half rows gives two; exactly three rows' worth
     * gives three. */
    size_t got[3] = {0};
    assert_int_equal(spool_read(s, 0, 100, 2 * one + one / 2, sizes, got), 2);
    assert_int_equal(got[1], 2 * one);
    memset(got, 0, sizeof(got));
    assert_int_equal(spool_read(s, 0, 100, 3 * one, sizes, got), 3);
    assert_int_equal(got[0], 3);

    /* A bound below one row still delivers the first: a row larger than
     * the bound must not stall the uplink. */
    memset(got, 0, sizeof(got));
    assert_int_equal(spool_read(s, 2, 100, 1, sizes, got), 1);
    assert_int_equal(got[1], one);
    spool_close(&s);
}

static void test_read_after_and_limit(void **state)
{
    struct fixture *f = *state;
    struct spool *s = open_ok(f->path, 0);
    for (int i = 1; i <= 5; i++)
        append_n(s, i * 10);

    struct seen sn = {0};
    assert_int_equal(spool_read(s, 0, 2, 0, collect, &sn), 2);
    assert_int_equal(sn.n, 2);
    assert_int_equal(sn.seqs[0], 1);
    assert_int_equal(sn.seqs[1], 2);
    assert_int_equal(sn.details[0], 10);
    assert_int_equal(sn.details[1], 20);

    memset(&sn, 0, sizeof(sn));
    assert_int_equal(spool_read(s, 2, 100, 0, collect, &sn), 3);
    assert_int_equal(sn.seqs[0], 3);
    assert_int_equal(sn.seqs[2], 5);
    assert_int_equal(sn.details[2], 50);

    /* Nothing after the last one; a limit of 0 reads nothing. */
    memset(&sn, 0, sizeof(sn));
    assert_int_equal(spool_read(s, 5, 100, 0, collect, &sn), 0);
    assert_int_equal(spool_read(s, 0, 0, 0, collect, &sn), 0);
    assert_int_equal(sn.n, 0);

    /* The callback stops the walk; the row it stopped on counts. */
    sn.stop_after = 2;
    assert_int_equal(spool_read(s, 0, 100, 0, collect, &sn), 2);
    assert_int_equal(sn.n, 2);

    /* Reading does not consume. */
    assert_int_equal(stats(s).pending, 5);
    spool_close(&s);
}

static void test_ack_deletes(void **state)
{
    struct fixture *f = *state;
    struct spool *s = open_ok(f->path, 0);
    for (int i = 1; i <= 5; i++)
        append_n(s, i);
    assert_int_equal(spool_ack(s, 3), 0);
    struct spool_stats st = stats(s);
    assert_int_equal(st.pending, 2);
    assert_int_equal(st.acked_seq, 3);
    assert_int_equal(st.next_seq, 6);

    struct seen sn = {0};
    assert_int_equal(spool_read(s, 0, 100, 0, collect, &sn), 2);
    assert_int_equal(sn.seqs[0], 4);
    assert_int_equal(sn.seqs[1], 5);

    /* A late, lower ack changes nothing and does not lower acked_seq. */
    assert_int_equal(spool_ack(s, 2), 0);
    assert_int_equal(spool_ack(s, 0), 0);
    st = stats(s);
    assert_int_equal(st.pending, 2);
    assert_int_equal(st.acked_seq, 3);

    assert_int_equal(spool_ack(s, 5), 0);
    st = stats(s);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.acked_seq, 5);
    assert_int_equal(st.next_seq, 6);
    spool_close(&s);
}

static void test_reopen_keeps_state(void **state)
{
    struct fixture *f = *state;
    struct spool *s = open_ok(f->path, 4);
    for (int i = 1; i <= 6; i++) /* 1 and 2 fall to the bound */
        append_n(s, i);
    assert_int_equal(spool_ack(s, 4), 0);
    spool_close(&s);

    s = open_ok(f->path, 4);
    struct spool_stats st = stats(s);
    assert_int_equal(st.pending, 2);
    assert_int_equal(st.next_seq, 7);
    assert_int_equal(st.dropped, 2);
    assert_int_equal(st.acked_seq, 4);
    struct seen sn = {0};
    assert_int_equal(spool_read(s, 0, 100, 0, collect, &sn), 2);
    assert_int_equal(sn.seqs[0], 5);
    assert_int_equal(sn.details[0], 5);
    assert_int_equal(sn.seqs[1], 6);
    assert_int_equal(append_n(s, 7), 7);
    spool_close(&s);
}

static void test_bound_drops_oldest(void **state)
{
    struct fixture *f = *state;
    struct spool *s = open_ok(f->path, 3);
    for (int i = 1; i <= 5; i++)
        append_n(s, i);
    struct spool_stats st = stats(s);
    assert_int_equal(st.pending, 3);
    assert_int_equal(st.dropped, 2);
    assert_int_equal(st.next_seq, 6);
    struct seen sn = {0};
    assert_int_equal(spool_read(s, 0, 100, 0, collect, &sn), 3);
    assert_int_equal(sn.seqs[0], 3);
    assert_int_equal(sn.seqs[2], 5);

    /* Acked rows make room: nothing more is dropped. */
    assert_int_equal(spool_ack(s, 4), 0);
    append_n(s, 6);
    append_n(s, 7);
    st = stats(s);
    assert_int_equal(st.pending, 3);
    assert_int_equal(st.dropped, 2);
    spool_close(&s);

    /* A bound lowered between runs applies at open, and is counted. */
    s = open_ok(f->path, 1);
    st = stats(s);
    assert_int_equal(st.pending, 1);
    assert_int_equal(st.dropped, 4);
    memset(&sn, 0, sizeof(sn));
    assert_int_equal(spool_read(s, 0, 100, 0, collect, &sn), 1);
    assert_int_equal(sn.seqs[0], 7);
    append_n(s, 8);
    st = stats(s);
    assert_int_equal(st.pending, 1);
    assert_int_equal(st.dropped, 5);
    spool_close(&s);
}

static void test_next_seq_survives_emptying(void **state)
{
    struct fixture *f = *state;
    struct spool *s = open_ok(f->path, 0);
    for (int i = 1; i <= 3; i++)
        append_n(s, i);
    assert_int_equal(spool_ack(s, 3), 0);
    assert_int_equal(stats(s).pending, 0);
    spool_close(&s);

    s = open_ok(f->path, 0);
    struct spool_stats st = stats(s);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.next_seq, 4);
    assert_int_equal(st.acked_seq, 3);
    assert_int_equal(append_n(s, 4), 4);
    spool_close(&s);
}

static void test_ack_beyond_next_seq(void **state)
{
    struct fixture *f = *state;
    struct spool *s = open_ok(f->path, 0);
    append_n(s, 1);
    append_n(s, 2);
    /* The collector has stored up to 500 from an agent of this name: a
     * replaced spool file. New results must go above it. */
    assert_int_equal(spool_ack(s, 500), 0);
    struct spool_stats st = stats(s);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.next_seq, 501);
    assert_int_equal(append_n(s, 3), 501);
    spool_close(&s);
    s = open_ok(f->path, 0);
    assert_int_equal(stats(s).next_seq, 502);
    /* An ack outside sqlite's integer range is refused, not stored. */
    assert_int_equal(spool_ack(s, UINT64_MAX), -1);
    assert_int_equal(stats(s).next_seq, 502);
    spool_close(&s);
}

/* A commit survives the agent being killed without closing the spool. */
static void test_survives_kill(void **state)
{
    struct fixture *f = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char err[ERR_MAX];
        struct spool *s = spool_open(f->path, 0, err, sizeof(err));
        if (s == NULL)
            _exit(2);
        for (int i = 1; i <= 10; i++) {
            struct result r;
            result_init(&r);
            (void)result_set_str(&r.check, "imaps://mail.example.com");
            r.started_at_us = 1795780800000000LL + i;
            result_fail(&r, RESULT_TCP_TIMEOUT, "result %d", i);
            if (spool_append(s, &r, err, sizeof(err)) != 0)
                _exit(3);
            result_clear(&r);
        }
        if (spool_ack(s, 2) != 0)
            _exit(4);
        raise(SIGKILL);
        _exit(5);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);

    struct spool *s = open_ok(f->path, 0);
    struct spool_stats st = stats(s);
    assert_int_equal(st.pending, 8);
    assert_int_equal(st.next_seq, 11);
    assert_int_equal(st.acked_seq, 2);
    struct seen sn = {0};
    assert_int_equal(spool_read(s, 0, 100, 0, collect, &sn), 8);
    assert_int_equal(sn.seqs[0], 3);
    assert_int_equal(sn.details[7], 10);
    spool_close(&s);
}

/* Two agents on one spool would hand out the same sequence numbers. */
static void test_second_opener_refused(void **state)
{
    struct fixture *f = *state;
    struct spool *s = open_ok(f->path, 0);
    append_n(s, 1);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char err[ERR_MAX] = "";
        struct spool *other = spool_open(f->path, 0, err, sizeof(err));
        if (other != NULL)
            _exit(1);
        _exit(strstr(err, "second vantage-agent") != NULL && strstr(err, f->path) != NULL ? 0 : 2);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    spool_close(&s);
    /* Once closed, it opens again. */
    s = open_ok(f->path, 0);
    assert_int_equal(stats(s).pending, 1);
    spool_close(&s);
}

static void test_bad_paths(void **state)
{
    struct fixture *f = *state;
    char err[ERR_MAX] = "";
    char p[160];

    snprintf(p, sizeof(p), "%s/missing/spool.db", f->dir);
    assert_null(spool_open(p, 0, err, sizeof(err)));
    assert_non_null(strstr(err, p));
    assert_non_null(strstr(err, "create its directory"));

    snprintf(p, sizeof(p), "%s/dir", f->dir);
    assert_int_equal(mkdir(p, 0700), 0);
    err[0] = '\0';
    assert_null(spool_open(p, 0, err, sizeof(err)));
    assert_non_null(strstr(err, p));
    assert_non_null(strstr(err, "not a directory"));

    snprintf(p, sizeof(p), "%s/notadb", f->dir);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    for (int i = 0; i < 100; i++)
        fputs("this is not an sqlite database, it is a text file\n", fp);
    fclose(fp);
    err[0] = '\0';
    assert_null(spool_open(p, 0, err, sizeof(err)));
    assert_non_null(strstr(err, p));
    assert_non_null(strstr(err, "move the file away"));

    if (geteuid() != 0) {
        snprintf(p, sizeof(p), "%s/dir/spool.db", f->dir);
        assert_int_equal(chmod(f->dir, 0500), 0);
        err[0] = '\0';
        struct spool *s = spool_open(p, 0, err, sizeof(err));
        chmod(f->dir, 0700);
        assert_null(s);
        assert_non_null(strstr(err, "write access"));
    }
}

/* Exit codes of the disk-full child. */
#define FULL_OK   0
#define FULL_SKIP 77

/* Exit codes are 8 bits: report the line on stderr and exit 1. */
#define FULL_FAIL 1
#define CHILD_CHECK(cond, ...)                                                                     \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "test_spool.c:%d: ", __LINE__);                                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            return FULL_FAIL;                                                                      \
        }                                                                                          \
    } while (0)

static int fill_disk(const char *path)
{
    char err[ERR_MAX] = "";
    struct spool *s = spool_open(path, 0, err, sizeof(err));
    CHILD_CHECK(s != NULL, "open: %s", err);
    char detail[RESULT_STR_MAX];
    memset(detail, 'd', sizeof(detail) - 1);
    detail[sizeof(detail) - 1] = '\0';
    uint64_t stored = 0;
    int rc = 0;
    struct result r;
    /* 256 KiB hold a few hundred such results; stop long after that. */
    for (int i = 0; i < 100000 && rc == 0; i++) {
        result_init(&r);
        (void)result_set_str(&r.check, "imaps://mail.example.com");
        r.started_at_us = 1795780800000000LL;
        result_fail(&r, RESULT_TCP_TIMEOUT, "%s", detail);
        rc = spool_append(s, &r, err, sizeof(err));
        if (rc == 0)
            stored++;
        else
            break;
        result_clear(&r);
    }
    CHILD_CHECK(rc != 0, "the disk never filled up");
    CHILD_CHECK(strstr(err, path) != NULL && strstr(err, "free space") != NULL,
                "unhelpful error: %s", err);
    /* The failed append took nothing: no sequence, no row. */
    CHILD_CHECK(!r.has_seq, "the failed result kept a sequence number");
    result_clear(&r);
    struct spool_stats st;
    spool_get_stats(s, &st);
    CHILD_CHECK(st.pending == stored && st.next_seq == stored + 1,
                "stats after the failure: pending %llu next_seq %llu, stored %llu",
                (unsigned long long)st.pending, (unsigned long long)st.next_seq,
                (unsigned long long)stored);
    spool_close(&s);

    /* Everything committed before the failure is still there. */
    s = spool_open(path, 0, err, sizeof(err));
    CHILD_CHECK(s != NULL, "reopen on a full disk: %s", err);
    spool_get_stats(s, &st);
    CHILD_CHECK(st.pending == stored && st.next_seq == stored + 1,
                "after reopen: pending %llu next_seq %llu, stored %llu",
                (unsigned long long)st.pending, (unsigned long long)st.next_seq,
                (unsigned long long)stored);
    spool_close(&s);
    return FULL_OK;
}

/* A full disk: a clear error, and the spool stays consistent. Runs on a
 * 256 KiB tmpfs in a private mount namespace (needs root). */
static void test_disk_full(void **state)
{
    struct fixture *f = *state;
    char mnt[160], path[200];
    snprintf(mnt, sizeof(mnt), "%s/dir", f->dir);
    assert_int_equal(mkdir(mnt, 0700), 0);
    snprintf(path, sizeof(path), "%s/spool.db", mnt);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
            mount("tmpfs", mnt, "tmpfs", 0, "size=256k,mode=0700") != 0)
            _exit(FULL_SKIP);
        _exit(fill_disk(path));
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == FULL_SKIP) {
        fprintf(stderr, "skipped: cannot mount a small tmpfs (needs root)\n");
        skip();
    }
    if (WEXITSTATUS(status) != FULL_OK)
        fail_msg("the disk-full check failed (see its message above)");
}

static void test_newer_schema_refused(void **state)
{
    struct fixture *f = *state;
    struct spool *s = open_ok(f->path, 0);
    spool_close(&s);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "UPDATE meta SET value = 99 WHERE key = 'schema'", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    char err[ERR_MAX] = "";
    assert_null(spool_open(f->path, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "schema version 99"));
    assert_non_null(strstr(err, f->path));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_assigns_sequence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_after_and_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_byte_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_deletes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bound_drops_oldest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_next_seq_survives_emptying, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_beyond_next_seq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_survives_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_opener_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
