#!/bin/bash
# The agent stops cleanly on SIGTERM while its probes are in the middle of
# a mail dialog and a TLS handshake (a server that accepts and never
# speaks): exit status 0, its "stopping" line, no libuv assertion. Found
# by `scripts/leakcheck --pg`: the daemon's last sweep closed every handle
# still open, among them the deadline timers of probes whose connections
# were still closing; each such probe then closed its timer again when its
# connection's close finished, and libuv aborted ("uv_close: Assertion
# `!uv__is_closing(handle)' failed", exit 134). In the sanitizer tree this
# also runs the shutdown under ASan and LeakSanitizer.
. "$(dirname "$0")/lib/common.bash"
need_bins vantage-agent vantage-collector
read -r CPORT STALL < <(python3 "$SRC/tests/servers/freeport.py" 2)
start_bg stall python3 "$SRC/tests/servers/badpeer.py" stall "$STALL" --ready "$T/stall.ready"
cd "$T"
wait_for 10 "the silent server" test -f stall.ready

"$BIN/vantage-collector" keygen --out keys >/dev/null || fail "collector keygen"
"$BIN/vantage-agent" keygen --out k-s1 >/dev/null || fail "agent keygen"
echo "$(cat k-s1/agent.pub) s1" >authorized_keys
cat >collector.conf <<CONF
$(collector_section)

[target stalled]
check = imap://127.0.0.1:$STALL
check = imaps://127.0.0.1:$STALL
check = pop3://127.0.0.1:$STALL
check = smtp://127.0.0.1:$STALL
interval = 1s
timeout = 30s
CONF
agent_section s1 >agent.conf
start_bg collector "$BIN/vantage-collector" -c collector.conf serve

for round in 1 2 3; do
    : >agent.log
    "$BIN/vantage-agent" run -c agent.conf >agent.log 2>&1 &
    AGENT=$!
    PIDS+=("$AGENT")
    # Every check's first probe waits on the silent server for 30 s; after
    # the first skipped round all four are surely connected and waiting.
    skipped() { grep -q "previous probe still running" agent.log; }
    wait_for 20 "probes in flight (round $round)" skipped
    kill -TERM "$AGENT"
    rc=0
    timeout 20 tail --pid="$AGENT" -f /dev/null || fail "the agent did not stop within 20 s"
    wait "$AGENT" || rc=$?
    grep -q "Assertion" agent.log && fail "round $round: $(grep Assertion agent.log)"
    [ "$rc" = 0 ] || fail "round $round: the agent exited $rc on SIGTERM with probes in flight"
    grep -q "stopping" agent.log || fail "round $round: no stopping line"
done
pass "SIGTERM with four probes in mid-dialog: exit 0 three times"
