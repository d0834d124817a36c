#!/bin/bash
# Nothing is lost, nothing is stored twice:
#  1. while three agents send, the collector is killed with SIGKILL five
#     times at random moments and restarted;
#  2. an agent is killed with SIGKILL while the collector is down (its
#     spool holds undelivered results) and restarted after it returns;
#  3. the collector stays down for a while: agents keep probing; n3's
#     spool is bounded at 100 results, so it must drop the oldest, count
#     them, and the count must reach the collector.
# Then the targets are withdrawn (SIGHUP), agents drain their spools, and
# for every agent the store must hold exactly the sequences 1..N that the
# agent's spool ever assigned.
. "$(dirname "$0")/lib/common.bash"
need_bins vantage-agent vantage-collector
command -v sqlite3 >/dev/null || skip "sqlite3 CLI missing (scripts/install-deps installs it)"

OPEN=$(free_port)
CLOSED=$(free_port)
CPORT=$(free_port)
tcp_listener "$OPEN"
cd "$T"

AGENTS="n1 n2 n3"
make_keys $AGENTS

write_conf() { # $1 = yes to include the target
    {
        echo "[collector]"
        echo "listen = tcp://127.0.0.1:$CPORT"
        echo "database = $(store_location)"
        echo "secret_key = keys/collector.key"
        echo "authorized_keys = authorized_keys"
        if [ "$1" = yes ]; then
            echo "[target busy]"
            for i in $(seq 1 12); do echo "check = tcp://127.0.0.1:$OPEN"; done
            for i in $(seq 1 4); do echo "check = tcp://127.0.0.1:$CLOSED"; done
            echo "interval = 1s"
            echo "timeout = 2s"
        fi
    } >collector.conf.new
    mv collector.conf.new collector.conf
}
write_conf yes
# The twelve identical checks are scheduled as twelve probes a second:
# volume for the kills to land in the middle of.

start_collector() {
    start_bg collector "$BIN/vantage-collector" -c collector.conf serve
    COLLECTOR=$LAST_PID
}
declare -A AGENT_PID
start_agent() {
    cat >"agent-$1.conf" <<CONF
[agent]
name = $1
site = lab
collector = tcp://127.0.0.1:$CPORT
collector_public_key = $(cat keys/collector.pub)
secret_key = k-$1/agent.key
spool = spool-$1.db
$( [ "$1" = n3 ] && echo "spool_max_results = 100")
CONF
    start_bg "agent-$1" "$BIN/vantage-agent" run -c "agent-$1.conf"
    AGENT_PID[$1]=$LAST_PID
}

start_collector
for a in $AGENTS; do start_agent "$a"; done
some() { [ "$(count_results collector.conf)" -ge 30 ]; }
wait_for 30 "first results" some

echo "1. kill -9 the collector five times"
for i in 1 2 3 4 5; do
    sleep "$(python3 -c 'import random; print(round(random.uniform(0.3, 2.5), 2))')"
    stop_pid "$COLLECTOR" KILL
    sleep "$(python3 -c 'import random; print(round(random.uniform(0.1, 1.5), 2))')"
    start_collector
done

echo "2. kill -9 an agent with a non-empty spool, while the collector is down"
sleep 2
stop_pid "$COLLECTOR" KILL
sleep 3
stop_pid "${AGENT_PID[n2]}" KILL
pending=$(sqlite3 spool-n2.db "SELECT count(*) FROM results")
[ "$pending" -gt 0 ] || fail "agent n2's spool was empty when it was killed"
echo "   n2 killed with $pending results spooled"

echo "3. the collector stays down for 8 s; agents keep probing"
# (A running agent holds its spool exclusively; what it probed while the
# collector was away is checked in the store at the end.)
down_from=$(date +%s)
sleep 8
down_to=$(date +%s)
declare -A BEFORE
for a in $AGENTS; do BEFORE[$a]=$(count_results collector.conf --agent "$a"); done
start_collector
start_agent n2

echo "4. withdraw the targets and let the agents drain"
# Every agent has spooled what the collector has not seen (n1 and n3
# probed through the outage, n2 was killed with a full spool), so each
# one's count must grow; until it has, a count that stops moving may only
# mean an agent waiting out its reconnect backoff (up to 5 s by then).
delivering() {
    local a
    for a in $AGENTS; do
        [ "$(count_results collector.conf --agent "$a")" -gt "${BEFORE[$a]}" ] || return 1
    done
}
wait_for 60 "every agent delivering after the outage" delivering
write_conf no
kill -HUP "$COLLECTOR"
# A running agent holds its spool exclusively, so the drain is watched
# from the collector: the stored count must stop moving.
stable() {
    local c1 c2
    c1=$(count_results collector.conf)
    sleep 3
    c2=$(count_results collector.conf)
    [ "$c1" = "$c2" ]
}
wait_for 90 "the stored count to settle" stable
for a in $AGENTS; do stop_pid "${AGENT_PID[$a]}" TERM; done
"$BIN/vantage-collector" -c collector.conf agents --json >agents.jsonl

for a in $AGENTS; do
    n=$(($(sqlite3 "spool-$a.db" "SELECT value FROM meta WHERE key='next_seq'") - 1))
    dropped=$(sqlite3 "spool-$a.db" "SELECT value FROM meta WHERE key='dropped'")
    left=$(sqlite3 "spool-$a.db" "SELECT count(*) FROM results")
    [ "$left" = 0 ] || fail "agent $a still holds $left unacknowledged results"
    if [ "$a" = n3 ]; then
        [ "$dropped" -gt 0 ] || fail "n3's bounded spool dropped nothing during the outage"
        reported=$(python3 -c 'import json; print([r["spool_dropped"] for r in map(json.loads, open("agents.jsonl")) if r["name"] == "n3"][0])')
        [ "$reported" = "$dropped" ] || fail "n3 dropped $dropped but the collector says $reported"
        echo "   n3: the bounded spool dropped $dropped results; the collector knows"
    fi
    [ "$a" = n3 ] || [ "$dropped" = 0 ] || fail "agent $a dropped $dropped results"
    "$BIN/vantage-collector" -c collector.conf results --json --agent "$a" >"r-$a.jsonl"
    python3 - "$a" "$n" "r-$a.jsonl" "$dropped" <<'PY' || fail "store does not hold exactly 1..N (less the lost) for $a"
import json, sys
agent, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
dropped = int(sys.argv[4])
row = [r for r in map(json.loads, open("agents.jsonl")) if r["name"] == agent][0]
# twice: received again after being stored (an ack lost with a killed
# collector, or a resend after a gap); reported, not required to be 0.
lost, twice = row["lost"], row.get("duplicates", 0)
seqs = [json.loads(l)["seq"] for l in open(path)]
dups = len(seqs) - len(set(seqs))
missing = sorted(set(range(1, n + 1)) - set(seqs))
extra = sorted(set(seqs) - set(range(1, n + 1)))
print(f"   {agent}: produced {n}, stored {len(seqs)}, duplicates {dups}, missing {len(missing)}, "
      f"unknown {len(extra)}; spool dropped {dropped}, collector counts {lost} lost and "
      f"{twice} received twice")
# Only what the spool dropped may be missing, and the collector must know
# exactly how much: its count is of what never arrived. The spool's own
# count may be higher, by results it dropped after they had arrived (their
# ack went with a killed collector).
ok = n > 0 and not dups and not extra and len(missing) == lost and lost <= dropped
if not ok and missing:
    print("   first missing:", missing[:10])
sys.exit(0 if ok else 1)
PY
done
"$BIN/vantage-collector" -c collector.conf results --json --agent n1 >r-outage.jsonl
python3 - "$down_from" "$down_to" r-outage.jsonl <<'PY' || fail "n1 has no results from while the collector was down"
import json, sys, datetime
lo, hi, path = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
def t(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
n = sum(1 for l in open(path) if lo + 1 <= t(json.loads(l)["started_at"]) <= hi - 1)
print(f"   n1: {n} results probed while the collector was down, delivered later")
sys.exit(0 if n >= 10 else 1)
PY
grep -c "listening on" collector.log | grep -qx 7 || fail "the collector did not start 7 times"
pass "every result stored exactly once across 6 collector kills and an agent kill"
