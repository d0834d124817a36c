#!/bin/bash
# A batch lost with a connection is sent again even when nothing follows
# it (docs/reliability.md, finding 14). The collector is frozen (SIGSTOP)
# while the agent sends one result, then killed and restarted without
# targets: that result went into a connection nobody read, and the agent
# runs no more checks to follow it. The agent does not resend everything
# unacknowledged when a new connection comes up; with no next batch to
# show the collector the gap, its ack timeout must resend the result.
. "$(dirname "$0")/lib/common.bash"
need_bins vantage-agent vantage-collector

OPEN=$(free_port)
CPORT=$(free_port)
tcp_listener "$OPEN"
cd "$T"
make_keys r1
{
    collector_section
    echo "[target slow]"
    echo "check = tcp://127.0.0.1:$OPEN"
    echo "interval = 8s"
    echo "timeout = 2s"
} >collector.conf
{
    agent_section r1
    echo "log_level = debug"
} >agent.conf

start_bg collector "$BIN/vantage-collector" -c collector.conf serve
COLLECTOR=$LAST_PID
start_bg agent "$BIN/vantage-agent" run -c agent.conf
one() { [ "$(count_results collector.conf)" -ge 1 ]; }
wait_for 30 "the first result" one
acked=$(count_results collector.conf)
next=$((acked + 1))

# Frozen for less than the link's heartbeat timeout (20 s), so the agent
# still sends into the connection. A frozen process ignores SIGTERM, so
# the test kills it itself before failing.
kill -STOP "$COLLECTOR"
for _ in $(seq 1 150); do
    grep -q "sent 1 results up to seq $next\$" agent.log && break
    sleep 0.1
done
stop_pid "$COLLECTOR" KILL
grep -q "sent 1 results up to seq $next\$" agent.log ||
    fail "seq $next was not sent within 15 s of freezing the collector"
sed -i '/^\[target slow\]/,$d' collector.conf
start_bg collector "$BIN/vantage-collector" -c collector.conf serve
COLLECTOR=$LAST_PID
restarted=$SECONDS
stored() { "$BIN/vantage-collector" -c collector.conf results --json | grep -Eq "\"seq\": ?$next[,}]"; }
wait_for 15 "seq $next resent after the restart" stored
took=$((SECONDS - restarted))
grep -q "no ack for results after seq $acked; resending" agent.log ||
    fail "the agent did not say it resent after seq $acked"
grep -q "received 0 targets" agent.log || fail "the restarted collector did not withdraw the target"
after=$(count_results collector.conf)
[ "$after" = "$next" ] || fail "expected $next results, found $after"
pass "the result lost with the frozen collector arrived ${took}s after the restart, by the ack timeout"
