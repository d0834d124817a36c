#!/usr/bin/env python3
"""bench/failover driver (see run): two collectors on one sqlite store, a
few real agents that list both, and RUNS rounds of: kill -9 the first
collector while results flow, time until the first result stored through
the second, start the first again, wait for every agent to return to it,
and check that every agent's stored sequence numbers are exactly 1..max,
each once (nothing lost, nothing twice). At the end the targets are
withdrawn, the agents drain their spools, and each spool's assigned
sequence numbers must all be in the store once."""
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import time

BIN, T, RUNS, AGENTS = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
FAILOVER = sys.argv[5] if len(sys.argv) > 5 else ""
CHECKS = 8  # identical tcp:// checks a second per agent: results in flight at the kill
os.chdir(T)


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def run(*args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


OPEN, PA, PB = free_port(), free_port(), free_port()
procs = []


def start(log, *args):
    p = subprocess.Popen(args, stdout=open(log, "a"), stderr=subprocess.STDOUT)
    procs.append(p)
    return p


listener = start("listener.log", sys.executable, "-c", f"""
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", {OPEN}))
s.listen(512)
while True:
    c, _ = s.accept()
    c.close()
""")

run(f"{BIN}/vantage-collector", "keygen", "--out", "keys")
names = [f"a{i}" for i in range(1, AGENTS + 1)]
with open("authorized_keys", "w") as ak:
    for a in names:
        run(f"{BIN}/vantage-agent", "keygen", "--out", f"k-{a}")
        ak.write(open(f"k-{a}/agent.pub").read().strip() + f" {a}\n")


def write_conf(which, targets):
    port = PA if which == "a" else PB
    text = (f"[collector]\nlisten = tcp://127.0.0.1:{port}\ndatabase = vantage.db\n"
            f"control = ipc://control-{which}\nsecret_key = keys/collector.key\n"
            "authorized_keys = authorized_keys\n")
    if targets:
        text += "[target busy]\n" + f"check = tcp://127.0.0.1:{OPEN}\n" * CHECKS
        text += "interval = 1s\ntimeout = 2s\n"
    open(f"collector-{which}.conf.new", "w").write(text)
    os.rename(f"collector-{which}.conf.new", f"collector-{which}.conf")


def start_collector(which):
    p = start(f"collector-{which}.log", f"{BIN}/vantage-collector", "-c",
              f"collector-{which}.conf", "serve")
    wait(10, lambda: open(f"collector-{which}.log").read().count("listening on")
         > starts[which])
    starts[which] += 1
    return p


def wait(secs, cond, what="condition"):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out after {secs}s waiting for {what}")


def db():
    c = sqlite3.connect("file:vantage.db?mode=ro", uri=True, timeout=10)
    return c


def max_row():
    with db() as c:
        return c.execute("SELECT coalesce(max(id), 0) FROM results").fetchone()[0]


def exact_so_far():
    """Every agent's stored seqs are 1..max, each once."""
    with db() as c:
        rows = c.execute("SELECT a.name, count(*), count(DISTINCT r.seq), max(r.seq), a.lost "
                         "FROM results r JOIN agents a ON a.id = r.agent_id "
                         "GROUP BY a.name").fetchall()
    bad = [r for r in rows if not (r[1] == r[2] == r[3] and r[4] == 0)]
    return len(rows) == AGENTS, bad, sum(r[1] for r in rows)


def agent_log(a):
    return open(f"agent-{a}.log").read()


starts = {"a": 0, "b": 0}
write_conf("a", True)
write_conf("b", True)
ca = start_collector("a")
cb = start_collector("b")
agents = {}
key = open("keys/collector.pub").read().strip()
for a in names:
    conf = (f"[agent]\nname = {a}\nsite = bench\ncollector = tcp://127.0.0.1:{PA}\n"
            f"collector = tcp://127.0.0.1:{PB}\ncollector_public_key = {key}\n"
            f"secret_key = k-{a}/agent.key\nspool = spool-{a}.db\n"
            # Only how soon an agent returns; the failover itself is measured
            # with failover_timeout as given (default: agent.conf's default).
            "failback_interval = 2s\n")
    if FAILOVER:
        conf += f"failover_timeout = {FAILOVER}\n"
    open(f"agent-{a}.conf", "w").write(conf)
    agents[a] = start(f"agent-{a}.log", f"{BIN}/vantage-agent", "run", "-c", f"agent-{a}.conf")

latencies = []
try:
    wait(30, lambda: max_row() > 10 * AGENTS, "first results")
    for r in range(1, RUNS + 1):
        time.sleep(2)  # results in flight
        ca.send_signal(signal.SIGKILL)
        t0 = time.monotonic()
        ca.wait()
        before = max_row()
        wait(60, lambda: max_row() > before, "a result stored through collector b")
        lat = time.monotonic() - t0
        latencies.append(lat)
        returns = {a: agent_log(a).count("(1 of 2) answers again") for a in names}
        ca = start_collector("a")
        wait(30, lambda: all(agent_log(a).count("(1 of 2) answers again") > returns[a]
                             for a in names), "every agent back on collector a")
        time.sleep(1)
        complete, bad, stored = exact_so_far()
        ok = complete and not bad
        print(f"run {r}: first result through collector b {lat:.2f} s after the kill; "
              f"{stored} results stored so far, every agent 1..max once: {'yes' if ok else 'NO'}",
              flush=True)
        if not ok:
            raise SystemExit(f"run {r}: lost or duplicated results: {bad}")
    # Drain: no targets, every spool empties, every assigned seq stored once.
    write_conf("a", False)
    write_conf("b", False)
    ca.send_signal(signal.SIGHUP)
    cb.send_signal(signal.SIGHUP)
    last = [-1]

    def settled():
        now = max_row()
        same = now == last[0]
        last[0] = now
        time.sleep(1)
        return same
    wait(60, settled, "the stored count to settle")
    for a, p in agents.items():
        p.send_signal(signal.SIGTERM)
        p.wait()
    with db() as c:
        for a in names:
            s = sqlite3.connect(f"spool-{a}.db")
            n = int(s.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()[0]) - 1
            left = s.execute("SELECT count(*) FROM results").fetchone()[0]
            s.close()
            row = c.execute("SELECT count(*), count(DISTINCT r.seq), max(r.seq), a.lost, "
                            "a.committed_seq FROM results r JOIN agents a ON a.id = r.agent_id "
                            "WHERE a.name = ?", (a,)).fetchone()
            if left or row != (n, n, n, 0, n):
                raise SystemExit(f"{a}: assigned {n}, left in spool {left}, store {row}")
            print(f"{a}: assigned {n}, stored {row[0]} (distinct {row[1]}), lost {row[3]}, "
                  "spool empty")
finally:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()

print(f"failover: median {statistics.median(latencies):.2f} s, worst {max(latencies):.2f} s "
      f"over {len(latencies)} runs (aim: within 15 s); lost 0, duplicated 0 in every run")
