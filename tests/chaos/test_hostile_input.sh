#!/bin/bash
# Issue 14, chaos 6: an authorized agent sends what an attacker or a broken
# agent would: a replayed batch, a batch from 5 hours ahead (its clock is
# wrong), a truncated message, an oversized one, and, once revoked, any
# message at all. Each is refused or clamped and counted, per run (the
# stopping line) and per agent (`agents --json`); nothing is stored twice;
# the collector goes on serving the others.
. "$(dirname "$0")/lib.bash"
need_bins vantage-collector vantage-loadgen vantage-chaosload
CPORT=$(free_port)
cd "$T"
"$BIN/vantage-collector" keygen --out keys >/dev/null
"$BIN/vantage-loadgen" keys 2 lk >/dev/null
cp lk/authorized_keys authorized_keys
{
    collector_section
    echo "control = ipc://$T/control.sock"
} >collector.conf
start_bg collector "$BIN/vantage-collector" -c collector.conf serve
COLLECTOR=$LAST_PID
LG=(--endpoint "tcp://127.0.0.1:$CPORT" --server-key keys/collector.pub --keys lk)
t0=$(date +%s)

acks=$(timeout 30 "$BIN/vantage-chaosload" hostile "${LG[@]}" --first 0) || fail "hostile sender failed"
echo "   $acks"
# A batch, its replay (no new ack), one from the future (stored), a
# truncated one (refused, no ack), the same again whole (stored).
[ "$acks" = "acks 10 10 20 20 30" ] || fail "expected acks 10 10 20 20 30, got: $acks"
timeout 20 "$BIN/vantage-loadgen" oversize "${LG[@]}" >/dev/null || fail "the oversized sender failed"
# A well-formed batch whose one result is invalid (no check): refused.
timeout 20 "$BIN/vantage-loadgen" badresult "${LG[@]}" >/dev/null || fail "the invalid sender failed"
timeout 30 "$BIN/vantage-chaosload" run "${LG[@]}" --first 1 --agents 1 --rate 1000 --results 100 \
    --timeout 20 >bystander.log || fail "another agent was not served after the hostile input"
timeout 20 "$BIN/vantage-collector" -c collector.conf revoke load0000 >revoke.out 2>&1 ||
    fail "revoke: $(cat revoke.out)"
timeout 20 "$BIN/vantage-chaosload" revoked "${LG[@]}" --first 0 --results 31 ||
    fail "the revoked agent's batch was acknowledged"
kill -0 "$COLLECTOR" || fail "the collector died"
stop_pid "$COLLECTOR" TERM
t1=$(date +%s)

"$BIN/vantage-collector" -c collector.conf results --json --agent load0000 >r.jsonl
python3 - "$t0" "$t1" <<'PY' || fail "load0000's stored results are wrong"
import json, sys, datetime
t0, t1 = int(sys.argv[1]), int(sys.argv[2])
rows = [json.loads(l) for l in open("r.jsonl")]
seqs = sorted(r["seq"] for r in rows)
def t(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
future = [r for r in rows if not t0 - 1 <= t(r["started_at"]) <= t1 + 1]
print(f"   load0000: stored seqs {seqs[0]}..{seqs[-1]} ({len(seqs)} rows), "
      f"{len(future)} outside the test's time")
sys.exit(0 if seqs == list(range(1, 31)) and not future else 1)
PY
stopping=$(grep "stopping:" collector.log)
echo "   ${stopping#*\] }"
dups=$(echo "$stopping" | sed -n 's/.* \([0-9]*\) duplicates.*/\1/p')
bad=$(echo "$stopping" | sed -n 's/.* \([0-9]*\) bad messages.*/\1/p')
clamped=$(echo "$stopping" | sed -n 's/.* \([0-9]*\) results from the future clamped.*/\1/p')
invalid=$(echo "$stopping" | sed -n 's/.* \([0-9]*\) invalid results.*/\1/p')
[ "$invalid" = 1 ] || fail "the invalid result should count 1 invalid, not $invalid"
[ "$dups" = 10 ] || fail "the replayed batch should count 10 duplicates, not $dups"
[ "$clamped" = 10 ] || fail "the batch from the future should count 10 clamped, not $clamped"
# The truncated message; the revoked key is refused at the handshake.
[ "$bad" -ge 1 ] || fail "refused messages counted: $bad (1 or more expected)"
grep -q "refused agent key" collector.log || fail "the revoked key's connection was not refused"
# It has no agent row to count in: the log line names the agent.
grep -q "refused agent key [^ ]* from [^ ]*: agent load0000, revoked at " collector.log ||
    fail "the refused connection of the revoked key does not name load0000"
grep -q "refused agent key [^ ]* from [^ ]*: agent load0001" collector.log &&
    fail "a key that was never revoked is named as revoked"
grep -q "started 1799[0-9] s in the future" collector.log || fail "the clamp is not in the log"
# The same, per agent, in the store: the replay, the clamp and the
# truncated message are load0000's; the bystander load0001 has none.
# The oversized message never reaches the collector (ZeroMQ drops the
# connection at ZMQ_MAXMSGSIZE), and the revoked key's connection is
# refused at the handshake, before there is an agent to count it for.
"$BIN/vantage-collector" -c collector.conf agents --json >agents.jsonl || fail "agents --json failed"
python3 - <<'PY' || fail "the per-agent counts in 'agents --json' are wrong"
import json
ag = {a["name"]: a for a in map(json.loads, open("agents.jsonl"))}
keys = ("duplicates", "invalid", "clamped", "refused")
for n in ("load0000", "load0001"):
    print(f"   agents: {n} " + ", ".join(f"{k} {ag[n][k]}" for k in keys))
want = {"load0000": (10, 1, 10, 1), "load0001": (0, 0, 0, 0)}
ok = all(tuple(ag[n][k] for k in keys) == want[n] for n in want)
ok = ok and ag["load0000"]["committed_seq"] == 30 and ag["load0001"]["committed_seq"] == 100
raise SystemExit(0 if ok else 1)
PY
"$BIN/vantage-collector" -c collector.conf agents >agents.txt || fail "agents failed"
head -1 agents.txt | grep -q "DUPLICATES INVALID CLAMPED REFUSED" || fail "the agents table has no counts"
grep -Eq "^load0000 .* 10 +1 +10 +1$" agents.txt || fail "load0000's counts are not in the agents table"
figure "replayed batch (10 duplicates counted, none stored twice), batch from 5 h ahead (10 results clamped to the collector's time, counted, logged), truncated and oversized messages (dropped; the collector went on serving another agent), an invalid result (refused, counted), revoked key (refused at the CURVE handshake, logged naming the agent, nothing stored): $bad bad messages counted; per agent in 'agents': load0000 duplicates 10, invalid 1, clamped 10, refused 1 (the truncated message), the bystander 0"
pass "replay, future, truncated, oversized, revoked: refused or clamped and counted"
