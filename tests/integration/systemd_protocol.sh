#!/bin/bash
# What systemd expects of a Type=notify daemon, spoken to a real
# NOTIFY_SOCKET (a python datagram listener standing in for systemd):
# READY=1 once serving; on SIGHUP RELOADING=1 (with MONOTONIC_USEC) then
# READY=1 again (the agent re-reads agent.conf; an invalid one is refused
# and it keeps running); STOPPING=1 on SIGTERM. With JOURNAL_STREAM naming
# stderr, log lines carry "<N>" priorities; without it, timestamps.
. "$(dirname "$0")/lib/common.bash"
need_bins vantage-agent vantage-collector
cd "$T"
CPORT=$(free_port)

# listen SOCK OUT — records every datagram on SOCK into OUT, one per line
# ("\n" inside a datagram becomes " | ").
listen() {
    start_bg "notify-$(basename "$1")" python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode().replace("\n", " | ") + "\n")
' "$1" "$2"
    wait_for 30 "notify socket $1" test -S "$1"
}
has() { grep -q "$2" "$1"; }
count() { grep -c "$2" "$1" || true; }
ready_twice() { [ "$(count "$1" '^READY=1$')" -ge 2 ]; }

cat >collector.conf <<CONF
[collector]
listen = tcp://127.0.0.1:$CPORT
database = $(store_location)
insecure_plaintext = yes
CONF
cat >agent.conf <<CONF
[agent]
name = n1
collector = tcp://127.0.0.1:$CPORT
insecure_plaintext = yes
spool = spool.db
CONF

for prog in collector agent; do
    listen "$T/$prog.sock" "$T/$prog.notify"
    : >"$prog.stderr"
    js=$(stat -c '%d:%i' "$prog.stderr")
    if [ $prog = collector ]; then
        cmd=("$BIN/vantage-collector" -c collector.conf serve)
    else
        cmd=("$BIN/vantage-agent" run -c agent.conf)
    fi
    NOTIFY_SOCKET=$T/$prog.sock JOURNAL_STREAM=$js "${cmd[@]}" 2>>"$prog.stderr" &
    pid=$!
    PIDS+=("$pid")
    wait_for 30 "$prog READY=1" has "$prog.notify" '^READY=1$'
    head -1 "$prog.stderr" | grep -qE '^<6>' || fail "$prog: first log line has no <6> priority: $(head -1 "$prog.stderr")"

    kill -HUP "$pid"
    wait_for 30 "$prog RELOADING=1" has "$prog.notify" '^RELOADING=1 | MONOTONIC_USEC=[0-9]*$'
    wait_for 30 "$prog READY=1 after reload" ready_twice "$prog.notify"
    kill -0 "$pid" || fail "$prog died on SIGHUP"

    if [ $prog = agent ]; then
        # An invalid agent.conf on SIGHUP: refused, logged as an error, still running.
        cp agent.conf agent.conf.good
        echo "bogus_key = 1" >>agent.conf
        kill -HUP "$pid"
        wait_for 30 "agent refuses the bad file" has agent.stderr '^<3>.*keeping the running configuration'
        kill -0 "$pid" || fail "agent died on a SIGHUP with a bad agent.conf"
        [ "$(count agent.notify '^RELOADING=1')" = 1 ] || fail "agent announced a reload it did not do"
        cp agent.conf.good agent.conf
    fi

    kill -TERM "$pid"
    wait "$pid"
    wait_for 30 "$prog STOPPING=1" has "$prog.notify" '^STOPPING=1$'
done

# Outside the journal (JOURNAL_STREAM of another file): timestamps, no <N>.
: >other
JOURNAL_STREAM=$(stat -c '%d:%i' other) "$BIN/vantage-agent" run -c agent.conf 2>plain.stderr &
PIDS+=($!)
wait_for 30 "a plain log line" test -s plain.stderr
stop_pid $!
head -1 plain.stderr | grep -qE '^20[0-9-]+T[0-9:.]+Z info ' || fail "plain log line: $(head -1 plain.stderr)"
pass "READY, RELOADING+READY on SIGHUP, STOPPING on SIGTERM for both daemons; journal priorities"
