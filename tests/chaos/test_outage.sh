#!/bin/bash
# Issue 14, chaos 3: the collector is unreachable for "an hour" of results,
# compressed in time (checks every second stand for checks every minute:
# OUTAGE seconds are OUTAGE minutes of results), while the agent's spool
# is bounded and fills up. Afterwards everything that fit is delivered,
# every drop is counted exactly (agent: spool dropped; collector: lost),
# and the agent's memory stayed flat while its spool was full.
. "$(dirname "$0")/lib.bash"
need_bins vantage-agent vantage-collector
command -v sqlite3 >/dev/null || skip "sqlite3 CLI missing (scripts/install-deps installs it)"
OUTAGE=$(pick 10 60)
CHECKS=20
SPOOL_MAX=100
OPEN=$(free_port)
CPORT=$(free_port)
tcp_listener "$OPEN"
cd "$T"
make_keys o1
write_conf() { # $1 = yes to include the target
    {
        collector_section
        echo "log_level = warn"
        if [ "$1" = yes ]; then
            echo "[target busy]"
            for i in $(seq 1 $CHECKS); do echo "check = tcp://127.0.0.1:$OPEN"; done
            echo "interval = 1s"
            echo "timeout = 2s"
        fi
    } >collector.conf.new
    mv collector.conf.new collector.conf
}
write_conf yes
start_bg collector "$BIN/vantage-collector" -c collector.conf serve
COLLECTOR=$LAST_PID
cat >agent.conf <<CONF
[agent]
name = o1
collector = tcp://127.0.0.1:$CPORT
collector_public_key = $(cat keys/collector.pub)
secret_key = k-o1/agent.key
spool = spool.db
spool_max_results = $SPOOL_MAX
log_level = warn
CONF
start_bg agent "$BIN/vantage-agent" run -c agent.conf
AGENT=$LAST_PID
some() { [ "$(count_results collector.conf)" -ge $CHECKS ]; }
wait_for 30 "first results" some

# SIGTERM, not SIGKILL: this is about the outage, and a clean stop leaves
# no ack lost in flight, so the counts must match exactly.
stop_pid "$COLLECTOR" TERM
# The spool fills in SPOOL_MAX / CHECKS seconds; memory is sampled once it
# is full and must not grow while results keep being dropped.
sleep $((SPOOL_MAX / CHECKS + 1))
rss=()
for i in $(seq 1 $((OUTAGE - SPOOL_MAX / CHECKS - 1))); do
    rss+=("$(rss_kb "$AGENT")")
    sleep 1
done
before=$(count_results collector.conf)
start_bg collector "$BIN/vantage-collector" -c collector.conf serve
COLLECTOR=$LAST_PID
# Delivery after the outage: the agent reconnects within its backoff (up
# to 5 s between attempts by then). The full spool guarantees that the
# count grows; only then can a count that stops moving mean "drained"
# (the long run once found it unchanged 3.5 s after the restart, before
# the agent's next attempt, and stopped the agent with 100 undelivered).
more() { [ "$(count_results collector.conf)" -gt "$before" ]; }
wait_for 60 "delivery after the outage" more
write_conf no
kill -HUP "$COLLECTOR"
stable() {
    local c1 c2
    c1=$(count_results collector.conf)
    sleep 1.5
    c2=$(count_results collector.conf)
    [ "$c1" = "$c2" ]
}
wait_for 60 "the stored count to settle" stable
stop_pid "$AGENT" TERM

n=$(($(sqlite3 spool.db "SELECT value FROM meta WHERE key='next_seq'") - 1))
dropped=$(sqlite3 spool.db "SELECT value FROM meta WHERE key='dropped'")
left=$(sqlite3 spool.db "SELECT count(*) FROM results")
[ "$left" = 0 ] || fail "the agent still holds $left undelivered results"
"$BIN/vantage-collector" -c collector.conf results --json >all.jsonl
"$BIN/vantage-collector" -c collector.conf agents --json >agents.jsonl
out=$(python3 - "$n" "$dropped" "${rss[*]}" <<'PY') || fail "drops not counted exactly, or memory grew: $out"
import json, sys
n, dropped, rss = int(sys.argv[1]), int(sys.argv[2]), [int(x) for x in sys.argv[3].split()]
seqs = [json.loads(l)["seq"] for l in open("all.jsonl")]
ag = [json.loads(l) for l in open("agents.jsonl")][0]
lost, reported = ag.get("lost", 0), ag.get("spool_dropped", 0)
resent = ag.get("duplicates", 0)  # results the collector received twice
dups = len(seqs) - len(set(seqs))
missing = len(set(range(1, n + 1)) - set(seqs))
grow = max(rss) - min(rss)
print(f"spooled {n}, stored {len(seqs)}, duplicates {dups} (received twice: {resent}), "
      f"missing {missing}; spool dropped "
      f"{dropped}, agents says spool_dropped {reported} and lost {lost}; agent RSS "
      f"{min(rss)}-{max(rss)} KiB over {len(rss)} samples while the spool was full")
# A clean stop acknowledges everything committed, so after the restart
# nothing needs sending twice (docs/reliability.md, finding 14).
ok = (n > 0 and dropped > 0 and not dups and not resent and missing == lost == dropped == reported
      and len(seqs) == n - dropped and grow <= 1024)
sys.exit(0 if ok else 1)
PY
echo "   $out"
figure "collector down for $OUTAGE s with $CHECKS checks/s (= $OUTAGE min of results at 1/min), spool bounded at $SPOOL_MAX: $out"
pass "outage of $OUTAGE s: all that fit delivered, $dropped drops counted exactly"
