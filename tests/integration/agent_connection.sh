#!/bin/bash
# What an agent says about its link to the collector, over real ZeroMQ on
# loopback: an agent whose collector is not running, and one with a wrong
# (well-formed) collector_public_key, each log within seconds a warning
# that names the likely cause; check-connection gives a verdict for every
# case (0 connected, 1 with the cause, 2 usage/config); one hello and one
# targets push per connect; a configured name that differs from
# authorized_keys is warned about on both sides; a public key given as
# secret_key is refused by both daemons.
. "$(dirname "$0")/lib/common.bash"
need_bins vantage-agent vantage-collector
cd "$T"

CPORT=$(free_port)
DOWN=$(free_port) # nobody ever listens here
A="$BIN/vantage-agent"
C="$BIN/vantage-collector"

"$C" keygen --out keys >/dev/null || fail "collector keygen"
"$C" keygen --out wrongkeys >/dev/null || fail "second collector keygen"
: >authorized_keys
for a in a1 mm wrong down rogue; do
    "$A" keygen --out "k-$a" >/dev/null || fail "agent keygen $a"
done
for a in a1 mm wrong down; do echo "$(cat "k-$a/agent.pub") $a" >>authorized_keys; done

cat >collector.conf <<CONF
$(collector_section)

[target loop]
check = tcp://127.0.0.1:$DOWN
interval = 60s
CONF

# agent_conf NAME KEYDIR [ENDPOINT] [COLLECTOR_PUB] [NAME_IN_CONF]
agent_conf() {
    cat >"$1.conf" <<CONF
[agent]
name = ${5:-$1}
collector = ${3:-tcp://127.0.0.1:$CPORT}
collector_public_key = $(cat "${4:-keys/collector.pub}")
secret_key = $2/agent.key
spool = spool-$1.db
CONF
}
agent_conf a1 k-a1
agent_conf mm k-mm "" "" other
agent_conf wrong k-wrong "" wrongkeys/collector.pub
agent_conf down k-down "tcp://127.0.0.1:$DOWN"
agent_conf rogue k-rogue

# expect STATUS PATTERN CMD... — CMD exits STATUS and prints PATTERN.
expect() {
    local want=$1 pattern=$2
    shift 2
    local out rc
    out=$("$@" 2>&1)
    rc=$?
    [ "$rc" = "$want" ] || fail "'$*' exited $rc, expected $want: $out"
    grep -qF -- "$pattern" <<<"$out" || fail "'$*' did not say '$pattern': $out"
    LAST_OUT=$out
}

# Usage.
expect 0 "check-connection" "$A" --help
expect 0 "--timeout S" "$A" check-connection --help
expect 2 "--timeout 'soon'" "$A" check-connection -c a1.conf --timeout soon
expect 2 "nope.conf" "$A" check-connection -c nope.conf

# A public key where the secret key belongs, on both daemons.
sed 's|k-a1/agent.key|k-a1/agent.pub|' a1.conf >pub.conf
chmod 600 k-a1/agent.pub # "chmod 600" must not be what makes it pass
expect 2 "pub.conf:5: key 'secret_key': k-a1/agent.pub is a public key file" "$A" run -c pub.conf
grep -qF "write secret_key = k-a1/agent.key" <<<"$LAST_OUT" || fail "no .key suggested: $LAST_OUT"
expect 2 "pub.conf:5: key 'secret_key'" "$A" check-connection -c pub.conf
cp keys/collector.pub k-a1/renamed.key
chmod 600 k-a1/renamed.key
sed 's|k-a1/agent.key|k-a1/renamed.key|' a1.conf >pub2.conf
expect 2 "the same as collector_public_key" "$A" run -c pub2.conf
sed 's|keys/collector.key|keys/collector.pub|' collector.conf >cpub.conf
expect 2 "cpub.conf:4: key 'secret_key': keys/collector.pub is a public key file" \
    "$C" -c cpub.conf serve
grep -qF "write secret_key = keys/collector.key" <<<"$LAST_OUT" || fail "no .key suggested"

# No collector yet: check-connection says nothing answers, at once.
start=$SECONDS
expect 1 "nothing answers at tcp://127.0.0.1:$CPORT" "$A" check-connection -c a1.conf
grep -qF "is the collector running" <<<"$LAST_OUT" || fail "no cause named: $LAST_OUT"
[ $((SECONDS - start)) -le 3 ] || fail "check-connection took $((SECONDS - start))s to see a closed port"

start_bg collector "$C" -c collector.conf serve
COLLECTOR=$LAST_PID
wait_for 10 "the collector listening" grep -q "listening on" collector.log
for a in a1 mm wrong down; do
    start_bg "agent-$a" "$A" run -c "$a.conf"
done
started=$SECONDS

# check-connection: accepted, wrong collector key, refused key.
expect 0 "the collector accepted this agent's key" "$A" check-connection -c a1.conf
grep -qF "knows this agent as 'a1'" <<<"$LAST_OUT" || fail "name not reported: $LAST_OUT"
expect 1 "collector_public_key in agent.conf is most likely not the line of that collector's collector.pub" \
    "$A" check-connection -c wrong.conf
expect 1 "refused this agent's key: add the line of agent.pub" "$A" check-connection -c rogue.conf
grep -qF "the line to add to authorized_keys: $(cat k-rogue/agent.pub) rogue" <<<"$LAST_OUT" ||
    fail "no authorized_keys line: $LAST_OUT"
expect 0 "knows this agent as 'mm'" "$A" check-connection -c mm.conf
grep -qF "not 'other' (name = in mm.conf)" <<<"$LAST_OUT" || fail "check did not warn of the name"
grep -q "agent a1 (127.0.0.1) checked its connection" collector.log || fail "check not logged"

# The silent agents speak up within about 10 seconds.
wait_for 16 "the wrong-key agent's warning" grep -q "no answer from the collector for" agent-wrong.log
grep -qF "collector_public_key in agent.conf is most likely not the line of that collector's collector.pub" \
    agent-wrong.log || fail "the wrong-key warning does not name collector_public_key"
wait_for 5 "the down agent's warning" grep -q "no answer from the collector for" agent-down.log
grep -qF "nothing answers at tcp://127.0.0.1:$DOWN" agent-down.log || fail "no 'nothing answers'"
grep -qF "next warning in 30s" agent-down.log || fail "no backoff announced"
[ $((SECONDS - started)) -le 16 ] || fail "warnings took $((SECONDS - started))s"
grep -q "no answer from the collector" agent-a1.log && fail "the connected agent warned"

# Name mismatch: both sides say so, and the results go under 'mm'.
grep -qF "calls itself 'other' (name = in its agent.conf), but authorized_keys binds its key to 'mm'" \
    collector.log || fail "collector did not warn of the name mismatch"
grep -qF "the collector knows this agent as 'mm'" agent-mm.log ||
    fail "agent did not warn of the name mismatch"

# One hello and one targets push per connect, also after a restart.
hellos() { grep -c "agent a1 (.*) says hello" collector.log; }
pushes() { grep -c "sent 1 targets (version .*) to a1$" collector.log; }
sleep 2 # a duplicate hello came a tick (1 s) after the first
[ "$(hellos)" = 1 ] || fail "a1 said hello $(hellos) times on one connect"
[ "$(pushes)" = 1 ] || fail "targets pushed to a1 $(pushes) times on one connect"
stop_pid "$COLLECTOR"
start_bg collector "$C" -c collector.conf serve
two() { [ "$(hellos)" -ge 2 ]; }
wait_for 15 "a1's hello after the restart" two
sleep 2
[ "$(hellos)" = 2 ] || fail "a1 said hello $(hellos) times over two connects"
# a1's hello names the version it runs, so the restarted collector has no
# reason to push the same targets again.
[ "$(pushes)" = 1 ] || fail "targets pushed to a1 $(pushes) times over two connects"
pass "warnings within $((SECONDS - started))s, check-connection verdicts 0/1/2, one hello per connect, name mismatch and .pub secret_key reported"
