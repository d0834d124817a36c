#!/bin/bash
# Issue 14, chaos 5: 1,000 connections open and stall (half silent, half a
# ZeroMQ greeting cut short), and one authorized agent floods garbage and
# valid batches as fast as it can, while ten other agents send at a steady
# rate. Their results must still be stored exactly once with a bounded
# delay, and the collector's memory must stay bounded.
#
# How: the collector's socket takes one message from each connection in
# turn (ZeroMQ fair queueing), and queues at most TRANSPORT_PEER_RCVHWM
# messages per connection (transport.h): a flooding peer is held back by
# TCP on its own connection. Stalled handshakes cost a file descriptor
# each and no ingest time.
. "$(dirname "$0")/lib.bash"
need_bins vantage-collector vantage-loadgen vantage-chaosload
SECS=$(pick 8 120)
STALLED=1000
AGENTS=10
RATE=200
DELAY_MAX_MS=3000
RSS_MAX_KB=$((64 * 1024))
ulimit -n 8192 2>/dev/null || skip "cannot raise the open files limit to 8192"
CPORT=$(free_port)
cd "$T"
"$BIN/vantage-collector" keygen --out keys >/dev/null
"$BIN/vantage-loadgen" keys $((AGENTS + 1)) lk >/dev/null
{
    collector_section | sed 's|^authorized_keys = .*|authorized_keys = lk/authorized_keys|'
    echo "log_level = warn"
} >collector.conf
start_bg collector "$BIN/vantage-collector" -c collector.conf serve
COLLECTOR=$LAST_PID
sleep 0.3
start_bg stall python3 "$SRC/tests/chaos/stall.py" 127.0.0.1 "$CPORT" "$STALLED" stalled
opened() { [ -s stalled ]; }
wait_for 60 "$STALLED stalled connections" opened
[ "$(cat stalled)" = "$STALLED" ] || fail "only $(cat stalled) of $STALLED connections opened"
start_bg flood "$BIN/vantage-chaosload" flood --endpoint "tcp://127.0.0.1:$CPORT" \
    --server-key keys/collector.pub --keys lk --first 0 --seconds "$SECS" --batch 100
FLOOD=$LAST_PID
PER=$((RATE * SECS / AGENTS))
start_bg load "$BIN/vantage-chaosload" run --endpoint "tcp://127.0.0.1:$CPORT" \
    --server-key keys/collector.pub --keys lk --first 1 --agents "$AGENTS" --rate "$RATE" \
    --results "$PER" --batch 20 --timeout $((SECS + 60))
LOAD=$LAST_PID
max_rss=0
while kill -0 "$LOAD" 2>/dev/null; do
    r=$(rss_kb "$COLLECTOR")
    [ "$r" -gt "$max_rss" ] && max_rss=$r
    sleep 0.5
done
wait "$LOAD" || fail "the steady agents' results were not all acknowledged"
wait "$FLOOD" || fail "the flood failed"
kill -0 "$COLLECTOR" || fail "the collector died"
cat load.log flood.log
delay=$(sed -n 's/.*ack delay at most \([0-9]*\) ms.*/\1/p' load.log)
[ -n "$delay" ] && [ "$delay" -le "$DELAY_MAX_MS" ] ||
    fail "the steady agents waited up to ${delay:-?} ms for acks (bound $DELAY_MAX_MS ms)"
[ "$max_rss" -le "$RSS_MAX_KB" ] || fail "the collector grew to $max_rss KiB (bound $RSS_MAX_KB)"
names=$(for i in $(seq 1 $AGENTS); do printf 'load%04d ' "$i"; done)
# shellcheck disable=SC2086
check_exactly_once collector.conf "$PER" $names
badlines=$(grep -c "dropped a message" collector.log)
[ "$badlines" -le 40 ] || fail "the garbage flood made $badlines log lines"
flooded=$(sed -n 's/.*flood sent \([0-9]*\) garbage messages.*/\1/p' flood.log)
figure "$STALLED stalled connections + one agent flooding for $SECS s ($flooded garbage messages of 64 KiB and as many 100-result batches) beside $AGENTS agents at $RATE results/s: all $((AGENTS * PER)) of theirs stored exactly once, ack delay at most $delay ms, collector RSS at most $((max_rss / 1024)) MiB, $badlines log lines for the garbage"
pass "flood and stalls: others delayed at most $delay ms, collector at most $max_rss KiB"
