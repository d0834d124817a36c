#!/bin/bash
# Issue 15: a check removed from a target leaves compare and diagnose at
# once after the collector reloads (SIGHUP), while results keeps its
# history. A collector and an agent over CURVE on loopback; the removed
# check fails (a closed port), so while listed it is a finding too.
. "$(dirname "$0")/lib/common.bash"
need_bins vantage-agent vantage-collector

OPEN=$(free_port)
CLOSED=$(free_port)
CPORT=$(free_port)
tcp_listener "$OPEN"

cd "$T"
"$BIN/vantage-collector" keygen --out keys >/dev/null || fail "collector keygen"
"$BIN/vantage-agent" keygen --out k-a1 >/dev/null || fail "agent keygen"
echo "$(cat k-a1/agent.pub) a1" >authorized_keys

write_conf() {
    cat >collector.conf <<CONF
$(collector_section)

[target loop]
check = tcp://127.0.0.1:$OPEN
$1
interval = 1s
timeout = 2s
CONF
}
write_conf "check = tcp://127.0.0.1:$CLOSED"

start_bg collector "$BIN/vantage-collector" -c collector.conf serve
COLLECTOR=$LAST_PID
cat >agent.conf <<CONF
[agent]
name = a1
collector = tcp://127.0.0.1:$CPORT
collector_public_key = $(cat keys/collector.pub)
secret_key = k-a1/agent.key
spool = spool.db
CONF
start_bg agent "$BIN/vantage-agent" run -c agent.conf

closed_results() {
    "$BIN/vantage-collector" -c collector.conf results --json |
        grep -c "\"check\":\"tcp://127.0.0.1:$CLOSED\""
}
both_seen() {
    "$BIN/vantage-collector" -c collector.conf compare loop --json >compare.json || true
    grep -q "\"check\":\"tcp://127.0.0.1:$OPEN\",\"status\":\"ok\"" compare.json &&
        grep -q "\"check\":\"tcp://127.0.0.1:$CLOSED\",\"status\":\"fail\"" compare.json
}
wait_for 30 "compare listing the open port ok and the closed one failing" both_seen
"$BIN/vantage-collector" -c collector.conf diagnose loop --json >diag-before.json
grep -q "tcp://127.0.0.1:$CLOSED" diag-before.json ||
    fail "the closed port is not a finding before its removal: $(cat diag-before.json)"

write_conf ""
kill -HUP "$COLLECTOR"
# No waiting for the agent: the comparison follows the configuration.
"$BIN/vantage-collector" -c collector.conf compare loop --json >compare.json ||
    fail "compare failed after the removal"
grep -q "tcp://127.0.0.1:$CLOSED" compare.json &&
    fail "compare still lists the removed check: $(cat compare.json)"
grep -q "tcp://127.0.0.1:$OPEN" compare.json || fail "compare lost the remaining check"
grep -q '"stale"' compare.json && fail "compare shows a stale cell: $(cat compare.json)"
"$BIN/vantage-collector" -c collector.conf diagnose loop --json >diag-after.json
grep -q "tcp://127.0.0.1:$CLOSED" diag-after.json &&
    fail "diagnose still counts the removed check: $(cat diag-after.json)"
grep -q '"status": *"ok"' diag-after.json || fail "diagnose is not ok: $(cat diag-after.json)"
n=$(closed_results)
[ "$n" -ge 1 ] || fail "results lost the removed check's history"

# The agent got the new targets and stops probing the removed check.
sleep 4
n1=$(closed_results)
sleep 3
[ "$(closed_results)" = "$n1" ] || fail "the agent still probes the removed check after SIGHUP"
kill -0 "$COLLECTOR" || fail "collector died"
pass "removed check left compare and diagnose at once; results keep its $n1 results"
