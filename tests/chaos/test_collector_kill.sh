#!/bin/bash
# Issue 14, chaos 1: the collector is killed with SIGKILL again and again
# while many agents send about 1,000 results/s; each agent resends from
# its last acknowledgement, as the real uplink does. At the end every seq
# 1..N of every agent must be stored exactly once and none counted lost.
. "$(dirname "$0")/lib.bash"
need_bins vantage-collector vantage-loadgen vantage-chaosload
KILLS=$(pick 5 100)
AGENTS=$(pick 20 50)
RATE=1000
# Long enough at RATE for all the kills to land during ingest (a kill
# cycle averages about 1.1 s: 0.3-1.2 s up, 0.1-0.5 s down).
PER=$(((RATE * (KILLS * 12 / 10 + 3)) / AGENTS))
CPORT=$(free_port)
cd "$T"
"$BIN/vantage-collector" keygen --out keys >/dev/null
"$BIN/vantage-loadgen" keys "$AGENTS" lk >/dev/null
{
    collector_section | sed 's|^authorized_keys = .*|authorized_keys = lk/authorized_keys|'
    echo "log_level = warn"
} >collector.conf

start_collector() {
    start_bg collector "$BIN/vantage-collector" -c collector.conf serve
    COLLECTOR=$LAST_PID
}
start_collector
t0=$SECONDS
start_bg chaosload "$BIN/vantage-chaosload" run --endpoint "tcp://127.0.0.1:$CPORT" \
    --server-key keys/collector.pub --keys lk --agents "$AGENTS" --rate "$RATE" \
    --results "$PER" --batch 20 --timeout $((KILLS * 3 + 60))
LOAD=$LAST_PID
max_rss=0
for i in $(seq "$KILLS"); do
    rand_sleep 300 1200
    kill -0 "$LOAD" 2>/dev/null || fail "the load ended after only $((i - 1)) kills"
    r=$(rss_kb "$COLLECTOR")
    [ "$r" -gt "$max_rss" ] && max_rss=$r
    stop_pid "$COLLECTOR" KILL
    rand_sleep 100 500
    start_collector
done
wait "$LOAD" || fail "the agents' results were not all acknowledged"
elapsed=$((SECONDS - t0))
cat "$T/chaosload.log"
check_exactly_once collector.conf "$PER" $(cd lk && ls load*.key | sed 's/\.key$//')
figure "collector SIGKILLed $KILLS times during ingest of $AGENTS agents x $PER results at $RATE results/s ($elapsed s): $((AGENTS * PER)) stored exactly once, 0 lost, 0 duplicated; collector RSS at most $((max_rss / 1024)) MiB"
pass "$KILLS kills, $((AGENTS * PER)) results stored exactly once"
