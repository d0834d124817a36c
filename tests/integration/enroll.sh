#!/bin/bash
# One-line enrollment over real ZeroMQ with CURVE on loopback: a line from
# 'vantage-collector enroll' enrolls an agent (keys 0600, agent.conf) whose
# results are then stored; the line works once; damaged, expired and
# foreign lines are refused and write nothing; unknown keys are refused
# when no line is pending; 'revoke' refuses the running agent within a
# second without a restart; the secret never reaches a log.
. "$(dirname "$0")/lib/common.bash"
need_bins vantage-agent vantage-collector

OPEN=$(free_port)
CPORT=$(free_port)
tcp_listener "$OPEN"
cd "$T"
"$BIN/vantage-collector" keygen --out keys >/dev/null || fail "collector keygen"
: >authorized_keys
# A hand-written entry stays working beside enrolled ones.
"$BIN/vantage-agent" keygen --out k-hand >/dev/null || fail "agent keygen"
echo "$(cat k-hand/agent.pub) hand" >>authorized_keys
cat >collector.conf <<CONF
$(collector_section)

[target loop]
check = tcp://127.0.0.1:$OPEN
interval = 1s
timeout = 2s
CONF
start_bg collector "$BIN/vantage-collector" -c collector.conf serve
wait_for 10 "collector control socket" "$BIN/vantage-collector" -c collector.conf agents

# enroll prints exactly one line on stdout.
"$BIN/vantage-collector" -c collector.conf enroll b1 --site lyon \
    --address "tcp://127.0.0.1:$CPORT" >line.out 2>enroll.err || fail "enroll: $(cat enroll.err)"
[ "$(wc -l <line.out)" = 1 ] || fail "enroll printed $(wc -l <line.out) lines, not one"
LINE=$(cat line.out)
case $LINE in "vantage-agent enroll vantage1:"*) ;; *) fail "not an enroll line: $LINE" ;; esac
TOKEN=${LINE#vantage-agent enroll }
grep -q " b1 lyon " enrollments || fail "no pending entry for b1 in enrollments"
SECRET=$(python3 -c 'import base64,sys; print(base64.b64decode(sys.argv[1][9:]).split()[4].decode())' "$TOKEN")
[ ${#SECRET} = 64 ] || fail "could not read the secret out of the line"
grep -rq "$SECRET" enrollments authorized_keys && fail "the secret itself is stored"
"$BIN/vantage-collector" -c collector.conf agents | grep -q "pending enrollment: b1" ||
    fail "agents does not show the pending enrollment"

# A line altered by one character or cut short: refused, nothing written.
BAD=${TOKEN:0:20}$([ "${TOKEN:20:1}" = A ] && echo B || echo A)${TOKEN:21}
"$BIN/vantage-agent" enroll "$BAD" --out a-bad --spool spool-bad.db >bad.out 2>&1 &&
    fail "an altered line was accepted"
grep -q "damaged" bad.out || fail "altered line: $(cat bad.out)"
"$BIN/vantage-agent" enroll "${TOKEN:0:60}" --out a-bad >bad.out 2>&1 && fail "a cut line was accepted"
[ -e a-bad/agent.key ] && fail "a refused line wrote agent.key"

# A directory everyone may write is refused, and nothing is written.
mkdir -m 0777 a-open
"$BIN/vantage-agent" enroll "$LINE" --out a-open >open.out 2>&1 && fail "enrolled into a world-writable directory"
grep -q "writable by everyone" open.out || fail "world-writable --out: $(cat open.out)"
[ -z "$(ls a-open)" ] || fail "files written into a world-writable directory"

# The real enrollment.
mkdir a1
"$BIN/vantage-agent" enroll "$LINE" --out a1 --spool "$T/spool-a1.db" --timeout 10 >a1.out 2>&1 ||
    fail "enroll failed: $(cat a1.out)"
[ "$(stat -c %a a1/agent.key)" = 600 ] || fail "agent.key is not 0600"
grep -q "^site = lyon$" a1/agent.conf || fail "agent.conf has no site"
grep -qxF "collector_public_key = $(cat keys/collector.pub)" a1/agent.conf || fail "wrong collector key"
grep -qxF "$(cat a1/agent.pub) b1" authorized_keys || fail "authorized_keys lacks b1's key"
grep -q " b1 " enrollments && fail "the used line is still pending"
ls a1 | grep -q enrolling && fail "temporary files left"

# Single use: a second agent with the same line is refused and writes nothing.
mkdir a2
"$BIN/vantage-agent" enroll "$LINE" --out a2 --spool spool-a2.db --timeout 10 >a2.out 2>&1 &&
    fail "a used line enrolled a second agent"
grep -q "refused this machine.s new key" a2.out || fail "replay: $(cat a2.out)"
[ -z "$(ls a2)" ] || fail "a refused enrollment left files: $(ls a2)"

# Two agents racing for one line: exactly one is enrolled.
"$BIN/vantage-collector" -c collector.conf enroll racer --address "tcp://127.0.0.1:$CPORT" >race.line 2>/dev/null ||
    fail "enroll racer"
mkdir r1 r2
"$BIN/vantage-agent" enroll "$(cat race.line)" --out r1 --spool r1.db --timeout 10 >r1.out 2>&1 &
r1=$!
"$BIN/vantage-agent" enroll "$(cat race.line)" --out r2 --spool r2.db --timeout 10 >r2.out 2>&1
rc2=$?
wait "$r1"
rc1=$?
[ $(((rc1 == 0) + (rc2 == 0))) = 1 ] || fail "racing agents: exit $rc1 and $rc2 (one must win): $(cat r1.out r2.out)"
[ "$(grep -c ' racer$' authorized_keys)" = 1 ] || fail "racer is not listed exactly once"
[ "$(ls r1 r2 | grep -c agent.key)" = 1 ] || fail "the losing agent wrote files"
"$BIN/vantage-collector" -c collector.conf revoke racer >/dev/null || fail "revoke racer"

# A line for another collector: nobody answers with that key.
"$BIN/vantage-collector" keygen --out keys2 >/dev/null
sed -e "s|^secret_key = .*|secret_key = keys2/collector.key|" collector.conf >other.conf
"$BIN/vantage-collector" -c other.conf enroll b9 --address "tcp://127.0.0.1:$CPORT" >other.line 2>/dev/null ||
    fail "enroll for the other collector"
"$BIN/vantage-agent" enroll "$(cat other.line)" --out a9 --timeout 10 >a9.out 2>&1 &&
    fail "a foreign line enrolled"
grep -q "not the collector that printed this line" a9.out || fail "foreign line: $(cat a9.out)"

# An expired line: refused by the agent before anything is sent.
python3 - "$TOKEN" >expired.line <<'PY'
import base64, hashlib, sys
f = base64.b64decode(sys.argv[1][9:]).decode().split()
f[5] = "1000000000"
body = " ".join(f[:6])
body += " " + hashlib.sha256(body.encode()).hexdigest()[:8]
print("vantage1:" + base64.b64encode(body.encode()).decode())
PY
"$BIN/vantage-agent" enroll "$(cat expired.line)" --out a-exp >exp.out 2>&1 && fail "an expired line was accepted"
grep -q "expired" exp.out || fail "expired line: $(cat exp.out)"

# The enrolled agent runs and its results are stored; so are hand's.
start_bg agent-b1 "$BIN/vantage-agent" run -c a1/agent.conf
AGENT=$LAST_PID
cat >hand.conf <<CONF
[agent]
name = hand
collector = tcp://127.0.0.1:$CPORT
collector_public_key = $(cat keys/collector.pub)
secret_key = k-hand/agent.key
spool = spool-hand.db
CONF
start_bg agent-hand "$BIN/vantage-agent" run -c hand.conf
has_results() { [ "$(count_results collector.conf --agent "$1")" -ge 2 ]; }
wait_for 20 "results from b1" has_results b1
wait_for 20 "results from hand" has_results hand
"$BIN/vantage-collector" -c collector.conf agents --json | grep '"name": *"b1"' | grep -q lyon ||
    fail "b1 is not in network lyon"

# Revoke: refused within a second, without a restart.
"$BIN/vantage-collector" -c collector.conf revoke b1 >revoke.out 2>&1 || fail "revoke: $(cat revoke.out)"
grep -q "refuses it from now on" revoke.out || fail "revoke did not reach the collector: $(cat revoke.out)"
grep -q " b1 " authorized_keys && fail "b1 still in authorized_keys"
grep -q " b1 " revoked || fail "b1 not recorded in revoked"
sleep 1
before=$(count_results collector.conf --agent b1)
sleep 2.5
after=$(count_results collector.conf --agent b1)
[ "$after" = "$before" ] || fail "results of revoked b1 still stored ($before -> $after)"
hand_before=$(count_results collector.conf --agent hand)
hand_grew() { [ "$(count_results collector.conf --agent hand)" -gt "$hand_before" ]; }
wait_for 10 "hand keeps reporting" hand_grew
"$BIN/vantage-collector" -c collector.conf agents | grep -q "revoked: b1" || fail "agents does not show b1 revoked"
# After a restart of the agent the key is refused at the handshake.
stop_pid "$AGENT"
grep -q "refusing it" collector.log || fail "the collector did not log the revocation"
"$BIN/vantage-collector" -c collector.conf revoke nosuch >/dev/null 2>&1 && fail "revoking an unknown name succeeded"

# The secret is in no log and no state file (nor the store, on PostgreSQL).
store_dump store-dump.sql
grep -rqF "$SECRET" ./*.log ./*.out ./*.err enrollments authorized_keys revoked vantage.db store-dump.sql 2>/dev/null &&
    fail "the secret appears in a log or state file"
pass "enrolled, stored, single use, damaged/expired/foreign refused, revoked at once, secret never logged"
