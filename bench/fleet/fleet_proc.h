/*
 * fleet_proc — the collector processes a fleet run measures: starting and
 * stopping them, their CPU and memory from /proc, and timing the
 * collector's CLI commands while the fleet runs.
 */
#ifndef VANTAGE_FLEET_PROC_H
#define VANTAGE_FLEET_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

struct fleet_proc_usage {
    uint64_t cpu_us;   /* utime + stime */
    uint64_t rss_kib;  /* VmRSS */
    uint64_t anon_kib; /* RssAnon: the heap, without shared-library pages */
    uint64_t fds;      /* open descriptors */
};

/* Starts `bin -c conf serve` with stdout and stderr appended to log and
 * the descriptor limit nofile (what this program was given before it
 * raised its own: the collector must cope with what its service manager
 * gives it). Returns the PID, or -1 with err. */
pid_t fleet_proc_start(const char *bin, const char *conf, const char *log,
                       const struct rlimit *nofile, char *err, size_t errlen);

/* Waits until a TCP connection to 127.0.0.1:port succeeds while pid is
 * alive. Returns 0, or -1 when pid died or timeout_ms passed. */
int fleet_proc_wait_port(pid_t pid, int port, int timeout_ms);

/* SIGTERM, then waits (SIGKILL after timeout_ms). Returns the exit status
 * (0 = clean), or -1. */
int fleet_proc_stop(pid_t pid, int timeout_ms);

/* Reads /proc/PID/{stat,status,fd}. Returns 0 or -1. */
int fleet_proc_usage(pid_t pid, struct fleet_proc_usage *u);

/* Runs argv (argv[0] a path) with its output to /dev/null and returns its
 * wall time in microseconds; *status gets the exit status (-1 if it did
 * not exit normally). Returns 0 or -1 (could not run it). */
int fleet_proc_time(char *const argv[], uint64_t *wall_us, int *status);

/* A free TCP port on 127.0.0.1 (bound, then released), or -1. */
int fleet_proc_free_port(void);

#endif
