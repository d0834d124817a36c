#!/bin/bash
# A collector and three agents over real ZeroMQ with CURVE on loopback:
# results from each agent arrive and are listed; an agent whose key is not
# in authorized_keys is refused and stores nothing; garbage bytes, an
# oversized message and an invalid result from an admitted peer leave the
# collector running and ingesting.
. "$(dirname "$0")/lib/common.bash"
need_bins vantage-agent vantage-collector vantage-loadgen

OPEN=$(free_port)
CLOSED=$(free_port)
CPORT=$(free_port)
tcp_listener "$OPEN"

cd "$T"
"$BIN/vantage-collector" keygen --out keys >/dev/null || fail "collector keygen"
[ "$(stat -c %a keys/collector.key)" = 600 ] || fail "collector.key is not 0600"
[ "$(wc -l <keys/collector.pub)" = 1 ] || fail "collector.pub is not one line"
"$BIN/vantage-collector" keygen --out keys >/dev/null 2>&1 && fail "keygen overwrote an existing key"

: >authorized_keys
for a in a1 a2 a3 rogue; do
    "$BIN/vantage-agent" keygen --out "k-$a" >/dev/null || fail "agent keygen $a"
    [ "$(stat -c %a "k-$a/agent.key")" = 600 ] || fail "agent.key of $a is not 0600"
    [ "$a" = rogue ] || echo "$(cat "k-$a/agent.pub") $a" >>authorized_keys
done
"$BIN/vantage-loadgen" keys 1 lk >/dev/null || fail "loadgen keys"
cat lk/authorized_keys >>authorized_keys

cat >collector.conf <<CONF
$(collector_section)

[target loop]
check = tcp://127.0.0.1:$OPEN
check = tcp://127.0.0.1:$CLOSED
interval = 1s
timeout = 2s
CONF

start_bg collector "$BIN/vantage-collector" -c collector.conf serve
COLLECTOR=$LAST_PID

for a in a1 a2 a3 rogue; do
    site=""
    case $a in a1 | a2) site="site = hq" ;; esac
    cat >"agent-$a.conf" <<CONF
[agent]
name = $a
$site
collector = tcp://127.0.0.1:$CPORT
collector_public_key = $(cat keys/collector.pub)
secret_key = k-$a/agent.key
spool = spool-$a.db
CONF
    start_bg "agent-$a" "$BIN/vantage-agent" run -c "agent-$a.conf"
done

has_results() { [ "$(count_results collector.conf --agent "$1")" -ge 4 ]; }
for a in a1 a2 a3; do
    wait_for 30 "4 results from $a" has_results "$a"
done

"$BIN/vantage-collector" -c collector.conf results --json --agent a1 >a1.jsonl
grep -q "\"check\":\"tcp://127.0.0.1:$OPEN\".*\"status\":\"ok\"" a1.jsonl || fail "no ok result for the open port"
grep -q "\"check\":\"tcp://127.0.0.1:$CLOSED\".*\"error\":\"tcp_refused\"" a1.jsonl ||
    fail "no tcp_refused for the closed port"
grep -q '"layer":"tcp"' a1.jsonl || fail "tcp_refused result without layer tcp"
grep -q '"network":"hq"' a1.jsonl || fail "a1's results are not in network hq"

"$BIN/vantage-collector" -c collector.conf agents --json >agents.jsonl
grep -q '"name":"a1","network":"hq"' agents.jsonl || fail "a1 not listed in network hq"
grep -q '"name":"a3","network":"127.0.0.1"' agents.jsonl ||
    fail "a3 (no site) not in the network of its egress address"
grep -q '"connected":true' agents.jsonl || fail "no agent listed as connected"
grep -q rogue agents.jsonl && fail "the rogue agent was admitted"
[ "$(count_results collector.conf --agent rogue)" = 0 ] || fail "results stored for the rogue agent"
grep -qF "refused agent key $(cat k-rogue/agent.pub)" collector.log || fail "refused key not logged"

# SIGHUP reloads authorized_keys: once listed, the rogue is admitted.
echo "$(cat k-rogue/agent.pub) rogue" >>authorized_keys
kill -HUP "$COLLECTOR"
rogue_in() { [ "$(count_results collector.conf --agent rogue)" -ge 2 ]; }
wait_for 30 "the rogue agent's results after SIGHUP" rogue_in
grep -q "authorized_keys: 5 agents" collector.log || fail "reload not logged"

before=$(count_results collector.conf)
for mode in garbage oversize badresult; do
    "$BIN/vantage-loadgen" "$mode" --endpoint "tcp://127.0.0.1:$CPORT" \
        --server-key keys/collector.pub --keys lk >/dev/null || fail "loadgen $mode"
    kill -0 "$COLLECTOR" || fail "collector died after $mode"
done
grep -q "dropped a message from load0000" collector.log || fail "garbage message not logged"
grep -q "refused result 0 of a batch" collector.log || fail "invalid result not logged"
more() { [ "$(count_results collector.conf)" -gt $((before + 6)) ]; }
wait_for 20 "results still arriving after the bad messages" more
kill -0 "$COLLECTOR" || fail "collector died"
pass "3 agents delivered, rogue refused then admitted on SIGHUP, bad input survived"
